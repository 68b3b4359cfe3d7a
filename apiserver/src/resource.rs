//! [`Resource`]: the kinds served, with what discovery and routing need to know about each.

/// The resources served. Each knows its group, version, kind, plural and scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Namespaces,
    Nodes,
    Pods,
    Services,
    Endpoints,
    EndpointSlices,
    ConfigMaps,
    Events,
    NetworkPolicies,
    ServiceAccounts,
    Roles,
    ClusterRoles,
    RoleBindings,
    ClusterRoleBindings,
    Jobs,
    /// Create-only: answered for the requesting user, never stored.
    SelfSubjectAccessReviews,
    /// Create-only: answered for the requesting user, never stored.
    SelfSubjectRulesReviews,
    // The workloads of `apps/v1`.
    Deployments,
    ReplicaSets,
    StatefulSets,
    DaemonSets,
    ControllerRevisions,
}

/// The group of Roles, ClusterRoles and their bindings.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The group of the access reviews.
pub const AUTHORIZATION_GROUP: &str = "authorization.k8s.io";
/// The group of the workloads and their controller revisions.
pub const APPS_GROUP: &str = "apps";

impl Resource {
    pub const ALL: [Resource; 22] = [
        Resource::Namespaces,
        Resource::Nodes,
        Resource::Pods,
        Resource::Services,
        Resource::Endpoints,
        Resource::EndpointSlices,
        Resource::ConfigMaps,
        Resource::Events,
        Resource::NetworkPolicies,
        Resource::ServiceAccounts,
        Resource::Roles,
        Resource::ClusterRoles,
        Resource::RoleBindings,
        Resource::ClusterRoleBindings,
        Resource::Jobs,
        Resource::SelfSubjectAccessReviews,
        Resource::SelfSubjectRulesReviews,
        Resource::Deployments,
        Resource::ReplicaSets,
        Resource::StatefulSets,
        Resource::DaemonSets,
        Resource::ControllerRevisions,
    ];

    /// The API group; empty for the core group.
    pub fn group(self) -> &'static str {
        match self {
            Resource::EndpointSlices => "discovery.k8s.io",
            Resource::NetworkPolicies => "networking.k8s.io",
            Resource::Jobs => "batch",
            Resource::Roles
            | Resource::ClusterRoles
            | Resource::RoleBindings
            | Resource::ClusterRoleBindings => RBAC_GROUP,
            Resource::SelfSubjectAccessReviews | Resource::SelfSubjectRulesReviews => {
                AUTHORIZATION_GROUP
            }
            r if r.is_apps() => APPS_GROUP,
            _ => "",
        }
    }

    pub fn version(self) -> &'static str {
        "v1"
    }

    /// `v1` for the core group, `group/v1` otherwise.
    pub fn api_version(self) -> &'static str {
        match self {
            Resource::EndpointSlices => "discovery.k8s.io/v1",
            Resource::NetworkPolicies => "networking.k8s.io/v1",
            Resource::Jobs => "batch/v1",
            Resource::Roles
            | Resource::ClusterRoles
            | Resource::RoleBindings
            | Resource::ClusterRoleBindings => "rbac.authorization.k8s.io/v1",
            Resource::SelfSubjectAccessReviews | Resource::SelfSubjectRulesReviews => {
                "authorization.k8s.io/v1"
            }
            r if r.is_apps() => "apps/v1",
            _ => "v1",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Resource::Namespaces => "Namespace",
            Resource::Nodes => "Node",
            Resource::Pods => "Pod",
            Resource::Services => "Service",
            Resource::Endpoints => "Endpoints",
            Resource::EndpointSlices => "EndpointSlice",
            Resource::ConfigMaps => "ConfigMap",
            Resource::Events => "Event",
            Resource::NetworkPolicies => "NetworkPolicy",
            Resource::ServiceAccounts => "ServiceAccount",
            Resource::Roles => "Role",
            Resource::ClusterRoles => "ClusterRole",
            Resource::RoleBindings => "RoleBinding",
            Resource::ClusterRoleBindings => "ClusterRoleBinding",
            Resource::Jobs => "Job",
            Resource::SelfSubjectAccessReviews => "SelfSubjectAccessReview",
            Resource::SelfSubjectRulesReviews => "SelfSubjectRulesReview",
            Resource::Deployments => "Deployment",
            Resource::ReplicaSets => "ReplicaSet",
            Resource::StatefulSets => "StatefulSet",
            Resource::DaemonSets => "DaemonSet",
            Resource::ControllerRevisions => "ControllerRevision",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Resource::Namespaces => "namespaces",
            Resource::Nodes => "nodes",
            Resource::Pods => "pods",
            Resource::Services => "services",
            Resource::Endpoints => "endpoints",
            Resource::EndpointSlices => "endpointslices",
            Resource::ConfigMaps => "configmaps",
            Resource::Events => "events",
            Resource::NetworkPolicies => "networkpolicies",
            Resource::ServiceAccounts => "serviceaccounts",
            Resource::Roles => "roles",
            Resource::ClusterRoles => "clusterroles",
            Resource::RoleBindings => "rolebindings",
            Resource::ClusterRoleBindings => "clusterrolebindings",
            Resource::Jobs => "jobs",
            Resource::SelfSubjectAccessReviews => "selfsubjectaccessreviews",
            Resource::SelfSubjectRulesReviews => "selfsubjectrulesreviews",
            Resource::Deployments => "deployments",
            Resource::ReplicaSets => "replicasets",
            Resource::StatefulSets => "statefulsets",
            Resource::DaemonSets => "daemonsets",
            Resource::ControllerRevisions => "controllerrevisions",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Resource::Namespaces => "namespace",
            Resource::Nodes => "node",
            Resource::Pods => "pod",
            Resource::Services => "service",
            Resource::Endpoints => "endpoints",
            Resource::EndpointSlices => "endpointslice",
            Resource::ConfigMaps => "configmap",
            Resource::Events => "event",
            Resource::NetworkPolicies => "networkpolicy",
            Resource::ServiceAccounts => "serviceaccount",
            Resource::Roles => "role",
            Resource::ClusterRoles => "clusterrole",
            Resource::RoleBindings => "rolebinding",
            Resource::ClusterRoleBindings => "clusterrolebinding",
            Resource::Jobs => "job",
            Resource::SelfSubjectAccessReviews => "selfsubjectaccessreview",
            Resource::SelfSubjectRulesReviews => "selfsubjectrulesreview",
            Resource::Deployments => "deployment",
            Resource::ReplicaSets => "replicaset",
            Resource::StatefulSets => "statefulset",
            Resource::DaemonSets => "daemonset",
            Resource::ControllerRevisions => "controllerrevision",
        }
    }

    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Resource::Namespaces => &["ns"],
            Resource::Nodes => &["no"],
            Resource::Pods => &["po"],
            Resource::Services => &["svc"],
            Resource::Endpoints => &["ep"],
            Resource::ConfigMaps => &["cm"],
            Resource::Events => &["ev"],
            Resource::NetworkPolicies => &["netpol"],
            Resource::ServiceAccounts => &["sa"],
            Resource::Deployments => &["deploy"],
            Resource::ReplicaSets => &["rs"],
            Resource::StatefulSets => &["sts"],
            Resource::DaemonSets => &["ds"],
            _ => &[],
        }
    }

    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Resource::Pods
            | Resource::Services
            | Resource::Jobs
            | Resource::Deployments
            | Resource::ReplicaSets
            | Resource::StatefulSets
            | Resource::DaemonSets => &["all"],
            _ => &[],
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Resource::Namespaces
                | Resource::Nodes
                | Resource::ClusterRoles
                | Resource::ClusterRoleBindings
                | Resource::SelfSubjectAccessReviews
                | Resource::SelfSubjectRulesReviews
        )
    }

    /// Whether the resource has a `/status` subresource (which the main resource ignores).
    pub fn has_status(self) -> bool {
        matches!(
            self,
            Resource::Namespaces
                | Resource::Nodes
                | Resource::Pods
                | Resource::Services
                | Resource::Jobs
        ) || (self.is_apps() && self != Resource::ControllerRevisions)
    }

    /// Whether the resource has a `/scale` subresource (`autoscaling/v1` `Scale`).
    pub fn has_scale(self) -> bool {
        matches!(
            self,
            Resource::Deployments | Resource::ReplicaSets | Resource::StatefulSets
        )
    }

    /// A kind of `apps/v1`.
    pub fn is_apps(self) -> bool {
        matches!(
            self,
            Resource::Deployments
                | Resource::ReplicaSets
                | Resource::StatefulSets
                | Resource::DaemonSets
                | Resource::ControllerRevisions
        )
    }

    /// The served resource of a kind (`Deployment`) in an API version (`apps/v1`).
    pub fn from_kind(api_version: &str, kind: &str) -> Option<Resource> {
        Resource::ALL
            .into_iter()
            .find(|r| r.api_version() == api_version && r.kind() == kind)
    }

    /// `pods` for the core group, `networkpolicies.networking.k8s.io` otherwise, as messages name them.
    pub fn qualified(self) -> String {
        if self.group().is_empty() {
            self.plural().to_owned()
        } else {
            format!("{}.{}", self.plural(), self.group())
        }
    }

    /// The kind of the list, `PodList`.
    pub fn list_kind(self) -> String {
        format!("{}List", self.kind())
    }

    pub fn from_plural(group: &str, plural: &str) -> Option<Resource> {
        Resource::ALL
            .into_iter()
            .find(|r| r.group() == group && r.plural() == plural)
    }

    /// The verbs discovery lists.
    pub fn verbs(self) -> &'static [&'static str] {
        if self.is_review() {
            return &["create"];
        }
        &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    /// A create-only review answered for the requesting user, never stored.
    pub fn is_review(self) -> bool {
        matches!(
            self,
            Resource::SelfSubjectAccessReviews | Resource::SelfSubjectRulesReviews
        )
    }

    /// Field labels a field selector may use besides `metadata.name` and `metadata.namespace`.
    pub(crate) fn selectable_fields(self) -> &'static [&'static str] {
        match self {
            Resource::Pods => &[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ],
            Resource::Namespaces => &["status.phase"],
            Resource::Nodes => &["spec.unschedulable"],
            Resource::Events => &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            Resource::Services => &["spec.clusterIP", "spec.type"],
            Resource::Jobs => &["status.successful"],
            _ => &[],
        }
    }
}
