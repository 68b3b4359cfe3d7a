//! The StatefulSet controller (`pkg/controller/statefulset`): pods `<set>-0` to
//! `<set>-<n-1>` with stable names and the labels `statefulset.kubernetes.io/pod-name`,
//! `apps.kubernetes.io/pod-index` and `controller-revision-hash` (the ControllerRevision of
//! their template). With `OrderedReady` (the default) a pod is created only once the ones
//! before it are Running and Ready, a scale-down removes the highest ordinal first and waits
//! for it to go, and a rolling update replaces pods from the highest ordinal down to the
//! partition, one at a time; `Parallel` does not wait.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use netverdict_apiserver::Resource;

use super::pod_control::PodControl;
use super::revisions::{self, HASH_LABEL, History};
use super::{hash, pods, typed};
use crate::cluster::Ctx;

const COMPONENT: &str = "statefulset-controller";
pub(crate) const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub(crate) const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
pub(crate) const REVISION_LABEL: &str = "controller-revision-hash";

/// Syncs every StatefulSet once.
pub(crate) fn reconcile(ctx: &Ctx) {
    let sets: Vec<StatefulSet> = typed::list(&ctx.store, Resource::StatefulSets);
    if sets.is_empty() {
        return;
    }
    let all_pods: Vec<Pod> = typed::list(&ctx.store, Resource::Pods);
    let all_revisions: Vec<ControllerRevision> =
        typed::list(&ctx.store, Resource::ControllerRevisions);
    for set in &sets {
        sync(ctx, set, &all_pods, &all_revisions);
    }
}

/// `getParentNameAndOrdinal`: `web-3` is ordinal 3 of `web`.
pub(crate) fn parent_and_ordinal(name: &str) -> Option<(&str, i32)> {
    let (parent, ordinal) = name.rsplit_once('-')?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, ordinal.parse().ok()?))
}

fn revision_of(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(REVISION_LABEL))
        .map_or("", String::as_str)
}

/// `isRunningAndReady` and not terminating: `isHealthy`.
fn healthy(pod: &Pod) -> bool {
    pods::is_running(pod) && pods::is_ready(pod) && !typed::deleting(&pod.metadata)
}

/// A revision: its name and the template it holds.
#[derive(Clone)]
struct Revision {
    name: String,
    template: PodTemplateSpec,
}

/// `getStatefulSetRevisions`: the current and the update revision, creating the update one
/// (or renumbering an equal older one: a rollback) when the template is new.
fn current_and_update(
    set: &StatefulSet,
    history: &mut History,
    collisions: &mut i32,
) -> Option<(Revision, Revision)> {
    let template = set.spec.as_ref()?.template.clone();
    let wanted = revisions::patch_of(&template);
    let next = history.next_number();
    let update = match history.find_equal(&wanted) {
        Some(i) => {
            history.make_newest(i);
            history.find_equal(&wanted)?
        }
        None => {
            let bytes = serde_json::to_vec(&wanted).unwrap_or_default();
            let labels = template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default();
            history
                .create(
                    labels,
                    &wanted,
                    next,
                    collisions,
                    |c| hash::revision_hash(&bytes, c),
                    Some(HASH_LABEL),
                )
                .ok()?
        }
    };
    let as_revision = |r: &ControllerRevision| {
        Some(Revision {
            name: typed::name(&r.metadata).to_owned(),
            template: revisions::template_of(r)?,
        })
    };
    let update = as_revision(&history.revisions[update])?;
    let current_name = set
        .status
        .as_ref()
        .and_then(|s| s.current_revision.as_deref());
    let current = history
        .revisions
        .iter()
        .find(|r| Some(typed::name(&r.metadata)) == current_name)
        .and_then(as_revision)
        .unwrap_or_else(|| update.clone());
    Some((current, update))
}

fn sync(ctx: &Ctx, set: &StatefulSet, all_pods: &[Pod], all_revisions: &[ControllerRevision]) {
    let Some(spec) = set.spec.as_ref() else {
        return;
    };
    let Some(selector) = typed::selector(&spec.selector) else {
        return;
    };
    let mut history = History::load(
        ctx,
        Resource::StatefulSets,
        &set.metadata,
        &selector,
        all_revisions,
    );
    let mut collisions = set
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let Some((current, update)) = current_and_update(set, &mut history, &mut collisions) else {
        return;
    };
    let ns = typed::namespace(&set.metadata);
    let name = typed::name(&set.metadata);
    let candidates: Vec<&Pod> = all_pods
        .iter()
        .filter(|p| typed::namespace(&p.metadata) == ns)
        .collect();
    let claimer = super::claim::Claimer {
        store: &ctx.store,
        kind: Resource::StatefulSets,
        owner: &set.metadata,
        resource: Resource::Pods,
    };
    let owned = claimer.claim(&candidates, |p: &Pod| {
        selector.matches(&typed::labels(&p.metadata))
            && parent_and_ordinal(typed::name(&p.metadata))
                .is_some_and(|(parent, _)| parent == name)
    });
    let mut updater = Updater {
        ctx,
        set,
        current,
        update,
        status: status_of(set, &owned),
    };
    if !typed::deleting(&set.metadata) {
        updater.update(&owned);
    }
    let mut status = updater.status;
    status.collision_count = typed::nonzero(collisions);
    status.current_revision = Some(updater.current.name.clone());
    status.update_revision = Some(updater.update.name.clone());
    write_status(ctx, set, status);
    let mut live: BTreeSet<String> = owned.iter().map(|p| revision_of(p).to_owned()).collect();
    live.insert(updater.current.name.clone());
    live.insert(updater.update.name.clone());
    history.truncate(&live, spec.revision_history_limit.unwrap_or(10));
}

/// `computeReplicaStatus` over the claimed pods.
fn status_of(set: &StatefulSet, pods: &[Pod]) -> StatefulSetStatus {
    let min_ready = set
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let now = typed::now_seconds();
    StatefulSetStatus {
        replicas: typed::count(pods.len()),
        ready_replicas: Some(typed::count(
            pods.iter()
                .filter(|p| pods::is_running(p) && pods::is_ready(p))
                .count(),
        )),
        available_replicas: Some(typed::count(
            pods.iter()
                .filter(|p| pods::is_running(p) && pods::is_available(p, min_ready, now))
                .count(),
        )),
        ..StatefulSetStatus::default()
    }
}

/// One `UpdateStatefulSet`: the pods created, replaced and deleted, and the status.
struct Updater<'a> {
    ctx: &'a Ctx,
    set: &'a StatefulSet,
    current: Revision,
    update: Revision,
    status: StatefulSetStatus,
}

impl Updater<'_> {
    fn start(&self) -> i32 {
        self.set
            .spec
            .as_ref()
            .and_then(|s| s.ordinals.as_ref())
            .and_then(|o| o.start)
            .unwrap_or(0)
    }

    fn replicas(&self) -> i32 {
        self.set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn monotonic(&self) -> bool {
        self.set
            .spec
            .as_ref()
            .and_then(|s| s.pod_management_policy.as_deref())
            != Some("Parallel")
    }

    fn partition(&self) -> Option<i32> {
        let strategy = self.set.spec.as_ref()?.update_strategy.as_ref()?;
        if strategy.type_.as_deref() == Some("OnDelete") {
            return None;
        }
        Some(
            strategy
                .rolling_update
                .as_ref()
                .and_then(|r| r.partition)
                .unwrap_or(0),
        )
    }

    fn control(&self) -> PodControl<'_> {
        PodControl {
            ctx: self.ctx,
            kind: Resource::StatefulSets,
            owner: &self.set.metadata,
            component: COMPONENT,
        }
    }

    fn update(&mut self, owned: &[Pod]) {
        self.count_revisions(owned);
        let (start, end) = (self.start(), self.start() + self.replicas());
        let mut replicas: Vec<Option<&Pod>> =
            vec![None; usize::try_from(self.replicas()).unwrap_or(0)];
        let mut condemned: Vec<(i32, &Pod)> = Vec::new();
        for pod in owned {
            let Some((_, ordinal)) = parent_and_ordinal(typed::name(&pod.metadata)) else {
                continue;
            };
            if (start..end).contains(&ordinal) {
                replicas[usize::try_from(ordinal - start).unwrap_or(0)] = Some(pod);
            } else {
                condemned.push((ordinal, pod));
            }
        }
        condemned.sort_by_key(|(ordinal, _)| std::cmp::Reverse(*ordinal));
        let monotonic = self.monotonic();
        for (index, pod) in replicas.iter().enumerate() {
            let ordinal = start + typed::count(index);
            if self.replica(ordinal, *pod) && monotonic {
                return;
            }
        }
        // The first unhealthy pod, among the replicas then the condemned (lowest first).
        let first_unhealthy = replicas
            .iter()
            .flatten()
            .chain(condemned.iter().rev().map(|(_, p)| p))
            .find(|p| !healthy(p))
            .map(|p| typed::uid(&p.metadata).to_owned());
        for (_, pod) in &condemned {
            if self.condemned(pod, first_unhealthy.as_deref(), monotonic) && monotonic {
                return;
            }
        }
        if let Some(partition) = self.partition() {
            self.roll(&replicas, partition);
        }
    }

    fn count_revisions(&mut self, owned: &[Pod]) {
        let counted = |name: &str| {
            typed::count(
                owned
                    .iter()
                    .filter(|p| !typed::deleting(&p.metadata) && revision_of(p) == name)
                    .count(),
            )
        };
        self.status.current_replicas = typed::nonzero(counted(&self.current.name));
        self.status.updated_replicas = typed::nonzero(counted(&self.update.name));
    }

    /// `processReplica`: returns whether a monotonic update has to stop here.
    fn replica(&mut self, ordinal: i32, pod: Option<&Pod>) -> bool {
        let Some(pod) = pod else {
            self.create(ordinal);
            return true;
        };
        if pods::is_terminal(pod) {
            if !typed::deleting(&pod.metadata) {
                self.delete(pod, "recreate");
            }
            return true;
        }
        let min_ready = self
            .set
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        if typed::deleting(&pod.metadata)
            || !healthy(pod)
            || !pods::is_available(pod, min_ready, typed::now_seconds())
        {
            return true;
        }
        self.fix_identity(pod);
        false
    }

    /// `processCondemned`: returns whether a monotonic update has to stop here.
    fn condemned(&mut self, pod: &Pod, first_unhealthy: Option<&str>, monotonic: bool) -> bool {
        if typed::deleting(&pod.metadata) {
            return true;
        }
        if !healthy(pod) && monotonic && first_unhealthy != Some(typed::uid(&pod.metadata)) {
            return true;
        }
        self.delete(pod, "scale down");
        true
    }

    /// The rolling update: the highest ordinal from the partition up that is not at the update
    /// revision is deleted (its replacement gets the new template); an unhealthy one waits.
    fn roll(&mut self, replicas: &[Option<&Pod>], partition: i32) {
        let floor = usize::try_from(partition.max(0)).unwrap_or(0);
        for pod in replicas.iter().skip(floor).rev().flatten() {
            if revision_of(pod) != self.update.name && !typed::deleting(&pod.metadata) {
                self.delete(pod, "update");
                let current = self.status.current_replicas.unwrap_or(0) - 1;
                self.status.current_replicas = typed::nonzero(current.max(0));
                return;
            }
            if !healthy(pod) {
                return;
            }
        }
    }

    /// `newVersionedStatefulSetPod`: below the partition the current revision's template,
    /// from it up the update revision's.
    fn create(&mut self, ordinal: i32) {
        let below_partition = self.partition().is_some_and(|p| ordinal < self.start() + p);
        let revision = if below_partition {
            &self.current
        } else {
            &self.update
        };
        let pod = self.pod(ordinal, &revision.template, &revision.name);
        let _ = self.control().create(&pod);
    }

    /// `newStatefulSetPod`: the template's pod, with its identity.
    fn pod(&self, ordinal: i32, template: &PodTemplateSpec, revision: &str) -> Pod {
        let reference = typed::controller_ref(Resource::StatefulSets, &self.set.metadata);
        let ns = typed::namespace(&self.set.metadata);
        let mut pod = pods::from_template(template, ns, "", reference);
        pod.metadata.generate_name = None;
        pod.metadata.name = Some(format!("{}-{ordinal}", typed::name(&self.set.metadata)));
        self.set_identity(&mut pod, ordinal);
        pod.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(REVISION_LABEL.into(), revision.into());
        pod
    }

    /// `updateIdentity`: the labels of the pod's name and index, its hostname and subdomain.
    fn set_identity(&self, pod: &mut Pod, ordinal: i32) {
        let name = typed::name(&pod.metadata).to_owned();
        let labels = pod.metadata.labels.get_or_insert_with(Default::default);
        labels.insert(POD_NAME_LABEL.into(), name.clone());
        labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
        let spec = pod.spec.get_or_insert_with(Default::default);
        spec.hostname = Some(name);
        spec.subdomain = self.set.spec.as_ref().and_then(|s| s.service_name.clone());
    }

    /// `identityMatches`, restored when not.
    fn fix_identity(&self, pod: &Pod) {
        let Some((_, ordinal)) = parent_and_ordinal(typed::name(&pod.metadata)) else {
            return;
        };
        let mut fixed = pod.clone();
        self.set_identity(&mut fixed, ordinal);
        if fixed == *pod {
            return;
        }
        let meta = &pod.metadata;
        let _ = typed::update(
            &self.ctx.store,
            Resource::Pods,
            meta,
            |current: &mut Pod| {
                current.metadata.labels = fixed.metadata.labels.clone();
                if let (Some(spec), Some(want)) = (current.spec.as_mut(), fixed.spec.as_ref()) {
                    spec.hostname.clone_from(&want.hostname);
                    spec.subdomain.clone_from(&want.subdomain);
                }
            },
        );
    }

    fn delete(&mut self, pod: &Pod, why: &str) {
        tracing::debug!(
            pod = typed::name(&pod.metadata),
            why,
            "statefulset deletes a pod"
        );
        let _ = self.control().delete(pod);
    }
}

/// The status with its revisions (`completeRollingUpdate`: the update revision becomes the
/// current one once every pod has it and is ready).
fn write_status(ctx: &Ctx, set: &StatefulSet, mut status: StatefulSetStatus) {
    status.observed_generation = set.metadata.generation;
    let rolling = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        != Some("OnDelete");
    if rolling
        && status.updated_replicas.unwrap_or(0) == status.replicas
        && status.ready_replicas.unwrap_or(0) == status.replicas
    {
        status.current_replicas = status.updated_replicas;
        status.current_revision.clone_from(&status.update_revision);
    }
    if set.status.as_ref() == Some(&status) {
        return;
    }
    let meta = &set.metadata;
    let _ = typed::update(
        &ctx.store,
        Resource::StatefulSets,
        meta,
        |current: &mut StatefulSet| current.status = Some(status),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_are_read_from_pod_names() {
        assert_eq!(parent_and_ordinal("web-0"), Some(("web", 0)));
        assert_eq!(parent_and_ordinal("my-db-12"), Some(("my-db", 12)));
        assert_eq!(parent_and_ordinal("web"), None);
        assert_eq!(parent_and_ordinal("web-x1"), None);
        assert_eq!(parent_and_ordinal("web-"), None);
    }
}
