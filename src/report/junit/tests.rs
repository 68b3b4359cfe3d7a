use std::collections::BTreeSet;
use std::process::Command;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

use super::*;
use crate::report::fixtures::{
    cleanup_failed_run, dead_target_run, invalid_input_run, mixed_run, setup_error_run,
};

/// Validates `xml` with xmllint against the schema CI viewers read.
fn validate(xml: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.xml");
    std::fs::write(&path, xml).unwrap();
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/junit.xsd");
    let output = Command::new("xmllint")
        .args(["--noout", "--schema", schema])
        .arg(&path)
        .output()
        .expect("xmllint is installed (libxml2-utils)");
    assert!(
        output.status.success(),
        "{}\n{xml}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// quick-junit's own reader knows no character references: they go back to the marks.
fn parsed(xml: &str) -> Report {
    let xml = xml.replace("&#9;", "\u{F8F0}").replace("&#13;", "\u{F8F1}");
    Report::deserialize_from_str(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

/// The checks every report must pass, whatever it holds.
fn check_layout(xml: &str) {
    validate(xml);
    let report = parsed(xml);
    let mut keys = BTreeSet::new();
    for suite in &report.test_suites {
        assert!(
            suite.time.is_some(),
            "suite {} has no time",
            suite.name.as_str()
        );
        for case in &suite.test_cases {
            let name = case.name.as_str();
            let classname = case.classname.as_deref().unwrap_or_default();
            assert!(
                !classname.contains('.'),
                "{classname}: Jenkins splits at dots"
            );
            assert!(
                keys.insert((classname.to_owned(), name.to_owned())),
                "duplicate testcase {classname} / {name}"
            );
            let file = case.extra.get("file").map(|f| f.as_str().to_owned());
            let line = case.extra.get("line").map(|l| l.as_str().to_owned());
            assert!(file.is_some_and(|f| !f.is_empty()), "{name} has no file");
            assert!(
                line.is_some_and(|l| l.parse::<u64>().is_ok_and(|n| n > 0)),
                "{name} has no line"
            );
            if let TestCaseStatus::NonSuccess {
                message,
                description,
                ..
            } = &case.status
            {
                let message = message.as_deref().expect("a message");
                assert!(!message.contains('\n'), "not one line: {message}");
                let body = description.as_deref().expect("a body");
                assert_eq!(
                    body.lines().next(),
                    Some(message),
                    "the body starts with the verdict"
                );
                assert!(case.system_out.is_none(), "system-out repeats the failure");
            }
        }
    }
}

#[test]
fn probes_have_unique_located_testcases_with_one_line_messages() {
    check_layout(&render(&mixed_run()));
    check_layout(&render(&setup_error_run()));
    check_layout(&render(&invalid_input_run()));
}

#[test]
fn statuses_map_to_junit_elements() {
    let report = parsed(&render(&mixed_run()));
    let kinds: Vec<Option<NonSuccessKind>> = report
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .map(|c| match &c.status {
            TestCaseStatus::NonSuccess { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    let count = |k| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count(None), 6);
    assert_eq!(count(Some(NonSuccessKind::Failure)), 5, "fail and flapping");
    assert_eq!(
        count(Some(NonSuccessKind::Error)),
        2,
        "error and inconclusive"
    );
}

#[test]
fn names_tell_probes_apart_and_prefer_the_scenarios_own() {
    let xml = render(&mixed_run());
    assert!(
        xml.contains(r#"name="web must not reach the database""#),
        "{xml}"
    );
    assert!(
        xml.contains("dns/client -&gt; cluster DNS:53/UDP (dns nope.example.test) expect allow")
    );
    assert!(xml.contains("dns/client -&gt; dns/web:8080/TCP (http /admin) expect allow #2"));
    assert!(
        xml.contains(r#"file="scenarios/dns.yaml" line="17""#),
        "{xml}"
    );
}

#[test]
fn tabs_and_markup_survive() {
    let xml = render(&mixed_run());
    assert!(xml.contains("Server:&#9;&#9;10.96.0.10"), "{xml}");
    assert!(xml.contains("port 8080&#9;after 0 ms"), "{xml}");
    assert!(xml.contains("nothing listens &lt;&amp;&gt; on"), "{xml}");
    let setup = render(&setup_error_run());
    assert!(setup.contains("events:&#9;Failed"), "{setup}");
}

#[test]
fn control_characters_are_written_out() {
    assert_eq!(text("a\tb\u{1b}[31mc\r"), "a\u{F8F0}b\\u{1b}[31mc\u{F8F1}");
}

#[test]
fn attempts_are_properties() {
    let xml = render(&mixed_run());
    assert!(
        xml.contains(
            r#"<property name="attempt-2" value="round 2 at 2050 ms: connected (11 ms)"/>"#
        ),
        "{xml}"
    );
}

#[test]
fn the_junit_of_a_fixed_run() {
    insta::assert_snapshot!(render(&mixed_run()));
}

#[test]
fn the_junit_of_a_run_that_could_not_start() {
    insta::assert_snapshot!(render(&setup_error_run()));
}

#[test]
fn the_junit_of_a_run_whose_cleanup_failed() {
    insta::assert_snapshot!(render(&cleanup_failed_run()));
}

#[test]
fn the_junit_of_invalid_input() {
    insta::assert_snapshot!(render(&invalid_input_run()));
}

#[test]
fn the_schema_rejects_what_viewers_do_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.xml");
    std::fs::write(
        &path,
        r#"<testsuites><testsuite name="s" tests="1"><testcase/></testsuite></testsuites>"#,
    )
    .unwrap();
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/junit.xsd");
    let status = Command::new("xmllint")
        .args(["--noout", "--schema", schema])
        .arg(&path)
        .output()
        .unwrap()
        .status;
    assert!(!status.success());
}

#[test]
fn a_pod_that_died_is_named_on_its_suite_with_its_log() {
    let xml = render(&dead_target_run());
    check_layout(&xml);
    let report = parsed(&xml);
    let suite = &report.test_suites[0];
    let died =
        "pod shop/db died during the run: phase Failed, container probe Error, exit code 137";
    assert!(
        suite
            .properties
            .iter()
            .any(|p| p.name.as_str() == "dead-pod" && p.value.as_str() == died),
        "{xml}"
    );
    let err = suite
        .system_err
        .as_ref()
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default();
    assert!(
        err.starts_with(died) && err.contains("serving tcp 5432\nkilled"),
        "{err}"
    );
}
