//! Explaining one connection of a scenario: the engine's verdict, the policies selecting each
//! side, the rule that matched or why each rule of the isolating policies does not.
//!
//! [`port`] resolves the port the query names, [`side`] explains each side's decision and
//! [`render`] prints the explanation.

mod port;
mod render;
mod side;

use std::fmt;
use std::net::IpAddr;

use netverdict_engine::{Decision, Direction, Endpoint, Protocol};

use crate::expect::{Addresses, ScenarioCluster, pod_endpoint};
use crate::model::{PodRef, Scenario, protocol_str};
use crate::source::SourceLocation;

/// The connection to explain.
#[derive(Clone, Debug)]
pub struct Query {
    pub from: PodRef,
    pub to: Destination,
    pub port: PortChoice,
    /// The protocol asked for; by default a named port's, else TCP.
    pub protocol: Option<Protocol>,
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
    #[error("no port named `{name}` on {pod}; {}", port::listing(.ports))]
    NoPortNamed {
        name: String,
        pod: PodRef,
        /// The pod's named ports, as `http (8080/TCP)`.
        ports: Vec<String>,
    },
    #[error("port {name} of {pod} is {}, not {}", protocol_str(*.served), protocol_str(*.asked))]
    ProtocolMismatch {
        name: String,
        pod: PodRef,
        served: Protocol,
        asked: Protocol,
    },
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
    let cluster = ScenarioCluster::new(scenario, &Addresses::default());
    let port::Chosen {
        port,
        name: port_name,
        protocol,
    } = port::choose(&cluster, query)?;
    let decision = cluster
        .decide(&query.from, query.to.endpoint(), port, protocol)
        .ok_or(ExplainError::UnknownPod)?;
    let judged = side::Judged {
        scenario,
        cluster: &cluster,
        query,
        port,
        protocol,
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
        protocol,
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
