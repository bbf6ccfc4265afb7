//! The one shape every lbsync backend has: observe the addresses it serves, apply one step of a
//! [`NodePlan`], describe a plan for `--dry-run`. Rackspace and nginx implement it side by side;
//! a new backend is one more file here.

pub mod nginx;
pub mod rackspace;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use super::plan::NodePlan;
use super::{LbsyncError, Step};

/// Why a backend's step stopped short: what the driver does next, or an error that ends lbsync.
#[derive(Debug)]
pub enum Halt {
    Next(Step),
    Fatal(LbsyncError),
}

impl From<Step> for Halt {
    fn from(s: Step) -> Halt {
        Halt::Next(s)
    }
}

impl Halt {
    pub fn into_step(self) -> Result<Step, LbsyncError> {
        match self {
            Halt::Next(s) => Ok(s),
            Halt::Fatal(e) => Err(e),
        }
    }
}

#[allow(async_fn_in_trait)] // used through generics only, never as `dyn`
pub trait Backend {
    /// Checks what can only be checked against the real thing before the first pass (the
    /// credentials); an error here is fatal.
    async fn start(&mut self) -> Result<(), LbsyncError> {
        Ok(())
    }
    /// The addresses served now, static nodes included; on failure, what to do instead.
    async fn observe(&mut self) -> Result<BTreeSet<SocketAddr>, Halt>;
    /// One step towards serving `plan.want` (besides the static nodes); `is_leader` is asked
    /// right before changing anything. An error ends lbsync.
    async fn apply(
        &mut self,
        plan: &NodePlan,
        is_leader: &dyn Fn() -> bool,
    ) -> Result<Step, LbsyncError>;
    /// Prints what `apply` would change (dry run).
    async fn describe(&mut self, plan: &NodePlan) -> Result<(), LbsyncError>;
}
