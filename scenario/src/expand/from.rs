//! Probe sources: a scenario pod, or a mimic (`from: {like: ...}`), a probe pod the run creates
//! in a namespace the scenario does not create, with the identity of a deployed workload; and
//! the deployed pods both mimics and live targets name (`workload`, `pods`).

use netverdict_engine::LabelSelector;
use serde_saphyr::Spanned;

use super::entry::{Expander, Reported};
use crate::model::{LiveSelection, Mimic, PodRef, PodSpec, Written};
use crate::names;
use crate::policy::RawLabelSelector;
use crate::raw::{RawLike, RawPlacement, RawSource, RawWorkload};

/// Mimic pods are named `nv-like-<workload>`, then a suffix of the run (`-7f3a`).
pub const MIMIC_PREFIX: &str = "nv-like-";

/// The longest base name of a mimic, which the run suffixes (`-` and 4 characters) within the
/// 63 characters of a pod's host name.
const MIMIC_BASE_MAX: usize = 58;

/// A probe's source, resolved: the pod it runs in, and for a mimic how the scenario names it.
#[derive(Clone, Debug)]
pub(super) struct Source {
    pub(super) pod: PodRef,
    /// A mimic's label ([`Mimic::label`]), and how probe names call it.
    pub(super) like: Option<(String, String)>,
}

impl Source {
    /// The row label of a truth table, and the `from` of `plan`: `ns/pod`, or
    /// `like:deployment:shop/web`.
    pub(super) fn label(&self) -> String {
        self.like
            .as_ref()
            .map_or_else(|| self.pod.to_string(), |(label, _)| label.clone())
    }

    /// How a generated probe name starts: `ns/pod`, or `like deployment shop/web`.
    pub(super) fn display(&self) -> String {
        self.like
            .as_ref()
            .map_or_else(|| self.pod.to_string(), |(_, display)| display.clone())
    }
}

impl Expander<'_, '_> {
    /// The source `from` (at `path`) names.
    pub(super) fn source(&mut self, from: &Spanned<RawSource>, path: &str) -> Option<Source> {
        match &from.value {
            RawSource::Pod(s) => {
                let spanned = Spanned::new(s.clone(), from.referenced, from.defined);
                let pod = self.report.pod_ref(self.pods, &spanned, path)?;
                Some(Source { pod, like: None })
            }
            RawSource::Like { like, placement } => {
                let of = self.live_selection(like, &format!("{path}.like")).ok()?;
                let placement = match placement {
                    Some(p) => Some(self.placement(p, &format!("{path}.placement"))?),
                    None => None,
                };
                let written = self.written(&format!("{path}.like"));
                let mimic = Mimic {
                    of,
                    placement,
                    written,
                    copied: None,
                };
                Some(self.add_mimic(mimic))
            }
        }
    }

    /// The mimic pod of `mimic`: one per distinct copy and placement in the scenario.
    fn add_mimic(&mut self, mimic: Mimic) -> Source {
        let label = mimic.label();
        let display = mimic_display(&mimic);
        let like = Some((label.clone(), display));
        if let Some(pod) = self
            .mimics
            .iter()
            .find(|p| p.mimic.as_ref().is_some_and(|m| m.label() == label))
        {
            return Source {
                pod: pod.pod_ref(),
                like,
            };
        }
        let namespace = mimic.of.namespace().to_owned();
        let base = mimic_base(&mimic.of);
        let taken = |name: &str| {
            self.mimics
                .iter()
                .any(|p| p.namespace == namespace && p.name == name)
        };
        let mut name = base.clone();
        let mut n = 1;
        while taken(&name) {
            n += 1;
            let number = format!("-{n}");
            let cut = base.len().min(MIMIC_BASE_MAX - number.len());
            name = format!("{}{number}", base[..cut].trim_end_matches('-'));
        }
        let location = mimic.written.location.clone();
        let pod = PodSpec {
            namespace,
            name,
            labels: Default::default(),
            ports: Vec::new(),
            node: None,
            location,
            mimic: Some(mimic),
        };
        let source = Source {
            pod: pod.pod_ref(),
            like,
        };
        self.mimics.push(pod);
        source
    }

    /// `placement` (at `path`): exactly one of `node`, `sameNodeAs`, `otherNodeThan`.
    fn placement(&mut self, raw: &RawPlacement, path: &str) -> Option<crate::model::Placement> {
        use crate::model::Placement;
        match (&raw.node, &raw.same_node_as, &raw.other_node_than) {
            (Some(node), None, None) => match names::dns1123_subdomain(&node.value) {
                Ok(()) => Some(Placement::Node(node.value.clone())),
                Err(e) => {
                    self.report.error_at(
                        node,
                        &format!("{path}.node"),
                        format!("{e} (a node name)"),
                    );
                    None
                }
            },
            (None, Some(like), None) => self
                .live_selection(like, &format!("{path}.sameNodeAs"))
                .ok()
                .map(Placement::SameNodeAs),
            (None, None, Some(like)) => self
                .live_selection(like, &format!("{path}.otherNodeThan"))
                .ok()
                .map(Placement::OtherNodeThan),
            _ => {
                self.report.error(
                    path,
                    "a placement holds exactly one of `node`, `sameNodeAs` or `otherNodeThan`",
                );
                None
            }
        }
    }

    /// The deployed pods `like` (at `path`) names.
    pub(super) fn live_selection(
        &mut self,
        like: &RawLike,
        path: &str,
    ) -> Result<LiveSelection, Reported> {
        match like {
            RawLike::Workload(w) => self.workload(w, &format!("{path}.workload")),
            RawLike::Pods {
                namespace,
                selector,
            } => self.live_pods(namespace, selector, &format!("{path}.pods")),
        }
    }

    /// A workload `{namespace, kind, name}` at `path`.
    pub(super) fn workload(
        &mut self,
        w: &RawWorkload,
        path: &str,
    ) -> Result<LiveSelection, Reported> {
        let namespace_ok = self.live_namespace(&w.namespace, &format!("{path}.namespace"));
        let name_ok = match names::dns1123_subdomain(&w.name.value) {
            Ok(()) => true,
            Err(e) => {
                let message = format!("{e} (a {} name)", w.kind.value.resource());
                self.report
                    .error_at(&w.name, &format!("{path}.name"), message);
                false
            }
        };
        if !(namespace_ok && name_ok) {
            return Err(Reported);
        }
        Ok(LiveSelection::Workload {
            kind: w.kind.value,
            namespace: w.namespace.value.clone(),
            name: w.name.value.clone(),
        })
    }

    /// `{pods: {namespace, selector}}` at `path`, in a namespace the scenario does not create.
    pub(super) fn live_pods(
        &mut self,
        namespace: &Spanned<String>,
        selector: &RawLabelSelector,
        path: &str,
    ) -> Result<LiveSelection, Reported> {
        let namespace_ok = self.live_namespace(namespace, &format!("{path}.namespace"));
        let selector = self.selector(selector, &format!("{path}.selector"))?;
        if !namespace_ok {
            return Err(Reported);
        }
        Ok(LiveSelection::Pods {
            namespace: namespace.value.clone(),
            selector,
        })
    }

    /// A label selector as Kubernetes validates it.
    pub(super) fn selector(
        &mut self,
        selector: &RawLabelSelector,
        path: &str,
    ) -> Result<LabelSelector, Reported> {
        let k8s = selector.to_k8s().map_err(|_| Reported)?;
        LabelSelector::from_k8s(&k8s, path).map_err(|errors| {
            for e in errors {
                self.report.error(&e.path, e.message);
            }
            Reported
        })
    }

    /// A namespace of deployed workloads: a valid name that the scenario does not create.
    fn live_namespace(&mut self, namespace: &Spanned<String>, path: &str) -> bool {
        if let Err(e) = names::dns1123_label(&namespace.value) {
            self.report
                .error_at(namespace, path, format!("{e} (a namespace name)"));
            return false;
        }
        if self.namespaces.iter().any(|n| n.name == namespace.value) {
            let message = format!(
                "namespace {} is one of spec.namespaces, which the run creates: workloads and \
                 mimics are found in namespaces the scenario does not create (name a scenario \
                 pod here instead)",
                namespace.value
            );
            self.report.error_at(namespace, path, message);
            return false;
        }
        true
    }

    /// Where `path` is written, for errors found at run time.
    pub(super) fn written(&self, path: &str) -> Written {
        Written {
            location: self.report.doc.at(path),
            path: path.to_owned(),
        }
    }
}

/// `like deployment shop/web`, with the placement: how generated probe names call a mimic.
fn mimic_display(mimic: &Mimic) -> String {
    use crate::model::Placement;
    let placement = match &mimic.placement {
        None => String::new(),
        Some(Placement::Node(node)) => format!(" on node {node}"),
        Some(Placement::SameNodeAs(of)) => format!(" on the node of {of}"),
        Some(Placement::OtherNodeThan(of)) => format!(" off the nodes of {of}"),
    };
    format!("like {}{placement}", mimic.of)
}

/// `nv-like-<name>`: the workload's name, or the first value the selector matches on.
fn mimic_base(of: &LiveSelection) -> String {
    let hint = match of {
        LiveSelection::Workload { name, .. } => name.clone(),
        LiveSelection::Pods { selector, .. } => selector
            .match_labels
            .values()
            .next()
            .cloned()
            .unwrap_or_else(|| "pods".to_owned()),
    };
    let cleaned: String = hint
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut base = format!("{MIMIC_PREFIX}{}", cleaned.trim_matches('-'));
    base.truncate(MIMIC_BASE_MAX);
    base.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::WorkloadKind;

    #[test]
    fn a_mimic_is_named_after_what_it_copies_within_a_host_name() {
        let workload = |name: &str| LiveSelection::Workload {
            kind: WorkloadKind::Deployment,
            namespace: "shop".to_owned(),
            name: name.to_owned(),
        };
        assert_eq!(mimic_base(&workload("frontend")), "nv-like-frontend");
        assert_eq!(mimic_base(&workload("web.v2")), "nv-like-web-v2");
        let long = mimic_base(&workload(&"a".repeat(80)));
        assert_eq!(long.len(), MIMIC_BASE_MAX);
        let pods = LiveSelection::Pods {
            namespace: "shop".to_owned(),
            selector: LabelSelector {
                match_labels: [("app".to_owned(), "Web_1".to_owned())].into(),
                match_expressions: Vec::new(),
            },
        };
        assert_eq!(mimic_base(&pods), "nv-like-web-1");
    }
}
