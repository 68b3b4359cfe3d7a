//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}[/v1]`.
//!
//! Only the legacy (unaggregated) form is served: clients asking for aggregated discovery get
//! plain `application/json` and fall back to it, as they do against older servers.

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::app::ServerOptions;
use super::negotiate::json_response;
use crate::resource::Resource;

pub(super) const GROUPS: [&str; 2] = ["networking.k8s.io", "discovery.k8s.io"];

pub(super) fn version(options: &ServerOptions) -> Value {
    let version = options.git_version.trim_start_matches('v');
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or("1");
    let minor = parts.next().unwrap_or("33");
    json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": minor,
        "gitVersion": options.git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub(super) fn core_versions(_headers: &HeaderMap) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
        }),
    )
}

fn group_body(group: &str) -> Value {
    let group_version = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({
        "name": group,
        "versions": [group_version],
        "preferredVersion": group_version,
    })
}

pub(super) fn groups(_headers: &HeaderMap) -> Response {
    let groups: Vec<Value> = GROUPS.iter().map(|g| group_body(g)).collect();
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

pub(super) fn group(group: &str) -> Option<Value> {
    if !GROUPS.contains(&group) {
        return None;
    }
    let mut body = group_body(group);
    body["kind"] = json!("APIGroup");
    body["apiVersion"] = json!("v1");
    Some(body)
}

/// The subresources of a resource: (name, kind, verbs).
fn subresources(resource: Resource) -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let mut out = Vec::new();
    if resource.has_status() {
        out.push(("status", resource.kind(), vec!["get", "patch", "update"]));
    }
    if resource == Resource::Pods {
        out.push(("exec", "PodExecOptions", vec!["create", "get"]));
    }
    if resource == Resource::Namespaces {
        out.push(("finalize", "Namespace", vec!["update"]));
    }
    out
}

/// The `APIResourceList` of one group version (`""` for the core group).
pub(super) fn resource_list(group: &str) -> Value {
    let mut resources = Vec::new();
    for resource in Resource::ALL.into_iter().filter(|r| r.group() == group) {
        let mut entry = json!({
            "name": resource.plural(),
            "singularName": resource.singular(),
            "namespaced": resource.namespaced(),
            "kind": resource.kind(),
            "verbs": resource.verbs(),
        });
        if !resource.short_names().is_empty() {
            entry["shortNames"] = json!(resource.short_names());
        }
        if !resource.categories().is_empty() {
            entry["categories"] = json!(resource.categories());
        }
        resources.push(entry);
        for (sub, kind, verbs) in subresources(resource) {
            resources.push(json!({
                "name": format!("{}/{sub}", resource.plural()),
                "singularName": "",
                "namespaced": resource.namespaced(),
                "kind": kind,
                "verbs": verbs,
            }));
        }
    }
    let group_version = if group.is_empty() {
        "v1".to_owned()
    } else {
        format!("{group}/v1")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}
