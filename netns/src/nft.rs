//! nftables scripts of the router namespace: Service translation and the policy filter.
//!
//! Both are replaced in one `nft -f -` transaction: `table X` (a no-op when it exists), `delete
//! table X`, then the full new table. The kernel applies the transaction whole or not at all,
//! so packets see either the old or the new rules, never a mix or none.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use netverdict_engine::Protocol;

use crate::GATEWAY_IP;
use crate::error::NetError;
use crate::fabric::ServiceRule;

/// The Service table (family `ip`) in the router namespace.
pub const SERVICE_TABLE: &str = "netverdict-svc";

/// The policy table (family `inet`) in the router namespace, written by the policy compiler.
pub const FILTER_TABLE: &str = "netverdict-filter";

fn proto(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// Renders the Service table, kube-proxy style (its nftables mode):
///
/// - chain `reject_no_endpoints` (prerouting, priority dstnat - 10): a Service port without a
///   ready endpoint is answered with ICMP port unreachable, so a TCP client sees "connection
///   refused" at once, as with kube-proxy;
/// - chain `services` (nat prerouting, priority dstnat): a verdict map from `ClusterIP . protocol
///   . port` to a per-Service chain, which picks an endpoint with `numgen random` and DNATs to
///   it. Nothing is masqueraded: the endpoint and the policy filter see the client's own IP;
/// - chain `hairpin` (nat postrouting, priority srcnat): a pod reaching itself through its
///   Service is SNATed to the gateway address, otherwise its reply would skip the router and
///   the connection would never complete (kube-proxy masquerades hairpin traffic as well).
pub(crate) fn render_services(services: &[ServiceRule]) -> Result<String, NetError> {
    let mut seen = BTreeSet::new();
    for s in services {
        if s.port == 0 || s.endpoints.iter().any(|&(_, port)| port == 0) {
            return Err(NetError::invalid(
                "service rule",
                format!(
                    "port 0 in the Service {}:{}/{}",
                    s.cluster_ip, s.port, s.protocol
                ),
            ));
        }
        if !seen.insert((s.cluster_ip, s.port, s.protocol)) {
            return Err(NetError::invalid(
                "service rule",
                format!(
                    "{}:{}/{} given twice",
                    s.cluster_ip,
                    s.port,
                    proto(s.protocol)
                ),
            ));
        }
    }
    let key = |s: &ServiceRule| format!("{} . {} . {}", s.cluster_ip, proto(s.protocol), s.port);
    let no_endpoints: Vec<String> = services
        .iter()
        .filter(|s| s.endpoints.is_empty())
        .map(key)
        .collect();
    let served: Vec<(usize, &ServiceRule)> = services
        .iter()
        .filter(|s| !s.endpoints.is_empty())
        .enumerate()
        .collect();
    let hairpin: BTreeSet<Ipv4Addr> = served
        .iter()
        .flat_map(|(_, s)| s.endpoints.iter().map(|&(ip, _)| ip))
        .collect();

    let mut out = String::new();
    let t = SERVICE_TABLE;
    let _ = writeln!(out, "table ip {t}\ndelete table ip {t}\ntable ip {t} {{");
    let _ = writeln!(
        out,
        "  set no_endpoints {{\n    type ipv4_addr . inet_proto . inet_service"
    );
    write_elements(&mut out, no_endpoints.iter().cloned());
    let _ = writeln!(out, "  }}");
    let _ = writeln!(out, "  set hairpin {{\n    type ipv4_addr . ipv4_addr");
    write_elements(&mut out, hairpin.iter().map(|ip| format!("{ip} . {ip}")));
    let _ = writeln!(out, "  }}");
    let _ = writeln!(
        out,
        "  map services {{\n    type ipv4_addr . inet_proto . inet_service : verdict"
    );
    write_elements(
        &mut out,
        served
            .iter()
            .map(|(i, s)| format!("{} : goto svc{i}", key(s))),
    );
    let _ = writeln!(out, "  }}");
    let _ = writeln!(
        out,
        "  chain reject_no_endpoints {{\n    \
         type filter hook prerouting priority dstnat - 10; policy accept;\n    \
         ip daddr . meta l4proto . th dport @no_endpoints reject\n  }}"
    );
    let _ = writeln!(
        out,
        "  chain services {{\n    \
         type nat hook prerouting priority dstnat; policy accept;\n    \
         ip daddr . meta l4proto . th dport vmap @services\n  }}"
    );
    let _ = writeln!(
        out,
        "  chain hairpin {{\n    \
         type nat hook postrouting priority srcnat; policy accept;\n    \
         ct status dnat ip saddr . ip daddr @hairpin snat to {GATEWAY_IP}\n  }}"
    );
    for (i, s) in &served {
        let p = proto(s.protocol);
        let dnat = |(ip, port): (Ipv4Addr, u16)| format!("meta l4proto {p} dnat to {ip}:{port}");
        if let [only] = s.endpoints.as_slice() {
            let _ = writeln!(out, "  chain svc{i} {{\n    {}\n  }}", dnat(*only));
            continue;
        }
        let n = s.endpoints.len();
        let arms: Vec<String> = (0..n).map(|e| format!("{e} : goto svc{i}_ep{e}")).collect();
        let _ = writeln!(
            out,
            "  chain svc{i} {{\n    numgen random mod {n} vmap {{ {} }}\n  }}",
            arms.join(", ")
        );
        for (e, endpoint) in s.endpoints.iter().enumerate() {
            let _ = writeln!(
                out,
                "  chain svc{i}_ep{e} {{\n    {}\n  }}",
                dnat(*endpoint)
            );
        }
    }
    out.push_str("}\n");
    Ok(out)
}

fn write_elements(out: &mut String, elements: impl Iterator<Item = String>) {
    let elements: Vec<String> = elements.collect();
    if !elements.is_empty() {
        let _ = writeln!(out, "    elements = {{ {} }}", elements.join(", "));
    }
}

/// Wraps the policy compiler's script so that it replaces the filter table atomically; an
/// empty script removes the table.
///
/// The script may only name the table `inet netverdict-filter` and never the whole ruleset,
/// so a faulty script cannot remove the Service table.
pub(crate) fn wrap_filter(script: &str) -> Result<String, NetError> {
    let t = FILTER_TABLE;
    let tokens: Vec<&str> = script
        .lines()
        .map(|line| line.split_once('#').map_or(line, |(code, _)| code))
        .flat_map(|code| code.split(|c: char| c.is_whitespace() || c == ';'))
        .filter(|t| !t.is_empty())
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        let allowed = match *token {
            "ruleset" => false,
            "table" => {
                let name = tokens.get(i + 2).map(|n| n.trim_end_matches('{'));
                tokens.get(i + 1) == Some(&"inet") && name == Some(t)
            }
            _ => true,
        };
        if !allowed {
            let context = tokens[i..tokens.len().min(i + 3)].join(" ");
            return Err(NetError::invalid(
                "filter script",
                format!("it may only define table inet {t}, found `{context}`"),
            ));
        }
    }
    Ok(format!("table inet {t}\ndelete table inet {t}\n{script}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_service(ip: [u8; 4], port: u16, endpoints: &[([u8; 4], u16)]) -> ServiceRule {
        ServiceRule {
            cluster_ip: ip.into(),
            port,
            protocol: Protocol::Tcp,
            endpoints: endpoints
                .iter()
                .map(|&(ip, port)| (ip.into(), port))
                .collect(),
        }
    }

    #[test]
    fn renders_one_chain_per_service_and_endpoint() {
        let script = render_services(&[
            mk_service(
                [10, 96, 0, 10],
                80,
                &[([10, 244, 1, 2], 8080), ([10, 244, 2, 2], 8080)],
            ),
            mk_service([10, 96, 0, 11], 80, &[]),
            mk_service([10, 96, 0, 1], 443, &[([198, 51, 100, 1], 6443)]),
        ])
        .unwrap();
        assert!(script.starts_with(
            "table ip netverdict-svc\ndelete table ip netverdict-svc\ntable ip netverdict-svc {"
        ));
        assert!(script.contains("elements = { 10.96.0.11 . tcp . 80 }"));
        assert!(script.contains(
            "elements = { 10.96.0.10 . tcp . 80 : goto svc0, 10.96.0.1 . tcp . 443 : goto svc1 }"
        ));
        assert!(
            script.contains("numgen random mod 2 vmap { 0 : goto svc0_ep0, 1 : goto svc0_ep1 }")
        );
        assert!(script.contains("chain svc0_ep1 {\n    meta l4proto tcp dnat to 10.244.2.2:8080"));
        assert!(script.contains("chain svc1 {\n    meta l4proto tcp dnat to 198.51.100.1:6443"));
        assert!(script.contains("10.244.1.2 . 10.244.1.2, 10.244.2.2 . 10.244.2.2"));
        assert!(!script.contains("masquerade"));
    }

    #[test]
    fn rejects_duplicates_and_port_zero() {
        let a = mk_service([10, 96, 0, 10], 80, &[]);
        assert!(render_services(&[a.clone(), a]).is_err());
        assert!(render_services(&[mk_service([10, 96, 0, 10], 0, &[])]).is_err());
        assert!(
            render_services(&[mk_service([10, 96, 0, 10], 80, &[([10, 0, 0, 1], 0)])]).is_err()
        );
    }

    #[test]
    fn empty_filter_only_deletes() {
        assert_eq!(
            wrap_filter("").unwrap(),
            "table inet netverdict-filter\ndelete table inet netverdict-filter\n\n"
        );
    }

    #[test]
    fn filter_may_only_touch_its_table() {
        let ok = "# the table of policies\ntable inet netverdict-filter {\n  chain forward {}\n}";
        assert!(wrap_filter(ok).is_ok());
        assert!(wrap_filter("table inet netverdict-filter{ }").is_ok());
        for bad in [
            "flush ruleset",
            "table ip netverdict-svc { }",
            "delete table ip netverdict-svc",
            "table inet netverdict-filter { }\ntable inet other { }",
            "table inet netverdict-filter-2 { }",
        ] {
            assert!(wrap_filter(bad).is_err(), "{bad}");
        }
    }
}
