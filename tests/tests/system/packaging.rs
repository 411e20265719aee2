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
