//! The canary: a client and a server probe pod, the same restricted pods a run creates,
//! labelled with a fresh run id (so `netverdict cleanup --run-id` finds them), in a namespace of
//! their own or, with `--canary-namespace`, in an existing one. Their start shows that the probe
//! image starts (`probe-image`); a default-deny on the server then shows whether the network
//! enforces NetworkPolicy (`networkpolicy-enforcement`). What it needs is checked first: without
//! it the canary is skipped, saying why. Everything it created is deleted at the end, also after
//! an error or a Ctrl-C (a second one aborts the cleanup), and its own namespace is waited for
//! until it is gone (`cleanup`); an existing namespace is left alone.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netverdict_engine::{Protocol, ServedPort};
use netverdict_probes::{ProbeRequest, ProbeSpec};
use serde_json::json;
use tokio::sync::Semaphore;

use super::enforcement::{Enforcement, EnforcementError, judge_enforcement};
use super::pod_security::{Labelled, Target};
use super::targets::read_labels;
use super::{Check, Status};
use crate::cluster::{
    Checked, CreateError, Limits, NamespaceError, PodKey, PodStartError, ProbePodOptions,
    ProbePodSpec, RUN_KEY, RunId, canary_needs, check_needs, create_pod, create_policy, delete_run,
    ensure_namespace, missing, start_hint, wait_all_gone, wait_started,
};
use crate::k8s::{Client, NetworkPolicy};
use crate::run::{EXEC_SLACK, Job, KubeExec, shutdown_signal};
use crate::scenario::PodRef;

/// The port the server canary serves (above 1024: no sysctl needed).
const PORT: u16 = 8080;
/// The label that tells the two canaries apart.
const ROLE: &str = "netverdict.io/preflight";
/// How long deleting the canary and waiting for its namespace to go may take.
const CLEANUP_LIMIT: Duration = Duration::from_secs(90);

/// How the canary runs.
#[derive(Clone, Debug)]
pub(crate) struct CanaryOptions {
    pub(crate) pods: ProbePodOptions,
    /// How long the default-deny may take to close the connection (also, at least 10s, how long
    /// the connection may take to open before it).
    pub(crate) settle: Duration,
    /// How long the canary pods may take to start.
    pub(crate) pod_timeout: Duration,
    /// An existing namespace to put the canary in (`--canary-namespace`), rather than one of
    /// its own.
    pub(crate) namespace: Option<String>,
}

/// What the canary shows: the permissions it needs, its checks, and the canary namespace's
/// labels as the cluster has them.
pub(crate) struct CanaryChecks {
    pub(crate) permissions: Vec<Checked>,
    pub(crate) checks: Vec<Check>,
    pub(crate) namespace: Option<Target>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error("namespace {0} (--canary-namespace) does not exist")]
    NoNamespace(String),
    #[error(transparent)]
    Create(#[from] CreateError),
}

/// The canary's objects: its run, namespace and pods.
pub(crate) struct Canary {
    run: RunId,
    namespace: String,
    /// The canary creates its namespace and deletes it; else the namespace is someone's.
    owns_namespace: bool,
    /// What its objects' names start with: in someone's namespace they name the canary.
    prefix: String,
    client: PodKey,
    server: PodKey,
}

impl Canary {
    /// Preflight's canary, with a fresh run id: in a namespace of its own, or (with
    /// `--canary-namespace`) in `namespace`, its objects' names then naming it.
    fn for_preflight(namespace: Option<&str>) -> Canary {
        let run = RunId::generate();
        match namespace {
            Some(namespace) => {
                let prefix = format!("netverdict-preflight-{run}-");
                Canary::new(run, namespace.to_owned(), false, prefix)
            }
            None => {
                let namespace = format!("netverdict-preflight-{run}");
                Canary::new(run, namespace, true, String::new())
            }
        }
    }

    /// A run's canary, with the run's id, in `namespace`: one of its own (`owns_namespace`) or
    /// one of the run's. Its names start with `netverdict-canary-`, unlikely to be a scenario's.
    pub(crate) fn for_run(run: RunId, namespace: String, owns_namespace: bool) -> Canary {
        let prefix = "netverdict-canary-".to_owned();
        Canary::new(run, namespace, owns_namespace, prefix)
    }

    fn new(run: RunId, namespace: String, owns_namespace: bool, prefix: String) -> Canary {
        let key = |name: &str| PodKey {
            namespace: namespace.clone(),
            name: format!("{prefix}{name}"),
        };
        Canary {
            client: key("client"),
            server: key("server"),
            namespace,
            owns_namespace,
            prefix,
            run,
        }
    }

    fn pod(
        &self,
        key: &PodKey,
        role: &str,
        ports: Vec<ServedPort>,
        options: &CanaryOptions,
    ) -> ProbePodSpec {
        ProbePodSpec {
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            labels: BTreeMap::from([(ROLE.to_owned(), role.to_owned())]),
            ports,
            node: None,
            options: options.pods.clone(),
            // The pods die on their own if netverdict is killed before its cleanup.
            lifetime: options.pod_timeout + options.settle * 2 + Duration::from_secs(120),
            mimic: None,
        }
    }

    /// A default-deny of all ingress to the server canary.
    fn deny(&self) -> NetworkPolicy {
        serde_json::from_value(json!({
            "metadata": {
                "name": format!("{}deny-ingress-to-server", self.prefix),
                "namespace": self.namespace,
            },
            "spec": {
                "podSelector": {"matchLabels": {ROLE: "server", RUN_KEY: self.run.as_str()}},
                "policyTypes": ["Ingress"],
            },
        }))
        .unwrap_or_else(|error| unreachable!("a valid NetworkPolicy: {error}"))
    }
}

/// Checks what the canary needs, runs it and returns its checks: `probe-image`,
/// `networkpolicy-enforcement` and `cleanup`; or, when it may not run, the first two skipped
/// saying why.
pub(crate) async fn canary_checks(client: &Client, options: &CanaryOptions) -> CanaryChecks {
    let canary = Canary::for_preflight(options.namespace.as_deref());
    // Without `get namespaces` it is taken to exist: a missing one fails the first create.
    if !canary.owns_namespace && matches!(read_labels(client, &canary.namespace).await, Ok(None)) {
        let error = SetupError::NoNamespace(canary.namespace.clone());
        return CanaryChecks {
            permissions: Vec::new(),
            checks: setup_failed(&options.pods.image, &error),
            namespace: None,
        };
    }
    let permissions = canary_permissions(client, &canary).await;
    let lacking = missing(&permissions);
    if !lacking.is_empty() {
        let why = skipped_because(&canary, &lacking);
        let skipped = |check| Check::new(check, Status::Skipped, why.clone());
        let namespace = if canary.owns_namespace {
            None
        } else {
            Some(labels_of(client, &canary).await)
        };
        return CanaryChecks {
            checks: vec![skipped("probe-image"), skipped("networkpolicy-enforcement")],
            permissions,
            namespace,
        };
    }
    let work = run_canary(client, &canary, options);
    tokio::pin!(work);
    let (mut checks, namespace) = tokio::select! {
        done = &mut work => done,
        signal = shutdown_signal() => {
            let why = format!("could not judge: interrupted by {signal} before the canary finished");
            (vec![
                Check::new("probe-image", Status::Failed, why.clone()),
                Check::new("networkpolicy-enforcement", Status::Failed, why),
            ], None)
        }
    };
    let cleanup = clean_up(client, &canary);
    let cleanup = tokio::select! {
        check = cleanup => check,
        signal = shutdown_signal() => Check::new(
            "cleanup",
            Status::Failed,
            format!(
                "aborted by a second {signal}: remove what is left with `netverdict cleanup --run-id {}`",
                canary.run
            ),
        ),
    };
    checks.push(cleanup.with("runId", canary.run.as_str().into()));
    CanaryChecks {
        permissions,
        checks,
        namespace,
    }
}

/// What the canary needs, checked: those of its namespace first, when it makes one, and no
/// more if they are lacking (nothing else matters then). A review that fails leaves the canary
/// to meet the same failure.
async fn canary_permissions(client: &Client, canary: &Canary) -> Vec<Checked> {
    let (cluster, namespaced): (Vec<_>, Vec<_>) =
        canary_needs(&canary.namespace, canary.owns_namespace)
            .into_iter()
            .partition(|need| need.namespace.is_none());
    let mut permissions = check_needs(client, cluster).await.unwrap_or_default();
    if canary.owns_namespace && !missing(&permissions).is_empty() {
        return permissions;
    }
    permissions.extend(check_needs(client, namespaced).await.unwrap_or_default());
    permissions
}

/// Why the canary is skipped: the permissions it lacks, and what to do.
fn skipped_because(canary: &Canary, lacking: &[&Checked]) -> String {
    let names: Vec<String> = lacking.iter().map(|c| c.need.describe()).collect();
    let names = names.join(", ");
    if canary.owns_namespace && lacking.iter().any(|c| c.need.namespace.is_none()) {
        format!(
            "the canary is skipped: it needs a namespace of its own, and this identity lacks {names}; put it in an existing namespace with --canary-namespace NS"
        )
    } else {
        format!(
            "the canary is skipped: this identity lacks {names} (the permission warnings say which rules to add)"
        )
    }
}

/// Sets up the canary and probes through it; the checks, and the canary namespace's labels.
async fn run_canary(
    client: &Client,
    canary: &Canary,
    options: &CanaryOptions,
) -> (Vec<Check>, Option<Target>) {
    let image = options.pods.image.clone();
    let setup = set_up(client, canary, options).await;
    let namespace = match &setup {
        Err(SetupError::Namespace(_) | SetupError::NoNamespace(_)) => None,
        _ => Some(labels_of(client, canary).await),
    };
    if let Err(error) = setup {
        return (setup_failed(&image, &error), namespace);
    }
    let started = Instant::now();
    let server = match wait_for_pods(client, canary, options).await {
        Ok(server) => server,
        Err(error) => {
            return (
                vec![
                    image_failed(&image, start_failure(&error)),
                    cannot_judge("the canary pods did not start (see probe-image)".to_owned()),
                ],
                namespace,
            );
        }
    };
    let image_check = Check::new(
        "probe-image",
        Status::Ok,
        format!(
            "the probe image {image} starts: the canary pods were up after {} ms",
            started.elapsed().as_millis()
        ),
    )
    .with("image", image.into());
    let enforcement = enforcement(client, canary, server, options).await;
    (vec![image_check, enforcement], namespace)
}

/// Waits until the canary pods have started; the server's address.
async fn wait_for_pods(
    client: &Client,
    canary: &Canary,
    options: &CanaryOptions,
) -> Result<IpAddr, PodStartError> {
    let wanted = BTreeMap::from([
        (canary.server.clone(), true),
        (canary.client.clone(), false),
    ]);
    let placements =
        wait_started(client, &canary.run, &wanted, options.pod_timeout, |_, _| {}).await?;
    let Some(server) = placements.get(&canary.server) else {
        unreachable!("wait_started returns every pod it waited for")
    };
    Ok(server.ip)
}

/// Why a run's canary could not judge enforcement.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CanaryError {
    #[error("the canary could not be set up: {0}")]
    Setup(#[from] SetupError),
    #[error("the canary pods did not start: {}", start_failure(.0))]
    Start(#[from] PodStartError),
    #[error(transparent)]
    Judge(#[from] EnforcementError),
}

/// A run's canary: sets it up (its objects carry the run's labels, and the run's cleanup
/// removes them), waits for its pods and judges whether the network enforces NetworkPolicy.
///
/// # Errors
/// The canary could not be set up or started, or its probes could not judge.
pub(crate) async fn enforcement_of(
    client: &Client,
    canary: &Canary,
    options: &CanaryOptions,
) -> Result<Enforcement, CanaryError> {
    set_up(client, canary, options).await?;
    let server = wait_for_pods(client, canary, options).await?;
    Ok(judge(client, canary, server, options).await?)
}

/// The canary's checks when it could not be set up.
fn setup_failed(image: &str, error: &SetupError) -> Vec<Check> {
    let image_check = match error {
        SetupError::Namespace(_) | SetupError::NoNamespace(_) => Check::new(
            "probe-image",
            Status::Skipped,
            format!("the canary could not be set up: {error}"),
        ),
        SetupError::Create(_) => image_failed(image, error.to_string()),
    };
    let why = format!("the canary could not be set up: {error}");
    vec![image_check, cannot_judge(why)]
}

async fn set_up(
    client: &Client,
    canary: &Canary,
    options: &CanaryOptions,
) -> Result<(), SetupError> {
    if canary.owns_namespace {
        ensure_namespace(
            client,
            &canary.run,
            &canary.namespace,
            &BTreeMap::new(),
            Duration::ZERO,
            &|_| {},
        )
        .await?;
    }
    let served = vec![ServedPort {
        name: None,
        port: PORT,
        protocol: Protocol::Tcp,
    }];
    for (key, role, ports) in [
        (&canary.server, "server", served),
        (&canary.client, "client", Vec::new()),
    ] {
        let pod = canary.pod(key, role, ports, options).to_pod(&canary.run);
        create_pod(client, &canary.run, &pod).await?;
    }
    Ok(())
}

/// The canary namespace's labels, as the cluster stored them (a cluster may add Pod Security
/// labels to every new namespace).
async fn labels_of(client: &Client, canary: &Canary) -> Target {
    let labels = match read_labels(client, &canary.namespace).await {
        Ok(Some(labels)) if canary.owns_namespace => Labelled::New(labels),
        Ok(Some(labels)) => Labelled::Existing(labels),
        Ok(None) => Labelled::Unreadable("it is gone".to_owned()),
        Err(why) => Labelled::Unreadable(why.to_string()),
    };
    Target {
        namespace: canary.namespace.clone(),
        labels,
        low_port_pods: Vec::new(),
    }
}

fn image_failed(image: &str, why: String) -> Check {
    Check::new(
        "probe-image",
        Status::Failed,
        format!("the probe image {image} does not start: {why}"),
    )
    .with("image", image.into())
}

/// A pod start failure on one line, with the hint for it.
fn start_failure(error: &PodStartError) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default().to_owned();
    match error {
        PodStartError::CannotStart { reason, .. } => match start_hint(reason) {
            Some(hint) => format!("{first}; hint: {hint}"),
            None => first,
        },
        _ => first,
    }
}

fn cannot_judge(why: String) -> Check {
    Check::new(
        "networkpolicy-enforcement",
        Status::Failed,
        format!("could not judge: {why}"),
    )
    .with("enforced", serde_json::Value::Null)
}

/// Probes from the client canary to the server canary, applies the default-deny and judges.
async fn judge(
    client: &Client,
    canary: &Canary,
    server: IpAddr,
    options: &CanaryOptions,
) -> Result<Enforcement, EnforcementError> {
    let exec = KubeExec::new(client.clone(), Arc::new(Semaphore::new(1)), EXEC_SLACK);
    let job = Job {
        from: PodRef::new(&canary.client.namespace, &canary.client.name),
        request: ProbeRequest {
            id: "canary".to_owned(),
            timeout_ms: 1000,
            probe: ProbeSpec::Tcp {
                host: server.to_string(),
                port: PORT,
            },
        },
    };
    let open_limit = options.settle.max(Duration::from_secs(10));
    let policy = canary.deny();
    let deny = create_policy(client, &canary.run, &policy);
    judge_enforcement(&exec, &job, open_limit, options.settle, deny).await
}

async fn enforcement(
    client: &Client,
    canary: &Canary,
    server: IpAddr,
    options: &CanaryOptions,
) -> Check {
    let settle = humantime::format_duration(options.settle);
    let (status, enforced, message) = match judge(client, canary, server, options).await {
        Ok(Enforcement::Enforced { after }) => (
            Status::Ok,
            Some(true),
            format!(
                "NetworkPolicy is enforced (a default-deny closed an open connection after {} ms)",
                after.as_millis()
            ),
        ),
        Ok(Enforcement::NotEnforced) => (
            Status::Failed,
            Some(false),
            format!(
                "NetworkPolicy is not enforced: a default-deny did not close an open connection within {settle}"
            ),
        ),
        Err(error) => return cannot_judge(error.to_string()),
    };
    Check::new("networkpolicy-enforcement", status, message)
        .with("enforced", enforced.into())
        .with(
            "settleMs",
            u64::try_from(options.settle.as_millis())
                .unwrap_or(u64::MAX)
                .into(),
        )
}

/// Deletes the canary's objects and waits until its namespace is gone, within
/// [`CLEANUP_LIMIT`].
async fn clean_up(client: &Client, canary: &Canary) -> Check {
    let namespaces = [canary.namespace.clone()];
    // Someone's namespace is left alone: only the canary's objects in it go.
    let created: &[String] = if canary.owns_namespace {
        &namespaces
    } else {
        &[]
    };
    let work = async {
        let cleaned = delete_run(
            client,
            &canary.run,
            (&namespaces, &[]),
            created,
            Limits::default(),
        )
        .await;
        let gone = if cleaned.failed.is_empty() && canary.owns_namespace {
            wait_all_gone(client, &namespaces, Duration::from_secs(60))
                .await
                .err()
                .map(|e| e.to_string())
        } else {
            None
        };
        (cleaned, gone)
    };
    let (status, message) = match tokio::time::timeout(CLEANUP_LIMIT, work).await {
        Ok((cleaned, None)) if cleaned.failed.is_empty() && canary.owns_namespace => (
            Status::Ok,
            format!(
                "deleted the canary's {} objects and namespace {} is gone",
                cleaned.deleted.len(),
                canary.namespace
            ),
        ),
        Ok((cleaned, None)) if cleaned.failed.is_empty() => (
            Status::Ok,
            format!(
                "deleted the canary's {} objects from namespace {}, which is left in place",
                cleaned.deleted.len(),
                canary.namespace
            ),
        ),
        Ok((cleaned, gone)) => (
            Status::Failed,
            format!(
                "{}; remove what is left with `netverdict cleanup --run-id {}`",
                cleaned
                    .failed
                    .iter()
                    .map(ToString::to_string)
                    .chain(gone)
                    .collect::<Vec<_>>()
                    .join("; "),
                canary.run
            ),
        ),
        Err(_) => (
            Status::Failed,
            format!(
                "not done within {}; remove what is left with `netverdict cleanup --run-id {}`",
                humantime::format_duration(CLEANUP_LIMIT),
                canary.run
            ),
        ),
    };
    Check::new("cleanup", status, message).with("namespace", canary.namespace.clone().into())
}
