//! Connection draining: a leaving node goes DRAINING first and is deleted once `--drain-period`
//! has passed since this process first saw it draining. Pure: [`removal`] decides the next step;
//! [`Drains`] keeps when each node started draining.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::super::super::plan::LbNode;

pub(super) fn is_draining(n: &LbNode) -> bool {
    n.condition.eq_ignore_ascii_case("DRAINING")
}

/// What a drain-aware removal does next: drain one more node, delete the drained ones, or wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Drain(u64),
    Delete(Vec<u64>),
    WaitFor(Duration),
    Nothing,
}

/// Decides the removal step for nodes `ids` (already drain-aware: `draining_since` holds when
/// each DRAINING node started; `period` zero deletes at once).
pub fn removal(
    ids: &[u64],
    nodes: &[LbNode],
    draining_since: &BTreeMap<u64, Instant>,
    period: Duration,
    now: Instant,
    batch: usize,
) -> Removal {
    if ids.is_empty() {
        return Removal::Nothing;
    }
    if period.is_zero() {
        return Removal::Delete(ids.iter().take(batch.max(1)).copied().collect());
    }
    let draining = |id: &u64| nodes.iter().any(|n| n.id == *id && is_draining(n));
    if let Some(id) = ids.iter().find(|id| !draining(id)) {
        return Removal::Drain(*id);
    }
    let left = |id: &u64| {
        let since = draining_since.get(id).copied().unwrap_or(now);
        (since + period).saturating_duration_since(now)
    };
    let due: Vec<u64> = ids
        .iter()
        .filter(|id| left(id).is_zero())
        .copied()
        .collect();
    if !due.is_empty() {
        return Removal::Delete(due.into_iter().take(batch.max(1)).collect());
    }
    Removal::WaitFor(ids.iter().map(left).min().unwrap_or(period))
}

/// `--drain-period` and when each node being removed started draining (as far as this process
/// knows: a node found DRAINING, set by an earlier run or by hand, starts when first seen).
#[derive(Debug)]
pub(super) struct Drains {
    pub(super) period: Duration,
    since: BTreeMap<u64, Instant>,
}

impl Drains {
    pub(super) fn new(period: Duration) -> Drains {
        Drains {
            period,
            since: BTreeMap::new(),
        }
    }

    /// The next removal step for nodes `ids` of `nodes`, deleting at most `batch` at once.
    pub(super) fn next(&mut self, ids: &[u64], nodes: &[LbNode], batch: usize) -> Removal {
        self.since.retain(|id, _| ids.contains(id));
        for n in nodes
            .iter()
            .filter(|n| ids.contains(&n.id) && is_draining(n))
        {
            self.since.entry(n.id).or_insert_with(Instant::now);
        }
        removal(ids, nodes, &self.since, self.period, Instant::now(), batch)
    }

    /// Node `id` was just set DRAINING.
    pub(super) fn started(&mut self, id: u64) {
        self.since.insert(id, Instant::now());
    }

    /// Node `id` is wanted again and was re-enabled.
    pub(super) fn enabled(&mut self, id: u64) {
        self.since.remove(&id);
    }

    /// Nothing is left to remove.
    pub(super) fn clear(&mut self) {
        self.since.clear();
    }
}

#[cfg(test)]
mod tests;
