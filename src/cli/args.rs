//! Top-level arguments and dispatch.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli::exit::{self, ExpectedError};
use crate::cli::{cleanup, explain, local, plan, preflight, run, schema, serve, validate};

/// Proves what a Kubernetes network can and cannot do.
#[derive(Debug, Parser)]
#[command(name = "netverdict", version, about, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ok, 1 an expectation failed, 2 invalid input or usage, 3 could not judge."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parses, validates and lints scenario files; prints every problem with its location.
    Validate(validate::ValidateArgs),
    /// Expands scenarios into their concrete probes and computes `expect: auto` offline.
    Plan(plan::PlanArgs),
    /// Explains the engine's verdict on one connection of a scenario.
    Explain(explain::ExplainArgs),
    /// Prints the JSON Schema of the scenario format (for editors' YAML language servers).
    Schema(schema::SchemaArgs),
    /// Runs scenarios: spawns probe pods, probes in parallel, judges every verdict, reports.
    Run(Box<run::RunArgs>),
    /// Checks, creating nothing, that the API answers and this identity may do all a run needs.
    Preflight(preflight::PreflightArgs),
    /// Deletes what killed runs left behind in a cluster.
    Cleanup(cleanup::CleanupArgs),
    /// Starts, stops and lists embedded local clusters.
    Local(local::LocalArgs),
    /// The responder of probe pods: answers TCP (raw and HTTP) and echoes UDP.
    Serve(serve::ServeCommand),
    /// The probe agent the runner execs in probe pods (reads a batch request, streams records).
    #[command(hide = true)]
    ProbeBatch(netverdict_probes::ProbeBatchArgs),
}

impl Args {
    /// Parses the command line, runs the command and returns its exit code.
    pub fn parse_and_run() -> ExitCode {
        let args = match Args::try_parse() {
            Ok(args) => args,
            Err(e) => {
                let _ = e.print();
                return exit::code(if e.use_stderr() {
                    exit::INVALID_INPUT
                } else {
                    exit::OK
                });
            }
        };
        args.run()
    }

    pub fn run(self) -> ExitCode {
        // Not locked for the whole command: `serve` and `probe-batch` write to stdout from other
        // threads, which would wait forever on a lock held here.
        let mut out = std::io::stdout();
        let result = match &self.command {
            Command::Validate(a) => validate::run(a, &mut out),
            Command::Plan(a) => plan::run(a, &mut out),
            Command::Explain(a) => explain::run(a, &mut out),
            Command::Schema(a) => schema::run(a, &mut out),
            Command::Run(a) => run::run(a, &mut out),
            Command::Preflight(a) => preflight::run(a, &mut out),
            Command::Cleanup(a) => cleanup::run(a, &mut out),
            Command::Local(a) => local::run(a, &mut out),
            Command::Serve(a) => serve::serve(a, &mut out),
            Command::ProbeBatch(a) => serve::probe_batch(a, &mut out),
        };
        let _ = out.flush();
        match result {
            Ok(code) => exit::code(code),
            Err(e) => {
                let code = e.exit_code();
                if !matches!(e, ExpectedError::InvalidInput(_)) || !e.to_string().is_empty() {
                    eprintln!("error: {e}");
                }
                exit::code(code)
            }
        }
    }
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    Args::parse_and_run()
}
