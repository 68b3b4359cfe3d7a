//! The validated, expanded scenario model: what `plan` prints and what the runner executes.
//!
//! Everything here has been checked: names are valid and unique, every pod, namespace and
//! service a probe names exists, named ports are resolved to numbers, matrices are expanded into
//! one [`Probe`] per cell, and each probe keeps the [`SourceLocation`] it came from.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use netverdict_engine::{LabelSelector, Labels, Protocol};

pub use crate::raw::{DenyMode, Pick, Scheme, Via, WorkloadKind};
use crate::source::SourceLocation;

/// A loaded, validated and expanded scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    /// Where `metadata.name` is written.
    pub location: SourceLocation,
    pub defaults: Defaults,
    pub namespaces: Vec<NamespaceSpec>,
    pub pods: Vec<PodSpec>,
    pub services: Vec<ServiceSpec>,
    pub policies: Vec<PolicySpec>,
    pub probes: Vec<Probe>,
    /// The deployed pods the probes go to, in namespaces the scenario does not create; found at
    /// run time ([`crate::live`]), empty before.
    pub live_pods: Vec<LivePod>,
    /// The namespaces the scenario does not create that its mimics and live targets are in,
    /// with the labels they have in the cluster; found at run time, empty before.
    pub live_namespaces: Vec<NamespaceSpec>,
}

impl Scenario {
    pub fn pod(&self, pod: &PodRef) -> Option<&PodSpec> {
        self.pods
            .iter()
            .find(|p| p.namespace == pod.namespace && p.name == pod.name)
    }

    pub fn namespace(&self, name: &str) -> Option<&NamespaceSpec> {
        self.namespaces.iter().find(|n| n.name == name)
    }

    /// Whether the scenario reaches beyond what it creates: a mimic, a live target or a
    /// Service it does not create.
    pub fn is_live(&self) -> bool {
        self.pods.iter().any(|p| p.mimic.is_some())
            || self.probes.iter().any(|p| p.target.is_live())
    }

    /// The live target pod `pod`, once found.
    pub fn live_pod(&self, pod: &PodRef) -> Option<&LivePod> {
        self.live_pods
            .iter()
            .find(|p| p.namespace == pod.namespace && p.name == pod.name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defaults {
    /// Per-probe timeout; 2 s unless the scenario says otherwise.
    pub timeout: Duration,
    /// What satisfies `expect: deny`; `any` unless the scenario says otherwise.
    pub deny: DenyMode,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            deny: DenyMode::Any,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceSpec {
    pub name: String,
    /// Includes `kubernetes.io/metadata.name=<name>`.
    pub labels: Labels,
    pub location: SourceLocation,
}

/// `<namespace>/<pod>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

impl PodRef {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedPort {
    pub port: u16,
    pub protocol: Protocol,
    pub name: Option<String>,
}

/// A probe pod the run spawns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSpec {
    pub namespace: String,
    pub name: String,
    /// A mimic's are the ones it copies, known at run time (empty before).
    pub labels: Labels,
    pub ports: Vec<ServedPort>,
    /// Pins the pod to a node.
    pub node: Option<String>,
    pub location: SourceLocation,
    /// The pod copies the identity of a deployed workload (`from: {like: ...}`).
    pub mimic: Option<Mimic>,
}

/// Pods the scenario does not create, in a namespace it does not create: found at run time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LiveSelection {
    Workload {
        kind: WorkloadKind,
        namespace: String,
        name: String,
    },
    Pods {
        namespace: String,
        selector: LabelSelector,
    },
}

impl LiveSelection {
    pub fn namespace(&self) -> &str {
        match self {
            LiveSelection::Workload { namespace, .. } | LiveSelection::Pods { namespace, .. } => {
                namespace
            }
        }
    }

    /// As `plan`, truth tables and reports name it: `deployment:shop/api`, `pods:shop/app=api`.
    pub fn label(&self) -> String {
        match self {
            LiveSelection::Workload {
                kind,
                namespace,
                name,
            } => format!("{}:{namespace}/{name}", kind.resource()),
            LiveSelection::Pods {
                namespace,
                selector,
            } => format!("pods:{namespace}/{selector}"),
        }
    }
}

impl fmt::Display for LiveSelection {
    /// `deployment shop/api`, `pods app=api in shop`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LiveSelection::Workload {
                kind,
                namespace,
                name,
            } => write!(f, "{} {namespace}/{name}", kind.resource()),
            LiveSelection::Pods {
                namespace,
                selector,
            } => write!(f, "pods {selector} in {namespace}"),
        }
    }
}

/// Where something of a scenario is written, to point at it from an error found at run time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub location: SourceLocation,
    /// The field path, e.g. `spec.probes[2].to.workload`.
    pub path: String,
}

impl fmt::Display for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.path)
    }
}

/// A probe target deployed in a namespace the scenario does not create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveTarget {
    pub selection: LiveSelection,
    pub pick: Pick,
    pub written: Written,
}

/// A probe pod that NetworkPolicies select as they select a deployed workload: created in its
/// namespace with its pods' labels and service account (less the labels controllers adopt pods
/// by), found at run time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mimic {
    pub of: LiveSelection,
    pub placement: Option<Placement>,
    pub written: Written,
    /// What it copied, once known (at run time).
    pub copied: Option<Copied>,
}

impl Mimic {
    /// As `plan`, truth tables and probe names call the source: `like:deployment:shop/web`,
    /// with its placement when it has one.
    pub fn label(&self) -> String {
        let placement = match &self.placement {
            None => String::new(),
            Some(Placement::Node(node)) => format!("@node={node}"),
            Some(Placement::SameNodeAs(of)) => format!("@same-node-as={}", of.label()),
            Some(Placement::OtherNodeThan(of)) => format!("@other-node-than={}", of.label()),
        };
        format!("like:{}{placement}", self.of.label())
    }
}

/// Where a mimic runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Placement {
    Node(String),
    /// The node of the first Ready pod of these.
    SameNodeAs(LiveSelection),
    /// A node where none of these pods run.
    OtherNodeThan(LiveSelection),
}

/// What a mimic copied from the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    /// The workload's pod labels it carries.
    pub labels: Labels,
    /// The labels of the workload's pods it leaves out: those controllers adopt pods by, and,
    /// for a selector, those its pods do not all share.
    pub left_out: Vec<String>,
    pub service_account: Option<String>,
    /// The node it is pinned to (`placement`).
    pub node: Option<String>,
    /// The nodes it must not run on (`placement: {otherNodeThan}`).
    pub avoid_nodes: Vec<String>,
}

impl Copied {
    /// `labels copied from deployment shop/frontend except pod-template-hash`.
    pub fn describe(&self, of: &LiveSelection) -> String {
        let mut text = format!("labels copied from {of}");
        if !self.left_out.is_empty() {
            text.push_str(&format!(" except {}", self.left_out.join(", ")));
        }
        match &self.service_account {
            Some(account) => text.push_str(&format!(", service account {account}")),
            None => text.push_str(", no service account of its own"),
        }
        text
    }
}

/// A deployed pod a probe goes to, as the run found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LivePod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: Labels,
    pub ip: Option<IpAddr>,
    pub node: Option<String>,
    pub ready: bool,
    pub service_account: Option<String>,
    /// Its containers' ports.
    pub ports: Vec<ServedPort>,
    /// The ports its containers' readiness probes connect to (TCP, HTTP or gRPC probes), while
    /// the pod is Ready: the kubelet's evidence that something listens there.
    pub ready_ports: Vec<u16>,
    /// The restart counts of its containers, by container.
    pub restarts: Vec<(String, i32)>,
}

impl LivePod {
    pub fn pod_ref(&self) -> PodRef {
        PodRef::new(&self.namespace, &self.name)
    }
}

impl PodSpec {
    pub fn pod_ref(&self) -> PodRef {
        PodRef::new(&self.namespace, &self.name)
    }
}

/// A Service the run creates in front of scenario pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub namespace: String,
    pub name: String,
    pub selector: Labels,
    pub ports: Vec<ServicePort>,
    pub location: SourceLocation,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
    pub target_port: TargetPort,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetPort {
    Number(u16),
    Name(String),
}

/// A NetworkPolicy in force while probing, already validated as the API server would.
#[derive(Clone, Debug)]
pub struct PolicySpec {
    pub namespace: String,
    pub name: String,
    /// The object to apply; `metadata.namespace` is always set.
    pub object: NetworkPolicy,
    /// Where the policy is written (inline in the scenario, or in a policy file).
    pub location: SourceLocation,
    /// The field path of the policy in its file: `spec.policies[2]` inline, empty for a
    /// document of a policy file.
    pub path: String,
}

impl PolicySpec {
    /// The field path of `field` of the policy, e.g. `spec.policies[2].metadata.name`.
    pub fn field_path(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.path)
        }
    }
}

/// One concrete probe: a single connection attempt to judge.
#[derive(Clone, Debug)]
pub struct Probe {
    pub scenario: String,
    /// Unique within the scenario; stable across runs (used as the JUnit testcase name).
    pub name: String,
    /// Whether `name` comes from the entry's own `name` (else it was generated).
    pub named: bool,
    pub from: PodRef,
    pub target: Target,
    /// The destination port number (for a service: the service port).
    pub port: u16,
    /// The port's name when the scenario named it (or the target serves it under a name).
    pub port_name: Option<String>,
    pub protocol: Protocol,
    pub via: Via,
    pub expect: Expectation,
    pub deny: DenyMode,
    pub timeout: Duration,
    pub http: Option<HttpCheck>,
    pub dns: Option<DnsCheck>,
    /// Where the probe (or the matrix it came from) is written.
    pub location: SourceLocation,
    /// The field path of that entry, e.g. `spec.probes[3]`.
    pub path: String,
    /// For a probe from a mimic, the source as the scenario names it
    /// (`like:deployment:shop/web`; [`Mimic::label`]).
    pub like: Option<String>,
}

/// Where a probe goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A scenario pod, named or selected by `{pods: {namespace, selector}}`.
    Pod(PodRef),
    /// A scenario service; `backends` are the scenario pods it selects, `target_port` the port
    /// number the backends receive the connection on. A Service the scenario does not create
    /// ([`Target::LiveService`]) becomes one at run time, with its Ready pods (`live`).
    Service {
        namespace: String,
        name: String,
        backends: Vec<PodRef>,
        target_port: u16,
        /// The backends are deployed pods ([`Scenario::live_pods`]), not probe pods.
        live: bool,
    },
    /// A DNS name, resolved inside the source pod.
    Host(String),
    Ip(IpAddr),
    /// The cluster DNS server the source pod's resolver uses (a `dns` probe without `to`).
    ClusterDns,
    /// Deployed pods (a workload, or a `pods` selector in a namespace the scenario does not
    /// create): at run time one [`Target::LivePod`] per pod picked. A named port has the number
    /// 0 until then.
    Live(LiveTarget),
    /// A deployed pod, found at run time.
    LivePod {
        pod: PodRef,
        /// What it was picked from.
        of: LiveSelection,
    },
    /// A Service the scenario does not create: at run time a [`Target::Service`] whose backends
    /// are its Ready pods. A named port has the number 0 until then.
    LiveService {
        namespace: String,
        name: String,
        written: Written,
    },
}

impl Target {
    /// Whether the target is deployed rather than created by the run (resolved or not).
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            Target::Live(_) | Target::LivePod { .. } | Target::LiveService { .. }
        )
    }
}

impl Probe {
    /// `scenario/name`: unique in a run (scenario names are unique in a run, probe names in
    /// their scenario); the key of the probe in `plan` and `run` JSON.
    pub fn key(&self) -> String {
        format!("{}/{}", self.scenario, self.name)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Pod(pod) => write!(f, "{pod}"),
            Target::Service {
                namespace, name, ..
            } => write!(f, "service {namespace}/{name}"),
            Target::Host(host) => write!(f, "host {host}"),
            Target::Ip(ip) => write!(f, "ip {ip}"),
            Target::ClusterDns => f.write_str("cluster DNS"),
            Target::Live(live) if live.pick == Pick::All => write!(f, "{}", live.selection),
            Target::Live(live) => write!(f, "{} (pick {})", live.selection, live.pick.as_str()),
            Target::LivePod { pod, of } => write!(f, "{pod} ({of})"),
            Target::LiveService {
                namespace, name, ..
            } => write!(f, "service {namespace}/{name}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Allow,
    Deny,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        })
    }
}

/// Where an expectation comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExpectSource {
    /// `expect: allow` or `expect: deny`.
    Explicit,
    /// `expect: auto` (or no `expect`): computed by the engine from the scenario's policies.
    Auto,
    /// A cell of a matrix's truth table.
    Table,
}

impl fmt::Display for ExpectSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExpectSource::Explicit => "explicit",
            ExpectSource::Auto => "auto",
            ExpectSource::Table => "table",
        })
    }
}

/// The verdict a probe must observe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub source: ExpectSource,
    /// `None` only for `auto` that could not be computed offline (e.g. an ipBlock that needs the
    /// pods' real IPs, or a host whose address is unknown): the runner recomputes it.
    pub verdict: Option<Verdict>,
    /// Why: the engine's explanation for `auto`, what is missing when unresolved.
    pub reason: Option<String>,
    /// For a written expectation (explicit or a table's), the engine's own verdict when it can
    /// judge one with what is known; always `None` for `auto`, whose verdict is the engine's.
    pub engine: Option<Verdict>,
}

impl Expectation {
    pub fn explicit(verdict: Verdict) -> Self {
        Self {
            source: ExpectSource::Explicit,
            verdict: Some(verdict),
            reason: None,
            engine: None,
        }
    }
    pub fn table(verdict: Verdict) -> Self {
        Self {
            source: ExpectSource::Table,
            verdict: Some(verdict),
            reason: None,
            engine: None,
        }
    }
    /// Whether a written expectation agrees with the engine's verdict; `None` for `auto`, or when
    /// the engine cannot judge the probe with what is known.
    pub fn engine_agrees(&self) -> Option<bool> {
        if self.source == ExpectSource::Auto {
            return None;
        }
        Some(self.verdict? == self.engine?)
    }

    pub fn auto_unresolved() -> Self {
        Self {
            source: ExpectSource::Auto,
            verdict: None,
            reason: None,
            engine: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheck {
    pub scheme: Scheme,
    /// Starts with `/`; restricted to URL-safe characters.
    pub path: String,
    /// The status an allowed request must return; any status when `None`.
    pub status: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsCheck {
    /// The name to resolve (restricted to DNS name characters).
    pub query: String,
    /// What a reached server must answer; any answer when `None`.
    pub answer: Option<DnsAnswer>,
}

/// What a DNS answer must be (`answer:`), judged once the server was reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsAnswer {
    /// NXDOMAIN: the name must not exist (a decommissioned name, say).
    Nxdomain,
    /// NOERROR with at least one address.
    Resolves,
    /// NOERROR with exactly these addresses, in any order.
    Addresses(Vec<IpAddr>),
}

impl fmt::Display for DnsAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsAnswer::Nxdomain => f.write_str("nxdomain"),
            DnsAnswer::Resolves => f.write_str("resolves"),
            DnsAnswer::Addresses(addresses) => {
                let list: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
                write!(f, "addresses [{}]", list.join(", "))
            }
        }
    }
}

/// The engine's protocol of a protocol written in a scenario.
pub(crate) fn engine_protocol(p: crate::raw::Protocol) -> Protocol {
    match p {
        crate::raw::Protocol::Tcp => Protocol::Tcp,
        crate::raw::Protocol::Udp => Protocol::Udp,
        crate::raw::Protocol::Sctp => Protocol::Sctp,
    }
}

/// The protocol as scenarios and reports spell it.
pub fn protocol_str(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

/// `via` as scenarios and reports spell it.
pub fn via_str(v: Via) -> &'static str {
    match v {
        Via::Tcp => "tcp",
        Via::Http => "http",
        Via::Dns => "dns",
        Via::Udp => "udp",
        Via::Sctp => "sctp",
    }
}
