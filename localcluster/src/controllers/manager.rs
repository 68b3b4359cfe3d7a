//! The controller manager's loop: after every change of the store (and at least once a
//! second, for what only time changes: minReadySeconds, progress deadlines), one pass of each
//! workload controller; the garbage collector passes after changes too, at most ten times a
//! second.
//!
//! Passes are level-triggered: each lists what it needs and takes every object one step
//! further; the writes of a pass change the store, so another pass follows until nothing
//! changes. A pass writes only what differs, so a settled cluster costs one comparison of
//! resourceVersions per tick.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{daemonset, deployment, gc, replicaset, statefulset};
use crate::cluster::Ctx;

/// How often the store's resourceVersion is looked at.
const TICK: Duration = Duration::from_millis(25);
/// A pass at least this often, even when nothing changed.
const RESYNC: Duration = Duration::from_secs(1);
/// The garbage collector reads every object's metadata: it passes at most this often.
const GC_EVERY: Duration = Duration::from_millis(100);

/// Runs the controllers until aborted.
pub(crate) async fn run(ctx: Arc<Ctx>) {
    let mut seen = None;
    let mut last = Instant::now();
    let mut collected: Option<(u64, Instant)> = None;
    loop {
        tokio::time::sleep(TICK).await;
        let now = ctx.store.resource_version();
        let collect = collected.is_none_or(|(rv, at)| {
            (rv != now && at.elapsed() >= GC_EVERY) || at.elapsed() >= RESYNC
        });
        if collect {
            collected = Some((now, Instant::now()));
            gc::reconcile(&ctx.store);
        }
        if seen == Some(now) && last.elapsed() < RESYNC {
            continue;
        }
        seen = Some(now);
        last = Instant::now();
        pass(&ctx);
    }
}

/// One pass of every workload controller.
fn pass(ctx: &Ctx) {
    deployment::reconcile(ctx);
    replicaset::reconcile(ctx);
    statefulset::reconcile(ctx);
    daemonset::reconcile(ctx);
}
