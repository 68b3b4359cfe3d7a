//! How a destination becomes the connections the engine judges. A pod, an address and the
//! cluster DNS are one connection; a Service is one per pod its selector picks, on the port it
//! sends to (kube-proxy translates before any policy applies); a host is the DNS lookup the
//! source makes first, then the connection to the host's address.

use netverdict_engine::{Endpoint, Protocol};

use super::port::{self, Chosen};
use super::{Destination, ExplainError, Hop, Query};
use crate::expect::{
    DNS_NAMESPACE, DNS_POD, DNS_POD_LABEL, HostTable, ScenarioCluster, dns_endpoint, pod_endpoint,
};
use crate::model::{PodRef, Scenario, ServiceSpec};

/// The connections to judge for a query, and how they follow from its destination.
pub(super) struct Route {
    /// The port the query names, as the destination serves it.
    pub port: Chosen,
    /// How the destination becomes the connections, one line each.
    pub lines: Vec<String>,
    pub legs: Vec<Leg>,
}

/// One connection to judge.
pub(super) struct Leg {
    pub to: Endpoint,
    pub port: u16,
    pub protocol: Protocol,
}

pub(super) fn route(
    scenario: &Scenario,
    cluster: &ScenarioCluster,
    query: &Query,
    hosts: &HostTable,
) -> Result<Route, ExplainError> {
    match &query.to {
        Destination::Pod(pod) => {
            let port = port::choose(cluster, Some(pod), query)?;
            Ok(direct(pod_endpoint(pod), port, Vec::new()))
        }
        Destination::ClusterDns => {
            let dns = PodRef::new(DNS_NAMESPACE, DNS_POD);
            let port = port::choose(cluster, Some(&dns), query)?;
            let (key, value) = DNS_POD_LABEL;
            let line = format!("the cluster DNS is pod {dns}, labelled {key}={value}");
            Ok(direct(dns_endpoint(), port, vec![line]))
        }
        Destination::Ip(ip) => {
            let port = port::choose(cluster, None, query)?;
            let lines = hosts
                .iter()
                .filter(|(_, address)| address == ip)
                .map(|(host, _)| format!("{ip} is the known host {host}"))
                .collect();
            Ok(direct(Endpoint::Ip(*ip), port, lines))
        }
        Destination::Host(host) => to_host(cluster, query, host, hosts),
        Destination::Service { namespace, name } => {
            let service = scenario
                .services
                .iter()
                .find(|s| s.namespace == *namespace && s.name == *name)
                .ok_or(ExplainError::UnknownPod)?;
            to_service(cluster, query, service)
        }
    }
}

fn direct(to: Endpoint, port: Chosen, lines: Vec<String>) -> Route {
    let leg = Leg {
        to,
        port: port.port,
        protocol: port.protocol,
    };
    Route {
        port,
        lines,
        legs: vec![leg],
    }
}

/// The DNS lookup of `host`, then the connection to its address.
fn to_host(
    cluster: &ScenarioCluster,
    query: &Query,
    host: &str,
    hosts: &HostTable,
) -> Result<Route, ExplainError> {
    let Some(ip) = hosts.get(host) else {
        return Err(ExplainError::UnknownHost {
            host: host.to_string(),
            known: hosts.iter().map(|(h, ip)| format!("{h} ({ip})")).collect(),
        });
    };
    let port = port::choose(cluster, None, query)?;
    let lookup = Leg {
        to: dns_endpoint(),
        port: 53,
        protocol: Protocol::Udp,
    };
    let connection = Leg {
        to: Endpoint::Ip(ip),
        port: port.port,
        protocol: port.protocol,
    };
    let line = format!(
        "{host} is {ip} (a known host): the source resolves it through the cluster DNS first"
    );
    Ok(Route {
        port,
        lines: vec![line],
        legs: vec![lookup, connection],
    })
}

/// One connection per pod `service` selects, on the port it sends the query's port to.
fn to_service(
    cluster: &ScenarioCluster,
    query: &Query,
    service: &ServiceSpec,
) -> Result<Route, ExplainError> {
    let (port, sp) = port::on_service(service, query)?;
    let backends = cluster.cluster.pods.iter().filter(|p| {
        p.namespace == service.namespace
            && service
                .selector
                .iter()
                .all(|(k, v)| p.labels.get(k) == Some(v))
    });
    let legs: Vec<Leg> = backends
        .filter_map(|pod| {
            Some(Leg {
                to: Endpoint::Pod {
                    namespace: pod.namespace.clone(),
                    name: pod.name.clone(),
                },
                port: port::target_port(sp, pod)?,
                protocol: sp.protocol,
            })
        })
        .collect();
    let service_name = format!("{}/{}", service.namespace, service.name);
    if legs.is_empty() {
        return Err(ExplainError::NoBackend {
            service: service_name,
            port: port.port,
        });
    }
    let pods: Vec<String> = legs
        .iter()
        .map(|l| format!("{} on {}", l.to, l.port))
        .collect();
    let line = format!(
        "service {service_name} sends port {} to its pods: {}",
        port.port,
        pods.join(", ")
    );
    Ok(Route {
        port,
        lines: vec![line],
        legs,
    })
}

/// The verdict on the whole route: a host needs its lookup and its connection allowed; a
/// Service's pods must agree, or which one answers decides (`None`).
pub(super) fn verdict(to: &Destination, hops: &[Hop]) -> Option<bool> {
    let allowed = |h: &Hop| h.decision.allowed;
    match to {
        Destination::Service { .. } => {
            let first = hops.first().map(allowed)?;
            hops.iter().all(|h| allowed(h) == first).then_some(first)
        }
        _ => Some(hops.iter().all(allowed)),
    }
}
