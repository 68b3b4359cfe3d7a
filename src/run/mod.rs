//! The runner: from validated scenarios to judged probes, against any cluster.

mod batch;
mod cleanup;
mod clock;
mod config;
mod controls;
mod deaths;
mod enforcement;
mod error;
mod expectations;
mod interrupt;
mod lifecycle;
mod live;
mod objects;
mod probing;
mod requests;
mod setup;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) use batch::AGENT_COMMAND;
#[cfg(test)]
pub(crate) use batch::BatchError;
pub(crate) use batch::{BatchExec, Job, KubeExec, Observation, run_round};
pub(crate) use cleanup::CleanupCommand;
pub(crate) use config::{EXEC_SLACK, RunConfig, RunLimits};
pub(crate) use error::{LocalClusterError, RunError, RunErrors};
#[cfg(test)]
pub(crate) use interrupt::StopButton;
pub(crate) use interrupt::{Signals, StopRequests, shutdown_signal};
pub(crate) use lifecycle::{RunObserver, execute, namespaces_of};
pub(crate) use live::live_uses;
pub(crate) use probing::{ProbeProgress, ProbingOptions};
