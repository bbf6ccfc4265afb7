//! One warning per invalid registry key, not one per pass: [`Warned`] remembers what was reported.

use std::collections::BTreeMap;

use tracing::warn;

use crate::registry::codec::Skipped;

/// Remembers which skipped keys were already reported, so each bad key warns once until it
/// changes or goes away.
#[derive(Debug, Default)]
pub struct Warned {
    seen: BTreeMap<String, String>,
}

impl Warned {
    pub fn report(&mut self, skipped: &[Skipped]) {
        let now: BTreeMap<String, String> = skipped
            .iter()
            .map(|s| (s.key.clone(), s.reason.clone()))
            .collect();
        for (key, reason) in &now {
            if self.seen.get(key) != Some(reason) {
                warn!(key = %key, reason = %reason, "skipping an invalid instance key");
            }
        }
        self.seen = now;
    }
}
