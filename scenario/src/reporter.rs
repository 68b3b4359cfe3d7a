//! A [`Reporter`] locates the problems of one document by field path and writes them to a
//! [`DiagnosticSink`].

use serde_saphyr::Spanned;

use crate::document::Document;
use crate::sink::DiagnosticSink;
use crate::source::{Diagnostic, parse_path};

/// Reports the problems of one document, located by their field path.
pub(crate) struct Reporter<'a, 'd> {
    pub(crate) doc: &'a Document<'d>,
    pub(crate) sink: &'a mut DiagnosticSink,
}

impl<'d> Reporter<'_, 'd> {
    pub(crate) fn new<'a>(doc: &'a Document<'d>, sink: &'a mut DiagnosticSink) -> Reporter<'a, 'd> {
        Reporter { doc, sink }
    }

    /// The same document and sink, for a shorter time (to hand to a helper that holds it).
    pub(crate) fn reborrow(&mut self) -> Reporter<'_, 'd> {
        Reporter {
            doc: self.doc,
            sink: &mut *self.sink,
        }
    }

    /// An error at the value at `path`.
    pub(crate) fn error(&mut self, path: &str, message: impl Into<String>) {
        let location = self.doc.at(path);
        self.sink.push(Diagnostic::error(location, path, message));
    }

    /// An error at the key of the map entry at `path`.
    pub(crate) fn error_key(&mut self, path: &str, message: impl Into<String>) {
        let location = self
            .doc
            .location(&self.doc.tree.locate_key(&parse_path(path)));
        self.sink.push(Diagnostic::error(location, path, message));
    }

    /// An error at `spanned`, or at the value at `path` when its location is unknown.
    pub(crate) fn error_at<T>(
        &mut self,
        spanned: &Spanned<T>,
        path: &str,
        message: impl Into<String>,
    ) {
        let location = self.doc.spanned(spanned, path);
        self.sink.push(Diagnostic::error(location, path, message));
    }
}
