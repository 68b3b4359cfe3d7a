//! Query parameters, `Accept` negotiation, body decoding and response encoding.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, StatusCode, header};
use netverdict_engine::Quoted;
use serde_json::Value;

use crate::error::ApiError;

/// The query string, with repeated keys (exec's `command`) kept in order.
#[derive(Clone, Debug, Default)]
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn parse(query: Option<&str>) -> Result<Query, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("the query string is malformed: {e}")))?;
        Ok(Query(pairs))
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean parameter as the API server parses it (`true`, `1`; absent is false).
    pub(super) fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| matches!(v, "true" | "1" | "True" | "TRUE"))
    }

    /// # Errors
    /// `BadRequest` for a value that is not an integer.
    pub(super) fn integer(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "invalid value {} for {key}: not an integer",
                        Quoted(v)
                    ))
                })
            })
            .transpose()
    }
}

/// The representation a client asked for in `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Representation {
    Object,
    Table,
    PartialObjectMetadata,
}

/// Picks the first acceptable media range of `Accept`.
///
/// # Errors
/// `406 NotAcceptable` when only unsupported media types (protobuf, CBOR) are acceptable.
pub(super) fn representation(headers: &HeaderMap) -> Result<Representation, ApiError> {
    let Some(accept) = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|a| !a.trim().is_empty())
    else {
        return Ok(Representation::Object);
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let essence = parts.next().unwrap_or_default();
        if !matches!(
            essence,
            "application/json" | "*/*" | "application/*" | "application/yaml"
        ) {
            continue;
        }
        let mut as_kind = None;
        let mut group = None;
        for param in parts {
            if let Some((k, v)) = param.split_once('=') {
                match k.trim() {
                    "as" => as_kind = Some(v.trim()),
                    "g" => group = Some(v.trim()),
                    _ => {}
                }
            }
        }
        match (as_kind, group) {
            (None, _) => return Ok(Representation::Object),
            (Some("Table"), Some("meta.k8s.io")) => return Ok(Representation::Table),
            (Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io")) => {
                return Ok(Representation::PartialObjectMetadata);
            }
            _ => {}
        }
    }
    Err(ApiError::new(
        406,
        "NotAcceptable",
        format!(
            "only the following media types are accepted: application/json, application/yaml; got {}",
            Quoted(accept)
        ),
    ))
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes))
        .expect("a valid response")
}

/// The `metav1.Status` of an error; `details` is (name, group, kind) when known.
pub(super) fn error_response(error: &ApiError, details: Option<(&str, &str, &str)>) -> Response {
    let status = StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &error.to_status(details))
}

/// The Status of an error about `name` of `resource`: `Invalid` names the kind and the object
/// (kubectl prints "The Kind \"name\" is invalid"), other reasons the resource.
pub(super) fn resource_error(
    error: &ApiError,
    resource: crate::resource::Resource,
    name: &str,
) -> Response {
    // A create names the object only in its body; the message quotes it.
    let named = if name.is_empty() {
        error.message.split('"').nth(1).unwrap_or_default()
    } else {
        name
    };
    if error.reason == "Invalid" {
        let kind = error
            .message
            .split(' ')
            .next()
            .filter(|k| !k.is_empty())
            .unwrap_or(resource.kind());
        return error_response(error, Some((named, resource.group(), kind)));
    }
    error_response(error, Some((named, resource.group(), resource.plural())))
}

/// The largest request body accepted, as the API server limits it.
const MAX_BODY: usize = 3 * 1024 * 1024;

pub(super) async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("the request body could not be read: {e}"),
        )
    })
}

/// Decodes a JSON (or, for YAML media types, YAML) body.
///
/// # Errors
/// `415` for an unsupported media type, `400` for a body that does not parse.
pub(super) fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence == super::protobuf::MEDIA_TYPE {
        return super::protobuf::decode_object(body);
    }
    let yaml = matches!(essence, "application/yaml" | "application/apply-patch+yaml");
    let json_like = matches!(
        essence,
        "application/json"
            | "application/json-patch+json"
            | "application/merge-patch+json"
            | "application/strategic-merge-patch+json"
            | ""
    );
    if !yaml && !json_like {
        return Err(ApiError::unsupported_media_type(content_type));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(e) if !yaml => Err(ApiError::bad_request(format!(
            "the body of the request could not be decoded: {e}"
        ))),
        Err(_) => {
            let text = std::str::from_utf8(body)
                .map_err(|e| ApiError::bad_request(format!("the body is not UTF-8: {e}")))?;
            serde_saphyr::from_str::<Value>(text)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_accept(accept: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, accept.parse().unwrap());
        headers
    }

    #[test]
    fn accept_negotiation() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            representation(&with_accept(kubectl)).unwrap(),
            Representation::Table
        );
        assert_eq!(
            representation(&with_accept("application/json")).unwrap(),
            Representation::Object
        );
        assert_eq!(
            representation(&HeaderMap::new()).unwrap(),
            Representation::Object
        );
        assert_eq!(
            representation(&with_accept(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            ))
            .unwrap(),
            Representation::PartialObjectMetadata
        );
        assert_eq!(
            representation(&with_accept("application/vnd.kubernetes.protobuf"))
                .unwrap_err()
                .code,
            406
        );
        assert_eq!(
            representation(&with_accept(
                "application/vnd.kubernetes.protobuf,application/json"
            ))
            .unwrap(),
            Representation::Object
        );
    }

    #[test]
    fn bodies() {
        let mut headers = HeaderMap::new();
        assert_eq!(decode_body(&headers, b"{\"a\":1}").unwrap()["a"], 1);
        assert_eq!(decode_body(&headers, b"{\"a\":").unwrap_err().code, 400);
        headers.insert(
            header::CONTENT_TYPE,
            "application/apply-patch+yaml".parse().unwrap(),
        );
        assert_eq!(
            decode_body(&headers, b"a: 1\nb: [x]\n").unwrap()["b"][0],
            "x"
        );
        assert_eq!(decode_body(&headers, b"a: [").unwrap_err().code, 400);
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(decode_body(&headers, b"{}").unwrap_err().code, 415);
    }
}
