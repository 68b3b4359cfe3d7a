//! The engine against the upstream e2e suite's model and truth tables, its unit rules, and its
//! properties.

mod model;
mod properties;
mod rules;
mod upstream;
