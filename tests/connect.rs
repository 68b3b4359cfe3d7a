//! How `run` and `cleanup` report a cluster they cannot use: a kubeconfig that is missing,
//! malformed or lacks the context is invalid input naming the file; a server that refuses the
//! connection, presents a certificate of another CA or never answers the TLS handshake, and an
//! account RBAC grants nothing, each give their own message naming the server. Every server is
//! on loopback; nothing needs root.

mod util;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use netverdict_apiserver::auth::UserInfo;
use netverdict_apiserver::kubeconfig::{Kubeconfig, KubeconfigCredential};
use netverdict_apiserver::testing::NoExec;
use netverdict_apiserver::testing::{Credential, SecureServer, TEST_USER};
use netverdict_apiserver::tls::Pki;
use netverdict_apiserver::{ServerOptions, Store};
use util::{Dir, Output, TestCommand};

const SCENARIO: &str = "scenarios/allow-from-pod.yaml";

/// A kubeconfig for `server` trusting a CA of its own (none serves there).
fn kubeconfig_for(server: &str) -> String {
    let pki =
        Pki::generate(&["127.0.0.1".to_owned()], &UserInfo::new("nobody", &[])).expect("a PKI");
    Kubeconfig {
        name: "test".to_owned(),
        server: server.to_owned(),
        ca_pem: pki.ca_cert_pem,
        credential: KubeconfigCredential::Token("a-token".to_owned()),
    }
    .to_yaml(None)
}

/// `netverdict ARGS... --kubeconfig FILE`, run off the async runtime's threads.
async fn netverdict(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || TestCommand::in_repo().args(args).run())
        .await
        .expect("the command ran")
}

fn run_args(kubeconfig: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "run".to_owned(),
        SCENARIO.to_owned(),
        "--kubeconfig".to_owned(),
        kubeconfig.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// A loopback port where nothing listens: bound, then released.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("an address")
        .port()
}

/// `text` with miette's wrapping undone: its frame characters gone, whitespace collapsed.
fn unwrapped(text: &str) -> String {
    text.replace(['│', '×'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn assert_clean(output: &Output) {
    let all = format!("{}{}", output.stdout, output.stderr);
    for dump in [
        "Status {",
        "ServiceError",
        "client error (Connect)",
        "ApiError:",
        "Some(",
    ] {
        assert!(
            !all.contains(dump),
            "a Debug dump or kube-rs wording: {all}"
        );
    }
}

#[tokio::test]
async fn a_refused_port_names_the_server_and_the_request() {
    let dir = Dir::new("connect-refused");
    let server = format!("https://127.0.0.1:{}", free_port());
    let kubeconfig = dir.create("kubeconfig", &kubeconfig_for(&server));
    let output = netverdict(run_args(&kubeconfig, &[])).await;
    assert_eq!(output.code, 3, "{output:?}");
    assert!(
        output.stdout.contains(&format!(
            "cannot reach the API server {server}: GET {server}/version: connection refused"
        )),
        "{output:?}"
    );
    assert_clean(&output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_of_another_ca_fails_tls_verification() {
    let api = SecureServer::start(Store::new(), Arc::new(NoExec), ServerOptions::default()).await;
    let dir = Dir::new("connect-wrong-ca");
    let server = api.server.url();
    let kubeconfig = dir.create("kubeconfig", &kubeconfig_for(&server));
    let output = netverdict(run_args(&kubeconfig, &[])).await;
    assert_eq!(output.code, 3, "{output:?}");
    assert!(
        output
            .stdout
            .contains(&format!("cannot reach the API server {server}"))
            && output.stdout.contains("TLS verification failed")
            && output.stdout.contains("unknown CA"),
        "{output:?}"
    );
    assert_clean(&output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_the_handshake_times_out_as_configured() {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let server = format!("https://{}", listener.local_addr().expect("an address"));
    // Accepts every connection and holds it open without a word.
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let dir = Dir::new("connect-black-hole");
    let kubeconfig = dir.create("kubeconfig", &kubeconfig_for(&server));
    let output = netverdict(run_args(&kubeconfig, &["--connect-timeout", "1s"])).await;
    hold.abort();
    assert_eq!(output.code, 3, "{output:?}");
    assert!(
        output.stdout.contains(&format!(
            "cannot reach the API server {server}: GET {server}/version: no connection within 1s"
        )),
        "{output:?}"
    );
    assert_clean(&output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_without_roles_shows_the_servers_403() {
    let options = ServerOptions {
        users_without_roles: vec![TEST_USER.to_owned()],
        ..ServerOptions::default()
    };
    let api = SecureServer::start(Store::new(), Arc::new(NoExec), options).await;
    let dir = Dir::new("connect-forbidden");
    let kubeconfig = dir.create("kubeconfig", &api.kubeconfig_yaml(Credential::Token));
    let output = netverdict(run_args(&kubeconfig, &[])).await;
    assert_eq!(output.code, 3, "{output:?}");
    let expected = format!(
        r#"403 Forbidden: pods is forbidden: User "{TEST_USER}" cannot list resource "pods" in API group "" in the namespace "afp""#
    );
    assert!(output.stdout.contains(&expected), "{output:?}");
    assert!(
        output
            .stdout
            .contains(&format!("API server: {}", api.server.url())),
        "{output:?}"
    );
    assert_clean(&output);
}

#[test]
fn a_missing_kubeconfig_is_invalid_input_naming_the_file() {
    let dir = Dir::new("connect-missing");
    let missing = dir.path().join("no-such-kubeconfig");
    let output = TestCommand::in_repo().args(run_args(&missing, &[])).run();
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output
            .stdout
            .contains(&format!("kubeconfig {}: no such file", missing.display())),
        "{output:?}"
    );
    let output = TestCommand::in_repo()
        .args(["cleanup", "--all", "--kubeconfig"])
        .args([&missing])
        .run();
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        unwrapped(&output.stderr)
            .contains(&format!("kubeconfig {}: no such file", missing.display())),
        "{output:?}"
    );
}

#[test]
fn a_malformed_kubeconfig_is_invalid_input_naming_file_and_line() {
    let dir = Dir::new("connect-malformed");
    let kubeconfig = dir.create(
        "kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: [1, 2\n",
    );
    let output = TestCommand::in_repo()
        .args(run_args(&kubeconfig, &[]))
        .run();
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stdout.contains(&format!(
            "kubeconfig {}: not a valid kubeconfig:",
            kubeconfig.display()
        )) && output.stdout.contains("line 5"),
        "{output:?}"
    );
    assert_clean(&output);
}

#[test]
fn an_unknown_context_is_invalid_input_listing_the_known_ones() {
    let dir = Dir::new("connect-context");
    let kubeconfig = dir.create("kubeconfig", &kubeconfig_for("https://127.0.0.1:1"));
    let output = TestCommand::in_repo()
        .args(run_args(&kubeconfig, &["--context", "elsewhere"]))
        .run();
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stdout.contains(&format!(
            r#"kubeconfig {} has no context "elsewhere" (its contexts: test)"#,
            kubeconfig.display()
        )),
        "{output:?}"
    );
}
