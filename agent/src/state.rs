//! Files in the state directory: the credential (mode 0600), the pinned CA, and the delivery
//! baseline (the section hashes of the newest spooled report).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::spool::write_atomic;

/// The per-agent credential written by `enroll`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// Server base URL (`https://host:port`).
    pub server: String,
    pub agent_id: String,
    /// Bearer token; never logged.
    pub token: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("server", &self.server)
            .field("agent_id", &self.agent_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// What the agent remembers between cycles.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeliveryState {
    /// Section hashes of the newest spooled report: the baseline of the next delta. Empty
    /// means the next report must be full.
    #[serde(default)]
    pub base_hashes: BTreeMap<String, String>,
    /// When the last full inventory was spooled (unix seconds).
    #[serde(default)]
    pub last_full_unix: i64,
}

/// State-directory errors.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: not enrolled yet (run `cmdb-agent enroll`)")]
    NotEnrolled { path: String },
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
}

/// Paths inside the state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn credential_path(&self) -> PathBuf {
        self.dir.join("credential.json")
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.dir.join("spool")
    }

    fn delivery_path(&self) -> PathBuf {
        self.dir.join("delivery.json")
    }

    fn ensure(&self) -> Result<(), StateError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| StateError::Write {
                path: self.dir.display().to_string(),
                source,
            })
    }

    /// Loads the credential.
    pub fn credential(&self) -> Result<Credential, StateError> {
        let path = self.credential_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotEnrolled {
                    path: path.display().to_string(),
                });
            }
            Err(source) => {
                return Err(StateError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// Saves the credential (0600) and the pinned CA certificate.
    pub fn save_enrollment(
        &self,
        cred: &Credential,
        ca_pem: Option<&str>,
    ) -> Result<(), StateError> {
        self.ensure()?;
        if let Some(pem) = ca_pem {
            let p = self.ca_path();
            write_atomic(&p, pem.as_bytes(), 0o644).map_err(|source| StateError::Write {
                path: p.display().to_string(),
                source,
            })?;
        }
        let p = self.credential_path();
        let bytes = serde_json::to_vec_pretty(cred).map_err(|e| StateError::Corrupt {
            path: p.display().to_string(),
            reason: e.to_string(),
        })?;
        write_atomic(&p, &bytes, 0o600).map_err(|source| StateError::Write {
            path: p.display().to_string(),
            source,
        })?;
        // A new credential starts with a full inventory.
        self.save_delivery(&DeliveryState::default())
    }

    /// The pinned CA (PEM), if any (plain-HTTP loopback servers have none).
    pub fn ca_pem(&self) -> Result<Option<Vec<u8>>, StateError> {
        match std::fs::read(self.ca_path()) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Read {
                path: self.ca_path().display().to_string(),
                source,
            }),
        }
    }

    /// Loads the delivery state; a missing or corrupt file means "start with a full inventory".
    pub fn delivery(&self) -> DeliveryState {
        std::fs::read(self.delivery_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Saves the delivery state durably.
    pub fn save_delivery(&self, s: &DeliveryState) -> Result<(), StateError> {
        self.ensure()?;
        let p = self.delivery_path();
        let bytes = serde_json::to_vec(s).map_err(|e| StateError::Corrupt {
            path: p.display().to_string(),
            reason: e.to_string(),
        })?;
        write_atomic(&p, &bytes, 0o600).map_err(|source| StateError::Write {
            path: p.display().to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_credential_is_private_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = StateDir::new(&dir.path().join("state"));
        assert!(matches!(
            s.credential(),
            Err(StateError::NotEnrolled { .. })
        ));
        let cred = Credential {
            server: "https://localhost:8443".into(),
            agent_id: "a1".into(),
            token: "cmdb_agent_x".into(),
        };
        s.save_enrollment(&cred, Some("PEM")).expect("save");
        let mode = std::fs::metadata(s.credential_path())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(s.credential().expect("load").agent_id, "a1");
        assert!(s.delivery().base_hashes.is_empty());
    }
}
