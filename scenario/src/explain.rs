//! Explaining one connection of a scenario: the engine's verdict, the policies selecting each
//! side, the rule that matched or why each rule of the isolating policies does not.

use std::fmt;
use std::net::IpAddr;

use netverdict_engine::{
    Decision, Direction, Endpoint, NamespaceScope, Peer, Policy, Protocol, SideDecision,
};

use crate::expect::{Addresses, ScenarioCluster, one_line, pod_endpoint};
use crate::model::{PodRef, Scenario, protocol_str};
use crate::source::SourceLocation;

/// The connection to explain.
#[derive(Clone, Debug)]
pub struct Query {
    pub from: PodRef,
    pub to: Destination,
    pub port: PortChoice,
    pub protocol: Protocol,
    /// The scenario to judge in, when several define the pods.
    pub scenario: Option<String>,
}

/// Where the connection goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Pod(PodRef),
    Ip(IpAddr),
}

impl Destination {
    fn pod(&self) -> Option<&PodRef> {
        match self {
            Destination::Pod(p) => Some(p),
            Destination::Ip(_) => None,
        }
    }

    fn endpoint(&self) -> Endpoint {
        match self {
            Destination::Pod(p) => pod_endpoint(p),
            Destination::Ip(ip) => Endpoint::Ip(*ip),
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Pod(p) => write!(f, "{p}"),
            Destination::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// The destination port: a number, or a port name of the destination pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortChoice {
    Number(u16),
    Name(String),
}

/// Why a connection cannot be explained.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("no scenario{} defines pod {from}{}", named(.scenario), and_pod(.to))]
    NoScenario {
        scenario: Option<String>,
        from: PodRef,
        to: Option<PodRef>,
    },
    #[error("several scenarios define these pods ({})", .0.join(", "))]
    SeveralScenarios(Vec<String>),
    #[error("a port name needs a destination pod")]
    PortNameNeedsPod,
    #[error("pod {0} serves no port of that name")]
    NoPortNamed(PodRef),
    #[error("the engine does not know one of the pods")]
    UnknownPod,
}

fn named(scenario: &Option<String>) -> String {
    scenario
        .as_ref()
        .map(|n| format!(" named {n}"))
        .unwrap_or_default()
}

fn and_pod(to: &Option<PodRef>) -> String {
    to.as_ref()
        .map(|t| format!(" and pod {t}"))
        .unwrap_or_default()
}

/// The engine's verdict on one connection, and why.
#[derive(Clone, Debug)]
pub struct Explanation {
    pub scenario: String,
    /// Where the scenario's name is written.
    pub location: SourceLocation,
    pub from: PodRef,
    pub to: Destination,
    pub port: u16,
    /// The port's name, when the query named it.
    pub port_name: Option<String>,
    pub protocol: Protocol,
    pub decision: Decision,
    /// Egress (the source's side), then ingress (the destination's).
    pub sides: [SideExplanation; 2],
}

/// One side of the connection.
#[derive(Clone, Debug)]
pub struct SideExplanation {
    pub direction: Direction,
    /// The scenario pod on this side, and the policies selecting it.
    pub selected_by: Option<Selection>,
    /// The lines that explain the side's decision, indented as printed.
    pub lines: Vec<String>,
}

/// The policies selecting a pod, each with the directions it governs: `ns/name (Ingress)`.
#[derive(Clone, Debug)]
pub struct Selection {
    pub pod: PodRef,
    pub policies: Vec<String>,
}

/// Explains `query` in the one scenario of `scenarios` that defines its pods.
///
/// # Errors
/// When no scenario or several define the pods, a port name cannot be resolved, or the engine
/// does not know a pod.
pub fn explain(scenarios: &[Scenario], query: &Query) -> Result<Explanation, ExplainError> {
    let scenario = choose(scenarios, query)?;
    let (port, port_name) = port(scenario, query)?;
    let cluster = ScenarioCluster::new(scenario, &Addresses::default());
    let decision = cluster
        .decide(&query.from, query.to.endpoint(), port, query.protocol)
        .ok_or(ExplainError::UnknownPod)?;
    let judged = Judged {
        scenario,
        cluster: &cluster,
        query,
        port,
    };
    let sides = [
        judged.side(Direction::Egress, &decision.egress, Some(&query.from)),
        judged.side(Direction::Ingress, &decision.ingress, query.to.pod()),
    ];
    Ok(Explanation {
        scenario: scenario.name.clone(),
        location: scenario.location.clone(),
        from: query.from.clone(),
        to: query.to.clone(),
        port,
        port_name,
        protocol: query.protocol,
        decision,
        sides,
    })
}

/// The one scenario (named, if the query names one) that defines the query's pods.
fn choose<'s>(scenarios: &'s [Scenario], query: &Query) -> Result<&'s Scenario, ExplainError> {
    let to = query.to.pod();
    let candidates: Vec<&Scenario> = scenarios
        .iter()
        .filter(|s| query.scenario.as_ref().is_none_or(|n| *n == s.name))
        .filter(|s| s.pod(&query.from).is_some() && to.is_none_or(|t| s.pod(t).is_some()))
        .collect();
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(ExplainError::NoScenario {
            scenario: query.scenario.clone(),
            from: query.from.clone(),
            to: to.cloned(),
        }),
        several => Err(ExplainError::SeveralScenarios(
            several.iter().map(|s| s.name.clone()).collect(),
        )),
    }
}

/// The port number, and the name it was given by.
fn port(scenario: &Scenario, query: &Query) -> Result<(u16, Option<String>), ExplainError> {
    let name = match &query.port {
        PortChoice::Number(n) => return Ok((*n, None)),
        PortChoice::Name(name) => name,
    };
    let pod = query
        .to
        .pod()
        .and_then(|t| scenario.pod(t))
        .ok_or(ExplainError::PortNameNeedsPod)?;
    let served = pod
        .ports
        .iter()
        .find(|p| p.name.as_deref() == Some(name.as_str()))
        .ok_or_else(|| ExplainError::NoPortNamed(pod.pod_ref()))?;
    Ok((served.port, Some(name.clone())))
}

/// A connection judged in a scenario, being explained.
struct Judged<'a> {
    scenario: &'a Scenario,
    cluster: &'a ScenarioCluster,
    query: &'a Query,
    port: u16,
}

impl Judged<'_> {
    fn side(
        &self,
        direction: Direction,
        side: &SideDecision,
        pod: Option<&PodRef>,
    ) -> SideExplanation {
        let selected_by = pod.and_then(|p| self.selection(p));
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

    /// The policies selecting `pod`, if it is a pod of the engine's cluster.
    fn selection(&self, pod: &PodRef) -> Option<Selection> {
        let engine_pod = self.cluster.cluster.pod(&pod.namespace, &pod.name)?;
        let policies = self
            .cluster
            .cluster
            .selecting_policies(engine_pod)
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
            Direction::Egress => self.query.to.endpoint(),
            Direction::Ingress => pod_endpoint(&self.query.from),
        };
        let cluster = &self.cluster.cluster;
        let destination = self
            .query
            .to
            .pod()
            .and_then(|d| cluster.pod(&d.namespace, &d.name));
        let peer_pod = match &peer {
            Endpoint::Pod { namespace, name } => cluster.pod(namespace, name),
            Endpoint::Ip(_) => None,
        };
        let field = direction.peers_field();
        let (port, protocol) = (self.port, self.query.protocol);
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
                let offline = rule.peers.iter().any(|p| matches!(p, Peer::IpBlock(_)))
                    && peer_pod.is_some_and(|p| p.ips.is_empty());
                let note = if offline {
                    " (its IP is unknown offline, so ipBlocks cannot match it)"
                } else {
                    ""
                };
                reasons.push(format!("no `{field}` peer matches {peer}{note}"));
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
        peer_pod: Option<&netverdict_engine::Pod>,
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

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenario {} ({})", self.scenario, self.location)?;
        let port_name = self
            .port_name
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let verdict = if self.decision.allowed {
            "ALLOWED"
        } else {
            "DENIED"
        };
        writeln!(
            f,
            "{} -> {}:{}/{}{port_name}: {verdict}",
            self.from,
            self.to,
            self.port,
            protocol_str(self.protocol)
        )?;
        if self.decision.loopback {
            writeln!(
                f,
                "  a pod's traffic to itself is never blocked by NetworkPolicy"
            )?;
        }
        for side in &self.sides {
            writeln!(f, "{}:", side.direction)?;
            if let Some(selection) = &side.selected_by {
                let list = if selection.policies.is_empty() {
                    "none".to_string()
                } else {
                    selection.policies.join(", ")
                };
                writeln!(f, "  policies selecting {}: {list}", selection.pod)?;
            }
            for line in &side.lines {
                writeln!(f, "{line}")?;
            }
        }
        writeln!(f, "summary: {}", one_line(&self.decision))
    }
}
