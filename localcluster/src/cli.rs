//! What `netverdict local up/down/status` and the hidden `local serve` do, as plain functions
//! with clap-ready option structs (the root CLI mounts them under its own subcommands).
//!
//! `up` re-executes a program (by default the current executable) with the serve subcommand,
//! detached in its own session, its output going to `/run/netverdict/<name>/log`, and returns
//! once that process has written its `ready` file (API answering, cluster DNS ready).

use netverdict_engine::Quoted;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cluster::{ClusterError, LocalCluster, LocalClusterConfig, PodSecurityOptions, io_err};
use crate::emulation::EmulationOptions;
use crate::instance::{self, InstanceDir};
use crate::kubeconfig_merge::{self, Unmerged};
use crate::network::NetworkOptions;

/// Default instance name.
pub const DEFAULT_NAME: &str = "netverdict";

/// `netverdict local serve`: runs an instance in the foreground until SIGTERM or Ctrl-C.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeOptions {
    /// Instance name, [a-z0-9-]{1,16}.
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
    /// Number of nodes.
    #[arg(long, default_value_t = 2)]
    pub nodes: usize,
    /// Also merge the cluster's cluster, user and context (named netverdict-NAME) into this
    /// kubeconfig (created if absent) and make it the current context, as kind does; `down`
    /// removes exactly those entries again and restores the current context.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// What the pod command `netverdict` runs (default: this executable).
    #[arg(long)]
    pub netverdict_bin: Option<PathBuf>,
    #[command(flatten)]
    pub pods: PodSecurityOptions,
    #[command(flatten)]
    pub emulation: EmulationOptions,
    #[command(flatten)]
    pub network: NetworkOptions,
    /// Emulate slow namespace deletion: a deleted namespace stays Terminating, refusing new
    /// content, this long after its contents are gone (real clusters take seconds), e.g. 5s.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub namespace_deletion: Duration,
}

/// `netverdict local up`.
#[derive(Clone, Debug, clap::Args)]
pub struct UpOptions {
    #[command(flatten)]
    pub serve: ServeOptions,
    /// Stay in the foreground (same as `local serve`).
    #[arg(long)]
    pub foreground: bool,
    /// How long to wait for the cluster to be ready.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// The program to re-execute (default: the current executable).
    #[arg(skip)]
    pub program: Option<PathBuf>,
    /// Arguments selecting the serve subcommand of `program` (default: `local serve`); the
    /// serve options follow them.
    #[arg(skip = vec![OsString::from("local"), OsString::from("serve")])]
    pub serve_args: Vec<OsString>,
}

impl UpOptions {
    /// Starts `serve` in the background with this executable, as `netverdict local up` does,
    /// waiting up to two minutes for it to be ready.
    pub fn background(serve: ServeOptions) -> UpOptions {
        UpOptions {
            serve,
            foreground: false,
            timeout: Duration::from_secs(120),
            program: None,
            serve_args: vec![OsString::from("local"), OsString::from("serve")],
        }
    }
}

/// `netverdict local down`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct DownOptions {
    /// Instance to stop (default: netverdict).
    #[arg(long, conflicts_with = "all")]
    pub name: Option<String>,
    /// Stop every instance and remove whatever killed instances left behind.
    #[arg(long)]
    pub all: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {}", Quoted(s)))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "ms" => Ok(Duration::from_millis(n)),
        _ => Err(format!(
            "invalid duration {}: use 30s, 2m or 500ms",
            Quoted(s)
        )),
    }
}

/// What `up` started.
#[derive(Clone, Debug)]
pub struct UpReport {
    pub name: String,
    pub pid: i32,
    pub api_addr: SocketAddr,
    pub kubeconfig: PathBuf,
}

/// One instance as `status` sees it.
#[derive(Clone, Debug)]
pub struct InstanceStatus {
    pub name: String,
    pub pid: Option<i32>,
    /// The recorded process is alive (and is the one that recorded itself).
    pub running: bool,
    pub ready: bool,
    pub api_addr: Option<SocketAddr>,
    pub kubeconfig: PathBuf,
}

/// Runs an instance until SIGTERM or SIGINT, then shuts it down. A second signal during the
/// shutdown exits at once (leftovers are then for `local down --all`).
///
/// # Errors
/// Fails when the cluster cannot start or stop cleanly.
pub async fn serve_foreground(options: ServeOptions) -> Result<(), ClusterError> {
    use tokio::signal::unix::{SignalKind, signal};
    let bin = match options.netverdict_bin {
        Some(b) => b,
        None => std::env::current_exe().map_err(io_err("find the current executable"))?,
    };
    let mut config = LocalClusterConfig::new(options.name, bin);
    config.nodes = options.nodes;
    config.kubeconfig = options.kubeconfig;
    config.allow_privileged_pods = options.pods.allow_privileged_pods;
    config.emulation = options.emulation;
    config.cni = options.network.cni.into();
    config.policy_delay = options.network.policy_delay;
    config.namespace_deletion = options.namespace_deletion;
    let mut term = signal(SignalKind::terminate()).map_err(io_err("install a SIGTERM handler"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(io_err("install a SIGINT handler"))?;
    let cluster = LocalCluster::start(config).await?;
    eprintln!(
        "local cluster {} ready: API {}, kubeconfig {}",
        Quoted(cluster.name()),
        cluster.api_url(),
        cluster.kubeconfig_path().display()
    );
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("shutting down (signal again to exit at once)");
    let shutdown = cluster.shutdown();
    tokio::select! {
        result = shutdown => result,
        _ = term.recv() => std::process::exit(130),
        _ = int.recv() => std::process::exit(130),
    }
}

/// Starts an instance in the background and returns once it is ready.
///
/// # Errors
/// Fails when the instance is already running, when the serving process cannot start, exits
/// early (its log is in the error) or is not ready within `timeout`.
pub fn up(mut options: UpOptions) -> Result<UpReport, ClusterError> {
    let name = options.serve.name.clone();
    instance::validate_name(&name).map_err(ClusterError::Config)?;
    if let Some(path) = &options.serve.kubeconfig {
        kubeconfig_merge::check(path)?;
        // The serving process records the file for `down`, which may run elsewhere.
        let absolute = std::path::absolute(path).map_err(io_err("resolve --kubeconfig"))?;
        options.serve.kubeconfig = Some(absolute);
    }
    let dir = InstanceDir::new(&name);
    if let Some(pid) = dir.pid().filter(|_| dir.is_alive()) {
        return Err(ClusterError::AlreadyRunning(name, pid));
    }
    for f in [
        dir.pid_file(),
        dir.api_file(),
        dir.ready_file(),
        dir.kubeconfig(),
    ] {
        let _ = std::fs::remove_file(f);
    }
    dir.create()
        .map_err(io_err(format!("create {}", dir.path.display())))?;
    let program = match options.program {
        Some(p) => p,
        None => std::env::current_exe().map_err(io_err("find the current executable"))?,
    };
    let _ = std::fs::remove_file(dir.log_file());
    let log =
        instance::open_private_append(&dir.log_file()).map_err(io_err("create the log file"))?;
    let log2 = log.try_clone().map_err(io_err("clone the log file"))?;
    let mut cmd = std::process::Command::new(&program);
    cmd.args(&options.serve_args)
        .arg("--name")
        .arg(&name)
        .arg("--nodes")
        .arg(options.serve.nodes.to_string());
    if let Some(k) = &options.serve.kubeconfig {
        cmd.arg("--kubeconfig").arg(k);
    }
    if let Some(b) = &options.serve.netverdict_bin {
        cmd.arg("--netverdict-bin").arg(b);
    }
    if options.serve.pods.allow_privileged_pods {
        cmd.arg("--allow-privileged-pods");
    }
    cmd.args(options.serve.emulation.to_args());
    cmd.args(options.serve.network.to_args());
    cmd.arg("--namespace-deletion").arg(format!(
        "{}ms",
        options.serve.namespace_deletion.as_millis()
    ));
    cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(io_err(format!("start {}", program.display())))?;
    let started = Instant::now();
    loop {
        if dir.ready_file().exists() {
            let api_addr = dir
                .api_addr()
                .ok_or_else(|| ClusterError::Other("ready but no api file".into()))?;
            let pid = i32::try_from(child.id()).unwrap_or_default();
            let kubeconfig = options
                .serve
                .kubeconfig
                .clone()
                .unwrap_or_else(|| dir.kubeconfig());
            return Ok(UpReport {
                name,
                pid,
                api_addr,
                kubeconfig,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.log_file()).unwrap_or_default();
            return Err(ClusterError::Other(format!(
                "the local cluster exited ({status}) before it was ready:\n{log}"
            )));
        }
        if started.elapsed() > options.timeout {
            let _ = child.kill();
            let _ = child.wait();
            let _ = netverdict_netns::destroy_leftovers(Some(&name));
            return Err(ClusterError::Other(format!(
                "not ready within {}",
                humantime::format_duration(options.timeout)
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops instances (SIGTERM to the recorded PID, SIGKILL after 60 s) and removes what they
/// leave. Returns what was removed or stopped.
///
/// # Errors
/// Fails when leftovers cannot be removed.
pub fn down(options: DownOptions) -> Result<Vec<String>, ClusterError> {
    let targets: Vec<InstanceDir> = if options.all {
        instance::list_instances()
    } else {
        let name = options.name.unwrap_or_else(|| DEFAULT_NAME.to_owned());
        instance::validate_name(&name).map_err(ClusterError::Config)?;
        vec![InstanceDir::new(&name)]
    };
    let mut done = Vec::new();
    for dir in &targets {
        let merged = kubeconfig_merge::recorded(dir);
        if let Some(pid) = dir.pid().filter(|_| dir.is_alive()) {
            stop_pid(pid, Duration::from_secs(60));
            done.push(format!("stopped {} (pid {pid})", dir.name));
        }
        done.extend(netverdict_netns::destroy_leftovers(Some(&dir.name))?);
        // The stopped process removed its kubeconfig entries; a killed one did not.
        match kubeconfig_merge::unmerge_recorded(dir) {
            Some((merged, result)) => done.push(unmerged_message(&merged, result)),
            // Done by the stopped process: say what it did (and finish what it could not).
            None => done.extend(merged.map(|m| {
                let result = match kubeconfig_merge::unmerge_locked(&m) {
                    Ok(Unmerged::Unchanged) => Ok(Unmerged::Removed),
                    Ok(Unmerged::FileGone) if m.created => Ok(Unmerged::FileRemoved),
                    other => other,
                };
                unmerged_message(&m, result)
            })),
        }
        remove_instance_files(dir);
    }
    if options.all {
        done.extend(netverdict_netns::destroy_leftovers(None)?);
    }
    Ok(done)
}

fn unmerged_message(
    merged: &kubeconfig_merge::Merged,
    result: Result<Unmerged, kubeconfig_merge::KubeconfigError>,
) -> String {
    let (name, file) = (&merged.name, merged.file.display());
    match result {
        Ok(Unmerged::Removed) => format!("cluster, user and context {name} from {file}"),
        Ok(Unmerged::FileRemoved) => format!("{file} (it held only {name})"),
        Ok(Unmerged::TakenOver) => {
            format!("nothing from {file}: its {name} names another server now (left alone)")
        }
        Ok(Unmerged::FileGone) => format!("nothing from {file}: it is gone"),
        Ok(Unmerged::Unchanged) => format!("nothing from {file}: {name} was not in it"),
        Err(error) => format!("nothing from {file}: {error}"),
    }
}

fn remove_instance_files(dir: &InstanceDir) {
    for f in [
        dir.pid_file(),
        dir.api_file(),
        dir.kubeconfig(),
        dir.merged_file(),
        dir.ready_file(),
        dir.log_file(),
    ] {
        let _ = std::fs::remove_file(f);
    }
    let _ = std::fs::remove_dir_all(dir.logs_dir());
    let _ = std::fs::remove_dir_all(dir.secrets_dir());
    dir.remove_pod_binary();
    let _ = std::fs::remove_dir(&dir.path);
}

fn stop_pid(pid: i32, timeout: Duration) {
    use nix::sys::signal::{Signal, kill};
    let pid_t = nix::unistd::Pid::from_raw(pid);
    let _ = kill(pid_t, Signal::SIGTERM);
    let started = Instant::now();
    while instance::pid_alive(pid) {
        if started.elapsed() > timeout {
            let _ = kill(pid_t, Signal::SIGKILL);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Our own child (a test's): reap it.
    let _ = nix::sys::wait::waitpid(pid_t, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
}

/// Every recorded instance.
pub fn status() -> Vec<InstanceStatus> {
    instance::list_instances()
        .into_iter()
        .map(|dir| InstanceStatus {
            pid: dir.pid(),
            running: dir.is_alive(),
            ready: dir.ready_file().exists(),
            api_addr: dir.api_addr(),
            kubeconfig: dir.kubeconfig(),
            name: dir.name,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert!(parse_duration("x").is_err());
    }
}
