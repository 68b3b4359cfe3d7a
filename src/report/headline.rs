//! A run's headline, in the words the Markdown summary and the HTML page share: how it went and
//! the totals.

use crate::results::RunResult;

/// How a run went, as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mood {
    /// Every probe met its expectation.
    Passed,
    /// A probe did not.
    Failed,
    /// Nothing failed, but something could not be judged, did not run, or the input was invalid.
    Unjudged,
}

/// `3 probes passed, 1 failed, 0 could not be judged` (`, 2 not run (interrupted)`), or
/// `invalid input, 2 errors`, with the run's mood.
pub(crate) fn headline(run: &RunResult) -> (Mood, String) {
    if let Some(first) = run.problems.first() {
        let words = format!(
            "{}, {}",
            first.kind.words(),
            count(run.problems.len(), "error", "errors")
        );
        return (Mood::Unjudged, words);
    }
    let tally = run.tally();
    let mood = if tally.failed > 0 {
        Mood::Failed
    } else if tally.errors > 0 || tally.skipped > 0 || !run.error.is_empty() {
        Mood::Unjudged
    } else {
        Mood::Passed
    };
    let not_run = if tally.skipped > 0 {
        format!(", {} not run (interrupted)", tally.skipped)
    } else {
        String::new()
    };
    let words = format!(
        "{}, {} failed, {} could not be judged{not_run}",
        count(tally.passed, "probe passed", "probes passed"),
        tally.failed,
        tally.errors
    );
    (mood, words)
}

/// `1 error`, `2 errors`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
