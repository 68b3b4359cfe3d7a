//! Whether a Service has a ready endpoint: from EndpointSlices (`discovery.k8s.io/v1`) where the
//! server serves them, as discovery says, else from the core Endpoints that every server has.
//! An API error is returned, never taken for "no endpoint".

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::failure::Failure;
use crate::k8s::{Api, Client, EndpointSlice, Endpoints, ListParams};

/// Why the endpoints of Services could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EndpointsError {
    #[error("cannot find where the API server keeps endpoints: {}", Failure::of(.0))]
    Discovery(kube::Error),
    #[error("cannot read the endpoints of Service {namespace}/{name}: {}", Failure::of(.source))]
    Read {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

/// Waits until each Service of `services` (`(namespace, name)`) has a ready endpoint, up to
/// `limit`, polling every `interval`; returns those that do.
///
/// # Errors
/// An API error ends the wait, never taken for "no endpoint".
pub(crate) async fn wait_ready_endpoints(
    client: &Client,
    services: &BTreeSet<(String, String)>,
    limit: Duration,
    interval: Duration,
) -> Result<BTreeSet<(String, String)>, EndpointsError> {
    let mut ready = BTreeSet::new();
    if services.is_empty() {
        return Ok(ready);
    }
    let source = endpoint_source(client)
        .await
        .map_err(EndpointsError::Discovery)?;
    let deadline = Instant::now() + limit;
    loop {
        for (namespace, name) in services.difference(&ready.clone()) {
            let found = has_ready_endpoint(client, source, namespace, name)
                .await
                .map_err(|source| EndpointsError::Read {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    source,
                })?;
            if found {
                ready.insert((namespace.clone(), name.clone()));
            }
        }
        if ready.len() == services.len() || Instant::now() >= deadline {
            return Ok(ready);
        }
        tokio::time::sleep(interval).await;
    }
}

/// Where a server keeps the endpoints of Services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndpointSource {
    /// `discovery.k8s.io/v1` EndpointSlices (Kubernetes 1.21 and later).
    Slices,
    /// Core `v1` Endpoints (every server; the only choice before 1.21, whose EndpointSlices are
    /// `v1beta1`).
    Endpoints,
}

/// Asks discovery which source this server has.
///
/// # Errors
/// Discovery failing other than with a 404.
pub(crate) async fn endpoint_source(client: &Client) -> Result<EndpointSource, kube::Error> {
    match client.list_api_group_resources("discovery.k8s.io/v1").await {
        Ok(list) if list.resources.iter().any(|r| r.name == "endpointslices") => {
            Ok(EndpointSource::Slices)
        }
        Ok(_) => Ok(EndpointSource::Endpoints),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(EndpointSource::Endpoints),
        Err(error) => Err(error),
    }
}

/// Whether Service `namespace/name` has a ready endpoint with an address.
///
/// # Errors
/// The API's, as they are.
pub(crate) async fn has_ready_endpoint(
    client: &Client,
    source: EndpointSource,
    namespace: &str,
    name: &str,
) -> Result<bool, kube::Error> {
    match source {
        EndpointSource::Slices => {
            let api = Api::<EndpointSlice>::namespaced(client.clone(), namespace);
            let params =
                ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
            let slices = api.list(&params).await?;
            Ok(slices
                .items
                .iter()
                .flat_map(|slice| &slice.endpoints)
                .any(|endpoint| {
                    endpoint
                        .conditions
                        .as_ref()
                        .and_then(|c| c.ready)
                        .unwrap_or(true)
                        && !endpoint.addresses.is_empty()
                }))
        }
        EndpointSource::Endpoints => {
            let api = Api::<Endpoints>::namespaced(client.clone(), namespace);
            let Some(endpoints) = api.get_opt(name).await? else {
                return Ok(false);
            };
            Ok(endpoints
                .subsets
                .iter()
                .flatten()
                .any(|subset| subset.addresses.as_ref().is_some_and(|a| !a.is_empty())))
        }
    }
}
