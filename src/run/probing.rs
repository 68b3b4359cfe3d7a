//! Probing one scenario: positive controls, rounds until every probe matches or the settle time
//! runs out, then one confirming round of every probe.
//!
//! Policies take effect asynchronously, so probes that do not match yet are run again, and every
//! attempt is recorded: retries are visible (attempts, time to match, history), never silent. A
//! probe that matched and then stopped matching in the confirming round is `flapping`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use netverdict_engine::Protocol;
use netverdict_probes::{Outcome, ProbeSpec};

use super::batch::{BatchExec, Job, Observation, run_round};
use super::requests::{LiveAddresses, probe_spec, request, rerun_command};
use crate::results::{Attempt, ProbeResult, SourceLine};
use crate::scenario::{PodRef, Probe, Scenario, Target, Verdict, Via};
use crate::verdict::{
    Checks, Judgement, Liveness, ProbeStatus, answered, judge, qualify, rate_limit_hint,
};

/// How a scenario is probed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProbingOptions {
    /// How long probes that do not match yet are retried after the policies were applied.
    pub(crate) settle: Duration,
    /// Concurrent exec streams at most.
    pub(crate) parallel: usize,
}

/// Progress of probing, for the terminal.
pub(crate) trait ProbeProgress: Sync {
    fn round_started(&self, round: u32, probes: usize, confirming: bool);
    fn probe_observed(&self);
}

/// Where the target of a control listens: a scenario pod, a port and how it is reached.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ControlKey {
    pod: PodRef,
    port: u16,
    via: ViaKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ViaKey {
    Tcp,
    Udp,
    Http,
}

/// The state of one probe across rounds.
struct Tracked {
    spec: Result<ProbeSpec, String>,
    expected: Result<Verdict, String>,
    attempts: u32,
    history: Vec<Attempt>,
    first_match_ms: Option<u64>,
    last: Option<(Observation, Judgement)>,
}

/// Probes `scenario` (whose pods and Services are up and whose policies were applied at
/// `applied`) and returns a result per probe, in the scenario's order.
pub(crate) async fn probe_scenario<E: BatchExec>(
    scenario: &Scenario,
    addresses: &LiveAddresses,
    ready_services: &BTreeSet<(String, String)>,
    exec: &E,
    options: ProbingOptions,
    applied: Instant,
    progress: &dyn ProbeProgress,
) -> Vec<ProbeResult> {
    let mut tracked: Vec<Tracked> = scenario
        .probes
        .iter()
        .map(|probe| Tracked {
            spec: probe_spec(probe, addresses),
            expected: probe.expect.verdict.ok_or_else(|| {
                format!(
                    "expect: auto could not be computed: {}",
                    probe.expect.reason.as_deref().unwrap_or("unknown reason")
                )
            }),
            attempts: 0,
            history: Vec::new(),
            first_match_ms: None,
            last: None,
        })
        .collect();

    let controls: BTreeMap<ControlKey, Job> = control_jobs(scenario);
    let mut control_results = BTreeMap::new();

    let runnable: Vec<usize> = (0..tracked.len())
        .filter(|&i| tracked[i].spec.is_ok())
        .collect();
    let mut pending = runnable.clone();
    let mut round = 0u32;
    let mut backoff = Duration::from_millis(200);
    let started = Instant::now();
    loop {
        round += 1;
        let with_controls = round == 1;
        let mut jobs: Vec<Job> = pending
            .iter()
            .map(|&i| job(scenario, &tracked, i))
            .collect();
        if with_controls {
            jobs.extend(controls.values().cloned());
        }
        progress.round_started(round, jobs.len(), false);
        let observed = observe(exec, &jobs, options.parallel, progress).await;
        if with_controls {
            control_results = control_outcomes(&controls, &observed);
        }
        let at_ms = millis(applied.elapsed());
        for &i in &pending {
            if let Some(observation) = observed.get(&i.to_string()) {
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
        if pending.is_empty() || elapsed >= options.settle {
            break;
        }
        tokio::time::sleep(backoff.min(options.settle - elapsed)).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }

    // The confirming round: every runnable probe once more.
    round += 1;
    let jobs: Vec<Job> = runnable
        .iter()
        .map(|&i| job(scenario, &tracked, i))
        .collect();
    progress.round_started(round, jobs.len(), true);
    let observed = observe(exec, &jobs, options.parallel, progress).await;
    let at_ms = millis(applied.elapsed());
    let confirmed = record_confirming(scenario, &mut tracked, &observed, round, at_ms);
    let reached = reached_destinations(scenario, &tracked);
    tracked
        .iter()
        .zip(confirmed)
        .zip(&scenario.probes)
        .map(|((state, confirmed), probe)| {
            let liveness = liveness(probe, &control_results, ready_services, &reached);
            finish(probe, state, confirmed, &liveness)
        })
        .collect()
}

/// Records the confirming round; per probe, `None` when it did not run, else whether it had
/// matched before.
fn record_confirming(
    scenario: &Scenario,
    tracked: &mut [Tracked],
    observed: &BTreeMap<String, Observation>,
    round: u32,
    at_ms: u64,
) -> Vec<Option<bool>> {
    tracked
        .iter_mut()
        .enumerate()
        .map(|(i, state)| {
            observed.get(&i.to_string()).map(|observation| {
                let matched_before = state.first_match_ms.is_some();
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

/// What the positive controls of the first round showed: `Err` says what a control saw when it
/// did not reach its target.
fn control_outcomes(
    controls: &BTreeMap<ControlKey, Job>,
    observed: &BTreeMap<String, Observation>,
) -> BTreeMap<ControlKey, Result<(), String>> {
    controls
        .iter()
        .map(|(key, job)| {
            let result = match observed.get(&job.request.id) {
                Some(o) if reached(&o.outcome) => Ok(()),
                Some(o) => Err(format!(
                    "the control from inside {} to 127.0.0.1:{} saw {}",
                    key.pod,
                    key.port,
                    crate::verdict::outcome_name(&o.outcome)
                )),
                None => Err("the control did not run".to_owned()),
            };
            (key.clone(), result)
        })
        .collect()
}

/// Where a probe goes, as far as whether something listens there: the target, port and
/// protocol (a TCP connection and an HTTP request to the same port prove the same listener).
fn destination(probe: &Probe) -> (String, u16, Protocol) {
    (probe.target.to_string(), probe.port, probe.protocol)
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

/// What the run knows of whether the target of `probe` listens: its positive control, else a
/// probe that reached the same destination.
fn liveness(
    probe: &Probe,
    controls: &BTreeMap<ControlKey, Result<(), String>>,
    ready_services: &BTreeSet<(String, String)>,
    reached: &BTreeSet<(String, u16, Protocol)>,
) -> Liveness {
    match control_for(probe, controls, ready_services) {
        Some(Ok(())) => Liveness::Listening,
        Some(Err(why)) => Liveness::NotListening(why),
        None if reached.contains(&destination(probe)) => Liveness::Listening,
        None => Liveness::Unknown,
    }
}

async fn observe<E: BatchExec>(
    exec: &E,
    jobs: &[Job],
    parallel: usize,
    progress: &dyn ProbeProgress,
) -> BTreeMap<String, Observation> {
    let on_observed = |_: &str, _: &Observation| progress.probe_observed();
    run_round(exec, jobs, parallel, &on_observed).await
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
        Ok(expected) => judge(*expected, probe.deny, checks(probe), &observation.outcome),
        Err(why) => Judgement {
            status: ProbeStatus::Error,
            message: why.clone(),
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

/// The final status of a probe after the confirming round. `confirmed` is `None` when the probe
/// never ran, else whether it had matched before the confirming round.
fn finish(
    probe: &Probe,
    state: &Tracked,
    confirmed: Option<bool>,
    liveness: &Liveness,
) -> ProbeResult {
    let (status, message, outcome, output, elapsed) = match (&state.spec, &state.last) {
        (Err(why), _) => (ProbeStatus::Error, why.clone(), None, String::new(), 0),
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
            if judgement.status == ProbeStatus::Fail && confirmed == Some(true) {
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
            let judgement = qualify(judgement, probe.deny, &observation.outcome, liveness);
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
        named: probe.named,
        file: location.file,
        line: location.line,
        from: probe.from.to_string(),
        to: probe.target.to_string(),
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

/// Whether an outcome shows the target was reached.
fn reached(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Connected | Outcome::HttpStatus { .. })
}

fn via_key(via: Via) -> Option<ViaKey> {
    match via {
        Via::Tcp => Some(ViaKey::Tcp),
        Via::Udp => Some(ViaKey::Udp),
        Via::Http => Some(ViaKey::Http),
        Via::Dns | Via::Sctp => None,
    }
}

/// The pods, ports and kinds a probe's target must serve, checked from inside the target.
fn control_keys(probe: &Probe) -> Vec<ControlKey> {
    let Some(via) = via_key(probe.via) else {
        return Vec::new();
    };
    match &probe.target {
        Target::Pod(pod) => vec![ControlKey {
            pod: pod.clone(),
            port: probe.port,
            via,
        }],
        Target::Service {
            backends,
            target_port,
            ..
        } => backends
            .iter()
            .map(|pod| ControlKey {
                pod: pod.clone(),
                port: *target_port,
                via,
            })
            .collect(),
        Target::Host(_) | Target::Ip(_) | Target::ClusterDns => Vec::new(),
    }
}

/// One control job per distinct target: the same kind of probe, from inside the target pod to
/// its loopback address, where no policy applies.
fn control_jobs(scenario: &Scenario) -> BTreeMap<ControlKey, Job> {
    let keys: BTreeSet<ControlKey> = scenario.probes.iter().flat_map(control_keys).collect();
    keys.into_iter()
        .enumerate()
        .map(|(n, key)| {
            let host = "127.0.0.1".to_owned();
            let spec = match key.via {
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
            };
            let job = Job {
                from: key.pod.clone(),
                request: request(format!("control-{n}"), Duration::from_secs(2), spec),
            };
            (key, job)
        })
        .collect()
}

/// The positive control of a probe: `Err` when its target was not listening, or its Service had
/// no ready endpoint.
fn control_for(
    probe: &Probe,
    results: &BTreeMap<ControlKey, Result<(), String>>,
    ready_services: &BTreeSet<(String, String)>,
) -> Option<Result<(), String>> {
    if let Target::Service {
        namespace, name, ..
    } = &probe.target
        && !ready_services.contains(&(namespace.clone(), name.clone()))
    {
        return Some(Err(format!(
            "service {namespace}/{name} has no ready endpoint"
        )));
    }
    let keys = control_keys(probe);
    if keys.is_empty() {
        return None;
    }
    for key in keys {
        match results.get(&key) {
            Some(Ok(())) => {}
            Some(Err(why)) => return Some(Err(why.clone())),
            None => return Some(Err("the target's control did not run".to_owned())),
        }
    }
    Some(Ok(()))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::path::Path;
    use std::sync::Mutex;

    use netverdict_probes::{AgentLine, BatchRequest, BatchSummary, Exit, ProbeRecord, Tool};

    use super::*;

    /// Answers batches from a script: `(pod, host, port, round) -> outcome`, where round counts
    /// the batches the pod received.
    struct ScriptedExec {
        script: fn(&str, &ProbeSpec, u32) -> Outcome,
        calls: Mutex<Vec<(String, usize)>>,
        fail: Option<&'static str>,
    }

    impl ScriptedExec {
        fn new(script: fn(&str, &ProbeSpec, u32) -> Outcome) -> ScriptedExec {
            ScriptedExec {
                script,
                calls: Mutex::new(Vec::new()),
                fail: None,
            }
        }
    }

    impl BatchExec for ScriptedExec {
        async fn run_batch(
            &self,
            pod: &PodRef,
            request: &BatchRequest,
            on_line: &mut (dyn FnMut(&str) + Send),
        ) -> Result<(), String> {
            let round = {
                let mut calls = self.calls.lock().unwrap();
                calls.push((pod.to_string(), request.probes.len()));
                calls.iter().filter(|(p, _)| *p == pod.to_string()).count() as u32
            };
            if let Some(error) = self.fail {
                return Err(error.to_owned());
            }
            for probe in &request.probes {
                let record = ProbeRecord {
                    id: probe.id.clone(),
                    kind: probe.probe.kind(),
                    tool: Tool::Nc,
                    argv: vec!["nc".to_owned()],
                    stdin: None,
                    exit: Exit::Code(0),
                    elapsed_ms: 1,
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
        let (scenario, addresses) = scenario_of(yaml);
        let options = ProbingOptions {
            settle: Duration::from_secs(2),
            parallel: 4,
        };
        probe_scenario(
            &scenario,
            &addresses,
            &BTreeSet::new(),
            exec,
            options,
            Instant::now(),
            &Silent,
        )
        .await
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
        // The control rides in the server's batch of the first round; each pod gets one exec
        // per round.
        let calls = exec.calls.lock().unwrap();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(calls.iter().filter(|(pod, _)| pod == "t/client").count(), 2);
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
}
