//! `services` collector: systemd service units with their unit-file and runtime states.
//!
//! The unit files on disk are always read: they give every installed service, its description
//! and an enablement state derived the way `systemctl list-unit-files` derives it (see
//! [`unit_file_state`]). When the live system runs systemd, `systemctl list-unit-files` and
//! `systemctl list-units --all` then overlay systemd's own view: the authoritative enablement
//! state, the active and sub states, and units that exist only at runtime (generated, transient,
//! instances). Without a running systemd (containers, chroots, fixture roots) `active` and `sub`
//! are `None`: nothing knows them.
//!
//! Simplifications of the on-disk derivation, all rare in practice: drop-in directories
//! (`foo.service.d/*.conf`) are not read, so a description overridden there is missed; generator
//! output under /run is not scanned; template units are listed once under their template name
//! (`getty@.service`) and instances are listed only when systemd reports them; `linked` (a
//! symlink to a unit file outside the unit directories, from `systemctl link`) is not told apart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cmdb_shared::{Inventory, Service};

use super::{CollectError, Collector, Context};

/// Unit directories in systemd's precedence order: a unit name found in an earlier directory
/// hides the same name in later ones. /lib is usually a symlink to /usr/lib; names are unique
/// in the result, so reading both is harmless.
const UNIT_DIRS: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
/// Where `systemctl enable` puts its symlinks (persistent and runtime).
const CONFIG_DIR: &str = "/etc/systemd/system";
const RUNTIME_DIR: &str = "/run/systemd/system";
/// Exists only while systemd runs as PID 1 (what `sd_booted()` checks).
const SYSTEMD_RUNNING: &str = "/run/systemd/system";
const SYSTEMCTL: &str = "systemctl";
/// Symlink hops followed before giving up (systemd allows a few levels of aliasing).
const MAX_LINK_HOPS: usize = 8;

/// Collects the `services` section.
pub struct ServicesCollector;

impl Collector for ServicesCollector {
    fn name(&self) -> &'static str {
        "services"
    }

    fn collect(&self, ctx: &Context, inv: &mut Inventory) -> Result<(), CollectError> {
        let mut services = services_from_disk(ctx)?;
        if ctx.is_live() && ctx.path(SYSTEMD_RUNNING).is_dir() {
            match systemctl_view() {
                Ok((units, files)) => services = merge_systemctl(services, &units, &files),
                // The on-disk view is still right about what is installed; say why it is partial.
                Err(e) => tracing::warn!(error = %e, "systemctl failed; unit files only"),
            }
        }
        inv.services = Some(services);
        Ok(())
    }
}

/// A `list-unit-files` row: (unit name, unit file state).
pub type UnitFileRow = (String, String);

/// Runs the two systemctl listings.
fn systemctl_view() -> Result<(Vec<UnitRow>, Vec<UnitFileRow>), CollectError> {
    let units = run_systemctl(&[
        "list-units",
        "--type=service",
        "--all",
        "--no-legend",
        "--plain",
        "--no-pager",
        "--full",
    ])?;
    let files = run_systemctl(&[
        "list-unit-files",
        "--type=service",
        "--no-legend",
        "--no-pager",
        "--full",
    ])?;
    Ok((parse_list_units(&units), parse_list_unit_files(&files)))
}

fn run_systemctl(args: &[&str]) -> Result<String, CollectError> {
    let output = Command::new(SYSTEMCTL)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| CollectError::io(SYSTEMCTL, e))?;
    if !output.status.success() {
        return Err(CollectError::Parse {
            what: format!("systemctl {}", args.first().copied().unwrap_or_default()),
            reason: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// One row of `systemctl list-units --plain --no-legend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRow {
    pub name: String,
    /// "loaded", "not-found", "masked", "bad-setting", "error".
    pub load: String,
    pub active: String,
    pub sub: String,
    pub description: String,
}

/// `systemctl list-units --plain --no-legend`: `UNIT LOAD ACTIVE SUB [JOB] DESCRIPTION` as an
/// aligned table. The JOB column appears only while some unit has a pending job, and is blank for
/// the others, so it is recognised by position: every row's description starts at the same
/// column, and a word starting before it is a job. A leading `●` (printed by systemd versions
/// that ignore `--plain` for it) is skipped.
pub fn parse_list_units(text: &str) -> Vec<UnitRow> {
    struct Raw<'a> {
        words: Vec<&'a str>,
        rest_col: usize,
        rest: &'a str,
    }
    let mut raws = Vec::new();
    for line in text.lines() {
        let line = line.trim_start_matches(['●', '*', ' ']);
        // (word, char column) for the first four words, then the remainder.
        let mut words = Vec::new();
        let mut rest = line;
        let mut col = 0;
        while words.len() < 4 {
            let trimmed = rest.trim_start();
            col += rest.chars().count() - trimmed.chars().count();
            let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
            if end == 0 {
                break;
            }
            words.push(&trimmed[..end]);
            col += trimmed[..end].chars().count();
            rest = &trimmed[end..];
        }
        if words.len() < 4 {
            continue;
        }
        let trimmed = rest.trim_start();
        col += rest.chars().count() - trimmed.chars().count();
        raws.push(Raw {
            words,
            rest_col: col,
            rest: trimmed.trim_end(),
        });
    }
    let description_col = raws.iter().map(|r| r.rest_col).max().unwrap_or(0);
    raws.into_iter()
        .map(|r| {
            let description = if r.rest_col < description_col {
                // This row has a job: skip that word (and the padding after it).
                r.rest
                    .split_once(char::is_whitespace)
                    .map_or("", |(_, d)| d.trim_start())
            } else {
                r.rest
            };
            UnitRow {
                name: r.words[0].to_string(),
                load: r.words[1].to_string(),
                active: r.words[2].to_string(),
                sub: r.words[3].to_string(),
                description: description.to_string(),
            }
        })
        .collect()
}

/// `systemctl list-unit-files --no-legend`: `UNIT STATE [PRESET]` → (unit, state). Older
/// systemd versions have no preset column.
pub fn parse_list_unit_files(text: &str) -> Vec<UnitFileRow> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

/// Overlays systemd's view on the unit files read from disk. systemd's enablement state wins;
/// runtime-only units (instances, generated, transient) are added; units systemd knows only as
/// references (`not-found`) are not services on this host and are left out. An instance that
/// `list-unit-files` does not list keeps `enabled: None` rather than a guess from its template.
pub fn merge_systemctl(
    disk: Vec<Service>,
    units: &[UnitRow],
    files: &[UnitFileRow],
) -> Vec<Service> {
    let mut by_name: BTreeMap<String, Service> =
        disk.into_iter().map(|s| (s.name.clone(), s)).collect();
    for (name, state) in files {
        let entry = by_name.entry(name.clone()).or_insert_with(|| Service {
            name: name.clone(),
            ..Service::default()
        });
        entry.enabled = Some(state.clone());
    }
    for unit in units {
        if unit.load == "not-found" && !by_name.contains_key(&unit.name) {
            continue;
        }
        let entry = by_name.entry(unit.name.clone()).or_insert_with(|| Service {
            name: unit.name.clone(),
            ..Service::default()
        });
        if !unit.description.is_empty() {
            entry.description = Some(unit.description.clone());
        }
        entry.active = Some(unit.active.clone());
        entry.sub = Some(unit.sub.clone());
    }
    by_name.into_values().collect()
}

/// What a unit file says that matters here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFile {
    pub description: Option<String>,
    /// `[Install]` has WantedBy=, RequiredBy=, UpheldBy= or Alias=: `systemctl enable` would do
    /// something.
    pub has_install_rules: bool,
    /// `[Install]` has Also= (enabling it enables other units).
    pub has_also: bool,
    /// Alias= names, which `systemctl enable` creates as symlinks.
    pub aliases: Vec<String>,
    /// DefaultInstance= of a template: the instance `systemctl enable foo@.service` enables.
    pub default_instance: Option<String>,
}

/// A unit file: INI-like sections, `#`/`;` comments, a trailing backslash continues a line, the
/// last assignment of a key wins and an empty assignment resets a list.
pub fn parse_unit_file(text: &str) -> UnitFile {
    let mut unit = UnitFile::default();
    let mut section = String::new();
    let mut install: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut logical = String::new();
    for raw in text.lines() {
        // Like systemd: leading whitespace is dropped from every physical line, and a trailing
        // backslash becomes a space joining the next one.
        let raw = raw.trim_start();
        if logical.is_empty() && raw.starts_with(['#', ';']) {
            continue;
        }
        if let Some(continued) = raw.strip_suffix('\\') {
            logical.push_str(continued);
            logical.push(' ');
            continue;
        }
        logical.push_str(raw);
        let line = std::mem::take(&mut logical);
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match (section.as_str(), key) {
            ("Unit", "Description") => {
                unit.description = (!value.is_empty()).then(|| value.to_string());
            }
            ("Install", "DefaultInstance") => {
                unit.default_instance = (!value.is_empty()).then(|| value.to_string());
            }
            ("Install", "WantedBy" | "RequiredBy" | "UpheldBy" | "Alias" | "Also") => {
                let list = install.entry(key.to_string()).or_default();
                if value.is_empty() {
                    list.clear();
                } else {
                    list.extend(value.split_whitespace().map(str::to_string));
                }
            }
            _ => {}
        }
    }
    let non_empty = |k: &str| install.get(k).is_some_and(|l| !l.is_empty());
    unit.has_install_rules = ["WantedBy", "RequiredBy", "UpheldBy", "Alias"]
        .iter()
        .any(|k| non_empty(k));
    unit.has_also = non_empty("Also");
    unit.aliases = install.remove("Alias").unwrap_or_default();
    unit
}

/// Symlinks found in one configuration directory (/etc or /run), as (link name, target file
/// name) pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnableLinks {
    /// Links inside `*.wants/`, `*.requires/` and `*.upholds/` directories.
    pub dependencies: Vec<(String, String)>,
    /// Links directly in the directory (Alias= names, masks, `systemctl link`).
    pub top_level: Vec<(String, String)>,
}

/// How a unit name is installed, as `systemctl list-unit-files` reports it, in systemd's order:
///
/// - `masked` when it resolves to /dev/null (`masked-runtime` when masked under /run);
/// - `bad` when its symlink dangles;
/// - `alias` when the file it resolves to has another name;
/// - `enabled` when /etc has a dependency link with its name (for a template: with its
///   DefaultInstance=) or one of its Alias= links; `enabled-runtime` for the same under /run;
/// - `indirect` when links to it exist under other names only (e.g. non-default instances of
///   a template: `web@blue.service` → `web@.service`);
/// - otherwise `disabled` if its [Install] section would do something, `indirect` if it only
///   has Also=, and `static` if it has no [Install] rules at all.
pub fn unit_file_state(
    name: &str,
    resolved: Option<&Resolved>,
    unit: &UnitFile,
    config: &EnableLinks,
    runtime: &EnableLinks,
) -> &'static str {
    let target = match resolved {
        Some(Resolved::Masked { runtime: true }) => return "masked-runtime",
        Some(Resolved::Masked { runtime: false }) => return "masked",
        None => return "bad",
        Some(Resolved::File(path)) => path.file_name().map(|n| n.to_string_lossy().into_owned()),
    };
    if target.as_deref() != Some(name) && !is_instance(name) {
        return "alias";
    }
    let default_instance = unit.default_instance.as_ref().and_then(|instance| {
        let (prefix, suffix) = name.split_once("@.")?;
        Some(format!("{prefix}@{instance}.{suffix}"))
    });
    let enabled_in = |links: &EnableLinks| {
        links
            .dependencies
            .iter()
            .any(|(link, _)| link == name || Some(link) == default_instance.as_ref())
            || links
                .top_level
                .iter()
                .any(|(link, to)| to == name && unit.aliases.contains(link))
    };
    let linked_in = |links: &EnableLinks| {
        links
            .dependencies
            .iter()
            .chain(&links.top_level)
            .any(|(link, to)| to == name && link != name)
    };
    if enabled_in(config) {
        "enabled"
    } else if enabled_in(runtime) {
        "enabled-runtime"
    } else if linked_in(config) || linked_in(runtime) {
        "indirect"
    } else if unit.has_install_rules {
        "disabled"
    } else if unit.has_also {
        "indirect"
    } else {
        "static"
    }
}

/// `foo@bar.service` (an instance), as opposed to `foo@.service` (a template) or `foo.service`.
fn is_instance(name: &str) -> bool {
    name.split_once('@')
        .is_some_and(|(_, rest)| !rest.starts_with('.'))
}

/// Where a unit name leads after following symlinks under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A symlink chain ending at /dev/null; `runtime` when the name itself lives under /run.
    Masked { runtime: bool },
    /// The unit file (a path under the root).
    File(PathBuf),
}

/// Follows `path`'s symlinks one hop at a time, keeping absolute targets under the context root
/// (a fixture's `/lib/systemd/system/x` must not escape to the host). `None` when dangling or
/// looping.
fn resolve(ctx: &Context, dir: &str, path: &Path) -> Option<Resolved> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINK_HOPS {
        let meta = std::fs::symlink_metadata(&current).ok()?;
        if !meta.file_type().is_symlink() {
            return meta.is_file().then_some(Resolved::File(current));
        }
        let target = std::fs::read_link(&current).ok()?;
        if target == Path::new("/dev/null") {
            return Some(Resolved::Masked {
                runtime: dir.starts_with("/run/"),
            });
        }
        current = if target.is_absolute() {
            ctx.path(&target.to_string_lossy())
        } else {
            current.parent()?.join(target)
        };
    }
    None
}

/// Symlinks in `dir` (`/etc/systemd/system` or `/run/systemd/system`) and its dependency
/// directories. Unreadable or absent directories have no links.
fn read_enable_links(ctx: &Context, dir: &str) -> EnableLinks {
    let mut links = EnableLinks::default();
    let Ok(entries) = std::fs::read_dir(ctx.path(dir)) else {
        return links;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let is_dep_dir = [".wants", ".requires", ".upholds"]
            .iter()
            .any(|s| name.ends_with(s));
        if is_dep_dir && path.is_dir() {
            let Ok(deps) = std::fs::read_dir(&path) else {
                continue;
            };
            for dep in deps.filter_map(Result::ok) {
                if let Some(target) = link_target_name(&dep.path()) {
                    links
                        .dependencies
                        .push((dep.file_name().to_string_lossy().into_owned(), target));
                }
            }
        } else if let Some(target) = link_target_name(&path) {
            links.top_level.push((name, target));
        }
    }
    links
}

/// The file name a symlink points to; `None` for anything but a symlink.
fn link_target_name(path: &Path) -> Option<String> {
    let target = std::fs::read_link(path).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// All service units installed on disk, sorted by name.
fn services_from_disk(ctx: &Context) -> Result<Vec<Service>, CollectError> {
    // Unit name → (directory it was found in, its path), first directory wins.
    let mut found: BTreeMap<String, (&str, PathBuf)> = BTreeMap::new();
    for dir in UNIT_DIRS {
        let entries = match std::fs::read_dir(ctx.path(dir)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(CollectError::io(dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| CollectError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Directories such as `foo.service.d` or `x.target.wants` are not units.
            if !name.ends_with(".service") || entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            found.entry(name).or_insert((dir, entry.path()));
        }
    }

    let config = read_enable_links(ctx, CONFIG_DIR);
    let runtime = read_enable_links(ctx, RUNTIME_DIR);
    let mut services = Vec::new();
    for (name, (dir, path)) in found {
        let resolved = resolve(ctx, dir, &path);
        let unit = match &resolved {
            Some(Resolved::Masked { .. }) | None => UnitFile::default(),
            Some(Resolved::File(file)) => match std::fs::read_to_string(file) {
                Ok(text) => parse_unit_file(&text),
                Err(e) => {
                    tracing::warn!(unit = %name, error = %e, "unreadable unit file");
                    services.push(Service {
                        name,
                        ..Service::default()
                    });
                    continue;
                }
            },
        };
        let state = unit_file_state(&name, resolved.as_ref(), &unit, &config, &runtime);
        services.push(Service {
            name,
            description: unit.description,
            enabled: Some(state.to_string()),
            active: None,
            sub: None,
        });
    }
    Ok(services)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/services")
    }

    fn read(path: &str) -> String {
        let full = fixtures().join(path);
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
    }

    fn collect(machine: &str) -> Vec<Service> {
        let mut inv = Inventory::default();
        ServicesCollector
            .collect(&Context::new(fixtures().join(machine)), &mut inv)
            .unwrap();
        inv.services.unwrap()
    }

    fn find<'a>(services: &'a [Service], name: &str) -> &'a Service {
        services
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn unit_file_gives_description_and_install_rules() {
        let unit = parse_unit_file(&read(
            "debian12/usr/lib/systemd/system/systemd-timesyncd.service",
        ));
        assert_eq!(
            unit.description.as_deref(),
            Some("Network Time Synchronization")
        );
        assert!(unit.has_install_rules);
        assert_eq!(unit.aliases, ["dbus-org.freedesktop.timesync1.service"]);

        let unit = parse_unit_file(&read("debian12/usr/lib/systemd/system/apt-daily.service"));
        assert_eq!(
            unit.description.as_deref(),
            Some("Daily apt download activities")
        );
        assert!(!unit.has_install_rules && !unit.has_also);
    }

    #[test]
    fn unit_file_continuations_comments_and_resets_are_honoured() {
        let unit = parse_unit_file(
            "# Description=commented out\n[Unit]\nDescription=Long \\\n  description\n\
             [Install]\nWantedBy=multi-user.target\nWantedBy=\nAlso=foo.socket\n",
        );
        assert_eq!(unit.description.as_deref(), Some("Long  description"));
        assert!(!unit.has_install_rules, "WantedBy= empties the list");
        assert!(unit.has_also);
    }

    #[test]
    fn list_unit_files_gives_name_and_state() {
        let files = parse_list_unit_files(&read("debian12.list-unit-files.txt"));
        assert_eq!(files.len(), 107);
        assert!(files.contains(&("getty@.service".into(), "enabled".into())));
        assert!(files.contains(&("hwclock.service".into(), "masked".into())));
        assert_eq!(
            parse_list_unit_files("ssh.service enabled\n"),
            [("ssh.service".into(), "enabled".into())]
        );
    }

    #[test]
    fn list_units_rows_split_into_columns_with_spaces_kept_in_descriptions() {
        let rows = parse_list_units(&read("debian12-systemd.list-units.txt"));
        assert_eq!(rows.len(), 24);
        let ssh = rows.iter().find(|r| r.name == "ssh.service").unwrap();
        assert_eq!(
            *ssh,
            UnitRow {
                name: "ssh.service".into(),
                load: "loaded".into(),
                active: "active".into(),
                sub: "running".into(),
                description: "OpenBSD Secure Shell server".into(),
            }
        );
        let missing = rows
            .iter()
            .find(|r| r.name == "plymouth-quit-wait.service")
            .unwrap();
        assert_eq!(
            (missing.load.as_str(), missing.active.as_str()),
            ("not-found", "inactive")
        );
    }

    #[test]
    fn list_units_job_column_is_not_taken_for_the_description() {
        let rows = parse_list_units(&read("debian12-systemd-booting.list-units.txt"));
        let waiting = rows
            .iter()
            .find(|r| r.name == "systemd-networkd-wait-online.service")
            .unwrap();
        assert_eq!(waiting.sub, "start");
        assert_eq!(waiting.description, "Wait for Network to be Configured");
        let ssh = rows.iter().find(|r| r.name == "ssh.service").unwrap();
        assert_eq!(ssh.description, "OpenBSD Secure Shell server");
        let journald = rows
            .iter()
            .find(|r| r.name == "systemd-journald.service")
            .unwrap();
        assert_eq!(journald.description, "Journal Service");
    }

    #[test]
    fn collect_on_debian12_agrees_with_systemctl_list_unit_files() {
        let services = collect("debian12");
        let got: Vec<(String, String)> = services
            .iter()
            .map(|s| (s.name.clone(), s.enabled.clone().unwrap()))
            .collect();
        // Captured on the same machine as the unit files (systemd not running there).
        assert_eq!(
            got,
            parse_list_unit_files(&read("debian12.list-unit-files.txt"))
        );
        assert!(
            services
                .iter()
                .all(|s| s.active.is_none() && s.sub.is_none())
        );
    }

    #[test]
    fn collect_on_debian12_reads_descriptions_through_aliases() {
        let services = collect("debian12");
        let getty = find(&services, "getty@.service");
        assert_eq!(getty.description.as_deref(), Some("Getty on %I"));
        let alias = find(&services, "autovt@.service");
        assert_eq!(alias.enabled.as_deref(), Some("alias"));
        assert_eq!(alias.description.as_deref(), Some("Getty on %I"));
        let masked = find(&services, "hwclock.service");
        assert_eq!(
            (masked.enabled.as_deref(), masked.description.as_deref()),
            (Some("masked"), None)
        );
    }

    #[test]
    fn collect_on_synthetic_units_agrees_with_systemctl_root() {
        // Expected states: `systemctl --root=<fixture> list-unit-files --type=service`.
        let services = collect("synthetic");
        let got: Vec<(String, String)> = services
            .iter()
            .map(|s| (s.name.clone(), s.enabled.clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            parse_list_unit_files(&read("synthetic.list-unit-files.txt"))
        );
        let overridden = find(&services, "overridden.service");
        assert_eq!(
            overridden.description.as_deref(),
            Some("Local override in /etc")
        );
    }

    #[test]
    fn systemctl_view_overrides_states_and_adds_runtime_units() {
        let disk = collect("debian12");
        let units = parse_list_units(&read("debian12-systemd.list-units.txt"));
        let files = parse_list_unit_files(&read("debian12.list-unit-files.txt"));
        let merged = merge_systemctl(disk, &units, &files);

        let timesyncd = find(&merged, "systemd-timesyncd.service");
        assert_eq!(timesyncd.enabled.as_deref(), Some("enabled"));
        assert_eq!(
            (timesyncd.active.as_deref(), timesyncd.sub.as_deref()),
            (Some("active"), Some("running"))
        );

        // An instance exists only at runtime; its enablement is not guessed from the template.
        let tty1 = find(&merged, "getty@tty1.service");
        assert_eq!(
            (tty1.enabled.as_deref(), tty1.description.as_deref()),
            (None, Some("Getty on tty1"))
        );

        // Units systemd only knows as dangling references are not installed services.
        assert!(
            !merged
                .iter()
                .any(|s| s.name == "plymouth-quit-wait.service")
        );

        // Installed but never loaded: known from disk, runtime state unknown.
        let debug_shell = find(&merged, "debug-shell.service");
        assert_eq!(
            (
                debug_shell.enabled.as_deref(),
                debug_shell.active.as_deref()
            ),
            (Some("disabled"), None)
        );

        let names: Vec<&str> = merged.iter().map(|s| s.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }
}
