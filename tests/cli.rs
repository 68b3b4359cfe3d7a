//! The `netverdict` command end to end: validate, plan, explain, schema, exit codes.

mod util;

use util::{Dir, TestCommand, yaml_files};

#[test]
fn the_scenario_library_is_valid_without_warnings() {
    let out = TestCommand::in_repo()
        .args(["validate", "--deny-warnings", "scenarios"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "no warning either: {}", out.stderr);
    let scenarios: usize = out
        .stdout
        .trim_start_matches("valid: ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(scenarios >= 16, "one scenario per pattern: {}", out.stdout);
}

#[test]
fn every_invalid_file_fails_with_a_located_error() {
    let files = yaml_files("tests/data/invalid");
    assert!(files.len() >= 20, "one file per pitfall");
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let relative = format!("tests/data/invalid/{name}");
        let out = TestCommand::in_repo().args(["validate", &relative]).run();
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        let first = out.stderr.lines().next().unwrap_or_default();
        let rest = first
            .strip_prefix(&format!("{relative}:"))
            .unwrap_or_else(|| panic!("{name}: {first}"));
        let mut parts = rest.splitn(3, ':');
        let line: u64 = parts
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: no line in {first}"));
        let column: u64 = parts
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: no column in {first}"));
        assert!(line > 0 && column > 0, "{first}");
        assert!(parts.next().unwrap().starts_with(" error"), "{first}");
    }
}

#[test]
fn invalid_folder_messages() {
    let out = TestCommand::in_repo()
        .args(["validate", "tests/data/invalid"])
        .run();
    assert_eq!(out.code, 2);
    insta::assert_snapshot!(out.stderr);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        TestCommand::in_repo()
            .args(["plan", "--output", "yaml", "scenarios"])
            .run()
            .code,
        2
    );
    assert_eq!(TestCommand::in_repo().args(["frobnicate"]).run().code, 2);
    assert_eq!(
        TestCommand::in_repo()
            .args(["explain", "scenarios/three-tier.yaml"])
            .run()
            .code,
        2
    );
    assert_eq!(TestCommand::in_repo().args(["--help"]).run().code, 0);
}

#[test]
fn a_missing_path_is_invalid_input() {
    let out = TestCommand::in_repo()
        .args(["validate", "no/such/file.yaml"])
        .run();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("no/such/file.yaml: error: cannot read"),
        "{}",
        out.stderr
    );
}

#[test]
fn plan_json() {
    let out = TestCommand::in_repo()
        .args([
            "plan",
            "--output",
            "json",
            "scenarios/three-tier.yaml",
            "scenarios/service-target.yaml",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn plan_table() {
    let out = TestCommand::in_repo()
        .args([
            "plan",
            "scenarios/monitoring-scrape.yaml",
            "scenarios/dns-egress.yaml",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn plan_computes_auto() {
    let dir = Dir::new("auto");
    dir.create(
        "auto.yaml",
        r#"apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: auto}
spec:
  namespaces: [{name: a}]
  pods:
    - {name: web, namespace: a, labels: {app: web}}
    - {name: db, namespace: a, labels: {app: db}, ports: [{port: 5432}]}
  policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: db}
      spec: {podSelector: {matchLabels: {app: db}}}
  probes:
    - {from: a/web, to: a/db, port: 5432}
    - {from: a/web, to: {host: elsewhere.example}, port: 443}
"#,
    );
    let out = dir
        .command()
        .args(["plan", "-o", "json", "auto.yaml"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let probes = json["probes"].as_array().unwrap();
    assert_eq!(probes[0]["expect"], "deny");
    assert_eq!(probes[0]["expectSource"], "auto");
    assert!(
        probes[0]["reason"]
            .as_str()
            .unwrap()
            .contains("isolated for ingress by a/db"),
        "{}",
        probes[0]
    );
    // A host whose address only a run can know stays unresolved, and says why.
    assert_eq!(probes[1]["expect"], serde_json::Value::Null);
    assert!(
        probes[1]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown offline")
    );
}

#[test]
fn explain_names_the_deciding_rule() {
    let out = TestCommand::in_repo()
        .args([
            "explain",
            "scenarios/three-tier.yaml",
            "--from",
            "shop/frontend",
            "--to",
            "shop/api",
            "--port",
            "app",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("ALLOWED"));
    assert!(
        out.stdout
            .contains("policy shop/api-from-frontend, ingress rule 0 (from[0], ports[0])"),
        "{}",
        out.stdout
    );
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn explain_names_the_isolating_policies() {
    let out = TestCommand::in_repo()
        .args([
            "explain",
            "scenarios/three-tier.yaml",
            "--from",
            "shop/db",
            "--to",
            "shop/api",
            "--port",
            "8081",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("DENIED"));
    assert!(
        out.stdout
            .contains("policy shop/default-deny-ingress at scenarios/three-tier.yaml:"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("policy shop/api-from-frontend at"),
        "{}",
        out.stdout
    );
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn explain_an_external_address() {
    let out = TestCommand::in_repo()
        .args([
            "explain",
            "scenarios/egress-cidr-except.yaml",
            "--from",
            "cidr/client",
            "--to",
            "198.51.100.10",
            "--port",
            "80",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("DENIED"), "{}", out.stdout);
    assert!(
        out.stdout.contains("policy cidr/client-egress"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("egress[1]: no `to` peer matches 198.51.100.10; 80/TCP is not among its ports (UDP 53, TCP 53)"),
        "why each rule does not match: {}",
        out.stdout
    );
}

#[test]
fn explain_rejects_unknown_pods() {
    let out = TestCommand::in_repo()
        .args([
            "explain",
            "scenarios/three-tier.yaml",
            "--from",
            "shop/nope",
            "--to",
            "shop/api",
            "--port",
            "80",
        ])
        .run();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no scenario defines pod shop/nope"),
        "{}",
        out.stderr
    );
}

const LINT_BASE: &str = r#"apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: lints}
spec:
  namespaces: [{name: app, labels: {team: app}}, {name: mon, labels: {team: mon}}]
  pods:
    - {name: web, namespace: app, labels: {app: web}}
    - {name: db, namespace: app, labels: {app: database}, ports: [{port: 5432}]}
    - {name: prom, namespace: mon, labels: {app: prom}}
"#;

#[test]
fn lints_warn_and_deny_warnings_fails() {
    let dir = Dir::new("lints");
    dir.create(
        "lints.yaml",
        &format!(
            "{LINT_BASE}{}",
            r#"  policies:
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: db-ingress, namespace: app}
      spec:
        podSelector: {matchLabels: {app: db}}
        ingress:
          - from:
              - namespaceSelector: {matchLabels: {team: mon}}
              - podSelector: {matchLabels: {app: prom}}
    - apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: prom-egress, namespace: mon}
      spec:
        podSelector: {matchLabels: {app: prom}}
        policyTypes: [Egress]
        egress:
          - to: [{ipBlock: {cidr: 10.244.0.0/16}}]
  probes:
    - {from: app/web, to: app/db, port: 5432, expect: deny}
"#
        ),
    );
    let out = dir.command().args(["validate", "lints.yaml"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    for lint in ["and-or-selector", "no-dns-egress", "ipblock-pod-range"] {
        assert!(
            out.stderr.contains(&format!("warning[{lint}]")),
            "{lint}: {}",
            out.stderr
        );
    }
    // The db's labels miss the selector meant for it (app=database vs app=db): the deny
    // expectation is contradicted, and the warning names the pod and the nearest selector.
    assert!(
        out.stderr.contains("warning[contradicted-expectation]"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("pod app/db is not selected by the nearest selector, policy app/db-ingress"),
        "{}",
        out.stderr
    );
    insta::assert_snapshot!(
        out.stderr
            .replace(&dir.path().display().to_string(), "[DIR]")
    );

    let out = dir
        .command()
        .args(["validate", "--deny-warnings", "lints.yaml"])
        .run();
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("error[and-or-selector]"));
}

#[test]
fn folders_skip_policy_files_and_resolve_file_references() {
    let dir = Dir::new("folders");
    dir.create(
        "s/policies/db.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db, namespace: app}\nspec:\n  podSelector: {matchLabels: {app: database}}\n",
    );
    dir.create(
        "s/nested/one.yml",
        &format!("{LINT_BASE}  policies: [{{file: ../policies/db.yaml}}]\n  probes:\n    - {{from: app/web, to: app/db, port: 5432, expect: deny}}\n"),
    );
    let out = dir
        .command()
        .args(["validate", "--deny-warnings", "s"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "valid: 1 scenario, 1 probe");
}

#[test]
fn errors_in_policy_files_point_into_them() {
    let dir = Dir::new("policyfile");
    dir.create(
        "p.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db, namespace: app}\nspec:\n  podSelector: {}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: app}\nspec:\n  podSelector: {}\n  ingress:\n    - from: [{ipBlock: {cidr: nope}}]\n",
    );
    dir.create(
        "s.yaml",
        &format!("{LINT_BASE}  policies: [{{file: p.yaml}}]\n  probes:\n    - {{from: app/web, to: app/db, port: 5432}}\n"),
    );
    let out = dir.command().args(["validate", "s.yaml"]).run();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("p.yaml:13:31: error: spec.ingress[0].from[0].ipBlock.cidr:"),
        "{}",
        out.stderr
    );
}

#[test]
fn schema_validates_the_library_and_rejects_unknown_fields() {
    let out = TestCommand::in_repo().args(["schema"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let mut checked = 0;
    let example = util::repo().join("examples/post-deploy/post-deploy.yaml");
    let files = ["scenarios", "tests/data/upstream"]
        .into_iter()
        .flat_map(yaml_files)
        .chain([example.clone()]);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let options = serde_saphyr::options! { strict_booleans: true };
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple_with_options(&text, options).unwrap();
        for doc in docs {
            let errors: Vec<String> = validator
                .iter_errors(&doc)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", file.display());
            checked += 1;
        }
    }
    assert!(checked >= 40);

    let text = std::fs::read_to_string(util::repo().join("scenarios/three-tier.yaml")).unwrap();
    let mut doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert!(validator.is_valid(&doc));
    doc["spec"]["probes"][0]["expct"] = "allow".into();
    assert!(
        !validator.is_valid(&doc),
        "an unknown probe field is rejected"
    );
    let mut doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    doc["spec"]["policies"][0]["spec"]["ingres"] = serde_json::json!([]);
    assert!(
        !validator.is_valid(&doc),
        "an unknown policy field is rejected"
    );
    let mut doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    doc["spec"]["probes"][0]["matrix"]["to"][0] =
        serde_json::json!({"pods": {"namespace": "shop"}});
    assert!(!validator.is_valid(&doc), "a pods target needs a selector");

    let text = std::fs::read_to_string(&example).unwrap();
    let live: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let mut doc = live.clone();
    doc["spec"]["probes"][0]["matrix"]["to"][0]["pick"] = "sometimes".into();
    assert!(!validator.is_valid(&doc), "pick is all, one or perNode");
    let mut doc = live.clone();
    doc["spec"]["probes"][0]["matrix"]["from"][0]["like"]["workload"]["kind"] = "Job".into();
    assert!(!validator.is_valid(&doc), "a mimic copies a known kind");
    let mut doc = live;
    doc["spec"]["probes"][0]["matrix"]["from"][0]["placement"] = serde_json::json!({"zone": "a"});
    assert!(
        !validator.is_valid(&doc),
        "an unknown placement is rejected"
    );
}

#[test]
fn validate_json_lists_located_diagnostics() {
    let out = TestCommand::in_repo()
        .args([
            "validate",
            "--output",
            "json",
            "tests/data/invalid/undefined-pod.yaml",
        ])
        .run();
    assert_eq!(out.code, 2);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    let d = &json["diagnostics"][0];
    assert_eq!(
        (
            d["severity"].as_str(),
            d["file"].as_str(),
            d["line"].as_u64(),
            d["column"].as_u64(),
            d["path"].as_str()
        ),
        (
            Some("error"),
            Some("tests/data/invalid/undefined-pod.yaml"),
            Some(18),
            Some(11),
            Some("spec.probes[0].to")
        )
    );
    let out = TestCommand::in_repo()
        .args(["validate", "-o", "json", "scenarios"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stdout);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["valid"], true);
    assert!(json["scenarios"].as_u64().unwrap() >= 16);
}

#[test]
fn plan_prints_auto_as_upstream_truth_tables() {
    let text =
        std::fs::read_to_string(util::repo().join("tests/data/upstream/ports.yaml")).unwrap();
    let cut = text.find("      expect:\n").unwrap();
    let dir = Dir::new("tables");
    dir.create(
        "ports.yaml",
        &format!("{}      expect: auto\n", &text[..cut]),
    );
    let out = dir
        .command()
        .args(["plan", "--output", "tables", "ports.yaml"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Self cells are computed too (a pod always reaches itself), unlike upstream's `?`.
    insta::assert_snapshot!(out.stdout);
}

/// Every duration flag is checked with the arguments: exit 2, the flag named with its range,
/// before any scenario is read or any cluster (here a kubeconfig that does not exist, or a
/// local cluster, which would need root) is contacted.
#[test]
fn bad_durations_are_usage_errors_naming_the_flag_and_its_range() {
    let cases = [
        (
            &["--timeout", "10m"][..],
            "'--timeout <DURATION>'",
            "100ms to 5m",
        ),
        (&["--timeout", "0"], "'--timeout <DURATION>'", "100ms to 5m"),
        (
            &["--timeout", "50ms"],
            "'--timeout <DURATION>'",
            "100ms to 5m",
        ),
        (
            &["--pod-timeout", "0s"],
            "'--pod-timeout <DURATION>'",
            "1s to 1h",
        ),
        (&["--settle", "1h"], "'--settle <DURATION>'", "0s to 30m"),
        (
            &["--settle", "soon"],
            "'--settle <DURATION>'",
            "such as 2s, 500ms",
        ),
        (
            &["--namespace-wait", "2h"],
            "'--namespace-wait <DURATION>'",
            "0s to 1h",
        ),
        (
            &["--connect-timeout", "0s"],
            "'--connect-timeout <DURATION>'",
            "100ms to 5m",
        ),
        (
            &["--local", "--policy-delay", "1h"],
            "'--policy-delay <DURATION>'",
            "0s to 10m",
        ),
        (
            &["--local", "--namespace-deletion", "11m"],
            "'--namespace-deletion <DURATION>'",
            "0s to 10m",
        ),
    ];
    let dir = Dir::new("durations");
    for (flags, flag, range) in cases {
        let mut args = vec!["run"];
        if !flags.contains(&"--local") {
            args.extend(["--kubeconfig", "missing-kubeconfig"]);
        }
        args.extend(flags);
        args.push("scenarios/three-tier.yaml");
        let out = TestCommand::in_repo().args(&args).run();
        assert_eq!(out.code, 2, "{flags:?}: {}", out.stderr);
        assert!(out.stderr.contains(flag), "{flags:?}: {}", out.stderr);
        assert!(out.stderr.contains(range), "{flags:?}: {}", out.stderr);
        assert!(
            !out.stderr.contains("kubeconfig"),
            "{flags:?}: {}",
            out.stderr
        );
    }
    let out = dir
        .command()
        .args(["cleanup", "--all", "--connect-timeout", "0s"])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("'--connect-timeout <DURATION>'"),
        "{}",
        out.stderr
    );
}

/// A scenario timeout out of range stops `run` before anything is contacted, at its line.
#[test]
fn a_scenario_timeout_out_of_range_is_located() {
    let dir = Dir::new("timeout-field");
    dir.create(
        "t.yaml",
        &format!(
            "{LINT_BASE}  probes:\n    - {{from: app/web, to: app/db, port: 5432, timeout: 50ms}}\n"
        ),
    );
    let out = dir
        .command()
        .args(["run", "--kubeconfig", "missing-kubeconfig", "t.yaml"])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "t.yaml:11:56: error: spec.probes[0].timeout: a timeout of 50ms is out of range: use 100ms to 5m"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("missing-kubeconfig"), "{}", out.stderr);
    let ok = dir.create(
        "ok.yaml",
        &format!(
            "{LINT_BASE}  probes:\n    - {{from: app/web, to: app/db, port: 5432, timeout: 500ms}}\n"
        ),
    );
    let out = dir.command().args(["validate"]).args([ok]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// A probe listed on its own and covered by a matrix is one probe: the written expectation is
/// judged and the engine's disagreement stays a warning; contradicting written expectations
/// are invalid input naming both entries.
#[test]
fn duplicate_probes_merge_and_contradictions_name_both_places() {
    let dir = Dir::new("duplicates");
    let matrix = "    - {matrix: {from: [app/web, mon/prom], to: [app/db], ports: [5432]}}\n";
    dir.create(
        "merge.yaml",
        &format!(
            "{LINT_BASE}  probes:\n    - {{name: web-db, from: app/web, to: app/db, port: 5432, expect: deny}}\n{matrix}"
        ),
    );
    let out = dir
        .command()
        .args(["plan", "-o", "json", "merge.yaml"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let probes = plan["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 2, "{}", out.stdout);
    let web = probes.iter().find(|p| p["from"] == "app/web").unwrap();
    assert_eq!(
        (&web["name"], &web["expect"], &web["expectSource"]),
        (&"web-db".into(), &"deny".into(), &"explicit".into())
    );
    assert!(
        out.stderr.contains("warning[contradicted-expectation]"),
        "the engine's opinion is reported: {}",
        out.stderr
    );

    dir.create(
        "contradict.yaml",
        &format!(
            "{LINT_BASE}  probes:\n    - {{from: app/web, to: app/db, port: 5432, expect: deny}}\n{}",
            matrix.replace("}}\n", "}, expect: allow}\n")
        ),
    );
    let out = dir
        .command()
        .args([
            "run",
            "--kubeconfig",
            "missing-kubeconfig",
            "contradict.yaml",
        ])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "contradict.yaml:12:7: error: spec.probes[1]: this entry expects allow for \"app/web -> app/db:5432/TCP\", which spec.probes[0] (contradict.yaml:11:7) expects deny"
        ),
        "{}",
        out.stderr
    );
}
