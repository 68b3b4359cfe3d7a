//! [`ApiServer`]: binds, routes every request, and shuts down cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::negotiate::{Query, error_response, json_response};
use super::{discovery, exec, openapi, rest};
use crate::ExecHandler;
use crate::auth::{
    AnyOf, Authentication, Authenticator, ClientCertificate, Credentials, ServiceAccountTokens,
};
use crate::error::ApiError;
use crate::resource::Resource;
use crate::store::Store;
use crate::tls::{ServerTls, TlsError};

/// How an [`ApiServer`] behaves beyond what the store decides.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// How often a watch that allows bookmarks gets one.
    pub bookmark_interval: Duration,
    /// How long a watch without `timeoutSeconds` stays open.
    pub default_watch_timeout: Duration,
    /// The `gitVersion` `/version` reports.
    pub git_version: String,
    /// Offer `v5.channel.k8s.io` for exec (Kubernetes 1.30 and later), besides
    /// `v4.channel.k8s.io`. Without it a client cannot close stdin alone: closing it closes the
    /// whole stream, and the exit status is never sent.
    pub exec_v5: bool,
    /// Serve `discovery.k8s.io/v1` EndpointSlices (Kubernetes 1.21 and later); without it the
    /// group is absent from discovery and its paths are 404, as on older servers.
    pub endpoint_slices_v1: bool,
    /// Authenticated users that RBAC grants nothing, whatever their groups and bindings: each
    /// of their resource requests gets the `403 Forbidden` kube-apiserver answers (discovery and
    /// `/version` stay open).
    pub users_without_roles: Vec<String>,
    /// Exec over a WebSocket (a GET) needs `create` on `pods/exec` besides `get`, as
    /// kube-apiserver 1.35 and later check it (`AuthorizePodWebsocketUpgradeCreatePermission`);
    /// without it `get` is enough, as on older servers.
    pub websocket_exec_requires_create: bool,
    /// Run the ServiceAccount admission plugin on pod creates (`crate::admission`): a pod's
    /// ServiceAccount must exist and it gets its token volume. It needs a controller that makes
    /// each namespace's `default` ServiceAccount and `kube-root-ca.crt` ConfigMap, as the local
    /// cluster has; off by default, for a server that runs alone.
    pub service_account_admission: bool,
}

impl ServerOptions {
    /// Whether this server serves `resource` at all.
    fn serves(&self, resource: Resource) -> bool {
        resource != Resource::EndpointSlices || self.endpoint_slices_v1
    }
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(1800),
            git_version: "v1.33.0".to_owned(),
            exec_v5: true,
            endpoint_slices_v1: true,
            users_without_roles: Vec::new(),
            websocket_exec_requires_create: true,
            service_account_admission: false,
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
    pub(super) authenticator: Arc<dyn Authenticator>,
    pub(super) service_account_tokens: Arc<ServiceAccountTokens>,
}

/// How the server protects itself: the TLS it serves and who may talk to it.
#[derive(Clone)]
pub struct Security {
    pub tls: ServerTls,
    /// Decides who sent each request; a request it does not accept gets `401 Unauthorized`.
    pub authenticator: Arc<dyn Authenticator>,
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("the system's random source failed")]
    Random,
}

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The API server: HTTPS only, every request authenticated, on a loopback address.
pub struct ApiServer {
    pub store: Store,
    pub addr: SocketAddr,
    service_account_tokens: Arc<ServiceAccountTokens>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    /// What [`ApiServer::serve_also`] needs to accept on another listener.
    acceptor: TlsAcceptor,
    app: axum::Router,
    also: Vec<tokio::task::JoinHandle<()>>,
}

impl ApiServer {
    /// Starts serving HTTPS on `bind` (port 0 picks a free port). There is no plain-HTTP
    /// listener: a client that does not speak TLS gets no answer.
    ///
    /// # Errors
    /// The address cannot be bound, or the TLS material is unusable.
    pub async fn start(
        store: Store,
        exec: Arc<dyn ExecHandler>,
        bind: SocketAddr,
        options: ServerOptions,
        security: Security,
    ) -> Result<ApiServer, StartError> {
        let acceptor = TlsAcceptor::from(security.tls.server_config()?);
        let bound = |source| StartError::Bind { addr: bind, source };
        let listener = tokio::net::TcpListener::bind(bind).await.map_err(bound)?;
        let addr = listener.local_addr().map_err(bound)?;
        let shutdown = CancellationToken::new();
        let service_account_tokens =
            Arc::new(ServiceAccountTokens::new(store.clone()).map_err(|_| StartError::Random)?);
        let authenticator: Arc<dyn Authenticator> = Arc::new(AnyOf(vec![
            service_account_tokens.clone(),
            security.authenticator,
        ]));
        let state = AppState {
            store: store.clone(),
            exec,
            options: Arc::new(options),
            shutdown: shutdown.clone(),
            pages: Arc::default(),
            authenticator,
            service_account_tokens: service_account_tokens.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let task = tokio::spawn(accept_loop(
            listener,
            acceptor.clone(),
            app.clone(),
            shutdown.clone(),
        ));
        Ok(ApiServer {
            store,
            addr,
            service_account_tokens,
            shutdown,
            task,
            acceptor,
            app,
            also: Vec::new(),
        })
    }

    /// Serves the same API on another listener too, until shutdown: e.g. one bound inside a
    /// network namespace, where pods reach the API as `kubernetes.default.svc`.
    pub fn serve_also(&mut self, listener: tokio::net::TcpListener) {
        self.also.push(tokio::spawn(accept_loop(
            listener,
            self.acceptor.clone(),
            self.app.clone(),
            self.shutdown.clone(),
        )));
    }

    /// Mints the ServiceAccount tokens this server accepts (for pods' projected tokens).
    pub fn service_account_tokens(&self) -> Arc<ServiceAccountTokens> {
        self.service_account_tokens.clone()
    }

    /// The `https://127.0.0.1:PORT` clients use.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Stops accepting and ends open watches and exec streams.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        // Connections idle in keep-alive do not hold the server up for long.
        let all = futures::future::join_all(std::iter::once(self.task).chain(self.also));
        if tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .is_err()
        {
            tracing::warn!("the API server did not stop within 5s");
        }
    }
}

/// Accepts connections until `stop`, then waits for the open ones to finish.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    app: axum::Router,
    stop: CancellationToken,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    connections.spawn(serve_connection(tcp, acceptor.clone(), app.clone(), stop.clone()));
                }
                Err(e) => {
                    // Out of file descriptors, most likely: let connections end first.
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// One connection: the TLS handshake, then HTTP/1.1 (with upgrades, for exec) until the client
/// closes or the server stops. The verified client certificate goes into every request's
/// extensions.
async fn serve_connection(
    tcp: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    app: axum::Router,
    stop: CancellationToken,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake");
            return;
        }
        Err(_) => return,
    };
    let certificate = tls.get_ref().1.peer_certificates().map(|chain| {
        ClientCertificate(Arc::new(
            chain.iter().map(|c| c.clone().into_owned()).collect(),
        ))
    });
    let tls = ClosingTls(tls);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        if let Some(certificate) = &certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        app.clone().oneshot(request.map(Body::new))
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// A server TLS stream that sends `close_notify` when dropped (best effort, without blocking),
/// as Go's `tls.Conn.Close` does: a client then reads a clean end of stream also from a
/// connection that was dropped rather than shut down (an upgraded exec stream, for one).
struct ClosingTls(tokio_rustls::server::TlsStream<tokio::net::TcpStream>);

impl Drop for ClosingTls {
    fn drop(&mut self) {
        /// Writes to the socket only as far as it takes data without waiting.
        struct NonBlocking<'a>(&'a tokio::net::TcpStream);
        impl std::io::Write for NonBlocking<'_> {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.try_write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (tcp, connection) = self.0.get_mut();
        connection.send_close_notify();
        while connection.wants_write() {
            if !matches!(connection.write_tls(&mut NonBlocking(tcp)), Ok(n) if n > 0) {
                break;
            }
        }
    }
}

impl tokio::io::AsyncRead for ClosingTls {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ClosingTls {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
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

fn rest_method_not_allowed(method: &Method) -> ApiError {
    ApiError::method_not_allowed(format!(
        "the server does not allow this method on the requested resource ({method})"
    ))
}

/// The Status kube-apiserver answers a request without a valid credential with.
fn unauthorized() -> Response {
    error_response(&ApiError::new(401, "Unauthorized", "Unauthorized"), None)
}

async fn handle(State(state): State<AppState>, mut request: Request<Body>) -> Response {
    let user = match state.authenticator.authenticate(&Credentials::of(&request)) {
        Authentication::User(user) => user,
        Authentication::NotMine | Authentication::Invalid => {
            tracing::debug!(path = %request.uri().path(), "unauthenticated request");
            return unauthorized();
        }
    };
    request.extensions_mut().insert(user.clone());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = match Query::parse(request.uri().query()) {
        Ok(query) => query,
        Err(e) => return error_response(&e, None),
    };
    tracing::debug!(%method, %path, "request");
    let routed = match route(&path) {
        Ok(Route::Collection { resource, .. } | Route::Object { resource, .. })
            if !state.options.serves(resource) =>
        {
            return error_response(&not_found(), None);
        }
        Ok(routed) => routed,
        Err(e) => return error_response(&e, None),
    };
    if let Some(denied) = super::rbac::denial(&state, &user, &method, &path, &query, &routed) {
        return denied;
    }
    if let Some(response) = document(&state.options, &routed, request.headers()) {
        return get_only(&method, response);
    }
    match routed {
        Route::Collection { resource, .. } if resource.is_review() => {
            if method != Method::POST {
                return error_response(&rest_method_not_allowed(&method), None);
            }
            if resource == Resource::SelfSubjectAccessReviews {
                super::rbac::access_review(&state, &user, request).await
            } else {
                super::rbac::rules_review(&state, &user, request).await
            }
        }
        Route::Object { resource, .. } if resource.is_review() => {
            error_response(&rest_method_not_allowed(&method), None)
        }
        Route::Object {
            resource: Resource::ServiceAccounts,
            namespace: Some(namespace),
            name,
            subresource: Some(sub),
        } if sub == "token" => {
            if method != Method::POST {
                return error_response(&rest_method_not_allowed(&method), None);
            }
            super::token::request(&state, &namespace, &name, request).await
        }
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
        _ => error_response(&not_found(), None),
    }
}

/// The answer to a route that is a document rather than a resource (version, health,
/// discovery, OpenAPI); `None` for resource routes.
fn document(
    options: &ServerOptions,
    routed: &Route,
    headers: &http::HeaderMap,
) -> Option<Response> {
    Some(match routed {
        Route::Version => json_response(StatusCode::OK, &discovery::version(options)),
        Route::Health => Response::builder()
            .header("content-type", "text/plain")
            .body(Body::from("ok"))
            .expect("a valid response"),
        Route::CoreVersions => discovery::core_versions(headers),
        Route::CoreResources => json_response(StatusCode::OK, &discovery::resource_list("")),
        Route::Groups => discovery::groups(headers, options),
        Route::Group(group) => match discovery::group(group, options) {
            Some(body) => json_response(StatusCode::OK, &body),
            None => error_response(&not_found(), None),
        },
        Route::GroupResources(group, version) => {
            if version == "v1" && discovery::group(group, options).is_some() {
                json_response(StatusCode::OK, &discovery::resource_list(group))
            } else {
                error_response(&not_found(), None)
            }
        }
        Route::OpenApiV2 => openapi::v2(headers),
        Route::OpenApiV3Root => json_response(StatusCode::OK, &openapi::v3_root()),
        Route::OpenApiV3(path) => openapi::v3(path),
        Route::Collection { .. } | Route::Object { .. } => return None,
    })
}

/// Documents are read-only.
fn get_only(method: &Method, response: Response) -> Response {
    if *method == Method::GET || *method == Method::HEAD {
        response
    } else {
        error_response(
            &ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ),
            None,
        )
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
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
