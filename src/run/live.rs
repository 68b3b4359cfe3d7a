//! The live stage of a run, before anything is created: what the scenarios' live targets and
//! mimics name is read from the cluster, and each scenario becomes the one the run executes
//! ([`crate::scenario::live::resolve`]). Anything that cannot be found stops the run, every
//! problem named where the scenario writes it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::cluster::{LiveQuery, LiveUse, ReadError, RunId, read_live};
use crate::k8s::Client;
use crate::results::{InputProblem, ProblemKind, SourceLine};
use crate::scenario::live::{LiveError, LiveState, resolve};
use crate::scenario::{LiveSelection, Placement, Scenario, Target};

/// Why the live stage stopped the run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LiveStageError {
    #[error("{0} (nothing was created)")]
    Read(#[from] ReadError),
    #[error("{}", unresolved(.0))]
    Unresolved(Vec<LiveError>),
}

fn unresolved(errors: &[LiveError]) -> String {
    let mut text = format!(
        "the scenarios name {} deployed object(s) the cluster cannot be probed at (nothing was created):",
        errors.len()
    );
    for error in errors {
        text.push_str(&format!("\n  {error}"));
    }
    text
}

impl LiveStageError {
    /// The problems located in the scenarios, for the reports.
    pub(crate) fn problems(&self) -> Vec<InputProblem> {
        let LiveStageError::Unresolved(errors) = self else {
            return Vec::new();
        };
        errors
            .iter()
            .map(|e| {
                let at = SourceLine::new(&e.written.location.file, e.written.location.line);
                InputProblem {
                    kind: ProblemKind::NotInCluster,
                    file: at.file,
                    line: at.line,
                    column: e.written.location.column,
                    path: e.written.path.clone(),
                    message: e.reason.to_string(),
                }
            })
            .collect()
    }
}

/// The scenarios the run executes, and the ClusterIPs of the deployed Services they probe.
pub(crate) struct LiveRun {
    pub(crate) scenarios: Vec<Scenario>,
    pub(crate) services: BTreeMap<(String, String), IpAddr>,
}

/// Reads what the scenarios' live parts name and resolves them; scenarios without any pass
/// unchanged (and nothing is read for them).
///
/// # Errors
/// A read the API server refuses; a live part that cannot be probed (every one is named).
pub(crate) async fn live_stage(
    client: &Client,
    scenarios: Vec<Scenario>,
    run: &RunId,
) -> Result<LiveRun, LiveStageError> {
    let query = query(&scenarios);
    if query.namespaces.is_empty() {
        return Ok(LiveRun {
            scenarios,
            services: BTreeMap::new(),
        });
    }
    let state = read_live(client, &query).await?;
    resolve_all(scenarios, &state, run)
}

/// Every scenario resolved against `state`.
fn resolve_all(
    scenarios: Vec<Scenario>,
    state: &LiveState,
    run: &RunId,
) -> Result<LiveRun, LiveStageError> {
    let suffix = mimic_suffix(run);
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(scenarios.len());
    for scenario in scenarios {
        if !scenario.is_live() {
            out.push(scenario);
            continue;
        }
        match resolve(&scenario, state, &suffix) {
            Ok(resolved) => out.push(resolved),
            Err(found) => errors.extend(found),
        }
    }
    if !errors.is_empty() {
        return Err(LiveStageError::Unresolved(errors));
    }
    let services = state
        .services
        .iter()
        .filter_map(|s| Some(((s.namespace.clone(), s.name.clone()), s.cluster_ip?)))
        .collect();
    Ok(LiveRun {
        scenarios: out,
        services,
    })
}

/// What the scenarios' mimics and live targets name: their namespaces, workloads and Services.
pub(crate) fn query(scenarios: &[Scenario]) -> LiveQuery {
    let mut query = LiveQuery::default();
    let add = |selection: &LiveSelection, query: &mut LiveQuery| {
        query.namespaces.insert(selection.namespace().to_owned());
        if let LiveSelection::Workload {
            kind,
            namespace,
            name,
        } = selection
        {
            query
                .workloads
                .insert((*kind, namespace.clone(), name.clone()));
        }
    };
    for scenario in scenarios {
        for mimic in scenario.pods.iter().filter_map(|p| p.mimic.as_ref()) {
            add(&mimic.of, &mut query);
            match &mimic.placement {
                Some(Placement::SameNodeAs(of) | Placement::OtherNodeThan(of)) => {
                    add(of, &mut query);
                }
                Some(Placement::Node(_)) | None => {}
            }
        }
        for probe in &scenario.probes {
            match &probe.target {
                Target::Live(live) => add(&live.selection, &mut query),
                Target::LiveService {
                    namespace, name, ..
                } => {
                    query.namespaces.insert(namespace.clone());
                    query.services.insert((namespace.clone(), name.clone()));
                }
                _ => {}
            }
        }
    }
    query
}

/// What the scenarios do in each namespace they do not create, for the permissions a run needs.
pub(crate) fn live_uses(scenarios: &[Scenario]) -> BTreeMap<String, LiveUse> {
    let mut uses: BTreeMap<String, LiveUse> = BTreeMap::new();
    let query = query(scenarios);
    for namespace in &query.namespaces {
        uses.entry(namespace.clone()).or_default();
    }
    for (kind, namespace, _) in &query.workloads {
        uses.entry(namespace.clone())
            .or_default()
            .kinds
            .insert(*kind);
    }
    for (namespace, _) in &query.services {
        uses.entry(namespace.clone()).or_default().services = true;
    }
    for pod in scenarios.iter().flat_map(|s| &s.pods) {
        if pod.mimic.is_some() {
            uses.entry(pod.namespace.clone()).or_default().mimics = true;
        }
    }
    uses
}

/// The 4 characters that end a run's mimic names: from the run id, so they are the same for
/// every mimic of a run and differ between runs.
pub(crate) fn mimic_suffix(run: &RunId) -> String {
    // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in run.as_str().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{:04x}", hash & 0xffff)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::WorkloadKind;

    #[test]
    fn the_query_names_what_live_parts_read_and_nothing_else() {
        let text = "apiVersion: netverdict.io/v1alpha1
kind: Scenario
metadata: {name: q}
spec:
  namespaces: [{name: t}]
  pods: [{name: c, namespace: t, ports: [{port: 80}]}]
  probes:
    - {from: {like: {workload: {namespace: shop, kind: Deployment, name: web}}, placement: {otherNodeThan: {workload: {namespace: db, kind: StatefulSet, name: pg}}}}, to: t/c, port: 80, expect: deny}
    - {from: t/c, to: {service: api, namespace: shop}, port: 80}
    - {from: t/c, to: {pods: {namespace: cache, selector: {}}}, port: 6379}
    - {from: t/c, to: t/c, port: 80}
";
        let loaded = crate::scenario::load_str(Path::new("q.yaml"), text, &Default::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        let query = query(&loaded.scenarios);
        assert_eq!(
            query.namespaces.iter().collect::<Vec<_>>(),
            ["cache", "db", "shop"]
        );
        assert_eq!(
            query.workloads.iter().cloned().collect::<Vec<_>>(),
            [
                (
                    WorkloadKind::Deployment,
                    "shop".to_owned(),
                    "web".to_owned()
                ),
                (WorkloadKind::StatefulSet, "db".to_owned(), "pg".to_owned()),
            ]
        );
        assert_eq!(
            query.services.iter().cloned().collect::<Vec<_>>(),
            [("shop".to_owned(), "api".to_owned())]
        );
    }

    #[test]
    fn mimic_names_end_with_the_same_suffix_for_a_run_and_another_for_the_next() {
        let a = mimic_suffix(&RunId::parse("3f2a9c01").unwrap());
        assert_eq!(a, mimic_suffix(&RunId::parse("3f2a9c01").unwrap()));
        assert_ne!(a, mimic_suffix(&RunId::parse("3f2a9c02").unwrap()));
        assert_eq!(a.len(), 4);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
}
