//! `expect: auto` at run time, and the engine's second opinion on explicit expectations, from
//! the policies and labels as they are in the cluster: the scenario's, plus any NetworkPolicy
//! that already existed in the namespaces involved.

use std::collections::BTreeSet;

use netverdict_engine::Policy;

use super::requests::LiveAddresses;
use crate::k8s::{Api, Client, ListParams, Namespace, NetworkPolicy, Pod};
use crate::results::Prediction;
use crate::scenario::expect::{
    Addresses, DNS_NAMESPACE, DNS_POD, DNS_POD_LABEL, ScenarioCluster, judge,
};
use crate::scenario::{ExpectSource, Scenario};

/// Fills `auto` expectations with the live cluster's verdict and returns, per probe, the
/// engine's prediction to report (`agrees: false` where an explicit expectation contradicts it).
pub(crate) async fn resolve_live(
    client: &Client,
    scenario: &mut Scenario,
    live: &LiveAddresses,
) -> Vec<Option<Prediction>> {
    let mut addresses = Addresses::offline(&crate::hosts::local_cluster());
    addresses.pods = live
        .pods
        .iter()
        .map(|(pod, ip)| (pod.clone(), vec![*ip]))
        .collect();
    let mut engine = ScenarioCluster::new(scenario, &addresses);
    add_live_state(client, scenario, &mut engine).await;

    let mut predictions = Vec::with_capacity(scenario.probes.len());
    for probe in &mut scenario.probes {
        let prediction = match judge(&engine, probe, &addresses) {
            Ok((verdict, explanation)) => {
                if probe.expect.source == ExpectSource::Auto {
                    probe.expect.verdict = Some(verdict);
                    probe.expect.reason = Some(explanation.clone());
                }
                Some(Prediction {
                    verdict: verdict.to_string(),
                    agrees: probe.expect.verdict == Some(verdict),
                    explanation,
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

/// Replaces what the scenario assumed with what the cluster holds, where it can be read:
/// namespace labels, pre-existing policies, the cluster DNS pod's labels and address.
async fn add_live_state(client: &Client, scenario: &Scenario, engine: &mut ScenarioCluster) {
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
                cluster.policies.push(policy);
            }
        }
    }
}
