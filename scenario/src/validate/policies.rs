//! `spec.policies`: NetworkPolicies inline or in policy files, checked as the API server would
//! (through the engine) and linted.

use std::path::Path;

use netverdict_engine::{Policy, Quoted};
use serde_saphyr::Spanned;

use crate::document::{parse_tree, parse_typed, split_documents};
use crate::model::{NamespaceSpec, PolicySpec};
use crate::names;
use crate::policy::RawNetworkPolicy;
use crate::raw;
use crate::reporter::Reporter;
use crate::source::{Diagnostic, SourceFile};

use super::Validator;

impl Validator<'_, '_> {
    pub(super) fn policies(
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
                    if let Some(p) = self.inline_policy(item, &path, namespaces, &out) {
                        out.push(p);
                    }
                }
            }
        }
        out
    }

    fn policy_file(
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
                && let Some(p) = PolicyCheck::new(&mut report, "").policy(&policy, namespaces, out)
            {
                out.push(p);
            }
        }
        self.report
            .sink
            .add_source(SourceFile { path: target, text });
    }

    /// An inline NetworkPolicy: every part of the object written.
    fn inline_policy(
        &mut self,
        item: &raw::RawPolicyItem,
        path: &str,
        namespaces: &[NamespaceSpec],
        existing: &[PolicySpec],
    ) -> Option<PolicySpec> {
        let missing: Vec<&str> = [
            ("apiVersion", item.api_version.is_some()),
            ("kind", item.kind.is_some()),
            ("metadata", item.metadata.is_some()),
            ("spec", item.spec.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(field, _)| field)
        .collect();
        if !missing.is_empty() {
            let message = format!(
                "an inline NetworkPolicy needs apiVersion, kind, metadata and spec (missing: {}), or write {{file: PATH}}",
                missing.join(", ")
            );
            self.report.error(path, message);
            return None;
        }
        let policy = RawNetworkPolicy {
            api_version: item.api_version.clone().unwrap_or_default(),
            kind: item.kind.clone().unwrap_or_default(),
            metadata: item.metadata.clone().unwrap_or_default(),
            spec: item.spec.clone().unwrap_or_default(),
        };
        PolicyCheck::new(&mut self.report, path).policy(&policy, namespaces, existing)
    }
}

/// Checks one NetworkPolicy, at `path` of its document (empty for a whole document).
struct PolicyCheck<'r, 'a, 'd> {
    report: &'r mut Reporter<'a, 'd>,
    path: &'r str,
    /// No error so far.
    ok: bool,
}

impl<'r, 'a, 'd> PolicyCheck<'r, 'a, 'd> {
    fn new(report: &'r mut Reporter<'a, 'd>, path: &'r str) -> Self {
        Self {
            report,
            path,
            ok: true,
        }
    }

    /// The field path of `field` of the policy.
    fn join(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.path)
        }
    }

    fn error(&mut self, field: &str, message: impl Into<String>) {
        let at = self.join(field);
        let location = self.report.doc.at(&at);
        self.report
            .sink
            .push(Diagnostic::error(location, at, message));
        self.ok = false;
    }

    /// Shape, namespace, uniqueness among `existing`, and the API server's validation through
    /// the engine; lints once the policy is valid.
    fn policy(
        mut self,
        policy: &RawNetworkPolicy,
        namespaces: &[NamespaceSpec],
        existing: &[PolicySpec],
    ) -> Option<PolicySpec> {
        self.kind(policy);
        let namespace = self.namespace(policy, namespaces)?;
        let name = policy.metadata.name.clone();
        if existing
            .iter()
            .any(|p| p.namespace == namespace && p.name == name)
        {
            self.error(
                "metadata.name",
                format!("policy {namespace}/{name} is defined twice"),
            );
        }
        let mut with_namespace = policy.clone();
        with_namespace.metadata.namespace = Some(namespace.clone());
        let object = match with_namespace.to_k8s() {
            Ok(o) => o,
            Err(e) => {
                self.error("", e.to_string());
                return None;
            }
        };
        if let Err(errors) = Policy::from_k8s(&object) {
            for e in errors {
                self.error(&e.path, e.message);
            }
            self.ok = false;
        }
        self.label_keys(policy);
        if self.ok {
            let doc = self.report.doc;
            let at = |field: &str| {
                let path = self.join(field);
                (doc.at(&path), path)
            };
            let lints = crate::lint::lint_policy(policy, &at);
            self.report.sink.extend(lints);
        }
        let location = self.report.doc.at(&self.join("metadata.name"));
        self.ok.then_some(PolicySpec {
            namespace,
            name,
            object,
            location,
            path: self.path.to_string(),
        })
    }

    fn kind(&mut self, policy: &RawNetworkPolicy) {
        if policy.api_version != "networking.k8s.io/v1" {
            self.error(
                "apiVersion",
                format!(
                    "unsupported apiVersion {}; a NetworkPolicy is networking.k8s.io/v1",
                    Quoted(&policy.api_version)
                ),
            );
        }
        if policy.kind != "NetworkPolicy" {
            self.error(
                "kind",
                format!(
                    "unsupported kind {}; expected NetworkPolicy",
                    Quoted(&policy.kind)
                ),
            );
        }
    }

    /// The policy's namespace: written, or the scenario's only one.
    fn namespace(
        &mut self,
        policy: &RawNetworkPolicy,
        namespaces: &[NamespaceSpec],
    ) -> Option<String> {
        match (&policy.metadata.namespace, namespaces) {
            (Some(ns), _) => {
                if !namespaces.iter().any(|n| n.name == *ns) {
                    let hint = names::suggestion(ns, namespaces.iter().map(|n| n.name.as_str()));
                    self.error(
                        "metadata.namespace",
                        format!("namespace {ns} is not defined in spec.namespaces{hint}"),
                    );
                }
                Some(ns.clone())
            }
            (None, [only]) => Some(only.name.clone()),
            (None, _) => {
                self.error(
                    "metadata",
                    "metadata.namespace is required when the scenario does not have exactly one namespace",
                );
                None
            }
        }
    }

    fn label_keys(&mut self, policy: &RawNetworkPolicy) {
        for (key, _) in policy
            .metadata
            .labels
            .iter()
            .chain(&policy.metadata.annotations)
        {
            if let Err(e) = names::label_key(key) {
                self.error("metadata", e);
            }
        }
    }
}
