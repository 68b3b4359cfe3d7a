//! The namespace controller of a cluster that emulates slow namespace deletion
//! ([`crate::LocalClusterConfig::namespace_deletion`]).
//!
//! On a real cluster a deleted namespace stays `Terminating` for seconds: kube-apiserver marks
//! it (deletionTimestamp, phase Terminating, the `kubernetes` finalizer kept) and refuses new
//! content in it; kube-controller-manager's namespace controller deletes the contents, waits
//! for them to go (pods through their grace period, on the kubelet), and only then removes the
//! finalizer, which lets the namespace go. Here the store marks the namespace and deletes its
//! contents at once, the kubelet ends the pods as it always does, and this controller removes
//! the finalizer `delay` after the namespace is empty.

use std::collections::HashSet;
use std::time::Duration;

use netverdict_apiserver::{Resource, Selection, Store, WatchEvent};
use serde_json::Value;
use tokio::task::JoinSet;

/// How often a terminating namespace is checked for contents (the store is in memory).
const EMPTY_CHECK: Duration = Duration::from_millis(100);

/// Finalizes every terminating namespace `delay` after it is empty, until aborted.
pub(crate) async fn run(store: Store, delay: Duration) {
    // Namespaces in progress, by uid: a re-listed watch must not start a second task.
    let mut pending: HashSet<String> = HashSet::new();
    let mut tasks: JoinSet<String> = JoinSet::new();
    loop {
        let mut events = match store.watch(Resource::Namespaces, None, &Selection::default(), None)
        {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "watch namespaces");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { break };
                    if let Some((name, uid)) = terminating(&event)
                        && pending.insert(uid.clone())
                    {
                        tasks.spawn(finish(store.clone(), name, uid, delay));
                    }
                }
                Some(Ok(uid)) = tasks.join_next() => {
                    pending.remove(&uid);
                }
            }
        }
    }
}

/// The name and uid of a namespace an event shows terminating.
fn terminating(event: &WatchEvent) -> Option<(String, String)> {
    let (WatchEvent::Added(namespace) | WatchEvent::Modified(namespace)) = event else {
        return None;
    };
    let meta = namespace.get("metadata")?;
    meta.get("deletionTimestamp")?;
    let field = |name: &str| meta.get(name).and_then(Value::as_str).map(str::to_owned);
    Some((field("name")?, field("uid")?))
}

/// Waits for the namespace to be empty, then `delay`, then removes its finalizer; returns its uid.
/// Stops early when the namespace went otherwise (`PUT namespaces/{name}/finalize`).
async fn finish(store: Store, name: String, uid: String, delay: Duration) -> String {
    while is_current(&store, &name, &uid) {
        if !store.namespace_is_empty(&name) {
            tokio::time::sleep(EMPTY_CHECK).await;
            continue;
        }
        tokio::time::sleep(delay).await;
        if let Ok(true) = store.finalize_namespace(&name, &uid) {
            tracing::info!(namespace = name, "namespace deleted");
        }
    }
    uid
}

/// Whether namespace `name` is still the one with `uid`.
fn is_current(store: &Store, name: &str, uid: &str) -> bool {
    store
        .get(Resource::Namespaces, None, name)
        .is_ok_and(|ns| ns.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid))
}
