//! A scenario document as a whole: header, defaults and namespaces, then pods, services,
//! policies and probes in that order, each able to refer to what came before.

use netverdict_engine::{NAMESPACE_NAME_LABEL, Quoted};
use serde_saphyr::Spanned;

use crate::document::Document;
use crate::expand::Expander;
use crate::model::{Defaults, NamespaceSpec, PodSpec, Scenario};
use crate::names;
use crate::raw::{self, RawScenario};
use crate::reporter::Reporter;
use crate::sink::DiagnosticSink;

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
        let mut expander = Expander {
            report: self.report.reborrow(),
            scenario: &name,
            defaults: &defaults,
            pods: &self.pods,
            services: &services,
            namespaces: &namespaces,
            mimics: Vec::new(),
        };
        let probes = expander.probes(&spec.probes);
        let mimics = expander.mimics;
        let mut pods = std::mem::take(&mut self.pods);
        pods.extend(mimics);
        Some(Scenario {
            name,
            description: raw.metadata.description,
            location,
            defaults,
            namespaces,
            pods,
            services,
            policies,
            probes,
            live_pods: Vec::new(),
            live_namespaces: Vec::new(),
        })
    }

    /// `apiVersion`, `kind` and `metadata.name`.
    fn header(&mut self, raw: &RawScenario) {
        if raw.api_version.value != raw::API_VERSION {
            let message = format!(
                "unsupported apiVersion {}; expected {}",
                Quoted(&raw.api_version.value),
                raw::API_VERSION
            );
            self.report
                .error_at(&raw.api_version, "apiVersion", message);
        }
        if raw.kind.value != raw::KIND {
            let message = format!(
                "unsupported kind {}; expected {}",
                Quoted(&raw.kind.value),
                raw::KIND
            );
            self.report.error_at(&raw.kind, "kind", message);
        }
        self.report
            .dns_label(&raw.metadata.name, "metadata.name", "scenario");
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
            self.report
                .dns_label(&ns.name, &format!("{path}.name"), "namespace");
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
}
