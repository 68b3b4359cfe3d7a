//! The truth tables of a scenario, as the Markdown and HTML reports draw them: one per port and
//! kind (and query or path), sources as rows, targets as columns. Every port has one, also a
//! single-cell port, and every kind of target is a column (pods, Services, hosts, addresses).

use std::collections::BTreeMap;

use netverdict_probes::Outcome;

use crate::results::{ProbeResult, ScenarioResult};

/// One truth table.
pub(crate) struct Table<'a> {
    pub(crate) port: u16,
    /// `TCP`, `UDP` or `SCTP`.
    pub(crate) protocol: &'a str,
    /// `tcp`, `http`, `dns`, `udp` or `sctp`.
    pub(crate) via: &'a str,
    /// The name a `dns` probe resolves and the path an `http` probe requests, when there are.
    pub(crate) details: Vec<&'a str>,
    /// Sources, sorted.
    pub(crate) rows: Vec<&'a str>,
    /// Targets, sorted.
    pub(crate) columns: Vec<&'a str>,
    /// The table's probes with their index in the scenario, in the scenario's order.
    probes: Vec<(usize, &'a ProbeResult)>,
}

/// What a probe observed, in the words of the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Reached: connected, an HTTP status, a DNS answer.
    Allow,
    /// Blocked: refused or timed out.
    Deny,
    /// The probe itself failed.
    Error,
    /// The probe never ran.
    NotRun,
}

impl Seen {
    pub(crate) fn of(probe: &ProbeResult) -> Seen {
        match &probe.outcome {
            None => Seen::NotRun,
            Some(Outcome::Error { .. }) => Seen::Error,
            Some(
                Outcome::Connected
                | Outcome::HttpStatus { .. }
                | Outcome::DnsNxdomain
                | Outcome::DnsServfail,
            ) => Seen::Allow,
            Some(Outcome::Refused | Outcome::Timeout | Outcome::DnsTimeout) => Seen::Deny,
        }
    }

    pub(crate) fn word(self) -> &'static str {
        match self {
            Seen::Allow => "allow",
            Seen::Deny => "deny",
            Seen::Error => "error",
            Seen::NotRun => "not run",
        }
    }
}

impl<'a> Table<'a> {
    /// The probes from `row` to `column` with their index in the scenario, in order.
    pub(crate) fn cell<'t>(
        &'t self,
        row: &'t str,
        column: &'t str,
    ) -> impl Iterator<Item = (usize, &'a ProbeResult)> + 't {
        self.probes
            .iter()
            .filter(move |(_, p)| p.from == row && p.to == column)
            .copied()
    }
}

/// The tables of `scenario`, ordered by port, protocol, kind and details.
pub(crate) fn tables(scenario: &ScenarioResult) -> Vec<Table<'_>> {
    type Key<'a> = (u16, &'a str, &'a str, Vec<&'a str>);
    let mut by_port: BTreeMap<Key<'_>, Vec<(usize, &ProbeResult)>> = BTreeMap::new();
    for (index, probe) in scenario.probes.iter().enumerate() {
        let details = [&probe.query, &probe.http_path]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        by_port
            .entry((
                probe.port,
                probe.protocol.as_str(),
                probe.via.as_str(),
                details,
            ))
            .or_default()
            .push((index, probe));
    }
    by_port
        .into_iter()
        .map(|((port, protocol, via, details), probes)| Table {
            port,
            protocol,
            via,
            details,
            rows: sorted(probes.iter().map(|(_, p)| p.from.as_str())),
            columns: sorted(probes.iter().map(|(_, p)| p.to.as_str())),
            probes,
        })
        .collect()
}

fn sorted<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut items: Vec<&str> = items.collect();
    items.sort_unstable();
    items.dedup();
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::mixed_run;

    #[test]
    fn every_port_kind_and_detail_has_its_own_table() {
        let run = mixed_run();
        let shop: Vec<(u16, &str)> = tables(&run.scenarios[0])
            .iter()
            .map(|t| (t.port, t.via))
            .collect();
        assert_eq!(
            shop,
            [(80, "tcp"), (443, "tcp"), (5432, "tcp"), (8080, "tcp")]
        );
        let dns = tables(&run.scenarios[1]);
        let details: Vec<&[&str]> = dns.iter().map(|t| t.details.as_slice()).collect();
        assert_eq!(
            details,
            [
                &["kubernetes.default.svc.cluster.local"][..],
                &["nope.example.test"],
                &["web.dns.svc.cluster.local"],
                &["/admin"],
                &["/healthz"]
            ]
        );
    }

    #[test]
    fn a_cell_holds_every_probe_between_its_source_and_target() {
        let run = mixed_run();
        let tables = tables(&run.scenarios[0]);
        let pg = &tables[2];
        assert_eq!(pg.rows, ["shop/api", "shop/web"]);
        assert_eq!(pg.columns, ["service shop/db", "shop/db"]);
        assert_eq!(pg.cell("shop/api", "service shop/db").count(), 0);
        let cell: Vec<usize> = pg.cell("shop/web", "shop/db").map(|(i, _)| i).collect();
        assert_eq!(cell, [0]);
        let admin = &super::tables(&run.scenarios[1])[3];
        assert_eq!(admin.cell("dns/client", "dns/web").count(), 2);
    }
}
