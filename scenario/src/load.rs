//! Loading: files and folders -> YAML documents -> raw scenarios, handed to validation
//! (`validate`) and probe expansion (`expand`); every problem is reported
//! as a located [`Diagnostic`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netverdict_engine::Protocol;
use serde_saphyr::{Location, MessageFormatter, Spanned};

use crate::names;
use crate::raw::{self, RawScenario, Via};
use crate::source::{Diagnostic, SourceFile, SourceLocation, Tree, parse_path, render_path};

/// The longest per-probe timeout accepted; a probe that needs longer is not a reachability probe.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// The result of loading: the valid scenarios, every diagnostic, and the source files read (to
/// show source lines under diagnostics).
#[derive(Debug, Default)]
pub struct Loaded {
    pub scenarios: Vec<crate::model::Scenario>,
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
fn finish(scenario: &mut crate::model::Scenario, diagnostics: &mut Vec<Diagnostic>) {
    let addresses = crate::expect::Addresses::offline();
    crate::expect::resolve(scenario, &addresses);
    diagnostics.extend(crate::lint::lint_scenario(scenario, &addresses));
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
pub(crate) fn split_documents(text: &str) -> Vec<String> {
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
pub(crate) fn parse_message(err: &serde_saphyr::Error) -> String {
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

pub(crate) fn parser_location(err: &serde_saphyr::Error) -> Option<(u64, u64)> {
    err.location()
        .filter(|l| l.line() > 0)
        .map(|l| (l.line(), l.column()))
}

/// Where a document starts: its first line with content (for errors the parser cannot place).
pub(crate) fn document_start(text: &str) -> (u64, u64) {
    text.lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map_or((1, 1), |(i, l)| {
            (i as u64 + 1, (l.len() - l.trim_start().len()) as u64 + 1)
        })
}

/// Parses a document's located tree; `None` (with a diagnostic) on a YAML syntax error.
pub(crate) fn parse_tree<'a>(
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

pub(crate) struct Loader {
    pub(crate) diagnostics: Vec<Diagnostic>,
    pub(crate) sources: BTreeMap<PathBuf, SourceFile>,
}

impl Loader {
    fn load_file(
        &mut self,
        file: &Path,
        text: &str,
        in_folder: bool,
    ) -> Vec<crate::model::Scenario> {
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
            let scenario = crate::validate::Validator {
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
