//! `netverdict run` finds out whether the network enforces NetworkPolicy when, and only when, a
//! deny the policies deny was not blocked: on a network without enforcement (`--cni none`) every
//! such deny fails as "policy not enforced" with the evidence, in a canary namespace of the run's
//! own or, without the right to create one, in a namespace of the run, removed with the run; on an
//! enforcing network a wrong deny expectation, or a deny the network enforces too slowly, never
//! says so. Needs root: skipped, saying so, as another user.

mod util;

use serde_json::Value;
use util::local::local_up;
use util::{Dir, repo};

/// The library scenario run here and its one namespace.
const SCENARIO: &str = "scenarios/default-deny-ingress.yaml";
const NAMESPACE: &str = "ddi";

/// What `netverdict run` reports: its exit code, the JSON results, the terminal output, the
/// JUnit and HTML reports.
struct Ran {
    code: i32,
    results: Value,
    stdout: String,
    stderr: String,
    junit: String,
    html: String,
}

/// Runs `netverdict run` on `file` (relative to the repository) with `args`, writing every report.
fn run(dir: &Dir, file: &str, args: &[&str]) -> Ran {
    let out = dir
        .command()
        .args(["run".into(), repo().join(file)])
        .args([
            "--json",
            "results.json",
            "--junit",
            "report.xml",
            "--html",
            "report.html",
        ])
        .args(args)
        .run();
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let results = serde_json::from_str(&read("results.json"))
        .unwrap_or_else(|e| panic!("no JSON results ({e}): {}\n{}", out.stdout, out.stderr));
    Ran {
        code: out.code,
        results,
        stdout: out.stdout,
        stderr: out.stderr,
        junit: read("report.xml"),
        html: read("report.html"),
    }
}

fn probes(results: &Value) -> Vec<&Value> {
    results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["probes"].as_array().unwrap())
        .collect()
}

fn message(probe: &Value) -> &str {
    probe["message"].as_str().unwrap_or_default()
}

/// Every deny of the run failed as connected; returns them.
fn connected_denies(ran: &Ran) -> Vec<&Value> {
    let denies: Vec<&Value> = probes(&ran.results)
        .into_iter()
        .filter(|p| p["expect"] == "deny")
        .collect();
    assert!(!denies.is_empty(), "{}", ran.stdout);
    for probe in &denies {
        assert_eq!(
            probe["status"],
            "fail",
            "{}: {}",
            probe["name"],
            message(probe)
        );
        assert_eq!(probe["outcome"]["kind"], "connected", "{probe}");
    }
    denies
}

/// Runs kubectl against `kubeconfig` with `stdin`, asserting it succeeds; returns its stdout.
fn kubectl(kubeconfig: &str, args: &[&str], stdin: &str) -> String {
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
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything any netverdict run left in the cluster: namespaces, pods, policies.
fn left(admin: &str) -> String {
    kubectl(
        admin,
        &[
            "get",
            "namespaces,pods,networkpolicies",
            "--all-namespaces",
            "-l",
            "app.kubernetes.io/managed-by=netverdict",
            "-o",
            "name",
        ],
        "",
    )
}

/// A kubeconfig for the ServiceAccount `netverdict/netverdict` of `deploy/rbac/namespaced.yaml`,
/// bound in [`NAMESPACE`]: it may not create namespaces.
fn namespaced_identity(admin: &str, dir: &Dir) -> String {
    kubectl(admin, &["create", "namespace", NAMESPACE], "");
    let manifest = std::fs::read_to_string(repo().join("deploy/rbac/namespaced.yaml"))
        .unwrap()
        .replace("netverdict-probes", NAMESPACE);
    kubectl(admin, &["apply", "-f", "-"], &manifest);
    let token = kubectl(
        admin,
        &["-n", "netverdict", "create", "token", "netverdict"],
        "",
    );
    let field = |path: &str| {
        let jsonpath = format!("jsonpath={{.clusters[0].cluster.{path}}}");
        kubectl(admin, &["config", "view", "--raw", "-o", &jsonpath], "")
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{}\", certificate-authority-data: \"{}\"}}}}]\nusers: [{{name: u, user: {{token: \"{}\"}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n",
        field("server"),
        field("certificate-authority-data"),
        token.trim()
    );
    dir.create("namespaced.kubeconfig", &text)
        .display()
        .to_string()
}

/// The run's result says the network does not enforce NetworkPolicy, in every report.
fn assert_not_enforced(ran: &Ran) {
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert_eq!(ran.results["enforcement"], "not-enforced", "{}", ran.stdout);
    let evidence = ran.results["enforcementEvidence"].as_str().unwrap();
    assert!(
        evidence
            .starts_with("a default-deny ingress NetworkPolicy did not close an open connection"),
        "{evidence}"
    );
    for probe in connected_denies(ran) {
        assert!(
            message(probe).starts_with(
                "connected: policy not enforced: the network does not enforce NetworkPolicy (a \
                 default-deny ingress NetworkPolicy did not close"
            ),
            "{}",
            message(probe)
        );
    }
    let line = "NetworkPolicy is not enforced by this network: a default-deny ingress";
    assert!(
        ran.stdout.contains(&format!("enforcement: {line}")),
        "{}",
        ran.stdout
    );
    assert!(
        ran.junit.contains(&format!(
            "<property name=\"networkpolicy-enforcement\" value=\"{line}"
        )),
        "{}",
        ran.junit
    );
    assert!(
        ran.junit
            .contains("observed connected: policy not enforced: ")
    );
    assert!(
        ran.html
            .contains(&format!("<p class=\"enforcement\">{line}"))
    );
}

#[test]
fn without_enforcement_every_unblocked_deny_fails_as_not_enforced_and_the_check_leaves_nothing() {
    if !util::running_as_root() {
        return;
    }
    let (_down, admin) = local_up("nvenf", &["--cni", "none"]);
    let dir = Dir::new("not-enforced");

    // An identity that may create namespaces: the canary gets one of its own.
    let ran = run(&dir, SCENARIO, &["--kubeconfig", &admin, "--settle", "1s"]);
    assert_not_enforced(&ran);
    assert!(
        ran.stderr
            .contains("NetworkPolicy (two probe pods in namespace netverdict-canary-"),
        "{}",
        ran.stderr
    );
    assert_eq!(left(&admin), "", "the run and its check left nothing");

    // One that may not: the canary goes into the run's namespace, and goes with the run.
    let namespaced = namespaced_identity(&admin, &dir);
    let ran = run(
        &dir,
        SCENARIO,
        &["--kubeconfig", &namespaced, "--settle", "1s"],
    );
    assert_not_enforced(&ran);
    assert!(
        ran.stderr.contains(&format!(
            "NetworkPolicy (two probe pods in namespace {NAMESPACE},"
        )),
        "{}",
        ran.stderr
    );
    let namespace_left = kubectl(
        &admin,
        &["-n", NAMESPACE, "get", "pods,networkpolicies", "-o", "name"],
        "",
    );
    assert_eq!(namespace_left, "", "the check's pods and policy are gone");
}

#[test]
fn on_an_enforcing_network_a_wrong_deny_expectation_does_not_blame_enforcement() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("wrong-deny");
    dir.create(
        "wrong.yaml",
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: wrong-deny}
spec:
  namespaces: [{name: wrongdeny}]
  pods:
    - {name: client, namespace: wrongdeny, labels: {app: client}}
    - {name: server, namespace: wrongdeny, labels: {app: server}, ports: [{port: 8080}]}
  probes:
    - {name: no policy denies this, from: wrongdeny/client, to: wrongdeny/server, port: 8080, expect: deny}
",
    );
    let out = dir
        .command()
        .args(["run", "wrong.yaml", "--local", "-q", "--settle", "1s"])
        .args(["--json", "results.json"])
        .run();
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let probe = probes(&results)[0];
    assert_eq!(probe["status"], "fail", "{probe}");
    assert!(
        !message(probe).contains("not enforced"),
        "{}",
        message(probe)
    );
    assert!(
        message(probe).contains("the cluster's policies allow this"),
        "{probe}"
    );
    // The policies explain the failure: nothing needed the check.
    assert!(
        results["enforcement"].is_null(),
        "{}",
        results["enforcement"]
    );
    assert!(!out.stdout.contains("enforcement:"), "{}", out.stdout);
}

#[test]
fn a_network_that_enforces_slowly_is_not_taken_for_one_that_does_not_enforce() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("slow-enforcement");
    // The policies take 8s to apply and the run settles for 1s only: its denies connect.
    let ran = run(
        &dir,
        SCENARIO,
        &["--local", "--policy-delay", "8s", "--settle", "1s"],
    );
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert_eq!(ran.results["enforcement"], "enforced", "{}", ran.stdout);
    for probe in connected_denies(&ran) {
        assert!(
            message(probe).starts_with("connected: not blocked, although the network enforces NetworkPolicy (a default-deny ingress NetworkPolicy closed an open connection between two probe pods after "),
            "{}",
            message(probe)
        );
        assert!(
            message(probe).contains("longer than --settle"),
            "{}",
            message(probe)
        );
    }
    assert!(!ran.stdout.contains("not enforced"), "{}", ran.stdout);
    assert!(!ran.junit.contains("not enforced"));
}
