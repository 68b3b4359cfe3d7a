//! netverdict: proves what a Kubernetes network can and cannot do.

pub mod cli;
#[expect(
    dead_code,
    unused_imports,
    reason = "the runner is their only user and is not wired yet"
)]
mod cluster;
mod k8s;
