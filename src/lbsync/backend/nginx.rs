//! The nginx backend of the [`Backend`] trait: the set in the upstream file is what nginx
//! serves (read once, then known from what was applied); applying renders, checks and reloads
//! through [`NginxUpstream`]. After a reload the driver holds [`RELOAD_SPACING`] before the next
//! pass, so a stream of changes costs a few reloads per second, not one per change; an idle
//! change still goes out at once.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use tracing::error;

use super::super::plan::NodePlan;
use super::super::{LbsyncError, Step};
use super::{Backend, Halt};
use crate::nginx::{Applied, NginxUpstream};

/// The least time between the starts of two applies that reload (changes meanwhile go out
/// together in the next one).
pub const RELOAD_SPACING: Duration = Duration::from_millis(400);

/// lbsync's nginx [`Backend`]: the static nodes and the served set around one [`NginxUpstream`].
pub struct NginxBackend {
    nginx: NginxUpstream,
    statics: BTreeSet<SocketAddr>,
    /// What the file holds, as last applied (`None`: read it).
    served: Option<BTreeSet<SocketAddr>>,
}

impl NginxBackend {
    pub fn new(nginx: NginxUpstream, statics: BTreeSet<SocketAddr>) -> NginxBackend {
        NginxBackend {
            nginx,
            statics,
            served: None,
        }
    }

    /// What nginx should serve for `plan`: its managed addresses and the static nodes.
    fn serving(&self, plan: &NodePlan) -> BTreeSet<SocketAddr> {
        plan.want.union(&self.statics).copied().collect()
    }
}

impl Backend for NginxBackend {
    async fn observe(&mut self) -> Result<BTreeSet<SocketAddr>, Halt> {
        if let Some(s) = &self.served {
            return Ok(s.clone());
        }
        // A file lbsync cannot read back is overwritten: it serves nothing we know of.
        Ok(self.nginx.current().unwrap_or_default())
    }

    async fn apply(
        &mut self,
        plan: &NodePlan,
        is_leader: &dyn Fn() -> bool,
    ) -> Result<Step, LbsyncError> {
        if !is_leader() {
            return Ok(Step::Wait(Duration::from_secs(1)));
        }
        let started = tokio::time::Instant::now();
        let wanted = self.serving(plan);
        let step = match self.nginx.apply(&wanted).await {
            Ok(Applied::Unchanged) => Step::Converged,
            // Counted from the start of this apply: a slow write (fsync on a busy disk) does not
            // stretch the spacing, and so the delay of a change.
            Ok(Applied::Reloaded { .. }) => {
                Step::Wait(RELOAD_SPACING.saturating_sub(started.elapsed()))
            }
            Err(e) => {
                self.served = None;
                error!(error = %e, kind = e.metric_label(), "nginx was not updated; retrying at the resync interval");
                return Ok(Step::Resync);
            }
        };
        self.served = Some(wanted);
        Ok(step)
    }

    async fn describe(&mut self, plan: &NodePlan) -> Result<(), LbsyncError> {
        let present = self.nginx.current()?;
        let wanted = self.serving(plan);
        for a in present.difference(&wanted) {
            println!("remove  {a}");
        }
        for a in wanted.difference(&present) {
            println!("add     {a}");
        }
        if present == wanted {
            println!("nothing to change");
        }
        Ok(())
    }
}
