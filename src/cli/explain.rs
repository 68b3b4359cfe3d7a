//! `netverdict explain PATH --from ns/pod --to ns/pod --port P`: the engine's verdict on one
//! connection, with the policies selecting each side and the rule that matched (or why none did),
//! as [`explain`](crate::scenario::explain) works it out.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use netverdict_engine::Protocol;

use crate::cli::diagnostics;
use crate::cli::exit::{self, ExpectedError};
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
    #[arg(long, value_enum, ignore_case = true, default_value = "TCP")]
    pub protocol: ProtocolArg,
    /// The scenario to use when PATH holds several with these pods.
    #[arg(long)]
    pub scenario: Option<String>,
}

fn pod_ref(s: &str) -> Option<PodRef> {
    let (ns, name) = s.split_once('/')?;
    Some(PodRef::new(ns, name))
}

pub(crate) fn run(args: &ExplainArgs, out: &mut dyn Write) -> Result<u8, ExpectedError> {
    let loaded = crate::scenario::load_paths(
        std::slice::from_ref(&args.path),
        &crate::hosts::local_cluster(),
    );
    let counts = diagnostics::print(&loaded, false);
    if counts.errors > 0 {
        return Ok(exit::INVALID_INPUT);
    }
    let query = query(args)?;
    let explanation = explain(&loaded.scenarios, &query).map_err(|e| match e {
        ExplainError::SeveralScenarios(_) => {
            ExpectedError::InvalidInput(format!("{e}: choose one with --scenario"))
        }
        ExplainError::PortNameNeedsPod | ExplainError::NoPortNamed(_) => {
            ExpectedError::InvalidInput(format!("--port {}: {e}", args.port))
        }
        ExplainError::NoScenario { .. } => ExpectedError::InvalidInput(e.to_string()),
        ExplainError::UnknownPod => ExpectedError::CouldNotJudge(e.to_string()),
    })?;
    write!(out, "{explanation}")?;
    Ok(exit::OK)
}

/// The connection the arguments name.
fn query(args: &ExplainArgs) -> Result<Query, ExpectedError> {
    let from = pod_ref(&args.from).ok_or_else(|| {
        ExpectedError::InvalidInput(format!("--from {}: write <namespace>/<pod>", args.from))
    })?;
    let to = match (pod_ref(&args.to), args.to.parse::<IpAddr>()) {
        (Some(pod), _) => Destination::Pod(pod),
        (None, Ok(ip)) => Destination::Ip(ip),
        (None, Err(_)) => {
            return Err(ExpectedError::InvalidInput(format!(
                "--to {}: write <namespace>/<pod> or an IP address",
                args.to
            )));
        }
    };
    let port = match args.port.parse::<u16>() {
        Ok(n) if n > 0 => PortChoice::Number(n),
        _ => PortChoice::Name(args.port.clone()),
    };
    let protocol = match args.protocol {
        ProtocolArg::Tcp => Protocol::Tcp,
        ProtocolArg::Udp => Protocol::Udp,
        ProtocolArg::Sctp => Protocol::Sctp,
    };
    Ok(Query {
        from,
        to,
        port,
        protocol,
        scenario: args.scenario.clone(),
    })
}
