//! The runner against the in-memory test cluster (`cluster::testing`): whole runs, no root.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netverdict_apiserver::Resource;
use netverdict_probes::Outcome;
use serde_json::json;

use super::interrupt::StopButton;
use super::{
    CleanupCommand, ProbeProgress, ProbingOptions, RunConfig, RunLimits, RunObserver, execute,
};
use crate::cli::exit;
use crate::cluster::testing::{PodFate, Reply, TestCluster, kill, namespace};
use crate::cluster::{Cleaned, PodKey, ProbePodOptions, RunId, Terminating};
use crate::results::{Enforcement, ProbeResult, RunResult, ScenarioResult};
use crate::verdict::ProbeStatus;

/// A scenario in `namespace`: `api` may reach `db`, `web` may not.
fn shop(name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {{name: {name}}}
spec:
  namespaces: [{{name: {namespace}}}]
  pods:
    - {{name: api, namespace: {namespace}, labels: {{app: api}}}}
    - {{name: web, namespace: {namespace}, labels: {{app: web}}}}
    - {{name: db, namespace: {namespace}, labels: {{app: db}}, ports: [{{port: 5432}}]}}
  policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {{name: db-from-api, namespace: {namespace}}}
      spec:
        podSelector: {{matchLabels: {{app: db}}}}
        ingress: [{{from: [{{podSelector: {{matchLabels: {{app: api}}}}}}]}}]
  probes:
    - {{name: api-to-db, from: {namespace}/api, to: {namespace}/db, port: 5432, expect: allow}}
    - {{name: web-to-db, from: {namespace}/web, to: {namespace}/db, port: 5432, expect: deny}}
"
    )
}

fn config(run: &str) -> RunConfig {
    RunConfig {
        run_id: RunId::parse(run).unwrap(),
        probe_pods: ProbePodOptions {
            image: "netverdict:test".to_owned(),
            pull_policy: "IfNotPresent".to_owned(),
            ..ProbePodOptions::default()
        },
        probing: ProbingOptions::new(Duration::ZERO, 8),
        limits: RunLimits {
            // The scripted network answers at once.
            enforcement_wait: Duration::from_secs(1),
            ..RunLimits::new(Duration::from_secs(60), Duration::from_secs(10))
        },
        keep: false,
        wait_cleanup: true,
        share_namespaces: false,
        cleanup_command: CleanupCommand::default(),
    }
}

/// What the run told its observer, in order; presses its stop button at the first event that
/// starts with `stop_at`.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    stop_at: Option<&'static str>,
    pressed: AtomicBool,
    button: Arc<StopButton>,
}

impl Recorder {
    fn stopping_at(event: &'static str) -> Recorder {
        Recorder {
            stop_at: Some(event),
            ..Recorder::default()
        }
    }

    fn note(&self, event: String) {
        if self.stop_at.is_some_and(|at| event.starts_with(at))
            && !self.pressed.swap(true, Ordering::SeqCst)
        {
            self.button.press();
        }
        self.events.lock().unwrap().push(event);
    }

    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    /// Where `event` is in the events.
    fn at(&self, event: &str) -> usize {
        let events = self.events();
        events
            .iter()
            .position(|e| e == event)
            .unwrap_or_else(|| panic!("no {event} in {events:?}"))
    }
}

impl Default for StopButton {
    fn default() -> StopButton {
        StopButton::new()
    }
}

impl ProbeProgress for Recorder {
    fn round_started(&self, round: u32, _probes: usize, confirming: bool) {
        self.note(if confirming {
            "confirming".to_owned()
        } else {
            format!("round {round}")
        });
    }

    fn probe_observed(&self) {}
}

impl RunObserver for Recorder {
    fn scenario_started(&self, name: &str, _pods: usize, _probes: usize) {
        self.note(format!("started {name}"));
    }

    fn pod_started(&self, pod: &PodKey) {
        self.note(format!("pod {pod}"));
    }

    fn scenario_finished(&self, result: &ScenarioResult) {
        self.note(format!("finished {}", result.name));
    }

    fn waiting_for_namespace(&self, terminating: &Terminating) {
        self.note(format!("waiting {}", terminating.name));
    }

    fn checking_enforcement(&self, namespace: &str, _wait: Duration) {
        self.note(format!("checking enforcement in {namespace}"));
    }

    fn cleaning_up(&self, _run: &RunId) {
        self.note("cleaning up".to_owned());
    }

    fn left_in_place(&self, _run: &RunId, command: &str) {
        self.note(format!("kept: {command}"));
    }

    fn cleaned(&self, _cleaned: &Cleaned) {
        self.note("cleaned".to_owned());
    }

    fn namespaces_gone(&self, count: usize, _waited: Duration) {
        self.note(format!("gone {count}"));
    }
}

async fn run(
    cluster: &TestCluster,
    yaml: &str,
    config: &RunConfig,
    recorder: &Recorder,
) -> RunResult {
    let loaded = crate::scenario::load_str(Path::new("t.yaml"), yaml, &Default::default());
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let cluster_name = "test cluster".to_owned();
    let button = recorder.button.clone();
    execute(
        &cluster.client,
        cluster_name,
        loaded.scenarios,
        config,
        recorder,
        &*button,
    )
    .await
}

/// Runs the `shop` scenario in namespace `shop`, observed by no one in particular.
async fn run_shop(cluster: &TestCluster, config: &RunConfig) -> RunResult {
    run(cluster, &shop("shop", "shop"), config, &Recorder::default()).await
}

/// The setup error of the run's first scenario.
fn setup_error(result: &RunResult) -> &str {
    result.scenarios[0]
        .setup_error
        .as_deref()
        .unwrap_or_default()
}

fn probes(result: &RunResult) -> Vec<&ProbeResult> {
    result.scenarios.iter().flat_map(|s| &s.probes).collect()
}

fn statuses(result: &RunResult) -> Vec<(String, ProbeStatus)> {
    probes(result)
        .into_iter()
        .map(|p| (p.key.clone(), p.status))
        .collect()
}

/// What is left of the run `config` ran.
fn left(cluster: &TestCluster, config: &RunConfig) -> Vec<String> {
    cluster.objects(&config.run_id.selector())
}

#[tokio::test]
async fn a_run_passes_where_the_network_agrees_and_fails_where_it_does_not() {
    let cluster = TestCluster::start().await;
    let config = config("agree");
    let result = run_shop(&cluster, &config).await;
    assert_eq!(result.error.message(), None);
    assert_eq!(
        statuses(&result),
        [
            ("shop/api-to-db".to_owned(), ProbeStatus::Pass),
            ("shop/web-to-db".to_owned(), ProbeStatus::Pass),
        ]
    );
    assert_eq!(exit::of_run(&result), exit::OK);
    // One exec per source pod per round (a round and the confirming one), the db's control
    // riding in its own batches.
    let mut batches: Vec<String> = cluster
        .script
        .batches()
        .into_iter()
        .map(|(pod, _)| pod)
        .collect();
    batches.sort();
    assert_eq!(
        batches,
        [
            "shop/api", "shop/api", "shop/db", "shop/db", "shop/web", "shop/web"
        ]
    );
    assert_eq!(left(&cluster, &config), Vec::<String>::new());

    // A network that does not enforce the policy: web reaches db.
    cluster.script.answer(|call| {
        let from_web = call.pod == "shop/web" && !call.is_control();
        from_web.then_some(Reply::Outcome(Outcome::Connected))
    });
    let config = RunConfig {
        run_id: RunId::parse("disagree").unwrap(),
        ..config
    };
    let result = run_shop(&cluster, &config).await;
    assert_eq!(
        statuses(&result),
        [
            ("shop/api-to-db".to_owned(), ProbeStatus::Pass),
            ("shop/web-to-db".to_owned(), ProbeStatus::Fail),
        ]
    );
    // The run's canary finds that the network enforces NetworkPolicy: the deny is this
    // network's failure to apply the policies as predicted.
    let failed = probes(&result)[1];
    assert!(
        failed
            .message
            .starts_with("connected: not blocked, although the network enforces NetworkPolicy"),
        "{}",
        failed.message
    );
    assert_eq!(result.enforcement, Some(Enforcement::Enforced));
    assert_eq!(exit::of_run(&result), exit::EXPECTATION_FAILED);
    assert_eq!(left(&cluster, &config), Vec::<String>::new());
}

/// A network that enforces nothing: the run's canary finds that its default-deny does not
/// close its connection, and says so on the deny that connected.
#[tokio::test]
async fn a_deny_that_connects_where_nothing_is_enforced_says_so() {
    let cluster = TestCluster::start().await;
    cluster
        .script
        .answer(|call| (!call.is_control()).then_some(Reply::Outcome(Outcome::Connected)));
    let config = config("unenforced");
    let result = run_shop(&cluster, &config).await;
    assert_eq!(result.enforcement, Some(Enforcement::NotEnforced));
    let failed = probes(&result)[1];
    assert!(
        failed.message.starts_with(
            "connected: policy not enforced: the network does not enforce NetworkPolicy"
        ),
        "{}",
        failed.message
    );
    assert_eq!(exit::of_run(&result), exit::EXPECTATION_FAILED);
    assert_eq!(left(&cluster, &config), Vec::<String>::new());
}

#[tokio::test]
async fn scenarios_with_disjoint_namespaces_run_together_and_one_sharing_a_namespace_waits() {
    let cluster = TestCluster::start().await;
    let config = config("waves");
    let recorder = Recorder::default();
    let yaml = [shop("one", "x"), shop("two", "y"), shop("three", "x")].join("---\n");
    let result = run(&cluster, &yaml, &config, &recorder).await;
    let names: Vec<&str> = result.scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["one", "two", "three"]);
    assert!(
        probes(&result)
            .iter()
            .all(|p| p.status == ProbeStatus::Pass),
        "{:?}",
        statuses(&result)
    );
    // `two` started before `one` finished; `three`, in `one`'s namespace, after both.
    assert!(recorder.at("started two") < recorder.at("finished one"));
    assert!(recorder.at("started three") > recorder.at("finished one"));
    assert!(recorder.at("started three") > recorder.at("finished two"));
    // `three` created namespace x anew after `one` deleted its objects: nothing is left.
    assert_eq!(left(&cluster, &config), Vec::<String>::new());
}

#[tokio::test]
async fn a_pod_that_never_becomes_ready_fails_its_scenario_and_everything_is_deleted() {
    let cluster = TestCluster::start().await;
    cluster.script.fate("bad/db", PodFate::NeverReady);
    let mut config = config("never");
    config.limits.pod_start = Duration::from_secs(1);
    let recorder = Recorder::default();
    let yaml = [shop("bad", "bad"), shop("good", "good")].join("---\n");
    let result = run(&cluster, &yaml, &config, &recorder).await;
    let bad = &result.scenarios[0];
    let setup_error = bad.setup_error.as_deref().unwrap_or_default();
    assert_eq!(
        setup_error,
        "pods not started within 1s: bad/db (Running, not Ready)"
    );
    for probe in &bad.probes {
        assert_eq!(probe.status, ProbeStatus::Error);
        assert_eq!(probe.message, format!("setup failed: {setup_error}"));
    }
    assert!(
        result.scenarios[1]
            .probes
            .iter()
            .all(|p| p.status == ProbeStatus::Pass),
        "the other scenario still runs: {:?}",
        statuses(&result)
    );
    assert_eq!(exit::of_run(&result), exit::COULD_NOT_JUDGE);
    assert_eq!(left(&cluster, &config), Vec::<String>::new());
    assert!(cluster.pod("bad", "db").is_none());
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_is_told_with_the_kubelets_reason_and_event() {
    let cluster = TestCluster::start().await;
    cluster.script.fate("shop/web", PodFate::ImagePullError);
    let config = config("pull");
    let result = run_shop(&cluster, &config).await;
    let error = setup_error(&result);
    assert!(
        error.starts_with(
            "pod shop/web cannot start: ErrImagePull: failed to pull image \"netverdict:test\": not found\n  hint: "
        ),
        "{error}"
    );
    assert!(
        error.contains(
            "\n  events:\n    Warning Failed: Failed to pull image \"netverdict:test\": not found"
        ),
        "{error}"
    );
    assert_eq!(left(&cluster, &config), Vec::<String>::new());
}

#[tokio::test]
async fn a_crashing_pod_fails_its_setup_with_its_exit_code() {
    let cluster = TestCluster::start().await;
    cluster.script.fate("shop/db", PodFate::Crashes);
    let config = config("crash");
    let result = run_shop(&cluster, &config).await;
    let error = setup_error(&result);
    assert_eq!(
        error,
        "pod shop/db cannot start: Error: container probe exited with code 1"
    );
    assert_eq!(left(&cluster, &config), Vec::<String>::new());
}

#[tokio::test]
async fn a_run_stopped_while_it_probes_reports_what_it_saw_and_deletes_everything() {
    let cluster = TestCluster::start().await;
    // web reaches db in the first round, so it is tried again; its second batch never ends,
    // and the stop comes as that round starts.
    cluster
        .script
        .answer(|call| match (call.pod.as_str(), call.round) {
            ("shop/web", 1) => Some(Reply::Outcome(Outcome::Connected)),
            ("shop/web", _) => Some(Reply::Hang),
            _ => None,
        });
    let mut config = config("stopped");
    config.probing.settle = Duration::from_secs(60);
    let recorder = Recorder::stopping_at("round 2");
    let result = run(&cluster, &shop("shop", "shop"), &config, &recorder).await;
    assert_eq!(
        result.error.message().as_deref(),
        Some("interrupted by SIGTERM: the probes not run are reported as skipped")
    );
    let probes = probes(&result);
    assert_eq!(probes[0].status, ProbeStatus::Pass, "{}", probes[0].message);
    assert!(
        probes[0]
            .message
            .ends_with("(interrupted before the confirming round)"),
        "{}",
        probes[0].message
    );
    assert_eq!(
        probes[1].status,
        ProbeStatus::Error,
        "{}",
        probes[1].message
    );
    assert!(
        probes[1].message.starts_with(
            "interrupted before its settle time was over; it had not matched yet: connected"
        ),
        "{}",
        probes[1].message
    );
    assert!(!recorder.events().contains(&"confirming".to_owned()));
    assert_eq!(exit::of_run(&result), exit::COULD_NOT_JUDGE);
    assert_eq!(left(&cluster, &config), Vec::<String>::new());
}

#[tokio::test]
async fn a_run_stopped_while_its_pods_start_skips_every_probe_and_deletes_everything() {
    let cluster = TestCluster::start().await;
    cluster.script.fate("shop/db", PodFate::NeverReady);
    let config = config("early");
    let recorder = Recorder::stopping_at("pod shop/web");
    let result = run(&cluster, &shop("shop", "shop"), &config, &recorder).await;
    assert!(
        probes(&result)
            .iter()
            .all(|p| p.status == ProbeStatus::Skipped && p.message == "interrupted"),
        "{:?}",
        statuses(&result)
    );
    assert!(recorder.at("cleaning up") > recorder.at("finished shop"));
    assert_eq!(left(&cluster, &config), Vec::<String>::new());
    assert!(cluster.pod("shop", "db").is_none());
}

#[tokio::test]
async fn keep_leaves_everything_the_run_created() {
    let cluster = TestCluster::start().await;
    let config = RunConfig {
        keep: true,
        wait_cleanup: false,
        ..config("kept")
    };
    let recorder = Recorder::default();
    let result = run(&cluster, &shop("shop", "shop"), &config, &recorder).await;
    assert_eq!(exit::of_run(&result), exit::OK);
    assert_eq!(
        left(&cluster, &config),
        [
            "namespace shop",
            "networkpolicy shop/db-from-api",
            "pod shop/api",
            "pod shop/db",
            "pod shop/web",
        ]
    );
    let events = recorder.events();
    assert!(
        events.contains(&"kept: netverdict cleanup --run-id kept".to_owned()),
        "{events:?}"
    );
    assert!(!events.contains(&"cleaning up".to_owned()), "{events:?}");
}

/// `auto` from the policies in the cluster: someone's default deny in the namespace, which
/// the scenario does not know. Offline, `auto` would expect allow.
#[tokio::test]
async fn expect_auto_is_computed_from_the_live_policies_and_names_their_owner() {
    let cluster = TestCluster::start().await;
    cluster.create(
        Resource::Namespaces,
        None,
        namespace("live", &Default::default()),
    );
    cluster.create(
        Resource::NetworkPolicies,
        Some("live"),
        json!({"metadata": {"name": "default-deny", "namespace": "live"},
               "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
    );
    let yaml = "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: live}
spec:
  namespaces: [{name: live}]
  pods:
    - {name: client, namespace: live, labels: {app: client}}
    - {name: server, namespace: live, labels: {app: server}, ports: [{port: 8080}]}
  probes:
    - {name: auto, from: live/client, to: live/server, port: 8080, expect: auto}
";
    let config = config("auto");
    let result = run(&cluster, yaml, &config, &Recorder::default()).await;
    let probe = probes(&result)[0];
    assert_eq!(
        (probe.expect.as_str(), probe.expect_source.as_str()),
        ("deny", "auto")
    );
    assert_eq!(probe.status, ProbeStatus::Pass, "{}", probe.message);
    let prediction = probe.prediction.as_ref().expect("a prediction");
    assert!(
        prediction.explanation.contains(
            "live/default-deny is not the scenario's: it belongs to someone else (not netverdict)"
        ),
        "{}",
        prediction.explanation
    );
    // The namespace was there before the run: it stays, with its policy.
    assert_eq!(left(&cluster, &config), Vec::<String>::new());
    let others = cluster.objects("!netverdict.io/run");
    for kept in ["namespace live", "networkpolicy live/default-deny"] {
        assert!(others.contains(&kept.to_owned()), "{others:?}");
    }
}

#[tokio::test]
async fn a_target_deleted_during_the_run_makes_its_probes_errors_not_failures() {
    let cluster = TestCluster::start().await;
    let store = cluster.store.clone();
    // Someone deletes the db pod as web's first batch arrives.
    cluster.script.answer(move |call| {
        if call.pod == "shop/web" && call.round == 1 {
            let _ = store.delete(Resource::Pods, Some("shop"), "db", None);
        }
        None
    });
    let config = config("deleted");
    let result = run_shop(&cluster, &config).await;
    for probe in probes(&result) {
        assert_eq!(probe.status, ProbeStatus::Error, "{}", probe.message);
        assert_eq!(
            probe.message,
            "pod shop/db was deleted by someone else during the run"
        );
    }
    assert_eq!(exit::of_run(&result), exit::COULD_NOT_JUDGE);
    assert_eq!(left(&cluster, &config), Vec::<String>::new());
}

#[tokio::test]
async fn a_deny_to_a_target_killed_during_the_run_is_inconclusive_with_its_death() {
    let cluster = TestCluster::start().await;
    let store = cluster.store.clone();
    // The db's container is killed as web's first batch arrives.
    cluster.script.answer(move |call| {
        if call.pod == "shop/web" && call.round == 1 {
            let _ = store.mutate(Resource::Pods, Some("shop"), "db", |pod| {
                kill(pod);
                Ok(())
            });
        }
        None
    });
    let config = config("killed");
    let result = run_shop(&cluster, &config).await;
    let death =
        "pod shop/db died during the run: phase Failed, container probe Error, exit code 137";
    let (allowed, denied) = (probes(&result)[0], probes(&result)[1]);
    // Whether the allowed probe reached db before it died or not, it cannot be judged.
    assert!(
        matches!(
            allowed.status,
            ProbeStatus::Error | ProbeStatus::Inconclusive
        ),
        "{}",
        allowed.message
    );
    assert_eq!(exit::of_run(&result), exit::COULD_NOT_JUDGE);
    assert_eq!(
        denied.status,
        ProbeStatus::Inconclusive,
        "{}",
        denied.message
    );
    for probe in [allowed, denied] {
        assert!(
            probe
                .message
                .ends_with(&format!("; but its target {death}")),
            "{}",
            probe.message
        );
    }
    let dead: Vec<String> = result.scenarios[0]
        .dead_pods
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(dead, [death]);
    assert_eq!(left(&cluster, &config), Vec::<String>::new());
}
