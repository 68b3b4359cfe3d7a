//! JUnit XML: one `testsuite` per scenario, one `testcase` per probe.
//!
//! `classname` is the scenario's name and `name` the probe's title, both stable across runs, so
//! CI systems track each probe's history. Unmet expectations are `failure`s, probes that could
//! not be judged are `error`s; `system-out` holds the command that reproduces the probe and the
//! tool's output; properties carry the outcome, attempts, time to match and duration.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::results::{ProbeResult, RunResult};
use crate::verdict::ProbeStatus;

/// The testsuite and testcase a run that could not complete reports, so CI shows why.
const SETUP_SUITE: &str = "netverdict";
const SETUP_CASE: &str = "run setup";

/// Renders `run` as JUnit XML.
pub(crate) fn render(run: &RunResult) -> String {
    let mut report = Report::new("netverdict");
    report.set_time(Duration::from_millis(run.duration_ms));
    if let Some(error) = &run.error {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status
            .set_type("setup")
            .set_message(first_line(error))
            .set_description(error.as_str());
        let mut case = TestCase::new(SETUP_CASE, status);
        case.set_classname(SETUP_SUITE)
            .add_property(Property::new("run", run.run_id.as_str()));
        let mut suite = TestSuite::new(SETUP_SUITE);
        suite.add_test_case(case);
        report.add_test_suite(suite);
    }
    for scenario in &run.scenarios {
        let mut suite = TestSuite::new(scenario.name.as_str());
        suite.set_time(Duration::from_millis(scenario.duration_ms));
        suite.add_property(Property::new("file", scenario.file.as_str()));
        suite.add_property(Property::new("run", run.run_id.as_str()));
        suite.add_test_cases(
            scenario
                .probes
                .iter()
                .map(|probe| test_case(&scenario.name, probe)),
        );
        report.add_test_suite(suite);
    }
    report.to_string().unwrap_or_else(|error| {
        // Serializing to a string only fails on an I/O error of the writer, which a String has not.
        format!("<!-- JUnit rendering failed: {error} -->")
    })
}

fn test_case(scenario: &str, probe: &ProbeResult) -> TestCase {
    let status = match probe.status {
        ProbeStatus::Pass => TestCaseStatus::success(),
        other => {
            let kind = match other {
                ProbeStatus::Fail | ProbeStatus::Flapping => NonSuccessKind::Failure,
                _ => NonSuccessKind::Error,
            };
            let mut status = TestCaseStatus::non_success(kind);
            status
                .set_type(other.to_string())
                .set_message(probe.message.as_str())
                .set_description(evidence(probe));
            status
        }
    };
    let mut case = TestCase::new(probe.title(), status);
    case.set_classname(scenario)
        .set_time(Duration::from_millis(probe.duration_ms))
        .set_system_out(evidence(probe));
    let outcome = probe
        .outcome
        .as_ref()
        .map_or_else(|| "none".to_owned(), crate::verdict::outcome_name);
    case.add_property(Property::new("probe", probe.name.as_str()))
        .add_property(Property::new("outcome", outcome))
        .add_property(Property::new("status", probe.status.to_string()))
        .add_property(Property::new("attempts", probe.attempts.to_string()))
        .add_property(Property::new("expect-source", probe.expect_source.as_str()))
        .add_property(Property::new("duration-ms", probe.duration_ms.to_string()));
    if let Some(ms) = probe.time_to_match_ms {
        case.add_property(Property::new("time-to-match-ms", ms.to_string()));
    }
    if let Some(prediction) = &probe.prediction {
        case.add_property(Property::new(
            "engine-prediction",
            prediction.verdict.as_str(),
        ));
    }
    case
}

/// The command that reproduces the probe, then what the tool printed.
fn evidence(probe: &ProbeResult) -> String {
    let mut text = format!("$ {}\n", probe.command);
    if !probe.output.is_empty() {
        text.push_str(probe.output.trim_end());
        text.push('\n');
    }
    text.push_str(&format!("=> {}\n", probe.message));
    if let Some(prediction) = probe.prediction.as_ref().filter(|p| !p.agrees) {
        text.push_str(&format!(
            "note: expected {}, and the cluster's policies predict {}: check the expectation or the labels\n{}\n",
            probe.expect, prediction.verdict, prediction.explanation
        ));
    }
    text
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use netverdict_probes::Outcome;

    use super::*;
    use crate::results::ScenarioResult;

    fn probe(status: ProbeStatus, outcome: Option<Outcome>, message: &str) -> ProbeResult {
        ProbeResult::example(status, outcome, message)
    }

    fn run() -> RunResult {
        RunResult {
            run_id: "a1b2c3d4".to_owned(),
            cluster: "http://127.0.0.1:6443".to_owned(),
            duration_ms: 2500,
            error: None,
            deny_behaviour: None,
            scenarios: vec![ScenarioResult {
                name: "shop-isolation".to_owned(),
                file: "scenarios/shop.yaml".to_owned(),
                duration_ms: 2400,
                setup_ms: 1000,
                probing_ms: 1400,
                exec_calls: 4,
                probes: vec![
                    probe(
                        ProbeStatus::Pass,
                        Some(Outcome::Timeout),
                        "timeout: blocked",
                    ),
                    probe(
                        ProbeStatus::Fail,
                        Some(Outcome::Connected),
                        "connected: policy not enforced?",
                    ),
                    probe(
                        ProbeStatus::Error,
                        Some(Outcome::error("nc: not found")),
                        "probe error: nc: not found",
                    ),
                    probe(
                        ProbeStatus::Inconclusive,
                        Some(Outcome::Timeout),
                        "timeout, but nothing listens <&> there",
                    ),
                    probe(ProbeStatus::Flapping, Some(Outcome::Connected), "flapped"),
                ],
            }],
        }
    }

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

    #[test]
    fn every_status_maps_to_its_junit_element_and_validates() {
        let xml = render(&run());
        validate(&xml);
        assert_eq!(xml.matches("<testcase ").count(), 5);
        assert_eq!(
            xml.matches("<failure ").count(),
            2,
            "fail and flapping are failures:\n{xml}"
        );
        assert_eq!(
            xml.matches("<error ").count(),
            2,
            "error and inconclusive are errors:\n{xml}"
        );
        assert!(xml.contains(r#"classname="shop-isolation""#));
        assert!(
            xml.contains("shop/web -&gt; shop/db:5432/TCP (tcp) expect deny"),
            "{xml}"
        );
        assert!(xml.contains("$ kubectl exec -n shop web -- nc -vz -w 2 -n 10.244.0.5 5432"));
        assert!(
            xml.contains(r#"<property name="time-to-match-ms" value="1500"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains("the cluster&apos;s policies predict allow")
                || xml.contains("the cluster's policies predict allow")
        );
    }

    #[test]
    fn a_run_that_could_not_start_still_reports_why() {
        let failed = RunResult {
            run_id: "r1".to_owned(),
            error: Some(
                "pod shop/web cannot start: ImagePullBackOff: back-off pulling image".to_owned(),
            ),
            ..RunResult::default()
        };
        let xml = render(&failed);
        validate(&xml);
        assert!(
            xml.contains(r#"<testcase name="run setup" classname="netverdict""#),
            "{xml}"
        );
        assert!(xml.contains("ImagePullBackOff"));
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
}
