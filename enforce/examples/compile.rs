//! How long compiling and rendering take, and how many rules come out, for a cluster of 100
//! pods and 50 policies of every kind: `cargo run --release -p netverdict-enforce --example compile [FILE]`
//! (FILE receives the nftables table, e.g. to time `nft -f` on it).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use netverdict_enforce::{CniMode, compile, render_nft};
use netverdict_engine::{
    Cluster, IpBlock, LabelSelector, Namespace, NamespaceScope, Operator, Peer, Pod, Policy,
    PortMatch, PortSpec, Protocol, Requirement, Rule, ServedPort,
};

fn labels(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn selector(key: &str, value: String) -> LabelSelector {
    LabelSelector {
        match_labels: labels(&[(key, value)]),
        match_expressions: vec![],
    }
}

fn cluster(pods: usize, policies: usize) -> Cluster {
    let namespaces: Vec<Namespace> = (0..5)
        .map(|n| Namespace {
            name: format!("ns{n}"),
            labels: labels(&[("team", format!("t{}", n % 3))]),
        })
        .collect();
    let pods = (0..pods)
        .map(|i| Pod {
            namespace: format!("ns{}", i % 5),
            name: format!("p{i}"),
            labels: labels(&[
                ("app", format!("a{}", i % 10)),
                ("tier", format!("t{}", i % 3)),
            ]),
            ips: vec![IpAddr::V4(Ipv4Addr::new(
                10,
                244,
                (i / 250) as u8,
                (i % 250) as u8 + 2,
            ))],
            ports: vec![
                ServedPort {
                    name: Some("http".to_owned()),
                    port: 8080,
                    protocol: Protocol::Tcp,
                },
                ServedPort {
                    name: Some("dns".to_owned()),
                    port: 53,
                    protocol: Protocol::Udp,
                },
            ],
            host_network: false,
        })
        .collect();
    let policies = (0..policies)
        .map(|i| {
            let peers = vec![
                Peer::Pods {
                    namespaces: NamespaceScope::PolicyNamespace,
                    pods: selector("app", format!("a{}", (i + 1) % 10)),
                },
                Peer::Pods {
                    namespaces: NamespaceScope::Selected(selector("team", format!("t{}", i % 3))),
                    pods: LabelSelector {
                        match_labels: BTreeMap::new(),
                        match_expressions: vec![Requirement {
                            key: "tier".to_owned(),
                            operator: Operator::In,
                            values: vec!["t0".to_owned(), "t1".to_owned()],
                        }],
                    },
                },
                Peer::IpBlock(IpBlock {
                    cidr: "203.0.113.0/24".parse().unwrap(),
                    except: vec!["203.0.113.10/32".parse().unwrap()],
                }),
            ];
            let ports = vec![
                PortMatch {
                    protocol: Protocol::Tcp,
                    port: PortSpec::Named("http".to_owned()),
                },
                PortMatch {
                    protocol: Protocol::Tcp,
                    port: PortSpec::Number {
                        port: 9000,
                        end_port: Some(9100),
                    },
                },
                PortMatch {
                    protocol: Protocol::Udp,
                    port: PortSpec::Number {
                        port: 53,
                        end_port: None,
                    },
                },
            ];
            let rules = vec![Rule { peers, ports }];
            Policy {
                namespace: format!("ns{}", i % 5),
                name: format!("pol{i}"),
                pod_selector: selector("app", format!("a{}", i % 10)),
                ingress: Some(rules.clone()),
                egress: (i % 2 == 0).then_some(rules),
            }
        })
        .collect();
    Cluster {
        namespaces,
        pods,
        policies,
    }
}

fn main() {
    let cluster = cluster(100, 50);
    let iterations = 50;
    let started = Instant::now();
    let mut script = String::new();
    for _ in 0..iterations {
        script = render_nft(&compile(&cluster, CniMode::Enforcing));
    }
    let per_reconcile = started.elapsed() / iterations;
    let chains = script.matches("\tchain ").count();
    let rules = script
        .lines()
        .filter(|line| line.starts_with("\t\t") && !line.trim_start().starts_with("type "))
        .count();
    if let Some(path) = std::env::args().nth(1) {
        std::fs::write(path, &script).expect("write the ruleset");
    }
    println!(
        "100 pods, 50 policies: {chains} chains, {rules} rules, {} bytes of nftables; compile + render {:.2} ms",
        script.len(),
        per_reconcile.as_secs_f64() * 1000.0
    );
}
