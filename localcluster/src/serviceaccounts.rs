//! Two controllers of kube-controller-manager that every namespace relies on: the
//! ServiceAccount controller, which gives each namespace its `default` ServiceAccount, and the
//! root CA publisher, which gives each its `kube-root-ca.crt` ConfigMap holding the API's CA
//! (what a pod's projected token volume carries as `ca.crt`). Both make again what is deleted.
//!
//! A namespace watch makes them at once for a new namespace; a resync every few seconds makes
//! again what someone deleted. A terminating namespace gets nothing (the API refuses it anyway).

use std::sync::Arc;
use std::time::Duration;

use netverdict_apiserver::{ROOT_CA_CONFIG_MAP, Resource, Selection, WatchEvent};
use serde_json::{Value, json};

use crate::cluster::Ctx;

/// How often every namespace is checked again.
const RESYNC: Duration = Duration::from_secs(3);

/// What the root CA publisher writes into the ConfigMap's annotations, as kube-controller-manager does.
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Runs both controllers until the task is aborted.
pub(crate) async fn run(ctx: Arc<Ctx>) {
    let mut resync = tokio::time::interval(RESYNC);
    loop {
        let mut rx = match ctx
            .store
            .watch(Resource::Namespaces, None, &Selection::default(), None)
        {
            Ok(rx) => rx,
            Err(e) => {
                tracing::warn!(error = %e, "watch namespaces");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Some(WatchEvent::Added(ns) | WatchEvent::Modified(ns)) => provide(&ctx, &ns),
                    Some(_) => {}
                    None => break,
                },
                _ = resync.tick() => resync_all(&ctx),
            }
        }
    }
}

fn resync_all(ctx: &Ctx) {
    match ctx
        .store
        .list(Resource::Namespaces, None, &Selection::default())
    {
        Ok((namespaces, _)) => namespaces.iter().for_each(|ns| provide(ctx, ns)),
        Err(e) => tracing::warn!(error = %e, "list namespaces"),
    }
}

/// Makes what `namespace` lacks of its `default` ServiceAccount and its root CA ConfigMap.
fn provide(ctx: &Ctx, namespace: &Value) {
    if namespace.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let Some(name) = namespace.pointer("/metadata/name").and_then(Value::as_str) else {
        return;
    };
    let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                         "metadata": {"name": "default", "namespace": name}});
    ensure(ctx, Resource::ServiceAccounts, name, "default", account);
    if let Some(ca) = ctx.ca_pem.get() {
        let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ROOT_CA_CONFIG_MAP, "namespace": name,
                         "annotations": {"kubernetes.io/description": DESCRIPTION}},
            "data": {"ca.crt": ca}});
        ensure(
            ctx,
            Resource::ConfigMaps,
            name,
            ROOT_CA_CONFIG_MAP,
            config_map,
        );
    }
}

fn ensure(ctx: &Ctx, resource: Resource, namespace: &str, name: &str, object: Value) {
    if ctx.store.get(resource, Some(namespace), name).is_ok() {
        return;
    }
    match ctx.store.create(resource, Some(namespace), object) {
        // 409: made meanwhile; 403/404: the namespace is terminating or gone.
        Ok(_)
        | Err(netverdict_apiserver::ApiError {
            code: 403 | 404 | 409,
            ..
        }) => {}
        Err(e) => tracing::warn!(namespace, name, error = %e, "create {}", resource.singular()),
    }
}
