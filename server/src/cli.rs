//! The `cmdb-server` command line: the subcommands and what each does. `main.rs` only parses
//! the arguments, sets up logging and the runtime, and turns the outcome into an exit code.
//!
//! `impact` and `graph-check` are clients of a running server (its REST API, over TLS with
//! the server's CA); the others work on a data directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::setup;
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "cmdb-server",
    version,
    about = "The CMDB server: configuration items, history, API"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: config file, CA and server certificate, first tokens.
    Init {
        /// Directory to create (the database and certificates live here).
        #[arg(long)]
        data_dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Extra DNS name or IP address for the server certificate (repeatable).
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Storage engine: surrealkv, memory, or ws://HOST:PORT / wss://HOST:PORT (remote SurrealDB).
        #[arg(long, default_value = "surrealkv")]
        engine: String,
        /// User of a remote SurrealDB; the password is read from CMDB_SURREAL_PASSWORD.
        #[arg(long)]
        storage_user: Option<String>,
        /// Where that user is defined: root, namespace or database (storage.auth_level;
        /// default root). A database user needs the EDITOR role on storage.database.
        #[arg(long, requires = "storage_user")]
        storage_auth_level: Option<String>,
        /// Print the result as one JSON object (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Run the server.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate a config file and exit (systemd ExecStartPre).
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The server certificate.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
    /// Initialise (if needed) a data directory, start the server, enroll and run a local
    /// agent, and print the URL and an admin token.
    Quickstart {
        /// Data directory.
        #[arg(long, default_value = "cmdb-data")]
        data_dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// The agent binary (default: cmdb-agent next to this binary).
        #[arg(long)]
        agent_bin: Option<PathBuf>,
        /// Exit after the first inventory instead of serving until Ctrl-C.
        #[arg(long)]
        exit_after_inventory: bool,
    },
    /// Impact analysis against a running server: what fails and what degrades if these CIs
    /// fail, with paths and the business services hit.
    Impact {
        /// CI ids or unique names.
        #[arg(required = true)]
        cis: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
        format: OutputFormat,
        /// Stop propagating this many hops from a failed CI.
        #[arg(long)]
        max_depth: Option<u32>,
        /// Affected CIs to skip, in (depth, id) order (paging; the JSON answer's
        /// `next_offset` is the next page's).
        #[arg(long)]
        offset: Option<usize>,
        /// Affected CIs to list, at most the server's `relationships.max_impact_items`. JSON
        /// lists 1,000 unless asked; CSV and DOT list every one. Counts and business services
        /// are always whole.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Compare a running server's in-memory relationship index with storage; exits 1 when
    /// they differ.
    GraphCheck {
        #[command(flatten)]
        remote: Remote,
    },
    /// Availability or capacity report from a running server.
    Report {
        /// Which report.
        #[arg(value_enum)]
        kind: ReportKind,
        /// Start of the period (availability), RFC 3339 or unix seconds; default 30 days ago.
        #[arg(long)]
        from: Option<String>,
        /// End of the period (availability), exclusive; default now.
        #[arg(long)]
        to: Option<String>,
        /// Only these CIs (ids, repeatable).
        #[arg(long)]
        ci: Vec<String>,
        /// Only CIs of this class.
        #[arg(long)]
        class: Option<String>,
        /// Availability: a business service (id) and what it depends on.
        #[arg(long)]
        service: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Json)]
        format: ReportFormat,
        #[command(flatten)]
        remote: Remote,
    },
}

/// The reports `report` prints.
#[derive(Clone, Copy, ValueEnum)]
enum ReportKind {
    Availability,
    Capacity,
}

/// Output formats of `report`.
#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Json,
    Csv,
}

/// Output formats of `impact`.
#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Json,
    Csv,
    Dot,
}

/// How to reach a running server.
#[derive(Args)]
struct Remote {
    /// The server's config file: its address and CA are used.
    #[arg(long, conflicts_with = "url")]
    config: Option<PathBuf>,
    /// Server URL (default https://127.0.0.1:8443).
    #[arg(long)]
    url: Option<String>,
    /// CA certificate (PEM) the server's certificate is checked against (default: the data
    /// directory's tls/ca.pem with --config).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// File holding the API token (viewer for impact and reports, editor for graph-check);
    /// `-` reads it from standard input. Default: the CMDB_TOKEN environment variable.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// No longer accepted: every user of the host can read a process's arguments.
    #[arg(long, hide = true)]
    token: Option<String>,
}

impl Remote {
    /// The API token: from --token-file (a file, or `-` for standard input), else CMDB_TOKEN.
    fn token(&self) -> anyhow::Result<String> {
        if self.token.is_some() {
            bail!(
                "--token: a token is not accepted on the command line (every user of the host can read it); use --token-file PATH, --token-file - (standard input) or the CMDB_TOKEN environment variable"
            );
        }
        let raw = match &self.token_file {
            Some(p) if p.as_os_str() == "-" => {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .context("--token-file -: cannot read standard input")?;
                s
            }
            Some(p) => std::fs::read_to_string(p)
                .with_context(|| format!("--token-file: cannot read {}", p.display()))?,
            None => match std::env::var("CMDB_TOKEN") {
                Ok(v) => v,
                Err(std::env::VarError::NotPresent) => bail!(
                    "give the API token with --token-file PATH, --token-file - (standard input) or CMDB_TOKEN"
                ),
                Err(std::env::VarError::NotUnicode(_)) => bail!("CMDB_TOKEN: not valid UTF-8"),
            },
        };
        let token = raw.trim();
        if token.is_empty() {
            bail!("the API token is empty");
        }
        Ok(token.to_string())
    }

    /// Base URL and an HTTP client trusting the server's CA.
    fn client(&self) -> anyhow::Result<(String, reqwest::Client)> {
        let (url, ca) = match &self.config {
            Some(path) => {
                let cfg = Config::load(path)?;
                let scheme = if cfg.tls.enabled { "https" } else { "http" };
                let ca = cfg.tls.enabled.then(|| cfg.data_dir.join("tls/ca.pem"));
                (format!("{scheme}://{}", cfg.listen), self.ca.clone().or(ca))
            }
            None => (
                self.url
                    .clone()
                    .unwrap_or_else(|| "https://127.0.0.1:8443".into()),
                self.ca.clone(),
            ),
        };
        let url = url.trim_end_matches('/').to_string();
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .no_proxy()
            .user_agent(concat!("cmdb-server/", env!("CARGO_PKG_VERSION")));
        if url.starts_with("https://") {
            let ca = ca.context(
                "--ca: the server's CA certificate is needed for https (or give --config)",
            )?;
            let mut roots = rustls::RootCertStore::empty();
            use rustls_pki_types::pem::PemObject;
            for cert in rustls_pki_types::CertificateDer::pem_file_iter(&ca)
                .with_context(|| format!("cannot read {}", ca.display()))?
            {
                roots
                    .add(cert.with_context(|| format!("{}: not a PEM certificate", ca.display()))?)
                    .with_context(|| format!("{}: unusable certificate", ca.display()))?;
            }
            let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
            b = b.use_preconfigured_tls(tls).https_only(true);
        } else if !url.starts_with("http://") {
            bail!("--url: expected http:// or https://, got {url:?}");
        }
        Ok((url, b.build()?))
    }
}

/// Sends a request and returns the body, or fails with the server's reason.
async fn call(req: reqwest::RequestBuilder) -> anyhow::Result<String> {
    let res = req.send().await.context("cannot reach the server")?;
    let status = res.status();
    let body = res.text().await.context("reading the answer")?;
    if !status.is_success() {
        let reason = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or(body);
        bail!("server answered {status}: {reason}");
    }
    Ok(body)
}

#[derive(Subcommand)]
enum CertCommand {
    /// A new server certificate signed by the data directory's CA (the one `init` made and
    /// agents pinned), written over the configured one; restart the server to use it.
    Renew {
        #[arg(long)]
        config: PathBuf,
        /// Extra DNS name or IP address (repeatable; localhost, loopback, this host's name
        /// and the listen address are always included).
        #[arg(long = "name")]
        names: Vec<String>,
        /// Validity in days from now (1 to 3650).
        #[arg(long, default_value_t = 825, value_parser = clap::value_parser!(u32).range(1..=3650))]
        days: u32,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token directly in the data directory (server stopped, or remote storage).
    /// While the server runs, use POST /api/v1/tokens with an admin token instead.
    Create {
        #[arg(long)]
        config: PathBuf,
        /// admin, editor, viewer or enroll.
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "created by the command line")]
        description: String,
        /// Lifetime in seconds (default: never expires).
        #[arg(long)]
        expires_in_secs: Option<u64>,
        /// Enrollment tokens: how many agents may enroll with it (default: any number).
        #[arg(long)]
        max_uses: Option<u64>,
        /// Enrollment tokens: credentials of agents enrolled with it expire this many seconds
        /// after enrollment (default: never).
        #[arg(long)]
        agent_expires_in_secs: Option<u64>,
    },
}

/// Runs one subcommand to its end.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let cmd = cli.command;
    match cmd {
        Command::Impact {
            cis,
            format,
            max_depth,
            offset,
            limit,
            remote,
        } => {
            let (url, client) = remote.client()?;
            let token = remote.token()?;
            let format = match format {
                OutputFormat::Json => "json",
                OutputFormat::Csv => "csv",
                OutputFormat::Dot => "dot",
            };
            let body = call(
                client
                    .post(format!("{url}/api/v1/impact"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({
                        "cis": cis, "max_depth": max_depth, "format": format,
                        "offset": offset, "limit": limit,
                    })),
            )
            .await?;
            print!("{body}");
            if format == "json" {
                println!();
            }
            Ok(())
        }
        Command::Report {
            kind,
            from,
            to,
            ci,
            class,
            service,
            format,
            remote,
        } => {
            let (url, client) = remote.client()?;
            let token = remote.token()?;
            let (path, mut query) = match kind {
                ReportKind::Availability => ("availability", Vec::new()),
                ReportKind::Capacity => ("capacity", Vec::new()),
            };
            if matches!(kind, ReportKind::Capacity)
                && (from.is_some() || to.is_some() || service.is_some())
            {
                bail!("--from, --to and --service apply to the availability report only");
            }
            for (k, v) in [
                ("from", from),
                ("to", to),
                ("class", class),
                ("service", service),
            ] {
                if let Some(v) = v {
                    query.push((k, v));
                }
            }
            if !ci.is_empty() {
                query.push(("ci", ci.join(",")));
            }
            query.push((
                "format",
                match format {
                    ReportFormat::Json => "json",
                    ReportFormat::Csv => "csv",
                }
                .to_string(),
            ));
            let body = call(
                client
                    .get(format!("{url}/api/v1/reports/{path}"))
                    .query(&query)
                    .bearer_auth(&token),
            )
            .await?;
            if matches!(format, ReportFormat::Json) {
                let v: serde_json::Value = serde_json::from_str(&body)?;
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{body}");
            }
            Ok(())
        }
        Command::GraphCheck { remote } => {
            let (url, client) = remote.client()?;
            let token = remote.token()?;
            let body = call(
                client
                    .get(format!("{url}/api/v1/graph/check"))
                    .bearer_auth(&token),
            )
            .await?;
            let v: serde_json::Value = serde_json::from_str(&body)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            if v.get("consistent").and_then(serde_json::Value::as_bool) != Some(true) {
                bail!("the relationship index differs from storage");
            }
            Ok(())
        }
        Command::Init {
            data_dir,
            listen,
            sans,
            engine,
            storage_user,
            storage_auth_level,
            json,
        } => {
            let (out, _store) = setup::init(
                &data_dir,
                listen,
                &sans,
                &engine,
                storage_user.as_deref(),
                storage_auth_level.as_deref(),
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_init(&out);
            }
            Ok(())
        }
        Command::Serve { config } => {
            let cfg = Config::load(&config)?;
            let listener = std::net::TcpListener::bind(cfg.listen)
                .with_context(|| format!("cannot listen on {}", cfg.listen))?;
            crate::run(cfg, listener, shutdown_signal()).await?;
            Ok(())
        }
        Command::Cert {
            command:
                CertCommand::Renew {
                    config,
                    names,
                    days,
                },
        } => {
            let cfg = Config::load(&config)?;
            let path = crate::setup::renew_certificate(&cfg, &names, days)?;
            // Prove it loads before saying so.
            crate::pki::server_config(&path, &cfg.resolve(&cfg.tls.key))?;
            println!(
                "renewed {} for {days} days; restart cmdb-server to serve it",
                path.display()
            );
            Ok(())
        }
        Command::CheckConfig { config } => {
            let cfg = Config::load(&config)?;
            if cfg.tls.enabled {
                crate::pki::server_config(&cfg.resolve(&cfg.tls.cert), &cfg.resolve(&cfg.tls.key))?;
            }
            println!("{}: ok", config.display());
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    config,
                    role,
                    description,
                    expires_in_secs,
                    max_uses,
                    agent_expires_in_secs,
                },
        } => {
            let cfg = Config::load(&config)?;
            let req = crate::access::NewToken {
                role,
                description,
                expires_in_secs,
                expires_at: None,
                max_uses,
                agent_expires_in_secs,
            };
            let token = setup::create_token(&cfg, &req).await?;
            println!("{token}");
            Ok(())
        }
        Command::Quickstart {
            data_dir,
            listen,
            agent_bin,
            exit_after_inventory,
        } => setup::quickstart(&data_dir, listen, agent_bin, exit_after_inventory).await,
    }
}

fn print_init(out: &setup::InitOutput) {
    println!("Initialised. These tokens are shown once; the server keeps only their hashes.\n");
    println!("  config:          {}", out.config.display());
    println!("  url:             {}", out.url);
    println!("  CA certificate:  {}", out.ca_cert.display());
    println!("  CA fingerprint:  {}", out.ca_fingerprint);
    println!("  admin token:     {}", out.admin_token);
    println!("  enroll token:    {}", out.enroll_token);
    println!(
        "\nStart it:  cmdb-server serve --config {}",
        out.config.display()
    );
    println!(
        "Enroll an agent:  put the enroll token in a root-only file (umask 077), then\n                  cmdb-agent enroll --server {} --token-file FILE --ca-fingerprint {}",
        out.url, out.ca_fingerprint
    );
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install SIGTERM handler");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("shutting down");
}
