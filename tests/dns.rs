//! DNS on a local cluster with the real nslookup, nc and curl: a DNS probe judges reaching the
//! server by any answer and its `answer` by what came back; a probe by host name resolves first,
//! so a name that cannot be resolved is a deny of DNS in one timeout, whatever the tool. Needs
//! root: skipped, saying so, as another user.

mod util;

use serde_json::Value;
use util::Dir;

/// Runs the scenario `file` of `dir` on a local cluster: exit code, stdout and the probes' JSON
/// results by name.
fn run(dir: &Dir, file: &str) -> (i32, String, Vec<Value>) {
    let out = dir
        .command()
        .args([
            "run",
            file,
            "--local",
            "-q",
            "--settle",
            "0s",
            "--json",
            "results.json",
        ])
        .run();
    let text = std::fs::read_to_string(dir.path().join("results.json"))
        .unwrap_or_else(|_| panic!("no results: {}\n{}", out.stdout, out.stderr));
    let results: Value = serde_json::from_str(&text).unwrap();
    assert!(results["error"].is_null(), "{}", results["error"]);
    let probes = results["scenarios"][0]["probes"]
        .as_array()
        .unwrap()
        .clone();
    (out.code, out.stdout, probes)
}

fn named<'a>(probes: &'a [Value], name: &str) -> &'a Value {
    probes
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no probe {name}: {probes:#?}"))
}

#[test]
fn dns_answers_are_judged_once_the_server_was_reached() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("dns-answers");
    dir.create(
        "answers.yaml",
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: dns-answers}
spec:
  defaults: {timeout: 2s}
  namespaces: [{name: answers}]
  pods:
    - {name: client, namespace: answers, labels: {app: client}}
  probes:
    - {name: gone, from: answers/client, via: dns, query: gone.test, answer: nxdomain}
    - {name: pinned, from: answers/client, via: dns, query: external.test, answer: {addresses: [203.0.113.10]}}
    - {name: wrongly gone, from: answers/client, via: dns, protocol: TCP, query: external.test, answer: nxdomain}
    - {name: reached, from: answers/client, via: dns, query: gone2.test}
",
    );
    let (code, stdout, probes) = run(&dir, "answers.yaml");
    assert_eq!(code, 1, "one answer is wrong: {stdout}");
    for name in ["gone", "pinned", "reached"] {
        let probe = named(&probes, name);
        assert_eq!(probe["status"], "pass", "{name}: {}", probe["message"]);
    }
    assert_eq!(named(&probes, "gone")["outcome"]["kind"], "dns-nxdomain");
    assert_eq!(named(&probes, "gone")["answer"], "nxdomain");
    let wrong = named(&probes, "wrongly gone");
    assert_eq!(wrong["status"], "fail", "{wrong}");
    assert!(
        wrong["message"].as_str().unwrap().contains(
            "the answer is addresses [203.0.113.10] where `answer: nxdomain` was expected"
        ),
        "{}",
        wrong["message"]
    );
}

#[test]
fn a_name_that_cannot_be_resolved_is_a_deny_of_dns_whatever_the_tool() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("unresolved");
    // `locked` may send nothing, DNS included; `open` may send anything.
    dir.create(
        "unresolved.yaml",
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: unresolved}
spec:
  defaults: {timeout: 1s}
  namespaces: [{name: unresolved}]
  pods:
    - {name: locked, namespace: unresolved, labels: {app: locked}}
    - {name: open, namespace: unresolved, labels: {app: open}}
  policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: locked-egress, namespace: unresolved, annotations: {netverdict.io/ignore-lints: no-dns-egress}}
      spec:
        podSelector: {matchLabels: {app: locked}}
        policyTypes: [Egress]
  probes:
    - {name: nc by name, from: unresolved/locked, to: {host: external.test}, port: 80, expect: deny}
    - {name: curl by name, from: unresolved/locked, to: {host: external.test}, port: 80, via: http, expect: deny}
    - {name: nc by name allowed, from: unresolved/open, to: {host: external.test}, port: 80, expect: allow}
    - {name: curl by name allowed, from: unresolved/open, to: {host: external.test}, port: 80, via: http, expect: allow}
",
    );
    let (code, stdout, probes) = run(&dir, "unresolved.yaml");
    assert_eq!(code, 0, "{stdout}");
    for name in ["nc by name", "curl by name"] {
        let probe = named(&probes, name);
        assert_eq!(probe["status"], "pass", "{name}: {}", probe["message"]);
        assert_eq!(probe["outcome"]["kind"], "dns-timeout", "{probe}");
        assert_eq!(probe["unresolved"], true, "{probe}");
        let output = probe["output"].as_str().unwrap();
        assert!(
            output.starts_with("resolving external.test first: timeout 1 nslookup"),
            "{probe}"
        );
    }
    for name in ["nc by name allowed", "curl by name allowed"] {
        let probe = named(&probes, name);
        assert_eq!(probe["status"], "pass", "{name}: {}", probe["message"]);
        assert!(
            probe["output"]
                .as_str()
                .unwrap()
                .starts_with("resolved external.test to 203.0.113.10: timeout 1 nslookup"),
            "{probe}"
        );
    }
}

#[test]
fn without_cluster_dns_or_external_hosts_the_allows_that_need_them_cannot_be_judged() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("no-dns");
    dir.create(
        "bare.yaml",
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: bare-cluster}
spec:
  defaults: {timeout: 2s}
  namespaces: [{name: bare}]
  pods:
    - {name: client, namespace: bare, labels: {app: client}}
    - {name: server, namespace: bare, labels: {app: server}, ports: [{port: 8080}]}
  probes:
    - {name: a pod, from: bare/client, to: bare/server, port: 8080, expect: allow}
    - {name: a name, from: bare/client, via: dns, query: kubernetes.default.svc.cluster.local, expect: allow}
    - {name: a host by name, from: bare/client, to: {host: external.test}, port: 80, via: http, expect: allow}
    - {name: a host by address, from: bare/client, to: {ip: 203.0.113.10}, port: 80, expect: allow}
",
    );
    let out = dir
        .command()
        .args(["run", "bare.yaml", "--local", "-q", "--settle", "0s"])
        .args(["--emulate", "no-cluster-dns,no-external-hosts"])
        .args(["--json", "results.json"])
        .run();
    let text = std::fs::read_to_string(dir.path().join("results.json"))
        .unwrap_or_else(|_| panic!("no results: {}\n{}", out.stdout, out.stderr));
    let results: Value = serde_json::from_str(&text).unwrap();
    let probes = results["scenarios"][0]["probes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        out.code, 3,
        "could not be judged, nothing failed: {}",
        out.stdout
    );
    assert_eq!(named(&probes, "a pod")["status"], "pass");
    // Nothing serves DNS: the pods' nameserver refuses, which the policies do not explain.
    let dns = named(&probes, "a name");
    assert_eq!(dns["outcome"]["kind"], "refused", "{dns}");
    assert_eq!(dns["status"], "inconclusive", "{dns}");
    assert!(
        dns["message"]
            .as_str()
            .unwrap()
            .contains("a cluster without cluster DNS?"),
        "{dns}"
    );
    let by_name = named(&probes, "a host by name");
    assert_eq!(by_name["status"], "inconclusive", "{by_name}");
    assert!(by_name["unresolved"].as_bool().unwrap(), "{by_name}");
    assert!(
        by_name["message"]
            .as_str()
            .unwrap()
            .contains("so nothing was probed"),
        "{by_name}"
    );
    // No route out of the pod and Service ranges: unreachable at once, an error of the probe.
    let by_address = named(&probes, "a host by address");
    assert_eq!(by_address["status"], "error", "{by_address}");
    assert!(
        by_address["message"]
            .as_str()
            .unwrap()
            .contains("Network is unreachable"),
        "{by_address}"
    );
}
