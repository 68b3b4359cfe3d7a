//! Authorization with Kubernetes RBAC semantics: who may do what, decided from Roles,
//! ClusterRoles and their bindings as kube-apiserver's RBAC authorizer decides it.
//!
//! Pure: a [`Policy`] is a snapshot of the four RBAC kinds; [`Policy::authorize`] answers one
//! request's [`Attributes`]. Members of `system:masters` may do everything, as kube-apiserver's
//! privileged-group authorizer allows them before RBAC is asked. Every authenticated user also
//! has what the bootstrap ClusterRoles `system:basic-user`, `system:discovery` and
//! `system:public-info-viewer` grant (the access reviews, discovery, `/version`, health); they
//! are built in here rather than stored.

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject,
};
use netverdict_engine::Quoted;

use crate::auth::{AUTHENTICATED_GROUP, UserInfo};

/// The group whose members bypass RBAC.
pub const MASTERS_GROUP: &str = "system:masters";

/// What a request asks to do, as kube-apiserver's `RequestInfo` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    /// `get list watch create update patch delete deletecollection` for resources; the
    /// lower-case HTTP method for paths.
    pub verb: String,
    pub target: Target,
}

/// A resource (possibly a subresource) or a path that is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Resource {
        api_group: String,
        resource: String,
        subresource: String,
        /// Empty at the cluster scope.
        namespace: String,
        /// Empty for collections.
        name: String,
    },
    Path(String),
}

/// A snapshot of the RBAC objects.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub roles: Vec<Role>,
    pub cluster_roles: Vec<ClusterRole>,
    pub role_bindings: Vec<RoleBinding>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let owned = |items: &[&str]| Some(items.iter().map(|s| (*s).to_owned()).collect());
    PolicyRule {
        api_groups: owned(groups),
        resources: owned(resources),
        verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

fn path_rule(paths: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        non_resource_urls: Some(paths.iter().map(|s| (*s).to_owned()).collect()),
        verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

/// What `system:basic-user`, `system:discovery` and `system:public-info-viewer` grant every
/// authenticated user.
pub fn bootstrap_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            &["authorization.k8s.io"],
            &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            &["create"],
        ),
        path_rule(
            &[
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            ],
            &["get"],
        ),
    ]
}

/// Everything, as the `cluster-admin` ClusterRole grants it.
pub fn everything() -> Vec<PolicyRule> {
    vec![rule(&["*"], &["*"], &["*"]), path_rule(&["*"], &["*"])]
}

fn any_is(items: &[String], want: &str) -> bool {
    items.iter().any(|item| item == "*" || item == want)
}

/// Whether `rule` allows `attributes`, as rbac/v1's `RuleAllows` decides.
pub fn rule_allows(rule: &PolicyRule, attributes: &Attributes) -> bool {
    if !any_is(&rule.verbs, &attributes.verb) {
        return false;
    }
    match &attributes.target {
        Target::Path(path) => rule.non_resource_urls.as_deref().is_some_and(|urls| {
            urls.iter().any(|url| {
                url == "*"
                    || url == path
                    || url
                        .strip_suffix('*')
                        .is_some_and(|prefix| path.starts_with(prefix))
            })
        }),
        Target::Resource {
            api_group,
            resource,
            subresource,
            name,
            ..
        } => {
            let groups = rule.api_groups.as_deref().unwrap_or_default();
            let resources = rule.resources.as_deref().unwrap_or_default();
            let combined = if subresource.is_empty() {
                resource.clone()
            } else {
                format!("{resource}/{subresource}")
            };
            let resource_matches = resources.iter().any(|r| {
                r == "*"
                    || *r == combined
                    || (!subresource.is_empty() && *r == format!("*/{subresource}"))
            });
            let names = rule.resource_names.as_deref().unwrap_or_default();
            any_is(groups, api_group)
                && resource_matches
                && (names.is_empty() || names.iter().any(|n| n == name))
        }
    }
}

/// The user name of a ServiceAccount.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Whether `subject` names `user`; a ServiceAccount without a namespace is in the binding's.
fn applies_to(subject: &Subject, user: &UserInfo, binding_namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => subject.name == user.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let namespace = subject
                .namespace
                .as_deref()
                .filter(|ns| !ns.is_empty())
                .unwrap_or(binding_namespace);
            !namespace.is_empty() && service_account_user(namespace, &subject.name) == user.name
        }
        _ => false,
    }
}

fn binds(subjects: Option<&Vec<Subject>>, user: &UserInfo, namespace: &str) -> bool {
    subjects.is_some_and(|all| all.iter().any(|s| applies_to(s, user, namespace)))
}

impl Policy {
    fn cluster_role(&self, name: &str) -> Option<&ClusterRole> {
        self.cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
    }

    /// The rules that apply to `user` in `namespace` (cluster-wide ones for an empty one), with
    /// the binding each comes from; the bootstrap rules first.
    pub fn grants(&self, user: &UserInfo, namespace: &str) -> Vec<(Vec<PolicyRule>, String)> {
        let mut out = Vec::new();
        if user.groups.iter().any(|g| g == MASTERS_GROUP) {
            out.push((everything(), format!("the group {}", Quoted(MASTERS_GROUP))));
        }
        if user.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            out.push((
                bootstrap_rules(),
                "the bootstrap ClusterRoles of authenticated users".to_owned(),
            ));
        }
        for binding in &self.cluster_role_bindings {
            if binding.role_ref.kind != "ClusterRole" || !binds(binding.subjects.as_ref(), user, "")
            {
                continue;
            }
            if let Some(role) = self.cluster_role(&binding.role_ref.name) {
                out.push((
                    role.rules.clone().unwrap_or_default(),
                    format!(
                        "ClusterRoleBinding {} of ClusterRole {}",
                        Quoted(binding.metadata.name.as_deref().unwrap_or_default()),
                        Quoted(&binding.role_ref.name)
                    ),
                ));
            }
        }
        if namespace.is_empty() {
            return out;
        }
        for binding in &self.role_bindings {
            if binding.metadata.namespace.as_deref() != Some(namespace)
                || !binds(binding.subjects.as_ref(), user, namespace)
            {
                continue;
            }
            let rules = match binding.role_ref.kind.as_str() {
                "ClusterRole" => self
                    .cluster_role(&binding.role_ref.name)
                    .and_then(|r| r.rules.clone()),
                "Role" => self
                    .roles
                    .iter()
                    .find(|r| {
                        r.metadata.namespace.as_deref() == Some(namespace)
                            && r.metadata.name.as_deref() == Some(binding.role_ref.name.as_str())
                    })
                    .and_then(|r| r.rules.clone()),
                _ => None,
            };
            if let Some(rules) = rules {
                // A namespace's binding grants no paths: they are not in any namespace.
                let rules = rules
                    .into_iter()
                    .filter(|r| r.non_resource_urls.as_ref().is_none_or(Vec::is_empty))
                    .collect();
                out.push((
                    rules,
                    format!(
                        "RoleBinding {} of {} {}",
                        Quoted(&format!(
                            "{namespace}/{}",
                            binding.metadata.name.as_deref().unwrap_or_default()
                        )),
                        binding.role_ref.kind,
                        Quoted(&binding.role_ref.name)
                    ),
                ));
            }
        }
        out
    }

    /// Why `user` may do what `attributes` describe, or `None` when nothing allows it.
    pub fn authorize(&self, user: &UserInfo, attributes: &Attributes) -> Option<String> {
        let namespace = match &attributes.target {
            Target::Resource { namespace, .. } => namespace.as_str(),
            Target::Path(_) => "",
        };
        self.grants(user, namespace)
            .into_iter()
            .find(|(rules, _)| rules.iter().any(|r| rule_allows(r, attributes)))
            .map(|(_, source)| format!("RBAC: allowed by {source} to User {}", Quoted(&user.name)))
    }
}

/// kube-apiserver's words for a denial: `User "u" cannot get resource "pods" in API group ""
/// in the namespace "ns"` (`forbiddenMessage`), wrapped as `NewForbidden` wraps it.
pub fn forbidden_message(user: &str, attributes: &Attributes) -> String {
    let verb = &attributes.verb;
    match &attributes.target {
        Target::Path(path) => format!(
            "forbidden: User {} cannot {verb} path {}",
            Quoted(user),
            Quoted(path)
        ),
        Target::Resource {
            api_group,
            resource,
            subresource,
            namespace,
            name,
        } => {
            let requested = if subresource.is_empty() {
                resource.clone()
            } else {
                format!("{resource}/{subresource}")
            };
            let scope = if namespace.is_empty() {
                "at the cluster scope".to_owned()
            } else {
                format!("in the namespace {}", Quoted(namespace))
            };
            let reason = format!(
                "User {} cannot {verb} resource {} in API group {} {scope}",
                Quoted(user),
                Quoted(&requested),
                Quoted(api_group)
            );
            let qualified = if api_group.is_empty() {
                resource.clone()
            } else {
                format!("{resource}.{api_group}")
            };
            if name.is_empty() {
                format!("{qualified} is forbidden: {reason}")
            } else {
                format!("{qualified} {} is forbidden: {reason}", Quoted(name))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::RoleRef;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: namespace.map(str::to_owned),
            ..ObjectMeta::default()
        }
    }

    fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
        Subject {
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: namespace.map(str::to_owned),
            ..Subject::default()
        }
    }

    fn role_ref(kind: &str, name: &str) -> RoleRef {
        RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
        }
    }

    fn resource(verb: &str, resource: &str, sub: &str, ns: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.to_owned(),
            target: Target::Resource {
                api_group: String::new(),
                resource: resource.to_owned(),
                subresource: sub.to_owned(),
                namespace: ns.to_owned(),
                name: name.to_owned(),
            },
        }
    }

    fn policy() -> Policy {
        let mut named = rule(&[""], &["configmaps"], &["get"]);
        named.resource_names = Some(vec!["settings".to_owned()]);
        Policy {
            roles: vec![Role {
                metadata: meta(Some("shop"), "runner"),
                rules: Some(vec![
                    rule(&[""], &["pods"], &["get", "list", "create"]),
                    rule(&[""], &["pods/exec"], &["create"]),
                    named,
                ]),
            }],
            cluster_roles: vec![ClusterRole {
                metadata: meta(None, "ns-reader"),
                rules: Some(vec![
                    rule(&[""], &["namespaces"], &["get"]),
                    path_rule(&["/metrics"], &["get"]),
                ]),
                ..ClusterRole::default()
            }],
            role_bindings: vec![RoleBinding {
                metadata: meta(Some("shop"), "runner"),
                role_ref: role_ref("Role", "runner"),
                subjects: Some(vec![subject("ServiceAccount", "netverdict", None)]),
            }],
            cluster_role_bindings: vec![ClusterRoleBinding {
                metadata: meta(None, "readers"),
                role_ref: role_ref("ClusterRole", "ns-reader"),
                subjects: Some(vec![subject("Group", "readers", None)]),
            }],
        }
    }

    #[test]
    fn bindings_grant_their_rules_where_they_apply() {
        let sa = UserInfo::new(
            service_account_user("shop", "netverdict"),
            &["system:serviceaccounts", "system:serviceaccounts:shop"],
        );
        let reader = UserInfo::new("ann", &["readers"]);
        let policy = policy();
        let cases = [
            (&sa, resource("get", "pods", "", "shop", "p"), true),
            (&sa, resource("list", "pods", "", "shop", ""), true),
            (&sa, resource("delete", "pods", "", "shop", "p"), false),
            (&sa, resource("list", "pods", "", "other", ""), false),
            (&sa, resource("create", "pods", "exec", "shop", "p"), true),
            (&sa, resource("get", "pods", "exec", "shop", "p"), false),
            (&sa, resource("get", "pods", "log", "shop", "p"), false),
            (
                &sa,
                resource("get", "configmaps", "", "shop", "settings"),
                true,
            ),
            (
                &sa,
                resource("get", "configmaps", "", "shop", "other"),
                false,
            ),
            (&sa, resource("list", "configmaps", "", "shop", ""), false),
            (
                &sa,
                resource("get", "namespaces", "", "shop", "shop"),
                false,
            ),
            (
                &reader,
                resource("get", "namespaces", "", "shop", "shop"),
                true,
            ),
            (&reader, resource("get", "namespaces", "", "", "x"), true),
            (&reader, resource("list", "namespaces", "", "", ""), false),
        ];
        for (user, attributes, allowed) in cases {
            assert_eq!(
                policy.authorize(user, &attributes).is_some(),
                allowed,
                "{} {attributes:?}",
                user.name
            );
        }
        let path = |p: &str| Attributes {
            verb: "get".to_owned(),
            target: Target::Path(p.to_owned()),
        };
        assert!(policy.authorize(&reader, &path("/metrics")).is_some());
        assert!(policy.authorize(&sa, &path("/metrics")).is_none());
        assert!(
            policy
                .authorize(&sa, &path("/apis/rbac.authorization.k8s.io"))
                .is_some()
        );
        let admin = UserInfo::new("root", &[MASTERS_GROUP]);
        assert!(
            policy
                .authorize(&admin, &resource("deletecollection", "pods", "", "x", ""))
                .is_some()
        );
    }

    #[test]
    fn wildcards_cover_subresources() {
        let all = rule(&["*"], &["*"], &["*"]);
        assert!(rule_allows(
            &all,
            &resource("create", "pods", "exec", "a", "p")
        ));
        let subs = rule(&[""], &["*/status"], &["get"]);
        assert!(rule_allows(
            &subs,
            &resource("get", "pods", "status", "a", "p")
        ));
        assert!(!rule_allows(&subs, &resource("get", "pods", "", "a", "p")));
    }

    #[test]
    fn denials_are_worded_as_kube_apiserver_words_them() {
        assert_eq!(
            forbidden_message("u", &resource("create", "pods", "exec", "shop", "p")),
            r#"pods "p" is forbidden: User "u" cannot create resource "pods/exec" in API group "" in the namespace "shop""#
        );
        let mut list = resource("list", "networkpolicies", "", "", "");
        if let Target::Resource { api_group, .. } = &mut list.target {
            "networking.k8s.io".clone_into(api_group);
        }
        assert_eq!(
            forbidden_message("u", &list),
            r#"networkpolicies.networking.k8s.io is forbidden: User "u" cannot list resource "networkpolicies" in API group "networking.k8s.io" at the cluster scope"#
        );
        let path = Attributes {
            verb: "get".to_owned(),
            target: Target::Path("/metrics".to_owned()),
        };
        assert_eq!(
            forbidden_message("u", &path),
            r#"forbidden: User "u" cannot get path "/metrics""#
        );
    }
}
