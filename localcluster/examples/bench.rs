//! Benchmark of the local cluster (needs root): 100 pods from create to Ready, exec round trips
//! (in-process and through `kubectl exec`), and the resident memory of the cluster process.
//!
//! `cargo run --release -p netverdict-localcluster --example bench [PODS]`

#[path = "../../tests/util/kubectl.rs"]
#[allow(dead_code, reason = "the benchmark runs kubectl only one way")]
mod kubectl;

use std::time::{Duration, Instant};

use netverdict_apiserver::{Resource, Selection};
use netverdict_localcluster::{LocalCluster, LocalClusterConfig};
use serde_json::json;
use tokio::io::AsyncReadExt;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn ready(p: &serde_json::Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let name = format!("bench{}", std::process::id() % 10_000);
    let t = Instant::now();
    let cluster = LocalCluster::start(LocalClusterConfig::new(name, "/bin/false"))
        .await
        .expect("start");
    println!(
        "start (API answering, cluster DNS ready): {:.2?}",
        t.elapsed()
    );
    let store = cluster.store().clone();
    println!("started; RSS {} KiB", rss_kib());

    let started = Instant::now();
    let mut created = std::collections::HashMap::new();
    for i in 0..count {
        let pod = json!({"metadata": {"name": format!("p{i}"), "namespace": "default", "labels": {"app": "bench"}},
                         "spec": {"terminationGracePeriodSeconds": 1,
                                  "containers": [{"name": "c", "image": "x", "command": ["sleep", "3600"]}]}});
        store
            .create(Resource::Pods, Some("default"), pod)
            .expect("create");
        created.insert(format!("p{i}"), Instant::now());
    }
    let mut latencies = Vec::new();
    let selection = Selection {
        label_selector: Some("app=bench".into()),
        field_selector: None,
    };
    let mut done = std::collections::HashSet::new();
    while done.len() < count {
        let (pods, _) = store
            .list(Resource::Pods, Some("default"), &selection)
            .expect("list");
        for p in pods.iter().filter(|p| ready(p)) {
            let n = p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if done.insert(n.clone()) {
                latencies.push(created[&n].elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = started.elapsed();
    latencies.sort();
    println!(
        "{count} pods create->Ready: all in {all:.2?}; per pod p50 {:.2?} p99 {:.2?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!("RSS with {count} pods: {} KiB", rss_kib());

    let exec = cluster.exec_handler();
    let mut rtts = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        let p = exec
            .exec(
                "default",
                &format!("p{}", i % count),
                None,
                vec!["true".into()],
                false,
            )
            .await
            .expect("exec");
        let (mut so, mut se) = (p.stdout, p.stderr);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let _ = tokio::join!(so.read_to_end(&mut a), se.read_to_end(&mut b));
        assert_eq!(p.exit.await.expect("exit"), 0);
        rtts.push(t.elapsed());
    }
    rtts.sort();
    println!(
        "exec round trip (in process, `true`): p50 {:.2?} p99 {:.2?}",
        percentile(&rtts, 0.5),
        percentile(&rtts, 0.99)
    );

    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(cluster.client().await.expect("client"), "default");
    let mut rtts = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        let params = kube::api::AttachParams::default().stderr(true);
        let mut attached = pods
            .exec(&format!("p{}", i % count), ["true"], &params)
            .await
            .expect("exec");
        let (mut out, mut err) = (
            attached.stdout().expect("stdout"),
            attached.stderr().expect("stderr"),
        );
        let status = attached.take_status().expect("status");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (_, _, status) = tokio::join!(out.read_to_end(&mut a), err.read_to_end(&mut b), status);
        assert_eq!(status.and_then(|s| s.status).as_deref(), Some("Success"));
        let _ = attached.join().await;
        rtts.push(t.elapsed());
    }
    rtts.sort();
    println!(
        "exec round trip (kube-rs over WebSocket, `true`): p50 {:.2?} p99 {:.2?}",
        percentile(&rtts, 0.5),
        percentile(&rtts, 0.99)
    );

    let kc = cluster.kubeconfig_path().to_owned();
    let mut rtts = Vec::new();
    for i in 0..50 {
        let t = Instant::now();
        let out = kubectl::tokio_command()
            .arg("--kubeconfig")
            .arg(&kc)
            .args(["exec", &format!("p{}", i % count), "--", "true"])
            .output()
            .await
            .expect("kubectl");
        if !out.status.success() {
            println!(
                "kubectl exec failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            break;
        }
        rtts.push(t.elapsed());
    }
    if !rtts.is_empty() {
        rtts.sort();
        println!(
            "exec round trip (kubectl exec, incl. kubectl start): p50 {:.2?} p99 {:.2?}",
            percentile(&rtts, 0.5),
            percentile(&rtts, 0.99)
        );
    }
    let t = Instant::now();
    cluster.shutdown().await.expect("shutdown");
    println!("shutdown with {count} pods: {:.2?}", t.elapsed());
}
