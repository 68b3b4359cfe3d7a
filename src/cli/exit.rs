//! Exit codes of `netverdict`, a stable contract for scripts and CI.

use std::process::ExitCode;

use crate::results::RunResult;

/// Everything went as expected: the input is valid, every probe observed its expected verdict.
pub const OK: u8 = 0;
/// The input is valid but at least one probe observed something other than its expectation.
pub const EXPECTATION_FAILED: u8 = 1;
/// Invalid input or usage: a scenario or a flag is wrong (nothing touched a cluster).
pub const INVALID_INPUT: u8 = 2;
/// Could not judge: the cluster or a probe failed in a way that says nothing about the network.
pub const COULD_NOT_JUDGE: u8 = 3;

/// An error the command expects and maps to an exit code, printed as `error: message`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExpectedError {
    /// The input was invalid; the diagnostics have been printed already.
    #[error("{0}")]
    #[diagnostic(code(netverdict::invalid_input))]
    InvalidInput(String),
    #[error("could not judge: {0}")]
    #[diagnostic(code(netverdict::could_not_judge))]
    CouldNotJudge(String),
    #[error("cannot write the output: {0}")]
    #[diagnostic(code(netverdict::io))]
    Output(#[from] std::io::Error),
}

impl ExpectedError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ExpectedError::InvalidInput(_) => INVALID_INPUT,
            ExpectedError::CouldNotJudge(_) | ExpectedError::Output(_) => COULD_NOT_JUDGE,
        }
    }
}

pub(crate) fn code(code: u8) -> ExitCode {
    ExitCode::from(code)
}

/// The precedence, documented in README "Exit codes": 1 when an expectation failed (a
/// contradiction observed is the strongest finding, whatever else happened: errors, scenarios
/// whose setup failed, an interruption); else 3 when a probe could not be judged, was not run
/// (skipped: interrupted) or the run could not complete; else 0.
pub(crate) fn of_run(result: &RunResult) -> u8 {
    let tally = result.tally();
    if tally.failed > 0 {
        EXPECTATION_FAILED
    } else if tally.errors > 0 || tally.skipped > 0 || !result.error.is_empty() {
        COULD_NOT_JUDGE
    } else {
        OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{ProbeResult, ScenarioResult};
    use crate::run::RunError;
    use crate::verdict::ProbeStatus;

    fn with(statuses: &[ProbeStatus], error: Option<&str>) -> RunResult {
        let probe = |status| ProbeResult::example(status, None, "");
        RunResult {
            error: error
                .map(|e| RunError::Text(e.to_owned()).into())
                .unwrap_or_default(),
            scenarios: vec![ScenarioResult {
                probes: statuses.iter().map(|s| probe(*s)).collect(),
                ..ScenarioResult::default()
            }],
            ..RunResult::default()
        }
    }

    #[test]
    fn exit_codes_rank_failures_over_what_could_not_be_judged() {
        use ProbeStatus::*;
        assert_eq!(of_run(&with(&[Pass, Pass], None)), OK);
        assert_eq!(
            of_run(&with(&[Pass, Fail, Error], None)),
            EXPECTATION_FAILED
        );
        assert_eq!(of_run(&with(&[Pass, Flapping], None)), EXPECTATION_FAILED);
        assert_eq!(of_run(&with(&[Pass, Inconclusive], None)), COULD_NOT_JUDGE);
        assert_eq!(of_run(&with(&[Pass, Error], None)), COULD_NOT_JUDGE);
        assert_eq!(
            of_run(&with(&[], Some("pods could not start"))),
            COULD_NOT_JUDGE
        );
        assert_eq!(of_run(&with(&[Pass, Skipped], None)), COULD_NOT_JUDGE);
        assert_eq!(
            of_run(&with(&[Fail, Skipped], Some("interrupted by Ctrl-C"))),
            EXPECTATION_FAILED
        );
    }

    #[test]
    fn a_scenario_whose_setup_failed_counts_in_the_totals_and_does_not_hide_a_failure() {
        use ProbeStatus::*;
        let mut run = with(&[Pass, Fail], None);
        run.scenarios.push(ScenarioResult {
            setup_error: Some("pod t/a cannot start: ErrImagePull".to_owned()),
            probes: vec![ProbeResult::example(Error, None, "setup failed: ..."); 3],
            ..ScenarioResult::default()
        });
        let tally = run.tally();
        assert_eq!((tally.passed, tally.failed, tally.errors), (1, 1, 3));
        assert_eq!(of_run(&run), EXPECTATION_FAILED);
        run.scenarios.remove(0);
        assert_eq!(of_run(&run), COULD_NOT_JUDGE);
    }
}
