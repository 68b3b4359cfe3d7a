//! `netverdict run` end to end against local clusters: verdicts under different networks, the
//! batching of probes, reports, and cleanup when interrupted. Needs root: skipped, saying so,
//! as another user.

mod util;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::local::LocalDown;
use util::{Dir, TestCommand, repo};

/// Runs `netverdict run` with `args` in the repository and returns the exit code and the JSON
/// results.
fn run(test: &str, args: &[&str]) -> (i32, Value, Dir, util::Output) {
    let dir = Dir::new(test);
    let json = dir.path().join("results.json");
    let junit = dir.path().join("report.xml");
    let summary = dir.path().join("summary.md");
    let html = dir.path().join("report.html");
    let out = TestCommand::in_repo()
        .args(["run", "--local", "-q", "--json"])
        .args([&json])
        .args(["--junit"])
        .args([&junit])
        .args(["--summary"])
        .args([&summary])
        .args(["--html"])
        .args([&html])
        .args(args)
        .run();
    let results = std::fs::read_to_string(&json)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| panic!("no JSON results: {}\n{}", out.stdout, out.stderr));
    (out.code, results, dir, out)
}

fn probes(results: &Value) -> Vec<&Value> {
    results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["probes"].as_array().unwrap())
        .collect()
}

fn outcome(probe: &Value) -> &str {
    probe["outcome"]["kind"].as_str().unwrap_or("none")
}

#[test]
fn without_enforcement_every_deny_fails_as_connected() {
    if !util::running_as_root() {
        return;
    }
    let (code, results, dir, out) = run(
        "cni-none",
        &["scenarios/", "--cni", "none", "--settle", "1s"],
    );
    assert!(results["error"].is_null(), "{}", results["error"]);
    assert_eq!(code, 1, "{}", out.stdout);
    let all = probes(&results);
    let denies: Vec<_> = all.iter().filter(|p| p["expect"] == "deny").collect();
    assert!(denies.len() >= 20, "the library has denies to show");
    for probe in &denies {
        assert_eq!(probe["status"], "fail", "{}", probe["name"]);
        assert!(
            matches!(outcome(probe), "connected" | "http-status"),
            "{}: {}",
            probe["name"],
            probe["message"]
        );
        assert!(
            probe["message"]
                .as_str()
                .unwrap()
                .contains("policy not enforced: the network does not enforce NetworkPolicy"),
            "{}",
            probe["message"]
        );
    }
    assert_eq!(results["enforcement"], "not-enforced");
    for probe in all.iter().filter(|p| p["expect"] == "allow") {
        assert_eq!(
            probe["status"], "pass",
            "{}: {}",
            probe["name"], probe["message"]
        );
    }

    // The JUnit report loads in CI viewers and tells how to reproduce every probe.
    let junit = dir.path().join("report.xml");
    let check = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(repo().join("tests/data/junit.xsd"))
        .args([&junit])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), all.len());
    let cases: Vec<&str> = xml.split("<testcase ").skip(1).collect();
    assert_eq!(cases.len(), all.len());
    for case in cases {
        assert!(
            case.lines()
                .any(|l| l.contains("command:  ") && l.contains("kubectl exec")),
            "every testcase has its command: {case}"
        );
        assert!(
            case.contains(r#" file="scenarios/"#) && case.contains(" line=\""),
            "every testcase has its file and line: {case}"
        );
    }
    assert_eq!(xml.matches("<failure ").count(), denies.len());
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.contains("### Failures"), "{summary}");
    assert!(summary.contains("### Truth tables"), "{summary}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for n in 1..=all.len() {
        assert!(
            html.contains(&format!(" href=\"#probe-{n}\" ")),
            "a grid cell links to probe {n}"
        );
        let section = html
            .split(&format!(" id=\"probe-{n}\">"))
            .nth(1)
            .unwrap_or_else(|| panic!("no evidence of probe {n}"));
        let section = &section[..section.find("</section>").unwrap()];
        assert!(
            section.contains("<pre class=\"command\">") && section.contains("kubectl exec "),
            "{section}"
        );
    }
    assert!(!html.contains(&format!("id=\"probe-{}\"", all.len() + 1)));
    assert_eq!(
        html.matches("<a class=\"fail\" href=").count(),
        denies.len(),
        "every deny is a red cell"
    );
}

/// Runs the scenario library on a local network of `cni` and checks that every probe passes
/// under the default `deny: any`, and that the run names how the network blocked the denies.
fn library_passes_on(cni: &str, behaviour: &[&str]) {
    let (code, results, _dir, out) = run(
        &format!("library-{cni}"),
        &["scenarios/", "--cni", cni, "--settle", "1s"],
    );
    assert!(results["error"].is_null(), "{}", results["error"]);
    assert_eq!(code, 0, "{}", out.stdout);
    let all = probes(&results);
    for probe in &all {
        assert_eq!(
            probe["status"], "pass",
            "{}: {}",
            probe["name"], probe["message"]
        );
    }
    assert!(
        all.iter()
            .any(|p| p["expect"] == "deny" && p["deny"] == "any")
    );
    let network = results["denyBehaviour"]["network"]
        .as_str()
        .unwrap_or("none");
    assert!(
        behaviour.contains(&network),
        "{cni}: {}",
        results["denyBehaviour"]
    );
    assert!(
        out.stdout.contains("deny behaviour: this network"),
        "{}",
        out.stdout
    );
    for scenario in results["scenarios"].as_array().unwrap() {
        let phases = scenario["setupPhases"].as_object().expect("setup phases");
        let keys = [
            "namespacesMs",
            "servicesMs",
            "policiesMs",
            "podsMs",
            "podsStartedMs",
            "endpointsMs",
            "predictionsMs",
        ];
        let sum: u64 = keys.iter().map(|k| phases[*k].as_u64().unwrap()).sum();
        assert!(
            sum <= scenario["setupMs"].as_u64().unwrap(),
            "the phases are parts of the setup: {scenario}"
        );
    }
}

#[test]
fn the_library_passes_on_a_dropping_network() {
    if util::running_as_root() {
        library_passes_on("enforcing", &["drops"]);
    }
}

#[test]
fn the_library_passes_on_a_network_that_resets_and_rejects() {
    if util::running_as_root() {
        // UDP and DNS get ICMP errors, which the kernel may rate-limit into silence.
        library_passes_on("reject", &["rejects", "mixed"]);
    }
}

#[test]
fn the_library_passes_on_a_network_that_rejects_as_iptables_does() {
    if util::running_as_root() {
        library_passes_on("iptables-reject", &["rejects", "mixed"]);
    }
}

#[test]
fn a_run_that_requires_drops_fails_the_denies_of_a_rejecting_network() {
    if !util::running_as_root() {
        return;
    }
    let (code, results, _dir, out) = run(
        "deny-drop",
        &[
            "scenarios/",
            "--cni",
            "iptables-reject",
            "--deny",
            "drop",
            "--settle",
            "1s",
        ],
    );
    assert!(results["error"].is_null(), "{}", results["error"]);
    assert_eq!(code, 1, "{}", out.stdout);
    let mut denies = 0;
    let mut failed = 0;
    for probe in probes(&results) {
        assert_eq!(probe["deny"], "drop", "--deny overrides every file");
        if probe["expect"] != "deny" {
            continue;
        }
        denies += 1;
        // The kernel's ICMP rate limit may turn a refusal into silence, which `drop` accepts;
        // a probe last seen refused never passes.
        if outcome(probe) != "refused" {
            continue;
        }
        failed += 1;
        assert!(
            matches!(probe["status"].as_str(), Some("fail" | "flapping")),
            "{}: {}",
            probe["name"],
            probe["message"]
        );
        assert!(
            probe["message"]
                .as_str()
                .unwrap()
                .contains("`deny: drop` expects a silent drop"),
            "{}",
            probe["message"]
        );
    }
    assert!(
        failed * 2 >= denies,
        "most of the library's {denies} denies were refused, {failed} failed"
    );
    assert!(
        out.stdout.contains("deny behaviour: this network"),
        "{}",
        out.stdout
    );
}

/// Runs `file` (one probe) on a local cluster with `extra` flags: the run's output and the probe's
/// JSON result.
fn run_local_probe(dir: &Dir, file: &str, extra: &[&str]) -> (util::Output, Value) {
    let out = dir
        .command()
        .args(["run", file, "--local", "-q", "--settle", "1s"])
        .args(extra)
        .args(["--json", "results.json"])
        .run();
    let results = read_json(&dir.path().join("results.json"), &out.stderr);
    let probe = probes(&results)[0].clone();
    (out, probe)
}

#[test]
fn a_refusal_from_a_port_where_nothing_listens_is_no_deny() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("closed-port");
    // No policy at all: the external host itself refuses, on a port it does not serve.
    dir.create(
        "closed.yaml",
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: closed-port}
spec:
  namespaces: [{name: closed}]
  pods:
    - {name: client, namespace: closed, labels: {app: client}}
  probes:
    - {name: closed port, from: closed/client, to: {ip: 203.0.113.10}, port: 8081, expect: deny}
",
    );
    let (out, probe) = run_local_probe(&dir, "closed.yaml", &[]);
    assert_eq!(outcome(&probe), "refused", "{probe}");
    assert_eq!(probe["status"], "inconclusive", "{}", probe["message"]);
    assert_eq!(out.code, 3, "could not be judged: {}", out.stdout);
}

#[test]
fn a_refusal_the_policies_allow_is_inconclusive_even_under_deny_reject() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("allowed-refusal");
    // The policy allows egress to the external host's port 8080, where nothing listens.
    dir.create(
        "allowed.yaml",
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: allowed-refusal}
spec:
  namespaces: [{name: allowedref}]
  pods:
    - {name: client, namespace: allowedref, labels: {app: client}}
  policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: to-external, namespace: allowedref}
      spec:
        podSelector: {matchLabels: {app: client}}
        policyTypes: [Egress]
        egress:
          - to: [{ipBlock: {cidr: 203.0.113.10/32}}]
            ports: [{port: 8080, protocol: TCP}]
  probes:
    - {name: allowed port, from: allowedref/client, to: {ip: 203.0.113.10}, port: 8080, expect: deny}
",
    );
    let (out, probe) = run_local_probe(&dir, "allowed.yaml", &["--deny", "reject"]);
    assert_eq!(outcome(&probe), "refused", "{probe}");
    assert_eq!(probe["status"], "inconclusive", "{}", probe["message"]);
    assert_eq!(
        probe["message"],
        "refused, but the policies allow this: nothing listens on 203.0.113.10:8080?"
    );
    assert_eq!(out.code, 3, "could not be judged: {}", out.stdout);
}

#[test]
fn slow_policy_propagation_settles_and_reports_the_time_to_match() {
    if !util::running_as_root() {
        return;
    }
    let (code, results, _dir, out) = run(
        "policy-delay",
        &[
            "scenarios/default-deny-ingress.yaml",
            "--policy-delay",
            "3s",
            "--settle",
            "10s",
        ],
    );
    assert_eq!(code, 0, "{}\n{}", out.stdout, out.stderr);
    let denies: Vec<_> = probes(&results)
        .into_iter()
        .filter(|p| p["expect"] == "deny")
        .collect();
    assert!(!denies.is_empty());
    for probe in denies {
        assert_eq!(probe["status"], "pass");
        let matched = probe["timeToMatchMs"].as_u64().unwrap();
        // Not before the delay (the network really lagged), and found by settling, not by chance.
        assert!(
            matched >= 3000,
            "{}: matched after {matched} ms",
            probe["name"]
        );
        assert!(
            probe["attempts"].as_u64().unwrap() >= 3,
            "retried, then confirmed: {probe}"
        );
        let first = &probe["history"][0]["outcome"]["kind"];
        assert_eq!(
            first, "connected",
            "before the delay, the policy was not enforced yet"
        );
    }
}

#[test]
fn probes_are_batched_one_exec_per_source_pod_and_round() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("batching");
    let pods: Vec<String> = (0..6).map(|i| format!("b/p{i}")).collect();
    let mut text = String::from(
        "apiVersion: netverdict.io/v1alpha1\nkind: Scenario\nmetadata: {name: batching}\nspec:\n  namespaces: [{name: b}]\n  pods:\n",
    );
    for i in 0..6 {
        text.push_str(&format!(
            "    - {{name: p{i}, namespace: b, labels: {{pod: p{i}}}, ports: [{{port: 80}}]}}\n"
        ));
    }
    text.push_str(&format!(
        "  probes:\n    - matrix: {{from: [{all}], to: [{all}], ports: [80]}}\n      expect: allow\n",
        all = pods.join(", ")
    ));
    dir.create("batching.yaml", &text);
    let out = dir
        .command()
        .args([
            "run",
            "batching.yaml",
            "--local",
            "-q",
            "--json",
            "results.json",
        ])
        .run();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    let scenario = &results["scenarios"][0];
    assert_eq!(scenario["probes"].as_array().unwrap().len(), 36);
    // Every probe matched in the first round: two rounds (first and confirming), one exec per
    // source pod in each; the positive controls ride in the first round's batches.
    for probe in scenario["probes"].as_array().unwrap() {
        assert_eq!(probe["attempts"], 2, "{probe}");
    }
    assert_eq!(scenario["execCalls"], 12, "6 source pods x 2 rounds");
}

#[test]
fn an_interrupted_run_removes_everything_it_created() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("interrupt");
    let name = format!("int{}", std::process::id() % 100_000);
    let up = TestCommand::in_repo()
        .args(["local", "up", "--name", &name])
        .run();
    assert_eq!(up.code, 0, "{}", up.stderr);
    let _down = LocalDown(name.clone());
    let kubeconfig = format!("/run/netverdict/{name}/kubeconfig");
    // A scenario sharing its namespace runs after it: the interruption comes before it does.
    dir.create(
        "later.yaml",
        "apiVersion: netverdict.io/v1alpha1\nkind: Scenario\nmetadata: {name: later}\nspec:\n  namespaces: [{name: stuck}]\n  pods:\n    - {name: c, namespace: stuck, labels: {app: c}, ports: [{port: 80}]}\n  probes:\n    - {from: stuck/c, to: stuck/c, port: 80, expect: allow}\n",
    );
    // A probe that never meets its expectation keeps the run settling for a minute.
    dir.create(
        "stuck.yaml",
        "apiVersion: netverdict.io/v1alpha1\nkind: Scenario\nmetadata: {name: stuck}\nspec:\n  namespaces: [{name: stuck}]\n  pods:\n    - {name: a, namespace: stuck, labels: {app: a}, ports: [{port: 80}]}\n    - {name: b, namespace: stuck, labels: {app: b}}\n  policies:\n    - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: stuck}, spec: {podSelector: {}, policyTypes: [Ingress]}}\n  services:\n    - {name: a, namespace: stuck, selector: {app: a}, ports: [{port: 80}]}\n  probes:\n    - {from: stuck/b, to: stuck/a, port: 80, expect: allow}\n",
    );
    let child = Command::new(env!("CARGO_BIN_EXE_netverdict"))
        .current_dir(dir.path())
        .args([
            "run",
            "stuck.yaml",
            "later.yaml",
            "--json",
            "results.json",
            "--junit",
            "report.xml",
            "--kubeconfig",
            &kubeconfig,
            "--run-id",
            "interrupted",
            "--settle",
            "60s",
            "-q",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = util::KillOnDrop(child);
    let selector = "netverdict.io/run=interrupted";
    let kubectl = |args: &[&str]| {
        let out = util::kubectl::command()
            .env("KUBECONFIG", &kubeconfig)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !kubectl(&["get", "pods", "-n", "stuck", "-l", selector, "-o", "name"]).contains("pod/b")
    {
        assert!(Instant::now() < deadline, "the run never created its pods");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let it reach the probing rounds, then interrupt it as Ctrl-C would.
    std::thread::sleep(Duration::from_secs(3));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert_eq!(
        exit.code(),
        Some(3),
        "an interrupted run could not judge: {stdout}"
    );
    assert!(stdout.contains("interrupted by Ctrl-C"), "{stdout}");
    assert!(stdout.contains("not run (interrupted)"), "{stdout}");
    // The reports keep what was observed and list what was not run.
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    let scenarios = results["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 2, "{results}");
    // Its probe settled for a while (an error keeping its attempts), or had not come back yet.
    let stuck = &scenarios[0]["probes"][0];
    if stuck["history"].as_array().unwrap().is_empty() {
        assert_eq!(stuck["status"], "skipped", "{stuck}");
    } else {
        assert_eq!(stuck["status"], "error", "{stuck}");
    }
    assert!(
        stuck["message"].as_str().unwrap().contains("interrupted"),
        "{stuck}"
    );
    let later = &scenarios[1]["probes"][0];
    assert_eq!(later["status"], "skipped", "{later}");
    assert_eq!(later["message"], "interrupted", "{later}");
    let xml = std::fs::read_to_string(dir.path().join("report.xml")).unwrap();
    assert!(xml.contains(r#"<skipped message="interrupted""#), "{xml}");
    let left = kubectl(&[
        "get",
        "pods,services,networkpolicies,namespaces",
        "-A",
        "-l",
        selector,
        "-o",
        "name",
    ]);
    assert_eq!(left.trim(), "", "objects of the run are left");
}

/// On a real cluster a deleted namespace stays Terminating for seconds. Runs back to back against
/// a local cluster that emulates it: the second waits for the namespace the first left, then
/// passes; one that may not wait long enough fails its setup naming the namespace, without a
/// verdict; `--wait-cleanup` returns only once the run's namespaces are gone.
#[test]
fn runs_back_to_back_wait_for_the_namespace_the_previous_run_left_terminating() {
    if !util::running_as_root() {
        return;
    }
    let name = format!("nsd{}", std::process::id() % 100_000);
    let up = TestCommand::in_repo()
        .args(["local", "up", "--name", &name, "--namespace-deletion", "4s"])
        .run();
    assert_eq!(up.code, 0, "{}", up.stderr);
    let _down = LocalDown(name.clone());
    let kubeconfig = format!("/run/netverdict/{name}/kubeconfig");
    let dir = Dir::new("ns-deletion");
    let run = |id: &str, extra: &[&str]| {
        let json = dir.path().join(format!("{id}.json"));
        let out = TestCommand::in_repo()
            .args(["run", "scenarios/specific-port.yaml", "--kubeconfig"])
            .args([&kubeconfig, "--run-id", id, "--json"])
            .args([&json])
            .args(extra)
            .run();
        let results: Value = std::fs::read_to_string(&json)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_else(|| panic!("no JSON results: {}\n{}", out.stdout, out.stderr));
        (out, results)
    };

    let (first, _) = run("first", &[]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let (second, _) = run("second", &[]);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stderr.contains(
            "waiting for namespace port to finish terminating (left by an earlier run, netverdict run first)"
        ),
        "{}",
        second.stderr
    );

    let (hurried, results) = run("hurried", &["--namespace-wait", "1s"]);
    assert_eq!(hurried.code, 3, "{}\n{}", hurried.stdout, hurried.stderr);
    let error = results["scenarios"][0]["setupError"]
        .as_str()
        .expect("a setup error");
    assert!(
        error.contains(
            "namespace port is still terminating after 1s (left by an earlier run, netverdict run second)"
        ),
        "{error}"
    );
    let kept = probes(&results);
    assert!(!kept.is_empty(), "the probes are kept: {results}");
    assert!(
        kept.iter().all(|p| p["status"] == "error"),
        "no verdict: {results}"
    );

    let (tidy, _) = run("tidy", &["--wait-cleanup"]);
    assert_eq!(tidy.code, 0, "{}\n{}", tidy.stdout, tidy.stderr);
    assert!(
        tidy.stderr
            .contains("cleanup: the run's 1 namespace(s) are gone (waited "),
        "{}",
        tidy.stderr
    );
    let out = util::kubectl::command()
        .env("KUBECONFIG", &kubeconfig)
        .args(["get", "namespaces", "-o", "name"])
        .output()
        .unwrap();
    let namespaces = String::from_utf8_lossy(&out.stdout);
    assert!(
        !namespaces.contains("namespace/port"),
        "--wait-cleanup returned with the namespace still there: {namespaces}"
    );
}

#[test]
fn a_probe_pod_whose_image_cannot_be_pulled_keeps_its_probes_as_errors_with_the_reason() {
    if !util::running_as_root() {
        return;
    }
    let (code, results, dir, out) = run(
        "image-pull",
        &[
            "scenarios/specific-port.yaml",
            "--probe-image",
            "registry.invalid/netverdict:missing",
            "--pod-timeout",
            "60s",
        ],
    );
    assert_eq!(code, 3, "{}", out.stdout);
    assert!(results["error"].is_null(), "{}", results["error"]);
    let scenario = &results["scenarios"][0];
    let error = scenario["setupError"]
        .as_str()
        .expect("the scenario's setup failed");
    assert!(error.contains("cannot start: ErrImagePull"), "{error}");
    assert!(
        error.contains("no such host"),
        "the kubelet's message: {error}"
    );
    assert!(
        error.contains("Failed to pull image"),
        "the pod's events: {error}"
    );
    let all = probes(&results);
    assert!(!all.is_empty());
    for probe in &all {
        assert_eq!(probe["status"], "error", "{probe}");
        let message = probe["message"].as_str().unwrap();
        assert!(message.contains("setup failed: "), "{message}");
        assert!(message.contains("ErrImagePull"), "{message}");
    }
    // CI still gets a testcase per probe that says why.
    let xml = std::fs::read_to_string(dir.path().join("report.xml")).unwrap();
    assert_eq!(
        xml.matches("<testcase ").count(),
        all.len(),
        "one testcase per probe: {xml}"
    );
    assert!(xml.contains("ErrImagePull"), "{xml}");
}

#[test]
fn cleanup_removes_what_a_kept_run_left_and_nothing_of_other_runs() {
    if !util::running_as_root() {
        return;
    }
    let (_down, kubeconfig) = local_up("cln");
    let kubectl = |args: &[&str]| kubectl_at(&kubeconfig, args);
    let kept = |scenario: &str, run: &str| {
        let out = TestCommand::in_repo()
            .args([
                "run",
                scenario,
                "--kubeconfig",
                &kubeconfig,
                "--run-id",
                run,
                "--keep",
                "-q",
            ])
            .run();
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    };
    kept("scenarios/service-target.yaml", "kept-a");
    kept("scenarios/specific-port.yaml", "kept-b");
    let of = |run: &str| {
        kubectl(&[
            "get",
            "pods,services,networkpolicies,namespaces",
            "-A",
            "-l",
            &format!("netverdict.io/run={run}"),
            "-o",
            "name",
        ])
    };
    assert!(
        of("kept-a").contains("pod/"),
        "--keep left the pods: {}",
        of("kept-a")
    );
    assert!(
        of("kept-a").contains("service/"),
        "and the Service: {}",
        of("kept-a")
    );

    let out = TestCommand::in_repo()
        .args(["cleanup", "--run-id", "kept-a", "--kubeconfig", &kubeconfig])
        .run();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("deleted pod "), "{}", out.stdout);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !of("kept-a").trim().is_empty() {
        assert!(Instant::now() < deadline, "left: {}", of("kept-a"));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(of("kept-b").contains("pod/"), "another run's objects stay");

    let out = TestCommand::in_repo()
        .args(["cleanup", "--all", "--kubeconfig", &kubeconfig])
        .run();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !of("kept-b").trim().is_empty() {
        assert!(Instant::now() < deadline, "left: {}", of("kept-b"));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The binary of a checkout under `/root` (0700, as Debian makes it) is out of reach of the probe
/// pods' user: the local cluster runs them from its own copy, so they start all the same.
#[test]
fn probe_pods_start_when_the_binary_sits_in_a_private_directory() {
    if !util::running_as_root() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new("private-bin");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let binary = dir.path().join("netverdict");
    std::fs::copy(env!("CARGO_BIN_EXE_netverdict"), &binary).unwrap();
    dir.create(
        "scenario.yaml",
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: private-binary}
spec:
  namespaces: [{name: pb}]
  pods:
    - {name: client, namespace: pb, labels: {app: client}}
    - {name: server, namespace: pb, labels: {app: server}, ports: [{port: 80}]}
  probes:
    - {from: pb/client, to: pb/server, port: 80, expect: allow}
",
    );
    let out = TestCommand::of(&binary, dir.path())
        .args([
            "run",
            "scenario.yaml",
            "--local",
            "-q",
            "--json",
            "results.json",
        ])
        .run();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    let all = probes(&results);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["status"], "pass", "{}", all[0]);
    assert_eq!(outcome(all[0]), "connected");
}

#[test]
fn the_library_passes_on_an_exec_v4_only_server_with_a_kubelet_before_1_22() {
    if !util::running_as_root() {
        return;
    }
    // Such a server loses the exit status of an exec whose client closes stdin, and such a
    // kubelet refuses pods that ask for net.ipv4.ip_unprivileged_port_start.
    let (code, results, _dir, out) = run(
        "old-server",
        &[
            "scenarios/",
            "--emulate",
            "exec-v4-only,kubelet-before-1.22",
        ],
    );
    assert!(results["error"].is_null(), "{}", results["error"]);
    assert_eq!(code, 0, "{}{}", out.stdout, out.stderr);
    let all = probes(&results);
    assert!(all.len() >= 50, "the whole library ran: {}", all.len());
    for probe in all {
        assert_eq!(probe["status"], "pass", "{}", probe);
    }
}

#[test]
fn a_port_below_1024_on_a_kubelet_before_1_22_says_what_to_do() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("low-port");
    let scenario = dir.path().join("low-port.yaml");
    std::fs::write(
        &scenario,
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: low-port}
spec:
  namespaces: [{name: lowport}]
  pods:
    - {name: web, namespace: lowport, labels: {app: web}, ports: [{port: 80}]}
    - {name: client, namespace: lowport, labels: {app: client}}
  probes:
    - {name: web, from: lowport/client, to: lowport/web, port: 80, expect: allow}
",
    )
    .unwrap();
    let (code, results, _dir, out) = run(
        "low-port",
        &[
            scenario.to_str().unwrap(),
            "--emulate",
            "kubelet-before-1.22",
        ],
    );
    assert_eq!(code, 3, "{}", out.stdout);
    let error = results["scenarios"][0]["setupError"]
        .as_str()
        .expect("the scenario could not start");
    assert!(
        error.contains(r#"cannot start: SysctlForbidden: Pod forbidden sysctl: "net.ipv4.ip_unprivileged_port_start" not whitelisted"#),
        "{error}"
    );
    assert!(error.contains("serve ports >= 1024"), "the hint: {error}");
    assert!(
        error.contains("--allowed-unsafe-sysctls=net.ipv4.ip_unprivileged_port_start"),
        "{error}"
    );
}

#[test]
fn on_the_api_of_kubernetes_1_20_a_dropped_end_port_fails_its_scenario_and_the_others_still_run() {
    if !util::running_as_root() {
        return;
    }
    // That server drops NetworkPolicy endPort silently and has no EndpointSlice v1: port-range
    // cannot be set up, service-target runs in the same run and passes.
    let (code, results, dir, out) = run(
        "api-1-20-endport",
        &[
            "scenarios/port-range.yaml",
            "scenarios/service-target.yaml",
            "--emulate",
            "api-1.20",
        ],
    );
    assert_eq!(code, 3, "{}", out.stdout);
    assert!(results["error"].is_null(), "{}", results["error"]);
    let scenarios = results["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["port-range", "service-target"]);
    let (range, service) = (&scenarios[0], &scenarios[1]);
    let error = range["setupError"].as_str().expect("a setup error");
    assert!(
        error.contains("the API server (Kubernetes v1.20.2) did not store NetworkPolicy"),
        "{error}"
    );
    assert!(
        error.contains("spec.ingress[0].ports[0].endPort (sent 8010) was dropped"),
        "{error}"
    );
    let range_probes = range["probes"].as_array().unwrap();
    assert!(!range_probes.is_empty(), "every probe is kept");
    for probe in range_probes {
        assert_eq!(probe["status"], "error", "{probe}");
        assert!(
            probe["message"].as_str().unwrap().contains("endPort"),
            "{probe}"
        );
    }
    let service_probes = service["probes"].as_array().unwrap();
    assert!(!service_probes.is_empty());
    for probe in service_probes {
        assert_eq!(probe["status"], "pass", "{probe}");
    }
    let xml = std::fs::read_to_string(dir.path().join("report.xml")).unwrap();
    assert!(xml.contains(r#"<testsuite name="port-range""#), "{xml}");
    assert!(xml.contains(r#"<testsuite name="service-target""#), "{xml}");
    assert_eq!(
        xml.matches("<testcase ").count(),
        range_probes.len() + service_probes.len(),
        "{xml}"
    );
    assert!(out.stdout.contains("setup failed:"), "{}", out.stdout);
}

#[test]
fn probe_pods_go_where_node_selectors_and_tolerations_let_them() {
    if !util::running_as_root() {
        return;
    }
    let (down, kubeconfig) = local_up("tnt");
    let name = down.0.clone();
    let kubectl = |args: &[&str]| kubectl_at(&kubeconfig, args);
    let tainted = kubectl(&["taint", "nodes", "--all", "dedicated=probes:NoSchedule"]);
    assert_eq!(tainted.matches("tainted").count(), 2, "{tainted}");
    let run = |extra: &[&str]| {
        TestCommand::in_repo()
            .args([
                "run",
                "scenarios/specific-port.yaml",
                "--kubeconfig",
                &kubeconfig,
            ])
            .args(["-q", "--pod-timeout", "5s"])
            .args(extra)
            .run()
    };

    let out = run(&[]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("2 node(s) had untolerated taint {dedicated: probes}"),
        "the scheduler's reason: {}",
        out.stdout
    );

    let worker = format!("{name}-worker");
    let selector = format!("kubernetes.io/hostname={worker}");
    let out = run(&[
        "--toleration",
        "dedicated=probes:NoSchedule",
        "--node-selector",
        &selector,
        "--keep",
        "--run-id",
        "placed",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let nodes = kubectl(&[
        "get",
        "pods",
        "-A",
        "-l",
        "netverdict.io/run=placed",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    let nodes: Vec<&str> = nodes.split_whitespace().collect();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert!(nodes.iter().all(|n| *n == worker), "{nodes:?}");
}

/// A local cluster started with `local up` for one test, stopped when dropped; its kubeconfig.
fn local_up(prefix: &str) -> (LocalDown, String) {
    util::local::local_up(prefix, &[])
}

/// Runs kubectl against `kubeconfig` and returns its stdout.
fn kubectl_at(kubeconfig: &str, args: &[&str]) -> String {
    let out = util::kubectl::command()
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (up to a minute) until `kubectl get` of `what` prints something.
fn wait_for(kubeconfig: &str, what: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while kubectl_at(kubeconfig, what).trim().is_empty() {
        assert!(Instant::now() < deadline, "never appeared: {what:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn read_json(path: &std::path::Path, out: &str) -> Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| panic!("no JSON results at {}: {out}", path.display()))
}

/// Run a's policy denies every ingress in shop3; run b's opens port 80 to every pod there, which
/// a's `a-web` needs; a's `a-wait` settles until the test opens port 9090 (after b ended), so a
/// outlives b; b's `b-admin` is denied by both policies.
const RUN_A: &str = "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: run-a}
spec:
  namespaces: [{name: shop3}]
  pods:
    - {name: a-client, namespace: shop3, labels: {app: a-client}}
    - {name: a-server, namespace: shop3, labels: {app: a-server}, ports: [{port: 80}, {port: 9090}]}
  policies:
    - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: a-deny, namespace: shop3}, spec: {podSelector: {}, policyTypes: [Ingress]}}
  probes:
    - {name: a-web, from: shop3/a-client, to: shop3/a-server, port: 80, expect: allow}
    - {name: a-wait, from: shop3/a-client, to: shop3/a-server, port: 9090, expect: allow}
";

const RUN_B: &str = "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: run-b}
spec:
  namespaces: [{name: shop3}]
  pods:
    - {name: b-client, namespace: shop3, labels: {app: b-client}}
    - {name: b-server, namespace: shop3, labels: {app: b-server}, ports: [{port: 80}, {port: 8080}]}
  policies:
    - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: b-open, namespace: shop3}, spec: {podSelector: {}, ingress: [{ports: [{port: 80}]}]}}
  probes:
    - {name: b-web, from: shop3/b-client, to: shop3/b-server, port: 80, expect: allow}
    - {name: b-admin, from: shop3/b-client, to: shop3/b-server, port: 8080, expect: auto}
";

/// Two runs against one cluster with the same namespace name: the second is refused before it
/// creates anything, naming the first; with --share-namespaces both run and each one's
/// predictions include the other's policy, named with its run; the namespace the first created
/// stays while the second's objects are in it.
#[test]
fn runs_sharing_a_namespace_are_refused_unless_they_opt_in_and_then_see_each_others_policies() {
    if !util::running_as_root() {
        return;
    }
    let (_down, kubeconfig) = local_up("shr");
    let dir = Dir::new("sharing");
    dir.create("a.yaml", RUN_A);
    dir.create("b.yaml", RUN_B);
    let run_args = |file: &str, id: &str| {
        vec![
            "run".to_owned(),
            file.to_owned(),
            "--kubeconfig".to_owned(),
            kubeconfig.clone(),
            "--run-id".to_owned(),
            id.to_owned(),
            "--json".to_owned(),
            format!("{id}.json"),
        ]
    };
    let a = Command::new(env!("CARGO_BIN_EXE_netverdict"))
        .current_dir(dir.path())
        .args(run_args("a.yaml", "a"))
        .args(["--share-namespaces", "--settle", "120s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let a = util::KillOnDrop(a);
    wait_for(
        &kubeconfig,
        &[
            "get",
            "networkpolicy",
            "-n",
            "shop3",
            "a-deny",
            "-o",
            "name",
        ],
    );

    let refused = dir.command().args(run_args("b.yaml", "c")).run();
    assert_eq!(refused.code, 3, "{}\n{}", refused.stdout, refused.stderr);
    let results = read_json(&dir.path().join("c.json"), &refused.stdout);
    let error = results["error"].as_str().expect("a run error");
    assert!(
        error.contains("namespace shop3 is in use by netverdict run a"),
        "{error}"
    );
    assert!(error.contains("--share-namespaces"), "{error}");
    assert!(probes(&results).is_empty(), "no verdict: {results}");
    let of_c = kubectl_at(
        &kubeconfig,
        &[
            "get",
            "pods,services,networkpolicies,namespaces",
            "-A",
            "-l",
            "netverdict.io/run=c",
            "-o",
            "name",
        ],
    );
    assert_eq!(of_c.trim(), "", "the refused run created nothing");

    let shared = dir
        .command()
        .args(run_args("b.yaml", "b"))
        .args(["--share-namespaces", "--keep"])
        .run();
    assert_eq!(shared.code, 0, "{}\n{}", shared.stdout, shared.stderr);
    let results = read_json(&dir.path().join("b.json"), &shared.stdout);
    let admin = probes(&results)
        .into_iter()
        .find(|p| p["name"] == "b-admin")
        .expect("probe b-admin");
    assert_eq!(admin["status"], "pass", "{admin}");
    let explanation = admin["prediction"]["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("shop3/a-deny is not the scenario's: it belongs to netverdict run a"),
        "{explanation}"
    );
    assert!(explanation.contains("shop3/b-open"), "{explanation}");

    // Someone else opens port 9090: a's last probe matches and a ends.
    dir.create(
        "opener.yaml",
        "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: opener, namespace: shop3}, spec: {podSelector: {matchLabels: {app: a-server}}, ingress: [{ports: [{port: 9090}]}]}}\n",
    );
    let applied = util::kubectl::command()
        .env("KUBECONFIG", &kubeconfig)
        .arg("apply")
        .arg("-f")
        .arg(dir.path().join("opener.yaml"))
        .output()
        .unwrap();
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );

    let mut a = a;
    let exit = a.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(a.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let results = read_json(&dir.path().join("a.json"), &stderr);
    assert_eq!(exit.code(), Some(0), "{results}\n{stderr}");
    let web = probes(&results)
        .into_iter()
        .find(|p| p["name"] == "a-web")
        .expect("probe a-web");
    assert_eq!(web["status"], "pass", "{web}");
    let prediction = &web["prediction"];
    assert_eq!(prediction["verdict"], "allow", "{web}");
    assert!(
        prediction["explanation"]
            .as_str()
            .unwrap()
            .contains("shop3/b-open is not the scenario's: it belongs to netverdict run b"),
        "{web}"
    );
    assert!(
        stderr.contains("namespace shop3 left in place: it holds"),
        "{stderr}"
    );
    let namespaces = kubectl_at(&kubeconfig, &["get", "namespace", "shop3", "-o", "name"]);
    assert_eq!(
        namespaces.trim(),
        "namespace/shop3",
        "b's objects are still in it"
    );
    let pods = kubectl_at(&kubeconfig, &["get", "pods", "-n", "shop3", "-o", "name"]);
    assert!(pods.contains("pod/b-server"), "{pods}");
}

/// A pod deleted by someone else mid-run makes every probe from or to it an error naming it,
/// never a failure nor `flapping`, and no report shows a Rust value.
#[test]
fn a_pod_someone_deletes_during_the_run_is_an_error_not_flapping() {
    if !util::running_as_root() {
        return;
    }
    let (_down, kubeconfig) = local_up("del");
    let dir = Dir::new("deleted-pod");
    // `stuck` keeps the run settling; `from-y` matches in the first round.
    dir.create(
        "deleted.yaml",
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: deleted}
spec:
  namespaces: [{name: shop3}]
  pods:
    - {name: client, namespace: shop3, labels: {app: client}}
    - {name: probe-y, namespace: shop3, labels: {app: y}, ports: [{port: 80}]}
    - {name: server, namespace: shop3, labels: {app: server}, ports: [{port: 80}]}
  policies:
    - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: shop3}, spec: {podSelector: {}, policyTypes: [Ingress]}}
  probes:
    - {name: stuck, from: shop3/client, to: shop3/probe-y, port: 80, expect: allow}
    - {name: from-y, from: shop3/probe-y, to: shop3/server, port: 80, expect: deny}
",
    );
    let child = Command::new(env!("CARGO_BIN_EXE_netverdict"))
        .current_dir(dir.path())
        .args(["run", "deleted.yaml", "--kubeconfig", &kubeconfig])
        .args(["--settle", "30s", "--json", "results.json"])
        .args(["--junit", "report.xml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = util::KillOnDrop(child);
    let running = [
        "get",
        "pods",
        "-n",
        "shop3",
        "--field-selector",
        "status.phase=Running",
        "-o",
        "name",
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    while kubectl_at(&kubeconfig, &running).lines().count() < 3 {
        assert!(Instant::now() < deadline, "the run never started its pods");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let it reach the probing rounds, then delete a pod as someone else would.
    std::thread::sleep(Duration::from_secs(3));
    let deleted = util::kubectl::command()
        .env("KUBECONFIG", &kubeconfig)
        .args(["delete", "pod", "-n", "shop3", "probe-y", "--wait=false"])
        .output()
        .unwrap();
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let exit = child.wait().unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert_eq!(exit.code(), Some(3), "could not judge: {stdout}");
    let json = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
    let results: Value = serde_json::from_str(&json).unwrap();
    for probe in probes(&results) {
        assert_eq!(probe["status"], "error", "{probe}");
        assert_eq!(
            probe["message"], "pod shop3/probe-y was deleted by someone else during the run",
            "{probe}"
        );
    }
    let junit = std::fs::read_to_string(dir.path().join("report.xml")).unwrap();
    for (report, text) in [("terminal", &stdout), ("JSON", &json), ("JUnit", &junit)] {
        assert!(!text.contains("flapping"), "{report}: {text}");
        for debug in ["Status {", "ErrorResponse", "Api(", "Some("] {
            assert!(!text.contains(debug), "{report} shows a Rust value: {text}");
        }
    }
    assert!(
        stdout.contains("pod shop3/probe-y was deleted by someone else during the run"),
        "{stdout}"
    );
}

/// A namespace whose policy denies every ingress: applied with kubectl, outside any run.
const DENY_ALL: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: localcmds-shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
";

const DENIED_PROBE: &str = "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: denied}
spec:
  namespaces: [{name: localcmds-shop}]
  pods:
    - {name: client, namespace: localcmds-shop, labels: {app: client}}
    - {name: server, namespace: localcmds-shop, labels: {app: server}, ports: [{port: 80}]}
  probes:
    - {name: denied-web, from: localcmds-shop/client, to: localcmds-shop/server, port: 80, expect: deny}
";

/// `local up --cni none` keeps a cluster whose network stores policies but never enforces
/// them: a policy applied with kubectl denies nothing, and a run against it sees the deny fail
/// as connected.
#[test]
fn a_cluster_up_without_enforcement_lets_a_kubectl_applied_deny_through() {
    if !util::running_as_root() {
        return;
    }
    let name = format!("localcmds-c{}", std::process::id() % 100_000);
    let _down = LocalDown(name.clone());
    let up = TestCommand::in_repo()
        .args(["local", "up", "--name", &name, "--cni", "none"])
        .args(["--policy-delay", "0s"])
        .run();
    assert_eq!(up.code, 0, "{}", up.stderr);
    let kubeconfig = format!("/run/netverdict/{name}/kubeconfig");
    let dir = Dir::new("cni-none-up");
    let policy = dir.create("deny.yaml", DENY_ALL);
    let scenario = dir.create("denied.yaml", DENIED_PROBE);
    let created = util::kubectl::command()
        .env("KUBECONFIG", &kubeconfig)
        .args(["create", "namespace", "localcmds-shop"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let applied = util::kubectl::command()
        .env("KUBECONFIG", &kubeconfig)
        .args(["apply", "-f"])
        .arg(&policy)
        .output()
        .unwrap();
    assert!(applied.status.success(), "{applied:?}");
    let json = dir.path().join("results.json");
    let out = TestCommand::in_repo()
        .args([
            "run",
            "-q",
            "--settle",
            "1s",
            "--kubeconfig",
            &kubeconfig,
            "--json",
        ])
        .args([&json, &scenario])
        .run();
    let results = read_json(&json, &out.stderr);
    assert!(results["error"].is_null(), "{}", results["error"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let all = probes(&results);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["status"], "fail", "{}", all[0]);
    assert_eq!(outcome(all[0]), "connected", "{}", all[0]);
}

/// `local status` names the one command that removes a dead instance, never `--all`, which would
/// stop every other instance too; and that command removes it.
#[test]
fn status_advises_removing_a_dead_instance_by_its_name() {
    if !util::running_as_root() {
        return;
    }
    let name = format!("st-dead{}", std::process::id() % 100_000);
    let _down = LocalDown(name.clone());
    let dir = std::path::Path::new("/run/netverdict").join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    // The pid of a process that has ended: the instance is dead.
    let mut ended = std::process::Command::new("true").spawn().unwrap();
    ended.wait().unwrap();
    std::fs::write(dir.join("pid"), ended.id().to_string()).unwrap();
    let status = TestCommand::in_repo().args(["local", "status"]).run();
    let line = status
        .stdout
        .lines()
        .find(|line| line.starts_with(&format!("{name}\t")))
        .unwrap_or_else(|| panic!("{name} not listed: {}", status.stdout));
    assert!(
        line.contains(&format!("`netverdict local down --name {name}`")),
        "{line}"
    );
    assert!(!line.contains("--all"), "{line}");
    let down = TestCommand::in_repo()
        .args(["local", "down", "--name", &name])
        .run();
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert!(!dir.exists(), "{} is still there", dir.display());
}

/// Someone's kubeconfig: a cluster, user and context of their own (with a field kubectl does not
/// know), their current context and preferences.
const OTHERS_KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443
    insecure-skip-tls-verify: true
    x-team: payments
contexts:
- name: prod
  context: {cluster: prod, user: admin, namespace: shop}
users:
- name: admin
  user: {token: \"0123\"}
current-context: prod
preferences: {}
";

/// `kubectl config view --raw -o json` of `file`: the kubeconfig as kubectl reads it.
fn kubeconfig_view(file: &std::path::Path) -> Value {
    let view = util::kubectl::command()
        .arg("--kubeconfig")
        .arg(file)
        .args(["config", "view", "--raw", "-o", "json"])
        .output()
        .unwrap();
    assert!(view.status.success(), "{view:?}");
    serde_json::from_slice(&view.stdout).unwrap()
}

fn named<'a>(view: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    view[list]
        .as_array()?
        .iter()
        .find(|entry| entry["name"] == name)
}

/// `local up --kubeconfig FILE` merges its cluster, user and context into a kubeconfig that holds
/// other entries, as kind does, and makes it the current context; `local down` takes out exactly
/// those entries and restores the current context. A file that is not a kubeconfig is refused,
/// naming it, before anything starts.
#[test]
fn local_up_merges_into_an_existing_kubeconfig_and_down_takes_out_exactly_its_entries() {
    use std::os::unix::fs::PermissionsExt;
    if !util::running_as_root() {
        return;
    }
    let name = format!("merge{}", std::process::id() % 100_000);
    let context = format!("netverdict-{name}");
    let _down = LocalDown(name.clone());
    let dir = Dir::new("merge-kubeconfig");
    let bad = dir.create("bad", "clusters: {prod: 1}\n");
    let refused = TestCommand::in_repo()
        .args(["local", "up", "--name", &name, "--kubeconfig"])
        .args([&bad])
        .run();
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    let expected = format!("the kubeconfig {} is not valid", bad.display());
    assert!(refused.stderr.contains(&expected), "{}", refused.stderr);
    let instance = std::path::Path::new("/run/netverdict").join(&name);
    assert!(!instance.join("pid").exists(), "nothing started");

    let file = dir.create("config", OTHERS_KUBECONFIG);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = kubeconfig_view(&file);
    let up = TestCommand::in_repo()
        .args(["local", "up", "--name", &name, "--kubeconfig"])
        .args([&file])
        .run();
    assert_eq!(up.code, 0, "{}{}", up.stdout, up.stderr);
    assert!(
        up.stdout
            .contains(&format!("merged cluster, user and context {context} into")),
        "{}",
        up.stdout
    );
    let during = kubeconfig_view(&file);
    assert_eq!(during["current-context"], context.as_str());
    for (list, other) in [
        ("clusters", "prod"),
        ("users", "admin"),
        ("contexts", "prod"),
    ] {
        assert_eq!(named(&during, list, other), named(&before, list, other));
        assert!(named(&during, list, &context).is_some(), "{list}: {during}");
    }
    let raw = std::fs::read_to_string(&file).unwrap();
    assert!(raw.contains("x-team: payments"), "{raw}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the file keeps its mode");
    let nodes = util::kubectl::command()
        .arg("--kubeconfig")
        .arg(&file)
        .args(["get", "nodes", "-o", "name"])
        .output()
        .unwrap();
    let nodes = String::from_utf8_lossy(&nodes.stdout);
    assert!(
        nodes.contains(&format!("node/{name}-control-plane")),
        "{nodes}"
    );

    let down = TestCommand::in_repo()
        .args(["local", "down", "--name", &name])
        .run();
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert!(
        down.stdout
            .contains(&format!("removed cluster, user and context {context} from")),
        "{}",
        down.stdout
    );
    assert_eq!(kubeconfig_view(&file), before);
    let raw = std::fs::read_to_string(&file).unwrap();
    assert!(raw.contains("x-team: payments"), "{raw}");
}

/// `run --local --keep` leaves its cluster running as a `netverdict local` instance and says how
/// to reach it and remove it; the `kubectl exec` line printed for a failed probe then runs, as
/// printed, in the probe's pod (it reaches a pod address, which only pods can); the printed
/// `local down` removes the cluster.
#[test]
fn a_kept_local_run_leaves_its_cluster_and_its_printed_kubectl_exec_runs_in_the_pod() {
    if !util::running_as_root() {
        return;
    }
    let run_id = format!("keep{}", std::process::id() % 100_000);
    let name = format!("r-{run_id}");
    let _down = LocalDown(name.clone());
    let dir = Dir::new("kept-local");
    let scenario = dir.create("denied.yaml", &DENIED_PROBE.replace("localcmds-", "kept-"));
    let out = TestCommand::in_repo()
        .args(["run", "--local", "--keep", "-q", "--settle", "0s"])
        .args(["--run-id", &run_id])
        .args([&scenario])
        .run();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let kubeconfig = out
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_suffix(" kubectl get pods -A"))
        .and_then(|l| l.strip_prefix("KUBECONFIG="))
        .unwrap_or_else(|| panic!("no KUBECONFIG line: {}", out.stdout))
        .to_owned();
    let exec = out
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("$ "))
        .unwrap_or_else(|| panic!("no command for the failure: {}", out.stdout));
    assert!(
        exec.starts_with("kubectl exec -n kept-shop client -- "),
        "{exec}"
    );
    let down = format!("netverdict local down --name {name}");
    assert!(out.stdout.contains(&down), "{}", out.stdout);
    let status = TestCommand::in_repo().args(["local", "status"]).run();
    assert!(
        status.stdout.contains(&format!("{name}\tready\t")),
        "{}",
        status.stdout
    );

    let kubectl = util::kubectl::kubectl();
    let kubectl_dir = std::fs::canonicalize(&kubectl).map_or_else(
        |_| std::path::PathBuf::new(),
        |p| p.parent().unwrap().to_owned(),
    );
    let path = format!(
        "{}:{}",
        kubectl_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let rerun = Command::new("sh")
        .args(["-c", exec])
        .env("KUBECONFIG", &kubeconfig)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        rerun.status.success(),
        "{exec}: {}",
        String::from_utf8_lossy(&rerun.stderr)
    );

    let removed = TestCommand::in_repo()
        .args(down.split_whitespace().skip(1))
        .run();
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    let status = TestCommand::in_repo().args(["local", "status"]).run();
    assert!(
        !status.stdout.contains(&format!("{name}\t")),
        "{}",
        status.stdout
    );
    let instance = std::path::Path::new("/run/netverdict").join(&name);
    assert!(!instance.exists(), "{} is left", instance.display());
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let netns = String::from_utf8_lossy(&netns.stdout);
    assert!(!netns.contains(&format!("nvl-{name}_")), "{netns}");
}
