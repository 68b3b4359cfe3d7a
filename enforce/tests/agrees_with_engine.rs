//! The compiled ruleset admits exactly what the engine decides, for random clusters.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use netverdict_enforce::{CniMode, compile};
use netverdict_engine::{
    Cluster, Connection, Endpoint, IpBlock, LabelSelector, Namespace, NamespaceScope, Operator,
    Peer, Pod, Policy, PortMatch, PortSpec, Protocol, Requirement, Rule, ServedPort,
};
use proptest::prelude::*;

const EXTERNAL: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10));
const PORTS: [u16; 5] = [53, 80, 81, 90, 1000];
const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn namespaces() -> Vec<Namespace> {
    vec![
        Namespace {
            name: "x".to_owned(),
            labels: labels(&[("ns", "x"), ("team", "blue")]),
        },
        Namespace {
            name: "y".to_owned(),
            labels: labels(&[("ns", "y")]),
        },
    ]
}

fn served_ports() -> Vec<ServedPort> {
    vec![
        ServedPort {
            name: Some("http".to_owned()),
            port: 80,
            protocol: Protocol::Tcp,
        },
        ServedPort {
            name: Some("dns".to_owned()),
            port: 53,
            protocol: Protocol::Udp,
        },
        ServedPort {
            name: Some("alt".to_owned()),
            port: 81,
            protocol: Protocol::Tcp,
        },
        ServedPort {
            name: Some("sctp".to_owned()),
            port: 90,
            protocol: Protocol::Sctp,
        },
    ]
}

fn selector() -> impl Strategy<Value = LabelSelector> {
    let key = prop::sample::select(vec!["app", "tier"]);
    let value = prop::sample::select(vec!["a", "b", "c"]);
    let requirement = (
        key.clone(),
        prop::sample::select(vec![0usize, 1, 2, 3]),
        prop::collection::vec(value.clone(), 1..3),
    )
        .prop_map(|(key, op, values)| {
            let operator = [
                Operator::In,
                Operator::NotIn,
                Operator::Exists,
                Operator::DoesNotExist,
            ][op];
            let values = if matches!(operator, Operator::Exists | Operator::DoesNotExist) {
                vec![]
            } else {
                values
            };
            Requirement {
                key: key.to_owned(),
                operator,
                values: values.into_iter().map(str::to_owned).collect(),
            }
        });
    (
        prop::collection::btree_map(key, value, 0..2),
        prop::collection::vec(requirement, 0..2),
    )
        .prop_map(|(match_labels, match_expressions)| LabelSelector {
            match_labels: match_labels
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            match_expressions,
        })
}

fn namespace_selector() -> impl Strategy<Value = LabelSelector> {
    prop_oneof![
        Just(LabelSelector::default()),
        Just(LabelSelector {
            match_labels: labels(&[("ns", "y")]),
            match_expressions: vec![]
        }),
        Just(LabelSelector {
            match_labels: labels(&[("team", "blue")]),
            match_expressions: vec![]
        }),
    ]
}

fn peer() -> impl Strategy<Value = Peer> {
    let block = prop_oneof![
        Just(IpBlock {
            cidr: "10.244.0.0/16".parse().unwrap(),
            except: vec!["10.244.0.4/30".parse().unwrap()]
        }),
        Just(IpBlock {
            cidr: "10.244.0.2/32".parse().unwrap(),
            except: vec![]
        }),
        Just(IpBlock {
            cidr: "203.0.113.0/24".parse().unwrap(),
            except: vec![]
        }),
        Just(IpBlock {
            cidr: "0.0.0.0/0".parse().unwrap(),
            except: vec!["10.0.0.0/8".parse().unwrap()]
        }),
    ];
    prop_oneof![
        (selector(), prop::option::of(namespace_selector())).prop_map(|(pods, namespaces)| {
            Peer::Pods {
                namespaces: namespaces
                    .map_or(NamespaceScope::PolicyNamespace, NamespaceScope::Selected),
                pods,
            }
        }),
        block.prop_map(Peer::IpBlock),
    ]
}

fn port_match() -> impl Strategy<Value = PortMatch> {
    let protocol = prop::sample::select(PROTOCOLS.to_vec());
    let spec = prop_oneof![
        Just(PortSpec::All),
        prop::sample::select(vec![53u16, 80, 81, 90]).prop_map(|port| PortSpec::Number {
            port,
            end_port: None
        }),
        Just(PortSpec::Number {
            port: 79,
            end_port: Some(1000)
        }),
        prop::sample::select(vec!["http", "dns", "alt", "sctp", "nope"])
            .prop_map(|n| PortSpec::Named(n.to_owned())),
    ];
    (protocol, spec).prop_map(|(protocol, port)| PortMatch { protocol, port })
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        prop::collection::vec(peer(), 0..3),
        prop::collection::vec(port_match(), 0..3),
    )
        .prop_map(|(peers, ports)| Rule { peers, ports })
}

fn policy(index: usize) -> impl Strategy<Value = Policy> {
    (
        prop::sample::select(vec!["x", "y"]),
        selector(),
        prop::option::of(prop::collection::vec(rule(), 0..3)),
        prop::option::of(prop::collection::vec(rule(), 0..3)),
    )
        .prop_map(move |(namespace, pod_selector, ingress, egress)| Policy {
            namespace: namespace.to_owned(),
            name: format!("p{index}"),
            pod_selector,
            ingress,
            egress,
        })
}

fn cluster() -> impl Strategy<Value = Cluster> {
    let pod_labels = (
        prop::sample::select(vec!["a", "b", "c"]),
        prop::sample::select(vec!["a", "b"]),
    );
    let pods = prop::collection::vec(
        (
            prop::sample::select(vec!["x", "y"]),
            pod_labels,
            any::<bool>(),
        ),
        2..6,
    );
    let policies = (0..4usize).prop_flat_map(|count| (0..count).map(policy).collect::<Vec<_>>());
    (pods, policies).prop_map(|(pods, policies)| Cluster {
        namespaces: namespaces(),
        pods: pods
            .into_iter()
            .enumerate()
            .map(|(i, (namespace, (app, tier), serves))| Pod {
                namespace: namespace.to_owned(),
                name: format!("pod{i}"),
                labels: labels(&[("app", app), ("tier", tier)]),
                ips: vec![IpAddr::V4(Ipv4Addr::new(10, 244, 0, 2 + i as u8))],
                ports: if serves { served_ports() } else { vec![] },
                host_network: false,
            })
            .collect(),
        policies,
    })
}

fn endpoint(pod: &Pod) -> Endpoint {
    Endpoint::Pod {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn enforcing_ruleset_admits_what_the_engine_allows(cluster in cluster()) {
        let ruleset = compile(&cluster, CniMode::Enforcing);
        for from in &cluster.pods {
            let targets = cluster.pods.iter().map(|to| (endpoint(to), to.ips[0])).chain([(Endpoint::Ip(EXTERNAL), EXTERNAL)]);
            for (to, to_ip) in targets {
                for port in PORTS {
                    for protocol in PROTOCOLS {
                        let connection = Connection { from: endpoint(from), to: to.clone(), port, protocol };
                        let decision = cluster.decide(&connection).unwrap();
                        let network = ruleset.allows(from.ips[0], to_ip, port, protocol);
                        prop_assert_eq!(network, decision.allowed, "{:?}\n{}", connection, decision);
                    }
                }
            }
        }
    }

    #[test]
    fn ingress_only_ignores_egress_and_none_allows_everything(cluster in cluster()) {
        let ingress_only = compile(&cluster, CniMode::IngressOnly);
        let none = compile(&cluster, CniMode::None);
        for from in &cluster.pods {
            for to in &cluster.pods {
                let connection = Connection { from: endpoint(from), to: endpoint(to), port: 80, protocol: Protocol::Tcp };
                let decision = cluster.decide(&connection).unwrap();
                let network = ingress_only.allows(from.ips[0], to.ips[0], 80, Protocol::Tcp);
                prop_assert_eq!(network, decision.loopback || decision.ingress.allows());
                prop_assert!(none.allows(from.ips[0], to.ips[0], 80, Protocol::Tcp));
            }
        }
    }
}

#[test]
fn ipblock_except_and_named_egress_ports_compile_to_exact_sets() {
    let pod = |name: &str, last: u8, ports: Vec<ServedPort>| Pod {
        namespace: "x".to_owned(),
        name: name.to_owned(),
        labels: labels(&[("app", name)]),
        ips: vec![IpAddr::V4(Ipv4Addr::new(10, 244, 0, last))],
        ports,
        host_network: false,
    };
    let cluster = Cluster {
        namespaces: namespaces(),
        pods: vec![
            pod("client", 2, vec![]),
            pod("web", 3, served_ports()),
            pod(
                "other",
                5,
                vec![ServedPort {
                    name: Some("http".to_owned()),
                    port: 8080,
                    protocol: Protocol::Tcp,
                }],
            ),
        ],
        policies: vec![Policy {
            namespace: "x".to_owned(),
            name: "client-egress".to_owned(),
            pod_selector: LabelSelector {
                match_labels: labels(&[("app", "client")]),
                match_expressions: vec![],
            },
            ingress: None,
            egress: Some(vec![
                Rule {
                    peers: vec![],
                    ports: vec![PortMatch {
                        protocol: Protocol::Tcp,
                        port: PortSpec::Named("http".to_owned()),
                    }],
                },
                Rule {
                    peers: vec![Peer::IpBlock(IpBlock {
                        cidr: "203.0.113.0/24".parse::<IpNet>().unwrap(),
                        except: vec!["203.0.113.10/32".parse().unwrap()],
                    })],
                    ports: vec![],
                },
            ]),
        }],
    };
    let ruleset = compile(&cluster, CniMode::Enforcing);
    let client: IpAddr = "10.244.0.2".parse().unwrap();
    let web: IpAddr = "10.244.0.3".parse().unwrap();
    let other: IpAddr = "10.244.0.5".parse().unwrap();
    // "http" is 80 on web and 8080 on other: each only on its own pod.
    assert!(ruleset.allows(client, web, 80, Protocol::Tcp));
    assert!(!ruleset.allows(client, web, 8080, Protocol::Tcp));
    assert!(ruleset.allows(client, other, 8080, Protocol::Tcp));
    assert!(!ruleset.allows(client, other, 80, Protocol::Tcp));
    assert!(ruleset.allows(client, "203.0.113.11".parse().unwrap(), 443, Protocol::Tcp));
    assert!(!ruleset.allows(client, EXTERNAL, 443, Protocol::Tcp));
    // Replies are not judged by the ruleset but by conntrack; new connections to the client are
    // not restricted by an egress-only policy.
    assert!(ruleset.allows(web, client, 1234, Protocol::Udp));
}
