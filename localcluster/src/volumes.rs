//! A pod's volumes as the kubelet sets them up, for the container the local cluster runs:
//! `configMap` (items, modes, `optional`), `projected` (ServiceAccount token, ConfigMap and
//! downward API sources, which is what the ServiceAccount admission plugin's
//! `kube-api-access-*` volume holds), `downwardAPI` and `emptyDir`; the container's
//! `volumeMounts` (`readOnly`, `subPath`) say where they go.
//!
//! Each volume with contents is written under the pod's files directory as the kubelet's atomic
//! writer lays it out: the files in a hidden directory named by the time (`..2025_01_02_...`),
//! `..data` a link to it, and each top-level entry a link through `..data`, so that an update
//! (a token refreshed before it expires) swaps all of it at once. Files are root's, with the
//! volume's modes (0644 by default), group `fsGroup` when the pod sets one; a token is 0600 and
//! the pod user's when the pod names its user and no `fsGroup`, as the kubelet does.
//! `emptyDir` is a directory of the pod's scratch tmpfs (its `/tmp` and the others share the
//! 256 MiB). Other kinds of volumes (hostPath, Secrets, claims) are not mounted.
//!
//! A ConfigMap, a key or a ServiceAccount that does not exist (yet) is a [`VolumeError`] worded
//! as the kubelet's `FailedMount` event, and the kubelet tries again.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, KeyToPath, Pod, Volume, VolumeProjection,
};
use netverdict_apiserver::Resource;
use netverdict_engine::Quoted;
use netverdict_netns::VolumeMount;

use crate::cluster::Ctx;

/// The default mode of files in a volume (`defaultMode: 0644`).
const DEFAULT_MODE: u32 = 0o644;
/// The shortest lifetime the API server grants a token.
const MIN_TOKEN_SECONDS: i64 = 600;

/// Why a volume cannot be set up, as the kubelet's `FailedMount` event says it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VolumeError {
    #[error(
        "MountVolume.SetUp failed for volume {} : configmap {} not found",
        Quoted(.volume),
        Quoted(.name)
    )]
    ConfigMapMissing { volume: String, name: String },
    #[error(
        "MountVolume.SetUp failed for volume {} : configmap references non-existent config key: {key}",
        Quoted(.volume)
    )]
    KeyMissing { volume: String, key: String },
    #[error(
        "MountVolume.SetUp failed for volume {} : secret {} not found",
        Quoted(.volume),
        Quoted(.name)
    )]
    SecretMissing { volume: String, name: String },
    #[error(
        "MountVolume.SetUp failed for volume {} : failed to fetch token: {message}",
        Quoted(.volume)
    )]
    Token { volume: String, message: String },
    #[error("MountVolume.SetUp failed for volume {} : {source}", Quoted(.volume))]
    Io { volume: String, source: io::Error },
    #[error(
        "Error: container {} mounts volume {}, which the pod does not define",
        Quoted(.container),
        Quoted(.volume)
    )]
    Undefined { container: String, volume: String },
}

/// One file of a volume: its path inside the volume, contents and mode.
#[derive(Clone, Debug, PartialEq, Eq)]
struct File {
    path: String,
    data: Vec<u8>,
    mode: u32,
    /// A ServiceAccount token (mode and owner follow the pod's user).
    token: bool,
}

/// A pod's volumes, set up.
pub(crate) struct PodVolumes {
    /// What the container's mounts become.
    pub mounts: Vec<VolumeMount>,
    /// How soon the earliest token must be written anew (80% of its lifetime, as the kubelet
    /// refreshes it); `None` without tokens.
    pub refresh: Option<Duration>,
}

/// Who the pod's files are for: the pod user named by the spec, and `fsGroup`.
#[derive(Clone, Copy, Debug, Default)]
struct Owner {
    user: Option<u32>,
    group: Option<u32>,
}

fn owner(pod: &Pod, container: &Container) -> Owner {
    let spec = pod.spec.as_ref();
    let pod_context = spec.and_then(|s| s.security_context.as_ref());
    let user = container
        .security_context
        .as_ref()
        .and_then(|c| c.run_as_user)
        .or_else(|| pod_context.and_then(|c| c.run_as_user));
    let group = pod_context.and_then(|c| c.fs_group);
    Owner {
        user: user.and_then(|u| u32::try_from(u).ok()),
        group: group.and_then(|g| u32::try_from(g).ok()),
    }
}

/// Writes every volume `container` mounts under `files_dir` (emptyDirs under `scratch`) and
/// returns the mounts; run again, it writes them anew (a refresh).
///
/// # Errors
/// What the kubelet reports as `FailedMount`: see [`VolumeError`].
pub(crate) fn set_up(
    ctx: &Ctx,
    pod: &Pod,
    container: &Container,
    files_dir: &Path,
    scratch: &Path,
) -> Result<PodVolumes, VolumeError> {
    let volumes: BTreeMap<&str, &Volume> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .map(|v| (v.name.as_str(), v))
        .collect();
    let owner = owner(pod, container);
    let mut written = BTreeMap::new();
    let mut refresh: Option<Duration> = None;
    let mut mounts = Vec::new();
    for mount in container.volume_mounts.iter().flatten() {
        let Some(volume) = volumes.get(mount.name.as_str()) else {
            return Err(VolumeError::Undefined {
                container: container.name.clone(),
                volume: mount.name.clone(),
            });
        };
        let io = |source| VolumeError::Io {
            volume: volume.name.clone(),
            source,
        };
        let (dir, read_only) = if volume.empty_dir.is_some() {
            let dir = scratch.join("volumes").join(&volume.name);
            fs_dir(&dir, 0o777).map_err(io)?;
            (dir, mount.read_only.unwrap_or(false))
        } else {
            let Some(files) = contents(ctx, pod, volume)? else {
                continue;
            };
            let dir = files_dir.join("volumes").join(&volume.name);
            if !written.contains_key(&volume.name) {
                write_atomic(&dir, &files, owner).map_err(io)?;
                written.insert(volume.name.clone(), ());
                if let Some(lifetime) = token_lifetime(volume) {
                    let due = lifetime.mul_f64(0.8);
                    refresh = Some(refresh.map_or(due, |r| r.min(due)));
                }
            }
            // Always read-only, as the kubelet mounts these kinds.
            (dir, true)
        };
        let source = match mount.sub_path.as_deref().filter(|p| !p.is_empty()) {
            Some(sub) => dir.join(sub),
            None => dir,
        };
        mounts.push(VolumeMount {
            source,
            target: PathBuf::from(&mount.mount_path),
            read_only: read_only || mount.read_only.unwrap_or(false),
        });
    }
    Ok(PodVolumes { mounts, refresh })
}

/// The shortest lifetime of the tokens a projected volume asks for.
fn token_lifetime(volume: &Volume) -> Option<Duration> {
    volume
        .projected
        .iter()
        .flat_map(|p| p.sources.iter().flatten())
        .filter_map(|s| s.service_account_token.as_ref())
        .map(|t| t.expiration_seconds.unwrap_or(3600).max(MIN_TOKEN_SECONDS))
        .min()
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(3600)))
}

/// The files of a volume; `None` for a kind that is not mounted here.
fn contents(ctx: &Ctx, pod: &Pod, volume: &Volume) -> Result<Option<Vec<File>>, VolumeError> {
    let name = volume.name.as_str();
    if let Some(source) = &volume.config_map {
        let mode = mode_of(source.default_mode);
        let files = config_map_files(
            ctx,
            pod,
            name,
            &source.name,
            source.items.as_deref(),
            source.optional,
            mode,
        )?;
        return Ok(Some(files));
    }
    if let Some(source) = &volume.downward_api {
        let mode = mode_of(source.default_mode);
        return Ok(Some(downward_files(
            pod,
            source.items.iter().flatten(),
            mode,
        )));
    }
    if let Some(source) = &volume.secret {
        if source.optional == Some(true) {
            return Ok(Some(Vec::new()));
        }
        return Err(VolumeError::SecretMissing {
            volume: name.to_owned(),
            name: source.secret_name.clone().unwrap_or_default(),
        });
    }
    let Some(projected) = &volume.projected else {
        return Ok(None);
    };
    let mode = mode_of(projected.default_mode);
    let mut files = Vec::new();
    for source in projected.sources.iter().flatten() {
        files.extend(projection(ctx, pod, name, source, mode)?);
    }
    Ok(Some(files))
}

fn mode_of(mode: Option<i32>) -> u32 {
    mode.and_then(|m| u32::try_from(m).ok())
        .map_or(DEFAULT_MODE, |m| m & 0o777)
}

fn projection(
    ctx: &Ctx,
    pod: &Pod,
    volume: &str,
    source: &VolumeProjection,
    mode: u32,
) -> Result<Vec<File>, VolumeError> {
    if let Some(c) = &source.config_map {
        return config_map_files(
            ctx,
            pod,
            volume,
            &c.name,
            c.items.as_deref(),
            c.optional,
            mode,
        );
    }
    if let Some(d) = &source.downward_api {
        return Ok(downward_files(pod, d.items.iter().flatten(), mode));
    }
    if let Some(s) = &source.secret {
        if s.optional == Some(true) {
            return Ok(Vec::new());
        }
        return Err(VolumeError::SecretMissing {
            volume: volume.to_owned(),
            name: s.name.clone(),
        });
    }
    let Some(token) = &source.service_account_token else {
        return Ok(Vec::new());
    };
    let failed = |message: String| VolumeError::Token {
        volume: volume.to_owned(),
        message,
    };
    let Some(tokens) = ctx.tokens.get() else {
        return Err(failed("the cluster runs without an API server".into()));
    };
    let meta = &pod.metadata;
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    let account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .unwrap_or("default");
    let pod_ref = (
        meta.name.as_deref().unwrap_or_default(),
        meta.uid.as_deref().unwrap_or_default(),
    );
    let seconds = token
        .expiration_seconds
        .unwrap_or(3600)
        .max(MIN_TOKEN_SECONDS);
    let audiences = token.audience.iter().cloned().collect();
    let (minted, _) = tokens
        .mint_for_pod(namespace, account, audiences, seconds, pod_ref)
        .map_err(|e| failed(e.message))?;
    Ok(vec![File {
        path: token.path.clone(),
        data: minted.into_bytes(),
        mode,
        token: true,
    }])
}

fn config_map_files(
    ctx: &Ctx,
    pod: &Pod,
    volume: &str,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
    mode: u32,
) -> Result<Vec<File>, VolumeError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let found = ctx
        .store
        .get(Resource::ConfigMaps, Some(namespace), name)
        .ok()
        .and_then(|v| serde_json::from_value::<ConfigMap>(v).ok());
    let optional = optional == Some(true);
    let Some(config_map) = found else {
        if optional {
            return Ok(Vec::new());
        }
        return Err(VolumeError::ConfigMapMissing {
            volume: volume.to_owned(),
            name: name.to_owned(),
        });
    };
    let mut data: BTreeMap<String, Vec<u8>> = config_map
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    for (key, bytes) in config_map.binary_data.unwrap_or_default() {
        data.insert(key, bytes.0);
    }
    let Some(items) = items else {
        return Ok(data
            .into_iter()
            .map(|(path, data)| File {
                path,
                data,
                mode,
                token: false,
            })
            .collect());
    };
    let mut files = Vec::new();
    for item in items {
        match data.get(&item.key) {
            Some(bytes) => files.push(File {
                path: item.path.clone(),
                data: bytes.clone(),
                mode: item.mode.map_or(mode, |m| mode_of(Some(m))),
                token: false,
            }),
            None if optional => {}
            None => {
                return Err(VolumeError::KeyMissing {
                    volume: volume.to_owned(),
                    key: item.key.clone(),
                });
            }
        }
    }
    Ok(files)
}

/// Downward API files: the pod's name, namespace, uid, labels and annotations.
fn downward_files<'a>(
    pod: &Pod,
    items: impl Iterator<Item = &'a DownwardAPIVolumeFile>,
    mode: u32,
) -> Vec<File> {
    let meta = &pod.metadata;
    let pairs = |map: &Option<BTreeMap<String, String>>| -> String {
        map.iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}\n", Quoted(v)))
            .collect()
    };
    items
        .filter_map(|item| {
            let field = item.field_ref.as_ref()?.field_path.as_str();
            let value = match field {
                "metadata.name" => meta.name.clone().unwrap_or_default(),
                "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
                "metadata.uid" => meta.uid.clone().unwrap_or_default(),
                "metadata.labels" => pairs(&meta.labels),
                "metadata.annotations" => pairs(&meta.annotations),
                _ => return None,
            };
            Some(File {
                path: item.path.clone(),
                data: value.into_bytes(),
                mode: item.mode.map_or(mode, |m| mode_of(Some(m))),
                token: false,
            })
        })
        .collect()
}

fn fs_dir(dir: &Path, mode: u32) -> io::Result<()> {
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
    {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)),
        Err(e) => Err(e),
    }
}

/// The hidden directory name of one version of a volume's files, as the atomic writer names
/// it: `..2025_01_02_03_04_05.123456789`.
fn version_name() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // `2025-01-02T03:04:05Z` to `2025_01_02_03_04_05`.
    let stamp: String = crate::cluster::now()
        .as_str()
        .unwrap_or_default()
        .trim_end_matches('Z')
        .chars()
        .map(|c| if c.is_ascii_digit() { c } else { '_' })
        .collect();
    format!("..{stamp}.{:09}", now.subsec_nanos())
}

/// Writes `files` into `dir` as the kubelet's atomic writer does (see the module
/// documentation): a new version, `..data` swapped to it, links for the top-level entries,
/// the previous version and links no longer in it removed.
fn write_atomic(dir: &Path, files: &[File], owner: Owner) -> io::Result<()> {
    use std::os::unix::fs::symlink;
    fs_dir(dir, 0o755)?;
    let version = version_name();
    let target = dir.join(&version);
    fs_dir(&target, 0o755)?;
    for file in files {
        let path = target.join(&file.path);
        if let Some(parent) = path.parent() {
            fs_dir(parent, 0o755)?;
        }
        std::fs::write(&path, &file.data)?;
        let (mode, user) = match (file.token, owner) {
            (
                true,
                Owner {
                    user: Some(user),
                    group: None,
                },
            ) => (0o600, Some(user)),
            _ => (file.mode, None),
        };
        std::os::unix::fs::chown(&path, user, owner.group)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    let previous = std::fs::read_link(dir.join("..data")).ok();
    let staged = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&staged);
    symlink(&version, &staged)?;
    std::fs::rename(&staged, dir.join("..data"))?;
    let mut tops: Vec<String> = files
        .iter()
        .filter_map(|f| f.path.split('/').next().map(str::to_owned))
        .collect();
    tops.sort();
    tops.dedup();
    for top in &tops {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new("..data").join(top), &link)?;
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        let stale_link = !name.starts_with("..") && !tops.iter().any(|t| *t == name);
        if stale_link {
            std::fs::remove_file(dir.join(&*name))?;
        }
    }
    if let Some(previous) = previous.filter(|p| p.as_os_str() != version.as_str()) {
        std::fs::remove_dir_all(dir.join(previous))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, data: &str) -> File {
        File {
            path: path.to_owned(),
            data: data.as_bytes().to_vec(),
            mode: 0o640,
            token: false,
        }
    }

    #[test]
    fn volumes_are_written_as_the_atomic_writer_lays_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("v");
        let owner = Owner::default();
        write_atomic(
            &volume,
            &[file("a.yaml", "a"), file("policies/p.yaml", "p")],
            owner,
        )
        .unwrap();
        let data = std::fs::read_link(volume.join("..data")).unwrap();
        assert!(data.to_string_lossy().starts_with("..20"), "{data:?}");
        assert_eq!(
            std::fs::read_link(volume.join("a.yaml")).unwrap(),
            Path::new("..data/a.yaml")
        );
        assert_eq!(
            std::fs::read_to_string(volume.join("policies/p.yaml")).unwrap(),
            "p"
        );
        let mode = std::fs::metadata(volume.join("a.yaml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);

        // A second version replaces the first: the old files and links go.
        write_atomic(&volume, &[file("b.yaml", "b")], owner).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&volume)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("..20"))
            .collect();
        names.sort();
        assert_eq!(names, ["..data", "b.yaml"]);
        let versions = std::fs::read_dir(&volume)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("..20")
            })
            .count();
        assert_eq!(versions, 1);
    }

    #[test]
    fn modes_are_the_volumes_or_the_default() {
        assert_eq!(mode_of(None), 0o644);
        assert_eq!(mode_of(Some(0o400)), 0o400);
        assert_eq!(mode_of(Some(0o10644)), 0o644);
    }
}
