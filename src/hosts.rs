//! The host tables netverdict knows before a run resolves names: `expect: auto` and the lints use
//! them offline, the runner with the pods' real IPs.

use std::net::IpAddr;

use crate::scenario::HostTable;

/// The embedded local cluster's emulated external hosts (`external.test`, `external2.test`).
pub(crate) fn local_cluster() -> HostTable {
    netverdict_localcluster::EXTERNAL_HOSTS
        .iter()
        .map(|(host, ip)| ((*host).to_string(), IpAddr::V4(*ip)))
        .collect()
}
