//! kube-rs clients against the server: what the local cluster's users and netverdict's runner do.

mod common;

use std::time::Duration;

use common::Harness;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, AttachParams, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::watcher;
use netverdict_apiserver::Resource;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn mk_pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "ports": [{"containerPort": 8080}]}]},
    }))
    .unwrap()
}

fn api_code(error: kube::Error) -> u16 {
    match error {
        kube::Error::Api(status) => status.code,
        other => panic!("not an API error: {other:?}"),
    }
}

#[tokio::test]
async fn a_pod_is_created_watched_until_running_and_deleted() {
    let h = Harness::start().await;
    let pods: Api<Pod> = Api::namespaced(h.client().await, "default");
    let created = pods
        .create(&PostParams::default(), &mk_pod("web"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));

    let running = tokio::spawn(await_condition(
        pods.clone(),
        "web",
        conditions::is_pod_running(),
    ));
    let mut events = watcher(pods.clone(), watcher::Config::default()).boxed();
    loop {
        if let watcher::Event::InitDone = events.try_next().await.unwrap().unwrap() {
            break;
        }
    }
    h.run_pod("default", "web", "10.244.1.2");
    let pod = running.await.unwrap().unwrap().unwrap();
    assert_eq!(
        pod.status.as_ref().unwrap().pod_ip.as_deref(),
        Some("10.244.1.2")
    );
    let seen = loop {
        if let watcher::Event::Apply(pod) = events.try_next().await.unwrap().unwrap() {
            break pod;
        }
    };
    assert_eq!(seen.status.unwrap().phase.as_deref(), Some("Running"));

    let deleted = pods.delete("web", &DeleteParams::default()).await.unwrap();
    let marked = deleted.left().expect("a running pod is only marked");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(30));
    h.store
        .finalize_delete(Resource::Pods, Some("default"), "web")
        .unwrap();
    let gone = loop {
        if let watcher::Event::Delete(pod) = events.try_next().await.unwrap().unwrap() {
            break pod;
        }
    };
    assert_eq!(gone.metadata.name.as_deref(), Some("web"));
    assert_eq!(api_code(pods.get("web").await.unwrap_err()), 404);
}

#[tokio::test]
async fn exec_streams_stdout_stderr_stdin_and_the_status() {
    let h = Harness::start().await;
    let pods: Api<Pod> = Api::namespaced(h.client().await, "default");
    pods.create(&PostParams::default(), &mk_pod("web"))
        .await
        .unwrap();
    h.run_pod("default", "web", "10.244.1.3");

    let params = AttachParams::default().stdout(true).stderr(true);
    let mut process = pods
        .exec(
            "web",
            ["sh", "-c", "echo out; echo err >&2; exit 3"],
            &params,
        )
        .await
        .unwrap();
    let mut stdout = process.stdout().unwrap();
    let mut stderr = process.stderr().unwrap();
    let status = process.take_status().unwrap();
    let (out, err, status) = tokio::join!(
        async {
            let mut s = String::new();
            stdout.read_to_string(&mut s).await.unwrap();
            s
        },
        async {
            let mut s = String::new();
            stderr.read_to_string(&mut s).await.unwrap();
            s
        },
        status
    );
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    let status = status.unwrap();
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let causes = status.details.unwrap().causes.unwrap();
    assert_eq!(
        (causes[0].reason.as_deref(), causes[0].message.as_deref()),
        (Some("ExitCode"), Some("3"))
    );
    process.join().await.unwrap();

    let params = AttachParams::default()
        .stdin(true)
        .stdout(true)
        .stderr(false);
    let mut process = pods
        .exec("web", ["tr", "a-z", "A-Z"], &params)
        .await
        .unwrap();
    let mut stdin = process.stdin().unwrap();
    let mut stdout = process.stdout().unwrap();
    let status = process.take_status().unwrap();
    stdin.write_all(b"netverdict\n").await.unwrap();
    // Shutting stdin down sends the v5 close signal; dropping a split half would not.
    stdin.shutdown().await.unwrap();
    let mut out = String::new();
    stdout.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "NETVERDICT\n");
    let status = status.await.unwrap();
    assert_eq!(status.status.as_deref(), Some("Success"));

    pods.create(&PostParams::default(), &mk_pod("idle"))
        .await
        .unwrap();
    let Err(unbound) = pods.exec("idle", ["true"], &AttachParams::default()).await else {
        panic!("an exec into an unbound pod is refused before the upgrade");
    };
    assert_eq!(api_code(unbound), 400);
    let params = AttachParams::default().container("nope");
    let Err(unknown) = pods.exec("web", ["true"], &params).await else {
        panic!("an exec into an unknown container is refused");
    };
    assert_eq!(api_code(unknown), 400);

    // A bound pod whose container is not running: the handler refuses after the upgrade.
    h.store
        .mutate(Resource::Pods, Some("default"), "idle", |pod| {
            pod["spec"]["nodeName"] = json!("node-1");
            Ok(())
        })
        .unwrap();
    let mut process = pods
        .exec("idle", ["true"], &AttachParams::default())
        .await
        .unwrap();
    let status = process.take_status().unwrap().await.unwrap();
    assert_eq!(
        (status.reason.as_deref(), status.code),
        (Some("BadRequest"), Some(400)),
        "{status:?}"
    );
}

#[tokio::test]
async fn patches_and_updates_follow_the_api_rules() {
    let h = Harness::start().await;
    let pods: Api<Pod> = Api::namespaced(h.client().await, "default");
    let original = pods
        .create(&PostParams::default(), &mk_pod("web"))
        .await
        .unwrap();

    let apply = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"owner": "netverdict"}}});
    let applied = pods
        .patch(
            "web",
            &PatchParams::apply("netverdict").force(),
            &Patch::Apply(&apply),
        )
        .await
        .unwrap();
    let labels = applied.metadata.labels.unwrap();
    assert_eq!(
        (labels["app"].as_str(), labels["owner"].as_str()),
        ("web", "netverdict")
    );

    let strategic = json!({"spec": {"containers": [{"name": "main", "image": "busybox:1.37"}]}});
    let patched = pods
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(&strategic),
        )
        .await
        .unwrap();
    let container = &patched.spec.unwrap().containers[0];
    assert_eq!(container.image.as_deref(), Some("busybox:1.37"));
    assert_eq!(
        container.ports.as_ref().unwrap()[0].container_port,
        8080,
        "strategic merge keeps the ports"
    );

    let merge = json!({"metadata": {"labels": {"owner": null}}});
    let merged = pods
        .patch("web", &PatchParams::default(), &Patch::Merge(&merge))
        .await
        .unwrap();
    assert!(!merged.metadata.labels.unwrap().contains_key("owner"));
    let ops = serde_json::from_value(
        json!([{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}]),
    )
    .unwrap();
    let json_patched = pods
        .patch("web", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .unwrap();
    assert_eq!(json_patched.metadata.annotations.unwrap()["a"], "b");

    let status = json!({"status": {"phase": "Running", "podIP": "10.244.1.9"}});
    let with_status = pods
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        with_status.status.unwrap().pod_ip.as_deref(),
        Some("10.244.1.9")
    );
    let spec_status = json!({"status": {"phase": "Failed"}});
    let ignored = pods
        .patch("web", &PatchParams::default(), &Patch::Merge(&spec_status))
        .await
        .unwrap();
    assert_eq!(
        ignored.status.unwrap().phase.as_deref(),
        Some("Running"),
        "the main resource ignores status"
    );

    let stale = pods
        .replace("web", &PostParams::default(), &original)
        .await
        .unwrap_err();
    assert_eq!(api_code(stale), 409);
    let mut current = pods.get("web").await.unwrap();
    current
        .metadata
        .labels
        .get_or_insert_default()
        .insert("replaced".into(), "yes".into());
    let replaced = pods
        .replace("web", &PostParams::default(), &current)
        .await
        .unwrap();
    assert!(replaced.metadata.resource_version > current.metadata.resource_version);

    let listed = pods
        .list(&ListParams::default().labels("app=web,replaced"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());
    pods.create(&PostParams::default(), &mk_pod("other"))
        .await
        .unwrap();
    let collection = pods
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("app in (other)"),
        )
        .await
        .unwrap();
    assert_eq!(collection.left().unwrap().items.len(), 1);
    assert_eq!(
        pods.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
}

#[tokio::test]
async fn an_expired_resource_version_is_a_410_event_and_the_watcher_relists() {
    let h = Harness::start().await;
    let client = h.client().await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let old = maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    pods.create(&PostParams::default(), &mk_pod("bump"))
        .await
        .unwrap();
    h.store.compact();
    let mut stream = maps
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    assert!(
        stream.try_next().await.unwrap().is_none(),
        "the stream ends after the error"
    );

    let mut events = watcher(maps.clone(), watcher::Config::default()).boxed();
    let mut inits = 0;
    while inits < 1 {
        if let Ok(watcher::Event::InitDone) = events.next().await.unwrap() {
            inits += 1;
        }
    }
    maps.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "seen"}})).unwrap(),
    )
    .await
    .unwrap();
    loop {
        if let Ok(watcher::Event::Apply(cm)) = events.next().await.unwrap() {
            assert_eq!(cm.metadata.name.as_deref(), Some("seen"));
            break;
        }
    }
    // Changes the watcher does not see move the store on; compaction then expires its version.
    pods.create(&PostParams::default(), &mk_pod("bump2"))
        .await
        .unwrap();
    h.store.compact();
    let mut saw_gone = false;
    loop {
        match events.next().await.unwrap() {
            Err(watcher::Error::WatchError(status)) if status.code == 410 => saw_gone = true,
            Ok(watcher::Event::InitApply(cm)) => {
                assert_eq!(cm.metadata.name.as_deref(), Some("seen"))
            }
            Ok(watcher::Event::InitDone) => break,
            _ => {}
        }
    }
    assert!(saw_gone, "the watcher relisted because of the 410");
}

#[tokio::test]
async fn watches_from_a_resource_version_replay_and_bookmark() {
    let store = netverdict_apiserver::Store::new();
    let options = netverdict_apiserver::ServerOptions {
        bookmark_interval: Duration::from_millis(50),
        ..Default::default()
    };
    let h = Harness::start_with(store, options).await;
    let maps: Api<ConfigMap> = Api::namespaced(h.client().await, "default");
    let start = maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for name in ["a", "b"] {
        maps.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await
        .unwrap();
    }
    let mut stream = maps
        .watch(&WatchParams::default(), &start)
        .await
        .unwrap()
        .boxed();
    let mut added = Vec::new();
    let bookmark = loop {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(cm) => added.push(cm.metadata.name.unwrap()),
            WatchEvent::Bookmark(bookmark) => break bookmark,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(added, ["a", "b"]);
    let rv: u64 = bookmark.metadata.resource_version.parse().unwrap();
    assert!(
        rv >= h.store.resource_version() - 1,
        "the bookmark vouches for the replayed changes"
    );
}

#[tokio::test]
async fn a_streaming_list_ends_its_initial_events_with_a_bookmark() {
    let h = Harness::start().await;
    let maps: Api<ConfigMap> = Api::namespaced(h.client().await, "default");
    maps.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "first"}})).unwrap(),
    )
    .await
    .unwrap();
    let mut events = watcher(maps.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = Vec::new();
    loop {
        match events.try_next().await.unwrap().unwrap() {
            watcher::Event::InitApply(cm) => initial.push(cm.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(initial, ["first"]);
    maps.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "second"}})).unwrap(),
    )
    .await
    .unwrap();
    loop {
        if let watcher::Event::Apply(cm) = events.try_next().await.unwrap().unwrap() {
            assert_eq!(cm.metadata.name.as_deref(), Some("second"));
            break;
        }
    }
}

#[tokio::test]
async fn shutdown_ends_open_watches_and_exec_streams() {
    let h = Harness::start().await;
    let client = h.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &mk_pod("web"))
        .await
        .unwrap();
    h.run_pod("default", "web", "10.244.1.4");
    let rv = h.store.resource_version().to_string();
    let mut watch = pods
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let mut process = pods
        .exec("web", ["sleep", "600"], &AttachParams::default())
        .await
        .unwrap();
    let mut stdout = process.stdout().unwrap();
    let Harness { server, dir, .. } = h;
    server.server.shutdown().await;
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    while let Ok(Some(event)) = watch.try_next().await {
        assert!(
            matches!(event, WatchEvent::Bookmark(_)),
            "no changes were made: {event:?}"
        );
    }
    drop(dir);
}

#[tokio::test]
async fn server_side_apply_removes_what_a_manager_stops_applying() {
    let h = Harness::start().await;
    let policies: Api<k8s_openapi::api::networking::v1::NetworkPolicy> =
        Api::namespaced(h.client().await, "default");
    let params = PatchParams::apply("netverdict").force();
    let first = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "p", "labels": {"scenario": "one", "stale": "yes"}},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"podSelector": {}}]}]},
    });
    let created = policies
        .patch("p", &params, &Patch::Apply(&first))
        .await
        .unwrap();
    assert_eq!(
        created.metadata.managed_fields.unwrap()[0]
            .manager
            .as_deref(),
        Some("netverdict")
    );
    let unchanged = policies
        .patch("p", &params, &Patch::Apply(&first))
        .await
        .unwrap();
    assert_eq!(
        unchanged.metadata.resource_version, created.metadata.resource_version,
        "a no-op apply changes nothing"
    );
    let merge = json!({"metadata": {"labels": {"manual": "kept"}}});
    policies
        .patch("p", &PatchParams::default(), &Patch::Merge(&merge))
        .await
        .unwrap();
    let second = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "p", "labels": {"scenario": "two"}},
        "spec": {"podSelector": {"matchLabels": {"tier": "db"}}, "policyTypes": ["Ingress"]},
    });
    let applied = policies
        .patch("p", &params, &Patch::Apply(&second))
        .await
        .unwrap();
    let labels = applied.metadata.labels.unwrap();
    assert_eq!(
        labels.keys().map(String::as_str).collect::<Vec<_>>(),
        ["manual", "scenario"]
    );
    assert_eq!(labels["scenario"], "two");
    let spec = applied.spec.unwrap();
    let selector = spec.pod_selector.unwrap().match_labels.unwrap();
    assert_eq!(
        selector.keys().map(String::as_str).collect::<Vec<_>>(),
        ["tier"]
    );
    assert!(
        spec.ingress.is_none(),
        "the ingress rules are no longer applied"
    );
    assert_eq!(applied.metadata.generation, Some(2));
}

#[tokio::test]
async fn paged_lists_share_one_resource_version() {
    let h = Harness::start().await;
    for i in 0..1200 {
        h.store
            .create(
                Resource::ConfigMaps,
                Some("default"),
                json!({"metadata": {"name": format!("cm-{i:04}")}}),
            )
            .unwrap();
    }
    let maps: Api<ConfigMap> = Api::namespaced(h.client().await, "default");
    let first = maps.list(&ListParams::default().limit(500)).await.unwrap();
    assert_eq!(first.items.len(), 500);
    assert_eq!(first.metadata.remaining_item_count, Some(700));
    let version = first.metadata.resource_version.clone();
    // A change between pages does not show in the later pages.
    h.store
        .create(
            Resource::ConfigMaps,
            Some("default"),
            json!({"metadata": {"name": "cm-late"}}),
        )
        .unwrap();
    let mut names: Vec<String> = first
        .items
        .into_iter()
        .map(|cm| cm.metadata.name.unwrap())
        .collect();
    let mut token = first.metadata.continue_;
    while let Some(next) = token.filter(|t| !t.is_empty()) {
        let page = maps
            .list(&ListParams::default().limit(500).continue_token(&next))
            .await
            .unwrap();
        assert_eq!(page.metadata.resource_version, version);
        names.extend(page.items.into_iter().map(|cm| cm.metadata.name.unwrap()));
        token = page.metadata.continue_;
    }
    assert_eq!(names.len(), 1200);
    assert_eq!(names.first().map(String::as_str), Some("cm-0000"));
    assert_eq!(names.last().map(String::as_str), Some("cm-1199"));
    let stale = maps
        .list(&ListParams::default().continue_token("gone:5"))
        .await
        .unwrap_err();
    assert_eq!(api_code(stale), 410);
    let everything = watcher(maps, watcher::Config::default()).boxed();
    let mut count = 0;
    let mut everything = everything;
    loop {
        match everything.try_next().await.unwrap().unwrap() {
            watcher::Event::InitApply(_) => count += 1,
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(count, 1201, "the watcher pages through the whole list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reflector_converges_on_the_store_under_concurrent_writers() {
    let h = Harness::start().await;
    let client = h.client().await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let (reader, writer) = kube::runtime::reflector::store::<ConfigMap>();
    let stream =
        kube::runtime::reflector(writer, watcher(maps.clone(), watcher::Config::default()));
    let drive = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while stream.next().await.is_some() {}
    });
    reader.wait_until_ready().await.unwrap();

    let mut writers = Vec::new();
    for t in 0..6 {
        let maps = maps.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..60 {
                let name = format!("cm-{t}-{i}");
                let cm =
                    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"n": "0"}}))
                        .unwrap();
                maps.create(&PostParams::default(), &cm).await.unwrap();
                let patch =
                    json!({"metadata": {"labels": {"writer": t.to_string()}}, "data": {"n": "1"}});
                maps.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .unwrap();
                if i % 3 == 0 {
                    maps.delete(&name, &DeleteParams::default()).await.unwrap();
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let sentinel = serde_json::from_value(json!({"metadata": {"name": "done"}})).unwrap();
    maps.create(&PostParams::default(), &sentinel)
        .await
        .unwrap();
    let done = kube::runtime::reflector::ObjectRef::<ConfigMap>::new("done").within("default");
    while reader.get(&done).is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut seen: Vec<(String, String)> = reader
        .state()
        .iter()
        .map(|cm| {
            (
                cm.metadata.name.clone().unwrap(),
                cm.metadata.resource_version.clone().unwrap(),
            )
        })
        .collect();
    seen.sort();
    let (items, _) = h
        .store
        .list(Resource::ConfigMaps, Some("default"), &Default::default())
        .unwrap();
    let mut stored: Vec<(String, String)> = items
        .iter()
        .map(|cm| {
            (
                cm["metadata"]["name"].as_str().unwrap().to_owned(),
                cm["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    stored.sort();
    assert_eq!(stored.len(), 6 * 40 + 1);
    assert_eq!(seen, stored);
    drive.abort();
}

#[tokio::test]
async fn a_v4_only_server_loses_the_status_of_a_client_that_closes_stdin() {
    let options = netverdict_apiserver::ServerOptions {
        exec_v5: false,
        ..Default::default()
    };
    let h = Harness::start_with(netverdict_apiserver::Store::new(), options).await;
    let pods: Api<Pod> = Api::namespaced(h.client().await, "default");
    pods.create(&PostParams::default(), &mk_pod("web"))
        .await
        .unwrap();
    h.run_pod("default", "web", "10.244.1.3");
    let params = AttachParams::default()
        .stdin(true)
        .stdout(true)
        .stderr(false);

    // Under v4 a client can only close stdin by closing the whole stream, which ends the session.
    let mut process = pods.exec("web", ["cat"], &params).await.unwrap();
    let mut stdin = process.stdin().unwrap();
    let status = process.take_status().unwrap();
    stdin.write_all(b"netverdict\n").await.unwrap();
    stdin.shutdown().await.unwrap();
    assert!(status.await.is_none(), "no status after the client's close");

    // Kept open until the command ends, stdin costs nothing and the status arrives.
    let mut process = pods
        .exec("web", ["head", "-n", "1"], &params)
        .await
        .unwrap();
    let mut stdin = process.stdin().unwrap();
    let mut stdout = process.stdout().unwrap();
    let status = process.take_status().unwrap();
    stdin.write_all(b"netverdict\n").await.unwrap();
    let mut out = String::new();
    stdout.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "netverdict\n");
    let status = status.await.expect("the status arrives");
    assert_eq!(status.status.as_deref(), Some("Success"));
    drop(stdin);
}

#[tokio::test]
async fn the_api_of_kubernetes_1_20_drops_end_port_and_serves_no_endpoint_slice_v1() {
    let store = netverdict_apiserver::Store::with_options(netverdict_apiserver::StoreOptions {
        network_policy_end_port: false,
        ..Default::default()
    });
    let options = netverdict_apiserver::ServerOptions {
        endpoint_slices_v1: false,
        ..Default::default()
    };
    let h = Harness::start_with(store, options).await;
    let client = h.client().await;
    let policies: Api<k8s_openapi::api::networking::v1::NetworkPolicy> =
        Api::namespaced(client.clone(), "default");
    let policy = serde_json::from_value(json!({
        "metadata": {"name": "range"},
        "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 8000, "endPort": 8010}]}]},
    }))
    .unwrap();
    let stored = policies
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
    let ingress = stored.spec.unwrap().ingress.unwrap();
    let port = &ingress[0].ports.as_ref().unwrap()[0];
    assert_eq!(port.end_port, None, "dropped silently");
    assert!(port.port.is_some());

    let slices: Api<k8s_openapi::api::discovery::v1::EndpointSlice> =
        Api::namespaced(client.clone(), "default");
    let error = slices.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(api_code(error), 404);
    let groups = client.list_api_groups().await.unwrap();
    assert!(
        groups.groups.iter().all(|g| g.name != "discovery.k8s.io"),
        "not in discovery"
    );
}
