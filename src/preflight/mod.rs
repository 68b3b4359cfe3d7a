//! The checks of `netverdict preflight` that look at the cluster itself rather than at this
//! identity's permissions: the Pod Security level of the target namespaces, and a canary (two
//! probe pods in a namespace of their own, or in an existing one) that shows the probe image
//! starts and that the network enforces NetworkPolicy. A run reuses the canary when a deny was
//! not blocked (`run/enforcement.rs`).

mod canary;
mod enforcement;
mod pod_security;
mod targets;

use serde_json::{Map, Value};

pub(crate) use canary::{Canary, CanaryError, CanaryOptions, canary_checks, enforcement_of};
pub(crate) use enforcement::Enforcement;
pub(crate) use pod_security::judge as judge_pod_security;
pub(crate) use targets::pod_security_targets;

/// How a check came out, as `preflight` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    /// Not a reason to stop, but worth a look.
    Warning,
    /// A run could not go, or the check could not judge.
    Failed,
    /// Not checked, and why.
    Skipped,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One check: its id, status and message, and the fields it adds to its JSON.
#[derive(Clone, Debug)]
pub(crate) struct Check {
    pub(crate) check: &'static str,
    pub(crate) status: Status,
    pub(crate) message: String,
    fields: Map<String, Value>,
}

impl Check {
    pub(crate) fn new(check: &'static str, status: Status, message: String) -> Check {
        Check {
            check,
            status,
            message,
            fields: Map::new(),
        }
    }

    pub(crate) fn with(mut self, key: &str, value: Value) -> Check {
        self.fields.insert(key.to_owned(), value);
        self
    }

    /// `{"check", "status", "message", ...fields}`, as every preflight check is printed.
    pub(crate) fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("check".to_owned(), self.check.into());
        object.insert("status".to_owned(), self.status.as_str().into());
        object.extend(self.fields.clone());
        object.insert("message".to_owned(), self.message.clone().into());
        Value::Object(object)
    }
}
