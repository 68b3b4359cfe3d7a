//! Label and field selectors in their query-string syntax (`app=web,tier in (a,b),!legacy`).

use netverdict_engine::Quoted;
use serde_json::Value;

use crate::error::ApiError;
use crate::resource::Resource;

/// Label and field selection of a list or watch.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum LabelOp {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    GreaterThan(i64),
    LessThan(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct LabelRequirement {
    key: String,
    op: LabelOp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldRequirement {
    field: String,
    value: String,
    equal: bool,
}

/// A parsed [`Selection`], ready to match objects.
#[derive(Clone, Debug, Default)]
pub(crate) struct Matcher {
    labels: Vec<LabelRequirement>,
    fields: Vec<FieldRequirement>,
}

impl Matcher {
    /// # Errors
    /// `BadRequest` for a selector that does not parse or names an unsupported field.
    pub(crate) fn new(resource: Resource, selection: &Selection) -> Result<Matcher, ApiError> {
        let labels = match selection.label_selector.as_deref() {
            Some(text) => parse_label_selector(text)
                .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?,
            None => Vec::new(),
        };
        let fields = match selection.field_selector.as_deref() {
            Some(text) => parse_field_selector(resource, text)?,
            None => Vec::new(),
        };
        Ok(Matcher { labels, fields })
    }

    pub(crate) fn matches(&self, object: &Value) -> bool {
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        let labels_match = self.labels.iter().all(|req| {
            let value = label(&req.key);
            match &req.op {
                LabelOp::Equals(v) => value == Some(v.as_str()),
                LabelOp::NotEquals(v) => value != Some(v.as_str()),
                LabelOp::In(vs) => value.is_some_and(|x| vs.iter().any(|v| v == x)),
                LabelOp::NotIn(vs) => !value.is_some_and(|x| vs.iter().any(|v| v == x)),
                LabelOp::Exists => value.is_some(),
                LabelOp::DoesNotExist => value.is_none(),
                LabelOp::GreaterThan(n) => value
                    .and_then(|x| x.parse::<i64>().ok())
                    .is_some_and(|x| x > *n),
                LabelOp::LessThan(n) => value
                    .and_then(|x| x.parse::<i64>().ok())
                    .is_some_and(|x| x < *n),
            }
        });
        labels_match
            && self
                .fields
                .iter()
                .all(|req| (field_value(object, &req.field) == req.value) == req.equal)
    }
}

/// The string form of a selectable field; absent fields read as the empty string.
fn field_value(object: &Value, field: &str) -> String {
    if field == "status.successful" {
        let succeeded = object.pointer("/status/succeeded").and_then(Value::as_i64);
        return succeeded.unwrap_or(0).to_string();
    }
    let pointer = format!("/{}", field.replace('.', "/"));
    match object.pointer(&pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ if field == "spec.hostNetwork" || field == "spec.unschedulable" => "false".to_owned(),
        _ => String::new(),
    }
}

fn parse_field_selector(resource: Resource, text: &str) -> Result<Vec<FieldRequirement>, ApiError> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (field, value, equal) = if let Some((f, v)) = part.split_once("!=") {
            (f, v, false)
        } else if let Some((f, v)) = part.split_once("==") {
            (f, v, true)
        } else if let Some((f, v)) = part.split_once('=') {
            (f, v, true)
        } else {
            return Err(ApiError::bad_request(format!(
                "invalid selector: '{text}'; can't understand '{part}'"
            )));
        };
        let field = field.trim();
        let supported = field == "metadata.name"
            || (field == "metadata.namespace" && resource.namespaced())
            || resource.selectable_fields().contains(&field);
        if !supported {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {field}"
            )));
        }
        out.push(FieldRequirement {
            field: field.to_owned(),
            value: value.trim().to_owned(),
            equal,
        });
    }
    Ok(out)
}

/// Parses the label selector syntax of `k8s.io/apimachinery/pkg/labels.Parse`.
fn parse_label_selector(text: &str) -> Result<Vec<LabelRequirement>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        // One requirement ends at a comma outside parentheses.
        let mut depth = 0i32;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let part = rest[..end].trim();
        rest = if end < rest.len() {
            rest[end + 1..].trim_start()
        } else {
            ""
        };
        if part.is_empty() {
            return Err(format!(
                "found '', expected: identifier in {}",
                Quoted(text)
            ));
        }
        out.push(parse_label_requirement(part)?);
    }
    Ok(out)
}

fn parse_label_requirement(part: &str) -> Result<LabelRequirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        let key = check_key(key.trim())?;
        return Ok(LabelRequirement {
            key,
            op: LabelOp::DoesNotExist,
        });
    }
    for (token, make) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
        if let Some((key, value)) = part.split_once(token) {
            let key = check_key(key.trim())?;
            let value = value.trim();
            let op = match make {
                0 => LabelOp::NotEquals(check_value(value)?),
                1 => LabelOp::Equals(check_value(value)?),
                2 => LabelOp::GreaterThan(value.parse().map_err(|_| {
                    format!("for 'Gt', 'Lt' operators, the value must be an integer: {value}")
                })?),
                _ => LabelOp::LessThan(value.parse().map_err(|_| {
                    format!("for 'Gt', 'Lt' operators, the value must be an integer: {value}")
                })?),
            };
            return Ok(LabelRequirement { key, op });
        }
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 1 {
        return Ok(LabelRequirement {
            key: check_key(words[0])?,
            op: LabelOp::Exists,
        });
    }
    let key = check_key(words[0])?;
    let rest = words[1].trim_start();
    let (negated, set) = if let Some(set) = rest.strip_prefix("notin") {
        (true, set)
    } else if let Some(set) = rest.strip_prefix("in") {
        (false, set)
    } else {
        return Err(format!(
            "found '{rest}', expected: in, notin, =, ==, !=, gt, lt"
        ));
    };
    let set = set.trim();
    let inner = set
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("found '{set}', expected: '('"))?;
    let values = inner
        .split(',')
        .map(|v| check_value(v.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let op = if negated {
        LabelOp::NotIn(values)
    } else {
        LabelOp::In(values)
    };
    Ok(LabelRequirement { key, op })
}

fn check_key(key: &str) -> Result<String, String> {
    let ok = !key.is_empty()
        && key.len() <= 316
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(key.to_owned())
    } else {
        Err(format!("invalid label key \"{key}\""))
    }
}

fn check_value(value: &str) -> Result<String, String> {
    let ok = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(format!("invalid label value: \"{value}\""))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mk_pod(labels: Value, phase: &str, node: &str) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "spec": {"nodeName": node}, "status": {"phase": phase}})
    }

    fn matches(label: Option<&str>, field: Option<&str>, object: &Value) -> bool {
        let selection = Selection {
            label_selector: label.map(str::to_owned),
            field_selector: field.map(str::to_owned),
        };
        Matcher::new(Resource::Pods, &selection)
            .unwrap()
            .matches(object)
    }

    #[test]
    fn label_operators() {
        let pod = mk_pod(json!({"app": "web", "tier": "front"}), "Running", "n1");
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("tier in (front, back)", true),
            ("tier notin (front,back)", false),
            ("tier notin (back)", true),
            ("missing notin (back)", true),
            ("missing in (back)", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app=web,tier in (back,front),!missing", true),
            ("app=web,tier=back", false),
            ("", true),
        ];
        for (selector, expected) in cases {
            assert_eq!(matches(Some(selector), None, &pod), expected, "{selector}");
        }
    }

    #[test]
    fn field_selectors() {
        let pod = mk_pod(json!({}), "Running", "n1");
        assert!(matches(
            None,
            Some("status.phase=Running,spec.nodeName=n1"),
            &pod
        ));
        assert!(!matches(None, Some("status.phase!=Running"), &pod));
        assert!(matches(
            None,
            Some("metadata.name=p,metadata.namespace==ns"),
            &pod
        ));
        assert!(!matches(None, Some("spec.nodeName="), &pod));
        let unbound = mk_pod(json!({}), "Pending", "");
        assert!(matches(None, Some("spec.nodeName="), &unbound));
    }

    #[test]
    fn bad_selectors_are_bad_requests() {
        for (label, field) in [
            (Some("app in web"), None),
            (Some("a=b=c=("), None),
            (None, Some("spec.bogus=1")),
            (None, Some("noop")),
        ] {
            let selection = Selection {
                label_selector: label.map(str::to_owned),
                field_selector: field.map(str::to_owned),
            };
            let err = Matcher::new(Resource::Pods, &selection).unwrap_err();
            assert_eq!(err.code, 400, "{label:?} {field:?}");
        }
    }
}
