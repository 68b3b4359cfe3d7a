//! TLS of the API server: the serving configuration ([`ServerTls`]) and a generated PKI
//! ([`Pki`]: a CA, a serving certificate and a client certificate), with ring as the crypto
//! provider (the one kube's rustls uses).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::auth::UserInfo;

/// Errors of building TLS material or configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("read PEM ({what}): {message}")]
    Pem { what: &'static str, message: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("client CA: {0}")]
    ClientCa(String),
}

/// What the server presents and whom it asks for client certificates.
#[derive(Clone)]
pub struct ServerTls {
    /// The serving certificate chain, leaf first, PEM.
    pub cert_chain_pem: String,
    /// Its private key, PEM (PKCS#8, SEC1 or PKCS#1).
    pub key_pem: String,
    /// CA certificates (PEM) that client certificates must chain to; `None` asks for none.
    /// Clients without a certificate may still connect (they need another credential).
    pub client_ca_pem: Option<String>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("client_ca", &self.client_ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

fn certs(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            message: "no certificate".into(),
        });
    }
    Ok(certs)
}

impl ServerTls {
    /// The rustls configuration: TLS 1.2 and 1.3, HTTP/1.1 (ALPN), client certificates
    /// optional and verified against the client CA.
    ///
    /// # Errors
    /// Unreadable PEM, a key that does not match, or an unusable CA.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certs(&self.cert_chain_pem, "serving certificate")?;
        let key =
            PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| TlsError::Pem {
                what: "serving key",
                message: e.to_string(),
            })?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = match &self.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in certs(pem, "client CA")? {
                    roots.add(ca)?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// A CA of its own, a serving certificate it signed and a client certificate it signed: what
/// one API server instance needs, generated fresh (ECDSA P-256), valid from an hour ago for a
/// year.
#[derive(Clone)]
pub struct Pki {
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

fn validity(params: &mut CertificateParams) {
    let now = SystemTime::now();
    params.not_before = (now - Duration::from_secs(3600)).into();
    params.not_after = (now + Duration::from_secs(365 * 24 * 3600)).into();
}

impl Pki {
    /// Generates the CA, a serving certificate for `server_names` (DNS names or IP addresses)
    /// and a client certificate for `client` (common name = user, organization = its first
    /// group other than the implicit `system:authenticated`).
    ///
    /// # Errors
    /// A name that is neither a DNS name nor an address.
    pub fn generate(server_names: &[String], client: &UserInfo) -> Result<Pki, TlsError> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name = rcgen::DistinguishedName::new();
        ca.distinguished_name
            .push(DnType::CommonName, "netverdict-ca");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut ca);
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = rcgen::Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server = CertificateParams::new(server_names.to_vec())?;
        server.distinguished_name = rcgen::DistinguishedName::new();
        server
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.use_authority_key_identifier_extension = true;
        validity(&mut server);
        let server_cert = server.signed_by(&server_key, &issuer)?;

        let client_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, client.name.as_str());
        // rcgen writes one value per attribute type: the first group only.
        if let Some(group) = client
            .groups
            .iter()
            .find(|g| *g != crate::auth::AUTHENTICATED_GROUP)
        {
            params
                .distinguished_name
                .push(DnType::OrganizationName, group.as_str());
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params);
        let client_cert = params.signed_by(&client_key, &issuer)?;

        Ok(Pki {
            ca_cert_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        })
    }

    /// The server side: the serving certificate, client certificates checked against the CA.
    pub fn server_tls(&self) -> ServerTls {
        ServerTls {
            cert_chain_pem: self.server_cert_pem.clone(),
            key_pem: self.server_key_pem.clone(),
            client_ca_pem: Some(self.ca_cert_pem.clone()),
        }
    }

    /// The client certificate as DER (the leaf only, as clients send it).
    ///
    /// # Errors
    /// Unreadable PEM (never for a generated PKI).
    pub fn client_chain(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        certs(&self.client_cert_pem, "client certificate")
    }

    /// A rustls client configuration that trusts only this CA and, with `with_certificate`,
    /// presents the client certificate.
    ///
    /// # Errors
    /// Unreadable PEM (never for a generated PKI).
    pub fn client_config(
        &self,
        with_certificate: bool,
    ) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for ca in certs(&self.ca_cert_pem, "CA")? {
            roots.add(ca)?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let config = if with_certificate {
            let key =
                PrivateKeyDer::from_pem_slice(self.client_key_pem.as_bytes()).map_err(|e| {
                    TlsError::Pem {
                        what: "client key",
                        message: e.to_string(),
                    }
                })?;
            builder.with_client_auth_cert(self.client_chain()?, key)?
        } else {
            builder.with_no_client_auth()
        };
        Ok(Arc::new(config))
    }
}
