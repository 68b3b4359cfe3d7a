//! Test support (feature `test-support`): a [`SecureServer`] on loopback with a PKI and a token
//! of its own, the kubeconfigs that reach it, and raw TLS connections for tests that write
//! HTTP by hand.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::auth::{AnyOf, ClientCertificates, StaticTokens, UserInfo};
use crate::kubeconfig::{Kubeconfig, KubeconfigCredential};
use crate::tls::Pki;
use crate::{ApiError, ApiServer, ExecHandler, ExecProcess, Security, ServerOptions, Store};

/// The user of [`SecureServer`]'s credentials.
pub const TEST_USER: &str = "test-admin";
/// Its group.
pub const TEST_GROUP: &str = "system:masters";

/// Runs no command: for tests that never get as far as exec.
pub struct NoExec;

#[async_trait::async_trait]
impl ExecHandler for NoExec {
    async fn exec(
        &self,
        _namespace: &str,
        pod: &str,
        _container: Option<&str>,
        _command: Vec<String>,
        _stdin: bool,
    ) -> Result<ExecProcess, ApiError> {
        Err(ApiError::bad_request(format!("no exec in {pod}")))
    }
}

/// How a test authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// The server's client certificate.
    ClientCertificate,
    /// The server's bearer token.
    Token,
    /// A bearer token the server does not know.
    WrongToken,
    /// Nothing.
    None,
}

/// An API server on 127.0.0.1 with its own CA, serving certificate, client certificate and
/// bearer token, accepting both credentials.
pub struct SecureServer {
    pub server: ApiServer,
    pub pki: Pki,
    pub token: String,
}

impl SecureServer {
    /// Starts a server; the serving certificate names 127.0.0.1 and localhost.
    ///
    /// # Panics
    /// When the server cannot start (this is for tests).
    pub async fn start(
        store: Store,
        exec: Arc<dyn ExecHandler>,
        options: ServerOptions,
    ) -> SecureServer {
        let user = UserInfo::new(TEST_USER, &[TEST_GROUP]);
        let pki =
            Pki::generate(&["127.0.0.1".to_owned(), "localhost".to_owned()], &user).expect("a PKI");
        let token = format!("test-{}", uuid::Uuid::new_v4().simple());
        let security = Security {
            tls: pki.server_tls(),
            authenticator: Arc::new(AnyOf(vec![
                Arc::new(ClientCertificates),
                Arc::new(StaticTokens::new([(token.clone(), user)])),
            ])),
        };
        let bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = ApiServer::start(store, exec, bind, options, security)
            .await
            .expect("the API server starts");
        SecureServer { server, pki, token }
    }

    /// A kubeconfig (context `test`) that reaches the server with `credential`.
    pub fn kubeconfig_yaml(&self, credential: Credential) -> String {
        let credential = match credential {
            Credential::ClientCertificate => KubeconfigCredential::ClientCertificate {
                cert_pem: self.pki.client_cert_pem.clone(),
                key_pem: self.pki.client_key_pem.clone(),
            },
            Credential::Token => KubeconfigCredential::Token(self.token.clone()),
            Credential::WrongToken => KubeconfigCredential::Token("not-the-token".to_owned()),
            Credential::None => KubeconfigCredential::None,
        };
        Kubeconfig {
            name: "test".to_owned(),
            server: self.server.url(),
            ca_pem: self.pki.ca_cert_pem.clone(),
            credential,
        }
        .to_yaml(None)
    }

    /// The `Authorization` header value of `credential` (`None` for a client certificate or no
    /// credential).
    pub fn authorization(&self, credential: Credential) -> Option<String> {
        match credential {
            Credential::Token => Some(format!("Bearer {}", self.token)),
            Credential::WrongToken => Some("Bearer not-the-token".to_owned()),
            Credential::ClientCertificate | Credential::None => None,
        }
    }

    /// A TLS connection to the server that trusts its CA and, for
    /// [`Credential::ClientCertificate`], presents the client certificate.
    ///
    /// # Panics
    /// When the connection fails.
    pub async fn connect(&self, credential: Credential) -> TlsStream<tokio::net::TcpStream> {
        let config = self
            .pki
            .client_config(credential == Credential::ClientCertificate)
            .expect("a client configuration");
        let tcp = tokio::net::TcpStream::connect(self.server.addr)
            .await
            .expect("connect");
        let name = ServerName::IpAddress(self.server.addr.ip().into());
        TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .expect("TLS handshake")
    }
}
