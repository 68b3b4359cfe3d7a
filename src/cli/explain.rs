//! `netverdict explain PATH --from ns/pod --to ns/pod --port P`: the engine's verdict on one
//! connection, with the policies selecting each side and the rule that matched (or why none did).

use std::fmt::Write as _;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use netverdict_engine::{
    Direction, Endpoint, NamespaceScope, Peer, Policy, Protocol, SideDecision,
};

use crate::cli::diagnostics;
use crate::cli::exit::{self, ExpectedError};
use crate::scenario::expect::{Addresses, ScenarioCluster, one_line, pod_endpoint};
use crate::scenario::load::protocol_str;
use crate::scenario::{PodRef, Scenario};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
#[value(rename_all = "UPPERCASE")]
pub enum ProtocolArg {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A scenario file, or a folder of them.
    pub path: PathBuf,
    /// The source pod, `<namespace>/<pod>`.
    #[arg(long)]
    pub from: String,
    /// The destination: a pod `<namespace>/<pod>`, or an IP address.
    #[arg(long)]
    pub to: String,
    /// The destination port: a number, or a port name of the destination pod.
    #[arg(long)]
    pub port: String,
    #[arg(long, value_enum, ignore_case = true, default_value = "TCP")]
    pub protocol: ProtocolArg,
    /// The scenario to use when PATH holds several with these pods.
    #[arg(long)]
    pub scenario: Option<String>,
}

fn pod_ref(s: &str) -> Option<PodRef> {
    let (ns, name) = s.split_once('/')?;
    Some(PodRef::new(ns, name))
}

pub(crate) fn run(args: &ExplainArgs, out: &mut dyn Write) -> Result<u8, ExpectedError> {
    let loaded = crate::scenario::load_paths(
        std::slice::from_ref(&args.path),
        &crate::hosts::local_cluster(),
    );
    let counts = diagnostics::print(&loaded, false);
    if counts.errors > 0 {
        return Ok(exit::INVALID_INPUT);
    }
    let from = pod_ref(&args.from).ok_or_else(|| {
        ExpectedError::InvalidInput(format!("--from {}: write <namespace>/<pod>", args.from))
    })?;
    let to_pod = pod_ref(&args.to);
    let to_ip: Option<IpAddr> = args.to.parse().ok();
    if to_pod.is_none() && to_ip.is_none() {
        return Err(ExpectedError::InvalidInput(format!(
            "--to {}: write <namespace>/<pod> or an IP address",
            args.to
        )));
    }
    let candidates: Vec<&Scenario> = loaded
        .scenarios
        .iter()
        .filter(|s| args.scenario.as_ref().is_none_or(|n| *n == s.name))
        .filter(|s| s.pod(&from).is_some() && to_pod.as_ref().is_none_or(|t| s.pod(t).is_some()))
        .collect();
    let scenario = match candidates.as_slice() {
        [one] => *one,
        [] => {
            return Err(ExpectedError::InvalidInput(format!(
                "no scenario{} defines pod {from}{}",
                args.scenario
                    .as_ref()
                    .map(|n| format!(" named {n}"))
                    .unwrap_or_default(),
                to_pod
                    .as_ref()
                    .map(|t| format!(" and pod {t}"))
                    .unwrap_or_default()
            )));
        }
        several => {
            let names: Vec<&str> = several.iter().map(|s| s.name.as_str()).collect();
            return Err(ExpectedError::InvalidInput(format!(
                "several scenarios define these pods ({}): choose one with --scenario",
                names.join(", ")
            )));
        }
    };
    let protocol = match args.protocol {
        ProtocolArg::Tcp => Protocol::Tcp,
        ProtocolArg::Udp => Protocol::Udp,
        ProtocolArg::Sctp => Protocol::Sctp,
    };
    let (port, port_name) = match args.port.parse::<u16>() {
        Ok(n) if n > 0 => (n, String::new()),
        _ => {
            let pod = to_pod
                .as_ref()
                .and_then(|t| scenario.pod(t))
                .ok_or_else(|| {
                    ExpectedError::InvalidInput(format!(
                        "--port {}: a port name needs a destination pod",
                        args.port
                    ))
                })?;
            let served = pod
                .ports
                .iter()
                .find(|p| p.name.as_deref() == Some(args.port.as_str()))
                .ok_or_else(|| {
                    ExpectedError::InvalidInput(format!(
                        "--port {}: pod {} serves no port of that name",
                        args.port,
                        pod.pod_ref()
                    ))
                })?;
            (served.port, format!(" ({})", args.port))
        }
    };
    let cluster = ScenarioCluster::new(scenario, &Addresses::default());
    let to = match (&to_pod, to_ip) {
        (Some(p), _) => pod_endpoint(p),
        (None, Some(ip)) => Endpoint::Ip(ip),
        (None, None) => unreachable!("checked above"),
    };
    let decision = cluster
        .decide(&from, to.clone(), port, protocol)
        .ok_or_else(|| {
            ExpectedError::CouldNotJudge("the engine does not know one of the pods".into())
        })?;

    let mut text = String::new();
    let _ = writeln!(text, "scenario {} ({})", scenario.name, scenario.location);
    let _ = writeln!(
        text,
        "{from} -> {}:{port}/{}{port_name}: {}",
        args.to,
        protocol_str(protocol),
        if decision.allowed {
            "ALLOWED"
        } else {
            "DENIED"
        }
    );
    if decision.loopback {
        let _ = writeln!(
            text,
            "  a pod's traffic to itself is never blocked by NetworkPolicy"
        );
    }
    for (direction, side, pod) in [
        (Direction::Egress, &decision.egress, Some(&from)),
        (Direction::Ingress, &decision.ingress, to_pod.as_ref()),
    ] {
        let _ = writeln!(text, "{direction}:");
        if let Some(pod) = pod.and_then(|p| cluster.cluster.pod(&p.namespace, &p.name)) {
            let selecting: Vec<String> = cluster
                .cluster
                .selecting_policies(pod)
                .iter()
                .map(|p| {
                    let mut types = Vec::new();
                    if p.ingress.is_some() {
                        types.push("Ingress");
                    }
                    if p.egress.is_some() {
                        types.push("Egress");
                    }
                    format!("{} ({})", p.reference(), types.join(", "))
                })
                .collect();
            let list = if selecting.is_empty() {
                "none".to_string()
            } else {
                selecting.join(", ")
            };
            let _ = writeln!(
                text,
                "  policies selecting {}/{}: {list}",
                pod.namespace, pod.name
            );
        }
        let detail = match side {
            SideDecision::NotApplicable => {
                "  the destination is not a pod: no policy applies on this side".to_string()
            }
            SideDecision::NotIsolated => {
                let mut s = format!(
                    "  allowed: no policy isolates {} for {direction}",
                    pod.map(ToString::to_string).unwrap_or_default()
                );
                if let Some((policy, unmet)) = pod.and_then(|p| nearest(&cluster, p, direction)) {
                    let _ = write!(
                        s,
                        "\n  nearest selector: policy {policy} (a {direction} policy) would also need {unmet}"
                    );
                }
                s
            }
            SideDecision::Allowed { matches } => {
                let mut s = String::from("  allowed by:");
                for m in matches {
                    let _ = write!(
                        s,
                        "\n    {m}{}",
                        locate(scenario, &m.policy.namespace, &m.policy.name)
                    );
                }
                s
            }
            SideDecision::Denied { isolated_by } => {
                let mut s = String::from("  denied: isolated by");
                // The other end: the peer the isolated side's rules must match.
                let (peer, destination) = match direction {
                    Direction::Egress => (to.clone(), to_pod.as_ref()),
                    Direction::Ingress => (pod_endpoint(&from), to_pod.as_ref()),
                };
                for p in isolated_by {
                    let _ = write!(
                        s,
                        "\n    policy {p}{}",
                        locate(scenario, &p.namespace, &p.name)
                    );
                    let policy = cluster
                        .cluster
                        .policies
                        .iter()
                        .find(|x| x.namespace == p.namespace && x.name == p.name);
                    if let Some(policy) = policy {
                        for line in why_not(
                            &cluster,
                            policy,
                            direction,
                            &peer,
                            destination,
                            port,
                            protocol,
                        ) {
                            let _ = write!(s, "\n      {line}");
                        }
                    }
                }
                s.push_str("\n  and no rule of them allows this peer and port");
                s
            }
        };
        let _ = writeln!(text, "{detail}");
    }
    let _ = writeln!(text, "summary: {}", one_line(&decision));
    out.write_all(text.as_bytes())?;
    Ok(exit::OK)
}

/// Why each rule of `policy` for `direction` does not allow the connection with `peer`.
fn why_not(
    cluster: &ScenarioCluster,
    policy: &Policy,
    direction: Direction,
    peer: &Endpoint,
    destination: Option<&PodRef>,
    port: u16,
    protocol: Protocol,
) -> Vec<String> {
    let rules = policy.rules(direction).unwrap_or_default();
    if rules.is_empty() {
        return vec![format!("has no {direction} rule: it allows nothing")];
    }
    let destination = destination.and_then(|d| cluster.cluster.pod(&d.namespace, &d.name));
    let peer_pod = match peer {
        Endpoint::Pod { namespace, name } => cluster.cluster.pod(namespace, name),
        Endpoint::Ip(_) => None,
    };
    let field = direction.peers_field();
    let mut out = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let peer_ok = rule.peers.is_empty()
            || rule
                .peers
                .iter()
                .any(|candidate| match (candidate, peer, peer_pod) {
                    (Peer::IpBlock(block), Endpoint::Ip(ip), _) => block.contains(*ip),
                    (Peer::IpBlock(block), _, Some(pod)) => {
                        pod.ips.iter().any(|ip| block.contains(*ip))
                    }
                    (Peer::Pods { namespaces, pods }, _, Some(pod)) => {
                        let in_scope = match namespaces {
                            NamespaceScope::PolicyNamespace => pod.namespace == policy.namespace,
                            NamespaceScope::Selected(selector) => {
                                selector.matches(&cluster.cluster.namespace_labels(&pod.namespace))
                            }
                        };
                        in_scope && pods.matches(&pod.labels)
                    }
                    _ => false,
                });
        let port_ok = rule.ports.is_empty()
            || rule
                .ports
                .iter()
                .any(|p| p.matches(port, protocol, destination));
        let mut reasons = Vec::new();
        if !peer_ok {
            let offline = rule.peers.iter().any(|p| matches!(p, Peer::IpBlock(_)))
                && peer_pod.is_some_and(|p| p.ips.is_empty());
            reasons.push(format!(
                "no `{field}` peer matches {}{}",
                match peer {
                    Endpoint::Pod { namespace, name } => format!("{namespace}/{name}"),
                    Endpoint::Ip(ip) => ip.to_string(),
                },
                if offline {
                    " (its IP is unknown offline, so ipBlocks cannot match it)"
                } else {
                    ""
                }
            ));
        }
        if !port_ok {
            let ports: Vec<String> = rule.ports.iter().map(ToString::to_string).collect();
            reasons.push(format!(
                "{port}/{} is not among its ports ({})",
                protocol_str(protocol),
                ports.join(", ")
            ));
        }
        out.push(format!("{direction}[{i}]: {}", reasons.join("; ")));
    }
    out
}

/// The policy of `pod`'s namespace governing `direction` whose pod selector `pod` misses by the
/// fewest requirements, and those requirements.
fn nearest(
    cluster: &ScenarioCluster,
    pod: &PodRef,
    direction: Direction,
) -> Option<(String, String)> {
    let engine_pod = cluster.cluster.pod(&pod.namespace, &pod.name)?;
    cluster
        .cluster
        .policies
        .iter()
        .filter(|p| {
            p.namespace == pod.namespace && p.rules(direction).is_some() && !p.selects(engine_pod)
        })
        .map(|p| (p, p.pod_selector.unmet_requirements(&engine_pod.labels)))
        .min_by_key(|(_, unmet)| unmet.len())
        .map(|(p, unmet)| {
            (
                p.reference().to_string(),
                unmet
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
}

fn locate(scenario: &Scenario, namespace: &str, name: &str) -> String {
    scenario
        .policies
        .iter()
        .find(|p| p.namespace == namespace && p.name == name)
        .map(|p| format!(" at {}", p.location))
        .unwrap_or_default()
}
