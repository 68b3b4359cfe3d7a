//! The labels that mark what a run created, and the run id they carry.

use std::collections::BTreeMap;
use std::fmt;

pub(crate) const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
pub(crate) const MANAGED_BY_VALUE: &str = "netverdict";
pub(crate) const RUN_KEY: &str = "netverdict.io/run";

/// Identifies one run; it is a label value, so two runs on one cluster never touch each other's
/// objects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RunId(String);

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid run id \"{0}\": use 1 to 40 lowercase letters, digits and '-', starting and ending with a letter or digit"
)]
pub(crate) struct InvalidRunId(String);

impl RunId {
    pub(crate) fn parse(value: &str) -> Result<RunId, InvalidRunId> {
        let ok = (1..=40).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !value.starts_with('-')
            && !value.ends_with('-');
        if ok {
            Ok(RunId(value.to_owned()))
        } else {
            Err(InvalidRunId(value.to_owned()))
        }
    }

    /// A fresh random id of 8 hexadecimal digits.
    pub(crate) fn generate() -> RunId {
        RunId(format!("{:08x}", rand::random::<u32>()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The labels every object of this run carries.
    pub(crate) fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED_BY_KEY.to_owned(), MANAGED_BY_VALUE.to_owned()),
            (RUN_KEY.to_owned(), self.0.clone()),
        ])
    }

    /// Adds the run's labels to an object's: `netverdict.io/run` always, and
    /// `app.kubernetes.io/managed-by` unless the object has its own (a mimic keeps the value of
    /// the workload it copies, which policies may select on).
    pub(crate) fn label(&self, labels: &mut BTreeMap<String, String>) {
        labels.insert(RUN_KEY.to_owned(), self.0.clone());
        labels
            .entry(MANAGED_BY_KEY.to_owned())
            .or_insert_with(|| MANAGED_BY_VALUE.to_owned());
    }

    /// Selects the objects of this run: `netverdict.io/run` is the label every one carries.
    pub(crate) fn selector(&self) -> String {
        format!("{RUN_KEY}={}", self.0)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Selects the objects of every run.
pub(crate) fn all_runs_selector() -> String {
    RUN_KEY.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_label_values() {
        assert!(RunId::parse("a1b2c3d4").is_ok());
        assert!(RunId::parse("nightly-7").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", "a/b", &"x".repeat(41)] {
            assert!(RunId::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let generated = RunId::generate();
        assert_eq!(RunId::parse(generated.as_str()).unwrap(), generated);
    }

    #[test]
    fn the_run_label_selects_and_an_object_keeps_its_own_manager() {
        let id = RunId::parse("r1").unwrap();
        assert_eq!(id.selector(), "netverdict.io/run=r1");
        assert_eq!(all_runs_selector(), "netverdict.io/run");
        assert_eq!(id.labels().len(), 2);
        let mut plain = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        id.label(&mut plain);
        assert_eq!(
            plain.get(MANAGED_BY_KEY).map(String::as_str),
            Some("netverdict")
        );
        let mut helm = BTreeMap::from([(MANAGED_BY_KEY.to_owned(), "Helm".to_owned())]);
        id.label(&mut helm);
        assert_eq!(helm.get(MANAGED_BY_KEY).map(String::as_str), Some("Helm"));
        assert_eq!(helm.get(RUN_KEY).map(String::as_str), Some("r1"));
    }
}
