//! The workload controllers of kube-controller-manager that the local cluster runs: Deployments
//! (through ReplicaSets), ReplicaSets, StatefulSets, DaemonSets, and the garbage collector.
//!
//! They work on the store directly, with typed k8s-openapi objects, and level-triggered: a
//! pass lists what it needs and brings every object a step closer to what it asks for, as
//! the upstream controllers' syncs do (`manager`). Reads are consistent with the last write,
//! so none of upstream's expectations (waiting for the informer cache to see a create) is
//! needed.

mod claim;
mod daemonset;
mod deployment;
mod gc;
mod hash;
mod manager;
mod pod_control;
mod pods;
mod replicaset;
mod revisions;
mod rollout;
mod statefulset;
mod typed;

pub(crate) use manager::run;
