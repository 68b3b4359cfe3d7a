//! Exit codes of `netverdict`, a stable contract for scripts and CI.

use std::process::ExitCode;

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
