//! What the local cluster's policy enforcement does to real packets: state, DNS egress, and the
//! ingress-only CNI mode. Each test runs scenarios with `netverdict run --local`. Needs root.

mod util;

use serde_json::Value;
use util::Dir;

const HEADER: &str = "apiVersion: netverdict.io/v1alpha1\nkind: Scenario\n";

/// Runs the scenarios in `text` on a local cluster and returns the exit code and, per probe
/// name, its status and outcome.
fn run(test: &str, text: &str, extra: &[&str]) -> (i32, Vec<(String, String, String)>) {
    let dir = Dir::new(test);
    dir.create("scenario.yaml", text);
    let out = dir
        .command()
        .args([
            "run",
            "scenario.yaml",
            "--local",
            "-q",
            "--json",
            "results.json",
            "--settle",
            "2s",
        ])
        .args(extra)
        .run();
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    assert!(
        results["error"].is_null(),
        "{}\n{}",
        results["error"],
        out.stdout
    );
    let probes = results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["probes"].as_array().unwrap())
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["status"].as_str().unwrap().to_owned(),
                p["outcome"]["kind"].as_str().unwrap_or("none").to_owned(),
            )
        })
        .collect();
    (out.code, probes)
}

fn find<'a>(probes: &'a [(String, String, String)], name: &str) -> (&'a str, &'a str) {
    let (_, status, outcome) = probes
        .iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("{name}: {probes:?}"));
    (status, outcome)
}

#[test]
fn replies_of_allowed_connections_pass_a_denied_direction() {
    if !util::running_as_root() {
        return;
    }
    // b may not open connections (default-deny egress) but accepts them from a: a's connection
    // to b works, replies included; b's own connection to a does not.
    let text = format!(
        "{HEADER}metadata: {{name: stateful}}
spec:
  namespaces: [{{name: st}}]
  pods:
    - {{name: a, namespace: st, labels: {{app: a}}, ports: [{{port: 80}}, {{port: 53, protocol: UDP}}]}}
    - {{name: b, namespace: st, labels: {{app: b}}, ports: [{{port: 80}}, {{port: 53, protocol: UDP}}]}}
  policies:
    - {{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {{name: b-no-egress, namespace: st, annotations: {{netverdict.io/ignore-lints: no-dns-egress}}}}, spec: {{podSelector: {{matchLabels: {{app: b}}}}, policyTypes: [Egress]}}}}
    - {{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {{name: b-from-a, namespace: st}}, spec: {{podSelector: {{matchLabels: {{app: b}}}}, ingress: [{{from: [{{podSelector: {{matchLabels: {{app: a}}}}}}]}}]}}}}
  probes:
    - {{name: a to b over tcp, from: st/a, to: st/b, port: 80, expect: allow}}
    - {{name: a to b over udp, from: st/a, to: st/b, port: 53, protocol: UDP, expect: allow}}
    - {{name: b to a over tcp, from: st/b, to: st/a, port: 80, expect: deny}}
    - {{name: b to a over udp, from: st/b, to: st/a, port: 53, protocol: UDP, expect: deny}}
"
    );
    let (code, probes) = run("stateful", &text, &[]);
    assert_eq!(code, 0, "{probes:?}");
    assert_eq!(find(&probes, "a to b over tcp"), ("pass", "connected"));
    // The UDP echo coming back proves the reply passed b's egress deny.
    assert_eq!(find(&probes, "a to b over udp"), ("pass", "connected"));
    assert_eq!(find(&probes, "b to a over tcp"), ("pass", "timeout"));
    assert_eq!(find(&probes, "b to a over udp"), ("pass", "timeout"));
}

#[test]
fn a_default_deny_egress_blocks_dns_until_port_53_to_kube_dns_is_allowed() {
    if !util::running_as_root() {
        return;
    }
    let pods = "  namespaces: [{name: dnsq}]\n  pods:\n    - {name: client, namespace: dnsq, labels: {app: client}}\n";
    let deny = "    - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: dnsq, annotations: {netverdict.io/ignore-lints: no-dns-egress}}, spec: {podSelector: {}, policyTypes: [Egress]}}\n";
    let allow = "    - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: dns, namespace: dnsq}, spec: {podSelector: {}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}], ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}]}}\n";
    let probe = |name: &str, expect: &str| {
        format!(
            "  probes:\n    - {{name: {name}, from: dnsq/client, via: dns, query: kubernetes.default, expect: {expect}}}\n"
        )
    };
    let text = format!(
        "{HEADER}metadata: {{name: dns-denied}}\nspec:\n{pods}  policies:\n{deny}{}---\n{HEADER}metadata: {{name: dns-allowed}}\nspec:\n{pods}  policies:\n{deny}{allow}{}",
        probe("lookup without dns egress", "deny"),
        probe("lookup with dns egress", "allow"),
    );
    let (code, probes) = run("dns-egress", &text, &[]);
    assert_eq!(code, 0, "{probes:?}");
    assert_eq!(
        find(&probes, "lookup without dns egress"),
        ("pass", "dns-timeout")
    );
    assert_eq!(
        find(&probes, "lookup with dns egress"),
        ("pass", "connected")
    );
}

#[test]
fn an_ingress_only_network_ignores_egress_rules() {
    if !util::running_as_root() {
        return;
    }
    let text = format!(
        "{HEADER}metadata: {{name: ingress-only}}
spec:
  namespaces: [{{name: io}}]
  pods:
    - {{name: a, namespace: io, labels: {{app: a}}}}
    - {{name: b, namespace: io, labels: {{app: b}}, ports: [{{port: 80}}]}}
    - {{name: c, namespace: io, labels: {{app: c}}, ports: [{{port: 80}}]}}
  policies:
    - {{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {{name: a-no-egress, namespace: io, annotations: {{netverdict.io/ignore-lints: no-dns-egress}}}}, spec: {{podSelector: {{matchLabels: {{app: a}}}}, policyTypes: [Egress]}}}}
    - {{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {{name: c-no-ingress, namespace: io}}, spec: {{podSelector: {{matchLabels: {{app: c}}}}, policyTypes: [Ingress]}}}}
  probes:
    - {{name: egress deny, from: io/a, to: io/b, port: 80, expect: deny}}
    - {{name: ingress deny, from: io/b, to: io/c, port: 80, expect: deny}}
"
    );
    let (code, probes) = run("ingress-only", &text, &["--cni", "ingress-only"]);
    assert_eq!(code, 1, "{probes:?}");
    assert_eq!(find(&probes, "egress deny"), ("fail", "connected"));
    assert_eq!(find(&probes, "ingress deny"), ("pass", "timeout"));
    // The same scenario passes on an enforcing network.
    let (code, probes) = run("ingress-only-enforcing", &text, &[]);
    assert_eq!(code, 0, "{probes:?}");
}
