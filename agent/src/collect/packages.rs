//! `packages` collector: installed packages from every package manager present (dpkg, rpm, apk).
//!
//! dpkg and apk keep plain-text databases, read under the context root. rpm's database is a
//! binary (BerkeleyDB, NDB or SQLite depending on the release), so it is queried with `rpm -qa`,
//! on the live system only. A manager whose database is absent contributes nothing; a database
//! that exists but cannot be read fails the section rather than silently shrinking it.

use std::collections::BTreeMap;
use std::process::Command;

use cmdb_shared::{Inventory, Package};

use super::{CollectError, Collector, Context};

const DPKG_STATUS: &str = "/var/lib/dpkg/status";
/// dpkg's journal: stanzas written since the status file was last rewritten (after an
/// interrupted run). dpkg-query applies them on top of `status`, so we do too.
const DPKG_UPDATES: &str = "/var/lib/dpkg/updates";
/// apk moved its database under /usr on recent Alpine, leaving /lib/apk a symlink; older
/// releases only have the /lib path.
const APK_INSTALLED: [&str; 2] = ["/lib/apk/db/installed", "/usr/lib/apk/db/installed"];
const RPM_BINARIES: [&str; 2] = ["/usr/bin/rpm", "/bin/rpm"];
/// Fedora 36+/RHEL 10 keep the database in /usr/lib/sysimage/rpm (with /var/lib/rpm a symlink
/// on upgraded systems only).
const RPM_DBS: [&str; 2] = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"];
/// rpm expands the backslash escapes itself, as when the format is given in a shell.
const RPM_QUERYFORMAT: &str = r"%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\n";

/// Collects the `packages` section.
pub struct PackagesCollector;

impl Collector for PackagesCollector {
    fn name(&self) -> &'static str {
        "packages"
    }

    fn collect(&self, ctx: &Context, inv: &mut Inventory) -> Result<(), CollectError> {
        let mut packages = Vec::new();
        packages.extend(dpkg_packages(ctx)?);
        packages.extend(rpm_packages(ctx)?);
        for path in APK_INSTALLED {
            if let Some(text) = read_optional(ctx, path)? {
                packages.extend(parse_apk_installed(&text));
                break;
            }
        }
        sort_packages(&mut packages);
        inv.packages = Some(packages);
        Ok(())
    }
}

/// Reads a file under the root; `None` when it does not exist.
fn read_optional(ctx: &Context, path: &str) -> Result<Option<String>, CollectError> {
    match ctx.read(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CollectError::io(path, e)),
    }
}

/// Sorted by (manager, name, architecture, version): multi-arch copies of a package sit
/// together, and so do several installed versions of one package (rpm kernels).
pub fn sort_packages(packages: &mut Vec<Package>) {
    packages.sort_by(|a, b| {
        (&a.manager, &a.name, &a.architecture, &a.version).cmp(&(
            &b.manager,
            &b.name,
            &b.architecture,
            &b.version,
        ))
    });
    packages.dedup();
}

/// The dpkg status database with its pending journal applied.
fn dpkg_packages(ctx: &Context) -> Result<Vec<Package>, CollectError> {
    let Some(status) = read_optional(ctx, DPKG_STATUS)? else {
        return Ok(Vec::new());
    };
    let mut records = parse_dpkg_status(&status);

    let mut journal: Vec<(u64, String)> = match std::fs::read_dir(ctx.path(DPKG_UPDATES)) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                // Only all-digit names are journal entries (dpkg also leaves `tmp.i` there).
                name.parse::<u64>().ok().map(|n| (n, name))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(CollectError::io(DPKG_UPDATES, e)),
    };
    journal.sort();
    for (_, name) in journal {
        let path = format!("{DPKG_UPDATES}/{name}");
        let text = ctx.read(&path).map_err(|e| CollectError::io(path, e))?;
        records = apply_dpkg_updates(records, parse_dpkg_status(&text));
    }
    Ok(installed_dpkg_packages(&records))
}

/// One stanza of the dpkg status database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgRecord {
    pub package: String,
    pub version: Option<String>,
    pub architecture: Option<String>,
    /// Third word of `Status:` ("installed", "config-files", "not-installed", …).
    pub state: String,
}

/// `/var/lib/dpkg/status`: RFC 822-like stanzas separated by blank lines; lines starting with a
/// space or tab continue the previous field (descriptions, conffiles) and are skipped.
pub fn parse_dpkg_status(text: &str) -> Vec<DpkgRecord> {
    let mut records = Vec::new();
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            records.extend(dpkg_record(&fields));
            fields.clear();
        } else if line.starts_with([' ', '\t']) {
            continue;
        } else if let Some((key, value)) = line.split_once(':') {
            fields.insert(key, value.trim());
        }
    }
    records
}

fn dpkg_record(fields: &BTreeMap<&str, &str>) -> Option<DpkgRecord> {
    let status = fields.get("Status")?;
    Some(DpkgRecord {
        package: fields.get("Package")?.to_string(),
        version: fields.get("Version").map(|v| v.to_string()),
        architecture: fields.get("Architecture").map(|a| a.to_string()),
        state: status
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_string(),
    })
}

/// Replaces status records by journal records of the same package and architecture.
pub fn apply_dpkg_updates(records: Vec<DpkgRecord>, updates: Vec<DpkgRecord>) -> Vec<DpkgRecord> {
    let key = |r: &DpkgRecord| (r.package.clone(), r.architecture.clone());
    let mut by_key: BTreeMap<_, DpkgRecord> = records.into_iter().map(|r| (key(&r), r)).collect();
    for update in updates {
        by_key.insert(key(&update), update);
    }
    by_key.into_values().collect()
}

/// What `dpkg-query -W` lists: every package whose state is not "not-installed". That includes
/// removed-but-not-purged ("config-files", `rc` in `dpkg -l`) and half-installed packages: they
/// still own files or configuration on the host, and matching dpkg-query keeps counts comparable.
pub fn installed_dpkg_packages(records: &[DpkgRecord]) -> Vec<Package> {
    records
        .iter()
        .filter(|r| r.state != "not-installed")
        .map(|r| Package {
            manager: "dpkg".to_string(),
            name: r.package.clone(),
            version: r.version.clone().unwrap_or_default(),
            architecture: r.architecture.clone(),
        })
        .collect()
}

/// `/lib/apk/db/installed`: one record per package, separated by blank lines, each line a
/// one-letter key, a colon and the value (`P` name, `V` version, `A` architecture).
pub fn parse_apk_installed(text: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    let (mut name, mut version, mut arch) = (None, None, None);
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if let (Some(name), Some(version)) = (name.take(), version.take()) {
                packages.push(Package {
                    manager: "apk".to_string(),
                    name,
                    version,
                    architecture: arch.take(),
                });
            }
            (name, version, arch) = (None, None, None);
        } else if let Some(v) = line.strip_prefix("P:") {
            name = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("V:") {
            version = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("A:") {
            arch = Some(v.to_string());
        }
    }
    packages
}

/// Installed rpm packages, from `rpm -qa` on the live system when rpm and its database exist.
fn rpm_packages(ctx: &Context) -> Result<Vec<Package>, CollectError> {
    if !ctx.is_live() {
        return Ok(Vec::new());
    }
    let Some(rpm) = RPM_BINARIES.into_iter().find(|p| ctx.path(p).is_file()) else {
        return Ok(Vec::new());
    };
    if !RPM_DBS.iter().any(|p| ctx.path(p).is_dir()) {
        return Ok(Vec::new());
    }
    let output = Command::new(rpm)
        .args(["-qa", "--queryformat", RPM_QUERYFORMAT])
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| CollectError::io(rpm, e))?;
    if !output.status.success() {
        return Err(CollectError::Parse {
            what: "rpm -qa".to_string(),
            reason: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(parse_rpm_query(&String::from_utf8_lossy(&output.stdout)))
}

/// Output of `rpm -qa --queryformat '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\n'`.
/// The epoch is kept only when non-zero, as rpm itself prints versions ("1:3.0.7-27.el9").
/// `gpg-pubkey` entries are imported signing keys, not software, and are skipped.
pub fn parse_rpm_query(text: &str) -> Vec<Package> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let (Some(name), Some(evr), Some(arch)) = (fields.next(), fields.next(), fields.next())
            else {
                if !line.trim().is_empty() {
                    tracing::warn!(line, "unexpected rpm -qa line");
                }
                return None;
            };
            if name == "gpg-pubkey" {
                return None;
            }
            let version = match evr.split_once(':') {
                Some(("0", vr)) => vr.to_string(),
                Some(_) | None => evr.to_string(),
            };
            Some(Package {
                manager: "rpm".to_string(),
                name: name.to_string(),
                version,
                architecture: (arch != "(none)").then(|| arch.to_string()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/packages")
    }

    fn read(path: &str) -> String {
        let full = fixtures().join(path);
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
    }

    fn collect(machine: &str) -> Vec<Package> {
        let mut inv = Inventory::default();
        PackagesCollector
            .collect(&Context::new(fixtures().join(machine)), &mut inv)
            .unwrap();
        inv.packages.unwrap()
    }

    fn pkg(manager: &str, name: &str, version: &str, arch: Option<&str>) -> Package {
        Package {
            manager: manager.into(),
            name: name.into(),
            version: version.into(),
            architecture: arch.map(Into::into),
        }
    }

    #[test]
    fn dpkg_status_stanzas_skip_continuation_lines() {
        let records = parse_dpkg_status(&read("debian12/var/lib/dpkg/status"));
        assert_eq!(records.len(), 24);
        assert!(records.iter().all(|r| r.state == "installed"));
        // libc6 has a multi-line Description and Conffiles; neither leaks into the fields.
        let libc = records.iter().find(|r| r.package == "libc6").unwrap();
        assert_eq!(libc.version.as_deref(), Some("2.36-9+deb12u14"));
        assert_eq!(libc.architecture.as_deref(), Some("amd64"));
        let bsdutils = records.iter().find(|r| r.package == "bsdutils").unwrap();
        assert_eq!(bsdutils.version.as_deref(), Some("1:2.38.1-5+deb12u3"));
    }

    #[test]
    fn dpkg_packages_are_what_dpkg_query_w_lists() {
        // The expected list is real `dpkg-query --admindir=… -W` output for this status file.
        let status = read("debian12-multiarch-states/var/lib/dpkg/status");
        let got = installed_dpkg_packages(&parse_dpkg_status(&status));
        let want: Vec<Package> = read("debian12-multiarch-states.dpkg-query.txt")
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let name = f[1].split(':').next().unwrap();
                pkg("dpkg", name, f[2], Some(f[3]))
            })
            .collect();
        let (mut got, mut want) = (got, want);
        sort_packages(&mut got);
        sort_packages(&mut want);
        assert_eq!(got, want);
    }

    #[test]
    fn removed_packages_with_config_files_count_but_purged_ones_do_not() {
        let status = read("debian12-multiarch-states/var/lib/dpkg/status");
        let packages = installed_dpkg_packages(&parse_dpkg_status(&status));
        assert!(packages.contains(&pkg("dpkg", "wget", "1.21.3-1+deb12u1", Some("amd64"))));
        assert!(packages.contains(&pkg("dpkg", "bzip2", "1.0.8-5+b1", Some("amd64"))));
        assert!(!packages.iter().any(|p| p.name == "less"));
    }

    #[test]
    fn dpkg_journal_entries_override_the_status_file() {
        let status = parse_dpkg_status(&read("debian12/var/lib/dpkg/status"));
        let update = parse_dpkg_status(
            "Package: wget\nStatus: purge ok not-installed\nArchitecture: amd64\n\n\
             Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10+deb12u12\n\
             Architecture: amd64\n",
        );
        let packages = installed_dpkg_packages(&apply_dpkg_updates(status, update));
        assert_eq!(packages.len(), 24);
        assert!(!packages.iter().any(|p| p.name == "wget"));
        assert!(packages.contains(&pkg("dpkg", "curl", "7.88.1-10+deb12u12", Some("amd64"))));
    }

    #[test]
    fn rpm_query_output_drops_zero_epochs_and_gpg_keys() {
        let packages = parse_rpm_query(&read("rhel9.rpm-qa.txt"));
        assert!(!packages.iter().any(|p| p.name == "gpg-pubkey"));
        assert!(packages.contains(&pkg("rpm", "bash", "5.1.8-9.el9", Some("x86_64"))));
        assert!(packages.contains(&pkg(
            "rpm",
            "openssl-libs",
            "1:3.0.7-27.el9",
            Some("x86_64")
        )));
        assert!(packages.contains(&pkg("rpm", "tzdata", "2024a-1.el9", Some("noarch"))));
        // Multilib: the same name and version for two architectures.
        let glibc: Vec<_> = packages.iter().filter(|p| p.name == "glibc").collect();
        assert_eq!(glibc.len(), 2);
        assert_eq!(packages.len(), 24);
    }

    #[test]
    fn rpm_packages_sort_kernels_of_several_versions_together() {
        let mut packages = parse_rpm_query(&read("rhel9.rpm-qa.txt"));
        sort_packages(&mut packages);
        let kernels: Vec<&str> = packages
            .iter()
            .filter(|p| p.name == "kernel-core")
            .map(|p| p.version.as_str())
            .collect();
        assert_eq!(kernels, ["5.14.0-362.8.1.el9_3", "5.14.0-427.13.1.el9_4"]);
    }

    #[test]
    fn apk_installed_records_give_name_version_and_arch() {
        let packages = parse_apk_installed(&read("alpine3.20/lib/apk/db/installed"));
        assert_eq!(packages.len(), 8);
        assert!(packages.contains(&pkg("apk", "musl", "1.2.5-r0", Some("x86_64"))));
        assert!(packages.contains(&pkg("apk", "busybox", "1.36.1-r29", Some("x86_64"))));
    }

    #[test]
    fn collect_on_debian12_lists_dpkg_packages_sorted() {
        let packages = collect("debian12");
        assert_eq!(packages.len(), 24);
        assert!(packages.iter().all(|p| p.manager == "dpkg"));
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(packages[0], pkg("dpkg", "adduser", "3.134", Some("all")));
    }

    #[test]
    fn collect_keeps_multi_arch_copies_apart_by_architecture() {
        let packages = collect("debian12-multiarch-states");
        let libc: Vec<_> = packages.iter().filter(|p| p.name == "libc6").collect();
        assert_eq!(
            libc,
            [
                &pkg("dpkg", "libc6", "2.36-9+deb12u14", Some("amd64")),
                &pkg("dpkg", "libc6", "2.36-9+deb12u14", Some("i386")),
            ]
        );
        assert_eq!(packages.len(), 25);
    }

    #[test]
    fn collect_on_alpine_reads_the_apk_database() {
        let packages = collect("alpine3.20");
        assert_eq!(packages.len(), 8);
        assert!(packages.iter().all(|p| p.manager == "apk"));
        assert_eq!(packages[0].name, "alpine-baselayout");
    }

    #[test]
    fn collect_without_any_database_gives_an_empty_list() {
        let packages = collect("no-such-machine");
        assert!(packages.is_empty());
    }
}
