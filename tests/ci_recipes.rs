//! The CI recipes of `ci/recipes/` are checked offline: the GitHub workflow by actionlint, the
//! GitLab template against GitLab's CI schema, the shell recipe by bash (and shellcheck), and
//! every `netverdict run` line of them against what `netverdict run --help` knows.

mod util;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use util::{Dir, TestCommand, ci_tools};

const WORKFLOW: &str = "ci/recipes/github-actions.yml";
const GITLAB: &str = "ci/recipes/gitlab-ci.yml";
const SHELL: &str = "ci/recipes/run.sh";

fn recipe(path: &str) -> String {
    std::fs::read_to_string(util::repo().join(path)).expect("read the recipe")
}

fn yaml(path: &str) -> Value {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(&recipe(path), options).expect("the recipe is YAML")
}

fn run_tool(program: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(util::repo())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn actionlint_or_skip() -> Option<PathBuf> {
    let found = ci_tools::actionlint();
    if found.is_none() {
        println!("skipped: actionlint is not installed (ci/actionlint.sh installs it)");
    }
    found
}

#[test]
fn the_github_workflow_passes_actionlint() {
    let Some(actionlint) = actionlint_or_skip() else {
        return;
    };
    // actionlint checks the `run:` scripts with shellcheck when it is on PATH.
    let (ok, out) = run_tool(&actionlint, &["-no-color", WORKFLOW]);
    assert!(ok, "actionlint rejects {WORKFLOW}:\n{out}");
}

#[test]
fn actionlint_rejects_a_broken_copy_of_the_workflow() {
    let Some(actionlint) = actionlint_or_skip() else {
        return;
    };
    let broken = recipe(WORKFLOW).replacen("if: always()", "if: always(", 1);
    assert_ne!(
        broken,
        recipe(WORKFLOW),
        "the workflow has an `if: always()`"
    );
    let dir = Dir::new("actionlint");
    let file = dir.create("workflow.yml", &broken);
    let (ok, out) = run_tool(&actionlint, &["-no-color", file.to_str().unwrap()]);
    assert!(!ok, "actionlint accepts an unclosed expression:\n{out}");
    assert!(out.contains("[expression]"), "{out}");
}

/// Every `uses:` of the workflow, as written.
fn workflow_uses() -> Vec<String> {
    recipe(WORKFLOW)
        .lines()
        .filter_map(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses:")
        })
        .map(|rest| rest.trim().to_string())
        .collect()
}

/// `owner/repo@<40 hex digits> # vX.Y.Z` or `owner/repo@vX.Y.Z`: a commit, or a full release tag
/// (never a major tag such as `v4`, which moves).
fn is_pinned(uses: &str) -> bool {
    let (reference, comment) = uses.split_once('#').unwrap_or((uses, ""));
    let Some((_, rev)) = reference.trim().split_once('@') else {
        return false;
    };
    let full_release = |v: &str| {
        let parts: Vec<&str> = v
            .trim()
            .strip_prefix('v')
            .unwrap_or("")
            .split('.')
            .collect();
        parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok())
    };
    let commit = rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit());
    (commit && full_release(comment)) || full_release(rev)
}

#[test]
fn every_action_the_workflow_uses_is_pinned() {
    let uses = workflow_uses();
    assert!(uses.len() >= 4, "checkout, kind, JUnit, upload: {uses:?}");
    let unpinned: Vec<&String> = uses.iter().filter(|u| !is_pinned(u)).collect();
    assert!(unpinned.is_empty(), "not pinned: {unpinned:?}");
    assert!(!is_pinned("actions/checkout@v4"), "a major tag moves");
    assert!(!is_pinned("actions/checkout@main"));
}

fn steps(workflow: &Value) -> Vec<&Value> {
    let jobs = workflow["jobs"].as_object().expect("the workflow has jobs");
    jobs.values()
        .flat_map(|job| job["steps"].as_array().expect("a job has steps"))
        .collect()
}

fn uses_of(step: &Value) -> &str {
    step["uses"].as_str().unwrap_or("")
}

#[test]
fn the_workflow_publishes_its_reports_even_when_the_run_fails() {
    let workflow = yaml(WORKFLOW);
    let steps = steps(&workflow);
    let publishing: Vec<&&Value> = steps
        .iter()
        .filter(|s| {
            uses_of(s).starts_with("mikepenz/action-junit-report@")
                || uses_of(s).starts_with("actions/upload-artifact@")
        })
        .collect();
    assert_eq!(publishing.len(), 2, "one JUnit and one upload step");
    for step in &publishing {
        assert_eq!(step["if"], "always()", "{step}");
    }
    let reports = workflow["env"]["REPORTS"].as_str().expect("env.REPORTS");
    let junit = publishing[0]["with"]["report_paths"].as_str().unwrap();
    assert_eq!(junit, format!("{reports}/junit.xml"));
    assert_eq!(publishing[1]["with"]["path"], format!("{reports}/"));
    let run = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains("netverdict run"))
        .expect("a step runs netverdict");
    assert!(run.contains("--junit \"$REPORTS/junit.xml\""), "{run}");
    assert!(run.contains("--summary \"$GITHUB_STEP_SUMMARY\""), "{run}");
    assert_eq!(
        workflow["permissions"],
        serde_json::json!({"contents": "read"})
    );
}

fn gitlab_validator() -> Option<jsonschema::Validator> {
    let Some(path) = ci_tools::gitlab_ci_schema() else {
        println!(
            "skipped: the GitLab CI schema is not installed (ci/gitlab-ci-schema.sh installs it)"
        );
        return None;
    };
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    Some(jsonschema::validator_for(&schema).expect("GitLab's schema compiles"))
}

fn schema_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// GitLab's `extends`: the template's keys, deep-merged with the job's own.
fn merged(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            let mut out = base.clone();
            for (key, value) in over {
                let merged = out.get(key).map_or(value.clone(), |b| merged(b, value));
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        _ => over.clone(),
    }
}

/// The pipeline as GitLab runs it: every `extends` resolved, the hidden templates left out. The
/// schema takes anything under a hidden key (it may be a mere YAML anchor), so only the
/// resolved jobs show whether the template's keys are right.
fn resolved(doc: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (key, value) in doc.as_object().expect("the template is a mapping") {
        if key.starts_with('.') {
            continue;
        }
        let resolved = match value["extends"].as_str() {
            Some(template) => {
                let mut job = merged(&doc[template], value);
                job.as_object_mut().unwrap().remove("extends");
                job
            }
            None => value.clone(),
        };
        out.insert(key.clone(), resolved);
    }
    Value::Object(out)
}

#[test]
fn the_gitlab_template_matches_gitlabs_ci_schema() {
    let Some(validator) = gitlab_validator() else {
        return;
    };
    let mut doc = yaml(GITLAB);
    for (what, doc) in [("as written", doc.clone()), ("resolved", resolved(&doc))] {
        let errors = schema_errors(&validator, &doc);
        assert!(errors.is_empty(), "{GITLAB} {what}: {errors:?}");
    }
    assert_eq!(
        resolved(&doc)["network-policies"]["artifacts"]["when"],
        "always"
    );

    let template = &doc[".netverdict"];
    assert_eq!(template["artifacts"]["when"], "always");
    let junit = template["artifacts"]["reports"]["junit"].as_str().unwrap();
    let script = template["script"][0].as_str().unwrap();
    assert!(script.contains(&format!("--junit {junit}")), "{script}");
    assert_eq!(doc["network-policies"]["extends"], ".netverdict");

    doc[".netverdict"]["artifacts"]["when"] = "sometimes".into();
    assert!(
        !schema_errors(&validator, &resolved(&doc)).is_empty(),
        "the schema rejects the template's unknown artifacts:when"
    );
}

#[test]
fn the_shell_recipe_passes_bash_syntax_check() {
    let (ok, out) = run_tool(Path::new("bash"), &["-n", SHELL]);
    assert!(ok, "bash -n {SHELL}:\n{out}");
    match on_path("shellcheck") {
        Some(shellcheck) => {
            let (ok, out) = run_tool(&shellcheck, &[SHELL]);
            assert!(ok, "shellcheck {SHELL}:\n{out}");
        }
        None => {
            println!("shellcheck is not installed (ci/install-deps.sh installs it): bash -n only")
        }
    }
}

/// A PATH whose `netverdict` is this build's (the recipe runs the one on PATH).
fn path_with_this_netverdict(dir: &Dir) -> String {
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_netverdict"), bin.join("netverdict")).unwrap();
    format!("{}:/usr/bin:/bin", bin.display())
}

fn run_shell_recipe(dir: &Dir, path: &str, kubeconfig: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new("bash");
    cmd.arg(util::repo().join(SHELL))
        .args([util::repo().join("scenarios"), dir.path().join("reports")])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG");
    if let Some(kubeconfig) = kubeconfig {
        cmd.env("KUBECONFIG", kubeconfig);
    }
    let out = cmd.output().expect("run the shell recipe");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().expect("the recipe exited"), stderr)
}

#[test]
fn the_shell_recipe_keeps_and_explains_netverdicts_exit_code() {
    let dir = Dir::new("shell-recipe");
    let path = path_with_this_netverdict(&dir);
    let (code, stderr) = run_shell_recipe(&dir, &path, None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("KUBECONFIG is not set"), "{stderr}");

    // netverdict refuses a KUBECONFIG that names no file before creating anything: exit 2.
    let missing = dir.path().join("no-such-kubeconfig");
    let (code, stderr) = run_shell_recipe(&dir, &path, Some(missing.to_str().unwrap()));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("netverdict: exit 2: invalid input or usage: nothing was created"),
        "{stderr}"
    );
}

/// The long flags that `netverdict run --help` lists.
fn run_flags() -> BTreeSet<String> {
    let out = TestCommand::in_repo().args(["run", "--help"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(str::to_string)
        .collect()
}

/// The `netverdict run` command lines of a script, continuation lines joined.
fn run_lines(script: &str) -> Vec<String> {
    script
        .replace("\\\n", " ")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains("netverdict run"))
        .map(str::to_string)
        .collect()
}

/// The scripts of a recipe: the workflow's `run:` steps, every job's `before_script` and
/// `script` lines, or the shell recipe itself.
fn scripts(path: &str) -> Vec<String> {
    if path == SHELL {
        return vec![recipe(path)];
    }
    let doc = yaml(path);
    if path == WORKFLOW {
        return steps(&doc)
            .iter()
            .filter_map(|s| s["run"].as_str().map(str::to_string))
            .collect();
    }
    let jobs = doc.as_object().expect("the template is a mapping");
    jobs.values()
        .flat_map(|job| ["before_script", "script"].map(|k| job[k].clone()))
        .filter_map(|lines| lines.as_array().cloned())
        .flatten()
        .filter_map(|line| line.as_str().map(str::to_string))
        .collect()
}

fn flags_of(line: &str) -> impl Iterator<Item = String> + '_ {
    line.split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.split('=').next().unwrap().to_string())
}

#[test]
fn the_recipes_use_only_flags_netverdict_run_knows() {
    let known = run_flags();
    assert!(
        known.contains("--junit") && known.contains("--summary"),
        "{known:?}"
    );
    for path in [WORKFLOW, GITLAB, SHELL] {
        let lines: Vec<String> = scripts(path).iter().flat_map(|s| run_lines(s)).collect();
        assert_eq!(lines.len(), 1, "{path} runs netverdict once: {lines:?}");
        let flags: Vec<String> = flags_of(&lines[0]).collect();
        assert!(flags.contains(&"--junit".to_string()), "{path}: {flags:?}");
        let unknown: Vec<&String> = flags.iter().filter(|f| !known.contains(*f)).collect();
        assert!(
            unknown.is_empty(),
            "{path}: `netverdict run` has no {unknown:?}"
        );
    }
}
