//! `netverdict serve`: the responder in every probe pod.
//!
//! - TCP ports answer raw clients and HTTP clients on the same port. A client that sends an HTTP
//!   request line gets `200` (or the status asked for by `/status/NNN`) and a JSON body naming
//!   the pod; a client that sends anything else, or nothing for [`RAW_CLIENT_WAIT`], gets the same
//!   JSON as one line. `nc -z` connects and leaves: nothing is written.
//! - UDP ports echo each datagram back prefixed with the pod name and a space.
//! - SCTP ports (where the kernel has SCTP) answer like raw TCP.
//!
//! The identity comes from the downward API: `POD_NAME`, `POD_NAMESPACE`, `POD_IP`.
//! Nothing is logged per connection above `debug`. Malformed input never ends the server:
//! connections are bounded in size and time, and every error stays inside its connection.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::quote::Quoted;

/// How long a TCP client may stay silent before it is treated as a raw client and gets the line.
/// An HTTP client on a busy node can take hundreds of milliseconds from its connection to its
/// request (curl then reads the line as `Received HTTP/0.9 when not allowed`), and no probe waits
/// for the line, so the wait is long.
pub const RAW_CLIENT_WAIT: Duration = Duration::from_secs(1);

/// A connection is closed after this long, whatever it does.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);

/// Longest HTTP request head read.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Connections served at once per listener; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 4096;

/// The largest UDP payload that fits an IPv4 datagram.
const MAX_DATAGRAM: usize = 65_507;

const IPPROTO_SCTP: i32 = 132;

/// Who answers: the pod, as the downward API describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub pod: String,
    pub namespace: String,
    pub ip: String,
}

impl Identity {
    /// Reads `POD_NAME` (the hostname when unset, which Kubernetes sets to the pod name),
    /// `POD_NAMESPACE` and `POD_IP` (empty when unset).
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Self {
            pod: var("POD_NAME").unwrap_or_else(hostname),
            namespace: var("POD_NAMESPACE").unwrap_or_default(),
            ip: var("POD_IP").unwrap_or_default(),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// What to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeConfig {
    pub tcp: Vec<u16>,
    pub udp: Vec<u16>,
    pub sctp: Vec<u16>,
    /// The address to listen on; all addresses (IPv6 and IPv4, or IPv4 alone where the pod has
    /// no IPv6) when `None`.
    pub bind: Option<IpAddr>,
    pub identity: Identity,
}

/// Arguments of `netverdict serve`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// TCP ports answering raw and HTTP clients, e.g. `80,8080-8082`. Repeatable.
    #[arg(long, value_name = "PORTS")]
    pub tcp: Vec<PortList>,
    /// UDP ports echoing datagrams prefixed with the pod name. Repeatable.
    #[arg(long, value_name = "PORTS")]
    pub udp: Vec<PortList>,
    /// SCTP ports (the node's kernel must have SCTP). Repeatable.
    #[arg(long, value_name = "PORTS")]
    pub sctp: Vec<PortList>,
    /// Listen on this address only, instead of every address.
    #[arg(long, value_name = "IP")]
    pub bind: Option<IpAddr>,
}

impl ServeArgs {
    /// The configuration to serve, with the identity from the environment
    /// ([`Identity::from_env`]).
    pub fn to_config(&self) -> ServeConfig {
        let flatten = |lists: &[PortList]| {
            let mut ports: Vec<u16> = lists.iter().flat_map(|l| l.0.iter().copied()).collect();
            ports.sort_unstable();
            ports.dedup();
            ports
        };
        ServeConfig {
            tcp: flatten(&self.tcp),
            udp: flatten(&self.udp),
            sctp: flatten(&self.sctp),
            bind: self.bind,
            identity: Identity::from_env(),
        }
    }
}

/// Ports and port ranges: `80`, `80,443`, `8000-8010`. At most [`PortList::MAX_PORTS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortList(pub Vec<u16>);

impl PortList {
    /// Each port is a socket; a pod should not need more.
    pub const MAX_PORTS: usize = 4096;
}

impl std::str::FromStr for PortList {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let port = |p: &str| match p.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("{} is not a port (1-65535)", Quoted(p))),
            Ok(port) => Ok(port),
        };
        let mut ports = Vec::new();
        for item in text.split(',') {
            let (first, last) = match item.split_once('-') {
                Some((a, b)) => (port(a)?, port(b)?),
                None => (port(item)?, port(item)?),
            };
            if first > last {
                return Err(format!("{} is an empty range", Quoted(item)));
            }
            if ports.len() + usize::from(last - first) >= Self::MAX_PORTS {
                return Err(format!("more than {} ports", Self::MAX_PORTS));
            }
            ports.extend(first..=last);
        }
        Ok(Self(ports))
    }
}

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("nothing to serve: give at least one of --tcp, --udp, --sctp")]
    NoPorts,
    #[error("cannot listen on {protocol} port {port}: {source}")]
    Bind {
        protocol: &'static str,
        port: u16,
        #[source]
        source: io::Error,
    },
    #[error(
        "SCTP is not available on this node (no sctp kernel module?): cannot open SCTP port {port}: {source}"
    )]
    SctpUnavailable {
        port: u16,
        #[source]
        source: io::Error,
    },
    #[error("cannot install the SIGTERM/SIGINT handlers: {0}")]
    Signals(#[source] io::Error),
}

/// Bound listeners, ready to serve.
pub struct Server {
    tcp: Vec<TcpListener>,
    sctp: Vec<TcpListener>,
    udp: Vec<UdpSocket>,
    identity: Arc<Identity>,
}

impl Server {
    /// Binds every port of `config`; port 0 picks a free port (see [`Server::tcp_addrs`]).
    ///
    /// # Errors
    ///
    /// [`ServeError`] when a port cannot be bound, or SCTP ports are asked for on a kernel
    /// without SCTP: the server never starts with fewer ports than asked for.
    pub fn bind(config: ServeConfig) -> Result<Self, ServeError> {
        if config.tcp.is_empty() && config.udp.is_empty() && config.sctp.is_empty() {
            return Err(ServeError::NoPorts);
        }
        let addrs = |port| match config.bind {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => vec![
                SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port),
                SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port),
            ],
        };
        let bind_err = |protocol, port| {
            move |source| ServeError::Bind {
                protocol,
                port,
                source,
            }
        };
        let mut tcp = Vec::new();
        for &port in &config.tcp {
            let socket = bind_first(&addrs(port), Type::STREAM, Protocol::TCP)
                .map_err(bind_err("TCP", port))?;
            tcp.push(stream_listener(socket).map_err(bind_err("TCP", port))?);
        }
        let mut sctp = Vec::new();
        for &port in &config.sctp {
            let socket = bind_first(&addrs(port), Type::STREAM, Protocol::from(IPPROTO_SCTP))
                .map_err(|source| sctp_error(port, source))?;
            sctp.push(stream_listener(socket).map_err(bind_err("SCTP", port))?);
        }
        let mut udp = Vec::new();
        for &port in &config.udp {
            let socket = bind_first(&addrs(port), Type::DGRAM, Protocol::UDP)
                .map_err(bind_err("UDP", port))?;
            let socket = UdpSocket::from_std(socket.into()).map_err(bind_err("UDP", port))?;
            udp.push(socket);
        }
        Ok(Self {
            tcp,
            sctp,
            udp,
            identity: Arc::new(config.identity),
        })
    }

    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    pub fn sctp_addrs(&self) -> Vec<SocketAddr> {
        self.sctp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until `shutdown` completes, then stops every listener and connection.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let mut tasks = JoinSet::new();
        for listener in self.tcp {
            tasks.spawn(accept_loop(listener, "tcp", self.identity.clone()));
        }
        for listener in self.sctp {
            tasks.spawn(accept_loop(listener, "sctp", self.identity.clone()));
        }
        for socket in self.udp {
            tasks.spawn(echo_loop(socket, self.identity.clone()));
        }
        shutdown.await;
        tasks.shutdown().await;
    }
}

/// Serves `config` until SIGTERM or SIGINT.
///
/// # Errors
///
/// [`ServeError`] when a port cannot be bound (see [`Server::bind`]) or the signal handlers
/// cannot be installed.
pub async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;
    let server = Server::bind(config)?;
    tracing::info!(
        pod = %server.identity.pod,
        tcp = ?server.tcp_addrs(),
        udp = ?server.udp_addrs(),
        sctp = ?server.sctp_addrs(),
        "serving"
    );
    server
        .run_until(async {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
        .await;
    tracing::info!("stopped");
    Ok(())
}

fn sctp_error(port: u16, source: io::Error) -> ServeError {
    let unsupported = matches!(
        source.raw_os_error(),
        Some(libc_errno::EPROTONOSUPPORT | libc_errno::ESOCKTNOSUPPORT | libc_errno::EAFNOSUPPORT)
    );
    if unsupported {
        ServeError::SctpUnavailable { port, source }
    } else {
        ServeError::Bind {
            protocol: "SCTP",
            port,
            source,
        }
    }
}

/// Linux errno values used here (the libc crate is not worth a dependency for three numbers).
mod libc_errno {
    pub(super) const EPROTONOSUPPORT: i32 = 93;
    pub(super) const ESOCKTNOSUPPORT: i32 = 94;
    pub(super) const EAFNOSUPPORT: i32 = 97;
}

/// Binds the first address that works: the IPv6 wildcard serves IPv4 too, and the IPv4 one is
/// the fallback for pods without IPv6. Returns the error of the last attempt.
fn bind_first(addrs: &[SocketAddr], ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
    for addr in addrs {
        match bind_one(*addr, ty, protocol) {
            Ok(socket) => return Ok(socket),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn bind_one(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    if ty == Type::STREAM {
        socket.set_reuse_address(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    if ty == Type::STREAM {
        socket.listen(1024)?;
    }
    Ok(socket)
}

/// A listening stream socket (TCP, or one-to-one SCTP, which accepts like TCP) for tokio.
fn stream_listener(socket: Socket) -> io::Result<TcpListener> {
    TcpListener::from_std(socket.into())
}

async fn accept_loop(listener: TcpListener, protocol: &'static str, identity: Arc<Identity>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                let identity = identity.clone();
                connections.spawn(async move {
                    let _permit = permit;
                    let answered = tokio::time::timeout(
                        CONNECTION_DEADLINE,
                        answer(stream, peer, protocol, &identity),
                    )
                    .await;
                    tracing::debug!(%peer, protocol, ?answered, "connection");
                });
            }
            // Out of file descriptors, or a connection reset before accept: wait, go on.
            Err(error) => {
                tracing::debug!(%error, protocol, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// What the responder says about itself and the connection.
fn identity_json(
    identity: &Identity,
    protocol: &str,
    local: Option<SocketAddr>,
    peer: SocketAddr,
    path: Option<&str>,
) -> String {
    let mut body = serde_json::json!({
        "pod": identity.pod,
        "namespace": identity.namespace,
        "ip": identity.ip,
        "protocol": protocol,
        "port": local.map(|a| a.port()),
        "client": peer.ip().to_canonical().to_string(),
    });
    if let Some(path) = path {
        body["path"] = path.into();
    }
    body.to_string()
}

const HTTP_METHODS: [&[u8]; 9] = [
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

enum Greeting {
    Http,
    Raw,
    /// Could still become an HTTP method: read more.
    Undecided,
}

fn greeting(head: &[u8]) -> Greeting {
    if HTTP_METHODS.iter().any(|m| head.starts_with(m)) {
        Greeting::Http
    } else if HTTP_METHODS.iter().any(|m| m.starts_with(head)) {
        Greeting::Undecided
    } else {
        Greeting::Raw
    }
}

async fn answer(
    mut stream: TcpStream,
    peer: SocketAddr,
    protocol: &str,
    identity: &Identity,
) -> io::Result<()> {
    let local = stream.local_addr().ok();
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let read = if head.is_empty() {
            match tokio::time::timeout(RAW_CLIENT_WAIT, stream.read(&mut chunk)).await {
                Ok(read) => read?,
                // A silent client: a raw one waiting for the banner.
                Err(_) => break,
            }
        } else {
            stream.read(&mut chunk).await?
        };
        if read == 0 {
            // Closed without a word (`nc -z`), or mid-greeting.
            if head.is_empty() {
                return Ok(());
            }
            break;
        }
        head.extend_from_slice(&chunk[..read]);
        match greeting(&head) {
            Greeting::Http => {
                return answer_http(stream, head, peer, local, protocol, identity).await;
            }
            Greeting::Raw => break,
            Greeting::Undecided => {}
        }
    }
    let mut line = identity_json(identity, protocol, local, peer, None);
    line.push('\n');
    stream.write_all(line.as_bytes()).await?;
    close(stream).await
}

async fn answer_http(
    mut stream: TcpStream,
    mut head: Vec<u8>,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    protocol: &str,
    identity: &Identity,
) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() > MAX_HEAD_BYTES {
            write_response(&mut stream, 431, "{}", false).await?;
            return close(stream).await;
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..read]);
    }
    let request_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let request_line = String::from_utf8_lossy(request_line);
    let mut parts = request_line.trim_end().split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let version_ok = parts.next().is_some_and(|v| v.starts_with("HTTP/1."));
    let (status, body) = if !version_ok || !target.starts_with('/') {
        (400, "{}".to_owned())
    } else {
        let path = target.split('?').next().unwrap_or(target);
        let status = path
            .strip_prefix("/status/")
            .and_then(|code| code.parse::<u16>().ok())
            .filter(|code| (200..=599).contains(code))
            .unwrap_or(200);
        (
            status,
            identity_json(identity, protocol, local, peer, Some(path)),
        )
    };
    write_response(&mut stream, status, &body, method != "HEAD").await?;
    close(stream).await
}

async fn write_response(
    stream: &mut TcpStream,
    status: u16,
    body: &str,
    with_body: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len() + 1
    );
    if with_body {
        response.push_str(body);
        response.push('\n');
    }
    stream.write_all(response.as_bytes()).await
}

/// Closes politely: shut down our side, then drain what the client still sends, so that unread
/// input does not turn the close into a reset that would cut the client's read of the answer.
async fn close(mut stream: TcpStream) -> io::Result<()> {
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    let drain = async {
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    Ok(())
}

async fn echo_loop(socket: UdpSocket, identity: Arc<Identity>) {
    let prefix = format!("{} ", identity.pod);
    let mut buf = vec![0u8; 65_536];
    let mut reply = Vec::with_capacity(65_536);
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            // ICMP errors of earlier replies surface here: they concern nobody now.
            Err(error) => {
                tracing::debug!(%error, "udp receive failed");
                continue;
            }
        };
        reply.clear();
        reply.extend_from_slice(prefix.as_bytes());
        let room = MAX_DATAGRAM.saturating_sub(reply.len());
        reply.extend_from_slice(&buf[..len.min(room)]);
        if let Err(error) = socket.send_to(&reply, peer).await {
            tracing::debug!(%error, %peer, "udp reply failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lists_take_ranges() {
        let list: PortList = "80, 8000-8002,53".parse().unwrap();
        assert_eq!(list.0, [80, 8000, 8001, 8002, 53]);
        for bad in ["", "0", "70000", "9-8", "a", "1-", "1-65535"] {
            assert!(bad.parse::<PortList>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn args_merge_repeated_lists() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let cli = Cli::parse_from(["x", "--tcp", "8080-8081,80", "--tcp", "80", "--udp", "53"]);
        let config = cli.serve.to_config();
        assert_eq!(config.tcp, [80, 8080, 8081]);
        assert_eq!(config.udp, [53]);
        assert!(config.sctp.is_empty() && config.bind.is_none());
        assert!(Cli::try_parse_from(["x", "--tcp", "0"]).is_err());
    }

    #[test]
    fn greeting_waits_for_a_whole_method() {
        assert!(matches!(greeting(b"GET / HTTP/1.1"), Greeting::Http));
        assert!(matches!(greeting(b"GE"), Greeting::Undecided));
        assert!(matches!(greeting(b"HEAD "), Greeting::Http));
        assert!(matches!(greeting(b"hello"), Greeting::Raw));
        assert!(matches!(greeting(b"\x16\x03\x01"), Greeting::Raw));
        assert!(matches!(greeting(b"GET/"), Greeting::Raw));
    }

    #[test]
    fn identity_names_the_pod_and_the_client() {
        let identity = Identity {
            pod: "server-0".into(),
            namespace: "shop".into(),
            ip: "10.1.0.7".into(),
        };
        let peer: SocketAddr = "[::ffff:10.1.0.9]:40000".parse().unwrap();
        let json = identity_json(&identity, "tcp", "[::]:80".parse().ok(), peer, Some("/x"));
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"pod":"server-0","namespace":"shop","ip":"10.1.0.7",
                "protocol":"tcp","port":80,"client":"10.1.0.9","path":"/x"})
        );
    }
}
