//! [`ApiServer`]: binds, routes every request, and shuts down cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{Method, StatusCode};
use tokio_util::sync::CancellationToken;

use super::negotiate::{Query, error_response, json_response};
use super::{discovery, exec, openapi, rest};
use crate::ExecHandler;
use crate::error::ApiError;
use crate::resource::Resource;
use crate::store::Store;

/// How an [`ApiServer`] behaves beyond what the store decides.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// How often a watch that allows bookmarks gets one.
    pub bookmark_interval: Duration,
    /// How long a watch without `timeoutSeconds` stays open.
    pub default_watch_timeout: Duration,
    /// The `gitVersion` `/version` reports.
    pub git_version: String,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(1800),
            git_version: "v1.33.0".to_owned(),
        }
    }
}

#[derive(Clone)]
pub(super) struct AppState {
    pub(super) store: Store,
    pub(super) exec: Arc<dyn ExecHandler>,
    pub(super) options: Arc<ServerOptions>,
    pub(super) shutdown: CancellationToken,
    pub(super) pages: Arc<super::pages::Pages>,
}

/// The HTTP server: binds to a loopback address and serves the store.
pub struct ApiServer {
    pub store: Store,
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// Starts serving on `bind` (port 0 picks a free port) with plain HTTP.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn start(
        store: Store,
        exec: Arc<dyn ExecHandler>,
        bind: SocketAddr,
    ) -> std::io::Result<ApiServer> {
        ApiServer::start_with_options(store, exec, bind, ServerOptions::default()).await
    }

    /// [`ApiServer::start`] with [`ServerOptions`].
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn start_with_options(
        store: Store,
        exec: Arc<dyn ExecHandler>,
        bind: SocketAddr,
        options: ServerOptions,
    ) -> std::io::Result<ApiServer> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let state = AppState {
            store: store.clone(),
            exec,
            options: Arc::new(options),
            shutdown: shutdown.clone(),
            pages: Arc::default(),
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "the API server stopped");
            }
        });
        Ok(ApiServer {
            store,
            addr,
            shutdown,
            task,
        })
    }

    /// The `http://127.0.0.1:PORT` clients use.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and ends open watches and exec streams.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        // Connections idle in keep-alive do not hold the server up for long.
        if tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            tracing::warn!("the API server did not stop within 5s");
        }
    }
}

/// A parsed request path.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route {
    Version,
    Health,
    CoreVersions,
    CoreResources,
    Groups,
    Group(String),
    GroupResources(String, String),
    OpenApiV2,
    OpenApiV3Root,
    OpenApiV3(String),
    Collection {
        resource: Resource,
        namespace: Option<String>,
    },
    Object {
        resource: Resource,
        namespace: Option<String>,
        name: String,
        subresource: Option<String>,
    },
}

pub(super) fn route(path: &str) -> Result<Route, ApiError> {
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, rest) = match segments.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["healthz" | "readyz" | "livez", ..] => return Ok(Route::Health),
        ["api"] => return Ok(Route::CoreVersions),
        ["api", "v1"] => return Ok(Route::CoreResources),
        ["apis"] => return Ok(Route::Groups),
        ["apis", group] => return Ok(Route::Group((*group).to_owned())),
        ["apis", group, version] => {
            return Ok(Route::GroupResources(
                (*group).to_owned(),
                (*version).to_owned(),
            ));
        }
        ["openapi", "v2"] => return Ok(Route::OpenApiV2),
        ["openapi", "v3"] => return Ok(Route::OpenApiV3Root),
        ["openapi", "v3", rest @ ..] => return Ok(Route::OpenApiV3(rest.join("/"))),
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, "v1", rest @ ..] => (*group, rest),
        _ => return Err(not_found()),
    };
    let resource = |plural: &str| Resource::from_plural(group, plural).ok_or_else(not_found);
    let object = |resource: Resource, namespace: Option<&str>, name: &str, sub: Option<&str>| {
        Route::Object {
            resource,
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
            subresource: sub.map(str::to_owned),
        }
    };
    let routed = match rest {
        [plural] => Route::Collection {
            resource: resource(plural)?,
            namespace: None,
        },
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            object(Resource::Namespaces, None, name, Some(sub))
        }
        ["namespaces", ns, plural] => {
            let resource = resource(plural)?;
            if !resource.namespaced() {
                return Err(not_found());
            }
            Route::Collection {
                resource,
                namespace: Some((*ns).to_owned()),
            }
        }
        ["namespaces", ns, plural, name] => object(resource(plural)?, Some(ns), name, None),
        ["namespaces", ns, plural, name, sub] => {
            object(resource(plural)?, Some(ns), name, Some(sub))
        }
        [plural, name] => object(resource(plural)?, None, name, None),
        [plural, name, sub] => object(resource(plural)?, None, name, Some(sub)),
        _ => return Err(not_found()),
    };
    if let Route::Object {
        resource,
        namespace,
        ..
    } = &routed
        && resource.namespaced() != namespace.is_some()
    {
        return Err(not_found());
    }
    Ok(routed)
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = match Query::parse(request.uri().query()) {
        Ok(query) => query,
        Err(e) => return error_response(&e, None),
    };
    tracing::debug!(%method, %path, "request");
    let routed = match route(&path) {
        Ok(routed) => routed,
        Err(e) => return error_response(&e, None),
    };
    let get_only = |response: Response| {
        if method == Method::GET || method == Method::HEAD {
            response
        } else {
            error_response(
                &ApiError::method_not_allowed(
                    "the server does not allow this method on the requested resource",
                ),
                None,
            )
        }
    };
    match routed {
        Route::Version => get_only(json_response(
            StatusCode::OK,
            &discovery::version(&state.options),
        )),
        Route::Health => get_only(
            Response::builder()
                .header("content-type", "text/plain")
                .body(Body::from("ok"))
                .expect("a valid response"),
        ),
        Route::CoreVersions => get_only(discovery::core_versions(request.headers())),
        Route::CoreResources => {
            get_only(json_response(StatusCode::OK, &discovery::resource_list("")))
        }
        Route::Groups => get_only(discovery::groups(request.headers())),
        Route::Group(group) => get_only(match discovery::group(&group) {
            Some(body) => json_response(StatusCode::OK, &body),
            None => error_response(
                &ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
                None,
            ),
        }),
        Route::GroupResources(group, version) => {
            get_only(if version == "v1" && discovery::group(&group).is_some() {
                json_response(StatusCode::OK, &discovery::resource_list(&group))
            } else {
                error_response(
                    &ApiError::new(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    ),
                    None,
                )
            })
        }
        Route::OpenApiV2 => get_only(openapi::v2(request.headers())),
        Route::OpenApiV3Root => get_only(json_response(StatusCode::OK, &openapi::v3_root())),
        Route::OpenApiV3(path) => get_only(openapi::v3(&path)),
        Route::Object {
            resource: Resource::Pods,
            namespace: Some(namespace),
            name,
            subresource: Some(sub),
        } if sub == "exec" => exec::handle(state, namespace, name, query, request).await,
        Route::Object {
            resource: Resource::Pods,
            namespace: Some(namespace),
            name,
            subresource: Some(sub),
        } if sub == "log" => exec::logs(state, namespace, name, query, request).await,
        Route::Collection {
            resource,
            namespace,
        } => rest::collection(state, resource, namespace, query, request).await,
        Route::Object {
            resource,
            namespace,
            name,
            subresource,
        } => {
            rest::object(
                state,
                resource,
                namespace,
                name,
                subresource,
                query,
                request,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let pods = |ns: Option<&str>| Route::Collection {
            resource: Resource::Pods,
            namespace: ns.map(str::to_owned),
        };
        assert_eq!(route("/api/v1/pods").unwrap(), pods(None));
        assert_eq!(
            route("/api/v1/namespaces/demo/pods").unwrap(),
            pods(Some("demo"))
        );
        assert_eq!(
            route("/api/v1/namespaces/demo/pods/p/exec").unwrap(),
            Route::Object {
                resource: Resource::Pods,
                namespace: Some("demo".into()),
                name: "p".into(),
                subresource: Some("exec".into())
            }
        );
        assert_eq!(
            route("/api/v1/namespaces/demo").unwrap(),
            Route::Object {
                resource: Resource::Namespaces,
                namespace: None,
                name: "demo".into(),
                subresource: None
            }
        );
        assert_eq!(
            route("/api/v1/namespaces/demo/status").unwrap(),
            Route::Object {
                resource: Resource::Namespaces,
                namespace: None,
                name: "demo".into(),
                subresource: Some("status".into())
            }
        );
        assert_eq!(
            route("/apis/networking.k8s.io/v1/namespaces/d/networkpolicies").unwrap(),
            Route::Collection {
                resource: Resource::NetworkPolicies,
                namespace: Some("d".into())
            }
        );
        for bad in [
            "/api/v1/widgets",
            "/api/v1/pods/p",
            "/api/v1/namespaces/d/nodes",
            "/apis/networking.k8s.io/v1/pods",
            "/nope",
        ] {
            assert_eq!(route(bad).unwrap_err().code, 404, "{bad}");
        }
    }
}
