//! cgroups: the mode, the controllers the caller can use, and delegation.

use super::*;

/// The cgroup mode of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    V2,
    Hybrid,
    V1,
    None,
}

/// What the checks need to know about cgroups.
#[derive(Debug, Clone, Default)]
pub(super) struct CgroupInfo {
    pub(super) uid: u32,
    pub(super) mounts: Option<parse::CgroupMounts>,
    pub(super) mountinfo_ev: Option<Evidence>,
    /// The cgroup2 root directory.
    pub(super) root: Option<PathBuf>,
    pub(super) root_controllers: Vec<String>,
    /// The caller's cgroup directory, and the line of `/proc/self/cgroup` it came from.
    pub(super) own: Option<PathBuf>,
    pub(super) own_ev: Option<Evidence>,
    pub(super) own_controllers: Vec<String>,
    /// Where containers' cgroups are made by default (their `hutch/` is made in it).
    pub(super) base: Option<PathBuf>,
    pub(super) base_controllers: Vec<String>,
    pub(super) base_subtree: Vec<String>,
    /// `Ok` or the errno of `faccessat(W_OK)` on the base and its subtree_control.
    pub(super) base_writable: Option<Result<(), i32>>,
    pub(super) base_owner: Option<u32>,
    pub(super) delegate_xattr: Option<PathBuf>,
    pub(super) cmdline: String,
}

impl CgroupInfo {
    pub(super) fn mode(&self) -> Mode {
        match &self.mounts {
            Some(m) if !m.v2.is_empty() && m.v1.is_empty() => Mode::V2,
            Some(m) if !m.v2.is_empty() => Mode::Hybrid,
            Some(m) if !m.v1.is_empty() => Mode::V1,
            _ => Mode::None,
        }
    }

    pub(super) fn gather(uid: u32) -> CgroupInfo {
        let mut i = CgroupInfo {
            uid,
            ..CgroupInfo::default()
        };
        i.cmdline = fs::read_to_string("/proc/cmdline").unwrap_or_default();
        let (mi, mi_ev) = read_file("/proc/self/mountinfo");
        let Some(mi) = mi else {
            i.mountinfo_ev = Some(mi_ev);
            return i;
        };
        let mounts = parse::cgroup_mounts(&mi);
        i.mountinfo_ev = Some(Evidence::File {
            path: "/proc/self/mountinfo".into(),
            value: format!(
                "cgroup2 at [{}]; v1 controller hierarchies at [{}]{}",
                mounts
                    .v2
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                mounts
                    .v1
                    .iter()
                    .map(|(p, _)| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                if mounts.v1_named_only {
                    "; a named v1 hierarchy (name=systemd)"
                } else {
                    ""
                }
            ),
        });
        i.mounts = Some(mounts);
        let Ok(h) = Hierarchy::discover_from(&mi) else {
            return i;
        };
        i.root = Some(h.root().to_owned());
        i.root_controllers = read_words(h.root().join("cgroup.controllers"));
        let proc_cgroup = Path::new("/proc/self/cgroup");
        let (text, ev) = read_file(proc_cgroup);
        i.own_ev = Some(match (&text, ev) {
            (Some(t), Evidence::File { path, .. }) => Evidence::File {
                path,
                value: t
                    .lines()
                    .find(|l| l.starts_with("0::"))
                    .unwrap_or("no 0:: line")
                    .to_owned(),
            },
            (_, e) => e,
        });
        let own = text
            .and_then(|t| h.dir_of_proc_cgroup(proc_cgroup, &t).ok())
            .and_then(|rel| h.path_of(rel).ok());
        if let Some(own) = &own {
            i.own_controllers = read_words(own.join("cgroup.controllers"));
            let base = match own.parent() {
                Some(p) if p.starts_with(h.root()) && own != h.root() => p.to_owned(),
                _ => h.root().to_owned(),
            };
            i.base_controllers = read_words(base.join("cgroup.controllers"));
            i.base_subtree = read_words(base.join("cgroup.subtree_control"));
            let w = |p: &Path| {
                CString::new(p.as_os_str().as_bytes())
                    .map_err(|_| libc::EINVAL)
                    .and_then(|c| sys::writable(&c))
            };
            i.base_writable = Some(w(&base).and_then(|()| w(&base.join("cgroup.subtree_control"))));
            i.base_owner = fs::metadata(&base).ok().map(|m| m.uid());
            for dir in [own.as_path(), base.as_path()] {
                let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else {
                    continue;
                };
                if sys::xattr_len(&c, c"trusted.delegate").is_ok()
                    || sys::xattr_len(&c, c"user.delegate").is_ok()
                {
                    i.delegate_xattr = Some(dir.to_owned());
                    break;
                }
            }
            i.base = Some(base);
        }
        i.own = own;
        i
    }

    /// The controllers a container's cgroup can get.
    pub(super) fn usable(&self) -> Vec<String> {
        if self.base.is_none() {
            return Vec::new();
        }
        if self.uid == 0 {
            // Root enables controllers from the root down.
            self.root_controllers.clone()
        } else if self.base_writable == Some(Ok(())) {
            self.base_controllers.clone()
        } else {
            self.base_subtree.clone()
        }
    }

    /// The v1 hierarchy a controller is bound to.
    pub(super) fn v1_mount(&self, c: Controller) -> Option<&Path> {
        let v1 = if c == Controller::Io {
            "blkio"
        } else {
            c.name()
        };
        self.mounts.as_ref().and_then(|m| {
            m.v1.iter()
                .find(|(_, cs)| cs.iter().any(|n| n == v1))
                .map(|(p, _)| p.as_path())
        })
    }
}

pub(super) fn read_words(path: PathBuf) -> Vec<String> {
    fs::read_to_string(path)
        .map(|t| parse::words(&t))
        .unwrap_or_default()
}

/// Explains why the cgroup v2 controller `controller` cannot be used for a container made by
/// the caller: bound to a v1 hierarchy, not in the kernel (or disabled on its command line),
/// or not delegated to the caller's part of the tree. `None` when it is usable (or there is
/// no cgroup2 at all, which [`check`] reports as its own item).
///
/// Meant for the spawn path, to add the cause to a "controller not available" error.
///
/// # Examples
///
/// ```no_run
/// use hutch::cgroup_v2::Controller;
/// if let Some(hint) = hutch::preflight::explain_missing_controller(Controller::Memory) {
///     eprintln!("memory limits are unavailable: {hint}");
/// }
/// ```
pub fn explain_missing_controller(controller: Controller) -> Option<Hint> {
    controller_hint(&CgroupInfo::gather(sys::geteuid()), controller)
}

pub(super) fn controller_hint(i: &CgroupInfo, c: Controller) -> Option<Hint> {
    let name = c.name();
    if i.usable().iter().any(|n| n == name) {
        return None;
    }
    let root = i.root.as_ref()?;
    let root_ev = Evidence::File {
        path: root.join("cgroup.controllers"),
        value: i.root_controllers.join(" "),
    };
    if !i.root_controllers.iter().any(|n| n == name) {
        if let Some(mp) = i.v1_mount(c) {
            let v1 = if c == Controller::Io { "blkio" } else { name };
            return Some(Hint {
                cause: format!(
                    "this is a cgroup v1/v2 hybrid host and `{name}` is bound to the v1 \
                     hierarchy at {} (a controller can be attached to one hierarchy only)",
                    mp.display()
                ),
                evidence: vec![
                    root_ev,
                    Evidence::Note(format!(
                        "v1 hierarchy with `{v1}` mounted at {}",
                        mp.display()
                    )),
                ],
                fix: format!(
                    "boot with systemd.unified_cgroup_hierarchy=1 (systemd before 256) or \
                     cgroup_no_v1={v1} (or cgroup_no_v1=all) to move it to cgroup v2"
                ),
            });
        }
        let disabled = i
            .cmdline
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("cgroup_disable="))
            .any(|l| l.split(',').any(|n| n == name));
        return Some(if disabled {
            Hint {
                cause: format!("`{name}` is disabled on the kernel command line"),
                evidence: vec![
                    root_ev,
                    Evidence::File {
                        path: "/proc/cmdline".into(),
                        value: i.cmdline.trim().to_owned(),
                    },
                ],
                fix: format!("remove cgroup_disable={name} from the kernel command line"),
            }
        } else {
            Hint {
                cause: format!(
                    "the cgroup2 root does not offer `{name}`: the kernel was built without it"
                ),
                evidence: vec![root_ev],
                fix: format!("use a kernel built with the `{name}` controller"),
            }
        });
    }
    let base = i.base.as_ref()?;
    let subtree_ev = Evidence::File {
        path: base.join("cgroup.subtree_control"),
        value: i.base_subtree.join(" "),
    };
    Some(Hint {
        cause: format!(
            "`{name}` is in the cgroup2 root but not delegated to {} (uid {} may not enable \
             it there)",
            base.display(),
            i.uid
        ),
        evidence: vec![
            root_ev,
            Evidence::File {
                path: base.join("cgroup.controllers"),
                value: i.base_controllers.join(" "),
            },
            subtree_ev,
        ],
        fix: format!(
            "run under a systemd unit or scope with Delegate=yes (e.g. `systemd-run --user \
             --scope -p Delegate=yes -- CMD`; for user sessions add `{name}` to Delegate= of \
             user@.service), or as root chown the cgroup to uid {} and enable `{name}` in \
             its parents' cgroup.subtree_control",
            i.uid
        ),
    })
}

/// The controllers whose absence makes limits unavailable to most users.
pub(super) const COMMON: [Controller; 4] = [
    Controller::Cpu,
    Controller::Memory,
    Controller::Pids,
    Controller::Io,
];

pub(super) fn cgroup_items(i: &CgroupInfo, req: &Requirements) -> Vec<Item> {
    let need = req.cgroup || !req.controllers.is_empty();
    let mode = i.mode();
    let mut ev: Vec<Evidence> = i.mountinfo_ev.clone().into_iter().collect();
    ev.extend(i.own_ev.clone());
    let fix_unified = "boot with systemd.unified_cgroup_hierarchy=1 (systemd before 256) or \
                       cgroup_no_v1=all to get every controller in cgroup v2";
    let mode_item = match mode {
        Mode::V2 => Item::new(Id::CgroupMode, State::Ok, "cgroup v2 (unified)"),
        Mode::Hybrid => Item::new(
            Id::CgroupMode,
            State::Limited,
            "v1/v2 hybrid: controllers bound to v1 cannot be used in cgroup2",
        )
        .fix(fix_unified),
        Mode::V1 => Item::new(
            Id::CgroupMode,
            State::Missing,
            "cgroup v1 only: no cgroup2 file system is mounted",
        )
        .fix(fix_unified),
        Mode::None => Item::new(
            Id::CgroupMode,
            State::Missing,
            "no cgroup file system is mounted",
        )
        .fix("mount -t cgroup2 none /sys/fs/cgroup"),
    }
    .evidence(ev)
    .required(need);

    let usable = i.usable();
    let bound: Vec<&str> = Controller::ALL
        .into_iter()
        .filter(|c| i.v1_mount(*c).is_some())
        .map(Controller::name)
        .collect();
    let mut ev = Vec::new();
    if let Some(root) = &i.root {
        ev.push(Evidence::File {
            path: root.join("cgroup.controllers"),
            value: i.root_controllers.join(" "),
        });
    }
    if let Some(own) = i.own.as_ref().filter(|o| Some(*o) != i.root.as_ref()) {
        ev.push(Evidence::File {
            path: own.join("cgroup.controllers"),
            value: i.own_controllers.join(" "),
        });
    }
    if !bound.is_empty() {
        ev.push(Evidence::Note(format!(
            "bound to cgroup v1: {}",
            bound.join(" ")
        )));
    }
    let summary = format!(
        "usable for containers: [{}]{}",
        usable.join(" "),
        if bound.is_empty() {
            String::new()
        } else {
            format!("; bound to v1: [{}]", bound.join(" "))
        }
    );
    let missing_wanted: Vec<Controller> = req
        .controllers
        .iter()
        .copied()
        .filter(|c| !usable.iter().any(|n| n == c.name()))
        .collect();
    let missing_common: Vec<Controller> = COMMON
        .into_iter()
        .filter(|c| !usable.iter().any(|n| n == c.name()))
        .collect();
    let hints = |cs: &[Controller]| {
        // One fix for every controller bound to v1, then one per other cause.
        let v1: Vec<&str> = cs
            .iter()
            .filter(|c| i.v1_mount(**c).is_some())
            .map(|c| {
                if *c == Controller::Io {
                    "blkio"
                } else {
                    c.name()
                }
            })
            .collect();
        let mut fixes = Vec::new();
        if !v1.is_empty() {
            fixes.push(format!(
                "boot with systemd.unified_cgroup_hierarchy=1 (systemd before 256) or \
                 cgroup_no_v1={} (or cgroup_no_v1=all) to move {} to cgroup v2",
                v1.join(","),
                if v1.len() == 1 { "it" } else { "them" }
            ));
        }
        fixes.extend(
            cs.iter()
                .filter(|c| i.v1_mount(**c).is_none())
                .filter_map(|c| controller_hint(i, *c).map(|h| format!("{}: {}", c.name(), h.fix))),
        );
        fixes
    };
    let controllers = if i.root.is_none() {
        Item::new(
            Id::CgroupControllers,
            State::Missing,
            "no cgroup2 hierarchy",
        )
    } else if !missing_wanted.is_empty() {
        let names: Vec<&str> = missing_wanted.iter().map(|c| c.name()).collect();
        let mut it = Item::new(
            Id::CgroupControllers,
            State::Missing,
            format!("{summary}; requested but unusable: [{}]", names.join(" ")),
        );
        for c in &missing_wanted {
            if let Some(h) = controller_hint(i, *c) {
                it.evidence
                    .push(Evidence::Note(format!("{}: {}", c.name(), h.cause)));
            }
        }
        let fixes = hints(&missing_wanted);
        if !fixes.is_empty() {
            it.fix = Some(fixes.join("; "));
        }
        it
    } else if !missing_common.is_empty() {
        let mut it = Item::new(Id::CgroupControllers, State::Limited, summary);
        let fixes = hints(&missing_common);
        if !fixes.is_empty() {
            it.fix = Some(fixes.join("; "));
        }
        it
    } else {
        Item::new(Id::CgroupControllers, State::Ok, summary)
    };
    let controllers = controllers
        .evidence(ev)
        .required(!req.controllers.is_empty());

    let delegation = match (&i.base, i.base_writable) {
        (Some(base), Some(Ok(()))) => Item::new(
            Id::CgroupDelegation,
            State::Ok,
            format!(
                "containers' cgroups are made under {} (writable{})",
                base.join("hutch").display(),
                if i.uid != 0 { ", delegated" } else { "" }
            ),
        ),
        (Some(base), w) => {
            let errno = match w {
                Some(Err(e)) => e,
                _ => 0,
            };
            let fix = if errno == libc::EROFS {
                "the cgroup file system is mounted read-only (as in many containers): run where \
                 cgroup2 is writable, or without limits"
                    .to_owned()
            } else if i.uid == 0 {
                format!("make {} writable for root", base.display())
            } else {
                format!(
                    "run under a systemd scope with Delegate=yes (`systemd-run --user --scope \
                     -p Delegate=yes -- CMD`), or as root: chown uid {} the cgroup {} and its \
                     cgroup.procs, cgroup.subtree_control and cgroup.threads, or point \
                     Container::cgroup_parent at a cgroup delegated to you",
                    i.uid,
                    base.display()
                )
            };
            let summary = format!(
                "{} is not writable by uid {} ({}): containers run without a cgroup, and \
                 limits are unavailable",
                base.display(),
                i.uid,
                errno_name(errno)
            );
            let state = if need { State::Missing } else { State::Limited };
            Item::new(Id::CgroupDelegation, state, summary).fix(fix)
        }
        (None, _) => Item::new(
            Id::CgroupDelegation,
            if need { State::Missing } else { State::Limited },
            "the caller's cgroup2 cgroup was not found: containers run without a cgroup",
        ),
    };
    let mut ev = Vec::new();
    if let Some(base) = &i.base {
        ev.push(Evidence::Note(format!(
            "{} owned by uid {}; faccessat(W_OK) on it and its cgroup.subtree_control: {}",
            base.display(),
            i.base_owner.map_or("?".to_owned(), |u| u.to_string()),
            match i.base_writable {
                Some(Ok(())) => "ok".to_owned(),
                Some(Err(e)) => errno_name(e),
                None => "not checked".to_owned(),
            }
        )));
    }
    if let Some(d) = &i.delegate_xattr {
        ev.push(Evidence::Note(format!(
            "{} carries systemd's delegate xattr (Delegate=yes)",
            d.display()
        )));
    }
    let delegation = delegation.evidence(ev).required(need);
    vec![mode_item, controllers, delegation]
}
