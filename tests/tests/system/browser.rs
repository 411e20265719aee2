//! The web UI in a real browser: headless Chromium (Debian's `chromium`) driven over WebDriver
//! by Debian's `chromium-driver`, against the real server with a host a real agent reported.
//! `scripts/test.sh` installs both packages; without `chromedriver` these tests fail, naming
//! the package, rather than skip.
//!
//! The harness is [`Browser`]: one Chromium session per test, pages addressed by their path
//! on the test's server, screenshots under `target-artifacts/screenshots/`, and the browser's
//! console (where CSP violations and failed loads show up) read after each page.
//!
//! Two worlds: [`World`], a server with this machine as a real agent reported it; and
//! [`Network`], the same plus a Cisco Nexus 5548 and the HPE ProCurve cabled to it, polled by
//! the real agent from snmpsim's recordings of those devices, with a business service whose
//! application runs on this host, itself cabled to the Nexus.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use cmdb_tests::snmp::{Snmpsim, text};
use cmdb_tests::{Agent, Server, free_port, wait_for};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sha2::Digest;

use crate::common::{N5000, PROCURVE, SYS_NAME};

/// Where screenshots go: `<workspace>/target-artifacts/screenshots/` (ignored by git).
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace dir")
        .join("target-artifacts/screenshots")
}

/// A program on `PATH`, if any.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// base64(SHA-256(SubjectPublicKeyInfo)) of the server's own certificate (the first of
/// `tls/server.pem`), the form Chromium's `--ignore-certificate-errors-spki-list` takes.
fn server_spki_hash(server: &Server) -> anyhow::Result<String> {
    let tls = server.init.ca_cert.parent().context("tls dir")?;
    let pem = std::fs::read(tls.join("server.pem"))?;
    let der = rustls_pki_types::pem::PemObject::pem_slice_iter(&pem)
        .next()
        .context("no certificate in server.pem")??;
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let spki = cert.subject_public_key_info();
    Ok(base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(spki.as_ref())))
}

/// How a [`Browser`] is started.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    On,
    /// JavaScript blocked by Chromium's content setting, as for a user who turned it off.
    Off,
}

/// chromedriver's legacy log endpoint (`POST /session/{id}/se/log`, `{"type": "browser"}`):
/// the browser console's entries since the last call. W3C WebDriver has no log command and
/// fantoccini none either, chromedriver still answers this one.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// A headless Chromium session on a test server; blocking methods, so tests read top down.
pub struct Browser {
    base: String,
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    dir: tempfile::TempDir,
    /// Console entries of every page so far, "LEVEL message" (see [`Browser::console_errors`]).
    console: Vec<String>,
}

impl Browser {
    /// Starts chromedriver on a free port and a Chromium session for `server`.
    pub fn start(server: &Server, scripts: Scripts) -> anyhow::Result<Self> {
        let chromedriver = which("chromedriver").context(
            "chromedriver not found: install the Debian package `chromium-driver` \
             (scripts/test.sh installs it with `chromium`)",
        )?;
        let chromium = which("chromium").context(
            "chromium not found: install the Debian package `chromium` (scripts/test.sh does)",
        )?;
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("chromedriver.log"))?;
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()?;
        let rt = cmdb_tests::rt();
        let mut b = Self {
            base: server.url(),
            rt,
            client: None,
            driver,
            dir,
            console: Vec::new(),
        };
        wait_for(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })
        .context("chromedriver did not listen")?;

        let mut args = vec![
            "--headless=new".to_string(),
            // Tests run as root in CI containers, where Chromium's sandbox cannot start.
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            // /dev/shm is small in containers; Chromium then crashes rendering big pages.
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,900".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            format!("--user-data-dir={}", b.dir.path().join("profile").display()),
            // The server's certificate is signed by the test's own CA, which Chromium does not
            // know. Rather than --ignore-certificate-errors (any certificate, any site), accept
            // exactly this server's key: Chromium skips verification only for a chain
            // containing a key whose SPKI hash is listed (it requires --user-data-dir).
            format!(
                "--ignore-certificate-errors-spki-list={}",
                server_spki_hash(server)?
            ),
        ];
        if std::env::var_os("CMDB_BROWSER_VERBOSE").is_some() {
            args.push("--enable-logging=stderr".into());
        }
        let mut options = json!({
            "binary": chromium.display().to_string(),
            "args": args,
        });
        if scripts == Scripts::Off {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client =
            b.rt.block_on(
                ClientBuilder::new(connector)
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .with_context(|| format!("new Chromium session:\n{}", b.driver_log()))?;
        b.client = Some(client);
        Ok(b)
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("session open")
    }

    fn driver_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// Runs one WebDriver step.
    fn run<T>(
        &self,
        what: &str,
        f: impl AsyncFnOnce(&Client) -> Result<T, fantoccini::error::CmdError>,
    ) -> anyhow::Result<T> {
        self.rt
            .block_on(f(self.client()))
            .with_context(|| format!("{what} (at {})", self.path().unwrap_or_default()))
    }

    /// Opens `path` (e.g. `/ui/cis`) on the server.
    pub fn goto(&mut self, path: &str) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.base);
        self.run(&format!("goto {path}"), async |c| c.goto(&url).await)?;
        self.collect_console(path)
    }

    /// The current page's path and query.
    pub fn path(&self) -> anyhow::Result<String> {
        let url = self
            .rt
            .block_on(self.client().current_url())
            .context("current url")?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        })
    }

    /// The text of the first element matching `css`.
    pub fn text(&self, css: &str) -> anyhow::Result<String> {
        self.run(&format!("text of {css}"), async |c| {
            c.find(Locator::Css(css)).await?.text().await
        })
    }

    /// The texts of every element matching `css`.
    pub fn texts(&self, css: &str) -> anyhow::Result<Vec<String>> {
        self.run(&format!("texts of {css}"), async |c| {
            let mut out = Vec::new();
            for e in c.find_all(Locator::Css(css)).await? {
                out.push(e.text().await?);
            }
            Ok(out)
        })
    }

    /// The page's main heading.
    pub fn heading(&self) -> anyhow::Result<String> {
        self.text("h1")
    }

    /// Types `text` into the field matching `css` (after clearing it).
    pub fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        self.run(&format!("fill {css}"), async |c| {
            let e = c.find(Locator::Css(css)).await?;
            e.clear().await?;
            e.send_keys(text).await
        })
    }

    /// Clicks the element matching `css` (a link or a submit button) and waits for the new
    /// page it leads to (fails if none loads); the new page's console is checked like [`Browser::goto`]'s.
    pub fn click(&mut self, css: &str) -> anyhow::Result<()> {
        self.click_on(Locator::Css(css), css)
    }

    /// Clicks the link whose whole text is `text`, like [`Browser::click`].
    pub fn click_link(&mut self, text: &str) -> anyhow::Result<()> {
        self.click_on(Locator::LinkText(text), &format!("link {text:?}"))
    }

    fn click_on(&mut self, target: Locator<'_>, what: &str) -> anyhow::Result<()> {
        let before = self.path()?;
        // A mark on the current document: the next page is loaded once a document without it
        // is complete (a click may return before its navigation has even started).
        self.script("window.__cmdbBefore = true; return null")?;
        self.run(&format!("click {what}"), async |c| {
            c.find(target).await?.click().await
        })?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let loaded = self.run("next page loaded", async |c| {
            loop {
                let now = c
                    .execute(
                        "return window.__cmdbBefore === undefined && document.readyState === 'complete'",
                        vec![],
                    )
                    .await;
                // A script during the navigation may fail (no document yet): poll again.
                if matches!(now, Ok(Value::Bool(true))) {
                    return Ok(true);
                }
                if Instant::now() > deadline {
                    return Ok(false);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })?;
        if !loaded {
            bail!("click {what} on {before}: no new page within 10 s");
        }
        self.collect_console(&format!("{before} → click {what}"))
    }

    /// Evaluates a script (`return …`) in the page.
    pub fn script(&self, js: &str) -> anyhow::Result<Value> {
        self.run(&format!("script {js}"), async |c| {
            c.execute(js, vec![]).await
        })
    }

    /// Chooses the option whose value is `value` in the `<select>` matching `css`.
    pub fn select(&self, css: &str, value: &str) -> anyhow::Result<()> {
        self.run(&format!("select {value} in {css}"), async |c| {
            c.find(Locator::Css(css))
                .await?
                .select_by_value(value)
                .await
        })
    }

    /// Sets a field's value as a script would, for inputs whose typed form depends on the
    /// browser's locale (`datetime-local`): the value is what the form posts.
    pub fn set_value(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let js = format!(
            "document.querySelector({}).value = {}; return null",
            Value::String(css.into()),
            Value::String(value.into())
        );
        self.script(&js).map(drop)
    }

    /// Resizes the window; headless, the viewport is the whole window. A 640 px wide window
    /// lays pages out as a 1280 px one does at 200 % zoom.
    pub fn resize(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.run("resize", async |c| c.set_window_size(width, height).await)
    }

    /// Fails if the page is wider than the window (the reader would have to scroll sideways
    /// to read it). Wide tables and graphs scroll inside their own boxes, which is allowed.
    pub fn assert_reflows(&self) -> anyhow::Result<()> {
        // With the innermost element that sticks out, to say what to fix.
        let v = self.script(
            "const d = document.documentElement; \
             const out = [...document.body.querySelectorAll('*')].filter(e => \
               e.getBoundingClientRect().right > d.clientWidth + 1 \
               || (e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0 \
                   && getComputedStyle(e).overflowX === 'visible')).pop(); \
             const what = out ? out.tagName.toLowerCase() + (out.id ? '#' + out.id : '') \
               + (out.className && out.className.baseVal === undefined ? '.' + out.className : '') \
               + ' ' + out.textContent.trim().slice(0, 60) : ''; \
             return [d.scrollWidth, d.clientWidth, window.innerWidth, what]",
        )?;
        let (scroll, client) = (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0));
        if scroll > client {
            bail!(
                "{}: the page is {scroll} px wide in a {client} px viewport (window {}); \
                 the innermost element that sticks out: {}",
                self.path()?,
                v[2],
                v[3]
            );
        }
        Ok(())
    }

    /// Presses a key on the keyboard (not into an element: focus moves as for a user).
    pub fn press(&self, key: Key) -> anyhow::Result<()> {
        let key = char::from(key);
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.run("press key", async |c| c.perform_actions(actions).await)
    }

    /// Signs in through the sign-in page's token form; ends on the page it leads to.
    pub fn sign_in_with_token(&mut self, token: &str) -> anyhow::Result<()> {
        self.goto("/ui/sign-in")?;
        self.fill("#token", token)?;
        self.click("form:has(#token) button[type=submit]")
    }

    /// Signs out with the header's form; ends on the sign-in page.
    pub fn sign_out(&mut self) -> anyhow::Result<()> {
        self.click("form.who button[type=submit]")
    }

    /// Saves the viewport as `<name>.png` under `target-artifacts/screenshots/`; its path.
    pub fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.run("screenshot", async |c| c.screenshot().await)?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Reads the console entries logged since the last read, kept with the page they came from.
    fn collect_console(&mut self, page: &str) -> anyhow::Result<()> {
        let entries = self.run("browser log", async |c| c.issue_cmd(BrowserLog).await)?;
        for e in entries.as_array().into_iter().flatten() {
            self.console.push(format!(
                "{} {} (on {page})",
                e["level"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or("?")
            ));
        }
        Ok(())
    }

    /// Console errors of every page visited so far: failed loads, script errors and CSP
    /// violations (Chromium logs a refused script or style as a SEVERE console entry).
    pub fn console_errors(&mut self) -> anyhow::Result<Vec<String>> {
        self.collect_console("last page")?;
        Ok(self
            .console
            .iter()
            .filter(|e| e.starts_with("SEVERE"))
            .cloned()
            .collect())
    }

    /// Fails if any page so far logged a console error; prints every console entry.
    pub fn assert_no_console_errors(&mut self) -> anyhow::Result<()> {
        let errors = self.console_errors()?;
        if !self.console.is_empty() {
            eprintln!("browser console:\n  {}", self.console.join("\n  "));
        }
        if !errors.is_empty() {
            bail!("console errors:\n  {}", errors.join("\n  "));
        }
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session ends Chromium; then chromedriver goes.
        if let Some(c) = self.client.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), c.close()).await });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if std::thread::panicking() {
            eprintln!("---- chromedriver log ----\n{}", self.driver_log());
        }
    }
}

/// A server with this host in it, as a real agent reported it, and a viewer token.
struct World {
    server: Server,
    _agent: Agent,
    host: String,
    viewer: String,
}

impl World {
    fn new() -> Self {
        let server = Server::start().expect("server");
        let agent = Agent::new(Path::new("/"), 300).expect("agent");
        agent.enroll(&server).expect("enroll");
        agent.run_once().expect("run once");
        let key = server.only_host().expect("host CI");
        let (status, ci) = server.get(&format!("/api/v1/cis/{key}")).expect("host");
        assert_eq!(status, 200, "{ci}");
        let host = ci["name"].as_str().expect("host name").to_string();
        let (_, viewer) = server
            .create_token("viewer", "browser tests")
            .expect("viewer token");
        Self {
            server,
            _agent: agent,
            host,
            viewer,
        }
    }
}

#[test]
fn a_viewer_signs_in_with_a_token_finds_this_host_follows_a_relationship_and_signs_out() {
    let w = World::new();
    let mut b = Browser::start(&w.server, Scripts::On).expect("browser");

    b.goto("/ui/").expect("open the UI");
    let path = b.path().expect("path");
    assert!(
        path.starts_with("/ui/sign-in?next="),
        "not signed in: the sign-in page, not {path}"
    );
    b.sign_in_with_token(&w.viewer).expect("sign in");
    assert_eq!(b.path().expect("path"), "/ui/");
    assert_eq!(b.heading().expect("h1"), "Dashboard");
    assert!(
        b.text("form.who").expect("who").contains("viewer"),
        "the header names the role"
    );
    // htmx loaded under the CSP (script-src 'self'), so the enhanced pages can use it.
    assert_eq!(
        b.script("return typeof window.htmx").expect("htmx"),
        "object"
    );
    b.screenshot("dashboard").expect("screenshot");

    b.click("nav a[href='/ui/cis']").expect("CIs");
    b.fill("#q", &w.host).expect("type the host name");
    b.click("form[role=search] button[type=submit]")
        .expect("search");
    assert!(b.path().expect("path").starts_with("/ui/cis?q="));
    let names = b.texts("table.list tbody td:first-child a").expect("rows");
    assert!(
        names.contains(&w.host),
        "{} in the results: {names:?}",
        w.host
    );
    b.screenshot("ci-list").expect("screenshot");

    b.click_link(&w.host).expect("open the host");
    assert!(
        b.heading()
            .expect("h1")
            .starts_with(&format!("{} ", w.host)),
        "the CI page of {}",
        w.host
    );
    let others = b
        .texts("section[aria-labelledby=h-rels] tbody td:nth-child(3) a")
        .expect("relationships");
    assert!(
        !others.is_empty(),
        "the host's listening services are related to it"
    );
    b.screenshot("ci-page").expect("screenshot");

    let host_page = b.path().expect("path");
    b.click("section[aria-labelledby=h-rels] tbody td:nth-child(3) a")
        .expect("follow a relationship");
    assert_ne!(b.path().expect("path"), host_page);
    assert!(
        b.heading().expect("h1").starts_with(&others[0]),
        "the related CI's page"
    );
    assert!(
        b.texts("section[aria-labelledby=h-rels] tbody td:nth-child(3) a")
            .expect("its relationships")
            .contains(&w.host),
        "the related CI links back to the host"
    );

    b.sign_out().expect("sign out");
    assert_eq!(b.path().expect("path"), "/ui/sign-in");
    b.goto("/ui/").expect("back to the dashboard");
    assert!(
        b.path().expect("path").starts_with("/ui/sign-in"),
        "signed out: the dashboard asks to sign in again"
    );

    b.assert_no_console_errors().expect("no console errors");
}

#[test]
fn signing_in_and_searching_work_with_javascript_off() {
    let w = World::new();
    let mut b = Browser::start(&w.server, Scripts::Off).expect("browser");

    b.sign_in_with_token(&w.viewer).expect("sign in");
    assert_eq!(b.heading().expect("h1"), "Dashboard");
    // WebDriver's own scripts still run; the page's do not: htmx never loaded.
    assert_eq!(
        b.script("return typeof window.htmx").expect("htmx"),
        "undefined",
        "JavaScript is off"
    );

    b.goto("/ui/cis").expect("CI list");
    b.fill("#q", &w.host).expect("type the host name");
    b.click("form[role=search] button[type=submit]")
        .expect("search");
    let names = b.texts("table.list tbody td:first-child a").expect("rows");
    assert!(names.contains(&w.host), "{names:?}");
    b.click_link(&w.host).expect("open the host");
    assert!(
        b.heading()
            .expect("h1")
            .starts_with(&format!("{} ", w.host))
    );

    b.assert_no_console_errors().expect("no console errors");
}

#[test]
fn the_first_tab_focuses_skip_to_content() {
    let w = World::new();
    let mut b = Browser::start(&w.server, Scripts::On).expect("browser");
    let focused = |b: &Browser| {
        b.script("const e = document.activeElement; return [e.tagName, e.textContent.trim(), e.getAttribute('href')]")
            .expect("active element")
    };

    for page in ["sign-in", "dashboard"] {
        if page == "dashboard" {
            b.sign_in_with_token(&w.viewer).expect("sign in");
            // A fresh load, so focus starts at the top as for a user arriving.
            b.goto("/ui/").expect("dashboard");
        } else {
            b.goto("/ui/sign-in").expect("sign-in page");
        }
        b.press(Key::Tab).expect("Tab");
        assert_eq!(
            focused(&b),
            json!(["A", "Skip to content", "#main"]),
            "on the {page} page"
        );
    }

    b.assert_no_console_errors().expect("no console errors");
}

/// A [`World`] with network devices: the real agent polls a Cisco Nexus 5548 and the HPE
/// ProCurve cabled to it (snmpsim serving their recordings), and an application that a
/// business service depends on runs on this host, which is cabled to the Nexus.
struct Network {
    world: World,
    _sim: Snmpsim,
    /// The Nexus's sysName, as the CI is named.
    nexus: String,
    service: String,
    editor: String,
}

impl Network {
    fn new() -> Self {
        let sim = Snmpsim::start("browser", &[N5000, PROCURVE]).expect("snmpsim");
        let server = Server::start().expect("server");
        let agent = Agent::new(Path::new("/"), 3600).expect("agent");
        let mut cfg = std::fs::read_to_string(&agent.config).expect("agent config");
        cfg.push_str("\n[snmp]\ntimeout_secs = 2.0\nretries = 1\n");
        for rec in [N5000, PROCURVE] {
            cfg.push_str(&format!(
                "[snmp.credentials.\"{rec}\"]\nversion = \"2c\"\ncommunity = \"{rec}\"\n\
                 [[snmp.targets]]\naddress = \"{}\"\ncredential = \"{rec}\"\n",
                sim.target()
            ));
        }
        std::fs::write(&agent.config, cfg).expect("write agent config");
        agent.enroll(&server).expect("enroll");
        // Two rounds: a link between the devices appears once both are known.
        for _ in 0..2 {
            let out = agent.run_once().expect("run --once");
            assert!(out.contains("devices: 2 polled, 0 failed"), "{out}");
        }
        // The Nexus's name from Net-SNMP, not from the agent.
        let walk = sim.v2c(N5000).get(&[SYS_NAME]).expect("snmpget sysName");
        let nexus = walk
            .get(SYS_NAME)
            .and_then(text)
            .expect("the Nexus's sysName");
        let (status, page) = server
            .get("/api/v1/cis?class=network_device&limit=10")
            .expect("devices");
        assert_eq!(status, 200, "{page}");
        let key_of = |name: &str| -> String {
            let (status, page) = server
                .get(&format!("/api/v1/cis?q={name}&limit=10"))
                .expect("search");
            assert_eq!(status, 200, "{page}");
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .find(|c| c["name"] == name)
                .and_then(|c| c["key"].as_str())
                .unwrap_or_else(|| panic!("no CI named {name}: {page}"))
                .to_string()
        };
        let nexus_key = key_of(&nexus);
        let host_key = server.only_host().expect("host CI");
        let (_, host) = server
            .get(&format!("/api/v1/cis/{host_key}"))
            .expect("host");
        let host = host["name"].as_str().expect("host name").to_string();

        let post = |path: &str, body: Value| -> Value { server.post_ok(path, body).expect("post") };
        let service = "Online shop".to_string();
        let app = post(
            "/api/v1/cis",
            json!({"class": "application", "name": "shop-frontend"}),
        );
        let svc = post(
            "/api/v1/cis",
            json!({"class": "business_service", "name": service}),
        );
        for (from, kind, to) in [
            (&host_key, "connected_to", &nexus_key),
            (
                &app["id"].as_str().expect("id").to_string(),
                "runs_on",
                &host_key,
            ),
            (
                &svc["id"].as_str().expect("id").to_string(),
                "depends_on",
                &app["id"].as_str().expect("id").to_string(),
            ),
        ] {
            post(
                "/api/v1/relationships",
                json!({"from": from, "kind": kind, "to": to}),
            );
        }
        let (_, viewer) = server
            .create_token("viewer", "browser tests")
            .expect("viewer token");
        let (_, editor) = server
            .create_token("editor", "browser tests")
            .expect("editor token");
        Self {
            world: World {
                server,
                _agent: agent,
                host,
                viewer,
            },
            _sim: sim,
            nexus,
            service,
            editor,
        }
    }
}

#[test]
fn an_editor_opens_a_switch_sees_what_it_takes_down_records_a_change_and_reads_both_reports() {
    let n = Network::new();
    let mut b = Browser::start(&n.world.server, Scripts::On).expect("browser");
    b.sign_in_with_token(&n.editor).expect("sign in");

    // The switch, found by its class.
    b.click("nav a[href='/ui/cis']").expect("CIs");
    b.select("#class", "network_device").expect("class filter");
    b.click("form[role=search] button[type=submit]")
        .expect("filter");
    let names = b.texts("table.list tbody td:first-child a").expect("rows");
    assert_eq!(names.len(), 2, "the two polled devices: {names:?}");
    assert!(names.contains(&n.nexus), "{} listed: {names:?}", n.nexus);
    b.click_link(&n.nexus).expect("open the switch");
    assert!(
        b.heading().expect("h1").starts_with(&n.nexus),
        "the switch's page"
    );
    let device = b
        .text("section[aria-labelledby=h-device] p")
        .expect("device summary");
    assert!(
        device.contains(" interfaces, ") && !device.starts_with("0 interfaces"),
        "the interfaces the agent read: {device}"
    );
    let ports = b
        .texts("section[aria-labelledby=h-device] table.list tbody tr")
        .expect("interfaces");
    assert!(ports.len() > 1, "an interface table: {ports:?}");
    b.screenshot("switch").expect("screenshot");
    let switch = b.path().expect("path");

    // Its impact: the host cabled to it goes, and with it the business service.
    b.click_link("Impact if it fails").expect("impact");
    assert!(b.path().expect("path").starts_with("/ui/impact?cis="));
    let summary = b.text("#h-summary").expect("summary");
    assert!(summary.contains(&n.nexus), "{summary}");
    let hits = b.texts("ul.hits li").expect("services hit");
    assert!(
        hits.iter()
            .any(|h| h.contains("Takes down") && h.contains(&n.service)),
        "the business service goes down with the switch: {hits:?}"
    );
    let affected = b
        .texts("section[aria-labelledby=h-affected] tbody td:first-child")
        .expect("affected");
    assert!(
        affected.contains(&n.world.host),
        "this host is cut off: {affected:?}"
    );
    assert_eq!(
        b.script("return document.querySelectorAll('.graph-scroll svg').length")
            .expect("graph"),
        1,
        "the graph is drawn"
    );
    b.screenshot("impact").expect("screenshot");
    let impact = b.path().expect("path");

    // A change in a window: the impact page offers to record it, prefilled.
    b.set_value("#start", "2030-01-05T22:00").expect("start");
    b.set_value("#end", "2030-01-06T02:00").expect("end");
    b.click("form[aria-label='Impact analysis'] button[type=submit]")
        .expect("analyse in a window");
    b.click_link("Create a change for this window")
        .expect("record a change");
    assert_eq!(b.heading().expect("h1"), "Record a change");
    b.fill("#title", "Replace the Nexus's power supply")
        .expect("title");
    b.click("form[action='/ui/changes'] button[type=submit]")
        .expect("record");
    assert_eq!(b.heading().expect("h1"), "Replace the Nexus's power supply");
    let change = b.path().expect("path");
    assert!(change.starts_with("/ui/changes/"), "{change}");
    let its_impact = b
        .text("section[aria-labelledby=h-impact]")
        .expect("its impact");
    assert!(
        its_impact.contains(&n.service) && its_impact.contains("down"),
        "the change's impact names the service: {its_impact}"
    );
    b.click("nav a[href='/ui/changes']").expect("changes");
    assert!(
        b.texts("table.list tbody td:first-child a")
            .expect("changes")
            .contains(&"Replace the Nexus's power supply".to_string())
    );

    // Both reports open and list this host (its agent sent metrics and heartbeats).
    b.click("nav a[href='/ui/reports/capacity']")
        .expect("capacity");
    assert_eq!(b.heading().expect("h1"), "Capacity");
    b.screenshot("capacity").expect("screenshot");
    b.click("nav a[href='/ui/reports/availability']")
        .expect("availability");
    assert_eq!(b.heading().expect("h1"), "Availability");
    let rows = b
        .text("section[aria-labelledby=h-cis]")
        .expect("CI availability");
    assert!(rows.contains(&n.world.host), "{rows}");
    b.screenshot("availability").expect("screenshot");

    // Every page of the flow fits the window at 1280 px and at 200 % zoom (640 CSS px).
    let pages = [
        "/ui/".to_string(),
        "/ui/cis".to_string(),
        format!("/ui/cis?q={}", n.nexus),
        switch.clone(),
        format!("{switch}/map"),
        format!("{switch}/metrics"),
        "/ui/cis/new".to_string(),
        "/ui/import".to_string(),
        impact.clone(),
        change.clone(),
        "/ui/changes".to_string(),
        "/ui/reports/capacity".to_string(),
        "/ui/reports/availability".to_string(),
        "/ui/agents".to_string(),
    ];
    for (width, height) in [(1280, 900), (640, 450)] {
        b.resize(width, height).expect("resize");
        for page in &pages {
            b.goto(page).expect("page");
            b.assert_reflows()
                .unwrap_or_else(|e| panic!("at {width} px: {e:#}"));
        }
    }
    b.goto(&impact).expect("impact");
    b.screenshot("impact-at-200-percent").expect("screenshot");
    // And the admin's page, at 200 % zoom too.
    b.sign_out().expect("sign out");
    b.sign_in_with_token(&n.world.server.init.admin_token)
        .expect("sign in as admin");
    b.goto("/ui/admin").expect("admin");
    assert_eq!(b.heading().expect("h1"), "Administration");
    b.assert_reflows().expect("admin page at 640 px");

    b.assert_no_console_errors().expect("no console errors");
}
