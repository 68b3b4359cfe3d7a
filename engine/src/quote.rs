//! Quoting a value in a message the user reads.

use std::fmt;

/// `text` in double quotes, with backslash escapes for quotes, backslashes, control and
/// invisible characters: `"a\"b"`. The same text a Rust string literal and the API server's Go
/// `%q` give for printable text, written out here so messages never depend on a `Debug` impl.
///
/// ```
/// use netverdict_engine::Quoted;
///
/// assert_eq!(Quoted("it's a \"tab\"\t").to_string(), r#""it's a \"tab\"\t""#);
/// ```
#[derive(Clone, Copy)]
pub struct Quoted<'a>(pub &'a str);

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

/// Each of `items` quoted, separated by ", ", in square brackets: `["a", "b"]`.
pub struct QuotedList<'a, T: AsRef<str>>(pub &'a [T]);

impl<T: AsRef<str>> fmt::Display for QuotedList<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Quoted(item.as_ref()))?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The visible text of messages stays what it was when they were written with `{:?}`.
    #[test]
    fn quoting_is_the_text_of_a_string_literal() {
        for text in [
            "",
            "plain",
            "it's",
            "a\"b",
            "back\\slash",
            "tab\tnew\nline\r",
            "\u{0}\u{7f}\u{1b}",
            "é ü 日本",
            "e\u{301}\u{301}",
            "\u{200b}zero width",
        ] {
            assert_eq!(Quoted(text).to_string(), format!("{text:?}"));
        }
        let items = ["a", "b\"c"];
        assert_eq!(QuotedList(&items).to_string(), format!("{items:?}"));
        assert_eq!(QuotedList::<&str>(&[]).to_string(), "[]");
    }
}
