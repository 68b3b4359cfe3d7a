//! The probe pod: what the runner asks the cluster to run for each pod of a scenario.
//!
//! It passes Pod Security "restricted" (non-root, no privilege escalation, every capability
//! dropped, RuntimeDefault seccomp, read-only root filesystem), carries requests and limits, and
//! dies on its own (`activeDeadlineSeconds`) if the runner dies.

use std::collections::BTreeMap;
use std::time::Duration;

use netverdict_engine::{Protocol, ServedPort};

use super::labels::RunId;
use crate::k8s::{
    Affinity, Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, ExecAction,
    IntOrString, LocalObjectReference, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, ObjectFieldSelector, ObjectMeta, OwnerReference, Pod, PodReadinessGate,
    PodSecurityContext, PodSpec, Probe, Quantity, ResourceRequirements, SeccompProfile,
    SecurityContext, TCPSocketAction, Toleration,
};

/// The non-root identity of probe pods (the image's user).
pub(crate) const PROBE_UID: i64 = 65532;

/// The sysctl that lets a non-root process bind ports below 1024.
pub(crate) const UNPRIVILEGED_PORT_START: &str = "net.ipv4.ip_unprivileged_port_start";

/// Ports below this one need privileges (or [`UNPRIVILEGED_PORT_START`]) to bind.
const PRIVILEGED_PORTS_END: u16 = 1024;

/// The container's name in every probe pod.
pub(crate) const CONTAINER: &str = "probe";

/// The readiness gate of every mimic: a condition netverdict never sets, so the pod is never
/// Ready and never serves a Service (NetworkPolicy applies to it all the same).
pub(crate) const NEVER_READY: &str = "netverdict.io/never-ready";

/// What a mimic carries besides its labels, and what keeps it out of production.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct MimicIdentity {
    /// The service account of the workload it copies.
    pub(crate) service_account: Option<String>,
    /// An object of the run, its controller: no workload controller then adopts or counts it.
    pub(crate) owner: Option<OwnerReference>,
    /// Nodes it must not run on (`placement: {otherNodeThan}`).
    pub(crate) avoid_nodes: Vec<String>,
}

/// How a cluster gets the probe pods: their image and where they may run. The same for every
/// probe pod of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ProbePodOptions {
    pub(crate) image: String,
    /// `Always`, `IfNotPresent` or `Never`.
    pub(crate) pull_policy: String,
    /// Secrets (in each pod's namespace) to pull the image with.
    pub(crate) pull_secrets: Vec<String>,
    pub(crate) node_selector: BTreeMap<String, String>,
    pub(crate) tolerations: Vec<Toleration>,
}

/// What the runner knows of a pod to spawn.
#[derive(Clone, Debug)]
pub(crate) struct ProbePodSpec {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) ports: Vec<ServedPort>,
    /// Pins the pod to a node.
    pub(crate) node: Option<String>,
    pub(crate) options: ProbePodOptions,
    /// How long the pod may live at most.
    pub(crate) lifetime: Duration,
    /// A mimic's identity.
    pub(crate) mimic: Option<MimicIdentity>,
}

impl ProbePodSpec {
    /// Pods that serve ports become Ready once the responder listens; pods that only send probes
    /// never become Ready, so they stay out of every Service's endpoints even when their labels
    /// match a real workload's Service.
    pub(crate) fn becomes_ready(&self) -> bool {
        !self.ports.is_empty()
    }

    pub(crate) fn to_pod(&self, run: &RunId) -> Pod {
        let mut labels = self.labels.clone();
        run.label(&mut labels);
        let mut pod = Pod {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                restart_policy: Some("Never".to_owned()),
                active_deadline_seconds: Some(
                    i64::try_from(self.lifetime.as_secs().max(1)).unwrap_or(i64::MAX),
                ),
                termination_grace_period_seconds: Some(1),
                automount_service_account_token: Some(false),
                enable_service_links: Some(false),
                node_name: self.node.clone(),
                node_selector: Some(self.options.node_selector.clone())
                    .filter(|selector| !selector.is_empty()),
                tolerations: Some(self.options.tolerations.clone())
                    .filter(|tolerations| !tolerations.is_empty()),
                image_pull_secrets: Some(
                    self.options
                        .pull_secrets
                        .iter()
                        .map(|name| LocalObjectReference { name: name.clone() })
                        .collect(),
                )
                .filter(|secrets: &Vec<_>| !secrets.is_empty()),
                security_context: Some(PodSecurityContext {
                    run_as_non_root: Some(true),
                    run_as_user: Some(PROBE_UID),
                    run_as_group: Some(PROBE_UID),
                    seccomp_profile: Some(SeccompProfile {
                        type_: "RuntimeDefault".to_owned(),
                        ..SeccompProfile::default()
                    }),
                    sysctls: self.sysctls(),
                    ..PodSecurityContext::default()
                }),
                containers: vec![self.container()],
                ..PodSpec::default()
            }),
            status: None,
        };
        if let Some(mimic) = &self.mimic {
            mimic_parts(&mut pod, mimic);
        }
        pod
    }

    /// Lets the non-root responder bind ports below 1024, only when it serves one: the sysctl is
    /// safe since Kubernetes 1.22, and kubelets before that refuse pods that ask for it.
    fn sysctls(&self) -> Option<Vec<k8s_openapi::api::core::v1::Sysctl>> {
        needs_unprivileged_port_sysctl(self.ports.iter().map(|port| port.port)).then(|| {
            vec![k8s_openapi::api::core::v1::Sysctl {
                name: UNPRIVILEGED_PORT_START.to_owned(),
                value: "0".to_owned(),
            }]
        })
    }

    fn container(&self) -> Container {
        Container {
            name: CONTAINER.to_owned(),
            image: Some(self.options.image.clone()),
            image_pull_policy: Some(self.options.pull_policy.clone()),
            command: Some(self.command()),
            ports: Some(
                self.ports
                    .iter()
                    .map(|port| ContainerPort {
                        container_port: i32::from(port.port),
                        protocol: Some(protocol_name(port.protocol).to_owned()),
                        name: port.name.clone(),
                        ..ContainerPort::default()
                    })
                    .collect(),
            )
            .filter(|ports: &Vec<_>| !ports.is_empty()),
            env: Some(vec![
                downward("POD_NAME", "metadata.name"),
                downward("POD_NAMESPACE", "metadata.namespace"),
                downward("POD_IP", "status.podIP"),
            ]),
            readiness_probe: Some(self.readiness_probe()),
            resources: Some(ResourceRequirements {
                requests: Some(BTreeMap::from([
                    ("cpu".to_owned(), Quantity("10m".to_owned())),
                    ("memory".to_owned(), Quantity("32Mi".to_owned())),
                ])),
                limits: Some(BTreeMap::from([
                    ("cpu".to_owned(), Quantity("500m".to_owned())),
                    ("memory".to_owned(), Quantity("256Mi".to_owned())),
                ])),
                ..ResourceRequirements::default()
            }),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                read_only_root_filesystem: Some(true),
                run_as_non_root: Some(true),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".to_owned()]),
                    add: None,
                }),
                ..SecurityContext::default()
            }),
            ..Container::default()
        }
    }

    fn command(&self) -> Vec<String> {
        let mut command = vec!["netverdict".to_owned(), "serve".to_owned()];
        if self.ports.is_empty() {
            command.push("--idle".to_owned());
        }
        for (flag, protocol) in [
            ("--tcp", Protocol::Tcp),
            ("--udp", Protocol::Udp),
            ("--sctp", Protocol::Sctp),
        ] {
            let ports: Vec<String> = self
                .ports
                .iter()
                .filter(|port| port.protocol == protocol)
                .map(|port| port.port.to_string())
                .collect();
            if !ports.is_empty() {
                command.push(flag.to_owned());
                command.push(ports.join(","));
            }
        }
        command
    }

    fn readiness_probe(&self) -> Probe {
        let first_tcp = self
            .ports
            .iter()
            .find(|port| port.protocol == Protocol::Tcp);
        match first_tcp {
            Some(port) => Probe {
                tcp_socket: Some(TCPSocketAction {
                    port: IntOrString::Int(i32::from(port.port)),
                    host: None,
                }),
                period_seconds: Some(1),
                ..Probe::default()
            },
            // The responder binds every port before it runs on, so running means listening.
            None if self.becomes_ready() => exec_probe("true", 0),
            // Never Ready; the long delay keeps the kubelet from logging a failure every period.
            None => exec_probe("false", 86_400),
        }
    }
}

/// Gives a probe pod a mimic's service account, owner, readiness gate and node affinity.
fn mimic_parts(pod: &mut Pod, mimic: &MimicIdentity) {
    pod.metadata.owner_references = mimic.owner.clone().map(|owner| vec![owner]);
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    spec.service_account_name = mimic.service_account.clone();
    spec.readiness_gates = Some(vec![PodReadinessGate {
        condition_type: NEVER_READY.to_owned(),
    }]);
    if !mimic.avoid_nodes.is_empty() {
        spec.affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "kubernetes.io/hostname".to_owned(),
                            operator: "NotIn".to_owned(),
                            values: Some(mimic.avoid_nodes.clone()),
                        }]),
                        ..NodeSelectorTerm::default()
                    }],
                }),
                ..NodeAffinity::default()
            }),
            ..Affinity::default()
        });
    }
}

/// Whether a probe pod serving `ports` asks for [`UNPRIVILEGED_PORT_START`].
pub(crate) fn needs_unprivileged_port_sysctl(ports: impl IntoIterator<Item = u16>) -> bool {
    ports.into_iter().any(|port| port < PRIVILEGED_PORTS_END)
}

fn exec_probe(program: &str, initial_delay_seconds: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(vec![program.to_owned()]),
        }),
        initial_delay_seconds: Some(initial_delay_seconds),
        period_seconds: Some(1),
        ..Probe::default()
    }
}

fn downward(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: field_path.to_owned(),
                api_version: None,
            }),
            ..EnvVarSource::default()
        }),
        value: None,
    }
}

pub(crate) fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ports: Vec<ServedPort>) -> ProbePodSpec {
        ProbePodSpec {
            namespace: "shop".to_owned(),
            name: "api".to_owned(),
            labels: BTreeMap::from([("app".to_owned(), "api".to_owned())]),
            ports,
            node: None,
            options: ProbePodOptions {
                image: "netverdict:test".to_owned(),
                pull_policy: "IfNotPresent".to_owned(),
                ..ProbePodOptions::default()
            },
            lifetime: Duration::from_secs(600),
            mimic: None,
        }
    }

    fn port(port: u16, protocol: Protocol, name: Option<&str>) -> ServedPort {
        ServedPort {
            name: name.map(str::to_owned),
            port,
            protocol,
        }
    }

    #[test]
    fn a_serving_pod_runs_the_responder_and_is_ready_when_it_listens() {
        let run = RunId::parse("r1").unwrap();
        let pod = spec(vec![
            port(8080, Protocol::Tcp, Some("http")),
            port(5353, Protocol::Udp, None),
        ])
        .to_pod(&run);
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app"], "api");
        assert_eq!(labels["netverdict.io/run"], "r1");
        assert_eq!(labels["app.kubernetes.io/managed-by"], "netverdict");
        let container = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(
            container.command.as_deref().unwrap(),
            ["netverdict", "serve", "--tcp", "8080", "--udp", "5353"]
        );
        let ports = container.ports.as_ref().unwrap();
        assert_eq!(ports[0].name.as_deref(), Some("http"));
        assert_eq!(ports[1].protocol.as_deref(), Some("UDP"));
        let probe = container.readiness_probe.as_ref().unwrap();
        assert_eq!(
            probe.tcp_socket.as_ref().unwrap().port,
            IntOrString::Int(8080)
        );
    }

    #[test]
    fn a_sending_only_pod_never_becomes_ready() {
        let pod = spec(vec![]).to_pod(&RunId::parse("r1").unwrap());
        let container = &pod.spec.as_ref().unwrap().containers[0];
        let probe = container.readiness_probe.as_ref().unwrap();
        assert_eq!(
            probe.exec.as_ref().unwrap().command.as_deref().unwrap(),
            ["false"]
        );
        assert!(container.ports.is_none());
        assert_eq!(
            container.command.as_deref().unwrap(),
            ["netverdict", "serve", "--idle"]
        );
    }

    #[test]
    fn only_pods_serving_a_port_below_1024_ask_for_the_unprivileged_port_sysctl() {
        let sysctls = |ports| {
            spec(ports)
                .to_pod(&RunId::parse("r1").unwrap())
                .spec
                .unwrap()
                .security_context
                .unwrap()
                .sysctls
        };
        assert_eq!(sysctls(vec![]), None);
        assert_eq!(
            sysctls(vec![
                port(1024, Protocol::Tcp, None),
                port(8080, Protocol::Udp, None)
            ]),
            None
        );
        let asked = sysctls(vec![
            port(8080, Protocol::Tcp, None),
            port(53, Protocol::Udp, None),
        ])
        .unwrap();
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].name, UNPRIVILEGED_PORT_START);
        assert_eq!(asked[0].value, "0");
    }

    #[test]
    fn the_pod_passes_pod_security_restricted() {
        let pod = spec(vec![port(80, Protocol::Tcp, None)]).to_pod(&RunId::parse("r1").unwrap());
        let spec = pod.spec.as_ref().unwrap();
        let pod_security = spec.security_context.as_ref().unwrap();
        assert_eq!(pod_security.run_as_non_root, Some(true));
        assert_eq!(
            pod_security.seccomp_profile.as_ref().unwrap().type_,
            "RuntimeDefault"
        );
        let container = spec.containers[0].security_context.as_ref().unwrap();
        assert_eq!(container.allow_privilege_escalation, Some(false));
        assert_eq!(container.read_only_root_filesystem, Some(true));
        assert_eq!(
            container
                .capabilities
                .as_ref()
                .unwrap()
                .drop
                .as_deref()
                .unwrap(),
            ["ALL"]
        );
        assert!(spec.active_deadline_seconds.is_some());
        assert!(
            spec.containers[0]
                .resources
                .as_ref()
                .unwrap()
                .limits
                .is_some()
        );
    }
}
