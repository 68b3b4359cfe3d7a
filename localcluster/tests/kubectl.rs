//! The local cluster through its HTTP API, as `kubectl` (the pinned one) and kube-rs use it.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use netverdict_localcluster::LocalCluster;

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    kubectl::command()
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs")
}

fn kubectl_stdin(kubeconfig: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = kubectl::command()
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn start(tag: &str) -> LocalCluster {
    LocalCluster::start(config(tag))
        .await
        .expect("the local cluster starts")
}

/// Reads lines of a child's stdout on a thread.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits (hang guard: 60 s) for a line matching `pred`; returns the lines seen.
fn wait_line(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    pred: impl Fn(&str) -> bool,
) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let hit = pred(&line);
                seen.push(line);
                if hit {
                    return true;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return false,
        }
    }
    false
}

const SERVER: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: srv
  namespace: demo
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: main
    image: netverdict:test
    command: ["sh", "-c", "while true; do nc -l -p 8080; done"]
    ports: [{name: http, containerPort: 8080}]
"#;

const SERVICE_AND_POLICY: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: demo}
spec:
  podSelector: {}
  policyTypes: [Ingress]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drives_the_cluster() {
    if !running_as_root() {
        return;
    }
    let cluster = start("kctl").await;
    let kc = cluster.kubeconfig_path().to_owned();
    let out = ok(&kubectl(&kc, &["get", "ns,nodes"]));
    assert!(
        out.contains("kube-system") && out.contains("-control-plane") && out.contains("Ready"),
        "{out}"
    );
    ok(&kubectl(&kc, &["create", "ns", "demo"]));
    ok(&kubectl_stdin(&kc, &["apply", "-f", "-"], SERVER));
    ok(&kubectl(
        &kc,
        &[
            "wait",
            "-n",
            "demo",
            "--for=condition=Ready",
            "pod/srv",
            "--timeout=60s",
        ],
    ));
    let out = ok(&kubectl(&kc, &["get", "pods", "-n", "demo", "-o", "wide"]));
    let row = out
        .lines()
        .find(|l| l.starts_with("srv "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains("1/1") && row.contains("Running") && row.contains("10.244."),
        "{out}"
    );
    assert!(
        row.contains(&format!("{}-", cluster.name())),
        "node column: {out}"
    );

    // A watch streams the label change and the graceful deletion.
    let mut watch = kubectl::command()
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["get", "pods", "-n", "demo", "-w", "--show-labels"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut watch);
    let mut seen = Vec::new();
    assert!(
        wait_line(&rx, &mut seen, |l| l.starts_with("srv ")),
        "{seen:?}"
    );
    ok(&kubectl(
        &kc,
        &["label", "pod", "-n", "demo", "srv", "tier=front"],
    ));
    assert!(
        wait_line(&rx, &mut seen, |l| l.contains("tier=front")),
        "{seen:?}"
    );
    let exec = kubectl(
        &kc,
        &[
            "exec",
            "-n",
            "demo",
            "srv",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&exec.stdout), "out\n");
    assert!(
        String::from_utf8_lossy(&exec.stderr).starts_with("err\n"),
        "{exec:?}"
    );
    assert_eq!(exec.status.code(), Some(3));
    let upper = [
        "exec",
        "-i",
        "-n",
        "demo",
        "srv",
        "--",
        "sh",
        "-c",
        "tr a-z A-Z",
    ];
    assert_eq!(ok(&kubectl_stdin(&kc, &upper, "piped in\n")), "PIPED IN\n");
    ok(&kubectl_stdin(
        &kc,
        &["apply", "-f", "-"],
        SERVICE_AND_POLICY,
    ));
    // The endpoints controller follows the Service a moment later, as in any cluster.
    let listed =
        |out: &str| out.contains("web") && out.contains("deny-all") && out.contains(":8080");
    let mut out = String::new();
    for _ in 0..300 {
        out = ok(&kubectl(
            &kc,
            &["get", "svc,netpol,endpoints", "-n", "demo"],
        ));
        if listed(&out) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(listed(&out), "{out}");
    ok(&kubectl(
        &kc,
        &["delete", "pod", "-n", "demo", "srv", "--wait=true"],
    ));
    assert!(
        wait_line(&rx, &mut seen, |l| l.contains("Terminating")),
        "{seen:?}"
    );
    let _ = watch.kill();
    let _ = watch.wait();
    let out = kubectl(&kc, &["get", "pod", "-n", "demo", "srv"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NotFound"),
        "{out:?}"
    );
    ok(&kubectl(
        &kc,
        &["delete", "ns", "demo", "--wait=true", "--timeout=60s"],
    ));
    let out = kubectl(&kc, &["get", "ns", "demo"]);
    assert!(!out.status.success(), "{out:?}");
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_reaches_services_and_dns() {
    if !running_as_root() {
        return;
    }
    let cluster = start("kdns").await;
    let kc = cluster.kubeconfig_path().to_owned();
    let pods = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: x
    command: ["sh", "-c", "while true; do printf 'HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nhello\n' | nc -l -p 8080 -q 1; done"]
    ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: x, command: ["sleep", "3600"]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
"#;
    ok(&kubectl_stdin(&kc, &["apply", "-f", "-"], pods));
    ok(&kubectl(
        &kc,
        &[
            "wait",
            "--for=condition=Ready",
            "pod/web",
            "pod/client",
            "--timeout=60s",
        ],
    ));
    let out = ok(&kubectl(
        &kc,
        &["exec", "client", "--", "nslookup", "kubernetes.default"],
    ));
    assert!(out.contains("10.96.0.1"), "{out}");
    let out = ok(&kubectl(&kc, &["exec", "client", "--", "nslookup", "web"]));
    assert!(out.contains("web.default.svc.cluster.local"), "{out}");
    // The endpoints controller may lag the Ready condition by a moment: retry a few times.
    let mut body = String::new();
    for _ in 0..50 {
        let out = kubectl(
            &kc,
            &[
                "exec",
                "client",
                "--",
                "curl",
                "-sS",
                "-m",
                "3",
                "http://web/",
            ],
        );
        body = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(body, "hello\n");
    let out = kubectl(
        &kc,
        &[
            "exec",
            "client",
            "--",
            "curl",
            "-sS",
            "-m",
            "3",
            "http://nobody/",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "curl: connection refused: {out:?}"
    );
    ok(&kubectl(
        &kc,
        &[
            "exec",
            "client",
            "--",
            "nc",
            "-vz",
            "-w",
            "2",
            "kubernetes.default",
            "443",
        ],
    ));
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_shows_what_the_container_wrote() {
    if !running_as_root() {
        return;
    }
    let cluster = start("klog").await;
    let kc = cluster.kubeconfig_path().to_owned();
    let pod = "apiVersion: v1
kind: Pod
metadata: {name: talker, namespace: default}
spec:
  containers:
  - {name: main, image: netverdict:test, command: [sh, -c, 'echo to-stdout; echo to-stderr >&2; exec sleep 300']}
";
    tokio::task::spawn_blocking(move || {
        ok(&kubectl_stdin(&kc, &["apply", "-f", "-"], pod));
        ok(&kubectl(
            &kc,
            &[
                "wait",
                "--for=condition=Ready",
                "pod/talker",
                "--timeout=60s",
            ],
        ));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let logs = ok(&kubectl(&kc, &["logs", "talker"]));
            if logs.contains("to-stdout") && logs.contains("to-stderr") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no logs: {logs:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
        let missing = kubectl(&kc, &["logs", "nobody"]);
        assert!(!missing.status.success());
        assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
    })
    .await
    .unwrap();
    cluster.shutdown().await.unwrap();
}
