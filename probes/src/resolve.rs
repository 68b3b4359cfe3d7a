//! By-name probes resolve first, within the probe's timeout. Every tool resolves a name its own
//! way (nc through the C resolver, which retries each search domain for seconds and can outlast
//! any timeout); resolving first with nslookup, ended at the probe's deadline, makes a name that
//! cannot be resolved a `dns-*` outcome in about one timeout, whatever the tool, and lets the
//! tool then connect to the address.

use std::net::IpAddr;
use std::time::Duration;

use crate::agent::{ToolRun, run_tool, watchdog};
use crate::classify::classify_timed;
use crate::command::ToolCommand;
use crate::wire::{Outcome, ProbeKind, ProbeRecord, ProbeRequest, ProbeSpec};

/// What resolving a probe's host gave.
pub(crate) enum Resolution {
    /// The host is an address already, or the probe is a DNS query itself.
    NotNeeded,
    /// The name resolved: connect to `address`. `note` says how, for the record's output.
    Address { address: IpAddr, note: String },
    /// The name did not resolve: this record (the resolver's command, output and `dns-*`
    /// outcome) is the probe's.
    Failed(Box<ProbeRecord>),
}

/// The host name of a TCP, UDP or HTTP probe; `None` for an address or a DNS probe.
fn host_name(spec: &ProbeSpec) -> Option<&str> {
    let host = match spec {
        ProbeSpec::Tcp { host, .. } | ProbeSpec::Udp { host, .. } => host,
        ProbeSpec::Http { host, .. } => host,
        ProbeSpec::Dns { .. } => return None,
    };
    host.parse::<IpAddr>().is_err().then_some(host.as_str())
}

/// Resolves the host of `request` with the pod's resolver, within the request's timeout.
pub(crate) async fn resolve_first(request: &ProbeRequest) -> Resolution {
    let Some(name) = host_name(&request.probe) else {
        return Resolution::NotNeeded;
    };
    // The pod's own names and hostAliases, which nslookup does not read; `localhost` is the
    // loopback address wherever /etc/hosts lacks it (RFC 6761), as for curl and glibc.
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let known = hosts_file_address(&hosts, name)
        .map(|address| (address, "/etc/hosts"))
        .or_else(|| loopback(name).map(|address| (address, "the loopback name")));
    if let Some((address, source)) = known {
        return Resolution::Address {
            address,
            note: format!("resolved {name} to {address}: {source}\n"),
        };
    }
    let lookup = ProbeRequest {
        id: request.id.clone(),
        timeout_ms: request.timeout_ms,
        probe: ProbeSpec::Dns {
            name: name.to_owned(),
            server: None,
            port: None,
            tcp: false,
        },
    };
    let mut command = match ToolCommand::build(&lookup, "") {
        Ok(command) => command,
        // The probe's own command refuses the same name, with its own message.
        Err(_) => return Resolution::NotNeeded,
    };
    let timeout = Duration::from_millis(request.timeout_ms.into());
    // The resolver may try every search domain in turn: the probe's deadline bounds them all.
    command.deadline = Some(timeout);
    let run = run_tool(&command, watchdog(timeout)).await;
    let (outcome, addresses) = lookup_outcome(&run, timeout);
    let address = addresses.iter().find(|a| a.is_ipv4()).or(addresses.first());
    match (outcome, address) {
        (Outcome::Connected, Some(address)) => Resolution::Address {
            address: *address,
            note: format!("resolved {name} to {address}: {}\n", command.render()),
        },
        (Outcome::Connected, None) => Resolution::Failed(Box::new(failed(
            request,
            name,
            command,
            run,
            Outcome::error(format!("{name} resolved to no address")),
        ))),
        (outcome, _) => Resolution::Failed(Box::new(failed(request, name, command, run, outcome))),
    }
}

/// What the lookup showed: its outcome (a timeout when the agent ended it) and the addresses.
fn lookup_outcome(run: &ToolRun, timeout: Duration) -> (Outcome, Vec<IpAddr>) {
    let stdout = String::from_utf8_lossy(&run.stdout.kept);
    let stderr = String::from_utf8_lossy(&run.stderr.kept);
    let classified = classify_timed(
        ProbeKind::Dns,
        &run.exit,
        &stdout,
        &stderr,
        run.elapsed,
        timeout,
    );
    let outcome = if run.at_deadline || run.killed {
        Outcome::DnsTimeout
    } else {
        classified.outcome
    };
    (outcome, classified.addresses)
}

/// The probe's record when its name did not resolve: the lookup's command and output, with
/// `outcome`.
fn failed(
    request: &ProbeRequest,
    name: &str,
    command: ToolCommand,
    run: ToolRun,
    outcome: Outcome,
) -> ProbeRecord {
    let ended = if run.at_deadline {
        " (ended at the probe's timeout)"
    } else {
        ""
    };
    ProbeRecord {
        id: request.id.clone(),
        kind: request.probe.kind(),
        stdout: format!(
            "resolving {name} first: {}{ended}\n{}",
            command.render(),
            run.stdout.excerpt()
        ),
        tool: command.tool,
        argv: command.argv,
        stdin: None,
        exit: run.exit,
        elapsed_ms: u64::try_from(run.elapsed.as_millis()).unwrap_or(u64::MAX),
        deadline_ms: Some(u64::from(request.timeout_ms)),
        stderr: run.stderr.excerpt(),
        outcome,
        addresses: Vec::new(),
        responder: None,
    }
}

/// `localhost` and the names below it: the loopback address.
fn loopback(name: &str) -> Option<IpAddr> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    (name == "localhost" || name.ends_with(".localhost")).then_some(IpAddr::from([127, 0, 0, 1]))
}

/// The address `name` has in a hosts file, an IPv4 one first.
fn hosts_file_address(hosts: &str, name: &str) -> Option<IpAddr> {
    let mut found: Vec<IpAddr> = hosts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('#').next()?.split_whitespace();
            let address: IpAddr = fields.next()?.parse().ok()?;
            fields
                .any(|alias| alias.eq_ignore_ascii_case(name.trim_end_matches('.')))
                .then_some(address)
        })
        .collect();
    found.sort_by_key(|a| !a.is_ipv4());
    found.first().copied()
}

/// `request` with its host replaced by `address`, for nc; curl keeps the name (for the Host
/// header and TLS) and is pinned to the address with `--resolve` instead.
pub(crate) fn at_address(request: &ProbeRequest, address: IpAddr) -> ProbeRequest {
    let mut request = request.clone();
    match &mut request.probe {
        ProbeSpec::Tcp { host, .. } | ProbeSpec::Udp { host, .. } => *host = address.to_string(),
        ProbeSpec::Http { .. } | ProbeSpec::Dns { .. } => {}
    }
    request
}

/// For an HTTP probe by name: `--resolve NAME:PORT:ADDRESS` before the URL, so curl connects to
/// the address resolved first.
pub(crate) fn pin_curl(command: &mut ToolCommand, request: &ProbeRequest, address: IpAddr) {
    if let ProbeSpec::Http { host, port, .. } = &request.probe
        && let Some(url) = command.argv.pop()
    {
        let address = match address {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        command.argv.push("--resolve".into());
        command.argv.push(format!("{host}:{port}:{address}"));
        command.argv.push(url);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Scheme;

    fn request(probe: ProbeSpec) -> ProbeRequest {
        ProbeRequest {
            id: "p".into(),
            timeout_ms: 1000,
            probe,
        }
    }

    #[test]
    fn only_names_of_connection_probes_are_resolved_first() {
        let tcp = |host: &str| ProbeSpec::Tcp {
            host: host.into(),
            port: 80,
        };
        assert_eq!(host_name(&tcp("web.shop")), Some("web.shop"));
        assert_eq!(host_name(&tcp("10.0.0.5")), None);
        assert_eq!(host_name(&tcp("fd00::5")), None);
        let dns = ProbeSpec::Dns {
            name: "web.shop".into(),
            server: None,
            port: None,
            tcp: false,
        };
        assert_eq!(host_name(&dns), None);
    }

    #[test]
    fn the_hosts_file_names_addresses_an_ipv4_one_first() {
        let hosts = "# comment\n::1 localhost ip6-localhost\n127.0.0.1\tlocalhost\n10.244.0.7 web web.shop.svc.cluster.local # the pod\n";
        assert_eq!(
            hosts_file_address(hosts, "localhost"),
            "127.0.0.1".parse().ok()
        );
        assert_eq!(hosts_file_address(hosts, "WEB."), "10.244.0.7".parse().ok());
        assert_eq!(hosts_file_address(hosts, "the"), None);
        assert_eq!(hosts_file_address(hosts, "external.test"), None);
    }

    #[test]
    fn localhost_is_the_loopback_address_without_a_hosts_file() {
        let local: Option<IpAddr> = "127.0.0.1".parse().ok();
        assert_eq!(loopback("localhost"), local);
        assert_eq!(loopback("api.localhost."), local);
        assert_eq!(loopback("localhost.example"), None);
    }

    #[test]
    fn nc_connects_to_the_address_and_curl_keeps_the_name_pinned_to_it() {
        let ip: IpAddr = "203.0.113.10".parse().unwrap();
        let tcp = request(ProbeSpec::Tcp {
            host: "external.test".into(),
            port: 80,
        });
        let command = ToolCommand::build(&at_address(&tcp, ip), "").unwrap();
        assert_eq!(command.render(), "nc -vz -w 1 -n 203.0.113.10 80");

        let http = request(ProbeSpec::Http {
            scheme: Scheme::Http,
            host: "external.test".into(),
            port: 80,
            path: "/".into(),
        });
        let mut command = ToolCommand::build(&at_address(&http, ip), "").unwrap();
        pin_curl(&mut command, &http, ip);
        let line = command.render();
        assert!(
            line.ends_with("--resolve external.test:80:203.0.113.10 http://external.test:80/"),
            "{line}"
        );
    }
}
