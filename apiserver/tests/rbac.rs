//! RBAC through the real kubectl: Roles, ClusterRoles and their bindings applied as manifests,
//! a ServiceAccount token from `kubectl create token`, `kubectl auth can-i` agreeing with the
//! rules, and kube-apiserver's 403 for what they do not allow.

mod common;

use common::Harness;
use k8s_openapi::api::core::v1::Pod;
use netverdict_apiserver::Resource;
use netverdict_apiserver::kubeconfig::{Kubeconfig, KubeconfigCredential};

const SA_USER: &str = "system:serviceaccount:shop:netverdict";

const RBAC: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: netverdict
  namespace: shop
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: runner
  namespace: shop
rules:
- apiGroups: [\"\"]
  resources: [pods]
  verbs: [get, list, create, delete]
- apiGroups: [\"\"]
  resources: [pods/exec]
  verbs: [create]
- apiGroups: [\"\"]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [\"\"]
  resources: [configmaps]
  resourceNames: [settings]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: runner
  namespace: shop
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: runner
subjects:
- kind: ServiceAccount
  name: netverdict
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: namespace-reader
rules:
- apiGroups: [\"\"]
  resources: [namespaces]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: netverdict-namespace-reader
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: namespace-reader
subjects:
- kind: ServiceAccount
  name: netverdict
  namespace: shop
";

/// Applies the manifests as the admin, mints a token for the ServiceAccount and writes a
/// kubeconfig carrying it; returns (its path, the token).
async fn service_account(h: &Harness) -> (String, String) {
    let manifest = h.manifest("rbac.yaml", RBAC);
    h.kubectl_ok(&["apply", "-f", &manifest]).await;
    let token = h
        .kubectl_ok(&["create", "token", "netverdict", "-n", "shop"])
        .await
        .trim()
        .to_owned();
    let yaml = Kubeconfig {
        name: "sa".to_owned(),
        server: h.server.server.url(),
        ca_pem: h.server.pki.ca_cert_pem.clone(),
        credential: KubeconfigCredential::Token(token.clone()),
    }
    .to_yaml(None)
    .replace("namespace: default", "namespace: shop");
    (h.manifest("sa-kubeconfig", &yaml), token)
}

#[tokio::test]
async fn rbac_objects_are_served_to_kubectl() {
    let h = Harness::start().await;
    service_account(&h).await;
    let roles = h.kubectl_ok(&["get", "roles", "-n", "shop"]).await;
    assert!(roles.contains("runner"), "{roles}");
    let bindings = h.kubectl_ok(&["get", "rolebindings", "-n", "shop"]).await;
    assert!(bindings.contains("Role/runner"), "{bindings}");
    let cluster = h.kubectl_ok(&["get", "clusterrolebinding"]).await;
    assert!(
        cluster.contains("netverdict-namespace-reader")
            && cluster.contains("ClusterRole/namespace-reader"),
        "{cluster}"
    );
    let accounts = h.kubectl_ok(&["get", "sa", "-n", "shop"]).await;
    assert!(accounts.contains("netverdict"), "{accounts}");
    assert!(
        h.store
            .get(Resource::ClusterRoles, None, "namespace-reader")
            .is_ok()
    );
}

#[tokio::test]
async fn kubectl_auth_can_i_agrees_with_the_rules() {
    let h = Harness::start().await;
    let (kubeconfig, _) = service_account(&h).await;
    let cases: &[(&[&str], bool)] = &[
        (&["get", "pods"], true),
        (&["list", "pods"], true),
        (&["delete", "pods"], true),
        (&["watch", "pods"], false),
        (&["update", "pods"], false),
        (&["list", "pods", "-n", "other"], false),
        (&["list", "pods", "--all-namespaces"], false),
        (&["create", "pods", "--subresource=exec"], true),
        (&["get", "pods", "--subresource=exec"], false),
        (&["get", "pods", "--subresource=log"], true),
        (&["create", "pods", "--subresource=log"], false),
        (&["get", "configmaps/settings"], true),
        (&["get", "configmaps/other"], false),
        (&["list", "configmaps"], false),
        (&["get", "namespaces/shop"], true),
        (&["get", "namespaces/kube-system"], true),
        (&["list", "namespaces"], false),
        (&["delete", "namespaces/shop"], false),
        (&["create", "networkpolicies.networking.k8s.io"], false),
        (
            &["create", "selfsubjectaccessreviews.authorization.k8s.io"],
            true,
        ),
        (&["get", "/version"], true),
        (&["get", "/metrics"], false),
    ];
    for (args, allowed) in cases {
        let mut command = vec!["--kubeconfig", kubeconfig.as_str(), "auth", "can-i"];
        command.extend_from_slice(args);
        let (code, stdout, stderr) = h.kubectl(&command).await;
        let expected = if *allowed { ("yes", 0) } else { ("no", 1) };
        assert_eq!(
            (stdout.trim(), code),
            expected,
            "can-i {args:?}: stderr {stderr}"
        );
    }
    // The admin (system:masters) may do everything.
    let (code, stdout, _) = h.kubectl(&["auth", "can-i", "delete", "nodes"]).await;
    assert_eq!((stdout.trim(), code), ("yes", 0));

    let list = h
        .kubectl_ok(&["--kubeconfig", &kubeconfig, "auth", "can-i", "--list"])
        .await;
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for (resource, verbs) in [
        ("pods", "[get list create delete]"),
        ("pods/exec", "[create]"),
        ("configmaps", "[get]"),
        ("namespaces", "[get]"),
    ] {
        assert!(
            rows.iter()
                .any(|r| r.first() == Some(&resource) && r.join(" ").ends_with(verbs)),
            "{resource} {verbs}:\n{list}"
        );
    }
}

#[tokio::test]
async fn a_denied_request_gets_kube_apiservers_403() {
    let h = Harness::start().await;
    let (kubeconfig, token) = service_account(&h).await;
    let (code, _, stderr) = h
        .kubectl(&["--kubeconfig", &kubeconfig, "get", "pods", "-n", "other"])
        .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            r#"Error from server (Forbidden): pods is forbidden: User "{SA_USER}" cannot list resource "pods" in API group "" in the namespace "other""#
        )),
        "{stderr}"
    );

    let client = token_client(&h, &token).await;
    let err = kube::Api::<Pod>::namespaced(client.clone(), "shop")
        .create(
            &Default::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}})).unwrap(),
        )
        .await;
    assert!(
        err.is_err(),
        "a pod without containers is invalid, not forbidden"
    );
    let err = kube::Api::<Pod>::namespaced(client.clone(), "shop")
        .patch(
            "web",
            &Default::default(),
            &kube::api::Patch::Merge(serde_json::json!({})),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        status.message,
        format!(
            r#"pods "web" is forbidden: User "{SA_USER}" cannot patch resource "pods" in API group "" in the namespace "shop""#
        )
    );
    let err = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client)
        .delete("shop", &Default::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            r#"namespaces "shop" is forbidden: User "{SA_USER}" cannot delete resource "namespaces" in API group "" in the namespace "shop""#
        )),
        "{err}"
    );
}

async fn token_client(h: &Harness, token: &str) -> kube::Client {
    let yaml = Kubeconfig {
        name: "sa".to_owned(),
        server: h.server.server.url(),
        ca_pem: h.server.pki.ca_cert_pem.clone(),
        credential: KubeconfigCredential::Token(token.to_owned()),
    }
    .to_yaml(None);
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

#[tokio::test]
async fn a_service_account_token_authenticates_until_its_account_goes() {
    let h = Harness::start().await;
    let (kubeconfig, token) = service_account(&h).await;
    let whoami = h
        .kubectl_ok(&["--kubeconfig", &kubeconfig, "get", "pods", "-o", "name"])
        .await;
    assert_eq!(whoami.trim(), "");
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    for bad in [forged.as_str(), "a.b.c", "not-a-token"] {
        let (code, body) = raw_get(&h, Some(bad), "/api/v1/namespaces/shop/pods").await;
        assert_eq!(code, 401, "{bad}: {body}");
    }
    let (code, _) = raw_get(&h, None, "/api/v1/namespaces/shop/pods").await;
    assert_eq!(code, 401);
    let (code, _) = raw_get(&h, Some(&token), "/api/v1/namespaces/shop/pods").await;
    assert_eq!(code, 200);
    h.kubectl_ok(&["delete", "sa", "netverdict", "-n", "shop"])
        .await;
    let (code, body) = raw_get(&h, Some(&token), "/api/v1/namespaces/shop/pods").await;
    assert_eq!(code, 401, "{body}");
}

/// A GET with `token` as its bearer token (or none): (status code, body).
async fn raw_get(h: &Harness, token: Option<&str>, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = h
        .server
        .connect(netverdict_apiserver::testing::Credential::None)
        .await;
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\n{authorization}Connection: close\r\n\r\n",
        h.addr()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, text)
}
