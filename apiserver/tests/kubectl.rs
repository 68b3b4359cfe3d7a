//! The real kubectl against the server: what `netverdict` and its users run.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::Harness;
use netverdict_apiserver::Resource;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  containers:
  - name: web
    image: busybox:1.36
    ports:
    - containerPort: 8080
";

/// Waits (polling the store) until `check` holds; the test's own timeout bounds it.
async fn until(mut check: impl FnMut() -> bool) {
    while !check() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn columns(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[tokio::test]
async fn namespaces_are_listed_created_and_deleted_with_their_contents() {
    let h = Harness::start().await;
    let out = h.kubectl_ok(&["get", "ns"]).await;
    let rows: Vec<Vec<&str>> = out.lines().map(columns).collect();
    assert_eq!(rows[0], ["NAME", "STATUS", "AGE"]);
    for name in ["default", "kube-system", "kube-public"] {
        assert!(
            rows.iter().any(|r| r[0] == name && r[1] == "Active"),
            "{out}"
        );
    }
    assert_eq!(
        h.kubectl_ok(&["create", "ns", "demo"]).await.trim(),
        "namespace/demo created"
    );
    let labels = h
        .kubectl_ok(&["get", "ns", "demo", "-o", "jsonpath={.metadata.labels}"])
        .await;
    assert_eq!(labels, r#"{"kubernetes.io/metadata.name":"demo"}"#);
    let pod = h.manifest("pod.yaml", POD);
    h.kubectl_ok(&["apply", "-n", "demo", "-f", &pod]).await;
    h.run_pod("demo", "web", "10.244.0.5");
    h.kubectl_ok(&[
        "create",
        "configmap",
        "-n",
        "demo",
        "settings",
        "--from-literal=a=b",
    ])
    .await;

    let delete = h
        .kubectl_command(&["delete", "ns", "demo"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let store = h.store.clone();
    until(|| {
        store
            .get(Resource::Namespaces, None, "demo")
            .is_ok_and(|ns| ns["status"]["phase"] == "Terminating")
    })
    .await;
    let out = h.kubectl_ok(&["get", "ns", "demo", "--no-headers"]).await;
    assert_eq!(columns(&out)[1], "Terminating");
    assert!(
        store
            .get(Resource::ConfigMaps, Some("demo"), "settings")
            .is_err(),
        "contents go first"
    );
    let (code, _, err) = h
        .kubectl(&["create", "configmap", "-n", "demo", "late"])
        .await;
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"late\" is forbidden: unable to create new content in namespace demo because it is being terminated"
    );
    // The kubelet stops the pod's processes, then the namespace goes by itself.
    until(|| {
        store
            .get(Resource::Pods, Some("demo"), "web")
            .is_ok_and(|p| p["metadata"]["deletionTimestamp"].is_string())
    })
    .await;
    store
        .finalize_delete(Resource::Pods, Some("demo"), "web")
        .unwrap();
    let output = delete.wait_with_output().await.unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "namespace \"demo\" deleted"
    );
    let (code, _, err) = h.kubectl(&["get", "ns", "demo"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("Error from server (NotFound): namespaces \"demo\" not found"),
        "{err}"
    );
}

#[tokio::test]
async fn a_pod_is_applied_printed_watched_labelled_and_deleted() {
    let h = Harness::start().await;
    let pod = h.manifest("pod.yaml", POD);
    assert_eq!(
        h.kubectl_ok(&["apply", "-f", &pod]).await.trim(),
        "pod/web created"
    );
    assert_eq!(
        h.kubectl_ok(&["apply", "-f", &pod]).await.trim(),
        "pod/web unchanged"
    );
    let out = h.kubectl_ok(&["get", "pods", "-o", "wide"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        columns(lines[0]),
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED",
            "NODE",
            "READINESS",
            "GATES"
        ]
    );
    assert_eq!(columns(lines[1])[..4], ["web", "0/1", "Pending", "0"]);

    let mut watch = h
        .kubectl_command(&["get", "pods", "-w"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut watched = BufReader::new(watch.stdout.take().unwrap()).lines();
    assert_eq!(
        columns(&watched.next_line().await.unwrap().unwrap())[0],
        "NAME"
    );
    assert_eq!(
        columns(&watched.next_line().await.unwrap().unwrap())[..3],
        ["web", "0/1", "Pending"]
    );

    h.run_pod("default", "web", "10.244.0.7");
    let line = watched.next_line().await.unwrap().unwrap();
    assert_eq!(columns(&line)[..3], ["web", "1/1", "Running"], "{line}");
    let out = h
        .kubectl_ok(&["get", "pods", "-o", "wide", "--no-headers"])
        .await;
    let row = columns(&out);
    assert_eq!(
        [row[0], row[1], row[2], row[5], row[6]],
        ["web", "1/1", "Running", "10.244.0.7", "node-1"]
    );

    assert_eq!(
        h.kubectl_ok(&["label", "pod", "web", "tier=front"])
            .await
            .trim(),
        "pod/web labeled"
    );
    let line = watched.next_line().await.unwrap().unwrap();
    assert_eq!(columns(&line)[..3], ["web", "1/1", "Running"]);
    let selected = h
        .kubectl_ok(&[
            "get",
            "pods",
            "-l",
            "tier in (front,back),app=web",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(selected.trim(), "pod/web");
    assert_eq!(
        h.kubectl_ok(&["get", "pods", "-l", "tier!=front", "-o", "name"])
            .await
            .trim(),
        ""
    );
    let by_field = h
        .kubectl_ok(&[
            "get",
            "pods",
            "--field-selector",
            "status.phase=Running,spec.nodeName=node-1",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(by_field.trim(), "pod/web");

    let delete = h
        .kubectl_command(&["delete", "pod", "web"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let store = h.store.clone();
    until(|| {
        store
            .get(Resource::Pods, Some("default"), "web")
            .is_ok_and(|p| p["metadata"]["deletionTimestamp"].is_string())
    })
    .await;
    let line = watched.next_line().await.unwrap().unwrap();
    assert_eq!(columns(&line)[..3], ["web", "1/1", "Terminating"], "{line}");
    h.store
        .finalize_delete(Resource::Pods, Some("default"), "web")
        .unwrap();
    let output = delete.wait_with_output().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "pod \"web\" deleted from default namespace"
    );
    let line = watched.next_line().await.unwrap().unwrap();
    assert_eq!(
        columns(&line)[..3],
        ["web", "1/1", "Terminating"],
        "the deletion is the last line: {line}"
    );
    watch.kill().await.unwrap();
    assert_eq!(h.kubectl_ok(&["get", "pods", "-o", "name"]).await, "");
}

#[tokio::test]
async fn exec_separates_stdout_and_stderr_and_returns_the_exit_code() {
    let h = Harness::start().await;
    let pod = h.manifest("pod.yaml", POD);
    h.kubectl_ok(&["apply", "-f", &pod]).await;
    h.run_pod("default", "web", "10.244.0.9");
    let (code, out, err) = h
        .kubectl(&[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ])
        .await;
    assert_eq!(code, 3, "stderr: {err}");
    assert_eq!(out, "out\n");
    assert_eq!(
        err, "err\ncommand terminated with exit code 3\n",
        "kubectl adds the last line"
    );
    let (code, out, _) = h
        .kubectl(&["exec", "web", "-c", "web", "--", "sh", "-c", "printf ok"])
        .await;
    assert_eq!((code, out.as_str()), (0, "ok"));

    let mut cat = h.kubectl_command(&[
        "exec",
        "-i",
        "web",
        "--",
        "sh",
        "-c",
        "tr a-z A-Z; echo done",
    ]);
    let mut child = cat
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello\nworld\n").await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "HELLO\nWORLD\ndone\n"
    );

    assert_eq!(
        h.kubectl_ok(&["logs", "web"]).await,
        "started web\nserving\nready\n"
    );
    assert_eq!(h.kubectl_ok(&["logs", "web", "--tail=1"]).await, "ready\n");
    h.kubectl_ok(&["run", "pending", "--image=busybox"]).await;
    let (code, _, err) = h.kubectl(&["exec", "pending", "--", "true"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("pod pending does not have a host assigned"),
        "{err}"
    );
    let (code, _, err) = h.kubectl(&["exec", "nope", "--", "true"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("pods \"nope\" not found"), "{err}");
}

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
";

const POLICY: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-front
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - from:
    - podSelector:
        matchLabels:
          tier: front
    ports:
    - port: 8080
";

const BAD_POLICY: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: broken
spec:
  podSelector: {}
  ingress:
  - from:
    - ipBlock:
        cidr: 10.0.0.0/33
";

#[tokio::test]
async fn services_and_network_policies_are_applied_and_validated() {
    let h = Harness::start().await;
    let service = h.manifest("svc.yaml", SERVICE);
    assert_eq!(
        h.kubectl_ok(&["apply", "-f", &service]).await.trim(),
        "service/web created"
    );
    let out = h.kubectl_ok(&["get", "svc", "web", "--no-headers"]).await;
    let row = columns(&out);
    assert_eq!(row[1], "ClusterIP");
    assert!(row[2].starts_with("10.96."), "{out}");
    assert_eq!(row[3..5], ["<none>", "80/TCP"]);
    let out = h
        .kubectl_ok(&[
            "get",
            "svc",
            "kubernetes",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
        .await;
    assert_eq!(out, "10.96.0.1");

    let policy = h.manifest("np.yaml", POLICY);
    assert_eq!(
        h.kubectl_ok(&["apply", "-f", &policy]).await.trim(),
        "networkpolicy.networking.k8s.io/allow-front created"
    );
    let out = h.kubectl_ok(&["get", "netpol"]).await;
    let lines: Vec<Vec<&str>> = out.lines().map(columns).collect();
    assert_eq!(lines[0], ["NAME", "POD-SELECTOR", "AGE"]);
    assert_eq!(lines[1][..2], ["allow-front", "app=web"]);
    let types = h
        .kubectl_ok(&[
            "get",
            "netpol",
            "allow-front",
            "-o",
            "jsonpath={.spec.policyTypes}",
        ])
        .await;
    assert_eq!(types, r#"["Ingress"]"#);
    let edited = POLICY.replace("tier: front", "tier: back");
    let policy = h.manifest("np.yaml", &edited);
    assert_eq!(
        h.kubectl_ok(&["apply", "-f", &policy]).await.trim(),
        "networkpolicy.networking.k8s.io/allow-front configured"
    );
    let generation = h
        .kubectl_ok(&[
            "get",
            "netpol",
            "allow-front",
            "-o",
            "jsonpath={.metadata.generation}",
        ])
        .await;
    assert_eq!(generation, "2");

    let bad = h.manifest("bad.yaml", BAD_POLICY);
    let (code, _, err) = h.kubectl(&["apply", "-f", &bad]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("The NetworkPolicy \"broken\" is invalid"),
        "{err}"
    );
    assert!(
        err.contains("spec.ingress[0].from[0].ipBlock.cidr"),
        "{err}"
    );
    let (code, _, _) = h.kubectl(&["get", "netpol", "broken"]).await;
    assert_eq!(code, 1);
    assert_eq!(
        h.kubectl_ok(&["delete", "netpol", "allow-front"])
            .await
            .trim(),
        "networkpolicy.networking.k8s.io \"allow-front\" deleted from default namespace"
    );
}

#[tokio::test]
async fn other_kinds_print_as_kubectl_expects() {
    let h = Harness::start().await;
    h.kubectl_ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=a=1",
        "--from-literal=b=2",
    ])
    .await;
    let out = h
        .kubectl_ok(&["get", "cm", "settings", "--no-headers"])
        .await;
    assert_eq!(columns(&out)[..2], ["settings", "2"]);
    h.store
        .create(
            Resource::Nodes,
            None,
            serde_json::json!({
                "metadata": {"name": "node-1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
                "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.33.0", "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "6.1", "osImage": "netverdict", "containerRuntimeVersion": "netns://1", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}},
            }),
        )
        .unwrap();
    let out = h.kubectl_ok(&["get", "nodes", "--no-headers"]).await;
    assert_eq!(columns(&out)[..3], ["node-1", "Ready", "control-plane"]);
    h.store
        .create(
            Resource::Endpoints,
            Some("default"),
            serde_json::json!({"metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "10.244.0.5"}, {"ip": "10.244.0.6"}], "ports": [{"port": 8080}]}]}),
        )
        .unwrap();
    let out = h
        .kubectl_ok(&["get", "endpoints", "web", "--no-headers"])
        .await;
    assert_eq!(columns(&out)[1], "10.244.0.5:8080,10.244.0.6:8080");
    let event = serde_json::json!({
        "metadata": {"name": "web.1"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
        "reason": "Started", "message": "Started container web", "type": "Normal",
        "source": {"component": "kubelet"}, "count": 1,
    });
    h.store
        .create(Resource::Events, Some("default"), event)
        .unwrap();
    let out = h.kubectl_ok(&["get", "events", "--no-headers"]).await;
    let row = columns(&out);
    assert_eq!(row[1..4], ["Normal", "Started", "pod/web"], "{out}");
    let json: Value =
        serde_json::from_str(&h.kubectl_ok(&["get", "events", "-o", "json"]).await).unwrap();
    assert_eq!(json["items"][0]["reason"], "Started");
}

#[tokio::test]
async fn discovery_lists_the_served_resources() {
    let h = Harness::start().await;
    let out = h.kubectl_ok(&["api-resources", "--no-headers"]).await;
    let rows: Vec<Vec<&str>> = out.lines().map(columns).collect();
    assert_eq!(rows.len(), 22, "{out}");
    assert!(
        rows.contains(&vec![
            "deployments",
            "deploy",
            "apps/v1",
            "true",
            "Deployment"
        ]),
        "{out}"
    );
    assert!(
        rows.contains(&vec![
            "rolebindings",
            "rbac.authorization.k8s.io/v1",
            "true",
            "RoleBinding"
        ]),
        "{out}"
    );
    assert!(
        rows.contains(&vec!["pods", "po", "v1", "true", "Pod"]),
        "{out}"
    );
    assert!(
        rows.contains(&vec![
            "networkpolicies",
            "netpol",
            "networking.k8s.io/v1",
            "true",
            "NetworkPolicy"
        ]),
        "{out}"
    );
    assert!(
        rows.contains(&vec![
            "endpointslices",
            "discovery.k8s.io/v1",
            "true",
            "EndpointSlice"
        ]),
        "{out}"
    );
    assert!(
        rows.contains(&vec!["jobs", "batch/v1", "true", "Job"]),
        "{out}"
    );
    let versions = h.kubectl_ok(&["api-versions"]).await;
    assert_eq!(
        versions,
        "apps/v1\nauthorization.k8s.io/v1\nbatch/v1\ndiscovery.k8s.io/v1\nnetworking.k8s.io/v1\nrbac.authorization.k8s.io/v1\nv1\n"
    );
    let (code, legacy) = common::http(&h, "GET", "/api/v1", "application/json", b"").await;
    assert_eq!(
        (code, legacy["kind"].as_str()),
        (200, Some("APIResourceList"))
    );
    let version = h.kubectl_ok(&["version", "-o", "json"]).await;
    let version: Value = serde_json::from_str(&version).unwrap();
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.33.0");
}

#[tokio::test]
async fn errors_read_as_from_a_real_server() {
    let h = Harness::start().await;
    let (code, _, err) = h.kubectl(&["get", "pod", "missing"]).await;
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): pods \"missing\" not found"
    );
    let (code, _, err) = h.kubectl(&["get", "widgets"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("the server doesn't have a resource type \"widgets\""),
        "{err}"
    );
    let (code, _, err) = h.kubectl(&["create", "ns", "default"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("Error from server (AlreadyExists): namespaces \"default\" already exists"),
        "{err}"
    );
    let unknown_field = h.manifest(
        "odd.yaml",
        &POD.replace("  containers:", "  bogus: 1\n  containers:"),
    );
    let (code, _, err) = h.kubectl(&["apply", "-f", &unknown_field]).await;
    assert_eq!(code, 1);
    assert!(err.contains("unknown field \"spec.bogus\""), "{err}");
    let (code, out, err) = h
        .kubectl(&["apply", "--validate=warn", "-f", &unknown_field])
        .await;
    assert_eq!((code, out.trim()), (0, "pod/web created"), "{err}");
    assert!(
        err.contains("Warning: unknown field \"spec.bogus\""),
        "{err}"
    );
}

#[tokio::test]
async fn more_everyday_commands_work() {
    let h = Harness::start().await;
    let pod = h.manifest("pod.yaml", POD);
    assert_eq!(
        h.kubectl_ok(&["apply", "--server-side", "-f", &pod])
            .await
            .trim(),
        "pod/web serverside-applied"
    );
    let waiting = h
        .kubectl_command(&["wait", "--for=condition=Ready", "pod/web"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    h.run_pod("default", "web", "10.244.0.11");
    let output = waiting.wait_with_output().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "pod/web condition met"
    );

    let described = h.kubectl_ok(&["describe", "pod", "web"]).await;
    assert!(
        described.contains("Status:           Running"),
        "{described}"
    );
    assert!(
        described.contains("IP:               10.244.0.11"),
        "{described}"
    );
    let all = h.kubectl_ok(&["get", "all", "-A", "--no-headers"]).await;
    assert!(
        all.lines()
            .any(|l| columns(l)[..2] == ["default", "pod/web"]),
        "{all}"
    );
    assert!(
        all.lines()
            .any(|l| columns(l)[..2] == ["default", "service/kubernetes"]),
        "{all}"
    );

    let patched = h
        .kubectl_ok(&[
            "patch",
            "pod",
            "web",
            "-p",
            r#"{"metadata":{"labels":{"tier":"back"}}}"#,
        ])
        .await;
    assert_eq!(patched.trim(), "pod/web patched");
    assert_eq!(
        h.kubectl_ok(&["label", "pod", "web", "extra=1"])
            .await
            .trim(),
        "pod/web labeled"
    );
    assert_eq!(
        h.kubectl_ok(&["label", "pod", "web", "extra-"])
            .await
            .trim(),
        "pod/web unlabeled"
    );
    let labels = h
        .kubectl_ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.labels}"])
        .await;
    assert!(!labels.contains("extra"), "{labels}");
    assert_eq!(
        h.kubectl_ok(&["annotate", "pod", "web", "note=x"])
            .await
            .trim(),
        "pod/web annotated"
    );
    let json_patched = h
        .kubectl_ok(&[
            "patch",
            "pod",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/labels/tier"}]"#,
        ])
        .await;
    assert_eq!(json_patched.trim(), "pod/web patched");
    let yaml = h.kubectl_ok(&["get", "pod", "web", "-o", "yaml"]).await;
    assert!(
        yaml.contains("kind: Pod") && !yaml.contains("tier:"),
        "{yaml}"
    );
    let (code, _, err) = h
        .kubectl(&[
            "patch",
            "pod",
            "web",
            "-p",
            r#"{"spec":{"restartPolicy":"Never"}}"#,
        ])
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("pod updates may not change fields"), "{err}");

    let deleted = h
        .kubectl_ok(&["delete", "pod", "web", "--force", "--grace-period=0"])
        .await;
    assert!(deleted.contains("pod \"web\" force deleted"), "{deleted}");
    assert!(h.store.get(Resource::Pods, Some("default"), "web").is_err());

    let cm = h.manifest(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n",
    );
    h.kubectl_ok(&["create", "-f", &cm]).await;
    let replaced = h.manifest(
        "cm2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: w\n",
    );
    assert_eq!(
        h.kubectl_ok(&["replace", "-f", &replaced]).await.trim(),
        "configmap/c replaced"
    );
    assert_eq!(
        h.kubectl_ok(&["get", "cm", "c", "-o", "jsonpath={.data.k}"])
            .await,
        "w"
    );
    assert_eq!(
        h.kubectl_ok(&["delete", "-f", &replaced]).await.trim(),
        "configmap \"c\" deleted from default namespace"
    );
    let created = h
        .kubectl_ok(&[
            "create",
            "service",
            "nodeport",
            "made",
            "--tcp=80:8080",
            "--node-port=30080",
        ])
        .await;
    assert_eq!(created.trim(), "service/made created");
    let out = h
        .kubectl_ok(&["get", "svc", "made", "--no-headers", "-o", "wide"])
        .await;
    assert_eq!(columns(&out)[4], "80:30080/TCP", "{out}");
    assert_eq!(columns(&out)[6], "app=made", "{out}");
    let target = h
        .kubectl_ok(&[
            "get",
            "svc",
            "made",
            "-o",
            "jsonpath={.spec.ports[0].targetPort}",
        ])
        .await;
    assert_eq!(target, "8080");
    let diffable = h.manifest("svc.yaml", SERVICE);
    h.kubectl_ok(&["apply", "-f", &diffable]).await;
    let (code, _, err) = h
        .kubectl(&["apply", "--dry-run=server", "-f", &diffable])
        .await;
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn kubectl_follows_continue_tokens() {
    let h = Harness::start().await;
    for i in 0..1100 {
        h.store
            .create(
                Resource::ConfigMaps,
                Some("default"),
                serde_json::json!({"metadata": {"name": format!("cm-{i:04}")}}),
            )
            .unwrap();
    }
    let out = h.kubectl_ok(&["get", "cm", "--no-headers"]).await;
    assert_eq!(out.lines().count(), 1100);
    let out = h
        .kubectl_ok(&["get", "cm", "-o", "name", "--chunk-size=300"])
        .await;
    assert_eq!(out.lines().count(), 1100);
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
";

/// The API side of the workloads, with no controller behind it: apply, the `scale`
/// subresource, tables, validation and the deletion policies.
#[tokio::test]
async fn workloads_are_applied_scaled_printed_and_deleted_through_the_api() {
    let h = Harness::start().await;
    let file = h.manifest("deploy.yaml", DEPLOYMENT);
    assert_eq!(
        h.kubectl_ok(&["apply", "-f", &file]).await.trim(),
        "deployment.apps/web created"
    );
    // A second apply of a changed manifest patches (strategic merge on the template).
    let changed = h.manifest(
        "deploy2.yaml",
        &DEPLOYMENT.replace("nginx:1.27", "nginx:1.28"),
    );
    assert_eq!(
        h.kubectl_ok(&["apply", "-f", &changed]).await.trim(),
        "deployment.apps/web configured"
    );
    let stored = h
        .store
        .get(Resource::Deployments, Some("default"), "web")
        .unwrap();
    assert_eq!(stored["metadata"]["generation"], 2);
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    assert_eq!(
        h.kubectl_ok(&["scale", "deploy/web", "--replicas=5"])
            .await
            .trim(),
        "deployment.apps/web scaled"
    );
    h.kubectl_ok(&[
        "scale",
        "deploy/web",
        "--current-replicas=5",
        "--replicas=4",
    ])
    .await;
    let (code, _, err) = h
        .kubectl(&[
            "scale",
            "deploy/web",
            "--current-replicas=9",
            "--replicas=1",
        ])
        .await;
    assert_eq!(code, 1, "{err}");
    let scale = h
        .kubectl_ok(&[
            "get",
            "--raw",
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
        ])
        .await;
    let scale: Value = serde_json::from_str(&scale).unwrap();
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 4);
    assert_eq!(scale["status"]["selector"], "app=web");
    let out = h.kubectl_ok(&["get", "deploy"]).await;
    let rows: Vec<Vec<&str>> = out.lines().map(columns).collect();
    assert_eq!(
        rows[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{out}"
    );
    assert_eq!(rows[1][..4], ["web", "0/4", "0", "0"], "{out}");
    let wide = h.kubectl_ok(&["get", "deploy", "-o", "wide"]).await;
    assert!(
        wide.lines()
            .next()
            .unwrap()
            .ends_with("CONTAINERS   IMAGES       SELECTOR"),
        "{wide}"
    );

    let bad = h.manifest(
        "bad.yaml",
        &DEPLOYMENT.replace("labels: {app: web}", "labels: {app: api}"),
    );
    let (code, _, err) = h.kubectl(&["apply", "-f", &bad]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"api\"}: `selector` does not match template `labels`"),
        "{err}"
    );

    let out = h
        .kubectl_ok(&[
            "delete",
            "deploy",
            "web",
            "--cascade=foreground",
            "--wait=false",
        ])
        .await;
    assert_eq!(
        out.trim(),
        "deployment.apps \"web\" deleted from default namespace"
    );
    let held = h
        .store
        .get(Resource::Deployments, Some("default"), "web")
        .unwrap();
    assert_eq!(
        held["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"])
    );
}
