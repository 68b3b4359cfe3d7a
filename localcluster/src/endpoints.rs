//! The endpoints controller: Endpoints and EndpointSlices of selector-based Services, the
//! Service translation in the fabric as kube-proxy programs it, and the DNS records.
//!
//! (Deleting a namespace needs no controller here: the store marks what it holds, pods go
//! through the kubelet's graceful termination, and the store drops the namespace once empty.)
//!
//! The endpoints controller recomputes everything on each change of pods or Services (a few
//! hundred objects at most here): simpler than incremental updates and never stale.
//!
//! A Service port with no ready endpoint is rejected by the fabric (ICMP port unreachable, as
//! kube-proxy's iptables REJECT), so clients see "connection refused" at once.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use netverdict_apiserver::{Resource, Selection};
use netverdict_engine::Protocol;
use netverdict_netns::{INFRA_IP, ServiceRule};
use serde_json::{Value, json};

use crate::cluster::{API_ENDPOINT_PORT, Ctx, DNS_SERVICE_IP, now};
use crate::dns::ServiceAddrs;

const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

/// Runs until aborted: waits for changes, then reconciles.
pub(crate) async fn run(ctx: Arc<Ctx>) {
    let services = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                let Ok(mut rx) =
                    ctx.store
                        .watch(Resource::Services, None, &Selection::default(), None)
                else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                while rx.recv().await.is_some() {
                    ctx.changed.notify_one();
                }
            }
        })
    };
    let _abort_services = AbortOnDrop(services);
    let mut applied: Option<Vec<ServiceRule>> = None;
    loop {
        // Coalesce bursts of changes (100 pods created at once) into one pass.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (rules, plan) = reconcile(&ctx);
        // The translation first, then the objects and names that announce it: whoever sees a
        // ready endpoint listed can reach it through the Service.
        if applied.as_ref() != Some(&rules) {
            let to_apply = rules.clone();
            match ctx.with_fabric(move |f| f.apply_services(&to_apply)).await {
                Ok(()) => applied = Some(rules),
                Err(e) => tracing::warn!(error = %e, "apply Service rules"),
            }
        }
        plan.write(&ctx);
        if let Some(rules) = &applied {
            let dns_ready = rules
                .iter()
                .any(|r| r.cluster_ip == DNS_SERVICE_IP && !r.endpoints.is_empty());
            ctx.dns_ready.store(dns_ready, Ordering::Release);
        }
        ctx.changed.notified().await;
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn labels_match(selector: &serde_json::Map<String, Value>, labels: &Value) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn protocol(p: &Value) -> (Protocol, &str) {
    match p["protocol"].as_str().unwrap_or("TCP") {
        "UDP" => (Protocol::Udp, "UDP"),
        "SCTP" => (Protocol::Sctp, "SCTP"),
        _ => (Protocol::Tcp, "TCP"),
    }
}

/// The pod port a Service port targets: a number, or a container port name looked up in the pod.
fn target_port(service_port: &Value, pod: &Value) -> Option<u16> {
    let target = &service_port["targetPort"];
    if let Some(n) = target.as_u64() {
        return u16::try_from(n).ok();
    }
    if let Some(name) = target.as_str() {
        if let Ok(n) = name.parse::<u16>() {
            return Some(n);
        }
        let (_, proto) = protocol(service_port);
        return pod["spec"]["containers"].as_array()?.iter().find_map(|c| {
            c["ports"].as_array()?.iter().find_map(|p| {
                let same = p["name"].as_str() == Some(name)
                    && p["protocol"].as_str().unwrap_or("TCP") == proto;
                if same {
                    p["containerPort"]
                        .as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                } else {
                    None
                }
            })
        });
    }
    service_port["port"]
        .as_u64()
        .and_then(|n| u16::try_from(n).ok())
}

/// Resolved ports of one Endpoints subset: (name, port, protocol).
type PortKey = Vec<(String, u16, String)>;

/// One endpoint: pod address, readiness and where it runs.
struct Endpoint<'a> {
    ip: Ipv4Addr,
    ready: bool,
    terminating: bool,
    pod: &'a Value,
}

/// An object write the reconciliation decided on.
struct Upsert {
    resource: Resource,
    ns: String,
    name: String,
    object: Value,
    fields: &'static [&'static str],
    nested: Option<(&'static str, &'static str)>,
}

/// What one reconciliation writes once the Service rules are in place.
#[derive(Default)]
struct Plan {
    upserts: Vec<Upsert>,
    records: BTreeMap<(String, String), ServiceAddrs>,
    managed: HashSet<(String, String)>,
}

impl Plan {
    fn write(self, ctx: &Ctx) {
        for u in self.upserts {
            upsert(ctx, u);
        }
        ctx.dns.set_services(self.records);
        remove_orphans(ctx, &self.managed);
    }
}

/// Computes the Service rules and the Endpoints, EndpointSlices and DNS records.
fn reconcile(ctx: &Ctx) -> (Vec<ServiceRule>, Plan) {
    let all = Selection::default();
    let (Ok((services, _)), Ok((pods, _))) = (
        ctx.store.list(Resource::Services, None, &all),
        ctx.store.list(Resource::Pods, None, &all),
    ) else {
        return (Vec::new(), Plan::default());
    };
    let mut rules: BTreeMap<(Ipv4Addr, u16, u8), ServiceRule> = BTreeMap::new();
    let mut plan = Plan::default();
    let Plan {
        upserts,
        records,
        managed,
    } = &mut plan;
    for svc in &services {
        let ns = svc["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = svc["metadata"]["name"].as_str().unwrap_or_default();
        let spec = &svc["spec"];
        let cluster_ip = spec["clusterIP"]
            .as_str()
            .and_then(|s| s.parse::<Ipv4Addr>().ok());
        let ports = spec["ports"].as_array().cloned().unwrap_or_default();
        let selector = spec["selector"].as_object().filter(|s| !s.is_empty());
        // (pod ip, target port) per Service port index, ready endpoints only.
        let mut per_port: Vec<Vec<(Ipv4Addr, u16)>> = vec![Vec::new(); ports.len()];
        let mut ready_ips = BTreeSet::new();
        if ns == "default" && name == "kubernetes" {
            for (i, _) in ports.iter().enumerate() {
                per_port[i].push((INFRA_IP, API_ENDPOINT_PORT));
            }
            ready_ips.insert(INFRA_IP);
            write_endpoints(
                upserts,
                ns,
                name,
                svc,
                &[],
                &ports,
                Some((INFRA_IP, API_ENDPOINT_PORT)),
            );
            managed.insert((ns.to_owned(), name.to_owned()));
        } else if let Some(selector) = selector {
            let endpoints: Vec<Endpoint> = pods
                .iter()
                .filter(|p| {
                    p["metadata"]["namespace"] == ns
                        && labels_match(selector, &p["metadata"]["labels"])
                })
                .filter_map(|p| {
                    let ip = p["status"]["podIP"].as_str()?.parse().ok()?;
                    let phase = p["status"]["phase"].as_str().unwrap_or_default();
                    if matches!(phase, "Succeeded" | "Failed") {
                        return None;
                    }
                    let terminating = !p["metadata"]["deletionTimestamp"].is_null();
                    Some(Endpoint {
                        ip,
                        ready: is_ready(p) && !terminating,
                        terminating,
                        pod: p,
                    })
                })
                .collect();
            for e in endpoints.iter().filter(|e| e.ready) {
                ready_ips.insert(e.ip);
                for (i, port) in ports.iter().enumerate() {
                    if let Some(tp) = target_port(port, e.pod) {
                        per_port[i].push((e.ip, tp));
                    }
                }
            }
            write_endpoints(upserts, ns, name, svc, &endpoints, &ports, None);
            managed.insert((ns.to_owned(), name.to_owned()));
        } else {
            // Without a selector the user manages the Endpoints object: use what it says.
            if let Ok(ep) = ctx.store.get(Resource::Endpoints, Some(ns), name) {
                for subset in ep["subsets"].as_array().into_iter().flatten() {
                    let ips: Vec<Ipv4Addr> = subset["addresses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a["ip"].as_str()?.parse().ok())
                        .collect();
                    for (i, port) in ports.iter().enumerate() {
                        let sp = subset["ports"].as_array().into_iter().flatten().find(|p| {
                            p["name"].as_str().unwrap_or_default()
                                == port["name"].as_str().unwrap_or_default()
                        });
                        let Some(n) = sp
                            .and_then(|p| p["port"].as_u64())
                            .and_then(|n| u16::try_from(n).ok())
                        else {
                            continue;
                        };
                        per_port[i].extend(ips.iter().map(|ip| (*ip, n)));
                    }
                    ready_ips.extend(ips);
                }
            }
        }
        match cluster_ip {
            Some(ip) => {
                records.insert(
                    (ns.to_owned(), name.to_owned()),
                    ServiceAddrs::ClusterIp(ip),
                );
                for (i, port) in ports.iter().enumerate() {
                    let Some(p) = port["port"].as_u64().and_then(|n| u16::try_from(n).ok()) else {
                        continue;
                    };
                    let (proto, _) = protocol(port);
                    let key = (ip, p, proto as u8);
                    let mut eps = per_port[i].clone();
                    eps.sort();
                    eps.dedup();
                    rules.insert(
                        key,
                        ServiceRule {
                            cluster_ip: ip,
                            port: p,
                            protocol: proto,
                            endpoints: eps,
                        },
                    );
                }
            }
            None => {
                records.insert(
                    (ns.to_owned(), name.to_owned()),
                    ServiceAddrs::Headless(ready_ips.into_iter().collect()),
                );
            }
        }
    }
    (rules.into_values().collect(), plan)
}

/// Writes the Endpoints and the EndpointSlice of one Service (`fixed`: one address for every
/// port, as for `kubernetes`).
fn write_endpoints(
    upserts: &mut Vec<Upsert>,
    ns: &str,
    name: &str,
    svc: &Value,
    endpoints: &[Endpoint],
    ports: &[Value],
    fixed: Option<(Ipv4Addr, u16)>,
) {
    let addr = |e: &Endpoint| {
        json!({"ip": e.ip.to_string(), "nodeName": e.pod["spec"]["nodeName"],
               "targetRef": {"kind": "Pod", "namespace": ns, "name": e.pod["metadata"]["name"], "uid": e.pod["metadata"]["uid"]}})
    };
    // Endpoints: one subset per distinct resolution of the ports (named ports may differ per pod).
    let mut subsets: BTreeMap<PortKey, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    let resolve = |pod: Option<&Value>| -> Vec<(String, u16, String)> {
        ports
            .iter()
            .filter_map(|p| {
                let port = match (fixed, pod) {
                    (Some((_, fp)), _) => fp,
                    (None, Some(pod)) => target_port(p, pod)?,
                    (None, None) => return None,
                };
                Some((
                    p["name"].as_str().unwrap_or_default().to_owned(),
                    port,
                    protocol(p).1.to_owned(),
                ))
            })
            .collect()
    };
    if let Some((ip, _)) = fixed {
        subsets.insert(
            resolve(None),
            (vec![json!({"ip": ip.to_string()})], Vec::new()),
        );
    }
    for e in endpoints.iter().filter(|e| !e.terminating) {
        let key = resolve(Some(e.pod));
        if key.is_empty() {
            continue;
        }
        let entry = subsets.entry(key).or_default();
        if e.ready {
            entry.0.push(addr(e))
        } else {
            entry.1.push(addr(e))
        }
    }
    let subsets: Vec<Value> = subsets
        .into_iter()
        .map(|(ports, (ready, not_ready))| {
            let ports: Vec<Value> = ports
                .into_iter()
                .map(|(n, p, proto)| {
                    let mut v = json!({"port": p, "protocol": proto});
                    if !n.is_empty() {
                        v["name"] = json!(n);
                    }
                    v
                })
                .collect();
            let mut s = json!({"ports": ports});
            if !ready.is_empty() {
                s["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                s["notReadyAddresses"] = json!(not_ready);
            }
            s
        })
        .collect();
    let labels = svc["metadata"]["labels"].clone();
    let owner = json!([{"apiVersion": "v1", "kind": "Service", "name": name, "uid": svc["metadata"]["uid"],
                        "controller": true, "blockOwnerDeletion": true}]);
    let endpoints_obj = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": name, "namespace": ns, "labels": if labels.is_null() { json!({}) } else { labels.clone() }},
        "subsets": subsets,
    });
    upserts.push(Upsert {
        resource: Resource::Endpoints,
        ns: ns.to_owned(),
        name: name.to_owned(),
        object: endpoints_obj,
        fields: &["subsets"],
        nested: Some(("metadata", "labels")),
    });

    // The EndpointSlice: the first pod's port resolution (one slice per Service here).
    let slice_ports = resolve(endpoints.iter().find(|e| !e.terminating).map(|e| e.pod));
    let slice_ports: Vec<Value> = ports
        .iter()
        .zip(slice_ports.iter().map(Some).chain(std::iter::repeat(None)))
        .filter_map(|(p, r)| {
            let (n, port, proto) = r?;
            let _ = p;
            Some(json!({"name": n, "port": port, "protocol": proto}))
        })
        .collect();
    let mut slice_endpoints: Vec<Value> = endpoints
        .iter()
        .map(|e| {
            json!({"addresses": [e.ip.to_string()],
                   "conditions": {"ready": e.ready, "serving": e.ready || e.terminating && is_ready(e.pod), "terminating": e.terminating},
                   "nodeName": e.pod["spec"]["nodeName"],
                   "targetRef": {"kind": "Pod", "namespace": ns, "name": e.pod["metadata"]["name"], "uid": e.pod["metadata"]["uid"]}})
        })
        .collect();
    if let Some((ip, _)) = fixed {
        slice_endpoints.push(json!({"addresses": [ip.to_string()], "conditions": {"ready": true, "serving": true, "terminating": false}}));
    }
    let mut slice_labels = json!({"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": MANAGED_BY});
    if let Some(l) = svc["metadata"]["labels"].as_object() {
        for (k, v) in l {
            slice_labels[k] = v.clone();
        }
    }
    // The API server's own slice is named like its Service; the controller's get a suffix.
    let slice_name = if fixed.is_some() {
        name.to_owned()
    } else {
        slice_name(name)
    };
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": slice_name, "namespace": ns, "labels": slice_labels, "ownerReferences": owner,
                     "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": now()}},
        "addressType": "IPv4", "endpoints": slice_endpoints, "ports": slice_ports,
    });
    upserts.push(Upsert {
        resource: Resource::EndpointSlices,
        ns: ns.to_owned(),
        name: slice_name,
        object: slice,
        fields: &["endpoints", "ports"],
        // A Service made anew under the same name owns the slice from then on.
        nested: Some(("metadata", "ownerReferences")),
    });
}

/// `<service>-<5 chars>`: stable per Service, shaped like the generated names.
fn slice_name(service: &str) -> String {
    let hash = service
        .bytes()
        .fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
    let alphabet = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5)
        .map(|i| char::from(alphabet[((hash >> (i * 5)) as usize) % alphabet.len()]))
        .collect();
    let base: String = service.chars().take(57).collect();
    format!("{base}-{suffix}")
}

/// Creates the object, or replaces the given top-level fields of the existing one (the store
/// notifies watchers only when something changed).
fn upsert(ctx: &Ctx, u: Upsert) {
    let Upsert {
        resource,
        ns,
        name,
        object,
        fields,
        nested,
    } = u;
    let result = ctx.store.mutate(resource, Some(&ns), &name, |existing| {
        for f in fields {
            existing[*f] = object[*f].clone();
        }
        if let Some((a, b)) = nested {
            existing[a][b] = object[a][b].clone();
        }
        Ok(())
    });
    match result {
        Err(e) if e.code == 404 => {
            if let Err(e) = ctx.store.create(resource, Some(&ns), object) {
                tracing::debug!(name, error = %e, "create endpoints");
            }
        }
        Err(e) => tracing::debug!(name, error = %e, "update endpoints"),
        Ok(_) => {}
    }
}

/// Deletes the Endpoints and EndpointSlices of Services that no longer exist.
fn remove_orphans(ctx: &Ctx, managed: &HashSet<(String, String)>) {
    let all = Selection::default();
    let services: HashSet<(String, String)> = ctx
        .store
        .list(Resource::Services, None, &all)
        .map(|(s, _)| s.iter().map(|s| (ns_of(s), name_of(s))).collect())
        .unwrap_or_default();
    if let Ok((eps, _)) = ctx.store.list(Resource::Endpoints, None, &all) {
        for ep in eps {
            let key = (ns_of(&ep), name_of(&ep));
            if !services.contains(&key) && !managed.contains(&key) {
                let _ = ctx
                    .store
                    .delete(Resource::Endpoints, Some(&key.0), &key.1, None);
            }
        }
    }
    let selection = Selection {
        label_selector: Some(format!(
            "endpointslice.kubernetes.io/managed-by={MANAGED_BY}"
        )),
        field_selector: None,
    };
    if let Ok((slices, _)) = ctx.store.list(Resource::EndpointSlices, None, &selection) {
        for s in slices {
            let svc = s["metadata"]["labels"]["kubernetes.io/service-name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if !managed.contains(&(ns_of(&s), svc)) {
                let _ = ctx.store.delete(
                    Resource::EndpointSlices,
                    Some(&ns_of(&s)),
                    &name_of(&s),
                    None,
                );
            }
        }
    }
}

fn ns_of(v: &Value) -> String {
    v["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn name_of(v: &Value) -> String {
    v["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_ports() {
        let pod = json!({"spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080},
                                                             {"name": "dns", "containerPort": 5353, "protocol": "UDP"}]}]}});
        assert_eq!(
            target_port(&json!({"port": 80, "targetPort": "http"}), &pod),
            Some(8080)
        );
        assert_eq!(
            target_port(&json!({"port": 80, "targetPort": 81}), &pod),
            Some(81)
        );
        assert_eq!(target_port(&json!({"port": 80}), &pod), Some(80));
        assert_eq!(
            target_port(
                &json!({"port": 53, "targetPort": "dns", "protocol": "UDP"}),
                &pod
            ),
            Some(5353)
        );
        assert_eq!(
            target_port(&json!({"port": 53, "targetPort": "dns"}), &pod),
            None
        );
        assert_eq!(
            target_port(&json!({"port": 80, "targetPort": "nope"}), &pod),
            None
        );
    }

    #[test]
    fn slice_names_are_stable_and_valid() {
        let a = slice_name("web");
        assert_eq!(a, slice_name("web"));
        assert!(a.starts_with("web-") && a.len() == 9, "{a}");
        assert!(slice_name(&"x".repeat(63)).len() <= 63);
    }
}
