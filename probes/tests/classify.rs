//! The classifier against outputs captured from the real tools.
//!
//! `probes/testdata/outcomes/*.json` hold one real run each: the request, the exact argv, exit
//! status, stdout, stderr and duration, and the outcome the capture set up physically (a
//! listener, a closed port, a drop rule, a DNS answer). Regenerate them, as root, with
//!
//! ```sh
//! cargo test -p netverdict-probes --test classify -- --ignored capture_fixtures
//! ```
//!
//! which also records the tool versions in `probes/testdata/VERSIONS`.

mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use netverdict_probes::{
    Exit, Outcome, ProbeRequest, ProbeSpec, Scheme, ToolCommand, classify_timed, run_tool, watchdog,
};
use serde::{Deserialize, Serialize};
use support::{CLIENT_IP, DROPPED_TCP, DROPPED_UDP, NetnsPair, SERVER_IP, Zone};

/// One captured run of a tool.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    /// How the outcome was produced.
    setup: String,
    request: ProbeRequest,
    argv: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stdin: Option<String>,
    exit: Exit,
    elapsed_ms: u64,
    stdout: String,
    stderr: String,
    /// The outcome the setup produces; for `error`, `reason` is a substring of the reason.
    expected: Outcome,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    expected_addresses: Vec<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected_responder: Option<String>,
}

fn outcomes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/outcomes")
}

fn load_fixtures() -> Vec<(String, Fixture)> {
    let mut fixtures: Vec<_> = std::fs::read_dir(outcomes_dir())
        .expect("testdata/outcomes exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let fixture: Fixture =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (
                path.file_stem().unwrap().to_string_lossy().into_owned(),
                fixture,
            )
        })
        .collect();
    fixtures.sort_by(|a, b| a.0.cmp(&b.0));
    fixtures
}

fn check(fixture: &Fixture) -> Result<(), String> {
    let kind = fixture.request.probe.kind();
    let got = classify_timed(
        kind,
        &fixture.exit,
        &fixture.stdout,
        &fixture.stderr,
        Duration::from_millis(fixture.elapsed_ms),
        Duration::from_millis(fixture.request.timeout_ms.into()),
    );
    let outcome_ok = match (&fixture.expected, &got.outcome) {
        (Outcome::Error { reason: want }, Outcome::Error { reason }) => reason.contains(want),
        (want, got) => want == got,
    };
    if !outcome_ok {
        return Err(format!(
            "outcome {:?}, want {:?}",
            got.outcome, fixture.expected
        ));
    }
    if got.addresses != fixture.expected_addresses {
        return Err(format!(
            "addresses {:?}, want {:?}",
            got.addresses, fixture.expected_addresses
        ));
    }
    if got.responder != fixture.expected_responder {
        return Err(format!(
            "responder {:?}, want {:?}",
            got.responder, fixture.expected_responder
        ));
    }
    Ok(())
}

#[test]
fn captured_outputs_classify_as_what_produced_them() {
    let fixtures = load_fixtures();
    assert!(fixtures.len() >= 25, "only {} fixtures", fixtures.len());
    let failures: Vec<String> = fixtures
        .iter()
        .filter_map(|(name, f)| check(f).err().map(|e| format!("{name}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixtures_cover_every_outcome_of_every_tool() {
    let covered: BTreeSet<(String, String)> = load_fixtures()
        .iter()
        .map(|(_, f)| {
            let outcome = serde_json::to_value(&f.expected).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned();
            (format!("{:?}", f.request.probe.kind()), outcome)
        })
        .collect();
    let want = [
        ("Tcp", "connected"),
        ("Tcp", "refused"),
        ("Tcp", "timeout"),
        ("Tcp", "error"),
        ("Http", "http-status"),
        ("Http", "refused"),
        ("Http", "timeout"),
        ("Http", "error"),
        ("Dns", "connected"),
        ("Dns", "dns-nxdomain"),
        ("Dns", "dns-servfail"),
        ("Dns", "dns-timeout"),
        ("Dns", "refused"),
        ("Dns", "error"),
        ("Udp", "connected"),
        ("Udp", "timeout"),
        ("Udp", "refused"),
        ("Udp", "error"),
    ];
    for (kind, outcome) in want {
        assert!(
            covered.contains(&(kind.to_owned(), outcome.to_owned())),
            "no fixture for {kind} {outcome}"
        );
    }
}

#[test]
fn fixtures_hold_the_argv_the_builder_makes() {
    for (name, fixture) in load_fixtures() {
        let token = fixture.stdin.as_deref().unwrap_or("").trim_end();
        let command = ToolCommand::build(&fixture.request, token).unwrap();
        assert_eq!(command.argv, fixture.argv, "{name}");
    }
}

// The generator.

struct Case {
    name: &'static str,
    setup: &'static str,
    request: ProbeRequest,
    expected: Outcome,
    expected_addresses: Vec<IpAddr>,
    expected_responder: Option<String>,
}

fn case(name: &'static str, setup: &'static str, probe: ProbeSpec, expected: Outcome) -> Case {
    Case {
        name,
        setup,
        request: ProbeRequest {
            id: name.into(),
            timeout_ms: 1000,
            probe,
        },
        expected,
        expected_addresses: Vec::new(),
        expected_responder: None,
    }
}

fn tcp(host: impl ToString, port: u16) -> ProbeSpec {
    ProbeSpec::Tcp {
        host: host.to_string(),
        port,
    }
}

fn udp(host: impl ToString, port: u16) -> ProbeSpec {
    ProbeSpec::Udp {
        host: host.to_string(),
        port,
    }
}

fn http(host: impl ToString, port: u16, path: &str) -> ProbeSpec {
    ProbeSpec::Http {
        scheme: Scheme::Http,
        host: host.to_string(),
        port,
        path: path.into(),
    }
}

fn dns(name: &str, server: SocketAddrLike) -> ProbeSpec {
    ProbeSpec::Dns {
        name: name.into(),
        server: Some(server.0.to_string()),
        port: Some(server.1),
        tcp: false,
    }
}

fn dns_tcp(name: &str, server: SocketAddrLike) -> ProbeSpec {
    ProbeSpec::Dns {
        name: name.into(),
        server: Some(server.0.to_string()),
        port: Some(server.1),
        tcp: true,
    }
}

type SocketAddrLike = (IpAddr, u16);

async fn capture(case: Case) -> (String, Fixture) {
    let token = format!("nvp-capture-{}", case.name);
    let command = ToolCommand::build(&case.request, &token).unwrap();
    let run = run_tool(
        &command,
        watchdog(Duration::from_millis(case.request.timeout_ms.into())),
    )
    .await;
    let fixture = Fixture {
        setup: case.setup.into(),
        request: case.request,
        argv: command.argv,
        stdin: command.stdin,
        exit: run.exit,
        elapsed_ms: u64::try_from(run.elapsed.as_millis()).unwrap(),
        stdout: String::from_utf8_lossy(&run.stdout.kept).into_owned(),
        stderr: String::from_utf8_lossy(&run.stderr.kept).into_owned(),
        expected: case.expected,
        expected_addresses: case.expected_addresses,
        expected_responder: case.expected_responder,
    };
    (case.name.to_owned(), fixture)
}

fn error(reason: &str) -> Outcome {
    Outcome::error(reason)
}

fn loopback_cases(
    served_tcp: u16,
    served_tcp6: u16,
    served_udp: u16,
    silent_tcp: u16,
    silent_udp: u16,
    closed: u16,
    dns_server: SocketAddrLike,
) -> Vec<Case> {
    let lo: IpAddr = Ipv4Addr::LOCALHOST.into();
    let lo6: IpAddr = Ipv6Addr::LOCALHOST.into();
    let closed_dns = (lo, closed);
    let silent_dns = (lo, silent_udp);
    let mut cases = vec![
        case(
            "tcp-connected",
            "responder on 127.0.0.1",
            tcp(lo, served_tcp),
            Outcome::Connected,
        ),
        case(
            "tcp-connected-ipv6",
            "responder on ::1",
            tcp(lo6, served_tcp6),
            Outcome::Connected,
        ),
        case(
            "tcp-connected-by-name",
            "responder on 127.0.0.1, host 'localhost' from /etc/hosts",
            tcp("localhost", served_tcp),
            Outcome::Connected,
        ),
        case(
            "tcp-refused",
            "nothing listening on 127.0.0.1",
            tcp(lo, closed),
            Outcome::Refused,
        ),
        case(
            "tcp-refused-ipv6",
            "nothing listening on ::1",
            tcp(lo6, closed),
            Outcome::Refused,
        ),
        case(
            "http-200",
            "responder on 127.0.0.1",
            http(lo, served_tcp, "/"),
            Outcome::HttpStatus { code: 200 },
        ),
        case(
            "http-404",
            "responder /status/404",
            http(lo, served_tcp, "/status/404"),
            Outcome::HttpStatus { code: 404 },
        ),
        case(
            "http-500",
            "responder /status/500",
            http(lo6, served_tcp6, "/status/500?why=test"),
            Outcome::HttpStatus { code: 500 },
        ),
        case(
            "http-refused",
            "nothing listening on 127.0.0.1",
            http(lo, closed, "/"),
            Outcome::Refused,
        ),
        case(
            "http-no-response",
            "listener that accepts and never answers",
            http(lo, silent_tcp, "/"),
            error("connected, but no complete HTTP response"),
        ),
        case(
            "https-not-tls",
            "https to the plain-text responder",
            ProbeSpec::Http {
                scheme: Scheme::Https,
                host: lo.to_string(),
                port: served_tcp,
                path: "/".into(),
            },
            error("curl exit 35"),
        ),
        case(
            "udp-echo",
            "responder on 127.0.0.1",
            udp(lo, served_udp),
            Outcome::Connected,
        ),
        case(
            "udp-silence",
            "UDP socket that never answers",
            udp(lo, silent_udp),
            Outcome::Timeout,
        ),
        case(
            "udp-port-unreachable",
            "nothing listening on 127.0.0.1: ICMP port unreachable",
            udp(lo, closed),
            Outcome::Refused,
        ),
        case(
            "dns-answer",
            "test DNS server: web.test has A and AAAA",
            dns("web.test", dns_server),
            Outcome::Connected,
        ),
        case(
            "dns-answer-v4-only",
            "test DNS server: v4.test has only A (AAAA empty)",
            dns("v4.test.", dns_server),
            Outcome::Connected,
        ),
        case(
            "dns-nxdomain",
            "test DNS server: unknown name",
            dns("nosuch.test", dns_server),
            Outcome::DnsNxdomain,
        ),
        case(
            "dns-servfail",
            "test DNS server answers SERVFAIL",
            dns("servfail.test", dns_server),
            Outcome::DnsServfail,
        ),
        case(
            "dns-refused-rcode",
            "test DNS server answers REFUSED",
            dns("refused.test", dns_server),
            error("DNS error answer"),
        ),
        case(
            "dns-timeout",
            "UDP socket that never answers",
            dns("web.test", silent_dns),
            Outcome::DnsTimeout,
        ),
        case(
            "dns-port-unreachable",
            "nothing listening: ICMP port unreachable",
            dns("web.test", closed_dns),
            Outcome::Refused,
        ),
        case(
            "dns-tcp-answer",
            "test DNS server over TCP: web.test has A and AAAA",
            dns_tcp("web.test", dns_server),
            Outcome::Connected,
        ),
        case(
            "dns-tcp-nxdomain",
            "test DNS server over TCP: unknown name",
            dns_tcp("nosuch.test", dns_server),
            Outcome::DnsNxdomain,
        ),
        case(
            "dns-tcp-servfail",
            "test DNS server over TCP answers SERVFAIL",
            dns_tcp("servfail.test", dns_server),
            Outcome::DnsServfail,
        ),
        case(
            "dns-tcp-refused",
            "nothing listening on 127.0.0.1: TCP reset",
            dns_tcp("web.test", closed_dns),
            Outcome::Refused,
        ),
        case(
            "dns-tcp-no-answer",
            "TCP listener that accepts and never answers",
            dns_tcp("web.test", (lo, silent_tcp)),
            Outcome::DnsTimeout,
        ),
    ];
    for c in &mut cases {
        match c.name {
            "udp-echo" => c.expected_responder = Some("capture-server".into()),
            "dns-answer" | "dns-tcp-answer" => {
                c.expected_addresses = vec![
                    "192.0.2.10".parse().unwrap(),
                    "2001:db8::10".parse().unwrap(),
                ];
            }
            "dns-answer-v4-only" => c.expected_addresses = vec!["192.0.2.11".parse().unwrap()],
            "http-no-response" => c.request.timeout_ms = 1000,
            _ => {}
        }
    }
    cases
}

/// Cases run in the client namespace of a [`NetnsPair`]: nothing they send leaves the pair.
fn netns_cases() -> Vec<Case> {
    let server: IpAddr = SERVER_IP.into();
    let off_link: IpAddr = Ipv4Addr::new(10, 99, 0, 1).into();
    vec![
        case(
            "tcp-timeout",
            "nft drop in the server namespace",
            tcp(server, DROPPED_TCP),
            Outcome::Timeout,
        ),
        case(
            "tcp-network-unreachable",
            "no route to the target",
            tcp(off_link, 80),
            error("unreachable"),
        ),
        case(
            "tcp-name-not-resolved",
            "the namespace has no route to any DNS server",
            tcp("nosuch.invalid", 80),
            error("name not resolved"),
        ),
        case(
            "http-timeout",
            "nft drop in the server namespace",
            http(server, DROPPED_TCP, "/"),
            Outcome::Timeout,
        ),
        case(
            "http-network-unreachable",
            "no route to the target",
            http(off_link, 80, "/"),
            error("unreachable"),
        ),
        case(
            "http-name-not-resolved",
            "the namespace has no route to any DNS server",
            http("nosuch.invalid", 80, "/"),
            error("name not resolved"),
        ),
        case(
            "udp-timeout",
            "nft drop in the server namespace",
            udp(server, DROPPED_UDP),
            Outcome::Timeout,
        ),
        case(
            "udp-name-not-resolved",
            "the namespace has no route to any DNS server",
            udp("nosuch.invalid", 53),
            error("name not resolved"),
        ),
        case(
            "dns-timeout-dropped",
            "nft drop in the server namespace",
            dns("web.test", (server, DROPPED_UDP)),
            Outcome::DnsTimeout,
        ),
        case(
            "dns-tcp-timeout",
            "nft drop in the server namespace",
            dns_tcp("web.test", (server, DROPPED_TCP)),
            Outcome::DnsTimeout,
        ),
        case(
            "dns-network-unreachable",
            "no route to the DNS server",
            dns("web.test", (off_link, 53)),
            error("no DNS server reached"),
        ),
    ]
}

fn tool_versions() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .map(|o| {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                text.lines().next().unwrap_or("").to_owned()
            })
            .unwrap_or_else(|e| format!("unavailable: {e}"))
    };
    format!(
        "# Tools the fixtures in outcomes/ were captured with.\n\
         nc: netcat-openbsd {}\ncurl: {}\nnslookup: {}\nkernel: {}\nclient namespace address: {CLIENT_IP}\n",
        run(&["dpkg-query", "-W", "-f", "${Version}", "netcat-openbsd"]),
        run(&["curl", "--version"]),
        run(&["nslookup", "-version"]),
        run(&["uname", "-r"]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "generator: rewrites probes/testdata (root; creates network namespaces)"]
async fn capture_fixtures() {
    let (server, tcp4, udp4) =
        support::bind_server(Ipv4Addr::LOCALHOST.into(), "capture-server", 1, 1);
    let (server6, tcp6, _) =
        support::bind_server(Ipv6Addr::LOCALHOST.into(), "capture-server", 1, 0);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop6, stopped6) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    tokio::spawn(server6.run_until(async {
        let _ = stopped6.await;
    }));
    let silent_tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (_silent_udp, silent_udp_port) = support::silent_udp().await;
    let mut zone = Zone::default();
    zone.names.insert(
        "web.test".into(),
        vec![
            "192.0.2.10".parse().unwrap(),
            "2001:db8::10".parse().unwrap(),
        ],
    );
    zone.names
        .insert("v4.test".into(), vec!["192.0.2.11".parse().unwrap()]);
    let dns = support::spawn_dns(zone).await;
    let cases = loopback_cases(
        tcp4[0].port(),
        tcp6[0].port(),
        udp4[0].port(),
        silent_tcp.local_addr().unwrap().port(),
        silent_udp_port,
        support::closed_port(),
        (dns.ip(), dns.port()),
    );
    // Keep accepted connections of the silent listener open until the end.
    let held = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let holder = held.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = silent_tcp.accept().await {
            holder.lock().await.push(stream);
        }
    });
    let mut captured = Vec::new();
    for case in cases {
        captured.push(capture(case).await);
    }
    let pair = NetnsPair::new();
    let netns = pair.client.block_on(|| async {
        let mut captured = Vec::new();
        for case in netns_cases() {
            captured.push(capture(case).await);
        }
        captured
    });
    captured.extend(netns);
    drop(pair);
    let _ = (stop.send(()), stop6.send(()));

    let dir = outcomes_dir();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    for (name, fixture) in &captured {
        let mut json = serde_json::to_string_pretty(fixture).unwrap();
        json.push('\n');
        std::fs::write(dir.join(format!("{name}.json")), json).unwrap();
    }
    std::fs::write(dir.parent().unwrap().join("VERSIONS"), tool_versions()).unwrap();
    let failures: Vec<String> = captured
        .iter()
        .filter_map(|(name, f)| check(f).err().map(|e| format!("{name}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "written, but:\n{}",
        failures.join("\n")
    );
}
