//! The Job controller (batch/v1), as kube-controller-manager's runs a NonIndexed Job: pods from
//! the template (`<job>-<suffix>`, the template's labels with `job-name` and `controller-uid`,
//! a controller ownerReference), through the ServiceAccount admission a real API server applies;
//! `parallelism` and `completions`; a failed pod is replaced after a back-off (10 s, doubling
//! up to 6 min) until more than `backoffLimit` failed (with `restartPolicy: OnFailure`, the
//! container restarts count too); `activeDeadlineSeconds`; `ttlSecondsAfterFinished`. Status:
//! `startTime`, `active`, `ready`, `terminating`, `succeeded`, `failed`, `completionTime`, and
//! the conditions of Kubernetes 1.33 (`SuccessCriteriaMet` then `Complete`; `FailureTarget`
//! then `Failed` once the Job's pods have stopped), with the controller's Events.
//!
//! Deleting a Job is the garbage collector's (`controllers/gc.rs`): with `propagationPolicy:
//! Background` its pods are deleted after it; with `Foreground` before it goes; with `Orphan`
//! or none (batch/v1's default, which the API server applies) they lose their ownerReference
//! and stay.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netverdict_apiserver::{ApiError, Propagation, Resource, Selection, WatchEvent};
use serde_json::{Value, json};

use crate::cluster::{Ctx, now};
use crate::events::ObjectRef;

/// The label naming a Job's uid on its pods (the selector's).
const UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// How often every Job is looked at again (deadlines, back-offs, TTLs).
const TICK: Duration = Duration::from_millis(500);
const FIRST_BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(360);

/// What the controller remembers of a Job besides its status (by uid).
#[derive(Default)]
struct Memory {
    started: Option<Instant>,
    /// No new pod before this (back-off after a failure or a refused create).
    next_create: Option<Instant>,
    failures_seen: i64,
    finished: Option<Instant>,
}

/// Runs the controller until the task is aborted.
pub(crate) async fn run(ctx: Arc<Ctx>) {
    let mut memory: HashMap<String, Memory> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    loop {
        let watched = (
            ctx.store
                .watch(Resource::Jobs, None, &Selection::default(), None),
            ctx.store
                .watch(Resource::Pods, None, &Selection::default(), None),
        );
        let (Ok(mut jobs), Ok(mut pods)) = watched else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        loop {
            let open = tokio::select! {
                event = jobs.recv() => event.is_some(),
                event = pods.recv() => event.is_some_and(|e| !matches!(e, WatchEvent::Bookmark { .. })),
                _ = tick.tick() => true,
            };
            if !open {
                break;
            }
            // Whatever changed, everything is looked at: Jobs are few.
            reconcile_all(&ctx, &mut memory).await;
        }
    }
}

async fn reconcile_all(ctx: &Ctx, memory: &mut HashMap<String, Memory>) {
    let Ok((jobs, _)) = ctx.store.list(Resource::Jobs, None, &Selection::default()) else {
        return;
    };
    let uids: BTreeSet<String> = jobs.iter().map(|j| meta(j, "uid").to_owned()).collect();
    memory.retain(|uid, _| uids.contains(uid));
    for job in jobs {
        let uid = meta(&job, "uid").to_owned();
        let remembered = memory.entry(uid).or_default();
        if let Err(e) = reconcile(ctx, &job, remembered).await {
            tracing::debug!(job = meta(&job, "name"), error = %e, "reconcile a Job");
        }
    }
}

fn meta<'a>(object: &'a Value, field: &str) -> &'a str {
    object["metadata"][field].as_str().unwrap_or_default()
}

fn job_ref(job: &Value) -> ObjectRef {
    ObjectRef {
        kind: "Job",
        namespace: meta(job, "namespace").to_owned(),
        name: meta(job, "name").to_owned(),
        uid: meta(job, "uid").to_owned(),
    }
}

fn event(ctx: &Ctx, job: &Value, warning: bool, reason: &str, message: &str) {
    ctx.events.record(
        &job_ref(job),
        "job-controller",
        None,
        warning,
        reason,
        message,
    );
}

/// The uid of the Job that controls `pod`, if one does.
fn controller_uid(pod: &Value) -> Option<&str> {
    pod["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["kind"] == "Job" && o["controller"] == true)?
        .get("uid")?
        .as_str()
}

/// The Job's pods: those it controls.
fn pods_of(ctx: &Ctx, job: &Value) -> Vec<Value> {
    let uid = meta(job, "uid");
    let selection = Selection {
        label_selector: Some(format!("{UID_LABEL}={uid}")),
        ..Selection::default()
    };
    ctx.store
        .list(Resource::Pods, Some(meta(job, "namespace")), &selection)
        .map(|(pods, _)| pods)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| controller_uid(p) == Some(uid))
        .collect()
}

fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or_default()
}

fn has_condition(object: &Value, kind: &str) -> bool {
    object["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == kind && c["status"] == "True")
    })
}

/// What the Job's pods say.
#[derive(Default)]
struct Census {
    active: Vec<Value>,
    ready: i64,
    terminating: i64,
    succeeded: i64,
    failed: i64,
    /// Container restarts of active pods (they count as failures with `OnFailure`).
    restarts: i64,
}

fn census(pods: Vec<Value>) -> Census {
    let mut census = Census::default();
    for pod in pods {
        let deleting = !pod["metadata"]["deletionTimestamp"].is_null();
        match phase(&pod) {
            "Succeeded" => census.succeeded += 1,
            "Failed" => census.failed += 1,
            _ if deleting => census.terminating += 1,
            _ => {
                census.ready += i64::from(has_condition(&pod, "Ready"));
                census.restarts += pod["status"]["containerStatuses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["restartCount"].as_i64())
                    .sum::<i64>();
                census.active.push(pod);
            }
        }
    }
    census
}

fn spec_count(job: &Value, field: &str, default: i64) -> i64 {
    job["spec"][field].as_i64().unwrap_or(default)
}

/// Why a Job failed: the condition's reason and message.
#[derive(Clone, Copy)]
enum Failure {
    BackoffLimitExceeded,
    DeadlineExceeded,
}

impl Failure {
    fn reason(self) -> &'static str {
        match self {
            Failure::BackoffLimitExceeded => "BackoffLimitExceeded",
            Failure::DeadlineExceeded => "DeadlineExceeded",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Failure::BackoffLimitExceeded => "Job has reached the specified backoff limit",
            Failure::DeadlineExceeded => "Job was active longer than specified deadline",
        }
    }
}

async fn reconcile(ctx: &Ctx, job: &Value, memory: &mut Memory) -> Result<(), ApiError> {
    // A Job being deleted is the garbage collector's: its pods go or are let go as the
    // deletion's propagation policy says.
    if !job["metadata"]["deletionTimestamp"].is_null() {
        return Ok(());
    }
    let finished = has_condition(job, "Complete") || has_condition(job, "Failed");
    if finished {
        return expire(ctx, job, memory);
    }
    let census = census(pods_of(ctx, job));
    let restart_on_failure = job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure";
    let previous = |field: &str| job["status"][field].as_i64().unwrap_or(0);
    let succeeded = census.succeeded.max(previous("succeeded"));
    let failed = census.failed.max(previous("failed"));
    let started = *memory.started.get_or_insert_with(Instant::now);
    let counted_failures = failed
        + if restart_on_failure {
            census.restarts
        } else {
            0
        };
    let deadline = job["spec"]["activeDeadlineSeconds"]
        .as_i64()
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)));
    let failure = if has_condition(job, "FailureTarget") {
        Some(failure_of(job))
    } else if deadline.is_some_and(|d| started.elapsed() >= d) {
        Some(Failure::DeadlineExceeded)
    } else if counted_failures > spec_count(job, "backoffLimit", 6) {
        Some(Failure::BackoffLimitExceeded)
    } else {
        None
    };
    let completions = spec_count(job, "completions", 1);
    let mut status = Status {
        census: &census,
        succeeded,
        failed,
        conditions: Vec::new(),
        completed: false,
    };
    if let Some(failure) = failure {
        stop_active(ctx, job, &census.active);
        status.conditions.push(condition("FailureTarget", failure));
        if census.active.is_empty() && census.terminating == 0 {
            status.conditions.push(condition("Failed", failure));
            event(ctx, job, true, failure.reason(), failure.message());
            memory.finished = Some(Instant::now());
        }
    } else if succeeded >= completions {
        stop_active(ctx, job, &census.active);
        let met = json!({"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
            "message": "Reached expected number of succeeded pods", "lastProbeTime": now(), "lastTransitionTime": now()});
        status.conditions.push(met.clone());
        if census.active.is_empty() && census.terminating == 0 {
            let mut complete = met;
            complete["type"] = json!("Complete");
            status.conditions.push(complete);
            status.completed = true;
            event(ctx, job, false, "Completed", "Job completed");
            memory.finished = Some(Instant::now());
        }
    } else {
        let parallelism = spec_count(job, "parallelism", 1);
        let wanted = parallelism.min(completions - succeeded);
        let missing = wanted - i64::try_from(census.active.len()).unwrap_or(0);
        if missing > 0 {
            start_pods(ctx, job, memory, missing, failed).await;
        }
    }
    status.write(ctx, job)
}

fn failure_of(job: &Value) -> Failure {
    let target = job["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "FailureTarget"));
    match target.and_then(|c| c["reason"].as_str()) {
        Some("DeadlineExceeded") => Failure::DeadlineExceeded,
        _ => Failure::BackoffLimitExceeded,
    }
}

fn condition(kind: &str, failure: Failure) -> Value {
    json!({"type": kind, "status": "True", "reason": failure.reason(), "message": failure.message(),
           "lastProbeTime": now(), "lastTransitionTime": now()})
}

/// The status the controller writes.
struct Status<'a> {
    census: &'a Census,
    succeeded: i64,
    failed: i64,
    /// Conditions to hold (kept from before when already there, with their times).
    conditions: Vec<Value>,
    completed: bool,
}

impl Status<'_> {
    fn write(self, ctx: &Ctx, job: &Value) -> Result<(), ApiError> {
        let uid = meta(job, "uid").to_owned();
        let census = self.census;
        let active = i64::try_from(census.active.len()).unwrap_or(0);
        ctx.store.mutate(
            Resource::Jobs,
            Some(meta(job, "namespace")),
            meta(job, "name"),
            |live| {
                if live["metadata"]["uid"] != uid.as_str() {
                    return Err(ApiError::conflict("jobs.batch", meta(live, "name")));
                }
                let status = &mut live["status"];
                if status["startTime"].is_null() {
                    status["startTime"] = now();
                }
                for (field, value) in [
                    ("active", active),
                    ("ready", census.ready),
                    ("terminating", census.terminating),
                    ("succeeded", self.succeeded),
                    ("failed", self.failed),
                ] {
                    status[field] = json!(value);
                }
                status["uncountedTerminatedPods"] = json!({});
                let mut kept: Vec<Value> =
                    status["conditions"].as_array().cloned().unwrap_or_default();
                for wanted in self.conditions {
                    if !kept.iter().any(|c| c["type"] == wanted["type"]) {
                        kept.push(wanted);
                    }
                }
                if !kept.is_empty() {
                    status["conditions"] = json!(kept);
                }
                if self.completed && status["completionTime"].is_null() {
                    status["completionTime"] = now();
                }
                Ok(())
            },
        )?;
        Ok(())
    }
}

/// Deletes the Job's pods that still run (a Job that failed or has its completions).
fn stop_active(ctx: &Ctx, job: &Value, active: &[Value]) {
    for pod in active {
        let (ns, name) = (meta(pod, "namespace"), meta(pod, "name"));
        if ctx
            .store
            .delete(Resource::Pods, Some(ns), name, None)
            .is_ok()
        {
            event(
                ctx,
                job,
                false,
                "SuccessfulDelete",
                &format!("Deleted pod: {name}"),
            );
        }
    }
}

/// Creates up to `count` pods from the template, once any back-off has passed.
async fn start_pods(ctx: &Ctx, job: &Value, memory: &mut Memory, count: i64, failed: i64) {
    if failed > memory.failures_seen {
        // A pod failed since the last one was created: wait before replacing it.
        memory.failures_seen = failed;
        let exponent = u32::try_from(failed - 1).unwrap_or(0).min(16);
        let delay = FIRST_BACKOFF
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(MAX_BACKOFF);
        memory.next_create = Some(Instant::now() + delay);
    }
    if memory.next_create.is_some_and(|at| Instant::now() < at) {
        return;
    }
    let namespace = meta(job, "namespace");
    for _ in 0..count {
        let mut pod = pod_from_template(job);
        let created = match netverdict_apiserver::admit_pod(&ctx.store, namespace, &mut pod).await {
            Ok(()) => ctx.store.create(Resource::Pods, Some(namespace), pod),
            Err(e) => Err(e),
        };
        match created {
            Ok(pod) => {
                let message = format!("Created pod: {}", meta(&pod, "name"));
                event(ctx, job, false, "SuccessfulCreate", &message);
            }
            Err(e) => {
                event(
                    ctx,
                    job,
                    true,
                    "FailedCreate",
                    &format!("Error creating: {}", e.message),
                );
                memory.next_create = Some(Instant::now() + FIRST_BACKOFF);
                return;
            }
        }
    }
}

/// A pod of the Job: its template, named after it, controlled by it.
fn pod_from_template(job: &Value) -> Value {
    let template = &job["spec"]["template"];
    let labels = template["metadata"]["labels"].clone();
    let mut metadata = json!({
        "generateName": format!("{}-", meta(job, "name")),
        "namespace": meta(job, "namespace"),
        "labels": if labels.is_object() { labels } else { json!({}) },
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta(job, "name"),
                             "uid": meta(job, "uid"), "controller": true, "blockOwnerDeletion": true}],
    });
    if template["metadata"]["annotations"].is_object() {
        metadata["annotations"] = template["metadata"]["annotations"].clone();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]})
}

/// A finished Job goes `ttlSecondsAfterFinished` after it finished (its pods first), as the
/// TTL-after-finished controller deletes it.
fn expire(ctx: &Ctx, job: &Value, memory: &mut Memory) -> Result<(), ApiError> {
    let Some(ttl) = job["spec"]["ttlSecondsAfterFinished"].as_i64() else {
        return Ok(());
    };
    let finished = *memory.finished.get_or_insert_with(Instant::now);
    if finished.elapsed() < Duration::from_secs(u64::try_from(ttl).unwrap_or(0)) {
        return Ok(());
    }
    let (ns, name) = (meta(job, "namespace"), meta(job, "name"));
    ctx.store.delete_propagating(
        Resource::Jobs,
        Some(ns),
        name,
        None,
        Propagation::Foreground,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(phase: &str, ready: bool, restarts: i64, deleting: bool) -> Value {
        let mut p = json!({"metadata": {"name": "p"}, "status": {"phase": phase,
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": [{"restartCount": restarts}]}});
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        }
        p
    }

    #[test]
    fn the_census_counts_pods_as_the_job_status_does() {
        let c = census(vec![
            pod("Running", true, 2, false),
            pod("Pending", false, 0, false),
            pod("Running", false, 0, true),
            pod("Succeeded", false, 0, false),
            pod("Failed", false, 0, false),
            pod("Failed", false, 0, true),
        ]);
        assert_eq!(
            (
                c.active.len(),
                c.ready,
                c.terminating,
                c.succeeded,
                c.failed,
                c.restarts
            ),
            (2, 1, 1, 1, 2, 2)
        );
    }

    #[test]
    fn a_pod_of_the_job_carries_its_template_and_its_owner() {
        let job = json!({"metadata": {"name": "suite", "namespace": "nv", "uid": "u1"},
            "spec": {"template": {"metadata": {"labels": {"job-name": "suite", UID_LABEL: "u1"}},
                                  "spec": {"restartPolicy": "Never", "containers": [{"name": "c"}]}}}});
        let p = pod_from_template(&job);
        assert_eq!(p["metadata"]["generateName"], "suite-");
        assert_eq!(p["metadata"]["labels"]["job-name"], "suite");
        assert_eq!(controller_uid(&p), Some("u1"));
        assert_eq!(p["spec"]["restartPolicy"], "Never");
    }
}
