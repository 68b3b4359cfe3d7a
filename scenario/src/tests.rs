//! Table tests of loading: expansion into probes, defaults, and one test per validation error.

use std::path::Path;
use std::time::Duration;

use netverdict_engine::Protocol;

use crate::{
    DenyMode, ExpectSource, HostTable, Loaded, PodRef, Scheme, Target, Verdict, Via, load_str,
};

/// A scenario with namespaces `a` and `b`, pods `a/web` (no ports), `a/api` (8080 http, 5353/UDP
/// dns, 9090), `a/db` (5432 postgres), `b/api` (8080 http), a service `a/api` (80 -> http), and
/// the given policies and probes (YAML list items indented by four spaces).
fn mk_scenario(policies: &str, probes: &str) -> String {
    format!(
        r#"apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {{name: test}}
spec:
  namespaces:
    - {{name: a, labels: {{team: a}}}}
    - {{name: b}}
  pods:
    - {{name: web, namespace: a, labels: {{app: web}}}}
    - name: api
      namespace: a
      labels: {{app: api}}
      ports: [{{port: 8080, name: http}}, {{port: 5353, protocol: UDP, name: dns}}, {{port: 9090}}]
    - {{name: db, namespace: a, labels: {{app: db}}, ports: [{{port: 5432, name: postgres}}]}}
    - {{name: api, namespace: b, labels: {{app: api}}, ports: [{{port: 8080, name: http}}]}}
  services:
    - {{name: api, namespace: a, selector: {{app: api}}, ports: [{{port: 80, targetPort: http, name: web}}]}}
  policies:
{policies}
  probes:
{probes}"#
    )
}

fn load(policies: &str, probes: &str) -> Loaded {
    load_str(
        Path::new("t.yaml"),
        &mk_scenario(policies, probes),
        &hosts(),
    )
}

fn ok(policies: &str, probes: &str) -> crate::Scenario {
    let loaded = load(policies, probes);
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    loaded.scenarios.into_iter().next().expect("a scenario")
}

/// The first error, as printed.
fn error(policies: &str, probes: &str) -> String {
    let loaded = load(policies, probes);
    assert!(
        loaded.scenarios.is_empty(),
        "a scenario with errors is not kept"
    );
    loaded
        .diagnostics
        .iter()
        .find(|d| d.is_error())
        .map(ToString::to_string)
        .expect("an error")
}

const NO_POLICIES: &str = "    []";

/// The hosts the tests know: one external host, as a local cluster emulates it.
fn hosts() -> HostTable {
    HostTable::from_iter([("external.test".to_string(), "203.0.113.10".parse().unwrap())])
}

#[test]
fn a_single_probe_keeps_everything_the_runner_needs() {
    let s = ok(
        NO_POLICIES,
        "    - {name: one, from: a/web, to: a/api, port: http, expect: deny, timeout: 750ms, deny: reject}",
    );
    assert_eq!(s.probes.len(), 1);
    let p = &s.probes[0];
    assert_eq!(p.scenario, "test");
    assert_eq!(p.name, "one");
    assert_eq!(p.from, PodRef::new("a", "web"));
    assert_eq!(p.target, Target::Pod(PodRef::new("a", "api")));
    assert_eq!(
        (p.port, p.port_name.as_deref(), p.protocol, p.via),
        (8080, Some("http"), Protocol::Tcp, Via::Tcp)
    );
    assert_eq!(
        (p.expect.source, p.expect.verdict),
        (ExpectSource::Explicit, Some(Verdict::Deny))
    );
    assert_eq!(
        (p.timeout, p.deny),
        (Duration::from_millis(750), DenyMode::Reject)
    );
    assert_eq!((p.http.as_ref(), p.dns.as_ref()), (None, None));
    assert_eq!(
        (p.location.line, p.location.column, p.path.as_str()),
        (21, 7, "spec.probes[0]")
    );
}

/// A probe listed on its own and covered by a matrix as well is one probe: the explicit
/// expectation is judged (the engine's `auto` is its opinion), whichever comes first.
#[test]
fn identical_probes_are_one_probe_and_the_written_expectation_wins() {
    let matrix = "    - {matrix: {from: [a/web], to: [a/api, b/api], ports: [8080]}}";
    let explicit =
        "    - {name: api-closed, from: a/web, to: a/api, port: 8080, expect: deny, timeout: 1s}";
    for probes in [
        format!("{explicit}\n{matrix}"),
        format!("{matrix}\n{explicit}"),
    ] {
        let s = ok(NO_POLICIES, &probes);
        assert_eq!(s.probes.len(), 2, "{probes}");
        let api = s
            .probes
            .iter()
            .find(|p| p.port == 8080 && p.target == Target::Pod(PodRef::new("a", "api")))
            .unwrap();
        assert_eq!(api.name, "api-closed");
        assert_eq!(
            (api.expect.source, api.expect.verdict),
            (ExpectSource::Explicit, Some(Verdict::Deny))
        );
        assert_eq!(api.timeout, Duration::from_secs(1));
        let names: Vec<&str> = s.probes.iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"a/web -> b/api:8080/TCP"), "{names:?}");
    }
    // Agreeing expectations merge; so do two `auto`s.
    let s = ok(
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, expect: allow}\n    - {from: a/web, to: a/api, port: 8080, expect: allow}\n    - {from: a/web, to: a/api, port: 8080}",
    );
    assert_eq!(s.probes.len(), 1);
    assert_eq!(s.probes[0].path, "spec.probes[0]");
    // Another path or kind is another probe.
    let s = ok(
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, via: http, path: /a}\n    - {name: b, from: a/web, to: a/api, port: 8080, via: http, path: /b}\n    - {name: c, from: a/web, to: a/api, port: 8080}",
    );
    assert_eq!(s.probes.len(), 3);
}

/// Probes that differ only in their HTTP path or DNS query are different probes with names of
/// their own, not a clash of names.
#[test]
fn generated_names_tell_paths_and_queries_apart() {
    let s = ok(
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, via: http, path: /a}
    - {from: a/web, to: a/api, port: 8080, via: http, path: /b}
    - {from: a/web, to: a/api, port: 8080, via: http}
    - {from: a/web, via: dns, query: one.test}
    - {from: a/web, via: dns, query: two.test}",
    );
    let names: Vec<&str> = s.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a/web -> a/api:8080/TCP via http /a",
            "a/web -> a/api:8080/TCP via http /b",
            "a/web -> a/api:8080/TCP via http",
            "a/web -> cluster DNS:53/UDP via dns one.test",
            "a/web -> cluster DNS:53/UDP via dns two.test",
        ]
    );
}

#[test]
fn dns_answers_are_read_as_written() {
    let s = ok(
        NO_POLICIES,
        "    - {from: a/web, via: dns, query: old.test, answer: nxdomain}
    - {from: a/web, via: dns, query: new.test, answer: resolves}
    - {from: a/web, via: dns, query: two.test, answer: {addresses: [203.0.113.11, 203.0.113.10]}}
    - {from: a/web, via: dns, query: any.test}",
    );
    let answers: Vec<Option<String>> = s
        .probes
        .iter()
        .map(|p| {
            p.dns
                .as_ref()
                .unwrap()
                .answer
                .as_ref()
                .map(ToString::to_string)
        })
        .collect();
    assert_eq!(
        answers,
        [
            Some("nxdomain".to_owned()),
            Some("resolves".to_owned()),
            Some("addresses [203.0.113.10, 203.0.113.11]".to_owned()),
            None
        ]
    );
}

#[test]
fn defaults_and_generated_names() {
    let s = ok(
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 5353, protocol: UDP}\n    - {from: a/web, to: a/api, port: 8080, via: http, path: /x, status: 204}",
    );
    let udp = &s.probes[0];
    assert_eq!(udp.name, "a/web -> a/api:5353/UDP");
    assert_eq!(
        (udp.protocol, udp.via, udp.port_name.as_deref()),
        (Protocol::Udp, Via::Udp, Some("dns"))
    );
    assert_eq!(
        (udp.timeout, udp.deny),
        (Duration::from_secs(2), DenyMode::Any)
    );
    assert_eq!(udp.expect.source, ExpectSource::Auto);
    assert_eq!(
        udp.expect.verdict,
        Some(Verdict::Allow),
        "no policy: auto is allow"
    );
    let http = &s.probes[1];
    assert_eq!(http.name, "a/web -> a/api:8080/TCP via http /x");
    let check = http.http.as_ref().unwrap();
    assert_eq!(
        (check.scheme, check.path.as_str(), check.status),
        (Scheme::Http, "/x", Some(204))
    );
}

#[test]
fn dns_probes_default_to_the_cluster_resolver() {
    let s = ok(
        NO_POLICIES,
        "    - {from: a/web, via: dns, query: external.test}\n    - {from: a/web, via: dns, protocol: TCP, query: external.test}\n    - {from: a/web, to: a/api, port: dns, via: dns, query: x.test}",
    );
    let p = &s.probes[0];
    assert_eq!(
        (&p.target, p.port, p.protocol),
        (&Target::ClusterDns, 53, Protocol::Udp)
    );
    assert_eq!(p.dns.as_ref().unwrap().query, "external.test");
    assert_eq!(s.probes[1].protocol, Protocol::Tcp);
    assert_eq!(
        error(
            NO_POLICIES,
            "    - {from: a/web, to: a/db, via: dns, query: x.test}"
        ),
        "t.yaml:21:7: error: spec.probes[0]: port 53/UDP is not served by a/db (it serves 5432/TCP (postgres))"
    );
}

#[test]
fn matrices_expand_cell_by_cell_in_order() {
    let s = ok(
        NO_POLICIES,
        "    - name: m\n      matrix:\n        from: [a/web, a/db]\n        to: [a/api]\n        ports: [http, 9090, {port: 5353, protocol: UDP}]\n      expect: allow",
    );
    let names: Vec<&str> = s.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "m: a/web -> a/api:8080/TCP",
            "m: a/db -> a/api:8080/TCP",
            "m: a/web -> a/api:9090/TCP",
            "m: a/db -> a/api:9090/TCP",
            "m: a/web -> a/api:5353/UDP",
            "m: a/db -> a/api:5353/UDP"
        ]
    );
    assert!(
        s.probes
            .iter()
            .all(|p| p.expect.source == ExpectSource::Explicit)
    );
}

#[test]
fn matrix_port_problems_are_reported_once_per_target() {
    let loaded = load(
        NO_POLICIES,
        "    - matrix:\n        from: [a/web, a/db, b/api]\n        to: [a/api, b/api]\n        ports: [5353]",
    );
    let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(
        errors.len(),
        2,
        "one per target, not per source: {errors:#?}"
    );
    assert!(
        errors[0]
            .message
            .contains("port 5353/TCP is not served by a/api")
    );
    assert!(
        errors[1]
            .message
            .contains("port 5353/TCP is not served by b/api")
    );
}

#[test]
fn truth_tables_per_port() {
    let s = ok(
        NO_POLICIES,
        r#"    - matrix:
        from: [a/web, a/db]
        to: [a/api]
        ports: [8080, 9090]
      expect:
        8080: |
          -     a/api
          a/web .
          a/db  X
        9090: |
          a/api
          a/web ?
          a/db  ."#,
    );
    let cells: Vec<(String, u16, Option<Verdict>)> = s
        .probes
        .iter()
        .map(|p| (p.from.to_string(), p.port, p.expect.verdict))
        .collect();
    assert_eq!(
        cells,
        [
            ("a/web".into(), 8080, Some(Verdict::Allow)),
            ("a/db".into(), 8080, Some(Verdict::Deny)),
            ("a/db".into(), 9090, Some(Verdict::Allow))
        ]
    );
    assert!(
        s.probes
            .iter()
            .all(|p| p.expect.source == ExpectSource::Table)
    );
}

#[test]
fn pods_selectors_and_services_expand() {
    let s = ok(
        NO_POLICIES,
        "    - {name: apis, from: a/web, to: {pods: {namespace: a, selector: {matchLabels: {app: api}}}}, port: 8080}",
    );
    assert_eq!(
        s.probes.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["apis"]
    );
    let s = ok(
        NO_POLICIES,
        "    - {from: a/web, to: {service: api, namespace: a}, port: web, via: http}",
    );
    let p = &s.probes[0];
    assert_eq!((p.port, p.port_name.as_deref()), (80, Some("web")));
    assert_eq!(
        p.target,
        Target::Service {
            namespace: "a".into(),
            name: "api".into(),
            backends: vec![PodRef::new("a", "api")],
            target_port: 8080,
            live: false,
        }
    );
}

#[test]
fn auto_uses_the_scenario_policies() {
    let policies = r#"    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: api-from-web, namespace: a}
      spec:
        podSelector: {matchLabels: {app: api}}
        ingress:
          - from: [{podSelector: {matchLabels: {app: web}}}]
            ports: [{port: http}]"#;
    let s = ok(
        policies,
        "    - {from: a/web, to: a/api, port: 8080}\n    - {from: a/db, to: a/api, port: 8080}\n    - {from: a/web, to: a/api, port: 9090}\n    - {from: a/db, to: {service: api, namespace: a}, port: 80}",
    );
    let verdicts: Vec<Option<Verdict>> = s.probes.iter().map(|p| p.expect.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Some(Verdict::Allow),
            Some(Verdict::Deny),
            Some(Verdict::Deny),
            Some(Verdict::Deny)
        ]
    );
    assert!(
        s.probes[0]
            .expect
            .reason
            .as_deref()
            .unwrap()
            .contains("a/api-from-web, ingress rule 0")
    );
}

/// `(policies, probes, the first error contains)`: one case per validation error.
const ERROR_CASES: &[(&str, &str, &str)] = &[
    (
        NO_POLICIES,
        "    - {from: a/web, via: dns, query: old.test, answer: nxdomian}",
        "spec.probes[0].answer: \"nxdomian\" is no answer: use nxdomain, resolves or {addresses: [...]}; did you mean nxdomain?",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, via: dns, query: a.test, answer: {addresses: [203.0.113.300]}}",
        "spec.probes[0].answer.addresses[0]: \"203.0.113.300\" is not an IP address",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, answer: resolves}",
        "spec.probes[0].answer: `answer` only applies to `via: dns` probes",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, via: dns, query: a.test, answer: resolves, expect: deny}",
        "spec.probes[0].answer: `answer` says what a reached DNS server must answer",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/apii, port: 8080}",
        "spec.probes[0].to: pod a/apii is not defined in this scenario; did you mean a/api?",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api}",
        "spec.probes[0]: `port` is required",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, port: 8080}",
        "spec.probes[0]: `to` is required",
    ),
    (
        NO_POLICIES,
        "    - {to: a/api, port: 8080}",
        "spec.probes[0]: a probe needs `from`",
    ),
    (
        NO_POLICIES,
        "    - {from: web, to: a/api, port: 8080}",
        "spec.probes[0].from: \"web\" is not a pod reference: write <namespace>/<pod>",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 70000}",
        "spec.probes[0].port: port 70000 is out of range",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: http, protocol: UDP}",
        "port http is TCP but the probe says protocol UDP",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, via: udp, protocol: TCP}",
        "via udp cannot run over TCP",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 5353}",
        "port 5353/TCP is not served by a/api (it serves 8080/TCP (http), 5353/UDP (dns), 9090/TCP); add `protocol: UDP`",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: {pods: {namespace: a, selector: {matchLabels: {app: db}}}}, port: 8080}",
        "port 8080/TCP is not served by a/db",
    ),
    (
        NO_POLICIES,
        "    - {matrix: {from: [a/web], to: [a/api], ports: [http, 8080]}}",
        "this entry yields the probe \"a/web -> a/api:8080/TCP\" twice",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, path: /x}",
        "`path`, `scheme` and `status` only apply to `via: http` probes",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, query: x.test}",
        "`query` only applies to `via: dns` probes",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, via: dns}",
        "a `via: dns` probe needs `query`",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, via: http, status: 700}",
        "700 is not an HTTP status code",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: {ip: 300.1.1.1}, port: 80}",
        "spec.probes[0].to.ip: \"300.1.1.1\" is not an IPv4 or IPv6 address",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: {ip: 203.0.113.10}, port: http}",
        "port names only work for scenario pods and services",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: {service: apx, namespace: a}, port: 80}",
        "spec.probes[0].to.service: service a/apx is not defined in spec.services; did you mean a/api?",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: {service: api, namespace: a}, port: 81}",
        "service a/api has no port 81/TCP",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: {service: api}, port: 80}",
        "a service target needs `namespace`",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: {host: a.test, ip: 1.2.3.4}, port: 80}",
        "a target map holds exactly one of",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: {pods: {namespace: a, selector: {matchLabels: {app: nope}}}}, port: 80}",
        "spec.probes[0].to.pods.selector: selector app=nope matches no pod of namespace a",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, expect: \"-  a/api\\na/web .\\n\"}",
        "truth tables are for a `matrix`",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, timeout: 0s}",
        "spec.probes[0].timeout: a timeout of 0s is out of range: use 100ms to 5m",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, timeout: 50ms}",
        "spec.probes[0].timeout: a timeout of 50ms is out of range: use 100ms to 5m",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, timeout: 1h}",
        "spec.probes[0].timeout: a timeout of 1h is out of range: use 100ms to 5m",
    ),
    (
        NO_POLICIES,
        "    - {name: x, from: a/web, to: a/api, port: 8080}\n    - {name: x, from: a/web, to: a/db, port: 5432}",
        "spec.probes[1]: probe name \"x\" is already used by spec.probes[0]",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, expect: allow}\n    - {matrix: {from: [a/web], to: [a/api, b/api], ports: [8080]}, expect: deny}",
        "t.yaml:22:7: error: spec.probes[1]: this entry expects deny for \"a/web -> a/api:8080/TCP\", which spec.probes[0] (t.yaml:21:7) expects allow: an identical probe cannot expect both",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, expect: deny}\n    - {from: a/web, to: a/api, port: 8080, expect: deny, deny: reject}",
        "spec.probes[1]: this entry's `deny` mode for \"a/web -> a/api:8080/TCP\" is not the one spec.probes[0] (t.yaml:21:7) gives it",
    ),
    (
        NO_POLICIES,
        "    - {name: \"\", from: a/web, to: a/api, port: 8080}",
        "spec.probes[0].name: \"\" is not a valid probe name",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, matrix: {from: [a/web], to: [a/api], ports: [8080]}}",
        "spec.probes[0].from: `from` cannot be combined with `matrix`",
    ),
    (
        NO_POLICIES,
        "    - {matrix: {from: [a/web], to: [a/api], ports: []}}",
        "spec.probes[0].matrix.ports: a matrix needs at least one port",
    ),
    (
        NO_POLICIES,
        "    - {matrix: {from: [a/web], to: [a/api], ports: [8080, 9090]}, expect: {8080: \"a/api\\na/web .\"}}",
        "no truth table for port 9090",
    ),
    (
        NO_POLICIES,
        "    - {matrix: {from: [a/web], to: [a/api], ports: [8080]}, expect: {8081: \"a/api\\na/web .\"}}",
        "port 8081 is not one of this matrix's ports",
    ),
    (
        NO_POLICIES,
        "    - {matrix: {from: [a/web], to: [a/api], ports: [8080]}, expect: \"a/api b/api\\na/web . .\"}",
        "truth table: column b/api is not a target of this matrix",
    ),
    (
        NO_POLICIES,
        "    - {matrix: {from: [a/web], to: [a/api], ports: [8080]}, expect: \"a/api\\na/web Y\"}",
        "truth table: \"Y\" is not a mark",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, expect: maybe}",
        "\"maybe\" is not an expectation: use allow, deny or auto",
    ),
    (
        "    - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p}, spec: {podSelector: {}}}",
        "    - {from: a/web, to: a/api, port: 8080}",
        "spec.policies[0].metadata: metadata.namespace is required when the scenario does not have exactly one namespace",
    ),
    (
        "    - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: c}, spec: {podSelector: {}}}",
        "    - {from: a/web, to: a/api, port: 8080}",
        "spec.policies[0].metadata.namespace: namespace c is not defined in spec.namespaces",
    ),
    (
        "    - {apiVersion: networking.k8s.io/v1, kind: Policy, metadata: {name: p, namespace: a}, spec: {podSelector: {}}}",
        "    - {from: a/web, to: a/api, port: 8080}",
        "spec.policies[0].kind: unsupported kind \"Policy\"; expected NetworkPolicy",
    ),
    (
        "    - {kind: NetworkPolicy, metadata: {name: p, namespace: a}, spec: {podSelector: {}}}",
        "    - {from: a/web, to: a/api, port: 8080}",
        "an inline NetworkPolicy needs apiVersion, kind, metadata and spec (missing: apiVersion)",
    ),
    (
        "    - {file: x.yaml, kind: NetworkPolicy}",
        "    - {from: a/web, to: a/api, port: 8080}",
        "a policy entry is either {file: PATH} or an inline NetworkPolicy, not both",
    ),
    (
        "    - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a}, spec: {podSelector: {}, policyTypes: [Inbound]}}",
        "    - {from: a/web, to: a/api, port: 8080}",
        "spec.policies[0].spec.policyTypes[0]:",
    ),
    (
        "    - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a}, spec: {podSelector: {}}}\n    - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a}, spec: {podSelector: {}}}",
        "    - {from: a/web, to: a/api, port: 8080}",
        "spec.policies[1].metadata.name: policy a/p is defined twice",
    ),
];

/// `(text of the base scenario, replaced by, the first error contains)`.
const POD_CASES: &[(&str, &str, &str)] = &[
    (
        "{name: web, namespace: a, labels: {app: web}}",
        "{name: Web, namespace: a}",
        "spec.pods[0].name: invalid value \"Web\"",
    ),
    (
        "{name: web, namespace: a, labels: {app: web}}",
        "{name: web, namespace: c}",
        "namespace c is not defined in spec.namespaces",
    ),
    (
        "{name: web, namespace: a, labels: {app: web}}",
        "{name: web, namespace: a, labels: {app: \"-x\"}}",
        "spec.pods[0].labels.app: invalid value \"-x\"",
    ),
    (
        "{name: web, namespace: a, labels: {app: web}}",
        "{name: web, namespace: a, ports: [{port: 80, name: HTTP}]}",
        "spec.pods[0].ports[0].name: invalid value \"HTTP\"",
    ),
    (
        "{name: web, namespace: a, labels: {app: web}}",
        "{name: web, namespace: a, ports: [{port: 80}, {port: 80}]}",
        "port 80/TCP is listed twice",
    ),
    (
        "{name: web, namespace: a, labels: {app: web}}",
        "{name: web, namespace: a, ports: [{port: 0}]}",
        "port 0 is out of range",
    ),
    (
        "{name: web, namespace: a, labels: {app: web}}",
        "{name: web, namespace: a, node: \"Node 1\"}",
        "spec.pods[0].node: invalid value \"Node 1\"",
    ),
    (
        "{name: b}",
        "{name: a}",
        "spec.namespaces[1].name: namespace a is defined twice",
    ),
    (
        "{name: b}",
        "{name: b, labels: {kubernetes.io/metadata.name: c}}",
        "kubernetes.io/metadata.name is always b",
    ),
    (
        "selector: {app: api}",
        "selector: {}",
        "a service needs a non-empty selector",
    ),
    (
        "targetPort: http",
        "targetPort: 0",
        "port 0 is out of range",
    ),
];

#[test]
fn every_error_names_its_field() {
    for (policies, probes, wanted) in ERROR_CASES {
        let got = error(policies, probes);
        assert!(got.contains(wanted), "wanted {wanted:?}\n   got {got}");
        assert!(got.starts_with("t.yaml:"), "{got}");
    }
}

#[test]
fn pod_namespace_and_service_errors() {
    let text = mk_scenario(NO_POLICIES, "    - {from: a/web, to: a/api, port: 8080}");
    for (from, to, wanted) in POD_CASES {
        assert!(text.contains(from), "{from}");
        let loaded = load_str(Path::new("t.yaml"), &text.replacen(from, to, 1), &hosts());
        let got = loaded
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(got.contains(wanted), "wanted {wanted:?}\n   got {got}");
    }
}

#[test]
fn several_documents_and_located_type_errors() {
    let one = mk_scenario(NO_POLICIES, "    - {from: a/web, to: a/api, port: 8080}");
    let two = one
        .replace("name: test", "name: second")
        .replace("port: 8080}", "port: [8080]}");
    let loaded = load_str(
        Path::new("t.yaml"),
        &format!("{one}\n---\n{two}\n"),
        &hosts(),
    );
    assert_eq!(loaded.scenarios.len(), 1, "the first document is valid");
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("t.yaml:43:32: error: spec.probes[0].port: invalid type: sequence, expected a port number"), "{}", errors[0]);
}

#[test]
fn with_real_ips_an_ip_block_holding_scenario_pods_is_reported() {
    let policies = r#"    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: api-from-cidr, namespace: a, annotations: {netverdict.io/ignore-lints: no-dns-egress}}
      spec:
        podSelector: {matchLabels: {app: api}}
        ingress:
          - from: [{ipBlock: {cidr: 192.0.2.0/24}}]"#;
    let scenario = ok(policies, "    - {from: a/web, to: a/api, port: 8080}");
    let mut addresses = crate::expect::Addresses::default();
    let none = crate::lint::lint_scenario(&scenario, &addresses);
    assert!(
        none.iter()
            .all(|d| d.lint != Some(crate::lint::IP_BLOCK_POD_RANGE)),
        "offline, IPs are unknown"
    );
    addresses
        .pods
        .insert(PodRef::new("a", "web"), vec!["192.0.2.7".parse().unwrap()]);
    addresses.pods.insert(
        PodRef::new("a", "db"),
        vec!["198.51.100.7".parse().unwrap()],
    );
    let found = crate::lint::lint_scenario(&scenario, &addresses);
    let lint = found
        .iter()
        .find(|d| d.lint == Some(crate::lint::IP_BLOCK_POD_RANGE))
        .expect("the lint");
    assert_eq!(
        lint.path,
        "spec.policies[0].spec.ingress[0].from[0].ipBlock"
    );
    assert!(
        lint.message
            .contains("ipBlock 192.0.2.0/24 holds the IPs of this scenario's pods a/web:"),
        "{}",
        lint.message
    );
    // And with the real IP, auto is resolved: a/web is allowed through the ipBlock.
    let mut scenario = scenario;
    crate::expect::resolve(&mut scenario, &addresses);
    assert_eq!(scenario.probes[0].expect.verdict, Some(Verdict::Allow));
}

/// `(policies, probes)` whose expansion (or its errors) the snapshot pins, beyond the error cases.
const EXPANSION_CASES: &[(&str, &str)] = &[
    (
        NO_POLICIES,
        "    - {name: one, from: a/web, to: a/api, port: http, expect: deny, timeout: 750ms, deny: reject}",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: 8080, via: http, scheme: https, path: /x, status: 204}\n    - {from: a/web, to: {host: external.test}, via: http}\n    - {from: a/web, to: {host: external.test}, via: http, scheme: https}\n    - {from: a/web, to: {ip: 203.0.113.10}, port: 80}\n    - {from: a/web, to: {host: elsewhere.example.}, port: 443}",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, via: dns, query: external.test}\n    - {from: a/web, via: dns, protocol: TCP, query: external.test}\n    - {from: a/web, to: a/api, port: dns, via: dns, query: x.test}\n    - {from: a/web, to: a/api, port: 5353, protocol: UDP}\n    - {from: a/web, to: a/api, port: 5353, via: dns, query: x.test}",
    ),
    (
        NO_POLICIES,
        "    - {name: apis, from: a/web, to: {pods: {namespace: a, selector: {matchLabels: {app: api}}}}, port: 8080}\n    - {name: all, from: a/web, to: {pods: {namespace: a, selector: {}}}, port: 8080}\n    - {from: a/web, to: {service: api, namespace: a}, port: web, via: http}\n    - {from: a/db, to: {service: api, namespace: a}, port: 80}",
    ),
    (
        NO_POLICIES,
        "    - name: m\n      matrix:\n        from: [a/web, a/db]\n        to: [a/api, {service: api, namespace: a}, {pods: {namespace: b, selector: {}}}]\n        ports: [http, 9090, {port: 5353, protocol: UDP}, {port: 80, via: http}]\n      expect: allow",
    ),
    (
        NO_POLICIES,
        "    - matrix:\n        from: [a/web, a/db]\n        to: [a/api, b/api]\n        ports: [8080, 9090]\n      expect:\n        8080: |\n          -     a/api b/api\n          a/web .     X\n          a/db  X     ?\n        9090: |\n          a/api b/api\n          a/web ?     .\n          a/db  .     .",
    ),
    (
        NO_POLICIES,
        "    - {name: b, from: a/web, to: {pods: {namespace: b, selector: {}}}, port: 8080}\n    - name: m\n      matrix:\n        from: [a/web, a/db]\n        to: [a/api, {pods: {namespace: b, selector: {}}}]\n        ports: [http, {port: 8080, via: http}]\n      expect: allow\n    - matrix:\n        from: [a/web, a/db]\n        to: [{service: api, namespace: a}]\n        ports: [web, {port: 80, via: http}]",
    ),
    (
        NO_POLICIES,
        "    - matrix:\n        from: [a/web, a/db]\n        to: [a/api, b/api]\n        ports: [8080]\n      expect:\n        8080: |\n          -     a/api b/api\n          a/web .     X\n          a/db  X     ?",
    ),
    (
        NO_POLICIES,
        "    - matrix:\n        from: [a/web, a/db]\n        to: [a/api]\n        ports: [8080]\n      expect: |\n        a/api\n        a/web .",
    ),
    (
        NO_POLICIES,
        "    - matrix:\n        from: [a/web]\n        to: [a/api, b/api]\n        ports: [8080]\n      expect: |\n        a/api\n        a/web .",
    ),
    (
        NO_POLICIES,
        "    - matrix:\n        from: [a/web]\n        to: [a/api]\n        ports: [8080]\n      expect: |\n        a/api\n        a/web .\n        a/dbb .",
    ),
    (
        NO_POLICIES,
        "    - matrix:\n        from: [a/web]\n        to: [a/api]\n        ports: [8080]\n      expect: \"\"",
    ),
    (
        NO_POLICIES,
        "    - matrix:\n        from: [a/web]\n        to: [a/api]\n        ports: [8080]\n      expect: |\n        a/api\n        a/web . .",
    ),
    (
        NO_POLICIES,
        "    - matrix:\n        from: [a/web, a/nope, b/api]\n        to: [a/api, a/nope]\n        ports: [http, postgres, 70000, {port: 5353, protocol: TCP, via: udp}]\n      expect: auto",
    ),
    (
        NO_POLICIES,
        "    - {matrix: {from: [a/web], to: [a/api], ports: [8080]}, to: a/api, port: 8080}",
    ),
    (
        NO_POLICIES,
        "    - {from: a/web, to: a/api, port: postgre}\n    - {from: a/web, to: {service: api, namespace: a}, port: http}\n    - {from: a/web, to: a/api, port: 53, via: sctp}\n    - {from: a/web, to: a/api, port: 8080, via: dns, protocol: SCTP, query: x.test}",
    ),
];

/// `(text of the base scenario, replaced by, probes)`: services whose backends are wrong.
const SERVICE_CASES: &[(&str, &str, &str)] = &[
    (
        "selector: {app: api}, ports: [{port: 80, targetPort: http, name: web}]",
        "selector: {app: nobody}, ports: [{port: 80, targetPort: http, name: web}]",
        "    - {from: a/web, to: {service: api, namespace: a}, port: 80}",
    ),
    (
        "selector: {app: api}, ports: [{port: 80, targetPort: http, name: web}]",
        "selector: {app: api}, ports: [{port: 80, targetPort: metrics, name: web}]",
        "    - {from: a/web, to: {service: api, namespace: a}, port: 80}",
    ),
    (
        "selector: {app: api}, ports: [{port: 80, targetPort: http, name: web}]",
        "selector: {app: api}, ports: [{port: 80, targetPort: 9999}]",
        "    - {from: a/web, to: {service: api, namespace: a}, port: 80}",
    ),
    (
        "{name: api, namespace: b, labels: {app: api}, ports: [{port: 8080, name: http}]}",
        "{name: api2, namespace: a, labels: {app: api}, ports: [{port: 8081, name: http}]}",
        "    - {from: a/web, to: {service: api, namespace: a}, port: 80}",
    ),
    (
        "selector: {app: api}, ports: [{port: 80, targetPort: http, name: web}]",
        "selector: {app: api}, ports: [{port: 80, targetPort: http, name: web}, {port: 80, protocol: UDP, targetPort: dns, name: dns}, {port: 81}]",
        "    - {from: a/web, to: {service: api, namespace: a}, port: 80}\n    - {from: a/web, to: {service: api, namespace: a}, port: dns}\n    - {from: a/web, to: {service: api, namespace: a}, port: 81}",
    ),
];

/// Every diagnostic and every probe of `loaded`, one line each.
fn transcript(loaded: &Loaded) -> String {
    let mut out = String::new();
    for d in &loaded.diagnostics {
        out.push_str(&format!("  {d}\n"));
    }
    for p in loaded.scenarios.iter().flat_map(|s| &s.probes) {
        out.push_str(&format!(
            "  probe {:?} at {} {}: {} -> {:?} port {} {:?} {:?} via {:?}; expect {} {:?} ({:?}); {:?} {:?}; http {:?}; dns {:?}\n",
            p.name,
            p.location,
            p.path,
            p.from,
            p.target,
            p.port,
            p.port_name,
            p.protocol,
            p.via,
            p.expect.source,
            p.expect.verdict,
            p.expect.reason,
            p.timeout,
            p.deny,
            p.http,
            p.dns,
        ));
    }
    out
}

#[test]
fn every_case_loads_as_before() {
    let mut all = String::new();
    for (policies, probes, _) in ERROR_CASES {
        all.push_str(&format!("policies:\n{policies}\nprobes:\n{probes}\n"));
        all.push_str(&transcript(&load(policies, probes)));
    }
    for (policies, probes) in EXPANSION_CASES {
        all.push_str(&format!("policies:\n{policies}\nprobes:\n{probes}\n"));
        all.push_str(&transcript(&load(policies, probes)));
    }
    let base = mk_scenario(NO_POLICIES, "    - {from: a/web, to: a/api, port: 8080}");
    for (from, to, _) in POD_CASES {
        all.push_str(&format!("{from} -> {to}\n"));
        let loaded = load_str(Path::new("t.yaml"), &base.replacen(from, to, 1), &hosts());
        all.push_str(&transcript(&loaded));
    }
    for (from, to, probes) in SERVICE_CASES {
        all.push_str(&format!("{from} -> {to}\nprobes:\n{probes}\n"));
        let text = mk_scenario(NO_POLICIES, probes).replacen(from, to, 1);
        assert_ne!(text, mk_scenario(NO_POLICIES, probes), "{from}");
        all.push_str(&transcript(&load_str(Path::new("t.yaml"), &text, &hosts())));
    }
    // An absolute snapshot folder: the workspace root is then not needed (finding it takes
    // `cargo metadata`, which a user who only runs the test binary may lack).
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/src/snapshots"));
    settings.bind(|| insta::assert_snapshot!(all));
}

#[test]
fn hosts_have_the_addresses_of_the_table_given() {
    let text = mk_scenario(
        r#"    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: web-egress, namespace: a}
      spec:
        podSelector: {matchLabels: {app: web}}
        policyTypes: [Egress]
        egress:
          - ports: [{port: 53, protocol: UDP}]
          - to: [{ipBlock: {cidr: 192.0.2.0/24}}]"#,
        "    - {from: a/web, to: {host: external.test}, port: 80}",
    );
    let auto = |hosts: &HostTable| {
        let loaded = load_str(Path::new("t.yaml"), &text, hosts);
        let probe = loaded.scenarios[0].probes[0].clone();
        (
            probe.expect.verdict,
            probe.expect.reason.unwrap_or_default(),
        )
    };
    let (verdict, reason) = auto(&HostTable::default());
    assert_eq!(verdict, None, "no table, no address: {reason}");
    assert!(reason.contains("unknown offline"), "{reason}");
    let (verdict, reason) = auto(&hosts());
    assert_eq!(verdict, Some(Verdict::Deny), "{reason}");
    assert!(
        reason.starts_with("external.test is 203.0.113.10: denied"),
        "{reason}"
    );
    let inside =
        HostTable::from_iter([("external.test".to_string(), "192.0.2.7".parse().unwrap())]);
    let (verdict, reason) = auto(&inside);
    assert_eq!(verdict, Some(Verdict::Allow), "{reason}");
    assert!(
        reason.starts_with("external.test is 192.0.2.7: allowed"),
        "{reason}"
    );
}

/// A scenario whose policy lets a/web reach a/api's port `http`.
fn api_from_web() -> crate::Scenario {
    let policies = r#"    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: api-from-web, namespace: a}
      spec:
        podSelector: {matchLabels: {app: api}}
        ingress:
          - from: [{podSelector: {matchLabels: {app: web}}}]
            ports: [{port: http}]"#;
    ok(policies, "    - {from: a/web, to: a/api, port: 8080}")
}

fn explain_query(
    from: &str,
    to: crate::explain::Destination,
    port: crate::explain::PortChoice,
) -> crate::explain::Query {
    crate::explain::Query {
        from: PodRef::new("a", from),
        to,
        port,
        protocol: None,
        scenario: None,
    }
}

fn explained(
    scenarios: &[crate::Scenario],
    query: &crate::explain::Query,
) -> Result<crate::explain::Explanation, crate::explain::ExplainError> {
    crate::explain::explain(scenarios, query, &HostTable::default())
}

#[test]
fn explain_names_the_allowing_rule_and_the_peer_that_does_not_match() {
    use crate::explain::{Destination, PortChoice};
    let scenario = api_from_web();
    let scenarios = std::slice::from_ref(&scenario);
    let api = || Destination::Pod(PodRef::new("a", "api"));
    let allowed = explained(
        scenarios,
        &explain_query("web", api(), PortChoice::Name("http".into())),
    )
    .expect("an explanation");
    assert_eq!(allowed.allowed, Some(true));
    assert_eq!(
        (allowed.port, allowed.port_name.as_deref()),
        (8080, Some("http"))
    );
    assert_eq!(
        allowed.hops[0].sides[1].lines,
        [
            "  allowed by:",
            "    policy a/api-from-web, ingress rule 0 (from[0], ports[0]) at t.yaml:21:24"
        ]
    );
    let denied = explained(
        scenarios,
        &explain_query("db", api(), PortChoice::Number(8080)),
    )
    .unwrap();
    assert_eq!(denied.allowed, Some(false));
    assert!(
        denied.hops[0].sides[1]
            .lines
            .contains(&"      ingress[0]: no `from` peer matches a/db".to_string()),
        "{:?}",
        denied.hops[0].sides[1].lines
    );
}

#[test]
fn explain_refuses_what_it_cannot_judge() {
    use crate::explain::{Destination, ExplainError, PortChoice};
    let scenario = api_from_web();
    let scenarios = std::slice::from_ref(&scenario);
    let api = || Destination::Pod(PodRef::new("a", "api"));
    let ip = Destination::Ip("192.0.2.1".parse().unwrap());
    assert_eq!(
        explained(
            scenarios,
            &explain_query("web", ip, PortChoice::Name("http".into()))
        )
        .unwrap_err(),
        ExplainError::PortNameNeedsPod
    );
    assert_eq!(
        explained(
            scenarios,
            &explain_query("web", api(), PortChoice::Name("nope".into()))
        )
        .unwrap_err(),
        ExplainError::NoPortNamed {
            name: "nope".into(),
            pod: PodRef::new("a", "api"),
            ports: vec!["http (8080/TCP)".into(), "dns (5353/UDP)".into()],
        }
    );
    let twice = [scenario.clone(), scenario.clone()];
    let several = explained(
        &twice,
        &explain_query("web", api(), PortChoice::Number(8080)),
    )
    .unwrap_err();
    assert_eq!(
        several.to_string(),
        "several scenarios define these pods (test, test)"
    );
    let none = explained(
        scenarios,
        &explain_query("nope", api(), PortChoice::Number(1)),
    )
    .unwrap_err();
    assert_eq!(
        none.to_string(),
        "no scenario defines pod a/nope and pod a/api"
    );
}

#[test]
fn explain_a_service_whose_pods_disagree_is_undecided() {
    use crate::explain::{Destination, PortChoice, Query, explain};
    let text = r#"apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: split}
spec:
  namespaces: [{name: x}]
  pods:
    - {name: client, namespace: x}
    - {name: open, namespace: x, labels: {app: s}, ports: [{port: 8080}]}
    - {name: shut, namespace: x, labels: {app: s, locked: "yes"}, ports: [{port: 8080}]}
  services:
    - {name: s, namespace: x, selector: {app: s}, ports: [{port: 80, targetPort: 8080}]}
  policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: lock, namespace: x}
      spec: {podSelector: {matchLabels: {locked: "yes"}}, policyTypes: [Ingress]}
  probes:
    - {from: x/client, to: x/open, port: 8080}
"#;
    let loaded = load_str(Path::new("split.yaml"), text, &HostTable::default());
    let query = Query {
        from: PodRef::new("x", "client"),
        to: Destination::Service {
            namespace: "x".into(),
            name: "s".into(),
        },
        port: PortChoice::Number(80),
        protocol: None,
        scenario: None,
    };
    let explanation =
        explain(&loaded.scenarios, &query, &HostTable::default()).expect("an explanation");
    assert_eq!(explanation.allowed, None);
    let verdicts: Vec<bool> = explanation
        .hops
        .iter()
        .map(|h| h.decision.allowed)
        .collect();
    assert_eq!(verdicts, [true, false]);
    let text = explanation.to_string();
    assert!(
        text.contains("x/client -> service x/s:80/TCP: UNDECIDED\n  service x/s sends port 80 to its pods: x/open on 8080, x/shut on 8080\n  its pods disagree: which one answers is chance\n"),
        "{text}"
    );
}
