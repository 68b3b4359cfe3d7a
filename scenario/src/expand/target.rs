//! Probe targets resolved against the scenario: a pod, the pods a selector matches, a service, a
//! host name, an address, or the cluster DNS.

use std::net::IpAddr;

use netverdict_engine::{LabelSelector, Quoted};
use serde_saphyr::Spanned;

use super::entry::{Expander, Reported};
use crate::model::PodRef;
use crate::names;
use crate::policy::RawLabelSelector;
use crate::raw::RawTarget;

/// A probe target resolved against the scenario, before port resolution.
#[derive(Clone)]
pub(super) enum Resolved {
    Pod(PodRef),
    /// `(namespace, name)` of a scenario service.
    Service(String, String),
    Host(String),
    Ip(IpAddr),
    ClusterDns,
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
                Ok(vec![Resolved::Pod(pod.ok_or(Reported)?)])
            }
            RawTarget::Service { service, namespace } => {
                Ok(vec![self.service(service, namespace, path)?])
            }
            RawTarget::Pods {
                namespace,
                selector,
            } => self.selected_pods(namespace, selector, path),
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
        let k8s = selector.to_k8s().map_err(|_| Reported)?;
        let selector = match LabelSelector::from_k8s(&k8s, &format!("{path}.pods.selector")) {
            Ok(s) => s,
            Err(errors) => {
                for e in errors {
                    self.report.error(&e.path, e.message);
                }
                return Err(Reported);
            }
        };
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
