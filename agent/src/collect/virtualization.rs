//! `virtualization` collector: the hypervisor this host runs under and the container it runs
//! in, decided from the signals `systemd-detect-virt` uses, but without trusting `/.dockerenv`
//! on its own.
//!
//! VM, first match wins (systemd's order):
//! 1. DMI naming Oracle VirtualBox, Xen, Amazon EC2, Parallels or Google: these also show
//!    KVM's CPUID signature, and DMI is the more specific answer.
//! 2. Xen: `/proc/xen` or `/sys/hypervisor/type` = "xen", unless `/proc/xen/capabilities`
//!    says `control_d` (dom0 is the host, not a guest).
//! 3. CPUID leaf 0x40000000 vendor signature, read only live on x86_64 and only when leaf 1
//!    reports a hypervisor (the leaf is garbage otherwise). An unknown signature is noted as
//!    "other" but later, more specific signals may still name the hypervisor.
//! 4. Any other DMI match (QEMU, VMware, Hyper-V, bhyve, …).
//! 5. `/proc/device-tree/hypervisor/compatible` (ARM guests).
//! 6. The `hypervisor` flag in `/proc/cpuinfo`: some hypervisor, name unknown ("other").
//!
//! Container: signals that name a runtime, first match wins: `/run/.containerenv` (podman),
//! `/run/host/container-manager`, `/run/systemd/container`, `container=` in PID 1's
//! environment (unreadable without privileges: skipped), container cgroups in `/proc/1/cgroup`
//! or `/proc/self/cgroup` (whole path segments: `/docker/<id>`, `docker-<id>.scope`,
//! `libpod-<id>.scope`, `/lxc/<name>`, `lxc.payload.<name>`, `cri-containerd-<id>.scope`,
//! `crio-<id>.scope`, then `kubepods*` with the runtime unknown), an overlay root filesystem
//! whose layers live in a container engine's storage, OpenVZ (`/proc/vz` without `/proc/bc`),
//! WSL (the kernel release).
//!
//! `/.dockerenv` alone proves nothing: images and VM templates built from container layers
//! carry the file (the reference Firecracker VM does, and `systemd-detect-virt` wrongly says
//! "docker" there). It only corroborates another signal, and names the runtime "docker" when
//! the other signal does not say which one (a bare `kubepods` cgroup, a containerd snapshot).
//!
//! Guests: on a libvirt hypervisor, the running QEMU/KVM domains are listed from their status
//! files in `/run/libvirt/qemu/*.xml` (name, UUID, domain type), so the server can relate each
//! VM (whose own agent reports that UUID as its hardware UUID) to this host. Only three values
//! are read from a file libvirt writes itself, so a small scan does it rather than an XML
//! parser in the agent.

use super::filesystems::parse_mountinfo;
use super::{CollectError, Collector, Context};
use cmdb_shared::{Inventory, Virtualization};

/// Collects the `virtualization` section.
pub struct VirtualizationCollector;

impl Collector for VirtualizationCollector {
    fn name(&self) -> &'static str {
        "virtualization"
    }

    fn collect(&self, ctx: &Context, inv: &mut Inventory) -> Result<(), CollectError> {
        let mut v = decide(&Signals::read(ctx));
        v.guests = read_guests(ctx);
        inv.virtualization = Some(v);
        Ok(())
    }
}

/// The DMI strings hypervisors fill in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dmi {
    pub sys_vendor: Option<String>,
    pub product_name: Option<String>,
    pub product_version: Option<String>,
    pub board_vendor: Option<String>,
    pub bios_vendor: Option<String>,
}

/// Everything the decision looks at, gathered by [`Signals::read`] so [`decide`] stays pure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    /// The 12-byte CPUID 0x40000000 vendor signature (live x86_64 with a hypervisor only).
    pub cpuid_vendor: Option<Vec<u8>>,
    pub dmi: Dmi,
    /// `/proc/xen` exists or `/sys/hypervisor/type` says "xen".
    pub xen: bool,
    /// `/proc/xen/capabilities` contains `control_d`.
    pub xen_dom0: bool,
    /// `/proc/device-tree/hypervisor/compatible` (NUL-separated).
    pub device_tree_hypervisor: Option<String>,
    /// `/proc/cpuinfo` (only its `flags` line matters).
    pub cpuinfo: Option<String>,
    pub dockerenv: bool,
    pub containerenv: bool,
    pub host_container_manager: Option<String>,
    pub systemd_container: Option<String>,
    /// `/proc/1/environ` (NUL-separated), when readable.
    pub pid1_environ: Option<Vec<u8>>,
    /// `/proc/1/cgroup` then `/proc/self/cgroup`.
    pub cgroups: Vec<String>,
    pub mountinfo: Option<String>,
    /// `/proc/vz` exists and `/proc/bc` does not.
    pub openvz: bool,
    pub kernel_osrelease: Option<String>,
}

impl Signals {
    /// Reads every signal under the context root; CPUID only when live.
    pub fn read(ctx: &Context) -> Self {
        let exists = |p: &str| ctx.path(p).exists();
        let dmi = |f: &str| ctx.read_trimmed(&format!("/sys/class/dmi/id/{f}"));
        Signals {
            cpuid_vendor: if ctx.is_live() {
                cpuid_hypervisor_vendor()
            } else {
                None
            },
            dmi: Dmi {
                sys_vendor: dmi("sys_vendor"),
                product_name: dmi("product_name"),
                product_version: dmi("product_version"),
                board_vendor: dmi("board_vendor"),
                bios_vendor: dmi("bios_vendor"),
            },
            xen: exists("/proc/xen")
                || ctx
                    .read_trimmed("/sys/hypervisor/type")
                    .is_some_and(|t| t == "xen"),
            xen_dom0: ctx
                .read_trimmed("/proc/xen/capabilities")
                .is_some_and(|c| c.contains("control_d")),
            device_tree_hypervisor: std::fs::read(
                ctx.path("/proc/device-tree/hypervisor/compatible"),
            )
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
            cpuinfo: ctx.read("/proc/cpuinfo").ok(),
            dockerenv: exists("/.dockerenv"),
            containerenv: exists("/run/.containerenv"),
            host_container_manager: ctx.read_trimmed("/run/host/container-manager"),
            systemd_container: ctx.read_trimmed("/run/systemd/container"),
            pid1_environ: std::fs::read(ctx.path("/proc/1/environ")).ok(),
            cgroups: ["/proc/1/cgroup", "/proc/self/cgroup"]
                .iter()
                .filter_map(|p| ctx.read(p).ok())
                .collect(),
            mountinfo: ctx.read("/proc/self/mountinfo").ok(),
            openvz: exists("/proc/vz") && !exists("/proc/bc"),
            kernel_osrelease: ctx.read_trimmed("/proc/sys/kernel/osrelease"),
        }
    }
}

/// The hypervisor vendor signature from CPUID leaf 0x40000000, if CPUID leaf 1 says a
/// hypervisor is present.
#[cfg(target_arch = "x86_64")]
fn cpuid_hypervisor_vendor() -> Option<Vec<u8>> {
    use core::arch::x86_64::__cpuid;
    // `__cpuid` is a safe fn on the workspace toolchain (1.95) and every x86_64 CPU has CPUID,
    // so no `unsafe` is needed.
    if __cpuid(1).ecx & (1 << 31) == 0 {
        return None;
    }
    let leaf = __cpuid(0x4000_0000);
    Some(
        [leaf.ebx, leaf.ecx, leaf.edx]
            .iter()
            .flat_map(|r| r.to_le_bytes())
            .collect(),
    )
}

#[cfg(not(target_arch = "x86_64"))]
fn cpuid_hypervisor_vendor() -> Option<Vec<u8>> {
    None
}

/// The VM name for a CPUID hypervisor vendor signature; `None` for an unknown one.
pub fn vm_from_cpuid(signature: &[u8]) -> Option<&'static str> {
    // Signatures are 12 bytes; shorter ones are NUL-padded, and some carry spaces that matter.
    let end = signature.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    Some(match &signature[..end] {
        b"KVMKVMKVM" | b"Linux KVM Hv" => "kvm",
        b"TCGTCGTCGTCG" => "qemu",
        b"XenVMMXenVMM" => "xen",
        b"VMwareVMware" => "vmware",
        b"Microsoft Hv" => "microsoft",
        b" lrpepyh  vr" => "parallels",
        b"bhyve bhyve " => "bhyve",
        b"QNXQVMBSQG" => "qnx",
        b"ACRNACRNACRN" => "acrn",
        b"VBoxVBoxVBox" => "oracle",
        b"SRESRESRESRE" => "sre",
        _ => return None,
    })
}

/// DMI prefixes and the VM they reveal (systemd's table, minus "Oracle Corporation", which
/// Oracle's bare-metal servers also report).
const DMI_VENDORS: &[(&str, &str)] = &[
    ("KVM", "kvm"),
    ("OpenStack", "kvm"),
    ("KubeVirt", "kvm"),
    ("Amazon EC2", "amazon"),
    ("QEMU", "qemu"),
    ("VMware", "vmware"),
    ("VMW", "vmware"),
    ("innotek GmbH", "oracle"),
    ("VirtualBox", "oracle"),
    ("Xen", "xen"),
    ("Bochs", "bochs"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
    ("Hyper-V", "microsoft"),
    ("Apple Virtualization", "apple"),
    ("Google Compute Engine", "google"),
];

/// The VM DMI reveals, with the field that revealed it.
pub fn vm_from_dmi(dmi: &Dmi) -> Option<(&'static str, String)> {
    // Azure and Hyper-V: the vendor alone also matches Surface laptops, so the product too.
    if dmi.sys_vendor.as_deref() == Some("Microsoft Corporation")
        && dmi.product_name.as_deref() == Some("Virtual Machine")
    {
        return Some(("microsoft", "dmi:product_name=Virtual Machine".into()));
    }
    let fields = [
        ("product_name", &dmi.product_name),
        ("sys_vendor", &dmi.sys_vendor),
        ("board_vendor", &dmi.board_vendor),
        ("bios_vendor", &dmi.bios_vendor),
        ("product_version", &dmi.product_version),
    ];
    fields.iter().find_map(|(field, value)| {
        let value = value.as_deref()?;
        let (_, vm) = DMI_VENDORS
            .iter()
            .find(|(prefix, _)| value.starts_with(prefix))?;
        // EC2 bare-metal instances ("m5.metal") carry the same vendor but run no hypervisor.
        if *vm == "amazon"
            && dmi
                .product_name
                .as_deref()
                .is_some_and(|p| p.ends_with(".metal"))
        {
            return None;
        }
        Some((*vm, format!("dmi:{field}={value}")))
    })
}

/// True when the `flags` of `/proc/cpuinfo` include `hypervisor`.
pub fn cpuinfo_has_hypervisor_flag(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(key, _)| key.trim() == "flags")
        .any(|(_, flags)| flags.split_whitespace().any(|f| f == "hypervisor"))
}

/// The container runtime a cgroup file's paths reveal, with the matched pattern as evidence.
pub fn container_from_cgroup(cgroup: &str) -> Option<(Option<&'static str>, String)> {
    let paths: Vec<&str> = cgroup
        .lines()
        // "hierarchy-ID:controllers:path"; the path may itself contain ':'.
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .collect();
    if let Some((runtime, pattern)) = paths.iter().find_map(|p| runtime_from_cgroup_path(p)) {
        return Some((Some(runtime), format!("cgroup:{pattern}")));
    }
    // Kubernetes pods without a runtime-specific scope name: a container, runtime unknown.
    paths
        .iter()
        .any(|p| p.split('/').any(|seg| seg.starts_with("kubepods")))
        .then(|| (None, "cgroup:kubepods".to_string()))
}

/// Matches whole path segments, so that host-side units that merely mention a runtime
/// ("docker.service", "docker-cleanup.service", "libpod-conmon-<id>.scope") do not count.
fn runtime_from_cgroup_path(path: &str) -> Option<(&'static str, &'static str)> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    segments.iter().enumerate().find_map(|(i, seg)| {
        let next = segments.get(i + 1).copied().unwrap_or_default();
        if *seg == "docker" && is_container_id(next) {
            Some(("docker", "/docker/"))
        } else if scope_id(seg, "docker-") {
            Some(("docker", "docker-<id>.scope"))
        } else if scope_id(seg, "libpod-") || *seg == "libpod_parent" {
            Some(("podman", "libpod"))
        } else if (*seg == "lxc" && !next.is_empty()) || seg.starts_with("lxc.payload") {
            Some(("lxc", "lxc"))
        } else if scope_id(seg, "cri-containerd-") {
            Some(("containerd", "cri-containerd-<id>.scope"))
        } else if scope_id(seg, "crio-") {
            Some(("cri-o", "crio-<id>.scope"))
        } else {
            None
        }
    })
}

/// `<prefix><container id>[.scope]`, the unit names runtimes create with the systemd driver.
fn scope_id(segment: &str, prefix: &str) -> bool {
    segment
        .strip_prefix(prefix)
        .map(|rest| rest.strip_suffix(".scope").unwrap_or(rest))
        .is_some_and(is_container_id)
}

/// Container ids are long lowercase hex strings (64 digits, at least 12 when abbreviated).
fn is_container_id(s: &str) -> bool {
    s.len() >= 12
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The container engine whose storage holds the layers of an overlay root filesystem.
pub fn container_from_root_overlay(mountinfo: &str) -> Option<(Option<&'static str>, String)> {
    // The last "/" line is the root actually in use (one may be mounted over another).
    let root = parse_mountinfo(mountinfo)
        .into_iter()
        .rfind(|m| m.mount_point == "/")?;
    if root.fs_type != "overlay" {
        return None;
    }
    const STORES: &[(&str, Option<&str>)] = &[
        ("/var/lib/docker/", Some("docker")),
        ("/containers/storage/", Some("podman")),
        ("/var/lib/containerd/", Some("containerd")),
        ("/var/lib/rancher/k3s/agent/containerd/", Some("containerd")),
        // containerd snapshots can sit anywhere; this is the snapshotter's own directory name.
        ("io.containerd.snapshotter", None),
    ];
    let layers = root
        .super_options
        .split(',')
        .filter_map(|o| {
            o.strip_prefix("upperdir=")
                .or_else(|| o.strip_prefix("lowerdir="))
        })
        .collect::<Vec<_>>()
        .join(":");
    STORES
        .iter()
        .find(|(store, _)| layers.contains(store))
        .map(|(store, runtime)| {
            let store = store.trim_end_matches('/');
            (*runtime, format!("mountinfo:overlay root in {store}"))
        })
}

/// The `container=` value from a NUL-separated environment block.
pub fn container_from_environ(environ: &[u8]) -> Option<String> {
    environ
        .split(|&b| b == 0)
        .find_map(|var| var.strip_prefix(b"container="))
        .map(|v| String::from_utf8_lossy(v).trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Maps a declared container manager name to systemd's vocabulary.
fn normalize_container(name: &str) -> String {
    const KNOWN: &[&str] = &[
        "docker",
        "podman",
        "lxc",
        "lxc-libvirt",
        "systemd-nspawn",
        "rkt",
        "wsl",
        "proot",
        "pouch",
        "openvz",
    ];
    let name = name.trim().to_ascii_lowercase();
    if KNOWN.contains(&name.as_str()) {
        name
    } else {
        "container-other".to_string()
    }
}

/// The VM and container decision described in this module's documentation.
pub fn decide(s: &Signals) -> Virtualization {
    let mut evidence = Vec::new();
    let vm = decide_vm(s, &mut evidence);
    let container = decide_container(s, &mut evidence);
    Virtualization {
        vm,
        container,
        evidence,
        guests: Vec::new(),
    }
}

/// The running libvirt QEMU/KVM domains, sorted by UUID.
pub fn read_guests(ctx: &Context) -> Vec<cmdb_shared::Guest> {
    let Ok(dir) = std::fs::read_dir(ctx.path("/run/libvirt/qemu")) else {
        return Vec::new();
    };
    let mut out: Vec<cmdb_shared::Guest> = dir
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "xml"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|text| parse_domain(&text))
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.uuid == b.uuid);
    out
}

/// Name, UUID and type of the `<domain>` in a libvirt domain or status file.
pub fn parse_domain(text: &str) -> Option<cmdb_shared::Guest> {
    let start = text.find("<domain ")?;
    let domain = &text[start..];
    let open_end = domain.find('>')?;
    let hypervisor = attr(&domain[..open_end], "type").unwrap_or("unknown");
    let element = |tag: &str| -> Option<String> {
        let open = format!("<{tag}>");
        let from = domain.find(&open)? + open.len();
        let len = domain[from..].find(&format!("</{tag}>"))?;
        let v = domain[from..from + len].trim();
        (!v.is_empty()).then(|| v.to_string())
    };
    let uuid = element("uuid")?.to_lowercase();
    if uuid.len() != 36 || !uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return None;
    }
    Some(cmdb_shared::Guest {
        name: element("name")?,
        uuid,
        hypervisor: hypervisor.to_string(),
    })
}

/// The value of `name='…'` or `name="…"` in an opening tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    for quote in ['\'', '"'] {
        let key = format!(" {name}={quote}");
        if let Some(i) = tag.find(&key) {
            let rest = &tag[i + key.len()..];
            return rest.find(quote).map(|j| &rest[..j]);
        }
    }
    None
}

fn decide_vm(s: &Signals, evidence: &mut Vec<String>) -> Option<String> {
    let dmi = vm_from_dmi(&s.dmi);
    if let Some((vm, why)) = &dmi
        && matches!(*vm, "oracle" | "xen" | "amazon" | "parallels" | "google")
    {
        evidence.push(why.clone());
        return Some(vm.to_string());
    }
    if s.xen && !s.xen_dom0 {
        evidence.push("xen:hypervisor".into());
        return Some("xen".into());
    }
    let mut other = false;
    if let Some(signature) = &s.cpuid_vendor {
        let shown = String::from_utf8_lossy(signature)
            .trim_end_matches('\0')
            .to_string();
        evidence.push(format!("cpuid:{shown}"));
        match vm_from_cpuid(signature) {
            Some(vm) => return Some(vm.into()),
            None => other = true,
        }
    }
    if let Some((vm, why)) = dmi {
        evidence.push(why);
        return Some(vm.into());
    }
    if let Some(compatible) = &s.device_tree_hypervisor {
        let vm = if compatible.contains("linux,kvm") {
            "kvm"
        } else if compatible.contains("xen") {
            "xen"
        } else if compatible.contains("vmware") {
            "vmware"
        } else {
            "other"
        };
        evidence.push("device-tree:hypervisor".into());
        return Some(vm.into());
    }
    if s.cpuinfo
        .as_deref()
        .is_some_and(cpuinfo_has_hypervisor_flag)
    {
        evidence.push("cpuinfo:hypervisor flag".into());
        other = true;
    }
    other.then(|| "other".into())
}

fn decide_container(s: &Signals, evidence: &mut Vec<String>) -> Option<String> {
    // Each candidate: the runtime it names (None: "a container, runtime unknown") and why.
    let declared = |source: &str, value: &Option<String>| {
        value
            .as_ref()
            .map(|v| (Some(normalize_container(v)), format!("{source}={v}")))
    };
    let found: Option<(Option<String>, String)> = s
        .containerenv
        .then(|| (Some("podman".into()), "/run/.containerenv".into()))
        .or_else(|| declared("/run/host/container-manager", &s.host_container_manager))
        .or_else(|| declared("/run/systemd/container", &s.systemd_container))
        .or_else(|| {
            let env = s.pid1_environ.as_deref().and_then(container_from_environ);
            declared("/proc/1/environ:container", &env)
        })
        .or_else(|| {
            s.cgroups
                .iter()
                .find_map(|c| container_from_cgroup(c))
                .map(|(rt, why)| (rt.map(String::from), why))
        })
        .or_else(|| {
            container_from_root_overlay(s.mountinfo.as_deref()?)
                .map(|(rt, why)| (rt.map(String::from), why))
        })
        .or_else(|| s.openvz.then(|| (Some("openvz".into()), "/proc/vz".into())))
        .or_else(|| {
            let release = s.kernel_osrelease.as_deref()?;
            (release.contains("Microsoft") || release.contains("WSL"))
                .then(|| (Some("wsl".into()), format!("osrelease:{release}")))
        });

    match found {
        Some((runtime, why)) => {
            evidence.push(why);
            let runtime = match runtime {
                // A containerd snapshot or kubepods cgroup plus Docker's marker file: Docker.
                Some(rt) if rt == "containerd" && s.dockerenv => "docker".to_string(),
                Some(rt) => rt,
                None if s.dockerenv => "docker".to_string(),
                None => "container-other".to_string(),
            };
            if s.dockerenv {
                evidence.push("/.dockerenv".into());
            }
            Some(runtime)
        }
        None => {
            if s.dockerenv {
                evidence.push("/.dockerenv ignored:no other container signal".into());
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(machine: &str) -> String {
        format!(
            "{}/fixtures/virtualization/{machine}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn collect(machine: &str) -> Virtualization {
        let mut inv = Inventory::default();
        VirtualizationCollector
            .collect(&Context::new(root(machine)), &mut inv)
            .expect("collects");
        inv.virtualization.expect("section")
    }

    fn virt(vm: Option<&str>, container: Option<&str>, evidence: &[&str]) -> Virtualization {
        Virtualization {
            vm: vm.map(String::from),
            container: container.map(String::from),
            evidence: evidence.iter().map(|e| e.to_string()).collect(),
            guests: Vec::new(),
        }
    }

    #[test]
    fn a_libvirt_status_file_gives_the_guest_name_uuid_and_type() {
        // The shape of /run/libvirt/qemu/<name>.xml (libvirt 9), trimmed.
        let status = "<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE.\n-->\n<domstatus state='running' reason='booted' pid='1234'>\n  <monitor path='/var/lib/libvirt/qemu/domain-1-web01/monitor.sock' type='unix'/>\n  <vcpus>\n    <vcpu id='0' pid='1240'/>\n  </vcpus>\n  <domain type='kvm' id='1'>\n    <name>web01</name>\n    <uuid>6F1C2A4E-52B6-4C0B-9E1D-1B0F6C3D2A11</uuid>\n    <memory unit='KiB'>2097152</memory>\n    <devices><disk><source name='pool/web01'/></disk></devices>\n  </domain>\n</domstatus>\n";
        assert_eq!(
            parse_domain(status),
            Some(cmdb_shared::Guest {
                name: "web01".into(),
                uuid: "6f1c2a4e-52b6-4c0b-9e1d-1b0f6c3d2a11".into(),
                hypervisor: "kvm".into(),
            })
        );
        assert_eq!(
            parse_domain("<domain type=\"qemu\"><name>x</name><uuid>bad</uuid></domain>"),
            None
        );
        assert_eq!(
            parse_domain("<network><name>default</name></network>"),
            None
        );
    }

    #[test]
    fn guests_are_read_from_the_libvirt_run_directory() {
        let dir = tempfile::tempdir().expect("tmp");
        let run = dir.path().join("run/libvirt/qemu");
        std::fs::create_dir_all(&run).expect("mkdir");
        std::fs::write(
            run.join("b.xml"),
            "<domstatus><domain type='kvm'><name>b</name><uuid>00000000-0000-0000-0000-00000000000b</uuid></domain></domstatus>",
        )
        .expect("write");
        std::fs::write(run.join("b.pid"), "1").expect("write");
        let guests = read_guests(&Context::new(dir.path()));
        assert_eq!(guests.len(), 1);
        assert_eq!(guests[0].name, "b");
        assert!(read_guests(&Context::new(dir.path().join("nowhere"))).is_empty());
    }

    #[test]
    fn the_firecracker_vm_is_kvm_and_not_a_container_despite_dockerenv() {
        let mut signals = Signals::read(&Context::new(root("debian12-firecracker")));
        // CPUID cannot come from a file tree; this is what the live VM's CPUID returned.
        let captured =
            std::fs::read(format!("{}.cpuid", root("debian12-firecracker"))).expect("capture");
        signals.cpuid_vendor = Some(captured);
        assert_eq!(
            decide(&signals),
            virt(
                Some("kvm"),
                None,
                &[
                    "cpuid:KVMKVMKVM",
                    "/.dockerenv ignored:no other container signal"
                ]
            )
        );
    }

    #[test]
    fn the_firecracker_tree_without_cpuid_still_sees_a_hypervisor() {
        assert_eq!(
            collect("debian12-firecracker"),
            virt(
                Some("other"),
                None,
                &[
                    "cpuinfo:hypervisor flag",
                    "/.dockerenv ignored:no other container signal"
                ]
            )
        );
    }

    #[test]
    fn a_docker_container_on_cgroup_v2_is_found_by_its_overlay_root() {
        assert_eq!(
            collect("docker-on-dell"),
            virt(
                None,
                Some("docker"),
                &["mountinfo:overlay root in /var/lib/docker", "/.dockerenv"]
            )
        );
    }

    #[test]
    fn a_docker_container_on_cgroup_v1_in_a_vmware_vm_reports_both() {
        assert_eq!(
            collect("docker-cgroupv1-on-vmware"),
            virt(
                Some("vmware"),
                Some("docker"),
                &[
                    "dmi:product_name=VMware Virtual Platform",
                    "cgroup:/docker/",
                    "/.dockerenv"
                ]
            )
        );
    }

    #[test]
    fn a_vmware_vm_is_recognised_by_dmi() {
        assert_eq!(
            collect("vmware-vm"),
            virt(Some("vmware"), None, &["dmi:product_name=VMware7,1"])
        );
    }

    #[test]
    fn a_hyperv_vm_needs_both_microsoft_and_virtual_machine() {
        assert_eq!(
            collect("hyperv-vm"),
            virt(
                Some("microsoft"),
                None,
                &["dmi:product_name=Virtual Machine"]
            )
        );
        let surface = Dmi {
            sys_vendor: Some("Microsoft Corporation".into()),
            product_name: Some("Surface Laptop 5".into()),
            ..Dmi::default()
        };
        assert_eq!(vm_from_dmi(&surface), None);
    }

    #[test]
    fn bare_metal_has_neither_vm_nor_container() {
        assert_eq!(collect("dell-bare-metal"), virt(None, None, &[]));
    }

    #[test]
    fn a_podman_container_declares_itself_in_run_containerenv() {
        assert_eq!(
            collect("podman-on-kvm"),
            virt(
                Some("qemu"),
                Some("podman"),
                &["dmi:sys_vendor=QEMU", "/run/.containerenv"]
            )
        );
    }

    #[test]
    fn cpuid_signatures_name_the_hypervisor() {
        assert_eq!(vm_from_cpuid(b"KVMKVMKVM\0\0\0"), Some("kvm"));
        assert_eq!(vm_from_cpuid(b"Linux KVM Hv"), Some("kvm"));
        assert_eq!(vm_from_cpuid(b"VMwareVMware"), Some("vmware"));
        assert_eq!(vm_from_cpuid(b"Microsoft Hv"), Some("microsoft"));
        assert_eq!(vm_from_cpuid(b"XenVMMXenVMM"), Some("xen"));
        assert_eq!(vm_from_cpuid(b"TCGTCGTCGTCG"), Some("qemu"));
        assert_eq!(vm_from_cpuid(b" lrpepyh  vr"), Some("parallels"));
        assert_eq!(vm_from_cpuid(b"bhyve bhyve "), Some("bhyve"));
        assert_eq!(vm_from_cpuid(b"ACRNACRNACRN"), Some("acrn"));
        assert_eq!(vm_from_cpuid(b"QNXQVMBSQG\0\0"), Some("qnx"));
        assert_eq!(vm_from_cpuid(b"VBoxVBoxVBox"), Some("oracle"));
        assert_eq!(vm_from_cpuid(b"NotAKnownOne"), None);
    }

    #[test]
    fn an_unknown_cpuid_signature_defers_to_dmi_then_says_other() {
        let mut s = Signals {
            cpuid_vendor: Some(b"NotAKnownOne".to_vec()),
            ..Signals::default()
        };
        assert_eq!(decide(&s).vm.as_deref(), Some("other"));
        s.dmi.sys_vendor = Some("QEMU".into());
        assert_eq!(decide(&s).vm.as_deref(), Some("qemu"));
    }

    #[test]
    fn dmi_for_virtualbox_and_ec2_beats_kvm_cpuid() {
        let mut s = Signals {
            cpuid_vendor: Some(b"KVMKVMKVM\0\0\0".to_vec()),
            ..Signals::default()
        };
        s.dmi.sys_vendor = Some("Amazon EC2".into());
        s.dmi.product_name = Some("m6i.large".into());
        assert_eq!(decide(&s).vm.as_deref(), Some("amazon"));
        s.dmi.product_name = Some("m6i.metal".into());
        s.cpuid_vendor = None;
        assert_eq!(decide(&s).vm, None);
        s.dmi = Dmi {
            product_name: Some("VirtualBox".into()),
            ..Dmi::default()
        };
        s.cpuid_vendor = Some(b"KVMKVMKVM\0\0\0".to_vec());
        assert_eq!(decide(&s).vm.as_deref(), Some("oracle"));
    }

    #[test]
    fn xen_guests_are_xen_but_dom0_is_not() {
        let mut s = Signals {
            xen: true,
            ..Signals::default()
        };
        assert_eq!(decide(&s).vm.as_deref(), Some("xen"));
        s.xen_dom0 = true;
        assert_eq!(decide(&s).vm, None);
    }

    #[test]
    fn an_arm_guest_is_recognised_by_its_device_tree() {
        let s = Signals {
            device_tree_hypervisor: Some("linux,kvm\0".into()),
            ..Signals::default()
        };
        assert_eq!(decide(&s).vm.as_deref(), Some("kvm"));
    }

    #[test]
    fn cgroup_paths_name_the_runtime() {
        const ID: &str = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
        let rt = |c: &str| container_from_cgroup(c).map(|(rt, _)| rt);
        assert_eq!(
            rt(&format!("0::/system.slice/docker-{ID}.scope\n")),
            Some(Some("docker"))
        );
        assert_eq!(
            rt(&format!("12:memory:/docker/{ID}\n")),
            Some(Some("docker"))
        );
        assert_eq!(
            rt(&format!("0::/machine.slice/libpod-{ID}.scope/container\n")),
            Some(Some("podman"))
        );
        assert_eq!(rt("0::/lxc.payload.web01\n"), Some(Some("lxc")));
        assert_eq!(rt("4:memory:/lxc/web01\n"), Some(Some("lxc")));
        assert_eq!(
            rt(&format!(
                "0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-{ID}.scope\n"
            )),
            Some(Some("containerd"))
        );
        assert_eq!(
            rt(&format!("0::/kubepods/besteffort/pod1234/{ID}\n")),
            Some(None)
        );
    }

    #[test]
    fn host_side_units_that_mention_a_runtime_are_not_containers() {
        let rt = |c: &str| container_from_cgroup(c).map(|(rt, _)| rt);
        assert_eq!(rt("0::/system.slice/docker.service\n"), None);
        assert_eq!(rt("0::/system.slice/docker-cleanup.service\n"), None);
        assert_eq!(
            rt("0::/machine.slice/libpod-conmon-3f2a9c1b7d4e.scope\n"),
            None
        );
        assert_eq!(rt("0::/lxc.monitor.web01\n"), None);
        // This VM's process_api group (the captured /proc/self/cgroup) is not a container.
        assert_eq!(
            rt("4:memory:/process_api/cbef7d9b422876f753b7f453bc58f662\n"),
            None
        );
        assert_eq!(rt("0::/init.scope\n"), None);
    }

    #[test]
    fn container_declarations_from_pid1_and_run_files_are_used() {
        let s = Signals {
            pid1_environ: Some(b"PATH=/bin\0container=lxc\0".to_vec()),
            ..Signals::default()
        };
        assert_eq!(decide(&s).container.as_deref(), Some("lxc"));
        let s = Signals {
            systemd_container: Some("systemd-nspawn".into()),
            ..Signals::default()
        };
        assert_eq!(decide(&s).container.as_deref(), Some("systemd-nspawn"));
        let s = Signals {
            host_container_manager: Some("frobnicator".into()),
            ..Signals::default()
        };
        assert_eq!(decide(&s).container.as_deref(), Some("container-other"));
    }

    #[test]
    fn a_containerd_root_with_dockerenv_is_docker_and_without_it_containerd() {
        let mountinfo = "900 800 0:60 / / rw,relatime - overlay overlay rw,\
            lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/41/fs,\
            upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/42/fs,\
            workdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/42/work\n";
        let mut s = Signals {
            mountinfo: Some(mountinfo.into()),
            ..Signals::default()
        };
        assert_eq!(decide(&s).container.as_deref(), Some("containerd"));
        s.dockerenv = true;
        assert_eq!(decide(&s).container.as_deref(), Some("docker"));
    }

    #[test]
    fn an_overlay_root_outside_container_storage_is_not_a_container() {
        // A live USB system: the root is overlay over the squashfs image, no container engine.
        let mountinfo = "25 1 0:32 / / rw,noatime - overlay overlay rw,\
            lowerdir=/run/live/rootfs/filesystem.squashfs/,upperdir=/run/live/overlay/rw,\
            workdir=/run/live/overlay/work\n";
        let s = Signals {
            mountinfo: Some(mountinfo.into()),
            ..Signals::default()
        };
        assert_eq!(decide(&s).container, None);
    }

    #[test]
    fn wsl_and_openvz_are_containers() {
        let s = Signals {
            kernel_osrelease: Some("5.15.167.4-microsoft-standard-WSL2".into()),
            ..Signals::default()
        };
        assert_eq!(decide(&s).container.as_deref(), Some("wsl"));
        let s = Signals {
            openvz: true,
            ..Signals::default()
        };
        assert_eq!(decide(&s).container.as_deref(), Some("openvz"));
    }

    #[test]
    fn the_hypervisor_flag_is_found_only_in_the_flags_line() {
        assert!(cpuinfo_has_hypervisor_flag(
            "flags\t\t: fpu vme hypervisor lahf_lm\n"
        ));
        assert!(!cpuinfo_has_hypervisor_flag(
            "flags\t\t: fpu vme lahf_lm\nmodel name\t: hypervisor\n"
        ));
    }
}
