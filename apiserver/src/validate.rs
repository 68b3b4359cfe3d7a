//! Typed decoding, defaulting and validation of objects on their way into the store, worded as the
//! API server words its errors.

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::resource::Resource;

pub(crate) mod apps;

/// Decodes the object into its k8s-openapi type and back, so the store only ever holds objects
/// clients can decode; a body of the wrong shape is a `400 BadRequest`.
pub(crate) fn normalize(resource: Resource, object: Value) -> Result<Value, ApiError> {
    use k8s_openapi::api::{
        apps::v1 as appsv1, authorization::v1 as authorization, batch::v1 as batch,
        core::v1 as core, discovery::v1 as discovery, networking::v1 as networking,
        rbac::v1 as rbac,
    };
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(
        resource: Resource,
        object: Value,
    ) -> Result<Value, ApiError> {
        let typed: T = serde_json::from_value(object).map_err(|e| {
            ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
                kind = resource.kind(),
                version = resource.version()
            ))
        })?;
        serde_json::to_value(typed).map_err(|e| ApiError::internal(e.to_string()))
    }
    apps::require_selector(resource, &object)?;
    match resource {
        Resource::Namespaces => round_trip::<core::Namespace>(resource, object),
        Resource::Nodes => round_trip::<core::Node>(resource, object),
        Resource::Pods => round_trip::<core::Pod>(resource, object),
        Resource::Services => round_trip::<core::Service>(resource, object),
        Resource::Endpoints => round_trip::<core::Endpoints>(resource, object),
        Resource::EndpointSlices => round_trip::<discovery::EndpointSlice>(resource, object),
        Resource::ConfigMaps => round_trip::<core::ConfigMap>(resource, object),
        Resource::Events => round_trip::<core::Event>(resource, object),
        Resource::NetworkPolicies => round_trip::<networking::NetworkPolicy>(resource, object),
        Resource::ServiceAccounts => round_trip::<core::ServiceAccount>(resource, object),
        Resource::Roles => round_trip::<rbac::Role>(resource, object),
        Resource::ClusterRoles => round_trip::<rbac::ClusterRole>(resource, object),
        Resource::RoleBindings => round_trip::<rbac::RoleBinding>(resource, object),
        Resource::ClusterRoleBindings => round_trip::<rbac::ClusterRoleBinding>(resource, object),
        Resource::Jobs => round_trip::<batch::Job>(resource, object),
        Resource::SelfSubjectAccessReviews => {
            round_trip::<authorization::SelfSubjectAccessReview>(resource, object)
        }
        Resource::SelfSubjectRulesReviews => {
            round_trip::<authorization::SelfSubjectRulesReview>(resource, object)
        }
        Resource::Deployments => round_trip::<appsv1::Deployment>(resource, object),
        Resource::ReplicaSets => round_trip::<appsv1::ReplicaSet>(resource, object),
        Resource::StatefulSets => round_trip::<appsv1::StatefulSet>(resource, object),
        Resource::DaemonSets => round_trip::<appsv1::DaemonSet>(resource, object),
        Resource::ControllerRevisions => round_trip::<appsv1::ControllerRevision>(resource, object),
    }
}

/// Fills the defaults the API server's defaulting functions set for the served kinds.
pub(crate) fn apply_defaults(resource: Resource, object: &mut Value) {
    match resource {
        Resource::Pods => default_pod_spec(&mut object["spec"], false),
        r if r.is_apps() => apps::apply_defaults(r, object),
        Resource::Services => default_service(object),
        Resource::NetworkPolicies => default_network_policy(object),
        Resource::Jobs => default_job(object),
        Resource::Namespaces => {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let labels = ensure_object(&mut object["metadata"], "labels");
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            let spec = ensure_object(object, "spec");
            spec.entry("finalizers").or_insert(json!(["kubernetes"]));
        }
        _ => {}
    }
}

fn ensure_object<'a>(parent: &'a mut Value, key: &str) -> &'a mut serde_json::Map<String, Value> {
    if !parent.is_object() {
        *parent = json!({});
    }
    let map = parent.as_object_mut().expect("made an object above");
    let entry = map.entry(key.to_owned()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("made an object above")
}

pub(super) fn set_default(object: &mut Value, key: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        map.entry(key.to_owned()).or_insert(value);
    }
}

/// The defaults of a pod spec; `template`: of a workload's pod template, which gets only those
/// of the defaulting functions, not those the admission plugins set on pods.
pub(super) fn default_pod_spec(spec: &mut Value, template: bool) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    if !template {
        set_default(spec, "enableServiceLinks", json!(true));
        set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
        set_default(spec, "priority", json!(0));
        set_default(spec, "serviceAccountName", json!("default"));
        if let Some(sa) = spec.get("serviceAccountName").cloned() {
            set_default(spec, "serviceAccount", sa);
        }
    }
    for list in ["initContainers", "containers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for container in containers {
                default_container(container);
            }
        }
    }
}

/// The labels that tie a Job's pods to it, as the Job strategy sets them on create.
pub const JOB_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// A Job's defaults, as `SetDefaults_Job` and the Job strategy set them: one completion at a
/// time, a backoff limit of 6, the selector and template labels naming the Job (unless
/// `manualSelector`), and the pod template's defaults.
fn default_job(job: &mut Value) {
    let meta = |field: &str| {
        job.pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (uid, name) = (meta("uid"), meta("name"));
    let spec = &mut job["spec"];
    if spec.get("completions").is_none() && spec.get("parallelism").is_none() {
        set_default(spec, "completions", json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if !manual && !uid.is_empty() && spec.get("selector").is_none() {
        spec["selector"] = json!({"matchLabels": {JOB_UID_LABEL: uid}});
        let labels = ensure_object(
            ensure_object(spec, "template")
                .entry("metadata")
                .or_insert(json!({})),
            "labels",
        );
        for (key, value) in [
            ("controller-uid", &uid),
            (JOB_UID_LABEL, &uid),
            ("job-name", &name),
            (JOB_NAME_LABEL, &name),
        ] {
            labels.insert(key.to_owned(), json!(value));
        }
    }
    default_pod_spec(&mut spec["template"]["spec"], true);
}

/// A Job's spec as the API server validates it: its pod template, a restart policy that ends,
/// counts that are not negative, a selector that selects the template.
fn validate_job(job: &Value, errors: &mut Errors) {
    let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut inner = Errors::default();
    validate_pod_spec(&template["spec"], &mut inner);
    errors.0.extend(
        inner
            .0
            .into_iter()
            .map(|(f, m)| (format!("spec.template.{f}"), m)),
    );
    let restart = template
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(restart, "Never" | "OnFailure") {
        errors.push(
            "spec.template.spec.restartPolicy",
            format!("Unsupported value: \"{restart}\": supported values: \"OnFailure\", \"Never\""),
        );
    }
    for field in [
        "backoffLimit",
        "completions",
        "parallelism",
        "activeDeadlineSeconds",
    ] {
        if let Some(n) = job
            .pointer(&format!("/spec/{field}"))
            .and_then(Value::as_i64)
            && (n < 0 || (n == 0 && field == "activeDeadlineSeconds"))
        {
            let bound = if field == "activeDeadlineSeconds" {
                "greater than 0"
            } else {
                "greater than or equal to 0"
            };
            errors.push(
                format!("spec.{field}"),
                format!("Invalid value: {n}: must be {bound}"),
            );
        }
    }
    let selected = job
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|wanted| {
            wanted.iter().all(|(k, v)| {
                template.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v)
            })
        });
    if !selected {
        errors.push(
            "spec.template.metadata.labels",
            "Invalid value: `selector` does not match template `labels`",
        );
    }
}

fn default_container(container: &mut Value) {
    set_default(
        container,
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    set_default(container, "terminationMessagePolicy", json!("File"));
    set_default(container, "resources", json!({}));
    let image = container
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let last = image.rsplit('/').next().unwrap_or_default();
    let pull = if image.contains('@') || (last.contains(':') && !last.ends_with(":latest")) {
        "IfNotPresent"
    } else {
        "Always"
    };
    set_default(container, "imagePullPolicy", json!(pull));
    if let Some(ports) = container.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports {
            set_default(port, "protocol", json!("TCP"));
        }
    }
}

fn default_service(service: &mut Value) {
    let spec = &mut service["spec"];
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports {
            set_default(port, "protocol", json!("TCP"));
            if let Some(number) = port.get("port").cloned() {
                set_default(port, "targetPort", number);
            }
        }
    }
    set_default(service, "status", json!({"loadBalancer": {}}));
}

fn default_network_policy(policy: &mut Value) {
    let spec = &mut policy["spec"];
    set_default(spec, "podSelector", json!({}));
    if spec
        .get("policyTypes")
        .is_none_or(|t| t.as_array().is_none_or(Vec::is_empty))
    {
        let mut types = vec![json!("Ingress")];
        if spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
        {
            types.push(json!("Egress"));
        }
        spec["policyTypes"] = Value::Array(types);
    }
    for direction in ["ingress", "egress"] {
        if let Some(rules) = spec.get_mut(direction).and_then(Value::as_array_mut) {
            for rule in rules {
                if let Some(ports) = rule.get_mut("ports").and_then(Value::as_array_mut) {
                    for port in ports {
                        set_default(port, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

/// Field errors collected while validating one object.
#[derive(Default)]
pub(super) struct Errors(pub(super) Vec<(String, String)>);

impl Errors {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push((field.into(), message.into()));
    }

    fn invalid(&mut self, field: &str, value: &Value, problems: Vec<String>) {
        for problem in problems {
            self.push(field, format!("Invalid value: {value}: {problem}"));
        }
    }
}

/// Validates an object as the API server does on create and update; `422 Invalid` with causes.
pub(crate) fn validate(resource: Resource, object: &Value) -> Result<(), ApiError> {
    let mut errors = Errors::default();
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    validate_metadata(resource, object, &mut errors);
    match resource {
        Resource::Pods => validate_pod_spec(&object["spec"], &mut errors),
        Resource::Services => validate_service(object, &mut errors),
        Resource::NetworkPolicies => validate_network_policy(object, &mut errors),
        r if r.is_apps() => apps::validate(r, object, &mut errors),
        Resource::Jobs => validate_job(object, &mut errors),
        _ => {}
    }
    if errors.0.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(resource.kind(), name, errors.0))
    }
}

fn validate_metadata(resource: Resource, object: &Value, errors: &mut Errors) {
    validate_owner_references(object, errors);
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() {
        errors.push(
            "metadata.name",
            "Required value: name or generateName is required",
        );
    } else {
        let problems = match resource {
            Resource::Namespaces => netverdict_engine::validate_dns1123_label(name),
            Resource::Services => validate_dns1035_label(name),
            _ => netverdict_engine::validate_dns1123_subdomain(name),
        };
        errors.invalid("metadata.name", &json!(name), problems);
    }
    if let Some(labels) = object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
    {
        for (key, value) in labels {
            errors.invalid(
                "metadata.labels",
                &json!(key),
                netverdict_engine::validate_label_key(key),
            );
            let text = value.as_str().unwrap_or_default();
            errors.invalid(
                &format!("metadata.labels[{key}]"),
                value,
                netverdict_engine::validate_label_value(text),
            );
        }
    }
}

/// `ValidateOwnerReferences`: every reference names its owner completely, at most one is the
/// controller.
fn validate_owner_references(object: &Value, errors: &mut Errors) {
    let field = "metadata.ownerReferences";
    let mut first_controller: Option<String> = None;
    for reference in object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |key: &str| {
            reference
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let version = text("apiVersion").rsplit('/').next().unwrap_or_default();
        for (key, empty, what) in [
            ("apiVersion", version.is_empty(), "version"),
            ("kind", text("kind").is_empty(), "kind"),
            ("name", text("name").is_empty(), "name"),
            ("uid", text("uid").is_empty(), "uid"),
        ] {
            if empty {
                errors.push(
                    format!("{field}.{key}"),
                    format!("Invalid value: \"{}\": {what} must not be empty", text(key)),
                );
            }
        }
        if text("apiVersion") == "v1" && text("kind") == "Event" {
            errors.push(field, "Invalid value: \"v1, Kind=Event\": /v1, Kind=Event is disallowed from being an owner");
        }
        if reference.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{}/{}", text("kind"), text("name"));
            match &first_controller {
                Some(first) => errors.push(
                    field,
                    format!(
                        "Invalid value: []v1.OwnerReference{{...}}: Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                ),
                None => first_controller = Some(current),
            }
        }
    }
}

fn validate_dns1035_label(name: &str) -> Vec<String> {
    let ok = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Vec::new()
    } else {
        vec![
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic \
             character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for \
             validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
                .to_owned(),
        ]
    }
}

fn validate_protocol(field: &str, port: &Value, errors: &mut Errors) {
    if let Some(protocol) = port.get("protocol").and_then(Value::as_str)
        && !matches!(protocol, "TCP" | "UDP" | "SCTP")
    {
        errors.push(
            field,
            format!(
                "Unsupported value: \"{protocol}\": supported values: \"SCTP\", \"TCP\", \"UDP\""
            ),
        );
    }
}

fn validate_port_number(field: &str, value: Option<&Value>, errors: &mut Errors) {
    match value.map(|v| (v, v.as_i64())) {
        None | Some((_, Some(0))) => errors.push(field, "Required value"),
        Some((_, Some(n))) if (1..=65535).contains(&n) => {}
        Some((v, _)) => errors.push(
            field,
            format!("Invalid value: {v}: must be between 1 and 65535, inclusive"),
        ),
    }
}

/// A pod spec, its errors under `spec.`.
pub(super) fn validate_pod_spec(spec: &Value, errors: &mut Errors) {
    let containers = spec.get("containers").and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        errors.push("spec.containers", "Required value");
        return;
    };
    let mut names = std::collections::BTreeSet::new();
    for (list, items) in [
        (
            "initContainers",
            spec.get("initContainers").and_then(Value::as_array),
        ),
        ("containers", Some(containers)),
    ] {
        for (i, container) in items.into_iter().flatten().enumerate() {
            let path = format!("spec.{list}[{i}]");
            let name = container
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if name.is_empty() {
                errors.push(format!("{path}.name"), "Required value");
            } else {
                errors.invalid(
                    &format!("{path}.name"),
                    &json!(name),
                    netverdict_engine::validate_dns1123_label(name),
                );
                if !names.insert(name.to_owned()) {
                    errors.push(
                        format!("{path}.name"),
                        format!("Duplicate value: \"{name}\""),
                    );
                }
            }
            if container
                .get("image")
                .and_then(Value::as_str)
                .is_none_or(|i| i.trim().is_empty())
            {
                errors.push(format!("{path}.image"), "Required value");
            }
            let mut port_names = std::collections::BTreeSet::new();
            for (j, port) in container
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let port_path = format!("{path}.ports[{j}]");
                validate_port_number(
                    &format!("{port_path}.containerPort"),
                    port.get("containerPort"),
                    errors,
                );
                if let Some(host) = port.get("hostPort").filter(|h| h.as_i64() != Some(0)) {
                    validate_port_number(&format!("{port_path}.hostPort"), Some(host), errors);
                }
                if let Some(port_name) = port.get("name").and_then(Value::as_str) {
                    errors.invalid(
                        &format!("{port_path}.name"),
                        &json!(port_name),
                        netverdict_engine::validate_port_name(port_name),
                    );
                    if !port_names.insert(port_name.to_owned()) {
                        errors.push(
                            format!("{port_path}.name"),
                            format!("Duplicate value: \"{port_name}\""),
                        );
                    }
                }
                validate_protocol(&format!("{port_path}.protocol"), port, errors);
            }
        }
    }
    if let Some(policy) = spec.get("restartPolicy").and_then(Value::as_str)
        && !matches!(policy, "Always" | "OnFailure" | "Never")
    {
        errors.push(
            "spec.restartPolicy",
            format!("Unsupported value: \"{policy}\": supported values: \"Always\", \"OnFailure\", \"Never\""),
        );
    }
}

fn validate_service(service: &Value, errors: &mut Errors) {
    let kind = service
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !matches!(
        kind,
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        errors.push(
            "spec.type",
            format!("Unsupported value: \"{kind}\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""),
        );
    }
    let headless = service.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    let ports = service.pointer("/spec/ports").and_then(Value::as_array);
    if ports.is_none_or(Vec::is_empty) && kind != "ExternalName" && !headless {
        errors.push("spec.ports", "Required value");
    }
    let ports = ports.map(Vec::as_slice).unwrap_or_default();
    let mut names = std::collections::BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        let name = port.get("name").and_then(Value::as_str).unwrap_or_default();
        if ports.len() > 1 && name.is_empty() {
            errors.push(format!("{path}.name"), "Required value");
        } else if !name.is_empty() && !names.insert(name.to_owned()) {
            errors.push(
                format!("{path}.name"),
                format!("Duplicate value: \"{name}\""),
            );
        }
        validate_port_number(&format!("{path}.port"), port.get("port"), errors);
        validate_protocol(&format!("{path}.protocol"), port, errors);
        if let Some(target) = port.get("targetPort")
            && let Some(n) = target.as_i64()
            && !(1..=65535).contains(&n)
        {
            errors.push(
                format!("{path}.targetPort"),
                format!("Invalid value: {n}: must be between 1 and 65535, inclusive"),
            );
        }
    }
    if let Some(selector) = service.pointer("/spec/selector").and_then(Value::as_object) {
        for (key, value) in selector {
            errors.invalid(
                "spec.selector",
                &json!(key),
                netverdict_engine::validate_label_key(key),
            );
            errors.invalid(
                &format!("spec.selector[{key}]"),
                value,
                netverdict_engine::validate_label_value(value.as_str().unwrap_or_default()),
            );
        }
    }
}

fn validate_network_policy(policy: &Value, errors: &mut Errors) {
    let typed: k8s_openapi::api::networking::v1::NetworkPolicy =
        match serde_json::from_value(policy.clone()) {
            Ok(typed) => typed,
            Err(e) => {
                errors.push("spec", format!("Invalid value: {e}"));
                return;
            }
        };
    if let Err(found) = netverdict_engine::Policy::from_k8s(&typed) {
        for error in found {
            // The name was checked with the metadata already.
            if error.path != "metadata.name" && error.path != "metadata.namespace" {
                errors.push(error.path, error.message);
            }
        }
    }
}

/// The fields of `input` its typed form drops: unknown fields, as `spec.bogus`.
fn unknown_fields(input: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(given), Value::Object(kept)) => {
            for (key, value) in given {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match kept.get(key) {
                    None if !value.is_null() => out.push(child),
                    Some(kept_value) => unknown_fields(value, kept_value, &child, out),
                    None => {}
                }
            }
        }
        (Value::Array(given), Value::Array(kept)) => {
            for (i, (value, kept_value)) in given.iter().zip(kept).enumerate() {
                unknown_fields(value, kept_value, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The paths of the fields of `object` its kind does not have; none for an object that does not
/// decode (that is reported as an error elsewhere).
pub(crate) fn unknown_field_paths(resource: Resource, object: &Value) -> Vec<String> {
    let Ok(typed) = normalize(resource, object.clone()) else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    unknown_fields(object, &typed, "", &mut unknown);
    unknown
}

/// `fieldValidation=Strict`: a `400 BadRequest` naming the fields the kind does not have.
pub(crate) fn reject_unknown_fields(resource: Resource, object: &Value) -> Result<(), ApiError> {
    normalize(resource, object.clone())?;
    let unknown = unknown_field_paths(resource, object);
    if unknown.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    Err(ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
        listed.join(", "),
        kind = resource.kind(),
        version = resource.version()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_named_by_path() {
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": null}, "spec": {"bogus": 1, "containers": [{"name": "c", "image": "i", "extra": true}]}});
        let err = reject_unknown_fields(Resource::Pods, &pod).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err.message.ends_with("strict decoding error: unknown field \"spec.bogus\", unknown field \"spec.containers[0].extra\""), "{}", err.message);
        let fine = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
        reject_unknown_fields(Resource::Pods, &fine).unwrap();
    }
}
