//! The `scale` subresource of Deployments, ReplicaSets and StatefulSets: an `autoscaling/v1`
//! `Scale` read from the object, and written back as its `spec.replicas` (`kubectl scale`).

use axum::extract::Request;
use axum::response::Response;
use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::app::AppState;
use super::negotiate::{Query, decode_body, json_response, read_body};
use crate::error::ApiError;
use crate::patch::{PatchKind, apply_patch};
use crate::resource::Resource;

/// The `Scale` of a workload: its desired replicas, the replicas it has, and its selector as
/// a label query.
pub(super) fn scale_of(object: &Value) -> Value {
    let meta = &object["metadata"];
    let selector = match super::table::format_label_selector(object.pointer("/spec/selector")) {
        none if none == "<none>" => String::new(),
        shown => shown,
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {
            "replicas": object.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// GET, PUT and PATCH of `{resource}/{name}/scale`.
pub(super) async fn handle(
    state: &AppState,
    resource: Resource,
    namespace: Option<&str>,
    name: &str,
    query: &Query,
    request: Request,
) -> Result<Response, ApiError> {
    let method = request.method().clone();
    let (parts, body) = request.into_parts();
    let live = state.store.get(resource, namespace, name)?;
    if method == Method::GET || method == Method::HEAD {
        return Ok(json_response(StatusCode::OK, &scale_of(&live)));
    }
    let body = read_body(body).await?;
    let given = decode_body(&parts.headers, &body)?;
    let wanted = if method == Method::PATCH {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let kind = PatchKind::from_content_type(content_type)
            .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
        let kind = if kind == PatchKind::Apply {
            PatchKind::Merge
        } else {
            kind
        };
        apply_patch(resource, kind, &scale_of(&live), given)?
    } else {
        given
    };
    let dry_run = query.get("dryRun") == Some("All");
    let updated = set_replicas(state, resource, namespace, name, &wanted, dry_run)?;
    Ok(json_response(StatusCode::OK, &scale_of(&updated)))
}

/// Writes the `Scale`'s replicas into the object, retrying when another writer got in between
/// (unless the `Scale` named the resourceVersion it was read at).
fn set_replicas(
    state: &AppState,
    resource: Resource,
    namespace: Option<&str>,
    name: &str,
    scale: &Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale.autoscaling",
            name,
            vec![(
                "spec.replicas".into(),
                format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            )],
        ));
    }
    let pinned = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|rv| !rv.is_empty());
    for _ in 0..5 {
        let mut object = state.store.get(resource, namespace, name)?;
        if let Some(rv) = pinned
            && object
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                != Some(rv)
        {
            return Err(ApiError::conflict(&resource.qualified(), name));
        }
        object["spec"]["replicas"] = json!(replicas);
        let result = if dry_run {
            state
                .store
                .check_update(resource, namespace, name, object, false)
        } else {
            state.store.update(resource, namespace, name, object, false)
        };
        match result {
            Err(e) if e.code == 409 && pinned.is_none() => continue,
            other => return other,
        }
    }
    Err(ApiError::conflict(&resource.qualified(), name))
}
