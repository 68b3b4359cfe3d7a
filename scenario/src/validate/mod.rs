//! Validation of a raw scenario: names, references, labels, ports, services and policies (as the
//! API server would check them); its probes are expanded by [`Expander`](crate::expand::Expander).

mod pods;
mod policies;
mod scenario;
mod services;

pub(crate) use scenario::Validator;
