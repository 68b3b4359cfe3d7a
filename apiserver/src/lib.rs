//! An in-memory Kubernetes API server subset: the object store with resourceVersions and watch
//! history, the REST surface kubectl and kube-rs use (discovery, CRUD, patch, watch, tables), and
//! the exec streaming protocol. It knows nothing about Linux: running pods is the job of whoever
//! implements [`ExecHandler`] and drives pod status through [`Store`] (the local cluster's kubelet).

mod error;
mod patch;
mod resource;
mod selector;
mod server;
mod store;
#[cfg(test)]
mod store_tests;
mod time;
mod validate;

pub use error::ApiError;
pub use resource::Resource;
pub use selector::Selection;
pub use server::{ApiServer, ServerOptions};
pub use store::{INITIAL_NAMESPACES, Store, StoreOptions, WatchEvent};

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
