//! NetworkPolicy (networking.k8s.io/v1) as written in scenarios: a strict mirror of the Kubernetes
//! type, so unknown or misspelt fields are errors and the JSON Schema describes policies too.
//! It converts losslessly into `k8s_openapi`'s type, which the engine validates and decides on.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::raw::PortRef;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "NetworkPolicy", title = "NetworkPolicy")]
pub struct RawNetworkPolicy {
    #[schemars(extend("const" = "networking.k8s.io/v1"))]
    pub api_version: String,
    #[schemars(extend("const" = "NetworkPolicy"))]
    pub kind: String,
    pub metadata: RawObjectMeta,
    pub spec: RawPolicySpec,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ObjectMeta")]
pub struct RawObjectMeta {
    pub name: String,
    /// Defaults to the only namespace of the scenario, when it has exactly one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "PolicySpec")]
pub struct RawPolicySpec {
    pub pod_selector: RawLabelSelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<RawIngressRule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<RawEgressRule>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "IngressRule")]
pub struct RawIngressRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<RawPeer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<RawPolicyPort>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EgressRule")]
pub struct RawEgressRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<RawPeer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<RawPolicyPort>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Peer")]
pub struct RawPeer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<RawLabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<RawLabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<RawIpBlock>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "IpBlock")]
pub struct RawIpBlock {
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "PolicyPort")]
pub struct RawPolicyPort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i64>,
}

/// A Kubernetes label selector (`matchLabels` AND `matchExpressions`; empty selects everything).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "LabelSelector")]
pub struct RawLabelSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_expressions: Option<Vec<RawLabelSelectorRequirement>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "LabelSelectorRequirement")]
pub struct RawLabelSelectorRequirement {
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot convert to a Kubernetes object: {0}")]
pub struct ConvertError(#[from] serde_json::Error);

impl RawNetworkPolicy {
    /// The `k8s_openapi` object, for the engine and the runner.
    ///
    /// # Errors
    /// Only if the two shapes disagree, which the tests rule out.
    pub fn to_k8s(&self) -> Result<NetworkPolicy, ConvertError> {
        Ok(serde_json::from_value(serde_json::to_value(self)?)?)
    }
}

impl RawLabelSelector {
    pub fn to_k8s(
        &self,
    ) -> Result<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector, ConvertError> {
        Ok(serde_json::from_value(serde_json::to_value(self)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_every_field_to_k8s() {
        let yaml = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x, labels: {a: b}}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress, Egress]
  ingress:
    - from:
        - namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: [y]}]}
          podSelector: {}
        - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
      ports: [{protocol: TCP, port: serve-80-tcp}, {port: 81, endPort: 90}]
  egress:
    - to: [{podSelector: {matchLabels: {pod: b}}}]
"#;
        let raw: RawNetworkPolicy = serde_saphyr::from_str(yaml).unwrap();
        let k = raw.to_k8s().unwrap();
        let spec = k.spec.unwrap();
        assert_eq!(k.metadata.namespace.as_deref(), Some("x"));
        let ingress = spec.ingress.unwrap();
        let ports = ingress[0].ports.as_ref().unwrap();
        assert_eq!(
            ports[0].port,
            Some(
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
                    "serve-80-tcp".into()
                )
            )
        );
        assert_eq!(ports[1].end_port, Some(90));
        let from = ingress[0].from.as_ref().unwrap();
        assert!(from[0].pod_selector.is_some());
        assert_eq!(
            from[1].ip_block.as_ref().unwrap().except.as_ref().unwrap()[0],
            "10.1.0.0/16"
        );
        assert_eq!(spec.egress.unwrap().len(), 1);
        assert_eq!(spec.policy_types.unwrap(), vec!["Ingress", "Egress"]);
    }

    #[test]
    fn rejects_unknown_fields() {
        let yaml = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec:\n  podSelector: {}\n  ingres: []\n";
        let err = serde_saphyr::from_str::<RawNetworkPolicy>(yaml).unwrap_err();
        assert!(err.to_string().contains("ingres"), "{err}");
    }
}
