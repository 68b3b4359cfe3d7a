//! Linux network fabric of the local cluster: network namespaces, veth links, routes, nftables
//! and processes running inside pods.
//!
//! Layout (one fabric per local-cluster instance):
//! - a *router* namespace, the only place all pod traffic crosses; it has no link to the
//!   machine's own network, so nothing a pod sends can leave the machine;
//! - one namespace per pod, `lo` + `eth0`, a /32 address routed point-to-point to the router;
//! - an *external* namespace holding the emulated external hosts (documentation ranges).
//!
//! Every kernel object is named from the instance name, so several instances coexist and
//! [`destroy_leftovers`] can remove what a killed instance left behind.
//!
//! Everything here needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use netverdict_engine::Protocol;

/// Errors of the fabric; each names the kernel object and the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{command} failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
}

#[derive(Clone, Debug)]
pub struct FabricConfig {
    /// Instance name, `[a-z0-9-]{1,16}`; all kernel object names derive from it.
    pub instance: String,
    /// Addresses of the emulated external hosts (default 203.0.113.10 and 198.51.100.10).
    pub external_hosts: Vec<Ipv4Addr>,
}

/// A named network namespace the fabric created.
#[derive(Clone, Debug)]
pub struct NetnsHandle {
    pub name: String,
    /// `/run/netns/<name>`.
    pub path: PathBuf,
}

/// A pod's network: its namespace, address and resolver configuration.
#[derive(Debug)]
pub struct PodNetwork {
    pub netns: NetnsHandle,
    pub ip: Ipv4Addr,
    /// File bind-mounted over `/etc/resolv.conf` for every process started in the pod.
    pub resolv_conf: PathBuf,
}

/// One Service port translated in the router namespace (as kube-proxy does) to ready endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRule {
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    pub protocol: Protocol,
    /// (pod IP, target port); empty means no ready endpoint.
    pub endpoints: Vec<(Ipv4Addr, u16)>,
}

/// Identity a pod's processes run as (from the pod's securityContext); `None` keeps root.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunAs {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

pub struct Fabric {
    config: FabricConfig,
}

impl Fabric {
    /// Creates the router and external namespaces.
    ///
    /// # Errors
    /// Fails when not root, when the instance already exists, or when a kernel call fails; what
    /// was created before the failure is removed.
    pub fn create(config: FabricConfig) -> Result<Fabric, NetError> {
        let _ = &config;
        todo!()
    }

    pub fn config(&self) -> &FabricConfig {
        &self.config
    }

    pub fn router(&self) -> &NetnsHandle {
        todo!()
    }

    pub fn external(&self) -> &NetnsHandle {
        todo!()
    }

    /// Creates a pod namespace with address `ip` (a /32 routed via the router) and writes its
    /// resolv.conf with `resolv_conf` as contents. `key` is a short unique id of the pod.
    pub fn add_pod(&self, key: &str, ip: Ipv4Addr, resolv_conf: &str) -> Result<PodNetwork, NetError> {
        let _ = (key, ip, resolv_conf);
        todo!()
    }

    /// Ends the pod's processes (by PID) and removes its namespace and links.
    pub fn remove_pod(&self, pod: PodNetwork) -> Result<(), NetError> {
        let _ = pod;
        todo!()
    }

    /// Replaces the Service translation rules atomically.
    pub fn apply_services(&self, services: &[ServiceRule]) -> Result<(), NetError> {
        let _ = services;
        todo!()
    }

    /// Replaces the policy filter (an nftables script defining table `inet netverdict-filter` in
    /// the router namespace) atomically, in one `nft -f` transaction.
    pub fn apply_filter(&self, nft_script: &str) -> Result<(), NetError> {
        let _ = nft_script;
        todo!()
    }

    /// Ends every process in the instance's namespaces (by PID) and removes every namespace,
    /// link and file the instance created.
    pub fn destroy(self) -> Result<(), NetError> {
        todo!()
    }
}

impl NetnsHandle {
    /// Runs `f` on a dedicated thread that has entered this namespace (namespace membership is
    /// per thread), e.g. to create sockets that then live in the namespace.
    pub fn run_in<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let _ = f;
        todo!()
    }

    pub fn bind_tcp(&self, addr: SocketAddr) -> io::Result<std::net::TcpListener> {
        self.run_in(move || std::net::TcpListener::bind(addr))
    }

    pub fn bind_udp(&self, addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
        self.run_in(move || std::net::UdpSocket::bind(addr))
    }
}

impl PodNetwork {
    /// A command that runs inside the pod: its network namespace, a private mount namespace with
    /// the pod's resolv.conf over `/etc/resolv.conf`, and the given identity.
    pub fn command(&self, program: &std::ffi::OsStr, run_as: RunAs) -> tokio::process::Command {
        let _ = (program, run_as);
        todo!()
    }
}

/// Removes what instances left behind (all instances when `instance` is `None`): ends processes
/// in their namespaces by PID, deletes namespaces, links and files. Returns what it removed.
pub fn destroy_leftovers(instance: Option<&str>) -> Result<Vec<String>, NetError> {
    let _ = instance;
    todo!()
}
