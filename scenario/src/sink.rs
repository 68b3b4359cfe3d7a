//! Where checking writes what it finds: located diagnostics, and the extra files read on the way
//! (policy files, to show their lines under diagnostics).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::source::{Diagnostic, SourceFile};

/// Collects diagnostics and the source files they point into.
#[derive(Debug, Default)]
pub(crate) struct DiagnosticSink {
    diagnostics: Vec<Diagnostic>,
    sources: BTreeMap<PathBuf, SourceFile>,
}

impl DiagnosticSink {
    pub(crate) fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    pub(crate) fn extend(&mut self, diagnostics: impl IntoIterator<Item = Diagnostic>) {
        self.diagnostics.extend(diagnostics);
    }

    /// Keeps `file` to show its lines under the diagnostics that point into it.
    pub(crate) fn add_source(&mut self, file: SourceFile) {
        self.sources.insert(file.path.clone(), file);
    }

    /// The diagnostic written last, to add to its message.
    pub(crate) fn last_mut(&mut self) -> Option<&mut Diagnostic> {
        self.diagnostics.last_mut()
    }

    /// How many diagnostics there are: a mark to compare with, or to deduplicate from.
    pub(crate) fn len(&self) -> usize {
        self.diagnostics.len()
    }

    pub(crate) fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub(crate) fn has_diagnostics_in(&self, file: &Path) -> bool {
        self.diagnostics.iter().any(|d| d.location.file == file)
    }

    /// Drops the diagnostics written since `mark` whose path and message are in `seen`, and adds
    /// the others' to it: a problem repeated for every cell of a matrix is reported once.
    pub(crate) fn dedup_since(&mut self, mark: usize, seen: &mut BTreeSet<(String, String)>) {
        let new: Vec<Diagnostic> = self.diagnostics.drain(mark..).collect();
        for d in new {
            if seen.insert((d.path.clone(), d.message.clone())) {
                self.diagnostics.push(d);
            }
        }
    }

    pub(crate) fn into_parts(self) -> (Vec<Diagnostic>, BTreeMap<PathBuf, SourceFile>) {
        (self.diagnostics, self.sources)
    }
}
