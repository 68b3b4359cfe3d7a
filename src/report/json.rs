//! The `--json` report: the whole result model.

use crate::results::RunResult;

/// Renders `run` as pretty-printed JSON.
pub(crate) fn render(run: &RunResult) -> String {
    serde_json::to_string_pretty(run).unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{
        cleanup_failed_run, dead_target_run, invalid_input_run, mixed_run, setup_error_run,
    };

    #[test]
    fn the_json_of_a_fixed_run() {
        insta::assert_snapshot!(render(&mixed_run()));
    }

    #[test]
    fn the_json_of_runs_that_could_not_start_or_lost_a_pod() {
        insta::assert_snapshot!(
            [
                setup_error_run(),
                invalid_input_run(),
                dead_target_run(),
                cleanup_failed_run(),
            ]
            .iter()
            .map(render)
            .collect::<Vec<_>>()
            .join("\n---\n")
        );
    }
}
