//! Connecting to the cluster under test, the way kubectl chooses it.

use std::path::PathBuf;

use crate::k8s::{Client, Config, KubeConfigOptions, Kubeconfig};

/// Which cluster to talk to: flags named as kubectl names them.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClusterTarget {
    /// `--kubeconfig`; otherwise `KUBECONFIG`, `~/.kube/config`, then the in-cluster service account.
    pub(crate) kubeconfig: Option<PathBuf>,
    /// `--context`; otherwise the kubeconfig's current context.
    pub(crate) context: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("cannot read kubeconfig {path}: {source}")]
    ReadKubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("cannot use kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error(
        "no cluster found (no --kubeconfig, KUBECONFIG, ~/.kube/config or in-cluster service account): {0}"
    )]
    Infer(#[from] kube::config::InferConfigError),
    #[error("cannot create a client: {0}")]
    Client(#[from] kube::Error),
}

/// Builds a client for `target`.
///
/// # Errors
/// Fails when no configuration is found or it cannot be read; it does not contact the cluster.
pub(crate) async fn connect(target: &ClusterTarget) -> Result<Client, ConnectError> {
    let options = KubeConfigOptions {
        context: target.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match (&target.kubeconfig, &target.context) {
        (Some(path), _) => {
            let kubeconfig =
                Kubeconfig::read_from(path).map_err(|source| ConnectError::ReadKubeconfig {
                    path: path.clone(),
                    source,
                })?;
            Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        (None, Some(_)) => Config::from_kubeconfig(&options).await?,
        (None, None) => Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}
