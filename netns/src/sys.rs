//! Thin wrappers over the kernel: named namespaces, tools run inside a namespace, processes
//! found by namespace.

use std::ffi::{CString, OsStr};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::error::{IoContext, NetError};
use crate::netlink::Netlink;

/// Runs `f` on a new thread that has entered the network namespace at `path`.
pub(crate) fn in_netns<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let path = path.to_path_buf();
    let thread = std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || {
            let ns = File::open(&path)?;
            nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            f()
        })?;
    match thread.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Makes `/run/netns` a shared mount point, as `ip netns add` does: then the namespace mounts
/// under it propagate to mount namespaces created later, and a pod process can detach the whole
/// directory from its private mount namespace (so it does not keep other pods' namespaces
/// alive). Nothing changes when it already is one.
pub(crate) fn prepare_netns_dir() -> Result<(), NetError> {
    let dir = Path::new(crate::names::NETNS_DIR);
    let what = || format!("make {} a shared mount point", dir.display());
    fs::create_dir_all(dir).context(what)?;
    let share = || {
        nix::mount::mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match share() {
        Ok(()) => return Ok(()),
        // EINVAL: not a mount point yet.
        Err(nix::errno::Errno::EINVAL) => {}
        Err(err) => return Err(NetError::io(what(), err.into())),
    }
    nix::mount::mount(
        Some(dir),
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .and_then(|()| share())
    .map_err(|err| NetError::io(what(), err.into()))
}

/// Creates the named network namespace `/run/netns/<name>` (as `ip netns add` does), writes
/// the given sysctls (paths relative to `/proc/sys/net/`) inside it, and returns a netlink
/// socket of the namespace.
///
/// Fails with `AlreadyExists` when the name is taken, without touching the existing one.
pub(crate) fn create_netns(path: &Path, sysctls: &[(&str, &str)]) -> Result<Netlink, NetError> {
    let sysctls: Vec<(String, String)> = sysctls
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let target = path.to_path_buf();
    let what = || format!("create network namespace {}", path.display());
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).context(what)?;
    }
    // The mount point; O_EXCL makes the name ours or fails.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(path)
        .context(what)?;
    // Namespace membership is per thread: a fresh thread unshares and is then discarded.
    let created = std::thread::Builder::new()
        .name("netns-create".into())
        .spawn(move || -> io::Result<Netlink> {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            nix::mount::mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(io::Error::from)?;
            for (key, value) in &sysctls {
                write_sysctl(key, value)?;
            }
            Netlink::open()
        })
        .context(what)?
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")));
    created.map_err(|err| {
        let _ = delete_netns(path);
        NetError::io(what(), err)
    })
}

/// Writes `/proc/sys/net/<key>` of the calling thread's network namespace; a missing key (e.g.
/// IPv6 disabled on the machine) is skipped when it is an IPv6 one.
fn write_sysctl(key: &str, value: &str) -> io::Result<()> {
    let path = PathBuf::from("/proc/sys/net").join(key);
    match fs::write(&path, value) {
        Err(err) if err.kind() == io::ErrorKind::NotFound && key.starts_with("ipv6/") => Ok(()),
        Err(err) => Err(io::Error::new(err.kind(), format!("sysctl {key}: {err}"))),
        Ok(()) => Ok(()),
    }
}

/// Removes a named namespace (as `ip netns del` does): the namespace itself goes away once no
/// process, socket or mount holds it any more. A missing one is not an error.
pub(crate) fn delete_netns(path: &Path) -> Result<(), NetError> {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        // EINVAL: not mounted (a half-created leftover); ENOENT: already gone.
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(err) => {
            return Err(NetError::io(
                format!("unmount {}", path.display()),
                err.into(),
            ));
        }
    }
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => {
            Err(NetError::io(format!("remove {}", path.display()), err))
        }
        _ => Ok(()),
    }
}

/// Finds a tool in the usual system directories (`PATH` may lack the sbin ones).
pub(crate) fn tool(name: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Runs `program args` inside the network namespace at `netns` with `stdin` as input and fails
/// with its stderr when it exits non-zero.
pub(crate) fn run_in_netns(
    netns: &Path,
    program: &str,
    args: &[&str],
    stdin: &str,
) -> Result<String, NetError> {
    let describe = || format!("{program} {} (in {})", args.join(" "), netns.display());
    let ns_path = cstring(netns.as_os_str()).context(describe)?;
    let mut cmd = Command::new(tool(program));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure only makes async-signal-safe calls (open, setns, close) on memory
    // prepared before the fork, and fails the spawn when entering the namespace fails, so the
    // tool never runs in the wrong namespace.
    unsafe {
        cmd.pre_exec(move || enter_netns(&ns_path));
    }
    let mut child = cmd.spawn().context(describe)?;
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_owned();
    // Write from another thread so a tool that fills its output pipes cannot block us.
    let writer = std::thread::spawn(move || input.write_all(stdin.as_bytes()));
    let output = child.wait_with_output().context(describe)?;
    let written = writer
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("writer panicked")));
    if !output.status.success() {
        return Err(NetError::Command {
            command: describe(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    written.context(describe)?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

pub(crate) fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Enters the network namespace at `path`. Async-signal-safe: for use between fork and exec.
pub(crate) fn enter_netns(path: &CString) -> io::Result<()> {
    // SAFETY: plain syscalls on a valid NUL-terminated path and on the descriptor they return.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let rc = libc::setns(fd, libc::CLONE_NEWNET);
        let err = io::Error::last_os_error();
        libc::close(fd);
        if rc != 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// Size of a pod's scratch tmpfs (its `/tmp`, `/var/tmp` and `/dev/shm` together).
pub(crate) const SCRATCH_SIZE: &str = "256m";

/// The directories of a pod's scratch tmpfs and where pod processes see them.
pub(crate) const SCRATCH_MOUNTS: [(&str, &str); 3] = [
    ("tmp", "/tmp"),
    ("var-tmp", "/var/tmp"),
    ("shm", "/dev/shm"),
];

/// Mounts a pod's scratch tmpfs at `dir` (created, mode 0700) with one world-writable, sticky
/// directory per entry of [`SCRATCH_MOUNTS`], as `/tmp` is.
pub(crate) fn mount_scratch(dir: &Path) -> Result<(), NetError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let what = || format!("mount the scratch tmpfs at {}", dir.display());
    fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .context(what)?;
    let options = format!("size={SCRATCH_SIZE},mode=0700");
    nix::mount::mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .map_err(io::Error::from)
    .context(what)?;
    for (sub, _) in SCRATCH_MOUNTS {
        let path = dir.join(sub);
        fs::create_dir(&path)
            .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(0o1777)))
            .context(|| format!("create {}", path.display()))?;
    }
    Ok(())
}

/// Makes `dir` a mount point of its own (a bind mount onto itself), private: mounts under it
/// (the pods' scratch) then go with one detach of `dir`, and propagate nowhere.
pub(crate) fn private_mount_point(dir: &Path) -> Result<(), NetError> {
    let what = || format!("make {} a private mount point", dir.display());
    nix::mount::mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .and_then(|()| {
            nix::mount::mount(
                None::<&str>,
                dir,
                None::<&str>,
                MsFlags::MS_PRIVATE,
                None::<&str>,
            )
        })
        .map_err(io::Error::from)
        .context(what)
}

/// Detaches every mount at or under `dir` in this mount namespace, deepest first.
pub(crate) fn unmount_all_under(dir: &Path) -> Result<(), NetError> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .context(|| "read /proc/self/mountinfo".to_owned())?;
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mount_point)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    for point in points {
        match nix::mount::umount2(&point, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
            Err(e) => {
                return Err(NetError::io(
                    format!("unmount {}", point.display()),
                    io::Error::from(e),
                ));
            }
        }
    }
    Ok(())
}

/// A mount point of `/proc/self/mountinfo`, whose spaces, tabs, newlines and backslashes are
/// written as octal escapes.
fn unescape_mount_point(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Identity of a network namespace: device and inode of its nsfs file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NsId {
    dev: u64,
    ino: u64,
}

pub(crate) fn ns_id(path: &Path) -> io::Result<NsId> {
    let meta = fs::metadata(path)?;
    Ok(NsId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// PIDs of the processes whose network namespace is one of `targets` (our own excluded).
///
/// Only the thread-group leader's namespace is read; zombies have none and are skipped.
pub(crate) fn pids_in(targets: &[NsId]) -> Vec<i32> {
    let own = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != own)
        .filter(|&pid| {
            ns_id(Path::new(&format!("/proc/{pid}/ns/net"))).is_ok_and(|id| targets.contains(&id))
        })
        .collect()
}

/// Sends SIGKILL to every process in the namespaces `targets`, repeating until none is left
/// (a process may fork meanwhile), and waits until they have left them. Returns the PIDs.
///
/// A pidfd is taken before checking the namespace once more, so a PID reused meanwhile by an
/// unrelated process is never signalled.
pub(crate) fn kill_all_in(targets: &[NsId]) -> Result<Vec<i32>, NetError> {
    let mut killed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = pids_in(targets);
        if pids.is_empty() {
            return Ok(killed);
        }
        if Instant::now() > deadline {
            return Err(NetError::io(
                format!(
                    "end processes {}",
                    pids.iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                io::Error::new(io::ErrorKind::TimedOut, "still running after SIGKILL"),
            ));
        }
        for pid in pids {
            if kill_if_in(pid, targets) && !killed.contains(&pid) {
                tracing::debug!(pid, "ended a process of the fabric");
                killed.push(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill_if_in(pid: i32, targets: &[NsId]) -> bool {
    // SAFETY: pidfd_open takes a PID and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return false;
    }
    // SAFETY: the descriptor was just returned by the kernel and is owned here only.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let still_ours =
        ns_id(Path::new(&format!("/proc/{pid}/ns/net"))).is_ok_and(|id| targets.contains(&id));
    if !still_ours {
        return false;
    }
    // SAFETY: pidfd_send_signal on a live pidfd, no siginfo, no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    rc == 0
}

/// Whether the calling process has an effective UID of 0.
pub(crate) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
