//! No message a user reads is formatted with `Debug`.
//!
//! Errors, API Status messages, diagnostics, events and CLI output quote values explicitly
//! (`netverdict_engine::Quoted`) and print enums with their `Display` spelling, so a user never
//! sees a Rust `Debug` rendering. This test keeps that true: it scans the non-test source of every
//! workspace crate for a `Debug` format spec (`{:?}`, `{name:?}`, `{:#?}`, ...) in the format
//! string of a user-facing macro: `format!`, `format_args!`, `write!`, `writeln!`, `print!`,
//! `println!`, `eprint!`, `eprintln!`, `bail!`, `anyhow!` and thiserror's `#[error(...)]`.
//!
//! The scanner is line-based and relies on rustfmt's layout:
//! - an item under `#[cfg(test)]` ends at the first line that is its closing brace at the
//!   attribute's indentation (or at its own line when that ends with `;`); a `mod name;` under
//!   `#[cfg(test)]` makes `name.rs` and `name/` test-only files, which are not scanned;
//! - comment lines (`//`, `///`, `//!`) are skipped, so doc examples are not scanned;
//! - only the first string literal of a macro call is read: the format string.
//!
//! A justified exception carries the marker comment `debug-format: allowed (<why>)` on the
//! macro's line or the line before it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Macros whose format string ends up in front of a user.
const MACROS: &[&str] = &[
    "format!(",
    "format_args!(",
    "write!(",
    "writeln!(",
    "print!(",
    "println!(",
    "eprint!(",
    "eprintln!(",
    "bail!(",
    "anyhow!(",
    "#[error(",
];

/// The comment that allows one exception.
const MARKER: &str = "debug-format: allowed";

/// One `Debug` format spec in a user-facing format string.
#[derive(Debug, PartialEq, Eq)]
struct Finding {
    line: usize,
    spec: String,
}

/// What scanning one file's text found.
#[derive(Debug, Default)]
struct Scan {
    /// Modules declared under `#[cfg(test)]` (`mod name;`): their files are test code.
    test_modules: Vec<String>,
    /// Calls of user-facing macros looked at.
    macros: usize,
    findings: Vec<Finding>,
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// `text` with every line of a `#[cfg(test)]` item and every comment line blanked (line
/// numbers stay), and the modules such items declare.
fn non_test_lines(text: &str) -> (Vec<&str>, Vec<String>) {
    let lines: Vec<&str> = text.lines().collect();
    if lines.iter().any(|l| l.trim() == "#![cfg(test)]") {
        return (vec![""; lines.len()], Vec::new());
    }
    let mut kept = Vec::with_capacity(lines.len());
    let mut test_modules = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim() != "#[cfg(test)]" {
            let comment = line.trim_start().starts_with("//");
            kept.push(if comment { "" } else { line });
            i += 1;
            continue;
        }
        let indent = indentation(line);
        let mut end = i + 1;
        while end < lines.len() && lines[end].trim_start().starts_with("#[") {
            end += 1;
        }
        let first = lines.get(end).map_or("", |l| l.trim());
        if first.ends_with(';') {
            if let Some(name) = declared_module(first) {
                test_modules.push(name.to_owned());
            }
        } else {
            let closing = " ".repeat(indent) + "}";
            while end < lines.len() && lines[end].trim_end() != closing {
                end += 1;
            }
        }
        let end = end.min(lines.len() - 1);
        kept.extend(std::iter::repeat_n("", end + 1 - i));
        i = end + 1;
    }
    (kept, test_modules)
}

/// `name` of a `mod name;` or `pub(crate) mod name;` line.
fn declared_module(line: &str) -> Option<&str> {
    let rest = line.strip_suffix(';')?;
    let (_, name) = rest.rsplit_once("mod ")?;
    Some(name.trim())
}

/// The content of the string literal starting at `at` (`"..."`, `r"..."` or `r#"..."#`) and
/// the index just past it.
fn string_literal(text: &[u8], at: usize) -> Option<(String, usize)> {
    let mut i = at;
    let raw = text.get(i) == Some(&b'r');
    if raw {
        i += 1;
    }
    let hashes = text[i..].iter().take_while(|&&b| b == b'#').count();
    i += hashes;
    if text.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let mut j = start;
    while j < text.len() {
        match text[j] {
            b'\\' if !raw => j += 2,
            b'"' if text
                .get(j + 1..j + 1 + hashes)
                .is_some_and(|h| h.iter().all(|&b| b == b'#')) =>
            {
                let content = String::from_utf8_lossy(&text[start..j]).into_owned();
                return Some((content, j + 1 + hashes));
            }
            _ => j += 1,
        }
    }
    None
}

/// The format string of the macro call whose `(` is at `open`: its first string literal
/// before the call's closing parenthesis.
fn format_string(text: &[u8], open: usize) -> Option<String> {
    let mut depth = 0usize;
    let mut i = open;
    while i < text.len() {
        match text[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return None;
                }
            }
            b'"' | b'r' => {
                let starts_word = i == 0 || !is_ident(text[i - 1]);
                if let Some((content, _)) = string_literal(text, i).filter(|_| starts_word) {
                    return Some(content);
                }
            }
            b'\'' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The `Debug` format specs (`{:?}`, `{x:#?}`, `{0:>8?}`) in a format string.
fn debug_specs(format: &str) -> Vec<String> {
    let plain = format.replace("{{", "").replace("}}", "");
    plain
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(inside, _)| inside))
        .filter(|inside| {
            inside
                .split_once(':')
                .is_some_and(|(_, spec)| spec.ends_with('?'))
        })
        .map(|inside| format!("{{{inside}}}"))
        .collect()
}

/// Scans one file's source text.
fn scan(text: &str) -> Scan {
    let (lines, test_modules) = non_test_lines(text);
    // The marker is a comment, which `lines` leaves out.
    let original: Vec<&str> = text.lines().collect();
    let mut result = Scan {
        test_modules,
        ..Scan::default()
    };
    for (n, line) in lines.iter().enumerate() {
        let bytes = line.as_bytes();
        for name in MACROS {
            let mut from = 0;
            while let Some(found) = line[from..].find(name) {
                let at = from + found;
                from = at + name.len();
                if at > 0 && is_ident(bytes[at - 1]) {
                    continue;
                }
                result.macros += 1;
                let allowed =
                    original[n].contains(MARKER) || n > 0 && original[n - 1].contains(MARKER);
                // A call's format string starts within a few lines of its name.
                let rest = lines[n..lines.len().min(n + 12)].join("\n");
                let open = at + name.len() - 1;
                let Some(format) = format_string(rest.as_bytes(), open) else {
                    continue;
                };
                if !allowed {
                    result.findings.extend(
                        debug_specs(&format)
                            .into_iter()
                            .map(|spec| Finding { line: n + 1, spec }),
                    );
                }
            }
        }
    }
    result
}

/// The workspace members named in the root manifest.
fn workspace_members(root: &Path) -> Vec<PathBuf> {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    let list = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("a members list in Cargo.toml");
    list.split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .map(|m| root.join(m))
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The folder that holds the files of the modules `file` declares.
fn module_dir(file: &Path) -> PathBuf {
    let parent = file.parent().expect("a file in a folder");
    match file.file_stem().and_then(|s| s.to_str()) {
        Some("lib" | "main" | "mod") => parent.to_owned(),
        Some(stem) => parent.join(stem),
        None => parent.to_owned(),
    }
}

#[test]
fn no_user_facing_message_is_formatted_with_debug() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let members = workspace_members(root);
    assert!(members.len() >= 8, "workspace members: {members:?}");
    let mut files = Vec::new();
    for member in &members {
        rust_files(&member.join("src"), &mut files);
    }
    let scans: Vec<(PathBuf, Scan)> = files
        .into_iter()
        .map(|f| {
            let text = fs::read_to_string(&f).expect("read a source file");
            (f, scan(&text))
        })
        .collect();
    let mut test_only = BTreeSet::new();
    for (file, scan) in &scans {
        for name in &scan.test_modules {
            test_only.insert(module_dir(file).join(format!("{name}.rs")));
            test_only.insert(module_dir(file).join(name));
        }
    }
    let mut findings = Vec::new();
    let mut macros = 0;
    for (file, scan) in &scans {
        if test_only.iter().any(|t| file.starts_with(t)) {
            continue;
        }
        macros += scan.macros;
        let shown = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        findings.extend(scan.findings.iter().map(|f| {
            format!(
                "{shown}:{}: {} in a user-facing format string",
                f.line, f.spec
            )
        }));
    }
    assert!(
        macros > 500,
        "only {macros} macro calls found: is the scanner broken?"
    );
    assert!(
        findings.is_empty(),
        "Debug formatting in messages (quote with netverdict_engine::Quoted, use Display, \
         or mark a justified exception with `// {MARKER} (why)`):\n{}",
        findings.join("\n")
    );
}

#[test]
fn the_scanner_finds_debug_specs_in_user_facing_macros() {
    let source = r####"
fn a(x: &str) -> String {
    format!("bad {x:?} and {:#?}", x)
}
#[derive(thiserror::Error, Debug)]
enum E {
    #[error("line {0}: {1:?} is wrong")]
    Wrong(usize, String),
}
fn b(f: &mut Formatter<'_>, v: &[u8]) -> fmt::Result {
    write!(
        f,
        r#"multi-line "{v:>8?}""#
    )
}
fn c(x: &str) -> String {
    // debug-format: allowed (an internal key)
    let key = format!("{x:?}");
    let fine = format!("{{x:?}} {x} {:>4}", 1);
    // format!("{x:?}") in a comment
    assert!(x.is_empty(), "{x:?}");
    sprintf!("{x:?}")
}
"####;
    let scan = scan(source);
    let found: Vec<(usize, &str)> = scan
        .findings
        .iter()
        .map(|f| (f.line, f.spec.as_str()))
        .collect();
    assert_eq!(
        found,
        [(3, "{x:?}"), (3, "{:#?}"), (7, "{1:?}"), (11, "{v:>8?}")]
    );
    assert_eq!(scan.macros, 5);
}

#[test]
fn the_scanner_skips_test_code() {
    let source = r#"
pub fn shown() -> String {
    format!("{}", 1)
}

#[cfg(test)]
mod tests {
    fn t() {
        let _ = format!("{:?}", 1);
    }
}

#[cfg(test)]
#[path = "x.rs"]
mod store_tests;

#[cfg(test)]
fn helper() -> String {
    format!("{:?}", 2)
}

pub fn after() -> String {
    format!("{:?}", 3)
}
"#;
    let scan = scan(source);
    assert_eq!(
        scan.findings,
        [Finding {
            line: 23,
            spec: "{:?}".to_owned()
        }]
    );
    assert_eq!(scan.test_modules, ["store_tests"]);
    assert_eq!(scan.macros, 2);
}
