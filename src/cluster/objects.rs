//! Creating a run's namespaces and NetworkPolicies, labelled so that cleanup finds exactly them.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;

use super::failure::Failure;
use super::labels::{MANAGED_BY_KEY, RUN_KEY, RunId};
use super::stored::{Altered, altered_fields};
use crate::k8s::{Api, Client, Namespace, NetworkPolicy, Pod, PostParams, Service};

#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateError {
    #[error("cannot {verb} {kind} {name}: {}", Failure::of(.source))]
    Api {
        /// What was attempted: `get` or `create`.
        verb: &'static str,
        kind: &'static str,
        name: String,
        source: kube::Error,
    },
    #[error(
        "{kind} {name} already exists and belongs to {owner}; netverdict does not touch objects it did not create"
    )]
    Foreign {
        kind: &'static str,
        name: String,
        owner: String,
    },
    #[error(
        "the API server ({server}) did not store {kind} {name} as sent: {}; it does not know \
         these fields, so what is in force is not what the scenario describes",
        describe(.changes)
    )]
    Altered {
        kind: &'static str,
        name: String,
        server: String,
        changes: Vec<Altered>,
    },
}

fn describe(changes: &[Altered]) -> String {
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether the run created a namespace (and so deletes it) or found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NamespaceOrigin {
    Created,
    Existing,
}

/// Creates namespace `name` with `labels` plus the run's labels, or uses it as it is when it
/// exists already (an existing namespace is never relabelled nor deleted).
pub(crate) async fn ensure_namespace(
    client: &Client,
    run: &RunId,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Result<NamespaceOrigin, CreateError> {
    let api = Api::<Namespace>::all(client.clone());
    let api_error = |verb| {
        move |source| CreateError::Api {
            verb,
            kind: "namespace",
            name: name.to_owned(),
            source,
        }
    };
    if api.get_opt(name).await.map_err(api_error("get"))?.is_some() {
        return Ok(NamespaceOrigin::Existing);
    }
    let mut all_labels = labels.clone();
    all_labels.extend(run.labels());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(all_labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match api.create(&PostParams::default(), &namespace).await {
        Ok(_) => Ok(NamespaceOrigin::Created),
        // Created by someone else between the look-up and now: use it, as any existing one.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(NamespaceOrigin::Existing),
        Err(source) => Err(api_error("create")(source)),
    }
}

/// Creates `policy` with the run's labels added. A policy of the same name that another run or a
/// person created is reported, never overwritten.
pub(crate) async fn create_policy(
    client: &Client,
    run: &RunId,
    policy: &NetworkPolicy,
) -> Result<(), CreateError> {
    let mut policy = policy.clone();
    policy.metadata.resource_version = None;
    create_labelled(client, run, policy, "NetworkPolicy")
        .await
        .map(drop)
}

/// Creates `object` in its namespace with the run's labels added and returns it as the API
/// stored it. An object of the same name is reported with its owner, never overwritten.
async fn create_labelled<K>(
    client: &Client,
    run: &RunId,
    mut object: K,
    kind: &'static str,
) -> Result<K, CreateError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    let namespace = object
        .meta()
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let name = object.meta().name.clone().unwrap_or_default();
    object
        .meta_mut()
        .labels
        .get_or_insert_with(BTreeMap::new)
        .extend(run.labels());
    let api = Api::<K>::namespaced(client.clone(), &namespace);
    match api.create(&PostParams::default(), &object).await {
        Ok(created) => {
            check_stored(client, &object, &created, kind, &namespace, &name).await?;
            Ok(created)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = api.get_opt(&name).await.ok().flatten();
            Err(CreateError::Foreign {
                kind,
                name: format!("{namespace}/{name}"),
                owner: existing
                    .as_ref()
                    .map(owner)
                    .unwrap_or_else(|| "someone else".to_owned()),
            })
        }
        Err(source) => Err(CreateError::Api {
            verb: "create",
            kind,
            name: format!("{namespace}/{name}"),
            source,
        }),
    }
}

/// Fails when the server dropped or changed a field of what was sent.
async fn check_stored<K: serde::Serialize>(
    client: &Client,
    sent: &K,
    stored: &K,
    kind: &'static str,
    namespace: &str,
    name: &str,
) -> Result<(), CreateError> {
    let (Ok(sent), Ok(stored)) = (serde_json::to_value(sent), serde_json::to_value(stored)) else {
        return Ok(());
    };
    let changes = altered_fields(&sent, &stored);
    if changes.is_empty() {
        return Ok(());
    }
    let server = match client.apiserver_version().await {
        Ok(info) => format!("Kubernetes {}", info.git_version),
        Err(_) => "version unknown".to_owned(),
    };
    Err(CreateError::Altered {
        kind,
        name: format!("{namespace}/{name}"),
        server,
        changes,
    })
}

/// Says who made an object, from its labels.
pub(crate) fn owner<K: kube::Resource>(object: &K) -> String {
    let labels = object.meta().labels.as_ref();
    match (
        labels
            .and_then(|l| l.get(MANAGED_BY_KEY))
            .map(String::as_str),
        labels.and_then(|l| l.get(RUN_KEY)),
    ) {
        (Some("netverdict"), Some(run)) => format!("netverdict run {run}"),
        _ => "someone else (not netverdict)".to_owned(),
    }
}

/// Creates `service` with the run's labels added and returns it as the API stored it (with its
/// ClusterIP).
pub(crate) async fn create_service(
    client: &Client,
    run: &RunId,
    service: &Service,
) -> Result<Service, CreateError> {
    create_labelled(client, run, service.clone(), "Service").await
}

/// Creates a probe pod with the run's labels.
pub(crate) async fn create_pod(client: &Client, run: &RunId, pod: &Pod) -> Result<(), CreateError> {
    create_labelled(client, run, pod.clone(), "pod")
        .await
        .map(drop)
}
