//! Collectors: one file per inventory section, behind the one-method [`Collector`] trait.
//!
//! Each collector reads files under [`Context::root`] (`/` in production, a fixture tree in
//! tests) and keeps its parsing in pure `parse_*` functions tested against fixtures captured
//! from real machines. Syscalls that cannot be redirected to a fixture tree (statvfs, the
//! resolver, CPUID) run only when [`Context::is_live`] is true. A collector that fails drops
//! its own section; the rest of the report goes on.

use std::path::{Path, PathBuf};

use cmdb_shared::Inventory;

pub mod cpu;
pub mod disks;
pub mod filesystems;
pub mod identity;
pub mod memory;
pub mod network;
pub mod os;
pub mod packages;
pub mod services;
pub mod sockets;
pub mod virtualization;

/// Where collectors read from.
#[derive(Debug, Clone)]
pub struct Context {
    root: PathBuf,
}

impl Context {
    /// A context reading under `root` (`/` for the live system).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root collectors read under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when reading the live system, so syscalls describe the same machine as the files.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// `path` (absolute, as on a live system) under the root.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// Reads a file under the root to a string.
    pub fn read(&self, path: &str) -> std::io::Result<String> {
        std::fs::read_to_string(self.path(path))
    }

    /// Reads a small sysfs/procfs value, trimmed; `None` when absent, unreadable or empty.
    pub fn read_trimmed(&self, path: &str) -> Option<String> {
        let s = std::fs::read_to_string(self.path(path)).ok()?;
        let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
        (!s.is_empty()).then(|| s.to_string())
    }
}

/// Why a collector produced no section.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot read {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse {what}: {reason}")]
    Parse { what: String, reason: String },
}

impl CollectError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// One inventory section.
pub trait Collector {
    /// Collector name = file name = config table = wire section.
    fn name(&self) -> &'static str;
    /// Fills this collector's section of `inv`.
    fn collect(&self, ctx: &Context, inv: &mut Inventory) -> Result<(), CollectError>;
}

/// The enabled collectors, in report order. Explicit code, not a registry.
pub fn all() -> Vec<Box<dyn Collector>> {
    vec![
        Box::new(identity::IdentityCollector),
        Box::new(os::OsCollector),
        Box::new(cpu::CpuCollector),
        Box::new(memory::MemoryCollector),
        Box::new(disks::DisksCollector),
        Box::new(filesystems::FilesystemsCollector),
        Box::new(network::NetworkCollector),
        Box::new(packages::PackagesCollector),
        Box::new(services::ServicesCollector),
        Box::new(sockets::SocketsCollector),
        Box::new(virtualization::VirtualizationCollector),
    ]
}
