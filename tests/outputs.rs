//! Snapshots of what `validate`, `plan` and `explain` print, over the scenario library and over
//! crafted scenarios that reach every branch of `explain`: exit code, stdout and stderr together.

mod util;

use util::{Dir, Output, TestCommand};

/// Exit code, stdout and stderr in one text, so a snapshot pins all three.
fn transcript(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.code, out.stdout, out.stderr
    )
}

fn in_repo(args: &[&str]) -> String {
    transcript(&TestCommand::in_repo().args(args).run())
}

#[test]
fn plan_json_of_the_library() {
    insta::assert_snapshot!(in_repo(&["plan", "--output", "json", "scenarios"]));
}

#[test]
fn plan_table_of_the_library() {
    insta::assert_snapshot!(in_repo(&["plan", "scenarios"]));
}

#[test]
fn plan_tables_of_the_library() {
    insta::assert_snapshot!(in_repo(&["plan", "--output", "tables", "scenarios"]));
}

#[test]
fn validate_text_of_the_library() {
    insta::assert_snapshot!(in_repo(&["validate", "scenarios"]));
}

#[test]
fn validate_json_of_the_library() {
    insta::assert_snapshot!(in_repo(&["validate", "--output", "json", "scenarios"]));
}

#[test]
fn validate_json_of_the_invalid_files() {
    insta::assert_snapshot!(in_repo(&[
        "validate",
        "--output",
        "json",
        "tests/data/invalid"
    ]));
}

#[test]
fn validate_and_plan_of_the_explain_cases() {
    let dir = explain_dir();
    let mut all = String::new();
    for args in [
        &["validate", "--deny-warnings", "--output", "json", "."][..],
        &["plan", "--output", "json", "."],
    ] {
        all.push_str(&format!("$ netverdict {}\n", args.join(" ")));
        all.push_str(&transcript(&dir.command().args(args).run()));
        all.push('\n');
    }
    insta::assert_snapshot!(all);
}

/// A scenario of its own namespace for what users ask `explain` and `plan`: a UDP named port, a
/// policy of one direction only, an ipBlock with an `except`, a Service, a host and the cluster
/// DNS.
const ANSWERS: &str = r#"apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: answers}
spec:
  namespaces: [{name: shop}]
  pods:
    - {name: client, namespace: shop, labels: {app: client}}
    - name: db
      namespace: shop
      labels: {app: db}
      ports: [{port: 8080, name: http}, {port: 5353, protocol: UDP, name: dns}]
  services:
    - {name: db, namespace: shop, selector: {app: db}, ports: [{port: 80, targetPort: http}]}
  policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: db-ingress, namespace: shop}
      spec:
        podSelector: {matchLabels: {app: db}}
        policyTypes: [Ingress]
        ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: http}]}]
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: client-egress, namespace: shop}
      spec:
        podSelector: {matchLabels: {app: client}}
        policyTypes: [Egress]
        egress:
          - to: [{podSelector: {}}]
          - to: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.0/29]}}]
          - to:
              - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
                podSelector: {matchLabels: {k8s-app: kube-dns}}
            ports: [{port: 53, protocol: UDP}]
  probes:
    - {name: client reads db, from: shop/client, to: {service: db, namespace: shop}, port: 80, via: http, path: /healthz, expect: allow}
    - {from: shop/client, via: dns, query: db.shop.svc.cluster.local, expect: allow}
    - {from: shop/client, to: {host: external.test}, port: 80, expect: allow}
    - {from: shop/client, to: shop/db, port: dns}
"#;

/// Two scenarios sharing pods `app/web` and `app/db`: `explained` has policies for every branch
/// of an explanation (a rule that matches, rules that do not and why, an ipBlock that cannot
/// match offline, a nearest selector), `other` exists to make a choice ambiguous.
fn explain_dir() -> Dir {
    let dir = Dir::new("explain-outputs");
    dir.create(
        "explained.yaml",
        r#"apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: explained}
spec:
  namespaces: [{name: app, labels: {team: app}}, {name: mon, labels: {team: mon}}]
  pods:
    - {name: web, namespace: app, labels: {app: web, tier: front}}
    - name: db
      namespace: app
      labels: {app: db}
      ports: [{port: 5432, name: postgres}, {port: 5353, protocol: UDP, name: dns}]
    - {name: prom, namespace: mon, labels: {app: prom}}
  policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: db-ingress, namespace: app}
      spec:
        podSelector: {matchLabels: {app: db}}
        ingress:
          - from: [{namespaceSelector: {matchLabels: {team: mon}}}]
            ports: [{port: 5432}]
          - from: [{ipBlock: {cidr: 192.0.2.0/24}}]
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: web-egress, namespace: app}
      spec:
        podSelector: {matchLabels: {app: web, tier: back}}
        policyTypes: [Egress]
        egress: [{to: [{podSelector: {}}]}]
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: prom-egress, namespace: mon, annotations: {netverdict.io/ignore-lints: no-dns-egress}}
      spec:
        podSelector: {matchLabels: {app: prom}}
        policyTypes: [Egress]
        egress:
          - to: [{namespaceSelector: {matchLabels: {team: app}}}]
            ports: [{port: 5432}, {port: 53, protocol: UDP}]
  probes:
    - {from: app/web, to: app/db, port: postgres, expect: allow}
    - {from: mon/prom, to: app/db, port: 5432}
    - {from: app/web, to: {host: external.test}, port: 80}
    - {from: mon/prom, to: {host: external.test}, port: 80}
"#,
    );
    dir.create("answers.yaml", ANSWERS);
    dir.create(
        "other.yaml",
        r#"apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: other}
spec:
  namespaces: [{name: app}]
  pods:
    - {name: web, namespace: app}
    - {name: db, namespace: app, ports: [{port: 5432}]}
  probes:
    - {from: app/web, to: app/db, port: 5432}
"#,
    );
    dir
}

#[test]
fn explain_every_branch() {
    let dir = explain_dir();
    let cases = [
        // Denied on ingress: no rule matches, one of them an ipBlock; egress has a nearest selector.
        "--from app/web --to app/db --port postgres --scenario explained",
        // Allowed by the namespaceSelector rule, through an egress rule of the source.
        "--from mon/prom --to app/db --port 5432 --scenario explained",
        // A named UDP port the egress rule does not list.
        "--from mon/prom --to app/db --port dns --protocol udp --scenario explained",
        // To an address: no policy on the destination side.
        "--from mon/prom --to 203.0.113.10 --port 80 --scenario explained",
        "--from app/web --to 203.0.113.10 --port 80 --scenario explained",
        // A pod to itself.
        "--from app/db --to app/db --port 5432 --scenario explained",
        // Usage errors, each with its message.
        "--from app/web --to app/db --port 5432",
        "--from web --to app/db --port 5432",
        "--from app/web --to db --port 5432",
        "--from app/nope --to app/db --port 5432",
        "--from app/web --to app/nope --port 5432",
        "--from app/web --to 192.0.2.1 --port http --scenario explained",
        "--from app/web --to app/db --port http --scenario explained",
        "--from app/web --to app/db --port 0 --scenario explained",
        "--from app/web --to app/db --port 5432 --scenario nope",
        // A named port brings its protocol; a typo lists the pod's port names.
        "--from shop/client --to shop/db --port dns",
        "--from shop/client --to shop/db --port dns --protocol tcp",
        "--from shop/client --to shop/db --port htp",
        // Each side lists only the policies of its direction.
        "--from shop/db --to shop/db --port http",
        // An address that an ipBlock's `except` leaves out.
        "--from shop/client --to 203.0.113.7 --port 80",
        // A Service, a known host by name and by address, the cluster DNS.
        "--from shop/client --to service:shop/db --port 80",
        "--from shop/client --to host:external.test --port 80",
        "--from shop/client --to ip:203.0.113.10 --port 80",
        "--from shop/client --to cluster-dns --port dns",
        "--from shop/client --to service:shop/db --port 81",
        "--from shop/client --to service:shop/nope --port 80",
        "--from shop/client --to host:nowhere.example --port 80",
        "--from shop/client --to host:external.test --port http",
    ];
    let mut all = String::new();
    for case in cases {
        let out = dir
            .command()
            .args(["explain", "."])
            .args(case.split_whitespace())
            .run();
        all.push_str(&format!("$ netverdict explain . {case}\n"));
        all.push_str(&transcript(&out));
        all.push('\n');
    }
    insta::assert_snapshot!(all);
}

/// `netverdict explain . ARGS` in `dir`.
fn explain(dir: &Dir, args: &str) -> Output {
    dir.command()
        .args(["explain", "."])
        .args(args.split_whitespace())
        .run()
}

#[test]
fn explain_a_named_port_brings_its_protocol() {
    let out = explain(&explain_dir(), "--from shop/client --to shop/db --port dns");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("shop/client -> shop/db:5353/UDP (dns): DENIED"),
        "{}",
        out.stdout
    );
    let out = explain(
        &explain_dir(),
        "--from shop/client --to shop/db --port dns --protocol tcp",
    );
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("--port dns: port dns of shop/db is UDP, not TCP"),
        "{}",
        out.stderr
    );
}

#[test]
fn explain_lists_the_port_names_on_a_typo() {
    let out = explain(&explain_dir(), "--from shop/client --to shop/db --port htp");
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("no port named `htp` on shop/db; its ports: http (8080/TCP), dns (5353/UDP)"),
        "{}",
        out.stderr
    );
}

/// The egress side of `shop/db` lists no policy: `db-ingress` selects it for ingress only.
#[test]
fn explain_lists_only_the_policies_of_each_direction() {
    let out = explain(&explain_dir(), "--from shop/db --to shop/db --port http");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (egress, ingress) = out.stdout.split_once("\ningress:\n").expect("two sides");
    assert!(
        egress.contains("  policies selecting shop/db: none\n"),
        "{}",
        out.stdout
    );
    assert!(
        ingress.contains("  policies selecting shop/db: shop/db-ingress (Ingress)\n"),
        "{}",
        out.stdout
    );
}

/// 203.0.113.7 is in the egress ipBlock's cidr, but its `except` leaves it out.
#[test]
fn explain_says_when_an_except_excludes_the_address() {
    let out = explain(
        &explain_dir(),
        "--from shop/client --to 203.0.113.7 --port 80",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(": DENIED\n"), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "egress[1]: no `to` peer matches 203.0.113.7: 203.0.113.7 is in 203.0.113.0/24 but excluded by except 203.0.113.0/29\n"
        ),
        "{}",
        out.stdout
    );
}

/// A Service is judged on the pods its selector picks, on the port it sends to.
#[test]
fn explain_a_service_on_its_pods() {
    let out = explain(
        &explain_dir(),
        "--from shop/client --to service:shop/db --port 80",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = "shop/client -> service shop/db:80/TCP: ALLOWED\n  \
                    service shop/db sends port 80 to its pods: shop/db on 8080\n\
                    shop/client -> shop/db:8080/TCP: ALLOWED\n";
    assert!(out.stdout.contains(expected), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("policy shop/db-ingress, ingress rule 0 (from[0], ports[0])"),
        "{}",
        out.stdout
    );
}

/// A known host is its DNS lookup, then its address; an unknown one lists the known hosts.
#[test]
fn explain_a_host_by_name_or_address() {
    let out = explain(
        &explain_dir(),
        "--from shop/client --to host:external.test --port 80",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for line in [
        "shop/client -> host external.test:80/TCP: ALLOWED\n",
        "  external.test is 203.0.113.10 (a known host): the source resolves it through the cluster DNS first\n",
        "shop/client -> kube-system/coredns:53/UDP: ALLOWED\n",
        "shop/client -> 203.0.113.10:80/TCP: ALLOWED\n",
    ] {
        assert!(out.stdout.contains(line), "{line}: {}", out.stdout);
    }
    let out = explain(
        &explain_dir(),
        "--from shop/client --to 203.0.113.10 --port 80",
    );
    assert!(
        out.stdout
            .contains("  203.0.113.10 is the known host external.test\n"),
        "{}",
        out.stdout
    );
    let out = explain(
        &explain_dir(),
        "--from shop/client --to host:nowhere.example --port 80",
    );
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains(
            "the address of host nowhere.example is unknown offline; the known hosts: external.test (203.0.113.10), external2.test (198.51.100.10)"
        ),
        "{}",
        out.stderr
    );
}

/// `cluster-dns` is the DNS pod the engine assumes, with its named ports.
#[test]
fn explain_the_cluster_dns() {
    let out = explain(
        &explain_dir(),
        "--from shop/client --to cluster-dns --port dns",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("shop/client -> cluster DNS:53/UDP (dns): ALLOWED\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("policy shop/client-egress, egress rule 2 (to[0], ports[0])"),
        "{}",
        out.stdout
    );
}

#[test]
fn plan_table_shows_names_queries_and_paths() {
    let out = explain_dir().command().args(["plan", "answers.yaml"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[1].starts_with("  NAME ") && lines[1].contains(" PATH/QUERY "),
        "{}",
        out.stdout
    );
    let row = |start: &str| lines.iter().find(|l| l.starts_with(start)).copied();
    let service = row("  client reads db ").expect("the named probe's row");
    assert!(service.contains(" http  /healthz "), "{service}");
    let dns = row("                   shop/client  cluster-dns").expect("the DNS probe's row");
    assert!(dns.contains(" dns   db.shop.svc.cluster.local "), "{dns}");
}

/// `engineAgrees`: true and false for written expectations the engine judges, null for `auto`
/// and for a host whose address is unknown offline.
#[test]
fn plan_json_says_whether_the_engine_agrees() {
    let dir = Dir::new("engine-agrees");
    dir.create(
        "agrees.yaml",
        r#"apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: agrees}
spec:
  namespaces: [{name: a}]
  pods:
    - {name: web, namespace: a, ports: [{port: 5353, protocol: UDP}]}
    - {name: db, namespace: a, ports: [{port: 5432}]}
  probes:
    - {name: agreeing, from: a/web, to: a/db, port: 5432, expect: allow}
    - {name: contradicted, from: a/db, to: a/db, port: 5432, expect: deny}
    - {name: computed, from: a/db, to: a/web, port: 5353, protocol: UDP, expect: auto}
    - {name: unknown host, from: a/web, to: {host: nowhere.example}, port: 80, expect: allow}
"#,
    );
    let out = dir.command().args(["plan", "-o", "json", "."]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let agrees: Vec<(&str, &serde_json::Value)> = plan["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), &p["engineAgrees"]))
        .collect();
    let (yes, no, null) = (
        serde_json::Value::Bool(true),
        serde_json::Value::Bool(false),
        serde_json::Value::Null,
    );
    assert_eq!(
        agrees,
        [
            ("agreeing", &yes),
            ("contradicted", &no),
            ("computed", &null),
            ("unknown host", &null)
        ]
    );
}

/// A run stopped by invalid input writes one JUnit testcase per error, at its file and line, and
/// a Markdown summary listing them; nothing touches a cluster.
#[test]
fn reports_of_a_run_with_invalid_input() {
    let dir = Dir::new("invalid-input-reports");
    let junit = dir.path().join("report.xml");
    let summary = dir.path().join("summary.md");
    let out = TestCommand::in_repo()
        .args(["run", "--run-id", "invalid-input", "--junit"])
        .args([&junit])
        .args(["--summary"])
        .args([&summary])
        .args([
            "tests/data/invalid/bad-expect.yaml",
            "tests/data/invalid/duplicate-pod.yaml",
        ])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let markdown = std::fs::read_to_string(&summary).unwrap();
    insta::assert_snapshot!(format!("{xml}\n--- summary\n{markdown}"));
}

/// `--html` writes its page also when the input is invalid: the errors with their locations, and
/// nothing the page would load from elsewhere.
#[test]
fn html_report_of_a_run_with_invalid_input() {
    let dir = Dir::new("invalid-input-html");
    let html = dir.path().join("report.html");
    let out = TestCommand::in_repo()
        .args(["run", "--run-id", "invalid-input", "--html"])
        .args([&html])
        .args(["tests/data/invalid/duplicate-pod.yaml"])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(
        page.contains("netverdict run <code>invalid-input</code>: invalid input, 1 error</h1>"),
        "{page}"
    );
    assert!(
        page.contains("<td><code>tests/data/invalid/duplicate-pod.yaml:16:13</code></td>"),
        "{page}"
    );
    assert!(!page.contains("src=") && !page.contains("<link"), "{page}");
}
