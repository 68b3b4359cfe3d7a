//! What the API server stored against what the runner sent: a server that does not know a field
//! drops it silently (an older Kubernetes and `endPort`, say), and a policy in force is then not
//! the one the scenario describes. Every field sent must come back as sent.

use std::fmt;

use serde_json::Value;

/// A field the server dropped or changed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Altered {
    /// Where, as `spec.ingress[0].ports[0].endPort`.
    pub(crate) path: String,
    pub(crate) sent: Value,
    /// `None` when the field is gone.
    pub(crate) stored: Option<Value>,
}

impl fmt::Display for Altered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.stored {
            None => write!(f, "{} (sent {}) was dropped", self.path, self.sent),
            Some(stored) => write!(
                f,
                "{} was sent as {} and stored as {stored}",
                self.path, self.sent
            ),
        }
    }
}

/// Every field of `sent` that `stored` lacks or holds with another value. Fields the server adds
/// (defaults, status, metadata) are not differences, and an empty object or list sent is the
/// same as none, as the API omits empty values.
pub(crate) fn altered_fields(sent: &Value, stored: &Value) -> Vec<Altered> {
    let mut out = Vec::new();
    compare(sent, Some(stored), &mut String::new(), &mut out);
    out
}

fn compare(sent: &Value, stored: Option<&Value>, path: &mut String, out: &mut Vec<Altered>) {
    match (sent, stored) {
        (Value::Null, _) => {}
        (Value::Object(map), _) if map.is_empty() => {}
        (Value::Array(items), _) if items.is_empty() => {}
        (Value::Object(sent_map), Some(Value::Object(stored_map))) => {
            for (key, value) in sent_map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                compare(value, stored_map.get(key), path, out);
                path.truncate(len);
            }
        }
        (Value::Array(sent_items), Some(Value::Array(stored_items))) => {
            for (index, value) in sent_items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                compare(value, stored_items.get(index), path, out);
                path.truncate(len);
            }
        }
        (sent, Some(stored)) if sent == stored => {}
        (sent, stored) => out.push(Altered {
            path: path.clone(),
            sent: sent.clone(),
            stored: stored.filter(|v| !v.is_null()).cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_dropped_end_port_is_named_by_its_path() {
        let sent = json!({"spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 5432, "endPort": 5440, "protocol": "TCP"}]}]}});
        let stored = json!({"metadata": {"uid": "u"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": 5432, "protocol": "TCP"}]}]}});
        let altered = altered_fields(&sent, &stored);
        assert_eq!(
            altered,
            [Altered {
                path: "spec.ingress[0].ports[0].endPort".to_owned(),
                sent: json!(5440),
                stored: None
            }]
        );
        assert_eq!(
            altered[0].to_string(),
            "spec.ingress[0].ports[0].endPort (sent 5440) was dropped"
        );
    }

    #[test]
    fn added_fields_and_omitted_empty_values_are_no_difference() {
        let sent = json!({"metadata": {"labels": {}}, "spec": {"ingress": [{"from": []}], "selector": {"app": "a"}}});
        let stored = json!({"metadata": {"uid": "u"}, "spec": {"ingress": [{}], "selector": {"app": "a"}, "clusterIP": "10.96.0.9"}});
        assert_eq!(altered_fields(&sent, &stored), []);
    }

    #[test]
    fn a_changed_value_or_a_shorter_list_is_a_difference() {
        let sent = json!({"spec": {"ports": [{"port": 80}, {"port": 81}], "type": "ClusterIP"}});
        let stored = json!({"spec": {"ports": [{"port": 80}], "type": "NodePort"}});
        let paths: Vec<String> = altered_fields(&sent, &stored)
            .into_iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            paths,
            [
                r#"spec.ports[1] (sent {"port":81}) was dropped"#,
                r#"spec.type was sent as "ClusterIP" and stored as "NodePort""#
            ]
        );
    }
}
