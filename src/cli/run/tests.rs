//! `netverdict run --kubeconfig` against the in-memory test cluster, from the arguments to the
//! exit code and the reports; no root.

use clap::Parser;
use netverdict_probes::Outcome;
use serde_json::Value;

use super::run_until;
use crate::cli::exit;
use crate::cli::{Args, Command};
use crate::cluster::RunId;
use crate::cluster::testing::{Reply, TestCluster};
use crate::run::StopButton;

const SCENARIO: &str = "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: shop}
spec:
  namespaces: [{name: shop}]
  pods:
    - {name: api, namespace: shop, labels: {app: api}}
    - {name: web, namespace: shop, labels: {app: web}}
    - {name: db, namespace: shop, labels: {app: db}, ports: [{port: 5432}]}
  policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: db-from-api, namespace: shop}
      spec:
        podSelector: {matchLabels: {app: db}}
        ingress: [{from: [{podSelector: {matchLabels: {app: api}}}]}]
  probes:
    - {name: api-to-db, from: shop/api, to: shop/db, port: 5432, expect: allow}
    - {name: web-to-db, from: shop/web, to: shop/db, port: 5432, expect: deny}
";

/// `netverdict run SCENARIO --kubeconfig KUBECONFIG --run-id RUN --json ... --junit ...` in
/// `dir`: the exit code, the terminal summary and the JSON report.
fn run_in(dir: &std::path::Path, run: &str) -> (u8, String, Value) {
    let path = |name: &str| dir.join(name).display().to_string();
    let args = Args::try_parse_from([
        "netverdict",
        "run",
        &path("shop.yaml"),
        "--kubeconfig",
        &path("kubeconfig"),
        "--run-id",
        run,
        "--settle",
        "0s",
        "--json",
        &path("results.json"),
        "--junit",
        &path("report.xml"),
        "--quiet",
    ])
    .unwrap();
    let Command::Run(args) = args.command else {
        unreachable!("a run command");
    };
    let mut out = Vec::new();
    let code = run_until(&args, &mut out, &StopButton::new()).unwrap();
    let json = std::fs::read_to_string(dir.join("results.json")).unwrap();
    (
        code,
        String::from_utf8(out).unwrap(),
        serde_json::from_str(&json).unwrap(),
    )
}

fn statuses(results: &Value) -> Vec<(String, String)> {
    results["scenarios"][0]["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].to_string(), p["status"].to_string()))
        .collect()
}

#[test]
fn a_run_exits_0_where_the_network_agrees_and_1_where_it_does_not() {
    // The cluster runs on a runtime of its own; the command makes its own, as in main.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = runtime.block_on(TestCluster::start());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kubeconfig"), cluster.kubeconfig()).unwrap();
    std::fs::write(dir.path().join("shop.yaml"), SCENARIO).unwrap();

    let (code, out, results) = run_in(dir.path(), "cli-agree");
    assert_eq!(code, exit::OK, "{out}");
    assert_eq!(
        statuses(&results),
        [
            (r#""shop/api-to-db""#.to_owned(), r#""pass""#.to_owned()),
            (r#""shop/web-to-db""#.to_owned(), r#""pass""#.to_owned()),
        ]
    );
    assert_eq!(results["error"], Value::Null);
    assert!(
        out.ends_with(
            "run cli-agree: 2 probes passed, 0 failed, 0 could not be judged\n\
             verdict: PASSED: all 2 probes met their expectations (exit 0)\n"
        ),
        "{out}"
    );
    let selector = RunId::parse("cli-agree").unwrap().selector();
    assert_eq!(cluster.objects(&selector), Vec::<String>::new());

    // The network lets web reach db.
    cluster.script.answer(|call| {
        let from_web = call.pod == "shop/web" && !call.is_control();
        from_web.then_some(Reply::Outcome(Outcome::Connected))
    });
    let (code, out, results) = run_in(dir.path(), "cli-disagree");
    assert_eq!(code, exit::EXPECTATION_FAILED, "{out}");
    assert_eq!(statuses(&results)[1].1, r#""fail""#);
    assert!(
        out.contains("): connected: not blocked, although the network enforces NetworkPolicy ("),
        "{out}"
    );
    assert!(
        out.contains("\n    shop/web -> shop/db:5432/TCP (tcp) expect deny\n    $ kubectl exec -n shop web -- nc "),
        "{out}"
    );
    let junit = std::fs::read_to_string(dir.path().join("report.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuite name="shop" tests="2" skipped="0" errors="0" failures="1""#),
        "{junit}"
    );
    let selector = RunId::parse("cli-disagree").unwrap().selector();
    assert_eq!(cluster.objects(&selector), Vec::<String>::new());
}
