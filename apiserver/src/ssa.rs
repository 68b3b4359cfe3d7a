//! Field ownership for server-side apply: the `FieldsV1` set of an applied configuration, and
//! the removal of fields a manager applied before and no longer applies.
//!
//! Only apply managers are tracked: a field set by an update (PUT, merge or strategic patch) is
//! owned by nobody, so it stays until someone who applied it stops applying it.

use serde_json::{Map, Value, json};

use crate::patch::merge_key;
use crate::resource::Resource;

/// The `FieldsV1` set of `config`: `f:` fields, `k:` keyed list elements, `v:` set elements.
pub(crate) fn field_set(resource: Resource, config: &Value) -> Value {
    let mut set = object_set(resource, config, "");
    if let Some(Value::Object(meta)) = set.get_mut("f:metadata") {
        meta.remove("f:name");
        meta.remove("f:namespace");
        if meta.is_empty() {
            set.remove("f:metadata");
        }
    }
    set.remove("f:apiVersion");
    set.remove("f:kind");
    Value::Object(set)
}

fn object_set(resource: Resource, object: &Value, path: &str) -> Map<String, Value> {
    let mut set = Map::new();
    let Some(map) = object.as_object() else {
        return set;
    };
    for (key, value) in map {
        if key.starts_with('$') {
            continue;
        }
        let child_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let child = match value {
            Value::Object(_) => Value::Object(object_set(resource, value, &child_path)),
            Value::Array(items) => match merge_key(resource, &child_path, items) {
                Some("") => {
                    let values: Map<String, Value> = items
                        .iter()
                        .map(|v| (format!("v:{v}"), json!({})))
                        .collect();
                    Value::Object(values)
                }
                Some(key_field) => {
                    let mut elements = Map::new();
                    for item in items {
                        let id =
                            json!({key_field: item.get(key_field).cloned().unwrap_or(Value::Null)});
                        let mut element = object_set(resource, item, &child_path);
                        element.insert(".".into(), json!({}));
                        elements.insert(format!("k:{id}"), Value::Object(element));
                    }
                    Value::Object(elements)
                }
                None => json!({}),
            },
            _ => json!({}),
        };
        set.insert(format!("f:{key}"), child);
    }
    set
}

/// Removes from `live` what `previous` owned and neither `current` nor `others` own.
pub(crate) fn remove_stale(live: &mut Value, previous: &Value, current: &Value, others: &Value) {
    let (Some(previous), Some(live)) = (previous.as_object(), live.as_object_mut()) else {
        return;
    };
    for (key, owned) in previous {
        let Some(field) = key.strip_prefix("f:") else {
            continue;
        };
        let still = current.get(key);
        let shared = others.get(key);
        if still.is_none() && shared.is_none() {
            live.remove(field);
            continue;
        }
        let child_current = still.cloned().unwrap_or_else(|| json!({}));
        let child_others = shared.cloned().unwrap_or_else(|| json!({}));
        match live.get_mut(field) {
            Some(Value::Object(_)) => {
                let child = live.get_mut(field).expect("checked above");
                remove_stale(child, owned, &child_current, &child_others);
            }
            Some(Value::Array(items)) => {
                remove_stale_elements(items, owned, &child_current, &child_others)
            }
            _ => {}
        }
    }
}

fn remove_stale_elements(
    items: &mut Vec<Value>,
    previous: &Value,
    current: &Value,
    others: &Value,
) {
    let Some(previous) = previous.as_object() else {
        return;
    };
    for (key, owned) in previous {
        let still = current.get(key);
        let shared = others.get(key);
        if let Some(value) = key.strip_prefix("v:") {
            let Ok(value) = serde_json::from_str::<Value>(value) else {
                continue;
            };
            if still.is_none() && shared.is_none() {
                items.retain(|item| *item != value);
            }
        } else if let Some(id) = key.strip_prefix("k:") {
            let Ok(Value::Object(id)) = serde_json::from_str::<Value>(id) else {
                continue;
            };
            let matches = |item: &Value| id.iter().all(|(k, v)| item.get(k) == Some(v));
            if still.is_none() && shared.is_none() {
                items.retain(|item| !matches(item));
            } else if let Some(item) = items.iter_mut().find(|item| matches(item)) {
                let child_current = still.cloned().unwrap_or_else(|| json!({}));
                let child_others = shared.cloned().unwrap_or_else(|| json!({}));
                remove_stale(item, owned, &child_current, &child_others);
            }
        }
    }
}

/// The union of field sets.
pub(crate) fn union(sets: &[&Value]) -> Value {
    let mut out = Map::new();
    for set in sets {
        for (key, value) in set.as_object().into_iter().flatten() {
            let merged = match out.remove(key) {
                Some(existing) => union(&[&existing, value]),
                None => value.clone(),
            };
            out.insert(key.clone(), merged);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_sets_name_fields_keys_and_values() {
        let config = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"app": "a"}, "finalizers": ["x"]},
            "spec": {"containers": [{"name": "c", "image": "i"}]}
        });
        let set = field_set(Resource::Pods, &config);
        assert_eq!(
            set,
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}, "f:finalizers": {"v:\"x\"": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:name": {}, "f:image": {}}}}
            })
        );
    }

    #[test]
    fn fields_no_longer_applied_are_removed_unless_someone_else_applies_them() {
        let first = json!({"metadata": {"labels": {"app": "a", "old": "o", "shared": "s"}},
            "spec": {"podSelector": {"matchLabels": {"app": "a"}}, "ingress": [{}]}});
        let second = json!({"metadata": {"labels": {"app": "a"}}, "spec": {"podSelector": {"matchLabels": {"tier": "b"}}}});
        let other = json!({"metadata": {"labels": {"shared": "s"}}});
        let mut live = json!({"metadata": {"labels": {"app": "a", "old": "o", "shared": "s", "manual": "m"}},
            "spec": {"podSelector": {"matchLabels": {"app": "a", "tier": "b"}}, "ingress": [{}]}});
        let previous = field_set(Resource::NetworkPolicies, &first);
        let current = field_set(Resource::NetworkPolicies, &second);
        let others = union(&[&field_set(Resource::NetworkPolicies, &other)]);
        remove_stale(&mut live, &previous, &current, &others);
        assert_eq!(
            live,
            json!({"metadata": {"labels": {"app": "a", "shared": "s", "manual": "m"}},
                "spec": {"podSelector": {"matchLabels": {"tier": "b"}}}})
        );
    }

    #[test]
    fn keyed_list_elements_no_longer_applied_are_removed() {
        let first = json!({"spec": {"containers": [{"name": "a", "image": "i"}, {"name": "b", "image": "j"}]}});
        let second = json!({"spec": {"containers": [{"name": "a", "image": "i"}]}});
        let mut live = first.clone();
        remove_stale(
            &mut live,
            &field_set(Resource::Pods, &first),
            &field_set(Resource::Pods, &second),
            &json!({}),
        );
        assert_eq!(live, second);
    }
}
