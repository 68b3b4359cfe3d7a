//! The instance registry: what a running local cluster records under `/run/netverdict/<name>/`
//! so that `netverdict local down/status` (other processes) can find it, and its kubeconfig.
//!
//! Files of an instance directory (mode 0711: others may reach `bin/`, not list or read
//! anything):
//! - `pid`: the PID of the serving process (the one `down` sends SIGTERM to);
//! - `api`: the API server address (`127.0.0.1:PORT`);
//! - `kubeconfig`: the admin's kubeconfig (the CA, the client certificate and its key),
//!   current-context set;
//! - `merged-kubeconfig.json`: with `--kubeconfig FILE`, which file the instance's entries were
//!   merged into, and what to restore (see `kubeconfig_merge`);
//! - `secrets/` (0700): `ca.crt`, the CA of the API's serving certificate, and `token`, a
//!   bearer token of the admin (for clients without the kubeconfig, e.g. `curl --cacert`);
//! - `ready`: written once the API answers and cluster DNS is ready;
//! - `log`: the serving process's output when started in the background;
//! - `bin/netverdict`: the copy of the netverdict binary that pods run (directory and file 0755).
//! - `logs/` (0700): the containers' output;
//! - `netns/` (0700): the fabric's files (the pods' resolv.conf and scratch space).
//!
//! Every file is 0600 and root's: only root can use the API.

use netverdict_engine::Quoted;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where instance directories live.
pub const RUN_DIR: &str = "/run/netverdict";

/// A valid instance name: `[a-z0-9-]{1,16}`, not starting with `-` (kernel object names derive
/// from it and must stay short).
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 16
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid instance name {}: want [a-z0-9-]{{1,16}}",
            Quoted(name)
        ))
    }
}

/// The directory of one instance.
#[derive(Clone, Debug)]
pub struct InstanceDir {
    pub name: String,
    pub path: PathBuf,
}

impl InstanceDir {
    pub fn new(name: &str) -> InstanceDir {
        InstanceDir {
            name: name.to_owned(),
            path: Path::new(RUN_DIR).join(name),
        }
    }

    pub fn pid_file(&self) -> PathBuf {
        self.path.join("pid")
    }

    pub fn api_file(&self) -> PathBuf {
        self.path.join("api")
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.path.join("kubeconfig")
    }

    /// What was merged into a kubeconfig given with `--kubeconfig` (see `kubeconfig_merge`).
    pub fn merged_file(&self) -> PathBuf {
        self.path.join("merged-kubeconfig.json")
    }

    pub fn ready_file(&self) -> PathBuf {
        self.path.join("ready")
    }

    pub fn log_file(&self) -> PathBuf {
        self.path.join("log")
    }

    /// Where pods find the netverdict binary: `bin/netverdict`.
    pub fn pod_binary(&self) -> PathBuf {
        self.path.join("bin").join("netverdict")
    }

    /// Copies `source` to [`InstanceDir::pod_binary`] (directory and file 0755), so that pod users
    /// can run it wherever it was built (a checkout under `/root`, which is 0700, included), and a
    /// rebuild of `source` does not change what a running cluster runs.
    pub fn install_pod_binary(&self, source: &Path) -> io::Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let target = self.pod_binary();
        let dir = self.path.join("bin");
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let tmp = target.with_extension(format!("tmp{}", std::process::id()));
        std::fs::copy(source, &tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&tmp, &target)?;
        Ok(target)
    }

    /// Removes [`InstanceDir::pod_binary`] and its directory.
    pub fn remove_pod_binary(&self) {
        let _ = std::fs::remove_file(self.pod_binary());
        let _ = std::fs::remove_dir(self.path.join("bin"));
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.path.join("logs")
    }

    pub fn secrets_dir(&self) -> PathBuf {
        self.path.join("secrets")
    }

    /// Creates the directory (and [`RUN_DIR`]) with mode 0711, correcting the mode of one that
    /// exists.
    pub fn create(&self) -> io::Result<()> {
        for dir in [Path::new(RUN_DIR), self.path.as_path()] {
            create_dir_with_mode(dir, 0o711)?;
        }
        Ok(())
    }

    /// The recorded PID, if any.
    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.pid_file())
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// The recorded start time of the process (clock ticks after boot), to tell a reused PID.
    fn start_time(&self) -> Option<u64> {
        std::fs::read_to_string(self.pid_file())
            .ok()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// The recorded API address, if any.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        std::fs::read_to_string(self.api_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Whether the recorded process still exists, is not a zombie and is the one that recorded
    /// itself (same start time), so that a reused PID is never signalled.
    pub fn is_alive(&self) -> bool {
        let Some(pid) = self.pid() else { return false };
        pid_alive(pid)
            && self
                .start_time()
                .is_none_or(|t| process_start_time(pid) == Some(t))
    }

    pub fn remove(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// Every instance directory that records a local cluster (a pid file; the fabric alone keeps
/// files there too).
pub fn list_instances() -> Vec<InstanceDir> {
    let mut out: Vec<InstanceDir> = std::fs::read_dir(RUN_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("pid").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .map(|name| InstanceDir::new(&name))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Whether a process exists and is not a zombie.
pub(crate) fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// A process's start time in clock ticks after boot (field 22 of `/proc/<pid>/stat`).
pub(crate) fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (state).
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The contents of a pid file for the current process: `<pid> <start time>`.
pub(crate) fn own_pid_record() -> String {
    let pid = std::process::id();
    let start = i32::try_from(pid)
        .ok()
        .and_then(process_start_time)
        .unwrap_or_default();
    format!("{pid} {start}\n")
}

/// The context (and cluster and user) name of an instance in kubeconfigs.
pub fn context_name(instance: &str) -> String {
    format!("netverdict-{instance}")
}

/// First line of the kubeconfig an instance writes into its directory.
pub fn kubeconfig_header(instance: &str) -> String {
    format!(
        "# kubeconfig of the netverdict local cluster {}; replaced and removed with it",
        Quoted(instance)
    )
}

/// The instance's kubeconfig text: `kubeconfig` under [`kubeconfig_header`], names from
/// [`context_name`].
pub(crate) fn kubeconfig_yaml(
    instance: &str,
    mut kubeconfig: netverdict_apiserver::kubeconfig::Kubeconfig,
) -> String {
    kubeconfig.name = context_name(instance);
    let header = kubeconfig_header(instance);
    kubeconfig.to_yaml(Some(header.trim_start_matches("# ")))
}

/// Creates `dir` (not its parents) with `mode`, or sets the mode of the one that exists.
pub(crate) fn create_dir_with_mode(dir: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        other => other?,
    }
    // The umask may have taken bits away, and an existing directory may have others.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

/// Opens `path` for appending, creating it with mode 0600.
pub(crate) fn open_private_append(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Writes `contents` to `path` atomically (temporary file, then rename), mode 0600.
pub(crate) fn write_atomic(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "nv-1", "abcdefghijklmnop"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "A", "a_b", "abcdefghijklmnopq", "a.b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    fn kubeconfig(instance: &str) -> String {
        use netverdict_apiserver::kubeconfig::{Kubeconfig, KubeconfigCredential};
        kubeconfig_yaml(
            instance,
            Kubeconfig {
                name: String::new(),
                server: "https://127.0.0.1:6443".to_owned(),
                ca_pem: "CA".to_owned(),
                credential: KubeconfigCredential::Token("t".to_owned()),
            },
        )
    }

    #[test]
    fn kubeconfig_has_current_context() {
        let y = kubeconfig("t1");
        assert!(y.starts_with(&kubeconfig_header("t1")), "{y}");
        assert!(y.contains("current-context: netverdict-t1\n"));
        assert!(y.contains("server: https://127.0.0.1:6443\n"));
        assert!(y.contains("certificate-authority-data: Q0E=\n"), "{y}");
    }

    #[test]
    fn own_pid_is_alive() {
        assert!(pid_alive(i32::try_from(std::process::id()).unwrap()));
        assert!(!pid_alive(i32::MAX));
        let own = i32::try_from(std::process::id()).unwrap();
        assert!(process_start_time(own).is_some_and(|t| t > 0));
    }
}
