//! The file system a pod's processes see: a mount namespace built once per pod, which every
//! process of the pod (its container, `kubectl exec`, readiness probes) enters.
//!
//! Its root is a small tmpfs holding the machine's top-level entries (directories bind-mounted
//! recursively, symbolic links copied), so a volume can be mounted where the machine has no
//! directory (`/scenarios`, `/var/run/secrets/kubernetes.io/serviceaccount`) without creating
//! anything on the machine: a mount point missing inside one of the machine's directories is made
//! in a copy of that directory level (a tmpfs holding bind mounts of its entries), never in the
//! machine's own.

use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::error::{IoContext, NetError};
use crate::fabric::PodNetwork;
use crate::sys;

/// A volume as a pod sees it: a file or directory prepared on the machine, mounted at `target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeMount {
    /// On the machine, usually under [`PodNetwork::files_dir`].
    pub source: PathBuf,
    /// An absolute path inside the pod.
    pub target: PathBuf,
    pub read_only: bool,
}

/// What a pod's mount namespace is built from.
#[derive(Clone, Debug, Default)]
pub struct RootSpec {
    pub volumes: Vec<VolumeMount>,
    /// The machine's mounts stay writable (privileged pods); otherwise all of them are
    /// read-only and without setuid, but for the pod's scratch (`/tmp`, `/var/tmp`, `/dev/shm`).
    pub writable_machine: bool,
}

/// A pod's mount namespace (see the module documentation), held open while this lives; its
/// processes come from [`PodRoot::command`].
#[derive(Clone)]
pub struct PodRoot {
    mount_ns: Arc<OwnedFd>,
    /// The pod's root directory, which its processes make their root after entering the mount
    /// namespace: entering one gives its first root, which is the pod's only where the machine's
    /// netverdict itself runs outside a chroot (`pivot_root` moves a chroot's mount, not the
    /// namespace's first one).
    root_dir: Arc<OwnedFd>,
    netns: Arc<CString>,
}

impl std::fmt::Debug for PodRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodRoot")
            .field("mount_ns", &self.mount_ns.as_raw_fd())
            .finish_non_exhaustive()
    }
}

/// Where the machine's root is while the pod's is put together.
const HOST: &str = "/.nv-host";
/// Size of each tmpfs holding mount points (the root, and copies of directory levels).
const LEVEL_SIZE: &str = "1m";
/// Symbolic links followed while looking for a mount point, at most (as the kernel's limit).
const MAX_LINKS: usize = 40;

impl PodNetwork {
    /// The directory of the pod's own files on the machine (root only): its resolv.conf, its
    /// scratch, and whatever the caller prepares for its volumes.
    pub fn files_dir(&self) -> &Path {
        self.resolv_conf.parent().unwrap_or(Path::new("/"))
    }

    /// Builds the pod's mount namespace: the machine's file system as the root, the pod's
    /// resolv.conf and scratch, `/run/netns` and the pods' files out of reach, the volumes at
    /// their targets (parents first), and, unless `spec.writable_machine`, everything read-only
    /// but the scratch.
    ///
    /// # Errors
    /// A volume target that is not absolute or holds `..`, a source that does not exist, a
    /// mount the kernel refuses.
    pub fn prepare_root(&self, spec: &RootSpec) -> Result<PodRoot, NetError> {
        for volume in &spec.volumes {
            let relative = volume
                .target
                .components()
                .any(|c| c == Component::ParentDir);
            if !volume.target.is_absolute() || relative {
                return Err(NetError::invalid(
                    "volume mount path",
                    format!("{} must be absolute, without ..", volume.target.display()),
                ));
            }
        }
        let what = || format!("prepare the file system of pod {}", self.netns.name);
        let root = self.files_dir().join("root");
        match fs::DirBuilder::new().mode(0o700).create(&root) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(NetError::io(what(), e));
            }
            _ => {}
        }
        let plan = Plan {
            root,
            resolv_conf: self.resolv_conf.clone(),
            scratch: self.scratch.clone(),
            pods_dir: self
                .files_dir()
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            volumes: sorted(&spec.volumes),
            writable_machine: spec.writable_machine,
        };
        let built = std::thread::Builder::new()
            .name("pod-root".into())
            .spawn(move || plan.build())
            .context(what)?
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the pod-root thread panicked")));
        let (mount_ns, root_dir) = built.map_err(|e| NetError::io(what(), e))?;
        Ok(PodRoot {
            mount_ns: Arc::new(mount_ns),
            root_dir: Arc::new(root_dir),
            netns: Arc::new(sys::cstring(self.netns.path.as_os_str()).context(what)?),
        })
    }
}

impl PodRoot {
    /// A command that runs inside the pod, contained: its network and mount namespaces, the
    /// working directory `working_dir` (inside the pod), and the given identity.
    ///
    /// Between fork and exec the child enters the pod's network namespace, then its mount
    /// namespace (which makes the pod's root its root), changes to `working_dir`, sets
    /// `no_new_privs` unless `run_as.privileged`, and switches identity as
    /// `crate::pod` describes. If any step fails, the child exits before exec and `spawn`
    /// returns the error: nothing ever runs in the machine's own namespaces.
    ///
    /// # Caveats
    /// - Do not set `current_dir` on the command: it would be resolved on the machine, before
    ///   the child enters the pod.
    /// - The process shares the machine's PIDs and users: it sees the machine's processes and
    ///   can read what its user may read.
    /// - A path that contains a NUL byte makes `spawn` fail with `InvalidInput`.
    pub fn command(
        &self,
        program: &OsStr,
        run_as: crate::RunAs,
        working_dir: &Path,
    ) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        let setup = crate::pod::ChildSetup::new(self.clone(), working_dir, run_as);
        // SAFETY: `enter` only makes async-signal-safe system calls on memory prepared before
        // the fork and does not allocate; an error aborts the spawn.
        unsafe {
            cmd.pre_exec(move || match &setup {
                Ok(setup) => setup.enter(),
                Err(err) => Err(io::Error::from(err.kind())),
            });
        }
        cmd
    }

    pub(crate) fn netns_path(&self) -> &CString {
        &self.netns
    }

    pub(crate) fn mount_ns_fd(&self) -> i32 {
        self.mount_ns.as_raw_fd()
    }

    pub(crate) fn root_dir_fd(&self) -> i32 {
        self.root_dir.as_raw_fd()
    }
}

/// Volumes, parents before what is mounted inside them.
fn sorted(volumes: &[VolumeMount]) -> Vec<VolumeMount> {
    let mut volumes = volumes.to_vec();
    volumes.sort_by_key(|v| v.target.components().count());
    volumes
}

/// Everything the pod-root thread needs, owned.
struct Plan {
    /// The (empty) directory the new root's tmpfs is mounted on.
    root: PathBuf,
    resolv_conf: PathBuf,
    scratch: PathBuf,
    pods_dir: PathBuf,
    volumes: Vec<VolumeMount>,
    writable_machine: bool,
}

fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> io::Result<()> {
    nix::mount::mount(source, target, fstype, flags, data).map_err(|e| {
        let what = match source {
            Some(source) => format!("mount {} on {}", source.display(), target.display()),
            None => format!("mount on {}", target.display()),
        };
        io::Error::new(io::Error::from(e).kind(), format!("{what}: {e}"))
    })
}

fn bind(source: &Path, target: &Path, recursive: bool) -> io::Result<()> {
    let flags = if recursive {
        MsFlags::MS_BIND | MsFlags::MS_REC
    } else {
        MsFlags::MS_BIND
    };
    mount(Some(source), target, None, flags, None)
}

/// Detaches what is mounted at `path`; nothing mounted there (or no such path) is fine.
fn detach(path: &Path) -> io::Result<()> {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(io::Error::new(
            io::Error::from(e).kind(),
            format!("unmount {}: {e}", path.display()),
        )),
    }
}

/// `HOST` + a path of the machine.
fn on_host(path: &Path) -> PathBuf {
    Path::new(HOST).join(path.strip_prefix("/").unwrap_or(path))
}

impl Plan {
    /// Runs on a thread of its own: unshares the mount namespace (the thread's only) and builds
    /// the pod's root in it; returns the namespace and the pod's root directory.
    fn build(self) -> io::Result<(OwnedFd, OwnedFd)> {
        nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
        mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None,
        )?;
        let level = format!("size={LEVEL_SIZE},mode=0755");
        mount(
            Some(Path::new("tmpfs")),
            &self.root,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(&level),
        )?;
        let mut owned = vec![fs::metadata(&self.root)?.dev()];
        for entry in fs::read_dir("/")? {
            let entry = entry?;
            let kind = entry.file_type()?;
            mirror_entry(&entry.path(), &self.root.join(entry.file_name()), kind)?;
        }
        let host = self.root.join(&HOST[1..]);
        fs::create_dir(&host)?;
        nix::unistd::pivot_root(&self.root, &host).map_err(io::Error::from)?;
        std::env::set_current_dir("/")?;
        // The router's and the other pods' namespaces, and every pod's files: out of reach.
        detach(Path::new(crate::names::NETNS_DIR))?;
        detach(&self.pods_dir)?;
        bind(
            &on_host(&self.resolv_conf),
            Path::new("/etc/resolv.conf"),
            false,
        )?;
        let mut scratch = Vec::new();
        for (sub, target) in sys::SCRATCH_MOUNTS {
            let target = Path::new(target);
            if !target.exists() {
                continue;
            }
            bind(&on_host(&self.scratch.join(sub)), target, false)?;
            owned.push(fs::metadata(target)?.dev());
            scratch.push(target);
        }
        for volume in &self.volumes {
            let source = on_host(&volume.source);
            let point = mount_point(&volume.target, source.is_dir(), &mut owned)?;
            bind(&source, &point, false)?;
            if volume.read_only {
                let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
                mount(None, &point, None, flags, None)?;
            }
        }
        detach(Path::new(HOST))?;
        fs::remove_dir(HOST)?;
        if !self.writable_machine {
            crate::pod::read_only_machine(&scratch)?;
        }
        let root_dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open("/")?;
        Ok((
            File::open("/proc/thread-self/ns/mnt")?.into(),
            root_dir.into(),
        ))
    }
}

/// Makes `target` appear as `source` shows itself: a symbolic link is copied, a directory
/// bind-mounted with everything mounted under it, anything else bind-mounted alone.
fn mirror_entry(source: &Path, target: &Path, kind: fs::FileType) -> io::Result<()> {
    if kind.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(source)?, target)
    } else if kind.is_dir() {
        fs::DirBuilder::new().mode(0o755).create(target)?;
        bind(source, target, true)
    } else {
        File::create(target)?;
        bind(source, target, false)
    }
}

/// The path, inside the pod's root, of the mount point for `target` (a directory when `dir`),
/// made where it is missing. Symbolic links on the way are followed inside the pod's root; a
/// missing entry is made in a directory of the pod's own (`owned`: the devices of its tmpfs
/// levels and scratch), after copying the machine's directory level it would go in (see
/// [`copy_level`]).
fn mount_point(target: &Path, dir: bool, owned: &mut Vec<u64>) -> io::Result<PathBuf> {
    let mut current = PathBuf::from("/");
    let mut rest: VecDeque<OsString> = normal_parts(target);
    let mut links = 0;
    while let Some(name) = rest.pop_front() {
        let next = current.join(&name);
        let last = rest.is_empty();
        match fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other(format!(
                        "too many symbolic links on the way to {}",
                        target.display()
                    )));
                }
                let link = fs::read_link(&next)?;
                if link.is_absolute() {
                    current = PathBuf::from("/");
                }
                let mut resolved = VecDeque::new();
                for part in link.components() {
                    match part {
                        Component::ParentDir => {
                            // `..` of the link: up from where the link is.
                            if resolved.pop_back().is_none() {
                                current.pop();
                            }
                        }
                        Component::Normal(part) => resolved.push_back(part.to_owned()),
                        Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                    }
                }
                resolved.extend(rest);
                rest = resolved;
            }
            Ok(meta) if meta.is_dir() => current = next,
            Ok(_) if last && !dir => current = next,
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{} is not a directory",
                    next.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !owned.contains(&fs::metadata(&current)?.dev()) {
                    owned.push(copy_level(&current)?);
                }
                if last && !dir {
                    File::create(&next)?;
                } else {
                    fs::DirBuilder::new().mode(0o755).create(&next)?;
                }
                current = next;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(current)
}

fn normal_parts(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_owned()),
            _ => None,
        })
        .collect()
}

/// Covers the machine's directory `dir` with a tmpfs of the pod's own holding the same entries
/// (each bind-mounted from the covered directory, links copied), so that a mount point can be
/// made in it; returns the tmpfs's device.
fn copy_level(dir: &Path) -> io::Result<u64> {
    let covered = File::open(dir)?;
    let meta = covered.metadata()?;
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        entries.push((entry.file_name(), entry.file_type()?));
    }
    let options = format!(
        "size={LEVEL_SIZE},mode={:o},uid={},gid={}",
        meta.mode() & 0o7777,
        meta.uid(),
        meta.gid()
    );
    mount(
        Some(Path::new("tmpfs")),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(&options),
    )?;
    let hidden = PathBuf::from(format!("/proc/thread-self/fd/{}", covered.as_raw_fd()));
    for (name, kind) in entries {
        match mirror_entry(&hidden.join(&name), &dir.join(&name), kind) {
            // Gone since it was listed.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(fs::metadata(dir)?.dev())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_mounted_parents_first() {
        let volume = |target: &str| VolumeMount {
            source: PathBuf::from("/s"),
            target: PathBuf::from(target),
            read_only: true,
        };
        let order: Vec<PathBuf> = sorted(&[volume("/a/b/c"), volume("/a"), volume("/x/y")])
            .into_iter()
            .map(|v| v.target)
            .collect();
        assert_eq!(
            order,
            [Path::new("/a"), Path::new("/x/y"), Path::new("/a/b/c")]
        );
    }

    #[test]
    fn machine_paths_are_reached_under_the_old_root() {
        assert_eq!(
            on_host(Path::new("/run/netverdict/a/netns/pods/p/resolv.conf")),
            Path::new("/.nv-host/run/netverdict/a/netns/pods/p/resolv.conf")
        );
    }
}
