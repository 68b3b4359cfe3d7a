//! `netverdict validate PATH...`: parse, validate, lint.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::cli::diagnostics;
use crate::cli::exit::{self, ExpectedError};
use crate::scenario::{Diagnostic, Loaded, Severity};

#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
pub enum Output {
    /// `file:line:column: severity: path: message` lines with source excerpts, on stderr.
    #[default]
    Text,
    /// One JSON document on stdout, for editors and CI annotations.
    Json,
    /// A SARIF 2.1.0 log on stdout, for GitHub code scanning and other SARIF viewers.
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Scenario files, or folders searched for *.yaml and *.yml (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// Treat warnings (lints) as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    #[arg(long, short, visible_alias = "format", value_enum, default_value_t)]
    pub output: Output,
    /// Also write the errors and lints as SARIF 2.1.0 here (for GitHub code scanning).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
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
    diagnostics::write_sarif(args.sarif.as_deref(), &loaded, args.deny_warnings)?;
    let valid = !loaded.has_errors() && (!args.deny_warnings || loaded.diagnostics.is_empty());
    match args.output {
        Output::Json => write_json(&loaded, args.deny_warnings, valid, out)?,
        Output::Sarif => write!(
            out,
            "{}",
            crate::report::sarif::render(&loaded.diagnostics, args.deny_warnings)
        )?,
        Output::Text => {
            diagnostics::print(&loaded, args.deny_warnings);
            if valid {
                let plural =
                    |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
                writeln!(
                    out,
                    "valid: {}, {}",
                    plural(loaded.scenarios.len(), "scenario"),
                    plural(probe_count(&loaded), "probe")
                )?;
                for scenario in &loaded.scenarios {
                    if let Some(note) = crate::plan::resolved_at_run_time(scenario) {
                        writeln!(out, "  {}: {note}", scenario.name)?;
                    }
                }
            }
        }
    }
    Ok(if valid { exit::OK } else { exit::INVALID_INPUT })
}

fn probe_count(loaded: &Loaded) -> usize {
    loaded.scenarios.iter().map(|s| s.probes.len()).sum()
}

fn write_json(
    loaded: &Loaded,
    deny_warnings: bool,
    valid: bool,
    out: &mut dyn Write,
) -> Result<(), ExpectedError> {
    let report = Report {
        valid,
        scenarios: loaded.scenarios.len(),
        probes: probe_count(loaded),
        diagnostics: loaded
            .diagnostics
            .iter()
            .map(|d| DiagnosticJson::new(d, deny_warnings))
            .collect(),
    };
    let json =
        serde_json::to_string_pretty(&report).map_err(|e| ExpectedError::Output(e.into()))?;
    writeln!(out, "{json}")?;
    Ok(())
}
