//! Readiness probes (exec, tcpSocket, httpGet), run from inside the pod's network namespace
//! with the kubelet's defaults: periodSeconds 10, timeoutSeconds 1, failureThreshold 3,
//! successThreshold 1. gRPC probes always fail (not emulated).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use netverdict_engine::{Quoted, QuotedList};
use tokio::sync::watch;

use crate::kubelet::{RunInfo, resolve_program};

/// Where probes run.
pub(crate) struct Target {
    pub info: Arc<RunInfo>,
    pub container: Container,
    pub netverdict_bin: PathBuf,
}

fn secs(v: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(u64::try_from(v.unwrap_or(default).max(0)).unwrap_or(0))
}

/// Probes until aborted, publishing readiness; `failed` is called with each failure's message.
pub(crate) async fn readiness_loop(
    probe: Probe,
    target: Target,
    ready: watch::Sender<bool>,
    failed: impl Fn(String) + Send + 'static,
) {
    tokio::time::sleep(secs(probe.initial_delay_seconds, 0)).await;
    let period = secs(probe.period_seconds, 10).max(Duration::from_secs(1));
    let timeout = secs(probe.timeout_seconds, 1).max(Duration::from_secs(1));
    let failure_threshold = probe.failure_threshold.unwrap_or(3).max(1);
    let success_threshold = probe.success_threshold.unwrap_or(1).max(1);
    let (mut successes, mut failures) = (0, 0);
    let mut interval = tokio::time::interval(period);
    loop {
        interval.tick().await;
        match probe_once(&probe, &target, timeout).await {
            Ok(()) => {
                failures = 0;
                successes += 1;
                if successes >= success_threshold {
                    ready.send_if_modified(|r| !std::mem::replace(r, true));
                }
            }
            Err(message) => {
                successes = 0;
                failures += 1;
                failed(message);
                if failures >= failure_threshold {
                    ready.send_if_modified(|r| std::mem::replace(r, false));
                }
            }
        }
    }
}

fn port_of(port: &IntOrString, container: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| format!("port {} not found in the container", Quoted(name))),
    }
}

fn host_of(host: Option<&String>, pod_ip: Ipv4Addr) -> Result<IpAddr, String> {
    match host {
        None => Ok(IpAddr::V4(pod_ip)),
        Some(h) if h.is_empty() => Ok(IpAddr::V4(pod_ip)),
        Some(h) => h
            .parse()
            .map_err(|_| format!("host {} is not an address", Quoted(h))),
    }
}

/// One probe attempt; `Err` holds the message a kubelet would report.
async fn probe_once(probe: &Probe, target: &Target, timeout: Duration) -> Result<(), String> {
    let pod_ip = target.info.network.ip;
    if let Some(exec) = &probe.exec {
        let argv = exec.command.clone().unwrap_or_default();
        let Some(first) = argv.first() else {
            return Err("exec probe without a command".into());
        };
        let path_env = target
            .info
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str());
        let program = resolve_program(
            first,
            path_env.unwrap_or("/usr/bin:/bin"),
            &target.netverdict_bin,
        )?;
        let mut cmd = target.info.command(&program);
        cmd.args(&argv[1..])
            .env_clear()
            .envs(
                target
                    .info
                    .env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| format!("exec: {e}"))?;
        return match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Err(_) => Err(format!("command {} timed out", QuotedList(&argv))),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(out)) if out.status.success() => Ok(()),
            Ok(Ok(out)) => {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                Err(text.trim().to_owned())
            }
        };
    }
    let netns = target.info.network.netns.clone();
    if let Some(tcp) = &probe.tcp_socket {
        let addr = SocketAddr::new(
            host_of(tcp.host.as_ref(), pod_ip)?,
            port_of(&tcp.port, &target.container)?,
        );
        return tokio::task::spawn_blocking(move || {
            netns.run_in(move || TcpStream::connect_timeout(&addr, timeout).map(drop))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("dial tcp {addr}: {e}"));
    }
    if let Some(http) = &probe.http_get {
        let addr = SocketAddr::new(
            host_of(http.host.as_ref(), pod_ip)?,
            port_of(&http.port, &target.container)?,
        );
        let path = http.path.clone().unwrap_or_else(|| "/".into());
        let url = format!("http://{addr}{path}");
        let status = tokio::task::spawn_blocking(move || {
            netns.run_in(move || {
                let mut s = TcpStream::connect_timeout(&addr, timeout)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                let req = format!(
                    "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n\r\n"
                );
                s.write_all(req.as_bytes())?;
                let mut head = [0u8; 64];
                let mut n = 0;
                while n < 12 {
                    let got = s.read(&mut head[n..])?;
                    if got == 0 {
                        break;
                    }
                    n += got;
                }
                let line = String::from_utf8_lossy(&head[..n]).into_owned();
                Ok(line.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok()))
            })
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("Get {}: {e}", Quoted(&url)))?;
        return match status {
            Some(code) if (200..400).contains(&code) => Ok(()),
            Some(code) => Err(format!("HTTP probe failed with statuscode: {code}")),
            None => Err(format!("Get {}: malformed HTTP response", Quoted(&url))),
        };
    }
    Err("probe type not supported".into())
}
