//! A `matrix` entry: every source times every target times every port, each cell expecting the
//! entry's word or its truth table's mark.

use std::collections::{BTreeMap, BTreeSet};

use netverdict_engine::{Mark, TruthTable};
use serde_saphyr::Spanned;

use super::entry::{Entry, Expander, Reported, generated_name};
use super::from::Source;
use super::port::PortRequest;
use super::target::Resolved;
use crate::model::{Expectation, Probe, Verdict, engine_protocol};
use crate::raw::{RawExpect, RawMatrix, RawMatrixPort};

/// The two ends of a matrix: its sources and its resolved targets.
pub(super) struct MatrixEnds {
    pub(super) froms: Vec<Source>,
    pub(super) tos: Vec<Resolved>,
}

/// The probes of a matrix so far, and the port problems reported for it.
#[derive(Default)]
struct MatrixOut {
    probes: Vec<Probe>,
    /// `(path, message)` of every port problem reported.
    reported: BTreeSet<(String, String)>,
}

/// What the cells of a matrix expect.
enum MatrixExpect {
    /// Every cell the same.
    Same(Expectation),
    /// One truth table for every port.
    One(TruthTable),
    /// A truth table per port, by the port as written.
    PerPort(BTreeMap<String, TruthTable>),
}

/// The expectations of one port's cells.
enum CellExpect<'t> {
    Same(&'t Expectation),
    Table(&'t TruthTable),
}

impl CellExpect<'_> {
    /// The expectation of the cell `from` -> `to`; `None` for a cell the table leaves unprobed.
    fn get(&self, from: &Source, to: &Resolved) -> Option<Expectation> {
        match self {
            CellExpect::Same(e) => Some((*e).clone()),
            CellExpect::Table(t) => match t.get(&from.label(), &to.label()) {
                Some(Mark::Allow) => Some(Expectation::table(Verdict::Allow)),
                Some(Mark::Deny) => Some(Expectation::table(Verdict::Deny)),
                _ => None,
            },
        }
    }
}

impl Expander<'_, '_> {
    pub(super) fn matrix(&mut self, entry: &Entry<'_>, matrix: &RawMatrix) -> Vec<Probe> {
        self.matrix_probes(entry, matrix).unwrap_or_default()
    }

    fn matrix_probes(
        &mut self,
        entry: &Entry<'_>,
        matrix: &RawMatrix,
    ) -> Result<Vec<Probe>, Reported> {
        self.no_single_fields(entry)?;
        let ends = self.matrix_ends(entry, matrix)?;
        let expect = self.matrix_expect(entry, matrix, &ends)?;
        let mut out = MatrixOut::default();
        for (k, port) in matrix.ports.iter().enumerate() {
            let key = port.value.port.value.to_string();
            let cells = match &expect {
                MatrixExpect::Same(e) => CellExpect::Same(e),
                MatrixExpect::One(t) => CellExpect::Table(t),
                MatrixExpect::PerPort(map) => match map.get(&key) {
                    Some(t) => CellExpect::Table(t),
                    None => {
                        self.report.error(
                            &format!("{}.expect", entry.path),
                            format!("no truth table for port {key}; give one per matrix port"),
                        );
                        return Err(Reported);
                    }
                },
            };
            let port_path = format!("{}.matrix.ports[{k}]", entry.path);
            self.port_cells(entry, &ends, port, &port_path, &cells, &mut out);
        }
        Ok(out.probes)
    }

    /// `from`, `to` and `port` belong in the matrix.
    fn no_single_fields(&mut self, entry: &Entry<'_>) -> Result<(), Reported> {
        let raw = entry.raw;
        for (field, present) in [
            ("from", raw.from.is_some()),
            ("to", raw.to.is_some()),
            ("port", raw.port.is_some()),
        ] {
            if present {
                self.report.error_key(
                    &format!("{}.{field}", entry.path),
                    format!("`{field}` cannot be combined with `matrix`; list it in the matrix"),
                );
                return Err(Reported);
            }
        }
        Ok(())
    }

    fn matrix_ends(
        &mut self,
        entry: &Entry<'_>,
        matrix: &RawMatrix,
    ) -> Result<MatrixEnds, Reported> {
        let path = &entry.path;
        let mut froms = Vec::new();
        for (j, f) in matrix.from.iter().enumerate() {
            let at = format!("{path}.matrix.from[{j}]");
            if let Some(source) = self.source(f, &at) {
                froms.push(source);
            }
        }
        let mut tos = Vec::new();
        for (j, t) in matrix.to.iter().enumerate() {
            if let Ok(resolved) = self.targets(t, &format!("{path}.matrix.to[{j}]")) {
                tos.extend(resolved);
            }
        }
        if froms.len() != matrix.from.len() || tos.is_empty() {
            return Err(Reported);
        }
        if matrix.ports.is_empty() {
            self.report.error(
                &format!("{path}.matrix.ports"),
                "a matrix needs at least one port",
            );
            return Err(Reported);
        }
        Ok(MatrixEnds { froms, tos })
    }

    fn matrix_expect(
        &mut self,
        entry: &Entry<'_>,
        matrix: &RawMatrix,
        ends: &MatrixEnds,
    ) -> Result<MatrixExpect, Reported> {
        let Some(e) = entry.raw.expect.as_ref() else {
            return Ok(MatrixExpect::Same(Expectation::auto_unresolved()));
        };
        let path = format!("{}.expect", entry.path);
        match &e.value {
            RawExpect::Word(w) => self.word(w, e, &path).map(MatrixExpect::Same),
            RawExpect::Table(text) => self.table(text, e, &path, ends).map(MatrixExpect::One),
            RawExpect::Tables(map) => self.per_port_tables(map, &path, matrix, ends),
        }
        .ok_or(Reported)
    }

    /// A truth table per port; every key is one of the matrix's ports.
    fn per_port_tables(
        &mut self,
        map: &BTreeMap<String, Spanned<String>>,
        path: &str,
        matrix: &RawMatrix,
        ends: &MatrixEnds,
    ) -> Option<MatrixExpect> {
        let mut tables = BTreeMap::new();
        for (key, text) in map {
            let at = format!("{path}.{key}");
            if !matrix
                .ports
                .iter()
                .any(|p| p.value.port.value.to_string() == *key)
            {
                let message = format!("port {key} is not one of this matrix's ports");
                self.report.error_key(&at, message);
                return None;
            }
            tables.insert(key.clone(), self.table(&text.value, text, &at, ends)?);
        }
        Some(MatrixExpect::PerPort(tables))
    }

    /// The probes of one matrix port, cell by cell; a port problem is reported once per target,
    /// not once per source.
    fn port_cells(
        &mut self,
        entry: &Entry<'_>,
        ends: &MatrixEnds,
        port: &Spanned<RawMatrixPort>,
        port_path: &str,
        cells: &CellExpect<'_>,
        out: &mut MatrixOut,
    ) {
        let RawMatrixPort {
            port: port_ref,
            protocol,
            via,
        } = &port.value;
        let port_ref = if port_ref.referenced.line() == 0 {
            Spanned::new(port_ref.value.clone(), port.referenced, port.defined)
        } else {
            port_ref.clone()
        };
        let request = PortRequest {
            port: Some(&port_ref),
            protocol: protocol
                .as_ref()
                .map(|p| engine_protocol(p.value))
                .or(entry.protocol),
            via: via.as_ref().map(|v| v.value).or(entry.via),
            scheme: entry.settings.http.scheme,
            path: port_path,
            port_path,
        };
        for from in &ends.froms {
            for target in &ends.tos {
                let Some(expect) = cells.get(from, target) else {
                    continue;
                };
                let mark = self.report.sink.len();
                let destination = self.destination(target, &request);
                self.report.sink.dedup_since(mark, &mut out.reported);
                let Some(destination) = destination else {
                    continue;
                };
                let mut name = generated_name(from, &destination, &entry.settings);
                if let Some(n) = &entry.name {
                    name = format!("{n}: {name}");
                }
                out.probes
                    .push(self.probe(entry, name, from.clone(), destination, expect));
            }
        }
    }
}
