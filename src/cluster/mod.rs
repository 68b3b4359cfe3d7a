//! Operations on the cluster under test, through its API only: connect, create the run's
//! objects, wait for probe pods, exec in them, and clean up by label.

mod cleanup;
mod client;
mod exec;
mod labels;
mod objects;
mod probe_pod;
mod wait;

pub(crate) use cleanup::{Cleaned, delete_leftovers, delete_run};
pub(crate) use client::{ClusterTarget, ConnectError, connect};
pub(crate) use exec::{ExecError, ExecOutput, exec_lines};
pub(crate) use labels::{
    InvalidRunId, MANAGED_BY_KEY, MANAGED_BY_VALUE, RUN_KEY, RunId, all_runs_selector,
};
pub(crate) use objects::{CreateError, NamespaceOrigin, create_pod, create_policy, create_service, ensure_namespace};
pub(crate) use probe_pod::{CONTAINER, PROBE_UID, ProbePodSpec, protocol_name};
pub(crate) use wait::{
    Placement, PodKey, PodStartError, PodState, pod_events, pod_state, wait_started,
};
