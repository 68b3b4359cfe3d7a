//! Expansion of `spec.probes` into concrete [`Probe`](crate::model::Probe)s: targets and `pods`
//! selectors resolved ([`target`]), named ports looked up and `via` and protocol settled
//! ([`port`]), per-entry settings checked ([`settings`]), matrices multiplied out ([`matrix`]),
//! truth tables read ([`table`]), identical probes merged ([`duplicates`]); sources, mimics and
//! the deployed pods they and live targets name ([`from`]).

mod duplicates;
mod entry;
mod from;
mod matrix;
mod port;
mod settings;
mod table;
mod target;

pub(crate) use entry::Expander;
pub use from::MIMIC_PREFIX;
