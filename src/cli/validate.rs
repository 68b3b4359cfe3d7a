//! `netverdict validate PATH...`: parse, validate, lint.

use std::io::Write;
use std::path::PathBuf;

use crate::cli::diagnostics;
use crate::cli::exit::{self, ExpectedError};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Scenario files, or folders searched for *.yaml and *.yml (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// Treat warnings (lints) as errors.
    #[arg(long)]
    pub deny_warnings: bool,
}

pub(crate) fn run(args: &ValidateArgs, out: &mut dyn Write) -> Result<u8, ExpectedError> {
    let loaded = crate::scenario::load_paths(&diagnostics::paths_or_default(&args.paths));
    let counts = diagnostics::print(&loaded, args.deny_warnings);
    if counts.errors > 0 {
        return Ok(exit::INVALID_INPUT);
    }
    let probes: usize = loaded.scenarios.iter().map(|s| s.probes.len()).sum();
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    writeln!(
        out,
        "valid: {}, {}",
        plural(loaded.scenarios.len(), "scenario"),
        plural(probes, "probe")
    )?;
    Ok(exit::OK)
}
