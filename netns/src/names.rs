//! How kernel objects and files are named from the instance name.
//!
//! Namespaces are `nvl-<instance>_router`, `nvl-<instance>_external` and
//! `nvl-<instance>_pod_<key>`. An instance name never holds `_`, so `nvl-<instance>_` selects
//! exactly one instance's namespaces. Link names only exist inside the instance's own namespaces
//! (veths are created directly in their target namespaces), so they need no instance part.

use std::path::PathBuf;

use netverdict_engine::Quoted;

use crate::error::NetError;

/// Prefix of every namespace the fabric creates.
pub const NAME_PREFIX: &str = "nvl-";

/// Directory holding the named network namespaces (as `ip netns` keeps them).
pub const NETNS_DIR: &str = "/run/netns";

/// Directory under which each instance keeps its files, in `<instance>/netns/`.
pub const RUNTIME_ROOT: &str = "/run/netverdict";

/// Name of the router-side link towards the external namespace.
pub(crate) const EXTERNAL_LINK: &str = "ext0";

/// Name of the link inside pods and the external namespace.
pub(crate) const POD_LINK: &str = "eth0";

pub(crate) fn validate_instance(instance: &str) -> Result<(), NetError> {
    let ok = !instance.is_empty()
        && instance.len() <= 16
        && instance
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(NetError::invalid(
            "instance name",
            format!("{} must match [a-z0-9-]{{1,16}}", Quoted(instance)),
        ))
    }
}

pub(crate) fn validate_pod_key(key: &str) -> Result<(), NetError> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(NetError::invalid(
            "pod key",
            format!("{} must match [A-Za-z0-9._-]{{1,64}}", Quoted(key)),
        ))
    }
}

/// `nvl-<instance>_`: the start of every namespace name of the instance.
pub(crate) fn instance_prefix(instance: &str) -> String {
    format!("{NAME_PREFIX}{instance}_")
}

pub(crate) fn router_netns(instance: &str) -> String {
    format!("{}router", instance_prefix(instance))
}

pub(crate) fn external_netns(instance: &str) -> String {
    format!("{}external", instance_prefix(instance))
}

pub(crate) fn pod_netns(instance: &str, key: &str) -> String {
    format!("{}pod_{key}", instance_prefix(instance))
}

pub(crate) fn netns_path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(name)
}

/// The instance directory; the fabric owns its `netns/` part and removes the directory itself
/// only when nothing else is left in it.
pub(crate) fn instance_dir(instance: &str) -> PathBuf {
    PathBuf::from(RUNTIME_ROOT).join(instance)
}

pub(crate) fn runtime_dir(instance: &str) -> PathBuf {
    instance_dir(instance).join("netns")
}

/// The instance a namespace name belongs to, when it is one of ours.
pub(crate) fn instance_of(netns: &str) -> Option<&str> {
    let rest = netns.strip_prefix(NAME_PREFIX)?;
    let (instance, _) = rest.split_once('_')?;
    validate_instance(instance).ok().map(|()| instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_prefix_does_not_select_longer_instances() {
        let other = pod_netns("a-b", "web");
        assert!(!other.starts_with(&instance_prefix("a")));
        assert!(other.starts_with(&instance_prefix("a-b")));
        assert_eq!(instance_of(&other), Some("a-b"));
        assert_eq!(instance_of("nvp-expa"), None);
        assert_eq!(instance_of("nvl-noseparator"), None);
        assert_eq!(instance_of("nvl-UPPER_router"), None);
    }

    #[test]
    fn validates_names() {
        assert!(validate_instance("t-1").is_ok());
        assert!(validate_instance("").is_err());
        assert!(validate_instance("a_b").is_err());
        assert!(validate_instance("abcdefghijklmnopq").is_err());
        assert!(validate_pod_key("default.web-0").is_ok());
        assert!(validate_pod_key("ns/name").is_err());
        assert!(validate_pod_key("..").is_err());
    }
}
