//! A target whose responder is killed during a run, on a local cluster: its deny must not pass
//! (the silence of a dead pod is no policy), and the run reports how the pod died. Needs root:
//! skipped, saying so, as another user.

mod util;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::Dir;

/// The parent of process `pid`, from /proc.
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..16 {
        match parent(pid) {
            Some(p) if p == ancestor => return true,
            Some(p) if p > 1 => pid = p,
            _ => return false,
        }
    }
    false
}

/// The responder of the pod serving `port`, started by `run`: `netverdict serve --tcp PORT`.
fn responder(run: &Child, port: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let serves = args.iter().any(|a| *a == b"serve")
                && args
                    .windows(2)
                    .any(|w| w[0] == b"--tcp" && w[1] == port.as_bytes());
            (serves && descends_from(pid, run.id())).then_some(pid)
        })
}

/// The run, stopped with SIGTERM (so that it cleans up) if the test ends before it does.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: kill(2) on the pid of a child this test started.
            unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
            let _ = self.0.wait();
        }
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the JSON results")).unwrap()
}

#[test]
fn a_deny_to_a_target_killed_during_the_run_is_inconclusive_and_the_death_reported() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("dead-target");
    // The policy takes effect 5 s late, so the run keeps probing while the server dies.
    dir.create(
        "dead.yaml",
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: dead-target}
spec:
  defaults: {timeout: 1s}
  namespaces: [{name: deadtgt}]
  pods:
    - {name: client, namespace: deadtgt, labels: {app: client}}
    - {name: server, namespace: deadtgt, labels: {app: server}, ports: [{port: 8089}]}
  policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: server-closed, namespace: deadtgt}
      spec:
        podSelector: {matchLabels: {app: server}}
        policyTypes: [Ingress]
  probes:
    - {name: server denied, from: deadtgt/client, to: deadtgt/server, port: 8089, expect: deny}
",
    );
    let mut run = dir
        .command()
        .args(["run", "dead.yaml", "--local", "-q", "--policy-delay", "5s"])
        .args(["--settle", "20s", "--json", "results.json"])
        .into_command();
    let mut run = Running(run.stdout(Stdio::piped()).spawn().expect("start the run"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid = loop {
        if let Some(pid) = responder(&run.0, "8089") {
            break pid;
        }
        assert!(Instant::now() < deadline, "the server never started");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Let the first round and its positive controls see the server alive, then kill it: a
    // process this test started, through the run.
    std::thread::sleep(Duration::from_millis(2500));
    // SAFETY: kill(2) with a pid found above and a valid signal has no memory effects.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let mut stdout = String::new();
    run.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = run.0.wait().unwrap();
    let results = read_json(&dir.path().join("results.json"));
    let scenario = &results["scenarios"][0];
    let probe = &scenario["probes"][0];
    assert_eq!(probe["status"], "inconclusive", "{probe}");
    assert!(
        probe["message"]
            .as_str()
            .unwrap()
            .contains("but its target pod deadtgt/server died during the run: phase Failed"),
        "{probe}"
    );
    let death = &scenario["deadPods"][0];
    assert_eq!(death["pod"], "deadtgt/server", "{scenario}");
    assert_eq!(death["exitCode"], 137, "killed: {death}");
    assert_eq!(status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("died: pod deadtgt/server died during the run"),
        "{stdout}"
    );
}
