//! The shipped RBAC manifests against a local cluster that enforces RBAC: a ServiceAccount with
//! exactly `deploy/rbac-namespaced.yaml` runs a library scenario; with one permission removed,
//! `netverdict run` stops before creating anything and names it, and `netverdict preflight`
//! says the same. Needs root: skipped, saying so, as another user.

mod util;

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
    let text = std::fs::read_to_string(util::repo().join("deploy/rbac-namespaced.yaml")).unwrap();
    let text = text.replace("netverdict-probes", NAMESPACE);
    let Some((resource, verb)) = without else {
        return text;
    };
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
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
        .filter(|v| *v != verb)
        .collect();
    assert!(list.contains(verb), "{resource} grants no {verb}");
    *verbs = format!("{head}[{}]", kept.join(", "));
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
