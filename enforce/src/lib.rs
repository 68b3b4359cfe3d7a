//! Compiles NetworkPolicies into nftables rulesets that enforce them on real packets.
//!
//! The semantics come from `netverdict-engine` alone: [`compile`] turns the engine's model of a
//! cluster into a [`Ruleset`] of per-pod allow lists (an intermediate form that [`Ruleset::allows`]
//! can evaluate, so tests compare it with `Cluster::decide` on every connection), and
//! [`render_nft`] prints that as one nftables table for the router namespace, where all pod
//! traffic is forwarded.
//!
//! The rendered table hooks `forward` at the filter priority, after the Service translation
//! (`prerouting` DNAT), so Service traffic is judged on the endpoint pod, as with kube-proxy.
//! It is stateful: packets of established connections pass, so only the first packet of a
//! connection is judged, and replies of allowed connections always pass.

mod compile;
mod nft;

pub use compile::{Allow, CniMode, Denial, Direction, PodChain, Ports, Ruleset, compile};
pub use nft::{TABLE_NAME, render_nft};
