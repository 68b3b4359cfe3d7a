//! Running a command in a pod through the API's exec subresource, streaming its output.

use std::time::Duration;

use futures::future::OptionFuture;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::k8s::{Api, AttachParams, Pod, Status};

/// Bytes of stderr kept for reports; the rest is counted, not stored.
const STDERR_LIMIT: usize = 16 * 1024;

/// How an exec ended.
#[derive(Debug)]
pub(crate) struct ExecOutput {
    /// The command's exit code as the API reported it.
    pub(crate) exit_code: i32,
    /// The first bytes of stderr.
    pub(crate) stderr: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExecError {
    #[error("exec in {pod} failed to start: {}", super::failure::Failure::of(.source))]
    Start { pod: String, source: kube::Error },
    #[error("exec in {pod} did not finish within {}", humantime::format_duration(*.limit))]
    Deadline { pod: String, limit: Duration },
    #[error("exec in {pod} failed: {status}{}", stderr_suffix(.stderr))]
    Failed {
        pod: String,
        status: ExitStatusError,
        /// The first bytes of the command's stderr.
        stderr: String,
    },
    #[error("exec in {pod}: reading its output failed: {source}")]
    Stream { pod: String, source: std::io::Error },
}

/// Why an exec's status holds no exit code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExitStatusError {
    #[error("the API sent no exit status")]
    NoStatus,
    #[error("a non-zero exit without an exit code")]
    NoExitCode,
    /// A failure of the exec itself, in the server's words.
    #[error("{0}")]
    Failed(String),
}

/// `: STDERR` (trimmed), or nothing for an empty stderr.
pub(crate) fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// Runs `command` in `pod`, writes `stdin` to it (left open until the command has ended), and
/// calls `on_line` with each stdout line as it arrives.
///
/// # Errors
/// An exec that cannot start, ends without an exit status, or outlives `limit`.
///
/// # Caveats
/// kube puts no timeout on exec, hence `limit`. stdout, stderr and the status are read
/// concurrently: the client's pipes are small and reading them one after the other can hang.
pub(crate) async fn exec_lines(
    pods: &Api<Pod>,
    pod: &str,
    command: Vec<String>,
    stdin: Option<Vec<u8>>,
    limit: Duration,
    mut on_line: impl FnMut(&str),
) -> Result<ExecOutput, ExecError> {
    let params = AttachParams::default()
        .stdin(stdin.is_some())
        .stdout(true)
        .stderr(true);
    let work = async {
        let mut process =
            pods.exec(pod, command, &params)
                .await
                .map_err(|source| ExecError::Start {
                    pod: pod.to_owned(),
                    source,
                })?;
        let status = process.take_status();
        let stdout = process.stdout();
        let stderr = process.stderr();
        let writer = process.stdin();

        // stdin stays open until the exit status is in: under `v4.channel.k8s.io` (servers
        // before Kubernetes 1.30) closing it closes the whole stream, status included. The
        // command must therefore not wait for the end of its input (the agent reads one line).
        let feed = async move {
            match (writer, stdin) {
                (Some(mut writer), Some(bytes)) => {
                    writer.write_all(&bytes).await?;
                    writer.flush().await?;
                    Ok::<_, std::io::Error>(Some(writer))
                }
                (writer, _) => Ok(writer),
            }
        };
        let read_stdout = async {
            if let Some(stdout) = stdout {
                let mut lines = BufReader::new(stdout).lines();
                while let Some(line) = lines.next_line().await? {
                    on_line(&line);
                }
            }
            Ok::<(), std::io::Error>(())
        };
        let read_stderr = read_bounded(stderr, STDERR_LIMIT);
        let status: OptionFuture<_> = status.into();
        let (fed, read, err, status) = tokio::join!(feed, read_stdout, read_stderr, status);
        let stream_error = |source| ExecError::Stream {
            pod: pod.to_owned(),
            source,
        };
        let open_stdin = fed.map_err(stream_error)?;
        read.map_err(stream_error)?;
        let stderr = String::from_utf8_lossy(&err.map_err(stream_error)?).into_owned();
        let _ = process.join().await;
        drop(open_stdin);
        let exit_code =
            exit_code(status.flatten().as_ref()).map_err(|status| ExecError::Failed {
                pod: pod.to_owned(),
                status,
                stderr: stderr.clone(),
            })?;
        Ok(ExecOutput { exit_code, stderr })
    };
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(ExecError::Deadline {
            pod: pod.to_owned(),
            limit,
        }),
    }
}

/// Reads `reader` to its end, keeping its first `limit` bytes.
async fn read_bounded(
    reader: Option<impl AsyncRead + Unpin>,
    limit: usize,
) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    if let Some(mut reader) = reader {
        let mut buf = [0u8; 4096];
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            let room = limit.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
    }
    Ok(kept)
}

/// Reads the exit code from the exec status: `Success` is 0; a `NonZeroExitCode` failure carries
/// the code in its `ExitCode` cause; anything else is an error of the exec itself.
pub(crate) fn exit_code(status: Option<&Status>) -> Result<i32, ExitStatusError> {
    let Some(status) = status else {
        return Err(ExitStatusError::NoStatus);
    };
    match status.status.as_deref() {
        Some("Success") => Ok(0),
        _ if status.reason.as_deref() == Some("NonZeroExitCode") => status
            .details
            .as_ref()
            .and_then(|details| details.causes.as_ref())
            .and_then(|causes| {
                causes
                    .iter()
                    .find(|cause| cause.reason.as_deref() == Some("ExitCode"))
            })
            .and_then(|cause| cause.message.as_deref()?.parse().ok())
            .ok_or(ExitStatusError::NoExitCode),
        _ => Err(ExitStatusError::Failed(
            status
                .message
                .clone()
                .unwrap_or_else(|| "exec failed".to_owned()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

    use super::*;

    fn failure(reason: &str, causes: Vec<StatusCause>, message: &str) -> Status {
        Status {
            status: Some("Failure".to_owned()),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            details: Some(StatusDetails {
                causes: Some(causes),
                ..StatusDetails::default()
            }),
            ..Status::default()
        }
    }

    #[test]
    fn reads_exit_codes_from_statuses() {
        let success = Status {
            status: Some("Success".to_owned()),
            ..Status::default()
        };
        assert_eq!(exit_code(Some(&success)), Ok(0));
        let cause = StatusCause {
            reason: Some("ExitCode".to_owned()),
            message: Some("3".to_owned()),
            field: None,
        };
        assert_eq!(
            exit_code(Some(&failure(
                "NonZeroExitCode",
                vec![cause],
                "command terminated with non-zero exit code"
            ))),
            Ok(3)
        );
        assert!(exit_code(Some(&failure("NonZeroExitCode", vec![], "x"))).is_err());
        assert_eq!(
            exit_code(Some(&failure(
                "InternalError",
                vec![],
                "container not found"
            ))),
            Err(ExitStatusError::Failed("container not found".to_owned()))
        );
        assert_eq!(exit_code(None), Err(ExitStatusError::NoStatus));
    }
}
