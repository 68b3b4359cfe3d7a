//! `PodControl`: how a controller creates and deletes its pods, with the events upstream
//! records on the controller (`SuccessfulCreate`, `FailedCreate`, `SuccessfulDelete`), worded as
//! `RealPodControl` words them, or as the StatefulSet controller's `StatefulPodControl` does.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use netverdict_apiserver::{ApiError, Propagation, Resource};

use super::typed;
use crate::cluster::Ctx;

/// The pods of one controller.
pub(crate) struct PodControl<'a> {
    pub ctx: &'a Ctx,
    /// The controller's kind and object, which the events are about.
    pub kind: Resource,
    pub owner: &'a ObjectMeta,
    pub component: &'static str,
}

impl PodControl<'_> {
    pub(crate) fn event(&self, warning: bool, reason: &str, message: &str) {
        let me = typed::event_ref(self.kind, self.owner);
        self.ctx
            .events
            .record(&me, self.component, None, warning, reason, message);
    }

    fn stateful(&self) -> bool {
        self.kind == Resource::StatefulSets
    }

    /// Creates the pod in the controller's namespace. A namespace being deleted is not
    /// reported (every create in it fails).
    ///
    /// # Errors
    /// What the store refuses.
    pub(crate) fn create(&self, pod: &Pod) -> Result<Pod, ApiError> {
        let ns = typed::namespace(self.owner);
        let set = typed::name(self.owner);
        match typed::create(&self.ctx.store, Resource::Pods, ns, pod) {
            Ok(created) => {
                let name = typed::name(&created.metadata);
                let message = if self.stateful() {
                    format!("create Pod {name} in StatefulSet {set} successful")
                } else {
                    format!("Created pod: {name}")
                };
                self.event(false, "SuccessfulCreate", &message);
                Ok(created)
            }
            Err(e) if typed::namespace_terminating(&e) => Err(e),
            Err(e) => {
                let message = if self.stateful() {
                    let name = typed::name(&pod.metadata);
                    format!(
                        "create Pod {name} in StatefulSet {set} failed error: {}",
                        e.message
                    )
                } else {
                    format!("Error creating: {}", e.message)
                };
                self.event(true, "FailedCreate", &message);
                Err(e)
            }
        }
    }

    /// Deletes the pod (gracefully) if it is still the one seen.
    ///
    /// # Errors
    /// What the store refuses; `NotFound` when it is gone or another.
    pub(crate) fn delete(&self, pod: &Pod) -> Result<(), ApiError> {
        typed::delete(
            &self.ctx.store,
            Resource::Pods,
            &pod.metadata,
            Propagation::Background,
        )?;
        let name = typed::name(&pod.metadata);
        let message = if self.stateful() {
            format!(
                "delete Pod {name} in StatefulSet {} successful",
                typed::name(self.owner)
            )
        } else {
            format!("Deleted pod: {name}")
        };
        self.event(false, "SuccessfulDelete", &message);
        Ok(())
    }
}
