//! The registry prefix as lbsync holds it in memory: every key grouped by instance name, each
//! instance parsed once when one of its keys changes (not the whole prefix per change), and the
//! address rules of [`crate::registry::node::refusal`] applied, so a refused address is a skipped key
//! named exactly. Pure: the etcd side (paged list, watch) lives in `registry_view`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use tracing::warn;

use crate::registry::codec::{self, Skipped};
use crate::registry::node::{refusal, AddressRules};

/// One instance name's keys and what they parse to.
#[derive(Debug, Default)]
struct Group {
    kvs: BTreeMap<String, String>,
    addr: Option<SocketAddr>,
    skipped: Vec<Skipped>,
}

/// The registry prefix, maintained from a listing and then from watch events.
#[derive(Debug)]
pub struct InstanceMap {
    prefix: String,
    /// The address fields, the first present one wins ([`codec::AddressFamily::fields`]).
    address_fields: &'static [&'static str],
    rules: AddressRules,
    groups: BTreeMap<String, Group>,
    /// How many usable instances have each address (kept as groups change, so reading the
    /// desired set or the count never walks every instance).
    counts: BTreeMap<SocketAddr, usize>,
    /// Instances changed by staged events and not parsed yet, with what they skipped before: a
    /// transaction's keys arrive as several events of one revision, and an instance is judged
    /// (and warned about) only once all of them are in.
    staged: BTreeMap<String, Vec<Skipped>>,
}

impl InstanceMap {
    pub fn new(prefix: &str, fields: &'static [&'static str], rules: AddressRules) -> Self {
        InstanceMap {
            prefix: prefix.to_string(),
            address_fields: fields,
            rules,
            groups: BTreeMap::new(),
            counts: BTreeMap::new(),
            staged: BTreeMap::new(),
        }
    }

    /// The instance name a key belongs to (`""` for the prefix itself).
    fn name_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        let rest = key.strip_prefix(&self.prefix)?;
        Some(rest.split('/').next().unwrap_or(rest))
    }

    /// Replaces everything with a fresh listing; warns once per bad key.
    pub fn reset(&mut self, kvs: impl IntoIterator<Item = (String, String)>) {
        let old = std::mem::take(&mut self.groups);
        self.counts.clear();
        for (k, v) in kvs {
            self.stage_put(k, v);
        }
        // A key skipped before the listing is not warned about again.
        for (name, before) in &mut self.staged {
            if let Some(g) = old.get(name) {
                before.clone_from(&g.skipped);
            }
        }
        self.settle();
    }

    /// A key was written; its instance is parsed at the next [`InstanceMap::settle`].
    pub fn stage_put(&mut self, key: String, value: String) {
        let Some(name) = self.name_of(&key).map(str::to_string) else {
            return;
        };
        let g = self.groups.entry(name.clone()).or_default();
        if g.kvs.get(&key) == Some(&value) {
            return;
        }
        let before = g.skipped.clone();
        g.kvs.insert(key, value);
        self.staged.entry(name).or_insert(before);
    }

    /// A key was deleted; its instance is parsed at the next [`InstanceMap::settle`].
    pub fn stage_delete(&mut self, key: &str) {
        let Some(name) = self.name_of(key).map(str::to_string) else {
            return;
        };
        let Some(g) = self.groups.get_mut(&name) else {
            return;
        };
        let before = g.skipped.clone();
        if g.kvs.remove(key).is_none() {
            return;
        }
        self.staged.entry(name).or_insert(before);
    }

    /// Parses every instance changed since the last settle (once per watch response, so the
    /// keys of one transaction are judged together).
    pub fn settle(&mut self) {
        for (name, before) in std::mem::take(&mut self.staged) {
            let Some(g) = self.groups.get_mut(&name) else {
                continue;
            };
            if g.kvs.is_empty() {
                let addr = g.addr;
                self.groups.remove(&name);
                self.count(addr, false);
                continue;
            }
            self.reparse(&name, &before);
        }
    }

    fn reparse(&mut self, name: &str, before: &[Skipped]) {
        let Some(g) = self.groups.get_mut(name) else {
            return;
        };
        let fields = self.address_fields;
        let (inst, mut skipped) = codec::parse(&self.prefix, &g.kvs, fields);
        let was = g.addr.take();
        if let Some(i) = inst.values().next() {
            match refusal(i.addr, self.rules) {
                None => g.addr = Some(i.addr),
                Some(why) => {
                    let key = fields
                        .iter()
                        .map(|f| format!("{}{}/{f}", self.prefix, i.name))
                        .find(|k| g.kvs.contains_key(k))
                        .unwrap_or_else(|| format!("{}{}", self.prefix, i.name));
                    skipped.push(Skipped {
                        key,
                        reason: format!("address {}: {why}", i.addr),
                    });
                }
            }
        }
        for s in &skipped {
            if !before.contains(s) {
                warn!(key = %s.key, reason = %s.reason, "skipping an invalid instance key");
            }
        }
        g.skipped = skipped;
        let now = g.addr;
        if was != now {
            self.count(was, false);
            self.count(now, true);
        }
    }

    fn count(&mut self, addr: Option<SocketAddr>, add: bool) {
        let Some(a) = addr else { return };
        if add {
            *self.counts.entry(a).or_default() += 1;
        } else if let Some(c) = self.counts.get_mut(&a) {
            *c -= 1;
            if *c == 0 {
                self.counts.remove(&a);
            }
        }
    }

    /// The distinct usable addresses.
    pub fn desired(&self) -> BTreeSet<SocketAddr> {
        self.counts.keys().copied().collect()
    }

    /// How many instances are usable.
    pub fn instances(&self) -> usize {
        self.counts.values().sum()
    }
}

#[cfg(test)]
mod tests;
