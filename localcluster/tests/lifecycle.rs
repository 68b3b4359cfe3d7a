//! Container lifecycle as the kubelet reports it: restart policies, back-off, deadlines,
//! missing commands, readiness probes, environment and identity; and cleanup.

mod common;

use common::*;
use netverdict_apiserver::Resource;
use serde_json::{Value, json};

fn pod(name: &str, container: Value, extra_spec: Value) -> Value {
    let mut spec = json!({"terminationGracePeriodSeconds": 1, "containers": [container]});
    for (k, v) in extra_spec.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

fn ctr(command: &[&str]) -> Value {
    json!({"name": "c", "image": "busybox", "command": command})
}

fn cstatus(p: &Value) -> &Value {
    &p["status"]["containerStatuses"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policies_deadlines_and_missing_commands() {
    if !running_as_root() {
        return;
    }
    let cluster = start_store_only("life").await;
    let store = cluster.store().clone();
    let create = |p: Value| store.create(Resource::Pods, Some("default"), p).unwrap();
    create(pod(
        "ok",
        ctr(&["sh", "-c", "exit 0"]),
        json!({"restartPolicy": "Never"}),
    ));
    create(pod(
        "fail",
        ctr(&["sh", "-c", "exit 4"]),
        json!({"restartPolicy": "Never"}),
    ));
    create(pod(
        "again",
        ctr(&["sh", "-c", "exit 1"]),
        json!({"restartPolicy": "OnFailure"}),
    ));
    create(pod("always", ctr(&["sh", "-c", "exit 0"]), json!({})));
    create(pod(
        "late",
        ctr(&["sleep", "3600"]),
        json!({"activeDeadlineSeconds": 1}),
    ));
    create(pod(
        "missing",
        ctr(&["no-such-binary-here", "x"]),
        json!({}),
    ));

    let p = wait_pod(&store, "default", "ok", "Succeeded", |p| {
        p["status"]["phase"] == "Succeeded"
    })
    .await;
    assert_eq!(cstatus(&p)["state"]["terminated"]["exitCode"], 0);
    assert_eq!(cstatus(&p)["state"]["terminated"]["reason"], "Completed");
    let p = wait_pod(&store, "default", "fail", "Failed", |p| {
        p["status"]["phase"] == "Failed"
    })
    .await;
    assert_eq!(cstatus(&p)["state"]["terminated"]["exitCode"], 4);
    assert_eq!(cstatus(&p)["state"]["terminated"]["reason"], "Error");
    let p = wait_pod(&store, "default", "again", "restarted twice", |p| {
        cstatus(p)["restartCount"].as_i64().unwrap_or(0) >= 2
    })
    .await;
    assert_eq!(cstatus(&p)["lastState"]["terminated"]["exitCode"], 1);
    wait_pod(&store, "default", "again", "in CrashLoopBackOff", |p| {
        cstatus(p)["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    })
    .await;
    wait_pod(&store, "default", "always", "restarted", |p| {
        cstatus(p)["restartCount"].as_i64().unwrap_or(0) >= 1
    })
    .await;
    let p = wait_pod(&store, "default", "late", "Failed", |p| {
        p["status"]["phase"] == "Failed"
    })
    .await;
    assert_eq!(p["status"]["reason"], "DeadlineExceeded");
    let p = wait_pod(&store, "default", "missing", "waiting", |p| {
        cstatus(p)["state"]["waiting"]["reason"] == "RunContainerError"
    })
    .await;
    let message = cstatus(&p)["state"]["waiting"]["message"].as_str().unwrap();
    assert!(
        message.contains(r#"exec: "no-such-binary-here": executable file not found in $PATH"#),
        "{message}"
    );
    assert_eq!(p["status"]["phase"], "Pending");

    let (events, _) = store
        .list(Resource::Events, Some("default"), &Default::default())
        .unwrap();
    let reasons: Vec<&str> = events.iter().filter_map(|e| e["reason"].as_str()).collect();
    for want in [
        "Scheduled",
        "Started",
        "BackOff",
        "DeadlineExceeded",
        "Failed",
    ] {
        assert!(reasons.contains(&want), "no {want} event in {reasons:?}");
    }
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_probes_env_and_identity() {
    if !running_as_root() {
        return;
    }
    let cluster = start_store_only("probe").await;
    let store = cluster.store().clone();
    let create = |p: Value| store.create(Resource::Pods, Some("default"), p).unwrap();
    // Exec probe: not ready until the file exists; the container creates it after a while.
    let mut c = ctr(&[
        "sh",
        "-c",
        "sleep 2; touch /tmp/nv-ready-$HOSTNAME-$MARK; sleep 3600",
    ]);
    c["env"] = json!([{"name": "MARK", "value": cluster.name()}]);
    c["readinessProbe"] = json!({"exec": {"command": ["sh", "-c", "test -e /tmp/nv-ready-$HOSTNAME-$MARK"]}, "periodSeconds": 1});
    create(pod("exec", c, json!({})));
    // TCP and HTTP probes against a port that never opens: never ready.
    let mut c = ctr(&["sleep", "3600"]);
    c["readinessProbe"] =
        json!({"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 1});
    create(pod("tcp", c, json!({})));
    let mut c = ctr(&[
        "sh",
        "-c",
        "while true; do printf 'HTTP/1.1 204 No Content\\r\\n\\r\\n' | nc -l -p 8080 -q 1; done",
    ]);
    c["ports"] = json!([{"name": "web", "containerPort": 8080}]);
    c["readinessProbe"] =
        json!({"httpGet": {"port": "web", "path": "/healthz"}, "periodSeconds": 1});
    create(pod("http", c, json!({})));
    // Downward API and identity.
    let mut c = ctr(&["sleep", "3600"]);
    c["env"] = json!([
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "GREETING", "value": "hi $(POD)"}]);
    create(pod(
        "env",
        c,
        json!({"securityContext": {"runAsUser": 65532, "runAsGroup": 65533}}),
    ));

    let p = wait_pod(&store, "default", "exec", "Running", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
    assert!(!is_ready(&p), "ready before its probe passed");
    wait_pod(&store, "default", "exec", "Ready", is_ready).await;
    wait_pod(&store, "default", "http", "Ready", is_ready).await;
    let p = wait_pod(&store, "default", "env", "Ready", is_ready).await;
    let (out, _, code) = exec(
        &cluster,
        "default",
        "env",
        &[
            "sh",
            "-c",
            "echo $POD $NS $IP $NODE $GREETING; id -u; id -g",
        ],
    )
    .await;
    assert_eq!(code, 0);
    let want = format!(
        "env default {} {} hi env\n65532\n65533\n",
        pod_ip(&p),
        p["spec"]["nodeName"].as_str().unwrap()
    );
    assert_eq!(out, want);
    let p = wait_pod(&store, "default", "tcp", "probed", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
    assert!(!is_ready(&p));
    // Unhealthy events of the TCP probe.
    let mut unhealthy = false;
    for _ in 0..100 {
        let (events, _) = store
            .list(Resource::Events, Some("default"), &Default::default())
            .unwrap();
        if events
            .iter()
            .any(|e| e["reason"] == "Unhealthy" && e["involvedObject"]["name"] == "tcp")
        {
            unhealthy = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(unhealthy, "no Unhealthy event for the TCP probe");
    assert!(!is_ready(
        &store.get(Resource::Pods, Some("default"), "tcp").unwrap()
    ));
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_and_drop_leave_nothing_behind() {
    if !running_as_root() {
        return;
    }
    for how in ["shutdown", "drop"] {
        let cluster = start_store_only("clean").await;
        let marker = format!("nv-marker-{}", cluster.name());
        let prefix = cluster.netns_prefix();
        let store = cluster.store().clone();
        // The shell's command line carries the marker while it waits for `sleep`.
        let script = format!("sleep 3600; : {marker}");
        store
            .create(
                Resource::Pods,
                Some("default"),
                sh_pod("default", "s", json!({}), &script),
            )
            .unwrap();
        wait_pod(&store, "default", "s", "Ready", is_ready).await;
        assert!(!netns_with_prefix(&prefix).is_empty());
        assert_eq!(processes_with(&marker).len(), 1);
        let dir = std::path::PathBuf::from("/run/netverdict").join(cluster.name());
        assert!(dir.join("pid").exists());
        if how == "shutdown" {
            cluster.shutdown().await.unwrap();
        } else {
            drop(cluster);
        }
        assert_eq!(netns_with_prefix(&prefix), Vec::<String>::new(), "{how}");
        assert_eq!(processes_with(&marker), Vec::<String>::new(), "{how}");
        assert!(!dir.exists(), "{how}: {} is left", dir.display());
        // Nothing ever appeared in the machine's own namespace.
        let links = std::process::Command::new("ip")
            .args(["-o", "link", "show"])
            .output()
            .unwrap();
        let links = String::from_utf8_lossy(&links.stdout).into_owned();
        for line in links.lines() {
            let name = line.split(':').nth(1).unwrap_or_default().trim();
            assert!(
                !name.starts_with("pod") && !name.starts_with("ext0"),
                "{how}: host link {name}"
            );
        }
        let tables = std::process::Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap();
        let tables = String::from_utf8_lossy(&tables.stdout).into_owned();
        assert!(
            !tables.contains("netverdict"),
            "{how}: host nft tables {tables}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_a_vanished_instance_are_removed() {
    if !running_as_root() {
        return;
    }
    let cluster = start_store_only("gone").await;
    let name = cluster.name().to_owned();
    let prefix = cluster.netns_prefix();
    let store = cluster.store().clone();
    store
        .create(
            Resource::Pods,
            Some("default"),
            sh_pod("default", "s", json!({}), "sleep 3600"),
        )
        .unwrap();
    wait_pod(&store, "default", "s", "Ready", is_ready).await;
    // As if the process had been killed: nothing of it runs its cleanup.
    std::mem::forget(cluster);
    assert!(!netns_with_prefix(&prefix).is_empty());
    let removed = netverdict_netns::destroy_leftovers(Some(&name)).unwrap();
    assert!(!removed.is_empty());
    assert_eq!(netns_with_prefix(&prefix), Vec::<String>::new());
    std::fs::remove_dir_all(std::path::Path::new("/run/netverdict").join(&name)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_grace_periods_and_leftover_processes() {
    if !running_as_root() {
        return;
    }
    let cluster = start_store_only("sched").await;
    let store = cluster.store().clone();
    let create = |p: Value| store.create(Resource::Pods, Some("default"), p).unwrap();
    // A hostname selector is honoured; one that no node matches stays Pending.
    let worker = format!("{}-worker", cluster.name());
    let on_worker = json!({"nodeSelector": {"kubernetes.io/hostname": worker}});
    create(pod("pinned", ctr(&["sleep", "3600"]), on_worker));
    let nowhere = json!({"nodeSelector": {"kubernetes.io/hostname": "nope"}});
    create(pod("nowhere", ctr(&["sleep", "3600"]), nowhere));
    // A process that ignores SIGTERM is killed once the grace period is over.
    create(pod(
        "stubborn",
        ctr(&["sh", "-c", "trap '' TERM; sleep 3600"]),
        json!({}),
    ));
    // Processes the main one left behind end with it.
    let marker = format!("nv-orphan-{}", cluster.name());
    let script = format!("sh -c 'sleep 3600; : {marker}' & sleep 0.2; exit 0");
    create(pod(
        "orphan",
        ctr(&["sh", "-c", &script]),
        json!({"restartPolicy": "Never"}),
    ));
    // No running container to exec in.
    create(pod("missing", ctr(&["no-such-binary-here"]), json!({})));

    let p = wait_pod(&store, "default", "pinned", "Running", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
    assert_eq!(p["spec"]["nodeName"], worker.as_str());
    assert!(
        pod_ip(&p).starts_with("10.244.1."),
        "the worker's pod range: {p}"
    );
    let p = wait_pod(&store, "default", "nowhere", "unschedulable", |p| {
        p["status"]["conditions"][0]["reason"] == "Unschedulable"
    })
    .await;
    assert_eq!(p["status"]["phase"], "Pending");
    assert!(p["spec"]["nodeName"].is_null());

    wait_pod(&store, "default", "stubborn", "Running", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
    store
        .delete(Resource::Pods, Some("default"), "stubborn", None)
        .unwrap();
    let p = store
        .get(Resource::Pods, Some("default"), "stubborn")
        .unwrap();
    assert!(
        !p["metadata"]["deletionTimestamp"].is_null(),
        "graceful: marked first"
    );
    wait_gone(&store, "default", "stubborn").await;

    wait_pod(&store, "default", "orphan", "Succeeded", |p| {
        p["status"]["phase"] == "Succeeded"
    })
    .await;
    let mut left = processes_with(&marker);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        left = processes_with(&marker);
    }
    assert_eq!(
        left,
        Vec::<String>::new(),
        "a background process outlived its container"
    );

    wait_pod(&store, "default", "missing", "waiting", |p| {
        cstatus(p)["state"]["waiting"]["reason"] == "RunContainerError"
    })
    .await;
    let refused = cluster
        .exec_handler()
        .exec("default", "missing", None, vec!["true".into()], false)
        .await;
    assert_eq!(refused.err().map(|e| e.code), Some(400));

    let (events, _) = store
        .list(Resource::Events, Some("default"), &Default::default())
        .unwrap();
    let reasons: Vec<&str> = events.iter().filter_map(|e| e["reason"].as_str()).collect();
    for want in ["FailedScheduling", "Killing"] {
        assert!(reasons.contains(&want), "no {want} event in {reasons:?}");
    }
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_starts_once_its_command_appears() {
    if !running_as_root() {
        return;
    }
    let cluster = start_store_only("later").await;
    let store = cluster.store().clone();
    let dir = ReachableDir::new(&format!("later-{}", cluster.name()));
    let path = dir.path().join("command");
    let command = path.to_str().unwrap();
    let p = pod("later", ctr(&[command]), json!({"restartPolicy": "Never"}));
    store.create(Resource::Pods, Some("default"), p).unwrap();
    let p = wait_pod(&store, "default", "later", "waiting", |p| {
        cstatus(p)["state"]["waiting"]["reason"] == "RunContainerError"
    })
    .await;
    let message = cstatus(&p)["state"]["waiting"]["message"].as_str().unwrap();
    assert!(message.contains("no such file or directory"), "{message}");
    std::fs::write(&path, "#!/bin/sh\nexec sleep 3600\n").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let p = wait_pod(&store, "default", "later", "Running", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
    assert_eq!(cstatus(&p)["restartCount"], 0);
    std::fs::remove_file(&path).unwrap();
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_sysctls_apply_inside_the_pod_only() {
    if !running_as_root() {
        return;
    }
    let cluster = start_store_only("sysctl").await;
    let store = cluster.store().clone();
    let sysctls = json!({"securityContext": {"sysctls": [
        {"name": "net.ipv4.ip_local_port_range", "value": "20000 21000"},
        {"name": "kernel.shm_rmid_forced", "value": "1"}]}});
    let p = pod("s", ctr(&["sleep", "3600"]), sysctls);
    store.create(Resource::Pods, Some("default"), p).unwrap();
    wait_pod(&store, "default", "s", "Ready", is_ready).await;
    let range = ["cat", "/proc/sys/net/ipv4/ip_local_port_range"];
    let (out, _, code) = exec(&cluster, "default", "s", &range).await;
    assert_eq!(
        (out.split_whitespace().collect::<Vec<_>>(), code),
        (vec!["20000", "21000"], 0)
    );
    let machine = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    assert_ne!(
        machine.split_whitespace().collect::<Vec<_>>(),
        vec!["20000", "21000"]
    );
    let (events, _) = store
        .list(Resource::Events, Some("default"), &Default::default())
        .unwrap();
    assert!(
        events.iter().any(|e| e["reason"] == "SysctlForbidden"),
        "{events:?}"
    );
    cluster.shutdown().await.unwrap();
}

/// With slow namespace deletion, a deleted namespace outlives its contents: Terminating, with
/// its `kubernetes` finalizer, refusing new content, until the namespace controller lets it go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_namespace_stays_terminating_after_its_contents_when_deletion_is_slow() {
    if !running_as_root() {
        return;
    }
    let mut config = config("nsdel");
    config.api_bind = None;
    config.namespace_deletion = std::time::Duration::from_secs(3);
    let cluster = netverdict_localcluster::LocalCluster::start(config)
        .await
        .expect("the local cluster starts");
    let store = cluster.store().clone();
    let namespace = json!({"metadata": {"name": "slow"}});
    store
        .create(Resource::Namespaces, None, namespace.clone())
        .unwrap();
    let mut sleeper = pod("sleeper", ctr(&["sleep", "3600"]), json!({}));
    sleeper["metadata"]["namespace"] = json!("slow");
    store.create(Resource::Pods, Some("slow"), sleeper).unwrap();
    wait_pod(&store, "slow", "sleeper", "Running", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;

    store
        .delete(Resource::Namespaces, None, "slow", None)
        .unwrap();
    wait_gone(&store, "slow", "sleeper").await;
    let left = store.get(Resource::Namespaces, None, "slow").unwrap();
    assert_eq!(left["status"]["phase"], "Terminating", "{left}");
    assert_eq!(left["spec"]["finalizers"], json!(["kubernetes"]));
    let refused = store
        .create(
            Resource::ConfigMaps,
            Some("slow"),
            json!({"metadata": {"name": "late"}}),
        )
        .unwrap_err();
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        store
            .create(Resource::Namespaces, None, namespace.clone())
            .unwrap_err()
            .code,
        409
    );

    let mut gone = false;
    for _ in 0..1200 {
        if store.get(Resource::Namespaces, None, "slow").is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "the namespace never went");
    store
        .create(Resource::Namespaces, None, namespace)
        .expect("the name is free again");
    cluster.shutdown().await.unwrap();
}
