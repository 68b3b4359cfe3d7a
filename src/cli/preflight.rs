//! `netverdict preflight [PATHS]`: checks that the API server answers, that this identity may do
//! everything a run of the scenarios needs, the Pod Security level of their namespaces and, with a
//! short-lived canary (unless `--no-canary`), that the probe image starts and that the network
//! enforces NetworkPolicy; one line per check, or JSON with `-o json`. `netverdict run` makes the
//! same permission checks before its setup.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::exit::{self, ExpectedError};
use crate::cli::probe_pods::ProbePodArgs;
use crate::cli::serve::runtime;
use crate::cli::{diagnostics, durations};
use crate::cluster::{
    Checked, ClusterTarget, Need, PermissionError, check_run, connect, degraded, missing,
};
use crate::k8s::Client;
use crate::preflight::{
    CanaryOptions, Check, Status, canary_checks, judge_pod_security, pod_security_targets,
};
use crate::run::{live_uses, namespaces_of};
use crate::scenario::Scenario;

#[derive(Debug, clap::Args)]
pub struct PreflightArgs {
    /// Scenario files, or folders searched for *.yaml and *.yml (default: scenarios/, when it
    /// exists; else the cluster alone is checked).
    pub paths: Vec<PathBuf>,
    /// The kubeconfig to use (default: KUBECONFIG, ~/.kube/config, or the in-cluster service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// How long connecting to the API server (TCP and TLS) and its first answer may take (100ms
    /// to 5m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = durations::CONNECT_TIMEOUT.parser())]
    pub connect_timeout: Duration,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Create nothing: skip the canary (two probe pods and a NetworkPolicy, in a namespace of
    /// their own unless --canary-namespace) that checks the probe image and NetworkPolicy
    /// enforcement.
    #[arg(long)]
    pub no_canary: bool,
    /// How long the canary's default-deny may take to close its connection (0s to 30m); the
    /// connection may take as long, at least 10s, to open before it.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = durations::SETTLE.parser(), conflicts_with = "no_canary")]
    pub settle: Duration,
    /// How long the canary pods may take to start (1s to 1h).
    #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = durations::POD_TIMEOUT.parser(), conflicts_with = "no_canary")]
    pub pod_timeout: Duration,
    /// Put the canary in this existing namespace (its objects labelled with its run id and
    /// deleted after; the namespace left alone) rather than in a namespace of its own, which
    /// needs the right to create and delete namespaces.
    #[arg(long, value_name = "NS", value_parser = namespace_name, conflicts_with = "no_canary")]
    pub canary_namespace: Option<String>,
    #[command(flatten)]
    pub probe_pods: ProbePodArgs,
}

/// A `--canary-namespace` that cannot name a namespace.
#[derive(Debug, thiserror::Error)]
#[error("\"{name}\" is not a namespace name: {}", .problems.join("; "))]
pub struct NotANamespace {
    name: String,
    problems: Vec<String>,
}

pub(crate) fn namespace_name(text: &str) -> Result<String, NotANamespace> {
    let problems = netverdict_engine::validate_dns1123_label(text);
    if problems.is_empty() {
        Ok(text.to_owned())
    } else {
        Err(NotANamespace {
            name: text.to_owned(),
            problems,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per check.
    Text,
    /// One JSON document: `{"ok": bool, "checks": [...]}`.
    Json,
}

/// Every namespace the scenarios create objects in.
/// The namespaces the scenarios create or use as their own (not those of deployed workloads
/// they reach, whose needs are [`live_uses`]').
fn namespaces(scenarios: &[Scenario]) -> BTreeSet<String> {
    let live = live_uses(scenarios);
    scenarios
        .iter()
        .flat_map(namespaces_of)
        .filter(|namespace| !live.contains_key(namespace))
        .collect()
}

/// The check `netverdict run` makes before creating anything: `Err` with the missing permissions
/// and their rules; `Ok` with a note for each optional permission the run goes without.
pub(crate) async fn check_run_permissions(
    client: &Client,
    scenarios: &[Scenario],
    results: Option<&str>,
) -> Result<Vec<String>, PermissionError> {
    let live = live_uses(scenarios);
    let checked = match check_run(client, &namespaces(scenarios), &live, results).await {
        Ok(checked) => checked,
        // The run's own requests then meet the server's 403 where they would.
        Err(error) if error.is_forbidden() => {
            return Ok(vec![format!(
                "{error}; the permissions are not checked in advance"
            )]);
        }
        Err(error) => return Err(PermissionError::Unchecked(error)),
    };
    let lacking = missing(&checked);
    if !lacking.is_empty() {
        return Err(PermissionError::Lacking(
            lacking.into_iter().cloned().collect(),
        ));
    }
    Ok(degraded(&checked).into_iter().map(note).collect())
}

fn note(checked: &Checked) -> String {
    format!(
        "not allowed to {}: {}",
        checked.need.describe(),
        checked.need.without
    )
}

pub(crate) fn run(args: &PreflightArgs, out: &mut dyn Write) -> Result<u8, ExpectedError> {
    // Without PATHS and without scenarios/ here, the cluster alone is checked.
    let scenarios = if args.paths.is_empty() && !Path::new("scenarios").exists() {
        Vec::new()
    } else {
        let loaded = crate::scenario::load_paths(
            &diagnostics::paths_or_default(&args.paths),
            &crate::hosts::local_cluster(),
        );
        let counts = diagnostics::print(&loaded, false);
        if counts.errors > 0 {
            return Ok(exit::INVALID_INPUT);
        }
        loaded.scenarios
    };
    let target = ClusterTarget {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        connect_timeout: args.connect_timeout,
    };
    let canary = (!args.no_canary).then(|| CanaryOptions {
        pods: args.probe_pods.options(),
        settle: args.settle,
        pod_timeout: args.pod_timeout,
        namespace: args.canary_namespace.clone(),
    });
    let checks = runtime()?.block_on(checks(&target, &scenarios, canary.as_ref()))?;
    let ok = checks
        .iter()
        .all(|c| c["status"] != "missing" && c["status"] != "failed");
    match args.output {
        Format::Json => {
            let document = json!({"ok": ok, "checks": checks});
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&document).unwrap_or_default()
            )?;
        }
        Format::Text => {
            for check in &checks {
                writeln!(out, "{}", line(check))?;
            }
            let failed = checks
                .iter()
                .filter(|c| c["status"] == "missing" || c["status"] == "failed")
                .count();
            if ok {
                writeln!(
                    out,
                    "preflight: {} checks passed{}",
                    checks.len(),
                    aside(&checks)
                )?;
            } else {
                writeln!(out, "preflight: {failed} of {} checks failed", checks.len())?;
            }
        }
    }
    Ok(if ok { exit::OK } else { exit::COULD_NOT_JUDGE })
}

/// `" (1 skipped, 1 warning)"` for the checks that passed with a reservation.
fn aside(checks: &[Value]) -> String {
    let count = |status: &str| checks.iter().filter(|c| c["status"] == status).count();
    let parts: Vec<String> = [("skipped", count("skipped")), ("warning", count("warning"))]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// Every check, in order: the API, each permission, the Pod Security level of each namespace,
/// then the canary's checks.
async fn checks(
    target: &ClusterTarget,
    scenarios: &[Scenario],
    canary: Option<&CanaryOptions>,
) -> Result<Vec<Value>, ExpectedError> {
    let connected = match connect(target).await {
        Ok(connected) => connected,
        Err(error) if error.is_invalid_input() => {
            return Err(ExpectedError::InvalidInput(error.to_string()));
        }
        Err(error) => {
            return Ok(vec![
                json!({"check": "api", "status": "failed", "message": error.to_string()}),
            ]);
        }
    };
    let version = match connected.client.apiserver_version().await {
        Ok(info) => info.git_version,
        Err(_) => "unknown".to_owned(),
    };
    let mut checks = vec![json!({
        "check": "api",
        "status": "ok",
        "server": connected.server,
        "version": version,
        "message": format!("the API server {} answers: Kubernetes {version}", connected.server),
    })];
    let live = live_uses(scenarios);
    let run_needs = match check_run(&connected.client, &namespaces(scenarios), &live, None).await {
        Ok(checked) => {
            checks.extend(checked.iter().map(permission));
            checked.into_iter().map(|c| c.need).collect()
        }
        Err(error) => {
            checks.push(
                json!({"check": "permissions", "status": "failed", "message": error.to_string()}),
            );
            Vec::new()
        }
    };
    checks.extend(cluster_checks(&connected.client, scenarios, canary, &run_needs).await);
    Ok(checks)
}

/// The canary's permissions (those a run does not need already), the Pod Security checks (of
/// the scenarios' namespaces, else of the canary's), then the canary's, or why they were
/// skipped.
async fn cluster_checks(
    client: &Client,
    scenarios: &[Scenario],
    canary: Option<&CanaryOptions>,
    run_needs: &[Need],
) -> Vec<Value> {
    let mut targets = pod_security_targets(client, scenarios).await;
    let mut checks = Vec::new();
    let (canary_checks, canary_namespace) = match canary {
        Some(options) => {
            let ran = canary_checks(client, options).await;
            let own = ran.permissions.iter().filter(|c| {
                !run_needs.iter().any(|need| {
                    (need.verb, need.group, need.resource, &need.namespace)
                        == (
                            c.need.verb,
                            c.need.group,
                            c.need.resource,
                            &c.need.namespace,
                        )
                })
            });
            checks.extend(own.map(canary_permission));
            (ran.checks, ran.namespace)
        }
        None => {
            let why = "--no-canary: not checked (it needs two probe pods and a NetworkPolicy)";
            let skipped = |check| Check::new(check, Status::Skipped, why.to_owned());
            (
                vec![skipped("probe-image"), skipped("networkpolicy-enforcement")],
                None,
            )
        }
    };
    if targets.is_empty() {
        targets.extend(canary_namespace);
    }
    let judged = checks.len();
    checks.extend(
        targets
            .iter()
            .map(|target| judge_pod_security(target).to_json()),
    );
    if checks.len() == judged {
        let skipped = canary_checks.iter().any(|c| c.status == Status::Skipped);
        let why = match canary {
            None => "no namespace to read: the scenarios name none, and --no-canary created none",
            Some(_) if skipped => {
                "no namespace to read: the scenarios name none, and the canary, skipped, created none"
            }
            Some(_) => {
                "no namespace to read: the scenarios name none, and the canary's namespace could not be read"
            }
        };
        checks.push(Check::new("pod-security", Status::Skipped, why.to_owned()).to_json());
    }
    checks.extend(canary_checks.iter().map(Check::to_json));
    checks
}

/// A permission of the canary: one it lacks is a `warning` (the canary is skipped, a run could
/// go), one it can do without `degraded`.
fn canary_permission(checked: &Checked) -> Value {
    let mut check = permission(checked);
    let need = &checked.need;
    check["for"] = json!("canary");
    if !checked.allowed && need.required {
        check["status"] = json!("warning");
        let instead = if need.namespace.is_none() {
            "; or put the canary in an existing namespace with --canary-namespace NS"
        } else {
            ""
        };
        check["message"] = json!(format!(
            "{} ({}): not allowed, so the canary is skipped; to allow it, {}{instead}",
            need.describe(),
            need.why,
            need.rule()
        ));
    }
    check
}

fn permission(checked: &Checked) -> Value {
    let need = &checked.need;
    let (status, message) = match (checked.allowed, need.required) {
        (true, _) => ("ok", format!("{} ({})", need.describe(), need.why)),
        (false, true) => (
            "missing",
            format!("{} ({}): {}", need.describe(), need.why, need.rule()),
        ),
        (false, false) => (
            "degraded",
            format!(
                "{}: not allowed, so {}; to allow it, {}",
                need.describe(),
                need.without,
                need.rule()
            ),
        ),
    };
    json!({
        "check": "permission",
        "for": "run",
        "status": status,
        "verb": need.verb,
        "group": need.group,
        "resource": need.resource,
        "namespace": need.namespace,
        "required": need.required,
        "why": need.why,
        "rule": (!checked.allowed).then(|| need.rule()),
        "message": message,
    })
}

fn line(check: &Value) -> String {
    format!(
        "{:<9}{}: {}",
        check["status"].as_str().unwrap_or_default(),
        check["check"].as_str().unwrap_or_default(),
        check["message"].as_str().unwrap_or_default()
    )
}
