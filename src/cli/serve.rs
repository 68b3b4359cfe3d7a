//! `netverdict serve` (the responder in probe pods) and `netverdict probe-batch` (the agent the
//! runner execs in them).

use std::io::Write;

use crate::cli::exit::{self, ExpectedError};

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ExpectedError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            ExpectedError::CouldNotJudge(format!("cannot start the async runtime: {error}"))
        })
}

#[derive(Debug, clap::Args)]
pub struct ServeCommand {
    #[command(flatten)]
    pub ports: netverdict_probes::ServeArgs,
    /// Serve no port and wait to be stopped: a probe pod that only sends probes.
    #[arg(long, conflicts_with_all = ["tcp", "udp", "sctp"])]
    pub idle: bool,
}

pub(crate) fn serve(args: &ServeCommand, _out: &mut dyn Write) -> Result<u8, ExpectedError> {
    let runtime = runtime()?;
    if args.idle {
        runtime.block_on(stopped());
        return Ok(exit::OK);
    }
    runtime
        .block_on(netverdict_probes::serve(args.ports.to_config()))
        .map_err(|error| ExpectedError::CouldNotJudge(format!("serve: {error}")))?;
    Ok(exit::OK)
}

/// Resolves on SIGTERM or SIGINT.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

pub(crate) fn probe_batch(
    args: &netverdict_probes::ProbeBatchArgs,
    _out: &mut dyn Write,
) -> Result<u8, ExpectedError> {
    match runtime()?.block_on(netverdict_probes::probe_batch(args.clone())) {
        Ok(_) => Ok(exit::OK),
        Err(error) => {
            eprintln!("probe-batch: {error}");
            Ok(error.exit_code())
        }
    }
}
