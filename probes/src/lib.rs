//! The in-pod side of netverdict.
//!
//! - [`serve`]: the responder every probe pod runs (`netverdict serve --tcp 80 --udp 53`).
//! - [`probe_batch`] / [`run_batch`]: the agent that runs one source pod's probes concurrently
//!   with the real tools (`nc`, `curl`, `nslookup`) and streams one JSON record per probe
//!   (`netverdict probe-batch`, started through exec). The wire format is in [`wire`].
//! - [`ToolCommand`]: the exact command line of a probe, also rendered for a human to rerun.
//! - [`classify`]: a tool's exit status and output read as a network [`Outcome`].

mod agent;
mod classify;
mod command;
mod quote;
mod resolve;
mod serve;
pub mod wire;

pub use agent::{
    AgentError, CAPTURE_BYTES, Captured, EXCERPT_BYTES, EXIT_IO, EXIT_OK, EXIT_REJECTED,
    MAX_REQUEST_BYTES, ProbeBatchArgs, ToolRun, parse_request, probe_batch, read_request,
    run_batch, run_probe, run_tool, watchdog,
};
pub use classify::{Classified, classify, classify_timed};
pub use command::{InvalidProbe, MAX_TIMEOUT_MS, MIN_TIMEOUT_MS, ToolCommand};
pub use serve::{
    Identity, PortList, RAW_CLIENT_WAIT, ServeArgs, ServeConfig, ServeError, Server, serve,
};
pub use wire::{
    AgentLine, BatchRequest, BatchSummary, Exit, Outcome, ProbeKind, ProbeRecord, ProbeRequest,
    ProbeSpec, Scheme, Tool, WIRE_VERSION,
};
