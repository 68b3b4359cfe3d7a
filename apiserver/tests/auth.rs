//! Who may talk to the server: HTTPS only, and every request needs a valid credential (a
//! client certificate signed by the server's CA or its bearer token), as kube-apiserver with
//! `--anonymous-auth=false` decides.

mod common;

use common::{Harness, exchange, http_as};
use netverdict_apiserver::testing::Credential;
use serde_json::{Value, json};

const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"web","image":"busybox"}]}}"#;

/// The body kube-apiserver sends with a 401.
fn unauthorized() -> Value {
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})
}

#[tokio::test]
async fn requests_without_a_valid_credential_get_401() {
    let h = Harness::start().await;
    let pods = "/api/v1/namespaces/default/pods";
    let json = "application/json";
    for credential in [Credential::None, Credential::WrongToken] {
        for (method, path, body) in [
            ("GET", "/version", ""),
            ("GET", "/healthz", ""),
            ("GET", "/api/v1", ""),
            ("GET", pods, ""),
            ("POST", pods, POD),
            (
                "GET",
                "/api/v1/namespaces/default/pods/web/exec?command=id",
                "",
            ),
            ("GET", "/nope", ""),
        ] {
            let (code, response) =
                http_as(&h, credential, method, path, json, body.as_bytes()).await;
            assert_eq!(
                (code, &response),
                (401, &unauthorized()),
                "{credential:?} {method} {path}"
            );
        }
    }
    assert!(
        h.store
            .get(netverdict_apiserver::Resource::Pods, Some("default"), "web")
            .is_err()
    );
    let text = exchange(&h, Credential::None, "GET", "/version", json, b"").await;
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );

    for credential in [Credential::Token, Credential::ClientCertificate] {
        let (code, response) = http_as(&h, credential, "GET", "/version", json, b"").await;
        assert_eq!(code, 200, "{credential:?}: {response}");
    }
    let (code, created) = http_as(&h, Credential::Token, "POST", pods, json, POD.as_bytes()).await;
    assert_eq!((code, &created["metadata"]["name"]), (201, &json!("web")));
}

#[tokio::test]
async fn a_websocket_exec_without_a_credential_is_refused_before_the_upgrade() {
    let h = Harness::start().await;
    let text = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = h.server.connect(Credential::None).await;
        let head = format!(
            "GET /api/v1/namespaces/default/pods/web/exec?command=id&stdout=true HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n",
            h.addr()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut response = vec![0; 4096];
        let n = stream.read(&mut response).await.unwrap();
        String::from_utf8_lossy(&response[..n]).into_owned()
    };
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
}

#[tokio::test]
async fn plain_http_gets_no_http_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start().await;
    let mut stream = tokio::net::TcpStream::connect(h.addr()).await.unwrap();
    let head = format!(
        "GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        h.addr()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    assert!(!text.contains("HTTP/1.1"), "{text}");
    assert!(!text.contains("PodList"), "{text}");
}

#[tokio::test]
async fn a_certificate_of_another_ca_is_refused() {
    let h = Harness::start().await;
    let other = Harness::start().await;
    // Trusts `h`'s server, presents `other`'s client certificate.
    let mut pki = other.server.pki.clone();
    pki.ca_cert_pem = h.server.pki.ca_cert_pem.clone();
    let config = pki.client_config(true).unwrap();
    let tcp = tokio::net::TcpStream::connect(h.addr()).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(h.addr().ip().into());
    let connected = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        tls.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    }
    .await;
    // TLS 1.3 reports the rejected certificate on the first read.
    let response = connected.map(|r| String::from_utf8_lossy(&r).into_owned());
    assert!(
        response.as_ref().is_err() || !response.as_ref().unwrap().contains("200 OK"),
        "{response:?}"
    );
}

#[tokio::test]
async fn kubectl_and_kube_rs_need_the_credential_of_their_kubeconfig() {
    use k8s_openapi::api::core::v1::Namespace;
    let h = Harness::start().await;
    let list = |client: kube::Client| async move {
        kube::Api::<Namespace>::all(client)
            .list(&Default::default())
            .await
    };
    for credential in [Credential::ClientCertificate, Credential::Token] {
        let namespaces = list(h.client_with(credential).await).await.unwrap();
        assert!(!namespaces.items.is_empty(), "{credential:?}");
    }
    for credential in [Credential::WrongToken, Credential::None] {
        match list(h.client_with(credential).await).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!((status.code, status.reason.as_str()), (401, "Unauthorized"));
            }
            other => panic!("{credential:?}: {other:?}"),
        }
    }
    let path = h.dir.path().join("wrong-token");
    std::fs::write(&path, h.server.kubeconfig_yaml(Credential::WrongToken)).unwrap();
    let (code, _, stderr) = h
        .kubectl(&["--kubeconfig", path.to_str().unwrap(), "get", "namespaces"])
        .await;
    assert_ne!(code, 0);
    // kubectl's words for a 401.
    assert!(
        stderr.contains("You must be logged in to the server"),
        "{stderr}"
    );
    assert!(
        h.kubectl_ok(&["get", "namespaces"])
            .await
            .contains("default")
    );
}
