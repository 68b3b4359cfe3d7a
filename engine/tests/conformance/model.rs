//! The upstream e2e suite's 3x3 model: namespaces `x`, `y`, `z` labelled `ns=<name>`, pods `a`,
//! `b`, `c` labelled `pod=<name>`, each serving 80 and 81 over TCP, UDP and SCTP with port names
//! like `serve-80-tcp`. Pods are dual-stack: `x/a` is 10.0.1.1 and fd00:0:0:1::1, `y/b` is
//! 10.0.2.2 and fd00:0:0:2::2.

use std::net::IpAddr;

use netverdict_engine::{Cluster, Namespace, Pod, Policy, Protocol, ServedPort, TruthTable};

pub const NAMESPACES: [&str; 3] = ["x", "y", "z"];
pub const POD_NAMES: [&str; 3] = ["a", "b", "c"];

pub fn model_pods() -> Vec<(&'static str, &'static str)> {
    NAMESPACES
        .iter()
        .flat_map(|ns| POD_NAMES.iter().map(move |pod| (*ns, *pod)))
        .collect()
}

fn index(list: &[&str; 3], item: &str) -> u8 {
    let position = list.iter().position(|i| *i == item).expect("a model name");
    u8::try_from(position).expect("small") + 1
}

fn is_model_pod(namespace: &str, name: &str) -> bool {
    NAMESPACES.contains(&namespace) && POD_NAMES.contains(&name)
}

pub fn ip4(namespace: &str, pod: &str) -> IpAddr {
    IpAddr::from([10, 0, index(&NAMESPACES, namespace), index(&POD_NAMES, pod)])
}

pub fn ip6(namespace: &str, pod: &str) -> IpAddr {
    let (n, p) = (index(&NAMESPACES, namespace), index(&POD_NAMES, pod));
    IpAddr::from([0xfd00, 0, 0, u16::from(n), 0, 0, 0, u16::from(p)])
}

pub fn mk_labels(pairs: &[(&str, &str)]) -> netverdict_engine::Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn mk_served_ports() -> Vec<ServedPort> {
    let mut ports = Vec::new();
    for (protocol, suffix) in [
        (Protocol::Tcp, "tcp"),
        (Protocol::Udp, "udp"),
        (Protocol::Sctp, "sctp"),
    ] {
        for port in [80, 81] {
            ports.push(ServedPort {
                name: Some(format!("serve-{port}-{suffix}")),
                port,
                protocol,
            });
        }
    }
    ports
}

/// A pod labelled `pod=<name>` serving the model's ports; only the model's pods have IPs.
pub fn mk_pod(namespace: &str, name: &str) -> Pod {
    let ips = if is_model_pod(namespace, name) {
        vec![ip4(namespace, name), ip6(namespace, name)]
    } else {
        Vec::new()
    };
    Pod {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        labels: mk_labels(&[("pod", name)]),
        ips,
        ports: mk_served_ports(),
        host_network: false,
    }
}

pub fn model_cluster(policies: Vec<Policy>) -> Cluster {
    Cluster {
        namespaces: NAMESPACES
            .iter()
            .map(|ns| Namespace {
                name: (*ns).to_owned(),
                labels: mk_labels(&[("ns", ns)]),
            })
            .collect(),
        pods: model_pods()
            .into_iter()
            .map(|(ns, pod)| mk_pod(ns, pod))
            .collect(),
        policies,
    }
}

/// A policy from its spec written as the API's JSON; it must pass validation.
pub fn policy(namespace: &str, name: &str, spec: serde_json::Value) -> Policy {
    let object = serde_json::json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"namespace": namespace, "name": name},
        "spec": spec,
    });
    let object = serde_json::from_value(object).expect("a NetworkPolicy");
    Policy::from_k8s(&object).unwrap_or_else(|errors| panic!("{name} is invalid: {errors:?}"))
}

/// Asserts the model's full truth table on one port under `policies`.
#[track_caller]
pub fn check(policies: &[Policy], port: u16, protocol: Protocol, expected: &str) {
    let cluster = model_cluster(policies.to_vec());
    let observed = cluster
        .truth_table(&model_pods(), port, protocol)
        .expect("model pods exist");
    let expected = TruthTable::parse(expected).expect("a truth table");
    let diff = expected.diff(&observed);
    assert!(
        diff.is_empty() && expected.rows() == observed.rows(),
        "{protocol:?} {port}\nexpected:\n{expected}\nobserved:\n{observed}\ncomparison:\n{diff}"
    );
}
