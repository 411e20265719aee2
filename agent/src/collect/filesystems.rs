//! `filesystems` collector: the mounted *real* filesystems from `/proc/self/mountinfo`, with
//! their size and usage from `statvfs(3)`.
//!
//! "Real" follows `findmnt --real` (util-linux 2.38 on the reference Debian 12 host), which
//! drops every type on libmount's pseudo-filesystem list, with these deliberate differences:
//!
//! 1. Kept although libmount calls them pseudo: `overlay` (the root of every container, real
//!    storage) and `virtiofs` (a host directory shared into a VM, like NFS).
//! 2. Also dropped: any other type `/proc/filesystems` flags `nodev` (no backing device, so
//!    kernel bookkeeping such as `sockfs` or a new pseudo type), unless it is network or
//!    shared storage that happens to be `nodev` (`nfs`, `nfs4`, `cifs`, `smb3`, `ceph`,
//!    `glusterfs`, `9p`, `zfs`, …). FUSE subtypes (`fuse.sshfs`) never appear in
//!    `/proc/filesystems`, so only the explicit list (`fuse.gvfsd-fuse`, `fuse.portal`,
//!    `fuse.lxcfs`, …) drops them.
//! 3. Also dropped: `squashfs` images mounted under `/snap/` (snap packages: read-only
//!    package payloads that change name on every refresh; the packages section covers them),
//!    and the files a container runtime bind-mounts over `/etc/hosts`, `/etc/hostname` and
//!    `/etc/resolv.conf` (single files, not filesystems).
//!
//! `tmpfs` and `ramfs` are dropped (memory-backed and volatile), as libmount does. Bind mounts
//! of the same device keep one entry per mount point; a mount point mounted over twice keeps
//! only the topmost (visible) mount, the one `statvfs` describes.
//!
//! Sizes: `size = f_blocks × f_frsize`, `used = (f_blocks − f_bfree) × f_frsize` (the same
//! numbers `df` prints as size and used). Live, `statvfs` runs on the mount point; against a
//! fixture root it runs on the same path under the root when that exists (a host root
//! bind-mounted into a container), else the sizes are 0.

use std::collections::HashSet;

use super::{CollectError, Collector, Context};
use cmdb_shared::{Filesystem, Inventory};

/// Collects the `filesystems` section.
pub struct FilesystemsCollector;

impl Collector for FilesystemsCollector {
    fn name(&self) -> &'static str {
        "filesystems"
    }

    fn collect(&self, ctx: &Context, inv: &mut Inventory) -> Result<(), CollectError> {
        let mountinfo = ctx
            .read("/proc/self/mountinfo")
            .map_err(|e| CollectError::io("/proc/self/mountinfo", e))?;
        // Without /proc/filesystems only the explicit pseudo list applies: still correct for
        // every common type, so this is no reason to drop the section.
        let nodev = ctx
            .read("/proc/filesystems")
            .map(|s| parse_nodev_types(&s))
            .unwrap_or_default();

        let filesystems = real_mounts(&parse_mountinfo(&mountinfo), &nodev)
            .into_iter()
            .map(|m| {
                let (size_bytes, used_bytes) = usage(ctx, &m.mount_point);
                Filesystem {
                    mount_point: m.mount_point.clone(),
                    device: m.source.clone(),
                    fs_type: m.fs_type.clone(),
                    size_bytes,
                    used_bytes,
                }
            })
            .collect();
        inv.filesystems = Some(filesystems);
        Ok(())
    }
}

/// `(size, used)` in bytes for the filesystem mounted at `mount_point`; `(0, 0)` when unknown.
fn usage(ctx: &Context, mount_point: &str) -> (u64, u64) {
    let path = if ctx.is_live() {
        mount_point.into()
    } else {
        ctx.path(mount_point)
    };
    if !ctx.is_live() && !path.exists() {
        return (0, 0);
    }
    match rustix::fs::statvfs(&path) {
        Ok(st) => {
            let size = st.f_blocks.saturating_mul(st.f_frsize);
            let used = st
                .f_blocks
                .saturating_sub(st.f_bfree)
                .saturating_mul(st.f_frsize);
            (size, used)
        }
        Err(e) => {
            tracing::debug!(mount_point, error = %e, "statvfs failed");
            (0, 0)
        }
    }
}

/// One line of `/proc/<pid>/mountinfo` (see proc(5)), paths unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub mount_id: u32,
    pub parent_id: u32,
    /// `major:minor` of the device (`0:NN` for filesystems without one).
    pub major_minor: String,
    /// The directory of the filesystem that forms the root of this mount (bind mounts).
    pub root: String,
    pub mount_point: String,
    pub fs_type: String,
    /// The mount source ("/dev/sda1", "server:/export", "overlay").
    pub source: String,
    pub super_options: String,
}

/// Parses `/proc/<pid>/mountinfo`; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<MountInfo> {
    // The kernel separates fields with exactly one space and escapes spaces inside them, so
    // splitting on ' ' keeps an empty mount source as an empty field instead of shifting.
    let fields: Vec<&str> = line.split(' ').collect();
    // A variable number of optional fields ("shared:1 master:2") sits between field 6 and "-".
    let sep = fields.iter().skip(6).position(|f| *f == "-")? + 6;
    if fields.len() < sep + 3 {
        return None;
    }
    Some(MountInfo {
        mount_id: fields[0].parse().ok()?,
        parent_id: fields[1].parse().ok()?,
        major_minor: fields[2].to_string(),
        root: unescape_octal(fields[3]),
        mount_point: unescape_octal(fields[4]),
        fs_type: unescape_octal(fields[sep + 1]),
        source: unescape_octal(fields[sep + 2]),
        super_options: fields
            .get(sep + 3)
            .map(|s| unescape_octal(s))
            .unwrap_or_default(),
    })
}

/// Decodes the `\ooo` octal escapes the kernel uses for space, tab, newline and backslash.
pub fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The filesystem types `/proc/filesystems` flags `nodev` (no backing block device).
pub fn parse_nodev_types(text: &str) -> HashSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("nodev"))
        .map(|rest| rest.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// libmount's pseudo-filesystem list (util-linux `mnt_fstype_is_pseudofs`) without `overlay`
/// and `virtiofs`, plus `fuse.portal` and `fuse.snapfuse` (desktop portals, snapd helpers).
const PSEUDO_TYPES: &[&str] = &[
    "anon_inodefs",
    "apparmorfs",
    "autofs",
    "bdev",
    "binder",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "cpuset",
    "debugfs",
    "devfs",
    "devpts",
    "devtmpfs",
    "dlmfs",
    "dmabuf",
    "drm",
    "efivarfs",
    "fuse",
    "fuse.archivemount",
    "fuse.avfsd",
    "fuse.dumpfs",
    "fuse.encfs",
    "fuse.gvfs-fuse-daemon",
    "fuse.gvfsd-fuse",
    "fuse.lxcfs",
    "fuse.portal",
    "fuse.rofiles-fuse",
    "fuse.snapfuse",
    "fuse.vmware-vmblock",
    "fuse.xwmfs",
    "fusectl",
    "hugetlbfs",
    "ipathfs",
    "mqueue",
    "nfsd",
    "none",
    "nsfs",
    "pipefs",
    "proc",
    "pstore",
    "ramfs",
    "resctrl",
    "rootfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "smackfs",
    "sockfs",
    "spufs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "vboxsf",
];

/// `nodev` types that are nevertheless storage: network, cluster and shared filesystems.
pub(crate) const REAL_NODEV_TYPES: &[&str] = &[
    "9p",
    "afs",
    "ceph",
    "cifs",
    "glusterfs",
    "lustre",
    "nfs",
    "nfs4",
    "overlay",
    "smb3",
    "smbfs",
    "virtiofs",
    "zfs",
];

/// Files container runtimes bind-mount into every container.
const RUNTIME_INJECTED_FILES: &[&str] = &["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];

/// True when `m` is a real filesystem under the rules in this module's documentation.
pub fn is_real(m: &MountInfo, nodev: &HashSet<String>) -> bool {
    let t = m.fs_type.as_str();
    if PSEUDO_TYPES.contains(&t) {
        return false;
    }
    if nodev.contains(t) && !REAL_NODEV_TYPES.contains(&t) {
        return false;
    }
    if t == "squashfs" && m.mount_point.starts_with("/snap/") {
        return false;
    }
    !RUNTIME_INJECTED_FILES.contains(&m.mount_point.as_str())
}

/// The real mounts in mount order, one per mount point (the topmost).
pub fn real_mounts<'a>(mounts: &'a [MountInfo], nodev: &HashSet<String>) -> Vec<&'a MountInfo> {
    let mut out: Vec<&MountInfo> = Vec::new();
    for m in mounts {
        // A later line for the same mount point is mounted over the earlier one: the earlier
        // one is hidden, so only the later one is kept, whatever its type.
        out.retain(|kept| kept.mount_point != m.mount_point);
        if is_real(m, nodev) {
            out.push(m);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(machine: &str, path: &str) -> String {
        let p = format!(
            "{}/fixtures/filesystems/{machine}/{path}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn real_points(machine: &str) -> Vec<(String, String, String)> {
        let mounts = parse_mountinfo(&fixture(machine, "proc/self/mountinfo"));
        let nodev = parse_nodev_types(&fixture(machine, "proc/filesystems"));
        real_mounts(&mounts, &nodev)
            .into_iter()
            .map(|m| (m.mount_point.clone(), m.source.clone(), m.fs_type.clone()))
            .collect()
    }

    fn triple(p: &str, s: &str, t: &str) -> (String, String, String) {
        (p.to_string(), s.to_string(), t.to_string())
    }

    #[test]
    fn a_mountinfo_line_with_optional_fields_parses_every_column() {
        let line = "1046 911 0:85 / / rw,relatime master:448 shared:12 - overlay overlay rw,lowerdir=/a,upperdir=/b";
        let m = parse_mountinfo_line(line).expect("parses");
        assert_eq!(m.mount_id, 1046);
        assert_eq!(m.parent_id, 911);
        assert_eq!(m.major_minor, "0:85");
        assert_eq!(m.mount_point, "/");
        assert_eq!(m.fs_type, "overlay");
        assert_eq!(m.source, "overlay");
        assert_eq!(m.super_options, "rw,lowerdir=/a,upperdir=/b");
    }

    #[test]
    fn octal_escapes_in_paths_decode_to_the_characters() {
        assert_eq!(
            unescape_octal(r"/media/alice/My\040Passport"),
            "/media/alice/My Passport"
        );
        assert_eq!(unescape_octal(r"a\011b\012c\134d"), "a\tb\nc\\d");
        assert_eq!(unescape_octal(r"trailing\04"), r"trailing\04");
        assert_eq!(unescape_octal(r"not\999octal"), r"not\999octal");
    }

    #[test]
    fn a_truncated_mountinfo_line_is_skipped() {
        assert_eq!(parse_mountinfo("27 1 254:0 / / rw,relatime\n"), vec![]);
    }

    #[test]
    fn nodev_types_come_from_proc_filesystems() {
        let nodev = parse_nodev_types(&fixture("debian12-firecracker", "proc/filesystems"));
        assert!(nodev.contains("tmpfs"));
        assert!(nodev.contains("overlay"));
        assert!(!nodev.contains("ext4"));
    }

    #[test]
    fn the_firecracker_vm_has_only_its_ext4_root_as_findmnt_real_says() {
        assert_eq!(
            real_points("debian12-firecracker"),
            vec![triple("/", "/dev/vda", "ext4")]
        );
    }

    #[test]
    fn a_desktop_keeps_disks_usb_and_nfs_but_drops_snaps_tmpfs_and_fuse_helpers() {
        assert_eq!(
            real_points("ubuntu2204-desktop"),
            vec![
                triple("/", "/dev/nvme0n1p2", "ext4"),
                triple("/boot/efi", "/dev/nvme0n1p1", "vfat"),
                triple("/home/alice/nas", "nas.example.lan:/volume1/home", "nfs4"),
                triple("/media/alice/My Passport", "/dev/sda1", "exfat"),
            ]
        );
    }

    #[test]
    fn a_docker_container_keeps_its_overlay_root_and_volume_but_not_injected_files() {
        assert_eq!(
            real_points("docker-container"),
            vec![
                triple("/", "overlay", "overlay"),
                triple("/data", "/dev/nvme0n1p2", "ext4")
            ]
        );
    }

    #[test]
    fn a_mount_point_mounted_over_keeps_only_the_topmost_mount() {
        let text = "27 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
                    30 27 8:2 / /srv rw - ext4 /dev/sda2 rw\n\
                    31 30 8:3 / /srv rw - xfs /dev/sda3 rw\n";
        let mounts = parse_mountinfo(text);
        let real: Vec<&str> = real_mounts(&mounts, &HashSet::new())
            .iter()
            .map(|m| m.source.as_str())
            .collect();
        assert_eq!(real, vec!["/dev/sda1", "/dev/sda3"]);
    }

    #[test]
    fn a_real_filesystem_hidden_under_a_tmpfs_is_not_listed() {
        let text = "27 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
                    30 27 8:2 / /tmp rw - ext4 /dev/sda2 rw\n\
                    31 30 0:40 / /tmp rw - tmpfs tmpfs rw\n";
        let mounts = parse_mountinfo(text);
        let real: Vec<&str> = real_mounts(&mounts, &HashSet::new())
            .iter()
            .map(|m| m.mount_point.as_str())
            .collect();
        assert_eq!(real, vec!["/"]);
    }

    #[test]
    fn collect_on_the_firecracker_fixture_lists_the_root_filesystem() {
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/filesystems/debian12-firecracker"
        );
        let mut inv = Inventory::default();
        FilesystemsCollector
            .collect(&Context::new(root), &mut inv)
            .expect("collects");
        let fs = inv.filesystems.expect("section");
        assert_eq!(fs.len(), 1);
        assert_eq!(
            (fs[0].mount_point.as_str(), fs[0].device.as_str()),
            ("/", "/dev/vda")
        );
        assert_eq!(fs[0].fs_type, "ext4");
        // The fixture root exists, so statvfs describes whatever holds it: only sanity here.
        assert!(fs[0].used_bytes <= fs[0].size_bytes);
    }
}
