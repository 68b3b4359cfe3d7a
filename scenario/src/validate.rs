//! Validation of a raw scenario: names, references, labels, ports, services and policies (as the
//! API server would check them). Probes are expanded by [`Expander`].

use std::path::Path;

use netverdict_engine::{NAMESPACE_NAME_LABEL, Policy};
use serde_saphyr::Spanned;

use crate::document::{Document, parse_tree, parse_typed, split_documents};
use crate::expand::Expander;
use crate::model::{
    Defaults, NamespaceSpec, PodSpec, PolicySpec, Scenario, ServedPort, ServicePort, ServiceSpec,
    TargetPort, engine_protocol, protocol_str,
};
use crate::names;
use crate::policy::RawNetworkPolicy;
use crate::raw::{self, PortRef, RawScenario};
use crate::reporter::Reporter;
use crate::sink::DiagnosticSink;
use crate::source::{Diagnostic, SourceFile};

/// Validates and expands one scenario document, writing what is wrong to a sink.
pub(crate) struct Validator<'a, 'd> {
    pub(crate) report: Reporter<'a, 'd>,
    pub(crate) pods: Vec<PodSpec>,
}

impl<'a, 'd> Validator<'a, 'd> {
    pub(crate) fn new(doc: &'a Document<'d>, sink: &'a mut DiagnosticSink) -> Self {
        Self {
            report: Reporter::new(doc, sink),
            pods: Vec::new(),
        }
    }

    pub(crate) fn scenario(mut self, raw: RawScenario) -> Option<Scenario> {
        self.header(&raw);
        let name = raw.metadata.name.value.clone();
        let location = self.report.doc.spanned(&raw.metadata.name, "metadata.name");
        let spec = raw.spec;
        let defaults = self.defaults(spec.defaults.as_ref());
        let namespaces = self.namespaces(&spec.namespaces);
        self.pods(&spec.pods, &namespaces);
        let services = self.services(&spec.services, &namespaces);
        let policies = self.policies(&spec.policies, &namespaces);
        let probes = Expander {
            report: self.report.reborrow(),
            scenario: &name,
            defaults: &defaults,
            pods: &self.pods,
            services: &services,
        }
        .probes(&spec.probes);
        Some(Scenario {
            name,
            description: raw.metadata.description,
            location,
            defaults,
            namespaces,
            pods: std::mem::take(&mut self.pods),
            services,
            policies,
            probes,
        })
    }

    /// `apiVersion`, `kind` and `metadata.name`.
    fn header(&mut self, raw: &RawScenario) {
        if raw.api_version.value != raw::API_VERSION {
            let message = format!(
                "unsupported apiVersion {:?}; expected {}",
                raw.api_version.value,
                raw::API_VERSION
            );
            self.report
                .error_at(&raw.api_version, "apiVersion", message);
        }
        if raw.kind.value != raw::KIND {
            let message = format!(
                "unsupported kind {:?}; expected {}",
                raw.kind.value,
                raw::KIND
            );
            self.report.error_at(&raw.kind, "kind", message);
        }
        if let Err(e) = names::dns1123_label(&raw.metadata.name.value) {
            self.report.error_at(
                &raw.metadata.name,
                "metadata.name",
                format!("{e} (a scenario name)"),
            );
        }
    }

    fn defaults(&mut self, raw: Option<&raw::RawDefaults>) -> Defaults {
        let mut defaults = Defaults::default();
        let Some(d) = raw else {
            return defaults;
        };
        if let Some(timeout) = &d.timeout {
            defaults.timeout = self
                .report
                .duration(timeout, "spec.defaults.timeout")
                .unwrap_or(defaults.timeout);
        }
        if let Some(deny) = &d.deny {
            defaults.deny = deny.value;
        }
        defaults
    }

    pub(crate) fn namespaces(&mut self, raw: &[raw::RawNamespace]) -> Vec<NamespaceSpec> {
        let mut out: Vec<NamespaceSpec> = Vec::new();
        for (i, ns) in raw.iter().enumerate() {
            let path = format!("spec.namespaces[{i}]");
            let name = ns.name.value.clone();
            if let Err(e) = names::dns1123_label(&name) {
                self.report.error_at(
                    &ns.name,
                    &format!("{path}.name"),
                    format!("{e} (a namespace name)"),
                );
            }
            if out.iter().any(|n| n.name == name) {
                self.report.error_at(
                    &ns.name,
                    &format!("{path}.name"),
                    format!("namespace {name} is defined twice"),
                );
                continue;
            }
            let mut labels = self.report.labels(&ns.labels, &format!("{path}.labels"));
            if let Some(value) = labels.get(NAMESPACE_NAME_LABEL).filter(|v| **v != name) {
                let message = format!(
                    "{NAMESPACE_NAME_LABEL} is always {name} (the namespace's name), not {value}"
                );
                self.report.error(&format!("{path}.labels"), message);
            }
            labels.insert(NAMESPACE_NAME_LABEL.to_string(), name.clone());
            out.push(NamespaceSpec {
                name,
                labels,
                location: self.report.doc.spanned(&ns.name, &path),
            });
        }
        out
    }

    pub(crate) fn namespace_exists(
        &mut self,
        namespaces: &[NamespaceSpec],
        name: &Spanned<String>,
        path: &str,
    ) -> bool {
        if namespaces.iter().any(|n| n.name == name.value) {
            return true;
        }
        let hint = names::suggestion(&name.value, namespaces.iter().map(|n| n.name.as_str()));
        let message = format!(
            "namespace {} is not defined in spec.namespaces{hint}",
            name.value
        );
        self.report.error_at(name, path, message);
        false
    }

    pub(crate) fn pods(&mut self, raw: &[raw::RawPod], namespaces: &[NamespaceSpec]) {
        for (i, pod) in raw.iter().enumerate() {
            let path = format!("spec.pods[{i}]");
            let name = pod.name.value.clone();
            if let Err(e) = names::dns1123_label(&name) {
                self.report.error_at(
                    &pod.name,
                    &format!("{path}.name"),
                    format!("{e} (a pod name)"),
                );
            }
            let ns_ok =
                self.namespace_exists(namespaces, &pod.namespace, &format!("{path}.namespace"));
            let namespace = pod.namespace.value.clone();
            if self
                .pods
                .iter()
                .any(|p| p.name == name && p.namespace == namespace)
            {
                self.report.error_at(
                    &pod.name,
                    &format!("{path}.name"),
                    format!("pod {namespace}/{name} is defined twice"),
                );
                continue;
            }
            let labels = self.report.labels(&pod.labels, &format!("{path}.labels"));
            let mut ports: Vec<ServedPort> = Vec::new();
            for (j, port) in pod.ports.iter().enumerate() {
                let at = format!("{path}.ports[{j}]");
                let Some(number) = self.report.port_number(&port.port, &format!("{at}.port"))
                else {
                    continue;
                };
                let protocol = engine_protocol(port.protocol.unwrap_or_default());
                if ports
                    .iter()
                    .any(|p| p.port == number && p.protocol == protocol)
                {
                    self.report.error(
                        &at,
                        format!("port {number}/{} is listed twice", protocol_str(protocol)),
                    );
                }
                let port_name = port.name.as_ref().map(|n| n.value.clone());
                if let Some(n) = &port.name {
                    if let Err(e) = names::port_name(&n.value) {
                        self.report.error_at(
                            n,
                            &format!("{at}.name"),
                            format!("{e} (a port name)"),
                        );
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
                });
            }
        }
    }

    pub(crate) fn services(
        &mut self,
        raw: &[raw::RawService],
        namespaces: &[NamespaceSpec],
    ) -> Vec<ServiceSpec> {
        let mut out: Vec<ServiceSpec> = Vec::new();
        for (i, svc) in raw.iter().enumerate() {
            let path = format!("spec.services[{i}]");
            let name = svc.name.value.clone();
            if let Err(e) = names::dns1123_label(&name) {
                self.report.error_at(
                    &svc.name,
                    &format!("{path}.name"),
                    format!("{e} (a service name)"),
                );
            }
            self.namespace_exists(namespaces, &svc.namespace, &format!("{path}.namespace"));
            let namespace = svc.namespace.value.clone();
            if out
                .iter()
                .any(|s| s.name == name && s.namespace == namespace)
            {
                self.report.error_at(
                    &svc.name,
                    &format!("{path}.name"),
                    format!("service {namespace}/{name} is defined twice"),
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
            let mut ports: Vec<ServicePort> = Vec::new();
            for (j, port) in svc.ports.iter().enumerate() {
                let at = format!("{path}.ports[{j}]");
                let Some(number) = self.report.port_number(&port.port, &format!("{at}.port"))
                else {
                    continue;
                };
                let protocol = engine_protocol(port.protocol.unwrap_or_default());
                let target_port = match &port.target_port {
                    None => TargetPort::Number(number),
                    Some(t) => match &t.value {
                        PortRef::Number(n) => match u16::try_from(*n) {
                            Ok(n) if n > 0 => TargetPort::Number(n),
                            _ => {
                                self.report.error_at(
                                    t,
                                    &format!("{at}.targetPort"),
                                    format!("port {n} is out of range: use 1 to 65535"),
                                );
                                continue;
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
                            TargetPort::Name(n.clone())
                        }
                    },
                };
                if let Some(n) = &port.name
                    && let Err(e) = names::port_name(n)
                {
                    self.report
                        .error(&format!("{at}.name"), format!("{e} (a port name)"));
                }
                if ports
                    .iter()
                    .any(|p| p.port == number && p.protocol == protocol)
                {
                    self.report.error(
                        &at,
                        format!("port {number}/{} is listed twice", protocol_str(protocol)),
                    );
                }
                ports.push(ServicePort {
                    name: port.name.clone(),
                    port: number,
                    protocol,
                    target_port,
                });
            }
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

    pub(crate) fn policies(
        &mut self,
        raw: &[raw::RawPolicyItem],
        namespaces: &[NamespaceSpec],
    ) -> Vec<PolicySpec> {
        let mut out = Vec::new();
        for (i, item) in raw.iter().enumerate() {
            let path = format!("spec.policies[{i}]");
            let inline = item.api_version.is_some()
                || item.kind.is_some()
                || item.metadata.is_some()
                || item.spec.is_some();
            match (&item.file, inline) {
                (Some(_), true) => {
                    self.report.error(&path, "a policy entry is either {file: PATH} or an inline NetworkPolicy, not both");
                }
                (Some(file), false) => {
                    self.policy_file(file, &format!("{path}.file"), namespaces, &mut out)
                }
                (None, _) => {
                    let mut missing = Vec::new();
                    for (field, present) in [
                        ("apiVersion", item.api_version.is_some()),
                        ("kind", item.kind.is_some()),
                        ("metadata", item.metadata.is_some()),
                        ("spec", item.spec.is_some()),
                    ] {
                        if !present {
                            missing.push(field);
                        }
                    }
                    if !missing.is_empty() {
                        let message = format!(
                            "an inline NetworkPolicy needs apiVersion, kind, metadata and spec (missing: {}), or write {{file: PATH}}",
                            missing.join(", ")
                        );
                        self.report.error(&path, message);
                        continue;
                    }
                    let policy = RawNetworkPolicy {
                        api_version: item.api_version.clone().unwrap_or_default(),
                        kind: item.kind.clone().unwrap_or_default(),
                        metadata: item.metadata.clone().unwrap_or_default(),
                        spec: item.spec.clone().unwrap_or_default(),
                    };
                    if let Some(p) =
                        check_policy(&mut self.report, &path, &policy, namespaces, &out)
                    {
                        out.push(p);
                    }
                }
            }
        }
        out
    }

    pub(crate) fn policy_file(
        &mut self,
        file: &Spanned<String>,
        path: &str,
        namespaces: &[NamespaceSpec],
        out: &mut Vec<PolicySpec>,
    ) {
        let base = self.report.doc.file.parent().unwrap_or(Path::new(""));
        let target = base.join(&file.value);
        let text = match std::fs::read_to_string(&target) {
            Ok(text) => text,
            Err(e) => {
                self.report.error_at(
                    file,
                    path,
                    format!("cannot read policy file {}: {e}", target.display()),
                );
                return;
            }
        };
        let sink = &mut *self.report.sink;
        let mark = sink.len();
        let mut docs = Vec::new();
        for doc_text in split_documents(&text) {
            if let Some(doc) = parse_tree(&target, doc_text, sink) {
                docs.push(doc);
            }
        }
        if docs.is_empty() && self.report.sink.len() == mark {
            self.report.error_at(
                file,
                path,
                format!("policy file {} holds no NetworkPolicy", target.display()),
            );
        }
        for doc in &docs {
            let mut report = Reporter::new(doc, self.report.sink);
            if let Some(policy) = parse_typed::<RawNetworkPolicy>(doc, report.sink)
                && let Some(p) = check_policy(&mut report, "", &policy, namespaces, out)
            {
                out.push(p);
            }
        }
        self.report
            .sink
            .add_source(SourceFile { path: target, text });
    }
}

/// Checks one NetworkPolicy (at `path` of `doc`, empty for a whole document): shape, namespace,
/// uniqueness, and the API server's validation through the engine.
fn check_policy(
    report: &mut Reporter<'_, '_>,
    path: &str,
    policy: &RawNetworkPolicy,
    namespaces: &[NamespaceSpec],
    existing: &[PolicySpec],
) -> Option<PolicySpec> {
    let doc = report.doc;
    let join = |field: &str| {
        if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    let mut error = |field: &str, message: String| {
        let at = join(field);
        report
            .sink
            .push(Diagnostic::error(doc.at(&at), at, message));
    };
    let mut ok = true;
    if policy.api_version != "networking.k8s.io/v1" {
        error(
            "apiVersion",
            format!(
                "unsupported apiVersion {:?}; a NetworkPolicy is networking.k8s.io/v1",
                policy.api_version
            ),
        );
        ok = false;
    }
    if policy.kind != "NetworkPolicy" {
        error(
            "kind",
            format!("unsupported kind {:?}; expected NetworkPolicy", policy.kind),
        );
        ok = false;
    }
    let namespace = match (&policy.metadata.namespace, namespaces) {
        (Some(ns), _) => {
            if !namespaces.iter().any(|n| n.name == *ns) {
                let hint = names::suggestion(ns, namespaces.iter().map(|n| n.name.as_str()));
                error(
                    "metadata.namespace",
                    format!("namespace {ns} is not defined in spec.namespaces{hint}"),
                );
                ok = false;
            }
            ns.clone()
        }
        (None, [only]) => only.name.clone(),
        (None, _) => {
            error("metadata", "metadata.namespace is required when the scenario does not have exactly one namespace".into());
            return None;
        }
    };
    let name = policy.metadata.name.clone();
    if existing
        .iter()
        .any(|p| p.namespace == namespace && p.name == name)
    {
        error(
            "metadata.name",
            format!("policy {namespace}/{name} is defined twice"),
        );
        ok = false;
    }
    let mut with_namespace = policy.clone();
    with_namespace.metadata.namespace = Some(namespace.clone());
    let object = match with_namespace.to_k8s() {
        Ok(o) => o,
        Err(e) => {
            error("", e.to_string());
            return None;
        }
    };
    if let Err(errors) = Policy::from_k8s(&object) {
        for e in errors {
            error(&e.path, e.message);
        }
        ok = false;
    }
    for (key, _) in policy
        .metadata
        .labels
        .iter()
        .chain(&policy.metadata.annotations)
    {
        if let Err(e) = names::label_key(key) {
            error("metadata", e);
            ok = false;
        }
    }
    if ok {
        let at = |field: &str| {
            let path = join(field);
            (doc.at(&path), path)
        };
        report.sink.extend(crate::lint::lint_policy(policy, &at));
    }
    let location = doc.at(&join("metadata.name"));
    ok.then_some(PolicySpec {
        namespace,
        name,
        object,
        location,
        path: path.to_string(),
    })
}
