//! Random and mutated YAML fed to the loader: it never panics, and whatever it rejects comes with
//! at least one error located at a line and column of the input.

use std::path::Path;

use netverdict::scenario::{HostTable, load_str};
use proptest::prelude::*;

const VALID: &str = include_str!("../scenarios/three-tier.yaml");
const MATRIX: &str = include_str!("data/upstream/named-port.yaml");
const SERVICE: &str = include_str!("../scenarios/service-target.yaml");

fn check(text: &str) -> Result<(), TestCaseError> {
    let loaded = load_str(Path::new("fuzz.yaml"), text, &HostTable::default());
    let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
    if loaded.scenarios.is_empty() {
        prop_assert!(!errors.is_empty(), "rejected without an error: {text:?}");
    }
    let lines = text.lines().count().max(1) as u64;
    for e in &errors {
        prop_assert!(
            e.location.line >= 1 && e.location.column >= 1,
            "unlocated: {e}"
        );
        prop_assert!(
            e.location.line <= lines + 1,
            "beyond the input ({lines} lines): {e}"
        );
        prop_assert!(!e.message.is_empty());
    }
    Ok(())
}

/// One edit of a text: delete, insert or replace a byte range with something YAML-ish.
fn mutate(base: &'static str) -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just(String::new()),
        Just(":".to_string()),
        Just("- ".to_string()),
        Just("{".to_string()),
        Just("]".to_string()),
        Just("\n  ".to_string()),
        Just("\t".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!!binary ".to_string()),
        Just("---\n".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("99999".to_string()),
        Just("-1".to_string()),
        Just("x/a".to_string()),
        "[a-zA-Z0-9 :/._-]{0,12}",
    ];
    let edits = proptest::collection::vec((0..base.len(), 0usize..12, pieces), 1..4);
    edits.prop_map(move |edits| {
        let mut text = base.to_string();
        for (at, len, piece) in edits {
            let mut start = at.min(text.len());
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + len).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(start..end, &piece);
        }
        text
    })
}

/// Lines of a valid scenario shuffled, dropped or duplicated.
fn reorder(base: &'static str) -> impl Strategy<Value = String> {
    let lines: Vec<&'static str> = base.lines().collect();
    let n = lines.len();
    proptest::collection::vec(0..n, 1..n + 4).prop_map(move |picks| {
        picks
            .iter()
            .map(|&i| lines[i])
            .collect::<Vec<_>>()
            .join("\n")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in "\\PC{0,300}") {
        check(&text)?;
    }

    #[test]
    fn yaml_shaped_text(text in "([a-z]{1,6}: ?(\\[|\\{|-|[a-z0-9/.]{0,8})\n {0,6}){0,20}") {
        check(&text)?;
    }

    #[test]
    fn mutated_scenarios(text in mutate(VALID)) {
        check(&text)?;
    }

    #[test]
    fn mutated_matrices(text in mutate(MATRIX)) {
        check(&text)?;
    }

    #[test]
    fn mutated_services(text in mutate(SERVICE)) {
        check(&text)?;
    }

    #[test]
    fn reordered_lines(text in reorder(VALID)) {
        check(&text)?;
    }
}

#[test]
fn the_bases_are_valid() {
    for base in [VALID, MATRIX, SERVICE] {
        let loaded = load_str(Path::new("base.yaml"), base, &HostTable::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        assert_eq!(loaded.scenarios.len(), 1);
    }
}
