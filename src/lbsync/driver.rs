//! The lbsync driver as an explicit state machine: what it waits for in each [`State`], and the
//! one [`step`] function every event goes through (pure, table-tested). No debounce: a
//! change found the driver idle starts a pass at once; changes that arrive while a pass (a
//! mutation, a PENDING window) is in flight are folded into the next pass, which reads the
//! registry view as it is then.

use std::time::Duration;

use tokio::time::Instant;

/// What one pass of a backend asks for next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing left to do until something changes (or the periodic resync).
    Converged,
    /// A change was made (or the state moved): pass again at once.
    Progress,
    /// Wait this long before the next pass, whatever happens meanwhile (rate limit, backoff).
    Wait(Duration),
    /// Pass again after this long, or at the next change if sooner (a drain period running).
    Revisit(Duration),
    /// Something failed that only time fixes: pass again at the resync interval.
    Resync,
}

/// Where the driver is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not the leader (or the registry not read yet): changes nothing, waits for leadership.
    Following,
    /// Leader and done for now: a change, or `until` (the resync), starts the next pass.
    Idle { until: Instant },
    /// Leader and a pass is due now.
    Due,
    /// The backend asked for quiet until `until`; changes wait (they are read at the next pass).
    Holding { until: Instant },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The election said whether this instance leads.
    Leadership(bool),
    /// The registry view changed.
    Changed,
    /// The deadline of `Idle`/`Holding` passed.
    Timer,
    /// A pass ended with this step.
    Passed(Step),
}

/// The next state, given the resync interval and the time now.
pub fn step(state: State, event: Event, now: Instant, resync: Duration) -> State {
    let after = |d: Duration| crate::duration::after(now, d);
    match (state, event) {
        (_, Event::Leadership(false)) => State::Following,
        (State::Following, Event::Leadership(true)) => State::Due,
        (State::Following, _) => State::Following,
        (s, Event::Leadership(true)) => s,
        (State::Idle { .. }, Event::Changed) => State::Due,
        (State::Idle { until }, Event::Timer) if now >= until => State::Due,
        (State::Holding { until }, Event::Timer) if now >= until => State::Due,
        (s @ (State::Idle { .. } | State::Holding { .. }), Event::Timer) => s,
        (s @ (State::Holding { .. } | State::Due), Event::Changed) => s,
        (State::Due, Event::Timer) => State::Due,
        (_, Event::Passed(step)) => match step {
            Step::Progress => State::Due,
            Step::Converged | Step::Resync => State::Idle {
                until: after(resync),
            },
            Step::Revisit(d) => State::Idle {
                until: after(d.min(resync)),
            },
            Step::Wait(d) => State::Holding { until: after(d) },
        },
    }
}

#[cfg(test)]
mod tests;
