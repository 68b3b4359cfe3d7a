//! The scenario language (`netverdict.io/v1alpha1`, kind `Scenario`): parsing, validation,
//! expansion into concrete probes, `expect: auto` and lints.
//!
//! [`plan`] renders the expanded probes and [`explain`] one connection, as the CLI prints them.
//!
//! Pure: no cluster client, no async runtime, and no I/O beyond reading the scenario and policy
//! files it is asked to load.

mod checks;
mod document;
mod expand;
pub mod expect;
pub mod explain;
pub mod lint;
pub mod live;
pub mod load;
pub mod model;
mod names;
pub mod plan;
pub mod policy;
pub mod raw;
mod reporter;
mod sink;
pub mod source;
#[cfg(test)]
mod tests;
mod validate;

pub use checks::{MAX_TIMEOUT, MIN_TIMEOUT};
pub use expand::MIMIC_PREFIX;
pub use expect::{Addresses, HostTable};
pub use load::{Loaded, load_paths, load_str};
pub use model::{
    Copied, Defaults, DenyMode, DnsAnswer, DnsCheck, ExpectSource, Expectation, HttpCheck, LivePod,
    LiveSelection, LiveTarget, Mimic, NamespaceSpec, Pick, Placement, PodRef, PodSpec, PolicySpec,
    Probe, Scenario, Scheme, ServedPort, ServicePort, ServiceSpec, Target, TargetPort, Verdict,
    Via, WorkloadKind, Written,
};
pub use source::{Diagnostic, Severity, SourceFile, SourceLocation};

/// The JSON Schema of the scenario format, generated from the types that parse it (draft-07, as
/// YAML language servers read it).
pub fn json_schema() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<raw::RawScenario>()
}
