//! Label selectors (`metav1.LabelSelector`): matching and validation.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

use crate::validate::{validate_label_key, validate_label_value};
use crate::{FieldError, Labels, Quoted};

/// A label selector: every `match_labels` pair and every expression must hold (AND). An empty
/// selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    pub match_labels: Labels,
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "In",
            Self::NotIn => "NotIn",
            Self::Exists => "Exists",
            Self::DoesNotExist => "DoesNotExist",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Requirement {
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            // As in apimachinery: NotIn also matches objects without the key.
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl fmt::Display for Requirement {
    /// Renders like `kubectl get -l`: `pod in (a,b)`, `!pod`, `pod`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.operator {
            Operator::In if self.values.len() == 1 => write!(f, "{}={}", self.key, self.values[0]),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
        }
    }
}

impl LabelSelector {
    /// The selector matching every object.
    pub fn everything() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements().all(|r| r.matches(labels))
    }

    /// Every requirement of the selector, `matchLabels` pairs first as `key In (value)`.
    pub fn requirements(&self) -> impl Iterator<Item = Requirement> + '_ {
        self.match_labels
            .iter()
            .map(|(key, value)| Requirement {
                key: key.clone(),
                operator: Operator::In,
                values: vec![value.clone()],
            })
            .chain(self.match_expressions.iter().cloned())
    }

    /// The requirements `labels` fail; empty exactly when the selector matches. Lints use the
    /// count to find the selector nearest to matching an object.
    pub fn unmet_requirements(&self, labels: &Labels) -> Vec<Requirement> {
        self.requirements().filter(|r| !r.matches(labels)).collect()
    }

    /// Converts and validates a selector as the API server does, reporting errors under `path`
    /// (e.g. `spec.podSelector`).
    ///
    /// # Errors
    ///
    /// Every invalid key, value or operator, and `values` given to `Exists`/`DoesNotExist` or
    /// missing from `In`/`NotIn`.
    pub fn from_k8s(selector: &metav1::LabelSelector, path: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let match_labels = selector.match_labels.clone().unwrap_or_default();
        for (key, value) in &match_labels {
            let at = format!("{path}.matchLabels");
            push_all(&mut errors, &at, key, validate_label_key(key));
            push_all(&mut errors, &at, value, validate_label_value(value));
        }
        let mut match_expressions = Vec::new();
        for (i, expr) in selector.match_expressions.iter().flatten().enumerate() {
            let at = format!("{path}.matchExpressions[{i}]");
            let values = expr.values.clone().unwrap_or_default();
            let operator = match expr.operator.as_str() {
                "In" => Some(Operator::In),
                "NotIn" => Some(Operator::NotIn),
                "Exists" => Some(Operator::Exists),
                "DoesNotExist" => Some(Operator::DoesNotExist),
                other => {
                    errors.push(FieldError::new(
                        format!("{at}.operator"),
                        format!(
                            "Invalid value: {}: not a valid selector operator",
                            Quoted(other)
                        ),
                    ));
                    None
                }
            };
            match operator {
                Some(Operator::In | Operator::NotIn) if values.is_empty() => {
                    errors.push(FieldError::new(
                        format!("{at}.values"),
                        "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
                Some(Operator::Exists | Operator::DoesNotExist) if !values.is_empty() => {
                    errors.push(FieldError::new(
                        format!("{at}.values"),
                        "Forbidden: may not be specified when `operator` is 'Exists' or \
                         'DoesNotExist'",
                    ));
                }
                _ => {}
            }
            push_all(
                &mut errors,
                &format!("{at}.key"),
                &expr.key,
                validate_label_key(&expr.key),
            );
            for (j, value) in values.iter().enumerate() {
                push_all(
                    &mut errors,
                    &format!("{at}.values[{j}]"),
                    value,
                    validate_label_value(value),
                );
            }
            if let Some(operator) = operator {
                match_expressions.push(Requirement {
                    key: expr.key.clone(),
                    operator,
                    values,
                });
            }
        }
        if errors.is_empty() {
            Ok(Self {
                match_labels,
                match_expressions,
            })
        } else {
            Err(errors)
        }
    }
}

impl fmt::Display for LabelSelector {
    /// Renders like `kubectl get -l`; the empty selector renders as `{}` (everything).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("{}");
        }
        let parts: Vec<String> = self.requirements().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// Adds one `Invalid value` error per message, quoting the value as the API server does.
pub(crate) fn push_all(
    errors: &mut Vec<FieldError>,
    path: &str,
    value: &str,
    messages: Vec<String>,
) {
    errors.extend(
        messages
            .into_iter()
            .map(|m| FieldError::new(path, format!("Invalid value: {}: {m}", Quoted(value)))),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn mk_req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.to_owned(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    fn mk_k8s(
        labels: &[(&str, &str)],
        exprs: &[(&str, &str, Option<&[&str]>)],
    ) -> metav1::LabelSelector {
        metav1::LabelSelector {
            match_labels: (!labels.is_empty()).then(|| mk_labels(labels)),
            match_expressions: (!exprs.is_empty()).then(|| {
                exprs
                    .iter()
                    .map(|(key, op, values)| metav1::LabelSelectorRequirement {
                        key: (*key).to_owned(),
                        operator: (*op).to_owned(),
                        values: values.map(|vs| vs.iter().map(|v| (*v).to_owned()).collect()),
                    })
                    .collect()
            }),
        }
    }

    #[test]
    fn requirement_operators() {
        let a = mk_labels(&[("pod", "a"), ("tier", "web")]);
        let none = mk_labels(&[]);
        let cases = [
            (mk_req("pod", Operator::In, &["a", "b"]), &a, true),
            (mk_req("pod", Operator::In, &["b"]), &a, false),
            (mk_req("pod", Operator::In, &["a"]), &none, false),
            (mk_req("pod", Operator::NotIn, &["b"]), &a, true),
            (mk_req("pod", Operator::NotIn, &["a"]), &a, false),
            (mk_req("pod", Operator::NotIn, &["a"]), &none, true),
            (mk_req("tier", Operator::Exists, &[]), &a, true),
            (mk_req("tier", Operator::Exists, &[]), &none, false),
            (mk_req("tier", Operator::DoesNotExist, &[]), &a, false),
            (mk_req("tier", Operator::DoesNotExist, &[]), &none, true),
        ];
        for (req, labels, expected) in cases {
            assert_eq!(req.matches(labels), expected, "{req} on {labels:?}");
        }
    }

    #[test]
    fn selector_ands_labels_and_expressions() {
        let selector = LabelSelector {
            match_labels: mk_labels(&[("pod", "a")]),
            match_expressions: vec![mk_req("tier", Operator::Exists, &[])],
        };
        assert!(selector.matches(&mk_labels(&[("pod", "a"), ("tier", "x")])));
        assert!(!selector.matches(&mk_labels(&[("pod", "a")])));
        assert!(!selector.matches(&mk_labels(&[("pod", "b"), ("tier", "x")])));
        assert!(LabelSelector::everything().matches(&mk_labels(&[])));
        assert_eq!(
            selector
                .unmet_requirements(&mk_labels(&[("pod", "b")]))
                .len(),
            2
        );
        assert_eq!(selector.to_string(), "pod=a,tier");
    }

    #[test]
    fn from_k8s_accepts_valid() {
        let selector = LabelSelector::from_k8s(
            &mk_k8s(
                &[("pod", "a")],
                &[("ns", "NotIn", Some(&["x"])), ("t", "Exists", None)],
            ),
            "spec.podSelector",
        )
        .unwrap();
        assert_eq!(selector.match_labels, mk_labels(&[("pod", "a")]));
        assert_eq!(selector.match_expressions.len(), 2);
        assert_eq!(selector.match_expressions[0].operator, Operator::NotIn);
    }

    #[test]
    fn from_k8s_rejects_like_the_api_server() {
        let cases: [(metav1::LabelSelector, &str); 8] = [
            (mk_k8s(&[("-bad", "a")], &[]), "s.matchLabels"),
            (mk_k8s(&[("pod", "bad value")], &[]), "s.matchLabels"),
            (
                mk_k8s(&[], &[("pod", "Equals", Some(&["a"]))]),
                "s.matchExpressions[0].operator",
            ),
            (
                mk_k8s(&[], &[("pod", "In", None)]),
                "s.matchExpressions[0].values",
            ),
            (
                mk_k8s(&[], &[("pod", "NotIn", Some(&[]))]),
                "s.matchExpressions[0].values",
            ),
            (
                mk_k8s(&[], &[("pod", "Exists", Some(&["a"]))]),
                "s.matchExpressions[0].values",
            ),
            (
                mk_k8s(&[], &[("a/b/c", "Exists", None)]),
                "s.matchExpressions[0].key",
            ),
            (
                mk_k8s(
                    &[],
                    &[
                        ("pod", "DoesNotExist", None),
                        ("pod", "In", Some(&["ok", "-no"])),
                    ],
                ),
                "s.matchExpressions[1].values[1]",
            ),
        ];
        for (selector, path) in cases {
            let errors = LabelSelector::from_k8s(&selector, "s").unwrap_err();
            assert!(
                errors.iter().any(|e| e.path == path),
                "expected an error at {path}, got {errors:?}"
            );
        }
    }
}
