//! Kubeconfig files for a server of this crate: the server's URL, the CA that signed its
//! certificate and one credential, as kubectl and kube-rs read them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// How a kubeconfig's user authenticates.
#[derive(Clone, Debug)]
pub enum KubeconfigCredential {
    /// `client-certificate-data` and `client-key-data` (PEM).
    ClientCertificate { cert_pem: String, key_pem: String },
    /// `token`.
    Token(String),
    /// No credential at all (every request is rejected).
    None,
}

/// A kubeconfig with one cluster, one user and one context (`name` for all three), current
/// context set, default namespace `default`.
#[derive(Clone, Debug)]
pub struct Kubeconfig {
    pub name: String,
    /// `https://host:port`.
    pub server: String,
    /// The CA certificate (PEM) clients verify the server with.
    pub ca_pem: String,
    pub credential: KubeconfigCredential,
}

impl Kubeconfig {
    /// The YAML text, preceded by `header` lines (each written as a `#` comment) when given.
    pub fn to_yaml(&self, header: Option<&str>) -> String {
        let Kubeconfig {
            name,
            server,
            ca_pem,
            credential,
        } = self;
        let ca = STANDARD.encode(ca_pem);
        let user = match credential {
            KubeconfigCredential::ClientCertificate { cert_pem, key_pem } => format!(
                "\n    client-certificate-data: {}\n    client-key-data: {}",
                STANDARD.encode(cert_pem),
                STANDARD.encode(key_pem)
            ),
            KubeconfigCredential::Token(token) => format!("\n    token: {token}"),
            KubeconfigCredential::None => " {}".to_owned(),
        };
        let header: String = header
            .into_iter()
            .flat_map(str::lines)
            .map(|line| format!("# {line}\n"))
            .collect();
        format!(
            "{header}apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
contexts:
- name: {name}
  context:
    cluster: {name}
    user: {name}
    namespace: default
current-context: {name}
users:
- name: {name}
  user:{user}
preferences: {{}}
"
        )
    }
}
