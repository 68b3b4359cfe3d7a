//! Source files, locations and diagnostics: every message names a file, line, column and field path.

use std::fmt;
use std::path::{Path, PathBuf};

use netverdict_engine::Quoted;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A position in a source file, 1-based; `line == 0` when unknown.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SourceLocation {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

impl SourceLocation {
    pub(crate) fn new(file: &Path, at: &serde_saphyr::Location) -> Self {
        Self {
            file: file.to_path_buf(),
            line: at.line(),
            column: at.column(),
        }
    }

    /// The file alone, for problems that concern a whole file.
    pub(crate) fn file(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
        }
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

/// A located problem found while loading, validating or linting a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: SourceLocation,
    /// Field path inside the document, e.g. `spec.probes[3].to`; empty for the whole document.
    pub path: String,
    pub message: String,
    /// A stable identifier for lints (e.g. `and-or-selector`), so they can be named in docs.
    pub lint: Option<&'static str>,
}

impl Diagnostic {
    pub(crate) fn error(
        location: SourceLocation,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            location,
            path: path.into(),
            message: message.into(),
            lint: None,
        }
    }

    pub(crate) fn warning(
        lint: &'static str,
        location: SourceLocation,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            location,
            path: path.into(),
            message: message.into(),
            lint: Some(lint),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {severity}", self.location)?;
        if let Some(lint) = self.lint {
            write!(f, "[{lint}]")?;
        }
        write!(f, ": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.message)
    }
}

/// A loaded text file, kept to render source lines under diagnostics.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    /// The text of 1-based line `line`, if any.
    pub fn line(&self, line: u64) -> Option<&str> {
        let index = usize::try_from(line.checked_sub(1)?).ok()?;
        self.text.lines().nth(index)
    }
}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// Renders a field path: `spec.probes[3].to`; keys that are not plain identifiers are quoted,
/// `matchLabels["app.kubernetes.io/name"]`.
pub(crate) fn render_path(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
            Segment::Key(key) => {
                let plain = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if plain {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                } else {
                    out.push_str(&format!("[{}]", Quoted(key)));
                }
            }
        }
    }
    out
}

/// Parses a path rendered by [`render_path`] or written by the engine (`spec.ingress[0].from[1]`).
pub(crate) fn parse_path(path: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            rest = after;
        } else if let Some(after) = rest.strip_prefix("[\"") {
            let end = after.find("\"]").unwrap_or(after.len());
            segments.push(Segment::Key(after[..end].to_string()));
            rest = after.get(end + 2..).unwrap_or("");
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').unwrap_or(after.len());
            match after[..end].parse() {
                Ok(i) => segments.push(Segment::Index(i)),
                Err(_) => segments.push(Segment::Key(after[..end].to_string())),
            }
            rest = after.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            segments.push(Segment::Key(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    segments
}

/// A YAML document as a generic tree where every node and key keeps its location; used to find
/// the line and column of any field path, and the field path of any line and column.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    Scalar(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Node, E> {
        Ok(Node::Scalar(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Node>>()? {
            let name = match key.value {
                Node::Scalar(s) => s,
                _ => return Err(de::Error::custom("mapping keys must be scalars")),
            };
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((Spanned::new(name, key.referenced, key.defined), value));
        }
        Ok(Node::Map(entries))
    }
}

fn before_or_at(a: &serde_saphyr::Location, line: u64, column: u64) -> bool {
    (a.line(), a.column()) <= (line, column)
}

/// A located document tree.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Tree(pub(crate) Spanned<Node>);

impl Tree {
    /// The location of the node at `path`, or of its deepest existing ancestor.
    pub(crate) fn locate(&self, path: &[Segment]) -> serde_saphyr::Location {
        let mut node = &self.0;
        for segment in path {
            let next = match (&node.value, segment) {
                (Node::Map(entries), Segment::Key(key)) => entries
                    .iter()
                    .find(|(k, _)| &k.value == key)
                    .map(|(_, v)| v),
                (Node::Seq(items), Segment::Index(i)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(next) => node = next,
                None => break,
            }
        }
        node.referenced
    }

    /// The location of the key of the entry at `path` (a map entry), else of the node.
    pub(crate) fn locate_key(&self, path: &[Segment]) -> serde_saphyr::Location {
        if let Some((Segment::Key(key), parent)) = path.split_last() {
            let mut node = &self.0;
            let mut found = true;
            for segment in parent {
                let next = match (&node.value, segment) {
                    (Node::Map(entries), Segment::Key(k)) => {
                        entries.iter().find(|(e, _)| &e.value == k).map(|(_, v)| v)
                    }
                    (Node::Seq(items), Segment::Index(i)) => items.get(*i),
                    _ => None,
                };
                match next {
                    Some(next) => node = next,
                    None => {
                        found = false;
                        break;
                    }
                }
            }
            if found
                && let Node::Map(entries) = &node.value
                && let Some((k, _)) = entries.iter().find(|(k, _)| &k.value == key)
            {
                return k.referenced;
            }
        }
        self.locate(path)
    }

    /// The field path of the deepest node or key starting at or before `line:column`.
    pub(crate) fn path_at(&self, line: u64, column: u64) -> Vec<Segment> {
        let mut path = Vec::new();
        let mut node = &self.0;
        loop {
            match &node.value {
                Node::Map(entries) => {
                    let Some((key, value)) = entries
                        .iter()
                        .rev()
                        .find(|(k, _)| before_or_at(&k.referenced, line, column))
                    else {
                        break;
                    };
                    path.push(Segment::Key(key.value.clone()));
                    if before_or_at(&value.referenced, line, column) {
                        node = value;
                    } else {
                        break;
                    }
                }
                Node::Seq(items) => {
                    let Some((i, item)) = items
                        .iter()
                        .enumerate()
                        .rev()
                        .find(|(_, item)| before_or_at(&item.referenced, line, column))
                    else {
                        break;
                    };
                    path.push(Segment::Index(i));
                    node = item;
                }
                Node::Scalar(_) => break,
            }
        }
        path
    }

    /// The scalar at `path`, if there is one.
    pub(crate) fn scalar(&self, path: &[Segment]) -> Option<&str> {
        let mut node = &self.0;
        for segment in path {
            node = match (&node.value, segment) {
                (Node::Map(entries), Segment::Key(key)) => entries
                    .iter()
                    .find(|(k, _)| &k.value == key)
                    .map(|(_, v)| v)?,
                (Node::Seq(items), Segment::Index(i)) => items.get(*i)?,
                _ => return None,
            };
        }
        match &node.value {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(yaml: &str) -> Tree {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn paths_round_trip() {
        let segments = vec![
            Segment::Key("spec".into()),
            Segment::Key("probes".into()),
            Segment::Index(3),
            Segment::Key("matchLabels".into()),
            Segment::Key("app.kubernetes.io/name".into()),
        ];
        let rendered = render_path(&segments);
        assert_eq!(
            rendered,
            r#"spec.probes[3].matchLabels["app.kubernetes.io/name"]"#
        );
        assert_eq!(parse_path(&rendered), segments);
        assert_eq!(
            parse_path("spec.ingress[0].from[1].ipBlock.cidr"),
            vec![
                Segment::Key("spec".into()),
                Segment::Key("ingress".into()),
                Segment::Index(0),
                Segment::Key("from".into()),
                Segment::Index(1),
                Segment::Key("ipBlock".into()),
                Segment::Key("cidr".into()),
            ]
        );
    }

    #[test]
    fn locates_nodes_and_finds_paths() {
        let t = tree(
            "a: 1\nspec:\n  probes:\n    - from: x/a\n      to: x/b\n    - {from: y/a, tu: 3}\n",
        );
        let at = t.locate(&parse_path("spec.probes[0].to"));
        assert_eq!((at.line(), at.column()), (5, 11));
        let at = t.locate_key(&parse_path("spec.probes[1].tu"));
        assert_eq!((at.line(), at.column()), (6, 19));
        assert_eq!(render_path(&t.path_at(6, 19)), "spec.probes[1].tu");
        assert_eq!(render_path(&t.path_at(5, 11)), "spec.probes[0].to");
        assert_eq!(t.scalar(&parse_path("spec.probes[1].from")), Some("y/a"));
        // A missing field points at its deepest existing ancestor.
        let at = t.locate(&parse_path("spec.probes[1].port"));
        assert_eq!(at.line(), 6);
    }
}
