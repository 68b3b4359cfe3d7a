//! Measurements printed for the record (`cargo test --test measure -- --ignored --nocapture`).
//! They assert what they count, never how fast it went.

mod common;

use std::time::{Duration, Instant};

use common::Harness;
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, AttachParams, ListParams, PostParams, WatchEvent, WatchParams};
use netverdict_apiserver::Resource;
use serde_json::json;
use tokio::io::AsyncReadExt;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints measurements"]
async fn measure() {
    let h = Harness::start().await;
    let client = h.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "main", "image": "busybox"}]}});
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
    h.run_pod("default", "web", "10.244.0.2");

    let mut latencies = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let mut process = pods
            .exec(
                "web",
                ["echo", "hi"],
                &AttachParams::default().stderr(false),
            )
            .await
            .unwrap();
        let mut stdout = process.stdout().unwrap();
        let status = process.take_status().unwrap();
        let mut out = String::new();
        stdout.read_to_string(&mut out).await.unwrap();
        let status = status.await.unwrap();
        latencies.push(started.elapsed());
        assert_eq!(
            (out.as_str(), status.status.as_deref()),
            ("hi\n", Some("Success"))
        );
    }
    latencies.sort();
    println!(
        "exec round trip (kube-rs, `echo hi`, 200 runs): p50 {:?} p99 {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    let started = Instant::now();
    let mut process = pods
        .exec(
            "web",
            ["head", "-c", "67108864", "/dev/zero"],
            &AttachParams::default().stderr(false),
        )
        .await
        .unwrap();
    let mut stdout = process.stdout().unwrap();
    let status = process.take_status().unwrap();
    let mut total = 0usize;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = stdout.read(&mut buffer).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(
        (total, status.await.unwrap().status.as_deref()),
        (64 << 20, Some("Success"))
    );
    println!(
        "exec stdout throughput (kube-rs, 64 MiB): {:.0} MiB/s",
        64.0 / started.elapsed().as_secs_f64()
    );

    let mut latencies = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let (code, out, _) = h.kubectl(&["exec", "web", "--", "echo", "hi"]).await;
        latencies.push(started.elapsed());
        assert_eq!((code, out.as_str()), (0, "hi\n"));
    }
    latencies.sort();
    println!(
        "kubectl exec (process start included, 20 runs): p50 {:?} p99 {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    let maps: Api<ConfigMap> = Api::namespaced(client, "default");
    let started = Instant::now();
    for i in 0..500 {
        let cm = json!({"metadata": {"name": format!("http-{i}")}, "data": {"k": "v"}});
        maps.create(&PostParams::default(), &serde_json::from_value(cm).unwrap())
            .await
            .unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "create over HTTP (kube-rs, sequential): {:.0} objects/s",
        500.0 / elapsed.as_secs_f64()
    );

    for i in 0..4500 {
        let cm = json!({"metadata": {"name": format!("store-{i}")}, "data": {"k": "v"}});
        h.store
            .create(Resource::ConfigMaps, Some("default"), cm)
            .unwrap();
    }
    let started = Instant::now();
    let mut listed = 0;
    for _ in 0..10 {
        listed += maps.list(&ListParams::default()).await.unwrap().items.len();
    }
    let elapsed = started.elapsed();
    assert_eq!(listed, 50_000);
    println!(
        "list (kube-rs, 5000 ConfigMaps, 10 lists): {:.0} objects/s",
        listed as f64 / elapsed.as_secs_f64()
    );

    let from = h.store.resource_version().to_string();
    let mut stream = Box::pin(maps.watch(&WatchParams::default(), &from).await.unwrap());
    let writer = {
        let store = h.store.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..4000 {
                store
                    .mutate(
                        Resource::ConfigMaps,
                        Some("default"),
                        &format!("store-{}", i % 4500),
                        |cm| {
                            cm["data"]["k"] = json!(i.to_string());
                            Ok(())
                        },
                    )
                    .unwrap();
            }
        })
    };
    let started = Instant::now();
    let mut seen = 0;
    while seen < 4000 {
        if let WatchEvent::Modified(_) = stream.try_next().await.unwrap().unwrap() {
            seen += 1;
        }
    }
    let elapsed = started.elapsed();
    writer.await.unwrap();
    println!(
        "watch (kube-rs, 4000 MODIFIED events): {:.0} events/s",
        4000.0 / elapsed.as_secs_f64()
    );
}
