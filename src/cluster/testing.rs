//! A secured API server of the emulated kind on loopback and a client of it, for the tests of
//! the cluster operations.

use std::sync::Arc;

use netverdict_apiserver::Store;
use netverdict_apiserver::testing::{Credential, NoExec, SecureServer};

use crate::k8s::{Client, Config, Kubeconfig};

/// Serves `store` (no exec) and returns the server, to keep, and a client of it.
pub(crate) async fn serve(store: &Store) -> (SecureServer, Client) {
    let server = SecureServer::start(
        store.clone(),
        Arc::new(NoExec),
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
