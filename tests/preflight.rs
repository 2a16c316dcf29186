//! The preflight report against this host, as root and as `nobody`: each verdict is
//! checked against what really happens when the same configuration is spawned, and the
//! cgroup mode against `statfs`, an independent source.
//!
//! CI pins the host's cgroup mode with `HUTCH_EXPECT_HYBRID=1` (the CI hosts are v1/v2
//! hybrids), so a wrong detection fails there instead of being taken as the truth.

mod common;

use std::process::Command as StdCommand;

use common::{Leaks, as_nobody, assert_rerun_passed, exclusive, shared};
use hutch::cgroup_v2::Controller;
use hutch::preflight::{self, Id, Requirements, State};
use hutch::{Container, Namespaces};

/// The file system type of `path`, from `stat -f` (not from mountinfo, which the report
/// reads).
fn fs_type(path: &str) -> String {
    let out = StdCommand::new("stat")
        .args(["-f", "-c", "%T", path])
        .output()
        .expect("stat");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn is_hybrid() -> bool {
    let hybrid =
        fs_type("/sys/fs/cgroup") == "tmpfs" && fs_type("/sys/fs/cgroup/unified") == "cgroup2fs";
    if std::env::var_os("HUTCH_EXPECT_HYBRID").is_some_and(|v| v == "1") {
        assert!(
            hybrid,
            "HUTCH_EXPECT_HYBRID=1 but statfs does not show a hybrid host"
        );
    }
    hybrid
}

fn item(r: &preflight::Report, id: Id) -> &preflight::Item {
    r.item(id).unwrap_or_else(|| panic!("no item {id} in\n{r}"))
}

/// Whether spawning `/bin/true` in `c` works.
fn spawns(c: &Container) -> Result<(), String> {
    match c.command("/bin/true").status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("exited {s}")),
        Err(e) => Err(hutch::error_chain(&e)),
    }
}

/// The report's verdict for `c` agrees with what spawning `c` does.
fn verdict_matches_reality(c: &Container) -> preflight::Report {
    let r = preflight::check(&Requirements::for_container(c));
    let real = spawns(c);
    assert_eq!(
        r.can_run(),
        real.is_ok(),
        "the report says can_run = {} but spawning gave {real:?}\n{r}",
        r.can_run()
    );
    r
}

#[test]
fn the_kernel_features_are_found_as_root() {
    let _g = shared();
    if hutch::preflight().uid() != 0 {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    let r = hutch::preflight();
    println!("{r}");
    for id in [
        Id::Kernel,
        Id::Clone3,
        Id::CloneIntoCgroup,
        Id::Pidfd,
        Id::CloseRange,
        Id::MountApi,
        Id::TimeNamespace,
        Id::UserNamespaces,
        Id::MaxUserNamespaces,
    ] {
        assert_eq!(item(&r, id).state, State::Ok, "{id}\n{r}");
    }
    // The kernel release in the report is the one uname(1) prints.
    let uname = StdCommand::new("uname").arg("-r").output().unwrap();
    assert_eq!(
        r.kernel_release(),
        String::from_utf8_lossy(&uname.stdout).trim()
    );
    // Landlock's ABI version is a number (the host kernel, 6.18, has ABI 7 or more).
    let ll = item(&r, Id::Landlock);
    assert!(
        ll.state != State::Ok || ll.summary.starts_with("Landlock ABI version "),
        "{ll:?}"
    );
    // The bounding set this host gives root lacks CAP_SYS_RESOURCE; the report must say
    // exactly what /proc/self/status says.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    let caps = item(&r, Id::Capabilities);
    assert_eq!(
        caps.summary.contains("CAP_SYS_RESOURCE"),
        bnd & (1 << 24) == 0,
        "{caps:?}"
    );
    assert!(r.can_run(), "{r}");
}

#[test]
fn cgroup_mode_matches_statfs() {
    let _g = shared();
    let r = hutch::preflight();
    let mode = item(&r, Id::CgroupMode);
    if is_hybrid() {
        assert_eq!(mode.state, State::Limited, "{r}");
        assert!(mode.summary.contains("hybrid"), "{mode:?}");
        assert!(
            mode.fix.as_deref().unwrap().contains("cgroup_no_v1"),
            "{mode:?}"
        );
        let ctl = item(&r, Id::CgroupControllers);
        assert!(
            ctl.summary.contains("bound to v1: [") && ctl.summary.contains("memory"),
            "{ctl:?}"
        );
    } else if fs_type("/sys/fs/cgroup") == "cgroup2fs" {
        assert_eq!(mode.state, State::Ok, "{r}");
        assert!(mode.summary.contains("cgroup v2"), "{mode:?}");
    }
}

#[test]
fn verdicts_agree_with_real_spawns() {
    let _g = shared();
    let root = hutch::preflight().uid() == 0;
    verdict_matches_reality(&Container::new());
    let mut c = Container::new();
    c.user_namespace(true);
    verdict_matches_reality(&c);
    // A memory limit: refused on a hybrid host (memory is bound to v1), and the report
    // says why.
    let mut c = Container::new();
    c.limit_memory(64u64 << 20);
    let r = verdict_matches_reality(&c);
    if is_hybrid() {
        assert!(!r.can_run());
        let ctl = item(&r, Id::CgroupControllers);
        assert!(ctl.blocking, "{r}");
        assert!(
            ctl.fix.as_deref().unwrap().contains("cgroup_no_v1=memory"),
            "{ctl:?}"
        );
    }
    // A pasta network: the report asks for pasta (on PATH, where the spawn looks for it),
    // and agrees with a real spawn.
    let mut c = Container::new();
    c.network(hutch::NetworkMode::Pasta);
    let r = verdict_matches_reality(&c);
    assert!(item(&r, Id::RootlessNetwork).required, "{r}");
    let mut c = Container::new();
    c.network(hutch::NetworkMode::Bridge(
        hutch::netns::NetworkConfig::new("hutch0"),
    ));
    assert!(
        item(
            &preflight::check(&Requirements::for_container(&c)),
            Id::Bridge
        )
        .required
    );
    // A hugetlb limit: the one controller this hybrid host's cgroup2 has.
    if root {
        let r = preflight::check(Requirements::new().controllers([Controller::Hugetlb]));
        assert_eq!(
            item(&r, Id::CgroupControllers).blocking,
            !std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
                .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers"))
                .unwrap_or_default()
                .contains("hugetlb"),
            "{r}"
        );
    }
}

#[test]
fn explain_missing_controller_on_this_host() {
    let _g = shared();
    if is_hybrid() {
        let h = preflight::explain_missing_controller(Controller::Memory).expect("a hint");
        assert!(
            h.cause
                .contains("bound to the v1 hierarchy at /sys/fs/cgroup/memory"),
            "{h}"
        );
        assert!(h.fix.contains("cgroup_no_v1=memory"), "{h}");
    }
    if hutch::preflight().uid() == 0 {
        // Whatever the root cgroup offers, root can use.
        let root = if is_hybrid() {
            "/sys/fs/cgroup/unified"
        } else {
            "/sys/fs/cgroup"
        };
        let offered = std::fs::read_to_string(format!("{root}/cgroup.controllers")).unwrap();
        for name in offered.split_whitespace() {
            if let Ok(c) = name.parse::<Controller>() {
                assert_eq!(preflight::explain_missing_controller(c), None, "{name}");
            }
        }
    }
}

#[test]
fn json_is_valid_and_carries_every_item() {
    let _g = shared();
    let r = hutch::preflight();
    let json = r.to_json();
    // Parsed by an independent JSON reader.
    let script = "import json,sys; d=json.load(sys.stdin); \
        print(d['can_run'], len(d['items']), d['items'][0]['id'], d['uid'])";
    let mut child = StdCommand::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "invalid JSON: {json}");
    let expected = format!(
        "{} {} kernel {}\n",
        if r.can_run() { "True" } else { "False" },
        r.items().len(),
        r.uid()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn checks_leave_nothing_behind_and_run_from_many_threads() {
    let _g = exclusive();
    let leaks = Leaks::snapshot();
    let reports: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(hutch::preflight))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let states: Vec<_> = reports[0].items().iter().map(|i| (i.id, i.state)).collect();
    for r in &reports[1..] {
        let s: Vec<_> = r.items().iter().map(|i| (i.id, i.state)).collect();
        assert_eq!(s, states);
    }
    leaks.assert_none("preflight");
}

#[test]
fn explain_clone_error_names_the_cause() {
    let _g = shared();
    // Nothing here is 0, so ENOSPC is "a limit was reached", and EPERM for namespaces other
    // than a user namespace is about CAP_SYS_ADMIN only when it is missing.
    let h = preflight::explain_clone_error(libc::ENOSPC, Namespaces::USER).unwrap();
    let max: u64 = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if max > 0 {
        assert!(h.cause.contains("limit was reached"), "{h}");
    } else {
        assert!(h.cause.contains("user.max_user_namespaces is 0"), "{h}");
    }
    assert_eq!(
        preflight::explain_clone_error(libc::EBADF, Namespaces::USER),
        None
    );
}

/// The unprivileged half: re-runs itself as `nobody`.
#[test]
fn report_for_an_unprivileged_caller() {
    let _g = shared();
    if std::env::var_os("HUTCH_PREFLIGHT_NOBODY").is_none() {
        if hutch::preflight().uid() != 0 {
            eprintln!("skipped: re-running as nobody needs root (CI runs as root)");
            return;
        }
        let out = StdCommand::new("setpriv")
            .args(as_nobody("report_for_an_unprivileged_caller"))
            .env("HUTCH_PREFLIGHT_NOBODY", "1")
            .output()
            .expect("setpriv");
        assert_rerun_passed(&out);
        return;
    }
    let r = verdict_matches_reality(&Container::new());
    println!("{r}");
    assert_eq!(r.uid(), 65534);
    assert!(r.requirements().get_namespaces().contains(Namespaces::USER));
    let caps = item(&r, Id::Capabilities);
    assert_eq!(caps.state, State::Ok, "{caps:?}");
    assert!(caps.summary.contains("unprivileged"), "{caps:?}");
    // nobody owns no cgroup here: containers run without one, and limits are blocked.
    let d = item(&r, Id::CgroupDelegation);
    assert_eq!(d.state, State::Limited, "{d:?}");
    assert!(d.summary.contains("not writable by uid 65534"), "{d:?}");
    assert!(d.fix.as_deref().unwrap().contains("Delegate=yes"), "{d:?}");
    let mut c = Container::new();
    c.limit_memory(64u64 << 20);
    let limited = verdict_matches_reality(&c);
    assert!(!limited.can_run());
    assert!(item(&limited, Id::CgroupDelegation).blocking, "{limited}");
    // Multi-range maps need grants nobody lacks here.
    let r = preflight::check(Requirements::for_container(&Container::new()).id_map_helpers(true));
    let sub = item(&r, Id::SubordinateIds);
    let has_grant = std::fs::read_to_string("/etc/subuid")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("nobody:") || l.starts_with("65534:"));
    assert_eq!(sub.state == State::Ok, has_grant, "{sub:?}");
    if !has_grant {
        assert!(sub.blocking && !r.can_run(), "{r}");
        assert!(
            sub.fix
                .as_deref()
                .unwrap()
                .contains("usermod --add-subuids"),
            "{sub:?}"
        );
    }
}
