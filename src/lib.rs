//! netverdict: proves what a Kubernetes network can and cannot do.

pub mod cli;
