//! A run's reports kept in the cluster (`--results-configmap NAME`), for those who see only
//! the cluster after a post-deploy Job is gone: one ConfigMap per run, `NAME-<run id>`, in the
//! results namespace, holding what [`crate::report::bounded`] fits into a ConfigMap; then the
//! oldest ConfigMaps of the series `NAME` beyond the newest `keep` are deleted.
//!
//! Its labels select the series, never a run's objects: `app.kubernetes.io/managed-by=netverdict`,
//! `app.kubernetes.io/component=results`, `netverdict.io/results=NAME` and
//! `netverdict.io/results-run=<run id>`, without the `netverdict.io/run` label cleanup selects,
//! so the run's cleanup and `netverdict cleanup` leave it.

use std::collections::BTreeMap;

use super::failure::Failure;
use super::labels::{MANAGED_BY_KEY, MANAGED_BY_VALUE, RunId};
use crate::k8s::{Api, Client, ConfigMap, DeleteParams, ListParams, ObjectMeta, PostParams};
use crate::report::bounded::Bounded;

/// The label naming a series of results ConfigMaps (`--results-configmap NAME`).
pub(crate) const SERIES_KEY: &str = "netverdict.io/results";
/// The label naming the run whose results a ConfigMap holds.
pub(crate) const RESULTS_RUN_KEY: &str = "netverdict.io/results-run";
const COMPONENT_KEY: &str = "app.kubernetes.io/component";
/// When the reports were stored (RFC 3339 with nanoseconds): the series' order.
const STORED_AT_KEY: &str = "netverdict.io/stored-at";
const VERDICT_KEY: &str = "netverdict.io/verdict";
const TRUNCATED_KEY: &str = "netverdict.io/truncated";

/// Where the reports go.
#[derive(Clone, Debug)]
pub(crate) struct ResultsTarget {
    /// The series, a label value and the ConfigMaps' name prefix.
    pub(crate) series: String,
    pub(crate) namespace: String,
    /// How many ConfigMaps of the series stay, the new one included.
    pub(crate) keep: usize,
}

/// What was stored, and what went.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) name: String,
    pub(crate) keys: Vec<String>,
    pub(crate) pruned: Vec<String>,
    /// A ConfigMap of the series that could not be deleted (the new one is stored).
    pub(crate) prune_problem: Option<String>,
}

/// Why the reports could not be stored.
#[derive(Debug, thiserror::Error)]
#[error("cannot store the results in ConfigMap {namespace}/{name}: {failure}")]
pub(crate) struct StoreError {
    namespace: String,
    name: String,
    failure: Failure,
}

/// The ConfigMap's name for `run`: `SERIES-<run id>`.
pub(crate) fn config_map_name(series: &str, run: &RunId) -> String {
    format!("{series}-{run}")
}

/// Stores `reports` for `run` with its `verdict` and prunes the series.
///
/// # Errors
/// The ConfigMap cannot be created (a 403, one of that name exists, no answer); the pruning's
/// problems are in [`Stored::prune_problem`].
pub(crate) async fn store(
    client: &Client,
    target: &ResultsTarget,
    run: &RunId,
    verdict: &str,
    reports: Bounded,
) -> Result<Stored, StoreError> {
    let name = config_map_name(&target.series, run);
    let api = Api::<ConfigMap>::namespaced(client.clone(), &target.namespace);
    let mut annotations = BTreeMap::from([
        (STORED_AT_KEY.to_owned(), stored_at()),
        (VERDICT_KEY.to_owned(), verdict.to_owned()),
    ]);
    if let Some(note) = &reports.truncated {
        annotations.insert(TRUNCATED_KEY.to_owned(), note.clone());
    }
    let keys: Vec<String> = reports.data.keys().cloned().collect();
    let object = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(labels(&target.series, run)),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        data: Some(reports.data),
        ..ConfigMap::default()
    };
    api.create(&PostParams::default(), &object)
        .await
        .map_err(|error| StoreError {
            namespace: target.namespace.clone(),
            name: name.clone(),
            failure: Failure::of(&error),
        })?;
    let (pruned, prune_problem) = prune(&api, target).await;
    Ok(Stored {
        name,
        keys,
        pruned,
        prune_problem,
    })
}

fn labels(series: &str, run: &RunId) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_KEY.to_owned(), MANAGED_BY_VALUE.to_owned()),
        (COMPONENT_KEY.to_owned(), "results".to_owned()),
        (SERIES_KEY.to_owned(), series.to_owned()),
        (RESULTS_RUN_KEY.to_owned(), run.to_string()),
    ])
}

/// Now, in RFC 3339 with nanoseconds (so that runs within a second keep their order).
fn stored_at() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = i64::try_from(now.as_secs()).unwrap_or_default();
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        now.subsec_nanos()
    )
}

/// The date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The names of a series' ConfigMaps to delete so that the newest `keep` stay, oldest first.
fn beyond(mut series: Vec<ConfigMap>, keep: usize) -> Vec<String> {
    let order = |c: &ConfigMap| {
        let meta = &c.metadata;
        (
            meta.annotations
                .as_ref()
                .and_then(|a| a.get(STORED_AT_KEY))
                .cloned()
                .unwrap_or_default(),
            meta.creation_timestamp.as_ref().map(|t| t.0),
            meta.name.clone().unwrap_or_default(),
        )
    };
    series.sort_by_key(order);
    let extra = series.len().saturating_sub(keep);
    series
        .into_iter()
        .take(extra)
        .filter_map(|c| c.metadata.name)
        .collect()
}

async fn prune(api: &Api<ConfigMap>, target: &ResultsTarget) -> (Vec<String>, Option<String>) {
    let selector = format!(
        "{MANAGED_BY_KEY}={MANAGED_BY_VALUE},{SERIES_KEY}={}",
        target.series
    );
    let listed = match api.list(&ListParams::default().labels(&selector)).await {
        Ok(list) => list.items,
        Err(error) => {
            let problem = format!(
                "cannot list the series {}: {}",
                target.series,
                Failure::of(&error)
            );
            return (Vec::new(), Some(problem));
        }
    };
    let mut pruned = Vec::new();
    for name in beyond(listed, target.keep) {
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => pruned.push(name),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                let problem = format!("cannot delete ConfigMap {name}: {}", Failure::of(&error));
                return (pruned, Some(problem));
            }
        }
    }
    (pruned, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netverdict_apiserver::{Resource, Store};

    fn stored(name: &str, at: &str) -> ConfigMap {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name,
            "annotations": {STORED_AT_KEY: at}}}))
        .unwrap()
    }

    #[test]
    fn the_oldest_of_a_series_go_first() {
        let series = vec![
            stored("s-c", "2025-01-02T00:00:00.000000003Z"),
            stored("s-a", "2025-01-02T00:00:00.000000001Z"),
            stored("s-b", "2025-01-02T00:00:00.000000002Z"),
        ];
        assert_eq!(beyond(series.clone(), 2), ["s-a"]);
        assert_eq!(beyond(series.clone(), 1), ["s-a", "s-b"]);
        assert!(beyond(series, 5).is_empty());
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_089), (2025, 1, 1));
        let now = stored_at();
        assert_eq!(now.len(), "2025-01-02T03:04:05.123456789Z".len(), "{now}");
    }

    #[tokio::test]
    async fn a_run_is_stored_labelled_and_the_series_pruned_to_keep() {
        let store = Store::new();
        store
            .create(
                Resource::Namespaces,
                None,
                serde_json::json!({"metadata": {"name": "nv"}}),
            )
            .unwrap();
        let (_server, client) = super::super::testing::serve(&store).await;
        let target = ResultsTarget {
            series: "suite".into(),
            namespace: "nv".into(),
            keep: 2,
        };
        let mut names = Vec::new();
        for run in ["r1", "r2", "r3"] {
            let reports = Bounded {
                data: BTreeMap::from([("summary.json".to_owned(), "{}".to_owned())]),
                truncated: None,
            };
            let run = RunId::parse(run).unwrap();
            let stored = store_run(&client, &target, &run, reports).await;
            names.push((stored.name, stored.pruned));
        }
        assert_eq!(
            names[2],
            ("suite-r3".to_owned(), vec!["suite-r1".to_owned()])
        );
        let (left, _) = store
            .list(Resource::ConfigMaps, Some("nv"), &Default::default())
            .unwrap();
        let left: Vec<&str> = left
            .iter()
            .filter_map(|c| c["metadata"]["name"].as_str())
            .collect();
        assert_eq!(left, ["suite-r2", "suite-r3"]);
        let kept = store
            .get(Resource::ConfigMaps, Some("nv"), "suite-r3")
            .unwrap();
        assert_eq!(kept["metadata"]["labels"][SERIES_KEY], "suite");
        assert_eq!(kept["metadata"]["labels"][RESULTS_RUN_KEY], "r3");
        assert!(kept["metadata"]["labels"]["netverdict.io/run"].is_null());
        assert_eq!(kept["metadata"]["annotations"][VERDICT_KEY], "passed");
    }

    async fn store_run(
        client: &Client,
        target: &ResultsTarget,
        run: &RunId,
        reports: Bounded,
    ) -> Stored {
        store(client, target, run, "passed", reports).await.unwrap()
    }
}
