//! Counting of the HTTP requests the client sends: Cloud Load Balancers calls by method, Identity
//! calls separately. Every request attempt counts, whatever its outcome.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of the request counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    pub get: u64,
    pub post: u64,
    pub put: u64,
    pub delete: u64,
    /// `POST /tokens` calls to Identity (not included in `post`).
    pub identity: u64,
}

impl CallStats {
    /// Cloud Load Balancers requests of every method (Identity excluded).
    pub fn clb_total(&self) -> u64 {
        self.get + self.post + self.put + self.delete
    }
}

/// The live counters behind `Client::stats()`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    get: AtomicU64,
    post: AtomicU64,
    put: AtomicU64,
    delete: AtomicU64,
    identity: AtomicU64,
}

impl Counters {
    pub(crate) fn count(&self, method: &reqwest::Method) {
        let counter = match *method {
            reqwest::Method::GET => &self.get,
            reqwest::Method::POST => &self.post,
            reqwest::Method::PUT => &self.put,
            reqwest::Method::DELETE => &self.delete,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_identity(&self) {
        self.identity.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CallStats {
        CallStats {
            get: self.get.load(Ordering::Relaxed),
            post: self.post.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
            identity: self.identity.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        for c in [
            &self.get,
            &self.post,
            &self.put,
            &self.delete,
            &self.identity,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}
