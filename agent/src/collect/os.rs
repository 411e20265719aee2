//! `os` collector: the distribution (os-release), the kernel (release, build string,
//! architecture), when it booted and the system time zone.
//!
//! Time zone, in order: the name after `zoneinfo/` in the target of the `/etc/localtime`
//! symlink (what glibc and systemd actually use; `/etc/timezone` is a Debian-only copy that can
//! go stale); else `/etc/timezone`; else, when `/etc/localtime` does not exist at all, "UTC",
//! because that is what libc falls back to; else (a copied zone file and no `/etc/timezone`)
//! `None`, since the zone's name cannot be known.
//!
//! Architecture comes from `uname(2)` live; against a fixture tree from
//! `/proc/sys/kernel/arch` (Linux ≥ 6.1), else `None`.

use std::collections::HashMap;
use std::io::ErrorKind;

use chrono::{DateTime, Utc};

use super::{CollectError, Collector, Context};
use cmdb_shared::{Inventory, Os};

/// Collects the `os` section.
pub struct OsCollector;

impl Collector for OsCollector {
    fn name(&self) -> &'static str {
        "os"
    }

    fn collect(&self, ctx: &Context, inv: &mut Inventory) -> Result<(), CollectError> {
        // os-release(5): /etc/os-release wins, /usr/lib/os-release is the vendor fallback.
        let release = ["/etc/os-release", "/usr/lib/os-release"]
            .iter()
            .find_map(|p| ctx.read(p).ok())
            .map(|s| parse_os_release(&s))
            .unwrap_or_default();
        let field = |key: &str| release.get(key).filter(|v| !v.is_empty()).cloned();

        let architecture = if ctx.is_live() {
            let uts = rustix::system::uname();
            Some(uts.machine().to_string_lossy().into_owned()).filter(|m| !m.is_empty())
        } else {
            ctx.read_trimmed("/proc/sys/kernel/arch")
        };

        inv.os = Some(Os {
            id: field("ID"),
            name: field("NAME"),
            version_id: field("VERSION_ID"),
            pretty_name: field("PRETTY_NAME"),
            kernel_release: ctx.read_trimmed("/proc/sys/kernel/osrelease"),
            kernel_version: ctx.read_trimmed("/proc/sys/kernel/version"),
            architecture,
            boot_time: ctx
                .read("/proc/stat")
                .ok()
                .and_then(|s| parse_boot_time(&s)),
            timezone: timezone(ctx),
        });
        Ok(())
    }
}

/// The system time zone, by the rule in this module's documentation.
fn timezone(ctx: &Context) -> Option<String> {
    let localtime = ctx.path("/etc/localtime");
    let etc_timezone = || ctx.read_trimmed("/etc/timezone");
    match std::fs::symlink_metadata(&localtime) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(&localtime)
            .ok()
            .and_then(|target| zone_from_localtime_target(&target.to_string_lossy()))
            .or_else(etc_timezone),
        Ok(_) => etc_timezone(),
        Err(e) if e.kind() == ErrorKind::NotFound => Some("UTC".to_string()),
        Err(_) => etc_timezone(),
    }
}

/// The IANA zone name in a `/etc/localtime` symlink target
/// ("../usr/share/zoneinfo/Europe/Berlin" → "Europe/Berlin").
pub fn zone_from_localtime_target(target: &str) -> Option<String> {
    let (_, zone) = target.rsplit_once("zoneinfo/")?;
    // "posix/" and "right/" are variants of the same zones (without/with leap seconds).
    let zone = zone
        .strip_prefix("posix/")
        .or_else(|| zone.strip_prefix("right/"))
        .unwrap_or(zone);
    (!zone.is_empty()).then(|| zone.to_string())
}

/// Parses os-release(5): `KEY=value` lines, values unquoted the way a POSIX shell would
/// (single quotes literal; double quotes with `\"`, `\\`, `` \` `` and `\$` escapes; a
/// backslash outside quotes escapes the next character). Comments and junk lines are skipped.
pub fn parse_os_release(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                return None;
            }
            let (key, value) = line.split_once('=')?;
            let valid_key = !key.is_empty()
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !key.as_bytes()[0].is_ascii_digit();
            valid_key.then(|| (key.to_string(), shell_unquote(value)))
        })
        .collect()
}

fn shell_unquote(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => out.extend(chars.by_ref().take_while(|&c| c != '\'')),
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some(e @ ('"' | '\\' | '`' | '$')) => out.push(e),
                            Some(other) => {
                                out.push('\\');
                                out.push(other);
                            }
                            None => out.push('\\'),
                        },
                        other => out.push(other),
                    }
                }
            }
            '\\' => {
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The boot time from the `btime` line (seconds since the epoch, UTC) of `/proc/stat`.
pub fn parse_boot_time(proc_stat: &str) -> Option<DateTime<Utc>> {
    let secs = proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse::<i64>()
        .ok()?;
    DateTime::from_timestamp(secs, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = include_str!("../../fixtures/os/debian12-firecracker/usr/lib/os-release");

    fn collect(machine: &str) -> Os {
        let root = format!("{}/fixtures/os/{machine}", env!("CARGO_MANIFEST_DIR"));
        let mut inv = Inventory::default();
        OsCollector
            .collect(&Context::new(root), &mut inv)
            .expect("collects");
        inv.os.expect("section")
    }

    fn at(secs: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(secs, 0)
    }

    #[test]
    fn debian_os_release_yields_its_names_and_version() {
        let r = parse_os_release(DEBIAN);
        assert_eq!(r["ID"], "debian");
        assert_eq!(r["NAME"], "Debian GNU/Linux");
        assert_eq!(r["VERSION_ID"], "12");
        assert_eq!(r["PRETTY_NAME"], "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(r["VERSION_CODENAME"], "bookworm");
    }

    #[test]
    fn os_release_values_are_unquoted_like_a_shell_would() {
        let r = parse_os_release(concat!(
            "# a comment\n",
            "NAME='Single \"quoted\"'\n",
            "PRETTY_NAME=\"Say \\\"hi\\\" for \\$5 \\\\ \\`now\\`\"\n",
            "ID=plain\n",
            "ESCAPED=two\\ words\n",
            "KEEP=\"back\\slash\"\n",
            "JOINED=\"a\"'b'c\n",
            "EMPTY=\n",
            "not a key value line\n",
            "1BAD=key\n",
        ));
        assert_eq!(r["NAME"], "Single \"quoted\"");
        assert_eq!(r["PRETTY_NAME"], "Say \"hi\" for $5 \\ `now`");
        assert_eq!(r["ID"], "plain");
        assert_eq!(r["ESCAPED"], "two words");
        assert_eq!(r["KEEP"], "back\\slash");
        assert_eq!(r["JOINED"], "abc");
        assert_eq!(r["EMPTY"], "");
        assert_eq!(r.len(), 7);
    }

    #[test]
    fn boot_time_comes_from_btime_in_utc() {
        let stat = include_str!("../../fixtures/os/debian12-firecracker/proc/stat");
        assert_eq!(parse_boot_time(stat), at(1_795_248_891));
        assert_eq!(parse_boot_time("cpu 1 2 3\n"), None);
    }

    #[test]
    fn localtime_targets_give_the_zone_name() {
        let zone = |t| zone_from_localtime_target(t);
        assert_eq!(
            zone("/usr/share/zoneinfo/Etc/UTC").as_deref(),
            Some("Etc/UTC")
        );
        assert_eq!(
            zone("../usr/share/zoneinfo/Europe/Berlin").as_deref(),
            Some("Europe/Berlin")
        );
        assert_eq!(
            zone("/usr/share/zoneinfo/posix/Asia/Tokyo").as_deref(),
            Some("Asia/Tokyo")
        );
        assert_eq!(zone("/usr/share/zoneinfo/"), None);
        assert_eq!(zone("/etc/alternatives/localtime"), None);
    }

    #[test]
    fn the_firecracker_vm_reports_debian_12_and_its_kernel() {
        assert_eq!(
            collect("debian12-firecracker"),
            Os {
                id: Some("debian".into()),
                name: Some("Debian GNU/Linux".into()),
                version_id: Some("12".into()),
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
                kernel_release: Some("6.18.44-fc-v657".into()),
                kernel_version: Some("#1 SMP PREEMPT_DYNAMIC @0".into()),
                architecture: Some("x86_64".into()),
                boot_time: at(1_795_248_891),
                timezone: Some("Etc/UTC".into()),
            }
        );
    }

    #[test]
    fn rhel_falls_back_to_usr_lib_os_release_and_a_relative_localtime_link() {
        let os = collect("rhel94-server");
        assert_eq!(os.id.as_deref(), Some("rhel"));
        assert_eq!(os.version_id.as_deref(), Some("9.4"));
        assert_eq!(
            os.pretty_name.as_deref(),
            Some("Red Hat Enterprise Linux 9.4 (Plow)")
        );
        assert_eq!(
            os.kernel_release.as_deref(),
            Some("5.14.0-427.13.1.el9_4.x86_64")
        );
        // Its 5.14 kernel has no /proc/sys/kernel/arch, and uname is for live hosts only.
        assert_eq!(os.architecture, None);
        assert_eq!(os.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(os.boot_time, at(1_716_971_127));
    }

    #[test]
    fn an_alpine_container_without_localtime_runs_on_utc() {
        let os = collect("alpine320-container");
        assert_eq!(os.id.as_deref(), Some("alpine"));
        assert_eq!(os.version_id.as_deref(), Some("3.20.3"));
        assert_eq!(os.name.as_deref(), Some("Alpine Linux"));
        assert_eq!(os.timezone.as_deref(), Some("UTC"));
    }

    #[test]
    fn a_copied_localtime_file_without_etc_timezone_has_no_zone_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("etc")).expect("mkdir");
        std::fs::write(dir.path().join("etc/localtime"), b"TZif2...").expect("write");
        assert_eq!(timezone(&Context::new(dir.path())), None);
        std::fs::write(dir.path().join("etc/timezone"), "America/New_York\n").expect("write");
        assert_eq!(
            timezone(&Context::new(dir.path())).as_deref(),
            Some("America/New_York")
        );
    }
}
