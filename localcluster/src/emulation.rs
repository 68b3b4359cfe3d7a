//! Behaviours of other Kubernetes servers that a local cluster can take on, each named after what
//! it emulates, so that netverdict is tested against what real clusters do and not only against
//! what it expects.

use std::ffi::OsString;

use netverdict_apiserver::{ServerOptions, StoreOptions};
use netverdict_engine::Quoted;

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
}

impl Behaviour {
    fn name(self) -> &'static str {
        match self {
            Behaviour::ExecV4Only => "exec-v4-only",
            Behaviour::KubeletBefore1_22 => "kubelet-before-1.22",
            Behaviour::Api1_20 => "api-1.20",
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
    /// api-1.20 (no NetworkPolicy endPort, no EndpointSlice v1).
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
