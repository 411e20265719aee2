//! `init` and `quickstart`: a new data directory with a config file, a CA and server
//! certificate, and the first admin and fleet-enrollment tokens (printed once, stored only as
//! hashes); `quickstart` then runs the server with a local agent so the CMDB is populated.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use serde::Serialize;

use crate::access::make_token;
use crate::config::{Config, ConfigError};
use crate::domain::auth::Role;
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

/// What `init` made; printed once. Its `Debug` form hides the tokens.
#[derive(Serialize)]
pub struct InitOutput {
    pub config: PathBuf,
    pub url: String,
    pub ca_cert: PathBuf,
    pub ca_fingerprint: String,
    pub admin_token: String,
    pub enroll_token: String,
}

impl std::fmt::Debug for InitOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitOutput")
            .field("config", &self.config)
            .field("url", &self.url)
            .field("ca_cert", &self.ca_cert)
            .field("ca_fingerprint", &self.ca_fingerprint)
            .field("admin_token", &"<redacted>")
            .field("enroll_token", &"<redacted>")
            .finish()
    }
}

/// The names a server certificate is valid for: localhost, the loopback addresses, this
/// host's name, the listen address (unless unspecified) and `extra`.
fn server_names(listen: SocketAddr, extra: &[String]) -> Vec<String> {
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
    for n in extra {
        if !sans.contains(n) {
            sans.push(n.clone());
        }
    }
    sans
}

/// `cmdb-server cert renew`: a new server certificate and key, signed by the CA `init` made
/// in the data directory (`tls/ca.pem`, `tls/ca.key`), valid for `days`, written over the
/// configured `tls.cert` and `tls.key`. Agents pinned that CA: nothing changes for them.
/// Returns the certificate's path; the server uses it from its next start.
pub fn renew_certificate(cfg: &Config, names: &[String], days: u32) -> Result<PathBuf, SetupError> {
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p).map_err(|source| SetupError::Write {
            path: format!(
                "{} (the CA cmdb-server init made; a certificate from another PKI is renewed there)",
                p.display()
            ),
            source,
        })
    };
    let ca_pem = read(cfg.data_dir.join("tls/ca.pem"))?;
    let ca_key = read(cfg.data_dir.join("tls/ca.key"))?;
    let (chain, key) = pki::renew_server(&ca_pem, &ca_key, &server_names(cfg.listen, names), days)?;
    let cert_path = cfg.resolve(&cfg.tls.cert);
    // The key first: a certificate whose key is not written yet would not load.
    let key_path = cfg.resolve(&cfg.tls.key);
    write_file(&key_path.with_extension("key.new"), &key, 0o600)?;
    write_file(&cert_path.with_extension("pem.new"), &chain, 0o644)?;
    for (new, path) in [
        (key_path.with_extension("key.new"), &key_path),
        (cert_path.with_extension("pem.new"), &cert_path),
    ] {
        std::fs::rename(&new, path).map_err(|source| SetupError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(cert_path)
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
    storage_auth_level: Option<&str>,
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
    let generated = pki::generate(&server_names(listen, names))?;
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
                "# The password comes from CMDB_SURREAL_PASSWORD in the environment.\nusername = {}\n{}",
                toml::Value::String(u.to_string()),
                storage_auth_level
                    .map(|l| format!("auth_level = {}\n", toml::Value::String(l.to_string())))
                    .unwrap_or_default()
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
    req: &crate::access::NewToken,
) -> anyhow::Result<String> {
    // The request is checked before the data directory is opened.
    let (rec, token) = crate::access::token_record(req)?;
    let store = Store::open(config).await.context(
        "cannot open the data directory (stop the server first, or use POST /api/v1/tokens)",
    )?;
    store.insert_token(&rec).await?;
    Ok(token)
}

/// Initialises (if needed) a data directory, starts the server, enrolls and runs a local
/// agent, and prints the URL and an admin token; serves until Ctrl-C unless
/// `exit_after_inventory`.
pub async fn quickstart(
    data_dir: &Path,
    listen: SocketAddr,
    agent_bin: Option<PathBuf>,
    exit_after_inventory: bool,
) -> anyhow::Result<()> {
    let agent_bin = match agent_bin {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("no directory for this executable")?
            .join("cmdb-agent"),
    };
    if !agent_bin.exists() {
        bail!(
            "{} not found: build it (cargo build --release -p cmdb-agent) or pass --agent-bin",
            agent_bin.display()
        );
    }
    let config_path = data_dir.join("server.toml");
    let fresh = !config_path.exists();
    let mut enroll_token = None;
    let mut store = None;
    if fresh {
        let (out, opened) = init(data_dir, listen, &[], "surrealkv", None, None).await?;
        enroll_token = Some(out.enroll_token);
        store = Some(opened);
    }
    let cfg = Config::load(&config_path)?;
    let listener = std::net::TcpListener::bind(cfg.listen)
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let store = match store {
        Some(s) => s,
        None => Store::open(&cfg).await?,
    };
    // A fresh admin token for this session: the one from init is not recoverable.
    let (admin, admin_token) = crate::access::make_token(Role::Admin, "quickstart");
    store.insert_token(&admin).await?;
    let agent_dir = cfg.data_dir.join("agent");
    if enroll_token.is_none() && !agent_dir.join("state/credential.json").exists() {
        let (rec, t) = crate::access::make_token(Role::Enroll, "quickstart local agent");
        store.insert_token(&rec).await?;
        enroll_token = Some(t);
    }
    let state = crate::AppState::new(cfg.clone(), store).await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve(state, listener, async move {
        let _ = stop_rx.await;
    }));
    let url = format!("https://localhost:{}", addr.port());
    let ca = cfg.data_dir.join("tls/ca.pem");

    let agent_cfg = agent_dir.join("agent.toml");
    if !agent_cfg.exists() {
        std::fs::create_dir_all(&agent_dir)?;
        std::fs::write(
            &agent_cfg,
            format!(
                "# Local agent started by `cmdb-server quickstart`.\nstate_dir = \"{}\"\n\n[delivery]\ninterval_secs = 60\nfull_interval_secs = 3600\n",
                agent_dir.join("state").display()
            ),
        )?;
    }
    let agent = |args: &[&str]| {
        let mut c = tokio::process::Command::new(&agent_bin);
        c.args(args).arg("--config").arg(&agent_cfg);
        c
    };
    if !agent_dir.join("state/credential.json").exists() {
        let token = enroll_token.context("no enrollment token")?;
        // The token goes through the environment: a command line is visible to every user.
        let status = agent(&["enroll", "--server", &url])
            .env("CMDB_ENROLL_TOKEN", &token)
            .arg("--ca-cert")
            .arg(&ca)
            .status()
            .await?;
        if !status.success() {
            bail!("agent enrollment failed");
        }
    }
    let status = agent(&["run", "--once"]).status().await?;
    if !status.success() {
        bail!("the agent's first inventory failed");
    }
    println!("\ncmdb-server is running at {url}");
    println!("  data directory: {}", cfg.data_dir.display());
    println!("  CA certificate: {}", ca.display());
    println!("  admin token:    {admin_token}\n");
    println!(
        "Web UI: open {url}/ui/ and sign in with the admin token above (\"With an API token\");"
    );
    println!(
        "  the certificate is signed by the CA above: trust it in the browser, or accept the warning.\n"
    );
    println!("Try:");
    println!(
        "  curl --cacert {} -H 'Authorization: Bearer {admin_token}' {url}/api/v1/cis",
        ca.display()
    );
    println!(
        "  curl --cacert {} -H 'Authorization: Bearer {admin_token}' {url}/api/v1/agents",
        ca.display()
    );
    println!(
        "  curl --cacert {} -H 'Authorization: Bearer {admin_token}' '{url}/api/v1/reports/availability'   # after a few minutes: this host's availability",
        ca.display()
    );
    println!(
        "  curl --cacert {} -H 'Authorization: Bearer {admin_token}' {url}/api/v1/reports/capacity",
        ca.display()
    );
    println!("  curl --cacert {} {url}/api/v1/openapi.json", ca.display());
    if exit_after_inventory {
        let _ = stop_tx.send(());
        server.await??;
        return Ok(());
    }
    println!("\nThe local agent keeps reporting every minute. Ctrl-C stops both.");
    let mut daemon = agent(&["run"]).kill_on_drop(true).spawn()?;
    crate::cli::shutdown_signal().await;
    let _ = daemon.start_kill();
    let _ = daemon.wait().await;
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(15), server).await???;
    Ok(())
}
