//! The bridge to the engine: builds a [`Cluster`] from a scenario, computes `expect: auto`, and
//! judges explicit expectations (for lints).
//!
//! # Caveats
//! Offline, pod IPs are unknown: an `ipBlock` never matches a pod, so a pod-to-pod deny that an
//! `ipBlock` could turn into an allow is left unresolved; the runner calls [`resolve`] again with
//! the pods' real IPs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use netverdict_engine::{
    Cluster, Connection, Decision, Direction, Endpoint, Labels, NAMESPACE_NAME_LABEL, Namespace,
    Peer, Pod, Policy, Protocol, ServedPort, SideDecision,
};

use crate::model::{ExpectSource, LivePod, PodRef, PodSpec, Probe, Scenario, Target, Verdict};

/// The cluster DNS pod the engine assumes (what kube-dns/CoreDNS deployments label their pods).
pub const DNS_NAMESPACE: &str = "kube-system";
pub const DNS_POD: &str = "coredns";
pub const DNS_POD_LABEL: (&str, &str) = ("k8s-app", "kube-dns");

/// Hosts outside the cluster and their addresses, as the caller knows them before a run resolves
/// the names (for the local cluster, its emulated external hosts). A host missing from the table
/// has an address unknown offline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostTable(BTreeMap<String, IpAddr>);

impl HostTable {
    /// The address of `host`, if known.
    pub fn get(&self, host: &str) -> Option<IpAddr> {
        self.0.get(host).copied()
    }

    pub fn insert(&mut self, host: impl Into<String>, address: IpAddr) {
        self.0.insert(host.into(), address);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every host and its address, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, IpAddr)> {
        self.0.iter().map(|(host, ip)| (host.as_str(), *ip))
    }
}

impl FromIterator<(String, IpAddr)> for HostTable {
    fn from_iter<I: IntoIterator<Item = (String, IpAddr)>>(hosts: I) -> Self {
        Self(hosts.into_iter().collect())
    }
}

/// Known IP addresses: of pods (at run time) and of hosts.
#[derive(Clone, Debug, Default)]
pub struct Addresses {
    pub pods: BTreeMap<PodRef, Vec<IpAddr>>,
    pub hosts: HostTable,
}

impl Addresses {
    /// What is known offline: the hosts of `hosts`, no pod.
    pub fn offline(hosts: &HostTable) -> Self {
        Self {
            pods: BTreeMap::new(),
            hosts: hosts.clone(),
        }
    }
}

/// The engine's view of a scenario: its namespaces and pods, the cluster DNS pod, its policies;
/// once a run found them, the deployed pods it probes and the namespaces they are in.
pub struct ScenarioCluster {
    pub cluster: Cluster,
    pods_have_ips: bool,
    /// Mimics whose identity the run has not copied yet: the engine cannot judge them.
    uncopied: BTreeSet<PodRef>,
}

impl ScenarioCluster {
    /// The cluster of `scenario` with what `addresses` know.
    pub fn new(scenario: &Scenario, addresses: &Addresses) -> Self {
        let mut namespaces: Vec<Namespace> = scenario
            .namespaces
            .iter()
            .map(|n| Namespace {
                name: n.name.clone(),
                labels: n.labels.clone(),
            })
            .collect();
        for live in &scenario.live_namespaces {
            if !namespaces.iter().any(|n| n.name == live.name) {
                namespaces.push(Namespace {
                    name: live.name.clone(),
                    labels: live.labels.clone(),
                });
            }
        }
        let mut pods: Vec<Pod> = scenario
            .pods
            .iter()
            .map(|p| engine_pod(p, addresses))
            .collect();
        pods.extend(scenario.live_pods.iter().map(live_engine_pod));
        let uncopied = scenario
            .pods
            .iter()
            .filter(|p| p.mimic.as_ref().is_some_and(|m| m.copied.is_none()))
            .map(PodSpec::pod_ref)
            .collect();
        if !namespaces.iter().any(|n| n.name == DNS_NAMESPACE) {
            namespaces.push(Namespace {
                name: DNS_NAMESPACE.into(),
                labels: Labels::from([(
                    NAMESPACE_NAME_LABEL.to_string(),
                    DNS_NAMESPACE.to_string(),
                )]),
            });
        }
        if !pods
            .iter()
            .any(|p| p.namespace == DNS_NAMESPACE && p.name == DNS_POD)
        {
            pods.push(dns_pod());
        }
        // Loaded policies passed this same validation; a scenario built by hand that holds an
        // invalid one gets it left out rather than a panic.
        let policies = scenario
            .policies
            .iter()
            .filter_map(|p| Policy::from_k8s(&p.object).ok())
            .collect();
        Self {
            cluster: Cluster {
                namespaces,
                pods,
                policies,
            },
            pods_have_ips: !addresses.pods.is_empty(),
            uncopied,
        }
    }

    pub fn decide(
        &self,
        from: &PodRef,
        to: Endpoint,
        port: u16,
        protocol: Protocol,
    ) -> Option<Decision> {
        self.cluster
            .decide(&Connection {
                from: pod_endpoint(from),
                to,
                port,
                protocol,
            })
            .ok()
    }

    /// Whether a denied side could still be allowed by an `ipBlock` once pod IPs are known.
    fn ip_block_may_allow(&self, decision: &Decision, from: &PodRef, to: &Endpoint) -> bool {
        if self.pods_have_ips {
            return false;
        }
        let has_ip_block = |side: &SideDecision, direction: Direction| match side {
            SideDecision::Denied { isolated_by } => isolated_by.iter().any(|r| {
                self.cluster.policies.iter().any(|p| {
                    p.namespace == r.namespace
                        && p.name == r.name
                        && p.rules(direction).unwrap_or_default().iter().any(|rule| {
                            rule.peers
                                .iter()
                                .any(|peer| matches!(peer, Peer::IpBlock(_)))
                        })
                })
            }),
            _ => false,
        };
        // Egress towards a pod, and ingress from a pod, are where an ipBlock may match a pod IP.
        let to_pod = matches!(to, Endpoint::Pod { .. });
        let _ = from;
        (to_pod && has_ip_block(&decision.egress, Direction::Egress))
            || has_ip_block(&decision.ingress, Direction::Ingress)
    }
}

/// The engine's pod of a scenario pod, with the IPs `addresses` know.
fn engine_pod(pod: &PodSpec, addresses: &Addresses) -> Pod {
    Pod {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        labels: pod.labels.clone(),
        ips: addresses
            .pods
            .get(&pod.pod_ref())
            .cloned()
            .unwrap_or_default(),
        ports: pod
            .ports
            .iter()
            .map(|sp| ServedPort {
                name: sp.name.clone(),
                port: sp.port,
                protocol: sp.protocol,
            })
            .collect(),
        host_network: false,
    }
}

/// The engine's pod of a deployed pod the run found.
fn live_engine_pod(pod: &LivePod) -> Pod {
    Pod {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        labels: pod.labels.clone(),
        ips: pod.ip.into_iter().collect(),
        ports: pod
            .ports
            .iter()
            .map(|sp| ServedPort {
                name: sp.name.clone(),
                port: sp.port,
                protocol: sp.protocol,
            })
            .collect(),
        host_network: false,
    }
}

/// The cluster DNS pod the engine assumes when the scenario does not define it.
fn dns_pod() -> Pod {
    Pod {
        namespace: DNS_NAMESPACE.into(),
        name: DNS_POD.into(),
        labels: Labels::from([(DNS_POD_LABEL.0.to_string(), DNS_POD_LABEL.1.to_string())]),
        ips: Vec::new(),
        ports: vec![
            ServedPort {
                name: Some("dns".into()),
                port: 53,
                protocol: Protocol::Udp,
            },
            ServedPort {
                name: Some("dns-tcp".into()),
                port: 53,
                protocol: Protocol::Tcp,
            },
        ],
        host_network: false,
    }
}

/// The engine's endpoint of a scenario pod.
pub(crate) fn pod_endpoint(pod: &PodRef) -> Endpoint {
    Endpoint::Pod {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
    }
}

/// The engine's verdict on a probe: `Ok((verdict, explanation))`, or `Err(why it cannot be
/// computed)`.
pub fn judge(
    cluster: &ScenarioCluster,
    probe: &Probe,
    addresses: &Addresses,
) -> Result<(Verdict, String), String> {
    if cluster.uncopied.contains(&probe.from) {
        return Err(format!(
            "resolved at run time: the source copies the labels of {}, read from the cluster",
            probe.like.as_deref().unwrap_or("a deployed workload")
        ));
    }
    match &probe.target {
        Target::Live(live) => Err(format!(
            "resolved at run time: the pods of {}, their labels and ports, and the policies deployed there are read from the cluster",
            live.selection
        )),
        Target::LiveService {
            namespace, name, ..
        } => Err(format!(
            "resolved at run time: the pods of service {namespace}/{name}, their labels and the policies deployed there are read from the cluster"
        )),
        Target::LivePod { pod, .. } => judge_one(cluster, probe, pod_endpoint(pod), probe.port),
        Target::Pod(pod) => judge_one(cluster, probe, pod_endpoint(pod), probe.port),
        Target::ClusterDns => judge_one(cluster, probe, dns_endpoint(), probe.port),
        Target::Ip(ip) => judge_one(cluster, probe, Endpoint::Ip(*ip), probe.port),
        Target::Host(host) => judge_host(cluster, probe, host, addresses),
        Target::Service {
            backends,
            target_port,
            ..
        } => judge_service(cluster, probe, backends, *target_port),
    }
}

/// Whether the policies let `from` query the cluster DNS (UDP 53); `None` when the engine
/// does not know the pod.
pub fn dns_allowed(cluster: &ScenarioCluster, from: &PodRef) -> Option<bool> {
    cluster
        .decide(from, dns_endpoint(), 53, Protocol::Udp)
        .map(|d| d.allowed)
}

pub(crate) fn dns_endpoint() -> Endpoint {
    pod_endpoint(&PodRef::new(DNS_NAMESPACE, DNS_POD))
}

/// The verdict on `probe`'s connection to `to` on `port`.
fn judge_one(
    cluster: &ScenarioCluster,
    probe: &Probe,
    to: Endpoint,
    port: u16,
) -> Result<(Verdict, String), String> {
    let decision = cluster
        .decide(&probe.from, to.clone(), port, probe.protocol)
        .ok_or_else(|| "the engine does not know one of the pods".to_string())?;
    if !decision.allowed && cluster.ip_block_may_allow(&decision, &probe.from, &to) {
        return Err(format!(
            "{}; an ipBlock may match the pods' IPs, unknown offline: the runner computes it with real IPs",
            one_line(&decision)
        ));
    }
    let verdict = if decision.allowed {
        Verdict::Allow
    } else {
        Verdict::Deny
    };
    Ok((verdict, one_line(&decision)))
}

/// A host is reached once its name resolves: DNS first, then its address from the host table.
fn judge_host(
    cluster: &ScenarioCluster,
    probe: &Probe,
    host: &str,
    addresses: &Addresses,
) -> Result<(Verdict, String), String> {
    let Some(ip) = addresses.hosts.get(host) else {
        return Err(format!(
            "the address of {host} is unknown offline: the runner computes it once resolved"
        ));
    };
    let dns = cluster
        .decide(&probe.from, dns_endpoint(), 53, Protocol::Udp)
        .ok_or_else(|| "the engine does not know the source pod".to_string())?;
    if !dns.allowed {
        return Ok((
            Verdict::Deny,
            format!("{host} cannot be resolved: DNS is {}", one_line(&dns)),
        ));
    }
    let (verdict, reason) = judge_one(cluster, probe, Endpoint::Ip(ip), probe.port)?;
    Ok((verdict, format!("{host} is {ip}: {reason}")))
}

/// A service's verdict is its backends' when they all agree.
fn judge_service(
    cluster: &ScenarioCluster,
    probe: &Probe,
    backends: &[PodRef],
    target_port: u16,
) -> Result<(Verdict, String), String> {
    let mut verdicts = Vec::new();
    for backend in backends {
        let (verdict, reason) = judge_one(cluster, probe, pod_endpoint(backend), target_port)?;
        verdicts.push((backend, verdict, reason));
    }
    let first = verdicts
        .first()
        .map(|v| v.1)
        .ok_or("the service has no backend")?;
    if verdicts.iter().all(|v| v.1 == first) {
        let (backend, _, reason) = &verdicts[0];
        let via = if verdicts.len() == 1 {
            format!("its pod {backend}")
        } else {
            format!("all {} pods", verdicts.len())
        };
        Ok((first, format!("via {via} on port {target_port}: {reason}")))
    } else {
        let list: Vec<String> = verdicts
            .iter()
            .map(|(b, v, _)| format!("{b}: {v}"))
            .collect();
        Err(format!(
            "the service's pods disagree ({}): which one answers is chance",
            list.join(", ")
        ))
    }
}

/// A decision on one line, for `reason`.
pub fn one_line(decision: &Decision) -> String {
    decision
        .to_string()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Fills every `auto` expectation of `scenario` that can be computed with what `addresses` know.
pub fn resolve(scenario: &mut Scenario, addresses: &Addresses) {
    let cluster = ScenarioCluster::new(scenario, addresses);
    for probe in &mut scenario.probes {
        if probe.expect.source != ExpectSource::Auto {
            // The engine's reading, for the record; a disagreement is a lint.
            let judged = judge(&cluster, probe, addresses);
            probe.expect.engine = judged.as_ref().ok().map(|(verdict, _)| *verdict);
            probe.expect.reason = judged.map_or_else(|why| why, |(_, reason)| reason).into();
            continue;
        }
        match judge(&cluster, probe, addresses) {
            Ok((verdict, reason)) => {
                probe.expect.verdict = Some(verdict);
                probe.expect.reason = Some(reason);
            }
            Err(why) => {
                probe.expect.verdict = None;
                probe.expect.reason = Some(why);
            }
        }
    }
}
