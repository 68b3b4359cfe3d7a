//! Cases of the upstream e2e suite (`test/e2e/network/netpol/network_policy.go`), each with its
//! full truth table on the 3x3 model. Self traffic is `.` (see the crate docs).

use netverdict_engine::Protocol::{Sctp, Tcp, Udp};
use serde_json::json;

use crate::model::{check, ip4, ip6, policy};

#[test]
fn default_deny_ingress() {
    let deny = policy("x", "deny-ingress", json!({"podSelector": {}}));
    check(
        &[deny],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   .   .   .   .   .   .
        x/b X   .   X   .   .   .   .   .   .
        x/c X   X   .   .   .   .   .   .   .
        y/a X   X   X   .   .   .   .   .   .
        y/b X   X   X   .   .   .   .   .   .
        y/c X   X   X   .   .   .   .   .   .
        z/a X   X   X   .   .   .   .   .   .
        z/b X   X   X   .   .   .   .   .   .
        z/c X   X   X   .   .   .   .   .   .
        ",
    );
}

#[test]
fn default_deny_all() {
    let deny = policy(
        "x",
        "deny-all",
        json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
    );
    check(
        &[deny],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   X   X   X   X   X   X
        x/b X   .   X   X   X   X   X   X   X
        x/c X   X   .   X   X   X   X   X   X
        y/a X   X   X   .   .   .   .   .   .
        y/b X   X   X   .   .   .   .   .   .
        y/c X   X   X   .   .   .   .   .   .
        z/a X   X   X   .   .   .   .   .   .
        z/b X   X   X   .   .   .   .   .   .
        z/c X   X   X   .   .   .   .   .   .
        ",
    );
}

#[test]
fn allow_from_pod_in_server_namespace() {
    let allow = policy(
        "x",
        "x-a-allows-x-b",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b X   .   .   .   .   .   .   .   .
        y/c X   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn allow_ingress_for_a_target() {
    let deny = policy("x", "deny-all", json!({"podSelector": {}}));
    let allow = policy(
        "x",
        "allow-all-to-a",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [{"podSelector": {}, "namespaceSelector": {}}]}],
        }),
    );
    check(
        &[deny, allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   .   .   .   .   .   .
        x/b .   .   X   .   .   .   .   .   .
        x/c .   X   .   .   .   .   .   .   .
        y/a .   X   X   .   .   .   .   .   .
        y/b .   X   X   .   .   .   .   .   .
        y/c .   X   X   .   .   .   .   .   .
        z/a .   X   X   .   .   .   .   .   .
        z/b .   X   X   .   .   .   .   .   .
        z/c .   X   X   .   .   .   .   .   .
        ",
    );
}

#[test]
fn allow_from_pods_in_all_namespaces() {
    let allow = policy(
        "x",
        "allow-from-another-ns",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {}}}]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn allow_only_from_a_namespace_by_namespace_selector() {
    let allow = policy(
        "x",
        "allow-client-a-via-ns-selector",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn pod_selector_with_match_expressions() {
    let allow = policy(
        "x",
        "x-a-allows-x-b",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [{"podSelector": {
                "matchExpressions": [{"key": "pod", "operator": "In", "values": ["b"]}],
            }}]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b X   .   .   .   .   .   .   .   .
        y/c X   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn namespace_selector_with_match_expressions_on_the_default_label() {
    let allow = policy(
        "x",
        "allow-ns-y-match-selector",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [{
                "key": "kubernetes.io/metadata.name", "operator": "In", "values": ["y"],
            }]}}]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn pod_selector_or_namespace_selector() {
    let allow = policy(
        "x",
        "allow-ns-y-match-selector",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [
                {"namespaceSelector": {"matchExpressions": [
                    {"key": "ns", "operator": "NotIn", "values": ["x"]},
                ]}},
                {"podSelector": {"matchLabels": {"pod": "b"}}},
            ]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn pod_selector_and_namespace_selector() {
    let allow = policy(
        "x",
        "allow-ns-y-podselector-and-nsselector",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [{
                "namespaceSelector": {"matchExpressions": [
                    {"key": "ns", "operator": "NotIn", "values": ["x"]},
                ]},
                "podSelector": {"matchLabels": {"pod": "b"}},
            }]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c X   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn multiple_pod_selectors_and_namespace_selectors() {
    let allow = policy(
        "x",
        "allow-ns-y-z-pod-b-c",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [{
                "namespaceSelector": {"matchExpressions": [
                    {"key": "ns", "operator": "NotIn", "values": ["x"]},
                ]},
                "podSelector": {"matchExpressions": [
                    {"key": "pod", "operator": "In", "values": ["b", "c"]},
                ]},
            }]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn ports() {
    let allow = || {
        policy(
            "x",
            "allow-ingress-on-port-81-ns-y",
            json!({
                "podSelector": {"matchLabels": {"pod": "a"}},
                "ingress": [{
                    "from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                    "ports": [{"port": 81}],
                }],
            }),
        )
    };
    check(
        &[allow()],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b X   .   .   .   .   .   .   .   .
        y/c X   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
    check(
        &[allow()],
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn multiple_stacked_policies_with_overlapping_pod_selectors() {
    let from_y_on_81 = policy(
        "x",
        "allow-y-on-81",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{
                "from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                "ports": [{"port": 81, "protocol": "TCP"}],
            }],
        }),
    );
    let from_z_on_80 = policy(
        "x",
        "allow-z-on-80",
        json!({
            "podSelector": {"matchExpressions": [{"key": "pod", "operator": "Exists"}]},
            "ingress": [{
                "from": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}],
                "ports": [{"port": 80}],
            }],
        }),
    );
    let policies = [from_y_on_81, from_z_on_80];
    check(
        &policies,
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   .   .   .   .   .   .
        x/b X   .   X   .   .   .   .   .   .
        x/c X   X   .   .   .   .   .   .   .
        y/a X   X   X   .   .   .   .   .   .
        y/b X   X   X   .   .   .   .   .   .
        y/c X   X   X   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
    check(
        &policies,
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   .   .   .   .   .   .
        x/b X   .   X   .   .   .   .   .   .
        x/c X   X   .   .   .   .   .   .   .
        y/a .   X   X   .   .   .   .   .   .
        y/b .   X   X   .   .   .   .   .   .
        y/c .   X   X   .   .   .   .   .   .
        z/a X   X   X   .   .   .   .   .   .
        z/b X   X   X   .   .   .   .   .   .
        z/c X   X   X   .   .   .   .   .   .
        ",
    );
}

#[test]
fn allow_all() {
    let allow = policy(
        "x",
        "allow-all",
        json!({"podSelector": {}, "ingress": [{}]}),
    );
    check(
        &[allow],
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn ingress_on_one_named_port() {
    let allow = || {
        policy(
            "x",
            "allow-all-ingress-on-serve-81",
            json!({
                "podSelector": {"matchLabels": {"pod": "a"}},
                "ingress": [{"ports": [{"port": "serve-81-tcp"}]}],
            }),
        )
    };
    check(
        &[allow()],
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
    check(
        &[allow()],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b X   .   .   .   .   .   .   .   .
        y/c X   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn ingress_from_namespace_on_one_named_port() {
    let allow = || {
        policy(
            "x",
            "allow-80-from-y",
            json!({
                "podSelector": {},
                "ingress": [{
                    "from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                    "ports": [{"port": "serve-80-tcp", "protocol": "TCP"}],
                }],
            }),
        )
    };
    check(
        &[allow()],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   .   .   .   .   .   .
        x/b X   .   X   .   .   .   .   .   .
        x/c X   X   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a X   X   X   .   .   .   .   .   .
        z/b X   X   X   .   .   .   .   .   .
        z/c X   X   X   .   .   .   .   .   .
        ",
    );
    check(
        &[allow()],
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   .   .   .   .   .   .
        x/b X   .   X   .   .   .   .   .   .
        x/c X   X   .   .   .   .   .   .   .
        y/a X   X   X   .   .   .   .   .   .
        y/b X   X   X   .   .   .   .   .   .
        y/c X   X   X   .   .   .   .   .   .
        z/a X   X   X   .   .   .   .   .   .
        z/b X   X   X   .   .   .   .   .   .
        z/c X   X   X   .   .   .   .   .   .
        ",
    );
}

#[test]
fn egress_on_one_named_port() {
    let allow = || {
        policy(
            "x",
            "allow-egress-on-serve-80",
            json!({
                "policyTypes": ["Egress"],
                "podSelector": {"matchLabels": {"pod": "a"}},
                "egress": [{"ports": [{"port": "serve-80-tcp"}]}],
            }),
        )
    };
    check(
        &[allow()],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
    check(
        &[allow()],
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   X   X   X   X   X   X
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn deny_egress_by_pod_selector() {
    let deny = policy(
        "x",
        "deny-egress-for-a",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"]}),
    );
    check(
        &[deny],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   X   X   X   X   X   X
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn deny_egress_from_all_pods_in_a_namespace() {
    let deny = policy(
        "x",
        "deny-egress",
        json!({"podSelector": {}, "policyTypes": ["Egress"]}),
    );
    check(
        &[deny],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   X   X   X   X   X   X
        x/b X   .   X   X   X   X   X   X   X
        x/c X   X   .   X   X   X   X   X   X
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn ingress_and_egress_specified_together() {
    let both = policy(
        "x",
        "ingress-from-b-egress-to-y",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}],
        }),
    );
    check(
        &[both],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   .   .   .   X   X   X
        x/b .   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b X   .   .   .   .   .   .   .   .
        y/c X   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn egress_denied_on_the_client_side_even_if_the_server_allows_it() {
    let client = policy(
        "x",
        "allow-egress-to-z-a",
        json!({
            "policyTypes": ["Egress"],
            "podSelector": {"matchLabels": {"pod": "a"}},
            "egress": [{"to": [{
                "namespaceSelector": {"matchLabels": {"ns": "z"}},
                "podSelector": {"matchLabels": {"pod": "a"}},
            }]}],
        }),
    );
    let server = policy(
        "y",
        "allow-from-x-a",
        json!({
            "podSelector": {},
            "ingress": [{"from": [{
                "namespaceSelector": {"matchLabels": {"ns": "x"}},
                "podSelector": {"matchLabels": {"pod": "a"}},
            }]}],
        }),
    );
    check(
        &[client, server],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   X   X   X   .   X   X
        x/b .   .   .   X   X   X   .   .   .
        x/c .   .   .   X   X   X   .   .   .
        y/a .   .   .   .   X   X   .   .   .
        y/b .   .   .   X   .   X   .   .   .
        y/c .   .   .   X   X   .   .   .   .
        z/a .   .   .   X   X   X   .   .   .
        z/b .   .   .   X   X   X   .   .   .
        z/c .   .   .   X   X   X   .   .   .
        ",
    );
}

#[test]
fn egress_to_a_server_in_another_namespace_by_pod_and_namespace_selector() {
    let allow = policy(
        "x",
        "allow-to-y-b",
        json!({
            "policyTypes": ["Egress"],
            "podSelector": {"matchLabels": {"pod": "a"}},
            "egress": [{"to": [{
                "namespaceSelector": {"matchLabels": {"ns": "y"}},
                "podSelector": {"matchLabels": {"pod": "b"}},
            }]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   X   .   X   X   X   X
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn multiple_ingress_policies_with_an_allow_all_taking_precedence() {
    let only_80 = policy(
        "x",
        "allow-80-from-b",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"ports": [{"port": 80}]}],
        }),
    );
    check(
        std::slice::from_ref(&only_80),
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b X   .   .   .   .   .   .   .   .
        y/c X   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
    let allow_all = policy(
        "x",
        "allow-all",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [{}]}),
    );
    check(
        &[only_80, allow_all],
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn multiple_egress_policies_with_an_allow_all_taking_precedence() {
    let only_80 = policy(
        "x",
        "allow-egress-80",
        json!({
            "policyTypes": ["Egress"],
            "podSelector": {"matchLabels": {"pod": "a"}},
            "egress": [{"ports": [{"port": 80}]}],
        }),
    );
    check(
        std::slice::from_ref(&only_80),
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   X   X   X   X   X   X
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
    let allow_all = policy(
        "x",
        "allow-all-egress",
        json!({
            "policyTypes": ["Egress"],
            "podSelector": {"matchLabels": {"pod": "a"}},
            "egress": [{}],
        }),
    );
    check(
        &[only_80, allow_all],
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn no_policies_after_deletion() {
    check(
        &[],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn egress_to_a_server_in_a_cidr_block() {
    let allow = policy(
        "x",
        "allow-to-y-b-cidr",
        json!({
            "policyTypes": ["Egress"],
            "podSelector": {"matchLabels": {"pod": "a"}},
            "egress": [{"to": [{"ipBlock": {"cidr": format!("{}/32", ip4("y", "b"))}}]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   X   .   X   X   X   X
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn except_clause_in_an_egress_cidr_block() {
    let allow = policy(
        "x",
        "allow-all-but-y-b",
        json!({
            "policyTypes": ["Egress"],
            "podSelector": {"matchLabels": {"pod": "a"}},
            "egress": [{"to": [{"ipBlock": {
                "cidr": "10.0.0.0/8",
                "except": [format!("{}/32", ip4("y", "b"))],
            }}]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   X   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn an_ip_in_both_a_cidr_and_an_except_is_allowed_by_another_policy() {
    let all_but = policy(
        "x",
        "allow-all-but-y-b",
        json!({
            "policyTypes": ["Egress"],
            "podSelector": {"matchLabels": {"pod": "a"}},
            "egress": [{"to": [{"ipBlock": {
                "cidr": "10.0.0.0/8",
                "except": [format!("{}/32", ip4("y", "b"))],
            }}]}],
        }),
    );
    let only = policy(
        "x",
        "allow-y-b",
        json!({
            "policyTypes": ["Egress"],
            "podSelector": {"matchLabels": {"pod": "a"}},
            "egress": [{"to": [{"ipBlock": {"cidr": format!("{}/32", ip4("y", "b"))}}]}],
        }),
    );
    check(
        std::slice::from_ref(&all_but),
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   X   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
    check(
        &[all_but, only],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn ipv6_cidr_block_with_except() {
    let allow = policy(
        "x",
        "allow-v6-but-y-b",
        json!({
            "policyTypes": ["Egress"],
            "podSelector": {"matchLabels": {"pod": "a"}},
            "egress": [{"to": [{"ipBlock": {
                "cidr": "fd00::/16",
                "except": [format!("{}/128", ip6("y", "b"))],
            }}]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   X   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn ingress_from_a_cidr_block() {
    let allow = policy(
        "x",
        "allow-from-y-cidr",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.2.0/24"}}]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn ingress_and_egress_controlled_independently() {
    let deny_egress_a = policy(
        "x",
        "deny-egress-a",
        json!({"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"]}),
    );
    let deny_ingress_b = policy(
        "x",
        "deny-ingress-b",
        json!({"podSelector": {"matchLabels": {"pod": "b"}}, "policyTypes": ["Ingress"]}),
    );
    check(
        &[deny_egress_a, deny_ingress_b],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   X   X   X   X   X   X
        x/b .   .   .   .   .   .   .   .   .
        x/c .   X   .   .   .   .   .   .   .
        y/a .   X   .   .   .   .   .   .   .
        y/b .   X   .   .   .   .   .   .   .
        y/c .   X   .   .   .   .   .   .   .
        z/a .   X   .   .   .   .   .   .   .
        z/b .   X   .   .   .   .   .   .   .
        z/c .   X   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn udp_only_policy_does_not_allow_tcp() {
    let allow = || {
        policy(
            "x",
            "allow-udp-81-from-y",
            json!({
                "podSelector": {"matchLabels": {"pod": "a"}},
                "ingress": [{
                    "from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                    "ports": [{"port": 81, "protocol": "UDP"}],
                }],
            }),
        )
    };
    check(
        &[allow()],
        81,
        Udp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
    check(
        &[allow()],
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b X   .   .   .   .   .   .   .   .
        y/c X   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn sctp_is_not_mistaken_for_tcp() {
    let allow = || {
        policy(
            "x",
            "allow-only-sctp-80",
            json!({
                "podSelector": {"matchLabels": {"pod": "a"}},
                "ingress": [{"ports": [{"port": 80, "protocol": "SCTP"}]}],
            }),
        )
    };
    check(
        &[allow()],
        80,
        Sctp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
    check(
        &[allow()],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b X   .   .   .   .   .   .   .   .
        y/c X   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn any_port_on_a_specific_protocol() {
    let allow = || {
        policy(
            "x",
            "allow-any-tcp",
            json!({
                "podSelector": {"matchLabels": {"pod": "a"}},
                "ingress": [{"ports": [{"protocol": "TCP"}]}],
            }),
        )
    };
    check(
        &[allow()],
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
    check(
        &[allow()],
        80,
        Udp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b X   .   .   .   .   .   .   .   .
        y/c X   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn end_port_range() {
    let allow = || {
        policy(
            "x",
            "allow-81-to-90",
            json!({
                "podSelector": {},
                "ingress": [{"ports": [{"port": 81, "endPort": 90}]}],
            }),
        )
    };
    check(
        &[allow()],
        81,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
    check(
        &[allow()],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   .   .   .   .   .   .
        x/b X   .   X   .   .   .   .   .   .
        x/c X   X   .   .   .   .   .   .   .
        y/a X   X   X   .   .   .   .   .   .
        y/b X   X   X   .   .   .   .   .   .
        y/c X   X   X   .   .   .   .   .   .
        z/a X   X   X   .   .   .   .   .   .
        z/b X   X   X   .   .   .   .   .   .
        z/c X   X   X   .   .   .   .   .   .
        ",
    );
}

#[test]
fn named_port_needs_the_matching_protocol() {
    let udp = policy(
        "x",
        "allow-serve-81-udp",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"ports": [{"port": "serve-81-udp", "protocol": "UDP"}]}],
        }),
    );
    check(
        std::slice::from_ref(&udp),
        81,
        Udp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a .   .   .   .   .   .   .   .   .
        y/b .   .   .   .   .   .   .   .   .
        y/c .   .   .   .   .   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
    // The protocol defaults to TCP, and no TCP port is named serve-81-udp.
    let tcp = policy(
        "x",
        "allow-serve-81-udp-as-tcp",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"ports": [{"port": "serve-81-udp"}]}],
        }),
    );
    check(
        &[tcp],
        81,
        Udp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b X   .   .   .   .   .   .   .   .
        y/c X   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn deny_ingress_from_pods_in_other_namespaces() {
    let same_namespace = policy(
        "x",
        "deny-other-namespaces",
        json!({"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}),
    );
    check(
        &[same_namespace],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   .   .   .   .   .   .   .   .
        x/b .   .   .   .   .   .   .   .   .
        x/c .   .   .   .   .   .   .   .   .
        y/a X   X   X   .   .   .   .   .   .
        y/b X   X   X   .   .   .   .   .   .
        y/c X   X   X   .   .   .   .   .   .
        z/a X   X   X   .   .   .   .   .   .
        z/b X   X   X   .   .   .   .   .   .
        z/c X   X   X   .   .   .   .   .   .
        ",
    );
}

#[test]
fn both_sides_must_allow() {
    let client = policy(
        "x",
        "allow-egress-to-y",
        json!({
            "policyTypes": ["Egress"],
            "podSelector": {"matchLabels": {"pod": "a"}},
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}],
        }),
    );
    let server = policy(
        "y",
        "allow-ingress-from-z",
        json!({
            "podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "z"}}}]}],
        }),
    );
    check(
        &[client, server],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   X   X   X   X   X   X
        x/b .   .   .   X   X   X   .   .   .
        x/c .   .   .   X   X   X   .   .   .
        y/a .   .   .   .   X   X   .   .   .
        y/b .   .   .   X   .   X   .   .   .
        y/c .   .   .   X   X   .   .   .   .
        z/a .   .   .   .   .   .   .   .   .
        z/b .   .   .   .   .   .   .   .   .
        z/c .   .   .   .   .   .   .   .   .
        ",
    );
}

#[test]
fn egress_rules_without_policy_types_also_isolate_ingress() {
    // policyTypes defaults to Ingress, plus Egress: the pod accepts nothing.
    let allow = policy(
        "x",
        "allow-to-y-b-cidr",
        json!({
            "podSelector": {"matchLabels": {"pod": "a"}},
            "egress": [{"to": [{"ipBlock": {"cidr": format!("{}/32", ip4("y", "b"))}}]}],
        }),
    );
    check(
        &[allow],
        80,
        Tcp,
        "
        -   x/a x/b x/c y/a y/b y/c z/a z/b z/c
        x/a .   X   X   X   .   X   X   X   X
        x/b X   .   .   .   .   .   .   .   .
        x/c X   .   .   .   .   .   .   .   .
        y/a X   .   .   .   .   .   .   .   .
        y/b X   .   .   .   .   .   .   .   .
        y/c X   .   .   .   .   .   .   .   .
        z/a X   .   .   .   .   .   .   .   .
        z/b X   .   .   .   .   .   .   .   .
        z/c X   .   .   .   .   .   .   .   .
        ",
    );
}
