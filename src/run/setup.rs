//! The Setup phase of one scenario: its namespaces, Services, policies and probe pods are
//! created, labelled with the run id, and the run waits until the pods have started and the
//! Services probes target have a ready endpoint. Its end is [`Ready`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use super::clock::Clock;
use super::config::RunConfig;
use super::controls::LiveEvidence;
use super::lifecycle::RunObserver;
use super::objects;
use super::requests::LiveAddresses;
use crate::cluster::{
    CreateError, EndpointsError, NamespaceError, NamespaceOrigin, PodKey, PodStartError,
    Terminating, create_owner, create_pod, create_policy, create_service, ensure_namespace,
    wait_ready_endpoints, wait_started,
};
use crate::k8s::OwnerReference;
use crate::results::{Prediction, SetupPhases};
use crate::scenario::{NamespaceSpec, PodRef, Scenario, Target};

/// Why a scenario's setup failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Create(#[from] CreateError),
    #[error("service {namespace}/{name} got no ClusterIP")]
    NoClusterIp { namespace: String, name: String },
    #[error(transparent)]
    PodStart(#[from] PodStartError),
    #[error(transparent)]
    Endpoints(#[from] EndpointsError),
}

/// A scenario set up: the pods' and Services' addresses are known, the policies were applied
/// (which starts the clock of time-to-match), and the engine's predictions from the live
/// cluster are made (its `auto` expectations filled).
pub(super) struct Ready {
    pub(super) addresses: LiveAddresses,
    /// When the policies were applied.
    pub(super) applied: Instant,
    /// The targeted Services with a ready endpoint.
    pub(super) ready_services: BTreeSet<(String, String)>,
    pub(super) phases: SetupPhases,
    /// Per probe, the engine's prediction when the policies were applied.
    pub(super) predictions: Vec<Option<Prediction>>,
    /// What can show that the deployed destinations of its denies listen.
    pub(super) evidence: LiveEvidence,
}

/// Namespaces a run touched.
#[derive(Default)]
pub(super) struct Touched {
    /// Created by the run: deleted at the end.
    pub(super) created: Vec<String>,
    /// Every namespace the run created objects in.
    pub(super) used: BTreeSet<String>,
    /// Namespaces the run does not create where a ConfigMap of the run owns its mimics.
    pub(super) owners: BTreeSet<String>,
}

impl Touched {
    /// The namespaces a later `netverdict cleanup` of the run names: all it used when it created
    /// none (its identity may have a Role in each only), none otherwise (found by label).
    pub(super) fn to_name(&self) -> Vec<String> {
        if self.created.is_empty() {
            self.used.iter().cloned().collect()
        } else {
            Vec::new()
        }
    }
}

/// The Setup phase of one scenario, recording the namespaces it touches (and those it created).
pub(super) struct Setup<'a> {
    pub(super) client: &'a crate::k8s::Client,
    pub(super) config: &'a RunConfig,
    pub(super) observer: &'a dyn RunObserver,
    pub(super) touched: &'a Mutex<Touched>,
    /// The ClusterIPs of the deployed Services the probes go to.
    pub(super) live_services: &'a BTreeMap<(String, String), IpAddr>,
}

impl Setup<'_> {
    /// Creates everything and waits for the pods and the targeted Services' endpoints; returns
    /// what is known then, all but the predictions.
    pub(super) async fn run(&self, scenario: &Scenario) -> Result<Ready, SetupError> {
        let mut clock = Clock::start();
        let mut phases = SetupPhases::default();
        for namespace in &scenario.namespaces {
            self.namespace(&scenario.namespaces, &namespace.name)
                .await?;
        }
        phases.namespaces_ms = clock.lap();
        let mut addresses = LiveAddresses {
            services: self.services(scenario).await?,
            ..LiveAddresses::default()
        };
        phases.services_ms = clock.lap();
        // The policies go in before the pods start, as in a real deployment: by the time the
        // pods are up, a network that enforces promptly already does, and the first round is
        // final. Time-to-match counts from here.
        for policy in &scenario.policies {
            self.create(&scenario.namespaces, &policy.namespace, || {
                create_policy(self.client, &self.config.run_id, &policy.object)
            })
            .await?;
        }
        let applied = Instant::now();
        phases.policies_ms = clock.lap();
        let wanted = self.pods(scenario).await?;
        phases.pods_ms = clock.lap();
        addresses.pods = self.started(&wanted).await?;
        phases.pods_started_ms = clock.lap();
        self.live_addresses(scenario, &mut addresses);
        let limits = &self.config.limits;
        let ready_services = wait_ready_endpoints(
            self.client,
            &targeted_services(scenario),
            limits.endpoints,
            limits.endpoints_poll,
        )
        .await?;
        phases.endpoints_ms = clock.lap();
        Ok(Ready {
            addresses,
            applied,
            ready_services,
            phases,
            predictions: Vec::new(),
            evidence: LiveEvidence::new(),
        })
    }

    /// Creates the scenario's Services; returns their ClusterIPs.
    async fn services(
        &self,
        scenario: &Scenario,
    ) -> Result<BTreeMap<(String, String), IpAddr>, SetupError> {
        let mut addresses = BTreeMap::new();
        for service in &scenario.services {
            let object = objects::service(service);
            let created = self
                .create(&scenario.namespaces, &service.namespace, || {
                    create_service(self.client, &self.config.run_id, &object)
                })
                .await?;
            let cluster_ip = created
                .spec
                .and_then(|spec| spec.cluster_ip)
                .and_then(|ip| ip.parse().ok())
                .ok_or_else(|| SetupError::NoClusterIp {
                    namespace: service.namespace.clone(),
                    name: service.name.clone(),
                })?;
            addresses.insert(
                (service.namespace.clone(), service.name.clone()),
                cluster_ip,
            );
        }
        Ok(addresses)
    }

    /// Creates the probe pods (mimics owned by their namespace's ConfigMap of the run); returns
    /// them, each with whether it must become Ready.
    async fn pods(&self, scenario: &Scenario) -> Result<BTreeMap<PodKey, bool>, SetupError> {
        let (config, run) = (self.config, &self.config.run_id);
        let owners = self.owners(scenario).await?;
        let mut wanted = BTreeMap::new();
        for pod in &scenario.pods {
            let owner = owners.get(&pod.namespace).filter(|_| pod.mimic.is_some());
            let spec =
                objects::probe_pod(pod, &config.probe_pods, config.limits.pod_lifetime, owner);
            let object = spec.to_pod(run);
            self.create(&scenario.namespaces, &pod.namespace, || {
                create_pod(self.client, run, &object)
            })
            .await?;
            let key = PodKey {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            };
            wanted.insert(key, spec.becomes_ready());
        }
        Ok(wanted)
    }

    /// Waits until the `wanted` pods have started; returns their addresses.
    async fn started(
        &self,
        wanted: &BTreeMap<PodKey, bool>,
    ) -> Result<BTreeMap<PodRef, IpAddr>, SetupError> {
        let limit = self.config.limits.pod_start;
        let placements = wait_started(self.client, &self.config.run_id, wanted, limit, |pod, _| {
            self.observer.pod_started(pod)
        })
        .await?;
        Ok(placements
            .into_iter()
            .map(|(key, placement)| (PodRef::new(key.namespace, key.name), placement.ip))
            .collect())
    }

    /// The addresses of the deployed pods and Services the scenario probes.
    fn live_addresses(&self, scenario: &Scenario, addresses: &mut LiveAddresses) {
        for pod in &scenario.live_pods {
            if let Some(ip) = pod.ip {
                addresses.pods.insert(pod.pod_ref(), ip);
            }
        }
        for (key, ip) in self.live_services {
            addresses.services.insert(key.clone(), *ip);
        }
    }

    /// In each namespace the scenario does not create where it runs mimics, the ConfigMap that
    /// owns them, by namespace.
    async fn owners(
        &self,
        scenario: &Scenario,
    ) -> Result<BTreeMap<String, OwnerReference>, SetupError> {
        let mut owners = BTreeMap::new();
        for namespace in mimic_namespaces(scenario) {
            {
                let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
                touched.owners.insert(namespace.clone());
            }
            let owner = self
                .create(&scenario.namespaces, &namespace, || {
                    create_owner(self.client, &self.config.run_id, &namespace)
                })
                .await?;
            owners.insert(namespace, owner);
        }
        Ok(owners)
    }

    fn touch(&self, namespace: &str) {
        let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        touched.used.insert(namespace.to_owned());
    }

    /// Creates a scenario namespace (with its labels among `namespaces`) or finds it, after
    /// waiting for one still terminating.
    async fn namespace(&self, namespaces: &[NamespaceSpec], name: &str) -> Result<(), SetupError> {
        let labels = namespaces
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.labels.clone())
            .unwrap_or_default();
        let waiting = |terminating: &Terminating| self.observer.waiting_for_namespace(terminating);
        let origin = ensure_namespace(
            self.client,
            &self.config.run_id,
            name,
            &labels,
            self.config.limits.namespace_wait,
            &waiting,
        )
        .await?;
        // A namespace another run made is deleted at the end as if this run had made it, once
        // nobody else's objects are left in it: the run that made it may have left it for that
        // reason.
        if origin != NamespaceOrigin::Existing {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            if !touched.created.iter().any(|n| n == name) {
                touched.created.push(name.to_owned());
            }
        }
        self.touch(name);
        Ok(())
    }

    /// Runs `create` in `namespace`. When the API server refuses it because the namespace is
    /// being deleted (since the run looked at it: an earlier run's cleanup, or someone else),
    /// waits for the namespace to go, creates it anew and tries once more.
    async fn create<T, F, Fut>(
        &self,
        namespaces: &[NamespaceSpec],
        namespace: &str,
        create: F,
    ) -> Result<T, SetupError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, CreateError>>,
    {
        self.touch(namespace);
        match create().await {
            Err(CreateError::NamespaceTerminating { .. }) => {
                self.namespace(namespaces, namespace).await?;
                Ok(create().await?)
            }
            result => Ok(result?),
        }
    }
}

/// The namespaces the scenario does not create where it runs mimics.
pub(super) fn mimic_namespaces(scenario: &Scenario) -> Vec<String> {
    let namespaces: BTreeSet<String> = scenario
        .pods
        .iter()
        .filter(|p| p.mimic.is_some())
        .map(|p| p.namespace.clone())
        .collect();
    namespaces.into_iter().collect()
}

/// The scenario's Services that probes target.
fn targeted_services(scenario: &Scenario) -> BTreeSet<(String, String)> {
    scenario
        .probes
        .iter()
        .filter_map(|probe| match &probe.target {
            Target::Service {
                namespace, name, ..
            } => Some((namespace.clone(), name.clone())),
            _ => None,
        })
        .collect()
}
