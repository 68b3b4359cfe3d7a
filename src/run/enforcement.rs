//! Whether the network enforces NetworkPolicy at all, found out only when the run needs to know:
//! when a deny that the cluster's policies deny was observed connected. A run whose denies hold
//! (or whose failed denies the policies explain: a wrong expectation) pays nothing.
//!
//! The check is preflight's canary, once per run, after the last scenario: a client and a server
//! probe pod labelled with the run's id, an open connection between them, then a default-deny
//! ingress policy on the server, which must close it within [`wait`]. The canary gets a namespace
//! of its own (`netverdict-canary-<run id>`) when this identity may create one and use it, else it
//! goes into the namespace of an unblocked deny's source pod; the run's cleanup removes it either
//! way.
//!
//! What it finds relabels the unblocked denies: on a network that does not enforce NetworkPolicy
//! they fail as "policy not enforced" with the evidence, and a deny that passed there is
//! inconclusive (something else than a policy blocked it); on one that does, the failure says so
//! and never blames enforcement.

use std::time::Duration;

use super::config::RunConfig;
use super::interrupt::Interrupt;
use super::lifecycle::RunObserver;
use crate::cluster::canary_allowed;
use crate::k8s::Client;
use crate::preflight::{Canary, CanaryError, CanaryOptions, Enforcement as Judged, enforcement_of};
use crate::results::{Enforcement, ProbeResult, ScenarioResult};
use crate::verdict::{ProbeStatus, answered, outcome_name};

/// How long the canary's default-deny may take to close its connection: the run's settle time,
/// at least `least` ([`crate::run::RunLimits::enforcement_wait`]): a network that enforces
/// slowly must not be taken for one that does not enforce at all.
pub(crate) fn wait(settle: Duration, least: Duration) -> Duration {
    settle.max(least)
}

/// What the check found, for the run's result and the probes it relabels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) state: Enforcement,
    /// What the canary observed, or why it could not judge.
    pub(crate) evidence: String,
}

/// Whether `probe` is a deny the network did not block although the cluster's policies deny it
/// (or no prediction says otherwise): only enforcement can explain it.
fn unblocked(probe: &ProbeResult) -> bool {
    probe.expect == "deny"
        && probe.status == ProbeStatus::Fail
        && probe.outcome.as_ref().is_some_and(answered)
        && probe.prediction.as_ref().is_none_or(|p| p.agrees)
}

/// The namespace of the first unblocked deny's source pod, when there is one.
pub(crate) fn needs_check(scenarios: &[ScenarioResult]) -> Option<String> {
    scenarios
        .iter()
        .flat_map(|s| &s.probes)
        .find(|p| unblocked(p))
        .map(|p| p.from.split_once('/').map_or("", |(ns, _)| ns).to_owned())
}

/// Why the check could not judge.
#[derive(Debug, thiserror::Error)]
enum CheckError {
    #[error(transparent)]
    Canary(#[from] CanaryError),
    #[error("interrupted by {0}")]
    Interrupted(&'static str),
}

/// Where and how a run's canary goes.
pub(crate) struct CheckContext<'a> {
    pub(crate) client: &'a Client,
    pub(crate) config: &'a RunConfig,
    pub(crate) interrupt: &'a Interrupt,
    pub(crate) observer: &'a dyn RunObserver,
    /// Records a namespace the canary uses, `true` when the run creates it.
    pub(crate) touch: &'a (dyn Fn(&str, bool) + Sync),
}

/// Runs the canary (in `fallback`, a namespace of the run, unless it may have one of its own)
/// and says what it found.
pub(crate) async fn check(context: &CheckContext<'_>, fallback: String) -> Finding {
    let CheckContext { client, config, .. } = *context;
    let own = format!("netverdict-canary-{}", config.run_id);
    // An image pull secret lives in the run's namespaces, not in a new one.
    let owns = config.probe_pods.pull_secrets.is_empty() && canary_allowed(client, &own).await;
    let namespace = if owns { own } else { fallback };
    (context.touch)(&namespace, owns);
    let options = CanaryOptions {
        pods: config.probe_pods.clone(),
        settle: wait(config.probing.settle, config.limits.enforcement_wait),
        pod_timeout: config.limits.pod_start,
        // The canary's namespace is chosen above, not by the user.
        namespace: None,
    };
    context
        .observer
        .checking_enforcement(&namespace, options.settle);
    let canary = Canary::for_run(config.run_id.clone(), namespace, owns);
    let judged = tokio::select! {
        judged = enforcement_of(client, &canary, &options) => judged.map_err(CheckError::from),
        signal = context.interrupt.wait() => Err(CheckError::Interrupted(signal)),
    };
    finding(judged, options.settle)
}

/// The finding of the canary's judgement, its default-deny given `waited`.
fn finding(judged: Result<Judged, CheckError>, waited: Duration) -> Finding {
    match judged {
        Ok(Judged::NotEnforced) => Finding {
            state: Enforcement::NotEnforced,
            evidence: format!(
                "a default-deny ingress NetworkPolicy did not close an open connection between \
                 two probe pods within {}",
                humantime::format_duration(waited)
            ),
        },
        Ok(Judged::Enforced { after }) => Finding {
            state: Enforcement::Enforced,
            evidence: format!(
                "a default-deny ingress NetworkPolicy closed an open connection between two probe \
                 pods after {} ms",
                after.as_millis()
            ),
        },
        Err(why) => Finding {
            state: Enforcement::Unknown,
            evidence: why.to_string(),
        },
    }
}

/// Relabels the probes the finding explains: every unblocked deny, and on a network that does
/// not enforce NetworkPolicy, every deny that passed.
pub(crate) fn apply(scenarios: &mut [ScenarioResult], finding: &Finding) {
    let evidence = &finding.evidence;
    for probe in scenarios.iter_mut().flat_map(|s| &mut s.probes) {
        if unblocked(probe) {
            let outcome = probe.outcome.as_ref().map(outcome_name).unwrap_or_default();
            probe.message = match finding.state {
                Enforcement::NotEnforced => format!(
                    "{outcome}: policy not enforced: the network does not enforce NetworkPolicy \
                     ({evidence})"
                ),
                Enforcement::Enforced => format!(
                    "{outcome}: not blocked, although the network enforces NetworkPolicy \
                     ({evidence}): the policies may take longer than --settle to apply here, or \
                     the network does not apply them as the engine predicts"
                ),
                Enforcement::Unknown => format!(
                    "{outcome}: not blocked; whether the network enforces NetworkPolicy could \
                     not be checked: {evidence}"
                ),
            };
        } else if finding.state == Enforcement::NotEnforced
            && probe.expect == "deny"
            && probe.status == ProbeStatus::Pass
        {
            probe.status = ProbeStatus::Inconclusive;
            probe.message = format!(
                "{}; but the network does not enforce NetworkPolicy ({evidence}), so something \
                 other than a policy blocked this",
                probe.message
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::run::RunLimits;
    use netverdict_probes::Outcome;

    use super::*;
    use crate::results::Prediction;

    fn scenario(probes: Vec<ProbeResult>) -> Vec<ScenarioResult> {
        vec![ScenarioResult {
            probes,
            ..ScenarioResult::default()
        }]
    }

    fn unblocked_deny() -> ProbeResult {
        let mut probe = ProbeResult::example(
            ProbeStatus::Fail,
            Some(Outcome::Connected),
            "connected: not blocked",
        );
        probe.prediction = None;
        probe
    }

    fn wrong_expectation() -> ProbeResult {
        let mut probe = unblocked_deny();
        probe.prediction = Some(Prediction {
            verdict: "allow".to_owned(),
            agrees: false,
            explanation: "no policy isolates shop/db for ingress".to_owned(),
            dns_allowed: None,
            no_cluster_dns: false,
        });
        probe.message =
            "connected: the cluster's policies allow this, not the scenario's expectation"
                .to_owned();
        probe
    }

    fn passed_deny() -> ProbeResult {
        ProbeResult::example(
            ProbeStatus::Pass,
            Some(Outcome::Timeout),
            "timeout: blocked",
        )
    }

    #[test]
    fn only_a_deny_the_policies_deny_and_the_network_let_through_needs_the_check() {
        assert_eq!(
            needs_check(&scenario(vec![passed_deny(), wrong_expectation()])),
            None
        );
        assert_eq!(
            needs_check(&scenario(vec![passed_deny(), unblocked_deny()])).as_deref(),
            Some("shop")
        );
        let mut flapping = unblocked_deny();
        flapping.status = ProbeStatus::Flapping;
        assert_eq!(needs_check(&scenario(vec![flapping])), None);
    }

    #[test]
    fn a_network_that_does_not_enforce_fails_every_unblocked_deny_as_not_enforced() {
        let mut scenarios = scenario(vec![unblocked_deny(), passed_deny(), wrong_expectation()]);
        let found = finding(Ok(Judged::NotEnforced), Duration::from_secs(20));
        assert_eq!(found.state, Enforcement::NotEnforced);
        apply(&mut scenarios, &found);
        let [unblocked, passed, wrong] = &scenarios[0].probes[..] else {
            panic!("three probes")
        };
        assert_eq!(unblocked.status, ProbeStatus::Fail);
        assert_eq!(
            unblocked.message,
            "connected: policy not enforced: the network does not enforce NetworkPolicy (a \
             default-deny ingress NetworkPolicy did not close an open connection between two \
             probe pods within 20s)"
        );
        assert_eq!(passed.status, ProbeStatus::Inconclusive);
        assert!(
            passed
                .message
                .starts_with("timeout: blocked; but the network does not enforce"),
            "{}",
            passed.message
        );
        assert_eq!(wrong.status, ProbeStatus::Fail);
        assert!(!wrong.message.contains("not enforced"), "{}", wrong.message);
    }

    #[test]
    fn on_an_enforcing_network_no_failure_says_not_enforced() {
        let mut scenarios = scenario(vec![unblocked_deny(), passed_deny()]);
        let found = finding(
            Ok(Judged::Enforced {
                after: Duration::from_millis(3012),
            }),
            Duration::from_secs(20),
        );
        apply(&mut scenarios, &found);
        let [unblocked, passed] = &scenarios[0].probes[..] else {
            panic!("two probes")
        };
        assert_eq!(unblocked.status, ProbeStatus::Fail);
        assert!(
            unblocked
                .message
                .starts_with("connected: not blocked, although the network enforces NetworkPolicy (a default-deny ingress NetworkPolicy closed an open connection between two probe pods after 3012 ms)"),
            "{}",
            unblocked.message
        );
        assert!(!unblocked.message.contains("not enforced"));
        assert_eq!(passed.status, ProbeStatus::Pass);
        assert_eq!(passed.message, "timeout: blocked");

        let mut scenarios = scenario(vec![unblocked_deny()]);
        apply(
            &mut scenarios,
            &finding(Err(CheckError::Interrupted("Ctrl-C")), Duration::ZERO),
        );
        let message = &scenarios[0].probes[0].message;
        assert!(
            message.ends_with("could not be checked: interrupted by Ctrl-C"),
            "{message}"
        );
        assert!(!message.contains("not enforced"), "{message}");
    }

    #[test]
    fn the_canary_gets_at_least_twenty_seconds() {
        let least = RunLimits::new(Duration::from_secs(60), Duration::ZERO).enforcement_wait;
        assert_eq!(least, Duration::from_secs(20));
        assert_eq!(wait(Duration::from_secs(1), least), least);
        assert_eq!(
            wait(Duration::from_secs(45), least),
            Duration::from_secs(45)
        );
    }
}
