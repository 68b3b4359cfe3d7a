//! What a mimic copies: the pod labels of what it mimics, less the labels controllers adopt
//! pods by, its service account, and where it runs.

use std::collections::BTreeSet;

use netverdict_engine::Labels;

use super::error::Unresolvable;
use super::state::LiveState;
use crate::model::{Copied, LivePod, LiveSelection, Mimic, Placement, WorkloadKind};

/// The labels Kubernetes controllers put on the pods they make and select them by: a mimic that
/// carried them could be counted, adopted or deleted by the workload's controller.
pub const ADOPTION_LABELS: [&str; 9] = [
    // Deployment -> ReplicaSet.
    "pod-template-hash",
    // StatefulSet and DaemonSet revisions.
    "controller-revision-hash",
    // StatefulSet: the pod's own identity.
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    // DaemonSet.
    "pod-template-generation",
    // Job.
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
];

/// `labels` without the adoption labels, and the keys left out, in order.
pub fn strip_adoption_labels(labels: &Labels) -> (Labels, Vec<String>) {
    let mut kept = labels.clone();
    let mut left_out = Vec::new();
    for key in ADOPTION_LABELS {
        if kept.remove(key).is_some() {
            left_out.push(key.to_owned());
        }
    }
    (kept, left_out)
}

/// The adoption labels a kind's controller gives its pods, when none of its pods shows them.
fn kind_adoption_labels(kind: WorkloadKind) -> &'static [&'static str] {
    match kind {
        WorkloadKind::Deployment => &["pod-template-hash"],
        WorkloadKind::StatefulSet => &[
            "controller-revision-hash",
            "statefulset.kubernetes.io/pod-name",
        ],
        WorkloadKind::DaemonSet => &["controller-revision-hash", "pod-template-generation"],
        WorkloadKind::Pod => &[],
    }
}

/// What `mimic` copies from the cluster; `Err` says why it cannot.
pub(super) fn copy(mimic: &Mimic, state: &LiveState) -> Result<Copied, Unresolvable> {
    let pods = state.pods_of(&mimic.of)?;
    let (labels, left_out, service_account) = match &mimic.of {
        LiveSelection::Workload {
            kind,
            namespace,
            name,
        } => {
            let workload =
                state
                    .workload(*kind, namespace, name)
                    .ok_or_else(|| Unresolvable::NoWorkload {
                        what: mimic.of.to_string(),
                        kind: kind.as_str(),
                        name: name.clone(),
                        namespace: namespace.clone(),
                    })?;
            let (labels, mut left_out) = strip_adoption_labels(&workload.template_labels);
            left_out.extend(shown_adoption_labels(*kind, &pods));
            (labels, dedup(left_out), workload.service_account.clone())
        }
        LiveSelection::Pods { .. } => shared_identity(&mimic.of, &pods)?,
    };
    let (node, avoid_nodes) = placement(mimic.placement.as_ref(), state)?;
    Ok(Copied {
        labels,
        left_out,
        service_account,
        node,
        avoid_nodes,
    })
}

/// The adoption labels the pods of a workload carry (its kind's, when it has no pod).
fn shown_adoption_labels(kind: WorkloadKind, pods: &[&LivePod]) -> Vec<String> {
    let shown: Vec<String> = ADOPTION_LABELS
        .iter()
        .filter(|key| pods.iter().any(|p| p.labels.contains_key(**key)))
        .map(|key| (*key).to_owned())
        .collect();
    if shown.is_empty() && pods.is_empty() {
        kind_adoption_labels(kind)
            .iter()
            .map(|key| (*key).to_owned())
            .collect()
    } else {
        shown
    }
}

/// The labels every pod of a selector shares (less adoption labels), the labels left out, and
/// their one service account.
fn shared_identity(
    of: &LiveSelection,
    pods: &[&LivePod],
) -> Result<(Labels, Vec<String>, Option<String>), Unresolvable> {
    let Some(first) = pods.first() else {
        return Err(Unresolvable::NothingToCopy { of: of.to_string() });
    };
    let mut shared = first.labels.clone();
    let mut left_out: BTreeSet<String> = BTreeSet::new();
    for pod in &pods[1..] {
        shared.retain(|key, value| {
            let same = pod.labels.get(key) == Some(value);
            if !same {
                left_out.insert(key.clone());
            }
            same
        });
    }
    for pod in pods {
        for key in pod.labels.keys().filter(|k| !shared.contains_key(*k)) {
            left_out.insert(key.clone());
        }
    }
    let (labels, adoption) = strip_adoption_labels(&shared);
    let accounts: BTreeSet<Option<&String>> =
        pods.iter().map(|p| p.service_account.as_ref()).collect();
    if accounts.len() > 1 {
        let names: Vec<&str> = accounts
            .iter()
            .map(|a| a.map_or("default", String::as_str))
            .collect();
        return Err(Unresolvable::ServiceAccountsDiffer {
            of: of.to_string(),
            accounts: names.join(", "),
        });
    }
    let mut out: Vec<String> = ADOPTION_LABELS
        .iter()
        .filter(|key| left_out.contains(**key) || adoption.iter().any(|a| a == **key))
        .map(|key| (*key).to_owned())
        .collect();
    out.extend(
        left_out
            .into_iter()
            .filter(|key| !ADOPTION_LABELS.contains(&key.as_str())),
    );
    Ok((labels, out, first.service_account.clone()))
}

/// The node a mimic is pinned to, and the nodes it must avoid.
fn placement(
    placement: Option<&Placement>,
    state: &LiveState,
) -> Result<(Option<String>, Vec<String>), Unresolvable> {
    match placement {
        None => Ok((None, Vec::new())),
        Some(Placement::Node(node)) => Ok((Some(node.clone()), Vec::new())),
        Some(Placement::SameNodeAs(of)) => {
            let pods = state.pods_of(of)?;
            let node = pods
                .iter()
                .filter(|p| p.ready)
                .find_map(|p| p.node.clone())
                .ok_or_else(|| Unresolvable::NoNode { of: of.to_string() })?;
            Ok((Some(node), Vec::new()))
        }
        Some(Placement::OtherNodeThan(of)) => {
            let pods = state.pods_of(of)?;
            let nodes: BTreeSet<String> = pods.iter().filter_map(|p| p.node.clone()).collect();
            Ok((None, nodes.into_iter().collect()))
        }
    }
}

fn dedup(mut keys: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    keys
}
