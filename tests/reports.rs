//! The JUnit report of a real run, read as CI viewers read it: the scenario library and
//! tests/data/reports (probes that differ only in HTTP path or DNS query, failures with tool
//! output, a scenario whose setup fails) on a local cluster. Needs root: skipped, saying so, as
//! another user.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use quick_junit::{Report, TestCaseStatus};
use serde_json::Value;
use util::{Dir, TestCommand, repo};

/// quick-junit's reader knows no character references: they become marks, `\t` again after.
fn parsed(xml: &str) -> Report {
    let xml = xml.replace("&#9;", "\u{F8F0}").replace("&#13;", "\u{F8F1}");
    Report::deserialize_from_str(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

fn unmarked(text: &str) -> String {
    text.replace('\u{F8F0}', "\t").replace('\u{F8F1}', "\r")
}

/// The text of 1-based line `line` of `file` (relative to the repository).
fn source_line(file: &str, line: u64) -> String {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let index = usize::try_from(line - 1).unwrap();
    text.lines().nth(index).unwrap_or_default().to_owned()
}

/// Whether `line` of `file` starts a probe entry: a list item below the `probes:` key.
fn is_probe_entry(file: &str, line: u64) -> bool {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let index = usize::try_from(line - 1).unwrap();
    let Some(probes) = lines.iter().position(|l| l.trim() == "probes:") else {
        return false;
    };
    index > probes && lines[index].trim_start().starts_with("- ")
}

struct Counts {
    failures: usize,
    errors: usize,
    tabs: usize,
}

/// Checks every testcase of `report` the way GitLab, Jenkins and the GitHub reporters key and
/// show them; returns what it saw.
fn check_cases(report: &Report) -> Counts {
    let mut keys = BTreeSet::new();
    let mut counts = Counts {
        failures: 0,
        errors: 0,
        tabs: 0,
    };
    for suite in &report.test_suites {
        assert!(
            suite.time.is_some(),
            "suite {} has no time",
            suite.name.as_str()
        );
        for case in &suite.test_cases {
            let name = case.name.as_str().to_owned();
            let classname = case.classname.as_deref().unwrap_or_default().to_owned();
            assert!(
                !classname.contains('.'),
                "{classname}: Jenkins splits at dots"
            );
            assert!(
                keys.insert((classname, name.clone())),
                "duplicate testcase {name}"
            );
            let file = case.extra.get("file").expect("a file").as_str().to_owned();
            let line: u64 = case
                .extra
                .get("line")
                .expect("a line")
                .as_str()
                .parse()
                .unwrap();
            assert!(
                is_probe_entry(&file, line),
                "{name}: {file}:{line} is no probe entry"
            );
            if file.ends_with("variants.yaml") {
                check_variant_line(&name, &source_line(&file, line));
            }
            if let TestCaseStatus::NonSuccess {
                kind,
                message,
                description,
                ..
            } = &case.status
            {
                match kind {
                    quick_junit::NonSuccessKind::Failure => counts.failures += 1,
                    quick_junit::NonSuccessKind::Error => counts.errors += 1,
                }
                let message = message.as_deref().expect("a message");
                assert!(!message.contains('\n'), "not one line: {message}");
                let body = unmarked(description.as_deref().expect("a body"));
                assert_eq!(
                    body.lines().next(),
                    Some(message),
                    "the body starts with the verdict"
                );
                counts.tabs += usize::from(body.contains('\t'));
                assert!(
                    case.system_out.is_none(),
                    "system-out repeats the failure: {name}"
                );
            }
        }
    }
    counts
}

/// A testcase of tests/data/reports/variants.yaml sits at the line of its own probe: the one
/// with its path or query (each of those probes is written on one line).
fn check_variant_line(name: &str, line: &str) {
    let asks = [
        "/status/200",
        "/status/204",
        "/status/503",
        "/a ",
        "server.variants",
    ]
    .into_iter()
    .find(|a| name.contains(a.trim()));
    if let Some(asks) = asks {
        assert!(line.contains(asks.trim()), "{name} points at: {line}");
    }
}

#[test]
fn the_junit_of_a_real_run_keys_and_locates_every_probe_as_ci_viewers_read_it() {
    if !util::running_as_root() {
        return;
    }
    let dir = Dir::new("junit-real-run");
    let junit = dir.path().join("report.xml");
    let json = dir.path().join("results.json");
    // A kubelet before 1.22 cannot start report-low-port's server (port 80): a setup error.
    let out = TestCommand::in_repo()
        .args([
            "run",
            "--local",
            "-q",
            "--emulate",
            "kubelet-before-1.22",
            "--junit",
        ])
        .args([&junit])
        .args(["--json"])
        .args([&json])
        .args(["scenarios/", "tests/data/reports/"])
        .run();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap();
    validate_schema(&junit);
    let report = parsed(&xml);
    let cases: usize = report.test_suites.iter().map(|s| s.test_cases.len()).sum();
    assert!(cases >= 70, "every probe is a testcase: {cases}");
    let counts = check_cases(&report);
    assert!(
        counts.failures >= 2,
        "the variants' failures: {}",
        counts.failures
    );
    assert_eq!(
        counts.errors, 2,
        "the probes of the scenario that could not start"
    );
    assert!(
        counts.tabs >= 1,
        "nslookup's tabs survive in a failure body"
    );
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    results_agree_with_the_plan(&results);
}

/// Every probe of the run's JSON has a key of its own, which `plan` JSON gives the same probe,
/// naming its target, query, path, expected status, file and line the same way.
fn results_agree_with_the_plan(results: &Value) {
    let out = TestCommand::in_repo()
        .args([
            "plan",
            "--output",
            "json",
            "scenarios/",
            "tests/data/reports/",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    let planned: BTreeMap<&str, &Value> = plan["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].as_str().unwrap(), p))
        .collect();
    let mut keys = BTreeSet::new();
    for scenario in results["scenarios"].as_array().unwrap() {
        for probe in scenario["probes"].as_array().unwrap() {
            let key = probe["key"].as_str().expect("a key");
            assert!(keys.insert(key.to_owned()), "duplicate key {key}");
            let plan = planned
                .get(key)
                .unwrap_or_else(|| panic!("{key} is not planned"));
            for field in [
                "to",
                "from",
                "port",
                "query",
                "httpPath",
                "httpStatus",
                "file",
                "line",
            ] {
                assert_eq!(probe[field], plan[field], "{key}: {field}");
            }
        }
    }
    assert_eq!(keys.len(), planned.len(), "every planned probe ran");
}

fn validate_schema(junit: &Path) {
    let check = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(repo().join("tests/data/junit.xsd"))
        .arg(junit)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
