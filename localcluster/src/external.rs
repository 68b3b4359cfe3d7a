//! The emulated external hosts' responder: a minimal HTTP/1.1 server answering every request with
//! `200 OK` and a body naming the host.
//!
//! It listens on TCP 80 (plain HTTP) and 443 (HTTPS) of every external address. The TLS
//! certificate is self-signed (`src/tls/cert.pem`, valid until 2126, names `external.test`,
//! `external2.test`, the `kubernetes` Service names and the emulated addresses): clients connect
//! with `curl -k`, as netverdict's probes do. The key is public by design: it protects nothing.
//! The `kubernetes` Service's emulated endpoint speaks HTTPS too and answers `403 Forbidden` with
//! a `Status`, as an API server answers an anonymous request.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

const CERT_PEM: &[u8] = include_bytes!("tls/cert.pem");
const KEY_PEM: &[u8] = include_bytes!("tls/key.pem");

/// The host name whose responder answers as an API server would.
pub(crate) const API_HOST: &str = "kubernetes";

/// The TLS server side of the emulated hosts.
pub(crate) fn tls_acceptor() -> io::Result<TlsAcceptor> {
    let invalid =
        |e: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    let certs = CertificateDer::pem_slice_iter(CERT_PEM)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&e))?;
    let key = PrivateKeyDer::from_pem_slice(KEY_PEM).map_err(|e| invalid(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// How long a connection may take to send its request head before it is answered anyway.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves connections on `listener` until the task is aborted; `host` goes into every body.
/// With `tls`, each connection is a TLS server session first.
pub(crate) async fn serve_http(
    listener: tokio::net::TcpListener,
    host: String,
    tls: Option<TlsAcceptor>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (host, tls) = (host.clone(), tls.clone());
        tokio::spawn(async move {
            let Ok(local) = stream.local_addr() else {
                return;
            };
            match tls {
                None => {
                    let _ = answer(stream, &host, local).await;
                }
                Some(acceptor) => {
                    // A client that only connects (nc -z) never completes the handshake.
                    let accepted =
                        tokio::time::timeout(READ_TIMEOUT, acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = accepted {
                        let _ = answer(stream, &host, local).await;
                    }
                }
            }
        });
    }
}

async fn answer(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    host: &str,
    local: SocketAddr,
) -> io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    // A client that only connects (nc -z) sends nothing: answer once it closes or times out.
    let _ = tokio::time::timeout(READ_TIMEOUT, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let (status, content_type, body) = if host == API_HOST {
        let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"forbidden: User \"system:anonymous\" cannot get path \"/\"","reason":"Forbidden","details":{},"code":403}"#;
        ("403 Forbidden", "application/json", format!("{body}\n"))
    } else {
        (
            "200 OK",
            "text/plain",
            format!("netverdict external host {host} ({local})\n"),
        )
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_http_on_loopback() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve_http(listener, "external.test".to_owned(), None));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.contains("external.test"), "{reply}");
        server.abort();
    }

    #[test]
    fn the_certificate_loads() {
        tls_acceptor().unwrap();
    }
}
