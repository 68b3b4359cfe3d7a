//! Turning a scenario's probes into the agent's probe requests, once the pods' and Services'
//! addresses are known.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use netverdict_probes::{ProbeRequest, ProbeSpec, Scheme as WireScheme, ToolCommand};

use netverdict_engine::Protocol;

use crate::scenario::{PodRef, Probe, Scheme, Target, Via};

/// The addresses a run learnt: pods' IPs and Services' ClusterIPs.
#[derive(Clone, Debug, Default)]
pub(crate) struct LiveAddresses {
    pub(crate) pods: BTreeMap<PodRef, IpAddr>,
    /// `(namespace, name)` of a Service to its ClusterIP.
    pub(crate) services: BTreeMap<(String, String), IpAddr>,
}

/// Why a probe cannot be run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SpecError {
    #[error("pod {0} has no IP")]
    NoPodIp(PodRef),
    #[error("service {namespace}/{name} has no ClusterIP")]
    NoClusterIp { namespace: String, name: String },
    #[error("a {} probe needs a target", via_name(*.0))]
    NoTarget(Via),
    #[error("a dns probe needs a query")]
    NoQuery,
    /// A live target the live stage did not resolve.
    #[error("{0} was not resolved before probing")]
    Unresolved(String),
    #[error("SCTP probes are not supported by the probe tools (nc has no SCTP mode)")]
    Sctp,
}

/// What the agent in the source pod will run for `probe`, or why it cannot.
pub(crate) fn probe_spec(probe: &Probe, addresses: &LiveAddresses) -> Result<ProbeSpec, SpecError> {
    let host = match &probe.target {
        Target::Pod(pod) => Some(
            addresses
                .pods
                .get(pod)
                .ok_or_else(|| SpecError::NoPodIp(pod.clone()))?
                .to_string(),
        ),
        Target::Service {
            namespace, name, ..
        } => Some(
            addresses
                .services
                .get(&(namespace.clone(), name.clone()))
                .ok_or_else(|| SpecError::NoClusterIp {
                    namespace: namespace.clone(),
                    name: name.clone(),
                })?
                .to_string(),
        ),
        Target::LivePod { pod, .. } => Some(
            addresses
                .pods
                .get(pod)
                .ok_or_else(|| SpecError::NoPodIp(pod.clone()))?
                .to_string(),
        ),
        Target::Host(host) => Some(host.clone()),
        Target::Ip(ip) => Some(ip.to_string()),
        Target::ClusterDns => None,
        Target::Live(_) | Target::LiveService { .. } => {
            return Err(SpecError::Unresolved(probe.target.to_string()));
        }
    };
    let port = probe.port;
    let needs_host = || host.clone().ok_or(SpecError::NoTarget(probe.via));
    Ok(match probe.via {
        Via::Tcp => ProbeSpec::Tcp {
            host: needs_host()?,
            port,
        },
        Via::Udp => ProbeSpec::Udp {
            host: needs_host()?,
            port,
        },
        Via::Http => {
            let http = probe.http.as_ref();
            ProbeSpec::Http {
                scheme: match http.map(|h| h.scheme) {
                    Some(Scheme::Https) => WireScheme::Https,
                    _ => WireScheme::Http,
                },
                host: needs_host()?,
                port,
                path: http.map_or_else(|| "/".to_owned(), |h| h.path.clone()),
            }
        }
        Via::Dns => ProbeSpec::Dns {
            name: probe
                .dns
                .as_ref()
                .map(|dns| dns.query.clone())
                .ok_or(SpecError::NoQuery)?,
            server: host,
            port: (port != 53).then_some(port),
            tcp: probe.protocol == Protocol::Tcp,
        },
        Via::Sctp => return Err(SpecError::Sctp),
    })
}

/// The request for `probe` under the agent id `id`.
pub(crate) fn request(id: String, timeout: Duration, spec: ProbeSpec) -> ProbeRequest {
    ProbeRequest {
        id,
        timeout_ms: timeout_ms(timeout),
        probe: spec,
    }
}

/// The timeout in whole milliseconds, as the agent takes it (validation keeps it within the
/// agent's range; a fraction of a millisecond is rounded up).
pub(crate) fn timeout_ms(timeout: Duration) -> u32 {
    let ms = timeout.as_millis() + u128::from(!timeout.subsec_nanos().is_multiple_of(1_000_000));
    u32::try_from(ms).unwrap_or(u32::MAX)
}

/// The line a person runs to see what the probe saw.
pub(crate) fn rerun_command(request: &ProbeRequest, from: &PodRef) -> String {
    match ToolCommand::build(request, "netverdict-probe") {
        Ok(command) => command.render_kubectl_exec(&from.namespace, &from.name),
        Err(error) => format!("(no command: {error})"),
    }
}

pub(crate) fn via_name(via: Via) -> &'static str {
    crate::scenario::load::via_str(via)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_sent_as_they_were_asked_for() {
        assert_eq!(timeout_ms(Duration::from_millis(500)), 500);
        assert_eq!(timeout_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(timeout_ms(Duration::from_secs(2)), 2000);
        assert_eq!(timeout_ms(Duration::from_micros(300_001)), 301);
    }
}
