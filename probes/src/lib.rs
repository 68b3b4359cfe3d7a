//! The in-pod side of netverdict: the responder (serve), the batched probe agent, and outcome classification.
