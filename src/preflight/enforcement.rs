//! Whether the network enforces NetworkPolicy: a connection from the client canary to the server
//! canary must first be open; then, once a default-deny ingress policy selects the server, it must
//! close within the settle time (networks apply policies asynchronously).

use std::future::Future;
use std::time::{Duration, Instant};

use netverdict_probes::Outcome;

use crate::cluster::CreateError;
use crate::run::{BatchExec, Job, Observation, run_round};
use crate::verdict::outcome_name;

/// The pause between two probes of the same connection.
const RETRY: Duration = Duration::from_millis(250);

/// What the default-deny did to the open connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Enforcement {
    /// Closed: `after` from the policy's creation to the first probe that found it closed (and a
    /// second one confirmed).
    Enforced { after: Duration },
    /// Still open at the end of the settle time.
    NotEnforced,
}

/// Why enforcement could not be judged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnforcementError {
    #[error(
        "before any policy, the client canary could not connect to the server canary within {} \
         (last outcome: {outcome}{}), so a closed connection would show nothing",
        humantime::format_duration(*.waited), detail(.output)
    )]
    NeverOpen {
        waited: Duration,
        outcome: String,
        output: String,
    },
    #[error("cannot apply the default-deny NetworkPolicy: {0}")]
    Policy(#[source] CreateError),
    #[error(
        "the probes after the default-deny gave no outcome that says anything about the network: {0}"
    )]
    Unjudged(String),
}

fn detail(output: &str) -> String {
    match output.trim() {
        "" => String::new(),
        output => format!(": {}", output.lines().next().unwrap_or_default()),
    }
}

fn closed(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Timeout | Outcome::Refused)
}

async fn probe<E: BatchExec>(exec: &E, job: &Job) -> Observation {
    let mut observed = run_round(exec, std::slice::from_ref(job), 1, &|_, _| {}).await;
    observed
        .remove(&job.request.id)
        .unwrap_or_else(|| unreachable!("run_round reports every job"))
}

/// Probes `job` until it connects, up to `limit`.
async fn wait_open<E: BatchExec>(
    exec: &E,
    job: &Job,
    limit: Duration,
) -> Result<(), EnforcementError> {
    let started = Instant::now();
    loop {
        let observed = probe(exec, job).await;
        if observed.outcome == Outcome::Connected {
            return Ok(());
        }
        if started.elapsed() >= limit {
            return Err(EnforcementError::NeverOpen {
                waited: limit,
                outcome: outcome_name(&observed.outcome),
                output: observed.output,
            });
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Probes `job` until two probes in a row find it closed, up to `settle` after `since`.
async fn wait_closed<E: BatchExec>(
    exec: &E,
    job: &Job,
    since: Instant,
    settle: Duration,
) -> Result<Enforcement, EnforcementError> {
    let mut first_closed = None;
    loop {
        let sent = Instant::now();
        let observed = probe(exec, job).await;
        match (&observed.outcome, first_closed) {
            (outcome, Some(at)) if closed(outcome) => {
                return Ok(Enforcement::Enforced { after: at - since });
            }
            (outcome, None) if closed(outcome) => {
                first_closed = Some(sent);
                continue;
            }
            (Outcome::Error { reason }, _) if since.elapsed() >= settle => {
                return Err(EnforcementError::Unjudged(reason.clone()));
            }
            _ => first_closed = None,
        }
        if since.elapsed() >= settle {
            return Ok(Enforcement::NotEnforced);
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Checks that `job` connects (for up to `open_limit`), runs `deny` (which applies the
/// default-deny), then probes until the connection is closed, for up to `settle`.
///
/// # Errors
/// The connection was never open, the policy could not be applied, or the probes after it said
/// nothing about the network.
pub(crate) async fn judge_enforcement<E, F>(
    exec: &E,
    job: &Job,
    open_limit: Duration,
    settle: Duration,
    deny: F,
) -> Result<Enforcement, EnforcementError>
where
    E: BatchExec,
    F: Future<Output = Result<(), CreateError>>,
{
    wait_open(exec, job, open_limit).await?;
    deny.await.map_err(EnforcementError::Policy)?;
    wait_closed(exec, job, Instant::now(), settle).await
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use netverdict_probes::{
        AgentLine, BatchRequest, BatchSummary, Exit, ProbeRecord, ProbeRequest, ProbeSpec, Tool,
    };

    use super::*;
    use crate::scenario::PodRef;

    /// Answers each probe with the next scripted outcome; the last one repeats.
    struct Scripted(Mutex<VecDeque<Outcome>>);

    impl BatchExec for Scripted {
        async fn run_batch(
            &self,
            _pod: &PodRef,
            request: &BatchRequest,
            on_line: &mut (dyn FnMut(&str) + Send),
        ) -> Result<(), crate::run::BatchError> {
            let outcome = {
                let mut script = self.0.lock().unwrap();
                if script.len() > 1 {
                    script.pop_front()
                } else {
                    script.front().cloned()
                }
            };
            let record = ProbeRecord {
                id: request.probes[0].id.clone(),
                kind: request.probes[0].probe.kind(),
                tool: Tool::Nc,
                argv: vec!["nc".to_owned()],
                stdin: None,
                exit: Exit::Code(0),
                elapsed_ms: 1,
                deadline_ms: None,
                stdout: String::new(),
                stderr: String::new(),
                outcome: outcome.unwrap(),
                addresses: Vec::new(),
                responder: None,
            };
            on_line(&serde_json::to_string(&AgentLine::Record(record)).unwrap());
            let done = BatchSummary {
                probes: 1,
                elapsed_ms: 1,
                concurrency: 1,
            };
            on_line(&serde_json::to_string(&AgentLine::Done(done)).unwrap());
            Ok(())
        }
    }

    fn judged(script: &[Outcome], settle: Duration) -> Result<Enforcement, EnforcementError> {
        let exec = Scripted(Mutex::new(script.iter().cloned().collect()));
        let job = Job {
            from: PodRef::new("p", "client"),
            request: ProbeRequest {
                id: "canary".to_owned(),
                timeout_ms: 1000,
                probe: ProbeSpec::Tcp {
                    host: "10.0.0.2".to_owned(),
                    port: 8080,
                },
            },
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(judge_enforcement(
            &exec,
            &job,
            Duration::ZERO,
            settle,
            async { Ok(()) },
        ))
    }

    #[test]
    fn a_connection_that_closes_and_stays_closed_shows_enforcement() {
        use Outcome::*;
        let judged = judged(
            &[Connected, Connected, Timeout, Connected, Refused, Timeout],
            Duration::from_secs(60),
        );
        assert!(
            matches!(judged, Ok(Enforcement::Enforced { .. })),
            "{judged:?}"
        );
    }

    #[test]
    fn a_connection_still_open_after_the_settle_time_shows_no_enforcement() {
        let judged = judged(&[Outcome::Connected], Duration::from_millis(300));
        assert!(matches!(judged, Ok(Enforcement::NotEnforced)), "{judged:?}");
    }

    #[test]
    fn a_connection_never_open_or_probes_that_say_nothing_cannot_judge() {
        let judged = judged(&[Outcome::Timeout], Duration::from_secs(60));
        let error = judged.unwrap_err().to_string();
        assert!(
            error.starts_with("before any policy, the client canary could not connect"),
            "{error}"
        );
        assert!(error.contains("last outcome: timeout"), "{error}");
        let judged = judged_error();
        assert!(
            matches!(judged, Err(EnforcementError::Unjudged(reason)) if reason == "nc is missing")
        );
    }

    fn judged_error() -> Result<Enforcement, EnforcementError> {
        judged(
            &[Outcome::Connected, Outcome::error("nc is missing")],
            Duration::ZERO,
        )
    }
}
