//! The packaging files stay consistent with the binaries: units validate the config before
//! starting, run the right commands, and are hardened; .deb metadata names files that exist.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

fn unit(name: &str) -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(root().join("packaging/systemd").join(name)).expect("unit file");
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn value<'a>(u: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    u.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn units_check_the_config_before_starting_and_are_hardened() {
    for (name, bin, config) in [
        (
            "cmdb-agent.service",
            "/usr/bin/cmdb-agent",
            "/etc/cmdb-agent/agent.toml",
        ),
        (
            "cmdb-server.service",
            "/usr/bin/cmdb-server",
            "/etc/cmdb-server/server.toml",
        ),
    ] {
        let u = unit(name);
        assert_eq!(
            value(&u, "ExecStartPre"),
            vec![format!("{bin} check-config --config {config}").as_str()],
            "{name}"
        );
        let start = value(&u, "ExecStart");
        assert_eq!(start.len(), 1, "{name}");
        assert!(
            start[0].starts_with(bin) && start[0].ends_with(&format!("--config {config}")),
            "{name}: {start:?}"
        );
        for key in [
            "NoNewPrivileges",
            "ProtectSystem",
            "PrivateTmp",
            "ProtectKernelModules",
            "SystemCallFilter",
            "RestrictAddressFamilies",
        ] {
            assert!(!value(&u, key).is_empty(), "{name} lacks {key}");
        }
    }
}

#[test]
fn deb_metadata_names_files_that_exist() {
    for krate in ["agent", "server"] {
        let text =
            std::fs::read_to_string(root().join(krate).join("Cargo.toml")).expect("Cargo.toml");
        assert!(text.contains("[package.metadata.deb]"), "{krate}");
        for line in text.lines().filter(|l| l.contains("\"../packaging/")) {
            for part in line.split('"').filter(|p| p.starts_with("../packaging/")) {
                let p = root().join(krate).join(part);
                assert!(p.exists(), "{krate}: {} does not exist", p.display());
            }
        }
    }
}

#[test]
fn postinst_scripts_write_under_umask_077_and_put_no_secret_on_a_command_line() {
    for krate in ["agent", "server"] {
        let path = root().join("packaging/debian").join(krate).join("postinst");
        let text = std::fs::read_to_string(&path).expect("postinst");
        let umask = text
            .find("\numask 077\n")
            .unwrap_or_else(|| panic!("{}: no `umask 077`", path.display()));
        let work = text
            .find("if [ \"$1\" = \"configure\" ]")
            .expect("configure branch");
        assert!(
            umask < work,
            "{}: umask 077 before any file is written",
            path.display()
        );
        assert!(
            !text.contains("--token "),
            "{}: enrollment tokens go in a file or the environment, not on a command line",
            path.display()
        );
    }
    let agent_toml =
        std::fs::read_to_string(root().join("packaging/agent.toml")).expect("agent.toml");
    assert!(
        agent_toml.contains("--token-file"),
        "agent.toml shows --token-file"
    );
    assert!(
        !agent_toml.contains("--token "),
        "agent.toml shows no --token"
    );
}

/// The reference cluster's files name what the binary and its configuration have: the flags
/// the compose file passes to `cmdb-server init`, the configuration path the image starts
/// with, and the certificate files a Kubernetes pod mounts. (HAProxy's configuration is run
/// for real in tests/tests/system/cluster.rs.)
#[test]
fn the_reference_cluster_files_match_the_binary() {
    let dir = root().join("packaging/cluster");
    let compose = std::fs::read_to_string(dir.join("compose.yaml")).expect("compose.yaml");
    let help = std::process::Command::new(cmdb_tests::bin("cmdb-server"))
        .args(["init", "--help"])
        .output()
        .expect("init --help");
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let init_line = compose
        .lines()
        .skip_while(|l| !l.contains("cmdb-server init"))
        .take_while(|l| !l.contains("chown"))
        .collect::<Vec<_>>()
        .join(" ");
    let flags: Vec<&str> = init_line
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .collect();
    assert!(flags.len() >= 5, "{init_line}");
    for f in flags {
        assert!(help.contains(f), "cmdb-server init has no {f}");
    }
    assert!(init_line.contains("--data-dir /etc/cmdb-server/data"));
    let docker = std::fs::read_to_string(dir.join("Dockerfile")).expect("Dockerfile");
    assert!(docker.contains("\"/etc/cmdb-server/data/server.toml\""));
    // Every instance reaches its own SurrealDB node on loopback (ws:// goes nowhere else).
    assert!(compose.contains("--engine ws://127.0.0.1:8000"));
    assert_eq!(compose.matches("--bind, \"127.0.0.1:8000\"").count(), 1);
    let k8s = std::fs::read_to_string(dir.join("k8s.yaml")).expect("k8s.yaml");
    for file in [
        "tls/server.pem",
        "tls/server.key",
        "tls/ca.pem",
        "server.toml",
    ] {
        assert!(k8s.contains(&format!("path: {file}")), "{file}");
    }
    assert!(!k8s.contains("ca.key}"), "the CA key stays off the cluster");
    let haproxy = std::fs::read_to_string(dir.join("haproxy.cfg")).expect("haproxy.cfg");
    assert_eq!(
        haproxy
            .lines()
            .filter(|l| l.trim_start().starts_with("server "))
            .count(),
        3
    );
    assert!(haproxy.contains("mode tcp"), "TLS passes through");
}
