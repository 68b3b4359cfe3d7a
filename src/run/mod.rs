//! The runner: from validated scenarios to judged probes, against any cluster.

mod batch;
mod cleanup;
mod deaths;
mod enforcement;
mod expectations;
mod interrupt;
mod lifecycle;
mod objects;
mod probing;
mod requests;

pub(crate) use batch::{BatchExec, Job, KubeExec, Observation, run_round};
pub(crate) use cleanup::CleanupCommand;
pub(crate) use lifecycle::{RunConfig, RunObserver, execute, namespaces_of, shutdown_signal};
pub(crate) use probing::{ProbeProgress, ProbingOptions};
