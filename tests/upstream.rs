//! The upstream Kubernetes e2e NetworkPolicy suite's 3x3 model (namespaces x, y, z; pods a, b,
//! c; ports 80 and 81): for each case in tests/data/upstream, `expect: auto` must reproduce the
//! upstream reachability table cell for cell.

mod util;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use netverdict::scenario::expect::{Addresses, ScenarioCluster, judge};
use netverdict::scenario::{ExpectSource, HostTable, PodRef, Scenario, Verdict, load_paths};
use util::{Dir, yaml_files};

/// `(from, to, port)` -> the table's verdict, for every probed cell.
fn tables(scenario: &Scenario) -> BTreeMap<(String, String, u16), Verdict> {
    scenario
        .probes
        .iter()
        .map(|p| {
            assert_eq!(p.expect.source, ExpectSource::Table);
            (
                (
                    p.from.to_string(),
                    netverdict::plan::target_label(&p.target),
                    p.port,
                ),
                p.expect.verdict.unwrap(),
            )
        })
        .collect()
}

fn load(path: &std::path::Path) -> Scenario {
    let loaded = load_paths(&[path.to_path_buf()], &HostTable::default());
    assert!(
        !loaded.has_errors(),
        "{}: {:?}",
        path.display(),
        loaded.diagnostics
    );
    loaded.scenarios.into_iter().next().unwrap()
}

/// Pod IPs as a run would see them: 10.244.<namespace index>.<pod index + 10>.
fn pod_ips() -> BTreeMap<PodRef, Vec<IpAddr>> {
    let mut ips = BTreeMap::new();
    for (n, ns) in ["x", "y", "z"].iter().enumerate() {
        for (p, pod) in ["a", "b", "c"].iter().enumerate() {
            let ip = Ipv4Addr::new(10, 244, n as u8 + 1, p as u8 + 10);
            ips.insert(PodRef::new(*ns, *pod), vec![IpAddr::V4(ip)]);
        }
    }
    ips
}

fn uses_ip_block(name: &str) -> bool {
    name.contains("cidr")
}

#[test]
fn plan_with_auto_reproduces_the_upstream_tables() {
    let files = yaml_files("tests/data/upstream");
    assert!(files.len() >= 20);
    let dir = Dir::new("upstream");
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let expected = tables(&load(&file));
        let text = std::fs::read_to_string(&file).unwrap();
        let cut = text.find("      expect:\n").expect("the matrix's tables");
        dir.create(&name, &format!("{}      expect: auto\n", &text[..cut]));
        let out = dir
            .command()
            .args(["plan", "--output", "json", &name])
            .run();
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let mut compared = 0;
        let mut unresolved = 0;
        for probe in json["probes"].as_array().unwrap() {
            assert_eq!(probe["expectSource"], "auto");
            let key = (
                probe["from"].as_str().unwrap().to_string(),
                probe["to"].as_str().unwrap().to_string(),
                u16::try_from(probe["port"].as_u64().unwrap()).unwrap(),
            );
            let Some(verdict) = expected.get(&key) else {
                // A pod to itself: upstream leaves it out (`?`); it is allowed.
                assert_eq!(key.0, key.1, "{name}: {key:?} is missing from the table");
                assert_eq!(probe["expect"], "allow", "{name}: {key:?}");
                continue;
            };
            match probe["expect"].as_str() {
                Some(computed) => {
                    assert_eq!(
                        computed,
                        verdict.to_string(),
                        "{name}: {key:?}: {}",
                        probe["reason"]
                    );
                    compared += 1;
                }
                None => {
                    // Offline, pod IPs are unknown: only an ipBlock may leave a cell open.
                    assert!(
                        uses_ip_block(&name),
                        "{name}: {key:?} unresolved: {}",
                        probe["reason"]
                    );
                    assert!(
                        probe["reason"].as_str().unwrap().contains("ipBlock"),
                        "{}",
                        probe["reason"]
                    );
                    unresolved += 1;
                }
            }
        }
        if uses_ip_block(&name) {
            assert!(
                unresolved > 0,
                "{name}: offline planning cannot know pod IPs"
            );
        } else {
            assert_eq!(compared, expected.len(), "{name}");
        }
    }
}

#[test]
fn with_pod_ips_every_case_is_reproduced() {
    let addresses = Addresses {
        pods: pod_ips(),
        ..Addresses::default()
    };
    for file in yaml_files("tests/data/upstream") {
        let scenario = load(&file);
        let cluster = ScenarioCluster::new(&scenario, &addresses);
        let mut mismatches = Vec::new();
        for probe in &scenario.probes {
            let (computed, reason) = judge(&cluster, probe, &addresses)
                .unwrap_or_else(|e| panic!("{}: {e}", probe.name));
            if Some(computed) != probe.expect.verdict {
                mismatches.push(format!(
                    "{}: table {:?}, engine {computed}: {reason}",
                    probe.name, probe.expect.verdict
                ));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{}:\n{}",
            file.display(),
            mismatches.join("\n")
        );
    }
}

#[test]
fn resolve_fills_auto_with_real_ips() {
    let file = util::repo().join("tests/data/upstream/egress-cidr-except.yaml");
    let mut scenario = load(&file);
    for probe in &mut scenario.probes {
        probe.expect = netverdict::scenario::Expectation::auto_unresolved();
    }
    let addresses = Addresses {
        pods: pod_ips(),
        ..Addresses::default()
    };
    netverdict::scenario::expect::resolve(&mut scenario, &addresses);
    let allowed: Vec<String> = scenario
        .probes
        .iter()
        .filter(|p| {
            p.from.to_string() == "x/a" && p.port == 80 && p.expect.verdict == Some(Verdict::Allow)
        })
        .map(|p| netverdict::plan::target_label(&p.target))
        .collect();
    assert_eq!(
        allowed,
        ["x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c"],
        "x/a reaches every pod but the excepted x/b (self cells are not probed)"
    );
}
