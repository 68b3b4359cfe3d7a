//! The life of a run, as an explicit sequence of phases; cleanup is reachable from every one.
//!
//! Per scenario:
//! - **Setup** ([`super::setup`]): the scenario's namespaces, Services, policies and probe pods
//!   are created, labelled with the run id (a namespace an earlier run left terminating is
//!   waited for, then created anew); the run waits (with watches) until the pods have started.
//! - **Ready** ([`super::setup::Ready`]): the pods' and Services' addresses are known; the
//!   policies were applied, which started the clock of time-to-match; `expect: auto` is computed
//!   from the live cluster.
//! - **Probing** ([`probe`], [`super::probing`]): rounds of batched probes until every probe
//!   matches or the settle time is over, then one confirming round; then the policies' verdicts
//!   at the end and the pods that died or went during the run.
//! - **Teardown** ([`tear_down`]): the scenario's objects are deleted (unless `--keep`),
//!   whatever happened before; what cannot be removed goes to the run's Cleanup.
//! - **Reporting**: the scenario's result is handed to the observer, the run's to the reporters.
//!
//! Per run, after every scenario: **Cleanup** ([`super::cleanup`]): everything the run created
//! is deleted (unless `--keep`), also after an error or the first stop request (Ctrl-C /
//! SIGTERM); a second one aborts the cleanup. With `wait_cleanup` the run then waits until the
//! namespaces it created are gone.
//!
//! The first stop request interrupts the run: a scenario being set up stops, probing stops
//! with what it observed, and every probe that did not run is reported as skipped (reason
//! `interrupted`); then the reports are written and the run cleans up. A scenario whose setup
//! fails keeps its probes, as errors carrying the reason, and the other scenarios still run.
//!
//! Scenarios whose namespaces are disjoint run at the same time (in waves, in order); each
//! one's objects are removed when it ends (namespaces stay until the end: a later scenario may use
//! them). `--parallel` bounds the exec streams of the whole run.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::batch::KubeExec;
use super::cleanup::finish;
use super::clock::{Clock, millis};
use super::config::RunConfig;
use super::deaths::{mark_dead_pods, mark_deleted_pods};
use super::enforcement::{self, CheckContext, Finding};
use super::error::RunError;
use super::expectations::{predict_live, reconcile, resolve_live};
use super::interrupt::{Interrupt, Interrupter, StopRequests};
use super::live::live_stage;
use super::probing::{INTERRUPTED, ProbeContext, ProbeProgress, not_run, probe_scenario};
use super::setup::{Ready, Setup, SetupError, Touched, mimic_namespaces};
use crate::cluster::{
    Cleaned, CleanupProblem, Death, NEVER_READY, PodKey, RunId, Terminating, delete_run, fates,
    live_fates, owner_name, refuse_shared,
};
use crate::k8s::Client;
use crate::results::{MimicReport, ProbeResult, RunResult, ScenarioResult, SetupPhases};
use crate::scenario::{ExpectSource, Scenario};
use crate::verdict::ProbeStatus;

/// What the terminal shows while a run goes.
pub(crate) trait RunObserver: ProbeProgress {
    fn scenario_started(&self, name: &str, pods: usize, probes: usize);
    fn pod_started(&self, pod: &PodKey);
    fn scenario_finished(&self, result: &ScenarioResult);
    /// A namespace the run needs is still terminating: the run waits for it to go.
    fn waiting_for_namespace(&self, terminating: &Terminating);
    /// A deny was not blocked: a canary in `namespace` checks whether the network enforces
    /// NetworkPolicy, for up to `wait`.
    fn checking_enforcement(&self, namespace: &str, wait: Duration);
    fn cleaning_up(&self, run: &RunId);
    /// `--keep`: nothing is deleted; `command` removes it later.
    fn left_in_place(&self, run: &RunId, command: &str);
    fn cleaned(&self, cleaned: &Cleaned);
    /// With `wait_cleanup`: the `count` namespaces the run created are gone, after `waited`.
    fn namespaces_gone(&self, count: usize, waited: Duration);
}

/// Runs `scenarios` against the cluster behind `client` and cleans up after them; `stop` says
/// when to interrupt the run (the first request) and to abandon it (the second).
pub(crate) async fn execute(
    client: &Client,
    cluster: String,
    scenarios: Vec<Scenario>,
    config: &RunConfig,
    observer: &dyn RunObserver,
    stop: &dyn StopRequests,
) -> RunResult {
    let started = Instant::now();
    let mut result = RunResult {
        run_id: config.run_id.to_string(),
        cluster,
        ..RunResult::default()
    };
    // Live targets and mimics are found before anything is created.
    let live = match live_stage(client, scenarios, &config.run_id).await {
        Ok(live) => live,
        Err(error) => {
            result.problems = error.problems();
            result.error.push(RunError::Live(error));
            result.duration_ms = millis(started.elapsed());
            return result;
        }
    };
    let scenarios = live.scenarios;
    if !config.share_namespaces {
        let namespaces: BTreeSet<String> = scenarios.iter().flat_map(namespaces_of).collect();
        let namespaces: Vec<String> = namespaces.into_iter().collect();
        if let Err(error) = refuse_shared(client, &config.run_id, &namespaces).await {
            result.error.push(RunError::Shared(error));
            result.duration_ms = millis(started.elapsed());
            return result;
        }
    }
    let touched = Mutex::new(Touched::default());
    let earlier = Mutex::new(Vec::new());
    let streams = Arc::new(Semaphore::new(config.probing.parallel));
    let (interrupter, interrupt) = Interrupt::new();
    let shared = Shared {
        client,
        config,
        observer,
        streams: &streams,
        touched: &touched,
        earlier: &earlier,
        interrupt: &interrupt,
        live_services: &live.services,
    };
    let mut finding = None;
    let stopped = run_all(
        &shared,
        scenarios,
        (&mut result.scenarios, &mut finding),
        &interrupter,
        stop,
    )
    .await;
    result.error.extend(stopped);
    if let Some(finding) = finding {
        enforcement::apply(&mut result.scenarios, &finding);
        result.enforcement = Some(finding.state);
        result.enforcement_evidence = Some(finding.evidence);
    }
    let touched = touched.into_inner().unwrap_or_else(|e| e.into_inner());
    let earlier = earlier.into_inner().unwrap_or_else(|e| e.into_inner());
    finish(
        client,
        config,
        (touched, earlier),
        observer,
        stop,
        &mut result,
    )
    .await;
    result.duration_ms = millis(started.elapsed());
    result
}

/// When a deny the policies deny was not blocked, checks once whether the network enforces
/// NetworkPolicy; `None` when nothing needed the check.
async fn check_enforcement(shared: &Shared<'_>, results: &[ScenarioResult]) -> Option<Finding> {
    let fallback = enforcement::needs_check(results)?;
    let touch = |namespace: &str, created: bool| {
        let mut touched = shared.touched.lock().unwrap_or_else(|e| e.into_inner());
        if created && !touched.created.iter().any(|n| n == namespace) {
            touched.created.push(namespace.to_owned());
        }
        touched.used.insert(namespace.to_owned());
    };
    let context = CheckContext {
        client: shared.client,
        config: shared.config,
        interrupt: shared.interrupt,
        observer: shared.observer,
        touch: &touch,
    };
    Some(enforcement::check(&context, fallback).await)
}

/// Runs the scenarios in waves: a scenario joins the current wave when it shares no namespace
/// with the scenarios already in it (its pods, Services and policies cannot then touch theirs),
/// and the scenarios of a wave run at the same time. Results keep the scenarios' order.
///
/// Then, unless interrupted, the check of NetworkPolicy enforcement when a deny needs it
/// (`finding`). The first stop request interrupts every scenario (they stop at once) and the
/// check; a second one abandons those still running. Returns what the requests did.
async fn run_all(
    shared: &Shared<'_>,
    scenarios: Vec<Scenario>,
    (results, finding): (&mut Vec<ScenarioResult>, &mut Option<Finding>),
    interrupter: &Interrupter,
    stop: &dyn StopRequests,
) -> Option<RunError> {
    let work = async {
        for wave in waves(scenarios) {
            if shared.interrupt.signal().is_some() {
                results.extend(wave.iter().map(skipped));
                continue;
            }
            let runs = wave.into_iter().map(|scenario| run_one(shared, scenario));
            results.extend(futures::future::join_all(runs).await);
        }
        if shared.interrupt.signal().is_none() {
            *finding = check_enforcement(shared, results).await;
        }
    };
    tokio::pin!(work);
    tokio::select! {
        () = &mut work => None,
        signal = stop.next() => {
            interrupter.interrupt(signal);
            // The scenarios stop at once; a second request does not wait for them.
            tokio::select! {
                () = &mut work => Some(RunError::Interrupted { signal }),
                second = stop.next() => Some(RunError::Abandoned { signal, second }),
            }
        }
    }
}

/// What every scenario of a run shares.
struct Shared<'a> {
    client: &'a Client,
    config: &'a RunConfig,
    observer: &'a dyn RunObserver,
    /// The exec streams of the whole run (`--parallel`).
    streams: &'a Arc<Semaphore>,
    touched: &'a Mutex<Touched>,
    /// What the scenarios' cleanups could not remove.
    earlier: &'a Mutex<Vec<CleanupProblem>>,
    interrupt: &'a Interrupt,
    /// The ClusterIPs of the deployed Services the probes go to.
    live_services: &'a BTreeMap<(String, String), IpAddr>,
}

/// A scenario the run was interrupted before: every probe skipped.
fn skipped(scenario: &Scenario) -> ScenarioResult {
    ScenarioResult {
        name: scenario.name.clone(),
        file: scenario.location.file.display().to_string(),
        probes: scenario
            .probes
            .iter()
            .map(|probe| not_run(probe, ProbeStatus::Skipped, INTERRUPTED.to_owned()))
            .collect(),
        ..ScenarioResult::default()
    }
}

/// Why a scenario has no probing to show.
enum Unfinished {
    /// Its setup failed.
    Failed(SetupError),
    /// The run was interrupted during its setup.
    Interrupted,
}

/// Groups scenarios, in order, into waves of scenarios with disjoint namespaces.
fn waves(scenarios: Vec<Scenario>) -> Vec<Vec<Scenario>> {
    let mut waves: Vec<(BTreeSet<String>, Vec<Scenario>)> = Vec::new();
    for scenario in scenarios {
        let namespaces = namespaces_of(&scenario);
        match waves.last_mut() {
            Some((taken, wave)) if taken.is_disjoint(&namespaces) => {
                taken.extend(namespaces);
                wave.push(scenario);
            }
            _ => waves.push((namespaces, vec![scenario])),
        }
    }
    waves.into_iter().map(|(_, wave)| wave).collect()
}

/// Every namespace a scenario creates objects in.
pub(crate) fn namespaces_of(scenario: &Scenario) -> BTreeSet<String> {
    let namespaces = scenario.namespaces.iter().map(|n| &n.name);
    let pods = scenario.pods.iter().map(|p| &p.namespace);
    let services = scenario.services.iter().map(|s| &s.namespace);
    let policies = scenario.policies.iter().map(|p| &p.namespace);
    namespaces
        .chain(pods)
        .chain(services)
        .chain(policies)
        .cloned()
        .collect()
}

/// What the scenario's mimics copied, for the reports.
fn mimic_reports(scenario: &Scenario, run: &RunId) -> Vec<MimicReport> {
    scenario
        .pods
        .iter()
        .filter_map(|pod| {
            let mimic = pod.mimic.as_ref()?;
            let copied = mimic.copied.as_ref()?;
            let name = pod.pod_ref().to_string();
            Some(MimicReport {
                summary: format!("probe pod {name}, {}", copied.describe(&mimic.of)),
                pod: name,
                like: mimic.label(),
                of: mimic.of.to_string(),
                labels: copied.labels.clone().into_iter().collect(),
                left_out: copied.left_out.clone(),
                service_account: copied.service_account.clone(),
                node: copied.node.clone(),
                avoid_nodes: copied.avoid_nodes.clone(),
                owner: format!("ConfigMap {}/{}", pod.namespace, owner_name(run)),
                readiness_gate: NEVER_READY.to_owned(),
            })
        })
        .collect()
}

/// What probing a scenario gave: a result per probe, the pods that died, and how long it took.
struct Probed {
    probes: Vec<ProbeResult>,
    dead: Vec<Death>,
    /// Setup's parts, and from the policies being applied to the end of the confirming round.
    phases: SetupPhases,
    probing: Duration,
}

/// Runs one scenario through its phases: Setup, Probing, Teardown (whatever happened: the
/// objects are removed unless `--keep`), then its result. A scenario whose setup fails keeps
/// every probe, as an error saying why; the run goes on with the other scenarios.
async fn run_one(shared: &Shared<'_>, mut scenario: Scenario) -> ScenarioResult {
    let started = Instant::now();
    let counts = (scenario.pods.len(), scenario.probes.len());
    shared
        .observer
        .scenario_started(&scenario.name, counts.0, counts.1);
    let limits = &shared.config.limits;
    let exec = KubeExec::new(
        shared.client.clone(),
        shared.streams.clone(),
        limits.exec_slack,
    );
    let outcome = match set_up(shared, &mut scenario).await {
        Ok(ready) => {
            let setup = started.elapsed();
            Ok((setup, probe(shared, &scenario, ready, &exec).await))
        }
        Err(unfinished) => Err(unfinished),
    };
    tear_down(shared, &scenario).await;
    let result = match outcome {
        Ok((setup, probed)) => ScenarioResult {
            setup_ms: millis(setup),
            setup_phases: probed.phases,
            probing_ms: millis(probed.probing),
            exec_calls: exec.calls.load(std::sync::atomic::Ordering::Relaxed),
            dead_pods: probed.dead,
            probes: probed.probes,
            ..described(&scenario, &shared.config.run_id, started)
        },
        Err(Unfinished::Interrupted) => ScenarioResult {
            duration_ms: millis(started.elapsed()),
            ..skipped(&scenario)
        },
        Err(Unfinished::Failed(error)) => failed(&scenario, &shared.config.run_id, &error, started),
    };
    shared.observer.scenario_finished(&result);
    result
}

/// A scenario's result before its probes: its name, file, duration so far and mimics.
fn described(scenario: &Scenario, run: &RunId, started: Instant) -> ScenarioResult {
    ScenarioResult {
        name: scenario.name.clone(),
        file: scenario.location.file.display().to_string(),
        duration_ms: millis(started.elapsed()),
        mimics: mimic_reports(scenario, run),
        ..ScenarioResult::default()
    }
}

/// A scenario whose setup failed: every probe is an error carrying the reason.
fn failed(
    scenario: &Scenario,
    run: &RunId,
    error: &SetupError,
    started: Instant,
) -> ScenarioResult {
    let error = error.to_string();
    let message = format!("setup failed: {error}");
    ScenarioResult {
        setup_ms: millis(started.elapsed()),
        setup_error: Some(error),
        probes: scenario
            .probes
            .iter()
            .map(|probe| not_run(probe, ProbeStatus::Error, message.clone()))
            .collect(),
        ..described(scenario, run, started)
    }
}

/// Setup -> Ready: creates the scenario's objects and waits for them, stopping when the run is
/// interrupted; then computes `expect: auto` from the live cluster.
async fn set_up(shared: &Shared<'_>, scenario: &mut Scenario) -> Result<Ready, Unfinished> {
    let setup = Setup {
        client: shared.client,
        config: shared.config,
        observer: shared.observer,
        touched: shared.touched,
        live_services: shared.live_services,
    };
    let mut ready = tokio::select! {
        done = setup.run(scenario) => done.map_err(Unfinished::Failed)?,
        _ = shared.interrupt.wait() => return Err(Unfinished::Interrupted),
    };
    let mut clock = Clock::start();
    (ready.predictions, ready.evidence) =
        resolve_live(shared.client, scenario, &ready.addresses).await;
    ready.phases.predictions_ms = clock.lap();
    Ok(ready)
}

/// Probing a Ready scenario, then what the cluster says after it: the policies' verdicts at
/// the end, and the scenario's pods that died or were deleted meanwhile.
async fn probe(shared: &Shared<'_>, scenario: &Scenario, ready: Ready, exec: &KubeExec) -> Probed {
    let started = Instant::now();
    let context = ProbeContext {
        addresses: &ready.addresses,
        ready_services: &ready.ready_services,
        exec,
        options: shared.config.probing,
        progress: shared.observer,
        interrupt: shared.interrupt,
        evidence: &ready.evidence,
    };
    let mut probes = probe_scenario(scenario, &context, ready.applied).await;
    // The probing rounds end with the confirming round; what follows reads the cluster again.
    let probing = started.elapsed();
    let interrupted = shared.interrupt.signal().is_some();
    // Interrupted: no more requests than needed before the reports are written.
    let at_end = if interrupted {
        ready.predictions.clone()
    } else {
        predict_live(shared.client, scenario, &ready.addresses).await
    };
    for (((result, probe), at_start), at_end) in probes
        .iter_mut()
        .zip(&scenario.probes)
        .zip(ready.predictions)
        .zip(at_end)
    {
        let auto = probe.expect.source == ExpectSource::Auto;
        reconcile(result, auto, at_start, at_end);
    }
    let dead = if interrupted {
        Vec::new()
    } else {
        gone_or_dead(shared.client, scenario, &mut probes).await
    };
    Probed {
        probes,
        dead,
        phases: ready.phases,
        probing,
    }
}

/// Reads each of the scenario's pods once after probing, and the deployed pods it probed: the
/// probes that touch one deleted, replaced or dead meanwhile are marked (errors, or
/// inconclusive denies); returns the deaths.
async fn gone_or_dead(
    client: &Client,
    scenario: &Scenario,
    probes: &mut [ProbeResult],
) -> Vec<Death> {
    let pods: Vec<(String, String, bool)> = scenario
        .pods
        .iter()
        .map(|pod| {
            (
                pod.namespace.clone(),
                pod.name.clone(),
                !pod.ports.is_empty(),
            )
        })
        .collect();
    let mut fates = fates(client, &pods).await;
    let live = live_fates(client, &scenario.live_pods).await;
    fates.deleted.extend(live.deleted);
    fates.deaths.extend(live.deaths);
    mark_deleted_pods(scenario, probes, &fates.deleted);
    mark_dead_pods(scenario, probes, &fates.deaths);
    fates.deaths
}

/// Teardown: deletes the scenario's objects, unless `--keep` (a later scenario reusing their
/// names then fails to create them). What it cannot remove goes to the run's last cleanup,
/// which tries again.
async fn tear_down(shared: &Shared<'_>, scenario: &Scenario) {
    let config = shared.config;
    if config.keep {
        return;
    }
    let namespaces: Vec<String> = namespaces_of(scenario).into_iter().collect();
    let owners = mimic_namespaces(scenario);
    let cleaned = delete_run(
        shared.client,
        &config.run_id,
        (&namespaces, &owners),
        &[],
        config.limits.cleanup,
    )
    .await;
    shared
        .earlier
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(cleaned.failed);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn scenario(name: &str, namespace: &str) -> String {
        format!(
            "apiVersion: netverdict.io/v1alpha1\nkind: Scenario\nmetadata: {{name: {name}}}\nspec:\n  namespaces: [{{name: {namespace}}}]\n  pods: [{{name: a, namespace: {namespace}, labels: {{app: a}}, ports: [{{port: 80}}]}}]\n  probes: [{{from: {namespace}/a, to: {namespace}/a, port: 80, expect: allow}}]\n"
        )
    }

    #[test]
    fn scenarios_sharing_a_namespace_never_run_together() {
        let text = [
            ("one", "x"),
            ("two", "y"),
            ("three", "x"),
            ("four", "z"),
            ("five", "z"),
        ]
        .map(|(name, namespace)| scenario(name, namespace))
        .join("---\n");
        let loaded = crate::scenario::load_str(Path::new("s.yaml"), &text, &Default::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        let names: Vec<Vec<String>> = waves(loaded.scenarios)
            .into_iter()
            .map(|wave| wave.into_iter().map(|s| s.name).collect())
            .collect();
        assert_eq!(
            names,
            [vec!["one", "two"], vec!["three", "four"], vec!["five"]]
        );
    }
}
