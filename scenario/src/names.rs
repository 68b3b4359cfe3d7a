//! Syntax checks for the names and values a scenario carries, as Kubernetes defines them, plus the
//! strict character sets for values that end up as probe command arguments.

use netverdict_engine::Quoted;

/// Joins the engine's (API-server-worded) problems about `value`, if any.
fn check(value: &str, problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "invalid value {}: {}",
            Quoted(value),
            problems.join("; ")
        ))
    }
}

/// A DNS-1123 label: lowercase alphanumerics and `-`, starting and ending alphanumeric, 1-63 chars.
pub(crate) fn dns1123_label(s: &str) -> Result<(), String> {
    check(s, netverdict_engine::validate_dns1123_label(s))
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub(crate) fn dns1123_subdomain(s: &str) -> Result<(), String> {
    check(s, netverdict_engine::validate_dns1123_subdomain(s))
}

/// An IANA service name, as named container ports use.
pub(crate) fn port_name(s: &str) -> Result<(), String> {
    check(s, netverdict_engine::validate_port_name(s))
}

/// A label key: an optional DNS-1123 subdomain prefix and `/`, then a qualified name.
pub(crate) fn label_key(key: &str) -> Result<(), String> {
    check(key, netverdict_engine::validate_label_key(key))
}

/// A label value: empty, or at most 63 characters as for a key's name part.
pub(crate) fn label_value(value: &str) -> Result<(), String> {
    check(value, netverdict_engine::validate_label_value(value))
}

/// A host name or DNS query: letters, digits, `-`, `_` and dots, 1-253 characters, an optional
/// trailing dot; no label starts with `-` (it could pass for a command option).
pub(crate) fn dns_name(s: &str) -> Result<(), String> {
    let trimmed = s.strip_suffix('.').unwrap_or(s);
    let ok = !trimmed.is_empty()
        && trimmed.len() <= 253
        && trimmed.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a DNS name: use letters, digits, '-' and '_' in dot-separated labels of 1-63 characters (at most 253 in all), no label starting with '-'",
            Quoted(s)
        ))
    }
}

/// An HTTP request path: starts with `/`, at most 1024 characters of
/// `A-Za-z0-9 - . _ ~ / % ? = + : @ ,` (encode anything else with `%XX`).
pub(crate) fn http_path(s: &str) -> Result<(), String> {
    let ok = s.starts_with('/')
        && s.len() <= 1024
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/%?=+:@,".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not an accepted HTTP path: it must start with '/' and use only letters, digits and - . _ ~ / % ? = + : @ , (percent-encode anything else)",
            Quoted(s)
        ))
    }
}

/// A probe name: printable text without control characters, at most 200 characters.
pub(crate) fn probe_name(s: &str) -> Result<(), String> {
    if s.trim().is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) {
        return Err(format!(
            "{} is not a valid probe name: 1-200 printable characters",
            Quoted(s)
        ));
    }
    Ok(())
}

/// The closest candidate to `wrong`, if one is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wrong, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `"; did you mean X?"` or nothing.
pub(crate) fn suggestion<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(wrong, candidates)
        .map(|c| format!("; did you mean {c}?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns1123_label("shop-1").is_ok());
        for bad in ["", "-a", "a-", "Shop", "a_b", &"a".repeat(64)] {
            assert!(dns1123_label(bad).is_err(), "{bad}");
        }
        assert!(port_name("serve-80-tcp").is_ok());
        for bad in ["80", "a--b", "-http", "this-is-too-long-x", "HTTP"] {
            assert!(port_name(bad).is_err(), "{bad}");
        }
        assert!(label_key("app.kubernetes.io/name").is_ok());
        assert!(label_key("kubernetes.io/metadata.name").is_ok());
        for bad in ["", "/a", "a/", "-a", "Foo_/a", "a b"] {
            assert!(label_key(bad).is_err(), "{bad}");
        }
        assert!(label_value("").is_ok());
        assert!(label_value("v1.2_x").is_ok());
        assert!(label_value("-x").is_err());
    }

    #[test]
    fn command_arguments_are_strict() {
        assert!(dns_name("external.test").is_ok());
        assert!(dns_name("kubernetes.default.svc.cluster.local.").is_ok());
        for bad in ["-oProxyCommand=x", "a;b", "a b", "$(id)", "a..b", "", "a/b"] {
            assert!(dns_name(bad).is_err(), "{bad}");
        }
        assert!(http_path("/healthz?x=1").is_ok());
        for bad in [
            "healthz", "/a b", "/$(id)", "/a;b", "/a`b`", "/a'b", "/a\"b", "/a&b",
        ] {
            assert!(http_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("shop/apii", ["shop/api", "shop/db"]),
            Some("shop/api")
        );
        assert_eq!(did_you_mean("zzz", ["shop/api"]), None);
    }
}
