//! YAML documents: a file split into documents that keep the file's line numbers, each parsed
//! into a located tree and into a typed value, parser errors turned into located diagnostics.

use std::path::Path;

use serde_saphyr::{Location, MessageFormatter, Spanned};

use crate::names;
use crate::sink::DiagnosticSink;
use crate::source::{Diagnostic, SourceLocation, Tree, parse_path, render_path};

/// One YAML document of a file: its text (other documents blanked out, so lines and columns are
/// the file's) and its located tree.
pub(crate) struct Document<'a> {
    pub(crate) file: &'a Path,
    pub(crate) text: String,
    pub(crate) tree: Tree,
}

impl Document<'_> {
    pub(crate) fn location(&self, at: &Location) -> SourceLocation {
        SourceLocation::new(self.file, at)
    }

    /// The location of the value at `path` (or of its deepest existing ancestor).
    pub(crate) fn at(&self, path: &str) -> SourceLocation {
        self.location(&self.tree.locate(&parse_path(path)))
    }

    /// The location of `spanned`, falling back to the value at `path` when unknown.
    pub(crate) fn spanned<T>(&self, spanned: &Spanned<T>, path: &str) -> SourceLocation {
        if spanned.referenced.line() == 0 {
            self.at(path)
        } else {
            self.location(&spanned.referenced)
        }
    }
}

/// Splits a YAML stream into its documents; each keeps the whole file's line numbering (lines of
/// other documents are left empty) so parser locations are file locations.
pub(crate) fn split_documents(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut documents = Vec::new();
    let mut start = 0;
    let is_marker = |l: &str| l == "---" || l.starts_with("--- ") || l.starts_with("---\t");
    let mut push = |from: usize, to: usize| {
        let mut doc = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i >= from && i < to {
                if is_marker(line) {
                    doc.push_str(&" ".repeat(3));
                    doc.push_str(&line[3..]);
                } else if *line == "..." || line.starts_with('%') {
                    // Document end markers and directives carry no data.
                } else {
                    doc.push_str(line);
                }
            }
            doc.push('\n');
            if i >= to {
                break;
            }
        }
        let blank = lines[from..to].iter().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || is_marker(l) || *l == "..." || l.starts_with('%')
        });
        if !blank {
            documents.push(doc);
        }
    };
    for (i, line) in lines.iter().enumerate() {
        if is_marker(line) && i > start {
            push(start, i);
            start = i;
        }
    }
    if start < lines.len() {
        push(start, lines.len());
    }
    documents
}

/// The message of a parser error, without the location the caller reports separately.
pub(crate) fn parse_message(err: &serde_saphyr::Error) -> String {
    let message = serde_saphyr::UserMessageFormatter
        .format_message(err.without_snippet())
        .into_owned();
    // Keep one line: the location is reported by the caller.
    let first = message.lines().next().unwrap_or("").to_string();
    let first = match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first,
    };
    explain_serde_message(&first)
}

/// Makes serde's terse messages kinder: a suggestion for a misspelt field or variant, words for
/// a bare integer type.
fn explain_serde_message(message: &str) -> String {
    for (prefix, kind) in [("unknown field `", "field"), ("unknown variant `", "value")] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        let Some((wrong, expected)) = rest.split_once('`') else {
            continue;
        };
        let candidates: Vec<&str> = expected
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .split(", ")
            .map(|c| c.trim_matches('`'))
            .collect();
        if let Some(near) = names::did_you_mean(wrong, candidates.iter().copied()) {
            return format!("{message}; did you mean `{near}` (a {kind} name)?");
        }
        return message.to_string();
    }
    match message {
        "invalid u8" | "invalid u16" | "invalid u32" | "invalid u64" | "invalid i32"
        | "invalid i64" => "expected a whole number".to_string(),
        other => other.to_string(),
    }
}

pub(crate) fn parser_location(err: &serde_saphyr::Error) -> Option<(u64, u64)> {
    err.location()
        .filter(|l| l.line() > 0)
        .map(|l| (l.line(), l.column()))
}

/// Where a document starts: its first line with content (for errors the parser cannot place).
pub(crate) fn document_start(text: &str) -> (u64, u64) {
    text.lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map_or((1, 1), |(i, l)| {
            (i as u64 + 1, (l.len() - l.trim_start().len()) as u64 + 1)
        })
}

/// Parses a document's located tree; `None` (with a diagnostic) on a YAML syntax error.
pub(crate) fn parse_tree<'a>(
    file: &'a Path,
    text: String,
    sink: &mut DiagnosticSink,
) -> Option<Document<'a>> {
    match serde_saphyr::from_str::<Tree>(&text) {
        Ok(tree) => Some(Document { file, text, tree }),
        Err(err) => {
            let (line, column) = parser_location(&err).unwrap_or_else(|| document_start(&text));
            sink.push(Diagnostic::error(
                SourceLocation {
                    file: file.to_path_buf(),
                    line,
                    column,
                },
                "",
                format!("invalid YAML: {}", parse_message(&err)),
            ));
            None
        }
    }
}

/// Parses a document into `T`; a type error is reported with its location and field path.
pub(crate) fn parse_typed<'de, T: serde::Deserialize<'de>>(
    doc: &'de Document<'_>,
    sink: &mut DiagnosticSink,
) -> Option<T> {
    match serde_saphyr::from_str::<T>(&doc.text) {
        Ok(value) => Some(value),
        Err(err) => {
            let (line, column) = parser_location(&err).unwrap_or_else(|| document_start(&doc.text));
            let path = render_path(&doc.tree.path_at(line, column));
            sink.push(Diagnostic::error(
                SourceLocation {
                    file: doc.file.to_path_buf(),
                    line,
                    column,
                },
                path,
                parse_message(&err),
            ));
            None
        }
    }
}
