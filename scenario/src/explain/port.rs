//! The port and protocol a query names: a number, or a port name of the destination pod, which
//! brings its protocol.

use netverdict_engine::{Pod, Protocol};

use super::{ExplainError, PortChoice, Query};
use crate::expect::ScenarioCluster;
use crate::model::{PodRef, protocol_str};

/// The port a query's connection goes to.
pub(super) struct Chosen {
    pub port: u16,
    /// The name the query gave it by.
    pub name: Option<String>,
    pub protocol: Protocol,
}

/// The port of `query`, looked up among the destination pod's ports (as the engine knows them,
/// so the cluster DNS pod's ports count too) when it is a name.
pub(super) fn choose(cluster: &ScenarioCluster, query: &Query) -> Result<Chosen, ExplainError> {
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
    let pod = query
        .to
        .pod()
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
