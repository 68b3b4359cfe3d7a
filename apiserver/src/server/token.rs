//! `POST serviceaccounts/{name}/token`: a TokenRequest, which `kubectl create token` sends,
//! answered with a token the server accepts as the ServiceAccount.

use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::app::AppState;
use super::negotiate::{decode_body, json_response, read_body, resource_error};
use crate::error::ApiError;
use crate::resource::Resource;

/// The lifetime of a token when the request names none (kube-apiserver's default).
const DEFAULT_SECONDS: i64 = 3600;
/// The shortest lifetime kube-apiserver grants.
const MIN_SECONDS: i64 = 600;

pub(super) async fn request(
    state: &AppState,
    namespace: &str,
    name: &str,
    request: Request,
) -> Response {
    match mint(state, namespace, name, request).await {
        Ok(response) => response,
        Err(e) => resource_error(&e, Resource::ServiceAccounts, name),
    }
}

async fn mint(
    state: &AppState,
    namespace: &str,
    name: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await?;
    let mut review = decode_body(&parts.headers, &body)?;
    let seconds = review
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_SECONDS);
    if seconds < MIN_SECONDS {
        return Err(ApiError::invalid(
            "TokenRequest",
            name,
            vec![(
                "spec.expirationSeconds".into(),
                format!(
                    "Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                ),
            )],
        ));
    }
    let audiences: Vec<String> = review
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let (token, expires) =
        state
            .service_account_tokens
            .mint(namespace, name, audiences.clone(), seconds)?;
    let expiration = crate::time::format_rfc3339(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(expires).unwrap_or(0)),
    );
    review["apiVersion"] = json!("authentication.k8s.io/v1");
    review["kind"] = json!("TokenRequest");
    review["metadata"] = json!({"name": name, "namespace": namespace, "creationTimestamp": null});
    review["spec"]["expirationSeconds"] = json!(seconds);
    review["spec"]["audiences"] = json!(if audiences.is_empty() {
        vec![crate::auth::SERVICE_ACCOUNT_ISSUER.to_owned()]
    } else {
        audiences
    });
    review["status"] = json!({"token": token, "expirationTimestamp": expiration});
    Ok(json_response(StatusCode::CREATED, &review))
}
