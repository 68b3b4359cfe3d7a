//! The shipped RBAC manifests (`deploy/rbac-*.yaml`) as documents: their Roles and ClusterRoles
//! expanded into single permissions, rewritten without some of them, applied with kubectl; and a
//! kubeconfig of the ServiceAccount they bind.

use serde_json::{Value, json};

use super::Dir;

/// The namespace the namespaced manifest's Role and RoleBinding are written for, to be copied
/// once per scenario namespace.
pub const TEMPLATE_NAMESPACE: &str = "netverdict-probes";

/// The ServiceAccount the manifests bind, as the API server names its user.
pub const SERVICE_ACCOUNT_USER: &str = "system:serviceaccount:netverdict:netverdict";

/// Runs kubectl against `kubeconfig` with `stdin`, asserting it succeeds; returns its stdout.
pub fn kubectl(kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = super::kubectl::command()
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A kubeconfig authenticating with a token of the ServiceAccount, to the admin's server and CA.
pub fn service_account_kubeconfig(admin: &str, dir: &Dir) -> String {
    let token = kubectl(
        admin,
        &["-n", "netverdict", "create", "token", "netverdict"],
        None,
    );
    let field = |path: &str| {
        kubectl(
            admin,
            &[
                "config",
                "view",
                "--raw",
                "-o",
                &format!("jsonpath={{.clusters[0].cluster.{path}}}"),
            ],
            None,
        )
    };
    let (server, ca) = (field("server"), field("certificate-authority-data"));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{server}\", certificate-authority-data: \"{ca}\"}}}}]\nusers: [{{name: u, user: {{token: \"{}\"}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n",
        token.trim()
    );
    dir.create("sa.kubeconfig", &text).display().to_string()
}

/// One permission a Role or ClusterRole of a manifest grants: `verb` on `resource` of `group`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Single {
    pub group: String,
    pub resource: String,
    pub verb: String,
    /// The Role's namespace; `None` for a ClusterRole (bound cluster-wide).
    pub namespace: Option<String>,
    /// The Role or ClusterRole granting it.
    pub role: String,
    /// Its place among the permissions of its role, in the order of the rules.
    pub position: usize,
}

impl Single {
    /// `create pods/exec (Role netverdict in ddi)`.
    pub fn describe(&self) -> String {
        let resource = if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        };
        match &self.namespace {
            Some(namespace) => format!(
                "{} {resource} (Role {} in {namespace})",
                self.verb, self.role
            ),
            None => format!("{} {resource} (ClusterRole {})", self.verb, self.role),
        }
    }

    /// `(group, resource, verb)`, whatever role grants it.
    pub fn permission(&self) -> (String, String, String) {
        (self.group.clone(), self.resource.clone(), self.verb.clone())
    }
}

/// A manifest's documents.
#[derive(Clone, Debug)]
pub struct Manifest {
    documents: Vec<Value>,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| item.as_str().expect("a string").to_owned())
        .collect()
}

fn is_role(document: &Value) -> bool {
    matches!(document["kind"].as_str(), Some("Role" | "ClusterRole"))
}

impl Manifest {
    /// `deploy/FILE`.
    pub fn load(file: &str) -> Manifest {
        let text = std::fs::read_to_string(super::repo().join("deploy").join(file)).unwrap();
        let options = serde_saphyr::options! { strict_booleans: true };
        let documents = serde_saphyr::from_multiple_with_options(&text, options).unwrap();
        Manifest { documents }
    }

    /// The namespaced manifest, its Role and RoleBinding copied into each of `namespaces`.
    pub fn namespaced(namespaces: &[&str]) -> Manifest {
        let mut documents = Vec::new();
        for document in Manifest::load("rbac/namespaced.yaml").documents {
            if document["metadata"]["namespace"] != TEMPLATE_NAMESPACE {
                documents.push(document);
                continue;
            }
            for namespace in namespaces {
                let mut copy = document.clone();
                copy["metadata"]["namespace"] = json!(namespace);
                documents.push(copy);
            }
        }
        Manifest { documents }
    }

    /// Every single permission of its Roles and ClusterRoles.
    pub fn singles(&self) -> Vec<Single> {
        let mut singles = Vec::new();
        for document in self.documents.iter().filter(|d| is_role(d)) {
            let namespace = document["metadata"]["namespace"]
                .as_str()
                .map(str::to_owned);
            let role = document["metadata"]["name"].as_str().unwrap().to_owned();
            for rule in document["rules"].as_array().unwrap() {
                assert!(rule.get("nonResourceURLs").is_none(), "{rule}");
                assert!(rule.get("resourceNames").is_none(), "{rule}");
                for group in strings(&rule["apiGroups"]) {
                    for resource in strings(&rule["resources"]) {
                        for verb in strings(&rule["verbs"]) {
                            let position = singles
                                .iter()
                                .filter(|s: &&Single| s.namespace == namespace && s.role == role)
                                .count();
                            singles.push(Single {
                                group: group.clone(),
                                resource: resource.clone(),
                                verb,
                                namespace: namespace.clone(),
                                role: role.clone(),
                                position,
                            });
                        }
                    }
                }
            }
        }
        singles
    }

    /// The manifest without the permissions `removed` picks: each rule granting one of them is
    /// rewritten as one rule per group and resource, without it.
    pub fn without(&self, removed: impl Fn(&Single) -> bool) -> Manifest {
        let mut documents = self.documents.clone();
        for document in documents.iter_mut().filter(|d| is_role(d)) {
            let namespace = document["metadata"]["namespace"]
                .as_str()
                .map(str::to_owned);
            let role = document["metadata"]["name"].as_str().unwrap().to_owned();
            let mut rules = Vec::new();
            for rule in document["rules"].as_array().unwrap() {
                for group in strings(&rule["apiGroups"]) {
                    for resource in strings(&rule["resources"]) {
                        let verbs: Vec<String> = strings(&rule["verbs"])
                            .into_iter()
                            .filter(|verb| {
                                !removed(&Single {
                                    group: group.clone(),
                                    resource: resource.clone(),
                                    verb: verb.clone(),
                                    namespace: namespace.clone(),
                                    role: role.clone(),
                                    position: 0,
                                })
                            })
                            .collect();
                        if !verbs.is_empty() {
                            rules.push(json!({
                                "apiGroups": [group],
                                "resources": [resource],
                                "verbs": verbs,
                            }));
                        }
                    }
                }
            }
            document["rules"] = Value::Array(rules);
        }
        Manifest { documents }
    }

    /// The manifest without `single` (wherever it is granted the same way, in the same role).
    pub fn without_single(&self, single: &Single) -> Manifest {
        self.without(|s| {
            s.permission() == single.permission()
                && s.namespace == single.namespace
                && s.role == single.role
        })
    }

    /// Applies it with `kubectl apply` as `admin`.
    pub fn apply(&self, admin: &str) {
        let stream: Vec<String> = self.documents.iter().map(Value::to_string).collect();
        kubectl(admin, &["apply", "-f", "-"], Some(&stream.join("\n---\n")));
    }
}

/// One request the API server denied, as its log says it (`denied: pods is forbidden: User
/// "..." cannot list resource "pods" in API group "" in the namespace "kube-system"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub user: String,
    pub verb: String,
    pub group: String,
    pub resource: String,
    /// `None` at the cluster scope.
    pub namespace: Option<String>,
}

impl Denial {
    fn parse(line: &str) -> Option<Denial> {
        let reason = line.split_once("denied: ")?.1;
        let (_, rest) = reason.split_once(" is forbidden: User \"")?;
        let (user, rest) = rest.split_once("\" cannot ")?;
        let (verb, rest) = rest.split_once(" resource \"")?;
        let (resource, rest) = rest.split_once("\" in API group \"")?;
        let (group, rest) = rest.split_once('"')?;
        let namespace = rest
            .split_once(" in the namespace \"")
            .and_then(|(_, ns)| ns.split_once('"'))
            .map(|(ns, _)| ns.to_owned());
        Some(Denial {
            user: user.to_owned(),
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            namespace,
        })
    }
}

/// The denials the log of local cluster `name` holds after its first `from` bytes; and its length.
pub fn denials(name: &str, from: usize) -> (Vec<Denial>, usize) {
    let log = std::fs::read(format!("/run/netverdict/{name}/log")).unwrap_or_default();
    let text = String::from_utf8_lossy(log.get(from..).unwrap_or_default());
    let found = text.lines().filter_map(Denial::parse).collect();
    (found, log.len())
}
