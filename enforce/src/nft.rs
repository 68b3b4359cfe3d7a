//! Printing a [`Ruleset`] as an nftables table.

use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;
use netverdict_engine::Protocol;

use crate::compile::{Allow, Direction, PodChain, PortRange, Ports, Ruleset};

/// The table the ruleset defines (family `inet`).
pub const TABLE_NAME: &str = "netverdict-filter";

/// The address families an nftables match is written for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(ip: IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
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
    let mut out = String::new();
    let _ = writeln!(out, "table inet {TABLE_NAME} {{");
    let _ = writeln!(out, "\tchain forward {{");
    let _ = writeln!(
        out,
        "\t\ttype filter hook forward priority filter; policy accept;"
    );
    let _ = writeln!(out, "\t\tct state established,related accept");
    for (direction, field) in [(Direction::Egress, "saddr"), (Direction::Ingress, "daddr")] {
        for family in [Family::V4, Family::V6] {
            let entries: Vec<String> = ruleset
                .chains
                .iter()
                .enumerate()
                .filter(|(_, chain)| chain.direction == direction)
                .flat_map(|(index, chain)| {
                    chain
                        .addresses
                        .iter()
                        .filter(move |ip| Family::of(**ip) == family)
                        .map(move |ip| format!("{ip} : jump {}", chain_name(index, chain)))
                })
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
    for (index, chain) in ruleset.chains.iter().enumerate() {
        render_chain(&mut out, index, chain, ruleset.reject);
    }
    let _ = writeln!(out, "}}");
    out
}

fn chain_name(index: usize, chain: &PodChain) -> String {
    let direction = match chain.direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    };
    format!("{direction}-{index}")
}

fn render_chain(out: &mut String, index: usize, chain: &PodChain, reject: bool) {
    // The peer is the destination of egress traffic and the source of ingress traffic.
    let field = match chain.direction {
        Direction::Ingress => "saddr",
        Direction::Egress => "daddr",
    };
    let _ = writeln!(out, "\tchain {} {{", chain_name(index, chain));
    let _ = writeln!(out, "\t\t# {} {}", chain.direction, chain.pod);
    // A pod's traffic to itself (through a Service) is never judged.
    for ip in &chain.addresses {
        let _ = writeln!(out, "\t\t{} {field} {ip} return", Family::of(*ip).keyword());
    }
    for allow in &chain.allows {
        for line in allow_lines(allow, field) {
            let _ = writeln!(
                out,
                "\t\t{}",
                [line.as_str(), "return"].join(" ").trim_start()
            );
        }
    }
    if reject {
        let _ = writeln!(out, "\t\tmeta l4proto tcp reject with tcp reset");
        let _ = writeln!(out, "\t\treject with icmpx type port-unreachable");
    } else {
        let _ = writeln!(out, "\t\tdrop");
    }
    let _ = writeln!(out, "\t}}");
}

/// The match expressions of one allow, one line per address family and protocol.
fn allow_lines(allow: &Allow, field: &str) -> Vec<String> {
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
                let mut expression = format!("{keyword} {field} {{ {} }}", include.join(", "));
                let exclude = nets_of(&set.exclude, family);
                if !exclude.is_empty() {
                    let _ = write!(
                        expression,
                        " {keyword} {field} != {{ {} }}",
                        exclude.join(", ")
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
