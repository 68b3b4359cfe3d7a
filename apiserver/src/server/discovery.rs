//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}[/v1]`.
//!
//! Clients asking for aggregated discovery (`as=APIGroupDiscoveryList`, `apidiscovery.k8s.io/v2`)
//! get it from `/api` and `/apis`; the others get the legacy documents.

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::app::ServerOptions;
use super::negotiate::json_response;
use crate::resource::Resource;

pub(super) const GROUPS: [&str; 6] = [
    "apps",
    "networking.k8s.io",
    "discovery.k8s.io",
    "rbac.authorization.k8s.io",
    "authorization.k8s.io",
    "batch",
];

/// The groups this server serves: `discovery.k8s.io/v1` (EndpointSlices) only when it has it.
fn served_groups(options: &ServerOptions) -> Vec<&'static str> {
    GROUPS
        .into_iter()
        .filter(|group| *group != "discovery.k8s.io" || options.endpoint_slices_v1)
        .collect()
}

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

pub(super) fn core_versions(headers: &HeaderMap) -> Response {
    if wants_aggregated(headers) {
        return aggregated(&[""]);
    }
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

pub(super) fn groups(headers: &HeaderMap, options: &ServerOptions) -> Response {
    let served = served_groups(options);
    if wants_aggregated(headers) {
        return aggregated(&served);
    }
    let groups: Vec<Value> = served.iter().map(|g| group_body(g)).collect();
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

pub(super) fn group(group: &str, options: &ServerOptions) -> Option<Value> {
    if !served_groups(options).contains(&group) {
        return None;
    }
    let mut body = group_body(group);
    body["kind"] = json!("APIGroup");
    body["apiVersion"] = json!("v1");
    Some(body)
}

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the first media range of `Accept` that this server can answer is aggregated
/// discovery v2.
fn wants_aggregated(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        if parts.next() != Some("application/json") {
            continue;
        }
        let params: Vec<&str> = parts.collect();
        if params.is_empty() {
            return false;
        }
        let has = |p: &str| params.iter().any(|x| x.replace(' ', "") == p);
        if has("g=apidiscovery.k8s.io") && has("v=v2") && has("as=APIGroupDiscoveryList") {
            return true;
        }
    }
    false
}

/// The `APIGroupDiscoveryList` of the given groups (`""` for the core group).
fn aggregated(groups: &[&str]) -> Response {
    let items: Vec<Value> = groups
        .iter()
        .map(|group| {
            let resources: Vec<Value> = Resource::ALL
                .into_iter()
                .filter(|r| r.group() == *group)
                .map(|resource| {
                    let kind = |kind: &str| json!({"group": group, "version": "v1", "kind": kind});
                    let subresources: Vec<Value> = subresources(resource)
                        .into_iter()
                        .map(|(sub, sub_kind, verbs)| {
                            let response = match sub_group(sub) {
                                Some((g, v)) => json!({"group": g, "version": v, "kind": sub_kind}),
                                None => kind(sub_kind),
                            };
                            json!({"subresource": sub, "responseKind": response, "verbs": verbs})
                        })
                        .collect();
                    let mut entry = json!({
                        "resource": resource.plural(),
                        "responseKind": kind(resource.kind()),
                        "scope": if resource.namespaced() { "Namespaced" } else { "Cluster" },
                        "singularResource": resource.singular(),
                        "verbs": resource.verbs(),
                    });
                    if !resource.short_names().is_empty() {
                        entry["shortNames"] = json!(resource.short_names());
                    }
                    if !resource.categories().is_empty() {
                        entry["categories"] = json!(resource.categories());
                    }
                    if !subresources.is_empty() {
                        entry["subresources"] = json!(subresources);
                    }
                    entry
                })
                .collect();
            let metadata = if group.is_empty() {
                json!({"creationTimestamp": null})
            } else {
                json!({"name": group, "creationTimestamp": null})
            };
            json!({
                "metadata": metadata,
                "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}],
            })
        })
        .collect();
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, AGGREGATED)
        .body(axum::body::Body::from(
            serde_json::to_vec(&body).unwrap_or_default(),
        ))
        .expect("a valid response")
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
    if resource == Resource::Pods {
        out.push(("log", "Pod", vec!["get"]));
    }
    if resource == Resource::Namespaces {
        out.push(("finalize", "Namespace", vec!["update"]));
    }
    if resource == Resource::ServiceAccounts {
        out.push(("token", "TokenRequest", vec!["create"]));
    }
    if resource.has_scale() {
        out.push(("scale", "Scale", vec!["get", "patch", "update"]));
    }
    out
}

/// The group and version of a subresource's kind when it is not its resource's own: the
/// `Scale` of `scale` is `autoscaling/v1` (what clients' scale kind resolvers read).
fn sub_group(subresource: &str) -> Option<(&'static str, &'static str)> {
    (subresource == "scale").then_some(("autoscaling", "v1"))
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
            let mut entry = json!({
                "name": format!("{}/{sub}", resource.plural()),
                "singularName": "",
                "namespaced": resource.namespaced(),
                "kind": kind,
                "verbs": verbs,
            });
            if let Some((group, version)) = sub_group(sub) {
                entry["group"] = json!(group);
                entry["version"] = json!(version);
            }
            resources.push(entry);
        }
    }
    let group_version = if group.is_empty() {
        "v1".to_owned()
    } else {
        format!("{group}/v1")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}
