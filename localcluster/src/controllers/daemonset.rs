//! The DaemonSet controller (`pkg/controller/daemon`): one pod on every node that should run
//! it (the template's node name, node selector and required node affinity admit the node, and
//! its taints are tolerated, with the tolerations every daemon pod gets), pinned there by a
//! required node affinity on `metadata.name` for the scheduler to honour; extra and failed
//! pods deleted; a rolling update within maxUnavailable; the template's ControllerRevision
//! hash as `controller-revision-hash`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodTemplateSpec, Toleration,
};
use netverdict_apiserver::Resource;

use super::pod_control::PodControl;
use super::revisions::{self, History};
use super::rollout::scaled_value;
use super::statefulset::REVISION_LABEL;
use super::{hash, pods, typed};
use crate::cluster::Ctx;
use crate::{nodeaffinity, taints};

const COMPONENT: &str = "daemonset-controller";
const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// Syncs every DaemonSet once.
pub(crate) fn reconcile(ctx: &Ctx) {
    let sets: Vec<DaemonSet> = typed::list(&ctx.store, Resource::DaemonSets);
    if sets.is_empty() {
        return;
    }
    let nodes: Vec<Node> = typed::list(&ctx.store, Resource::Nodes);
    let all_pods: Vec<Pod> = typed::list(&ctx.store, Resource::Pods);
    let all_revisions: Vec<ControllerRevision> =
        typed::list(&ctx.store, Resource::ControllerRevisions);
    for ds in &sets {
        if let Some(mut sync) = Sync::new(ctx, ds, &all_revisions) {
            sync.run(&nodes, &all_pods);
        }
    }
}

/// `AddOrUpdateDaemonPodTolerations`: what a daemon pod tolerates besides its template's.
fn daemon_tolerations(template: &mut PodTemplateSpec) {
    let spec = template.spec.get_or_insert_with(Default::default);
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        let present = tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some(key) && t.effect.as_deref() == Some(effect));
        if !present {
            tolerations.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some(effect.into()),
                ..Toleration::default()
            });
        }
    }
}

/// `ReplaceDaemonSetPodNodeNameNodeAffinity`: the pod may go to `node` only.
fn pin_to(template: &mut PodTemplateSpec, node: &str) {
    let spec = template.spec.get_or_insert_with(Default::default);
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: "In".into(),
                values: Some(vec![node.into()]),
            }]),
            match_expressions: None,
        }],
    });
}

/// The node a daemon pod is on, or is pinned to before it is bound.
fn node_of(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    spec.node_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .or_else(|| nodeaffinity::pinned_node(spec))
}

struct Sync<'a> {
    ctx: &'a Ctx,
    ds: &'a DaemonSet,
    selector: netverdict_engine::LabelSelector,
    /// The template as daemon pods get it: tolerations and labels added.
    template: PodTemplateSpec,
    hash: String,
    history: History<'a>,
}

impl<'a> Sync<'a> {
    /// `constructHistory`: the revision of the current template (created, or renumbered when an
    /// older one held it), whose hash labels the pods.
    fn new(ctx: &'a Ctx, ds: &'a DaemonSet, all: &[ControllerRevision]) -> Option<Sync<'a>> {
        let spec = ds.spec.as_ref()?;
        let selector = typed::selector(&spec.selector)?;
        let mut history = History::load(ctx, Resource::DaemonSets, &ds.metadata, &selector, all);
        let wanted = revisions::patch_of(&spec.template);
        let mut collisions = ds
            .status
            .as_ref()
            .and_then(|s| s.collision_count)
            .unwrap_or(0);
        let next = history.next_number();
        let index = match history.find_equal(&wanted) {
            Some(i) => {
                history.make_newest(i);
                history.find_equal(&wanted)?
            }
            None => {
                let labels = spec
                    .template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                let template = spec.template.clone();
                history
                    .create(
                        labels,
                        &wanted,
                        next,
                        &mut collisions,
                        |c| hash::template_hash(&template, c),
                        Some(REVISION_LABEL),
                    )
                    .ok()?
            }
        };
        let hash = history.revisions[index]
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(REVISION_LABEL).cloned())
            .unwrap_or_default();
        let mut template = spec.template.clone();
        daemon_tolerations(&mut template);
        let labels = template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new);
        labels.insert(REVISION_LABEL.into(), hash.clone());
        if let Some(generation) = Self::generation(ds) {
            labels.insert(TEMPLATE_GENERATION_LABEL.into(), generation);
        }
        Some(Sync {
            ctx,
            ds,
            selector,
            template,
            hash,
            history,
        })
    }

    fn generation(ds: &DaemonSet) -> Option<String> {
        ds.metadata
            .annotations
            .as_ref()?
            .get(TEMPLATE_GENERATION)
            .cloned()
    }

    fn control(&self) -> PodControl<'_> {
        PodControl {
            ctx: self.ctx,
            kind: Resource::DaemonSets,
            owner: &self.ds.metadata,
            component: COMPONENT,
        }
    }

    fn event(&self, warning: bool, reason: &str, message: &str) {
        self.control().event(warning, reason, message);
    }

    fn run(&mut self, nodes: &[Node], all: &[Pod]) {
        let ns = typed::namespace(&self.ds.metadata);
        let candidates: Vec<&Pod> = all
            .iter()
            .filter(|p| typed::namespace(&p.metadata) == ns)
            .collect();
        let claimer = super::claim::Claimer {
            store: &self.ctx.store,
            kind: Resource::DaemonSets,
            owner: &self.ds.metadata,
            resource: Resource::Pods,
        };
        let owned = claimer.claim(&candidates, |p: &Pod| {
            self.selector.matches(&typed::labels(&p.metadata))
        });
        let per_node = by_node(&owned);
        if !typed::deleting(&self.ds.metadata) {
            self.manage(nodes, &per_node);
            if self.rolling() {
                self.roll(nodes, &per_node);
            }
        }
        self.write_status(nodes, &per_node);
        let mut live: BTreeSet<String> = BTreeSet::new();
        for revision in &self.history.revisions {
            let hash = revision
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(REVISION_LABEL));
            if hash == Some(&self.hash)
                || owned.iter().any(|p| {
                    p.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(REVISION_LABEL))
                        == hash
                })
            {
                live.insert(typed::name(&revision.metadata).to_owned());
            }
        }
        let limit = self
            .ds
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(10);
        self.history.truncate(&live, limit);
    }

    fn rolling(&self) -> bool {
        self.ds
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|u| u.type_.as_deref())
            != Some("OnDelete")
    }

    /// `NodeShouldRunDaemonPod`: (should run a pod there, may keep running one there).
    fn should_run(&self, node: &Node) -> (bool, bool) {
        let mut pod = serde_json::json!({"spec": serde_json::to_value(&self.template.spec).unwrap_or_default()});
        let Some(spec) = self.template.spec.as_ref() else {
            return (false, false);
        };
        if !nodeaffinity::fits(spec, node) {
            return (false, false);
        }
        let node_json = serde_json::to_value(node).unwrap_or_default();
        if taints::untolerated_taint(&node_json, &pod).is_none() {
            return (true, true);
        }
        pod["spec"]["nodeName"] = serde_json::json!(node.metadata.name);
        let no_execute = taints::untolerated_with_effect(&node_json, &pod, &["NoExecute"]);
        (false, no_execute.is_none())
    }

    /// `manage`: creates the missing daemon pods and deletes the ones in excess, failed, or on
    /// nodes that should not run one.
    fn manage(&self, nodes: &[Node], per_node: &BTreeMap<String, Vec<&Pod>>) {
        let mut to_delete: Vec<&Pod> = Vec::new();
        let mut to_create: Vec<&str> = Vec::new();
        for node in nodes {
            let name = node.metadata.name.as_deref().unwrap_or_default();
            let (should_run, may_continue) = self.should_run(node);
            let here = per_node.get(name).cloned().unwrap_or_default();
            if should_run && here.is_empty() {
                to_create.push(name);
            } else if may_continue {
                let mut running: Vec<&Pod> = Vec::new();
                for pod in here.into_iter().filter(|p| !typed::deleting(&p.metadata)) {
                    if pods::is_failed(pod) {
                        let message = format!(
                            "Found failed daemon pod {}/{} on node {name}, will try to kill it",
                            typed::namespace(&pod.metadata),
                            typed::name(&pod.metadata)
                        );
                        self.event(true, "FailedDaemonPod", &message);
                        to_delete.push(pod);
                    } else if pods::is_terminal(pod) {
                        to_delete.push(pod);
                    } else {
                        running.push(pod);
                    }
                }
                running.sort_by_key(|p| (typed::created(&p.metadata), !pods::is_running(p)));
                to_delete.extend(running.into_iter().skip(1));
            } else {
                to_delete.extend(here.into_iter().filter(|p| !typed::deleting(&p.metadata)));
            }
        }
        // Pods pinned to nodes that do not exist never get bound: they go too.
        let known: BTreeSet<&str> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.as_deref())
            .collect();
        for (node, here) in per_node {
            if !known.contains(node.as_str()) {
                to_delete.extend(here.iter().filter(|p| {
                    p.spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_deref())
                        .is_none_or(str::is_empty)
                }));
            }
        }
        self.sync_nodes(&to_delete, &to_create);
    }

    fn sync_nodes(&self, to_delete: &[&Pod], to_create: &[&str]) {
        let ns = typed::namespace(&self.ds.metadata);
        let reference = typed::controller_ref(Resource::DaemonSets, &self.ds.metadata);
        let prefix = format!("{}-", typed::name(&self.ds.metadata));
        for node in to_create {
            let mut template = self.template.clone();
            pin_to(&mut template, node);
            let pod = pods::from_template(&template, ns, &prefix, reference.clone());
            if let Err(e) = self.control().create(&pod)
                && typed::namespace_terminating(&e)
            {
                return;
            }
        }
        for pod in to_delete {
            let _ = self.control().delete(pod);
        }
    }

    fn updated(&self, pod: &Pod) -> bool {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let generation = Self::generation(self.ds);
        labels.get(REVISION_LABEL) == Some(&self.hash)
            || (generation.is_some()
                && labels.get(TEMPLATE_GENERATION_LABEL) == generation.as_ref())
    }

    fn min_ready(&self) -> i32 {
        self.ds
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }

    /// `rollingUpdate` without surge: old pods deleted while fewer than maxUnavailable nodes
    /// lack an available new one (an unavailable old pod may always go).
    fn roll(&self, nodes: &[Node], per_node: &BTreeMap<String, Vec<&Pod>>) {
        let desired = nodes.iter().filter(|n| self.should_run(n).0).count();
        let rolling = self
            .ds
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|u| u.rolling_update.as_ref());
        let total = typed::count(desired);
        let surge = scaled_value(rolling.and_then(|r| r.max_surge.as_ref()), total, true);
        let mut max_unavailable = scaled_value(
            rolling.and_then(|r| r.max_unavailable.as_ref()),
            total,
            true,
        );
        if surge == 0 && max_unavailable == 0 {
            max_unavailable = 1;
        }
        let now = typed::now_seconds();
        let mut unavailable = 0;
        let (mut replace, mut candidates): (Vec<&Pod>, Vec<&Pod>) = (Vec::new(), Vec::new());
        for here in per_node.values() {
            let alive: Vec<&Pod> = here
                .iter()
                .copied()
                .filter(|p| !typed::deleting(&p.metadata))
                .collect();
            let (new, old): (Vec<&Pod>, Vec<&Pod>) =
                alive.into_iter().partition(|p| self.updated(p));
            match (new.as_slice(), old.as_slice()) {
                ([new], []) if !pods::is_available(new, self.min_ready(), now) => unavailable += 1,
                ([_], []) => {}
                ([], [old]) if !pods::is_available(old, self.min_ready(), now) => replace.push(old),
                ([], [old]) => candidates.push(old),
                _ => unavailable += 1,
            }
        }
        let room = usize::try_from((max_unavailable - unavailable).max(0)).unwrap_or(0);
        replace.extend(candidates.into_iter().take(room));
        self.sync_nodes(&replace, &[]);
    }

    /// `updateDaemonSetStatus`, from the oldest daemon pod of each node.
    fn write_status(&self, nodes: &[Node], per_node: &BTreeMap<String, Vec<&Pod>>) {
        let now = typed::now_seconds();
        let mut status = DaemonSetStatus {
            observed_generation: self.ds.metadata.generation,
            collision_count: self.ds.status.as_ref().and_then(|s| s.collision_count),
            ..DaemonSetStatus::default()
        };
        let (mut ready, mut available, mut updated) = (0, 0, 0);
        for node in nodes {
            let name = node.metadata.name.as_deref().unwrap_or_default();
            let mut here = per_node.get(name).cloned().unwrap_or_default();
            let scheduled = !here.is_empty();
            if !self.should_run(node).0 {
                status.number_misscheduled += i32::from(scheduled);
                continue;
            }
            status.desired_number_scheduled += 1;
            here.sort_by_key(|p| (typed::created(&p.metadata), !pods::is_running(p)));
            let Some(pod) = here.first() else { continue };
            status.current_number_scheduled += 1;
            if pods::is_ready(pod) {
                ready += 1;
                available += i32::from(pods::is_available(pod, self.min_ready(), now));
            }
            updated += i32::from(self.updated(pod));
        }
        status.number_ready = ready;
        status.number_available = typed::nonzero(available);
        status.updated_number_scheduled = typed::nonzero(updated);
        status.number_unavailable = typed::nonzero(status.desired_number_scheduled - available);
        if self.ds.status.as_ref() == Some(&status) {
            return;
        }
        let meta = &self.ds.metadata;
        let _ = typed::update(
            &self.ctx.store,
            Resource::DaemonSets,
            meta,
            |current: &mut DaemonSet| current.status = Some(status),
        );
    }
}

/// The daemon pods of each node (finished pods being deleted left out).
fn by_node(owned: &[Pod]) -> BTreeMap<String, Vec<&Pod>> {
    let mut per_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for pod in owned {
        if pods::is_terminal(pod) && typed::deleting(&pod.metadata) {
            continue;
        }
        if let Some(node) = node_of(pod) {
            per_node.entry(node.to_owned()).or_default().push(pod);
        }
    }
    per_node
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn daemon_pods_tolerate_node_conditions_and_are_pinned_to_their_node() {
        let mut template: PodTemplateSpec = serde_json::from_value(json!({
            "spec": {"containers": [{"name": "agent", "image": "agent:1"}],
                     "tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}
        }))
        .unwrap();
        daemon_tolerations(&mut template);
        pin_to(&mut template, "worker");
        let spec = template.spec.as_ref().unwrap();
        assert_eq!(spec.tolerations.as_ref().unwrap().len(), 6);
        assert_eq!(nodeaffinity::pinned_node(spec), Some("worker"));
        let pod = Pod {
            spec: Some(spec.clone()),
            ..Pod::default()
        };
        assert_eq!(node_of(&pod), Some("worker"));
    }
}
