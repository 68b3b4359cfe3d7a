//! The garbage collector (`pkg/controller/garbagecollector`): objects whose owners are gone,
//! and the deletion policies of owners.
//!
//! - A dependent all of whose owners are gone is deleted (in the background, or as its own
//!   finalizers ask); one that still has an owner only loses the references to the others.
//! - An owner deleted in the foreground (`foregroundDeletion` finalizer) has its dependents
//!   deleted (themselves in the foreground when they have dependents), and loses the finalizer,
//!   and so goes, once no dependent that blocks its deletion (`blockOwnerDeletion`) is left.
//! - An owner deleted with `Orphan` (`orphan` finalizer) has the references to it removed from
//!   its dependents, then loses the finalizer.
//!
//! An owner is looked up by uid among the objects of the kind its reference names, in the
//! dependent's namespace (a namespaced owner elsewhere does not count); an owner kind this
//! server does not serve leaves the dependent alone, as upstream keeps retrying it. An owner
//! found missing is checked again in the store before anything is deleted.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use netverdict_apiserver::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Propagation, Resource, Store};
use serde_json::Value;

/// One object of the store as the collector sees it.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub resource: Resource,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub deleting: bool,
    pub finalizers: Vec<String>,
    pub owners: Vec<OwnerReference>,
}

impl Node {
    fn of(resource: Resource, meta: &Value) -> Option<Node> {
        let text = |key: &str| {
            meta.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let list = |key: &str| meta.get(key).cloned().unwrap_or(Value::Null);
        Some(Node {
            resource,
            namespace: text("namespace"),
            name: text("name"),
            uid: text("uid"),
            deleting: meta.get("deletionTimestamp").is_some_and(|t| !t.is_null()),
            finalizers: serde_json::from_value(list("finalizers")).unwrap_or_default(),
            owners: serde_json::from_value(list("ownerReferences")).unwrap_or_default(),
        })
    }

    fn has_finalizer(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }

    /// Being deleted in the foreground: waiting for its dependents.
    fn deleting_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FOREGROUND_FINALIZER)
    }

    fn ns(&self) -> Option<&str> {
        self.resource
            .namespaced()
            .then_some(self.namespace.as_str())
    }
}

/// Every object of every served kind.
fn snapshot(store: &Store) -> Vec<Node> {
    Resource::ALL
        .into_iter()
        .filter(|r| !r.is_review())
        .flat_map(|resource| {
            store
                .list_metadata(resource)
                .iter()
                .filter_map(|meta| Node::of(resource, meta))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What became of one owner reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The owner exists and is not waiting for its dependents.
    Solid,
    /// The owner is gone.
    Dangling,
    /// The owner is being deleted in the foreground.
    Waiting,
    /// Its kind is not served: nothing can be said.
    Unknown,
}

/// What the collector does with one dependent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Nothing,
    /// Remove the references to these owners.
    Unlink(Vec<String>),
    Delete(Propagation),
}

/// `attemptToDeleteItem`'s decision for a dependent, given its owners' states.
pub(crate) fn decide(dependent: &Node, owners: &[(String, Owner)], has_dependents: bool) -> Action {
    if owners.is_empty() || owners.iter().any(|(_, o)| *o == Owner::Unknown) {
        return Action::Nothing;
    }
    let solid = owners.iter().any(|(_, o)| *o == Owner::Solid);
    let waiting = owners.iter().any(|(_, o)| *o == Owner::Waiting);
    if solid {
        let gone: Vec<String> = owners
            .iter()
            .filter(|(_, o)| *o != Owner::Solid)
            .map(|(uid, _)| uid.clone())
            .collect();
        return if gone.is_empty() {
            Action::Nothing
        } else {
            Action::Unlink(gone)
        };
    }
    if waiting && has_dependents {
        return Action::Delete(Propagation::Foreground);
    }
    let policy = if dependent.has_finalizer(ORPHAN_FINALIZER) {
        Propagation::Orphan
    } else if dependent.has_finalizer(FOREGROUND_FINALIZER) {
        Propagation::Foreground
    } else {
        Propagation::Background
    };
    Action::Delete(policy)
}

/// The objects of one pass, indexed.
struct Graph {
    nodes: Vec<Node>,
    by_uid: HashMap<String, usize>,
    /// Owner uid -> its dependents (index, whether the reference blocks its deletion).
    dependents: BTreeMap<String, Vec<(usize, bool)>>,
}

impl Graph {
    fn new(nodes: Vec<Node>) -> Graph {
        let by_uid = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.uid.clone(), i))
            .collect();
        let mut dependents: BTreeMap<String, Vec<(usize, bool)>> = BTreeMap::new();
        for (i, node) in nodes.iter().enumerate() {
            for owner in &node.owners {
                let blocks = owner.block_owner_deletion == Some(true);
                dependents
                    .entry(owner.uid.clone())
                    .or_default()
                    .push((i, blocks));
            }
        }
        Graph {
            nodes,
            by_uid,
            dependents,
        }
    }

    fn owner_state(&self, dependent: &Node, reference: &OwnerReference) -> Owner {
        let Some(kind) = Resource::from_kind(&reference.api_version, &reference.kind) else {
            return Owner::Unknown;
        };
        let found = self.by_uid.get(&reference.uid).map(|i| &self.nodes[*i]);
        let matches = found.filter(|owner| {
            owner.resource == kind
                && owner.name == reference.name
                && (!kind.namespaced() || owner.namespace == dependent.namespace)
        });
        match matches {
            None => Owner::Dangling,
            Some(owner) if owner.deleting_dependents() => Owner::Waiting,
            Some(_) => Owner::Solid,
        }
    }
}

/// One pass of the collector.
pub(crate) fn reconcile(store: &Store) {
    let graph = Graph::new(snapshot(store));
    for node in &graph.nodes {
        if node.deleting && node.has_finalizer(ORPHAN_FINALIZER) {
            orphan_dependents(store, &graph, node);
        }
        if node.deleting_dependents() {
            let blocking = graph
                .dependents
                .get(&node.uid)
                .is_some_and(|deps| deps.iter().any(|(_, blocks)| *blocks));
            if !blocking {
                remove_finalizer(store, node, FOREGROUND_FINALIZER);
            }
        }
        // An object on its way out is left to it (one deleting its dependents too: above).
        if node.owners.is_empty() || node.deleting {
            continue;
        }
        let owners: Vec<(String, Owner)> = node
            .owners
            .iter()
            .map(|r| (r.uid.clone(), graph.owner_state(node, r)))
            .collect();
        let has_dependents = graph.dependents.contains_key(&node.uid);
        match decide(node, &owners, has_dependents) {
            Action::Nothing => {}
            Action::Unlink(uids) => unlink(store, node, &uids),
            Action::Delete(policy) => {
                if still_dangling(store, node, &owners) {
                    delete(store, node, policy);
                }
            }
        }
    }
}

/// Re-reads the owners found gone: an owner created after the pass listed its kind is there.
fn still_dangling(store: &Store, node: &Node, owners: &[(String, Owner)]) -> bool {
    owners.iter().all(|(uid, state)| {
        if *state != Owner::Dangling {
            return true;
        }
        let Some(reference) = node.owners.iter().find(|r| r.uid == *uid) else {
            return true;
        };
        let Some(kind) = Resource::from_kind(&reference.api_version, &reference.kind) else {
            return false;
        };
        let ns = kind.namespaced().then_some(node.namespace.as_str());
        store.get(kind, ns, &reference.name).map_or(true, |o| {
            o.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid)
        })
    })
}

/// Deletes the dependent if it is still the one seen, with the owner references seen (an
/// owner reference its controller brought up to date meanwhile saves it).
fn delete(store: &Store, node: &Node, policy: Propagation) {
    let current = store.get(node.resource, node.ns(), &node.name);
    let unchanged = current.is_ok_and(|c| {
        let owners: Vec<OwnerReference> = c
            .pointer("/metadata/ownerReferences")
            .and_then(|r| serde_json::from_value(r.clone()).ok())
            .unwrap_or_default();
        c.pointer("/metadata/uid").and_then(Value::as_str) == Some(&node.uid)
            && owners == node.owners
    });
    if unchanged {
        tracing::debug!(
            kind = node.resource.kind(),
            name = node.name,
            ?policy,
            "garbage collected"
        );
        let _ = store.delete_propagating(node.resource, node.ns(), &node.name, None, policy);
    }
}

fn mutate_same(store: &Store, node: &Node, f: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let uid = node.uid.clone();
    let _ = store.mutate(node.resource, node.ns(), &node.name, |object| {
        let meta = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .filter(|m| m.get("uid").and_then(Value::as_str) == Some(uid.as_str()));
        if let Some(meta) = meta {
            f(meta);
        }
        Ok(())
    });
}

/// Removes the references to `uids` from the object.
fn unlink(store: &Store, node: &Node, uids: &[String]) {
    mutate_same(store, node, |meta| {
        if let Some(Value::Array(references)) = meta.get_mut("ownerReferences") {
            references.retain(|r| {
                r.get("uid")
                    .and_then(Value::as_str)
                    .is_none_or(|u| !uids.iter().any(|x| x == u))
            });
            if references.is_empty() {
                meta.remove("ownerReferences");
            }
        }
    });
}

fn remove_finalizer(store: &Store, node: &Node, finalizer: &str) {
    mutate_same(store, node, |meta| {
        if let Some(Value::Array(finalizers)) = meta.get_mut("finalizers") {
            finalizers.retain(|f| f != finalizer);
        }
    });
}

/// `orphanDependents`: the references to the owner go, then its `orphan` finalizer.
fn orphan_dependents(store: &Store, graph: &Graph, owner: &Node) {
    for (i, _) in graph.dependents.get(&owner.uid).into_iter().flatten() {
        unlink(store, &graph.nodes[*i], std::slice::from_ref(&owner.uid));
    }
    remove_finalizer(store, owner, ORPHAN_FINALIZER);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(finalizers: &[&str]) -> Node {
        Node {
            resource: Resource::Pods,
            namespace: "default".into(),
            name: "p".into(),
            uid: "p".into(),
            deleting: false,
            finalizers: finalizers.iter().map(|f| (*f).to_owned()).collect(),
            owners: Vec::new(),
        }
    }

    fn owners(states: &[Owner]) -> Vec<(String, Owner)> {
        states
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("o{i}"), *s))
            .collect()
    }

    #[test]
    fn dependents_go_with_their_last_owner() {
        let plain = node(&[]);
        assert_eq!(
            decide(&plain, &owners(&[Owner::Solid]), false),
            Action::Nothing
        );
        assert_eq!(
            decide(&plain, &owners(&[Owner::Dangling]), false),
            Action::Delete(Propagation::Background)
        );
        // Another owner left: only the reference to the gone one goes.
        assert_eq!(
            decide(&plain, &owners(&[Owner::Solid, Owner::Dangling]), false),
            Action::Unlink(vec!["o1".into()])
        );
        // An owner waiting in the foreground: a dependent with dependents of its own goes in
        // the foreground too, one without goes at once.
        assert_eq!(
            decide(&plain, &owners(&[Owner::Waiting]), true),
            Action::Delete(Propagation::Foreground)
        );
        assert_eq!(
            decide(&plain, &owners(&[Owner::Waiting]), false),
            Action::Delete(Propagation::Background)
        );
        assert_eq!(
            decide(
                &node(&[ORPHAN_FINALIZER]),
                &owners(&[Owner::Dangling]),
                true
            ),
            Action::Delete(Propagation::Orphan)
        );
        // An owner of a kind this server does not know: hands off.
        assert_eq!(
            decide(&plain, &owners(&[Owner::Dangling, Owner::Unknown]), false),
            Action::Nothing
        );
    }
}
