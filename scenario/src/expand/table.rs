//! Truth tables of a matrix: parsed by the engine, their rows and columns checked against the
//! matrix's sources and targets, every problem located at its line of the table.

use std::collections::BTreeSet;

use netverdict_engine::{TruthTable, TruthTableError};
use serde_saphyr::Spanned;

use super::entry::Expander;
use super::matrix::MatrixEnds;
use super::target::Resolved;
use crate::document::Document;
use crate::names;
use crate::source::{Diagnostic, SourceLocation};

/// Where the lines of a truth table are in its file.
struct TableLines {
    /// Where the table's value is written.
    at: SourceLocation,
    /// The file line of the table's first line.
    first_line: u64,
}

impl TableLines {
    fn new<T>(doc: &Document<'_>, spanned: &Spanned<T>, path: &str) -> Self {
        let at = doc.spanned(spanned, path);
        // A block scalar's first line follows its `|` indicator.
        let block = doc
            .text
            .lines()
            .nth(usize::try_from(at.line.saturating_sub(1)).unwrap_or(0))
            .is_some_and(|l| l.trim_end().ends_with('|') || l.trim_end().ends_with("|-"));
        let first_line = at.line + u64::from(block);
        Self { at, first_line }
    }

    /// The location of the table's 1-based line `line`.
    fn line(&self, line: usize) -> SourceLocation {
        SourceLocation {
            file: self.at.file.clone(),
            line: self.first_line + line.saturating_sub(1) as u64,
            column: self.at.column,
        }
    }
}

/// A problem of a table's shape, at one of its lines.
struct ShapeProblem {
    line: usize,
    message: String,
}

impl Expander<'_, '_> {
    /// The truth table `text` (written at `spanned`, field `path`), whose rows must be the
    /// matrix's sources and whose columns its targets.
    pub(super) fn table<T>(
        &mut self,
        text: &str,
        spanned: &Spanned<T>,
        path: &str,
        ends: &MatrixEnds,
    ) -> Option<TruthTable> {
        let lines = TableLines::new(self.report.doc, spanned, path);
        let (location, message) = match TruthTable::parse(text) {
            Ok(table) => match shape_problem(&table, text, ends) {
                None => return Some(table),
                Some(problem) => (lines.line(problem.line), problem.message),
            },
            Err(e) => {
                let location = match &e {
                    TruthTableError::Empty => lines.at.clone(),
                    TruthTableError::BadMark { line, .. }
                    | TruthTableError::RowLength { line, .. }
                    | TruthTableError::Duplicate { line, .. } => lines.line(*line),
                };
                // The location is reported separately.
                let message = e.to_string();
                let message = message
                    .split_once(": ")
                    .filter(|(l, _)| l.starts_with("line "))
                    .map_or(message.clone(), |(_, m)| m.to_string());
                (location, message)
            }
        };
        self.report.sink.push(Diagnostic::error(
            location,
            path,
            format!("truth table: {message}"),
        ));
        None
    }
}

/// The first mismatch of `table`'s columns and rows with the matrix's targets and sources.
fn shape_problem(table: &TruthTable, text: &str, ends: &MatrixEnds) -> Option<ShapeProblem> {
    let rows: BTreeSet<String> = ends.froms.iter().map(|from| from.label()).collect();
    let columns: BTreeSet<String> = ends.tos.iter().map(Resolved::label).collect();
    let table_rows: BTreeSet<String> = table.rows().iter().cloned().collect();
    let table_columns: BTreeSet<String> = table.columns().iter().cloned().collect();
    let header = || table_line(text, None);
    if let Some(extra) = table_columns.difference(&columns).next() {
        let hint = names::suggestion(extra, columns.iter().map(String::as_str));
        return Some(ShapeProblem {
            line: header(),
            message: format!("column {extra} is not a target of this matrix{hint}"),
        });
    }
    if let Some(missing) = columns.difference(&table_columns).next() {
        return Some(ShapeProblem {
            line: header(),
            message: format!(
                "the header lacks target {missing} (write ? to leave a cell unprobed)"
            ),
        });
    }
    if let Some(extra) = table_rows.difference(&rows).next() {
        let hint = names::suggestion(extra, rows.iter().map(String::as_str));
        return Some(ShapeProblem {
            line: table_line(text, Some(extra)),
            message: format!("row {extra} is not a source of this matrix{hint}"),
        });
    }
    let missing = rows.difference(&table_rows).next()?;
    Some(ShapeProblem {
        line: header(),
        message: format!("no row for source {missing} (write ? to leave a cell unprobed)"),
    })
}

/// The 1-based line of the table that starts with `label`, or of its header (the first
/// non-blank line).
fn table_line(text: &str, label: Option<&str>) -> usize {
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
}
