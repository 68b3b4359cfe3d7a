//! The fabric of one local-cluster instance: router, external hosts and pods.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use netverdict_engine::Protocol;

use crate::error::{IoContext, NetError};
use crate::names::{self, EXTERNAL_LINK, POD_LINK};
use crate::nft;
use crate::sys;
use crate::{GATEWAY_IP, GATEWAY_MAC, INFRA_IP};

#[derive(Clone, Debug)]
pub struct FabricConfig {
    /// Instance name, `[a-z0-9-]{1,16}`; all kernel object names derive from it.
    pub instance: String,
    /// Addresses of the emulated external hosts (default 203.0.113.10 and 198.51.100.10).
    pub external_hosts: Vec<Ipv4Addr>,
}

impl FabricConfig {
    /// The default external hosts: 203.0.113.10 and 198.51.100.10 (documentation ranges).
    pub const DEFAULT_EXTERNAL_HOSTS: [Ipv4Addr; 2] = [
        Ipv4Addr::new(203, 0, 113, 10),
        Ipv4Addr::new(198, 51, 100, 10),
    ];

    /// A configuration with the default external hosts.
    pub fn new(instance: impl Into<String>) -> FabricConfig {
        FabricConfig {
            instance: instance.into(),
            external_hosts: FabricConfig::DEFAULT_EXTERNAL_HOSTS.to_vec(),
        }
    }
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
    /// The pod's veth end in the router namespace.
    pub router_link: String,
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

/// The network fabric of one local-cluster instance.
///
/// Dropping it without [`Fabric::destroy`] destroys it too (errors are logged); after a crash,
/// [`destroy_leftovers`](crate::destroy_leftovers) removes what is left.
///
/// All methods block (they run `ip`/`nft` and wait for them): call them from
/// `tokio::task::spawn_blocking` in async code.
pub struct Fabric {
    config: FabricConfig,
    router: NetnsHandle,
    external: NetnsHandle,
    runtime_dir: PathBuf,
    next_link: AtomicU32,
    destroyed: bool,
}

fn handle(name: String) -> NetnsHandle {
    let path = names::netns_path(&name);
    NetnsHandle { name, path }
}

/// The MAC of a pod's `eth0`, from its address (as the Kubernetes bridge plugin does).
fn pod_mac(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("0a:58:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// Sysctls of every namespace: no IPv6 on the links created later (no router solicitations
/// or DAD traffic; the fabric is IPv4 only), `lo` keeps `::1`.
const COMMON_SYSCTLS: [(&str, &str); 1] = [("ipv6/conf/default/disable_ipv6", "1")];

impl Fabric {
    /// Creates the router and external namespaces.
    ///
    /// # Errors
    /// Fails when not root, when the instance already exists, or when a kernel call fails; what
    /// was created before the failure is removed.
    pub fn create(config: FabricConfig) -> Result<Fabric, NetError> {
        names::validate_instance(&config.instance)?;
        if !sys::is_root() {
            return Err(NetError::invalid("privileges", "the fabric needs root"));
        }
        let mut hosts = config.external_hosts.clone();
        hosts.push(INFRA_IP);
        hosts.sort();
        hosts.dedup();
        for &host in &hosts {
            check_unicast("external host", host)?;
        }
        let instance = &config.instance;
        let router = handle(names::router_netns(instance));
        let mut router_sysctls = COMMON_SYSCTLS.to_vec();
        router_sysctls.push(("ipv4/ip_forward", "1"));
        // The router namespace is the instance's lock: creating it fails when it exists.
        sys::create_netns(&router.path, &router_sysctls).map_err(|err| match err {
            NetError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists => {
                NetError::invalid("instance", format!("{instance:?} already exists"))
            }
            other => other,
        })?;
        let fabric = Fabric {
            external: handle(names::external_netns(instance)),
            runtime_dir: names::runtime_dir(instance),
            router,
            config,
            next_link: AtomicU32::new(0),
            destroyed: false,
        };
        // From here on, dropping `fabric` on an error removes what was created.
        fabric.setup(&hosts)?;
        Ok(fabric)
    }

    fn setup(&self, hosts: &[Ipv4Addr]) -> Result<(), NetError> {
        make_dir(&self.runtime_dir.join("pods"))?;
        sys::create_netns(&self.external.path, &COMMON_SYSCTLS)?;
        let ext_mac = pod_mac(Ipv4Addr::UNSPECIFIED);
        let mut router = String::new();
        let _ = writeln!(router, "link set lo up");
        let _ = writeln!(router, "address add {GATEWAY_IP}/32 dev lo");
        let _ = writeln!(router, "route add blackhole default");
        let _ = writeln!(
            router,
            "link add {EXTERNAL_LINK} address {GATEWAY_MAC} type veth peer name {POD_LINK} \
             address {ext_mac} netns {}",
            self.external.name
        );
        let _ = writeln!(router, "link set {EXTERNAL_LINK} up");
        for host in hosts {
            let _ = writeln!(router, "route add {host}/32 dev {EXTERNAL_LINK} scope link");
            let _ = writeln!(
                router,
                "neigh replace {host} lladdr {ext_mac} dev {EXTERNAL_LINK} nud permanent"
            );
        }
        self.ip(&self.router, &router)?;
        let mut external = String::new();
        let _ = writeln!(external, "link set lo up");
        for host in hosts {
            let _ = writeln!(external, "address add {host}/32 dev {POD_LINK}");
        }
        external.push_str(&gateway_routes());
        self.ip(&self.external, &external)?;
        self.apply_services(&[])
    }

    pub fn config(&self) -> &FabricConfig {
        &self.config
    }

    pub fn router(&self) -> &NetnsHandle {
        &self.router
    }

    pub fn external(&self) -> &NetnsHandle {
        &self.external
    }

    /// Creates a pod namespace with address `ip` (a /32 routed via the router) and writes its
    /// resolv.conf with `resolv_conf` as contents. `key` is a short unique id of the pod,
    /// `[A-Za-z0-9._-]{1,64}`.
    ///
    /// # Errors
    /// Fails on an invalid key or address, a key or address already in use, or a failed kernel
    /// call; what was created before the failure is removed.
    pub fn add_pod(
        &self,
        key: &str,
        ip: Ipv4Addr,
        resolv_conf: &str,
    ) -> Result<PodNetwork, NetError> {
        names::validate_pod_key(key)?;
        check_unicast("pod address", ip)?;
        if ip.is_link_local() || self.config.external_hosts.contains(&ip) || ip == INFRA_IP {
            return Err(NetError::invalid(
                "pod address",
                format!("{ip} is reserved for the fabric"),
            ));
        }
        let pod = PodNetwork {
            netns: handle(names::pod_netns(&self.config.instance, key)),
            ip,
            resolv_conf: self.runtime_dir.join("pods").join(key).join("resolv.conf"),
            router_link: format!("pod{}", self.next_link.fetch_add(1, Ordering::Relaxed)),
        };
        // The namespace first: creating it fails when the key is taken, before anything else.
        sys::create_netns(&pod.netns.path, &COMMON_SYSCTLS)?;
        let result = self.setup_pod(&pod, resolv_conf);
        if let Err(err) = result {
            if let Err(cleanup) = self.teardown_pod(&pod) {
                tracing::warn!(pod = key, error = %cleanup, "cleanup after a failed add_pod");
            }
            return Err(err);
        }
        Ok(pod)
    }

    fn setup_pod(&self, pod: &PodNetwork, resolv_conf: &str) -> Result<(), NetError> {
        let dir = pod.resolv_conf.parent().expect("resolv.conf has a parent");
        make_dir(dir)?;
        fs::write(&pod.resolv_conf, resolv_conf)
            .and_then(|()| fs::set_permissions(&pod.resolv_conf, fs::Permissions::from_mode(0o644)))
            .context(|| format!("write {}", pod.resolv_conf.display()))?;
        let (ip, link, mac) = (pod.ip, &pod.router_link, pod_mac(pod.ip));
        let router = format!(
            "link add {link} address {GATEWAY_MAC} type veth peer name {POD_LINK} address {mac} \
             netns {}\n\
             link set {link} up\n\
             route add {ip}/32 dev {link} scope link\n\
             neigh replace {ip} lladdr {mac} dev {link} nud permanent\n",
            pod.netns.name
        );
        self.ip(&self.router, &router)?;
        let inside = format!(
            "link set lo up\naddress add {ip}/32 dev {POD_LINK}\n{}",
            gateway_routes()
        );
        self.ip(&pod.netns, &inside)
    }

    /// Ends the pod's processes (by PID) and removes its namespace and links.
    ///
    /// The route to the pod is gone and the router end of its veth is down when this returns;
    /// the veth pair itself disappears with the pod's namespace, which the kernel frees in the
    /// background once nothing holds it (a socket created in it with
    /// [`NetnsHandle::bind_tcp`] does, until closed).
    ///
    /// # Errors
    /// Fails when a process does not end or a kernel call fails.
    pub fn remove_pod(&self, pod: PodNetwork) -> Result<(), NetError> {
        self.teardown_pod(&pod)
    }

    fn teardown_pod(&self, pod: &PodNetwork) -> Result<(), NetError> {
        if let Ok(id) = sys::ns_id(&pod.netns.path) {
            sys::kill_all_in(&[id])?;
        }
        // Cut the pod off at once: no route to it, its router end down. Deleting the veth
        // explicitly would cost an RCU grace period (~20 ms) per pod; the pair goes with the
        // pod's namespace instead, which the kernel frees in the background once unmounted.
        let router = format!(
            "route del {}/32 dev {link}\nlink set {link} down\n",
            pod.ip,
            link = pod.router_link
        );
        let cut =
            match sys::run_in_netns(&self.router.path, "ip", &["-force", "-batch", "-"], &router) {
                // Already gone, or never created (a failed add_pod).
                Err(NetError::Command { stderr, .. })
                    if stderr.lines().all(|l| {
                        l.contains("Cannot find device")
                            || l.contains("No such process")
                            || l.contains("Command failed")
                    }) =>
                {
                    Ok(())
                }
                other => other.map(drop),
            };
        sys::delete_netns(&pod.netns.path)?;
        if let Some(dir) = pod.resolv_conf.parent() {
            match fs::remove_dir_all(dir) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => {
                    return Err(NetError::io(format!("remove {}", dir.display()), err));
                }
                _ => {}
            }
        }
        cut
    }

    /// Replaces the Service translation rules atomically (table `ip netverdict-svc` in the
    /// router namespace, one `nft -f -` transaction).
    ///
    /// A Service port with no endpoint is rejected with ICMP port unreachable, as kube-proxy
    /// does, so clients see "connection refused" at once. Endpoints may be any routable address:
    /// pods or the external namespace (e.g. [`INFRA_IP`] for the `kubernetes` Service).
    ///
    /// # Errors
    /// Fails on a duplicate Service port, a port 0, or when `nft` rejects the rules (the old
    /// rules then stay in place).
    pub fn apply_services(&self, services: &[ServiceRule]) -> Result<(), NetError> {
        let script = nft::render_services(services)?;
        sys::run_in_netns(&self.router.path, "nft", &["-f", "-"], &script).map(drop)
    }

    /// Replaces the policy filter (an nftables script defining table `inet netverdict-filter` in
    /// the router namespace) atomically, in one `nft -f` transaction. An empty script removes
    /// the filter.
    ///
    /// The script should hook `forward` (priority filter): Services are then judged after DNAT
    /// (their prerouting chain has priority dstnat), on the real pod addresses.
    ///
    /// # Errors
    /// Fails when `nft` rejects the script; the previous filter then stays in place.
    pub fn apply_filter(&self, nft_script: &str) -> Result<(), NetError> {
        sys::run_in_netns(
            &self.router.path,
            "nft",
            &["-f", "-"],
            &nft::wrap_filter(nft_script),
        )
        .map(drop)
    }

    /// Ends every process in the instance's namespaces (by PID) and removes every namespace,
    /// link and file the instance created.
    ///
    /// # Errors
    /// Fails when a process does not end or a namespace or file cannot be removed.
    pub fn destroy(mut self) -> Result<(), NetError> {
        self.destroyed = true;
        crate::cleanup::destroy_instance(&self.config.instance).map(drop)
    }

    fn ip(&self, netns: &NetnsHandle, batch: &str) -> Result<(), NetError> {
        sys::run_in_netns(&netns.path, "ip", &["-batch", "-"], batch).map(drop)
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        if !self.destroyed
            && let Err(err) = crate::cleanup::destroy_instance(&self.config.instance)
        {
            tracing::warn!(instance = %self.config.instance, error = %err, "destroy on drop");
        }
    }
}

/// Routes of a namespace behind the router: the gateway on-link, default via it, and the
/// gateway's MAC pinned so that no ARP is needed (the router side has no address on the link).
fn gateway_routes() -> String {
    format!(
        "link set {POD_LINK} up\n\
         route add {GATEWAY_IP}/32 dev {POD_LINK} scope link\n\
         route add default via {GATEWAY_IP} dev {POD_LINK}\n\
         neigh replace {GATEWAY_IP} lladdr {GATEWAY_MAC} dev {POD_LINK} nud permanent\n"
    )
}

fn check_unicast(what: &str, ip: Ipv4Addr) -> Result<(), NetError> {
    if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || ip.is_broadcast() {
        return Err(NetError::invalid(
            what,
            format!("{ip} is not a unicast address"),
        ));
    }
    Ok(())
}

fn make_dir(dir: &std::path::Path) -> Result<(), NetError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .context(|| format!("create {}", dir.display()))
}

impl NetnsHandle {
    /// Runs `f` on a dedicated thread that has entered this namespace (namespace membership is
    /// per thread), e.g. to create sockets that then live in the namespace.
    ///
    /// # Errors
    /// Fails when the namespace cannot be entered (`f` then does not run) or when `f` fails.
    pub fn run_in<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        sys::in_netns(&self.path, f)
    }

    /// A listener bound inside this namespace; it stays there whichever thread uses it.
    pub fn bind_tcp(&self, addr: SocketAddr) -> io::Result<std::net::TcpListener> {
        self.run_in(move || std::net::TcpListener::bind(addr))
    }

    /// A UDP socket bound inside this namespace.
    pub fn bind_udp(&self, addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
        self.run_in(move || std::net::UdpSocket::bind(addr))
    }
}
