//! `netverdict cleanup [--run-id ID | --all] [--namespace NS]...`: deletes what killed runs
//! left behind, across the cluster or only in the named namespaces.

use std::io::Write;
use std::path::PathBuf;

use crate::cli::exit::{self, ExpectedError};
use crate::cli::preflight::namespace_name;
use crate::cli::serve::runtime;
use crate::cluster::{CleanupProblem, ClusterTarget, RunId, connect, delete_leftovers};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["run_id", "all"])))]
pub struct CleanupArgs {
    /// Delete the objects of this run.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Delete the objects of every netverdict run.
    #[arg(long)]
    pub all: bool,
    /// Delete only in this namespace (repeatable), asking only for what a Role in it grants
    /// (`deploy/rbac/namespaced.yaml`); namespaces themselves are left alone. Without it, the
    /// objects are looked for in every namespace, which needs cluster-wide `list`.
    #[arg(short = 'n', long = "namespace", value_name = "NS", value_parser = namespace_name)]
    pub namespaces: Vec<String>,
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
        Ok::<_, ExpectedError>(
            delete_leftovers(&connected.client, run.as_ref(), &args.namespaces).await,
        )
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
        Err(ExpectedError::CouldNotJudge(problems(&cleaned.failed)))
    }
}

/// One line per problem, but the refused listings across every namespace in one line that
/// names the permissions and how to do without them.
fn problems(failed: &[CleanupProblem]) -> String {
    let refused_everywhere = |problem: &&CleanupProblem| {
        matches!(
            problem,
            CleanupProblem::NotListed {
                namespace: None,
                ..
            }
        ) && problem.missing().is_some()
    };
    let mut lines: Vec<String> = failed
        .iter()
        .filter(|p| !refused_everywhere(p))
        .map(ToString::to_string)
        .collect();
    let missing: Vec<&str> = failed
        .iter()
        .filter(refused_everywhere)
        .filter_map(CleanupProblem::missing)
        .collect();
    if !missing.is_empty() {
        lines.insert(
            0,
            format!(
                "cannot look for the objects across the cluster (missing permission: {}); an identity allowed in some namespaces only cleans up there with --namespace NS (repeatable)",
                missing.join(", ")
            ),
        );
    }
    lines.join("\n")
}
