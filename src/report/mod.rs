//! Reporters: they render a run's results and never drive the run.

pub(crate) mod bounded;
pub(crate) mod headline;
pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod junit;
pub(crate) mod matrix;
pub(crate) mod sarif;
pub(crate) mod summary;
pub(crate) mod terminal;

#[cfg(test)]
pub(crate) mod fixtures;
