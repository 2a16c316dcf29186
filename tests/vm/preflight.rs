//! The preflight report in the VM (full cgroup v2, every controller, every capability), and
//! its negative paths proven by changing sysctls in this throw-away VM. Included by
//! `tests/vm.rs` as `mod preflight;`.

use std::fs;

use hutch::cgroup_v2::Controller;
use hutch::preflight::{self, Id, Requirements, State};
use hutch::{Container, Namespaces};

fn item(r: &preflight::Report, id: Id) -> &preflight::Item {
    r.item(id).unwrap_or_else(|| panic!("no item {id} in\n{r}"))
}

/// Restores a sysctl file's value when dropped.
struct Sysctl {
    path: &'static str,
    old: String,
}

impl Sysctl {
    fn set(path: &'static str, value: &str) -> Sysctl {
        let old = fs::read_to_string(path).unwrap();
        fs::write(path, value).unwrap();
        Sysctl { path, old }
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        fs::write(self.path, self.old.trim()).unwrap();
    }
}

#[test]
fn full_cgroup_v2_with_every_controller() {
    let parent = super::Parent::new();
    let mut c = parent.container();
    c.limit_memory(64u64 << 20).limit_pids(64).limit_cpu(0.5);
    let r = preflight::check(&Requirements::for_container(&c));
    println!("{r}");
    let mode = item(&r, Id::CgroupMode);
    assert_eq!(mode.state, State::Ok, "{mode:?}");
    assert!(mode.summary.starts_with("cgroup v2"), "{mode:?}");
    let ctl = item(&r, Id::CgroupControllers);
    assert_eq!(ctl.state, State::Ok, "{ctl:?}");
    for name in ["cpu", "memory", "pids", "io"] {
        assert!(ctl.summary.contains(name), "{ctl:?}");
    }
    assert!(!ctl.summary.contains("bound to v1"), "{ctl:?}");
    assert_eq!(item(&r, Id::CgroupDelegation).state, State::Ok);
    // Every capability, CAP_SYS_RESOURCE included.
    let caps = item(&r, Id::Capabilities);
    assert_eq!(caps.state, State::Ok, "{caps:?}");
    assert!(r.can_run(), "{r}");
    // And it really runs.
    let status = c.command("/bin/true").status().unwrap();
    assert!(status.success());
    for controller in [
        Controller::Memory,
        Controller::Pids,
        Controller::Cpu,
        Controller::Io,
    ] {
        assert_eq!(preflight::explain_missing_controller(controller), None);
    }
}

#[test]
fn max_user_namespaces_zero_is_reported_and_explains_the_spawn_error() {
    let _restore = Sysctl::set("/proc/sys/user/max_user_namespaces", "0");
    let mut c = Container::new();
    c.user_namespace(true);
    let r = preflight::check(&Requirements::for_container(&c));
    println!("{r}");
    assert!(!r.can_run(), "{r}");
    let max = item(&r, Id::MaxUserNamespaces);
    assert_eq!((max.state, max.blocking), (State::Missing, true), "{max:?}");
    assert!(
        max.fix
            .as_deref()
            .unwrap()
            .contains("sysctl -w user.max_user_namespaces=")
    );
    let probe = item(&r, Id::UserNamespaces);
    assert_eq!(
        (probe.state, probe.blocking),
        (State::Missing, true),
        "{probe:?}"
    );
    assert!(probe.summary.contains("ENOSPC"), "{probe:?}");
    assert!(
        probe.summary.contains("user.max_user_namespaces is 0"),
        "{probe:?}"
    );
    // The real spawn fails with that errno, and the hint names the sysctl.
    let err = c.command("/bin/true").status().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    let hint = preflight::explain_clone_error(libc::ENOSPC, Namespaces::USER).unwrap();
    assert!(
        hint.cause.contains("user.max_user_namespaces is 0"),
        "{hint}"
    );
    // Without a user namespace, the same host is fine.
    let r = preflight::check(&Requirements::for_container(&Container::new()));
    assert!(r.can_run(), "{r}");
}

#[test]
fn max_net_namespaces_zero_explains_enospc() {
    let _restore = Sysctl::set("/proc/sys/user/max_net_namespaces", "0");
    let err = Container::new().command("/bin/true").status().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    let hint =
        preflight::explain_clone_error(libc::ENOSPC, Namespaces::NET | Namespaces::PID).unwrap();
    assert!(
        hint.cause.contains("user.max_net_namespaces is 0"),
        "{hint}"
    );
    assert!(
        hint.fix.contains("sysctl -w user.max_net_namespaces="),
        "{hint}"
    );
}

#[test]
fn debian_unprivileged_userns_clone_zero_blocks_unprivileged_callers() {
    let name = "preflight::debian_unprivileged_userns_clone_zero_blocks_unprivileged_callers";
    if std::env::var_os("HUTCH_PREFLIGHT_NOBODY").is_some() {
        // The unprivileged half, with the sysctl at 0 (set by the root half).
        let c = Container::new();
        let r = preflight::check(&Requirements::for_container(&c));
        println!("{r}");
        assert_eq!(r.uid(), 65534);
        assert!(!r.can_run(), "{r}");
        let d = item(&r, Id::UnprivilegedUsernsClone);
        assert_eq!((d.state, d.blocking), (State::Missing, true), "{d:?}");
        let probe = item(&r, Id::UserNamespaces);
        assert!(probe.blocking, "{probe:?}");
        assert!(
            probe
                .summary
                .contains("kernel.unprivileged_userns_clone is 0"),
            "{probe:?}"
        );
        let err = c.command("/bin/true").status().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
        let hint = preflight::explain_clone_error(libc::EPERM, c.effective_namespaces()).unwrap();
        assert!(
            hint.fix.contains("kernel.unprivileged_userns_clone=1"),
            "{hint}"
        );
        return;
    }
    if !std::path::Path::new("/proc/sys/kernel/unprivileged_userns_clone").exists() {
        panic!("the VM's Debian kernel should have kernel.unprivileged_userns_clone");
    }
    let _restore = Sysctl::set("/proc/sys/kernel/unprivileged_userns_clone", "0");
    // Root still can; the report says unprivileged users cannot, and why.
    let r = preflight::check(&Requirements::for_container(&Container::new()));
    let probe = item(&r, Id::UserNamespaces);
    assert_eq!(probe.state, State::Ok, "{probe:?}");
    assert!(
        probe.summary.contains("unprivileged users cannot"),
        "{probe:?}"
    );
    assert!(
        probe.evidence.iter().any(|e| e
            .to_string()
            .contains("kernel.unprivileged_userns_clone is 0")),
        "{probe:?}"
    );
    let out = std::process::Command::new("setpriv")
        .args(crate::common::as_nobody(name))
        .env("HUTCH_PREFLIGHT_NOBODY", "1")
        .output()
        .expect("setpriv");
    crate::common::assert_rerun_passed(&out);
}

#[test]
fn a_delegated_cgroup_is_reported_and_usable_by_an_unprivileged_caller() {
    let name = "preflight::a_delegated_cgroup_is_reported_and_usable_by_an_unprivileged_caller";
    if std::env::var_os("HUTCH_PREFLIGHT_DELEGATED").is_some() {
        // nobody, in `<parent>/launcher`, with `<parent>` delegated to it.
        let mut c = Container::new();
        c.limit_memory(64u64 << 20).limit_pids(16);
        let r = preflight::for_container(&c);
        println!("{r}");
        assert_eq!(r.uid(), 65534);
        let d = item(&r, Id::CgroupDelegation);
        assert_eq!(d.state, State::Ok, "{d:?}");
        assert!(d.summary.contains("delegated"), "{d:?}");
        let ctl = item(&r, Id::CgroupControllers);
        assert!(!ctl.blocking, "{ctl:?}");
        assert!(r.can_run(), "{r}");
        // And it really runs, with its limits.
        let status = c.command("/bin/true").status().unwrap();
        assert!(status.success());
        return;
    }
    let parent = super::Parent::new();
    hutch::cgroup_v2::Cgroup::open(&parent.0)
        .unwrap()
        .delegate(65534, 65534)
        .unwrap();
    // The unprivileged half runs inside the delegated subtree, as under systemd's Delegate=.
    let mut launcher = Container::host();
    launcher.cgroup_parent(&parent.0).cgroup_name("launcher");
    let out = launcher
        .command("setpriv")
        .args(crate::common::as_nobody(name))
        .env("HUTCH_PREFLIGHT_DELEGATED", "1")
        .current_dir("/")
        .output()
        .unwrap();
    crate::common::assert_rerun_passed(&out);
}
