//! Taints and tolerations, as the scheduler treats them: a node with a `NoSchedule` or
//! `NoExecute` taint that the pod does not tolerate cannot take it (`PreferNoSchedule` is only a
//! preference, and the local scheduler has no preferences).

use serde_json::Value;

/// The first taint of `node` that keeps `pod` off it, as `{key: value}` the way the scheduler
/// words it.
pub(crate) fn untolerated_taint(node: &Value, pod: &Value) -> Option<String> {
    untolerated_with_effect(node, pod, &["NoSchedule", "NoExecute"])
}

/// The first taint of `node` with one of `effects` that `pod` does not tolerate.
pub(crate) fn untolerated_with_effect(
    node: &Value,
    pod: &Value,
    effects: &[&str],
) -> Option<String> {
    let tolerations = pod["spec"]["tolerations"].as_array();
    node["spec"]["taints"]
        .as_array()?
        .iter()
        .filter(|taint| {
            taint["effect"]
                .as_str()
                .is_some_and(|e| effects.contains(&e))
        })
        .find(|taint| {
            !tolerations
                .into_iter()
                .flatten()
                .any(|toleration| tolerates(toleration, taint))
        })
        .map(|taint| {
            let key = taint["key"].as_str().unwrap_or_default();
            match taint["value"].as_str().filter(|v| !v.is_empty()) {
                Some(value) => format!("{{{key}: {value}}}"),
                None => format!("{{{key}: }}"),
            }
        })
}

/// The rules of `v1.Toleration.ToleratesTaint`.
fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let effect = text(&toleration["effect"]);
    if !effect.is_empty() && effect != text(&taint["effect"]) {
        return false;
    }
    let key = text(&toleration["key"]);
    if !key.is_empty() && key != text(&taint["key"]) {
        return false;
    }
    match toleration["operator"].as_str().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" => !key.is_empty() && text(&toleration["value"]) == text(&taint["value"]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(taints: Value) -> Value {
        json!({"spec": {"taints": taints}})
    }

    fn pod(tolerations: Value) -> Value {
        json!({"spec": {"tolerations": tolerations}})
    }

    #[test]
    fn only_hard_taints_the_pod_does_not_tolerate_keep_it_off() {
        let tainted = node(json!([
            {"key": "soft", "effect": "PreferNoSchedule"},
            {"key": "dedicated", "value": "db", "effect": "NoSchedule"},
        ]));
        assert_eq!(
            untolerated_taint(&tainted, &pod(json!([]))).as_deref(),
            Some("{dedicated: db}")
        );
        let equal = json!([{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]);
        assert_eq!(untolerated_taint(&tainted, &pod(equal)), None);
        let other_value = json!([{"key": "dedicated", "value": "web"}]);
        assert!(untolerated_taint(&tainted, &pod(other_value)).is_some());
        let exists = json!([{"key": "dedicated", "operator": "Exists"}]);
        assert_eq!(untolerated_taint(&tainted, &pod(exists)), None);
        let everything = json!([{"operator": "Exists"}]);
        assert_eq!(untolerated_taint(&tainted, &pod(everything)), None);
        let other_effect =
            json!([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]);
        assert!(untolerated_taint(&tainted, &pod(other_effect)).is_some());
        assert_eq!(untolerated_taint(&json!({}), &pod(json!([]))), None);
    }
}
