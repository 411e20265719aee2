//! SNMP fixtures for the whole-system tests: snmpsim serving recordings of real devices
//! ([`Snmpsim`]), a private Net-SNMP `snmpd` ([`Snmpd`]), Net-SNMP's own command-line tools
//! as the reference ([`NetSnmp`], [`Walk`]) and the real `cmdb-agent snmp inventory` as the
//! thing under test ([`agent_snmp`], [`poll`]).
//!
//! The expected values of the tests come from `snmpbulkwalk`/`snmpget` runs against the same
//! simulator at test time, decoded here with deliberately small decoders (hex strings to
//! bytes, bytes to text or a MAC), never from the agent's own code. The scripts that run
//! the simulators are in `scripts/snmpsim/` (see its README); they install what is missing.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cmdb_shared::device::{DeviceInventory, DeviceMetrics};

use crate::bin;

/// The SNMPv3 user both simulators know (`start.sh`, `snmpd.sh`): SHA + AES-128.
pub const V3_USER: &str = "cmdb-v3";
pub const V3_AUTH_KEY: &str = "cmdb-auth-pass";
pub const V3_PRIV_KEY: &str = "cmdb-priv-pass";

/// The repository's `scripts/snmpsim/` directory.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("scripts/snmpsim")
}

/// A free UDP port on 127.0.0.1.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free UDP port")
}

/// Runs a start script and returns the PID it prints (its last stdout line).
fn run_start_script(cmd: &mut Command, what: &str) -> anyhow::Result<u32> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {what}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("{what} printed no PID: {stdout:?}"))
}

fn alive(pid: u32) -> bool {
    // A zombie (state Z) has exited; it only waits for init to reap it.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Stops a simulator started with `setsid` (so it leads its own process group): SIGTERM to
/// the group, SIGKILL if it is still there after 5 s.
fn stop_group(pid: u32) {
    let group = format!("-{pid}");
    let _ = Command::new("kill")
        .args(["-TERM", "--", &group])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
    }
}

/// The command line of a process, NULs as spaces.
fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// snmpsim (`scripts/snmpsim/start.sh`) on a free port of 127.0.0.1, serving only the named
/// recordings. The work directory is kept between runs (per test), so snmpsim's index is
/// reused: a warm start takes 1–3 s where a cold one indexes every recording again.
/// Killed on drop; its log is printed when the test fails.
pub struct Snmpsim {
    pub port: u16,
    pub workdir: PathBuf,
    pid: u32,
}

impl Snmpsim {
    /// Starts snmpsim for `test` (the name of the work directory) with `recordings`
    /// (community = SNMPv3 context = recording name, see scripts/snmpsim/README.md).
    pub fn start(test: &str, recordings: &[&str]) -> anyhow::Result<Self> {
        let workdir = std::env::temp_dir().join("cmdb-snmpsim").join(test);
        std::fs::create_dir_all(&workdir)?;
        // A simulator left by an earlier run of this test that was killed before its drop
        // (a nextest timeout): start.sh refuses to start next to it.
        if let Some(old) = std::fs::read_to_string(workdir.join("snmpsim.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            let cmd = cmdline(old);
            if alive(old)
                && cmd.contains("snmpsim-command-responder")
                && cmd.contains(&workdir.display().to_string())
            {
                stop_group(old);
            }
        }
        let mut last_err = None;
        // The port is free when picked but could be taken before snmpsim binds it.
        for _ in 0..3 {
            let port = free_udp_port();
            let started = run_start_script(
                Command::new(scripts_dir().join("start.sh"))
                    .arg(port.to_string())
                    .arg(&workdir)
                    .env("SNMPSIM_RECORDINGS", recordings.join(" ")),
                "scripts/snmpsim/start.sh",
            );
            match started {
                Ok(pid) => return Ok(Self { port, workdir, pid }),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.expect("three attempts"))
    }

    /// `127.0.0.1:PORT`.
    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Net-SNMP's tools over SNMPv2c with a recording's community.
    pub fn v2c(&self, recording: &str) -> NetSnmp {
        NetSnmp::v2c(&self.target(), recording)
    }

    /// Net-SNMP's tools over SNMPv3 authPriv with a recording as the context.
    pub fn v3(&self, recording: &str) -> NetSnmp {
        NetSnmp::v3(&self.target(), V3_AUTH_KEY, V3_PRIV_KEY, Some(recording))
    }

    /// The simulator's log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.workdir.join("snmpsim.log")).unwrap_or_default()
    }
}

impl Drop for Snmpsim {
    fn drop(&mut self) {
        stop_group(self.pid);
        if std::thread::panicking() {
            eprintln!("---- snmpsim log ----\n{}", self.logs());
        }
    }
}

/// A private Net-SNMP `snmpd` (`scripts/snmpsim/snmpd.sh`) on a free port of 127.0.0.1,
/// serving this host's MIB-II and HOST-RESOURCES to the SNMPv3 user [`V3_USER`]
/// (authPriv). Killed on drop; its log is printed when the test fails.
pub struct Snmpd {
    pub port: u16,
    dir: tempfile::TempDir,
    pid: u32,
}

impl Snmpd {
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut last_err = None;
        for _ in 0..3 {
            let port = free_udp_port();
            let started = run_start_script(
                Command::new(scripts_dir().join("snmpd.sh"))
                    .arg(port.to_string())
                    .arg(dir.path()),
                "scripts/snmpsim/snmpd.sh",
            );
            match started {
                Ok(pid) => return Ok(Self { port, dir, pid }),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.expect("three attempts"))
    }

    /// `127.0.0.1:PORT`.
    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Net-SNMP's tools over SNMPv3 authPriv (no context).
    pub fn v3(&self) -> NetSnmp {
        NetSnmp::v3(&self.target(), V3_AUTH_KEY, V3_PRIV_KEY, None)
    }

    /// snmpd's log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("snmpd.log")).unwrap_or_default()
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        stop_group(self.pid);
        if std::thread::panicking() {
            eprintln!("---- snmpd log ----\n{}", self.logs());
        }
    }
}

/// Net-SNMP's `snmpbulkwalk`/`snmpget` against one agent with one set of credentials: the
/// reference the tests compare the inventory with.
#[derive(Debug, Clone)]
pub struct NetSnmp {
    target: String,
    auth: Vec<String>,
}

/// Output options: numeric OIDs (`-On`), `OID value` lines (`-Oq`), every string in hex so
/// that decoding is unambiguous (`-Ox`), enumerations as numbers (`-Oe`), TimeTicks as a
/// number (`-Ot`), no units (`-OU`).
const OUTPUT: &[&str] = &["-On", "-Oq", "-Ox", "-Oe", "-Ot", "-OU"];

impl NetSnmp {
    pub fn v2c(target: &str, community: &str) -> Self {
        Self {
            target: target.to_string(),
            auth: vec!["-v2c".into(), "-c".into(), community.into()],
        }
    }

    /// SNMPv3 authPriv as [`V3_USER`] (SHA, AES), with a context name if given.
    pub fn v3(target: &str, auth_key: &str, priv_key: &str, context: Option<&str>) -> Self {
        let mut auth: Vec<String> = [
            "-v3", "-l", "authPriv", "-u", V3_USER, "-a", "SHA", "-A", auth_key, "-x", "AES", "-X",
            priv_key,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(c) = context {
            auth.extend(["-n".to_string(), c.to_string()]);
        }
        Self {
            target: target.to_string(),
            auth,
        }
    }

    /// SNMPv3 authPriv as `user` with Net-SNMP's protocol names (`-a SHA-256 -x AES-256`).
    pub fn v3_as(target: &str, user: &str, auth_proto: &str, priv_proto: &str) -> Self {
        Self {
            target: target.to_string(),
            auth: [
                "-v3",
                "-l",
                "authPriv",
                "-u",
                user,
                "-a",
                auth_proto,
                "-A",
                V3_AUTH_KEY,
                "-x",
                priv_proto,
                "-X",
                V3_PRIV_KEY,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }

    /// SNMPv3 with another security level: `authNoPriv` as `user` (SHA) or `noAuthNoPriv`.
    pub fn v3_level(target: &str, user: &str, auth: bool) -> Self {
        let mut a: Vec<String> = ["-v3", "-u", user].iter().map(|s| s.to_string()).collect();
        if auth {
            a.extend(["-l", "authNoPriv", "-a", "SHA", "-A", V3_AUTH_KEY].map(String::from));
        } else {
            a.extend(["-l", "noAuthNoPriv"].map(String::from));
        }
        Self {
            target: target.to_string(),
            auth: a,
        }
    }

    fn run(&self, tool: &str, extra: &[&str], oids: &[&str]) -> anyhow::Result<Walk> {
        let out = Command::new(tool)
            .args(&self.auth)
            .args(OUTPUT)
            .args(["-t", "5", "-r", "1"])
            .args(extra)
            .arg(&self.target)
            .args(oids)
            .env("MIBS", "")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {tool} (Debian package snmp)"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "{tool} {}: {}{stdout}",
                oids.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(Walk::parse(&stdout))
    }

    /// `snmpbulkwalk -Cc` of a subtree (`-Cc`: follow an agent that answers out of order).
    /// Only OIDs below `subtree` are kept: for a subtree the agent lacks, snmpbulkwalk
    /// prints the root itself with "No Such Object".
    pub fn walk(&self, subtree: &str) -> anyhow::Result<Walk> {
        let mut w = self.run("snmpbulkwalk", &["-Cc"], &[subtree])?;
        let root = parse_oid(subtree);
        w.0.retain(|o, _| o.len() > root.len() && o.starts_with(&root));
        Ok(w)
    }

    /// `snmpget` of scalars; absent ones are left out.
    pub fn get(&self, oids: &[&str]) -> anyhow::Result<Walk> {
        let mut w = self.run("snmpget", &[], oids)?;
        w.0.retain(|_, v| !v.starts_with("No Such"));
        Ok(w)
    }
}

/// A numeric OID (`1.3.6.1…`, a leading dot allowed).
pub fn parse_oid(s: &str) -> Vec<u32> {
    s.trim()
        .trim_start_matches('.')
        .split('.')
        .map(|a| a.parse().unwrap_or_else(|_| panic!("bad OID {s:?}")))
        .collect()
}

/// What Net-SNMP printed: OID → value as printed (`"0A 01 …"` for strings, numbers, OIDs
/// with a leading dot, dotted IP addresses), sorted by OID.
#[derive(Debug, Clone, Default)]
pub struct Walk(pub BTreeMap<Vec<u32>, String>);

impl Walk {
    /// Parses `-On -Oq -Ox` output. Hex strings run over several lines (16 bytes a line)
    /// until the closing quote.
    pub fn parse(text: &str) -> Self {
        let mut map = BTreeMap::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if !line.starts_with('.') {
                continue;
            }
            let (oid, value) = line.split_once(' ').unwrap_or((line, ""));
            let mut value = value.trim_end().to_string();
            if value.starts_with('"') {
                while value.len() < 2 || !value.ends_with('"') {
                    let Some(more) = lines.next() else { break };
                    value.push(' ');
                    value.push_str(more.trim_end());
                }
            }
            map.insert(parse_oid(oid), value);
        }
        Self(map)
    }

    /// The value at an OID.
    pub fn get(&self, oid: &str) -> Option<&str> {
        self.0.get(&parse_oid(oid)).map(String::as_str)
    }

    /// A table's rows: index → column number → value (`entry` is the table's entry OID,
    /// e.g. `1.3.6.1.2.1.2.2.1` for ifEntry).
    pub fn table(&self, entry: &str) -> BTreeMap<Vec<u32>, BTreeMap<u32, &str>> {
        let entry = parse_oid(entry);
        let mut rows: BTreeMap<Vec<u32>, BTreeMap<u32, &str>> = BTreeMap::new();
        for (oid, v) in &self.0 {
            if let Some([col, index @ ..]) = oid.strip_prefix(entry.as_slice())
                && !index.is_empty()
            {
                rows.entry(index.to_vec())
                    .or_default()
                    .insert(*col, v.as_str());
            }
        }
        rows
    }

    /// Adds another walk's values.
    pub fn extend(&mut self, other: Walk) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The bytes of a hex string as printed with `-Ox` (`"0A 01 64 B5 "`); `None` for anything
/// else.
pub fn bytes(value: &str) -> Option<Vec<u8>> {
    let inner = value.strip_prefix('"')?.strip_suffix('"')?;
    inner
        .split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).ok())
        .collect()
}

/// A string value as text: trailing NUL padding dropped, surrounding whitespace trimmed;
/// `None` unless the bytes are UTF-8.
pub fn text(value: &str) -> Option<String> {
    let b = bytes(value)?;
    let end = b.iter().rposition(|c| *c != 0).map_or(0, |i| i + 1);
    String::from_utf8(b[..end].to_vec())
        .ok()
        .map(|s| s.trim().to_string())
}

/// [`text`], `None` also when empty (the inventory leaves empty strings out).
pub fn opt_text(value: &str) -> Option<String> {
    text(value).filter(|s| !s.is_empty())
}

/// Lower-case `aa:bb:…` of any bytes.
pub fn hex_colons(b: &[u8]) -> String {
    b.iter()
        .map(|c| format!("{c:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A MAC address the inventory keeps: 6 bytes, not all zero, not broadcast or multicast
/// (the low bit of the first byte), as lower-case `aa:bb:cc:dd:ee:ff`.
pub fn unicast_mac(b: &[u8]) -> Option<String> {
    (b.len() == 6 && b.iter().any(|c| *c != 0) && b[0] & 1 == 0).then(|| hex_colons(b))
}

/// An INTEGER / Counter / Gauge value.
pub fn int(value: &str) -> Option<i64> {
    value.trim().parse().ok()
}

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address in its standard text form.
pub fn ip(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
        16 => Some(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?).to_string()),
        _ => None,
    }
}

/// Bytes from OID index arcs (each must be a byte).
pub fn index_bytes(arcs: &[u32]) -> Option<Vec<u8>> {
    arcs.iter().map(|a| u8::try_from(*a).ok()).collect()
}

/// What `cmdb-agent snmp inventory` prints.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Polled {
    pub inventory: DeviceInventory,
    pub metrics: DeviceMetrics,
}

/// Runs `cmdb-agent snmp ARGS…`, killed (and reported as a failure) after `limit`. Items of
/// the form `CMDB_SNMP_…=value` (see [`community`] and [`v3_args`]) are set in the agent's
/// environment instead of passed as arguments: the agent takes no secret on its command line.
pub fn agent_snmp<S: AsRef<str>>(args: &[S], limit: Duration) -> anyhow::Result<Output> {
    let dir = tempfile::tempdir()?;
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let (env, args): (Vec<&str>, Vec<&str>) = args
        .iter()
        .map(AsRef::as_ref)
        .partition(|a| a.starts_with("CMDB_SNMP_") && a.contains('='));
    let mut child = Command::new(bin("cmdb-agent"))
        .arg("snmp")
        .args(&args)
        .env_remove("CMDB_SNMP_COMMUNITY")
        .env_remove("CMDB_SNMP_AUTH_KEY")
        .env_remove("CMDB_SNMP_PRIV_KEY")
        .envs(env.iter().filter_map(|e| e.split_once('=')))
        .env("CMDB_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()?;
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "cmdb-agent snmp {} still running after {limit:?}: {}",
                args.join(" "),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: std::fs::read(&out_path)?,
        stderr: std::fs::read(&err_path)?,
    })
}

/// `cmdb-agent snmp inventory TARGET ACCESS…`, which must succeed within `limit`.
pub fn poll<S: AsRef<str>>(target: &str, access: &[S], limit: Duration) -> anyhow::Result<Polled> {
    let mut args = vec!["inventory", target];
    args.extend(access.iter().map(AsRef::as_ref));
    let out = agent_snmp(&args, limit)?;
    if !out.status.success() {
        bail!(
            "cmdb-agent snmp {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("cmdb-agent snmp inventory output")
}

/// The SNMPv1/v2c community for [`agent_snmp`]: through the environment.
pub fn community(c: &str) -> String {
    format!("CMDB_SNMP_COMMUNITY={c}")
}

/// The agent's SNMPv3 authPriv access for [`V3_USER`] (keys through the environment; see
/// [`agent_snmp`]), with a context if given.
pub fn v3_args(auth_key: &str, priv_key: &str, context: Option<&str>) -> Vec<String> {
    let mut a: Vec<String> = [
        "--v3-user",
        V3_USER,
        "--auth-protocol",
        "sha",
        "--priv-protocol",
        "aes",
    ]
    .map(String::from)
    .to_vec();
    a.push(format!("CMDB_SNMP_AUTH_KEY={auth_key}"));
    a.push(format!("CMDB_SNMP_PRIV_KEY={priv_key}"));
    if let Some(c) = context {
        a.extend(["--context".to_string(), c.to_string()]);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_snmp_hex_output_is_parsed_across_lines() {
        let w = Walk::parse(
            ".1.3.6.1.2.1.1.1.0 \"43 69 73 63 6F 20 49 4F 53 20 53 6F 66 74 77 61 \n72 65 \"\n\
             .1.3.6.1.2.1.1.2.0 .1.3.6.1.4.1.9.1.617\n\
             .1.3.6.1.2.1.1.4.0 \"\"\n\
             .1.3.6.1.2.1.1.5.0 \"44 55 4D 00 \"\n",
        );
        assert_eq!(w.len(), 4);
        assert_eq!(
            w.get("1.3.6.1.2.1.1.1.0").and_then(text).as_deref(),
            Some("Cisco IOS Software")
        );
        assert_eq!(w.get("1.3.6.1.2.1.1.2.0"), Some(".1.3.6.1.4.1.9.1.617"));
        assert_eq!(w.get("1.3.6.1.2.1.1.4.0").and_then(opt_text), None);
        assert_eq!(
            w.get("1.3.6.1.2.1.1.5.0").and_then(text).as_deref(),
            Some("DUM")
        );
        assert_eq!(
            unicast_mac(&[0xa8, 0xd0, 0xe5, 0xf6, 0x17, 0xc0]).as_deref(),
            Some("a8:d0:e5:f6:17:c0")
        );
        assert_eq!(unicast_mac(&[0x01, 0, 0x5e, 0, 0, 1]), None);
    }
}
