//! One round of probes: one agent exec per source pod, at most `parallel` execs at once, each
//! streaming back a record per probe as it finishes.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use netverdict_probes::{
    AgentLine, BatchRequest, Outcome, ProbeKind, ProbeRecord, ProbeRequest, Tool,
};
use tokio::sync::Semaphore;

use crate::cluster::{ExecError, exec_lines, stderr_suffix};
use crate::k8s::{Api, Client, Pod};
use crate::scenario::PodRef;

/// The agent's command line inside a probe pod.
pub(crate) const AGENT_COMMAND: [&str; 2] = ["netverdict", "probe-batch"];

/// Why a batch could not run or ended early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
    /// The run's exec streams were closed.
    #[error(transparent)]
    Streams(#[from] tokio::sync::AcquireError),
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("the probe agent exited with code {code}{}", stderr_suffix(.stderr))]
    AgentExit { code: i32, stderr: String },
}

/// Runs a batch request in a pod and hands each line of the agent's output to `on_line`.
pub(crate) trait BatchExec: Sync {
    /// # Errors
    /// Why the batch could not run or ended early (exec failure, non-zero agent exit).
    fn run_batch(
        &self,
        pod: &PodRef,
        request: &BatchRequest,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> impl Future<Output = Result<(), BatchError>> + Send;
}

/// Runs batches through the API's exec subresource.
pub(crate) struct KubeExec {
    pub(crate) client: Client,
    /// How long one batch may take at most, beyond its longest probe timeout.
    pub(crate) slack: Duration,
    /// Exec calls made, for reports and tests.
    pub(crate) calls: AtomicUsize,
    /// Exec streams open at once across the whole run (`--parallel`), shared by the scenarios
    /// that run at the same time.
    streams: Arc<Semaphore>,
}

impl KubeExec {
    /// Batches through `client`, each allowed `slack` beyond twice its longest probe timeout,
    /// at most as many at once as `streams` lets.
    pub(crate) fn new(client: Client, streams: Arc<Semaphore>, slack: Duration) -> KubeExec {
        KubeExec {
            client,
            slack,
            calls: AtomicUsize::new(0),
            streams,
        }
    }
}

impl BatchExec for KubeExec {
    async fn run_batch(
        &self,
        pod: &PodRef,
        request: &BatchRequest,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), BatchError> {
        let _stream = self.streams.acquire().await?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let longest = request
            .probes
            .iter()
            .map(|p| p.timeout_ms)
            .max()
            .unwrap_or(1000);
        // curl may take twice its timeout (connect, then transfer); the agent bounds each tool.
        let limit = Duration::from_millis(u64::from(longest) * 2) + self.slack;
        let mut json = serde_json::to_vec(request)?;
        json.push(b'\n');
        let api = Api::<Pod>::namespaced(self.client.clone(), &pod.namespace);
        let command = AGENT_COMMAND.iter().map(|s| (*s).to_owned()).collect();
        let output = exec_lines(&api, &pod.name, command, Some(json), limit, on_line).await?;
        match output.exit_code {
            0 => Ok(()),
            code => Err(BatchError::AgentExit {
                code,
                stderr: output.stderr,
            }),
        }
    }
}

/// A probe to run in a round: `id` is unique in the round.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub(crate) from: PodRef,
    pub(crate) request: ProbeRequest,
}

/// What one probe observed in a round.
#[derive(Clone, Debug)]
pub(crate) struct Observation {
    pub(crate) outcome: Outcome,
    /// The tool's output (stdout then stderr), or why there is none.
    pub(crate) output: String,
    pub(crate) elapsed_ms: u64,
    /// When the runner received it (for a record, when the probe ended).
    pub(crate) received: Instant,
    /// DNS: the addresses of the answer.
    pub(crate) addresses: Vec<std::net::IpAddr>,
    /// A probe by host name whose name did not resolve: the outcome is its resolution's.
    pub(crate) unresolved: bool,
}

impl Observation {
    fn from_record(record: ProbeRecord) -> Observation {
        let mut output = record.stdout;
        if !record.stderr.is_empty() {
            if !output.is_empty() && !output.ends_with('\n') {
                output.push('\n');
            }
            output.push_str(&record.stderr);
        }
        Observation {
            outcome: record.outcome,
            output,
            elapsed_ms: record.elapsed_ms,
            received: Instant::now(),
            unresolved: record.kind != ProbeKind::Dns && record.tool == Tool::Nslookup,
            addresses: record.addresses,
        }
    }

    fn error(reason: String) -> Observation {
        Observation {
            outcome: Outcome::error(reason.clone()),
            output: reason,
            elapsed_ms: 0,
            received: Instant::now(),
            addresses: Vec::new(),
            unresolved: false,
        }
    }
}

/// Runs `jobs`: one batch per source pod, at most `parallel` at once. Returns an observation for
/// every job id; a probe whose record never came is an `error` saying why. `on_observed` is
/// called as each record arrives.
pub(crate) async fn run_round<E: BatchExec>(
    exec: &E,
    jobs: &[Job],
    parallel: usize,
    on_observed: &(dyn Fn(&str, &Observation) + Sync),
) -> BTreeMap<String, Observation> {
    let mut per_pod: BTreeMap<&PodRef, Vec<ProbeRequest>> = BTreeMap::new();
    for job in jobs {
        per_pod
            .entry(&job.from)
            .or_default()
            .push(job.request.clone());
    }
    let batches = per_pod.into_iter().map(|(pod, probes)| async move {
        let ids: Vec<String> = probes.iter().map(|p| p.id.clone()).collect();
        let request = BatchRequest::new(probes);
        let mut observed = BTreeMap::new();
        let mut rejected = None;
        let mut done = false;
        let mut on_line = |line: &str| match serde_json::from_str::<AgentLine>(line) {
            Ok(AgentLine::Record(record)) => {
                let id = record.id.clone();
                let observation = Observation::from_record(record);
                on_observed(&id, &observation);
                observed.insert(id, observation);
            }
            Ok(AgentLine::Done(_)) => done = true,
            Ok(AgentLine::Rejected { error }) => rejected = Some(error),
            // A line that is not the agent's (a wrapper's banner, say) is not a result.
            Err(_) => {}
        };
        let result = exec.run_batch(pod, &request, &mut on_line).await;
        let why_missing = match (result, rejected, done) {
            (_, Some(error), _) => format!("the probe agent in {pod} rejected the batch: {error}"),
            (Err(error), None, _) => format!("probe batch in {pod} failed: {error}"),
            (Ok(()), None, false) => {
                format!("the probe agent in {pod} stopped before reporting every probe")
            }
            (Ok(()), None, true) => format!("the probe agent in {pod} did not report this probe"),
        };
        for id in ids {
            if let std::collections::btree_map::Entry::Vacant(slot) = observed.entry(id) {
                let observation = Observation::error(why_missing.clone());
                on_observed(slot.key(), &observation);
                slot.insert(observation);
            }
        }
        observed
    });
    futures::stream::iter(batches)
        .buffer_unordered(parallel.max(1))
        .fold(BTreeMap::new(), |mut all, observed| async move {
            all.extend(observed);
            all
        })
        .await
}
