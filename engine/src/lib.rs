//! Pure model of Kubernetes NetworkPolicy (networking.k8s.io/v1) semantics.
//!
//! Given namespaces, pods and policies, [`Cluster::decide`] says whether a connection is allowed
//! and why. No I/O, no async: the scenario planner, the runner and the local cluster's enforcement
//! all use this one model, so they cannot disagree about what the API means.
//!
//! - [`LabelSelector`]: matching and API-server validation of selectors.
//! - [`Policy::from_k8s`]: validation and defaulting of a `NetworkPolicy` as the API server does
//!   it, errors located by field path.
//! - [`Cluster::decide`]: the verdict on one [`Connection`], with a [`Display`](std::fmt::Display)
//!   explanation naming the deciding rules or the isolating policies; [`Cluster::explain`] adds
//!   what each deciding peer and port are.
//! - For lints: [`Cluster::selecting_policies`], [`Cluster::isolating_policies`],
//!   [`Cluster::nearest_policy`] (the policy whose pod selector misses a pod by the fewest
//!   requirements) and [`Cluster::nearest_pod`] (the pod nearest to matching a selector).
//! - Name syntax checks shared with the scenario validator: [`validate_label_key`],
//!   [`validate_label_value`], [`validate_dns1123_label`], [`validate_dns1123_subdomain`],
//!   [`validate_port_name`], [`validate_port_number`].
//! - [`TruthTable`]: the upstream e2e suite's reachability matrices, parsed, printed and diffed.
//!
//! ```
//! use netverdict_engine::{Cluster, Connection, Endpoint, Namespace, Pod, Policy, Protocol};
//!
//! let object = serde_json::from_value(serde_json::json!({
//!     "metadata": {"namespace": "x", "name": "allow-from-b"},
//!     "spec": {
//!         "podSelector": {"matchLabels": {"pod": "a"}},
//!         "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}],
//!     },
//! }))?;
//! let policy = Policy::from_k8s(&object).expect("a valid policy");
//! let pod = |name: &str| Pod {
//!     namespace: "x".to_owned(),
//!     name: name.to_owned(),
//!     labels: [("pod".to_owned(), name.to_owned())].into(),
//!     ips: Vec::new(),
//!     ports: Vec::new(),
//!     host_network: false,
//! };
//! let cluster = Cluster {
//!     namespaces: vec![Namespace { name: "x".to_owned(), labels: Default::default() }],
//!     pods: vec![pod("a"), pod("b"), pod("c")],
//!     policies: vec![policy],
//! };
//! let from = |name: &str| Endpoint::Pod { namespace: "x".to_owned(), name: name.to_owned() };
//! let connection = |source| Connection {
//!     from: from(source),
//!     to: from("a"),
//!     port: 80,
//!     protocol: Protocol::Tcp,
//! };
//! assert!(cluster.decide(&connection("b"))?.allowed);
//! let denied = cluster.decide(&connection("c"))?;
//! assert!(!denied.allowed);
//! assert!(denied.to_string().contains("isolated for ingress by x/allow-from-b"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Semantics
//!
//! A pod is isolated for a direction when a policy of its namespace selects it and has that
//! direction among its policy types (defaulted to `Ingress`, plus `Egress` when egress rules are
//! present). An isolated pod only accepts (ingress) or sends (egress) what one rule of one of
//! those policies allows; rules and peers are OR-ed, the selectors inside one peer AND-ed, an
//! empty peer or port list means all. A connection is allowed when both the source's egress
//! side and the destination's ingress side allow it.
//!
//! # Corner cases, and the choices made
//!
//! - **Self traffic.** A pod reaching its own IP is allowed whatever the policies say, and
//!   [`Decision::loopback`] tells so. Such packets never leave the pod's network namespace (the
//!   kernel routes a local address over `lo`), so no CNI sees them; upstream's e2e suite leaves
//!   them out of its verdicts because CNIs disagree when they go through a Service.
//! - **Host-network pods** are never selected by a policy (their traffic is the node's), so
//!   their sides are [`SideDecision::NotIsolated`]. As peers, pod and namespace selectors never
//!   match them; an `ipBlock` matches their IPs, which are the node's.
//! - **Services.** The engine judges connections after Service translation: the caller resolves
//!   a Service to the endpoint pod it reached and asks about that pod and its target port, as
//!   kube-proxy rewrites the destination before any policy is enforced.
//! - **Unknown IPs.** A pod whose IPs are unknown ([`Pod::ips`] empty, e.g. while planning
//!   offline) never matches an `ipBlock`; pod-to-pod decisions still hold through selectors.
//!   A dual-stack pod matches an `ipBlock` when any of its IPs does, as the address family of a
//!   pod-to-pod connection is not part of a [`Connection`].
//! - **IP endpoints.** An [`Endpoint::Ip`] is outside the cluster's pods: only `ipBlock` peers
//!   match it, and its own side is [`SideDecision::NotApplicable`].
//! - **Named ports** are resolved against the destination pod, for egress rules too: they match
//!   when the destination serves that name with the connection's number and protocol, and never
//!   match a destination that is not a pod.
//! - **Namespaces** always carry `kubernetes.io/metadata.name=<name>`, as the API server sets it;
//!   a namespace missing from [`Cluster::namespaces`] has that label only.
//! - **CIDR syntax.** As the API server's legacy parser, host bits are accepted and masked
//!   (`10.0.0.1/24` is `10.0.0.0/24`) and IPv4 octets with leading zeros read as decimal.
//! - **Unknown pods.** A [`Connection`] naming a pod missing from the cluster is an error
//!   ([`DecideError::UnknownPod`]), never a panic.

mod decide;
mod policy;
mod quote;
mod selector;
mod truth_table;
mod validate;

pub use decide::{
    Cluster, DecideError, Decision, NAMESPACE_NAME_LABEL, NearMiss, RuleMatch, SideDecision,
};
pub use policy::{Direction, IpBlock, NamespaceScope, Peer, Policy, PortMatch, PortSpec, Rule};
pub use quote::{Quoted, QuotedList};
pub use selector::{LabelSelector, Operator, Requirement};
pub use truth_table::{CellDiff, Mark, TableDiff, TruthTable, TruthTableError};
pub use validate::{
    validate_dns1123_label, validate_dns1123_subdomain, validate_label_key, validate_label_value,
    validate_port_name, validate_port_number,
};

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

pub type Labels = BTreeMap<String, String>;

/// Transport protocol of a port; `TCP` when a policy leaves it out.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The API spelling: `TCP`, `UDP` or `SCTP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported protocol {}: supported values: \"TCP\", \"UDP\", \"SCTP\"", Quoted(.0))]
pub struct ParseProtocolError(pub String);

impl FromStr for Protocol {
    type Err = ParseProtocolError;

    /// Parses the API spelling, which is case-sensitive as in the API.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "TCP" => Ok(Self::Tcp),
            "UDP" => Ok(Self::Udp),
            "SCTP" => Ok(Self::Sctp),
            other => Err(ParseProtocolError(other.to_owned())),
        }
    }
}

/// A port a pod serves (a container port), possibly named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub labels: Labels,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// Empty while unknown (offline planning): ipBlock peers then never match this pod.
    pub ips: Vec<IpAddr>,
    pub ports: Vec<ServedPort>,
    pub host_network: bool,
}

/// Identifies a policy in explanations; displays as `namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct PolicyRef {
    pub namespace: String,
    pub name: String,
}

/// One end of a connection; displays as `namespace/name` or the address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Pod { namespace: String, name: String },
    Ip(IpAddr),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pod { namespace, name } => write!(f, "{namespace}/{name}"),
            Self::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A connection attempt to judge: `port` is the destination port number (named ports are resolved
/// by the caller against the destination pod; policies' named ports are resolved by the engine).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Connection {
    pub from: Endpoint,
    pub to: Endpoint,
    pub port: u16,
    pub protocol: Protocol,
}

impl fmt::Display for Connection {
    /// E.g. `x/a -> y/b 80/TCP`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} {}/{}",
            self.from, self.to, self.port, self.protocol
        )
    }
}

/// A validation error located by field path, e.g. `spec.ingress[0].from[1].ipBlock.cidr`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse_and_display_as_the_api_spells_them() {
        for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
            assert_eq!(protocol.to_string().parse::<Protocol>(), Ok(protocol));
        }
        assert_eq!(Protocol::default(), Protocol::Tcp);
        assert!("tcp".parse::<Protocol>().is_err());
        assert!("ICMP".parse::<Protocol>().is_err());
    }

    #[test]
    fn connections_display() {
        let connection = Connection {
            from: Endpoint::Pod {
                namespace: "x".to_owned(),
                name: "a".to_owned(),
            },
            to: Endpoint::Ip("2001:db8::1".parse().unwrap()),
            port: 53,
            protocol: Protocol::Udp,
        };
        assert_eq!(connection.to_string(), "x/a -> 2001:db8::1 53/UDP");
    }
}
