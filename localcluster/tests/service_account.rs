//! Pods and their ServiceAccount, as on a real cluster: every namespace gets its `default`
//! ServiceAccount and `kube-root-ca.crt`; a pod gets a bound token, the CA and its namespace at
//! the standard path (unless automount is off), and reaches the API as `kubernetes.default.svc`
//! with them; a pod naming a ServiceAccount that does not exist is refused by admission; its
//! ConfigMap volumes hold the ConfigMap's keys. Needs root: skipped, saying so, as another user.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use netverdict_apiserver::Resource;
use netverdict_localcluster::LocalCluster;
use serde_json::{Value, json};

const MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn pod(name: &str, spec: Value) -> Pod {
    let mut spec = spec;
    spec["terminationGracePeriodSeconds"] = json!(1);
    spec["containers"] = json!([{"name": "main", "image": "x", "command": ["sleep", "3600"],
        "volumeMounts": spec.get("mounts").cloned().unwrap_or(json!([]))}]);
    if let Some(map) = spec.as_object_mut() {
        map.remove("mounts");
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

async fn sh(cluster: &LocalCluster, ns: &str, pod: &str, script: &str) -> (String, String, i32) {
    exec(cluster, ns, pod, &["sh", "-c", script]).await
}

/// Polls `f` until it gives `Some`; panics after the hang guard.
async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..600 {
        if let Some(found) = f() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_get_their_service_account_token_and_reach_the_api_with_it() {
    if !running_as_root() {
        return;
    }
    let secrets_on_machine = Path::new("/run/secrets/kubernetes.io").exists();
    let cluster = LocalCluster::start(config("sa")).await.unwrap();
    let client = cluster.client().await.unwrap();
    let store = cluster.store().clone();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    eventually("the default ServiceAccount and the root CA", || {
        let sa = store.get(Resource::ServiceAccounts, Some("team"), "default");
        let ca = store.get(Resource::ConfigMaps, Some("team"), "kube-root-ca.crt");
        (sa.is_ok() && ca.is_ok()).then_some(())
    })
    .await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "team");
    let created = pods
        .create(&PostParams::default(), &pod("a", json!({})))
        .await
        .unwrap();
    let spec = created.spec.unwrap();
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    let volume = &spec.volumes.unwrap()[0];
    assert!(volume.name.starts_with("kube-api-access-"), "{volume:?}");
    wait_pod(&store, "team", "a", "Ready", is_ready).await;

    let (out, err, code) = sh(&cluster, "team", "a", &format!("cat {MOUNT}/namespace")).await;
    assert_eq!((out.as_str(), code), ("team", 0), "{err}");
    let ca = std::fs::read_to_string(cluster.secrets_dir().join("ca.crt")).unwrap();
    let (out, _, _) = sh(&cluster, "team", "a", &format!("cat {MOUNT}/ca.crt")).await;
    assert_eq!(out, ca);
    let (out, _, _) = sh(&cluster, "team", "a", &format!("ls -a {MOUNT}")).await;
    for entry in ["..data", "ca.crt", "namespace", "token"] {
        assert!(out.lines().any(|l| l == entry), "{entry} in {out}");
    }
    let (_, err, code) = sh(&cluster, "team", "a", &format!("echo x > {MOUNT}/token")).await;
    assert_ne!(code, 0, "the token volume is read-only: {err}");

    // The Service's address and name, the CA and the token: authenticated as the account.
    let curl = format!(
        "curl -sS -m 5 --cacert {MOUNT}/ca.crt -H \"Authorization: Bearer $(cat {MOUNT}/token)\""
    );
    let version =
        format!("{curl} https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT_HTTPS/version");
    let (out, err, code) = sh(&cluster, "team", "a", &version).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"gitVersion\""), "{out}");
    let list = format!("{curl} https://kubernetes.default.svc/api/v1/namespaces/team/pods");
    let (out, err, code) = sh(&cluster, "team", "a", &list).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            r#"User \"system:serviceaccount:team:default\" cannot list resource \"pods\""#
        ),
        "{out}"
    );

    // The token is bound to the pod: it goes with it.
    let (token, _, _) = sh(&cluster, "team", "a", &format!("cat {MOUNT}/token")).await;
    let whoami = |token: String| {
        let url = format!("{}/version", cluster.api_url());
        let ca = cluster.secrets_dir().join("ca.crt");
        async move {
            let out = tokio::process::Command::new("curl")
                .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
                .arg(ca)
                .arg("-H")
                .arg(format!("Authorization: Bearer {token}"))
                .arg(url)
                .output()
                .await
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    assert_eq!(whoami(token.clone()).await, "200");
    pods.delete("a", &DeleteParams::default()).await.unwrap();
    wait_gone(&store, "team", "a").await;
    assert_eq!(whoami(token).await, "401");

    assert_eq!(
        Path::new("/run/secrets/kubernetes.io").exists(),
        secrets_on_machine,
        "the mount point is the pod's own, not the machine's"
    );
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automount_off_and_a_missing_service_account_are_honoured() {
    if !running_as_root() {
        return;
    }
    let cluster = LocalCluster::start(config("sa-off")).await.unwrap();
    let client = cluster.client().await.unwrap();
    let store = cluster.store().clone();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let quiet: ServiceAccount = serde_json::from_value(
        json!({"metadata": {"name": "quiet"}, "automountServiceAccountToken": false}),
    )
    .unwrap();
    accounts
        .create(&PostParams::default(), &quiet)
        .await
        .unwrap();

    for (name, spec) in [
        ("off", json!({"automountServiceAccountToken": false})),
        ("quiet", json!({"serviceAccountName": "quiet"})),
    ] {
        pods.create(&PostParams::default(), &pod(name, spec))
            .await
            .unwrap();
        wait_pod(&store, "default", name, "Ready", is_ready).await;
        let (_, _, code) = sh(&cluster, "default", name, &format!("test -e {MOUNT}")).await;
        assert_ne!(code, 0, "{name}: nothing at {MOUNT}");
    }

    let missing = pods
        .create(
            &PostParams::default(),
            &pod("lost", json!({"serviceAccountName": "nope"})),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = missing else {
        panic!("{missing}");
    };
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        "pods \"lost\" is forbidden: error looking up service account default/nope: serviceaccount \"nope\" not found"
    );
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_map_volumes_hold_their_keys_and_wait_for_their_config_map() {
    if !running_as_root() {
        return;
    }
    let cluster = LocalCluster::start(config("cmvol")).await.unwrap();
    let client = cluster.client().await.unwrap();
    let store = cluster.store().clone();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let spec = json!({
        "automountServiceAccountToken": false,
        "volumes": [{"name": "s", "configMap": {"name": "scenarios", "items": [
            {"key": "a.yaml", "path": "a.yaml"},
            {"key": "policies.p.yaml", "path": "policies/p.yaml", "mode": 0o444}]}}],
        "mounts": [{"name": "s", "mountPath": "/scenarios"}],
    });
    pods.create(&PostParams::default(), &pod("reader", spec))
        .await
        .unwrap();
    eventually("a FailedMount event", || {
        let (events, _) = store
            .list(Resource::Events, Some("default"), &Default::default())
            .unwrap();
        events
            .iter()
            .find(|e| e["reason"] == "FailedMount" && e["involvedObject"]["name"] == "reader")
            .cloned()
    })
    .await;
    let waiting = store
        .get(Resource::Pods, Some("default"), "reader")
        .unwrap();
    assert_eq!(
        waiting["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ContainerCreating"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(client, "default");
    let data: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "scenarios"},
        "data": {"a.yaml": "kind: A\n", "policies.p.yaml": "kind: P\n", "unlisted": "x"}}))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &data)
        .await
        .unwrap();
    wait_pod(&store, "default", "reader", "Ready", is_ready).await;
    let (out, err, code) = sh(
        &cluster,
        "default",
        "reader",
        "cat /scenarios/a.yaml /scenarios/policies/p.yaml; ls /scenarios; stat -L -c %a /scenarios/policies/p.yaml",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "kind: A\nkind: P\na.yaml\npolicies\n444\n");
    let (_, _, code) = sh(&cluster, "default", "reader", "touch /scenarios/new").await;
    assert_ne!(code, 0, "a ConfigMap volume is read-only");
    assert!(!Path::new("/scenarios").exists(), "not on the machine");
    cluster.shutdown().await.unwrap();
}
