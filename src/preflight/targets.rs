//! Which namespaces the `pod-security` check judges, and their labels as the cluster has them
//! (or, for a namespace a run would create, as the scenario gives them).

use std::collections::{BTreeMap, BTreeSet};

use super::pod_security::{Labelled, Target};
use crate::cluster::{Failure, needs_unprivileged_port_sysctl};
use crate::k8s::{Api, Client, Namespace};
use crate::run::namespaces_of;
use crate::scenario::Scenario;

/// The labels of namespace `name`: `None` when it does not exist.
pub(crate) async fn read_labels(
    client: &Client,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, Failure> {
    match Api::<Namespace>::all(client.clone()).get_opt(name).await {
        Ok(found) => Ok(found.map(|ns| ns.metadata.labels.unwrap_or_default())),
        Err(error) => Err(Failure::of(&error)),
    }
}

/// Every namespace the scenarios create objects in, with its labels and the probe pods in it
/// that serve a port below 1024.
pub(crate) async fn pod_security_targets(client: &Client, scenarios: &[Scenario]) -> Vec<Target> {
    let namespaces: BTreeSet<String> = scenarios.iter().flat_map(namespaces_of).collect();
    let mut targets = Vec::new();
    for namespace in namespaces {
        let labels = match read_labels(client, &namespace).await {
            Ok(Some(labels)) => Labelled::Existing(labels),
            Ok(None) => Labelled::ByScenario(scenario_labels(scenarios, &namespace)),
            Err(why) => Labelled::Unreadable(why.to_string()),
        };
        let low_port_pods = scenarios
            .iter()
            .flat_map(|scenario| &scenario.pods)
            .filter(|pod| {
                pod.namespace == namespace
                    && needs_unprivileged_port_sysctl(pod.ports.iter().map(|port| port.port))
            })
            .map(|pod| pod.pod_ref().to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        targets.push(Target {
            namespace,
            labels,
            low_port_pods,
        });
    }
    targets
}

/// The labels the scenarios give `namespace` (a run creates it with them).
fn scenario_labels(scenarios: &[Scenario], namespace: &str) -> BTreeMap<String, String> {
    scenarios
        .iter()
        .flat_map(|scenario| &scenario.namespaces)
        .filter(|spec| spec.name == namespace)
        .flat_map(|spec| spec.labels.clone())
        .collect()
}
