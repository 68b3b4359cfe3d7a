//! `--html FILE`: one self-contained page for a person to open, also offline (inline CSS, no
//! script, no external address): the headline with the totals, a legend, a truth table per
//! scenario and port drawn as a grid of coloured cells, and the evidence of every probe, which
//! each cell links to.
//!
//! Every string from the scenarios, the cluster or a tool is escaped; tool output keeps its tabs
//! and line breaks in `<pre>`.

mod evidence;

use std::fmt::Write;

use crate::report::headline::Mood;
use crate::report::matrix::{self, Seen, Table};
use crate::results::{ProbeResult, RunResult, ScenarioResult, Tally};
use crate::verdict::ProbeStatus;

const STYLE: &str = include_str!("html/report.css");

/// The legend's entries: the class of a cell and what it means.
const LEGEND: [(&str, &str); 5] = [
    ("pass", "met its expectation"),
    ("fail", "✗ did not meet it (a mismatch)"),
    ("unjudged", "? could not be judged"),
    ("not-run", "not run"),
    ("none", "— no probe"),
];

/// Renders `run` as an HTML page.
pub(crate) fn render(run: &RunResult) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>netverdict run {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        escape(&run.run_id)
    );
    headline(&mut out, run);
    if !run.problems.is_empty() {
        problems(&mut out, run);
    } else {
        if let Some(error) = &run.error.message() {
            let _ = writeln!(
                out,
                "<section class=\"run-error\">\n<h2>The run could not complete</h2>\n<pre>{}</pre>\n</section>",
                escape(error)
            );
        }
        if let Some(behaviour) = &run.deny_behaviour {
            let _ = writeln!(
                out,
                "<p class=\"deny\">{}</p>",
                escape(&behaviour.to_string())
            );
        }
        if let Some(line) = run.enforcement_line() {
            let _ = writeln!(out, "<p class=\"enforcement\">{}</p>", escape(&line));
        }
        if !run.scenarios.is_empty() {
            totals(&mut out, run);
            legend(&mut out);
            grids(&mut out, run);
            evidence::sections(&mut out, run);
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The headline, in the summary's words.
fn headline(out: &mut String, run: &RunResult) {
    let id = escape(&run.run_id);
    let (mood, words) = crate::report::headline::headline(run);
    let class = match mood {
        Mood::Passed => "pass",
        Mood::Failed => "fail",
        Mood::Unjudged => "unjudged",
    };
    let _ = writeln!(
        out,
        "<h1 class=\"{class}\">netverdict run <code>{id}</code>: {}</h1>",
        escape(&words)
    );
    if !run.cluster.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"cluster\">API server: <code>{}</code>, {:.1} s</p>",
            escape(&run.cluster),
            run.duration_ms as f64 / 1000.0
        );
    }
}

fn problems(out: &mut String, run: &RunResult) {
    let kind = run.problems.first().map(|p| p.kind).unwrap_or_default();
    let _ = writeln!(out, "<p>{}</p>", escape(kind.sentence()));
    out.push_str(
        "<table class=\"problems\">\n\
         <thead><tr><th>location</th><th>field</th><th>error</th></tr></thead>\n<tbody>\n",
    );
    for p in &run.problems {
        let _ = writeln!(
            out,
            "<tr><td><code>{}:{}:{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
            escape(&p.file),
            p.line,
            p.column,
            escape(&p.path),
            escape(&p.message)
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn totals(out: &mut String, run: &RunResult) {
    out.push_str(
        "<table class=\"totals\">\n<thead><tr><th>scenario</th><th>file</th><th>probes</th>\
         <th>passed</th><th>failed</th><th>could not be judged</th><th>time</th></tr></thead>\n<tbody>\n",
    );
    for (n, s) in run.scenarios.iter().enumerate() {
        let Tally {
            passed,
            failed,
            errors,
            ..
        } = Tally::of(&s.probes);
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#scenario-{}\">{}</a></td><td><code>{}</code></td><td>{}</td>\
             <td>{passed}</td><td>{failed}</td><td>{errors}</td><td>{:.1} s</td></tr>",
            n + 1,
            escape(&s.name),
            escape(&s.file),
            s.probes.len(),
            s.duration_ms as f64 / 1000.0
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn legend(out: &mut String) {
    out.push_str("<h2>Truth tables</h2>\n<ul class=\"legend\">\n");
    for (class, meaning) in LEGEND {
        let _ = writeln!(
            out,
            "<li><span class=\"swatch {class}\"></span> {}</li>",
            escape(meaning)
        );
    }
    out.push_str(
        "</ul>\n<p class=\"how\">The word in a cell is what was observed: <b>allow</b> reached, \
         <b>deny</b> blocked. Its title tells what was expected; it links to the probe's \
         evidence.</p>\n",
    );
}

/// Per scenario, its grids side by side; each probe's number is its place in the run.
fn grids(out: &mut String, run: &RunResult) {
    let mut first = 1;
    for (n, scenario) in run.scenarios.iter().enumerate() {
        let _ = writeln!(
            out,
            "<section class=\"scenario\" id=\"scenario-{}\">\n<h3>{} <small><code>{}</code></small></h3>",
            n + 1,
            escape(&scenario.name),
            escape(&scenario.file)
        );
        if let Some(error) = &scenario.setup_error {
            let _ = writeln!(
                out,
                "<p class=\"setup-error\">Setup failed: {}</p>",
                escape(error)
            );
        }
        for mimic in &scenario.mimics {
            let _ = writeln!(
                out,
                "<p class=\"mimic\">Mimic: {}</p>",
                escape(&mimic.summary)
            );
        }
        out.push_str("<div class=\"grids\">\n");
        for table in matrix::tables(scenario) {
            grid(out, &table, first);
        }
        out.push_str("</div>\n</section>\n");
        first += scenario.probes.len();
    }
}

/// One `<table class="grid">`; `first` is the number of the scenario's first probe.
fn grid(out: &mut String, table: &Table<'_>, first: usize) {
    let mut caption = format!("{}/{} ({}", table.port, table.protocol, table.via);
    for detail in &table.details {
        let _ = write!(caption, " {detail}");
    }
    caption.push(')');
    let _ = write!(
        out,
        "<table class=\"grid\">\n<caption>{}</caption>\n<thead><tr><th class=\"corner\">from \\ to</th>",
        escape(&caption)
    );
    for column in &table.columns {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(column));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(row));
        for column in &table.columns {
            let links: Vec<String> = table
                .cell(row, column)
                .map(|(index, probe)| link(first + index, probe))
                .collect();
            if links.is_empty() {
                out.push_str("<td class=\"none\" title=\"no probe\">—</td>");
            } else {
                let _ = write!(out, "<td class=\"cell\">{}</td>", links.concat());
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// A probe's cell: coloured by its status, the observed word (with a marker when it did not
/// meet its expectation), the verdict with the expectation as its title.
fn link(number: usize, probe: &ProbeResult) -> String {
    let seen = Seen::of(probe);
    let text = match (probe.status, seen) {
        (_, Seen::Error | Seen::NotRun) => seen.word().to_owned(),
        (ProbeStatus::Fail, _) => format!("✗ {}", seen.word()),
        (ProbeStatus::Flapping, _) => format!("✗ {} (flapping)", seen.word()),
        (ProbeStatus::Error | ProbeStatus::Inconclusive, _) => format!("{}?", seen.word()),
        _ => seen.word().to_owned(),
    };
    format!(
        "<a class=\"{}\" href=\"#probe-{number}\" title=\"{}\">{}</a>",
        class(probe.status),
        escape(&probe.verdict_line()),
        escape(&text)
    )
}

/// The CSS class of a status, one per colour of the legend.
fn class(status: ProbeStatus) -> &'static str {
    match status {
        ProbeStatus::Pass => "pass",
        ProbeStatus::Fail | ProbeStatus::Flapping => "fail",
        ProbeStatus::Error | ProbeStatus::Inconclusive => "unjudged",
        ProbeStatus::Skipped => "not-run",
    }
}

/// `scenario`'s name and the probe's label, as its evidence is titled.
fn probe_title(scenario: &ScenarioResult, probe: &ProbeResult) -> String {
    format!("{}: {}", scenario.name, probe.label())
}

/// `text` for HTML text and attribute values. Tabs and line breaks stay (a `<pre>` shows them);
/// other control characters (terminal escapes, carriage returns) are written out as `\u{..}`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod browser_tests;
