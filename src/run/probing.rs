//! Probing one scenario: positive controls, rounds until every probe matches or the settle time
//! runs out, then one confirming round of every probe.
//!
//! Policies take effect asynchronously, so probes that do not match yet are run again, and every
//! attempt is recorded: retries are visible (attempts, time to match, history), never silent. A
//! probe that matched and then stopped matching in the confirming round is `flapping`.
//!
//! An interruption ends probing at once: what was observed (also in the round it cut short)
//! is kept, and the probes that never ran are `skipped`. A probe that did not match yet when
//! an interruption cut its settle time short is an error (its policies may still have been
//! propagating), never a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use netverdict_engine::Protocol;
use netverdict_probes::{Outcome, ProbeSpec};

use super::batch::{BatchExec, Job, Observation, run_round};
use super::clock::millis;
use super::controls::{
    ControlResults, Controls, LiveEvidence, destination, outcomes, still_listening,
};
use super::interrupt::Interrupt;
use super::requests::{LiveAddresses, SpecError, probe_spec, request, rerun_command};
use crate::results::{Attempt, ProbeResult, SourceLine};
use crate::scenario::{Probe, Scenario, Target, Verdict};
use crate::verdict::{
    Checks, Judgement, Liveness, ProbeStatus, answered, judge, judge_answer, judge_unresolved,
    qualify, rate_limit_hint,
};

/// How a scenario is probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProbingOptions {
    /// How long probes that do not match yet are retried after the policies were applied.
    pub(crate) settle: Duration,
    /// Concurrent exec streams at most.
    pub(crate) parallel: usize,
    /// The pause before the first retry, doubled after each one up to `max_backoff`.
    pub(crate) first_backoff: Duration,
    pub(crate) max_backoff: Duration,
    /// The timeout of the positive controls (from inside a target to its loopback address).
    pub(crate) control_timeout: Duration,
}

impl ProbingOptions {
    /// Probing with `settle` and `parallel` exec streams, retries and controls as by default.
    pub(crate) fn new(settle: Duration, parallel: usize) -> ProbingOptions {
        ProbingOptions {
            settle,
            parallel,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            control_timeout: Duration::from_secs(2),
        }
    }
}

/// Progress of probing, for the terminal.
pub(crate) trait ProbeProgress: Sync {
    fn round_started(&self, round: u32, probes: usize, confirming: bool);
    fn probe_observed(&self);
}

/// The state of one probe across rounds.
struct Tracked {
    spec: Result<ProbeSpec, SpecError>,
    expected: Result<Verdict, NoExpectation>,
    attempts: u32,
    history: Vec<Attempt>,
    first_match_ms: Option<u64>,
    last: Option<(Observation, Judgement)>,
}

/// A probe without an expected verdict: `expect: auto` could not be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expect: auto could not be computed: {reason}")]
struct NoExpectation {
    reason: String,
}

/// The reason of a probe that did not run because the run was interrupted.
pub(crate) const INTERRUPTED: &str = "interrupted";

/// Where probing happens: the exec, the live addresses, progress and the run's interruption.
pub(crate) struct ProbeContext<'a, E> {
    pub(crate) addresses: &'a LiveAddresses,
    pub(crate) ready_services: &'a BTreeSet<(String, String)>,
    pub(crate) exec: &'a E,
    pub(crate) options: ProbingOptions,
    pub(crate) progress: &'a dyn ProbeProgress,
    pub(crate) interrupt: &'a Interrupt,
    /// What shows that the deployed targets listen.
    pub(crate) evidence: &'a LiveEvidence,
}

/// Probes `scenario` (whose pods and Services are up and whose policies were applied at
/// `applied`) and returns a result per probe, in the scenario's order.
pub(crate) async fn probe_scenario<E: BatchExec>(
    scenario: &Scenario,
    context: &ProbeContext<'_, E>,
    applied: Instant,
) -> Vec<ProbeResult> {
    let mut tracked = initial_states(scenario, context.addresses);
    let controls = Controls::of(
        scenario,
        context.addresses,
        context.evidence,
        context.options.control_timeout,
    );
    let runnable: Vec<usize> = (0..tracked.len())
        .filter(|&i| tracked[i].spec.is_ok())
        .collect();
    let rounds = Rounds {
        scenario,
        context,
        applied,
        controls: &controls,
    };
    let (round, mut control_results, mut interrupted) =
        rounds.settle(&mut tracked, &runnable).await;
    let settled = !interrupted;
    let confirmed = if interrupted {
        vec![None; tracked.len()]
    } else {
        let (confirmed, cut) = rounds
            .confirm(&mut tracked, &runnable, round + 1, &mut control_results)
            .await;
        interrupted = cut;
        confirmed
    };
    let reached = reached_destinations(scenario, &tracked);
    tracked
        .iter()
        .zip(confirmed)
        .zip(&scenario.probes)
        .map(|((state, confirmed), probe)| {
            let liveness =
                controls.liveness(probe, &control_results, context.ready_services, &reached);
            let ended = match (confirmed, interrupted) {
                (Some(matched_before), _) => Ended::Confirmed { matched_before },
                (None, true) => Ended::Interrupted { settled },
                (None, false) => Ended::NotConfirmed,
            };
            finish(probe, state, ended, &liveness)
        })
        .collect()
}

/// Every probe before its first round: its request (or why it cannot run) and its expectation.
fn initial_states(scenario: &Scenario, addresses: &LiveAddresses) -> Vec<Tracked> {
    scenario
        .probes
        .iter()
        .map(|probe| Tracked {
            spec: probe_spec(probe, addresses),
            expected: probe.expect.verdict.ok_or_else(|| NoExpectation {
                reason: probe
                    .expect
                    .reason
                    .clone()
                    .unwrap_or_else(|| "unknown reason".to_owned()),
            }),
            attempts: 0,
            history: Vec::new(),
            first_match_ms: None,
            last: None,
        })
        .collect()
}

/// The rounds of one scenario's probing.
struct Rounds<'a, 'c, E> {
    scenario: &'a Scenario,
    context: &'a ProbeContext<'c, E>,
    applied: Instant,
    controls: &'a Controls<'a>,
}

impl<E: BatchExec> Rounds<'_, '_, E> {
    /// The settling rounds, until every probe matches, the settle time is over or the run is
    /// interrupted; the positive controls ride in the first. Returns the last round's number,
    /// what the controls showed and whether the run was interrupted.
    async fn settle(
        &self,
        tracked: &mut [Tracked],
        runnable: &[usize],
    ) -> (u32, ControlResults, bool) {
        let (scenario, context) = (self.scenario, self.context);
        let mut control_results = BTreeMap::new();
        let mut pending = runnable.to_vec();
        let mut round = 0u32;
        let mut backoff = context.options.first_backoff;
        let started = Instant::now();
        let mut interrupted = context.interrupt.signal().is_some();
        while !interrupted {
            round += 1;
            let mut jobs: Vec<Job> = pending.iter().map(|&i| job(scenario, tracked, i)).collect();
            if round == 1 {
                jobs.extend(self.controls.jobs.values().cloned());
            }
            context.progress.round_started(round, jobs.len(), false);
            let (observed, cut) = observe(context, &jobs).await;
            interrupted = cut || context.interrupt.signal().is_some();
            if round == 1 {
                control_results = outcomes(&self.controls.jobs, &observed);
            }
            for &i in &pending {
                if let Some(observation) = observed.get(&i.to_string()) {
                    let at_ms = attempt_start(self.applied, observation);
                    record(
                        &mut tracked[i],
                        &scenario.probes[i],
                        round,
                        at_ms,
                        observation.clone(),
                    );
                }
            }
            pending.retain(
                |&i| !matches!(&tracked[i].last, Some((_, j)) if j.status == ProbeStatus::Pass),
            );
            // Probes that cannot be judged whatever the network does are not worth waiting for.
            pending.retain(|&i| tracked[i].expected.is_ok());
            let elapsed = started.elapsed();
            if interrupted || pending.is_empty() || elapsed >= context.options.settle {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff.min(context.options.settle - elapsed)) => {}
                _ = context.interrupt.wait() => interrupted = true,
            }
            backoff = (backoff * 2).min(context.options.max_backoff);
        }
        (round, control_results, interrupted)
    }

    /// The confirming round: every runnable probe once more, and the controls of every deny's
    /// target again, riding in the same batches (a target that stopped listening during the run
    /// makes its deny inconclusive). Per probe, whether it had matched before (`None`: it did not
    /// run), and whether the run was interrupted.
    async fn confirm(
        &self,
        tracked: &mut [Tracked],
        runnable: &[usize],
        round: u32,
        results: &mut ControlResults,
    ) -> (Vec<Option<bool>>, bool) {
        let again = self.controls.of_denies(self.scenario);
        let mut jobs: Vec<Job> = runnable
            .iter()
            .map(|&i| job(self.scenario, tracked, i))
            .collect();
        jobs.extend(again.values().cloned());
        self.context.progress.round_started(round, jobs.len(), true);
        let (observed, cut) = observe(self.context, &jobs).await;
        let confirmed = record_confirming(self.scenario, tracked, &observed, round, self.applied);
        if !cut {
            still_listening(results, &again, &observed);
        }
        (confirmed, cut)
    }
}

/// When an attempt started, since the policies were applied: its record came when it ended,
/// `elapsed_ms` after it started.
fn attempt_start(applied: Instant, observation: &Observation) -> u64 {
    let received = millis(observation.received.saturating_duration_since(applied));
    received.saturating_sub(observation.elapsed_ms)
}

/// How a probe's last round went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// It ran in the confirming round, and had or had not matched before it.
    Confirmed { matched_before: bool },
    /// The run was interrupted before its confirming round, after the settle time (or while
    /// it lasted).
    Interrupted { settled: bool },
    /// It did not run in the confirming round.
    NotConfirmed,
}

/// Records the confirming round; per probe, `None` when it did not run, else whether it had
/// matched before.
fn record_confirming(
    scenario: &Scenario,
    tracked: &mut [Tracked],
    observed: &BTreeMap<String, Observation>,
    round: u32,
    applied: Instant,
) -> Vec<Option<bool>> {
    tracked
        .iter_mut()
        .enumerate()
        .map(|(i, state)| {
            observed.get(&i.to_string()).map(|observation| {
                let matched_before = state.first_match_ms.is_some();
                let at_ms = attempt_start(applied, observation);
                record(
                    state,
                    &scenario.probes[i],
                    round,
                    at_ms,
                    observation.clone(),
                );
                matched_before
            })
        })
        .collect()
}

/// The destinations some probe of the scenario reached in some round: they listen.
fn reached_destinations(
    scenario: &Scenario,
    tracked: &[Tracked],
) -> BTreeSet<(String, u16, Protocol)> {
    scenario
        .probes
        .iter()
        .zip(tracked)
        .filter(|(_, state)| state.history.iter().any(|a| answered(&a.outcome)))
        .map(|(probe, _)| destination(probe))
        .collect()
}

/// Runs a round; `true` when the run was interrupted during it, with what it observed until
/// then.
async fn observe<E: BatchExec>(
    context: &ProbeContext<'_, E>,
    jobs: &[Job],
) -> (BTreeMap<String, Observation>, bool) {
    let seen = Mutex::new(BTreeMap::new());
    let on_observed = |id: &str, observation: &Observation| {
        context.progress.probe_observed();
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(id.to_owned(), observation.clone());
    };
    let finished = tokio::select! {
        all = run_round(context.exec, jobs, context.options.parallel, &on_observed) => Some(all),
        _ = context.interrupt.wait() => None,
    };
    match finished {
        Some(all) => (all, false),
        None => (seen.into_inner().unwrap_or_else(|e| e.into_inner()), true),
    }
}

fn job(scenario: &Scenario, tracked: &[Tracked], index: usize) -> Job {
    let probe = &scenario.probes[index];
    let spec = tracked[index]
        .spec
        .clone()
        .unwrap_or_else(|_| unreachable!("only runnable probes become jobs"));
    Job {
        from: probe.from.clone(),
        request: request(index.to_string(), probe.timeout, spec),
    }
}

fn record(state: &mut Tracked, probe: &Probe, round: u32, at_ms: u64, observation: Observation) {
    state.attempts += 1;
    state.history.push(Attempt {
        round,
        outcome: observation.outcome.clone(),
        at_ms,
        elapsed_ms: observation.elapsed_ms,
    });
    let judgement = match &state.expected {
        Ok(expected) if observation.unresolved => judge_unresolved(*expected, &observation.outcome),
        Ok(expected) => judge_answer(
            judge(*expected, probe.deny, checks(probe), &observation.outcome),
            probe.dns.as_ref().and_then(|dns| dns.answer.as_ref()),
            &observation.outcome,
            &observation.addresses,
        ),
        Err(why) => Judgement {
            status: ProbeStatus::Error,
            message: why.to_string(),
        },
    };
    if judgement.status == ProbeStatus::Pass && state.first_match_ms.is_none() {
        state.first_match_ms = Some(at_ms);
    }
    state.last = Some((observation, judgement));
}

fn checks(probe: &Probe) -> Checks {
    Checks {
        http_status: probe.http.as_ref().and_then(|http| http.status),
    }
}

/// The final status of a probe after its last round.
fn finish(probe: &Probe, state: &Tracked, ended: Ended, liveness: &Liveness) -> ProbeResult {
    let (status, message, outcome, output, elapsed) = match (&state.spec, &state.last) {
        (Err(why), _) => (ProbeStatus::Error, why.to_string(), None, String::new(), 0),
        (Ok(_), None) if matches!(ended, Ended::Interrupted { .. }) => (
            ProbeStatus::Skipped,
            INTERRUPTED.to_owned(),
            None,
            String::new(),
            0,
        ),
        (Ok(_), None) => (
            ProbeStatus::Error,
            "the probe did not run".to_owned(),
            None,
            String::new(),
            0,
        ),
        (Ok(_), Some((observation, judgement))) => {
            let mut judgement = judgement.clone();
            // Only a contrary observation flaps: an error says nothing about the network.
            if judgement.status == ProbeStatus::Fail
                && ended
                    == (Ended::Confirmed {
                        matched_before: true,
                    })
            {
                let seen: Vec<&Outcome> = state.history.iter().map(|a| &a.outcome).collect();
                let mut message = format!(
                    "matched at {} ms, then in the confirming round: {}",
                    state.first_match_ms.unwrap_or_default(),
                    judgement.message
                );
                if let Some(hint) = rate_limit_hint(probe.deny, &seen) {
                    message = format!("{message}; {hint}");
                }
                judgement = Judgement {
                    status: ProbeStatus::Flapping,
                    message,
                };
            }
            // A name that did not resolve never reached the target: its liveness is no matter.
            let mut judgement = if observation.unresolved {
                judgement
            } else {
                qualify(judgement, probe.deny, &observation.outcome, liveness)
            };
            if let Ended::Interrupted { settled } = ended {
                judgement = interrupted(judgement, settled);
            }
            (
                judgement.status,
                judgement.message,
                Some(observation.outcome.clone()),
                observation.output.clone(),
                observation.elapsed_ms,
            )
        }
    };
    let mut result = described(probe, state.spec.as_ref().ok());
    // A deployed target answered: which pod it was (the message says so once settled).
    let answered = outcome.as_ref().is_some_and(answered);
    result.answered_by = result.target_pod.clone().filter(|_| answered);
    result.status = status;
    result.message = message;
    result.outcome = outcome;
    result.output = output;
    result.attempts = state.attempts;
    result.time_to_match_ms = if status == ProbeStatus::Pass {
        state.first_match_ms
    } else {
        None
    };
    result.duration_ms = elapsed;
    result.history = state.history.clone();
    result.unresolved = state.last.as_ref().is_some_and(|(o, _)| o.unresolved);
    result
}

/// The result of a probe that never ran, with `status` and why: its scenario's setup failed, or
/// the run was interrupted before it.
pub(crate) fn not_run(probe: &Probe, status: ProbeStatus, message: String) -> ProbeResult {
    let mut result = described(probe, None);
    result.status = status;
    result.message = message;
    result
}

/// What the scenario says of `probe`, with the command to rerun it when its request is known;
/// nothing observed yet.
fn described(probe: &Probe, spec: Option<&ProbeSpec>) -> ProbeResult {
    let command = spec.map_or_else(String::new, |spec| {
        rerun_command(
            &request(String::from("probe"), probe.timeout, spec.clone()),
            &probe.from,
        )
    });
    let location = SourceLine::new(&probe.location.file, probe.location.line);
    ProbeResult {
        name: probe.name.clone(),
        key: probe.key(),
        named: probe.named,
        file: location.file,
        line: location.line,
        from: probe.from.to_string(),
        like: probe.like.clone(),
        to: probe.target.to_string(),
        target: crate::plan::target_label(&probe.target),
        target_pod: match &probe.target {
            Target::LivePod { pod, .. } => Some(pod.to_string()),
            _ => None,
        },
        answered_by: None,
        port: probe.port,
        port_name: probe.port_name.clone(),
        protocol: crate::scenario::load::protocol_str(probe.protocol).to_owned(),
        via: super::requests::via_name(probe.via).to_owned(),
        expect: probe
            .expect
            .verdict
            .map_or_else(|| "unknown".to_owned(), |v| v.to_string()),
        expect_source: probe.expect.source.to_string(),
        deny: probe.deny.as_str().to_owned(),
        query: probe.dns.as_ref().map(|dns| dns.query.clone()),
        http_path: probe.http.as_ref().map(|http| http.path.clone()),
        http_status: probe.http.as_ref().and_then(|http| http.status),
        answer: probe
            .dns
            .as_ref()
            .and_then(|dns| dns.answer.as_ref())
            .map(ToString::to_string),
        unresolved: false,
        status: ProbeStatus::Error,
        message: String::new(),
        outcome: None,
        command,
        output: String::new(),
        attempts: 0,
        time_to_match_ms: None,
        duration_ms: 0,
        prediction: None,
        history: Vec::new(),
    }
}

/// The judgement of a probe the run was interrupted before confirming. One that had not
/// matched while it was still settling is an error: it was not given its settle time.
fn interrupted(judgement: Judgement, settled: bool) -> Judgement {
    let final_already = matches!(
        judgement.status,
        ProbeStatus::Pass | ProbeStatus::Error | ProbeStatus::Inconclusive
    );
    if final_already || settled {
        Judgement {
            message: format!(
                "{} (interrupted before the confirming round)",
                judgement.message
            ),
            ..judgement
        }
    } else {
        Judgement {
            status: ProbeStatus::Error,
            message: format!(
                "interrupted before its settle time was over; it had not matched yet: {}",
                judgement.message
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::path::Path;
    use std::sync::Mutex;

    use netverdict_probes::{AgentLine, BatchRequest, BatchSummary, Exit, ProbeRecord, Tool};

    use super::*;
    use crate::cluster::{ExecError, ExitStatusError};
    use crate::run::batch::BatchError;
    use crate::run::controls::Evidence;
    use crate::run::interrupt::Interrupter;
    use crate::scenario::PodRef;

    /// Answers batches from a script: `(pod, host, port, round) -> outcome`, where round counts
    /// the batches the pod received.
    struct ScriptedExec {
        script: fn(&str, &ProbeSpec, u32) -> Outcome,
        calls: Mutex<Vec<(String, usize)>>,
        fail: Option<&'static str>,
        /// How long every probe says it took.
        elapsed_ms: u64,
        /// The batch of this round for this pod interrupts the run and never ends.
        interrupts: Option<(&'static str, u32, Interrupter)>,
    }

    impl ScriptedExec {
        fn new(script: fn(&str, &ProbeSpec, u32) -> Outcome) -> ScriptedExec {
            ScriptedExec {
                script,
                calls: Mutex::new(Vec::new()),
                fail: None,
                elapsed_ms: 1,
                interrupts: None,
            }
        }
    }

    impl BatchExec for ScriptedExec {
        async fn run_batch(
            &self,
            pod: &PodRef,
            request: &BatchRequest,
            on_line: &mut (dyn FnMut(&str) + Send),
        ) -> Result<(), BatchError> {
            let round = {
                let mut calls = self.calls.lock().unwrap();
                calls.push((pod.to_string(), request.probes.len()));
                calls.iter().filter(|(p, _)| *p == pod.to_string()).count() as u32
            };
            if let Some(error) = self.fail {
                return Err(BatchError::Exec(ExecError::Failed {
                    pod: pod.to_string(),
                    status: ExitStatusError::Failed(error.to_owned()),
                    stderr: String::new(),
                }));
            }
            if let Some((victim, at, interrupter)) = &self.interrupts
                && pod.to_string() == *victim
                && round == *at
            {
                interrupter.interrupt("SIGTERM");
                std::future::pending::<()>().await;
            }
            for probe in &request.probes {
                let record = ProbeRecord {
                    id: probe.id.clone(),
                    kind: probe.probe.kind(),
                    tool: Tool::Nc,
                    argv: vec!["nc".to_owned()],
                    stdin: None,
                    exit: Exit::Code(0),
                    elapsed_ms: self.elapsed_ms,
                    deadline_ms: None,
                    stdout: String::new(),
                    stderr: String::new(),
                    outcome: (self.script)(&pod.to_string(), &probe.probe, round),
                    addresses: Vec::new(),
                    responder: None,
                };
                on_line(&serde_json::to_string(&AgentLine::Record(record)).unwrap());
            }
            let done = BatchSummary {
                probes: request.probes.len(),
                elapsed_ms: 1,
                concurrency: 1,
            };
            on_line(&serde_json::to_string(&AgentLine::Done(done)).unwrap());
            Ok(())
        }
    }

    const SCENARIO: &str = "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: t}
spec:
  namespaces: [{name: t}]
  pods:
    - {name: client, namespace: t, labels: {app: client}}
    - {name: server, namespace: t, labels: {app: server}, ports: [{port: 80}]}
  probes:
    - {name: denied, from: t/client, to: t/server, port: 80, expect: deny}
";

    fn scenario_of(yaml: &str) -> (Scenario, LiveAddresses) {
        let loaded = crate::scenario::load_str(Path::new("t.yaml"), yaml, &Default::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        let scenario = loaded.scenarios.into_iter().next().unwrap();
        let mut addresses = LiveAddresses::default();
        addresses.pods.insert(
            PodRef::new("t", "client"),
            "10.244.0.2".parse::<IpAddr>().unwrap(),
        );
        addresses.pods.insert(
            PodRef::new("t", "server"),
            "10.244.0.3".parse::<IpAddr>().unwrap(),
        );
        (scenario, addresses)
    }

    fn is_control(spec: &ProbeSpec) -> bool {
        matches!(spec, ProbeSpec::Tcp { host, .. } if host == "127.0.0.1")
    }

    async fn probe(exec: &ScriptedExec) -> ProbeResult {
        probe_all(exec, SCENARIO).await.remove(0)
    }

    async fn probe_all(exec: &ScriptedExec, yaml: &str) -> Vec<ProbeResult> {
        probe_with(exec, yaml, &Interrupt::never(), Instant::now()).await
    }

    async fn probe_with(
        exec: &ScriptedExec,
        yaml: &str,
        interrupt: &Interrupt,
        applied: Instant,
    ) -> Vec<ProbeResult> {
        let (scenario, addresses) = scenario_of(yaml);
        let context = ProbeContext {
            addresses: &addresses,
            ready_services: &BTreeSet::new(),
            exec,
            options: ProbingOptions::new(Duration::from_secs(2), 4),
            progress: &Silent,
            interrupt,
            evidence: &LiveEvidence::new(),
        };
        probe_scenario(&scenario, &context, applied).await
    }

    struct Silent;

    impl ProbeProgress for Silent {
        fn round_started(&self, _: u32, _: usize, _: bool) {}
        fn probe_observed(&self) {}
    }

    #[tokio::test]
    async fn a_deny_whose_target_does_not_listen_is_inconclusive() {
        let exec = ScriptedExec::new(|_, spec, _| {
            if is_control(spec) {
                Outcome::Refused
            } else {
                Outcome::Timeout
            }
        });
        let result = probe(&exec).await;
        assert_eq!(
            result.status,
            ProbeStatus::Inconclusive,
            "{}",
            result.message
        );
        assert!(result.message.contains("control"), "{}", result.message);
    }

    #[tokio::test]
    async fn a_deny_whose_target_listens_passes_after_one_round_and_a_confirmation() {
        let exec = ScriptedExec::new(|_, spec, _| {
            if is_control(spec) {
                Outcome::Connected
            } else {
                Outcome::Timeout
            }
        });
        let result = probe(&exec).await;
        assert_eq!(result.status, ProbeStatus::Pass, "{}", result.message);
        assert_eq!(result.attempts, 2);
        // The control rides in the server's batch of the first round and of the confirming
        // round; each pod gets one exec per round.
        let calls = exec.calls.lock().unwrap();
        assert_eq!(calls.len(), 4, "{calls:?}");
        assert_eq!(calls.iter().filter(|(pod, _)| pod == "t/client").count(), 2);
        assert_eq!(calls.iter().filter(|(pod, _)| pod == "t/server").count(), 2);
    }

    /// The target's responder dies after the first round: every later deny is silence from a
    /// dead target, which the control of the confirming round shows.
    #[tokio::test]
    async fn a_deny_whose_target_stops_listening_during_the_run_is_inconclusive() {
        let exec = ScriptedExec::new(|pod, spec, round| match (pod, is_control(spec), round) {
            ("t/server", true, 1) => Outcome::Connected,
            ("t/server", true, _) => Outcome::Refused,
            _ => Outcome::Timeout,
        });
        let result = probe(&exec).await;
        assert_eq!(
            result.status,
            ProbeStatus::Inconclusive,
            "{}",
            result.message
        );
        assert!(
            result
                .message
                .contains("but in the confirming round, the control from inside t/server to 127.0.0.1:80 saw refused"),
            "{}",
            result.message
        );
    }

    #[tokio::test]
    async fn a_late_policy_is_retried_and_its_time_to_match_reported() {
        let exec = ScriptedExec::new(|pod, spec, round| match (pod, is_control(spec), round) {
            (_, true, _) => Outcome::Connected,
            ("t/client", false, 1) => Outcome::Connected,
            _ => Outcome::Timeout,
        });
        let result = probe(&exec).await;
        assert_eq!(result.status, ProbeStatus::Pass, "{}", result.message);
        assert_eq!(result.attempts, 3);
        assert!(result.time_to_match_ms.is_some());
        let seen: Vec<_> = result.history.iter().map(|a| a.outcome.clone()).collect();
        assert_eq!(
            seen,
            [Outcome::Connected, Outcome::Timeout, Outcome::Timeout]
        );
    }

    #[tokio::test]
    async fn a_verdict_that_flips_in_the_confirming_round_is_flapping() {
        let exec = ScriptedExec::new(|pod, spec, round| match (pod, is_control(spec), round) {
            (_, true, _) => Outcome::Connected,
            ("t/client", false, 1) => Outcome::Timeout,
            _ => Outcome::Connected,
        });
        let result = probe(&exec).await;
        assert_eq!(result.status, ProbeStatus::Flapping, "{}", result.message);
        assert!(result.time_to_match_ms.is_none());
    }

    /// Refused in odd rounds, timed out in even ones: a rejecting network whose ICMP errors the
    /// kernel rate-limits.
    fn rate_limited(pod: &str, spec: &ProbeSpec, round: u32) -> Outcome {
        match (pod, is_control(spec)) {
            (_, true) => Outcome::Connected,
            _ if round % 2 == 1 => Outcome::Refused,
            _ => Outcome::Timeout,
        }
    }

    #[tokio::test]
    async fn refusals_and_timeouts_in_turn_are_no_flap_under_the_default_deny() {
        let exec = ScriptedExec::new(rate_limited);
        let result = probe(&exec).await;
        assert_eq!(result.deny, "any");
        assert_eq!(result.status, ProbeStatus::Pass, "{}", result.message);
        let seen: Vec<_> = result.history.iter().map(|a| a.outcome.clone()).collect();
        assert_eq!(seen, [Outcome::Refused, Outcome::Timeout]);
    }

    #[tokio::test]
    async fn a_strict_deny_that_alternates_is_flapping_and_says_why_it_may_be() {
        let exec = ScriptedExec::new(rate_limited);
        let yaml = SCENARIO.replace("expect: deny}", "expect: deny, deny: drop}");
        let result = probe_all(&exec, &yaml).await.remove(0);
        assert_eq!(result.status, ProbeStatus::Flapping, "{}", result.message);
        assert!(
            result.message.contains("net.ipv4.icmp_ratelimit"),
            "{}",
            result.message
        );
    }

    #[tokio::test]
    async fn a_refusal_from_a_target_that_does_not_listen_is_no_deny() {
        let exec = ScriptedExec::new(|_, _, _| Outcome::Refused);
        let result = probe(&exec).await;
        assert_eq!(
            result.status,
            ProbeStatus::Inconclusive,
            "{}",
            result.message
        );
        assert!(result.message.contains("control"), "{}", result.message);
    }

    const TO_AN_ADDRESS: &str = "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: t}
spec:
  namespaces: [{name: t}]
  pods:
    - {name: client, namespace: t, labels: {app: client}}
    - {name: server, namespace: t, labels: {app: server}, ports: [{port: 80}]}
  probes:
    - {name: denied, from: t/client, to: {ip: 203.0.113.10}, port: 80, expect: deny}
";

    #[tokio::test]
    async fn a_refusal_from_an_address_counts_only_once_a_probe_reached_it() {
        let refused = |_: &str, _: &ProbeSpec, _: u32| Outcome::Refused;
        let unknown = probe_all(&ScriptedExec::new(refused), TO_AN_ADDRESS).await;
        assert_eq!(
            unknown[0].status,
            ProbeStatus::Inconclusive,
            "{}",
            unknown[0].message
        );
        let strict = TO_AN_ADDRESS.replace("expect: deny}", "expect: deny, deny: reject}");
        let accepted = probe_all(&ScriptedExec::new(refused), &strict).await;
        assert_eq!(
            accepted[0].status,
            ProbeStatus::Pass,
            "{}",
            accepted[0].message
        );

        let witnessed = format!(
            "{TO_AN_ADDRESS}    - {{name: reached, from: t/server, to: {{ip: 203.0.113.10}}, port: 80, expect: allow}}\n"
        );
        let exec = ScriptedExec::new(|pod, _, _| {
            if pod == "t/server" {
                Outcome::Connected
            } else {
                Outcome::Refused
            }
        });
        let results = probe_all(&exec, &witnessed).await;
        assert_eq!(
            results[0].status,
            ProbeStatus::Pass,
            "{}",
            results[0].message
        );
        assert_eq!(
            results[1].status,
            ProbeStatus::Pass,
            "{}",
            results[1].message
        );
    }

    #[tokio::test]
    async fn an_error_in_the_confirming_round_is_an_error_not_flapping() {
        let exec = ScriptedExec::new(|pod, spec, round| match (pod, is_control(spec), round) {
            (_, true, _) => Outcome::Connected,
            ("t/client", false, 1) => Outcome::Timeout,
            _ => Outcome::error("exec in t/client failed to start: 404 Not Found".to_owned()),
        });
        let result = probe(&exec).await;
        assert_eq!(result.status, ProbeStatus::Error, "{}", result.message);
    }

    #[tokio::test]
    async fn a_failed_exec_is_an_error_never_a_deny() {
        let mut exec = ScriptedExec::new(|_, _, _| Outcome::Timeout);
        exec.fail = Some("pods \"client\" is forbidden: cannot create pods/exec");
        let result = probe(&exec).await;
        assert_eq!(result.status, ProbeStatus::Error, "{}", result.message);
        assert!(result.message.contains("forbidden"), "{}", result.message);
        assert_eq!(
            result
                .outcome
                .as_ref()
                .map(|o| matches!(o, Outcome::Error { .. })),
            Some(true)
        );
    }

    #[tokio::test]
    async fn an_attempt_is_timed_from_its_start_not_from_the_end_of_its_round() {
        let mut exec = ScriptedExec::new(|pod, spec, round| match (pod, is_control(spec), round) {
            (_, true, _) => Outcome::Connected,
            ("t/client", false, 1) => Outcome::Connected,
            _ => Outcome::Timeout,
        });
        // Every probe took 30 s; the policies were applied 100 s before probing began.
        exec.elapsed_ms = 30_000;
        let applied = Instant::now()
            .checked_sub(Duration::from_secs(100))
            .expect("the clock goes back 100 s");
        let result = probe_with(&exec, SCENARIO, &Interrupt::never(), applied)
            .await
            .remove(0);
        let now = millis(applied.elapsed());
        assert_eq!(result.status, ProbeStatus::Pass, "{}", result.message);
        assert!(result.history.len() >= 2, "{:?}", result.history);
        for attempt in &result.history {
            assert_eq!(attempt.elapsed_ms, 30_000);
            assert!(attempt.at_ms >= 70_000, "{attempt:?}");
            assert!(
                attempt.at_ms + attempt.elapsed_ms <= now,
                "{attempt:?} ended after {now}"
            );
        }
        let matched = result
            .history
            .iter()
            .find(|a| a.outcome == Outcome::Timeout);
        assert_eq!(result.time_to_match_ms, matched.map(|a| a.at_ms));
    }

    const BOTH_WAYS: &str = "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: t}
spec:
  namespaces: [{name: t}]
  pods:
    - {name: client, namespace: t, labels: {app: client}, ports: [{port: 80}]}
    - {name: server, namespace: t, labels: {app: server}, ports: [{port: 80}]}
  probes:
    - {name: denied, from: t/client, to: t/server, port: 80, expect: deny}
    - {name: back, from: t/server, to: t/client, port: 80, expect: allow}
";

    #[tokio::test]
    async fn an_interrupted_round_keeps_what_it_observed_and_skips_the_rest() {
        let (interrupter, interrupt) = Interrupt::new();
        let mut exec = ScriptedExec::new(|_, _, _| Outcome::Connected);
        exec.interrupts = Some(("t/client", 1, interrupter));
        let results = probe_with(&exec, BOTH_WAYS, &interrupt, Instant::now()).await;
        assert_eq!(
            results[0].status,
            ProbeStatus::Skipped,
            "{}",
            results[0].message
        );
        assert_eq!(results[0].message, INTERRUPTED);
        assert_eq!((results[0].attempts, results[0].outcome.clone()), (0, None));
        assert_eq!(
            results[1].status,
            ProbeStatus::Pass,
            "{}",
            results[1].message
        );
        assert_eq!(results[1].outcome, Some(Outcome::Connected));
        assert!(
            results[1].message.contains("interrupted"),
            "{}",
            results[1].message
        );
        // No confirming round after the interruption.
        let calls = exec.calls.lock().unwrap();
        assert_eq!(calls.len(), 2, "{calls:?}");
    }

    #[tokio::test]
    async fn a_probe_interrupted_while_it_settled_is_an_error_with_its_observations() {
        let (interrupter, interrupt) = Interrupt::new();
        // The deny probe is still connected in round 1; round 2 is interrupted.
        let mut exec = ScriptedExec::new(|_, _, _| Outcome::Connected);
        exec.interrupts = Some(("t/client", 2, interrupter));
        let result = probe_with(&exec, SCENARIO, &interrupt, Instant::now())
            .await
            .remove(0);
        assert_eq!(result.status, ProbeStatus::Error, "{}", result.message);
        assert!(result.message.contains("settle"), "{}", result.message);
        assert_eq!(result.outcome, Some(Outcome::Connected));
        assert_eq!(result.history.len(), 1);
    }

    /// `t/client` (denied) and `t/server` probe a deployed pod `shop/api` that has no tools.
    const TO_A_DEPLOYED_POD: &str = "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: t}
spec:
  namespaces: [{name: t}]
  pods:
    - {name: client, namespace: t, labels: {app: client}}
    - {name: server, namespace: t, labels: {app: server}, ports: [{port: 80}]}
  probes:
    - {name: denied, from: t/client, to: {workload: {namespace: shop, kind: Pod, name: api}}, port: 8080, expect: deny}
";

    /// The scenario with `shop/api` found at 10.244.1.5, serving 8080.
    fn deployed(yaml: &str) -> (Scenario, LiveAddresses) {
        let (scenario, mut addresses) = scenario_of(yaml);
        let pod = crate::scenario::LivePod {
            namespace: "shop".to_owned(),
            name: "api".to_owned(),
            uid: "u".to_owned(),
            labels: [("app".to_owned(), "api".to_owned())].into(),
            ip: Some("10.244.1.5".parse().unwrap()),
            node: Some("n1".to_owned()),
            ready: true,
            service_account: None,
            ports: vec![crate::scenario::ServedPort {
                port: 8080,
                protocol: netverdict_engine::Protocol::Tcp,
                name: None,
            }],
            ready_ports: Vec::new(),
            restarts: Vec::new(),
        };
        let state = crate::scenario::live::LiveState {
            workloads: vec![crate::scenario::live::LiveWorkload {
                kind: crate::scenario::WorkloadKind::Pod,
                namespace: "shop".to_owned(),
                name: "api".to_owned(),
                template_labels: pod.labels.clone(),
                service_account: None,
                pods: vec!["api".to_owned()],
            }],
            pods: vec![pod],
            ..Default::default()
        };
        let resolved = crate::scenario::live::resolve(&scenario, &state, "abcd").unwrap();
        addresses
            .pods
            .insert(PodRef::new("shop", "api"), "10.244.1.5".parse().unwrap());
        (resolved, addresses)
    }

    async fn probe_deployed(exec: &ScriptedExec, evidence: Evidence) -> ProbeResult {
        let (scenario, addresses) = deployed(TO_A_DEPLOYED_POD);
        let evidence = LiveEvidence::from([(
            crate::run::controls::destination_key(&scenario.probes[0]),
            evidence,
        )]);
        let context = ProbeContext {
            addresses: &addresses,
            ready_services: &BTreeSet::new(),
            exec,
            options: ProbingOptions::new(Duration::from_secs(1), 4),
            progress: &Silent,
            interrupt: &Interrupt::never(),
            evidence: &evidence,
        };
        probe_scenario(&scenario, &context, Instant::now())
            .await
            .remove(0)
    }

    #[tokio::test]
    async fn a_deny_to_a_deployed_pod_nothing_shows_listening_passes_only_as_a_drop() {
        let refused = ScriptedExec::new(|_, _, _| Outcome::Refused);
        let result = probe_deployed(&refused, Evidence::Nothing).await;
        assert_eq!(
            result.status,
            ProbeStatus::Inconclusive,
            "{}",
            result.message
        );
        assert!(
            result
                .message
                .contains("nothing shows that the deployed target listens"),
            "{}",
            result.message
        );
        assert_eq!(result.target_pod.as_deref(), Some("shop/api"));
        assert_eq!(result.answered_by, None);
        // Even when the scenario accepts any refusal: a closed port refuses too.
        let strict = ScriptedExec::new(|_, _, _| Outcome::Refused);
        let (scenario, addresses) =
            deployed(&TO_A_DEPLOYED_POD.replace("expect: deny}", "expect: deny, deny: reject}"));
        let context = ProbeContext {
            addresses: &addresses,
            ready_services: &BTreeSet::new(),
            exec: &strict,
            options: ProbingOptions::new(Duration::ZERO, 4),
            progress: &Silent,
            interrupt: &Interrupt::never(),
            evidence: &LiveEvidence::new(),
        };
        let rejecting = probe_scenario(&scenario, &context, Instant::now())
            .await
            .remove(0);
        assert_eq!(
            rejecting.status,
            ProbeStatus::Inconclusive,
            "{}",
            rejecting.message
        );

        let dropped = ScriptedExec::new(|_, _, _| Outcome::Timeout);
        let result = probe_deployed(&dropped, Evidence::Nothing).await;
        assert_eq!(result.status, ProbeStatus::Pass, "{}", result.message);
        assert_eq!(result.message, "timeout: blocked; listener not verified");
    }

    #[tokio::test]
    async fn an_allowed_source_is_the_control_of_a_deployed_pod() {
        let allowed = Evidence::AllowedSource(PodRef::new("t", "server"));
        // The allowed source reaches it: a refusal from the denied one is a deny.
        let exec = ScriptedExec::new(|pod, _, _| match pod {
            "t/server" => Outcome::Connected,
            _ => Outcome::Refused,
        });
        let result = probe_deployed(&exec, allowed.clone()).await;
        assert_eq!(result.status, ProbeStatus::Pass, "{}", result.message);
        let controlled = exec
            .calls
            .lock()
            .unwrap()
            .iter()
            .any(|(pod, _)| pod == "t/server");
        assert!(controlled, "the control runs from the allowed source");
        // The allowed source is refused too: nothing listens, the deny proves nothing.
        let exec = ScriptedExec::new(|_, _, _| Outcome::Refused);
        let result = probe_deployed(&exec, allowed).await;
        assert_eq!(
            result.status,
            ProbeStatus::Inconclusive,
            "{}",
            result.message
        );
        assert!(
            result.message.contains(
                "the control from t/server, which the policies allow, to shop/api:8080 saw refused"
            ),
            "{}",
            result.message
        );
    }

    #[tokio::test]
    async fn the_kubelets_readiness_shows_a_deployed_listener_weakly() {
        let exec = ScriptedExec::new(|_, _, _| Outcome::Refused);
        let result = probe_deployed(&exec, Evidence::Readiness).await;
        assert_eq!(result.status, ProbeStatus::Pass, "{}", result.message);
        assert!(
            result.message.contains("kubelet's readiness probe"),
            "{}",
            result.message
        );
    }
}
