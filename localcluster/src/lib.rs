//! An emulated Kubernetes cluster in one process: the API (served by `netverdict-apiserver`),
//! a scheduler, a kubelet whose pods are Linux network namespaces with real processes
//! (`netverdict-netns`), an endpoints controller that programs Services as kube-proxy does, the
//! workload controllers and the garbage collector, and cluster DNS. netverdict's runner and
//! `kubectl` use it as they would a real cluster.
//!
//! Entry points: [`LocalCluster::start`] for tests and embedding; [`up`], [`down`], [`status`]
//! and [`serve_foreground`] for the `netverdict local` commands (their option structs derive
//! `clap::Args`). Everything needs root.
//!
//! # What a fresh cluster has
//! - nodes `<name>-control-plane`, `<name>-worker`, `<name>-worker2`, … (Ready, pod range
//!   `10.244.<i>.0/24`, `198.18.<i>.0/24` with `--emulate lane`, InternalIP `172.18.0.<i+2>`, which is reported only: nothing listens there);
//! - the `kubernetes` Service (10.96.0.1:443), translated to [`netverdict_netns::INFRA_IP`]:6443
//!   in the external namespace, where the API server listens too (a socket bound in that
//!   namespace, so nothing new listens on the machine): pods reach the API as
//!   `https://kubernetes.default.svc`, whose name and addresses the serving certificate holds
//!   (a cluster without an API server has an HTTPS responder answering 403 there);
//! - in every namespace, the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap (the
//!   API's CA), made again when deleted (`serviceaccounts`);
//! - `kube-system/coredns-…` (label `k8s-app=kube-dns`) behind `kube-dns` (10.96.0.10, UDP and
//!   TCP 53). Its "process" is this one: the DNS sockets are bound inside the pod's namespace;
//! - the emulated external hosts [`EXTERNAL_HOSTS`] (`external.test` 203.0.113.10,
//!   `external2.test` 198.51.100.10), answering HTTP on TCP 80 and HTTPS on 443 (self-signed
//!   certificate: `curl -k`).
//!
//! # Pods
//! The API server admits pods as kube-apiserver's ServiceAccount plugin does: a pod's
//! ServiceAccount (`default` unless named) must exist (`403 Forbidden` otherwise), and unless
//! `automountServiceAccountToken: false` (the pod's, else the ServiceAccount's) it gets the
//! `kube-api-access-*` projected volume at `/var/run/secrets/kubernetes.io/serviceaccount`:
//! `token` (bound to the pod, renewed before it expires), `ca.crt`, `namespace`. Volumes
//! (`volumes`): ConfigMap, projected, downward API and emptyDir volumes are mounted where the
//! container's `volumeMounts` say, in a file system of the pod's own (see
//! [`netverdict_netns::PodRoot`]: the machine's, read-only, with mount points the machine does
//! not have made in the pod's copy only).
//!
//! The first container's `command` + `args` run as real processes of the machine inside the
//! pod's network namespace, with the pod's resolv.conf (`search <ns>.svc.cluster.local
//! svc.cluster.local cluster.local`, `options ndots:5`), the spec's environment (downward API
//! fieldRefs, ConfigMap refs, `$(VAR)`), and `runAsUser`/`runAsGroup` (65532:65532 when unset;
//! root and host access are refused unless [`LocalClusterConfig::allow_privileged_pods`], see
//! `security`), contained as `PodNetwork::command` describes (read-only machine, the pod's own
//! `/tmp`, no capabilities, `no_new_privs`). Images are not pulled: without `command`, the
//! image's entrypoint is taken to be netverdict's image's (`/usr/local/bin/netverdict`), so
//! `image: localhost/netverdict` with `args: [run, ...]` runs netverdict, as that image would;
//! the command `netverdict` runs the instance's copy of [`LocalClusterConfig::netverdict_bin`]
//! (`/run/netverdict/<name>/bin/netverdict`, 0755, so any pod user can run it wherever it was
//! built; a rebuild does not change a running cluster's). Status follows a
//! kubelet's: phases, conditions, container states with reasons and exit codes, restart policies
//! with CrashLoopBackOff, readiness probes (exec, tcpSocket, httpGet; from inside the pod),
//! `activeDeadlineSeconds`, Events. A command that cannot be found or executed leaves the
//! container Waiting with reason `RunContainerError`; when the pod's user may not execute it, the
//! message says why (the first directory on the way it cannot search, or the file's mode). Deletion is graceful: SIGTERM to the container's process
//! group, SIGKILL after the grace period, then the network goes and the object with it.
//! Container output goes to `<log dir>/<namespace>_<pod>.log` ([`LocalCluster::log_dir`]).
//!
//! Readiness gates hold the Ready condition back until every gate's condition is True (see
//! `readiness`); the scheduler honours node names, node selectors, required node affinity and
//! taints (`nodeaffinity`, `taints`).
//!
//! # Workloads
//! The controllers of kube-controller-manager that applications meet run in `controllers`:
//! Deployments (through ReplicaSets, rolling or recreating), ReplicaSets, StatefulSets,
//! DaemonSets, with adoption by selector as the controller-ref manager does it, and the garbage
//! collector (ownerReferences; background, foreground and orphan deletion).
//!
//! # Jobs
//! batch/v1 Jobs run as kube-controller-manager's Job controller runs them (see `jobs`):
//! pods from the template through ServiceAccount admission, back-off limit, deadline, TTL,
//! the 1.33 status and conditions, and the deletion of their pods with the Job's
//! propagation policy.
//!
//! # Namespaces
//! A deleted namespace is Terminating (deletionTimestamp, `kubernetes` finalizer) while its
//! contents go; the API refuses new content in it as kube-apiserver does. It goes once empty, or
//! [`LocalClusterConfig::namespace_deletion`] later (slow namespace deletion, as on real clusters).
//!
//! # Services
//! Endpoints and EndpointSlices list the selected pods; the fabric translates ClusterIP:port to
//! one ready endpoint before any policy sees the packet, as kube-proxy does. A Service port with
//! no ready endpoint refuses connections (ICMP port unreachable, as kube-proxy's REJECT).
//!
//! # NetworkPolicies
//! Enforced in the router namespace's forwarding path according to [`CniMode`] (see the
//! `enforcement` module), after the Service translation.
//!
//! # Not emulated
//! Other containers than the first, init containers, liveness and startup probes, Secrets (a
//! Secret volume is a `FailedMount`: none exists), persistent volumes, hostPath volumes (see
//! `security`), sysctls other than `net.*` (refused with a `SysctlForbidden` event), NodePorts,
//! LoadBalancers and ExternalName Services, IPv6. `hostNetwork` pods (allowed only with
//! privileged pods) get a namespace of their own like any other: nothing a pod runs ever joins
//! the machine's network; their `hostPath` volumes are not mounted.
//!
//! # The API
//! HTTPS on loopback with the instance's own CA; the kubeconfig carries the admin's client
//! certificate, `secrets/token` a bearer token (see `access` and `instance`).

mod access;
mod cli;
mod cluster;
mod controllers;
mod dns;
mod emulation;
mod endpoints;
pub mod enforcement;
mod events;
mod exec_access;
mod external;
pub mod instance;
mod jobs;
mod kubeconfig_merge;
mod kubelet;
mod namespaces;
mod network;
mod nodeaffinity;
mod probe;
mod readiness;
mod security;
mod serviceaccounts;
mod taints;
mod volumes;

pub use access::{ADMIN_GROUP, ADMIN_USER};
pub use cli::{
    DEFAULT_NAME, DownOptions, InstanceStatus, ServeOptions, UpOptions, UpReport, down,
    serve_foreground, status, up,
};
pub use cluster::{
    API_ENDPOINT_PORT, ClusterError, CniMode, DNS_SERVICE_IP, EXTERNAL_HOSTS,
    KUBERNETES_SERVICE_IP, LocalCluster, LocalClusterConfig, PodSecurityOptions,
};
pub use emulation::{Behaviour, EmulationOptions};
pub use kubeconfig_merge::KubeconfigError;
pub use network::{CniArg, MAX_POLICY_DELAY, NetworkOptions};
pub use security::{DEFAULT_GID, DEFAULT_UID};
