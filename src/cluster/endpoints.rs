//! Whether a Service has a ready endpoint: from EndpointSlices (`discovery.k8s.io/v1`) where the
//! server serves them, as discovery says, else from the core Endpoints that every server has.
//! An API error is returned, never taken for "no endpoint".

use crate::k8s::{Api, Client, EndpointSlice, Endpoints, ListParams};

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
