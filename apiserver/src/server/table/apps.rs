//! The printer columns of the `apps/v1` kinds, as kube-apiserver's printers produce them.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, format_label_selector, text};
use crate::resource::Resource;

const CONTAINERS: Column = (
    "Containers",
    "string",
    1,
    "Names of each container in the template.",
);
const IMAGES: Column = (
    "Images",
    "string",
    1,
    "Images referenced by each container in the template.",
);
const READY: Column = ("Ready", "string", 0, "Number of the pod with ready state");

pub(super) fn columns(resource: Resource) -> Vec<Column> {
    match resource {
        Resource::Deployments => deployment_columns(),
        Resource::ReplicaSets => replica_set_columns(),
        Resource::StatefulSets => vec![NAME, READY, AGE, CONTAINERS, IMAGES],
        Resource::DaemonSets => daemon_set_columns(),
        Resource::ControllerRevisions => vec![
            NAME,
            ("Controller", "string", 0, "Controller of the object"),
            (
                "Revision",
                "string",
                0,
                "Revision indicates the revision of the state represented by Data.",
            ),
            AGE,
        ],
        _ => vec![NAME, AGE],
    }
}

fn deployment_columns() -> Vec<Column> {
    vec![
        NAME,
        READY,
        (
            "Up-to-date",
            "string",
            0,
            "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
        ),
        (
            "Available",
            "string",
            0,
            "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        (
            "Selector",
            "string",
            1,
            "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
        ),
    ]
}

fn replica_set_columns() -> Vec<Column> {
    vec![
        NAME,
        (
            "Desired",
            "integer",
            0,
            "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1.",
        ),
        (
            "Current",
            "integer",
            0,
            "Replicas is the most recently observed number of replicas.",
        ),
        (
            "Ready",
            "integer",
            0,
            "The number of ready replicas for this replica set.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        (
            "Selector",
            "string",
            1,
            "Selector is a label query over pods that should match the replica count.",
        ),
    ]
}

fn daemon_set_columns() -> Vec<Column> {
    vec![
        NAME,
        (
            "Desired",
            "integer",
            0,
            "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
        ),
        (
            "Current",
            "integer",
            0,
            "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
        ),
        (
            "Ready",
            "integer",
            0,
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
        ),
        (
            "Up-to-date",
            "integer",
            0,
            "The total number of nodes that are running updated daemon pod",
        ),
        (
            "Available",
            "integer",
            0,
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
        ),
        (
            "Node Selector",
            "string",
            0,
            "NodeSelector is a selector which must be true for the pod to fit on a node.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        (
            "Selector",
            "string",
            1,
            "A label query over pods that are managed by the daemon set.",
        ),
    ]
}

fn int(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The container names and images of the pod template, comma-separated.
fn containers(object: &Value) -> (String, String) {
    let containers: Vec<&Value> = object
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let names: Vec<&str> = containers.iter().map(|c| text(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// `labels.FormatLabels`: `k=v,...` sorted by key, `<none>` for none.
fn format_labels(labels: Option<&Value>) -> String {
    let pairs: Vec<String> = labels
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    if pairs.is_empty() {
        "<none>".to_owned()
    } else {
        pairs.join(",")
    }
}

/// The controller of an object as `kind.group/name` (`statefulset.apps/db`), `<none>`.
fn controller(object: &Value) -> String {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map_or_else(
            || "<none>".to_owned(),
            |r| {
                let group = text(r, "/apiVersion").rsplit_once('/').map(|(g, _)| g);
                let kind = text(r, "/kind").to_lowercase();
                let kind = group.map_or(kind.clone(), |g| format!("{kind}.{g}"));
                format!("{kind}/{}", text(r, "/name"))
            },
        )
}

pub(super) fn cells(
    resource: Resource,
    object: &Value,
    name: Value,
    created: String,
) -> Vec<Value> {
    let (names, images) = containers(object);
    let selector = object.pointer("/spec/selector");
    let desired = object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let status = |field: &str| int(object, &format!("/status/{field}"));
    match resource {
        Resource::Deployments => {
            // `labels.Selector.String()`: empty for the empty selector.
            let selector = match format_label_selector(selector) {
                none if none == "<none>" => String::new(),
                shown => shown,
            };
            vec![
                name,
                json!(format!("{}/{desired}", status("readyReplicas"))),
                json!(status("updatedReplicas")),
                json!(status("availableReplicas")),
                json!(created),
                json!(names),
                json!(images),
                json!(selector),
            ]
        }
        Resource::ReplicaSets => vec![
            name,
            json!(desired),
            json!(status("replicas")),
            json!(status("readyReplicas")),
            json!(created),
            json!(names),
            json!(images),
            json!(format_label_selector(selector)),
        ],
        Resource::StatefulSets => vec![
            name,
            json!(format!("{}/{desired}", status("readyReplicas"))),
            json!(created),
            json!(names),
            json!(images),
        ],
        Resource::DaemonSets => vec![
            name,
            json!(status("desiredNumberScheduled")),
            json!(status("currentNumberScheduled")),
            json!(status("numberReady")),
            json!(status("updatedNumberScheduled")),
            json!(status("numberAvailable")),
            json!(format_labels(
                object.pointer("/spec/template/spec/nodeSelector")
            )),
            json!(created),
            json!(names),
            json!(images),
            json!(format_label_selector(selector)),
        ],
        Resource::ControllerRevisions => vec![
            name,
            json!(controller(object)),
            json!(int(object, "/revision")),
            json!(created),
        ],
        _ => vec![name, json!(created)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_print_as_the_api_server_prints_them() {
        let deployment = json!({
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
        });
        let cells = cells(
            Resource::Deployments,
            &deployment,
            json!("web"),
            "5s".into(),
        );
        assert_eq!(
            cells,
            [
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("5s"),
                json!("web,log"),
                json!("nginx:1.27,busybox"),
                json!("app=web")
            ]
        );
        let daemon = json!({"spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd", "a": "b"}}}}, "status": {"desiredNumberScheduled": 2}});
        let cells = super::cells(Resource::DaemonSets, &daemon, json!("d"), "1m".into());
        assert_eq!(cells[1], 2);
        assert_eq!(cells[6], "a=b,disk=ssd");
        let revision = json!({"revision": 2, "metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "u", "controller": true}]}});
        let cells = super::cells(
            Resource::ControllerRevisions,
            &revision,
            json!("db-7c9f"),
            "1m".into(),
        );
        assert_eq!(cells[1], "statefulset.apps/db");
        assert_eq!(cells[2], 2);
        for resource in Resource::ALL.into_iter().filter(|r| r.is_apps()) {
            let object = json!({});
            assert_eq!(
                columns(resource).len(),
                super::cells(resource, &object, json!("x"), "1s".into()).len(),
                "{resource:?}"
            );
        }
    }
}
