//! Properties of the semantics over random policies on the 3x3 model.
//!
//! Policies only ever add allows, so most properties compare the verdicts before and after one
//! change over every connection between the model's pods and a few outside addresses.

use netverdict_engine::{
    Cluster, Connection, Endpoint, IpBlock, LabelSelector, Mark, NamespaceScope, Operator, Peer,
    Policy, PortMatch, PortSpec, Protocol, Requirement, Rule, SideDecision, TruthTable,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use crate::model::{mk_labels, model_cluster, model_pods};

const KEYS: [&str; 4] = ["pod", "ns", "tier", "kubernetes.io/metadata.name"];
const VALUES: [&str; 7] = ["a", "b", "c", "x", "y", "z", "web"];
const OUTSIDE: [&str; 3] = ["10.0.1.1", "192.0.2.1", "fd00:0:0:2::1"];

fn arb_operator() -> impl Strategy<Value = Operator> {
    select(vec![
        Operator::In,
        Operator::NotIn,
        Operator::Exists,
        Operator::DoesNotExist,
    ])
}

fn arb_requirement() -> impl Strategy<Value = Requirement> {
    (
        select(&KEYS[..]),
        arb_operator(),
        vec(select(&VALUES[..]), 1..3),
    )
        .prop_map(|(key, operator, values)| Requirement {
            key: key.to_owned(),
            operator,
            values: match operator {
                Operator::In | Operator::NotIn => values.iter().map(|v| (*v).to_owned()).collect(),
                Operator::Exists | Operator::DoesNotExist => Vec::new(),
            },
        })
}

fn arb_selector() -> impl Strategy<Value = LabelSelector> {
    (
        vec((select(&KEYS[..]), select(&VALUES[..])), 0..2),
        vec(arb_requirement(), 0..2),
    )
        .prop_map(|(labels, match_expressions)| LabelSelector {
            match_labels: mk_labels(&labels),
            match_expressions,
        })
}

fn arb_ip_block() -> impl Strategy<Value = IpBlock> {
    let blocks: Vec<(&str, &[&str])> = vec![
        ("10.0.0.0/8", &[]),
        ("10.0.0.0/8", &["10.0.2.0/24"]),
        ("10.0.1.0/24", &["10.0.1.1/32", "10.0.1.2/32"]),
        ("10.0.1.1/32", &[]),
        ("0.0.0.0/0", &["10.0.0.0/8"]),
        ("192.0.2.0/24", &[]),
        ("fd00::/16", &["fd00:0:0:3::/64"]),
        ("fd00:0:0:2::/64", &[]),
    ];
    select(blocks).prop_map(|(cidr, except)| IpBlock {
        cidr: cidr.parse().expect("a CIDR"),
        except: except.iter().map(|e| e.parse().expect("a CIDR")).collect(),
    })
}

fn arb_peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        (proptest::option::of(arb_selector()), arb_selector()).prop_map(|(namespaces, pods)| {
            Peer::Pods {
                namespaces: namespaces
                    .map_or(NamespaceScope::PolicyNamespace, NamespaceScope::Selected),
                pods,
            }
        }),
        arb_ip_block().prop_map(Peer::IpBlock),
    ]
}

fn arb_protocol() -> impl Strategy<Value = Protocol> {
    select(vec![Protocol::Tcp, Protocol::Udp, Protocol::Sctp])
}

fn arb_port() -> impl Strategy<Value = PortMatch> {
    let spec = prop_oneof![
        Just(PortSpec::All),
        (80u16..=82, proptest::option::of(81u16..=90)).prop_map(|(port, end)| {
            PortSpec::Number {
                port,
                end_port: end.filter(|e| *e >= port),
            }
        }),
        select(vec![
            "serve-80-tcp",
            "serve-81-udp",
            "serve-80-sctp",
            "http"
        ])
        .prop_map(|name| PortSpec::Named(name.to_owned())),
    ];
    (arb_protocol(), spec).prop_map(|(protocol, port)| PortMatch { protocol, port })
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    (vec(arb_peer(), 0..3), vec(arb_port(), 0..2)).prop_map(|(peers, ports)| Rule { peers, ports })
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        select(vec!["x", "y", "z"]),
        arb_selector(),
        proptest::option::of(vec(arb_rule(), 0..3)),
        proptest::option::of(vec(arb_rule(), 0..3)),
    )
        .prop_map(|(namespace, pod_selector, ingress, egress)| Policy {
            namespace: namespace.to_owned(),
            name: "generated".to_owned(),
            pod_selector,
            ingress,
            egress,
        })
}

fn arb_policies() -> impl Strategy<Value = Vec<Policy>> {
    vec(arb_policy(), 0..4).prop_map(|mut policies| {
        for (i, policy) in policies.iter_mut().enumerate() {
            policy.name = format!("p{i}");
        }
        policies
    })
}

/// The model with `tier=web` on every `b` pod, so selectors on `tier` select something.
fn mk_cluster(policies: Vec<Policy>) -> Cluster {
    let mut cluster = model_cluster(policies);
    for pod in cluster.pods.iter_mut().filter(|p| p.name == "b") {
        pod.labels.insert("tier".to_owned(), "web".to_owned());
    }
    cluster
}

fn endpoints() -> Vec<Endpoint> {
    model_pods()
        .into_iter()
        .map(|(namespace, name)| Endpoint::Pod {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
        .chain(
            OUTSIDE
                .iter()
                .map(|ip| Endpoint::Ip(ip.parse().expect("an IP"))),
        )
        .collect()
}

/// Every connection between model pods and outside addresses, on TCP/UDP 80 and 81.
fn connections() -> Vec<Connection> {
    let endpoints = endpoints();
    let mut all = Vec::new();
    for from in &endpoints {
        for to in &endpoints {
            if matches!((from, to), (Endpoint::Ip(_), Endpoint::Ip(_))) {
                continue;
            }
            for port in [80, 81] {
                for protocol in [Protocol::Tcp, Protocol::Udp] {
                    all.push(Connection {
                        from: from.clone(),
                        to: to.clone(),
                        port,
                        protocol,
                    });
                }
            }
        }
    }
    all
}

fn with(policies: &[Policy], extra: Policy) -> Vec<Policy> {
    let mut all = policies.to_vec();
    all.push(Policy {
        name: "extra".to_owned(),
        ..extra
    });
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn allowed_is_both_sides_or_loopback(policies in arb_policies()) {
        let cluster = mk_cluster(policies);
        for connection in connections() {
            let decision = cluster.decide(&connection).expect("known pods");
            prop_assert_eq!(
                decision.allowed,
                decision.loopback || (decision.egress.allows() && decision.ingress.allows())
            );
            prop_assert_eq!(decision.loopback, connection.from == connection.to);
        }
    }

    #[test]
    fn adding_a_policy_never_takes_an_allow_from_an_isolated_side(
        policies in arb_policies(),
        extra in arb_policy(),
    ) {
        let before = mk_cluster(policies.clone());
        let after = mk_cluster(with(&policies, extra));
        for connection in connections() {
            let old = before.decide(&connection).expect("known pods");
            let new = after.decide(&connection).expect("known pods");
            for (old_side, new_side) in [(&old.egress, &new.egress), (&old.ingress, &new.ingress)] {
                if let SideDecision::Allowed { matches } = old_side {
                    let SideDecision::Allowed { matches: new_matches } = new_side else {
                        return Err(TestCaseError::fail(format!("{connection:?} lost its allow")));
                    };
                    prop_assert!(new_matches.starts_with(matches));
                }
            }
        }
    }

    #[test]
    fn adding_a_deny_policy_never_widens(
        policies in arb_policies(),
        namespace in select(vec!["x", "y", "z"]),
        pod_selector in arb_selector(),
        deny_egress in any::<bool>(),
    ) {
        let deny = Policy {
            namespace: namespace.to_owned(),
            name: String::new(),
            pod_selector,
            ingress: Some(Vec::new()),
            egress: deny_egress.then(Vec::new),
        };
        let before = mk_cluster(policies.clone());
        let after = mk_cluster(with(&policies, deny));
        for connection in connections() {
            let old = before.decide(&connection).expect("known pods");
            let new = after.decide(&connection).expect("known pods");
            prop_assert!(!new.allowed || old.allowed, "{:?} was widened", connection);
        }
    }

    #[test]
    fn a_policy_leaves_pods_it_does_not_select_alone(
        policies in arb_policies(),
        extra in arb_policy(),
    ) {
        let before = mk_cluster(policies.clone());
        let after = mk_cluster(with(&policies, extra.clone()));
        for connection in connections() {
            let old = before.decide(&connection).expect("known pods");
            let new = after.decide(&connection).expect("known pods");
            let selects = |endpoint: &Endpoint| match endpoint {
                Endpoint::Pod { namespace, name } => {
                    extra.selects(before.pod(namespace, name).expect("a model pod"))
                }
                Endpoint::Ip(_) => false,
            };
            if !selects(&connection.from) {
                prop_assert_eq!(old.egress.allows(), new.egress.allows());
            }
            if !selects(&connection.to) {
                prop_assert_eq!(old.ingress.allows(), new.ingress.allows());
            }
        }
    }

    #[test]
    fn an_empty_rules_ingress_policy_isolates(
        namespace in select(vec!["x", "y", "z"]),
        pod_selector in arb_selector(),
    ) {
        let deny = Policy {
            namespace: namespace.to_owned(),
            name: "deny".to_owned(),
            pod_selector,
            ingress: Some(Vec::new()),
            egress: None,
        };
        let cluster = mk_cluster(vec![deny.clone()]);
        for connection in connections() {
            let Endpoint::Pod { namespace, name } = &connection.to else { continue };
            let decision = cluster.decide(&connection).expect("known pods");
            prop_assert_eq!(decision.egress.allows(), true);
            if deny.selects(cluster.pod(namespace, name).expect("a model pod")) {
                prop_assert_eq!(
                    decision.ingress,
                    SideDecision::Denied { isolated_by: vec![deny.reference()] }
                );
                prop_assert_eq!(decision.allowed, decision.loopback);
            } else {
                prop_assert_eq!(decision.ingress, SideDecision::NotIsolated);
            }
        }
    }

    #[test]
    fn or_ing_peers_and_ports_is_monotone(
        policies in arb_policies(),
        which in any::<prop::sample::Index>(),
        peer in arb_peer(),
        port in arb_port(),
        egress in any::<bool>(),
    ) {
        let before = mk_cluster(policies.clone());
        let mut widened = policies;
        // Adding to an empty list would narrow it (empty means all), so only non-empty lists grow.
        let rules: Vec<&mut Rule> = widened
            .iter_mut()
            .filter_map(|p| if egress { p.egress.as_mut() } else { p.ingress.as_mut() })
            .flatten()
            .collect();
        if rules.is_empty() {
            return Ok(());
        }
        let index = which.index(rules.len());
        let rule = rules.into_iter().nth(index).expect("in range");
        if !rule.peers.is_empty() {
            rule.peers.push(peer);
        }
        if !rule.ports.is_empty() {
            rule.ports.push(port);
        }
        let after = mk_cluster(widened);
        for connection in connections() {
            let old = before.decide(&connection).expect("known pods");
            let new = after.decide(&connection).expect("known pods");
            prop_assert!(!old.allowed || new.allowed, "{:?} was narrowed", connection);
        }
    }

    #[test]
    fn policy_order_does_not_change_verdicts(policies in arb_policies()) {
        let forward = mk_cluster(policies.clone());
        let mut reversed = policies;
        reversed.reverse();
        let backward = mk_cluster(reversed);
        for connection in connections() {
            prop_assert_eq!(
                forward.decide(&connection).expect("known pods").allowed,
                backward.decide(&connection).expect("known pods").allowed
            );
        }
    }

    #[test]
    fn selectors_match_iff_no_requirement_is_unmet(
        selector in arb_selector(),
        labels in vec((select(&KEYS[..]), select(&VALUES[..])), 0..4),
    ) {
        let labels = mk_labels(&labels);
        prop_assert_eq!(selector.matches(&labels), selector.unmet_requirements(&labels).is_empty());
    }

    #[test]
    fn truth_tables_round_trip(
        rows in vec("[a-z]{1,3}/[a-z0-9-]{1,12}", 1..5),
        columns in vec("[a-z]{1,3}/[a-z0-9-]{1,12}", 1..5),
        marks in vec(select(vec![Mark::Allow, Mark::Deny, Mark::Unknown]), 25),
    ) {
        let mut rows = rows;
        rows.sort();
        rows.dedup();
        let mut columns = columns;
        columns.sort();
        columns.dedup();
        let mut table = TruthTable::new(rows.clone(), columns.clone());
        for (i, row) in rows.iter().enumerate() {
            for (j, column) in columns.iter().enumerate() {
                prop_assert!(table.set(row, column, marks[i * 5 + j]));
            }
        }
        let parsed = TruthTable::parse(&table.to_string()).expect("a printed table parses");
        prop_assert!(table.diff(&parsed).is_empty());
        prop_assert_eq!(parsed, table);
    }
}
