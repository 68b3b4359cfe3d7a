//! The workload controllers with the real kubectl: Deployments applied, rolled out, scaled,
//! updated and rolled back; cascading deletion in the background, the foreground and with
//! orphans; adoption by selector that leaves pods owned elsewhere alone; readiness gates;
//! StatefulSet ordering and DaemonSets on every node; the printed tables.

mod common;

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::*;
use netverdict_apiserver::{Resource, Selection, Store, WatchEvent};
use netverdict_localcluster::LocalCluster;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// The pinned kubectl against one cluster.
struct Kubectl(PathBuf);

impl Kubectl {
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = kubectl::tokio_command()
            .arg("--kubeconfig")
            .arg(&self.0)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        let mut input = child.stdin.take().unwrap();
        input
            .write_all(stdin.unwrap_or_default().as_bytes())
            .await
            .unwrap();
        drop(input);
        child.wait_with_output().await.unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    async fn apply(&self, manifest: &str) -> String {
        let out = self.run(&["apply", "-f", "-"], Some(manifest)).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl apply failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

async fn start(tag: &str) -> (LocalCluster, Kubectl) {
    let cluster = LocalCluster::start(config(tag))
        .await
        .expect("the local cluster starts");
    let kubectl = Kubectl(cluster.kubeconfig_path().to_owned());
    (cluster, kubectl)
}

/// Polls the store until `check` holds; panics after a minute (a hang guard).
async fn until(store: &Store, what: &str, check: impl Fn(&Store) -> bool) {
    for _ in 0..1200 {
        if check(store) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

fn list(store: &Store, resource: Resource, ns: &str, selector: &str) -> Vec<Value> {
    let selection = Selection {
        label_selector: (!selector.is_empty()).then(|| selector.to_owned()),
        field_selector: None,
    };
    store.list(resource, Some(ns), &selection).unwrap().0
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

fn controller_uid(object: &Value) -> Option<&str> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)?["uid"]
        .as_str()
}

/// The whitespace-separated cells of each line of a table.
fn rows(out: &str) -> Vec<Vec<&str>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect()
}

const WEB: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: netverdict:v1
        command: ["sh", "-c", "exec sleep 3600"]
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"#;

async fn rolled_out(k: &Kubectl, what: &str, ns: &str) -> String {
    let out = k
        .ok(&["rollout", "status", what, "-n", ns, "--timeout=120s"])
        .await;
    out.lines().last().unwrap_or_default().to_owned()
}

/// The addresses of the ready endpoints of a Service's EndpointSlices.
fn ready_endpoints(store: &Store, ns: &str, service: &str) -> Vec<String> {
    let mut ips: Vec<String> = list(
        store,
        Resource::EndpointSlices,
        ns,
        &format!("kubernetes.io/service-name={service}"),
    )
    .iter()
    .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
    .filter(|e| e["conditions"]["ready"] == true)
    .filter_map(|e| e["addresses"][0].as_str().map(str::to_owned))
    .collect();
    ips.sort();
    ips
}

fn pod_ips(store: &Store, ns: &str, selector: &str) -> Vec<String> {
    let mut ips: Vec<String> = list(store, Resource::Pods, ns, selector)
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|p| p["status"]["podIP"].as_str().map(str::to_owned))
        .collect();
    ips.sort();
    ips
}

/// The ReplicaSets of the Deployment: (name, spec.replicas, revision annotation).
fn replica_sets(store: &Store) -> Vec<(String, i64, String)> {
    let mut sets: Vec<(String, i64, String)> =
        list(store, Resource::ReplicaSets, "shop", "app=web")
            .iter()
            .map(|rs| {
                (
                    name(rs).to_owned(),
                    rs["spec"]["replicas"].as_i64().unwrap_or(-1),
                    rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
    sets.sort_by(|a, b| a.2.cmp(&b.2));
    sets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_roll_out_scale_update_and_roll_back_with_kubectl() {
    if !running_as_root() {
        return;
    }
    let (cluster, k) = start("depl").await;
    let store = cluster.store().clone();
    let hash = first_rollout(&k, &store).await;
    scale_and_update(&k, &store, &hash).await;
    undo_and_delete(&k, &store, &hash).await;
    cluster.shutdown().await.unwrap();
}

/// Applies the manifest and waits for its rollout; returns the first template's hash.
async fn first_rollout(k: &Kubectl, store: &Store) -> String {
    let applied = k.apply(WEB).await;
    assert!(applied.contains("deployment.apps/web created"), "{applied}");
    assert_eq!(
        rolled_out(k, "deploy/web", "shop").await,
        "deployment \"web\" successfully rolled out"
    );
    // One ReplicaSet named by the template's hash, whose pods carry it and are its own.
    let sets = list(store, Resource::ReplicaSets, "shop", "app=web");
    assert_eq!(sets.len(), 1);
    let rs = &sets[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(name(rs), format!("web-{hash}"));
    assert_eq!(
        rs["spec"]["selector"]["matchLabels"]["pod-template-hash"],
        hash
    );
    let pods = list(store, Resource::Pods, "shop", "app=web");
    assert_eq!(pods.len(), 2);
    for pod in &pods {
        assert_eq!(pod["metadata"]["labels"]["pod-template-hash"], hash);
        assert_eq!(controller_uid(pod), rs["metadata"]["uid"].as_str());
        assert!(name(pod).starts_with(&format!("web-{hash}-")), "{pod}");
    }
    // The Service's EndpointSlice lists the Deployment's pods.
    until(store, "the endpoints list both pods", |s| {
        ready_endpoints(s, "shop", "web") == pod_ips(s, "shop", "app=web")
            && ready_endpoints(s, "shop", "web").len() == 2
    })
    .await;
    hash
}

/// Scales, then changes the template: a new ReplicaSet, the old one kept at 0.
async fn scale_and_update(k: &Kubectl, store: &Store, hash: &str) {
    assert_eq!(
        k.ok(&["scale", "deploy/web", "-n", "shop", "--replicas=3"])
            .await
            .trim(),
        "deployment.apps/web scaled"
    );
    rolled_out(k, "deploy/web", "shop").await;
    assert_eq!(list(store, Resource::Pods, "shop", "app=web").len(), 3);

    // A new template: a new ReplicaSet takes over, the old one stays, scaled to 0.
    k.ok(&[
        "set",
        "image",
        "deploy/web",
        "-n",
        "shop",
        "main=netverdict:v2",
    ])
    .await;
    assert_eq!(
        rolled_out(k, "deploy/web", "shop").await,
        "deployment \"web\" successfully rolled out"
    );
    let sets = replica_sets(store);
    assert_eq!(
        sets.iter()
            .map(|(_, r, v)| (*r, v.as_str()))
            .collect::<Vec<_>>(),
        [(0, "1"), (3, "2")],
        "{sets:?}"
    );
    until(store, "the old pods are gone", |s| {
        list(
            s,
            Resource::Pods,
            "shop",
            &format!("pod-template-hash={hash}"),
        )
        .is_empty()
    })
    .await;
    let history = k
        .ok(&["rollout", "history", "deploy/web", "-n", "shop"])
        .await;
    let revisions: Vec<&str> = rows(&history)
        .iter()
        .filter_map(|r| r.first().copied())
        .collect();
    assert!(revisions.ends_with(&["1", "2"]), "{history}");
}

/// Rolls back to the first template, then deletes the Deployment.
async fn undo_and_delete(k: &Kubectl, store: &Store, hash: &str) {
    // Back to the first template: its ReplicaSet comes back as revision 3.
    k.ok(&["rollout", "undo", "deploy/web", "-n", "shop"]).await;
    rolled_out(k, "deploy/web", "shop").await;
    let sets = replica_sets(store);
    assert_eq!(sets[1].0, format!("web-{hash}"), "{sets:?}");
    assert_eq!((sets[1].1, sets[1].2.as_str()), (3, "3"), "{sets:?}");
    let deployment = store
        .get(Resource::Deployments, Some("shop"), "web")
        .unwrap();
    assert_eq!(
        deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    assert_eq!(
        deployment["status"]["observedGeneration"],
        deployment["metadata"]["generation"]
    );

    // Deleting the Deployment (in the background) takes its ReplicaSets and pods along.
    k.ok(&["delete", "deploy", "web", "-n", "shop"]).await;
    until(store, "the ReplicaSets and pods are collected", |s| {
        list(s, Resource::ReplicaSets, "shop", "").is_empty()
            && list(s, Resource::Pods, "shop", "").is_empty()
    })
    .await;
}

fn deployment(ns: &str, app: &str, replicas: u32) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {app}, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {{name: main, image: netverdict:test, command: ["sh", "-c", "exec sleep 3600"]}}
"#
    )
}

/// Every event a watch delivered so far: (type, object).
fn drain(mut rx: tokio::sync::mpsc::Receiver<WatchEvent>) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    while let Ok(event) = rx.try_recv() {
        match event {
            WatchEvent::Added(o) => out.push(("ADDED", o)),
            WatchEvent::Modified(o) => out.push(("MODIFIED", o)),
            WatchEvent::Deleted(o) => out.push(("DELETED", o)),
            WatchEvent::Bookmark { .. } => {}
        }
    }
    out
}

fn watch(
    store: &Store,
    resource: Resource,
    ns: &str,
    selector: &str,
) -> tokio::sync::mpsc::Receiver<WatchEvent> {
    let selection = Selection {
        label_selector: (!selector.is_empty()).then(|| selector.to_owned()),
        field_selector: None,
    };
    store.watch(resource, Some(ns), &selection, None).unwrap()
}

fn pod_names(store: &Store, ns: &str, selector: &str) -> Vec<String> {
    list(store, Resource::Pods, ns, selector)
        .iter()
        .map(|p| name(p).to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_cascades_in_the_background_the_foreground_or_not_at_all() {
    if !running_as_root() {
        return;
    }
    let (cluster, k) = start("gc").await;
    let store = cluster.store().clone();
    k.ok(&["create", "ns", "gc"]).await;
    for app in ["front", "orphans"] {
        k.apply(&deployment("gc", app, 2)).await;
        rolled_out(&k, &format!("deploy/{app}"), "gc").await;
    }
    in_the_foreground(&k, &store).await;
    orphaned(&k, &store).await;
    cluster.shutdown().await.unwrap();
}

/// The Deployment stays, marked, until its ReplicaSet and pods are gone; kubectl waits for it.
async fn in_the_foreground(k: &Kubectl, store: &Store) {
    let events = watch(store, Resource::Deployments, "gc", "");
    k.ok(&[
        "delete",
        "deploy",
        "front",
        "-n",
        "gc",
        "--cascade=foreground",
    ])
    .await;
    let events = drain(events);
    let marked = events.iter().any(|(_, d)| {
        name(d) == "front"
            && d["metadata"]["finalizers"] == json!(["foregroundDeletion"])
            && d["metadata"]["deletionTimestamp"].is_string()
    });
    assert!(marked, "{events:?}");
    assert!(list(store, Resource::ReplicaSets, "gc", "app=front").is_empty());
    assert!(list(store, Resource::Pods, "gc", "app=front").is_empty());
}

/// The ReplicaSet and its pods stay, the ReplicaSet without its owner, until a Deployment of
/// the same template adopts it.
async fn orphaned(k: &Kubectl, store: &Store) {
    let before = pod_names(store, "gc", "app=orphans");
    k.ok(&[
        "delete",
        "deploy",
        "orphans",
        "-n",
        "gc",
        "--cascade=orphan",
    ])
    .await;
    assert!(
        store
            .get(Resource::Deployments, Some("gc"), "orphans")
            .is_err()
    );
    let sets = list(store, Resource::ReplicaSets, "gc", "app=orphans");
    assert_eq!(sets.len(), 1);
    assert!(
        sets[0]["metadata"]["ownerReferences"].is_null(),
        "{}",
        sets[0]
    );
    assert_eq!(before, pod_names(store, "gc", "app=orphans"));
    k.apply(&deployment("gc", "orphans", 2)).await;
    rolled_out(k, "deploy/orphans", "gc").await;
    let adopter = store
        .get(Resource::Deployments, Some("gc"), "orphans")
        .unwrap();
    let sets = list(store, Resource::ReplicaSets, "gc", "app=orphans");
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(
        controller_uid(&sets[0]),
        adopter["metadata"]["uid"].as_str()
    );
    assert_eq!(before, pod_names(store, "gc", "app=orphans"));
}

fn sleeper(name: &str, labels: Value, owner: Option<Value>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "main", "image": "netverdict:test", "command": ["sh", "-c", "exec sleep 3600"]}]}
    });
    if let Some(owner) = owner {
        pod["metadata"]["ownerReferences"] = json!([owner]);
    }
    pod
}

const ADOPTER: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: shop, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: netverdict:test, command: ["sh", "-c", "exec sleep 3600"]}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_adopt_orphans_and_never_touch_pods_owned_elsewhere() {
    if !running_as_root() {
        return;
    }
    let (cluster, k) = start("adopt").await;
    let store = cluster.store().clone();
    let run_uid = adopted_but_not_the_mimic(&k, &store).await;
    released_and_scaled_down(&k, &store, &run_uid).await;
    // Its owner deleted, the collector deletes the pod owned elsewhere.
    k.ok(&["delete", "configmap", "run-1"]).await;
    until(
        &store,
        "the collector deletes the pod of a deleted owner",
        |s| s.get(Resource::Pods, Some("default"), "mimic").is_err(),
    )
    .await;
    cluster.shutdown().await.unwrap();
}

/// A pod with the workload's labels and a controller reference to an object of its own (as
/// netverdict's mimic probe pods have), and a plain orphan with the same labels: the
/// ReplicaSet adopts the orphan, counts it, and leaves the other alone. Returns the uid of
/// the other's owner.
async fn adopted_but_not_the_mimic(k: &Kubectl, store: &Store) -> String {
    let run = store
        .create(
            Resource::ConfigMaps,
            Some("default"),
            json!({"metadata": {"name": "run-1"}}),
        )
        .unwrap();
    let run_uid = run["metadata"]["uid"].as_str().unwrap().to_owned();
    let owner = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "run-1",
                       "uid": run_uid, "controller": true});
    for pod in [
        sleeper("mimic", json!({"app": "shop"}), Some(owner)),
        sleeper("orphan", json!({"app": "shop"}), None),
    ] {
        store.create(Resource::Pods, Some("default"), pod).unwrap();
    }
    k.apply(ADOPTER).await;
    until(store, "the ReplicaSet counts two pods", |s| {
        let rs = s
            .get(Resource::ReplicaSets, Some("default"), "shop")
            .unwrap();
        rs["status"]["replicas"] == 2
            && rs["status"]["readyReplicas"] == 2
            && list(s, Resource::Pods, "default", "app=shop").len() == 3
    })
    .await;
    let rs = store
        .get(Resource::ReplicaSets, Some("default"), "shop")
        .unwrap();
    let orphan = store
        .get(Resource::Pods, Some("default"), "orphan")
        .unwrap();
    assert_eq!(
        controller_uid(&orphan),
        rs["metadata"]["uid"].as_str(),
        "adopted: {orphan}"
    );
    let mimic = store.get(Resource::Pods, Some("default"), "mimic").unwrap();
    assert_eq!(controller_uid(&mimic), Some(run_uid.as_str()));
    assert_eq!(
        mimic["metadata"]["ownerReferences"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    run_uid
}

/// A pod whose labels stop matching is released (and replaced); scaled to 0, the ReplicaSet
/// deletes its own pods only, and deleting it leaves the other pod too.
async fn released_and_scaled_down(k: &Kubectl, store: &Store, run_uid: &str) {
    k.ok(&["label", "pod", "orphan", "app=elsewhere", "--overwrite"])
        .await;
    until(store, "the relabelled pod is released and replaced", |s| {
        let orphan = s.get(Resource::Pods, Some("default"), "orphan").unwrap();
        controller_uid(&orphan).is_none()
            && list(s, Resource::Pods, "default", "app=shop").len() == 3
    })
    .await;
    k.ok(&["scale", "rs/shop", "--replicas=0"]).await;
    until(store, "the ReplicaSet's pods are gone", |s| {
        pod_names(s, "default", "app=shop") == ["mimic"]
    })
    .await;
    let rs = store
        .get(Resource::ReplicaSets, Some("default"), "shop")
        .unwrap();
    assert_eq!(rs["status"]["replicas"], 0, "{rs}");
    let mimic = store.get(Resource::Pods, Some("default"), "mimic").unwrap();
    assert!(mimic["metadata"]["deletionTimestamp"].is_null(), "{mimic}");
    k.ok(&["delete", "rs", "shop"]).await;
    let mimic = store.get(Resource::Pods, Some("default"), "mimic").unwrap();
    assert_eq!(controller_uid(&mimic), Some(run_uid));
}

const GATED: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: gated, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: gated}}
  template:
    metadata: {labels: {app: gated}}
    spec:
      terminationGracePeriodSeconds: 1
      readinessGates: [{conditionType: netverdict.io/admitted}]
      containers:
      - {name: main, image: netverdict:test, command: ["sh", "-c", "exec sleep 3600"], ports: [{containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: gated, namespace: default}
spec:
  selector: {app: gated}
  ports: [{port: 80, targetPort: 8080}]
"#;

fn ready_condition(pod: &Value) -> Value {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_gates_keep_pods_out_of_endpoints_until_their_condition_is_true() {
    if !running_as_root() {
        return;
    }
    let (cluster, k) = start("gates").await;
    let store = cluster.store().clone();
    let pod = held_back(&k, &store).await;
    // The gate's condition set through the status subresource: Ready, an endpoint, rolled out.
    let patch = r#"{"status":{"conditions":[{"type":"netverdict.io/admitted","status":"True"}]}}"#;
    k.ok(&[
        "patch",
        "pod",
        &pod,
        "--subresource=status",
        "--type=strategic",
        "-p",
        patch,
    ])
    .await;
    assert_eq!(
        rolled_out(&k, "deploy/gated", "default").await,
        "deployment \"gated\" successfully rolled out"
    );
    let ready = store.get(Resource::Pods, Some("default"), &pod).unwrap();
    assert_eq!(ready_condition(&ready)["status"], "True", "{ready}");
    until(&store, "the endpoint is ready", |s| {
        ready_endpoints(s, "default", "gated") == pod_ips(s, "default", "app=gated")
    })
    .await;
    // The kubelet's own status writes keep the gate's condition.
    let ready = store.get(Resource::Pods, Some("default"), &pod).unwrap();
    let conditions = ready["status"]["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "netverdict.io/admitted"),
        "{ready}"
    );
    cluster.shutdown().await.unwrap();
}

/// The gated pod runs, its container ready, but the pod is not: it is no ready endpoint and
/// no available replica. Returns its name.
async fn held_back(k: &Kubectl, store: &Store) -> String {
    k.apply(GATED).await;
    until(store, "the gated pod runs, held not Ready", |s| {
        list(s, Resource::Pods, "default", "app=gated")
            .first()
            .is_some_and(|p| {
                p["status"]["phase"] == "Running"
                    && p["status"]["containerStatuses"][0]["ready"] == true
                    && ready_condition(p)["reason"] == "ReadinessGatesNotReady"
            })
    })
    .await;
    let pod = list(store, Resource::Pods, "default", "app=gated").remove(0);
    assert_eq!(
        ready_condition(&pod)["message"],
        "corresponding condition of pod readiness gate \"netverdict.io/admitted\" does not exist."
    );
    let wide = k.ok(&["get", "pod", name(&pod), "-o", "wide"]).await;
    assert_eq!(rows(&wide)[1].last(), Some(&"0/1"), "{wide}");
    until(store, "the Service's slice lists the pod, not ready", |s| {
        let slices = list(
            s,
            Resource::EndpointSlices,
            "default",
            "kubernetes.io/service-name=gated",
        );
        slices.iter().any(|sl| {
            sl["endpoints"]
                .as_array()
                .is_some_and(|e| e.len() == 1 && e[0]["conditions"]["ready"] == false)
        })
    })
    .await;
    let deployment = store
        .get(Resource::Deployments, Some("default"), "gated")
        .unwrap();
    assert!(
        deployment["status"]["availableReplicas"].is_null(),
        "{deployment}"
    );
    name(&pod).to_owned()
}

const STATEFUL: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: data}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: db, image: netverdict:test, command: ["sh", "-c", "exec sleep 3600"]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: data}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: agent, image: netverdict:test, command: ["sh", "-c", "exec sleep 3600"]}
"#;

/// The index of the first event matching `pred`.
fn first(events: &[(&'static str, Value)], pred: impl Fn(&str, &Value) -> bool) -> usize {
    events
        .iter()
        .position(|(kind, o)| pred(kind, o))
        .unwrap_or_else(|| panic!("no such event in {events:?}"))
}

fn is_ready(pod: &Value) -> bool {
    ready_condition(pod)["status"] == "True"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateful_sets_go_in_order_and_daemon_sets_run_on_every_node() {
    if !running_as_root() {
        return;
    }
    let (cluster, k) = start("sts").await;
    let store = cluster.store().clone();
    let pod_events = watch(&store, Resource::Pods, "data", "app=db");
    k.apply(STATEFUL).await;
    k.apply(&deployment("data", "api", 2)).await;
    assert_eq!(
        rolled_out(&k, "sts/db", "data").await,
        "partitioned roll out complete: 3 new pods have been updated..."
    );
    rolled_out(&k, "ds/agent", "data").await;
    rolled_out(&k, "deploy/api", "data").await;
    // Each pod is created only once the one before it is Ready.
    let events = drain(pod_events);
    for ordinal in 1..3 {
        let created = first(&events, |kind, p| {
            kind == "ADDED" && name(p) == format!("db-{ordinal}")
        });
        let before = first(&events, |_, p| {
            name(p) == format!("db-{}", ordinal - 1) && is_ready(p)
        });
        assert!(
            before < created,
            "db-{ordinal} created at {created}, its predecessor ready at {before}"
        );
    }
    stateful_identities(&store);
    one_daemon_pod_per_node(&store);
    printed_as_a_real_server_prints_them(&k, &store).await;
    // Scaled down, the highest ordinal goes first, and the next waits for it.
    let pod_events = watch(&store, Resource::Pods, "data", "app=db");
    k.ok(&["scale", "sts/db", "-n", "data", "--replicas=1"])
        .await;
    until(&store, "db-1 and db-2 are gone", |s| {
        pod_names(s, "data", "app=db") == ["db-0"]
    })
    .await;
    let events = drain(pod_events);
    let db2_gone = first(&events, |kind, p| kind == "DELETED" && name(p) == "db-2");
    let db1_marked = first(&events, |_, p| {
        name(p) == "db-1" && p["metadata"]["deletionTimestamp"].is_string()
    });
    assert!(db2_gone < db1_marked, "{events:?}");
    cluster.shutdown().await.unwrap();
}

/// Stable names, the identity labels, the revision of the template, hostname and subdomain.
fn stateful_identities(store: &Store) {
    let set = store
        .get(Resource::StatefulSets, Some("data"), "db")
        .unwrap();
    let revision = set["status"]["currentRevision"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(set["status"]["updateRevision"], revision.as_str());
    assert!(
        store
            .get(Resource::ControllerRevisions, Some("data"), &revision)
            .is_ok()
    );
    for ordinal in 0..3 {
        let pod = store
            .get(Resource::Pods, Some("data"), &format!("db-{ordinal}"))
            .unwrap();
        let labels = &pod["metadata"]["labels"];
        assert_eq!(
            labels["statefulset.kubernetes.io/pod-name"],
            format!("db-{ordinal}")
        );
        assert_eq!(labels["apps.kubernetes.io/pod-index"], ordinal.to_string());
        assert_eq!(labels["controller-revision-hash"], revision.as_str());
        assert_eq!(pod["spec"]["hostname"], format!("db-{ordinal}"));
        assert_eq!(pod["spec"]["subdomain"], "db");
    }
}

fn one_daemon_pod_per_node(store: &Store) {
    let mut on: Vec<String> = list(store, Resource::Pods, "data", "app=agent")
        .iter()
        .map(|p| {
            p["spec"]["nodeName"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    on.sort();
    let (nodes, _) = store
        .list(Resource::Nodes, None, &Selection::default())
        .unwrap();
    let mut nodes: Vec<String> = nodes.iter().map(|n| name(n).to_owned()).collect();
    nodes.sort();
    assert_eq!(nodes.len(), 2);
    assert_eq!(on, nodes);
}

/// `kubectl get deploy,rs,sts,ds`: the columns and values a real server's tables give.
async fn printed_as_a_real_server_prints_them(k: &Kubectl, store: &Store) {
    let out = k.ok(&["get", "deploy,rs,sts,ds", "-n", "data"]).await;
    let rs = format!(
        "replicaset.apps/{}",
        name(&list(store, Resource::ReplicaSets, "data", "app=api")[0])
    );
    let expected: [&[&str]; 8] = [
        &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        &["deployment.apps/api", "2/2", "2", "2"],
        &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        &[&rs, "2", "2", "2"],
        &["NAME", "READY", "AGE"],
        &["statefulset.apps/db", "3/3"],
        &[
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE",
            "SELECTOR",
            "AGE",
        ],
        &["daemonset.apps/agent", "2", "2", "2", "2", "2", "<none>"],
    ];
    let table = rows(&out);
    assert_eq!(table.len(), expected.len(), "{out}");
    for (row, want) in table.iter().zip(expected) {
        assert_eq!(&row[..want.len()], want, "{out}");
    }
}
