//! The result model of a run: what the reporters render and `--json` writes.
//!
//! Field names are part of the JSON contract (camelCase), documented in docs/results-format.md.

use netverdict_probes::Outcome;
use serde::Serialize;

use crate::verdict::ProbeStatus;

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunResult {
    pub(crate) run_id: String,
    /// The API server the run used.
    pub(crate) cluster: String,
    pub(crate) duration_ms: u64,
    /// Why the run could not complete (setup, pods, cluster access); the probes then did not run.
    pub(crate) error: Option<String>,
    pub(crate) scenarios: Vec<ScenarioResult>,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScenarioResult {
    pub(crate) name: String,
    /// The file the scenario was read from.
    pub(crate) file: String,
    pub(crate) duration_ms: u64,
    /// Creating the objects and waiting for the pods.
    pub(crate) setup_ms: u64,
    /// From the policies being applied to the end of the confirming round.
    pub(crate) probing_ms: u64,
    /// Exec calls the probing made (one per source pod and round, plus controls).
    pub(crate) exec_calls: usize,
    pub(crate) probes: Vec<ProbeResult>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProbeResult {
    pub(crate) name: String,
    /// `namespace/pod`.
    pub(crate) from: String,
    /// `namespace/pod`, `service ns/name`, `host NAME`, `ip ADDRESS` or `cluster DNS`.
    pub(crate) to: String,
    pub(crate) port: u16,
    pub(crate) port_name: Option<String>,
    /// `TCP`, `UDP` or `SCTP`.
    pub(crate) protocol: String,
    /// `tcp`, `http`, `dns`, `udp` or `sctp`.
    pub(crate) via: String,
    /// `allow` or `deny`.
    pub(crate) expect: String,
    /// `explicit`, `auto` or `table`.
    pub(crate) expect_source: String,
    /// `drop`, `reject` or `any`: what satisfies `deny`.
    pub(crate) deny: String,
    pub(crate) status: ProbeStatus,
    /// What was seen and what it means.
    pub(crate) message: String,
    /// The last observed outcome; `None` when the probe never ran.
    pub(crate) outcome: Option<Outcome>,
    /// The command a person can run to see the same thing.
    pub(crate) command: String,
    /// The tool's output of the last attempt.
    pub(crate) output: String,
    pub(crate) attempts: u32,
    /// From the policies being applied to the first attempt that met the expectation.
    pub(crate) time_to_match_ms: Option<u64>,
    pub(crate) duration_ms: u64,
    /// The engine's prediction from the cluster's policies, when it disagrees with an explicit
    /// expectation or decided an `auto` one.
    pub(crate) prediction: Option<Prediction>,
    /// Every attempt, in order.
    pub(crate) history: Vec<Attempt>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Prediction {
    pub(crate) verdict: String,
    pub(crate) agrees: bool,
    pub(crate) explanation: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Attempt {
    pub(crate) round: u32,
    pub(crate) outcome: Outcome,
    /// Since the policies were applied.
    pub(crate) at_ms: u64,
    pub(crate) elapsed_ms: u64,
}

/// Counts of a run's probes by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Tally {
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    pub(crate) errors: usize,
}

impl ProbeResult {
    /// The testcase name reports use: `from -> to:port/PROTO (via) expect VERDICT`.
    pub(crate) fn title(&self) -> String {
        format!(
            "{} -> {}:{}/{} ({}) expect {}",
            self.from, self.to, self.port, self.protocol, self.via, self.expect
        )
    }
}

impl RunResult {
    pub(crate) fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for probe in self.scenarios.iter().flat_map(|s| &s.probes) {
            match probe.status {
                ProbeStatus::Pass => tally.passed += 1,
                ProbeStatus::Fail | ProbeStatus::Flapping => tally.failed += 1,
                ProbeStatus::Error | ProbeStatus::Inconclusive => tally.errors += 1,
            }
        }
        tally
    }
}

#[cfg(test)]
impl ProbeResult {
    /// A deny probe from shop/web to shop/db that ended with `status`, for reporters' tests.
    pub(crate) fn example(
        status: ProbeStatus,
        outcome: Option<Outcome>,
        message: &str,
    ) -> ProbeResult {
        ProbeResult {
            name: format!("web to db {status}"),
            from: "shop/web".to_owned(),
            to: "shop/db".to_owned(),
            port: 5432,
            port_name: Some("pg".to_owned()),
            protocol: "TCP".to_owned(),
            via: "tcp".to_owned(),
            expect: "deny".to_owned(),
            expect_source: "explicit".to_owned(),
            deny: "drop".to_owned(),
            status,
            message: message.to_owned(),
            outcome: outcome.clone(),
            command: "kubectl exec -n shop web -- nc -vz -w 2 -n 10.244.0.5 5432".to_owned(),
            output: "nc: connect to 10.244.0.5 port 5432 (tcp) failed: Connection refused"
                .to_owned(),
            attempts: 2,
            time_to_match_ms: Some(1500),
            duration_ms: 12,
            prediction: Some(Prediction {
                verdict: "allow".to_owned(),
                agrees: false,
                explanation: "no policy isolates shop/db for ingress".to_owned(),
            }),
            history: outcome
                .map(|outcome| {
                    vec![Attempt {
                        round: 1,
                        outcome,
                        at_ms: 10,
                        elapsed_ms: 12,
                    }]
                })
                .unwrap_or_default(),
        }
    }
}
