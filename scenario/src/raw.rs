//! The scenario file format as written by users (`netverdict.io/v1alpha1`, kind `Scenario`).
//!
//! These types parse YAML strictly (unknown fields are errors) and generate the JSON Schema; the
//! validated, expanded model lives in [`crate::model`]. Fields that can take several
//! shapes (`to`, `port`, `expect`, matrix ports) have hand-written deserializers that dispatch on
//! the YAML node kind, so errors stay precise (no `untagged` enums).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_saphyr::Spanned;

pub const API_VERSION: &str = "netverdict.io/v1alpha1";
pub const KIND: &str = "Scenario";

/// One scenario document.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "netverdict Scenario",
    description = "A netverdict scenario: probe pods, NetworkPolicies and the verdicts expected from probes."
)]
pub struct RawScenario {
    #[schemars(with = "String", extend("const" = API_VERSION))]
    pub api_version: Spanned<String>,
    #[schemars(with = "String", extend("const" = KIND))]
    pub kind: Spanned<String>,
    pub metadata: RawMetadata,
    pub spec: RawSpec,
}

#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Metadata")]
pub struct RawMetadata {
    /// DNS-1123 label, unique in a run.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Spec")]
pub struct RawSpec {
    #[serde(default)]
    pub defaults: Option<RawDefaults>,
    /// Namespaces the run creates (and deletes).
    #[serde(default)]
    pub namespaces: Vec<RawNamespace>,
    /// Probe pods the run spawns.
    #[serde(default)]
    pub pods: Vec<RawPod>,
    /// Services the run creates in front of its pods.
    #[serde(default)]
    pub services: Vec<RawService>,
    /// NetworkPolicies in force while probing: inline objects or `{file: PATH}`.
    #[serde(default)]
    pub policies: Vec<RawPolicyItem>,
    #[serde(default)]
    #[schemars(with = "Vec<RawProbe>")]
    pub probes: Vec<Spanned<RawProbe>>,
}

#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Defaults")]
pub struct RawDefaults {
    /// Per-probe timeout (humantime, e.g. `2s`, `500ms`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Which outcomes satisfy `expect: deny`: `any` (the default), `drop` or `reject`.
    #[serde(default)]
    #[schemars(with = "Option<DenyMode>", extend("default" = "any"))]
    pub deny: Option<Spanned<DenyMode>>,
}

/// Which observed outcomes satisfy `expect: deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DenyMode {
    /// Only a timeout (packets dropped), as Calico and Cilium enforce policies: for suites that
    /// require a silent drop.
    Drop,
    /// Only a refusal (a TCP reset or an ICMP unreachable), as kube-router and k3s enforce
    /// policies: for suites that require a reject.
    Reject,
    /// The default: a timeout, or a refusal from a target shown to listen (by its positive
    /// control or an allowed probe), so a deny holds whether the network drops or rejects.
    Any,
}

impl DenyMode {
    /// The name scenarios and reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyMode::Drop => "drop",
            DenyMode::Reject => "reject",
            DenyMode::Any => "any",
        }
    }
}

#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Namespace")]
pub struct RawNamespace {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// `kubernetes.io/metadata.name=<name>` is always added.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Pod")]
pub struct RawPod {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[schemars(with = "String")]
    pub namespace: Spanned<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// What the pod serves; names are usable by named-port policies and probes.
    #[serde(default)]
    pub ports: Vec<RawServedPort>,
    /// Pins the pod to a node.
    #[serde(default)]
    pub node: Option<String>,
}

#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ServedPort")]
pub struct RawServedPort {
    #[schemars(with = "u16", range(min = 1))]
    pub port: Spanned<u32>,
    #[serde(default)]
    pub protocol: Option<Protocol>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
}

/// Transport protocol.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Deserialize,
    Serialize,
    JsonSchema,
)]
pub enum Protocol {
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Service")]
pub struct RawService {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[schemars(with = "String")]
    pub namespace: Spanned<String>,
    /// Pods (of the service's namespace) backing the service.
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<RawServicePort>,
}

#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "ServicePort")]
pub struct RawServicePort {
    #[schemars(with = "u16", range(min = 1))]
    pub port: Spanned<u32>,
    /// A number or a port name of the backing pods; defaults to `port`.
    #[serde(default)]
    #[schemars(with = "Option<PortRef>")]
    pub target_port: Option<Spanned<PortRef>>,
    #[serde(default)]
    pub protocol: Option<Protocol>,
    #[serde(default)]
    pub name: Option<String>,
}

/// A port number or a port name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortRef {
    Number(i64),
    Name(String),
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(s) => f.write_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for PortRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PortRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port number (1-65535) or a port name")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortRef, E> {
                Ok(PortRef::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortRef, E> {
                Ok(PortRef::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortRef, E> {
                Ok(match v.parse::<i64>() {
                    Ok(n) => PortRef::Number(n),
                    Err(_) => PortRef::Name(v.to_string()),
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for PortRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PortRef::Number(n) => s.serialize_i64(*n),
            PortRef::Name(name) => s.serialize_str(name),
        }
    }
}

impl JsonSchema for PortRef {
    fn schema_name() -> Cow<'static, str> {
        "PortRef".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A port number or a port name.",
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 65535},
                {"type": "string", "minLength": 1, "maxLength": 15}
            ]
        })
    }
}

/// An entry of `spec.policies`: either `{file: PATH}` or an inline NetworkPolicy.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPolicyItem {
    /// A YAML file relative to the scenario file; may hold several NetworkPolicy documents.
    #[serde(default)]
    pub file: Option<Spanned<String>>,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: Option<crate::policy::RawObjectMeta>,
    #[serde(default)]
    pub spec: Option<crate::policy::RawPolicySpec>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "Only describes the schema of `{file: PATH}`.")]
struct PolicyFileRef {
    /// A YAML file relative to the scenario file; may hold several NetworkPolicy documents.
    file: String,
}

impl JsonSchema for RawPolicyItem {
    fn schema_name() -> Cow<'static, str> {
        "PolicyItem".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A NetworkPolicy (networking.k8s.io/v1) or a reference to a file of them.",
            "oneOf": [
                generator.subschema_for::<PolicyFileRef>(),
                generator.subschema_for::<crate::policy::RawNetworkPolicy>()
            ]
        })
    }
}

/// How a probe connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// A TCP connection (`nc`).
    Tcp,
    /// An HTTP request (`curl`).
    Http,
    /// A DNS query (`nslookup`).
    Dns,
    /// A UDP datagram whose echo proves delivery (`nc -u`).
    Udp,
    /// An SCTP association.
    Sctp,
}

/// One entry of `spec.probes`: a single probe, or a `matrix` of probes.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Probe")]
pub struct RawProbe {
    /// A readable name; generated when absent.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// A pod of this scenario, `<namespace>/<pod>`, or `{like: ...}`: a probe pod that
    /// NetworkPolicies select as they select a deployed workload.
    #[serde(default)]
    #[schemars(with = "Option<RawSource>")]
    pub from: Option<Spanned<RawSource>>,
    #[serde(default)]
    #[schemars(with = "Option<RawTarget>")]
    pub to: Option<Spanned<RawTarget>>,
    #[serde(default)]
    #[schemars(with = "Option<PortRef>")]
    pub port: Option<Spanned<PortRef>>,
    #[serde(default)]
    #[schemars(with = "Option<Protocol>")]
    pub protocol: Option<Spanned<Protocol>>,
    #[serde(default)]
    #[schemars(with = "Option<Via>")]
    pub via: Option<Spanned<Via>>,
    /// `allow`, `deny` or `auto` (computed from the policies; the default); a matrix also takes truth tables.
    #[serde(default)]
    #[schemars(with = "Option<RawExpect>")]
    pub expect: Option<Spanned<RawExpect>>,
    /// Overrides `spec.defaults.timeout`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Overrides `spec.defaults.deny`.
    #[serde(default)]
    #[schemars(with = "Option<DenyMode>")]
    pub deny: Option<Spanned<DenyMode>>,
    /// `via: http`: the request path (default `/`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// `via: http`: `http` (default) or `https`.
    #[serde(default)]
    pub scheme: Option<Scheme>,
    /// `via: http`: the expected status code of an allowed request (default: any).
    #[serde(default)]
    #[schemars(with = "Option<u16>", range(min = 100, max = 599))]
    pub status: Option<Spanned<u32>>,
    /// `via: dns`: the name to resolve.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub query: Option<Spanned<String>>,
    /// `via: dns`: what the reached server must answer: `nxdomain`, `resolves`, or
    /// `{addresses: [...]}` (exactly these, in any order). Any answer when absent.
    #[serde(default)]
    #[schemars(with = "Option<RawAnswer>")]
    pub answer: Option<Spanned<RawAnswer>>,
    /// A cartesian product of sources, targets and ports, one probe per cell.
    #[serde(default)]
    pub matrix: Option<RawMatrix>,
}

/// A DNS answer expectation as written.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Answer")]
pub enum RawAnswer {
    /// `nxdomain` or `resolves`.
    Word(String),
    /// The exact addresses of the answer.
    Addresses(RawAddresses),
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAddresses {
    pub addresses: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// The spelling scenarios use: `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Matrix")]
pub struct RawMatrix {
    #[schemars(with = "Vec<RawSource>")]
    pub from: Vec<Spanned<RawSource>>,
    #[schemars(with = "Vec<RawTarget>")]
    pub to: Vec<Spanned<RawTarget>>,
    #[schemars(with = "Vec<RawMatrixPort>")]
    pub ports: Vec<Spanned<RawMatrixPort>>,
}

/// A matrix port: a number, a port name, or `{port, protocol, via}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMatrixPort {
    pub port: Spanned<PortRef>,
    pub protocol: Option<Spanned<Protocol>>,
    pub via: Option<Spanned<Via>>,
}

#[derive(serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MatrixPortMap")]
struct RawMatrixPortMap {
    #[schemars(with = "PortRef")]
    port: Spanned<PortRef>,
    #[serde(default)]
    #[schemars(with = "Option<Protocol>")]
    protocol: Option<Spanned<Protocol>>,
    #[serde(default)]
    #[schemars(with = "Option<Via>")]
    via: Option<Spanned<Via>>,
}

impl<'de> Deserialize<'de> for RawMatrixPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawMatrixPort;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port number, a port name, or {port, protocol, via}")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(unlocated_port(PortRef::Number(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(unlocated_port(PortRef::Number(
                    i64::try_from(v).unwrap_or(i64::MAX),
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(unlocated_port(match v.parse::<i64>() {
                    Ok(n) => PortRef::Number(n),
                    Err(_) => PortRef::Name(v.to_string()),
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let m = RawMatrixPortMap::deserialize(MapAccessDeserializer::new(map))?;
                Ok(RawMatrixPort {
                    port: m.port,
                    protocol: m.protocol,
                    via: m.via,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// The location of a scalar matrix port is the one of its enclosing `Spanned`.
fn unlocated_port(port: PortRef) -> RawMatrixPort {
    let unknown = serde_saphyr::Location::UNKNOWN;
    RawMatrixPort {
        port: Spanned::new(port, unknown, unknown),
        protocol: None,
        via: None,
    }
}

impl JsonSchema for RawMatrixPort {
    fn schema_name() -> Cow<'static, str> {
        "MatrixPort".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [generator.subschema_for::<PortRef>(), generator.subschema_for::<RawMatrixPortMap>()]
        })
    }
}

/// Where a probe goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawTarget {
    /// `"<namespace>/<pod>"`.
    Pod(String),
    Service {
        service: Spanned<String>,
        namespace: Spanned<String>,
    },
    Pods {
        namespace: Spanned<String>,
        selector: crate::policy::RawLabelSelector,
        pick: Option<Spanned<Pick>>,
    },
    /// A workload deployed in a namespace the scenario does not create.
    Workload {
        workload: RawWorkload,
        pick: Option<Spanned<Pick>>,
    },
    Host(Spanned<String>),
    Ip(Spanned<String>),
}

#[derive(serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "TargetMap")]
struct RawTargetMap {
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    service: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    namespace: Option<Spanned<String>>,
    #[serde(default)]
    pods: Option<RawPodsTarget>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    host: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    ip: Option<Spanned<String>>,
    #[serde(default)]
    workload: Option<RawWorkload>,
    #[serde(default)]
    #[schemars(with = "Option<Pick>")]
    pick: Option<Spanned<Pick>>,
}

#[derive(serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PodsTarget")]
struct RawPodsTarget {
    #[schemars(with = "String")]
    namespace: Spanned<String>,
    selector: crate::policy::RawLabelSelector,
}

impl<'de> Deserialize<'de> for RawTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawTarget;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#""<namespace>/<pod>", {service, namespace}, {pods: {namespace, selector}}, {workload: {namespace, kind, name}}, {host} or {ip}"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawTarget, E> {
                Ok(RawTarget::Pod(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawTarget, A::Error> {
                let m = RawTargetMap::deserialize(MapAccessDeserializer::new(map))?;
                let pick = m.pick;
                let picks = pick.is_some();
                match (m.service, m.namespace, m.pods, m.host, m.ip, m.workload) {
                    (Some(service), Some(namespace), None, None, None, None) if !picks => {
                        Ok(RawTarget::Service { service, namespace })
                    }
                    (Some(_), None, None, None, None, None) => {
                        Err(de::Error::custom("a service target needs `namespace`"))
                    }
                    (None, None, Some(p), None, None, None) => Ok(RawTarget::Pods {
                        namespace: p.namespace,
                        selector: p.selector,
                        pick,
                    }),
                    (None, None, None, None, None, Some(workload)) => {
                        Ok(RawTarget::Workload { workload, pick })
                    }
                    (None, None, None, Some(host), None, None) if !picks => {
                        Ok(RawTarget::Host(host))
                    }
                    (None, None, None, None, Some(ip), None) if !picks => Ok(RawTarget::Ip(ip)),
                    _ if picks => Err(de::Error::custom(
                        "`pick` goes with a `workload` or `pods` target",
                    )),
                    _ => Err(de::Error::custom(
                        "a target map holds exactly one of {service, namespace}, {pods}, {workload}, {host} or {ip}",
                    )),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for RawTarget {
    fn schema_name() -> Cow<'static, str> {
        "Target".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let selector = generator.subschema_for::<crate::policy::RawLabelSelector>();
        let workload = generator.subschema_for::<RawWorkload>();
        let pick = generator.subschema_for::<Pick>();
        json_schema!({
            "description": "A scenario pod \"<namespace>/<pod>\", a service, the pods matching a selector, a deployed workload, a host name or an IP address. In a namespace the scenario does not create, `pods`, `workload` and `service` name what is deployed there, found at run time.",
            "oneOf": [
                {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                {"type": "object", "additionalProperties": false, "required": ["service", "namespace"],
                 "properties": {"service": {"type": "string"}, "namespace": {"type": "string"}}},
                {"type": "object", "additionalProperties": false, "required": ["pods"],
                 "properties": {"pods": {"type": "object", "additionalProperties": false, "required": ["namespace", "selector"],
                    "properties": {"namespace": {"type": "string"}, "selector": selector}}, "pick": pick}},
                {"type": "object", "additionalProperties": false, "required": ["workload"],
                 "properties": {"workload": workload, "pick": pick}},
                {"type": "object", "additionalProperties": false, "required": ["host"],
                 "properties": {"host": {"type": "string"}}},
                {"type": "object", "additionalProperties": false, "required": ["ip"],
                 "properties": {"ip": {"type": "string"}}}
            ]
        })
    }
}

/// An expectation as written: a verdict word, a truth table, or a map port -> truth table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawExpect {
    Word(String),
    Table(String),
    Tables(BTreeMap<String, Spanned<String>>),
}

impl<'de> Deserialize<'de> for RawExpect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawExpect;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("allow, deny, auto, a truth table, or a map of port to truth table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawExpect, E> {
                Ok(if v.trim().contains('\n') {
                    RawExpect::Table(v.to_string())
                } else {
                    RawExpect::Word(v.to_string())
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawExpect, A::Error> {
                let mut tables = BTreeMap::new();
                while let Some(key) = map.next_key::<PortRef>()? {
                    let table = map.next_value::<Spanned<String>>()?;
                    tables.insert(key.to_string(), table);
                }
                Ok(RawExpect::Tables(tables))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for RawExpect {
    fn schema_name() -> Cow<'static, str> {
        "Expect".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "allow | deny | auto, or for a matrix a truth table (one for all ports, or a map port -> table) as the Kubernetes e2e suite prints them.",
            "anyOf": [
                {"type": "string", "enum": ["allow", "deny", "auto"]},
                {"type": "string", "pattern": "\n"},
                {"type": "object", "additionalProperties": {"type": "string"}}
            ]
        })
    }
}

/// Which pods of a deployed workload (or selector) a probe goes to.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Pick {
    /// Every Ready pod: one probe per pod (the default).
    #[default]
    All,
    /// One Ready pod, the first by name.
    One,
    /// One Ready pod per node, the first by name on each.
    PerNode,
}

impl Pick {
    /// The word scenarios use.
    pub fn as_str(self) -> &'static str {
        match self {
            Pick::All => "all",
            Pick::One => "one",
            Pick::PerNode => "perNode",
        }
    }
}

/// The kinds of deployed workload a probe may target or copy.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Deserialize,
    Serialize,
    JsonSchema,
)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Pod,
}

impl WorkloadKind {
    /// The kind as the API names it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Pod => "Pod",
        }
    }

    /// The kind as kubectl names its resource: `deployment`, `statefulset`.
    pub fn resource(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::StatefulSet => "statefulset",
            WorkloadKind::DaemonSet => "daemonset",
            WorkloadKind::Pod => "pod",
        }
    }
}

/// A deployed workload: `{namespace, kind, name}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Workload")]
pub struct RawWorkload {
    /// A namespace the scenario does not create.
    #[schemars(with = "String")]
    pub namespace: Spanned<String>,
    #[schemars(with = "WorkloadKind")]
    pub kind: Spanned<WorkloadKind>,
    #[schemars(with = "String")]
    pub name: Spanned<String>,
}

/// What a mimic copies: a workload, or the pods a selector picks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawLike {
    Workload(RawWorkload),
    Pods {
        namespace: Spanned<String>,
        selector: crate::policy::RawLabelSelector,
    },
}

#[derive(serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Like")]
struct RawLikeMap {
    #[serde(default)]
    workload: Option<RawWorkload>,
    #[serde(default)]
    pods: Option<RawPodsTarget>,
}

impl<'de> Deserialize<'de> for RawLike {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawLikeMap::deserialize(d)? {
            RawLikeMap {
                workload: Some(w),
                pods: None,
            } => Ok(RawLike::Workload(w)),
            RawLikeMap {
                workload: None,
                pods: Some(p),
            } => Ok(RawLike::Pods {
                namespace: p.namespace,
                selector: p.selector,
            }),
            _ => Err(de::Error::custom(
                "`like` holds exactly one of {workload: {namespace, kind, name}} or {pods: {namespace, selector}}",
            )),
        }
    }
}

impl JsonSchema for RawLike {
    fn schema_name() -> Cow<'static, str> {
        "Like".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let selector = generator.subschema_for::<crate::policy::RawLabelSelector>();
        let workload = generator.subschema_for::<RawWorkload>();
        json_schema!({
            "description": "A deployed workload, or the pods a selector picks in a namespace the scenario does not create.",
            "oneOf": [
                {"type": "object", "additionalProperties": false, "required": ["workload"],
                 "properties": {"workload": workload}},
                {"type": "object", "additionalProperties": false, "required": ["pods"],
                 "properties": {"pods": {"type": "object", "additionalProperties": false, "required": ["namespace", "selector"],
                    "properties": {"namespace": {"type": "string"}, "selector": selector}}}}
            ]
        })
    }
}

/// Where a mimic runs: a node by name, the node of a workload's pod, or a node none of its pods
/// run on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Placement")]
pub struct RawPlacement {
    /// A node by name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub node: Option<Spanned<String>>,
    /// The node of a Ready pod of this workload (or selector).
    #[serde(default)]
    pub same_node_as: Option<RawLike>,
    /// A node where no pod of this workload (or selector) runs.
    #[serde(default)]
    pub other_node_than: Option<RawLike>,
}

/// A probe's source as written: a scenario pod, or a mimic of a deployed workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawSource {
    /// `"<namespace>/<pod>"`.
    Pod(String),
    /// `{like: ..., placement: ...}`.
    Like {
        like: Box<RawLike>,
        placement: Option<Box<RawPlacement>>,
    },
}

#[derive(serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SourceMap")]
struct RawSourceMap {
    like: RawLike,
    #[serde(default)]
    placement: Option<RawPlacement>,
}

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSource;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    r#""<namespace>/<pod>" or {like: {workload: ...} or {pods: ...}, placement}"#,
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSource, E> {
                Ok(RawSource::Pod(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawSource, A::Error> {
                let m = RawSourceMap::deserialize(MapAccessDeserializer::new(map))?;
                Ok(RawSource::Like {
                    like: Box::new(m.like),
                    placement: m.placement.map(Box::new),
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for RawSource {
    fn schema_name() -> Cow<'static, str> {
        "Source".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let like = generator.subschema_for::<RawLike>();
        let placement = generator.subschema_for::<RawPlacement>();
        json_schema!({
            "description": "A scenario pod \"<namespace>/<pod>\", or a probe pod that copies the labels and service account of a deployed workload (`like`), created in its namespace.",
            "oneOf": [
                {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                {"type": "object", "additionalProperties": false, "required": ["like"],
                 "properties": {"like": like, "placement": placement}}
            ]
        })
    }
}
