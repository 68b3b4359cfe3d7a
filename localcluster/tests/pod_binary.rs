//! Pods run the instance's copy of the netverdict binary, whatever directory it was built in, and
//! a command the pod's user cannot execute says why. Needs root.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use netverdict_apiserver::Resource;
use netverdict_localcluster::LocalCluster;
use serde_json::{Value, json};

/// A directory like a checkout under `/root`: `/run/nv-<name>/private` is 0700, owned by root.
/// Removed on drop, also when the test fails.
struct PrivateDir(ReachableDir);

impl PrivateDir {
    fn new(name: &str) -> PrivateDir {
        let top = ReachableDir::new(name);
        let private = top.path().join("private");
        std::fs::create_dir_all(private.join("bin")).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        PrivateDir(top)
    }

    fn private(&self) -> PathBuf {
        self.0.path().join("private")
    }

    /// Copies the machine's `program` to `private/bin/<name>`, 0755.
    fn install(&self, program: &str, name: &str) -> PathBuf {
        let path = self.private().join("bin").join(name);
        std::fs::copy(program, &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

fn pod(name: &str, command: &[&str], security: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "default"},
           "spec": {"terminationGracePeriodSeconds": 1, "securityContext": security,
                    "containers": [{"name": "c", "image": "netverdict:test", "command": command}]}})
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_run_the_instances_copy_of_the_binary_wherever_it_was_built() {
    if !running_as_root() {
        return;
    }
    let dir = PrivateDir::new(&unique_name("bin"));
    // `sleep` plays the netverdict binary: `netverdict 3600` sleeps.
    let built = dir.install("/bin/sleep", "netverdict");
    let mut config = config("bin");
    config.api_bind = None;
    config.netverdict_bin = built.clone();
    let cluster = LocalCluster::start(config)
        .await
        .expect("the cluster starts");
    let copy = cluster.pod_binary().to_owned();
    assert_eq!(
        copy,
        Path::new("/run/netverdict")
            .join(cluster.name())
            .join("bin/netverdict")
    );
    assert_eq!(mode(&copy), 0o755);
    assert_eq!(mode(copy.parent().unwrap()), 0o755);
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&built).unwrap()
    );

    let store = cluster.store().clone();
    let restricted = json!({"runAsNonRoot": true});
    store
        .create(
            Resource::Pods,
            Some("default"),
            pod("first", &["netverdict", "3600"], restricted.clone()),
        )
        .unwrap();
    let p = wait_pod(&store, "default", "first", "Ready", is_ready).await;
    assert_eq!(p["status"]["phase"], "Running");
    let (out, _, code) = exec(&cluster, "default", "first", &["id", "-u"]).await;
    assert_eq!(
        (out.as_str(), code),
        ("65532\n", 0),
        "the pod runs as its image user"
    );

    // A rebuild replaces the binary: the running cluster keeps its own copy.
    std::fs::copy("/bin/false", &built).unwrap();
    store
        .create(
            Resource::Pods,
            Some("default"),
            pod("second", &["netverdict", "3600"], restricted),
        )
        .unwrap();
    wait_pod(&store, "default", "second", "Ready", is_ready).await;
    assert_ne!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&built).unwrap()
    );

    cluster.shutdown().await.unwrap();
    assert!(!copy.exists(), "the copy goes with the cluster");
    assert!(built.exists(), "the original stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_the_pod_user_cannot_reach_says_why() {
    if !running_as_root() {
        return;
    }
    let dir = PrivateDir::new(&unique_name("deny"));
    let tool = dir.install("/bin/true", "tool");
    let tool_path = tool.to_str().unwrap();
    let cluster = start_store_only("deny").await;
    let store = cluster.store().clone();
    let user = json!({"runAsUser": 65532, "runAsGroup": 65532});
    let why = format!(
        "the pod user 65532 cannot execute {tool_path}: a parent directory ({}) is not searchable for it (mode 0700, owner 0:0)",
        dir.private().display()
    );

    store
        .create(
            Resource::Pods,
            Some("default"),
            pod("denied", &[tool_path], user.clone()),
        )
        .unwrap();
    let p = wait_pod(&store, "default", "denied", "RunContainerError", |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "RunContainerError"
    })
    .await;
    let message = p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.starts_with(&format!("exec: {tool_path:?}: Permission denied"))
            && message.ends_with(&why),
        "{message}"
    );

    // The same through exec in a running pod of that user.
    store
        .create(
            Resource::Pods,
            Some("default"),
            pod("running", &["sleep", "3600"], user),
        )
        .unwrap();
    wait_pod(&store, "default", "running", "Ready", is_ready).await;
    let (_, err, code) = exec(&cluster, "default", "running", &[tool_path]).await;
    assert_eq!(code, 126, "{err}");
    assert!(err.contains(&why), "{err}");

    // A user the directory's group lets in may search it.
    std::fs::set_permissions(dir.private(), std::fs::Permissions::from_mode(0o710)).unwrap();
    std::os::unix::fs::chown(dir.private(), None, Some(65532)).unwrap();
    let mut allowed = pod(
        "allowed",
        &[tool_path],
        json!({"runAsUser": 65532, "runAsGroup": 65532}),
    );
    allowed["spec"]["restartPolicy"] = json!("Never");
    store
        .create(Resource::Pods, Some("default"), allowed)
        .unwrap();
    wait_pod(&store, "default", "allowed", "Succeeded", |p| {
        p["status"]["phase"] == "Succeeded"
    })
    .await;
    cluster.shutdown().await.unwrap();
}
