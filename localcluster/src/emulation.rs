//! Behaviours of other Kubernetes servers that a local cluster can take on, each named after what
//! it emulates, so that netverdict is tested against what real clusters do and not only against
//! what it expects.

use std::ffi::OsString;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use netverdict_apiserver::{ServerOptions, StoreOptions};
use netverdict_engine::Quoted;
use netverdict_netns::FabricConfig;

use crate::cluster::EXTERNAL_HOSTS;

/// The range every node's pod range (`10.244.<node>.0/24`) is part of.
const POD_RANGE: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 0);
/// The same on the real lane, whose pods are in 198.18.0.0/24 (node `i`: `198.18.<i>.0/24`).
const LANE_POD_RANGE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);

/// One behaviour of another Kubernetes release or server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Behaviour {
    /// The API server offers only `v4.channel.k8s.io` for exec, as Kubernetes before 1.30 does
    /// by default: a client cannot close stdin alone, closing it closes the whole stream and the
    /// exit status never comes.
    #[value(name = "exec-v4-only")]
    ExecV4Only,
    /// The kubelet of Kubernetes before 1.22: a pod that asks for a sysctl outside that
    /// release's safe set (`net.ipv4.ip_unprivileged_port_start` among them) fails with
    /// `SysctlForbidden`.
    #[value(name = "kubelet-before-1.22")]
    KubeletBefore1_22,
    /// The API of Kubernetes 1.20: NetworkPolicy ports have no `endPort` (the server drops it
    /// silently and stores a single port), EndpointSlices are not served as
    /// `discovery.k8s.io/v1`, and `/version` says v1.20.2.
    #[value(name = "api-1.20")]
    Api1_20,
    /// No cluster DNS, as a cluster without CoreDNS: no DNS pod runs behind the `kube-dns`
    /// Service, so the pods' nameserver refuses every query (a Service without endpoints).
    #[value(name = "no-cluster-dns")]
    NoClusterDns,
    /// No emulated external hosts, and pods routed to the pod and Service ranges only, as on a
    /// node that routes them nowhere else: a probe to any other address (external.test's
    /// 203.0.113.10, 198.51.100.10, ...) fails at once with "Network is unreachable".
    #[value(name = "no-external-hosts")]
    NoExternalHosts,
    /// The real Kubernetes lane of `ci/real-cluster.sh` (v1.20 from Debian's packages, no
    /// CoreDNS, pods routed to the pod and Service ranges only): exec-v4-only,
    /// kubelet-before-1.22, api-1.20, no-cluster-dns and no-external-hosts at once, and the
    /// lane's pod addresses, in 198.18.0.0/16 (outside the private ranges) instead of
    /// 10.244.0.0/16.
    Lane,
}

/// What [`Behaviour::Lane`] stands for.
const LANE: [Behaviour; 5] = [
    Behaviour::ExecV4Only,
    Behaviour::KubeletBefore1_22,
    Behaviour::Api1_20,
    Behaviour::NoClusterDns,
    Behaviour::NoExternalHosts,
];

impl Behaviour {
    fn name(self) -> &'static str {
        match self {
            Behaviour::ExecV4Only => "exec-v4-only",
            Behaviour::KubeletBefore1_22 => "kubelet-before-1.22",
            Behaviour::Api1_20 => "api-1.20",
            Behaviour::NoClusterDns => "no-cluster-dns",
            Behaviour::NoExternalHosts => "no-external-hosts",
            Behaviour::Lane => "lane",
        }
    }
}

/// The sysctls a kubelet before 1.22 allows without `--allowed-unsafe-sysctls`.
const SAFE_SYSCTLS_BEFORE_1_22: [&str; 4] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
];

/// Which behaviours of other servers a local cluster takes on: one option for every command
/// that starts one.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args)]
pub struct EmulationOptions {
    /// Behave like other Kubernetes servers, comma-separated: exec-v4-only (an API server before
    /// 1.30), kubelet-before-1.22 (refuses pods asking for sysctls it does not know as safe),
    /// api-1.20 (no NetworkPolicy endPort, no EndpointSlice v1), no-cluster-dns (no CoreDNS),
    /// no-external-hosts (pods routed to the pod and Service ranges only), lane (all of these:
    /// the real lane's cluster).
    #[arg(
        long = "emulate",
        value_enum,
        value_name = "BEHAVIOUR",
        value_delimiter = ','
    )]
    pub behaviours: Vec<Behaviour>,
}

impl EmulationOptions {
    pub fn has(&self, behaviour: Behaviour) -> bool {
        self.behaviours.contains(&behaviour)
            || (self.behaviours.contains(&Behaviour::Lane) && LANE.contains(&behaviour))
    }

    /// Whether the cluster runs its DNS pod.
    pub(crate) fn cluster_dns(&self) -> bool {
        !self.has(Behaviour::NoClusterDns)
    }

    /// The emulated external hosts the cluster has: name and address.
    pub(crate) fn external_hosts(&self) -> &'static [(&'static str, Ipv4Addr)] {
        if self.has(Behaviour::NoExternalHosts) {
            &[]
        } else {
            &EXTERNAL_HOSTS
        }
    }

    /// The /16 every node's pod range is part of: node `i` gives out addresses of
    /// `A.B.<i>.0/24`.
    pub(crate) fn pod_range(&self) -> Ipv4Addr {
        if self.behaviours.contains(&Behaviour::Lane) {
            LANE_POD_RANGE
        } else {
            POD_RANGE
        }
    }

    /// Node `index`'s pod range, `A.B.<index>.0/24`.
    pub(crate) fn node_pod_range(&self, index: u8) -> String {
        let [a, b, ..] = self.pod_range().octets();
        format!("{a}.{b}.{index}.0/24")
    }

    /// The fabric of instance `name`: without external hosts, pods are routed to the pod range
    /// and `services` only.
    pub(crate) fn fabric_config(&self, name: &str, services: Ipv4Net) -> FabricConfig {
        let mut config = FabricConfig::new(name);
        if self.has(Behaviour::NoExternalHosts) {
            config.external_hosts = Vec::new();
            config.pod_routes = Some(vec![
                (self.pod_range(), 16),
                (services.network(), services.prefix_len()),
            ]);
        }
        config
    }

    pub fn is_empty(&self) -> bool {
        self.behaviours.is_empty()
    }

    /// The command-line arguments that give these options again.
    pub fn to_args(&self) -> Vec<OsString> {
        if self.behaviours.is_empty() {
            return Vec::new();
        }
        let names: Vec<&str> = self.behaviours.iter().map(|b| b.name()).collect();
        vec!["--emulate".into(), names.join(",").into()]
    }

    /// The API server's options under these behaviours.
    pub(crate) fn server_options(&self) -> ServerOptions {
        let mut options = ServerOptions {
            exec_v5: !self.has(Behaviour::ExecV4Only),
            service_account_admission: true,
            ..ServerOptions::default()
        };
        if self.has(Behaviour::Api1_20) {
            options.endpoint_slices_v1 = false;
            options.git_version = "v1.20.2".to_owned();
        }
        options
    }

    /// The store's options under these behaviours.
    pub(crate) fn store_options(&self) -> StoreOptions {
        StoreOptions {
            network_policy_end_port: !self.has(Behaviour::Api1_20),
            ..StoreOptions::default()
        }
    }

    /// Why the kubelet refuses a pod that asks for `sysctl`, if it does: the message of the
    /// pod's status, as such a kubelet words it.
    pub(crate) fn forbidden_sysctl(&self, sysctl: &str) -> Option<String> {
        (self.has(Behaviour::KubeletBefore1_22) && !SAFE_SYSCTLS_BEFORE_1_22.contains(&sysctl))
            .then(|| format!("Pod forbidden sysctl: {} not whitelisted", Quoted(sysctl)))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        emulation: EmulationOptions,
    }

    #[test]
    fn behaviours_parse_by_name_and_give_their_arguments_back() {
        let cli =
            Cli::try_parse_from(["x", "--emulate", "exec-v4-only,kubelet-before-1.22"]).unwrap();
        assert!(cli.emulation.has(Behaviour::ExecV4Only));
        assert!(cli.emulation.has(Behaviour::KubeletBefore1_22));
        let again: Vec<OsString> = std::iter::once("x".into())
            .chain(cli.emulation.to_args())
            .collect();
        assert_eq!(Cli::try_parse_from(again).unwrap().emulation, cli.emulation);
        assert!(Cli::try_parse_from(["x", "--emulate", "kubelet-1.21"]).is_err());
        assert!(
            Cli::try_parse_from(["x"])
                .unwrap()
                .emulation
                .to_args()
                .is_empty()
        );
    }

    #[test]
    fn the_lane_is_every_behaviour_of_the_real_lane_at_once() {
        let lane = Cli::try_parse_from(["x", "--emulate", "lane"])
            .unwrap()
            .emulation;
        for behaviour in LANE {
            assert!(lane.has(behaviour), "{behaviour:?}");
        }
        assert!(!lane.cluster_dns());
        assert!(lane.external_hosts().is_empty());
        let services: Ipv4Net = "10.96.0.0/16".parse().unwrap();
        let fabric = lane.fabric_config("l", services);
        assert!(fabric.external_hosts.is_empty());
        assert_eq!(
            fabric.pod_routes,
            Some(vec![
                (Ipv4Addr::new(198, 18, 0, 0), 16),
                (Ipv4Addr::new(10, 96, 0, 0), 16)
            ])
        );
        assert_eq!(lane.node_pod_range(1), "198.18.1.0/24");
        let today = EmulationOptions::default();
        assert!(today.cluster_dns());
        assert_eq!(today.external_hosts().len(), 2);
        assert_eq!(today.fabric_config("l", services).pod_routes, None);
        let dns_only = Cli::try_parse_from(["x", "--emulate", "no-cluster-dns"])
            .unwrap()
            .emulation;
        assert!(!dns_only.cluster_dns() && !dns_only.has(Behaviour::Api1_20));
        assert_eq!(dns_only.node_pod_range(0), "10.244.0.0/24");
    }

    #[test]
    fn an_old_kubelet_forbids_the_unprivileged_port_sysctl_only() {
        let old = EmulationOptions {
            behaviours: vec![Behaviour::KubeletBefore1_22],
        };
        assert_eq!(
            old.forbidden_sysctl("net.ipv4.ip_unprivileged_port_start")
                .as_deref(),
            Some(r#"Pod forbidden sysctl: "net.ipv4.ip_unprivileged_port_start" not whitelisted"#)
        );
        assert_eq!(old.forbidden_sysctl("net.ipv4.ip_local_port_range"), None);
        let today = EmulationOptions::default();
        assert_eq!(
            today.forbidden_sysctl("net.ipv4.ip_unprivileged_port_start"),
            None
        );
    }
}
