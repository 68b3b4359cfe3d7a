//! Checks shared by validation and expansion: label keys and values, durations, port numbers,
//! pod references; each reports what is wrong and returns what is right.

use std::collections::BTreeMap;
use std::time::Duration;

use netverdict_engine::{Labels, Protocol, Quoted};
use serde_saphyr::Spanned;

use crate::model::{PodRef, PodSpec, protocol_str};
use crate::names;
use crate::reporter::Reporter;
use crate::source::{Segment, parse_path, render_path};

/// The shortest per-probe timeout accepted: below it a healthy connection across a busy node
/// may not make it.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);
/// The longest per-probe timeout accepted; a probe that needs longer is not a reachability probe.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

impl Reporter<'_, '_> {
    /// Checks that `name` (at `path`) is a DNS label, as Kubernetes names `what` objects.
    pub(crate) fn dns_label(&mut self, name: &Spanned<String>, path: &str, what: &str) {
        if let Err(e) = names::dns1123_label(&name.value) {
            self.error_at(name, path, format!("{e} (a {what} name)"));
        }
    }

    pub(crate) fn labels(&mut self, labels: &BTreeMap<String, String>, path: &str) -> Labels {
        for (key, value) in labels {
            let at = render_path(&[parse_path(path), vec![Segment::Key(key.clone())]].concat());
            if let Err(e) = names::label_key(key) {
                self.error_key(&at, format!("{e} (a label key)"));
            }
            if let Err(e) = names::label_value(value) {
                self.error(&at, format!("{e} (a label value)"));
            }
        }
        labels.clone()
    }

    /// Reports `what` `namespace/name` (at `name`, field `path`) as defined twice.
    pub(crate) fn defined_twice(
        &mut self,
        name: &Spanned<String>,
        path: &str,
        what: &str,
        namespace: &str,
    ) {
        let message = format!("{what} {namespace}/{} is defined twice", name.value);
        self.error_at(name, path, message);
    }

    /// Reports port `number`/`protocol` (at `path`) if it is among the ports `listed` already.
    pub(crate) fn unique_port(
        &mut self,
        mut listed: impl Iterator<Item = (u16, Protocol)>,
        number: u16,
        protocol: Protocol,
        path: &str,
    ) {
        if listed.any(|p| p == (number, protocol)) {
            let message = format!("port {number}/{} is listed twice", protocol_str(protocol));
            self.error(path, message);
        }
    }

    /// A probe timeout: a duration from [`MIN_TIMEOUT`] to [`MAX_TIMEOUT`].
    pub(crate) fn duration(&mut self, value: &Spanned<String>, path: &str) -> Option<Duration> {
        match humantime::parse_duration(value.value.trim()) {
            Ok(d) if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&d) => {
                self.error_at(
                    value,
                    path,
                    format!(
                        "a timeout of {} is out of range: use {} to {}",
                        value.value.trim(),
                        humantime::format_duration(MIN_TIMEOUT),
                        humantime::format_duration(MAX_TIMEOUT)
                    ),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error_at(
                    value,
                    path,
                    format!(
                        "{} is not a duration ({e}); write e.g. 2s, 500ms or 1m",
                        Quoted(&value.value)
                    ),
                );
                None
            }
        }
    }

    pub(crate) fn port_number(&mut self, port: &Spanned<u32>, path: &str) -> Option<u16> {
        match u16::try_from(port.value) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.error_at(
                    port,
                    path,
                    format!("port {} is out of range: use 1 to 65535", port.value),
                );
                None
            }
        }
    }

    pub(crate) fn pod_ref(
        &mut self,
        pods: &[PodSpec],
        value: &Spanned<String>,
        path: &str,
    ) -> Option<PodRef> {
        let Some((ns, name)) = value.value.split_once('/') else {
            self.error_at(
                value,
                path,
                format!(
                    "{} is not a pod reference: write <namespace>/<pod>",
                    Quoted(&value.value)
                ),
            );
            return None;
        };
        let pod = PodRef::new(ns, name);
        if pods.iter().any(|p| p.namespace == ns && p.name == name) {
            return Some(pod);
        }
        let candidates: Vec<String> = pods.iter().map(|p| p.pod_ref().to_string()).collect();
        let hint = names::suggestion(&value.value, candidates.iter().map(String::as_str));
        self.error_at(
            value,
            path,
            format!("pod {} is not defined in this scenario{hint}", value.value),
        );
        None
    }
}
