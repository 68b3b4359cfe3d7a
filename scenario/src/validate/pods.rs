//! `spec.pods`: the probe pods, their labels and the ports they serve.

use crate::model::{NamespaceSpec, PodSpec, ServedPort, engine_protocol};
use crate::names;
use crate::raw;

use super::Validator;

impl Validator<'_, '_> {
    pub(super) fn pods(&mut self, raw: &[raw::RawPod], namespaces: &[NamespaceSpec]) {
        for (i, pod) in raw.iter().enumerate() {
            let path = format!("spec.pods[{i}]");
            let name = pod.name.value.clone();
            self.report
                .dns_label(&pod.name, &format!("{path}.name"), "pod");
            let ns_ok =
                self.namespace_exists(namespaces, &pod.namespace, &format!("{path}.namespace"));
            let namespace = pod.namespace.value.clone();
            if self
                .pods
                .iter()
                .any(|p| p.name == name && p.namespace == namespace)
            {
                self.report
                    .defined_twice(&pod.name, &format!("{path}.name"), "pod", &namespace);
                continue;
            }
            let labels = self.report.labels(&pod.labels, &format!("{path}.labels"));
            let ports = self.served_ports(&pod.ports, &path);
            if let Some(node) = &pod.node
                && !node.is_empty()
                && let Err(e) = names::dns1123_subdomain(node)
            {
                self.report
                    .error(&format!("{path}.node"), format!("{e} (a node name)"));
            }
            if ns_ok || !namespace.is_empty() {
                self.pods.push(PodSpec {
                    namespace,
                    name,
                    labels,
                    ports,
                    node: pod.node.clone().filter(|n| !n.is_empty()),
                    location: self.report.doc.spanned(&pod.name, &path),
                    mimic: None,
                });
            }
        }
    }

    /// The ports a pod serves; numbers and names unique within the pod.
    fn served_ports(&mut self, raw: &[raw::RawServedPort], path: &str) -> Vec<ServedPort> {
        let mut ports: Vec<ServedPort> = Vec::new();
        for (j, port) in raw.iter().enumerate() {
            let at = format!("{path}.ports[{j}]");
            let Some(number) = self.report.port_number(&port.port, &format!("{at}.port")) else {
                continue;
            };
            let protocol = engine_protocol(port.protocol.unwrap_or_default());
            let listed = ports.iter().map(|p| (p.port, p.protocol));
            self.report.unique_port(listed, number, protocol, &at);
            let port_name = port.name.as_ref().map(|n| n.value.clone());
            if let Some(n) = &port.name {
                if let Err(e) = names::port_name(&n.value) {
                    self.report
                        .error_at(n, &format!("{at}.name"), format!("{e} (a port name)"));
                }
                if ports
                    .iter()
                    .any(|p| p.name.as_deref() == Some(n.value.as_str()))
                {
                    self.report.error_at(
                        n,
                        &format!("{at}.name"),
                        format!("port name {} is used twice in this pod", n.value),
                    );
                }
            }
            ports.push(ServedPort {
                port: number,
                protocol,
                name: port_name,
            });
        }
        ports
    }
}
