//! `run --results-configmap NAME`: the run's reports kept in the cluster, for a Job's hook whose
//! logs and exit code are all a pipeline sees (see `crate::cluster::results`).

use crate::cluster::{ResultsTarget, RunId, store_results};
use crate::k8s::Client;
use crate::report::bounded::{self, CONFIG_MAP_LIMIT};
use crate::results::RunResult;
use crate::run::RunError;

/// The flags of the results ConfigMap, what was typed.
#[derive(Debug, clap::Args)]
pub struct ResultsArgs {
    /// Also store the run's reports in the cluster: a ConfigMap NAME-<run id> holding
    /// summary.json, results.json (the --json report) and junit.xml, within the 1 MiB a
    /// ConfigMap holds (when too big: the summary and the JUnit report truncated, failures
    /// first). Older ConfigMaps of NAME beyond --results-keep are deleted. Not with --local.
    #[arg(long, value_name = "NAME", value_parser = series_name, conflicts_with = "local")]
    pub results_configmap: Option<String>,
    /// The namespace of the results ConfigMaps (default: the kubeconfig context's namespace; in
    /// a pod, the pod's own).
    #[arg(long, value_name = "NAMESPACE", requires = "results_configmap")]
    pub results_namespace: Option<String>,
    /// How many results ConfigMaps of NAME to keep, the new one included (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 5, requires = "results_configmap",
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub results_keep: u16,
}

/// The results ConfigMap a run will write, before the namespace is known.
#[derive(Clone, Debug)]
pub(crate) struct ResultsPlan {
    pub(crate) series: String,
    pub(crate) namespace: Option<String>,
    pub(crate) keep: usize,
}

impl ResultsArgs {
    pub(crate) fn plan(&self) -> Option<ResultsPlan> {
        Some(ResultsPlan {
            series: self.results_configmap.clone()?,
            namespace: self.results_namespace.clone(),
            keep: usize::from(self.results_keep),
        })
    }
}

impl ResultsPlan {
    /// Where the ConfigMaps go with `client`: `--results-namespace`, else its default namespace.
    pub(crate) fn target(&self, client: &Client) -> ResultsTarget {
        ResultsTarget {
            series: self.series.clone(),
            namespace: self
                .namespace
                .clone()
                .unwrap_or_else(|| client.default_namespace().to_owned()),
            keep: self.keep,
        }
    }
}

/// Why a series name is refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "use 1 to 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
)]
pub(crate) struct InvalidSeries;

/// A name the series and its ConfigMaps can carry: a label value that is also the prefix of a
/// DNS subdomain (`NAME-<run id>`), at most 63 characters.
fn series_name(value: &str) -> Result<String, InvalidSeries> {
    let ok = (1..=63).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(InvalidSeries)
    }
}

/// Where a run's reports go, once connected.
pub(crate) struct ResultsSink {
    pub(crate) client: Client,
    pub(crate) target: ResultsTarget,
    pub(crate) run_id: RunId,
}

/// Stores `result` (whose exit code would be `exit_code`) and says so on stderr; a store that
/// fails becomes part of the run's error.
pub(crate) async fn keep(sink: &ResultsSink, result: &mut RunResult, exit_code: u8) {
    let reports = bounded::reports(result, exit_code, CONFIG_MAP_LIMIT);
    let truncated = reports.truncated.clone();
    let verdict = bounded::verdict_word(exit_code);
    match store_results(&sink.client, &sink.target, &sink.run_id, verdict, reports).await {
        Ok(stored) => {
            let namespace = &sink.target.namespace;
            eprintln!(
                "results: stored in ConfigMap {namespace}/{} ({})",
                stored.name,
                stored.keys.join(", ")
            );
            if let Some(note) = truncated {
                eprintln!("results: {note}");
            }
            if !stored.pruned.is_empty() {
                eprintln!(
                    "results: deleted the older {} of series {} (keeping {}): {}",
                    stored.pruned.len(),
                    sink.target.series,
                    sink.target.keep,
                    stored.pruned.join(", ")
                );
            }
            if let Some(problem) = stored.prune_problem {
                eprintln!("results: {problem}");
            }
        }
        Err(error) => result.error.push(RunError::Results(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_names_are_label_values_and_name_prefixes() {
        for good in ["suite", "post-sync.v2", "a"] {
            assert!(series_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Suite", "-a", "a-", "a_b", &"x".repeat(64)] {
            assert!(series_name(bad).is_err(), "{bad:?}");
        }
    }
}
