//! Unit tests of the store's lifecycle rules.

use serde_json::{Value, json};

use crate::{
    FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Propagation, Resource, Selection, Store, StoreOptions,
    WatchEvent,
};

fn mk_pod(name: &str, labels: Value) -> Value {
    json!({"metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}]}]}})
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap()
}

fn rv_of(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn drain(rx: &mut tokio::sync::mpsc::Receiver<WatchEvent>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Ok(event) = rx.try_recv() {
        let (kind, object) = match event {
            WatchEvent::Added(o) => ("ADDED", o),
            WatchEvent::Modified(o) => ("MODIFIED", o),
            WatchEvent::Deleted(o) => ("DELETED", o),
            WatchEvent::Bookmark { .. } => continue,
        };
        out.push((kind.to_owned(), name_of(&object).to_owned()));
    }
    out
}

fn bind(store: &Store, ns: &str, name: &str) {
    store
        .mutate(Resource::Pods, Some(ns), name, |pod| {
            pod["spec"]["nodeName"] = json!("node-1");
            pod["status"]["phase"] = json!("Running");
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_new_store_has_the_initial_namespaces_and_the_kubernetes_service() {
    let store = Store::new();
    let (namespaces, _) = store
        .list(Resource::Namespaces, None, &Selection::default())
        .unwrap();
    let names: Vec<&str> = namespaces.iter().map(name_of).collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    assert_eq!(
        namespaces[0]["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "default"
    );
    assert_eq!(namespaces[0]["status"]["phase"], "Active");
    let kubernetes = store
        .get(Resource::Services, Some("default"), "kubernetes")
        .unwrap();
    assert_eq!(kubernetes["spec"]["clusterIP"], "10.96.0.1");
}

#[test]
fn create_fills_metadata_and_defaults() {
    let store = Store::new();
    let pod = store
        .create(
            Resource::Pods,
            Some("default"),
            mk_pod("p", json!({"app": "a"})),
        )
        .unwrap();
    assert_eq!(pod["apiVersion"], "v1");
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["namespace"], "default");
    assert_eq!(pod["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert!(
        pod["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(pod["metadata"]["generation"], 1);
    assert_eq!(rv_of(&pod), store.resource_version());
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["spec"]["restartPolicy"], "Always");
    assert_eq!(pod["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
    assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
    let again = store
        .create(Resource::Pods, Some("default"), mk_pod("p", json!({})))
        .unwrap_err();
    assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"));
    let missing = store
        .create(Resource::Pods, Some("nope"), mk_pod("q", json!({})))
        .unwrap_err();
    assert_eq!(
        (missing.code, missing.message.as_str()),
        (404, "namespaces \"nope\" not found")
    );
    let generated = store
        .create(
            Resource::ConfigMaps,
            Some("default"),
            json!({"metadata": {"generateName": "cm-"}}),
        )
        .unwrap();
    assert!(name_of(&generated).starts_with("cm-") && name_of(&generated).len() == 8);
}

#[test]
fn invalid_objects_are_rejected_with_field_causes() {
    let store = Store::new();
    let bad = json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [
        {"name": "", "image": "x", "ports": [{"containerPort": 70000, "protocol": "ICMP"}]}
    ]}});
    let err = store
        .create(Resource::Pods, Some("default"), bad)
        .unwrap_err();
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    let fields: Vec<&str> = err.causes.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "metadata.name",
            "spec.containers[0].name",
            "spec.containers[0].ports[0].containerPort",
            "spec.containers[0].ports[0].protocol"
        ]
    );
    assert!(
        err.message.starts_with("Pod \"Bad_Name\" is invalid: ["),
        "{}",
        err.message
    );
    let no_containers = store
        .create(
            Resource::Pods,
            Some("default"),
            json!({"metadata": {"name": "x"}, "spec": {}}),
        )
        .unwrap_err();
    assert_eq!(
        no_containers.causes,
        [("spec.containers".to_owned(), "Required value".to_owned())]
    );
    let wrong_shape = store
        .create(
            Resource::Pods,
            Some("default"),
            json!({"metadata": {"name": "x"}, "spec": {"containers": 3}}),
        )
        .unwrap_err();
    assert_eq!(wrong_shape.code, 400);
    let policy = json!({"metadata": {"name": "np"}, "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]}});
    let err = store
        .create(Resource::NetworkPolicies, Some("default"), policy)
        .unwrap_err();
    assert_eq!(err.code, 422);
    assert!(
        err.causes
            .iter()
            .any(|(f, _)| f == "spec.ingress[0].from[0].ipBlock.cidr"),
        "{err:?}"
    );
}

#[test]
fn mutate_bumps_only_on_change_and_keeps_identity() {
    let store = Store::new();
    let pod = store
        .create(Resource::Pods, Some("default"), mk_pod("p", json!({})))
        .unwrap();
    let same = store
        .mutate(Resource::Pods, Some("default"), "p", |_| Ok(()))
        .unwrap();
    assert_eq!(rv_of(&same), rv_of(&pod));
    let changed = store
        .mutate(Resource::Pods, Some("default"), "p", |p| {
            p["metadata"]["uid"] = json!("forged");
            p["status"]["phase"] = json!("Running");
            Ok(())
        })
        .unwrap();
    assert!(rv_of(&changed) > rv_of(&pod));
    assert_eq!(changed["metadata"]["uid"], pod["metadata"]["uid"]);
    assert_eq!(
        changed["metadata"]["generation"], 1,
        "a status change keeps the generation"
    );
    let err = store
        .mutate(Resource::Pods, Some("default"), "p", |_| {
            Err(crate::ApiError::bad_request("no"))
        })
        .unwrap_err();
    assert_eq!(err.code, 400);
}

#[test]
fn update_checks_the_resource_version_and_keeps_status() {
    let store = Store::new();
    let pod = store
        .create(Resource::Pods, Some("default"), mk_pod("p", json!({})))
        .unwrap();
    let mut stale = pod.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let err = store
        .update(Resource::Pods, Some("default"), "p", stale, false)
        .unwrap_err();
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    let mut relabel = pod.clone();
    relabel["metadata"]["labels"] = json!({"x": "y"});
    relabel["status"]["phase"] = json!("Running");
    let updated = store
        .update(Resource::Pods, Some("default"), "p", relabel, false)
        .unwrap();
    assert_eq!(updated["metadata"]["labels"]["x"], "y");
    assert_eq!(
        updated["status"]["phase"], "Pending",
        "the main resource ignores status"
    );
    let mut status = updated.clone();
    status["status"]["phase"] = json!("Running");
    let updated = store
        .update(Resource::Pods, Some("default"), "p", status, true)
        .unwrap();
    assert_eq!(updated["status"]["phase"], "Running");
    let mut respec = updated.clone();
    respec["spec"]["containers"][0]["name"] = json!("other");
    let err = store
        .update(Resource::Pods, Some("default"), "p", respec, false)
        .unwrap_err();
    assert_eq!((err.code, err.causes[0].0.as_str()), (422, "spec"));
}

#[test]
fn watch_replays_history_and_follows_selection_changes() {
    let store = Store::new();
    let start = store.resource_version();
    store
        .create(
            Resource::Pods,
            Some("default"),
            mk_pod("a", json!({"app": "x"})),
        )
        .unwrap();
    store
        .create(
            Resource::Pods,
            Some("default"),
            mk_pod("b", json!({"app": "y"})),
        )
        .unwrap();
    let selection = Selection {
        label_selector: Some("app=x".into()),
        field_selector: None,
    };
    let mut replay = store
        .watch(Resource::Pods, None, &selection, Some(start))
        .unwrap();
    assert_eq!(drain(&mut replay), [("ADDED".to_owned(), "a".to_owned())]);
    let mut fresh = store
        .watch(Resource::Pods, Some("default"), &Selection::default(), None)
        .unwrap();
    assert_eq!(drain(&mut fresh).len(), 2);
    store
        .mutate(Resource::Pods, Some("default"), "b", |p| {
            p["metadata"]["labels"]["app"] = json!("x");
            Ok(())
        })
        .unwrap();
    store
        .mutate(Resource::Pods, Some("default"), "a", |p| {
            p["metadata"]["labels"]["app"] = json!("z");
            Ok(())
        })
        .unwrap();
    assert_eq!(
        drain(&mut replay),
        [
            ("ADDED".to_owned(), "b".to_owned()),
            ("DELETED".to_owned(), "a".to_owned())
        ]
    );
    assert_eq!(
        drain(&mut fresh),
        [
            ("MODIFIED".to_owned(), "b".to_owned()),
            ("MODIFIED".to_owned(), "a".to_owned())
        ]
    );
    let mut other_ns = store
        .watch(
            Resource::Pods,
            Some("kube-system"),
            &Selection::default(),
            Some(start),
        )
        .unwrap();
    assert!(drain(&mut other_ns).is_empty());
}

#[test]
fn an_expired_resource_version_is_gone() {
    let store = Store::with_options(StoreOptions {
        history_limit: 3,
        ..StoreOptions::default()
    });
    let start = store.resource_version();
    for i in 0..5 {
        store
            .create(
                Resource::ConfigMaps,
                Some("default"),
                json!({"metadata": {"name": format!("c{i}")}}),
            )
            .unwrap();
    }
    let err = store
        .watch(
            Resource::ConfigMaps,
            None,
            &Selection::default(),
            Some(start),
        )
        .unwrap_err();
    assert_eq!(err.code, 410);
    let mut recent = store
        .watch(
            Resource::ConfigMaps,
            None,
            &Selection::default(),
            Some(store.resource_version() - 3),
        )
        .unwrap();
    assert_eq!(drain(&mut recent).len(), 3);
    store.compact();
    assert!(recent.try_recv().is_err() && recent.is_closed());
}

#[test]
fn pods_bound_to_a_node_wait_for_the_kubelet() {
    let store = Store::new();
    store
        .create(
            Resource::Pods,
            Some("default"),
            mk_pod("unbound", json!({})),
        )
        .unwrap();
    store
        .delete(Resource::Pods, Some("default"), "unbound", None)
        .unwrap();
    assert_eq!(
        store
            .get(Resource::Pods, Some("default"), "unbound")
            .unwrap_err()
            .code,
        404
    );

    store
        .create(Resource::Pods, Some("default"), mk_pod("bound", json!({})))
        .unwrap();
    bind(&store, "default", "bound");
    let mut watch = store
        .watch(
            Resource::Pods,
            None,
            &Selection::default(),
            Some(store.resource_version()),
        )
        .unwrap();
    let marked = store
        .delete(Resource::Pods, Some("default"), "bound", Some(5))
        .unwrap();
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 5);
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert!(store.get(Resource::Pods, Some("default"), "bound").is_ok());
    store
        .finalize_delete(Resource::Pods, Some("default"), "bound")
        .unwrap();
    assert_eq!(
        store
            .get(Resource::Pods, Some("default"), "bound")
            .unwrap_err()
            .code,
        404
    );
    assert_eq!(
        drain(&mut watch),
        [
            ("MODIFIED".to_owned(), "bound".to_owned()),
            ("DELETED".to_owned(), "bound".to_owned())
        ]
    );

    store
        .create(Resource::Pods, Some("default"), mk_pod("forced", json!({})))
        .unwrap();
    bind(&store, "default", "forced");
    store
        .delete(Resource::Pods, Some("default"), "forced", Some(0))
        .unwrap();
    assert_eq!(
        store
            .get(Resource::Pods, Some("default"), "forced")
            .unwrap_err()
            .code,
        404
    );
}

/// A namespace `demo` holding a running pod, deleted: Terminating until the pod is finalized.
fn terminating_demo(store: &Store) -> Value {
    store
        .create(
            Resource::Namespaces,
            None,
            json!({"metadata": {"name": "demo"}}),
        )
        .unwrap();
    store
        .create(Resource::Pods, Some("demo"), mk_pod("p", json!({})))
        .unwrap();
    bind(store, "demo", "p");
    store
        .delete(Resource::Namespaces, None, "demo", None)
        .unwrap()
}

#[test]
fn creates_in_a_terminating_namespace_are_refused_as_namespace_lifecycle_refuses_them() {
    let store = Store::new();
    let ns = terminating_demo(&store);
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(ns["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));

    let err = store
        .create(Resource::Pods, Some("demo"), mk_pod("late", json!({})))
        .unwrap_err();
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        err.message,
        "pods \"late\" is forbidden: unable to create new content in namespace demo because it is being terminated"
    );
    let status = err.to_status(Some(("late", "", "pods")));
    assert_eq!(
        status["details"],
        json!({"name": "late", "kind": "pods", "causes": [{
            "reason": "NamespaceTerminating",
            "message": "namespace demo is being terminated",
            "field": "metadata.namespace",
        }]})
    );
    // Admission comes before validation: even an invalid object gets the 403.
    let invalid = store
        .create(
            Resource::NetworkPolicies,
            Some("demo"),
            json!({"metadata": {"name": "np"}, "spec": {"policyTypes": ["Sideways"]}}),
        )
        .unwrap_err();
    assert_eq!(
        invalid.message,
        "networkpolicies.networking.k8s.io \"np\" is forbidden: unable to create new content in namespace demo because it is being terminated"
    );

    let again = store
        .create(
            Resource::Namespaces,
            None,
            json!({"metadata": {"name": "demo"}}),
        )
        .unwrap_err();
    assert_eq!(
        (again.code, again.message.as_str()),
        (
            409,
            "object is being deleted: namespaces \"demo\" already exists"
        )
    );
    let delete_again = store
        .delete(Resource::Namespaces, None, "demo", None)
        .unwrap_err();
    assert_eq!(
        (delete_again.code, delete_again.reason.as_str()),
        (409, "Conflict")
    );
    assert!(
        delete_again
            .message
            .ends_with("this namespace will automatically be purged by the system."),
        "{}",
        delete_again.message
    );
}

#[test]
fn without_its_own_namespace_controller_an_emptied_namespace_waits_for_its_finalizer() {
    let store = Store::with_options(StoreOptions {
        finalize_empty_namespaces: false,
        ..StoreOptions::default()
    });
    let ns = terminating_demo(&store);
    let uid = ns["metadata"]["uid"].as_str().unwrap().to_owned();
    assert!(
        !store.finalize_namespace("demo", &uid).unwrap(),
        "not empty"
    );
    store
        .finalize_delete(Resource::Pods, Some("demo"), "p")
        .unwrap();
    assert!(store.namespace_is_empty("demo"));
    let ns = store.get(Resource::Namespaces, None, "demo").unwrap();
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));

    let mut rx = store
        .watch(
            Resource::Namespaces,
            None,
            &Selection::default(),
            Some(store.resource_version()),
        )
        .unwrap();
    assert!(!store.finalize_namespace("demo", "another-uid").unwrap());
    assert!(store.finalize_namespace("demo", &uid).unwrap());
    assert_eq!(
        store
            .get(Resource::Namespaces, None, "demo")
            .unwrap_err()
            .code,
        404
    );
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    match events.as_slice() {
        [WatchEvent::Modified(finalized), WatchEvent::Deleted(_)] => {
            assert_eq!(finalized["spec"]["finalizers"], json!([]));
        }
        other => panic!("the finalizer goes, then the namespace: {other:?}"),
    }
}

#[test]
fn a_namespace_terminates_until_its_contents_are_gone() {
    let store = Store::new();
    store
        .create(
            Resource::Namespaces,
            None,
            json!({"metadata": {"name": "demo"}}),
        )
        .unwrap();
    store
        .create(
            Resource::ConfigMaps,
            Some("demo"),
            json!({"metadata": {"name": "cm"}}),
        )
        .unwrap();
    store
        .create(Resource::Pods, Some("demo"), mk_pod("p", json!({})))
        .unwrap();
    bind(&store, "demo", "p");
    let ns = store
        .delete(Resource::Namespaces, None, "demo", None)
        .unwrap();
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert_eq!(
        store
            .get(Resource::ConfigMaps, Some("demo"), "cm")
            .unwrap_err()
            .code,
        404
    );
    assert!(
        store.get(Resource::Pods, Some("demo"), "p").unwrap()["metadata"]["deletionTimestamp"]
            .is_string()
    );
    let err = store
        .create(
            Resource::ConfigMaps,
            Some("demo"),
            json!({"metadata": {"name": "late"}}),
        )
        .unwrap_err();
    assert_eq!(err.code, 403);
    store
        .finalize_delete(Resource::Pods, Some("demo"), "p")
        .unwrap();
    assert_eq!(
        store
            .get(Resource::Namespaces, None, "demo")
            .unwrap_err()
            .code,
        404
    );
    assert_eq!(
        store
            .delete(Resource::Namespaces, None, "default", None)
            .unwrap_err()
            .code,
        403
    );
}

#[test]
fn services_get_cluster_ips_from_the_range() {
    let store = Store::with_options(StoreOptions {
        service_cidr: "10.100.0.0/24".parse().unwrap(),
        ..StoreOptions::default()
    });
    assert_eq!(
        store
            .get(Resource::Services, Some("default"), "kubernetes")
            .unwrap()["spec"]["clusterIP"],
        "10.100.0.1"
    );
    let svc = |name: &str, ip: Option<&str>| {
        let mut s = json!({"metadata": {"name": name}, "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]}});
        if let Some(ip) = ip {
            s["spec"]["clusterIP"] = json!(ip);
        }
        s
    };
    let dns = store
        .create(
            Resource::Services,
            Some("default"),
            svc("dns", Some("10.100.0.10")),
        )
        .unwrap();
    assert_eq!(dns["spec"]["clusterIPs"], json!(["10.100.0.10"]));
    assert_eq!(dns["spec"]["ports"][0]["targetPort"], 80);
    let web = store
        .create(Resource::Services, Some("default"), svc("web", None))
        .unwrap();
    let ip: std::net::Ipv4Addr = web["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
    assert!(
        ip.octets()[3] >= 16,
        "dynamic allocation leaves the low band free: {ip}"
    );
    let taken = store
        .create(
            Resource::Services,
            Some("default"),
            svc("dup", Some("10.100.0.10")),
        )
        .unwrap_err();
    assert_eq!(taken.code, 422);
    let outside = store
        .create(
            Resource::Services,
            Some("default"),
            svc("out", Some("10.1.0.10")),
        )
        .unwrap_err();
    assert_eq!(outside.code, 422);
    store
        .delete(Resource::Services, Some("default"), "dns", None)
        .unwrap();
    store
        .create(
            Resource::Services,
            Some("default"),
            svc("dns2", Some("10.100.0.10")),
        )
        .unwrap();
    let headless = store
        .create(Resource::Services, Some("default"), svc("h", Some("None")))
        .unwrap();
    assert_eq!(headless["spec"]["clusterIP"], "None");
}

#[test]
fn a_service_that_becomes_a_node_port_gets_node_ports() {
    let store = Store::new();
    let svc = json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}});
    let created = store
        .create(Resource::Services, Some("default"), svc)
        .unwrap();
    assert!(created["spec"]["ports"][0].get("nodePort").is_none());
    let mut node_port = created.clone();
    node_port["spec"]["type"] = json!("NodePort");
    let updated = store
        .update(Resource::Services, Some("default"), "web", node_port, false)
        .unwrap();
    let n = updated["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    assert!((30000..=32767).contains(&n));
    assert_eq!(updated["spec"]["clusterIP"], created["spec"]["clusterIP"]);
}

fn mk_deployment(name: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}})
}

fn finalizers(object: &Value) -> Value {
    object["metadata"]["finalizers"].clone()
}

#[test]
fn apps_objects_are_defaulted_counted_and_guarded() {
    let store = Store::new();
    let created = store
        .create(Resource::Deployments, Some("default"), mk_deployment("web"))
        .unwrap();
    assert_eq!(created["apiVersion"], "apps/v1");
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(created["spec"]["replicas"], 1);
    assert_eq!(created["status"], json!({}));
    // A spec change counts, as does an annotation change of a Deployment through the API;
    // a controller's write of an annotation does not.
    let mut scaled = created.clone();
    scaled["spec"]["replicas"] = json!(3);
    let scaled = store
        .update(Resource::Deployments, Some("default"), "web", scaled, false)
        .unwrap();
    assert_eq!(scaled["metadata"]["generation"], 2);
    let mut annotated = scaled.clone();
    annotated["metadata"]["annotations"] = json!({"kubernetes.io/change-cause": "x"});
    let annotated = store
        .update(
            Resource::Deployments,
            Some("default"),
            "web",
            annotated,
            false,
        )
        .unwrap();
    assert_eq!(annotated["metadata"]["generation"], 3);
    let revised = store
        .mutate(Resource::Deployments, Some("default"), "web", |d| {
            d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("1");
            Ok(())
        })
        .unwrap();
    assert_eq!(revised["metadata"]["generation"], 3);
    let mut moved = revised.clone();
    moved["spec"]["selector"] = json!({"matchLabels": {"app": "web", "tier": "x"}});
    moved["spec"]["template"]["metadata"]["labels"]["tier"] = json!("x");
    let err = store
        .update(Resource::Deployments, Some("default"), "web", moved, false)
        .unwrap_err();
    assert_eq!(err.code, 422);
    assert!(
        err.message.ends_with("field is immutable"),
        "{}",
        err.message
    );
    let mut bad = mk_deployment("bad");
    bad["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
    let err = store
        .create(Resource::Deployments, Some("default"), bad)
        .unwrap_err();
    assert_eq!(
        err.message,
        "Deployment \"bad\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"
    );
}

#[test]
fn owner_references_name_their_owner_and_one_controller_at_most() {
    let store = Store::new();
    let mut pod = mk_pod("p", json!({}));
    pod["metadata"]["ownerReferences"] = json!([
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": true},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2", "controller": true},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "c", "uid": ""},
    ]);
    let err = store
        .create(Resource::Pods, Some("default"), pod)
        .unwrap_err();
    let fields: Vec<&str> = err.causes.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        ["metadata.ownerReferences", "metadata.ownerReferences.uid"]
    );
    assert!(
        err.causes[0]
            .1
            .ends_with("Found \"true\" in references for ReplicaSet/a and ReplicaSet/b"),
        "{err:?}"
    );
}

#[test]
fn foreground_and_orphan_deletions_keep_the_object_with_the_collectors_finalizer() {
    let store = Store::new();
    for name in ["fg", "orphan", "bg"] {
        store
            .create(Resource::Deployments, Some("default"), mk_deployment(name))
            .unwrap();
    }
    let fg = store
        .delete_propagating(
            Resource::Deployments,
            Some("default"),
            "fg",
            None,
            Propagation::Foreground,
        )
        .unwrap();
    assert_eq!(finalizers(&fg), json!([FOREGROUND_FINALIZER]));
    assert!(fg["metadata"]["deletionTimestamp"].is_string());
    let orphan = store
        .delete_propagating(
            Resource::Deployments,
            Some("default"),
            "orphan",
            None,
            Propagation::Orphan,
        )
        .unwrap();
    assert_eq!(finalizers(&orphan), json!([ORPHAN_FINALIZER]));
    store
        .delete(Resource::Deployments, Some("default"), "bg", None)
        .unwrap();
    assert!(
        store
            .get(Resource::Deployments, Some("default"), "bg")
            .is_err()
    );
    // Removing the finalizer lets the object go.
    store
        .mutate(Resource::Deployments, Some("default"), "fg", |d| {
            d["metadata"]["finalizers"] = json!([]);
            Ok(())
        })
        .unwrap();
    assert!(
        store
            .get(Resource::Deployments, Some("default"), "fg")
            .is_err()
    );
    assert_eq!(
        Propagation::parse("Sideways").unwrap_err().message,
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Sideways\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
    );
}

#[test]
fn a_pod_with_finalizers_outlives_its_termination_until_they_are_removed() {
    let store = Store::new();
    let mut pod = mk_pod("held", json!({}));
    pod["metadata"]["finalizers"] = json!(["example.com/hold"]);
    store.create(Resource::Pods, Some("default"), pod).unwrap();
    bind(&store, "default", "held");
    let marked = store
        .delete(Resource::Pods, Some("default"), "held", None)
        .unwrap();
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 30);
    // The kubelet is done: the pod stays, its grace period spent, for the finalizer.
    store
        .finalize_delete(Resource::Pods, Some("default"), "held")
        .unwrap();
    let held = store.get(Resource::Pods, Some("default"), "held").unwrap();
    assert_eq!(held["metadata"]["deletionGracePeriodSeconds"], 0);
    store
        .mutate(Resource::Pods, Some("default"), "held", |p| {
            p["metadata"]["finalizers"] = json!([]);
            Ok(())
        })
        .unwrap();
    assert!(store.get(Resource::Pods, Some("default"), "held").is_err());
    // An unbound pod with a finalizer is marked rather than removed at once.
    let mut unbound = mk_pod("unbound", json!({}));
    unbound["metadata"]["finalizers"] = json!(["example.com/hold"]);
    store
        .create(Resource::Pods, Some("default"), unbound)
        .unwrap();
    let marked = store
        .delete(Resource::Pods, Some("default"), "unbound", None)
        .unwrap();
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);
    assert!(
        store
            .get(Resource::Pods, Some("default"), "unbound")
            .is_ok()
    );
}
