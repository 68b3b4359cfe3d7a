//! Test fixtures: network namespaces with a veth link and drop rules, a small DNS responder,
//! and the responder on loopback.
//!
//! Every namespace is named `nvp-<tag>-<unique>` and deleted on drop, also when a test panics.
//! Set `NVP_KEEP_NETNS=1` to keep them for debugging.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use netverdict_probes::{Identity, ServeConfig, Server};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

/// The port a [`NetnsPair`]'s server drops TCP on.
pub const DROPPED_TCP: u16 = 81;
/// The port a [`NetnsPair`]'s server drops UDP on.
pub const DROPPED_UDP: u16 = 54;
/// Client and server addresses of a [`NetnsPair`]: a /30 that exists only inside the pair.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 1);
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 2);

fn sh(args: &[&str]) {
    let status = Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(status.success(), "{args:?} failed: {status}");
}

fn unique(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "nvp-{tag}-{:x}{:x}{}",
        std::process::id(),
        nanos & 0xffff,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Self {
        let name = unique(tag);
        sh(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        sh(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `make()`'s future to completion on a new thread that has entered this namespace,
    /// on a runtime of its own: sockets opened and processes spawned there live in the namespace.
    pub fn block_on<F, T>(&self, make: impl FnOnce() -> F + Send) -> T
    where
        F: Future<Output = T>,
        T: Send,
    {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    self.enter_this_thread();
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(make())
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Starts `make()`'s future on a thread in this namespace, stopped (and joined) when the
    /// returned guard drops.
    pub fn spawn<F>(&self, make: impl FnOnce() -> F + Send + 'static) -> Background
    where
        F: Future<Output = ()>,
    {
        let path = self.path();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            enter(&path);
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    tokio::select! {
                        () = make() => {}
                        _ = stopped => {}
                    }
                });
        });
        Background {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    fn enter_this_thread(&self) {
        enter(&self.path());
    }

    /// Loads an nftables ruleset inside the namespace.
    pub fn nft(&self, ruleset: &str) {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ruleset.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "nft failed:\n{ruleset}");
    }
}

fn enter(path: &str) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    // SAFETY: setns on a valid namespace fd only changes this thread's network namespace.
    let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

impl Drop for Netns {
    fn drop(&mut self) {
        if std::env::var_os("NVP_KEEP_NETNS").is_some() {
            eprintln!("keeping network namespace {}", self.name);
            return;
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A task on a thread of its own; stopped and joined on drop.
pub struct Background {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Two namespaces joined by a veth link; the server drops TCP port [`DROPPED_TCP`] and UDP
/// port [`DROPPED_UDP`] in its input hook, as a CNI enforcing a deny would: silently.
pub struct NetnsPair {
    pub client: Netns,
    pub server: Netns,
}

impl NetnsPair {
    pub fn new() -> Self {
        let client = Netns::new("c");
        let server = Netns::new("s");
        sh(&[
            "ip",
            "-n",
            &client.name,
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &server.name,
        ]);
        for (ns, ip) in [(&client, CLIENT_IP), (&server, SERVER_IP)] {
            sh(&[
                "ip",
                "-n",
                &ns.name,
                "addr",
                "add",
                &format!("{ip}/30"),
                "dev",
                "eth0",
            ]);
            sh(&["ip", "-n", &ns.name, "link", "set", "eth0", "up"]);
        }
        server.nft(&format!(
            "table inet nvp {{
               chain input {{
                 type filter hook input priority 0; policy accept;
                 tcp dport {DROPPED_TCP} drop
                 udp dport {DROPPED_UDP} drop
               }}
             }}"
        ));
        Self { client, server }
    }
}

pub fn identity(pod: &str) -> Identity {
    Identity {
        pod: pod.into(),
        namespace: "probes-test".into(),
        ip: "127.0.0.1".into(),
    }
}

/// The responder on `ip`, free ports; returns its TCP and UDP addresses.
pub fn bind_server(
    ip: IpAddr,
    pod: &str,
    tcp: usize,
    udp: usize,
) -> (Server, Vec<SocketAddr>, Vec<SocketAddr>) {
    let server = Server::bind(ServeConfig {
        tcp: vec![0; tcp],
        udp: vec![0; udp],
        sctp: vec![],
        bind: Some(ip),
        identity: identity(pod),
    })
    .unwrap();
    let (tcp, udp) = (server.tcp_addrs(), server.udp_addrs());
    (server, tcp, udp)
}

/// A free loopback port with nothing listening (TCP and UDP), as far as anyone can tell.
pub fn closed_port() -> u16 {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    drop(tcp);
    port
}

/// What [`DnsResponder`] answers.
#[derive(Clone, Default)]
pub struct Zone {
    /// Lower-case names without trailing dot, with their addresses.
    pub names: HashMap<String, Vec<IpAddr>>,
}

/// A tiny DNS server over UDP: known names get their A/AAAA records (an empty answer for a
/// family they lack), names starting with `servfail.` get SERVFAIL, `refused.` REFUSED, and
/// every other name NXDOMAIN.
pub struct DnsResponder;

impl DnsResponder {
    pub async fn serve(socket: UdpSocket, zone: Arc<Zone>) {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            if let Some(reply) = answer(&buf[..len], &zone) {
                let _ = socket.send_to(&reply, peer).await;
            }
        }
    }
}

impl DnsResponder {
    /// DNS over TCP: messages framed by a two-byte length, several per connection.
    pub async fn serve_tcp(listener: tokio::net::TcpListener, zone: Arc<Zone>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let zone = zone.clone();
            tokio::spawn(async move {
                loop {
                    let mut len = [0u8; 2];
                    if stream.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if stream.read_exact(&mut query).await.is_err() {
                        return;
                    }
                    let Some(reply) = answer(&query, &zone) else {
                        return;
                    };
                    let mut framed = u16::try_from(reply.len()).unwrap().to_be_bytes().to_vec();
                    framed.extend(reply);
                    if stream.write_all(&framed).await.is_err() {
                        return;
                    }
                }
            });
        }
    }
}

const RCODE_SERVFAIL: u16 = 2;
const RCODE_NXDOMAIN: u16 = 3;
const RCODE_REFUSED: u16 = 5;

fn answer(query: &[u8], zone: &Zone) -> Option<Vec<u8>> {
    if query.len() < 12 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    let mut labels = Vec::new();
    let mut at = 12;
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question_end = at + 4;
    query.get(..question_end)?;
    let name = labels.join(".");
    let mut records: Vec<Vec<u8>> = Vec::new();
    let rcode = if let Some(addresses) = zone.names.get(&name) {
        for ip in addresses {
            let (rtype, data) = match ip {
                IpAddr::V4(v4) => (1u16, v4.octets().to_vec()),
                IpAddr::V6(v6) => (28u16, v6.octets().to_vec()),
            };
            if rtype == qtype {
                let mut rr = vec![0xc0, 12];
                rr.extend(rtype.to_be_bytes());
                rr.extend(1u16.to_be_bytes());
                rr.extend(30u32.to_be_bytes());
                rr.extend(u16::try_from(data.len()).unwrap().to_be_bytes());
                rr.extend(data);
                records.push(rr);
            }
        }
        0
    } else if name.starts_with("servfail.") {
        RCODE_SERVFAIL
    } else if name.starts_with("refused.") {
        RCODE_REFUSED
    } else {
        RCODE_NXDOMAIN
    };
    let rd = u16::from_be_bytes([query[2], query[3]]) & 0x0100;
    let flags = 0x8000 | 0x0400 | rd | 0x0080 | rcode;
    let mut reply = Vec::with_capacity(512);
    reply.extend_from_slice(&query[..2]);
    reply.extend(flags.to_be_bytes());
    reply.extend(1u16.to_be_bytes());
    reply.extend(u16::try_from(records.len()).unwrap().to_be_bytes());
    reply.extend([0, 0, 0, 0]);
    reply.extend_from_slice(&query[12..question_end]);
    for rr in records {
        reply.extend(rr);
    }
    Some(reply)
}

/// Spawns a [`DnsResponder`] on a free loopback port of the current runtime, over UDP and TCP
/// on the same port number.
pub async fn spawn_dns(zone: Zone) -> SocketAddr {
    let zone = Arc::new(zone);
    for _ in 0..50 {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let Ok(listener) = tokio::net::TcpListener::bind(addr).await else {
            continue;
        };
        tokio::spawn(DnsResponder::serve(socket, zone.clone()));
        tokio::spawn(DnsResponder::serve_tcp(listener, zone));
        return addr;
    }
    panic!("no loopback port free for both UDP and TCP");
}

/// A UDP socket that receives and never answers; kept open while the value lives.
pub async fn silent_udp() -> (UdpSocket, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

/// Whether this test can run: it needs root (network namespaces, nftables). Says why it is
/// skipped when not.
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}
