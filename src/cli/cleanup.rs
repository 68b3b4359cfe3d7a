//! `netverdict cleanup [--run-id ID | --all]`: deletes what killed runs left behind.

use std::io::Write;
use std::path::PathBuf;

use crate::cli::exit::{self, ExpectedError};
use crate::cli::serve::runtime;
use crate::cluster::{ClusterTarget, RunId, connect, delete_leftovers};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["run_id", "all"])))]
pub struct CleanupArgs {
    /// Delete the objects of this run.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Delete the objects of every netverdict run.
    #[arg(long)]
    pub all: bool,
    /// The kubeconfig to use.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// How long connecting to the API server (TCP and TLS) and its first answer may take (100ms
    /// to 5m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::durations::CONNECT_TIMEOUT.parser())]
    pub connect_timeout: std::time::Duration,
}

pub(crate) fn run(args: &CleanupArgs, out: &mut dyn Write) -> Result<u8, ExpectedError> {
    let run = match &args.run_id {
        Some(id) => Some(
            RunId::parse(id).map_err(|e| ExpectedError::InvalidInput(format!("--run-id: {e}")))?,
        ),
        None => None,
    };
    let target = ClusterTarget {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        connect_timeout: args.connect_timeout,
    };
    let cleaned = runtime()?.block_on(async {
        let connected = connect(&target).await.map_err(|e| {
            if e.is_invalid_input() {
                ExpectedError::InvalidInput(e.to_string())
            } else {
                ExpectedError::CouldNotJudge(e.to_string())
            }
        })?;
        Ok::<_, ExpectedError>(delete_leftovers(&connected.client, run.as_ref()).await)
    })?;
    for deleted in &cleaned.deleted {
        writeln!(out, "deleted {deleted}")?;
    }
    if cleaned.deleted.is_empty() && cleaned.failed.is_empty() {
        writeln!(out, "nothing to delete")?;
    }
    if cleaned.failed.is_empty() {
        Ok(exit::OK)
    } else {
        let failed: Vec<String> = cleaned.failed.iter().map(ToString::to_string).collect();
        Err(ExpectedError::CouldNotJudge(failed.join("\n")))
    }
}
