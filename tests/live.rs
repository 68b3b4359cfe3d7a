//! Probing what is deployed, end to end against local clusters with the real kubectl: live
//! targets, mimic sources, their controls, predictions from the deployed policies, and cleanup
//! that leaves the workloads exactly as they were. Needs root: skipped, saying so, as another
//! user.

mod util;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::local::{LocalDown, local_up};
use util::{Dir, KillOnDrop, TestCommand};

/// A local cluster with an application applied by kubectl.
struct App {
    _down: LocalDown,
    kubeconfig: String,
}

impl App {
    /// Starts a local cluster (`local up` with `extra`) and applies `manifest`, waiting for every
    /// pod of namespace `shop` to be Ready.
    fn up(prefix: &str, extra: &[&str], manifest: &str) -> App {
        let (down, kubeconfig) = local_up(prefix, extra);
        let app = App {
            _down: down,
            kubeconfig,
        };
        app.apply(manifest);
        app.wait_ready();
        app
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let out = util::kubectl::command()
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .output()
            .expect("run kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl(&args)).expect("kubectl JSON")
    }

    fn apply(&self, manifest: &str) {
        let mut child = util::kubectl::command()
            .env("KUBECONFIG", &self.kubeconfig)
            .args(["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl apply");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(manifest.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl apply: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let pods = self.json(&["get", "pods", "-n", "shop"]);
            let items = pods["items"].as_array().unwrap();
            let ready = items.iter().filter(|p| is_ready(p)).count();
            if !items.is_empty() && ready == items.len() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the app never became Ready: {pods}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// `netverdict run FILES --kubeconfig ...` in `dir`, with its JSON results.
    fn run(&self, dir: &Dir, files: &[&str], extra: &[&str]) -> (i32, Value, util::Output) {
        let out = dir
            .command()
            .args([
                "run",
                "-q",
                "--json",
                "results.json",
                "--junit",
                "report.xml",
            ])
            .args(files)
            .args(["--kubeconfig", &self.kubeconfig, "--settle", "4s"])
            .args(extra)
            .run();
        let text = std::fs::read_to_string(dir.path().join("results.json"))
            .unwrap_or_else(|_| panic!("no results: {}\n{}", out.stdout, out.stderr));
        (out.code, serde_json::from_str(&text).unwrap(), out)
    }

    /// What must not change: every pod of `shop` (name, uid, restarts), the ready endpoints of
    /// its Services, and everything of a netverdict run anywhere.
    fn workloads(&self) -> Workloads {
        let pods = self.json(&["get", "pods", "-n", "shop"]);
        let pods = pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let restarts: i64 = p["status"]["containerStatuses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                    .sum();
                (
                    p["metadata"]["name"].as_str().unwrap().to_owned(),
                    (p["metadata"]["uid"].as_str().unwrap().to_owned(), restarts),
                )
            })
            .collect();
        let slices = self.json(&["get", "endpointslices", "-n", "shop"]);
        let mut endpoints: Vec<String> = Vec::new();
        for slice in slices["items"].as_array().unwrap() {
            let service = &slice["metadata"]["labels"]["kubernetes.io/service-name"];
            for endpoint in slice["endpoints"].as_array().into_iter().flatten() {
                endpoints.push(format!(
                    "{} {} ready={}",
                    service, endpoint["targetRef"]["name"], endpoint["conditions"]["ready"]
                ));
            }
        }
        endpoints.sort();
        Workloads { pods, endpoints }
    }

    /// Every object of any netverdict run, anywhere.
    fn leftovers(&self) -> String {
        self.kubectl(&[
            "get",
            "pods,services,networkpolicies,configmaps,namespaces",
            "-A",
            "-l",
            "netverdict.io/run",
            "-o",
            "name",
        ])
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Workloads {
    pods: BTreeMap<String, (String, i64)>,
    endpoints: Vec<String>,
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// `shop`, deployed as bare pods: `web-1` (app=web, serves 80), `api-1` (app=api, serves 8080
/// `http`, also declares `metrics` 9090 where nothing listens, readiness on 8080), `db-1`
/// (app=db, serves 5432 `pg`), Services `web` and `api`, and policies: the api takes 8080 from
/// the web only, the web may send only to the api (and DNS).
const BARE_APP: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web, pod-template-hash: 5d8c}}
spec:
  serviceAccountName: web
  containers:
    - {name: web, image: example.com/web:1, command: [netverdict, serve, --tcp, "8081"], ports: [{containerPort: 8081, name: http}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-1, namespace: shop, labels: {app: api}}
spec:
  containers:
    - name: api
      image: example.com/api:1
      command: [netverdict, serve, --tcp, "8080"]
      ports: [{containerPort: 8080, name: http}, {containerPort: 9090, name: metrics}]
      readinessProbe: {tcpSocket: {port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, namespace: shop, labels: {app: db}}
spec:
  containers:
    - {name: db, image: example.com/db:1, command: [netverdict, serve, --tcp, "5432"], ports: [{containerPort: 5432, name: pg}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8081}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{port: 80, targetPort: http, name: web}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 8080}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-to-api-only, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
    - to: [{podSelector: {matchLabels: {app: api}}}]
      ports: [{port: 8080}]
    - to: [{namespaceSelector: {}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]
      ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
"#;

/// A scenario `live` with its own namespace `probes` and pod `probes/outsider` (which no policy
/// restricts), and `probes` (YAML list items indented by four spaces).
fn scenario(probes: &str) -> String {
    format!(
        "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {{name: live}}
spec:
  namespaces: [{{name: probes}}]
  pods:
    - {{name: outsider, namespace: probes, labels: {{app: outsider}}}}
  probes:
{probes}"
    )
}

const LIKE_WEB: &str = "{like: {workload: {namespace: shop, kind: Pod, name: web-1}}}";
const API: &str = "{workload: {namespace: shop, kind: Pod, name: api-1}}";
const DB: &str = "{pods: {namespace: shop, selector: {matchLabels: {app: db}}}}";

fn probes(results: &Value) -> Vec<&Value> {
    results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["probes"].as_array().unwrap())
        .collect()
}

fn by_name<'r>(results: &'r Value, name: &str) -> &'r Value {
    probes(results)
        .into_iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no probe {name}: {results}"))
}

/// The worked example checks offline as far as anything can be without its cluster, and is kept
/// out of the scenario library that the main job runs on an empty cluster.
#[test]
fn the_worked_example_is_valid_offline_and_not_in_the_library() {
    let example = "examples/post-deploy/post-deploy.yaml";
    let out = TestCommand::in_repo().args(["validate", example]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with(
            "valid: 1 scenario, 12 probes
  shop-post-deploy: resolved at run time: "
        ),
        "{}",
        out.stdout
    );
    let plan = TestCommand::in_repo().args(["plan", example]).run();
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("resolved at run time: deployment shop/frontend (pick one), like:deployment:shop/frontend"),
        "{}",
        plan.stdout
    );
    assert!(!util::repo().join("scenarios/examples").exists());
}

/// Acceptance check 2: the policies that select the workload select its mimic, on the allowed
/// and the denied path, with real packets; the mimic is never a ready endpoint of the Service
/// its labels match; its controller is the run's ConfigMap.
#[test]
fn a_mimic_is_selected_by_the_policies_of_its_workload_and_serves_no_service() {
    if !util::running_as_root() {
        return;
    }
    let app = App::up("lvm", &[], BARE_APP);
    let dir = Dir::new("live-mimic");
    dir.create(
        "s.yaml",
        &scenario(&format!(
            "    - {{name: web reaches api, from: {LIKE_WEB}, to: {API}, port: http, expect: allow}}
    - {{name: outsider does not, from: probes/outsider, to: {API}, port: http, expect: deny}}
    - {{name: web may send only to api, from: {LIKE_WEB}, to: {DB}, port: pg, expect: deny}}
    - {{name: outsider reaches db, from: probes/outsider, to: {DB}, port: pg, expect: allow}}
"
        )),
    );
    let (code, results, out) = app.run(&dir, &["s.yaml"], &["--keep", "--run-id", "mimic"]);
    assert_eq!(code, 0, "{}\n{}", out.stdout, out.stderr);
    for probe in probes(&results) {
        assert_eq!(probe["status"], "pass", "{probe}");
    }
    // The allowed path: api's ingress rule selects the mimic as a peer, and the api answered.
    let reached = by_name(&results, "web reaches api");
    assert_eq!(reached["outcome"]["kind"], "connected", "{reached}");
    assert_eq!(reached["answeredBy"], "shop/api-1", "{reached}");
    assert_eq!(reached["like"], "like:pod:shop/web-1");
    // The denied path: the web's egress policy selects the mimic; the db listens (the outsider
    // reached it).
    let denied = by_name(&results, "web may send only to api (shop/db-1)");
    assert_eq!(denied["outcome"]["kind"], "timeout", "{denied}");
    assert!(
        denied["prediction"]["explanation"]
            .as_str()
            .unwrap()
            .contains("shop/web-to-api-only"),
        "{denied}"
    );
    let mimic = &results["scenarios"][0]["mimics"][0];
    assert_eq!(
        mimic["summary"],
        format!(
            "probe pod {}, labels copied from pod shop/web-1 except pod-template-hash, service account web",
            mimic["pod"].as_str().unwrap()
        )
    );
    let name = mimic["pod"].as_str().unwrap().trim_start_matches("shop/");
    let pod = app.json(&["get", "pod", "-n", "shop", name]);
    assert_eq!(pod["metadata"]["labels"]["app"], "web", "{pod}");
    assert!(
        pod["metadata"]["labels"]["pod-template-hash"].is_null(),
        "{pod}"
    );
    assert_eq!(pod["spec"]["serviceAccountName"], "web");
    assert_eq!(
        pod["spec"]["readinessGates"][0]["conditionType"],
        "netverdict.io/never-ready"
    );
    let owner = &pod["metadata"]["ownerReferences"][0];
    assert_eq!(
        (&owner["kind"], &owner["name"], &owner["controller"]),
        (
            &Value::from("ConfigMap"),
            &Value::from("netverdict-mimic"),
            &Value::from(true)
        ),
        "{pod}"
    );
    // Never a ready endpoint of the web Service, whose selector its labels match.
    let ip = pod["status"]["podIP"].as_str().unwrap().to_owned();
    let slices = app.json(&[
        "get",
        "endpointslices",
        "-n",
        "shop",
        "-l",
        "kubernetes.io/service-name=web",
    ]);
    for endpoint in slices["items"][0]["endpoints"].as_array().unwrap() {
        if endpoint["addresses"][0] == ip.as_str() {
            assert_eq!(endpoint["conditions"]["ready"], false, "{endpoint}");
            assert_eq!(endpoint["conditions"]["serving"], false, "{endpoint}");
        } else {
            assert_eq!(endpoint["targetRef"]["name"], "web-1", "{endpoint}");
        }
    }
    let cleanup = dir
        .command()
        .args([
            "cleanup",
            "--run-id",
            "mimic",
            "--kubeconfig",
            &app.kubeconfig,
        ])
        .run();
    assert_eq!(cleanup.code, 0, "{}", cleanup.stderr);
    assert_eq!(app.leftovers().trim(), "");
}

/// Acceptance check 3: a deny to a deployed port where nothing listens is never a pass (a
/// refusal is inconclusive; a drop passes saying the listener is not verified), a deny whose
/// target an allowed mimic reaches is a deny, and an allowed probe names the pod that answered.
#[test]
fn a_deny_to_a_deployed_port_where_nothing_listens_is_never_a_pass() {
    if !util::running_as_root() {
        return;
    }
    let text = scenario(&format!(
        "    - {{name: metrics closed, from: probes/outsider, to: {API}, port: metrics, expect: deny}}
    - {{name: http closed to outsiders, from: probes/outsider, to: {API}, port: http, expect: deny}}
    - {{name: web reaches api, from: {LIKE_WEB}, to: {API}, port: http, expect: allow}}
"
    ));
    for cni in ["none", "reject", "enforcing"] {
        let app = App::up("lvc", &["--cni", cni], BARE_APP);
        let dir = Dir::new("live-controls");
        dir.create("s.yaml", &text);
        let (code, results, out) = app.run(&dir, &["s.yaml"], &[]);
        let closed = by_name(&results, "metrics closed");
        let answered = by_name(&results, "web reaches api");
        assert_eq!(answered["status"], "pass", "{cni}: {answered}");
        assert_eq!(answered["answeredBy"], "shop/api-1", "{answered}");
        assert!(
            answered["message"]
                .as_str()
                .unwrap()
                .ends_with("(answered by shop/api-1)"),
            "{answered}"
        );
        let http = by_name(&results, "http closed to outsiders");
        if cni != "enforcing" {
            // A refusal, from the closed port (nothing enforces) or from the network (it
            // rejects): which one, nothing shows, so it is never a pass.
            assert_eq!(closed["outcome"]["kind"], "refused", "{closed}");
            assert_eq!(closed["status"], "inconclusive", "{cni}: {closed}");
        }
        if cni == "none" {
            assert_eq!(code, 1, "{}", out.stdout);
            assert_eq!(http["status"], "fail", "{http}");
        } else if cni == "reject" {
            // The allowed mimic reached the port: this refusal is the network's deny.
            assert_eq!(code, 3, "{}", out.stdout);
            assert_eq!(http["outcome"]["kind"], "refused", "{http}");
            assert_eq!(http["status"], "pass", "{http}");
        } else {
            assert_eq!(code, 0, "{}\n{}", out.stdout, out.stderr);
            // Dropped by the network: a deny, whose listener nothing shows.
            assert_eq!(closed["status"], "pass", "{closed}");
            assert_eq!(
                closed["message"], "timeout: blocked; listener not verified",
                "{closed}"
            );
            // The mimic of the web, which the policies allow, is its control.
            assert_eq!(http["status"], "pass", "{http}");
            assert_eq!(http["message"], "timeout: blocked", "{http}");
        }
        assert_eq!(app.leftovers().trim(), "", "{cni}");
    }
}

/// A live target that does not exist, or does not expose the port, stops the run before
/// anything is created, naming where the scenario writes it (exit 3).
#[test]
fn a_live_target_that_cannot_be_probed_stops_the_run_before_anything_is_created() {
    if !util::running_as_root() {
        return;
    }
    let app = App::up("lvn", &[], BARE_APP);
    let dir = Dir::new("live-missing");
    dir.create(
        "s.yaml",
        &scenario(
            "    - {from: probes/outsider, to: {workload: {namespace: shop, kind: Pod, name: api-9}}, port: 8080}
    - {from: probes/outsider, to: {workload: {namespace: shop, kind: Pod, name: api-1}}, port: 7000}
",
        ),
    );
    let before = app.workloads();
    let (code, results, out) = app.run(&dir, &["s.yaml"], &[]);
    assert_eq!(code, 3, "{}", out.stdout);
    let error = results["error"].as_str().unwrap();
    assert!(
        error.contains("s.yaml:9:46: spec.probes[0].to.workload: pod shop/api-9 does not exist"),
        "{error}"
    );
    assert!(
        error.contains("spec.probes[1].to.workload: pod shop/api-1 does not expose port 7000/TCP"),
        "{error}"
    );
    assert_eq!(results["problems"][0]["kind"], "not-in-cluster");
    let xml = std::fs::read_to_string(dir.path().join("report.xml")).unwrap();
    assert!(xml.contains(r#"type="not-in-cluster""#), "{xml}");
    assert_eq!(app.leftovers().trim(), "", "nothing was created");
    assert!(
        !app.kubectl(&["get", "namespaces", "-o", "name"])
            .contains("probes")
    );
    assert_eq!(app.workloads(), before);
}

/// Acceptance check 5: after a run, and after a run interrupted by Ctrl-C, nothing of the run is
/// left and the workloads are exactly as before: the same pods (uids), restarts and endpoints.
#[test]
fn a_run_and_an_interrupted_run_leave_the_workloads_exactly_as_they_were() {
    if !util::running_as_root() {
        return;
    }
    let app = App::up("lvx", &[], BARE_APP);
    let dir = Dir::new("live-cleanup");
    dir.create(
        "s.yaml",
        &scenario(&format!(
            "    - {{from: {LIKE_WEB}, to: {{service: api, namespace: shop}}, port: web, expect: allow}}
    - {{from: {LIKE_WEB}, to: {DB}, port: pg}}
    - {{from: probes/outsider, to: {API}, port: http}}
"
        )),
    );
    let before = app.workloads();
    let (code, results, out) = app.run(&dir, &["s.yaml"], &[]);
    assert_eq!(code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(probes(&results).len(), 3);
    assert_eq!(app.leftovers().trim(), "", "objects of the run are left");
    assert_eq!(app.workloads(), before, "the run changed the workloads");

    // A probe that never matches keeps the run settling: interrupt it as Ctrl-C would.
    dir.create(
        "stuck.yaml",
        &scenario(&format!(
            "    - {{from: {LIKE_WEB}, to: {DB}, port: pg, expect: allow}}\n"
        ))
        .replace("name: live", "name: stuck"),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_netverdict"))
        .current_dir(dir.path())
        .args(["run", "stuck.yaml", "--kubeconfig", &app.kubeconfig])
        .args(["--settle", "60s", "--run-id", "stuck", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !app
        .kubectl(&[
            "get",
            "pods",
            "-n",
            "shop",
            "-l",
            "netverdict.io/run=stuck",
            "-o",
            "name",
        ])
        .contains("pod/nv-like-web-1-")
    {
        assert!(Instant::now() < deadline, "the run never created its mimic");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        app.kubectl(&["get", "configmaps", "-n", "shop", "-o", "name"])
            .contains("configmap/netverdict-stuck")
    );
    std::thread::sleep(Duration::from_secs(3));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert_eq!(exit.code(), Some(3), "{stdout}");
    assert!(stdout.contains("interrupted by Ctrl-C"), "{stdout}");
    assert_eq!(
        app.leftovers().trim(),
        "",
        "objects of the interrupted run are left"
    );
    assert_eq!(
        app.workloads(),
        before,
        "the interrupted run changed the workloads"
    );
}

impl App {
    /// Starts a local cluster and applies `manifest`, waiting for the rollout of `deployments`
    /// of namespace `shop` (`kubectl rollout status`).
    fn deployed(prefix: &str, manifest: &str, deployments: &[&str]) -> App {
        let (down, kubeconfig) = local_up(prefix, &[]);
        let app = App {
            _down: down,
            kubeconfig,
        };
        app.apply(manifest);
        let mut args = vec!["rollout", "status", "-n", "shop", "--timeout=180s"];
        let names: Vec<String> = deployments
            .iter()
            .map(|d| format!("deployment/{d}"))
            .collect();
        args.extend(names.iter().map(String::as_str));
        app.kubectl(&args);
        app.wait_ready();
        app
    }
}

/// Acceptance checks 1 and 3: the worked example applied by kubectl passes, every allowed probe
/// to a Deployment naming the pod that answered; after one of its policies is changed to allow
/// too much, the same scenario fails exactly on the probe that policy now contradicts, with the
/// engine's explanation. The workloads are as they were after each run.
#[test]
fn the_worked_example_passes_and_fails_exactly_where_a_policy_allows_too_much() {
    if !util::running_as_root() {
        return;
    }
    let manifest =
        std::fs::read_to_string(util::repo().join("examples/post-deploy/app.yaml")).unwrap();
    let app = App::deployed("lve", &manifest, &["frontend", "api", "db"]);
    let dir = Dir::new("live-example");
    let example = util::repo().join("examples/post-deploy/post-deploy.yaml");
    let example = example.to_str().unwrap();
    let before = app.workloads();
    let (code, results, out) = app.run(&dir, &[example], &[]);
    assert_eq!(code, 0, "{}\n{}", out.stdout, out.stderr);
    let all = probes(&results);
    for probe in &all {
        assert_eq!(probe["status"], "pass", "{probe}");
    }
    // One probe per api pod from the frontend's mimic, each answered by its pod.
    let to_api: Vec<&&Value> = all
        .iter()
        .filter(|p| {
            p["like"] == "like:deployment:shop/frontend" && p["to"] == "deployment:shop/api"
        })
        .collect();
    assert_eq!(to_api.len(), 2, "{results}");
    for probe in to_api {
        assert_eq!(probe["answeredBy"], probe["targetPod"], "{probe}");
        assert!(
            probe["targetPod"]
                .as_str()
                .unwrap()
                .starts_with("shop/api-"),
            "{probe}"
        );
    }
    let mimics = results["scenarios"][0]["mimics"].as_array().unwrap();
    assert_eq!(mimics.len(), 2);
    assert!(
        mimics[0]["summary"]
            .as_str()
            .unwrap()
            .ends_with("labels copied from deployment shop/frontend except pod-template-hash, service account frontend"),
        "{mimics:?}"
    );
    assert_eq!(app.leftovers().trim(), "");
    assert_eq!(app.workloads(), before);

    // The database's policy now admits every pod of the namespace, not the api only.
    app.kubectl(&[
        "patch",
        "networkpolicy",
        "db-from-api",
        "-n",
        "shop",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/ingress/0/from","value":[{"podSelector":{}}]}]"#,
    ]);
    let (code, results, out) = app.run(&dir, &[example], &[]);
    assert_eq!(code, 1, "{}\n{}", out.stdout, out.stderr);
    let failed: Vec<&Value> = probes(&results)
        .into_iter()
        .filter(|p| p["status"] != "pass")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let failed = failed[0];
    assert!(
        failed["name"]
            .as_str()
            .unwrap()
            .starts_with("the frontend never reaches the database (shop/db-"),
        "{failed}"
    );
    assert_eq!(failed["status"], "fail");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "connected: the cluster's policies allow this, not the scenario's expectation: allowed;"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "ingress: allowed by policy shop/db-from-api, ingress rule 0 (from[0], ports[0])"
        ),
        "{message}"
    );
    assert_eq!(failed["prediction"]["agrees"], false);
    assert_eq!(app.leftovers().trim(), "");
    assert_eq!(app.workloads(), before);
}

/// `shop` with a Deployment `web` (two replicas, app=web) behind a Service `web`.
const WEB_DEPLOYMENT: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: web, image: example.com/web:1, command: [netverdict, serve, --tcp, "8080"], ports: [{containerPort: 8080, name: http}], readinessProbe: {tcpSocket: {port: http}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
"#;

/// Acceptance check 2, the controllers' side: a ReplicaSet whose selector matches the labels a
/// mimic copied neither adopts nor deletes it (while it adopts and deletes a bare pod with the
/// same labels), and the mimic is never a ready endpoint of the workload's Service.
#[test]
fn no_replica_set_adopts_or_deletes_a_mimic() {
    if !util::running_as_root() {
        return;
    }
    let app = App::deployed("lva", WEB_DEPLOYMENT, &["web"]);
    let dir = Dir::new("live-adoption");
    dir.create(
        "s.yaml",
        &scenario(
            "    - {from: {like: {workload: {namespace: shop, kind: Deployment, name: web}}}, to: {service: web, namespace: shop}, port: 80, expect: allow}\n",
        ),
    );
    let (code, results, out) = app.run(&dir, &["s.yaml"], &["--keep", "--run-id", "adopt"]);
    assert_eq!(code, 0, "{}\n{}", out.stdout, out.stderr);
    let mimic = results["scenarios"][0]["mimics"][0]["pod"]
        .as_str()
        .unwrap()
        .trim_start_matches("shop/")
        .to_owned();
    let owners_before =
        app.json(&["get", "pod", "-n", "shop", &mimic])["metadata"]["ownerReferences"].clone();
    // A bare pod with the same labels, and a ReplicaSet of no replica selecting them.
    app.apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: orphan, namespace: shop, labels: {app: web}}
spec: {containers: [{name: web, image: example.com/web:1, command: [netverdict, serve, --idle]}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: adopter, namespace: shop}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: example.com/web:1}]}
"#,
    );
    // The ReplicaSet adopts the orphan and deletes it (it wants no replica).
    let deadline = Instant::now() + Duration::from_secs(60);
    while app
        .kubectl(&["get", "pods", "-n", "shop", "-o", "name"])
        .contains("pod/orphan")
    {
        assert!(
            Instant::now() < deadline,
            "the ReplicaSet never took the orphan"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let pod = app.json(&["get", "pod", "-n", "shop", &mimic]);
    assert_eq!(pod["metadata"]["ownerReferences"], owners_before, "{pod}");
    assert!(pod["metadata"]["deletionTimestamp"].is_null(), "{pod}");
    let adopter = app.json(&["get", "replicaset", "-n", "shop", "adopter"]);
    assert_eq!(adopter["status"]["replicas"], 0, "{adopter}");
    // The Deployment still counts its own two.
    let deployment = app.json(&["get", "deployment", "-n", "shop", "web"]);
    assert_eq!(deployment["status"]["replicas"], 2, "{deployment}");
    // Listed by the web Service's EndpointSlice only as not ready, never serving.
    let ip = pod["status"]["podIP"].as_str().unwrap().to_owned();
    let slices = app.json(&[
        "get",
        "endpointslices",
        "-n",
        "shop",
        "-l",
        "kubernetes.io/service-name=web",
    ]);
    let mut ready = 0;
    for endpoint in slices["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
    {
        if endpoint["addresses"][0] == ip.as_str() {
            assert_eq!(endpoint["conditions"]["ready"], false, "{endpoint}");
            assert_eq!(endpoint["conditions"]["serving"], false, "{endpoint}");
        } else if endpoint["conditions"]["ready"] == true {
            ready += 1;
        }
    }
    assert_eq!(ready, 2, "{slices}");
    let cleanup = dir
        .command()
        .args([
            "cleanup",
            "--run-id",
            "adopt",
            "--kubeconfig",
            &app.kubeconfig,
        ])
        .run();
    assert_eq!(cleanup.code, 0, "{}", cleanup.stderr);
    assert_eq!(app.leftovers().trim(), "");
}

/// A mimic goes where its placement says: on the node of a workload's pod, or off every node
/// its pods run on (a required node affinity the scheduler honours).
#[test]
fn a_mimic_runs_where_its_placement_says() {
    if !util::running_as_root() {
        return;
    }
    let app = App::up("lvp", &[], BARE_APP);
    let dir = Dir::new("live-placement");
    dir.create(
        "s.yaml",
        &scenario(&format!(
            "    - {{from: {{like: {{workload: {{namespace: shop, kind: Pod, name: web-1}}}}, placement: {{sameNodeAs: {DB}}}}}, to: {API}, port: http, expect: allow}}
    - {{from: {{like: {{workload: {{namespace: shop, kind: Pod, name: web-1}}}}, placement: {{otherNodeThan: {DB}}}}}, to: {API}, port: http, expect: allow}}
"
        )),
    );
    let (code, results, out) = app.run(&dir, &["s.yaml"], &["--keep", "--run-id", "place"]);
    assert_eq!(code, 0, "{}\n{}", out.stdout, out.stderr);
    let node_of = |pod: &str| {
        app.json(&["get", "pod", "-n", "shop", pod])["spec"]["nodeName"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let db = node_of("db-1");
    let mimics = results["scenarios"][0]["mimics"].as_array().unwrap();
    assert_eq!(mimics.len(), 2, "one mimic per placement");
    let pod = |m: &Value| {
        m["pod"]
            .as_str()
            .unwrap()
            .trim_start_matches("shop/")
            .to_owned()
    };
    assert_eq!(mimics[0]["node"], db.as_str());
    assert_eq!(node_of(&pod(&mimics[0])), db);
    assert_eq!(mimics[1]["avoidNodes"], serde_json::json!([db]));
    assert_ne!(node_of(&pod(&mimics[1])), db);
    let cleanup = dir
        .command()
        .args([
            "cleanup",
            "--run-id",
            "place",
            "--kubeconfig",
            &app.kubeconfig,
        ])
        .run();
    assert_eq!(cleanup.code, 0, "{}", cleanup.stderr);
}

/// `shop` with a StatefulSet `db` (two replicas, headless Service `db`) and a DaemonSet `agent`
/// (one pod per node), both serving TCP.
const SETS: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - {name: db, image: example.com/db:1, command: [netverdict, serve, --tcp, "5432"], ports: [{containerPort: 5432, name: pg}], readinessProbe: {tcpSocket: {port: pg}, periodSeconds: 1}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
        - {name: agent, image: example.com/agent:1, command: [netverdict, serve, --tcp, "9100"], ports: [{containerPort: 9100, name: metrics}]}
"#;

/// StatefulSet and DaemonSet targets: every pod of a StatefulSet by its stable name, one
/// DaemonSet pod per node, and a mimic of a StatefulSet without the labels that name its pods.
#[test]
fn stateful_sets_and_daemon_sets_are_targets_and_can_be_copied() {
    if !util::running_as_root() {
        return;
    }
    let (down, kubeconfig) = local_up("lvs", &[]);
    let app = App {
        _down: down,
        kubeconfig,
    };
    app.apply(SETS);
    app.kubectl(&[
        "rollout",
        "status",
        "-n",
        "shop",
        "statefulset/db",
        "--timeout=180s",
    ]);
    app.kubectl(&[
        "rollout",
        "status",
        "-n",
        "shop",
        "daemonset/agent",
        "--timeout=180s",
    ]);
    app.wait_ready();
    let dir = Dir::new("live-sets");
    dir.create(
        "s.yaml",
        &scenario(
            "    - {name: db, from: probes/outsider, to: {workload: {namespace: shop, kind: StatefulSet, name: db}}, port: pg, expect: allow}
    - {name: agents, from: {like: {workload: {namespace: shop, kind: StatefulSet, name: db}}}, to: {workload: {namespace: shop, kind: DaemonSet, name: agent}, pick: perNode}, port: metrics, expect: allow}
",
        ),
    );
    let before = app.workloads();
    let (code, results, out) = app.run(&dir, &["s.yaml"], &[]);
    assert_eq!(code, 0, "{}\n{}", out.stdout, out.stderr);
    let mut names: Vec<String> = probes(&results)
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    let nodes = app.json(&["get", "nodes"])["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(names.len(), 2 + nodes, "{names:?}");
    assert_eq!(
        names[nodes..],
        ["db (shop/db-0)", "db (shop/db-1)"],
        "{names:?}"
    );
    assert!(names[0].starts_with("agents (node "), "{names:?}");
    let mimic = &results["scenarios"][0]["mimics"][0];
    let left_out: Vec<&str> = mimic["leftOut"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(left_out.contains(&"controller-revision-hash"), "{mimic}");
    assert!(
        left_out.contains(&"statefulset.kubernetes.io/pod-name"),
        "{mimic}"
    );
    assert_eq!(mimic["labels"], serde_json::json!({"app": "db"}), "{mimic}");
    assert_eq!(app.leftovers().trim(), "");
    assert_eq!(app.workloads(), before);
}
