//! JUnit XML: one `testsuite` per scenario, one `testcase` per probe.
//!
//! What GitLab, Jenkins and the GitHub reporters read decides the layout (docs/results-format.md
//! says what each shows):
//! - `(classname, name)` is unique and stable: `classname` is the scenario (a DNS label, so it has
//!   no dot for Jenkins to split at), `name` the scenario's own name for the probe or, without
//!   one, every field that tells probes apart. A name that still repeats gets ` #2`, ` #3`.
//! - `file` (relative to the working directory) and `line` are testcase attributes.
//! - A `failure`/`error` has a one-line `message` (expected versus observed, and why); its body
//!   starts with that line, then the evidence. `system-out` holds the evidence of passed probes
//!   only, so a failed one is not shown twice.
//! - Attempts are properties of their testcase, never testcases of their own.
//! - A run that cannot start writes one `error` testcase per input error, or one `run setup`.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::results::{
    InputProblem, ProbeResult, ProblemKind, RunResult, ScenarioResult, SourceLine,
};
use crate::run::RunError;
use crate::verdict::ProbeStatus;

/// The testsuite and classname of what concerns the run rather than one scenario.
const RUN_SUITE: &str = "netverdict";
const SETUP_CASE: &str = "run setup";
/// The case of a run whose only error is that its cleanup left objects behind.
const CLEANUP_CASE: &str = "run cleanup";

/// quick-junit drops tabs and carriage returns from every string (it strips terminal escapes);
/// they travel as these private-use characters and become character references afterwards.
const TAB_MARK: char = '\u{F8F0}';
const CR_MARK: char = '\u{F8F1}';

/// Renders `run` as JUnit XML.
pub(crate) fn render(run: &RunResult) -> String {
    let mut report = Report::new("netverdict");
    report.set_time(Duration::from_millis(run.duration_ms));
    if !run.problems.is_empty() {
        report.add_test_suite(input_suite(run));
    } else if let Some(error) = &run.error.message() {
        report.add_test_suite(setup_suite(run, error));
    }
    for scenario in &run.scenarios {
        report.add_test_suite(scenario_suite(run, scenario));
    }
    match report.to_string() {
        Ok(xml) => xml.replace(TAB_MARK, "&#9;").replace(CR_MARK, "&#13;"),
        // Serializing to a string only fails on an I/O error of the writer, which a String has not.
        Err(error) => format!("<!-- JUnit rendering failed: {error} -->"),
    }
}

fn scenario_suite(run: &RunResult, scenario: &ScenarioResult) -> TestSuite {
    let mut suite = TestSuite::new(text(&scenario.name));
    suite.set_time(Duration::from_millis(scenario.duration_ms));
    suite.add_property(Property::new("file", text(&scenario.file)));
    suite.add_property(Property::new("run", text(&run.run_id)));
    if let Some(line) = run.enforcement_line() {
        suite.add_property(Property::new("networkpolicy-enforcement", text(&line)));
    }
    if let Some(error) = &scenario.setup_error {
        suite.add_property(Property::new("setup-error", text(&one_line(error))));
    }
    for mimic in &scenario.mimics {
        suite.add_property(Property::new("mimic", text(&mimic.summary)));
    }
    if !scenario.dead_pods.is_empty() {
        let mut deaths = String::new();
        for death in &scenario.dead_pods {
            suite.add_property(Property::new("dead-pod", text(&death.to_string())));
            let _ = writeln!(deaths, "{death}\nits last log lines:\n{}", death.log_tail);
        }
        suite.set_system_err(text(&deaths));
    }
    let mut names = Names::default();
    for probe in &scenario.probes {
        let name = names.unique(probe.label());
        suite.add_test_case(test_case(&scenario.name, &name, probe));
    }
    suite
}

/// One `error` testcase per problem of the input, where it is written.
fn input_suite(run: &RunResult) -> TestSuite {
    let mut suite = TestSuite::new(RUN_SUITE);
    suite.set_time(Duration::from_millis(run.duration_ms));
    suite.add_property(Property::new("run", text(&run.run_id)));
    let mut names = Names::default();
    for problem in &run.problems {
        let name = names.unique(problem_name(problem));
        let message = one_line(&format!("{}: {}", problem.kind.words(), problem.message));
        let body = format!(
            "{message}\n{}:{}:{}: {}{}\nnothing was created\n",
            problem.file,
            problem.line,
            problem.column,
            if problem.path.is_empty() {
                String::new()
            } else {
                format!("{}: ", problem.path)
            },
            problem.message
        );
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status
            .set_type(match problem.kind {
                ProblemKind::InvalidInput => "invalid-input",
                ProblemKind::NotInCluster => "not-in-cluster",
            })
            .set_message(text(&message))
            .set_description(text(&body));
        let mut case = TestCase::new(text(&name), status);
        case.set_classname(RUN_SUITE).set_time(Duration::ZERO);
        locate(
            &mut case,
            &SourceLine {
                file: problem.file.clone(),
                line: problem.line,
            },
        );
        suite.add_test_case(case);
    }
    suite
}

fn problem_name(problem: &InputProblem) -> String {
    let at = if problem.path.is_empty() {
        "the document".to_owned()
    } else {
        problem.path.clone()
    };
    format!(
        "{}: {} {at} ({}:{})",
        problem.kind.words(),
        problem.file,
        problem.line,
        problem.column
    )
}

/// The run could not complete: one `error` testcase saying why, at the first scenario it read.
fn setup_suite(run: &RunResult, error: &str) -> TestSuite {
    let message = one_line(error);
    let cleanup_only = matches!(run.error.first(), Some(RunError::CleanupLeft(_)));
    let (name, kind) = if cleanup_only {
        (CLEANUP_CASE, "cleanup")
    } else {
        (SETUP_CASE, "setup")
    };
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status
        .set_type(kind)
        .set_message(text(&message))
        .set_description(text(&format!("{message}\n{error}\n")));
    let mut case = TestCase::new(name, status);
    case.set_classname(RUN_SUITE)
        .set_time(Duration::from_millis(run.duration_ms))
        .add_property(Property::new("run", text(&run.run_id)));
    if let Some(input) = run.inputs.first() {
        locate(&mut case, input);
    }
    let mut suite = TestSuite::new(RUN_SUITE);
    suite.set_time(Duration::from_millis(run.duration_ms));
    suite.add_test_case(case);
    suite
}

fn test_case(scenario: &str, name: &str, probe: &ProbeResult) -> TestCase {
    let status = match probe.status {
        ProbeStatus::Pass => TestCaseStatus::success(),
        ProbeStatus::Skipped => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(text(&probe.message));
            status
        }
        other => {
            let kind = match other {
                ProbeStatus::Fail | ProbeStatus::Flapping => NonSuccessKind::Failure,
                _ => NonSuccessKind::Error,
            };
            let mut status = TestCaseStatus::non_success(kind);
            status
                .set_type(other.to_string())
                .set_message(text(&probe.verdict_line()))
                .set_description(text(&failure_body(probe)));
            status
        }
    };
    let mut case = TestCase::new(text(name), status);
    case.set_classname(text(scenario))
        .set_time(Duration::from_millis(probe.duration_ms));
    locate(&mut case, &probe.location());
    if probe.status == ProbeStatus::Pass {
        case.set_system_out(text(&evidence(probe)));
    }
    add_properties(&mut case, probe);
    case
}

fn locate(case: &mut TestCase, at: &SourceLine) {
    case.extra.insert("file".into(), text(&at.file).into());
    case.extra.insert("line".into(), at.line.to_string().into());
}

fn add_properties(case: &mut TestCase, probe: &ProbeResult) {
    case.add_property(Property::new("probe", text(&probe.name)))
        .add_property(Property::new("outcome", text(&probe.observed())))
        .add_property(Property::new("status", probe.status.to_string()))
        .add_property(Property::new("attempts", probe.attempts.to_string()))
        .add_property(Property::new("expect-source", text(&probe.expect_source)))
        .add_property(Property::new("duration-ms", probe.duration_ms.to_string()));
    if let Some(ms) = probe.time_to_match_ms {
        case.add_property(Property::new("time-to-match-ms", ms.to_string()));
    }
    for (name, value) in [
        ("like", &probe.like),
        ("target-pod", &probe.target_pod),
        ("answered-by", &probe.answered_by),
    ] {
        if let Some(value) = value {
            case.add_property(Property::new(name, text(value)));
        }
    }
    if let Some(prediction) = &probe.prediction {
        case.add_property(Property::new(
            "engine-prediction",
            text(&prediction.verdict),
        ));
    }
    for (i, attempt) in probe.history.iter().enumerate() {
        case.add_property(Property::new(
            format!("attempt-{}", i + 1),
            format!(
                "round {} at {} ms: {} ({} ms)",
                attempt.round,
                attempt.at_ms,
                crate::verdict::outcome_name(&attempt.outcome),
                attempt.elapsed_ms
            ),
        ));
    }
}

/// The verdict line first (GitLab shows only the body), then what was expected and observed,
/// the engine's view, the command, and the tool's output as it printed it.
fn failure_body(probe: &ProbeResult) -> String {
    let mut body = format!("{}\n", probe.verdict_line());
    let _ = writeln!(
        body,
        "expected: {}, {}",
        probe.expected(),
        probe.expect_origin()
    );
    let _ = writeln!(
        body,
        "observed: {} after {} attempt{}: {}",
        probe.observed(),
        probe.attempts,
        if probe.attempts == 1 { "" } else { "s" },
        probe.why()
    );
    let _ = writeln!(body, "engine:   {}", engine_view(probe));
    let _ = writeln!(body, "probe:    {} ({})", probe.label(), probe.location());
    body.push_str(&evidence(probe));
    body
}

pub(crate) fn engine_view(probe: &ProbeResult) -> String {
    match &probe.prediction {
        None => "no prediction".to_owned(),
        Some(p) if p.agrees => format!("predicts {} as expected: {}", p.verdict, p.explanation),
        Some(p) => format!(
            "predicts {}, against the expectation (check the expectation or the labels): {}",
            p.verdict, p.explanation
        ),
    }
}

/// The command that reproduces the probe, then what the tool printed.
fn evidence(probe: &ProbeResult) -> String {
    let mut text = String::new();
    if !probe.command.is_empty() {
        let _ = writeln!(text, "command:  {}", probe.command);
    }
    if !probe.output.is_empty() {
        text.push_str("output:\n");
        text.push_str(&probe.output);
        if !probe.output.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `value` as quick-junit can carry it unchanged: tabs and carriage returns as marks (turned into
/// character references after rendering), and what XML 1.0 cannot hold (other control
/// characters, terminal escapes, the marks themselves) written out as `\u{..}`.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\t' => out.push(TAB_MARK),
            '\r' => out.push(CR_MARK),
            '\n' => out.push('\n'),
            c if c.is_control() || matches!(c, TAB_MARK | CR_MARK | '\u{FFFE}' | '\u{FFFF}') => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Testcase names of one suite, made unique in order.
#[derive(Default)]
struct Names {
    taken: BTreeSet<String>,
}

impl Names {
    fn unique(&mut self, name: String) -> String {
        if self.taken.insert(name.clone()) {
            return name;
        }
        let mut n = 2;
        loop {
            let candidate = format!("{name} #{n}");
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests;
