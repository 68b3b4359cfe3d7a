//! `expect: auto` at run time, and the engine's second opinion on explicit expectations, from
//! the policies and labels as they are in the cluster: the scenario's, plus every other
//! NetworkPolicy of the namespaces of the probes' pods (a policy selects pods of its own
//! namespace only), whoever made it: another run sharing the namespace, or someone else.
//!
//! The policies are read twice: when the scenario's are applied (to fill `auto`), and after the
//! confirming round (the prediction reported), so a policy another run added meanwhile is in the
//! report, named with its owner.

use std::collections::{BTreeMap, BTreeSet};

use netverdict_engine::Policy;
use netverdict_probes::Outcome;

use super::controls::{Evidence, LiveEvidence, destination_key};
use super::requests::LiveAddresses;
use crate::cluster::{owner, run_of};
use crate::k8s::{Api, Client, ListParams, Namespace, NetworkPolicy, Pod};
use crate::results::{Prediction, ProbeResult};
use crate::scenario::expect::{
    Addresses, DNS_NAMESPACE, DNS_POD, DNS_POD_LABEL, ScenarioCluster, dns_allowed, judge,
};
use crate::scenario::{ExpectSource, Scenario, Verdict};
use crate::verdict::{Judgement, ProbeStatus, against_policies, outcome_name, unserved_allow};

/// The policies in the probes' namespaces that are not the scenario's, and who made each:
/// `netverdict run X` or `someone else (not netverdict)`.
type Foreign = BTreeMap<(String, String), String>;

/// Fills `auto` expectations with the live cluster's verdict and returns, per probe, the
/// engine's prediction to report (`agrees: false` where an explicit expectation contradicts it),
/// and what can show that the deployed targets of denies listen.
pub(crate) async fn resolve_live(
    client: &Client,
    scenario: &mut Scenario,
    live: &LiveAddresses,
) -> (Vec<Option<Prediction>>, LiveEvidence) {
    let model = live_engine(client, scenario, live).await;
    let predictions = fill_auto(&model, scenario);
    let evidence = live_evidence(&model.engine, scenario, &model.addresses);
    (predictions, evidence)
}

/// For each deployed destination a deny goes to, what can show that it listens: a probe pod of
/// the scenario the policies allow to reach it, else the kubelet's readiness probe on the port.
fn live_evidence(
    engine: &ScenarioCluster,
    scenario: &Scenario,
    addresses: &Addresses,
) -> LiveEvidence {
    let mut evidence = LiveEvidence::new();
    let denies = scenario
        .probes
        .iter()
        .filter(|p| p.target.is_live() && p.expect.verdict == Some(Verdict::Deny));
    for probe in denies {
        let key = destination_key(probe);
        if evidence.contains_key(&key) {
            continue;
        }
        let allowed = scenario
            .pods
            .iter()
            .map(crate::scenario::PodSpec::pod_ref)
            .filter(|pod| *pod != probe.from)
            .find(|pod| {
                let mut control = probe.clone();
                control.from = pod.clone();
                matches!(judge(engine, &control, addresses), Ok((Verdict::Allow, _)))
            });
        let found = match allowed {
            Some(pod) => Evidence::AllowedSource(pod),
            None if readiness_shows(scenario, probe) => Evidence::Readiness,
            None => Evidence::Nothing,
        };
        evidence.insert(key, found);
    }
    evidence
}

/// Whether the readiness probes of a deployed target's containers connect to the port it is
/// probed on (every backend's, for a Service), its pods being Ready.
fn readiness_shows(scenario: &Scenario, probe: &crate::scenario::Probe) -> bool {
    let serves = |pod: &crate::scenario::PodRef, port: u16| {
        scenario
            .live_pod(pod)
            .is_some_and(|p| p.ready && p.ready_ports.contains(&port))
    };
    match &probe.target {
        crate::scenario::Target::LivePod { pod, .. } => serves(pod, probe.port),
        crate::scenario::Target::Service {
            backends,
            target_port,
            live: true,
            ..
        } => !backends.is_empty() && backends.iter().all(|b| serves(b, *target_port)),
        _ => false,
    }
}

/// Fills the `auto` expectations of `scenario` from `engine`, and returns every probe's
/// prediction.
fn fill_auto(model: &LiveModel, scenario: &mut Scenario) -> Vec<Option<Prediction>> {
    let mut predictions = Vec::with_capacity(scenario.probes.len());
    for probe in &mut scenario.probes {
        let prediction = match judge(&model.engine, probe, &model.addresses) {
            Ok((verdict, explanation)) => {
                let explanation = name_owners(explanation, &model.foreign);
                if probe.expect.source == ExpectSource::Auto {
                    probe.expect.verdict = Some(verdict);
                    probe.expect.reason = Some(explanation.clone());
                }
                Some(Prediction {
                    verdict: verdict.to_string(),
                    agrees: probe.expect.verdict == Some(verdict),
                    explanation,
                    dns_allowed: by_name_dns(&model.engine, probe),
                    no_cluster_dns: model.no_cluster_dns,
                })
            }
            Err(why) => {
                if probe.expect.source == ExpectSource::Auto {
                    probe.expect.verdict = None;
                    probe.expect.reason = Some(why);
                }
                None
            }
        };
        predictions.push(prediction);
    }
    predictions
}

/// For a probe by host name, whether its source may query the cluster DNS: a name that did not
/// resolve then says something about the network only when DNS is denied.
fn by_name_dns(engine: &ScenarioCluster, probe: &crate::scenario::Probe) -> Option<bool> {
    match &probe.target {
        crate::scenario::Target::Host(_) => dns_allowed(engine, &probe.from),
        _ => None,
    }
}

/// The engine's prediction per probe from the policies in the cluster now, for the report.
pub(crate) async fn predict_live(
    client: &Client,
    scenario: &Scenario,
    live: &LiveAddresses,
) -> Vec<Option<Prediction>> {
    let model = live_engine(client, scenario, live).await;
    scenario
        .probes
        .iter()
        .map(|probe| {
            judge(&model.engine, probe, &model.addresses)
                .ok()
                .map(|(verdict, explanation)| Prediction {
                    verdict: verdict.to_string(),
                    agrees: probe.expect.verdict == Some(verdict),
                    explanation: name_owners(explanation, &model.foreign),
                    dns_allowed: by_name_dns(&model.engine, probe),
                    no_cluster_dns: model.no_cluster_dns,
                })
        })
        .collect()
}

/// The engine's model of the live cluster, and what it knows of the cluster beyond the policies.
struct LiveModel {
    engine: ScenarioCluster,
    addresses: Addresses,
    foreign: Foreign,
    /// The cluster has no cluster DNS pod (looked for and not found).
    no_cluster_dns: bool,
}

async fn live_engine(client: &Client, scenario: &Scenario, live: &LiveAddresses) -> LiveModel {
    let mut addresses = Addresses::offline(&crate::hosts::local_cluster());
    addresses.pods = live
        .pods
        .iter()
        .map(|(pod, ip)| (pod.clone(), vec![*ip]))
        .collect();
    let mut engine = ScenarioCluster::new(scenario, &addresses);
    let (foreign, no_cluster_dns) = add_live_state(client, scenario, &mut engine).await;
    LiveModel {
        engine,
        addresses,
        foreign,
        no_cluster_dns,
    }
}

/// Appends who made each foreign policy an explanation names.
fn name_owners(explanation: String, foreign: &Foreign) -> String {
    let owners: Vec<String> = foreign
        .iter()
        .filter(|((namespace, name), _)| mentions(&explanation, &format!("{namespace}/{name}")))
        .map(|((namespace, name), owner)| {
            format!("{namespace}/{name} is not the scenario's: it belongs to {owner}")
        })
        .collect();
    if owners.is_empty() {
        explanation
    } else {
        format!("{explanation}; {}", owners.join("; "))
    }
}

/// Whether `text` names `reference` (`namespace/name`) as a whole, not as the start of a longer
/// name.
fn mentions(text: &str, reference: &str) -> bool {
    text.match_indices(reference).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + reference.len()..].chars().next();
        let part_of_name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '/';
        !before.is_some_and(part_of_name) && !after.is_some_and(part_of_name)
    })
}

/// Settles a probe's result with the prediction from the policies at the end of the run:
/// - an `auto` expectation computed from other policies than those in force at the end says
///   nothing: the probe could not be judged, and the result says which policies changed;
/// - a failure the cluster's policies explain says so, instead of suspecting enforcement.
pub(crate) fn reconcile(
    result: &mut ProbeResult,
    auto: bool,
    at_start: Option<Prediction>,
    at_end: Option<Prediction>,
) {
    if let (true, Some(start), Some(end)) = (auto, &at_start, &at_end)
        && start.verdict != end.verdict
    {
        result.status = ProbeStatus::Error;
        result.message = format!(
            "the cluster's policies changed during the run: `auto` expected {} ({}), but at the end they {} this ({})",
            start.verdict,
            start.explanation,
            if end.verdict == "allow" {
                "allow"
            } else {
                "deny"
            },
            end.explanation
        );
    } else if let (ProbeStatus::Fail, Some(end), Some(outcome)) =
        (result.status, &at_end, &result.outcome)
        && !end.agrees
    {
        result.message = format!(
            "{}: the cluster's policies {} this, not the scenario's expectation: {}",
            outcome_name(outcome),
            if end.verdict == "allow" {
                "allow"
            } else {
                "deny"
            },
            end.explanation
        );
    }
    let prediction = at_end.or(at_start);
    if result.unresolved
        && result.status == ProbeStatus::Pass
        && prediction.as_ref().and_then(|p| p.dns_allowed) == Some(true)
    {
        result.status = ProbeStatus::Inconclusive;
        result.message = format!(
            "{}; but the policies allow this pod DNS, so the deny of the connection itself is not shown",
            result.message
        );
    }
    if let (Some(predicted), Some(outcome)) = (&prediction, &result.outcome) {
        let target = result.to.strip_prefix("ip ").unwrap_or(&result.to);
        let target = target.strip_prefix("host ").unwrap_or(target);
        let judged = against_policies(
            Judgement {
                status: result.status,
                message: std::mem::take(&mut result.message),
            },
            outcome,
            predicted.verdict == "allow",
            &format!("{target}:{}", result.port),
        );
        result.status = judged.status;
        result.message = judged.message;
    }
    if result.expect == "allow" {
        unjudgeable_allow(result, prediction.as_ref());
    }
    result.prediction = prediction;
    if let Some(pod) = &result.answered_by {
        result.message = format!("{} (answered by {pod})", result.message);
    }
}

/// An allow that failed for want of a server the policies let it reach says nothing about the
/// network: a name whose DNS did not answer although the policies allow this pod DNS, or a
/// refusal from a target without a control of its own (a host, an address, the cluster DNS)
/// that the policies allow. On a cluster without cluster DNS or external hosts, such allows
/// cannot pass: they are inconclusive with the cause, never a failure of the network.
fn unjudgeable_allow(result: &mut ProbeResult, prediction: Option<&Prediction>) {
    let (Some(predicted), Some(outcome)) = (prediction, result.outcome.clone()) else {
        return;
    };
    let dns_silent = matches!(outcome, Outcome::DnsTimeout | Outcome::Refused);
    if result.unresolved && result.status == ProbeStatus::Fail && dns_silent {
        if predicted.dns_allowed == Some(true) {
            result.status = ProbeStatus::Inconclusive;
            result.message = format!(
                "{}: the name could not be resolved: DNS did not answer, although the policies \
                 allow this pod DNS (a cluster without cluster DNS?), so nothing was probed",
                outcome_name(&outcome)
            );
        }
        return;
    }
    if result.target == "cluster-dns"
        && predicted.no_cluster_dns
        && predicted.verdict == "allow"
        && result.status == ProbeStatus::Fail
        && matches!(outcome, Outcome::DnsTimeout | Outcome::Timeout)
    {
        result.status = ProbeStatus::Inconclusive;
        result.message = format!(
            "{}, but the policies allow this: the cluster has no DNS pod ({}={} in {DNS_NAMESPACE}), \
             so nothing answers at the pods' nameserver",
            outcome_name(&outcome),
            DNS_POD_LABEL.0,
            DNS_POD_LABEL.1
        );
        return;
    }
    let why = match result.target.as_str() {
        "cluster-dns" => {
            "no DNS server answers at the pods' nameserver (a cluster without cluster \
                          DNS?)"
                .to_owned()
        }
        target if target.starts_with("host:") || target.starts_with("ip:") => {
            let target = result.to.strip_prefix("ip ").unwrap_or(&result.to);
            let target = target.strip_prefix("host ").unwrap_or(target);
            format!("nothing listens on {target}:{}?", result.port)
        }
        _ => return,
    };
    let judged = unserved_allow(
        Judgement {
            status: result.status,
            message: std::mem::take(&mut result.message),
        },
        &outcome,
        predicted.verdict == "allow",
        &why,
    );
    result.status = judged.status;
    result.message = judged.message;
}

/// Replaces what the scenario assumed with what the cluster holds, where it can be read (and
/// says whether the cluster DNS pod was looked for and is not there):
/// namespace labels, every other policy in the pods' namespaces (returned with their owners), the cluster DNS pod's labels and address.
async fn add_live_state(
    client: &Client,
    scenario: &Scenario,
    engine: &mut ScenarioCluster,
) -> (Foreign, bool) {
    let mut foreign = Foreign::new();
    let mut no_cluster_dns = false;
    let cluster = &mut engine.cluster;
    let namespaces_api = Api::<Namespace>::all(client.clone());
    for namespace in &mut cluster.namespaces {
        if let Ok(Some(live)) = namespaces_api.get_opt(&namespace.name).await {
            namespace.labels = live.metadata.labels.unwrap_or_default();
        }
    }
    let dns_selector =
        ListParams::default().labels(&format!("{}={}", DNS_POD_LABEL.0, DNS_POD_LABEL.1));
    if let Ok(list) = Api::<Pod>::namespaced(client.clone(), DNS_NAMESPACE)
        .list(&dns_selector)
        .await
    {
        let live_dns = list
            .items
            .into_iter()
            .find(|pod| pod.status.as_ref().is_some_and(|s| s.pod_ip.is_some()));
        no_cluster_dns = live_dns.is_none();
        if let (Some(live), Some(model)) = (
            live_dns,
            cluster
                .pods
                .iter_mut()
                .find(|p| p.namespace == DNS_NAMESPACE && p.name == DNS_POD),
        ) {
            model.labels = live.metadata.labels.unwrap_or_default();
            model.ips = live
                .status
                .and_then(|s| s.pod_ip)
                .and_then(|ip| ip.parse().ok())
                .into_iter()
                .collect();
        }
    }
    let scenario_policies: BTreeSet<(String, String)> = scenario
        .policies
        .iter()
        .map(|p| (p.namespace.clone(), p.name.clone()))
        .collect();
    let namespaces: BTreeSet<String> = cluster.pods.iter().map(|p| p.namespace.clone()).collect();
    for namespace in namespaces {
        let Ok(list) = Api::<NetworkPolicy>::namespaced(client.clone(), &namespace)
            .list(&ListParams::default())
            .await
        else {
            continue;
        };
        for object in list.items {
            let key = (
                namespace.clone(),
                object.metadata.name.clone().unwrap_or_default(),
            );
            if scenario_policies.contains(&key) {
                continue;
            }
            if let Ok(policy) = Policy::from_k8s(&object) {
                // In the namespaces of deployed workloads, their own policies are what the
                // scenario is about: only another run's are named.
                let deployed = scenario.namespace(&namespace).is_none()
                    && run_of(object.metadata.labels.as_ref()).is_none();
                if !deployed {
                    foreign.insert(key, owner(&object));
                }
                cluster.policies.push(policy);
            }
        }
    }
    (foreign, no_cluster_dns)
}

#[cfg(test)]
mod tests {
    use netverdict_probes::Outcome;

    use super::*;

    fn prediction(verdict: &str, agrees: bool, explanation: &str) -> Prediction {
        Prediction {
            verdict: verdict.to_owned(),
            agrees,
            explanation: explanation.to_owned(),
            dns_allowed: None,
            no_cluster_dns: false,
        }
    }

    #[test]
    fn an_explanation_names_the_owner_of_every_foreign_policy_it_mentions() {
        let foreign = Foreign::from([
            (
                ("shop3".to_owned(), "allow-everything".to_owned()),
                "netverdict run b".to_owned(),
            ),
            (
                ("shop3".to_owned(), "allow".to_owned()),
                "someone else (not netverdict)".to_owned(),
            ),
        ]);
        let explained = name_owners(
            "allowed; egress: allowed: no policy isolates the source pod for egress; ingress: allowed by policy shop3/allow-everything, ingress rule 0 (any peer, any port)".to_owned(),
            &foreign,
        );
        assert!(
            explained.ends_with(
                "; shop3/allow-everything is not the scenario's: it belongs to netverdict run b"
            ),
            "{explained}"
        );
        assert!(
            !explained.contains("shop3/allow is"),
            "a prefix of another name is not a mention: {explained}"
        );
        let untouched = name_owners("denied".to_owned(), &foreign);
        assert_eq!(untouched, "denied");
    }

    #[test]
    fn an_auto_expectation_the_policies_overtook_during_the_run_is_an_error() {
        let mut result = ProbeResult::example(ProbeStatus::Fail, Some(Outcome::Connected), "x");
        reconcile(
            &mut result,
            true,
            Some(prediction("deny", true, "denied by shop3/deny-all")),
            Some(prediction(
                "allow",
                false,
                "allowed by policy shop3/open; shop3/open is not the scenario's: it belongs to netverdict run b",
            )),
        );
        assert_eq!(result.status, ProbeStatus::Error);
        assert!(
            result
                .message
                .starts_with("the cluster's policies changed during the run: `auto` expected deny"),
            "{}",
            result.message
        );
        assert!(
            result.message.contains("netverdict run b"),
            "{}",
            result.message
        );
        assert_eq!(result.prediction.unwrap().verdict, "allow");
    }

    #[test]
    fn a_failure_the_policies_explain_does_not_blame_enforcement() {
        let mut result = ProbeResult::example(
            ProbeStatus::Fail,
            Some(Outcome::Connected),
            "connected: not blocked",
        );
        let end = prediction("allow", false, "allowed by policy shop3/open");
        reconcile(&mut result, false, Some(end.clone()), Some(end));
        assert_eq!(result.status, ProbeStatus::Fail);
        assert_eq!(
            result.message,
            "connected: the cluster's policies allow this, not the scenario's expectation: allowed by policy shop3/open"
        );

        let mut enforced = ProbeResult::example(
            ProbeStatus::Fail,
            Some(Outcome::Connected),
            "connected: not blocked",
        );
        let agreeing = prediction("deny", true, "denied");
        reconcile(&mut enforced, false, Some(agreeing.clone()), Some(agreeing));
        assert_eq!(enforced.message, "connected: not blocked");
    }

    #[test]
    fn a_name_that_did_not_resolve_shows_a_deny_only_where_the_policies_deny_dns() {
        let unresolved = |dns_allowed| {
            let mut result = ProbeResult::example(
                ProbeStatus::Pass,
                Some(Outcome::DnsTimeout),
                "dns-timeout: blocked: the name could not be resolved (DNS did not answer)",
            );
            result.unresolved = true;
            let mut end = prediction("deny", true, "external.test cannot be resolved");
            end.dns_allowed = Some(dns_allowed);
            reconcile(&mut result, false, Some(end.clone()), Some(end));
            result
        };
        assert_eq!(unresolved(false).status, ProbeStatus::Pass);
        let shown_nothing = unresolved(true);
        assert_eq!(shown_nothing.status, ProbeStatus::Inconclusive);
        assert!(
            shown_nothing
                .message
                .ends_with("so the deny of the connection itself is not shown"),
            "{}",
            shown_nothing.message
        );
    }

    /// An allow of `target` (plan JSON's label) that failed with `outcome`, reconciled with a
    /// prediction of `verdict` under which the pod's DNS is allowed or not.
    fn failed_allow(target: &str, outcome: Outcome, verdict: &str, dns: bool) -> ProbeResult {
        let mut result = ProbeResult::example(ProbeStatus::Fail, Some(outcome), "failed");
        result.expect = "allow".to_owned();
        result.target = target.to_owned();
        result.to = target.replace(':', " ");
        result.port = 80;
        result.unresolved = target.starts_with("host:");
        let mut end = prediction(verdict, verdict == "allow", "the policies say so");
        end.dns_allowed = Some(dns);
        reconcile(&mut result, false, Some(end.clone()), Some(end));
        result
    }

    /// A DNS query that timed out: where the cluster has no DNS pod, nothing could answer it;
    /// where it has one, the network dropped it.
    #[test]
    fn a_silent_cluster_dns_is_judged_by_whether_there_is_one() {
        let silent = |no_cluster_dns: bool| {
            let mut result =
                ProbeResult::example(ProbeStatus::Fail, Some(Outcome::DnsTimeout), "failed");
            result.expect = "allow".to_owned();
            result.target = "cluster-dns".to_owned();
            let end = Prediction {
                no_cluster_dns,
                ..prediction("allow", true, "allowed")
            };
            reconcile(&mut result, false, Some(end.clone()), Some(end));
            result
        };
        let absent = silent(true);
        assert_eq!(
            absent.status,
            ProbeStatus::Inconclusive,
            "{}",
            absent.message
        );
        assert_eq!(
            absent.message,
            "dns-timeout, but the policies allow this: the cluster has no DNS pod (k8s-app=kube-dns in kube-system), so nothing answers at the pods' nameserver"
        );
        assert_eq!(silent(false).status, ProbeStatus::Fail);
    }

    #[test]
    fn an_allow_without_the_server_it_needs_cannot_be_judged() {
        // No cluster DNS: a name does not resolve although the policies allow the pod's DNS.
        let name = failed_allow("host:external.test", Outcome::Refused, "allow", true);
        assert_eq!(name.status, ProbeStatus::Inconclusive, "{}", name.message);
        assert!(
            name.message.contains(
                "although the policies allow this pod DNS (a cluster without cluster DNS?)"
            ),
            "{}",
            name.message
        );
        let dns = failed_allow("cluster-dns", Outcome::Refused, "allow", true);
        assert_eq!(dns.status, ProbeStatus::Inconclusive);
        assert_eq!(
            dns.message,
            "refused, but the policies allow this: no DNS server answers at the pods' nameserver (a cluster without cluster DNS?)"
        );
        let host = failed_allow("ip:203.0.113.10", Outcome::Refused, "allow", true);
        assert_eq!(
            host.message,
            "refused, but the policies allow this: nothing listens on 203.0.113.10:80?"
        );

        // Where the policies deny it, the failure stands: it is the network's.
        let blocked = failed_allow("host:external.test", Outcome::DnsTimeout, "allow", false);
        assert_eq!(blocked.status, ProbeStatus::Fail);
        assert_eq!(
            failed_allow("cluster-dns", Outcome::Refused, "deny", false).status,
            ProbeStatus::Fail
        );
        // A pod's refusal is judged by its control, not here; a timeout is no refusal.
        assert_eq!(
            failed_allow("shop/db", Outcome::Refused, "allow", true).status,
            ProbeStatus::Fail
        );
        assert_eq!(
            failed_allow("ip:203.0.113.10", Outcome::Timeout, "allow", true).status,
            ProbeStatus::Fail
        );
    }
}
