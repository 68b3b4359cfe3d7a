//! Printing diagnostics: one `file:line:column: severity: path: message` line each (easy to grep
//! and to jump to), then the source line with a caret under the column.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::exit::ExpectedError;

use crate::scenario::{Diagnostic, Loaded, Severity};

/// Counts of what was printed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub errors: usize,
    pub warnings: usize,
}

/// Renders `loaded`'s diagnostics; with `deny_warnings`, warnings are reported (and counted) as
/// errors.
pub(crate) fn render(loaded: &Loaded, deny_warnings: bool) -> (String, Counts) {
    let mut out = String::new();
    let mut counts = Counts::default();
    let mut diagnostics: Vec<Diagnostic> = loaded.diagnostics.clone();
    if deny_warnings {
        for d in &mut diagnostics {
            d.severity = Severity::Error;
        }
    }
    diagnostics.dedup();
    for d in &diagnostics {
        match d.severity {
            Severity::Error => counts.errors += 1,
            Severity::Warning => counts.warnings += 1,
        }
        out.push_str(&d.to_string());
        out.push('\n');
        if let Some(line) = loaded
            .sources
            .get(&d.location.file)
            .and_then(|s| s.line(d.location.line))
        {
            let number = d.location.line.to_string();
            let pad = " ".repeat(number.len());
            let column = usize::try_from(d.location.column.saturating_sub(1)).unwrap_or(0);
            let caret_pad: String = line
                .chars()
                .take(column)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!(
                "{pad} |\n{number} | {line}\n{pad} | {caret_pad}^\n"
            ));
        }
    }
    (out, counts)
}

/// Prints the diagnostics and a summary to stderr; returns the counts.
pub(crate) fn print(loaded: &Loaded, deny_warnings: bool) -> Counts {
    let (text, counts) = render(loaded, deny_warnings);
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let _ = err.write_all(text.as_bytes());
    if counts.errors + counts.warnings > 0 {
        let _ = writeln!(err, "{}", summary(counts));
    }
    counts
}

pub(crate) fn summary(counts: Counts) -> String {
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}",
        plural(counts.errors, "error"),
        plural(counts.warnings, "warning")
    )
}

/// The paths given on the command line, or `scenarios/` when none.
pub(crate) fn paths_or_default(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths.to_vec()
    }
}

/// `--sarif FILE`: writes `loaded`'s diagnostics as SARIF when a file was asked for.
pub(crate) fn write_sarif(
    path: Option<&Path>,
    loaded: &Loaded,
    deny_warnings: bool,
) -> Result<(), ExpectedError> {
    match path {
        Some(path) => crate::cli::report_file::write(
            path,
            &crate::report::sarif::render(&loaded.diagnostics, deny_warnings),
        ),
        None => Ok(()),
    }
}
