//! Authorization of every request with RBAC ([`crate::authz`]), kube-apiserver's `403
//! Forbidden` for a denied one, and the access reviews (`SelfSubjectAccessReview`,
//! `SelfSubjectRulesReview`) that answer for the requesting user, which `kubectl auth can-i`
//! asks.
//!
//! A request is described as kube-apiserver's `RequestInfo` describes it: GET on a collection is
//! `list` (`watch` with `?watch=true`), on an object `get`; POST `create`, PUT `update`, PATCH
//! `patch`, DELETE `delete` (`deletecollection` on a collection); a namespace's own name is the
//! namespace of a request on it. Exec over POST (SPDY) is `create` on `pods/exec`; over GET (a
//! WebSocket upgrade) it is `get`, and, as kube-apiserver 1.35 and later check it (feature
//! `AuthorizePodWebsocketUpgradeCreatePermission`, on by default), also `create`
//! ([`super::ServerOptions::websocket_exec_requires_create`]). It is on by default whatever
//! version `/version` reports, so that a Role that works here works on every version.

use axum::extract::Request;
use axum::response::Response;
use http::{Method, StatusCode};
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::{Value, json};

use super::app::{AppState, Route};
use super::negotiate::{Query, decode_body, error_response, json_response, read_body};
use crate::auth::UserInfo;
use crate::authz::{Attributes, Policy, Target, forbidden_message};
use crate::error::ApiError;
use crate::resource::Resource;
use crate::selector::Selection;
use crate::store::Store;

/// The attributes of a request to `route` (at `path`).
pub(super) fn attributes(method: &Method, path: &str, query: &Query, route: &Route) -> Attributes {
    let (resource, namespace, name, subresource) = match route {
        Route::Collection {
            resource,
            namespace,
        } => (*resource, namespace.as_deref(), None, None),
        Route::Object {
            resource,
            namespace,
            name,
            subresource,
        } => (
            *resource,
            namespace.as_deref(),
            Some(name.as_str()),
            subresource.as_deref(),
        ),
        _ => {
            return Attributes {
                verb: method.as_str().to_ascii_lowercase(),
                target: Target::Path(path.to_owned()),
            };
        }
    };
    let verb = match (method, name) {
        (&Method::GET | &Method::HEAD, _) if query.flag("watch") => "watch",
        (&Method::GET | &Method::HEAD, Some(_)) => "get",
        (&Method::GET | &Method::HEAD, None) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, Some(_)) => "delete",
        (&Method::DELETE, None) => "deletecollection",
        (other, _) => {
            return resource_attributes(
                &other.as_str().to_ascii_lowercase(),
                resource,
                namespace,
                name,
                subresource,
            );
        }
    };
    resource_attributes(verb, resource, namespace, name, subresource)
}

fn resource_attributes(
    verb: &str,
    resource: Resource,
    namespace: Option<&str>,
    name: Option<&str>,
    subresource: Option<&str>,
) -> Attributes {
    let namespace = match (resource, namespace, name) {
        (Resource::Namespaces, None, Some(name)) => Some(name),
        _ => namespace,
    };
    Attributes {
        verb: verb.to_owned(),
        target: Target::Resource {
            api_group: resource.group().to_owned(),
            resource: resource.plural().to_owned(),
            subresource: subresource.unwrap_or_default().to_owned(),
            namespace: namespace.unwrap_or_default().to_owned(),
            name: name.unwrap_or_default().to_owned(),
        },
    }
}

fn typed<T: serde::de::DeserializeOwned>(store: &Store, resource: Resource) -> Vec<T> {
    store
        .list(resource, None, &Selection::default())
        .map(|(items, _)| items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect()
}

/// The RBAC objects the store holds now.
pub(super) fn policy(store: &Store) -> Policy {
    Policy {
        roles: typed(store, Resource::Roles),
        cluster_roles: typed(store, Resource::ClusterRoles),
        role_bindings: typed(store, Resource::RoleBindings),
        cluster_role_bindings: typed(store, Resource::ClusterRoleBindings),
    }
}

/// kube-apiserver's `403 Forbidden` Status for a denied request, also logged (`denied: ...`, at
/// info), so that a request a client gave up on silently can still be found.
pub(super) fn forbidden(user: &str, attributes: &Attributes) -> Response {
    let message = forbidden_message(user, attributes);
    tracing::info!("denied: {message}");
    match &attributes.target {
        Target::Resource {
            api_group,
            resource,
            name,
            ..
        } => error_response(
            &ApiError::forbidden(message),
            Some((name.as_str(), api_group.as_str(), resource.as_str())),
        ),
        Target::Path(_) => error_response(&ApiError::forbidden(message), None),
    }
}

/// The 403 when `user` may not send this request.
pub(super) fn denial(
    state: &AppState,
    user: &UserInfo,
    method: &Method,
    path: &str,
    query: &Query,
    route: &Route,
) -> Option<Response> {
    let attributes = attributes(method, path, query, route);
    let resource_request = matches!(attributes.target, Target::Resource { .. });
    if resource_request && state.options.users_without_roles.contains(&user.name) {
        return Some(forbidden(&user.name, &attributes));
    }
    let policy = policy(&state.store);
    if policy.authorize(user, &attributes).is_none() {
        return Some(forbidden(&user.name, &attributes));
    }
    let websocket_exec = matches!(
        route,
        Route::Object { resource: Resource::Pods, subresource: Some(sub), .. } if sub == "exec"
    ) && attributes.verb == "get";
    if websocket_exec && state.options.websocket_exec_requires_create {
        let create = Attributes {
            verb: "create".to_owned(),
            ..attributes
        };
        if policy.authorize(user, &create).is_none() {
            return Some(forbidden(&user.name, &create));
        }
    }
    None
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The review's `spec` as attributes.
fn review_attributes(spec: &Value) -> Result<Attributes, ApiError> {
    if let Some(resource) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        return Ok(Attributes {
            verb: text(resource, "/verb").to_owned(),
            target: Target::Resource {
                api_group: text(resource, "/group").to_owned(),
                resource: text(resource, "/resource").to_owned(),
                subresource: text(resource, "/subresource").to_owned(),
                namespace: text(resource, "/namespace").to_owned(),
                name: text(resource, "/name").to_owned(),
            },
        });
    }
    if let Some(path) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        return Ok(Attributes {
            verb: text(path, "/verb").to_owned(),
            target: Target::Path(text(path, "/path").to_owned()),
        });
    }
    Err(ApiError::invalid(
        "SelfSubjectAccessReview",
        "",
        vec![(
            "spec.resourceAttributes".into(),
            "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
        )],
    ))
}

async fn review_body(request: Request) -> Result<Value, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await?;
    decode_body(&parts.headers, &body)
}

fn review_response(mut review: Value, resource: Resource, status: Value) -> Response {
    review["apiVersion"] = json!(resource.api_version());
    review["kind"] = json!(resource.kind());
    if !review.get("metadata").is_some_and(Value::is_object) {
        review["metadata"] = json!({});
    }
    review["metadata"]["creationTimestamp"] = Value::Null;
    review["status"] = status;
    json_response(StatusCode::CREATED, &review)
}

/// `POST selfsubjectaccessreviews`: whether the requesting user may do what the spec says.
pub(super) async fn access_review(state: &AppState, user: &UserInfo, request: Request) -> Response {
    let result = async {
        let review = review_body(request).await?;
        let attributes = review_attributes(review.get("spec").unwrap_or(&Value::Null))?;
        let status = match policy(&state.store).authorize(user, &attributes) {
            Some(reason) => json!({"allowed": true, "reason": reason}),
            None => json!({"allowed": false}),
        };
        Ok::<_, ApiError>(review_response(
            review,
            Resource::SelfSubjectAccessReviews,
            status,
        ))
    };
    result.await.unwrap_or_else(|e| error_response(&e, None))
}

fn rule_json(rule: &PolicyRule) -> Value {
    if rule
        .non_resource_urls
        .as_ref()
        .is_some_and(|u| !u.is_empty())
    {
        return json!({"verbs": rule.verbs, "nonResourceURLs": rule.non_resource_urls});
    }
    let mut out = json!({
        "verbs": rule.verbs,
        "apiGroups": rule.api_groups.clone().unwrap_or_default(),
        "resources": rule.resources.clone().unwrap_or_default(),
    });
    if let Some(names) = rule.resource_names.as_ref().filter(|n| !n.is_empty()) {
        out["resourceNames"] = json!(names);
    }
    out
}

/// `POST selfsubjectrulesreviews`: the rules that apply to the requesting user in a namespace.
pub(super) async fn rules_review(state: &AppState, user: &UserInfo, request: Request) -> Response {
    let result = async {
        let review = review_body(request).await?;
        let namespace = text(&review, "/spec/namespace").to_owned();
        let (mut resource_rules, mut path_rules) = (Vec::new(), Vec::new());
        for (rules, _) in policy(&state.store).grants(user, &namespace) {
            for rule in &rules {
                if rule
                    .non_resource_urls
                    .as_ref()
                    .is_some_and(|u| !u.is_empty())
                {
                    path_rules.push(rule_json(rule));
                } else {
                    resource_rules.push(rule_json(rule));
                }
            }
        }
        let status = json!({
            "resourceRules": resource_rules,
            "nonResourceRules": path_rules,
            "incomplete": false,
        });
        Ok::<_, ApiError>(review_response(
            review,
            Resource::SelfSubjectRulesReviews,
            status,
        ))
    };
    result.await.unwrap_or_else(|e| error_response(&e, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::app::route;

    fn verb_of(method: Method, path_and_query: &str) -> Attributes {
        let (path, query) = path_and_query
            .split_once('?')
            .map_or((path_and_query, None), |(p, q)| (p, Some(q)));
        let query = Query::parse(query).expect("a query");
        let routed = route(path).expect("a route");
        attributes(&method, path, &query, &routed)
    }

    fn described(a: &Attributes) -> String {
        match &a.target {
            Target::Resource {
                api_group,
                resource,
                subresource,
                namespace,
                name,
            } => format!(
                "{} {api_group}/{resource}/{subresource} {namespace}/{name}",
                a.verb
            ),
            Target::Path(path) => format!("{} path {path}", a.verb),
        }
    }

    #[test]
    fn requests_map_to_verbs_as_request_info_maps_them() {
        let pods = "/api/v1/namespaces/shop/pods";
        let cases = [
            (Method::GET, pods.to_owned(), "list /pods/ shop/"),
            (
                Method::GET,
                format!("{pods}?watch=true"),
                "watch /pods/ shop/",
            ),
            (Method::GET, format!("{pods}/web"), "get /pods/ shop/web"),
            (Method::POST, pods.to_owned(), "create /pods/ shop/"),
            (Method::PUT, format!("{pods}/web"), "update /pods/ shop/web"),
            (
                Method::PATCH,
                format!("{pods}/web"),
                "patch /pods/ shop/web",
            ),
            (
                Method::DELETE,
                format!("{pods}/web"),
                "delete /pods/ shop/web",
            ),
            (
                Method::DELETE,
                pods.to_owned(),
                "deletecollection /pods/ shop/",
            ),
            (
                Method::POST,
                format!("{pods}/web/exec"),
                "create /pods/exec shop/web",
            ),
            (
                Method::GET,
                format!("{pods}/web/exec"),
                "get /pods/exec shop/web",
            ),
            (
                Method::GET,
                format!("{pods}/web/log"),
                "get /pods/log shop/web",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/shop".to_owned(),
                "get /namespaces/ shop/shop",
            ),
            (
                Method::PUT,
                "/api/v1/namespaces/shop/finalize".to_owned(),
                "update /namespaces/finalize shop/shop",
            ),
            (
                Method::GET,
                "/api/v1/namespaces".to_owned(),
                "list /namespaces/ /",
            ),
            (
                Method::POST,
                "/api/v1/namespaces/shop/serviceaccounts/sa/token".to_owned(),
                "create /serviceaccounts/token shop/sa",
            ),
            (
                Method::GET,
                "/apis/rbac.authorization.k8s.io/v1/clusterroles".to_owned(),
                "list rbac.authorization.k8s.io/clusterroles/ /",
            ),
            (Method::GET, "/version".to_owned(), "get path /version"),
            (Method::GET, "/apis".to_owned(), "get path /apis"),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                described(&verb_of(method.clone(), &path)),
                expected,
                "{method} {path}"
            );
        }
    }
}
