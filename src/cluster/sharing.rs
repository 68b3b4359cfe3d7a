//! Who else has objects in a namespace: other netverdict runs (whose policies change this run's
//! verdicts) and anyone else (whose objects forbid deleting the namespace).
//!
//! Only pods, Services and NetworkPolicies are looked at: those are what a run creates and what
//! changes a verdict; objects every namespace gets (the `default` ServiceAccount, the
//! `kube-root-ca.crt` ConfigMap, a Service's endpoints) say nothing about who uses it.

use std::collections::BTreeMap;

use super::failure::Failure;
use super::labels::{RUN_KEY, RunId};
use crate::k8s::{Api, Client, ListParams, Namespace, NetworkPolicy, Pod, Service};

/// Another run's objects in a namespace this run needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Occupant {
    pub(crate) namespace: String,
    pub(crate) run: String,
    /// E.g. `pod shop3/probe-y`, in the order listed.
    pub(crate) objects: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SharingError {
    #[error("cannot get namespace {name}: {}", Failure::of(.source))]
    Look { name: String, source: kube::Error },
    #[error("cannot list the {kind} of namespace {namespace}: {}", Failure::of(.source))]
    List {
        kind: &'static str,
        namespace: String,
        source: kube::Error,
    },
    #[error(
        "namespace {} is in use by netverdict run {} ({}); runs that share a namespace change \
         each other's verdicts and cleanup: wait for that run to end (or remove what it kept with \
         `netverdict cleanup --run-id {}`), use other namespace names, or pass \
         --share-namespaces to share it knowingly (nothing was created)",
        .0.namespace, .0.run, summary(&.0.objects), .0.run
    )]
    InUse(Occupant),
}

fn summary(objects: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = objects
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if objects.len() > SHOWN {
        text.push_str(&format!(" and {} more", objects.len() - SHOWN));
    }
    text
}

/// Who owns an object, from its labels: `Some(run)` for a netverdict run (every object of one
/// carries `netverdict.io/run`), `None` for anyone else.
pub(crate) fn run_of(labels: Option<&BTreeMap<String, String>>) -> Option<String> {
    labels?.get(RUN_KEY).cloned()
}

/// Every pod, Service and NetworkPolicy in `namespace` that is not `run`'s, as
/// `(kind namespace/name, owner)`. Objects already being deleted count: they are still there.
///
/// # Errors
/// A list the API server refuses.
pub(crate) async fn others_objects(
    client: &Client,
    run: &RunId,
    namespace: &str,
) -> Result<Vec<(String, Option<String>)>, SharingError> {
    let mut found = Vec::new();
    list_others::<Pod>(client, run, namespace, "pod", &mut found).await?;
    list_others::<Service>(client, run, namespace, "service", &mut found).await?;
    list_others::<NetworkPolicy>(client, run, namespace, "NetworkPolicy", &mut found).await?;
    Ok(found)
}

async fn list_others<K>(
    client: &Client,
    run: &RunId,
    namespace: &str,
    kind: &'static str,
    found: &mut Vec<(String, Option<String>)>,
) -> Result<(), SharingError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    let list = Api::<K>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await;
    let list = match list {
        Ok(list) => list,
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(source) => {
            return Err(SharingError::List {
                kind,
                namespace: namespace.to_owned(),
                source,
            });
        }
    };
    for object in list.items {
        let owner_run = run_of(object.meta().labels.as_ref());
        if owner_run.as_deref() == Some(run.as_str()) {
            continue;
        }
        let name = object.meta().name.clone().unwrap_or_default();
        found.push((format!("{kind} {namespace}/{name}"), owner_run));
    }
    Ok(())
}

/// The other netverdict runs with objects in `namespaces`, one entry per namespace and run.
///
/// # Errors
/// A list the API server refuses.
pub(crate) async fn other_runs(
    client: &Client,
    run: &RunId,
    namespaces: &[String],
) -> Result<Vec<Occupant>, SharingError> {
    let mut occupants = Vec::new();
    let api = Api::<Namespace>::all(client.clone());
    for namespace in namespaces {
        match api.get_opt(namespace).await {
            Ok(Some(_)) => {}
            Ok(None) => continue,
            // Without `get namespaces`, the namespace is taken to exist: its objects are listed.
            Err(kube::Error::Api(status)) if status.code == 403 => {}
            Err(source) => {
                return Err(SharingError::Look {
                    name: namespace.clone(),
                    source,
                });
            }
        }
        let mut by_run: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (object, owner_run) in others_objects(client, run, namespace).await? {
            if let Some(other) = owner_run {
                by_run.entry(other).or_default().push(object);
            }
        }
        occupants.extend(by_run.into_iter().map(|(other, objects)| Occupant {
            namespace: namespace.clone(),
            run: other,
            objects,
        }));
    }
    Ok(occupants)
}

/// Refuses, before anything is created, to use a namespace another netverdict run has objects in.
///
/// # Errors
/// [`SharingError::InUse`] naming the first such run and namespace; a list the API refuses.
///
/// # Caveats
/// Two runs that start at the very same moment can both find the namespace empty.
pub(crate) async fn refuse_shared(
    client: &Client,
    run: &RunId,
    namespaces: &[String],
) -> Result<(), SharingError> {
    match other_runs(client, run, namespaces)
        .await?
        .into_iter()
        .next()
    {
        Some(occupant) => Err(SharingError::InUse(occupant)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {

    use netverdict_apiserver::{Resource, Store};
    use serde_json::json;

    use super::*;
    use crate::cluster::delete_run;

    use crate::cluster::testing::serve;

    /// Namespace `shop3` made by run `a`, with a policy of run `a` and a pod of `owner`.
    fn shop3(store: &Store, owner: Option<&str>) {
        let a = RunId::parse("a").unwrap().labels();
        store
            .create(
                Resource::Namespaces,
                None,
                json!({"metadata": {"name": "shop3", "labels": a}}),
            )
            .unwrap();
        store
            .create(
                Resource::NetworkPolicies,
                Some("shop3"),
                json!({"metadata": {"name": "deny", "labels": a}, "spec": {"podSelector": {}}}),
            )
            .unwrap();
        let labels = owner.map_or_else(
            || json!({"app": "web"}),
            |run| json!(RunId::parse(run).unwrap().labels()),
        );
        store
            .create(
                Resource::Pods,
                Some("shop3"),
                json!({"metadata": {"name": "probe-y", "labels": labels}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
            )
            .unwrap();
    }

    #[tokio::test]
    async fn a_namespace_another_run_uses_is_refused_naming_the_run() {
        let store = Store::new();
        let (_server, client) = serve(&store).await;
        shop3(&store, Some("b"));
        let c = RunId::parse("c").unwrap();
        let namespaces = ["shop3".to_owned(), "elsewhere".to_owned()];
        let occupants = other_runs(&client, &c, &namespaces).await.unwrap();
        let runs: Vec<(&str, &str)> = occupants
            .iter()
            .map(|o| (o.namespace.as_str(), o.run.as_str()))
            .collect();
        assert_eq!(runs, [("shop3", "a"), ("shop3", "b")]);
        let error = refuse_shared(&client, &c, &namespaces).await.unwrap_err();
        assert!(
            error.to_string().starts_with(
                "namespace shop3 is in use by netverdict run a (NetworkPolicy shop3/deny)"
            ),
            "{error}"
        );
        // A run's own objects are no obstacle.
        let a = RunId::parse("a").unwrap();
        let others = other_runs(&client, &a, &namespaces).await.unwrap();
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].run, "b");
    }

    #[tokio::test]
    async fn a_namespace_with_anyone_elses_object_left_is_not_deleted() {
        for owner in [Some("b"), None] {
            let store = Store::new();
            let (_server, client) = serve(&store).await;
            shop3(&store, owner);
            let a = RunId::parse("a").unwrap();
            let namespaces = ["shop3".to_owned()];
            let cleaned = delete_run(
                &client,
                &a,
                (&namespaces, &[]),
                &namespaces,
                crate::cluster::Limits::default(),
            )
            .await;
            assert!(cleaned.failed.is_empty(), "{:?}", cleaned.failed);
            let who = owner.map_or("someone else (not netverdict)".to_owned(), |run| {
                format!("netverdict run {run}")
            });
            let kept: Vec<String> = cleaned.kept.iter().map(ToString::to_string).collect();
            assert_eq!(
                kept,
                [format!(
                    "namespace shop3 left in place: it holds 1 object(s) of {who} (such as pod shop3/probe-y)"
                )]
            );
            let namespace = store.get(Resource::Namespaces, None, "shop3").unwrap();
            assert_eq!(namespace["status"]["phase"], "Active", "{namespace}");
            assert!(
                store
                    .get(Resource::NetworkPolicies, Some("shop3"), "deny")
                    .is_err(),
                "the run's own policy is deleted"
            );
        }
    }

    #[tokio::test]
    async fn a_namespace_left_with_only_the_runs_objects_is_deleted() {
        let store = Store::new();
        let (_server, client) = serve(&store).await;
        shop3(&store, Some("a"));
        let a = RunId::parse("a").unwrap();
        let namespaces = ["shop3".to_owned()];
        let cleaned = delete_run(
            &client,
            &a,
            (&namespaces, &[]),
            &namespaces,
            crate::cluster::Limits::default(),
        )
        .await;
        assert!(cleaned.kept.is_empty(), "{:?}", cleaned.kept);
        assert!(
            cleaned
                .deleted
                .iter()
                .any(|d| d.to_string() == "namespace shop3"),
            "{:?}",
            cleaned.deleted
        );
    }

    #[test]
    fn the_run_label_names_a_run() {
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>()
        };
        let ours = RunId::parse("b").unwrap().labels();
        assert_eq!(run_of(Some(&ours)), Some("b".to_owned()));
        // A mimic keeps the manager label of the workload it copies.
        let mimic = labels(&[(RUN_KEY, "b"), ("app.kubernetes.io/managed-by", "Helm")]);
        assert_eq!(run_of(Some(&mimic)), Some("b".to_owned()));
        assert_eq!(run_of(Some(&labels(&[("app", "web")]))), None);
        assert_eq!(run_of(None), None);
    }

    #[test]
    fn a_refusal_names_the_run_the_namespace_and_the_way_out() {
        let error = SharingError::InUse(Occupant {
            namespace: "shop3".to_owned(),
            run: "b".to_owned(),
            objects: (1..=5).map(|i| format!("pod shop3/p{i}")).collect(),
        });
        assert_eq!(
            error.to_string(),
            "namespace shop3 is in use by netverdict run b (pod shop3/p1, pod shop3/p2, pod \
             shop3/p3 and 2 more); runs that share a namespace change each other's verdicts and \
             cleanup: wait for that run to end (or remove what it kept with `netverdict cleanup \
             --run-id b`), use other namespace names, or pass --share-namespaces to share it \
             knowingly (nothing was created)"
        );
    }
}
