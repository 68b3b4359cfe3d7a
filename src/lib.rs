//! netverdict: proves what a Kubernetes network can and cannot do.
//!
//! - [`scenario`]: the scenario language, loaded into a validated, expanded [`scenario::Scenario`].
//! - [`plan`]: the concrete probe list as `plan` prints it.
//! - [`cli`]: the `netverdict` command.

/// The scenario language, its own crate; re-exported so paths stay `crate::scenario::...`.
pub use netverdict_scenario as scenario;
/// The concrete probe list as `plan` prints it, from the scenario crate.
pub use netverdict_scenario::plan;

pub mod cli;
mod cluster;
mod hosts;
mod k8s;
mod preflight;
mod report;
mod results;
mod run;
mod verdict;
