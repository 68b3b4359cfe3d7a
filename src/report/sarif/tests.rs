use std::path::PathBuf;

use serde_json::Value;

use super::*;
use crate::scenario::SourceLocation;

fn diagnostic(
    file: &str,
    line: u64,
    column: u64,
    path: &str,
    lint: Option<&'static str>,
) -> Diagnostic {
    Diagnostic {
        severity: if lint.is_some() {
            Severity::Warning
        } else {
            Severity::Error
        },
        location: SourceLocation {
            file: PathBuf::from(file),
            line,
            column,
        },
        path: path.to_owned(),
        message: format!("message at {line}:{column}"),
        lint,
    }
}

fn results(log: &str) -> Vec<Value> {
    let log: Value = serde_json::from_str(log).expect("SARIF is JSON");
    log["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_lint_and_an_error_point_at_their_file_line_column_and_field() {
    let log = render(
        &[
            diagnostic("scenarios/a.yaml", 12, 7, "spec.probes[3].to", None),
            diagnostic("scenarios/b.yaml", 4, 3, "", Some(lint::AND_OR_SELECTOR)),
        ],
        false,
    );
    let results = results(&log);
    assert_eq!(results.len(), 2);
    let error = &results[0];
    assert_eq!(error["ruleId"], "invalid-scenario");
    assert_eq!(error["ruleIndex"], 0);
    assert_eq!(error["level"], "error");
    assert_eq!(
        error["message"]["text"],
        "spec.probes[3].to: message at 12:7"
    );
    let place = &error["locations"][0]["physicalLocation"];
    assert_eq!(place["artifactLocation"]["uri"], "scenarios/a.yaml");
    assert_eq!(place["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(place["region"]["startLine"], 12);
    assert_eq!(place["region"]["startColumn"], 7);
    assert_eq!(
        error["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "spec.probes[3].to"
    );
    let warning = &results[1];
    assert_eq!(warning["ruleId"], lint::AND_OR_SELECTOR);
    assert_eq!(warning["level"], "warning");
    let log: Value = serde_json::from_str(&log).unwrap();
    let index = warning["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(
        log["runs"][0]["tool"]["driver"]["rules"][index]["id"],
        lint::AND_OR_SELECTOR
    );
}

#[test]
fn lints_are_errors_under_deny_warnings() {
    let lint = [diagnostic("a.yaml", 1, 1, "", Some(lint::NO_DNS_EGRESS))];
    assert_eq!(results(&render(&lint, false))[0]["level"], "warning");
    assert_eq!(results(&render(&lint, true))[0]["level"], "error");
}

#[test]
fn every_lint_is_a_rule_with_a_summary() {
    let log: Value = serde_json::from_str(&render(&[], false)).unwrap();
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rules.len(), lint::ALL.len() + 1);
    for id in lint::ALL {
        let rule = rules
            .iter()
            .find(|r| r["id"] == id)
            .expect("a rule per lint");
        let text = rule["shortDescription"]["text"].as_str().unwrap();
        assert!(!text.is_empty(), "lint {id} has no summary");
    }
}

#[test]
fn an_unknown_line_has_no_region_and_repeats_are_one_result() {
    let whole_file = diagnostic("a.yaml", 0, 0, "", None);
    let results = results(&render(&[whole_file.clone(), whole_file], false));
    assert_eq!(results.len(), 1);
    assert!(results[0]["locations"][0]["physicalLocation"]["region"].is_null());
}

#[test]
fn odd_file_names_are_encoded_and_outside_files_are_absolute() {
    let inside = diagnostic("my scenarios/ä#1.yaml", 1, 1, "", None);
    let outside = diagnostic("/elsewhere/x y.yaml", 1, 1, "", None);
    let results = results(&render(&[inside, outside], false));
    let uri = |r: &Value| r["locations"][0]["physicalLocation"]["artifactLocation"].clone();
    assert_eq!(uri(&results[0])["uri"], "my%20scenarios/%C3%A4%231.yaml");
    assert_eq!(uri(&results[1])["uri"], "file:///elsewhere/x%20y.yaml");
    assert!(uri(&results[1])["uriBaseId"].is_null());
}
