//! The live parts of the language (workload, live pods and Service targets, mimic sources),
//! offline, then resolved against scripted cluster states.

use std::net::IpAddr;
use std::path::Path;

use netverdict_engine::{Labels, Protocol};

use super::*;
use crate::model::{
    LivePod, Pick, PodRef, Scenario, ServedPort, ServicePort, Target, TargetPort, WorkloadKind,
};
use crate::{ExpectSource, Verdict, load_str};

/// A scenario with its own namespace `t` and pod `t/client`, and the given probes (YAML list
/// items indented by four spaces) towards the deployed namespace `shop`.
fn scenario_text(probes: &str) -> String {
    format!(
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {{name: live}}
spec:
  namespaces: [{{name: t}}]
  pods:
    - {{name: client, namespace: t, labels: {{app: client}}, ports: [{{port: 80}}]}}
  probes:
{probes}"
    )
}

fn load(probes: &str) -> crate::Loaded {
    load_str(
        Path::new("live.yaml"),
        &scenario_text(probes),
        &Default::default(),
    )
}

fn ok(probes: &str) -> Scenario {
    let loaded = load(probes);
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    loaded.scenarios.into_iter().next().expect("a scenario")
}

fn first_error(probes: &str) -> String {
    load(probes)
        .diagnostics
        .iter()
        .find(|d| d.is_error())
        .map(ToString::to_string)
        .expect("an error")
}

const API: &str = "{workload: {namespace: shop, kind: Deployment, name: api}}";
const LIKE_WEB: &str = "{like: {workload: {namespace: shop, kind: Deployment, name: web}}}";

#[test]
fn live_targets_and_mimics_load_offline_and_say_they_are_resolved_at_run_time() {
    let s = ok(&format!(
        "    - {{from: t/client, to: {API}, port: 8080}}
    - {{from: {LIKE_WEB}, to: {{workload: {{namespace: shop, kind: Deployment, name: api}}, pick: one}}, port: http, expect: allow}}
    - {{from: {LIKE_WEB}, to: {{service: api, namespace: shop}}, port: 80}}
    - {{from: {LIKE_WEB}, to: {{pods: {{namespace: shop, selector: {{matchLabels: {{app: db}}}}}}, pick: perNode}}, port: 5432, expect: deny}}
"
    ));
    assert_eq!(s.probes.len(), 4);
    let [all, one, service, db] = &s.probes[..] else {
        unreachable!()
    };
    assert_eq!(all.name, "t/client -> deployment shop/api:8080/TCP");
    assert!(matches!(&all.target, Target::Live(t) if t.pick == Pick::All));
    assert_eq!(
        one.name,
        "like deployment shop/web -> deployment shop/api (pick one):http/TCP"
    );
    assert_eq!((one.port, one.port_name.as_deref()), (0, Some("http")));
    assert_eq!(one.like.as_deref(), Some("like:deployment:shop/web"));
    assert!(matches!(&service.target, Target::LiveService { name, .. } if name == "api"));
    match &db.target {
        Target::Live(t) => {
            assert_eq!(t.pick, Pick::PerNode);
            assert_eq!(t.selection.label(), "pods:shop/app=db");
            assert_eq!(t.written.path, "spec.probes[3].to.pods");
            assert_eq!(t.written.location.line, 12);
        }
        other => panic!("{other:?}"),
    }
    // One mimic for the three probes that copy the same workload.
    let mimics: Vec<_> = s.pods.iter().filter(|p| p.mimic.is_some()).collect();
    assert_eq!(mimics.len(), 1);
    assert_eq!(mimics[0].pod_ref(), PodRef::new("shop", "nv-like-web"));
    assert_eq!(one.from, mimics[0].pod_ref());
    // Offline, the engine cannot judge what only the cluster knows.
    assert_eq!(all.expect.source, ExpectSource::Auto);
    assert_eq!(all.expect.verdict, None);
    assert!(
        all.expect
            .reason
            .as_deref()
            .unwrap()
            .starts_with("resolved at run time"),
        "{:?}",
        all.expect.reason
    );
    assert_eq!(
        (db.expect.verdict, db.expect.engine),
        (Some(Verdict::Deny), None)
    );
    let plan = crate::plan::to_table(std::slice::from_ref(&s));
    assert!(plan.contains("like:deployment:shop/web"), "{plan}");
    assert!(plan.contains("http/TCP (resolved at run time)"), "{plan}");
    assert!(
        plan.contains("resolved at run time: deployment shop/api, deployment shop/api (pick one), like:deployment:shop/web, service shop/api"),
        "{plan}"
    );
}

#[test]
fn probes_to_two_named_ports_of_a_deployed_target_are_two_probes() {
    let s = ok(&format!(
        "    - {{from: t/client, to: {API}, port: http, expect: deny}}
    - {{from: t/client, to: {API}, port: metrics, expect: deny}}
"
    ));
    let ports: Vec<Option<&str>> = s.probes.iter().map(|p| p.port_name.as_deref()).collect();
    assert_eq!(ports, [Some("http"), Some("metrics")]);
}

#[test]
fn live_parts_are_checked_offline_as_far_as_they_can_be() {
    let cases = [
        (
            "    - {from: t/client, to: {workload: {namespace: t, kind: Deployment, name: api}}, port: 80}",
            "spec.probes[0].to.workload.namespace: namespace t is one of spec.namespaces",
        ),
        (
            "    - {from: t/client, to: {pods: {namespace: t, selector: {}}, pick: one}, port: 80}",
            "spec.probes[0].to.pick: `pick` chooses among deployed pods",
        ),
        (
            "    - {from: t/client, to: {host: example.com, pick: one}, port: 80}",
            "`pick` goes with a `workload` or `pods` target",
        ),
        (
            "    - {from: t/client, to: {workload: {namespace: shop, kind: Job, name: api}}, port: 80}",
            "unknown variant `Job`",
        ),
        (
            "    - {from: t/client, to: {workload: {namespace: shop, kind: Pod, name: Api_1}}, port: 80}",
            "spec.probes[0].to.workload.name:",
        ),
        (
            "    - {from: t/client, to: shop/api, port: 80}",
            "write {workload: {namespace: shop, kind: Pod, name: api}}",
        ),
        (
            "    - {from: {like: {workload: {namespace: shop, kind: Deployment, name: web}, pods: {namespace: shop, selector: {}}}}, to: t/client, port: 80}",
            "`like` holds exactly one of",
        ),
        (
            "    - {from: {like: {pods: {namespace: shop, selector: {}}}, placement: {node: a, sameNodeAs: {pods: {namespace: shop, selector: {}}}}}, to: t/client, port: 80}",
            "spec.probes[0].from.placement: a placement holds exactly one of",
        ),
        (
            "    - {from: {like: {pods: {namespace: shop, selector: {matchExpressions: [{key: app, operator: Has}]}}}}, to: t/client, port: 80}",
            "spec.probes[0].from.like.pods.selector.matchExpressions[0].operator",
        ),
    ];
    for (probes, wanted) in cases {
        let error = first_error(probes);
        assert!(error.contains(wanted), "{probes}\n{error}");
    }
}

#[test]
fn a_matrix_names_mimics_and_live_targets_in_its_truth_table() {
    let s = ok("    - matrix:
        from: [t/client, {like: {workload: {namespace: shop, kind: Deployment, name: web}}}]
        to: [{workload: {namespace: shop, kind: Deployment, name: api}}, {service: db, namespace: shop}]
        ports: [8080]
      expect: |
        -                         deployment:shop/api  service:shop/db
        t/client                  X                    X
        like:deployment:shop/web  .                    X
");
    let marks: Vec<(String, String, Option<Verdict>)> = s
        .probes
        .iter()
        .map(|p| {
            (
                crate::plan::source_label(p),
                crate::plan::target_label(&p.target),
                p.expect.verdict,
            )
        })
        .collect();
    assert_eq!(
        marks[2],
        (
            "like:deployment:shop/web".to_owned(),
            "deployment:shop/api".to_owned(),
            Some(Verdict::Allow)
        )
    );
    assert_eq!(marks.len(), 4);
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn pod(name: &str, node: &str, ready: bool, extra: &[(&str, &str)]) -> LivePod {
    let mut pod_labels = labels(&[("app", "api"), ("pod-template-hash", "7d9f")]);
    pod_labels.extend(labels(extra));
    LivePod {
        namespace: "shop".to_owned(),
        name: name.to_owned(),
        uid: format!("uid-{name}"),
        labels: pod_labels,
        ip: Some(
            format!("10.244.0.{}", name.len())
                .parse::<IpAddr>()
                .unwrap(),
        ),
        node: Some(node.to_owned()),
        ready,
        service_account: Some("api".to_owned()),
        ports: vec![ServedPort {
            port: 8080,
            protocol: Protocol::Tcp,
            name: Some("http".to_owned()),
        }],
        ready_ports: Vec::new(),
        restarts: Vec::new(),
    }
}

/// `shop` holds deployment `api` with pods api-a (node n1), api-b (n1), api-c (n2, not Ready),
/// api-dd (n2), and a Service `api` (80 -> http).
fn state() -> LiveState {
    let pods = vec![
        pod("api-a", "n1", true, &[]),
        pod("api-b", "n1", true, &[]),
        pod("api-c", "n2", false, &[]),
        pod("api-dd", "n2", true, &[("version", "2")]),
    ];
    LiveState {
        namespaces: [("shop".to_owned(), labels(&[("team", "shop")]))].into(),
        workloads: vec![LiveWorkload {
            kind: WorkloadKind::Deployment,
            namespace: "shop".to_owned(),
            name: "api".to_owned(),
            template_labels: labels(&[("app", "api")]),
            service_account: Some("api".to_owned()),
            pods: pods.iter().map(|p| p.name.clone()).collect(),
        }],
        pods,
        services: vec![LiveService {
            namespace: "shop".to_owned(),
            name: "api".to_owned(),
            selector: Some(labels(&[("app", "api")])),
            cluster_ip: Some("10.96.0.10".parse().unwrap()),
            ports: vec![ServicePort {
                name: Some("web".to_owned()),
                port: 80,
                protocol: Protocol::Tcp,
                target_port: TargetPort::Name("http".to_owned()),
            }],
        }],
    }
}

fn targets(scenario: &Scenario) -> Vec<(String, String, u16)> {
    scenario
        .probes
        .iter()
        .map(|p| {
            let target = match &p.target {
                Target::LivePod { pod, .. } => pod.to_string(),
                other => other.to_string(),
            };
            (p.name.clone(), target, p.port)
        })
        .collect()
}

#[test]
fn a_live_target_becomes_one_probe_per_picked_ready_pod_with_its_port() {
    let s = ok(&format!(
        "    - {{name: all, from: t/client, to: {API}, port: http}}
    - {{name: one, from: t/client, to: {{workload: {{namespace: shop, kind: Deployment, name: api}}, pick: one}}, port: 8080}}
    - {{name: nodes, from: t/client, to: {{workload: {{namespace: shop, kind: Deployment, name: api}}, pick: perNode}}, port: http}}
"
    ));
    let resolved = resolve(&s, &state(), "7f3a").unwrap();
    assert_eq!(
        targets(&resolved),
        [
            ("all (shop/api-a)".to_owned(), "shop/api-a".to_owned(), 8080),
            ("all (shop/api-b)".to_owned(), "shop/api-b".to_owned(), 8080),
            (
                "all (shop/api-dd)".to_owned(),
                "shop/api-dd".to_owned(),
                8080
            ),
            ("one".to_owned(), "shop/api-a".to_owned(), 8080),
            ("nodes (node n1)".to_owned(), "shop/api-a".to_owned(), 8080),
            ("nodes (node n2)".to_owned(), "shop/api-dd".to_owned(), 8080),
        ]
    );
    assert_eq!(resolved.probes[3].port_name.as_deref(), Some("http"));
    let found: Vec<String> = resolved.live_pods.iter().map(|p| p.name.clone()).collect();
    assert_eq!(found, ["api-a", "api-b", "api-dd"]);
    assert_eq!(
        resolved.live_namespaces[0].labels,
        labels(&[("team", "shop")])
    );
}

#[test]
fn a_live_target_that_cannot_be_probed_is_an_error_where_the_scenario_writes_it() {
    let cases = [
        (
            "{workload: {namespace: shop, kind: Deployment, name: apii}}",
            "http",
            "live.yaml:9:39: spec.probes[0].to.workload: deployment shop/apii does not exist (no Deployment apii in namespace shop)",
        ),
        (
            "{workload: {namespace: shop, kind: Pod, name: api-c}}",
            "http",
            "deployment shop/api has no Ready pod",
        ),
        (
            API,
            "9090",
            "spec.probes[0].to.workload: deployment shop/api does not expose port 9090/TCP (pod api-a declares http 8080/TCP)",
        ),
        (
            API,
            "metrics",
            "deployment shop/api has no container port named metrics",
        ),
        (
            "{service: db, namespace: shop}",
            "80",
            "spec.probes[0].to.service: service shop/db does not exist",
        ),
        (
            "{service: api, namespace: shop}",
            "81",
            "service shop/api has no port 81 (its ports: 80/TCP)",
        ),
    ];
    for (to, port, wanted) in cases {
        let s = ok(&format!(
            "    - {{from: t/client, to: {to}, port: {port}}}\n"
        ));
        let mut state = state();
        // A pod of its own, not Ready.
        state.workloads.push(LiveWorkload {
            kind: WorkloadKind::Pod,
            namespace: "shop".to_owned(),
            name: "api-c".to_owned(),
            template_labels: Labels::new(),
            service_account: None,
            pods: vec!["api-c".to_owned()],
        });
        let errors = resolve(&s, &state, "7f3a").unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let wanted = wanted.replace(
            "deployment shop/api has no Ready",
            "pod shop/api-c has no Ready",
        );
        assert!(
            text.iter().any(|e| e.contains(&wanted)),
            "{to} {port}: {text:#?}"
        );
    }
}

#[test]
fn a_live_service_is_judged_on_its_ready_pods_that_serve_its_target_port() {
    let s = ok("    - {from: t/client, to: {service: api, namespace: shop}, port: web}\n");
    let resolved = resolve(&s, &state(), "7f3a").unwrap();
    match &resolved.probes[0].target {
        Target::Service {
            backends,
            target_port,
            live,
            ..
        } => {
            let names: Vec<String> = backends.iter().map(|b| b.name.clone()).collect();
            assert_eq!(names, ["api-a", "api-b", "api-dd"]);
            assert_eq!((*target_port, *live), (8080, true));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(resolved.probes[0].port, 80);
}

#[test]
fn a_mimic_copies_labels_and_service_account_without_what_controllers_adopt_by() {
    let s = ok(&format!(
        "    - {{from: {{like: {API}}}, to: t/client, port: 80, expect: deny}}
    - {{from: {{like: {{pods: {{namespace: shop, selector: {{matchLabels: {{app: api}}}}}}}}, placement: {{sameNodeAs: {API}}}}}, to: t/client, port: 80, expect: deny}}
"
    ));
    let resolved = resolve(&s, &state(), "7f3a").unwrap();
    let mimics: Vec<_> = resolved.pods.iter().filter(|p| p.mimic.is_some()).collect();
    assert_eq!(mimics.len(), 2);
    let deployment = mimics[0];
    assert_eq!(deployment.name, "nv-like-api-7f3a");
    assert_eq!(deployment.labels, labels(&[("app", "api")]));
    let copied = deployment.mimic.as_ref().unwrap().copied.as_ref().unwrap();
    assert_eq!(copied.left_out, ["pod-template-hash"]);
    assert_eq!(
        copied.describe(&deployment.mimic.as_ref().unwrap().of),
        "labels copied from deployment shop/api except pod-template-hash, service account api"
    );
    assert_eq!(resolved.probes[0].from, deployment.pod_ref());

    // A selector's pods share app=api; version is on one of them only.
    let selected = mimics[1];
    assert_eq!(selected.name, "nv-like-api-2-7f3a");
    assert_eq!(selected.labels, labels(&[("app", "api")]));
    let copied = selected.mimic.as_ref().unwrap().copied.as_ref().unwrap();
    assert_eq!(copied.left_out, ["pod-template-hash", "version"]);
    assert_eq!(copied.node.as_deref(), Some("n1"));
    assert_eq!(resolved.probes[1].from, selected.pod_ref());
}

#[test]
fn a_mimic_with_nothing_to_copy_or_two_identities_is_an_error() {
    let s = ok(
        "    - {from: {like: {pods: {namespace: shop, selector: {matchLabels: {app: web}}}}}, to: t/client, port: 80, expect: deny}\n",
    );
    let errors = resolve(&s, &state(), "7f3a").unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "live.yaml:9:21: spec.probes[0].from.like: no pod matches pods app=web in shop: there is nothing to copy"
    );
    let mut two = state();
    two.pods[1].service_account = None;
    let s = ok(
        "    - {from: {like: {pods: {namespace: shop, selector: {matchLabels: {app: api}}}}}, to: t/client, port: 80, expect: deny}\n",
    );
    let errors = resolve(&s, &two, "7f3a").unwrap_err();
    assert!(
        matches!(
            &errors[0].reason,
            Unresolvable::ServiceAccountsDiffer { accounts, .. } if accounts == "default, api"
        ),
        "{}",
        errors[0]
    );
}

#[test]
fn adoption_labels_are_left_out_and_named() {
    let (kept, left_out) = strip_adoption_labels(&labels(&[
        ("app", "db"),
        ("controller-revision-hash", "db-5c8"),
        ("statefulset.kubernetes.io/pod-name", "db-0"),
        ("apps.kubernetes.io/pod-index", "0"),
    ]));
    assert_eq!(kept, labels(&[("app", "db")]));
    assert_eq!(
        left_out,
        [
            "controller-revision-hash",
            "statefulset.kubernetes.io/pod-name",
            "apps.kubernetes.io/pod-index"
        ]
    );
}

#[test]
fn pick_chooses_among_ready_pods_in_name_and_node_order() {
    let state = state();
    let ready: Vec<&LivePod> = state.pods.iter().filter(|p| p.ready).collect();
    let names = |pick: Pick| -> Vec<String> {
        targets::pick(pick, &ready)
            .iter()
            .map(|p| p.name.clone())
            .collect()
    };
    assert_eq!(names(Pick::All), ["api-a", "api-b", "api-dd"]);
    assert_eq!(names(Pick::One), ["api-a"]);
    assert_eq!(names(Pick::PerNode), ["api-a", "api-dd"]);
}

#[test]
fn explain_leaves_what_only_a_run_knows_to_the_run() {
    use crate::explain::{Destination, ExplainError, PortChoice, Query, explain};
    let s = ok(&format!(
        "    - {{from: {LIKE_WEB}, to: t/client, port: 80, expect: deny}}\n"
    ));
    let query = Query {
        from: PodRef::new("shop", "nv-like-web"),
        to: Destination::Pod(PodRef::new("t", "client")),
        port: PortChoice::Number(80),
        protocol: None,
        scenario: None,
    };
    let error = explain(std::slice::from_ref(&s), &query, &Default::default()).unwrap_err();
    assert!(
        matches!(&error, ExplainError::ResolvedAtRunTime { of, .. } if of == "deployment shop/web"),
        "{error}"
    );
    let to_deployed = Query {
        from: PodRef::new("t", "client"),
        to: Destination::Pod(PodRef::new("shop", "api-1")),
        ..query
    };
    let error = explain(std::slice::from_ref(&s), &to_deployed, &Default::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("deployed pods and Services are found at run time"),
        "{error}"
    );
}
