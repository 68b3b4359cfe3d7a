//! What the local cluster hands to other users of the machine: nothing. The API needs the
//! instance's credential, its files are root's, and pods run unprivileged, contained, and never
//! as root unless the cluster was started to allow it. Needs root (it starts clusters and
//! acts as the unprivileged user `nobody`).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use netverdict_apiserver::Resource;
use netverdict_localcluster::{DEFAULT_GID, DEFAULT_UID, LocalCluster};
use serde_json::{Value, json};

const NOBODY: u32 = 65534;

fn root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}

/// Runs `program` as the user `nobody`.
fn as_nobody(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir("/")
        .env("HOME", "/nonexistent")
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("the command runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// `curl` of the API: (HTTP code, body).
fn curl(cluster: &LocalCluster, as_root: bool, extra: &[&str], path: &str) -> (String, String) {
    let url = format!("{}{path}", cluster.api_url());
    let mut args = vec!["-sS", "-k", "-o", "-", "-w", "\n%{http_code}"];
    args.extend_from_slice(extra);
    args.push(&url);
    let out = if as_root {
        Command::new("curl").args(&args).output().unwrap()
    } else {
        as_nobody("curl", &args)
    };
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = all.rsplit_once('\n').unwrap_or(("", &all));
    (code.to_owned(), body.to_owned())
}

const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"proof"},"spec":{"containers":[{"name":"c","image":"busybox","command":["sh","-c","id > /tmp/proof; sleep 3600"]}]}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_users_get_no_access_to_the_api_or_the_instance_files() {
    if !root() {
        return;
    }
    let cluster = LocalCluster::start(config("sec"))
        .await
        .expect("the local cluster starts");
    let pods = "/api/v1/namespaces/default/pods";
    let unauthorized = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401});

    // Without a credential, or with a wrong one: 401, and nothing is created.
    for extra in [vec![], vec!["-H", "Authorization: Bearer wrong-token"]] {
        let mut post = vec![
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            POD,
        ];
        post.extend(extra.iter().copied());
        let (code, body) = curl(&cluster, false, &post, pods);
        assert_eq!(code, "401", "{body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), unauthorized);
        let (code, _) = curl(&cluster, false, &extra, "/version");
        assert_eq!(code, "401");
    }
    assert!(
        cluster
            .store()
            .get(Resource::Pods, Some("default"), "proof")
            .is_err()
    );
    // Plain HTTP gets no HTTP answer at all.
    let plain = as_nobody(
        "curl",
        &[
            "-sS",
            "-m",
            "5",
            &format!("http://{}/version", cluster.api_addr()),
        ],
    );
    assert!(!plain.status.success(), "{}", text(&plain));

    // The instance's files: root's alone.
    let dir = cluster.instance_dir();
    let kubeconfig = cluster.kubeconfig_path();
    let secrets = cluster.secrets_dir();
    assert_eq!(mode(dir), 0o711);
    assert_eq!(mode(kubeconfig), 0o600);
    assert_eq!(mode(&secrets), 0o700);
    assert_eq!(mode(&secrets.join("token")), 0o600);
    assert_eq!(mode(cluster.log_dir()), 0o700);
    for path in [
        kubeconfig.to_path_buf(),
        secrets.join("token"),
        secrets.join("ca.crt"),
        dir.join("api"),
    ] {
        let out = as_nobody("cat", &[path.to_str().unwrap()]);
        assert!(!out.status.success(), "{} is readable", path.display());
        assert!(text(&out).contains("Permission denied"), "{}", text(&out));
    }
    for path in [dir, &secrets, cluster.log_dir()] {
        let out = as_nobody("ls", &[path.to_str().unwrap()]);
        assert!(text(&out).contains("Permission denied"), "{}", text(&out));
    }

    // Root's token (what `secrets/` holds for clients without the kubeconfig) is accepted.
    let token = std::fs::read_to_string(secrets.join("token")).unwrap();
    let header = format!("Authorization: Bearer {}", token.trim());
    let ca = secrets.join("ca.crt");
    let (code, body) = curl(
        &cluster,
        true,
        &["--cacert", ca.to_str().unwrap(), "-H", &header],
        "/api/v1/namespaces",
    );
    assert_eq!(code, "200", "{body}");
    // So is the kubeconfig's client certificate.
    let client = cluster.client().await.unwrap();
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
    assert!(
        !namespaces
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // kubectl exec runs as the pod's user.
    let store = cluster.store().clone();
    store
        .create(
            Resource::Pods,
            Some("default"),
            sh_pod("default", "who", json!({}), "sleep 3600"),
        )
        .unwrap();
    wait_pod(&store, "default", "who", "Ready", is_ready).await;
    let out = kubectl::command()
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["exec", "who", "--", "id", "-u"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        DEFAULT_UID.to_string(),
        "{}",
        text(&out)
    );
    cluster.shutdown().await.unwrap();
}

fn pod(name: &str, container: Value, pod_security: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "default"},
           "spec": {"terminationGracePeriodSeconds": 1, "securityContext": pod_security,
                    "containers": [container]}})
}

fn sh(script: &str) -> Value {
    json!({"name": "c", "image": "busybox", "command": ["sh", "-c", script]})
}

fn waiting(p: &Value) -> &Value {
    &p["status"]["containerStatuses"][0]["state"]["waiting"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_run_unprivileged_and_cannot_touch_the_machine() {
    if !root() {
        return;
    }
    let cluster = start_store_only("jail").await;
    let store = cluster.store().clone();
    let create = |p: Value| store.create(Resource::Pods, Some("default"), p).unwrap();

    // A pod without a user writes a file: it is the default user's. Its readiness probe and
    // exec sessions run as that user too and see the same /tmp.
    let mut writer = sh("id -u > /tmp/owner; sleep 3600");
    writer["readinessProbe"] = json!({"exec": {"command": ["sh", "-c", "test \"$(id -u)\" = 65532 && test -O /tmp/owner"]}, "periodSeconds": 1});
    create(pod("writer", writer, json!({})));
    wait_pod(&store, "default", "writer", "Ready", is_ready).await;
    let (out, err, code) = exec(
        &cluster,
        "default",
        "writer",
        &["stat", "-c", "%u:%g", "/tmp/owner"],
    )
    .await;
    assert_eq!(
        (out.trim(), code),
        (format!("{DEFAULT_UID}:{DEFAULT_GID}").as_str(), 0),
        "{err}"
    );
    let (out, _, _) = exec(&cluster, "default", "writer", &["cat", "/tmp/owner"]).await;
    assert_eq!(out.trim(), DEFAULT_UID.to_string());
    assert!(
        !Path::new("/tmp/owner").exists(),
        "the machine's /tmp is untouched"
    );

    // Nothing outside the pod's /tmp is writable, not even a world-writable directory.
    let reachable = ReachableDir::new(&format!("open-{}", cluster.name()));
    let open = reachable.path().join("open");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let target = open.join("x");
    let script = format!("echo x > {}", target.display());
    let (_, err, code) = exec(&cluster, "default", "writer", &["sh", "-c", &script]).await;
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!target.exists());
    let (_, err, code) = exec(&cluster, "default", "writer", &["cat", "/etc/shadow"]).await;
    assert_ne!(code, 0, "/etc/shadow is root's");
    assert!(err.contains("Permission denied"), "{err}");
    drop(reachable);

    // Root is refused with the reason in the status and an event.
    create(pod(
        "root",
        sh("id > /tmp/proof; sleep 3600"),
        json!({"runAsUser": 0}),
    ));
    let p = wait_pod(&store, "default", "root", "refused", |p| {
        waiting(p)["reason"] == "CreateContainerConfigError"
    })
    .await;
    let message = waiting(&p)["message"].as_str().unwrap();
    assert!(
        message.contains("spec.securityContext.runAsUser"),
        "{message}"
    );
    assert!(message.contains("--allow-privileged-pods"), "{message}");
    assert_eq!(p["status"]["phase"], "Pending");
    let (events, _) = store
        .list(Resource::Events, Some("default"), &Default::default())
        .unwrap();
    assert!(
        events.iter().any(|e| e["involvedObject"]["name"] == "root"
            && e["reason"] == "Failed"
            && e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("runAsUser")),
        "{events:#?}"
    );
    // So are privileged containers and the machine's files.
    create(pod(
        "privileged",
        json!({"name": "c", "image": "busybox", "command": ["sleep", "3600"], "securityContext": {"privileged": true}}),
        json!({}),
    ));
    let p = wait_pod(&store, "default", "privileged", "refused", |p| {
        waiting(p)["reason"] == "CreateContainerConfigError"
    })
    .await;
    assert!(
        waiting(&p)["message"]
            .as_str()
            .unwrap()
            .contains("securityContext.privileged")
    );
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_pods_run_only_when_the_cluster_allows_them() {
    if !root() {
        return;
    }
    let mut c = config("priv");
    c.api_bind = None;
    c.allow_privileged_pods = true;
    let cluster = LocalCluster::start(c)
        .await
        .expect("the local cluster starts");
    let store = cluster.store().clone();
    store
        .create(
            Resource::Pods,
            Some("default"),
            pod("root", sh("sleep 3600"), json!({"runAsUser": 0})),
        )
        .unwrap();
    wait_pod(&store, "default", "root", "Running", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
    let (out, _, _) = exec(&cluster, "default", "root", &["id", "-u"]).await;
    assert_eq!(out.trim(), "0");
    // Root of a container, not of the machine: the machine's files stay read-only.
    let (_, err, code) = exec(&cluster, "default", "root", &["touch", "/etc/nv-root"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    let (out, _, _) = exec(
        &cluster,
        "default",
        "root",
        &["grep", "CapEff", "/proc/self/status"],
    )
    .await;
    assert!(
        !out.contains("000001ffffffffff"),
        "not every capability: {out}"
    );
    cluster.shutdown().await.unwrap();
}
