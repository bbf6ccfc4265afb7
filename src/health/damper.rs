//! Rise/fall damping: a state changes only after `rise` consecutive passes or `fall` consecutive
//! failures, so one slow answer does not pull an instance out of the load balancer.

/// What one result did to the damped state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Became healthy on this result.
    Rose,
    /// Became unhealthy on this result.
    Fell,
    /// No change.
    Steady,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damper {
    rise: u32,
    fall: u32,
    healthy: bool,
    passes: u32,
    failures: u32,
}

impl Damper {
    /// Starts unhealthy: nothing is announced before the first `rise` passes.
    pub fn new(rise: u32, fall: u32) -> Damper {
        Damper {
            rise: rise.max(1),
            fall: fall.max(1),
            healthy: false,
            passes: 0,
            failures: 0,
        }
    }

    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// Consecutive passes up to now (0 after a failure).
    pub fn passes(&self) -> u32 {
        self.passes
    }

    /// Back to the initial state (a new container run, a new address).
    pub fn reset(&mut self) {
        *self = Damper::new(self.rise, self.fall);
    }

    pub fn record(&mut self, pass: bool) -> Transition {
        if pass {
            self.failures = 0;
            self.passes = self.passes.saturating_add(1);
            if !self.healthy && self.passes >= self.rise {
                self.healthy = true;
                return Transition::Rose;
            }
        } else {
            self.passes = 0;
            self.failures = self.failures.saturating_add(1);
            if self.healthy && self.failures >= self.fall {
                self.healthy = false;
                return Transition::Fell;
            }
        }
        Transition::Steady
    }
}

#[cfg(test)]
mod tests;
