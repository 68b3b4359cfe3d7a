//! The explanation as `netverdict explain` prints it: the connection asked about and the
//! verdict, how the destination becomes the connections judged, then each of them side by side.
//! A pod, an address or the cluster DNS is its own connection; each connection of a Service or
//! a host gets a heading of its own.

use std::fmt;

use super::{Destination, Explanation, Hop};
use crate::expect::one_line;
use crate::model::protocol_str;

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenario {} ({})", self.scenario, self.location)?;
        let port_name = self
            .port_name
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        writeln!(
            f,
            "{} -> {}:{}/{}{port_name}: {}",
            self.from,
            self.to,
            self.port,
            protocol_str(self.protocol),
            verdict(self.allowed)
        )?;
        for line in &self.route {
            writeln!(f, "  {line}")?;
        }
        if self.allowed.is_none() {
            writeln!(f, "  its pods disagree: which one answers is chance")?;
        }
        let headed = matches!(self.to, Destination::Service { .. } | Destination::Host(_));
        for hop in &self.hops {
            if headed {
                writeln!(
                    f,
                    "{} -> {}:{}/{}: {}",
                    self.from,
                    hop.to,
                    hop.port,
                    protocol_str(hop.protocol),
                    verdict(Some(hop.decision.allowed))
                )?;
            }
            write_hop(f, hop)?;
        }
        Ok(())
    }
}

fn verdict(allowed: Option<bool>) -> &'static str {
    match allowed {
        Some(true) => "ALLOWED",
        Some(false) => "DENIED",
        None => "UNDECIDED",
    }
}

/// One judged connection: both sides, then the engine's summary.
fn write_hop(f: &mut fmt::Formatter<'_>, hop: &Hop) -> fmt::Result {
    if hop.decision.loopback {
        writeln!(
            f,
            "  a pod's traffic to itself is never blocked by NetworkPolicy"
        )?;
    }
    for side in &hop.sides {
        writeln!(f, "{}:", side.direction)?;
        if let Some(selection) = &side.selected_by {
            let list = if selection.policies.is_empty() {
                "none".to_string()
            } else {
                selection.policies.join(", ")
            };
            writeln!(f, "  policies selecting {}: {list}", selection.pod)?;
        }
        for line in &side.lines {
            writeln!(f, "{line}")?;
        }
    }
    writeln!(f, "summary: {}", one_line(&hop.decision))
}
