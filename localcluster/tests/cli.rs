//! `up`, `status` and `down` with a background instance (this crate's binary as the program),
//! including cleanup after the instance was killed with SIGKILL.

mod common;

use common::*;
use netverdict_localcluster::{DownOptions, down, status, up};

fn kubectl_ok(kubeconfig: &std::path::Path, args: &[&str]) -> String {
    let out = kubectl::command()
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn up_status_down_and_cleanup_after_sigkill() {
    if !running_as_root() {
        return;
    }
    let name = unique_name("up");
    let prefix = format!("nvl-{name}_");
    let kubeconfig = std::env::temp_dir().join(format!("{name}.kubeconfig"));
    let report = up(up_options(&name, Some(kubeconfig.clone()))).expect("up");
    let _down = DownOnDrop(name.clone());
    let out = kubectl_ok(&kubeconfig, &["get", "nodes"]);
    assert!(out.contains(&format!("{name}-control-plane")), "{out}");
    let out = kubectl_ok(&kubeconfig, &["config", "current-context"]);
    assert_eq!(out.trim(), format!("netverdict-{name}"));
    let st = status()
        .into_iter()
        .find(|s| s.name == name)
        .expect("listed");
    assert!(st.running && st.ready, "{st:?}");
    assert_eq!(st.pid, Some(report.pid));
    assert!(
        up(up_options(&name, None)).is_err(),
        "a second up of a running instance fails"
    );
    kubectl_ok(
        &kubeconfig,
        &["run", "s", "--image=x", "--command", "--", "sleep", "3600"],
    );
    kubectl_ok(
        &kubeconfig,
        &["wait", "--for=condition=Ready", "pod/s", "--timeout=60s"],
    );
    assert!(
        netns_with_prefix(&prefix).len() >= 4,
        "router, external, coredns and the pod"
    );

    down(DownOptions {
        name: Some(name.clone()),
        all: false,
    })
    .expect("down");
    assert!(
        !std::path::Path::new(&format!("/proc/{}", report.pid)).exists(),
        "the instance process ended"
    );
    assert_eq!(netns_with_prefix(&prefix), Vec::<String>::new());
    assert!(!std::path::Path::new("/run/netverdict").join(&name).exists());
    assert!(
        !kubeconfig.exists(),
        "the kubeconfig written for the instance is removed"
    );
    assert!(status().iter().all(|s| s.name != name));

    // Killed without a chance to clean up: `down` removes what it left.
    let report = up(up_options(&name, None)).expect("up again");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(report.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(report.pid), None);
    assert!(
        !netns_with_prefix(&prefix).is_empty(),
        "the killed instance left its namespaces"
    );
    let st = status()
        .into_iter()
        .find(|s| s.name == name)
        .expect("still listed");
    assert!(!st.running);
    let removed = down(DownOptions {
        name: Some(name.clone()),
        all: false,
    })
    .expect("down");
    assert!(!removed.is_empty());
    assert_eq!(netns_with_prefix(&prefix), Vec::<String>::new());
    assert!(!std::path::Path::new("/run/netverdict").join(&name).exists());
}
