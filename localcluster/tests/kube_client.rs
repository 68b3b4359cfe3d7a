//! kube-rs against the local cluster: create, wait for Ready, exec, delete.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, DeleteParams, PostParams};
use kube::runtime::wait::{Condition, await_condition, conditions};
use netverdict_localcluster::LocalCluster;
use tokio::io::AsyncReadExt;

fn is_pod_ready() -> impl Condition<Pod> {
    |pod: Option<&Pod>| {
        pod.and_then(|p| p.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_creates_waits_execs_and_deletes() {
    if !running_as_root() {
        return;
    }
    let cluster = LocalCluster::start(config("kube"))
        .await
        .expect("the local cluster starts");
    let client = cluster.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "k"},
        "spec": {"terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "main", "image": "x", "command": ["sleep", "3600"]}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(pods.clone(), "k", is_pod_ready()),
    )
    .await
    .expect("Ready within the hang guard")
    .unwrap();

    let mut attached = pods
        .exec(
            "k",
            ["sh", "-c", "echo out; echo err >&2; exit 3"],
            &AttachParams::default().stderr(true),
        )
        .await
        .unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let mut stdout = attached.stdout().unwrap();
    let mut stderr = attached.stderr().unwrap();
    let status = attached.take_status().unwrap();
    let (a, b, status) = tokio::join!(
        stdout.read_to_string(&mut out),
        stderr.read_to_string(&mut err),
        status
    );
    a.unwrap();
    b.unwrap();
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    let status = status.expect("a status");
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let cause = status
        .details
        .unwrap()
        .causes
        .unwrap()
        .into_iter()
        .find(|c| c.reason.as_deref() == Some("ExitCode"));
    assert_eq!(cause.and_then(|c| c.message).as_deref(), Some("3"));
    attached.join().await.unwrap();

    let uid = pods.get("k").await.unwrap().metadata.uid.unwrap();
    pods.delete("k", &DeleteParams::default()).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(pods.clone(), "k", conditions::is_deleted(&uid)),
    )
    .await
    .expect("deleted within the hang guard")
    .unwrap();
    cluster.shutdown().await.unwrap();
}
