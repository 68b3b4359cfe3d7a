//! ControllerRevisions (`pkg/controller/history`): the pod templates a StatefulSet or a
//! DaemonSet has had, each stored as the patch that puts it back
//! (`{"spec":{"template":{...,"$patch":"replace"}}}`), numbered, claimed like pods.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use netverdict_apiserver::{ApiError, Propagation, Resource};
use serde_json::{Value, json};

use super::claim::Claimer;
use super::typed;
use crate::cluster::Ctx;

/// The label of a StatefulSet revision's hash.
pub(crate) const HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// `getPatch`: the revision data of a template.
pub(crate) fn patch_of(template: &PodTemplateSpec) -> Value {
    let mut template = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    template["$patch"] = json!("replace");
    json!({"spec": {"template": template}})
}

/// The template a revision puts back.
pub(crate) fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut template = revision.data.as_ref()?.0.pointer("/spec/template")?.clone();
    if let Some(map) = template.as_object_mut() {
        map.remove("$patch");
    }
    serde_json::from_value(template).ok()
}

fn data(revision: &ControllerRevision) -> Option<&Value> {
    revision.data.as_ref().map(|d| &d.0)
}

/// The revisions of one controller, oldest revision number first.
pub(crate) struct History<'a> {
    ctx: &'a Ctx,
    kind: Resource,
    owner: &'a ObjectMeta,
    pub revisions: Vec<ControllerRevision>,
}

impl<'a> History<'a> {
    /// The revisions the controller owns, adopting orphans its selector matches.
    pub(crate) fn load(
        ctx: &'a Ctx,
        kind: Resource,
        owner: &'a ObjectMeta,
        selector: &netverdict_engine::LabelSelector,
        all: &[ControllerRevision],
    ) -> History<'a> {
        let ns = typed::namespace(owner);
        let candidates: Vec<&ControllerRevision> = all
            .iter()
            .filter(|r| typed::namespace(&r.metadata) == ns)
            .collect();
        let claimer = Claimer {
            store: &ctx.store,
            kind,
            owner,
            resource: Resource::ControllerRevisions,
        };
        let mut revisions = claimer.claim(&candidates, |r| {
            selector.matches(&typed::labels(&r.metadata))
        });
        revisions.sort_by_key(|r| (r.revision, typed::created(&r.metadata)));
        History {
            ctx,
            kind,
            owner,
            revisions,
        }
    }

    /// `nextRevision`: one past the highest number.
    pub(crate) fn next_number(&self) -> i64 {
        self.revisions.last().map_or(1, |r| r.revision + 1)
    }

    /// The newest revision holding this data.
    pub(crate) fn find_equal(&self, wanted: &Value) -> Option<usize> {
        self.revisions.iter().rposition(|r| data(r) == Some(wanted))
    }

    /// Makes revision `index` the newest (a rollback to an earlier template): one past the
    /// highest number of the others, unless it is above them already.
    pub(crate) fn make_newest(&mut self, index: usize) {
        let others = self
            .revisions
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, r)| r.revision)
            .max()
            .unwrap_or(0);
        let revision = &self.revisions[index];
        if revision.revision > others {
            return;
        }
        let number = others + 1;
        let meta = revision.metadata.clone();
        let updated = typed::update(
            &self.ctx.store,
            Resource::ControllerRevisions,
            &meta,
            |current: &mut ControllerRevision| current.revision = number,
        );
        if let Ok(updated) = updated {
            self.revisions[index] = updated;
            self.revisions
                .sort_by_key(|r| (r.revision, typed::created(&r.metadata)));
        }
    }

    /// Creates a revision named by `name(hash)` (`hash(collision_count)`), trying the next
    /// collision count while a name is taken by other data. Returns its index.
    ///
    /// # Errors
    /// What the store refuses, other than a taken name.
    pub(crate) fn create(
        &mut self,
        labels: BTreeMap<String, String>,
        wanted: &Value,
        number: i64,
        collisions: &mut i32,
        hash: impl Fn(Option<i32>) -> String,
        with_hash_label: Option<&str>,
    ) -> Result<usize, ApiError> {
        for _ in 0..16 {
            let count = (*collisions > 0).then_some(*collisions);
            let hash = hash(count);
            let prefix: String = typed::name(self.owner).chars().take(223).collect();
            let mut labels = labels.clone();
            if let Some(key) = with_hash_label {
                labels.insert(key.to_owned(), hash.clone());
            }
            let revision = ControllerRevision {
                metadata: ObjectMeta {
                    name: Some(format!("{prefix}-{hash}")),
                    namespace: self.owner.namespace.clone(),
                    labels: Some(labels),
                    annotations: self.owner.annotations.clone(),
                    owner_references: Some(vec![typed::controller_ref(self.kind, self.owner)]),
                    ..ObjectMeta::default()
                },
                data: Some(RawExtension(wanted.clone())),
                revision: number,
            };
            let ns = typed::namespace(self.owner);
            match typed::create(
                &self.ctx.store,
                Resource::ControllerRevisions,
                ns,
                &revision,
            ) {
                Ok(created) => {
                    self.revisions.push(created);
                    return Ok(self.revisions.len() - 1);
                }
                Err(e) if e.code == 409 && e.reason == "AlreadyExists" => {
                    let name = typed::name(&revision.metadata);
                    let existing = self
                        .ctx
                        .store
                        .get(Resource::ControllerRevisions, Some(ns), name)
                        .ok()
                        .and_then(|v| serde_json::from_value::<ControllerRevision>(v).ok());
                    if let Some(existing) = existing.filter(|r| data(r) == Some(wanted)) {
                        let known = self
                            .revisions
                            .iter()
                            .position(|r| r.metadata.uid == existing.metadata.uid);
                        return Ok(known.unwrap_or_else(|| {
                            self.revisions.push(existing);
                            self.revisions.len() - 1
                        }));
                    }
                    *collisions += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::internal("no free ControllerRevision name"))
    }

    /// `truncateHistory`: the revisions in no use (`live` names) beyond `limit`, oldest first.
    pub(crate) fn truncate(&self, live: &BTreeSet<String>, limit: i32) {
        let unused: Vec<&ControllerRevision> = self
            .revisions
            .iter()
            .filter(|r| !live.contains(typed::name(&r.metadata)))
            .collect();
        let excess = unused
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(0));
        for revision in unused.into_iter().take(excess) {
            let meta = &revision.metadata;
            let _ = typed::delete(
                &self.ctx.store,
                Resource::ControllerRevisions,
                meta,
                Propagation::Background,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_holds_the_template_it_puts_back() {
        let template: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "db"}},
            "spec": {"containers": [{"name": "db", "image": "postgres:17"}]}
        }))
        .unwrap();
        let patch = patch_of(&template);
        assert_eq!(patch["spec"]["template"]["$patch"], "replace");
        let revision = ControllerRevision {
            metadata: ObjectMeta::default(),
            data: Some(RawExtension(patch)),
            revision: 1,
        };
        assert_eq!(template_of(&revision), Some(template));
    }
}
