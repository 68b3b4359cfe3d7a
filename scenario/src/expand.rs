//! Expansion of `spec.probes` into concrete [`Probe`]s: targets and `pods` selectors resolved,
//! named ports looked up, `via` and protocol settled, matrices multiplied out, truth tables read.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use netverdict_engine::{LabelSelector, Protocol};
use serde_saphyr::Spanned;

use crate::model::{
    Defaults, DnsCheck, Expectation, HttpCheck, PodRef, PodSpec, Probe, ServedPort, ServiceSpec,
    Target, TargetPort, Verdict,
};
use crate::names;
use crate::raw::{DenyMode, PortRef, RawExpect, RawMatrixPort, RawProbe, RawTarget, Scheme, Via};
use crate::source::{Diagnostic, SourceLocation};

use crate::model::{engine_protocol, protocol_str, via_str};
use crate::validate::Validator;

/// A probe target resolved against the scenario, before port resolution.
#[derive(Clone)]
enum Resolved {
    Pod(PodRef),
    Service(String, String),
    Host(String),
    Ip(IpAddr),
    ClusterDns,
}

impl Resolved {
    /// The column label of a truth table.
    fn label(&self) -> String {
        match self {
            Resolved::Pod(p) => p.to_string(),
            Resolved::Service(ns, name) => format!("service:{ns}/{name}"),
            Resolved::Host(h) => format!("host:{h}"),
            Resolved::Ip(ip) => format!("ip:{ip}"),
            Resolved::ClusterDns => "dns".into(),
        }
    }
}

/// Settings shared by the probes of one `spec.probes` entry.
struct Common {
    deny: DenyMode,
    timeout: Duration,
    http: Option<HttpCheck>,
    dns: Option<DnsCheck>,
    scheme: Scheme,
}

impl Validator<'_, '_> {
    fn targets(
        &mut self,
        to: Option<&Spanned<RawTarget>>,
        via: Option<Via>,
        services: &[ServiceSpec],
        path: &str,
    ) -> Option<Vec<Resolved>> {
        let Some(to) = to else {
            if via == Some(Via::Dns) {
                return Some(vec![Resolved::ClusterDns]);
            }
            self.report.error(
                path.rsplit_once('.').map_or(path, |p| p.0),
                "`to` is required (only a dns probe may leave it out, to ask the pod's resolver)",
            );
            return None;
        };
        match &to.value {
            RawTarget::Pod(s) => {
                let spanned = Spanned::new(s.clone(), to.referenced, to.defined);
                self.report
                    .pod_ref(&self.pods, &spanned, path)
                    .map(|p| vec![Resolved::Pod(p)])
            }
            RawTarget::Service { service, namespace } => {
                if services
                    .iter()
                    .any(|s| s.name == service.value && s.namespace == namespace.value)
                {
                    return Some(vec![Resolved::Service(
                        namespace.value.clone(),
                        service.value.clone(),
                    )]);
                }
                let candidates: Vec<String> = services
                    .iter()
                    .map(|s| format!("{}/{}", s.namespace, s.name))
                    .collect();
                let wanted = format!("{}/{}", namespace.value, service.value);
                let hint = names::suggestion(&wanted, candidates.iter().map(String::as_str));
                self.report.error_at(
                    service,
                    &format!("{path}.service"),
                    format!("service {wanted} is not defined in spec.services{hint}"),
                );
                None
            }
            RawTarget::Pods {
                namespace,
                selector,
            } => {
                let k8s = selector.to_k8s().ok()?;
                let selector = match LabelSelector::from_k8s(&k8s, &format!("{path}.pods.selector"))
                {
                    Ok(s) => s,
                    Err(errors) => {
                        for e in errors {
                            self.report.error(&e.path, e.message);
                        }
                        return None;
                    }
                };
                if !self.pods.iter().any(|p| p.namespace == namespace.value) {
                    self.report.error_at(
                        namespace,
                        &format!("{path}.pods.namespace"),
                        format!("namespace {} has no pod in this scenario", namespace.value),
                    );
                    return None;
                }
                let matched: Vec<Resolved> = self
                    .pods
                    .iter()
                    .filter(|p| p.namespace == namespace.value && selector.matches(&p.labels))
                    .map(|p| Resolved::Pod(p.pod_ref()))
                    .collect();
                if matched.is_empty() {
                    self.report.error(
                        &format!("{path}.pods.selector"),
                        format!(
                            "selector {selector} matches no pod of namespace {}",
                            namespace.value
                        ),
                    );
                    return None;
                }
                Some(matched)
            }
            RawTarget::Host(host) => match names::dns_name(&host.value) {
                Ok(()) => Some(vec![Resolved::Host(
                    host.value.trim_end_matches('.').to_string(),
                )]),
                Err(e) => {
                    self.report.error_at(host, &format!("{path}.host"), e);
                    None
                }
            },
            RawTarget::Ip(ip) => match ip.value.parse::<IpAddr>() {
                Ok(addr) => Some(vec![Resolved::Ip(addr)]),
                Err(_) => {
                    self.report.error_at(
                        ip,
                        &format!("{path}.ip"),
                        format!("{:?} is not an IPv4 or IPv6 address", ip.value),
                    );
                    None
                }
            },
        }
    }

    fn common(
        &mut self,
        raw: &RawProbe,
        path: &str,
        defaults: &Defaults,
        via: Option<Via>,
        matrix: bool,
    ) -> Option<Common> {
        let mut ok = true;
        let timeout = match &raw.timeout {
            Some(t) => self
                .report
                .duration(t, &format!("{path}.timeout"))
                .unwrap_or_else(|| {
                    ok = false;
                    defaults.timeout
                }),
            None => defaults.timeout,
        };
        let http_fields = raw.path.is_some() || raw.scheme.is_some() || raw.status.is_some();
        let http_possible = matrix || via == Some(Via::Http);
        if http_fields && !http_possible {
            self.report.error(
                path,
                "`path`, `scheme` and `status` only apply to `via: http` probes",
            );
            ok = false;
        }
        if raw.query.is_some() && via != Some(Via::Dns) && !matrix {
            self.report.error(
                &format!("{path}.query"),
                "`query` only applies to `via: dns` probes",
            );
            ok = false;
        }
        let scheme = raw.scheme.unwrap_or(Scheme::Http);
        let http_path = match &raw.path {
            Some(p) => match names::http_path(&p.value) {
                Ok(()) => p.value.clone(),
                Err(e) => {
                    self.report.error_at(p, &format!("{path}.path"), e);
                    ok = false;
                    String::new()
                }
            },
            None => "/".to_string(),
        };
        let status = match &raw.status {
            Some(s) if (100..=599).contains(&s.value) => u16::try_from(s.value).ok(),
            Some(s) => {
                self.report.error_at(
                    s,
                    &format!("{path}.status"),
                    format!("{} is not an HTTP status code (100-599)", s.value),
                );
                ok = false;
                None
            }
            None => None,
        };
        let query = match &raw.query {
            Some(q) => match names::dns_name(&q.value) {
                Ok(()) => Some(q.value.clone()),
                Err(e) => {
                    self.report.error_at(q, &format!("{path}.query"), e);
                    ok = false;
                    None
                }
            },
            None => None,
        };
        if via == Some(Via::Dns) && query.is_none() && raw.query.is_none() {
            self.report.error(
                path,
                "a `via: dns` probe needs `query`, the name to resolve",
            );
            ok = false;
        }
        ok.then(|| Common {
            deny: raw.deny.as_ref().map_or(defaults.deny, |d| d.value),
            timeout,
            http: Some(HttpCheck {
                scheme,
                path: http_path,
                status,
            }),
            dns: query.map(|query| DnsCheck { query }),
            scheme,
        })
    }

    pub(crate) fn probe_entry(
        &mut self,
        scenario: &str,
        i: usize,
        entry: &Spanned<RawProbe>,
        defaults: &Defaults,
        services: &[ServiceSpec],
    ) -> Vec<Probe> {
        let path = format!("spec.probes[{i}]");
        self.current_probe.clone_from(&path);
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
        let protocol = raw.protocol.as_ref().map(|p| engine_protocol(p.value));
        let Some(common) = self.common(raw, &path, defaults, via, raw.matrix.is_some()) else {
            return Vec::new();
        };

        let Some(matrix) = &raw.matrix else {
            let Some(from) = raw.from.as_ref() else {
                self.report
                    .error(&path, "a probe needs `from` (or a `matrix`)");
                return Vec::new();
            };
            let Some(from) = self
                .report
                .pod_ref(&self.pods, from, &format!("{path}.from"))
            else {
                return Vec::new();
            };
            let Some(targets) = self.targets(raw.to.as_ref(), via, services, &format!("{path}.to"))
            else {
                return Vec::new();
            };
            let expect = match raw.expect.as_ref() {
                None => Expectation::auto_unresolved(),
                Some(e) => match &e.value {
                    RawExpect::Word(w) => match self.word(w, e, &format!("{path}.expect")) {
                        Some(x) => x,
                        None => return Vec::new(),
                    },
                    RawExpect::Table(_) | RawExpect::Tables(_) => {
                        self.report.error_at(e, &format!("{path}.expect"), "truth tables are for a `matrix`; a single probe expects allow, deny or auto");
                        return Vec::new();
                    }
                },
            };
            let mut out = Vec::new();
            let several = targets.len() > 1;
            for target in targets {
                let Some((port, port_name, protocol, via, target)) = self.port(
                    &target,
                    raw.port.as_ref(),
                    protocol,
                    via,
                    &common,
                    services,
                    &path,
                ) else {
                    continue;
                };
                let generated = generated_name(&from, &target, port, protocol, via);
                let name = match (&name, several) {
                    (Some(n), false) => n.clone(),
                    (Some(n), true) => format!("{n} ({target})"),
                    (None, _) => generated,
                };
                out.push(self.make_probe(
                    scenario,
                    name,
                    from.clone(),
                    target,
                    port,
                    port_name,
                    protocol,
                    via,
                    expect.clone(),
                    &common,
                    location.clone(),
                ));
            }
            return out;
        };

        for field in [
            ("from", raw.from.is_some()),
            ("to", raw.to.is_some()),
            ("port", raw.port.is_some()),
        ] {
            if field.1 {
                self.report.error_key(
                    &format!("{path}.{}", field.0),
                    format!(
                        "`{}` cannot be combined with `matrix`; list it in the matrix",
                        field.0
                    ),
                );
                return Vec::new();
            }
        }
        let mut froms = Vec::new();
        for (j, f) in matrix.from.iter().enumerate() {
            if let Some(p) = self
                .report
                .pod_ref(&self.pods, f, &format!("{path}.matrix.from[{j}]"))
            {
                froms.push(p);
            }
        }
        let mut tos = Vec::new();
        for (j, t) in matrix.to.iter().enumerate() {
            if let Some(resolved) =
                self.targets(Some(t), via, services, &format!("{path}.matrix.to[{j}]"))
            {
                tos.extend(resolved);
            }
        }
        if froms.len() != matrix.from.len() || tos.is_empty() {
            return Vec::new();
        }
        if matrix.ports.is_empty() {
            self.report.error(
                &format!("{path}.matrix.ports"),
                "a matrix needs at least one port",
            );
            return Vec::new();
        }
        let tables = match raw.expect.as_ref() {
            None => MatrixExpect::Same(Expectation::auto_unresolved()),
            Some(e) => match &e.value {
                RawExpect::Word(w) => match self.word(w, e, &format!("{path}.expect")) {
                    Some(x) => MatrixExpect::Same(x),
                    None => return Vec::new(),
                },
                RawExpect::Table(text) => {
                    match self.table(text, e, &format!("{path}.expect"), &froms, &tos) {
                        Some(t) => MatrixExpect::One(t),
                        None => return Vec::new(),
                    }
                }
                RawExpect::Tables(map) => {
                    let mut tables = BTreeMap::new();
                    for (key, text) in map {
                        let at = format!("{path}.expect.{key}");
                        if !matrix
                            .ports
                            .iter()
                            .any(|p| p.value.port.value.to_string() == *key)
                        {
                            let message = format!("port {key} is not one of this matrix's ports");
                            self.report.error_key(&at, message);
                            return Vec::new();
                        }
                        match self.table(&text.value, text, &at, &froms, &tos) {
                            Some(t) => {
                                tables.insert(key.clone(), t);
                            }
                            None => return Vec::new(),
                        }
                    }
                    MatrixExpect::PerPort(tables)
                }
            },
        };
        let mut out = Vec::new();
        let mut reported = BTreeSet::new();
        for (k, port) in matrix.ports.iter().enumerate() {
            let port_path = format!("{path}.matrix.ports[{k}]");
            let RawMatrixPort {
                port: port_ref,
                protocol: cell_protocol,
                via: cell_via,
            } = &port.value;
            let port_ref = if port_ref.referenced.line() == 0 {
                Spanned::new(port_ref.value.clone(), port.referenced, port.defined)
            } else {
                port_ref.clone()
            };
            let cell_protocol = cell_protocol
                .as_ref()
                .map(|p| engine_protocol(p.value))
                .or(protocol);
            let cell_via = cell_via.as_ref().map(|v| v.value).or(via);
            let key = port_ref.value.to_string();
            let table = match &tables {
                MatrixExpect::Same(_) => None,
                MatrixExpect::One(t) => Some(t),
                MatrixExpect::PerPort(map) => match map.get(&key) {
                    Some(t) => Some(t),
                    None => {
                        self.report.error(
                            &format!("{path}.expect"),
                            format!("no truth table for port {key}; give one per matrix port"),
                        );
                        return Vec::new();
                    }
                },
            };
            for from in &froms {
                for target in &tos {
                    let expect = match (&tables, table) {
                        (MatrixExpect::Same(e), _) => e.clone(),
                        (_, Some(t)) => match t.get(&from.to_string(), &target.label()) {
                            Some(netverdict_engine::Mark::Allow) => {
                                Expectation::table(Verdict::Allow)
                            }
                            Some(netverdict_engine::Mark::Deny) => {
                                Expectation::table(Verdict::Deny)
                            }
                            _ => continue,
                        },
                        (_, None) => continue,
                    };
                    let diagnostics_before = self.report.sink.len();
                    let resolved = self.port(
                        target,
                        Some(&port_ref),
                        cell_protocol,
                        cell_via,
                        &common,
                        services,
                        &port_path,
                    );
                    // Report a port problem once per target, not once per source.
                    self.report
                        .sink
                        .dedup_since(diagnostics_before, &mut reported);
                    let Some((port, port_name, protocol, via, target)) = resolved else {
                        continue;
                    };
                    let mut probe_name = generated_name(from, &target, port, protocol, via);
                    if let Some(n) = &name {
                        probe_name = format!("{n}: {probe_name}");
                    }
                    out.push(self.make_probe(
                        scenario,
                        probe_name,
                        from.clone(),
                        target,
                        port,
                        port_name,
                        protocol,
                        via,
                        expect,
                        &common,
                        location.clone(),
                    ));
                }
            }
        }
        out
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "A probe has this many parts; a builder would only move them."
    )]
    fn make_probe(
        &self,
        scenario: &str,
        name: String,
        from: PodRef,
        target: Target,
        port: u16,
        port_name: Option<String>,
        protocol: Protocol,
        via: Via,
        expect: Expectation,
        common: &Common,
        location: SourceLocation,
    ) -> Probe {
        Probe {
            scenario: scenario.to_string(),
            name,
            from,
            target,
            port,
            port_name,
            protocol,
            via,
            expect,
            deny: common.deny,
            timeout: common.timeout,
            http: if via == Via::Http {
                common.http.clone()
            } else {
                None
            },
            dns: if via == Via::Dns {
                common.dns.clone()
            } else {
                None
            },
            path: self.current_probe.clone(),
            location,
        }
    }

    fn word(
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
                    format!("{other:?} is not an expectation: use allow, deny or auto{hint}"),
                );
                None
            }
        }
    }

    fn table<T>(
        &mut self,
        text: &str,
        spanned: &Spanned<T>,
        path: &str,
        froms: &[PodRef],
        tos: &[Resolved],
    ) -> Option<netverdict_engine::TruthTable> {
        let at = self.report.doc.spanned(spanned, path);
        // A block scalar's first line follows its `|` indicator.
        let first_line = at.line
            + u64::from(
                self.report
                    .doc
                    .text
                    .lines()
                    .nth(usize::try_from(at.line.saturating_sub(1)).unwrap_or(0))
                    .is_some_and(|l| l.trim_end().ends_with('|') || l.trim_end().ends_with("|-")),
            );
        let locate = |line: usize| SourceLocation {
            file: at.file.clone(),
            line: first_line + line.saturating_sub(1) as u64,
            column: at.column,
        };
        let table = match netverdict_engine::TruthTable::parse(text) {
            Ok(t) => t,
            Err(e) => {
                let location = match &e {
                    netverdict_engine::TruthTableError::Empty => at.clone(),
                    netverdict_engine::TruthTableError::BadMark { line, .. }
                    | netverdict_engine::TruthTableError::RowLength { line, .. }
                    | netverdict_engine::TruthTableError::Duplicate { line, .. } => locate(*line),
                };
                let message = e.to_string();
                let message = message
                    .split_once(": ")
                    .filter(|(l, _)| l.starts_with("line "))
                    .map_or(message.clone(), |(_, m)| m.to_string());
                self.report.sink.push(Diagnostic::error(
                    location,
                    path,
                    format!("truth table: {message}"),
                ));
                return None;
            }
        };
        let rows: BTreeSet<String> = froms.iter().map(ToString::to_string).collect();
        let columns: BTreeSet<String> = tos.iter().map(Resolved::label).collect();
        let table_rows: BTreeSet<String> = table.rows().iter().cloned().collect();
        let table_columns: BTreeSet<String> = table.columns().iter().cloned().collect();
        // The 1-based line of the table that starts with `label` (the header is the first
        // non-blank line).
        let line_of = |label: Option<&str>| {
            let mut lines = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty());
            let header = lines.next().map_or(1, |(i, _)| i + 1);
            label
                .and_then(|label| {
                    lines
                        .find(|(_, l)| l.split_whitespace().next() == Some(label))
                        .map(|(i, _)| i + 1)
                })
                .unwrap_or(header)
        };
        let mut problems = Vec::new();
        if let Some(extra) = table_columns.difference(&columns).next() {
            let hint = names::suggestion(extra, columns.iter().map(String::as_str));
            problems.push((
                line_of(None),
                format!("column {extra} is not a target of this matrix{hint}"),
            ));
        }
        if let Some(missing) = columns.difference(&table_columns).next() {
            problems.push((
                line_of(None),
                format!("the header lacks target {missing} (write ? to leave a cell unprobed)"),
            ));
        }
        if let Some(extra) = table_rows.difference(&rows).next() {
            let hint = names::suggestion(extra, rows.iter().map(String::as_str));
            problems.push((
                line_of(Some(extra)),
                format!("row {extra} is not a source of this matrix{hint}"),
            ));
        }
        if let Some(missing) = rows.difference(&table_rows).next() {
            problems.push((
                line_of(None),
                format!("no row for source {missing} (write ? to leave a cell unprobed)"),
            ));
        }
        if let Some((line, problem)) = problems.into_iter().next() {
            self.report.sink.push(Diagnostic::error(
                locate(line),
                path,
                format!("truth table: {problem}"),
            ));
            return None;
        }
        Some(table)
    }

    /// Resolves the port of a probe to `target`: number, name, protocol and `via`, checking the
    /// target serves it.
    #[expect(clippy::too_many_arguments, reason = "Every input shapes the port.")]
    fn port(
        &mut self,
        target: &Resolved,
        port: Option<&Spanned<PortRef>>,
        protocol: Option<Protocol>,
        via: Option<Via>,
        common: &Common,
        services: &[ServiceSpec],
        path: &str,
    ) -> Option<(u16, Option<String>, Protocol, Via, Target)> {
        let port_path = if path.contains(".matrix.ports[") {
            path.to_string()
        } else {
            format!("{path}.port")
        };
        let hinted = protocol.or(via.map(|v| match v {
            Via::Udp | Via::Dns => Protocol::Udp,
            Via::Sctp => Protocol::Sctp,
            Via::Tcp | Via::Http => Protocol::Tcp,
        }));
        let (number, name, named_protocol) = match port.map(|p| &p.value) {
            Some(PortRef::Number(n)) => match u16::try_from(*n) {
                Ok(n) if n > 0 => (n, None, None),
                _ => {
                    self.report.error_at(
                        port.expect("a number was given"),
                        &port_path,
                        format!("port {n} is out of range: use 1 to 65535"),
                    );
                    return None;
                }
            },
            Some(PortRef::Name(wanted)) => {
                let spanned = port.expect("a name was given");
                match target {
                    Resolved::Pod(p) => {
                        let pod = self.pods.iter().find(|x| x.pod_ref() == *p)?;
                        match pod
                            .ports
                            .iter()
                            .find(|sp| sp.name.as_deref() == Some(wanted.as_str()))
                        {
                            Some(sp) => (sp.port, Some(wanted.clone()), Some(sp.protocol)),
                            None => {
                                let hint = names::suggestion(
                                    wanted,
                                    pod.ports.iter().filter_map(|sp| sp.name.as_deref()),
                                );
                                self.report.error_at(
                                    spanned,
                                    &port_path,
                                    format!("pod {p} serves no port named {wanted}{hint}"),
                                );
                                return None;
                            }
                        }
                    }
                    Resolved::Service(ns, svc) => {
                        let service = services
                            .iter()
                            .find(|s| s.namespace == *ns && s.name == *svc)?;
                        match service
                            .ports
                            .iter()
                            .find(|sp| sp.name.as_deref() == Some(wanted.as_str()))
                        {
                            Some(sp) => (sp.port, Some(wanted.clone()), Some(sp.protocol)),
                            None => {
                                self.report.error_at(
                                    spanned,
                                    &port_path,
                                    format!("service {ns}/{svc} has no port named {wanted}"),
                                );
                                return None;
                            }
                        }
                    }
                    _ => {
                        self.report.error_at(
                            spanned,
                            &port_path,
                            "port names only work for scenario pods and services; give a number",
                        );
                        return None;
                    }
                }
            }
            None => match via {
                Some(Via::Dns) => (53, None, None),
                Some(Via::Http) => (
                    if common.scheme == Scheme::Https {
                        443
                    } else {
                        80
                    },
                    None,
                    None,
                ),
                _ => {
                    self.report.error(
                        path,
                        "`port` is required (only dns and http probes have a default port)",
                    );
                    return None;
                }
            },
        };
        if let (Some(explicit), Some(named)) = (protocol, named_protocol)
            && explicit != named
        {
            let message = format!(
                "port {} is {} but the probe says protocol {}",
                name.as_deref().unwrap_or_default(),
                protocol_str(named),
                protocol_str(explicit)
            );
            self.report.error(&port_path, message);
            return None;
        }
        let protocol = named_protocol.or(hinted).unwrap_or(Protocol::Tcp);
        let via = via.unwrap_or(match protocol {
            Protocol::Tcp => Via::Tcp,
            Protocol::Udp => Via::Udp,
            Protocol::Sctp => Via::Sctp,
        });
        let compatible = match via {
            Via::Tcp | Via::Http => protocol == Protocol::Tcp,
            Via::Udp => protocol == Protocol::Udp,
            Via::Sctp => protocol == Protocol::Sctp,
            Via::Dns => protocol != Protocol::Sctp,
        };
        if !compatible {
            let message = format!(
                "via {} cannot run over {}",
                via_str(via),
                protocol_str(protocol)
            );
            self.report.error(path, message);
            return None;
        }
        let target = match target {
            Resolved::Pod(p) => {
                let pod = self.pods.iter().find(|x| x.pod_ref() == *p)?;
                let served = pod
                    .ports
                    .iter()
                    .find(|sp| sp.port == number && sp.protocol == protocol);
                let Some(served) = served else {
                    let list = served_list(&pod.ports);
                    let mut message = format!(
                        "port {number}/{} is not served by {p} (it serves {list})",
                        protocol_str(protocol)
                    );
                    if let Some(other) = pod.ports.iter().find(|sp| sp.port == number) {
                        message.push_str(&format!(
                            "; add `protocol: {}`",
                            protocol_str(other.protocol)
                        ));
                    }
                    match port {
                        Some(s) => self.report.error_at(s, &port_path, message),
                        None => self.report.error(path, message),
                    }
                    return None;
                };
                let name = name.or_else(|| served.name.clone());
                return Some((number, name, protocol, via, Target::Pod(p.clone())));
            }
            Resolved::Service(ns, svc) => {
                let service = services
                    .iter()
                    .find(|s| s.namespace == *ns && s.name == *svc)?;
                let Some(sp) = service
                    .ports
                    .iter()
                    .find(|sp| sp.port == number && sp.protocol == protocol)
                else {
                    let message = format!(
                        "service {ns}/{svc} has no port {number}/{}",
                        protocol_str(protocol)
                    );
                    self.report.error(&port_path, message);
                    return None;
                };
                let backends: Vec<&PodSpec> = self
                    .pods
                    .iter()
                    .filter(|p| {
                        p.namespace == *ns
                            && service
                                .selector
                                .iter()
                                .all(|(k, v)| p.labels.get(k) == Some(v))
                    })
                    .collect();
                if backends.is_empty() {
                    self.report.error(
                        path,
                        format!("service {ns}/{svc} selects no pod of this scenario"),
                    );
                    return None;
                }
                let mut target_ports = BTreeSet::new();
                for b in &backends {
                    let found = match &sp.target_port {
                        TargetPort::Number(n) => b
                            .ports
                            .iter()
                            .find(|x| x.port == *n && x.protocol == protocol),
                        TargetPort::Name(n) => b
                            .ports
                            .iter()
                            .find(|x| x.name.as_deref() == Some(n.as_str())),
                    };
                    match found {
                        Some(x) => {
                            target_ports.insert(x.port);
                        }
                        None => {
                            let message = format!(
                                "service {ns}/{svc} sends port {number} to {}, which its pod {} does not serve",
                                match &sp.target_port {
                                    TargetPort::Number(n) => n.to_string(),
                                    TargetPort::Name(n) => n.clone(),
                                },
                                b.pod_ref()
                            );
                            self.report.error(path, message);
                            return None;
                        }
                    }
                }
                if target_ports.len() > 1 {
                    self.report.error(path, format!("service {ns}/{svc}'s pods serve its named target port on different numbers"));
                    return None;
                }
                Target::Service {
                    namespace: ns.clone(),
                    name: svc.clone(),
                    backends: backends.iter().map(|b| b.pod_ref()).collect(),
                    target_port: target_ports.into_iter().next().unwrap_or(number),
                }
            }
            Resolved::Host(h) => Target::Host(h.clone()),
            Resolved::Ip(ip) => Target::Ip(*ip),
            Resolved::ClusterDns => Target::ClusterDns,
        };
        let name = name.or_else(|| match &target {
            Target::Service {
                namespace,
                name: svc,
                ..
            } => services
                .iter()
                .find(|s| s.namespace == *namespace && s.name == *svc)
                .and_then(|s| {
                    s.ports
                        .iter()
                        .find(|p| p.port == number && p.protocol == protocol)
                })
                .and_then(|p| p.name.clone()),
            _ => None,
        });
        Some((number, name, protocol, via, target))
    }
}

enum MatrixExpect {
    Same(Expectation),
    One(netverdict_engine::TruthTable),
    PerPort(BTreeMap<String, netverdict_engine::TruthTable>),
}

fn served_list(ports: &[ServedPort]) -> String {
    if ports.is_empty() {
        return "no port".into();
    }
    ports
        .iter()
        .map(|p| match &p.name {
            Some(n) => format!("{}/{} ({n})", p.port, protocol_str(p.protocol)),
            None => format!("{}/{}", p.port, protocol_str(p.protocol)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn generated_name(
    from: &PodRef,
    target: &Target,
    port: u16,
    protocol: Protocol,
    via: Via,
) -> String {
    let to = match target {
        Target::Pod(p) => p.to_string(),
        other => other.to_string(),
    };
    let default_via = match protocol {
        Protocol::Tcp => Via::Tcp,
        Protocol::Udp => Via::Udp,
        Protocol::Sctp => Via::Sctp,
    };
    let via = if via == default_via {
        String::new()
    } else {
        format!(" via {}", via_str(via))
    };
    format!("{from} -> {to}:{port}/{}{via}", protocol_str(protocol))
}
