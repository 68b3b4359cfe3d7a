//! The wire format between the runner and the probe agent.
//!
//! The runner sends one [`BatchRequest`] per source pod and round; the agent answers with a stream
//! of [`AgentLine`]s, one JSON object per line: a [`AgentLine::Record`] for every probe as soon as
//! it finishes, then one [`AgentLine::Done`]. A request the agent cannot accept is answered with a
//! single [`AgentLine::Rejected`].
//!
//! ```json
//! {"version":2,"probes":[
//!   {"id":"db","timeout_ms":2000,"probe":{"kind":"tcp","host":"10.0.0.5","port":5432}},
//!   {"id":"web","timeout_ms":2000,"probe":{"kind":"http","scheme":"http","host":"web.shop","port":80,"path":"/"}},
//!   {"id":"dns","timeout_ms":2000,"probe":{"kind":"dns","name":"web.shop.svc.cluster.local."}},
//!   {"id":"syslog","timeout_ms":2000,"probe":{"kind":"udp","host":"10.0.0.7","port":514}}]}
//! ```
//!
//! All names are stable: the runner and the agent may come from different builds, and the
//! [`WIRE_VERSION`] says when they no longer understand each other.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Version of this wire format. The agent rejects requests of any other version.
pub const WIRE_VERSION: u32 = 2;

/// Tools the agent runs at most at once when the request does not say.
pub const DEFAULT_CONCURRENCY: usize = 256;

/// Upper bound on [`BatchRequest::concurrency`]: every running tool holds two or three pipes.
pub const MAX_CONCURRENCY: usize = 1024;

/// Everything one agent process runs: the probes of one source pod for one round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Must equal [`WIRE_VERSION`].
    pub version: u32,
    /// Tools running at most at once; [`DEFAULT_CONCURRENCY`] when absent, at most
    /// [`MAX_CONCURRENCY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// The probes; ids must be unique within the batch.
    pub probes: Vec<ProbeRequest>,
}

impl BatchRequest {
    /// A request of the current version with the default concurrency.
    pub fn new(probes: Vec<ProbeRequest>) -> Self {
        Self {
            version: WIRE_VERSION,
            concurrency: None,
            probes,
        }
    }
}

/// One probe: what to run, and how long it may take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeRequest {
    /// The runner's name for this probe, echoed in its record (1 to 200 printable characters).
    pub id: String,
    /// Milliseconds the tool may wait for the network (100 to 300000). How each tool applies it
    /// is described on [`ProbeSpec`]; nc and nslookup take whole seconds, so for a timeout that
    /// is not whole seconds they get it rounded up and the agent ends them at the deadline.
    pub timeout_ms: u32,
    pub probe: ProbeSpec,
}

/// What a probe does. Hosts are IP literals or DNS names; the tool resolves names itself, inside
/// the pod, as an application would.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ProbeSpec {
    /// A TCP connection: `nc -vz -w T [-n] HOST PORT`.
    Tcp { host: String, port: u16 },
    /// An HTTP request: `curl` with `--connect-timeout T --max-time 2T` (in seconds, with
    /// fractions), reporting the status.
    Http {
        scheme: Scheme,
        host: String,
        port: u16,
        /// Starts with `/`; may hold a query string.
        path: String,
    },
    /// A DNS lookup: `nslookup [-vc] -timeout=T -retry=1 [-port=P] NAME [SERVER]`: one try (in
    /// bind9's nslookup `-retry=N` is the number of tries, and 0 means 1).
    ///
    /// Use a fully qualified name with a trailing dot to keep the pod's search list out of it.
    Dns {
        name: String,
        /// The server to ask; the pod's resolv.conf nameserver when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<String>,
        /// The server's port; 53 when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        /// Ask over TCP (`nslookup -vc`) instead of UDP.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        tcp: bool,
    },
    /// A UDP round trip: `nc -u -W 1 -w T [-n] HOST PORT` sends a unique token and waits for the
    /// echo of a `netverdict serve` responder. Only an echo proves delivery.
    Udp { host: String, port: u16 },
}

impl ProbeSpec {
    pub fn kind(&self) -> ProbeKind {
        match self {
            Self::Tcp { .. } => ProbeKind::Tcp,
            Self::Http { .. } => ProbeKind::Http,
            Self::Dns { .. } => ProbeKind::Dns,
            Self::Udp { .. } => ProbeKind::Udp,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    Http,
    /// Certificates are not verified (`curl -k`): the probe is about reachability.
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// The kind of a probe, which decides the tool and how its output is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    Tcp,
    Http,
    Dns,
    Udp,
}

impl ProbeKind {
    pub fn tool(self) -> Tool {
        match self {
            Self::Tcp | Self::Udp => Tool::Nc,
            Self::Http => Tool::Curl,
            Self::Dns => Tool::Nslookup,
        }
    }
}

/// The program a probe runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// netcat-openbsd.
    Nc,
    Curl,
    /// nslookup of bind9-dnsutils.
    Nslookup,
}

impl Tool {
    pub fn program(self) -> &'static str {
        match self {
            Self::Nc => "nc",
            Self::Curl => "curl",
            Self::Nslookup => "nslookup",
        }
    }
}

/// How a tool ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
    /// It never ran: the probe was invalid, or the program could not be started.
    NotStarted(String),
}

/// What a probe observed, in the network's terms.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// The connection was made (tcp), the echo came back (udp), or the DNS server answered with
    /// addresses or an empty answer (dns).
    Connected,
    /// Actively rejected: a TCP reset, or an ICMP port unreachable for UDP and DNS.
    Refused,
    /// No answer within the timeout: what a dropping policy looks like.
    Timeout,
    /// The DNS server answered that the name does not exist.
    DnsNxdomain,
    /// The DNS server answered with a server failure.
    DnsServfail,
    /// No DNS server answered within the timeout.
    DnsTimeout,
    /// The HTTP server answered with this status.
    HttpStatus { code: u16 },
    /// The probe says nothing about the network: the tool is missing or failed, a name did not
    /// resolve, the output was not understood, ...
    Error { reason: String },
}

impl Outcome {
    pub fn error(reason: impl Into<String>) -> Self {
        Self::Error {
            reason: reason.into(),
        }
    }
}

/// The result of one probe, as the agent streams it.
///
/// Unknown fields are ignored when reading records, so an agent may add fields without a new
/// [`WIRE_VERSION`]; requests, which decide what runs, are read strictly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub id: String,
    pub kind: ProbeKind,
    pub tool: Tool,
    /// The exact argv run, program first; empty when the probe was rejected before running.
    pub argv: Vec<String>,
    /// What was written to the tool's stdin (the UDP token line), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    pub exit: Exit,
    /// From spawn to exit.
    pub elapsed_ms: u64,
    /// When the agent was to end the tool, if the tool could not take the exact timeout itself
    /// (see [`ProbeRequest::timeout_ms`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Bounded excerpts of the tool's output; see [`crate::EXCERPT_BYTES`].
    pub stdout: String,
    pub stderr: String,
    pub outcome: Outcome,
    /// DNS: the addresses in the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpAddr>,
    /// UDP: the pod that echoed the token, as it named itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responder: Option<String>,
}

/// Summary closing a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// Records written, one per requested probe.
    pub probes: usize,
    /// Wall time of the whole batch.
    pub elapsed_ms: u64,
    /// The concurrency the batch ran with: the requested one, lowered when the process may not
    /// open enough files for it.
    pub concurrency: usize,
}

/// One line of the agent's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[expect(
    clippy::large_enum_variant,
    reason = "one line at a time is built, written and dropped"
)]
pub enum AgentLine {
    Record(ProbeRecord),
    /// The last line of a complete batch. Without it, the batch was cut short.
    Done(BatchSummary),
    /// The request was not accepted; nothing ran.
    Rejected {
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_serialize_with_stable_names() {
        let cases = [
            (Outcome::Connected, r#"{"kind":"connected"}"#),
            (Outcome::Refused, r#"{"kind":"refused"}"#),
            (Outcome::Timeout, r#"{"kind":"timeout"}"#),
            (Outcome::DnsNxdomain, r#"{"kind":"dns-nxdomain"}"#),
            (Outcome::DnsServfail, r#"{"kind":"dns-servfail"}"#),
            (Outcome::DnsTimeout, r#"{"kind":"dns-timeout"}"#),
            (
                Outcome::HttpStatus { code: 404 },
                r#"{"kind":"http-status","code":404}"#,
            ),
            (
                Outcome::error("nc not found"),
                r#"{"kind":"error","reason":"nc not found"}"#,
            ),
        ];
        for (outcome, json) in cases {
            assert_eq!(serde_json::to_string(&outcome).unwrap(), json);
            assert_eq!(serde_json::from_str::<Outcome>(json).unwrap(), outcome);
        }
    }

    #[test]
    fn the_documented_request_parses() {
        let json = r#"{"version":2,"probes":[
          {"id":"db","timeout_ms":2000,"probe":{"kind":"tcp","host":"10.0.0.5","port":5432}},
          {"id":"web","timeout_ms":2000,"probe":{"kind":"http","scheme":"http","host":"web.shop","port":80,"path":"/"}},
          {"id":"dns","timeout_ms":2000,"probe":{"kind":"dns","name":"web.shop.svc.cluster.local."}},
          {"id":"syslog","timeout_ms":2000,"probe":{"kind":"udp","host":"10.0.0.7","port":514}}]}"#;
        let request: BatchRequest = serde_json::from_str(json).unwrap();
        let kinds: Vec<_> = request.probes.iter().map(|p| p.probe.kind()).collect();
        assert_eq!(
            kinds,
            [
                ProbeKind::Tcp,
                ProbeKind::Http,
                ProbeKind::Dns,
                ProbeKind::Udp
            ]
        );
        let again: BatchRequest =
            serde_json::from_str(&serde_json::to_string(&request).unwrap()).unwrap();
        assert_eq!(again, request);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let json = r#"{"version":2,"probes":[{"id":"a","timeout_ms":1000,
            "probe":{"kind":"tcp","host":"a","port":1,"shell":"rm -rf /"}}]}"#;
        assert!(serde_json::from_str::<BatchRequest>(json).is_err());
    }

    #[test]
    fn agent_lines_are_tagged() {
        let done = AgentLine::Done(BatchSummary {
            probes: 2,
            elapsed_ms: 7,
            concurrency: 256,
        });
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"type":"done","probes":2,"elapsed_ms":7,"concurrency":256}"#
        );
        let exit = serde_json::to_string(&Exit::Signal(9)).unwrap();
        assert_eq!(exit, r#"{"signal":9}"#);
    }
}
