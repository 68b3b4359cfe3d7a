//! Authentication: who sent a request, as kube-apiserver's authenticators decide it.
//!
//! An [`Authenticator`] turns what a request carries (its headers and the client certificate
//! the TLS layer verified against the client CA) into a [`UserInfo`], or rejects it. The server
//! answers a rejected request with `401 Unauthorized` and puts the identity of an accepted one
//! into the request's extensions, where handlers (and an authorizer, later) find it.
//!
//! There is no anonymous access: a request without a valid credential is rejected, as with
//! kube-apiserver's `--anonymous-auth=false`.

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::CertificateDer;

/// An authenticated user: a name and groups (`system:masters`, `system:authenticated`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

/// The group every authenticated user is in.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

impl UserInfo {
    /// A user with `groups` plus [`AUTHENTICATED_GROUP`].
    pub fn new(name: impl Into<String>, groups: &[&str]) -> UserInfo {
        let mut all: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        if !all.iter().any(|g| g == AUTHENTICATED_GROUP) {
            all.push(AUTHENTICATED_GROUP.to_owned());
        }
        UserInfo {
            name: name.into(),
            groups: all,
        }
    }
}

/// The client certificate of a connection, verified against the server's client CA during the
/// TLS handshake (the leaf first). Present in a request's extensions only when the client sent
/// one.
#[derive(Clone, Debug)]
pub struct ClientCertificate(pub Arc<Vec<CertificateDer<'static>>>);

/// What an authenticator sees of a request (its `Debug` never shows the token).
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// The token of an `Authorization: Bearer <token>` header.
    pub bearer_token: Option<&'a str>,
    /// The verified client certificate chain, leaf first.
    pub client_certificate: Option<&'a [CertificateDer<'static>]>,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("bearer_token", &self.bearer_token.map(|_| "<redacted>"))
            .field("client_certificate", &self.client_certificate.is_some())
            .finish()
    }
}

impl<'a> Credentials<'a> {
    /// The credentials of a request: its bearer token and its connection's client certificate.
    pub fn of<B>(request: &'a http::Request<B>) -> Credentials<'a> {
        let bearer_token = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty());
        let client_certificate = request
            .extensions()
            .get::<ClientCertificate>()
            .map(|c| c.0.as_slice());
        Credentials {
            bearer_token,
            client_certificate,
        }
    }
}

/// The outcome of one authenticator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authentication {
    /// The credential it handles identifies this user.
    User(UserInfo),
    /// The request carries no credential this authenticator handles: ask the next one.
    NotMine,
    /// The request carries a credential this authenticator handles, and it is not valid.
    Invalid,
}

/// Turns a request's credentials into a user. Implementations must not block.
pub trait Authenticator: Send + Sync + 'static {
    fn authenticate(&self, credentials: &Credentials<'_>) -> Authentication;
}

/// Asks each authenticator in turn; the first that recognises the request decides, as
/// kube-apiserver's union authenticator does. A request none recognises is [`Authentication::NotMine`]:
/// the server rejects it.
pub struct AnyOf(pub Vec<Arc<dyn Authenticator>>);

impl Authenticator for AnyOf {
    fn authenticate(&self, credentials: &Credentials<'_>) -> Authentication {
        let mut invalid = false;
        for authenticator in &self.0 {
            match authenticator.authenticate(credentials) {
                Authentication::User(user) => return Authentication::User(user),
                Authentication::Invalid => invalid = true,
                Authentication::NotMine => {}
            }
        }
        if invalid {
            Authentication::Invalid
        } else {
            Authentication::NotMine
        }
    }
}

/// A fresh random bearer token: 32 bytes from the system's CSPRNG, hex.
///
/// # Errors
/// The system's random source fails.
pub fn random_token() -> Result<String, ring::error::Unspecified> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Static bearer tokens (kube-apiserver's `--token-auth-file`), compared in constant time.
pub struct StaticTokens {
    /// SHA-256 of each token and the user it stands for.
    tokens: Vec<([u8; 32], UserInfo)>,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Equality of two digests whose time does not depend on where they differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

impl StaticTokens {
    pub fn new(tokens: impl IntoIterator<Item = (String, UserInfo)>) -> StaticTokens {
        StaticTokens {
            tokens: tokens
                .into_iter()
                .map(|(token, user)| (sha256(token.as_bytes()), user))
                .collect(),
        }
    }
}

impl Authenticator for StaticTokens {
    fn authenticate(&self, credentials: &Credentials<'_>) -> Authentication {
        let Some(token) = credentials.bearer_token else {
            return Authentication::NotMine;
        };
        // Comparing digests makes the time independent of the token's length too; every
        // entry is compared, so the time does not tell which one matched.
        let presented = sha256(token.as_bytes());
        let mut found = None;
        for (digest, user) in &self.tokens {
            if constant_time_eq(digest, &presented) {
                found = Some(user);
            }
        }
        match found {
            Some(user) => Authentication::User(user.clone()),
            None => Authentication::Invalid,
        }
    }
}

/// Client certificates verified against the server's client CA: the subject's common name is
/// the user, its organizations are the groups, as kube-apiserver's x509 authenticator maps them.
pub struct ClientCertificates;

impl Authenticator for ClientCertificates {
    fn authenticate(&self, credentials: &Credentials<'_>) -> Authentication {
        let Some(leaf) = credentials.client_certificate.and_then(<[_]>::first) else {
            return Authentication::NotMine;
        };
        match subject_names(leaf) {
            Some((Some(name), organizations)) if !name.is_empty() => {
                let groups: Vec<&str> = organizations.iter().map(String::as_str).collect();
                Authentication::User(UserInfo::new(name, &groups))
            }
            _ => Authentication::Invalid,
        }
    }
}

const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];

/// The subject's common name and organizations of a DER certificate.
fn subject_names(cert: &CertificateDer<'_>) -> Option<(Option<String>, Vec<String>)> {
    let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
    let mut names = Der(parsed.subject());
    let (mut common_name, mut organizations) = (None, Vec::new());
    // Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }
    while !names.is_empty() {
        let mut set = Der(names.next(0x31)?);
        while !set.is_empty() {
            let mut attribute = Der(set.next(0x30)?);
            let oid = attribute.next(0x06)?;
            let (_, value) = attribute.any()?;
            let value = std::str::from_utf8(value).ok()?.to_owned();
            if oid == OID_COMMON_NAME {
                common_name = Some(value);
            } else if oid == OID_ORGANIZATION {
                organizations.push(value);
            }
        }
    }
    Some((common_name, organizations))
}

/// A minimal DER reader over the contents of a constructed value.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next (tag, contents).
    fn any(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b))
        };
        if rest.len() < len {
            return None;
        }
        let (contents, after) = rest.split_at(len);
        self.0 = after;
        Some((tag, contents))
    }

    /// The contents of the next value, which must have `tag`.
    fn next(&mut self, tag: u8) -> Option<&'a [u8]> {
        self.any().filter(|(t, _)| *t == tag).map(|(_, c)| c)
    }
}

/// The issuer of ServiceAccount tokens, as kube-apiserver's default `--service-account-issuer`.
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// ServiceAccount tokens: minted for a TokenRequest (`kubectl create token`), accepted as
/// `system:serviceaccount:NS:NAME` in the groups `system:serviceaccounts` and
/// `system:serviceaccounts:NS` while they have not expired and the ServiceAccount (with the
/// same uid) still exists, as kube-apiserver's service account authenticator decides.
///
/// Tokens are JWTs signed with HS256 under a key that lives in memory only: a server's tokens
/// do not outlive it.
pub struct ServiceAccountTokens {
    key: ring::hmac::Key,
    store: crate::Store,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Vec<String>,
    exp: i64,
    iat: i64,
    #[serde(rename = "kubernetes.io")]
    kubernetes: KubernetesClaims,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KubernetesClaims {
    namespace: String,
    /// The pod a bound token belongs to: the token goes with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pod: Option<NamedUid>,
    serviceaccount: NamedUid,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct NamedUid {
    name: String,
    uid: String,
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

impl ServiceAccountTokens {
    /// Tokens for the ServiceAccounts of `store`, under a fresh random key.
    ///
    /// # Errors
    /// The system's random source fails.
    pub fn new(store: crate::Store) -> Result<ServiceAccountTokens, ring::error::Unspecified> {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)?;
        Ok(ServiceAccountTokens { key, store })
    }

    /// A token for the ServiceAccount `namespace/name`, valid for `seconds`, and when it expires
    /// (seconds since the epoch).
    ///
    /// # Errors
    /// `NotFound` when the ServiceAccount does not exist.
    pub fn mint(
        &self,
        namespace: &str,
        name: &str,
        audiences: Vec<String>,
        seconds: i64,
    ) -> Result<(String, i64), crate::ApiError> {
        self.mint_claims(namespace, name, audiences, seconds, None)
    }

    /// A token for the ServiceAccount `namespace/name` bound to the pod `(name, uid)` of that
    /// namespace, as the kubelet asks for a projected token: it is accepted only while that pod
    /// exists, as kube-apiserver checks a bound token's object.
    ///
    /// # Errors
    /// `NotFound` when the ServiceAccount does not exist.
    pub fn mint_for_pod(
        &self,
        namespace: &str,
        name: &str,
        audiences: Vec<String>,
        seconds: i64,
        pod: (&str, &str),
    ) -> Result<(String, i64), crate::ApiError> {
        let pod = NamedUid {
            name: pod.0.to_owned(),
            uid: pod.1.to_owned(),
        };
        self.mint_claims(namespace, name, audiences, seconds, Some(pod))
    }

    fn mint_claims(
        &self,
        namespace: &str,
        name: &str,
        audiences: Vec<String>,
        seconds: i64,
        pod: Option<NamedUid>,
    ) -> Result<(String, i64), crate::ApiError> {
        let account = self
            .store
            .get(crate::Resource::ServiceAccounts, Some(namespace), name)?;
        let uid = account
            .pointer("/metadata/uid")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let iat = crate::time::now_seconds();
        let audiences = if audiences.is_empty() {
            vec![SERVICE_ACCOUNT_ISSUER.to_owned()]
        } else {
            audiences
        };
        let claims = Claims {
            iss: SERVICE_ACCOUNT_ISSUER.to_owned(),
            sub: crate::authz::service_account_user(namespace, name),
            aud: audiences,
            exp: iat.saturating_add(seconds),
            iat,
            kubernetes: KubernetesClaims {
                namespace: namespace.to_owned(),
                pod,
                serviceaccount: NamedUid {
                    name: name.to_owned(),
                    uid,
                },
            },
        };
        let payload =
            serde_json::to_vec(&claims).map_err(|e| crate::ApiError::internal(e.to_string()))?;
        let signed = format!(
            "{}.{}",
            b64(br#"{"alg":"HS256","typ":"JWT"}"#),
            b64(&payload)
        );
        let tag = ring::hmac::sign(&self.key, signed.as_bytes());
        Ok((format!("{signed}.{}", b64(tag.as_ref())), claims.exp))
    }

    fn claims(&self, token: &str) -> Option<Result<Claims, ()>> {
        let (signed, tag) = token.rsplit_once('.')?;
        let (_, payload) = signed.split_once('.')?;
        let claims: Claims = serde_json::from_slice(&unb64(payload)?).ok()?;
        if claims.iss != SERVICE_ACCOUNT_ISSUER {
            return None;
        }
        let valid = unb64(tag)
            .is_some_and(|tag| ring::hmac::verify(&self.key, signed.as_bytes(), &tag).is_ok());
        Some(if valid { Ok(claims) } else { Err(()) })
    }
}

impl Authenticator for ServiceAccountTokens {
    fn authenticate(&self, credentials: &Credentials<'_>) -> Authentication {
        let Some(token) = credentials.bearer_token else {
            return Authentication::NotMine;
        };
        let claims = match self.claims(token) {
            None => return Authentication::NotMine,
            Some(Err(())) => return Authentication::Invalid,
            Some(Ok(claims)) => claims,
        };
        let KubernetesClaims {
            namespace,
            pod,
            serviceaccount,
        } = &claims.kubernetes;
        let uid_of = |resource, name: &str| {
            self.store
                .get(resource, Some(namespace), name)
                .ok()
                .and_then(|object| {
                    object
                        .pointer("/metadata/uid")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned)
                })
        };
        if let Some(pod) = pod
            && uid_of(crate::Resource::Pods, &pod.name).as_deref() != Some(pod.uid.as_str())
        {
            return Authentication::Invalid;
        }
        let live = uid_of(crate::Resource::ServiceAccounts, &serviceaccount.name);
        if claims.exp <= crate::time::now_seconds()
            || live.as_deref() != Some(serviceaccount.uid.as_str())
        {
            return Authentication::Invalid;
        }
        let namespaced = format!("system:serviceaccounts:{namespace}");
        Authentication::User(UserInfo::new(
            crate::authz::service_account_user(namespace, &serviceaccount.name),
            &["system:serviceaccounts", &namespaced],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(token: Option<&str>) -> Credentials<'_> {
        Credentials {
            bearer_token: token,
            client_certificate: None,
        }
    }

    #[test]
    fn tokens_identify_their_user_and_nothing_else() {
        let admin = UserInfo::new("admin", &["system:masters"]);
        let tokens = StaticTokens::new([("s3cret".to_owned(), admin.clone())]);
        assert_eq!(
            tokens.authenticate(&credentials(Some("s3cret"))),
            Authentication::User(admin)
        );
        for wrong in ["s3cre", "s3cret ", "S3CRET", ""] {
            assert_eq!(
                tokens.authenticate(&credentials(Some(wrong))),
                Authentication::Invalid,
                "{wrong:?}"
            );
        }
        assert_eq!(
            tokens.authenticate(&credentials(None)),
            Authentication::NotMine
        );
    }

    #[test]
    fn users_are_authenticated() {
        let user = UserInfo::new("a", &["g"]);
        assert_eq!(user.groups, ["g", AUTHENTICATED_GROUP]);
    }

    #[test]
    fn certificates_map_common_name_and_organizations() {
        let pki = crate::tls::Pki::generate(
            &["localhost".to_owned()],
            &UserInfo::new("kubernetes-admin", &["system:masters"]),
        )
        .unwrap();
        let chain = pki.client_chain().unwrap();
        let found = ClientCertificates.authenticate(&Credentials {
            bearer_token: None,
            client_certificate: Some(&chain),
        });
        assert_eq!(
            found,
            Authentication::User(UserInfo::new("kubernetes-admin", &["system:masters"]))
        );
    }

    #[test]
    fn the_first_authenticator_that_recognises_a_request_decides() {
        let tokens: Arc<dyn Authenticator> = Arc::new(StaticTokens::new([(
            "t".to_owned(),
            UserInfo::new("u", &[]),
        )]));
        let any = AnyOf(vec![Arc::new(ClientCertificates), tokens]);
        assert!(matches!(
            any.authenticate(&credentials(Some("t"))),
            Authentication::User(_)
        ));
        assert_eq!(
            any.authenticate(&credentials(Some("x"))),
            Authentication::Invalid
        );
        assert_eq!(
            any.authenticate(&credentials(None)),
            Authentication::NotMine
        );
    }
}
