//! Identification: which existing CI, if any, an incoming report describes. Ordered,
//! explainable rules per kind of CI; the rule that matched is stored with the CI.

pub mod candidate;
pub mod device;
pub mod host;

pub use candidate::{Candidate, Identification, oldest_of};
pub use device::{
    DeviceCandidate, DeviceIdentification, DeviceKeys, DeviceRule, device_contradicts,
    identify_device,
};
pub use host::{
    HostCandidate, HostIdentification, HostKeys, HostRule, host_contradicts, identify_host,
    identify_host_for,
};
