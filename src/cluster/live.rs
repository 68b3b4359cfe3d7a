//! Reading what is deployed: the pods, workloads, Services and namespace labels that a
//! scenario's live targets and mimics name, before the run creates anything.
//!
//! Only reads: `get` and `list` of pods, ReplicaSets, Deployments, StatefulSets, DaemonSets,
//! Services, and `get` of namespaces (optional: without it a namespace's labels are unknown).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::failure::Failure;
use super::labels::RUN_KEY;
use crate::k8s::{
    Api, Client, Container, DaemonSet, Deployment, IntOrString, ListParams, Namespace, Pod,
    ReplicaSet, Service, StatefulSet,
};
use crate::scenario::live::{LiveService, LiveState, LiveWorkload};
use crate::scenario::{LivePod, ServedPort, ServicePort, TargetPort, WorkloadKind};

/// What to read: the namespaces involved, the workloads and the Services named.
#[derive(Clone, Debug, Default)]
pub(crate) struct LiveQuery {
    pub(crate) namespaces: BTreeSet<String>,
    pub(crate) workloads: BTreeSet<(WorkloadKind, String, String)>,
    pub(crate) services: BTreeSet<(String, String)>,
}

/// A read the API server refused or failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {what}: {}", Failure::of(.source))]
pub(crate) struct ReadError {
    what: String,
    source: kube::Error,
}

fn failed(what: impl Into<String>) -> impl FnOnce(kube::Error) -> ReadError {
    let what = what.into();
    move |source| ReadError { what, source }
}

/// Reads what `query` names. A workload or Service that does not exist is not in the state.
///
/// # Errors
/// A list or get the API server refuses (a 404 is no error: the object does not exist).
pub(crate) async fn read_live(client: &Client, query: &LiveQuery) -> Result<LiveState, ReadError> {
    let mut state = LiveState::default();
    let namespaces = Api::<Namespace>::all(client.clone());
    for namespace in &query.namespaces {
        // Without `get namespaces` (or for one that does not exist) the labels are unknown.
        if let Ok(Some(found)) = namespaces.get_opt(namespace).await {
            state
                .namespaces
                .insert(namespace.clone(), found.metadata.labels.unwrap_or_default());
        }
        let pods = Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&ListParams::default())
            .await
            .map_err(failed(format!("the pods of namespace {namespace}")))?;
        state.pods.extend(pods.items.iter().filter_map(live_pod));
    }
    for (kind, namespace, name) in &query.workloads {
        if let Some(workload) = read_workload(client, *kind, namespace, name, &state.pods).await? {
            state.workloads.push(workload);
        }
    }
    for (namespace, name) in &query.services {
        let found = Api::<Service>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(failed(format!("service {namespace}/{name}")))?;
        state.services.extend(found.as_ref().map(live_service));
    }
    Ok(state)
}

/// A deployed pod as the scenario model holds it; `None` for the pods of netverdict runs.
pub(crate) fn live_pod(pod: &Pod) -> Option<LivePod> {
    let meta = &pod.metadata;
    if meta
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(RUN_KEY))
    {
        return None;
    }
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let ready = meta.deletion_timestamp.is_none()
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    Some(LivePod {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        labels: meta.labels.clone().unwrap_or_default(),
        ip: status
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse::<IpAddr>().ok()),
        node: spec.and_then(|s| s.node_name.clone()),
        ready,
        service_account: spec.and_then(|s| {
            s.service_account_name
                .clone()
                .or_else(|| s.service_account.clone())
        }),
        ports: containers.iter().flat_map(container_ports).collect(),
        ready_ports: if ready {
            containers.iter().filter_map(readiness_port).collect()
        } else {
            Vec::new()
        },
        restarts: status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .map(|c| (c.name.clone(), c.restart_count))
            .collect(),
    })
}

fn container_ports(container: &Container) -> Vec<ServedPort> {
    container
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(ServedPort {
                port: u16::try_from(p.container_port).ok()?,
                protocol: protocol(p.protocol.as_deref()),
                name: p.name.clone(),
            })
        })
        .collect()
}

fn protocol(name: Option<&str>) -> netverdict_engine::Protocol {
    match name {
        Some("UDP") => netverdict_engine::Protocol::Udp,
        Some("SCTP") => netverdict_engine::Protocol::Sctp,
        _ => netverdict_engine::Protocol::Tcp,
    }
}

/// The port a container's readiness probe connects to (TCP, HTTP or gRPC), by number or by the
/// name of one of its ports; an exec probe shows nothing about a port.
fn readiness_port(container: &Container) -> Option<u16> {
    let probe = container.readiness_probe.as_ref()?;
    let port = probe
        .tcp_socket
        .as_ref()
        .map(|t| t.port.clone())
        .or_else(|| probe.http_get.as_ref().map(|h| h.port.clone()))
        .or_else(|| probe.grpc.as_ref().map(|g| IntOrString::Int(g.port)))?;
    match port {
        IntOrString::Int(n) => u16::try_from(n).ok(),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

fn live_service(service: &Service) -> LiveService {
    let spec = service.spec.clone().unwrap_or_default();
    LiveService {
        namespace: service.metadata.namespace.clone().unwrap_or_default(),
        name: service.metadata.name.clone().unwrap_or_default(),
        selector: spec.selector.filter(|s| !s.is_empty()),
        cluster_ip: spec
            .cluster_ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok()),
        ports: spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(ServicePort {
                    name: p.name.clone(),
                    port: u16::try_from(p.port).ok()?,
                    protocol: protocol(p.protocol.as_deref()),
                    target_port: match &p.target_port {
                        Some(IntOrString::Int(n)) => TargetPort::Number(u16::try_from(*n).ok()?),
                        Some(IntOrString::String(name)) => match name.parse::<u16>() {
                            Ok(n) => TargetPort::Number(n),
                            Err(_) => TargetPort::Name(name.clone()),
                        },
                        None => TargetPort::Number(u16::try_from(p.port).ok()?),
                    },
                })
            })
            .collect(),
    }
}

/// What a workload's pod template says, and the uid its pods' controller reference names.
struct Template {
    uid: String,
    labels: BTreeMap<String, String>,
    service_account: Option<String>,
}

/// The workload `kind namespace/name` and the pods it controls; `None` when it does not exist.
async fn read_workload(
    client: &Client,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
    pods: &[LivePod],
) -> Result<Option<LiveWorkload>, ReadError> {
    let what = format!("{} {namespace}/{name}", kind.resource());
    let in_namespace: Vec<&LivePod> = pods.iter().filter(|p| p.namespace == namespace).collect();
    let (template, owners) = match kind {
        WorkloadKind::Pod => {
            let Some(pod) = in_namespace.iter().find(|p| p.name == name) else {
                return Ok(None);
            };
            let workload = LiveWorkload {
                kind,
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                template_labels: pod.labels.clone(),
                service_account: pod.service_account.clone(),
                pods: vec![name.to_owned()],
            };
            return Ok(Some(workload));
        }
        WorkloadKind::Deployment => {
            let Some(template) = deployment(client, namespace, name, &what).await? else {
                return Ok(None);
            };
            let owners = replica_sets_of(client, namespace, &template.uid).await?;
            (template, owners)
        }
        WorkloadKind::StatefulSet | WorkloadKind::DaemonSet => {
            let Some(template) = set(client, kind, namespace, name, &what).await? else {
                return Ok(None);
            };
            let owners = BTreeSet::from([template.uid.clone()]);
            (template, owners)
        }
    };
    let controlled = controlled_pods(client, namespace, &owners).await?;
    Ok(Some(LiveWorkload {
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        template_labels: template.labels,
        service_account: template.service_account,
        pods: controlled,
    }))
}

async fn deployment(
    client: &Client,
    namespace: &str,
    name: &str,
    what: &str,
) -> Result<Option<Template>, ReadError> {
    let found = Api::<Deployment>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(failed(what))?;
    Ok(found.map(|d| {
        let template = d.spec.map(|s| s.template).unwrap_or_default();
        template_of(d.metadata.uid, template)
    }))
}

async fn set(
    client: &Client,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
    what: &str,
) -> Result<Option<Template>, ReadError> {
    if kind == WorkloadKind::StatefulSet {
        let found = Api::<StatefulSet>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(failed(what))?;
        return Ok(found.map(|s| {
            let template = s.spec.map(|s| s.template).unwrap_or_default();
            template_of(s.metadata.uid, template)
        }));
    }
    let found = Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(failed(what))?;
    Ok(found.map(|d| {
        let template = d.spec.map(|s| s.template).unwrap_or_default();
        template_of(d.metadata.uid, template)
    }))
}

fn template_of(
    uid: Option<String>,
    template: k8s_openapi::api::core::v1::PodTemplateSpec,
) -> Template {
    let spec = template.spec.unwrap_or_default();
    Template {
        uid: uid.unwrap_or_default(),
        labels: template.metadata.and_then(|m| m.labels).unwrap_or_default(),
        service_account: spec.service_account_name.or(spec.service_account),
    }
}

/// The uids of the ReplicaSets a Deployment (`uid`) controls.
async fn replica_sets_of(
    client: &Client,
    namespace: &str,
    uid: &str,
) -> Result<BTreeSet<String>, ReadError> {
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(failed(format!("the ReplicaSets of namespace {namespace}")))?;
    Ok(sets
        .items
        .iter()
        .filter(|rs| controller_uid(&rs.metadata) == Some(uid))
        .filter_map(|rs| rs.metadata.uid.clone())
        .collect())
}

/// The names of the pods of `namespace` whose controller is one of `owners`, in name order.
async fn controlled_pods(
    client: &Client,
    namespace: &str,
    owners: &BTreeSet<String>,
) -> Result<Vec<String>, ReadError> {
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(failed(format!("the pods of namespace {namespace}")))?;
    let mut names: Vec<String> = pods
        .items
        .iter()
        .filter(|p| controller_uid(&p.metadata).is_some_and(|uid| owners.contains(uid)))
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    names.sort();
    Ok(names)
}

/// The uid of an object's controller (its owner reference with `controller: true`).
fn controller_uid(meta: &crate::k8s::ObjectMeta) -> Option<&str> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

#[cfg(test)]
mod tests {
    use netverdict_apiserver::{Resource, Store};
    use serde_json::json;

    use super::*;
    use crate::cluster::testing::serve;

    /// `shop` holds deployment `api` (template app=api, service account api) whose ReplicaSet
    /// controls `api-1`, a pod `stray` with the same labels that no controller owns, and a
    /// probe pod of a run.
    fn shop(store: &Store) -> String {
        store
            .create(
                Resource::Namespaces,
                None,
                json!({"metadata": {"name": "shop", "labels": {"team": "shop"}}}),
            )
            .unwrap();
        let deployment = store
            .create(Resource::Deployments, Some("shop"), json!({
                "metadata": {"name": "api"},
                "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {"serviceAccountName": "api", "containers": [{"name": "api", "image": "api"}]}}}
            }))
            .unwrap();
        let owner = |kind: &str, name: &str, object: &serde_json::Value| {
            json!([{"apiVersion": "apps/v1", "kind": kind, "name": name,
                    "uid": object["metadata"]["uid"], "controller": true}])
        };
        let rs = store
            .create(Resource::ReplicaSets, Some("shop"), json!({
                "metadata": {"name": "api-7d9f", "ownerReferences": owner("Deployment", "api", &deployment)},
                "spec": {"selector": {"matchLabels": {"app": "api", "pod-template-hash": "7d9f"}}, "template": {
                    "metadata": {"labels": {"app": "api", "pod-template-hash": "7d9f"}},
                    "spec": {"containers": [{"name": "api", "image": "api"}]}}}
            }))
            .unwrap();
        let pod = |name: &str, owners: serde_json::Value, labels: serde_json::Value| {
            json!({"metadata": {"name": name, "labels": labels, "ownerReferences": owners},
                   "spec": {"containers": [{"name": "api", "image": "api",
                            "ports": [{"containerPort": 8080, "name": "http"}]}]}})
        };
        let api = store
            .create(
                Resource::Pods,
                Some("shop"),
                pod(
                    "api-1",
                    owner("ReplicaSet", "api-7d9f", &rs),
                    json!({"app": "api", "pod-template-hash": "7d9f"}),
                ),
            )
            .unwrap();
        store
            .create(
                Resource::Pods,
                Some("shop"),
                pod("stray", json!([]), json!({"app": "api"})),
            )
            .unwrap();
        store
            .create(
                Resource::Pods,
                Some("shop"),
                pod(
                    "nv-like-api-1a2b",
                    json!([]),
                    json!({"app": "api", RUN_KEY: "r1"}),
                ),
            )
            .unwrap();
        api["metadata"]["uid"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn a_deployment_brings_the_pods_its_replica_sets_control_and_its_template() {
        let store = Store::new();
        let (_server, client) = serve(&store).await;
        shop(&store);
        let query = LiveQuery {
            namespaces: ["shop".to_owned()].into(),
            workloads: [
                (
                    WorkloadKind::Deployment,
                    "shop".to_owned(),
                    "api".to_owned(),
                ),
                (
                    WorkloadKind::Deployment,
                    "shop".to_owned(),
                    "gone".to_owned(),
                ),
            ]
            .into(),
            services: [("shop".to_owned(), "api".to_owned())].into(),
        };
        let state = read_live(&client, &query).await.unwrap();
        assert_eq!(state.namespaces["shop"]["team"], "shop");
        let names: Vec<&str> = state.pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["api-1", "stray"],
            "a run's pods are not deployed pods"
        );
        assert_eq!(
            state.workloads.len(),
            1,
            "a missing Deployment is not found"
        );
        let api = &state.workloads[0];
        assert_eq!(
            api.pods,
            ["api-1"],
            "a pod no controller owns is not the Deployment's"
        );
        assert_eq!(api.template_labels["app"], "api");
        assert_eq!(api.service_account.as_deref(), Some("api"));
        assert!(state.services.is_empty());
    }

    #[tokio::test]
    async fn a_deployed_pod_replaced_during_the_run_is_named() {
        let store = Store::new();
        let (_server, client) = serve(&store).await;
        shop(&store);
        let query = LiveQuery {
            namespaces: ["shop".to_owned()].into(),
            ..LiveQuery::default()
        };
        let state = read_live(&client, &query).await.unwrap();
        let fates = crate::cluster::live_fates(&client, &state.pods).await;
        assert!(fates.deleted.is_empty(), "{:?}", fates.deleted);
        store
            .delete(Resource::Pods, Some("shop"), "api-1", Some(0))
            .unwrap();
        store
            .create(
                Resource::Pods,
                Some("shop"),
                json!({"metadata": {"name": "api-1"}, "spec": {"containers": [{"name": "api", "image": "api"}]}}),
            )
            .unwrap();
        let fates = crate::cluster::live_fates(&client, &state.pods).await;
        assert_eq!(fates.deleted, ["shop/api-1"]);
    }

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_deployed_pod_brings_its_ports_readiness_and_identity() {
        let found = live_pod(&pod(serde_json::json!({
            "metadata": {"name": "api-1", "namespace": "shop", "uid": "u1",
                         "labels": {"app": "api", "pod-template-hash": "7d9f"}},
            "spec": {"nodeName": "n1", "serviceAccountName": "api", "containers": [{
                "name": "api", "image": "api",
                "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 9090, "protocol": "UDP"}],
                "readinessProbe": {"httpGet": {"port": "http", "path": "/ready"}}
            }, {
                "name": "sidecar", "image": "s",
                "readinessProbe": {"exec": {"command": ["true"]}}
            }]},
            "status": {"podIP": "10.244.0.7", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "api", "restartCount": 2, "ready": true, "image": "api", "imageID": ""}]}
        })))
        .unwrap();
        assert_eq!(found.name, "api-1");
        assert!(found.ready);
        assert_eq!(found.ip, Some("10.244.0.7".parse().unwrap()));
        assert_eq!(found.service_account.as_deref(), Some("api"));
        assert_eq!(found.ports.len(), 2);
        assert_eq!(found.ready_ports, [8080]);
        assert_eq!(found.restarts, [("api".to_owned(), 2)]);

        // Terminating: not Ready, whatever its condition says; no readiness evidence either.
        let leaving = live_pod(&pod(serde_json::json!({
            "metadata": {"name": "api-2", "namespace": "shop", "deletionTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "api", "readinessProbe": {"tcpSocket": {"port": 8080}}}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        })))
        .unwrap();
        assert!(!leaving.ready);
        assert!(leaving.ready_ports.is_empty());
        // A run's own pods are not deployed pods.
        let probe = pod(serde_json::json!({
            "metadata": {"name": "nv-like-api-1a2b", "namespace": "shop", "labels": {"netverdict.io/run": "r1"}},
            "spec": {"containers": []}
        }));
        assert!(live_pod(&probe).is_none());
    }
}
