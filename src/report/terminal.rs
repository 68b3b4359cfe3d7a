//! The terminal: progress bars while a run goes (on stderr, hidden when it is not a terminal),
//! then a summary with a truth table per port and the failures with their evidence.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cluster::{Cleaned, PodKey, RunId, Terminating};
use crate::results::{ProbeResult, RunResult, ScenarioResult, Tally};
use crate::run::{ProbeProgress, RunObserver};
use crate::verdict::ProbeStatus;

/// How much the terminal shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Shows progress on stderr.
pub(crate) struct Progress {
    multi: MultiProgress,
    pods: ProgressBar,
    probes: ProgressBar,
    verbosity: Verbosity,
}

impl Progress {
    pub(crate) fn new(verbosity: Verbosity) -> Progress {
        let target = if verbosity == Verbosity::Quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let multi = MultiProgress::with_draw_target(target);
        let style = ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let pods = multi.add(
            ProgressBar::new(0)
                .with_style(style.clone())
                .with_prefix("pods"),
        );
        let probes = multi.add(ProgressBar::new(0).with_style(style).with_prefix("probes"));
        Progress {
            multi,
            pods,
            probes,
            verbosity,
        }
    }

    /// Prints a line above the bars.
    fn line(&self, text: String) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        if self.multi.is_hidden() {
            eprintln!("{text}");
        } else {
            let _ = self.multi.println(text);
        }
    }

    pub(crate) fn finish(&self) {
        self.pods.finish_and_clear();
        self.probes.finish_and_clear();
    }
}

impl ProbeProgress for Progress {
    fn round_started(&self, round: u32, probes: usize, confirming: bool) {
        self.probes.inc_length(probes as u64);
        let what = if confirming {
            "confirming".to_owned()
        } else {
            format!("round {round}")
        };
        self.probes.set_message(what.clone());
        if self.verbosity == Verbosity::Verbose {
            self.line(format!("  {what}: {}", count(probes, "probe")));
        }
    }

    fn probe_observed(&self) {
        self.probes.inc(1);
    }
}

impl RunObserver for Progress {
    fn scenario_started(&self, name: &str, pods: usize, probes: usize) {
        // Scenarios may run at the same time: the bars count for the whole run.
        self.pods.inc_length(pods as u64);
        self.pods.set_message(name.to_owned());
        self.line(format!(
            "scenario {name}: {}, {}",
            count(pods, "pod"),
            count(probes, "probe")
        ));
    }

    fn pod_started(&self, pod: &PodKey) {
        self.pods.inc(1);
        if self.verbosity == Verbosity::Verbose {
            self.line(format!("  pod {pod} started"));
        }
    }

    fn scenario_finished(&self, result: &ScenarioResult) {
        let tally = tally(&result.probes);
        self.line(format!(
            "scenario {}: {} ({})",
            result.name,
            tallied(tally),
            humantime::format_duration(Duration::from_millis(result.duration_ms / 100 * 100))
        ));
    }

    fn waiting_for_namespace(&self, terminating: &Terminating) {
        self.line(format!(
            "waiting for namespace {} to finish terminating (left by {})",
            terminating.name, terminating.left_by
        ));
    }

    fn checking_enforcement(&self, namespace: &str, wait: Duration) {
        self.line(format!(
            "a deny the policies deny was not blocked: checking whether the network enforces \
             NetworkPolicy (two probe pods in namespace {namespace}, up to {})",
            humantime::format_duration(wait)
        ));
    }

    fn cleaning_up(&self, run: &RunId) {
        if self.verbosity == Verbosity::Verbose {
            self.line(format!("cleaning up run {run}"));
        }
    }

    fn left_in_place(&self, run: &RunId, command: &str) {
        self.line(format!(
            "cleanup: --keep: objects of run {run} left in place; remove them with `{command}`"
        ));
    }

    fn cleaned(&self, cleaned: &Cleaned) {
        for failure in &cleaned.failed {
            self.line(format!("cleanup: {failure}"));
        }
        for kept in &cleaned.kept {
            self.line(format!("cleanup: {kept}"));
        }
    }

    fn namespaces_gone(&self, count: usize, waited: Duration) {
        let tenths = Duration::from_millis(
            u64::try_from(waited.as_millis() / 100 * 100).unwrap_or(u64::MAX),
        );
        self.line(format!(
            "cleanup: the run's {count} namespace(s) are gone (waited {})",
            humantime::format_duration(tenths)
        ));
    }
}

fn tally(probes: &[ProbeResult]) -> Tally {
    Tally::of(probes)
}

/// Colours, unless `NO_COLOR` is set or the output is not a terminal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Palette {
    pub(crate) color: bool,
}

impl Palette {
    pub(crate) fn detect(is_terminal: bool) -> Palette {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Palette {
            color: is_terminal && !no_color,
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }

    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// The summary printed after a run.
pub(crate) fn summary(run: &RunResult, palette: Palette, verbosity: Verbosity) -> String {
    let mut out = String::new();
    if let Some(error) = &run.error.message() {
        let _ = writeln!(out, "{} {error}", palette.red("run error:"));
    }
    for scenario in &run.scenarios {
        scenario_summary(&mut out, scenario, palette, verbosity);
    }
    footer(&mut out, run);
    out
}

/// What the run found of the network, and its tally.
fn footer(out: &mut String, run: &RunResult) {
    if let Some(behaviour) = &run.deny_behaviour {
        let _ = writeln!(out, "deny behaviour: {behaviour}");
    }
    if let Some(line) = run.enforcement_line() {
        let _ = writeln!(out, "enforcement: {line}");
    }
    let tally = run.tally();
    let _ = write!(
        out,
        "run {}: {} passed, {} failed, {} could not be judged",
        run.run_id,
        count(tally.passed, "probe"),
        tally.failed,
        tally.errors
    );
    if tally.skipped > 0 {
        let _ = write!(out, ", {} not run (interrupted)", tally.skipped);
    }
    out.push('\n');
}

/// One scenario: its tally, its setup error or its dead pods, its truth tables, and the probes
/// that did not pass (every probe, verbose).
fn scenario_summary(
    out: &mut String,
    scenario: &ScenarioResult,
    palette: Palette,
    verbosity: Verbosity,
) {
    let tally = tally(&scenario.probes);
    let mark = if tally.failed > 0 {
        palette.red("FAIL")
    } else if tally.errors > 0 {
        palette.yellow("ERROR")
    } else if tally.skipped > 0 {
        palette.yellow("SKIPPED")
    } else {
        palette.green("ok")
    };
    let _ = writeln!(
        out,
        "{mark} {}: {}",
        palette.bold(&scenario.name),
        tallied(tally)
    );
    if let Some(error) = &scenario.setup_error {
        // Every probe carries the same reason: say it once.
        let _ = writeln!(
            out,
            "  {} {error}\n  none of its {} ran",
            palette.yellow("setup failed:"),
            count(scenario.probes.len(), "probe")
        );
        return;
    }
    for mimic in &scenario.mimics {
        let _ = writeln!(out, "  mimic: {}", mimic.summary);
    }
    for death in &scenario.dead_pods {
        let _ = writeln!(out, "  {} {death}", palette.yellow("died:"));
        for line in death.log_tail.lines() {
            let _ = writeln!(out, "    | {line}");
        }
    }
    if verbosity != Verbosity::Quiet {
        out.push_str(&matrices(&scenario.probes, palette));
    }
    for probe in scenario
        .probes
        .iter()
        .filter(|p| p.status != ProbeStatus::Pass || verbosity == Verbosity::Verbose)
    {
        probe_summary(out, probe, palette);
    }
}

/// One probe: its status and message, and for one that did not pass its command, output and the
/// policies' prediction when it disagrees.
fn probe_summary(out: &mut String, probe: &ProbeResult, palette: Palette) {
    let label = match probe.status {
        ProbeStatus::Pass => palette.green("pass"),
        ProbeStatus::Fail | ProbeStatus::Flapping => palette.red(&probe.status.to_string()),
        ProbeStatus::Error | ProbeStatus::Inconclusive | ProbeStatus::Skipped => {
            palette.yellow(&probe.status.to_string())
        }
    };
    let _ = writeln!(
        out,
        "  {label} {} ({}): {}",
        probe.label(),
        probe.location(),
        probe.message
    );
    if probe.named && probe.status != ProbeStatus::Pass {
        let _ = writeln!(out, "    {}", probe.title());
    }
    if probe.status != ProbeStatus::Pass {
        let _ = writeln!(out, "    $ {}", probe.command);
        for line in probe.output.lines().take(5) {
            let _ = writeln!(out, "    | {line}");
        }
        if let Some(prediction) = probe.prediction.as_ref().filter(|p| !p.agrees) {
            let _ = writeln!(
                out,
                "    note: expected {}, and the cluster's policies predict {}: check the expectation or the labels",
                probe.expect, prediction.verdict
            );
        }
    }
}

/// The last line of a run's output, for whoever reads only its end (a hook's log): the
/// verdict, what it rests on, and the exit code.
pub(crate) fn verdict(run: &RunResult, exit_code: u8) -> String {
    let tally = run.tally();
    let total = tally.passed + tally.failed + tally.errors + tally.skipped;
    let why = match exit_code {
        crate::cli::exit::OK => format!(
            "PASSED: {} met {}",
            if total == 1 {
                "the probe".to_owned()
            } else {
                format!("all {total} probes")
            },
            if total == 1 {
                "its expectation"
            } else {
                "their expectations"
            }
        ),
        crate::cli::exit::EXPECTATION_FAILED => format!(
            "FAILED: {} of {} did not meet {} expectation",
            tally.failed,
            count(total, "probe"),
            if tally.failed == 1 { "its" } else { "their" }
        ),
        crate::cli::exit::INVALID_INPUT => "INVALID INPUT: nothing was created".to_owned(),
        _ if !run.error.is_empty() => {
            "NOT JUDGED: the run could not complete (see run error above)".to_owned()
        }
        _ => format!(
            "NOT JUDGED: {} of {} could not be judged{}",
            tally.errors,
            count(total, "probe"),
            if tally.skipped > 0 {
                format!(", {} not run", tally.skipped)
            } else {
                String::new()
            }
        ),
    };
    format!("verdict: {why} (exit {exit_code})")
}

/// `1 probe`, `2 probes`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// `2 passed, 1 failed, 1 error`, then `, 3 skipped` when some were.
fn tallied(tally: Tally) -> String {
    let mut text = format!(
        "{} passed, {} failed, {}",
        tally.passed,
        tally.failed,
        count(tally.errors, "error")
    );
    if tally.skipped > 0 {
        text.push_str(&format!(", {} skipped", tally.skipped));
    }
    text
}

/// A truth table per port among the probes between pods: `.` allowed, `X` denied, as observed;
/// a cell that did not meet its expectation is red (or marked `!` without colour).
fn matrices(probes: &[ProbeResult], palette: Palette) -> String {
    let mut by_port: BTreeMap<(u16, &str, &str), Vec<&ProbeResult>> = BTreeMap::new();
    for probe in probes
        .iter()
        .filter(|p| p.target_pod.is_some() || (p.to.contains('/') && !p.to.contains(' ')))
    {
        by_port
            .entry((probe.port, probe.protocol.as_str(), probe.via.as_str()))
            .or_default()
            .push(probe);
    }
    let mut out = String::new();
    for ((port, protocol, via), cells) in by_port {
        let mut rows: Vec<&str> = cells.iter().map(|p| p.from.as_str()).collect();
        let mut columns: Vec<&str> = cells.iter().map(|p| column_of(p)).collect();
        rows.sort_unstable();
        rows.dedup();
        columns.sort_unstable();
        columns.dedup();
        if rows.len() * columns.len() < 2 {
            continue;
        }
        let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let _ = writeln!(out, "  {port}/{protocol} ({via}):");
        let _ = write!(out, "    {:width$}", "");
        for column in &columns {
            let _ = write!(out, " {column}");
        }
        out.push('\n');
        for row in &rows {
            let _ = write!(out, "    {row:width$}");
            for column in &columns {
                let cell = cells
                    .iter()
                    .find(|p| p.from == *row && column_of(p) == *column);
                let mark = match cell {
                    None => "?".to_owned(),
                    Some(probe) => {
                        let seen = match &probe.outcome {
                            Some(
                                netverdict_probes::Outcome::Connected
                                | netverdict_probes::Outcome::HttpStatus { .. },
                            ) => ".",
                            Some(netverdict_probes::Outcome::Error { .. }) | None => "E",
                            Some(_) => "X",
                        };
                        match probe.status {
                            ProbeStatus::Pass => seen.to_owned(),
                            _ if palette.color => palette.red(seen),
                            _ => format!("{seen}!"),
                        }
                    }
                };
                let pad = column.len().saturating_sub(visible_len(&mark));
                let _ = write!(
                    out,
                    " {}{mark}",
                    " ".repeat(pad / 2 + pad % 2),
                    mark = mark + &" ".repeat(pad / 2)
                );
            }
            out.push('\n');
        }
    }
    out
}

/// The column of a probe in the terminal's tables: its target pod (a deployed one by name).
fn column_of(probe: &ProbeResult) -> &str {
    probe.target_pod.as_deref().unwrap_or(&probe.to)
}

fn visible_len(text: &str) -> usize {
    let mut len = 0;
    let mut escape = false;
    for c in text.chars() {
        match (escape, c) {
            (false, '\x1b') => escape = true,
            (true, 'm') => escape = false,
            (false, _) => len += 1,
            _ => {}
        }
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{
        cleanup_failed_run, dead_target_run, invalid_input_run, mixed_run, setup_error_run,
    };

    /// Every verbosity of the summary of a fixed run, without colours.
    fn summaries(run: &RunResult) -> String {
        [Verbosity::Quiet, Verbosity::Normal, Verbosity::Verbose]
            .map(|verbosity| summary(run, Palette::detect(false), verbosity))
            .join("\n---\n")
    }

    #[test]
    fn the_terminal_summary_of_a_fixed_run() {
        let coloured = summary(&mixed_run(), Palette { color: true }, Verbosity::Normal);
        insta::assert_snapshot!(format!("{}\n---\n{coloured}", summaries(&mixed_run())));
    }

    #[test]
    fn the_terminal_summary_of_runs_that_could_not_start_or_lost_a_pod() {
        insta::assert_snapshot!(
            [
                setup_error_run(),
                invalid_input_run(),
                dead_target_run(),
                cleanup_failed_run(),
            ]
            .iter()
            .map(summaries)
            .collect::<Vec<_>>()
            .join("\n===\n")
        );
    }

    #[test]
    fn the_verdict_line_says_how_the_run_went_and_its_exit_code() {
        use crate::results::{ProbeResult, ScenarioResult};
        let run = |statuses: &[ProbeStatus], error: Option<&str>| RunResult {
            error: error.map_or_else(crate::run::RunErrors::default, |e| {
                crate::run::RunError::Text(e.to_owned()).into()
            }),
            scenarios: vec![ScenarioResult {
                probes: statuses
                    .iter()
                    .map(|s| ProbeResult::example(*s, None, ""))
                    .collect(),
                ..ScenarioResult::default()
            }],
            ..RunResult::default()
        };
        use ProbeStatus::*;
        assert_eq!(
            verdict(&run(&[Pass, Pass], None), 0),
            "verdict: PASSED: all 2 probes met their expectations (exit 0)"
        );
        assert_eq!(
            verdict(&run(&[Pass, Fail, Error], None), 1),
            "verdict: FAILED: 1 of 3 probes did not meet its expectation (exit 1)"
        );
        assert_eq!(
            verdict(&run(&[Pass, Error], None), 3),
            "verdict: NOT JUDGED: 1 of 2 probes could not be judged (exit 3)"
        );
        assert_eq!(
            verdict(&run(&[], Some("cleanup failed")), 3),
            "verdict: NOT JUDGED: the run could not complete (see run error above) (exit 3)"
        );
    }

    #[test]
    fn a_pod_that_died_is_shown_under_its_scenario_with_its_last_log_lines() {
        let text = summary(&dead_target_run(), Palette::detect(false), Verbosity::Quiet);
        assert!(
            text.contains("  died: pod shop/db died during the run: phase Failed, container probe Error, exit code 137\n    | serving tcp 5432\n    | killed\n"),
            "{text}"
        );
    }
}
