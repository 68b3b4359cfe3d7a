//! Deciding a connection against a cluster's policies, and explaining the decision.

use std::fmt;
use std::net::IpAddr;

use crate::policy::{Direction, NamespaceScope, Peer};
use crate::selector::Requirement;
use crate::truth_table::{Mark, TruthTable};
use crate::{
    Connection, Endpoint, LabelSelector, Labels, Namespace, Pod, Policy, PolicyRef, Protocol,
};

/// The label the API server puts on every namespace, holding its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Everything the engine needs to decide: the namespaces (for namespace selectors), the pods
/// (for pod selectors, IPs and named ports) and the validated policies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cluster {
    pub namespaces: Vec<Namespace>,
    pub pods: Vec<Pod>,
    pub policies: Vec<Policy>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error("unknown pod {namespace}/{name}")]
    UnknownPod { namespace: String, name: String },
}

/// The verdict on one connection: allowed iff both sides allow it (or it is a pod's traffic to
/// itself, see [`Decision::loopback`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub allowed: bool,
    /// The source pod's egress policies.
    pub egress: SideDecision,
    /// The destination pod's ingress policies.
    pub ingress: SideDecision,
    /// A pod connecting to itself: allowed whatever the sides say (see the crate docs).
    pub loopback: bool,
}

/// What one side's policies say.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SideDecision {
    /// The endpoint on this side is an IP address, not a pod: no policy applies there.
    NotApplicable,
    /// No policy isolates the pod for this direction, so everything is allowed.
    NotIsolated,
    /// Isolated, and these rules allow the connection (every matching rule, in policy order).
    Allowed { matches: Vec<RuleMatch> },
    /// Isolated by these policies, and none of their rules allows the connection.
    Denied { isolated_by: Vec<PolicyRef> },
}

impl SideDecision {
    pub fn allows(&self) -> bool {
        !matches!(self, Self::Denied { .. })
    }
}

/// A rule that allows a connection: the rule's index in the policy's rules for `direction`, the
/// index of the first matching peer and port (`None` when the rule lists none, meaning all).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleMatch {
    pub policy: PolicyRef,
    pub direction: Direction,
    pub rule: usize,
    pub peer: Option<usize>,
    pub port: Option<usize>,
}

/// A policy of the pod's namespace that does not select the pod, with the requirements the pod
/// fails. See [`Cluster::nearest_policy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NearMiss {
    pub policy: PolicyRef,
    pub unmet: Vec<Requirement>,
}

/// One end of a connection, resolved against the cluster.
#[derive(Clone, Copy)]
enum Party<'a> {
    Pod(&'a Pod),
    Ip(IpAddr),
}

impl Party<'_> {
    fn pod(&self) -> Option<&Pod> {
        match self {
            Party::Pod(pod) => Some(pod),
            Party::Ip(_) => None,
        }
    }
}

impl Cluster {
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }

    /// A namespace's labels, always including `kubernetes.io/metadata.name` as the API server
    /// sets it. A namespace missing from [`Cluster::namespaces`] has only that label.
    pub fn namespace_labels(&self, namespace: &str) -> Labels {
        let mut labels = self
            .namespaces
            .iter()
            .find(|n| n.name == namespace)
            .map(|n| n.labels.clone())
            .unwrap_or_default();
        labels.insert(NAMESPACE_NAME_LABEL.to_owned(), namespace.to_owned());
        labels
    }

    /// The policies whose pod selector selects `pod`, whatever directions they govern.
    pub fn selecting_policies(&self, pod: &Pod) -> Vec<&Policy> {
        self.policies.iter().filter(|p| p.selects(pod)).collect()
    }

    /// The policies isolating `pod` for `direction`; empty means that direction is open.
    pub fn isolating_policies(&self, pod: &Pod, direction: Direction) -> Vec<&Policy> {
        self.policies
            .iter()
            .filter(|p| p.isolates(pod, direction))
            .collect()
    }

    /// Among the policies of `pod`'s namespace that do not select it, the one whose pod selector
    /// fails on the fewest requirements (the first such policy on a tie); `None` when every
    /// policy there selects the pod, or there is none. Host-network pods are never selected, so
    /// for them every policy of the namespace counts, with its unmet requirements possibly empty.
    pub fn nearest_policy(&self, pod: &Pod) -> Option<NearMiss> {
        self.policies
            .iter()
            .filter(|p| p.namespace == pod.namespace && !p.selects(pod))
            .map(|p| NearMiss {
                policy: p.reference(),
                unmet: p.pod_selector.unmet_requirements(&pod.labels),
            })
            .min_by_key(|near| near.unmet.len())
    }

    /// The pod nearest to matching `selector`, in `namespace` or in every namespace: the one
    /// failing the fewest requirements (the first such pod on a tie), with the requirements it
    /// fails, empty when it matches. `None` when there is no pod to consider.
    pub fn nearest_pod(
        &self,
        selector: &LabelSelector,
        namespace: Option<&str>,
    ) -> Option<(&Pod, Vec<Requirement>)> {
        self.pods
            .iter()
            .filter(|p| namespace.is_none_or(|ns| p.namespace == ns))
            .map(|p| (p, selector.unmet_requirements(&p.labels)))
            .min_by_key(|(_, unmet)| unmet.len())
    }

    /// Decides `connection`.
    ///
    /// # Errors
    ///
    /// [`DecideError::UnknownPod`] when an endpoint names a pod missing from the cluster.
    pub fn decide(&self, connection: &Connection) -> Result<Decision, DecideError> {
        let from = self.resolve(&connection.from)?;
        let to = self.resolve(&connection.to)?;
        let egress = self.side(Direction::Egress, from, to, connection);
        let ingress = self.side(Direction::Ingress, to, from, connection);
        let loopback = matches!(
            (&connection.from, &connection.to),
            (Endpoint::Pod { .. }, Endpoint::Pod { .. })
        ) && connection.from == connection.to;
        Ok(Decision {
            allowed: loopback || (egress.allows() && ingress.allows()),
            egress,
            ingress,
            loopback,
        })
    }

    /// A human explanation of [`Cluster::decide`]: the connection and the verdict, each side,
    /// then what every allowing rule's matching peer and port are (as `netverdict explain`
    /// prints it).
    ///
    /// # Errors
    ///
    /// [`DecideError::UnknownPod`] when an endpoint names a pod missing from the cluster.
    pub fn explain(&self, connection: &Connection) -> Result<String, DecideError> {
        let decision = self.decide(connection)?;
        let mut text = format!("{connection}: {decision}");
        let matches = [&decision.egress, &decision.ingress]
            .into_iter()
            .filter_map(|side| match side {
                SideDecision::Allowed { matches } => Some(matches),
                _ => None,
            })
            .flatten();
        for found in matches {
            let Some(policy) = self.policies.iter().find(|p| p.reference() == found.policy) else {
                continue;
            };
            let Some(rule) = policy
                .rules(found.direction)
                .and_then(|r| r.get(found.rule))
            else {
                continue;
            };
            let at = format!("{} {}[{}]", found.policy, found.direction, found.rule);
            let peers = found.direction.peers_field();
            match found.peer.and_then(|i| rule.peers.get(i).map(|p| (i, p))) {
                Some((i, peer)) => text.push_str(&format!("\n    {at}.{peers}[{i}]: {peer}")),
                None => text.push_str(&format!("\n    {at}.{peers}: any peer")),
            }
            match found.port.and_then(|i| rule.ports.get(i).map(|p| (i, p))) {
                Some((i, port)) => text.push_str(&format!("\n    {at}.ports[{i}]: {port}")),
                None => text.push_str(&format!("\n    {at}.ports: any port")),
            }
        }
        Ok(text)
    }

    /// The truth table of `pods` (as `namespace/name`) to each other on one port.
    ///
    /// # Errors
    ///
    /// [`DecideError::UnknownPod`] for a pod missing from the cluster.
    pub fn truth_table(
        &self,
        pods: &[(&str, &str)],
        port: u16,
        protocol: Protocol,
    ) -> Result<TruthTable, DecideError> {
        let labels: Vec<String> = pods
            .iter()
            .map(|(ns, name)| format!("{ns}/{name}"))
            .collect();
        let mut table = TruthTable::new(labels.clone(), labels);
        for (i, from) in pods.iter().enumerate() {
            for (j, to) in pods.iter().enumerate() {
                let decision = self.decide(&Connection {
                    from: pod_endpoint(from),
                    to: pod_endpoint(to),
                    port,
                    protocol,
                })?;
                table.set_at(i, j, Mark::from_allowed(decision.allowed));
            }
        }
        Ok(table)
    }

    fn resolve<'a>(&'a self, endpoint: &Endpoint) -> Result<Party<'a>, DecideError> {
        match endpoint {
            Endpoint::Ip(ip) => Ok(Party::Ip(*ip)),
            Endpoint::Pod { namespace, name } => self
                .pod(namespace, name)
                .map(Party::Pod)
                .ok_or_else(|| DecideError::UnknownPod {
                    namespace: namespace.clone(),
                    name: name.clone(),
                }),
        }
    }

    /// What `direction`'s policies of `subject` say about traffic with `peer`.
    fn side(
        &self,
        direction: Direction,
        subject: Party<'_>,
        peer: Party<'_>,
        connection: &Connection,
    ) -> SideDecision {
        let Party::Pod(pod) = subject else {
            return SideDecision::NotApplicable;
        };
        let isolating = self.isolating_policies(pod, direction);
        if isolating.is_empty() {
            return SideDecision::NotIsolated;
        }
        let destination = match direction {
            Direction::Ingress => subject.pod(),
            Direction::Egress => peer.pod(),
        };
        let mut matches = Vec::new();
        for policy in &isolating {
            for (index, rule) in policy
                .rules(direction)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let Some(peer_index) =
                    first_match(&rule.peers, |p| self.peer_matches(policy, p, peer))
                else {
                    continue;
                };
                let Some(port_index) = first_match(&rule.ports, |p| {
                    p.matches(connection.port, connection.protocol, destination)
                }) else {
                    continue;
                };
                matches.push(RuleMatch {
                    policy: policy.reference(),
                    direction,
                    rule: index,
                    peer: peer_index,
                    port: port_index,
                });
            }
        }
        if matches.is_empty() {
            SideDecision::Denied {
                isolated_by: isolating.iter().map(|p| p.reference()).collect(),
            }
        } else {
            SideDecision::Allowed { matches }
        }
    }

    fn peer_matches(&self, policy: &Policy, peer: &Peer, party: Party<'_>) -> bool {
        match (peer, party) {
            (Peer::IpBlock(block), Party::Ip(ip)) => block.contains(ip),
            // Pod to pod, the address family in use is unknown: any of the pod's IPs counts.
            (Peer::IpBlock(block), Party::Pod(pod)) => pod.ips.iter().any(|ip| block.contains(*ip)),
            (Peer::Pods { .. }, Party::Ip(_)) => false,
            (Peer::Pods { namespaces, pods }, Party::Pod(pod)) => {
                let in_scope = match namespaces {
                    NamespaceScope::PolicyNamespace => pod.namespace == policy.namespace,
                    NamespaceScope::Selected(selector) => {
                        selector.matches(&self.namespace_labels(&pod.namespace))
                    }
                };
                !pod.host_network && in_scope && pods.matches(&pod.labels)
            }
        }
    }
}

/// The index of the first item matching, `Some(None)` when there are no items (a rule listing
/// no peers or no ports means all), `None` when none matches.
fn first_match<T>(items: &[T], matches: impl Fn(&T) -> bool) -> Option<Option<usize>> {
    if items.is_empty() {
        Some(None)
    } else {
        items.iter().position(matches).map(Some)
    }
}

fn pod_endpoint((namespace, name): &(&str, &str)) -> Endpoint {
    Endpoint::Pod {
        namespace: (*namespace).to_owned(),
        name: (*name).to_owned(),
    }
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl fmt::Display for RuleMatch {
    /// E.g. `policy x/allow-from-y, ingress rule 0 (from[1], any port)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "policy {}, {} rule {} (",
            self.policy, self.direction, self.rule
        )?;
        match self.peer {
            Some(i) => write!(f, "{}[{i}]", self.direction.peers_field())?,
            None => f.write_str("any peer")?,
        }
        match self.port {
            Some(i) => write!(f, ", ports[{i}])"),
            None => f.write_str(", any port)"),
        }
    }
}

impl SideDecision {
    fn explain(&self, f: &mut fmt::Formatter<'_>, direction: Direction) -> fmt::Result {
        let (side, endpoint) = match direction {
            Direction::Egress => ("egress", "source"),
            Direction::Ingress => ("ingress", "destination"),
        };
        match self {
            Self::NotApplicable => {
                write!(
                    f,
                    "{side}: allowed: the {endpoint} is not a pod, no policy applies"
                )
            }
            Self::NotIsolated => write!(
                f,
                "{side}: allowed: no policy isolates the {endpoint} pod for {side}"
            ),
            Self::Allowed { matches } => {
                let rules: Vec<String> = matches.iter().map(|m| m.to_string()).collect();
                write!(f, "{side}: allowed by {}", rules.join("; "))
            }
            Self::Denied { isolated_by } => {
                let policies: Vec<String> = isolated_by.iter().map(|p| p.to_string()).collect();
                write!(
                    f,
                    "{side}: denied: the {endpoint} pod is isolated for {side} by {} and no rule \
                     of {} allows this connection",
                    policies.join(", "),
                    if isolated_by.len() == 1 { "it" } else { "them" }
                )
            }
        }
    }
}

impl fmt::Display for Decision {
    /// A few lines: the verdict, then the egress side and the ingress side.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.allowed { "allowed" } else { "denied" })?;
        if self.loopback {
            f.write_str(": a pod's traffic to itself is never blocked by NetworkPolicy")?;
        }
        f.write_str("\n  ")?;
        self.egress.explain(f, Direction::Egress)?;
        f.write_str("\n  ")?;
        self.ingress.explain(f, Direction::Ingress)
    }
}
