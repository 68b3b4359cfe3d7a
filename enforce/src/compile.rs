//! From the engine's model to per-pod allow lists.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use netverdict_engine::{Cluster, NamespaceScope, Peer, Pod, Policy, PortSpec, Protocol, Rule};

pub use netverdict_engine::Direction;

/// How the local cluster's network treats NetworkPolicies, like the CNIs it can imitate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CniMode {
    /// Enforces ingress and egress, dropping denied packets silently (Calico, Cilium).
    #[default]
    Enforcing,
    /// Enforces ingress rules only; egress rules are ignored (a partial implementation).
    IngressOnly,
    /// Enforces both, answering denied connections with a TCP reset or an ICMP unreachable.
    Reject,
    /// Enforces both, answering every denied packet, TCP and UDP alike, with an ICMP port
    /// unreachable, as iptables `REJECT` does by default (kube-router, k3s's policy
    /// controller). The kernel rate-limits ICMP errors (`net.ipv4.icmp_ratelimit`,
    /// `icmp_msgs_per_sec`), so past a burst some denied connections see silence instead.
    IptablesReject,
    /// Stores policies without enforcing them (Flannel, kubenet).
    None,
}

/// What the network allows: for every pod isolated in a direction, the traffic that direction
/// admits. Traffic of pods without a chain in a direction is allowed in that direction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub chains: Vec<PodChain>,
    /// What denied packets get.
    pub denial: Denial,
}

/// How a network answers a denied packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Denial {
    /// Silence: the packet is dropped.
    #[default]
    Drop,
    /// A TCP reset for TCP, an ICMP port unreachable for the rest.
    ResetOrUnreachable,
    /// An ICMP port unreachable for every protocol.
    PortUnreachable,
}

/// The traffic one direction of one isolated pod admits: anything matching one of `allows`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodChain {
    /// `namespace/name`, for people reading the ruleset.
    pub pod: String,
    pub addresses: Vec<IpAddr>,
    pub direction: Direction,
    pub allows: Vec<Allow>,
}

/// One admitted kind of traffic: from (ingress) or to (egress) `peer`, on `ports`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allow {
    /// `None` admits every address.
    pub peer: Option<AddressSet>,
    pub ports: Ports,
}

/// Addresses in one of `include` and in none of `exclude`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressSet {
    pub include: Vec<IpNet>,
    pub exclude: Vec<IpNet>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ports {
    /// Every protocol and port.
    Any,
    /// Only these; never empty.
    Only(Vec<PortRange>),
}

/// A protocol's ports `start..=end`, or all its ports when `range` is `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub protocol: Protocol,
    pub range: Option<(u16, u16)>,
}

impl AddressSet {
    fn hosts(ips: &[IpAddr]) -> AddressSet {
        AddressSet {
            include: ips.iter().map(|ip| IpNet::from(*ip)).collect(),
            exclude: Vec::new(),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.include.iter().any(|net| net.contains(&ip))
            && !self.exclude.iter().any(|net| net.contains(&ip))
    }
}

impl PortRange {
    pub fn contains(&self, port: u16, protocol: Protocol) -> bool {
        self.protocol == protocol
            && self
                .range
                .is_none_or(|(start, end)| (start..=end).contains(&port))
    }
}

impl Ports {
    pub fn contains(&self, port: u16, protocol: Protocol) -> bool {
        match self {
            Ports::Any => true,
            Ports::Only(ranges) => ranges.iter().any(|range| range.contains(port, protocol)),
        }
    }
}

impl Allow {
    /// Whether traffic with `peer_ip` (the source for ingress, the destination for egress)
    /// on `port`/`protocol` is admitted.
    pub fn admits(&self, peer_ip: IpAddr, port: u16, protocol: Protocol) -> bool {
        self.peer.as_ref().is_none_or(|set| set.contains(peer_ip))
            && self.ports.contains(port, protocol)
    }
}

impl Ruleset {
    /// Whether the network lets a connection from `source` to `destination` through, as the
    /// rendered rules would: the source's egress chain and the destination's ingress chain must
    /// both admit it. A pod's traffic to itself is always allowed.
    pub fn allows(
        &self,
        source: IpAddr,
        destination: IpAddr,
        port: u16,
        protocol: Protocol,
    ) -> bool {
        if source == destination {
            return true;
        }
        let admits = |owner: IpAddr, direction: Direction, peer: IpAddr| {
            self.chains
                .iter()
                .filter(|chain| chain.direction == direction && chain.addresses.contains(&owner))
                .all(|chain| {
                    chain
                        .allows
                        .iter()
                        .any(|allow| allow.admits(peer, port, protocol))
                })
        };
        admits(source, Direction::Egress, destination)
            && admits(destination, Direction::Ingress, source)
    }
}

/// Compiles the policies of `cluster` for the network of `mode`. Pods without IPs and
/// host-network pods get no chain (policies never select host-network pods).
pub fn compile(cluster: &Cluster, mode: CniMode) -> Ruleset {
    let directions: &[Direction] = match mode {
        CniMode::None => &[],
        CniMode::IngressOnly => &[Direction::Ingress],
        CniMode::Enforcing | CniMode::Reject | CniMode::IptablesReject => {
            &[Direction::Ingress, Direction::Egress]
        }
    };
    let mut chains = Vec::new();
    for pod in cluster
        .pods
        .iter()
        .filter(|pod| !pod.host_network && !pod.ips.is_empty())
    {
        for &direction in directions {
            let isolating = cluster.isolating_policies(pod, direction);
            if isolating.is_empty() {
                continue;
            }
            let allows = isolating
                .iter()
                .flat_map(|policy| {
                    policy
                        .rules(direction)
                        .unwrap_or_default()
                        .iter()
                        .flat_map(move |rule| compile_rule(cluster, policy, rule, direction, pod))
                })
                .collect();
            chains.push(PodChain {
                pod: format!("{}/{}", pod.namespace, pod.name),
                addresses: pod.ips.clone(),
                direction,
                allows,
            });
        }
    }
    Ruleset {
        chains,
        denial: match mode {
            CniMode::Reject => Denial::ResetOrUnreachable,
            CniMode::IptablesReject => Denial::PortUnreachable,
            CniMode::Enforcing | CniMode::IngressOnly | CniMode::None => Denial::Drop,
        },
    }
}

/// The traffic one rule admits for `subject` (the pod the chain belongs to).
fn compile_rule(
    cluster: &Cluster,
    policy: &Policy,
    rule: &Rule,
    direction: Direction,
    subject: &Pod,
) -> Vec<Allow> {
    let peers: Vec<Option<AddressSet>> = if rule.peers.is_empty() {
        vec![None]
    } else {
        rule.peers
            .iter()
            .map(|peer| peer_addresses(cluster, policy, peer))
            .filter(|set| !set.include.is_empty())
            .map(Some)
            .collect()
    };
    if rule.ports.is_empty() {
        return peers
            .into_iter()
            .map(|peer| Allow {
                peer,
                ports: Ports::Any,
            })
            .collect();
    }

    // Named ports name a port of the destination: the subject itself for ingress, each possible
    // destination pod for egress.
    let mut fixed = Vec::new();
    let mut named_elsewhere = Vec::new();
    for port in &rule.ports {
        let protocol = port.protocol;
        match &port.port {
            PortSpec::All => fixed.push(PortRange {
                protocol,
                range: None,
            }),
            PortSpec::Number { port, end_port } => fixed.push(PortRange {
                protocol,
                range: Some((*port, end_port.unwrap_or(*port))),
            }),
            PortSpec::Named(name) if direction == Direction::Ingress => {
                if let Some(number) = served_port(subject, name, protocol) {
                    fixed.push(PortRange {
                        protocol,
                        range: Some((number, number)),
                    });
                }
            }
            PortSpec::Named(name) => named_elsewhere.push((name, protocol)),
        }
    }

    let mut allows = Vec::new();
    for peer in peers {
        if !fixed.is_empty() {
            allows.push(Allow {
                peer: peer.clone(),
                ports: Ports::Only(fixed.clone()),
            });
        }
        for &(name, protocol) in &named_elsewhere {
            // The pods the peer reaches that serve the name, grouped by the number it stands for.
            let mut by_number: BTreeMap<u16, Vec<IpAddr>> = BTreeMap::new();
            for destination in cluster.pods.iter().filter(|pod| !pod.host_network) {
                let Some(number) = served_port(destination, name, protocol) else {
                    continue;
                };
                let reachable = destination
                    .ips
                    .iter()
                    .any(|ip| peer.as_ref().is_none_or(|set| set.contains(*ip)));
                if reachable {
                    by_number
                        .entry(number)
                        .or_default()
                        .extend(&destination.ips);
                }
            }
            for (number, ips) in by_number {
                allows.push(Allow {
                    peer: Some(AddressSet::hosts(&ips)),
                    ports: Ports::Only(vec![PortRange {
                        protocol,
                        range: Some((number, number)),
                    }]),
                });
            }
        }
    }
    allows
}

fn served_port(pod: &Pod, name: &str, protocol: Protocol) -> Option<u16> {
    pod.ports
        .iter()
        .find(|served| served.name.as_deref() == Some(name) && served.protocol == protocol)
        .map(|served| served.port)
}

/// The addresses a peer designates: the IPs of the pods it selects, or its ipBlock.
fn peer_addresses(cluster: &Cluster, policy: &Policy, peer: &Peer) -> AddressSet {
    match peer {
        Peer::IpBlock(block) => AddressSet {
            include: vec![block.cidr],
            exclude: block.except.clone(),
        },
        Peer::Pods { namespaces, pods } => {
            let selected = cluster.pods.iter().filter(|pod| {
                let in_scope = match namespaces {
                    NamespaceScope::PolicyNamespace => pod.namespace == policy.namespace,
                    NamespaceScope::Selected(selector) => {
                        selector.matches(&cluster.namespace_labels(&pod.namespace))
                    }
                };
                !pod.host_network && in_scope && pods.matches(&pod.labels)
            });
            let ips: Vec<IpAddr> = selected.flat_map(|pod| pod.ips.iter().copied()).collect();
            AddressSet::hosts(&ips)
        }
    }
}
