//! Loading: files and folders -> YAML documents -> raw scenarios -> validated, expanded
//! [`Scenario`]s, with every problem reported as a located [`Diagnostic`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netverdict_engine::{LabelSelector, Labels, NAMESPACE_NAME_LABEL, Policy, Protocol};
use serde_saphyr::{Location, MessageFormatter, Spanned};

use crate::scenario::model::{
    Defaults, DnsCheck, Expectation, HttpCheck, NamespaceSpec, PodRef, PodSpec, PolicySpec, Probe,
    ServedPort, ServicePort, ServiceSpec, Target, TargetPort, Verdict,
};
use crate::scenario::names;
use crate::scenario::policy::RawNetworkPolicy;
use crate::scenario::raw::{
    self, DenyMode, PortRef, RawExpect, RawMatrixPort, RawProbe, RawScenario, RawTarget, Scheme,
    Via,
};
use crate::scenario::source::{
    Diagnostic, SourceFile, SourceLocation, Tree, parse_path, render_path,
};

/// The longest per-probe timeout accepted; a probe that needs longer is not a reachability probe.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// The result of loading: the valid scenarios, every diagnostic, and the source files read (to
/// show source lines under diagnostics).
#[derive(Debug, Default)]
pub struct Loaded {
    pub scenarios: Vec<crate::scenario::model::Scenario>,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: BTreeMap<PathBuf, SourceFile>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Loads every scenario under `paths` (files, or folders searched recursively for `*.yaml` and
/// `*.yml` in sorted order). Files in folders whose documents are all NetworkPolicies are policy
/// files meant for `spec.policies[].file`, and are skipped.
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            collect_yaml(path, &mut found, &mut loaded.diagnostics);
            found.sort();
            if found.is_empty() {
                loaded.diagnostics.push(Diagnostic::error(
                    SourceLocation::file(path),
                    "",
                    "this folder holds no *.yaml or *.yml file",
                ));
            }
            files.extend(found.into_iter().map(|f| (f, true)));
        } else {
            files.push((path.clone(), false));
        }
    }
    let mut names: BTreeMap<String, SourceLocation> = BTreeMap::new();
    for (file, in_folder) in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                loaded.diagnostics.push(Diagnostic::error(
                    SourceLocation::file(&file),
                    "",
                    format!("cannot read: {e}"),
                ));
                continue;
            }
        };
        let mut loader = Loader {
            diagnostics: Vec::new(),
            sources: BTreeMap::new(),
        };
        let scenarios = loader.load_file(&file, &text, in_folder);
        loaded.sources.insert(
            file.clone(),
            SourceFile {
                path: file.clone(),
                text,
            },
        );
        loaded.sources.append(&mut loader.sources);
        for mut scenario in scenarios {
            finish(&mut scenario, &mut loader.diagnostics);
            if let Some(first) = names.get(&scenario.name) {
                loader.diagnostics.push(Diagnostic::error(
                    scenario.location.clone(),
                    "metadata.name",
                    format!(
                        "scenario name {} is already used at {first}; names are unique in a run",
                        scenario.name
                    ),
                ));
                continue;
            }
            names.insert(scenario.name.clone(), scenario.location.clone());
            loaded.scenarios.push(scenario);
        }
        loaded.diagnostics.append(&mut loader.diagnostics);
    }
    loaded
}

/// Loads scenarios from YAML text, as if read from `file` (for tests and tools).
pub fn load_str(file: &Path, text: &str) -> Loaded {
    let mut loader = Loader {
        diagnostics: Vec::new(),
        sources: BTreeMap::new(),
    };
    let mut scenarios = loader.load_file(file, text, false);
    for scenario in &mut scenarios {
        finish(scenario, &mut loader.diagnostics);
    }
    let mut sources = loader.sources;
    sources.insert(
        file.to_path_buf(),
        SourceFile {
            path: file.to_path_buf(),
            text: text.to_string(),
        },
    );
    Loaded {
        scenarios,
        diagnostics: loader.diagnostics,
        sources,
    }
}

/// Computes `expect: auto` with what is known offline, and runs the scenario-wide lints.
fn finish(scenario: &mut crate::scenario::model::Scenario, diagnostics: &mut Vec<Diagnostic>) {
    let addresses = crate::scenario::expect::Addresses::offline();
    crate::scenario::expect::resolve(scenario, &addresses);
    diagnostics.extend(crate::scenario::lint::lint_scenario(scenario, &addresses));
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>, diagnostics: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            diagnostics.push(Diagnostic::error(
                SourceLocation::file(dir),
                "",
                format!("cannot read folder: {e}"),
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_yaml(&path, out, diagnostics);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// One YAML document of a file: its text (other documents blanked out, so lines and columns are
/// the file's) and its located tree.
pub(crate) struct Document<'a> {
    pub(crate) file: &'a Path,
    pub(crate) text: String,
    pub(crate) tree: Tree,
}

impl Document<'_> {
    pub(crate) fn location(&self, at: &Location) -> SourceLocation {
        SourceLocation::new(self.file, at)
    }

    /// The location of the value at `path` (or of its deepest existing ancestor).
    pub(crate) fn at(&self, path: &str) -> SourceLocation {
        self.location(&self.tree.locate(&parse_path(path)))
    }

    /// The location of `spanned`, falling back to the value at `path` when unknown.
    pub(crate) fn spanned<T>(&self, spanned: &Spanned<T>, path: &str) -> SourceLocation {
        if spanned.referenced.line() == 0 {
            self.at(path)
        } else {
            self.location(&spanned.referenced)
        }
    }
}

/// Splits a YAML stream into its documents; each keeps the whole file's line numbering (lines of
/// other documents are left empty) so parser locations are file locations.
fn split_documents(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut documents = Vec::new();
    let mut start = 0;
    let is_marker = |l: &str| l == "---" || l.starts_with("--- ") || l.starts_with("---\t");
    let mut push = |from: usize, to: usize| {
        let mut doc = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i >= from && i < to {
                if is_marker(line) {
                    doc.push_str(&" ".repeat(3));
                    doc.push_str(&line[3..]);
                } else if *line == "..." || line.starts_with('%') {
                    // Document end markers and directives carry no data.
                } else {
                    doc.push_str(line);
                }
            }
            doc.push('\n');
            if i >= to {
                break;
            }
        }
        let blank = lines[from..to].iter().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || is_marker(l) || *l == "..." || l.starts_with('%')
        });
        if !blank {
            documents.push(doc);
        }
    };
    for (i, line) in lines.iter().enumerate() {
        if is_marker(line) && i > start {
            push(start, i);
            start = i;
        }
    }
    if start < lines.len() {
        push(start, lines.len());
    }
    documents
}

/// The message of a parser error, without the location the caller reports separately.
fn parse_message(err: &serde_saphyr::Error) -> String {
    let message = serde_saphyr::UserMessageFormatter
        .format_message(err.without_snippet())
        .into_owned();
    // Keep one line: the location is reported by the caller.
    let first = message.lines().next().unwrap_or("").to_string();
    let first = match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first,
    };
    explain_serde_message(&first)
}

/// Makes serde's terse messages kinder: a suggestion for a misspelt field or variant, words for
/// a bare integer type.
fn explain_serde_message(message: &str) -> String {
    for (prefix, kind) in [("unknown field `", "field"), ("unknown variant `", "value")] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        let Some((wrong, expected)) = rest.split_once('`') else {
            continue;
        };
        let candidates: Vec<&str> = expected
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .split(", ")
            .map(|c| c.trim_matches('`'))
            .collect();
        if let Some(near) = names::did_you_mean(wrong, candidates.iter().copied()) {
            return format!("{message}; did you mean `{near}` (a {kind} name)?");
        }
        return message.to_string();
    }
    match message {
        "invalid u8" | "invalid u16" | "invalid u32" | "invalid u64" | "invalid i32"
        | "invalid i64" => "expected a whole number".to_string(),
        other => other.to_string(),
    }
}

fn parser_location(err: &serde_saphyr::Error) -> Option<(u64, u64)> {
    err.location()
        .filter(|l| l.line() > 0)
        .map(|l| (l.line(), l.column()))
}

/// Where a document starts: its first line with content (for errors the parser cannot place).
fn document_start(text: &str) -> (u64, u64) {
    text.lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map_or((1, 1), |(i, l)| {
            (i as u64 + 1, (l.len() - l.trim_start().len()) as u64 + 1)
        })
}

/// Parses a document's located tree; `None` (with a diagnostic) on a YAML syntax error.
fn parse_tree<'a>(
    file: &'a Path,
    text: String,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Document<'a>> {
    match serde_saphyr::from_str::<Tree>(&text) {
        Ok(tree) => Some(Document { file, text, tree }),
        Err(err) => {
            let (line, column) = parser_location(&err).unwrap_or_else(|| document_start(&text));
            diagnostics.push(Diagnostic::error(
                SourceLocation {
                    file: file.to_path_buf(),
                    line,
                    column,
                },
                "",
                format!("invalid YAML: {}", parse_message(&err)),
            ));
            None
        }
    }
}

/// Parses a document into `T`; a type error is reported with its location and field path.
pub(crate) fn parse_typed<'de, T: serde::Deserialize<'de>>(
    doc: &'de Document<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<T> {
    match serde_saphyr::from_str::<T>(&doc.text) {
        Ok(value) => Some(value),
        Err(err) => {
            let (line, column) = parser_location(&err).unwrap_or_else(|| document_start(&doc.text));
            let path = render_path(&doc.tree.path_at(line, column));
            diagnostics.push(Diagnostic::error(
                SourceLocation {
                    file: doc.file.to_path_buf(),
                    line,
                    column,
                },
                path,
                parse_message(&err),
            ));
            None
        }
    }
}

struct Loader {
    diagnostics: Vec<Diagnostic>,
    sources: BTreeMap<PathBuf, SourceFile>,
}

impl Loader {
    fn load_file(
        &mut self,
        file: &Path,
        text: &str,
        in_folder: bool,
    ) -> Vec<crate::scenario::model::Scenario> {
        let mut docs = Vec::new();
        for doc_text in split_documents(text) {
            if let Some(doc) = parse_tree(file, doc_text, &mut self.diagnostics) {
                docs.push(doc);
            }
        }
        let policy_file = !docs.is_empty()
            && docs
                .iter()
                .all(|d| d.tree.scalar(&parse_path("kind")) == Some("NetworkPolicy"));
        if in_folder && policy_file {
            return Vec::new();
        }
        if docs.is_empty() && !self.diagnostics.iter().any(|d| d.location.file == file) {
            let location = SourceLocation {
                file: file.to_path_buf(),
                line: 1,
                column: 1,
            };
            self.diagnostics.push(Diagnostic::error(
                location,
                "",
                "this file holds no scenario",
            ));
        }
        let mut scenarios = Vec::new();
        for doc in &docs {
            let Some(raw) = parse_typed::<RawScenario>(doc, &mut self.diagnostics) else {
                continue;
            };
            let before = self.diagnostics.iter().filter(|d| d.is_error()).count();
            let scenario = Validator {
                doc,
                loader: self,
                pods: Vec::new(),
                current_probe: String::new(),
            }
            .scenario(raw);
            let after = self.diagnostics.iter().filter(|d| d.is_error()).count();
            if let Some(scenario) = scenario.filter(|_| after == before) {
                scenarios.push(scenario);
            }
        }
        scenarios
    }
}

/// Validates and expands one scenario document.
struct Validator<'a, 'd> {
    doc: &'a Document<'d>,
    loader: &'a mut Loader,
    pods: Vec<PodSpec>,
    /// The path of the `spec.probes` entry being expanded.
    current_probe: String,
}

/// A probe target resolved against the scenario, before port resolution.
#[derive(Clone)]
enum Resolved {
    Pod(PodRef),
    Service(String, String),
    Host(String),
    Ip(IpAddr),
    ClusterDns,
}

impl Resolved {
    /// The column label of a truth table.
    fn label(&self) -> String {
        match self {
            Resolved::Pod(p) => p.to_string(),
            Resolved::Service(ns, name) => format!("service:{ns}/{name}"),
            Resolved::Host(h) => format!("host:{h}"),
            Resolved::Ip(ip) => format!("ip:{ip}"),
            Resolved::ClusterDns => "dns".into(),
        }
    }
}

/// Settings shared by the probes of one `spec.probes` entry.
struct Common {
    deny: DenyMode,
    timeout: Duration,
    http: Option<HttpCheck>,
    dns: Option<DnsCheck>,
    scheme: Scheme,
}

impl Validator<'_, '_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        let location = self.doc.at(path);
        self.loader
            .diagnostics
            .push(Diagnostic::error(location, path, message));
    }

    fn error_key(&mut self, path: &str, message: impl Into<String>) {
        let location = self
            .doc
            .location(&self.doc.tree.locate_key(&parse_path(path)));
        self.loader
            .diagnostics
            .push(Diagnostic::error(location, path, message));
    }

    fn error_at<T>(&mut self, spanned: &Spanned<T>, path: &str, message: impl Into<String>) {
        let location = self.doc.spanned(spanned, path);
        self.loader
            .diagnostics
            .push(Diagnostic::error(location, path, message));
    }

    fn labels(&mut self, labels: &BTreeMap<String, String>, path: &str) -> Labels {
        for (key, value) in labels {
            let at = render_path(
                &[
                    parse_path(path),
                    vec![crate::scenario::source::Segment::Key(key.clone())],
                ]
                .concat(),
            );
            if let Err(e) = names::label_key(key) {
                self.error_key(&at, format!("{e} (a label key)"));
            }
            if let Err(e) = names::label_value(value) {
                self.error(&at, format!("{e} (a label value)"));
            }
        }
        labels.clone()
    }

    fn duration(&mut self, value: &Spanned<String>, path: &str) -> Option<Duration> {
        match humantime::parse_duration(value.value.trim()) {
            Ok(d) if d.is_zero() => {
                self.error_at(value, path, "the timeout must be longer than zero");
                None
            }
            Ok(d) if d > MAX_TIMEOUT => {
                self.error_at(
                    value,
                    path,
                    format!("{} is longer than the maximum of 5m", value.value),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error_at(
                    value,
                    path,
                    format!(
                        "{:?} is not a duration ({e}); write e.g. 2s, 500ms or 1m",
                        value.value
                    ),
                );
                None
            }
        }
    }

    fn scenario(mut self, raw: RawScenario) -> Option<crate::scenario::model::Scenario> {
        if raw.api_version.value != raw::API_VERSION {
            let message = format!(
                "unsupported apiVersion {:?}; expected {}",
                raw.api_version.value,
                raw::API_VERSION
            );
            self.error_at(&raw.api_version, "apiVersion", message);
        }
        if raw.kind.value != raw::KIND {
            let message = format!(
                "unsupported kind {:?}; expected {}",
                raw.kind.value,
                raw::KIND
            );
            self.error_at(&raw.kind, "kind", message);
        }
        let name = raw.metadata.name.value.clone();
        if let Err(e) = names::dns1123_label(&name) {
            self.error_at(
                &raw.metadata.name,
                "metadata.name",
                format!("{e} (a scenario name)"),
            );
        }
        let location = self.doc.spanned(&raw.metadata.name, "metadata.name");
        let spec = raw.spec;

        let mut defaults = Defaults::default();
        if let Some(d) = &spec.defaults {
            if let Some(timeout) = &d.timeout {
                defaults.timeout = self
                    .duration(timeout, "spec.defaults.timeout")
                    .unwrap_or(defaults.timeout);
            }
            if let Some(deny) = &d.deny {
                defaults.deny = deny.value;
            }
        }

        let namespaces = self.namespaces(&spec.namespaces);
        self.pods(&spec.pods, &namespaces);
        let services = self.services(&spec.services, &namespaces);
        let policies = self.policies(&spec.policies, &namespaces);
        let mut probes = Vec::new();
        let mut probe_names: BTreeMap<String, usize> = BTreeMap::new();
        for (i, entry) in spec.probes.iter().enumerate() {
            for probe in self.probe_entry(&name, i, entry, &defaults, &services) {
                if let Some(first) = probe_names.get(&probe.name) {
                    let message = if *first == i {
                        format!(
                            "this entry yields the probe {:?} twice (the same cell twice?)",
                            probe.name
                        )
                    } else {
                        format!(
                            "probe name {:?} is already used by spec.probes[{first}]; give one of them a distinct `name`",
                            probe.name
                        )
                    };
                    self.error(&format!("spec.probes[{i}]"), message);
                    continue;
                }
                probe_names.insert(probe.name.clone(), i);
                probes.push(probe);
            }
        }
        if spec.probes.is_empty() {
            self.error(
                "spec",
                "a scenario needs at least one entry in `spec.probes`",
            );
        }
        Some(crate::scenario::model::Scenario {
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

    fn namespaces(&mut self, raw: &[raw::RawNamespace]) -> Vec<NamespaceSpec> {
        let mut out: Vec<NamespaceSpec> = Vec::new();
        for (i, ns) in raw.iter().enumerate() {
            let path = format!("spec.namespaces[{i}]");
            let name = ns.name.value.clone();
            if let Err(e) = names::dns1123_label(&name) {
                self.error_at(
                    &ns.name,
                    &format!("{path}.name"),
                    format!("{e} (a namespace name)"),
                );
            }
            if out.iter().any(|n| n.name == name) {
                self.error_at(
                    &ns.name,
                    &format!("{path}.name"),
                    format!("namespace {name} is defined twice"),
                );
                continue;
            }
            let mut labels = self.labels(&ns.labels, &format!("{path}.labels"));
            if let Some(value) = labels.get(NAMESPACE_NAME_LABEL).filter(|v| **v != name) {
                let message = format!(
                    "{NAMESPACE_NAME_LABEL} is always {name} (the namespace's name), not {value}"
                );
                self.error(&format!("{path}.labels"), message);
            }
            labels.insert(NAMESPACE_NAME_LABEL.to_string(), name.clone());
            out.push(NamespaceSpec {
                name,
                labels,
                location: self.doc.spanned(&ns.name, &path),
            });
        }
        out
    }

    fn namespace_exists(
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
        self.error_at(name, path, message);
        false
    }

    fn pods(&mut self, raw: &[raw::RawPod], namespaces: &[NamespaceSpec]) {
        for (i, pod) in raw.iter().enumerate() {
            let path = format!("spec.pods[{i}]");
            let name = pod.name.value.clone();
            if let Err(e) = names::dns1123_label(&name) {
                self.error_at(
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
                self.error_at(
                    &pod.name,
                    &format!("{path}.name"),
                    format!("pod {namespace}/{name} is defined twice"),
                );
                continue;
            }
            let labels = self.labels(&pod.labels, &format!("{path}.labels"));
            let mut ports: Vec<ServedPort> = Vec::new();
            for (j, port) in pod.ports.iter().enumerate() {
                let at = format!("{path}.ports[{j}]");
                let Some(number) = self.port_number(&port.port, &format!("{at}.port")) else {
                    continue;
                };
                let protocol = engine_protocol(port.protocol.unwrap_or_default());
                if ports
                    .iter()
                    .any(|p| p.port == number && p.protocol == protocol)
                {
                    self.error(
                        &at,
                        format!("port {number}/{} is listed twice", protocol_str(protocol)),
                    );
                }
                let port_name = port.name.as_ref().map(|n| n.value.clone());
                if let Some(n) = &port.name {
                    if let Err(e) = names::port_name(&n.value) {
                        self.error_at(n, &format!("{at}.name"), format!("{e} (a port name)"));
                    }
                    if ports
                        .iter()
                        .any(|p| p.name.as_deref() == Some(n.value.as_str()))
                    {
                        self.error_at(
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
                self.error(&format!("{path}.node"), format!("{e} (a node name)"));
            }
            if ns_ok || !namespace.is_empty() {
                self.pods.push(PodSpec {
                    namespace,
                    name,
                    labels,
                    ports,
                    node: pod.node.clone().filter(|n| !n.is_empty()),
                    location: self.doc.spanned(&pod.name, &path),
                });
            }
        }
    }

    fn port_number(&mut self, port: &Spanned<u32>, path: &str) -> Option<u16> {
        match u16::try_from(port.value) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.error_at(
                    port,
                    path,
                    format!("port {} is out of range: use 1 to 65535", port.value),
                );
                None
            }
        }
    }

    fn services(
        &mut self,
        raw: &[raw::RawService],
        namespaces: &[NamespaceSpec],
    ) -> Vec<ServiceSpec> {
        let mut out: Vec<ServiceSpec> = Vec::new();
        for (i, svc) in raw.iter().enumerate() {
            let path = format!("spec.services[{i}]");
            let name = svc.name.value.clone();
            if let Err(e) = names::dns1123_label(&name) {
                self.error_at(
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
                self.error_at(
                    &svc.name,
                    &format!("{path}.name"),
                    format!("service {namespace}/{name} is defined twice"),
                );
                continue;
            }
            let selector = self.labels(&svc.selector, &format!("{path}.selector"));
            if selector.is_empty() {
                self.error(
                    &format!("{path}.selector"),
                    "a service needs a non-empty selector to pick its pods",
                );
            }
            let mut ports: Vec<ServicePort> = Vec::new();
            for (j, port) in svc.ports.iter().enumerate() {
                let at = format!("{path}.ports[{j}]");
                let Some(number) = self.port_number(&port.port, &format!("{at}.port")) else {
                    continue;
                };
                let protocol = engine_protocol(port.protocol.unwrap_or_default());
                let target_port = match &port.target_port {
                    None => TargetPort::Number(number),
                    Some(t) => match &t.value {
                        PortRef::Number(n) => match u16::try_from(*n) {
                            Ok(n) if n > 0 => TargetPort::Number(n),
                            _ => {
                                self.error_at(
                                    t,
                                    &format!("{at}.targetPort"),
                                    format!("port {n} is out of range: use 1 to 65535"),
                                );
                                continue;
                            }
                        },
                        PortRef::Name(n) => {
                            if let Err(e) = names::port_name(n) {
                                self.error_at(
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
                    self.error(&format!("{at}.name"), format!("{e} (a port name)"));
                }
                if ports
                    .iter()
                    .any(|p| p.port == number && p.protocol == protocol)
                {
                    self.error(
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
                self.error(
                    &format!("{path}.ports"),
                    "a service needs at least one port",
                );
            }
            out.push(ServiceSpec {
                namespace,
                name,
                selector,
                ports,
                location: self.doc.spanned(&svc.name, &path),
            });
        }
        out
    }

    fn policies(
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
                    self.error(&path, "a policy entry is either {file: PATH} or an inline NetworkPolicy, not both");
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
                        self.error(&path, message);
                        continue;
                    }
                    let policy = RawNetworkPolicy {
                        api_version: item.api_version.clone().unwrap_or_default(),
                        kind: item.kind.clone().unwrap_or_default(),
                        metadata: item.metadata.clone().unwrap_or_default(),
                        spec: item.spec.clone().unwrap_or_default(),
                    };
                    let doc = self.doc;
                    if let Some(p) = check_policy(
                        doc,
                        &path,
                        &policy,
                        namespaces,
                        &out,
                        &mut self.loader.diagnostics,
                    ) {
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
        let base = self.doc.file.parent().unwrap_or(Path::new(""));
        let target = base.join(&file.value);
        let text = match std::fs::read_to_string(&target) {
            Ok(text) => text,
            Err(e) => {
                self.error_at(
                    file,
                    path,
                    format!("cannot read policy file {}: {e}", target.display()),
                );
                return;
            }
        };
        let mut diagnostics = Vec::new();
        let mut docs = Vec::new();
        for doc_text in split_documents(&text) {
            if let Some(doc) = parse_tree(&target, doc_text, &mut diagnostics) {
                docs.push(doc);
            }
        }
        if docs.is_empty() && diagnostics.is_empty() {
            self.error_at(
                file,
                path,
                format!("policy file {} holds no NetworkPolicy", target.display()),
            );
        }
        for doc in &docs {
            if let Some(policy) = parse_typed::<RawNetworkPolicy>(doc, &mut diagnostics)
                && let Some(p) = check_policy(doc, "", &policy, namespaces, out, &mut diagnostics)
            {
                out.push(p);
            }
        }
        self.loader.diagnostics.append(&mut diagnostics);
        self.loader
            .sources
            .insert(target.clone(), SourceFile { path: target, text });
    }

    fn pod_ref(&mut self, value: &Spanned<String>, path: &str) -> Option<PodRef> {
        let Some((ns, name)) = value.value.split_once('/') else {
            self.error_at(
                value,
                path,
                format!(
                    "{:?} is not a pod reference: write <namespace>/<pod>",
                    value.value
                ),
            );
            return None;
        };
        let pod = PodRef::new(ns, name);
        if self
            .pods
            .iter()
            .any(|p| p.namespace == ns && p.name == name)
        {
            return Some(pod);
        }
        let candidates: Vec<String> = self.pods.iter().map(|p| p.pod_ref().to_string()).collect();
        let hint = names::suggestion(&value.value, candidates.iter().map(String::as_str));
        self.error_at(
            value,
            path,
            format!("pod {} is not defined in this scenario{hint}", value.value),
        );
        None
    }

    fn targets(
        &mut self,
        to: Option<&Spanned<RawTarget>>,
        via: Option<Via>,
        services: &[ServiceSpec],
        path: &str,
    ) -> Option<Vec<Resolved>> {
        let Some(to) = to else {
            if via == Some(Via::Dns) {
                return Some(vec![Resolved::ClusterDns]);
            }
            self.error(
                path.rsplit_once('.').map_or(path, |p| p.0),
                "`to` is required (only a dns probe may leave it out, to ask the pod's resolver)",
            );
            return None;
        };
        match &to.value {
            RawTarget::Pod(s) => {
                let spanned = Spanned::new(s.clone(), to.referenced, to.defined);
                self.pod_ref(&spanned, path).map(|p| vec![Resolved::Pod(p)])
            }
            RawTarget::Service { service, namespace } => {
                if services
                    .iter()
                    .any(|s| s.name == service.value && s.namespace == namespace.value)
                {
                    return Some(vec![Resolved::Service(
                        namespace.value.clone(),
                        service.value.clone(),
                    )]);
                }
                let candidates: Vec<String> = services
                    .iter()
                    .map(|s| format!("{}/{}", s.namespace, s.name))
                    .collect();
                let wanted = format!("{}/{}", namespace.value, service.value);
                let hint = names::suggestion(&wanted, candidates.iter().map(String::as_str));
                self.error_at(
                    service,
                    &format!("{path}.service"),
                    format!("service {wanted} is not defined in spec.services{hint}"),
                );
                None
            }
            RawTarget::Pods {
                namespace,
                selector,
            } => {
                let k8s = selector.to_k8s().ok()?;
                let selector = match LabelSelector::from_k8s(&k8s, &format!("{path}.pods.selector"))
                {
                    Ok(s) => s,
                    Err(errors) => {
                        for e in errors {
                            self.error(&e.path, e.message);
                        }
                        return None;
                    }
                };
                if !self.pods.iter().any(|p| p.namespace == namespace.value) {
                    self.error_at(
                        namespace,
                        &format!("{path}.pods.namespace"),
                        format!("namespace {} has no pod in this scenario", namespace.value),
                    );
                    return None;
                }
                let matched: Vec<Resolved> = self
                    .pods
                    .iter()
                    .filter(|p| p.namespace == namespace.value && selector.matches(&p.labels))
                    .map(|p| Resolved::Pod(p.pod_ref()))
                    .collect();
                if matched.is_empty() {
                    self.error(
                        &format!("{path}.pods.selector"),
                        format!(
                            "selector {selector} matches no pod of namespace {}",
                            namespace.value
                        ),
                    );
                    return None;
                }
                Some(matched)
            }
            RawTarget::Host(host) => match names::dns_name(&host.value) {
                Ok(()) => Some(vec![Resolved::Host(
                    host.value.trim_end_matches('.').to_string(),
                )]),
                Err(e) => {
                    self.error_at(host, &format!("{path}.host"), e);
                    None
                }
            },
            RawTarget::Ip(ip) => match ip.value.parse::<IpAddr>() {
                Ok(addr) => Some(vec![Resolved::Ip(addr)]),
                Err(_) => {
                    self.error_at(
                        ip,
                        &format!("{path}.ip"),
                        format!("{:?} is not an IPv4 or IPv6 address", ip.value),
                    );
                    None
                }
            },
        }
    }

    fn common(
        &mut self,
        raw: &RawProbe,
        path: &str,
        defaults: &Defaults,
        via: Option<Via>,
        matrix: bool,
    ) -> Option<Common> {
        let mut ok = true;
        let timeout = match &raw.timeout {
            Some(t) => self
                .duration(t, &format!("{path}.timeout"))
                .unwrap_or_else(|| {
                    ok = false;
                    defaults.timeout
                }),
            None => defaults.timeout,
        };
        let http_fields = raw.path.is_some() || raw.scheme.is_some() || raw.status.is_some();
        let http_possible = matrix || via == Some(Via::Http);
        if http_fields && !http_possible {
            self.error(
                path,
                "`path`, `scheme` and `status` only apply to `via: http` probes",
            );
            ok = false;
        }
        if raw.query.is_some() && via != Some(Via::Dns) && !matrix {
            self.error(
                &format!("{path}.query"),
                "`query` only applies to `via: dns` probes",
            );
            ok = false;
        }
        let scheme = raw.scheme.unwrap_or(Scheme::Http);
        let http_path = match &raw.path {
            Some(p) => match names::http_path(&p.value) {
                Ok(()) => p.value.clone(),
                Err(e) => {
                    self.error_at(p, &format!("{path}.path"), e);
                    ok = false;
                    String::new()
                }
            },
            None => "/".to_string(),
        };
        let status = match &raw.status {
            Some(s) if (100..=599).contains(&s.value) => u16::try_from(s.value).ok(),
            Some(s) => {
                self.error_at(
                    s,
                    &format!("{path}.status"),
                    format!("{} is not an HTTP status code (100-599)", s.value),
                );
                ok = false;
                None
            }
            None => None,
        };
        let query = match &raw.query {
            Some(q) => match names::dns_name(&q.value) {
                Ok(()) => Some(q.value.clone()),
                Err(e) => {
                    self.error_at(q, &format!("{path}.query"), e);
                    ok = false;
                    None
                }
            },
            None => None,
        };
        if via == Some(Via::Dns) && query.is_none() && raw.query.is_none() {
            self.error(
                path,
                "a `via: dns` probe needs `query`, the name to resolve",
            );
            ok = false;
        }
        ok.then(|| Common {
            deny: raw.deny.as_ref().map_or(defaults.deny, |d| d.value),
            timeout,
            http: Some(HttpCheck {
                scheme,
                path: http_path,
                status,
            }),
            dns: query.map(|query| DnsCheck { query }),
            scheme,
        })
    }

    fn probe_entry(
        &mut self,
        scenario: &str,
        i: usize,
        entry: &Spanned<RawProbe>,
        defaults: &Defaults,
        services: &[ServiceSpec],
    ) -> Vec<Probe> {
        let path = format!("spec.probes[{i}]");
        self.current_probe.clone_from(&path);
        let raw = &entry.value;
        let location = self.doc.spanned(entry, &path);
        let name = match &raw.name {
            Some(n) => match names::probe_name(&n.value) {
                Ok(()) => Some(n.value.clone()),
                Err(e) => {
                    self.error_at(n, &format!("{path}.name"), e);
                    return Vec::new();
                }
            },
            None => None,
        };
        let via = raw.via.as_ref().map(|v| v.value);
        let protocol = raw.protocol.as_ref().map(|p| engine_protocol(p.value));
        let Some(common) = self.common(raw, &path, defaults, via, raw.matrix.is_some()) else {
            return Vec::new();
        };

        let Some(matrix) = &raw.matrix else {
            let Some(from) = raw.from.as_ref() else {
                self.error(&path, "a probe needs `from` (or a `matrix`)");
                return Vec::new();
            };
            let Some(from) = self.pod_ref(from, &format!("{path}.from")) else {
                return Vec::new();
            };
            let Some(targets) = self.targets(raw.to.as_ref(), via, services, &format!("{path}.to"))
            else {
                return Vec::new();
            };
            let expect = match raw.expect.as_ref() {
                None => Expectation::auto_unresolved(),
                Some(e) => match &e.value {
                    RawExpect::Word(w) => match self.word(w, e, &format!("{path}.expect")) {
                        Some(x) => x,
                        None => return Vec::new(),
                    },
                    RawExpect::Table(_) | RawExpect::Tables(_) => {
                        self.error_at(e, &format!("{path}.expect"), "truth tables are for a `matrix`; a single probe expects allow, deny or auto");
                        return Vec::new();
                    }
                },
            };
            let mut out = Vec::new();
            let several = targets.len() > 1;
            for target in targets {
                let Some((port, port_name, protocol, via, target)) = self.port(
                    &target,
                    raw.port.as_ref(),
                    protocol,
                    via,
                    &common,
                    services,
                    &path,
                ) else {
                    continue;
                };
                let generated = generated_name(&from, &target, port, protocol, via);
                let name = match (&name, several) {
                    (Some(n), false) => n.clone(),
                    (Some(n), true) => format!("{n} ({target})"),
                    (None, _) => generated,
                };
                out.push(self.make_probe(
                    scenario,
                    name,
                    from.clone(),
                    target,
                    port,
                    port_name,
                    protocol,
                    via,
                    expect.clone(),
                    &common,
                    location.clone(),
                ));
            }
            return out;
        };

        for field in [
            ("from", raw.from.is_some()),
            ("to", raw.to.is_some()),
            ("port", raw.port.is_some()),
        ] {
            if field.1 {
                self.error_key(
                    &format!("{path}.{}", field.0),
                    format!(
                        "`{}` cannot be combined with `matrix`; list it in the matrix",
                        field.0
                    ),
                );
                return Vec::new();
            }
        }
        let mut froms = Vec::new();
        for (j, f) in matrix.from.iter().enumerate() {
            if let Some(p) = self.pod_ref(f, &format!("{path}.matrix.from[{j}]")) {
                froms.push(p);
            }
        }
        let mut tos = Vec::new();
        for (j, t) in matrix.to.iter().enumerate() {
            if let Some(resolved) =
                self.targets(Some(t), via, services, &format!("{path}.matrix.to[{j}]"))
            {
                tos.extend(resolved);
            }
        }
        if froms.len() != matrix.from.len() || tos.is_empty() {
            return Vec::new();
        }
        if matrix.ports.is_empty() {
            self.error(
                &format!("{path}.matrix.ports"),
                "a matrix needs at least one port",
            );
            return Vec::new();
        }
        let tables = match raw.expect.as_ref() {
            None => MatrixExpect::Same(Expectation::auto_unresolved()),
            Some(e) => match &e.value {
                RawExpect::Word(w) => match self.word(w, e, &format!("{path}.expect")) {
                    Some(x) => MatrixExpect::Same(x),
                    None => return Vec::new(),
                },
                RawExpect::Table(text) => {
                    match self.table(text, e, &format!("{path}.expect"), &froms, &tos) {
                        Some(t) => MatrixExpect::One(t),
                        None => return Vec::new(),
                    }
                }
                RawExpect::Tables(map) => {
                    let mut tables = BTreeMap::new();
                    for (key, text) in map {
                        let at = format!("{path}.expect.{key}");
                        if !matrix
                            .ports
                            .iter()
                            .any(|p| p.value.port.value.to_string() == *key)
                        {
                            let message = format!("port {key} is not one of this matrix's ports");
                            self.error_key(&at, message);
                            return Vec::new();
                        }
                        match self.table(&text.value, text, &at, &froms, &tos) {
                            Some(t) => {
                                tables.insert(key.clone(), t);
                            }
                            None => return Vec::new(),
                        }
                    }
                    MatrixExpect::PerPort(tables)
                }
            },
        };
        let mut out = Vec::new();
        let mut reported = BTreeSet::new();
        for (k, port) in matrix.ports.iter().enumerate() {
            let port_path = format!("{path}.matrix.ports[{k}]");
            let RawMatrixPort {
                port: port_ref,
                protocol: cell_protocol,
                via: cell_via,
            } = &port.value;
            let port_ref = if port_ref.referenced.line() == 0 {
                Spanned::new(port_ref.value.clone(), port.referenced, port.defined)
            } else {
                port_ref.clone()
            };
            let cell_protocol = cell_protocol
                .as_ref()
                .map(|p| engine_protocol(p.value))
                .or(protocol);
            let cell_via = cell_via.as_ref().map(|v| v.value).or(via);
            let key = port_ref.value.to_string();
            let table = match &tables {
                MatrixExpect::Same(_) => None,
                MatrixExpect::One(t) => Some(t),
                MatrixExpect::PerPort(map) => match map.get(&key) {
                    Some(t) => Some(t),
                    None => {
                        self.error(
                            &format!("{path}.expect"),
                            format!("no truth table for port {key}; give one per matrix port"),
                        );
                        return Vec::new();
                    }
                },
            };
            for from in &froms {
                for target in &tos {
                    let expect = match (&tables, table) {
                        (MatrixExpect::Same(e), _) => e.clone(),
                        (_, Some(t)) => match t.get(&from.to_string(), &target.label()) {
                            Some(netverdict_engine::Mark::Allow) => {
                                Expectation::table(Verdict::Allow)
                            }
                            Some(netverdict_engine::Mark::Deny) => {
                                Expectation::table(Verdict::Deny)
                            }
                            _ => continue,
                        },
                        (_, None) => continue,
                    };
                    let mut diagnostics_before = self.loader.diagnostics.len();
                    let resolved = self.port(
                        target,
                        Some(&port_ref),
                        cell_protocol,
                        cell_via,
                        &common,
                        services,
                        &port_path,
                    );
                    // Report a port problem once per target, not once per source.
                    if self.loader.diagnostics.len() > diagnostics_before {
                        let new: Vec<Diagnostic> = self
                            .loader
                            .diagnostics
                            .drain(diagnostics_before..)
                            .collect();
                        for d in new {
                            if reported.insert((d.path.clone(), d.message.clone())) {
                                self.loader.diagnostics.push(d);
                            }
                        }
                        diagnostics_before = self.loader.diagnostics.len();
                    }
                    let _ = diagnostics_before;
                    let Some((port, port_name, protocol, via, target)) = resolved else {
                        continue;
                    };
                    let mut probe_name = generated_name(from, &target, port, protocol, via);
                    if let Some(n) = &name {
                        probe_name = format!("{n}: {probe_name}");
                    }
                    out.push(self.make_probe(
                        scenario,
                        probe_name,
                        from.clone(),
                        target,
                        port,
                        port_name,
                        protocol,
                        via,
                        expect,
                        &common,
                        location.clone(),
                    ));
                }
            }
        }
        out
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "A probe has this many parts; a builder would only move them."
    )]
    fn make_probe(
        &self,
        scenario: &str,
        name: String,
        from: PodRef,
        target: Target,
        port: u16,
        port_name: Option<String>,
        protocol: Protocol,
        via: Via,
        expect: Expectation,
        common: &Common,
        location: SourceLocation,
    ) -> Probe {
        Probe {
            scenario: scenario.to_string(),
            name,
            from,
            target,
            port,
            port_name,
            protocol,
            via,
            expect,
            deny: common.deny,
            timeout: common.timeout,
            http: if via == Via::Http {
                common.http.clone()
            } else {
                None
            },
            dns: if via == Via::Dns {
                common.dns.clone()
            } else {
                None
            },
            path: self.current_probe.clone(),
            location,
        }
    }

    fn word(
        &mut self,
        word: &str,
        spanned: &Spanned<RawExpect>,
        path: &str,
    ) -> Option<Expectation> {
        match word.trim() {
            "allow" => Some(Expectation::explicit(Verdict::Allow)),
            "deny" => Some(Expectation::explicit(Verdict::Deny)),
            "auto" => Some(Expectation::auto_unresolved()),
            other => {
                let hint = names::suggestion(other, ["allow", "deny", "auto"]);
                self.error_at(
                    spanned,
                    path,
                    format!("{other:?} is not an expectation: use allow, deny or auto{hint}"),
                );
                None
            }
        }
    }

    fn table<T>(
        &mut self,
        text: &str,
        spanned: &Spanned<T>,
        path: &str,
        froms: &[PodRef],
        tos: &[Resolved],
    ) -> Option<netverdict_engine::TruthTable> {
        let at = self.doc.spanned(spanned, path);
        // A block scalar's first line follows its `|` indicator.
        let first_line = at.line
            + u64::from(
                self.doc
                    .text
                    .lines()
                    .nth(usize::try_from(at.line.saturating_sub(1)).unwrap_or(0))
                    .is_some_and(|l| l.trim_end().ends_with('|') || l.trim_end().ends_with("|-")),
            );
        let locate = |line: usize| SourceLocation {
            file: at.file.clone(),
            line: first_line + line.saturating_sub(1) as u64,
            column: at.column,
        };
        let table = match netverdict_engine::TruthTable::parse(text) {
            Ok(t) => t,
            Err(e) => {
                let location = match &e {
                    netverdict_engine::TruthTableError::Empty => at.clone(),
                    netverdict_engine::TruthTableError::BadMark { line, .. }
                    | netverdict_engine::TruthTableError::RowLength { line, .. }
                    | netverdict_engine::TruthTableError::Duplicate { line, .. } => locate(*line),
                };
                let message = e.to_string();
                let message = message
                    .split_once(": ")
                    .filter(|(l, _)| l.starts_with("line "))
                    .map_or(message.clone(), |(_, m)| m.to_string());
                self.loader.diagnostics.push(Diagnostic::error(
                    location,
                    path,
                    format!("truth table: {message}"),
                ));
                return None;
            }
        };
        let rows: BTreeSet<String> = froms.iter().map(ToString::to_string).collect();
        let columns: BTreeSet<String> = tos.iter().map(Resolved::label).collect();
        let table_rows: BTreeSet<String> = table.rows().iter().cloned().collect();
        let table_columns: BTreeSet<String> = table.columns().iter().cloned().collect();
        // The 1-based line of the table that starts with `label` (the header is the first
        // non-blank line).
        let line_of = |label: Option<&str>| {
            let mut lines = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty());
            let header = lines.next().map_or(1, |(i, _)| i + 1);
            label
                .and_then(|label| {
                    lines
                        .find(|(_, l)| l.split_whitespace().next() == Some(label))
                        .map(|(i, _)| i + 1)
                })
                .unwrap_or(header)
        };
        let mut problems = Vec::new();
        if let Some(extra) = table_columns.difference(&columns).next() {
            let hint = names::suggestion(extra, columns.iter().map(String::as_str));
            problems.push((
                line_of(None),
                format!("column {extra} is not a target of this matrix{hint}"),
            ));
        }
        if let Some(missing) = columns.difference(&table_columns).next() {
            problems.push((
                line_of(None),
                format!("the header lacks target {missing} (write ? to leave a cell unprobed)"),
            ));
        }
        if let Some(extra) = table_rows.difference(&rows).next() {
            let hint = names::suggestion(extra, rows.iter().map(String::as_str));
            problems.push((
                line_of(Some(extra)),
                format!("row {extra} is not a source of this matrix{hint}"),
            ));
        }
        if let Some(missing) = rows.difference(&table_rows).next() {
            problems.push((
                line_of(None),
                format!("no row for source {missing} (write ? to leave a cell unprobed)"),
            ));
        }
        if let Some((line, problem)) = problems.into_iter().next() {
            self.loader.diagnostics.push(Diagnostic::error(
                locate(line),
                path,
                format!("truth table: {problem}"),
            ));
            return None;
        }
        Some(table)
    }

    /// Resolves the port of a probe to `target`: number, name, protocol and `via`, checking the
    /// target serves it.
    #[expect(clippy::too_many_arguments, reason = "Every input shapes the port.")]
    fn port(
        &mut self,
        target: &Resolved,
        port: Option<&Spanned<PortRef>>,
        protocol: Option<Protocol>,
        via: Option<Via>,
        common: &Common,
        services: &[ServiceSpec],
        path: &str,
    ) -> Option<(u16, Option<String>, Protocol, Via, Target)> {
        let port_path = if path.contains(".matrix.ports[") {
            path.to_string()
        } else {
            format!("{path}.port")
        };
        let hinted = protocol.or(via.map(|v| match v {
            Via::Udp | Via::Dns => Protocol::Udp,
            Via::Sctp => Protocol::Sctp,
            Via::Tcp | Via::Http => Protocol::Tcp,
        }));
        let (number, name, named_protocol) = match port.map(|p| &p.value) {
            Some(PortRef::Number(n)) => match u16::try_from(*n) {
                Ok(n) if n > 0 => (n, None, None),
                _ => {
                    self.error_at(
                        port.expect("a number was given"),
                        &port_path,
                        format!("port {n} is out of range: use 1 to 65535"),
                    );
                    return None;
                }
            },
            Some(PortRef::Name(wanted)) => {
                let spanned = port.expect("a name was given");
                match target {
                    Resolved::Pod(p) => {
                        let pod = self.pods.iter().find(|x| x.pod_ref() == *p)?;
                        match pod
                            .ports
                            .iter()
                            .find(|sp| sp.name.as_deref() == Some(wanted.as_str()))
                        {
                            Some(sp) => (sp.port, Some(wanted.clone()), Some(sp.protocol)),
                            None => {
                                let hint = names::suggestion(
                                    wanted,
                                    pod.ports.iter().filter_map(|sp| sp.name.as_deref()),
                                );
                                self.error_at(
                                    spanned,
                                    &port_path,
                                    format!("pod {p} serves no port named {wanted}{hint}"),
                                );
                                return None;
                            }
                        }
                    }
                    Resolved::Service(ns, svc) => {
                        let service = services
                            .iter()
                            .find(|s| s.namespace == *ns && s.name == *svc)?;
                        match service
                            .ports
                            .iter()
                            .find(|sp| sp.name.as_deref() == Some(wanted.as_str()))
                        {
                            Some(sp) => (sp.port, Some(wanted.clone()), Some(sp.protocol)),
                            None => {
                                self.error_at(
                                    spanned,
                                    &port_path,
                                    format!("service {ns}/{svc} has no port named {wanted}"),
                                );
                                return None;
                            }
                        }
                    }
                    _ => {
                        self.error_at(
                            spanned,
                            &port_path,
                            "port names only work for scenario pods and services; give a number",
                        );
                        return None;
                    }
                }
            }
            None => match via {
                Some(Via::Dns) => (53, None, None),
                Some(Via::Http) => (
                    if common.scheme == Scheme::Https {
                        443
                    } else {
                        80
                    },
                    None,
                    None,
                ),
                _ => {
                    self.error(
                        path,
                        "`port` is required (only dns and http probes have a default port)",
                    );
                    return None;
                }
            },
        };
        if let (Some(explicit), Some(named)) = (protocol, named_protocol)
            && explicit != named
        {
            let message = format!(
                "port {} is {} but the probe says protocol {}",
                name.as_deref().unwrap_or_default(),
                protocol_str(named),
                protocol_str(explicit)
            );
            self.error(&port_path, message);
            return None;
        }
        let protocol = named_protocol.or(hinted).unwrap_or(Protocol::Tcp);
        let via = via.unwrap_or(match protocol {
            Protocol::Tcp => Via::Tcp,
            Protocol::Udp => Via::Udp,
            Protocol::Sctp => Via::Sctp,
        });
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
            self.error(path, message);
            return None;
        }
        let target = match target {
            Resolved::Pod(p) => {
                let pod = self.pods.iter().find(|x| x.pod_ref() == *p)?;
                let served = pod
                    .ports
                    .iter()
                    .find(|sp| sp.port == number && sp.protocol == protocol);
                let Some(served) = served else {
                    let list = served_list(&pod.ports);
                    let mut message = format!(
                        "port {number}/{} is not served by {p} (it serves {list})",
                        protocol_str(protocol)
                    );
                    if let Some(other) = pod.ports.iter().find(|sp| sp.port == number) {
                        message.push_str(&format!(
                            "; add `protocol: {}`",
                            protocol_str(other.protocol)
                        ));
                    }
                    match port {
                        Some(s) => self.error_at(s, &port_path, message),
                        None => self.error(path, message),
                    }
                    return None;
                };
                let name = name.or_else(|| served.name.clone());
                return Some((number, name, protocol, via, Target::Pod(p.clone())));
            }
            Resolved::Service(ns, svc) => {
                let service = services
                    .iter()
                    .find(|s| s.namespace == *ns && s.name == *svc)?;
                let Some(sp) = service
                    .ports
                    .iter()
                    .find(|sp| sp.port == number && sp.protocol == protocol)
                else {
                    let message = format!(
                        "service {ns}/{svc} has no port {number}/{}",
                        protocol_str(protocol)
                    );
                    self.error(&port_path, message);
                    return None;
                };
                let backends: Vec<&PodSpec> = self
                    .pods
                    .iter()
                    .filter(|p| {
                        p.namespace == *ns
                            && service
                                .selector
                                .iter()
                                .all(|(k, v)| p.labels.get(k) == Some(v))
                    })
                    .collect();
                if backends.is_empty() {
                    self.error(
                        path,
                        format!("service {ns}/{svc} selects no pod of this scenario"),
                    );
                    return None;
                }
                let mut target_ports = BTreeSet::new();
                for b in &backends {
                    let found = match &sp.target_port {
                        TargetPort::Number(n) => b
                            .ports
                            .iter()
                            .find(|x| x.port == *n && x.protocol == protocol),
                        TargetPort::Name(n) => b
                            .ports
                            .iter()
                            .find(|x| x.name.as_deref() == Some(n.as_str())),
                    };
                    match found {
                        Some(x) => {
                            target_ports.insert(x.port);
                        }
                        None => {
                            let message = format!(
                                "service {ns}/{svc} sends port {number} to {}, which its pod {} does not serve",
                                match &sp.target_port {
                                    TargetPort::Number(n) => n.to_string(),
                                    TargetPort::Name(n) => n.clone(),
                                },
                                b.pod_ref()
                            );
                            self.error(path, message);
                            return None;
                        }
                    }
                }
                if target_ports.len() > 1 {
                    self.error(path, format!("service {ns}/{svc}'s pods serve its named target port on different numbers"));
                    return None;
                }
                Target::Service {
                    namespace: ns.clone(),
                    name: svc.clone(),
                    backends: backends.iter().map(|b| b.pod_ref()).collect(),
                    target_port: target_ports.into_iter().next().unwrap_or(number),
                }
            }
            Resolved::Host(h) => Target::Host(h.clone()),
            Resolved::Ip(ip) => Target::Ip(*ip),
            Resolved::ClusterDns => Target::ClusterDns,
        };
        let name = name.or_else(|| match &target {
            Target::Service {
                namespace,
                name: svc,
                ..
            } => services
                .iter()
                .find(|s| s.namespace == *namespace && s.name == *svc)
                .and_then(|s| {
                    s.ports
                        .iter()
                        .find(|p| p.port == number && p.protocol == protocol)
                })
                .and_then(|p| p.name.clone()),
            _ => None,
        });
        Some((number, name, protocol, via, target))
    }
}

enum MatrixExpect {
    Same(Expectation),
    One(netverdict_engine::TruthTable),
    PerPort(BTreeMap<String, netverdict_engine::TruthTable>),
}

/// Checks one NetworkPolicy (at `path` of `doc`, empty for a whole document): shape, namespace,
/// uniqueness, and the API server's validation through the engine.
fn check_policy(
    doc: &Document<'_>,
    path: &str,
    policy: &RawNetworkPolicy,
    namespaces: &[NamespaceSpec],
    existing: &[PolicySpec],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<PolicySpec> {
    let join = |field: &str| {
        if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    let mut error = |field: &str, message: String| {
        let at = join(field);
        diagnostics.push(Diagnostic::error(doc.at(&at), at, message));
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
        diagnostics.extend(crate::scenario::lint::lint_policy(policy, &at));
    }
    let location = doc.at(&join("metadata.name"));
    ok.then_some(PolicySpec {
        namespace,
        name,
        object,
        location,
    })
}

pub(crate) fn engine_protocol(p: raw::Protocol) -> Protocol {
    match p {
        raw::Protocol::Tcp => Protocol::Tcp,
        raw::Protocol::Udp => Protocol::Udp,
        raw::Protocol::Sctp => Protocol::Sctp,
    }
}

pub fn protocol_str(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

pub fn via_str(v: Via) -> &'static str {
    match v {
        Via::Tcp => "tcp",
        Via::Http => "http",
        Via::Dns => "dns",
        Via::Udp => "udp",
        Via::Sctp => "sctp",
    }
}

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

fn generated_name(
    from: &PodRef,
    target: &Target,
    port: u16,
    protocol: Protocol,
    via: Via,
) -> String {
    let to = match target {
        Target::Pod(p) => p.to_string(),
        other => other.to_string(),
    };
    let default_via = match protocol {
        Protocol::Tcp => Via::Tcp,
        Protocol::Udp => Via::Udp,
        Protocol::Sctp => Via::Sctp,
    };
    let via = if via == default_via {
        String::new()
    } else {
        format!(" via {}", via_str(via))
    };
    format!("{from} -> {to}:{port}/{}{via}", protocol_str(protocol))
}
