//! Enforcement conformance: for each policy case on the upstream e2e 3x3 model (namespaces x, y,
//! z; pods a, b, c serving TCP and UDP 80 and 81), real `nc` probes between all pods of a local
//! cluster observe exactly what the engine predicts, cell for cell. A failing case is printed as
//! truth tables: expected, observed, and their difference.
//!
//! Needs root (the local cluster creates network namespaces).

mod util;

use std::collections::BTreeMap;

use netverdict_engine::{Mark, TruthTable};
use util::Dir;

const PODS: [&str; 9] = [
    "x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c",
];

/// `(name, policies)`: each case's NetworkPolicies as items of `spec.policies`.
const CASES: &[(&str, &str)] = &[
    (
        "default-deny-ingress",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: x}, spec: {podSelector: {}, policyTypes: [Ingress]}}",
    ),
    (
        "default-deny-egress",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: x}, spec: {podSelector: {}, policyTypes: [Egress]}}",
    ),
    (
        "default-deny-all",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: y}, spec: {podSelector: {}, policyTypes: [Ingress, Egress]}}",
    ),
    (
        "allow-all-ingress-over-deny",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: x}, spec: {podSelector: {}, policyTypes: [Ingress]}}
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: allow-all, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{}]}}",
    ),
    (
        "allow-all-egress-over-deny",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: x}, spec: {podSelector: {}, policyTypes: [Egress]}}
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: allow-all, namespace: x}, spec: {podSelector: {matchLabels: {pod: b}}, policyTypes: [Egress], egress: [{}]}}",
    ),
    (
        "ingress-from-pod",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: a-from-b, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]}}",
    ),
    (
        "ingress-from-namespace",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: a-from-y, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]}}",
    ),
    (
        "ingress-pod-and-namespace",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: and, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: c}}}]}]}}",
    ),
    (
        "ingress-pod-or-namespace",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: or, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}, {podSelector: {matchLabels: {pod: c}}}]}]}}",
    ),
    (
        "namespace-selector-not-in",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: not-y, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [y]}]}}]}]}}",
    ),
    (
        "pod-selector-in",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: from-b-c, namespace: y}, spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {}, podSelector: {matchExpressions: [{key: pod, operator: In, values: [b, c]}]}}]}]}}",
    ),
    (
        "pod-selector-does-not-exist",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: no-label, namespace: x}, spec: {podSelector: {matchExpressions: [{key: app, operator: DoesNotExist}]}, ingress: [{from: [{podSelector: {matchExpressions: [{key: pod, operator: Exists}]}}]}]}}",
    ),
    (
        "ingress-numbered-port",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: port-80, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{port: 80}]}]}}",
    ),
    (
        "ingress-named-port",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: named, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{port: serve-81-tcp}]}]}}",
    ),
    (
        "ingress-named-udp-port",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: named-udp, namespace: x}, spec: {podSelector: {}, ingress: [{ports: [{port: serve-80-udp, protocol: UDP}]}]}}",
    ),
    (
        "ingress-protocol-only",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: udp-only, namespace: z}, spec: {podSelector: {}, ingress: [{ports: [{protocol: UDP}]}]}}",
    ),
    (
        "ingress-end-port",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: range, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{port: 81, endPort: 90, protocol: TCP}, {port: 70, endPort: 80, protocol: UDP}]}]}}",
    ),
    (
        "egress-to-namespace",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: a-to-y, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {matchLabels: {ns: y}}}]}]}}",
    ),
    (
        "egress-named-port",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: named-egress, namespace: x}, spec: {podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: serve-80-tcp}]}]}}",
    ),
    (
        "egress-udp-port",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: udp-81, namespace: y}, spec: {podSelector: {matchLabels: {pod: b}}, policyTypes: [Egress], egress: [{ports: [{port: 81, protocol: UDP}]}]}}",
    ),
    (
        "ingress-and-egress",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: both, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress, Egress], ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}], egress: [{to: [{namespaceSelector: {matchLabels: {ns: z}}}]}]}}",
    ),
    (
        "stacked-policies",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: from-y, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]}}
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: from-z-b, namespace: x}, spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: z}}, podSelector: {matchLabels: {pod: b}}}]}]}}",
    ),
    (
        "same-namespace-only",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: own-ns, namespace: y}, spec: {podSelector: {}, ingress: [{from: [{podSelector: {}}]}]}}",
    ),
    (
        "all-namespaces",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: any-ns, namespace: y}, spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {}}]}]}}",
    ),
    (
        "egress-ip-block-except",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: cidr, namespace: x, annotations: {netverdict.io/ignore-lints: 'no-dns-egress,ipblock-pod-range'}}, spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 10.244.0.0/16, except: [10.244.1.0/24]}}]}]}}",
    ),
    (
        "ingress-ip-block",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: cidr, namespace: z, annotations: {netverdict.io/ignore-lints: ipblock-pod-range}}, spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.244.0.0/24}}]}]}}",
    ),
    (
        "selects-no-pod",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: nothing, namespace: x}, spec: {podSelector: {matchLabels: {pod: nope}}, policyTypes: [Ingress, Egress]}}",
    ),
    (
        "rules-with-peers-and-ports",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: mixed, namespace: x}, spec: {podSelector: {matchLabels: {pod: c}}, ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: 80}]}, {from: [{namespaceSelector: {matchLabels: {ns: z}}}], ports: [{port: 81, protocol: UDP}]}]}}",
    ),
    (
        "egress-to-one-pod-port",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: to-x-c, namespace: y}, spec: {podSelector: {}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {matchLabels: {ns: x}}, podSelector: {matchLabels: {pod: c}}}], ports: [{port: 80, protocol: TCP}]}]}}",
    ),
    (
        "ingress-udp-from-namespace",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: udp-from-x, namespace: z}, spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: x}}}], ports: [{port: 81, protocol: UDP}]}]}}",
    ),
    (
        "namespace-isolation-both-ways",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: island, namespace: y}, spec: {podSelector: {}, policyTypes: [Ingress, Egress], ingress: [{from: [{podSelector: {}}]}], egress: [{to: [{podSelector: {}}]}]}}",
    ),
    (
        "ports-without-peers",
        r"
- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: any-on-80, namespace: z}, spec: {podSelector: {matchLabels: {pod: b}}, ingress: [{ports: [{port: 80, protocol: TCP}, {port: 80, protocol: UDP}]}]}}",
    ),
];

fn scenario(name: &str, policies: &str) -> String {
    let mut text = format!(
        "apiVersion: netverdict.io/v1alpha1\nkind: Scenario\nmetadata:\n  name: {name}\nspec:\n  namespaces:\n"
    );
    for ns in ["x", "y", "z"] {
        text.push_str(&format!("    - {{name: {ns}, labels: {{ns: {ns}}}}}\n"));
    }
    text.push_str("  pods:\n");
    for pod in PODS {
        let (ns, name) = pod.split_once('/').unwrap();
        text.push_str(&format!(
            "    - {{name: {name}, namespace: {ns}, labels: {{pod: {name}}}, ports: [{{port: 80, name: serve-80-tcp}}, \
             {{port: 81, name: serve-81-tcp}}, {{port: 80, protocol: UDP, name: serve-80-udp}}, \
             {{port: 81, protocol: UDP, name: serve-81-udp}}]}}\n"
        ));
    }
    text.push_str("  policies:");
    for line in policies.lines().filter(|l| !l.trim().is_empty()) {
        text.push_str(&format!("\n    {line}"));
    }
    text.push_str(&format!(
        "\n  probes:\n    - matrix:\n        from: [{pods}]\n        to: [{pods}]\n        ports: [80, 81, {{port: 80, protocol: UDP}}, {{port: 81, protocol: UDP}}]\n      expect: auto\n",
        pods = PODS.join(", ")
    ));
    text
}

fn mark(outcome: &serde_json::Value) -> Mark {
    match outcome["kind"].as_str() {
        Some("connected" | "http-status") => Mark::Allow,
        Some("timeout" | "refused") => Mark::Deny,
        _ => Mark::Unknown,
    }
}

#[test]
fn every_case_enforces_what_the_engine_predicts() {
    if !util::running_as_root() {
        return;
    }
    assert!(CASES.len() >= 30, "at least 30 cases");
    let dir = Dir::new("conformance");
    for (name, policies) in CASES {
        dir.create(&format!("cases/{name}.yaml"), &scenario(name, policies));
    }
    let out = dir
        .command()
        .args([
            "run",
            "cases",
            "--local",
            "--json",
            "results.json",
            "--timeout",
            "1s",
            "--settle",
            "3s",
            "-q",
        ])
        .run();
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    assert!(
        results["error"].is_null(),
        "the run did not complete: {}\n{}",
        results["error"],
        out.stderr
    );

    let mut report = String::new();
    let scenarios = results["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), CASES.len(), "{}", out.stdout);
    for scenario in scenarios {
        let name = scenario["name"].as_str().unwrap();
        let mut expected: BTreeMap<String, TruthTable> = BTreeMap::new();
        let mut observed: BTreeMap<String, TruthTable> = BTreeMap::new();
        let mut failed = false;
        for probe in scenario["probes"].as_array().unwrap() {
            let port = format!("{}/{}", probe["port"], probe["protocol"].as_str().unwrap());
            let table = |tables: &mut BTreeMap<String, TruthTable>| {
                tables
                    .entry(port.clone())
                    .or_insert_with(|| {
                        let labels: Vec<String> = PODS.iter().map(|p| (*p).to_owned()).collect();
                        TruthTable::new(labels.clone(), labels)
                    })
                    .clone()
            };
            let (from, to) = (
                probe["from"].as_str().unwrap(),
                probe["to"].as_str().unwrap(),
            );
            let mut e = table(&mut expected);
            e.set(from, to, Mark::from_allowed(probe["expect"] == "allow"));
            expected.insert(port.clone(), e);
            let mut o = table(&mut observed);
            o.set(from, to, mark(&probe["outcome"]));
            observed.insert(port.clone(), o);
            failed |= probe["status"] != "pass";
        }
        if failed {
            for (port, table) in &expected {
                let seen = &observed[port];
                let diff = table.diff(seen);
                if !diff.cells.is_empty() {
                    report.push_str(&format!(
                        "\n== {name} {port}\nexpected:\n{table}\nobserved:\n{seen}\ndifference:\n{diff}\n"
                    ));
                }
            }
            if report.is_empty() {
                report.push_str(&format!(
                    "\n== {name}: probes failed without a table difference:\n{}",
                    out.stdout
                ));
            }
        }
    }
    assert!(
        report.is_empty(),
        "observed matrices differ from the engine's:{report}"
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let probes: usize = scenarios
        .iter()
        .map(|s| s["probes"].as_array().unwrap().len())
        .sum();
    assert_eq!(probes, CASES.len() * PODS.len() * PODS.len() * 4);
}
