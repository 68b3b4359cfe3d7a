//! Typed reads and writes of the store for the controllers: k8s-openapi objects in, JSON out.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use netverdict_apiserver::{ApiError, Propagation, Resource, Selection, Store};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Every object of the resource, in every namespace, that decodes as `T`.
pub(crate) fn list<T: DeserializeOwned>(store: &Store, resource: Resource) -> Vec<T> {
    let Ok((items, _)) = store.list(resource, None, &Selection::default()) else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect()
}

fn to_json<T: Serialize>(object: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(object).map_err(|e| ApiError::internal(e.to_string()))
}

fn from_json<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::internal(e.to_string()))
}

/// Creates the object in `namespace`; returns it as stored.
pub(crate) fn create<T: Serialize + DeserializeOwned>(
    store: &Store,
    resource: Resource,
    namespace: &str,
    object: &T,
) -> Result<T, ApiError> {
    from_json(store.create(resource, Some(namespace), to_json(object)?)?)
}

/// Read-modify-write of the object `meta` names, as long as it is still the one with its uid
/// (as a patch with a uid precondition); the store writes only what changed.
pub(crate) fn update<T: Serialize + DeserializeOwned>(
    store: &Store,
    resource: Resource,
    meta: &ObjectMeta,
    f: impl FnOnce(&mut T),
) -> Result<T, ApiError> {
    let uid = uid(meta);
    let written = store.mutate(resource, Some(namespace(meta)), name(meta), |value| {
        if value
            .pointer("/metadata/uid")
            .and_then(serde_json::Value::as_str)
            != Some(uid)
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!("Precondition failed: UID in precondition: {uid}"),
            ));
        }
        let mut typed: T = from_json(value.clone())?;
        f(&mut typed);
        *value = to_json(&typed)?;
        Ok(())
    })?;
    from_json(written)
}

/// Deletes the object `meta` names if it is still the one with its uid.
pub(crate) fn delete(
    store: &Store,
    resource: Resource,
    meta: &ObjectMeta,
    propagation: Propagation,
) -> Result<(), ApiError> {
    let (namespace, name) = (Some(namespace(meta)), name(meta));
    let current = store.get(resource, namespace, name)?;
    if current
        .pointer("/metadata/uid")
        .and_then(serde_json::Value::as_str)
        != Some(uid(meta))
    {
        return Err(ApiError::not_found(&resource.qualified(), name));
    }
    store.delete_propagating(resource, namespace, name, None, propagation)?;
    Ok(())
}

pub(crate) fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

pub(crate) fn namespace(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or_default()
}

pub(crate) fn uid(meta: &ObjectMeta) -> &str {
    meta.uid.as_deref().unwrap_or_default()
}

pub(crate) fn deleting(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// The controller reference of an object (the owner reference with `controller: true`).
pub(crate) fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// `metav1.NewControllerRef`: the reference a controller puts on what it creates or adopts.
pub(crate) fn controller_ref(resource: Resource, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: resource.api_version().to_owned(),
        kind: resource.kind().to_owned(),
        name: name(owner).to_owned(),
        uid: uid(owner).to_owned(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Seconds since the epoch.
pub(crate) fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or_default())
        .unwrap_or_default()
}

/// Now, to the second (as the API's timestamps are).
pub(crate) fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::new(now_seconds(), 0).unwrap_or_default())
}

pub(crate) fn seconds(time: &Time) -> i64 {
    time.0.as_second()
}

/// The creation time of an object, in seconds (0 when unknown).
pub(crate) fn created(meta: &ObjectMeta) -> i64 {
    meta.creation_timestamp.as_ref().map_or(0, seconds)
}

/// The object's labels, as selectors match them.
pub(crate) fn labels(meta: &ObjectMeta) -> netverdict_engine::Labels {
    meta.labels.clone().unwrap_or_default()
}

/// The selector of a workload, or `None` when it is invalid (the API server does not store
/// such objects).
pub(crate) fn selector(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> Option<netverdict_engine::LabelSelector> {
    netverdict_engine::LabelSelector::from_k8s(selector, "spec.selector").ok()
}

/// The object an event is about.
pub(crate) fn event_ref(resource: Resource, meta: &ObjectMeta) -> crate::events::ObjectRef {
    crate::events::ObjectRef {
        kind: resource.kind(),
        namespace: namespace(meta).to_owned(),
        name: name(meta).to_owned(),
        uid: uid(meta).to_owned(),
    }
}

/// Zero as an absent field, as the API's `omitempty` counters show it.
pub(crate) fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// Whether a create failed because its namespace is being deleted (nothing to report then).
pub(crate) fn namespace_terminating(error: &ApiError) -> bool {
    error.code == 403
        && error
            .causes
            .iter()
            .any(|(field, _)| field == "metadata.namespace")
}

/// A count as an `int32` field holds it.
pub(crate) fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
