//! The batched probe agent: `netverdict probe-batch`, one process per source pod and round.
//!
//! # Input
//!
//! One [`BatchRequest`] as a single line of JSON on stdin, or as the `--request` argument.
//! Stdin is the default because it has no size limit worth worrying about, while an exec
//! command travels in the URL of the exec request. The agent reads the first line and never
//! waits for end of input: closing stdin is impossible over the exec WebSocket protocols before
//! v5, so the newline is what ends the request.
//!
//! # Output
//!
//! One [`AgentLine`] per line on stdout, flushed as soon as each probe finishes: a record per
//! probe in completion order, then `done`. A request that is not accepted gets one `rejected`
//! line and exit code [`EXIT_REJECTED`]; nothing runs.
//!
//! # Running
//!
//! Tools run concurrently, at most [`BatchRequest::concurrency`] at once, each as an argv with
//! no shell, `LC_ALL=C`, stdin empty (or the UDP token line) and output captured up to
//! [`CAPTURE_BYTES`] per stream. A tool that cannot take the probe's exact timeout (nc and
//! nslookup take whole seconds) is ended at its [`ToolCommand::deadline`], which counts as the
//! tool's timeout. A tool still running after its [`watchdog`] is killed and its record says so.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead as _};
use std::net::IpAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;

use crate::classify::classify_timed;
use crate::command::ToolCommand;
use crate::quote::Quoted;
use crate::resolve::{Resolution, at_address, pin_curl, resolve_first};
use crate::wire::{
    AgentLine, BatchRequest, BatchSummary, DEFAULT_CONCURRENCY, Exit, MAX_CONCURRENCY, Outcome,
    ProbeKind, ProbeRecord, ProbeRequest, WIRE_VERSION,
};

/// The agent ran the batch; every probe has a record, whatever its outcome.
pub const EXIT_OK: u8 = 0;
/// Writing the output failed (the exec stream went away).
pub const EXIT_IO: u8 = 1;
/// The request was not accepted; nothing ran.
pub const EXIT_REJECTED: u8 = 2;

/// Bytes of each output stream kept in a record.
pub const EXCERPT_BYTES: usize = 2048;

/// Bytes of each output stream read for classification; the rest is counted and discarded.
pub const CAPTURE_BYTES: usize = 64 * 1024;

/// Longest request line accepted.
pub const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("cannot read the request: {0}")]
    Read(#[source] io::Error),
    #[error("no request: input ended before a line of JSON")]
    NoRequest,
    #[error("the request is longer than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
    #[error("the request is not a valid batch: {0}")]
    Parse(#[source] serde_json::Error),
    #[error("the request has wire version {got}, this agent speaks {WIRE_VERSION}")]
    Version { got: u32 },
    #[error("concurrency must be 1 to {MAX_CONCURRENCY}, got {0}")]
    Concurrency(usize),
    #[error("probe id {} appears more than once", Quoted(.0))]
    DuplicateId(String),
    #[error("cannot write records: {0}")]
    Write(#[source] io::Error),
}

impl AgentError {
    /// The process exit code for this error: [`EXIT_IO`] or [`EXIT_REJECTED`].
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Write(_) => EXIT_IO,
            _ => EXIT_REJECTED,
        }
    }
}

/// Arguments of `netverdict probe-batch`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ProbeBatchArgs {
    /// The batch request as JSON. Read from the first line of stdin when absent.
    #[arg(long, value_name = "JSON")]
    pub request: Option<String>,
}

/// `netverdict probe-batch`: reads the request, runs it, streams records to stdout.
///
/// A rejected request is reported on stdout as a `rejected` line before the error is returned;
/// map the error to the process exit code with [`AgentError::exit_code`].
///
/// # Errors
///
/// [`AgentError`] when the request cannot be read or is not accepted, or stdout fails.
///
/// # Caveats
///
/// Stdout belongs to the records: the caller must send its logs to stderr.
pub async fn probe_batch(args: ProbeBatchArgs) -> Result<BatchSummary, AgentError> {
    let request = match args.request {
        Some(json) => parse_request(json.as_bytes()),
        None => read_stdin_line()
            .await
            .and_then(|line| parse_request(&line)),
    };
    let mut stdout = tokio::io::stdout();
    match request {
        Ok(request) => run_batch(request, &mut stdout).await,
        Err(error) => {
            let line = AgentLine::Rejected {
                error: error.to_string(),
            };
            write_line(&mut stdout, &line).await?;
            Err(error)
        }
    }
}

/// Reads the first line of stdin on a thread of its own, so that a stdin left open by the exec
/// client never keeps the process alive once the batch is done.
async fn read_stdin_line() -> Result<Vec<u8>, AgentError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let stdin = io::stdin();
        let _ = tx.send(read_line_blocking(&mut stdin.lock()));
    });
    rx.await.unwrap_or(Err(AgentError::NoRequest))
}

fn read_line_blocking(input: &mut impl io::BufRead) -> Result<Vec<u8>, AgentError> {
    let mut line = Vec::new();
    let limit = MAX_REQUEST_BYTES as u64 + 1;
    io::Read::take(&mut *input, limit)
        .read_until(b'\n', &mut line)
        .map_err(AgentError::Read)?;
    check_line(line)
}

fn check_line(line: Vec<u8>) -> Result<Vec<u8>, AgentError> {
    if line.len() > MAX_REQUEST_BYTES {
        Err(AgentError::TooLarge)
    } else if line.iter().all(u8::is_ascii_whitespace) {
        Err(AgentError::NoRequest)
    } else {
        Ok(line)
    }
}

/// Reads the request line from `input`, without waiting for end of input.
///
/// # Errors
///
/// [`AgentError`] when the input fails, ends before a line, or does not hold an accepted request.
pub async fn read_request(input: impl AsyncRead + Unpin) -> Result<BatchRequest, AgentError> {
    let mut input = tokio::io::BufReader::new(input.take(MAX_REQUEST_BYTES as u64 + 1));
    let mut line = Vec::new();
    tokio::io::AsyncBufReadExt::read_until(&mut input, b'\n', &mut line)
        .await
        .map_err(AgentError::Read)?;
    parse_request(&check_line(line)?)
}

/// Parses and checks a request: version, concurrency, unique ids. Individual probes are checked
/// when they run, so one bad probe gets an error record instead of sinking the batch.
///
/// # Errors
///
/// [`AgentError`] when the request is not accepted.
pub fn parse_request(json: &[u8]) -> Result<BatchRequest, AgentError> {
    let request: BatchRequest = serde_json::from_slice(json).map_err(AgentError::Parse)?;
    if request.version != WIRE_VERSION {
        return Err(AgentError::Version {
            got: request.version,
        });
    }
    if let Some(c) = request.concurrency
        && !(1..=MAX_CONCURRENCY).contains(&c)
    {
        return Err(AgentError::Concurrency(c));
    }
    let mut seen = HashSet::new();
    if let Some(dup) = request.probes.iter().find(|p| !seen.insert(&p.id)) {
        return Err(AgentError::DuplicateId(dup.id.clone()));
    }
    Ok(request)
}

/// Runs every probe of `request` concurrently and writes one line per finished probe to
/// `output`, then the `done` line.
///
/// # Errors
///
/// [`AgentError::Write`] when `output` fails; the remaining tools are killed.
///
/// # Caveats
///
/// Each tool is bounded by its [`watchdog`], so a batch ends at the latest after the longest
/// watchdog times the number of concurrency rounds.
pub async fn run_batch(
    request: BatchRequest,
    mut output: impl AsyncWrite + Unpin,
) -> Result<BatchSummary, AgentError> {
    let start = Instant::now();
    let concurrency = request
        .concurrency
        .unwrap_or(DEFAULT_CONCURRENCY)
        .clamp(1, MAX_CONCURRENCY)
        .min(fd_budget().unwrap_or(usize::MAX));
    let batch_tag = batch_tag();
    let mut probes = request.probes.into_iter().enumerate();
    // At most `concurrency` tasks exist at once, so a large batch costs no more memory than a
    // round of it. Spawning and reporting share one loop: a record is written as soon as its
    // probe finishes, and the next probe starts in its place.
    let mut tasks = JoinSet::new();
    let mut names = HashMap::new();
    let mut written = 0;
    loop {
        if tasks.len() < concurrency
            && let Some((index, probe)) = probes.next()
        {
            let token = format!("nvp-{batch_tag}-{index}");
            let name = (probe.id.clone(), probe.probe.kind());
            let handle = tasks.spawn(async move { run_probe(&probe, &token).await });
            names.insert(handle.id(), name);
            continue;
        }
        let Some(joined) = tasks.join_next_with_id().await else {
            break;
        };
        let record = match joined {
            Ok((task, record)) => {
                names.remove(&task);
                record
            }
            // A task that panicked still owes the runner a record.
            Err(error) => {
                let (id, kind) = names
                    .remove(&error.id())
                    .unwrap_or_else(|| ("?".into(), ProbeKind::Tcp));
                failed_record(id, kind, format!("agent task failed: {error}"))
            }
        };
        write_line(&mut output, &AgentLine::Record(record)).await?;
        written += 1;
    }
    let summary = BatchSummary {
        probes: written,
        elapsed_ms: millis(start.elapsed()),
        concurrency,
    };
    write_line(&mut output, &AgentLine::Done(summary.clone())).await?;
    Ok(summary)
}

/// File descriptors the agent holds per running tool: stdout, stderr, stdin (UDP) and the pidfd
/// tokio may use to wait for it.
const FDS_PER_TOOL: usize = 4;

/// How many tools may run at once within the soft open-files limit, keeping 64 descriptors for
/// everything else; `None` when the limit cannot be read.
fn fd_budget() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        return None;
    }
    let soft: usize = soft.parse().ok()?;
    Some((soft.saturating_sub(64) / FDS_PER_TOOL).max(1))
}

/// A tag unique to this batch: process id and start time.
fn batch_tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

async fn write_line(
    output: &mut (impl AsyncWrite + Unpin),
    line: &AgentLine,
) -> Result<(), AgentError> {
    let mut bytes = serde_json::to_vec(line).expect("agent lines always serialize");
    bytes.push(b'\n');
    output.write_all(&bytes).await.map_err(AgentError::Write)?;
    output.flush().await.map_err(AgentError::Write)
}

/// How long a probe's tool may run before the agent kills it: three times its timeout plus five
/// seconds. The tools enforce the timeout themselves (curl may take twice as long, nslookup one
/// timeout per search domain that times out); this only catches a tool that hangs.
pub fn watchdog(timeout: Duration) -> Duration {
    timeout * 3 + Duration::from_secs(5)
}

/// Runs one probe and classifies its result. `udp_token` is what a UDP probe sends; it should
/// be unique, so an echo proves this very probe got through.
pub async fn run_probe(request: &ProbeRequest, udp_token: &str) -> ProbeRecord {
    match resolve_first(request).await {
        Resolution::NotNeeded => run_resolved(request, request, udp_token, None).await,
        Resolution::Failed(record) => *record,
        Resolution::Address { address, note } => {
            let connect = at_address(request, address);
            let mut record = run_resolved(request, &connect, udp_token, Some(address)).await;
            record.stdout.insert_str(0, &note);
            record
        }
    }
}

/// Runs `connect` (`request` with its host resolved, or `request` itself) and classifies it.
async fn run_resolved(
    request: &ProbeRequest,
    connect: &ProbeRequest,
    udp_token: &str,
    address: Option<IpAddr>,
) -> ProbeRecord {
    let kind = request.probe.kind();
    let command = match ToolCommand::build(connect, udp_token) {
        Ok(command) => command,
        Err(invalid) => {
            return failed_record(
                request.id.clone(),
                kind,
                format!("invalid probe: {invalid}"),
            );
        }
    };
    let mut command = command;
    if let Some(address) = address {
        pin_curl(&mut command, request, address);
    }
    let timeout = Duration::from_millis(request.timeout_ms.into());
    let run = run_tool(&command, watchdog(timeout)).await;
    let stdout = String::from_utf8_lossy(&run.stdout.kept);
    let stderr = String::from_utf8_lossy(&run.stderr.kept);
    let mut classified = classify_timed(kind, &run.exit, &stdout, &stderr, run.elapsed, timeout);
    if run.killed {
        classified.outcome = Outcome::error(format!(
            "{} still ran after {} s: the agent killed it",
            command.tool.program(),
            watchdog(timeout).as_secs()
        ));
    } else if run.at_deadline {
        // What the tool would have said had it taken the exact timeout.
        classified.outcome = match kind {
            ProbeKind::Dns => Outcome::DnsTimeout,
            ProbeKind::Tcp | ProbeKind::Udp | ProbeKind::Http => Outcome::Timeout,
        };
    }
    if kind == ProbeKind::Udp && classified.echoed.as_deref() != Some(udp_token) {
        // Something answered, but not a netverdict responder echoing this probe's token.
        classified.responder = None;
    }
    ProbeRecord {
        id: request.id.clone(),
        kind,
        tool: command.tool,
        argv: command.argv,
        stdin: command.stdin,
        exit: run.exit,
        elapsed_ms: millis(run.elapsed),
        deadline_ms: command.deadline.map(millis),
        stdout: run.stdout.excerpt(),
        stderr: run.stderr.excerpt(),
        outcome: classified.outcome,
        addresses: classified.addresses,
        responder: classified.responder,
    }
}

fn failed_record(id: String, kind: ProbeKind, reason: String) -> ProbeRecord {
    ProbeRecord {
        id,
        kind,
        tool: kind.tool(),
        argv: Vec::new(),
        stdin: None,
        exit: Exit::NotStarted(reason.clone()),
        elapsed_ms: 0,
        deadline_ms: None,
        stdout: String::new(),
        stderr: String::new(),
        outcome: Outcome::error(reason),
        addresses: Vec::new(),
        responder: None,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One tool run, as observed.
pub struct ToolRun {
    pub exit: Exit,
    pub stdout: Captured,
    pub stderr: Captured,
    pub elapsed: Duration,
    /// The agent ended the tool at its [`ToolCommand::deadline`].
    pub at_deadline: bool,
    /// The agent killed the tool at its watchdog.
    pub killed: bool,
}

/// The start of an output stream and its total length.
#[derive(Default)]
pub struct Captured {
    pub kept: Vec<u8>,
    pub total: usize,
}

impl Captured {
    /// The first [`EXCERPT_BYTES`] as text, with a note of what was left out.
    pub fn excerpt(&self) -> String {
        let kept = &self.kept[..self.kept.len().min(EXCERPT_BYTES)];
        let mut text = String::from_utf8_lossy(kept).into_owned();
        if self.total > kept.len() {
            text.push_str(&format!("\n[{} more bytes]", self.total - kept.len()));
        }
        text
    }
}

/// Runs `command`, ending it at its deadline, if it has one, and killing it after `watchdog`.
pub async fn run_tool(command: &ToolCommand, watchdog: Duration) -> ToolRun {
    let mut process = tokio::process::Command::new(&command.argv[0]);
    process
        .args(&command.argv[1..])
        .env("LC_ALL", "C")
        .stdin(if command.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let start = Instant::now();
    let mut child = match process.spawn() {
        Ok(child) => child,
        Err(error) => {
            return ToolRun {
                exit: Exit::NotStarted(format!("cannot run {}: {error}", command.argv[0])),
                stdout: Captured::default(),
                stderr: Captured::default(),
                elapsed: start.elapsed(),
                at_deadline: false,
                killed: false,
            };
        }
    };
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let feed = async {
        if let (Some(mut stdin), Some(input)) = (stdin, &command.stdin) {
            // A tool that exits before reading its input is not an error of the agent.
            let _ = stdin.write_all(input.as_bytes()).await;
        }
    };
    let wait = async {
        let limit = command.deadline.map_or(watchdog, |d| d.min(watchdog));
        match tokio::time::timeout(limit, child.wait()).await {
            Ok(status) => (status, false),
            Err(_) => {
                let _ = child.start_kill();
                (child.wait().await, true)
            }
        }
    };
    let ((status, ended), out, err, ()) =
        tokio::join!(wait, capture(stdout), capture(stderr), feed);
    let at_deadline = ended && command.deadline.is_some_and(|d| d < watchdog);
    let elapsed = start.elapsed();
    let exit = match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::NotStarted(format!("unknown exit status {status}")),
        },
        Err(error) => Exit::NotStarted(format!("cannot wait for {}: {error}", command.argv[0])),
    };
    ToolRun {
        exit,
        stdout: out,
        stderr: err,
        elapsed,
        at_deadline,
        killed: ended && !at_deadline,
    }
}

async fn capture(stream: Option<impl AsyncRead + Unpin>) -> Captured {
    let mut captured = Captured::default();
    let Some(mut stream) = stream else {
        return captured;
    };
    let mut chunk = [0u8; 4096];
    while let Ok(read) = stream.read(&mut chunk).await {
        if read == 0 {
            break;
        }
        let room = CAPTURE_BYTES.saturating_sub(captured.kept.len());
        captured.kept.extend_from_slice(&chunk[..read.min(room)]);
        captured.total += read;
    }
    captured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_as_a_whole() {
        let ok = br#"{"version":2,"probes":[]}"#;
        assert!(parse_request(ok).is_ok());
        let v1 = br#"{"version":1,"probes":[]}"#;
        assert!(matches!(
            parse_request(v1),
            Err(AgentError::Version { got: 1 })
        ));
        let zero = br#"{"version":2,"concurrency":0,"probes":[]}"#;
        assert!(matches!(
            parse_request(zero),
            Err(AgentError::Concurrency(0))
        ));
        let dup = br#"{"version":2,"probes":[
            {"id":"a","timeout_ms":1000,"probe":{"kind":"tcp","host":"h","port":1}},
            {"id":"a","timeout_ms":1000,"probe":{"kind":"udp","host":"h","port":1}}]}"#;
        assert!(matches!(parse_request(dup), Err(AgentError::DuplicateId(id)) if id == "a"));
        assert!(matches!(
            parse_request(b"{garbage"),
            Err(AgentError::Parse(_))
        ));
        assert_eq!(AgentError::NoRequest.exit_code(), EXIT_REJECTED);
    }

    #[tokio::test]
    async fn the_request_ends_at_the_newline_not_at_eof() {
        let (mut client, agent) = tokio::io::duplex(1024);
        client
            .write_all(b"{\"version\":2,\"probes\":[]}\n")
            .await
            .unwrap();
        // `client` stays open: reading must not wait for it to close.
        let request = read_request(agent).await.unwrap();
        assert!(request.probes.is_empty());
        drop(client);
        let (client, agent) = tokio::io::duplex(64);
        drop(client);
        assert!(matches!(
            read_request(agent).await,
            Err(AgentError::NoRequest)
        ));
    }

    #[test]
    fn the_open_files_limit_bounds_concurrency() {
        let budget = fd_budget().expect("/proc/self/limits is readable on Linux");
        assert!(budget >= 1);
    }

    #[test]
    fn excerpts_say_what_they_left_out() {
        let captured = Captured {
            kept: vec![b'a'; EXCERPT_BYTES + 10],
            total: EXCERPT_BYTES + 100,
        };
        let excerpt = captured.excerpt();
        assert!(excerpt.ends_with("\n[100 more bytes]"), "{excerpt}");
        assert_eq!(excerpt.len(), EXCERPT_BYTES + "\n[100 more bytes]".len());
    }

    #[tokio::test]
    async fn a_missing_tool_is_an_error_record() {
        let command = ToolCommand {
            tool: crate::wire::Tool::Nc,
            argv: vec!["/nonexistent/nc".into(), "-h".into()],
            stdin: None,
            deadline: None,
        };
        let run = run_tool(&command, Duration::from_secs(5)).await;
        assert!(matches!(&run.exit, Exit::NotStarted(why) if why.contains("No such file")));
    }

    #[tokio::test]
    async fn the_watchdog_kills_a_hanging_tool() {
        let command = ToolCommand {
            tool: crate::wire::Tool::Nc,
            argv: vec!["sleep".into(), "30".into()],
            stdin: None,
            deadline: None,
        };
        let run = run_tool(&command, Duration::from_millis(100)).await;
        assert!(run.killed);
        assert!(!run.at_deadline);
        assert_eq!(run.exit, Exit::Signal(9));
    }

    #[tokio::test]
    async fn a_tool_past_its_deadline_is_ended_as_a_timeout_not_killed() {
        let command = ToolCommand {
            tool: crate::wire::Tool::Nc,
            argv: vec!["sleep".into(), "30".into()],
            stdin: None,
            deadline: Some(Duration::from_millis(300)),
        };
        let run = run_tool(&command, Duration::from_secs(30)).await;
        assert!(run.at_deadline);
        assert!(!run.killed);
    }

    #[tokio::test]
    async fn an_invalid_probe_gets_a_record_not_a_run() {
        let request = ProbeRequest {
            id: "bad".into(),
            timeout_ms: 1000,
            probe: crate::wire::ProbeSpec::Tcp {
                host: "-e /bin/sh".into(),
                port: 1,
            },
        };
        let record = run_probe(&request, "t").await;
        assert!(record.argv.is_empty());
        assert!(
            matches!(record.outcome, Outcome::Error { reason } if reason.contains("invalid probe"))
        );
    }
}
