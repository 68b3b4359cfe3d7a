//! Quoting a value in a message the user reads (the agent keeps no dependency on the engine,
//! whose `Quoted` this mirrors).

use std::fmt;

/// `text` in double quotes, with backslash escapes for quotes, backslashes, control and
/// invisible characters: `"a\"b"`, as a Rust string literal writes it.
#[derive(Clone, Copy)]
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        f.write_char('"')?;
        for c in self.0.chars() {
            // A single quote needs no escape inside double quotes.
            if c == '\'' {
                f.write_char(c)?;
            } else {
                write!(f, "{}", c.escape_debug())?;
            }
        }
        f.write_char('"')
    }
}

#[cfg(test)]
mod tests {
    use super::Quoted;

    /// The visible text of messages stays what it was when they were written with `{:?}`.
    #[test]
    fn quoting_is_the_text_of_a_string_literal() {
        for text in [
            "",
            "plain",
            "it's",
            "a\"b\\c",
            "tab\tline\n\u{0}",
            "é e\u{301}",
        ] {
            assert_eq!(Quoted(text).to_string(), format!("{text:?}"));
        }
    }
}
