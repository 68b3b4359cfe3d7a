//! Which nodes a pod may be placed on by its own wish: `nodeName`, `nodeSelector` and the
//! required node affinity (`requiredDuringSchedulingIgnoredDuringExecution`: terms ORed, the
//! requirements of a term ANDed; `matchExpressions` on labels with `In`, `NotIn`, `Exists`,
//! `DoesNotExist`, `Gt`, `Lt`; `matchFields` on `metadata.name`), as the scheduler's
//! NodeAffinity plugin and the DaemonSet controller read them. Preferred affinity is a
//! preference, which the local scheduler does not weigh.

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm, PodSpec};

fn requirement_holds(requirement: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let number = |text: &str| text.parse::<i64>().ok();
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|w| w == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|w| w == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(bound)) = (
                value.and_then(number),
                values.first().and_then(|b| number(b)),
            ) else {
                return false;
            };
            if requirement.operator == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        _ => false,
    }
}

/// A term matches when all of its requirements hold; an empty term matches no node.
fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    expressions
        .iter()
        .all(|r| requirement_holds(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            let value = (r.key == "metadata.name")
                .then_some(node.metadata.name.as_deref())
                .flatten();
            r.key == "metadata.name" && requirement_holds(r, value)
        })
}

/// Whether the pod's node name, node selector and required node affinity admit `node`.
pub(crate) fn fits(spec: &PodSpec, node: &Node) -> bool {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return false;
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selected = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    selected && required.is_none_or(|r| r.node_selector_terms.iter().any(|t| term_matches(t, node)))
}

/// The node a pod's required node affinity pins it to (`matchFields` `metadata.name In
/// [one]`), as the DaemonSet controller pins its pods.
pub(crate) fn pinned_node(spec: &PodSpec) -> Option<&str> {
    let required = spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?;
    required.node_selector_terms.iter().find_map(|term| {
        term.match_fields.iter().flatten().find_map(|r| {
            let values = r.values.as_deref().unwrap_or_default();
            (r.key == "metadata.name" && r.operator == "In" && values.len() == 1)
                .then(|| values[0].as_str())
        })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(name: &str, labels: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    fn spec(value: serde_json::Value) -> PodSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn selectors_and_required_affinity_choose_nodes() {
        let ssd = node("n1", json!({"disk": "ssd", "cores": "8"}));
        let hdd = node("n2", json!({"disk": "hdd", "cores": "2"}));
        let by_selector = spec(json!({"containers": [], "nodeSelector": {"disk": "ssd"}}));
        assert!(fits(&by_selector, &ssd) && !fits(&by_selector, &hdd));
        let affinity = |terms: serde_json::Value| {
            spec(json!({"containers": [], "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}))
        };
        let big = affinity(
            json!([{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}]),
        );
        assert!(fits(&big, &ssd) && !fits(&big, &hdd));
        let either = affinity(json!([
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["nvme"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]},
        ]));
        assert!(!fits(&either, &ssd) && fits(&either, &hdd));
        assert_eq!(pinned_node(&either), Some("n2"));
        let not_ssd = affinity(
            json!([{"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["ssd"]}]}]),
        );
        assert!(!fits(&not_ssd, &ssd) && fits(&not_ssd, &hdd));
        assert!(!fits(&affinity(json!([{}])), &ssd));
        let named = spec(json!({"containers": [], "nodeName": "n1"}));
        assert!(fits(&named, &ssd) && !fits(&named, &hdd));
    }
}
