//! One `spec.probes` entry at a time: its name and settings, then a single probe (with `from`
//! and `to`) or a [`matrix`](super::matrix); probe names unique within the scenario, identical
//! probes merged ([`super::duplicates`]).

use netverdict_engine::{Protocol, Quoted};
use serde_saphyr::Spanned;

use super::duplicates::ProbeSet;
use super::from::Source;
use super::port::{Destination, PortRequest, default_via};
use super::settings::Settings;
use crate::model::{
    Defaults, Expectation, NamespaceSpec, PodSpec, Probe, ServiceSpec, Target, Verdict,
    engine_protocol, protocol_str, via_str,
};
use crate::names;
use crate::raw::{RawExpect, RawProbe, Scheme, Via};
use crate::reporter::Reporter;
use crate::source::SourceLocation;

/// Expands the probes of one scenario whose pods and services are validated already.
pub(crate) struct Expander<'a, 'd> {
    pub(crate) report: Reporter<'a, 'd>,
    pub(crate) scenario: &'a str,
    pub(crate) defaults: &'a Defaults,
    pub(crate) pods: &'a [PodSpec],
    pub(crate) services: &'a [ServiceSpec],
    /// The namespaces the scenario creates: a target elsewhere is deployed, found at run time.
    pub(crate) namespaces: &'a [NamespaceSpec],
    /// The mimic pods the probes' sources ask for (`from: {like: ...}`), as they are found.
    pub(crate) mimics: Vec<PodSpec>,
}

/// The `spec.probes` entry being expanded: what every probe it yields shares.
pub(super) struct Entry<'e> {
    pub(super) raw: &'e RawProbe,
    /// `spec.probes[i]`.
    pub(super) path: String,
    pub(super) location: SourceLocation,
    /// The `name` the entry gives, if any.
    pub(super) name: Option<String>,
    pub(super) via: Option<Via>,
    pub(super) protocol: Option<Protocol>,
    pub(super) settings: Settings,
}

/// A problem was found and reported already.
pub(super) struct Reported;

impl Expander<'_, '_> {
    /// Every probe of `spec.probes`; identical probes of different entries are one
    /// ([`ProbeSet`]), a name used twice is reported and its second probe left out.
    pub(crate) fn probes(&mut self, entries: &[Spanned<RawProbe>]) -> Vec<Probe> {
        let mut probes = ProbeSet::default();
        for (i, entry) in entries.iter().enumerate() {
            for probe in self.entry(i, entry) {
                probes.add(&mut self.report, i, probe);
            }
        }
        if entries.is_empty() {
            self.report.error(
                "spec",
                "a scenario needs at least one entry in `spec.probes`",
            );
        }
        probes.into_probes()
    }

    fn entry(&mut self, i: usize, entry: &Spanned<RawProbe>) -> Vec<Probe> {
        let path = format!("spec.probes[{i}]");
        let raw = &entry.value;
        let location = self.report.doc.spanned(entry, &path);
        let name = match &raw.name {
            Some(n) => match names::probe_name(&n.value) {
                Ok(()) => Some(n.value.clone()),
                Err(e) => {
                    self.report.error_at(n, &format!("{path}.name"), e);
                    return Vec::new();
                }
            },
            None => None,
        };
        let via = raw.via.as_ref().map(|v| v.value);
        let Some(settings) = self.settings(raw, &path, via, raw.matrix.is_some()) else {
            return Vec::new();
        };
        let entry = Entry {
            raw,
            path,
            location,
            name,
            via,
            protocol: raw.protocol.as_ref().map(|p| engine_protocol(p.value)),
            settings,
        };
        match &raw.matrix {
            Some(matrix) => self.matrix(&entry, matrix),
            None => self.single(&entry).unwrap_or_default(),
        }
    }

    /// The probes of an entry with `from` and `to`: one, or one per pod a `pods` selector
    /// matches.
    fn single(&mut self, entry: &Entry<'_>) -> Result<Vec<Probe>, Reported> {
        let path = &entry.path;
        let Some(from) = entry.raw.from.as_ref() else {
            self.report
                .error(path, "a probe needs `from` (or a `matrix`)");
            return Err(Reported);
        };
        let from = self.source(from, &format!("{path}.from")).ok_or(Reported)?;
        let targets = match entry.raw.to.as_ref() {
            Some(to) => self.targets(to, &format!("{path}.to"))?,
            None if entry.via == Some(Via::Dns) => vec![super::target::Resolved::ClusterDns],
            None => {
                self.report.error(
                    path,
                    "`to` is required (only a dns probe may leave it out, to ask the pod's resolver)",
                );
                return Err(Reported);
            }
        };
        let expect = self.single_expectation(entry)?;
        let answers = entry
            .settings
            .dns
            .as_ref()
            .is_some_and(|d| d.answer.is_some());
        if answers && expect.verdict == Some(Verdict::Deny) {
            self.report.error(
                &format!("{}.answer", entry.path),
                "`answer` says what a reached DNS server must answer, and `expect: deny` says it must not be reached: drop one",
            );
            return Err(Reported);
        }
        let request = PortRequest {
            port: entry.raw.port.as_ref(),
            protocol: entry.protocol,
            via: entry.via,
            scheme: entry.settings.http.scheme,
            path,
            port_path: &format!("{path}.port"),
        };
        let several = targets.len() > 1;
        let mut out = Vec::new();
        for target in targets {
            let Some(destination) = self.destination(&target, &request) else {
                continue;
            };
            let name = match (&entry.name, several) {
                (Some(n), false) => n.clone(),
                (Some(n), true) => format!("{n} ({})", destination.target),
                (None, _) => generated_name(&from, &destination, &entry.settings),
            };
            out.push(self.probe(entry, name, from.clone(), destination, expect.clone()));
        }
        Ok(out)
    }

    fn single_expectation(&mut self, entry: &Entry<'_>) -> Result<Expectation, Reported> {
        let Some(e) = entry.raw.expect.as_ref() else {
            return Ok(Expectation::auto_unresolved());
        };
        let path = format!("{}.expect", entry.path);
        match &e.value {
            RawExpect::Word(w) => self.word(w, e, &path).ok_or(Reported),
            RawExpect::Table(_) | RawExpect::Tables(_) => {
                self.report.error_at(
                    e,
                    &path,
                    "truth tables are for a `matrix`; a single probe expects allow, deny or auto",
                );
                Err(Reported)
            }
        }
    }

    /// The expectation an `expect` word stands for.
    pub(super) fn word(
        &mut self,
        word: &str,
        spanned: &Spanned<RawExpect>,
        path: &str,
    ) -> Option<Expectation> {
        match word.trim() {
            "allow" => Some(Expectation::explicit(Verdict::Allow)),
            "deny" => Some(Expectation::explicit(Verdict::Deny)),
            "auto" => Some(Expectation::auto_unresolved()),
            other => {
                let hint = names::suggestion(other, ["allow", "deny", "auto"]);
                self.report.error_at(
                    spanned,
                    path,
                    format!(
                        "{} is not an expectation: use allow, deny or auto{hint}",
                        Quoted(other)
                    ),
                );
                None
            }
        }
    }

    /// One probe of `entry`.
    pub(super) fn probe(
        &self,
        entry: &Entry<'_>,
        name: String,
        from: Source,
        destination: Destination,
        expect: Expectation,
    ) -> Probe {
        let Destination { target, port } = destination;
        let settings = &entry.settings;
        Probe {
            scenario: self.scenario.to_string(),
            name,
            named: entry.name.is_some(),
            from: from.pod,
            like: from.like.map(|(label, _)| label),
            target,
            port: port.number,
            port_name: port.name,
            protocol: port.protocol,
            via: port.via,
            expect,
            deny: settings.deny,
            timeout: settings.timeout,
            http: (port.via == Via::Http).then(|| settings.http.clone()),
            dns: settings.dns.clone().filter(|_| port.via == Via::Dns),
            path: entry.path.clone(),
            location: entry.location.clone(),
        }
    }
}

/// `from -> to:port/PROTOCOL`, with ` via V` when `via` is not the protocol's own (`https` for
/// an HTTPS request), then what the probe asks for: the DNS query, an HTTP path other than `/`;
/// so probes that differ only there have names of their own.
pub(super) fn generated_name(
    from: &Source,
    destination: &Destination,
    settings: &Settings,
) -> String {
    let to = match &destination.target {
        Target::Pod(p) => p.to_string(),
        other => other.to_string(),
    };
    let port = &destination.port;
    let via = match (port.via, settings.http.scheme) {
        (via, _) if via == default_via(port.protocol) => String::new(),
        (Via::Http, Scheme::Https) => " via https".to_owned(),
        (via, _) => format!(" via {}", via_str(via)),
    };
    let asks = match port.via {
        Via::Dns => settings
            .dns
            .as_ref()
            .map_or_else(String::new, |dns| format!(" {}", dns.query)),
        Via::Http if settings.http.path != "/" => format!(" {}", settings.http.path),
        _ => String::new(),
    };
    // A named port of a deployed target has its number only at run time.
    let number = match (&port.name, port.number) {
        (Some(name), 0) => name.clone(),
        (_, number) => number.to_string(),
    };
    format!(
        "{} -> {to}:{number}/{}{via}{asks}",
        from.display(),
        protocol_str(port.protocol)
    )
}
