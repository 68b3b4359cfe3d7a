//! Why a request to the API server failed, in words for the user: the one place that reads a
//! `kube::Error` (and the hyper, rustls and I/O errors it wraps) and says what happened.
//!
//! kube-rs reports every transport problem as `ServiceError: client error (Connect)`, and an API
//! Status with a Rust Debug dump. [`Failure::of`] walks the `source()` chain instead (descending
//! into `std::io::Error`s, whose `source()` skips the error they wrap) and names the cause:
//! connection refused, a TLS verification failure and why, a timeout, a name that does not
//! resolve, or the server's own Status (`403 Forbidden: ...`). [`NameRequests`] is the client
//! layer that records which request failed (`GET https://host/api/v1/...`), since kube-rs keeps
//! no trace of it.

use std::error::Error as StdError;
use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tower::BoxError;

use crate::k8s::KubeStatus;

/// A request that got no answer: what was sent where, and the transport error.
#[derive(Debug, thiserror::Error)]
#[error("{method} {server}{path}")]
pub(crate) struct RequestFailed {
    method: http::Method,
    server: String,
    path: String,
    /// The client's connect timeout, to say how long it waited.
    connect_timeout: Option<Duration>,
    #[source]
    source: BoxError,
}

/// A client layer wrapping each transport error in a [`RequestFailed`].
#[derive(Clone, Debug)]
pub(crate) struct NameRequests {
    pub(crate) server: String,
    pub(crate) connect_timeout: Option<Duration>,
}

impl<S> tower::Layer<S> for NameRequests {
    type Service = Named<S>;

    fn layer(&self, inner: S) -> Named<S> {
        Named {
            inner,
            names: self.clone(),
        }
    }
}

/// The service of [`NameRequests`].
#[derive(Clone)]
pub(crate) struct Named<S> {
    inner: S,
    names: NameRequests,
}

impl<S, B> tower::Service<http::Request<B>> for Named<S>
where
    S: tower::Service<http::Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.method().clone();
        let path = request
            .uri()
            .path_and_query()
            .map_or_else(String::new, ToString::to_string);
        let names = self.names.clone();
        let answer = self.inner.call(request);
        Box::pin(async move {
            answer.await.map_err(|source| {
                Box::new(RequestFailed {
                    method,
                    server: names.server.trim_end_matches('/').to_owned(),
                    path,
                    connect_timeout: names.connect_timeout,
                    source: source.into(),
                }) as BoxError
            })
        })
    }
}

/// A failed request, described: the request when one was sent and got no answer, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// `GET https://host/path` for a transport failure; an API Status names its object itself.
    pub(crate) request: Option<String>,
    pub(crate) cause: Cause,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The server answered with an error Status.
    Status {
        code: u16,
        reason: String,
        message: String,
    },
    /// Nothing listens at the server's address.
    Refused,
    /// The TLS handshake failed.
    Tls(TlsProblem),
    /// No connection (TCP and TLS) within the connect timeout.
    TimedOut { after: Option<Duration> },
    /// The server's host name does not resolve.
    NotResolved { host: String },
    /// The connection was closed or reset before an answer came.
    Closed(String),
    /// Anything else: the messages of the error chain.
    Other(String),
}

/// Why a TLS handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TlsProblem {
    /// The server's certificate is signed by no CA the client trusts (`why`: no trusted CA
    /// has its issuer's name, or one has the name but did not sign it).
    UnknownCa(&'static str),
    /// The certificate does not name the address connected to.
    NameMismatch(String),
    /// The certificate has expired.
    Expired(String),
    /// The certificate is not valid yet.
    NotValidYet(String),
    /// The server sent a TLS alert (it rejected the client, often its certificate).
    AlertReceived(String),
    /// The connection ended during the handshake.
    Eof,
    Other(String),
}

impl Failure {
    /// Describes `error`.
    pub(crate) fn of(error: &kube::Error) -> Failure {
        if let kube::Error::Api(status) = error {
            return Failure::status(status);
        }
        let chain = chain(error);
        let request = chain.iter().find_map(|e| e.downcast_ref::<RequestFailed>());
        Failure {
            request: request.map(ToString::to_string),
            cause: cause(&chain, request),
        }
    }

    /// Describes an error Status from the server.
    pub(crate) fn status(status: &KubeStatus) -> Failure {
        Failure {
            request: None,
            cause: Cause::Status {
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.request {
            Some(request) => write!(f, "{request}: {}", self.cause),
            None => write!(f, "{}", self.cause),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Status {
                code,
                reason,
                message,
            } => {
                // kube-rs's reason for an error body that is not a Status (a proxy's page).
                let reason = if reason.is_empty() || reason == "Failed to parse error data" {
                    http::StatusCode::from_u16(*code)
                        .ok()
                        .and_then(|c| c.canonical_reason())
                        .unwrap_or("")
                } else {
                    reason
                };
                match (reason.is_empty(), message.is_empty()) {
                    (_, true) => write!(f, "{code} {reason}"),
                    (true, false) => write!(f, "{code}: {message}"),
                    (false, false) => write!(f, "{code} {reason}: {message}"),
                }
            }
            Cause::Refused => write!(f, "connection refused (nothing listens at that address)"),
            Cause::Tls(problem) => write!(f, "{problem}"),
            Cause::TimedOut { after: Some(after) } => write!(
                f,
                "no connection within {} (connect timeout, --connect-timeout): the address does not answer",
                humantime::format_duration(*after)
            ),
            Cause::TimedOut { after: None } => write!(f, "timed out"),
            Cause::NotResolved { host } => write!(f, "the name {host} does not resolve"),
            Cause::Closed(what) => write!(f, "{what}"),
            Cause::Other(message) => write!(f, "{message}"),
        }
    }
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsProblem::UnknownCa(why) => write!(
                f,
                "TLS verification failed: the server's certificate is not signed by the CA the kubeconfig trusts (unknown CA: {why}; check certificate-authority-data)"
            ),
            TlsProblem::NameMismatch(detail) => write!(
                f,
                "TLS verification failed: the server's certificate is not valid for this address (name mismatch: {detail})"
            ),
            TlsProblem::Expired(detail) => write!(
                f,
                "TLS verification failed: the server's certificate has expired ({detail})"
            ),
            TlsProblem::NotValidYet(detail) => write!(
                f,
                "TLS verification failed: the server's certificate is not valid yet ({detail})"
            ),
            TlsProblem::AlertReceived(alert) => write!(
                f,
                "TLS handshake failed: the server rejected it ({alert}; is the client certificate right?)"
            ),
            TlsProblem::Eof => write!(
                f,
                "TLS handshake failed: the server closed the connection (is it an HTTPS API server?)"
            ),
            TlsProblem::Other(detail) => write!(f, "TLS handshake failed: {detail}"),
        }
    }
}

/// `error` and its sources, descending into the error an `std::io::Error` wraps.
fn chain<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        out.push(error);
        next = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => error.source(),
        };
    }
    out
}

fn cause(chain: &[&(dyn StdError + 'static)], request: Option<&RequestFailed>) -> Cause {
    if let Some(tls) = chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>()) {
        return Cause::Tls(tls_problem(tls));
    }
    for error in chain {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Cause::Refused,
                std::io::ErrorKind::TimedOut => {
                    return Cause::TimedOut {
                        after: request.and_then(|r| r.connect_timeout),
                    };
                }
                std::io::ErrorKind::UnexpectedEof if io.to_string().contains("handshake") => {
                    return Cause::Tls(TlsProblem::Eof);
                }
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
                    return Cause::Closed("the server reset the connection".to_owned());
                }
                _ => {}
            }
        }
        // hyper-util names a failed resolution only in its message.
        if error.to_string() == "dns error" {
            return Cause::NotResolved {
                host: request.map_or_else(|| "of the server".to_owned(), host_of),
            };
        }
        if let Some(hyper) = error.downcast_ref::<hyper::Error>()
            && hyper.is_incomplete_message()
        {
            return Cause::Closed("the server closed the connection before answering".to_owned());
        }
    }
    Cause::Other(messages(chain))
}

fn host_of(request: &RequestFailed) -> String {
    request
        .server
        .parse::<http::Uri>()
        .ok()
        .and_then(|uri| uri.host().map(str::to_owned))
        .unwrap_or_else(|| request.server.clone())
}

fn tls_problem(error: &rustls::Error) -> TlsProblem {
    use rustls::CertificateError as C;
    match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            C::UnknownIssuer => TlsProblem::UnknownCa("no trusted CA has its issuer's name"),
            // Same-named CAs are common (kubeadm names every cluster's CA `kubernetes`).
            C::BadSignature => {
                TlsProblem::UnknownCa("a trusted CA has its issuer's name but did not sign it")
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                TlsProblem::NameMismatch(certificate.to_string())
            }
            C::Expired | C::ExpiredContext { .. } => TlsProblem::Expired(certificate.to_string()),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                TlsProblem::NotValidYet(certificate.to_string())
            }
            C::Revoked => TlsProblem::Other("the server's certificate is revoked".to_owned()),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => TlsProblem::Other(
                "the server's certificate is not for serving TLS (extended key usage)".to_owned(),
            ),
            other => TlsProblem::Other(format!("the server's certificate is invalid ({other})")),
        },
        rustls::Error::AlertReceived(alert) => {
            let name = alert
                .as_str()
                .map_or_else(|| format!("number {}", u8::from(*alert)), str::to_lowercase);
            TlsProblem::AlertReceived(format!("alert {name}"))
        }
        other => TlsProblem::Other(other.to_string()),
    }
}

/// The chain's messages without kube-rs's type prefixes, skipping a message that the one
/// before it embeds already.
fn messages(chain: &[&(dyn StdError + 'static)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for error in chain {
        // The request is named apart; a service error only wraps it.
        if error.is::<RequestFailed>()
            || matches!(
                error.downcast_ref::<kube::Error>(),
                Some(kube::Error::Service(_))
            )
        {
            continue;
        }
        let text = error.to_string();
        let text = strip_kube_prefix(&text);
        if text.is_empty() || parts.last().is_some_and(|last| last.contains(text)) {
            continue;
        }
        parts.push(text.to_owned());
    }
    parts.join(": ")
}

fn strip_kube_prefix(text: &str) -> &str {
    ["HyperError: ", "HttpError: "]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(KubeStatus {
            code,
            reason: reason.to_owned(),
            message: message.to_owned(),
            ..KubeStatus::default()
        }))
    }

    fn transport(source: BoxError) -> kube::Error {
        kube::Error::Service(Box::new(RequestFailed {
            method: http::Method::GET,
            server: "https://127.0.0.1:6443".to_owned(),
            path: "/api/v1/namespaces/port".to_owned(),
            connect_timeout: Some(Duration::from_secs(2)),
            source,
        }))
    }

    #[test]
    fn a_status_shows_code_reason_and_message_without_a_debug_dump() {
        let message = r#"namespaces "afp" is forbidden: User "limited" cannot get resource "namespaces" in API group "" in the namespace "afp""#;
        let text = Failure::of(&status(403, "Forbidden", message)).to_string();
        assert_eq!(text, format!("403 Forbidden: {message}"));
        assert_eq!(
            Failure::of(&status(404, "", "")).to_string(),
            "404 Not Found"
        );
    }

    #[test]
    fn transport_errors_name_the_request_and_the_cause() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let failure = Failure::of(&transport(Box::new(std::io::Error::other(refused))));
        assert_eq!(failure.cause, Cause::Refused);
        assert!(
            failure.to_string().starts_with(
                "GET https://127.0.0.1:6443/api/v1/namespaces/port: connection refused"
            ),
            "{failure}"
        );
        let elapsed = std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline has elapsed");
        let failure = Failure::of(&transport(Box::new(elapsed)));
        assert_eq!(
            failure.cause,
            Cause::TimedOut {
                after: Some(Duration::from_secs(2))
            }
        );
        assert!(failure.to_string().contains("no connection within 2s"));
    }

    #[test]
    fn tls_causes_come_from_the_rustls_error_inside_an_io_error() {
        let tls = |e: rustls::CertificateError| {
            let io = std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(e),
            );
            Failure::of(&transport(Box::new(io))).cause
        };
        for unknown in [
            rustls::CertificateError::UnknownIssuer,
            rustls::CertificateError::BadSignature,
        ] {
            assert!(matches!(tls(unknown), Cause::Tls(TlsProblem::UnknownCa(_))));
        }
        assert!(matches!(
            tls(rustls::CertificateError::NotValidForName),
            Cause::Tls(TlsProblem::NameMismatch(_))
        ));
        assert!(matches!(
            tls(rustls::CertificateError::Expired),
            Cause::Tls(TlsProblem::Expired(_))
        ));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("dns error")]
    struct DnsError(#[source] std::io::Error);

    #[test]
    fn an_unresolved_name_names_the_host() {
        let io = std::io::Error::other("failed to lookup address information");
        let failure = Failure::of(&transport(Box::new(DnsError(io))));
        assert_eq!(
            failure.cause,
            Cause::NotResolved {
                host: "127.0.0.1".to_owned()
            }
        );
    }

    #[test]
    fn other_errors_show_their_chain_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("inner problem")]
        struct Inner;
        let failure = Failure::of(&transport(Box::new(Outer(Inner))));
        assert_eq!(
            failure.cause,
            Cause::Other("outer: inner problem".to_owned())
        );
    }
}
