//! The port of a probe to one target: a number, a name the target serves, or the default of its
//! `via`; then its protocol and `via` settled and checked against what the target serves.

use std::collections::BTreeSet;

use netverdict_engine::Protocol;
use serde_saphyr::Spanned;

use super::entry::Expander;
use super::target::Resolved;
use crate::model::{
    PodRef, PodSpec, ServedPort, ServicePort, ServiceSpec, Target, TargetPort, protocol_str,
    via_str,
};
use crate::names;
use crate::raw::{PortRef, Scheme, Via};

/// What a probe asks of the port to a target.
pub(super) struct PortRequest<'p> {
    /// The port as written, if any.
    pub(super) port: Option<&'p Spanned<PortRef>>,
    /// The protocol as written, if any.
    pub(super) protocol: Option<Protocol>,
    /// `via` as written, if any.
    pub(super) via: Option<Via>,
    /// The scheme of an HTTP probe, which sets its default port.
    pub(super) scheme: Scheme,
    /// Where problems of the probe as a whole are reported: the entry, or the matrix port.
    pub(super) path: &'p str,
    /// Where problems of the port are reported: the entry's `port`, or the matrix port.
    pub(super) port_path: &'p str,
}

/// A port settled for one target.
pub(super) struct Port {
    pub(super) number: u16,
    /// The port's name, when the probe named it or the target serves it under a name.
    pub(super) name: Option<String>,
    pub(super) protocol: Protocol,
    pub(super) via: Via,
}

/// Where one probe goes, settled: the target and its port.
pub(super) struct Destination {
    pub(super) target: Target,
    pub(super) port: Port,
}

/// The port as chosen, before its protocol is settled.
struct ChosenPort {
    number: u16,
    name: Option<String>,
    /// The protocol of a named port, as the target serves it.
    protocol: Option<Protocol>,
}

/// The `via` a protocol has when the probe does not say.
pub(super) fn default_via(protocol: Protocol) -> Via {
    match protocol {
        Protocol::Tcp => Via::Tcp,
        Protocol::Udp => Via::Udp,
        Protocol::Sctp => Via::Sctp,
    }
}

impl Expander<'_, '_> {
    /// The destination of a probe to `target`: number, name, protocol and `via`, checking the
    /// target serves it.
    pub(super) fn destination(
        &mut self,
        target: &Resolved,
        request: &PortRequest<'_>,
    ) -> Option<Destination> {
        let chosen = self.chosen_port(target, request)?;
        let port = self.settle(chosen, request)?;
        let target = match target {
            Resolved::Pod(p) => return self.on_pod(p, port, request),
            Resolved::Service(ns, svc) => return self.on_service(ns, svc, port, request),
            Resolved::Host(h) => Target::Host(h.clone()),
            Resolved::Ip(ip) => Target::Ip(*ip),
            Resolved::ClusterDns => Target::ClusterDns,
            // What a deployed target serves is known at run time.
            Resolved::Live(live) => Target::Live(live.clone()),
            Resolved::LiveService {
                namespace,
                name,
                written,
            } => Target::LiveService {
                namespace: namespace.clone(),
                name: name.clone(),
                written: written.clone(),
            },
        };
        Some(Destination { target, port })
    }

    fn chosen_port(&mut self, target: &Resolved, request: &PortRequest<'_>) -> Option<ChosenPort> {
        let unnamed = |number| ChosenPort {
            number,
            name: None,
            protocol: None,
        };
        let Some(port) = request.port else {
            return match request.via {
                Some(Via::Dns) => Some(unnamed(53)),
                Some(Via::Http) if request.scheme == Scheme::Https => Some(unnamed(443)),
                Some(Via::Http) => Some(unnamed(80)),
                _ => {
                    self.report.error(
                        request.path,
                        "`port` is required (only dns and http probes have a default port)",
                    );
                    None
                }
            };
        };
        match &port.value {
            PortRef::Number(n) => match u16::try_from(*n) {
                Ok(n) if n > 0 => Some(unnamed(n)),
                _ => {
                    self.report.error_at(
                        port,
                        request.port_path,
                        format!("port {n} is out of range: use 1 to 65535"),
                    );
                    None
                }
            },
            PortRef::Name(wanted) => self.named_port(target, wanted, port, request.port_path),
        }
    }

    /// The port `target` serves under the name `wanted`.
    fn named_port(
        &mut self,
        target: &Resolved,
        wanted: &str,
        spanned: &Spanned<PortRef>,
        port_path: &str,
    ) -> Option<ChosenPort> {
        let found = |number, protocol| ChosenPort {
            number,
            name: Some(wanted.to_string()),
            protocol: Some(protocol),
        };
        let message = match target {
            Resolved::Pod(p) => {
                let pod = find_pod(self.pods, p)?;
                if let Some(sp) = pod
                    .ports
                    .iter()
                    .find(|sp| sp.name.as_deref() == Some(wanted))
                {
                    return Some(found(sp.port, sp.protocol));
                }
                let hint =
                    names::suggestion(wanted, pod.ports.iter().filter_map(|sp| sp.name.as_deref()));
                format!("pod {p} serves no port named {wanted}{hint}")
            }
            Resolved::Service(ns, svc) => {
                let service = find_service(self.services, ns, svc)?;
                if let Some(sp) = service
                    .ports
                    .iter()
                    .find(|sp| sp.name.as_deref() == Some(wanted))
                {
                    return Some(found(sp.port, sp.protocol));
                }
                format!("service {ns}/{svc} has no port named {wanted}")
            }
            // Looked up in the deployed pods' container ports (or the Service's) at run time.
            Resolved::Live(_) | Resolved::LiveService { .. } => {
                return Some(ChosenPort {
                    number: 0,
                    name: Some(wanted.to_string()),
                    protocol: None,
                });
            }
            _ => "port names only work for scenario pods and services; give a number".to_string(),
        };
        self.report.error_at(spanned, port_path, message);
        None
    }

    /// The protocol and `via` of `chosen`: a named port's own protocol, else the one written or
    /// implied by `via`, else TCP; `via` the protocol's own unless written, and able to run
    /// over the protocol.
    fn settle(&mut self, chosen: ChosenPort, request: &PortRequest<'_>) -> Option<Port> {
        if let (Some(explicit), Some(named)) = (request.protocol, chosen.protocol)
            && explicit != named
        {
            let message = format!(
                "port {} is {} but the probe says protocol {}",
                chosen.name.as_deref().unwrap_or_default(),
                protocol_str(named),
                protocol_str(explicit)
            );
            self.report.error(request.port_path, message);
            return None;
        }
        let hinted = request.protocol.or(request.via.map(|v| match v {
            Via::Udp | Via::Dns => Protocol::Udp,
            Via::Sctp => Protocol::Sctp,
            Via::Tcp | Via::Http => Protocol::Tcp,
        }));
        let protocol = chosen.protocol.or(hinted).unwrap_or(Protocol::Tcp);
        let via = request.via.unwrap_or(default_via(protocol));
        let compatible = match via {
            Via::Tcp | Via::Http => protocol == Protocol::Tcp,
            Via::Udp => protocol == Protocol::Udp,
            Via::Sctp => protocol == Protocol::Sctp,
            Via::Dns => protocol != Protocol::Sctp,
        };
        if !compatible {
            let message = format!(
                "via {} cannot run over {}",
                via_str(via),
                protocol_str(protocol)
            );
            self.report.error(request.path, message);
            return None;
        }
        Some(Port {
            number: chosen.number,
            name: chosen.name,
            protocol,
            via,
        })
    }

    /// A scenario pod that serves `port`.
    fn on_pod(&mut self, p: &PodRef, port: Port, request: &PortRequest<'_>) -> Option<Destination> {
        let pod = find_pod(self.pods, p)?;
        let Some(served) = pod
            .ports
            .iter()
            .find(|sp| sp.port == port.number && sp.protocol == port.protocol)
        else {
            let mut message = format!(
                "port {}/{} is not served by {p} (it serves {})",
                port.number,
                protocol_str(port.protocol),
                served_list(&pod.ports)
            );
            if let Some(other) = pod.ports.iter().find(|sp| sp.port == port.number) {
                message.push_str(&format!(
                    "; add `protocol: {}`",
                    protocol_str(other.protocol)
                ));
            }
            match request.port {
                Some(s) => self.report.error_at(s, request.port_path, message),
                None => self.report.error(request.path, message),
            }
            return None;
        };
        let name = port.name.or_else(|| served.name.clone());
        Some(Destination {
            target: Target::Pod(p.clone()),
            port: Port { name, ..port },
        })
    }

    /// A scenario service with `port`, whose pods all serve its target port on one number.
    fn on_service(
        &mut self,
        ns: &str,
        svc: &str,
        port: Port,
        request: &PortRequest<'_>,
    ) -> Option<Destination> {
        let service = find_service(self.services, ns, svc)?;
        let Some(sp) = service
            .ports
            .iter()
            .find(|sp| sp.port == port.number && sp.protocol == port.protocol)
        else {
            let message = format!(
                "service {ns}/{svc} has no port {}/{}",
                port.number,
                protocol_str(port.protocol)
            );
            self.report.error(request.port_path, message);
            return None;
        };
        let backends: Vec<&PodSpec> = self
            .pods
            .iter()
            .filter(|p| {
                p.namespace == ns
                    && service
                        .selector
                        .iter()
                        .all(|(k, v)| p.labels.get(k) == Some(v))
            })
            .collect();
        if backends.is_empty() {
            self.report.error(
                request.path,
                format!("service {ns}/{svc} selects no pod of this scenario"),
            );
            return None;
        }
        let target_port = self.backend_port(ns, svc, sp, &port, &backends, request.path)?;
        let name = port.name.or_else(|| sp.name.clone());
        Some(Destination {
            target: Target::Service {
                namespace: ns.to_string(),
                name: svc.to_string(),
                backends: backends.iter().map(|b| b.pod_ref()).collect(),
                target_port,
                live: false,
            },
            port: Port { name, ..port },
        })
    }

    /// The number every backend receives service port `sp` on.
    fn backend_port(
        &mut self,
        ns: &str,
        svc: &str,
        sp: &ServicePort,
        port: &Port,
        backends: &[&PodSpec],
        path: &str,
    ) -> Option<u16> {
        let mut target_ports = BTreeSet::new();
        for b in backends {
            let found = match &sp.target_port {
                TargetPort::Number(n) => b
                    .ports
                    .iter()
                    .find(|x| x.port == *n && x.protocol == port.protocol),
                TargetPort::Name(n) => b
                    .ports
                    .iter()
                    .find(|x| x.name.as_deref() == Some(n.as_str())),
            };
            let Some(found) = found else {
                let target = match &sp.target_port {
                    TargetPort::Number(n) => n.to_string(),
                    TargetPort::Name(n) => n.clone(),
                };
                let message = format!(
                    "service {ns}/{svc} sends port {} to {target}, which its pod {} does not serve",
                    port.number,
                    b.pod_ref()
                );
                self.report.error(path, message);
                return None;
            };
            target_ports.insert(found.port);
        }
        if target_ports.len() > 1 {
            self.report.error(
                path,
                format!(
                    "service {ns}/{svc}'s pods serve its named target port on different numbers"
                ),
            );
            return None;
        }
        Some(target_ports.into_iter().next().unwrap_or(port.number))
    }
}

fn find_pod<'p>(pods: &'p [PodSpec], p: &PodRef) -> Option<&'p PodSpec> {
    pods.iter().find(|x| x.pod_ref() == *p)
}

fn find_service<'s>(services: &'s [ServiceSpec], ns: &str, svc: &str) -> Option<&'s ServiceSpec> {
    services.iter().find(|s| s.namespace == ns && s.name == svc)
}

/// The ports a pod serves, for a message.
fn served_list(ports: &[ServedPort]) -> String {
    if ports.is_empty() {
        return "no port".into();
    }
    ports
        .iter()
        .map(|p| match &p.name {
            Some(n) => format!("{}/{} ({n})", p.port, protocol_str(p.protocol)),
            None => format!("{}/{}", p.port, protocol_str(p.protocol)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
