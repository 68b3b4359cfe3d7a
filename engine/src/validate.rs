//! Name and value syntax checks, worded like the API server's
//! (`k8s.io/apimachinery/pkg/util/validation`), so an error netverdict reports before creating an
//! object reads like the one the cluster would have returned.
//!
//! Each function returns the list of problems; an empty list means the value is valid.

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;
const LABEL_VALUE_MAX: usize = 63;
const QUALIFIED_NAME_MAX: usize = 63;
const PORT_NAME_MAX: usize = 15;

/// Checks a label (or annotation) key: an optional DNS-1123 subdomain prefix and `/`, then a name
/// of at most 63 alphanumerics, `-`, `_` or `.`, starting and ending with an alphanumeric.
pub fn validate_label_key(key: &str) -> Vec<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let (prefix, name) = match parts.as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => {
            return vec![
                "a qualified name must consist of an optional DNS subdomain prefix and '/' \
                 followed by a name"
                    .to_owned(),
            ];
        }
    };
    let mut errors = Vec::new();
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errors.push("prefix part must be non-empty".to_owned());
        } else {
            errors.extend(
                validate_dns1123_subdomain(prefix)
                    .into_iter()
                    .map(|e| format!("prefix part {e}")),
            );
        }
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else {
        if name.len() > QUALIFIED_NAME_MAX {
            errors.push(format!(
                "name part must be no more than {QUALIFIED_NAME_MAX} characters"
            ));
        }
        if !is_qualified_name_part(name) {
            errors.push(
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must \
                 start and end with an alphanumeric character"
                    .to_owned(),
            );
        }
    }
    errors
}

/// Checks a label value: empty, or at most 63 alphanumerics, `-`, `_` or `.`, starting and ending
/// with an alphanumeric.
pub fn validate_label_value(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > LABEL_VALUE_MAX {
        errors.push(format!("must be no more than {LABEL_VALUE_MAX} characters"));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errors.push(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', \
             '_' or '.', and must start and end with an alphanumeric character"
                .to_owned(),
        );
    }
    errors
}

/// Checks an RFC 1123 label (a namespace name): at most 63 lowercase alphanumerics or `-`,
/// starting and ending with an alphanumeric.
pub fn validate_dns1123_label(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > DNS1123_LABEL_MAX {
        errors.push(format!(
            "must be no more than {DNS1123_LABEL_MAX} characters"
        ));
    }
    if !is_dns1123_label(value) {
        errors.push(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character"
                .to_owned(),
        );
    }
    errors
}

/// Checks an RFC 1123 subdomain (most object names, a policy name among them): at most 253
/// characters, dot-separated lowercase labels.
pub fn validate_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errors.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
        ));
    }
    if !value.split('.').all(is_dns1123_label) {
        errors.push(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character"
                .to_owned(),
        );
    }
    errors
}

/// Checks a port name (an `IANA_SVC_NAME`, RFC 6335): 1 to 15 lowercase alphanumerics or `-`, at
/// least one letter, no `-` at either end and no `--`.
pub fn validate_port_name(name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if name.is_empty() || name.len() > PORT_NAME_MAX {
        errors.push(format!("must be no more than {PORT_NAME_MAX} characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        errors.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_owned(),
        );
    }
    if name.contains("--") {
        errors.push("must not contain consecutive hyphens".to_owned());
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        errors.push("must contain at least one letter (a-z)".to_owned());
    }
    if name.starts_with('-') || name.ends_with('-') {
        errors.push("must not begin or end with a hyphen".to_owned());
    }
    errors
}

/// Checks a port number: 1 to 65535.
pub fn validate_port_number(port: i32) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec!["must be between 1 and 65535, inclusive".to_owned()]
    }
}

fn is_dns1123_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            alnum(first) && alnum(last) && bytes.iter().all(|b| alnum(b) || *b == b'-')
        }
        _ => false,
    }
}

fn is_qualified_name_part(value: &str) -> bool {
    let bytes = value.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys() {
        let cases = [
            ("pod", true),
            ("app.kubernetes.io/name", true),
            ("kubernetes.io/metadata.name", true),
            ("a_b.c-d", true),
            ("A", true),
            ("", false),
            ("-pod", false),
            ("pod-", false),
            ("/pod", false),
            ("example.com/", false),
            ("Example.com/pod", false),
            ("a/b/c", false),
            ("pod name", false),
            (&*"k".repeat(63), true),
            (&*"k".repeat(64), false),
        ];
        for (key, valid) in cases {
            assert_eq!(validate_label_key(key).is_empty(), valid, "{key:?}");
        }
    }

    #[test]
    fn label_values() {
        let cases = [
            ("", true),
            ("b", true),
            ("v1.2_3-x", true),
            ("-b", false),
            ("b.", false),
            ("a b", false),
            ("a/b", false),
            (&*"v".repeat(63), true),
            (&*"v".repeat(64), false),
        ];
        for (value, valid) in cases {
            assert_eq!(validate_label_value(value).is_empty(), valid, "{value:?}");
        }
    }

    #[test]
    fn dns_names() {
        let labels = [
            ("x", true),
            ("netpol-x-1", true),
            ("0abc", true),
            ("", false),
            ("X", false),
            ("a.b", false),
            ("-a", false),
            ("a-", false),
            (&*"a".repeat(63), true),
            (&*"a".repeat(64), false),
        ];
        for (value, valid) in labels {
            assert_eq!(validate_dns1123_label(value).is_empty(), valid, "{value:?}");
        }
        let subdomains = [
            ("allow-from-y", true),
            ("a.b.c", true),
            ("a..b", false),
            (".a", false),
            ("Allow", false),
            ("a_b", false),
        ];
        for (value, valid) in subdomains {
            assert_eq!(
                validate_dns1123_subdomain(value).is_empty(),
                valid,
                "{value:?}"
            );
        }
    }

    #[test]
    fn port_names() {
        let cases = [
            ("serve-80-tcp", true),
            ("http", true),
            ("h2c", true),
            ("", false),
            ("80", false),
            ("Http", false),
            ("-http", false),
            ("http-", false),
            ("ht--tp", false),
            ("http_alt", false),
            ("abcdefghijklmno", true),
            ("abcdefghijklmnop", false),
        ];
        for (name, valid) in cases {
            assert_eq!(validate_port_name(name).is_empty(), valid, "{name:?}");
        }
    }

    #[test]
    fn port_numbers() {
        for (port, valid) in [
            (0, false),
            (1, true),
            (65535, true),
            (65536, false),
            (-1, false),
        ] {
            assert_eq!(validate_port_number(port).is_empty(), valid, "{port}");
        }
    }
}
