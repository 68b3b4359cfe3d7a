//! Scenario pods that died during a run: a terminated or restarted container, or a pod that is
//! no longer running. What a probe from or to such a pod saw says nothing about the network.

use std::fmt;

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus};
use kube::api::LogParams;

use crate::k8s::{Api, Client, Pod};

/// Lines of a dead container's log kept for the report.
const LOG_LINES: i64 = 10;

/// How a pod died, from its status and its container's log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Death {
    /// `namespace/pod`.
    pub(crate) pod: String,
    pub(crate) phase: String,
    pub(crate) container: Option<String>,
    /// The terminated container's reason (`Error`, `OOMKilled`, ...).
    pub(crate) reason: Option<String>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) restarts: i32,
    /// The last lines the container wrote (of its previous run when it was restarted).
    pub(crate) log_tail: String,
}

impl fmt::Display for Death {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pod {} died during the run: phase {}",
            self.pod, self.phase
        )?;
        if let Some(container) = &self.container {
            write!(f, ", container {container}")?;
        }
        if let Some(reason) = &self.reason {
            write!(f, " {reason}")?;
        }
        if let Some(code) = self.exit_code {
            write!(f, ", exit code {code}")?;
        }
        if self.restarts > 0 {
            write!(f, ", restarted {} times", self.restarts)?;
        }
        Ok(())
    }
}

/// The death of `pod`, if its status shows one; `log_tail` is left empty. A pod that `serves`
/// was Ready to start, so not Ready now it stopped serving; one that only sends is never Ready.
pub(crate) fn death_of(pod: &Pod, serves: bool) -> Option<Death> {
    let status = pod.status.as_ref()?;
    let phase = status.phase.clone().unwrap_or_else(|| "Unknown".to_owned());
    let name = format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    );
    let found = status
        .container_statuses
        .iter()
        .flatten()
        .find_map(terminated);
    let unready = serves
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "False");
    if found.is_none() && phase == "Running" && !unready {
        return None;
    }
    let phase = if found.is_none() && phase == "Running" {
        "Running, not Ready".to_owned()
    } else {
        phase
    };
    Some(Death {
        pod: name,
        phase,
        container: found.map(|(c, _)| c.name.clone()),
        reason: found.and_then(|(_, t)| t.reason.clone()),
        exit_code: found.map(|(_, t)| t.exit_code),
        restarts: found.map_or(0, |(c, _)| c.restart_count),
        log_tail: String::new(),
    })
}

/// A container that ended, now or before its restart, and how.
fn terminated(
    container: &ContainerStatus,
) -> Option<(&ContainerStatus, &ContainerStateTerminated)> {
    let current = container.state.as_ref().and_then(|s| s.terminated.as_ref());
    let last = container
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref());
    current
        .or(last.filter(|_| container.restart_count > 0))
        .map(|ended| (container, ended))
}

/// What became of a scenario's pods during the run, from one read of each.
#[derive(Debug, Default)]
pub(crate) struct Fates {
    /// `namespace/pod` of the pods that are gone or being deleted (by someone else: a run
    /// deletes its pods only after probing).
    pub(crate) deleted: Vec<String>,
    /// The pods that died, with their log tails.
    pub(crate) deaths: Vec<Death>,
}

/// Reads each of the given pods (`namespace`, `name`, whether it serves) once; a pod that
/// cannot be read (no permission, a server error) is left out: what its probes saw stands.
pub(crate) async fn fates(client: &Client, pods: &[(String, String, bool)]) -> Fates {
    let mut fates = Fates::default();
    for (namespace, name, serves) in pods {
        let api = Api::<Pod>::namespaced(client.clone(), namespace);
        let pod = match api.get_opt(name).await {
            Ok(Some(pod)) if pod.metadata.deletion_timestamp.is_none() => pod,
            Ok(_) => {
                fates.deleted.push(format!("{namespace}/{name}"));
                continue;
            }
            Err(_) => continue,
        };
        let Some(mut death) = death_of(&pod, *serves) else {
            continue;
        };
        death.log_tail = log_tail(&api, name, death.container.clone(), death.restarts > 0).await;
        fates.deaths.push(death);
    }
    fates
}

/// What became of the deployed pods a scenario probed, against what the run found before it
/// created anything: a pod gone, being deleted or replaced (another uid) is `deleted`; one whose
/// containers restarted since, or that is no longer Ready or running, died (its log is not read:
/// a run may not read a workload's logs).
pub(crate) async fn live_fates(client: &Client, pods: &[crate::scenario::LivePod]) -> Fates {
    let mut fates = Fates::default();
    for before in pods {
        let api = Api::<Pod>::namespaced(client.clone(), &before.namespace);
        let name = format!("{}/{}", before.namespace, before.name);
        let pod = match api.get_opt(&before.name).await {
            Ok(Some(pod))
                if pod.metadata.deletion_timestamp.is_none()
                    && pod.metadata.uid.as_deref() == Some(before.uid.as_str()) =>
            {
                pod
            }
            Ok(_) => {
                fates.deleted.push(name);
                continue;
            }
            Err(_) => continue,
        };
        let Some(now) = crate::cluster::live_pod(&pod) else {
            continue;
        };
        let restarts =
            |p: &crate::scenario::LivePod| p.restarts.iter().map(|(_, n)| *n).sum::<i32>();
        let restarted = restarts(&now) > restarts(before);
        let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        if !(restarted || !now.ready || !running) {
            continue;
        }
        let mut death = death_of(&pod, true).unwrap_or_else(|| Death {
            pod: name.clone(),
            phase: "Running, not Ready".to_owned(),
            container: None,
            reason: None,
            exit_code: None,
            restarts: 0,
            log_tail: String::new(),
        });
        death.restarts = restarts(&now) - restarts(before);
        fates.deaths.push(death);
    }
    fates
}

/// The last lines a pod's container wrote: of its current run, else (or first, with
/// `previous`) of the run before its restart; empty when there are none or they cannot be read.
pub(crate) async fn log_tail(
    api: &Api<Pod>,
    pod: &str,
    container: Option<String>,
    previous: bool,
) -> String {
    for previous in [previous, !previous] {
        let params = LogParams {
            container: container.clone(),
            previous,
            tail_lines: Some(LOG_LINES),
            ..LogParams::default()
        };
        if let Ok(text) = api.logs(pod, &params).await
            && !text.trim().is_empty()
        {
            return text;
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "server", "namespace": "t"},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_running_pod_with_a_live_container_is_alive() {
        let alive = pod(
            serde_json::json!({"phase": "Running", "containerStatuses": [
            {"name": "probe", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
             "state": {"running": {}}}]}),
        );
        assert_eq!(death_of(&alive, true), None);
    }

    #[test]
    fn a_killed_container_is_a_death_with_its_reason_and_exit_code() {
        let killed = pod(serde_json::json!({"phase": "Failed", "containerStatuses": [
            {"name": "probe", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}]}));
        let death = death_of(&killed, true).expect("dead");
        assert_eq!(
            death.to_string(),
            "pod t/server died during the run: phase Failed, container probe Error, exit code 137"
        );
    }

    #[test]
    fn a_running_pod_no_longer_ready_stopped_serving() {
        let unready = pod(serde_json::json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
            {"name": "probe", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"running": {}}}]}));
        let death = death_of(&unready, true).expect("not serving");
        assert_eq!(
            death_of(&unready, false),
            None,
            "a pod that only sends is never Ready"
        );
        assert_eq!(
            death.to_string(),
            "pod t/server died during the run: phase Running, not Ready"
        );
    }

    #[test]
    fn a_restarted_container_died_too_though_it_runs_again() {
        let restarted = pod(
            serde_json::json!({"phase": "Running", "containerStatuses": [
            {"name": "probe", "image": "i", "imageID": "", "ready": true, "restartCount": 1,
             "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
        );
        let death = death_of(&restarted, false).expect("dead");
        assert_eq!((death.exit_code, death.restarts), (Some(1), 1));
    }
}
