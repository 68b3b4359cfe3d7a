//! Identical probes written twice (a probe listed on its own and covered by a matrix too, to
//! check one's expectations against `expect: auto`) are one probe: their expectations merge, an
//! explicit one wins over `auto`, and two that contradict each other are an error naming both.

use std::collections::BTreeMap;

use netverdict_engine::Quoted;

use crate::model::{ExpectSource, PodRef, Probe, Verdict, protocol_str, via_str};
use crate::reporter::Reporter;

/// What makes two probes the same connection attempt: source, target, port, protocol, kind
/// (`via`), DNS query and HTTP scheme and path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Identity {
    from: PodRef,
    target: String,
    port: u16,
    /// A named port of a deployed target, whose number (0 until then) is known at run time.
    port_name: Option<String>,
    protocol: &'static str,
    via: &'static str,
    query: Option<String>,
    http: Option<String>,
}

impl Identity {
    fn of(probe: &Probe) -> Self {
        Self {
            from: probe.from.clone(),
            target: probe.target.to_string(),
            port: probe.port,
            port_name: probe.port_name.clone().filter(|_| probe.port == 0),
            protocol: protocol_str(probe.protocol),
            via: via_str(probe.via),
            query: probe.dns.as_ref().map(|d| d.query.clone()),
            http: probe
                .http
                .as_ref()
                .map(|h| format!("{} {}", h.scheme, h.path)),
        }
    }
}

/// The probes of one scenario as they are added, entry by entry; names stay unique.
#[derive(Default)]
pub(super) struct ProbeSet {
    probes: Vec<Probe>,
    /// The `spec.probes` index each probe came from.
    entries: Vec<usize>,
    names: BTreeMap<String, usize>,
    identities: BTreeMap<Identity, usize>,
}

impl ProbeSet {
    /// Adds `probe` of entry `entry`, merging it into an identical probe of another entry;
    /// reports what cannot be added.
    pub(super) fn add(&mut self, report: &mut Reporter<'_, '_>, entry: usize, probe: Probe) {
        let path = format!("spec.probes[{entry}]");
        if let Some(&at) = self.identities.get(&Identity::of(&probe))
            && self.entries[at] != entry
        {
            if let Err(message) = self.merge(at, entry, probe) {
                report.error(&path, message);
            }
            return;
        }
        if let Some(&at) = self.names.get(&probe.name) {
            let message = if self.entries[at] == entry {
                format!(
                    "this entry yields the probe {} twice (the same cell twice?)",
                    Quoted(&probe.name)
                )
            } else {
                format!(
                    "probe name {} is already used by spec.probes[{}]; give one of them a distinct `name`",
                    Quoted(&probe.name),
                    self.entries[at]
                )
            };
            report.error(&path, message);
            return;
        }
        let at = self.probes.len();
        self.names.insert(probe.name.clone(), at);
        self.identities.insert(Identity::of(&probe), at);
        self.entries.push(entry);
        self.probes.push(probe);
    }

    /// Merges `probe` (of entry `entry`) into the identical probe at `at`: the one with an
    /// expectation of its own is kept whole (name, settings, location).
    fn merge(&mut self, at: usize, entry: usize, probe: Probe) -> Result<(), String> {
        let kept = &self.probes[at];
        match (judged(kept), judged(&probe)) {
            (_, false) => Ok(()),
            (true, true) => agree(kept, &probe),
            (false, true) => {
                if let Some(&other) = self.names.get(&probe.name)
                    && other != at
                {
                    return Err(format!(
                        "probe name {} is already used by spec.probes[{}]; give one of them a distinct `name`",
                        Quoted(&probe.name),
                        self.entries[other]
                    ));
                }
                self.names.remove(&kept.name);
                self.names.insert(probe.name.clone(), at);
                self.entries[at] = entry;
                self.probes[at] = probe;
                Ok(())
            }
        }
    }

    pub(super) fn into_probes(self) -> Vec<Probe> {
        self.probes
    }
}

/// The probe's expectation was written (`allow`, `deny`, a truth table's cell), not `auto`.
fn judged(probe: &Probe) -> bool {
    probe.expect.source != ExpectSource::Auto
}

/// Two written expectations of one probe agree on the verdict and, for a deny, on what counts
/// as one.
fn agree(first: &Probe, second: &Probe) -> Result<(), String> {
    let (want, had) = (second.expect.verdict, first.expect.verdict);
    if want != had {
        return Err(format!(
            "this entry expects {} for {}, which {} ({}) expects {}: an identical probe cannot expect both",
            verdict(want),
            Quoted(&first.name),
            first.path,
            first.location,
            verdict(had)
        ));
    }
    let answer = |p: &Probe| p.dns.as_ref().and_then(|d| d.answer.clone());
    if let (Some(had), Some(want)) = (answer(first), answer(second))
        && had != want
    {
        return Err(format!(
            "this entry's `answer` for {} is {want}, which {} ({}) gives as {had}: an identical probe has one answer",
            Quoted(&first.name),
            first.path,
            first.location
        ));
    }
    if want == Some(Verdict::Deny) && first.deny != second.deny {
        return Err(format!(
            "this entry's `deny` mode for {} is not the one {} ({}) gives it: an identical probe has one",
            Quoted(&first.name),
            first.path,
            first.location
        ));
    }
    Ok(())
}

fn verdict(verdict: Option<Verdict>) -> String {
    verdict.map_or_else(|| "auto".to_owned(), |v| v.to_string())
}
