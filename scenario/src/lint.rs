//! Lints: warnings about scenarios that are valid but probably do not test what their author
//! meant, each from a real-world pitfall. `--deny-warnings` turns them into errors.
//!
//! A policy can silence a lint that concerns it with the annotation
//! `netverdict.io/ignore-lints: "<lint>[,<lint>...]"` (e.g. a scenario that shows the AND/OR
//! selector trap on purpose).

use std::collections::BTreeMap;

use ipnet::IpNet;
use netverdict_engine::{Direction, Endpoint, Pod, PolicyRef, Protocol, Quoted, SideDecision};

use crate::expect::{Addresses, DNS_NAMESPACE, DNS_POD, ScenarioCluster, judge, pod_endpoint};
use crate::model::{ExpectSource, PodRef, PolicySpec, Probe, Scenario, Target, Via};
use crate::policy::{RawNetworkPolicy, RawPeer};
use crate::source::{Diagnostic, SourceLocation};

pub const IGNORE_ANNOTATION: &str = "netverdict.io/ignore-lints";

/// An explicit expectation that the scenario's own policies contradict.
pub const CONTRADICTED: &str = "contradicted-expectation";
/// An Egress policy leaves a selected pod without DNS.
pub const NO_DNS_EGRESS: &str = "no-dns-egress";
/// A `from`/`to` list with a namespaceSelector element and a separate podSelector element.
pub const AND_OR_SELECTOR: &str = "and-or-selector";
/// An ipBlock over the private ranges pod networks use, where a podSelector was likely meant.
pub const IP_BLOCK_POD_RANGE: &str = "ipblock-pod-range";

pub const ALL: [&str; 4] = [
    CONTRADICTED,
    NO_DNS_EGRESS,
    AND_OR_SELECTOR,
    IP_BLOCK_POD_RANGE,
];

/// What `lint` catches, in one sentence (the table of docs/scenario-format.md, "Lints").
pub fn summary(lint: &str) -> Option<&'static str> {
    Some(match lint {
        CONTRADICTED => {
            "An explicit expectation (or truth table cell) that the scenario's own policies contradict."
        }
        NO_DNS_EGRESS => {
            "An Egress policy leaves a selected pod without DNS: no rule allows port 53 to the cluster DNS."
        }
        AND_OR_SELECTOR => {
            "A from/to list with a namespaceSelector element and a separate podSelector element: they are OR-ed, where one element (AND) was likely meant."
        }
        IP_BLOCK_POD_RANGE => {
            "An ipBlock over the private ranges pod networks use, where a podSelector was likely meant."
        }
        _ => return None,
    })
}

fn ignored(annotations: Option<&BTreeMap<String, String>>, lint: &str) -> bool {
    annotations
        .and_then(|a| a.get(IGNORE_ANNOTATION))
        .is_some_and(|v| v.split(',').any(|l| l.trim() == lint))
}

fn policy_ignores(policy: &PolicySpec, lint: &str) -> bool {
    ignored(policy.object.metadata.annotations.as_ref(), lint)
}

/// The lints of one policy that need only the policy: the AND/OR trap and ipBlocks over pod
/// ranges. `at(field)` locates a field path of the policy (e.g. `spec.ingress[0].from[1]`).
pub(crate) fn lint_policy(
    policy: &RawNetworkPolicy,
    at: &dyn Fn(&str) -> (SourceLocation, String),
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let annotations = Some(&policy.metadata.annotations);
    let spec = &policy.spec;
    let ingress = spec.ingress.iter().flatten().map(|r| r.from.as_deref());
    let egress = spec.egress.iter().flatten().map(|r| r.to.as_deref());
    let rules = rule_peers("ingress", "from", ingress).chain(rule_peers("egress", "to", egress));
    for rule in rules {
        if !ignored(annotations, AND_OR_SELECTOR) {
            out.extend(and_or_trap(&rule, at));
        }
        if !ignored(annotations, IP_BLOCK_POD_RANGE) {
            out.extend(ip_blocks_over_pod_ranges(&rule, at));
        }
    }
    out
}

/// The peers of one rule of a policy, and where they are written.
struct RulePeers<'p> {
    /// `ingress` or `egress`.
    direction: &'static str,
    /// `from` or `to`.
    field: &'static str,
    index: usize,
    peers: &'p [RawPeer],
}

/// The rules of one direction, in order, with their peers.
fn rule_peers<'p>(
    direction: &'static str,
    field: &'static str,
    rules: impl Iterator<Item = Option<&'p [RawPeer]>>,
) -> impl Iterator<Item = RulePeers<'p>> {
    rules.enumerate().map(move |(index, peers)| RulePeers {
        direction,
        field,
        index,
        peers: peers.unwrap_or_default(),
    })
}

impl RulePeers<'_> {
    fn peer_path(&self, peer: usize) -> String {
        format!(
            "spec.{}[{}].{}[{peer}]",
            self.direction, self.index, self.field
        )
    }
}

/// A namespaceSelector element and a separate podSelector element in one rule: OR-ed, where
/// AND was likely meant.
fn and_or_trap(
    rule: &RulePeers<'_>,
    at: &dyn Fn(&str) -> (SourceLocation, String),
) -> Option<Diagnostic> {
    let ns_only = rule.peers.iter().position(|p| {
        p.namespace_selector.is_some() && p.pod_selector.is_none() && p.ip_block.is_none()
    })?;
    let pod_only = rule.peers.iter().position(|p| {
        p.pod_selector.is_some() && p.namespace_selector.is_none() && p.ip_block.is_none()
    })?;
    let field = rule.field;
    let (location, path) = at(&rule.peer_path(pod_only));
    Some(Diagnostic::warning(
        AND_OR_SELECTOR,
        location,
        path,
        format!(
            "this podSelector is a separate `{field}` element from the namespaceSelector of {field}[{ns_only}], so the two are OR-ed: \
             every pod of the selected namespaces, or the selected pods of the policy's own namespace. To mean \
             \"the selected pods in the selected namespaces\", write both selectors in one element (drop the `-` before podSelector)"
        ),
    ))
}

/// ipBlocks within or around the private ranges pod networks use.
fn ip_blocks_over_pod_ranges(
    rule: &RulePeers<'_>,
    at: &dyn Fn(&str) -> (SourceLocation, String),
) -> Vec<Diagnostic> {
    let private: [IpNet; 5] = [
        "10.0.0.0/8".parse().expect("valid"),
        "172.16.0.0/12".parse().expect("valid"),
        "192.168.0.0/16".parse().expect("valid"),
        "100.64.0.0/10".parse().expect("valid"),
        "fc00::/7".parse().expect("valid"),
    ];
    let mut out = Vec::new();
    for (i, peer) in rule.peers.iter().enumerate() {
        let Some(block) = &peer.ip_block else {
            continue;
        };
        let Ok(cidr) = block.cidr.parse::<IpNet>() else {
            continue;
        };
        if cidr.prefix_len() == 0
            || !private
                .iter()
                .any(|p| p.contains(&cidr) || cidr.contains(p))
        {
            continue;
        }
        let (location, path) = at(&format!("{}.ipBlock.cidr", rule.peer_path(i)));
        out.push(Diagnostic::warning(
            IP_BLOCK_POD_RANGE,
            location,
            path,
            format!(
                "ipBlock {cidr} lies in private ranges where pod networks live (the local cluster's pods are in 10.244.0.0/16): \
                 if it is meant to match pods, use a podSelector; pod IPs change, and CNIs need not apply ipBlock to pod traffic"
            ),
        ));
    }
    out
}

/// The lints that need the whole scenario: contradicted expectations and pods without DNS.
pub fn lint_scenario(scenario: &Scenario, addresses: &Addresses) -> Vec<Diagnostic> {
    let cluster = ScenarioCluster::new(scenario, addresses);
    let mut out = Vec::new();
    for probe in &scenario.probes {
        if let Some(d) = contradiction(&cluster, scenario, probe, addresses) {
            out.push(d);
        }
    }
    out.extend(no_dns(&cluster, scenario));
    out.extend(ip_blocks_holding_pods(scenario, addresses));
    out
}

/// With the pods' real IPs (at run time): every ipBlock that holds the IP of one of the
/// scenario's own pods, where a podSelector was likely meant.
fn ip_blocks_holding_pods(scenario: &Scenario, addresses: &Addresses) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if addresses.pods.is_empty() {
        return out;
    }
    for spec in &scenario.policies {
        if policy_ignores(spec, IP_BLOCK_POD_RANGE) {
            continue;
        }
        let Ok(policy) = netverdict_engine::Policy::from_k8s(&spec.object) else {
            continue;
        };
        for direction in [Direction::Ingress, Direction::Egress] {
            for (r, rule) in policy
                .rules(direction)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                for (i, peer) in rule.peers.iter().enumerate() {
                    let netverdict_engine::Peer::IpBlock(block) = peer else {
                        continue;
                    };
                    let held: Vec<String> = addresses
                        .pods
                        .iter()
                        .filter(|(pod, ips)| {
                            scenario.pod(pod).is_some() && ips.iter().any(|ip| block.contains(*ip))
                        })
                        .map(|(pod, _)| pod.to_string())
                        .collect();
                    if held.is_empty() {
                        continue;
                    }
                    out.push(Diagnostic::warning(
                        IP_BLOCK_POD_RANGE,
                        spec.location.clone(),
                        spec.field_path(&format!("spec.{direction}[{r}].{}[{i}].ipBlock", direction.peers_field())),
                        format!(
                            "policy {}/{}: ipBlock {} holds the IPs of this scenario's pods {}: a podSelector was likely meant \
                             (pod IPs change, and CNIs need not apply ipBlock to pod traffic)",
                            spec.namespace,
                            spec.name,
                            block.cidr,
                            held.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    out
}

fn contradiction(
    cluster: &ScenarioCluster,
    scenario: &Scenario,
    probe: &Probe,
    addresses: &Addresses,
) -> Option<Diagnostic> {
    if probe.expect.source == ExpectSource::Auto {
        return None;
    }
    let expected = probe.expect.verdict?;
    let (computed, reason) = judge(cluster, probe, addresses).ok()?;
    if computed == expected {
        return None;
    }
    let what = if probe.expect.source == ExpectSource::Table {
        "the truth table expects"
    } else {
        "expect:"
    };
    let mut message = format!(
        "probe {}: {what} {expected}, but the scenario's policies say {computed}: {reason}",
        Quoted(&probe.name)
    );
    // `deny` where nothing isolates either side: usually a probe pod whose labels miss the
    // selector meant for it.
    if computed == crate::model::Verdict::Allow
        && let Target::Pod(to) = &probe.target
        && let Some(decision) =
            cluster.decide(&probe.from, pod_endpoint(to), probe.port, probe.protocol)
        && matches!(decision.egress, SideDecision::NotIsolated)
        && matches!(decision.ingress, SideDecision::NotIsolated)
    {
        message = format!(
            "probe {}: expects deny, but no policy isolates {} (egress) or {} (ingress), so everything is allowed",
            Quoted(&probe.name),
            probe.from,
            to
        );
        for pod in [to, &probe.from] {
            if let Some(near) = cluster
                .cluster
                .pod(&pod.namespace, &pod.name)
                .and_then(|p| cluster.cluster.nearest_policy(p))
            {
                let unmet: Vec<String> = near.unmet.iter().map(ToString::to_string).collect();
                message.push_str(&format!(
                    "; pod {pod} is not selected by the nearest selector, policy {}'s podSelector, which needs {}",
                    near.policy,
                    unmet.join(", ")
                ));
                if let Some(spec) = scenario.pod(pod) {
                    let labels: Vec<String> = spec
                        .labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    message.push_str(&format!(
                        " (its labels: {})",
                        if labels.is_empty() {
                            "none".into()
                        } else {
                            labels.join(", ")
                        }
                    ));
                }
                break;
            }
        }
    }
    Some(Diagnostic::warning(
        CONTRADICTED,
        probe.location.clone(),
        probe.path.clone(),
        message,
    ))
}

fn no_dns(cluster: &ScenarioCluster, scenario: &Scenario) -> Vec<Diagnostic> {
    let dns = PodRef::new(DNS_NAMESPACE, DNS_POD);
    let mut by_policy: BTreeMap<PolicyRef, Vec<PodRef>> = BTreeMap::new();
    for pod in &scenario.pods {
        let Some(engine_pod): Option<&Pod> = cluster.cluster.pod(&pod.namespace, &pod.name) else {
            continue;
        };
        let isolating = cluster
            .cluster
            .isolating_policies(engine_pod, Direction::Egress);
        let Some(first) = isolating.first() else {
            continue;
        };
        let reaches = |protocol| {
            cluster
                .decide(
                    &pod.pod_ref(),
                    Endpoint::Pod {
                        namespace: dns.namespace.clone(),
                        name: dns.name.clone(),
                    },
                    53,
                    protocol,
                )
                .is_some_and(|d| d.allowed)
        };
        if reaches(Protocol::Udp) || reaches(Protocol::Tcp) {
            continue;
        }
        let silenced = isolating.iter().any(|p| {
            scenario.policies.iter().any(|s| {
                s.namespace == p.namespace && s.name == p.name && policy_ignores(s, NO_DNS_EGRESS)
            })
        });
        if !silenced {
            by_policy
                .entry(first.reference())
                .or_default()
                .push(pod.pod_ref());
        }
    }
    // A scenario that probes DNS from one of these pods and expects it to fail knows.
    let documented = |pods: &Vec<PodRef>| {
        scenario.probes.iter().any(|p| {
            pods.contains(&p.from) && p.via == Via::Dns && p.expect.source != ExpectSource::Auto
        })
    };
    by_policy
        .into_iter()
        .filter(|(_, pods)| !documented(pods))
        .filter_map(|(policy, pods)| {
            let spec = scenario.policies.iter().find(|p| p.namespace == policy.namespace && p.name == policy.name)?;
            Some(Diagnostic::warning(
                NO_DNS_EGRESS,
                spec.location.clone(),
                spec.field_path("metadata.name"),
                format!(
                    "policy {policy} isolates the egress of {} and no egress rule allows DNS (UDP or TCP 53 to the cluster DNS in {DNS_NAMESPACE}): \
                     name lookups there will fail; allow port 53, or add the annotation {IGNORE_ANNOTATION}: {NO_DNS_EGRESS}",
                    pods.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ),
            ))
        })
        .collect()
}
