//! One API rule or corner case per test, on the 3x3 model or small hand-built clusters.

use std::net::IpAddr;

use netverdict_engine::{
    Cluster, Connection, DecideError, Decision, Direction, Endpoint, PolicyRef, Protocol,
    RuleMatch, SideDecision,
};
use serde_json::json;

use crate::model::{ip4, ip6, mk_pod, model_cluster, policy};

fn mk_pod_endpoint(at: &str) -> Endpoint {
    let (namespace, name) = at.split_once('/').expect("namespace/name");
    Endpoint::Pod {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

fn mk_ip_endpoint(ip: &str) -> Endpoint {
    Endpoint::Ip(ip.parse().expect("an IP"))
}

fn mk_connection(from: Endpoint, to: Endpoint, port: u16, protocol: Protocol) -> Connection {
    Connection {
        from,
        to,
        port,
        protocol,
    }
}

fn decide(cluster: &Cluster, from: Endpoint, to: Endpoint, port: u16) -> Decision {
    cluster
        .decide(&mk_connection(from, to, port, Protocol::Tcp))
        .expect("known pods")
}

fn mk_ref(namespace: &str, name: &str) -> PolicyRef {
    PolicyRef {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

fn deny_all(namespace: &str) -> netverdict_engine::Policy {
    policy(
        namespace,
        "deny-all",
        json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
    )
}

#[test]
fn self_traffic_is_allowed_and_flagged() {
    let cluster = model_cluster(vec![deny_all("x")]);
    let decision = decide(&cluster, mk_pod_endpoint("x/a"), mk_pod_endpoint("x/a"), 80);
    assert!(decision.allowed);
    assert!(decision.loopback);
    assert!(matches!(decision.ingress, SideDecision::Denied { .. }));
    let other = decide(&cluster, mk_pod_endpoint("x/a"), mk_pod_endpoint("x/b"), 80);
    assert!(!other.allowed);
    assert!(!other.loopback);
}

#[test]
fn host_network_pods_are_never_selected() {
    let mut cluster = model_cluster(vec![deny_all("x")]);
    let mut host = mk_pod("x", "host");
    host.host_network = true;
    host.ips = vec!["192.168.0.10".parse().unwrap()];
    cluster.pods.push(host.clone());
    let decision = decide(
        &cluster,
        mk_pod_endpoint("x/host"),
        mk_pod_endpoint("y/a"),
        80,
    );
    assert_eq!(decision.egress, SideDecision::NotIsolated);
    assert!(decision.allowed);
    assert!(cluster.selecting_policies(&host).is_empty());
    assert!(
        cluster
            .isolating_policies(&host, Direction::Ingress)
            .is_empty()
    );
}

#[test]
fn host_network_peers_match_ip_blocks_only() {
    let by_selector = policy(
        "y",
        "from-everywhere",
        json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}),
    );
    let by_block = policy(
        "z",
        "from-nodes",
        json!({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "192.168.0.0/24"}}]}]}),
    );
    let mut cluster = model_cluster(vec![by_selector, by_block]);
    let mut host = mk_pod("x", "host");
    host.host_network = true;
    host.ips = vec!["192.168.0.10".parse().unwrap()];
    cluster.pods.push(host);
    let to_y = decide(
        &cluster,
        mk_pod_endpoint("x/host"),
        mk_pod_endpoint("y/a"),
        80,
    );
    assert!(!to_y.allowed, "{to_y}");
    let to_z = decide(
        &cluster,
        mk_pod_endpoint("x/host"),
        mk_pod_endpoint("z/a"),
        80,
    );
    assert!(to_z.allowed, "{to_z}");
}

#[test]
fn ip_endpoints_have_no_side_and_match_ip_blocks_only() {
    let allow = policy(
        "x",
        "from-outside",
        json!({
            "podSelector": {},
            "ingress": [{"from": [
                {"namespaceSelector": {}},
                {"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.128/25"]}},
            ]}],
        }),
    );
    let cluster = model_cluster(vec![allow]);
    // (source, allowed)
    let cases = [
        ("203.0.113.1", true),
        ("203.0.113.200", false),
        ("198.51.100.1", false),
        ("2001:db8::1", false),
    ];
    for (source, allowed) in cases {
        let decision = decide(&cluster, mk_ip_endpoint(source), mk_pod_endpoint("x/a"), 80);
        assert_eq!(decision.allowed, allowed, "{source}: {decision}");
        assert_eq!(decision.egress, SideDecision::NotApplicable);
    }
    let outbound = decide(
        &cluster,
        mk_pod_endpoint("x/a"),
        mk_ip_endpoint("8.8.8.8"),
        53,
    );
    assert_eq!(outbound.ingress, SideDecision::NotApplicable);
    assert!(outbound.allowed);
}

#[test]
fn ip_blocks_apply_to_pod_ips_of_both_families() {
    let cases = [
        ("10.0.2.0/24", "y/a", true),
        ("10.0.2.0/24", "z/a", false),
        ("fd00:0:0:2::/64", "y/c", true),
        ("fd00:0:0:2::/64", "x/c", false),
        ("0.0.0.0/0", "z/b", true),
        ("::/0", "z/b", true),
    ];
    for (cidr, source, allowed) in cases {
        let allow = policy(
            "x",
            "from-block",
            json!({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": cidr}}]}]}),
        );
        let cluster = model_cluster(vec![allow]);
        let decision = decide(
            &cluster,
            mk_pod_endpoint(source),
            mk_pod_endpoint("x/a"),
            80,
        );
        assert_eq!(
            decision.allowed, allowed,
            "{cidr} from {source}: {decision}"
        );
    }
}

#[test]
fn pods_without_known_ips_never_match_ip_blocks() {
    let allow = policy(
        "x",
        "from-anywhere",
        json!({
            "podSelector": {},
            "ingress": [{"from": [
                {"ipBlock": {"cidr": "0.0.0.0/0"}},
                {"ipBlock": {"cidr": "::/0"}},
            ]}],
        }),
    );
    let mut cluster = model_cluster(vec![allow]);
    for pod in &mut cluster.pods {
        pod.ips.clear();
    }
    let decision = decide(&cluster, mk_pod_endpoint("y/a"), mk_pod_endpoint("x/a"), 80);
    assert!(!decision.allowed, "{decision}");
    let outside = decide(
        &cluster,
        mk_ip_endpoint("10.9.9.9"),
        mk_pod_endpoint("x/a"),
        80,
    );
    assert!(outside.allowed, "{outside}");
}

#[test]
fn named_ports_never_match_non_pod_destinations() {
    let egress = policy(
        "x",
        "egress-named",
        json!({
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"port": "serve-80-tcp"}]}],
        }),
    );
    let cluster = model_cluster(vec![egress]);
    let to_ip = decide(
        &cluster,
        mk_pod_endpoint("x/a"),
        mk_ip_endpoint("10.0.2.1"),
        80,
    );
    assert!(!to_ip.allowed, "{to_ip}");
    let to_pod = decide(&cluster, mk_pod_endpoint("x/a"), mk_pod_endpoint("y/a"), 80);
    assert!(to_pod.allowed, "{to_pod}");
}

#[test]
fn named_ports_resolve_against_the_destination() {
    // x/a serves "web" on 8080, y/a serves "web" on 9090: egress from x/b to each on each port.
    let egress = policy(
        "x",
        "egress-web",
        json!({
            "podSelector": {"matchLabels": {"pod": "b"}},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"port": "web"}]}],
        }),
    );
    let mut cluster = model_cluster(vec![egress]);
    for (at, port) in [(("x", "a"), 8080), (("y", "a"), 9090)] {
        let pod = cluster
            .pods
            .iter_mut()
            .find(|p| (p.namespace.as_str(), p.name.as_str()) == at)
            .unwrap();
        pod.ports.push(netverdict_engine::ServedPort {
            name: Some("web".to_owned()),
            port,
            protocol: Protocol::Tcp,
        });
    }
    let cases = [
        ("x/a", 8080, true),
        ("x/a", 9090, false),
        ("y/a", 9090, true),
        ("y/a", 8080, false),
        ("z/a", 8080, false),
    ];
    for (to, port, allowed) in cases {
        let decision = decide(&cluster, mk_pod_endpoint("x/b"), mk_pod_endpoint(to), port);
        assert_eq!(decision.allowed, allowed, "to {to}:{port}: {decision}");
    }
}

#[test]
fn unknown_pods_are_errors() {
    let cluster = model_cluster(vec![]);
    let error = cluster
        .decide(&mk_connection(
            mk_pod_endpoint("x/a"),
            mk_pod_endpoint("w/nope"),
            80,
            Protocol::Tcp,
        ))
        .unwrap_err();
    assert_eq!(
        error,
        DecideError::UnknownPod {
            namespace: "w".to_owned(),
            name: "nope".to_owned()
        }
    );
    assert_eq!(error.to_string(), "unknown pod w/nope");
}

#[test]
fn namespaces_always_carry_their_name_label() {
    let allow = policy(
        "x",
        "from-y-by-name",
        json!({
            "podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": "y",
            }}}]}],
        }),
    );
    let mut cluster = model_cluster(vec![allow]);
    // A namespace unknown to the cluster still has its name label.
    cluster.namespaces.retain(|n| n.name != "y");
    assert!(decide(&cluster, mk_pod_endpoint("y/a"), mk_pod_endpoint("x/a"), 80).allowed);
    assert!(!decide(&cluster, mk_pod_endpoint("z/a"), mk_pod_endpoint("x/a"), 80).allowed);
}

#[test]
fn not_in_and_does_not_exist_match_pods_without_the_key() {
    let allow = policy(
        "x",
        "from-untiered",
        json!({
            "podSelector": {},
            "ingress": [{"from": [
                {"podSelector": {"matchExpressions": [
                    {"key": "tier", "operator": "NotIn", "values": ["db"]},
                    {"key": "role", "operator": "DoesNotExist"},
                ]}},
            ]}],
        }),
    );
    let mut cluster = model_cluster(vec![allow]);
    let labels = [
        ("tier", "db", false),
        ("tier", "web", true),
        ("role", "x", false),
    ];
    for (key, value, allowed) in labels {
        let pod = cluster
            .pods
            .iter_mut()
            .find(|p| p.namespace == "x" && p.name == "b")
            .unwrap();
        pod.labels.retain(|k, _| k == "pod");
        pod.labels.insert(key.to_owned(), value.to_owned());
        let decision = decide(&cluster, mk_pod_endpoint("x/b"), mk_pod_endpoint("x/a"), 80);
        assert_eq!(decision.allowed, allowed, "{key}={value}: {decision}");
    }
    assert!(decide(&cluster, mk_pod_endpoint("x/c"), mk_pod_endpoint("x/a"), 80).allowed);
}

#[test]
fn rule_matches_name_rule_peer_and_port() {
    let first = policy(
        "x",
        "first",
        json!({
            "podSelector": {},
            "ingress": [
                {"from": [{"podSelector": {"matchLabels": {"pod": "c"}}}]},
                {
                    "from": [
                        {"podSelector": {"matchLabels": {"pod": "c"}}},
                        {"namespaceSelector": {"matchLabels": {"ns": "y"}}},
                    ],
                    "ports": [{"port": 81}, {"port": 80}],
                },
                {"ports": [{"port": 80}]},
            ],
        }),
    );
    let second = policy("x", "second", json!({"podSelector": {}, "ingress": [{}]}));
    let cluster = model_cluster(vec![first, second]);
    let decision = decide(&cluster, mk_pod_endpoint("y/b"), mk_pod_endpoint("x/a"), 80);
    let matches = |rule, peer, port, name| RuleMatch {
        policy: mk_ref("x", name),
        direction: Direction::Ingress,
        rule,
        peer,
        port,
    };
    assert_eq!(
        decision.ingress,
        SideDecision::Allowed {
            matches: vec![
                matches(1, Some(1), Some(1), "first"),
                matches(2, None, Some(0), "first"),
                matches(0, None, None, "second"),
            ]
        }
    );
    assert_eq!(
        decision.to_string(),
        "allowed\n  egress: allowed: no policy isolates the source pod for egress\n  ingress: \
         allowed by policy x/first, ingress rule 1 (from[1], ports[1]); policy x/first, ingress \
         rule 2 (any peer, ports[0]); policy x/second, ingress rule 0 (any peer, any port)"
    );
}

#[test]
fn denials_name_every_isolating_policy() {
    let deny = policy("x", "deny-all", json!({"podSelector": {}}));
    let only_b = policy(
        "x",
        "from-b",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}],
        }),
    );
    let other = policy(
        "x",
        "for-c",
        json!({"podSelector": {"matchLabels": {"pod": "c"}}}),
    );
    let cluster = model_cluster(vec![deny, only_b, other]);
    let decision = decide(&cluster, mk_pod_endpoint("y/a"), mk_pod_endpoint("x/a"), 80);
    assert_eq!(
        decision.ingress,
        SideDecision::Denied {
            isolated_by: vec![mk_ref("x", "deny-all"), mk_ref("x", "from-b")]
        }
    );
    assert_eq!(
        decision.to_string(),
        "denied\n  egress: allowed: no policy isolates the source pod for egress\n  ingress: \
         denied: the destination pod is isolated for ingress by x/deny-all, x/from-b and no rule \
         of them allows this connection"
    );
    let to_ip = decide(
        &cluster,
        mk_ip_endpoint("10.0.1.3"),
        mk_pod_endpoint("x/c"),
        80,
    );
    assert_eq!(
        to_ip.to_string(),
        "denied\n  egress: allowed: the source is not a pod, no policy applies\n  ingress: denied: \
         the destination pod is isolated for ingress by x/deny-all, x/for-c and no rule of them \
         allows this connection"
    );
}

#[test]
fn explains_loopback() {
    let cluster = model_cluster(vec![deny_all("x")]);
    let decision = decide(&cluster, mk_pod_endpoint("x/b"), mk_pod_endpoint("x/b"), 80);
    assert!(
        decision
            .to_string()
            .starts_with("allowed: a pod's traffic to itself is never blocked by NetworkPolicy\n"),
        "{decision}"
    );
}

#[test]
fn selecting_isolating_and_nearest_policies() {
    let ingress_a = policy(
        "x",
        "ingress-a",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}}),
    );
    let egress_all = policy(
        "x",
        "egress-all",
        json!({"podSelector": {}, "policyTypes": ["Egress"]}),
    );
    let far = policy(
        "x",
        "far",
        json!({"podSelector": {
            "matchLabels": {"pod": "z", "tier": "db"},
            "matchExpressions": [{"key": "team", "operator": "Exists"}],
        }}),
    );
    let near = policy(
        "x",
        "near",
        json!({"podSelector": {"matchLabels": {"pod": "c", "tier": "web"}}}),
    );
    let elsewhere = policy("y", "elsewhere", json!({"podSelector": {}}));
    // On a tie the earlier policy wins: `near` and `ingress-a` both miss `x/c` by one requirement.
    let cluster = model_cluster(vec![near, ingress_a, egress_all, far, elsewhere]);
    let pod = |name| mk_pod("x", name);
    let names = |policies: Vec<&netverdict_engine::Policy>| -> Vec<String> {
        policies.iter().map(|p| p.name.clone()).collect()
    };
    assert_eq!(
        names(cluster.selecting_policies(&pod("a"))),
        ["ingress-a", "egress-all"]
    );
    assert_eq!(
        names(cluster.isolating_policies(&pod("a"), Direction::Ingress)),
        ["ingress-a"]
    );
    assert_eq!(
        names(cluster.isolating_policies(&pod("a"), Direction::Egress)),
        ["egress-all"]
    );
    assert!(
        cluster
            .isolating_policies(&pod("b"), Direction::Ingress)
            .is_empty()
    );

    let nearest = cluster.nearest_policy(&pod("c")).expect("policies in x");
    assert_eq!(nearest.policy, mk_ref("x", "near"));
    assert_eq!(nearest.unmet.len(), 1);
    assert_eq!(nearest.unmet[0].to_string(), "tier=web");
    let nearest_b = cluster.nearest_policy(&pod("b")).expect("policies in x");
    assert_eq!(nearest_b.policy, mk_ref("x", "ingress-a"));
    assert!(model_cluster(vec![]).nearest_policy(&pod("a")).is_none());
}

#[test]
fn policies_only_select_pods_of_their_namespace() {
    let cluster = model_cluster(vec![deny_all("y")]);
    let decision = decide(&cluster, mk_pod_endpoint("x/a"), mk_pod_endpoint("x/b"), 80);
    assert_eq!(decision.egress, SideDecision::NotIsolated);
    assert_eq!(decision.ingress, SideDecision::NotIsolated);
    assert!(decision.allowed);
}

#[test]
fn egress_and_ingress_sides_are_judged_separately() {
    let egress_only_y = policy(
        "x",
        "egress-to-y",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}],
        }),
    );
    let ingress_deny = policy(
        "y",
        "deny",
        json!({"podSelector": {"matchLabels": {"pod": "b"}}}),
    );
    let cluster = model_cluster(vec![egress_only_y, ingress_deny]);
    // (to, egress allows, ingress allows)
    let cases = [
        ("y/a", true, true),
        ("y/b", true, false),
        ("z/a", false, true),
    ];
    for (to, egress, ingress) in cases {
        let decision = decide(&cluster, mk_pod_endpoint("x/a"), mk_pod_endpoint(to), 80);
        assert_eq!(decision.egress.allows(), egress, "{to}: {decision}");
        assert_eq!(decision.ingress.allows(), ingress, "{to}: {decision}");
        assert_eq!(decision.allowed, egress && ingress, "{to}: {decision}");
    }
}

#[test]
fn protocols_must_match_exactly() {
    let allow = policy(
        "x",
        "udp-80",
        json!({"podSelector": {}, "ingress": [{"ports": [{"protocol": "UDP", "port": 80}]}]}),
    );
    let cluster = model_cluster(vec![allow]);
    for (protocol, allowed) in [
        (Protocol::Udp, true),
        (Protocol::Tcp, false),
        (Protocol::Sctp, false),
    ] {
        let decision = cluster
            .decide(&mk_connection(
                mk_pod_endpoint("y/a"),
                mk_pod_endpoint("x/a"),
                80,
                protocol,
            ))
            .unwrap();
        assert_eq!(decision.allowed, allowed, "{protocol:?}");
    }
}

#[test]
fn model_addresses() {
    assert_eq!(ip4("x", "a"), "10.0.1.1".parse::<IpAddr>().unwrap());
    assert_eq!(ip6("y", "b"), "fd00:0:0:2::2".parse::<IpAddr>().unwrap());
}

#[test]
fn decisions_serialize_for_reports() {
    let allow = policy(
        "x",
        "from-y",
        json!({
            "podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}],
        }),
    );
    let cluster = model_cluster(vec![allow]);
    let decision = decide(&cluster, mk_pod_endpoint("y/a"), mk_pod_endpoint("x/a"), 80);
    assert_eq!(
        serde_json::to_value(&decision).unwrap(),
        json!({
            "allowed": true,
            "egress": {"kind": "not_isolated"},
            "ingress": {"kind": "allowed", "matches": [{
                "policy": {"namespace": "x", "name": "from-y"},
                "direction": "ingress",
                "rule": 0,
                "peer": 0,
                "port": null,
            }]},
            "loopback": false,
        })
    );
}

#[test]
fn nearest_pod_to_a_selector() {
    let cluster = model_cluster(vec![]);
    let selector = netverdict_engine::LabelSelector {
        match_labels: crate::model::mk_labels(&[("pod", "b"), ("tier", "web")]),
        match_expressions: Vec::new(),
    };
    let (pod, unmet) = cluster
        .nearest_pod(&selector, Some("y"))
        .expect("pods in y");
    assert_eq!((pod.namespace.as_str(), pod.name.as_str()), ("y", "b"));
    assert_eq!(unmet.len(), 1);
    assert_eq!(unmet[0].to_string(), "tier=web");
    let (pod, unmet) = cluster.nearest_pod(&selector, None).expect("pods");
    assert_eq!((pod.namespace.as_str(), pod.name.as_str()), ("x", "b"));
    assert_eq!(unmet.len(), 1);
    assert!(cluster.nearest_pod(&selector, Some("w")).is_none());
    let everything = netverdict_engine::LabelSelector::everything();
    assert!(cluster.nearest_pod(&everything, None).unwrap().1.is_empty());
}

#[test]
fn explanations_show_the_matching_peers_and_ports() {
    let from_y = policy(
        "x",
        "from-y",
        json!({
            "podSelector": {},
            "ingress": [{
                "from": [
                    {"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.0/28"]}},
                    {"namespaceSelector": {"matchLabels": {"ns": "y"}}, "podSelector": {}},
                ],
                "ports": [{"port": 80, "endPort": 81}],
            }],
        }),
    );
    let to_x = policy(
        "y",
        "to-x",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"pod": "c"}}}]}, {}],
        }),
    );
    let cluster = model_cluster(vec![from_y, to_x]);
    let text = cluster
        .explain(&mk_connection(
            mk_pod_endpoint("y/a"),
            mk_pod_endpoint("x/b"),
            81,
            Protocol::Tcp,
        ))
        .unwrap();
    assert_eq!(
        text,
        "y/a -> x/b 81/TCP: allowed\n  egress: allowed by policy y/to-x, egress rule 1 (any peer, \
         any port)\n  ingress: allowed by policy x/from-y, ingress rule 0 (from[1], ports[0])\n    \
         y/to-x egress[1].to: any peer\n    y/to-x egress[1].ports: any port\n    x/from-y \
         ingress[0].from[1]: pods {} in namespaces ns=y\n    x/from-y ingress[0].ports[0]: TCP \
         80-81"
    );
    let outside = cluster
        .explain(&mk_connection(
            mk_ip_endpoint("192.0.2.99"),
            mk_pod_endpoint("x/b"),
            80,
            Protocol::Tcp,
        ))
        .unwrap();
    assert!(
        outside.contains(
            "\n    x/from-y ingress[0].from[0]: ipBlock 192.0.2.0/24 except 192.0.2.0/28"
        ),
        "{outside}"
    );
    assert!(
        cluster
            .explain(&mk_connection(
                mk_pod_endpoint("q/a"),
                mk_pod_endpoint("x/b"),
                80,
                Protocol::Tcp,
            ))
            .is_err()
    );
}
