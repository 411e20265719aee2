//! `init`: a new data directory with a config file, a CA and server certificate, and the
//! first admin and fleet-enrollment tokens (printed once, stored only as hashes).

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Config, ConfigError};
use crate::domain::auth::Role;
use crate::http::tokens::make_token;
use crate::pki;
use crate::storage::{StorageError, Store};

/// Setup failures.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0} already holds a config file; refusing to overwrite it")]
    Exists(String),
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("certificates")]
    Pki(#[from] pki::PkiError),
    #[error("storage")]
    Storage(#[from] StorageError),
    #[error("config")]
    Config(#[from] ConfigError),
}

/// What `init` made; printed once.
#[derive(Debug, Serialize)]
pub struct InitOutput {
    pub config: PathBuf,
    pub url: String,
    pub ca_cert: PathBuf,
    pub ca_fingerprint: String,
    pub admin_token: String,
    pub enroll_token: String,
}

fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), SetupError> {
    let err = |source| SetupError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    f.write_all(contents.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    Ok(())
}

/// Initialises `data_dir`: config, PKI, tokens. `names` are extra DNS names or IPs for the
/// server certificate (localhost, 127.0.0.1, ::1 and this host's name are always included).
/// Returns the open store: SurrealKV releases its lock asynchronously after a drop, so a
/// caller that goes on serving must reuse this handle rather than reopen the directory.
pub async fn init(
    data_dir: &Path,
    listen: SocketAddr,
    names: &[String],
    engine: &str,
    storage_user: Option<&str>,
) -> Result<(InitOutput, Store), SetupError> {
    let config_path = data_dir.join("server.toml");
    if config_path.exists() {
        return Err(SetupError::Exists(data_dir.display().to_string()));
    }
    std::fs::create_dir_all(data_dir).map_err(|source| SetupError::Write {
        path: data_dir.display().to_string(),
        source,
    })?;
    let data_dir = data_dir
        .canonicalize()
        .map_err(|source| SetupError::Write {
            path: data_dir.display().to_string(),
            source,
        })?;
    let mut sans = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim().to_string();
        if !h.is_empty() && !sans.contains(&h) {
            sans.push(h);
        }
    }
    if !listen.ip().is_unspecified() && !sans.contains(&listen.ip().to_string()) {
        sans.push(listen.ip().to_string());
    }
    for n in names {
        if !sans.contains(n) {
            sans.push(n.clone());
        }
    }
    let generated = pki::generate(&sans)?;
    write_file(&data_dir.join("tls/ca.pem"), &generated.ca_pem, 0o644)?;
    write_file(&data_dir.join("tls/ca.key"), &generated.ca_key_pem, 0o600)?;
    write_file(
        &data_dir.join("tls/server.pem"),
        &generated.server_chain_pem,
        0o644,
    )?;
    write_file(
        &data_dir.join("tls/server.key"),
        &generated.server_key_pem,
        0o600,
    )?;

    let text = format!(
        "# Written by `cmdb-server init`. See packaging/server.toml for every option.\n\
         listen = \"{listen}\"\n\
         data_dir = \"{}\"\n\n\
         [tls]\nenabled = true\ncert = \"tls/server.pem\"\nkey = \"tls/server.key\"\n\n\
         [storage]\nengine = \"{engine}\"\n{}",
        data_dir.display(),
        storage_user
            .map(|u| format!(
                "# The password comes from CMDB_SURREAL_PASSWORD in the environment.\nusername = {}\n",
                toml::Value::String(u.to_string())
            ))
            .unwrap_or_default()
    );
    let config = Config::parse(&text, &config_path)?;
    let store = Store::open(&config).await?;
    let (admin, admin_token) = make_token(Role::Admin, "created by init");
    let (enroll, enroll_token) = make_token(Role::Enroll, "fleet enrollment, created by init");
    store.insert_token(&admin).await?;
    store.insert_token(&enroll).await?;
    write_file(&config_path, &text, 0o640)?;
    let host = match listen.ip() {
        ip if ip.is_unspecified() => "localhost".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    Ok((
        InitOutput {
            config: config_path,
            url: format!("https://{host}:{}", listen.port()),
            ca_cert: data_dir.join("tls/ca.pem"),
            ca_fingerprint: generated.ca_fingerprint,
            admin_token,
            enroll_token,
        },
        store,
    ))
}

/// Creates one token directly in the data directory (the server must be stopped when the
/// embedded engine is used; with a remote SurrealDB it may run).
pub async fn create_token(
    config: &Config,
    role: Role,
    description: &str,
) -> Result<String, SetupError> {
    let store = Store::open(config).await?;
    let (rec, token) = make_token(role, description);
    store.insert_token(&rec).await?;
    Ok(token)
}
