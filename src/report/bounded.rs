//! A run's reports within a size bound, for the ConfigMap `--results-configmap` writes (whose
//! data may hold at most 1 MiB): `summary.json` always (the totals, the verdict and each
//! scenario's counts), then the whole `results.json` (the `--json` report) and `junit.xml` when
//! everything fits. When it does not, `results.json` is left out and `junit.xml` keeps as many
//! testcases as fit, those that did not pass first, with an XML comment saying so; the note says
//! what was left out.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::results::{RunResult, Tally};
use crate::verdict::ProbeStatus;

/// What a ConfigMap's `data` may hold, at most: keys and values together (the API server's limit).
pub(crate) const CONFIG_MAP_LIMIT: usize = 1024 * 1024;

pub(crate) const SUMMARY_KEY: &str = "summary.json";
pub(crate) const JSON_KEY: &str = "results.json";
pub(crate) const JUNIT_KEY: &str = "junit.xml";

/// The reports to store, and what was left out to fit.
#[derive(Debug)]
pub(crate) struct Bounded {
    pub(crate) data: BTreeMap<String, String>,
    /// `None` when everything fits; else what was left out, in words.
    pub(crate) truncated: Option<String>,
}

/// The totals and the verdict of a run (`summary.json`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    run_id: &'a str,
    cluster: &'a str,
    /// `passed`, `failed` or `not-judged`, as the exit code says.
    verdict: &'static str,
    exit_code: u8,
    passed: usize,
    failed: usize,
    could_not_be_judged: usize,
    not_run: usize,
    error: Option<String>,
    scenarios: Vec<ScenarioSummary<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScenarioSummary<'a> {
    name: &'a str,
    file: &'a str,
    passed: usize,
    failed: usize,
    could_not_be_judged: usize,
    not_run: usize,
    setup_error: Option<&'a str>,
}

/// The verdict word of an exit code.
pub(crate) fn verdict_word(exit_code: u8) -> &'static str {
    match exit_code {
        crate::cli::exit::OK => "passed",
        crate::cli::exit::EXPECTATION_FAILED => "failed",
        _ => "not-judged",
    }
}

fn summary(run: &RunResult, exit_code: u8) -> String {
    let tally = run.tally();
    let scenarios = run
        .scenarios
        .iter()
        .map(|s| {
            let t = Tally::of(&s.probes);
            ScenarioSummary {
                name: &s.name,
                file: &s.file,
                passed: t.passed,
                failed: t.failed,
                could_not_be_judged: t.errors,
                not_run: t.skipped,
                setup_error: s.setup_error.as_deref(),
            }
        })
        .collect();
    let summary = Summary {
        run_id: &run.run_id,
        cluster: &run.cluster,
        verdict: verdict_word(exit_code),
        exit_code,
        passed: tally.passed,
        failed: tally.failed,
        could_not_be_judged: tally.errors,
        not_run: tally.skipped,
        error: run.error.message(),
        scenarios,
    };
    serde_json::to_string_pretty(&summary).unwrap_or_default()
}

fn size(data: &BTreeMap<String, String>) -> usize {
    data.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// The reports of `run` within `limit` bytes (see the module documentation).
pub(crate) fn reports(run: &RunResult, exit_code: u8, limit: usize) -> Bounded {
    let mut data = BTreeMap::from([(SUMMARY_KEY.to_owned(), summary(run, exit_code))]);
    let junit = super::junit::render(run);
    let mut full = data.clone();
    full.insert(JSON_KEY.to_owned(), super::json::render(run));
    full.insert(JUNIT_KEY.to_owned(), junit.clone());
    if size(&full) <= limit {
        return Bounded {
            data: full,
            truncated: None,
        };
    }
    let mut without_json = data.clone();
    without_json.insert(JUNIT_KEY.to_owned(), junit);
    if size(&without_json) <= limit {
        return Bounded {
            data: without_json,
            truncated: Some(format!(
                "{JSON_KEY} left out: the reports exceed the {limit} bytes a ConfigMap holds"
            )),
        };
    }
    let total: usize = run.scenarios.iter().map(|s| s.probes.len()).sum();
    let fits = |kept: usize| {
        let xml = truncated_junit(run, kept, total);
        (SUMMARY_KEY.len() + data[SUMMARY_KEY].len() + JUNIT_KEY.len() + xml.len() <= limit)
            .then_some(xml)
    };
    // The most testcases that fit: fits(0) is the floor, tried last.
    let (mut low, mut high) = (0, total);
    while low < high {
        let middle = (low + high).div_ceil(2);
        if fits(middle).is_some() {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    let note = format!(
        "{JSON_KEY} left out and {JUNIT_KEY} truncated to {low} of {total} testcases (those that did not pass first): the reports exceed the {limit} bytes a ConfigMap holds; {SUMMARY_KEY} has the run's counts"
    );
    let xml = fits(low).unwrap_or_default();
    data.insert(JUNIT_KEY.to_owned(), xml);
    Bounded {
        data,
        truncated: Some(note),
    }
}

/// The JUnit of `run` with only `kept` of its `total` probes (those that did not pass first),
/// saying so in a comment.
fn truncated_junit(run: &RunResult, kept: usize, total: usize) -> String {
    let mut order: Vec<(bool, usize, usize)> = run
        .scenarios
        .iter()
        .enumerate()
        .flat_map(|(s, scenario)| {
            scenario
                .probes
                .iter()
                .enumerate()
                .map(move |(p, probe)| (probe.status == ProbeStatus::Pass, s, p))
        })
        .collect();
    order.sort_unstable();
    let chosen: BTreeSet<(usize, usize)> = order
        .into_iter()
        .take(kept)
        .map(|(_, s, p)| (s, p))
        .collect();
    let mut smaller = run.clone();
    for (s, scenario) in smaller.scenarios.iter_mut().enumerate() {
        let mut index = 0;
        scenario.probes.retain(|_| {
            index += 1;
            chosen.contains(&(s, index - 1))
        });
    }
    let xml = super::junit::render(&smaller);
    let comment = format!(
        "<!-- truncated by netverdict to fit a ConfigMap: {kept} of {total} testcases, those that did not pass first; summary.json has the run's counts -->\n"
    );
    match xml.split_once('\n') {
        Some((declaration, rest)) if declaration.starts_with("<?xml") => {
            format!("{declaration}\n{comment}{rest}")
        }
        _ => format!("{comment}{xml}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{ProbeResult, ScenarioResult};

    fn run(probes: usize, failing: usize) -> RunResult {
        let mut all: Vec<ProbeResult> = (0..probes)
            .map(|i| {
                let mut p = ProbeResult::example(ProbeStatus::Pass, None, &"x".repeat(200));
                p.name = format!("probe {i}");
                p
            })
            .collect();
        for probe in all.iter_mut().take(failing) {
            probe.status = ProbeStatus::Fail;
        }
        RunResult {
            run_id: "r1".into(),
            scenarios: vec![ScenarioResult {
                name: "big".into(),
                probes: all,
                ..ScenarioResult::default()
            }],
            ..RunResult::default()
        }
    }

    fn testcases(xml: &str) -> usize {
        xml.matches("<testcase ").count()
    }

    #[test]
    fn everything_is_kept_when_it_fits() {
        let bounded = reports(&run(3, 1), 1, CONFIG_MAP_LIMIT);
        assert_eq!(bounded.truncated, None);
        let keys: Vec<&str> = bounded.data.keys().map(String::as_str).collect();
        assert_eq!(keys, ["junit.xml", "results.json", "summary.json"]);
        let summary: serde_json::Value = serde_json::from_str(&bounded.data[SUMMARY_KEY]).unwrap();
        assert_eq!(summary["verdict"], "failed");
        assert_eq!(
            (summary["passed"].as_u64(), summary["failed"].as_u64()),
            (Some(2), Some(1))
        );
    }

    #[test]
    fn too_big_a_run_keeps_its_summary_and_the_testcases_that_did_not_pass_first() {
        let big = run(400, 3);
        let full = super::super::junit::render(&big).len();
        // Room for the summary and about half the testcases.
        let limit = full / 2;
        let bounded = reports(&big, 1, limit);
        assert!(size(&bounded.data) <= limit, "{}", size(&bounded.data));
        assert!(!bounded.data.contains_key(JSON_KEY));
        let note = bounded.truncated.unwrap();
        assert!(note.contains("of 400 testcases"), "{note}");
        let xml = &bounded.data[JUNIT_KEY];
        let kept = testcases(xml);
        assert!(kept > 3 && kept < 400, "{kept}");
        assert_eq!(xml.matches("<failure").count(), 3, "the failures are kept");
        assert!(xml.contains(&format!(
            "<!-- truncated by netverdict to fit a ConfigMap: {kept} of 400 testcases"
        )));
        let summary: serde_json::Value = serde_json::from_str(&bounded.data[SUMMARY_KEY]).unwrap();
        assert_eq!(summary["passed"], 397, "the counts are the run's");
    }

    #[test]
    fn a_report_that_fits_without_the_json_keeps_the_whole_junit() {
        let big = run(50, 0);
        let junit = super::super::junit::render(&big).len();
        let bounded = reports(&big, 0, junit + 4096);
        assert_eq!(testcases(&bounded.data[JUNIT_KEY]), 50);
        assert!(
            bounded
                .truncated
                .unwrap()
                .starts_with("results.json left out")
        );
    }
}
