//! One async lock per key (an agent, a CI), for services that must serialise work per key.
//! Keys come from reported data, so the map is bounded: past `max` entries, the locks nobody
//! holds are dropped (a held lock is shared with its holder, so it stays).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    max: usize,
}

impl KeyedLocks {
    pub fn new(max: usize) -> Self {
        Self {
            locks: Mutex::default(),
            max,
        }
    }

    /// The lock of `key` (created on first use).
    pub fn of(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.len() >= self.max {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(key.to_string()).or_default().clone()
    }

    /// Locks kept now (for tests and telemetry).
    pub fn len(&self) -> usize {
        self.locks.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_locks_are_dropped_past_the_bound_and_held_ones_kept() {
        let locks = KeyedLocks::new(4);
        let held = locks.of("held");
        let _guard = held.lock().await;
        for i in 0..100 {
            drop(locks.of(&format!("k{i}")));
            assert!(locks.len() <= 5, "{}", locks.len());
        }
        // The held lock is still the same one: its holder still excludes others.
        assert!(locks.of("held").try_lock().is_err());
    }
}
