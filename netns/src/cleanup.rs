//! Removing an instance, also one whose process died without cleaning up.

use std::collections::BTreeSet;
use std::fs;
use std::io;

use crate::error::NetError;
use crate::names;
use crate::sys;

/// Removes what instances left behind (all instances when `instance` is `None`): ends processes
/// in their namespaces by PID, deletes namespaces, links and files. Returns what it removed
/// (`pid <n>`, namespace names and directories).
///
/// Only names with the fabric's prefix (`nvl-<instance>_`) and the `netns/` part of
/// `/run/netverdict/<instance>/` are touched.
///
/// # Caveats
/// `None` also removes instances that are still running in another process: use it only when
/// no local cluster runs on the machine.
///
/// # Errors
/// Fails on an invalid instance name, when a process does not end, or when a namespace or file
/// cannot be removed.
pub fn destroy_leftovers(instance: Option<&str>) -> Result<Vec<String>, NetError> {
    let instances: BTreeSet<String> = match instance {
        Some(instance) => {
            names::validate_instance(instance)?;
            BTreeSet::from([instance.to_owned()])
        }
        None => all_instances(),
    };
    let mut removed = Vec::new();
    for instance in &instances {
        removed.extend(destroy_instance(instance)?);
    }
    Ok(removed)
}

/// Instances that have a namespace or a runtime directory on the machine.
fn all_instances() -> BTreeSet<String> {
    let mut found: BTreeSet<String> = list_dir(names::NETNS_DIR)
        .iter()
        .filter_map(|name| names::instance_of(name).map(str::to_owned))
        .collect();
    for dir in list_dir(names::RUNTIME_ROOT) {
        if names::validate_instance(&dir).is_ok() && names::runtime_dir(&dir).exists() {
            found.insert(dir);
        }
    }
    found
}

fn list_dir(dir: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

/// Ends the processes of one instance and removes its namespaces and files.
pub(crate) fn destroy_instance(instance: &str) -> Result<Vec<String>, NetError> {
    let prefix = names::instance_prefix(instance);
    let namespaces: Vec<String> = list_dir(names::NETNS_DIR)
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    let ids: Vec<sys::NsId> = namespaces
        .iter()
        .filter_map(|n| sys::ns_id(&names::netns_path(n)).ok())
        .collect();
    let mut removed: Vec<String> = sys::kill_all_in(&ids)?
        .into_iter()
        .map(|pid| format!("pid {pid}"))
        .collect();
    // Pods first, the router last: deleting a pod namespace removes its veth pair.
    let mut ordered = namespaces;
    ordered.sort_by_key(|n| n.ends_with("_router"));
    for name in ordered {
        sys::delete_netns(&names::netns_path(&name))?;
        removed.push(name);
    }
    // Processes that entered a namespace meanwhile (a spawn racing the cleanup).
    removed.extend(
        sys::kill_all_in(&ids)?
            .into_iter()
            .map(|pid| format!("pid {pid}")),
    );
    let dir = names::runtime_dir(instance);
    // The pods' scratch tmpfs: removing the files would empty it, not remove the mount.
    sys::unmount_all_under(&dir)?;
    match fs::remove_dir_all(&dir) {
        Ok(()) => removed.push(dir.display().to_string()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(NetError::io(format!("remove {}", dir.display()), err)),
    }
    // The instance directory may hold files of other parts of the local cluster: keep it then.
    let _ = fs::remove_dir(names::instance_dir(instance));
    if !removed.is_empty() {
        tracing::info!(
            instance,
            removed = removed.len(),
            "removed the fabric of an instance"
        );
    }
    Ok(removed)
}
