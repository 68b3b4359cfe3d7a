//! An emulated Kubernetes API whose pods are Linux network namespaces with real processes.

mod dns;
mod external;
pub mod instance;
