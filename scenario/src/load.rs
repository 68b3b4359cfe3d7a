//! Loading: files and folders -> YAML documents (`document`) -> raw scenarios, handed to
//! validation and probe expansion (`validate`, `expand`); every problem is reported as a located
//! [`Diagnostic`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::document::{parse_tree, parse_typed, split_documents};
use crate::expect::{Addresses, HostTable};
use crate::model::Scenario;
use crate::raw::RawScenario;
use crate::sink::DiagnosticSink;
use crate::source::{Diagnostic, SourceFile, SourceLocation, parse_path};
use crate::validate::Validator;

pub use crate::checks::MAX_TIMEOUT;
pub use crate::model::{protocol_str, via_str};

/// The result of loading: the valid scenarios, every diagnostic, and the source files read (to
/// show source lines under diagnostics).
#[derive(Debug, Default)]
pub struct Loaded {
    pub scenarios: Vec<Scenario>,
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
/// files meant for `spec.policies[].file`, and are skipped. `expect: auto` and the lints know the
/// addresses of `hosts`, and of no other host.
pub fn load_paths(paths: &[PathBuf], hosts: &HostTable) -> Loaded {
    let mut loaded = Loaded::default();
    let mut names: BTreeMap<String, SourceLocation> = BTreeMap::new();
    for (file, in_folder) in files(paths, &mut loaded.diagnostics) {
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
        let mut sink = DiagnosticSink::default();
        let scenarios = load_file(&file, &text, in_folder, &mut sink);
        for mut scenario in scenarios {
            finish(&mut scenario, hosts, &mut sink);
            if let Some(first) = names.get(&scenario.name) {
                sink.push(Diagnostic::error(
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
        let (mut diagnostics, mut sources) = sink.into_parts();
        loaded.sources.insert(
            file.clone(),
            SourceFile {
                path: file.clone(),
                text,
            },
        );
        loaded.sources.append(&mut sources);
        loaded.diagnostics.append(&mut diagnostics);
    }
    loaded
}

/// The files to load, in order, each with whether it was found in a folder.
fn files(paths: &[PathBuf], diagnostics: &mut Vec<Diagnostic>) -> Vec<(PathBuf, bool)> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push((path.clone(), false));
            continue;
        }
        let mut found = Vec::new();
        collect_yaml(path, &mut found, diagnostics);
        found.sort();
        if found.is_empty() {
            diagnostics.push(Diagnostic::error(
                SourceLocation::file(path),
                "",
                "this folder holds no *.yaml or *.yml file",
            ));
        }
        files.extend(found.into_iter().map(|f| (f, true)));
    }
    files
}

/// Loads scenarios from YAML text, as if read from `file` (for tests and tools).
pub fn load_str(file: &Path, text: &str, hosts: &HostTable) -> Loaded {
    let mut sink = DiagnosticSink::default();
    let mut scenarios = load_file(file, text, false, &mut sink);
    for scenario in &mut scenarios {
        finish(scenario, hosts, &mut sink);
    }
    let (diagnostics, mut sources) = sink.into_parts();
    sources.insert(
        file.to_path_buf(),
        SourceFile {
            path: file.to_path_buf(),
            text: text.to_string(),
        },
    );
    Loaded {
        scenarios,
        diagnostics,
        sources,
    }
}

/// Computes `expect: auto` with what is known offline, and runs the scenario-wide lints.
fn finish(scenario: &mut Scenario, hosts: &HostTable, sink: &mut DiagnosticSink) {
    let addresses = Addresses::offline(hosts);
    crate::expect::resolve(scenario, &addresses);
    sink.extend(crate::lint::lint_scenario(scenario, &addresses));
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
        // Hidden entries are skipped: a ConfigMap volume holds every file twice more, under
        // `..data/` and `..<timestamp>/`, besides the links to them that are the files.
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect_yaml(&path, out, diagnostics);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// The valid scenarios of one file; a file in a folder whose documents are all NetworkPolicies
/// is a policy file, and holds none.
fn load_file(file: &Path, text: &str, in_folder: bool, sink: &mut DiagnosticSink) -> Vec<Scenario> {
    let mut docs = Vec::new();
    for doc_text in split_documents(text) {
        if let Some(doc) = parse_tree(file, doc_text, sink) {
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
    if docs.is_empty() && !sink.has_diagnostics_in(file) {
        let location = SourceLocation {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
        };
        sink.push(Diagnostic::error(
            location,
            "",
            "this file holds no scenario",
        ));
    }
    let mut scenarios = Vec::new();
    for doc in &docs {
        let Some(raw) = parse_typed::<RawScenario>(doc, sink) else {
            continue;
        };
        let before = sink.error_count();
        let scenario = Validator::new(doc, sink).scenario(raw);
        if let Some(scenario) = scenario.filter(|_| sink.error_count() == before) {
            scenarios.push(scenario);
        }
    }
    scenarios
}

#[cfg(test)]
mod folder_tests {
    use super::*;

    /// A folder laid out as the kubelet writes a ConfigMap volume: the files under a hidden
    /// directory per version, `..data` linking to the current one, and links to `..data/`.
    #[test]
    fn a_config_map_volume_is_read_once() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let version = root.join("..2025_01_02_03_04_05.000000001");
        std::fs::create_dir_all(version.join("policies")).unwrap();
        let scenario = "apiVersion: netverdict.io/v1alpha1\nkind: Scenario\nmetadata: {name: once}\nspec:\n  namespaces: [{name: a}]\n  pods: [{name: p, namespace: a}, {name: q, namespace: a, ports: [{port: 80}]}]\n  probes: [{from: a/p, to: a/q, port: 80, expect: allow}]\n";
        std::fs::write(version.join("s.yaml"), scenario).unwrap();
        symlink("..2025_01_02_03_04_05.000000001", root.join("..data")).unwrap();
        symlink("..data/s.yaml", root.join("s.yaml")).unwrap();
        let loaded = load_paths(&[root.to_path_buf()], &HostTable::default());
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        assert_eq!(loaded.scenarios.len(), 1);
        assert!(loaded.scenarios[0].location.file.ends_with("s.yaml"));
        assert!(
            !loaded.scenarios[0]
                .location
                .file
                .to_string_lossy()
                .contains("..")
        );
    }
}
