//! `netverdict preflight` against local clusters: its canary shows whether the network enforces
//! NetworkPolicy (not with `--cni none`, yes with the default network), shows that the probe image
//! starts, and leaves nothing behind. Needs root: skipped, saying so, as another user.

mod util;

use std::time::{Duration, Instant};

use serde_json::Value;
use util::local::local_up;
use util::rbac::{Manifest, denials, kubectl, service_account_kubeconfig};

/// Runs `preflight -o json` against `kubeconfig` from a folder without scenarios (the cluster
/// alone is checked); its exit code and document.
fn preflight(kubeconfig: &str) -> (i32, Value) {
    let dir = util::Dir::new("preflight");
    let out = dir
        .command()
        .args(["preflight", "--kubeconfig", kubeconfig, "-o", "json"])
        .run();
    let document = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out.stdout, out.stderr));
    util::assert_no_debug(&out.stdout);
    (out.code, document)
}

/// The one check with id `id`.
fn check<'a>(document: &'a Value, id: &str) -> &'a Value {
    let found: Vec<&Value> = document["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == id)
        .collect();
    assert_eq!(found.len(), 1, "one {id} check: {document:#}");
    found[0]
}

/// Asserts that the preflight's run left no namespace (through the pinned kubectl).
fn assert_nothing_left(kubeconfig: &str, document: &Value) {
    let cleanup = check(document, "cleanup");
    assert_eq!(cleanup["status"], "ok", "{cleanup}");
    let run = cleanup["runId"].as_str().unwrap();
    let out = util::kubectl::command()
        .env("KUBECONFIG", kubeconfig)
        .args([
            "get",
            "namespaces",
            "-l",
            &format!("netverdict.io/run={run}"),
            "-o",
            "name",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "",
        "left behind"
    );
    let all = util::kubectl::command()
        .env("KUBECONFIG", kubeconfig)
        .args(["get", "namespaces", "-o", "name"])
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&all.stdout);
    assert!(all.contains("namespace/default"), "{all}");
    assert!(!all.contains("netverdict-preflight-"), "left behind: {all}");
}

#[test]
fn preflight_reports_that_a_network_without_enforcement_does_not_enforce() {
    if !util::running_as_root() {
        return;
    }
    let (_down, kubeconfig) = local_up("pfnone", &["--cni", "none"]);
    let (code, document) = preflight(&kubeconfig);
    assert_eq!(code, 3, "{document:#}");
    assert_eq!(document["ok"], false);
    let enforcement = check(&document, "networkpolicy-enforcement");
    assert_eq!(enforcement["status"], "failed", "{enforcement}");
    assert_eq!(enforcement["enforced"], false, "{enforcement}");
    assert_eq!(
        enforcement["message"],
        "NetworkPolicy is not enforced: a default-deny did not close an open connection within 10s"
    );
    assert_eq!(check(&document, "probe-image")["status"], "ok");
    assert_nothing_left(&kubeconfig, &document);
}

#[test]
fn preflight_reports_enforcement_on_the_default_network() {
    if !util::running_as_root() {
        return;
    }
    let (_down, kubeconfig) = local_up("pfdef", &[]);
    let (code, document) = preflight(&kubeconfig);
    assert_eq!(code, 0, "{document:#}");
    assert_eq!(document["ok"], true);
    let enforcement = check(&document, "networkpolicy-enforcement");
    assert_eq!(enforcement["status"], "ok", "{enforcement}");
    assert_eq!(enforcement["enforced"], true, "{enforcement}");
    let message = enforcement["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "NetworkPolicy is enforced (a default-deny closed an open connection after "
        ),
        "{message}"
    );
    let image = check(&document, "probe-image");
    assert_eq!(image["status"], "ok", "{image}");
    assert!(
        image["message"].as_str().unwrap().contains("starts"),
        "{image}"
    );
    assert_eq!(check(&document, "pod-security")["status"], "ok");
    assert_nothing_left(&kubeconfig, &document);

    // The text output: one line per check, and --no-canary creates nothing.
    let dir = util::Dir::new("preflight-text");
    let out = dir
        .command()
        .args(["preflight", "--kubeconfig", &kubeconfig, "--no-canary"])
        .run();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("skipped  networkpolicy-enforcement: --no-canary: not checked"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("cleanup:"), "{}", out.stdout);
}

#[test]
fn a_probe_image_that_cannot_start_fails_the_image_check_with_the_kubelets_reason() {
    if !util::running_as_root() {
        return;
    }
    let (_down, kubeconfig) = local_up("pfimg", &[]);
    let dir = util::Dir::new("preflight-image");
    let out = dir
        .command()
        .args(["preflight", "--kubeconfig", &kubeconfig, "-o", "json"])
        .args([
            "--probe-image",
            "registry.invalid/netverdict:missing",
            "--pod-timeout",
            "60s",
        ])
        .run();
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    let document: Value = serde_json::from_str(&out.stdout).unwrap();
    let image = check(&document, "probe-image");
    assert_eq!(image["status"], "failed", "{image}");
    let message = image["message"].as_str().unwrap();
    assert!(message.contains("cannot start: ErrImagePull"), "{message}");
    assert!(message.contains("hint: "), "{message}");
    let enforcement = check(&document, "networkpolicy-enforcement");
    assert_eq!(enforcement["enforced"], Value::Null, "{enforcement}");
    assert_nothing_left(&kubeconfig, &document);
}

/// The canary's permission checks (`"for": "canary"`) that are not `ok`.
fn canary_permissions_lacking(document: &Value) -> Vec<String> {
    document["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "permission" && c["for"] == "canary" && c["status"] != "ok")
        .map(|c| format!("{} {}", c["status"].as_str().unwrap(), c["message"]))
        .collect()
}

/// What the canary may have left: pods, Services and policies in `namespace`, and namespaces of
/// a canary of its own.
fn canary_leftovers(admin: &str, namespace: &str) -> String {
    let objects = ["-n", namespace, "get", "pods,services,networkpolicies"];
    let mut left = kubectl(admin, &[&objects[..], &["-o", "name"]].concat(), None);
    let namespaces = kubectl(admin, &["get", "namespaces", "-o", "name"], None);
    for own in namespaces
        .lines()
        .filter(|l| l.contains("netverdict-preflight-"))
    {
        left.push_str(own);
    }
    left
}

/// The canary pods seen in `namespace` while `child` (a preflight) runs: polls until both are
/// there or it has ended.
fn canary_pods_seen(child: &mut util::KillOnDrop, admin: &str, namespace: &str) -> Vec<String> {
    let args = [
        "-n",
        namespace,
        "get",
        "pods",
        "-l",
        "netverdict.io/preflight",
    ];
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let pods = kubectl(admin, &[&args[..], &["-o", "name"]].concat(), None);
        let pods: Vec<String> = pods.lines().map(str::to_owned).collect();
        if pods.len() == 2 || child.try_wait().unwrap().is_some() {
            return pods;
        }
        assert!(
            Instant::now() < deadline,
            "the canary's pods never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Without the right to create namespaces (and no `--canary-namespace`): the canary is skipped,
/// saying why and what to do, and each permission it lacks is a warning with its rule.
fn skipped_for_want_of_a_namespace(document: &Value) {
    for id in ["probe-image", "networkpolicy-enforcement"] {
        let skipped = check(document, id);
        assert_eq!(skipped["status"], "skipped", "{skipped}");
        assert_eq!(
            skipped["message"],
            "the canary is skipped: it needs a namespace of its own, and this identity lacks create namespaces (cluster-scoped), delete namespaces (cluster-scoped); put it in an existing namespace with --canary-namespace NS"
        );
    }
    let lacking = canary_permissions_lacking(document);
    assert_eq!(lacking.len(), 2, "{lacking:#?}");
    assert!(lacking[0].starts_with("warning \"create namespaces (cluster-scoped) (create the canary's namespace): not allowed, so the canary is skipped; to allow it, add the rule"), "{lacking:#?}");
    assert!(
        lacking[0]
            .ends_with("; or put the canary in an existing namespace with --canary-namespace NS\""),
        "{lacking:#?}"
    );
}

/// Runs `preflight -o json --canary-namespace NAMESPACE` as `kubeconfig`: its exit status and
/// document, and the canary pods seen in the namespace while it ran.
fn preflight_in(
    dir: &util::Dir,
    kubeconfig: &str,
    admin: &str,
    namespace: &str,
) -> (std::process::ExitStatus, Value, Vec<String>) {
    let stdout = dir.path().join("stdout");
    let mut command = dir
        .command()
        .args(["preflight", "--kubeconfig", kubeconfig, "-o", "json"])
        .args(["--canary-namespace", namespace])
        .into_command();
    command.stdout(std::fs::File::create(&stdout).unwrap());
    let mut child = util::KillOnDrop(command.spawn().unwrap());
    let seen = canary_pods_seen(&mut child, admin, namespace);
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&stdout).unwrap();
    util::assert_no_debug(&text);
    let document = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, document, seen)
}

/// A namespaced identity (`deploy/rbac/namespaced.yaml` bound in one namespace) may not create
/// the canary's own namespace: the canary is skipped, saying why and what to do, and nothing is
/// created; with `--canary-namespace` it runs in that namespace, and leaves it as it was.
#[test]
fn a_namespaced_identity_runs_the_canary_in_an_existing_namespace() {
    if !util::running_as_root() {
        return;
    }
    let (down, admin) = local_up("pfns", &[]);
    let namespace = "pf-canary";
    kubectl(&admin, &["create", "namespace", namespace], None);
    Manifest::namespaced(&[namespace]).apply(&admin);
    let dir = util::Dir::new("preflight-namespaced");
    let kubeconfig = service_account_kubeconfig(&admin, &dir);

    let (code, document) = preflight(&kubeconfig);
    assert_eq!(code, 0, "{document:#}");
    skipped_for_want_of_a_namespace(&document);
    assert_eq!(canary_leftovers(&admin, namespace), "");

    // The canary in the existing namespace: its pods are seen there while it runs.
    let (status, document, seen) = preflight_in(&dir, &kubeconfig, &admin, namespace);
    assert_eq!(status.code(), Some(0), "{document:#}");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(canary_permissions_lacking(&document), Vec::<String>::new());
    assert_eq!(check(&document, "probe-image")["status"], "ok");
    let enforcement = check(&document, "networkpolicy-enforcement");
    assert_eq!(enforcement["enforced"], true, "{enforcement}");
    let cleanup = check(&document, "cleanup");
    assert_eq!(
        cleanup["message"],
        format!(
            "deleted the canary's 3 objects from namespace {namespace}, which is left in place"
        )
    );
    let pod_security = check(&document, "pod-security");
    assert_eq!(pod_security["namespace"], namespace, "{pod_security}");
    assert_eq!(canary_leftovers(&admin, namespace), "");
    // The canary asked for nothing it was not granted, not even quietly.
    let (denied, _) = denials(&down.0, 0);
    assert_eq!(denied, Vec::new(), "denied");
    let exists = kubectl(&admin, &["get", "namespace", namespace, "-o", "name"], None);
    assert_eq!(exists.trim(), format!("namespace/{namespace}"));

    // A namespace that does not exist: said so, nothing created.
    let out = dir
        .command()
        .args(["preflight", "--kubeconfig", &kubeconfig])
        .args(["--canary-namespace", "pf-absent"])
        .run();
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    util::assert_no_debug(&out.stdout);
    assert!(
        out.stdout.contains(
            "skipped  probe-image: the canary could not be set up: namespace pf-absent (--canary-namespace) does not exist\n"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(canary_leftovers(&admin, namespace), "");
}

#[test]
fn a_canary_namespace_must_be_a_namespace_name() {
    let dir = util::Dir::new("preflight-canary-name");
    let out = dir
        .command()
        .args(["preflight", "--canary-namespace", "Not_A_Name"])
        .run();
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(
            "\"Not_A_Name\" is not a namespace name: a lowercase RFC 1123 label must consist of"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.lines().filter(|l| l.contains("error")).count(),
        1,
        "{}",
        out.stderr
    );
}
