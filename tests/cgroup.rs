//! Containers' cgroups on this host's cgroup2 (`/sys/fs/cgroup/unified` on a hybrid host):
//! placement, removal, freeze/thaw, kill, stats, events, device rules, and the errors for
//! limits the host cannot apply.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Leaks, exclusive, shared, unique};
use hutch::cgroup_v2::device::DevicePolicy;
use hutch::cgroup_v2::watch::CgroupEvent;
use hutch::cgroup_v2::{Controller, Hierarchy};
use hutch::{Container, SpawnError, Stdio};

fn hierarchy() -> Hierarchy {
    Hierarchy::discover().expect("a cgroup2 mount")
}

/// A parent cgroup of the test's own, removed (with everything in it) when dropped.
struct Parent(PathBuf);

impl Parent {
    fn new() -> Parent {
        let p = hierarchy().root().join(unique("hutch-test"));
        fs::create_dir(&p).unwrap();
        Parent(p)
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        if let Ok(cg) = hutch::cgroup_v2::Cgroup::open(&self.0) {
            let _ = cg.remove();
        }
    }
}

fn cgroup_of(pid: u32) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap()
        .to_owned()
}

#[test]
fn a_container_lives_in_its_own_cgroup_which_goes_away_with_it() {
    let _g = shared();
    let parent = Parent::new();
    let mut c = Container::new();
    c.cgroup_parent(&parent.0);
    let mut child = c.command("sleep").arg("30").spawn().unwrap();
    let cg = child.cgroup().expect("a cgroup").path().to_owned();
    assert!(cg.starts_with(&parent.0), "{cg:?}");
    let rel = cg.strip_prefix(hierarchy().root()).unwrap();
    assert_eq!(
        Path::new(&cgroup_of(child.id().unwrap())),
        Path::new("/").join(rel)
    );
    // Placed atomically by CLONE_INTO_CGROUP: the only process there is the container's.
    let procs = fs::read_to_string(cg.join("cgroup.procs")).unwrap();
    assert_eq!(procs.trim(), child.id().unwrap().to_string());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(cg.exists(), "removed before the Child is dropped");
    drop(child);
    assert!(!cg.exists(), "cgroup {cg:?} left behind");
}

#[test]
fn default_parent_is_a_hutch_cgroup_beside_the_callers() {
    let _g = shared();
    let h = hierarchy();
    let own = h.self_cgroup().unwrap().path().to_owned();
    let base = if own == h.root() {
        own.clone()
    } else {
        own.parent().unwrap().to_owned()
    };
    let mut child = Container::new().command("sleep").arg("30").spawn().unwrap();
    let cg = child.cgroup().unwrap().path().to_owned();
    assert_eq!(cg.parent().unwrap(), base.join("hutch"));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(child);
    assert!(!cg.exists());
}

#[test]
fn keep_cgroup_keeps_it() {
    let _g = shared();
    let parent = Parent::new();
    let name = unique("kept");
    let mut c = Container::new();
    c.cgroup_parent(&parent.0)
        .cgroup_name(&name)
        .keep_cgroup(true);
    let out = c.command("true").output().unwrap();
    assert!(out.status.success());
    assert!(parent.0.join(&name).is_dir());
    // A second container by the same name while the first is kept is an error naming it.
    let err = c.command("true").spawn().unwrap_err();
    assert!(
        hutch::error_chain(&err).contains(&name),
        "{}",
        hutch::error_chain(&err)
    );
}

#[test]
fn a_kept_cgroup_is_still_removed_when_the_spawn_fails() {
    let _g = shared();
    let parent = Parent::new();
    let name = unique("kept-failing");
    let mut c = Container::new();
    c.cgroup_parent(&parent.0)
        .cgroup_name(&name)
        .keep_cgroup(true);
    let err = c.command("/nonexistent/prog").spawn().unwrap_err();
    assert_eq!(err.step(), Some(hutch::Step::Exec));
    assert!(
        !parent.0.join(&name).exists(),
        "cgroup of a failed spawn kept"
    );
}

#[test]
fn a_limit_the_kernel_would_reject_is_reported_before_anything_is_made() {
    let _g = exclusive();
    let parent = Parent::new();
    let mut c = Container::new();
    c.cgroup_parent(&parent.0).limit_pids(10_000_000);
    let leaks = Leaks::snapshot();
    let err = c.command("true").spawn().unwrap_err();
    leaks.assert_none("invalid pids limit");
    assert!(matches!(err, SpawnError::InvalidLimit { .. }), "{err:?}");
    let msg = hutch::error_chain(&err);
    assert!(msg.contains("pids.max") && msg.contains("4194304"), "{msg}");
    assert_eq!(
        fs::read_dir(&parent.0)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().is_dir())
            .count(),
        0
    );
}

#[test]
fn disabled_cgroup_with_cgroup_settings_is_a_config_error() {
    let _g = shared();
    let mut c = Container::new();
    c.cgroup(false).cgroup_name("x");
    let err = c.command("true").spawn().unwrap_err();
    assert!(
        matches!(
            err,
            SpawnError::CgroupDisabled {
                what: "cgroup_name"
            }
        ),
        "{err:?}"
    );
}

#[test]
fn freeze_stops_and_thaw_resumes() {
    let _g = shared();
    let parent = Parent::new();
    let mut c = Container::new();
    c.cgroup_parent(&parent.0);
    let mut child = c
        .command("/bin/sh")
        .args([
            "-c",
            "i=0; while :; do i=$((i+1)); echo $i; sleep 0.01; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 4096];
    let _ = out.read(&mut buf).unwrap();
    child.freeze(Duration::from_secs(10)).unwrap();
    assert!(child.cgroup().unwrap().events().unwrap().frozen);
    // Drain what was written before the freeze took hold, then nothing more comes.
    std::thread::sleep(Duration::from_millis(100));
    set_nonblocking(&out);
    while out.read(&mut buf).is_ok_and(|n| n > 0) {}
    std::thread::sleep(Duration::from_millis(300));
    let n = out.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "a frozen container wrote {:?}", &buf[..n]);
    child.thaw(Duration::from_secs(10)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let n = out.read(&mut buf).unwrap_or(0);
    assert!(n > 0, "a thawed container did not resume");
    // A timeout too large to represent waits without bound, without panicking.
    child.freeze(Duration::MAX).unwrap();
    assert!(child.cgroup().unwrap().events().unwrap().frozen);
    child.thaw(Duration::MAX).unwrap();
    assert!(!child.cgroup().unwrap().events().unwrap().frozen);
    child.kill().unwrap();
    child.wait().unwrap();
}

fn set_nonblocking(f: &impl std::os::fd::AsRawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

#[test]
fn kill_all_ends_every_process_including_execs() {
    let _g = shared();
    let parent = Parent::new();
    let mut c = Container::new();
    c.cgroup_parent(&parent.0);
    let mut child = c.command("sleep").arg("30").spawn().unwrap();
    let mut joined = child.exec("sleep").arg("30").spawn().unwrap();
    assert_eq!(
        cgroup_of(joined.id().unwrap()),
        cgroup_of(child.id().unwrap()),
        "exec did not join the container's cgroup"
    );
    child.kill_all().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(joined.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn stats_count_cpu_time() {
    let _g = shared();
    let parent = Parent::new();
    let mut c = Container::new();
    c.cgroup_parent(&parent.0);
    let mut child = c
        .command("/bin/sh")
        .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
        .spawn()
        .unwrap();
    child.wait().unwrap();
    let s = child.stats().unwrap();
    assert!(s.cpu.usage >= Duration::from_millis(20), "{:?}", s.cpu);
    assert!(s.cpu.usage >= s.cpu.user);
    // On a hybrid host the memory controller is not in cgroup2: no numbers, no error.
    let h = hierarchy();
    let has_memory = h
        .open_root()
        .unwrap()
        .controllers()
        .unwrap()
        .contains(&Controller::Memory);
    assert_eq!(s.memory.is_some(), has_memory);
}

#[test]
fn watcher_reports_the_container_becoming_empty() {
    let _g = shared();
    let parent = Parent::new();
    let mut c = Container::new();
    c.cgroup_parent(&parent.0);
    let mut child = c.command("sleep").arg("0.3").spawn().unwrap();
    let mut events = child.events().unwrap();
    let start = Instant::now();
    let mut seen = Vec::new();
    while !seen.contains(&CgroupEvent::Empty) && start.elapsed() < Duration::from_secs(10) {
        seen.extend(events.wait(Some(Duration::from_secs(10))).unwrap());
    }
    assert!(seen.contains(&CgroupEvent::Empty), "{seen:?}");
    assert!(child.wait().unwrap().success());
    // `Duration::MAX` means no bound (it used to overflow `Instant` and panic).
    let mut child = c.command("sleep").arg("0.3").spawn().unwrap();
    let mut events = child.events().unwrap();
    let mut seen = Vec::new();
    while !seen.contains(&CgroupEvent::Empty) {
        seen.extend(events.wait(Some(Duration::MAX)).unwrap());
    }
    assert!(child.wait().unwrap().success());
    let mut child = c.command("sleep").arg("0.3").spawn().unwrap();
    let mut events = child.events().unwrap();
    assert!(events.wait_until_empty(Some(Duration::MAX)).unwrap());
    assert!(child.wait().unwrap().success());
}

#[test]
fn device_policy_denies_and_allows() {
    let _g = shared();
    let parent = Parent::new();
    let mut c = Container::new();
    c.cgroup_parent(&parent.0)
        .devices("c 1:3 rwm".parse::<DevicePolicy>().unwrap()); // /dev/null only
    let out = c
        .command("/bin/sh")
        .args([
            "-c",
            "echo x > /dev/null && echo null-ok; head -c1 /dev/zero >/dev/null 2>&1 && echo zero-ok || echo zero-denied",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "null-ok\nzero-denied\n"
    );
}

#[test]
fn a_limit_the_host_cannot_apply_fails_clearly_and_leaves_nothing() {
    let _g = exclusive();
    let h = hierarchy();
    let available = h.open_root().unwrap().controllers().unwrap();
    if available.contains(&Controller::Memory) {
        // A full cgroup v2 host: the VM suite covers limits there.
        assert!(
            std::env::var_os("HUTCH_EXPECT_HYBRID").is_none(),
            "HUTCH_EXPECT_HYBRID is set but cgroup2 has the memory controller"
        );
        eprintln!(
            "memory controller present in cgroup2: the hybrid-host error cannot be shown here"
        );
        return;
    }
    let parent = Parent::new();
    let before: Vec<_> = fs::read_dir(&parent.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name())
        .collect();
    let mut c = Container::new();
    c.cgroup_parent(&parent.0).limit_memory(64 << 20);
    let leaks = Leaks::snapshot();
    let err = c.command("true").spawn().unwrap_err();
    leaks.assert_none("memory limit on a hybrid host");
    assert!(
        matches!(err, SpawnError::CgroupUnavailable { .. }),
        "{err:?}"
    );
    let msg = hutch::error_chain(&err);
    assert!(msg.contains("memory") && msg.contains("hugetlb"), "{msg}");
    // The host-level cause and its fix, from the preflight checks.
    assert!(
        msg.contains("fix:") && msg.contains("cgroup_no_v1"),
        "{msg}"
    );
    if fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(" - cgroup cgroup rw,memory")
    {
        assert!(
            msg.contains("v1"),
            "the message should explain the hybrid host: {msg}"
        );
    }
    let after: Vec<_> = fs::read_dir(&parent.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(before, after, "a cgroup was left behind");
}

#[test]
fn required_cgroup_on_a_missing_parent_names_it() {
    let _g = exclusive();
    let mut c = Container::new();
    c.cgroup(true).cgroup_parent("/nonexistent-hutch-parent");
    let leaks = Leaks::snapshot();
    let err = c.command("true").spawn().unwrap_err();
    leaks.assert_none("missing cgroup parent");
    let msg = hutch::error_chain(&err);
    assert!(msg.contains("nonexistent-hutch-parent"), "{msg}");
}

#[test]
fn a_cgroup_parent_outside_cgroupfs_is_refused_and_leaves_nothing() {
    let _g = shared();
    let plain = common::TempDir::new("hutch-not-a-cgroup");
    let mut c = Container::new();
    c.cgroup_parent(&plain.0);
    let err = c.command("true").spawn().unwrap_err();
    assert!(
        matches!(
            err,
            SpawnError::NotCgroup2 {
                what: "cgroup_parent",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(hutch::error_chain(&err).contains("cgroup2"), "{err}");
    assert_eq!(
        fs::read_dir(&plain.0).unwrap().count(),
        0,
        "left something behind"
    );
    let mut c = Container::new();
    c.cgroup_parent(hierarchy().root().join("../../tmp"));
    let err = c.command("true").spawn().unwrap_err();
    assert!(matches!(err, SpawnError::NotCgroup2 { .. }), "{err:?}");
    let mut c = Container::new();
    c.cgroup_root(&plain.0);
    let err = c.command("true").spawn().unwrap_err();
    assert!(
        matches!(
            err,
            SpawnError::NotCgroup2 {
                what: "cgroup_root",
                ..
            }
        ),
        "{err:?}"
    );
}

/// The inner half of the next test: spawns a container that dies with its parent, prints its
/// cgroup and waits to be killed.
#[test]
fn spawner_that_gets_killed() {
    let Some(parent) = std::env::var_os("HUTCH_TEST_KILLED_SPAWNER") else {
        return;
    };
    let mut c = Container::new();
    c.cgroup_parent(parent).die_with_parent(true);
    let child = c.command("sleep").arg("1000").spawn().unwrap();
    println!("CGROUP {}", child.cgroup().unwrap().path().display());
    std::mem::forget(child);
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_spawner_killed_with_sigkill_leaves_no_cgroup_for_good() {
    let _g = shared();
    let parent = Parent::new();
    let mut inner = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "spawner_that_gets_killed", "--nocapture"])
        .env("HUTCH_TEST_KILLED_SPAWNER", &parent.0)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = inner.stdout.take().unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(20);
    let path = loop {
        assert!(Instant::now() < deadline, "no cgroup printed: {text}");
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "the inner test ended: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if let Some(line) = text.lines().find_map(|l| l.strip_prefix("CGROUP "))
            && text.contains('\n')
        {
            break PathBuf::from(line.trim());
        }
    };
    inner.kill().unwrap();
    inner.wait().unwrap();
    // The container dies with its parent (PR_SET_PDEATHSIG)...
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(path.join("cgroup.procs"))
        .unwrap()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the container outlived its parent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...its empty cgroup stays until the next spawn under the same parent removes it.
    assert!(path.exists());
    let mut c = Container::new();
    c.cgroup_parent(&parent.0);
    assert!(c.command("true").status().unwrap().success());
    assert!(
        !path.exists(),
        "the dead spawner's cgroup {path:?} is still there"
    );
}

/// A cgroup left by a spawner that died — even one that had this process's pid (pid reuse,
/// a CI job in a pid namespace of its own) — is removed by the next spawn, which never
/// fails on it.
#[test]
fn cgroups_of_dead_spawners_are_removed_even_with_our_pid() {
    let _g = shared();
    let parent = Parent::new();
    let me = std::process::id();
    // Our pid with another start time (tick 1: nobody but init starts that early), and a
    // pid that cannot exist.
    let ns = {
        use std::os::unix::fs::MetadataExt;
        fs::metadata("/proc/self/ns/pid").unwrap().ino()
    };
    let stale = [
        parent.0.join(format!("hutch-{me}-1-{ns}-0")),
        parent.0.join(format!("hutch-{}-7-{ns}-0", u32::MAX)),
    ];
    // A spawner of another pid namespace, and a dead spawner's container still running:
    // neither is touched.
    let foreign = parent.0.join(format!("hutch-{}-7-{}-0", u32::MAX, ns + 1));
    fs::create_dir(&foreign).unwrap();
    for d in &stale {
        fs::create_dir(d).unwrap();
    }
    let mut c = Container::new();
    c.cgroup_parent(&parent.0);
    assert!(c.command("true").status().unwrap().success());
    for d in &stale {
        assert!(!d.exists(), "{}", d.display());
    }
    assert!(foreign.exists());
    fs::remove_dir(&foreign).unwrap();
}
