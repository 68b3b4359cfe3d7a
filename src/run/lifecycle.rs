//! The life of a run, as an explicit sequence of phases; cleanup is reachable from every one.
//!
//! - **Setup**: the scenario's namespaces, Services and probe pods are created, labelled with the
//!   run id (a namespace an earlier run left terminating is waited for, then created anew); the
//!   run waits (with watches) until the pods have started.
//! - **Ready**: the pods' and Services' addresses are known; the policies are applied, which
//!   starts the clock of time-to-match; `expect: auto` is computed from the live cluster.
//! - **Probing**: rounds of batched probes until every probe matches or the settle time is over,
//!   then one confirming round.
//! - **Reporting**: results are handed to the reporters.
//! - **Cleanup**: everything the run created is deleted (unless `--keep`), also after an error or
//!   the first Ctrl-C / SIGTERM; a second one aborts the cleanup.
//!
//! The first Ctrl-C / SIGTERM interrupts the run: a scenario being set up stops, probing stops
//! with what it observed, and every probe that did not run is reported as skipped (reason
//! `interrupted`); then the reports are written and the run cleans up. A scenario whose setup
//! fails keeps its probes, as errors carrying the reason, and the other scenarios still run. With `wait_cleanup` the run
//!   then waits until the namespaces it created are gone.
//!
//! Scenarios whose namespaces are disjoint run at the same time (in waves, in order); each
//! one's objects are removed when it ends (namespaces stay until the end: a later scenario may use
//! them). `--parallel` bounds the exec streams of the whole run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::batch::KubeExec;
use super::cleanup::{CleanupCommand, clean_up, left_behind};
use super::deaths::{mark_dead_pods, mark_deleted_pods};
use super::enforcement::{self, CheckContext, Finding};
use super::expectations::{predict_live, reconcile, resolve_live};
use super::interrupt::Interrupt;
use super::objects;
use super::probing::{
    INTERRUPTED, ProbeContext, ProbeProgress, ProbingOptions, not_run, probe_scenario,
};
use super::requests::LiveAddresses;
use crate::cluster::Failure;
use crate::cluster::{
    Cleaned, CleanupProblem, CreateError, Death, Limits, NamespaceOrigin, PodKey, ProbePodOptions,
    RunId, Terminating, create_pod, create_policy, create_service, delete_run, endpoint_source,
    ensure_namespace, fates, has_ready_endpoint, refuse_shared, wait_started,
};
use crate::k8s::Client;
use crate::results::{CleanupReport, RunResult, ScenarioResult, SetupPhases};
use crate::scenario::{ExpectSource, NamespaceSpec, PodRef, Scenario, Target};
use crate::verdict::ProbeStatus;

/// What a run does beyond its scenarios.
#[derive(Clone, Debug)]
pub(crate) struct RunConfig {
    pub(crate) run_id: RunId,
    pub(crate) probe_pods: ProbePodOptions,
    pub(crate) probing: ProbingOptions,
    /// How long pods may take to start.
    pub(crate) pod_start_limit: Duration,
    /// How long pods live at most, should the runner die (`activeDeadlineSeconds`).
    pub(crate) pod_lifetime: Duration,
    /// Leave everything in place for debugging.
    pub(crate) keep: bool,
    /// How long to wait for a namespace that is still terminating (an earlier run's) to go
    /// before creating it, and for the run's own to go with `wait_cleanup`.
    pub(crate) namespace_wait: Duration,
    /// At the end, wait until the namespaces the run created are gone.
    pub(crate) wait_cleanup: bool,
    /// Use namespaces other netverdict runs have objects in (their policies then count in the
    /// predictions); by default such a run is refused before anything is created.
    pub(crate) share_namespaces: bool,
    /// How the run reached its cluster, for the command that removes what it leaves.
    pub(crate) cleanup_command: CleanupCommand,
}

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

/// Namespaces a run touched.
#[derive(Default)]
struct Touched {
    /// Created by the run: deleted at the end.
    created: Vec<String>,
    /// Every namespace the run created objects in.
    used: BTreeSet<String>,
}

/// Runs `scenarios` against the cluster behind `client` and cleans up after them.
pub(crate) async fn execute(
    client: &Client,
    cluster: String,
    scenarios: Vec<Scenario>,
    config: &RunConfig,
    observer: &dyn RunObserver,
) -> RunResult {
    let started = Instant::now();
    let mut result = RunResult {
        run_id: config.run_id.to_string(),
        cluster,
        ..RunResult::default()
    };
    if !config.share_namespaces {
        let namespaces: BTreeSet<String> = scenarios.iter().flat_map(namespaces_of).collect();
        let namespaces: Vec<String> = namespaces.into_iter().collect();
        if let Err(error) = refuse_shared(client, &config.run_id, &namespaces).await {
            result.error = Some(error.to_string());
            result.duration_ms = millis(started.elapsed());
            return result;
        }
    }
    let touched = Mutex::new(Touched::default());
    let earlier = Mutex::new(Vec::new());
    let streams = Arc::new(Semaphore::new(config.probing.parallel));
    let (interrupter, interrupt) = Interrupt::new();
    let mut finding = None;
    result.error = {
        let shared = Shared {
            client,
            config,
            observer,
            streams: &streams,
            touched: &touched,
            earlier: &earlier,
            interrupt: &interrupt,
        };
        let work = run_and_check(&shared, scenarios, &mut result.scenarios, &mut finding);
        tokio::pin!(work);
        tokio::select! {
            () = &mut work => None,
            signal = shutdown_signal() => {
                interrupter.interrupt(signal);
                let stopped = format!(
                    "interrupted by {signal}: the probes not run are reported as skipped"
                );
                // The scenarios stop at once; a second signal does not wait for them.
                tokio::select! {
                    () = &mut work => Some(stopped),
                    second = shutdown_signal() => Some(format!(
                        "{stopped}; a second {second} abandoned the scenarios still running"
                    )),
                }
            }
        }
    };
    if let Some(finding) = finding {
        enforcement::apply(&mut result.scenarios, &finding);
        result.enforcement = Some(finding.state);
        result.enforcement_evidence = Some(finding.evidence);
    }
    if config.keep {
        let command = config.cleanup_command.for_run(&config.run_id);
        observer.left_in_place(&config.run_id, &command);
    } else {
        let touched = touched.into_inner().unwrap_or_else(|e| e.into_inner());
        let earlier = earlier.into_inner().unwrap_or_else(|e| e.into_inner());
        clean_up_run(client, config, observer, (touched, earlier), &mut result).await;
    }
    result.duration_ms = millis(started.elapsed());
    result
}

/// The Cleanup phase: deletes what the run touched (and what the scenarios' cleanups could not
/// remove); what is left goes into `result`'s error and cleanup report.
async fn clean_up_run(
    client: &Client,
    config: &RunConfig,
    observer: &dyn RunObserver,
    (touched, earlier): (Touched, Vec<CleanupProblem>),
    result: &mut RunResult,
) {
    let command = config.cleanup_command.for_run(&config.run_id);
    observer.cleaning_up(&config.run_id);
    let used: Vec<String> = touched.used.iter().cloned().collect();
    let namespaces = (used.as_slice(), touched.created.as_slice());
    let (report, failed) = tokio::select! {
        (cleaned, failed) = clean_up(client, config, namespaces, earlier, observer) => {
            (left_behind(&cleaned, &config.run_id, &command), failed)
        }
        signal = shutdown_signal() => (None, Some(format!(
            "cleanup aborted by a second {signal}; remove what is left with `{command}`"
        ))),
    };
    let messages = report.as_ref().map(CleanupReport::message).into_iter();
    for message in messages.chain(failed) {
        result.error = Some(
            result
                .error
                .take()
                .map_or(message.clone(), |e| format!("{e}\n{message}")),
        );
    }
    result.cleanup = report;
}

/// Runs the scenarios, then, when a deny the policies deny was not blocked and the run was not
/// interrupted, checks once whether the network enforces NetworkPolicy (`finding`).
async fn run_and_check(
    shared: &Shared<'_>,
    scenarios: Vec<Scenario>,
    results: &mut Vec<ScenarioResult>,
    finding: &mut Option<Finding>,
) {
    run_all(shared, scenarios, results).await;
    if shared.interrupt.signal().is_some() {
        return;
    }
    let Some(fallback) = enforcement::needs_check(results) else {
        return;
    };
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
    *finding = Some(enforcement::check(&context, fallback).await);
}

/// Runs the scenarios in waves: a scenario joins the current wave when it shares no namespace
/// with the scenarios already in it (its pods, Services and policies cannot then touch theirs),
/// and the scenarios of a wave run at the same time. Results keep the scenarios' order.
async fn run_all(shared: &Shared<'_>, scenarios: Vec<Scenario>, results: &mut Vec<ScenarioResult>) {
    for wave in waves(scenarios) {
        if shared.interrupt.signal().is_some() {
            results.extend(wave.iter().map(skipped));
            continue;
        }
        let runs = wave.into_iter().map(|scenario| run_one(shared, scenario));
        results.extend(futures::future::join_all(runs).await);
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
    Failed(String),
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

/// Runs one scenario and removes its objects (unless `--keep`), whatever happened. A scenario
/// whose setup fails keeps every probe, as an error saying why; the run goes on with the other
/// scenarios. What its cleanup cannot remove goes to the run's last cleanup, which tries again.
async fn run_one(shared: &Shared<'_>, mut scenario: Scenario) -> ScenarioResult {
    let Shared {
        client,
        config,
        observer,
        ..
    } = *shared;
    let started = Instant::now();
    observer.scenario_started(&scenario.name, scenario.pods.len(), scenario.probes.len());
    let exec = KubeExec::new(client.clone(), shared.streams.clone());
    let outcome = run_scenario(shared, &mut scenario, &exec).await;
    // With `--keep` the objects stay (a later scenario reusing their names then fails to
    // create them).
    let cleaned = if config.keep {
        Cleaned::default()
    } else {
        let namespaces: Vec<String> = namespaces_of(&scenario).into_iter().collect();
        delete_run(client, &config.run_id, &namespaces, &[], Limits::default()).await
    };
    shared
        .earlier
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(cleaned.failed);
    let (probes, dead_pods, phases, setup_error) = match outcome {
        Ok((probes, dead, phases)) => (probes, dead, phases, None),
        Err(Unfinished::Interrupted) => {
            let mut result = skipped(&scenario);
            result.duration_ms = millis(started.elapsed());
            observer.scenario_finished(&result);
            return result;
        }
        Err(Unfinished::Failed(error)) => {
            let message = format!("setup failed: {error}");
            let probes = scenario
                .probes
                .iter()
                .map(|probe| not_run(probe, ProbeStatus::Error, message.clone()))
                .collect();
            (
                probes,
                Vec::new(),
                Phases::failed(started.elapsed()),
                Some(error),
            )
        }
    };
    let result = ScenarioResult {
        name: scenario.name.clone(),
        file: scenario.location.file.display().to_string(),
        duration_ms: millis(started.elapsed()),
        setup_ms: millis(phases.setup),
        setup_phases: phases.setup_phases,
        setup_error,
        probing_ms: millis(phases.probing),
        exec_calls: exec.calls.load(std::sync::atomic::Ordering::Relaxed),
        dead_pods,
        probes,
    };
    observer.scenario_finished(&result);
    result
}

/// Sets up and probes one scenario; setup stops when the run is interrupted.
async fn run_scenario(
    shared: &Shared<'_>,
    scenario: &mut Scenario,
    exec: &KubeExec,
) -> Result<(Vec<crate::results::ProbeResult>, Vec<Death>, Phases), Unfinished> {
    let client = shared.client;
    let started = Instant::now();
    let set_up = async {
        let setup = Setup {
            client,
            config: shared.config,
            observer: shared.observer,
            touched: shared.touched,
            namespaces: &scenario.namespaces,
        };
        let (addresses, applied, mut setup_phases) = setup.run(scenario).await?;
        let mut clock = Clock::start();
        let ready_services = wait_for_endpoints(client, scenario, Duration::from_secs(10)).await?;
        setup_phases.endpoints_ms = clock.lap();
        Ok::<_, String>((addresses, applied, setup_phases, ready_services))
    };
    let (addresses, applied, mut setup_phases, ready_services) = tokio::select! {
        done = set_up => done.map_err(Unfinished::Failed)?,
        _ = shared.interrupt.wait() => return Err(Unfinished::Interrupted),
    };
    let mut clock = Clock::start();
    let predictions = resolve_live(client, scenario, &addresses).await;
    setup_phases.predictions_ms = clock.lap();

    // Probing.
    let probing_started = Instant::now();
    let setup = probing_started - started;
    let context = ProbeContext {
        addresses: &addresses,
        ready_services: &ready_services,
        exec,
        options: shared.config.probing,
        progress: shared.observer,
        interrupt: shared.interrupt,
    };
    let mut probes = probe_scenario(scenario, &context, applied).await;
    // The probing rounds end with the confirming round; what follows reads the cluster again.
    let probing = probing_started.elapsed();
    // Interrupted: no more requests than needed before the reports are written.
    let at_end = if shared.interrupt.signal().is_some() {
        predictions.clone()
    } else {
        predict_live(client, scenario, &addresses).await
    };
    for (((result, probe), at_start), at_end) in probes
        .iter_mut()
        .zip(&scenario.probes)
        .zip(predictions)
        .zip(at_end)
    {
        let auto = probe.expect.source == ExpectSource::Auto;
        reconcile(result, auto, at_start, at_end);
    }
    let mut dead = Vec::new();
    if shared.interrupt.signal().is_none() {
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
        let fates = fates(client, &pods).await;
        mark_deleted_pods(scenario, &mut probes, &fates.deleted);
        mark_dead_pods(scenario, &mut probes, &fates.deaths);
        dead = fates.deaths;
    }
    Ok((
        probes,
        dead,
        Phases {
            setup,
            setup_phases,
            probing,
        },
    ))
}

/// The Setup phase of one scenario: its namespaces, Services, policies and pods, recording the
/// namespaces it touches (and those it created).
struct Setup<'a> {
    client: &'a Client,
    config: &'a RunConfig,
    observer: &'a dyn RunObserver,
    touched: &'a Mutex<Touched>,
    namespaces: &'a [NamespaceSpec],
}

impl Setup<'_> {
    /// Creates everything and waits for the pods; returns their addresses and the Services',
    /// and when the policies were applied.
    async fn run(
        &self,
        scenario: &Scenario,
    ) -> Result<(LiveAddresses, Instant, SetupPhases), String> {
        let (client, run) = (self.client, &self.config.run_id);
        let mut clock = Clock::start();
        let mut phases = SetupPhases::default();
        for namespace in self.namespaces {
            self.namespace(&namespace.name).await?;
        }
        phases.namespaces_ms = clock.lap();
        let mut addresses = LiveAddresses::default();
        for service in &scenario.services {
            let object = objects::service(service);
            let created = self
                .create(&service.namespace, || create_service(client, run, &object))
                .await?;
            let cluster_ip = created
                .spec
                .and_then(|spec| spec.cluster_ip)
                .and_then(|ip| ip.parse().ok())
                .ok_or_else(|| {
                    format!(
                        "service {}/{} got no ClusterIP",
                        service.namespace, service.name
                    )
                })?;
            addresses.services.insert(
                (service.namespace.clone(), service.name.clone()),
                cluster_ip,
            );
        }
        phases.services_ms = clock.lap();
        // The policies go in before the pods start, as in a real deployment: by the time the
        // pods are up, a network that enforces promptly already does, and the first round is
        // final. Time-to-match counts from here.
        for policy in &scenario.policies {
            self.create(&policy.namespace, || {
                create_policy(client, run, &policy.object)
            })
            .await?;
        }
        let applied = Instant::now();
        phases.policies_ms = clock.lap();
        let mut wanted = BTreeMap::new();
        for pod in &scenario.pods {
            let spec = objects::probe_pod(pod, &self.config.probe_pods, self.config.pod_lifetime);
            let object = spec.to_pod(run);
            self.create(&pod.namespace, || create_pod(client, run, &object))
                .await?;
            let key = PodKey {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            };
            wanted.insert(key, spec.becomes_ready());
        }
        phases.pods_ms = clock.lap();
        let limit = self.config.pod_start_limit;
        let placements = wait_started(client, run, &wanted, limit, |pod, _| {
            self.observer.pod_started(pod)
        })
        .await
        .map_err(|e| e.to_string())?;
        for (key, placement) in placements {
            addresses
                .pods
                .insert(PodRef::new(key.namespace, key.name), placement.ip);
        }
        phases.pods_started_ms = clock.lap();
        Ok((addresses, applied, phases))
    }

    fn touch(&self, namespace: &str) {
        let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        touched.used.insert(namespace.to_owned());
    }

    /// Creates a scenario namespace or finds it, after waiting for one still terminating.
    async fn namespace(&self, name: &str) -> Result<(), String> {
        let labels = self
            .namespaces
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.labels.clone())
            .unwrap_or_default();
        let waiting = |terminating: &Terminating| self.observer.waiting_for_namespace(terminating);
        let origin = ensure_namespace(
            self.client,
            &self.config.run_id,
            name,
            &labels,
            self.config.namespace_wait,
            &waiting,
        )
        .await
        .map_err(|e| e.to_string())?;
        // A namespace another run made is deleted at the end as if this run had made it, once
        // nobody else's objects are left in it: the run that made it may have left it for that
        // reason.
        if origin != NamespaceOrigin::Existing {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            if !touched.created.iter().any(|n| n == name) {
                touched.created.push(name.to_owned());
            }
        }
        self.touch(name);
        Ok(())
    }

    /// Runs `create` in `namespace`. When the API server refuses it because the namespace is
    /// being deleted (since the run looked at it: an earlier run's cleanup, or someone else),
    /// waits for the namespace to go, creates it anew and tries once more.
    async fn create<T, F, Fut>(&self, namespace: &str, create: F) -> Result<T, String>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, CreateError>>,
    {
        self.touch(namespace);
        match create().await {
            Err(CreateError::NamespaceTerminating { .. }) => {
                self.namespace(namespace).await?;
                create().await.map_err(|e| e.to_string())
            }
            result => result.map_err(|e| e.to_string()),
        }
    }
}

/// How long a scenario's phases took.
struct Phases {
    setup: Duration,
    setup_phases: SetupPhases,
    probing: Duration,
}

impl Phases {
    /// A setup that failed after `setup`: nothing was probed.
    fn failed(setup: Duration) -> Phases {
        Phases {
            setup,
            setup_phases: SetupPhases::default(),
            probing: Duration::ZERO,
        }
    }
}

/// Milliseconds between successive laps.
struct Clock(Instant);

impl Clock {
    fn start() -> Clock {
        Clock(Instant::now())
    }

    /// The time since the last lap (or the start), and a new lap.
    fn lap(&mut self) -> u64 {
        let now = Instant::now();
        let lap = millis(now - self.0);
        self.0 = now;
        lap
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Waits until the scenario's Services that probes target have a ready endpoint, up to `limit`;
/// returns those that do. An API error ends the wait as a setup error, never as "no endpoint".
async fn wait_for_endpoints(
    client: &Client,
    scenario: &Scenario,
    limit: Duration,
) -> Result<BTreeSet<(String, String)>, String> {
    let targeted: BTreeSet<(String, String)> = scenario
        .probes
        .iter()
        .filter_map(|probe| match &probe.target {
            Target::Service {
                namespace, name, ..
            } => Some((namespace.clone(), name.clone())),
            _ => None,
        })
        .collect();
    let mut ready = BTreeSet::new();
    if targeted.is_empty() {
        return Ok(ready);
    }
    let source = endpoint_source(client).await.map_err(|e| {
        format!(
            "cannot find where the API server keeps endpoints: {}",
            Failure::of(&e)
        )
    })?;
    let deadline = Instant::now() + limit;
    loop {
        for (namespace, name) in targeted.difference(&ready.clone()) {
            let found = has_ready_endpoint(client, source, namespace, name)
                .await
                .map_err(|e| {
                    format!("cannot read the endpoints of Service {namespace}/{name}: {e}")
                })?;
            if found {
                ready.insert((namespace.clone(), name.clone()));
            }
        }
        if ready.len() == targeted.len() || Instant::now() >= deadline {
            return Ok(ready);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Resolves on the first Ctrl-C or SIGTERM, naming it.
pub(crate) async fn shutdown_signal() -> &'static str {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
                "SIGTERM"
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<&'static str>();
    tokio::select! {
        name = ctrl_c => name,
        name = term => name,
    }
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
