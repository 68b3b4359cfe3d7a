//! `--sarif FILE` and `validate --format sarif`: the scenarios' errors and lints as SARIF 2.1.0,
//! so GitHub code scanning (and any SARIF viewer) annotates the scenario lines they are about.
//!
//! Every diagnostic is one result with its rule, level, message, file, line, column and field
//! path. Errors share the rule `invalid-scenario`; each lint is its own rule. Files below the
//! working directory are relative URIs against `%SRCROOT%` (the repository root, for code
//! scanning); others are absolute `file:` URIs.

use std::path::Path;

use serde::Serialize;

use crate::results::SourceLine;
use crate::scenario::lint;
use crate::scenario::{Diagnostic, Severity};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// The rule of every error: the scenario cannot run as written.
const INVALID_SCENARIO: &str = "invalid-scenario";
const SRCROOT: &str = "%SRCROOT%";

/// Renders `diagnostics` as a SARIF log; with `deny_warnings`, lints are errors, as they are for
/// the command's exit code.
pub(crate) fn render(diagnostics: &[Diagnostic], deny_warnings: bool) -> String {
    let cwd = std::env::current_dir().ok();
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "netverdict",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: env!("CARGO_PKG_REPOSITORY"),
                    rules: rules(),
                },
            },
            original_uri_base_ids: cwd.as_deref().map(|dir| BaseIds {
                srcroot: ArtifactLocation {
                    uri: format!("{}/", file_uri(dir)),
                    uri_base_id: None,
                },
            }),
            invocations: [Invocation {
                execution_successful: true,
            }],
            column_kind: "unicodeCodePoints",
            results: unique(diagnostics)
                .map(|d| result(d, deny_warnings))
                .collect(),
        }],
    };
    let mut text = serde_json::to_string_pretty(&log).expect("a SARIF log always serializes");
    text.push('\n');
    text
}

/// The diagnostics without repeats (a problem can be found on two paths to it).
fn unique(diagnostics: &[Diagnostic]) -> impl Iterator<Item = &Diagnostic> {
    diagnostics
        .iter()
        .enumerate()
        .filter(|(i, d)| !diagnostics[..*i].contains(d))
        .map(|(_, d)| d)
}

/// Every rule netverdict reports, errors first, then the lints in their documented order.
fn rules() -> Vec<Rule> {
    let invalid = Rule {
        id: INVALID_SCENARIO,
        short_description: Text {
            text: "The scenario file is not valid: netverdict cannot run it as written.".into(),
        },
        help_uri: help_uri("validation"),
        default_configuration: Configuration { level: "error" },
    };
    let lints = lint::ALL.iter().map(|id| Rule {
        id,
        short_description: Text {
            text: lint::summary(id).unwrap_or_default().into(),
        },
        help_uri: help_uri("lints"),
        default_configuration: Configuration { level: "warning" },
    });
    std::iter::once(invalid).chain(lints).collect()
}

fn help_uri(section: &str) -> String {
    format!(
        "{}/blob/main/docs/scenario-format.md#{section}",
        env!("CARGO_PKG_REPOSITORY")
    )
}

fn result(d: &Diagnostic, deny_warnings: bool) -> SarifResult {
    let rule_id = d.lint.unwrap_or(INVALID_SCENARIO);
    let error = d.severity == Severity::Error || deny_warnings;
    let message = if d.path.is_empty() {
        d.message.clone()
    } else {
        format!("{}: {}", d.path, d.message)
    };
    SarifResult {
        rule_index: rule_index(d.lint),
        rule_id,
        level: if error { "error" } else { "warning" },
        message: Text { text: message },
        locations: [Location {
            physical_location: PhysicalLocation {
                artifact_location: artifact(&d.location.file),
                region: (d.location.line > 0).then(|| Region {
                    start_line: d.location.line,
                    start_column: (d.location.column > 0).then_some(d.location.column),
                }),
            },
            logical_locations: (!d.path.is_empty()).then(|| {
                [LogicalLocation {
                    fully_qualified_name: d.path.clone(),
                    kind: "member",
                }]
            }),
        }],
    }
}

/// The position of the rule in [`rules`].
fn rule_index(lint: Option<&str>) -> Option<usize> {
    match lint {
        None => Some(0),
        Some(id) => lint::ALL.iter().position(|l| *l == id).map(|i| i + 1),
    }
}

/// Where `file` is: relative to `%SRCROOT%` when below the working directory.
fn artifact(file: &Path) -> ArtifactLocation {
    let relative = SourceLine::new(file, 0).file;
    if Path::new(&relative).is_absolute() {
        ArtifactLocation {
            uri: file_uri(Path::new(&relative)),
            uri_base_id: None,
        }
    } else {
        ArtifactLocation {
            uri: percent_encoded(&relative),
            uri_base_id: Some(SRCROOT),
        }
    }
}

fn file_uri(absolute: &Path) -> String {
    format!(
        "file://{}",
        percent_encoded(&absolute.display().to_string())
    )
}

/// `path` as a URI path: unreserved characters and `/` as they are, every other byte `%XX`.
fn percent_encoded(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Tool,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_uri_base_ids: Option<BaseIds>,
    invocations: [Invocation; 1],
    column_kind: &'static str,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    short_description: Text,
    help_uri: String,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct BaseIds {
    #[serde(rename = "%SRCROOT%")]
    srcroot: ArtifactLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    level: &'static str,
    message: Text,
    locations: [Location; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    logical_locations: Option<[LogicalLocation; 1]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_column: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    fully_qualified_name: String,
    kind: &'static str,
}

#[cfg(test)]
mod tests;
