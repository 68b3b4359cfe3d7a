//! `meta.k8s.io/v1` `Table` responses with the columns the API server's printers produce, so
//! `kubectl get` prints what it prints against a real cluster.

use serde_json::{Value, json};

use super::rest::partial_metadata;

mod apps;
use crate::resource::Resource;
use crate::time::{now_seconds, parse_rfc3339};

/// (name, type, priority, description).
type Column = (&'static str, &'static str, u8, &'static str);

const NAME: Column = (
    "Name",
    "string",
    0,
    "Name must be unique within a namespace.",
);
const AGE: Column = (
    "Age",
    "string",
    0,
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

fn columns(resource: Resource) -> Vec<Column> {
    match resource {
        r @ (Resource::Deployments
        | Resource::ReplicaSets
        | Resource::StatefulSets
        | Resource::DaemonSets
        | Resource::ControllerRevisions) => apps::columns(r),
        Resource::Namespaces => vec![
            NAME,
            ("Status", "string", 0, "The status of the namespace"),
            AGE,
        ],
        Resource::Nodes => vec![
            NAME,
            ("Status", "string", 0, "The status of the node"),
            ("Roles", "string", 0, "The roles of the node"),
            AGE,
            (
                "Version",
                "string",
                0,
                "Kubelet Version reported by the node.",
            ),
            (
                "Internal-IP",
                "string",
                1,
                "List of addresses reachable to the node. Queried from cloud provider, if available.",
            ),
            (
                "External-IP",
                "string",
                1,
                "List of addresses reachable to the node. Queried from cloud provider, if available.",
            ),
            (
                "OS-Image",
                "string",
                1,
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            (
                "Kernel-Version",
                "string",
                1,
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            (
                "Container-Runtime",
                "string",
                1,
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ],
        Resource::Pods => vec![
            NAME,
            (
                "Ready",
                "string",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            (
                "Status",
                "string",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            (
                "Restarts",
                "string",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            AGE,
            (
                "IP",
                "string",
                1,
                "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            ),
            (
                "Node",
                "string",
                1,
                "NodeName is a request to schedule this pod onto a specific node.",
            ),
            (
                "Nominated Node",
                "string",
                1,
                "nominatedNodeName is set only when this pod preempts other pods on the node.",
            ),
            (
                "Readiness Gates",
                "string",
                1,
                "If specified, all readiness gates will be evaluated for pod readiness.",
            ),
        ],
        Resource::Services => vec![
            NAME,
            (
                "Type",
                "string",
                0,
                "type determines how the Service is exposed.",
            ),
            (
                "Cluster-IP",
                "string",
                0,
                "clusterIP is the IP address of the service and is usually assigned randomly.",
            ),
            (
                "External-IP",
                "string",
                0,
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            (
                "Port(s)",
                "string",
                0,
                "The list of ports that are exposed by this service.",
            ),
            AGE,
            (
                "Selector",
                "string",
                1,
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ],
        Resource::Endpoints => vec![
            NAME,
            ("Endpoints", "string", 0, "Endpoints of the service"),
            AGE,
        ],
        Resource::EndpointSlices => vec![
            NAME,
            (
                "AddressType",
                "string",
                0,
                "addressType specifies the type of address carried by this EndpointSlice.",
            ),
            (
                "Ports",
                "string",
                0,
                "ports specifies the list of network ports exposed by each endpoint in this slice.",
            ),
            (
                "Endpoints",
                "string",
                0,
                "endpoints is a list of unique endpoints in this slice.",
            ),
            AGE,
        ],
        Resource::ConfigMaps => vec![
            NAME,
            ("Data", "string", 0, "Data contains the configuration data."),
            AGE,
        ],
        Resource::Events => vec![
            (
                "Last Seen",
                "string",
                0,
                "The time at which the most recent occurrence of this event was recorded.",
            ),
            (
                "Type",
                "string",
                0,
                "Type of this event (Normal, Warning), new types could be added in the future.",
            ),
            (
                "Reason",
                "string",
                0,
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            (
                "Object",
                "string",
                0,
                "The object that this event is about.",
            ),
            (
                "Subobject",
                "string",
                1,
                "The subobject that this event is about.",
            ),
            ("Source", "string", 1, "The component reporting this event."),
            (
                "Message",
                "string",
                0,
                "A human-readable description of the status of this operation.",
            ),
            (
                "First Seen",
                "string",
                1,
                "The time at which the event was first recorded.",
            ),
            (
                "Count",
                "string",
                1,
                "The number of times this event has occurred.",
            ),
            (
                "Name",
                "string",
                1,
                "Name must be unique within a namespace.",
            ),
        ],
        Resource::ServiceAccounts
        | Resource::Roles
        | Resource::ClusterRoles
        | Resource::SelfSubjectAccessReviews
        | Resource::SelfSubjectRulesReviews => vec![NAME, AGE],
        Resource::RoleBindings | Resource::ClusterRoleBindings => vec![
            NAME,
            (
                "Role",
                "string",
                0,
                "RoleRef references a Role or ClusterRole.",
            ),
            AGE,
        ],
        Resource::Jobs => vec![
            NAME,
            ("Status", "string", 0, "Status of the job."),
            (
                "Completions",
                "string",
                0,
                "The completed job pods and the desired completions.",
            ),
            (
                "Duration",
                "string",
                0,
                "Time required to complete the job.",
            ),
            AGE,
            (
                "Containers",
                "string",
                1,
                "Names of each container in the template.",
            ),
            (
                "Images",
                "string",
                1,
                "Images referenced by each container in the template.",
            ),
            (
                "Selector",
                "string",
                1,
                "Selector of the pods the job runs.",
            ),
        ],
        Resource::NetworkPolicies => vec![
            NAME,
            (
                "Pod-Selector",
                "string",
                0,
                "Selects the pods to which this NetworkPolicy object applies.",
            ),
            AGE,
        ],
    }
}

/// A table of `objects`; `include_object` is the `includeObject` parameter (`None`, `Metadata`
/// (the default) or `Object`).
pub(super) fn table(
    resource: Resource,
    objects: &[Value],
    resource_version: u64,
    include_object: Option<&str>,
) -> Value {
    let column_definitions: Vec<Value> = columns(resource)
        .into_iter()
        .map(|(name, kind, priority, description)| {
            let format = if name == "Name" { "name" } else { "" };
            json!({"name": name, "type": kind, "format": format, "description": description, "priority": priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut row = json!({"cells": cells(resource, object)});
            match include_object {
                Some("None") => {}
                Some("Object") => row["object"] = object.clone(),
                _ => row["object"] = partial_metadata(object),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn or_none(value: &str) -> String {
    if value.is_empty() {
        "<none>".to_owned()
    } else {
        value.to_owned()
    }
}

/// The age of a timestamp as `kubectl` prints it (`duration.HumanDuration`).
pub(super) fn age(timestamp: &str) -> String {
    let Some(then) = parse_rfc3339(timestamp) else {
        return "<unknown>".to_owned();
    };
    human_duration(now_seconds() - then)
}

pub(super) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    let seconds = seconds.max(0);
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn cells(resource: Resource, object: &Value) -> Vec<Value> {
    let name = json!(text(object, "/metadata/name"));
    let created = age(text(object, "/metadata/creationTimestamp"));
    match resource {
        Resource::Namespaces => vec![name, json!(text(object, "/status/phase")), json!(created)],
        Resource::Nodes => node_cells(object, name, created),
        Resource::Pods => pod_cells(object, name, created),
        Resource::Services => service_cells(object, name, created),
        Resource::Endpoints => {
            let mut endpoints = Vec::new();
            for subset in object
                .get("subsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ports: Vec<i64> = subset
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.get("port").and_then(Value::as_i64))
                    .collect();
                for address in subset
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let ip = text(address, "/ip");
                    if ports.is_empty() {
                        endpoints.push(ip.to_owned());
                    }
                    endpoints.extend(ports.iter().map(|port| format!("{ip}:{port}")));
                }
            }
            vec![name, json!(list_of_three(&endpoints)), json!(created)]
        }
        Resource::EndpointSlices => {
            let ports: Vec<String> = object
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("port").and_then(Value::as_i64))
                .map(|p| p.to_string())
                .collect();
            let addresses: Vec<String> = object
                .get("endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|e| {
                    e.get("addresses")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect();
            let ports = if ports.is_empty() {
                "<unset>".to_owned()
            } else {
                ports.join(",")
            };
            vec![
                name,
                json!(text(object, "/addressType")),
                json!(ports),
                json!(list_of_three(&addresses)),
                json!(created),
            ]
        }
        Resource::ConfigMaps => {
            let count = ["data", "binaryData"]
                .iter()
                .map(|f| {
                    object
                        .get(*f)
                        .and_then(Value::as_object)
                        .map_or(0, serde_json::Map::len)
                })
                .sum::<usize>();
            vec![name, json!(count), json!(created)]
        }
        Resource::Events => event_cells(object, name),
        r if r.is_apps() => apps::cells(r, object, name, created),
        Resource::Jobs => job_cells(object, name, created),
        Resource::NetworkPolicies => {
            let selector = format_label_selector(object.pointer("/spec/podSelector"));
            vec![name, json!(selector), json!(created)]
        }
        Resource::RoleBindings | Resource::ClusterRoleBindings => {
            let role = format!(
                "{}/{}",
                text(object, "/roleRef/kind"),
                text(object, "/roleRef/name")
            );
            vec![name, json!(role), json!(created)]
        }
        _ => vec![name, json!(created)],
    }
}

fn list_of_three(items: &[String]) -> String {
    match items.len() {
        0 => "<none>".to_owned(),
        1..=3 => items.join(","),
        n => format!("{} + {} more...", items[..3].join(","), n - 3),
    }
}

/// A label selector as `metav1.FormatLabelSelector` writes it; `<none>` for the empty one.
pub(super) fn format_label_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return "<none>".to_owned();
    };
    let mut parts = Vec::new();
    for (key, value) in selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        parts.push(format!("{key}={}", value.as_str().unwrap_or_default()));
    }
    for expression in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = text(expression, "/key");
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let part = match text(expression, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other} ({})", values.join(",")),
        };
        parts.push(part);
    }
    if parts.is_empty() {
        "<none>".to_owned()
    } else {
        parts.join(",")
    }
}

fn node_cells(node: &Value, name: Value, created: String) -> Vec<Value> {
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| text(c, "/type") == "Ready")
        .map(|c| text(c, "/status"));
    let mut status = match ready {
        Some("True") => "Ready".to_owned(),
        Some(_) => "NotReady".to_owned(),
        None => "Unknown".to_owned(),
    };
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<&str> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .filter(|r| !r.is_empty())
        .collect();
    roles.sort_unstable();
    let address = |kind: &str| {
        node.pointer("/status/addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|a| text(a, "/type") == kind)
            .map(|a| text(a, "/address").to_owned())
            .unwrap_or_else(|| "<none>".to_owned())
    };
    vec![
        name,
        json!(status),
        json!(if roles.is_empty() {
            "<none>".to_owned()
        } else {
            roles.join(",")
        }),
        json!(created),
        json!(text(node, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(or_none(text(node, "/status/nodeInfo/osImage"))),
        json!(or_none(text(node, "/status/nodeInfo/kernelVersion"))),
        json!(or_none(text(
            node,
            "/status/nodeInfo/containerRuntimeVersion"
        ))),
    ]
}

/// The READY, STATUS and RESTARTS of a pod, as the API server's pod printer derives them.
pub(super) fn pod_summary(pod: &Value) -> (String, String, String) {
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut reason = text(pod, "/status/phase").to_owned();
    if !text(pod, "/status/reason").is_empty() {
        reason = text(pod, "/status/reason").to_owned();
    }
    let statuses: Vec<&Value> = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let mut restarts = 0;
    let mut ready = 0;
    let mut has_running = false;
    let mut initializing = false;
    for (i, status) in pod
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        restarts += status
            .get("restartCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if status
            .pointer("/state/terminated/exitCode")
            .and_then(Value::as_i64)
            == Some(0)
        {
            continue;
        }
        let init_total = pod
            .pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        reason = if let Some(r) = status
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            format!("Init:{r}")
        } else if status.pointer("/state/terminated").is_some() {
            format!(
                "Init:ExitCode:{}",
                status
                    .pointer("/state/terminated/exitCode")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            )
        } else if let Some(r) = status
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
            .filter(|r| *r != "PodInitializing")
        {
            format!("Init:{r}")
        } else {
            format!("Init:{i}/{init_total}")
        };
        initializing = true;
        break;
    }
    if !initializing {
        for status in statuses.iter().rev() {
            restarts += status
                .get("restartCount")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if let Some(r) = status
                .pointer("/state/waiting/reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                reason = r.to_owned();
            } else if let Some(terminated) = status.pointer("/state/terminated") {
                reason = match terminated
                    .get("reason")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty())
                {
                    Some(r) => r.to_owned(),
                    None => match terminated
                        .get("signal")
                        .and_then(Value::as_i64)
                        .filter(|s| *s != 0)
                    {
                        Some(signal) => format!("Signal:{signal}"),
                        None => format!(
                            "ExitCode:{}",
                            terminated
                                .get("exitCode")
                                .and_then(Value::as_i64)
                                .unwrap_or(0)
                        ),
                    },
                };
            } else if status.get("ready").and_then(Value::as_bool) == Some(true)
                && status.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        let ready_condition = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| text(c, "/type") == "Ready" && text(c, "/status") == "True");
        if reason == "Completed" && has_running {
            reason = if ready_condition {
                "Running".to_owned()
            } else {
                "NotReady".to_owned()
            };
        }
        // A kubelet that reports readiness only through the Ready condition counts as all ready.
        if statuses.is_empty() && ready_condition && text(pod, "/status/phase") == "Running" {
            ready = total;
        }
    }
    if pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        reason = if text(pod, "/status/reason") == "NodeLost" {
            "Unknown".to_owned()
        } else {
            "Terminating".to_owned()
        };
    }
    (format!("{ready}/{total}"), reason, restarts.to_string())
}

/// As kube-apiserver's `printJob`: the status from the conditions, `succeeded/completions`, how
/// long it ran.
fn job_cells(job: &Value, name: Value, created: String) -> Vec<Value> {
    let count = |pointer: &str| job.pointer(pointer).and_then(Value::as_i64);
    let succeeded = count("/status/succeeded").unwrap_or(0);
    let completions = match count("/spec/completions") {
        Some(wanted) => format!("{succeeded}/{wanted}"),
        None => match count("/spec/parallelism").unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = parse_rfc3339(text(job, "/status/startTime"));
    let duration = match (start, parse_rfc3339(text(job, "/status/completionTime"))) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now_seconds() - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let has = |kind: &str| {
        job.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == kind && c["status"] == "True")
            })
    };
    let status = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if job.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let containers = job
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let joined = |field: &str| {
        containers
            .iter()
            .map(|c| text(c, field).to_owned())
            .collect::<Vec<_>>()
            .join(",")
    };
    vec![
        name,
        json!(status),
        json!(completions),
        json!(duration),
        json!(created),
        json!(joined("/name")),
        json!(joined("/image")),
        json!(format_label_selector(job.pointer("/spec/selector"))),
    ]
}

fn pod_cells(pod: &Value, name: Value, created: String) -> Vec<Value> {
    let (ready, status, restarts) = pod_summary(pod);
    let gates = pod
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let readiness_gates = if gates == 0 {
        "<none>".to_owned()
    } else {
        let true_gates = pod
            .pointer("/spec/readinessGates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|gate| {
                let kind = text(gate, "/conditionType");
                pod.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|c| text(c, "/type") == kind && text(c, "/status") == "True")
            })
            .count();
        format!("{true_gates}/{gates}")
    };
    vec![
        name,
        json!(ready),
        json!(status),
        json!(restarts),
        json!(created),
        json!(or_none(text(pod, "/status/podIP"))),
        json!(or_none(text(pod, "/spec/nodeName"))),
        json!(or_none(text(pod, "/status/nominatedNodeName"))),
        json!(readiness_gates),
    ]
}

fn service_cells(service: &Value, name: Value, created: String) -> Vec<Value> {
    let kind = text(service, "/spec/type");
    let kind = if kind.is_empty() { "ClusterIP" } else { kind };
    let cluster_ip = or_none(text(service, "/spec/clusterIP"));
    let external: Vec<String> = service
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let external = match kind {
        "ExternalName" => text(service, "/spec/externalName").to_owned(),
        "LoadBalancer" => {
            let ingress: Vec<String> = service
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|i| {
                    if text(i, "/ip").is_empty() {
                        text(i, "/hostname").to_owned()
                    } else {
                        text(i, "/ip").to_owned()
                    }
                })
                .chain(external.iter().cloned())
                .collect();
            if ingress.is_empty() {
                "<pending>".to_owned()
            } else {
                ingress.join(",")
            }
        }
        _ if external.is_empty() => "<none>".to_owned(),
        _ => external.join(","),
    };
    let ports: Vec<String> = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64).filter(|n| *n > 0) {
                Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_owned()
    } else {
        ports.join(",")
    };
    let selector: Vec<String> = service
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let selector = if selector.is_empty() {
        "<none>".to_owned()
    } else {
        selector.join(",")
    };
    vec![
        name,
        json!(kind),
        json!(cluster_ip),
        json!(external),
        json!(ports),
        json!(created),
        json!(selector),
    ]
}

fn event_cells(event: &Value, name: Value) -> Vec<Value> {
    let first = [
        text(event, "/firstTimestamp"),
        text(event, "/eventTime"),
        text(event, "/metadata/creationTimestamp"),
    ]
    .into_iter()
    .find(|t| !t.is_empty())
    .unwrap_or_default();
    let last = [
        text(event, "/lastTimestamp"),
        text(event, "/series/lastObservedTime"),
        first,
    ]
    .into_iter()
    .find(|t| !t.is_empty())
    .unwrap_or_default();
    let object = format!(
        "{}/{}",
        text(event, "/involvedObject/kind").to_lowercase(),
        text(event, "/involvedObject/name")
    );
    let source = [
        text(event, "/source/component"),
        text(event, "/reportingComponent"),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or_default();
    let source = match text(event, "/source/host") {
        "" => source.to_owned(),
        host => format!("{source}, {host}"),
    };
    let count = event.get("count").and_then(Value::as_i64).unwrap_or(1);
    vec![
        json!(age(last)),
        json!(text(event, "/type")),
        json!(text(event, "/reason")),
        json!(object),
        json!(text(event, "/involvedObject/fieldPath")),
        json!(source),
        json!(text(event, "/message").trim()),
        json!(age(first)),
        json!(count.to_string()),
        name,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        for (seconds, want) in [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 120, "3h2m"),
            (30 * 3600, "30h"),
            (50 * 3600, "2d2h"),
            (400 * 86400, "400d"),
            (800 * 86400, "2y70d"),
        ] {
            assert_eq!(human_duration(seconds), want, "{seconds}");
        }
    }

    #[test]
    fn pod_summaries() {
        let running = json!({
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 1, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]}
        });
        assert_eq!(
            pod_summary(&running),
            ("1/2".into(), "CrashLoopBackOff".into(), "3".into())
        );
        let by_condition = json!({
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        });
        assert_eq!(
            pod_summary(&by_condition),
            ("1/1".into(), "Running".into(), "0".into())
        );
        let mut terminating = by_condition.clone();
        terminating["metadata"] = json!({"deletionTimestamp": "2026-01-01T00:00:00Z"});
        assert_eq!(pod_summary(&terminating).1, "Terminating");
        let failed = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Failed", "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 3}}}]}});
        assert_eq!(pod_summary(&failed).1, "ExitCode:3");
    }

    #[test]
    fn selectors_print_like_kubectl() {
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        let selector = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}, {"key": "x", "operator": "DoesNotExist"}]});
        assert_eq!(
            format_label_selector(Some(&selector)),
            "app=web,tier in (a,b),!x"
        );
    }
}
