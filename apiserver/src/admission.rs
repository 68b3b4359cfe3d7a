//! The ServiceAccount admission plugin, for pods being created: the pod gets its
//! ServiceAccount (`default` when it names none), which must exist, and, unless the pod or the
//! ServiceAccount turns it off (`automountServiceAccountToken: false`, the pod's word first),
//! the projected volume `kube-api-access-<suffix>` (a bound token, the cluster's CA from the
//! `kube-root-ca.crt` ConfigMap, the namespace) mounted read-only at
//! [`SERVICE_ACCOUNT_MOUNT_PATH`] in every container that has nothing mounted there, as
//! kube-apiserver's plugin does.
//!
//! The REST create of pods runs it; a controller that creates pods through the [`Store`] (a
//! Job controller) runs it too, as its pods go through the API server in a real cluster.

use std::time::Duration;

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::resource::Resource;
use crate::store::Store;

/// Where a pod's ServiceAccount token, the cluster's CA and the namespace are mounted.
pub const SERVICE_ACCOUNT_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The ConfigMap every namespace holds with the cluster's CA (`ca.crt`).
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
/// The lifetime of a projected token the plugin asks for (kube-apiserver's
/// `WarnOnlyBoundTokenExpirationSeconds`: an hour and seven seconds).
pub const PROJECTED_TOKEN_SECONDS: i64 = 3607;
/// How often the `default` ServiceAccount is looked for again before a pod is refused: it is
/// made by a controller just after its namespace, so kube-apiserver waits for it a little.
const DEFAULT_ACCOUNT_ATTEMPTS: u32 = 10;
const DEFAULT_ACCOUNT_RETRY: Duration = Duration::from_millis(150);

/// Admits a pod being created in `namespace` (see the module documentation).
///
/// # Errors
/// `403 Forbidden` when its ServiceAccount does not exist:
/// `pods "web" is forbidden: error looking up service account shop/x: serviceaccount "x" not found`.
pub async fn admit_pod(store: &Store, namespace: &str, pod: &mut Value) -> Result<(), ApiError> {
    if !pod.get("spec").is_some_and(Value::is_object) {
        return Ok(());
    }
    let spec = &mut pod["spec"];
    let account = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .or_else(|| spec.get("serviceAccount").and_then(Value::as_str))
        .filter(|name| !name.is_empty())
        .unwrap_or("default")
        .to_owned();
    spec["serviceAccountName"] = json!(account);
    spec["serviceAccount"] = json!(account);
    let attempts = if account == "default" {
        DEFAULT_ACCOUNT_ATTEMPTS
    } else {
        1
    };
    let mut found = None;
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(DEFAULT_ACCOUNT_RETRY).await;
        }
        if let Ok(sa) = store.get(Resource::ServiceAccounts, Some(namespace), &account) {
            found = Some(sa);
            break;
        }
    }
    let Some(sa) = found else {
        let meta = &pod["metadata"];
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .or_else(|| meta.get("generateName").and_then(Value::as_str))
            .unwrap_or_default();
        return Err(ApiError::forbidden(format!(
            "pods \"{name}\" is forbidden: error looking up service account {namespace}/{account}: serviceaccount \"{account}\" not found"
        )));
    };
    let automount = pod["spec"]
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            sa.get("automountServiceAccountToken")
                .and_then(Value::as_bool)
        })
        .unwrap_or(true);
    if automount {
        mount_token(&mut pod["spec"]);
    }
    Ok(())
}

/// Adds the `kube-api-access-*` volume and mounts it in every container without a mount at
/// [`SERVICE_ACCOUNT_MOUNT_PATH`].
fn mount_token(spec: &mut Value) {
    let name = format!("kube-api-access-{}", suffix());
    let mut used = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers {
            let mounts = container
                .as_object_mut()
                .map(|c| c.entry("volumeMounts").or_insert_with(|| json!([])));
            let Some(Value::Array(mounts)) = mounts else {
                continue;
            };
            if mounts
                .iter()
                .any(|m| m["mountPath"] == SERVICE_ACCOUNT_MOUNT_PATH)
            {
                continue;
            }
            mounts.push(json!({
                "name": name, "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH,
            }));
            used = true;
        }
    }
    if !used {
        return;
    }
    let volume = json!({
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": PROJECTED_TOKEN_SECONDS, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIG_MAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
            "defaultMode": 0o644,
        },
    });
    let volumes = spec
        .as_object_mut()
        .map(|s| s.entry("volumes").or_insert_with(|| json!([])));
    if let Some(Value::Array(volumes)) = volumes {
        volumes.push(volume);
    }
}

/// Five characters of the alphabet generated names use.
fn suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": spec})
    }

    fn store_with(account: Value) -> Store {
        let store = Store::new();
        store
            .create(Resource::ServiceAccounts, Some("default"), account)
            .unwrap();
        store
    }

    #[tokio::test]
    async fn a_pod_gets_its_token_volume_mounted_in_every_container() {
        let store = store_with(json!({"metadata": {"name": "default"}}));
        let mut p = pod(json!({"containers": [{"name": "a"}, {"name": "b",
            "volumeMounts": [{"name": "own", "mountPath": SERVICE_ACCOUNT_MOUNT_PATH}]}]}));
        admit_pod(&store, "default", &mut p).await.unwrap();
        assert_eq!(p["spec"]["serviceAccountName"], "default");
        let volume = &p["spec"]["volumes"][0];
        let name = volume["name"].as_str().unwrap();
        assert!(
            name.starts_with("kube-api-access-") && name.len() == 21,
            "{name}"
        );
        assert_eq!(
            volume["projected"]["sources"][1]["configMap"]["name"],
            ROOT_CA_CONFIG_MAP
        );
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"][0],
            json!({"name": name, "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH})
        );
        assert_eq!(
            p["spec"]["containers"][1]["volumeMounts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn automount_is_off_by_the_pods_word_first_then_the_service_accounts() {
        let store = store_with(json!({"metadata": {"name": "quiet"},
                                      "automountServiceAccountToken": false}));
        for (spec, mounted) in [
            (json!({"serviceAccountName": "quiet"}), false),
            (
                json!({"serviceAccountName": "quiet", "automountServiceAccountToken": true}),
                true,
            ),
        ] {
            let mut spec = spec;
            spec["containers"] = json!([{"name": "a"}]);
            let mut p = pod(spec);
            admit_pod(&store, "default", &mut p).await.unwrap();
            assert_eq!(p["spec"]["volumes"].is_array(), mounted, "{p}");
        }
        let store = store_with(json!({"metadata": {"name": "default"}}));
        let mut p =
            pod(json!({"automountServiceAccountToken": false, "containers": [{"name": "a"}]}));
        admit_pod(&store, "default", &mut p).await.unwrap();
        assert!(p["spec"]["volumes"].is_null(), "{p}");
    }

    #[tokio::test]
    async fn a_missing_service_account_is_forbidden_as_kube_apiserver_words_it() {
        let store = Store::new();
        let mut p = json!({"metadata": {"generateName": "job-"},
                           "spec": {"serviceAccountName": "x", "containers": [{"name": "a"}]}});
        let error = admit_pod(&store, "shop", &mut p).await.unwrap_err();
        assert_eq!((error.code, error.reason.as_str()), (403, "Forbidden"));
        assert_eq!(
            error.message,
            "pods \"job-\" is forbidden: error looking up service account shop/x: serviceaccount \"x\" not found"
        );
    }
}
