//! `netverdict explain PATH --from ns/pod --to ns/pod --port P`: the engine's verdict on one
//! connection, with the policies selecting each side and the rule that matched (or why none did),
//! as [`explain`](crate::scenario::explain) works it out.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use netverdict_engine::Protocol;

use crate::cli::diagnostics;
use crate::cli::exit::{self, ExpectedError};
use crate::scenario::Loaded;
use crate::scenario::PodRef;
use crate::scenario::explain::{Destination, ExplainError, PortChoice, Query, explain};

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
    /// The destination: a pod `<namespace>/<pod>`, or an IP address.
    #[arg(long)]
    pub to: String,
    /// The destination port: a number, or a port name of the destination pod.
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
    let Some(loaded) = load(args) else {
        return Ok(exit::INVALID_INPUT);
    };
    let query = query(args)?;
    let explanation = explain(&loaded.scenarios, &query).map_err(|e| expected_error(args, &e))?;
    write!(out, "{explanation}")?;
    Ok(exit::OK)
}

/// The scenarios of PATH, or `None` once their errors are printed.
fn load(args: &ExplainArgs) -> Option<Loaded> {
    let loaded = crate::scenario::load_paths(
        std::slice::from_ref(&args.path),
        &crate::hosts::local_cluster(),
    );
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
        | ExplainError::ProtocolMismatch { .. } => {
            ExpectedError::InvalidInput(format!("--port {}: {e}", args.port))
        }
        ExplainError::NoScenario { .. } => ExpectedError::InvalidInput(e.to_string()),
        ExplainError::UnknownPod => ExpectedError::CouldNotJudge(e.to_string()),
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
    Some(PodRef::new(ns, name))
}

fn destination(text: &str) -> Result<Destination, ExpectedError> {
    match (pod_ref(text), text.parse::<IpAddr>()) {
        (Some(pod), _) => Ok(Destination::Pod(pod)),
        (None, Ok(ip)) => Ok(Destination::Ip(ip)),
        (None, Err(_)) => Err(ExpectedError::InvalidInput(format!(
            "--to {text}: write <namespace>/<pod> or an IP address"
        ))),
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
