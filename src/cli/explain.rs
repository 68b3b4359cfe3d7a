//! `netverdict explain PATH --from ns/pod --to TARGET --port P`: the engine's verdict on one
//! connection to a pod, a Service, a known host, the cluster DNS or an address, with the policies
//! selecting each side and the rule that matched (or why none did), as
//! [`explain`](crate::scenario::explain) works it out.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use netverdict_engine::Protocol;

use crate::cli::diagnostics;
use crate::cli::exit::{self, ExpectedError};
use crate::scenario::PodRef;
use crate::scenario::explain::{Destination, ExplainError, PortChoice, Query, explain};
use crate::scenario::{HostTable, Loaded};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
#[value(rename_all = "UPPERCASE")]
pub enum ProtocolArg {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A scenario file, or a folder of them.
    pub path: PathBuf,
    /// The source pod, `<namespace>/<pod>`.
    #[arg(long)]
    pub from: String,
    /// The destination: a pod `<namespace>/<pod>`; a Service `service:<namespace>/<name>`,
    /// judged on the pods its selector picks; a known host `host:<name>` (the local cluster's
    /// `external.test` and `external2.test`), judged on its DNS lookup and its address; the
    /// cluster DNS `cluster-dns`; or an IP address (`ip:<address>` too).
    #[arg(long)]
    pub to: String,
    /// The destination port: a number, or a port name of the destination pod or Service.
    #[arg(long)]
    pub port: String,
    /// The protocol; by default a named port's, else TCP.
    #[arg(long, value_enum, ignore_case = true)]
    pub protocol: Option<ProtocolArg>,
    /// The scenario to use when PATH holds several with these pods.
    #[arg(long)]
    pub scenario: Option<String>,
}

pub(crate) fn run(args: &ExplainArgs, out: &mut dyn Write) -> Result<u8, ExpectedError> {
    let hosts = crate::hosts::local_cluster();
    let Some(loaded) = load(args, &hosts) else {
        return Ok(exit::INVALID_INPUT);
    };
    let query = query(args)?;
    let explanation =
        explain(&loaded.scenarios, &query, &hosts).map_err(|e| expected_error(args, &e))?;
    write!(out, "{explanation}")?;
    Ok(exit::OK)
}

/// The scenarios of PATH, or `None` once their errors are printed.
fn load(args: &ExplainArgs, hosts: &HostTable) -> Option<Loaded> {
    let loaded = crate::scenario::load_paths(std::slice::from_ref(&args.path), hosts);
    let counts = diagnostics::print(&loaded, false);
    (counts.errors == 0).then_some(loaded)
}

/// What the CLI reports for `e`, naming the flag at fault.
fn expected_error(args: &ExplainArgs, e: &ExplainError) -> ExpectedError {
    match e {
        ExplainError::SeveralScenarios(_) => {
            ExpectedError::InvalidInput(format!("{e}: choose one with --scenario"))
        }
        ExplainError::PortNameNeedsPod
        | ExplainError::NoPortNamed { .. }
        | ExplainError::ProtocolMismatch { .. }
        | ExplainError::NoServicePort { .. } => {
            ExpectedError::InvalidInput(format!("--port {}: {e}", args.port))
        }
        ExplainError::UnknownHost { .. } | ExplainError::NoBackend { .. } => {
            ExpectedError::InvalidInput(format!("--to {}: {e}", args.to))
        }
        ExplainError::NoScenario { .. } => ExpectedError::InvalidInput(e.to_string()),
        ExplainError::UnknownPod | ExplainError::ResolvedAtRunTime { .. } => {
            ExpectedError::CouldNotJudge(e.to_string())
        }
    }
}

/// The connection the arguments name.
fn query(args: &ExplainArgs) -> Result<Query, ExpectedError> {
    Ok(Query {
        from: from(&args.from)?,
        to: destination(&args.to)?,
        port: port(&args.port)?,
        protocol: args.protocol.map(protocol),
        scenario: args.scenario.clone(),
    })
}

fn from(text: &str) -> Result<PodRef, ExpectedError> {
    pod_ref(text).ok_or_else(|| {
        ExpectedError::InvalidInput(format!("--from {text}: write <namespace>/<pod>"))
    })
}

fn pod_ref(s: &str) -> Option<PodRef> {
    let (ns, name) = s.split_once('/')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains('/')).then(|| PodRef::new(ns, name))
}

/// The destination `--to` names, in the forms `plan` and truth tables label targets with.
fn destination(text: &str) -> Result<Destination, ExpectedError> {
    let invalid = || {
        ExpectedError::InvalidInput(format!(
            "--to {text}: write <namespace>/<pod>, service:<namespace>/<name>, host:<name>, \
             cluster-dns or an IP address"
        ))
    };
    if text == "cluster-dns" {
        return Ok(Destination::ClusterDns);
    }
    if let Some(service) = text.strip_prefix("service:") {
        let pod = pod_ref(service).ok_or_else(invalid)?;
        return Ok(Destination::Service {
            namespace: pod.namespace,
            name: pod.name,
        });
    }
    if let Some(host) = text.strip_prefix("host:") {
        return match host.trim_end_matches('.') {
            "" => Err(invalid()),
            host => Ok(Destination::Host(host.to_string())),
        };
    }
    let address = text.strip_prefix("ip:").unwrap_or(text);
    match (pod_ref(text), address.parse::<IpAddr>()) {
        (_, Ok(ip)) => Ok(Destination::Ip(ip)),
        (Some(pod), _) => Ok(Destination::Pod(pod)),
        (None, Err(_)) => Err(invalid()),
    }
}

fn port(text: &str) -> Result<PortChoice, ExpectedError> {
    match text.parse::<u16>() {
        Ok(0) => Err(ExpectedError::InvalidInput(
            "--port 0: a port number is 1 to 65535".to_string(),
        )),
        Ok(n) => Ok(PortChoice::Number(n)),
        Err(_) => Ok(PortChoice::Name(text.to_string())),
    }
}

fn protocol(arg: ProtocolArg) -> Protocol {
    match arg {
        ProtocolArg::Tcp => Protocol::Tcp,
        ProtocolArg::Udp => Protocol::Udp,
        ProtocolArg::Sctp => Protocol::Sctp,
    }
}
