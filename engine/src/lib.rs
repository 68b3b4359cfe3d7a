//! Pure model of Kubernetes NetworkPolicy (networking.k8s.io/v1) semantics.
//!
//! Given namespaces, pods and policies, [`Cluster::decide`] says whether a connection is allowed
//! and why. No I/O, no async: the scenario planner, the runner and the local cluster's enforcement
//! all use this one model, so they cannot disagree about what the API means.

use std::collections::BTreeMap;
use std::net::IpAddr;

pub type Labels = BTreeMap<String, String>;

/// Transport protocol of a port; `TCP` when a policy leaves it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
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
