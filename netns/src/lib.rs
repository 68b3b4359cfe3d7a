//! Linux network fabric of the local cluster: network namespaces, veth links, routes, nftables
//! and processes running inside pods.
//!
//! Layout (one fabric per local-cluster instance `<i>`):
//! - a *router* namespace `nvl-<i>_router`, the only place all pod traffic crosses; it has no
//!   link to the machine's own network (no veth to the root namespace, no NAT out), so nothing
//!   a pod sends can leave the machine. It forwards IPv4, holds [`GATEWAY_IP`] on `lo`, a /32
//!   route per pod and per external host, and a `blackhole` default route: a packet to any
//!   other address (192.0.2.77, 8.8.8.8, a ClusterIP port no Service has) is dropped silently,
//!   so a probe to it times out rather than being refused or unreachable. Its nftables tables
//!   are `ip netverdict-svc` (Services, [`Fabric::apply_services`]) and `inet
//!   netverdict-filter` (policies, [`Fabric::apply_filter`]);
//! - one namespace per pod `nvl-<i>_pod_<key>`, `lo` + `eth0`, a /32 address routed
//!   point-to-point to the router (Calico style): `default via 169.254.1.1 dev eth0`, whose MAC
//!   ([`GATEWAY_MAC`], the router end of every veth) is pinned in the neighbour table; the
//!   router end `pod<n>` pins the pod's MAC (`0a:58:` + its address) the same way, so no ARP is
//!   ever needed. Pods of all (virtual) nodes sit behind the same router;
//! - an *external* namespace `nvl-<i>_external` holding the emulated external hosts
//!   (documentation ranges, by default 203.0.113.10 and 198.51.100.10) and [`INFRA_IP`], wired
//!   to the router (`ext0` there, `eth0` inside) the same way as a pod. Servers there are
//!   sockets bound with [`NetnsHandle::bind_tcp`]/[`NetnsHandle::bind_udp`] or processes from
//!   [`NetnsHandle::command`].
//!
//! The fabric is IPv4 only: links have IPv6 disabled (`lo` keeps `::1`), so an IPv6 probe fails
//! at once with "network unreachable".
//!
//! Links, addresses, routes and neighbours are set over rtnetlink (about 1.5 ms per pod, see
//! `netns/bench.sh`); nftables rules go through `nft -f -`, one transaction per change.
//!
//! Every kernel object is named from the instance name, so several instances coexist and
//! [`destroy_leftovers`] can remove what a killed instance left behind. Files live under
//! `/run/netverdict/<i>/netns/` (the pods' resolv.conf); the rest of `/run/netverdict/<i>/`
//! belongs to the local cluster.
//!
//! Everything here needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and the `nft` tool.

mod cleanup;
mod error;
mod fabric;
mod names;
mod netlink;
mod nft;
mod pod;
mod root;
mod sys;

use std::net::Ipv4Addr;

pub use cleanup::destroy_leftovers;
pub use error::NetError;
pub use fabric::{Fabric, FabricConfig, NetnsHandle, PodNetwork, RunAs, ServiceRule};
pub use names::{NAME_PREFIX, NETNS_DIR, RUNTIME_ROOT};
pub use nft::{FILTER_TABLE, SERVICE_TABLE};
pub use root::{PodRoot, RootSpec, VolumeMount};

/// The router's address as every pod and the external namespace see it (their default
/// gateway, on-link). ICMP errors of the router come from it, and hairpin Service traffic is
/// SNATed to it.
pub const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// MAC of the router end of every veth (as Calico uses).
pub const GATEWAY_MAC: &str = "ee:ee:ee:ee:ee:ee";

/// An infrastructure address in the external namespace (TEST-NET-2), always present: the
/// endpoint of emulated infrastructure such as the `kubernetes` Service's API server.
pub const INFRA_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
