//! Reading a tool's exit status and output as a network [`Outcome`].
//!
//! Pure functions, table-tested against outputs captured from the real tools (see
//! `probes/testdata/`). Exit codes alone are not enough: `nc` and `nslookup` exit 1 for several
//! outcomes, so their messages are read too, and anything not recognised becomes
//! [`Outcome::Error`] rather than a guess.

use std::net::IpAddr;
use std::time::Duration;

use crate::quote::Quoted;
use crate::wire::{Exit, Outcome, ProbeKind};

/// An outcome with the details some kinds carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    pub outcome: Outcome,
    /// DNS: the addresses of the answer.
    pub addresses: Vec<IpAddr>,
    /// UDP: the responder that echoed, as it named itself.
    pub responder: Option<String>,
    /// UDP: what came back after the responder's name (the token, for a netverdict responder).
    pub echoed: Option<String>,
}

impl Classified {
    fn of(outcome: Outcome) -> Self {
        Self {
            outcome,
            addresses: Vec::new(),
            responder: None,
            echoed: None,
        }
    }

    fn error(reason: impl Into<String>) -> Self {
        Self::of(Outcome::error(reason))
    }
}

/// Classifies one run of the tool of `kind`, as built by [`crate::ToolCommand::build`].
///
/// A UDP probe that ends without an echo is a [`Outcome::Timeout`] here; [`classify_timed`] also
/// tells an ICMP rejection from silence.
pub fn classify(kind: ProbeKind, exit: &Exit, stdout: &str, stderr: &str) -> Classified {
    let program = kind.tool().program();
    let code = match exit {
        Exit::NotStarted(why) => {
            return Classified::error(format!("{program} did not start: {why}"));
        }
        Exit::Signal(signal) => {
            return Classified::error(format!("{program} was killed by signal {signal}"));
        }
        Exit::Code(code) => *code,
    };
    if code == 126 || code == 127 {
        return Classified::error(format!(
            "{program} is missing or not executable (exit {code}): {}",
            first_line(stderr)
        ));
    }
    match kind {
        ProbeKind::Tcp => classify_nc_tcp(code, stdout, stderr),
        ProbeKind::Udp => classify_nc_udp(code, stdout, stderr),
        ProbeKind::Http => classify_curl(code, stdout, stderr),
        ProbeKind::Dns => classify_nslookup(code, stdout, stderr),
    }
}

/// [`classify`], also using how long the tool ran against the probe's timeout.
///
/// `nc -u` exits 0 without output both when nothing answered before its timeout and at once when
/// an ICMP error (port unreachable, administratively prohibited) reached its socket. A UDP run
/// without echo that ended before half its timeout is therefore [`Outcome::Refused`].
pub fn classify_timed(
    kind: ProbeKind,
    exit: &Exit,
    stdout: &str,
    stderr: &str,
    elapsed: Duration,
    timeout: Duration,
) -> Classified {
    let mut classified = classify(kind, exit, stdout, stderr);
    if kind == ProbeKind::Udp && classified.outcome == Outcome::Timeout && elapsed < timeout / 2 {
        classified.outcome = Outcome::Refused;
    }
    classified
}

const UNREACHABLE: [&str; 3] = [
    "No route to host",
    "Network is unreachable",
    "Host is unreachable",
];

fn classify_nc_tcp(code: i32, stdout: &str, stderr: &str) -> Classified {
    if code == 0 && stderr.contains("succeeded!") {
        return Classified::of(Outcome::Connected);
    }
    nc_failure("nc", code, stdout, stderr)
}

/// The messages of a failed `nc`, for TCP and UDP.
fn nc_failure(program: &str, code: i32, stdout: &str, stderr: &str) -> Classified {
    if let Some(line) = line_containing(stderr, "getaddrinfo") {
        return Classified::error(format!("name not resolved: {line}"));
    }
    if stderr.contains("Connection refused") {
        return Classified::of(Outcome::Refused);
    }
    if let Some(line) = UNREACHABLE.iter().find_map(|m| line_containing(stderr, m)) {
        return Classified::error(format!("unreachable: {line}"));
    }
    if code != 0 && stderr.contains(" timed out") {
        return Classified::of(Outcome::Timeout);
    }
    Classified::error(unrecognised(program, code, stdout, stderr))
}

fn classify_nc_udp(code: i32, stdout: &str, stderr: &str) -> Classified {
    if code == 0 {
        let Some(line) = stdout.lines().find(|l| !l.trim().is_empty()) else {
            return Classified::of(Outcome::Timeout);
        };
        let mut classified = Classified::of(Outcome::Connected);
        if let Some((name, rest)) = line.split_once(' ')
            && is_responder_name(name)
        {
            classified.responder = Some(name.into());
            classified.echoed = Some(rest.trim_end().into());
        }
        return classified;
    }
    nc_failure("nc -u", code, stdout, stderr)
}

/// Names as Kubernetes makes them: DNS subdomain characters.
fn is_responder_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn classify_curl(code: i32, stdout: &str, stderr: &str) -> Classified {
    let curl_line = line_containing(stderr, "curl: (")
        .unwrap_or_else(|| first_line(stderr))
        .to_owned();
    match code {
        0 => {
            let status = stdout
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            match status.trim().parse::<u16>() {
                Ok(code @ 100..=599) => Classified::of(Outcome::HttpStatus { code }),
                _ => Classified::error(format!("curl reported no HTTP status: {}", Quoted(status))),
            }
        }
        7 => {
            if stderr.contains("Connection refused") {
                Classified::of(Outcome::Refused)
            } else if let Some(line) = UNREACHABLE.iter().find_map(|m| line_containing(stderr, m)) {
                Classified::error(format!("unreachable: {}", strip_verbose(line)))
            } else {
                Classified::error(format!("could not connect: {curl_line}"))
            }
        }
        28 => {
            if stderr.lines().any(|l| l.starts_with("* Connected to")) {
                Classified::error(format!(
                    "connected, but no complete HTTP response in time: {curl_line}"
                ))
            } else {
                Classified::of(Outcome::Timeout)
            }
        }
        6 => Classified::error(format!("name not resolved: {curl_line}")),
        _ => Classified::error(format!("curl exit {code}: {curl_line}")),
    }
}

fn classify_nslookup(code: i32, stdout: &str, stderr: &str) -> Classified {
    // nslookup prints its diagnostics on stdout, some on stderr: read both.
    let text = format!("{stdout}\n{stderr}");
    let cant_find = text
        .lines()
        .filter(|l| l.starts_with("** server can't find"))
        .collect::<Vec<_>>();
    if cant_find.iter().any(|l| l.ends_with(": NXDOMAIN")) {
        return Classified::of(Outcome::DnsNxdomain);
    }
    if cant_find.iter().any(|l| l.ends_with(": SERVFAIL")) {
        return Classified::of(Outcome::DnsServfail);
    }
    if let Some(line) = cant_find.first() {
        return Classified::error(format!("DNS error answer: {line}"));
    }
    if text.contains("no servers could be reached") {
        // One line per failed try: ";; communications error to S#P: timed out" (UDP and TCP),
        // "...: connection refused" (UDP), ";; Connection to S#P(S) for N failed: connection
        // refused." (TCP), ";; UDP setup with S#P(S) for N failed: network unreachable." ...
        let failures: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(";; ") && !l.contains("no servers could be reached"))
            .collect();
        let all =
            |needle: &str| !failures.is_empty() && failures.iter().all(|l| l.contains(needle));
        if all("timed out") {
            return Classified::of(Outcome::DnsTimeout);
        }
        if all("connection refused") {
            return Classified::of(Outcome::Refused);
        }
        return Classified::error(format!(
            "no DNS server reached: {}",
            failures
                .first()
                .copied()
                .unwrap_or_else(|| first_line(stdout))
        ));
    }
    if code == 0 && text.lines().any(|l| l.starts_with("Server:")) {
        let mut classified = Classified::of(Outcome::Connected);
        classified.addresses = answer_addresses(stdout);
        return classified;
    }
    Classified::error(unrecognised("nslookup", code, stdout, stderr))
}

/// The `Address:` lines after the first `Name:` line; the ones before describe the server.
fn answer_addresses(stdout: &str) -> Vec<IpAddr> {
    let mut addresses = Vec::new();
    let mut in_answer = false;
    for line in stdout.lines() {
        if line.starts_with("Name:") {
            in_answer = true;
        } else if in_answer
            && let Some(value) = line.strip_prefix("Address:")
            && let Ok(ip) = value.trim().parse()
            && !addresses.contains(&ip)
        {
            addresses.push(ip);
        }
    }
    addresses
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

fn line_containing<'a>(text: &'a str, needle: &str) -> Option<&'a str> {
    text.lines().find(|l| l.contains(needle)).map(str::trim)
}

/// Drops curl's `* ` verbose prefix.
fn strip_verbose(line: &str) -> &str {
    line.trim_start_matches(['*', ' '])
}

fn unrecognised(program: &str, code: i32, stdout: &str, stderr: &str) -> String {
    let said = [first_line(stderr), first_line(stdout)]
        .into_iter()
        .find(|l| !l.is_empty())
        .unwrap_or("no output");
    format!("unrecognised {program} result (exit {code}): {said}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(kind: ProbeKind, exit: Exit, stdout: &str, stderr: &str) -> Outcome {
        classify(kind, &exit, stdout, stderr).outcome
    }

    fn is_error(outcome: &Outcome, needle: &str) -> bool {
        matches!(outcome, Outcome::Error { reason } if reason.contains(needle))
    }

    // Inputs no capture can produce on a healthy machine; the real outputs are in
    // tests/classify.rs, loaded from testdata.
    #[test]
    fn broken_tools_are_errors_never_verdicts() {
        use ProbeKind::*;
        let cases: &[(ProbeKind, Exit, &str, &str, &str)] = &[
            (Tcp, Exit::Code(127), "", "sh: 1: nc: not found", "missing"),
            (Http, Exit::Code(126), "", "", "missing"),
            (
                Dns,
                Exit::NotStarted("No such file or directory (os error 2)".into()),
                "",
                "",
                "did not start",
            ),
            (Udp, Exit::Signal(9), "", "", "signal 9"),
            (Tcp, Exit::Code(0), "", "", "unrecognised"),
            (
                Tcp,
                Exit::Code(1),
                "",
                "nc: something new",
                "unrecognised nc",
            ),
            (Http, Exit::Code(0), "000\n", "", "no HTTP status"),
            (Http, Exit::Code(0), "garbage", "", "no HTTP status"),
            (
                Http,
                Exit::Code(35),
                "000\n",
                "curl: (35) TLS connect error",
                "curl exit 35",
            ),
            (
                Dns,
                Exit::Code(1),
                "\u{0}\u{1}garbage",
                "",
                "unrecognised nslookup",
            ),
            (Udp, Exit::Code(1), "", "", "unrecognised nc -u"),
        ];
        for (kind, exit, stdout, stderr, needle) in cases {
            let got = outcome(*kind, exit.clone(), stdout, stderr);
            assert!(
                is_error(&got, needle),
                "{kind:?} {exit:?} {stderr:?}: {got:?}"
            );
        }
    }

    #[test]
    fn udp_echo_names_the_responder() {
        let c = classify(ProbeKind::Udp, &Exit::Code(0), "client-0 nvp-42\n", "");
        assert_eq!(c.outcome, Outcome::Connected);
        assert_eq!(c.responder.as_deref(), Some("client-0"));
        assert_eq!(c.echoed.as_deref(), Some("nvp-42"));
        // Any reply proves delivery, but only a netverdict echo names a responder.
        let c = classify(ProbeKind::Udp, &Exit::Code(0), "\u{7f}binary", "");
        assert_eq!((c.outcome, c.responder), (Outcome::Connected, None));
    }

    #[test]
    fn udp_silence_is_a_timeout_unless_it_ended_early() {
        let timeout = Duration::from_secs(2);
        let timed = |ms| {
            classify_timed(
                ProbeKind::Udp,
                &Exit::Code(0),
                "",
                "",
                Duration::from_millis(ms),
                timeout,
            )
            .outcome
        };
        assert_eq!(timed(2004), Outcome::Timeout);
        assert_eq!(timed(3), Outcome::Refused);
        // Only UDP is refined: a TCP timeout stays one whatever its duration.
        let tcp = classify_timed(
            ProbeKind::Tcp,
            &Exit::Code(1),
            "",
            "nc: connect to 10.0.0.1 port 80 (tcp) timed out: Operation now in progress",
            Duration::from_millis(1),
            timeout,
        );
        assert_eq!(tcp.outcome, Outcome::Timeout);
    }

    #[test]
    fn nslookup_addresses_skip_the_server_lines() {
        let out = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\tweb\nAddress: 10.1.2.3\nName:\tweb\nAddress: fd00::3\n";
        let c = classify(ProbeKind::Dns, &Exit::Code(0), out, "");
        assert_eq!(c.outcome, Outcome::Connected);
        let want: Vec<IpAddr> = vec!["10.1.2.3".parse().unwrap(), "fd00::3".parse().unwrap()];
        assert_eq!(c.addresses, want);
    }
}
