//! The Cleanup phase of a run: what each scenario's cleanup and the run's last one could not
//! remove, gathered into one account, with the command that removes it later.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::config::RunConfig;
use super::error::RunError;
use super::interrupt::StopRequests;
use super::lifecycle::RunObserver;
use super::setup::Touched;
use crate::cluster::{Cleaned, CleanupProblem, NamespaceError, RunId, delete_run, wait_all_gone};
use crate::k8s::Client;
use crate::results::{CleanupReport, LeftObject, RunResult};

/// How the run reached its cluster, for the `netverdict cleanup` command it prints.
#[derive(Clone, Debug, Default)]
pub(crate) struct CleanupCommand {
    pub(crate) kubeconfig: Option<PathBuf>,
    pub(crate) context: Option<String>,
}

impl CleanupCommand {
    /// `netverdict cleanup --run-id ID [--namespace NS]... [--kubeconfig FILE] [--context NAME]`,
    /// quoted for a shell; `namespaces` are named when the run created none of them: the identity
    /// may then have a Role in each only, and no right to look for them across the cluster.
    pub(crate) fn for_run(&self, run: &RunId, namespaces: &[String]) -> String {
        let mut command = format!("netverdict cleanup --run-id {}", quoted(&run.to_string()));
        for namespace in namespaces {
            command.push_str(&format!(" --namespace {}", quoted(namespace)));
        }
        if let Some(path) = &self.kubeconfig {
            command.push_str(&format!(
                " --kubeconfig {}",
                quoted(&path.display().to_string())
            ));
        }
        if let Some(context) = &self.context {
            command.push_str(&format!(" --context {}", quoted(context)));
        }
        command
    }
}

/// `text` as one shell word.
fn quoted(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The Cleanup phase: with `--keep` tells the observer how to remove what the run left;
/// otherwise deletes what the run created in the namespaces it `touched` and those it created,
/// stopping at a stop request, and records in `result` what is left and why.
pub(super) async fn finish(
    client: &Client,
    config: &RunConfig,
    (touched, earlier): (Touched, Vec<CleanupProblem>),
    observer: &dyn RunObserver,
    stop: &dyn StopRequests,
    result: &mut RunResult,
) {
    let command = config
        .cleanup_command
        .for_run(&config.run_id, &touched.to_name());
    if config.keep {
        observer.left_in_place(&config.run_id, &command);
        return;
    }
    observer.cleaning_up(&config.run_id);
    let used: Vec<String> = touched.used.iter().cloned().collect();
    let owners: Vec<String> = touched.owners.iter().cloned().collect();
    let namespaces = (
        (used.as_slice(), owners.as_slice()),
        touched.created.as_slice(),
    );
    let (report, failed) = tokio::select! {
        (cleaned, failed) = clean_up(client, config, namespaces, earlier, observer) => {
            (left_behind(&cleaned, &config.run_id, &command), failed.map(RunError::WaitCleanup))
        }
        signal = stop.next() => (None, Some(RunError::CleanupAborted { signal, command })),
    };
    let left = report.clone().map(RunError::CleanupLeft);
    result.error.extend(left.into_iter().chain(failed));
    result.cleanup = report;
}

/// The run's last cleanup: deletes what it created in `used` (with the ConfigMaps owning its
/// mimics in the namespaces of its second part) and the namespaces in `created`,
/// adds what the scenarios' cleanups could not remove (`earlier`) and, with `wait_cleanup`,
/// waits until the deleted namespaces are gone. The second value says why that wait failed.
async fn clean_up(
    client: &Client,
    config: &RunConfig,
    (used, created): ((&[String], &[String]), &[String]),
    earlier: Vec<CleanupProblem>,
    observer: &dyn RunObserver,
) -> (Cleaned, Option<NamespaceError>) {
    let limits = config.limits.cleanup;
    let mut cleaned = delete_run(client, &config.run_id, used, created, limits).await;
    cleaned.add_earlier(earlier);
    observer.cleaned(&cleaned);
    if !config.wait_cleanup {
        return (cleaned, None);
    }
    // A namespace left in place for others' objects is not waited for.
    let deleted: Vec<String> = created
        .iter()
        .filter(|name| !cleaned.kept.iter().any(|kept| &kept.namespace == *name))
        .cloned()
        .collect();
    match wait_all_gone(client, &deleted, config.limits.namespace_wait).await {
        Ok(waited) => {
            observer.namespaces_gone(deleted.len(), waited);
            (cleaned, None)
        }
        Err(error) => (cleaned, Some(error)),
    }
}

/// What the cleanup could not remove, for the reports; `None` when it removed everything.
pub(crate) fn left_behind(cleaned: &Cleaned, run: &RunId, command: &str) -> Option<CleanupReport> {
    if cleaned.failed.is_empty() {
        return None;
    }
    let left = cleaned
        .failed
        .iter()
        .filter_map(|problem| {
            let object = problem.object()?;
            Some(LeftObject {
                kind: object.kind.word().to_owned(),
                namespace: object.namespace.clone(),
                name: object.name.clone(),
                reason: problem.to_string(),
                missing_permission: problem.missing().map(str::to_owned),
            })
        })
        .collect();
    let missing: BTreeSet<String> = cleaned
        .failed
        .iter()
        .filter_map(|p| p.missing().map(str::to_owned))
        .collect();
    Some(CleanupReport {
        run_id: run.to_string(),
        left,
        problems: cleaned.failed.iter().map(ToString::to_string).collect(),
        missing_permissions: missing.into_iter().collect(),
        command: command.to_owned(),
    })
}

impl CleanupReport {
    /// The run error: every problem on its own line, then how to remove what is left.
    pub(crate) fn message(&self) -> String {
        let mut text = format!(
            "cleanup of run {} failed: {} object(s) left behind",
            self.run_id,
            self.left.len()
        );
        for problem in &self.problems {
            text.push_str(&format!("\n  {problem}"));
        }
        text.push_str(&format!("\nremove what is left with `{}`", self.command));
        if !self.missing_permissions.is_empty() {
            text.push_str(&format!(
                " as an identity allowed to: {}",
                self.missing_permissions.join(", ")
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cluster::{Failure, Kind, Object, RequestProblem};

    fn forbidden(kind: Kind, name: &str) -> CleanupProblem {
        CleanupProblem::Left {
            object: Object {
                kind,
                namespace: Some("ddi".to_owned()),
                name: name.to_owned(),
            },
            why: RequestProblem::Failed {
                failure: Failure::status(&crate::k8s::KubeStatus {
                    code: 403,
                    reason: "Forbidden".to_owned(),
                    message: format!("{} \"{name}\" is forbidden", kind.resource()),
                    ..Default::default()
                }),
                missing: Some(format!("delete {} in namespace ddi", kind.resource())),
            },
        }
    }

    #[test]
    fn what_is_left_is_named_with_its_missing_permission_and_the_command() {
        let run = RunId::parse("r1").unwrap();
        let mut cleaned = Cleaned::default();
        cleaned.failed = vec![
            forbidden(Kind::Pod, "client"),
            forbidden(Kind::Pod, "server"),
            CleanupProblem::StillTerminating {
                namespace: "ddi".to_owned(),
                count: 1,
                waited: Duration::from_secs(60),
            },
        ];
        let command = CleanupCommand {
            kubeconfig: Some(PathBuf::from("/tmp/my config")),
            context: Some("ci".to_owned()),
        }
        .for_run(&run, &[]);
        assert_eq!(
            command,
            "netverdict cleanup --run-id r1 --kubeconfig '/tmp/my config' --context ci"
        );
        let named = CleanupCommand::default().for_run(&run, &["ddi".to_owned(), "b".to_owned()]);
        assert_eq!(
            named,
            "netverdict cleanup --run-id r1 --namespace ddi --namespace b"
        );
        let report = left_behind(&cleaned, &run, &command).unwrap();
        assert_eq!(report.left.len(), 2);
        assert_eq!(
            report.left[0].missing_permission.as_deref(),
            Some("delete pods in namespace ddi")
        );
        assert_eq!(
            report.message(),
            "cleanup of run r1 failed: 2 object(s) left behind\n  \
             pod ddi/client left: deleting it failed: 403 Forbidden: pods \"client\" is forbidden (missing permission: delete pods in namespace ddi)\n  \
             pod ddi/server left: deleting it failed: 403 Forbidden: pods \"server\" is forbidden (missing permission: delete pods in namespace ddi)\n  \
             1 pod(s) of the run still terminating in ddi after 1m\n\
             remove what is left with `netverdict cleanup --run-id r1 --kubeconfig '/tmp/my config' --context ci` as an identity allowed to: delete pods in namespace ddi"
        );
        assert!(left_behind(&Cleaned::default(), &run, &command).is_none());
    }
}
