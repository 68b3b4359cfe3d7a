//! Creating a run's Services, NetworkPolicies and pods, labelled so that cleanup finds exactly
//! them.

use std::collections::BTreeMap;

use super::failure::Failure;
use super::labels::RunId;
use super::stored::{Altered, altered_fields};
use crate::k8s::{
    Api, Client, ConfigMap, NetworkPolicy, ObjectMeta, OwnerReference, Pod, PostParams, Service,
};

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
    /// The API server refused the create: the namespace is being deleted.
    #[error("cannot create {kind} {name}: namespace {namespace} is being terminated")]
    NamespaceTerminating {
        kind: &'static str,
        name: String,
        namespace: String,
    },
}

fn describe(changes: &[Altered]) -> String {
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether the API server refused a create because the namespace is being deleted (the
/// NamespaceLifecycle admission plugin's `403` with its `NamespaceTerminating` cause).
fn refused_as_terminating(status: &kube::core::Status) -> bool {
    let has_cause = status.details.as_ref().is_some_and(|details| {
        details
            .causes
            .iter()
            .any(|c| c.reason == "NamespaceTerminating")
    });
    status.code == 403 && (has_cause || status.message.contains("because it is being terminated"))
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
    run.label(object.meta_mut().labels.get_or_insert_with(BTreeMap::new));
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
        Err(kube::Error::Api(status)) if refused_as_terminating(&status) => {
            Err(CreateError::NamespaceTerminating {
                kind,
                name: format!("{namespace}/{name}"),
                namespace,
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
    match super::sharing::run_of(object.meta().labels.as_ref()) {
        Some(run) => format!("netverdict run {run}"),
        None => "someone else (not netverdict)".to_owned(),
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

/// The name of the ConfigMap that owns a run's mimics in a namespace.
pub(crate) fn owner_name(run: &RunId) -> String {
    format!("netverdict-{run}")
}

/// Creates the ConfigMap that owns the run's mimics in `namespace`, and returns the controller
/// reference they carry to it: a workload's controller then never adopts them (they have a
/// controller), and deleting it deletes them (garbage collection), also if the run is killed.
pub(crate) async fn create_owner(
    client: &Client,
    run: &RunId,
    namespace: &str,
) -> Result<OwnerReference, CreateError> {
    let owner = ConfigMap {
        metadata: ObjectMeta {
            name: Some(owner_name(run)),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            "about".to_owned(),
            format!(
                "Owns the probe pods of netverdict run {run} in this namespace (their controller, \
                 so that no workload controller adopts them); the run deletes it, and with it \
                 them. Remove what a killed run left with `netverdict cleanup --run-id {run}`."
            ),
        )])),
        ..ConfigMap::default()
    };
    let created = create_labelled(client, run, owner, "ConfigMap").await?;
    Ok(OwnerReference {
        api_version: "v1".to_owned(),
        kind: "ConfigMap".to_owned(),
        name: owner_name(run),
        uid: created.metadata.uid.unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}
