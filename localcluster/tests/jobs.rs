//! batch/v1 Jobs in the local cluster, through the pinned kubectl as a user drives them: apply,
//! `kubectl wait --for=condition=complete|failed`, `kubectl logs job/NAME`, `kubectl get jobs`,
//! a back-off limit, a deadline, and deletion with each propagation policy. Needs root: skipped,
//! saying so, as another user.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use common::*;
use netverdict_apiserver::Resource;
use netverdict_localcluster::LocalCluster;
use serde_json::Value;

fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = kubectl::command()
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A Job running `sh -c script` once.
fn job(name: &str, script: &str, extra: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n  {extra}\n  template:\n    spec:\n      restartPolicy: Never\n      terminationGracePeriodSeconds: 1\n      containers:\n        - {{name: main, image: busybox, command: [sh, -c, {script:?}]}}\n"
    )
}

fn json_of(kubeconfig: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&ok(kubectl(kubeconfig, &all, None))).unwrap()
}

fn pods_of(cluster: &LocalCluster, job: &str) -> Vec<Value> {
    let selection = netverdict_apiserver::Selection {
        label_selector: Some(format!("job-name={job}")),
        ..Default::default()
    };
    cluster
        .store()
        .list(Resource::Pods, Some("default"), &selection)
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_completes_or_fails_as_kubectl_shows_it() {
    if !running_as_root() {
        return;
    }
    let cluster = LocalCluster::start(config("jobs")).await.unwrap();
    let kc = cluster.kubeconfig_path().to_path_buf();
    let kc = kc.as_path();
    let jobs = [
        job("ok", "echo hello from the job", "backoffLimit: 0"),
        job("bad", "echo giving up; exit 1", "backoffLimit: 0"),
        job("slow", "sleep 60", "activeDeadlineSeconds: 1"),
    ]
    .join("---\n");
    ok(kubectl(kc, &["apply", "-f", "-"], Some(&jobs)));
    let wait = |args: &[&str]| {
        let mut all = vec!["wait", "--timeout=90s"];
        all.extend(args);
        ok(kubectl(kc, &all, None))
    };
    wait(&["--for=condition=complete", "job/ok"]);
    assert_eq!(
        ok(kubectl(kc, &["logs", "job/ok"], None)),
        "hello from the job\n"
    );
    let listed = ok(kubectl(kc, &["get", "job", "ok"], None));
    let row: Vec<&str> = listed.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["ok", "Complete", "1/1"], "{listed}");
    let done = json_of(kc, &["get", "job", "ok"]);
    assert_eq!(done["status"]["succeeded"], 1);
    assert!(done["status"]["completionTime"].is_string(), "{done}");
    let types: Vec<&str> = done["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["type"].as_str())
        .collect();
    assert_eq!(types, ["SuccessCriteriaMet", "Complete"]);
    let pod = &pods_of(&cluster, "ok")[0];
    assert!(pod["metadata"]["name"].as_str().unwrap().starts_with("ok-"));
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Job");
    assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(
        pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"],
        done["metadata"]["uid"]
    );

    wait(&["--for=condition=failed", "job/bad"]);
    let failed = json_of(kc, &["get", "job", "bad"]);
    assert_eq!(failed["status"]["failed"], 1);
    let last = failed["status"]["conditions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&last["type"], &last["reason"]),
        (&Value::from("Failed"), &Value::from("BackoffLimitExceeded"))
    );
    let pods = pods_of(&cluster, "bad");
    assert_eq!(pods.len(), 1, "backoffLimit 0: no second pod");
    assert_eq!(
        pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        1
    );
    assert_eq!(ok(kubectl(kc, &["logs", "job/bad"], None)), "giving up\n");

    wait(&["--for=condition=failed", "job/slow"]);
    let slow = json_of(kc, &["get", "job", "slow"]);
    let last = slow["status"]["conditions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["reason"], "DeadlineExceeded", "{slow}");
    let listed = ok(kubectl(kc, &["get", "jobs"], None));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("slow") && l.contains(" Failed ")),
        "{listed}"
    );
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_job_deletes_or_orphans_its_pods_as_the_policy_says() {
    if !running_as_root() {
        return;
    }
    let cluster = LocalCluster::start(config("jobdel")).await.unwrap();
    let kc = cluster.kubeconfig_path().to_path_buf();
    let kc = kc.as_path();
    let store = cluster.store().clone();
    let jobs = [
        job("bg", "sleep 600", "backoffLimit: 0"),
        job("fg", "sleep 600", "backoffLimit: 0"),
        job("keep", "sleep 600", "backoffLimit: 0"),
    ]
    .join("---\n");
    ok(kubectl(kc, &["apply", "-f", "-"], Some(&jobs)));
    for name in ["bg", "fg", "keep"] {
        let mut running = false;
        for _ in 0..600 {
            if pods_of(&cluster, name)
                .iter()
                .any(|p| p["status"]["phase"] == "Running")
            {
                running = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(running, "job {name} never ran its pod");
    }
    let kept = pods_of(&cluster, "keep")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();

    // kubectl's default is background: the Job goes, then its pod.
    ok(kubectl(kc, &["delete", "job", "bg"], None));
    ok(kubectl(
        kc,
        &["delete", "job", "fg", "--cascade=foreground", "--wait=true"],
        None,
    ));
    assert!(
        pods_of(&cluster, "fg").is_empty(),
        "a foreground deletion ends once the pods are gone"
    );
    ok(kubectl(
        kc,
        &["delete", "job", "keep", "--cascade=orphan"],
        None,
    ));
    for _ in 0..600 {
        if pods_of(&cluster, "bg").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        pods_of(&cluster, "bg").is_empty(),
        "the Job's pod went after it"
    );
    let orphan = store.get(Resource::Pods, Some("default"), &kept).unwrap();
    assert!(
        orphan["metadata"]["deletionTimestamp"].is_null(),
        "{orphan}"
    );
    assert!(
        orphan["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{orphan}"
    );
    let left = ok(kubectl(kc, &["get", "jobs", "-o", "name"], None));
    assert_eq!(left, "");
    cluster.shutdown().await.unwrap();
}
