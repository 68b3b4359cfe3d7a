//! The shipped RBAC manifests against a local cluster that enforces RBAC: a ServiceAccount with
//! exactly `deploy/rbac/namespaced.yaml` runs a library scenario; with one permission removed,
//! `netverdict run` stops before creating anything and names it, and `netverdict preflight`
//! says the same. Needs root: skipped, saying so, as another user.

mod util;

use std::time::{Duration, Instant};

use serde_json::Value;
use util::local::LocalDown;
use util::{Dir, TestCommand};

/// The library scenario run here, and its one namespace (created beforehand: namespaced mode).
const SCENARIO: &str = "scenarios/default-deny-ingress.yaml";
const NAMESPACE: &str = "ddi";

/// Runs kubectl against `kubeconfig` with `stdin`, asserting it succeeds; returns its stdout.
fn kubectl(kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = util::kubectl::command()
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The namespaced manifest for [`NAMESPACE`], without `verb` on `resource` when given.
fn manifest(without: Option<(&str, &str)>) -> String {
    manifest_without(without.as_slice())
}

/// The namespaced manifest for [`NAMESPACE`], without each `(resource, verb)` of `without`.
fn manifest_without(without: &[(&str, &str)]) -> String {
    let text = std::fs::read_to_string(util::repo().join("deploy/rbac/namespaced.yaml")).unwrap();
    let text = text.replace("netverdict-probes", NAMESPACE);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (resource, verb) in without {
        let at = lines
            .iter()
            .position(|l| l.trim() == format!("resources: [{resource}]"))
            .expect("the manifest has the resource");
        let verbs = &mut lines[at + 1];
        let (head, list) = verbs.split_once('[').unwrap();
        let kept: Vec<&str> = list
            .trim_end_matches(']')
            .split(',')
            .map(str::trim)
            .filter(|v| v != verb)
            .collect();
        assert!(list.contains(verb), "{resource} grants no {verb}");
        *verbs = format!("{head}[{}]", kept.join(", "));
    }
    lines.join("\n")
}

/// A kubeconfig authenticating with a token of the ServiceAccount, to the admin's server and CA.
fn service_account_kubeconfig(admin: &str, dir: &Dir) -> String {
    let token = kubectl(
        admin,
        &["-n", "netverdict", "create", "token", "netverdict"],
        None,
    );
    let field = |path: &str| {
        kubectl(
            admin,
            &[
                "config",
                "view",
                "--raw",
                "-o",
                &format!("jsonpath={{.clusters[0].cluster.{path}}}"),
            ],
            None,
        )
    };
    let (server, ca) = (field("server"), field("certificate-authority-data"));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{server}\", certificate-authority-data: \"{ca}\"}}}}]\nusers: [{{name: u, user: {{token: \"{}\"}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n",
        token.trim()
    );
    dir.create("sa.kubeconfig", &text).display().to_string()
}

fn netverdict(args: &[&str]) -> util::Output {
    TestCommand::in_repo().args(args).run()
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

#[test]
fn the_namespaced_manifest_is_exactly_enough_and_a_missing_permission_stops_the_run_first() {
    if !util::running_as_root() {
        return;
    }
    let name = format!("perm{}", std::process::id() % 100_000);
    let up = netverdict(&["local", "up", "--name", &name]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let _down = LocalDown(name.clone());
    let admin = format!("/run/netverdict/{name}/kubeconfig");
    let dir = Dir::new("permissions");
    kubectl(&admin, &["create", "namespace", NAMESPACE], None);
    kubectl(&admin, &["apply", "-f", "-"], Some(&manifest(None)));
    let kubeconfig = service_account_kubeconfig(&admin, &dir);

    // The identity may not create namespaces: no canary.
    let preflight = netverdict(&[
        "preflight",
        SCENARIO,
        "--kubeconfig",
        &kubeconfig,
        "--no-canary",
    ]);
    assert_eq!(
        preflight.code, 0,
        "{}{}",
        preflight.stdout, preflight.stderr
    );
    assert!(
        preflight
            .stdout
            .starts_with("ok       api: the API server https://"),
        "{}",
        preflight.stdout
    );
    assert!(
        preflight
            .stdout
            .contains("ok       permission: create pods/exec in namespace ddi"),
        "{}",
        preflight.stdout
    );
    assert!(
        preflight
            .stdout
            .contains("skipped  networkpolicy-enforcement: --no-canary: not checked"),
        "{}",
        preflight.stdout
    );
    let run = netverdict(&["run", SCENARIO, "--kubeconfig", &kubeconfig]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(left(&admin), "");

    for (resource, verb, named) in [
        ("pods/exec", "create", "create pods/exec in namespace ddi"),
        (
            "networkpolicies",
            "create",
            "create networkpolicies.networking.k8s.io in namespace ddi",
        ),
        ("pods", "delete", "delete pods in namespace ddi"),
    ] {
        kubectl(
            &admin,
            &["apply", "-f", "-"],
            Some(&manifest(Some((resource, verb)))),
        );
        let run = netverdict(&["run", SCENARIO, "--kubeconfig", &kubeconfig]);
        assert_eq!(
            run.code, 3,
            "without {verb} {resource}: {}{}",
            run.stdout, run.stderr
        );
        assert!(
            run.stdout.contains(&format!("missing: {named} (")),
            "without {verb} {resource}: {}",
            run.stdout
        );
        assert!(run.stdout.contains("nothing was created"), "{}", run.stdout);
        assert_eq!(left(&admin), "", "without {verb} {resource}");
        let preflight = netverdict(&[
            "preflight",
            SCENARIO,
            "--kubeconfig",
            &kubeconfig,
            "-o",
            "json",
            "--no-canary",
        ]);
        assert_eq!(preflight.code, 3, "{}", preflight.stdout);
        let document: Value = serde_json::from_str(&preflight.stdout).unwrap();
        assert_eq!(document["ok"], false);
        let missing: Vec<&Value> = document["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "missing")
            .collect();
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert_eq!(missing[0]["verb"], verb);
        assert_eq!(missing[0]["resource"], resource);
        assert_eq!(missing[0]["namespace"], NAMESPACE);
    }

    // Without the optional read of namespaces, the run passes with a note.
    kubectl(&admin, &["apply", "-f", "-"], Some(&manifest(None)));
    kubectl(
        &admin,
        &[
            "delete",
            "clusterrolebinding",
            "netverdict-namespaces-reader",
        ],
        None,
    );
    let run = netverdict(&["run", SCENARIO, "--kubeconfig", &kubeconfig]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("note: not allowed to get namespaces (cluster-scoped): the namespaces are assumed to exist"),
        "{}",
        run.stderr
    );
    let preflight = netverdict(&[
        "preflight",
        SCENARIO,
        "--kubeconfig",
        &kubeconfig,
        "--no-canary",
    ]);
    assert_eq!(preflight.code, 0, "{}", preflight.stdout);
    assert!(
        preflight
            .stdout
            .contains("degraded permission: get namespaces (cluster-scoped): not allowed"),
        "{}",
        preflight.stdout
    );
    // Reading the namespace's Pod Security level is forbidden too: skipped, not failed.
    assert!(
        preflight.stdout.contains(
            "skipped  pod-security: cannot read the labels of namespace ddi: 403 Forbidden"
        ),
        "{}",
        preflight.stdout
    );
    assert_eq!(left(&admin), "");
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
    kubectl(&admin, &["apply", "-f", "-"], Some(&manifest(None)));
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
    let revoked = manifest_without(&[("pods", "delete"), ("networkpolicies", "delete")]);
    kubectl(&admin, &["apply", "-f", "-"], Some(&revoked));
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

    let expected = format!("netverdict cleanup --run-id {run_id} --kubeconfig {kubeconfig}");
    what_is_left_is_named(&document, &stdout, &stderr, &expected);
    assert_ne!(left(&admin), "");

    // The printed command, run with the admin's kubeconfig, removes everything.
    let printed = expected.replace(&kubeconfig, &admin);
    let words: Vec<&str> = printed.split_whitespace().skip(1).collect();
    let cleaned = netverdict(&words);
    assert_eq!(cleaned.code, 0, "{}{}", cleaned.stdout, cleaned.stderr);
    assert_eq!(left(&admin), "");
}
