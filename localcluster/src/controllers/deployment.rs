//! The Deployment controller (`pkg/controller/deployment`): a ReplicaSet per pod template,
//! named and labelled by the template's hash (`pod-template-hash`), rolled from the old ones
//! to the new within maxSurge and maxUnavailable (or all at once with `Recreate`), scaled in
//! proportion when the Deployment is, paused on request, with the revision annotations
//! `kubectl rollout history` and `undo` read and the status `kubectl rollout status` waits on.

mod status;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use netverdict_apiserver::{Propagation, Resource};

use self::status::{FAILED_RS_CREATE, FOUND_NEW_RS, NEW_RS_CREATED, PAUSED, RESUMED};
use super::claim::Claimer;
use super::rollout::{self, Rs, Strategy};
use super::{hash, pods, typed};
use crate::cluster::Ctx;

const COMPONENT: &str = "deployment-controller";
/// The label of a ReplicaSet's template hash on it, its selector and its pods.
pub(crate) const TEMPLATE_HASH: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Annotations of a Deployment that are not copied to its ReplicaSets.
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];
/// Upstream's limit on the revision-history annotation.
const MAX_REVISION_HISTORY_CHARS: usize = 2000;

/// Syncs every Deployment once.
pub(crate) fn reconcile(ctx: &Ctx) {
    let deployments: Vec<Deployment> = typed::list(&ctx.store, Resource::Deployments);
    if deployments.is_empty() {
        return;
    }
    let sets: Vec<ReplicaSet> = typed::list(&ctx.store, Resource::ReplicaSets);
    let all_pods: Vec<Pod> = typed::list(&ctx.store, Resource::Pods);
    for deployment in deployments {
        let ns = typed::namespace(&deployment.metadata).to_owned();
        let in_ns = |meta: &ObjectMeta| typed::namespace(meta) == ns;
        let sets: Vec<&ReplicaSet> = sets.iter().filter(|rs| in_ns(&rs.metadata)).collect();
        let pods: Vec<&Pod> = all_pods.iter().filter(|p| in_ns(&p.metadata)).collect();
        if let Some(mut sync) = Sync::new(ctx, deployment, &sets, pods) {
            sync.run();
            sync.write();
        }
    }
}

fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

fn revision(rs: &ReplicaSet) -> i64 {
    annotation(&rs.metadata, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The template without the `pod-template-hash` label, for `EqualIgnoreHash`.
fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut template = template.clone();
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(TEMPLATE_HASH);
    }
    template
}

/// One sync of one Deployment: `d` is the working copy whose annotations and status are
/// written back at the end; `sets` are the ReplicaSets it owns, kept up to date as they change.
struct Sync<'a> {
    ctx: &'a Ctx,
    stored: Deployment,
    d: Deployment,
    strategy: Strategy,
    template: PodTemplateSpec,
    sets: Vec<ReplicaSet>,
    pods: Vec<&'a Pod>,
}

impl<'a> Sync<'a> {
    fn new(
        ctx: &'a Ctx,
        deployment: Deployment,
        candidates: &[&ReplicaSet],
        pods: Vec<&'a Pod>,
    ) -> Option<Sync<'a>> {
        let spec = deployment.spec.as_ref()?;
        let selector = typed::selector(&spec.selector).filter(|s| !s.is_empty())?;
        let template = spec.template.clone();
        let claimer = Claimer {
            store: &ctx.store,
            kind: Resource::Deployments,
            owner: &deployment.metadata,
            resource: Resource::ReplicaSets,
        };
        let mut sets = claimer.claim(candidates, |rs: &ReplicaSet| {
            selector.matches(&typed::labels(&rs.metadata))
        });
        sets.sort_by_key(|rs| {
            (
                typed::created(&rs.metadata),
                typed::name(&rs.metadata).to_owned(),
            )
        });
        Some(Sync {
            ctx,
            strategy: Strategy::of(&deployment),
            stored: deployment.clone(),
            d: deployment,
            template,
            sets,
            pods,
        })
    }

    fn run(&mut self) {
        if typed::deleting(&self.d.metadata) {
            let new = self.find_new();
            self.sync_status(new, false);
            return;
        }
        self.check_paused_conditions();
        let paused = self.d.spec.as_ref().and_then(|s| s.paused) == Some(true);
        if paused || self.is_scaling_event() {
            self.sync(paused);
            return;
        }
        if self.strategy.rolling {
            self.rolling();
        } else {
            self.recreate();
        }
    }

    /// Writes the annotations and status back when this sync changed them, unless the
    /// Deployment changed meanwhile (as an update at the resourceVersion read would fail): the
    /// next sync starts again from what it is now.
    fn write(&self) {
        if self.d.metadata.annotations == self.stored.metadata.annotations
            && self.d.status == self.stored.status
        {
            return;
        }
        let meta = &self.d.metadata;
        let (annotations, status) = (meta.annotations.clone(), self.d.status.clone());
        let read_at = self.stored.metadata.resource_version.clone();
        let written = typed::update(
            &self.ctx.store,
            Resource::Deployments,
            meta,
            |current: &mut Deployment| {
                if current.metadata.resource_version == read_at {
                    current.metadata.annotations = annotations;
                    current.status = status;
                }
            },
        );
        if let Err(e) = written {
            tracing::debug!(deployment = typed::name(meta), error = %e, "status not written");
        }
    }

    fn event(&self, warning: bool, reason: &str, message: &str) {
        let me = typed::event_ref(Resource::Deployments, &self.d.metadata);
        self.ctx
            .events
            .record(&me, COMPONENT, None, warning, reason, message);
    }

    fn status_mut(&mut self) -> &mut k8s_openapi::api::apps::v1::DeploymentStatus {
        self.d.status.get_or_insert_with(Default::default)
    }

    /// `FindNewReplicaSet`: the oldest ReplicaSet whose template is the Deployment's.
    fn find_new(&self) -> Option<usize> {
        let wanted = without_hash(&self.template);
        self.sets.iter().position(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| without_hash(t) == wanted)
        })
    }

    fn old_indices(&self, new: Option<usize>) -> Vec<usize> {
        (0..self.sets.len()).filter(|i| Some(*i) != new).collect()
    }

    /// `FilterActiveReplicaSets`: those with replicas.
    fn active(&self, indices: &[usize]) -> Vec<usize> {
        indices
            .iter()
            .copied()
            .filter(|i| replicas(&self.sets[*i]) > 0)
            .collect()
    }

    fn view(&self, i: usize) -> Rs {
        let rs = &self.sets[i];
        Rs {
            replicas: replicas(rs),
            available: rs
                .status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0),
            created: (
                typed::created(&rs.metadata),
                typed::name(&rs.metadata).to_owned(),
            ),
            max_replicas: annotation(&rs.metadata, MAX_REPLICAS).and_then(|m| m.parse().ok()),
        }
    }

    fn set_revision(&mut self, revision: &str) {
        let annotations = self
            .d
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new);
        if annotations.get(REVISION).map(String::as_str) != Some(revision) {
            annotations.insert(REVISION.into(), revision.into());
        }
    }

    /// `SetNewReplicaSetAnnotations`: the Deployment's annotations copied, the revision raised
    /// to `revision` (the one it had kept in the history: a rollback), and for a ReplicaSet
    /// about to be created, the replica annotations. Returns whether anything changed.
    fn new_rs_annotations(&self, rs: &mut ReplicaSet, revision: i64, exists: bool) -> bool {
        let mut changed = false;
        let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
        for (key, value) in self.d.metadata.annotations.iter().flatten() {
            if !NOT_COPIED.contains(&key.as_str()) && annotations.get(key) != Some(value) {
                annotations.insert(key.clone(), value.clone());
                changed = true;
            }
        }
        let old = annotations.get(REVISION).cloned();
        let old_number: i64 = match old.as_deref().map(str::parse) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => return changed,
        };
        if old_number < revision {
            annotations.insert(REVISION.into(), revision.to_string());
            changed = true;
            if let Some(old) = old {
                let history = annotations
                    .get(REVISION_HISTORY)
                    .cloned()
                    .unwrap_or_default();
                let mut kept: Vec<&str> = history.split(',').filter(|r| !r.is_empty()).collect();
                kept.push(&old);
                while kept.join(",").len() > MAX_REVISION_HISTORY_CHARS && kept.len() > 1 {
                    kept.remove(0);
                }
                annotations.insert(REVISION_HISTORY.into(), kept.join(","));
            }
        }
        if !exists {
            annotations.insert(DESIRED_REPLICAS.into(), self.strategy.replicas.to_string());
            annotations.insert(
                MAX_REPLICAS.into(),
                self.strategy.max_replicas().to_string(),
            );
            changed = true;
        }
        changed
    }

    /// `getNewReplicaSet`: the new ReplicaSet brought up to date, or created when `create`.
    fn new_rs(&mut self, create: bool) -> Option<usize> {
        let new = self.find_new();
        let max_old = self
            .old_indices(new)
            .iter()
            .map(|i| revision(&self.sets[*i]))
            .max()
            .unwrap_or(0);
        match new {
            Some(i) => {
                self.sync_existing_new(i, max_old + 1);
                Some(i)
            }
            None if create => self.create_new(max_old + 1),
            None => None,
        }
    }

    fn sync_existing_new(&mut self, i: usize, revision: i64) {
        let mut updated = self.sets[i].clone();
        let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
        let annotations_changed = self.new_rs_annotations(&mut updated, revision, true);
        let spec = updated.spec.get_or_insert_with(ReplicaSetSpec::default);
        if annotations_changed || spec.min_ready_seconds != min_ready {
            spec.min_ready_seconds = min_ready;
            let meta = updated.metadata.clone();
            let written = typed::update(
                &self.ctx.store,
                Resource::ReplicaSets,
                &meta,
                |current: &mut ReplicaSet| {
                    current.metadata.annotations = meta.annotations.clone();
                    if let Some(spec) = current.spec.as_mut() {
                        spec.min_ready_seconds = min_ready;
                    }
                },
            );
            if let Ok(written) = written {
                self.sets[i] = written;
            }
            return;
        }
        if let Some(revision) = annotation(&self.sets[i].metadata, REVISION).map(str::to_owned) {
            self.set_revision(&revision);
        }
        let has_deadline = self
            .d
            .spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
            .is_some();
        let status = self.d.status.clone().unwrap_or_default();
        if has_deadline && status::condition(&status, "Progressing").is_none() {
            let name = typed::name(&self.sets[i].metadata).to_owned();
            let found = status::new_condition(
                "Progressing",
                "True",
                FOUND_NEW_RS,
                format!("Found new replica set \"{name}\""),
            );
            status::set_condition(self.status_mut(), found);
        }
    }

    /// Creates the new ReplicaSet `<deployment>-<hash>`; a name taken by another template is a
    /// hash collision, counted in the status for the next sync to try another hash.
    fn create_new(&mut self, revision: i64) -> Option<usize> {
        let collisions = self.d.status.as_ref().and_then(|s| s.collision_count);
        let hash = hash::template_hash(&self.template, collisions);
        let rs = self.new_rs_object(&hash, revision);
        let ns = typed::namespace(&self.d.metadata).to_owned();
        let name = typed::name(&rs.metadata).to_owned();
        let count = replicas(&rs);
        match typed::create(&self.ctx.store, Resource::ReplicaSets, &ns, &rs) {
            Ok(created) => {
                if count > 0 {
                    self.event(
                        false,
                        "ScalingReplicaSet",
                        &format!("Scaled up replica set {name} from 0 to {count}"),
                    );
                }
                self.set_revision(&revision.to_string());
                if self
                    .d
                    .spec
                    .as_ref()
                    .and_then(|s| s.progress_deadline_seconds)
                    .is_some()
                {
                    let message = format!("Created new replica set \"{name}\"");
                    let created_cond =
                        status::new_condition("Progressing", "True", NEW_RS_CREATED, message);
                    status::set_condition(self.status_mut(), created_cond);
                }
                self.sets.push(created);
                Some(self.sets.len() - 1)
            }
            Err(e) if e.code == 409 && e.reason == "AlreadyExists" => {
                *self.status_mut().collision_count.get_or_insert(0) += 1;
                None
            }
            Err(e) if typed::namespace_terminating(&e) => None,
            Err(e) => {
                let message = format!("Failed to create new replica set \"{name}\": {}", e.message);
                let failed = status::new_condition(
                    "Progressing",
                    "False",
                    FAILED_RS_CREATE,
                    message.clone(),
                );
                status::set_condition(self.status_mut(), failed);
                self.event(true, FAILED_RS_CREATE, &message);
                None
            }
        }
    }

    fn new_rs_object(&self, hash: &str, revision: i64) -> ReplicaSet {
        let mut template = self.template.clone();
        let template_meta = template.metadata.get_or_insert_with(ObjectMeta::default);
        template_meta
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(TEMPLATE_HASH.into(), hash.into());
        let mut selector = self
            .d
            .spec
            .as_ref()
            .map(|s| s.selector.clone())
            .unwrap_or_default();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(TEMPLATE_HASH.into(), hash.into());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("{}-{hash}", typed::name(&self.d.metadata))),
                namespace: self.d.metadata.namespace.clone(),
                owner_references: Some(vec![typed::controller_ref(
                    Resource::Deployments,
                    &self.d.metadata,
                )]),
                labels: template_meta.labels.clone(),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: self.d.spec.as_ref().and_then(|s| s.min_ready_seconds),
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let mut all: Vec<Rs> = (0..self.sets.len()).map(|i| self.view(i)).collect();
        let new = Rs {
            replicas: 0,
            available: 0,
            created: (i64::MAX, String::new()),
            max_replicas: None,
        };
        all.push(new.clone());
        if let Some(spec) = rs.spec.as_mut() {
            spec.replicas = Some(rollout::new_rs_replicas(&self.strategy, &all, &new));
        }
        self.new_rs_annotations(&mut rs, revision, false);
        rs
    }

    /// `scaleReplicaSet`: the size and the replica annotations; returns whether it was resized.
    fn scale(&mut self, i: usize, size: i32) -> bool {
        let old_size = replicas(&self.sets[i]);
        let desired = self.strategy.replicas.to_string();
        let max = self.strategy.max_replicas().to_string();
        let meta = &self.sets[i].metadata;
        let annotations_fit = annotation(meta, DESIRED_REPLICAS) == Some(desired.as_str())
            && annotation(meta, MAX_REPLICAS) == Some(max.as_str());
        if old_size == size && annotations_fit {
            return false;
        }
        let written = typed::update(
            &self.ctx.store,
            Resource::ReplicaSets,
            meta,
            |current: &mut ReplicaSet| {
                current.spec.get_or_insert_with(Default::default).replicas = Some(size);
                let annotations = current
                    .metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new);
                annotations.insert(DESIRED_REPLICAS.into(), desired);
                annotations.insert(MAX_REPLICAS.into(), max);
            },
        );
        let Ok(written) = written else { return false };
        let name = typed::name(&written.metadata).to_owned();
        self.sets[i] = written;
        if old_size == size {
            return false;
        }
        let direction = if size > old_size { "up" } else { "down" };
        self.event(
            false,
            "ScalingReplicaSet",
            &format!("Scaled {direction} replica set {name} from {old_size} to {size}"),
        );
        true
    }

    /// `checkPausedConditions`: `Progressing` Unknown while paused, and once resumed.
    fn check_paused_conditions(&mut self) {
        if self
            .d
            .spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
            .is_none()
        {
            return;
        }
        let status = self.d.status.clone().unwrap_or_default();
        let current = status::condition(&status, "Progressing");
        if current.is_some_and(|c| c.reason.as_deref() == Some(status::TIMED_OUT)) {
            return;
        }
        let paused_now = current.is_some_and(|c| c.reason.as_deref() == Some(PAUSED));
        let paused = self.d.spec.as_ref().and_then(|s| s.paused) == Some(true);
        let (reason, message) = match (paused, paused_now) {
            (true, false) => (PAUSED, "Deployment is paused"),
            (false, true) => (RESUMED, "Deployment is resumed"),
            _ => return,
        };
        let condition = status::new_condition("Progressing", "Unknown", reason, message.into());
        status::set_condition(self.status_mut(), condition);
    }

    /// `isScalingEvent`: an active ReplicaSet was sized for another replica count.
    fn is_scaling_event(&mut self) -> bool {
        // Brings the new ReplicaSet's annotations up to date first, as upstream does.
        self.new_rs(false);
        let all: Vec<usize> = (0..self.sets.len()).collect();
        self.active(&all).iter().any(|i| {
            annotation(&self.sets[*i].metadata, DESIRED_REPLICAS)
                .and_then(|d| d.parse::<i32>().ok())
                .is_some_and(|desired| desired != self.strategy.replicas)
        })
    }

    /// `sync`: a scaling event or a paused Deployment: resize, no rollout.
    fn sync(&mut self, paused: bool) {
        let new = self.new_rs(false);
        self.scale_all(new);
        if paused {
            self.cleanup(new);
        }
        self.sync_status(new, false);
    }

    /// `scale`: the one active ReplicaSet (or the newest) takes the whole size; a saturated new
    /// one makes the old ones go; otherwise the sizes grow or shrink in proportion.
    fn scale_all(&mut self, new: Option<usize>) {
        let old = self.old_indices(new);
        let all: Vec<usize> = (0..self.sets.len()).collect();
        let active = self.active(&all);
        let target = match active.as_slice() {
            [only] => Some(*only),
            [] => new.or_else(|| old.last().copied()),
            _ => None,
        };
        if let Some(i) = target {
            if replicas(&self.sets[i]) != self.strategy.replicas {
                self.scale(i, self.strategy.replicas);
            }
            return;
        }
        if new.is_some_and(|n| self.saturated(n)) {
            for i in self.active(&old) {
                self.scale(i, 0);
            }
            return;
        }
        if !self.strategy.rolling {
            return;
        }
        let views: Vec<Rs> = active.iter().map(|i| self.view(*i)).collect();
        let status_replicas = self.d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let sizes = rollout::proportional(&self.strategy, &views, status_replicas);
        for (i, size) in active.into_iter().zip(sizes) {
            self.scale(i, size);
        }
    }

    /// `IsSaturated`: the new ReplicaSet has, wants and makes available every replica.
    fn saturated(&self, i: usize) -> bool {
        let rs = &self.sets[i];
        let desired =
            annotation(&rs.metadata, DESIRED_REPLICAS).and_then(|d| d.parse::<i32>().ok());
        let available = rs
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0);
        replicas(rs) == self.strategy.replicas
            && desired == Some(self.strategy.replicas)
            && available == self.strategy.replicas
    }

    /// `rolloutRolling`: grow the new ReplicaSet, else shrink the old ones, else clean up.
    fn rolling(&mut self) {
        let Some(new) = self.new_rs(true) else {
            return;
        };
        let new_size = replicas(&self.sets[new]);
        let scaled_up = if new_size > self.strategy.replicas {
            self.scale(new, self.strategy.replicas)
        } else if new_size < self.strategy.replicas {
            let all: Vec<Rs> = (0..self.sets.len()).map(|i| self.view(i)).collect();
            let size = rollout::new_rs_replicas(&self.strategy, &all, &self.view(new));
            self.scale(new, size)
        } else {
            false
        };
        if scaled_up {
            self.sync_status(Some(new), true);
            return;
        }
        let old = self.active(&self.old_indices(Some(new)));
        let views: Vec<Rs> = old.iter().map(|i| self.view(*i)).collect();
        let sizes = rollout::scale_down_old(&self.strategy, &views, &self.view(new));
        let mut scaled_down = false;
        for (i, size) in old.into_iter().zip(sizes) {
            if size != replicas(&self.sets[i]) {
                scaled_down |= self.scale(i, size);
            }
        }
        if !scaled_down && status::complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(Some(new));
        }
        self.sync_status(Some(new), true);
    }

    /// `rolloutRecreate`: every old pod gone before the new ReplicaSet grows.
    fn recreate(&mut self) {
        let new = self.new_rs(false);
        let old = self.old_indices(new);
        let mut scaled_down = false;
        for i in self.active(&old) {
            scaled_down |= self.scale(i, 0);
        }
        if scaled_down || self.old_pods_running(new) {
            self.sync_status(new, true);
            return;
        }
        let Some(new) = new.or_else(|| self.new_rs(true)) else {
            return;
        };
        self.scale(new, self.strategy.replicas);
        if status::complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(Some(new));
        }
        self.sync_status(Some(new), true);
    }

    /// `oldPodsRunning`: an old ReplicaSet still has pods, or a pod of one is not finished.
    fn old_pods_running(&self, new: Option<usize>) -> bool {
        let old = self.old_indices(new);
        if old.iter().any(|i| {
            self.sets[*i]
                .status
                .as_ref()
                .is_some_and(|s| s.replicas > 0)
        }) {
            return true;
        }
        let old_uids: Vec<&str> = old
            .iter()
            .map(|i| typed::uid(&self.sets[*i].metadata))
            .collect();
        self.pods.iter().any(|p| {
            typed::controller_of(&p.metadata).is_some_and(|r| old_uids.contains(&r.uid.as_str()))
                && !pods::is_terminal(p)
        })
    }

    /// `cleanupDeployment`: old ReplicaSets beyond `revisionHistoryLimit`, oldest revision
    /// first, once they have no pods.
    fn cleanup(&mut self, new: Option<usize>) {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
            return;
        };
        let mut cleanable: Vec<usize> = self
            .old_indices(new)
            .into_iter()
            .filter(|i| !typed::deleting(&self.sets[*i].metadata))
            .collect();
        let excess = cleanable
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(0));
        cleanable.sort_by_key(|i| {
            (
                revision(&self.sets[*i]),
                typed::created(&self.sets[*i].metadata),
            )
        });
        for i in cleanable.into_iter().take(excess) {
            let rs = &self.sets[i];
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            let drained = rs.status.as_ref().is_none_or(|s| s.replicas == 0) && replicas(rs) == 0;
            if !drained || rs.metadata.generation.unwrap_or(0) > observed {
                continue;
            }
            let meta = &rs.metadata;
            let _ = typed::delete(
                &self.ctx.store,
                Resource::ReplicaSets,
                meta,
                Propagation::Background,
            );
        }
    }

    /// The status of the ReplicaSets (`syncDeploymentStatus`), with the progress too when
    /// `progress` (`syncRolloutStatus`).
    fn sync_status(&mut self, new: Option<usize>, progress: bool) {
        let all: Vec<&ReplicaSet> = self.sets.iter().collect();
        let new_rs = new.map(|i| &self.sets[i]);
        let mut status = status::calculate(&self.d, &self.strategy, &all, new_rs);
        if progress {
            status = status::with_progress(&self.d, status, new_rs);
        }
        self.d.status = Some(status);
    }
}
