//! Removing what runs created: by label, so only netverdict's own objects are touched.

use std::time::Duration;

use futures::future::join_all;

use super::failure::Failure;
use super::labels::{RunId, all_runs_selector};
use super::sharing::others_objects;
use crate::k8s::{Api, Client, DeleteParams, ListParams, Namespace, NetworkPolicy, Pod, Service};

/// What a cleanup removed, and what it could not.
#[derive(Debug, Default)]
pub(crate) struct Cleaned {
    pub(crate) deleted: Vec<String>,
    pub(crate) failed: Vec<String>,
    /// Namespaces the run created but left in place: others' objects are in them.
    pub(crate) kept: Vec<Kept>,
}

/// A namespace cleanup left in place, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kept {
    pub(crate) namespace: String,
    pub(crate) why: String,
}

impl std::fmt::Display for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "namespace {} left in place: {}",
            self.namespace, self.why
        )
    }
}

impl Cleaned {
    fn record<T>(&mut self, what: String, result: Result<T, kube::Error>) {
        match result {
            Ok(_) => self.deleted.push(what),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => self
                .failed
                .push(format!("deleting {what}: {}", Failure::of(&error))),
        }
    }
}

/// A delete of a namespace that is already terminating is answered `409 Conflict` ("The system
/// is ensuring all content is removed from this namespace"): it is going, as asked.
fn going<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error),
    }
}

/// Deletes the run's policies, pods and Services in `namespaces`, then the namespaces in `created`
/// that hold no pod, Service or NetworkPolicy of anyone else (another run, or not netverdict), and
/// waits (up to `limit`) until the run's pods are gone.
///
/// # Caveats
/// An object someone creates between the look and the delete goes with the namespace.
pub(crate) async fn delete_run(
    client: &Client,
    run: &RunId,
    namespaces: &[String],
    created: &[String],
    limit: Duration,
) -> Cleaned {
    let mut cleaned = Cleaned::default();
    let selector = ListParams::default().labels(&run.selector());
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    // One delete per object rather than deletecollection: the manifests grant `delete` only.
    for namespace in namespaces {
        let policies = Api::<NetworkPolicy>::namespaced(client.clone(), namespace);
        delete_each(
            &policies,
            &selector,
            &DeleteParams::default(),
            "NetworkPolicy",
            &mut cleaned,
        )
        .await;
        let pods = Api::<Pod>::namespaced(client.clone(), namespace);
        delete_each(&pods, &selector, &now, "pod", &mut cleaned).await;
        let services = Api::<Service>::namespaced(client.clone(), namespace);
        delete_each(
            &services,
            &selector,
            &DeleteParams::default(),
            "service",
            &mut cleaned,
        )
        .await;
    }
    let namespaces_api = Api::<Namespace>::all(client.clone());
    for namespace in created {
        match others_objects(client, run, namespace).await {
            Ok(others) if others.is_empty() => {}
            Ok(others) => {
                cleaned.kept.push(kept_because(namespace, &others));
                continue;
            }
            Err(error) => {
                cleaned
                    .failed
                    .push(format!("namespace {namespace} left in place: {error}"));
                continue;
            }
        }
        let result = namespaces_api
            .delete(namespace, &DeleteParams::default())
            .await;
        cleaned.record(format!("namespace {namespace}"), going(result));
    }
    let waits = namespaces.iter().map(|namespace| {
        let pods = Api::<Pod>::namespaced(client.clone(), namespace);
        let selector = selector.clone();
        async move {
            let deadline = tokio::time::Instant::now() + limit;
            loop {
                match pods.list(&selector).await {
                    Ok(list) if list.items.is_empty() => return None,
                    Err(error) => {
                        return Some(format!(
                            "listing pods in {namespace}: {}",
                            Failure::of(&error)
                        ));
                    }
                    Ok(list) if tokio::time::Instant::now() >= deadline => {
                        return Some(format!(
                            "{} pod(s) of the run still terminating in {namespace}",
                            list.items.len()
                        ));
                    }
                    Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
    });
    cleaned
        .failed
        .extend(join_all(waits).await.into_iter().flatten());
    cleaned
}

/// Deletes every object of `api`'s namespace that `selector` selects, one by one.
async fn delete_each<K>(
    api: &Api<K>,
    selector: &ListParams,
    delete: &DeleteParams,
    kind: &str,
    cleaned: &mut Cleaned,
) where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    match api.list(selector).await {
        Ok(list) => {
            for object in list.items {
                let namespace = object.meta().namespace.clone().unwrap_or_default();
                let name = object.meta().name.clone().unwrap_or_default();
                let result = api.delete(&name, delete).await;
                cleaned.record(format!("{kind} {namespace}/{name}"), result);
            }
        }
        Err(error) => cleaned
            .failed
            .push(format!("listing {kind}s: {}", Failure::of(&error))),
    }
}

/// Why a namespace the run created stays: whose objects are still in it.
fn kept_because(namespace: &str, others: &[(String, Option<String>)]) -> Kept {
    let owners: std::collections::BTreeSet<String> = others
        .iter()
        .map(|(_, run)| match run {
            Some(run) => format!("netverdict run {run}"),
            None => "someone else (not netverdict)".to_owned(),
        })
        .collect();
    let first = others
        .first()
        .map(|(object, _)| object.as_str())
        .unwrap_or_default();
    Kept {
        namespace: namespace.to_owned(),
        why: format!(
            "it holds {} object(s) of {} (such as {first})",
            others.len(),
            owners.into_iter().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Deletes what killed runs left behind anywhere in the cluster: every NetworkPolicy, pod,
/// Service and namespace labelled by netverdict (only those of `run` when given).
pub(crate) async fn delete_leftovers(client: &Client, run: Option<&RunId>) -> Cleaned {
    let selector = run.map_or_else(all_runs_selector, RunId::selector);
    let params = ListParams::default().labels(&selector);
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    let mut cleaned = Cleaned::default();
    delete_labelled::<NetworkPolicy>(
        client,
        &params,
        &DeleteParams::default(),
        "NetworkPolicy",
        &mut cleaned,
    )
    .await;
    delete_labelled::<Pod>(client, &params, &now, "pod", &mut cleaned).await;
    delete_labelled::<Service>(
        client,
        &params,
        &DeleteParams::default(),
        "service",
        &mut cleaned,
    )
    .await;
    let namespaces = Api::<Namespace>::all(client.clone());
    match namespaces.list(&params).await {
        Ok(list) => {
            for namespace in list.items {
                let name = namespace.metadata.name.unwrap_or_default();
                let result = namespaces.delete(&name, &DeleteParams::default()).await;
                cleaned.record(format!("namespace {name}"), going(result));
            }
        }
        Err(error) => cleaned
            .failed
            .push(format!("listing namespaces: {}", Failure::of(&error))),
    }
    cleaned
}

/// Deletes every namespaced object of kind `K` that `params` selects, in all namespaces.
async fn delete_labelled<K>(
    client: &Client,
    params: &ListParams,
    delete: &DeleteParams,
    kind: &str,
    cleaned: &mut Cleaned,
) where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    match Api::<K>::all(client.clone()).list(params).await {
        Ok(list) => {
            for object in list.items {
                let namespace = object.meta().namespace.clone().unwrap_or_default();
                let name = object.meta().name.clone().unwrap_or_default();
                let result = Api::<K>::namespaced(client.clone(), &namespace)
                    .delete(&name, delete)
                    .await;
                cleaned.record(format!("{kind} {namespace}/{name}"), result);
            }
        }
        Err(error) => cleaned
            .failed
            .push(format!("listing {kind}s: {}", Failure::of(&error))),
    }
}
