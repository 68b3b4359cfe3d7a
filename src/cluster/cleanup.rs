//! Removing what runs created: by label, so only netverdict's own objects are touched.
//!
//! Every request of a cleanup is bounded ([`Limits::request`]) and the whole cleanup too
//! ([`Limits::total`]): what cannot be removed in that time, or is refused, is reported as
//! [`CleanupProblem`]s naming each object left and, for a refusal, the missing permission.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::future::join_all;
use tokio::time::Instant;

use super::failure::{Cause, Failure};
use super::labels::{RunId, all_runs_selector};
use super::permissions::permission;
use super::sharing::others_objects;
use crate::k8s::{
    Api, Client, ConfigMap, DeleteParams, ListParams, Namespace, NetworkPolicy, Pod, Service,
};

/// How long a cleanup may take in all, and each of its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) total: Duration,
    pub(crate) request: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            total: Duration::from_secs(60),
            request: Duration::from_secs(10),
        }
    }
}

/// The kinds of object a run creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    NetworkPolicy,
    Pod,
    Service,
    /// The owner of a run's mimics in a namespace it does not create.
    ConfigMap,
    Namespace,
}

impl Kind {
    /// The word the terminal uses.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::Pod => "pod",
            Kind::Service => "service",
            Kind::ConfigMap => "ConfigMap",
            Kind::Namespace => "namespace",
        }
    }

    /// The API resource, as RBAC names it.
    pub(crate) fn resource(self) -> &'static str {
        match self {
            Kind::NetworkPolicy => "networkpolicies",
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::ConfigMap => "configmaps",
            Kind::Namespace => "namespaces",
        }
    }

    fn delete_params(self) -> DeleteParams {
        match self {
            Kind::Pod => DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
            _ => DeleteParams::default(),
        }
    }
}

/// One object: `pod ddi/client`, `namespace ddi`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Object {
    pub(crate) kind: Kind,
    /// `None` for a namespace.
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind.word(), self.name),
            None => write!(f, "{} {}", self.kind.word(), self.name),
        }
    }
}

/// Why one request of a cleanup did not do its job.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RequestProblem {
    #[error("{failure}{}", missing_note(.missing.as_deref()))]
    Failed {
        failure: Failure,
        /// For a `403 Forbidden`: the permission, in the manifests' words.
        missing: Option<String>,
    },
    #[error("no answer within {}", humantime::format_duration(*.limit))]
    NoAnswer { limit: Duration },
    #[error("not tried: the cleanup's {} were up", humantime::format_duration(*.total))]
    OutOfTime { total: Duration },
}

fn missing_note(missing: Option<&str>) -> String {
    missing.map_or_else(String::new, |m| format!(" (missing permission: {m})"))
}

impl RequestProblem {
    fn code(&self) -> Option<u16> {
        match self {
            RequestProblem::Failed {
                failure:
                    Failure {
                        cause: Cause::Status { code, .. },
                        ..
                    },
                ..
            } => Some(*code),
            _ => None,
        }
    }

    /// The permission whose lack caused it.
    pub(crate) fn missing(&self) -> Option<&str> {
        match self {
            RequestProblem::Failed { missing, .. } => missing.as_deref(),
            _ => None,
        }
    }
}

/// What a cleanup could not do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CleanupProblem {
    /// An object of the run is still there: deleting it failed.
    #[error("{object} left: deleting it failed: {why}")]
    Left { object: Object, why: RequestProblem },
    /// The run's objects of a kind could not be listed: any of them may be left.
    #[error("the run's {} may be left: listing them failed: {why}", listed(*.kind, .namespace.as_deref()))]
    NotListed {
        kind: Kind,
        namespace: Option<String>,
        why: RequestProblem,
    },
    /// Pods of the run were deleted but are still terminating.
    #[error("{count} pod(s) of the run still terminating in {namespace} after {}", humantime::format_duration(*.waited))]
    StillTerminating {
        namespace: String,
        count: usize,
        waited: Duration,
    },
    /// A namespace the run created stays: whether others' objects are in it is unknown.
    #[error("namespace {namespace} left in place: {why}")]
    Unchecked { namespace: String, why: String },
}

/// `pods in namespace ddi`, `pods in all namespaces`, `namespaces`.
fn listed(kind: Kind, namespace: Option<&str>) -> String {
    match (kind, namespace) {
        (Kind::Namespace, _) => kind.resource().to_owned(),
        (_, Some(namespace)) => format!("{} in namespace {namespace}", kind.resource()),
        (_, None) => format!("{} in all namespaces", kind.resource()),
    }
}

impl CleanupProblem {
    /// The object it leaves behind, when it names one.
    pub(crate) fn object(&self) -> Option<&Object> {
        match self {
            CleanupProblem::Left { object, .. } => Some(object),
            _ => None,
        }
    }

    /// The permission whose lack caused it.
    pub(crate) fn missing(&self) -> Option<&str> {
        match self {
            CleanupProblem::Left { why, .. } | CleanupProblem::NotListed { why, .. } => {
                why.missing()
            }
            _ => None,
        }
    }

    /// The kind and namespace whose listing tells whether it still holds.
    fn listing(&self) -> Option<(Kind, Option<String>)> {
        match self {
            CleanupProblem::Left { object, .. } => Some((object.kind, object.namespace.clone())),
            CleanupProblem::NotListed {
                kind, namespace, ..
            } => Some((*kind, namespace.clone())),
            CleanupProblem::StillTerminating { namespace, .. } => {
                Some((Kind::Pod, Some(namespace.clone())))
            }
            CleanupProblem::Unchecked { .. } => None,
        }
    }
}

/// What a cleanup removed, and what it could not.
#[derive(Debug, Default)]
pub(crate) struct Cleaned {
    pub(crate) deleted: Vec<Object>,
    pub(crate) failed: Vec<CleanupProblem>,
    /// Namespaces the run created but left in place: others' objects are in them.
    pub(crate) kept: Vec<Kept>,
    /// The kinds and namespaces this cleanup listed: what it did not find there is gone.
    listed: BTreeSet<(Kind, Option<String>)>,
}

impl Cleaned {
    /// Adds the problems of an earlier cleanup of the same run that this one cannot have seen
    /// again: those in a kind and namespace it did not list.
    pub(crate) fn add_earlier(&mut self, earlier: Vec<CleanupProblem>) {
        for problem in earlier {
            let seen_again = problem
                .listing()
                .is_some_and(|listing| self.listed.contains(&listing));
            if !seen_again && !self.failed.contains(&problem) {
                self.failed.push(problem);
            }
        }
    }
}

/// A namespace cleanup left in place, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kept {
    pub(crate) namespace: String,
    pub(crate) why: String,
}

impl std::fmt::Display for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "namespace {} left in place: {}",
            self.namespace, self.why
        )
    }
}

/// The deadline of one cleanup, which bounds each of its requests.
struct Clock {
    limits: Limits,
    deadline: Instant,
}

impl Clock {
    fn start(limits: Limits) -> Clock {
        Clock {
            limits,
            deadline: Instant::now() + limits.total,
        }
    }

    fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Sends `request` (`verb` on `kind` in `namespace`), bounded by the request limit and the
    /// deadline; a refusal names the missing permission.
    async fn ask<T>(
        &self,
        verb: &str,
        kind: Kind,
        namespace: Option<&str>,
        request: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, RequestProblem> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RequestProblem::OutOfTime {
                total: self.limits.total,
            });
        }
        let limit = left.min(self.limits.request);
        match tokio::time::timeout(limit, request).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                let failure = Failure::of(&error);
                let forbidden = matches!(failure.cause, Cause::Status { code: 403, .. });
                let missing = forbidden.then(|| permission(verb, kind.resource(), namespace));
                Err(RequestProblem::Failed { failure, missing })
            }
            Err(_) if limit < self.limits.request => Err(RequestProblem::OutOfTime {
                total: self.limits.total,
            }),
            Err(_) => Err(RequestProblem::NoAnswer { limit }),
        }
    }
}

/// Deletes the run's policies, pods and Services in `namespaces`, the ConfigMaps that own its
/// mimics in `owners`, then the namespaces in `created` that hold no pod, Service or
/// NetworkPolicy of anyone else (another run, or not netverdict), and waits until the pods it
/// deleted are gone; all within `limits`.
///
/// # Caveats
/// An object someone creates between the look and the delete goes with the namespace.
pub(crate) async fn delete_run(
    client: &Client,
    run: &RunId,
    (namespaces, owners): (&[String], &[String]),
    created: &[String],
    limits: Limits,
) -> Cleaned {
    let clock = Clock::start(limits);
    let mut cleaned = Cleaned::default();
    let selector = ListParams::default().labels(&run.selector());
    let mut each = Each {
        client,
        selector: &selector,
        clock: &clock,
        cleaned: &mut cleaned,
    };
    each.delete_in(namespaces).await;
    each.delete_owners(owners).await;
    delete_namespaces(client, run, created, &clock, &mut cleaned).await;
    wait_for_pods(client, &selector, &clock, &mut cleaned).await;
    cleaned
}

/// Deletes the namespaces in `created` that hold nobody else's objects.
async fn delete_namespaces(
    client: &Client,
    run: &RunId,
    created: &[String],
    clock: &Clock,
    cleaned: &mut Cleaned,
) {
    let namespaces_api = Api::<Namespace>::all(client.clone());
    for namespace in created {
        let object = Object {
            kind: Kind::Namespace,
            namespace: None,
            name: namespace.clone(),
        };
        let look = clock.ask("list", Kind::Pod, Some(namespace), async {
            Ok(others_objects(client, run, namespace).await)
        });
        match look.await {
            Ok(Ok(others)) if others.is_empty() => {}
            Ok(Ok(others)) => {
                cleaned.kept.push(kept_because(namespace, &others));
                continue;
            }
            Ok(Err(error)) => {
                cleaned.failed.push(CleanupProblem::Unchecked {
                    namespace: namespace.clone(),
                    why: error.to_string(),
                });
                continue;
            }
            Err(why) => {
                cleaned.failed.push(CleanupProblem::Left { object, why });
                continue;
            }
        }
        let params = DeleteParams::default();
        let delete = namespaces_api.delete(namespace, &params);
        match clock.ask("delete", Kind::Namespace, None, delete).await {
            Ok(_) => cleaned.deleted.push(object),
            // 409: already terminating ("The system is ensuring all content is removed from
            // this namespace"): it is going, as asked.
            Err(why) if matches!(why.code(), Some(404 | 409)) => {}
            Err(why) => cleaned.failed.push(CleanupProblem::Left { object, why }),
        }
    }
}

/// Waits until the pods the cleanup deleted are gone, up to its deadline.
async fn wait_for_pods(
    client: &Client,
    selector: &ListParams,
    clock: &Clock,
    cleaned: &mut Cleaned,
) {
    let mut deleted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for object in cleaned.deleted.iter().filter(|o| o.kind == Kind::Pod) {
        if let Some(namespace) = &object.namespace {
            deleted
                .entry(namespace.clone())
                .or_default()
                .insert(object.name.clone());
        }
    }
    let started = Instant::now();
    let waits = deleted.into_iter().map(|(namespace, names)| {
        let pods = Api::<Pod>::namespaced(client.clone(), &namespace);
        async move {
            loop {
                let listed = clock.ask("list", Kind::Pod, Some(&namespace), pods.list(selector));
                let count = match listed.await {
                    Ok(list) => list
                        .items
                        .iter()
                        .filter(|pod| {
                            pod.metadata
                                .name
                                .as_ref()
                                .is_some_and(|n| names.contains(n))
                        })
                        .count(),
                    Err(RequestProblem::OutOfTime { .. }) => names.len(),
                    Err(why) => {
                        return Some(CleanupProblem::NotListed {
                            kind: Kind::Pod,
                            namespace: Some(namespace),
                            why,
                        });
                    }
                };
                if count == 0 {
                    return None;
                }
                if clock.out_of_time() {
                    return Some(CleanupProblem::StillTerminating {
                        namespace,
                        count,
                        waited: started.elapsed(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    let problems: Vec<CleanupProblem> = join_all(waits).await.into_iter().flatten().collect();
    cleaned.failed.extend(problems);
}

/// Deletes, one by one, the objects a selector selects.
struct Each<'a> {
    client: &'a Client,
    selector: &'a ListParams,
    clock: &'a Clock,
    cleaned: &'a mut Cleaned,
}

impl Each<'_> {
    /// Deletes the selected policies, pods and Services in each of `namespaces`, asking only
    /// within them (what a Role in each grants).
    async fn delete_in(&mut self, namespaces: &[String]) {
        // One delete per object rather than deletecollection: the manifests grant `delete` only.
        for namespace in namespaces {
            let client = self.client.clone();
            let within = Some(namespace.as_str());
            let policies = Api::<NetworkPolicy>::namespaced(client.clone(), namespace);
            self.delete(&policies, Kind::NetworkPolicy, within).await;
            let pods = Api::<Pod>::namespaced(client.clone(), namespace);
            self.delete(&pods, Kind::Pod, within).await;
            let services = Api::<Service>::namespaced(client, namespace);
            self.delete(&services, Kind::Service, within).await;
        }
    }

    /// Deletes the ConfigMaps that own the run's mimics in `namespaces`.
    async fn delete_owners(&mut self, namespaces: &[String]) {
        for namespace in namespaces {
            let configmaps = Api::<ConfigMap>::namespaced(self.client.clone(), namespace);
            self.delete(&configmaps, Kind::ConfigMap, Some(namespace.as_str()))
                .await;
        }
    }

    /// [`Each::delete_owners`] where the identity may list ConfigMaps: one that may not could
    /// never have made one (mimics need `list configmaps` in their namespace), so nothing of a
    /// run's can be there.
    async fn delete_owners_if_allowed(&mut self, namespaces: &[String]) {
        let before = self.cleaned.failed.len();
        self.delete_owners(namespaces).await;
        let mut index = 0;
        self.cleaned.failed.retain(|problem| {
            index += 1;
            index <= before
                || !matches!(
                    problem,
                    CleanupProblem::NotListed { kind: Kind::ConfigMap, why, .. }
                        if why.code() == Some(403)
                )
        });
    }

    /// Deletes every object of kind `K` that `list` finds (in `namespace`, or in all).
    async fn delete<K>(&mut self, list: &Api<K>, kind: Kind, namespace: Option<&str>)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned,
        K::DynamicType: Default,
    {
        let listed = self
            .clock
            .ask("list", kind, namespace, list.list(self.selector))
            .await;
        let items = match listed {
            Ok(list) => list.items,
            Err(why) => {
                self.cleaned.failed.push(CleanupProblem::NotListed {
                    kind,
                    namespace: namespace.map(str::to_owned),
                    why,
                });
                return;
            }
        };
        self.cleaned
            .listed
            .insert((kind, namespace.map(str::to_owned)));
        for item in items {
            let object = Object {
                kind,
                namespace: item.meta().namespace.clone(),
                name: item.meta().name.clone().unwrap_or_default(),
            };
            let within = object.namespace.clone().unwrap_or_default();
            let api = Api::<K>::namespaced(self.client.clone(), &within);
            let params = kind.delete_params();
            let delete = api.delete(&object.name, &params);
            match self.clock.ask("delete", kind, Some(&within), delete).await {
                Ok(_) => self.cleaned.deleted.push(object),
                Err(why) if why.code() == Some(404) => {}
                Err(why) => self
                    .cleaned
                    .failed
                    .push(CleanupProblem::Left { object, why }),
            }
        }
    }
}

/// Why a namespace the run created stays: whose objects are still in it.
fn kept_because(namespace: &str, others: &[(String, Option<String>)]) -> Kept {
    let owners: BTreeSet<String> = others
        .iter()
        .map(|(_, run)| match run {
            Some(run) => format!("netverdict run {run}"),
            None => "someone else (not netverdict)".to_owned(),
        })
        .collect();
    let first = others
        .first()
        .map(|(object, _)| object.as_str())
        .unwrap_or_default();
    Kept {
        namespace: namespace.to_owned(),
        why: format!(
            "it holds {} object(s) of {} (such as {first})",
            others.len(),
            owners.into_iter().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Deletes what killed runs left behind anywhere in the cluster: every NetworkPolicy, pod,
/// Service, ConfigMap and namespace labelled by netverdict (only those of `run` when given).
/// Given `namespaces`, only the policies, pods, Services and ConfigMaps in them, asking for
/// nothing cluster-scoped (an identity with a Role in each, as `deploy/rbac/namespaced.yaml`
/// grants, may do it).
pub(crate) async fn delete_leftovers(
    client: &Client,
    run: Option<&RunId>,
    namespaces: &[String],
) -> Cleaned {
    let selector = run.map_or_else(all_runs_selector, RunId::selector);
    let params = ListParams::default().labels(&selector);
    let clock = Clock::start(Limits::default());
    let mut cleaned = Cleaned::default();
    let mut each = Each {
        client,
        selector: &params,
        clock: &clock,
        cleaned: &mut cleaned,
    };
    if !namespaces.is_empty() {
        each.delete_in(namespaces).await;
        each.delete_owners_if_allowed(namespaces).await;
        return cleaned;
    }
    each.delete(
        &Api::<NetworkPolicy>::all(client.clone()),
        Kind::NetworkPolicy,
        None,
    )
    .await;
    each.delete(&Api::<Pod>::all(client.clone()), Kind::Pod, None)
        .await;
    each.delete(&Api::<Service>::all(client.clone()), Kind::Service, None)
        .await;
    each.delete(
        &Api::<ConfigMap>::all(client.clone()),
        Kind::ConfigMap,
        None,
    )
    .await;
    let namespaces = Api::<Namespace>::all(client.clone());
    let listed = clock.ask("list", Kind::Namespace, None, namespaces.list(&params));
    let items = match listed.await {
        Ok(list) => list.items,
        Err(why) => {
            cleaned.failed.push(CleanupProblem::NotListed {
                kind: Kind::Namespace,
                namespace: None,
                why,
            });
            return cleaned;
        }
    };
    for namespace in items {
        let object = Object {
            kind: Kind::Namespace,
            namespace: None,
            name: namespace.metadata.name.unwrap_or_default(),
        };
        let params = DeleteParams::default();
        let delete = namespaces.delete(&object.name, &params);
        match clock.ask("delete", Kind::Namespace, None, delete).await {
            Ok(_) => cleaned.deleted.push(object),
            Err(why) if matches!(why.code(), Some(404 | 409)) => {}
            Err(why) => cleaned.failed.push(CleanupProblem::Left { object, why }),
        }
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::Config;

    #[tokio::test]
    async fn a_server_that_never_answers_ends_the_cleanup_at_its_deadline_naming_what_is_left() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        // Accepts every connection and never answers.
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let config = Config::new(format!("http://{address}").parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let limits = Limits {
            total: Duration::from_millis(700),
            request: Duration::from_millis(200),
        };
        let run = RunId::parse("r1").unwrap();
        let namespaces = ["a".to_owned(), "b".to_owned()];
        let cleaned = delete_run(&client, &run, (&namespaces, &[]), &namespaces[..1], limits).await;
        server.abort();
        assert!(cleaned.deleted.is_empty());
        // Three kinds listed in two namespaces, and the namespace the run created.
        assert_eq!(cleaned.failed.len(), 7, "{:?}", cleaned.failed);
        let timed_out = |why: &RequestProblem| {
            matches!(
                why,
                RequestProblem::NoAnswer { .. } | RequestProblem::OutOfTime { .. }
            )
        };
        for problem in &cleaned.failed {
            match problem {
                CleanupProblem::NotListed { why, .. } | CleanupProblem::Left { why, .. } => {
                    assert!(timed_out(why), "{problem}");
                }
                _ => panic!("{problem}"),
            }
        }
        assert_eq!(
            cleaned.failed[0].to_string(),
            "the run's networkpolicies in namespace a may be left: listing them failed: no answer within 200ms"
        );
        assert_eq!(
            cleaned.failed[6].to_string(),
            "namespace a left: deleting it failed: not tried: the cleanup's 700ms were up"
        );
    }

    fn left(kind: Kind, namespace: &str, name: &str) -> CleanupProblem {
        CleanupProblem::Left {
            object: Object {
                kind,
                namespace: Some(namespace.to_owned()),
                name: name.to_owned(),
            },
            why: RequestProblem::NoAnswer {
                limit: Duration::from_secs(10),
            },
        }
    }

    #[test]
    fn an_earlier_problem_stands_unless_the_last_cleanup_looked_again() {
        let mut cleaned = Cleaned::default();
        cleaned.listed.insert((Kind::Pod, Some("a".to_owned())));
        cleaned.failed.push(left(Kind::Pod, "a", "x"));
        cleaned.add_earlier(vec![
            // Looked at again: gone, or among the last cleanup's own problems.
            left(Kind::Pod, "a", "x"),
            left(Kind::Pod, "a", "y"),
            // Not looked at again: still left as far as anyone knows.
            left(Kind::Service, "a", "s"),
            left(Kind::Pod, "b", "z"),
        ]);
        let named: Vec<String> = cleaned
            .failed
            .iter()
            .filter_map(|p| p.object().map(ToString::to_string))
            .collect();
        assert_eq!(named, ["pod a/x", "service a/s", "pod b/z"]);
    }
}
