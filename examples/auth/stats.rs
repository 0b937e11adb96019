//! Counters of what every handler saw, so that a test can prove a refused client reached
//! none: `GET /stats` returns them as `{"/jwt connection": 3, "/admin ban": 1, ...}`.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

/// Shared by both servers (as `State<Stats>`) and the HTTP routes.
#[derive(Debug, Clone, Default)]
pub struct Stats(Arc<Mutex<BTreeMap<String, u64>>>);

impl Stats {
    /// Counts one run of the handler `what` (`"<namespace> <event>"`).
    pub fn hit(&self, what: impl Into<String>) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(what.into())
            .or_default() += 1;
    }

    /// Every counter.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
