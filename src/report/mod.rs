//! Reporters: they render a run's results and never drive the run.

pub(crate) mod json;
pub(crate) mod junit;
pub(crate) mod terminal;
