//! The in-memory test cluster of the root crate's tests: the Linux-free API server on loopback,
//! a scripted kubelet that moves the pods it is given to Running and Ready (or fails them as told:
//! an image that cannot be pulled, a crash, never Ready) and a scripted probe agent that answers
//! every exec of `netverdict probe-batch`: from a script, or as the engine decides over the
//! policies in the store, so that the test bed can disagree with the runner.
//!
//! No root, no network namespaces: what the pods "serve" is what their container ports say.

mod agent;
mod kubelet;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use netverdict_apiserver::testing::{Credential, NoExec, SecureServer};
use netverdict_apiserver::{ExecHandler, Resource, Selection, Store};
use netverdict_probes::{Outcome, ProbeRequest};
use serde_json::{Value, json};

use crate::k8s::{Client, Config, Kubeconfig};

/// Serves `store` (no exec) and returns the server, to keep, and a client of it.
pub(crate) async fn serve(store: &Store) -> (SecureServer, Client) {
    serve_with(store, Arc::new(NoExec)).await
}

async fn serve_with(store: &Store, exec: Arc<dyn ExecHandler>) -> (SecureServer, Client) {
    let server = SecureServer::start(
        store.clone(),
        exec,
        netverdict_apiserver::ServerOptions::default(),
    )
    .await;
    let yaml = server.kubeconfig_yaml(Credential::ClientCertificate);
    let kubeconfig = Kubeconfig::from_yaml(&yaml).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    (server, Client::try_from(config).unwrap())
}

/// What becomes of a pod the kubelet is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PodFate {
    /// Running (and Ready, when it serves a port).
    Starts,
    /// Its image cannot be pulled: Pending, waiting with `ErrImagePull`, and a Warning event.
    ImagePullError,
    /// Its container exits with code 1 at once: phase Failed.
    Crashes,
    /// Running with an address, never Ready.
    NeverReady,
}

/// One probe of a batch the agent received.
#[derive(Clone, Debug)]
pub(crate) struct ProbeCall {
    /// The pod the batch runs in, `namespace/name`.
    pub(crate) pod: String,
    pub(crate) request: ProbeRequest,
    /// How many batches that pod received, this one included.
    pub(crate) round: u32,
}

impl ProbeCall {
    /// A positive control: from inside a pod to its own loopback address.
    pub(crate) fn is_control(&self) -> bool {
        use netverdict_probes::ProbeSpec;
        matches!(&self.request.probe,
            ProbeSpec::Tcp { host, .. } | ProbeSpec::Udp { host, .. } | ProbeSpec::Http { host, .. }
            if host == "127.0.0.1")
    }
}

/// The agent's answer to one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    Outcome(Outcome),
    /// No record ever comes: the batch hangs until the runner goes away.
    Hang,
}

type Answer = Box<dyn Fn(&ProbeCall) -> Option<Reply> + Send + Sync>;

/// What the test cluster does; changed by the test at any time.
#[derive(Default)]
pub(crate) struct Script {
    /// Pods (`namespace/name`) that do not simply start.
    fates: Mutex<BTreeMap<String, PodFate>>,
    /// Overrides the network: `None` from it leaves the probe to the engine's decision.
    answer: Mutex<Option<Answer>>,
    /// Every batch the agent received: the pod and its probes.
    batches: Mutex<Vec<(String, Vec<ProbeRequest>)>>,
}

impl Script {
    pub(crate) fn fate(&self, pod: &str, fate: PodFate) {
        lock(&self.fates).insert(pod.to_owned(), fate);
    }

    fn fate_of(&self, pod: &str) -> PodFate {
        lock(&self.fates)
            .get(pod)
            .copied()
            .unwrap_or(PodFate::Starts)
    }

    /// Answers the probes `answer` returns `Some` for; the engine decides the others.
    pub(crate) fn answer(
        &self,
        answer: impl Fn(&ProbeCall) -> Option<Reply> + Send + Sync + 'static,
    ) {
        *lock(&self.answer) = Some(Box::new(answer));
    }

    /// Records a batch of `pod`; returns its round (the pod's batches so far).
    fn received(&self, pod: &str, probes: &[ProbeRequest]) -> u32 {
        let mut batches = lock(&self.batches);
        batches.push((pod.to_owned(), probes.to_vec()));
        u32::try_from(batches.iter().filter(|(p, _)| p == pod).count()).unwrap_or(u32::MAX)
    }

    fn scripted(&self, call: &ProbeCall) -> Option<Reply> {
        lock(&self.answer).as_ref().and_then(|answer| answer(call))
    }

    /// The batches the agent received, as `(pod, probe count)`.
    pub(crate) fn batches(&self) -> Vec<(String, usize)> {
        lock(&self.batches)
            .iter()
            .map(|(pod, probes)| (pod.clone(), probes.len()))
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The API server, its kubelet and its probe agent, for as long as it is kept.
pub(crate) struct TestCluster {
    pub(crate) store: Store,
    pub(crate) client: Client,
    pub(crate) script: Arc<Script>,
    server: SecureServer,
    kubelet: tokio::task::JoinHandle<()>,
}

impl TestCluster {
    pub(crate) async fn start() -> TestCluster {
        let store = Store::new();
        let script = Arc::new(Script::default());
        let agent = agent::Agent::new(store.clone(), script.clone());
        let (server, client) = serve_with(&store, Arc::new(agent)).await;
        let kubelet = tokio::spawn(kubelet::run(store.clone(), script.clone()));
        TestCluster {
            store,
            client,
            script,
            server,
            kubelet,
        }
    }

    /// A kubeconfig that reaches the API server with its client certificate.
    pub(crate) fn kubeconfig(&self) -> String {
        self.server.kubeconfig_yaml(Credential::ClientCertificate)
    }

    /// Every pod, Service, NetworkPolicy and namespace labelled `selector`, as `kind
    /// namespace/name` (`namespace name` for namespaces), sorted.
    pub(crate) fn objects(&self, selector: &str) -> Vec<String> {
        let selection = Selection {
            label_selector: Some(selector.to_owned()),
            field_selector: None,
        };
        let mut found = Vec::new();
        for (resource, kind) in [
            (Resource::Namespaces, "namespace"),
            (Resource::Pods, "pod"),
            (Resource::Services, "service"),
            (Resource::NetworkPolicies, "networkpolicy"),
        ] {
            let (items, _) = self.store.list(resource, None, &selection).unwrap();
            found.extend(items.iter().map(|item| {
                let name = item["metadata"]["name"].as_str().unwrap_or_default();
                match item["metadata"]["namespace"].as_str() {
                    Some(namespace) => format!("{kind} {namespace}/{name}"),
                    None => format!("{kind} {name}"),
                }
            }));
        }
        found.sort();
        found
    }

    /// Creates `object` (JSON) as someone else than the run would.
    pub(crate) fn create(&self, resource: Resource, namespace: Option<&str>, object: Value) {
        self.store.create(resource, namespace, object).unwrap();
    }

    /// The pod as the store holds it.
    pub(crate) fn pod(&self, namespace: &str, name: &str) -> Option<Value> {
        self.store.get(Resource::Pods, Some(namespace), name).ok()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.kubelet.abort();
    }
}

/// Rewrites a pod's status as after its container was killed: terminated with code 137, phase
/// Failed, not Ready.
pub(crate) fn kill(pod: &mut Value) {
    kubelet::killed(pod);
}

/// A namespace labelled `labels`, for tests that set the cluster up as someone else would.
pub(crate) fn namespace(name: &str, labels: &BTreeMap<String, String>) -> Value {
    json!({"metadata": {"name": name, "labels": labels}})
}
