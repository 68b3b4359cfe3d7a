//! The arithmetic of a Deployment's rollout (`deploymentutil`): maxSurge and maxUnavailable,
//! how far the new ReplicaSet may grow, how far the old ones may shrink, and how a scaled
//! Deployment spreads its new size over the ReplicaSets it has.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `intstr.GetScaledValueFromIntOrPercent`: a number, or a percentage of `total` rounded up or
/// down (anything else counts as 0; validation keeps it out).
pub(crate) fn scaled_value(value: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match value {
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(text)) => {
            let Some(percent) = text.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
                return 0;
            };
            let scaled = percent * i64::from(total);
            let value = if round_up {
                (scaled + 99).div_euclid(100)
            } else {
                scaled.div_euclid(100)
            };
            i32::try_from(value).unwrap_or(i32::MAX)
        }
        None => 0,
    }
}

/// A Deployment's numbers: desired replicas and, for a rolling update, how many pods may be
/// above (`max_surge`) and below (`max_unavailable`) them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Strategy {
    pub replicas: i32,
    pub rolling: bool,
    pub max_surge: i32,
    pub max_unavailable: i32,
}

impl Strategy {
    /// `ResolveFenceposts`, `MaxSurge` and `MaxUnavailable` of the Deployment.
    pub(crate) fn of(deployment: &Deployment) -> Strategy {
        let spec = deployment.spec.as_ref();
        let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
        let strategy = spec.and_then(|s| s.strategy.as_ref());
        let rolling = strategy
            .and_then(|s| s.type_.as_deref())
            .is_none_or(|t| t == "RollingUpdate");
        if !rolling {
            return Strategy {
                replicas,
                rolling,
                max_surge: 0,
                max_unavailable: 0,
            };
        }
        let update = strategy.and_then(|s| s.rolling_update.as_ref());
        let surge = scaled_value(update.and_then(|u| u.max_surge.as_ref()), replicas, true);
        let mut unavailable = scaled_value(
            update.and_then(|u| u.max_unavailable.as_ref()),
            replicas,
            false,
        );
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        Strategy {
            replicas,
            rolling,
            max_surge: surge,
            max_unavailable: if replicas == 0 {
                0
            } else {
                unavailable.min(replicas)
            },
        }
    }

    /// `MaxReplicasAnnotation`: how many pods the Deployment may have at most.
    pub(crate) fn max_replicas(&self) -> i32 {
        self.replicas + self.max_surge
    }
}

/// One ReplicaSet as the arithmetic sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rs {
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// Creation, for the orders (seconds, then the name).
    pub created: (i64, String),
    /// `deployment.kubernetes.io/max-replicas`.
    pub max_replicas: Option<i32>,
}

/// `NewRSNewReplicas`: the new ReplicaSet's size, as far as maxSurge lets it grow.
pub(crate) fn new_rs_replicas(strategy: &Strategy, all: &[Rs], new: &Rs) -> i32 {
    if !strategy.rolling {
        return strategy.replicas;
    }
    let current: i32 = all.iter().map(|rs| rs.replicas).sum();
    let max_total = strategy.max_replicas();
    if current >= max_total {
        return new.replicas;
    }
    let scale_up = (max_total - current).min(strategy.replicas - new.replicas);
    new.replicas + scale_up
}

/// `reconcileOldReplicaSets`: the old ReplicaSets' new sizes (in the order given), as far as
/// maxUnavailable lets them shrink: unhealthy replicas first, then available ones.
pub(crate) fn scale_down_old(strategy: &Strategy, old: &[Rs], new: &Rs) -> Vec<i32> {
    let mut sizes: Vec<i32> = old.iter().map(|rs| rs.replicas).collect();
    let old_count: i32 = sizes.iter().sum();
    if old_count == 0 {
        return sizes;
    }
    let all_count = old_count + new.replicas;
    let min_available = strategy.replicas - strategy.max_unavailable;
    let new_unavailable = new.replicas - new.available;
    let max_scaled_down = all_count - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return sizes;
    }
    let mut order: Vec<usize> = (0..old.len()).collect();
    order.sort_by(|a, b| old[*a].created.cmp(&old[*b].created));
    let mut cleaned = 0;
    for &i in &order {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = sizes[i] - old[i].available;
        if sizes[i] == 0 || unhealthy <= 0 {
            continue;
        }
        let n = (max_scaled_down - cleaned).min(unhealthy);
        sizes[i] -= n;
        cleaned += n;
    }
    let available: i32 = old.iter().map(|rs| rs.available).sum::<i32>() + new.available;
    if available <= min_available {
        return sizes;
    }
    let total = available - min_available;
    let mut scaled = 0;
    for &i in &order {
        if scaled >= total {
            break;
        }
        if sizes[i] == 0 {
            continue;
        }
        let n = sizes[i].min(total - scaled);
        sizes[i] -= n;
        scaled += n;
    }
    sizes
}

/// `math.Round` to an `int32`: half away from zero.
fn round(value: f64) -> i32 {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "replica counts are far inside the int32 range"
    )]
    let rounded = value.round() as i32;
    rounded
}

/// `getReplicaSetFraction`: what a ReplicaSet gets of a Deployment resized from the size its
/// max-replicas annotation records (or, without one, `status_replicas`).
fn fraction(strategy: &Strategy, rs: &Rs, status_replicas: i32) -> i32 {
    if strategy.replicas == 0 {
        return -rs.replicas;
    }
    let before = match rs.max_replicas {
        Some(n) if n > 0 => n,
        _ => status_replicas,
    };
    if before == 0 {
        return 0;
    }
    let size = f64::from(rs.replicas) * f64::from(strategy.max_replicas()) / f64::from(before);
    round(size) - rs.replicas
}

/// The `scale` of a rolling Deployment with several active ReplicaSets: the new sizes (in the
/// order given) spreading what is to be added or removed in proportion to each one's size,
/// the rest going to the largest.
pub(crate) fn proportional(strategy: &Strategy, active: &[Rs], status_replicas: i32) -> Vec<i32> {
    let total: i32 = active.iter().map(|rs| rs.replicas).sum();
    let allowed = if strategy.replicas > 0 {
        strategy.max_replicas()
    } else {
        0
    };
    let to_add = allowed - total;
    let mut sizes: Vec<i32> = active.iter().map(|rs| rs.replicas).collect();
    if to_add == 0 {
        return sizes;
    }
    let mut order: Vec<usize> = (0..active.len()).collect();
    order.sort_by(|a, b| {
        let (a, b) = (&active[*a], &active[*b]);
        b.replicas.cmp(&a.replicas).then_with(|| {
            if to_add > 0 {
                b.created.cmp(&a.created)
            } else {
                a.created.cmp(&b.created)
            }
        })
    });
    let mut added = 0;
    for &i in &order {
        let rs = &active[i];
        if rs.replicas == 0 || to_add == added {
            continue;
        }
        let share = fraction(strategy, rs, status_replicas);
        let left = to_add - added;
        let share = if to_add > 0 {
            share.min(left)
        } else {
            share.max(left)
        };
        sizes[i] += share;
        added += share;
    }
    if let Some(&first) = order.first() {
        sizes[first] = (sizes[first] + to_add - added).max(0);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rs(replicas: i32, available: i32, created: i64, max_replicas: Option<i32>) -> Rs {
        Rs {
            replicas,
            available,
            created: (created, format!("rs-{created}")),
            max_replicas,
        }
    }

    fn strategy(
        replicas: i32,
        surge: serde_json::Value,
        unavailable: serde_json::Value,
    ) -> Strategy {
        let d: Deployment = serde_json::from_value(json!({"spec": {"replicas": replicas,
            "selector": {}, "template": {},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}}))
        .unwrap();
        Strategy::of(&d)
    }

    #[test]
    fn percentages_round_surge_up_and_unavailability_down() {
        let s = strategy(10, json!("25%"), json!("25%"));
        assert_eq!((s.max_surge, s.max_unavailable), (3, 2));
        let s = strategy(3, json!("25%"), json!("25%"));
        assert_eq!((s.max_surge, s.max_unavailable), (1, 0));
        // Both zero: one pod may be unavailable, or nothing could ever move.
        let s = strategy(1, json!("10%"), json!("10%"));
        assert_eq!((s.max_surge, s.max_unavailable), (1, 0));
        let s = strategy(2, json!(0), json!(0));
        assert_eq!((s.max_surge, s.max_unavailable), (0, 1));
        let s = strategy(2, json!(0), json!(5));
        assert_eq!(s.max_unavailable, 2);
        let recreate: Deployment = serde_json::from_value(json!({"spec": {"replicas": 4, "selector": {}, "template": {}, "strategy": {"type": "Recreate"}}})).unwrap();
        assert!(!Strategy::of(&recreate).rolling);
    }

    #[test]
    fn the_new_replica_set_grows_within_max_surge() {
        // 3 replicas, 25%/25%: surge 1, unavailable 0.
        let s = strategy(3, json!("25%"), json!("25%"));
        let new = rs(0, 0, 2, None);
        let old = rs(3, 3, 1, None);
        assert_eq!(new_rs_replicas(&s, &[old.clone(), new.clone()], &new), 1);
        let grown = rs(1, 0, 2, None);
        assert_eq!(
            new_rs_replicas(&s, &[old.clone(), grown.clone()], &grown),
            1
        );
        // An old pod gone: room for one more.
        let shrunk = rs(2, 2, 1, None);
        assert_eq!(new_rs_replicas(&s, &[shrunk, grown.clone()], &grown), 2);
        // Never above the desired count.
        let full = rs(3, 3, 2, None);
        assert_eq!(new_rs_replicas(&s, std::slice::from_ref(&full), &full), 3);
    }

    #[test]
    fn old_replica_sets_shrink_within_max_unavailable() {
        let s = strategy(3, json!("25%"), json!("25%"));
        // The new pod is not available yet: nothing may go.
        assert_eq!(
            scale_down_old(&s, &[rs(3, 3, 1, None)], &rs(1, 0, 2, None)),
            [3]
        );
        // The new pod is available: one old pod may go.
        assert_eq!(
            scale_down_old(&s, &[rs(3, 3, 1, None)], &rs(1, 1, 2, None)),
            [2]
        );
        // Nothing is available to spare and the new pod is not up: stuck, as upstream.
        assert_eq!(
            scale_down_old(&s, &[rs(3, 1, 1, None)], &rs(1, 0, 2, None)),
            [3]
        );
        // Unhealthy old pods go first.
        let one_down = strategy(3, json!(1), json!(1));
        assert_eq!(
            scale_down_old(&one_down, &[rs(3, 1, 1, None)], &rs(1, 0, 2, None)),
            [2]
        );
        // The oldest ReplicaSet shrinks first.
        let s = strategy(4, json!(1), json!(1));
        assert_eq!(
            scale_down_old(
                &s,
                &[rs(2, 2, 5, None), rs(2, 2, 1, None)],
                &rs(1, 1, 9, None)
            ),
            [2, 0]
        );
    }

    #[test]
    fn a_scaled_deployment_spreads_its_new_size_in_proportion() {
        // 10 replicas (surge 3 -> 13 allowed) rolling from an old set of 8 to a new one of 5,
        // scaled to 20 (surge 5 -> 25 allowed): 12 more, split 8:5.
        let s = strategy(20, json!("25%"), json!("25%"));
        let sizes = proportional(&s, &[rs(8, 8, 1, Some(13)), rs(5, 0, 2, Some(13))], 13);
        assert_eq!(sizes, [15, 10]);
        assert_eq!(sizes.iter().sum::<i32>(), 25);
        // Scaled down to 0: everything goes.
        let zero = strategy(0, json!("25%"), json!("25%"));
        assert_eq!(
            proportional(&zero, &[rs(8, 8, 1, Some(13)), rs(5, 0, 2, Some(13))], 13),
            [0, 0]
        );
    }
}
