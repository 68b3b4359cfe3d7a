//! The result model of a run: what the reporters render and `--json` writes.
//!
//! Field names are part of the JSON contract (camelCase), documented in docs/results-format.md.

use std::fmt;
use std::path::Path;

use netverdict_probes::Outcome;
use serde::Serialize;

use crate::run::RunErrors;
use crate::verdict::ProbeStatus;

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunResult {
    pub(crate) run_id: String,
    /// The API server the run used.
    pub(crate) cluster: String,
    pub(crate) duration_ms: u64,
    /// Why the run could not complete (setup, pods, cluster access), or not cleanly (an
    /// interruption, a cleanup that left objects); a string in JSON, `null` when there is none.
    pub(crate) error: RunErrors,
    /// What the cleanup could not remove; present only when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cleanup: Option<CleanupReport>,
    /// How the network blocked the denied probes; `None` when none was blocked.
    pub(crate) deny_behaviour: Option<DenyBehaviour>,
    /// Whether the network enforces NetworkPolicy, checked only when a deny that the cluster's
    /// policies deny was not blocked; `None` when nothing needed the check.
    pub(crate) enforcement: Option<Enforcement>,
    /// What the check observed (or why it could not judge), in words.
    pub(crate) enforcement_evidence: Option<String>,
    /// What is wrong with the input when the run stopped before it started (exit 2).
    pub(crate) problems: Vec<InputProblem>,
    /// Where each scenario the run read is named, so a setup error can point at the input.
    pub(crate) inputs: Vec<SourceLine>,
    pub(crate) scenarios: Vec<ScenarioResult>,
}

/// What a cleanup left behind, and how to remove it later.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CleanupReport {
    pub(crate) run_id: String,
    /// The run's objects still there.
    pub(crate) left: Vec<LeftObject>,
    /// Every problem, in words, also those naming no object (a listing that failed).
    pub(crate) problems: Vec<String>,
    /// The permissions whose lack left objects behind, in the manifests' words.
    pub(crate) missing_permissions: Vec<String>,
    /// `netverdict cleanup --run-id ...`, which removes them.
    pub(crate) command: String,
}

/// One object a cleanup could not remove.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LeftObject {
    pub(crate) kind: String,
    /// `None` for a namespace.
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    pub(crate) reason: String,
    pub(crate) missing_permission: Option<String>,
}

/// A line of a scenario file, the file relative to the working directory when it is below it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SourceLine {
    pub(crate) file: String,
    pub(crate) line: u64,
}

/// What kind of problem stopped a run before it created anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ProblemKind {
    /// The scenario is wrong (exit 2).
    #[default]
    InvalidInput,
    /// A deployed workload, pod or Service the scenario names cannot be probed: it does not
    /// exist, has no Ready pod or does not expose the port (exit 3).
    NotInCluster,
}

impl ProblemKind {
    /// How reports call it.
    pub(crate) fn words(self) -> &'static str {
        match self {
            ProblemKind::InvalidInput => "invalid input",
            ProblemKind::NotInCluster => "not in the cluster",
        }
    }

    /// The sentence that opens the list of problems.
    pub(crate) fn sentence(self) -> &'static str {
        match self {
            ProblemKind::InvalidInput => "The input is invalid; nothing was created.",
            ProblemKind::NotInCluster => {
                "Deployed targets the scenarios name cannot be probed; nothing was created."
            }
        }
    }
}

/// One error found in the input, or in what the input names in the cluster, where it is
/// written.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InputProblem {
    pub(crate) kind: ProblemKind,
    pub(crate) file: String,
    pub(crate) line: u64,
    pub(crate) column: u64,
    /// The field path inside the document, e.g. `spec.probes[3].to`; empty for the document.
    pub(crate) path: String,
    pub(crate) message: String,
}

/// What the run's check of NetworkPolicy enforcement found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Enforcement {
    /// A default-deny closed an open connection.
    Enforced,
    /// A default-deny left an open connection open.
    NotEnforced,
    /// The check could not judge (its pods did not start, it was interrupted, ...).
    Unknown,
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Enforcement::Enforced => "enforced",
            Enforcement::NotEnforced => "not enforced",
            Enforcement::Unknown => "could not be checked",
        })
    }
}

/// How the network answered the attempts of denied probes whose targets were not shown dead:
/// by silence (a drop) or by a refusal (a reject).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DenyBehaviour {
    pub(crate) network: DenyKind,
    /// Attempts that timed out.
    pub(crate) dropped: usize,
    /// Attempts that were refused.
    pub(crate) rejected: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DenyKind {
    Drops,
    Rejects,
    Mixed,
}

impl DenyBehaviour {
    /// What the denied probes of `scenarios` observed, or `None` when none was blocked.
    /// Probes that could not be judged say nothing about the network and are left out.
    pub(crate) fn observed(scenarios: &[ScenarioResult]) -> Option<DenyBehaviour> {
        let (mut dropped, mut rejected) = (0, 0);
        let attempts = scenarios
            .iter()
            .flat_map(|s| &s.probes)
            .filter(|p| p.expect == "deny")
            .filter(|p| {
                !matches!(
                    p.status,
                    ProbeStatus::Error | ProbeStatus::Inconclusive | ProbeStatus::Skipped
                )
            })
            .flat_map(|p| &p.history);
        for attempt in attempts {
            match attempt.outcome {
                Outcome::Timeout | Outcome::DnsTimeout => dropped += 1,
                Outcome::Refused => rejected += 1,
                _ => {}
            }
        }
        let network = match (dropped, rejected) {
            (0, 0) => return None,
            (_, 0) => DenyKind::Drops,
            (0, _) => DenyKind::Rejects,
            _ => DenyKind::Mixed,
        };
        Some(DenyBehaviour {
            network,
            dropped,
            rejected,
        })
    }
}

impl std::fmt::Display for DenyBehaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let DenyBehaviour {
            dropped, rejected, ..
        } = self;
        match self.network {
            DenyKind::Drops => write!(
                f,
                "this network drops denied connections ({dropped} timed out)"
            ),
            DenyKind::Rejects => write!(
                f,
                "this network rejects denied connections ({rejected} refused)"
            ),
            DenyKind::Mixed => write!(
                f,
                "this network both drops and rejects denied connections ({rejected} refused, \
                 {dropped} timed out; a rejecting network whose ICMP errors the kernel \
                 rate-limits looks like this too)"
            ),
        }
    }
}

/// The parts of a scenario's setup, in milliseconds, in the order they run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetupPhases {
    /// Creating (or waiting for, or finding) the namespaces.
    pub(crate) namespaces_ms: u64,
    pub(crate) services_ms: u64,
    pub(crate) policies_ms: u64,
    /// Creating the probe pods.
    pub(crate) pods_ms: u64,
    /// From the last pod created to every pod started (Ready, for pods that serve).
    pub(crate) pods_started_ms: u64,
    /// Waiting for the targeted Services to have a ready endpoint.
    pub(crate) endpoints_ms: u64,
    /// Reading the cluster's policies, pods and namespaces for `expect: auto`.
    pub(crate) predictions_ms: u64,
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
    /// Where the setup time went.
    pub(crate) setup_phases: SetupPhases,
    /// Why the scenario's setup failed (its pods could not start, the server dropped a field,
    /// ...); its probes then did not run and are errors carrying this reason.
    pub(crate) setup_error: Option<String>,
    /// From the policies being applied to the end of the confirming round.
    pub(crate) probing_ms: u64,
    /// Exec calls the probing made (one per source pod and round, plus controls).
    pub(crate) exec_calls: usize,
    /// The scenario's pods that died during the run, with how and their last log lines.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) dead_pods: Vec<crate::cluster::Death>,
    /// The probe pods that copied the identity of deployed workloads (`from: {like: ...}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) mimics: Vec<MimicReport>,
    pub(crate) probes: Vec<ProbeResult>,
}

/// A mimic: a probe pod with the labels and service account of a deployed workload.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MimicReport {
    /// `namespace/pod`.
    pub(crate) pod: String,
    /// The source as the scenario names it: `like:deployment:shop/web`.
    pub(crate) like: String,
    /// What it copies: `deployment shop/web`.
    pub(crate) of: String,
    /// The labels it carries from the workload (the run adds `netverdict.io/run`).
    pub(crate) labels: std::collections::BTreeMap<String, String>,
    /// The workload's pod labels it does not carry: those controllers adopt pods by, and for a
    /// selector those its pods do not all share.
    pub(crate) left_out: Vec<String>,
    pub(crate) service_account: Option<String>,
    /// The node it was pinned to, or the nodes it had to avoid (`placement`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) node: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) avoid_nodes: Vec<String>,
    /// Its controller: `ConfigMap shop/netverdict-<run>`.
    pub(crate) owner: String,
    /// The readiness gate that keeps it out of every Service's ready endpoints.
    pub(crate) readiness_gate: String,
    /// In one line: `probe pod shop/nv-like-web-7f3a, labels copied from deployment shop/web
    /// except pod-template-hash, service account web`.
    pub(crate) summary: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProbeResult {
    pub(crate) name: String,
    /// `scenario/name`, unique in the run; the same key as in `plan` JSON.
    pub(crate) key: String,
    /// Whether `name` is the one the scenario gives (else netverdict made it up).
    pub(crate) named: bool,
    /// The scenario file, relative to the working directory when it is below it.
    pub(crate) file: String,
    /// The line of the probe (or of the matrix it belongs to) in `file`.
    pub(crate) line: u64,
    /// `namespace/pod`.
    pub(crate) from: String,
    /// A probe from a mimic: the source as the scenario names it (`like:deployment:shop/web`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) like: Option<String>,
    /// `namespace/pod`, `service ns/name`, `host NAME`, `ip ADDRESS` or `cluster DNS`: the
    /// target as the terminal, JUnit and the tables name it.
    #[serde(skip)]
    pub(crate) to: String,
    /// The target as `plan` JSON names it: `namespace/pod`, `service:ns/name`, `host:NAME`,
    /// `ip:ADDRESS` or `cluster-dns`.
    #[serde(rename = "to")]
    pub(crate) target: String,
    /// A probe to a deployed pod (a live target): `namespace/pod`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) target_pod: Option<String>,
    /// The pod that answered: the deployed target pod, once a probe to it was answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) answered_by: Option<String>,
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
    /// The name a `dns` probe resolves.
    pub(crate) query: Option<String>,
    /// The path an `http` probe requests.
    pub(crate) http_path: Option<String>,
    /// The status an allowed `http` request must return.
    pub(crate) http_status: Option<u16>,
    /// What a `dns` probe's answer must be: `nxdomain`, `resolves`, `addresses [...]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) answer: Option<String>,
    /// A probe by host name whose name did not resolve (resolved first, within its timeout):
    /// its outcome is the resolution's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) unresolved: bool,
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
    /// A probe by host name: whether the policies let its source pod reach the cluster DNS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dns_allowed: Option<bool>,
    /// The cluster has no cluster DNS pod: a DNS probe's silence says nothing of the network.
    #[serde(skip)]
    pub(crate) no_cluster_dns: bool,
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

/// Counts of probes by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Tally {
    pub(crate) passed: usize,
    /// Failed or flapping.
    pub(crate) failed: usize,
    /// Could not be judged: errors and inconclusive probes.
    pub(crate) errors: usize,
    /// Not run: the run was interrupted before them.
    pub(crate) skipped: usize,
}

impl Tally {
    pub(crate) fn of<'a>(probes: impl IntoIterator<Item = &'a ProbeResult>) -> Tally {
        let mut tally = Tally::default();
        for probe in probes {
            match probe.status {
                ProbeStatus::Pass => tally.passed += 1,
                ProbeStatus::Fail | ProbeStatus::Flapping => tally.failed += 1,
                ProbeStatus::Error | ProbeStatus::Inconclusive => tally.errors += 1,
                ProbeStatus::Skipped => tally.skipped += 1,
            }
        }
        tally
    }
}

impl SourceLine {
    /// `file` relative to the working directory when it is below it, as CI systems expect.
    pub(crate) fn new(file: &Path, line: u64) -> SourceLine {
        let relative = std::env::current_dir()
            .ok()
            .and_then(|cwd| file.strip_prefix(cwd).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| file.to_path_buf());
        let text = relative.display().to_string();
        SourceLine {
            file: text.strip_prefix("./").map_or(text.clone(), str::to_owned),
            line,
        }
    }
}

impl fmt::Display for SourceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

impl ProbeResult {
    /// `from -> to:port/PROTO (via) expect VERDICT`, with the query or path when there is one:
    /// every field that tells two probes of a scenario apart.
    pub(crate) fn title(&self) -> String {
        let mut kind = self.via.clone();
        if let Some(query) = &self.query {
            kind.push_str(&format!(" {query}"));
        }
        if let Some(path) = &self.http_path {
            kind.push_str(&format!(" {path}"));
        }
        format!(
            "{} -> {}:{}/{} ({kind}) expect {}",
            self.from, self.to, self.port, self.protocol, self.expect
        )
    }

    /// The scenario's own name for the probe when it gives one, else [`title`](Self::title).
    pub(crate) fn label(&self) -> String {
        if self.named {
            self.name.clone()
        } else {
            self.title()
        }
    }

    pub(crate) fn location(&self) -> SourceLine {
        SourceLine {
            file: self.file.clone(),
            line: self.line,
        }
    }

    /// What was observed, in words: `connected`, `nothing (the probe did not run)`.
    pub(crate) fn observed(&self) -> String {
        self.outcome
            .as_ref()
            .map_or_else(|| "nothing".to_owned(), crate::verdict::outcome_name)
    }

    /// The expectation in words: `deny (drop)`, `allow`.
    pub(crate) fn expected(&self) -> String {
        if self.expect == "deny" {
            format!("deny ({})", self.deny)
        } else {
            self.expect.clone()
        }
    }

    /// The message without the outcome it starts with: `not blocked`.
    pub(crate) fn why(&self) -> &str {
        self.message
            .strip_prefix(self.observed().as_str())
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(&self.message)
    }

    /// Where the expectation comes from, in words.
    pub(crate) fn expect_origin(&self) -> &'static str {
        match self.expect_source.as_str() {
            "auto" => "computed by the engine (expect: auto)",
            "table" => "from the matrix's truth table",
            _ => "written in the scenario",
        }
    }

    /// One line: the status, expected versus observed, and why.
    pub(crate) fn verdict_line(&self) -> String {
        let observed = self.observed();
        let why = self.why();
        let line = format!(
            "{}: expected {}, observed {observed}: {why}",
            self.status,
            self.expected()
        );
        line.split(['\n', '\r'])
            .filter(|part| !part.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl RunResult {
    pub(crate) fn tally(&self) -> Tally {
        Tally::of(self.scenarios.iter().flat_map(|s| &s.probes))
    }

    /// `NetworkPolicy is not enforced by this network: EVIDENCE`, when the run checked.
    pub(crate) fn enforcement_line(&self) -> Option<String> {
        let state = self.enforcement?;
        let evidence = self.enforcement_evidence.as_deref().unwrap_or_default();
        Some(match state {
            Enforcement::Unknown => format!(
                "whether this network enforces NetworkPolicy could not be checked: {evidence}"
            ),
            state => format!("NetworkPolicy is {state} by this network: {evidence}"),
        })
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
            key: format!("shop-isolation/web to db {status}"),
            named: true,
            file: "scenarios/shop.yaml".to_owned(),
            line: 14,
            from: "shop/web".to_owned(),
            like: None,
            to: "shop/db".to_owned(),
            target: "shop/db".to_owned(),
            target_pod: None,
            answered_by: None,
            port: 5432,
            port_name: Some("pg".to_owned()),
            protocol: "TCP".to_owned(),
            via: "tcp".to_owned(),
            expect: "deny".to_owned(),
            expect_source: "explicit".to_owned(),
            deny: "drop".to_owned(),
            query: None,
            http_path: None,
            http_status: None,
            answer: None,
            unresolved: false,
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
                dns_allowed: None,
                no_cluster_dns: false,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(status: ProbeStatus, outcomes: &[Outcome]) -> ProbeResult {
        let mut probe = ProbeResult::example(status, outcomes.last().cloned(), "");
        probe.history = outcomes
            .iter()
            .enumerate()
            .map(|(n, outcome)| Attempt {
                round: u32::try_from(n).unwrap() + 1,
                outcome: outcome.clone(),
                at_ms: 0,
                elapsed_ms: 0,
            })
            .collect();
        probe
    }

    fn behaviour(probes: Vec<ProbeResult>) -> Option<DenyBehaviour> {
        DenyBehaviour::observed(&[ScenarioResult {
            probes,
            ..ScenarioResult::default()
        }])
    }

    #[test]
    fn the_deny_behaviour_comes_from_the_denied_attempts_that_could_be_judged() {
        use Outcome::{Connected, Refused, Timeout};
        use ProbeStatus::{Fail, Inconclusive, Pass};
        let drops = behaviour(vec![denied(Pass, &[Timeout, Timeout])]).unwrap();
        assert_eq!(
            (drops.network, drops.dropped, drops.rejected),
            (DenyKind::Drops, 2, 0)
        );
        assert!(drops.to_string().contains("drops"), "{drops}");
        let rejects = behaviour(vec![
            denied(Fail, &[Refused]),
            denied(Inconclusive, &[Timeout]),
        ])
        .unwrap();
        assert_eq!(rejects.network, DenyKind::Rejects);
        assert!(rejects.to_string().contains("rejects"), "{rejects}");
        let mixed = behaviour(vec![denied(Pass, &[Refused, Timeout])]).unwrap();
        assert_eq!(mixed.network, DenyKind::Mixed);
        assert!(mixed.to_string().contains("rate-limits"), "{mixed}");
        assert_eq!(behaviour(vec![denied(Fail, &[Connected])]), None);
        let mut allowed = denied(Pass, &[Timeout]);
        allowed.expect = "allow".to_owned();
        assert_eq!(behaviour(vec![allowed]), None);
    }
}
