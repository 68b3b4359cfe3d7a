//! Bad input answered with the `metav1.Status` a real API server sends, never a panic.

mod common;

use common::{Harness, http};
use serde_json::Value;

const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"web","image":"busybox"}]}}"#;

fn reason(body: &Value) -> &str {
    assert_eq!(body["kind"], "Status", "{body}");
    body["reason"].as_str().unwrap()
}

#[tokio::test]
async fn bad_requests_get_the_right_status() {
    let h = Harness::start().await;
    let addr = h.server.addr;
    let pods = "/api/v1/namespaces/default/pods";
    let json = "application/json";

    let (code, body) = http(addr, "POST", pods, json, b"{\"metadata\":").await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(addr, "POST", pods, json, b"[1,2]").await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(
        addr,
        "POST",
        pods,
        json,
        br#"{"kind":"Service","metadata":{"name":"x"}}"#,
    )
    .await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(
        addr,
        "POST",
        "/api/v1/namespaces/default/widgets",
        json,
        b"{}",
    )
    .await;
    assert_eq!((code, reason(&body)), (404, "NotFound"));
    let (code, body) = http(addr, "GET", "/apis/example.com/v1/things", json, b"").await;
    assert_eq!((code, reason(&body)), (404, "NotFound"));
    let (code, body) = http(addr, "PUT", pods, json, POD.as_bytes()).await;
    assert_eq!((code, reason(&body)), (405, "MethodNotAllowed"));
    let (code, body) = http(addr, "POST", "/version", json, b"{}").await;
    assert_eq!((code, reason(&body)), (405, "MethodNotAllowed"));
    let (code, body) = http(addr, "POST", pods, "text/plain", POD.as_bytes()).await;
    assert_eq!((code, reason(&body)), (415, "UnsupportedMediaType"));

    let (code, created) = http(addr, "POST", pods, json, POD.as_bytes()).await;
    assert_eq!(code, 201);
    let (code, body) = http(addr, "POST", pods, json, POD.as_bytes()).await;
    assert_eq!((code, reason(&body)), (409, "AlreadyExists"));
    assert_eq!(body["details"]["name"], "web");
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = "1".into();
    let (code, body) = http(
        addr,
        "PUT",
        &format!("{pods}/web"),
        json,
        stale.to_string().as_bytes(),
    )
    .await;
    assert_eq!((code, reason(&body)), (409, "Conflict"));
    let (code, body) = http(addr, "PATCH", &format!("{pods}/web"), json, b"{}").await;
    assert_eq!((code, reason(&body)), (415, "UnsupportedMediaType"));
    let (code, body) = http(
        addr,
        "PATCH",
        &format!("{pods}/web"),
        "application/merge-patch+json",
        b"{\"spec\":",
    )
    .await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(
        addr,
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
        addr,
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
    let (code, body) = http(addr, "POST", pods, json, invalid).await;
    assert_eq!((code, reason(&body)), (422, "Invalid"));
    assert_eq!(body["details"]["kind"], "Pod");
    assert_eq!(
        body["details"]["causes"][0]["field"],
        "spec.containers[0].ports[0].containerPort"
    );
    assert_eq!(body["details"]["causes"][0]["reason"], "FieldValueRequired");

    let (code, body) = http(
        addr,
        "GET",
        "/api/v1/pods?labelSelector=a%20in%20b",
        json,
        b"",
    )
    .await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(
        addr,
        "GET",
        "/api/v1/pods?fieldSelector=spec.bogus%3D1",
        json,
        b"",
    )
    .await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(
        addr,
        "GET",
        "/api/v1/pods?watch=true&resourceVersion=abc",
        json,
        b"",
    )
    .await;
    assert_eq!((code, reason(&body)), (400, "BadRequest"));
    let (code, body) = http(
        addr,
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
        addr,
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

    let (code, list) = http(addr, "GET", "/api/v1/namespaces/default/pods", json, b"").await;
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
    let (code, version) = http(addr, "GET", "/version", json, b"").await;
    assert_eq!((code, version["major"].as_str()), (200, Some("1")));
    let (code, body) = http(
        addr,
        "DELETE",
        &format!("{pods}/web"),
        json,
        br#"{"preconditions":{"uid":"nope"}}"#,
    )
    .await;
    assert_eq!((code, reason(&body)), (409, "Conflict"));
    let (code, deleted) = http(addr, "DELETE", &format!("{pods}/web"), json, b"").await;
    assert_eq!((code, deleted["kind"].as_str()), (200, Some("Pod")));
}
