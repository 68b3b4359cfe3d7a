//! The one place that names the `kube` and `k8s-openapi` items netverdict uses, so version pins
//! and aliases live in one module.

pub(crate) use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, Container, ContainerPort, Endpoints, EnvVar, EnvVarSource, Event,
    ExecAction, LocalObjectReference, Namespace, ObjectFieldSelector, Pod, PodSecurityContext,
    PodSpec, Probe, ResourceRequirements, SeccompProfile, SecurityContext, Service, ServicePort,
    ServiceSpec, TCPSocketAction, Toleration,
};
pub(crate) use k8s_openapi::api::discovery::v1::EndpointSlice;
pub(crate) use k8s_openapi::api::networking::v1::NetworkPolicy;
pub(crate) use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
pub(crate) use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Status};
pub(crate) use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
pub(crate) use kube::api::{Api, AttachParams, DeleteParams, ListParams, PostParams};
pub(crate) use kube::config::{KubeConfigOptions, Kubeconfig};
pub(crate) use kube::core::Status as KubeStatus;
pub(crate) use kube::runtime::watcher;
pub(crate) use kube::{Client, Config};
