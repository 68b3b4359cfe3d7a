//! Pods, Services, DNS and the fabric through the Store and the exec handler (no HTTP).

mod common;

use common::*;
use netverdict_apiserver::Resource;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_reach_each_other_services_dns_and_external_hosts() {
    if !running_as_root() {
        return;
    }
    let cluster = start_store_only("net").await;
    let store = cluster.store().clone();
    store
        .create(
            Resource::Namespaces,
            None,
            json!({"metadata": {"name": "demo"}}),
        )
        .unwrap();
    let server = sh_pod(
        "demo",
        "b",
        json!({"app": "web"}),
        "nc -lk -p 8080 </dev/null",
    );
    store.create(Resource::Pods, Some("demo"), server).unwrap();
    store
        .create(
            Resource::Pods,
            Some("demo"),
            sh_pod("demo", "a", json!({"app": "client"}), "sleep 3600"),
        )
        .unwrap();
    let b = wait_pod(&store, "demo", "b", "Ready", is_ready).await;
    let a = wait_pod(&store, "demo", "a", "Ready", is_ready).await;
    let b_ip = pod_ip(&b);
    assert!(b_ip.starts_with("10.244."), "{b_ip}");
    assert_ne!(
        b["spec"]["nodeName"], a["spec"]["nodeName"],
        "round robin over two nodes"
    );
    assert_eq!(b["status"]["phase"], "Running");

    // Pod to pod: the served port connects, a closed one is refused.
    let (_, err, code) = exec(
        &cluster,
        "demo",
        "a",
        &["nc", "-vz", "-w", "2", &b_ip, "8080"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let (_, err, code) = exec(
        &cluster,
        "demo",
        "a",
        &["nc", "-vz", "-w", "2", &b_ip, "8081"],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("refused"), "{err}");
    // External hosts: the emulated one answers, any other address times out.
    let (_, err, code) = exec(
        &cluster,
        "demo",
        "a",
        &["nc", "-vz", "-w", "2", "203.0.113.10", "443"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let (_, err, code) = exec(
        &cluster,
        "demo",
        "a",
        &["nc", "-vz", "-w", "2", "192.0.2.77", "80"],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("timed out"), "{err}");
    // The router namespace has no link to the machine's own interfaces: only loopback, the
    // external link and pod veths.
    let router = format!("{}router", cluster.netns_prefix());
    let out = std::process::Command::new("ip")
        .args(["-n", &router, "-o", "link", "show"])
        .output()
        .unwrap();
    let links = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in links.lines() {
        let name = line
            .split(':')
            .nth(1)
            .unwrap()
            .trim()
            .split('@')
            .next()
            .unwrap()
            .to_owned();
        assert!(
            name == "lo" || name == "ext0" || name.starts_with("pod"),
            "unexpected link {name} in {links}"
        );
    }

    // DNS: the kubernetes Service through the search path, pod records, external names, NXDOMAIN.
    let (out, err, code) = exec(&cluster, "demo", "a", &["nslookup", "kubernetes.default"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("10.96.0.1"), "{out}");
    let (out, _, code) = exec(&cluster, "demo", "a", &["nslookup", "external.test"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("203.0.113.10"), "{out}");
    let (out, _, code) = exec(
        &cluster,
        "demo",
        "a",
        &["nslookup", "nope.demo.svc.cluster.local"],
    )
    .await;
    assert_ne!(code, 0);
    assert!(out.contains("NXDOMAIN"), "{out}");
    let (out, err, code) = exec(
        &cluster,
        "demo",
        "a",
        &["curl", "-sS", "-m", "3", "http://external.test/"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("external.test"), "{out}");

    // HTTPS with the self-signed certificate, as netverdict's probes ask for it (-k).
    let https = ["curl", "-sS", "-k", "-m", "3", "https://external2.test/"];
    let (out, err, code) = exec(&cluster, "demo", "a", &https).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("external2.test"), "{out}");
    let api = [
        "curl",
        "-sS",
        "-k",
        "-m",
        "3",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "https://kubernetes.default/",
    ];
    let (out, err, code) = exec(&cluster, "demo", "a", &api).await;
    assert_eq!((out.as_str(), code), ("403", 0), "{err}");

    // A Service with a ready endpoint answers by name; one without refuses.
    let svc = |name: &str, app: &str| {
        json!({"metadata": {"name": name, "namespace": "demo"},
               "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": "http"}]}})
    };
    store
        .create(Resource::Services, Some("demo"), svc("web", "web"))
        .unwrap();
    store
        .create(Resource::Services, Some("demo"), svc("empty", "nobody"))
        .unwrap();
    let mut answered = false;
    for _ in 0..100 {
        let ep = store.get(Resource::Endpoints, Some("demo"), "web");
        if ep.is_ok_and(|e| e["subsets"][0]["addresses"][0]["ip"] == b_ip.as_str()) {
            answered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(answered, "Endpoints of web never listed {b_ip}");
    let slices = store
        .list(Resource::EndpointSlices, Some("demo"), &Default::default())
        .unwrap()
        .0;
    assert!(
        slices
            .iter()
            .any(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == "web")
    );
    let (out, err, code) = exec(&cluster, "demo", "a", &["nslookup", "web"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let (_, err, code) = exec(
        &cluster,
        "demo",
        "a",
        &["nc", "-vz", "-w", "2", "web", "80"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let (_, err, code) = exec(
        &cluster,
        "demo",
        "a",
        &["nc", "-vz", "-w", "2", "empty", "80"],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("refused"), "{err}");

    // Exec: separate streams and the exit code; a missing command exits 127.
    let (out, err, code) = exec(
        &cluster,
        "demo",
        "a",
        &["sh", "-c", "echo out; echo err >&2; exit 3"],
    )
    .await;
    assert_eq!((out.as_str(), err.as_str(), code), ("out\n", "err\n", 3));
    let (_, err, code) = exec(&cluster, "demo", "a", &["no-such-command"]).await;
    assert_eq!(code, 127);
    assert!(err.contains("executable file not found in $PATH"), "{err}");

    // Graceful delete: marked, processes end, the network goes, then the object.
    store
        .delete(Resource::Pods, Some("demo"), "b", None)
        .unwrap();
    wait_gone(&store, "demo", "b").await;
    cluster.shutdown().await.unwrap();
}
