//! Printing a [`Ruleset`] as an nftables table.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;
use netverdict_engine::Protocol;

use crate::compile::{Allow, Denial, Direction, PodChain, PortRange, Ports, Ruleset};

/// The table the ruleset defines (family `inet`).
pub const TABLE_NAME: &str = "netverdict-filter";

/// The address families an nftables match is written for.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(ip: IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    fn address_type(self) -> &'static str {
        match self {
            Family::V4 => "ipv4_addr",
            Family::V6 => "ipv6_addr",
        }
    }

    fn keyword(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }
}

/// Renders `ruleset` as the definition of table `inet netverdict-filter`: a `forward` chain that
/// passes established traffic and dispatches each isolated pod's traffic to its chains, which
/// `return` what they admit and drop (or reject) the rest.
///
/// Replacing a previous version atomically is the caller's job: send
/// `table inet netverdict-filter` + `delete table inet netverdict-filter` + this text in one
/// `nft -f` transaction.
pub fn render_nft(ruleset: &Ruleset) -> String {
    let mut sets = Sets::default();
    // Pods with the same allow list in a direction share one chain (the pods a set of policies
    // selects usually do), so the ruleset grows with the policies, not with the pods.
    let mut bodies: HashMap<(Direction, String), String> = HashMap::new();
    let mut chains = String::new();
    let mut dispatch: Vec<(Direction, IpAddr, String)> = Vec::new();
    for chain in &ruleset.chains {
        let body = chain_body(&mut sets, chain, ruleset.denial);
        let count = bodies.len();
        let name = bodies
            .entry((chain.direction, body.clone()))
            .or_insert_with(|| {
                let name = format!("{}-{count}", direction_name(chain.direction));
                let _ = write!(chains, "\tchain {name} {{\n{body}\t}}\n");
                name
            })
            .clone();
        dispatch.extend(
            chain
                .addresses
                .iter()
                .map(|ip| (chain.direction, *ip, name.clone())),
        );
    }

    let mut out = String::new();
    let _ = writeln!(out, "table inet {TABLE_NAME} {{");
    sets.render(&mut out);
    for family in [Family::V4, Family::V6] {
        let pairs: Vec<String> = ruleset
            .chains
            .iter()
            .flat_map(|chain| &chain.addresses)
            .filter(|ip| Family::of(**ip) == family)
            .map(|ip| format!("{ip} . {ip}"))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !pairs.is_empty() {
            let kind = family.address_type();
            let _ = writeln!(
                out,
                "\tset self-{} {{ type {kind} . {kind}; elements = {{ {} }} }}",
                family.keyword(),
                pairs.join(", ")
            );
        }
    }
    let _ = writeln!(out, "\tchain forward {{");
    let _ = writeln!(
        out,
        "\t\ttype filter hook forward priority filter; policy accept;"
    );
    let _ = writeln!(out, "\t\tct state established,related accept");
    for family in [Family::V4, Family::V6] {
        if out.contains(&format!("set self-{} ", family.keyword())) {
            // A pod's traffic to itself (through a Service) is never judged.
            let keyword = family.keyword();
            let _ = writeln!(
                out,
                "\t\t{keyword} saddr . {keyword} daddr @self-{keyword} accept"
            );
        }
    }
    for (direction, field) in [(Direction::Egress, "saddr"), (Direction::Ingress, "daddr")] {
        for family in [Family::V4, Family::V6] {
            let entries: Vec<String> = dispatch
                .iter()
                .filter(|(d, ip, _)| *d == direction && Family::of(*ip) == family)
                .map(|(_, ip, name)| format!("{ip} : jump {name}"))
                .collect();
            if !entries.is_empty() {
                let _ = writeln!(
                    out,
                    "\t\t{} {field} vmap {{ {} }}",
                    family.keyword(),
                    entries.join(", ")
                );
            }
        }
    }
    let _ = writeln!(out, "\t}}");
    out.push_str(&chains);
    let _ = writeln!(out, "}}");
    out
}

/// Named address sets, shared by every rule that matches the same addresses (a policy's peer
/// appears in the chain of every pod the policy selects): the ruleset stays small, and so does
/// the time the kernel takes to load it.
#[derive(Default)]
struct Sets {
    names: HashMap<(Family, Vec<String>), String>,
    order: Vec<(String, Family, Vec<String>)>,
}

impl Sets {
    /// The expression matching `elements`: inline for one address, `@name` otherwise.
    fn reference(&mut self, family: Family, mut elements: Vec<String>) -> String {
        elements.sort();
        elements.dedup();
        if let [single] = elements.as_slice() {
            return single.clone();
        }
        let key = (family, elements);
        if let Some(name) = self.names.get(&key) {
            return format!("@{name}");
        }
        let name = format!("addr{}", self.order.len());
        self.order.push((name.clone(), family, key.1.clone()));
        self.names.insert(key, name.clone());
        format!("@{name}")
    }

    fn render(&self, out: &mut String) {
        for (name, family, elements) in &self.order {
            let kind = family.address_type();
            let _ = writeln!(
                out,
                "\tset {name} {{ type {kind}; flags interval; auto-merge; elements = {{ {} }} }}",
                elements.join(", ")
            );
        }
    }
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    }
}

/// The rules of one pod's chain: `return` what it admits, then drop (or reject) the rest.
fn chain_body(sets: &mut Sets, chain: &PodChain, denial: Denial) -> String {
    // The peer is the destination of egress traffic and the source of ingress traffic.
    let field = match chain.direction {
        Direction::Ingress => "saddr",
        Direction::Egress => "daddr",
    };
    let mut out = String::new();
    for allow in &chain.allows {
        for line in allow_lines(allow, field, sets) {
            let _ = writeln!(
                out,
                "\t\t{}",
                [line.as_str(), "return"].join(" ").trim_start()
            );
        }
    }
    match denial {
        Denial::Drop => {
            let _ = writeln!(out, "\t\tdrop");
        }
        Denial::ResetOrUnreachable => {
            let _ = writeln!(out, "\t\tmeta l4proto tcp reject with tcp reset");
            let _ = writeln!(out, "\t\treject with icmpx type port-unreachable");
        }
        // iptables' `REJECT` without `--reject-with`: the kernel sends the ICMP error through
        // its rate limiter, as it does for the rejecting CNIs built on iptables.
        Denial::PortUnreachable => {
            let _ = writeln!(out, "\t\treject with icmpx type port-unreachable");
        }
    }
    out
}

/// The match expressions of one allow, one line per address family and protocol.
fn allow_lines(allow: &Allow, field: &str, sets: &mut Sets) -> Vec<String> {
    let address_matches: Vec<String> = match &allow.peer {
        None => vec![String::new()],
        Some(set) => [Family::V4, Family::V6]
            .into_iter()
            .filter_map(|family| {
                let include = nets_of(&set.include, family);
                if include.is_empty() {
                    return None;
                }
                let keyword = family.keyword();
                let mut expression =
                    format!("{keyword} {field} {}", sets.reference(family, include));
                let exclude = nets_of(&set.exclude, family);
                if !exclude.is_empty() {
                    let _ = write!(
                        expression,
                        " {keyword} {field} != {}",
                        sets.reference(family, exclude)
                    );
                }
                Some(expression)
            })
            .collect(),
    };
    let port_matches: Vec<String> = match &allow.ports {
        Ports::Any => vec![String::new()],
        Ports::Only(ranges) => [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
            .into_iter()
            .filter_map(|protocol| port_match(ranges, protocol))
            .collect(),
    };
    let mut lines = Vec::new();
    for address in &address_matches {
        for ports in &port_matches {
            let line = [address.as_str(), ports.as_str()]
                .into_iter()
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            // An empty line admits everything; `return` alone says so.
            lines.push(line);
        }
    }
    lines
}

fn nets_of(nets: &[IpNet], family: Family) -> Vec<String> {
    nets.iter()
        .filter(|net| Family::of(net.addr()) == family)
        .map(|net| net.trunc().to_string())
        .collect()
}

fn port_match(ranges: &[PortRange], protocol: Protocol) -> Option<String> {
    let of_protocol: Vec<&PortRange> = ranges
        .iter()
        .filter(|range| range.protocol == protocol)
        .collect();
    if of_protocol.is_empty() {
        return None;
    }
    let name = match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    if of_protocol.iter().any(|range| range.range.is_none()) {
        return Some(format!("meta l4proto {name}"));
    }
    let ports: Vec<String> = of_protocol
        .iter()
        .filter_map(|range| range.range)
        .map(|(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            }
        })
        .collect();
    Some(format!(
        "meta l4proto {name} th dport {{ {} }}",
        ports.join(", ")
    ))
}
