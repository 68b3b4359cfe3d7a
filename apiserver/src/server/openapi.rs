//! OpenAPI documents: the `/openapi/v3` discovery root and one document per group version with
//! each kind's paths and a schema carrying `x-kubernetes-group-version-kind`.
//!
//! kubectl reads them to learn that PATCH takes `fieldValidation` (so it validates on the
//! server rather than downloading schemas) and whether a kind takes strategic merge patches;
//! the documents do not offer them, so kubectl computes its patches from its compiled-in types,
//! which it does for built-in kinds anyway. `/openapi/v2` (protobuf only) is not served.

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::discovery::GROUPS;
use super::negotiate::{error_response, json_response};
use crate::error::ApiError;
use crate::resource::Resource;

fn not_found() -> Response {
    error_response(
        &ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
        None,
    )
}

pub(super) fn v2(_headers: &HeaderMap) -> Response {
    not_found()
}

/// `api/v1`, `apis/networking.k8s.io/v1`, …
fn group_version_paths() -> Vec<(String, &'static str)> {
    let mut out = vec![("api/v1".to_owned(), "")];
    out.extend(GROUPS.iter().map(|g| (format!("apis/{g}/v1"), *g)));
    out
}

pub(super) fn v3_root() -> Value {
    let mut paths = Map::new();
    for (path, _) in group_version_paths() {
        let url = format!("/openapi/v3/{path}?hash={}", document_hash(&path));
        paths.insert(path, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// A stable hash of a document, for the `hash` query parameter clients cache by.
fn document_hash(path: &str) -> String {
    let text = document(path).map(|d| d.to_string()).unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016X}")
}

pub(super) fn v3(path: &str) -> Response {
    match document(path) {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => not_found(),
    }
}

fn schema_name(resource: Resource) -> String {
    let package = match resource.group() {
        "" => "core",
        "networking.k8s.io" => "networking",
        "discovery.k8s.io" => "discovery",
        "rbac.authorization.k8s.io" => "rbac",
        "authorization.k8s.io" => "authorization",
        "apps" => "apps",
        other => other,
    };
    format!("io.k8s.api.{package}.v1.{}", resource.kind())
}

fn document(path: &str) -> Option<Value> {
    let (_, group) = group_version_paths().into_iter().find(|(p, _)| p == path)?;
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into(), json!({"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}));
    schemas.insert("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".into(), json!({"type": "object", "description": "ObjectMeta is metadata that all persisted resources must have."}));
    let query = |name: &str, description: &str, kind: &str| json!({"name": name, "in": "query", "description": description, "schema": {"type": kind, "uniqueItems": true}});
    for resource in Resource::ALL.into_iter().filter(|r| r.group() == group) {
        let gvk = json!({"group": group, "version": "v1", "kind": resource.kind()});
        let schema_ref = json!({"$ref": format!("#/components/schemas/{}", schema_name(resource))});
        let prefix = if group.is_empty() {
            "/api/v1".to_owned()
        } else {
            format!("/apis/{group}/v1")
        };
        let item_path = if resource.namespaced() {
            format!(
                "{prefix}/namespaces/{{namespace}}/{}/{{name}}",
                resource.plural()
            )
        } else {
            format!("{prefix}/{}/{{name}}", resource.plural())
        };
        let patch_body = json!({"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}});
        let mut parameters = vec![
            json!({"name": "name", "in": "path", "required": true, "description": format!("name of the {}", resource.kind()), "schema": {"type": "string", "uniqueItems": true}}),
        ];
        if resource.namespaced() {
            parameters.push(json!({"name": "namespace", "in": "path", "required": true, "description": "object name and auth scope, such as for teams and projects", "schema": {"type": "string", "uniqueItems": true}}));
        }
        let op_name = format!(
            "{}{}",
            if group.is_empty() {
                "CoreV1"
            } else {
                match group {
                    "networking.k8s.io" => "NetworkingV1",
                    "rbac.authorization.k8s.io" => "RbacAuthorizationV1",
                    "authorization.k8s.io" => "AuthorizationV1",
                    "apps" => "AppsV1",
                    _ => "DiscoveryV1",
                }
            },
            if resource.namespaced() {
                format!("Namespaced{}", resource.kind())
            } else {
                resource.kind().to_owned()
            }
        );
        paths.insert(
            item_path,
            json!({
                "get": {
                    "description": format!("read the specified {}", resource.kind()),
                    "operationId": format!("read{op_name}"),
                    "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}},
                    "x-kubernetes-action": "get",
                    "x-kubernetes-group-version-kind": gvk,
                },
                "patch": {
                    "description": format!("partially update the specified {}", resource.kind()),
                    "operationId": format!("patch{op_name}"),
                    "parameters": [
                        query("dryRun", "When present, indicates that modifications should not be persisted.", "string"),
                        query("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes.", "string"),
                        query("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields.", "string"),
                        query("force", "Force is going to \"force\" Apply requests.", "boolean"),
                    ],
                    "requestBody": {"content": {
                        "application/apply-patch+yaml": patch_body,
                        "application/json-patch+json": patch_body,
                        "application/merge-patch+json": patch_body,
                    }, "required": true},
                    "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}},
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": gvk,
                },
                "parameters": parameters,
            }),
        );
        schemas.insert(
            schema_name(resource),
            json!({
                "type": "object",
                "description": format!("{} as served by this API server.", resource.kind()),
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}], "default": {}},
                },
                "x-kubernetes-group-version-kind": [gvk],
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}
