//! Pure parsers of the files the preflight checks read, tested on captured text.

use std::path::PathBuf;

/// `major.minor` of a kernel release such as `6.18.44-fc-v669` or `5.10.0-28-amd64`.
pub(crate) fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.trim().split(['.', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = it
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    Some((major, minor))
}

/// The capability sets and seccomp state from the text of `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Status {
    pub eff: u64,
    pub bnd: u64,
    /// `Seccomp:` 0 (none), 1 (strict), 2 (filter).
    pub seccomp: u32,
    pub no_new_privs: bool,
}

/// Parses the fields of `/proc/<pid>/status` that matter here; missing fields stay 0.
pub(crate) fn status(text: &str) -> Status {
    let mut s = Status::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k {
            "CapEff" => s.eff = u64::from_str_radix(v, 16).unwrap_or(0),
            "CapBnd" => s.bnd = u64::from_str_radix(v, 16).unwrap_or(0),
            "Seccomp" => s.seccomp = v.parse().unwrap_or(0),
            "NoNewPrivs" => s.no_new_privs = v == "1",
            _ => {}
        }
    }
    s
}

/// `CAP_SYS_ADMIN`'s number.
pub(crate) const CAP_SYS_ADMIN: u32 = hutch_caps::Capability::SysAdmin.number() as u32;

/// The name of capability `n` (`cap_41` style for numbers newer than hutch-caps knows).
pub(crate) fn cap_name(n: u32) -> String {
    u8::try_from(n)
        .ok()
        .and_then(hutch_caps::Capability::from_number)
        .map(|c| c.oci_name().to_owned())
        .unwrap_or_else(|| format!("cap_{n}"))
}

/// The capabilities of the kernel's known set (`0..=last`) that are missing from `mask`.
pub(crate) fn missing_caps(mask: u64, last: u32) -> Vec<u32> {
    (0..=last.min(63))
        .filter(|n| mask & (1 << n) == 0)
        .collect()
}

/// The login name of `uid` in the text of `/etc/passwd`.
pub(crate) fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        (f.next()?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

/// The `(start, count)` ranges granted to the user (by name or by uid) in the text of
/// `/etc/subuid` or `/etc/subgid`. Comments and malformed lines are skipped.
pub(crate) fn subid_ranges(text: &str, name: Option<&str>, uid: u32) -> Vec<(u64, u64)> {
    let uid = uid.to_string();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let who = f.next()?;
            let start = f.next()?.parse().ok()?;
            let count = f.next()?.parse().ok()?;
            (who == uid || Some(who) == name).then_some((start, count))
        })
        .collect()
}

/// How the cgroup file systems are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupMounts {
    /// Mount points of cgroup2 file systems.
    pub v2: Vec<PathBuf>,
    /// v1 hierarchies that hold controllers: (mount point, controllers).
    pub v1: Vec<(PathBuf, Vec<String>)>,
    /// A v1 hierarchy without controllers (`name=systemd`) is mounted.
    pub v1_named_only: bool,
}

/// The v1 mount options that are not controllers.
const V1_NON_CONTROLLER_OPTIONS: [&str; 6] = [
    "rw",
    "ro",
    "noprefix",
    "xattr",
    "clone_children",
    "cpuset_v2_mode",
];

/// Reads the cgroup mounts out of the text of `/proc/self/mountinfo`.
pub(crate) fn cgroup_mounts(mountinfo: &str) -> CgroupMounts {
    let mut m = CgroupMounts {
        v2: Vec::new(),
        v1: Vec::new(),
        v1_named_only: false,
    };
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = left.split(' ').nth(4) else {
            continue;
        };
        let mut r = right.split(' ');
        let (Some(fstype), Some(_src)) = (r.next(), r.next()) else {
            continue;
        };
        let opts = r.next().unwrap_or("");
        let mp = PathBuf::from(unescape(mount_point));
        match fstype {
            "cgroup2" => m.v2.push(mp),
            "cgroup" => {
                let controllers: Vec<String> = opts
                    .split(',')
                    .filter(|o| !o.contains('=') && !V1_NON_CONTROLLER_OPTIONS.contains(o))
                    .map(str::to_owned)
                    .collect();
                if controllers.is_empty() {
                    m.v1_named_only = true;
                } else {
                    m.v1.push((mp, controllers));
                }
            }
            _ => {}
        }
    }
    m
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..=i + 3].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of `CONFIG_<name>` in a kernel config (`y`, `m`, a string...), `None` when it is
/// unset or absent.
pub(crate) fn kconfig<'a>(config: &'a str, name: &str) -> Option<&'a str> {
    config.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k == name).then_some(v.trim_matches('"'))
    })
}

/// Whether a `modules.dep` or `modules.builtin` text lists module `name` (as `.../name.ko`,
/// possibly compressed). Kernel module file names use `_` or `-` interchangeably.
pub(crate) fn module_listed(text: &str, name: &str) -> bool {
    let norm = |s: &str| s.replace('-', "_");
    let want = norm(name);
    text.lines().any(|l| {
        let path = l.split(':').next().unwrap_or("");
        let file = path.rsplit('/').next().unwrap_or("");
        let stem = file.split(".ko").next().unwrap_or("");
        file.contains(".ko") && norm(stem) == want
    })
}

/// The controllers in a `cgroup.controllers` / `cgroup.subtree_control` text.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// Appends `s` to `out` as a JSON string literal (quotes included).
pub(crate) fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.18.44-fc-v669\n"), Some((6, 18)));
        assert_eq!(kernel_version("5.10.0-28-amd64"), Some((5, 10)));
        assert_eq!(kernel_version("4.19"), Some((4, 19)));
        assert_eq!(kernel_version("5.4rc1"), Some((5, 4)));
        assert_eq!(kernel_version("garbage"), None);
        assert_eq!(kernel_version(""), None);
    }

    const STATUS: &str = "Name:\tcat\nUmask:\t0022\nCapInh:\t0000000000000000\n\
        CapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\n\
        CapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\n";

    #[test]
    fn status_caps_and_seccomp() {
        let s = status(STATUS);
        assert_eq!(s.eff, 0x1ff_feff_ffff);
        assert_eq!(s.bnd, 0x1ff_feff_ffff);
        assert_eq!(s.seccomp, 2);
        assert!(!s.no_new_privs);
        // This host's bounding set lacks exactly CAP_SYS_RESOURCE.
        let missing = missing_caps(s.bnd, 40);
        assert_eq!(missing, [24]);
        assert_eq!(cap_name(24), "CAP_SYS_RESOURCE");
        assert_eq!(cap_name(CAP_SYS_ADMIN), "CAP_SYS_ADMIN");
        assert_eq!(cap_name(40), "CAP_CHECKPOINT_RESTORE");
        assert_eq!(cap_name(41), "cap_41");
        assert_eq!(status(""), Status::default());
    }

    #[test]
    fn passwd_and_subids() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/:/usr/sbin/nologin\n";
        assert_eq!(user_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_name(passwd, 65534).as_deref(), Some("nobody"));
        assert_eq!(user_name(passwd, 1000), None);
        let sub = "# comment\nalice:100000:65536\n1000:300000:10\nbob:200000:65536\nbad line\n";
        assert_eq!(
            subid_ranges(sub, Some("alice"), 1000),
            [(100000, 65536), (300000, 10)]
        );
        assert_eq!(subid_ranges(sub, Some("carol"), 1001), []);
        assert_eq!(subid_ranges(sub, None, 1000), [(300000, 10)]);
    }

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
        36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

    #[test]
    fn cgroup_mounts_of_a_hybrid_host() {
        let m = cgroup_mounts(HYBRID);
        assert_eq!(m.v2, [PathBuf::from("/sys/fs/cgroup/unified")]);
        assert_eq!(m.v1.len(), 3);
        assert_eq!(
            m.v1[1],
            (
                PathBuf::from("/sys/fs/cgroup/memory"),
                vec!["memory".to_owned()]
            )
        );
        assert_eq!(m.v1[2].1, ["cpu", "cpuacct"]);
        assert!(m.v1_named_only);
        let v2 = cgroup_mounts("29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert_eq!(v2.v2, [PathBuf::from("/sys/fs/cgroup")]);
        assert!(v2.v1.is_empty() && !v2.v1_named_only);
        let spaced = cgroup_mounts("1 2 0:3 / /a\\040b rw - cgroup2 none rw\n");
        assert_eq!(spaced.v2, [PathBuf::from("/a b")]);
    }

    #[test]
    fn kconfig_and_modules() {
        let cfg = "# CONFIG_FOO is not set\nCONFIG_NF_TABLES=m\nCONFIG_VETH=y\nCONFIG_LSM=\"landlock,yama\"\n";
        assert_eq!(kconfig(cfg, "CONFIG_NF_TABLES"), Some("m"));
        assert_eq!(kconfig(cfg, "CONFIG_VETH"), Some("y"));
        assert_eq!(kconfig(cfg, "CONFIG_LSM"), Some("landlock,yama"));
        assert_eq!(kconfig(cfg, "CONFIG_FOO"), None);
        assert_eq!(kconfig(cfg, "CONFIG_NF"), None);
        let dep = "kernel/drivers/net/veth.ko.xz:\nkernel/net/bridge/bridge.ko.zst: kernel/net/802/stp.ko.zst\n\
            kernel/net/netfilter/nf_tables.ko:\n";
        assert!(module_listed(dep, "veth"));
        assert!(module_listed(dep, "bridge"));
        assert!(module_listed(dep, "nf_tables"));
        assert!(module_listed(dep, "nf-tables"));
        assert!(!module_listed(dep, "stp"));
        assert!(!module_listed(dep, "vet"));
    }

    #[test]
    fn json_escapes() {
        let mut s = String::new();
        json_string(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }

    /// Decodes what `json_string` writes (the test's own minimal JSON string reader).
    fn unjson(s: &str) -> Option<String> {
        let inner = s.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut it = inner.chars();
        while let Some(c) = it.next() {
            match c {
                '"' => return None,
                c if (c as u32) < 0x20 => return None,
                '\\' => match it.next()? {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let hex: String = it.by_ref().take(4).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    _ => return None,
                },
                c => out.push(c),
            }
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn json_string_round_trips(s in any::<String>()) {
            let mut j = String::new();
            json_string(&mut j, &s);
            prop_assert_eq!(unjson(&j), Some(s));
        }

        #[test]
        fn kernel_version_reads_any_release(major in 2u32..100, minor in 0u32..1000, rest in "[-.+a-z0-9]{0,12}") {
            let release = format!("{major}.{minor}{rest}");
            let v = kernel_version(&release);
            // A suffix starting with a digit would extend the minor number.
            if !rest.starts_with(|c: char| c.is_ascii_digit()) {
                prop_assert_eq!(v, Some((major, minor)));
            }
        }

        #[test]
        fn missing_caps_are_the_clear_bits(mask in any::<u64>()) {
            let missing = missing_caps(mask, 40);
            for n in 0..=40u32 {
                prop_assert_eq!(missing.contains(&n), mask & (1 << n) == 0);
            }
        }

        #[test]
        fn parsers_never_panic(text in "\\PC{0,200}") {
            let _ = status(&text);
            let _ = cgroup_mounts(&text);
            let _ = subid_ranges(&text, Some("x"), 1);
            let _ = user_name(&text, 0);
            let _ = module_listed(&text, "veth");
            let _ = kernel_version(&text);
        }
    }
}
