//! netverdict in a cluster, as a post-deploy hook runs it (issue 12, acceptance check 1): on a
//! local cluster, the library's namespaces made as namespaced mode needs them, `kubectl apply -f
//! deploy/` (accepted by `--dry-run=server` first), the Job runs the scenario library in its pod
//! with the ServiceAccount's namespaced RBAC and completes; its log ends with the summary and
//! the verdict; the results ConfigMap holds JSON and JUnit that agree with the log; nothing of
//! the run but that ConfigMap is left, and `netverdict cleanup` leaves it. Then a Job whose
//! scenario expects what the network does not do fails, exit code 1 in its pod's status.
//! Needs root: skipped, saying so, as another user.

mod util;

use std::path::Path;

use serde_json::{Value, json};
use util::local::local_up;
use util::{Dir, TestCommand};

/// Runs the pinned kubectl against `kubeconfig` with `stdin`; returns (success, stdout, stderr).
fn kubectl_raw(kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut child = util::kubectl::command()
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .current_dir(util::repo())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn kubectl(kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> String {
    let (ok, out, err) = kubectl_raw(kubeconfig, args, stdin);
    assert!(ok, "kubectl {args:?}: {out}{err}");
    out
}

fn json_of(kubeconfig: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&kubectl(kubeconfig, &all, None)).unwrap()
}

/// Waits until the Job finished, then for `condition` with `kubectl wait` (at once when the
/// Job has it); fails with its pod's log and description when it finished otherwise, or not
/// within the hang guard.
fn wait_job(kubeconfig: &str, job: &str, condition: &str) {
    for _ in 0..1200 {
        let (_, out, _) = kubectl_raw(
            kubeconfig,
            &[
                "-n",
                "netverdict",
                "get",
                "job",
                job,
                "-o",
                "jsonpath={.status.conditions[*].type}",
            ],
            None,
        );
        if out
            .split_whitespace()
            .any(|c| c == "Complete" || c == "Failed")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let wait = [
        "-n",
        "netverdict",
        "wait",
        &format!("--for=condition={condition}"),
        &format!("job/{job}"),
        "--timeout=5s",
    ];
    let (ok, out, err) = kubectl_raw(kubeconfig, &wait, None);
    if !ok {
        let logs = kubectl_raw(
            kubeconfig,
            &["-n", "netverdict", "logs", &format!("job/{job}")],
            None,
        );
        let described = kubectl_raw(
            kubeconfig,
            &["-n", "netverdict", "describe", "job,pods"],
            None,
        );
        panic!(
            "job {job} never {condition}: {out}{err}\nlog:\n{}{}\n{}",
            logs.1, logs.2, described.1
        );
    }
}

/// The last two lines of a log: the run's totals and the verdict.
fn last_two(log: &str) -> (String, String) {
    let lines: Vec<&str> = log.lines().collect();
    let n = lines.len();
    assert!(n >= 2, "{log}");
    (lines[n - 2].to_owned(), lines[n - 1].to_owned())
}

/// The run id and probe count of a `run ID: N probes passed, ...` line.
fn run_line(line: &str) -> (String, u64) {
    let rest = line
        .strip_prefix("run ")
        .unwrap_or_else(|| panic!("{line}"));
    let (id, counts) = rest.split_once(": ").unwrap();
    let passed = counts.split_whitespace().next().unwrap().parse().unwrap();
    (id.to_owned(), passed)
}

/// The results ConfigMaps of a series.
fn series(kubeconfig: &str, name: &str) -> Vec<Value> {
    let selector = format!("netverdict.io/results={name}");
    let list = json_of(
        kubeconfig,
        &["-n", "netverdict", "get", "configmaps", "-l", &selector],
    );
    list["items"].as_array().cloned().unwrap_or_default()
}

/// What is left of a run anywhere: objects with its label.
fn left_of(kubeconfig: &str, run: &str) -> String {
    let selector = format!("netverdict.io/run={run}");
    kubectl(
        kubeconfig,
        &[
            "get",
            "pods,services,networkpolicies,configmaps",
            "-A",
            "-l",
            &selector,
            "-o",
            "name",
        ],
        None,
    ) + &kubectl(
        kubeconfig,
        &["get", "namespaces", "-l", &selector, "-o", "name"],
        None,
    )
}

/// The JUnit report is one that CI viewers load.
fn check_junit(xml: &str, dir: &Dir) {
    let file = dir.create("junit.xml", xml);
    let check = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(util::repo().join("tests/data/junit.xsd"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn the_job_runs_the_library_in_cluster_and_keeps_its_results() {
    if !util::running_as_root() {
        return;
    }
    let (_down, admin) = local_up("inc", &[]);
    let admin = admin.as_str();
    let dir = Dir::new("in-cluster");
    kubectl(
        admin,
        &["apply", "-f", "deploy/library/namespaces.yaml"],
        None,
    );
    // What kubectl accepts on the server, before anything of it exists.
    kubectl(admin, &["create", "namespace", "netverdict"], None);
    kubectl(admin, &["apply", "--dry-run=server", "-f", "deploy/"], None);
    let (_, none, _) = kubectl_raw(
        admin,
        &["-n", "netverdict", "get", "jobs", "-o", "name"],
        None,
    );
    assert_eq!(none, "", "a dry run creates nothing");
    kubectl(admin, &["apply", "-f", "deploy/"], None);
    wait_job(admin, "netverdict", "complete");

    let log = kubectl(admin, &["-n", "netverdict", "logs", "job/netverdict"], None);
    let (totals, verdict) = last_two(&log);
    let (run, passed) = run_line(&totals);
    assert_eq!(
        totals,
        format!("run {run}: {passed} probes passed, 0 failed, 0 could not be judged"),
        "{log}"
    );
    assert_eq!(
        verdict,
        format!("verdict: PASSED: all {passed} probes met their expectations (exit 0)")
    );
    assert!(passed > 50, "the whole library ran: {log}");

    let stored = series(admin, "netverdict-results");
    assert_eq!(stored.len(), 1, "one ConfigMap per run: {stored:?}");
    let config_map = &stored[0];
    assert_eq!(
        config_map["metadata"]["name"],
        format!("netverdict-results-{run}").as_str()
    );
    let labels = &config_map["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "netverdict");
    assert_eq!(labels["netverdict.io/results-run"], run.as_str());
    assert!(labels["netverdict.io/run"].is_null(), "{labels}");
    let data = &config_map["data"];
    let results: Value = serde_json::from_str(data["results.json"].as_str().unwrap()).unwrap();
    assert_eq!(results["runId"], run.as_str());
    let probes: Vec<&Value> = results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["probes"].as_array().unwrap())
        .collect();
    assert_eq!(probes.len() as u64, passed);
    assert!(probes.iter().all(|p| p["status"] == "pass"));
    let summary: Value = serde_json::from_str(data["summary.json"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&summary["verdict"], &summary["passed"], &summary["failed"]),
        (&json!("passed"), &json!(passed), &json!(0))
    );
    let junit = data["junit.xml"].as_str().unwrap();
    check_junit(junit, &dir);
    assert_eq!(junit.matches("<testcase ").count() as u64, passed);

    // Nothing of the run but its results, which cleanup leaves.
    assert_eq!(left_of(admin, &run), "");
    let cleanup = TestCommand::in_repo()
        .args(["cleanup", "--run-id", &run, "--kubeconfig", admin])
        .run();
    assert_eq!(cleanup.code, 0, "{}{}", cleanup.stdout, cleanup.stderr);
    assert_eq!(series(admin, "netverdict-results").len(), 1);

    a_wrong_expectation_fails_the_job(admin, &dir);
}

/// A Job of deploy/job.yaml's shape whose scenario expects an allow the policy denies.
fn a_wrong_expectation_fails_the_job(admin: &str, dir: &Dir) {
    let scenario =
        std::fs::read_to_string(util::repo().join("scenarios/default-deny-ingress.yaml"))
            .unwrap()
            .replacen("expect: deny", "expect: allow", 1);
    let file = dir.create("wrong/default-deny-ingress.yaml", &scenario);
    let folder = file.parent().unwrap().to_string_lossy().into_owned();
    kubectl(
        admin,
        &[
            "-n",
            "netverdict",
            "create",
            "configmap",
            "netverdict-wrong",
            &format!("--from-file={folder}"),
        ],
        None,
    );
    let shipped = std::fs::read_to_string(util::repo().join("deploy/job.yaml")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&shipped).unwrap();
    let mut job = docs.last().unwrap().clone();
    job["metadata"]["name"] = json!("netverdict-wrong");
    let pod = &mut job["spec"]["template"]["spec"];
    pod["volumes"] = json!([{"name": "scenarios", "configMap": {"name": "netverdict-wrong"}}]);
    pod["containers"][0]["args"] = json!([
        "run",
        "/scenarios",
        "--results-configmap",
        "netverdict-wrong"
    ]);
    kubectl(admin, &["apply", "-f", "-"], Some(&job.to_string()));
    wait_job(admin, "netverdict-wrong", "failed");

    let failed = json_of(
        admin,
        &["-n", "netverdict", "get", "job", "netverdict-wrong"],
    );
    let last = failed["status"]["conditions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&last["type"], &last["reason"]),
        (&json!("Failed"), &json!("BackoffLimitExceeded"))
    );
    let pods = json_of(
        admin,
        &[
            "-n",
            "netverdict",
            "get",
            "pods",
            "-l",
            "job-name=netverdict-wrong",
        ],
    );
    let pods = pods["items"].as_array().unwrap();
    assert_eq!(pods.len(), 1, "backoffLimit 0: no second run");
    assert_eq!(
        pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        1
    );
    let log = kubectl(
        admin,
        &["-n", "netverdict", "logs", "job/netverdict-wrong"],
        None,
    );
    let (totals, verdict) = last_two(&log);
    let (run, passed) = run_line(&totals);
    assert_eq!(
        totals,
        format!("run {run}: {passed} probes passed, 1 failed, 0 could not be judged")
    );
    assert_eq!(
        verdict,
        "verdict: FAILED: 1 of 3 probes did not meet its expectation (exit 1)"
    );
    let stored = series(admin, "netverdict-wrong");
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0]["metadata"]["annotations"]["netverdict.io/verdict"],
        "failed"
    );
    let summary: Value =
        serde_json::from_str(stored[0]["data"]["summary.json"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&summary["failed"], &summary["exitCode"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(left_of(admin, &run), "");
    assert!(Path::new(admin).exists());
}
