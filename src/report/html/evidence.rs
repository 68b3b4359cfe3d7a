//! The evidence of each probe, one `<section id="probe-N">` each, numbered in run order as the
//! grids' links are: what was expected and observed, every attempt, the command that
//! reproduces it, the tool's output and the engine's view.

use std::fmt::Write;

use super::{class, escape, probe_title};
use crate::report::junit::engine_view;
use crate::results::{ProbeResult, RunResult};

pub(super) fn sections(out: &mut String, run: &RunResult) {
    out.push_str("<h2>Evidence</h2>\n");
    let probes = run
        .scenarios
        .iter()
        .enumerate()
        .flat_map(|(n, s)| s.probes.iter().map(move |p| (n, s, p)));
    for (number, (n, scenario, probe)) in probes.enumerate() {
        let _ = writeln!(
            out,
            "<section class=\"probe {}\" id=\"probe-{}\">\n<h3><span class=\"status\">{}</span> {}</h3>",
            class(probe.status),
            number + 1,
            probe.status,
            escape(&probe_title(scenario, probe))
        );
        facts(out, probe);
        attempts(out, probe);
        if !probe.command.is_empty() {
            let _ = writeln!(
                out,
                "<h4>command</h4>\n<pre class=\"command\">{}</pre>",
                escape(&probe.command)
            );
        }
        if !probe.output.is_empty() {
            let _ = writeln!(
                out,
                "<h4>tool output (last attempt)</h4>\n<pre class=\"output\">{}</pre>",
                escape(&probe.output)
            );
        }
        let _ = writeln!(
            out,
            "<p class=\"back\"><a href=\"#scenario-{}\">back to the tables of {}</a></p>\n</section>",
            n + 1,
            escape(&scenario.name)
        );
    }
}

fn facts(out: &mut String, probe: &ProbeResult) {
    let attempts = format!(
        "{} after {} attempt{}: {}",
        probe.observed(),
        probe.attempts,
        if probe.attempts == 1 { "" } else { "s" },
        probe.why()
    );
    let mut rows = vec![
        ("verdict", probe.verdict_line()),
        ("probe", probe.title()),
        ("location", probe.location().to_string()),
        (
            "expected",
            format!("{}, {}", probe.expected(), probe.expect_origin()),
        ),
        ("observed", attempts),
    ];
    if let Some(ms) = probe.time_to_match_ms {
        rows.push(("time to match", format!("{ms} ms after the policies")));
    }
    rows.push(("engine", engine_view(probe)));
    out.push_str("<dl>\n");
    for (term, text) in rows {
        let _ = writeln!(out, "<dt>{term}</dt><dd>{}</dd>", escape(&text));
    }
    out.push_str("</dl>\n");
}

fn attempts(out: &mut String, probe: &ProbeResult) {
    if probe.history.is_empty() {
        out.push_str("<p class=\"attempts\">No attempt was made.</p>\n");
        return;
    }
    out.push_str(
        "<table class=\"attempts\">\n<thead><tr><th>round</th><th>at (after the policies)</th><th>outcome</th>\
         <th>duration</th></tr></thead>\n<tbody>\n",
    );
    for attempt in &probe.history {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{} ms</td><td>{}</td><td>{} ms</td></tr>",
            attempt.round,
            attempt.at_ms,
            escape(&crate::verdict::outcome_name(&attempt.outcome)),
            attempt.elapsed_ms
        );
    }
    out.push_str("</tbody>\n</table>\n");
}
