//! The ReplicaSet controller (`pkg/controller/replicaset`): as many pods as `spec.replicas`,
//! counting only the pods it owns (claimed as `claim` says), and the status the Deployment
//! controller and `kubectl` read.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use netverdict_apiserver::Resource;

use super::claim::Claimer;
use super::pod_control::PodControl;
use super::{pods, typed};
use crate::cluster::Ctx;

const COMPONENT: &str = "replicaset-controller";
/// Upstream's `BurstReplicas`: at most this many creations or deletions in one sync.
const BURST: usize = 500;

/// Syncs every ReplicaSet once.
pub(crate) fn reconcile(ctx: &Ctx) {
    let sets: Vec<ReplicaSet> = typed::list(&ctx.store, Resource::ReplicaSets);
    if sets.is_empty() {
        return;
    }
    let all: Vec<Pod> = typed::list(&ctx.store, Resource::Pods);
    for rs in &sets {
        sync(ctx, rs, &all);
    }
}

fn sync(ctx: &Ctx, rs: &ReplicaSet, all: &[Pod]) {
    let Some(spec) = rs.spec.as_ref() else { return };
    let Some(selector) = typed::selector(&spec.selector) else {
        return;
    };
    let ns = typed::namespace(&rs.metadata);
    let active: Vec<&Pod> = all
        .iter()
        .filter(|p| typed::namespace(&p.metadata) == ns && pods::is_active(p))
        .collect();
    let claimer = Claimer {
        store: &ctx.store,
        kind: Resource::ReplicaSets,
        owner: &rs.metadata,
        resource: Resource::Pods,
    };
    let owned = claimer.claim(&active, |p| selector.matches(&typed::labels(&p.metadata)));
    let failure = if typed::deleting(&rs.metadata) {
        None
    } else {
        manage(ctx, rs, &owned)
    };
    write_status(ctx, rs, &owned, failure);
}

/// Creates or deletes pods towards `spec.replicas`; returns the failure to report.
fn manage(ctx: &Ctx, rs: &ReplicaSet, owned: &[Pod]) -> Option<(&'static str, String)> {
    let spec = rs.spec.as_ref()?;
    let want = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
    let control = PodControl {
        ctx,
        kind: Resource::ReplicaSets,
        owner: &rs.metadata,
        component: COMPONENT,
    };
    if owned.len() < want {
        let template = spec.template.as_ref()?;
        let ns = typed::namespace(&rs.metadata);
        let reference = typed::controller_ref(Resource::ReplicaSets, &rs.metadata);
        let prefix = format!("{}-", typed::name(&rs.metadata));
        for _ in 0..(want - owned.len()).min(BURST) {
            let pod = pods::from_template(template, ns, &prefix, reference.clone());
            match control.create(&pod) {
                Ok(_) => {}
                Err(e) if typed::namespace_terminating(&e) => return None,
                Err(e) => return Some(("FailedCreate", e.message)),
            }
        }
    } else if owned.len() > want {
        let refs: Vec<&Pod> = owned.iter().collect();
        let excess = (owned.len() - want).min(BURST);
        for pod in pods::deletion_order(&refs).into_iter().take(excess) {
            match control.delete(pod) {
                Ok(()) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => return Some(("FailedDelete", e.message)),
            }
        }
    }
    None
}

/// `calculateStatus`: the owned pods (as they were before this sync changed anything), and a
/// `ReplicaFailure` condition while creating or deleting fails.
fn write_status(
    ctx: &Ctx,
    rs: &ReplicaSet,
    owned: &[Pod],
    failure: Option<(&'static str, String)>,
) {
    let spec = rs.spec.as_ref();
    let template_labels = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let now = typed::now_seconds();
    let fully_labeled = owned
        .iter()
        .filter(|p| {
            let labels = typed::labels(&p.metadata);
            template_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
        })
        .count();
    let ready = owned.iter().filter(|p| pods::is_ready(p)).count();
    let available = owned
        .iter()
        .filter(|p| pods::is_available(p, min_ready, now))
        .count();
    let old = rs.status.clone().unwrap_or_default();
    let mut conditions: Vec<ReplicaSetCondition> = old
        .conditions
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != "ReplicaFailure")
        .collect();
    if let Some((reason, message)) = failure {
        let kept = old
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "ReplicaFailure" && c.reason.as_deref() == Some(reason));
        conditions.push(ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some(reason.into()),
            message: Some(message),
            last_transition_time: Some(
                kept.and_then(|c| c.last_transition_time.clone())
                    .unwrap_or_else(typed::now),
            ),
        });
    }
    let status = ReplicaSetStatus {
        replicas: typed::count(owned.len()),
        fully_labeled_replicas: typed::nonzero(typed::count(fully_labeled)),
        ready_replicas: typed::nonzero(typed::count(ready)),
        available_replicas: typed::nonzero(typed::count(available)),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: None,
    };
    if rs.status.as_ref() == Some(&status) {
        return;
    }
    let meta = &rs.metadata;
    let written = typed::update(
        &ctx.store,
        Resource::ReplicaSets,
        meta,
        |current: &mut ReplicaSet| current.status = Some(status),
    );
    if let Err(e) = written {
        tracing::debug!(replicaset = typed::name(meta), error = %e, "status not written");
    }
}
