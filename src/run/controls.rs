//! Positive controls: what shows that a probe's target listens, so that a deny is a deny and not
//! a closed port.
//!
//! - A probe pod's target (a scenario pod, a scenario Service's pods) is probed from inside
//!   itself, on its loopback address, where no policy applies.
//! - A deployed target (a live pod, a live Service) may have no tools: when the engine predicts
//!   that a probe pod of the scenario (a mimic of an allowed workload, or a probe pod) may reach
//!   it, the same probe from that pod is the control ([`Evidence::AllowedSource`]); else the
//!   kubelet's readiness probe of the target's container on that port, while the pod is Ready
//!   ([`Evidence::Readiness`], weaker); else nothing shows it ([`Evidence::Nothing`]).
//!
//! Another probe of the scenario that reached the same destination shows it too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use netverdict_engine::Protocol;
use netverdict_probes::{Outcome, ProbeSpec};

use super::batch::{Job, Observation};
use super::requests::{LiveAddresses, probe_spec, request};
use crate::scenario::{PodRef, Probe, Scenario, Target, Verdict, Via};
use crate::verdict::{Liveness, outcome_name};

/// What shows that a deployed target listens on a port, decided with the engine before
/// probing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Evidence {
    /// This probe pod of the scenario may reach the target by the policies: the same probe from
    /// it is the control.
    AllowedSource(PodRef),
    /// The target's readiness probe connects to the port, and the pod is Ready.
    Readiness,
    /// Nothing: the target cannot be probed from inside, no probe pod of the scenario may reach
    /// it, and no readiness probe checks the port.
    Nothing,
}

/// The evidence per deployed destination: `(target, port)` as [`destination_key`] names it.
pub(crate) type LiveEvidence = BTreeMap<(String, u16), Evidence>;

/// The key of a probe's destination in [`LiveEvidence`]: the deployed pod (`ns/pod`) or the
/// Service (`service ns/name`), and the port.
pub(crate) fn destination_key(probe: &Probe) -> (String, u16) {
    let target = match &probe.target {
        Target::LivePod { pod, .. } => pod.to_string(),
        other => other.to_string(),
    };
    (target, probe.port)
}

/// Where a control checks that something listens: a pod of the scenario (from inside it) or a
/// deployed destination, a port and how it is reached.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct ControlKey {
    /// `ns/pod` of a probe pod, or a deployed destination as [`destination_key`] names it.
    target: String,
    port: u16,
    via: ViaKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ViaKey {
    Tcp,
    Udp,
    Http,
}

fn via_key(via: Via) -> Option<ViaKey> {
    match via {
        Via::Tcp => Some(ViaKey::Tcp),
        Via::Udp => Some(ViaKey::Udp),
        Via::Http => Some(ViaKey::Http),
        Via::Dns | Via::Sctp => None,
    }
}

/// What the controls showed: `Err` says what a control saw when it did not reach its target.
pub(super) type ControlResults = BTreeMap<ControlKey, Result<(), NotListening>>;

/// Why the target of a probe is not known to listen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum NotListening {
    #[error("the control from inside {target} to 127.0.0.1:{port} saw {}", outcome_name(.outcome))]
    ControlSaw {
        target: String,
        port: u16,
        outcome: Outcome,
    },
    #[error(
        "the control from {from}, which the policies allow, to {target}:{port} saw {}",
        outcome_name(.outcome)
    )]
    AllowedSourceSaw {
        from: PodRef,
        target: String,
        port: u16,
        outcome: Outcome,
    },
    #[error("the control did not run")]
    ControlNotRun,
    #[error("in the confirming round, {0}")]
    InConfirmingRound(Box<NotListening>),
    #[error("service {namespace}/{name} has no ready endpoint")]
    NoReadyEndpoint { namespace: String, name: String },
    #[error("the target's control did not run")]
    TargetControlNotRun,
}

/// The controls of a scenario's targets, each with the job that runs it.
pub(super) struct Controls<'e> {
    pub(super) jobs: BTreeMap<ControlKey, Job>,
    evidence: &'e LiveEvidence,
}

impl<'e> Controls<'e> {
    /// One control job per distinct target: from inside a probe pod to its loopback address
    /// (within `timeout`), or the probe itself from a source the policies allow.
    pub(super) fn of(
        scenario: &Scenario,
        addresses: &LiveAddresses,
        evidence: &'e LiveEvidence,
        timeout: Duration,
    ) -> Controls<'e> {
        let mut jobs = BTreeMap::new();
        for probe in &scenario.probes {
            for (key, from) in keys(probe, evidence) {
                if jobs.contains_key(&key) {
                    continue;
                }
                let (spec, timeout) = match &from {
                    // From inside: the same kind of probe to the loopback address.
                    None => (loopback(&key), timeout),
                    Some(_) => match probe_spec(probe, addresses) {
                        Ok(spec) => (spec, probe.timeout),
                        Err(_) => continue,
                    },
                };
                let job = Job {
                    from: from.unwrap_or_else(|| pod_of(&key.target)),
                    request: request(format!("control-{}", jobs.len()), timeout, spec),
                };
                jobs.insert(key, job);
            }
        }
        Controls { jobs, evidence }
    }

    /// The controls of the targets of every probe that expects a deny, to run again in the
    /// confirming round: a target that stopped listening makes its deny prove nothing.
    pub(super) fn of_denies(&self, scenario: &Scenario) -> BTreeMap<ControlKey, Job> {
        let denied: BTreeSet<ControlKey> = scenario
            .probes
            .iter()
            .filter(|probe| probe.expect.verdict == Some(Verdict::Deny))
            .flat_map(|probe| keys(probe, self.evidence).into_iter().map(|(key, _)| key))
            .collect();
        self.jobs
            .iter()
            .filter(|(key, _)| denied.contains(key))
            .map(|(key, job)| {
                let mut job = job.clone();
                job.request.id = format!("{}-again", job.request.id);
                (key.clone(), job)
            })
            .collect()
    }

    /// What is known of whether the target of `probe` listens: its control, the kubelet's
    /// readiness, or another probe that reached the same destination.
    pub(super) fn liveness(
        &self,
        probe: &Probe,
        results: &ControlResults,
        ready_services: &BTreeSet<(String, String)>,
        reached: &BTreeSet<(String, u16, Protocol)>,
    ) -> Liveness {
        let reached_by_another = reached.contains(&destination(probe));
        if let Target::Service {
            namespace, name, ..
        } = &probe.target
            && !ready_services.contains(&(namespace.clone(), name.clone()))
        {
            let why = NotListening::NoReadyEndpoint {
                namespace: namespace.clone(),
                name: name.clone(),
            };
            return Liveness::NotListening(why.to_string());
        }
        if probe.target.is_live() {
            let evidence = self.evidence.get(&destination_key(probe));
            let shown = match evidence {
                Some(Evidence::AllowedSource(_)) => control_of(probe, results, self.evidence),
                _ => None,
            };
            return match (shown, evidence) {
                (Some(Ok(())), _) => Liveness::Listening,
                (Some(Err(why)), _) if !reached_by_another => {
                    Liveness::NotListening(why.to_string())
                }
                _ if reached_by_another => Liveness::Listening,
                (_, Some(Evidence::Readiness)) => Liveness::ShownByReadiness,
                _ => Liveness::Unverified,
            };
        }
        match control_of(probe, results, self.evidence) {
            Some(Ok(())) => Liveness::Listening,
            Some(Err(why)) => Liveness::NotListening(why.to_string()),
            None if reached_by_another => Liveness::Listening,
            None => Liveness::Unknown,
        }
    }
}

/// The controls a probe's target needs, each with where it runs from (`None`: inside the
/// target itself).
fn keys(probe: &Probe, evidence: &LiveEvidence) -> Vec<(ControlKey, Option<PodRef>)> {
    let Some(via) = via_key(probe.via) else {
        return Vec::new();
    };
    let inside = |pod: &PodRef, port| {
        (
            ControlKey {
                target: pod.to_string(),
                port,
                via,
            },
            None,
        )
    };
    match &probe.target {
        Target::Pod(pod) => vec![inside(pod, probe.port)],
        Target::Service {
            backends,
            target_port,
            live: false,
            ..
        } => backends
            .iter()
            .map(|pod| inside(pod, *target_port))
            .collect(),
        Target::LivePod { .. } | Target::Service { live: true, .. } => {
            match evidence.get(&destination_key(probe)) {
                Some(Evidence::AllowedSource(from)) => vec![(
                    ControlKey {
                        target: destination_key(probe).0,
                        port: probe.port,
                        via,
                    },
                    Some(from.clone()),
                )],
                _ => Vec::new(),
            }
        }
        Target::Host(_)
        | Target::Ip(_)
        | Target::ClusterDns
        | Target::Live(_)
        | Target::LiveService { .. } => Vec::new(),
    }
}

/// The probe pod a loopback control runs in, from its key.
fn pod_of(target: &str) -> PodRef {
    let (namespace, name) = target.split_once('/').unwrap_or(("", target));
    PodRef::new(namespace, name)
}

fn loopback(key: &ControlKey) -> ProbeSpec {
    let host = "127.0.0.1".to_owned();
    match key.via {
        ViaKey::Tcp => ProbeSpec::Tcp {
            host,
            port: key.port,
        },
        ViaKey::Udp => ProbeSpec::Udp {
            host,
            port: key.port,
        },
        ViaKey::Http => ProbeSpec::Http {
            scheme: netverdict_probes::Scheme::Http,
            host,
            port: key.port,
            path: "/".to_owned(),
        },
    }
}

/// What the controls of `controls` showed in `observed`.
pub(super) fn outcomes(
    controls: &BTreeMap<ControlKey, Job>,
    observed: &BTreeMap<String, Observation>,
) -> ControlResults {
    controls
        .iter()
        .map(|(key, job)| {
            let saw = |outcome: &Outcome| {
                let (target, port, outcome) = (key.target.clone(), key.port, outcome.clone());
                if job.from.to_string() == key.target {
                    NotListening::ControlSaw {
                        target,
                        port,
                        outcome,
                    }
                } else {
                    NotListening::AllowedSourceSaw {
                        from: job.from.clone(),
                        target,
                        port,
                        outcome,
                    }
                }
            };
            let result = match observed.get(&job.request.id) {
                Some(o) if reached(&o.outcome) => Ok(()),
                Some(o) => Err(saw(&o.outcome)),
                None => Err(NotListening::ControlNotRun),
            };
            (key.clone(), result)
        })
        .collect()
}

/// Marks the controls that no longer reached their target in the confirming round.
pub(super) fn still_listening(
    results: &mut ControlResults,
    checked: &BTreeMap<ControlKey, Job>,
    observed: &BTreeMap<String, Observation>,
) {
    for (key, outcome) in outcomes(checked, observed) {
        if let Err(why) = outcome {
            results.insert(key, Err(NotListening::InConfirmingRound(Box::new(why))));
        }
    }
}

/// The result of the controls of `probe`'s target: `None` when it has none.
fn control_of(
    probe: &Probe,
    results: &ControlResults,
    evidence: &LiveEvidence,
) -> Option<Result<(), NotListening>> {
    let keys = keys(probe, evidence);
    if keys.is_empty() {
        return None;
    }
    for (key, _) in keys {
        match results.get(&key) {
            Some(Ok(())) => {}
            Some(Err(why)) => return Some(Err(why.clone())),
            None => return Some(Err(NotListening::TargetControlNotRun)),
        }
    }
    Some(Ok(()))
}

/// Where a probe goes, as far as whether something listens there: the target, port and
/// protocol (a TCP connection and an HTTP request to the same port prove the same listener).
pub(super) fn destination(probe: &Probe) -> (String, u16, Protocol) {
    (probe.target.to_string(), probe.port, probe.protocol)
}

/// Whether an outcome shows the target was reached.
pub(super) fn reached(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Connected | Outcome::HttpStatus { .. })
}
