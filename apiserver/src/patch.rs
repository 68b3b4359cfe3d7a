//! The patch formats of `PATCH` requests: JSON patch, JSON merge patch, strategic merge patch
//! (with the list merge keys of the served core kinds) and the apply configuration of
//! server-side apply.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::resource::Resource;

/// A patch body, by its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchKind {
    pub(crate) fn from_content_type(content_type: &str) -> Option<PatchKind> {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        match essence {
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// Applies `patch` (already decoded) to `live`.
///
/// # Errors
/// `422` for a JSON patch whose operations do not apply, `400` for a patch of the wrong shape.
pub(crate) fn apply_patch(
    resource: Resource,
    kind: PatchKind,
    live: &Value,
    patch: Value,
) -> Result<Value, ApiError> {
    match kind {
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| ApiError::bad_request(format!("the JSON patch is malformed: {e}")))?;
            let mut doc = live.clone();
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the JSON patch does not apply: {e}"),
                )
            })?;
            Ok(doc)
        }
        PatchKind::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            let mut doc = live.clone();
            json_patch::merge(&mut doc, &patch);
            Ok(doc)
        }
        PatchKind::Strategic | PatchKind::Apply => {
            let Value::Object(patch) = patch else {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            };
            let mut doc = live.clone();
            if !doc.is_object() {
                doc = Value::Object(Map::new());
            }
            let map = doc.as_object_mut().expect("made an object above");
            merge_map(resource, map, patch, "")?;
            Ok(doc)
        }
    }
}

/// The key elements of a list are merged by, or `None` for a list replaced as a whole. `Some("")`
/// marks a list of primitives merged as a set.
pub(crate) fn merge_key(resource: Resource, path: &str, items: &[Value]) -> Option<&'static str> {
    let field = path.rsplit('.').next().unwrap_or_default();
    match field {
        "finalizers" if path == "metadata.finalizers" => return Some(""),
        "ownerReferences" if path == "metadata.ownerReferences" => return Some("uid"),
        _ => {}
    }
    // The apps kinds hold a pod template, whose lists merge as a pod's do.
    if !matches!(
        resource,
        Resource::Pods | Resource::Services | Resource::Nodes | Resource::Namespaces
    ) && !resource.is_apps()
    {
        return None;
    }
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "containerStatuses"
        | "initContainerStatuses"
        | "resourceClaims" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" => Some("type"),
        "podIPs" | "hostIPs" | "hostAliases" => Some("ip"),
        "addresses" if resource == Resource::Nodes => Some("type"),
        "ports" => {
            let container_ports = path.contains("ontainers")
                || items.iter().any(|i| i.get("containerPort").is_some());
            Some(if container_ports {
                "containerPort"
            } else {
                "port"
            })
        }
        _ => None,
    }
}

fn merge_map(
    resource: Resource,
    live: &mut Map<String, Value>,
    mut patch: Map<String, Value>,
    path: &str,
) -> Result<(), ApiError> {
    match patch.remove("$patch").as_ref().and_then(Value::as_str) {
        Some("replace") => {
            strip_directives(&mut patch);
            *live = patch;
            return Ok(());
        }
        Some("delete") => {
            live.clear();
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Unknown patch type: {other}"
            )));
        }
    }
    let retain = patch.remove("$retainKeys");
    let mut order_directives = Vec::new();
    for key in patch.keys().cloned().collect::<Vec<_>>() {
        if let Some(field) = key.strip_prefix("$setElementOrder/") {
            order_directives.push((field.to_owned(), patch.remove(&key).unwrap_or_default()));
        } else if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let remove = patch
                .remove(&key)
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default();
            if let Some(Value::Array(items)) = live.get_mut(field) {
                items.retain(|item| !remove.contains(item));
            }
        }
    }
    for (key, value) in patch {
        let child_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match value {
            Value::Null => {
                live.remove(&key);
            }
            // `{"field": {"$patch": "delete"}}` removes the field.
            Value::Object(child)
                if child.get("$patch").and_then(Value::as_str) == Some("delete") =>
            {
                live.remove(&key);
            }
            Value::Object(child) => match live.get_mut(&key) {
                Some(Value::Object(existing)) => merge_map(resource, existing, child, &child_path)?,
                _ => {
                    let mut fresh = Map::new();
                    merge_map(resource, &mut fresh, child, &child_path)?;
                    live.insert(key, Value::Object(fresh));
                }
            },
            Value::Array(items) => {
                let merged = match (live.remove(&key), merge_key(resource, &child_path, &items)) {
                    (Some(Value::Array(existing)), Some(merge_key)) => {
                        merge_list(resource, existing, items, merge_key, &child_path)?
                    }
                    (_, _) => items
                        .into_iter()
                        .filter(|i| i.get("$patch").is_none())
                        .map(strip_value)
                        .collect(),
                };
                live.insert(key, Value::Array(merged));
            }
            other => {
                live.insert(key, other);
            }
        }
    }
    for (field, order) in order_directives {
        if let (Some(Value::Array(items)), Some(order)) = (live.get_mut(&field), order.as_array()) {
            reorder(
                items,
                order,
                merge_key(resource, &format!("{path}.{field}"), order).unwrap_or(""),
            );
        }
    }
    if let Some(Value::Array(keep)) = retain {
        live.retain(|k, _| keep.iter().any(|x| x.as_str() == Some(k)));
    }
    Ok(())
}

fn identity<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    if key.is_empty() {
        Some(item)
    } else {
        item.get(key)
    }
}

fn merge_list(
    resource: Resource,
    mut live: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
    path: &str,
) -> Result<Vec<Value>, ApiError> {
    let replace = |item: &Value| item.get("$patch").and_then(Value::as_str) == Some("replace");
    if patch.iter().any(replace) {
        // `$patch: replace` as a list element: the list becomes the patch's other elements.
        return Ok(patch
            .into_iter()
            .filter(|i| !replace(i))
            .map(strip_value)
            .collect());
    }
    for item in patch {
        if let Value::Object(map) = item {
            let id = map.get(key).cloned();
            let position = id
                .as_ref()
                .and_then(|id| live.iter().position(|l| l.get(key) == Some(id)));
            if map.get("$patch").and_then(Value::as_str) == Some("delete") {
                if let Some(i) = position {
                    live.remove(i);
                }
                continue;
            }
            match position {
                Some(i) => {
                    if let Value::Object(existing) = &mut live[i] {
                        merge_map(resource, existing, map, path)?;
                    }
                }
                None => {
                    let mut fresh = Map::new();
                    merge_map(resource, &mut fresh, map, path)?;
                    live.push(Value::Object(fresh));
                }
            }
        } else if !live.contains(&item) {
            live.push(item);
        }
    }
    Ok(live)
}

/// Puts the listed elements in the given order; the rest keep their place after them.
fn reorder(items: &mut Vec<Value>, order: &[Value], key: &str) {
    let mut ordered = Vec::with_capacity(items.len());
    for wanted in order {
        let wanted = identity(wanted, key);
        if let Some(i) = items.iter().position(|item| identity(item, key) == wanted) {
            ordered.push(items.remove(i));
        }
    }
    ordered.append(items);
    *items = ordered;
}

fn strip_value(value: Value) -> Value {
    match value {
        Value::Object(mut map) => {
            strip_directives(&mut map);
            Value::Object(map)
        }
        other => other,
    }
}

fn strip_directives(map: &mut Map<String, Value>) {
    map.retain(|k, _| !k.starts_with('$'));
    for value in map.values_mut() {
        match value {
            Value::Object(child) => strip_directives(child),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(child) = item {
                        strip_directives(child);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mk_pod() -> Value {
        json!({
            "metadata": {"name": "p", "labels": {"app": "a", "tier": "t"}, "finalizers": ["x"]},
            "spec": {"containers": [
                {"name": "c1", "image": "i1", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 81}]},
                {"name": "c2", "image": "i2"}
            ]}
        })
    }

    fn strategic(live: &Value, patch: Value) -> Value {
        apply_patch(Resource::Pods, PatchKind::Strategic, live, patch).unwrap()
    }

    #[test]
    fn strategic_merge_merges_lists_by_key() {
        let live = mk_pod();
        let out = strategic(
            &live,
            json!({
                "metadata": {"labels": {"tier": null, "new": "n"}, "finalizers": ["y"]},
                "spec": {"containers": [{"name": "c1", "image": "i1b", "ports": [{"containerPort": 81, "name": "alt"}, {"containerPort": 90}]}]}
            }),
        );
        assert_eq!(out["metadata"]["labels"], json!({"app": "a", "new": "n"}));
        assert_eq!(out["metadata"]["finalizers"], json!(["x", "y"]));
        let containers = out["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[0]["image"], "i1b");
        assert_eq!(
            containers[0]["ports"],
            json!([{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 81, "name": "alt"}, {"containerPort": 90}])
        );
        assert_eq!(containers[1]["image"], "i2");
    }

    #[test]
    fn strategic_merge_directives() {
        let live = mk_pod();
        let out = strategic(
            &live,
            json!({
                "$setElementOrder/containers": [{"name": "c2"}, {"name": "c1"}],
                "spec": {
                    "$setElementOrder/containers": [{"name": "c2"}, {"name": "c1"}],
                    "containers": [{"name": "c1", "$patch": "delete"}]
                },
                "metadata": {"$deleteFromPrimitiveList/finalizers": ["x"], "labels": {"$patch": "replace", "only": "o"}}
            }),
        );
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "c2", "image": "i2"}])
        );
        assert_eq!(out["metadata"]["finalizers"], json!([]));
        assert_eq!(out["metadata"]["labels"], json!({"only": "o"}));
        let out = strategic(&live, json!({"metadata": {"labels": {"$patch": "delete"}}}));
        assert!(out["metadata"].get("labels").is_none());
        assert!(out.get("$setElementOrder/containers").is_none());
    }

    #[test]
    fn a_replace_directive_in_a_list_replaces_it() {
        let live = mk_pod();
        let patch = json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}});
        let out = strategic(&live, patch);
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "only", "image": "x"}])
        );
    }

    #[test]
    fn lists_of_other_kinds_are_replaced() {
        let live = json!({"spec": {"ingress": [{"ports": [{"port": 80}]}]}});
        let patch = json!({"spec": {"ingress": [{"ports": [{"port": 81}]}]}});
        let out = apply_patch(
            Resource::NetworkPolicies,
            PatchKind::Strategic,
            &live,
            patch,
        )
        .unwrap();
        assert_eq!(out["spec"]["ingress"], json!([{"ports": [{"port": 81}]}]));
    }

    #[test]
    fn json_and_merge_patches() {
        let live = mk_pod();
        let out = apply_patch(
            Resource::Pods,
            PatchKind::Json,
            &live,
            json!([{"op": "replace", "path": "/metadata/labels/app", "value": "b"}]),
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"]["app"], "b");
        let err = apply_patch(
            Resource::Pods,
            PatchKind::Json,
            &live,
            json!([{"op": "remove", "path": "/nope"}]),
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(
            apply_patch(Resource::Pods, PatchKind::Json, &live, json!({"op": 1}))
                .unwrap_err()
                .code,
            400
        );
        let out = apply_patch(
            Resource::Pods,
            PatchKind::Merge,
            &live,
            json!({"spec": {"containers": [{"name": "only"}]}}),
        )
        .unwrap();
        assert_eq!(out["spec"]["containers"], json!([{"name": "only"}]));
        assert_eq!(
            apply_patch(Resource::Pods, PatchKind::Merge, &live, json!([1]))
                .unwrap_err()
                .code,
            400
        );
    }
}
