//! NetworkPolicy enforcement: the local cluster's "CNI".
//!
//! On every change of NetworkPolicies, pods or namespaces, the controller rebuilds the engine's
//! model of the cluster from the Store, compiles it (`netverdict-enforce`: the same engine that
//! `plan` and `explain` use) and, when the ruleset changed, replaces the router namespace's
//! filter table in one nftables transaction: there is never a moment without a complete
//! ruleset. The filter hooks `forward` after the Service translation, so a Service's traffic is
//! judged on its endpoint pod; it is stateful (replies of allowed connections pass) and drops
//! denied packets in the forwarding path, so a denied probe times out as with most CNIs.
//!
//! The CNI modes imitate other networks: `none` stores policies but enforces nothing,
//! `ingress-only` ignores egress rules, `reject` answers denied connections with a TCP reset or
//! an ICMP port unreachable, `iptables-reject` answers every denied packet with an ICMP port
//! unreachable as iptables `REJECT` does (kube-router, k3s), under the kernel's ICMP rate limit
//! of the router namespace (the kernel's defaults: a burst of about 6 errors per destination,
//! then one a second), and a policy delay applies every change only after that delay.
//!
//! # Caveats
//! A new pod's rules follow its IP assignment by one reconcile (typically a few milliseconds);
//! netverdict's runner applies policies only after its pods are ready.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod as K8sPod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use netverdict_apiserver::{Resource, Selection};
use netverdict_enforce::{CniMode, compile, render_nft};
use netverdict_engine::{Cluster, Namespace, Pod, Policy, Protocol, ServedPort};
use serde_json::Value;

use crate::cluster::Ctx;

/// How long changes are gathered before one reconcile (a burst of pod updates is one pass).
const COALESCE: Duration = Duration::from_millis(5);

/// Runs until aborted: reconciles on every relevant change.
pub(crate) async fn run(ctx: Arc<Ctx>, mode: CniMode, delay: Duration) {
    let changed = Arc::new(tokio::sync::Notify::new());
    let mut watchers = Vec::new();
    for resource in [
        Resource::NetworkPolicies,
        Resource::Pods,
        Resource::Namespaces,
    ] {
        let (ctx, changed) = (ctx.clone(), changed.clone());
        watchers.push(AbortOnDrop(tokio::spawn(async move {
            loop {
                let Ok(mut rx) = ctx.store.watch(resource, None, &Selection::default(), None)
                else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                while rx.recv().await.is_some() {
                    changed.notify_one();
                }
            }
        })));
    }
    let (apply_tx, apply_rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, String)>();
    let _applier = AbortOnDrop(tokio::spawn(apply_in_order(ctx.clone(), apply_rx)));
    let mut last: Option<String> = None;
    loop {
        changed.notified().await;
        tokio::time::sleep(COALESCE).await;
        let started = Instant::now();
        let cluster = snapshot(&ctx);
        let script = render_nft(&compile(&cluster, mode));
        if last.as_deref() == Some(script.as_str()) {
            continue;
        }
        tracing::debug!(
            pods = cluster.pods.len(),
            policies = cluster.policies.len(),
            compile_us = started.elapsed().as_micros() as u64,
            "policy ruleset changed"
        );
        last = Some(script.clone());
        let _ = apply_tx.send((started + delay, script));
    }
}

/// Applies rulesets in the order they were made, each no earlier than its due time.
async fn apply_in_order(
    ctx: Arc<Ctx>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(Instant, String)>,
) {
    while let Some((due, script)) = rx.recv().await {
        tokio::time::sleep_until(due.into()).await;
        let started = Instant::now();
        match ctx
            .with_fabric(move |fabric| fabric.apply_filter(&script))
            .await
        {
            Ok(()) => tracing::debug!(
                apply_us = started.elapsed().as_micros() as u64,
                "policy ruleset applied"
            ),
            Err(error) => {
                tracing::warn!(%error, "applying the policy ruleset failed; the previous one stays")
            }
        }
    }
}

/// The engine's model of the cluster as the Store holds it now.
pub(crate) fn snapshot(ctx: &Ctx) -> Cluster {
    let list = |resource| {
        ctx.store
            .list(resource, None, &Selection::default())
            .map(|(items, _)| items)
            .unwrap_or_default()
    };
    let namespaces = list(Resource::Namespaces)
        .iter()
        .filter_map(|ns| {
            Some(Namespace {
                name: ns.pointer("/metadata/name")?.as_str()?.to_owned(),
                labels: string_map(ns.pointer("/metadata/labels")),
            })
        })
        .collect();
    let pods = list(Resource::Pods)
        .into_iter()
        .filter_map(pod_model)
        .collect();
    let policies = list(Resource::NetworkPolicies)
        .into_iter()
        .filter_map(|value| serde_json::from_value::<NetworkPolicy>(value).ok())
        .filter_map(|policy| Policy::from_k8s(&policy).ok())
        .collect();
    Cluster {
        namespaces,
        pods,
        policies,
    }
}

/// A pod as the engine sees it; `None` until it has an address.
fn pod_model(value: Value) -> Option<Pod> {
    let pod: K8sPod = serde_json::from_value(value).ok()?;
    let spec = pod.spec.as_ref()?;
    let status = pod.status.as_ref()?;
    let mut ips: Vec<_> = status
        .pod_ips
        .iter()
        .flatten()
        .filter_map(|ip| ip.ip.parse().ok())
        .collect();
    if ips.is_empty() {
        ips.extend(
            status
                .pod_ip
                .as_deref()
                .and_then(|ip| ip.parse::<std::net::IpAddr>().ok()),
        );
    }
    if ips.is_empty() {
        return None;
    }
    let ports = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|port| {
            Some(ServedPort {
                name: port.name.clone(),
                port: u16::try_from(port.container_port).ok()?,
                protocol: port
                    .protocol
                    .as_deref()
                    .unwrap_or("TCP")
                    .parse()
                    .unwrap_or(Protocol::Tcp),
            })
        })
        .collect();
    Some(Pod {
        namespace: pod.metadata.namespace.clone()?,
        name: pod.metadata.name.clone()?,
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        ips,
        ports,
        host_network: spec.host_network.unwrap_or(false),
    })
}

fn string_map(value: Option<&Value>) -> netverdict_engine::Labels {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The size of the policy ruleset a cluster state compiles to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RulesetStats {
    pub chains: usize,
    pub rules: usize,
    pub bytes: usize,
}

/// Compiles the current state as a reconcile does and measures the result.
pub(crate) fn stats(ctx: &Ctx, mode: CniMode) -> RulesetStats {
    let script = render_nft(&compile(&snapshot(ctx), mode));
    RulesetStats {
        chains: script.matches("\tchain ").count(),
        rules: script
            .lines()
            .filter(|line| line.starts_with("\t\t") && !line.trim_start().starts_with("type "))
            .count(),
        bytes: script.len(),
    }
}
