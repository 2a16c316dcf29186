//! Reading files and finding programs; the caller's capabilities and the security modules.

use super::*;

/// Reads a small file: its trimmed content and the evidence.
pub(super) fn read_file(path: impl AsRef<Path>) -> (Option<String>, Evidence) {
    let path = path.as_ref();
    match fs::read_to_string(path) {
        Ok(s) => {
            let v = s.trim().to_owned();
            let shown = if v.lines().count() > 1 {
                v.split_whitespace().collect::<Vec<_>>().join(" ")
            } else {
                v.clone()
            };
            (
                Some(v),
                Evidence::File {
                    path: path.to_owned(),
                    value: shown,
                },
            )
        }
        Err(e) => (
            None,
            Evidence::Unreadable {
                path: path.to_owned(),
                errno: e.raw_os_error().unwrap_or(0),
            },
        ),
    }
}

/// The kernel configuration, from `/proc/config.gz` (decompressed with `zcat` when present)
/// or `/boot/config-<release>`.
pub(super) fn read_kconfig() -> Option<String> {
    if let Ok(release) = fs::read_to_string("/proc/sys/kernel/osrelease")
        && let Ok(text) = fs::read_to_string(format!("/boot/config-{}", release.trim()))
    {
        return Some(text);
    }
    if Path::new("/proc/config.gz").exists()
        && let Some(zcat) = find_program("zcat")
        && let Ok(out) = std::process::Command::new(zcat)
            .arg("/proc/config.gz")
            .stderr(std::process::Stdio::null())
            .output()
        && out.status.success()
    {
        return String::from_utf8(out.stdout).ok();
    }
    None
}

/// Whether `name` is an executable on `PATH` alone (where `std::process::Command` finds it).
pub(super) fn on_path(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).any(|p| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// `name` on `PATH` (then `/usr/sbin`, `/sbin`, `/usr/bin`, which a user's `PATH` may lack).
pub(super) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

pub(super) fn program_evidence(name: &'static str) -> (Option<PathBuf>, bool, Evidence) {
    let Some(path) = find_program(name) else {
        return (
            None,
            false,
            Evidence::Program {
                name,
                path: None,
                detail: String::new(),
            },
        );
    };
    let meta = path.metadata().ok();
    let setuid_root = meta
        .as_ref()
        .is_some_and(|m| m.mode() & 0o4000 != 0 && m.uid() == 0);
    let caps = CString::new(path.as_os_str().as_bytes())
        .ok()
        .and_then(|p| sys::xattr_len(&p, c"security.capability").ok())
        .is_some();
    let detail = format!(
        "mode {:o}, owner uid {}{}{}",
        meta.as_ref().map_or(0, |m| m.mode() & 0o7777),
        meta.as_ref().map_or(0, |m| m.uid()),
        if setuid_root {
            ", set-user-ID root"
        } else {
            ""
        },
        if caps { ", has file capabilities" } else { "" },
    );
    (
        Some(path.clone()),
        setuid_root || caps,
        Evidence::Program {
            name,
            path: Some(path),
            detail,
        },
    )
}

pub(super) fn capabilities_item(uid: u32, s: &parse::Status, ns: Namespaces) -> Item {
    // The last capability the kernel knows.
    let (last, last_ev) = read_file("/proc/sys/kernel/cap_last_cap");
    let last: u32 = last.and_then(|v| v.parse().ok()).unwrap_or(40);
    let missing_bnd = parse::missing_caps(s.bnd, last);
    let ev = vec![
        Evidence::File {
            path: "/proc/self/status".into(),
            value: format!("CapEff: {:016x}, CapBnd: {:016x}", s.eff, s.bnd),
        },
        last_ev,
    ];
    let names = |v: &[u32]| {
        v.iter()
            .map(|n| parse::cap_name(*n))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let admin = s.eff & (1 << parse::CAP_SYS_ADMIN) != 0;
    let needs_admin = !ns.is_empty() && !ns.contains(Namespaces::USER);
    if needs_admin && !admin {
        return Item::new(
            Id::Capabilities,
            State::Missing,
            "no CAP_SYS_ADMIN, and no user namespace was requested: new namespaces need one \
             or the other",
        )
        .evidence(ev)
        .fix("run as root, or let hutch add a user namespace (the default when unprivileged)")
        .required(true);
    }
    if uid != 0 {
        return Item::new(
            Id::Capabilities,
            State::Ok,
            "unprivileged: hutch maps the caller to root in a user namespace",
        )
        .evidence(ev);
    }
    if missing_bnd.is_empty() {
        Item::new(Id::Capabilities, State::Ok, "root with every capability").evidence(ev)
    } else {
        let mut summary = format!(
            "root, but the bounding set lacks {}: containers cannot have {} either",
            names(&missing_bnd),
            if missing_bnd.len() == 1 { "it" } else { "them" }
        );
        if missing_bnd.contains(&24) {
            summary.push_str(
                " (without CAP_SYS_RESOURCE, limits above the hard rlimits and some /proc/sys \
                 knobs are refused)",
            );
        }
        Item::new(Id::Capabilities, State::Limited, summary)
            .evidence(ev)
            .fix(
                "the process that started this one dropped them (a container runtime or \
                 sandbox): run outside it to get them",
            )
    }
}

pub(super) fn lsm_item(kconfig: Option<&str>) -> Item {
    let (lsm, lsm_ev) = read_file("/sys/kernel/security/lsm");
    let mut ev = vec![lsm_ev];
    let (aa, aa_ev) = read_file("/sys/module/apparmor/parameters/enabled");
    ev.push(aa_ev);
    let (se, se_ev) = read_file("/sys/fs/selinux/enforce");
    ev.push(se_ev);
    let configured = kconfig.and_then(|k| parse::kconfig(k, "CONFIG_LSM"));
    if let Some(c) = configured {
        ev.push(Evidence::Note(format!("kernel config: CONFIG_LSM={c}")));
    }
    let mut parts = Vec::new();
    if let Some(l) = &lsm {
        parts.push(format!("active: {l}"));
    } else if let Some(c) = configured {
        parts.push(format!(
            "securityfs not mounted; configured by default: {c}"
        ));
    }
    if aa.as_deref() == Some("Y") {
        parts.push("AppArmor enabled (profiles may confine containers)".into());
    }
    match se.as_deref() {
        Some("1") => parts.push("SELinux enforcing".into()),
        Some("0") => parts.push("SELinux permissive".into()),
        _ => {}
    }
    if parts.is_empty() {
        Item::new(
            Id::SecurityModules,
            State::Unknown,
            "no security module information (securityfs not mounted)",
        )
        .evidence(ev)
    } else {
        Item::new(Id::SecurityModules, State::Ok, parts.join("; ")).evidence(ev)
    }
}
