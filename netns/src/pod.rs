//! Processes inside the fabric's namespaces.

use std::ffi::{CString, OsStr};
use std::io;
use std::path::Path;

use crate::fabric::{NetnsHandle, PodNetwork, RunAs};
use crate::root::{PodRoot, RootSpec};
use crate::sys;

impl NetnsHandle {
    /// A command that runs in this network namespace (only: mounts, resolv.conf and identity
    /// stay the caller's), e.g. a server in the external namespace.
    ///
    /// If entering the namespace fails, the child exits before exec and `spawn` returns the
    /// error.
    ///
    /// # Caveats
    /// The process holds the namespace: [`Fabric::destroy`](crate::Fabric::destroy) ends it by
    /// PID like any process of the fabric.
    pub fn command(&self, program: &OsStr) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        let netns = sys::cstring(self.path.as_os_str());
        // SAFETY: `enter_netns` only makes async-signal-safe calls (open, setns, close) on
        // memory prepared before the fork; an error aborts the spawn.
        unsafe {
            cmd.pre_exec(move || match &netns {
                Ok(netns) => sys::enter_netns(netns),
                Err(err) => Err(io::Error::from(err.kind())),
            });
        }
        cmd
    }
}

impl PodNetwork {
    /// A command that runs inside the pod, contained, in a mount namespace of its own built for
    /// it alone ([`PodNetwork::prepare_root`] without volumes; the machine writable only when
    /// `run_as.privileged`), in the pod's `/`. A pod's processes should rather share one
    /// [`PodRoot`] and come from [`PodRoot::command`].
    ///
    /// If preparing the file system fails, `spawn` fails with that error's kind.
    pub fn command(&self, program: &OsStr, run_as: RunAs) -> tokio::process::Command {
        let spec = RootSpec {
            volumes: Vec::new(),
            writable_machine: run_as.privileged,
        };
        match self.prepare_root(&spec) {
            Ok(root) => root.command(program, run_as, std::path::Path::new("/")),
            Err(err) => {
                tracing::warn!(pod = %self.netns.name, error = %err, "prepare a pod's file system");
                // What spawn reports is an errno: keep the closest one.
                let errno = match &err {
                    crate::NetError::Io { source, .. } => match source.kind() {
                        io::ErrorKind::NotFound => libc::ENOENT,
                        io::ErrorKind::PermissionDenied => libc::EACCES,
                        _ => source.raw_os_error().unwrap_or(libc::EINVAL),
                    },
                    _ => libc::EINVAL,
                };
                let mut cmd = tokio::process::Command::new(program);
                // SAFETY: the closure makes no call at all.
                unsafe {
                    cmd.pre_exec(move || Err(io::Error::from_raw_os_error(errno)));
                }
                cmd
            }
        }
    }
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit capability sets in two 32-bit words.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// What a pod's child process does before exec, prepared before the fork.
pub(crate) struct ChildSetup {
    /// Holds the pod's namespaces open until the command is dropped.
    root: PodRoot,
    working_dir: CString,
    groups: Vec<libc::gid_t>,
    run_as: RunAs,
    /// The capabilities this kernel knows (bit n = capability n).
    known_capabilities: u64,
}

/// The capabilities of this kernel, from `/proc/sys/kernel/cap_last_cap`.
fn known_capabilities() -> u64 {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
        .min(63);
    u64::MAX >> (63 - last)
}

/// Turns a libc return code into an error carrying errno.
fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes every mount of the calling thread's mount namespace read-only and without setuid,
/// and the pod's `scratch` mount points writable again (without setuid or devices).
pub(crate) fn read_only_machine(scratch: &[&Path]) -> io::Result<()> {
    let set = |path: &Path, flags: libc::c_uint, attr: &MountAttr| -> io::Result<()> {
        let path = sys::cstring(path.as_os_str())?;
        // SAFETY: a valid path and a live mount_attr of the size passed.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                path.as_ptr(),
                flags,
                std::ptr::from_ref(attr),
                std::mem::size_of::<MountAttr>(),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    let read_only = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    set(Path::new("/"), AT_RECURSIVE, &read_only)?;
    let writable = MountAttr {
        attr_set: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: MOUNT_ATTR_RDONLY,
        propagation: 0,
        userns_fd: 0,
    };
    for target in scratch {
        set(target, 0, &writable)?;
    }
    Ok(())
}

impl ChildSetup {
    pub(crate) fn new(root: PodRoot, working_dir: &Path, run_as: RunAs) -> io::Result<ChildSetup> {
        Ok(ChildSetup {
            root,
            working_dir: sys::cstring(working_dir.as_os_str())?,
            groups: run_as.groups.clone(),
            run_as,
            known_capabilities: known_capabilities(),
        })
    }

    /// Runs in the child between fork and exec: async-signal-safe calls only, no allocation.
    pub(crate) fn enter(&self) -> io::Result<()> {
        sys::enter_netns(self.root.netns_path())?;
        // SAFETY: plain system calls on a live descriptor and a valid NUL-terminated path.
        unsafe {
            check(libc::setns(self.root.mount_ns_fd(), libc::CLONE_NEWNS))?;
            // The pod's root as this process's root: what the namespace gives as its root is
            // the machine's where netverdict runs in a chroot.
            check(libc::fchdir(self.root.root_dir_fd()))?;
            check(libc::chroot(c".".as_ptr()))?;
            check(libc::chdir(self.working_dir.as_ptr()))?;
            if !self.run_as.privileged {
                check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
            }
            self.switch_identity()?;
        }
        Ok(())
    }

    /// Groups, capabilities, then the user.
    ///
    /// # Safety
    /// Between fork and exec only.
    unsafe fn switch_identity(&self) -> io::Result<()> {
        let RunAs {
            uid,
            gid,
            capabilities,
            privileged,
            ..
        } = self.run_as;
        if privileged {
            // SAFETY: plain system calls on a live array of `groups.len()` ids.
            unsafe {
                check(libc::setgroups(self.groups.len(), self.groups.as_ptr()))?;
                check(libc::setresgid(gid, gid, gid))?;
                check(libc::setresuid(uid, uid, uid))?;
            }
            return Ok(());
        }
        let kept = if uid == 0 {
            capabilities & self.known_capabilities
        } else {
            0
        };
        // SAFETY: as above; prctl and capset with arguments of the documented types.
        unsafe {
            check(libc::setgroups(self.groups.len(), self.groups.as_ptr()))?;
            // The bounding set limits what any later exec can gain.
            for cap in 0..64u32 {
                let bit = 1u64 << cap;
                if self.known_capabilities & bit == 0 {
                    break;
                }
                if kept & bit == 0 {
                    check(libc::prctl(
                        libc::PR_CAPBSET_DROP,
                        libc::c_ulong::from(cap),
                        0,
                        0,
                        0,
                    ))?;
                }
            }
            check(libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            ))?;
            check(libc::setresgid(gid, gid, gid))?;
            check(libc::setresuid(uid, uid, uid))?;
            // A user other than root lost every permitted capability with setresuid; this
            // also empties the inheritable set, and leaves root exactly `kept`.
            let header = CapHeader {
                version: CAPABILITY_VERSION_3,
                pid: 0,
            };
            let word = |shift: u32| {
                let bits = u32::try_from((kept >> shift) & 0xffff_ffff).unwrap_or(0);
                CapData {
                    effective: bits,
                    permitted: bits,
                    inheritable: 0,
                }
            };
            let data = [word(0), word(32)];
            if libc::syscall(libc::SYS_capset, std::ptr::from_ref(&header), data.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}
