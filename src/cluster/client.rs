//! Connecting to the cluster under test, the way kubectl chooses it, and checking that its API
//! server answers before anything is created.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::failure::{Cause, Failure, NameRequests};
use crate::k8s::{Client, Config, KubeConfigOptions, Kubeconfig};

/// How long connecting (TCP and TLS) and the first answer may take unless told otherwise.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which cluster to talk to: flags named as kubectl names them.
#[derive(Clone, Debug)]
pub(crate) struct ClusterTarget {
    /// `--kubeconfig`; otherwise `KUBECONFIG`, `~/.kube/config`, then the in-cluster service account.
    pub(crate) kubeconfig: Option<PathBuf>,
    /// `--context`; otherwise the kubeconfig's current context.
    pub(crate) context: Option<String>,
    /// `--connect-timeout`: TCP and TLS of each connection, and the first request's answer.
    pub(crate) connect_timeout: Duration,
}

impl Default for ClusterTarget {
    fn default() -> ClusterTarget {
        ClusterTarget {
            kubeconfig: None,
            context: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// A client whose API server answered.
pub(crate) struct Connected {
    pub(crate) client: Client,
    /// The API server's URL.
    pub(crate) server: String,
}

/// Why no client could be made, or its API server did not answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("kubeconfig {}: {}", .path.display(), kubeconfig_problem(.source))]
    Kubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("kubeconfig {} has no context \"{context}\" (its contexts: {})", .path.display(), list(.known))]
    UnknownContext {
        path: PathBuf,
        context: String,
        known: Vec<String>,
    },
    #[error("KUBECONFIG={value} names no file that exists")]
    NoKubeconfigFile { value: String },
    #[error(
        "no cluster to talk to: no --kubeconfig, no KUBECONFIG, no {} and not in a pod ({source})",
        .home.display()
    )]
    NoConfiguration {
        home: PathBuf,
        source: kube::config::InClusterError,
    },
    #[error("cannot make a client for {server}: {}", Failure::of(.source))]
    Client { server: String, source: kube::Error },
    #[error("cannot reach the API server {server}: {failure}")]
    Unreachable { server: String, failure: Failure },
    #[error(
        "the API server {server} did not answer GET /version within {} (--connect-timeout)",
        humantime::format_duration(*.limit)
    )]
    NoAnswer { server: String, limit: Duration },
    #[error("the API server {server} refused GET /version: {failure}")]
    Refused { server: String, failure: Failure },
    #[error("GET /version from the API server {server} failed: {failure}")]
    Failed { server: String, failure: Failure },
}

impl ConnectError {
    /// Whether the configuration is wrong (invalid input), rather than the server unreachable.
    pub(crate) fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            ConnectError::Kubeconfig { .. }
                | ConnectError::UnknownContext { .. }
                | ConnectError::NoKubeconfigFile { .. }
                | ConnectError::NoConfiguration { .. }
        )
    }
}

/// Builds a client for `target` and checks that its API server answers `GET /version`.
///
/// # Errors
/// A kubeconfig that is missing, malformed or lacks the context; a server that cannot be
/// reached (refused, TLS verification, timeout, name) or refuses the request.
pub(crate) async fn connect(target: &ClusterTarget) -> Result<Connected, ConnectError> {
    let mut config = configuration(target).await?;
    config.connect_timeout = Some(target.connect_timeout);
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_owned();
    let layer = NameRequests {
        server: server.clone(),
        connect_timeout: config.connect_timeout,
    };
    let client = kube::client::ClientBuilder::try_from(config)
        .map_err(|source| ConnectError::Client {
            server: server.clone(),
            source,
        })?
        .with_layer(&layer)
        .build();
    // Twice the connect timeout: one for TCP and TLS, one for the answer.
    let limit = target.connect_timeout * 2;
    match tokio::time::timeout(limit, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(Connected { client, server }),
        Ok(Err(error)) => {
            let failure = Failure::of(&error);
            Err(match failure.cause {
                Cause::Status { .. } => ConnectError::Refused { server, failure },
                Cause::Other(_) => ConnectError::Failed { server, failure },
                _ => ConnectError::Unreachable { server, failure },
            })
        }
        Err(_) => Err(ConnectError::NoAnswer { server, limit }),
    }
}

/// The client configuration of `target`, naming the file that is wrong when one is.
async fn configuration(target: &ClusterTarget) -> Result<Config, ConnectError> {
    let files = match &target.kubeconfig {
        Some(path) => vec![path.clone()],
        None => match kubeconfig_files()? {
            Some(files) => files,
            None => return in_cluster(),
        },
    };
    let mut merged: Option<Kubeconfig> = None;
    for path in &files {
        let read = Kubeconfig::read_from(path).map_err(|source| ConnectError::Kubeconfig {
            path: path.clone(),
            source,
        })?;
        merged = Some(match merged {
            None => read,
            Some(before) => before
                .merge(read)
                .map_err(|source| ConnectError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?,
        });
    }
    let kubeconfig = merged.unwrap_or_default();
    let path = files.first().cloned().unwrap_or_default();
    if let Some(context) = &target.context
        && !kubeconfig.contexts.iter().any(|c| &c.name == context)
    {
        return Err(ConnectError::UnknownContext {
            path,
            context: context.clone(),
            known: kubeconfig.contexts.iter().map(|c| c.name.clone()).collect(),
        });
    }
    let options = KubeConfigOptions {
        context: target.context.clone(),
        ..KubeConfigOptions::default()
    };
    Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|source| ConnectError::Kubeconfig { path, source })
}

/// The kubeconfig files kubectl would read: `KUBECONFIG`'s existing files, else
/// `~/.kube/config` when it exists; `None` when there is none (in a pod).
fn kubeconfig_files() -> Result<Option<Vec<PathBuf>>, ConnectError> {
    if let Some(value) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let files: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|path| !path.as_os_str().is_empty() && path.exists())
            .collect();
        if files.is_empty() {
            return Err(ConnectError::NoKubeconfigFile {
                value: value.to_string_lossy().into_owned(),
            });
        }
        return Ok(Some(files));
    }
    let home = home_kubeconfig();
    Ok(home.exists().then(|| vec![home]))
}

fn home_kubeconfig() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("~"), PathBuf::from)
        .join(".kube")
        .join("config")
}

fn in_cluster() -> Result<Config, ConnectError> {
    Config::incluster().map_err(|source| ConnectError::NoConfiguration {
        home: home_kubeconfig(),
        source,
    })
}

/// What is wrong with a kubeconfig, without kube-rs's Debug-quoted paths.
fn kubeconfig_problem(error: &kube::config::KubeconfigError) -> String {
    use kube::config::{KubeconfigError as K, LoadDataError as L};
    let data = |what: &str, error: &L| match error {
        L::ReadFile(io, path) => format!("cannot read its {what} {}: {io}", shown(path)),
        other => format!("its {what}: {other}"),
    };
    match error {
        K::ReadConfig(io, _) if io.kind() == std::io::ErrorKind::NotFound => {
            "no such file".to_owned()
        }
        K::ReadConfig(io, _) => format!("cannot read it: {io}"),
        K::Parse(parse) => format!("not a valid kubeconfig: {}", parse.without_snippet()),
        K::LoadCertificateAuthority(e) => data("certificate-authority", e),
        K::LoadClientCertificate(e) => data("client-certificate", e),
        K::LoadClientKey(e) => data("client-key", e),
        K::CurrentContextNotSet => "no current-context set (use --context)".to_owned(),
        K::LoadContext(name) => format!("no context {name}"),
        K::LoadClusterOfContext(name) => format!("no cluster {name} for the context"),
        K::MissingClusterUrl => "the context's cluster has no server".to_owned(),
        other => other.to_string(),
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
