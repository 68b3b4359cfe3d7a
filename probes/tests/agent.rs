//! The batch agent end to end: real tools against the responder on loopback, and across a pair
//! of network namespaces where a drop rule makes timeouts.

mod support;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use netverdict_probes::{
    AgentLine, BatchRequest, BatchSummary, Exit, Outcome, ProbeRecord, ProbeRequest, ProbeSpec,
    Scheme, ServeConfig, Server, ToolCommand, read_request, run_batch,
};
use support::{DROPPED_TCP, DROPPED_UDP, NetnsPair, SERVER_IP, Zone};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

fn probe(id: &str, timeout_secs: u32, probe: ProbeSpec) -> ProbeRequest {
    probe_ms(id, timeout_secs * 1000, probe)
}

fn probe_ms(id: &str, timeout_ms: u32, probe: ProbeSpec) -> ProbeRequest {
    ProbeRequest {
        id: id.into(),
        timeout_ms,
        probe,
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

/// Parses the agent's output: the records by id, and the summary, which must come last.
fn parse_output(output: &[u8]) -> (HashMap<String, ProbeRecord>, BatchSummary) {
    let text = std::str::from_utf8(output).unwrap();
    let mut lines: Vec<AgentLine> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let Some(AgentLine::Done(summary)) = lines.pop() else {
        panic!("the last line is not `done`:\n{text}");
    };
    let mut records = HashMap::new();
    for line in lines {
        let AgentLine::Record(record) = line else {
            panic!("unexpected line {line:?}");
        };
        assert!(
            records.insert(record.id.clone(), record).is_none(),
            "a probe reported twice"
        );
    }
    assert_eq!(summary.probes, records.len());
    (records, summary)
}

async fn start(server: Server) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    stop
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_on_loopback_reports_every_outcome() {
    let lo = Ipv4Addr::LOCALHOST;
    let (server, tcp_addrs, udp_addrs) = support::bind_server(lo.into(), "agent-target", 1, 1);
    let _stop = start(server).await;
    let (tcp_port, udp_port) = (tcp_addrs[0].port(), udp_addrs[0].port());
    let closed = support::closed_port();
    let (_silent, silent_port) = support::silent_udp().await;
    let mut zone = Zone::default();
    zone.names
        .insert("db.test".into(), vec!["192.0.2.5".parse().unwrap()]);
    let dns = support::spawn_dns(zone).await;
    let dns_probe = |name: &str| ProbeSpec::Dns {
        name: name.into(),
        server: Some(dns.ip().to_string()),
        port: Some(dns.port()),
        tcp: false,
    };
    let dns_tcp_probe = |name: &str| ProbeSpec::Dns {
        name: name.into(),
        server: Some(dns.ip().to_string()),
        port: Some(dns.port()),
        tcp: true,
    };
    let request = BatchRequest::new(vec![
        probe("tcp-open", 2, tcp(lo, tcp_port)),
        probe("tcp-closed", 2, tcp(lo, closed)),
        probe("http-ok", 2, http(lo, tcp_port, "/")),
        probe("http-404", 2, http("localhost", tcp_port, "/status/404")),
        probe("udp-echo", 2, udp(lo, udp_port)),
        probe("udp-echo-2", 2, udp(lo, udp_port)),
        probe("udp-silent", 1, udp(lo, silent_port)),
        probe("udp-closed", 2, udp(lo, closed)),
        probe("dns-found", 2, dns_probe("db.test.")),
        probe("dns-missing", 2, dns_probe("nope.test")),
        probe("dns-servfail", 2, dns_probe("servfail.test")),
        probe("dns-tcp-found", 2, dns_tcp_probe("db.test")),
        probe("dns-tcp-missing", 2, dns_tcp_probe("nope.test")),
        probe("hostile", 2, tcp("-e/bin/sh", 1)),
    ]);
    let mut output = Vec::new();
    let summary = run_batch(request.clone(), &mut output).await.unwrap();
    let (records, done) = parse_output(&output);
    assert_eq!(summary, done);
    assert_eq!(records.len(), request.probes.len());

    let outcome = |id: &str| records[id].outcome.clone();
    assert_eq!(outcome("tcp-open"), Outcome::Connected);
    assert_eq!(outcome("tcp-closed"), Outcome::Refused);
    assert_eq!(outcome("http-ok"), Outcome::HttpStatus { code: 200 });
    assert_eq!(outcome("http-404"), Outcome::HttpStatus { code: 404 });
    assert_eq!(outcome("udp-echo"), Outcome::Connected);
    assert_eq!(outcome("udp-silent"), Outcome::Timeout);
    assert_eq!(outcome("udp-closed"), Outcome::Refused);
    assert_eq!(outcome("dns-found"), Outcome::Connected);
    assert_eq!(outcome("dns-missing"), Outcome::DnsNxdomain);
    assert_eq!(outcome("dns-servfail"), Outcome::DnsServfail);
    assert_eq!(outcome("dns-tcp-found"), Outcome::Connected);
    assert_eq!(outcome("dns-tcp-missing"), Outcome::DnsNxdomain);
    assert_eq!(records["dns-tcp-found"].argv[1], "-vc");
    assert!(
        matches!(outcome("hostile"), Outcome::Error { reason } if reason.contains("invalid probe"))
    );
    assert!(records["hostile"].argv.is_empty(), "nothing ran");

    assert_eq!(
        records["udp-echo"].responder.as_deref(),
        Some("agent-target")
    );
    assert_eq!(
        records["dns-found"].addresses,
        ["192.0.2.5".parse::<IpAddr>().unwrap()]
    );
    // Each UDP probe carries its own token, and the record says which.
    let tokens: HashSet<_> = ["udp-echo", "udp-echo-2", "udp-silent"]
        .iter()
        .map(|id| records[*id].stdin.clone().unwrap())
        .collect();
    assert_eq!(tokens.len(), 3);
    let echo = &records["udp-echo"];
    assert_eq!(
        echo.stdout,
        format!("agent-target {}", echo.stdin.as_deref().unwrap())
    );
    // The argv in each record is exactly what the builder makes for the request; a probe by
    // name was resolved first (localhost from /etc/hosts), and curl is pinned to the address.
    for request in &request.probes {
        let record = &records[&request.id];
        if let Ok(command) =
            ToolCommand::build(request, record.stdin.as_deref().unwrap_or("").trim_end())
        {
            let mut argv = command.argv.clone();
            if request.id == "http-404" {
                let url = argv.pop().unwrap();
                argv.extend([
                    "--resolve".into(),
                    format!("localhost:{tcp_port}:127.0.0.1"),
                    url,
                ]);
            }
            assert_eq!(record.argv, argv, "{}", request.id);
        }
    }
    assert!(
        records["http-404"]
            .stdout
            .starts_with("resolved localhost to 127.0.0.1: "),
        "{}",
        records["http-404"].stdout
    );
    // The HTTP record's excerpt holds the responder's evidence: curl's verbose exchange.
    assert!(records["http-ok"].stderr.contains("HTTP/1.1 200 OK"));
}

/// A UDP peer that answers its probe only after the agent has streamed the record of another
/// probe: if records waited for the batch to end, the UDP probe would time out instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_stream_as_probes_finish() {
    let lo = Ipv4Addr::LOCALHOST;
    let (server, tcp_addrs, _) = support::bind_server(lo.into(), "fast", 1, 0);
    let _stop = start(server).await;
    let gate = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let gate_port = gate.local_addr().unwrap().port();
    let request = BatchRequest::new(vec![
        probe("fast", 5, tcp(lo, tcp_addrs[0].port())),
        probe("gated", 20, udp(lo, gate_port)),
    ]);
    let (agent_out, reader) = tokio::io::duplex(64 * 1024);
    let agent = tokio::spawn(run_batch(request, agent_out));
    let mut lines = BufReader::new(reader).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let AgentLine::Record(first) = serde_json::from_str(&first).unwrap() else {
        panic!("{first}");
    };
    assert_eq!(first.id, "fast");
    // Only now release the gated probe.
    let mut buf = [0u8; 512];
    let (len, peer) = gate.recv_from(&mut buf).await.unwrap();
    let mut reply = b"gate ".to_vec();
    reply.extend_from_slice(&buf[..len]);
    gate.send_to(&reply, peer).await.unwrap();
    let second = lines.next_line().await.unwrap().unwrap();
    let AgentLine::Record(second) = serde_json::from_str(&second).unwrap() else {
        panic!("{second}");
    };
    assert_eq!(second.id, "gated");
    assert_eq!(second.outcome, Outcome::Connected);
    assert_eq!(second.responder.as_deref(), Some("gate"));
    let done = lines.next_line().await.unwrap().unwrap();
    assert!(matches!(
        serde_json::from_str(&done).unwrap(),
        AgentLine::Done(_)
    ));
    agent.await.unwrap().unwrap();
}

/// N UDP probes to a peer that answers none of them until it holds all N tokens: only a batch
/// whose probes all run at once can get N echoes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_run_concurrently() {
    const N: usize = 40;
    let barrier = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let port = barrier.local_addr().unwrap().port();
    let socket = barrier.clone();
    let held = tokio::spawn(async move {
        let mut waiting: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        let mut buf = [0u8; 512];
        while waiting.len() < N {
            let (len, peer) = socket.recv_from(&mut buf).await.unwrap();
            waiting.push((buf[..len].to_vec(), peer));
        }
        for (token, peer) in waiting {
            let mut reply = b"barrier ".to_vec();
            reply.extend(token);
            socket.send_to(&reply, peer).await.unwrap();
        }
    });
    let probes = (0..N)
        .map(|i| probe(&format!("u{i}"), 10, udp(Ipv4Addr::LOCALHOST, port)))
        .collect();
    let mut output = Vec::new();
    run_batch(BatchRequest::new(probes), &mut output)
        .await
        .unwrap();
    held.await.unwrap();
    let (records, summary) = parse_output(&output);
    assert_eq!(summary.probes, N);
    for record in records.values() {
        assert_eq!(record.outcome, Outcome::Connected, "{record:?}");
        assert_eq!(record.responder.as_deref(), Some("barrier"));
    }
}

#[tokio::test]
async fn a_request_arrives_as_one_line_on_stdin() {
    let request = BatchRequest::new(vec![probe("a", 1, tcp("10.0.0.1", 80))]);
    let (mut runner, agent_stdin) = tokio::io::duplex(4096);
    let mut line = serde_json::to_vec(&request).unwrap();
    line.push(b'\n');
    runner.write_all(&line).await.unwrap();
    // The runner keeps stdin open, as an exec client without stream close does.
    assert_eq!(read_request(agent_stdin).await.unwrap(), request);
}

/// The responder in the server namespace of `pair` on TCP 80 and UDP 53 (open) and on the ports
/// the pair drops; returns once it listens.
fn serve_dropped_and_open(pair: &NetnsPair) -> support::Background {
    let (ready, is_ready) = std::sync::mpsc::channel();
    let server = pair.server.spawn(move || async move {
        let server = Server::bind(ServeConfig {
            tcp: vec![80, DROPPED_TCP],
            udp: vec![53, DROPPED_UDP],
            sctp: vec![],
            bind: None,
            identity: support::identity("server-pod"),
        })
        .unwrap();
        ready.send(()).unwrap();
        server.run_until(std::future::pending()).await;
    });
    is_ready.recv().unwrap();
    server
}

/// Timeouts for real: the agent in one namespace, the responder in another, and a drop rule in
/// between for some ports, as a CNI enforcing a deny.
#[test]
fn across_namespaces_drops_time_out_and_the_rest_connects() {
    if !support::running_as_root() {
        return;
    }
    let pair = NetnsPair::new();
    let _server = serve_dropped_and_open(&pair);
    let target = SERVER_IP;
    let request = BatchRequest::new(vec![
        probe("tcp-allowed", 1, tcp(target, 80)),
        probe("tcp-dropped", 1, tcp(target, DROPPED_TCP)),
        probe("http-allowed", 1, http(target, 80, "/")),
        probe("http-dropped", 1, http(target, DROPPED_TCP, "/")),
        probe("udp-allowed", 1, udp(target, 53)),
        probe("udp-dropped", 1, udp(target, DROPPED_UDP)),
    ]);
    let output = pair.client.block_on(|| async {
        let mut output = Vec::new();
        run_batch(request, &mut output).await.unwrap();
        output
    });
    let (records, _) = parse_output(&output);
    let outcome = |id: &str| records[id].outcome.clone();
    assert_eq!(outcome("tcp-allowed"), Outcome::Connected);
    assert_eq!(outcome("tcp-dropped"), Outcome::Timeout);
    assert_eq!(outcome("http-allowed"), Outcome::HttpStatus { code: 200 });
    assert_eq!(outcome("http-dropped"), Outcome::Timeout);
    assert_eq!(outcome("udp-allowed"), Outcome::Connected);
    assert_eq!(
        records["udp-allowed"].responder.as_deref(),
        Some("server-pod")
    );
    assert_eq!(outcome("udp-dropped"), Outcome::Timeout);
}

/// A 300 ms timeout is 300 ms for every kind: curl takes it itself, nc and nslookup (whole
/// seconds, so `-w 1`) are ended by the agent at the deadline, before their own second is up,
/// which their exit (a signal, not nc's own exit 1) shows.
#[test]
fn sub_second_timeouts_are_honoured_for_every_kind() {
    if !support::running_as_root() {
        return;
    }
    let pair = NetnsPair::new();
    let _server = serve_dropped_and_open(&pair);
    let target = SERVER_IP;
    let dns = ProbeSpec::Dns {
        name: "db.test.".into(),
        server: Some(target.to_string()),
        port: Some(DROPPED_UDP),
        tcp: false,
    };
    let request = BatchRequest::new(vec![
        probe_ms("tcp-allowed", 300, tcp(target, 80)),
        probe_ms("tcp-dropped", 300, tcp(target, DROPPED_TCP)),
        probe_ms("http-dropped", 300, http(target, DROPPED_TCP, "/")),
        probe_ms("udp-dropped", 300, udp(target, DROPPED_UDP)),
        probe_ms("dns-dropped", 300, dns),
    ]);
    let output = pair.client.block_on(|| async {
        let mut output = Vec::new();
        run_batch(request, &mut output).await.unwrap();
        output
    });
    let (records, _) = parse_output(&output);
    assert_eq!(records["tcp-allowed"].outcome, Outcome::Connected);
    assert_eq!(records["tcp-allowed"].exit, Exit::Code(0));
    for (id, outcome) in [
        ("tcp-dropped", Outcome::Timeout),
        ("udp-dropped", Outcome::Timeout),
        ("dns-dropped", Outcome::DnsTimeout),
    ] {
        let record = &records[id];
        assert_eq!(record.outcome, outcome, "{id}: {record:?}");
        assert_eq!(record.deadline_ms, Some(300), "{id}");
        assert_eq!(
            record.exit,
            Exit::Signal(9),
            "{id}: ended by the agent: {record:?}"
        );
        let command = ToolCommand::from_record(record).unwrap();
        assert!(
            command.render().contains("| timeout 0.3 nc")
                || command.render().starts_with("timeout 0.3 "),
            "{id}"
        );
    }
    let http = &records["http-dropped"];
    assert_eq!(http.outcome, Outcome::Timeout, "{http:?}");
    assert_eq!(http.exit, Exit::Code(28), "curl's own timeout");
    assert_eq!(http.deadline_ms, None);
    assert!(
        http.argv
            .windows(2)
            .any(|w| w == ["--connect-timeout", "0.3"])
    );
}

/// The rerun line of a record, pasted into a shell, reproduces the record's outcome.
#[tokio::test]
async fn rendered_commands_rerun_in_a_shell() {
    let lo = Ipv4Addr::LOCALHOST;
    let (server, tcp_addrs, udp_addrs) = support::bind_server(lo.into(), "rerun-pod", 1, 1);
    let _stop = start(server).await;
    let requests = [
        probe("tcp", 2, tcp(lo, tcp_addrs[0].port())),
        probe(
            "http",
            2,
            http(lo, tcp_addrs[0].port(), "/status/418?a=b&c=d"),
        ),
        probe("udp", 2, udp(lo, udp_addrs[0].port())),
    ];
    for request in requests {
        let record = netverdict_probes::run_probe(&request, "nvp-rerun-token").await;
        let command = ToolCommand::from_record(&record).unwrap();
        let line = command.render();
        let out = tokio::process::Command::new("sh")
            .args(["-c", &line])
            .output()
            .await
            .unwrap();
        let rerun = netverdict_probes::classify(
            record.kind,
            &netverdict_probes::Exit::Code(out.status.code().unwrap()),
            &String::from_utf8_lossy(&out.stdout),
            &String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(rerun.outcome, record.outcome, "{line}");
        assert_ne!(record.outcome, Outcome::Timeout, "{line}");
        if record.kind == netverdict_probes::ProbeKind::Udp {
            assert_eq!(rerun.responder.as_deref(), Some("rerun-pod"));
            assert_eq!(rerun.echoed.as_deref(), Some("nvp-rerun-token"));
        }
    }
}
