//! A Deployment's status (`calculateStatus`) and its conditions (`syncRolloutStatus`):
//! `Available` from the available replicas, `Progressing` from the rollout's progress, its
//! completion, or its deadline.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};

use crate::controllers::rollout::Strategy;
use crate::controllers::typed;

/// The `Progressing` reasons.
pub(super) const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub(super) const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub(super) const RS_UPDATED: &str = "ReplicaSetUpdated";
pub(super) const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub(super) const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub(super) const PAUSED: &str = "DeploymentPaused";
pub(super) const RESUMED: &str = "DeploymentResumed";
pub(super) const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";

pub(super) fn condition<'a>(
    status: &'a DeploymentStatus,
    kind: &str,
) -> Option<&'a DeploymentCondition> {
    status.conditions.iter().flatten().find(|c| c.type_ == kind)
}

/// `NewDeploymentCondition`: both of its times now.
pub(super) fn new_condition(
    kind: &str,
    status: &str,
    reason: &str,
    message: String,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: kind.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(typed::now()),
        last_transition_time: Some(typed::now()),
    }
}

/// `SetDeploymentCondition`: replaces the condition of the same type unless it has the same
/// status and reason; a transition time survives a change that keeps the status.
pub(super) fn set_condition(status: &mut DeploymentStatus, mut new: DeploymentCondition) {
    let current = condition(status, &new.type_);
    if let Some(current) = current {
        if current.status == new.status && current.reason == new.reason {
            return;
        }
        if current.status == new.status {
            new.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &new.type_.clone());
    status.conditions.get_or_insert_with(Vec::new).push(new);
}

pub(super) fn remove_condition(status: &mut DeploymentStatus, kind: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != kind);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn status_of(
    rs: &ReplicaSet,
    field: fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> i32,
) -> i32 {
    rs.status.as_ref().map_or(0, field)
}

/// `calculateStatus`: the counts over every ReplicaSet, the updated ones of the new, and the
/// `Available` condition.
pub(super) fn calculate(
    deployment: &Deployment,
    strategy: &Strategy,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
) -> DeploymentStatus {
    let sum = |field: fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> i32| -> i32 {
        all.iter().map(|rs| status_of(rs, field)).sum()
    };
    let available = sum(|s| s.available_replicas.unwrap_or(0));
    let total: i32 = all.iter().map(|rs| spec_replicas(rs)).sum();
    let old = deployment.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: deployment.metadata.generation,
        replicas: typed::nonzero(sum(|s| s.replicas)),
        updated_replicas: typed::nonzero(new.map_or(0, |rs| status_of(rs, |s| s.replicas))),
        ready_replicas: typed::nonzero(sum(|s| s.ready_replicas.unwrap_or(0))),
        available_replicas: typed::nonzero(available),
        unavailable_replicas: typed::nonzero((total - available).max(0)),
        collision_count: old.collision_count,
        conditions: old.conditions,
        terminating_replicas: None,
    };
    if available >= strategy.replicas - strategy.max_unavailable {
        set_condition(
            &mut status,
            new_condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            ),
        );
    } else {
        set_condition(
            &mut status,
            new_condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            ),
        );
    }
    status
}

fn count(n: Option<i32>) -> i32 {
    n.unwrap_or(0)
}

/// `DeploymentComplete`: every desired replica updated and available, the spec observed.
pub(super) fn complete(deployment: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    count(status.updated_replicas) == replicas
        && count(status.replicas) == replicas
        && count(status.available_replicas) == replicas
        && status.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0)
}

/// `DeploymentProgressing`: more updated, ready or available replicas, or fewer old ones,
/// than the status last said.
fn progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let old_old = count(old.replicas) - count(old.updated_replicas);
    let new_old = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || new_old < old_old
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

/// `DeploymentTimedOut`: no progress recorded for `progressDeadlineSeconds`.
fn timed_out(deadline: i32, status: &DeploymentStatus) -> bool {
    let Some(progressing) = condition(status, "Progressing") else {
        return false;
    };
    if progressing.reason.as_deref() == Some(TIMED_OUT) {
        return true;
    }
    progressing
        .last_update_time
        .as_ref()
        .is_some_and(|t| typed::seconds(t) + i64::from(deadline) < typed::now_seconds())
}

/// `syncRolloutStatus`: the new status with the `Progressing` condition brought up to date.
pub(super) fn with_progress(
    deployment: &Deployment,
    mut status: DeploymentStatus,
    new: Option<&ReplicaSet>,
) -> DeploymentStatus {
    let old = deployment.status.clone().unwrap_or_default();
    let Some(deadline) = deployment
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
    else {
        remove_condition(&mut status, "Progressing");
        return status;
    };
    let current = condition(&old, "Progressing");
    let finished = count(status.replicas) == count(status.updated_replicas)
        && current.is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    if finished {
        return status;
    }
    let rs_name = new.map(|rs| typed::name(&rs.metadata).to_owned());
    let about = |what: &str| match &rs_name {
        Some(name) => format!("ReplicaSet \"{name}\" {what}"),
        None => format!(
            "Deployment \"{}\" {what}",
            typed::name(&deployment.metadata)
        ),
    };
    if complete(deployment, &status) {
        let done = new_condition(
            "Progressing",
            "True",
            NEW_RS_AVAILABLE,
            about("has successfully progressed."),
        );
        set_condition(&mut status, done);
    } else if progressing(&old, &status) {
        let mut update = new_condition("Progressing", "True", RS_UPDATED, about("is progressing."));
        if let Some(current) = current.filter(|c| c.status == "True") {
            update.last_transition_time = current.last_transition_time.clone();
        }
        remove_condition(&mut status, "Progressing");
        status.conditions.get_or_insert_with(Vec::new).push(update);
    } else if timed_out(deadline, &status) {
        let late = new_condition(
            "Progressing",
            "False",
            TIMED_OUT,
            about("has timed out progressing."),
        );
        set_condition(&mut status, late);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_their_transition_time_while_their_status_holds() {
        let mut status = DeploymentStatus::default();
        let mut first = new_condition("Available", "False", "A", "a".into());
        first.last_transition_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::new(1000, 0).unwrap(),
        ));
        set_condition(&mut status, first);
        set_condition(
            &mut status,
            new_condition("Available", "False", "B", "b".into()),
        );
        let kept = condition(&status, "Available").unwrap();
        assert_eq!(kept.reason.as_deref(), Some("B"));
        assert_eq!(
            typed::seconds(kept.last_transition_time.as_ref().unwrap()),
            1000
        );
        set_condition(
            &mut status,
            new_condition("Available", "True", "C", "c".into()),
        );
        let flipped = condition(&status, "Available").unwrap();
        assert_ne!(
            typed::seconds(flipped.last_transition_time.as_ref().unwrap()),
            1000
        );
        assert_eq!(status.conditions.as_ref().unwrap().len(), 1);
    }
}
