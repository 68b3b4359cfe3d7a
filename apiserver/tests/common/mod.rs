//! What the integration tests share: a secured server on loopback (TLS, client certificate and
//! token) with an exec handler that runs commands as local child processes, a kubectl bound to
//! it, and a kube-rs client.

#![allow(
    dead_code,
    reason = "each test crate uses a different part of this module"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

#[path = "../../../tests/util/kubectl.rs"]
pub mod kubectl;

use netverdict_apiserver::testing::{Credential, SecureServer};
use netverdict_apiserver::{ApiError, ExecHandler, ExecProcess, Resource, Store};
use serde_json::{Value, json};

/// Runs exec commands on this machine, for pods that exist in the store and are Running.
pub struct LocalExec {
    pub store: Store,
}

#[async_trait::async_trait]
impl ExecHandler for LocalExec {
    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        _container: Option<&str>,
        command: Vec<String>,
        stdin: bool,
    ) -> Result<ExecProcess, ApiError> {
        let object = self.store.get(Resource::Pods, Some(namespace), pod)?;
        if object.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
            return Err(ApiError::bad_request(format!("pod {pod} is not running")));
        }
        let mut child = tokio::process::Command::new(&command[0])
            .args(&command[1..])
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ApiError::bad_request(format!("cannot run {:?}: {e}", command[0])))?;
        let stdin = child
            .stdin
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>);
        let stdout = Box::new(child.stdout.take().expect("piped"));
        let stderr = Box::new(child.stderr.take().expect("piped"));
        let exit = Box::pin(async move {
            let status = child
                .wait()
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(status.code().unwrap_or(137))
        });
        Ok(ExecProcess {
            stdin,
            stdout,
            stderr,
            exit,
        })
    }
    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        _options: netverdict_apiserver::LogOptions,
    ) -> Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>, ApiError> {
        self.store.get(Resource::Pods, Some(namespace), pod)?;
        let text = format!("started {}\nserving\nready\n", container.unwrap_or("?"));
        Ok(Box::new(std::io::Cursor::new(text.into_bytes())))
    }
}

pub struct Harness {
    pub server: SecureServer,
    pub store: Store,
    pub dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(Store::new(), netverdict_apiserver::ServerOptions::default()).await
    }

    pub async fn start_with(store: Store, options: netverdict_apiserver::ServerOptions) -> Harness {
        let exec = Arc::new(LocalExec {
            store: store.clone(),
        });
        let server = SecureServer::start(store.clone(), exec, options).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("kubeconfig"),
            server.kubeconfig_yaml(Credential::ClientCertificate),
        )
        .unwrap();
        Harness { server, store, dir }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.server.addr
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// A kubectl command bound to this server, with its own cache directory.
    pub fn kubectl_command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = kubectl::tokio_command();
        command
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs kubectl to completion: (exit code, stdout, stderr).
    pub async fn kubectl(&self, args: &[&str]) -> (i32, String, String) {
        let output = self.kubectl_command(args).output().await.unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs kubectl and fails the test unless it succeeds; returns stdout.
    pub async fn kubectl_ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.kubectl(args).await;
        assert_eq!(
            code, 0,
            "kubectl {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}"
        );
        stdout
    }

    /// Writes a manifest into the temp dir and returns its path.
    pub fn manifest(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// A kube-rs client authenticated with the server's client certificate.
    pub async fn client(&self) -> kube::Client {
        self.client_with(Credential::ClientCertificate).await
    }

    /// A kube-rs client configured from a kubeconfig carrying `credential`.
    pub async fn client_with(&self, credential: Credential) -> kube::Client {
        let yaml = self.server.kubeconfig_yaml(credential);
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    /// Plays the kubelet: binds the pod to a node and reports it running and ready.
    pub fn run_pod(&self, namespace: &str, name: &str, ip: &str) {
        self.store
            .mutate(Resource::Pods, Some(namespace), name, |pod| {
                pod["spec"]["nodeName"] = json!("node-1");
                let containers: Vec<Value> = pod["spec"]["containers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| json!({"name": c["name"], "image": c["image"], "ready": true, "restartCount": 0, "started": true, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}))
                    .collect();
                pod["status"] = json!({
                    "phase": "Running",
                    "podIP": ip,
                    "podIPs": [{"ip": ip}],
                    "hostIP": "172.18.0.2",
                    "hostIPs": [{"ip": "172.18.0.2"}],
                    "qosClass": "BestEffort",
                    "conditions": [
                        {"type": "PodScheduled", "status": "True"},
                        {"type": "Initialized", "status": "True"},
                        {"type": "ContainersReady", "status": "True"},
                        {"type": "Ready", "status": "True"}
                    ],
                    "containerStatuses": containers,
                });
                Ok(())
            })
            .unwrap();
    }
}

/// An HTTP/1.1 exchange over TLS with the server's token: (status code, body as JSON or `Null`).
pub async fn http(
    h: &Harness,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Value) {
    http_as(h, Credential::Token, method, path, content_type, body).await
}

/// [`http`] with `credential`.
pub async fn http_as(
    h: &Harness,
    credential: Credential,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Value) {
    let text = exchange(h, credential, method, path, content_type, body).await;
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The raw response text of one request over TLS (`Connection: close`).
pub async fn exchange(
    h: &Harness,
    credential: Credential,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = h.server.connect(credential).await;
    let authorization = h
        .server
        .authorization(credential)
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\n{authorization}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        h.addr(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    // A server closing without TLS close_notify is an error for rustls; what arrived counts.
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}
