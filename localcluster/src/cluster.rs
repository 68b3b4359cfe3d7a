//! [`LocalCluster`]: starts the fabric, the store, the controllers, cluster DNS and the API server
//! of one instance, and tears all of it down again.
//!
//! Lifecycle: `Starting` (fabric, bootstrap objects, controllers, API server, then waiting for
//! cluster DNS) -> `Running` -> `Stopped` ([`LocalCluster::shutdown`], or `Drop` on a panic: the
//! fabric is destroyed in both cases, which ends every process of every pod by PID).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use netverdict_apiserver::auth::ServiceAccountTokens;
use netverdict_apiserver::{ApiError, ApiServer, ExecHandler, Resource, Store, StoreOptions};
use netverdict_engine::Quoted;
use netverdict_netns::{Fabric, INFRA_IP, NetError, PodNetwork};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::access::ApiAccess;
use crate::dns::DnsRecords;
use crate::emulation::EmulationOptions;
use crate::events::Recorder;
use crate::instance::{self, InstanceDir};
use crate::kubeconfig_merge::{self, KubeconfigError};
use crate::{
    controllers, endpoints, enforcement, external, jobs, kubelet, namespaces, serviceaccounts,
};

/// ClusterIP of the `kubernetes` Service.
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);
/// ClusterIP of the `kube-dns` Service (what every pod's resolv.conf names).
pub const DNS_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
/// Port of the emulated API endpoint behind the `kubernetes` Service, on [`INFRA_IP`].
pub const API_ENDPOINT_PORT: u16 = 6443;
/// The emulated external hosts: name and address.
pub const EXTERNAL_HOSTS: [(&str, Ipv4Addr); 2] = [
    ("external.test", Ipv4Addr::new(203, 0, 113, 10)),
    ("external2.test", Ipv4Addr::new(198, 51, 100, 10)),
];
/// How long [`LocalCluster::start`] waits for cluster DNS before giving up.
const DNS_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Kubernetes version the nodes report.
pub const KUBELET_VERSION: &str = "v1.33.0";

/// How the cluster's network treats NetworkPolicies (pods always get routed /32 addresses,
/// Calico style): see `crate::enforcement`.
pub use netverdict_enforce::CniMode;

/// How much a local cluster trusts its pods: one option for every command that starts one.
#[derive(Clone, Copy, Debug, Default, clap::Args)]
pub struct PodSecurityOptions {
    /// DANGEROUS: run pods that ask for root (runAsUser 0), privileged containers, added
    /// capabilities, hostPath volumes or host namespaces. Pod processes are processes of this
    /// machine: such pods get root on it, and anyone who can create pods in the cluster can too.
    #[arg(long)]
    pub allow_privileged_pods: bool,
}

/// What a local cluster is started with.
#[derive(Clone, Debug)]
pub struct LocalClusterConfig {
    /// Instance name, `[a-z0-9-]{1,16}`: kernel objects and `/run/netverdict/<name>/` derive from it.
    pub name: String,
    /// Number of nodes (at least 1, at most 250).
    pub nodes: usize,
    /// What the pod command `netverdict` runs: copied at start to
    /// `/run/netverdict/<name>/bin/netverdict`, which pods run.
    pub netverdict_bin: PathBuf,
    pub cni: CniMode,
    /// Every policy change is enforced only after this delay (slow policy propagation).
    pub policy_delay: Duration,
    /// Slow namespace deletion: a deleted namespace stays Terminating (refusing new content)
    /// this long after its contents are gone, as on a real cluster, where the namespace
    /// controller takes seconds. Zero (the default): it goes as soon as it is empty.
    pub namespace_deletion: Duration,
    /// Also merge the instance's cluster, user and context (`netverdict-<name>`) into this
    /// kubeconfig, created if absent, and set its current-context; shutting down removes them
    /// again (see `kubeconfig_merge`). The instance's own kubeconfig always goes to
    /// `/run/netverdict/<name>/kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// The API server's address (port 0 picks a free port); `None` runs without an API server
    /// (the Store is then reached through [`LocalCluster::store`] only, and no kubeconfig is
    /// written).
    pub api_bind: Option<SocketAddr>,
    /// First delay before restarting a crashed container (doubles up to 5 minutes, as a
    /// kubelet's CrashLoopBackOff); 10 s by default.
    pub restart_backoff: Duration,
    /// Run pods that ask for root, privileges, capabilities, host paths or host namespaces
    /// (see [`PodSecurityOptions`]). Dangerous: such pods are root on this machine.
    pub allow_privileged_pods: bool,
    /// Behaviours of other Kubernetes servers to take on.
    pub emulation: EmulationOptions,
}

impl LocalClusterConfig {
    pub fn new(name: impl Into<String>, netverdict_bin: impl Into<PathBuf>) -> LocalClusterConfig {
        LocalClusterConfig {
            name: name.into(),
            nodes: 2,
            netverdict_bin: netverdict_bin.into(),
            cni: CniMode::Enforcing,
            policy_delay: Duration::ZERO,
            namespace_deletion: Duration::ZERO,
            kubeconfig: None,
            api_bind: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            restart_backoff: Duration::from_secs(10),
            allow_privileged_pods: false,
            emulation: EmulationOptions::default(),
        }
    }
}

/// Errors of starting or stopping a local cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("instance {} is already running (pid {})", Quoted(.0), .1)]
    AlreadyRunning(String, i32),
    #[error("network fabric: {0}")]
    Net(#[from] NetError),
    #[error("API store: {0}")]
    Api(#[from] ApiError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    #[error("{0}")]
    Other(String),
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// One node: a Store object and a pod address range `10.244.<index>.0/24` (see
/// `EmulationOptions::pod_range`).
#[derive(Clone, Debug)]
pub(crate) struct NodeInfo {
    pub name: String,
    pub index: u8,
    pub internal_ip: Ipv4Addr,
}

/// State shared by the controllers, the kubelet and the exec handler.
pub(crate) struct Ctx {
    pub store: Store,
    fabric: RwLock<Option<Arc<Fabric>>>,
    pub dns: DnsRecords,
    pub nodes: Vec<NodeInfo>,
    /// The instance's copy of the netverdict binary, which the pod command `netverdict` runs.
    pub netverdict_bin: PathBuf,
    pub log_dir: PathBuf,
    pub restart_backoff: Duration,
    pub allow_privileged_pods: bool,
    pub emulation: EmulationOptions,
    /// Pods the kubelet runs, by (namespace, name).
    pub pods: Mutex<HashMap<(String, String), kubelet::PodEntry>>,
    /// Used host numbers of each node's range.
    ipam: Mutex<BTreeMap<u8, BTreeSet<u8>>>,
    /// The host number each node's range gave out last.
    ipam_cursor: Mutex<BTreeMap<u8, u8>>,
    next_key: AtomicU64,
    /// Round robin position of the scheduler.
    pub next_node: AtomicUsize,
    /// Pods or Services changed: the endpoints controller recomputes.
    pub changed: tokio::sync::Notify,
    /// Set once the `kube-dns` Service translates to a ready endpoint.
    pub dns_ready: AtomicBool,
    pub events: Arc<Recorder>,
    /// Mints the ServiceAccount tokens of pods' projected volumes, once the API server runs.
    pub tokens: OnceLock<Arc<ServiceAccountTokens>>,
    /// The API's CA, which every namespace's `kube-root-ca.crt` holds, once the API server runs.
    pub ca_pem: OnceLock<String>,
}

impl Ctx {
    /// The fabric, unless the cluster is shutting down.
    pub fn fabric(&self) -> Option<Arc<Fabric>> {
        self.fabric
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs a blocking fabric operation off the async threads.
    pub async fn with_fabric<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Fabric) -> Result<T, NetError> + Send + 'static,
    ) -> Result<T, NetError> {
        let Some(fabric) = self.fabric() else {
            return Err(NetError::Invalid {
                what: "fabric".into(),
                message: "the cluster is shutting down".into(),
            });
        };
        tokio::task::spawn_blocking(move || f(&fabric))
            .await
            .unwrap_or_else(|e| {
                Err(NetError::Invalid {
                    what: "fabric task".into(),
                    message: e.to_string(),
                })
            })
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// A free address of the node's range (`.2` to `.254`), the next one after the last given
    /// out, as host-local IPAM does: an address is reused as late as possible, so connection
    /// tracking state of a deleted pod never applies to a new one.
    pub fn allocate_ip(&self, node: &NodeInfo) -> Option<Ipv4Addr> {
        let mut ipam = self.ipam.lock().unwrap_or_else(|e| e.into_inner());
        let used = ipam.entry(node.index).or_default();
        let cursor = self
            .ipam_cursor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&node.index)
            .copied();
        let after = cursor.unwrap_or(1);
        let host = (after.saturating_add(1)..=254u8)
            .chain(2..=after)
            .find(|h| *h >= 2 && !used.contains(h))?;
        used.insert(host);
        self.ipam_cursor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node.index, host);
        let [a, b, ..] = self.emulation.pod_range().octets();
        Some(Ipv4Addr::new(a, b, node.index, host))
    }

    pub fn release_ip(&self, ip: Ipv4Addr) {
        let [_, _, index, host] = ip.octets();
        let mut ipam = self.ipam.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(used) = ipam.get_mut(&index) {
            used.remove(&host);
        }
    }

    /// A short unique key for a pod's kernel objects.
    pub fn next_pod_key(&self) -> String {
        format!("p{}", self.next_key.fetch_add(1, Ordering::Relaxed))
    }
}

/// A copy of a pod network description (the fabric hands out one value per pod).
pub(crate) fn clone_network(net: &PodNetwork) -> PodNetwork {
    PodNetwork {
        netns: net.netns.clone(),
        ip: net.ip,
        resolv_conf: net.resolv_conf.clone(),
        scratch: net.scratch.clone(),
        router_link: net.router_link.clone(),
    }
}

/// The current time as the API serializes it.
pub(crate) fn now() -> Value {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or_default())
        .unwrap_or_default();
    k8s_openapi::jiff::Timestamp::new(secs, 0)
        .ok()
        .and_then(|t| {
            serde_json::to_value(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t)).ok()
        })
        .unwrap_or(Value::Null)
}

/// A running local cluster.
///
/// # Caveats
/// Dropping it without [`LocalCluster::shutdown`] still removes the fabric (and so every pod
/// process), but blocks the dropping thread while it does.
pub struct LocalCluster {
    ctx: Arc<Ctx>,
    cni: CniMode,
    api: Option<ApiServer>,
    api_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
    dir: InstanceDir,
    kubeconfig: PathBuf,
}

impl LocalCluster {
    /// Starts an instance and returns once the API answers and cluster DNS is ready.
    ///
    /// # Errors
    /// Fails on an invalid configuration, when an instance of that name is running, when not
    /// root, when the fabric or a listener cannot be created, or when cluster DNS is not ready
    /// within a minute; what was created is removed.
    pub async fn start(config: LocalClusterConfig) -> Result<LocalCluster, ClusterError> {
        instance::validate_name(&config.name).map_err(ClusterError::Config)?;
        if config.nodes == 0 || config.nodes > 250 {
            return Err(ClusterError::Config(format!(
                "nodes must be 1..=250, not {}",
                config.nodes
            )));
        }
        if let Some(path) = &config.kubeconfig {
            kubeconfig_merge::check(path)?;
        }
        let dir = InstanceDir::new(&config.name);
        if let Some(pid) = dir.pid() {
            if dir.is_alive() {
                return Err(ClusterError::AlreadyRunning(config.name.clone(), pid));
            }
            // A dead instance of that name (killed): remove what it left before starting anew.
            let name = config.name.clone();
            let removed = tokio::task::spawn_blocking(move || {
                netverdict_netns::destroy_leftovers(Some(&name))
            })
            .await
            .map_err(|e| ClusterError::Other(e.to_string()))??;
            if !removed.is_empty() {
                tracing::info!(instance = %config.name, removed = %removed.join(", "), "removed leftovers of a dead instance");
            }
        }
        dir.create()
            .map_err(io_err(format!("create {}", dir.path.display())))?;
        let services = config.emulation.store_options().service_cidr;
        let fabric_config = config.emulation.fabric_config(&config.name, services);
        let fabric = tokio::task::spawn_blocking(move || Fabric::create(fabric_config))
            .await
            .map_err(|e| ClusterError::Other(e.to_string()))??;
        let fabric = Arc::new(fabric);

        let nodes = node_infos(&config.name, config.nodes);
        let log_dir = dir.logs_dir();
        instance::create_dir_with_mode(&log_dir, 0o700)
            .map_err(io_err(format!("create {}", log_dir.display())))?;
        let store = Store::with_options(StoreOptions {
            finalize_empty_namespaces: config.namespace_deletion.is_zero(),
            ..config.emulation.store_options()
        });
        let ctx = Arc::new(Ctx {
            events: Arc::new(Recorder::new(store.clone())),
            store,
            fabric: RwLock::new(Some(fabric.clone())),
            dns: DnsRecords::new(
                (config.emulation.external_hosts().iter()).map(|(n, ip)| ((*n).to_owned(), *ip)),
            ),
            nodes,
            netverdict_bin: dir.pod_binary(),
            log_dir,
            restart_backoff: config.restart_backoff,
            allow_privileged_pods: config.allow_privileged_pods,
            emulation: config.emulation.clone(),
            pods: Mutex::new(HashMap::new()),
            ipam: Mutex::new(BTreeMap::new()),
            ipam_cursor: Mutex::new(BTreeMap::new()),
            next_key: AtomicU64::new(0),
            next_node: AtomicUsize::new(0),
            changed: tokio::sync::Notify::new(),
            dns_ready: AtomicBool::new(false),
            tokens: OnceLock::new(),
            ca_pem: OnceLock::new(),
        });
        let mut cluster = LocalCluster {
            ctx: ctx.clone(),
            cni: config.cni,
            api: None,
            api_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tasks: Vec::new(),
            kubeconfig: dir.kubeconfig(),
            dir,
        };
        // From here on, an error drops `cluster`, which removes the fabric.
        cluster
            .dir
            .install_pod_binary(&config.netverdict_bin)
            .map_err(io_err(format!(
                "copy {} to {}",
                config.netverdict_bin.display(),
                cluster.dir.pod_binary().display()
            )))?;
        let hosts = config.emulation.external_hosts();
        let api_stand_in = config.api_bind.is_none();
        cluster
            .tasks
            .extend(start_external_hosts(&fabric, hosts, api_stand_in)?);
        bootstrap(&ctx)?;
        cluster.tasks.push(tokio::spawn(kubelet::run(ctx.clone())));
        cluster
            .tasks
            .push(tokio::spawn(serviceaccounts::run(ctx.clone())));
        cluster.tasks.push(tokio::spawn(jobs::run(ctx.clone())));
        cluster
            .tasks
            .push(tokio::spawn(endpoints::run(ctx.clone())));
        cluster
            .tasks
            .push(tokio::spawn(controllers::run(ctx.clone())));
        cluster.tasks.push(tokio::spawn(enforcement::run(
            ctx.clone(),
            config.cni,
            config.policy_delay,
        )));
        if !config.namespace_deletion.is_zero() {
            cluster.tasks.push(tokio::spawn(namespaces::run(
                ctx.store.clone(),
                config.namespace_deletion,
            )));
        }
        let pid = instance::own_pid_record();
        instance::write_atomic(&cluster.dir.pid_file(), &pid)
            .map_err(io_err("write the pid file"))?;
        if let Some(bind) = config.api_bind {
            cluster.start_api(&config, bind, &fabric).await?;
        }
        let waited = std::time::Instant::now();
        while ctx.emulation.cluster_dns() && !ctx.dns_ready.load(Ordering::Acquire) {
            if waited.elapsed() > DNS_READY_TIMEOUT {
                return Err(ClusterError::Other(format!(
                    "cluster DNS not ready after {} (see {})",
                    humantime::format_duration(DNS_READY_TIMEOUT),
                    ctx.log_dir.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        instance::write_atomic(&cluster.dir.ready_file(), "ready\n")
            .map_err(io_err("write the ready file"))?;
        Ok(cluster)
    }

    /// Starts the API server on `bind` and on the `kubernetes` Service's endpoint inside the
    /// fabric ([`INFRA_IP`]:[`API_ENDPOINT_PORT`], where pods reach it), hands the kubelet its
    /// token minter and the controllers the CA, and writes the instance's credentials and
    /// kubeconfig.
    async fn start_api(
        &mut self,
        config: &LocalClusterConfig,
        bind: SocketAddr,
        fabric: &Fabric,
    ) -> Result<(), ClusterError> {
        let access = ApiAccess::generate()?;
        let exec = Arc::new(kubelet::Exec {
            ctx: self.ctx.clone(),
        });
        let mut api = ApiServer::start(
            self.ctx.store.clone(),
            exec,
            bind,
            config.emulation.server_options(),
            access.security(),
        )
        .await
        .map_err(|e| ClusterError::Other(format!("start the API server: {e}")))?;
        let endpoint = SocketAddr::from((INFRA_IP, API_ENDPOINT_PORT));
        let inside = fabric
            .external()
            .bind_tcp(endpoint)
            .and_then(|l| {
                l.set_nonblocking(true)?;
                tokio::net::TcpListener::from_std(l)
            })
            .map_err(io_err(format!("listen on {endpoint} in the fabric")))?;
        api.serve_also(inside);
        let _ = self.ctx.tokens.set(api.service_account_tokens());
        let _ = self.ctx.ca_pem.set(access.ca_pem().to_owned());
        self.api_addr = api.addr;
        let kubeconfig = instance::kubeconfig_yaml(&config.name, access.kubeconfig("", api.url()));
        self.api = Some(api);
        let d = &self.dir;
        let secrets = d.secrets_dir();
        instance::create_dir_with_mode(&secrets, 0o700)
            .map_err(io_err(format!("create {}", secrets.display())))?;
        instance::write_atomic(&secrets.join("ca.crt"), access.ca_pem())
            .map_err(io_err("write the CA certificate"))?;
        instance::write_atomic(&secrets.join("token"), &format!("{}\n", access.token()))
            .map_err(io_err("write the token"))?;
        instance::write_atomic(&d.api_file(), &self.api_addr.to_string())
            .map_err(io_err("write the api file"))?;
        instance::write_atomic(&d.kubeconfig(), &kubeconfig)
            .map_err(io_err("write the kubeconfig"))?;
        if let Some(path) = &config.kubeconfig {
            kubeconfig_merge::merge_recording(d, path, &kubeconfig)?;
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.dir.name
    }

    /// The policy ruleset the cluster's current state compiles to: its size, measured by
    /// compiling it once more (what one reconcile costs).
    pub fn policy_ruleset_stats(&self) -> enforcement::RulesetStats {
        enforcement::stats(&self.ctx, self.cni)
    }

    /// The API server's address (HTTPS on loopback).
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// `https://127.0.0.1:PORT`.
    pub fn api_url(&self) -> String {
        format!("https://{}", self.api_addr)
    }

    /// `secrets/` of the instance directory: `ca.crt` and the admin's `token`.
    pub fn secrets_dir(&self) -> PathBuf {
        self.dir.secrets_dir()
    }

    /// The instance directory, `/run/netverdict/<name>/`.
    pub fn instance_dir(&self) -> &Path {
        &self.dir.path
    }

    /// The kubeconfig of this instance (current-context set).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube client of this instance (its kubeconfig: the CA and the admin's client
    /// certificate).
    ///
    /// # Errors
    /// Fails when the cluster runs without an API server.
    pub async fn client(&self) -> Result<kube::Client, ClusterError> {
        if self.api.is_none() {
            return Err(ClusterError::Config(
                "the cluster runs without an API server".into(),
            ));
        }
        let other = |e: &dyn std::fmt::Display| ClusterError::Other(format!("kube client: {e}"));
        let kubeconfig =
            kube::config::Kubeconfig::read_from(&self.kubeconfig).map_err(|e| other(&e))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .map_err(|e| other(&e))?;
        kube::Client::try_from(config).map_err(|e| other(&e))
    }

    /// The object store behind the API.
    pub fn store(&self) -> &Store {
        &self.ctx.store
    }

    /// Runs commands in pods as `kubectl exec` does (what the API server's exec calls).
    pub fn exec_handler(&self) -> Arc<dyn ExecHandler> {
        Arc::new(kubelet::Exec {
            ctx: self.ctx.clone(),
        })
    }

    /// The fabric's namespace name prefix of this instance (`nvl-<name>_`).
    pub fn netns_prefix(&self) -> String {
        format!("{}{}_", netverdict_netns::NAME_PREFIX, self.dir.name)
    }

    /// The copy of [`LocalClusterConfig::netverdict_bin`] that pods run.
    pub fn pod_binary(&self) -> &Path {
        &self.ctx.netverdict_bin
    }

    /// Where the containers' output goes: `<namespace>_<pod>.log`, appended across restarts.
    pub fn log_dir(&self) -> &Path {
        &self.ctx.log_dir
    }

    /// Stops the API server and the controllers, ends every pod process and removes everything
    /// the instance created (namespaces, links, nftables tables, files).
    ///
    /// # Errors
    /// Fails when the fabric cannot be removed completely; `netverdict local down --all` (i.e.
    /// [`netverdict_netns::destroy_leftovers`]) removes what is left.
    pub async fn shutdown(mut self) -> Result<(), ClusterError> {
        if let Some(api) = self.api.take() {
            api.shutdown().await;
        }
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        let ctx = self.ctx.clone();
        let result = tokio::task::spawn_blocking(move || teardown(&ctx))
            .await
            .map_err(|e| ClusterError::Other(e.to_string()))?;
        self.remove_files();
        result
    }

    fn remove_files(&self) {
        for f in [
            self.dir.pid_file(),
            self.dir.api_file(),
            self.dir.kubeconfig(),
            self.dir.ready_file(),
        ] {
            let _ = std::fs::remove_file(f);
        }
        if let Some((merged, Err(error))) = kubeconfig_merge::unmerge_recorded(&self.dir) {
            tracing::warn!(instance = %self.dir.name, file = %merged.file.display(), %error, "removing the merged kubeconfig entries");
        }
        let _ = std::fs::remove_dir_all(&self.ctx.log_dir);
        let _ = std::fs::remove_dir_all(self.dir.secrets_dir());
        let _ = std::fs::remove_file(self.dir.log_file());
        self.dir.remove_pod_binary();
        // Removed only when empty: the fabric keeps its own files there.
        let _ = std::fs::remove_dir(&self.dir.path);
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if self.tasks.is_empty() && self.api.is_none() && self.ctx.fabric().is_none() {
            return;
        }
        for task in self.tasks.drain(..) {
            task.abort();
        }
        // The API server stops with the runtime; its address is released then.
        drop(self.api.take());
        if let Err(e) = teardown(&self.ctx) {
            tracing::warn!(instance = %self.dir.name, error = %e, "teardown on drop");
        }
        self.remove_files();
    }
}

/// Destroys the fabric, waiting for fabric operations in flight to finish.
fn teardown(ctx: &Ctx) -> Result<(), ClusterError> {
    let taken = ctx.fabric.write().unwrap_or_else(|e| e.into_inner()).take();
    let Some(mut fabric) = taken else {
        return Ok(());
    };
    for (_, entry) in ctx.pods.lock().unwrap_or_else(|e| e.into_inner()).drain() {
        entry.task.abort();
    }
    for _ in 0..500 {
        match Arc::try_unwrap(fabric) {
            Ok(f) => return f.destroy().map_err(ClusterError::from),
            Err(still_shared) => {
                fabric = still_shared;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    // The last holder's drop destroys it.
    Err(ClusterError::Other(
        "fabric still in use after 5 s; it is destroyed when released".into(),
    ))
}

fn node_infos(instance: &str, count: usize) -> Vec<NodeInfo> {
    (0..count)
        .map(|i| {
            let name = match i {
                0 => format!("{instance}-control-plane"),
                1 => format!("{instance}-worker"),
                _ => format!("{instance}-worker{i}"),
            };
            let index = u8::try_from(i).unwrap_or(u8::MAX);
            NodeInfo {
                name,
                index,
                internal_ip: Ipv4Addr::new(172, 18, 0, index.saturating_add(2)),
            }
        })
        .collect()
}

/// The external hosts' responders; with `api_stand_in`, also one on the `kubernetes` Service's
/// endpoint answering as an API server does an anonymous request (a cluster without an API
/// server: otherwise the API server itself listens there).
fn start_external_hosts(
    fabric: &Fabric,
    hosts: &[(&'static str, Ipv4Addr)],
    api_stand_in: bool,
) -> Result<Vec<JoinHandle<()>>, ClusterError> {
    let ext = fabric.external();
    let tls = external::tls_acceptor().map_err(io_err("load the external hosts' certificate"))?;
    let mut listeners = Vec::new();
    for &(name, ip) in hosts {
        listeners.push((name, SocketAddr::from((ip, 80)), None));
        listeners.push((name, SocketAddr::from((ip, 443)), Some(tls.clone())));
    }
    if api_stand_in {
        let api = SocketAddr::from((INFRA_IP, API_ENDPOINT_PORT));
        listeners.push((external::API_HOST, api, Some(tls)));
    }
    let mut tasks = Vec::new();
    for (name, addr, tls) in listeners {
        let std_listener = ext
            .bind_tcp(addr)
            .map_err(io_err(format!("listen on {addr} in {}", ext.name)))?;
        std_listener
            .set_nonblocking(true)
            .map_err(io_err("set_nonblocking"))?;
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(io_err("register a listener"))?;
        tasks.push(tokio::spawn(external::serve_http(
            listener,
            name.to_owned(),
            tls,
        )));
    }
    Ok(tasks)
}

/// Creates what a fresh cluster has: namespaces, nodes, the `kubernetes` and `kube-dns`
/// Services and the CoreDNS pod.
fn bootstrap(ctx: &Ctx) -> Result<(), ClusterError> {
    let store = &ctx.store;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        create_if_missing(
            store,
            Resource::Namespaces,
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )?;
    }
    for node in &ctx.nodes {
        let cidr = ctx.emulation.node_pod_range(node.index);
        create_if_missing(store, Resource::Nodes, None, node_object(node, &cidr))?;
    }
    create_if_missing(
        store,
        Resource::Services,
        Some("default"),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": KUBERNETES_SERVICE_IP.to_string(),
                     "clusterIPs": [KUBERNETES_SERVICE_IP.to_string()],
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": API_ENDPOINT_PORT}],
                     "sessionAffinity": "None"}
        }),
    )?;
    create_if_missing(
        store,
        Resource::Services,
        Some("kube-system"),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
            "spec": {"type": "ClusterIP", "clusterIP": DNS_SERVICE_IP.to_string(),
                     "clusterIPs": [DNS_SERVICE_IP.to_string()],
                     "selector": {"k8s-app": "kube-dns"},
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}],
                     "sessionAffinity": "None"}
        }),
    )?;
    if !ctx.emulation.cluster_dns() {
        return Ok(());
    }
    let first = ctx
        .nodes
        .first()
        .map(|n| n.name.clone())
        .unwrap_or_default();
    create_if_missing(
        store,
        Resource::Pods,
        Some("kube-system"),
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "coredns-7c65d6cfc9-nvdns", "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", "pod-template-hash": "7c65d6cfc9"},
                         "annotations": {kubelet::BUILTIN_ANNOTATION: kubelet::BUILTIN_DNS}},
            "spec": {"nodeName": first, "restartPolicy": "Always", "dnsPolicy": "Default",
                     "containers": [{"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.11.3",
                                     "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                               {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}]}]}
        }),
    )?;
    Ok(())
}

fn create_if_missing(
    store: &Store,
    r: Resource,
    ns: Option<&str>,
    obj: Value,
) -> Result<(), ClusterError> {
    match store.create(r, ns, obj) {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn node_object(node: &NodeInfo, cidr: &str) -> Value {
    let mut labels = json!({
        "kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
    });
    if node.index == 0 {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
    }
    let now = now();
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node.name, "labels": labels},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now},
            ],
            "addresses": [{"type": "InternalIP", "address": node.internal_ip.to_string()},
                          {"type": "Hostname", "address": node.name}],
            "capacity": {"cpu": "2", "memory": "8Gi", "pods": "250", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "250", "ephemeral-storage": "100Gi"},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                         "containerRuntimeVersion": "netverdict://0.1.0", "operatingSystem": "linux",
                         "architecture": "amd64", "osImage": "netverdict local cluster",
                         "kernelVersion": kernel_version(), "machineID": "", "systemUUID": "", "bootID": ""}
        }
    })
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}
