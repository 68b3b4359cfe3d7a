//! Create, read, update, patch and delete of objects and collections.

use axum::extract::Request;
use axum::response::Response;
use http::{Method, StatusCode, header};
use netverdict_engine::Quoted;
use serde_json::{Value, json};

use super::app::AppState;
use super::negotiate::{
    Query, Representation, decode_body, json_response, read_body, representation, resource_error,
};
use super::{table, watch};
use crate::error::ApiError;
use crate::patch::{PatchKind, apply_patch};
use crate::resource::Resource;
use crate::selector::Selection;
use crate::store::Propagation;

pub(super) fn selection(query: &Query) -> Selection {
    Selection {
        label_selector: query
            .get("labelSelector")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        field_selector: query
            .get("fieldSelector")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    }
}

/// The object as a `PartialObjectMetadata`.
pub(super) fn partial_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn method_not_allowed(method: &Method) -> ApiError {
    ApiError::method_not_allowed(format!(
        "the server does not allow this method on the requested resource ({method})"
    ))
}

pub(super) async fn collection(
    state: AppState,
    resource: Resource,
    namespace: Option<String>,
    query: Query,
    request: Request,
) -> Response {
    let result = match request.method().clone() {
        Method::GET | Method::HEAD if query.flag("watch") => {
            return watch::serve(state, resource, namespace, query, request.headers()).await;
        }
        Method::GET | Method::HEAD => list(
            &state,
            resource,
            namespace.as_deref(),
            &query,
            request.headers(),
        ),
        Method::POST => create(&state, resource, namespace.as_deref(), &query, request).await,
        Method::DELETE => {
            delete_collection(&state, resource, namespace.as_deref(), &query, request).await
        }
        other => Err(method_not_allowed(&other)),
    };
    match result {
        Ok(response) => response,
        Err(e) => resource_error(&e, resource, ""),
    }
}

fn list(
    state: &AppState,
    resource: Resource,
    namespace: Option<&str>,
    query: &Query,
    headers: &http::HeaderMap,
) -> Result<Response, ApiError> {
    let representation = representation(headers)?;
    let limit = query
        .integer("limit")?
        .filter(|l| *l > 0)
        .and_then(|l| usize::try_from(l).ok());
    let selected = selection(query);
    // The key of this list's pages: an absent selector differs from an empty one.
    let key = |s: &Option<String>| {
        s.as_deref()
            .map_or("-".to_owned(), |s| Quoted(s).to_string())
    };
    let list = format!(
        "{}/{}?{}&{}",
        resource.qualified(),
        namespace.unwrap_or_default(),
        key(&selected.label_selector),
        key(&selected.field_selector)
    );
    let page = match query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => state.pages.next(&list, token, limit)?,
        None => {
            let (items, rv) = state.store.list(resource, namespace, &selected)?;
            state.pages.first(&list, items, rv, limit)
        }
    };
    let (items, rv) = (page.items, page.resource_version);
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some((token, remaining)) = page.next {
        metadata["continue"] = json!(token);
        metadata["remainingItemCount"] = json!(remaining);
    }
    let mut body = match representation {
        Representation::Table => table::table(resource, &items, rv, query.get("includeObject")),
        Representation::PartialObjectMetadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "items": items.iter().map(partial_metadata).collect::<Vec<_>>(),
        }),
        Representation::Object => json!({
            "kind": resource.list_kind(),
            "apiVersion": resource.api_version(),
            "items": items,
        }),
    };
    body["metadata"] = metadata;
    Ok(json_response(StatusCode::OK, &body))
}

/// `fieldValidation`: `Strict` rejects unknown fields; `Warn` and the default drop them with a
/// warning each; `Ignore` drops them silently. Returns the warnings.
fn strict(resource: Resource, query: &Query, object: &Value) -> Result<Vec<String>, ApiError> {
    match query.get("fieldValidation") {
        Some("Strict") => {
            crate::validate::reject_unknown_fields(resource, object).map(|()| Vec::new())
        }
        None | Some("" | "Warn") => Ok(crate::validate::unknown_field_paths(resource, object)
            .into_iter()
            .map(|field| format!("unknown field \"{field}\""))
            .collect()),
        Some("Ignore") => Ok(Vec::new()),
        Some(other) => Err(ApiError::bad_request(format!(
            "fieldValidation: Unsupported value: {}: supported values: \"Ignore\", \"Strict\", \"Warn\"",
            Quoted(other)
        ))),
    }
}

/// Adds `Warning: 299 - "..."` headers, which kubectl and client-go print.
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = http::HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

fn dry_run(query: &Query) -> Result<bool, ApiError> {
    match query.get("dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "unsupported dry run value {}: only \"All\" is supported",
            Quoted(other)
        ))),
    }
}

async fn create(
    state: &AppState,
    resource: Resource,
    namespace: Option<&str>,
    query: &Query,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await?;
    let mut object = decode_body(&parts.headers, &body)?;
    let warnings = strict(resource, query, &object)?;
    admit(state, resource, namespace, &mut object).await?;
    if dry_run(query)? {
        let checked = state.store.check_create(resource, namespace, object)?;
        return Ok(with_warnings(
            json_response(StatusCode::CREATED, &checked),
            &warnings,
        ));
    }
    let created = state.store.create(resource, namespace, object)?;
    Ok(with_warnings(
        json_response(StatusCode::CREATED, &created),
        &warnings,
    ))
}

/// The admission plugins a create passes besides those the store applies.
async fn admit(
    state: &AppState,
    resource: Resource,
    namespace: Option<&str>,
    object: &mut Value,
) -> Result<(), ApiError> {
    // NamespaceLifecycle comes first: the store refuses a create in a namespace that does not
    // exist or is terminating, before any other plugin has a say.
    let active = namespace.is_some_and(|ns| {
        state
            .store
            .get(Resource::Namespaces, None, ns)
            .is_ok_and(|n| n.pointer("/metadata/deletionTimestamp").is_none())
    });
    match (resource, namespace) {
        (Resource::Pods, Some(namespace)) if active && state.options.service_account_admission => {
            crate::admission::admit_pod(&state.store, namespace, object).await
        }
        _ => Ok(()),
    }
}

/// What a `DeleteOptions` (the body, or the query) asks for.
struct DeleteRequest {
    grace: Option<i64>,
    preconditions: Value,
    propagation: Propagation,
}

/// The `DeleteOptions` of a delete of `resource`, whose dependents go as its kind's default
/// says when the request does not: batch/v1 Jobs orphan their pods, as kube-apiserver's Job
/// strategy says; every other kind deletes them in the background.
fn delete_options(
    resource: Resource,
    query: &Query,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<DeleteRequest, ApiError> {
    let options = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        decode_body(headers, body)?
    };
    let grace = match query.integer("gracePeriodSeconds")? {
        Some(g) => Some(g),
        None => options.get("gracePeriodSeconds").and_then(Value::as_i64),
    };
    let policy = query
        .get("propagationPolicy")
        .filter(|p| !p.is_empty())
        .or_else(|| options.get("propagationPolicy").and_then(Value::as_str));
    let orphan = match query.get("orphanDependents") {
        Some(flag) => Some(query.flag("orphanDependents") || flag.is_empty()),
        None => options.get("orphanDependents").and_then(Value::as_bool),
    };
    let propagation = match (policy, orphan) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "DeleteOptions.meta.k8s.io",
                "",
                vec![(
                    "propagationPolicy".into(),
                    "Invalid value: \"\": orphanDependents and deletionPropagation cannot be both set".into(),
                )],
            ));
        }
        (Some(policy), None) => Propagation::parse(policy)?,
        (None, Some(true)) => Propagation::Orphan,
        (None, Some(false)) => Propagation::Background,
        (None, None) if resource == Resource::Jobs => Propagation::Orphan,
        (None, None) => Propagation::Background,
    };
    Ok(DeleteRequest {
        grace,
        preconditions: options.get("preconditions").cloned().unwrap_or(Value::Null),
        propagation,
    })
}

async fn delete_collection(
    state: &AppState,
    resource: Resource,
    namespace: Option<&str>,
    query: &Query,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await?;
    let options = delete_options(resource, query, &parts.headers, &body)?;
    let deleted = state.store.delete_collection(
        resource,
        namespace,
        &selection(query),
        options.grace,
        options.propagation,
    )?;
    let body = json!({
        "kind": resource.list_kind(),
        "apiVersion": resource.api_version(),
        "metadata": {"resourceVersion": state.store.resource_version().to_string()},
        "items": deleted,
    });
    Ok(json_response(StatusCode::OK, &body))
}

pub(super) async fn object(
    state: AppState,
    resource: Resource,
    namespace: Option<String>,
    name: String,
    subresource: Option<String>,
    query: Query,
    request: Request,
) -> Response {
    let ns = namespace.as_deref();
    let method = request.method().clone();
    let result = match (subresource.as_deref(), method.clone()) {
        (None | Some("status"), Method::GET | Method::HEAD) => {
            if subresource.is_some() && !resource.has_status() {
                Err(ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ))
            } else {
                get(&state, resource, ns, &name, &query, request.headers())
            }
        }
        (None | Some("status"), Method::PUT) if subresource.is_none() || resource.has_status() => {
            put(
                &state,
                resource,
                ns,
                &name,
                subresource.is_some(),
                &query,
                request,
            )
            .await
        }
        (None | Some("status"), Method::PATCH)
            if subresource.is_none() || resource.has_status() =>
        {
            patch(
                &state,
                resource,
                ns,
                &name,
                subresource.is_some(),
                &query,
                request,
            )
            .await
        }
        (None, Method::DELETE) => delete(&state, resource, ns, &name, &query, request).await,
        (Some("scale"), Method::GET | Method::HEAD | Method::PUT | Method::PATCH)
            if resource.has_scale() =>
        {
            super::scale::handle(&state, resource, ns, &name, &query, request).await
        }
        (Some("scale"), other) if resource.has_scale() => Err(method_not_allowed(&other)),
        (Some("finalize"), Method::PUT) if resource == Resource::Namespaces => {
            finalize(&state, &name, request).await
        }
        (None | Some("status" | "finalize"), other) => Err(method_not_allowed(&other)),
        (Some(_), _) => Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    };
    match result {
        Ok(response) => response,
        Err(e) => resource_error(&e, resource, &name),
    }
}

fn get(
    state: &AppState,
    resource: Resource,
    namespace: Option<&str>,
    name: &str,
    query: &Query,
    headers: &http::HeaderMap,
) -> Result<Response, ApiError> {
    let representation = representation(headers)?;
    let object = state.store.get(resource, namespace, name)?;
    let body = match representation {
        Representation::Table => table::table(
            resource,
            std::slice::from_ref(&object),
            crate::store::object_resource_version(&object),
            query.get("includeObject"),
        ),
        Representation::PartialObjectMetadata => partial_metadata(&object),
        Representation::Object => object,
    };
    Ok(json_response(StatusCode::OK, &body))
}

async fn put(
    state: &AppState,
    resource: Resource,
    namespace: Option<&str>,
    name: &str,
    status_only: bool,
    query: &Query,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await?;
    let object = decode_body(&parts.headers, &body)?;
    if let Some(kind) = object.get("kind").and_then(Value::as_str)
        && kind != resource.kind()
    {
        return Err(ApiError::bad_request(format!(
            "the kind of the object ({kind}) does not match the resource ({})",
            resource.kind()
        )));
    }
    let warnings = strict(resource, query, &object)?;
    if dry_run(query)? {
        return Ok(with_warnings(
            json_response(
                StatusCode::OK,
                &state
                    .store
                    .check_update(resource, namespace, name, object, status_only)?,
            ),
            &warnings,
        ));
    }
    let updated = state
        .store
        .update(resource, namespace, name, object, status_only)?;
    Ok(with_warnings(
        json_response(StatusCode::OK, &updated),
        &warnings,
    ))
}

async fn patch(
    state: &AppState,
    resource: Resource,
    namespace: Option<&str>,
    name: &str,
    status_only: bool,
    query: &Query,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let kind = PatchKind::from_content_type(&content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(&content_type))?;
    let body = read_body(body).await?;
    let patch = decode_body(&parts.headers, &body)?;
    if kind == PatchKind::Apply && query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::invalid(
            "PatchOptions.meta.k8s.io",
            "",
            vec![(
                "fieldManager".into(),
                "Required value: is required for apply patch".into(),
            )],
        ));
    }
    let dry = dry_run(query)?;
    let pinned = patch
        .pointer("/metadata/resourceVersion")
        .is_some_and(|rv| !rv.is_null());
    // A patch applies to the newest object: retry when another writer got in between.
    for _ in 0..5 {
        let live = match state.store.get(resource, namespace, name) {
            Ok(live) => live,
            Err(e) if e.code == 404 && kind == PatchKind::Apply && !status_only => {
                let mut object = patch.clone();
                if object.get("metadata").is_none() {
                    object["metadata"] = json!({});
                }
                object["metadata"]["name"] = json!(name);
                let manager = query.get("fieldManager").unwrap_or_default();
                let owned = apply_ownership(resource, &json!({}), &mut object, &patch, manager);
                object["metadata"]["managedFields"] = owned;
                admit(state, resource, namespace, &mut object).await?;
                let created = if dry {
                    state.store.check_create(resource, namespace, object)?
                } else {
                    state.store.create(resource, namespace, object)?
                };
                return Ok(json_response(StatusCode::CREATED, &created));
            }
            Err(e) => return Err(e),
        };
        let mut patched = apply_patch(resource, kind, &live, patch.clone())?;
        let warnings = strict(resource, query, &patched)?;
        if kind == PatchKind::Apply && !status_only {
            let manager = query.get("fieldManager").unwrap_or_default();
            let owned = apply_ownership(resource, &live, &mut patched, &patch, manager);
            patched["metadata"]["managedFields"] = owned;
        }
        let result = if dry {
            state
                .store
                .check_update(resource, namespace, name, patched, status_only)
        } else {
            state
                .store
                .update(resource, namespace, name, patched, status_only)
        };
        match result {
            Ok(updated) => {
                return Ok(with_warnings(
                    json_response(StatusCode::OK, &updated),
                    &warnings,
                ));
            }
            Err(e) if e.code == 409 && e.reason == "Conflict" && !pinned => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(&resource.qualified(), name))
}

/// Server-side apply's field ownership: removes from `patched` what `manager` applied before and
/// no longer applies, and returns the `managedFields` recording what it applies now.
fn apply_ownership(
    resource: Resource,
    live: &Value,
    patched: &mut Value,
    config: &Value,
    manager: &str,
) -> Value {
    let entries: Vec<Value> = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let is_mine = |e: &Value| e["manager"] == manager && e["operation"] == "Apply";
    let empty = json!({});
    let previous = entries
        .iter()
        .find(|e| is_mine(e))
        .and_then(|e| e.get("fieldsV1"))
        .unwrap_or(&empty);
    let others: Vec<&Value> = entries
        .iter()
        .filter(|e| !is_mine(e) && e["operation"] == "Apply")
        .filter_map(|e| e.get("fieldsV1"))
        .collect();
    let current = crate::ssa::field_set(resource, config);
    crate::ssa::remove_stale(patched, previous, &current, &crate::ssa::union(&others));
    let mut kept: Vec<Value> = entries.iter().filter(|e| !is_mine(e)).cloned().collect();
    kept.push(json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": resource.api_version(),
        "time": crate::time::now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": current,
    }));
    Value::Array(kept)
}

async fn delete(
    state: &AppState,
    resource: Resource,
    namespace: Option<&str>,
    name: &str,
    query: &Query,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await?;
    let DeleteRequest {
        grace,
        preconditions,
        propagation,
    } = delete_options(resource, query, &parts.headers, &body)?;
    let current = state.store.get(resource, namespace, name)?;
    for (field, pointer) in [
        ("uid", "/metadata/uid"),
        ("resourceVersion", "/metadata/resourceVersion"),
    ] {
        if let Some(want) = preconditions.get(field).and_then(Value::as_str)
            && current.pointer(pointer).and_then(Value::as_str) != Some(want)
        {
            let has = current
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default();
            let label = if field == "uid" {
                "UID"
            } else {
                "ResourceVersion"
            };
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: {label} in precondition: {want}, {label} in object meta: {has}",
                    resource.qualified()
                ),
            ));
        }
    }
    if dry_run(query)? {
        return Ok(json_response(StatusCode::OK, &current));
    }
    let deleted = state
        .store
        .delete_propagating(resource, namespace, name, grace, propagation)?;
    let still_there = state.store.get(resource, namespace, name).is_ok();
    let returns_object = matches!(
        resource,
        Resource::Pods | Resource::Namespaces | Resource::Services
    );
    if still_there || returns_object {
        return Ok(json_response(StatusCode::OK, &deleted));
    }
    let status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": name,
            "group": resource.group(),
            "kind": resource.plural(),
            "uid": deleted.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
        },
    });
    Ok(json_response(StatusCode::OK, &status))
}

/// `PUT namespaces/{name}/finalize`: a terminating namespace whose finalizers are all removed goes.
async fn finalize(state: &AppState, name: &str, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await?;
    let object = decode_body(&parts.headers, &body)?;
    let finalizers = object
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or_else(|| json!([]));
    let updated = state.store.mutate(Resource::Namespaces, None, name, |ns| {
        ns["spec"]["finalizers"] = finalizers.clone();
        Ok(())
    })?;
    let empty = updated
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if empty && updated.pointer("/metadata/deletionTimestamp").is_some() {
        state
            .store
            .finalize_delete(Resource::Namespaces, None, name)?;
    }
    Ok(json_response(StatusCode::OK, &updated))
}
