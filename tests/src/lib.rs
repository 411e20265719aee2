//! Harness for whole-system tests: starts the real `cmdb-server` and `cmdb-agent` binaries
//! on 127.0.0.1 with temporary data directories, waits for `/healthz` with a deadline, kills
//! them on drop and prints their logs when a test fails.
//!
//! The binaries are looked up next to the test executable's `deps/` directory, so run
//! `cargo build --bins` before the tests (the test script does).

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

pub mod estate;
pub mod fleet;
pub mod load;
pub mod seed;
pub mod snmp;

/// Path of a workspace binary built in the same target directory as the tests.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // Test executables live in target/<profile>/deps, binaries in target/<profile>.
    let here = exe.parent().expect("exe dir");
    let p = if here.ends_with("deps") {
        here.parent().expect("profile dir").join(name)
    } else {
        here.join(name)
    };
    assert!(
        p.exists(),
        "{} not found: run `cargo build --bins` before the tests",
        p.display()
    );
    p
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// What `cmdb-server init --json` prints.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct InitOutput {
    pub config: PathBuf,
    pub url: String,
    pub ca_cert: PathBuf,
    pub ca_fingerprint: String,
    pub admin_token: String,
    pub enroll_token: String,
}

/// A running (or stopped) `cmdb-server` with its own data directory.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub init: InitOutput,
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
    starts: u32,
    env: Vec<(String, String)>,
}

impl Server {
    /// Initialises a data directory (TLS, SurrealKV) and starts the server.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(&[], &[])
    }

    /// Like [`Server::start`], with extra `init` arguments and environment for both processes.
    pub fn start_with(init_args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_in(None, init_args, env)
    }

    /// Like [`Server::start_with`], its directory made in `parent` and never removed (else in
    /// the system's temporary directory, removed on drop); `init --json`'s answer is saved
    /// there as `init.json`, so [`Server::reopen`] can start it again after [`Server::keep`].
    pub fn start_in(
        parent: Option<&Path>,
        init_args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let dir = match parent {
            Some(p) => {
                std::fs::create_dir_all(p)?;
                // Asked for a place of its own: kept even when the caller fails half-way.
                let mut dir = tempfile::Builder::new().prefix("cmdb-").tempdir_in(p)?;
                dir.disable_cleanup(true);
                dir
            }
            None => tempfile::tempdir()?,
        };
        let port = free_port();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let out = Command::new(bin("cmdb-server"))
            .args(["init", "--json", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(init_args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("CMDB_LOG", "warn")
            .output()?;
        if !out.status.success() {
            bail!("init failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let init: InitOutput = serde_json::from_slice(&out.stdout).context("init --json output")?;
        std::fs::write(dir.path().join("init.json"), &out.stdout)?;
        Self::launch(dir, init, port, env)
    }

    /// A server kept by [`Server::keep`], on its data, port and tokens, not started: start it
    /// with [`Server::resume_within`]. The directory stays when the handle is dropped.
    pub fn reopen(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read(path.join("init.json"))
            .with_context(|| format!("{}: not a kept server directory", path.display()))?;
        let init: InitOutput = serde_json::from_slice(&text).context("init.json")?;
        let port = init
            .url
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .context("init.json: url without a port")?;
        // The kept directory stays where it is; the handle's own directory is a scratch one.
        Ok(Self {
            dir: tempfile::tempdir()?,
            init,
            port,
            child: None,
            log: path.join("server.log"),
            starts: 0,
            env: Vec::new(),
        })
    }

    /// Stops the server and keeps its directory (data, config, certificates, tokens):
    /// its path, for [`Server::reopen`].
    pub fn keep(mut self) -> anyhow::Result<PathBuf> {
        self.stop()?;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir()?);
        Ok(dir.keep())
    }

    /// Starts a server whose data directory is in `dir` (its log goes there too).
    fn launch(
        dir: tempfile::TempDir,
        init: InitOutput,
        port: u16,
        env: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        let log = dir.path().join("server.log");
        let mut s = Self {
            dir,
            init,
            port,
            child: None,
            log,
            starts: 0,
            env,
        };
        s.resume()?;
        Ok(s)
    }

    /// Starts the server process again on the same data directory and port.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        self.resume_within(Duration::from_secs(60))
    }

    /// [`Server::resume`], waiting up to `timeout` for `/healthz` (a large database loads
    /// for a while).
    pub fn resume_within(&mut self, timeout: Duration) -> anyhow::Result<()> {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(bin("cmdb-server"))
            .arg("serve")
            .arg("--config")
            .arg(&self.init.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            // A CMDB_LOG among the server's own variables, or CMDB_SERVER_LOG here, replaces
            // the filter (a benchmark that wants SurrealKV's flushes in the log, say).
            .env(
                "CMDB_LOG",
                self.env
                    .iter()
                    .find(|(k, _)| k == "CMDB_LOG")
                    .map(|(_, v)| v.clone())
                    .or_else(|| std::env::var("CMDB_SERVER_LOG").ok())
                    .unwrap_or_else(|| {
                        "info,surrealdb=warn,surrealdb_core=warn,surrealkv=warn".into()
                    }),
            )
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()?;
        self.child = Some(child);
        self.wait_healthy(timeout)
    }

    /// Stops the server with SIGTERM (graceful) and waits for it.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        self.stop_within(Duration::from_secs(20))
    }

    /// [`Server::stop`], waiting up to `timeout` (closing a large database writes its
    /// memtables out); then SIGKILL and an error.
    pub fn stop_within(&mut self, timeout: Duration) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            let pid = c.id().to_string();
            Command::new("kill").args(["-TERM", &pid]).status()?;
            let deadline = Instant::now() + timeout;
            loop {
                if c.try_wait()?.is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    bail!("server did not stop within {timeout:?} of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// Kills the server with SIGKILL: no shutdown, no flush; what it acknowledged must
    /// already be durable.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    fn wait_healthy(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let client = self.client()?;
        let url = format!("{}/healthz", self.url());
        let rt = rt();
        loop {
            if let Some(c) = self.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                bail!("server exited with {status}: {}", self.logs());
            }
            let ok = rt.block_on(async {
                client
                    .get(&url)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
            });
            if let Ok(true) = ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("server not healthy within {timeout:?}: {}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// The running server process's id.
    pub fn pid(&self) -> Option<u32> {
        Some(self.child.as_ref()?.id())
    }

    /// The server process's resident memory now and its peak so far (`VmRSS`, `VmHWM`),
    /// in KiB, from /proc.
    pub fn memory_kib(&self) -> Option<(u64, u64)> {
        proc_memory_kib(&format!("/proc/{}/status", self.pid()?))
    }

    /// The server process's CPU time so far (user + system), from /proc.
    pub fn cpu_seconds(&self) -> Option<f64> {
        proc_cpu_seconds(self.child.as_ref()?.id())
    }

    /// Another instance of this server on the same (remote) database, as an operator makes
    /// one: a copy of the configuration and certificates in a data directory of its own, on
    /// its own port, named `instance` (`cluster.instance`). Started and healthy.
    pub fn replica(&self, instance: &str) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        copy_tree(&self.dir.path().join("data/tls"), &data.join("tls"))?;
        let text = std::fs::read_to_string(&self.init.config)?;
        let mut named = false;
        let mut out = String::new();
        for line in text.lines() {
            let l = if line.starts_with("listen = ") {
                format!("listen = \"127.0.0.1:{port}\"")
            } else if line.starts_with("data_dir = ") {
                format!("data_dir = \"{}\"", data.display())
            } else if line.starts_with("instance = ") {
                named = true;
                format!("instance = \"{instance}\"")
            } else {
                line.to_string()
            };
            out.push_str(&l);
            out.push('\n');
        }
        if !named {
            out.push_str(&format!("\n[cluster]\ninstance = \"{instance}\"\n"));
        }
        let config = data.join("server.toml");
        std::fs::write(&config, out)?;
        let mut init = self.init.clone();
        init.config = config;
        init.ca_cert = data.join("tls/ca.pem");
        init.url = format!("https://127.0.0.1:{port}");
        Self::launch(dir, init, port, self.env.clone())
    }

    /// A handle on this server's API reached through `port` (a load balancer in front of
    /// it): same CA and tokens, no process of its own.
    pub fn replica_view(&self, port: u16) -> Server {
        Server {
            dir: tempfile::tempdir().expect("dir"),
            init: self.init.clone(),
            port,
            child: None,
            log: self.log.clone(),
            starts: 0,
            env: self.env.clone(),
        }
    }

    /// Rewrites the server's config file with `f` and restarts it.
    pub fn rewrite_config(&mut self, f: impl FnOnce(String) -> String) -> anyhow::Result<()> {
        self.stop()?;
        let text = std::fs::read_to_string(&self.init.config)?;
        std::fs::write(&self.init.config, f(text))?;
        self.resume()
    }

    /// Appends `toml` to the server's config file and restarts it.
    pub fn configure(&mut self, toml: &str) -> anyhow::Result<()> {
        self.stop()?;
        let mut text = std::fs::read_to_string(&self.init.config)?;
        text.push('\n');
        text.push_str(toml);
        std::fs::write(&self.init.config, text)?;
        self.resume()
    }

    /// A maker of HTTP clients, one per agent (by its token), that keep no connection
    /// between requests: each request opens its own TCP connection and TLS session, as an
    /// agent delivering every few minutes does. Like an agent daemon, each simulated agent
    /// keeps its own client, and so its own TLS session store: it resumes with the tickets
    /// the server gave it, not with ones another agent left in a shared store (where 64
    /// connections at once run the store dry and some fall back to a full handshake).
    pub fn client_builder(
        &self,
    ) -> anyhow::Result<impl Fn(&str) -> anyhow::Result<reqwest::Client> + Send + Sync + 'static>
    {
        let tls = self.tls_config()?;
        let clients = std::sync::Mutex::new(HashMap::<String, reqwest::Client>::new());
        Ok(move |agent: &str| {
            let mut clients = clients
                .lock()
                .map_err(|_| anyhow::anyhow!("client cache poisoned"))?;
            if let Some(c) = clients.get(agent) {
                return Ok(c.clone());
            }
            let mut own = tls.clone();
            own.resumption = rustls::client::Resumption::in_memory_sessions(8);
            let c = reqwest::Client::builder()
                .use_preconfigured_tls(own)
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(60))
                .no_proxy()
                .build()?;
            clients.insert(agent.to_string(), c.clone());
            Ok(c)
        })
    }

    /// A rustls client configuration trusting only this server's CA.
    pub fn tls_config(&self) -> anyhow::Result<rustls::ClientConfig> {
        let pem = std::fs::read(&self.init.ca_cert)?;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
            roots.add(c?)?;
        }
        Ok(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
        )
    }

    /// An HTTP client trusting only this server's CA.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        let pem = std::fs::read(&self.init.ca_cert)?;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
            roots.add(c?)?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()?)
    }

    /// POST of a JSON body with the admin token; the answer, or an error unless it is a
    /// success.
    pub fn post_ok(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let (status, v) = self.request(
            "POST",
            path,
            &self.init.admin_token,
            Some(body.to_string().into_bytes()),
            &[],
        )?;
        if !(200..300).contains(&status) {
            bail!("POST {path} {body}: {status} {v}");
        }
        Ok(v)
    }

    /// GET with the admin token; returns (status, JSON body).
    pub fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.request("GET", path, &self.init.admin_token, None, &[])
    }

    /// Any request; `body` is sent as is.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(u16, Value)> {
        let client = self.client()?;
        let url = format!("{}{}", self.url(), path);
        rt().block_on(async {
            let mut req = client.request(method.parse()?, &url);
            if !token.is_empty() {
                req = req.bearer_auth(token);
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = body {
                req = req.header("content-type", "application/json").body(b);
            }
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let text = resp.text().await?;
            let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
            Ok((status, v))
        })
    }

    /// The server's log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Enrolls an agent through the API with the fleet token, as anyone holding it can (a
    /// simulated agent, an attacker); returns its credential.
    pub fn enroll_via_api(&self, hostname: &str) -> anyhow::Result<String> {
        let body = serde_json::to_vec(&cmdb_shared::EnrollRequest {
            hostname: hostname.into(),
            agent_version: "simulated".into(),
        })?;
        let (status, v) = self.request(
            "POST",
            "/api/v1/enroll",
            &self.init.enroll_token,
            Some(body),
            &[],
        )?;
        if status != 200 {
            bail!("enroll: {status} {v}");
        }
        Ok(v["token"].as_str().context("token")?.to_string())
    }

    /// Creates an API token through the API with the admin token; returns (id, token).
    pub fn create_token(&self, role: &str, description: &str) -> anyhow::Result<(String, String)> {
        self.create_token_with(serde_json::json!({"role": role, "description": description}))
    }

    /// Creates a token from a whole `POST /api/v1/tokens` body; returns (id, token).
    pub fn create_token_with(&self, body: Value) -> anyhow::Result<(String, String)> {
        let body = body.to_string();
        let (status, created) = self.request(
            "POST",
            "/api/v1/tokens",
            &self.init.admin_token,
            Some(body.into_bytes()),
            &[],
        )?;
        if status != 201 {
            bail!("create token: {status} {created}");
        }
        let field = |k: &str| {
            created[k]
                .as_str()
                .map(str::to_string)
                .context(k.to_string())
        };
        Ok((field("id")?, field("token")?))
    }

    /// The only host CI's id (fails unless there is exactly one).
    pub fn only_host(&self) -> anyhow::Result<String> {
        let (status, page) = self.get("/api/v1/cis?class=host")?;
        if status != 200 {
            bail!("list CIs: {status} {page}");
        }
        let items = page["items"].as_array().context("items")?;
        if items.len() != 1 {
            bail!("expected exactly one host CI, got {}: {page}", items.len());
        }
        Ok(items[0]["key"].as_str().context("key")?.to_string())
    }

    /// History records of a CI.
    pub fn history(&self, ci: &str) -> anyhow::Result<Vec<Value>> {
        let (status, v) = self.get(&format!("/api/v1/cis/{ci}/history"))?;
        if status != 200 {
            bail!("history: {status} {v}");
        }
        Ok(v.as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- cmdb-server log ----\n{}", self.logs());
        }
    }
}

/// A `cmdb-agent` with its own config and state directory.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    daemon: Option<Child>,
    log: PathBuf,
}

impl Agent {
    /// An agent reading under `root` (`/` for this host), reporting every `interval_secs`.
    pub fn new(root: &Path, interval_secs: u64) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("agent.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{}\"\nroot = \"{}\"\n[delivery]\ninterval_secs = {interval_secs}\nfull_interval_secs = 86400\nbackoff_max_secs = 2\ntimeout_secs = 10\n",
                dir.path().join("state").display(),
                root.display()
            ),
        )?;
        let log = dir.path().join("agent.log");
        Ok(Self {
            dir,
            config,
            daemon: None,
            log,
        })
    }

    /// Runs one agent command to completion; returns (success, stdout+stderr).
    pub fn cmd(&self, args: &[&str]) -> anyhow::Result<(bool, String)> {
        self.cmd_with(args, &[], None)
    }

    /// [`Agent::cmd`] with extra environment variables and, if given, text on standard input.
    pub fn cmd_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> anyhow::Result<(bool, String)> {
        let mut child = Command::new(bin("cmdb-agent"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env("CMDB_LOG", "info")
            .env_remove("CMDB_ENROLL_TOKEN")
            .envs(env.iter().copied())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            std::io::Write::write_all(&mut pipe, text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(self.dir.path().join("last-command.log"), &text)?;
        Ok((out.status.success(), text))
    }

    /// Writes a secret to a file only its owner can read, in the agent's directory; its path.
    pub fn secret_file(&self, name: &str, secret: &str) -> anyhow::Result<PathBuf> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.path().join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        std::io::Write::write_all(&mut f, format!("{secret}\n").as_bytes())?;
        Ok(path)
    }

    /// `enroll` with `token` (read from a token file), pinning the server's CA file;
    /// returns (success, output).
    pub fn try_enroll(&self, server: &Server, token: &str) -> anyhow::Result<(bool, String)> {
        let ca = server.init.ca_cert.display().to_string();
        let file = self.secret_file("enroll-token", token)?;
        let file = file.display().to_string();
        self.cmd(&[
            "enroll",
            "--server",
            &server.url(),
            "--token-file",
            &file,
            "--ca-cert",
            &ca,
        ])
    }

    /// Enrolls with the server's enrollment token, pinning its CA file.
    pub fn enroll(&self, server: &Server) -> anyhow::Result<()> {
        let (ok, out) = self.try_enroll(server, &server.init.enroll_token)?;
        if !ok {
            bail!("enroll failed: {out}");
        }
        Ok(())
    }

    /// `run --once`; fails unless everything was delivered.
    pub fn run_once(&self) -> anyhow::Result<String> {
        let (ok, out) = self.cmd(&["run", "--once"])?;
        if !ok {
            bail!("run --once failed: {out}");
        }
        Ok(out)
    }

    /// Starts `cmdb-agent run` in the background.
    pub fn start_daemon(&mut self) -> anyhow::Result<()> {
        let log = std::fs::File::create(&self.log)?;
        self.daemon = Some(
            Command::new(bin("cmdb-agent"))
                .arg("run")
                .arg("--config")
                .arg(&self.config)
                .env("CMDB_LOG", "info")
                .stdout(Stdio::from(log.try_clone()?))
                .stderr(Stdio::from(log))
                .spawn()?,
        );
        Ok(())
    }

    /// The agent's bearer token (from its state directory, after enrollment).
    pub fn token(&self) -> anyhow::Result<String> {
        let cred: Value = serde_json::from_slice(&std::fs::read(
            self.dir.path().join("state/credential.json"),
        )?)?;
        Ok(cred["token"].as_str().context("token")?.to_string())
    }

    /// Files waiting in the spool.
    pub fn spooled(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("state/spool"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json.zst"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Inventory reports waiting in the spool (host reports, full or delta: not metric
    /// batches nor device polls).
    pub fn spooled_reports(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("state/spool"))
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.ends_with("-full.json.zst") || n.ends_with("-delta.json.zst")
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// The daemon's log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- cmdb-agent log ----\n{}\n---- last command ----\n{}",
                self.logs(),
                std::fs::read_to_string(self.dir.path().join("last-command.log"))
                    .unwrap_or_default()
            );
        }
    }
}

/// CPU time (user + system) process `pid` has spent so far, from /proc.
pub fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// `VmRSS` and `VmHWM` (KiB) of a `/proc/<pid>/status` file (`/proc/self/status`: this
/// process).
pub fn proc_memory_kib(status: &str) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(status).ok()?;
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Polls `f` until it returns `Some`, or fails after `timeout`.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("condition not met within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A small current-thread runtime for blocking test code.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Copies a directory tree (fixture roots are copied so tests can change them).
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status()?;
    if !status.success() {
        bail!("cp -a {} {} failed", from.display(), to.display());
    }
    Ok(())
}

/// A real SurrealDB server (`surreal start … memory`), for the remote storage mode. Built by
/// the test script from `tools/surreal`.
pub struct Surreal {
    pub port: u16,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// Root password of the test SurrealDB.
pub const SURREAL_PASSWORD: &str = "cmdb-test-root-password";

impl Surreal {
    /// Starts `surreal` (in memory) on a free loopback port and waits until it accepts
    /// connections.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_on(tempfile::tempdir()?, free_port(), false)
    }

    /// The same on disk (SurrealKV in its temp dir), so it can be killed and restarted.
    pub fn start_persistent() -> anyhow::Result<Self> {
        Self::start_on(tempfile::tempdir()?, free_port(), true)
    }

    /// SIGKILL, then (after `after`) a new process on the same port and data.
    pub fn kill9_and_restart(&mut self, after: Duration) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        std::thread::sleep(after);
        self.child = Self::spawn(self._dir.path(), self.port, true, &self.log)?;
        self.wait_listening()
    }

    /// `surreal start` in `dir` on `port`, in memory or on disk.
    fn start_on(dir: tempfile::TempDir, port: u16, persistent: bool) -> anyhow::Result<Self> {
        let log = dir.path().join("surreal.log");
        let child = Self::spawn(dir.path(), port, persistent, &log)?;
        let mut s = Self {
            port,
            child,
            log,
            _dir: dir,
        };
        s.wait_listening()?;
        Ok(s)
    }

    fn spawn(dir: &Path, port: u16, persistent: bool, log: &Path) -> anyhow::Result<Child> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let store = if persistent {
            format!("surrealkv://{}", dir.join("db").display())
        } else {
            "memory".to_string()
        };
        Ok(Command::new(bin("surreal"))
            .args(["start", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .args([
                "--user",
                "root",
                "--pass",
                SURREAL_PASSWORD,
                "--no-banner",
                &store,
            ])
            .stdout(Stdio::from(f.try_clone()?))
            .stderr(Stdio::from(f))
            .spawn()?)
    }

    fn wait_listening(&mut self) -> anyhow::Result<()> {
        let port = self.port;
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = self.child.try_wait()? {
                bail!("surreal exited with {status}: {}", self.logs());
            }
            if Instant::now() > deadline {
                bail!("surreal not listening within 60 s: {}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// The `surreal` process's CPU time so far (user + system), from /proc.
    pub fn cpu_seconds(&self) -> Option<f64> {
        proc_cpu_seconds(self.child.id())
    }

    /// The WebSocket endpoint cmdb-server connects to.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Its log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs SurrealQL as root through the HTTP `/sql` endpoint (no namespace or database
    /// selected: the statements `USE` what they need). Fails on the first statement that
    /// failed; returns the results.
    pub fn sql(&self, sql: &str) -> anyhow::Result<Vec<Value>> {
        // Plain HTTP to loopback; the TLS settings are only there to build a client.
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()?;
        let url = format!("http://127.0.0.1:{}/sql", self.port);
        let body = rt().block_on(async {
            let r = client
                .post(&url)
                .basic_auth("root", Some(SURREAL_PASSWORD))
                .header("Accept", "application/json")
                .body(sql.to_string())
                .send()
                .await?;
            let status = r.status();
            let text = r.text().await?;
            anyhow::ensure!(
                status.is_success(),
                "surreal /sql answered {status}: {text}"
            );
            anyhow::Ok(text)
        })?;
        let results: Vec<Value> = serde_json::from_str(&body).context("surreal /sql answer")?;
        if let Some(failed) = results.iter().find(|r| r["status"] != "OK") {
            bail!("surreal /sql: {failed}");
        }
        Ok(results)
    }
}

impl Drop for Surreal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- surreal log ----\n{}", self.logs());
        }
    }
}
