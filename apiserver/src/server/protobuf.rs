//! Decoding of the Kubernetes protobuf envelope for the kinds kubectl's typed clients create
//! (`kubectl create namespace`, `kubectl create configmap`, `kubectl create service`): the `k8s\0` magic, a
//! `runtime.Unknown` with the type meta and the raw message, decoded into the JSON wire form.

use serde_json::{Map, Value, json};

use crate::error::ApiError;

pub(super) const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// How a field decodes.
#[derive(Clone, Copy)]
enum Field {
    String,
    Int,
    Bool,
    /// Bytes, written base64 as the JSON form writes them.
    Bytes,
    StringList,
    StringMap,
    BytesMap,
    Message(&'static [(u64, &'static str, Field)]),
    /// A repeated message.
    MessageList(&'static [(u64, &'static str, Field)]),
    /// `intstr.IntOrString`: type (1), intVal (2), strVal (3).
    IntOrString,
    /// `metav1.Time`: seconds (1) and nanos (2), written RFC 3339.
    Time,
}

const OBJECT_META: &[(u64, &str, Field)] = &[
    (1, "name", Field::String),
    (2, "generateName", Field::String),
    (3, "namespace", Field::String),
    (5, "uid", Field::String),
    (6, "resourceVersion", Field::String),
    (7, "generation", Field::Int),
    (8, "creationTimestamp", Field::Time),
    (11, "labels", Field::StringMap),
    (12, "annotations", Field::StringMap),
    (14, "finalizers", Field::StringList),
];

const NAMESPACE: &[(u64, &str, Field)] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (
        2,
        "spec",
        Field::Message(&[(1, "finalizers", Field::StringList)]),
    ),
];

const CONFIG_MAP: &[(u64, &str, Field)] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (2, "data", Field::StringMap),
    (3, "binaryData", Field::BytesMap),
    (4, "immutable", Field::Bool),
];

const SERVICE_PORT: &[(u64, &str, Field)] = &[
    (1, "name", Field::String),
    (2, "protocol", Field::String),
    (3, "port", Field::Int),
    (4, "targetPort", Field::IntOrString),
    (5, "nodePort", Field::Int),
    (6, "appProtocol", Field::String),
];

const SERVICE_SPEC: &[(u64, &str, Field)] = &[
    (1, "ports", Field::MessageList(SERVICE_PORT)),
    (2, "selector", Field::StringMap),
    (3, "clusterIP", Field::String),
    (4, "type", Field::String),
    (5, "externalIPs", Field::StringList),
    (7, "sessionAffinity", Field::String),
    (10, "externalName", Field::String),
    (11, "externalTrafficPolicy", Field::String),
    (13, "publishNotReadyAddresses", Field::Bool),
    (17, "ipFamilyPolicy", Field::String),
    (18, "clusterIPs", Field::StringList),
    (19, "ipFamilies", Field::StringList),
    (22, "internalTrafficPolicy", Field::String),
];

const SERVICE: &[(u64, &str, Field)] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (2, "spec", Field::Message(SERVICE_SPEC)),
];

const SERVICE_ACCOUNT: &[(u64, &str, Field)] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (4, "automountServiceAccountToken", Field::Bool),
];

const RESOURCE_ATTRIBUTES: &[(u64, &str, Field)] = &[
    (1, "namespace", Field::String),
    (2, "verb", Field::String),
    (3, "group", Field::String),
    (4, "version", Field::String),
    (5, "resource", Field::String),
    (6, "subresource", Field::String),
    (7, "name", Field::String),
];

const NON_RESOURCE_ATTRIBUTES: &[(u64, &str, Field)] =
    &[(1, "path", Field::String), (2, "verb", Field::String)];

const SELF_SUBJECT_ACCESS_REVIEW: &[(u64, &str, Field)] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (
        2,
        "spec",
        Field::Message(&[
            (1, "resourceAttributes", Field::Message(RESOURCE_ATTRIBUTES)),
            (
                2,
                "nonResourceAttributes",
                Field::Message(NON_RESOURCE_ATTRIBUTES),
            ),
        ]),
    ),
];

const SELF_SUBJECT_RULES_REVIEW: &[(u64, &str, Field)] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (
        2,
        "spec",
        Field::Message(&[(1, "namespace", Field::String)]),
    ),
];

const TOKEN_REQUEST: &[(u64, &str, Field)] = &[
    (1, "metadata", Field::Message(OBJECT_META)),
    (
        2,
        "spec",
        Field::Message(&[
            (1, "audiences", Field::StringList),
            (4, "expirationSeconds", Field::Int),
        ]),
    ),
];

const TYPE_META: &[(u64, &str, Field)] =
    &[(1, "apiVersion", Field::String), (2, "kind", Field::String)];

const UNKNOWN: &[(u64, &str, Field)] = &[
    (1, "typeMeta", Field::Message(TYPE_META)),
    (2, "raw", Field::Bytes),
];

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

fn malformed() -> ApiError {
    ApiError::bad_request("the protobuf body could not be decoded")
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.data.get(self.at).ok_or_else(malformed)?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed())
    }

    fn bytes(&mut self) -> Result<&[u8], ApiError> {
        let len = usize::try_from(self.varint()?).map_err(|_| malformed())?;
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(malformed)?;
        let slice = &self.data[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn skip(&mut self, wire: u64) -> Result<(), ApiError> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.advance(8),
            2 => self.bytes().map(drop),
            5 => self.advance(4),
            _ => Err(malformed()),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), ApiError> {
        if self.at + n > self.data.len() {
            return Err(malformed());
        }
        self.at += n;
        Ok(())
    }
}

fn text(bytes: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| malformed())
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn decode(data: &[u8], fields: &[(u64, &str, Field)]) -> Result<Map<String, Value>, ApiError> {
    let mut reader = Reader { data, at: 0 };
    let mut out = Map::new();
    while reader.at < data.len() {
        let key = reader.varint()?;
        let (number, wire) = (key >> 3, key & 7);
        let Some((_, name, field)) = fields.iter().find(|(n, _, _)| *n == number) else {
            reader.skip(wire)?;
            continue;
        };
        let name = (*name).to_owned();
        match (field, wire) {
            (Field::String, 2) => {
                out.insert(name, json!(text(reader.bytes()?)?));
            }
            (Field::Bytes, 2) => {
                let bytes = reader.bytes()?;
                out.insert(name, json!(base64(bytes)));
            }
            (Field::Int, 0) => {
                out.insert(name, json!(reader.varint()?));
            }
            (Field::Bool, 0) => {
                out.insert(name, json!(reader.varint()? != 0));
            }
            (Field::StringList, 2) => {
                let item = text(reader.bytes()?)?;
                let list = out.entry(name).or_insert_with(|| json!([]));
                list.as_array_mut().ok_or_else(malformed)?.push(json!(item));
            }
            (Field::StringMap | Field::BytesMap, 2) => {
                let entry = decode(
                    reader.bytes()?,
                    &[(1, "key", Field::String), (2, "value", Field::Bytes)],
                )?;
                let key = entry
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let raw = entry
                    .get("value")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let value = if matches!(field, Field::StringMap) {
                    json!(text(&decode_base64(&raw))?)
                } else {
                    json!(raw)
                };
                out.entry(name).or_insert_with(|| json!({}))[key] = value;
            }
            (Field::Message(inner), 2) => {
                out.insert(name, Value::Object(decode(reader.bytes()?, inner)?));
            }
            (Field::MessageList(inner), 2) => {
                let item = Value::Object(decode(reader.bytes()?, inner)?);
                let list = out.entry(name).or_insert_with(|| json!([]));
                list.as_array_mut().ok_or_else(malformed)?.push(item);
            }
            (Field::IntOrString, 2) => {
                let value = decode(
                    reader.bytes()?,
                    &[
                        (1, "type", Field::Int),
                        (2, "intVal", Field::Int),
                        (3, "strVal", Field::String),
                    ],
                )?;
                let decoded = if value.get("type").and_then(Value::as_u64) == Some(1) {
                    value.get("strVal").cloned().unwrap_or_else(|| json!(""))
                } else {
                    value.get("intVal").cloned().unwrap_or_else(|| json!(0))
                };
                out.insert(name, decoded);
            }
            (Field::Time, 2) => {
                let time = decode(reader.bytes()?, &[(1, "seconds", Field::Int)])?;
                let seconds = time.get("seconds").and_then(Value::as_u64).unwrap_or(0);
                let formatted = crate::time::format_rfc3339(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds),
                );
                out.insert(name, json!(formatted));
            }
            (_, wire) => reader.skip(wire)?,
        }
    }
    Ok(out)
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

/// Decodes a protobuf-encoded object into its JSON form.
///
/// # Errors
/// `415` for a kind this server cannot decode from protobuf, `400` for a malformed body.
pub(super) fn decode_object(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body.strip_prefix(MAGIC).ok_or_else(malformed)?;
    let unknown = decode(envelope, UNKNOWN)?;
    let api_version = unknown.pointer_str("/typeMeta/apiVersion");
    let kind = unknown.pointer_str("/typeMeta/kind");
    let raw = decode_base64(
        unknown
            .get("raw")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    let fields = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Service") => SERVICE,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SELF_SUBJECT_ACCESS_REVIEW,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => SELF_SUBJECT_RULES_REVIEW,
        ("authentication.k8s.io/v1", "TokenRequest") => TOKEN_REQUEST,
        _ => {
            return Err(ApiError::unsupported_media_type(&format!(
                "{MEDIA_TYPE} for {api_version}/{kind}"
            )));
        }
    };
    let mut object = decode(&raw, fields)?;
    object.insert("apiVersion".into(), json!(api_version));
    object.insert("kind".into(), json!(kind));
    Ok(Value::Object(object))
}

trait PointerStr {
    fn pointer_str(&self, pointer: &str) -> String;
}

impl PointerStr for Map<String, Value> {
    fn pointer_str(&self, pointer: &str) -> String {
        Value::Object(self.clone())
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![
            u8::try_from(number << 3 | 2).unwrap(),
            u8::try_from(payload.len()).unwrap(),
        ];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_a_namespace_and_a_config_map() {
        let meta = [
            field(1, b"demo"),
            field(11, &[field(1, b"team"), field(2, b"a")].concat()),
        ]
        .concat();
        let namespace = field(1, &meta);
        let type_meta = [field(1, b"v1"), field(2, b"Namespace")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &namespace)].concat();
        let object = decode_object(&body).unwrap();
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo", "labels": {"team": "a"}}})
        );

        let data = [
            field(2, &[field(1, b"k"), field(2, b"v")].concat()),
            field(2, &[field(1, b"k2"), field(2, b"v2")].concat()),
        ]
        .concat();
        let config_map = [field(1, &field(1, b"cm")), data].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &config_map)].concat();
        let object = decode_object(&body).unwrap();
        assert_eq!(object["data"], json!({"k": "v", "k2": "v2"}));

        assert_eq!(decode_object(b"k8s\0\x0a\xff").unwrap_err().code, 400);
        assert_eq!(decode_object(b"nope").unwrap_err().code, 400);
    }

    #[test]
    fn base64_round_trips() {
        for text in [&b""[..], b"a", b"ab", b"abc", b"abcd", &[0, 255, 7]] {
            assert_eq!(decode_base64(&base64(text)), text);
        }
    }
}
