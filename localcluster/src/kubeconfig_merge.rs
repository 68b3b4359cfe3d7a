//! `local up --kubeconfig FILE`: merges the instance's cluster, user and context (all three named
//! [`instance::context_name`]) into a kubeconfig that may hold other entries, as kind does, and
//! removes exactly those entries again when the instance goes.
//!
//! - Same-named entries (from an earlier `up` of the instance) are replaced in place; every other
//!   entry, and every field netverdict does not know, is kept as it was read.
//! - `current-context` is set to the instance's context, as kind does; the one it replaces is
//!   recorded and restored on removal if that context still exists, else it is unset.
//! - Writes take kubectl's lock (`FILE.lock`), go to a temporary file renamed over the original
//!   (through a symbolic link to its target), and keep the file's mode and owner (0600 for a new
//!   file).
//! - What was merged is recorded in the instance directory ([`InstanceDir::merged_file`]); the
//!   entries are removed only while the cluster entry still names this instance's server.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::instance::{self, InstanceDir};

/// The lists of a kubeconfig that hold named entries, and the field under the name.
const LISTS: [&str; 3] = ["clusters", "users", "contexts"];
/// How long to wait for another program's lock on the kubeconfig.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of reading or changing a user's kubeconfig; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("cannot read the kubeconfig {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("the kubeconfig {} is not valid: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("cannot write the kubeconfig {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "{} exists: another program is changing the kubeconfig {} (remove the lock file if none is)",
        lock.display(),
        path.display()
    )]
    Locked { path: PathBuf, lock: PathBuf },
}

/// What one merge put into a kubeconfig: what removing the instance takes out again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Merged {
    /// The kubeconfig, an absolute path.
    pub file: PathBuf,
    /// The name of the cluster, the user and the context.
    pub name: String,
    /// The instance's API server (`https://127.0.0.1:PORT`).
    pub server: String,
    /// The current-context the merge replaced.
    pub previous_context: Option<String>,
    /// The file did not exist before: it is removed once nothing else is left in it.
    pub created: bool,
}

/// What removing an instance's entries did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unmerged {
    /// Its cluster, user and context were removed.
    Removed,
    /// They were removed, and the file, which the merge created, held nothing else.
    FileRemoved,
    /// The cluster entry names another server now: nothing was touched.
    TakenOver,
    /// The file is gone.
    FileGone,
    /// The file holds none of the instance's entries (they were removed already).
    Unchanged,
}

/// Checks that `path` is absent or a kubeconfig a merge can go into.
///
/// # Errors
/// Fails when the file cannot be read or is not a kubeconfig.
pub fn check(path: &Path) -> Result<(), KubeconfigError> {
    read_doc(path).map(drop)
}

/// Merges the cluster, user and context of `ours` (a kubeconfig with one of each, as an instance
/// writes it) into `path`, creating it if absent, and records what it did in `dir`.
///
/// # Errors
/// Fails when the file cannot be read, is not a kubeconfig, is locked or cannot be written.
pub(crate) fn merge_recording(
    dir: &InstanceDir,
    path: &Path,
    ours: &str,
) -> Result<Merged, KubeconfigError> {
    let file = std::path::absolute(path).map_err(|source| KubeconfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    // A dead earlier run of this instance merged into the same file: keep what it recorded.
    let earlier = recorded(dir).filter(|m| m.file == file);
    let mut merged = with_lock(&file, || merge(&file, ours))?;
    if let Some(earlier) = earlier {
        merged.created |= earlier.created;
        if merged.previous_context.is_none() {
            merged.previous_context = earlier.previous_context;
        }
    }
    let record = serde_json::to_string_pretty(&merged).unwrap_or_default();
    instance::write_atomic(&dir.merged_file(), &record).map_err(|source| {
        KubeconfigError::Write {
            path: dir.merged_file(),
            source,
        }
    })?;
    Ok(merged)
}

/// What `dir` records as merged, if anything.
pub(crate) fn recorded(dir: &InstanceDir) -> Option<Merged> {
    let text = std::fs::read_to_string(dir.merged_file()).ok()?;
    serde_json::from_str(&text).ok()
}

/// Removes the entries `dir` records as merged, then the record.
pub(crate) fn unmerge_recorded(
    dir: &InstanceDir,
) -> Option<(Merged, Result<Unmerged, KubeconfigError>)> {
    let merged = recorded(dir)?;
    let result = unmerge_locked(&merged);
    let _ = std::fs::remove_file(dir.merged_file());
    Some((merged, result))
}

/// Removes `merged`'s entries from its file (nothing changes when they are gone already).
pub(crate) fn unmerge_locked(merged: &Merged) -> Result<Unmerged, KubeconfigError> {
    with_lock(&merged.file, || unmerge(merged))
}

fn merge(path: &Path, ours: &str) -> Result<Merged, KubeconfigError> {
    let ours = parse(path, ours)?;
    let name = first_name(&ours, "contexts").unwrap_or_default();
    let server = server_of(&ours, &name).unwrap_or_default();
    let existing = read_doc(path)?;
    let created = existing.is_none();
    let mut doc = existing.unwrap_or_default();
    doc.entry("apiVersion").or_insert_with(|| "v1".into());
    doc.entry("kind").or_insert_with(|| "Config".into());
    for list in LISTS {
        if let Some(entry) = ours.get(list).map(|entries| entries[0].clone()) {
            upsert(&mut doc, list, &name, entry);
        }
    }
    let previous_context = doc
        .get("current-context")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty() && *c != name)
        .map(str::to_owned);
    doc.insert("current-context".into(), Value::String(name.clone()));
    write_preserving(path, &doc)?;
    Ok(Merged {
        file: path.to_owned(),
        name,
        server,
        previous_context,
        created,
    })
}

fn unmerge(merged: &Merged) -> Result<Unmerged, KubeconfigError> {
    let Some(mut doc) = read_doc(&merged.file)? else {
        return Ok(Unmerged::FileGone);
    };
    if server_of(&doc, &merged.name).is_some_and(|s| s != merged.server) {
        return Ok(Unmerged::TakenOver);
    }
    let before = doc.clone();
    for list in LISTS {
        if let Some(Value::Array(entries)) = doc.get_mut(list) {
            entries.retain(|e| e["name"].as_str() != Some(merged.name.as_str()));
        }
    }
    if doc.get("current-context").and_then(Value::as_str) == Some(merged.name.as_str()) {
        match &merged.previous_context {
            Some(previous) if has_entry(&doc, "contexts", previous) => {
                doc.insert("current-context".into(), Value::String(previous.clone()));
            }
            _ => {
                doc.remove("current-context");
            }
        }
    }
    if doc == before {
        return Ok(Unmerged::Unchanged);
    }
    let empty = LISTS.iter().all(|list| {
        doc.get(*list)
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
    });
    if merged.created && empty {
        std::fs::remove_file(&merged.file).map_err(|source| KubeconfigError::Write {
            path: merged.file.clone(),
            source,
        })?;
        return Ok(Unmerged::FileRemoved);
    }
    write_preserving(&merged.file, &doc)?;
    Ok(Unmerged::Removed)
}

/// The kubeconfig at `path` as a mapping; `None` when the file does not exist. An empty file is
/// an empty kubeconfig, as kubectl reads it.
fn read_doc(path: &Path) -> Result<Option<Map<String, Value>>, KubeconfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KubeconfigError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn parse(path: &Path, text: &str) -> Result<Map<String, Value>, KubeconfigError> {
    let malformed = |reason: String| KubeconfigError::Malformed {
        path: path.to_owned(),
        reason,
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    let doc = match serde_saphyr::from_str::<Value>(text) {
        Ok(Value::Object(doc)) => doc,
        Ok(Value::Null) => Map::new(),
        Ok(_) => return Err(malformed("the document is not a mapping".into())),
        Err(e) => return Err(malformed(first_line(&e.to_string()))),
    };
    for list in LISTS {
        match doc.get(list) {
            None | Some(Value::Null) => {}
            Some(Value::Array(entries)) if entries.iter().all(Value::is_object) => {}
            Some(_) => return Err(malformed(format!("`{list}` is not a list of mappings"))),
        }
    }
    Ok(doc)
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_owned()
}

fn first_name(doc: &Map<String, Value>, list: &str) -> Option<String> {
    doc.get(list)?[0]["name"].as_str().map(str::to_owned)
}

fn has_entry(doc: &Map<String, Value>, list: &str, name: &str) -> bool {
    doc.get(list)
        .and_then(Value::as_array)
        .is_some_and(|entries| entries.iter().any(|e| e["name"].as_str() == Some(name)))
}

/// The server of the cluster entry `name`.
fn server_of(doc: &Map<String, Value>, name: &str) -> Option<String> {
    let entries = doc.get("clusters")?.as_array()?;
    let entry = entries.iter().find(|e| e["name"].as_str() == Some(name))?;
    entry["cluster"]["server"].as_str().map(str::to_owned)
}

/// Replaces the entry `name` of `list` in place, or appends `entry`.
fn upsert(doc: &mut Map<String, Value>, list: &str, name: &str, entry: Value) {
    let slot = doc
        .entry(list)
        .and_modify(|v| {
            if v.is_null() {
                *v = Value::Array(Vec::new());
            }
        })
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(entries) = slot else { return };
    match entries
        .iter_mut()
        .find(|e| e["name"].as_str() == Some(name))
    {
        Some(existing) => *existing = entry,
        None => entries.push(entry),
    }
}

/// Runs `f` holding kubectl's lock on `path` (`PATH.lock`, created exclusively).
fn with_lock<T>(
    path: &Path,
    f: impl FnOnce() -> Result<T, KubeconfigError>,
) -> Result<T, KubeconfigError> {
    let mut lock = path.as_os_str().to_owned();
    lock.push(".lock");
    let lock = PathBuf::from(lock);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| KubeconfigError::Write {
            path: path.to_owned(),
            source,
        })?;
    }
    let started = Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if started.elapsed() > LOCK_TIMEOUT {
                    return Err(KubeconfigError::Locked {
                        path: path.to_owned(),
                        lock,
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(source) => {
                return Err(KubeconfigError::Write {
                    path: path.to_owned(),
                    source,
                });
            }
        }
    }
    let result = f();
    let _ = std::fs::remove_file(&lock);
    result
}

/// Writes `doc` over `path` atomically, keeping the file's mode and owner (0600 for a new one);
/// a symbolic link is followed, not replaced.
fn write_preserving(path: &Path, doc: &Map<String, Value>) -> Result<(), KubeconfigError> {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let failed = |source| KubeconfigError::Write {
        path: path.to_owned(),
        source,
    };
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let existing = std::fs::metadata(&target).ok();
    let text = serde_saphyr::to_string(doc).map_err(|e| failed(io::Error::other(e.to_string())))?;
    let mut tmp_name = target.file_name().unwrap_or_default().to_owned();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = target.with_file_name(tmp_name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(failed)?;
    let written = (|| {
        if let Some(meta) = &existing {
            // Best effort: only root can give the file back to another owner.
            let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
            let mode = meta.permissions().mode() & 0o7777;
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(failed)
}

#[cfg(test)]
#[path = "kubeconfig_merge_tests.rs"]
mod tests;
