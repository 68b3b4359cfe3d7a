//! The tool command lines: validated probe requests turned into argv, and the same command
//! rendered for a human to rerun.
//!
//! Commands are argv vectors run without a shell. Every host, path and name is checked again here
//! against a strict character set (the runner checks too): nothing that reaches a tool can start
//! with `-`, hold whitespace, quotes or shell syntax, or make curl glob.

use std::net::IpAddr;
use std::time::Duration;

use thiserror::Error;

use crate::quote::Quoted;
use crate::wire::{ProbeRecord, ProbeRequest, ProbeSpec, Tool};

/// Shortest timeout a probe may ask for, in milliseconds: below it a healthy connection across
/// a busy node may not make it.
pub const MIN_TIMEOUT_MS: u32 = 100;
/// Longest timeout a probe may ask for, in milliseconds (5 minutes).
pub const MAX_TIMEOUT_MS: u32 = 300_000;

/// A probe request the agent refuses to run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidProbe {
    #[error("id must be 1 to 200 printable characters, got {}", Quoted(.0))]
    Id(String),
    #[error("timeout_ms must be {MIN_TIMEOUT_MS} to {MAX_TIMEOUT_MS}, got {0}")]
    Timeout(u32),
    #[error("port must be 1 to 65535, got 0")]
    Port,
    #[error("host must be an IP address or a DNS name, got {}", Quoted(.0))]
    Host(String),
    #[error("DNS name must be a DNS name, got {}", Quoted(.0))]
    Name(String),
    #[error(
        "path must start with '/' and hold only URL characters (no spaces, quotes, brackets or braces), got {}",
        Quoted(.0)
    )]
    Path(String),
}

/// A tool invocation: argv (program first) and the bytes for its stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCommand {
    pub tool: Tool,
    pub argv: Vec<String>,
    /// Written to stdin, which is then closed; stdin is empty otherwise.
    pub stdin: Option<String>,
    /// When the agent ends the tool and takes it for a timeout: set where the tool only takes
    /// whole seconds and the probe's timeout is not whole seconds (its argv then has the timeout
    /// rounded up).
    pub deadline: Option<Duration>,
}

impl ToolCommand {
    /// Builds the command for `request`, validating it first. `udp_token` is what a UDP probe
    /// sends and expects echoed back; other kinds ignore it.
    ///
    /// # Errors
    ///
    /// [`InvalidProbe`] when a field is outside its character set or range.
    pub fn build(request: &ProbeRequest, udp_token: &str) -> Result<Self, InvalidProbe> {
        validate_id(&request.id)?;
        let ms = request.timeout_ms;
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&ms) {
            return Err(InvalidProbe::Timeout(ms));
        }
        // nc and nslookup take whole seconds: they get the timeout rounded up, and the agent
        // ends them at the exact deadline.
        let t = ms.div_ceil(1000).to_string();
        let whole = ms.is_multiple_of(1000);
        let kind = request.probe.kind();
        let deadline = (!whole && kind != crate::wire::ProbeKind::Http)
            .then(|| Duration::from_millis(ms.into()));
        let tool = kind.tool();
        let mut argv: Vec<String> = vec![tool.program().into()];
        let mut stdin = None;
        match &request.probe {
            ProbeSpec::Tcp { host, port } => {
                let host = Host::parse(host)?;
                let port = valid_port(*port)?;
                argv.extend(["-vz".into(), "-w".into(), t]);
                if host.is_ip() {
                    argv.push("-n".into());
                }
                argv.extend([host.plain(), port]);
            }
            ProbeSpec::Udp { host, port } => {
                let host = Host::parse(host)?;
                let port = valid_port(*port)?;
                // No -v: with -u it sends probe datagrams of its own before stdin. -W 1 ends nc
                // at the first datagram received, so an echo returns at once.
                argv.extend(["-u".into(), "-W".into(), "1".into(), "-w".into(), t]);
                if host.is_ip() {
                    argv.push("-n".into());
                }
                argv.extend([host.plain(), port]);
                stdin = Some(format!("{udp_token}\n"));
            }
            ProbeSpec::Http {
                scheme,
                host,
                port,
                path,
            } => {
                let host = Host::parse(host)?;
                let port = valid_port(*port)?;
                validate_path(path)?;
                // -v is for the classifier: curl exits 7 alike for refused and unreachable, and
                // 28 alike before and after the connection; only its verbose lines tell them
                // apart. The whole transfer may take twice the connect timeout. curl takes
                // fractions of a second.
                let connect = seconds(ms);
                let max_time = seconds(ms * 2);
                argv.extend(
                    [
                        "-sS",
                        "-v",
                        "--globoff",
                        "--noproxy",
                        "*",
                        "--connect-timeout",
                        &connect,
                        "--max-time",
                        &max_time,
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}\\n",
                    ]
                    .map(String::from),
                );
                if matches!(scheme, crate::wire::Scheme::Https) {
                    argv.push("-k".into());
                }
                argv.push(format!(
                    "{}://{}:{port}{path}",
                    scheme.as_str(),
                    host.bracketed()
                ));
            }
            ProbeSpec::Dns {
                name,
                server,
                port,
                tcp,
            } => {
                if !is_dns_name(name, true) {
                    return Err(InvalidProbe::Name(name.clone()));
                }
                let server = server.as_deref().map(Host::parse).transpose()?;
                if *tcp {
                    argv.push("-vc".into());
                }
                argv.extend([format!("-timeout={t}"), "-retry=1".into()]);
                if let Some(port) = port {
                    argv.push(format!("-port={}", valid_port(*port)?));
                }
                argv.push(name.clone());
                if let Some(server) = server {
                    argv.push(server.plain());
                }
            }
        }
        Ok(Self {
            tool,
            argv,
            stdin,
            deadline,
        })
    }

    /// The command a record ran, for rendering; `None` when nothing ran.
    pub fn from_record(record: &ProbeRecord) -> Option<Self> {
        (!record.argv.is_empty()).then(|| Self {
            tool: record.tool,
            argv: record.argv.clone(),
            stdin: record.stdin.clone(),
            deadline: record.deadline_ms.map(Duration::from_millis),
        })
    }

    /// The command as a POSIX shell line, e.g. `nc -vz -w 2 -n 10.0.0.5 5432`. A command with
    /// stdin is piped its input: `printf '%s\n' TOKEN | nc -u ...`; one with a deadline runs
    /// under coreutils' `timeout`: `timeout 0.3 nc -vz -w 1 ...`.
    pub fn render(&self) -> String {
        self.stdin_pipe() + &self.argv_line()
    }

    /// The rerun line for a report: `kubectl exec -n NS POD -- <command>`. A command with stdin
    /// gets it from the local shell through `kubectl exec -i`, so the pod needs no shell.
    pub fn render_kubectl_exec(&self, namespace: &str, pod: &str) -> String {
        let interactive = if self.stdin.is_some() { " -i" } else { "" };
        format!(
            "{}kubectl exec{interactive} -n {} {} -- {}",
            self.stdin_pipe(),
            shell_quote(namespace),
            shell_quote(pod),
            self.argv_line()
        )
    }

    fn argv_line(&self) -> String {
        let words: Vec<String> = self.argv.iter().map(|a| shell_quote(a)).collect();
        match self.deadline {
            Some(deadline) => format!("timeout {} {}", seconds(millis(deadline)), words.join(" ")),
            None => words.join(" "),
        }
    }

    fn stdin_pipe(&self) -> String {
        match &self.stdin {
            None => String::new(),
            Some(input) => format!("printf '%s\\n' {} | ", shell_quote(input.trim_end())),
        }
    }
}

/// Milliseconds as seconds with no trailing zeros: 2000 is `2`, 1500 is `1.5`, 300 is `0.3`.
fn seconds(ms: u32) -> String {
    let (whole, rest) = (ms / 1000, ms % 1000);
    if rest == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{rest:03}")
            .trim_end_matches('0')
            .to_owned()
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

fn validate_id(id: &str) -> Result<(), InvalidProbe> {
    let ok = (1..=200).contains(&id.chars().count()) && !id.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(InvalidProbe::Id(id.into()))
    }
}

fn valid_port(port: u16) -> Result<String, InvalidProbe> {
    if port == 0 {
        Err(InvalidProbe::Port)
    } else {
        Ok(port.to_string())
    }
}

enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Host {
    fn parse(host: &str) -> Result<Self, InvalidProbe> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            Ok(Self::Ip(ip))
        } else if is_dns_name(host, false) {
            Ok(Self::Name(host.into()))
        } else {
            Err(InvalidProbe::Host(host.into()))
        }
    }

    fn is_ip(&self) -> bool {
        matches!(self, Self::Ip(_))
    }

    fn plain(&self) -> String {
        match self {
            Self::Ip(ip) => ip.to_string(),
            Self::Name(name) => name.clone(),
        }
    }

    fn bracketed(&self) -> String {
        match self {
            Self::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.plain(),
        }
    }
}

/// A DNS name: dot-separated labels of ASCII letters, digits and `-` (and `_` when
/// `allow_underscore`, for service names), no label starting or ending with `-`, an optional
/// trailing dot, at most 253 characters.
fn is_dns_name(name: &str, allow_underscore: bool) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || (allow_underscore && b == b'_'))
    })
}

/// An absolute URL path with an optional query: RFC 3986 path and query characters without the
/// ones curl would glob (`[]{}`), at most 1024 bytes.
fn validate_path(path: &str) -> Result<(), InvalidProbe> {
    let ok = path.starts_with('/')
        && path.len() <= 1024
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/%?=&+,;:@!$*()'".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(InvalidProbe::Path(path.into()))
    }
}

/// Quotes `word` for a POSIX shell when it needs it.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+".contains(&b));
    if plain {
        word.into()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Scheme;

    fn mk(probe: ProbeSpec) -> ProbeRequest {
        ProbeRequest {
            id: "p".into(),
            timeout_ms: 2000,
            probe,
        }
    }

    fn tcp(host: &str) -> ProbeRequest {
        mk(ProbeSpec::Tcp {
            host: host.into(),
            port: 5432,
        })
    }

    fn http(path: &str) -> ProbeRequest {
        mk(ProbeSpec::Http {
            scheme: Scheme::Http,
            host: "web.shop".into(),
            port: 8080,
            path: path.into(),
        })
    }

    #[test]
    fn tcp_to_an_ip_does_not_resolve() {
        let cmd = ToolCommand::build(&tcp("10.0.0.5"), "t").unwrap();
        assert_eq!(cmd.render(), "nc -vz -w 2 -n 10.0.0.5 5432");
        assert_eq!(
            cmd.render_kubectl_exec("shop", "client-0"),
            "kubectl exec -n shop client-0 -- nc -vz -w 2 -n 10.0.0.5 5432"
        );
        let cmd = ToolCommand::build(&tcp("db.shop.svc.cluster.local"), "t").unwrap();
        assert_eq!(
            cmd.argv,
            ["nc", "-vz", "-w", "2", "db.shop.svc.cluster.local", "5432"]
        );
        let cmd = ToolCommand::build(&tcp("fd00::5"), "t").unwrap();
        assert_eq!(cmd.render(), "nc -vz -w 2 -n fd00::5 5432");
    }

    #[test]
    fn http_renders_curl_with_both_timeouts() {
        let cmd = ToolCommand::build(&http("/healthz?full=1"), "t").unwrap();
        assert_eq!(
            cmd.render(),
            "curl -sS -v --globoff --noproxy '*' --connect-timeout 2 --max-time 4 -o /dev/null \
             -w '%{http_code}\\n' 'http://web.shop:8080/healthz?full=1'"
        );
        let https = mk(ProbeSpec::Http {
            scheme: Scheme::Https,
            host: "fd00::1".into(),
            port: 443,
            path: "/".into(),
        });
        let cmd = ToolCommand::build(&https, "t").unwrap();
        assert_eq!(
            cmd.argv[cmd.argv.len() - 2..],
            ["-k", "https://[fd00::1]:443/"]
        );
    }

    #[test]
    fn dns_and_udp_commands() {
        let dns = mk(ProbeSpec::Dns {
            name: "_http._tcp.web.shop.svc.cluster.local.".into(),
            server: Some("10.96.0.10".into()),
            port: Some(5353),
            tcp: false,
        });
        assert_eq!(
            ToolCommand::build(&dns, "t").unwrap().render(),
            "nslookup -timeout=2 -retry=1 -port=5353 _http._tcp.web.shop.svc.cluster.local. 10.96.0.10"
        );
        let dns_tcp = mk(ProbeSpec::Dns {
            name: "web.shop".into(),
            server: None,
            port: None,
            tcp: true,
        });
        assert_eq!(
            ToolCommand::build(&dns_tcp, "t").unwrap().render(),
            "nslookup -vc -timeout=2 -retry=1 web.shop"
        );
        let udp = mk(ProbeSpec::Udp {
            host: "10.0.0.7".into(),
            port: 514,
        });
        let cmd = ToolCommand::build(&udp, "nvp-1f").unwrap();
        assert_eq!(
            cmd.argv,
            ["nc", "-u", "-W", "1", "-w", "2", "-n", "10.0.0.7", "514"]
        );
        assert_eq!(cmd.stdin.as_deref(), Some("nvp-1f\n"));
        assert_eq!(
            cmd.render(),
            r"printf '%s\n' nvp-1f | nc -u -W 1 -w 2 -n 10.0.0.7 514"
        );
        assert_eq!(
            cmd.render_kubectl_exec("shop", "client-0"),
            r"printf '%s\n' nvp-1f | kubectl exec -i -n shop client-0 -- nc -u -W 1 -w 2 -n 10.0.0.7 514"
        );
    }

    #[test]
    fn sub_second_timeouts_are_kept_exactly() {
        let mut req = tcp("10.0.0.5");
        req.timeout_ms = 300;
        let cmd = ToolCommand::build(&req, "t").unwrap();
        assert_eq!(cmd.deadline, Some(Duration::from_millis(300)));
        assert_eq!(cmd.argv, ["nc", "-vz", "-w", "1", "-n", "10.0.0.5", "5432"]);
        assert_eq!(cmd.render(), "timeout 0.3 nc -vz -w 1 -n 10.0.0.5 5432");
        assert_eq!(
            cmd.render_kubectl_exec("shop", "client-0"),
            "kubectl exec -n shop client-0 -- timeout 0.3 nc -vz -w 1 -n 10.0.0.5 5432"
        );
        req.timeout_ms = 1500;
        let cmd = ToolCommand::build(&req, "t").unwrap();
        assert_eq!(cmd.render(), "timeout 1.5 nc -vz -w 2 -n 10.0.0.5 5432");
        let mut web = http("/");
        web.timeout_ms = 500;
        let cmd = ToolCommand::build(&web, "t").unwrap();
        assert_eq!(cmd.deadline, None, "curl takes fractions itself");
        assert!(
            cmd.render()
                .contains("--connect-timeout 0.5 --max-time 1 -o"),
            "{}",
            cmd.render()
        );
        let mut dns = mk(ProbeSpec::Dns {
            name: "web.shop".into(),
            server: None,
            port: None,
            tcp: false,
        });
        dns.timeout_ms = 250;
        let cmd = ToolCommand::build(&dns, "t").unwrap();
        assert_eq!(
            cmd.render(),
            "timeout 0.25 nslookup -timeout=1 -retry=1 web.shop"
        );
        assert_eq!(seconds(100), "0.1");
        assert_eq!(seconds(1010), "1.01");
        assert_eq!(seconds(300_000), "300");
    }

    #[test]
    fn hostile_fields_are_rejected() {
        let hosts = [
            "-oProxyCommand=x",
            "a b",
            "a;rm",
            "$(id)",
            "",
            "a..b",
            "-a.b",
            "a_b.c",
            "ä.example",
            "host\n",
        ];
        for host in hosts {
            assert_eq!(
                ToolCommand::build(&tcp(host), "t"),
                Err(InvalidProbe::Host(host.into())),
                "{host:?}"
            );
        }
        for path in [
            "", "relative", "/a b", "/{a,b}", "/[1-9]", "/\"x", "/a\nb", "/`id`",
        ] {
            assert_eq!(
                ToolCommand::build(&http(path), "t"),
                Err(InvalidProbe::Path(path.into())),
                "{path:?}"
            );
        }
        let mut req = tcp("10.0.0.1");
        for ms in [0, 99, 300_001] {
            req.timeout_ms = ms;
            assert_eq!(
                ToolCommand::build(&req, "t"),
                Err(InvalidProbe::Timeout(ms))
            );
        }
        req.timeout_ms = 1000;
        req.id = String::new();
        assert!(matches!(
            ToolCommand::build(&req, "t"),
            Err(InvalidProbe::Id(_))
        ));
        let zero = mk(ProbeSpec::Tcp {
            host: "10.0.0.1".into(),
            port: 0,
        });
        assert_eq!(ToolCommand::build(&zero, "t"), Err(InvalidProbe::Port));
        let dns = mk(ProbeSpec::Dns {
            name: "-x".into(),
            server: None,
            port: None,
            tcp: false,
        });
        assert_eq!(
            ToolCommand::build(&dns, "t"),
            Err(InvalidProbe::Name("-x".into()))
        );
    }

    #[test]
    fn quoting_survives_a_shell() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("10.0.0.5"), "10.0.0.5");
    }
}
