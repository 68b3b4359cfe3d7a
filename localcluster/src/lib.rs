//! An emulated Kubernetes cluster in one process: the API (served by `netverdict-apiserver`),
//! a scheduler, a kubelet whose pods are Linux network namespaces with real processes
//! (`netverdict-netns`), an endpoints controller that programs Services as kube-proxy does, and
//! cluster DNS. netverdict's runner and `kubectl` use it as they would a real cluster.
//!
//! Entry points: [`LocalCluster::start`] for tests and embedding; [`up`], [`down`], [`status`]
//! and [`serve_foreground`] for the `netverdict local` commands.

mod cli;
mod cluster;
mod dns;
mod endpoints;
mod events;
mod external;
pub mod instance;
mod kubelet;
mod probe;

pub use cli::{
    DEFAULT_NAME, DownOptions, InstanceStatus, ServeOptions, UpOptions, UpReport, down,
    serve_foreground, status, up,
};
pub use cluster::{
    API_ENDPOINT_PORT, ClusterError, CniMode, DNS_SERVICE_IP, EXTERNAL_HOSTS,
    KUBERNETES_SERVICE_IP, LocalCluster, LocalClusterConfig,
};
