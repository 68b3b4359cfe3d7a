//! Why a pod's user may not execute a program: the first directory on the way that it cannot
//! search, the file's own mode, or a `noexec` file system. A kubelet would only report
//! "permission denied"; pods here run the machine's files, so the reason is usually a directory
//! of the machine (a checkout under `/root`, which Debian makes 0700) and worth naming.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use netverdict_engine::Quoted;
use netverdict_netns::RunAs;

/// The message of a container or exec command that could not start: `exec: "<command>": <error>`,
/// followed by the reason when the error is a permission denial the pod's identity explains.
pub(crate) fn exec_failure(
    command: &str,
    program: &Path,
    error: &std::io::Error,
    run_as: &RunAs,
) -> String {
    let message = format!("exec: {}: {error}", Quoted(command));
    if error.kind() != std::io::ErrorKind::PermissionDenied {
        return message;
    }
    match why_not_executable(program, run_as) {
        Some(why) => format!("{message}: {why}"),
        None => message,
    }
}

/// Why `program` cannot be executed by `run_as` (its uid, gid and supplementary groups, as the
/// pod's process has them), if a file mode or mount flag says so.
///
/// # Caveats
/// ACLs and security modules are not consulted: a denial only they explain gets no reason.
pub(crate) fn why_not_executable(program: &Path, run_as: &RunAs) -> Option<String> {
    let uid = run_as.uid;
    let in_group = |group: u32| run_as.gid == group || run_as.groups.contains(&group);
    let who = format!("the pod user {uid}");
    let absolute = std::path::absolute(program).ok()?;
    for dir in absolute
        .ancestors()
        .skip(1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let meta = std::fs::metadata(dir).ok()?;
        if !permits(meta.mode(), meta.uid(), uid, in_group(meta.gid())) {
            return Some(format!(
                "{who} cannot execute {}: a parent directory ({}) is not searchable for it ({})",
                absolute.display(),
                dir.display(),
                describe(&meta)
            ));
        }
    }
    let meta = std::fs::metadata(&absolute).ok()?;
    if !permits(meta.mode(), meta.uid(), uid, in_group(meta.gid())) {
        return Some(format!(
            "{who} cannot execute {}: the file is not executable for it ({})",
            absolute.display(),
            describe(&meta)
        ));
    }
    let noexec = nix::sys::statvfs::statvfs(&absolute)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_NOEXEC));
    noexec.then(|| {
        format!(
            "{who} cannot execute {}: its file system is mounted noexec",
            absolute.display()
        )
    })
}

fn describe(meta: &std::fs::Metadata) -> String {
    format!(
        "mode {:04o}, owner {}:{}",
        meta.mode() & 0o7777,
        meta.uid(),
        meta.gid()
    )
}

/// Whether the execute (for a directory: search) bit applies to `uid` on a file of `mode` owned
/// by `owner`, `in_group` saying whether the user is in the file's group: the owner's bits for
/// its owner, else the group's for its group, else the others'; root needs any one of the three.
fn permits(mode: u32, owner: u32, uid: u32, in_group: bool) -> bool {
    let bit = if uid == 0 {
        0o111
    } else if uid == owner {
        0o100
    } else if in_group {
        0o010
    } else {
        0o001
    };
    mode & bit != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_class_of_the_user_decides() {
        // (mode, owner, group, uid, gid, permitted)
        let cases = [
            (0o700, 0, 0, 65532, 65532, false),
            (0o700, 0, 0, 0, 0, true),
            (0o711, 0, 0, 65532, 65532, true),
            (0o710, 0, 65532, 65532, 65532, true),
            (0o710, 0, 0, 65532, 65532, false),
            // The owner's bits, not the others', apply to the owner.
            (0o601, 65532, 0, 65532, 65532, false),
            (0o750, 0, 0, 65532, 0, true),
            (0o644, 0, 0, 0, 0, false),
            (0o744, 0, 0, 0, 0, true),
        ];
        for (mode, owner, group, uid, gid, want) in cases {
            assert_eq!(
                permits(mode, owner, uid, gid == group),
                want,
                "{mode:o} {owner}:{group} for {uid}:{gid}"
            );
        }
    }

    #[test]
    fn names_the_first_directory_the_user_cannot_search() {
        use std::os::unix::fs::PermissionsExt;
        let top = std::env::temp_dir().join(format!("nv-access-{}", std::process::id()));
        let private = top.join("private");
        std::fs::create_dir_all(private.join("bin")).unwrap();
        std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let program = private.join("bin").join("tool");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o700)).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let stranger = RunAs::user(if me == 65532 { 65533 } else { 65532 }, 65532);
        let why = why_not_executable(&program, &stranger).expect("a reason");
        assert!(
            why.ends_with(&format!(
                "cannot execute {}: a parent directory ({}) is not searchable for it (mode 0700, owner {me}:{})",
                program.display(),
                private.display(),
                nix::unistd::getegid().as_raw()
            )),
            "{why}"
        );
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o755)).unwrap();
        let why = why_not_executable(&program, &stranger).expect("a reason");
        assert!(
            why.contains("the file is not executable for it (mode 0700"),
            "{why}"
        );
        let owner = RunAs::user(me, nix::unistd::getegid().as_raw());
        if me != 0 {
            assert_eq!(why_not_executable(&program, &owner), None);
        }
        let error = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let message = exec_failure("tool", &program, &error, &stranger);
        assert!(
            message.starts_with("exec: \"tool\": permission denied: the pod user"),
            "{message}"
        );
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(
            exec_failure("tool", &program, &missing, &stranger),
            "exec: \"tool\": entity not found"
        );
        std::fs::remove_dir_all(&top).unwrap();
    }
}
