//! systemd's notify protocol through the `sd-notify` crate (a datagram to `$NOTIFY_SOCKET`; no
//! libsystemd): `READY=1`, `STATUS=`, `STOPPING=1`, and the watchdog task that sends `WATCHDOG=1`
//! every half `WATCHDOG_USEC` while every main loop beats (a stuck loop gets no ping, and systemd
//! restarts the service).

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::{debug, error, warn};

use super::Telemetry;

/// Whether systemd listens (`NOTIFY_SOCKET` set).
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty())
}

/// The watchdog timeout systemd asked for (`WATCHDOG_USEC`, for this pid), if any.
pub fn watchdog() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero())
}

/// Sends `states`; a failure is logged, never fatal (systemd may be gone at shutdown).
pub fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        debug!(error = %e, "sd_notify failed");
    }
}

/// Pings every `every` while the loops beat; says once why it stopped pinging.
pub async fn watchdog_loop(t: &'static Telemetry, every: Duration) {
    let mut silent = false;
    loop {
        tokio::time::sleep(every).await;
        match t.heartbeat.stale(tokio::time::Instant::now()) {
            None => {
                if silent {
                    warn!("the main loop turns again; resuming the systemd watchdog");
                    silent = false;
                }
                send(&[NotifyState::Watchdog]);
            }
            Some((name, age)) if !silent => {
                error!(
                    loop_name = name,
                    stuck_ms = age.as_millis() as u64,
                    "a main loop is stuck; not pinging the systemd watchdog (systemd will restart this service)"
                );
                silent = true;
            }
            Some(_) => {}
        }
    }
}
