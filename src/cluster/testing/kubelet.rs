//! The test cluster's kubelet: binds every new pod to `node-1` and writes the status its
//! [`PodFate`] says, and removes the pods marked for deletion, as a kubelet does once their
//! processes ended.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use netverdict_apiserver::{Resource, Selection, Store, WatchEvent};
use serde_json::{Value, json};

use super::{PodFate, Script};

/// Runs until the store's pod watch ends (the task is aborted with its cluster).
pub(super) async fn run(store: Store, script: Arc<Script>) {
    let Ok(mut events) = store.watch(Resource::Pods, None, &Selection::default(), None) else {
        return;
    };
    let mut started = BTreeSet::new();
    let mut addresses = 0u32;
    while let Some(event) = events.recv().await {
        let (WatchEvent::Added(pod) | WatchEvent::Modified(pod)) = event else {
            continue;
        };
        let (namespace, name) = (text(&pod, "namespace"), text(&pod, "name"));
        if pod["metadata"]["deletionTimestamp"].is_string() {
            let _ = store.finalize_delete(Resource::Pods, Some(&namespace), &name);
            continue;
        }
        if !started.insert(text(&pod, "uid")) {
            continue;
        }
        addresses += 1;
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 0, 1)) + addresses);
        let fate = script.fate_of(&format!("{namespace}/{name}"));
        let written = store.mutate(Resource::Pods, Some(&namespace), &name, |pod| {
            pod["spec"]["nodeName"] = json!("node-1");
            pod["status"] = status(pod, fate, ip);
            Ok(())
        });
        if written.is_ok() && fate == PodFate::ImagePullError {
            let _ = store.create(Resource::Events, Some(&namespace), pull_event(&pod));
        }
    }
}

fn text(pod: &Value, field: &str) -> String {
    pod["metadata"][field]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn image(pod: &Value) -> String {
    pod["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Whether the pod serves a port: only such a pod becomes Ready.
fn serves(pod: &Value) -> bool {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|container| container["ports"].as_array().is_some_and(|p| !p.is_empty()))
}

/// The status of a pod that met `fate`, at `ip`.
fn status(pod: &Value, fate: PodFate, ip: Ipv4Addr) -> Value {
    let container = pod["spec"]["containers"][0]["name"].clone();
    let ready = fate == PodFate::Starts && serves(pod);
    let (phase, state) = match fate {
        PodFate::Starts | PodFate::NeverReady => ("Running", json!({"running": {}})),
        PodFate::ImagePullError => (
            "Pending",
            json!({"waiting": {"reason": "ErrImagePull",
                "message": format!("failed to pull image \"{}\": not found", image(pod))}}),
        ),
        PodFate::Crashes => (
            "Failed",
            json!({"terminated": {"exitCode": 1, "reason": "Error"}}),
        ),
    };
    let flag = |value: bool| if value { "True" } else { "False" };
    let mut status = json!({
        "phase": phase,
        "hostIP": "192.0.2.1",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "ContainersReady", "status": flag(ready)},
            {"type": "Ready", "status": flag(ready)},
        ],
        "containerStatuses": [{
            "name": container, "image": image(pod), "imageID": "", "ready": ready,
            "restartCount": 0, "started": phase == "Running", "state": state,
        }],
    });
    if phase == "Running" {
        status["podIP"] = json!(ip.to_string());
        status["podIPs"] = json!([{"ip": ip.to_string()}]);
    }
    status
}

/// Rewrites a pod's status as after its container was killed.
pub(super) fn killed(pod: &mut Value) {
    pod["status"]["phase"] = json!("Failed");
    for condition in pod["status"]["conditions"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if condition["type"] != "PodScheduled" {
            condition["status"] = json!("False");
        }
    }
    for container in pod["status"]["containerStatuses"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        container["ready"] = json!(false);
        container["state"] = json!({"terminated": {"exitCode": 137, "reason": "Error"}});
    }
}

/// The Warning event of an image that cannot be pulled.
fn pull_event(pod: &Value) -> Value {
    let name = text(pod, "name");
    json!({
        "metadata": {"name": format!("{name}.pull"), "namespace": text(pod, "namespace")},
        "involvedObject": {"kind": "Pod", "name": name, "namespace": text(pod, "namespace"),
            "uid": text(pod, "uid")},
        "reason": "Failed",
        "message": format!("Failed to pull image \"{}\": not found", image(pod)),
        "type": "Warning",
        "count": 1,
    })
}
