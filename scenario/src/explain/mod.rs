//! Explaining one connection of a scenario: the engine's verdict, the policies selecting each
//! side, the rule that matched or why each rule of the isolating policies does not.
//!
//! [`route`] turns the destination into the connections the engine judges (a Service's pods, a
//! host's DNS lookup and address), [`port`] resolves the port the query names, [`side`] explains
//! each side's decision and [`render`] prints the explanation.

mod port;
mod render;
mod route;
mod side;

use std::fmt;
use std::net::IpAddr;

use netverdict_engine::{Decision, Direction, Endpoint, Protocol};

use crate::expect::{Addresses, HostTable, ScenarioCluster};
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
    /// A scenario Service, judged on the pods its selector picks.
    Service {
        namespace: String,
        name: String,
    },
    /// A host of the known hosts' table, reached once the cluster DNS resolves it.
    Host(String),
    /// The cluster DNS pod the engine assumes.
    ClusterDns,
}

impl Destination {
    /// The pod it is, if it is one.
    fn pod(&self) -> Option<&PodRef> {
        match self {
            Destination::Pod(pod) => Some(pod),
            _ => None,
        }
    }

    /// What a scenario must define for this destination: `pod a/b`, `service a/b`.
    fn needs(&self) -> Option<String> {
        match self {
            Destination::Pod(p) => Some(format!("pod {p}")),
            Destination::Service { namespace, name } => Some(format!("service {namespace}/{name}")),
            _ => None,
        }
    }

    fn defined_in(&self, scenario: &Scenario) -> bool {
        match self {
            Destination::Pod(p) => scenario.pod(p).is_some(),
            Destination::Service { namespace, name } => scenario
                .services
                .iter()
                .any(|s| s.namespace == *namespace && s.name == *name),
            _ => true,
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Pod(p) => write!(f, "{p}"),
            Destination::Ip(ip) => write!(f, "{ip}"),
            Destination::Service { namespace, name } => write!(f, "service {namespace}/{name}"),
            Destination::Host(host) => write!(f, "host {host}"),
            Destination::ClusterDns => f.write_str("cluster DNS"),
        }
    }
}

/// The destination port: a number, or a port name of the destination pod or Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortChoice {
    Number(u16),
    Name(String),
}

/// Why a connection cannot be explained.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("no scenario{} defines pod {from}{}{}", named(.scenario), and(.to), live_note(*.live))]
    NoScenario {
        scenario: Option<String>,
        from: PodRef,
        /// What the destination needs defined, as `pod a/b` or `service a/b`.
        to: Option<String>,
        /// Some scenario reaches deployed workloads, which only a run finds.
        live: bool,
    },
    #[error("several scenarios define these pods ({})", .0.join(", "))]
    SeveralScenarios(Vec<String>),
    #[error("a port name needs a destination pod or Service")]
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
    #[error("service {service} has no port {port}; its ports: {}", .ports.join(", "))]
    NoServicePort {
        service: String,
        port: String,
        /// The Service's ports, as `http 80/TCP -> 8080`.
        ports: Vec<String>,
    },
    #[error("service {service} selects no pod of the scenario that serves its port {port}")]
    NoBackend { service: String, port: u16 },
    #[error("the address of host {host} is unknown offline; the known hosts: {}", hosts(.known))]
    UnknownHost {
        host: String,
        /// The known hosts, as `external.test (203.0.113.10)`.
        known: Vec<String>,
    },
    #[error("the engine does not know one of the pods")]
    UnknownPod,
    /// A mimic's labels are copied at run time.
    #[error(
        "{pod} copies the labels of {of}, which only a run reads from the cluster: the engine's \
         explanation of each of its probes is in the run's reports (`prediction.explanation` in \
         the JSON, the message of a failure)"
    )]
    ResolvedAtRunTime { pod: PodRef, of: String },
}

fn live_note(live: bool) -> &'static str {
    if live {
        " (deployed pods and Services are found at run time: the run's reports explain the probes to them)"
    } else {
        ""
    }
}

fn named(scenario: &Option<String>) -> String {
    scenario
        .as_ref()
        .map(|n| format!(" named {n}"))
        .unwrap_or_default()
}

fn and(to: &Option<String>) -> String {
    to.as_ref().map(|t| format!(" and {t}")).unwrap_or_default()
}

fn hosts(known: &[String]) -> String {
    if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    }
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
    /// Allowed, denied, or `None` when a Service's pods disagree (which one answers is chance).
    pub allowed: Option<bool>,
    /// How the destination becomes the connections below, one line each; empty for a pod or an
    /// address that is not a known host.
    pub route: Vec<String>,
    /// The connections the engine judges: one for a pod or an address, one per pod of a Service,
    /// the DNS lookup then the address for a host.
    pub hops: Vec<Hop>,
}

/// One connection the engine judges.
#[derive(Clone, Debug)]
pub struct Hop {
    pub to: Endpoint,
    pub port: u16,
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

/// Explains `query` in the one scenario of `scenarios` that defines its pods, `hosts` giving
/// the addresses of host destinations.
///
/// # Errors
/// When no scenario or several define the pods, a port name cannot be resolved, a Service has
/// no such port or no pod serving it, a host's address is unknown, or the engine does not know
/// a pod.
pub fn explain(
    scenarios: &[Scenario],
    query: &Query,
    hosts: &HostTable,
) -> Result<Explanation, ExplainError> {
    let scenario = choose(scenarios, query)?;
    for pod in [Some(&query.from), query.to.pod()].into_iter().flatten() {
        if let Some(mimic) = scenario.pod(pod).and_then(|p| p.mimic.as_ref())
            && mimic.copied.is_none()
        {
            return Err(ExplainError::ResolvedAtRunTime {
                pod: pod.clone(),
                of: mimic.of.to_string(),
            });
        }
    }
    let cluster = ScenarioCluster::new(scenario, &Addresses::default());
    let route = route::route(scenario, &cluster, query, hosts)?;
    let judge = |leg: &route::Leg| -> Result<Hop, ExplainError> {
        let decision = cluster
            .decide(&query.from, leg.to.clone(), leg.port, leg.protocol)
            .ok_or(ExplainError::UnknownPod)?;
        let judged = side::Judged {
            scenario,
            cluster: &cluster,
            from: &query.from,
            to: &leg.to,
            port: leg.port,
            protocol: leg.protocol,
        };
        let sides = judged.sides(&decision);
        Ok(Hop {
            to: leg.to.clone(),
            port: leg.port,
            protocol: leg.protocol,
            decision,
            sides,
        })
    };
    let hops = route
        .legs
        .iter()
        .map(judge)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Explanation {
        scenario: scenario.name.clone(),
        location: scenario.location.clone(),
        from: query.from.clone(),
        to: query.to.clone(),
        port: route.port.port,
        port_name: route.port.name,
        protocol: route.port.protocol,
        allowed: route::verdict(&query.to, &hops),
        route: route.lines,
        hops,
    })
}

/// The one scenario (named, if the query names one) that defines the query's pods (and
/// Service).
fn choose<'s>(scenarios: &'s [Scenario], query: &Query) -> Result<&'s Scenario, ExplainError> {
    let candidates: Vec<&Scenario> = scenarios
        .iter()
        .filter(|s| query.scenario.as_ref().is_none_or(|n| *n == s.name))
        .filter(|s| s.pod(&query.from).is_some() && query.to.defined_in(s))
        .collect();
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(ExplainError::NoScenario {
            scenario: query.scenario.clone(),
            from: query.from.clone(),
            to: query.to.needs(),
            live: scenarios.iter().any(Scenario::is_live),
        }),
        several => Err(ExplainError::SeveralScenarios(
            several.iter().map(|s| s.name.clone()).collect(),
        )),
    }
}
