//! Fixed result sets the reporters' tests render: failures, errors, DNS and HTTP variants that
//! differ only in their query or path, non-pod targets, tool output with tabs, a setup error and
//! invalid input.

use netverdict_probes::Outcome;

use crate::results::{
    Attempt, Enforcement, InputProblem, Prediction, ProbeResult, ProblemKind, RunResult,
    ScenarioResult, SetupPhases, SourceLine,
};
use crate::run::{RunError, RunErrors};
use crate::verdict::ProbeStatus;

/// A probe from `from` to `to`, written at `line` of `file`, that ended with `status`.
/// `to` as plan JSON names it: `service ns/x` is `service:ns/x`, `cluster DNS` is `cluster-dns`.
fn plan_label(to: &str) -> String {
    match to {
        "cluster DNS" => "cluster-dns".to_owned(),
        other => other.replacen(' ', ":", 1),
    }
}

/// Keys every probe of `scenario` as a run does: `scenario/name`.
fn keyed(scenario: &str, probes: &mut [ProbeResult]) {
    for p in probes {
        p.key = format!("{scenario}/{}", p.name);
    }
}

fn probe(
    file: &str,
    line: u64,
    (from, to, port, via): (&str, &str, u16, &str),
    expect: &str,
    (status, outcome, message): (ProbeStatus, Option<Outcome>, &str),
) -> ProbeResult {
    let mut p = ProbeResult::example(status, outcome, message);
    p.named = false;
    p.name = format!("{from} -> {to}:{port}");
    p.file = file.to_owned();
    p.line = line;
    p.from = from.to_owned();
    p.to = to.to_owned();
    p.target = plan_label(to);
    p.port = port;
    p.port_name = None;
    p.protocol = if via == "dns" || via == "udp" {
        "UDP"
    } else {
        "TCP"
    }
    .to_owned();
    p.via = via.to_owned();
    p.expect = expect.to_owned();
    p.time_to_match_ms = (status == ProbeStatus::Pass).then_some(1500);
    p.attempts = 1;
    p.prediction = Some(Prediction {
        verdict: expect.to_owned(),
        agrees: true,
        explanation: format!("the policies {expect} this"),
        dns_allowed: None,
        no_cluster_dns: false,
    });
    p
}

fn dns(
    line: u64,
    query: &str,
    status: ProbeStatus,
    outcome: Outcome,
    message: &str,
) -> ProbeResult {
    let mut p = probe(
        "scenarios/dns.yaml",
        line,
        ("dns/client", "cluster DNS", 53, "dns"),
        "allow",
        (status, Some(outcome), message),
    );
    p.query = Some(query.to_owned());
    p.command = format!("kubectl exec -n dns client -- nslookup -timeout=2 {query}");
    p.output = format!(
        "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\t{query}\nAddress: 10.0.0.1\n"
    );
    p
}

fn http(
    line: u64,
    path: &str,
    status: ProbeStatus,
    outcome: Outcome,
    message: &str,
) -> ProbeResult {
    let mut p = probe(
        "scenarios/dns.yaml",
        line,
        ("dns/client", "dns/web", 8080, "http"),
        "allow",
        (status, Some(outcome), message),
    );
    p.http_path = Some(path.to_owned());
    p.command = format!(
        "kubectl exec -n dns client -- curl -sS -o /dev/null -w '%{{http_code}}' http://10.244.0.7:8080{path}"
    );
    p.output =
        "curl: (7) Failed to connect to 10.244.0.7 port 8080\tafter 0 ms: Connection refused"
            .to_owned();
    p
}

/// The failure of shop's first probe, named, with a prediction that disagrees and two attempts.
fn shop_failure(file: &str) -> ProbeResult {
    let mut named = probe(
        file,
        21,
        ("shop/web", "shop/db", 5432, "tcp"),
        "deny",
        (
            ProbeStatus::Fail,
            Some(Outcome::Connected),
            "connected: not blocked",
        ),
    );
    named.named = true;
    named.name = "web must not reach the database".to_owned();
    named.prediction = Some(Prediction {
        verdict: "allow".to_owned(),
        agrees: false,
        explanation: "no policy isolates shop/db for ingress".to_owned(),
        dns_allowed: None,
        no_cluster_dns: false,
    });
    named.attempts = 2;
    named.history.push(Attempt {
        round: 2,
        outcome: Outcome::Connected,
        at_ms: 2050,
        elapsed_ms: 11,
    });
    named
}

/// The probes of shop: a failure, passes, an error, an inconclusive deny and a flapping one.
fn shop_probes(file: &str) -> Vec<ProbeResult> {
    vec![
        shop_failure(file),
        probe(
            file,
            24,
            ("shop/api", "shop/db", 5432, "tcp"),
            "allow",
            (ProbeStatus::Pass, Some(Outcome::Connected), "connected"),
        ),
        probe(
            file,
            24,
            ("shop/web", "shop/api", 8080, "tcp"),
            "allow",
            (ProbeStatus::Pass, Some(Outcome::Connected), "connected"),
        ),
        probe(
            file,
            24,
            ("shop/api", "shop/api", 8080, "tcp"),
            "allow",
            (
                ProbeStatus::Error,
                Some(Outcome::error("nc: not found")),
                "probe error: nc: not found",
            ),
        ),
        probe(
            file,
            30,
            ("shop/web", "host example.test", 443, "tcp"),
            "deny",
            (
                ProbeStatus::Pass,
                Some(Outcome::Timeout),
                "timeout: blocked",
            ),
        ),
        probe(
            file,
            33,
            ("shop/web", "service shop/db", 5432, "tcp"),
            "deny",
            (
                ProbeStatus::Inconclusive,
                Some(Outcome::Timeout),
                "timeout: blocked; but nothing listens <&> on shop/db:5432, so this proves nothing about policy",
            ),
        ),
        probe(
            file,
            36,
            ("shop/api", "ip 203.0.113.10", 80, "tcp"),
            "deny",
            (
                ProbeStatus::Flapping,
                Some(Outcome::Connected),
                "matched at 1040 ms, then in the confirming round: connected: not blocked",
            ),
        ),
    ]
}

fn shop() -> ScenarioResult {
    let file = "scenarios/shop.yaml";
    let mut probes = shop_probes(file);
    probes[1].time_to_match_ms = Some(900);
    keyed("shop-isolation", &mut probes);
    ScenarioResult {
        name: "shop-isolation".to_owned(),
        file: file.to_owned(),
        duration_ms: 4210,
        setup_ms: 1500,
        setup_phases: SetupPhases {
            namespaces_ms: 40,
            services_ms: 0,
            policies_ms: 20,
            pods_ms: 30,
            pods_started_ms: 1390,
            endpoints_ms: 0,
            predictions_ms: 20,
        },
        setup_error: None,
        probing_ms: 2700,
        exec_calls: 6,
        dead_pods: Vec::new(),
        mimics: Vec::new(),
        probes,
    }
}

fn dns_scenario() -> ScenarioResult {
    let mut probes = vec![
        dns(
            12,
            "kubernetes.default.svc.cluster.local",
            ProbeStatus::Pass,
            Outcome::Connected,
            "connected",
        ),
        dns(
            12,
            "web.dns.svc.cluster.local",
            ProbeStatus::Pass,
            Outcome::Connected,
            "connected",
        ),
        dns(
            13,
            "nope.example.test",
            ProbeStatus::Fail,
            Outcome::DnsNxdomain,
            "dns-nxdomain: the DNS server was reached",
        ),
        http(
            16,
            "/healthz",
            ProbeStatus::Pass,
            Outcome::HttpStatus { code: 200 },
            "http-status 200",
        ),
        http(
            17,
            "/admin",
            ProbeStatus::Fail,
            Outcome::Refused,
            "refused: blocked",
        ),
    ];
    // Two probes nothing tells apart: the second gets a suffix.
    probes.push(probes[4].clone());
    keyed("dns-and-http", &mut probes);
    ScenarioResult {
        name: "dns-and-http".to_owned(),
        file: "scenarios/dns.yaml".to_owned(),
        duration_ms: 3020,
        setup_ms: 1000,
        probing_ms: 2000,
        exec_calls: 3,
        setup_phases: SetupPhases::default(),
        setup_error: None,
        dead_pods: Vec::new(),
        mimics: Vec::new(),
        probes,
    }
}

/// A run with failures, errors, and DNS and HTTP variants.
pub(crate) fn mixed_run() -> RunResult {
    RunResult {
        run_id: "a1b2c3d4".to_owned(),
        cluster: "https://127.0.0.1:6443".to_owned(),
        duration_ms: 7400,
        error: RunErrors::default(),
        cleanup: None,
        deny_behaviour: None,
        enforcement: Some(Enforcement::Enforced),
        enforcement_evidence: Some(
            "a default-deny ingress NetworkPolicy closed an open connection between two probe pods after 812 ms"
                .to_owned(),
        ),
        problems: Vec::new(),
        inputs: vec![
            SourceLine {
                file: "scenarios/shop.yaml".to_owned(),
                line: 3,
            },
            SourceLine {
                file: "scenarios/dns.yaml".to_owned(),
                line: 3,
            },
        ],
        scenarios: vec![shop(), dns_scenario()],
    }
}

/// A run whose pods could not start.
pub(crate) fn setup_error_run() -> RunResult {
    RunResult {
        run_id: "e5f6".to_owned(),
        cluster: "https://127.0.0.1:6443".to_owned(),
        duration_ms: 180_000,
        error: RunError::Text("pod shop/web cannot start: ImagePullBackOff: back-off pulling image \"netverdict:0\"\n  events:\tFailed to pull image".to_owned()).into(),
        inputs: vec![SourceLine { file: "scenarios/shop.yaml".to_owned(), line: 3 }],
        ..RunResult::default()
    }
}

/// The mixed run, its shop's server pod killed during the run.
pub(crate) fn dead_target_run() -> RunResult {
    let mut run = mixed_run();
    run.scenarios[0].dead_pods.push(crate::cluster::Death {
        pod: "shop/db".to_owned(),
        phase: "Failed".to_owned(),
        container: Some("probe".to_owned()),
        reason: Some("Error".to_owned()),
        exit_code: Some(137),
        restarts: 0,
        log_tail: "serving tcp 5432\nkilled\n".to_owned(),
    });
    run
}

/// A run that stopped at invalid input.
pub(crate) fn invalid_input_run() -> RunResult {
    RunResult {
        run_id: "i9".to_owned(),
        error: RunError::InvalidInput {
            summary: "2 errors, 0 warnings".to_owned(),
        }
        .into(),
        problems: vec![
            InputProblem {
                kind: ProblemKind::InvalidInput,
                file: "scenarios/shop.yaml".to_owned(),
                line: 11,
                column: 7,
                path: "spec.probes[1]".to_owned(),
                message: "probe name \"a\" is already used by spec.probes[0]; give one of them a distinct `name`".to_owned(),
            },
            InputProblem {
                kind: ProblemKind::InvalidInput,
                file: "scenarios/dns.yaml".to_owned(),
                line: 1,
                column: 1,
                path: String::new(),
                message: "not a scenario".to_owned(),
            },
        ],
        ..RunResult::default()
    }
}

/// The mixed run, whose cleanup could not delete a pod and its namespace.
pub(crate) fn cleanup_failed_run() -> RunResult {
    let mut run = mixed_run();
    let report = crate::results::CleanupReport {
        run_id: run.run_id.clone(),
        left: vec![crate::results::LeftObject {
            kind: "pod".to_owned(),
            namespace: Some("shop".to_owned()),
            name: "web".to_owned(),
            reason: "pod shop/web left: deleting it failed: 403 Forbidden: pods \"web\" is forbidden (missing permission: delete pods in namespace shop)".to_owned(),
            missing_permission: Some("delete pods in namespace shop".to_owned()),
        }],
        problems: vec![
            "pod shop/web left: deleting it failed: 403 Forbidden: pods \"web\" is forbidden (missing permission: delete pods in namespace shop)".to_owned(),
        ],
        missing_permissions: vec!["delete pods in namespace shop".to_owned()],
        command: "netverdict cleanup --run-id a1b2c3d4".to_owned(),
    };
    run.error = RunError::CleanupLeft(report.clone()).into();
    run.cleanup = Some(report);
    run
}
