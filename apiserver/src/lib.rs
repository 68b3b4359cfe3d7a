//! An in-memory Kubernetes API server subset: the object store with resourceVersions and watch
//! history, the REST surface kubectl and kube-rs use (discovery, CRUD, patch, watch, tables), and
//! the exec streaming protocol. It knows nothing about Linux: running pods is the job of whoever
//! implements [`ExecHandler`] and drives pod status through [`Store`] (the local cluster's kubelet).

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;

/// The resources served. Each knows its group, version, kind, plural and scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Namespaces,
    Nodes,
    Pods,
    Services,
    Endpoints,
    EndpointSlices,
    ConfigMaps,
    Events,
    NetworkPolicies,
}

/// An API error rendered as a `metav1.Status` with the matching HTTP code and reason.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `BadRequest`, `Gone`, `MethodNotAllowed`…
    pub reason: String,
    pub message: String,
    /// `details.causes` for `Invalid`: (field path, message).
    pub causes: Vec<(String, String)>,
}

/// Label and field selection of a list or watch.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
}

#[derive(Clone, Debug)]
pub enum WatchEvent {
    Added(Value),
    Modified(Value),
    Deleted(Value),
    Bookmark { resource_version: u64 },
}

/// The object store. Cheap to clone; all clones share the same state.
///
/// Objects are JSON values of the k8s-openapi types' wire form; every write bumps one global
/// resourceVersion, and watches replay history from a given resourceVersion (older than the kept
/// window: `410 Gone`).
#[derive(Clone)]
pub struct Store {
    _inner: Arc<()>,
}

impl Store {
    pub fn new() -> Store {
        todo!()
    }

    /// Creates an object, filling uid, creationTimestamp, resourceVersion, generation (and for
    /// Services the ClusterIP, for Namespaces the metadata.name label), after validation.
    pub fn create(&self, resource: Resource, namespace: Option<&str>, object: Value) -> Result<Value, ApiError> {
        let _ = (resource, namespace, object);
        todo!()
    }

    pub fn get(&self, resource: Resource, namespace: Option<&str>, name: &str) -> Result<Value, ApiError> {
        let _ = (resource, namespace, name);
        todo!()
    }

    /// Returns the matching objects and the list's resourceVersion.
    pub fn list(&self, resource: Resource, namespace: Option<&str>, selection: &Selection) -> Result<(Vec<Value>, u64), ApiError> {
        let _ = (resource, namespace, selection);
        todo!()
    }

    /// Read-modify-write of one object (spec or status), as a controller does; bumps the
    /// resourceVersion and notifies watchers only when the object changed.
    pub fn mutate(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        name: &str,
        f: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let _ = (resource, namespace, name, f);
        todo!()
    }

    /// Deletes an object. Pods bound to a node and namespaces are only marked (deletionTimestamp,
    /// phase Terminating) and go away on [`Store::finalize_delete`]; other objects go at once.
    pub fn delete(&self, resource: Resource, namespace: Option<&str>, name: &str, grace_period_seconds: Option<i64>) -> Result<Value, ApiError> {
        let _ = (resource, namespace, name, grace_period_seconds);
        todo!()
    }

    /// Removes an object marked for deletion (the kubelet calls this once its processes ended).
    pub fn finalize_delete(&self, resource: Resource, namespace: Option<&str>, name: &str) -> Result<(), ApiError> {
        let _ = (resource, namespace, name);
        todo!()
    }

    /// A stream of changes after `resource_version` (`None`: from now, after synthetic ADDED
    /// events for what exists, as a watch without resourceVersion does).
    pub fn watch(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        selection: &Selection,
        resource_version: Option<u64>,
    ) -> Result<tokio::sync::mpsc::Receiver<WatchEvent>, ApiError> {
        let _ = (resource, namespace, selection, resource_version);
        todo!()
    }
}

/// A process started by an exec request: its standard streams and its exit.
pub struct ExecProcess {
    pub stdin: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
    pub stdout: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    pub stderr: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    /// Resolves to the exit code once the process ended (after stdout and stderr hit EOF).
    pub exit: futures::future::BoxFuture<'static, Result<i32, ApiError>>,
}

/// Runs exec requests in pods; implemented by the local cluster's kubelet.
#[async_trait::async_trait]
pub trait ExecHandler: Send + Sync + 'static {
    /// # Errors
    /// `NotFound` for an unknown pod, `BadRequest` for a pod that is not running or a container
    /// that does not exist; a command that cannot be found is a started process exiting 126/127
    /// with a message on stderr, as a container runtime reports it.
    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        command: Vec<String>,
        stdin: bool,
    ) -> Result<ExecProcess, ApiError>;
}

/// The HTTP server: binds to a loopback address and serves the store.
pub struct ApiServer {
    pub store: Store,
    pub addr: SocketAddr,
}

impl ApiServer {
    /// Starts serving on `bind` (port 0 picks a free port) with plain HTTP.
    pub async fn start(store: Store, exec: Arc<dyn ExecHandler>, bind: SocketAddr) -> std::io::Result<ApiServer> {
        let _ = (store, exec, bind);
        todo!()
    }

    /// Stops accepting and ends open watches and exec streams.
    pub async fn shutdown(self) {
        todo!()
    }
}
