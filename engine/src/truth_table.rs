//! Reachability matrices in the format the upstream e2e suite (`test/e2e/network/netpol`) prints:
//! a header line of targets, then one line per source, `.` for allowed, `X` for denied and `?`
//! for not probed.
//!
//! ```text
//! -   x/a x/b
//! x/a .   X
//! x/b .   .
//! ```

use std::fmt;

use crate::Quoted;

/// One cell of a [`TruthTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mark {
    /// `.`
    Allow,
    /// `X`
    Deny,
    /// `?`: not probed, or not known.
    Unknown,
}

impl Mark {
    pub fn from_allowed(allowed: bool) -> Self {
        if allowed { Self::Allow } else { Self::Deny }
    }

    pub fn as_char(self) -> char {
        match self {
            Self::Allow => '.',
            Self::Deny => 'X',
            Self::Unknown => '?',
        }
    }

    fn parse(token: &str) -> Option<Self> {
        match token {
            "." => Some(Self::Allow),
            "X" => Some(Self::Deny),
            "?" => Some(Self::Unknown),
            _ => None,
        }
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// A matrix of marks from sources (rows) to targets (columns), labelled like `x/a`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruthTable {
    rows: Vec<String>,
    columns: Vec<String>,
    cells: Vec<Vec<Mark>>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TruthTableError {
    #[error("a truth table needs a header line of targets")]
    Empty,
    #[error("line {line}: {} is not a mark (use `.`, `X` or `?`)", Quoted(found))]
    BadMark { line: usize, found: String },
    #[error("line {line}: {found} marks for {expected} targets")]
    RowLength {
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("line {line}: {} appears twice", Quoted(label))]
    Duplicate { line: usize, label: String },
}

impl TruthTable {
    /// A table with every cell [`Mark::Unknown`].
    pub fn new(rows: Vec<String>, columns: Vec<String>) -> Self {
        let cells = vec![vec![Mark::Unknown; columns.len()]; rows.len()];
        Self {
            rows,
            columns,
            cells,
        }
    }

    /// Parses the upstream printed format; any run of spaces or tabs separates cells, blank lines
    /// are skipped, and the header's leading `-` is optional.
    ///
    /// # Errors
    ///
    /// A missing header, a token that is not a mark, a row with the wrong number of marks, or a
    /// label given twice.
    pub fn parse(text: &str) -> Result<Self, TruthTableError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, line)| (i + 1, line.split_whitespace().collect::<Vec<_>>()))
            .filter(|(_, tokens)| !tokens.is_empty());
        let (header_line, mut header) = lines.next().ok_or(TruthTableError::Empty)?;
        if header.first() == Some(&"-") {
            header.remove(0);
        }
        let columns: Vec<String> = header.iter().map(|t| (*t).to_owned()).collect();
        if let Some(label) = first_duplicate(&columns) {
            return Err(TruthTableError::Duplicate {
                line: header_line,
                label,
            });
        }
        let mut table = Self::new(Vec::new(), columns);
        for (line, tokens) in lines {
            let (label, marks) = tokens.split_first().unwrap_or((&"", &[]));
            if marks.len() != table.columns.len() {
                return Err(TruthTableError::RowLength {
                    line,
                    expected: table.columns.len(),
                    found: marks.len(),
                });
            }
            if table.rows.iter().any(|r| r == label) {
                return Err(TruthTableError::Duplicate {
                    line,
                    label: (*label).to_owned(),
                });
            }
            let row = marks
                .iter()
                .map(|m| {
                    Mark::parse(m).ok_or_else(|| TruthTableError::BadMark {
                        line,
                        found: (*m).to_owned(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            table.rows.push((*label).to_owned());
            table.cells.push(row);
        }
        Ok(table)
    }

    pub fn rows(&self) -> &[String] {
        &self.rows
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The mark from `from` to `to`; `None` when either label is not in the table.
    pub fn get(&self, from: &str, to: &str) -> Option<Mark> {
        let i = self.rows.iter().position(|r| r == from)?;
        let j = self.columns.iter().position(|c| c == to)?;
        Some(self.cells[i][j])
    }

    /// Sets the mark from `from` to `to`; returns false (and changes nothing) when either label
    /// is not in the table.
    pub fn set(&mut self, from: &str, to: &str, mark: Mark) -> bool {
        let i = self.rows.iter().position(|r| r == from);
        let j = self.columns.iter().position(|c| c == to);
        match (i, j) {
            (Some(i), Some(j)) => {
                self.cells[i][j] = mark;
                true
            }
            _ => false,
        }
    }

    /// Every cell as `(from, to, mark)`, row by row.
    pub fn cells(&self) -> impl Iterator<Item = (&str, &str, Mark)> + '_ {
        self.rows.iter().enumerate().flat_map(move |(i, from)| {
            self.columns
                .iter()
                .enumerate()
                .map(move |(j, to)| (from.as_str(), to.as_str(), self.cells[i][j]))
        })
    }

    pub(crate) fn set_at(&mut self, row: usize, column: usize, mark: Mark) {
        self.cells[row][column] = mark;
    }

    /// Compares `self` (expected) with `observed` over the expected table's cells. A cell that is
    /// `?` on either side, or missing from `observed`, is not compared.
    pub fn diff(&self, observed: &TruthTable) -> TableDiff {
        let mut cells = Vec::new();
        for (i, from) in self.rows.iter().enumerate() {
            for (j, to) in self.columns.iter().enumerate() {
                let expected = self.cells[i][j];
                let seen = observed.get(from, to).unwrap_or(Mark::Unknown);
                if expected != Mark::Unknown && seen != Mark::Unknown && expected != seen {
                    cells.push(CellDiff {
                        from: from.clone(),
                        to: to.clone(),
                        expected,
                        observed: seen,
                    });
                }
            }
        }
        TableDiff {
            rows: self.rows.clone(),
            columns: self.columns.clone(),
            cells,
        }
    }
}

fn first_duplicate(labels: &[String]) -> Option<String> {
    labels
        .iter()
        .enumerate()
        .find(|(i, l)| labels[..*i].contains(l))
        .map(|(_, l)| l.clone())
}

/// Writes a matrix aligned in columns: a `-` corner, the column labels, then one line per row.
fn write_matrix(
    f: &mut fmt::Formatter<'_>,
    rows: &[String],
    columns: &[String],
    mark: impl Fn(usize, usize) -> char,
) -> fmt::Result {
    let first = rows
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut header = format!("{:<first$}", "-");
    for column in columns {
        header.push(' ');
        header.push_str(column);
    }
    writeln!(f, "{}", header.trim_end())?;
    for (i, row) in rows.iter().enumerate() {
        let mut line = format!("{row:<first$}");
        for (j, column) in columns.iter().enumerate() {
            let width = column.chars().count();
            line.push(' ');
            line.push_str(&format!("{:<width$}", mark(i, j)));
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

impl fmt::Display for TruthTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_matrix(f, &self.rows, &self.columns, |i, j| {
            self.cells[i][j].as_char()
        })
    }
}

/// One cell where expectation and observation differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellDiff {
    pub from: String,
    pub to: String,
    pub expected: Mark,
    pub observed: Mark,
}

/// The result of [`TruthTable::diff`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDiff {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    pub cells: Vec<CellDiff>,
}

impl TableDiff {
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

impl fmt::Display for TableDiff {
    /// The upstream comparison matrix (`.` agree, `X` differ), then one line per differing cell.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_matrix(f, &self.rows, &self.columns, |i, j| {
            let differs = self
                .cells
                .iter()
                .any(|c| c.from == self.rows[i] && c.to == self.columns[j]);
            if differs { 'X' } else { '.' }
        })?;
        for cell in &self.cells {
            writeln!(
                f,
                "{} -> {}: expected {}, observed {}",
                cell.from, cell.to, cell.expected, cell.observed
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = "-\t\tx/a\tx/b\n\
                            x/a\t.\t\tX\t\n\
                            x/b\t?\t\t.\t\n";

    #[test]
    fn parses_upstream_tabs() {
        let table = TruthTable::parse(UPSTREAM).unwrap();
        assert_eq!(table.rows(), ["x/a", "x/b"]);
        assert_eq!(table.columns(), ["x/a", "x/b"]);
        assert_eq!(table.get("x/a", "x/b"), Some(Mark::Deny));
        assert_eq!(table.get("x/b", "x/a"), Some(Mark::Unknown));
        assert_eq!(table.get("x/a", "z/z"), None);
    }

    #[test]
    fn renders_aligned_and_round_trips() {
        let table = TruthTable::parse(UPSTREAM).unwrap();
        let text = table.to_string();
        assert_eq!(text, "-   x/a x/b\nx/a .   X\nx/b ?   .\n");
        assert_eq!(TruthTable::parse(&text).unwrap(), table);
        let wide = TruthTable::parse("- y/backend\nx/frontend X").unwrap();
        assert_eq!(wide.to_string(), "-          y/backend\nx/frontend X\n");
        let accented = TruthTable::parse("- é/b\né/a .").unwrap();
        assert_eq!(accented.to_string(), "-   é/b\né/a .\n");
    }

    #[test]
    fn parse_errors() {
        let cases = [
            ("", TruthTableError::Empty),
            (
                "- x/a x/b\nx/a . x",
                TruthTableError::BadMark {
                    line: 2,
                    found: "x".to_owned(),
                },
            ),
            (
                "- x/a x/b\nx/a .",
                TruthTableError::RowLength {
                    line: 2,
                    expected: 2,
                    found: 1,
                },
            ),
            (
                "- x/a x/a\n",
                TruthTableError::Duplicate {
                    line: 1,
                    label: "x/a".to_owned(),
                },
            ),
            (
                "- x/a\nx/a .\n\nx/a X",
                TruthTableError::Duplicate {
                    line: 4,
                    label: "x/a".to_owned(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(TruthTable::parse(text), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn set_and_get() {
        let mut table = TruthTable::new(vec!["a".to_owned()], vec!["b".to_owned()]);
        assert_eq!(table.get("a", "b"), Some(Mark::Unknown));
        assert!(table.set("a", "b", Mark::Deny));
        assert!(!table.set("b", "a", Mark::Deny));
        assert_eq!(table.get("a", "b"), Some(Mark::Deny));
        let cells: Vec<_> = table.cells().collect();
        assert_eq!(cells, [("a", "b", Mark::Deny)]);
    }

    #[test]
    fn diff_ignores_unprobed_cells() {
        let expected = TruthTable::parse("- a b c\na . X ?\nb . . .").unwrap();
        let observed = TruthTable::parse("- a b c\na X X X\nb . ? .").unwrap();
        let diff = expected.diff(&observed);
        assert_eq!(
            diff.cells,
            vec![CellDiff {
                from: "a".to_owned(),
                to: "a".to_owned(),
                expected: Mark::Allow,
                observed: Mark::Deny,
            }]
        );
        assert_eq!(
            diff.to_string(),
            "- a b c\na X . .\nb . . .\na -> a: expected ., observed X\n"
        );
        assert!(expected.diff(&expected).is_empty());
        let partial = TruthTable::parse("- a\nb X").unwrap();
        assert_eq!(expected.diff(&partial).cells.len(), 1);
    }
}
