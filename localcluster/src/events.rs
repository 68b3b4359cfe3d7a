//! Kubernetes Events about pods, aggregated as the event recorder does: a repeat of the same
//! (object, reason, message) bumps `count` and `lastTimestamp` of one Event. Events go an hour
//! after they were created, as with the API server's default event TTL.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

impl ObjectRef {
    /// The API version of the object's kind (`apps/v1` for the workloads).
    fn api_version(&self) -> &'static str {
        match self.kind {
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "ControllerRevision" => {
                "apps/v1"
            }
            _ => "v1",
        }
    }
}

/// How long an event is kept.
const EVENT_TTL: Duration = Duration::from_secs(3600);

/// (object uid, reason, message): what makes two events the same.
type EventKey = (String, String, String);

pub(crate) struct Recorder {
    store: Store,
    seen: Mutex<HashMap<EventKey, String>>,
    /// Events in creation order, for the TTL: (created, namespace, name, key).
    created: Mutex<VecDeque<(Instant, String, String, EventKey)>>,
    next: AtomicU64,
}

impl Recorder {
    /// Deletes the events older than [`EVENT_TTL`].
    fn expire(&self) {
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        while created
            .front()
            .is_some_and(|(at, ..)| at.elapsed() > EVENT_TTL)
        {
            let Some((_, ns, name, key)) = created.pop_front() else {
                break;
            };
            self.seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            let _ = self.store.delete(Resource::Events, Some(&ns), &name, None);
        }
    }

    pub(crate) fn new(store: Store) -> Recorder {
        Recorder {
            store,
            seen: Mutex::default(),
            created: Mutex::default(),
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
        self.expire();
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
            "involvedObject": {"apiVersion": object.api_version(), "kind": object.kind, "namespace": object.namespace,
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
                    .insert(key.clone(), name.clone());
                self.created
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_back((Instant::now(), object.namespace.clone(), name, key));
            }
            Err(e) => tracing::debug!(reason, error = %e, "event not recorded"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netverdict_apiserver::Selection;

    #[test]
    fn repeats_are_aggregated() {
        let store = Store::new();
        let recorder = Recorder::new(store.clone());
        let pod = ObjectRef {
            kind: "Pod",
            namespace: "default".into(),
            name: "p".into(),
            uid: "u1".into(),
        };
        recorder.record(
            &pod,
            "kubelet",
            Some("n1"),
            true,
            "Unhealthy",
            "Readiness probe failed: x",
        );
        recorder.record(
            &pod,
            "kubelet",
            Some("n1"),
            true,
            "Unhealthy",
            "Readiness probe failed: x",
        );
        recorder.record(
            &pod,
            "kubelet",
            Some("n1"),
            false,
            "Started",
            "Started container c",
        );
        let (events, _) = store
            .list(Resource::Events, Some("default"), &Selection::default())
            .unwrap();
        assert_eq!(events.len(), 2);
        let unhealthy = events.iter().find(|e| e["reason"] == "Unhealthy").unwrap();
        assert_eq!(unhealthy["count"], 2);
        assert_eq!(unhealthy["type"], "Warning");
        assert_eq!(unhealthy["involvedObject"]["uid"], "u1");
        assert_eq!(unhealthy["source"]["host"], "n1");
    }
}
