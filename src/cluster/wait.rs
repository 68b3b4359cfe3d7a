//! Waiting for probe pods with a watch: Ready for pods that serve, Running for the others, and a
//! prompt failure with the kubelet's reason and the pod's events when a pod cannot start.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use futures::StreamExt;

use super::failure::Failure;
use super::labels::RunId;
use crate::k8s::{Api, Client, Event, ListParams, Pod, watcher};

/// Waiting reasons after which a container will not start without someone changing something.
const FATAL_WAITING_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "CrashLoopBackOff",
];

/// A pod to wait for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PodKey {
    pub(crate) namespace: String,
    pub(crate) name: String,
}

impl std::fmt::Display for PodKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Where a started pod runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) ip: IpAddr,
    pub(crate) node: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PodStartError {
    #[error("pod {pod} cannot start: {reason}: {message}{}{}{}", hint_suffix(reason), events_suffix(&.evidence.events), log_suffix(&.evidence.log))]
    CannotStart {
        pod: PodKey,
        reason: String,
        message: String,
        evidence: Box<Evidence>,
    },
    #[error("pods not started within {}: {}", humantime::format_duration(*.limit), describe_pending(.pending))]
    Deadline {
        limit: Duration,
        /// Each pod still pending with what it waits for.
        pending: Vec<(PodKey, String)>,
    },
    #[error("{}", watch_failure(.namespace, .source))]
    Watch {
        namespace: String,
        source: watcher::Error,
    },
}

/// What the cluster says of a pod that cannot start.
#[derive(Debug)]
pub(crate) struct Evidence {
    /// The pod's events, oldest first.
    pub(crate) events: Vec<String>,
    /// The container's last log lines.
    pub(crate) log: String,
}

/// A failed pod watch, saying whether its list or its watch failed.
fn watch_failure(namespace: &str, error: &watcher::Error) -> String {
    let (verb, failure) = match error {
        watcher::Error::InitialListFailed(e) => ("list", Failure::of(e)),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
            ("watch", Failure::of(e))
        }
        watcher::Error::WatchError(status) => ("watch", Failure::status(status)),
        other => return format!("cannot watch pods in {namespace}: {other}"),
    };
    format!("cannot {verb} pods in {namespace}: {failure}")
}

/// What to do about the reasons a user can act on.
pub(crate) fn start_hint(reason: &str) -> Option<&'static str> {
    match reason {
        "SysctlForbidden" => Some(
            "probe pods ask for net.ipv4.ip_unprivileged_port_start only to serve a port below 1024, \
             and kubelets before Kubernetes 1.22 forbid it: serve ports >= 1024, or start the \
             kubelet with --allowed-unsafe-sysctls=net.ipv4.ip_unprivileged_port_start",
        ),
        "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull" | "InvalidImageName" => Some(
            "the nodes cannot get the probe image: build it with ci/image.sh and load it on \
             every node (it prints how), or name a reachable one with --probe-image",
        ),
        _ => None,
    }
}

fn hint_suffix(reason: &str) -> String {
    start_hint(reason)
        .map(|hint| format!("\n  hint: {hint}"))
        .unwrap_or_default()
}

fn events_suffix(events: &[String]) -> String {
    if events.is_empty() {
        String::new()
    } else {
        format!("\n  events:\n    {}", events.join("\n    "))
    }
}

fn log_suffix(log: &str) -> String {
    if log.trim().is_empty() {
        String::new()
    } else {
        let lines: Vec<&str> = log.lines().collect();
        format!("\n  last log lines:\n    {}", lines.join("\n    "))
    }
}

fn describe_pending(pending: &[(PodKey, String)]) -> String {
    pending
        .iter()
        .map(|(pod, why)| format!("{pod} ({why})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a pod's current state means for the wait.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PodState {
    Started(Placement),
    Pending(String),
    Failed { reason: String, message: String },
}

/// Judges a pod: `Started` once it is Ready (or Running, for a pod that never becomes Ready).
pub(crate) fn pod_state(pod: &Pod, needs_ready: bool) -> PodState {
    let Some(status) = pod.status.as_ref() else {
        return PodState::Pending("no status yet".to_owned());
    };
    let phase = status.phase.as_deref().unwrap_or("Pending");
    for container in status.container_statuses.iter().flatten() {
        let state = container.state.as_ref();
        if let Some(waiting) = state.and_then(|state| state.waiting.as_ref()) {
            let reason = waiting.reason.clone().unwrap_or_default();
            if FATAL_WAITING_REASONS.contains(&reason.as_str()) {
                return PodState::Failed {
                    reason,
                    message: waiting.message.clone().unwrap_or_default(),
                };
            }
        }
        if let Some(terminated) = state.and_then(|state| state.terminated.as_ref()) {
            return PodState::Failed {
                reason: terminated
                    .reason
                    .clone()
                    .unwrap_or_else(|| "Terminated".to_owned()),
                message: format!(
                    "container {} exited with code {}{}",
                    container.name,
                    terminated.exit_code,
                    terminated
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            };
        }
    }
    if phase == "Failed" || phase == "Succeeded" {
        return PodState::Failed {
            reason: status.reason.clone().unwrap_or_else(|| phase.to_owned()),
            message: status
                .message
                .clone()
                .unwrap_or_else(|| format!("pod phase {phase}")),
        };
    }
    let condition = |kind: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|condition| condition.type_ == kind)
    };
    if let Some(scheduled) = condition("PodScheduled").filter(|c| c.status == "False") {
        return PodState::Pending(format!(
            "not scheduled: {}",
            scheduled
                .message
                .clone()
                .or_else(|| scheduled.reason.clone())
                .unwrap_or_default()
        ));
    }
    let started = if needs_ready {
        condition("Ready").is_some_and(|c| c.status == "True")
    } else {
        phase == "Running"
    };
    let ip = status.pod_ip.as_deref().and_then(|ip| ip.parse().ok());
    match (started, ip) {
        (true, Some(ip)) => PodState::Started(Placement {
            ip,
            node: pod.spec.as_ref().and_then(|spec| spec.node_name.clone()),
        }),
        (true, None) => PodState::Pending("no pod IP yet".to_owned()),
        (false, _) if needs_ready => PodState::Pending(format!("{phase}, not Ready")),
        (false, _) => PodState::Pending(phase.to_owned()),
    }
}

/// Waits until every pod in `wanted` has started (`true`: must be Ready), calling `on_started`
/// as each one does.
///
/// # Errors
/// The first pod that cannot start (with its events), or the pods still pending at `limit`.
pub(crate) async fn wait_started(
    client: &Client,
    run: &RunId,
    wanted: &BTreeMap<PodKey, bool>,
    limit: Duration,
    mut on_started: impl FnMut(&PodKey, &Placement),
) -> Result<BTreeMap<PodKey, Placement>, PodStartError> {
    let namespaces: BTreeSet<&str> = wanted.keys().map(|key| key.namespace.as_str()).collect();
    let config = watcher::Config::default().labels(&run.selector());
    let streams = namespaces.iter().map(|namespace| {
        let namespace = (*namespace).to_owned();
        watcher(
            Api::<Pod>::namespaced(client.clone(), &namespace),
            config.clone(),
        )
        .map(move |event| {
            event.map_err(|source| PodStartError::Watch {
                namespace: namespace.clone(),
                source,
            })
        })
        .boxed()
    });
    let mut events = futures::stream::select_all(streams);
    let mut started = BTreeMap::new();
    let mut pending: BTreeMap<PodKey, String> = wanted
        .keys()
        .map(|key| (key.clone(), "not created yet".to_owned()))
        .collect();
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    while !pending.is_empty() {
        let event = tokio::select! {
            event = events.next() => event,
            () = &mut deadline => {
                return Err(PodStartError::Deadline { limit, pending: pending.into_iter().collect() });
            }
        };
        let pod = match event {
            Some(Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod))) => pod,
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error),
            None => break,
        };
        let key = PodKey {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
        };
        let Some(&needs_ready) = wanted.get(&key) else {
            continue;
        };
        if started.contains_key(&key) {
            continue;
        }
        match pod_state(&pod, needs_ready) {
            PodState::Started(placement) => {
                pending.remove(&key);
                on_started(&key, &placement);
                started.insert(key, placement);
            }
            PodState::Pending(why) => {
                pending.insert(key, why);
            }
            PodState::Failed { reason, message } => {
                let events = pod_events(client, &key).await;
                let api = Api::<Pod>::namespaced(client.clone(), &key.namespace);
                let log = super::death::log_tail(&api, &key.name, None, false).await;
                return Err(PodStartError::CannotStart {
                    pod: key,
                    reason,
                    message,
                    evidence: Box::new(Evidence { events, log }),
                });
            }
        }
    }
    Ok(started)
}

/// The pod's events, oldest first, as `Reason: message` lines; empty when they cannot be read.
pub(crate) async fn pod_events(client: &Client, pod: &PodKey) -> Vec<String> {
    let api = Api::<Event>::namespaced(client.clone(), &pod.namespace);
    let params = ListParams::default().fields(&format!(
        "involvedObject.kind=Pod,involvedObject.name={}",
        pod.name
    ));
    let Ok(list) = api.list(&params).await else {
        return Vec::new();
    };
    let mut events: Vec<_> = list.items;
    events.sort_by(|a, b| a.last_timestamp.cmp(&b.last_timestamp));
    events
        .iter()
        .map(|event| {
            format!(
                "{} {}: {}",
                event.type_.as_deref().unwrap_or("Normal"),
                event.reason.as_deref().unwrap_or(""),
                event.message.as_deref().unwrap_or("").trim()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
        PodCondition, PodStatus,
    };

    use super::*;

    #[test]
    fn a_pod_that_cannot_start_is_told_with_its_events_and_last_log_lines() {
        let error = PodStartError::CannotStart {
            pod: PodKey {
                namespace: "shop".to_owned(),
                name: "web".to_owned(),
            },
            reason: "CrashLoopBackOff".to_owned(),
            message: "back-off 10s restarting failed container".to_owned(),
            evidence: Box::new(Evidence {
                events: vec!["Warning BackOff: Back-off restarting failed container".to_owned()],
                log: "netverdict serve: cannot bind 0.0.0.0:8080: address in use\n".to_owned(),
            }),
        };
        let text = error.to_string();
        assert!(
            text.ends_with("\n  last log lines:\n    netverdict serve: cannot bind 0.0.0.0:8080: address in use"),
            "{text}"
        );
        assert!(text.contains("\n  events:\n    Warning BackOff"), "{text}");
    }

    fn pod(phase: &str, ready: bool, ip: Option<&str>, waiting: Option<&str>) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some(phase.to_owned()),
                pod_ip: ip.map(str::to_owned),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".to_owned(),
                    status: if ready { "True" } else { "False" }.to_owned(),
                    ..PodCondition::default()
                }]),
                container_statuses: Some(vec![ContainerStatus {
                    name: "probe".to_owned(),
                    state: waiting.map(|reason| ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some(reason.to_owned()),
                            message: Some("back-off pulling image".to_owned()),
                        }),
                        ..ContainerState::default()
                    }),
                    ..ContainerStatus::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn a_serving_pod_starts_when_ready_with_an_ip() {
        assert!(matches!(
            pod_state(&pod("Running", false, Some("10.0.0.5"), None), true),
            PodState::Pending(_)
        ));
        assert!(matches!(
            pod_state(&pod("Running", true, None, None), true),
            PodState::Pending(_)
        ));
        let PodState::Started(placement) =
            pod_state(&pod("Running", true, Some("10.0.0.5"), None), true)
        else {
            panic!("a Ready pod with an IP has started");
        };
        assert_eq!(placement.ip.to_string(), "10.0.0.5");
    }

    #[test]
    fn a_sending_pod_starts_when_running() {
        assert!(matches!(
            pod_state(&pod("Running", false, Some("10.0.0.5"), None), false),
            PodState::Started(_)
        ));
        assert!(matches!(
            pod_state(&pod("Pending", false, None, None), false),
            PodState::Pending(_)
        ));
    }

    #[test]
    fn image_pull_errors_and_exits_fail_at_once() {
        let PodState::Failed { reason, .. } =
            pod_state(&pod("Pending", false, None, Some("ImagePullBackOff")), true)
        else {
            panic!("ImagePullBackOff is fatal");
        };
        assert_eq!(reason, "ImagePullBackOff");
        assert!(matches!(
            pod_state(
                &pod("Pending", false, None, Some("ContainerCreating")),
                true
            ),
            PodState::Pending(_)
        ));

        let mut exited = pod("Running", false, Some("10.0.0.5"), None);
        exited
            .status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[0]
            .state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 2,
                reason: Some("Error".to_owned()),
                ..Default::default()
            }),
            ..ContainerState::default()
        });
        let PodState::Failed { message, .. } = pod_state(&exited, true) else {
            panic!("an exited container is fatal")
        };
        assert!(message.contains("exited with code 2"), "{message}");
    }
}
