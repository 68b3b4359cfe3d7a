//! What a run may do, asked before anything is created: every API request netverdict makes is
//! one [`Need`] here, checked with a SelfSubjectAccessReview (which every authenticated identity
//! may create), so that a run refused by RBAC stops before setup with the exact rule to add.
//!
//! The needs are the one list the manifests `deploy/rbac/cluster.yaml`,
//! `deploy/rbac/namespaced.yaml` (and so `deploy/job.yaml`), `deploy/rbac/live.yaml` and
//! `deploy/rbac/results.yaml` grant; a test keeps them in step.

use std::collections::BTreeSet;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};

use super::failure::Failure;
use crate::k8s::{Api, Client, Namespace, PostParams};
use crate::scenario::expect::DNS_NAMESPACE;

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
    /// Its namespace does not exist yet: it is created by the run (or the canary), so no Role
    /// can be bound in it beforehand.
    pub(crate) new_namespace: bool,
}

impl Need {
    /// `verb` on `resource` in `namespace`, without which the run cannot work.
    fn required(
        verb: &'static str,
        group: &'static str,
        resource: &'static str,
        namespace: &str,
        why: &'static str,
    ) -> Need {
        Need {
            verb,
            group,
            resource,
            namespace: Some(namespace.to_owned()),
            why,
            required: true,
            without: "",
            new_namespace: false,
        }
    }

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
            Some(namespace) if !self.new_namespace => {
                format!("add the rule {rule} to a Role bound in {namespace}")
            }
            Some(namespace) => format!(
                "add the rule {rule} to a ClusterRole bound with a ClusterRoleBinding (no Role can be bound in {namespace} before it is created)"
            ),
            None => format!("add the rule {rule} to a ClusterRole bound with a ClusterRoleBinding"),
        }
    }
}

/// `create pods/exec in namespace ddi`, `delete networkpolicies.networking.k8s.io in namespace
/// ddi`, `delete namespaces (cluster-scoped)`.
fn describe(verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> String {
    let resource = qualified(group, resource);
    match namespace {
        Some(namespace) => format!("{verb} {resource} in namespace {namespace}"),
        None => format!("{verb} {resource} (cluster-scoped)"),
    }
}

/// A resource with its group, as kubectl names it: `pods/exec`,
/// `networkpolicies.networking.k8s.io`.
fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        return resource.to_owned();
    }
    match resource.split_once('/') {
        Some((name, sub)) => format!("{name}.{group}/{sub}"),
        None => format!("{resource}.{group}"),
    }
}

/// Where the server keeps Service endpoints, which decides the read the run needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndpointsRead {
    Slices,
    Endpoints,
}

/// `(verb, group, resource, why)` of what the run needs in each of its namespaces, but the
/// endpoints it reads (which depend on the server) and events.
const IN_EACH_NAMESPACE: [(&str, &str, &str, &str); 15] = [
    ("create", "", "pods", "create probe pods"),
    (
        "get",
        "",
        "pods",
        "see whether a pod is still there, read one that already exists",
    ),
    (
        "list",
        "",
        "pods",
        "find others' pods in the namespace, and the run's own at cleanup",
    ),
    ("watch", "", "pods", "wait for probe pods to start"),
    ("delete", "", "pods", "remove probe pods at cleanup"),
    // kube-rs execs over a WebSocket: a GET, which Kubernetes 1.35 also authorizes as create.
    ("create", "", "pods/exec", "run probes in the probe pods"),
    (
        "get",
        "",
        "pods/exec",
        "run probes over a WebSocket, which is a GET",
    ),
    ("create", "", "services", "create the scenario's Services"),
    ("get", "", "services", "read a Service that already exists"),
    (
        "list",
        "",
        "services",
        "find others' Services in the namespace, and the run's own at cleanup",
    ),
    (
        "delete",
        "",
        "services",
        "remove the run's Services at cleanup",
    ),
    (
        "create",
        "networking.k8s.io",
        "networkpolicies",
        "apply the scenario's NetworkPolicies",
    ),
    (
        "get",
        "networking.k8s.io",
        "networkpolicies",
        "read a policy that already exists",
    ),
    (
        "list",
        "networking.k8s.io",
        "networkpolicies",
        "predict from every policy of the namespace, and clean up the run's own",
    ),
    (
        "delete",
        "networking.k8s.io",
        "networkpolicies",
        "remove the run's NetworkPolicies at cleanup",
    ),
];

/// What the run needs in its namespaces: the same in each (the run looks for others' pods,
/// Services and policies in every one of them, and cleans up in every one).
pub(crate) fn namespace_needs(namespace: &str, endpoints: EndpointsRead) -> Vec<Need> {
    let need = |verb, group, resource, why| Need::required(verb, group, resource, namespace, why);
    let mut needs: Vec<Need> = IN_EACH_NAMESPACE
        .iter()
        .map(|&(verb, group, resource, why)| need(verb, group, resource, why))
        .collect();
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
    needs.push(Need {
        required: false,
        without: "a pod that cannot start or dies is reported without its last log lines",
        ..need(
            "get",
            "",
            "pods/log",
            "show the last log lines of a probe pod that cannot start or died",
        )
    });
    needs
}

/// What a scenario does in a namespace it does not create, which decides what a run needs there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LiveUse {
    /// It runs mimics there.
    pub(crate) mimics: bool,
    /// The kinds of workload its live targets and mimics name there.
    pub(crate) kinds: BTreeSet<crate::scenario::WorkloadKind>,
    /// It probes a Service deployed there.
    pub(crate) services: bool,
}

/// What the run needs in a namespace it does not create (`deploy/rbac/live.yaml`): reading the
/// deployed pods, workloads, Services and policies, and for mimics creating probe pods and the
/// ConfigMap that owns them.
pub(crate) fn live_needs(namespace: &str, uses: &LiveUse, endpoints: EndpointsRead) -> Vec<Need> {
    use crate::scenario::WorkloadKind;
    let need = |verb, group, resource, why| Need::required(verb, group, resource, namespace, why);
    let mut needs = vec![
        need(
            "list",
            "",
            "pods",
            "find the deployed pods that live targets and mimics name",
        ),
        need(
            "list",
            "networking.k8s.io",
            "networkpolicies",
            "predict from the policies deployed there",
        ),
    ];
    for kind in &uses.kinds {
        needs.extend(match kind {
            WorkloadKind::Deployment => vec![
                need(
                    "get",
                    "apps",
                    "deployments",
                    "read a Deployment's pod template",
                ),
                need(
                    "list",
                    "apps",
                    "replicasets",
                    "find the pods of a Deployment, through its ReplicaSets",
                ),
            ],
            WorkloadKind::StatefulSet => vec![need(
                "get",
                "apps",
                "statefulsets",
                "read a StatefulSet's pod template",
            )],
            WorkloadKind::DaemonSet => vec![need(
                "get",
                "apps",
                "daemonsets",
                "read a DaemonSet's pod template",
            )],
            WorkloadKind::Pod => Vec::new(),
        });
    }
    if uses.services {
        needs.push(need("get", "", "services", "read a deployed Service"));
        needs.push(match endpoints {
            EndpointsRead::Slices => need(
                "list",
                "discovery.k8s.io",
                "endpointslices",
                "wait until a deployed Service has ready endpoints",
            ),
            EndpointsRead::Endpoints => need(
                "get",
                "",
                "endpoints",
                "wait until a deployed Service has ready endpoints",
            ),
        });
    }
    if uses.mimics {
        needs.extend(mimic_needs(namespace));
    }
    needs
}

/// What mimics need in their namespace: their pods, exec in them, the ConfigMap that owns them,
/// and the lists that find other runs' objects and the run's own at cleanup.
fn mimic_needs(namespace: &str) -> Vec<Need> {
    let need = |verb, group, resource, why| Need::required(verb, group, resource, namespace, why);
    vec![
        need("create", "", "pods", "create mimic pods"),
        need("get", "", "pods", "see whether a mimic is still there"),
        need("watch", "", "pods", "wait for mimics to start"),
        need("delete", "", "pods", "remove mimics at cleanup"),
        need("create", "", "pods/exec", "run probes in the mimics"),
        need(
            "get",
            "",
            "pods/exec",
            "run probes over a WebSocket, which is a GET",
        ),
        need(
            "list",
            "",
            "services",
            "find others' Services in the namespace, and the run's own at cleanup",
        ),
        need(
            "create",
            "",
            "configmaps",
            "create the ConfigMap that owns the run's mimics",
        ),
        need(
            "list",
            "",
            "configmaps",
            "find the run's ConfigMap at cleanup",
        ),
        need(
            "delete",
            "",
            "configmaps",
            "remove the run's ConfigMap at cleanup",
        ),
        Need {
            required: false,
            without: "where the OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift), creating a mimic is refused",
            ..need(
                "update",
                "",
                "configmaps/finalizers",
                "set blockOwnerDeletion on the mimics' reference to their ConfigMap",
            )
        },
        Need {
            required: false,
            without: "a mimic that cannot start is reported without its events",
            ..need("list", "", "events", "explain why a mimic cannot start")
        },
        Need {
            required: false,
            without: "a mimic that cannot start or dies is reported without its last log lines",
            ..need(
                "get",
                "",
                "pods/log",
                "show the last log lines of a mimic that cannot start or died",
            )
        },
    ]
}

/// What the run needs cluster-wide: reading its namespaces, and creating and deleting those that
/// do not exist (`missing`). Reading them is optional (without it they are assumed to exist and
/// their labels are the scenario's) unless the identity may create namespaces (`creates`): it
/// then could not tell which of them to create.
pub(crate) fn cluster_needs(missing: &[String], creates: bool) -> Vec<Need> {
    let need = |verb, why| Need {
        verb,
        group: "",
        resource: "namespaces",
        namespace: None,
        why,
        required: true,
        without: "",
        new_namespace: false,
    };
    let mut needs = vec![if creates {
        need(
            "get",
            "see whether the scenario's namespaces exist before creating them, read their labels",
        )
    } else {
        Need {
            required: false,
            without: "the namespaces are assumed to exist, and predictions use the scenario's namespace labels",
            ..need(
                "get",
                "see whether the scenario's namespaces exist, read their labels",
            )
        }
    }];
    if !missing.is_empty() {
        needs.push(create_namespaces());
        needs.push(need("delete", "remove the namespaces the run created"));
    }
    needs
}

fn create_namespaces() -> Need {
    Need {
        verb: "create",
        group: "",
        resource: "namespaces",
        namespace: None,
        why: "create the scenario's namespaces that do not exist",
        required: true,
        without: "",
        new_namespace: false,
    }
}

/// What predictions read of the cluster DNS when its namespace is not one of the run's: its
/// pod's labels and address, and the policies of its namespace (they decide whether probe pods
/// may reach it). Both optional.
pub(crate) fn dns_needs() -> Vec<Need> {
    let without = "predictions take the cluster DNS to be the pod kube-system/coredns labelled k8s-app=kube-dns, with no policy of kube-system selecting it";
    let need = |group, resource, why| Need {
        required: false,
        without,
        ..Need::required("list", group, resource, DNS_NAMESPACE, why)
    };
    vec![
        need(
            "",
            "pods",
            "read the cluster DNS pod's labels and address for predictions",
        ),
        need(
            "networking.k8s.io",
            "networkpolicies",
            "predict DNS from the policies of the cluster DNS's namespace",
        ),
    ]
}

/// What the preflight canary asks for in `namespace` (its pods and policy, found again by label
/// at its cleanup, which looks for Services too) and, when it makes that namespace itself
/// (`creates`), cluster-wide.
pub(crate) fn canary_needs(namespace: &str, creates: bool) -> Vec<Need> {
    let need = |verb, group, resource, why| Need {
        new_namespace: creates,
        ..Need::required(verb, group, resource, namespace, why)
    };
    let mut needs = canary_namespace_needs(creates);
    for (verb, why) in [
        ("create", "create the canary's two pods"),
        (
            "get",
            "name the owner of a pod that has a canary pod's name",
        ),
        ("list", "find the canary's pods at its cleanup"),
        ("watch", "wait for the canary's pods to start"),
        ("delete", "remove the canary's pods"),
    ] {
        needs.push(need(verb, "", "pods", why));
    }
    needs.push(need(
        "create",
        "",
        "pods/exec",
        "probe from the canary's client pod",
    ));
    needs.push(need(
        "get",
        "",
        "pods/exec",
        "probe over a WebSocket, which is a GET",
    ));
    needs.push(need(
        "list",
        "",
        "services",
        "look for Services of the canary at its cleanup",
    ));
    for (verb, why) in [
        ("create", "apply the canary's default-deny"),
        (
            "get",
            "name the owner of a policy that has the canary policy's name",
        ),
        ("list", "find the canary's policy at its cleanup"),
        ("delete", "remove the canary's policy"),
    ] {
        needs.push(need(verb, "networking.k8s.io", "networkpolicies", why));
    }
    needs.push(Need {
        required: false,
        without: "a canary pod that cannot start is reported without its events",
        ..need(
            "list",
            "",
            "events",
            "explain why a canary pod cannot start",
        )
    });
    needs.push(Need {
        required: false,
        without: "a canary pod that cannot start is reported without its last log lines",
        ..need(
            "get",
            "",
            "pods/log",
            "show the last log lines of a canary pod that cannot start",
        )
    });
    needs
}

/// What the canary needs of namespaces: making, seeing and removing its own (`creates`), or
/// seeing that the one it is given exists (optional).
fn canary_namespace_needs(creates: bool) -> Vec<Need> {
    let cluster = |verb, why| Need {
        verb,
        group: "",
        resource: "namespaces",
        namespace: None,
        why,
        required: true,
        without: "",
        new_namespace: false,
    };
    if creates {
        return vec![
            cluster("create", "create the canary's namespace"),
            cluster("get", "see the canary's namespace, wait until it is gone"),
            cluster("delete", "remove the canary's namespace"),
        ];
    }
    vec![Need {
        required: false,
        without: "a missing namespace fails the canary's first create, and its Pod Security level is not read",
        ..cluster(
            "get",
            "see that the canary's namespace exists, read its labels",
        )
    }]
}

/// Whether this identity may give a run's check of NetworkPolicy enforcement (made only when a
/// deny the policies deny was not blocked) `namespace`, a namespace of its own: everything the
/// preflight canary needs when it creates its namespace ([`canary_needs`]); `false` also when
/// it cannot ask. Without it the check goes into one of the run's namespaces.
pub(crate) async fn canary_allowed(client: &Client, namespace: &str) -> bool {
    for need in canary_needs(namespace, true) {
        if !need.required {
            continue;
        }
        match review(client, need).await {
            Ok(checked) if checked.allowed => {}
            _ => return false,
        }
    }
    true
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
    .map(|(verb, why)| Need::required(verb, "", "configmaps", namespace, why))
    .collect()
}

/// `verb` on `resource` (in `namespace`, or cluster-wide) in the manifests' words, as
/// [`Need::describe`] says it: `delete pods in namespace ddi`.
pub(crate) fn permission(verb: &str, resource: &str, namespace: Option<&str>) -> String {
    let group = namespace_needs("", EndpointsRead::Slices)
        .iter()
        .find(|need| need.resource == resource)
        .map_or("", |need| need.group);
    match namespace {
        // A namespaced resource asked for across namespaces (`netverdict cleanup`).
        None if resource != "namespaces" => {
            format!("{verb} {} in all namespaces", qualified(group, resource))
        }
        _ => describe(verb, group, resource, namespace),
    }
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

/// Every need of a run in `namespaces` (those its scenarios create, or use as their own), in
/// the namespaces of deployed workloads it reaches (`live`) and of its results ConfigMaps
/// (`results`, when it writes them), checked. A namespace that cannot be looked at (no `get
/// namespaces`) is taken to exist; but an identity that may create namespaces must be able to
/// look.
///
/// # Errors
/// A SelfSubjectAccessReview the server refuses or fails.
pub(crate) async fn check_run(
    client: &Client,
    namespaces: &BTreeSet<String>,
    live: &std::collections::BTreeMap<String, LiveUse>,
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
    let creates = review(client, create_namespaces()).await?.allowed;
    let mut needs = cluster_needs(&missing, creates);
    for namespace in namespaces {
        let created = missing.contains(namespace);
        needs.extend(
            namespace_needs(namespace, endpoints)
                .into_iter()
                .map(|need| Need {
                    new_namespace: created,
                    ..need
                }),
        );
    }
    for (namespace, uses) in live {
        needs.extend(live_needs(namespace, uses, endpoints));
    }
    if !namespaces.contains(DNS_NAMESPACE) {
        needs.extend(dns_needs());
    }
    needs.extend(results.into_iter().flat_map(results_needs));
    check_needs(client, needs).await
}

/// Each of `needs`, checked.
///
/// # Errors
/// A SelfSubjectAccessReview the server refuses or fails.
pub(crate) async fn check_needs(
    client: &Client,
    needs: Vec<Need>,
) -> Result<Vec<Checked>, ReviewError> {
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
fn refusal(missing: &[Checked]) -> String {
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

/// Why a run may not start: it lacks permissions it needs, or they could not be checked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PermissionError {
    #[error("{0} (nothing was created)")]
    Unchecked(ReviewError),
    /// The required needs not granted, with their rules.
    #[error("{}", refusal(.0))]
    Lacking(Vec<Checked>),
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
        let namespaces = cluster_needs(&["ddi".to_owned()], false);
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
        assert_eq!(
            permission("list", "networkpolicies", None),
            "list networkpolicies.networking.k8s.io in all namespaces"
        );
    }

    /// A Role cannot be bound in a namespace the run has yet to create: the rule goes to a
    /// ClusterRole.
    #[test]
    fn the_rule_for_a_namespace_the_run_creates_goes_to_a_cluster_role() {
        let need = Need {
            new_namespace: true,
            ..Need::required("create", "", "pods", "shop", "create probe pods")
        };
        assert_eq!(
            need.rule(),
            "add the rule {apiGroups: [\"\"], resources: [\"pods\"], verbs: [\"create\"]} to a ClusterRole bound with a ClusterRoleBinding (no Role can be bound in shop before it is created)"
        );
        assert!(
            canary_needs("c", true)
                .iter()
                .all(|n| n.namespace.is_none() || n.new_namespace)
        );
        assert!(canary_needs("c", false).iter().all(|n| !n.new_namespace));
    }

    #[test]
    fn namespaces_are_created_and_deleted_only_when_missing() {
        let verbs = |needs: Vec<Need>| needs.iter().map(|n| n.verb).collect::<Vec<_>>();
        assert_eq!(verbs(cluster_needs(&[], false)), ["get"]);
        assert_eq!(
            verbs(cluster_needs(&["a".to_owned()], false)),
            ["get", "create", "delete"]
        );
        assert!(!cluster_needs(&[], false)[0].required);
    }

    /// An identity that may create namespaces must see which exist: it cannot take them to.
    #[test]
    fn reading_namespaces_is_required_of_an_identity_that_may_create_them() {
        let get = &cluster_needs(&[], true)[0];
        assert_eq!(get.describe(), "get namespaces (cluster-scoped)");
        assert!(get.required);
    }

    #[test]
    fn the_cluster_dns_is_read_where_it_lives_and_only_for_predictions() {
        let needs = dns_needs();
        let described: Vec<String> = needs.iter().map(Need::describe).collect();
        assert_eq!(
            described,
            [
                "list pods in namespace kube-system",
                "list networkpolicies.networking.k8s.io in namespace kube-system"
            ]
        );
        assert!(needs.iter().all(|need| !need.required));
    }

    /// Where a grant applies: a ClusterRole's everywhere, a Role's in its namespace.
    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Scope {
        Cluster,
        Namespace(String),
    }

    /// `(scope, group, resource, verb)`.
    type Grant = (Scope, String, String, String);

    /// Every single permission the Roles and ClusterRoles of a manifest grant.
    fn grants(text: &str) -> BTreeSet<Grant> {
        let options = serde_saphyr::options! { strict_booleans: true };
        let documents: Vec<serde_json::Value> =
            serde_saphyr::from_multiple_with_options(text, options).unwrap();
        let strings = |value: &serde_json::Value| -> Vec<String> {
            value
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| item.as_str().unwrap().to_owned())
                .collect()
        };
        let mut grants = BTreeSet::new();
        for document in documents {
            let scope = match document["kind"].as_str() {
                Some("ClusterRole") => Scope::Cluster,
                Some("Role") => Scope::Namespace(
                    document["metadata"]["namespace"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                ),
                _ => continue,
            };
            for rule in document["rules"].as_array().unwrap() {
                assert!(rule.get("nonResourceURLs").is_none(), "{rule}");
                assert!(rule.get("resourceNames").is_none(), "{rule}");
                for group in strings(&rule["apiGroups"]) {
                    for resource in strings(&rule["resources"]) {
                        for verb in strings(&rule["verbs"]) {
                            grants.insert((scope.clone(), group.clone(), resource.clone(), verb));
                        }
                    }
                }
            }
        }
        grants
    }

    fn grant(scope: &Scope, need: &Need) -> Grant {
        (
            scope.clone(),
            need.group.to_owned(),
            need.resource.to_owned(),
            need.verb.to_owned(),
        )
    }

    /// What a run may need on servers with and without EndpointSlices, its namespaces' Roles in
    /// `probes`, the cluster DNS's in `dns`; in cluster mode it creates its namespaces.
    fn run_needs(probes: &Scope, dns: &Scope, cluster_mode: bool) -> BTreeSet<Grant> {
        let missing = if cluster_mode {
            vec!["x".to_owned()]
        } else {
            Vec::new()
        };
        let mut needs: BTreeSet<Grant> = cluster_needs(&missing, cluster_mode)
            .iter()
            .map(|need| grant(&Scope::Cluster, need))
            .collect();
        for endpoints in [EndpointsRead::Slices, EndpointsRead::Endpoints] {
            needs.extend(
                namespace_needs("n", endpoints)
                    .iter()
                    .map(|need| grant(probes, need)),
            );
        }
        needs.extend(dns_needs().iter().map(|need| grant(dns, need)));
        needs
    }

    /// The manifests grant exactly what the run needs: every need is in them, where it is needed,
    /// and nothing else, but for the `list namespaces` with which `netverdict cleanup` finds a
    /// run's namespaces.
    #[test]
    fn the_manifests_grant_exactly_the_needs() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        let read = |file: &str| std::fs::read_to_string(root.join(file)).unwrap();

        let namespaced = grants(&read("rbac/namespaced.yaml"));
        let probes = Scope::Namespace("netverdict-probes".to_owned());
        let dns = Scope::Namespace(DNS_NAMESPACE.to_owned());
        assert_eq!(namespaced, run_needs(&probes, &dns, false));

        let cluster = grants(&read("rbac/cluster.yaml"));
        let mut needs = run_needs(&Scope::Cluster, &Scope::Cluster, true);
        needs.insert((
            Scope::Cluster,
            String::new(),
            "namespaces".to_owned(),
            "list".to_owned(),
        ));
        needs.extend(every_live_need(&Scope::Cluster));
        assert_eq!(cluster, needs);

        let live = grants(&read("rbac/live.yaml"));
        assert_eq!(live, every_live_need(&Scope::Namespace("shop".to_owned())));
        let results = grants(&read("rbac/results.yaml"));
        let namespace = Scope::Namespace("netverdict".to_owned());
        let needs: BTreeSet<Grant> = results_needs("netverdict")
            .iter()
            .map(|need| grant(&namespace, need))
            .collect();
        assert_eq!(results, needs);
    }

    /// What scenarios that reach deployed workloads of every kind in a namespace (`scope`) may
    /// need there, on servers with and without EndpointSlices.
    fn every_live_need(scope: &Scope) -> BTreeSet<Grant> {
        use crate::scenario::WorkloadKind;
        let every_use = LiveUse {
            mimics: true,
            kinds: [
                WorkloadKind::Deployment,
                WorkloadKind::StatefulSet,
                WorkloadKind::DaemonSet,
                WorkloadKind::Pod,
            ]
            .into(),
            services: true,
        };
        [EndpointsRead::Slices, EndpointsRead::Endpoints]
            .into_iter()
            .flat_map(|endpoints| live_needs("shop", &every_use, endpoints))
            .map(|need| grant(scope, &need))
            .collect()
    }

    /// The canary asks for nothing a run does not: a namespaced identity can run it in one of
    /// its namespaces (`--canary-namespace`), a cluster one anywhere.
    #[test]
    fn the_manifests_grant_what_the_canary_needs() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        let read = |file: &str| std::fs::read_to_string(root.join(file)).unwrap();
        let probes = Scope::Namespace("netverdict-probes".to_owned());
        let namespaced = grants(&read("rbac/namespaced.yaml"));
        for need in canary_needs("netverdict-probes", false) {
            let scope = if need.namespace.is_some() {
                &probes
            } else {
                &Scope::Cluster
            };
            assert!(namespaced.contains(&grant(scope, &need)), "{need:?}");
        }
        let cluster = grants(&read("rbac/cluster.yaml"));
        for need in canary_needs("netverdict-preflight-x", true) {
            assert!(cluster.contains(&grant(&Scope::Cluster, &need)), "{need:?}");
        }
        let creates: Vec<String> = canary_needs("c", true)
            .iter()
            .filter(|need| need.namespace.is_none())
            .map(Need::describe)
            .collect();
        assert_eq!(
            creates,
            [
                "create namespaces (cluster-scoped)",
                "get namespaces (cluster-scoped)",
                "delete namespaces (cluster-scoped)"
            ]
        );
        let reads: Vec<String> = canary_needs("c", false)
            .iter()
            .filter(|need| need.namespace.is_none())
            .map(Need::describe)
            .collect();
        assert_eq!(reads, ["get namespaces (cluster-scoped)"]);
        assert!(!canary_needs("c", false)[0].required);
    }
}
