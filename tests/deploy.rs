//! The manifests under deploy/: `deploy/job.yaml` and `deploy/library/namespaces.yaml` are
//! generated from `deploy/job.yaml.in`, `deploy/rbac/namespaced.yaml`, `deploy/rbac/results.yaml` and the scenario library
//! (`deploy/generate.sh`, which runs this test with `NETVERDICT_UPDATE_DEPLOY=1`), and must be
//! up to date; every YAML file shipped under deploy/ parses, and its ConfigMap holds the
//! library byte for byte.

mod util;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Set to rewrite the generated files instead of comparing them.
const UPDATE: &str = "NETVERDICT_UPDATE_DEPLOY";
/// The namespace of the template's Role that the generated file copies into each namespace.
const TEMPLATE_NAMESPACE: &str = "netverdict-probes";

fn read(path: &str) -> String {
    std::fs::read_to_string(util::repo().join(path)).unwrap()
}

/// The library's files (relative to scenarios/), sorted: what the ConfigMap holds.
fn library_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let base = util::repo().join("scenarios");
    let mut files = Vec::new();
    walk(&base, &base, &mut files);
    files.sort();
    files
}

/// The ConfigMap key of a library file: its path with `/` as `.`.
fn key_of(path: &Path) -> String {
    path.to_string_lossy().replace('/', ".")
}

/// `text` as a YAML block scalar indented by `indent` spaces, with the chomping that keeps it
/// byte for byte.
fn block(text: &str, indent: usize) -> String {
    let chomp = if !text.ends_with('\n') {
        "-"
    } else if text.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    let pad = " ".repeat(indent);
    let body: String = text
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_owned()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect();
    format!("|{chomp}\n{body}")
}

fn config_map() -> String {
    let mut out = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: netverdict-scenarios\n  namespace: netverdict\ndata:\n",
    );
    for file in library_files() {
        let text = std::fs::read_to_string(util::repo().join("scenarios").join(&file)).unwrap();
        out.push_str(&format!("  {}: {}", key_of(&file), block(&text, 4)));
    }
    out
}

fn items(indent: &str) -> String {
    library_files()
        .iter()
        .map(|f| {
            format!(
                "{indent}- {{key: {}, path: {}}}\n",
                key_of(f),
                f.to_string_lossy()
            )
        })
        .collect()
}

/// The library's namespaces and the labels its scenarios give them (without the
/// `kubernetes.io/metadata.name` the API server sets).
fn namespaces() -> BTreeMap<String, BTreeMap<String, String>> {
    let loaded =
        netverdict::scenario::load_paths(&[util::repo().join("scenarios")], &Default::default());
    assert!(
        loaded
            .diagnostics
            .iter()
            .all(|d| d.severity != netverdict::scenario::Severity::Error)
    );
    let mut out = BTreeMap::new();
    for scenario in &loaded.scenarios {
        for namespace in &scenario.namespaces {
            let labels: BTreeMap<String, String> = namespace
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "kubernetes.io/metadata.name")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out.insert(namespace.name.clone(), labels);
        }
    }
    out
}

/// The namespaced RBAC with the template's Role and RoleBinding once per namespace of the
/// library, and the results ConfigMaps' Role, without the templates' leading comments.
fn rbac() -> String {
    let template = read("deploy/rbac/namespaced.yaml");
    let start = template.find("apiVersion:").unwrap();
    let docs: Vec<&str> = template[start..].split("\n---\n").collect();
    let mut out = Vec::new();
    for doc in docs {
        if doc.contains(&format!("namespace: {TEMPLATE_NAMESPACE}\n")) {
            for namespace in namespaces().keys() {
                out.push(doc.replace(TEMPLATE_NAMESPACE, namespace));
            }
        } else {
            out.push(doc.to_owned());
        }
    }
    // The results ConfigMaps' Role, which the Job's `--results-configmap` needs.
    let results = read("deploy/rbac/results.yaml");
    let start = results.find("apiVersion:").unwrap();
    out.push(results[start..].trim_end().to_owned());
    out.join("\n---\n").trim_end().to_owned()
}

fn job() -> String {
    let template = read("deploy/job.yaml.in");
    let mut out = String::new();
    for line in template.lines() {
        match line.trim() {
            "# @rbac@" => out.push_str(&format!("{}\n", rbac())),
            "# @scenarios@" => out.push_str(&config_map()),
            "# @items@" => out.push_str(&items(&line[..line.len() - line.trim_start().len()])),
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn library_namespaces() -> String {
    let mut out = String::from(
        "# The namespaces of the scenario library (scenarios/) with the labels its scenarios give\n# them: in namespaced mode they exist before netverdict runs, made by someone allowed to.\n#\n# Generated by deploy/generate.sh from scenarios/.\n",
    );
    for (name, labels) in namespaces() {
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
        ));
        if !labels.is_empty() {
            out.push_str("  labels:\n");
            for (k, v) in labels {
                out.push_str(&format!("    {k}: {v}\n"));
            }
        }
    }
    out
}

#[test]
fn generated_manifests_are_up_to_date() {
    let update = std::env::var_os(UPDATE).is_some_and(|v| !v.is_empty());
    for (path, wanted) in [
        ("deploy/job.yaml", job()),
        ("deploy/library/namespaces.yaml", library_namespaces()),
    ] {
        let full = util::repo().join(path);
        if update {
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, &wanted).unwrap();
            continue;
        }
        let shipped = std::fs::read_to_string(&full).unwrap_or_default();
        assert!(
            shipped == wanted,
            "{path} is not what deploy/generate.sh makes of deploy/job.yaml.in, deploy/rbac/namespaced.yaml, deploy/rbac/results.yaml and scenarios/: run deploy/generate.sh"
        );
    }
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_multiple_with_options(&text, options)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

#[test]
fn every_manifest_under_deploy_parses() {
    let mut files = Vec::new();
    let mut dirs = vec![util::repo().join("deploy")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 7, "{files:?}");
    for file in files {
        let docs = documents(&file);
        assert!(!docs.is_empty(), "{}", file.display());
        for doc in docs {
            for field in ["apiVersion", "kind"] {
                assert!(
                    doc[field].is_string(),
                    "{}: a document without {field}: {doc}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn the_job_holds_the_library_byte_for_byte_and_mounts_it_back() {
    let docs = documents(&util::repo().join("deploy/job.yaml"));
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"Namespace"));
    assert_eq!(
        kinds.last(),
        Some(&"Job"),
        "the Job comes last, after what it needs"
    );
    let config_map = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("the scenarios' ConfigMap");
    let job = docs.last().unwrap();
    let items = job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"]
        .as_array()
        .unwrap();
    let files = library_files();
    assert_eq!(items.len(), files.len());
    for (item, file) in items.iter().zip(&files) {
        let key = item["key"].as_str().unwrap();
        assert_eq!(item["path"], file.to_string_lossy().as_ref());
        let shipped = config_map["data"][key].as_str().unwrap();
        let text = std::fs::read_to_string(util::repo().join("scenarios").join(file)).unwrap();
        assert_eq!(shipped, text, "{key}");
    }
    let roles: Vec<&str> = docs
        .iter()
        .filter(|d| d["kind"] == "Role" && d["metadata"]["name"] == "netverdict")
        .filter_map(|d| d["metadata"]["namespace"].as_str())
        .collect();
    let namespaces: Vec<String> = namespaces().into_keys().collect();
    assert_eq!(roles, namespaces, "a Role in each namespace of the library");
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "localhost/netverdict:latest");
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
}
