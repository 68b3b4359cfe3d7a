//! `spec.services`: Services in front of scenario pods, their selectors and ports.

use serde_saphyr::Spanned;

use crate::model::{NamespaceSpec, ServicePort, ServiceSpec, TargetPort, engine_protocol};
use crate::names;
use crate::raw::{self, PortRef};

use super::Validator;

impl Validator<'_, '_> {
    pub(super) fn services(
        &mut self,
        raw: &[raw::RawService],
        namespaces: &[NamespaceSpec],
    ) -> Vec<ServiceSpec> {
        let mut out: Vec<ServiceSpec> = Vec::new();
        for (i, svc) in raw.iter().enumerate() {
            let path = format!("spec.services[{i}]");
            let name = svc.name.value.clone();
            self.report
                .dns_label(&svc.name, &format!("{path}.name"), "service");
            self.namespace_exists(namespaces, &svc.namespace, &format!("{path}.namespace"));
            let namespace = svc.namespace.value.clone();
            if out
                .iter()
                .any(|s| s.name == name && s.namespace == namespace)
            {
                self.report.defined_twice(
                    &svc.name,
                    &format!("{path}.name"),
                    "service",
                    &namespace,
                );
                continue;
            }
            let selector = self
                .report
                .labels(&svc.selector, &format!("{path}.selector"));
            if selector.is_empty() {
                self.report.error(
                    &format!("{path}.selector"),
                    "a service needs a non-empty selector to pick its pods",
                );
            }
            let ports = self.service_ports(&svc.ports, &path);
            if ports.is_empty() {
                self.report.error(
                    &format!("{path}.ports"),
                    "a service needs at least one port",
                );
            }
            out.push(ServiceSpec {
                namespace,
                name,
                selector,
                ports,
                location: self.report.doc.spanned(&svc.name, &path),
            });
        }
        out
    }

    /// The ports of a service; number and protocol unique within the service.
    fn service_ports(&mut self, raw: &[raw::RawServicePort], path: &str) -> Vec<ServicePort> {
        let mut ports: Vec<ServicePort> = Vec::new();
        for (j, port) in raw.iter().enumerate() {
            let at = format!("{path}.ports[{j}]");
            let Some(number) = self.report.port_number(&port.port, &format!("{at}.port")) else {
                continue;
            };
            let protocol = engine_protocol(port.protocol.unwrap_or_default());
            let Some(target_port) = self.target_port(port.target_port.as_ref(), number, &at) else {
                continue;
            };
            if let Some(n) = &port.name
                && let Err(e) = names::port_name(n)
            {
                self.report
                    .error(&format!("{at}.name"), format!("{e} (a port name)"));
            }
            let listed = ports.iter().map(|p| (p.port, p.protocol));
            self.report.unique_port(listed, number, protocol, &at);
            ports.push(ServicePort {
                name: port.name.clone(),
                port: number,
                protocol,
                target_port,
            });
        }
        ports
    }

    /// The port a service sends `number` to on its pods (`number` itself by default).
    fn target_port(
        &mut self,
        target_port: Option<&Spanned<PortRef>>,
        number: u16,
        at: &str,
    ) -> Option<TargetPort> {
        let Some(t) = target_port else {
            return Some(TargetPort::Number(number));
        };
        match &t.value {
            PortRef::Number(n) => match u16::try_from(*n) {
                Ok(n) if n > 0 => Some(TargetPort::Number(n)),
                _ => {
                    self.report.error_at(
                        t,
                        &format!("{at}.targetPort"),
                        format!("port {n} is out of range: use 1 to 65535"),
                    );
                    None
                }
            },
            PortRef::Name(n) => {
                if let Err(e) = names::port_name(n) {
                    self.report.error_at(
                        t,
                        &format!("{at}.targetPort"),
                        format!("{e} (a port name)"),
                    );
                }
                Some(TargetPort::Name(n.clone()))
            }
        }
    }
}
