//! Why each side of a connection decides as it does: the policies selecting the side's pod, the
//! rule that allowed it, or why each rule of the isolating policies does not.

use std::net::IpAddr;

use netverdict_engine::{
    Decision, Direction, Endpoint, NamespaceScope, Peer, Pod, Policy, Protocol, SideDecision,
};

use super::{Selection, SideExplanation};
use crate::expect::{ScenarioCluster, pod_endpoint};
use crate::model::{PodRef, Scenario, protocol_str};

/// A connection judged in a scenario, being explained.
pub(super) struct Judged<'a> {
    pub scenario: &'a Scenario,
    pub cluster: &'a ScenarioCluster,
    pub from: &'a PodRef,
    pub to: &'a Endpoint,
    pub port: u16,
    pub protocol: Protocol,
}

/// The pod an endpoint names.
fn endpoint_pod(endpoint: &Endpoint) -> Option<PodRef> {
    match endpoint {
        Endpoint::Pod { namespace, name } => Some(PodRef::new(namespace, name)),
        Endpoint::Ip(_) => None,
    }
}

impl Judged<'_> {
    /// Both sides of `decision`: egress (the source's), then ingress (the destination's).
    pub(super) fn sides(&self, decision: &Decision) -> [SideExplanation; 2] {
        let to = endpoint_pod(self.to);
        [
            self.side(Direction::Egress, &decision.egress, Some(self.from)),
            self.side(Direction::Ingress, &decision.ingress, to.as_ref()),
        ]
    }

    fn side(
        &self,
        direction: Direction,
        side: &SideDecision,
        pod: Option<&PodRef>,
    ) -> SideExplanation {
        let selected_by = pod.and_then(|p| self.selection(p, direction));
        let lines = match side {
            SideDecision::NotApplicable => {
                vec!["  the destination is not a pod: no policy applies on this side".to_string()]
            }
            SideDecision::NotIsolated => self.not_isolated(direction, pod),
            SideDecision::Allowed { matches } => {
                let mut lines = vec!["  allowed by:".to_string()];
                for m in matches {
                    let at = self.locate(&m.policy.namespace, &m.policy.name);
                    lines.push(format!("    {m}{at}"));
                }
                lines
            }
            SideDecision::Denied { isolated_by } => {
                let mut lines = vec!["  denied: isolated by".to_string()];
                for p in isolated_by {
                    let at = self.locate(&p.namespace, &p.name);
                    lines.push(format!("    policy {p}{at}"));
                    let policies = &self.cluster.cluster.policies;
                    if let Some(policy) = policies
                        .iter()
                        .find(|x| x.namespace == p.namespace && x.name == p.name)
                    {
                        let why = self.why_not(policy, direction);
                        lines.extend(why.into_iter().map(|line| format!("      {line}")));
                    }
                }
                lines.push("  and no rule of them allows this peer and port".to_string());
                lines
            }
        };
        SideExplanation {
            direction,
            selected_by,
            lines,
        }
    }

    /// The policies selecting `pod` for `direction`, if it is a pod of the engine's cluster: a
    /// policy of the other direction only says nothing about this side.
    fn selection(&self, pod: &PodRef, direction: Direction) -> Option<Selection> {
        let engine_pod = self.cluster.cluster.pod(&pod.namespace, &pod.name)?;
        let policies = self
            .cluster
            .cluster
            .isolating_policies(engine_pod, direction)
            .iter()
            .map(|p| {
                let mut types = Vec::new();
                if p.ingress.is_some() {
                    types.push("Ingress");
                }
                if p.egress.is_some() {
                    types.push("Egress");
                }
                format!("{} ({})", p.reference(), types.join(", "))
            })
            .collect();
        Some(Selection {
            pod: pod.clone(),
            policies,
        })
    }

    fn not_isolated(&self, direction: Direction, pod: Option<&PodRef>) -> Vec<String> {
        let mut lines = vec![format!(
            "  allowed: no policy isolates {} for {direction}",
            pod.map(ToString::to_string).unwrap_or_default()
        )];
        if let Some((policy, unmet)) = pod.and_then(|p| self.nearest(p, direction)) {
            lines.push(format!(
                "  nearest selector: policy {policy} (a {direction} policy) would also need {unmet}"
            ));
        }
        lines
    }

    /// The policy of `pod`'s namespace governing `direction` whose pod selector `pod` misses by
    /// the fewest requirements, and those requirements.
    fn nearest(&self, pod: &PodRef, direction: Direction) -> Option<(String, String)> {
        let engine_pod = self.cluster.cluster.pod(&pod.namespace, &pod.name)?;
        self.cluster
            .cluster
            .policies
            .iter()
            .filter(|p| {
                p.namespace == pod.namespace
                    && p.rules(direction).is_some()
                    && !p.selects(engine_pod)
            })
            .map(|p| (p, p.pod_selector.unmet_requirements(&engine_pod.labels)))
            .min_by_key(|(_, unmet)| unmet.len())
            .map(|(p, unmet)| {
                let unmet: Vec<String> = unmet.iter().map(ToString::to_string).collect();
                (p.reference().to_string(), unmet.join(", "))
            })
    }

    /// ` at FILE:LINE:COLUMN` of a scenario policy.
    fn locate(&self, namespace: &str, name: &str) -> String {
        self.scenario
            .policies
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
            .map(|p| format!(" at {}", p.location))
            .unwrap_or_default()
    }

    /// Why each rule of `policy` for `direction` does not allow the connection: the peer the
    /// isolated side's rules must match is the other end.
    fn why_not(&self, policy: &Policy, direction: Direction) -> Vec<String> {
        let rules = policy.rules(direction).unwrap_or_default();
        if rules.is_empty() {
            return vec![format!("has no {direction} rule: it allows nothing")];
        }
        let peer = match direction {
            Direction::Egress => self.to.clone(),
            Direction::Ingress => pod_endpoint(self.from),
        };
        let cluster = &self.cluster.cluster;
        let destination = endpoint_pod(self.to).and_then(|d| cluster.pod(&d.namespace, &d.name));
        let peer_pod = match &peer {
            Endpoint::Pod { namespace, name } => cluster.pod(namespace, name),
            Endpoint::Ip(_) => None,
        };
        let field = direction.peers_field();
        let (port, protocol) = (self.port, self.protocol);
        let mut out = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let peer_ok = rule.peers.is_empty()
                || rule
                    .peers
                    .iter()
                    .any(|candidate| self.peer_matches(policy, candidate, &peer, peer_pod));
            let port_ok = rule.ports.is_empty()
                || rule
                    .ports
                    .iter()
                    .any(|p| p.matches(port, protocol, destination));
            let mut reasons = Vec::new();
            if !peer_ok {
                reasons.push(peer_reason(field, &rule.peers, &peer, peer_pod));
            }
            if !port_ok {
                let ports: Vec<String> = rule.ports.iter().map(ToString::to_string).collect();
                reasons.push(format!(
                    "{port}/{} is not among its ports ({})",
                    protocol_str(protocol),
                    ports.join(", ")
                ));
            }
            out.push(format!("{direction}[{i}]: {}", reasons.join("; ")));
        }
        out
    }

    /// Whether `candidate`, a peer of a rule of `policy`, matches the other end `peer`.
    fn peer_matches(
        &self,
        policy: &Policy,
        candidate: &Peer,
        peer: &Endpoint,
        peer_pod: Option<&Pod>,
    ) -> bool {
        match (candidate, peer, peer_pod) {
            (Peer::IpBlock(block), Endpoint::Ip(ip), _) => block.contains(*ip),
            (Peer::IpBlock(block), _, Some(pod)) => pod.ips.iter().any(|ip| block.contains(*ip)),
            (Peer::Pods { namespaces, pods }, _, Some(pod)) => {
                let in_scope = match namespaces {
                    NamespaceScope::PolicyNamespace => pod.namespace == policy.namespace,
                    NamespaceScope::Selected(selector) => {
                        selector.matches(&self.cluster.cluster.namespace_labels(&pod.namespace))
                    }
                };
                in_scope && pods.matches(&pod.labels)
            }
            _ => false,
        }
    }
}

/// Why no peer of a rule matches `peer`: an ipBlock cannot match a pod whose IP is unknown
/// offline, and an `except` range may hold an address that its `cidr` holds too.
fn peer_reason(field: &str, peers: &[Peer], peer: &Endpoint, peer_pod: Option<&Pod>) -> String {
    let has_ip_block = peers.iter().any(|p| matches!(p, Peer::IpBlock(_)));
    let ips = match (peer, peer_pod) {
        (Endpoint::Ip(ip), _) => vec![*ip],
        (_, Some(pod)) => pod.ips.clone(),
        _ => Vec::new(),
    };
    let note = if has_ip_block && ips.is_empty() {
        " (its IP is unknown offline, so ipBlocks cannot match it)".to_string()
    } else {
        let excluded = exclusions(peers, &ips);
        if excluded.is_empty() {
            String::new()
        } else {
            format!(": {}", excluded.join(", "))
        }
    };
    format!("no `{field}` peer matches {peer}{note}")
}

/// `203.0.113.7 is in 203.0.113.0/24 but excluded by except 203.0.113.0/29`, for each address
/// of `ips` that an ipBlock of `peers` holds in its `cidr` but leaves out by an `except`.
fn exclusions(peers: &[Peer], ips: &[IpAddr]) -> Vec<String> {
    let blocks = peers.iter().filter_map(|p| match p {
        Peer::IpBlock(block) => Some(block),
        Peer::Pods { .. } => None,
    });
    blocks
        .flat_map(|block| {
            ips.iter().filter_map(move |ip| {
                let except = block.excluding(*ip)?;
                Some(format!(
                    "{ip} is in {} but excluded by except {except}",
                    block.cidr
                ))
            })
        })
        .collect()
}
