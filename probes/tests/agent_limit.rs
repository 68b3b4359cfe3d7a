//! The agent never runs more tools at once than the request allows. A stand-in `nc` first on
//! PATH logs when it starts and ends; alone in its test binary because PATH is process-wide.

use std::os::unix::fs::PermissionsExt;

use netverdict_probes::{AgentLine, BatchRequest, ProbeRequest, ProbeSpec, run_batch};

#[test]
fn concurrency_is_bounded_by_the_request() {
    const LIMIT: usize = 3;
    const PROBES: usize = 12;
    let dir = std::env::temp_dir().join(format!("nvp-limit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = RemoveDir(dir.clone());
    let log = dir.join("log");
    let fake = dir.join("nc");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho start >> '{log}'\nsleep 0.2\necho end >> '{log}'\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // SAFETY: set before any other thread of this test binary exists.
    unsafe { std::env::set_var("PATH", path) };

    let probes = (0..PROBES)
        .map(|i| ProbeRequest {
            id: format!("p{i}"),
            timeout_ms: 5000,
            probe: ProbeSpec::Tcp {
                host: "127.0.0.1".into(),
                port: 9,
            },
        })
        .collect();
    let mut request = BatchRequest::new(probes);
    request.concurrency = Some(LIMIT);
    let mut output = Vec::new();
    let summary = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(run_batch(request, &mut output))
        .unwrap();
    assert_eq!(summary.concurrency, LIMIT);
    let records = String::from_utf8(output)
        .unwrap()
        .lines()
        .filter(|l| matches!(serde_json::from_str(l).unwrap(), AgentLine::Record(_)))
        .count();
    assert_eq!(records, PROBES);

    let mut running = 0usize;
    let mut most = 0;
    let log = std::fs::read_to_string(&log).unwrap();
    for line in log.lines() {
        match line {
            "start" => running += 1,
            "end" => running -= 1,
            other => panic!("{other}"),
        }
        most = most.max(running);
    }
    assert_eq!(log.lines().count(), 2 * PROBES);
    assert!(most <= LIMIT, "{most} tools ran at once");
}

struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
