//! `serve` ends cleanly on SIGTERM. Alone in its test binary: the signal goes to the whole
//! process.

use std::time::Duration;

use netverdict_probes::{Identity, ServeConfig, serve};

#[tokio::test]
async fn sigterm_ends_serve() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let config = ServeConfig {
        tcp: vec![port],
        udp: vec![],
        sctp: vec![],
        bind: Some([127, 0, 0, 1].into()),
        identity: Identity {
            pod: "p".into(),
            namespace: "n".into(),
            ip: String::new(),
        },
    };
    let serving = tokio::spawn(serve(config));
    // serve installs its signal handlers before it binds: once the port answers, SIGTERM is
    // handled rather than fatal.
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            !serving.is_finished(),
            "serve ended early: {:?}",
            serving.await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SAFETY: kill on our own pid with a signal serve handles.
    let rc = unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    assert_eq!(rc, 0);
    serving.await.unwrap().unwrap();
}
