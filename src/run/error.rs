//! What kept a run from completing: [`RunError`], born where it happens (the CLI before the
//! run, the runner during it, its cleanup after it), gathered in order into the run's
//! [`RunErrors`] (`RunResult.error`) and put into words once, by `Display`, where the reporters
//! render it.

use std::fmt;

use super::live::LiveStageError;
use crate::cluster::{ConnectError, NamespaceError, PermissionError, SharingError};
use crate::results::CleanupReport;

/// One reason a run did not complete, or did not complete cleanly.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// The scenarios are invalid: nothing touched a cluster.
    #[error("invalid input: {summary}; nothing was created")]
    InvalidInput { summary: String },
    /// The kubeconfig is missing or wrong.
    #[error("invalid input (nothing was created): {0}")]
    InvalidTarget(ConnectError),
    /// The API server could not be reached.
    #[error("{0} (nothing was created)")]
    Unreachable(ConnectError),
    #[error(transparent)]
    Permissions(PermissionError),
    /// The deployed workloads the scenarios name could not be found or probed.
    #[error(transparent)]
    Live(LiveStageError),
    /// Another run uses a namespace of this one.
    #[error(transparent)]
    Shared(SharingError),
    #[error("interrupted by {signal}: the probes not run are reported as skipped")]
    Interrupted { signal: &'static str },
    #[error(
        "interrupted by {signal}: the probes not run are reported as skipped; a second {second} \
         abandoned the scenarios still running"
    )]
    Abandoned {
        signal: &'static str,
        second: &'static str,
    },
    #[error("{}", .0.message())]
    CleanupLeft(CleanupReport),
    #[error("cleanup aborted by a second {signal}; remove what is left with `{command}`")]
    CleanupAborted {
        signal: &'static str,
        command: String,
    },
    #[error("--wait-cleanup: {0}")]
    WaitCleanup(NamespaceError),
    #[error(transparent)]
    Local(#[from] LocalClusterError),
    /// The run's own local cluster could not be connected to.
    #[error(transparent)]
    LocalConnect(ConnectError),
    /// The reports could not be kept in the cluster (`--results-configmap`).
    #[error(transparent)]
    Results(crate::cluster::StoreError),
    /// An error as it was put into words: a copy of the run's, for a second rendering of it.
    #[error("{0}")]
    Said(String),
    /// Words given by a test's fixture.
    #[cfg(test)]
    #[error("{0}")]
    Text(String),
}

/// What went wrong with the local cluster of `run --local`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LocalClusterError {
    #[error("cannot start the local cluster: cannot find this executable: {0}")]
    NoExecutable(std::io::Error),
    #[error("cannot start the local cluster: {0}")]
    Start(netverdict_localcluster::ClusterError),
    /// The task that started a background instance failed.
    #[error("cannot start the local cluster: {0}")]
    Background(tokio::task::JoinError),
    #[error("the local cluster did not shut down cleanly: {0}")]
    Shutdown(netverdict_localcluster::ClusterError),
}

/// Everything that kept a run from completing, in the order it happened: one line (or block)
/// each, then, when an API server's answers are among them, which server.
#[derive(Debug, Default)]
pub(crate) struct RunErrors {
    errors: Vec<RunError>,
    /// The API server (its URL, and how the user named it) the errors came from.
    server: Option<(String, String)>,
}

impl RunErrors {
    pub(crate) fn push(&mut self, error: RunError) {
        self.errors.push(error);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The first error, which says whether the run completed at all.
    pub(crate) fn first(&self) -> Option<&RunError> {
        self.errors.first()
    }

    /// Names the API server the errors came from (an API Status does not say), unless they
    /// name it already: `url` as the user named it, `described`.
    pub(crate) fn name_server(&mut self, url: &str, described: &str) {
        self.server = Some((url.to_owned(), described.to_owned()));
    }

    /// The words of the errors; `None` when there are none.
    pub(crate) fn message(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.to_string())
    }
}

/// A copy says the same: each error as it was put into words (what is left after a cleanup
/// keeps its account, which the reports read).
impl Clone for RunErrors {
    fn clone(&self) -> RunErrors {
        let errors = self
            .errors
            .iter()
            .map(|error| match error {
                RunError::CleanupLeft(report) => RunError::CleanupLeft(report.clone()),
                other => RunError::Said(other.to_string()),
            })
            .collect();
        RunErrors {
            errors,
            server: self.server.clone(),
        }
    }
}

impl Extend<RunError> for RunErrors {
    fn extend<I: IntoIterator<Item = RunError>>(&mut self, errors: I) {
        self.errors.extend(errors);
    }
}

impl From<RunError> for RunErrors {
    fn from(error: RunError) -> RunErrors {
        RunErrors {
            errors: vec![error],
            server: None,
        }
    }
}

impl fmt::Display for RunErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        f.write_str(&text)?;
        match &self.server {
            Some((url, described)) if !self.is_empty() && !text.contains(url.as_str()) => {
                write!(f, "\n  API server: {described}")
            }
            _ => Ok(()),
        }
    }
}

impl serde::Serialize for RunErrors {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.message().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_said_in_order_with_the_server_they_came_from_once() {
        let mut errors = RunErrors::default();
        assert_eq!(errors.message(), None);
        errors.name_server(
            "https://10.0.0.1:6443",
            "https://10.0.0.1:6443 (context ci)",
        );
        assert_eq!(errors.message(), None);
        errors.push(RunError::Interrupted { signal: "Ctrl-C" });
        errors.push(RunError::CleanupAborted {
            signal: "Ctrl-C",
            command: "netverdict cleanup --run-id r1".to_owned(),
        });
        assert_eq!(
            errors.message().as_deref(),
            Some(
                "interrupted by Ctrl-C: the probes not run are reported as skipped\n\
                 cleanup aborted by a second Ctrl-C; remove what is left with `netverdict cleanup --run-id r1`\n  \
                 API server: https://10.0.0.1:6443 (context ci)"
            )
        );
        let named = RunErrors::from(RunError::Text(
            "cannot reach https://10.0.0.1:6443".to_owned(),
        ));
        let mut named = named;
        named.name_server("https://10.0.0.1:6443", "elsewhere");
        assert_eq!(named.to_string(), "cannot reach https://10.0.0.1:6443");
    }
}
