//! `netverdict local up|down|status`: the embedded local cluster.

use std::io::Write;

use clap::Subcommand;
use netverdict_localcluster::{DownOptions, ServeOptions, UpOptions};

use crate::cli::exit::{self, ExpectedError};
use crate::cli::serve::runtime;

#[derive(Debug, clap::Args)]
pub struct LocalArgs {
    #[command(subcommand)]
    pub command: LocalCommand,
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Starts a local cluster in the background and writes its kubeconfig.
    Up(UpOptions),
    /// Stops a local cluster and removes everything it created.
    Down(DownOptions),
    /// Lists the running local clusters.
    Status,
    /// Runs a local cluster in the foreground (what `up` starts in the background).
    #[command(hide = true)]
    Serve(ServeOptions),
}

/// Logs of a cluster running in the foreground go to stderr (`RUST_LOG` filters them).
fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub(crate) fn run(args: &LocalArgs, out: &mut dyn Write) -> Result<u8, ExpectedError> {
    let failed = |error: netverdict_localcluster::ClusterError| match error {
        netverdict_localcluster::ClusterError::Kubeconfig(_) => {
            ExpectedError::InvalidInput(error.to_string())
        }
        _ => ExpectedError::CouldNotJudge(error.to_string()),
    };
    match &args.command {
        LocalCommand::Up(options) if options.foreground => {
            log_to_stderr();
            runtime()?
                .block_on(netverdict_localcluster::serve_foreground(
                    options.serve.clone(),
                ))
                .map_err(failed)?;
        }
        LocalCommand::Up(options) => {
            let report = netverdict_localcluster::up(options.clone()).map_err(failed)?;
            writeln!(
                out,
                "local cluster {} is up (pid {}, API https://{})",
                report.name, report.pid, report.api_addr,
            )?;
            if options.serve.kubeconfig.is_some() {
                writeln!(
                    out,
                    "merged cluster, user and context {} into {} (now its current context; `netverdict local down --name {}` removes them)",
                    netverdict_localcluster::instance::context_name(&report.name),
                    report.kubeconfig.display(),
                    report.name
                )?;
            }
            writeln!(out, "export KUBECONFIG={}", report.kubeconfig.display())?;
        }
        LocalCommand::Down(options) => {
            for removed in netverdict_localcluster::down(options.clone()).map_err(failed)? {
                writeln!(out, "removed {removed}")?;
            }
        }
        LocalCommand::Status => {
            let instances = netverdict_localcluster::status();
            if instances.is_empty() {
                writeln!(out, "no local cluster is running")?;
            }
            for instance in instances {
                let state = match (instance.running, instance.ready) {
                    (true, true) => "ready".to_owned(),
                    (true, false) => "starting".to_owned(),
                    (false, _) => format!(
                        "not running (remove its leftovers with `netverdict local down --name {}`)",
                        instance.name
                    ),
                };
                let api = instance
                    .api_addr
                    .map_or_else(|| "-".to_owned(), |addr| format!("https://{addr}"));
                writeln!(
                    out,
                    "{}\t{state}\t{api}\t{}",
                    instance.name,
                    instance.kubeconfig.display()
                )?;
            }
        }
        LocalCommand::Serve(options) => {
            log_to_stderr();
            runtime()?
                .block_on(netverdict_localcluster::serve_foreground(options.clone()))
                .map_err(failed)?;
        }
    }
    Ok(exit::OK)
}
