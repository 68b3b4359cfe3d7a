//! Emulated RBAC denials: a user the server was told has no roles gets, for every resource
//! request, the `403 Forbidden` Status kube-apiserver answers, worded as it words it.
//! Discovery and `/version` stay open, as `system:discovery` and `system:public-info-viewer`
//! allow them to every authenticated user.

use http::Method;

use super::app::Route;
use super::negotiate::error_response;
use crate::error::ApiError;
use axum::response::Response;

/// The 403 for `route`, or `None` when the route is not a resource request.
pub(super) fn forbidden(
    user: &str,
    method: &Method,
    query: Option<&str>,
    route: &Route,
) -> Option<Response> {
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
        _ => return None,
    };
    let watch = query.is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let verb = match (method, name, subresource) {
        (_, _, Some("exec")) => "create",
        (&Method::GET | &Method::HEAD, Some(_), _) => "get",
        (&Method::GET | &Method::HEAD, None, _) if watch => "watch",
        (&Method::GET | &Method::HEAD, None, _) => "list",
        (&Method::POST, _, _) => "create",
        (&Method::PUT, _, _) => "update",
        (&Method::PATCH, _, _) => "patch",
        (&Method::DELETE, Some(_), _) => "delete",
        (&Method::DELETE, None, _) => "deletecollection",
        _ => "get",
    };
    let plural = resource.plural();
    let group = resource.group();
    let requested = match subresource {
        Some(sub) => format!("{plural}/{sub}"),
        None => plural.to_owned(),
    };
    // kube-apiserver takes a namespace's own name as the namespace of the request.
    let namespace = match (plural, namespace, name) {
        ("namespaces", None, Some(name)) => Some(name),
        _ => namespace,
    };
    let scope = match namespace {
        Some(namespace) => format!("in the namespace {namespace:?}"),
        None => "at the cluster scope".to_owned(),
    };
    let reason = format!(
        "User {user:?} cannot {verb} resource {requested:?} in API group {group:?} {scope}"
    );
    let qualified = if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    };
    let message = match name {
        Some(name) => format!("{qualified} {name:?} is forbidden: {reason}"),
        None => format!("{qualified} is forbidden: {reason}"),
    };
    Some(error_response(
        &ApiError::forbidden(message),
        Some((name.unwrap_or(""), group, plural)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Resource;

    async fn message(response: Response) -> serde_json::Value {
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        serde_json::from_slice(&body).expect("a Status")
    }

    #[tokio::test]
    async fn words_denials_as_kube_apiserver_does() {
        let get = Route::Object {
            resource: Resource::Namespaces,
            namespace: None,
            name: "afp".to_owned(),
            subresource: None,
        };
        let status = message(forbidden("limited", &Method::GET, None, &get).expect("a 403")).await;
        assert_eq!(status["code"], 403);
        assert_eq!(status["reason"], "Forbidden");
        assert_eq!(
            status["message"],
            r#"namespaces "afp" is forbidden: User "limited" cannot get resource "namespaces" in API group "" in the namespace "afp""#
        );
        let list = Route::Collection {
            resource: Resource::NetworkPolicies,
            namespace: Some("shop".to_owned()),
        };
        let status =
            message(forbidden("limited", &Method::GET, Some("watch=true"), &list).expect("a 403"))
                .await;
        assert_eq!(
            status["message"],
            r#"networkpolicies.networking.k8s.io is forbidden: User "limited" cannot watch resource "networkpolicies" in API group "networking.k8s.io" in the namespace "shop""#
        );
        assert!(forbidden("limited", &Method::GET, None, &Route::Version).is_none());
    }
}
