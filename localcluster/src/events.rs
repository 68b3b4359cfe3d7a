//! Kubernetes Events about pods, aggregated as the event recorder does: a repeat of the same
//! (object, reason, message) bumps `count` and `lastTimestamp` of one Event.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use netverdict_apiserver::{Resource, Store};
use serde_json::json;

use crate::cluster::now;

/// The object an event is about.
#[derive(Clone, Debug)]
pub(crate) struct ObjectRef {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

pub(crate) struct Recorder {
    store: Store,
    seen: Mutex<HashMap<(String, String, String), String>>,
    next: AtomicU64,
}

impl Recorder {
    pub(crate) fn new(store: Store) -> Recorder {
        Recorder {
            store,
            seen: Mutex::default(),
            next: AtomicU64::new(0),
        }
    }

    /// Records an event; `warning` selects type `Warning` over `Normal`. Failures are logged:
    /// an event that cannot be written must not stop a controller.
    pub(crate) fn record(
        &self,
        object: &ObjectRef,
        component: &str,
        host: Option<&str>,
        warning: bool,
        reason: &str,
        message: &str,
    ) {
        let key = (object.uid.clone(), reason.to_owned(), message.to_owned());
        let existing = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let store = &self.store;
        let ns = Some(object.namespace.as_str());
        if let Some(name) = existing {
            let bumped = store.mutate(Resource::Events, ns, &name, |ev| {
                let count = ev["count"].as_i64().unwrap_or(1) + 1;
                ev["count"] = json!(count);
                ev["lastTimestamp"] = now();
                Ok(())
            });
            if bumped.is_ok() {
                return;
            }
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!("{}.{:x}", object.name, (nanos as u64).wrapping_add(n));
        let ts = now();
        let mut source = json!({"component": component});
        if let Some(host) = host {
            source["host"] = json!(host);
        }
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": object.namespace},
            "involvedObject": {"apiVersion": "v1", "kind": object.kind, "namespace": object.namespace,
                               "name": object.name, "uid": object.uid},
            "reason": reason, "message": message,
            "type": if warning { "Warning" } else { "Normal" },
            "source": source, "reportingComponent": component, "reportingInstance": host.unwrap_or(component),
            "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
        });
        match store.create(Resource::Events, ns, event) {
            Ok(_) => {
                self.seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, name);
            }
            Err(e) => tracing::debug!(reason, error = %e, "event not recorded"),
        }
    }
}
