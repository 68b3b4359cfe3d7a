//! Properties over arbitrary input: the classifier always answers, and nothing the validation
//! accepts can reach a tool as an option or as shell syntax.

use netverdict_probes::{Exit, ProbeKind, ProbeRequest, ProbeSpec, Scheme, ToolCommand, classify};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = ProbeKind> {
    prop_oneof![
        Just(ProbeKind::Tcp),
        Just(ProbeKind::Http),
        Just(ProbeKind::Dns),
        Just(ProbeKind::Udp),
    ]
}

fn exit() -> impl Strategy<Value = Exit> {
    prop_oneof![
        any::<i32>().prop_map(Exit::Code),
        (0..3).prop_map(Exit::Code),
        Just(Exit::Code(7)),
        Just(Exit::Code(28)),
        any::<i32>().prop_map(Exit::Signal),
        ".*".prop_map(Exit::NotStarted),
    ]
}

/// Output made of pieces of real tool messages, to reach deep branches, and of anything.
fn output() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("succeeded!".to_owned()),
        Just("Connection refused".to_owned()),
        Just(" timed out".to_owned()),
        Just("No route to host".to_owned()),
        Just("getaddrinfo".to_owned()),
        Just("* Connected to".to_owned()),
        Just("curl: (".to_owned()),
        Just("** server can't find x: NXDOMAIN".to_owned()),
        Just(";; no servers could be reached".to_owned()),
        Just(";; communications error to x: timed out".to_owned()),
        Just("Server:".to_owned()),
        Just("Name:".to_owned()),
        Just("Address: ".to_owned()),
        Just("\n".to_owned()),
        "[0-9]{1,4}",
        ".{0,20}",
    ];
    prop::collection::vec(pieces, 0..12).prop_map(|p| p.concat())
}

proptest! {
    #[test]
    fn classify_always_answers(kind in kind(), exit in exit(), out in output(), err in output()) {
        let classified = classify(kind, &exit, &out, &err);
        // A failed tool is never read as a reachable network.
        if !matches!(exit, Exit::Code(_)) {
            prop_assert!(
                matches!(classified.outcome, netverdict_probes::Outcome::Error { .. }),
                "{:?}", classified.outcome
            );
        }
    }

    #[test]
    fn accepted_fields_are_plain_words(
        host in prop_oneof!["[-a-zA-Z0-9._:;$()' \"`|&<>*?\\[\\]{}\n]{0,20}", "[a-z0-9.-]{1,20}"],
        path in "/[-a-zA-Z0-9._~/%?=&+,;:@!$*()'\" `|<>\\[\\]{}\n]{0,20}",
        port in 1u16..,
    ) {
        let request = ProbeRequest {
            id: "p".into(),
            timeout_ms: 1000,
            probe: ProbeSpec::Http { scheme: Scheme::Http, host: host.clone(), port, path: path.clone() },
        };
        if let Ok(command) = ToolCommand::build(&request, "t") {
            let url = command.argv.last().unwrap();
            prop_assert!(!host.starts_with('-'));
            for bad in [' ', '"', '`', '|', '<', '>', '\n', '[', ']', '{', '}'] {
                prop_assert!(!path.contains(bad), "{path:?} accepted");
            }
            prop_assert!(url.starts_with("http://"));
        }
        let request = ProbeRequest {
            id: "p".into(),
            timeout_ms: 1000,
            probe: ProbeSpec::Tcp { host: host.clone(), port },
        };
        if let Ok(command) = ToolCommand::build(&request, "t") {
            let target = &command.argv[command.argv.len() - 2];
            prop_assert_eq!(target, &host.parse::<std::net::IpAddr>().map_or(host.clone(), |ip| ip.to_string()));
            prop_assert!(!target.starts_with('-'));
            prop_assert!(target.chars().all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c)), "{target:?}");
        }
    }
}
