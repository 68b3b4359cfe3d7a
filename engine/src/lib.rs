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
//!   explanation naming the deciding rules or the isolating policies.
//! - [`TruthTable`]: the upstream e2e suite's reachability matrices, parsed, printed and diffed.
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
//! - **Unknown pods.** A [`Connection`] naming a pod missing from the cluster is an error
//!   ([`DecideError::UnknownPod`]), never a panic.

mod decide;
mod policy;
mod selector;
mod truth_table;
mod validate;

pub use decide::{
    Cluster, DecideError, Decision, NAMESPACE_NAME_LABEL, NearMiss, RuleMatch, SideDecision,
};
pub use policy::{Direction, IpBlock, NamespaceScope, Peer, Policy, PortMatch, PortSpec, Rule};
pub use selector::{LabelSelector, Operator, Requirement};
pub use truth_table::{CellDiff, Mark, TableDiff, TruthTable, TruthTableError};
pub use validate::{
    validate_dns1123_label, validate_dns1123_subdomain, validate_label_key, validate_label_value,
    validate_port_name, validate_port_number,
};

use std::collections::BTreeMap;
use std::net::IpAddr;

pub type Labels = BTreeMap<String, String>;

/// Transport protocol of a port; `TCP` when a policy leaves it out.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
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

/// Identifies a policy in explanations.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyRef {
    pub namespace: String,
    pub name: String,
}

/// One end of a connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Pod { namespace: String, name: String },
    Ip(IpAddr),
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
