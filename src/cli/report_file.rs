//! Writing a report file, with the error every command gives when it cannot.

use std::path::Path;

use crate::cli::exit::ExpectedError;

/// Writes `text` to `path`; a failure cannot be judged (exit 3), naming the file and the cause.
pub(crate) fn write(path: &Path, text: &str) -> Result<(), ExpectedError> {
    std::fs::write(path, text).map_err(|error| {
        ExpectedError::CouldNotJudge(format!(
            "cannot write the report {}: {error}",
            path.display()
        ))
    })
}
