//! Who may use an instance's API: its own CA, serving certificate and admin credentials,
//! generated at every start, and the files that hand them to the user.
//!
//! The admin is `kubernetes-admin` in group `system:masters` (as kind names it). It can
//! authenticate with the client certificate of the instance kubeconfig or with the bearer
//! token in `secrets/token`. The CA's private key is never written anywhere: it lives in memory
//! only while the certificates are made.

use std::sync::Arc;

use netverdict_apiserver::Security;
use netverdict_apiserver::auth::{AnyOf, ClientCertificates, StaticTokens, UserInfo};
use netverdict_apiserver::kubeconfig::{Kubeconfig, KubeconfigCredential};
use netverdict_apiserver::tls::Pki;
use netverdict_netns::INFRA_IP;

use crate::cluster::{ClusterError, KUBERNETES_SERVICE_IP};
use crate::dns::CLUSTER_DOMAIN;

/// The user of an instance's credentials.
pub const ADMIN_USER: &str = "kubernetes-admin";
/// Its group.
pub const ADMIN_GROUP: &str = "system:masters";

/// The names the serving certificate is valid for: loopback, and the in-fabric addresses and
/// names of the `kubernetes` Service.
fn server_names() -> Vec<String> {
    let mut names = vec![
        "127.0.0.1".to_owned(),
        "localhost".to_owned(),
        KUBERNETES_SERVICE_IP.to_string(),
        INFRA_IP.to_string(),
        "kubernetes".to_owned(),
        "kubernetes.default".to_owned(),
        "kubernetes.default.svc".to_owned(),
    ];
    names.push(format!("kubernetes.default.svc.{CLUSTER_DOMAIN}"));
    names
}

/// The credentials of one instance.
pub(crate) struct ApiAccess {
    pki: Pki,
    token: String,
}

impl ApiAccess {
    /// # Errors
    /// The system's random source fails.
    pub(crate) fn generate() -> Result<ApiAccess, ClusterError> {
        let admin = UserInfo::new(ADMIN_USER, &[ADMIN_GROUP]);
        let pki = Pki::generate(&server_names(), &admin)
            .map_err(|e| ClusterError::Other(format!("generate the API's certificates: {e}")))?;
        let token = netverdict_apiserver::auth::random_token()
            .map_err(|_| ClusterError::Other("the system's random source failed".into()))?;
        Ok(ApiAccess { pki, token })
    }

    /// TLS with the instance's serving certificate; the admin's client certificate or token.
    pub(crate) fn security(&self) -> Security {
        let admin = UserInfo::new(ADMIN_USER, &[ADMIN_GROUP]);
        Security {
            tls: self.pki.server_tls(),
            authenticator: Arc::new(AnyOf(vec![
                Arc::new(ClientCertificates),
                Arc::new(StaticTokens::new([(self.token.clone(), admin)])),
            ])),
        }
    }

    /// The admin's kubeconfig (client certificate) for `server`.
    pub(crate) fn kubeconfig(&self, name: &str, server: String) -> Kubeconfig {
        Kubeconfig {
            name: name.to_owned(),
            server,
            ca_pem: self.pki.ca_cert_pem.clone(),
            credential: KubeconfigCredential::ClientCertificate {
                cert_pem: self.pki.client_cert_pem.clone(),
                key_pem: self.pki.client_key_pem.clone(),
            },
        }
    }

    pub(crate) fn ca_pem(&self) -> &str {
        &self.pki.ca_cert_pem
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serving_certificate_names_every_address_of_the_api() {
        let names = server_names();
        for wanted in [
            "127.0.0.1",
            "localhost",
            "10.96.0.1",
            "kubernetes.default.svc.cluster.local",
        ] {
            assert!(names.iter().any(|n| n == wanted), "{wanted}: {names:?}");
        }
        assert!(names.contains(&INFRA_IP.to_string()));
        ApiAccess::generate().unwrap();
    }
}
