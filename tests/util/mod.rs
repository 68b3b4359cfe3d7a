//! A small harness for running the `netverdict` binary in tests: a temp dir per test, commands
//! built from it, and the output captured.

#![allow(
    dead_code,
    reason = "Each test binary uses a different part of the harness."
)]

pub mod ci_tools;
pub mod kubectl;
pub mod local;
pub mod rbac;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (the root crate's folder), where `scenarios/` and `tests/data/` live.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary folder for one test, removed when dropped.
pub struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new(test: &str) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("netverdict-{test}-"))
            .tempdir()
            .expect("create a temp dir");
        Self { tmp }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes `contents` to `path` (relative to the folder), creating parent folders.
    pub fn create(&self, path: &str, contents: &str) -> PathBuf {
        let full = self.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create parent folders");
        }
        std::fs::write(&full, contents).expect("write a test file");
        full
    }

    /// A `netverdict` command running in this folder.
    pub fn command(&self) -> TestCommand {
        TestCommand::new(self.path())
    }
}

/// A `netverdict` command.
pub struct TestCommand {
    cmd: Command,
}

/// What a command did.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl TestCommand {
    pub fn new(dir: &Path) -> Self {
        Self::of(Path::new(env!("CARGO_BIN_EXE_netverdict")), dir)
    }

    /// A command running `program` (a copy of the `netverdict` binary) in `dir`.
    pub fn of(program: &Path, dir: &Path) -> Self {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG");
        Self { cmd }
    }

    /// A command running in the repository root, so paths in messages are stable.
    pub fn in_repo() -> Self {
        Self::new(&repo())
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// The command itself, to spawn it.
    pub fn into_command(self) -> Command {
        self.cmd
    }

    pub fn run(mut self) -> Output {
        let out = self.cmd.output().expect("run netverdict");
        Output {
            code: out.status.code().expect("netverdict exited normally"),
            stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
        }
    }
}

/// A child process that is killed (and reaped) when dropped unless it has exited, so a failing
/// test does not leave it running.
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The `*.yaml` files of a folder of the repository, sorted.
pub fn yaml_files(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(folder))
        .expect("read the folder")
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Whether this test can run: it needs root (network namespaces, nftables). Says why it is
/// skipped when not.
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}

/// Asserts that `text`, which a user reads, holds no Rust `Debug` formatting (of kube-rs's
/// errors, an API Status, an `Option`).
pub fn assert_no_debug(text: &str) {
    for dump in [
        "Status {",
        "ErrorResponse",
        "Error {",
        "Api(",
        "Some(",
        "None,",
        "Os {",
    ] {
        assert!(
            !text.contains(dump),
            "{dump:?} in what a user reads:\n{text}"
        );
    }
}
