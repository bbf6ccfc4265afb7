//! How the Rackspace backend answers each API error: a wait decision, or a fatal error when
//! Identity refuses the credentials.

use tracing::{error, info, warn};

use super::super::super::{LbsyncError, Step};
use super::super::Halt;
use super::RackspaceBackend;
use crate::rackspace::Error;

impl RackspaceBackend {
    /// Turns an API error into how long to wait before the next step, or the error that ends
    /// lbsync (Identity refusing the credentials).
    pub(super) async fn on_error(&mut self, e: Error) -> Halt {
        self.fresh = None;
        if e.is_rejected_credentials() {
            // The client already retried a few times, spaced, if they had worked before.
            let at_start = matches!(e, Error::CredentialsRejected { revoked: false, .. });
            return Halt::Fatal(LbsyncError::CredentialsRejected {
                rejected: e,
                at_start,
            });
        }
        let next = match &e {
            Error::Immutable { .. } => {
                info!(error = %e, "load balancer busy; waiting for ACTIVE and re-planning");
                if let Some(id) = self.target.id {
                    if let Err(halt) = Box::pin(self.wait_active(id, None)).await {
                        return halt;
                    }
                }
                Step::Progress
            }
            Error::RateLimited { retry_after } => {
                let d = retry_after.unwrap_or_else(|| self.retry.backoff.next_delay());
                warn!(
                    retry_in_ms = d.as_millis() as u64,
                    "rate limited by the load balancer API; waiting"
                );
                Step::Wait(d)
            }
            Error::Duplicate { .. } | Error::NotPartOfLb { .. } | Error::NodeNotFound { .. } => {
                self.refused(&e)
            }
            Error::NodeLimit { .. } => self.node_limit(&e).await,
            Error::LbGone { .. } | Error::NoSuchLb { .. } | Error::AmbiguousLb { .. } => {
                error!(error = %e, "load balancer unavailable; retrying at the resync interval");
                if self.target.id_flag.is_none() {
                    self.target.id = None;
                }
                Step::Resync
            }
            _ => {
                let d = self.retry.backoff.next_delay();
                warn!(error = %e, kind = %e.metric_label(), attempt = self.retry.backoff.attempts(), retry_in_ms = d.as_millis() as u64, "load balancer API call failed; retrying");
                Step::Wait(d)
            }
        };
        Halt::Next(next)
    }

    /// The LB refused the plan as stale (a duplicate, an unknown node): re-read and re-plan, or
    /// after a few refusals in a row wait for the resync.
    fn refused(&mut self, e: &Error) -> Step {
        self.retry.refusals += 1;
        if self.retry.refusals > 3 {
            error!(error = %e, "the load balancer keeps refusing the plan; retrying at the resync interval");
            Step::Resync
        } else {
            info!(error = %e, "the load balancer changed under us; re-reading and re-planning");
            Step::Progress
        }
    }

    /// A 413 node limit: re-plan if the account's limits changed, else wait for the resync.
    async fn node_limit(&mut self, e: &Error) -> Step {
        let before = self.limits.take();
        let after = self.limits().await.ok();
        if after.is_some() && after != before {
            info!(error = %e, "node limit changed; re-planning");
            Step::Progress
        } else {
            error!(error = %e, "node limit reached; the instances that do not fit stay out; retrying at the resync interval");
            Step::Resync
        }
    }
}
