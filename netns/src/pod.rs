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
    /// A command that runs inside the pod: its network namespace, a private mount namespace with
    /// the pod's resolv.conf over `/etc/resolv.conf`, and the given identity.
    ///
    /// Between fork and exec the child enters `/run/netns/<name>`, unshares its mount
    /// namespace, makes every mount private, bind-mounts the pod's resolv.conf, detaches
    /// `/run/netns` (so that it cannot enter the router or other pods), then drops supplementary
    /// groups and switches to `run_as.gid` and `run_as.uid` when given. If any step fails, the
    /// child exits before exec and `spawn` returns the error: nothing ever runs in the machine's
    /// own namespaces.
    ///
    /// # Caveats
    /// - Only the network and mount namespaces are the pod's: the process shares the machine's
    ///   file system, PIDs and users. A `uid` without `gid` keeps group 0, as a container image
    ///   whose user has no group would.
    /// - `/etc/resolv.conf` must exist on the machine (it is the mount point).
    /// - `/sys` is the machine's; `ip`/`ss` inside still work (they use netlink), tools reading
    ///   `/sys/class/net` do not see the pod's links.
    /// - The child is not killed when the command is dropped unless `kill_on_drop` is set; the
    ///   fabric ends it by PID in `remove_pod`/`destroy` in any case.
    /// - A path that contains a NUL byte makes `spawn` fail with `InvalidInput`.
    pub fn command(&self, program: &OsStr, run_as: RunAs) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        let paths = sys::cstring(self.netns.path.as_os_str())
            .and_then(|ns| Ok((ns, sys::cstring(self.resolv_conf.as_os_str())?)));
        let setup = paths.map(|(netns, resolv_conf)| ChildSetup {
            netns,
            resolv_conf,
            run_as,
        });
        // SAFETY: `enter` only makes async-signal-safe calls (open, setns, close, unshare,
        // mount, umount2, setgroups, setgid, setuid) on memory prepared before the fork and does
        // not allocate; an error aborts the spawn.
        unsafe {
            cmd.pre_exec(move || match &setup {
                Ok(setup) => setup.enter(),
                Err(err) => Err(io::Error::from(err.kind())),
            });
        }
        cmd
    }
}

/// What a pod's child process does before exec.
struct ChildSetup {
    netns: CString,
    resolv_conf: CString,
    run_as: RunAs,
}

/// Turns a libc return code into an error carrying errno.
fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl ChildSetup {
    /// Runs in the child between fork and exec: async-signal-safe calls only, no allocation.
    fn enter(&self) -> io::Result<()> {
        sys::enter_netns(&self.netns)?;
        let none = std::ptr::null();
        // SAFETY: plain syscalls with valid NUL-terminated strings or null pointers where the
        // kernel accepts them.
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
            // The copy of /run/netns would let the pod see, and as root enter, the router and
            // the other pods. Failing here (/run/netns not a mount point of its own) only
            // leaves them visible. (The copies never keep a removed pod's namespace alive:
            // unlinking a mount point detaches it in every mount namespace.)
            let _ = libc::umount2(c"/run/netns".as_ptr(), libc::MNT_DETACH);
            let RunAs { uid, gid } = self.run_as;
            if uid.is_some() || gid.is_some() {
                check(libc::setgroups(0, std::ptr::null()))?;
            }
            if let Some(gid) = gid {
                check(libc::setgid(gid))?;
            }
            if let Some(uid) = uid {
                check(libc::setuid(uid))?;
            }
        }
        Ok(())
    }
}
