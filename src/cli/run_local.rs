//! `netverdict run --local`: the run's own local cluster, started for the run and removed at its
//! end; with `--keep`, started as a background instance of `netverdict local` (what `local up`
//! starts) and left running, so that the pods and the commands the report prints can be looked
//! at afterwards, until `netverdict local down --name NAME`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use netverdict_localcluster::{LocalCluster, LocalClusterConfig, ServeOptions};

use crate::cluster::{ClusterTarget, RunId, connect};
use crate::report::terminal::Progress;
use crate::results::RunResult;
use crate::run::{LocalClusterError, RunConfig, RunError, StopRequests, execute};
use crate::scenario::Scenario;

/// What the local cluster of a `--local` run emulates.
pub(super) struct LocalTarget {
    pub(super) network: netverdict_localcluster::NetworkOptions,
    pub(super) namespace_deletion: Option<Duration>,
    pub(super) pods: netverdict_localcluster::PodSecurityOptions,
    pub(super) emulation: netverdict_localcluster::EmulationOptions,
}

/// A local cluster a `--local --keep` run left running.
pub(super) struct KeptCluster {
    name: String,
    api_addr: SocketAddr,
    kubeconfig: PathBuf,
}

impl KeptCluster {
    /// How to reach the cluster (and so rerun the report's `kubectl exec` lines as printed)
    /// and how to remove it.
    pub(super) fn instructions(&self) -> String {
        let kubeconfig = self.kubeconfig.display();
        format!(
            "local cluster {name} kept running (--keep), API https://{api}; reach it, and rerun the kubectl commands above as printed, with its kubeconfig:\n  \
             KUBECONFIG={kubeconfig} kubectl get pods -A\n  \
             export KUBECONFIG={kubeconfig}\n\
             remove it, and everything the run left in it, with: netverdict local down --name {name}\n",
            name = self.name,
            api = self.api_addr,
        )
    }
}

/// The run's cluster: its own, or a background instance it leaves running.
enum RunCluster {
    Owned(LocalCluster),
    Kept(KeptCluster),
}

impl RunCluster {
    fn kubeconfig(&self) -> PathBuf {
        match self {
            RunCluster::Owned(cluster) => cluster.kubeconfig_path().to_path_buf(),
            RunCluster::Kept(kept) => kept.kubeconfig.clone(),
        }
    }

    fn api_url(&self) -> String {
        match self {
            RunCluster::Owned(cluster) => cluster.api_url(),
            RunCluster::Kept(kept) => format!("https://{}", kept.api_addr),
        }
    }
}

/// Runs `scenarios` on a local cluster of their own; with `config.keep` the cluster stays.
pub(super) async fn run_local(
    config: &RunConfig,
    local: &LocalTarget,
    scenarios: Vec<Scenario>,
    progress: &Progress,
    stop: &dyn StopRequests,
) -> (RunResult, Option<KeptCluster>) {
    let name = format!("r-{}", short(&config.run_id));
    let started = if config.keep {
        start_kept(name, local).await.map(RunCluster::Kept)
    } else {
        start_owned(name, local).await.map(RunCluster::Owned)
    };
    let cluster = match started {
        Ok(cluster) => cluster,
        Err(error) => return (failed(config, error.into()), None),
    };
    let target = ClusterTarget {
        kubeconfig: Some(cluster.kubeconfig()),
        ..ClusterTarget::default()
    };
    let result = match connect(&target).await {
        Ok(connected) => {
            let described = format!("local cluster ({})", cluster.api_url());
            let mut config = config.clone();
            config.cleanup_command.kubeconfig = target.kubeconfig.clone();
            execute(
                &connected.client,
                described,
                scenarios,
                &config,
                progress,
                stop,
            )
            .await
        }
        Err(error) => failed(config, RunError::LocalConnect(error)),
    };
    match cluster {
        RunCluster::Owned(cluster) => (shut_down(cluster, result).await, None),
        RunCluster::Kept(kept) => (result, Some(kept)),
    }
}

fn failed(config: &RunConfig, error: RunError) -> RunResult {
    RunResult {
        run_id: config.run_id.to_string(),
        error: error.into(),
        ..RunResult::default()
    }
}

async fn start_owned(name: String, local: &LocalTarget) -> Result<LocalCluster, LocalClusterError> {
    let binary = std::env::current_exe().map_err(LocalClusterError::NoExecutable)?;
    let mut config = LocalClusterConfig::new(name, binary);
    config.cni = local.network.cni.into();
    config.policy_delay = local.network.policy_delay;
    config.namespace_deletion = local.namespace_deletion.unwrap_or_default();
    config.allow_privileged_pods = local.pods.allow_privileged_pods;
    config.emulation = local.emulation.clone();
    LocalCluster::start(config)
        .await
        .map_err(LocalClusterError::Start)
}

/// Starts the cluster as `netverdict local up --name NAME` would, with the run's options.
async fn start_kept(name: String, local: &LocalTarget) -> Result<KeptCluster, LocalClusterError> {
    let serve = ServeOptions {
        name,
        nodes: 2,
        kubeconfig: None,
        netverdict_bin: None,
        pods: local.pods,
        emulation: local.emulation.clone(),
        network: local.network.clone(),
        namespace_deletion: local.namespace_deletion.unwrap_or_default(),
    };
    let options = netverdict_localcluster::UpOptions::background(serve);
    let report = tokio::task::spawn_blocking(move || netverdict_localcluster::up(options))
        .await
        .map_err(LocalClusterError::Background)?
        .map_err(LocalClusterError::Start)?;
    Ok(KeptCluster {
        name: report.name,
        api_addr: report.api_addr,
        kubeconfig: report.kubeconfig,
    })
}

async fn shut_down(cluster: LocalCluster, mut result: RunResult) -> RunResult {
    if let Err(error) = cluster.shutdown().await {
        result.error.push(LocalClusterError::Shutdown(error).into());
    }
    result
}

/// The first characters of a run id, for names with little room.
fn short(run: &RunId) -> String {
    run.as_str()
        .chars()
        .take(12)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}
