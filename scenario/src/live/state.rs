//! What the runner read from the cluster, and what could not be found there.

use std::collections::BTreeMap;
use std::fmt;

use netverdict_engine::Labels;

use super::error::Unresolvable;
use crate::model::{LivePod, LiveSelection, ServicePort, WorkloadKind, Written};

/// The deployed objects a scenario's live parts name, as read at run time.
#[derive(Clone, Debug, Default)]
pub struct LiveState {
    /// The labels of the namespaces involved; one that could not be read is missing.
    pub namespaces: BTreeMap<String, Labels>,
    /// The workloads named, as found (a missing one is not here).
    pub workloads: Vec<LiveWorkload>,
    /// Every pod of the namespaces involved that no netverdict run made.
    pub pods: Vec<LivePod>,
    /// The Services named, as found.
    pub services: Vec<LiveService>,
}

/// A Deployment, StatefulSet, DaemonSet or Pod as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveWorkload {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// The labels of its pod template (a Pod's own labels).
    pub template_labels: Labels,
    /// The service account of its pod template (a Pod's own).
    pub service_account: Option<String>,
    /// The names of the pods it controls (for a Deployment, through its ReplicaSets).
    pub pods: Vec<String>,
}

/// A Service as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveService {
    pub namespace: String,
    pub name: String,
    /// `None`: the Service has no selector (its endpoints are managed by hand).
    pub selector: Option<Labels>,
    /// `None` for a headless Service.
    pub cluster_ip: Option<std::net::IpAddr>,
    pub ports: Vec<ServicePort>,
}

impl LiveState {
    pub(crate) fn workload(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
    ) -> Option<&LiveWorkload> {
        self.workloads
            .iter()
            .find(|w| w.kind == kind && w.namespace == namespace && w.name == name)
    }

    pub(crate) fn pod(&self, namespace: &str, name: &str) -> Option<&LivePod> {
        self.pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }

    pub(crate) fn service(&self, namespace: &str, name: &str) -> Option<&LiveService> {
        self.services
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }

    /// The pods of `selection` as found, sorted by name; `Err` says why there are none to
    /// look at (the workload does not exist).
    pub(crate) fn pods_of(&self, selection: &LiveSelection) -> Result<Vec<&LivePod>, Unresolvable> {
        let mut pods: Vec<&LivePod> = match selection {
            LiveSelection::Workload {
                kind,
                namespace,
                name,
            } => {
                let workload = self.workload(*kind, namespace, name).ok_or_else(|| {
                    Unresolvable::NoWorkload {
                        what: selection.to_string(),
                        kind: kind.as_str(),
                        name: name.clone(),
                        namespace: namespace.clone(),
                    }
                })?;
                workload
                    .pods
                    .iter()
                    .filter_map(|pod| self.pod(namespace, pod))
                    .collect()
            }
            LiveSelection::Pods {
                namespace,
                selector,
            } => self
                .pods
                .iter()
                .filter(|p| p.namespace == *namespace && selector.matches(&p.labels))
                .collect(),
        };
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(pods)
    }
}

/// A live part of a scenario the run could not resolve, where the scenario writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveError {
    pub written: Written,
    pub reason: Unresolvable,
}

impl fmt::Display for LiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.written, self.reason)
    }
}
