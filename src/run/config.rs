//! [`RunConfig`]: what a run does beyond its scenarios, and every time limit it keeps.

use std::time::Duration;

use super::cleanup::CleanupCommand;
use super::probing::ProbingOptions;
use crate::cluster::{Limits, ProbePodOptions, RunId};

/// What a run does beyond its scenarios.
#[derive(Clone, Debug)]
pub(crate) struct RunConfig {
    pub(crate) run_id: RunId,
    pub(crate) probe_pods: ProbePodOptions,
    /// How probing goes: the settle time, the exec streams, retries and controls.
    pub(crate) probing: ProbingOptions,
    /// How long the other phases may take.
    pub(crate) limits: RunLimits,
    /// Leave everything in place for debugging.
    pub(crate) keep: bool,
    /// At the end, wait until the namespaces the run created are gone.
    pub(crate) wait_cleanup: bool,
    /// Use namespaces other netverdict runs have objects in (their policies then count in the
    /// predictions); by default such a run is refused before anything is created.
    pub(crate) share_namespaces: bool,
    /// How the run reached its cluster, for the command that removes what it leaves.
    pub(crate) cleanup_command: CleanupCommand,
}

/// How long a run's setup and cleanup may take: the limits the command line sets
/// (`--pod-timeout`, `--namespace-wait`) and those it leaves at their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RunLimits {
    /// How long pods may take to start (`--pod-timeout`).
    pub(crate) pod_start: Duration,
    /// How long pods live at most, should the runner die (`activeDeadlineSeconds`).
    pub(crate) pod_lifetime: Duration,
    /// How long to wait for a namespace that is still terminating (an earlier run's) to go
    /// before creating it, and for the run's own to go with `wait_cleanup`
    /// (`--namespace-wait`).
    pub(crate) namespace_wait: Duration,
    /// How long the Services probes target may take to have a ready endpoint.
    pub(crate) endpoints: Duration,
    /// How often those Services are looked at meanwhile.
    pub(crate) endpoints_poll: Duration,
    /// Each cleanup's bounds: in all, and for each of its requests.
    pub(crate) cleanup: Limits,
    /// How long a probe batch may take beyond twice its longest probe timeout (curl may take
    /// two: connect, then transfer).
    pub(crate) exec_slack: Duration,
    /// The least time the check of NetworkPolicy enforcement gives its default-deny to close
    /// a connection (`run/enforcement.rs`; the run's settle time when longer).
    pub(crate) enforcement_wait: Duration,
}

/// The default of [`RunLimits::exec_slack`].
pub(crate) const EXEC_SLACK: Duration = Duration::from_secs(30);

impl RunLimits {
    /// The limits of a run whose pods may take `pod_start` to start, and which waits up to
    /// `namespace_wait` for namespaces; pods live four times `pod_start`, an hour at least.
    pub(crate) fn new(pod_start: Duration, namespace_wait: Duration) -> RunLimits {
        RunLimits {
            pod_start,
            pod_lifetime: Duration::from_secs(3600).max(pod_start * 4),
            namespace_wait,
            endpoints: Duration::from_secs(10),
            endpoints_poll: Duration::from_millis(200),
            cleanup: Limits::default(),
            exec_slack: EXEC_SLACK,
            enforcement_wait: Duration::from_secs(20),
        }
    }
}
