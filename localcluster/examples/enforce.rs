//! Benchmark of policy enforcement (needs root): with 100 pods and 50 policies in force, the time
//! from a NetworkPolicy's creation (or deletion) to the first packet it changes, seen by a probe
//! loop inside a pod; plus the ruleset's size and the CPU time of one reconcile.
//!
//! `cargo run --release -p netverdict-localcluster --example enforce [ROUNDS]`

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netverdict_apiserver::{Resource, Selection};
use netverdict_localcluster::{LocalCluster, LocalClusterConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const NAMESPACES: usize = 5;

fn pod(i: usize) -> Value {
    json!({"metadata": {"name": format!("p{i}"), "namespace": format!("ns{}", i % NAMESPACES),
                        "labels": {"app": format!("a{}", i % 10), "tier": format!("t{}", i % 3)}},
           "spec": {"terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "x", "command": ["nc", "-lk", "-p", "80"],
                                    "ports": [{"containerPort": 80, "name": "http"}]}]}})
}

/// Policies of every kind in the namespaces other than ns0, where the measured pair lives.
fn policy(i: usize) -> Value {
    let namespace = format!("ns{}", 1 + i % (NAMESPACES - 1));
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": format!("pol{i}"), "namespace": namespace},
           "spec": {"podSelector": {"matchLabels": {"app": format!("a{}", i % 10)}},
                    "policyTypes": if i.is_multiple_of(2) { json!(["Ingress", "Egress"]) } else { json!(["Ingress"]) },
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": format!("a{}", (i + 1) % 10)}}},
                                          {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ns0"}},
                                           "podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["t0", "t1"]}]}},
                                          {"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.10/32"]}}],
                                 "ports": [{"port": "http"}, {"port": 9000, "endPort": 9100}, {"port": 53, "protocol": "UDP"}]}],
                    "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"port": "http"}]}]}})
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

fn running(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running" && pod["status"]["podIP"].is_string()
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let name = format!("enf{}", std::process::id() % 10_000);
    let cluster = LocalCluster::start(LocalClusterConfig::new(name, "/bin/false"))
        .await
        .expect("start");
    let store = cluster.store().clone();
    for n in 0..NAMESPACES {
        let ns = json!({"metadata": {"name": format!("ns{n}")}});
        store
            .create(Resource::Namespaces, None, ns)
            .expect("namespace");
    }
    for i in 0..100 {
        store
            .create(
                Resource::Pods,
                Some(&format!("ns{}", i % NAMESPACES)),
                pod(i),
            )
            .expect("pod");
    }
    loop {
        let (pods, _) = store
            .list(Resource::Pods, None, &Selection::default())
            .expect("list");
        if pods
            .iter()
            .filter(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with('p'))
            })
            .filter(|p| running(p))
            .count()
            == 100
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..50 {
        store
            .create(
                Resource::NetworkPolicies,
                Some(&format!("ns{}", 1 + i % (NAMESPACES - 1))),
                policy(i),
            )
            .expect("policy");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // p0 -> p5, both in ns0: each round denies p5's ingress, then allows it again.
    let target = store.get(Resource::Pods, Some("ns0"), "p5").expect("p5")["status"]["podIP"]
        .as_str()
        .unwrap()
        .to_owned();
    let deny = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                      "metadata": {"name": "deny-p5", "namespace": "ns0"},
                      "spec": {"podSelector": {"matchLabels": {"app": "a5"}}, "policyTypes": ["Ingress"]}});
    let mut deny_ms = Vec::new();
    let mut allow_ms = Vec::new();
    for _ in 0..rounds {
        for create in [true, false] {
            // Tries every few milliseconds and prints when the first changed try began. While
            // denied, a try hangs for its timeout, so tries overlap to see the lift at once.
            let script = if create {
                format!(
                    "while t=$(date +%s%N); nc -z -w 1 {target} 80 2>/dev/null; do sleep 0.002; done; echo $t"
                )
            } else {
                format!(
                    "while true; do t=$(date +%s%N); (nc -z -w 1 {target} 80 2>/dev/null && echo $t) & sleep 0.005; done"
                )
            };
            let command = vec!["sh".to_owned(), "-c".to_owned(), script];
            let process = cluster
                .exec_handler()
                .exec("ns0", "p0", None, command, false)
                .await
                .expect("exec");
            let mut lines = BufReader::new(process.stdout).lines();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let changed_at = now_ns();
            if create {
                store
                    .create(Resource::NetworkPolicies, Some("ns0"), deny.clone())
                    .expect("deny");
            } else {
                store
                    .delete(Resource::NetworkPolicies, Some("ns0"), "deny-p5", None)
                    .expect("undeny");
            }
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .expect("the change reached the packets")
                .expect("read")
                .expect("a line");
            let seen: u128 = line.trim().parse().expect("a timestamp");
            let ms = seen.saturating_sub(changed_at) as f64 / 1e6;
            if create {
                deny_ms.push(ms)
            } else {
                allow_ms.push(ms)
            }
        }
    }
    let (pods, _) = store
        .list(Resource::Pods, None, &Selection::default())
        .expect("list");
    let (policies, _) = store
        .list(Resource::NetworkPolicies, None, &Selection::default())
        .expect("list");
    let summary = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        format!(
            "median {:.0} ms, max {:.0} ms",
            v[v.len() / 2],
            v[v.len() - 1]
        )
    };
    println!(
        "{} pods, {} policies: create -> enforced {}; delete -> lifted {} ({rounds} rounds)",
        pods.len(),
        policies.len(),
        summary(&mut deny_ms),
        summary(&mut allow_ms)
    );
    let started = Instant::now();
    let stats = cluster.policy_ruleset_stats();
    println!(
        "ruleset: {} chains, {} rules, {} bytes; one reconcile (snapshot + compile + render) {:.1} ms of CPU",
        stats.chains,
        stats.rules,
        stats.bytes,
        started.elapsed().as_secs_f64() * 1000.0
    );
    cluster.shutdown().await.expect("shutdown");
}
