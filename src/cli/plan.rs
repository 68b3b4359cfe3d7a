//! `netverdict plan PATH... [--output table|json]`: the concrete probes, `auto` computed.

use std::io::Write;
use std::path::PathBuf;

use crate::cli::diagnostics;
use crate::cli::exit::{self, ExpectedError};

#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
pub enum Output {
    /// One line per probe.
    #[default]
    Table,
    /// The stable JSON shape documented in docs/scenario-format.md.
    Json,
    /// Truth tables per probe entry and port, as the upstream e2e suite prints them.
    Tables,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Scenario files, or folders searched for *.yaml and *.yml (default: scenarios/).
    pub paths: Vec<PathBuf>,
    #[arg(long, short, value_enum, default_value_t)]
    pub output: Output,
    /// Treat warnings (lints) as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Also write the errors and lints as SARIF 2.1.0 here (for GitHub code scanning).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
}

pub(crate) fn run(args: &PlanArgs, out: &mut dyn Write) -> Result<u8, ExpectedError> {
    let loaded = crate::scenario::load_paths(
        &diagnostics::paths_or_default(&args.paths),
        &crate::hosts::local_cluster(),
    );
    let counts = diagnostics::print(&loaded, args.deny_warnings);
    diagnostics::write_sarif(args.sarif.as_deref(), &loaded, args.deny_warnings)?;
    if counts.errors > 0 {
        return Ok(exit::INVALID_INPUT);
    }
    match args.output {
        Output::Table => write!(out, "{}", crate::plan::to_table(&loaded.scenarios))?,
        Output::Tables => write!(out, "{}", crate::plan::to_truth_tables(&loaded.scenarios))?,
        Output::Json => {
            let json = serde_json::to_string_pretty(&crate::plan::to_json(&loaded.scenarios))
                .map_err(|e| ExpectedError::Output(e.into()))?;
            writeln!(out, "{json}")?;
        }
    }
    Ok(exit::OK)
}
