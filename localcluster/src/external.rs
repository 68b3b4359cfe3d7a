//! The emulated external hosts' responder: a minimal HTTP/1.1 server answering every request with
//! `200 OK` and a body naming the host.
//!
//! It listens on TCP 80 and 443 of every external address. Port 443 speaks plain HTTP, not TLS: a
//! probe of `https://external.test` completes the TCP handshake (what a connectivity verdict
//! needs) and then fails the TLS handshake; `curl http://external.test:443/` gets a 200.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a connection may take to send its request head before it is answered anyway.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves connections on `listener` until the task is aborted; `host` goes into every body.
pub(crate) async fn serve_http(listener: tokio::net::TcpListener, host: String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let host = host.clone();
        tokio::spawn(async move {
            let _ = answer(stream, &host).await;
        });
    }
}

async fn answer(mut stream: tokio::net::TcpStream, host: &str) -> std::io::Result<()> {
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
    let local = stream.local_addr()?;
    let body = format!("netverdict external host {host} ({local})\n");
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
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
        let server = tokio::spawn(serve_http(listener, "external.test".to_owned()));
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
}
