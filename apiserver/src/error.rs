//! [`ApiError`]: an API failure as the API server reports it, a `metav1.Status`.

use netverdict_engine::Quoted;
use serde_json::{Value, json};

/// An API error rendered as a `metav1.Status` with the matching HTTP code and reason.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `BadRequest`, `Gone`, `MethodNotAllowed`…
    pub reason: String,
    pub message: String,
    /// `details.causes` for `Invalid`: (field path, message).
    pub causes: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason: reason.to_owned(),
            message: message.into(),
            causes: Vec::new(),
        }
    }

    /// `404 NotFound` for `plural "name" not found`, as the registry words it.
    pub fn not_found(plural_and_group: &str, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{plural_and_group} \"{name}\" not found"),
        )
    }

    pub fn already_exists(plural_and_group: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{plural_and_group} \"{name}\" already exists"),
        )
    }

    /// The optimistic-concurrency failure of an update with a stale resourceVersion.
    pub fn conflict(plural_and_group: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {plural_and_group} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again"
            ),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "Forbidden", message)
    }

    /// `403 Forbidden` for a create in a namespace that is being deleted, worded as the
    /// NamespaceLifecycle admission plugin words it, with its `NamespaceTerminating` cause.
    pub fn namespace_terminating(plural_and_group: &str, name: &str, namespace: &str) -> ApiError {
        let object = if name.is_empty() {
            plural_and_group.to_owned()
        } else {
            format!("{plural_and_group} \"{name}\"")
        };
        ApiError {
            code: 403,
            reason: "Forbidden".to_owned(),
            message: format!(
                "{object} is forbidden: unable to create new content in namespace {namespace} because it is being terminated"
            ),
            causes: vec![(
                "metadata.namespace".to_owned(),
                format!("namespace {namespace} is being terminated"),
            )],
        }
    }

    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/apply-patch+yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json; got {}",
                Quoted(content_type)
            ),
        )
    }

    /// `410 Gone` for a watch or list from a compacted resourceVersion.
    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "InternalError", message)
    }

    /// `422 Invalid` for `Kind "name"` with the field errors, worded as the API server words it.
    pub fn invalid(kind: &str, name: &str, causes: Vec<(String, String)>) -> ApiError {
        let listed: Vec<String> = causes
            .iter()
            .map(|(field, message)| format!("{field}: {message}"))
            .collect();
        let joined = if listed.len() == 1 {
            listed[0].clone()
        } else {
            format!("[{}]", listed.join(", "))
        };
        ApiError {
            code: 422,
            reason: "Invalid".to_owned(),
            message: format!("{kind} \"{name}\" is invalid: {joined}"),
            causes,
        }
    }

    /// The `metav1.Status` body; `details` names the object when the caller knows it.
    pub fn to_status(&self, details: Option<(&str, &str, &str)>) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let mut detail = serde_json::Map::new();
        if let Some((name, group, kind)) = details {
            if !name.is_empty() {
                detail.insert("name".into(), json!(name));
            }
            if !group.is_empty() {
                detail.insert("group".into(), json!(group));
            }
            detail.insert("kind".into(), json!(kind));
        }
        if !self.causes.is_empty() {
            let causes: Vec<Value> = self
                .causes
                .iter()
                .map(|(field, message)| json!({"reason": cause_reason(message), "message": message, "field": field}))
                .collect();
            detail.insert("causes".into(), Value::Array(causes));
        }
        if !detail.is_empty() {
            status["details"] = Value::Object(detail);
        }
        status
    }
}

/// The `CauseType` of a cause, told by its wording (field errors start with their type; the
/// NamespaceLifecycle plugin's only cause says the namespace is being terminated).
fn cause_reason(message: &str) -> &'static str {
    if message.starts_with("namespace ") && message.ends_with(" is being terminated") {
        "NamespaceTerminating"
    } else if message.starts_with("Required value") {
        "FieldValueRequired"
    } else if message.starts_with("Duplicate value") {
        "FieldValueDuplicate"
    } else if message.starts_with("Unsupported value") {
        "FieldValueNotSupported"
    } else if message.starts_with("Forbidden") {
        "FieldValueForbidden"
    } else {
        "FieldValueInvalid"
    }
}
