//! The writer's legal states and its one transition function, pure (no I/O, no clock): the
//! driver in `writer` asks [`next`] what to do, does it, and feeds the outcome back through
//! [`step`]. Modelled on kube-runtime's `watcher.rs`.
//!
//! ```text
//!  NoLease --Lease(live)--> Claiming --Claimed(Mine)--> Owned{Stale} --Reconciled(Done)--> Owned{Synced}
//!                              ^  |                        |  ^                                      |
//!                              |  +--Claimed(Held)--> Held |  +----DesiredChanged / Resync-----------+
//!                              |          |               |
//!                              +--Timer---+   Reconciled(Lost)
//!  any --Lease(none)--> NoLease;  any --Lease(new generation)--> Claiming
//! ```

use crate::registry::Actual;

/// A live lease as the writer sees it; `generation` grows when a new lease replaces a lost one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub id: i64,
    pub generation: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No live lease: wait for the keeper.
    NoLease,
    /// A live lease; the owner key is not ours (yet) under it. `retry`: the last claim failed,
    /// wait a backoff first.
    Claiming { lease: Lease, retry: bool },
    /// Another agent owns the prefix: claim again after a while.
    Held { lease: Lease },
    /// This agent owns the prefix under `lease`. `cache`: what etcd holds, as last read or
    /// written (`None`: read it before planning).
    Owned {
        lease: Lease,
        cache: Option<Actual>,
        keys: Keys,
    },
}

/// Where an owned prefix's keys stand against the wanted ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// They may differ (a change, a resync, a fresh claim): reconcile.
    Stale,
    /// The last reconcile failed: wait a backoff, then reconcile.
    Retry,
    /// etcd matched the wanted keys after the last change: nothing to do until the next change
    /// or resync.
    Synced,
}

impl Keys {
    /// After a change or a resync: reconcile, but not before a pending backoff is over.
    fn changed(self) -> Keys {
        match self {
            Keys::Retry => Keys::Retry,
            Keys::Stale | Keys::Synced => Keys::Stale,
        }
    }

    /// When the timer fires: a backoff is over.
    fn backoff_over(self) -> Keys {
        match self {
            Keys::Retry => Keys::Stale,
            k => k,
        }
    }
}

/// The outcome of a claim on the owner key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Mine,
    Held,
    Failed,
}

/// The outcome of making etcd equal to the wanted keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// etcd now holds this.
    Done(Actual),
    /// The ownership guard failed: someone else owns the prefix now.
    Lost,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The keeper's lease changed (`None`: no live lease).
    Lease(Option<Lease>),
    Claimed(Claim),
    Reconciled(Reconciled),
    /// The wanted keys changed.
    DesiredChanged,
    /// The periodic resync is due: re-read etcd and repair drift (writing only what differs).
    Resync,
    /// The wait asked for by [`Next::Wait`] is over.
    Timer,
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Claim the owner key under this lease.
    Claim(Lease),
    /// Make etcd equal to the wanted keys (reading it first when `cache` is `None`).
    Reconcile { lease: Lease, cache: Option<Actual> },
    /// Wait for an event; the timer fires after this.
    Wait(Wait),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Only an event (lease, desired) moves on.
    Event,
    /// A backoff after a failure.
    Backoff,
    /// The holder's lease may end: claim again after a while.
    Held,
    /// In sync: the next resync.
    Resync,
}

impl State {
    pub fn lease(&self) -> Option<Lease> {
        match self {
            State::NoLease => None,
            State::Claiming { lease, .. } | State::Held { lease } | State::Owned { lease, .. } => {
                Some(*lease)
            }
        }
    }
}

/// The one transition function.
pub fn step(state: State, event: Event) -> State {
    match (state, event) {
        (_, Event::Lease(None)) => State::NoLease,
        (s, Event::Lease(Some(l))) => match s.lease() {
            Some(old) if old.generation == l.generation => s,
            _ => State::Claiming {
                lease: l,
                retry: false,
            },
        },
        (State::Claiming { lease, .. }, Event::Claimed(c)) => match c {
            Claim::Mine => State::Owned {
                lease,
                cache: None,
                keys: Keys::Stale,
            },
            Claim::Held => State::Held { lease },
            Claim::Failed => State::Claiming { lease, retry: true },
        },
        (State::Claiming { lease, .. }, Event::Timer) | (State::Held { lease }, Event::Timer) => {
            State::Claiming {
                lease,
                retry: false,
            }
        }
        (State::Owned { lease, .. }, Event::Reconciled(r)) => match r {
            Reconciled::Done(actual) => State::Owned {
                lease,
                cache: Some(actual),
                keys: Keys::Synced,
            },
            Reconciled::Lost => State::Claiming {
                lease,
                retry: false,
            },
            Reconciled::Failed => State::Owned {
                lease,
                cache: None,
                keys: Keys::Retry,
            },
        },
        (State::Owned { lease, cache, keys }, Event::DesiredChanged) => State::Owned {
            lease,
            cache,
            keys: keys.changed(),
        },
        (State::Owned { lease, keys, .. }, Event::Resync) => State::Owned {
            lease,
            cache: None,
            keys: keys.changed(),
        },
        (State::Owned { lease, cache, keys }, Event::Timer) => State::Owned {
            lease,
            cache,
            keys: keys.backoff_over(),
        },
        // Outcomes that arrive in another state (stale), and changes that do not matter there.
        (s, _) => s,
    }
}

/// What to do in `state`.
pub fn next(state: &State) -> Next {
    match state {
        State::NoLease => Next::Wait(Wait::Event),
        State::Claiming { retry: true, .. }
        | State::Owned {
            keys: Keys::Retry, ..
        } => Next::Wait(Wait::Backoff),
        State::Claiming { lease, .. } => Next::Claim(*lease),
        State::Held { .. } => Next::Wait(Wait::Held),
        State::Owned {
            lease,
            cache,
            keys: Keys::Stale,
        } => Next::Reconcile {
            lease: *lease,
            cache: cache.clone(),
        },
        State::Owned {
            keys: Keys::Synced, ..
        } => Next::Wait(Wait::Resync),
    }
}

#[cfg(test)]
mod tests;
