//! The `--json` report: the whole result model.

use crate::results::RunResult;

/// Renders `run` as pretty-printed JSON.
pub(crate) fn render(run: &RunResult) -> String {
    serde_json::to_string_pretty(run).unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}
