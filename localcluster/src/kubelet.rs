//! The scheduler and the kubelet: pods of the Store become network namespaces with real
//! processes, and their status follows what those processes do.
//!
//! One watch over all pods drives both: a pod without `spec.nodeName` is bound to a node (round
//! robin over the nodes its `nodeSelector` matches), a bound pod gets a task ([`run_pod`]) that
//! owns its network and processes until it is deleted.
//!
//! Emulation choices:
//! - only the first container runs (its `command` + `args`; without `command` the image's
//!   entrypoint is taken to be `netverdict`, as in the project's image); the image is not pulled
//!   and binaries come from the machine, `netverdict` meaning the configured binary;
//! - the container's processes form one process group: termination signals go to all of them
//!   (a container runtime signals PID 1 of a PID namespace, which pods here do not have);
//! - readiness probes run from inside the pod's namespace; liveness and startup probes are not
//!   emulated;
//! - the `coredns` pod ([`BUILTIN_DNS`]) is served by this process: its sockets are bound inside
//!   the pod's namespace.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, EnvVar, Pod, PodSpec};
use netverdict_apiserver::{
    ApiError, ExecHandler, ExecProcess, LogOptions, Resource, Selection, WatchEvent,
};
use netverdict_engine::Quoted;
use netverdict_netns::{PodNetwork, PodRoot, RootSpec, RunAs};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cluster::{Ctx, DNS_SERVICE_IP, KUBERNETES_SERVICE_IP, NodeInfo, clone_network, now};
use crate::dns::CLUSTER_DOMAIN;
use crate::events::ObjectRef;
use crate::{exec_access, nodeaffinity, probe, readiness};

/// Annotation marking a pod whose process is emulated by the local cluster itself.
pub(crate) const BUILTIN_ANNOTATION: &str = "netverdict.io/builtin";
/// [`BUILTIN_ANNOTATION`] value of the cluster DNS pod.
pub(crate) const BUILTIN_DNS: &str = "cluster-dns";

/// The `PATH` of a container that sets none (as container images commonly do).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Longest CrashLoopBackOff delay, as the kubelet's.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A pod the kubelet runs.
pub(crate) struct PodEntry {
    pub uid: String,
    /// Sends the grace period (seconds) once the pod is to be deleted.
    pub delete_tx: watch::Sender<Option<i64>>,
    /// Set once the pod's sandbox (namespace) exists.
    pub run: Option<Arc<RunInfo>>,
    /// The pod's task, ended at shutdown before the fabric goes (so that it does not see its
    /// processes killed and restart them).
    pub task: tokio::task::AbortHandle,
}

/// What exec needs to run a process like the container's.
pub(crate) struct RunInfo {
    pub network: PodNetwork,
    /// The pod's file system, which all its processes share.
    pub root: PodRoot,
    pub run_as: RunAs,
    pub env: Vec<(String, String)>,
    pub working_dir: PathBuf,
    pub containers: Vec<String>,
}

impl RunInfo {
    /// A process of the pod: its namespaces, file system, identity and working directory.
    pub fn command(&self, program: &Path) -> tokio::process::Command {
        self.root
            .command(program.as_os_str(), self.run_as.clone(), &self.working_dir)
    }
}

/// Watches pods and dispatches them until the task is aborted.
pub(crate) async fn run(ctx: Arc<Ctx>) {
    // A watch that was closed and reopened may have missed a deletion: compare now and then.
    let mut resync = tokio::time::interval(Duration::from_secs(5));
    loop {
        let mut rx = match ctx
            .store
            .watch(Resource::Pods, None, &Selection::default(), None)
        {
            Ok(rx) => rx,
            Err(e) => {
                tracing::warn!(error = %e, "watch pods");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        loop {
            let event = tokio::select! {
                event = rx.recv() => event,
                _ = resync.tick() => {
                    resync_pods(&ctx);
                    continue;
                }
            };
            let Some(event) = event else { break };
            match event {
                WatchEvent::Added(pod) | WatchEvent::Modified(pod) => handle(&ctx, pod),
                WatchEvent::Deleted(pod) => handle_deleted(&ctx, &pod),
                WatchEvent::Bookmark { .. } => {}
            }
            ctx.changed.notify_one();
        }
    }
}

/// Stops pods whose object is gone (or was replaced by one with another uid).
fn resync_pods(ctx: &Ctx) {
    let pods = ctx.pods.lock().unwrap_or_else(|e| e.into_inner());
    for ((ns, name), entry) in pods.iter() {
        let current = ctx.store.get(Resource::Pods, Some(ns), name);
        if current.is_ok_and(|p| p["metadata"]["uid"].as_str() == Some(entry.uid.as_str())) {
            continue;
        }
        entry.delete_tx.send_replace(Some(0));
    }
}

fn meta_str<'a>(pod: &'a Value, field: &str) -> &'a str {
    pod["metadata"][field].as_str().unwrap_or_default()
}

fn object_ref(pod: &Value) -> ObjectRef {
    ObjectRef {
        kind: "Pod",
        namespace: meta_str(pod, "namespace").to_owned(),
        name: meta_str(pod, "name").to_owned(),
        uid: meta_str(pod, "uid").to_owned(),
    }
}

fn grace_seconds(pod: &Value) -> i64 {
    pod["metadata"]["deletionGracePeriodSeconds"]
        .as_i64()
        .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30)
        .max(0)
}

fn handle(ctx: &Arc<Ctx>, pod: Value) {
    let (ns, name, uid) = (
        meta_str(&pod, "namespace").to_owned(),
        meta_str(&pod, "name").to_owned(),
        meta_str(&pod, "uid").to_owned(),
    );
    let deleting = !pod["metadata"]["deletionTimestamp"].is_null();
    let node = pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if node.is_empty() {
        if !deleting {
            schedule(ctx, &pod);
        }
        return;
    }
    let mut pods = ctx.pods.lock().unwrap_or_else(|e| e.into_inner());
    let key = (ns.clone(), name.clone());
    if let Some(entry) = pods.get(&key) {
        if entry.uid == uid && deleting {
            entry.delete_tx.send_replace(Some(grace_seconds(&pod)));
        } else if entry.uid == uid {
            drop(pods);
            refresh_readiness(ctx, &pod);
        }
        return;
    }
    if deleting {
        drop(pods);
        // Never started here (e.g. bound to a node that does not exist): nothing to stop.
        let _ = ctx.store.finalize_delete(Resource::Pods, Some(&ns), &name);
        return;
    }
    let Some(node) = ctx.node(&node).cloned() else {
        return;
    };
    let terminal = matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    );
    if terminal {
        // A finished pod of an earlier run: nothing to run again.
        return;
    }
    let (delete_tx, delete_rx) = watch::channel(None);
    // Spawned under the lock: the task's first look at its entry waits until it is inserted.
    let task = tokio::spawn(run_pod(ctx.clone(), pod, node, delete_rx)).abort_handle();
    pods.insert(
        key,
        PodEntry {
            uid,
            delete_tx,
            run: None,
            task,
        },
    );
}

/// A gated pod's Ready decided again: one of its gates' conditions may have changed.
fn refresh_readiness(ctx: &Ctx, pod: &Value) {
    let Some(conditions) = crate::readiness::refreshed(pod) else {
        return;
    };
    let uid = meta_str(pod, "uid").to_owned();
    let _ = ctx.store.mutate(
        Resource::Pods,
        Some(meta_str(pod, "namespace")),
        meta_str(pod, "name"),
        |p| {
            if p["metadata"]["uid"].as_str() == Some(uid.as_str()) {
                p["status"]["conditions"] = Value::Array(conditions);
            }
            Ok(())
        },
    );
}

fn handle_deleted(ctx: &Ctx, pod: &Value) {
    let key = (
        meta_str(pod, "namespace").to_owned(),
        meta_str(pod, "name").to_owned(),
    );
    let pods = ctx.pods.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = pods.get(&key).filter(|e| e.uid == meta_str(pod, "uid")) {
        entry.delete_tx.send_replace(Some(0));
    }
}

/// What the scheduler says of a pod no node takes: the nodes with a taint it does not tolerate,
/// the others failing its node selector.
fn unschedulable_message(nodes: usize, taints: &[String]) -> String {
    let mut reasons = Vec::new();
    let mut counted = std::collections::BTreeMap::<&str, usize>::new();
    for taint in taints {
        *counted.entry(taint).or_default() += 1;
    }
    for (taint, count) in counted {
        reasons.push(format!("{count} node(s) had untolerated taint {taint}"));
    }
    let unselected = nodes - taints.len();
    if unselected > 0 {
        reasons.push(format!(
            "{unselected} node(s) didn't match Pod's node affinity/selector"
        ));
    }
    format!("0/{nodes} nodes are available: {}.", reasons.join(", "))
}

/// Binds an unscheduled pod to a node its nodeSelector matches and whose taints it tolerates.
fn schedule(ctx: &Ctx, pod: &Value) {
    let spec: Option<PodSpec> = serde_json::from_value(pod["spec"].clone()).ok();
    let selected: Vec<&NodeInfo> = ctx
        .nodes
        .iter()
        .filter(|n| {
            let node = ctx
                .store
                .get(Resource::Nodes, None, &n.name)
                .ok()
                .and_then(|node| {
                    serde_json::from_value::<k8s_openapi::api::core::v1::Node>(node).ok()
                });
            spec.as_ref()
                .zip(node)
                .is_some_and(|(spec, node)| nodeaffinity::fits(spec, &node))
        })
        .collect();
    let mut taints = Vec::new();
    let matching: Vec<&NodeInfo> = selected
        .iter()
        .copied()
        .filter(|n| {
            let node = ctx
                .store
                .get(Resource::Nodes, None, &n.name)
                .unwrap_or_default();
            let taint = crate::taints::untolerated_taint(&node, pod);
            taints.extend(taint.clone());
            taint.is_none()
        })
        .collect();
    let (ns, name) = (meta_str(pod, "namespace"), meta_str(pod, "name"));
    let object = object_ref(pod);
    let Some(node) = (!matching.is_empty())
        .then(|| matching[ctx.next_node.fetch_add(1, Ordering::Relaxed) % matching.len()])
    else {
        let already = pod["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "PodScheduled" && c["status"] == "False")
        });
        if already {
            return;
        }
        let message = unschedulable_message(ctx.nodes.len(), &taints);
        let _ = ctx.store.mutate(Resource::Pods, Some(ns), name, |p| {
            p["status"] = json!({"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": message, "lastProbeTime": null, "lastTransitionTime": now()}]});
            Ok(())
        });
        ctx.events.record(
            &object,
            "default-scheduler",
            None,
            true,
            "FailedScheduling",
            &message,
        );
        return;
    };
    let uid = object.uid.clone();
    let bound = ctx.store.mutate(Resource::Pods, Some(ns), name, |p| {
        if p["metadata"]["uid"].as_str() != Some(uid.as_str()) || !p["spec"]["nodeName"].is_null() {
            return Err(ApiError {
                code: 409,
                reason: "Conflict".into(),
                message: "pod changed while scheduling".into(),
                causes: Vec::new(),
            });
        }
        p["spec"]["nodeName"] = json!(node.name);
        p["status"] = json!({"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now()}]});
        Ok(())
    });
    if bound.is_ok() {
        let message = format!("Successfully assigned {ns}/{name} to {}", node.name);
        ctx.events.record(
            &object,
            "default-scheduler",
            None,
            false,
            "Scheduled",
            &message,
        );
    }
}

/// A container's state, as `containerStatuses[].state` shows it.
#[derive(Clone, Debug)]
enum CState {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: Value,
    },
    Terminated {
        exit_code: i32,
        reason: String,
        message: Option<String>,
        started_at: Value,
        finished_at: Value,
    },
}

impl CState {
    fn render(&self) -> Value {
        match self {
            CState::Waiting { reason, message } => {
                let mut w = json!({"reason": reason});
                if let Some(m) = message {
                    w["message"] = json!(m);
                }
                json!({"waiting": w})
            }
            CState::Running { started_at } => json!({"running": {"startedAt": started_at}}),
            CState::Terminated {
                exit_code,
                reason,
                message,
                started_at,
                finished_at,
            } => {
                let mut t = json!({"exitCode": exit_code, "reason": reason, "startedAt": started_at, "finishedAt": finished_at});
                if let Some(m) = message {
                    t["message"] = json!(m);
                }
                json!({"terminated": t})
            }
        }
    }
}

/// The kubelet's view of one pod, rendered into `status` on every change.
struct PodState {
    ns: String,
    name: String,
    uid: String,
    phase: &'static str,
    reason: Option<&'static str>,
    message: Option<String>,
    host_ip: Ipv4Addr,
    ip: Option<Ipv4Addr>,
    start_time: Value,
    scheduled_at: Value,
    container: String,
    image: String,
    state: CState,
    last_state: Option<CState>,
    restart_count: i32,
    ready: bool,
    /// Condition type -> (status, lastTransitionTime).
    transitions: BTreeMap<&'static str, (bool, Value)>,
}

impl PodState {
    fn render(&mut self) -> Value {
        let running = matches!(self.state, CState::Running { .. });
        let ready = self.ready && running;
        let initialized = true;
        let wanted = [
            ("PodReadyToStartContainers", self.ip.is_some()),
            ("Initialized", initialized),
            ("ContainersReady", ready),
            ("Ready", ready),
        ];
        let mut conditions = vec![
            json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": self.scheduled_at}),
        ];
        for (kind, status) in wanted {
            let entry = self
                .transitions
                .entry(kind)
                .or_insert_with(|| (status, now()));
            if entry.0 != status {
                *entry = (status, now());
            }
            let mut c = json!({"type": kind, "status": if status { "True" } else { "False" },
                               "lastProbeTime": null, "lastTransitionTime": entry.1});
            if !status && matches!(kind, "ContainersReady" | "Ready") {
                let finished = matches!(self.phase, "Succeeded" | "Failed");
                c["reason"] = json!(if finished {
                    "PodCompleted"
                } else {
                    "ContainersNotReady"
                });
                if !finished {
                    c["message"] = json!(format!(
                        "containers with unready status: [{}]",
                        self.container
                    ));
                }
            }
            conditions.push(c);
        }
        let mut cs = json!({
            "name": self.container, "image": self.image, "imageID": "",
            "ready": ready, "started": running, "restartCount": self.restart_count,
            "state": self.state.render(), "lastState": self.last_state.as_ref().map(CState::render).unwrap_or(json!({})),
        });
        if !matches!(self.state, CState::Waiting { .. }) || self.restart_count > 0 {
            cs["containerID"] = json!(format!("netverdict://{}", self.uid));
        }
        let mut status = json!({
            "phase": self.phase, "conditions": conditions, "hostIP": self.host_ip.to_string(),
            "hostIPs": [{"ip": self.host_ip.to_string()}], "startTime": self.start_time,
            "containerStatuses": [cs], "qosClass": "BestEffort",
        });
        if let Some(ip) = self.ip {
            status["podIP"] = json!(ip.to_string());
            status["podIPs"] = json!([{"ip": ip.to_string()}]);
        }
        if let Some(reason) = self.reason {
            status["reason"] = json!(reason);
        }
        if let Some(message) = &self.message {
            status["message"] = json!(message);
        }
        status
    }

    fn write(&mut self, ctx: &Ctx) {
        let status = self.render();
        let uid = self.uid.clone();
        let result = ctx
            .store
            .mutate(Resource::Pods, Some(&self.ns), &self.name, |p| {
                if p["metadata"]["uid"].as_str() != Some(uid.as_str()) {
                    return Err(ApiError {
                        code: 409,
                        reason: "Conflict".into(),
                        message: "uid changed".into(),
                        causes: Vec::new(),
                    });
                }
                let rendered = status["conditions"].as_array().cloned().unwrap_or_default();
                let conditions = readiness::merge(p, rendered);
                p["status"] = status;
                p["status"]["conditions"] = Value::Array(conditions);
                Ok(())
            });
        if let Err(e) = result {
            tracing::debug!(pod = %self.name, error = %e, "status not written");
        }
    }
}

/// Runs one pod from sandbox creation to deletion.
async fn run_pod(
    ctx: Arc<Ctx>,
    pod_json: Value,
    node: NodeInfo,
    mut delete_rx: watch::Receiver<Option<i64>>,
) {
    let object = object_ref(&pod_json);
    let (ns, name) = (object.namespace.clone(), object.name.clone());
    let pod: Pod = match serde_json::from_value(pod_json.clone()) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(pod = %name, error = %e, "pod does not parse");
            wait_deleted(&mut delete_rx).await;
            finish(&ctx, &object, None).await;
            return;
        }
    };
    let spec = pod.spec.clone().unwrap_or_default();
    let first = spec.containers.first().cloned().unwrap_or_default();
    let scheduled_at = pod_json["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled"))
        .map(|c| c["lastTransitionTime"].clone())
        .unwrap_or_else(now);
    let mut state = PodState {
        ns: ns.clone(),
        name: name.clone(),
        uid: object.uid.clone(),
        phase: "Pending",
        reason: None,
        message: None,
        host_ip: node.internal_ip,
        ip: None,
        start_time: now(),
        scheduled_at,
        container: first.name.clone(),
        image: first.image.clone().unwrap_or_default(),
        state: CState::Waiting {
            reason: "ContainerCreating".into(),
            message: None,
        },
        last_state: None,
        restart_count: 0,
        ready: false,
        transitions: BTreeMap::new(),
    };
    state.write(&ctx);

    let host = node.name.as_str();
    if let Some((sysctl, message)) = forbidden_sysctl(&ctx, &spec) {
        reject_pod(&ctx, &mut state, "SysctlForbidden", message);
        ctx.events.record(
            &object,
            "kubelet",
            Some(host),
            true,
            "SysctlForbidden",
            &format!("forbidden sysctl: {} not whitelisted", Quoted(&sysctl)),
        );
        wait_deleted(&mut delete_rx).await;
        finish(&ctx, &object, None).await;
        return;
    }
    let Some(ip) = ctx.allocate_ip(&node) else {
        let message = format!(
            "no free address in {}",
            ctx.emulation.node_pod_range(node.index)
        );
        ctx.events.record(
            &object,
            "kubelet",
            Some(host),
            true,
            "FailedCreatePodSandBox",
            &message,
        );
        wait_deleted(&mut delete_rx).await;
        finish(&ctx, &object, None).await;
        return;
    };
    let key = ctx.next_pod_key();
    let resolv = format!(
        "search {ns}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}\nnameserver {DNS_SERVICE_IP}\noptions ndots:5\n"
    );
    let network = match ctx.with_fabric(move |f| f.add_pod(&key, ip, &resolv)).await {
        Ok(n) => n,
        Err(e) => {
            ctx.release_ip(ip);
            let message = format!("Failed to create pod sandbox: {e}");
            ctx.events.record(
                &object,
                "kubelet",
                Some(host),
                true,
                "FailedCreatePodSandBox",
                &message,
            );
            wait_deleted(&mut delete_rx).await;
            finish(&ctx, &object, None).await;
            return;
        }
    };
    state.ip = Some(ip);
    let sysctls = spec
        .security_context
        .as_ref()
        .and_then(|s| s.sysctls.clone())
        .unwrap_or_default();
    for sysctl in sysctls {
        if let Err(message) = apply_sysctl(&network, &sysctl.name, &sysctl.value) {
            ctx.events.record(
                &object,
                "kubelet",
                Some(host),
                true,
                "SysctlForbidden",
                &message,
            );
        }
    }
    let run_as = match crate::security::identity(&spec, 0, ctx.allow_privileged_pods) {
        Ok(run_as) => run_as,
        Err(message) => {
            refuse_container(&ctx, &object, host, &mut state, &mut delete_rx, message).await;
            finish(&ctx, &object, Some(network)).await;
            return;
        }
    };
    let env = container_env(&ctx, &pod, &first, ip, &node);
    let sandbox = Sandbox {
        ctx: &ctx,
        pod: &pod,
        container: &first,
        network: &network,
        object: &object,
        host,
    };
    let Some((root, refresher)) = sandbox.mount(&run_as, &mut delete_rx).await else {
        finish(&ctx, &object, Some(network)).await;
        return;
    };
    let info = Arc::new(RunInfo {
        network: clone_network(&network),
        root,
        run_as,
        env,
        working_dir: first
            .working_dir
            .clone()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/")),
        containers: spec.containers.iter().map(|c| c.name.clone()).collect(),
    });
    {
        let mut pods = ctx.pods.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = pods.get_mut(&(ns.clone(), name.clone())) {
            entry.run = Some(info.clone());
        }
    }
    let builtin = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(BUILTIN_ANNOTATION))
        .cloned();
    if builtin.as_deref() == Some(BUILTIN_DNS) {
        run_dns(&ctx, &mut state, &info, &mut delete_rx).await;
    } else {
        let mut runner = ContainerRunner {
            ctx: &ctx,
            object: &object,
            host,
            spec: &spec,
            container: &first,
            info: &info,
        };
        runner.run(&mut state, &mut delete_rx).await;
    }
    if let Some(refresher) = refresher {
        refresher.abort();
    }
    finish(&ctx, &object, Some(network)).await;
}

/// Sets up what a pod's processes see of the file system: its volumes, then its root.
struct Sandbox<'a> {
    ctx: &'a Arc<Ctx>,
    pod: &'a Pod,
    container: &'a Container,
    network: &'a PodNetwork,
    object: &'a ObjectRef,
    host: &'a str,
}

/// First delay before a volume that could not be set up is tried again (doubling up to
/// [`MAX_MOUNT_RETRY`]).
const MOUNT_RETRY: Duration = Duration::from_millis(500);
const MAX_MOUNT_RETRY: Duration = Duration::from_secs(16);

impl Sandbox<'_> {
    /// The pod's root with its volumes mounted, and the task that writes its tokens anew before
    /// they expire. A volume that cannot be set up yet (a ConfigMap that does not exist) is a
    /// `FailedMount` event and is tried again, the container waiting in `ContainerCreating`,
    /// until the pod is deleted (`None`).
    async fn mount(
        &self,
        run_as: &RunAs,
        delete_rx: &mut watch::Receiver<Option<i64>>,
    ) -> Option<(PodRoot, Option<tokio::task::JoinHandle<()>>)> {
        let mut retry = MOUNT_RETRY;
        let volumes = loop {
            let files = self.network.files_dir().to_path_buf();
            match crate::volumes::set_up(
                self.ctx,
                self.pod,
                self.container,
                &files,
                &self.network.scratch,
            ) {
                Ok(volumes) => break volumes,
                Err(e) => self.failed_mount(&e.to_string()),
            }
            tokio::select! {
                () = tokio::time::sleep(retry) => {}
                _ = wait_deleted(delete_rx) => return None,
            }
            retry = (retry * 2).min(MAX_MOUNT_RETRY);
        };
        let spec = RootSpec {
            volumes: volumes.mounts.clone(),
            writable_machine: run_as.privileged,
        };
        let network = clone_network(self.network);
        let prepared = tokio::task::spawn_blocking(move || network.prepare_root(&spec))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        let root = match prepared {
            Ok(root) => root,
            Err(message) => {
                self.failed_mount(&format!("MountVolume.SetUp failed: {message}"));
                wait_deleted(delete_rx).await;
                return None;
            }
        };
        let refresher = volumes.refresh.map(|every| {
            let (ctx, pod, container) =
                (self.ctx.clone(), self.pod.clone(), self.container.clone());
            let (files, scratch) = (
                self.network.files_dir().to_path_buf(),
                self.network.scratch.clone(),
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = crate::volumes::set_up(&ctx, &pod, &container, &files, &scratch)
                    {
                        tracing::warn!(error = %e, "refresh a pod's volumes");
                    }
                }
            })
        });
        Some((root, refresher))
    }

    fn failed_mount(&self, message: &str) {
        self.ctx.events.record(
            self.object,
            "kubelet",
            Some(self.host),
            true,
            "FailedMount",
            message,
        );
    }
}

/// The first sysctl of the pod that the emulated kubelet refuses, with its status message.
fn forbidden_sysctl(ctx: &Ctx, spec: &PodSpec) -> Option<(String, String)> {
    let sysctls = spec.security_context.as_ref()?.sysctls.as_ref()?;
    sysctls.iter().find_map(|sysctl| {
        let message = ctx.emulation.forbidden_sysctl(&sysctl.name)?;
        Some((sysctl.name.clone(), message))
    })
}

/// The kubelet does not admit the pod: Failed with the reason, before any sandbox exists.
fn reject_pod(ctx: &Ctx, state: &mut PodState, reason: &'static str, message: String) {
    state.phase = "Failed";
    state.reason = Some(reason);
    state.message = Some(message);
    state.write(ctx);
}

/// The container may not run (see `crate::security`): it waits with the reason, as a
/// kubelet reports a `CreateContainerConfigError`, until the pod is deleted.
async fn refuse_container(
    ctx: &Ctx,
    object: &ObjectRef,
    host: &str,
    state: &mut PodState,
    delete_rx: &mut watch::Receiver<Option<i64>>,
    message: String,
) {
    state.state = CState::Waiting {
        reason: "CreateContainerConfigError".into(),
        message: Some(message.clone()),
    };
    state.write(ctx);
    ctx.events.record(
        object,
        "kubelet",
        Some(host),
        true,
        "Failed",
        &format!("Error: {message}"),
    );
    wait_deleted(delete_rx).await;
}

async fn wait_deleted(delete_rx: &mut watch::Receiver<Option<i64>>) -> i64 {
    loop {
        if let Some(grace) = *delete_rx.borrow_and_update() {
            return grace;
        }
        if delete_rx.changed().await.is_err() {
            return 0;
        }
    }
}

/// Sets a pod sysctl inside the pod's network namespace. Only `net.*` sysctls are namespaced
/// per pod here (the others would change the machine), so any other is refused.
fn apply_sysctl(network: &PodNetwork, name: &str, value: &str) -> Result<(), String> {
    let valid = name.starts_with("net.")
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        return Err(format!(
            "forbidden sysctl: {} is not a network sysctl of the pod",
            Quoted(name)
        ));
    }
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    let value = value.to_owned();
    // /proc/sys/net shows the network namespace of the thread that opens it.
    network
        .netns
        .run_in(move || std::fs::write(&path, value.as_bytes()))
        .map_err(|e| format!("sysctl {name}: {e}"))
}

/// Removes the pod's network, forgets it and lets the API server drop the object.
async fn finish(ctx: &Arc<Ctx>, object: &ObjectRef, network: Option<PodNetwork>) {
    let (ns, name) = (object.namespace.as_str(), object.name.as_str());
    ctx.pods
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&(ns.to_owned(), name.to_owned()));
    ctx.changed.notify_one();
    if let Some(network) = network {
        let ip = network.ip;
        if let Err(e) = ctx.with_fabric(move |f| f.remove_pod(network)).await {
            tracing::warn!(pod = name, error = %e, "remove the pod network");
        }
        ctx.release_ip(ip);
    }
    match ctx.store.get(Resource::Pods, Some(ns), name) {
        Ok(p) if p["metadata"]["uid"].as_str() == Some(object.uid.as_str()) => {
            if let Err(e) = ctx.store.finalize_delete(Resource::Pods, Some(ns), name) {
                tracing::warn!(pod = name, error = %e, "finalize the pod's deletion");
            }
        }
        // A new pod of the same name was created meanwhile; its events were ignored while
        // this one still ran.
        Ok(p) => handle(ctx, p),
        Err(_) => {}
    }
}

/// The cluster DNS pod: sockets bound inside its namespace, served by this process.
async fn run_dns(
    ctx: &Ctx,
    state: &mut PodState,
    info: &RunInfo,
    delete_rx: &mut watch::Receiver<Option<i64>>,
) {
    let any53 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 53));
    let bound = (|| -> std::io::Result<_> {
        let udp = info.network.netns.bind_udp(any53)?;
        let tcp = info.network.netns.bind_tcp(any53)?;
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        Ok((
            tokio::net::UdpSocket::from_std(udp)?,
            tokio::net::TcpListener::from_std(tcp)?,
        ))
    })();
    match bound {
        Ok((udp, tcp)) => {
            state.state = CState::Running { started_at: now() };
            state.phase = "Running";
            state.ready = true;
            state.write(ctx);
            // Served inline: the sockets close with this future, also when the task is aborted.
            tokio::select! {
                () = crate::dns::serve_udp(udp, ctx.dns.clone()) => {}
                () = crate::dns::serve_tcp(tcp, ctx.dns.clone()) => {}
                _ = wait_deleted(delete_rx) => {}
            }
        }
        Err(e) => {
            state.state = CState::Waiting {
                reason: "RunContainerError".into(),
                message: Some(format!("bind port 53: {e}")),
            };
            state.write(ctx);
            wait_deleted(delete_rx).await;
        }
    }
}

/// Why a container run ended.
enum RunEnd {
    Exited(i32),
    Deleted,
    DeadlineExceeded,
    /// The container could not start before; now it can: start it (no restart counted).
    Retry,
}

struct ContainerRunner<'a> {
    ctx: &'a Ctx,
    object: &'a ObjectRef,
    host: &'a str,
    spec: &'a PodSpec,
    container: &'a Container,
    info: &'a Arc<RunInfo>,
}

impl ContainerRunner<'_> {
    fn event(&self, warning: bool, reason: &str, message: &str) {
        self.ctx.events.record(
            self.object,
            "kubelet",
            Some(self.host),
            warning,
            reason,
            message,
        );
    }

    /// Starts, watches and restarts the container until the pod is deleted.
    async fn run(&mut self, state: &mut PodState, delete_rx: &mut watch::Receiver<Option<i64>>) {
        let restart = self
            .spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".into());
        let deadline = self
            .spec
            .active_deadline_seconds
            .map(|s| Instant::now() + Duration::from_secs(u64::try_from(s.max(0)).unwrap_or(0)));
        let mut backoff = Duration::ZERO;
        let name = self.container.name.clone();
        if let Some(message) = unpullable(&state.image) {
            if self.pull_failed(state, delete_rx, deadline, message).await {
                deadline_exceeded(self, state, delete_rx).await;
            }
            return;
        }
        loop {
            let end = self.run_once(state, delete_rx, deadline).await;
            match end {
                RunEnd::Deleted => return,
                RunEnd::Retry => continue,
                RunEnd::DeadlineExceeded => {
                    deadline_exceeded(self, state, delete_rx).await;
                    return;
                }
                RunEnd::Exited(code) => {
                    let again = match restart.as_str() {
                        "Never" => false,
                        "OnFailure" => code != 0,
                        _ => true,
                    };
                    if !again {
                        state.phase = if code == 0 { "Succeeded" } else { "Failed" };
                        state.ready = false;
                        state.write(self.ctx);
                        wait_deleted(delete_rx).await;
                        return;
                    }
                    state.last_state = Some(state.state.clone());
                    state.restart_count += 1;
                    if backoff > Duration::ZERO {
                        let message = format!(
                            "back-off {}s restarting failed container={name} pod={}_{}({})",
                            backoff.as_secs(),
                            state.name,
                            state.ns,
                            state.uid
                        );
                        state.state = CState::Waiting {
                            reason: "CrashLoopBackOff".into(),
                            message: Some(message),
                        };
                        state.ready = false;
                        state.write(self.ctx);
                        self.event(true, "BackOff", "Back-off restarting failed container");
                    }
                    if self
                        .sleep_or_stop(backoff, delete_rx, deadline)
                        .await
                        .is_some()
                    {
                        if delete_rx.borrow().is_none() {
                            deadline_exceeded(self, state, delete_rx).await;
                        }
                        return;
                    }
                    backoff = next_backoff(backoff, self.ctx.restart_backoff);
                }
            }
        }
    }

    /// Reports an image that cannot be pulled as a kubelet does (ErrImagePull, then
    /// ImagePullBackOff with growing delays) until the pod is deleted or its deadline passes;
    /// `true` for the deadline.
    async fn pull_failed(
        &self,
        state: &mut PodState,
        delete_rx: &mut watch::Receiver<Option<i64>>,
        deadline: Option<Instant>,
        message: String,
    ) -> bool {
        let mut backoff = self.ctx.restart_backoff;
        let mut reason = "ErrImagePull";
        loop {
            self.event(
                false,
                "Pulling",
                &format!("Pulling image {}", Quoted(&state.image)),
            );
            self.event(
                true,
                "Failed",
                &format!("Failed to pull image {}: {message}", Quoted(&state.image)),
            );
            self.event(true, "Failed", &format!("Error: {reason}"));
            state.state = CState::Waiting {
                reason: reason.into(),
                message: Some(message.clone()),
            };
            state.ready = false;
            state.write(self.ctx);
            if self
                .sleep_or_stop(backoff, delete_rx, deadline)
                .await
                .is_some()
            {
                return delete_rx.borrow().is_none();
            }
            reason = "ImagePullBackOff";
            state.state = CState::Waiting {
                reason: reason.into(),
                message: Some(format!(
                    "Back-off pulling image {}: {message}",
                    Quoted(&state.image)
                )),
            };
            state.write(self.ctx);
            self.event(
                false,
                "BackOff",
                &format!("Back-off pulling image {}", Quoted(&state.image)),
            );
            backoff = next_backoff(backoff, self.ctx.restart_backoff);
        }
    }

    /// Sleeps `d`; `Some(())` when the pod is deleted or its deadline passes first.
    async fn sleep_or_stop(
        &self,
        d: Duration,
        delete_rx: &mut watch::Receiver<Option<i64>>,
        deadline: Option<Instant>,
    ) -> Option<()> {
        let deadline_sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(d) => None,
            _ = wait_deleted(delete_rx) => Some(()),
            () = deadline_sleep => Some(()),
        }
    }

    /// One run of the container: start, watch, end.
    async fn run_once(
        &mut self,
        state: &mut PodState,
        delete_rx: &mut watch::Receiver<Option<i64>>,
        deadline: Option<Instant>,
    ) -> RunEnd {
        let mut argv: Vec<String> = self
            .container
            .command
            .clone()
            .unwrap_or_else(|| vec!["netverdict".into()]);
        argv.extend(self.container.args.clone().unwrap_or_default());
        let path_env = env_value(&self.info.env, "PATH").unwrap_or(DEFAULT_PATH);
        let program = match resolve_program(&argv[0], path_env, &self.ctx.netverdict_bin) {
            Ok(p) => p,
            Err(message) => return self.start_failed(state, delete_rx, deadline, message).await,
        };
        let log = crate::instance::open_private_append(
            &self
                .ctx
                .log_dir
                .join(format!("{}_{}.log", state.ns, state.name)),
        );
        let (out, err) = match log.and_then(|f| Ok((f.try_clone()?, f))) {
            Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
            Err(_) => (Stdio::null(), Stdio::null()),
        };
        let mut cmd = self.info.command(&program);
        cmd.args(&argv[1..])
            .env_clear()
            .envs(self.info.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let message = exec_access::exec_failure(&argv[0], &program, &e, &self.info.run_as);
                return self.start_failed(state, delete_rx, deadline, message).await;
            }
        };
        // The process group's id; the leader's pid is gone from `child` once it was reaped.
        let group = child.id();
        let started_at = now();
        if state.restart_count == 0 {
            self.event(
                false,
                "Pulled",
                &format!(
                    "Container image {} already present on machine",
                    Quoted(&state.image)
                ),
            );
        }
        self.event(
            false,
            "Created",
            &format!("Created container: {}", self.container.name),
        );
        self.event(
            false,
            "Started",
            &format!("Started container {}", self.container.name),
        );
        let probe = self.container.readiness_probe.clone();
        state.state = CState::Running {
            started_at: started_at.clone(),
        };
        state.phase = "Running";
        state.ready = probe.is_none();
        state.write(self.ctx);

        let (ready_tx, mut ready_rx) = watch::channel(probe.is_none());
        let probe_task = probe.map(|p| {
            let target = probe::Target {
                info: self.info.clone(),
                container: self.container.clone(),
                netverdict_bin: self.ctx.netverdict_bin.clone(),
            };
            let failed = {
                let object = self.object.clone();
                let host = self.host.to_owned();
                let recorder = self.ctx.events.clone();
                move |message: String| {
                    recorder.record(
                        &object,
                        "kubelet",
                        Some(&host),
                        true,
                        "Unhealthy",
                        &format!("Readiness probe failed: {message}"),
                    );
                }
            };
            tokio::spawn(probe::readiness_loop(p, target, ready_tx, failed))
        });
        let deadline_sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline_sleep);
        let end = loop {
            tokio::select! {
                status = child.wait() => {
                    let code = match status {
                        Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
                        Err(_) => 128,
                    };
                    // The container ends with its main process, as with a PID namespace.
                    kill_group(group, nix::sys::signal::Signal::SIGKILL);
                    state.state = CState::Terminated {
                        exit_code: code,
                        reason: if code == 0 { "Completed".into() } else { "Error".into() },
                        message: None,
                        started_at: started_at.clone(),
                        finished_at: now(),
                    };
                    break RunEnd::Exited(code);
                }
                grace = wait_deleted(delete_rx) => {
                    self.event(false, "Killing", &format!("Stopping container {}", self.container.name));
                    terminate(&mut child, grace).await;
                    break RunEnd::Deleted;
                }
                () = &mut deadline_sleep => {
                    terminate(&mut child, 0).await;
                    state.state = CState::Terminated {
                        exit_code: 137, reason: "Error".into(), message: None,
                        started_at: started_at.clone(), finished_at: now(),
                    };
                    break RunEnd::DeadlineExceeded;
                }
                changed = ready_rx.changed() => {
                    if changed.is_ok() {
                        state.ready = *ready_rx.borrow_and_update();
                        state.write(self.ctx);
                    }
                }
            }
        };
        if let Some(t) = probe_task {
            t.abort();
        }
        state.ready = false;
        end
    }

    /// The container cannot start: it waits with the reason, and is retried with back-off.
    async fn start_failed(
        &self,
        state: &mut PodState,
        delete_rx: &mut watch::Receiver<Option<i64>>,
        deadline: Option<Instant>,
        message: String,
    ) -> RunEnd {
        state.state = CState::Waiting {
            reason: "RunContainerError".into(),
            message: Some(message.clone()),
        };
        state.ready = false;
        state.write(self.ctx);
        self.event(true, "Failed", &format!("Error: {message}"));
        let mut backoff = self.ctx.restart_backoff;
        loop {
            if self
                .sleep_or_stop(backoff, delete_rx, deadline)
                .await
                .is_some()
            {
                if delete_rx.borrow().is_some() {
                    return RunEnd::Deleted;
                }
                return RunEnd::DeadlineExceeded;
            }
            // Retry: the binary may have appeared since.
            let mut argv = self
                .container
                .command
                .clone()
                .unwrap_or_else(|| vec!["netverdict".into()]);
            argv.truncate(1);
            let path_env = env_value(&self.info.env, "PATH").unwrap_or(DEFAULT_PATH);
            if resolve_program(&argv[0], path_env, &self.ctx.netverdict_bin).is_ok() {
                return RunEnd::Retry;
            }
            self.event(true, "BackOff", "Back-off restarting failed container");
            backoff = next_backoff(backoff, self.ctx.restart_backoff);
        }
    }
}

/// The pod outlived `activeDeadlineSeconds`: Failed, until deleted.
async fn deadline_exceeded(
    runner: &ContainerRunner<'_>,
    state: &mut PodState,
    delete_rx: &mut watch::Receiver<Option<i64>>,
) {
    state.phase = "Failed";
    state.reason = Some("DeadlineExceeded");
    state.message = Some("Pod was active on the node longer than the specified deadline".into());
    state.ready = false;
    state.write(runner.ctx);
    runner.event(
        true,
        "DeadlineExceeded",
        "Pod was active on the node longer than the specified deadline",
    );
    wait_deleted(delete_rx).await;
}

fn next_backoff(current: Duration, base: Duration) -> Duration {
    if current.is_zero() {
        base
    } else {
        (current * 2).min(MAX_BACKOFF)
    }
}

fn kill_group(pid: Option<u32>, signal: nix::sys::signal::Signal) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // ESRCH: the group is already gone.
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
    }
}

/// SIGTERM to the container's process group, SIGKILL after `grace` seconds.
async fn terminate(child: &mut tokio::process::Child, grace: i64) {
    let pid = child.id();
    if grace > 0 {
        kill_group(pid, nix::sys::signal::Signal::SIGTERM);
        let grace = Duration::from_secs(u64::try_from(grace).unwrap_or(0));
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            kill_group(pid, nix::sys::signal::Signal::SIGKILL);
            return;
        }
    }
    kill_group(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = child.kill().await;
}

fn env_value<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Finds the executable a container command names, as a runtime does (`$PATH` of the
/// container); `netverdict` (bare or at any path that does not exist) is the configured binary.
/// Why `image` cannot be pulled, if it cannot: images are not pulled here (the machine's
/// binaries run), but one from a registry under the reserved `.invalid` top-level domain
/// (RFC 6761), which no real registry can have, fails as it would on any cluster.
pub(crate) fn unpullable(image: &str) -> Option<String> {
    let registry = image
        .split('/')
        .next()
        .filter(|first| image.contains('/') && first.contains('.'))?;
    let host = registry.split(':').next().unwrap_or(registry);
    host.ends_with(".invalid").then(|| {
        format!(
            "rpc error: code = Unknown desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to do request: Head \"https://{registry}/v2/\": dial tcp: lookup {host}: no such host"
        )
    })
}

pub(crate) fn resolve_program(
    program: &str,
    path_env: &str,
    netverdict_bin: &Path,
) -> Result<PathBuf, String> {
    let is_exe = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program == "netverdict" {
        return Ok(netverdict_bin.to_owned());
    }
    if program.contains('/') {
        let p = Path::new(program);
        if is_exe(p) {
            return Ok(p.to_owned());
        }
        if p.file_name() == Some(OsStr::new("netverdict")) {
            return Ok(netverdict_bin.to_owned());
        }
        if p.exists() {
            return Err(format!("exec: {}: permission denied", Quoted(program)));
        }
        return Err(format!(
            "exec: {}: stat {program}: no such file or directory",
            Quoted(program)
        ));
    }
    path_env
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| is_exe(p))
        .ok_or_else(|| {
            format!(
                "exec: {}: executable file not found in $PATH",
                Quoted(program)
            )
        })
}

/// The container's environment: defaults, the `kubernetes` Service variables, then `env`
/// (values, downward API fieldRefs, ConfigMap keys) and `envFrom` ConfigMaps.
fn container_env(
    ctx: &Ctx,
    pod: &Pod,
    c: &Container,
    ip: Ipv4Addr,
    node: &NodeInfo,
) -> Vec<(String, String)> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let k8s = KUBERNETES_SERVICE_IP;
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOSTNAME".into(), name.clone()),
        ("HOME".into(), "/root".into()),
        ("KUBERNETES_SERVICE_HOST".into(), k8s.to_string()),
        ("KUBERNETES_SERVICE_PORT".into(), "443".into()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".into(), "443".into()),
        ("KUBERNETES_PORT".into(), format!("tcp://{k8s}:443")),
        ("KUBERNETES_PORT_443_TCP".into(), format!("tcp://{k8s}:443")),
        ("KUBERNETES_PORT_443_TCP_PROTO".into(), "tcp".into()),
        ("KUBERNETES_PORT_443_TCP_PORT".into(), "443".into()),
        ("KUBERNETES_PORT_443_TCP_ADDR".into(), k8s.to_string()),
    ];
    for from in c.env_from.iter().flatten() {
        let Some(cm) = from.config_map_ref.as_ref() else {
            continue;
        };
        if let Ok(obj) = ctx.store.get(Resource::ConfigMaps, Some(&ns), &cm.name) {
            for (k, v) in obj["data"].as_object().into_iter().flatten() {
                let key = format!("{}{k}", from.prefix.clone().unwrap_or_default());
                env.push((key, v.as_str().unwrap_or_default().to_owned()));
            }
        }
    }
    for EnvVar {
        name: key,
        value,
        value_from,
    } in c.env.iter().flatten()
    {
        let v = if let Some(v) = value {
            expand(v, &env)
        } else if let Some(from) = value_from {
            if let Some(f) = &from.field_ref {
                field_value(pod, &f.field_path, ip, node)
            } else if let Some(cm) = &from.config_map_key_ref {
                ctx.store
                    .get(Resource::ConfigMaps, Some(&ns), &cm.name)
                    .ok()
                    .and_then(|o| o["data"][&cm.key].as_str().map(str::to_owned))
                    .unwrap_or_default()
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        env.push((key.clone(), v));
    }
    env
}

/// `$(VAR)` references to earlier variables, as the kubelet expands them.
fn expand(value: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find(')') {
            Some(end) => {
                let key = &after[..end];
                match env_value(env, key) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A downward API field.
fn field_value(pod: &Pod, path: &str, ip: Ipv4Addr, node: &NodeInfo) -> String {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let map_key = |prefix: &str, map: &Option<BTreeMap<String, String>>| -> Option<String> {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        map.as_ref()?.get(key).cloned()
    };
    match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "status.podIP" | "status.podIPs" => ip.to_string(),
        "status.hostIP" | "status.hostIPs" => node.internal_ip.to_string(),
        "spec.nodeName" => node.name.clone(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into()),
        _ => map_key("metadata.labels['", &m.labels)
            .or_else(|| map_key("metadata.annotations['", &m.annotations))
            .unwrap_or_default(),
    }
}

/// Runs exec requests inside pods.
pub(crate) struct Exec {
    pub ctx: Arc<Ctx>,
}

fn bad_request(message: String) -> ApiError {
    ApiError {
        code: 400,
        reason: "BadRequest".into(),
        message,
        causes: Vec::new(),
    }
}

#[async_trait::async_trait]
impl ExecHandler for Exec {
    /// What the pod's container wrote to stdout and stderr so far (`follow` ends at the present).
    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        _container: Option<&str>,
        _options: LogOptions,
    ) -> Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>, ApiError> {
        self.ctx.store.get(Resource::Pods, Some(namespace), pod)?;
        let path = self.ctx.log_dir.join(format!("{namespace}_{pod}.log"));
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(bad_request(format!(
                    "reading the logs of {namespace}/{pod}: {e}"
                )));
            }
        };
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }

    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        command: Vec<String>,
        stdin: bool,
    ) -> Result<ExecProcess, ApiError> {
        let object = self.ctx.store.get(Resource::Pods, Some(namespace), pod)?;
        let running = object["status"]["containerStatuses"][0]["state"]["running"].is_object();
        if !running {
            let name = container
                .or(object["spec"]["containers"][0]["name"].as_str())
                .unwrap_or_default();
            return Err(bad_request(format!(
                "container not found ({})",
                Quoted(name)
            )));
        }
        let info = {
            let pods = self.ctx.pods.lock().unwrap_or_else(|e| e.into_inner());
            pods.get(&(namespace.to_owned(), pod.to_owned()))
                .and_then(|e| e.run.clone())
        };
        let Some(info) = info else {
            return Err(bad_request(format!("pod {pod} is not running")));
        };
        if let Some(c) = container
            && !info.containers.iter().any(|n| n == c)
        {
            return Err(bad_request(format!(
                "container {c} is not valid for pod {pod}"
            )));
        }
        let Some(first) = command.first() else {
            return Err(bad_request("you must specify at least 1 command".into()));
        };
        let path_env = env_value(&info.env, "PATH").unwrap_or(DEFAULT_PATH);
        let failed = |message: String, code: i32| {
            ExecProcess {
            stdin: None,
            stdout: Box::new(tokio::io::empty()),
            stderr: Box::new(std::io::Cursor::new(
                format!("OCI runtime exec failed: exec failed: unable to start container process: {message}: unknown\n")
                    .into_bytes(),
            )),
            exit: Box::pin(async move { Ok(code) }),
        }
        };
        let program = match resolve_program(first, path_env, &self.ctx.netverdict_bin) {
            Ok(p) => p,
            Err(message) => {
                let code = if message.ends_with("permission denied") {
                    126
                } else {
                    127
                };
                return Ok(failed(message, code));
            }
        };
        let mut cmd = info.command(&program);
        cmd.args(&command[1..])
            .env_clear()
            .envs(info.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let message = exec_access::exec_failure(first, &program, &e, &info.run_as);
                return Ok(failed(message, 126));
            }
        };
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(bad_request("exec: no output pipes".into()));
        };
        let stdin_pipe = child
            .stdin
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>);
        Ok(ExecProcess {
            stdin: stdin_pipe,
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            exit: Box::pin(async move {
                let status = child.wait().await.map_err(|e| ApiError {
                    code: 500,
                    reason: "InternalError".into(),
                    message: format!("wait for the exec process: {e}"),
                    causes: Vec::new(),
                })?;
                Ok(status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
            }),
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_images_of_reserved_invalid_registries_fail_to_pull() {
        let message = super::unpullable("registry.invalid/netverdict:missing").unwrap();
        assert!(
            message.contains("lookup registry.invalid: no such host"),
            "{message}"
        );
        assert!(super::unpullable("registry.invalid:5000/a/b:1").is_some());
        for pullable in [
            "netverdict",
            "ghcr.io/netverdict/netverdict:0.1.0",
            "localhost/x",
            "invalid/x",
        ] {
            assert_eq!(super::unpullable(pullable), None, "{pullable}");
        }
    }
    use super::*;

    #[test]
    fn resolves_programs() {
        let bin = Path::new("/opt/nv");
        assert_eq!(
            resolve_program("sh", DEFAULT_PATH, bin)
                .unwrap()
                .file_name()
                .unwrap(),
            "sh"
        );
        assert_eq!(
            resolve_program("netverdict", DEFAULT_PATH, bin).unwrap(),
            bin
        );
        assert_eq!(
            resolve_program("/usr/local/bin/netverdict", DEFAULT_PATH, bin).unwrap(),
            bin
        );
        assert_eq!(
            resolve_program("foo-nonexistent", DEFAULT_PATH, bin).unwrap_err(),
            "exec: \"foo-nonexistent\": executable file not found in $PATH"
        );
        assert!(
            resolve_program("/nonexistent/x", DEFAULT_PATH, bin)
                .unwrap_err()
                .contains("no such file")
        );
    }

    #[test]
    fn expands_variables() {
        let env = vec![("A".to_owned(), "1".to_owned())];
        assert_eq!(expand("x$(A)y$(B)z$(", &env), "x1y$(B)z$(");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_secs(10);
        assert_eq!(next_backoff(Duration::ZERO, base), base);
        assert_eq!(next_backoff(base, base), Duration::from_secs(20));
        assert_eq!(next_backoff(Duration::from_secs(200), base), MAX_BACKOFF);
    }
}
