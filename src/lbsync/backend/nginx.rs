//! The nginx backend of the [`Backend`] trait: the set in the upstream file is what nginx
//! serves; applying renders, checks and reloads through [`NginxBackend`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use tracing::error;

use super::super::node_plan::NodePlan;
use super::super::{LbsyncError, Step};
use super::Backend;
use crate::nginx::NginxBackend;

pub struct NginxSync {
    pub nginx: NginxBackend,
    pub statics: BTreeSet<SocketAddr>,
}

impl Backend for NginxSync {
    async fn observe(&mut self) -> Result<BTreeSet<SocketAddr>, Step> {
        // A file lbsync cannot read back is overwritten: it serves nothing we know of.
        Ok(self.nginx.current().unwrap_or_default())
    }

    async fn apply(&mut self, plan: &NodePlan, is_leader: &dyn Fn() -> bool) -> Step {
        if !is_leader() {
            return Step::Wait(Duration::from_secs(1));
        }
        match self.nginx.apply(&plan.want, &self.statics).await {
            Ok(_) => Step::Converged,
            Err(e) => {
                error!(error = %e, kind = e.metric_label(), "nginx was not updated; retrying at the resync interval");
                Step::Resync
            }
        }
    }

    async fn describe(&mut self, plan: &NodePlan) -> Result<(), LbsyncError> {
        let present = self.nginx.current()?;
        let wanted: BTreeSet<SocketAddr> = plan.want.union(&self.statics).copied().collect();
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
