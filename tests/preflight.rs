//! `netverdict preflight` against local clusters: its canary shows whether the network enforces
//! NetworkPolicy (not with `--cni none`, yes with the default network), shows that the probe image
//! starts, and leaves nothing behind. Needs root: skipped, saying so, as another user.

mod util;

use serde_json::Value;
use util::local::local_up;

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
