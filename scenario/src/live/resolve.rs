//! The scenario a run executes once its live parts are found.

use std::collections::{BTreeMap, BTreeSet};

use netverdict_engine::{Labels, NAMESPACE_NAME_LABEL};

use super::identity::copy;
use super::state::{LiveError, LiveState};
use super::targets::{PortAsked, container_port, pick, ready_pods, service_target};
use crate::model::{LivePod, NamespaceSpec, Pick, PodRef, Probe, Scenario, Target};

/// The scenario to run: mimics with what they copy and their run's names, live targets
/// expanded into one probe per picked pod with their port numbers, live Services with their
/// Ready pods, and the deployed pods and namespaces involved; or every problem, located where
/// the scenario writes what could not be found.
///
/// `suffix` ends every mimic's name (`nv-like-frontend-7f3a`), so that runs never collide.
///
/// # Errors
/// A workload, pod or Service that does not exist, has no Ready pod, or does not expose the
/// port a probe asks for; a mimic with nothing to copy.
pub fn resolve(
    scenario: &Scenario,
    state: &LiveState,
    suffix: &str,
) -> Result<Scenario, Vec<LiveError>> {
    let mut out = scenario.clone();
    let mut errors = Vec::new();
    copy_mimics(&mut out, state, suffix, &mut errors);
    let mut live_pods: BTreeMap<PodRef, LivePod> = BTreeMap::new();
    for probe in std::mem::take(&mut out.probes) {
        match expand(probe, state, &mut live_pods) {
            Ok(probes) => out.probes.extend(probes),
            Err(error) => {
                if !errors.contains(&*error) {
                    errors.push(*error);
                }
            }
        }
    }
    out.live_pods = live_pods.into_values().collect();
    out.live_namespaces = live_namespaces(&out, state);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Gives each mimic what it copies and its run's name, and its probes their source's new name.
fn copy_mimics(
    scenario: &mut Scenario,
    state: &LiveState,
    suffix: &str,
    errors: &mut Vec<LiveError>,
) {
    let mut renamed: BTreeMap<PodRef, PodRef> = BTreeMap::new();
    for pod in &mut scenario.pods {
        let Some(mimic) = pod.mimic.as_mut() else {
            continue;
        };
        match copy(mimic, state) {
            Ok(copied) => {
                pod.labels = copied.labels.clone();
                pod.node = copied.node.clone();
                mimic.copied = Some(copied);
            }
            Err(reason) => errors.push(LiveError {
                written: mimic.written.clone(),
                reason,
            }),
        }
        let before = pod.pod_ref();
        pod.name = format!("{}-{suffix}", pod.name);
        renamed.insert(before, pod.pod_ref());
    }
    for probe in &mut scenario.probes {
        if let Some(after) = renamed.get(&probe.from) {
            probe.from = after.clone();
        }
    }
}

/// The probes `probe` becomes: one per picked pod of a live target, a live Service's with its
/// pods; any other as it is.
fn expand(
    probe: Probe,
    state: &LiveState,
    found: &mut BTreeMap<PodRef, LivePod>,
) -> Result<Vec<Probe>, Box<LiveError>> {
    let asked = PortAsked {
        number: probe.port,
        name: probe.port_name.as_deref(),
        protocol: probe.protocol,
    };
    match &probe.target {
        Target::Live(live) => {
            let failed = |reason| {
                Box::new(LiveError {
                    written: live.written.clone(),
                    reason,
                })
            };
            let ready = ready_pods(&live.selection, state).map_err(failed)?;
            let mut out = Vec::new();
            for pod in pick(live.pick, &ready) {
                let (number, name) = container_port(pod, asked, &live.selection).map_err(failed)?;
                let mut one = probe.clone();
                let single = matches!(
                    live.selection,
                    crate::model::LiveSelection::Workload {
                        kind: crate::model::WorkloadKind::Pod,
                        ..
                    }
                );
                one.name = match live.pick {
                    // A Pod is one pod: its probe keeps its name.
                    _ if single => probe.name.clone(),
                    Pick::One => probe.name.clone(),
                    Pick::All => format!("{} ({})", probe.name, pod.pod_ref()),
                    Pick::PerNode => format!(
                        "{} (node {})",
                        probe.name,
                        pod.node.as_deref().unwrap_or("unknown")
                    ),
                };
                one.target = Target::LivePod {
                    pod: pod.pod_ref(),
                    of: live.selection.clone(),
                };
                one.port = number;
                one.port_name = probe.port_name.clone().or(name);
                found.insert(pod.pod_ref(), (*pod).clone());
                out.push(one);
            }
            Ok(out)
        }
        Target::LiveService {
            namespace,
            name,
            written,
        } => {
            let service = service_target(namespace, name, asked, state).map_err(|reason| {
                Box::new(LiveError {
                    written: written.clone(),
                    reason,
                })
            })?;
            let mut one = probe.clone();
            one.port = service.port;
            one.port_name = probe.port_name.clone().or(service.name);
            one.target = Target::Service {
                namespace: namespace.clone(),
                name: name.clone(),
                backends: service.backends.iter().map(|p| p.pod_ref()).collect(),
                target_port: service.target_port,
                live: true,
            };
            for pod in service.backends {
                found.insert(pod.pod_ref(), pod.clone());
            }
            Ok(vec![one])
        }
        _ => Ok(vec![probe]),
    }
}

/// The namespaces of the mimics and deployed pods, with their labels in the cluster (only
/// `kubernetes.io/metadata.name` when they could not be read).
fn live_namespaces(scenario: &Scenario, state: &LiveState) -> Vec<NamespaceSpec> {
    let names: BTreeSet<&str> = scenario
        .pods
        .iter()
        .filter(|p| p.mimic.is_some())
        .map(|p| p.namespace.as_str())
        .chain(scenario.live_pods.iter().map(|p| p.namespace.as_str()))
        .collect();
    names
        .into_iter()
        .map(|name| NamespaceSpec {
            name: name.to_owned(),
            labels: state.namespaces.get(name).cloned().unwrap_or_else(|| {
                Labels::from([(NAMESPACE_NAME_LABEL.to_owned(), name.to_owned())])
            }),
            location: scenario.location.clone(),
        })
        .collect()
}
