//! User namespaces: the sysctls, a creation probe, subordinate ids and the id-map helpers,
//! and what explains a failure to create namespaces.

use super::*;

/// The user-namespace sysctls, read once.
#[derive(Debug, Clone)]
pub(super) struct Sysctls {
    pub(super) max_user: (Option<String>, Evidence),
    pub(super) debian: (Option<String>, Evidence),
    pub(super) ubuntu: (Option<String>, Evidence),
}

pub(super) const MAX_USER_NS: &str = "/proc/sys/user/max_user_namespaces";
pub(super) const DEBIAN_USERNS: &str = "/proc/sys/kernel/unprivileged_userns_clone";
pub(super) const UBUNTU_USERNS: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";

impl Sysctls {
    pub(super) fn read() -> Sysctls {
        Sysctls {
            max_user: read_file(MAX_USER_NS),
            debian: read_file(DEBIAN_USERNS),
            ubuntu: read_file(UBUNTU_USERNS),
        }
    }

    pub(super) fn value(v: &(Option<String>, Evidence)) -> Option<u64> {
        v.0.as_deref().and_then(|s| s.trim().parse().ok())
    }
}

pub(super) const FIX_MAX_USER: &str = "sysctl -w user.max_user_namespaces=15000 (and set it in \
    /etc/sysctl.d/ to keep it)";
pub(super) const FIX_DEBIAN: &str = "sysctl -w kernel.unprivileged_userns_clone=1 (and set it in \
    /etc/sysctl.d/ to keep it), or run as root";
pub(super) const FIX_UBUNTU: &str = "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give \
    the program an AppArmor profile with the `userns,` rule, or run as root";

pub(super) fn sysctl_items(uid: u32, s: &Sysctls, user: bool) -> Vec<Item> {
    let unpriv = uid != 0;
    let max = match Sysctls::value(&s.max_user) {
        Some(0) => Item::new(
            Id::MaxUserNamespaces,
            State::Missing,
            "0: nobody in this user namespace, not even root, may create user namespaces (the \
             limit is per user namespace: a parent's may be higher)",
        )
        .fix(FIX_MAX_USER),
        Some(n) => Item::new(
            Id::MaxUserNamespaces,
            State::Ok,
            format!("{n}: each user may own up to {n} user namespaces"),
        ),
        None => Item::new(
            Id::MaxUserNamespaces,
            State::Missing,
            "absent: the kernel was built without user namespaces (CONFIG_USER_NS)",
        )
        .fix("use a kernel built with CONFIG_USER_NS=y"),
    }
    .evidence([s.max_user.1.clone()])
    .required(user);
    let debian = match Sysctls::value(&s.debian) {
        None if s.debian.0.is_none() => Item::new(
            Id::UnprivilegedUsernsClone,
            State::Ok,
            "absent (only Debian's kernels have it): no extra restriction",
        ),
        Some(0) if unpriv => Item::new(
            Id::UnprivilegedUsernsClone,
            State::Missing,
            "0: only privileged (CAP_SYS_ADMIN) callers may create user namespaces",
        )
        .fix(FIX_DEBIAN),
        Some(0) => Item::new(
            Id::UnprivilegedUsernsClone,
            State::Limited,
            "0: only privileged (CAP_SYS_ADMIN) callers, like this one, may create user \
             namespaces",
        )
        .fix(FIX_DEBIAN),
        _ => Item::new(
            Id::UnprivilegedUsernsClone,
            State::Ok,
            "unprivileged users may create user namespaces",
        ),
    }
    .evidence([s.debian.1.clone()])
    .required(user && unpriv);
    let ubuntu = match Sysctls::value(&s.ubuntu) {
        None if s.ubuntu.0.is_none() => Item::new(
            Id::AppArmorRestrictUserns,
            State::Ok,
            "absent (only Ubuntu's kernels have it): no extra restriction",
        ),
        Some(1) if unpriv => Item::new(
            Id::AppArmorRestrictUserns,
            State::Missing,
            "1: an unprivileged caller's new user namespace gets an AppArmor profile that \
             denies every capability in it, so mounts, hostnames and id maps fail with EPERM",
        )
        .fix(FIX_UBUNTU),
        Some(1) => Item::new(
            Id::AppArmorRestrictUserns,
            State::Limited,
            "1: unprivileged callers' user namespaces are confined by AppArmor (root is not)",
        )
        .fix(FIX_UBUNTU),
        _ => Item::new(
            Id::AppArmorRestrictUserns,
            State::Ok,
            "0: AppArmor does not restrict unprivileged user namespaces",
        ),
    }
    .evidence([s.ubuntu.1.clone()])
    .required(user && unpriv);
    vec![max, debian, ubuntu]
}

pub(super) fn probe_text(p: UsernsProbe) -> String {
    match p {
        UsernsProbe::Created => "ok".into(),
        UsernsProbe::Denied(e) => errno_name(e),
        UsernsProbe::Failed(what, 0) => format!("probe failed: {what}"),
        UsernsProbe::Failed(what, e) => format!("probe failed: {what}: {}", errno_name(e)),
    }
}

pub(super) fn userns_probe_item(uid: u32, s: &Sysctls, status: &parse::Status) -> Item {
    let own = sys::probe_user_namespace(None);
    let mut ev = vec![Evidence::Note(format!(
        "unshare(CLONE_NEWUSER) in a forked child as uid {uid}: {}",
        probe_text(own)
    ))];
    let others = (uid == 0).then(|| {
        let p = sys::probe_user_namespace(Some((NOBODY, NOBODY)));
        ev.push(Evidence::Note(format!(
            "unshare(CLONE_NEWUSER) in a forked child as uid {NOBODY} (nobody): {}",
            probe_text(p)
        )));
        p
    });
    let info = UsernsInfo::from_sysctls(uid, s, status);
    match own {
        UsernsProbe::Created => {
            let summary = match others {
                Some(UsernsProbe::Created) => {
                    "the caller (root) and unprivileged users can create user namespaces"
                }
                Some(_) => "root can create user namespaces; unprivileged users cannot",
                None => "the caller can create user namespaces",
            };
            let mut item = Item::new(Id::UserNamespaces, State::Ok, summary).evidence(ev);
            if let Some(UsernsProbe::Denied(e)) = others
                && let Some(h) = clone_hint(e, Namespaces::USER, &info.as_user(NOBODY))
            {
                item.evidence.push(Evidence::Note(format!(
                    "for unprivileged users: {}",
                    h.cause
                )));
            }
            item
        }
        UsernsProbe::Denied(e) => {
            let mut item = Item::new(
                Id::UserNamespaces,
                State::Missing,
                format!(
                    "the caller cannot create a user namespace ({})",
                    errno_name(e)
                ),
            )
            .evidence(ev);
            if let Some(h) = clone_hint(e, Namespaces::USER, &info) {
                item.summary = format!("{}: {}", item.summary, h.cause);
                item.evidence.extend(h.evidence);
                item.fix = Some(h.fix);
            }
            item
        }
        UsernsProbe::Failed(..) => Item::new(
            Id::UserNamespaces,
            State::Unknown,
            "could not probe user namespace creation",
        )
        .evidence(ev),
    }
}

/// What explains a failure to create namespaces: the caller and the sysctls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UsernsInfo {
    pub(super) uid: u32,
    pub(super) max_user: Option<u64>,
    pub(super) max_user_ev: Evidence,
    pub(super) debian: Option<u64>,
    pub(super) debian_ev: Evidence,
    pub(super) ubuntu: Option<u64>,
    pub(super) ubuntu_ev: Evidence,
    /// `user.max_<kind>_namespaces` sysctls that are 0.
    pub(super) zero_limits: Vec<(Namespace, Evidence)>,
    pub(super) seccomp: u32,
    pub(super) cap_sys_admin: bool,
}

impl UsernsInfo {
    pub(super) fn from_sysctls(uid: u32, s: &Sysctls, status: &parse::Status) -> UsernsInfo {
        UsernsInfo {
            uid,
            max_user: Sysctls::value(&s.max_user),
            max_user_ev: s.max_user.1.clone(),
            debian: Sysctls::value(&s.debian),
            debian_ev: s.debian.1.clone(),
            ubuntu: Sysctls::value(&s.ubuntu),
            ubuntu_ev: s.ubuntu.1.clone(),
            zero_limits: Namespace::ALL
                .into_iter()
                .filter(|n| *n != Namespace::User)
                .filter_map(|n| {
                    let path = format!("/proc/sys/user/max_{}_namespaces", limit_name(n));
                    let (v, ev) = read_file(path);
                    (v.as_deref() == Some("0")).then_some((n, ev))
                })
                .collect(),
            seccomp: status.seccomp,
            cap_sys_admin: status.eff & (1 << parse::CAP_SYS_ADMIN) != 0,
        }
    }

    pub(super) fn read() -> UsernsInfo {
        let status = parse::status(&fs::read_to_string("/proc/self/status").unwrap_or_default());
        UsernsInfo::from_sysctls(sys::geteuid(), &Sysctls::read(), &status)
    }

    /// The same host seen by an unprivileged user.
    pub(super) fn as_user(&self, uid: u32) -> UsernsInfo {
        UsernsInfo {
            uid,
            cap_sys_admin: false,
            ..self.clone()
        }
    }
}

/// The name of a namespace kind in the `user.max_*_namespaces` sysctls.
pub(super) fn limit_name(n: Namespace) -> &'static str {
    match n {
        Namespace::Mount => "mnt",
        Namespace::Uts => "uts",
        Namespace::Ipc => "ipc",
        Namespace::Pid => "pid",
        Namespace::Net => "net",
        Namespace::User => "user",
        Namespace::Cgroup => "cgroup",
        Namespace::Time => "time",
        _ => n.proc_name(),
    }
}

/// Explains why `clone3` (or `unshare`) with `namespaces` failed with `errno`: which sysctl,
/// restriction or missing privilege is the cause, with the evidence and the fix. `None` when
/// nothing on this host explains it.
///
/// Meant for the spawn path: `SpawnError::Clone` can carry the hint so that the error names
/// the cause instead of only the errno. It reads a few files under `/proc/sys`; call it only
/// after a failure.
///
/// # Examples
///
/// ```no_run
/// use hutch::{Namespaces, preflight};
/// if let Some(hint) = preflight::explain_clone_error(libc::ENOSPC, Namespaces::USER) {
///     eprintln!("{hint}");
/// }
/// ```
pub fn explain_clone_error(errno: i32, namespaces: Namespaces) -> Option<Hint> {
    clone_hint(errno, namespaces, &UsernsInfo::read())
}

pub(super) fn clone_hint(errno: i32, namespaces: Namespaces, i: &UsernsInfo) -> Option<Hint> {
    let user = namespaces.contains(Namespaces::USER);
    match errno {
        libc::ENOSPC | libc::EUSERS => {
            if user && i.max_user == Some(0) {
                return Some(Hint {
                    cause: "user.max_user_namespaces is 0: user namespaces are disabled for \
                            everyone"
                        .into(),
                    evidence: vec![i.max_user_ev.clone()],
                    fix: FIX_MAX_USER.into(),
                });
            }
            let zero: Vec<&(Namespace, Evidence)> = i
                .zero_limits
                .iter()
                .filter(|(n, _)| namespaces.contains(n.as_set()))
                .collect();
            if let Some((n, ev)) = zero.first() {
                let name = limit_name(*n);
                return Some(Hint {
                    cause: format!("user.max_{name}_namespaces is 0: {n} namespaces are disabled"),
                    evidence: vec![ev.clone()],
                    fix: format!("sysctl -w user.max_{name}_namespaces=15000"),
                });
            }
            Some(Hint {
                cause: "a namespace limit was reached: the per-user count in \
                        user.max_*_namespaces, or the nesting depth of 32 user namespaces"
                    .into(),
                evidence: vec![i.max_user_ev.clone()],
                fix: "end other containers of this user, or raise the user.max_*_namespaces \
                      sysctls"
                    .into(),
            })
        }
        libc::EPERM | libc::EACCES => {
            if i.seccomp != 0 {
                return Some(Hint {
                    cause: "the caller runs under a seccomp filter (e.g. a container \
                            runtime's default profile), which commonly denies creating \
                            namespaces"
                        .into(),
                    evidence: vec![Evidence::File {
                        path: "/proc/self/status".into(),
                        value: format!("Seccomp: {}", i.seccomp),
                    }],
                    fix: "run outside that container, or with a seccomp profile that allows \
                          clone3/unshare with namespace flags"
                        .into(),
                });
            }
            if user && i.uid != 0 && i.debian == Some(0) {
                return Some(Hint {
                    cause: "kernel.unprivileged_userns_clone is 0: only privileged callers \
                            may create user namespaces"
                        .into(),
                    evidence: vec![i.debian_ev.clone()],
                    fix: FIX_DEBIAN.into(),
                });
            }
            if user && i.uid != 0 && i.ubuntu == Some(1) {
                return Some(Hint {
                    cause: "kernel.apparmor_restrict_unprivileged_userns is 1: AppArmor \
                            confines unprivileged user namespaces"
                        .into(),
                    evidence: vec![i.ubuntu_ev.clone()],
                    fix: FIX_UBUNTU.into(),
                });
            }
            if !user && !i.cap_sys_admin && !namespaces.is_empty() {
                return Some(Hint {
                    cause: "creating namespaces other than a user namespace needs \
                            CAP_SYS_ADMIN, which the caller lacks"
                        .into(),
                    evidence: vec![Evidence::Note(format!("effective uid {}", i.uid))],
                    fix: "run as root, or let hutch add a user namespace (the default for an \
                          unprivileged caller; see Container::user_namespace)"
                        .into(),
                });
            }
            if user {
                return Some(Hint {
                    cause: "user namespace creation was refused: the caller may be in a \
                            chroot, or a security module denies it"
                        .into(),
                    evidence: vec![
                        i.max_user_ev.clone(),
                        i.debian_ev.clone(),
                        i.ubuntu_ev.clone(),
                    ],
                    fix: "run `hutch::preflight()` (the `run` example's --check) for the \
                          full picture"
                        .into(),
                });
            }
            None
        }
        libc::EINVAL if namespaces.contains(Namespaces::TIME) => Some(Hint {
            cause: "the kernel may lack time namespaces (Linux 5.6, CONFIG_TIME_NS)".into(),
            evidence: Vec::new(),
            fix: "use Linux 5.6 or later, or do not ask for a time namespace".into(),
        }),
        libc::ENOSYS => Some(Hint {
            cause: "clone3 is not available: Linux before 5.3, or a seccomp filter hides it".into(),
            evidence: vec![Evidence::File {
                path: "/proc/self/status".into(),
                value: format!("Seccomp: {}", i.seccomp),
            }],
            fix: "use Linux 5.9 or later, outside filters that deny clone3".into(),
        }),
        _ => None,
    }
}

// ----- subordinate ids ----------------------------------------------------------------------

pub(super) fn id_map_items(uid: u32, required: bool) -> Vec<Item> {
    let name = fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| parse::user_name(&p, uid));
    let mut ev = Vec::new();
    let mut ranges = Vec::new();
    for file in ["/etc/subuid", "/etc/subgid"] {
        let (text, e) = read_file(file);
        let r = parse::subid_ranges(text.as_deref().unwrap_or(""), name.as_deref(), uid);
        ev.push(match e {
            Evidence::File { path, .. } => Evidence::File {
                path,
                value: if r.is_empty() {
                    format!("no range for {}", name.as_deref().unwrap_or("the caller"))
                } else {
                    r.iter()
                        .map(|(s, c)| format!("{s}..{}", s + c))
                        .collect::<Vec<_>>()
                        .join(" ")
                },
            },
            e => e,
        });
        ranges.push(!r.is_empty());
    }
    let who = name.clone().unwrap_or_else(|| uid.to_string());
    let sub = if uid == 0 {
        Item::new(
            Id::SubordinateIds,
            State::Ok,
            "root writes any id map itself; no grants needed",
        )
        .evidence(ev)
    } else if ranges.iter().all(|b| *b) {
        Item::new(
            Id::SubordinateIds,
            State::Ok,
            format!("{who} has subordinate uid and gid ranges"),
        )
        .evidence(ev)
    } else {
        Item::new(
            Id::SubordinateIds,
            State::Missing,
            format!(
                "{who} has no subordinate {} range: only single-id maps (the caller as root) \
                 are possible",
                match ranges.as_slice() {
                    [false, false] => "uid and gid",
                    [false, _] => "uid",
                    _ => "gid",
                }
            ),
        )
        .evidence(ev)
        .fix(format!(
            "as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {who}"
        ))
    }
    .required(required);

    let (u_path, u_ok, u_ev) = program_evidence("newuidmap");
    let (g_path, g_ok, g_ev) = program_evidence("newgidmap");
    let helpers = if uid == 0 {
        Item::new(
            Id::IdMapHelpers,
            State::Ok,
            "not needed: root writes id maps itself",
        )
    } else if u_path.is_some() && g_path.is_some() && u_ok && g_ok {
        Item::new(
            Id::IdMapHelpers,
            State::Ok,
            "newuidmap and newgidmap are installed",
        )
    } else if u_path.is_some() && g_path.is_some() {
        Item::new(
            Id::IdMapHelpers,
            State::Missing,
            "newuidmap/newgidmap are installed but neither set-user-ID root nor given file \
             capabilities",
        )
        .fix(
            "as root: chmod u+s on both, or setcap cap_setuid+ep newuidmap and \
              cap_setgid+ep newgidmap",
        )
    } else {
        Item::new(
            Id::IdMapHelpers,
            State::Missing,
            "newuidmap/newgidmap are not installed: multi-range id maps are unavailable to \
             unprivileged callers",
        )
        .fix("install them: apt-get install uidmap (Debian, Ubuntu), dnf install shadow-utils")
    };
    vec![sub, helpers.evidence([u_ev, g_ev]).required(required)]
}
