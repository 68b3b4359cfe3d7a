//! The test cluster's probe agent: answers every exec of `netverdict probe-batch` with a record
//! per probe and `done`, as the real agent's wire format says. A probe's outcome is the
//! script's, else the network's: the engine's decision over the namespaces, running pods and
//! policies in the store, a served port answering and a denied connection timing out.

use std::net::IpAddr;
use std::sync::Arc;

use netverdict_apiserver::{ApiError, ExecHandler, ExecProcess, Resource, Selection, Store};
use netverdict_engine::{Cluster, Connection, Endpoint, Namespace, Pod, Policy, Protocol};
use netverdict_probes::{
    AgentLine, BatchRequest, BatchSummary, Exit, Outcome, ProbeRecord, ProbeSpec, Tool,
};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::{ProbeCall, Reply, Script};
use crate::k8s::NetworkPolicy;
use crate::run::AGENT_COMMAND;

pub(super) struct Agent {
    store: Store,
    script: Arc<Script>,
}

impl Agent {
    pub(super) fn new(store: Store, script: Arc<Script>) -> Agent {
        Agent { store, script }
    }
}

#[async_trait::async_trait]
impl ExecHandler for Agent {
    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        _container: Option<&str>,
        command: Vec<String>,
        _stdin: bool,
    ) -> Result<ExecProcess, ApiError> {
        let object = self.store.get(Resource::Pods, Some(namespace), pod)?;
        if object["status"]["phase"] != "Running"
            || object["metadata"]["deletionTimestamp"].is_string()
        {
            return Err(ApiError::bad_request(format!("pod {pod} is not running")));
        }
        let (stdin_writer, stdin) = tokio::io::duplex(64 * 1024);
        let (stdout_writer, stdout) = tokio::io::duplex(1024 * 1024);
        let (stderr_writer, stderr) = tokio::io::duplex(4096);
        let (exit_tx, exit) = tokio::sync::oneshot::channel();
        let batch = Batch {
            store: self.store.clone(),
            script: self.script.clone(),
            pod: format!("{namespace}/{pod}"),
        };
        tokio::spawn(async move {
            let code = batch
                .run(&command, stdin, stdout_writer, stderr_writer)
                .await;
            let _ = exit_tx.send(code);
        });
        Ok(ExecProcess {
            stdin: Some(Box::new(stdin_writer)),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            exit: Box::pin(async move {
                exit.await
                    .map_err(|_| ApiError::internal("the probe agent went away"))
            }),
        })
    }
}

/// One exec of the agent in `pod`.
struct Batch {
    store: Store,
    script: Arc<Script>,
    pod: String,
}

impl Batch {
    /// Reads the request, writes the records and returns the exit code.
    async fn run(
        &self,
        command: &[String],
        stdin: impl AsyncRead + Unpin,
        mut stdout: impl AsyncWrite + Unpin,
        mut stderr: impl AsyncWrite + Unpin,
    ) -> i32 {
        if command != AGENT_COMMAND {
            let _ = stderr.write_all(b"exec: command not found\n").await;
            return 127;
        }
        let mut stdin = BufReader::new(stdin);
        let mut line = String::new();
        let request = match stdin.read_line(&mut line).await {
            Ok(_) => serde_json::from_str::<BatchRequest>(&line),
            Err(error) => return io_failed(&mut stderr, &error).await,
        };
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                let rejected = AgentLine::Rejected {
                    error: error.to_string(),
                };
                let _ = write_line(&mut stdout, &rejected).await;
                return 2;
            }
        };
        let round = self.script.received(&self.pod, &request.probes);
        let mut hangs = false;
        for probe in &request.probes {
            let call = ProbeCall {
                pod: self.pod.clone(),
                request: probe.clone(),
                round,
            };
            let reply = self
                .script
                .scripted(&call)
                .unwrap_or_else(|| Reply::Outcome(network(&self.store, &self.pod, &probe.probe)));
            match reply {
                Reply::Outcome(outcome) => {
                    let line = AgentLine::Record(record(&probe.id, &probe.probe, outcome));
                    if let Err(error) = write_line(&mut stdout, &line).await {
                        return io_failed(&mut stderr, &error).await;
                    }
                }
                Reply::Hang => hangs = true,
            }
        }
        if hangs {
            // Until the runner goes away, which closes stdin.
            let mut rest = Vec::new();
            let _ = stdin.read_to_end(&mut rest).await;
            return 1;
        }
        let done = AgentLine::Done(BatchSummary {
            probes: request.probes.len(),
            elapsed_ms: 1,
            concurrency: request.probes.len(),
        });
        match write_line(&mut stdout, &done).await {
            Ok(()) => 0,
            Err(error) => io_failed(&mut stderr, &error).await,
        }
    }
}

async fn write_line(out: &mut (impl AsyncWrite + Unpin), line: &AgentLine) -> std::io::Result<()> {
    let mut json = serde_json::to_vec(line).map_err(std::io::Error::other)?;
    json.push(b'\n');
    out.write_all(&json).await?;
    out.flush().await
}

async fn io_failed(stderr: &mut (impl AsyncWrite + Unpin), error: &std::io::Error) -> i32 {
    let _ = stderr
        .write_all(format!("probe-batch: {error}\n").as_bytes())
        .await;
    1
}

fn record(id: &str, spec: &ProbeSpec, outcome: Outcome) -> ProbeRecord {
    let tool = match spec {
        ProbeSpec::Tcp { .. } | ProbeSpec::Udp { .. } => Tool::Nc,
        ProbeSpec::Http { .. } => Tool::Curl,
        ProbeSpec::Dns { .. } => Tool::Nslookup,
    };
    ProbeRecord {
        id: id.to_owned(),
        kind: spec.kind(),
        tool,
        argv: vec![tool.program().to_owned()],
        stdin: None,
        exit: Exit::Code(i32::from(!matches!(
            outcome,
            Outcome::Connected | Outcome::HttpStatus { .. }
        ))),
        elapsed_ms: 1,
        deadline_ms: None,
        stdout: String::new(),
        stderr: String::new(),
        outcome,
        addresses: Vec::new(),
        responder: None,
    }
}

/// What the network does with `spec` from pod `from` (`namespace/name`): the engine decides over
/// the store's objects; an allowed connection to a pod is answered when the pod serves the port
/// (refused when not), a denied one or one to an address where no pod runs times out.
fn network(store: &Store, from: &str, spec: &ProbeSpec) -> Outcome {
    let cluster = snapshot(store);
    let (namespace, name) = from.split_once('/').unwrap_or_default();
    let Some(source) = cluster.pod(namespace, name) else {
        return Outcome::error(format!("pod {from} does not run"));
    };
    let (host, port, protocol, http) = match spec {
        ProbeSpec::Tcp { host, port } => (host, *port, Protocol::Tcp, false),
        ProbeSpec::Udp { host, port } => (host, *port, Protocol::Udp, false),
        ProbeSpec::Http { host, port, .. } => (host, *port, Protocol::Tcp, true),
        ProbeSpec::Dns { .. } => return Outcome::error("the test cluster serves no DNS"),
    };
    let Ok(ip) = host.parse::<IpAddr>() else {
        return Outcome::error(format!("the test cluster resolves no names ({host})"));
    };
    let answer = |pod: &Pod| {
        let served = pod
            .ports
            .iter()
            .any(|p| p.port == port && p.protocol == protocol);
        match (served, http) {
            (false, _) => Outcome::Refused,
            (true, true) => Outcome::HttpStatus { code: 200 },
            (true, false) => Outcome::Connected,
        }
    };
    if ip.is_loopback() {
        return answer(source);
    }
    let target = cluster.pods.iter().find(|pod| pod.ips.contains(&ip));
    let connection = Connection {
        from: endpoint(source),
        to: target.map_or(Endpoint::Ip(ip), endpoint),
        port,
        protocol,
    };
    match (cluster.decide(&connection), target) {
        (Ok(decision), Some(target)) if decision.allowed => answer(target),
        (Ok(_), _) => Outcome::Timeout,
        (Err(error), _) => Outcome::error(error.to_string()),
    }
}

fn endpoint(pod: &Pod) -> Endpoint {
    Endpoint::Pod {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
    }
}

/// The engine's model of the store: its namespaces, running pods and valid policies.
fn snapshot(store: &Store) -> Cluster {
    let list = |resource| {
        store
            .list(resource, None, &Selection::default())
            .map(|(items, _)| items)
            .unwrap_or_default()
    };
    Cluster {
        namespaces: list(Resource::Namespaces)
            .iter()
            .map(|namespace| Namespace {
                name: text(namespace, "/metadata/name"),
                labels: labels(namespace),
            })
            .collect(),
        pods: list(Resource::Pods)
            .iter()
            .filter_map(running_pod)
            .collect(),
        policies: list(Resource::NetworkPolicies)
            .into_iter()
            .filter_map(|value| serde_json::from_value::<NetworkPolicy>(value).ok())
            .filter_map(|policy| Policy::from_k8s(&policy).ok())
            .collect(),
    }
}

fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn labels(value: &Value) -> netverdict_engine::Labels {
    value["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
        .collect()
}

/// A pod that runs, with its address and served ports; `None` for any other.
fn running_pod(pod: &Value) -> Option<Pod> {
    if pod["status"]["phase"] != "Running" || pod["metadata"]["deletionTimestamp"].is_string() {
        return None;
    }
    let ip = text(pod, "/status/podIP").parse().ok()?;
    let ports = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|container| container["ports"].as_array().into_iter().flatten())
        .filter_map(|port| {
            Some(netverdict_engine::ServedPort {
                name: port["name"].as_str().map(str::to_owned),
                port: u16::try_from(port["containerPort"].as_u64()?).ok()?,
                protocol: port["protocol"].as_str().unwrap_or("TCP").parse().ok()?,
            })
        })
        .collect();
    Some(Pod {
        namespace: text(pod, "/metadata/namespace"),
        name: text(pod, "/metadata/name"),
        labels: labels(pod),
        ips: vec![ip],
        ports,
        host_network: false,
    })
}
