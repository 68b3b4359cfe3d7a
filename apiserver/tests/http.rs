//! Bad input answered with the `metav1.Status` a real API server sends, never a panic.

mod common;

use common::{Harness, http};
use netverdict_apiserver::testing::Credential;
use serde_json::Value;

const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"web","image":"busybox"}]}}"#;

/// The raw text of a GET response body (chunked framing included).
async fn raw(h: &Harness, path: &str) -> String {
    common::exchange(h, Credential::Token, "GET", path, "application/json", b"").await
}

fn reason(body: &Value) -> &str {
    assert_eq!(body["kind"], "Status", "{body}");
    body["reason"].as_str().unwrap()
}

#[tokio::test]
async fn bad_requests_get_the_right_status() {
    let h = Harness::start().await;
    let pods = "/api/v1/namespaces/default/pods";
    let json = "application/json";

    let (code, body) = http(&h, "POST", pods, json, b"{\"metadata\":").await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(&h, "POST", pods, json, b"[1,2]").await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(
        &h,
        "POST",
        pods,
        json,
        br#"{"kind":"Service","metadata":{"name":"x"}}"#,
    )
    .await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(
        &h,
        "POST",
        "/api/v1/namespaces/default/widgets",
        json,
        b"{}",
    )
    .await;
    assert_eq!((code, reason(&body)), (404, "NotFound"));
    let (code, body) = http(&h, "GET", "/apis/example.com/v1/things", json, b"").await;
    assert_eq!((code, reason(&body)), (404, "NotFound"));
    let (code, body) = http(&h, "PUT", pods, json, POD.as_bytes()).await;
    assert_eq!((code, reason(&body)), (405, "MethodNotAllowed"));
    let (code, body) = http(&h, "POST", "/version", json, b"{}").await;
    assert_eq!((code, reason(&body)), (405, "MethodNotAllowed"));
    let (code, body) = http(&h, "POST", pods, "text/plain", POD.as_bytes()).await;
    assert_eq!((code, reason(&body)), (415, "UnsupportedMediaType"));

    let (code, created) = http(&h, "POST", pods, json, POD.as_bytes()).await;
    assert_eq!(code, 201);
    let (code, body) = http(&h, "POST", pods, json, POD.as_bytes()).await;
    assert_eq!((code, reason(&body)), (409, "AlreadyExists"));
    assert_eq!(body["details"]["name"], "web");
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = "1".into();
    let (code, body) = http(
        &h,
        "PUT",
        &format!("{pods}/web"),
        json,
        stale.to_string().as_bytes(),
    )
    .await;
    assert_eq!((code, reason(&body)), (409, "Conflict"));
    let (code, body) = http(&h, "PATCH", &format!("{pods}/web"), json, b"{}").await;
    assert_eq!((code, reason(&body)), (415, "UnsupportedMediaType"));
    let (code, body) = http(
        &h,
        "PATCH",
        &format!("{pods}/web"),
        "application/merge-patch+json",
        b"{\"spec\":",
    )
    .await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(
        &h,
        "PATCH",
        &format!("{pods}/web"),
        "application/apply-patch+yaml",
        b"metadata: {labels: {a: b}}",
    )
    .await;
    assert_eq!(
        (code, reason(&body)),
        (422, "Invalid"),
        "apply needs a field manager"
    );
    let (code, patched) = http(
        &h,
        "PATCH",
        &format!("{pods}/web?fieldManager=t"),
        "application/apply-patch+yaml",
        b"metadata:\n  labels:\n    a: b\n",
    )
    .await;
    assert_eq!(
        (code, patched["metadata"]["labels"]["a"].as_str()),
        (200, Some("b"))
    );

    let invalid = br#"{"metadata":{"name":"bad"},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":0}]}]}}"#;
    let (code, body) = http(&h, "POST", pods, json, invalid).await;
    assert_eq!((code, reason(&body)), (422, "Invalid"));
    assert_eq!(body["details"]["kind"], "Pod");
    assert_eq!(
        body["details"]["causes"][0]["field"],
        "spec.containers[0].ports[0].containerPort"
    );
    assert_eq!(body["details"]["causes"][0]["reason"], "FieldValueRequired");

    let (code, body) = http(
        &h,
        "GET",
        "/api/v1/pods?labelSelector=a%20in%20b",
        json,
        b"",
    )
    .await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(
        &h,
        "GET",
        "/api/v1/pods?fieldSelector=spec.bogus%3D1",
        json,
        b"",
    )
    .await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(
        &h,
        "GET",
        "/api/v1/pods?watch=true&resourceVersion=abc",
        json,
        b"",
    )
    .await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(
        &h,
        "GET",
        &format!("{pods}/web/exec?command=true&stdout=true"),
        json,
        b"",
    )
    .await;
    assert_eq!(
        (code, reason(&body)),
        (400, "BadRequest"),
        "exec without an upgrade"
    );
    let (code, body) = http(
        &h,
        "GET",
        &format!("{pods}/web/exec?stdout=true"),
        json,
        b"",
    )
    .await;
    assert_eq!(
        (code, body["message"].as_str()),
        (400, Some("you must specify at least 1 command"))
    );

    let (code, list) = http(&h, "GET", "/api/v1/namespaces/default/pods", json, b"").await;
    assert_eq!(
        (code, list["kind"].as_str(), list["apiVersion"].as_str()),
        (200, Some("PodList"), Some("v1"))
    );
    assert!(
        list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let (code, version) = http(&h, "GET", "/version", json, b"").await;
    assert_eq!((code, version["major"].as_str()), (200, Some("1")));
    let (code, body) = http(
        &h,
        "DELETE",
        &format!("{pods}/web"),
        json,
        br#"{"preconditions":{"uid":"nope"}}"#,
    )
    .await;
    assert_eq!((code, reason(&body)), (409, "Conflict"));
    let (code, status) = http(&h, "GET", &format!("{pods}/web/status"), json, b"").await;
    assert_eq!((code, status["kind"].as_str()), (200, Some("Pod")));
    let mut running = status.clone();
    running["status"]["phase"] = "Running".into();
    running["metadata"]["labels"] = serde_json::json!({"ignored": "by the status subresource"});
    let (code, updated) = http(
        &h,
        "PUT",
        &format!("{pods}/web/status"),
        json,
        running.to_string().as_bytes(),
    )
    .await;
    assert_eq!(
        (code, updated["status"]["phase"].as_str()),
        (200, Some("Running"))
    );
    assert_eq!(updated["metadata"]["labels"], status["metadata"]["labels"]);

    // A watch spelled `watch=1` streams the existing objects; the timeout ends it.
    let response = raw(&h, &format!("{pods}?watch=1&timeoutSeconds=1")).await;
    let events: Vec<Value> = response
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{response}");
    assert_eq!(
        (
            events[0]["type"].as_str(),
            events[0]["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("web"))
    );

    let (code, deleted) = http(&h, "DELETE", &format!("{pods}/web"), json, b"").await;
    assert_eq!((code, deleted["kind"].as_str()), (200, Some("Pod")));
}

/// What kube-apiserver answers when content is created in a namespace that is being deleted
/// (the NamespaceLifecycle admission plugin), on the wire, and to a second delete of it.
#[tokio::test]
async fn a_terminating_namespace_refuses_new_content_as_kube_apiserver_does() {
    let h = Harness::start().await;
    let json = "application/json";
    let (code, _) = http(
        &h,
        "POST",
        "/api/v1/namespaces",
        json,
        br#"{"metadata":{"name":"shop"}}"#,
    )
    .await;
    assert_eq!(code, 201);
    let (code, _) = http(
        &h,
        "POST",
        "/api/v1/namespaces/shop/pods",
        json,
        POD.as_bytes(),
    )
    .await;
    assert_eq!(code, 201);
    h.run_pod("shop", "web", "10.244.0.5");

    let (code, deleted) = http(&h, "DELETE", "/api/v1/namespaces/shop", json, b"").await;
    assert_eq!(code, 200);
    assert_eq!(deleted["status"]["phase"], "Terminating", "{deleted}");
    assert_eq!(
        deleted["spec"]["finalizers"],
        serde_json::json!(["kubernetes"])
    );

    let (code, body) = http(
        &h,
        "POST",
        "/api/v1/namespaces/shop/configmaps",
        json,
        br#"{"metadata":{"name":"late"}}"#,
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        body,
        serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "configmaps \"late\" is forbidden: unable to create new content in namespace shop because it is being terminated",
            "reason": "Forbidden",
            "details": {
                "name": "late",
                "kind": "configmaps",
                "causes": [{
                    "reason": "NamespaceTerminating",
                    "message": "namespace shop is being terminated",
                    "field": "metadata.namespace",
                }],
            },
            "code": 403,
        })
    );
    let (code, body) = http(
        &h,
        "POST",
        "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies",
        json,
        br#"{"metadata":{"name":"deny"},"spec":{"podSelector":{}}}"#,
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(body["details"]["group"], "networking.k8s.io");
    assert_eq!(body["details"]["kind"], "networkpolicies");

    let (code, body) = http(
        &h,
        "POST",
        "/api/v1/namespaces",
        json,
        br#"{"metadata":{"name":"shop"}}"#,
    )
    .await;
    assert_eq!((code, reason(&body)), (409, "AlreadyExists"));
    assert_eq!(
        body["message"],
        "object is being deleted: namespaces \"shop\" already exists"
    );
    let (code, body) = http(&h, "DELETE", "/api/v1/namespaces/shop", json, b"").await;
    assert_eq!((code, reason(&body)), (409, "Conflict"));
}

/// A small deterministic generator, so a failure replays.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.next()).unwrap() % items.len()]
    }
}

/// Mangles a valid body: truncation, a replaced byte, a value of the wrong type.
fn mangle(rng: &mut Lcg, body: &str) -> Vec<u8> {
    let mut bytes = body.as_bytes().to_vec();
    match rng.next() % 4 {
        0 => bytes.truncate(usize::try_from(rng.next()).unwrap() % bytes.len()),
        1 => {
            let i = usize::try_from(rng.next()).unwrap() % bytes.len();
            let replacements = b"{}[]\":,0a\\\x00\xff";
            bytes[i] = replacements[usize::try_from(rng.next()).unwrap() % replacements.len()];
        }
        2 => {
            let replaced = body.replacen(
                rng.pick(&["\"web\"", "80", "[", "{\"name\""]),
                rng.pick(&["null", "-1", "{}", "[[", "1e999", "\"x\""]),
                1,
            );
            bytes = replaced.into_bytes();
        }
        _ => {}
    }
    bytes
}

#[tokio::test]
async fn mangled_requests_never_break_the_server() {
    let h = Harness::start().await;
    let bodies = [
        POD,
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"ports":[{"port":80,"targetPort":"http"}],"selector":{"app":"web"}}}"#,
        r#"{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"web"},"spec":{"podSelector":{"matchExpressions":[{"key":"app","operator":"In","values":["web"]}]},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/8","except":["10.1.0.0/16"]}}],"ports":[{"port":80,"endPort":90}]}]}}"#,
        r#"[{"op":"replace","path":"/metadata/labels","value":{"a":"b"}}]"#,
        r#"{"metadata":{"labels":{"a":null}},"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"name":"web","$patch":"delete"}]}}"#,
    ];
    let paths = [
        "/api/v1/namespaces/default/pods",
        "/api/v1/namespaces/default/pods/web",
        "/api/v1/namespaces/default/pods/web/status",
        "/api/v1/namespaces/default/services",
        "/api/v1/namespaces/default/services/web",
        "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies",
        "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/web",
        "/api/v1/namespaces/x%2Fy/pods",
        "/api/v1/namespaces",
        "/api/v1/namespaces/default/pods?labelSelector=a%20notin%20(",
        "/api/v1/pods?fieldSelector=status.phase%3D%3D",
        "/api/v1/namespaces/default/pods/web/exec?command=&stdin=maybe",
        "/api/v1/namespaces/default/pods/web/log?tailLines=x",
        "/openapi/v3/apis/nope/v1",
    ];
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let content_types = [
        "application/json",
        "application/yaml",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
        "application/apply-patch+yaml",
        "application/vnd.kubernetes.protobuf",
        "",
    ];
    let mut rng = Lcg(7);
    for _ in 0..600 {
        let method = rng.pick(&methods);
        let path = rng.pick(&paths);
        let content_type = rng.pick(&content_types);
        let original = rng.pick(&bodies);
        let body = mangle(&mut rng, original);
        let (code, response) = http(&h, method, path, content_type, &body).await;
        assert!(
            (200..500).contains(&code),
            "{method} {path} {content_type}: {code} {response}"
        );
        if code >= 400 {
            assert_eq!(response["kind"], "Status", "{method} {path}: {response}");
            assert_eq!(response["code"], code);
        }
    }
    let (code, _) = http(&h, "GET", "/version", "application/json", b"").await;
    assert_eq!(code, 200);
}
