//! The shipped RBAC manifests against local clusters that enforce RBAC, in both modes: the
//! namespaced one (the namespaces exist; a Role in each, plus optional read-only access) and the
//! cluster one (netverdict creates the namespaces; one ClusterRole). Every single permission the
//! manifests grant is removed in turn: a run that needs it stops before creating anything
//! (exit 3) naming it, as `netverdict preflight` does; a run that can do without it passes with
//! a note; nothing is left behind in any case, and with every permission the run passes. A
//! permission no run needs, in either mode, is a finding (the manifest is too wide, or
//! `src/cluster/permissions.rs` misses a need). With `deploy/rbac/live.yaml` in a namespace of
//! deployed workloads, a scenario with mimics and live targets passes, and one missing rule is
//! named before anything is created. Needs root: skipped, saying so, as another user.

mod util;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use util::local::{LocalDown, local_up};
use util::rbac::{
    Denial, Manifest, SERVICE_ACCOUNT_USER, Single, denials, kubectl, service_account_kubeconfig,
};
use util::{Dir, TestCommand};

/// The library scenario the cleanup test runs, and its one namespace (created beforehand:
/// namespaced mode).
const SCENARIO: &str = "scenarios/default-deny-ingress.yaml";
const NAMESPACE: &str = "ddi";

/// The scenario of the sweep, and its namespaces.
const SWEEP: &str = "tests/data/permissions/sweep.yaml";
/// The cluster mode's: the same, and mimics and live targets of the workloads of `SHOP`.
const SWEEP_LIVE: &str = "tests/data/permissions/sweep-live.yaml";
/// The deployed workloads the cluster mode's scenario reaches, in `SHOP_NAMESPACE`.
const SHOP_WORKLOADS: &str = "tests/data/permissions/shop.yaml";
const SHOP_NAMESPACE: &str = "pswp-shop";
const SWEEP_NAMESPACES: [(&str, &str); 2] = [("pswp-front", "front"), ("pswp-back", "back")];

/// The label of everything netverdict creates.
const MANAGED: &str = "app.kubernetes.io/managed-by=netverdict";

/// Runs netverdict in the repository; what it prints holds no Rust `Debug`.
fn netverdict(args: &[&str]) -> util::Output {
    let out = TestCommand::in_repo().args(args).run();
    util::assert_no_debug(&out.stdout);
    util::assert_no_debug(&out.stderr);
    out
}

/// What is left in the namespace: pods, Services and NetworkPolicies.
fn left(admin: &str) -> String {
    kubectl(
        admin,
        &[
            "-n",
            NAMESPACE,
            "get",
            "pods,services,networkpolicies",
            "-o",
            "name",
        ],
        None,
    )
}

/// A local cluster whose ServiceAccount has one mode's manifest.
struct Mode {
    /// The local cluster's instance name.
    name: String,
    admin: String,
    /// The ServiceAccount's.
    kubeconfig: String,
    manifest: Manifest,
    /// The scenario file it runs.
    scenario: &'static str,
    /// Cluster mode: netverdict creates the namespaces, and `netverdict cleanup` works with the
    /// ServiceAccount (it lists every namespace).
    cluster: bool,
    _dir: Dir,
    _down: LocalDown,
}

impl Mode {
    /// Namespaced mode, on a default local cluster: the namespaces exist (with the scenario's
    /// labels), the manifest's Role is copied into each.
    fn namespaced() -> Mode {
        let (down, admin) = local_up("pswn", &[]);
        for (namespace, team) in SWEEP_NAMESPACES {
            kubectl(&admin, &["create", "namespace", namespace], None);
            let label = format!("team={team}");
            kubectl(&admin, &["label", "namespace", namespace, &label], None);
        }
        let namespaces = SWEEP_NAMESPACES.map(|(namespace, _)| namespace);
        Mode::with(down, admin, Manifest::namespaced(&namespaces), false)
    }

    /// Cluster mode, on a local cluster of the Kubernetes 1.20 API, which has no EndpointSlices:
    /// between the two modes, each of the manifests' two reads of endpoints is needed once.
    /// Its scenario also copies and probes deployed workloads of every kind.
    fn cluster() -> Mode {
        let (down, admin) = local_up("pswc", &["--emulate", "api-1.20"]);
        let workloads = std::fs::read_to_string(util::repo().join(SHOP_WORKLOADS)).unwrap();
        kubectl(&admin, &["apply", "-f", "-"], Some(&workloads));
        for workload in ["deployment/shop", "statefulset/db", "daemonset/agent"] {
            let args = ["rollout", "status", "-n", SHOP_NAMESPACE, workload];
            kubectl(&admin, &[&args[..], &["--timeout=180s"]].concat(), None);
        }
        Mode::with(down, admin, Manifest::load("rbac/cluster.yaml"), true)
    }

    fn with(down: LocalDown, admin: String, manifest: Manifest, cluster: bool) -> Mode {
        manifest.apply(&admin);
        let dir = Dir::new("permissions");
        let kubeconfig = service_account_kubeconfig(&admin, &dir);
        Mode {
            name: down.0.clone(),
            admin,
            kubeconfig,
            manifest,
            scenario: if cluster { SWEEP_LIVE } else { SWEEP },
            cluster,
            _dir: dir,
            _down: down,
        }
    }

    fn label(&self) -> &'static str {
        if self.cluster {
            "cluster"
        } else {
            "namespaced"
        }
    }

    /// `netverdict run` of the sweep's scenario as the ServiceAccount.
    fn run(&self) -> util::Output {
        netverdict(&self.run_args())
    }

    fn run_args(&self) -> Vec<&str> {
        let mut args = vec!["run", self.scenario, "--kubeconfig", &self.kubeconfig];
        // The namespaces it created are gone when it ends.
        if self.cluster {
            args.push("--wait-cleanup");
        }
        args
    }

    /// `netverdict preflight -o json` of the sweep's scenario as the ServiceAccount: its exit
    /// code and permission checks.
    fn preflight(&self) -> (i32, Vec<Checked>) {
        let out = netverdict(&[
            "preflight",
            self.scenario,
            "--kubeconfig",
            &self.kubeconfig,
            "-o",
            "json",
            "--no-canary",
        ]);
        let document: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", out.stdout, out.stderr));
        let checked = document["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|check| check["check"] == "permission")
            .map(Checked::of)
            .collect();
        (out.code, checked)
    }

    /// `netverdict preflight` of the sweep's scenario as the ServiceAccount: its text.
    fn preflight_text(&self) -> String {
        let args = ["preflight", self.scenario, "--kubeconfig", &self.kubeconfig];
        let out = netverdict(&[&args[..], &["--no-canary"]].concat());
        format!("{}{}", out.stdout, out.stderr)
    }

    /// `netverdict cleanup --run-id` of a run that left nothing, as the ServiceAccount.
    fn cleanup(&self) -> util::Output {
        netverdict(&[
            "cleanup",
            "--run-id",
            "permission-sweep",
            "--kubeconfig",
            &self.kubeconfig,
        ])
    }

    /// Everything of a run left in the cluster, one object per line: nothing netverdict
    /// labels (its mimics and the ConfigMaps that own them included), nothing at all in the
    /// scenario's namespaces, which exist only in namespaced mode.
    fn left(&self) -> String {
        let get = |args: &[&str]| kubectl(&self.admin, args, None);
        let objects = "pods,services,networkpolicies";
        let labelled = "pods,services,networkpolicies,configmaps";
        let mut left = get(&["get", labelled, "-A", "-l", MANAGED, "-o", "name"]);
        left.push_str(&get(&["get", "namespaces", "-l", MANAGED, "-o", "name"]));
        let namespaces = get(&["get", "namespaces", "-o", "name"]);
        for (namespace, _) in SWEEP_NAMESPACES {
            let exists = namespaces.contains(&format!("namespace/{namespace}\n"));
            if exists == self.cluster {
                left.push_str(&format!("namespace {namespace}: exists {exists}\n"));
            }
            left.push_str(&get(&["-n", namespace, "get", objects, "-o", "name"]));
        }
        left
    }
}

/// A permission check of `netverdict preflight -o json`: one need of the run (as
/// `src/cluster/permissions.rs` lists it) and whether it is granted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Checked {
    verb: String,
    group: String,
    resource: String,
    namespace: Option<String>,
    required: bool,
    /// `ok`, `missing` or `degraded`.
    status: String,
}

impl Checked {
    fn of(check: &Value) -> Checked {
        let text = |key: &str| check[key].as_str().unwrap().to_owned();
        Checked {
            verb: text("verb"),
            group: text("group"),
            resource: text("resource"),
            namespace: check["namespace"].as_str().map(str::to_owned),
            required: check["required"].as_bool().unwrap(),
            status: text("status"),
        }
    }

    /// Whether `single` grants it.
    fn granted_by(&self, single: &Single) -> bool {
        (&self.group, &self.resource, &self.verb) == (&single.group, &single.resource, &single.verb)
            && (single.namespace.is_none() || single.namespace == self.namespace)
    }

    /// As netverdict names it: `create pods/exec in namespace ddi`, `delete
    /// networkpolicies.networking.k8s.io in namespace ddi`, `get namespaces (cluster-scoped)`.
    fn describe(&self) -> String {
        let resource = if self.group.is_empty() {
            self.resource.clone()
        } else {
            match self.resource.split_once('/') {
                Some((name, sub)) => format!("{name}.{}/{sub}", self.group),
                None => format!("{}.{}", self.resource, self.group),
            }
        };
        match &self.namespace {
            Some(namespace) => format!("{} {resource} in namespace {namespace}", self.verb),
            None => format!("{} {resource} (cluster-scoped)", self.verb),
        }
    }

    /// The same need with another status.
    fn with(&self, status: &str) -> Checked {
        Checked {
            status: status.to_owned(),
            ..self.clone()
        }
    }
}

/// With every permission of the manifest: preflight finds each need granted, the run passes, no
/// request of it is denied, nothing is left. Returns the run's needs.
fn everything_granted(mode: &Mode) -> Vec<Checked> {
    let (code, needs) = mode.preflight();
    assert_eq!(code, 0, "{needs:#?}");
    assert!(needs.iter().all(|n| n.status == "ok"), "{needs:#?}");
    let (_, from) = denials(&mode.name, 0);
    let run = mode.run();
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("note: not allowed"), "{}", run.stderr);
    assert_eq!(mode.left(), "");
    let (denied, from) = denials(&mode.name, from);
    assert_eq!(ours(&denied), Vec::<&Denial>::new());
    // Pods that cannot start: the run reads their events and logs, granted too.
    let image = ["--probe-image", "registry.invalid/netverdict:missing"];
    let failed = netverdict(&[&mode.run_args()[..], &image].concat());
    assert_eq!(failed.code, 3, "{}{}", failed.stdout, failed.stderr);
    assert!(failed.stdout.contains("ErrImagePull"), "{}", failed.stdout);
    assert_eq!(mode.left(), "");
    let (denied, _) = denials(&mode.name, from);
    assert_eq!(ours(&denied), Vec::<&Denial>::new());
    if mode.cluster {
        let cleanup = mode.cleanup();
        assert_eq!(cleanup.code, 0, "{}{}", cleanup.stdout, cleanup.stderr);
    } else {
        let text = mode.preflight_text();
        assert!(
            text.starts_with("ok       api: the API server https://"),
            "{text}"
        );
        let exec = "ok       permission: create pods/exec in namespace pswp-front";
        assert!(text.contains(exec), "{text}");
        let canary = "skipped  networkpolicy-enforcement: --no-canary: not checked";
        assert!(text.contains(canary), "{text}");
    }
    needs
}

/// The denials of the ServiceAccount's requests.
fn ours(denied: &[Denial]) -> Vec<&Denial> {
    denied
        .iter()
        .filter(|d| d.user == SERVICE_ACCOUNT_USER)
        .collect()
}

/// The permissions of the manifest to remove in turn: every one, each permission of the Role
/// copied into every namespace removed from one of the copies only (in turn).
fn sweep_singles(mode: &Mode) -> Vec<Single> {
    let copies = SWEEP_NAMESPACES.len();
    mode.manifest
        .singles()
        .into_iter()
        .filter(|single| {
            let copy = SWEEP_NAMESPACES
                .iter()
                .position(|(namespace, _)| single.namespace.as_deref() == Some(*namespace));
            copy.is_none_or(|copy| single.position % copies == copy)
        })
        .collect()
}

/// How a run did without one permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Without {
    /// Refused before creating anything, naming it.
    Refused,
    /// Passed with a note.
    Degraded,
    /// Passed: no run needs it on this server, but `netverdict cleanup` does.
    CleanupNeeds,
    /// Passed: nothing needs it here.
    Unneeded,
}

/// Removes every single permission of `mode`'s manifest in turn; how the run did without each.
fn sweep(mode: &Mode) -> Vec<(Single, Without)> {
    let needs = everything_granted(mode);
    let mut outcomes = Vec::new();
    let mut denied_requests = 0;
    for single in sweep_singles(mode) {
        mode.manifest.without_single(&single).apply(&mode.admin);
        let (_, from) = denials(&mode.name, 0);
        let affected: Vec<&Checked> = needs.iter().filter(|n| n.granted_by(&single)).collect();
        let without = without(mode, &single, &affected);
        let (denied, _) = denials(&mode.name, from);
        let denied = ours(&denied);
        // The run asked only for what it lacked, and only where it can do without it.
        for denial in &denied {
            let (group, resource, verb) = single.permission();
            let scope = single.namespace.is_none() || single.namespace == denial.namespace;
            assert!(
                (&denial.group, &denial.resource, &denial.verb) == (&group, &resource, &verb)
                    && scope,
                "{} mode, without {}: {denial:?} denied",
                mode.label(),
                single.describe()
            );
        }
        if without == Without::Unneeded {
            assert_eq!(denied, Vec::<&Denial>::new(), "{}", single.describe());
        }
        denied_requests += denied.len();
        let left = mode.left();
        assert_eq!(
            left,
            "",
            "{} mode, without {}",
            mode.label(),
            single.describe()
        );
        outcomes.push((single, without));
    }
    // The log of denials is read: it shows the reads the run does without.
    assert!(
        denied_requests > 0,
        "{} mode: no denial logged",
        mode.label()
    );
    mode.manifest.apply(&mode.admin);
    outcomes
}

/// Runs without `single`, which grants the `affected` needs; checks the run and preflight did
/// what the needs say and returns how.
fn without(mode: &Mode, single: &Single, affected: &[&Checked]) -> Without {
    let context = format!("{} mode, without {}", mode.label(), single.describe());
    let expected: BTreeSet<Checked> = affected
        .iter()
        .map(|n| n.with(if n.required { "missing" } else { "degraded" }))
        .collect();
    let (code, checked) = mode.preflight();
    let lacking: BTreeSet<Checked> = checked.into_iter().filter(|c| c.status != "ok").collect();
    assert_eq!(lacking, expected, "{context}: preflight");
    let refused = affected.iter().any(|n| n.required);
    assert_eq!(code, if refused { 3 } else { 0 }, "{context}: preflight");
    let run = mode.run();
    let output = format!("{context}:\n{}{}", run.stdout, run.stderr);
    if refused {
        assert_eq!(run.code, 3, "{output}");
        assert!(run.stdout.contains("nothing was created"), "{output}");
        let named: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("missing: "))
            .collect();
        let required: Vec<&&Checked> = affected.iter().filter(|n| n.required).collect();
        assert_eq!(named.len(), required.len(), "{output}");
        for need in required {
            // Where the rule goes: no Role can be bound in a namespace the run creates; the
            // deployed workloads' exists.
            let place = match &need.namespace {
                Some(namespace) if !mode.cluster || namespace == SHOP_NAMESPACE => {
                    format!("to a Role bound in {namespace}")
                }
                _ => "to a ClusterRole bound with a ClusterRoleBinding".to_owned(),
            };
            let line = format!("missing: {} (", need.describe());
            let found = named
                .iter()
                .any(|l| l.contains(&line) && l.contains(&place));
            assert!(found, "{place}: {output}");
        }
        return Without::Refused;
    }
    assert_eq!(run.code, 0, "{output}");
    if !mode.cluster && single.resource == "namespaces" {
        // Reading the namespaces' Pod Security level is forbidden too: skipped, not failed.
        let text = mode.preflight_text();
        let degraded = "degraded permission: get namespaces (cluster-scoped): not allowed";
        assert!(text.contains(degraded), "{text}");
        let skipped = "skipped  pod-security: cannot read the labels of namespace pswp-back: 403";
        assert!(text.contains(skipped), "{text}");
    }
    let notes = run.stderr.matches("note: not allowed to ").count();
    assert_eq!(notes, affected.len(), "{output}");
    for need in affected {
        let note = format!("note: not allowed to {}: ", need.describe());
        assert!(run.stderr.contains(&note), "{output}");
    }
    if !affected.is_empty() {
        return Without::Degraded;
    }
    if !mode.cluster {
        return Without::Unneeded;
    }
    let cleanup = mode.cleanup();
    if cleanup.code == 0 {
        return Without::Unneeded;
    }
    let named = format!("(missing permission: {} ", single.verb);
    assert!(cleanup.stderr.contains(&named), "{context}: {cleanup:?}");
    Without::CleanupNeeds
}

#[test]
fn each_permission_of_the_manifests_is_needed_and_a_missing_one_stops_the_run_first() {
    if !util::running_as_root() {
        return;
    }
    // One local cluster per mode, the two modes at once.
    let (namespaced, cluster) = std::thread::scope(|scope| {
        let namespaced = scope.spawn(|| sweep(&Mode::namespaced()));
        let cluster = scope.spawn(|| sweep(&Mode::cluster()));
        (namespaced.join().unwrap(), cluster.join().unwrap())
    });
    for (mode, outcomes) in [("namespaced", &namespaced), ("cluster", &cluster)] {
        for (single, without) in outcomes {
            eprintln!("{mode} mode, without {}: {without:?}", single.describe());
        }
    }
    // Every permission is needed in one mode at least (both grant the endpoints reads, which a
    // server needs one of).
    let needed: BTreeSet<(String, String, String)> = namespaced
        .iter()
        .chain(&cluster)
        .filter(|(_, without)| *without != Without::Unneeded)
        .map(|(single, _)| single.permission())
        .collect();
    let unneeded: Vec<String> = namespaced
        .iter()
        .chain(&cluster)
        .filter(|(single, _)| !needed.contains(&single.permission()))
        .map(|(single, _)| single.describe())
        .collect();
    assert_eq!(unneeded, Vec::<String>::new(), "granted, needed by no run");
    // Each mode saw every way of doing without a permission its manifest has.
    let kinds = |outcomes: &[(Single, Without)]| -> BTreeSet<String> {
        outcomes.iter().map(|(_, w)| format!("{w:?}")).collect()
    };
    assert_eq!(
        kinds(&namespaced),
        BTreeSet::from(["Degraded", "Refused", "Unneeded"].map(str::to_owned))
    );
    assert_eq!(
        kinds(&cluster),
        BTreeSet::from(["CleanupNeeds", "Degraded", "Refused", "Unneeded"].map(str::to_owned))
    );
}

/// Waits until `child` exits, up to `limit` (a hang check, not a timing assertion).
fn exited(child: &mut util::KillOnDrop, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "netverdict run still running after {limit:?}: the cleanup hangs"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until both pods of the scenario exist.
fn wait_for_pods(admin: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pods = kubectl(admin, &["-n", NAMESPACE, "get", "pods", "-o", "name"], None);
        if pods.contains("pod/client") && pods.contains("pod/server") {
            return;
        }
        assert!(Instant::now() < deadline, "the run's pods never appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The JSON and JUnit reports hold every probe with its observation; returns the JSON.
fn every_probe_observed(json: &std::path::Path, junit: &std::path::Path) -> Value {
    let document: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let probes = document["scenarios"][0]["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 3, "{document}");
    for probe in probes {
        assert_eq!(probe["status"], "pass", "{probe}");
        assert!(probe["outcome"]["kind"].is_string(), "{probe}");
    }
    let junit = std::fs::read_to_string(junit).unwrap();
    assert!(
        junit.contains("name=\"run cleanup\"") && junit.contains("type=\"cleanup\""),
        "{junit}"
    );
    for probe in probes {
        let name = probe["name"].as_str().unwrap();
        assert!(junit.contains(&format!("name=\"{name}\"")), "{junit}");
    }

    document
}

/// The JSON, stdout and stderr name each object left, the missing permissions and `expected`,
/// the command that removes them.
fn what_is_left_is_named(document: &Value, stdout: &str, stderr: &str, expected: &str) {
    let cleanup = &document["cleanup"];
    let remaining: Vec<String> = cleanup["left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{} {}/{}",
                o["kind"].as_str().unwrap(),
                o["namespace"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        remaining,
        [
            "NetworkPolicy ddi/default-deny-ingress",
            "pod ddi/client",
            "pod ddi/server"
        ],
        "{cleanup}"
    );
    let pods = "delete pods in namespace ddi";
    let policies = "delete networkpolicies.networking.k8s.io in namespace ddi";
    assert_eq!(
        cleanup["missingPermissions"],
        serde_json::json!([policies, pods])
    );
    assert_eq!(cleanup["command"], expected);
    for object in &remaining {
        assert!(
            stdout.contains(&format!(
                "  {object} left: deleting it failed: 403 Forbidden"
            )),
            "{stdout}"
        );
        assert!(
            stderr.contains(&format!("cleanup: {object} left: deleting it failed: 403")),
            "{stderr}"
        );
    }
    for missing in [pods, policies] {
        assert!(
            stdout.contains(&format!("(missing permission: {missing})")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains(&format!("remove what is left with `{expected}`")),
        "{stdout}"
    );
}

#[test]
fn a_cleanup_denied_halfway_still_writes_the_reports_lists_what_is_left_and_ends() {
    if !util::running_as_root() {
        return;
    }
    let name = format!("pcl{}", std::process::id() % 100_000);
    // Policies take effect 8s after they are applied: the denies are retried that long, time
    // enough to take the delete rights away while the run probes.
    let up = netverdict(&["local", "up", "--name", &name, "--policy-delay", "8s"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let _down = LocalDown(name.clone());
    let admin = format!("/run/netverdict/{name}/kubeconfig");
    let dir = Dir::new("permissions-cleanup");
    kubectl(&admin, &["create", "namespace", NAMESPACE], None);
    let manifest = Manifest::namespaced(&[NAMESPACE]);
    manifest.apply(&admin);
    let kubeconfig = service_account_kubeconfig(&admin, &dir);
    let (json, junit) = (dir.path().join("run.json"), dir.path().join("run.xml"));
    let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let run_id = format!("denied{}", std::process::id() % 100_000);
    let mut command = TestCommand::in_repo()
        .args([
            "run",
            SCENARIO,
            "--kubeconfig",
            &kubeconfig,
            "--run-id",
            &run_id,
        ])
        .args(["--settle", "30s", "--json"])
        .args([&json])
        .args(["--junit"])
        .args([&junit])
        .into_command();
    command
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let started = Instant::now();
    let mut child = util::KillOnDrop(command.spawn().unwrap());

    wait_for_pods(&admin);
    let revoked = manifest.without(|single| {
        single.verb == "delete" && ["pods", "networkpolicies"].contains(&single.resource.as_str())
    });
    revoked.apply(&admin);
    let denied = Instant::now();
    let status = exited(&mut child, Duration::from_secs(120));
    eprintln!(
        "the run ended {:?} after its start, {:?} after delete was revoked",
        started.elapsed(),
        denied.elapsed()
    );
    let stdout = std::fs::read_to_string(&stdout).unwrap();
    let stderr = std::fs::read_to_string(&stderr).unwrap();
    assert_eq!(status.code(), Some(3), "{stdout}{stderr}");

    let document = every_probe_observed(&json, &junit);

    // The run created no namespace: the command names its own, so that an identity with a Role
    // in each can run it.
    let expected = format!(
        "netverdict cleanup --run-id {run_id} --namespace {NAMESPACE} --kubeconfig {kubeconfig}"
    );
    what_is_left_is_named(&document, &stdout, &stderr, &expected);
    assert_ne!(left(&admin), "");

    // The printed command, run with the admin's kubeconfig, removes everything.
    let printed = expected.replace(&kubeconfig, &admin);
    let words: Vec<&str> = printed.split_whitespace().skip(1).collect();
    let cleaned = netverdict(&words);
    assert_eq!(cleaned.code, 0, "{}{}", cleaned.stdout, cleaned.stderr);
    assert_eq!(left(&admin), "");
}

/// `netverdict cleanup` as the namespaced ServiceAccount of `kubeconfig`, with `extra`.
fn cleanup_as(kubeconfig: &str, run_id: &str, extra: &[&str]) -> util::Output {
    let args = ["cleanup", "--run-id", run_id, "--kubeconfig", kubeconfig];
    netverdict(&[&args[..], extra].concat())
}

#[test]
fn a_namespaced_identity_cleans_up_a_kept_run_in_the_namespaces_it_names() {
    if !util::running_as_root() {
        return;
    }
    let (_down, admin) = local_up("pnsc", &[]);
    let dir = Dir::new("permissions-namespaced-cleanup");
    kubectl(&admin, &["create", "namespace", NAMESPACE], None);
    Manifest::namespaced(&[NAMESPACE]).apply(&admin);
    let kubeconfig = service_account_kubeconfig(&admin, &dir);
    let run_id = format!("kept{}", std::process::id() % 100_000);
    let run = netverdict(&[
        "run",
        SCENARIO,
        "--kubeconfig",
        &kubeconfig,
        "--run-id",
        &run_id,
        "--keep",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // The command it prints names the namespace: the identity may not look across the cluster.
    let printed = format!(
        "netverdict cleanup --run-id {run_id} --namespace {NAMESPACE} --kubeconfig {kubeconfig}"
    );
    assert!(run.stderr.contains(&printed), "{}", run.stderr);
    let kept = left(&admin);
    assert!(
        kept.contains("pod/client") && kept.contains("networkpolicy"),
        "{kept}"
    );
    // Another run's object in the same namespace.
    let other = "netverdict.io/run=another,app.kubernetes.io/managed-by=netverdict";
    kubectl(
        &admin,
        &[
            "-n",
            NAMESPACE,
            "create",
            "service",
            "clusterip",
            "other",
            "--tcp=80:80",
        ],
        None,
    );
    kubectl(
        &admin,
        &[
            "-n",
            NAMESPACE,
            "label",
            "service",
            "other",
            "netverdict.io/run=another",
            "app.kubernetes.io/managed-by=netverdict",
        ],
        None,
    );

    // Across the cluster: refused, in one line naming the permission and the way out.
    let refused = cleanup_as(&kubeconfig, &run_id, &[]);
    assert_eq!(refused.code, 3, "{}{}", refused.stdout, refused.stderr);
    let lines: Vec<&str> = refused.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", refused.stderr);
    for part in [
        "error: could not judge: cannot look for the objects across the cluster (missing permission: list networkpolicies.networking.k8s.io in all namespaces, list pods in all namespaces, list services in all namespaces, list configmaps in all namespaces, list namespaces (cluster-scoped))",
        "--namespace NS",
    ] {
        assert!(lines[0].contains(part), "{}", refused.stderr);
    }
    assert_eq!(left(&admin).len(), kept.len() + "service/other\n".len());

    // In the named namespace: exactly the run's objects go, with namespaced verbs only.
    let printed: Vec<&str> = printed.split_whitespace().skip(1).collect();
    let cleaned = netverdict(&printed);
    assert_eq!(cleaned.code, 0, "{}{}", cleaned.stdout, cleaned.stderr);
    let deleted: Vec<&str> = cleaned.stdout.lines().collect();
    assert_eq!(
        deleted,
        [
            format!("deleted NetworkPolicy {NAMESPACE}/default-deny-ingress"),
            format!("deleted pod {NAMESPACE}/client"),
            format!("deleted pod {NAMESPACE}/server"),
        ],
        "{}",
        cleaned.stdout
    );
    let remaining = kubectl(
        &admin,
        &[
            "-n",
            NAMESPACE,
            "get",
            "pods,services,networkpolicies",
            "-l",
            other,
            "-o",
            "name",
        ],
        None,
    );
    assert_eq!(remaining, "service/other\n");
    let namespaces = kubectl(&admin, &["get", "namespace", NAMESPACE, "-o", "name"], None);
    assert_eq!(namespaces, format!("namespace/{NAMESPACE}\n"));
    let again = cleanup_as(&kubeconfig, &run_id, &["-n", NAMESPACE]);
    assert_eq!(again.stdout, "nothing to delete\n", "{}", again.stderr);
    kubectl(
        &admin,
        &["-n", NAMESPACE, "delete", "service", "other"],
        None,
    );
    assert_eq!(left(&admin), "");
}

/// What a run reaches in a namespace it does not create: a Deployment, a Pod and a Service.
const SHOP: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: example.com/web:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-1, namespace: shop, labels: {app: api}}
spec:
  containers:
    - {name: api, image: example.com/api:1, command: [netverdict, serve, --tcp, "8080"], ports: [{containerPort: 8080, name: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{port: 80, targetPort: http}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]
"#;

/// A scenario of namespace `ddi` probing what is deployed in `shop`, from a mimic of its
/// Deployment and from a probe pod.
const LIVE_SCENARIO: &str = "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: reach-shop}
spec:
  namespaces: [{name: ddi}]
  pods: [{name: outsider, namespace: ddi}]
  probes:
    - {from: {like: {workload: {namespace: shop, kind: Deployment, name: web}}}, to: {workload: {namespace: shop, kind: Pod, name: api-1}}, port: http, expect: allow}
    - {from: ddi/outsider, to: {service: api, namespace: shop}, port: 80, expect: deny}
";

#[test]
fn the_live_manifest_is_enough_for_mimics_and_live_targets_and_names_what_is_missing() {
    if !util::running_as_root() {
        return;
    }
    let (_down, admin) = local_up("perl", &[]);
    let dir = Dir::new("permissions-live");
    kubectl(&admin, &["create", "namespace", NAMESPACE], None);
    Manifest::namespaced(&[NAMESPACE]).apply(&admin);
    kubectl(&admin, &["apply", "-f", "-"], Some(SHOP));
    let live = std::fs::read_to_string(util::repo().join("deploy/rbac/live.yaml")).unwrap();
    kubectl(&admin, &["apply", "-f", "-"], Some(&live));
    kubectl(
        &admin,
        &[
            "wait",
            "-n",
            "shop",
            "--for=condition=Ready",
            "pod/api-1",
            "--timeout=60s",
        ],
        None,
    );
    let kubeconfig = service_account_kubeconfig(&admin, &dir);
    let scenario = dir.create("live.yaml", LIVE_SCENARIO).display().to_string();
    let run = netverdict(&["run", &scenario, "--kubeconfig", &kubeconfig]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let left_in_shop = kubectl(
        &admin,
        &[
            "-n",
            "shop",
            "get",
            "pods,configmaps",
            "-l",
            "netverdict.io/run",
            "-o",
            "name",
        ],
        None,
    );
    assert_eq!(left_in_shop, "");

    // Without creating the mimics' owner, nothing is created and the rule is named.
    let without = live.replacen("verbs: [create, list, delete]", "verbs: [list, delete]", 1);
    assert_ne!(without, live);
    kubectl(&admin, &["apply", "-f", "-"], Some(&without));
    let run = netverdict(&["run", &scenario, "--kubeconfig", &kubeconfig]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("missing: create configmaps in namespace shop (create the ConfigMap that owns the run's mimics)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("nothing was created"), "{}", run.stdout);
    assert_eq!(left(&admin), "");
}

/// `--results-configmap` as the namespaced ServiceAccount: with `deploy/rbac/results.yaml` the
/// run keeps its reports in a ConfigMap of the series; without `create configmaps` there, it
/// stops before creating anything and names the rule.
#[test]
fn the_results_manifest_is_what_results_configmaps_need_and_names_what_is_missing() {
    if !util::running_as_root() {
        return;
    }
    let (_down, admin) = local_up("pres", &[]);
    let dir = Dir::new("permissions-results");
    kubectl(&admin, &["create", "namespace", NAMESPACE], None);
    Manifest::namespaced(&[NAMESPACE]).apply(&admin);
    let results = std::fs::read_to_string(util::repo().join("deploy/rbac/results.yaml")).unwrap();
    kubectl(&admin, &["apply", "-f", "-"], Some(&results));
    let kubeconfig = service_account_kubeconfig(&admin, &dir);
    let args = [
        "run",
        SCENARIO,
        "--kubeconfig",
        &kubeconfig,
        "--results-configmap",
        "perms",
        "--results-namespace",
        "netverdict",
    ];
    let run = netverdict(&args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let series = [
        "-n",
        "netverdict",
        "get",
        "configmaps",
        "-l",
        "netverdict.io/results=perms",
    ];
    let stored = kubectl(&admin, &[&series[..], &["-o", "name"]].concat(), None);
    assert_eq!(stored.lines().count(), 1, "{stored}");

    let without = results.replacen("verbs: [create, list, delete]", "verbs: [list, delete]", 1);
    assert_ne!(without, results);
    kubectl(&admin, &["apply", "-f", "-"], Some(&without));
    let refused = netverdict(&args);
    assert_eq!(refused.code, 3, "{}{}", refused.stdout, refused.stderr);
    let missing = "missing: create configmaps in namespace netverdict (store the run's reports in a ConfigMap (--results-configmap))";
    assert!(refused.stdout.contains(missing), "{}", refused.stdout);
    assert!(
        refused.stdout.contains("nothing was created"),
        "{}",
        refused.stdout
    );
    assert_eq!(left(&admin), "");
    let still = kubectl(&admin, &[&series[..], &["-o", "name"]].concat(), None);
    assert_eq!(still, stored);
}
