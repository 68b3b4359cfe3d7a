//! `pods/{name}/exec` over WebSocket, subprotocols `v5.channel.k8s.io` and `v4.channel.k8s.io`:
//! binary frames whose first byte is the channel (0 stdin, 1 stdout, 2 stderr, 3 status,
//! 4 resize; v5 adds 255 to close a stream), the `metav1.Status` last, then a normal close.
//! A client's close frame ends the session: nothing more is sent, not even the status (under v4
//! that is how a client that closes stdin loses the exit status, as on a real server).

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::response::Response;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::app::AppState;
use super::negotiate::{Query, error_response};
use crate::error::ApiError;
use crate::resource::Resource;
use crate::{ExecProcess, LogOptions};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const CLOSE: u8 = 255;

/// The subprotocols served, in order of preference.
const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// The subprotocols this server offers.
fn protocols(v5: bool) -> &'static [&'static str] {
    if v5 { &PROTOCOLS } else { &PROTOCOLS[1..] }
}

/// What the client asked to run.
struct ExecRequest {
    namespace: String,
    pod: String,
    container: Option<String>,
    command: Vec<String>,
    stdin: bool,
}

pub(super) async fn handle(
    state: AppState,
    namespace: String,
    pod: String,
    query: Query,
    request: Request,
) -> Response {
    let details = (pod.clone(), String::new(), "pods".to_owned());
    match start(state, namespace, pod, query, request).await {
        Ok(response) => response,
        Err(e) => error_response(&e, Some((&details.0, &details.1, &details.2))),
    }
}

async fn start(
    state: AppState,
    namespace: String,
    pod: String,
    query: Query,
    request: Request,
) -> Result<Response, ApiError> {
    if !matches!(*request.method(), Method::GET | Method::POST) {
        return Err(ApiError::method_not_allowed("exec accepts GET and POST"));
    }
    let command = query.all("command");
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let (stdin, stdout, stderr) = (
        query.flag("stdin"),
        query.flag("stdout"),
        query.flag("stderr"),
    );
    if !stdin && !stdout && !stderr {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    if query.flag("tty") && stderr {
        return Err(ApiError::bad_request(
            "stdin, stdout, stderr: tty cannot be used with stderr",
        ));
    }
    let object = state.store.get(Resource::Pods, Some(&namespace), &pod)?;
    check_target(&object, &pod, query.get("container"))?;
    let (mut parts, _) = request.into_parts();
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state)
        .await
        .map_err(|_| ApiError::bad_request("Upgrade request required"))?;
    let offered = protocols(state.options.exec_v5);
    let upgrade = upgrade.protocols(offered.iter().copied());
    let Some(protocol) = upgrade
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .map(str::to_owned)
    else {
        return Err(ApiError::bad_request(format!(
            "the WebSocket subprotocol must be one of {}",
            offered.join(", ")
        )));
    };
    let exec = ExecRequest {
        namespace,
        pod,
        container: query
            .get("container")
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        command,
        stdin,
    };
    let v5 = protocol.starts_with("v5.");
    Ok(upgrade.on_upgrade(move |socket| run(state, socket, exec, v5, stdout, stderr)))
}

/// What the API server checks before it connects to the kubelet: the container is one of the
/// pod's and the pod is bound to a node.
fn check_target(pod: &Value, name: &str, container: Option<&str>) -> Result<(), ApiError> {
    if let Some(container) = container.filter(|c| !c.is_empty()) {
        let known = ["containers", "initContainers", "ephemeralContainers"]
            .iter()
            .any(|list| {
                pod.pointer(&format!("/spec/{list}"))
                    .and_then(Value::as_array)
                    .is_some_and(|cs| cs.iter().any(|c| c["name"] == container))
            });
        if !known {
            return Err(ApiError::bad_request(format!(
                "container {container} is not valid for pod {name}"
            )));
        }
    }
    if pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    Ok(())
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(Bytes::from(bytes))
}

/// The status the API server sends on channel 3 when the command ended.
pub(crate) fn exit_status(command: &[String], code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", command.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

fn error_status(error: &ApiError) -> Value {
    json!({"metadata": {}, "status": "Failure", "message": error.message, "reason": error.reason, "code": error.code})
}

async fn pump(
    mut reader: Box<dyn AsyncRead + Send + Unpin>,
    channel: u8,
    forward: bool,
    tx: mpsc::Sender<Message>,
) {
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if forward && tx.send(frame(channel, &buffer[..n])).await.is_err() {
                    // The client is gone; keep draining so the process is never blocked on a pipe.
                    while matches!(reader.read(&mut buffer).await, Ok(n) if n > 0) {}
                    return;
                }
            }
        }
    }
}

async fn run(
    state: AppState,
    socket: WebSocket,
    exec: ExecRequest,
    v5: bool,
    stdout: bool,
    stderr: bool,
) {
    let (mut sink, mut stream) = socket.split();
    let started = state
        .exec
        .exec(
            &exec.namespace,
            &exec.pod,
            exec.container.as_deref(),
            exec.command.clone(),
            exec.stdin,
        )
        .await;
    let process: ExecProcess = match started {
        Ok(process) => process,
        Err(e) => {
            let _ = sink
                .send(frame(
                    STATUS,
                    &serde_json::to_vec(&error_status(&e)).unwrap_or_default(),
                ))
                .await;
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code: 1000,
                    reason: "".into(),
                })))
                .await;
            return;
        }
    };
    let ExecProcess {
        stdin,
        stdout: out,
        stderr: err,
        exit,
    } = process;
    let (tx, mut rx) = mpsc::channel::<Message>(16);
    tokio::spawn(pump(out, STDOUT, stdout, tx.clone()));
    tokio::spawn(pump(err, STDERR, stderr, tx));
    // The client's frames: stdin data, the v5 close signal, resize (ignored), close. The task
    // ends when the client closes or goes away, and `closed` says so.
    let (closed_tx, mut closed) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut stdin = stdin;
        while let Some(Ok(message)) = stream.next().await {
            match message {
                Message::Binary(data) if data.first() == Some(&STDIN) => {
                    if let Some(writer) = stdin.as_mut()
                        && (writer.write_all(&data[1..]).await.is_err()
                            || writer.flush().await.is_err())
                    {
                        stdin = None;
                    }
                }
                Message::Binary(data)
                    if v5 && data.first() == Some(&CLOSE) && data.get(1) == Some(&STDIN) =>
                {
                    if let Some(mut writer) = stdin.take() {
                        let _ = writer.shutdown().await;
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        // Said before stdin closes, which may end the command.
        drop(closed_tx);
        drop(stdin);
    });
    let mut client_gone = false;
    loop {
        tokio::select! {
            biased;
            _ = &mut closed => {
                client_gone = true;
                break;
            }
            message = rx.recv() => {
                let Some(message) = message else { break };
                if sink.send(message).await.is_err() {
                    client_gone = true;
                }
            }
            () = state.shutdown.cancelled() => {
                client_gone = true;
                break;
            }
        }
    }
    if !client_gone {
        let status = match exit.await {
            Ok(code) => exit_status(&exec.command, code),
            Err(e) => error_status(&e),
        };
        let _ = sink
            .send(frame(
                STATUS,
                &serde_json::to_vec(&status).unwrap_or_default(),
            ))
            .await;
    }
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "".into(),
        })))
        .await;
    // The client answers the close frame: read its answer before closing, or the unread bytes
    // make the kernel reset the connection, which clients report as an error instead of the
    // end of the output. Then the shutdown (a TLS close_notify, then FIN).
    let mut reader = reader;
    if tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, &mut reader)
        .await
        .is_err()
    {
        reader.abort();
    }
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, sink.close()).await;
}

/// How long an ending exec waits for the client's part of the closing handshake.
const CLOSE_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// `GET pods/{name}/log`: the container's output as `text/plain`, streamed when following.
pub(super) async fn logs(
    state: AppState,
    namespace: String,
    pod: String,
    query: Query,
    request: Request,
) -> Response {
    let readable = matches!(*request.method(), Method::GET | Method::HEAD);
    drop(request);
    let result = async {
        if !readable {
            return Err(ApiError::method_not_allowed("logs accept GET"));
        }
        state.store.get(Resource::Pods, Some(&namespace), &pod)?;
        let options = LogOptions {
            follow: query.flag("follow"),
            previous: query.flag("previous"),
            timestamps: query.flag("timestamps"),
            tail_lines: query.integer("tailLines")?,
        };
        let container = query.get("container").filter(|c| !c.is_empty());
        let follow = options.follow;
        let tail = options.tail_lines;
        let mut reader = state
            .exec
            .logs(&namespace, &pod, container, options)
            .await?;
        let body = if follow {
            let stream = tokio_util::io::ReaderStream::new(reader);
            axum::body::Body::from_stream(stream)
        } else {
            let mut text = Vec::new();
            reader
                .read_to_end(&mut text)
                .await
                .map_err(|e| ApiError::internal(format!("reading the log: {e}")))?;
            axum::body::Body::from(tail_lines(&text, tail))
        };
        Ok(Response::builder()
            .header(http::header::CONTENT_TYPE, "text/plain")
            .body(body)
            .expect("a valid response"))
    }
    .await;
    match result {
        Ok(response) => response,
        Err(e) => error_response(&e, Some((&pod, "", "pods"))),
    }
}

/// The last `tail` lines of `text` (all of it for `None` or a negative count).
fn tail_lines(text: &[u8], tail: Option<i64>) -> Vec<u8> {
    let Some(n) = tail.and_then(|n| usize::try_from(n).ok()) else {
        return text.to_vec();
    };
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    if n == 0 || body.is_empty() {
        return Vec::new();
    }
    let mut start = 0;
    let mut seen = 0;
    for (i, byte) in body.iter().enumerate().rev() {
        if *byte == b'\n' {
            seen += 1;
            if seen == n {
                start = i + 1;
                break;
            }
        }
    }
    text[start..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails() {
        let text = b"a\nb\nc\n";
        assert_eq!(tail_lines(text, None), text);
        assert_eq!(tail_lines(text, Some(1)), b"c\n");
        assert_eq!(tail_lines(text, Some(2)), b"b\nc\n");
        assert_eq!(tail_lines(text, Some(5)), text);
        assert_eq!(tail_lines(text, Some(0)), b"");
        assert_eq!(tail_lines(text, Some(-1)), text);
    }

    #[test]
    fn exit_statuses() {
        assert_eq!(exit_status(&["true".into()], 0)["status"], "Success");
        let failed = exit_status(&["sh".into()], 3);
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(
            failed["details"]["causes"][0],
            json!({"reason": "ExitCode", "message": "3"})
        );
    }
}
