//! The Kubernetes objects a scenario asks for.

use std::collections::BTreeMap;
use std::time::Duration;

use netverdict_engine::ServedPort;

use crate::cluster::{MimicIdentity, ProbePodOptions, ProbePodSpec, protocol_name};
use crate::k8s::{IntOrString, ObjectMeta, OwnerReference, Service, ServicePort, ServiceSpec};
use crate::scenario::{PodSpec, ServiceSpec as ScenarioService, TargetPort};

/// The probe pod for a scenario pod; a mimic's carries what it copied and its `owner`.
pub(crate) fn probe_pod(
    pod: &PodSpec,
    options: &ProbePodOptions,
    lifetime: Duration,
    owner: Option<&OwnerReference>,
) -> ProbePodSpec {
    let mimic = pod
        .mimic
        .as_ref()
        .and_then(|m| m.copied.as_ref())
        .map(|copied| MimicIdentity {
            service_account: copied.service_account.clone(),
            owner: owner.cloned(),
            avoid_nodes: copied.avoid_nodes.clone(),
        });
    ProbePodSpec {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        labels: pod.labels.clone(),
        ports: pod
            .ports
            .iter()
            .map(|port| ServedPort {
                name: port.name.clone(),
                port: port.port,
                protocol: port.protocol,
            })
            .collect(),
        node: pod.node.clone(),
        options: options.clone(),
        lifetime,
        mimic,
    }
}

/// The Service object for a scenario service.
pub(crate) fn service(service: &ScenarioService) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(service.name.clone()),
            namespace: Some(service.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(
                service
                    .selector
                    .clone()
                    .into_iter()
                    .collect::<BTreeMap<_, _>>(),
            ),
            ports: Some(
                service
                    .ports
                    .iter()
                    .map(|port| ServicePort {
                        name: port.name.clone(),
                        port: i32::from(port.port),
                        protocol: Some(protocol_name(port.protocol).to_owned()),
                        target_port: Some(match &port.target_port {
                            TargetPort::Number(number) => IntOrString::Int(i32::from(*number)),
                            TargetPort::Name(name) => IntOrString::String(name.clone()),
                        }),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}
