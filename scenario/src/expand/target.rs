//! Probe targets resolved against the scenario: a pod, the pods a selector matches, a service, a
//! host name, an address, or the cluster DNS; and in namespaces the scenario does not create,
//! deployed workloads, pods and Services, found at run time.

use std::net::IpAddr;

use netverdict_engine::{LabelSelector, Quoted};
use serde_saphyr::Spanned;

use super::entry::{Expander, Reported};
use crate::model::{LiveTarget, PodRef, Written};
use crate::names;
use crate::policy::RawLabelSelector;
use crate::raw::{Pick, RawTarget};

/// A probe target resolved against the scenario, before port resolution.
#[derive(Clone)]
pub(super) enum Resolved {
    Pod(PodRef),
    /// `(namespace, name)` of a scenario service.
    Service(String, String),
    Host(String),
    Ip(IpAddr),
    ClusterDns,
    /// Deployed pods, found at run time.
    Live(LiveTarget),
    /// A Service the scenario does not create, found at run time.
    LiveService {
        namespace: String,
        name: String,
        written: Written,
    },
}

impl Resolved {
    /// The column label of a truth table.
    pub(super) fn label(&self) -> String {
        match self {
            Resolved::Pod(p) => p.to_string(),
            Resolved::Service(ns, name) => format!("service:{ns}/{name}"),
            Resolved::Host(h) => format!("host:{h}"),
            Resolved::Ip(ip) => format!("ip:{ip}"),
            Resolved::ClusterDns => "dns".into(),
            Resolved::Live(live) => live.selection.label(),
            Resolved::LiveService {
                namespace, name, ..
            } => format!("service:{namespace}/{name}"),
        }
    }
}

impl Expander<'_, '_> {
    /// The targets `to` (at `path`) names: one, or every pod a `pods` selector matches.
    pub(super) fn targets(
        &mut self,
        to: &Spanned<RawTarget>,
        path: &str,
    ) -> Result<Vec<Resolved>, Reported> {
        match &to.value {
            RawTarget::Pod(s) => {
                let spanned = Spanned::new(s.clone(), to.referenced, to.defined);
                let pod = self.report.pod_ref(self.pods, &spanned, path);
                if pod.is_none() {
                    self.deployed_pod_hint(s);
                }
                Ok(vec![Resolved::Pod(pod.ok_or(Reported)?)])
            }
            RawTarget::Service { service, namespace } if !self.creates(&namespace.value) => {
                Ok(vec![self.live_service(service, namespace, path)?])
            }
            RawTarget::Service { service, namespace } => {
                Ok(vec![self.service(service, namespace, path)?])
            }
            RawTarget::Pods {
                namespace,
                selector,
                pick,
            } if !self.creates(&namespace.value) => {
                let selection = self.live_pods(namespace, selector, &format!("{path}.pods"))?;
                Ok(vec![self.live(selection, pick.as_ref(), path, "pods")])
            }
            RawTarget::Pods {
                namespace,
                selector,
                pick,
            } => {
                if let Some(pick) = pick {
                    self.report.error_at(
                        pick,
                        &format!("{path}.pick"),
                        format!(
                            "`pick` chooses among deployed pods; namespace {} is one the run creates, and every pod the selector matches is probed",
                            namespace.value
                        ),
                    );
                    return Err(Reported);
                }
                self.selected_pods(namespace, selector, path)
            }
            RawTarget::Workload { workload, pick } => {
                let selection = self.workload(workload, &format!("{path}.workload"))?;
                Ok(vec![self.live(selection, pick.as_ref(), path, "workload")])
            }
            RawTarget::Host(host) => match names::dns_name(&host.value) {
                Ok(()) => Ok(vec![Resolved::Host(
                    host.value.trim_end_matches('.').to_string(),
                )]),
                Err(e) => {
                    self.report.error_at(host, &format!("{path}.host"), e);
                    Err(Reported)
                }
            },
            RawTarget::Ip(ip) => match ip.value.parse::<IpAddr>() {
                Ok(addr) => Ok(vec![Resolved::Ip(addr)]),
                Err(_) => {
                    self.report.error_at(
                        ip,
                        &format!("{path}.ip"),
                        format!("{} is not an IPv4 or IPv6 address", Quoted(&ip.value)),
                    );
                    Err(Reported)
                }
            },
        }
    }

    /// Whether the scenario creates `namespace` (a target there is one of its own).
    pub(super) fn creates(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|n| n.name == namespace)
    }

    /// A live target of `selection`, written at `path`.`field`.
    fn live(
        &mut self,
        selection: crate::model::LiveSelection,
        pick: Option<&Spanned<Pick>>,
        path: &str,
        field: &str,
    ) -> Resolved {
        Resolved::Live(LiveTarget {
            selection,
            pick: pick.map_or(Pick::All, |p| p.value),
            written: self.written(&format!("{path}.{field}")),
        })
    }

    /// A Service in a namespace the scenario does not create: the deployed one, found at run
    /// time.
    fn live_service(
        &mut self,
        service: &Spanned<String>,
        namespace: &Spanned<String>,
        path: &str,
    ) -> Result<Resolved, Reported> {
        let mut ok = true;
        if let Err(e) = names::dns1123_label(&service.value) {
            self.report.error_at(
                service,
                &format!("{path}.service"),
                format!("{e} (a service name)"),
            );
            ok = false;
        }
        if let Err(e) = names::dns1123_label(&namespace.value) {
            let message = format!("{e} (a namespace name)");
            self.report
                .error_at(namespace, &format!("{path}.namespace"), message);
            ok = false;
        }
        if !ok {
            return Err(Reported);
        }
        Ok(Resolved::LiveService {
            namespace: namespace.value.clone(),
            name: service.value.clone(),
            written: self.written(&format!("{path}.service")),
        })
    }

    /// For a `ns/pod` target in a namespace the scenario does not create: how to name a
    /// deployed pod.
    fn deployed_pod_hint(&mut self, written: &str) {
        let Some((namespace, name)) = written.split_once('/') else {
            return;
        };
        if self.creates(namespace) || namespace.is_empty() {
            return;
        }
        if let Some(last) = self.report.sink.last_mut() {
            last.message.push_str(&format!(
                "; a deployed pod is a live target: write {{workload: {{namespace: {namespace}, kind: Pod, name: {name}}}}}"
            ));
        }
    }

    fn service(
        &mut self,
        service: &Spanned<String>,
        namespace: &Spanned<String>,
        path: &str,
    ) -> Result<Resolved, Reported> {
        if self
            .services
            .iter()
            .any(|s| s.name == service.value && s.namespace == namespace.value)
        {
            return Ok(Resolved::Service(
                namespace.value.clone(),
                service.value.clone(),
            ));
        }
        let candidates: Vec<String> = self
            .services
            .iter()
            .map(|s| format!("{}/{}", s.namespace, s.name))
            .collect();
        let wanted = format!("{}/{}", namespace.value, service.value);
        let hint = names::suggestion(&wanted, candidates.iter().map(String::as_str));
        self.report.error_at(
            service,
            &format!("{path}.service"),
            format!("service {wanted} is not defined in spec.services{hint}"),
        );
        Err(Reported)
    }

    /// The scenario pods of `namespace` that `selector` matches; at least one.
    fn selected_pods(
        &mut self,
        namespace: &Spanned<String>,
        selector: &RawLabelSelector,
        path: &str,
    ) -> Result<Vec<Resolved>, Reported> {
        let selector: LabelSelector = self.selector(selector, &format!("{path}.pods.selector"))?;
        if !self.pods.iter().any(|p| p.namespace == namespace.value) {
            self.report.error_at(
                namespace,
                &format!("{path}.pods.namespace"),
                format!("namespace {} has no pod in this scenario", namespace.value),
            );
            return Err(Reported);
        }
        let matched: Vec<Resolved> = self
            .pods
            .iter()
            .filter(|p| p.namespace == namespace.value && selector.matches(&p.labels))
            .map(|p| Resolved::Pod(p.pod_ref()))
            .collect();
        if matched.is_empty() {
            self.report.error(
                &format!("{path}.pods.selector"),
                format!(
                    "selector {selector} matches no pod of namespace {}",
                    namespace.value
                ),
            );
            return Err(Reported);
        }
        Ok(matched)
    }
}
