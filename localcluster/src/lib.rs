//! An emulated Kubernetes API whose pods are Linux network namespaces with real processes.
