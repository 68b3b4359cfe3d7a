//! The life of a run, as an explicit sequence of phases; cleanup is reachable from every one.
//!
//! - **Setup**: the scenario's namespaces, Services and probe pods are created, labelled with the
//!   run id; the run waits (with watches) until the pods have started.
//! - **Ready**: the pods' and Services' addresses are known; the policies are applied, which
//!   starts the clock of time-to-match; `expect: auto` is computed from the live cluster.
//! - **Probing**: rounds of batched probes until every probe matches or the settle time is over,
//!   then one confirming round.
//! - **Reporting**: results are handed to the reporters.
//! - **Cleanup**: everything the run created is deleted (unless `--keep`), also after an error or
//!   the first Ctrl-C / SIGTERM; a second one aborts the cleanup.
//!
//! Scenarios whose namespaces are disjoint run at the same time (in waves, in order); each
//! one's objects are removed when it ends (namespaces stay until the end: a later scenario may use
//! them). `--parallel` bounds the exec streams of the whole run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::batch::KubeExec;
use super::expectations::resolve_live;
use super::objects;
use super::probing::{ProbeProgress, ProbingOptions, probe_scenario};
use super::requests::LiveAddresses;
use crate::cluster::Failure;
use crate::cluster::{
    Cleaned, NamespaceOrigin, PodKey, ProbePodOptions, RunId, create_pod, create_policy,
    create_service, delete_run, endpoint_source, ensure_namespace, has_ready_endpoint,
    wait_started,
};
use crate::k8s::Client;
use crate::results::{RunResult, ScenarioResult};
use crate::scenario::{PodRef, Scenario, Target};

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
}

/// What the terminal shows while a run goes.
pub(crate) trait RunObserver: ProbeProgress {
    fn scenario_started(&self, name: &str, pods: usize, probes: usize);
    fn pod_started(&self, pod: &PodKey);
    fn scenario_finished(&self, result: &ScenarioResult);
    fn cleaning_up(&self, run: &RunId);
    fn cleaned(&self, cleaned: &Cleaned);
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
    let touched = Mutex::new(Touched::default());
    let streams = Arc::new(Semaphore::new(config.probing.parallel));
    result.error = {
        let work = run_all(
            client,
            scenarios,
            config,
            observer,
            &streams,
            &touched,
            &mut result.scenarios,
        );
        tokio::select! {
            outcome = work => outcome.err(),
            signal = shutdown_signal() => Some(format!("interrupted by {signal}; the run stopped and cleaned up")),
        }
    };
    if config.keep {
        observer.cleaned(&Cleaned {
            deleted: Vec::new(),
            failed: vec![format!("--keep: objects of run {} left in place; remove them with `netverdict cleanup --run-id {}`", config.run_id, config.run_id)],
        });
    } else {
        observer.cleaning_up(&config.run_id);
        let touched = touched.into_inner().unwrap_or_else(|e| e.into_inner());
        let namespaces: Vec<String> = touched.used.iter().cloned().collect();
        let cleanup = delete_run(
            client,
            &config.run_id,
            &namespaces,
            &touched.created,
            Duration::from_secs(60),
        );
        tokio::select! {
            cleaned = cleanup => observer.cleaned(&cleaned),
            signal = shutdown_signal() => {
                let message = format!(
                    "cleanup aborted by a second {signal}; remove what is left with `netverdict cleanup --run-id {}`",
                    config.run_id
                );
                result.error = Some(result.error.map_or(message.clone(), |e| format!("{e}\n{message}")));
            }
        }
    }
    result.duration_ms = millis(started.elapsed());
    result
}

/// Runs the scenarios in waves: a scenario joins the current wave when it shares no namespace
/// with the scenarios already in it (its pods, Services and policies cannot then touch theirs),
/// and the scenarios of a wave run at the same time. Results keep the scenarios' order.
async fn run_all(
    client: &Client,
    scenarios: Vec<Scenario>,
    config: &RunConfig,
    observer: &dyn RunObserver,
    streams: &Arc<Semaphore>,
    touched: &Mutex<Touched>,
    results: &mut Vec<ScenarioResult>,
) -> Result<(), String> {
    for wave in waves(scenarios) {
        let runs = wave
            .into_iter()
            .map(|scenario| run_one(client, scenario, config, observer, streams, touched));
        let outcomes = futures::future::join_all(runs).await;
        let mut first_error = None;
        for outcome in outcomes {
            match outcome {
                Ok(result) => results.push(result),
                Err(error) => first_error = first_error.or(Some(error)),
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
    }
    Ok(())
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
fn namespaces_of(scenario: &Scenario) -> BTreeSet<String> {
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

/// Runs one scenario and removes its objects (unless `--keep`), whatever happened.
async fn run_one(
    client: &Client,
    mut scenario: Scenario,
    config: &RunConfig,
    observer: &dyn RunObserver,
    streams: &Arc<Semaphore>,
    touched: &Mutex<Touched>,
) -> Result<ScenarioResult, String> {
    let started = Instant::now();
    observer.scenario_started(&scenario.name, scenario.pods.len(), scenario.probes.len());
    let exec = KubeExec::new(client.clone(), streams.clone());
    let outcome = run_scenario(client, &mut scenario, config, observer, &exec, touched).await;
    // With `--keep` the objects stay (a later scenario reusing their names then fails to
    // create them).
    let cleaned = if config.keep {
        Cleaned::default()
    } else {
        let namespaces: Vec<String> = namespaces_of(&scenario).into_iter().collect();
        delete_run(
            client,
            &config.run_id,
            &namespaces,
            &[],
            Duration::from_secs(60),
        )
        .await
    };
    let (probes, phases) =
        outcome.map_err(|error| format!("scenario {}: {error}", scenario.name))?;
    if !cleaned.failed.is_empty() {
        return Err(format!(
            "scenario {}: cleanup failed: {}",
            scenario.name,
            cleaned.failed.join("; ")
        ));
    }
    let result = ScenarioResult {
        name: scenario.name.clone(),
        file: scenario.location.file.display().to_string(),
        duration_ms: millis(started.elapsed()),
        setup_ms: millis(phases.setup),
        probing_ms: millis(phases.probing),
        exec_calls: exec.calls.load(std::sync::atomic::Ordering::Relaxed),
        probes,
    };
    observer.scenario_finished(&result);
    Ok(result)
}

async fn run_scenario(
    client: &Client,
    scenario: &mut Scenario,
    config: &RunConfig,
    observer: &dyn RunObserver,
    exec: &KubeExec,
    touched: &Mutex<Touched>,
) -> Result<(Vec<crate::results::ProbeResult>, Phases), String> {
    let touch = |namespace: &str| {
        let mut touched = touched.lock().unwrap_or_else(|e| e.into_inner());
        touched.used.insert(namespace.to_owned());
    };
    let run = &config.run_id;
    let started = Instant::now();

    // Setup.
    for namespace in &scenario.namespaces {
        let origin = ensure_namespace(client, run, &namespace.name, &namespace.labels)
            .await
            .map_err(|e| e.to_string())?;
        if origin == NamespaceOrigin::Created {
            let mut touched = touched.lock().unwrap_or_else(|e| e.into_inner());
            if !touched.created.contains(&namespace.name) {
                touched.created.push(namespace.name.clone());
            }
        }
        touch(&namespace.name);
    }
    let mut addresses = LiveAddresses::default();
    for service in &scenario.services {
        touch(&service.namespace);
        let created = create_service(client, run, &objects::service(service))
            .await
            .map_err(|e| e.to_string())?;
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
    // The policies go in before the pods start, as in a real deployment: by the time the pods
    // are up, a network that enforces promptly already does, and the first round is final.
    // Time-to-match counts from here.
    for policy in &scenario.policies {
        touch(&policy.namespace);
        create_policy(client, run, &policy.object)
            .await
            .map_err(|e| e.to_string())?;
    }
    let applied = Instant::now();
    let mut wanted = BTreeMap::new();
    for pod in &scenario.pods {
        touch(&pod.namespace);
        let spec = objects::probe_pod(pod, &config.probe_pods, config.pod_lifetime);
        create_pod(client, run, &spec.to_pod(run))
            .await
            .map_err(|e| e.to_string())?;
        wanted.insert(
            PodKey {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            },
            spec.becomes_ready(),
        );
    }
    let placements = wait_started(client, run, &wanted, config.pod_start_limit, |pod, _| {
        observer.pod_started(pod)
    })
    .await
    .map_err(|e| e.to_string())?;
    for (key, placement) in placements {
        addresses
            .pods
            .insert(PodRef::new(key.namespace, key.name), placement.ip);
    }
    let ready_services = wait_for_endpoints(client, scenario, Duration::from_secs(10)).await?;

    let predictions = resolve_live(client, scenario, &addresses).await;

    // Probing.
    let probing_started = Instant::now();
    let setup = probing_started - started;
    let mut probes = probe_scenario(
        scenario,
        &addresses,
        &ready_services,
        exec,
        config.probing,
        applied,
        observer,
    )
    .await;
    for (probe, prediction) in probes.iter_mut().zip(predictions) {
        probe.prediction = prediction;
    }
    Ok((
        probes,
        Phases {
            setup,
            probing: probing_started.elapsed(),
        },
    ))
}

/// How long a scenario's phases took.
struct Phases {
    setup: Duration,
    probing: Duration,
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
async fn shutdown_signal() -> &'static str {
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
