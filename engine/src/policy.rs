//! The NetworkPolicy model after API-server validation and defaulting, and its conversion from
//! `networking.k8s.io/v1` objects.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::networking::v1 as netv1;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::selector::push_all;
use crate::validate::{
    validate_dns1123_label, validate_dns1123_subdomain, validate_port_name, validate_port_number,
};
use crate::{FieldError, LabelSelector, Pod, PolicyRef, Protocol, Quoted, QuotedList};

/// Which side of a connection a rule governs: ingress rules are checked on the destination pod,
/// egress rules on the source pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    /// The `policyTypes` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingress => "Ingress",
            Self::Egress => "Egress",
        }
    }

    /// The field naming a rule's peers: `from` for ingress, `to` for egress.
    pub fn peers_field(self) -> &'static str {
        match self {
            Self::Ingress => "from",
            Self::Egress => "to",
        }
    }

    /// The field holding the rules: `ingress` or `egress`.
    pub fn rules_field(self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Egress => "egress",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rules_field())
    }
}

/// A validated, defaulted NetworkPolicy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    /// Selects the pods of `namespace` the policy applies to; empty selects them all.
    pub pod_selector: LabelSelector,
    /// `None` when `Ingress` is not among the (defaulted) policy types; `Some(vec![])` isolates
    /// the selected pods for ingress and allows nothing.
    pub ingress: Option<Vec<Rule>>,
    /// `None` when `Egress` is not among the (defaulted) policy types.
    pub egress: Option<Vec<Rule>>,
}

/// One ingress or egress rule: traffic matches when it matches one of `peers` (none = every
/// peer) and one of `ports` (none = every port).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub peers: Vec<Peer>,
    pub ports: Vec<PortMatch>,
}

/// One `from`/`to` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Pods matching `pods` in the namespaces `namespaces` designates (the AND of both selectors).
    Pods {
        namespaces: NamespaceScope,
        pods: LabelSelector,
    },
    IpBlock(IpBlock),
}

/// The namespaces a pod peer is looked for in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceScope {
    /// No `namespaceSelector`: the policy's own namespace.
    PolicyNamespace,
    /// The namespaces whose labels match; empty selects every namespace.
    Selected(LabelSelector),
}

/// An `ipBlock` peer: addresses in `cidr` but in none of `except`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpBlock {
    pub cidr: IpNet,
    pub except: Vec<IpNet>,
}

impl IpBlock {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidr.contains(&ip) && self.excluding(ip).is_none()
    }

    /// The `except` range that keeps `ip` out of the block although `cidr` holds it; `None` when
    /// `cidr` does not hold `ip` or no `except` does.
    pub fn excluding(&self, ip: IpAddr) -> Option<&IpNet> {
        if !self.cidr.contains(&ip) {
            return None;
        }
        self.except.iter().find(|e| e.contains(&ip))
    }
}

/// One `ports` entry; `protocol` defaults to TCP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMatch {
    pub protocol: Protocol,
    pub port: PortSpec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortSpec {
    /// No `port`: every port of the protocol.
    All,
    /// `port`, or the range `port..=end_port`.
    Number { port: u16, end_port: Option<u16> },
    /// A container port name, resolved against the destination pod.
    Named(String),
}

impl PortMatch {
    /// Whether `port`/`protocol` towards `destination` matches; a named port only matches a
    /// destination pod serving that name with the same number and protocol.
    pub fn matches(&self, port: u16, protocol: Protocol, destination: Option<&Pod>) -> bool {
        if self.protocol != protocol {
            return false;
        }
        match &self.port {
            PortSpec::All => true,
            PortSpec::Number {
                port: start,
                end_port,
            } => (*start..=end_port.unwrap_or(*start)).contains(&port),
            PortSpec::Named(name) => destination.is_some_and(|pod| {
                pod.ports.iter().any(|served| {
                    served.name.as_deref() == Some(name.as_str())
                        && served.protocol == protocol
                        && served.port == port
                })
            }),
        }
    }
}

impl fmt::Display for Peer {
    /// E.g. `pods pod=b in namespaces ns=y`, `ipBlock 10.0.0.0/8 except 10.1.0.0/16`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pods {
                namespaces: NamespaceScope::PolicyNamespace,
                pods,
            } => write!(f, "pods {pods} in the policy's namespace"),
            Self::Pods {
                namespaces: NamespaceScope::Selected(namespaces),
                pods,
            } => write!(f, "pods {pods} in namespaces {namespaces}"),
            Self::IpBlock(block) => write!(f, "{block}"),
        }
    }
}

impl fmt::Display for IpBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ipBlock {}", self.cidr)?;
        if !self.except.is_empty() {
            let except: Vec<String> = self.except.iter().map(|e| e.to_string()).collect();
            write!(f, " except {}", except.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for PortMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = self.protocol;
        match &self.port {
            PortSpec::All => write!(f, "any {protocol} port"),
            PortSpec::Number {
                port,
                end_port: None,
            } => write!(f, "{protocol} {port}"),
            PortSpec::Number {
                port,
                end_port: Some(end),
            } => write!(f, "{protocol} {port}-{end}"),
            PortSpec::Named(name) => write!(f, "{protocol} {}", Quoted(name)),
        }
    }
}

impl Policy {
    pub fn reference(&self) -> PolicyRef {
        PolicyRef {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// The rules in effect for `direction`, `None` when the policy does not govern it.
    pub fn rules(&self, direction: Direction) -> Option<&[Rule]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }

    /// Whether the policy applies to `pod`: same namespace, matching pod selector, and not a
    /// host-network pod (policies never select those).
    pub fn selects(&self, pod: &Pod) -> bool {
        !pod.host_network
            && pod.namespace == self.namespace
            && self.pod_selector.matches(&pod.labels)
    }

    /// Whether the policy isolates `pod` for `direction`: only its rules for that direction can
    /// then allow the pod's traffic.
    pub fn isolates(&self, pod: &Pod, direction: Direction) -> bool {
        self.rules(direction).is_some() && self.selects(pod)
    }

    /// Validates `policy` as the API server does and applies its defaults (TCP for a missing
    /// protocol; `policyTypes` of `Ingress`, plus `Egress` when egress rules are present).
    ///
    /// The namespace is required, as it is once the API server has stored the object: set
    /// `metadata.namespace` first when the policy was written without one. A missing `spec` or
    /// `podSelector` counts as empty, as the API server reads them.
    ///
    /// # Errors
    ///
    /// Every field error, with paths such as `spec.ingress[0].from[1].ipBlock.except[0]`.
    pub fn from_k8s(policy: &netv1::NetworkPolicy) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let (name, namespace) = names(&mut errors, &policy.metadata);
        let spec = policy.spec.clone().unwrap_or_default();
        let pod_selector = match &spec.pod_selector {
            Some(selector) => collect(
                &mut errors,
                LabelSelector::from_k8s(selector, "spec.podSelector"),
            ),
            None => Some(LabelSelector::everything()),
        };
        let ingress_rules: Vec<Option<Rule>> = spec
            .ingress
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, rule)| {
                convert_rule(
                    &mut errors,
                    &format!("spec.ingress[{i}]"),
                    Direction::Ingress,
                    rule.ports.as_deref(),
                    rule.from.as_deref(),
                )
            })
            .collect();
        let egress_rules: Vec<Option<Rule>> = spec
            .egress
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, rule)| {
                convert_rule(
                    &mut errors,
                    &format!("spec.egress[{i}]"),
                    Direction::Egress,
                    rule.ports.as_deref(),
                    rule.to.as_deref(),
                )
            })
            .collect();
        let (ingress_on, egress_on) = policy_types(
            &mut errors,
            spec.policy_types.as_deref().unwrap_or_default(),
            !egress_rules.is_empty(),
        );
        match pod_selector {
            Some(pod_selector) if errors.is_empty() => Ok(Self {
                namespace,
                name,
                pod_selector,
                ingress: ingress_on.then(|| ingress_rules.into_iter().flatten().collect()),
                egress: egress_on.then(|| egress_rules.into_iter().flatten().collect()),
            }),
            _ => Err(errors),
        }
    }
}

/// A policy's name and namespace, checked as the API server checks them.
fn names(
    errors: &mut Vec<FieldError>,
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> (String, String) {
    let name = metadata.name.clone().unwrap_or_default();
    if name.is_empty() {
        errors.push(FieldError::new(
            "metadata.name",
            "Required value: name or generateName is required",
        ));
    } else {
        push_all(
            errors,
            "metadata.name",
            &name,
            validate_dns1123_subdomain(&name),
        );
    }
    let namespace = metadata.namespace.clone().unwrap_or_default();
    if namespace.is_empty() {
        errors.push(FieldError::new("metadata.namespace", "Required value"));
    } else {
        push_all(
            errors,
            "metadata.namespace",
            &namespace,
            validate_dns1123_label(&namespace),
        );
    }
    (name, namespace)
}

/// Whether the policy is an ingress and an egress policy, from its `policyTypes` (v1 defaults:
/// Ingress always, Egress when there are egress rules).
fn policy_types(
    errors: &mut Vec<FieldError>,
    types: &[String],
    has_egress_rules: bool,
) -> (bool, bool) {
    let (mut ingress_on, mut egress_on) = (false, false);
    if types.len() > 2 {
        errors.push(FieldError::new(
            "spec.policyTypes",
            format!(
                "Invalid value: {}: may not specify more than two policyTypes",
                QuotedList(types)
            ),
        ));
    } else if types.is_empty() {
        ingress_on = true;
        egress_on = has_egress_rules;
    } else {
        for (i, kind) in types.iter().enumerate() {
            match kind.as_str() {
                "Ingress" => ingress_on = true,
                "Egress" => egress_on = true,
                other => errors.push(FieldError::new(
                    format!("spec.policyTypes[{i}]"),
                    format!(
                        "Unsupported value: {}: supported values: \"Ingress\", \"Egress\"",
                        Quoted(other)
                    ),
                )),
            }
        }
    }
    (ingress_on, egress_on)
}

fn collect<T>(errors: &mut Vec<FieldError>, result: Result<T, Vec<FieldError>>) -> Option<T> {
    result.map_err(|e| errors.extend(e)).ok()
}

fn convert_rule(
    errors: &mut Vec<FieldError>,
    path: &str,
    direction: Direction,
    ports: Option<&[netv1::NetworkPolicyPort]>,
    peers: Option<&[netv1::NetworkPolicyPeer]>,
) -> Option<Rule> {
    let before = errors.len();
    let ports: Vec<Option<PortMatch>> = ports
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, port)| convert_port(errors, &format!("{path}.ports[{i}]"), port))
        .collect();
    let peers: Vec<Option<Peer>> = peers
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, peer)| {
            convert_peer(
                errors,
                &format!("{path}.{}[{i}]", direction.peers_field()),
                peer,
            )
        })
        .collect();
    (errors.len() == before).then(|| Rule {
        peers: peers.into_iter().flatten().collect(),
        ports: ports.into_iter().flatten().collect(),
    })
}

fn convert_port(
    errors: &mut Vec<FieldError>,
    path: &str,
    port: &netv1::NetworkPolicyPort,
) -> Option<PortMatch> {
    let before = errors.len();
    let protocol = match port.protocol.as_deref() {
        None | Some("TCP") => Protocol::Tcp,
        Some("UDP") => Protocol::Udp,
        Some("SCTP") => Protocol::Sctp,
        Some(other) => {
            errors.push(FieldError::new(
                format!("{path}.protocol"),
                format!(
                    "Unsupported value: {}: supported values: \"TCP\", \"UDP\", \"SCTP\"",
                    Quoted(other)
                ),
            ));
            Protocol::Tcp
        }
    };
    let end_path = format!("{path}.endPort");
    let spec = match (&port.port, port.end_port) {
        (None, None) => PortSpec::All,
        (None, Some(end)) => {
            errors.push(FieldError::new(
                end_path,
                format!("Invalid value: {end}: may not be specified when `port` is not specified"),
            ));
            PortSpec::All
        }
        (Some(IntOrString::Int(number)), end) => {
            for message in validate_port_number(*number) {
                errors.push(FieldError::new(
                    format!("{path}.port"),
                    format!("Invalid value: {number}: {message}"),
                ));
            }
            if let Some(end) = end {
                if end < *number {
                    errors.push(FieldError::new(
                        end_path.clone(),
                        format!("Invalid value: {number}: must be greater than or equal to `port`"),
                    ));
                }
                for message in validate_port_number(end) {
                    errors.push(FieldError::new(
                        end_path.clone(),
                        format!("Invalid value: {end}: {message}"),
                    ));
                }
            }
            PortSpec::Number {
                port: u16::try_from(*number).unwrap_or_default(),
                end_port: end.map(|e| u16::try_from(e).unwrap_or_default()),
            }
        }
        (Some(IntOrString::String(name)), end) => {
            if let Some(end) = end {
                errors.push(FieldError::new(
                    end_path,
                    format!(
                        "Invalid value: {end}: may not be specified when `port` is non-numeric"
                    ),
                ));
            }
            push_all(
                errors,
                &format!("{path}.port"),
                name,
                validate_port_name(name),
            );
            PortSpec::Named(name.clone())
        }
    };
    (errors.len() == before).then_some(PortMatch {
        protocol,
        port: spec,
    })
}

fn convert_peer(
    errors: &mut Vec<FieldError>,
    path: &str,
    peer: &netv1::NetworkPolicyPeer,
) -> Option<Peer> {
    let before = errors.len();
    let pods = peer.pod_selector.as_ref().and_then(|s| {
        collect(
            errors,
            LabelSelector::from_k8s(s, &format!("{path}.podSelector")),
        )
    });
    let namespaces = peer.namespace_selector.as_ref().and_then(|s| {
        collect(
            errors,
            LabelSelector::from_k8s(s, &format!("{path}.namespaceSelector")),
        )
    });
    let block = peer
        .ip_block
        .as_ref()
        .and_then(|b| convert_ip_block(errors, &format!("{path}.ipBlock"), b));
    let count = [
        peer.pod_selector.is_some(),
        peer.namespace_selector.is_some(),
        peer.ip_block.is_some(),
    ]
    .into_iter()
    .filter(|set| *set)
    .count();
    if count == 0 {
        errors.push(FieldError::new(path, "Required value: must specify a peer"));
    } else if count > 1 && peer.ip_block.is_some() {
        errors.push(FieldError::new(
            path,
            "Forbidden: may not specify both ipBlock and another peer",
        ));
    }
    if errors.len() != before {
        return None;
    }
    match (block, namespaces, pods) {
        (Some(block), _, _) => Some(Peer::IpBlock(block)),
        (None, namespaces, pods) => Some(Peer::Pods {
            namespaces: namespaces
                .map_or(NamespaceScope::PolicyNamespace, NamespaceScope::Selected),
            pods: pods.unwrap_or_default(),
        }),
    }
}

fn convert_ip_block(
    errors: &mut Vec<FieldError>,
    path: &str,
    block: &netv1::IPBlock,
) -> Option<IpBlock> {
    if block.cidr.is_empty() {
        errors.push(FieldError::new(format!("{path}.cidr"), "Required value"));
        return None;
    }
    let cidr = parse_cidr(errors, &format!("{path}.cidr"), &block.cidr)?;
    let mut except = Vec::new();
    for (i, text) in block.except.iter().flatten().enumerate() {
        let at = format!("{path}.except[{i}]");
        let Some(net) = parse_cidr(errors, &at, text) else {
            continue;
        };
        // As the API server: the except's address inside cidr and a strictly longer prefix.
        if !cidr.contains(&net.network()) || cidr.prefix_len() >= net.prefix_len() {
            errors.push(FieldError::new(
                at,
                format!(
                    "Invalid value: {}: must be a strict subset of `cidr`",
                    Quoted(text)
                ),
            ));
        } else {
            except.push(net);
        }
    }
    Some(IpBlock { cidr, except })
}

fn parse_cidr(errors: &mut Vec<FieldError>, path: &str, text: &str) -> Option<IpNet> {
    // Host bits are accepted and masked off, as the API server's sloppy CIDR parsing does.
    match text.parse::<IpNet>() {
        Ok(net) => Some(net.trunc()),
        Err(_) => {
            errors.push(FieldError::new(
                path,
                format!(
                    "Invalid value: {}: must be a valid CIDR value, (e.g. 10.9.8.0/24 or \
                     2001:db8::/64)",
                    Quoted(text)
                ),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::networking::v1::{
        IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule,
        NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector as K8sSelector, ObjectMeta,
    };

    use super::*;

    fn mk_policy(spec: NetworkPolicySpec) -> NetworkPolicy {
        NetworkPolicy {
            metadata: ObjectMeta {
                name: Some("p".to_owned()),
                namespace: Some("x".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
        }
    }

    fn mk_port(
        protocol: Option<&str>,
        port: Option<IntOrString>,
        end: Option<i32>,
    ) -> NetworkPolicyPort {
        NetworkPolicyPort {
            protocol: protocol.map(str::to_owned),
            port,
            end_port: end,
        }
    }

    fn mk_block(cidr: &str, except: &[&str]) -> NetworkPolicyPeer {
        NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: cidr.to_owned(),
                except: (!except.is_empty())
                    .then(|| except.iter().map(|e| (*e).to_owned()).collect()),
            }),
            ..NetworkPolicyPeer::default()
        }
    }

    fn mk_ingress(
        ports: Vec<NetworkPolicyPort>,
        from: Vec<NetworkPolicyPeer>,
    ) -> NetworkPolicySpec {
        NetworkPolicySpec {
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(from),
                ports: Some(ports),
            }]),
            ..NetworkPolicySpec::default()
        }
    }

    fn errors_of(spec: NetworkPolicySpec) -> Vec<FieldError> {
        Policy::from_k8s(&mk_policy(spec)).expect_err("must be rejected")
    }

    fn accepted(spec: NetworkPolicySpec) -> Policy {
        Policy::from_k8s(&mk_policy(spec)).expect("must be accepted")
    }

    #[test]
    fn rejects_invalid_ports() {
        let int = |n| Some(IntOrString::Int(n));
        let named = |s: &str| Some(IntOrString::String(s.to_owned()));
        let cases = [
            (mk_port(None, int(0), None), "spec.ingress[0].ports[0].port"),
            (
                mk_port(None, int(65536), None),
                "spec.ingress[0].ports[0].port",
            ),
            (
                mk_port(Some("ICMP"), int(80), None),
                "spec.ingress[0].ports[0].protocol",
            ),
            (
                mk_port(Some("tcp"), int(80), None),
                "spec.ingress[0].ports[0].protocol",
            ),
            (
                mk_port(None, int(81), Some(80)),
                "spec.ingress[0].ports[0].endPort",
            ),
            (
                mk_port(None, int(80), Some(65536)),
                "spec.ingress[0].ports[0].endPort",
            ),
            (
                mk_port(None, named("http"), Some(90)),
                "spec.ingress[0].ports[0].endPort",
            ),
            (
                mk_port(None, None, Some(90)),
                "spec.ingress[0].ports[0].endPort",
            ),
            (
                mk_port(None, named("Serve-80"), None),
                "spec.ingress[0].ports[0].port",
            ),
            (
                mk_port(None, named("serve-80-tcp-long"), None),
                "spec.ingress[0].ports[0].port",
            ),
            (
                mk_port(None, named("8080"), None),
                "spec.ingress[0].ports[0].port",
            ),
        ];
        for (port, path) in cases {
            let errors = errors_of(mk_ingress(vec![port.clone()], vec![]));
            assert!(
                errors.iter().any(|e| e.path == path),
                "{port:?}: expected an error at {path}, got {errors:?}"
            );
        }
    }

    #[test]
    fn accepts_and_defaults_ports() {
        let policy = accepted(mk_ingress(
            vec![
                mk_port(None, Some(IntOrString::Int(80)), None),
                mk_port(Some("UDP"), Some(IntOrString::Int(80)), Some(90)),
                mk_port(
                    Some("SCTP"),
                    Some(IntOrString::String("serve-81-sctp".to_owned())),
                    None,
                ),
                mk_port(Some("UDP"), None, None),
                mk_port(None, Some(IntOrString::Int(80)), Some(80)),
            ],
            vec![],
        ));
        let ports = &policy.ingress.unwrap()[0].ports;
        assert_eq!(
            ports,
            &vec![
                PortMatch {
                    protocol: Protocol::Tcp,
                    port: PortSpec::Number {
                        port: 80,
                        end_port: None
                    }
                },
                PortMatch {
                    protocol: Protocol::Udp,
                    port: PortSpec::Number {
                        port: 80,
                        end_port: Some(90)
                    }
                },
                PortMatch {
                    protocol: Protocol::Sctp,
                    port: PortSpec::Named("serve-81-sctp".to_owned())
                },
                PortMatch {
                    protocol: Protocol::Udp,
                    port: PortSpec::All
                },
                PortMatch {
                    protocol: Protocol::Tcp,
                    port: PortSpec::Number {
                        port: 80,
                        end_port: Some(80)
                    }
                },
            ]
        );
    }

    #[test]
    fn rejects_invalid_peers() {
        let selector = || Some(K8sSelector::default());
        let cases = [
            (NetworkPolicyPeer::default(), "spec.ingress[0].from[0]"),
            (
                NetworkPolicyPeer {
                    pod_selector: selector(),
                    ..mk_block("10.0.0.0/8", &[])
                },
                "spec.ingress[0].from[0]",
            ),
            (
                NetworkPolicyPeer {
                    namespace_selector: selector(),
                    ..mk_block("10.0.0.0/8", &[])
                },
                "spec.ingress[0].from[0]",
            ),
            (mk_block("", &[]), "spec.ingress[0].from[0].ipBlock.cidr"),
            (
                mk_block("10.0.0.1", &[]),
                "spec.ingress[0].from[0].ipBlock.cidr",
            ),
            (
                mk_block("10.0.0.0/33", &[]),
                "spec.ingress[0].from[0].ipBlock.cidr",
            ),
            (
                mk_block("fd00::/129", &[]),
                "spec.ingress[0].from[0].ipBlock.cidr",
            ),
            (
                mk_block("10.0.0.0/8", &["10.0.0.0/8"]),
                "spec.ingress[0].from[0].ipBlock.except[0]",
            ),
            (
                mk_block("10.0.0.0/8", &["11.0.0.0/16"]),
                "spec.ingress[0].from[0].ipBlock.except[0]",
            ),
            (
                mk_block("10.0.0.0/16", &["10.0.0.0/8"]),
                "spec.ingress[0].from[0].ipBlock.except[0]",
            ),
            (
                mk_block("10.0.0.0/8", &["10.1.0.0/16", "fd00::/64"]),
                "spec.ingress[0].from[0].ipBlock.except[1]",
            ),
            (
                mk_block("10.0.0.0/8", &["nonsense"]),
                "spec.ingress[0].from[0].ipBlock.except[0]",
            ),
        ];
        for (peer, path) in cases {
            let errors = errors_of(mk_ingress(vec![], vec![peer.clone()]));
            assert!(
                errors.iter().any(|e| e.path == path),
                "{peer:?}: expected an error at {path}, got {errors:?}"
            );
        }
    }

    #[test]
    fn cidrs_parse_like_the_api_server() {
        // Host bits are masked and leading zeros read as decimal, as the legacy parser does.
        for (text, expected) in [
            ("10.0.0.1/24", "10.0.0.0/24"),
            ("010.0.0.0/8", "10.0.0.0/8"),
            ("fd00::1/64", "fd00::/64"),
        ] {
            let policy = accepted(mk_ingress(vec![], vec![mk_block(text, &[])]));
            let peers = &policy.ingress.unwrap()[0].peers;
            assert_eq!(
                peers,
                &vec![Peer::IpBlock(IpBlock {
                    cidr: expected.parse().unwrap(),
                    except: vec![],
                })],
                "{text}"
            );
        }
    }

    #[test]
    fn egress_paths_use_to() {
        let spec = NetworkPolicySpec {
            egress: Some(vec![
                NetworkPolicyEgressRule::default(),
                NetworkPolicyEgressRule {
                    to: Some(vec![
                        mk_block("10.0.0.0/8", &[]),
                        mk_block("10.0.0.0/8", &["10.0.0.0/7"]),
                    ]),
                    ports: None,
                },
            ]),
            ..NetworkPolicySpec::default()
        };
        let errors = errors_of(spec);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "spec.egress[1].to[1].ipBlock.except[0]");
        assert_eq!(
            errors[0].to_string(),
            "spec.egress[1].to[1].ipBlock.except[0]: Invalid value: \"10.0.0.0/7\": must be a \
             strict subset of `cidr`"
        );
    }

    #[test]
    fn converts_peers() {
        let ns = K8sSelector {
            match_labels: Some([("ns".to_owned(), "y".to_owned())].into()),
            match_expressions: None,
        };
        let pod = K8sSelector {
            match_labels: Some([("pod".to_owned(), "b".to_owned())].into()),
            match_expressions: None,
        };
        let policy = accepted(mk_ingress(
            vec![],
            vec![
                NetworkPolicyPeer {
                    pod_selector: Some(pod.clone()),
                    ..NetworkPolicyPeer::default()
                },
                NetworkPolicyPeer {
                    namespace_selector: Some(ns.clone()),
                    ..NetworkPolicyPeer::default()
                },
                NetworkPolicyPeer {
                    namespace_selector: Some(ns.clone()),
                    pod_selector: Some(pod.clone()),
                    ip_block: None,
                },
                mk_block("10.0.0.1/24", &["10.0.0.128/25"]),
            ],
        ));
        let ns = LabelSelector::from_k8s(&ns, "").unwrap();
        let pod = LabelSelector::from_k8s(&pod, "").unwrap();
        assert_eq!(
            policy.ingress.unwrap()[0].peers,
            vec![
                Peer::Pods {
                    namespaces: NamespaceScope::PolicyNamespace,
                    pods: pod.clone()
                },
                Peer::Pods {
                    namespaces: NamespaceScope::Selected(ns.clone()),
                    pods: LabelSelector::everything()
                },
                Peer::Pods {
                    namespaces: NamespaceScope::Selected(ns),
                    pods: pod
                },
                Peer::IpBlock(IpBlock {
                    cidr: "10.0.0.0/24".parse().unwrap(),
                    except: vec!["10.0.0.128/25".parse().unwrap()],
                }),
            ]
        );
    }

    #[test]
    fn an_except_range_names_what_it_excludes() {
        let block = IpBlock {
            cidr: "203.0.113.0/24".parse().unwrap(),
            except: vec!["203.0.113.0/29".parse().unwrap()],
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(block.excluding(ip("203.0.113.7")), Some(&block.except[0]));
        assert!(!block.contains(ip("203.0.113.7")));
        assert_eq!(block.excluding(ip("203.0.113.8")), None);
        assert!(block.contains(ip("203.0.113.8")));
        assert_eq!(block.excluding(ip("198.51.100.1")), None);
        assert!(!block.contains(ip("198.51.100.1")));
    }

    #[test]
    fn policy_types_defaulting() {
        let egress_rule = || Some(vec![NetworkPolicyEgressRule::default()]);
        let types = |t: &[&str]| Some(t.iter().map(|s| (*s).to_owned()).collect());
        // (egress rules present, policyTypes, ingress in effect, egress in effect)
        let cases = [
            (false, None, true, false),
            (true, None, true, true),
            (true, types(&[]), true, true),
            (false, types(&["Egress"]), false, true),
            (true, types(&["Ingress"]), true, false),
            (false, types(&["Ingress", "Egress"]), true, true),
            (false, types(&["Ingress", "Ingress"]), true, false),
        ];
        for (with_egress, policy_types, ingress, egress) in cases {
            let policy = accepted(NetworkPolicySpec {
                egress: if with_egress { egress_rule() } else { None },
                policy_types: policy_types.clone(),
                ..NetworkPolicySpec::default()
            });
            assert_eq!(
                policy.ingress.is_some(),
                ingress,
                "{with_egress} {policy_types:?}"
            );
            assert_eq!(
                policy.egress.is_some(),
                egress,
                "{with_egress} {policy_types:?}"
            );
        }
        let errors = errors_of(NetworkPolicySpec {
            policy_types: types(&["Ingress", "Sideways"]),
            ..NetworkPolicySpec::default()
        });
        assert_eq!(errors[0].path, "spec.policyTypes[1]");
        let errors = errors_of(NetworkPolicySpec {
            policy_types: types(&["Ingress", "Egress", "Ingress"]),
            ..NetworkPolicySpec::default()
        });
        assert_eq!(errors[0].path, "spec.policyTypes");
    }

    #[test]
    fn validates_metadata_and_selector() {
        let mut policy = mk_policy(NetworkPolicySpec {
            pod_selector: Some(K8sSelector {
                match_labels: Some([("pod".to_owned(), "-a".to_owned())].into()),
                match_expressions: None,
            }),
            ..NetworkPolicySpec::default()
        });
        policy.metadata.name = Some("Allow_All".to_owned());
        policy.metadata.namespace = None;
        let errors = Policy::from_k8s(&policy).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "metadata.name",
                "metadata.namespace",
                "spec.podSelector.matchLabels"
            ]
        );
        policy.spec = None;
        policy.metadata.name = Some("default-deny".to_owned());
        policy.metadata.namespace = Some("x".to_owned());
        let policy = Policy::from_k8s(&policy).unwrap();
        assert_eq!(policy.pod_selector, LabelSelector::everything());
        assert_eq!(policy.ingress, Some(vec![]));
        assert_eq!(policy.egress, None);
    }

    #[test]
    fn port_matching() {
        let pod = Pod {
            namespace: "x".to_owned(),
            name: "a".to_owned(),
            labels: Default::default(),
            ips: vec![],
            ports: vec![crate::ServedPort {
                name: Some("http".to_owned()),
                port: 8080,
                protocol: Protocol::Tcp,
            }],
            host_network: false,
        };
        let m = |protocol, port| PortMatch { protocol, port };
        let range = PortSpec::Number {
            port: 80,
            end_port: Some(82),
        };
        let named = PortSpec::Named("http".to_owned());
        let cases = [
            (
                m(Protocol::Tcp, range.clone()),
                79,
                Protocol::Tcp,
                true,
                false,
            ),
            (
                m(Protocol::Tcp, range.clone()),
                80,
                Protocol::Tcp,
                true,
                true,
            ),
            (
                m(Protocol::Tcp, range.clone()),
                82,
                Protocol::Tcp,
                true,
                true,
            ),
            (
                m(Protocol::Tcp, range.clone()),
                83,
                Protocol::Tcp,
                true,
                false,
            ),
            (m(Protocol::Tcp, range), 81, Protocol::Udp, true, false),
            (
                m(Protocol::Udp, PortSpec::All),
                1,
                Protocol::Udp,
                false,
                true,
            ),
            (
                m(Protocol::Udp, PortSpec::All),
                1,
                Protocol::Tcp,
                false,
                false,
            ),
            (
                m(Protocol::Tcp, named.clone()),
                8080,
                Protocol::Tcp,
                true,
                true,
            ),
            (
                m(Protocol::Tcp, named.clone()),
                8080,
                Protocol::Tcp,
                false,
                false,
            ),
            (
                m(Protocol::Tcp, named.clone()),
                8081,
                Protocol::Tcp,
                true,
                false,
            ),
            (m(Protocol::Udp, named), 8080, Protocol::Udp, true, false),
        ];
        for (matcher, port, protocol, to_pod, expected) in cases {
            let destination = to_pod.then_some(&pod);
            assert_eq!(
                matcher.matches(port, protocol, destination),
                expected,
                "{matcher} vs {protocol:?} {port} (to pod: {to_pod})"
            );
        }
    }
}
