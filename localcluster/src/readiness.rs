//! Readiness gates (`spec.readinessGates`): a pod is Ready only when its containers are and
//! every gate's condition (set by someone else, through the status subresource) is True, as
//! the kubelet's `GeneratePodReadyCondition` decides. The conditions the kubelet does not own
//! are kept through its status writes.

use serde_json::{Value, json};

use crate::cluster::now;

/// The condition types the kubelet writes; every other one belongs to whoever set it.
const KUBELET_CONDITIONS: [&str; 5] = [
    "PodScheduled",
    "PodReadyToStartContainers",
    "Initialized",
    "ContainersReady",
    "Ready",
];

fn conditions(pod: &Value) -> &[Value] {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn find<'a>(conditions: &'a [Value], kind: &str) -> Option<&'a Value> {
    conditions.iter().find(|c| c["type"] == kind)
}

/// Why the gates keep the pod from being Ready (empty: they do not).
fn unready_gates(pod: &Value, all: &[Value]) -> Vec<String> {
    let gates = pod
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    gates
        .iter()
        .filter_map(|gate| {
            let kind = gate["conditionType"].as_str().unwrap_or_default();
            match find(all, kind) {
                None => Some(format!(
                    "corresponding condition of pod readiness gate \"{kind}\" does not exist."
                )),
                Some(c) if c["status"] != "True" => Some(format!(
                    "the status of pod readiness gate \"{kind}\" is not \"True\", but {}",
                    c["status"].as_str().unwrap_or_default()
                )),
                Some(_) => None,
            }
        })
        .collect()
}

/// The conditions to store: the kubelet's `rendered` ones with Ready held back by the gates,
/// then those of `stored` the kubelet does not own. A Ready the gates turned False keeps the
/// transition time it has when it was False already.
pub(crate) fn merge(stored: &Value, mut rendered: Vec<Value>) -> Vec<Value> {
    let foreign: Vec<Value> = conditions(stored)
        .iter()
        .filter(|c| !KUBELET_CONDITIONS.iter().any(|k| c["type"] == *k))
        .cloned()
        .collect();
    let all: Vec<Value> = rendered.iter().chain(&foreign).cloned().collect();
    let unready = unready_gates(stored, &all);
    if let Some(ready) = rendered.iter_mut().find(|c| c["type"] == "Ready")
        && ready["status"] == "True"
        && !unready.is_empty()
    {
        let since = find(conditions(stored), "Ready")
            .filter(|c| c["status"] == "False")
            .map_or_else(now, |c| c["lastTransitionTime"].clone());
        *ready = json!({"type": "Ready", "status": "False", "lastProbeTime": null,
                        "lastTransitionTime": since, "reason": "ReadinessGatesNotReady",
                        "message": unready.join(", ")});
    }
    rendered.extend(foreign);
    rendered
}

/// The conditions of a pod whose gates may have changed, decided again from its
/// ContainersReady condition; `None` when the pod has no gates.
pub(crate) fn refreshed(pod: &Value) -> Option<Vec<Value>> {
    pod.pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .filter(|g| !g.is_empty())?;
    let current = conditions(pod);
    let mut kubelet: Vec<Value> = current
        .iter()
        .filter(|c| KUBELET_CONDITIONS.iter().any(|k| c["type"] == *k))
        .cloned()
        .collect();
    let containers_ready = find(current, "ContainersReady").is_some_and(|c| c["status"] == "True");
    if containers_ready && let Some(ready) = kubelet.iter_mut().find(|c| c["type"] == "Ready") {
        let since = if ready["status"] == "True" {
            ready["lastTransitionTime"].clone()
        } else {
            now()
        };
        *ready = json!({"type": "Ready", "status": "True", "lastProbeTime": null,
                        "lastTransitionTime": since});
    }
    Some(merge(pod, kubelet))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(status: &str) -> Value {
        json!({"type": "Ready", "status": status, "lastTransitionTime": "2026-01-01T00:00:00Z"})
    }

    fn gated(conditions: Value) -> Value {
        json!({"spec": {"readinessGates": [{"conditionType": "example.com/lb"}]},
               "status": {"conditions": conditions}})
    }

    #[test]
    fn a_pod_is_ready_only_when_every_gate_is_true() {
        let missing = merge(&gated(json!([])), vec![ready("True")]);
        assert_eq!(missing[0]["status"], "False");
        assert_eq!(missing[0]["reason"], "ReadinessGatesNotReady");
        assert_eq!(
            missing[0]["message"],
            "corresponding condition of pod readiness gate \"example.com/lb\" does not exist."
        );
        let pending = gated(json!([{"type": "example.com/lb", "status": "False"}]));
        let held = merge(&pending, vec![ready("True")]);
        assert_eq!(
            held[0]["message"],
            "the status of pod readiness gate \"example.com/lb\" is not \"True\", but False"
        );
        // The gate's own condition survives the kubelet's write.
        assert_eq!(held[1]["type"], "example.com/lb");
        let open = gated(json!([{"type": "example.com/lb", "status": "True"}]));
        assert_eq!(merge(&open, vec![ready("True")])[0]["status"], "True");
        // Unready containers: the gates change nothing.
        assert_eq!(merge(&pending, vec![ready("False")])[0], ready("False"));
    }

    #[test]
    fn a_gate_set_true_makes_the_pod_ready_again() {
        let pod = gated(json!([
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "Ready", "status": "False", "reason": "ReadinessGatesNotReady"},
            {"type": "example.com/lb", "status": "True"},
        ]));
        let conditions = refreshed(&pod).unwrap();
        let ready = conditions.iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(ready["status"], "True");
        assert!(refreshed(&json!({"spec": {}, "status": {}})).is_none());
    }
}
