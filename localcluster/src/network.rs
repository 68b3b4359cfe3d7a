//! How a local cluster's network treats NetworkPolicies: one option struct for every command that
//! starts a cluster (`run --local`, `local up`, `local serve`), so they accept the same flags.

use std::ffi::OsString;
use std::time::Duration;

use netverdict_enforce::CniMode;

/// The longest emulated policy propagation delay.
pub const MAX_POLICY_DELAY: Duration = Duration::from_secs(600);

/// How the local network treats NetworkPolicies (the `--cni` values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CniArg {
    /// Enforce ingress and egress, dropping denied packets.
    #[default]
    Enforcing,
    /// Store policies but never enforce them (like Flannel).
    None,
    /// Enforce ingress rules only.
    IngressOnly,
    /// Deny with a TCP reset or ICMP unreachable instead of dropping.
    Reject,
    /// Deny with an ICMP port unreachable for TCP and UDP, rate-limited by the kernel, as
    /// iptables REJECT does (kube-router, k3s).
    IptablesReject,
}

impl CniArg {
    /// The name the flag takes.
    fn name(self) -> &'static str {
        match self {
            CniArg::Enforcing => "enforcing",
            CniArg::None => "none",
            CniArg::IngressOnly => "ingress-only",
            CniArg::Reject => "reject",
            CniArg::IptablesReject => "iptables-reject",
        }
    }
}

impl From<CniArg> for CniMode {
    fn from(arg: CniArg) -> CniMode {
        match arg {
            CniArg::Enforcing => CniMode::Enforcing,
            CniArg::None => CniMode::None,
            CniArg::IngressOnly => CniMode::IngressOnly,
            CniArg::Reject => CniMode::Reject,
            CniArg::IptablesReject => CniMode::IptablesReject,
        }
    }
}

/// `--cni` and `--policy-delay`.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args)]
pub struct NetworkOptions {
    /// How the local network treats NetworkPolicies.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = CniArg::Enforcing)]
    pub cni: CniArg,
    /// Enforce every policy change only after this delay (slow propagation, as on real
    /// clusters; 0s to 10m).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_policy_delay)]
    pub policy_delay: Duration,
}

impl NetworkOptions {
    /// The command-line arguments that give these options again.
    pub fn to_args(&self) -> Vec<OsString> {
        vec![
            "--cni".into(),
            self.cni.name().into(),
            "--policy-delay".into(),
            format!("{}ms", self.policy_delay.as_millis()).into(),
        ]
    }
}

fn parse_policy_delay(text: &str) -> Result<Duration, String> {
    let value = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e}; write a duration such as 2s, 500ms or 1m"))?;
    if value <= MAX_POLICY_DELAY {
        Ok(value)
    } else {
        Err("out of range: use 0s to 10m".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        network: NetworkOptions,
    }

    #[test]
    fn options_parse_and_give_their_arguments_back() {
        let cli =
            Cli::try_parse_from(["x", "--cni", "iptables-reject", "--policy-delay", "1500ms"])
                .unwrap();
        assert_eq!(cli.network.cni, CniArg::IptablesReject);
        assert_eq!(cli.network.policy_delay, Duration::from_millis(1500));
        let again: Vec<OsString> = std::iter::once("x".into())
            .chain(cli.network.to_args())
            .collect();
        assert_eq!(Cli::try_parse_from(again).unwrap().network, cli.network);
        assert_eq!(
            Cli::try_parse_from(["x"]).unwrap().network,
            NetworkOptions::default()
        );
        assert!(Cli::try_parse_from(["x", "--policy-delay", "11m"]).is_err());
        assert!(Cli::try_parse_from(["x", "--cni", "calico"]).is_err());
    }
}
