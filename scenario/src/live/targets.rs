//! The deployed pods a live target picks, the ports they serve, and a live Service's Ready pods.

use std::collections::BTreeSet;

use netverdict_engine::Protocol;

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
) -> Result<Vec<&'s LivePod>, String> {
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
fn no_ready_pod(what: &str, pods: &[&LivePod]) -> String {
    if pods.is_empty() {
        return format!("{what} has no pod");
    }
    let states: Vec<String> = pods
        .iter()
        .map(|p| match (p.ready, p.ip) {
            (_, None) => format!("{} has no IP yet", p.name),
            (false, _) => format!("{} is not Ready", p.name),
            (true, _) => format!("{} is Ready", p.name),
        })
        .collect();
    format!("{what} has no Ready pod ({})", states.join(", "))
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
) -> Result<(u16, Option<String>), String> {
    let protocol = protocol_str(asked.protocol);
    if let (0, Some(name)) = (asked.number, asked.name) {
        let Some(port) = pod.ports.iter().find(|p| p.name.as_deref() == Some(name)) else {
            return Err(format!(
                "{what} has no container port named {name} (pod {} declares {})",
                pod.name,
                declared(&pod.ports)
            ));
        };
        if port.protocol != asked.protocol {
            return Err(format!(
                "port {name} of {what} is {}/{} but the probe is {protocol}: add `protocol: {}`",
                port.port,
                protocol_str(port.protocol),
                protocol_str(port.protocol)
            ));
        }
        return Ok((port.port, Some(name.to_owned())));
    }
    match pod
        .ports
        .iter()
        .find(|p| p.port == asked.number && p.protocol == asked.protocol)
    {
        Some(port) => Ok((port.port, port.name.clone())),
        None => Err(format!(
            "{what} does not expose port {}/{protocol} (pod {} declares {})",
            asked.number,
            pod.name,
            declared(&pod.ports)
        )),
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
) -> Result<ServiceTarget<'s>, String> {
    let what = format!("service {namespace}/{name}");
    let service = state
        .service(namespace, name)
        .ok_or_else(|| format!("{what} does not exist"))?;
    if service.cluster_ip.is_none() {
        return Err(format!(
            "{what} is headless (no ClusterIP): target its pods instead"
        ));
    }
    let Some(selector) = &service.selector else {
        return Err(format!(
            "{what} has no selector: its endpoints are not pods netverdict can find; target its pods instead"
        ));
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
            format!(
                "{what} has no port {asked} (its ports: {})",
                ports.join(", ")
            )
        })?;
    let selected = LiveSelection::Pods {
        namespace: namespace.to_owned(),
        selector: netverdict_engine::LabelSelector {
            match_labels: selector.clone(),
            match_expressions: Vec::new(),
        },
    };
    let ready = ready_pods(&selected, state)
        .map_err(|_| format!("{what} has no Ready pod (its selector selects {selected})"))?;
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
            return Err(format!(
                "{what}: none of its Ready pods serves its target port for port {}",
                port.port
            ));
        }
        _ => {
            let list: Vec<String> = numbers.iter().map(u16::to_string).collect();
            return Err(format!(
                "{what}'s Ready pods serve its named target port on different numbers ({}): which one answers is chance",
                list.join(", ")
            ));
        }
    };
    Ok(ServiceTarget {
        backends,
        port: port.port,
        name: port.name.clone(),
        target_port,
    })
}
