//! `ControllerRefManager`: which objects a controller claims, adopts and releases.
//!
//! A controller owns what carries its controller reference. An orphan (no controller reference
//! at all) whose labels match its selector is adopted, unless the controller or the orphan is
//! being deleted; an object it owns whose labels stop matching is released (unless the
//! controller is being deleted). An object whose controller reference names anything else is
//! never touched, whatever its labels: that is what keeps pods owned elsewhere (netverdict's
//! mimic probe pods, owned by an object of their run) out of a workload's counts and deletions.

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use netverdict_apiserver::{Resource, Store};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::typed;

/// What `ClaimObject` does with one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Owned and matching: claimed, nothing to do.
    Keep,
    /// An orphan that matches: gets the controller reference, then is claimed.
    Adopt,
    /// Owned but no longer matching: loses the controller reference.
    Release,
    /// Owned by someone else, or not to be adopted now.
    Ignore,
}

/// The decision for one object, given its controller's uid and deletion, and whether the
/// object matches (its labels the selector, plus the controller's own condition).
pub(crate) fn decide(
    controller_uid: &str,
    controller_deleting: bool,
    object: &ObjectMeta,
    matches: bool,
) -> Claim {
    match typed::controller_of(object) {
        Some(reference) if reference.uid != controller_uid => Claim::Ignore,
        Some(_) if matches => Claim::Keep,
        Some(_) if controller_deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if controller_deleting || !matches || typed::deleting(object) => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// The controller doing the claiming.
pub(crate) struct Claimer<'a> {
    pub store: &'a Store,
    /// The controller's own kind.
    pub kind: Resource,
    pub owner: &'a ObjectMeta,
    /// The kind of the claimed objects.
    pub resource: Resource,
}

impl Claimer<'_> {
    /// Claims `objects` (all of the controller's namespace): returns those it owns now, adopting
    /// and releasing as [`decide`] says. A failed adoption or release leaves the object as it
    /// was (the next pass tries again).
    pub(crate) fn claim<T>(&self, objects: &[&T], matches: impl Fn(&T) -> bool) -> Vec<T>
    where
        T: Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned + Clone,
    {
        let controller_uid = typed::uid(self.owner);
        let deleting = typed::deleting(self.owner);
        let mut claimed = Vec::new();
        let mut can_adopt: Option<bool> = None;
        for object in objects {
            match decide(controller_uid, deleting, object.metadata(), matches(object)) {
                Claim::Keep => claimed.push((*object).clone()),
                Claim::Adopt => {
                    // `RecheckDeletionTimestamp`: the controller as stored now.
                    let fresh = *can_adopt.get_or_insert_with(|| self.still_adopting());
                    if fresh && let Some(adopted) = self.adopt(*object) {
                        claimed.push(adopted);
                    }
                }
                Claim::Release => self.release(*object),
                Claim::Ignore => {}
            }
        }
        claimed
    }

    /// Whether the controller is still the one claiming, and not being deleted.
    fn still_adopting(&self) -> bool {
        self.store
            .get(
                self.kind,
                Some(typed::namespace(self.owner)),
                typed::name(self.owner),
            )
            .is_ok_and(|c| {
                c.pointer("/metadata/uid")
                    .and_then(serde_json::Value::as_str)
                    == Some(typed::uid(self.owner))
                    && c.pointer("/metadata/deletionTimestamp").is_none()
            })
    }

    fn adopt<T>(&self, object: &T) -> Option<T>
    where
        T: Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned,
    {
        let meta = object.metadata();
        let reference = typed::controller_ref(self.kind, self.owner);
        let mut taken_meanwhile = false;
        let result = typed::update(self.store, self.resource, meta, |current: &mut T| {
            if typed::controller_of(current.metadata()).is_some() {
                taken_meanwhile = true;
                return;
            }
            current
                .metadata_mut()
                .owner_references
                .get_or_insert_with(Vec::new)
                .push(reference);
        });
        match result {
            Ok(adopted) if !taken_meanwhile => {
                tracing::debug!(
                    object = typed::name(meta),
                    owner = typed::name(self.owner),
                    "adopted"
                );
                Some(adopted)
            }
            _ => None,
        }
    }

    fn release<T>(&self, object: &T)
    where
        T: Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned,
    {
        let meta = object.metadata();
        let owner_uid = typed::uid(self.owner).to_owned();
        let released = typed::update(self.store, self.resource, meta, |current: &mut T| {
            if let Some(references) = current.metadata_mut().owner_references.as_mut() {
                references.retain(|r| r.uid != owner_uid);
            }
        });
        if released.is_ok() {
            tracing::debug!(
                object = typed::name(meta),
                owner = typed::name(self.owner),
                "released"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::*;

    fn owned_by(uid: &str, controller: bool) -> ObjectMeta {
        ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "x".into(),
                uid: uid.into(),
                controller: Some(controller),
                block_owner_deletion: None,
            }]),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn controllers_claim_as_the_controller_ref_manager_does() {
        let orphan = ObjectMeta::default();
        let deleting_orphan = ObjectMeta {
            deletion_timestamp: Some(typed::now()),
            ..ObjectMeta::default()
        };
        let ours = owned_by("rs", true);
        let foreign = owned_by("run", true);
        // A mere owner reference (not a controller) leaves the object an orphan.
        let referenced = owned_by("run", false);
        let cases = [
            (&orphan, false, true, Claim::Adopt),
            (&orphan, false, false, Claim::Ignore),
            (&orphan, true, true, Claim::Ignore),
            (&deleting_orphan, false, true, Claim::Ignore),
            (&referenced, false, true, Claim::Adopt),
            (&ours, false, true, Claim::Keep),
            (&ours, true, true, Claim::Keep),
            (&ours, false, false, Claim::Release),
            (&ours, true, false, Claim::Ignore),
            (&foreign, false, true, Claim::Ignore),
            (&foreign, false, false, Claim::Ignore),
        ];
        for (object, controller_deleting, matches, want) in cases {
            assert_eq!(
                decide("rs", controller_deleting, object, matches),
                want,
                "{object:?} deleting={controller_deleting} matches={matches}"
            );
        }
    }
}
