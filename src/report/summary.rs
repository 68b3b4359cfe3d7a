//! `--summary FILE`: GitHub-flavoured Markdown for `$GITHUB_STEP_SUMMARY` or a merge-request
//! note. Totals, then every failure with its verdict, location and command, then a truth table
//! per scenario and port (every port, also single-cell ones and non-pod targets) with a legend.
//!
//! GitHub caps a step summary at 1 MiB: tool output is cut to its first lines, and only the first
//! failures are shown in full.

use std::fmt::Write;

use crate::report::headline::Mood;
use crate::report::junit::engine_view;
use crate::report::matrix::{self, Seen};
use crate::results::{ProbeResult, RunResult, ScenarioResult, Tally};
use crate::verdict::ProbeStatus;

/// Failures shown with their evidence; the others get one line each.
const DETAILED_FAILURES: usize = 50;
/// Lines of tool output shown per failure.
const OUTPUT_LINES: usize = 20;

const LEGEND: &str = "✅ met its expectation · ❌ did not · ⚠️ could not be judged · \
the word is what was observed: **allow** reached, **deny** blocked · — no probe";

/// Renders `run` as Markdown.
pub(crate) fn render(run: &RunResult) -> String {
    let mut out = String::new();
    headline(&mut out, run);
    if !run.problems.is_empty() {
        problems(&mut out, run);
        return out;
    }
    if let Some(error) = &run.error.message() {
        let _ = writeln!(out, "The run could not complete:\n");
        out.push_str(&fenced(error, ""));
        out.push('\n');
    }
    if let Some(line) = run.enforcement_line() {
        let _ = writeln!(out, "{}\n", cell(&line));
    }
    if !run.scenarios.is_empty() {
        totals(&mut out, run);
        failures(&mut out, run);
        let _ = writeln!(out, "### Truth tables\n\n{LEGEND}\n");
        for scenario in &run.scenarios {
            tables(&mut out, scenario);
        }
    }
    out
}

fn headline(out: &mut String, run: &RunResult) {
    let (mood, words) = crate::report::headline::headline(run);
    let mark = match mood {
        Mood::Passed => "✅",
        Mood::Failed => "❌",
        Mood::Unjudged => "⚠️",
    };
    let _ = writeln!(out, "## {mark} netverdict run `{}`: {words}\n", run.run_id);
}

fn problems(out: &mut String, run: &RunResult) {
    let kind = run.problems.first().map(|p| p.kind).unwrap_or_default();
    let _ = writeln!(
        out,
        "{}\n\n| location | field | error |\n|---|---|---|",
        kind.sentence()
    );
    for p in &run.problems {
        let _ = writeln!(
            out,
            "| `{}:{}:{}` | {} | {} |",
            p.file,
            p.line,
            p.column,
            cell(&p.path),
            cell(&p.message)
        );
    }
}

fn totals(out: &mut String, run: &RunResult) {
    let _ = writeln!(
        out,
        "| scenario | file | probes | passed | failed | could not be judged | time |\n|---|---|--:|--:|--:|--:|--:|"
    );
    for s in &run.scenarios {
        let Tally {
            passed,
            failed,
            errors,
            ..
        } = Tally::of(&s.probes);
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {passed} | {failed} | {errors} | {:.1} s |",
            cell(&s.name),
            s.file,
            s.probes.len(),
            s.duration_ms as f64 / 1000.0
        );
    }
    out.push('\n');
}

fn failures(out: &mut String, run: &RunResult) {
    let failed: Vec<(&ScenarioResult, &ProbeResult)> = run
        .scenarios
        .iter()
        .flat_map(|s| s.probes.iter().map(move |p| (s, p)))
        .filter(|(_, p)| p.status != ProbeStatus::Pass)
        .collect();
    if failed.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Failures\n");
    for (i, (scenario, probe)) in failed.iter().enumerate() {
        let mark = if matches!(probe.status, ProbeStatus::Fail | ProbeStatus::Flapping) {
            "❌"
        } else {
            "⚠️"
        };
        let _ = writeln!(
            out,
            "#### {mark} {}: {}\n",
            cell(&scenario.name),
            cell(&probe.label())
        );
        let _ = writeln!(out, "- **verdict**: {}", cell(&probe.verdict_line()));
        let _ = writeln!(out, "- **location**: `{}`", probe.location());
        if i >= DETAILED_FAILURES {
            out.push('\n');
            continue;
        }
        let _ = writeln!(out, "- **engine**: {}", cell(&engine_view(probe)));
        if !probe.command.is_empty() {
            let _ = writeln!(out, "- **command**:\n");
            out.push_str(&indent(&fenced(&probe.command, "sh")));
        }
        if !probe.output.is_empty() {
            let lines: Vec<&str> = probe.output.lines().collect();
            let mut shown = lines[..lines.len().min(OUTPUT_LINES)].join("\n");
            if lines.len() > OUTPUT_LINES {
                shown.push_str(&format!("\n… {} more lines", lines.len() - OUTPUT_LINES));
            }
            let _ = writeln!(out, "- **output**:\n");
            out.push_str(&indent(&fenced(&shown, "")));
        }
        out.push('\n');
    }
}

/// One table per port (and kind, query or path) of `scenario`: sources as rows, targets as
/// columns.
fn tables(out: &mut String, scenario: &ScenarioResult) {
    let _ = writeln!(out, "#### {}\n", cell(&scenario.name));
    for table in matrix::tables(scenario) {
        let mut kind = table.via.to_owned();
        for detail in &table.details {
            kind.push_str(&format!(" `{detail}`"));
        }
        let _ = writeln!(out, "**{}/{}** ({kind})\n", table.port, table.protocol);
        let _ = write!(out, "| from \\ to |");
        for column in &table.columns {
            let _ = write!(out, " {} |", cell(column));
        }
        let _ = write!(out, "\n|---|");
        out.push_str(&":-:|".repeat(table.columns.len()));
        out.push('\n');
        for row in &table.rows {
            let _ = write!(out, "| {} |", cell(row));
            for column in &table.columns {
                let marks: Vec<String> = table.cell(row, column).map(|(_, p)| mark(p)).collect();
                let text = if marks.is_empty() {
                    "—".to_owned()
                } else {
                    marks.join("<br>")
                };
                let _ = write!(out, " {text} |");
            }
            out.push('\n');
        }
        out.push('\n');
    }
}

fn mark(probe: &ProbeResult) -> String {
    let seen = match Seen::of(probe) {
        Seen::NotRun => return "⚠️ not run".to_owned(),
        Seen::Error => return "⚠️ error".to_owned(),
        seen => seen.word(),
    };
    match probe.status {
        ProbeStatus::Pass => format!("✅ {seen}"),
        ProbeStatus::Fail => format!("❌ **{seen}**"),
        ProbeStatus::Flapping => format!("❌ **{seen}** (flapping)"),
        ProbeStatus::Error | ProbeStatus::Inconclusive => format!("⚠️ {seen}?"),
        ProbeStatus::Skipped => "⏭️ not run".to_owned(),
    }
}

/// Text for a table cell or a list item: one line, with `|` and markup characters escaped.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '|' | '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` in a code block whose fence is longer than any run of backticks in it.
fn fenced(text: &str, lang: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{lang}\n{}\n{fence}\n", text.trim_end_matches('\n'))
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{invalid_input_run, mixed_run, setup_error_run};

    #[test]
    fn every_port_and_target_has_a_table() {
        let md = render(&mixed_run());
        assert!(md.contains("**443/TCP** (tcp)"), "single-cell port:\n{md}");
        assert!(md.contains("| host example.test |"), "{md}");
        assert!(md.contains("| ip 203.0.113.10 |"), "{md}");
        assert!(md.contains("**53/UDP** (dns `nope.example.test`)"), "{md}");
        assert!(md.contains(LEGEND));
        assert!(
            md.contains("- **location**: `scenarios/shop.yaml:21`"),
            "{md}"
        );
    }

    #[test]
    fn the_summary_of_a_fixed_run() {
        insta::assert_snapshot!(render(&mixed_run()));
    }

    #[test]
    fn the_summary_of_runs_that_could_not_start() {
        insta::assert_snapshot!(format!(
            "{}\n---\n{}",
            render(&setup_error_run()),
            render(&invalid_input_run())
        ));
    }
}
