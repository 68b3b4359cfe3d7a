//! The `netverdict` command: [`Args::parse_and_run`] dispatches to one module per subcommand.
//! A new subcommand is a module with a clap `Args` struct and a `run` function, plus one variant
//! of [`Command`].

mod args;
mod diagnostics;
pub mod exit;
mod explain;
mod plan;
mod schema;
mod validate;

pub use args::{Args, Command, main};
pub use exit::ExpectedError;
