//! `cpu` collector: processor model, vendor and topology from `/proc/cpuinfo`, frequency from
//! cpufreq.
//!
//! Topology: threads = processor entries; sockets = distinct `physical id` (1 when the kernel
//! lists none, as on ARM); cores = per socket the distinct `core id`s (core ids are not
//! contiguous on many Xeons, so counting beats arithmetic), else its `cpu cores`, else one
//! core per thread. On ARM, where cpuinfo has no model name, the vendor and model come from
//! the `CPU implementer`/`CPU part` codes for the few well-known ones and are `None` otherwise.
//!
//! Frequency: `cpuinfo_max_freq` of cpu0 (the rated maximum, stable) when cpufreq exposes it,
//! else the first processor's current `cpu MHz` (volatile, the only number VMs expose).

use std::collections::{BTreeMap, BTreeSet};

use super::{CollectError, Collector, Context};
use cmdb_shared::{Cpu, Inventory};

/// Collects the `cpu` section.
pub struct CpuCollector;

impl Collector for CpuCollector {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn collect(&self, ctx: &Context, inv: &mut Inventory) -> Result<(), CollectError> {
        let text = ctx
            .read("/proc/cpuinfo")
            .map_err(|e| CollectError::io("/proc/cpuinfo", e))?;
        let mut cpu = parse_cpuinfo(&text)?;
        if let Some(max) = ctx
            .read_trimmed("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
            .and_then(|khz| parse_khz_as_mhz(&khz))
        {
            cpu.mhz = Some(max);
        }
        inv.cpu = Some(cpu);
        Ok(())
    }
}

/// A cpufreq value in kHz as MHz.
pub fn parse_khz_as_mhz(text: &str) -> Option<f64> {
    let khz: u64 = text.trim().parse().ok()?;
    // u64 kHz → f64 is exact far beyond any real clock.
    (khz > 0).then(|| khz as f64 / 1000.0)
}

/// Parses `/proc/cpuinfo` (x86 and ARM layouts). `mhz` is the first processor's `cpu MHz`.
pub fn parse_cpuinfo(text: &str) -> Result<Cpu, CollectError> {
    // Processor entries are blank-line separated blocks of "key<TAB>: value" lines; ARM
    // appends a board block (Hardware, Revision, Serial) that has no "processor" key.
    let processors: Vec<BTreeMap<&str, &str>> = text
        .split("\n\n")
        .map(|block| {
            block
                .lines()
                .filter_map(|line| line.split_once(':'))
                .map(|(k, v)| (k.trim(), v.trim()))
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|fields| fields.contains_key("processor"))
        .collect();
    let first = processors.first().ok_or_else(|| CollectError::Parse {
        what: "/proc/cpuinfo".into(),
        reason: "no processor entries".into(),
    })?;

    // Per socket: its core ids and its "cpu cores" claim, and how many threads it has.
    #[derive(Default)]
    struct Socket<'a> {
        core_ids: BTreeSet<&'a str>,
        cpu_cores: Option<u32>,
        threads: u32,
    }
    let mut sockets: BTreeMap<&str, Socket> = BTreeMap::new();
    for p in &processors {
        let socket = sockets
            .entry(p.get("physical id").copied().unwrap_or(""))
            .or_default();
        socket.threads += 1;
        if let Some(core) = p.get("core id") {
            socket.core_ids.insert(core);
        }
        if let Some(n) = p.get("cpu cores").and_then(|n| n.parse().ok()) {
            socket.cpu_cores = Some(n);
        }
    }
    let cores = sockets
        .values()
        .map(|s| match (s.core_ids.len(), s.cpu_cores) {
            (0, Some(n)) => n,
            (0, None) => s.threads,
            (ids, _) => u32::try_from(ids).unwrap_or(u32::MAX),
        })
        .sum();

    let arm_implementer = first.get("CPU implementer").copied();
    let model = first
        .get("model name")
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| arm_core_name(arm_implementer?, first.get("CPU part")?).map(str::to_string));
    let vendor = first
        .get("vendor_id")
        .map(|s| s.to_string())
        .or_else(|| arm_implementer_name(arm_implementer?).map(str::to_string));

    Ok(Cpu {
        model,
        vendor,
        sockets: u32::try_from(sockets.len()).unwrap_or(u32::MAX),
        cores,
        threads: u32::try_from(processors.len()).unwrap_or(u32::MAX),
        mhz: first.get("cpu MHz").and_then(|m| m.parse().ok()),
    })
}

/// Names for ARM `CPU implementer` codes (the list lscpu and the Arm ARM use).
fn arm_implementer_name(code: &str) -> Option<&'static str> {
    Some(match parse_hex(code)? {
        0x41 => "ARM",
        0x42 => "Broadcom",
        0x43 => "Cavium",
        0x46 => "Fujitsu",
        0x48 => "HiSilicon",
        0x4e => "NVIDIA",
        0x50 => "APM",
        0x51 => "Qualcomm",
        0x61 => "Apple",
        0x6d => "Microsoft",
        0xc0 => "Ampere",
        _ => return None,
    })
}

/// Core names for Arm Ltd. designs common in servers and boards; others stay unnamed.
fn arm_core_name(implementer: &str, part: &str) -> Option<&'static str> {
    if parse_hex(implementer)? != 0x41 {
        return None;
    }
    Some(match parse_hex(part)? {
        0xd03 => "Cortex-A53",
        0xd05 => "Cortex-A55",
        0xd07 => "Cortex-A57",
        0xd08 => "Cortex-A72",
        0xd09 => "Cortex-A73",
        0xd0b => "Cortex-A76",
        0xd0c => "Neoverse-N1",
        0xd40 => "Neoverse-V1",
        0xd49 => "Neoverse-N2",
        0xd4f => "Neoverse-V2",
        _ => return None,
    })
}

fn parse_hex(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpuinfo(machine: &str) -> String {
        let p = format!(
            "{}/fixtures/cpu/{machine}/proc/cpuinfo",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn collect(machine: &str) -> Cpu {
        let root = format!("{}/fixtures/cpu/{machine}", env!("CARGO_MANIFEST_DIR"));
        let mut inv = Inventory::default();
        CpuCollector
            .collect(&Context::new(root), &mut inv)
            .expect("collects");
        inv.cpu.expect("section")
    }

    #[test]
    fn the_firecracker_vm_has_one_socket_with_two_cores() {
        let cpu = parse_cpuinfo(&cpuinfo("debian12-firecracker")).expect("parses");
        assert_eq!(
            cpu,
            Cpu {
                model: Some("AMD EPYC".into()),
                vendor: Some("AuthenticAMD".into()),
                sockets: 1,
                cores: 2,
                threads: 2,
                mhz: Some(2445.432),
            }
        );
    }

    #[test]
    fn a_two_socket_xeon_counts_its_non_contiguous_core_ids() {
        let cpu = parse_cpuinfo(&cpuinfo("dell-r730-2x-e5-2630v4")).expect("parses");
        assert_eq!(
            cpu.model.as_deref(),
            Some("Intel(R) Xeon(R) CPU E5-2630 v4 @ 2.20GHz")
        );
        assert_eq!(cpu.vendor.as_deref(), Some("GenuineIntel"));
        assert_eq!((cpu.sockets, cpu.cores, cpu.threads), (2, 20, 40));
    }

    #[test]
    fn a_raspberry_pi_names_its_arm_core_and_ignores_the_board_block() {
        let cpu = parse_cpuinfo(&cpuinfo("raspberrypi4-arm64")).expect("parses");
        assert_eq!(cpu.model.as_deref(), Some("Cortex-A72"));
        assert_eq!(cpu.vendor.as_deref(), Some("ARM"));
        assert_eq!((cpu.sockets, cpu.cores, cpu.threads), (1, 4, 4));
        assert_eq!(cpu.mhz, None);
    }

    #[test]
    fn an_unknown_arm_part_has_no_model() {
        let text =
            "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xfff\n";
        let cpu = parse_cpuinfo(text).expect("parses");
        assert_eq!((cpu.model, cpu.vendor.as_deref()), (None, Some("ARM")));
    }

    #[test]
    fn cpu_cores_counts_when_core_ids_are_missing() {
        let text = "processor\t: 0\nphysical id\t: 0\ncpu cores\t: 4\n\n\
                    processor\t: 1\nphysical id\t: 0\ncpu cores\t: 4\n";
        let cpu = parse_cpuinfo(text).expect("parses");
        assert_eq!((cpu.sockets, cpu.cores, cpu.threads), (1, 4, 2));
    }

    #[test]
    fn cpuinfo_without_processors_is_an_error() {
        assert!(parse_cpuinfo("").is_err());
    }

    #[test]
    fn cpufreq_khz_become_mhz() {
        assert_eq!(parse_khz_as_mhz("3100000\n"), Some(3100.0));
        assert_eq!(parse_khz_as_mhz("0"), None);
        assert_eq!(parse_khz_as_mhz("n/a"), None);
    }

    #[test]
    fn collect_prefers_the_cpufreq_maximum_over_the_current_clock() {
        let cpu = collect("dell-r730-2x-e5-2630v4");
        assert_eq!(cpu.mhz, Some(3100.0));
        assert_eq!(collect("raspberrypi4-arm64").mhz, Some(1800.0));
    }

    #[test]
    fn collect_on_the_firecracker_vm_uses_cpu_mhz_without_cpufreq() {
        let cpu = collect("debian12-firecracker");
        assert_eq!((cpu.sockets, cpu.cores, cpu.threads), (1, 2, 2));
        assert_eq!(cpu.mhz, Some(2445.432));
    }
}
