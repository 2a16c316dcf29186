//! The kernel release and the system calls hutch uses, probed.

use super::*;

pub(super) fn kernel_item(release: &str) -> Item {
    let ev = Evidence::File {
        path: "/proc/sys/kernel/osrelease".into(),
        value: release.to_owned(),
    };
    match parse::kernel_version(release) {
        Some(v) if v >= MIN_KERNEL => Item::new(
            Id::Kernel,
            State::Ok,
            format!("Linux {release} (hutch needs 5.12 or later)"),
        )
        .evidence([ev]),
        Some(_) => Item::new(
            Id::Kernel,
            State::Missing,
            format!("Linux {release} is older than 5.12, which hutch needs"),
        )
        .evidence([ev])
        .fix("upgrade the kernel to 5.12 or later (mount_setattr, close_range with CLOSE_RANGE_CLOEXEC)")
        .required(true),
        None => Item::new(
            Id::Kernel,
            State::Unknown,
            "the kernel release is unreadable",
        )
        .evidence([ev]),
    }
}

/// An item for probed system calls: `Ok` when every probe saw the call, `Missing` otherwise.
pub(super) fn probed_item(
    id: Id,
    what: &str,
    since: &str,
    probes: &[(&'static str, Probe)],
    seccomp_filtered: bool,
) -> Item {
    let evidence = probes.iter().map(|(call, p)| Evidence::Syscall {
        call,
        outcome: (*p).into(),
    });
    if probes.iter().all(|(_, p)| p.present()) {
        Item::new(id, State::Ok, format!("{what} available")).evidence(evidence)
    } else {
        let fix = if seccomp_filtered {
            format!(
                "the caller runs under a seccomp filter (e.g. a container runtime's default \
                 profile) that may hide {what}: run outside it or allow the call; otherwise \
                 upgrade to Linux {since} or later"
            )
        } else {
            format!("upgrade the kernel to Linux {since} or later")
        };
        Item::new(
            id,
            State::Missing,
            format!("{what} not available (needs Linux {since})"),
        )
        .evidence(evidence)
        .fix(fix)
    }
}

pub(super) fn syscall_items(req: &Requirements) -> Vec<Item> {
    let filtered =
        parse::status(&fs::read_to_string("/proc/self/status").unwrap_or_default()).seccomp != 0;
    // An unknown flag gives EINVAL, like an unknown call hidden by a filter gives ENOSYS:
    // only EBADF (the descriptor was looked up) shows that the kernel knows the flag.
    let p = sys::probe_clone_into_cgroup();
    let ev = Evidence::Syscall {
        call: "clone3({flags: CLONE_INTO_CGROUP, cgroup: INT_MAX}, 88)",
        outcome: p.into(),
    };
    let into_cgroup = if p == Probe::Errno(libc::EBADF) {
        Item::new(
            Id::CloneIntoCgroup,
            State::Ok,
            "CLONE_INTO_CGROUP available",
        )
    } else {
        Item::new(
            Id::CloneIntoCgroup,
            State::Missing,
            "CLONE_INTO_CGROUP not accepted (needs Linux 5.7)",
        )
        .fix("upgrade the kernel to Linux 5.7 or later")
    }
    .evidence([ev]);
    vec![
        probed_item(
            Id::Clone3,
            "clone3",
            "5.3",
            &[("clone3(NULL, 0)", sys::probe_clone3())],
            filtered,
        )
        .required(true),
        into_cgroup.required(req.cgroup),
        probed_item(
            Id::Pidfd,
            "pidfd_open and pidfd_send_signal",
            "5.3",
            &[
                ("pidfd_open(0, 0)", sys::probe_pidfd_open()),
                (
                    "pidfd_send_signal(-1, 0, NULL, 0)",
                    sys::probe_pidfd_send_signal(),
                ),
            ],
            filtered,
        )
        .required(true),
        probed_item(
            Id::CloseRange,
            "close_range",
            "5.9",
            &[("close_range(1, 0, 0)", sys::probe_close_range())],
            filtered,
        )
        .required(true),
        probed_item(
            Id::MountApi,
            "mount_setattr and open_tree",
            "5.12",
            &[
                (
                    "mount_setattr(-1, NULL, ~0, NULL, 0)",
                    sys::probe_mount_setattr(),
                ),
                ("open_tree(-1, NULL, AT_RECURSIVE)", sys::probe_open_tree()),
            ],
            filtered,
        )
        .required(req.namespaces.contains(Namespaces::MOUNT)),
    ]
}

pub(super) fn time_ns_item() -> Item {
    let p = Path::new("/proc/self/ns/time");
    match fs::read_link(p) {
        Ok(target) => Item::new(Id::TimeNamespace, State::Ok, "time namespaces available")
            .evidence([Evidence::File {
                path: p.to_owned(),
                value: target.display().to_string(),
            }]),
        Err(e) => Item::new(
            Id::TimeNamespace,
            State::Missing,
            "time namespaces not available (needs Linux 5.6 with CONFIG_TIME_NS)",
        )
        .evidence([Evidence::Unreadable {
            path: p.to_owned(),
            errno: e.raw_os_error().unwrap_or(0),
        }])
        .fix("use Linux 5.6 or later built with CONFIG_TIME_NS=y"),
    }
}

pub(super) fn landlock_item() -> Item {
    let p = sys::landlock_abi();
    let ev = Evidence::Syscall {
        call: "landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)",
        outcome: p.into(),
    };
    match p {
        Probe::Ret(v) => {
            Item::new(Id::Landlock, State::Ok, format!("Landlock ABI version {v}")).evidence([ev])
        }
        Probe::Errno(libc::EOPNOTSUPP) => Item::new(
            Id::Landlock,
            State::Limited,
            "Landlock is built in but not enabled",
        )
        .evidence([ev])
        .fix("add `landlock` to the `lsm=` kernel command line parameter"),
        Probe::Errno(_) => Item::new(
            Id::Landlock,
            State::Missing,
            "Landlock is not available (Linux 5.13 with CONFIG_SECURITY_LANDLOCK)",
        )
        .evidence([ev])
        .fix("use a kernel built with CONFIG_SECURITY_LANDLOCK=y and `landlock` in `lsm=`"),
    }
}

pub(super) fn seccomp_item(status: &parse::Status) -> Item {
    /// `SECCOMP_RET_USER_NOTIF`.
    const USER_NOTIF: u32 = 0x7fc0_0000;
    let (_, actions_ev) = read_file("/proc/sys/kernel/seccomp/actions_avail");
    let notif = sys::seccomp_action_available(USER_NOTIF);
    let mut ev = vec![
        actions_ev,
        Evidence::Syscall {
            call: "seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &SECCOMP_RET_USER_NOTIF)",
            outcome: notif.into(),
        },
        Evidence::File {
            path: "/proc/self/status".into(),
            value: format!(
                "Seccomp: {}, NoNewPrivs: {}",
                status.seccomp, status.no_new_privs as u8
            ),
        },
    ];
    if !notif.present() {
        return Item::new(Id::Seccomp, State::Missing, "seccomp is not available")
            .evidence(ev)
            .fix("use a kernel built with CONFIG_SECCOMP_FILTER=y");
    }
    let mut summary = if notif == Probe::Ret(0) {
        "seccomp filters available, with user notification".to_owned()
    } else {
        "seccomp filters available, without user notification (Linux 5.0)".to_owned()
    };
    let mut state = if notif == Probe::Ret(0) {
        State::Ok
    } else {
        State::Limited
    };
    if status.seccomp != 0 {
        summary.push_str("; the caller itself runs under a seccomp filter");
        state = State::Limited;
        ev.push(Evidence::Note(
            "a filter on the caller (e.g. a container runtime's) also applies to every \
             container it starts"
                .into(),
        ));
    }
    Item::new(Id::Seccomp, state, summary).evidence(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_is_what_a_default_container_needs() {
        assert_eq!(kernel_item("5.11.22").state, State::Missing);
        assert_eq!(kernel_item("5.12.0-1-amd64").state, State::Ok);
        assert_eq!(kernel_item("6.18.44-fc-v669").state, State::Ok);
        assert_eq!(kernel_item("garbage").state, State::Unknown);
    }
}
