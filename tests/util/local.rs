//! Local clusters for one test: `netverdict local up --name NAME`, and a guard that downs the
//! instance when dropped, also when the test fails.

use super::TestCommand;

/// Stops a local cluster on drop, also when the test fails.
pub struct LocalDown(pub String);

impl Drop for LocalDown {
    fn drop(&mut self) {
        let _ = TestCommand::in_repo()
            .args(["local", "down", "--name", &self.0])
            .run();
    }
}

/// Starts a local cluster named `prefix` plus this process's id, with `extra` options of
/// `local up`; returns its guard and kubeconfig.
pub fn local_up(prefix: &str, extra: &[&str]) -> (LocalDown, String) {
    let name = format!("{prefix}{}", std::process::id() % 100_000);
    let up = TestCommand::in_repo()
        .args(["local", "up", "--name", &name])
        .args(extra)
        .run();
    assert_eq!(up.code, 0, "{}", up.stderr);
    let kubeconfig = format!("/run/netverdict/{name}/kubeconfig");
    (LocalDown(name), kubeconfig)
}
