//! A stand-alone `serve` / `probe-batch` binary, wired as the netverdict CLI wires them. Used by
//! `probes/bench/agent.sh`; handy for trying the agent by hand:
//!
//! ```sh
//! cargo run -p netverdict-probes --example nvp -- serve --tcp 8080 --udp 5353 &
//! echo '{"version":2,"probes":[{"id":"a","timeout_ms":1000,"probe":{"kind":"tcp","host":"127.0.0.1","port":8080}}]}' \
//!   | cargo run -p netverdict-probes --example nvp -- probe-batch
//! ```
//!
//! With `NVP_REPORT_RSS=1`, `probe-batch` prints its own peak RSS (VmHWM) to stderr at the end.

use std::process::ExitCode;

use clap::Parser;
use netverdict_probes::{ProbeBatchArgs, ServeArgs, probe_batch, serve};

#[derive(Parser)]
enum Command {
    /// The responder of probe pods.
    Serve(ServeArgs),
    /// Runs a batch of probes read from stdin; one JSON record per line on stdout.
    ProbeBatch(ProbeBatchArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Command::parse() {
        Command::Serve(args) => match serve(args.to_config()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Command::ProbeBatch(args) => {
            let result = probe_batch(args).await;
            if std::env::var_os("NVP_REPORT_RSS").is_some() {
                let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
                if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) {
                    eprintln!("agent peak RSS: {}", line["VmHWM:".len()..].trim());
                }
            }
            match result {
                Ok(_) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::from(error.exit_code())
                }
            }
        }
    }
}
