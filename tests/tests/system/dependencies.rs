//! Dependency discovery between real processes. Two hosts are simulated with network
//! namespaces joined by a veth pair: a small TCP service (Python) listens in one, a client
//! connected to it stays connected in the other. The agents run in the root namespace (the
//! server listens on 127.0.0.1 there) but each reads a hybrid root: identity and OS files
//! copied from the agent's captured fixtures (made distinct per host), `/proc/net` a symlink to
//! `/proc/<pid>/net` of a process in its namespace (that namespace's sockets, addresses and
//! routes), `/proc/<pid>` symlinks to the processes holding the sockets (so their owner is
//! seen), and a `/sys/class/net` naming the namespace's interfaces.
//!
//! The server must then find: a service CI on the server host (`<process> on <host>`) that
//! `runs_on` it, and `depends_on` from the client host to that service with the port as
//! evidence, whichever end's report makes the match.
//!
//! Needs root and `ip netns`; fails (does not skip) when namespaces cannot be created.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cmdb_tests::{Agent, Server, copy_tree, wait_for};
use serde_json::{Value, json};

/// The service's port inside the namespaces (private to them, so fixed).
const PORT: u16 = 5433;
const CLIENT_ADDR: &str = "10.231.0.1";
const SERVER_ADDR: &str = "10.231.0.2";

fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Two network namespaces joined by a veth pair (`eth0` in each, CLIENT_ADDR and SERVER_ADDR
/// on a /24), and the processes started in them. Dropping it kills the processes and deletes
/// the namespaces (the veth pair goes with them).
struct Namespaces {
    client: String,
    server: String,
    children: Vec<Child>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Namespaces {
    fn create() -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("cmdbt{}-{n}", std::process::id());
        let ns = Namespaces {
            client: format!("{tag}-client"),
            server: format!("{tag}-server"),
            children: Vec::new(),
        };
        let setup = || -> Result<(), String> {
            run("ip", &["netns", "add", &ns.client])?;
            run("ip", &["netns", "add", &ns.server])?;
            run(
                "ip",
                &[
                    "link",
                    "add",
                    "eth0",
                    "netns",
                    &ns.client,
                    "address",
                    "02:31:00:00:00:01",
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    &ns.server,
                    "address",
                    "02:31:00:00:00:02",
                ],
            )?;
            for (name, addr) in [(&ns.client, CLIENT_ADDR), (&ns.server, SERVER_ADDR)] {
                run(
                    "ip",
                    &[
                        "-n",
                        name,
                        "addr",
                        "add",
                        &format!("{addr}/24"),
                        "dev",
                        "eth0",
                    ],
                )?;
                run("ip", &["-n", name, "link", "set", "eth0", "up"])?;
                run("ip", &["-n", name, "link", "set", "lo", "up"])?;
            }
            Ok(())
        };
        if let Err(e) = setup() {
            panic!(
                "cannot create the two network namespaces this test simulates hosts with (it needs root and `ip netns`): {e}"
            );
        }
        ns
    }

    /// Starts `python3 -c <script> <args>` in namespace `ns`; returns its pid (`ip netns exec`
    /// execs the program, so the child's pid is Python's).
    fn python(&mut self, ns: &str, script: &str, args: &[&str]) -> u32 {
        // The system interpreter: a version manager's shim would add a process in between.
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("python3");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, python, "-c", script])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start python3 in a namespace");
        let pid = child.id();
        self.children.push(child);
        pid
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for name in [&self.client, &self.server] {
            let _ = run("ip", &["netns", "del", name]);
        }
    }
}

const SERVER_PY: &str = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
"#;

const CLIENT_PY: &str = r#"
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
time.sleep(3600)
"#;

/// True when `/proc/<pid>/net/tcp` (the process's namespace) has a socket in state `st` (hex)
/// with `port` as its local (`local`) or remote port.
fn has_socket(pid: u32, st: &str, port: u16, local: bool) -> bool {
    let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")) else {
        return false;
    };
    let want = format!(":{port:04X}");
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let end = if local { f.get(1) } else { f.get(2) };
        f.get(3) == Some(&st) && end.is_some_and(|e| e.ends_with(&want))
    })
}

/// The listening service and its connected client, each in its namespace.
struct Pair {
    /// Held so the processes and namespaces live as long as the test needs them.
    _ns: Namespaces,
    server_pid: u32,
    client_pid: u32,
}

fn start_pair() -> Pair {
    let mut ns = Namespaces::create();
    let server_ns = ns.server.clone();
    let client_ns = ns.client.clone();
    let port = PORT.to_string();
    let server_pid = ns.python(&server_ns, SERVER_PY, &[SERVER_ADDR, &port]);
    wait_for(Duration::from_secs(20), || {
        has_socket(server_pid, "0A", PORT, true).then_some(())
    })
    .expect("the service listens in its namespace");
    let client_pid = ns.python(&client_ns, CLIENT_PY, &[SERVER_ADDR, &port]);
    wait_for(Duration::from_secs(20), || {
        (has_socket(client_pid, "01", PORT, false) && has_socket(server_pid, "01", PORT, true))
            .then_some(())
    })
    .expect("the client connects across the veth pair");
    Pair {
        _ns: ns,
        server_pid,
        client_pid,
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/fixtures")
}

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// A root for one simulated host: a Dell server's identity and a Debian's OS files from the
/// captured fixtures, with this host's own name, machine-id, UUID and serials; its
/// namespace's `/proc/net` (through `net_pid`), the socket holders' `/proc/<pid>`, and its
/// interfaces (`lo`, `eth0` with `mac`) in `/sys/class/net`.
fn host_root(dir: &Path, hostname: &str, n: u8, net_pid: u32, mac: &str) -> PathBuf {
    let root = dir.join(hostname);
    copy_tree(&fixtures().join("identity/dell-poweredge-r640"), &root).expect("identity");
    let os = fixtures().join("os/debian12-firecracker");
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", os.display()))
        .arg(&root)
        .status()
        .expect("cp");
    assert!(status.success(), "copying the os fixture");
    write(&root, "proc/sys/kernel/hostname", &format!("{hostname}\n"));
    write(
        &root,
        "etc/machine-id",
        &format!("{:032x}\n", 0x00c0_ffee_0000_u128 + u128::from(n)),
    );
    write(
        &root,
        "sys/class/dmi/id/product_uuid",
        &format!("4c4c4544-0031-3210-8052-cafe0000000{n}\n"),
    );
    for serial in ["product_serial", "chassis_serial", "board_serial"] {
        write(
            &root,
            &format!("sys/class/dmi/id/{serial}"),
            &format!("NS{n}TEST\n"),
        );
    }
    std::os::unix::fs::symlink(format!("/proc/{net_pid}/net"), root.join("proc/net"))
        .expect("proc/net");
    std::os::unix::fs::symlink(
        format!("/proc/{net_pid}"),
        root.join(format!("proc/{net_pid}")),
    )
    .expect("proc/<pid>");
    for (ifname, address) in [("lo", "00:00:00:00:00:00"), ("eth0", mac)] {
        let base = format!("sys/class/net/{ifname}");
        write(&root, &format!("{base}/address"), &format!("{address}\n"));
        write(&root, &format!("{base}/addr_len"), "6\n");
        write(&root, &format!("{base}/mtu"), "1500\n");
        write(
            &root,
            &format!("{base}/operstate"),
            if ifname == "lo" { "unknown\n" } else { "up\n" },
        );
    }
    root
}

/// The simulated hosts, their agents enrolled with `server`.
struct Hosts {
    _dir: tempfile::TempDir,
    client_name: String,
    server_name: String,
    client: Agent,
    server: Agent,
}

fn hosts(server: &Server, pair: &Pair) -> Hosts {
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = std::process::id();
    let client_name = format!("app-client-{tag}");
    let server_name = format!("db-server-{tag}");
    let client_root = host_root(
        dir.path(),
        &client_name,
        1,
        pair.client_pid,
        "02:31:00:00:00:01",
    );
    let server_root = host_root(
        dir.path(),
        &server_name,
        2,
        pair.server_pid,
        "02:31:00:00:00:02",
    );
    let client = Agent::new(&client_root, 300).expect("client agent");
    let server_agent = Agent::new(&server_root, 300).expect("server agent");
    client.enroll(server).expect("enroll the client host");
    server_agent.enroll(server).expect("enroll the server host");
    Hosts {
        _dir: dir,
        client_name,
        server_name,
        client,
        server: server_agent,
    }
}

fn items(server: &Server, path: &str) -> Vec<Value> {
    let (status, v) = server.get(path).expect("request");
    assert_eq!(status, 200, "{path}: {v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

fn key_of(v: &Value) -> String {
    v["key"].as_str().expect("key").to_string()
}

/// What discovery must have made: host CIs for both, a service on the server host that
/// `runs_on` it, and one `depends_on` client host → service with the port. Returns (client
/// host, server host, service) ids.
fn assert_discovered(server: &Server, h: &Hosts, pair: &Pair) -> (String, String, String) {
    let hosts = items(server, "/api/v1/cis?class=host");
    let host = |name: &str| {
        hosts
            .iter()
            .find(|c| c["name"] == name)
            .map(key_of)
            .unwrap_or_else(|| panic!("no host CI {name}: {hosts:?}"))
    };
    let (client, host_b) = (host(&h.client_name), host(&h.server_name));
    assert_eq!(hosts.len(), 2, "two host CIs: {hosts:?}");
    assert_ne!(client, host_b);

    // The client host's addresses are those of its namespace.
    let (_, detail) = server
        .get(&format!("/api/v1/cis/{client}"))
        .expect("detail");
    assert!(
        detail["addresses"]
            .as_array()
            .is_some_and(|a| a.contains(&json!(CLIENT_ADDR))),
        "client host addresses: {}",
        detail["addresses"]
    );

    let comm = std::fs::read_to_string(format!("/proc/{}/comm", pair.server_pid))
        .expect("comm")
        .trim()
        .to_string();
    let services = items(server, "/api/v1/cis?class=service");
    let want_name = format!("{comm} on {}", h.server_name);
    let service = services
        .iter()
        .find(|s| s["name"] == want_name)
        .map(key_of)
        .unwrap_or_else(|| panic!("no service CI {want_name:?}: {services:?}"));
    assert_eq!(
        services.len(),
        1,
        "one service (the client listens on nothing): {services:?}"
    );

    let (status, rels) = server
        .get(&format!("/api/v1/cis/{service}/relationships"))
        .expect("relationships");
    assert_eq!(status, 200, "{rels}");
    let rels = rels.as_array().cloned().unwrap_or_default();
    let runs_on: Vec<&Value> = rels.iter().filter(|r| r["kind"] == "runs_on").collect();
    assert_eq!(runs_on.len(), 1, "{rels:?}");
    assert_eq!(
        (runs_on[0]["from"].clone(), runs_on[0]["to"].clone()),
        (json!(service), json!(host_b)),
        "the service runs_on the server host"
    );
    assert_eq!(runs_on[0]["source"], json!("discovered"));
    assert_eq!(runs_on[0]["discovered_by"], json!(["listening"]));
    assert_eq!(runs_on[0]["evidence"]["ports"], json!([PORT]));

    let deps: Vec<&Value> = rels.iter().filter(|r| r["kind"] == "depends_on").collect();
    assert_eq!(deps.len(), 1, "{rels:?}");
    let dep = deps[0];
    assert_eq!(
        (dep["from"].clone(), dep["to"].clone()),
        (json!(client), json!(service)),
        "the client host depends_on the service: {dep}"
    );
    assert_eq!(dep["source"], json!("discovered"));
    assert_eq!(dep["discovered_by"], json!(["connection"]));
    assert_eq!(dep["evidence"]["ports"], json!([PORT]), "{dep}");
    assert_eq!(dep["stale"], json!(false));
    // One depends_on in the whole CMDB.
    let (_, all) = server
        .get("/api/v1/relationships?kind=depends_on")
        .expect("list");
    assert_eq!(all["total"], json!(1), "{all}");
    (client, host_b, service)
}

fn impact_row<'a>(report: &'a Value, id: &str) -> Option<&'a Value> {
    report["affected"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["id"] == id))
}

/// The service's failure takes the client host down, and so does the server host's.
fn assert_impact(server: &Server, client: &str, host_b: &str, service: &str) {
    let (status, report) = server
        .get(&format!("/api/v1/cis/{service}/impact"))
        .expect("impact");
    assert_eq!(status, 200, "{report}");
    let row =
        impact_row(&report, client).unwrap_or_else(|| panic!("client host not affected: {report}"));
    assert_eq!(
        (
            row["state"].clone(),
            row["cause"].clone(),
            row["path"].clone()
        ),
        (json!("down"), json!("depends_on"), json!([service, client])),
        "{row}"
    );
    assert!(
        impact_row(&report, host_b).is_none(),
        "the server host does not need its service"
    );

    let (status, report) = server
        .get(&format!("/api/v1/cis/{host_b}/impact"))
        .expect("impact");
    assert_eq!(status, 200, "{report}");
    let row = impact_row(&report, service).expect("service affected");
    assert_eq!(
        (row["state"].clone(), row["cause"].clone()),
        (json!("down"), json!("runs_on"))
    );
    let row = impact_row(&report, client).expect("client host affected");
    assert_eq!(
        (row["state"].clone(), row["path"].clone()),
        (json!("down"), json!([host_b, service, client])),
        "{row}"
    );
    assert_eq!(report["down"], json!(3), "{report}");

    // What the client host depends on: the service and the host it runs on.
    let (status, deps) = server
        .get(&format!("/api/v1/cis/{client}/dependencies"))
        .expect("dependencies");
    assert_eq!(status, 200, "{deps}");
    let ids: Vec<&str> = deps["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(ids, [service, host_b], "{deps}");

    let (status, check) = server.get("/api/v1/graph/check").expect("check");
    assert_eq!(status, 200);
    assert_eq!(check["consistent"], json!(true), "{check}");
}

#[test]
fn a_client_connected_to_a_service_in_another_namespace_depends_on_it_with_the_port() {
    let pair = start_pair();
    let mut server = Server::start().expect("server");
    let h = hosts(&server, &pair);
    // The server host first: its service exists when the client's outbound connection is
    // matched (the server's inbound view cannot name a client host not yet known).
    h.server.run_once().expect("server host report");
    // A restart in between: the client's connection is matched against what discovery
    // reloads from storage (the server host's addresses and services).
    server.stop().expect("stop");
    server.resume().expect("resume");
    h.client.run_once().expect("client host report");
    let (client, host_b, service) = assert_discovered(&server, &h, &pair);
    // The server host again: its inbound view of the same connection is the same edge.
    h.server.run_once().expect("server host report again");
    let again = assert_discovered(&server, &h, &pair);
    assert_eq!(again, (client.clone(), host_b.clone(), service.clone()));
    assert_impact(&server, &client, &host_b, &service);
}

#[test]
fn the_client_hosts_own_next_report_gives_the_edge_the_server_host_saw_inbound() {
    let pair = start_pair();
    let server = Server::start().expect("server");
    let h = hosts(&server, &pair);
    // The client first: its outbound connection leads to an address no CI has yet.
    h.client.run_once().expect("client host report");
    let deps = || {
        server
            .get("/api/v1/relationships?kind=depends_on")
            .expect("list")
            .1
    };
    assert_eq!(deps()["total"], json!(0));
    // The server host's report sees the connection inbound, from the client's address; the
    // client host is another agent's, so that report does not speak for it.
    h.server.run_once().expect("server host report");
    assert_eq!(deps()["total"], json!(0), "an edge from another agent's CI");
    // The client's next report (nothing in it changed) is derived again and finds it.
    h.client.run_once().expect("client host report");
    let (client, host_b, service) = assert_discovered(&server, &h, &pair);
    assert_impact(&server, &client, &host_b, &service);
}
