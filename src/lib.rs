//! netverdict: proves what a Kubernetes network can and cannot do.
//!
//! - [`scenario`]: the scenario language, loaded into a validated, expanded [`scenario::Scenario`].
//! - [`plan`]: the concrete probe list as `plan` prints it.
//! - [`cli`]: the `netverdict` command.

pub mod cli;
pub mod plan;
pub mod scenario;
#[expect(dead_code, unused_imports, reason = "the runner is their only user and is not wired yet")]
mod cluster;
mod k8s;
#[expect(dead_code, reason = "the runner is its only user and is not wired yet")]
mod verdict;
#[expect(dead_code, reason = "the runner is their only user and is not wired yet")]
mod report;
#[expect(dead_code, reason = "the runner is its only user and is not wired yet")]
mod results;
