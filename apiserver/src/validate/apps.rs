//! `apps/v1` defaulting, validation and update rules, as the API server's apps registry applies
//! them: Deployments, ReplicaSets, StatefulSets, DaemonSets (ControllerRevisions need none).

use netverdict_engine::Quoted;
use serde_json::{Value, json};

use super::{Errors, default_pod_spec, set_default, validate_pod_spec};
use crate::error::ApiError;
use crate::resource::Resource;

/// The annotation through which `apps/v1` shows a DaemonSet's template generation.
pub(crate) const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// Whether the kind has a selector and a pod template (every apps kind but ControllerRevision).
fn is_workload(resource: Resource) -> bool {
    resource.is_apps() && resource != Resource::ControllerRevisions
}

/// The defaults of `k8s.io/api/apps/v1`'s `SetDefaults_*` and of the pod template.
pub(crate) fn apply_defaults(resource: Resource, object: &mut Value) {
    if !is_workload(resource) {
        return;
    }
    let spec = &mut object["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    match resource {
        Resource::Deployments => {
            set_default(spec, "replicas", json!(1));
            set_default(spec, "strategy", json!({}));
            set_default(&mut spec["strategy"], "type", json!("RollingUpdate"));
            if spec["strategy"]["type"] == "RollingUpdate" {
                let strategy = &mut spec["strategy"];
                set_default(strategy, "rollingUpdate", json!({}));
                set_default(
                    &mut strategy["rollingUpdate"],
                    "maxUnavailable",
                    json!("25%"),
                );
                set_default(&mut strategy["rollingUpdate"], "maxSurge", json!("25%"));
            }
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
        }
        Resource::ReplicaSets => set_default(spec, "replicas", json!(1)),
        Resource::StatefulSets => {
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            if spec
                .get("updateStrategy")
                .is_none_or(|s| s.get("type").is_none())
            {
                spec["updateStrategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {}});
            }
            if spec["updateStrategy"]["type"] == "RollingUpdate"
                && spec["updateStrategy"]["rollingUpdate"].is_object()
            {
                set_default(
                    &mut spec["updateStrategy"]["rollingUpdate"],
                    "partition",
                    json!(0),
                );
            }
            set_default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
        }
        Resource::DaemonSets => {
            set_default(spec, "updateStrategy", json!({}));
            set_default(&mut spec["updateStrategy"], "type", json!("RollingUpdate"));
            if spec["updateStrategy"]["type"] == "RollingUpdate" {
                let strategy = &mut spec["updateStrategy"];
                set_default(strategy, "rollingUpdate", json!({}));
                set_default(&mut strategy["rollingUpdate"], "maxUnavailable", json!(1));
                set_default(&mut strategy["rollingUpdate"], "maxSurge", json!(0));
            }
            set_default(spec, "revisionHistoryLimit", json!(10));
            let annotations = &mut object["metadata"]["annotations"];
            if !annotations.is_object() {
                *annotations = json!({});
            }
            set_default(annotations, TEMPLATE_GENERATION, json!("1"));
        }
        _ => {}
    }
    if let Some(template) = object.pointer_mut("/spec/template")
        && template.is_object()
    {
        default_pod_spec(&mut template["spec"], true);
    }
}

/// A missing selector, which decoding would turn into the empty one: `422` as the API server
/// reports it (an `apps/v1` workload must name its selector).
pub(crate) fn require_selector(resource: Resource, object: &Value) -> Result<(), ApiError> {
    if !is_workload(resource) || !object.pointer("/spec/selector").is_none_or(Value::is_null) {
        return Ok(());
    }
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let labels = object.pointer("/spec/template/metadata/labels");
    Err(ApiError::invalid(
        resource.kind(),
        name,
        vec![
            ("spec.selector".into(), "Required value".into()),
            (
                "spec.template.metadata.labels".into(),
                format!(
                    "Invalid value: {}: `selector` does not match template `labels`",
                    go_map(labels)
                ),
            ),
        ],
    ))
}

/// A `map[string]string` as Go's `%#v` prints it (field errors show label maps so).
fn go_map(map: Option<&Value>) -> String {
    match map.and_then(Value::as_object).filter(|m| !m.is_empty()) {
        None => "map[string]string(nil)".to_owned(),
        Some(map) => {
            let pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}:{}", Quoted(k), Quoted(v.as_str().unwrap_or_default())))
                .collect();
            format!("map[string]string{{{}}}", pairs.join(", "))
        }
    }
}

/// A `*metav1.LabelSelector` as Go's `%#v` prints it, shortened to its labels.
fn go_selector(selector: &Value) -> String {
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}",
        go_map(selector.get("matchLabels"))
    )
}

/// The validation of `ValidateDeployment`, `ValidateReplicaSet`, `ValidateStatefulSet` and
/// `ValidateDaemonSet` that clients meet.
pub(super) fn validate(resource: Resource, object: &Value, errors: &mut Errors) {
    if !is_workload(resource) {
        return;
    }
    let spec = &object["spec"];
    if let Some(replicas) = spec.get("replicas").and_then(Value::as_i64)
        && replicas < 0
    {
        errors.push(
            "spec.replicas",
            format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        );
    }
    let selector = validate_selector(resource, &spec["selector"], errors);
    validate_template(spec, selector.as_ref(), errors);
    match resource {
        Resource::Deployments => validate_deployment_strategy(spec, errors),
        Resource::StatefulSets => {
            let policy = spec["podManagementPolicy"].as_str().unwrap_or_default();
            if !matches!(policy, "OrderedReady" | "Parallel") {
                errors.push(
                    "spec.podManagementPolicy",
                    format!("Unsupported value: \"{policy}\": supported values: \"OrderedReady\", \"Parallel\""),
                );
            }
            let kind = spec["updateStrategy"]["type"].as_str().unwrap_or_default();
            if !matches!(kind, "RollingUpdate" | "OnDelete") {
                errors.push(
                    "spec.updateStrategy.type",
                    format!("Unsupported value: \"{kind}\": supported values: \"OnDelete\", \"RollingUpdate\""),
                );
            }
        }
        Resource::DaemonSets => {
            let kind = spec["updateStrategy"]["type"].as_str().unwrap_or_default();
            if !matches!(kind, "RollingUpdate" | "OnDelete") {
                errors.push(
                    "spec.updateStrategy.type",
                    format!("Unsupported value: \"{kind}\": supported values: \"OnDelete\", \"RollingUpdate\""),
                );
            }
        }
        _ => {}
    }
}

/// Validates the selector; returns it when it is usable for matching the template.
fn validate_selector(
    resource: Resource,
    selector: &Value,
    errors: &mut Errors,
) -> Option<netverdict_engine::LabelSelector> {
    let typed: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector =
        serde_json::from_value(selector.clone()).unwrap_or_default();
    let parsed = match netverdict_engine::LabelSelector::from_k8s(&typed, "spec.selector") {
        Ok(parsed) => Some(parsed),
        Err(found) => {
            for error in found {
                errors.push(error.path, error.message);
            }
            None
        }
    };
    if parsed
        .as_ref()
        .is_some_and(netverdict_engine::LabelSelector::is_empty)
    {
        errors.push(
            "spec.selector",
            format!(
                "Invalid value: {}: empty selector is invalid for {}",
                go_selector(selector),
                resource.singular()
            ),
        );
        return None;
    }
    parsed
}

/// The pod template: labels the selector matches, `restartPolicy: Always`, the pod spec.
fn validate_template(
    spec: &Value,
    selector: Option<&netverdict_engine::LabelSelector>,
    errors: &mut Errors,
) {
    let template = &spec["template"];
    let labels: netverdict_engine::Labels = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    if let Some(selector) = selector
        && !selector.matches(&labels)
    {
        errors.push(
            "spec.template.metadata.labels",
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                go_map(template.pointer("/metadata/labels"))
            ),
        );
    }
    for (key, value) in &labels {
        errors.invalid(
            "spec.template.metadata.labels",
            &json!(key),
            netverdict_engine::validate_label_key(key),
        );
        errors.invalid(
            &format!("spec.template.metadata.labels[{key}]"),
            &json!(value),
            netverdict_engine::validate_label_value(value),
        );
    }
    let policy = template
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always");
    if policy != "Always" {
        errors.push(
            "spec.template.spec.restartPolicy",
            format!("Unsupported value: \"{policy}\": supported values: \"Always\""),
        );
    }
    let mut pod_errors = Errors::default();
    validate_pod_spec(&template["spec"], &mut pod_errors);
    for (field, message) in pod_errors.0 {
        let field = field.strip_prefix("spec.").unwrap_or(&field);
        errors.push(format!("spec.template.spec.{field}"), message);
    }
}

fn validate_deployment_strategy(spec: &Value, errors: &mut Errors) {
    let strategy = &spec["strategy"];
    let kind = strategy["type"].as_str().unwrap_or_default();
    match kind {
        "Recreate" if !strategy["rollingUpdate"].is_null() => errors.push(
            "spec.strategy.rollingUpdate",
            "Forbidden: may not be specified when strategy `type` is 'Recreate'",
        ),
        "Recreate" => {}
        "RollingUpdate" => {
            let rolling = &strategy["rollingUpdate"];
            let surge = validate_int_or_percent(
                "spec.strategy.rollingUpdate.maxSurge",
                &rolling["maxSurge"],
                errors,
            );
            let unavailable = validate_int_or_percent(
                "spec.strategy.rollingUpdate.maxUnavailable",
                &rolling["maxUnavailable"],
                errors,
            );
            if surge == Some(0) && unavailable == Some(0) {
                errors.push(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    "Invalid value: 0: may not be 0 when `maxSurge` is 0",
                );
            }
        }
        other => errors.push(
            "spec.strategy.type",
            format!(
                "Unsupported value: \"{other}\": supported values: \"Recreate\", \"RollingUpdate\""
            ),
        ),
    }
    let deadline = spec["progressDeadlineSeconds"].as_i64();
    let min_ready = spec["minReadySeconds"].as_i64().unwrap_or(0);
    if let Some(deadline) = deadline
        && deadline <= min_ready
    {
        errors.push(
            "spec.progressDeadlineSeconds",
            format!("Invalid value: {deadline}: must be greater than minReadySeconds"),
        );
    }
}

/// An int or a percentage (`25%`) of at most 100%; returns the number given (of either form).
fn validate_int_or_percent(field: &str, value: &Value, errors: &mut Errors) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        if n < 0 {
            errors.push(
                field,
                format!("Invalid value: {n}: must be greater than or equal to 0"),
            );
        }
        return Some(n);
    }
    let text = value.as_str()?;
    let Some(percent) = text.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
        errors.push(
            field,
            format!("Invalid value: \"{text}\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"),
        );
        return None;
    };
    if percent > 100 {
        errors.push(
            field,
            format!("Invalid value: \"{text}\": must not be greater than 100%"),
        );
    }
    Some(percent)
}

/// The update rules of the main resource: the selector is immutable, a StatefulSet changes
/// only what it may, a DaemonSet's template generation counts template changes.
pub(crate) fn check_update(
    resource: Resource,
    old: &Value,
    new: &mut Value,
) -> Result<(), ApiError> {
    if !is_workload(resource) {
        return Ok(());
    }
    let name = old
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut causes = Vec::new();
    let old_selector = old.pointer("/spec/selector").cloned().unwrap_or_default();
    if new.pointer("/spec/selector") != Some(&old_selector) {
        let shown = new.pointer("/spec/selector").cloned().unwrap_or_default();
        causes.push((
            "spec.selector".to_owned(),
            format!("Invalid value: {}: field is immutable", go_selector(&shown)),
        ));
    }
    if resource == Resource::StatefulSets {
        let fixed = |spec: &Value| {
            let mut spec = spec.clone();
            if let Some(map) = spec.as_object_mut() {
                for field in [
                    "replicas",
                    "ordinals",
                    "template",
                    "updateStrategy",
                    "persistentVolumeClaimRetentionPolicy",
                    "minReadySeconds",
                ] {
                    map.remove(field);
                }
            }
            spec
        };
        if fixed(&old["spec"]) != fixed(&new["spec"]) {
            causes.push((
                "spec".to_owned(),
                "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden".to_owned(),
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(resource.kind(), name, causes));
    }
    if resource == Resource::DaemonSets {
        let generation: i64 = old["metadata"]["annotations"][TEMPLATE_GENERATION]
            .as_str()
            .and_then(|g| g.parse().ok())
            .unwrap_or(1);
        let changed = old.pointer("/spec/template") != new.pointer("/spec/template");
        let next = if changed { generation + 1 } else { generation };
        if !new["metadata"]["annotations"].is_object() {
            new["metadata"]["annotations"] = json!({});
        }
        new["metadata"]["annotations"][TEMPLATE_GENERATION] = json!(next.to_string());
    }
    Ok(())
}

/// Whether an update through the API bumps `metadata.generation` besides a spec change: for
/// Deployments an annotation change does too (their annotations are copied to their
/// ReplicaSets).
pub(crate) fn annotations_bump_generation(resource: Resource, old: &Value, new: &Value) -> bool {
    resource == Resource::Deployments
        && old.pointer("/metadata/annotations") != new.pointer("/metadata/annotations")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(selector: Value, labels: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"selector": selector, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}})
    }

    fn errors_of(resource: Resource, mut object: Value) -> Vec<(String, String)> {
        apply_defaults(resource, &mut object);
        let mut errors = Errors::default();
        validate(resource, &object, &mut errors);
        errors.0
    }

    #[test]
    fn defaults_are_those_of_apps_v1() {
        let mut d = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        apply_defaults(Resource::Deployments, &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
        // What admission sets on pods is not set on templates.
        assert!(pod.get("serviceAccountName").is_none());
        let mut ds = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        apply_defaults(Resource::DaemonSets, &mut ds);
        assert_eq!(
            ds["spec"]["updateStrategy"]["rollingUpdate"],
            json!({"maxUnavailable": 1, "maxSurge": 0})
        );
        assert_eq!(ds["metadata"]["annotations"][TEMPLATE_GENERATION], "1");
        let mut sts = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        apply_defaults(Resource::StatefulSets, &mut sts);
        assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            sts["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
    }

    #[test]
    fn the_selector_must_match_the_template_labels() {
        let errors = errors_of(
            Resource::Deployments,
            deployment(
                json!({"matchLabels": {"app": "web"}}),
                json!({"app": "api", "tier": "x"}),
            ),
        );
        assert_eq!(
            errors,
            [(
                "spec.template.metadata.labels".to_owned(),
                "Invalid value: map[string]string{\"app\":\"api\", \"tier\":\"x\"}: `selector` does not match template `labels`".to_owned()
            )]
        );
        let empty = errors_of(
            Resource::ReplicaSets,
            deployment(json!({}), json!({"app": "web"})),
        );
        assert_eq!(empty[0].0, "spec.selector");
        assert!(
            empty[0]
                .1
                .ends_with("empty selector is invalid for replicaset"),
            "{empty:?}"
        );
        let missing = json!({"metadata": {"name": "web"}, "spec": {"template": {"metadata": {"labels": {"app": "web"}}}}});
        let err = require_selector(Resource::Deployments, &missing).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message
                .starts_with("Deployment \"web\" is invalid: [spec.selector: Required value, "),
            "{}",
            err.message
        );
    }

    #[test]
    fn templates_must_restart_always_and_strategies_must_hold() {
        let mut d = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}});
        let errors = errors_of(Resource::Deployments, d);
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.template.spec.restartPolicy",
                "spec.strategy.rollingUpdate.maxUnavailable"
            ]
        );
    }

    #[test]
    fn selectors_are_immutable_and_daemon_set_templates_count_generations() {
        let mut old = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        apply_defaults(Resource::DaemonSets, &mut old);
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
        check_update(Resource::DaemonSets, &old, &mut new).unwrap();
        assert_eq!(new["metadata"]["annotations"][TEMPLATE_GENERATION], "2");
        let mut moved = old.clone();
        moved["spec"]["selector"] = json!({"matchLabels": {"app": "api"}});
        let err = check_update(Resource::DaemonSets, &old, &mut moved).unwrap_err();
        assert!(err.message.contains("spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"api\"}"), "{}", err.message);
        assert!(
            err.message.ends_with("field is immutable"),
            "{}",
            err.message
        );
    }
}
