//! The options of `run` that say how a cluster gets the probe pods: the image, how to pull it,
//! and which nodes may run them (real clusters have private registries, dedicated nodes and
//! taints).

use std::collections::BTreeMap;

use crate::cluster::ProbePodOptions;
use crate::k8s::Toleration;

/// The probe image: netverdict with curl, nc and nslookup (see the Dockerfile and ci/image.sh).
pub const DEFAULT_PROBE_IMAGE: &str =
    concat!("ghcr.io/netverdict/netverdict:", env!("CARGO_PKG_VERSION"));

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

#[derive(Clone, Debug, clap::Args)]
pub struct ProbePodArgs {
    /// The image of the probe pods.
    #[arg(long, value_name = "IMAGE", default_value = DEFAULT_PROBE_IMAGE)]
    pub probe_image: String,
    /// When the nodes pull the probe image.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = PullPolicy::IfNotPresent)]
    pub image_pull_policy: PullPolicy,
    /// A Secret (in each scenario namespace) to pull the probe image with; repeatable.
    #[arg(long = "image-pull-secret", value_name = "NAME")]
    pub image_pull_secrets: Vec<String>,
    /// Run probe pods only on nodes with this label, KEY=VALUE; repeatable.
    #[arg(long = "node-selector", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub node_selector: Vec<(String, String)>,
    /// Let probe pods run on nodes with this taint: KEY, KEY=VALUE, KEY:EFFECT or
    /// KEY=VALUE:EFFECT (EFFECT NoSchedule, PreferNoSchedule or NoExecute; none: all), or `*`
    /// for every taint; repeatable.
    #[arg(long = "toleration", value_name = "TAINT", value_parser = parse_toleration)]
    pub tolerations: Vec<Toleration>,
}

impl ProbePodArgs {
    pub(crate) fn options(&self) -> ProbePodOptions {
        ProbePodOptions {
            image: self.probe_image.clone(),
            pull_policy: self.image_pull_policy.as_str().to_owned(),
            pull_secrets: self.image_pull_secrets.clone(),
            node_selector: self
                .node_selector
                .iter()
                .cloned()
                .collect::<BTreeMap<_, _>>(),
            tolerations: self.tolerations.clone(),
        }
    }
}

/// A `--node-selector` or `--toleration` value that is wrong, as clap shows it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PlacementError {
    #[error("\"{0}\" is not KEY=VALUE")]
    NotKeyValue(String),
    #[error("\"{text}\": the effect \"{effect}\" is not one of {}", EFFECTS.join(", "))]
    UnknownEffect { text: String, effect: String },
    #[error("\"{0}\" names no taint key (use `*` to tolerate every taint)")]
    NoTaintKey(String),
}

fn parse_label(text: &str) -> Result<(String, String), PlacementError> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(PlacementError::NotKeyValue(text.to_owned())),
    }
}

const EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

fn parse_toleration(text: &str) -> Result<Toleration, PlacementError> {
    if text == "*" {
        return Ok(Toleration {
            operator: Some("Exists".to_owned()),
            ..Toleration::default()
        });
    }
    let (taint, effect) = match text.rsplit_once(':') {
        Some((taint, effect)) => (taint, Some(effect)),
        None => (text, None),
    };
    if let Some(effect) = effect.filter(|e| !EFFECTS.contains(e)) {
        return Err(PlacementError::UnknownEffect {
            text: text.to_owned(),
            effect: effect.to_owned(),
        });
    }
    let (key, value) = match taint.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (taint, None),
    };
    if key.is_empty() {
        return Err(PlacementError::NoTaintKey(text.to_owned()));
    }
    Ok(Toleration {
        key: Some(key.to_owned()),
        operator: Some(if value.is_some() { "Equal" } else { "Exists" }.to_owned()),
        value: value.map(str::to_owned),
        effect: effect.map(str::to_owned),
        toleration_seconds: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerations_parse_like_kubectl_taints() {
        let t = parse_toleration("dedicated=db:NoSchedule").unwrap();
        assert_eq!(
            (
                t.key.as_deref(),
                t.operator.as_deref(),
                t.value.as_deref(),
                t.effect.as_deref()
            ),
            (
                Some("dedicated"),
                Some("Equal"),
                Some("db"),
                Some("NoSchedule")
            )
        );
        let t = parse_toleration("node-role.kubernetes.io/control-plane:NoSchedule").unwrap();
        assert_eq!(t.operator.as_deref(), Some("Exists"));
        assert_eq!(
            t.key.as_deref(),
            Some("node-role.kubernetes.io/control-plane")
        );
        let t = parse_toleration("gpu").unwrap();
        assert_eq!((t.operator.as_deref(), t.effect), (Some("Exists"), None));
        let t = parse_toleration("*").unwrap();
        assert_eq!((t.key, t.operator.as_deref()), (None, Some("Exists")));
        assert_eq!(
            parse_toleration("a:Sometimes").unwrap_err().to_string(),
            "\"a:Sometimes\": the effect \"Sometimes\" is not one of NoSchedule, PreferNoSchedule, NoExecute"
        );
        assert_eq!(
            parse_toleration("=x:NoSchedule").unwrap_err().to_string(),
            "\"=x:NoSchedule\" names no taint key (use `*` to tolerate every taint)"
        );
    }

    #[test]
    fn node_selectors_are_key_value_pairs() {
        assert_eq!(
            parse_label("disktype=ssd").unwrap(),
            ("disktype".to_owned(), "ssd".to_owned())
        );
        assert_eq!(parse_label("empty=").unwrap().1, "");
        assert_eq!(
            parse_label("disktype").unwrap_err().to_string(),
            "\"disktype\" is not KEY=VALUE"
        );
        assert!(parse_label("=ssd").is_err());
    }
}
