//! Processes inside the fabric's namespaces.

use std::ffi::{CString, OsStr};
use std::io;

use crate::fabric::{NetnsHandle, PodNetwork, RunAs};
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
    /// A command that runs inside the pod, contained: its network namespace, a mount namespace
    /// of its own, and the given identity.
    ///
    /// Between fork and exec the child
    /// 1. enters `/run/netns/<name>` and unshares its mount namespace (every mount private);
    /// 2. bind-mounts the pod's resolv.conf over `/etc/resolv.conf` and the pod's scratch
    ///    tmpfs over `/tmp`, `/var/tmp` and `/dev/shm` (shared by the pod's processes, private
    ///    to the pod), then detaches `/run/netns` (so that it cannot enter the router or other
    ///    pods) and the fabric's directory of the pods' files (every pod's scratch);
    /// 3. unless `run_as.privileged`: makes every mount of the machine read-only (recursively,
    ///    with `mount_setattr`; the scratch mounts stay writable, without setuid or devices)
    ///    and sets `no_new_privs` (setuid binaries of the machine grant nothing);
    /// 4. sets the supplementary groups, empties the capability bounding set but for
    ///    `run_as.capabilities`, switches to `run_as.gid` and `run_as.uid`, and leaves the
    ///    process exactly `run_as.capabilities` (none at all for a user other than root).
    ///
    /// If any step fails, the child exits before exec and `spawn` returns the error: nothing
    /// ever runs in the machine's own namespaces or with more than it was given.
    ///
    /// # Caveats
    /// - The process shares the machine's file system (read-only), PIDs and users: it sees
    ///   the machine's processes and can read what its user may read.
    /// - `/etc/resolv.conf` must exist on the machine (it is the mount point); a missing
    ///   `/var/tmp` or `/dev/shm` is skipped.
    /// - `/sys` is the machine's; `ip`/`ss` inside still work (they use netlink), tools reading
    ///   `/sys/class/net` do not see the pod's links.
    /// - The child is not killed when the command is dropped unless `kill_on_drop` is set; the
    ///   fabric ends it by PID in `remove_pod`/`destroy` in any case.
    /// - A path that contains a NUL byte makes `spawn` fail with `InvalidInput`.
    pub fn command(&self, program: &OsStr, run_as: RunAs) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        let setup = ChildSetup::new(self, run_as);
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
struct ChildSetup {
    netns: CString,
    resolv_conf: CString,
    /// The fabric's directory of all pods' files, a mount point of its own.
    pods_dir: CString,
    /// (source in the scratch tmpfs, mount point).
    scratch_mounts: Vec<(CString, CString)>,
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

fn errno() -> libc::c_int {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

impl ChildSetup {
    fn new(network: &PodNetwork, run_as: RunAs) -> io::Result<ChildSetup> {
        let scratch_mounts = crate::sys::SCRATCH_MOUNTS
            .iter()
            .map(|(sub, target)| {
                Ok((
                    sys::cstring(network.scratch.join(sub).as_os_str())?,
                    sys::cstring(OsStr::new(target))?,
                ))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(ChildSetup {
            netns: sys::cstring(network.netns.path.as_os_str())?,
            resolv_conf: sys::cstring(network.resolv_conf.as_os_str())?,
            pods_dir: sys::cstring(
                network
                    .scratch
                    .parent()
                    .and_then(std::path::Path::parent)
                    .unwrap_or(std::path::Path::new("/nonexistent"))
                    .as_os_str(),
            )?,
            scratch_mounts,
            groups: run_as.groups.clone(),
            run_as,
            known_capabilities: known_capabilities(),
        })
    }

    /// Runs in the child between fork and exec: async-signal-safe calls only, no allocation.
    fn enter(&self) -> io::Result<()> {
        sys::enter_netns(&self.netns)?;
        let none = std::ptr::null();
        // SAFETY: plain system calls with valid NUL-terminated strings, pointers to live
        // values of the layout the kernel expects, or null pointers where the kernel accepts
        // them.
        unsafe {
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                none,
                c"/".as_ptr(),
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                none.cast(),
            ))?;
            check(libc::mount(
                self.resolv_conf.as_ptr(),
                c"/etc/resolv.conf".as_ptr(),
                none,
                libc::MS_BIND,
                none.cast(),
            ))?;
            let mut bound = [false; crate::sys::SCRATCH_MOUNTS.len()];
            for (i, (source, target)) in self.scratch_mounts.iter().enumerate() {
                let rc = libc::mount(
                    source.as_ptr(),
                    target.as_ptr(),
                    none,
                    libc::MS_BIND,
                    none.cast(),
                );
                match (rc, errno()) {
                    (0, _) => bound[i] = true,
                    // The machine has no such directory: nothing to cover.
                    (_, libc::ENOENT) => {}
                    _ => return Err(io::Error::last_os_error()),
                }
            }
            // The copy of /run/netns would let the pod see, and as root enter, the router and
            // the other pods. Failing here (/run/netns not a mount point of its own) only
            // leaves them visible. (The copies never keep a removed pod's namespace alive:
            // unlinking a mount point detaches it in every mount namespace.)
            let _ = libc::umount2(c"/run/netns".as_ptr(), libc::MNT_DETACH);
            // Every pod's scratch (its own too) under the fabric's root-only directory: the
            // pod reaches its own through the mounts above only.
            let _ = libc::umount2(self.pods_dir.as_ptr(), libc::MNT_DETACH);
            if !self.run_as.privileged {
                self.read_only_machine(&bound)?;
                check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
            }
            self.switch_identity()?;
        }
        Ok(())
    }

    /// Every mount read-only and without setuid, the scratch mounts writable again.
    ///
    /// # Safety
    /// Between fork and exec only.
    unsafe fn read_only_machine(&self, bound: &[bool]) -> io::Result<()> {
        let set = |path: &std::ffi::CStr, flags: libc::c_uint, attr: &MountAttr| {
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
        set(c"/", AT_RECURSIVE, &read_only)?;
        let scratch = MountAttr {
            attr_set: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            attr_clr: MOUNT_ATTR_RDONLY,
            propagation: 0,
            userns_fd: 0,
        };
        for ((_, target), bound) in self.scratch_mounts.iter().zip(bound) {
            if *bound {
                set(target, 0, &scratch)?;
            }
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
