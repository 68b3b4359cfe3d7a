//! A run's namespaces: created with the run's labels, or used as found; a namespace that is
//! still terminating (an earlier run's, deleted moments ago) is waited for, then created anew.
//!
//! On a real cluster a deleted namespace stays `Terminating` for seconds while the namespace
//! controller removes its contents; meanwhile the API server refuses every create in it (`403
//! Forbidden`, `unable to create new content in namespace ... because it is being terminated`)
//! and a create of the namespace itself (`409`, `object is being deleted`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::ObjectMeta;

use super::failure::Failure;
use super::labels::RunId;
use super::objects::owner;
use super::sharing::run_of;
use crate::k8s::{Api, Client, Namespace, PostParams};

/// How often a terminating namespace is looked at. A GET, not a watch: it needs only the `get`
/// on namespaces that the run needs anyway, where a watch would need `list` and `watch` on all
/// namespaces.
const POLL: Duration = Duration::from_millis(250);

/// Whether the run created a namespace (and so deletes it) or found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NamespaceOrigin {
    Created,
    /// Made by a netverdict run (another, or an earlier one): deleted at the end like the run's
    /// own, when nobody else's objects are left in it.
    MadeByNetverdict,
    Existing,
}

/// A namespace the run needs that is still terminating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Terminating {
    pub(crate) name: String,
    /// Who left it, as far as its labels tell: `an earlier run, netverdict run ID`.
    pub(crate) left_by: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum NamespaceError {
    #[error("cannot create namespace {name}: {}", Failure::of(.source))]
    Create { name: String, source: kube::Error },
    #[error("cannot get namespace {name}: {}", Failure::of(.source))]
    Look { name: String, source: kube::Error },
    #[error(
        "namespace {name} is still terminating after {} (left by {left_by}); the run needs it gone to create it anew: try again later, or wait longer with --namespace-wait",
        humantime::format_duration(*.waited)
    )]
    StillTerminating {
        name: String,
        left_by: String,
        waited: Duration,
    },
    #[error(
        "namespace {name} of the run is still terminating after {}",
        humantime::format_duration(*.waited)
    )]
    NotGone { name: String, waited: Duration },
}

/// Whether a namespace is on its way out.
pub(crate) fn is_terminating(namespace: &Namespace) -> bool {
    namespace.metadata.deletion_timestamp.is_some()
        || namespace
            .status
            .as_ref()
            .and_then(|status| status.phase.as_deref())
            == Some("Terminating")
}

fn left_by(namespace: &Namespace) -> String {
    match owner(namespace) {
        run if run.starts_with("netverdict run ") => format!("an earlier run, {run}"),
        _ => "someone else, not netverdict".to_owned(),
    }
}

/// Creates namespace `name` with `labels` plus the run's labels, or uses it as it is when it
/// exists already (an existing namespace is never relabelled; one not made by netverdict is never
/// deleted). One that is still terminating is waited for (`waiting` is told first), up to
/// `limit`, and then created.
///
/// # Errors
/// API failures; [`NamespaceError::StillTerminating`] when the namespace did not go within
/// `limit`.
pub(crate) async fn ensure_namespace(
    client: &Client,
    run: &RunId,
    name: &str,
    labels: &BTreeMap<String, String>,
    limit: Duration,
    waiting: &(dyn Fn(&Terminating) + Sync),
) -> Result<NamespaceOrigin, NamespaceError> {
    let api = Api::<Namespace>::all(client.clone());
    let mut all_labels = labels.clone();
    all_labels.extend(run.labels());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(all_labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    loop {
        let found = match api.get_opt(name).await {
            Ok(found) => found,
            // Namespaced mode without the optional `get namespaces`: the namespace is taken to
            // exist (the preflight said so); a missing one fails the first create in it.
            Err(kube::Error::Api(status)) if status.code == 403 => {
                return Ok(NamespaceOrigin::Existing);
            }
            Err(source) => return Err(look_error(name)(source)),
        };
        match found {
            Some(found) if is_terminating(&found) => {
                let terminating = Terminating {
                    name: name.to_owned(),
                    left_by: left_by(&found),
                };
                waiting(&terminating);
                if wait_gone(&api, &found, limit).await?.is_none() {
                    return Err(NamespaceError::StillTerminating {
                        name: terminating.name,
                        left_by: terminating.left_by,
                        waited: limit,
                    });
                }
                continue;
            }
            Some(found) if run_of(found.metadata.labels.as_ref()).is_some() => {
                return Ok(NamespaceOrigin::MadeByNetverdict);
            }
            Some(_) => return Ok(NamespaceOrigin::Existing),
            None => {}
        }
        match api.create(&PostParams::default(), &namespace).await {
            Ok(_) => return Ok(NamespaceOrigin::Created),
            // Created (or deleted and still there) since the look-up: look again.
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(source) => {
                return Err(NamespaceError::Create {
                    name: name.to_owned(),
                    source,
                });
            }
        }
    }
}

fn look_error(name: &str) -> impl FnOnce(kube::Error) -> NamespaceError + '_ {
    move |source| NamespaceError::Look {
        name: name.to_owned(),
        source,
    }
}

/// Waits until `namespace` (this very one: a namespace of the same name created since is another)
/// is gone, up to `limit`; returns how long it took, `None` when it is still there.
async fn wait_gone(
    api: &Api<Namespace>,
    namespace: &Namespace,
    limit: Duration,
) -> Result<Option<Duration>, NamespaceError> {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    let started = Instant::now();
    loop {
        match api.get_opt(&name).await.map_err(look_error(&name))? {
            Some(current) if current.metadata.uid == namespace.metadata.uid => {}
            _ => return Ok(Some(started.elapsed())),
        }
        if started.elapsed() >= limit {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until every namespace in `names` is gone (or is another of the same name), up to
/// `limit` in all; returns how long it took.
///
/// # Errors
/// [`NamespaceError::NotGone`] for the first namespace still there after `limit`; API failures.
pub(crate) async fn wait_all_gone(
    client: &Client,
    names: &[String],
    limit: Duration,
) -> Result<Duration, NamespaceError> {
    let api = Api::<Namespace>::all(client.clone());
    let started = Instant::now();
    for name in names {
        let Some(found) = api.get_opt(name).await.map_err(look_error(name))? else {
            continue;
        };
        let left = limit.saturating_sub(started.elapsed());
        if wait_gone(&api, &found, left).await?.is_none() {
            return Err(NamespaceError::NotGone {
                name: name.clone(),
                waited: limit,
            });
        }
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {

    use netverdict_apiserver::{Resource, Store};
    use serde_json::json;

    use super::*;
    use crate::cluster::{CreateError, ProbePodSpec, create_pod};

    use crate::cluster::testing::serve;

    /// Namespace `shop` of an earlier run, deleted while its pod still runs: Terminating until
    /// the test finalizes the pod, as the kubelet would once the pod's processes ended.
    fn left_terminating(store: &Store) {
        let labels = RunId::parse("earlier").unwrap().labels();
        store
            .create(
                Resource::Namespaces,
                None,
                json!({"metadata": {"name": "shop", "labels": labels}}),
            )
            .unwrap();
        store
            .create(
                Resource::Pods,
                Some("shop"),
                json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
            )
            .unwrap();
        store
            .mutate(Resource::Pods, Some("shop"), "web", |pod| {
                pod["spec"]["nodeName"] = json!("node-1");
                pod["status"]["phase"] = json!("Running");
                Ok(())
            })
            .unwrap();
        store
            .delete(Resource::Namespaces, None, "shop", None)
            .unwrap();
    }

    #[tokio::test]
    async fn a_namespace_still_terminating_is_waited_for_then_created_anew() {
        let store = Store::new();
        let (_server, client) = serve(&store).await;
        left_terminating(&store);
        let run = RunId::parse("next").unwrap();
        let (told, mut heard) = tokio::sync::mpsc::unbounded_channel();
        let waiting = move |terminating: &Terminating| {
            let _ = told.send(terminating.clone());
        };
        let labels = BTreeMap::new();
        let ensure = ensure_namespace(
            &client,
            &run,
            "shop",
            &labels,
            Duration::from_secs(600),
            &waiting,
        );
        let finish = async {
            let terminating = heard.recv().await.unwrap();
            store
                .finalize_delete(Resource::Pods, Some("shop"), "web")
                .unwrap();
            terminating
        };
        let (origin, terminating) = tokio::join!(ensure, finish);
        assert_eq!(origin.unwrap(), NamespaceOrigin::Created);
        assert_eq!(
            terminating,
            Terminating {
                name: "shop".to_owned(),
                left_by: "an earlier run, netverdict run earlier".to_owned(),
            }
        );
        let shop = store.get(Resource::Namespaces, None, "shop").unwrap();
        assert_eq!(shop["status"]["phase"], "Active");
        assert_eq!(shop["metadata"]["labels"]["netverdict.io/run"], "next");
    }

    #[tokio::test]
    async fn a_namespace_that_does_not_go_in_time_is_a_setup_error_naming_it() {
        let store = Store::new();
        let (_server, client) = serve(&store).await;
        left_terminating(&store);
        let run = RunId::parse("next").unwrap();
        let error = ensure_namespace(
            &client,
            &run,
            "shop",
            &BTreeMap::new(),
            Duration::ZERO,
            &|_: &Terminating| {},
        )
        .await
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "namespace shop is still terminating after 0s (left by an earlier run, netverdict run earlier); \
             the run needs it gone to create it anew: try again later, or wait longer with --namespace-wait"
        );
        let error = wait_all_gone(&client, &["shop".to_owned()], Duration::ZERO)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "namespace shop of the run is still terminating after 0s"
        );
    }

    #[tokio::test]
    async fn a_create_refused_in_a_terminating_namespace_says_so() {
        let store = Store::new();
        let (_server, client) = serve(&store).await;
        left_terminating(&store);
        let run = RunId::parse("next").unwrap();
        let spec = ProbePodSpec {
            namespace: "shop".to_owned(),
            name: "late".to_owned(),
            labels: BTreeMap::new(),
            ports: Vec::new(),
            node: None,
            options: crate::cluster::ProbePodOptions {
                image: "netverdict".to_owned(),
                pull_policy: "IfNotPresent".to_owned(),
                ..Default::default()
            },
            lifetime: Duration::from_secs(60),
            mimic: None,
        };
        let error = create_pod(&client, &run, &spec.to_pod(&run))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, CreateError::NamespaceTerminating { namespace, .. } if namespace == "shop"),
            "{error}"
        );
        store
            .finalize_delete(Resource::Pods, Some("shop"), "web")
            .unwrap();
        let waited = wait_all_gone(&client, &["shop".to_owned()], Duration::from_secs(600)).await;
        assert!(waited.is_ok(), "{waited:?}");
    }
}
