//! Expansion of `spec.probes` into concrete [`Probe`](crate::model::Probe)s: targets and `pods`
//! selectors resolved ([`target`]), named ports looked up and `via` and protocol settled
//! ([`port`]), per-entry settings checked ([`settings`]), matrices multiplied out ([`matrix`]),
//! truth tables read ([`table`]), identical probes merged ([`duplicates`]).

mod duplicates;
mod entry;
mod matrix;
mod port;
mod settings;
mod table;
mod target;

pub(crate) use entry::Expander;
