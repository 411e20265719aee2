//! Reservations of identification keys: two reports that share a key (hardware UUID, serial,
//! machine-id, MAC, FQDN; a device's serial, chassis id or name + address) are identified one
//! after the other, so they cannot both create a CI for the same machine, while reports for
//! different machines proceed together.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::lock_or_recover;
use crate::domain::identify::{DeviceKeys, HostKeys};

/// Identification keys (hardware UUID, serial, machine-id, MACs, FQDN) of reports being
/// identified right now. Two reports that share a key are identified one after the other, so
/// they cannot both create a CI for the same machine; reports for different machines proceed
/// together.
#[derive(Debug, Default)]
pub(super) struct Reservations {
    held: Mutex<BTreeSet<String>>,
    released: tokio::sync::Notify,
}

/// Holds identification keys until dropped.
pub(super) struct Reservation<'a> {
    owner: &'a Reservations,
    keys: Vec<String>,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut held = lock_or_recover(&self.owner.held);
        for k in &self.keys {
            held.remove(k);
        }
        drop(held);
        self.owner.released.notify_waiters();
    }
}

impl Reservations {
    /// Reserves a host's identification keys.
    pub(super) async fn reserve_host(&self, keys: &HostKeys) -> Reservation<'_> {
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
    pub(super) async fn reserve_device(&self, keys: &DeviceKeys) -> Reservation<'_> {
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
    async fn reserve(&self, mut wanted: Vec<String>) -> Reservation<'_> {
        wanted.sort();
        wanted.dedup();
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
                    };
                }
            }
            released.await;
        }
    }
}
