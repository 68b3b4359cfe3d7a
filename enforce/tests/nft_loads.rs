//! The rendered rulesets load into a real kernel (in a scratch network namespace).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};

use netverdict_enforce::{CniMode, TABLE_NAME, compile, render_nft};
use netverdict_engine::{
    Cluster, IpBlock, LabelSelector, Namespace, NamespaceScope, Peer, Pod, Policy, PortMatch,
    PortSpec, Protocol, Rule, ServedPort,
};

/// A network namespace that is deleted on drop, also when the test fails.
struct ScratchNetns(String);

impl ScratchNetns {
    fn new(tag: &str) -> ScratchNetns {
        let name = format!("nve-{tag}-{}", std::process::id());
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip runs");
        assert!(
            status.success(),
            "ip netns add {name} failed (tests run as root)"
        );
        ScratchNetns(name)
    }

    /// Runs `nft -f -` inside the namespace with `script` on stdin.
    fn nft(&self, script: &str) -> std::process::Output {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nft runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn list(&self) -> String {
        let output = Command::new("ip")
            .args([
                "netns", "exec", &self.0, "nft", "list", "table", "inet", TABLE_NAME,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for ScratchNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn cluster() -> Cluster {
    let pod = |name: &str, ip: IpAddr| Pod {
        namespace: "x".to_owned(),
        name: name.to_owned(),
        labels: labels(&[("app", name)]),
        ips: vec![
            ip,
            IpAddr::V6(Ipv6Addr::new(
                0xfd00,
                0,
                0,
                0,
                0,
                0,
                0,
                u16::from(name.as_bytes()[0]),
            )),
        ],
        ports: vec![ServedPort {
            name: Some("http".to_owned()),
            port: 80,
            protocol: Protocol::Tcp,
        }],
        host_network: false,
    };
    Cluster {
        namespaces: vec![Namespace {
            name: "x".to_owned(),
            labels: labels(&[("ns", "x")]),
        }],
        pods: vec![
            pod("a", IpAddr::V4(Ipv4Addr::new(10, 244, 0, 2))),
            pod("b", IpAddr::V4(Ipv4Addr::new(10, 244, 1, 2))),
        ],
        policies: vec![Policy {
            namespace: "x".to_owned(),
            name: "mixed".to_owned(),
            pod_selector: LabelSelector::default(),
            ingress: Some(vec![
                Rule {
                    peers: vec![Peer::Pods {
                        namespaces: NamespaceScope::PolicyNamespace,
                        pods: LabelSelector {
                            match_labels: labels(&[("app", "a")]),
                            match_expressions: vec![],
                        },
                    }],
                    ports: vec![
                        PortMatch {
                            protocol: Protocol::Tcp,
                            port: PortSpec::Named("http".to_owned()),
                        },
                        PortMatch {
                            protocol: Protocol::Udp,
                            port: PortSpec::Number {
                                port: 5000,
                                end_port: Some(5100),
                            },
                        },
                        PortMatch {
                            protocol: Protocol::Sctp,
                            port: PortSpec::All,
                        },
                    ],
                },
                Rule {
                    peers: vec![],
                    ports: vec![],
                },
            ]),
            egress: Some(vec![Rule {
                peers: vec![Peer::IpBlock(IpBlock {
                    cidr: "0.0.0.0/0".parse().unwrap(),
                    except: vec!["10.0.0.0/8".parse().unwrap()],
                })],
                ports: vec![PortMatch {
                    protocol: Protocol::Tcp,
                    port: PortSpec::Number {
                        port: 443,
                        end_port: None,
                    },
                }],
            }]),
        }],
    }
}

#[test]
fn rendered_rulesets_load_and_replace_atomically() {
    if !running_as_root() {
        return;
    }
    let netns = ScratchNetns::new("load");
    for mode in [
        CniMode::Enforcing,
        CniMode::Reject,
        CniMode::IptablesReject,
        CniMode::IngressOnly,
        CniMode::None,
    ] {
        let table = render_nft(&compile(&cluster(), mode));
        let script = format!("table inet {TABLE_NAME}\ndelete table inet {TABLE_NAME}\n{table}");
        let output = netns.nft(&script);
        assert!(
            output.status.success(),
            "{mode:?} did not load: {}\n{table}",
            String::from_utf8_lossy(&output.stderr)
        );
        let listed = netns.list();
        assert!(listed.contains("hook forward"), "{listed}");
        // Pods a and b have the same allow lists: they share one chain per direction.
        let chains = listed.matches("chain ").count();
        let expected = match mode {
            CniMode::Enforcing | CniMode::Reject | CniMode::IptablesReject => 3,
            CniMode::IngressOnly => 2,
            CniMode::None => 1,
        };
        assert_eq!(chains, expected, "{mode:?}: {listed}");
        assert_eq!(
            listed.contains("reject with tcp reset"),
            mode == CniMode::Reject,
            "{listed}"
        );
        assert_eq!(
            listed.contains("drop"),
            matches!(mode, CniMode::Enforcing | CniMode::IngressOnly),
            "{mode:?}: {listed}"
        );
        assert_eq!(
            listed.contains("reject"),
            matches!(mode, CniMode::Reject | CniMode::IptablesReject),
            "{mode:?}: {listed}"
        );
    }
}

#[test]
fn a_broken_ruleset_leaves_the_previous_one_in_force() {
    if !running_as_root() {
        return;
    }
    let netns = ScratchNetns::new("atomic");
    let table = render_nft(&compile(&cluster(), CniMode::Enforcing));
    assert!(
        netns
            .nft(&format!(
                "table inet {TABLE_NAME}\ndelete table inet {TABLE_NAME}\n{table}"
            ))
            .status
            .success()
    );
    let before = netns.list();
    let broken = format!(
        "table inet {TABLE_NAME}\ndelete table inet {TABLE_NAME}\ntable inet {TABLE_NAME} {{ chain x {{ nonsense }} }}"
    );
    assert!(!netns.nft(&broken).status.success());
    assert_eq!(netns.list(), before);
}

/// Whether this test can run: it needs root (network namespaces, nftables). Says why it is
/// skipped when not.
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}
