//! The fabric of one local-cluster instance: router, external hosts and pods.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use netverdict_engine::{Protocol, Quoted};

use crate::error::{IoContext, NetError};
use crate::names::{self, EXTERNAL_LINK, POD_LINK};
use crate::netlink::{self, Mac, Netlink, Scope};
use crate::nft;
use crate::sys;
use crate::{GATEWAY_IP, INFRA_IP};

/// [`GATEWAY_MAC`](crate::GATEWAY_MAC) as bytes.
const GATEWAY_MAC_BYTES: Mac = [0xee; 6];

#[derive(Clone, Debug)]
pub struct FabricConfig {
    /// Instance name, `[a-z0-9-]{1,16}`; all kernel object names derive from it.
    pub instance: String,
    /// Addresses of the emulated external hosts (default 203.0.113.10 and 198.51.100.10).
    pub external_hosts: Vec<Ipv4Addr>,
    /// The ranges (address, prefix length) pods have routes to. `None` (the default): a default
    /// route via the router. `Some`: these ranges only, as on nodes that route pods to the pod
    /// and Service ranges and nowhere else: a probe to any other address fails at once in the
    /// pod with "Network is unreachable".
    pub pod_routes: Option<Vec<(Ipv4Addr, u8)>>,
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
            pod_routes: None,
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
#[derive(Clone, Debug)]
pub struct PodNetwork {
    pub netns: NetnsHandle,
    pub ip: Ipv4Addr,
    /// File bind-mounted over `/etc/resolv.conf` for every process started in the pod.
    pub resolv_conf: PathBuf,
    /// The pod's own tmpfs, mounted on the machine in a directory only root can reach; its
    /// `tmp`, `var-tmp` and `shm` are bind-mounted over `/tmp`, `/var/tmp` and `/dev/shm` for
    /// every process started in the pod.
    pub scratch: PathBuf,
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

/// Who a pod's processes are on the machine and what they may do there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (beside `gid`).
    pub groups: Vec<u32>,
    /// Capabilities a root process keeps, as a bit set (bit n = capability n). A process of
    /// another user has none, whatever this says.
    pub capabilities: u64,
    /// A privileged container: every capability, the machine's mounts stay writable and
    /// `no_new_privs` is not set. Only for a cluster that allows privileged pods.
    pub privileged: bool,
}

impl RunAs {
    /// An unprivileged identity: no supplementary groups, no capabilities.
    pub fn user(uid: u32, gid: u32) -> RunAs {
        RunAs {
            uid,
            gid,
            groups: Vec::new(),
            capabilities: 0,
            privileged: false,
        }
    }

    /// Root with every capability and the machine's mounts writable.
    pub fn privileged_root() -> RunAs {
        RunAs {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            capabilities: u64::MAX,
            privileged: true,
        }
    }
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
    /// Netlink socket of the router namespace; requests on it are serialised.
    router_netlink: Mutex<Netlink>,
    next_link: AtomicU32,
    destroyed: bool,
}

fn handle(name: String) -> NetnsHandle {
    let path = names::netns_path(&name);
    NetnsHandle { name, path }
}

/// The MAC of a pod's `eth0`, from its address (as the Kubernetes bridge plugin does).
fn pod_mac(ip: Ipv4Addr) -> Mac {
    let [a, b, c, d] = ip.octets();
    [0x0a, 0x58, a, b, c, d]
}

/// Sysctls of every namespace: no IPv6 on the links created later (no router solicitations
/// or DAD traffic; the fabric is IPv4 only), `lo` keeps `::1`.
const COMMON_SYSCTLS: [(&str, &str); 1] = [("ipv6/conf/default/disable_ipv6", "1")];

/// Pods also let unprivileged processes bind ports below 1024, as containerd 2 sets up every
/// pod (a non-root responder under Pod Security "restricted" can then serve port 80).
const POD_SYSCTLS: [(&str, &str); 2] = [
    ("ipv6/conf/default/disable_ipv6", "1"),
    ("ipv4/ip_unprivileged_port_start", "0"),
];

impl Fabric {
    /// Creates the router and external namespaces.
    ///
    /// Like `ip netns add`, it makes `/run/netns` a shared mount point of its own when it is not
    /// one yet (see `sys::prepare_netns_dir`).
    ///
    /// # Errors
    /// Fails when not root, when the instance already exists (a leftover of a killed process
    /// is removed by [`destroy_leftovers`](crate::destroy_leftovers)), or when a kernel call
    /// fails; what was created before the failure is removed.
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
            if host.is_link_local() {
                return Err(NetError::invalid(
                    "external host",
                    format!("{host} is link-local (the fabric's gateway range)"),
                ));
            }
        }
        let instance = &config.instance;
        sys::prepare_netns_dir()?;
        let router = handle(names::router_netns(instance));
        let mut router_sysctls = COMMON_SYSCTLS.to_vec();
        router_sysctls.push(("ipv4/ip_forward", "1"));
        // The router namespace is the instance's lock: creating it fails when it exists.
        let router_netlink =
            sys::create_netns(&router.path, &router_sysctls).map_err(|err| match err {
                NetError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists => {
                    NetError::invalid("instance", format!("{} already exists", Quoted(instance)))
                }
                other => other,
            })?;
        let fabric = Fabric {
            external: handle(names::external_netns(instance)),
            runtime_dir: names::runtime_dir(instance),
            router,
            router_netlink: Mutex::new(router_netlink),
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
        sys::private_mount_point(&self.runtime_dir.join("pods"))?;
        fs::set_permissions(&self.runtime_dir, fs::Permissions::from_mode(0o700))
            .context(|| format!("restrict {}", self.runtime_dir.display()))?;
        let mut external = sys::create_netns(&self.external.path, &COMMON_SYSCTLS)?;
        let ext_mac = pod_mac(Ipv4Addr::UNSPECIFIED);
        let router_name = &self.router.name;
        let mut router = self
            .router_netlink
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let lo = router
            .link_index("lo")
            .context(|| format!("find lo in {router_name}"))?;
        router
            .set_up(lo, true)
            .context(|| format!("set lo up in {router_name}"))?;
        router
            .add_address(lo, GATEWAY_IP, 32)
            .context(|| format!("add {GATEWAY_IP} to lo in {router_name}"))?;
        router
            .add_blackhole_default()
            .context(|| format!("add the blackhole default route in {router_name}"))?;
        let link = self.add_veth(&mut router, EXTERNAL_LINK, &self.external, ext_mac)?;
        for &host in hosts {
            route_to(&mut router, link, host, ext_mac)
                .context(|| format!("route {host} to {EXTERNAL_LINK} in {router_name}"))?;
        }
        drop(router);
        configure_inside(&mut external, hosts, None)
            .context(|| format!("configure {POD_LINK} in {}", self.external.name))?;
        self.apply_services(&[])
    }

    /// Creates the veth pair `name` (in the router, up) / `eth0` (in `peer`) and returns the
    /// router end's index.
    fn add_veth(
        &self,
        router: &mut Netlink,
        name: &str,
        peer: &NetnsHandle,
        peer_mac: Mac,
    ) -> Result<i32, NetError> {
        let what = || {
            format!(
                "create veth {name} in {} / {POD_LINK} in {}",
                self.router.name, peer.name
            )
        };
        let peer_ns = fs::File::open(&peer.path).context(what)?;
        router
            .add_veth(
                name,
                GATEWAY_MAC_BYTES,
                POD_LINK,
                peer_mac,
                peer_ns.as_raw_fd(),
            )
            .context(what)?;
        let index = router.link_index(name).context(what)?;
        router.set_up(index, true).context(what)?;
        Ok(index)
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
            scratch: self.runtime_dir.join("pods").join(key).join("scratch"),
            router_link: format!("pod{}", self.next_link.fetch_add(1, Ordering::Relaxed)),
        };
        // The namespace first: creating it fails when the key is taken, before anything else.
        let netlink =
            sys::create_netns(&pod.netns.path, &POD_SYSCTLS).map_err(|err| match err {
                NetError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists => {
                    NetError::invalid("pod key", format!("{} is already in use", Quoted(key)))
                }
                other => other,
            })?;
        let result = self.setup_pod(&pod, netlink, resolv_conf);
        if let Err(err) = result {
            if let Err(cleanup) = self.teardown_pod(&pod) {
                tracing::warn!(pod = key, error = %cleanup, "cleanup after a failed add_pod");
            }
            return Err(err);
        }
        Ok(pod)
    }

    fn setup_pod(
        &self,
        pod: &PodNetwork,
        mut inside: Netlink,
        resolv_conf: &str,
    ) -> Result<(), NetError> {
        let dir = pod.resolv_conf.parent().expect("resolv.conf has a parent");
        make_dir(dir)?;
        fs::write(&pod.resolv_conf, resolv_conf)
            .and_then(|()| fs::set_permissions(&pod.resolv_conf, fs::Permissions::from_mode(0o644)))
            .context(|| format!("write {}", pod.resolv_conf.display()))?;
        sys::mount_scratch(&pod.scratch)?;
        let (ip, link, mac) = (pod.ip, &pod.router_link, pod_mac(pod.ip));
        {
            let mut router = self
                .router_netlink
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let index = self.add_veth(&mut router, link, &pod.netns, mac)?;
            route_to(&mut router, index, ip, mac).map_err(|err| {
                let what = format!("route {ip} to {link} in {}", self.router.name);
                if err.kind() == io::ErrorKind::AlreadyExists {
                    NetError::invalid("pod address", format!("{ip} is already in use"))
                } else {
                    NetError::io(what, err)
                }
            })?;
        }
        configure_inside(&mut inside, &[ip], self.config.pod_routes.as_deref())
            .context(|| format!("configure {POD_LINK} in {}", pod.netns.name))
    }

    /// Ends the pod's processes (by PID) and removes its namespace and links.
    ///
    /// The route to the pod is gone and the router end of its veth is down when this returns;
    /// the veth pair itself disappears with the pod's namespace, which the kernel frees in the
    /// background once nothing holds it (a socket created in it with
    /// [`NetnsHandle::bind_tcp`] does, until closed).
    ///
    /// # Caveats
    /// Processes get SIGKILL and are waited for, at most 10 s (a process stuck in the kernel).
    ///
    /// # Errors
    /// Fails when a process does not end or a kernel call fails.
    pub fn remove_pod(&self, pod: PodNetwork) -> Result<(), NetError> {
        self.teardown_pod(&pod)
    }

    fn teardown_pod(&self, pod: &PodNetwork) -> Result<(), NetError> {
        let id = sys::ns_id(&pod.netns.path).ok();
        if let Some(id) = id {
            sys::kill_all_in(&[id])?;
        }
        // Cut the pod off at once: no route to it, its router end down. Deleting the veth
        // explicitly would cost an RCU grace period (~20 ms) per pod; the pair goes with the
        // pod's namespace instead, which the kernel frees in the background once unmounted.
        let cut = {
            let mut router = self
                .router_netlink
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            cut_off(&mut router, &pod.router_link, pod.ip)
                .context(|| format!("cut {} off in {}", pod.router_link, self.router.name))
        };
        sys::delete_netns(&pod.netns.path)?;
        // A process that entered while we were busy (an exec racing the removal) would
        // otherwise live on in a namespace nobody can name any more.
        if let Some(id) = id {
            sys::kill_all_in(&[id])?;
        }
        sys::unmount_all_under(&pod.scratch)?;
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
    /// The script may name no other table and never the whole ruleset (`flush ruleset`), so
    /// that it cannot disturb the Service table.
    ///
    /// # Errors
    /// Fails when the script names another table or the ruleset, or when `nft` rejects it; the
    /// previous filter then stays in place.
    pub fn apply_filter(&self, nft_script: &str) -> Result<(), NetError> {
        let script = nft::wrap_filter(nft_script)?;
        sys::run_in_netns(&self.router.path, "nft", &["-f", "-"], &script).map(drop)
    }

    /// Ends every process in the instance's namespaces (by PID) and removes every namespace,
    /// link and file the instance created.
    ///
    /// # Caveats
    /// Processes get SIGKILL and are waited for, at most 10 s. The kernel frees the namespaces
    /// (and so the veths) in the background once nothing holds them any more.
    ///
    /// # Errors
    /// Fails when a process does not end or a namespace or file cannot be removed.
    pub fn destroy(mut self) -> Result<(), NetError> {
        self.destroyed = true;
        crate::cleanup::destroy_instance(&self.config.instance).map(drop)
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

/// Routes `ip` (/32) out of the router's link `index` and pins its MAC.
fn route_to(router: &mut Netlink, index: i32, ip: Ipv4Addr, mac: Mac) -> io::Result<()> {
    router.add_route(ip, 32, index, None, Scope::Link)?;
    router.set_neighbour(index, ip, mac)
}

/// Removes the route to the pod and sets its router end down; a link already gone is fine.
fn cut_off(router: &mut Netlink, link: &str, ip: Ipv4Addr) -> io::Result<()> {
    let index = match router.link_index(link) {
        Err(err) if netlink::errno(&err) == Some(libc::ENODEV) => return Ok(()),
        other => other?,
    };
    match router.del_route(ip, 32, index) {
        Err(err) if netlink::errno(&err) != Some(libc::ESRCH) => return Err(err),
        _ => {}
    }
    router.set_up(index, false)
}

/// Configures a namespace behind the router (a pod or the external one): `lo` up, the /32
/// addresses on `eth0`, the gateway on-link with its MAC pinned (the router end has no address
/// on the link, so no ARP is needed or possible), and the default route via it, or with
/// `routes` a route via it to each of those ranges only.
fn configure_inside(
    netlink: &mut Netlink,
    addresses: &[Ipv4Addr],
    routes: Option<&[(Ipv4Addr, u8)]>,
) -> io::Result<()> {
    let lo = netlink.link_index("lo")?;
    netlink.set_up(lo, true)?;
    let eth = netlink.link_index(POD_LINK)?;
    for &ip in addresses {
        netlink.add_address(eth, ip, 32)?;
    }
    netlink.set_up(eth, true)?;
    netlink.add_route(GATEWAY_IP, 32, eth, None, Scope::Link)?;
    netlink.set_neighbour(eth, GATEWAY_IP, GATEWAY_MAC_BYTES)?;
    let default = [(Ipv4Addr::UNSPECIFIED, 0)];
    for &(range, prefix) in routes.unwrap_or(&default) {
        netlink.add_route(range, prefix, eth, Some(GATEWAY_IP), Scope::Universe)?;
    }
    Ok(())
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

/// Creates `dir` and its missing parents, mode 0700: only root reaches the fabric's files
/// (pods get theirs through mounts made before they drop root).
fn make_dir(dir: &std::path::Path) -> Result<(), NetError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
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
