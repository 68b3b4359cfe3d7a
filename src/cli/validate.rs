//! `netverdict validate PATH...`: parse, validate, lint.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::cli::diagnostics;
use crate::cli::exit::{self, ExpectedError};
use crate::scenario::{Diagnostic, Severity};

#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
pub enum Output {
    /// `file:line:column: severity: path: message` lines with source excerpts, on stderr.
    #[default]
    Text,
    /// One JSON document on stdout, for editors and CI annotations.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Scenario files, or folders searched for *.yaml and *.yml (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// Treat warnings (lints) as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    #[arg(long, short, value_enum, default_value_t)]
    pub output: Output,
}

/// `validate --output json`.
#[derive(Debug, Serialize)]
struct Report {
    valid: bool,
    scenarios: usize,
    probes: usize,
    diagnostics: Vec<DiagnosticJson>,
}

#[derive(Debug, Serialize)]
struct DiagnosticJson {
    severity: &'static str,
    file: String,
    line: u64,
    column: u64,
    path: String,
    message: String,
    lint: Option<&'static str>,
}

impl DiagnosticJson {
    fn new(d: &Diagnostic, deny_warnings: bool) -> Self {
        let error = d.severity == Severity::Error || deny_warnings;
        Self {
            severity: if error { "error" } else { "warning" },
            file: d.location.file.display().to_string(),
            line: d.location.line,
            column: d.location.column,
            path: d.path.clone(),
            message: d.message.clone(),
            lint: d.lint,
        }
    }
}

pub(crate) fn run(args: &ValidateArgs, out: &mut dyn Write) -> Result<u8, ExpectedError> {
    let loaded = crate::scenario::load_paths(
        &diagnostics::paths_or_default(&args.paths),
        &crate::hosts::local_cluster(),
    );
    let probes: usize = loaded.scenarios.iter().map(|s| s.probes.len()).sum();
    let valid = if let Output::Json = args.output {
        let report = Report {
            valid: !loaded.has_errors() && (!args.deny_warnings || loaded.diagnostics.is_empty()),
            scenarios: loaded.scenarios.len(),
            probes,
            diagnostics: loaded
                .diagnostics
                .iter()
                .map(|d| DiagnosticJson::new(d, args.deny_warnings))
                .collect(),
        };
        let json =
            serde_json::to_string_pretty(&report).map_err(|e| ExpectedError::Output(e.into()))?;
        writeln!(out, "{json}")?;
        report.valid
    } else {
        let counts = diagnostics::print(&loaded, args.deny_warnings);
        if counts.errors == 0 {
            let plural =
                |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
            writeln!(
                out,
                "valid: {}, {}",
                plural(loaded.scenarios.len(), "scenario"),
                plural(probes, "probe")
            )?;
        }
        counts.errors == 0
    };
    Ok(if valid { exit::OK } else { exit::INVALID_INPUT })
}
