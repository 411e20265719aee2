//! Reservations of identification keys: two reports that share a key (hardware UUID, serial,
//! machine-id, MAC, FQDN; a device's serial, chassis id or name + address) are identified one
//! after the other, so they cannot both create a CI for the same machine, while reports for
//! different machines proceed together.
//!
//! On a database shared by several instances the keys are also locked in storage
//! (`ident_lock`), after the in-process reservation: two instances identifying one new
//! machine at once take turns as two requests of one instance do. A storage lock expires
//! after [`LOCK_SECS`], so a crashed instance does not hold a key for ever.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use super::{IngestError, lock_or_recover};
use crate::domain::identify::{DeviceKeys, HostKeys};
use crate::storage::Store;

/// How long a storage lock on identification keys lasts (an identification takes
/// milliseconds; the lock is released when it ends).
const LOCK_SECS: u64 = 30;

/// How long an identification waits for another instance's lock on its keys.
const WAIT: Duration = Duration::from_secs(20);

/// Identification keys (hardware UUID, serial, machine-id, MACs, FQDN) of reports being
/// identified right now. Two reports that share a key are identified one after the other, so
/// they cannot both create a CI for the same machine; reports for different machines proceed
/// together.
#[derive(Debug, Default)]
pub(super) struct Reservations {
    held: Mutex<BTreeSet<String>>,
    released: tokio::sync::Notify,
    /// On a shared database: the store and this process's name as a lock holder.
    shared: Option<(Store, String)>,
}

/// Holds identification keys until dropped.
pub(super) struct Reservation<'a> {
    owner: &'a Reservations,
    keys: Vec<String>,
    locked: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.locked
            && let Some((store, holder)) = self.owner.shared.clone()
        {
            // Released in the background (a drop cannot wait); if it fails the lock expires.
            let keys = self.keys.clone();
            tokio::spawn(async move {
                if let Err(e) = store.unlock_keys(&keys, &holder).await {
                    tracing::warn!(error = %e, "cannot release identification locks; they expire");
                }
            });
        }
        let mut held = lock_or_recover(&self.owner.held);
        for k in &self.keys {
            held.remove(k);
        }
        drop(held);
        self.owner.released.notify_waiters();
    }
}

impl Reservations {
    /// Reservations that also lock keys in `store` when it is shared with other instances.
    pub(super) fn new(store: &Store) -> Self {
        Self {
            shared: store.is_remote().then(|| {
                (
                    store.clone(),
                    format!("ingest-{}", uuid::Uuid::new_v4().simple()),
                )
            }),
            ..Self::default()
        }
    }

    /// Reserves a host's identification keys.
    pub(super) async fn reserve_host(
        &self,
        keys: &HostKeys,
    ) -> Result<Reservation<'_>, IngestError> {
        let wanted: Vec<String> = [
            ("uuid", &keys.hardware_uuid),
            ("serial", &keys.vendor_serial),
            ("machine-id", &keys.machine_id),
            ("fqdn", &keys.fqdn),
        ]
        .into_iter()
        .filter_map(|(kind, v)| v.as_ref().map(|v| format!("{kind}:{v}")))
        .chain(keys.macs.iter().map(|m| format!("mac:{m}")))
        .collect();
        self.reserve(wanted).await
    }

    /// Reserves a network device's identification keys (every key it would be stored under,
    /// so two polls of one device through two of its addresses wait for each other too).
    pub(super) async fn reserve_device(
        &self,
        keys: &DeviceKeys,
    ) -> Result<Reservation<'_>, IngestError> {
        let wanted = keys
            .index_keys()
            .into_iter()
            .chain(keys.lookup_keys())
            .map(|k| format!("device-{k}"))
            .collect();
        self.reserve(wanted).await
    }

    /// Waits until none of `wanted` is held, then holds them all (all at once, so two
    /// reservations never wait on each other).
    async fn reserve(&self, mut wanted: Vec<String>) -> Result<Reservation<'_>, IngestError> {
        wanted.sort();
        wanted.dedup();
        let mut r = self.reserve_here(wanted).await;
        let Some((store, holder)) = &self.shared else {
            return Ok(r);
        };
        if r.keys.is_empty() {
            return Ok(r);
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if store.lock_keys(&r.keys, holder, LOCK_SECS).await? {
                r.locked = true;
                return Ok(r);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(IngestError::Unavailable(
                    "another server instance is identifying this machine: retry shortly".into(),
                ));
            }
            let pause = rand::random_range(10..=50u64);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    /// The in-process part of [`Self::reserve`].
    async fn reserve_here(&self, wanted: Vec<String>) -> Reservation<'_> {
        loop {
            // Registered before looking, so a release in between is not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let mut held = lock_or_recover(&self.held);
                if !wanted.iter().any(|k| held.contains(k)) {
                    held.extend(wanted.iter().cloned());
                    return Reservation {
                        owner: self,
                        keys: wanted,
                        locked: false,
                    };
                }
            }
            released.await;
        }
    }
}
