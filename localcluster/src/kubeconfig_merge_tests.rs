use std::os::unix::fs::PermissionsExt;

use super::*;

const OTHERS: &str = "apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443
    insecure-skip-tls-verify: true
    extensions:
    - name: vendor
      extension: {region: eu-1, replicas: 3}
contexts:
- name: prod
  context: {cluster: prod, user: admin, namespace: shop}
users:
- name: admin
  user:
    token: \"0123\"
current-context: prod
preferences: {colors: true}
";

fn ours(server: &str) -> String {
    use netverdict_apiserver::kubeconfig::{Kubeconfig, KubeconfigCredential};
    instance::kubeconfig_yaml(
        "t1",
        Kubeconfig {
            name: String::new(),
            server: server.to_owned(),
            ca_pem: "CA".to_owned(),
            credential: KubeconfigCredential::Token("t".to_owned()),
        },
    )
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("nv-merge-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn doc(path: &Path) -> Map<String, Value> {
    read_doc(path).unwrap().unwrap()
}

#[test]
fn merging_keeps_other_entries_and_their_unknown_fields_and_removal_restores_them() {
    let dir = TempDir::new("keep");
    let path = dir.0.join("config");
    std::fs::write(&path, OTHERS).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = doc(&path);
    let merged = merge(&path, &ours("https://127.0.0.1:1")).unwrap();
    assert_eq!(merged.previous_context.as_deref(), Some("prod"));
    assert!(!merged.created);
    let after = doc(&path);
    assert_eq!(after["current-context"], "netverdict-t1");
    for list in LISTS {
        let entries = after[list].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{list}");
        assert_eq!(
            entries[0], before[list][0],
            "{list}: the other entry is unchanged"
        );
    }
    assert_eq!(
        after["users"][0]["user"]["token"], "0123",
        "a string stays one"
    );
    assert_eq!(after["preferences"], before["preferences"]);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert_eq!(unmerge(&merged).unwrap(), Unmerged::Removed);
    assert_eq!(doc(&path), before);
    assert_eq!(unmerge(&merged).unwrap(), Unmerged::Unchanged);
}

#[test]
fn a_second_merge_replaces_the_first_and_removal_spares_entries_taken_over() {
    let dir = TempDir::new("again");
    let path = dir.0.join("config");
    let first = merge(&path, &ours("https://127.0.0.1:1")).unwrap();
    assert!(first.created);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let second = merge(&path, &ours("https://127.0.0.1:2")).unwrap();
    let now = doc(&path);
    for list in LISTS {
        assert_eq!(now[list].as_array().unwrap().len(), 1, "{list}");
    }
    assert_eq!(unmerge(&first).unwrap(), Unmerged::TakenOver);
    assert_eq!(doc(&path), now);
    assert_eq!(
        unmerge(&Merged {
            created: true,
            ..second.clone()
        })
        .unwrap(),
        Unmerged::FileRemoved
    );
    assert!(!path.exists());
    assert_eq!(unmerge(&second).unwrap(), Unmerged::FileGone);
}

#[test]
fn removal_unsets_a_current_context_whose_predecessor_is_gone() {
    let dir = TempDir::new("unset");
    let path = dir.0.join("config");
    std::fs::write(&path, OTHERS).unwrap();
    let merged = merge(&path, &ours("https://127.0.0.1:1")).unwrap();
    let mut without_prod = doc(&path);
    without_prod["contexts"].as_array_mut().unwrap().remove(0);
    write_preserving(&path, &without_prod).unwrap();
    unmerge(&merged).unwrap();
    assert!(doc(&path).get("current-context").is_none());
}

#[test]
fn what_is_not_a_kubeconfig_is_refused_naming_the_file() {
    let dir = TempDir::new("bad");
    let path = dir.0.join("config");
    for bad in ["clusters: {a: 1}\n", "- a\n- b\n", "clusters: [\n"] {
        std::fs::write(&path, bad).unwrap();
        let error = check(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("the kubeconfig {} is not valid: ", path.display())),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
        assert!(merge(&path, &ours("https://127.0.0.1:1")).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), bad, "left alone");
    }
    std::fs::write(&path, "").unwrap();
    assert!(check(&path).is_ok(), "an empty file is an empty kubeconfig");
    let error = check(&dir.0).unwrap_err().to_string();
    assert!(error.starts_with("cannot read the kubeconfig "), "{error}");
}

#[test]
fn a_symbolic_link_is_followed_not_replaced() {
    let dir = TempDir::new("link");
    let target = dir.0.join("real");
    let link = dir.0.join("config");
    std::fs::write(&target, OTHERS).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    merge(&link, &ours("https://127.0.0.1:1")).unwrap();
    assert!(link.is_symlink());
    assert_eq!(doc(&target)["current-context"], "netverdict-t1");
}

#[test]
fn a_lock_held_by_another_program_is_waited_for_then_named() {
    let dir = TempDir::new("lock");
    let path = dir.0.join("config");
    std::fs::write(dir.0.join("config.lock"), "").unwrap();
    let error = with_lock(&path, || Ok(())).unwrap_err().to_string();
    assert!(error.contains("config.lock exists"), "{error}");
}
