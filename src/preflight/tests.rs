//! Unit tests of the decisions: each negative path is fed the values a misconfigured host
//! shows (the files' text), with no privileges and no kernel changes needed.

use super::*;

fn file(path: &str, value: &str) -> Evidence {
    Evidence::File {
        path: path.into(),
        value: value.into(),
    }
}

fn absent(path: &str) -> Evidence {
    Evidence::Unreadable {
        path: path.into(),
        errno: libc::ENOENT,
    }
}

fn sysctls(max: &str, debian: Option<&str>, ubuntu: Option<&str>) -> Sysctls {
    let one = |path: &str, v: Option<&str>| match v {
        Some(v) => (Some(v.to_owned()), file(path, v)),
        None => (None, absent(path)),
    };
    Sysctls {
        max_user: one(MAX_USER_NS, Some(max)),
        debian: one(DEBIAN_USERNS, debian),
        ubuntu: one(UBUNTU_USERNS, ubuntu),
    }
}

fn info(uid: u32, s: &Sysctls) -> UsernsInfo {
    let status = parse::Status {
        eff: if uid == 0 { u64::MAX } else { 0 },
        ..parse::Status::default()
    };
    let mut i = UsernsInfo::from_sysctls(uid, s, &status);
    i.zero_limits.clear();
    i
}

#[test]
fn enospc_with_max_user_namespaces_zero_names_the_sysctl() {
    let s = sysctls("0", None, None);
    let h = clone_hint(
        libc::ENOSPC,
        Namespaces::USER | Namespaces::PID,
        &info(0, &s),
    )
    .unwrap();
    assert!(h.cause.contains("user.max_user_namespaces is 0"), "{h}");
    assert!(h.fix.contains("sysctl -w user.max_user_namespaces="), "{h}");
    assert_eq!(h.evidence, [file(MAX_USER_NS, "0")]);
    // Display has cause, evidence and fix on one line.
    let text = h.to_string();
    assert!(
        text.contains("/proc/sys/user/max_user_namespaces: 0"),
        "{text}"
    );
    assert!(text.contains("; fix: "), "{text}");
}

#[test]
fn enospc_for_another_kind_names_its_limit() {
    let s = sysctls("100", None, None);
    let mut i = info(0, &s);
    i.zero_limits = vec![(
        Namespace::Net,
        file("/proc/sys/user/max_net_namespaces", "0"),
    )];
    let h = clone_hint(libc::ENOSPC, Namespaces::NET | Namespaces::PID, &i).unwrap();
    assert!(h.cause.contains("user.max_net_namespaces is 0"), "{h}");
    // Not asked for: the limit of a kind not requested does not explain anything.
    let h = clone_hint(libc::ENOSPC, Namespaces::PID, &i).unwrap();
    assert!(h.cause.contains("limit was reached"), "{h}");
}

#[test]
fn eperm_unprivileged_names_debian_then_ubuntu_sysctl() {
    let s = sysctls("100", Some("0"), None);
    let h = clone_hint(libc::EPERM, Namespaces::USER, &info(1000, &s)).unwrap();
    assert!(
        h.cause.contains("kernel.unprivileged_userns_clone is 0"),
        "{h}"
    );
    assert!(h.fix.contains("kernel.unprivileged_userns_clone=1"), "{h}");

    let s = sysctls("100", None, Some("1"));
    let h = clone_hint(libc::EPERM, Namespaces::USER, &info(1000, &s)).unwrap();
    assert!(
        h.cause
            .contains("kernel.apparmor_restrict_unprivileged_userns is 1"),
        "{h}"
    );
    assert!(h.fix.contains("userns,"), "{h}");

    // Root is not affected by either.
    let s = sysctls("100", Some("0"), Some("1"));
    let h = clone_hint(libc::EPERM, Namespaces::USER, &info(0, &s)).unwrap();
    assert!(!h.cause.contains("unprivileged_userns_clone"), "{h}");
}

#[test]
fn eperm_under_seccomp_or_without_cap_sys_admin() {
    let s = sysctls("100", None, None);
    let mut i = info(1000, &s);
    i.seccomp = 2;
    let h = clone_hint(libc::EPERM, Namespaces::USER, &i).unwrap();
    assert!(h.cause.contains("seccomp filter"), "{h}");

    let i = info(1000, &s);
    let h = clone_hint(libc::EPERM, Namespaces::NET | Namespaces::PID, &i).unwrap();
    assert!(h.cause.contains("CAP_SYS_ADMIN"), "{h}");
    assert!(clone_hint(libc::EBADF, Namespaces::USER, &i).is_none());
    assert!(
        clone_hint(libc::ENOSYS, Namespaces::USER, &i)
            .unwrap()
            .cause
            .contains("clone3")
    );
}

#[test]
fn sysctl_items_for_each_setting() {
    let get = |items: &[Item], id| items.iter().find(|i| i.id == id).unwrap().clone();
    // An upstream kernel with defaults.
    let items = sysctl_items(1000, &sysctls("63569", None, None), true);
    assert!(
        items.iter().all(|i| i.state == State::Ok && !i.blocking),
        "{items:?}"
    );
    assert!(
        get(&items, Id::UnprivilegedUsernsClone)
            .summary
            .contains("absent")
    );
    // Disabled for everyone: blocks root too.
    let items = sysctl_items(0, &sysctls("0", None, None), true);
    let max = get(&items, Id::MaxUserNamespaces);
    assert_eq!((max.state, max.blocking), (State::Missing, true));
    assert!(max.fix.unwrap().contains("user.max_user_namespaces"));
    // ... but only when a user namespace is wanted.
    let items = sysctl_items(0, &sysctls("0", None, None), false);
    assert!(!get(&items, Id::MaxUserNamespaces).blocking);
    // Debian's switch: blocks an unprivileged caller, root is only Limited.
    let d = get(
        &sysctl_items(1000, &sysctls("9", Some("0"), None), true),
        Id::UnprivilegedUsernsClone,
    );
    assert_eq!((d.state, d.blocking), (State::Missing, true));
    let d = get(
        &sysctl_items(0, &sysctls("9", Some("0"), None), true),
        Id::UnprivilegedUsernsClone,
    );
    assert_eq!((d.state, d.blocking), (State::Limited, false));
    // Ubuntu's AppArmor restriction.
    let u = get(
        &sysctl_items(1000, &sysctls("9", None, Some("1")), true),
        Id::AppArmorRestrictUserns,
    );
    assert_eq!((u.state, u.blocking), (State::Missing, true));
    assert!(u.summary.contains("AppArmor"));
    let u = get(
        &sysctl_items(1000, &sysctls("9", Some("1"), Some("0")), true),
        Id::AppArmorRestrictUserns,
    );
    assert_eq!(u.state, State::Ok);
}

fn hybrid_info(uid: u32) -> CgroupInfo {
    let mounts = parse::cgroup_mounts(
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
         36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
         37 31 0:34 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio\n\
         38 31 0:35 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n\
         41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
    );
    CgroupInfo {
        uid,
        mounts: Some(mounts),
        root: Some("/sys/fs/cgroup/unified".into()),
        root_controllers: vec!["hugetlb".into()],
        own: Some("/sys/fs/cgroup/unified".into()),
        base: Some("/sys/fs/cgroup/unified".into()),
        base_controllers: vec!["hugetlb".into()],
        base_writable: Some(Ok(())),
        base_owner: Some(0),
        ..CgroupInfo::default()
    }
}

fn v2_info(uid: u32, writable: bool) -> CgroupInfo {
    let all: Vec<String> = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"]
        .map(String::from)
        .to_vec();
    CgroupInfo {
        uid,
        mounts: Some(parse::cgroup_mounts(
            "29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
        )),
        root: Some("/sys/fs/cgroup".into()),
        root_controllers: all.clone(),
        own: Some("/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope".into()),
        base: Some("/sys/fs/cgroup/user.slice/user-1000.slice".into()),
        base_controllers: all,
        base_subtree: vec!["memory".into(), "pids".into()],
        base_writable: Some(if writable { Ok(()) } else { Err(libc::EACCES) }),
        base_owner: Some(0),
        ..CgroupInfo::default()
    }
}

#[test]
fn controller_bound_to_v1_on_a_hybrid_host() {
    let i = hybrid_info(0);
    assert_eq!(i.mode(), Mode::Hybrid);
    let h = controller_hint(&i, Controller::Memory).unwrap();
    assert!(
        h.cause.contains("hybrid") && h.cause.contains("/sys/fs/cgroup/memory"),
        "{h}"
    );
    assert!(h.fix.contains("cgroup_no_v1=memory"), "{h}");
    let h = controller_hint(&i, Controller::Io).unwrap();
    assert!(h.fix.contains("cgroup_no_v1=blkio"), "{h}");
    assert!(controller_hint(&i, Controller::Hugetlb).is_none());
    // Not bound to v1 and not at the root: the kernel lacks it, or the command line disabled it.
    let h = controller_hint(&i, Controller::Rdma).unwrap();
    assert!(h.cause.contains("built without"), "{h}");
    let mut i = i;
    i.cmdline = "quiet cgroup_disable=rdma,misc".into();
    let h = controller_hint(&i, Controller::Rdma).unwrap();
    assert!(
        h.cause.contains("disabled on the kernel command line"),
        "{h}"
    );

    let mut req = Requirements::new();
    req.controllers([Controller::Memory]);
    let items = cgroup_items(&hybrid_info(0), &req);
    assert_eq!(items[0].state, State::Limited);
    assert_eq!((items[1].state, items[1].blocking), (State::Missing, true));
    assert!(
        items[1]
            .summary
            .contains("requested but unusable: [memory]"),
        "{:?}",
        items[1]
    );
    assert!(
        items[1]
            .fix
            .as_deref()
            .unwrap()
            .contains("cgroup_no_v1=memory")
    );
    assert_eq!(items[2].state, State::Ok);
}

#[test]
fn controller_not_delegated_to_an_unprivileged_caller() {
    let i = v2_info(1000, false);
    assert_eq!(i.mode(), Mode::V2);
    // What the parent already passes down is usable; the rest is not delegated.
    assert_eq!(i.usable(), ["memory", "pids"]);
    assert!(controller_hint(&i, Controller::Memory).is_none());
    let h = controller_hint(&i, Controller::Cpu).unwrap();
    assert!(h.cause.contains("not delegated"), "{h}");
    assert!(h.fix.contains("Delegate=yes"), "{h}");
    // Root may enable anything the root offers.
    assert!(controller_hint(&v2_info(0, true), Controller::Cpu).is_none());

    let mut req = Requirements::new();
    req.cgroup(true);
    let items = cgroup_items(&i, &req);
    let d = &items[2];
    assert_eq!(
        (d.id, d.state, d.blocking),
        (Id::CgroupDelegation, State::Missing, true)
    );
    assert!(
        d.fix
            .as_deref()
            .unwrap()
            .contains("systemd-run --user --scope"),
        "{d:?}"
    );
    // Without a need for a cgroup it only limits.
    let items = cgroup_items(&i, &Requirements::new());
    assert_eq!((items[2].state, items[2].blocking), (State::Limited, false));
    // Delegated: writable.
    let items = cgroup_items(&v2_info(1000, true), &req);
    assert_eq!(items[2].state, State::Ok);
    assert!(items[2].summary.contains("delegated"));
}

#[test]
fn cgroup_modes() {
    let mut i = CgroupInfo::default();
    assert_eq!(i.mode(), Mode::None);
    i.mounts = Some(parse::cgroup_mounts(
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
    ));
    assert_eq!(i.mode(), Mode::V1);
    let mut req = Requirements::new();
    req.cgroup(true);
    let items = cgroup_items(&i, &req);
    assert_eq!((items[0].state, items[0].blocking), (State::Missing, true));
}

#[test]
fn capabilities() {
    let root = parse::Status {
        eff: 0x1ff_feff_ffff,
        bnd: 0x1ff_feff_ffff,
        ..parse::Status::default()
    };
    let item = capabilities_item(0, &root, Namespaces::PID);
    assert_eq!(item.state, State::Limited);
    assert!(item.summary.contains("CAP_SYS_RESOURCE"), "{item:?}");
    let none = parse::Status::default();
    let item = capabilities_item(1000, &none, Namespaces::PID);
    assert_eq!((item.state, item.blocking), (State::Missing, true));
    let item = capabilities_item(1000, &none, Namespaces::PID | Namespaces::USER);
    assert_eq!((item.state, item.blocking), (State::Ok, false));
}

#[test]
fn requirements_from_a_container() {
    let mut c = Container::new();
    c.limit_memory(1u64 << 20).limit_pids(10);
    let r = Requirements::for_container(&c);
    assert!(r.cgroup);
    assert!(r.get_controllers().contains(&Controller::Memory));
    assert!(r.get_controllers().contains(&Controller::Pids));
    assert!(
        r.get_namespaces()
            .contains(Namespaces::NET | Namespaces::PID)
    );
    let r = Requirements::for_container(&Container::new());
    assert!(!r.cgroup && r.get_controllers().is_empty());
}

#[test]
fn report_renders_blocking_items() {
    let mut blocked = Item::new(Id::MaxUserNamespaces, State::Missing, "0: disabled")
        .evidence([file(MAX_USER_NS, "0")])
        .fix(FIX_MAX_USER)
        .required(true);
    blocked.summary.push_str(" \"quoted\"");
    let r = Report {
        release: "6.1.0".into(),
        uid: 1000,
        requirements: Requirements::new(),
        items: vec![Item::new(Id::Kernel, State::Ok, "Linux 6.1.0"), blocked],
    };
    assert!(!r.can_run());
    assert_eq!(
        r.blocking().map(|i| i.id).collect::<Vec<_>>(),
        [Id::MaxUserNamespaces]
    );
    let text = r.to_string();
    assert!(
        text.contains("BLOCKING  user.max_user_namespaces"),
        "{text}"
    );
    assert!(
        text.contains("fix: sysctl -w user.max_user_namespaces=15000"),
        "{text}"
    );
    assert!(
        text.contains("blocked by: user.max_user_namespaces"),
        "{text}"
    );
    // The compact form: no evidence, but the fixes.
    let compact = format!("{r:#}");
    assert!(
        !compact.contains("/proc/sys/user/max_user_namespaces: 0"),
        "{compact}"
    );
    assert!(compact.contains("fix: sysctl -w"), "{compact}");
    assert!(
        text.contains("/proc/sys/user/max_user_namespaces: 0"),
        "{text}"
    );
    let json = r.to_json();
    assert!(
        json.starts_with("{\"kernel\":\"6.1.0\",\"uid\":1000,\"can_run\":false"),
        "{json}"
    );
    assert!(
        json.contains("\"blocking\":[\"user.max_user_namespaces\"]"),
        "{json}"
    );
    assert!(json.contains("0: disabled \\\"quoted\\\""), "{json}");
    assert!(json.contains("\"fix\":null"), "{json}");
}
