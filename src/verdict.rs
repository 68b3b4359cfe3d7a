//! Judging an observed outcome against the expected verdict.
//!
//! `allow` is met by a connection (http: a response, with the expected status when one is
//! given; dns: any answer, NOERROR, NXDOMAIN or SERVFAIL: the server was reached; what the answer
//! must be is the probe's `answer`, judged by [`judge_answer`]). `deny` is met by a timeout
//! (`deny: drop`), a refusal
//! (`deny: reject`) or either (`deny: any`, the default). An `error` outcome never meets
//! anything: it says nothing about the network.
//!
//! A refusal is also what a target that does not listen answers, so under `deny: any` it counts
//! as a deny only when the target is known to listen ([`Liveness`], settled by [`qualify`]
//! once every round has run).

use std::fmt;
use std::net::IpAddr;

use netverdict_probes::Outcome;
use serde::Serialize;

use crate::scenario::model::{DenyMode, DnsAnswer, Verdict};

/// Where a probe ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ProbeStatus {
    /// The expectation was met.
    Pass,
    /// The network did something else than expected.
    Fail,
    /// The probe could not observe the network (exec failed, tool missing, garbage output).
    Error,
    /// The outcome looked like a deny, but the positive control failed: the target was not
    /// listening or the Service had no ready endpoint, so the "deny" proves nothing.
    Inconclusive,
    /// It met the expectation, then stopped meeting it while the run confirmed.
    Flapping,
    /// It never ran: the run was interrupted (Ctrl-C, SIGTERM) before it.
    Skipped,
}

impl fmt::Display for ProbeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProbeStatus::Pass => "pass",
            ProbeStatus::Fail => "fail",
            ProbeStatus::Error => "error",
            ProbeStatus::Inconclusive => "inconclusive",
            ProbeStatus::Flapping => "flapping",
            ProbeStatus::Skipped => "skipped",
        })
    }
}

/// The judgement of one observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Judgement {
    pub(crate) status: ProbeStatus,
    /// What was seen and what it means, e.g. `timeout: blocked`.
    pub(crate) message: String,
}

impl Judgement {
    fn new(status: ProbeStatus, message: impl Into<String>) -> Judgement {
        Judgement {
            status,
            message: message.into(),
        }
    }
}

/// What the probe asked for, beyond allow/deny.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Checks {
    /// The HTTP status an allowed request must return.
    pub(crate) http_status: Option<u16>,
}

/// Judges `outcome` against `expected`.
pub(crate) fn judge(
    expected: Verdict,
    deny: DenyMode,
    checks: Checks,
    outcome: &Outcome,
) -> Judgement {
    use ProbeStatus::{Error, Fail, Pass};
    match (expected, outcome) {
        (_, Outcome::Error { reason }) => Judgement::new(Error, format!("probe error: {reason}")),

        (Verdict::Allow, Outcome::Connected) => Judgement::new(Pass, "connected"),
        (Verdict::Allow, Outcome::HttpStatus { code }) => match checks.http_status {
            Some(wanted) if wanted != *code => Judgement::new(
                Fail,
                format!("http-status {code}: reached, but the status should be {wanted}"),
            ),
            _ => Judgement::new(Pass, format!("http-status {code}")),
        },
        (Verdict::Allow, Outcome::Timeout | Outcome::DnsTimeout) => Judgement::new(
            Fail,
            format!("{}: blocked (dropped)", outcome_name(outcome)),
        ),
        (Verdict::Allow, Outcome::Refused) => Judgement::new(
            Fail,
            "refused: rejected by a policy, or nothing listens there",
        ),
        (Verdict::Allow, Outcome::DnsNxdomain) => Judgement::new(
            Pass,
            "dns-nxdomain: reached (the server answered that the name does not exist)",
        ),
        (Verdict::Allow, Outcome::DnsServfail) => Judgement::new(
            Pass,
            "dns-servfail: reached (the server answered with a failure)",
        ),

        (Verdict::Deny, Outcome::Timeout | Outcome::DnsTimeout) => match deny {
            DenyMode::Drop | DenyMode::Any => {
                Judgement::new(Pass, format!("{}: blocked", outcome_name(outcome)))
            }
            DenyMode::Reject => Judgement::new(
                Fail,
                format!(
                    "{}: blocked by a drop, but `deny: reject` expects a refusal",
                    outcome_name(outcome)
                ),
            ),
        },
        (Verdict::Deny, Outcome::Refused) => match deny {
            DenyMode::Reject | DenyMode::Any => Judgement::new(Pass, "refused: blocked"),
            DenyMode::Drop => Judgement::new(
                Fail,
                "refused: rejected, but `deny: drop` expects a silent drop (use `deny: reject` or `any` for a rejecting network)",
            ),
        },
        (Verdict::Deny, Outcome::Connected | Outcome::HttpStatus { .. }) => {
            Judgement::new(Fail, format!("{}: not blocked", outcome_name(outcome)))
        }
        (Verdict::Deny, Outcome::DnsNxdomain | Outcome::DnsServfail) => Judgement::new(
            Fail,
            format!("{}: the DNS server was reached", outcome_name(outcome)),
        ),
    }
}

/// The judgement of a DNS probe whose server was reached, given what its answer must be
/// (`answer`); other judgements are kept as they are.
pub(crate) fn judge_answer(
    judgement: Judgement,
    answer: Option<&DnsAnswer>,
    outcome: &Outcome,
    addresses: &[IpAddr],
) -> Judgement {
    let Some(answer) = answer else {
        return judgement;
    };
    if judgement.status != ProbeStatus::Pass || !answered(outcome) {
        return judgement;
    }
    let name = outcome_name(outcome);
    let mut got: Vec<IpAddr> = addresses.to_vec();
    got.sort_unstable();
    got.dedup();
    let met = match (answer, outcome) {
        (DnsAnswer::Nxdomain, Outcome::DnsNxdomain) => true,
        (DnsAnswer::Resolves, Outcome::Connected) => !got.is_empty(),
        (DnsAnswer::Addresses(wanted), Outcome::Connected) => *wanted == got,
        _ => false,
    };
    if met {
        return Judgement::new(
            ProbeStatus::Pass,
            format!("{name}: reached, answer {answer}"),
        );
    }
    let seen = match outcome {
        Outcome::Connected if got.is_empty() => "no address".to_owned(),
        Outcome::Connected => {
            let list: Vec<String> = got.iter().map(IpAddr::to_string).collect();
            format!("addresses [{}]", list.join(", "))
        }
        _ => name.clone(),
    };
    Judgement::new(
        ProbeStatus::Fail,
        format!("{name}: reached, but the answer is {seen} where `answer: {answer}` was expected"),
    )
}

/// The judgement of a probe by host name whose name did not resolve: its resolution, run first
/// within the probe's timeout, ended in `outcome`. DNS that does not answer (dropped or
/// rejected) blocks the probe as a deny would; a name that does not exist, or a server that
/// fails, says nothing about the network.
pub(crate) fn judge_unresolved(expected: Verdict, outcome: &Outcome) -> Judgement {
    use ProbeStatus::{Error, Fail, Pass};
    let name = outcome_name(outcome);
    match (outcome, expected) {
        (Outcome::DnsTimeout | Outcome::Refused, Verdict::Deny) => Judgement::new(
            Pass,
            format!("{name}: blocked: the name could not be resolved (DNS did not answer)"),
        ),
        (Outcome::DnsTimeout | Outcome::Refused, Verdict::Allow) => Judgement::new(
            Fail,
            format!("{name}: the name could not be resolved: DNS did not answer (DNS blocked?)"),
        ),
        (Outcome::DnsNxdomain, _) => Judgement::new(
            Error,
            "dns-nxdomain: the name does not exist, so nothing was probed",
        ),
        (Outcome::DnsServfail, _) => Judgement::new(
            Error,
            "dns-servfail: the DNS server could not resolve the name, so nothing was probed",
        ),
        (Outcome::Error { reason }, _) => {
            Judgement::new(Error, format!("probe error: resolving the name: {reason}"))
        }
        (other, _) => Judgement::new(
            Error,
            format!(
                "{}: resolving the name gave no address",
                outcome_name(other)
            ),
        ),
    }
}

/// The outcome's stable name, with the HTTP code.
pub(crate) fn outcome_name(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Connected => "connected".to_owned(),
        Outcome::Refused => "refused".to_owned(),
        Outcome::Timeout => "timeout".to_owned(),
        Outcome::DnsNxdomain => "dns-nxdomain".to_owned(),
        Outcome::DnsServfail => "dns-servfail".to_owned(),
        Outcome::DnsTimeout => "dns-timeout".to_owned(),
        Outcome::HttpStatus { code } => format!("http-status {code}"),
        Outcome::Error { .. } => "error".to_owned(),
    }
}

/// Whether an outcome looks like a deny: the kind a failed positive control makes meaningless.
pub(crate) fn looks_denied(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Timeout | Outcome::DnsTimeout | Outcome::Refused
    )
}

/// Whether an outcome shows that something answered at the destination: a connection, an HTTP
/// response, a DNS answer of any kind.
pub(crate) fn answered(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Connected
            | Outcome::HttpStatus { .. }
            | Outcome::DnsNxdomain
            | Outcome::DnsServfail
    )
}

/// What a run knows of whether a probe's target listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// The target's positive control connected, or a probe of the scenario reached the same
    /// destination.
    Listening,
    /// The target's positive control failed (the text says how): a deny proves nothing.
    NotListening(String),
    /// Nothing checked it: hosts, addresses and the cluster DNS have no control of their own.
    Unknown,
    /// A deployed target whose container's readiness probe connects to the port, and that is
    /// Ready: the kubelet's word that something listens, weaker than a probe that reached it.
    ShownByReadiness,
    /// A deployed target nothing can check: no tools inside it, no probe pod of the scenario
    /// the policies allow to reach it, no readiness probe on the port.
    Unverified,
}

/// The final judgement of a probe from the judgement of its last observation, given what is
/// known of its target.
///
/// A deny-looking outcome from a target that does not listen proves nothing, whatever the mode.
/// Under `deny: any` a refusal is a deny only from a target known to listen: a closed port
/// refuses too. `deny: reject` accepts every refusal, as the user asked.
pub(crate) fn qualify(
    judgement: Judgement,
    deny: DenyMode,
    outcome: &Outcome,
    liveness: &Liveness,
) -> Judgement {
    match liveness {
        Liveness::NotListening(why)
            if looks_denied(outcome) && judgement.status != ProbeStatus::Error =>
        {
            Judgement::new(
                ProbeStatus::Inconclusive,
                format!(
                    "{}; but {why}, so this proves nothing about policy",
                    judgement.message
                ),
            )
        }
        // A refusal from a port nobody showed to listen is what a closed port answers: even
        // `deny: reject` cannot tell it from a policy here.
        Liveness::Unverified
            if *outcome == Outcome::Refused && judgement.status == ProbeStatus::Pass =>
        {
            Judgement::new(
                ProbeStatus::Inconclusive,
                "refused, but nothing shows that the deployed target listens there (a closed port \
                 refuses too, and its image may have no tools for a control from inside): probe it \
                 from a mimic of a source the policies allow, or give its container a readiness \
                 probe on the port",
            )
        }
        Liveness::Unverified if judgement.status == ProbeStatus::Pass => Judgement::new(
            ProbeStatus::Pass,
            format!("{}; listener not verified", judgement.message),
        ),
        Liveness::ShownByReadiness
            if judgement.status == ProbeStatus::Pass && looks_denied(outcome) =>
        {
            Judgement::new(
                ProbeStatus::Pass,
                format!(
                    "{}; the listener is shown by the kubelet's readiness probe on the port, not by a probe",
                    judgement.message
                ),
            )
        }
        Liveness::Unknown
            if deny == DenyMode::Any
                && *outcome == Outcome::Refused
                && judgement.status == ProbeStatus::Pass =>
        {
            Judgement::new(
                ProbeStatus::Inconclusive,
                "refused, but nothing shows that the target listens there (a closed port refuses \
                 too): add a probe that reaches it, or use `deny: reject` to accept any refusal",
            )
        }
        _ => judgement,
    }
}

/// The judgement of a probe given the engine's prediction from the cluster's policies.
///
/// A refusal where the policies allow the traffic is no deny, whatever the mode: no policy
/// rejected it, so most likely nothing listens at `destination` (`ADDRESS:PORT`).
pub(crate) fn against_policies(
    judgement: Judgement,
    outcome: &Outcome,
    policies_allow: bool,
    destination: &str,
) -> Judgement {
    if policies_allow && *outcome == Outcome::Refused && judgement.status == ProbeStatus::Pass {
        Judgement::new(
            ProbeStatus::Inconclusive,
            format!("refused, but the policies allow this: nothing listens on {destination}?"),
        )
    } else {
        judgement
    }
}

/// The judgement of an allow whose target nothing showed to listen (a host, an address, the
/// cluster DNS: they have no control) that was refused where the policies allow it: no policy
/// rejected it, so most likely nothing serves there (`why` says what), which proves nothing
/// about the network.
pub(crate) fn unserved_allow(
    judgement: Judgement,
    outcome: &Outcome,
    policies_allow: bool,
    why: &str,
) -> Judgement {
    if policies_allow && *outcome == Outcome::Refused && judgement.status == ProbeStatus::Fail {
        Judgement::new(
            ProbeStatus::Inconclusive,
            format!("refused, but the policies allow this: {why}"),
        )
    } else {
        judgement
    }
}

/// Why a deny that alternated between a refusal and a timeout may be no flap at all: the
/// kernel rate-limits the ICMP errors a rejecting network answers with.
pub(crate) fn rate_limit_hint(deny: DenyMode, outcomes: &[&Outcome]) -> Option<&'static str> {
    let refused = outcomes.iter().any(|o| **o == Outcome::Refused);
    let timed_out = outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Timeout | Outcome::DnsTimeout));
    (deny != DenyMode::Any && refused && timed_out).then_some(
        "refused and timed out in turn: a rejecting network does this when the kernel \
         rate-limits its ICMP errors (net.ipv4.icmp_ratelimit); `deny: any` accepts both",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_CHECKS: Checks = Checks { http_status: None };

    #[test]
    fn table() {
        use DenyMode::{Any, Drop, Reject};
        use ProbeStatus::{Error, Fail, Pass};
        use Verdict::{Allow, Deny};
        let http = |code| Outcome::HttpStatus { code };
        let cases: Vec<(Verdict, DenyMode, Outcome, ProbeStatus)> = vec![
            (Allow, Drop, Outcome::Connected, Pass),
            (Allow, Drop, http(500), Pass),
            (Allow, Drop, Outcome::Timeout, Fail),
            (Allow, Drop, Outcome::Refused, Fail),
            (Allow, Drop, Outcome::DnsTimeout, Fail),
            (Allow, Drop, Outcome::DnsNxdomain, Pass),
            (Allow, Drop, Outcome::DnsServfail, Pass),
            (Allow, Drop, Outcome::error("nc: not found"), Error),
            (Deny, Drop, Outcome::Timeout, Pass),
            (Deny, Drop, Outcome::DnsTimeout, Pass),
            (Deny, Drop, Outcome::Refused, Fail),
            (Deny, Reject, Outcome::Refused, Pass),
            (Deny, Reject, Outcome::Timeout, Fail),
            (Deny, Any, Outcome::Refused, Pass),
            (Deny, Any, Outcome::Timeout, Pass),
            (Deny, Any, Outcome::Connected, Fail),
            (Deny, Drop, http(403), Fail),
            (Deny, Drop, Outcome::DnsNxdomain, Fail),
            (Deny, Any, Outcome::error("exec failed"), Error),
        ];
        for (expected, deny, outcome, status) in cases {
            let judgement = judge(expected, deny, NO_CHECKS, &outcome);
            assert_eq!(
                judgement.status, status,
                "{expected} ({deny:?}) with {outcome:?}: {}",
                judgement.message
            );
        }
    }

    #[test]
    fn an_answer_expectation_judges_what_the_reached_server_said() {
        use ProbeStatus::{Fail, Pass};
        let a: IpAddr = "203.0.113.10".parse().unwrap();
        let b: IpAddr = "203.0.113.11".parse().unwrap();
        let both = DnsAnswer::Addresses(vec![a, b]);
        let cases: Vec<(DnsAnswer, Outcome, Vec<IpAddr>, ProbeStatus)> = vec![
            (DnsAnswer::Nxdomain, Outcome::DnsNxdomain, vec![], Pass),
            (DnsAnswer::Nxdomain, Outcome::Connected, vec![a], Fail),
            (DnsAnswer::Nxdomain, Outcome::DnsServfail, vec![], Fail),
            (DnsAnswer::Resolves, Outcome::Connected, vec![a], Pass),
            (DnsAnswer::Resolves, Outcome::Connected, vec![], Fail),
            (DnsAnswer::Resolves, Outcome::DnsNxdomain, vec![], Fail),
            (both.clone(), Outcome::Connected, vec![b, a, a], Pass),
            (both.clone(), Outcome::Connected, vec![a], Fail),
            (both, Outcome::DnsNxdomain, vec![], Fail),
        ];
        for (answer, outcome, addresses, status) in cases {
            let reached = judge(Verdict::Allow, DenyMode::Any, NO_CHECKS, &outcome);
            assert_eq!(reached.status, Pass, "any answer reaches the server");
            let judged = judge_answer(reached, Some(&answer), &outcome, &addresses);
            assert_eq!(
                judged.status, status,
                "{answer} / {outcome:?}: {}",
                judged.message
            );
        }
        // A deny is not about the answer; neither is a probe without one.
        let timed_out = judge(
            Verdict::Deny,
            DenyMode::Any,
            NO_CHECKS,
            &Outcome::DnsTimeout,
        );
        let kept = judge_answer(
            timed_out.clone(),
            Some(&DnsAnswer::Nxdomain),
            &Outcome::DnsTimeout,
            &[],
        );
        assert_eq!(kept, timed_out);
    }

    #[test]
    fn a_name_that_did_not_resolve_is_a_deny_of_dns_or_says_nothing() {
        use ProbeStatus::{Error, Fail, Pass};
        let cases = [
            (Verdict::Deny, Outcome::DnsTimeout, Pass),
            (Verdict::Deny, Outcome::Refused, Pass),
            (Verdict::Allow, Outcome::DnsTimeout, Fail),
            (Verdict::Allow, Outcome::Refused, Fail),
            (Verdict::Deny, Outcome::DnsNxdomain, Error),
            (Verdict::Allow, Outcome::DnsNxdomain, Error),
            (Verdict::Allow, Outcome::DnsServfail, Error),
            (Verdict::Deny, Outcome::error("nslookup: not found"), Error),
        ];
        for (expected, outcome, status) in cases {
            let judged = judge_unresolved(expected, &outcome);
            assert_eq!(
                judged.status, status,
                "{expected} / {outcome:?}: {}",
                judged.message
            );
        }
    }

    fn passed(message: &str) -> Judgement {
        Judgement::new(ProbeStatus::Pass, message)
    }

    #[test]
    fn under_any_a_refusal_is_a_deny_only_from_a_target_known_to_listen() {
        use Liveness::{Listening, NotListening, Unknown};
        let refused = Outcome::Refused;
        let dead = NotListening("the control saw refused".to_owned());
        let cases = [
            (DenyMode::Any, &refused, Listening, ProbeStatus::Pass),
            (DenyMode::Any, &refused, Unknown, ProbeStatus::Inconclusive),
            (
                DenyMode::Any,
                &refused,
                dead.clone(),
                ProbeStatus::Inconclusive,
            ),
            (DenyMode::Any, &Outcome::Timeout, Unknown, ProbeStatus::Pass),
            (
                DenyMode::Any,
                &Outcome::Timeout,
                dead.clone(),
                ProbeStatus::Inconclusive,
            ),
            (DenyMode::Reject, &refused, Unknown, ProbeStatus::Pass),
            (DenyMode::Reject, &refused, dead, ProbeStatus::Inconclusive),
            (
                DenyMode::Drop,
                &Outcome::Timeout,
                Unknown,
                ProbeStatus::Pass,
            ),
        ];
        for (deny, outcome, liveness, status) in cases {
            let judged = judge(Verdict::Deny, deny, NO_CHECKS, outcome);
            assert_eq!(judged.status, ProbeStatus::Pass, "{deny:?} {outcome:?}");
            let qualified = qualify(judged, deny, outcome, &liveness);
            assert_eq!(
                qualified.status, status,
                "{deny:?} {outcome:?} {liveness:?}: {}",
                qualified.message
            );
        }
        let unknown = qualify(
            passed("refused: blocked"),
            DenyMode::Any,
            &refused,
            &Unknown,
        );
        assert!(
            unknown.message.contains("deny: reject"),
            "{}",
            unknown.message
        );
    }

    #[test]
    fn qualifying_leaves_failures_and_errors_alone() {
        let failed = judge(Verdict::Deny, DenyMode::Drop, NO_CHECKS, &Outcome::Refused);
        let kept = qualify(
            failed.clone(),
            DenyMode::Drop,
            &Outcome::Refused,
            &Liveness::Unknown,
        );
        assert_eq!(kept, failed);
        let error = judge(
            Verdict::Deny,
            DenyMode::Any,
            NO_CHECKS,
            &Outcome::error("x"),
        );
        let dead = Liveness::NotListening("no".to_owned());
        assert_eq!(
            qualify(error.clone(), DenyMode::Any, &Outcome::error("x"), &dead),
            error
        );
    }

    #[test]
    fn a_refusal_the_policies_allow_is_inconclusive_in_every_mode() {
        let at = "203.0.113.10:8080";
        for deny in [DenyMode::Any, DenyMode::Drop, DenyMode::Reject] {
            for liveness in [Liveness::Listening, Liveness::Unknown] {
                let judged = judge(Verdict::Deny, deny, NO_CHECKS, &Outcome::Refused);
                let qualified = qualify(judged, deny, &Outcome::Refused, &liveness);
                let last = against_policies(qualified.clone(), &Outcome::Refused, true, at);
                assert_ne!(last.status, ProbeStatus::Pass, "{deny:?} {liveness:?}");
                if qualified.status == ProbeStatus::Pass {
                    assert_eq!(last.status, ProbeStatus::Inconclusive);
                    assert_eq!(
                        last.message,
                        "refused, but the policies allow this: nothing listens on 203.0.113.10:8080?"
                    );
                }
            }
        }
        let denied = passed("refused: blocked");
        assert_eq!(
            against_policies(denied.clone(), &Outcome::Refused, false, at),
            denied
        );
        let dropped = passed("timeout: blocked");
        assert_eq!(
            against_policies(dropped.clone(), &Outcome::Timeout, true, at),
            dropped
        );
    }

    #[test]
    fn alternating_refusals_and_timeouts_hint_at_icmp_rate_limiting_in_strict_modes() {
        let seen = [&Outcome::Refused, &Outcome::Timeout];
        assert!(rate_limit_hint(DenyMode::Drop, &seen).is_some());
        assert!(rate_limit_hint(DenyMode::Reject, &seen).is_some());
        assert!(rate_limit_hint(DenyMode::Any, &seen).is_none());
        assert!(
            rate_limit_hint(DenyMode::Drop, &[&Outcome::Connected, &Outcome::Timeout]).is_none()
        );
    }

    #[test]
    fn an_unexpected_http_status_fails_an_allow() {
        let checks = Checks {
            http_status: Some(200),
        };
        let ok = judge(
            Verdict::Allow,
            DenyMode::Drop,
            checks,
            &Outcome::HttpStatus { code: 200 },
        );
        assert_eq!(ok.status, ProbeStatus::Pass);
        let wrong = judge(
            Verdict::Allow,
            DenyMode::Drop,
            checks,
            &Outcome::HttpStatus { code: 404 },
        );
        assert_eq!(wrong.status, ProbeStatus::Fail);
        assert!(wrong.message.contains("should be 200"), "{}", wrong.message);
    }

    #[test]
    fn messages_say_what_was_seen() {
        let seen = judge(
            Verdict::Deny,
            DenyMode::Drop,
            NO_CHECKS,
            &Outcome::Connected,
        );
        assert_eq!(seen.message, "connected: not blocked");
        let blocked = judge(Verdict::Deny, DenyMode::Drop, NO_CHECKS, &Outcome::Timeout);
        assert_eq!(blocked.message, "timeout: blocked");
        let error = judge(
            Verdict::Deny,
            DenyMode::Drop,
            NO_CHECKS,
            &Outcome::error("nc missing"),
        );
        assert!(error.message.contains("nc missing"));
    }
}
