//! An in-memory Kubernetes API server subset: the object store with resourceVersions and watch
//! history, the REST surface kubectl and kube-rs use (discovery, CRUD, patch, watch, tables), and
//! the exec streaming protocol. It knows nothing about Linux: running pods is the job of whoever
//! implements [`ExecHandler`] and drives pod status through [`Store`] (the local cluster's kubelet).
//!
//! # What is served
//!
//! - Discovery (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}/v1`; aggregated v2 too) and
//!   OpenAPI v3 (`/openapi/v3`): enough for kubectl to validate on the server (it sends
//!   `fieldValidation=Strict`) and to compute apply patches from its compiled-in types.
//! - The kinds of [`Resource`]: get, list, watch, create, update (with resourceVersion
//!   preconditions), patch (JSON, merge, strategic merge, server-side apply), delete,
//!   deletecollection; `/status` for pods, services, namespaces, nodes and the workloads;
//!   `dryRun=All`.
//! - `apps/v1` Deployments, ReplicaSets, StatefulSets, DaemonSets and ControllerRevisions with
//!   their defaults, validation (the selector must match the template's labels, and cannot
//!   change), `metadata.generation` (a Deployment's annotations count too), and the `scale`
//!   subresource (`autoscaling/v1` `Scale`, what `kubectl scale` reads and writes). Nothing here
//!   runs them: the local cluster's controllers do.
//! - Deletion as the garbage collector needs it: `propagationPolicy` (or `orphanDependents`)
//!   `Foreground` and `Orphan` keep the object, marked, with the [`FOREGROUND_FINALIZER`] or
//!   [`ORPHAN_FINALIZER`]; any object with finalizers left (pods too, after their graceful
//!   termination) stays until they are removed. `ownerReferences` are validated (complete, one
//!   controller at most).
//! - Label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and the field selectors the
//!   API server supports for each kind.
//! - `meta.k8s.io/v1` `Table` responses with the API server's printer columns, and
//!   `PartialObjectMetadata`; JSON everywhere, plus protobuf request bodies for the kinds
//!   `kubectl create namespace|configmap|service` send.
//! - Watches: ADDED/MODIFIED/DELETED/BOOKMARK, replay from a resourceVersion, an ERROR event
//!   with a `410 Expired` Status for a compacted one, streaming lists (`sendInitialEvents`).
//! - batch/v1 Jobs, defaulted as the Job strategy does (selector and template labels naming the
//!   Job, one completion, `backoffLimit: 6`) and validated (a template whose `restartPolicy` is
//!   `Never` or `OnFailure`); a Job's delete adds the `foregroundDeletion` or `orphan`
//!   finalizer its `propagationPolicy` asks for (orphan by default, as batch/v1's), for the local
//!   cluster's Job controller to act on.
//! - RBAC (`rbac.authorization.k8s.io/v1` Roles, ClusterRoles, RoleBindings,
//!   ClusterRoleBindings), ServiceAccounts with `serviceaccounts/{name}/token` (TokenRequest),
//!   and `authorization.k8s.io/v1` SelfSubjectAccessReview and SelfSubjectRulesReview.
//! - `pods/exec` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`), `pods/log`.
//! - ServiceAccount tokens bound to a pod ([`auth::ServiceAccountTokens::mint_for_pod`], what a
//!   kubelet puts in a projected volume), valid only while that pod exists.
//! - [`ApiServer::serve_also`]: the same API on another listener (the local cluster's inside its
//!   network fabric).
//!
//! # Security
//!
//! HTTPS only ([`tls::ServerTls`]; HTTP/1.1), no plain-HTTP listener. Every request passes an
//! [`auth::Authenticator`] first (client certificates verified against the client CA, bearer
//! tokens compared in constant time); a request without a valid credential gets `401
//! Unauthorized` as a Status, and an accepted one carries its [`auth::UserInfo`] in its
//! extensions. [`tls::Pki`] generates a CA with serving and client certificates, and
//! [`kubeconfig::Kubeconfig`] writes the kubeconfig that reaches a server. With the feature
//! `test-support`, `testing::SecureServer` starts a secured server for tests.
//!
//! # Caveats
//!
//! - Paged lists (`limit`, `continue`) are cut from a snapshot the first page takes; tokens last
//!   five minutes.
//! - Server-side apply tracks the fields of apply managers only (`managedFields` with operation
//!   `Apply`): a field a manager stops applying is removed unless another manager applies it;
//!   fields set by updates are owned by nobody, and there are no conflicts.
//! - Attach, port-forward, SPDY and HTTP/2 are not served; pod logs only as
//!   [`ExecHandler::logs`] provides them.
//! - Authorization is RBAC ([`authz`]): `system:masters` may do everything; everyone else what
//!   Roles, ClusterRoles and their bindings grant (no aggregation), plus the bootstrap roles of
//!   authenticated users (access reviews, discovery, `/version`, health), which are built in
//!   rather than stored: `kubectl get clusterroles` does not list them, and there is no stored
//!   `cluster-admin`, `admin`, `edit` or `view`. With
//!   [`ServerOptions::service_account_admission`] pods are admitted as kube-apiserver's
//!   ServiceAccount plugin admits them ([`admit_pod`]); a controller must then give every
//!   namespace its `default` ServiceAccount (the local cluster has one). The users of [`ServerOptions::users_without_roles`] are denied every
//!   resource request whatever their bindings. A route the server does not know is 404 before it
//!   is authorized (kube-apiserver authorizes first).

mod admission;
pub mod auth;
pub mod authz;
mod error;
pub mod kubeconfig;
mod patch;
mod resource;
mod selector;
mod server;
mod ssa;
mod store;
#[cfg(test)]
mod store_tests;
#[cfg(feature = "test-support")]
pub mod testing;
mod time;
pub mod tls;
mod validate;

pub use admission::{
    PROJECTED_TOKEN_SECONDS, ROOT_CA_CONFIG_MAP, SERVICE_ACCOUNT_MOUNT_PATH, admit_pod,
};
pub use error::ApiError;
pub use resource::Resource;
pub use selector::Selection;
pub use server::{ApiServer, Security, ServerOptions, StartError};
pub use store::{
    FOREGROUND_FINALIZER, INITIAL_NAMESPACES, ORPHAN_FINALIZER, Propagation, Store, StoreOptions,
    WatchEvent,
};

/// A process started by an exec request: its standard streams and its exit.
pub struct ExecProcess {
    pub stdin: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
    pub stdout: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    pub stderr: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    /// Resolves to the exit code once the process ended (after stdout and stderr hit EOF).
    pub exit: futures::future::BoxFuture<'static, Result<i32, ApiError>>,
}

/// Runs exec requests in pods; implemented by the local cluster's kubelet.
///
/// The server forwards stdout and stderr until both hit EOF, then sends the exit status: a
/// process whose output pipes are held open by a child it left behind keeps the exec open.
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

    /// The output of a container, for `pods/{name}/log` (`kubectl logs`). With `follow`, the
    /// reader goes on delivering what the container writes until it ends. The server cuts
    /// `tailLines` itself when not following.
    ///
    /// # Errors
    /// By default `BadRequest`: a handler that keeps no logs.
    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        options: LogOptions,
    ) -> Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>, ApiError> {
        let _ = (container, options);
        Err(ApiError::bad_request(format!(
            "the logs of pod {namespace}/{pod} are not available"
        )))
    }
}

/// What `pods/{name}/log` asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<i64>,
}
