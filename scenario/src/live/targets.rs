//! The deployed pods a live target picks, the ports they serve, and a live Service's Ready pods.

use std::collections::BTreeSet;

use netverdict_engine::Protocol;

use super::error::Unresolvable;
use super::state::LiveState;
use crate::model::{LivePod, LiveSelection, Pick, ServedPort, TargetPort, protocol_str};

/// The pods `pick` chooses among `ready` ones (sorted by name): all, the first, or the first on
/// each node.
pub(crate) fn pick<'p>(pick: Pick, ready: &[&'p LivePod]) -> Vec<&'p LivePod> {
    match pick {
        Pick::All => ready.to_vec(),
        Pick::One => ready.iter().take(1).copied().collect(),
        Pick::PerNode => {
            let mut nodes = BTreeSet::new();
            let mut out: Vec<&LivePod> = ready
                .iter()
                .filter(|p| nodes.insert(p.node.clone()))
                .copied()
                .collect();
            out.sort_by(|a, b| (&a.node, &a.name).cmp(&(&b.node, &b.name)));
            out
        }
    }
}

/// The Ready pods (with an address) of `selection`; `Err` says why there is none.
pub(super) fn ready_pods<'s>(
    selection: &LiveSelection,
    state: &'s LiveState,
) -> Result<Vec<&'s LivePod>, Unresolvable> {
    let pods = state.pods_of(selection)?;
    let ready: Vec<&LivePod> = pods
        .iter()
        .filter(|p| p.ready && p.ip.is_some())
        .copied()
        .collect();
    if ready.is_empty() {
        return Err(no_ready_pod(&selection.to_string(), &pods));
    }
    Ok(ready)
}

/// Why `what` cannot be probed: it has no pod, or none is Ready.
fn no_ready_pod(what: &str, pods: &[&LivePod]) -> Unresolvable {
    if pods.is_empty() {
        return Unresolvable::NoPod {
            what: what.to_owned(),
        };
    }
    let states: Vec<String> = pods
        .iter()
        .map(|p| match (p.ready, p.ip) {
            (_, None) => format!("{} has no IP yet", p.name),
            (false, _) => format!("{} is not Ready", p.name),
            (true, _) => format!("{} is Ready", p.name),
        })
        .collect();
    Unresolvable::NoReadyPod {
        what: what.to_owned(),
        states: states.join(", "),
    }
}

/// What a probe asks of a deployed pod's ports: a number, or a name (number 0), and the
/// protocol.
#[derive(Clone, Copy, Debug)]
pub(super) struct PortAsked<'a> {
    pub(super) number: u16,
    pub(super) name: Option<&'a str>,
    pub(super) protocol: Protocol,
}

/// The port of `pod` (of `what`) that `asked` means, among its containers' ports: its number
/// and name.
pub(super) fn container_port(
    pod: &LivePod,
    asked: PortAsked<'_>,
    what: &LiveSelection,
) -> Result<(u16, Option<String>), Unresolvable> {
    let protocol = protocol_str(asked.protocol);
    if let (0, Some(name)) = (asked.number, asked.name) {
        let Some(port) = pod.ports.iter().find(|p| p.name.as_deref() == Some(name)) else {
            return Err(Unresolvable::NoPortNamed {
                what: what.to_string(),
                name: name.to_owned(),
                pod: pod.name.clone(),
                declared: declared(&pod.ports),
            });
        };
        if port.protocol != asked.protocol {
            return Err(Unresolvable::ProtocolMismatch {
                what: what.to_string(),
                name: name.to_owned(),
                served: format!("{}/{}", port.port, protocol_str(port.protocol)),
                asked: protocol,
                protocol: protocol_str(port.protocol),
            });
        }
        return Ok((port.port, Some(name.to_owned())));
    }
    match pod
        .ports
        .iter()
        .find(|p| p.port == asked.number && p.protocol == asked.protocol)
    {
        Some(port) => Ok((port.port, port.name.clone())),
        None => Err(Unresolvable::NotExposed {
            what: what.to_string(),
            port: format!("{}/{protocol}", asked.number),
            pod: pod.name.clone(),
            declared: declared(&pod.ports),
        }),
    }
}

/// The container ports of a pod, for a message.
fn declared(ports: &[ServedPort]) -> String {
    if ports.is_empty() {
        return "no container port".to_owned();
    }
    let list: Vec<String> = ports
        .iter()
        .map(|p| match &p.name {
            Some(name) => format!("{name} {}/{}", p.port, protocol_str(p.protocol)),
            None => format!("{}/{}", p.port, protocol_str(p.protocol)),
        })
        .collect();
    list.join(", ")
}

/// A live Service resolved for one probe.
#[derive(Debug)]
pub(super) struct ServiceTarget<'s> {
    /// Its Ready pods that serve the target port.
    pub(super) backends: Vec<&'s LivePod>,
    /// The Service port and its name.
    pub(super) port: u16,
    pub(super) name: Option<String>,
    /// The port the backends receive the connection on.
    pub(super) target_port: u16,
}

/// The Service `namespace/name`'s port that `asked` means, and its Ready pods.
pub(super) fn service_target<'s>(
    namespace: &str,
    name: &str,
    asked: PortAsked<'_>,
    state: &'s LiveState,
) -> Result<ServiceTarget<'s>, Unresolvable> {
    let what = format!("service {namespace}/{name}");
    let service = state
        .service(namespace, name)
        .ok_or_else(|| Unresolvable::NoService { what: what.clone() })?;
    if service.cluster_ip.is_none() {
        return Err(Unresolvable::Headless { what });
    }
    let Some(selector) = &service.selector else {
        return Err(Unresolvable::NoSelector { what });
    };
    let port = service
        .ports
        .iter()
        .find(|p| match (asked.number, asked.name) {
            (0, Some(wanted)) => p.name.as_deref() == Some(wanted),
            (number, _) => p.port == number && p.protocol == asked.protocol,
        })
        .ok_or_else(|| {
            let ports: Vec<String> = service
                .ports
                .iter()
                .map(|p| format!("{}/{}", p.port, protocol_str(p.protocol)))
                .collect();
            let asked = asked
                .name
                .filter(|_| asked.number == 0)
                .map_or_else(|| asked.number.to_string(), str::to_owned);
            Unresolvable::NoServicePort {
                what: what.clone(),
                asked,
                ports: ports.join(", "),
            }
        })?;
    let selected = LiveSelection::Pods {
        namespace: namespace.to_owned(),
        selector: netverdict_engine::LabelSelector {
            match_labels: selector.clone(),
            match_expressions: Vec::new(),
        },
    };
    let ready = ready_pods(&selected, state).map_err(|_| Unresolvable::NoReadyBackend {
        what: what.clone(),
        selected: selected.to_string(),
    })?;
    let (backends, target_port) = backends(&what, port, ready)?;
    Ok(ServiceTarget {
        backends,
        port: port.port,
        name: port.name.clone(),
        target_port,
    })
}

/// The Ready pods of a Service that serve its `port`'s target port, and the number they serve
/// it on.
fn backends<'s>(
    what: &str,
    port: &crate::model::ServicePort,
    ready: Vec<&'s LivePod>,
) -> Result<(Vec<&'s LivePod>, u16), Unresolvable> {
    let mut backends = Vec::new();
    let mut numbers = BTreeSet::new();
    for pod in ready {
        let number = match &port.target_port {
            TargetPort::Number(n) => Some(*n),
            TargetPort::Name(wanted) => pod
                .ports
                .iter()
                .find(|p| p.name.as_deref() == Some(wanted.as_str()) && p.protocol == port.protocol)
                .map(|p| p.port),
        };
        // As the endpoints controller does: a pod without the named port is no endpoint of it.
        if let Some(number) = number {
            numbers.insert(number);
            backends.push(pod);
        }
    }
    let target_port = match (numbers.len(), numbers.first()) {
        (1, Some(number)) => *number,
        (0, _) => {
            return Err(Unresolvable::NoBackendPort {
                what: what.to_owned(),
                port: port.port,
            });
        }
        _ => {
            let list: Vec<String> = numbers.iter().map(u16::to_string).collect();
            return Err(Unresolvable::TargetPortsDiffer {
                what: what.to_owned(),
                numbers: list.join(", "),
            });
        }
    };
    Ok((backends, target_port))
}
