//! The `netverdict` command: [`Args::parse_and_run`] dispatches to one module per subcommand.
//! A new subcommand is a module with a clap `Args` struct and a `run` function, plus one variant
//! of [`Command`].

mod args;
mod cleanup;
mod diagnostics;
mod durations;
pub mod exit;
mod explain;
mod local;
mod plan;
mod preflight;
mod probe_pods;
mod report_file;
mod results_configmap;
mod run;
mod run_local;
mod schema;
mod serve;
mod validate;

pub use args::{Args, Command, main};
pub use exit::ExpectedError;
