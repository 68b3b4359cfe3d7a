//! The concrete probe list of loaded scenarios, as `netverdict plan` prints it.
//!
//! The JSON shape is a stable contract (documented in docs/scenario-format.md):
//! `{"probes":[{"scenario","name","key","from","to","port","portName","protocol","via","query",
//! "httpPath","httpStatus","answer","expect","expectSource","engineAgrees","reason","location",
//! "file","line"}]}` (the keys `netverdict run --json` gives its probes too), `expect` being `null` for an `auto`
//! expectation that needs what only a run knows (pod IPs, host addresses), `engineAgrees` `null`
//! for `auto` and for a written expectation the engine cannot judge offline.

use std::fmt::Write as _;

use serde::Serialize;

use crate::model::{Probe, Scenario, Target, Verdict, protocol_str, via_str};

#[derive(Debug, Serialize)]
pub struct PlanJson {
    pub probes: Vec<ProbeJson>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeJson {
    pub scenario: String,
    pub name: String,
    /// `scenario/name`: unique in a run.
    pub key: String,
    pub from: String,
    pub to: String,
    /// `None` for a named port of a deployed target: its number is read at run time.
    pub port: Option<u16>,
    pub port_name: Option<String>,
    pub protocol: &'static str,
    pub via: &'static str,
    /// `via: dns`: the name resolved.
    pub query: Option<String>,
    /// `via: http`: the path requested.
    pub http_path: Option<String>,
    /// `via: http`: the status an allowed request must return.
    pub http_status: Option<u16>,
    /// `via: dns`: what the answer must be.
    pub answer: Option<String>,
    pub expect: Option<String>,
    pub expect_source: String,
    /// Whether a written expectation agrees with the engine.
    pub engine_agrees: Option<bool>,
    pub reason: Option<String>,
    pub location: String,
    pub file: String,
    pub line: u64,
}

/// The readable form of a target: `ns/pod` for scenario pods.
pub fn target_label(target: &Target) -> String {
    match target {
        Target::Pod(p) => p.to_string(),
        Target::Service {
            namespace, name, ..
        } => format!("service:{namespace}/{name}"),
        Target::Host(h) => format!("host:{h}"),
        Target::Ip(ip) => format!("ip:{ip}"),
        Target::ClusterDns => "cluster-dns".into(),
        Target::Live(live) => live.selection.label(),
        Target::LivePod { of, .. } => of.label(),
        Target::LiveService {
            namespace, name, ..
        } => format!("service:{namespace}/{name}"),
    }
}

/// The readable form of a source: `ns/pod` for scenario pods, `like:deployment:shop/web` for a
/// mimic.
pub fn source_label(probe: &Probe) -> String {
    probe.like.clone().unwrap_or_else(|| probe.from.to_string())
}

/// What of a scenario only a run can find: its live targets and mimics, for the line under its
/// plan; `None` when it has none.
pub fn resolved_at_run_time(scenario: &Scenario) -> Option<String> {
    let mut found: Vec<String> = Vec::new();
    for probe in &scenario.probes {
        let target = match &probe.target {
            Target::Live(_) | Target::LiveService { .. } => Some(probe.target.to_string()),
            _ => None,
        };
        for item in target.into_iter().chain(probe.like.clone()) {
            if !found.contains(&item) {
                found.push(item);
            }
        }
    }
    (!found.is_empty()).then(|| {
        format!(
            "resolved at run time: {} (their pods, labels and ports, and the policies deployed with them, are read from the cluster; `auto` shows `?` until then)",
            found.join(", ")
        )
    })
}

impl From<&Probe> for ProbeJson {
    fn from(p: &Probe) -> Self {
        Self {
            scenario: p.scenario.clone(),
            name: p.name.clone(),
            key: p.key(),
            from: source_label(p),
            to: target_label(&p.target),
            port: (p.port != 0).then_some(p.port),
            port_name: p.port_name.clone(),
            protocol: protocol_str(p.protocol),
            via: via_str(p.via),
            query: p.dns.as_ref().map(|d| d.query.clone()),
            http_path: p.http.as_ref().map(|h| h.path.clone()),
            http_status: p.http.as_ref().and_then(|h| h.status),
            answer: p
                .dns
                .as_ref()
                .and_then(|d| d.answer.as_ref())
                .map(ToString::to_string),
            expect: p.expect.verdict.map(|v| v.to_string()),
            expect_source: p.expect.source.to_string(),
            engine_agrees: p.expect.engine_agrees(),
            reason: p.expect.reason.clone(),
            location: p.location.to_string(),
            file: p.location.file.display().to_string(),
            line: p.location.line,
        }
    }
}

pub fn to_json(scenarios: &[Scenario]) -> PlanJson {
    PlanJson {
        probes: scenarios
            .iter()
            .flat_map(|s| s.probes.iter().map(ProbeJson::from))
            .collect(),
    }
}

/// A table per scenario: one line per probe.
pub fn to_table(scenarios: &[Scenario]) -> String {
    let mut out = String::new();
    for (i, scenario) in scenarios.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "scenario {} ({} probes, {})",
            scenario.name,
            scenario.probes.len(),
            scenario.location
        );
        write_rows(&mut out, &rows(scenario));
        if let Some(note) = resolved_at_run_time(scenario) {
            let _ = writeln!(out, "  {note}");
        }
    }
    out
}

/// One column of the table: its header and a probe's cell.
struct Column {
    header: &'static str,
    cell: fn(&Probe) -> String,
}

/// The header row and one row per probe of `scenario`. NAME appears when a probe has a name of
/// its own, PATH/QUERY when a probe sends an HTTP request or a DNS query.
fn rows(scenario: &Scenario) -> Vec<Vec<String>> {
    let probes = &scenario.probes;
    let named = probes.iter().any(|p| p.named);
    let requests = probes.iter().any(|p| p.http.is_some() || p.dns.is_some());
    let columns: Vec<Column> = [
        named.then_some(Column {
            header: "NAME",
            cell: |p| {
                if p.named {
                    p.name.clone()
                } else {
                    String::new()
                }
            },
        }),
        Some(Column {
            header: "FROM",
            cell: source_label,
        }),
        Some(Column {
            header: "TO",
            cell: |p| target_label(&p.target),
        }),
        Some(Column {
            header: "PORT",
            cell: port_cell,
        }),
        Some(Column {
            header: "VIA",
            cell: |p| via_str(p.via).to_string(),
        }),
        requests.then_some(Column {
            header: "PATH/QUERY",
            cell: request_cell,
        }),
        Some(Column {
            header: "EXPECT",
            cell: |p| {
                p.expect
                    .verdict
                    .map_or_else(|| "?".to_string(), |v| v.to_string())
            },
        }),
        Some(Column {
            header: "SOURCE",
            cell: |p| p.expect.source.to_string(),
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    let header = columns.iter().map(|c| c.header.to_string()).collect();
    let body = probes
        .iter()
        .map(|p| columns.iter().map(|c| (c.cell)(p)).collect());
    std::iter::once(header).chain(body).collect()
}

fn port_cell(p: &Probe) -> String {
    match &p.port_name {
        Some(n) if p.port == 0 => {
            format!("{n}/{} (resolved at run time)", protocol_str(p.protocol))
        }
        Some(n) => format!("{}/{} ({n})", p.port, protocol_str(p.protocol)),
        None => format!("{}/{}", p.port, protocol_str(p.protocol)),
    }
}

/// The HTTP request's path or the DNS query's name.
fn request_cell(p: &Probe) -> String {
    match (&p.http, &p.dns) {
        (Some(http), _) => http.path.clone(),
        (_, Some(dns)) => dns.query.clone(),
        _ => String::new(),
    }
}

/// `rows` with each column padded to its widest cell.
fn write_rows(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::from("  ");
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// The expectations as truth tables, as the upstream e2e suite prints them: one per scenario
/// and port, rows the sources, columns the targets; `?` for a cell that is not probed or whose
/// `auto` expectation only a run can compute.
pub fn to_truth_tables(scenarios: &[Scenario]) -> String {
    let mut out = String::new();
    for scenario in scenarios {
        // Ports in order of first appearance; labels in order of first appearance as either end,
        // so a matrix's rows and columns keep the order it lists them in.
        let mut groups: Vec<((u16, &'static str), Vec<&Probe>)> = Vec::new();
        let mut order: Vec<String> = Vec::new();
        for probe in &scenario.probes {
            for label in [source_label(probe), target_label(&probe.target)] {
                if !order.contains(&label) {
                    order.push(label);
                }
            }
            let key = (probe.port, protocol_str(probe.protocol));
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, probes)) => probes.push(probe),
                None => groups.push((key, vec![probe])),
            }
        }
        for ((port, protocol), probes) in groups {
            let is_from = |l: &String| probes.iter().any(|p| source_label(p) == *l);
            let is_to = |l: &String| probes.iter().any(|p| target_label(&p.target) == *l);
            let rows = order.iter().filter(|l| is_from(l)).cloned().collect();
            let columns = order.iter().filter(|l| is_to(l)).cloned().collect();
            let mut table = netverdict_engine::TruthTable::new(rows, columns);
            for p in &probes {
                let mark = match p.expect.verdict {
                    Some(Verdict::Allow) => netverdict_engine::Mark::Allow,
                    Some(Verdict::Deny) => netverdict_engine::Mark::Deny,
                    None => netverdict_engine::Mark::Unknown,
                };
                table.set(&source_label(p), &target_label(&p.target), mark);
            }
            if !out.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(out, "{} port {port}/{protocol}:", scenario.name);
            let _ = write!(out, "{table}");
        }
    }
    out
}
