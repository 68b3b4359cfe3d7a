//! The port and protocol a query names: a number, or a port name of the destination pod or
//! Service, which brings its protocol.

use netverdict_engine::{Pod, Protocol};

use super::{ExplainError, PortChoice, Query};
use crate::expect::ScenarioCluster;
use crate::model::{PodRef, ServicePort, ServiceSpec, TargetPort, protocol_str};

/// The port a query's connection goes to.
pub(super) struct Chosen {
    pub port: u16,
    /// The name the query gave it by.
    pub name: Option<String>,
    pub protocol: Protocol,
}

/// The port of `query`, looked up among the ports of the destination pod `to` (as the engine
/// knows them, so the cluster DNS pod's ports count too) when it is a name.
pub(super) fn choose(
    cluster: &ScenarioCluster,
    to: Option<&PodRef>,
    query: &Query,
) -> Result<Chosen, ExplainError> {
    let name = match &query.port {
        PortChoice::Number(n) => {
            return Ok(Chosen {
                port: *n,
                name: None,
                protocol: query.protocol.unwrap_or(Protocol::Tcp),
            });
        }
        PortChoice::Name(name) => name,
    };
    let pod = to
        .and_then(|t| cluster.cluster.pod(&t.namespace, &t.name))
        .ok_or(ExplainError::PortNameNeedsPod)?;
    let pod_ref = PodRef::new(&pod.namespace, &pod.name);
    let served = pod
        .ports
        .iter()
        .find(|p| p.name.as_deref() == Some(name.as_str()))
        .ok_or_else(|| ExplainError::NoPortNamed {
            name: name.clone(),
            pod: pod_ref.clone(),
            ports: named_ports(pod),
        })?;
    if let Some(asked) = query.protocol.filter(|p| *p != served.protocol) {
        return Err(ExplainError::ProtocolMismatch {
            name: name.clone(),
            pod: pod_ref,
            served: served.protocol,
            asked,
        });
    }
    Ok(Chosen {
        port: served.port,
        name: Some(name.clone()),
        protocol: served.protocol,
    })
}

/// `pod`'s named ports, as `http (8080/TCP)`.
fn named_ports(pod: &Pod) -> Vec<String> {
    pod.ports
        .iter()
        .filter_map(|p| {
            let name = p.name.as_ref()?;
            Some(format!("{name} ({}/{})", p.port, protocol_str(p.protocol)))
        })
        .collect()
}

/// The end of a "no port named" message: the valid names, or that there are none.
pub(super) fn listing(ports: &[String]) -> String {
    if ports.is_empty() {
        "it names none of its ports".to_string()
    } else {
        format!("its ports: {}", ports.join(", "))
    }
}

/// The port of `service` that `query` names (by number, with its protocol when given, or by
/// name), and what it brings.
pub(super) fn on_service<'s>(
    service: &'s ServiceSpec,
    query: &Query,
) -> Result<(Chosen, &'s ServicePort), ExplainError> {
    let found = service.ports.iter().find(|sp| match &query.port {
        PortChoice::Number(n) => sp.port == *n && query.protocol.is_none_or(|p| p == sp.protocol),
        PortChoice::Name(name) => sp.name.as_deref() == Some(name.as_str()),
    });
    let Some(sp) = found else {
        let port = match &query.port {
            PortChoice::Number(n) => n.to_string(),
            PortChoice::Name(name) => format!("named `{name}`"),
        };
        return Err(ExplainError::NoServicePort {
            service: format!("{}/{}", service.namespace, service.name),
            port,
            ports: service.ports.iter().map(service_port).collect(),
        });
    };
    if let Some(asked) = query.protocol.filter(|p| *p != sp.protocol) {
        return Err(ExplainError::ProtocolMismatch {
            name: sp.name.clone().unwrap_or_else(|| sp.port.to_string()),
            pod: PodRef::new(&service.namespace, &service.name),
            served: sp.protocol,
            asked,
        });
    }
    let chosen = Chosen {
        port: sp.port,
        name: sp.name.clone(),
        protocol: sp.protocol,
    };
    Ok((chosen, sp))
}

/// The number `backend` receives service port `sp` on, if it serves it.
pub(super) fn target_port(sp: &ServicePort, backend: &Pod) -> Option<u16> {
    match &sp.target_port {
        TargetPort::Number(n) => Some(*n),
        TargetPort::Name(name) => backend
            .ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.port),
    }
}

/// A Service port as `http 80/TCP -> 8080`.
fn service_port(sp: &ServicePort) -> String {
    let name = sp
        .name
        .as_ref()
        .map(|n| format!("{n} "))
        .unwrap_or_default();
    let target = match &sp.target_port {
        TargetPort::Number(n) => n.to_string(),
        TargetPort::Name(n) => n.clone(),
    };
    format!(
        "{name}{}/{} -> {target}",
        sp.port,
        protocol_str(sp.protocol)
    )
}
