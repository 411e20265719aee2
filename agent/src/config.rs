//! `cmdb-agent` configuration: one TOML file, every field documented, validated on load.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole agent configuration file. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory for the credential (mode 0600), the pinned CA, the spool and delivery state.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Root the collectors read under: `/` in production; a fixture tree in tests.
    #[serde(default = "default_root")]
    pub root: PathBuf,
    /// When and how reports are delivered.
    #[serde(default)]
    pub delivery: Delivery,
    /// Which collectors run.
    #[serde(default)]
    pub collectors: Collectors,
}

/// Delivery schedule and spool bounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Seconds between reports. Each carries only the sections that changed (an empty one is
    /// a heartbeat).
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// Seconds between full inventories (±10 % jitter, so a fleet restarted together spreads out).
    #[serde(default = "default_full_interval_secs")]
    pub full_interval_secs: u64,
    /// Most bytes the spool may hold (compressed reports); the oldest are dropped beyond it.
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: u64,
    /// Most reports the spool may hold.
    #[serde(default = "default_spool_max_reports")]
    pub spool_max_reports: usize,
    /// Timeout of one HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Longest wait between delivery retries, in seconds (backoff is exponential with full jitter).
    #[serde(default = "default_backoff_max_secs")]
    pub backoff_max_secs: u64,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            interval_secs: default_interval_secs(),
            full_interval_secs: default_full_interval_secs(),
            spool_max_bytes: default_spool_max_bytes(),
            spool_max_reports: default_spool_max_reports(),
            timeout_secs: default_timeout_secs(),
            backoff_max_secs: default_backoff_max_secs(),
        }
    }
}

/// Collector selection.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collectors {
    /// Collectors not to run, by name (e.g. `["sockets"]`). `identity` cannot be disabled.
    #[serde(default)]
    pub disabled: Vec<String>,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/cmdb-agent")
}
fn default_root() -> PathBuf {
    PathBuf::from("/")
}
fn default_interval_secs() -> u64 {
    300
}
fn default_full_interval_secs() -> u64 {
    6 * 3600
}
fn default_spool_max_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_spool_max_reports() -> usize {
    2000
}
fn default_timeout_secs() -> u64 {
    30
}
fn default_backoff_max_secs() -> u64 {
    300
}

impl Default for Config {
    fn default() -> Self {
        Self {
            state_dir: default_state_dir(),
            root: default_root(),
            delivery: Delivery::default(),
            collectors: Collectors::default(),
        }
    }
}

/// A configuration problem, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// The collector names the agent knows.
pub const COLLECTOR_NAMES: [&str; 11] = cmdb_shared::SECTIONS;

impl Config {
    /// Reads and validates a config file; a missing default file means all defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates config text.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let d = &self.delivery;
        if !(10..=86_400).contains(&d.interval_secs) && d.interval_secs != 1 {
            // 1 s is allowed for tests and demos; anything else below 10 s floods a fleet's server.
            return Err(ConfigError::Invalid {
                field: "delivery.interval_secs",
                reason: format!(
                    "must be between 10 and 86400 (or 1 for tests), got {}",
                    d.interval_secs
                ),
            });
        }
        if d.full_interval_secs < d.interval_secs {
            return Err(ConfigError::Invalid {
                field: "delivery.full_interval_secs",
                reason: "must not be shorter than delivery.interval_secs".into(),
            });
        }
        if d.spool_max_reports == 0 || d.spool_max_bytes < 1024 * 1024 {
            return Err(ConfigError::Invalid {
                field: "delivery.spool_max_bytes",
                reason: "the spool needs at least 1 MiB and 1 report".into(),
            });
        }
        if d.timeout_secs == 0 || d.timeout_secs > 600 {
            return Err(ConfigError::Invalid {
                field: "delivery.timeout_secs",
                reason: "must be between 1 and 600".into(),
            });
        }
        if d.backoff_max_secs == 0 {
            return Err(ConfigError::Invalid {
                field: "delivery.backoff_max_secs",
                reason: "must be at least 1".into(),
            });
        }
        for name in &self.collectors.disabled {
            if !COLLECTOR_NAMES.contains(&name.as_str()) {
                return Err(ConfigError::Invalid {
                    field: "collectors.disabled",
                    reason: format!(
                        "unknown collector {name:?}; known: {}",
                        COLLECTOR_NAMES.join(", ")
                    ),
                });
            }
            if name == "identity" {
                return Err(ConfigError::Invalid {
                    field: "collectors.disabled",
                    reason: "identity cannot be disabled: the server identifies the host by it"
                        .into(),
                });
            }
        }
        if !self.root.is_absolute() {
            return Err(ConfigError::Invalid {
                field: "root",
                reason: "must be an absolute path".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packaged_example_config_parses() {
        let text = include_str!("../../packaging/agent.toml");
        let cfg = Config::parse(text, Path::new("agent.toml"))
            .expect("packaging/agent.toml must stay valid");
        assert_eq!(cfg.state_dir, PathBuf::from("/var/lib/cmdb-agent"));
    }

    #[test]
    fn an_empty_file_means_defaults() {
        let cfg = Config::parse("", Path::new("x")).expect("defaults");
        assert_eq!(cfg.delivery.interval_secs, 300);
    }

    #[test]
    fn bad_values_name_the_field() {
        for (text, field) in [
            ("[delivery]\ninterval_secs = 2\n", "delivery.interval_secs"),
            (
                "[collectors]\ndisabled = [\"nope\"]\n",
                "collectors.disabled",
            ),
            (
                "[collectors]\ndisabled = [\"identity\"]\n",
                "collectors.disabled",
            ),
            ("root = \"relative\"\n", "root"),
        ] {
            let err = Config::parse(text, Path::new("x")).expect_err(text);
            assert!(err.to_string().starts_with(field), "{err}");
        }
        let err = Config::parse("colectors = 1\n", Path::new("a.toml")).expect_err("typo");
        assert!(err.to_string().contains("colectors"), "{err}");
    }
}
