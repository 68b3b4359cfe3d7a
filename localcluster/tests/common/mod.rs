//! Helpers of the local cluster's integration tests: unique instance names, waiting on the
//! store, exec, and leftover checks.

// Each test binary uses a different subset of these helpers, so `expect` would fail in some.
#![allow(dead_code)]

#[path = "../../../tests/util/kubectl.rs"]
pub mod kubectl;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use netverdict_apiserver::{Resource, Store};
use netverdict_localcluster::{
    DownOptions, LocalCluster, LocalClusterConfig, ServeOptions, UpOptions, down,
};
use serde_json::Value;
use tokio::io::AsyncReadExt;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name no other test (of this or a parallel test binary) uses: `t<pid><n>`.
pub fn unique_name(tag: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut name = format!("t{}{}{n}", std::process::id() % 100_000, tag);
    name.truncate(16);
    name
}

pub fn config(tag: &str) -> LocalClusterConfig {
    let mut c = LocalClusterConfig::new(unique_name(tag), "/bin/false");
    c.restart_backoff = Duration::from_millis(500);
    c
}

/// Whether the test can run: local clusters need root. Says why it is skipped when not.
pub fn running_as_root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}

/// Options of `up` for a background instance of one node, run by this crate's binary.
pub fn up_options(name: &str, kubeconfig: Option<std::path::PathBuf>) -> UpOptions {
    UpOptions {
        serve: ServeOptions {
            name: name.to_owned(),
            nodes: 1,
            kubeconfig,
            netverdict_bin: None,
            pods: Default::default(),
            emulation: Default::default(),
            network: Default::default(),
            namespace_deletion: Duration::ZERO,
        },
        foreground: false,
        timeout: Duration::from_secs(120),
        program: Some(env!("CARGO_BIN_EXE_netverdict-localcluster").into()),
        serve_args: vec!["serve".into()],
    }
}

/// Stops the background instance of that name (and only it) when dropped, also when the test
/// fails.
pub struct DownOnDrop(pub String);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        let _ = down(DownOptions {
            name: Some(self.0.clone()),
            all: false,
        });
    }
}

/// A directory on the machine that pod users can reach, unlike the checkout's own directories
/// (which may sit under `/root`, 0700): `/run/nv-<name>`, 0755, removed on drop, also when the
/// test fails. Not under `/tmp`, which is each pod's own.
pub struct ReachableDir(std::path::PathBuf);

impl ReachableDir {
    pub fn new(name: &str) -> ReachableDir {
        use std::os::unix::fs::PermissionsExt;
        let path = std::path::Path::new("/run").join(format!("nv-{name}"));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        ReachableDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ReachableDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts a store-only cluster (no HTTP).
pub async fn start_store_only(tag: &str) -> LocalCluster {
    let mut c = config(tag);
    c.api_bind = None;
    LocalCluster::start(c)
        .await
        .expect("the local cluster starts")
}

/// Polls the pod until `pred` holds; panics after `limit` (a hang guard, not a timing check).
pub async fn wait_pod(
    store: &Store,
    ns: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..1200 {
        if let Ok(p) = store.get(Resource::Pods, Some(ns), name)
            && pred(&p)
        {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let p = store.get(Resource::Pods, Some(ns), name);
    panic!("pod {ns}/{name} never became {what}: {p:#?}");
}

pub async fn wait_gone(store: &Store, ns: &str, name: &str) {
    for _ in 0..1200 {
        if store.get(Resource::Pods, Some(ns), name).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("pod {ns}/{name} never went away");
}

pub fn is_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

pub fn pod_ip(p: &Value) -> String {
    p["status"]["podIP"].as_str().expect("a pod IP").to_owned()
}

/// A pod running `sh -c script`.
pub fn sh_pod(ns: &str, name: &str, labels: Value, script: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"terminationGracePeriodSeconds": 2, "containers": [{
            "name": "main", "image": "netverdict:test",
            "command": ["sh", "-c", script],
            "ports": [{"name": "http", "containerPort": 8080}]}]}
    })
}

/// Runs a command in a pod; returns (stdout, stderr, exit code).
pub async fn exec(
    cluster: &LocalCluster,
    ns: &str,
    pod: &str,
    argv: &[&str],
) -> (String, String, i32) {
    let p = cluster
        .exec_handler()
        .exec(
            ns,
            pod,
            None,
            argv.iter().map(|s| (*s).to_owned()).collect(),
            false,
        )
        .await
        .expect("exec starts");
    let (mut out, mut err) = (String::new(), String::new());
    let (mut so, mut se) = (p.stdout, p.stderr);
    let (a, b) = tokio::join!(so.read_to_string(&mut out), se.read_to_string(&mut err));
    a.unwrap();
    b.unwrap();
    let code = p.exit.await.expect("exit code");
    (out, err, code)
}

/// Namespaces of the machine whose name starts with `prefix`.
pub fn netns_with_prefix(prefix: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// Processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(marker) {
            found.push(cmdline);
        }
    }
    found
}
