//! What a run finds in the cluster for a scenario's live parts, and the scenario it then runs:
//! pure, so the runner reads the cluster ([`LiveState`]) and this decides.
//!
//! - [`identity`]: what a mimic copies: a workload's pod labels (less the labels controllers
//!   adopt pods by) and service account, and where it runs.
//! - [`targets`]: the deployed pods a live target picks (`all`, `one`, `perNode`), their ports
//!   (container ports, named ones included), and a live Service's Ready pods.
//! - [`resolve`] puts them together: mimics with their identity and run-suffixed names, live
//!   targets expanded into one probe per picked pod, or every problem, located where the
//!   scenario wrote what could not be found.

mod error;
mod identity;
mod resolve;
mod state;
mod targets;
#[cfg(test)]
mod tests;

pub use error::Unresolvable;
pub use identity::{ADOPTION_LABELS, strip_adoption_labels};
pub use resolve::resolve;
pub use state::{LiveError, LiveService, LiveState, LiveWorkload};
