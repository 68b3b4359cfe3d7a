//! The responder answers the real tools on loopback, survives garbage and many clients at once.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Stdio;

use netverdict_probes::{ServeConfig, ServeError, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::process::Command;
use tokio::sync::oneshot;

struct Running {
    tcp: SocketAddr,
    udp: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn running(ip: IpAddr, pod: &str) -> Running {
    let (server, tcp, udp) = support::bind_server(ip, pod, 1, 1);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    Running {
        tcp: tcp[0],
        udp: udp[0],
        _stop: stop,
    }
}

async fn tool(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
    }
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text:?}"))
}

#[tokio::test]
async fn a_raw_nc_client_gets_a_line_naming_the_pod() {
    let server = running(Ipv4Addr::LOCALHOST.into(), "raw-pod").await;
    let port = server.tcp.port().to_string();
    let (code, stdout, _) = tool(&["nc", "-w", "3", "-n", "127.0.0.1", &port], None).await;
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    let line = json(&stdout);
    assert_eq!(line["pod"], "raw-pod");
    assert_eq!(line["namespace"], "probes-test");
    assert_eq!(line["client"], "127.0.0.1");
    // A raw client that talks first gets the same line.
    let (_, stdout, _) = tool(
        &["nc", "-N", "-w", "3", "-n", "127.0.0.1", &port],
        Some("hello\n"),
    )
    .await;
    assert_eq!(json(&stdout)["pod"], "raw-pod");
}

#[tokio::test]
async fn an_http_client_slow_to_send_its_request_still_gets_http() {
    let server = running(Ipv4Addr::LOCALHOST.into(), "busy-pod").await;
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    // A client descheduled between its connection and its request, as on a busy node.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: busy\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply:?}");
}

#[tokio::test]
async fn curl_gets_status_and_a_json_body_naming_the_pod() {
    let server = running(Ipv6Addr::LOCALHOST.into(), "http-pod").await;
    let base = format!("http://[::1]:{}", server.tcp.port());
    let (code, body, stderr) = tool(&["curl", "-sS", "--max-time", "5", &base], None).await;
    assert_eq!(code, 0, "{stderr}");
    let body = json(&body);
    assert_eq!(body["pod"], "http-pod");
    assert_eq!(body["ip"], "127.0.0.1");
    assert_eq!(body["path"], "/");
    assert_eq!(body["port"], server.tcp.port());
    for (path, status) in [
        ("/status/503", "503"),
        ("/x?y=1", "200"),
        ("/status/99", "200"),
    ] {
        let url = format!("{base}{path}");
        let (_, out, _) = tool(
            &["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", &url],
            None,
        )
        .await;
        assert_eq!(out, status, "{path}");
    }
    let (_, out, _) = tool(&["curl", "-sS", "-I", &base], None).await;
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out:?}");
}

#[tokio::test]
async fn udp_datagrams_come_back_prefixed_with_the_pod_name() {
    let server = running(Ipv4Addr::LOCALHOST.into(), "udp-pod").await;
    let port = server.udp.port().to_string();
    let (code, stdout, _) = tool(
        &["nc", "-u", "-W", "1", "-w", "3", "-n", "127.0.0.1", &port],
        Some("nvp-token-1\n"),
    )
    .await;
    assert_eq!((code, stdout.as_str()), (0, "udp-pod nvp-token-1\n"));
    // Empty and binary datagrams are echoed too.
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(server.udp).await.unwrap();
    let mut buf = vec![0u8; 70_000];
    client.send(b"").await.unwrap();
    let len = client.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..len], b"udp-pod ");
    client.send(&[0xff, 0, 0xfe]).await.unwrap();
    let len = client.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..len], b"udp-pod \xff\x00\xfe");
    // The largest datagram still gets an answer, cut to fit.
    client.send(&[b'x'; 65_507]).await.unwrap();
    let len = client.recv(&mut buf).await.unwrap();
    assert_eq!(len, 65_507);
}

#[tokio::test]
async fn garbage_never_stops_the_server() {
    let server = running(Ipv4Addr::LOCALHOST.into(), "tough-pod").await;
    let garbage: Vec<Vec<u8>> = vec![
        vec![0; 100_000],
        b"GET".to_vec(),
        b"GET /\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\n".repeat(5_000),
        b"POST /status/notanumber HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nxx".to_vec(),
        (0..=255u8).cycle().take(10_000).collect(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
    ];
    for bytes in garbage {
        let mut stream = TcpStream::connect(server.tcp).await.unwrap();
        // The server may close early: a failed write is fine, a dead server is not.
        let _ = stream.write_all(&bytes).await;
        let _ = stream.shutdown().await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
    }
    // Half-open clients that vanish mid-greeting.
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.tcp).await.unwrap();
        stream.write_all(b"PO").await.unwrap();
        drop(stream);
    }
    let port = server.tcp.port().to_string();
    let (code, stdout, _) = tool(
        &[
            "curl",
            "-sS",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{port}/"),
        ],
        None,
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(json(&stdout)["pod"], "tough-pod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_at_once_all_get_answers() {
    let server = running(Ipv4Addr::LOCALHOST.into(), "busy-pod").await;
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..300 {
        let addr = server.tcp;
        clients.spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            // Half of them speak HTTP, half wait for the raw line.
            if i % 2 == 0 {
                stream
                    .write_all(b"GET /many HTTP/1.1\r\nHost: x\r\n\r\n")
                    .await
                    .unwrap();
            }
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer
        });
    }
    let mut answered = 0;
    while let Some(answer) = clients.join_next().await {
        let answer = answer.unwrap();
        let body = answer.rsplit("\r\n\r\n").next().unwrap();
        assert_eq!(json(body)["pod"], "busy-pod", "{answer:?}");
        answered += 1;
    }
    assert_eq!(answered, 300);
}

#[tokio::test]
async fn sctp_is_served_or_said_to_be_unavailable() {
    let config = ServeConfig {
        tcp: vec![],
        udp: vec![],
        sctp: vec![0],
        bind: Some(Ipv4Addr::LOCALHOST.into()),
        identity: support::identity("sctp-pod"),
    };
    match Server::bind(config) {
        Ok(server) => assert_eq!(server.sctp_addrs().len(), 1),
        Err(error @ ServeError::SctpUnavailable { .. }) => {
            assert!(
                error
                    .to_string()
                    .contains("SCTP is not available on this node"),
                "{error}"
            );
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[test]
fn bind_errors_name_the_port() {
    let config = |tcp| ServeConfig {
        tcp,
        udp: vec![],
        sctp: vec![],
        bind: Some(Ipv4Addr::LOCALHOST.into()),
        identity: support::identity("p"),
    };
    assert!(matches!(
        Server::bind(config(vec![])),
        Err(ServeError::NoPorts)
    ));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let Err(error) = Server::bind(config(vec![port])) else {
        panic!("bound a taken port");
    };
    assert!(
        error.to_string().contains(&format!("TCP port {port}")),
        "{error}"
    );
}

#[tokio::test]
async fn shutdown_stops_every_listener() {
    let (server, tcp, _) = support::bind_server(Ipv4Addr::LOCALHOST.into(), "p", 1, 1);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    TcpStream::connect(tcp[0]).await.unwrap();
    stop.send(()).unwrap();
    task.await.unwrap();
    assert!(TcpStream::connect(tcp[0]).await.is_err());
}
