//! `netverdict run PATH...`: spawn probe pods, probe in parallel, judge, report, clean up.
//!
//! Arguments are read in two stages: [`RunArgs`] holds what the user typed, [`RunPlan`] what
//! will run, validated before anything touches a cluster.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::exit::{self, ExpectedError};
use crate::cli::serve::runtime;
use crate::cli::{diagnostics, durations, report_file};
use crate::cluster::{ClusterTarget, ConnectError, PermissionError, RunId, connect};
use crate::report::terminal::{self, Palette, Progress, Verbosity};
use crate::report::{html, json, junit, summary};
use crate::results::{DenyBehaviour, InputProblem, RunResult, SourceLine};
use crate::run::{
    CleanupCommand, ProbingOptions, RunConfig, RunError, RunLimits, Signals, StopRequests, execute,
};
use crate::scenario::{DenyMode, Scenario};

use super::probe_pods::ProbePodArgs;
use super::results_configmap::{self, ResultsArgs, ResultsPlan, ResultsSink};
use super::run_local::{KeptCluster, LocalTarget, run_local};

#[derive(Debug, clap::Args)]
// The network options are shared with `local up`, where no --local exists.
#[command(
    mut_arg("cni", |a| a.requires("local")),
    mut_arg("policy_delay", |a| a.requires("local"))
)]
pub struct RunArgs {
    /// Scenario files, or folders searched for *.yaml and *.yml (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// Start an embedded local cluster for the run and remove it afterwards (needs root; with
    /// --keep it stays, as an instance of `netverdict local`).
    #[arg(long)]
    pub local: bool,
    #[command(flatten)]
    pub pods: netverdict_localcluster::PodSecurityOptions,
    #[command(flatten)]
    pub emulation: netverdict_localcluster::EmulationOptions,
    // With --local: how the local network treats policies (the options of `local up`).
    #[command(flatten)]
    pub network: netverdict_localcluster::NetworkOptions,
    /// With --local: a deleted namespace stays Terminating this long after its contents are
    /// gone (slow namespace deletion, as on real clusters; 0s to 10m).
    #[arg(long, value_name = "DURATION", value_parser = durations::EMULATED_DELAY.parser(), requires = "local")]
    pub namespace_deletion: Option<Duration>,
    /// The kubeconfig to use (default: KUBECONFIG, ~/.kube/config, or the in-cluster service account).
    #[arg(long, value_name = "FILE", conflicts_with = "local")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, value_name = "NAME", conflicts_with = "local")]
    pub context: Option<String>,
    /// How long connecting to the API server (TCP and TLS) and its first answer may take (100ms
    /// to 5m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = durations::CONNECT_TIMEOUT.parser())]
    pub connect_timeout: Duration,
    /// Write a JUnit XML report here (also when the run cannot complete).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the full results as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// What satisfies `expect: deny` for every probe, overriding the scenarios' `deny`: `any`
    /// (a drop, or a refusal from a target known to listen), `drop` or `reject`.
    #[arg(long, value_enum, value_name = "MODE")]
    pub deny: Option<DenyArg>,
    /// Write a Markdown summary here (GitHub-flavoured: for $GITHUB_STEP_SUMMARY or a
    /// merge-request note; also when the run cannot complete).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Treat warnings (lints) as errors: the run stops before anything is created (exit 2).
    #[arg(long)]
    pub deny_warnings: bool,
    /// Write the scenarios' errors and lints as SARIF 2.1.0 here (for GitHub code scanning;
    /// also when the input is invalid).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write one self-contained HTML page here: the truth tables as coloured grids whose cells
    /// link to each probe's evidence (no external files, opens offline; also when the run
    /// cannot complete).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Per-probe timeout for every probe, overriding the scenarios' (100ms to 5m; e.g. 1s, 500ms).
    #[arg(long, value_name = "DURATION", value_parser = durations::PROBE_TIMEOUT.parser())]
    pub timeout: Option<Duration>,
    /// How long probes that do not match yet are retried after the policies were applied (0s,
    /// no retries, to 30m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = durations::SETTLE.parser())]
    pub settle: Duration,
    /// Concurrent exec streams against the API server, at most.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub parallel: u16,
    #[command(flatten)]
    pub probe_pods: ProbePodArgs,
    #[command(flatten)]
    pub results: ResultsArgs,
    /// Leave everything the run created in place (remove it later with `netverdict cleanup`);
    /// with --local, the local cluster too: the run prints its KUBECONFIG and the
    /// `netverdict local down --name NAME` that removes it.
    #[arg(long)]
    pub keep: bool,
    /// At the end, wait until the namespaces the run created are really gone (up to
    /// --namespace-wait), so that a following run starts clean.
    #[arg(long, conflicts_with = "keep")]
    pub wait_cleanup: bool,
    /// How long to wait for a namespace the run needs that is still terminating (left by an
    /// earlier run) before creating it, and for the run's own with --wait-cleanup (0s to 1h).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = durations::NAMESPACE_WAIT.parser())]
    pub namespace_wait: Duration,
    /// Run also in namespaces other netverdict runs have objects in (by default the run is
    /// refused before anything is created); their policies then count in the predictions.
    #[arg(long)]
    pub share_namespaces: bool,
    /// The run's id, a label value on everything it creates (default: random).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// How long probe pods may take to start (1s to 1h).
    #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = durations::POD_TIMEOUT.parser())]
    pub pod_timeout: Duration,
    /// Print only the summary.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print every probe and round.
    #[arg(short, long)]
    pub verbose: bool,
}

/// What satisfies `expect: deny` (the scenarios' `deny`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DenyArg {
    /// A timeout, or a refusal from a target known to listen: holds on every network.
    Any,
    /// Only a timeout: the network must drop denied packets.
    Drop,
    /// Only a refusal: the network must reject denied connections.
    Reject,
}

impl From<DenyArg> for DenyMode {
    fn from(arg: DenyArg) -> DenyMode {
        match arg {
            DenyArg::Any => DenyMode::Any,
            DenyArg::Drop => DenyMode::Drop,
            DenyArg::Reject => DenyMode::Reject,
        }
    }
}

/// What will run, validated.
struct RunPlan {
    scenarios: Vec<Scenario>,
    target: Target,
    config: RunConfig,
    reports: Reports,
    /// Where the reports go too (`--results-configmap`).
    results: Option<ResultsPlan>,
    verbosity: Verbosity,
}

/// What running the plan gave.
struct Executed {
    result: RunResult,
    /// The cluster configuration was invalid input (nothing was created).
    invalid_target: bool,
    /// The local cluster `--local --keep` left running.
    kept: Option<KeptCluster>,
    /// Where the reports go too (`--results-configmap`).
    results: Option<ResultsSink>,
}

/// Where the reports go.
struct Reports {
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
    summary: Option<PathBuf>,
    html: Option<PathBuf>,
}

enum Target {
    Local(LocalTarget),
    Cluster(ClusterTarget),
}

pub(crate) fn run(args: &RunArgs, out: &mut dyn Write) -> Result<u8, ExpectedError> {
    run_until(args, out, &Signals)
}

/// [`run`], interrupted by the requests of `stop` (the process's signals, or a test's).
fn run_until(
    args: &RunArgs,
    out: &mut dyn Write,
    stop: &dyn StopRequests,
) -> Result<u8, ExpectedError> {
    let plan = match plan(args)? {
        Ok(plan) => plan,
        Err(summary) => {
            writeln!(
                out,
                "verdict: INVALID INPUT: {summary}, nothing was created (exit {})",
                exit::INVALID_INPUT
            )?;
            return Ok(exit::INVALID_INPUT);
        }
    };
    let runtime = runtime()?;
    let executed = runtime.block_on(execute_plan(&plan, stop));
    let mut result = executed.result;
    result.deny_behaviour = DenyBehaviour::observed(&result.scenarios);
    result.inputs = plan
        .scenarios
        .iter()
        .map(|s| SourceLine::new(&s.location.file, s.location.line))
        .collect();
    if let Some(sink) = &executed.results {
        let code = exit::of_run(&result);
        runtime.block_on(results_configmap::keep(sink, &mut result, code));
    }
    write_reports(&result, &plan.reports)?;
    let palette = Palette::detect(std::io::stdout().is_terminal());
    write!(
        out,
        "{}",
        terminal::summary(&result, palette, plan.verbosity)
    )?;
    if let Some(kept) = executed.kept {
        write!(out, "{}", kept.instructions())?;
    }
    let code = if executed.invalid_target {
        exit::INVALID_INPUT
    } else {
        exit::of_run(&result)
    };
    writeln!(out, "{}", terminal::verdict(&result, code))?;
    Ok(code)
}

/// The second stage of the arguments: what will run, or, when the scenarios are invalid (their
/// problems are printed and the reports written), the summary of their problems.
fn plan(args: &RunArgs) -> Result<Result<RunPlan, String>, ExpectedError> {
    let run_id = match &args.run_id {
        Some(id) => {
            RunId::parse(id).map_err(|e| ExpectedError::InvalidInput(format!("--run-id: {e}")))?
        }
        None => RunId::generate(),
    };
    if args.pods.allow_privileged_pods && !args.local {
        return Err(ExpectedError::InvalidInput(
            "--allow-privileged-pods needs --local: it is an option of the local cluster".into(),
        ));
    }
    if !args.emulation.is_empty() && !args.local {
        return Err(ExpectedError::InvalidInput(
            "--emulate needs --local: it is an option of the local cluster".into(),
        ));
    }
    let loaded = crate::scenario::load_paths(
        &diagnostics::paths_or_default(&args.paths),
        &crate::hosts::local_cluster(),
    );
    let counts = diagnostics::print(&loaded, args.deny_warnings);
    diagnostics::write_sarif(args.sarif.as_deref(), &loaded, args.deny_warnings)?;
    if counts.errors > 0 {
        let failed = RunResult {
            run_id: run_id.to_string(),
            error: RunError::InvalidInput {
                summary: diagnostics::summary(counts),
            }
            .into(),
            problems: problems(&loaded, args.deny_warnings),
            ..RunResult::default()
        };
        write_reports(&failed, &reports(args))?;
        return Ok(Err(diagnostics::summary(counts)));
    }
    Ok(Ok(RunPlan {
        scenarios: overridden(loaded.scenarios, args),
        target: target(args),
        config: config(args, run_id),
        reports: reports(args),
        results: args.results.plan(),
        verbosity: match (args.quiet, args.verbose) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        },
    }))
}

/// The scenarios with `--timeout` and `--deny` applied to every probe.
fn overridden(mut scenarios: Vec<Scenario>, args: &RunArgs) -> Vec<Scenario> {
    for probe in scenarios.iter_mut().flat_map(|s| s.probes.iter_mut()) {
        if let Some(timeout) = args.timeout {
            probe.timeout = timeout;
        }
        if let Some(deny) = args.deny {
            probe.deny = deny.into();
        }
    }
    scenarios
}

fn target(args: &RunArgs) -> Target {
    if args.local {
        Target::Local(LocalTarget {
            network: args.network.clone(),
            namespace_deletion: args.namespace_deletion,
            pods: args.pods,
            emulation: args.emulation.clone(),
        })
    } else {
        Target::Cluster(ClusterTarget {
            kubeconfig: args.kubeconfig.clone(),
            context: args.context.clone(),
            connect_timeout: args.connect_timeout,
        })
    }
}

fn config(args: &RunArgs, run_id: RunId) -> RunConfig {
    RunConfig {
        run_id,
        probe_pods: args.probe_pods.options(),
        probing: ProbingOptions::new(args.settle, usize::from(args.parallel)),
        limits: RunLimits::new(args.pod_timeout, args.namespace_wait),
        keep: args.keep,
        wait_cleanup: args.wait_cleanup,
        share_namespaces: args.share_namespaces,
        cleanup_command: CleanupCommand {
            kubeconfig: args.kubeconfig.clone(),
            context: args.context.clone(),
        },
    }
}

/// Runs the plan: against a cluster, also where the reports go when `--results-configmap`
/// asks; a cluster configuration that is invalid input (a kubeconfig that is missing or wrong)
/// creates nothing.
async fn execute_plan(plan: &RunPlan, stop: &dyn StopRequests) -> Executed {
    let progress = Progress::new(plan.verbosity);
    let scenarios = plan.scenarios.clone();
    let mut executed = Executed {
        result: RunResult::default(),
        invalid_target: false,
        kept: None,
        results: None,
    };
    match &plan.target {
        Target::Cluster(target) => match connect(target).await {
            Ok(connected) => {
                let cluster = describe_cluster(&connected.server, target);
                let sink = plan.results.as_ref().map(|results| ResultsSink {
                    client: connected.client.clone(),
                    target: results.target(&connected.client),
                    run_id: plan.config.run_id.clone(),
                });
                let results_namespace = sink.as_ref().map(|s| s.target.namespace.as_str());
                let allowed = permitted(&connected.client, &scenarios, results_namespace).await;
                if let Err(refused) = allowed {
                    let mut failed = setup_failed(plan, RunError::Permissions(refused));
                    failed.error.name_server(&connected.server, &cluster);
                    progress.finish();
                    executed.result = failed;
                    return executed;
                }
                let mut result = execute(
                    &connected.client,
                    cluster.clone(),
                    scenarios,
                    &plan.config,
                    &progress,
                    stop,
                )
                .await;
                result.error.name_server(&connected.server, &cluster);
                executed.result = result;
                executed.results = sink;
            }
            Err(error) => {
                (executed.result, executed.invalid_target) = connect_failed(plan, error);
            }
        },
        Target::Local(local) => {
            let (result, left) = run_local(&plan.config, local, scenarios, &progress, stop).await;
            executed.result = result;
            executed.kept = left;
        }
    }
    progress.finish();
    executed
}

/// Checks the run's permissions (with those of the results ConfigMaps in `results`) before
/// anything is created; notes what it goes without.
async fn permitted(
    client: &crate::k8s::Client,
    scenarios: &[Scenario],
    results: Option<&str>,
) -> Result<(), PermissionError> {
    for note in super::preflight::check_run_permissions(client, scenarios, results).await? {
        eprintln!("note: {note}");
    }
    Ok(())
}

fn connect_failed(plan: &RunPlan, error: ConnectError) -> (RunResult, bool) {
    if error.is_invalid_input() {
        (setup_failed(plan, RunError::InvalidTarget(error)), true)
    } else {
        (setup_failed(plan, RunError::Unreachable(error)), false)
    }
}

/// The API server and where its address came from.
fn describe_cluster(server: &str, target: &ClusterTarget) -> String {
    match (&target.kubeconfig, &target.context) {
        (Some(path), Some(context)) => {
            format!(
                "{server} (kubeconfig {}, context {context})",
                path.display()
            )
        }
        (Some(path), None) => format!("{server} (kubeconfig {})", path.display()),
        (None, Some(context)) => format!("{server} (context {context})"),
        (None, None) => server.to_owned(),
    }
}

fn setup_failed(plan: &RunPlan, error: RunError) -> RunResult {
    RunResult {
        run_id: plan.config.run_id.to_string(),
        error: error.into(),
        ..RunResult::default()
    }
}

fn reports(args: &RunArgs) -> Reports {
    Reports {
        junit: args.junit.clone(),
        json: args.json.clone(),
        summary: args.summary.clone(),
        html: args.html.clone(),
    }
}

/// The input's errors (with `deny_warnings`, also its lints), for the reports of a run that
/// stopped before it started.
fn problems(loaded: &crate::scenario::Loaded, deny_warnings: bool) -> Vec<InputProblem> {
    let mut problems: Vec<InputProblem> = loaded
        .diagnostics
        .iter()
        .filter(|d| deny_warnings || d.severity == crate::scenario::Severity::Error)
        .map(|d| {
            let at = SourceLine::new(&d.location.file, d.location.line);
            InputProblem {
                kind: crate::results::ProblemKind::InvalidInput,
                file: at.file,
                line: at.line,
                column: d.location.column,
                path: d.path.clone(),
                message: d.message.clone(),
            }
        })
        .collect();
    problems.dedup_by(|a, b| {
        (&a.file, a.line, a.column, &a.message) == (&b.file, b.line, b.column, &b.message)
    });
    problems
}

fn write_reports(result: &RunResult, reports: &Reports) -> Result<(), ExpectedError> {
    if let Some(path) = &reports.junit {
        report_file::write(path, &junit::render(result))?;
    }
    if let Some(path) = &reports.json {
        report_file::write(path, &json::render(result))?;
    }
    if let Some(path) = &reports.summary {
        report_file::write(path, &summary::render(result))?;
    }
    if let Some(path) = &reports.html {
        report_file::write(path, &html::render(result))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
