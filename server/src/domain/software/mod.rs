//! Software: rules about installed packages. Only the server needs them (the agent reports
//! versions as the package manager prints them), so they live here, not in the wire crate.

pub mod version;
