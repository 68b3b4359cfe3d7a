//! What a run may do, asked before anything is created: every API request netverdict makes is
//! one [`Need`] here, checked with a SelfSubjectAccessReview (which every authenticated identity
//! may create), so that a run refused by RBAC stops before setup with the exact rule to add.
//!
//! The needs are the one list the manifests `deploy/rbac/cluster.yaml` and
//! `deploy/rbac/namespaced.yaml` (and so `deploy/job.yaml`) grant; a test keeps them in step.

use std::collections::BTreeSet;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};

use super::failure::Failure;
use crate::k8s::{Api, Client, Namespace, PostParams};

/// One request kind the run makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Need {
    pub(crate) verb: &'static str,
    /// API group: `""` for the core group.
    pub(crate) group: &'static str,
    /// The resource, with its subresource after a slash (`pods/exec`).
    pub(crate) resource: &'static str,
    /// `None` for a cluster-scoped resource.
    pub(crate) namespace: Option<String>,
    /// Why the run needs it.
    pub(crate) why: &'static str,
    /// Without it the run cannot work; otherwise it degrades (with [`Need::without`]).
    pub(crate) required: bool,
    /// What the run does without it, for an optional need.
    pub(crate) without: &'static str,
}

impl Need {
    /// `create pods/exec in namespace ddi`.
    pub(crate) fn describe(&self) -> String {
        describe(
            self.verb,
            self.group,
            self.resource,
            self.namespace.as_deref(),
        )
    }

    /// The RBAC rule that grants it, and where it goes.
    pub(crate) fn rule(&self) -> String {
        let rule = format!(
            "{{apiGroups: [\"{}\"], resources: [\"{}\"], verbs: [\"{}\"]}}",
            self.group, self.resource, self.verb
        );
        match &self.namespace {
            Some(namespace) => format!("add the rule {rule} to a Role bound in {namespace}"),
            None => format!("add the rule {rule} to a ClusterRole bound with a ClusterRoleBinding"),
        }
    }
}

/// `create pods/exec in namespace ddi`, `delete networkpolicies.networking.k8s.io in namespace
/// ddi`, `delete namespaces (cluster-scoped)`.
fn describe(verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> String {
    let resource = if group.is_empty() {
        resource.to_owned()
    } else {
        let (name, sub) = resource.split_once('/').unwrap_or((resource, ""));
        let sub = if sub.is_empty() {
            String::new()
        } else {
            format!("/{sub}")
        };
        format!("{name}.{group}{sub}")
    };
    match namespace {
        Some(namespace) => format!("{verb} {resource} in namespace {namespace}"),
        None => format!("{verb} {resource} (cluster-scoped)"),
    }
}

/// Where the server keeps Service endpoints, which decides the read the run needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndpointsRead {
    Slices,
    Endpoints,
}

/// What the run needs in its namespaces: the same in each (the run looks for others' pods,
/// Services and policies in every one of them, and cleans up in every one).
pub(crate) fn namespace_needs(namespace: &str, endpoints: EndpointsRead) -> Vec<Need> {
    let need = |verb, group, resource, why| Need {
        verb,
        group,
        resource,
        namespace: Some(namespace.to_owned()),
        why,
        required: true,
        without: "",
    };
    let mut needs = Vec::new();
    for (verb, why) in [
        ("create", "create probe pods"),
        (
            "get",
            "see whether a pod is still there, read one that already exists",
        ),
        (
            "list",
            "find others' pods in the namespace, and the run's own at cleanup",
        ),
        ("watch", "wait for probe pods to start"),
        ("delete", "remove probe pods at cleanup"),
    ] {
        needs.push(need(verb, "", "pods", why));
    }
    // kube-rs execs over a WebSocket: a GET, which Kubernetes 1.35 also authorizes as create.
    needs.push(need(
        "create",
        "",
        "pods/exec",
        "run probes in the probe pods",
    ));
    needs.push(need(
        "get",
        "",
        "pods/exec",
        "run probes over a WebSocket, which is a GET",
    ));
    for (verb, why) in [
        ("create", "create the scenario's Services"),
        ("get", "read a Service that already exists"),
        (
            "list",
            "find others' Services in the namespace, and the run's own at cleanup",
        ),
        ("delete", "remove the run's Services at cleanup"),
    ] {
        needs.push(need(verb, "", "services", why));
    }
    for (verb, why) in [
        ("create", "apply the scenario's NetworkPolicies"),
        ("get", "read a policy that already exists"),
        (
            "list",
            "predict from every policy of the namespace, and clean up the run's own",
        ),
        ("delete", "remove the run's NetworkPolicies at cleanup"),
    ] {
        needs.push(need(verb, "networking.k8s.io", "networkpolicies", why));
    }
    needs.push(match endpoints {
        EndpointsRead::Slices => need(
            "list",
            "discovery.k8s.io",
            "endpointslices",
            "wait until Services have ready endpoints",
        ),
        EndpointsRead::Endpoints => need(
            "get",
            "",
            "endpoints",
            "wait until Services have ready endpoints",
        ),
    });
    needs.push(Need {
        required: false,
        without: "a pod that cannot start is reported without its events",
        ..need("list", "", "events", "explain why a probe pod cannot start")
    });
    needs
}

/// What the run needs cluster-wide: reading its namespaces (optional: without it they are
/// assumed to exist and their labels are the scenario's), and creating and deleting those that
/// do not exist (`missing`).
pub(crate) fn cluster_needs(missing: &[String]) -> Vec<Need> {
    let need = |verb, why| Need {
        verb,
        group: "",
        resource: "namespaces",
        namespace: None,
        why,
        required: true,
        without: "",
    };
    let mut needs = vec![Need {
        required: false,
        without: "the namespaces are assumed to exist, and predictions use the scenario's namespace labels",
        ..need(
            "get",
            "see whether the scenario's namespaces exist, read their labels",
        )
    }];
    if !missing.is_empty() {
        needs.push(need(
            "create",
            "create the scenario's namespaces that do not exist",
        ));
        needs.push(need("delete", "remove the namespaces the run created"));
    }
    needs
}

/// What `--results-configmap` needs in the results namespace: creating the run's ConfigMap,
/// listing and deleting the series' older ones.
pub(crate) fn results_needs(namespace: &str) -> Vec<Need> {
    [
        (
            "create",
            "store the run's reports in a ConfigMap (--results-configmap)",
        ),
        (
            "list",
            "find the older results ConfigMaps of the series (--results-keep)",
        ),
        (
            "delete",
            "delete the results ConfigMaps beyond --results-keep",
        ),
    ]
    .into_iter()
    .map(|(verb, why)| Need {
        verb,
        group: "",
        resource: "configmaps",
        namespace: Some(namespace.to_owned()),
        why,
        required: true,
        without: "",
    })
    .collect()
}

/// `verb` on `resource` (in `namespace`, or cluster-wide) in the manifests' words, as
/// [`Need::describe`] says it: `delete pods in namespace ddi`.
pub(crate) fn permission(verb: &str, resource: &str, namespace: Option<&str>) -> String {
    let needs = match namespace {
        Some(namespace) => namespace_needs(namespace, EndpointsRead::Slices),
        None => cluster_needs(&[String::new()]),
    };
    let group = needs
        .iter()
        .find(|need| need.resource == resource)
        .map_or("", |need| need.group);
    describe(verb, group, resource, namespace)
}

/// One need and whether the identity has it.
#[derive(Clone, Debug)]
pub(crate) struct Checked {
    pub(crate) need: Need,
    pub(crate) allowed: bool,
}

/// Why the permissions could not be checked.
#[derive(Debug, thiserror::Error)]
#[error("cannot ask the API server what this identity may do (SelfSubjectAccessReview): {}", Failure::of(.source))]
pub(crate) struct ReviewError {
    source: kube::Error,
}

impl ReviewError {
    /// The server refused the review itself (a cluster that took `system:basic-user` away).
    pub(crate) fn is_forbidden(&self) -> bool {
        matches!(&self.source, kube::Error::Api(status) if status.code == 403)
    }
}

/// Every need of a run in `namespaces` (and of its results ConfigMaps in `results`, when it
/// writes them), checked. A namespace that cannot be looked at (no `get namespaces`) is taken to
/// exist.
///
/// # Errors
/// A SelfSubjectAccessReview the server refuses or fails.
pub(crate) async fn check_run(
    client: &Client,
    namespaces: &BTreeSet<String>,
    results: Option<&str>,
) -> Result<Vec<Checked>, ReviewError> {
    let endpoints = match super::endpoints::endpoint_source(client).await {
        Ok(super::endpoints::EndpointSource::Endpoints) => EndpointsRead::Endpoints,
        _ => EndpointsRead::Slices,
    };
    let api = Api::<Namespace>::all(client.clone());
    let mut missing = Vec::new();
    for namespace in namespaces {
        if let Ok(None) = api.get_opt(namespace).await {
            missing.push(namespace.clone());
        }
    }
    let mut needs = cluster_needs(&missing);
    for namespace in namespaces {
        needs.extend(namespace_needs(namespace, endpoints));
    }
    needs.extend(results.into_iter().flat_map(results_needs));
    let mut checked = Vec::with_capacity(needs.len());
    for need in needs {
        checked.push(review(client, need).await?);
    }
    Ok(checked)
}

async fn review(client: &Client, need: Need) -> Result<Checked, ReviewError> {
    let (resource, subresource) = match need.resource.split_once('/') {
        Some((resource, sub)) => (resource, Some(sub.to_owned())),
        None => (need.resource, None),
    };
    let request = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(need.group.to_owned()),
                resource: Some(resource.to_owned()),
                subresource,
                verb: Some(need.verb.to_owned()),
                namespace: need.namespace.clone(),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &request)
        .await
        .map_err(|source| ReviewError { source })?;
    let status = answer.status.unwrap_or_default();
    Ok(Checked {
        need,
        allowed: status.allowed && !status.denied.unwrap_or(false),
    })
}

/// The required needs that are not granted.
pub(crate) fn missing(checked: &[Checked]) -> Vec<&Checked> {
    checked
        .iter()
        .filter(|c| !c.allowed && c.need.required)
        .collect()
}

/// The optional needs that are not granted: the run goes on without them.
pub(crate) fn degraded(checked: &[Checked]) -> Vec<&Checked> {
    checked
        .iter()
        .filter(|c| !c.allowed && !c.need.required)
        .collect()
}

/// The message of a run refused for lack of permissions: one line per missing need with its rule.
pub(crate) fn refusal(missing: &[&Checked]) -> String {
    let mut text = format!(
        "this identity lacks {} permission(s) the run needs (nothing was created):",
        missing.len()
    );
    for checked in missing {
        text.push_str(&format!(
            "\n  missing: {} ({}): {}",
            checked.need.describe(),
            checked.need.why,
            checked.need.rule()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_need_names_its_resource_as_kubectl_does_and_its_rule() {
        let needs = namespace_needs("ddi", EndpointsRead::Slices);
        let exec = needs
            .iter()
            .find(|n| n.resource == "pods/exec" && n.verb == "create")
            .unwrap();
        assert_eq!(exec.describe(), "create pods/exec in namespace ddi");
        assert_eq!(
            exec.rule(),
            "add the rule {apiGroups: [\"\"], resources: [\"pods/exec\"], verbs: [\"create\"]} to a Role bound in ddi"
        );
        let policies = needs
            .iter()
            .find(|n| n.resource == "networkpolicies" && n.verb == "create")
            .unwrap();
        assert_eq!(
            policies.describe(),
            "create networkpolicies.networking.k8s.io in namespace ddi"
        );
        let namespaces = cluster_needs(&["ddi".to_owned()]);
        assert_eq!(
            namespaces[1].describe(),
            "create namespaces (cluster-scoped)"
        );
        assert!(namespaces[1].rule().ends_with("ClusterRoleBinding"));
    }

    #[test]
    fn a_refused_request_is_named_as_the_manifests_name_it() {
        assert_eq!(
            permission("delete", "pods", Some("ddi")),
            "delete pods in namespace ddi"
        );
        assert_eq!(
            permission("delete", "networkpolicies", Some("ddi")),
            "delete networkpolicies.networking.k8s.io in namespace ddi"
        );
        assert_eq!(
            permission("delete", "namespaces", None),
            "delete namespaces (cluster-scoped)"
        );
    }

    #[test]
    fn namespaces_are_created_and_deleted_only_when_missing() {
        let verbs = |needs: Vec<Need>| needs.iter().map(|n| n.verb).collect::<Vec<_>>();
        assert_eq!(verbs(cluster_needs(&[])), ["get"]);
        assert_eq!(
            verbs(cluster_needs(&["a".to_owned()])),
            ["get", "create", "delete"]
        );
        assert!(!cluster_needs(&[])[0].required);
    }

    /// The manifests grant exactly what the run needs: every need is in them, and nothing else.
    #[test]
    fn the_manifests_grant_every_need() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac");
        for (file, missing) in [
            ("namespaced.yaml", vec![]),
            ("cluster.yaml", vec!["x".to_owned()]),
        ] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let granted = granted_rules(&text);
            let mut needs = cluster_needs(&missing);
            needs.extend(namespace_needs("n", EndpointsRead::Slices));
            needs.extend(namespace_needs("n", EndpointsRead::Endpoints));
            needs.extend(results_needs("netverdict"));
            for need in needs {
                assert!(
                    granted.contains(&(
                        need.group.to_owned(),
                        need.resource.to_owned(),
                        need.verb.to_owned()
                    )),
                    "{file} does not grant {}",
                    need.describe()
                );
            }
        }
    }

    /// `(group, resource, verb)` of every rule of a manifest written one rule per resource as
    /// `apiGroups: [..]`, `resources: [..]`, `verbs: [..]` lines.
    fn granted_rules(text: &str) -> BTreeSet<(String, String, String)> {
        let list = |line: &str| -> Vec<String> {
            let inner = line.split_once('[').map_or("", |(_, rest)| rest);
            let inner = inner.split_once(']').map_or("", |(inside, _)| inside);
            inner
                .split(',')
                .map(|item| item.trim().trim_matches('"').to_owned())
                .filter(|item| !item.is_empty() || inner.contains("\"\""))
                .collect()
        };
        let mut granted = BTreeSet::new();
        let (mut groups, mut resources) = (Vec::new(), Vec::new());
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("- apiGroups:") {
                groups = list(rest);
            } else if let Some(rest) = line.strip_prefix("resources:") {
                resources = list(rest);
            } else if let Some(rest) = line.strip_prefix("verbs:") {
                for group in &groups {
                    for resource in &resources {
                        for verb in list(rest) {
                            granted.insert((group.clone(), resource.clone(), verb));
                        }
                    }
                }
            }
        }
        granted
    }
}
