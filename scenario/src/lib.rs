//! The scenario language (`netverdict.io/v1alpha1`, kind `Scenario`): parsing, validation,
//! expansion into concrete probes, `expect: auto` and lints.
//!
//! Pure: no cluster client, no async runtime, and no I/O beyond reading the scenario and policy
//! files it is asked to load.

pub(crate) mod expand;
pub mod expect;
pub mod lint;
pub mod load;
pub mod model;
pub(crate) mod names;
pub mod policy;
pub mod raw;
pub mod source;
#[cfg(test)]
mod tests;
pub(crate) mod validate;

pub use load::{Loaded, load_paths, load_str};
pub use model::{
    Defaults, DenyMode, DnsCheck, ExpectSource, Expectation, HttpCheck, NamespaceSpec, PodRef,
    PodSpec, PolicySpec, Probe, Scenario, Scheme, ServedPort, ServicePort, ServiceSpec, Target,
    TargetPort, Verdict, Via,
};
pub use source::{Diagnostic, Severity, SourceFile, SourceLocation};

/// The JSON Schema of the scenario format, generated from the types that parse it (draft-07, as
/// YAML language servers read it).
pub fn json_schema() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<raw::RawScenario>()
}
