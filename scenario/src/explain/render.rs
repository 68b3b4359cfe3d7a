//! The explanation as `netverdict explain` prints it.

use std::fmt;

use super::Explanation;
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
        let verdict = if self.decision.allowed {
            "ALLOWED"
        } else {
            "DENIED"
        };
        writeln!(
            f,
            "{} -> {}:{}/{}{port_name}: {verdict}",
            self.from,
            self.to,
            self.port,
            protocol_str(self.protocol)
        )?;
        if self.decision.loopback {
            writeln!(
                f,
                "  a pod's traffic to itself is never blocked by NetworkPolicy"
            )?;
        }
        for side in &self.sides {
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
        writeln!(f, "summary: {}", one_line(&self.decision))
    }
}
