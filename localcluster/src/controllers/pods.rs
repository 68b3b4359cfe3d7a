//! What the controllers read of pods (`podutil`): activity, readiness and availability, and
//! which pods a scale-down takes first; and the pod a controller creates from a template.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::typed;

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

pub(crate) fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

pub(crate) fn is_failed(pod: &Pod) -> bool {
    phase(pod) == "Failed"
}

pub(crate) fn is_running(pod: &Pod) -> bool {
    phase(pod) == "Running"
}

/// `controller.IsPodActive`: not finished and not being deleted.
pub(crate) fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && !typed::deleting(&pod.metadata)
}

fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// `podutil.IsPodReady`: the Ready condition is True.
pub(crate) fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// `podutil.IsPodAvailable`: ready for at least `min_ready_seconds` at `now`.
pub(crate) fn is_available(pod: &Pod, min_ready_seconds: i32, now: i64) -> bool {
    let Some(ready) = ready_condition(pod).filter(|c| c.status == "True") else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    ready
        .last_transition_time
        .as_ref()
        .is_some_and(|t| typed::seconds(t) + i64::from(min_ready_seconds) <= now)
}

fn node_of(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

fn ready_since(pod: &Pod) -> i64 {
    ready_condition(pod)
        .and_then(|c| c.last_transition_time.as_ref())
        .map_or(0, typed::seconds)
}

/// The order in which a scale-down deletes pods (`controller.ActivePodsWithRanks`): unbound
/// before bound, Pending before Unknown before Running, not ready before ready, pods sharing
/// their node with more of their siblings first, then the more recently ready, the more
/// restarted and the newer first.
pub(crate) fn deletion_order<'a>(pods: &[&'a Pod]) -> Vec<&'a Pod> {
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for pod in pods {
        *per_node.entry(node_of(pod)).or_default() += 1;
    }
    let phase_rank = |pod: &Pod| match phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    };
    let mut ordered = pods.to_vec();
    ordered.sort_by(|a, b| {
        let key = |p: &Pod| (!node_of(p).is_empty(), phase_rank(p), is_ready(p));
        key(a)
            .cmp(&key(b))
            .then_with(|| {
                let rank = |p: &Pod| per_node.get(node_of(p)).copied().unwrap_or(0);
                rank(b).cmp(&rank(a))
            })
            .then_with(|| match (is_ready(a), is_ready(b)) {
                (true, true) => ready_since(b).cmp(&ready_since(a)),
                _ => Ordering::Equal,
            })
            .then_with(|| restarts(b).cmp(&restarts(a)))
            .then_with(|| typed::created(&b.metadata).cmp(&typed::created(&a.metadata)))
    });
    ordered
}

/// `controller.GetPodFromTemplate`: the template's labels, annotations, finalizers and spec,
/// named `<prefix>` plus a generated suffix, owned by `owner`.
pub(crate) fn from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    generate_name: &str,
    owner: OwnerReference,
) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            namespace: Some(namespace.to_owned()),
            generate_name: Some(generate_name.to_owned()),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, node: &str, phase: &str, ready: bool, created: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"nodeName": node, "containers": []},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        }))
        .unwrap()
    }

    #[test]
    fn scale_down_takes_the_least_useful_pods_first() {
        let running_old = pod("running-old", "n1", "Running", true, "2026-01-01T00:00:00Z");
        let running_new = pod("running-new", "n2", "Running", true, "2026-01-01T00:05:00Z");
        let unready = pod("unready", "n1", "Running", false, "2026-01-01T00:00:00Z");
        let pending = pod("pending", "n1", "Pending", false, "2026-01-01T00:00:00Z");
        let unbound = pod("unbound", "", "Pending", false, "2026-01-01T00:00:00Z");
        let all = [&running_old, &running_new, &unready, &pending, &unbound];
        let names: Vec<&str> = deletion_order(&all)
            .iter()
            .map(|p| typed::name(&p.metadata))
            .collect();
        // n1 holds three of them: its running pod goes before the newer one on n2.
        assert_eq!(
            names,
            [
                "unbound",
                "pending",
                "unready",
                "running-old",
                "running-new"
            ]
        );
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let ready = pod("p", "n1", "Running", true, "2026-01-01T00:00:00Z");
        let since = typed::seconds(
            ready_condition(&ready)
                .unwrap()
                .last_transition_time
                .as_ref()
                .unwrap(),
        );
        assert!(is_available(&ready, 0, since));
        assert!(!is_available(&ready, 10, since + 9));
        assert!(is_available(&ready, 10, since + 10));
        assert!(!is_available(
            &pod("q", "n1", "Running", false, "2026-01-01T00:00:00Z"),
            0,
            since
        ));
    }
}
