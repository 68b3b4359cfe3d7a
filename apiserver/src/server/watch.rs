//! Watch streams: newline-delimited `{type, object}` events, bookmarks, timeouts, and the
//! in-stream `410 Expired` ERROR event for a resourceVersion older than the kept history.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use netverdict_engine::Quoted;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::app::AppState;
use super::negotiate::{Query, Representation, error_response, representation};
use super::rest::{partial_metadata, selection};
use super::table;
use crate::error::ApiError;
use crate::resource::Resource;
use crate::store::{WatchEvent, object_resource_version};

/// How an event's object is shown to this watch.
#[derive(Clone, Copy)]
struct Encoding<'a> {
    resource: Resource,
    representation: Representation,
    include_object: Option<&'a str>,
}

impl Encoding<'_> {
    fn event(&self, kind: &str, object: &Value) -> Bytes {
        let object = match self.representation {
            Representation::Object => object.clone(),
            Representation::PartialObjectMetadata => partial_metadata(object),
            Representation::Table => table::table(
                self.resource,
                std::slice::from_ref(object),
                object_resource_version(object),
                self.include_object,
            ),
        };
        line(&json!({"type": kind, "object": object}))
    }

    fn bookmark(&self, resource_version: u64, initial_events_end: bool) -> Bytes {
        let mut object = json!({
            "kind": self.resource.kind(),
            "apiVersion": self.resource.api_version(),
            "metadata": {"resourceVersion": resource_version.to_string()},
        });
        if initial_events_end {
            object["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(&json!({"type": "BOOKMARK", "object": object}))
    }
}

fn line(value: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn streaming(rx: mpsc::Receiver<Bytes>) -> Response {
    let mut rx = rx;
    let stream = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|item| item.map(Ok::<_, Infallible>))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .expect("a valid response")
}

pub(super) async fn serve(
    state: AppState,
    resource: Resource,
    namespace: Option<String>,
    query: Query,
    headers: &HeaderMap,
) -> Response {
    let details = (
        String::new(),
        resource.group().to_owned(),
        resource.plural().to_owned(),
    );
    let fail = |e: ApiError| error_response(&e, Some((&details.0, &details.1, &details.2)));
    let representation = match representation(headers) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let resource_version = match query.get("resourceVersion").filter(|rv| !rv.is_empty()) {
        None => None,
        Some(rv) => match rv.parse::<u64>() {
            Ok(rv) => Some(rv),
            Err(_) => {
                return fail(ApiError::bad_request(format!(
                    "invalid resource version: {}",
                    Quoted(rv)
                )));
            }
        },
    };
    let timeout = match query.integer("timeoutSeconds") {
        // Zero or less means "the server's default", as for the API server.
        Ok(Some(seconds)) if seconds > 0 => {
            Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
        }
        Ok(Some(_)) => state.options.default_watch_timeout,
        Ok(None) => state.options.default_watch_timeout,
        Err(e) => return fail(e),
    };
    let bookmarks = query.flag("allowWatchBookmarks");
    // A streaming list: what exists as ADDED events, then a bookmark marking their end.
    let send_initial = query.flag("sendInitialEvents");
    let resource_version = if send_initial { None } else { resource_version };
    let include_object = query.get("includeObject").map(str::to_owned);
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let started = match state.store.watch_counted(
        resource,
        namespace.as_deref(),
        &selection(&query),
        resource_version,
    ) {
        Ok(started) => started,
        Err(e) if e.code == 410 => {
            // Clients expect an expired resourceVersion as an ERROR event in a 200 stream.
            let status = e.to_status(None);
            let _ = tx.try_send(line(&json!({"type": "ERROR", "object": status})));
            return streaming(rx);
        }
        Err(e) => return fail(e),
    };
    tokio::spawn(async move {
        let encoding = Encoding {
            resource,
            representation,
            include_object: include_object.as_deref(),
        };
        let initial_end = send_initial.then_some((started.backlog, started.resource_version));
        pump(
            state,
            started.events,
            tx,
            encoding,
            timeout,
            bookmarks,
            initial_end,
        )
        .await;
    });
    streaming(rx)
}

/// Forwards store events until the timeout, a closed client, a closed store watch or shutdown.
async fn pump(
    state: AppState,
    mut events: mpsc::Receiver<WatchEvent>,
    tx: mpsc::Sender<Bytes>,
    encoding: Encoding<'_>,
    timeout: Duration,
    bookmarks: bool,
    initial_end: Option<(usize, u64)>,
) {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(state.options.bookmark_interval);
    ticker.tick().await;
    let mut last_sent = 0u64;
    let encode = |event: WatchEvent, last_sent: &mut u64| match event {
        WatchEvent::Added(o) => {
            *last_sent = (*last_sent).max(object_resource_version(&o));
            encoding.event("ADDED", &o)
        }
        WatchEvent::Modified(o) => {
            *last_sent = (*last_sent).max(object_resource_version(&o));
            encoding.event("MODIFIED", &o)
        }
        WatchEvent::Deleted(o) => {
            *last_sent = (*last_sent).max(object_resource_version(&o));
            encoding.event("DELETED", &o)
        }
        WatchEvent::Bookmark { resource_version } => {
            *last_sent = (*last_sent).max(resource_version);
            encoding.bookmark(resource_version, false)
        }
    };
    // The initial-events-end bookmark follows the last of the first `backlog` events.
    let (mut backlog, end_rv) = match initial_end {
        Some((backlog, rv)) => (Some(backlog), rv),
        None => (None, 0),
    };
    let after_event = |backlog: &mut Option<usize>, out: &mut Vec<Bytes>| {
        if *backlog == Some(0) {
            out.push(encoding.bookmark(end_rv, true));
            *backlog = None;
        }
    };
    let mut first = Vec::new();
    after_event(&mut backlog, &mut first);
    for bytes in first {
        if tx.send(bytes).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            () = &mut deadline => break,
            () = state.shutdown.cancelled() => break,
            () = tx.closed() => break,
            event = events.recv() => {
                let Some(event) = event else { break };
                let mut out = vec![encode(event, &mut last_sent)];
                backlog = backlog.map(|n| n.saturating_sub(1));
                after_event(&mut backlog, &mut out);
                for bytes in out {
                    if tx.send(bytes).await.is_err() {
                        return;
                    }
                }
            }
            _ = ticker.tick(), if bookmarks => {
                // Every change up to `now` is already queued: deliver it, then vouch for `now`.
                let now = state.store.resource_version();
                let mut queued = Vec::new();
                while let Ok(event) = events.try_recv() {
                    queued.push(encode(event, &mut last_sent));
                    backlog = backlog.map(|n| n.saturating_sub(1));
                    after_event(&mut backlog, &mut queued);
                }
                queued.push(encoding.bookmark(now.max(last_sent), false));
                for bytes in queued {
                    if tx.send(bytes).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
