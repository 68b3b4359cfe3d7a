//! Which pods the kubelet runs, and as whom: pod processes are real processes of this machine,
//! so a pod that asks for root or the machine's namespaces or files would get them for real.
//!
//! - A container that sets no user runs as [`DEFAULT_UID`]:[`DEFAULT_GID`] (the user of the
//!   project's image), never as root; a user without a group gets [`DEFAULT_GID`], not group 0.
//! - Unless the cluster allows privileged pods, a pod is refused (container Waiting with reason
//!   `CreateContainerConfigError`, a message naming the field, and a `Failed` event) when it asks
//!   for user or group 0, a privileged container, added capabilities (other than
//!   `NET_BIND_SERVICE`, which Pod Security "restricted" allows and which changes nothing here),
//!   `hostPath` volumes, or the machine's network, PID or IPC namespace.
//! - With privileged pods allowed, root containers keep containerd's default capabilities plus
//!   the added ones minus the dropped ones, and privileged containers keep all of them and a
//!   writable view of the machine: they are root on the machine.

use k8s_openapi::api::core::v1::{Container, PodSpec};
use netverdict_engine::{Quoted, QuotedList};
use netverdict_netns::RunAs;

/// The user of a container that sets none (`USER 65532:65532` of the project's image).
pub const DEFAULT_UID: u32 = 65532;
/// The group of a container that sets none.
pub const DEFAULT_GID: u32 = 65532;

/// The capabilities of Linux, by number.
const CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// What containerd gives a container running as root.
const RUNTIME_DEFAULT_CAPABILITIES: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// An added capability that needs no opt-in.
const HARMLESS_ADDED_CAPABILITY: &str = "NET_BIND_SERVICE";

/// The bit of a capability named as Kubernetes names them (`NET_ADMIN`, or `CAP_NET_ADMIN`).
fn capability_bit(name: &str) -> Option<u64> {
    let name = name.strip_prefix("CAP_").unwrap_or(name);
    CAPABILITIES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| 1u64 << i)
}

fn to_id(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(DEFAULT_UID)
}

/// Why a container is not run, as the kubelet words a `CreateContainerConfigError`.
fn refused(field: &str, what: &str) -> String {
    format!(
        "{field}: {what} is refused: pod processes run on this machine, so this would give the \
         pod the machine itself (start the local cluster with --allow-privileged-pods to allow \
         it; dangerous)"
    )
}

/// The identity the container at `index` of `spec` runs as, or why it may not run.
pub(crate) fn identity(
    spec: &PodSpec,
    index: usize,
    allow_privileged: bool,
) -> Result<RunAs, String> {
    let default = Container::default();
    let container = spec.containers.get(index).unwrap_or(&default);
    let pod = spec.security_context.clone().unwrap_or_default();
    let ctr = container.security_context.clone().unwrap_or_default();
    let at = |field: &str| format!("spec.containers[{index}].securityContext.{field}");
    let (uid, uid_field) = match (ctr.run_as_user, pod.run_as_user) {
        (Some(u), _) => (to_id(u), at("runAsUser")),
        (None, Some(u)) => (to_id(u), "spec.securityContext.runAsUser".to_owned()),
        (None, None) => (DEFAULT_UID, String::new()),
    };
    let (gid, gid_field) = match (ctr.run_as_group, pod.run_as_group) {
        (Some(g), _) => (to_id(g), at("runAsGroup")),
        (None, Some(g)) => (to_id(g), "spec.securityContext.runAsGroup".to_owned()),
        (None, None) => (DEFAULT_GID, String::new()),
    };
    let non_root = ctr.run_as_non_root.or(pod.run_as_non_root) == Some(true);
    if non_root && uid == 0 {
        return Err(format!(
            "container's runAsUser breaks non-root policy (container: {})",
            container.name
        ));
    }
    let mut groups: Vec<u32> = pod
        .supplemental_groups
        .iter()
        .flatten()
        .chain(pod.fs_group.iter())
        .map(|g| to_id(*g))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let privileged = ctr.privileged == Some(true);
    let capabilities = ctr.capabilities.clone().unwrap_or_default();
    let added: Vec<String> = capabilities.add.clone().unwrap_or_default();
    if !allow_privileged {
        let mut refusals = Vec::new();
        for (on, field) in [
            (spec.host_network, "spec.hostNetwork"),
            (spec.host_pid, "spec.hostPID"),
            (spec.host_ipc, "spec.hostIPC"),
        ] {
            if on == Some(true) {
                refusals.push(refused(field, "true"));
            }
        }
        for (i, volume) in spec.volumes.iter().flatten().enumerate() {
            if volume.host_path.is_some() {
                refusals.push(refused(
                    &format!("spec.volumes[{i}].hostPath"),
                    &format!("volume {} of the machine's files", Quoted(&volume.name)),
                ));
            }
        }
        if privileged {
            refusals.push(refused(&at("privileged"), "true"));
        }
        let unsafe_added: Vec<&str> = added
            .iter()
            .map(String::as_str)
            .filter(|c| {
                !c.strip_prefix("CAP_")
                    .unwrap_or(c)
                    .eq_ignore_ascii_case(HARMLESS_ADDED_CAPABILITY)
            })
            .collect();
        if !unsafe_added.is_empty() {
            refusals.push(refused(
                &at("capabilities.add"),
                &QuotedList(&unsafe_added).to_string(),
            ));
        }
        if uid == 0 {
            refusals.push(refused(&uid_field, "user 0 (root)"));
        }
        if gid == 0 {
            refusals.push(refused(&gid_field, "group 0 (root)"));
        }
        if groups.contains(&0) {
            refusals.push(refused(
                "spec.securityContext.supplementalGroups",
                "group 0 (root)",
            ));
        }
        if !refusals.is_empty() {
            return Err(refusals.join("; "));
        }
    }
    let capabilities = if privileged {
        u64::MAX
    } else {
        let dropped = capabilities.drop.unwrap_or_default();
        let mut set = if dropped.iter().any(|c| c.eq_ignore_ascii_case("ALL")) {
            0
        } else {
            RUNTIME_DEFAULT_CAPABILITIES
                .iter()
                .filter_map(|c| capability_bit(c))
                .fold(0, |a, b| a | b)
        };
        for c in &dropped {
            set &= !capability_bit(c).unwrap_or(0);
        }
        for c in &added {
            if c.eq_ignore_ascii_case("ALL") {
                set = u64::MAX;
            }
            set |= capability_bit(c).unwrap_or(0);
        }
        set
    };
    Ok(RunAs {
        uid,
        gid,
        groups,
        capabilities,
        privileged: privileged && allow_privileged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn ids(s: &PodSpec) -> (u32, u32) {
        let r = identity(s, 0, false).unwrap();
        (r.uid, r.gid)
    }

    #[test]
    fn containers_without_a_user_run_as_the_image_user() {
        let s = spec(json!({"containers": [{"name": "c"}]}));
        assert_eq!(ids(&s), (65532, 65532));
        let s =
            spec(json!({"containers": [{"name": "c"}], "securityContext": {"runAsUser": 1000}}));
        assert_eq!(ids(&s), (1000, 65532));
        let s =
            spec(json!({"containers": [{"name": "c"}], "securityContext": {"runAsNonRoot": true}}));
        assert_eq!(ids(&s), (65532, 65532));
        let s = spec(
            json!({"containers": [{"name": "c", "securityContext": {"runAsUser": 7}}],
                            "securityContext": {"runAsUser": 5, "runAsGroup": 8, "supplementalGroups": [9], "fsGroup": 10}}),
        );
        let r = identity(&s, 0, false).unwrap();
        assert_eq!((r.uid, r.gid, r.groups.as_slice()), (7, 8, &[9, 10][..]));
        assert_eq!(r.capabilities & (1 << 12), 0, "no NET_ADMIN");
        assert!(!r.privileged);
    }

    #[test]
    fn what_would_reach_the_machine_is_refused_with_the_field() {
        for (v, field) in [
            (
                json!({"containers": [{"name": "c"}], "securityContext": {"runAsUser": 0}}),
                "spec.securityContext.runAsUser: user 0",
            ),
            (
                json!({"containers": [{"name": "c", "securityContext": {"runAsUser": 0}}]}),
                "spec.containers[0].securityContext.runAsUser",
            ),
            (
                json!({"containers": [{"name": "c", "securityContext": {"runAsGroup": 0}}]}),
                "spec.containers[0].securityContext.runAsGroup",
            ),
            (
                json!({"containers": [{"name": "c", "securityContext": {"privileged": true}}]}),
                "spec.containers[0].securityContext.privileged",
            ),
            (
                json!({"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}]}),
                "capabilities.add: [\"NET_ADMIN\"]",
            ),
            (
                json!({"containers": [{"name": "c"}], "hostNetwork": true}),
                "spec.hostNetwork",
            ),
            (
                json!({"containers": [{"name": "c"}], "hostPID": true}),
                "spec.hostPID",
            ),
            (
                json!({"containers": [{"name": "c"}], "securityContext": {"supplementalGroups": [0]}}),
                "supplementalGroups",
            ),
            (
                json!({"containers": [{"name": "c"}], "volumes": [{"name": "etc", "hostPath": {"path": "/etc"}}]}),
                "spec.volumes[0].hostPath",
            ),
        ] {
            let message = identity(&spec(v), 0, false).unwrap_err();
            assert!(message.contains(field), "{field}: {message}");
            assert!(message.contains("--allow-privileged-pods"), "{message}");
        }
        let s = spec(
            json!({"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}}}]}),
        );
        assert!(identity(&s, 0, false).is_ok());
    }

    #[test]
    fn allowed_privilege_gives_root_its_capabilities() {
        let s = spec(
            json!({"containers": [{"name": "c", "securityContext": {"runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"], "drop": ["KILL"]}}}]}),
        );
        let r = identity(&s, 0, true).unwrap();
        assert_eq!(r.uid, 0);
        assert_ne!(r.capabilities & (1 << 12), 0, "NET_ADMIN added");
        assert_eq!(r.capabilities & (1 << 5), 0, "KILL dropped");
        assert_ne!(r.capabilities & 1, 0, "CHOWN by default");
        let s = spec(
            json!({"containers": [{"name": "c", "securityContext": {"runAsUser": 0, "privileged": true}}]}),
        );
        let r = identity(&s, 0, true).unwrap();
        assert!(r.privileged);
        assert_eq!(r.capabilities, u64::MAX);
        // runAsNonRoot is the pod's own rule: no opt-in lifts it.
        let s = spec(
            json!({"containers": [{"name": "c"}], "securityContext": {"runAsUser": 0, "runAsNonRoot": true}}),
        );
        assert!(identity(&s, 0, true).unwrap_err().contains("non-root"));
    }
}
