//! The scenario library on a local cluster emulating the real lane (`--cni none --emulate lane`:
//! no enforcement, v1.20's API and kubelet, exec v4 only, no cluster DNS, no external hosts,
//! pods in 198.18.0.0/16) gets the verdicts `ci/real-cluster.sh` checks on the real one: every
//! allow that needs nothing the lane lacks passes and the others cannot be judged, with the
//! cause; every deny fails as "policy not enforced", unless the cluster's policies allow it, or
//! cannot be judged. Needs root: skipped, saying so, as another user.

mod util;

use serde_json::Value;
use util::Dir;

/// A probe with its scenario's name and setup error.
struct Probe<'a> {
    scenario: &'a str,
    setup_error: &'a str,
    value: &'a Value,
}

impl Probe<'_> {
    fn text(&self, field: &str) -> &str {
        self.value[field].as_str().unwrap_or_default()
    }

    /// Needs what the lane lacks: cluster DNS, an external host, NetworkPolicy endPort.
    fn needs_missing(&self) -> bool {
        let to = self.text("to");
        self.text("via") == "dns"
            || to == "cluster-dns"
            || to.starts_with("host:")
            || to.starts_with("ip:203.0.113.")
            || to.starts_with("ip:198.51.100.")
            || self.setup_error.contains("endPort")
    }

    /// Reported as not judgeable, with a cause.
    fn unjudged_with_cause(&self) -> bool {
        let message = self.text("message");
        matches!(self.text("status"), "error" | "inconclusive")
            && ["DNS", "dns-", "unreachable", "listens", "endPort"]
                .iter()
                .any(|cause| message.contains(cause))
    }

    fn describe(&self) -> String {
        format!(
            "{}/{}: {} {}",
            self.scenario,
            self.text("name"),
            self.text("status"),
            self.text("message")
        )
    }
}

fn probes(results: &Value) -> Vec<Probe<'_>> {
    let mut all = Vec::new();
    for scenario in results["scenarios"].as_array().unwrap() {
        for value in scenario["probes"].as_array().unwrap() {
            all.push(Probe {
                scenario: scenario["name"].as_str().unwrap(),
                setup_error: scenario["setupError"].as_str().unwrap_or_default(),
                value,
            });
        }
    }
    all
}

/// Asserts that every probe got the verdict the lane's checks want; the counts of allows that
/// passed, denies that failed as not enforced, and probes that could not be judged.
fn judged_as_on_the_lane(all: &[Probe<'_>]) -> (usize, usize, usize) {
    let (mut passed, mut unenforced, mut unjudged) = (0, 0, 0);
    for probe in all {
        let status = probe.text("status");
        let message = probe.text("message");
        if probe.needs_missing() {
            assert!(probe.unjudged_with_cause(), "{}", probe.describe());
            unjudged += 1;
        } else if probe.text("expect") == "allow" {
            assert_eq!(status, "pass", "{}", probe.describe());
            passed += 1;
        } else if message.contains(": policy not enforced: the network does not enforce") {
            assert_eq!(status, "fail", "{}", probe.describe());
            unenforced += 1;
        } else {
            // On the lane's addresses (outside the private ranges) the policies allow this one.
            assert_eq!(
                (probe.scenario, probe.text("name")),
                (
                    "egress-cidr-except",
                    "pods are in the private ranges excepted"
                ),
                "{}",
                probe.describe()
            );
            assert_eq!(status, "fail");
            assert_eq!(probe.value["prediction"]["verdict"], "allow");
            assert!(
                message.contains("the cluster's policies allow this"),
                "{message}"
            );
        }
    }
    (passed, unenforced, unjudged)
}

#[test]
fn the_library_on_a_cluster_like_the_lane_gets_the_lanes_verdicts() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("lane-emulation");
    let json = dir.path().join("results.json");
    let out = util::TestCommand::in_repo()
        .args([
            "run",
            "scenarios/",
            "--local",
            "-q",
            "--cni",
            "none",
            "--emulate",
            "lane",
        ])
        .args(["--settle", "1s", "--json"])
        .args([&json])
        .run();
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(results["enforcement"], "not-enforced", "{}", out.stdout);
    let all = probes(&results);
    let (passed, unenforced, unjudged) = judged_as_on_the_lane(&all);
    assert!(
        passed >= 15 && unenforced >= 20 && unjudged >= 20,
        "{passed} {unenforced} {unjudged}"
    );
    // The pods have the lane's addresses, which the policy's except ranges do not hold.
    let excepted = all
        .iter()
        .find(|p| p.text("name") == "pods are in the private ranges excepted")
        .unwrap();
    assert_eq!(
        excepted.value["prediction"]["agrees"],
        false,
        "{}",
        excepted.describe()
    );
    assert!(
        excepted.text("command").contains(" 198.18."),
        "{}",
        excepted.text("command")
    );
    let port_range = all.iter().find(|p| p.scenario == "port-range").unwrap();
    assert!(
        port_range.setup_error.contains("endPort"),
        "{}",
        port_range.setup_error
    );
    let by_address = all
        .iter()
        .find(|p| p.text("to") == "ip:203.0.113.10")
        .unwrap();
    assert!(
        by_address
            .text("message")
            .contains("Network is unreachable"),
        "{}",
        by_address.describe()
    );
}
