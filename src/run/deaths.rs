//! Probes from or to a scenario pod, or to a deployed pod, that died during the run: what they
//! saw says nothing about the network. A deny to a dead target is inconclusive, a failure to reach it or anything from
//! it could not be judged; the reason names the pod and how it died.

use crate::cluster::Death;
use crate::results::ProbeResult;
use crate::scenario::{PodRef, Probe, Scenario, Target};
use crate::verdict::ProbeStatus;

/// Turns every probe from or to a scenario pod in `deleted` (`namespace/pod`) into an error:
/// someone else deleted it during the run, so what the probe saw says nothing about the network.
pub(crate) fn mark_deleted_pods(
    scenario: &Scenario,
    probes: &mut [ProbeResult],
    deleted: &[String],
) {
    for (result, probe) in probes.iter_mut().zip(&scenario.probes) {
        let mut touched = std::iter::once(&probe.from).chain(targets(probe));
        if let Some(pod) = touched.find(|pod| deleted.contains(&pod.to_string())) {
            result.status = ProbeStatus::Error;
            result.message = format!("pod {pod} was deleted by someone else during the run");
            result.time_to_match_ms = None;
        }
    }
}

/// Rewrites the results of `scenario`'s probes that touch a pod in `deaths`.
pub(crate) fn mark_dead_pods(scenario: &Scenario, probes: &mut [ProbeResult], deaths: &[Death]) {
    if deaths.is_empty() {
        return;
    }
    let death_of = |pod: &PodRef| deaths.iter().find(|d| d.pod == pod.to_string());
    for (result, probe) in probes.iter_mut().zip(&scenario.probes) {
        if let Some(death) = death_of(&probe.from) {
            result.status = ProbeStatus::Error;
            result.message = format!("{}; its source {death}", result.message);
            result.time_to_match_ms = None;
        } else if let Some(death) = targets(probe).iter().find_map(&death_of) {
            result.status = match result.status {
                ProbeStatus::Pass if result.expect == "deny" => ProbeStatus::Inconclusive,
                ProbeStatus::Pass => ProbeStatus::Pass,
                ProbeStatus::Skipped => ProbeStatus::Skipped,
                ProbeStatus::Inconclusive => ProbeStatus::Inconclusive,
                ProbeStatus::Fail | ProbeStatus::Flapping | ProbeStatus::Error => {
                    ProbeStatus::Error
                }
            };
            if result.status != ProbeStatus::Pass {
                result.message = format!("{}; but its target {death}", result.message);
                result.time_to_match_ms = None;
            }
        }
    }
}

fn targets(probe: &Probe) -> &[PodRef] {
    match &probe.target {
        Target::Pod(pod) | Target::LivePod { pod, .. } => std::slice::from_ref(pod),
        Target::Service { backends, .. } => backends.as_slice(),
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use netverdict_probes::Outcome;

    const SCENARIO: &str = "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: t}
spec:
  namespaces: [{name: t}]
  pods:
    - {name: client, namespace: t, ports: [{port: 80}]}
    - {name: server, namespace: t, ports: [{port: 80}]}
  probes:
    - {name: denied, from: t/client, to: t/server, port: 80, expect: deny}
    - {name: allowed, from: t/client, to: t/server, port: 80, via: http, expect: allow}
    - {name: back, from: t/server, to: t/client, port: 80, expect: deny}
";

    #[test]
    fn a_dead_target_makes_its_deny_inconclusive_and_its_source_probes_errors() {
        let loaded = crate::scenario::load_str(Path::new("t.yaml"), SCENARIO, &Default::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        let scenario = &loaded.scenarios[0];
        let result = |expect: &str, status| {
            let mut r = ProbeResult::example(status, Some(Outcome::Timeout), "timeout: blocked");
            r.expect = expect.to_owned();
            r
        };
        let mut probes = vec![
            result("deny", ProbeStatus::Pass),
            result("allow", ProbeStatus::Fail),
            result("deny", ProbeStatus::Pass),
        ];
        let death = Death {
            pod: "t/server".to_owned(),
            phase: "Failed".to_owned(),
            container: Some("probe".to_owned()),
            reason: Some("Error".to_owned()),
            exit_code: Some(137),
            restarts: 0,
            log_tail: String::new(),
        };
        mark_dead_pods(scenario, &mut probes, &[death]);
        let statuses: Vec<ProbeStatus> = probes.iter().map(|p| p.status).collect();
        assert_eq!(
            statuses,
            [
                ProbeStatus::Inconclusive,
                ProbeStatus::Error,
                ProbeStatus::Error
            ]
        );
        assert_eq!(
            probes[0].message,
            "timeout: blocked; but its target pod t/server died during the run: phase Failed, container probe Error, exit code 137"
        );
        assert!(
            probes[2].message.contains("its source pod t/server died"),
            "{}",
            probes[2].message
        );
    }
}
