//! Errors of the fabric.

use std::io;

/// Errors of the fabric; each names the kernel object and the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{command} failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
}

impl NetError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> NetError {
        NetError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> NetError {
        NetError::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// Adds the object and operation to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, NetError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, NetError> {
        self.map_err(|source| NetError::Io {
            what: what(),
            source,
        })
    }
}
