//! The `pod-security` check: the Pod Security level a namespace enforces (its
//! `pod-security.kubernetes.io/enforce` label) against what probe pods need.
//!
//! Probe pods are built for `restricted`, the strictest level, so they meet every level but for
//! one thing: a pod serving a port below 1024 asks for the sysctl
//! `net.ipv4.ip_unprivileged_port_start`, which the Pod Security Standards allow only from their
//! version v1.22 on (`pod-security.kubernetes.io/enforce-version`).

use std::collections::BTreeMap;

use super::{Check, Status};

pub(crate) const ENFORCE: &str = "pod-security.kubernetes.io/enforce";
pub(crate) const ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";

/// The first Pod Security Standards version that allows the unprivileged-port sysctl.
const SYSCTL_ALLOWED_FROM_MINOR: u32 = 22;

/// What is known of a namespace's labels, and where they come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Labelled {
    /// The namespace exists with these labels.
    Existing(BTreeMap<String, String>),
    /// It does not exist yet: a run creates it with the scenario's labels.
    ByScenario(BTreeMap<String, String>),
    /// The canary's new namespace, with the labels the cluster gave it.
    New(BTreeMap<String, String>),
    /// Its labels could not be read (a forbidden `get`, say): why.
    Unreadable(String),
}

/// A namespace to judge: its name, labels, and the probe pods in it that serve a port below
/// 1024 (`NS/NAME`).
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) namespace: String,
    pub(crate) labels: Labelled,
    pub(crate) low_port_pods: Vec<String>,
}

/// A Pod Security Standards version, as the label gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    Latest,
    Minor(u32),
}

fn parse_version(text: Option<&str>) -> Option<Version> {
    match text {
        None | Some("latest") => Some(Version::Latest),
        Some(text) => {
            let minor = text.strip_prefix("v1.")?;
            minor.parse().ok().map(Version::Minor)
        }
    }
}

/// Judges one namespace.
pub(crate) fn judge(target: &Target) -> Check {
    let ns = &target.namespace;
    let labels = match &target.labels {
        Labelled::Unreadable(why) => {
            return check(
                target,
                Status::Skipped,
                None,
                format!(
                    "cannot read the labels of namespace {ns}: {why}; its Pod Security level is not checked"
                ),
            );
        }
        Labelled::Existing(labels) | Labelled::ByScenario(labels) | Labelled::New(labels) => labels,
    };
    let whose = match &target.labels {
        Labelled::ByScenario(_) => {
            format!("namespace {ns} (created by the run with the scenario's labels)")
        }
        Labelled::New(_) => format!("a new namespace ({ns}, as this cluster makes them)"),
        _ => format!("namespace {ns}"),
    };
    let Some(level) = labels.get(ENFORCE) else {
        return check(
            target,
            Status::Ok,
            None,
            format!(
                "{whose} has no {ENFORCE} label: the API server's default level applies (privileged \
                 unless its admission configuration sets another); probe pods meet every level, restricted included"
            ),
        );
    };
    if !["privileged", "baseline", "restricted"].contains(&level.as_str()) {
        return check(
            target,
            Status::Warning,
            Some(level),
            format!(
                "{whose} has {ENFORCE}={level}, which is not a level (privileged, baseline, restricted): \
                 the API server enforces restricted in its place; probe pods meet it"
            ),
        );
    }
    judge_level(
        target,
        &whose,
        level,
        labels.get(ENFORCE_VERSION).map(String::as_str),
    )
}

/// Judges the Pod Security `level` (a valid one) a namespace enforces, at its `version_label`.
fn judge_level(target: &Target, whose: &str, level: &String, version_label: Option<&str>) -> Check {
    let version = parse_version(version_label);
    let enforced = match version_label {
        Some(version) => format!("{level} (version {version})"),
        None => level.clone(),
    };
    let refuses_sysctl = level != "privileged"
        && matches!(version, Some(Version::Minor(minor)) if minor < SYSCTL_ALLOWED_FROM_MINOR);
    if refuses_sysctl && !target.low_port_pods.is_empty() {
        return check(
            target,
            Status::Failed,
            Some(level),
            format!(
                "{whose} enforces Pod Security {enforced}, which forbids the sysctl \
                 net.ipv4.ip_unprivileged_port_start (allowed from v1.22) that probe pods serving a port \
                 below 1024 ask for ({}): serve ports >= 1024, or set {ENFORCE_VERSION} to v1.22 or later",
                target.low_port_pods.join(", ")
            ),
        );
    }
    if version.is_none() {
        return check(
            target,
            Status::Warning,
            Some(level),
            format!(
                "{whose} enforces Pod Security {enforced}, but that version is not v1.N or latest \
                 (the API server takes latest in its place); probe pods meet {level}"
            ),
        );
    }
    let meets = if level == "restricted" {
        "probe pods meet it (they are built for restricted)".to_owned()
    } else {
        format!("probe pods meet it (they are built for restricted, stricter than {level})")
    };
    check(
        target,
        Status::Ok,
        Some(level),
        format!("{whose} enforces Pod Security {enforced}: {meets}"),
    )
}

fn check(target: &Target, status: Status, level: Option<&String>, message: String) -> Check {
    Check::new("pod-security", status, message)
        .with("namespace", target.namespace.clone().into())
        .with("level", level.cloned().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(labels: &[(&str, &str)], low_port_pods: &[&str]) -> Target {
        Target {
            namespace: "shop".to_owned(),
            labels: Labelled::Existing(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            low_port_pods: low_port_pods.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn probe_pods_meet_every_level_at_a_current_version() {
        for level in ["privileged", "baseline", "restricted"] {
            for version in [None, Some("latest"), Some("v1.22"), Some("v1.30")] {
                let mut labels = vec![(ENFORCE, level)];
                labels.extend(version.map(|v| (ENFORCE_VERSION, v)));
                let judged = judge(&target(&labels, &["shop/web"]));
                assert_eq!(
                    judged.status,
                    Status::Ok,
                    "{level} {}: {}",
                    version.unwrap_or("without a version"),
                    judged.message
                );
                assert!(
                    judged
                        .message
                        .contains(&format!("enforces Pod Security {level}")),
                    "{}",
                    judged.message
                );
            }
        }
    }

    #[test]
    fn an_unlabelled_namespace_gets_the_default_level_and_probe_pods_meet_any() {
        let judged = judge(&target(&[], &[]));
        assert_eq!(judged.status, Status::Ok);
        assert!(
            judged
                .message
                .contains("has no pod-security.kubernetes.io/enforce label"),
            "{}",
            judged.message
        );
    }

    #[test]
    fn a_version_before_v1_22_refuses_only_pods_serving_a_port_below_1024() {
        let old = [(ENFORCE, "baseline"), (ENFORCE_VERSION, "v1.21")];
        let judged = judge(&target(&old, &["shop/web"]));
        assert_eq!(judged.status, Status::Failed);
        assert!(
            judged
                .message
                .contains("forbids the sysctl net.ipv4.ip_unprivileged_port_start"),
            "{}",
            judged.message
        );
        assert!(judged.message.contains("(shop/web)"), "{}", judged.message);
        assert_eq!(judge(&target(&old, &[])).status, Status::Ok);
        let privileged = [(ENFORCE, "privileged"), (ENFORCE_VERSION, "v1.21")];
        assert_eq!(
            judge(&target(&privileged, &["shop/web"])).status,
            Status::Ok
        );
    }

    #[test]
    fn labels_that_are_not_a_level_or_version_warn() {
        let judged = judge(&target(&[(ENFORCE, "strict")], &[]));
        assert_eq!(judged.status, Status::Warning);
        assert!(
            judged.message.contains("enforces restricted in its place"),
            "{}",
            judged.message
        );
        let judged = judge(&target(
            &[(ENFORCE, "restricted"), (ENFORCE_VERSION, "1.25")],
            &[],
        ));
        assert_eq!(judged.status, Status::Warning, "{}", judged.message);
    }

    #[test]
    fn unreadable_labels_skip_the_check_and_scenario_labels_say_so() {
        let mut unreadable = target(&[], &[]);
        unreadable.labels = Labelled::Unreadable("403 Forbidden: no".to_owned());
        let judged = judge(&unreadable);
        assert_eq!(judged.status, Status::Skipped);
        assert!(
            judged.message.contains("403 Forbidden: no"),
            "{}",
            judged.message
        );
        let mut new = target(&[], &[]);
        new.labels = Labelled::ByScenario(BTreeMap::from([(
            ENFORCE.to_owned(),
            "restricted".to_owned(),
        )]));
        let judged = judge(&new);
        assert_eq!(judged.status, Status::Ok);
        assert!(
            judged
                .message
                .contains("created by the run with the scenario's labels"),
            "{}",
            judged.message
        );
    }
}
