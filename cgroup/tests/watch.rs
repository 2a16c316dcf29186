//! Event watchers and PSI triggers against the real kernel, in test cgroups under the
//! cgroup2 hierarchy (found in /proc/self/mountinfo, or `HUTCH_CGROUP_ROOT`). Needs root;
//! fails rather than skips when the hierarchy is missing.
//!
//! Memory events (`Oom`, `OomKill`, …) need the memory controller, which the CI hosts'
//! cgroup2 does not have; they are exercised in the VM tests.

mod common;

use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hutch_cgroup::watch::{
    CgroupEvent, EventWatcher, PressureError, PressureKind, PressureThreshold, PressureTrigger,
    WatchError,
};
use hutch_cgroup::{Cgroup, PressureResource};
use proptest::prelude::*;

const LONG: Duration = Duration::from_secs(10);

fn cgroup2_root() -> PathBuf {
    common::hierarchy().root().to_owned()
}

/// A cgroup `hutch-test-<pid>-watch<n>/cg`, removed (and checked gone, with its parent)
/// on drop. Declare it before the processes in it, so that they are killed first.
///
/// The extra level keeps the parent directory, which an [`EventWatcher`] watches for the
/// removal of its cgroup, free of the other tests' cgroups coming and going.
struct TestCgroup {
    outer: PathBuf,
    path: PathBuf,
    cgroup: Cgroup,
}

impl TestCgroup {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let outer = cgroup2_root().join(format!("hutch-test-{}-watch{n}", std::process::id()));
        let path = outer.join("cg");
        for dir in [&outer, &path] {
            fs::create_dir(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        }
        let cgroup = Cgroup::open(&path).unwrap();
        TestCgroup {
            outer,
            path,
            cgroup,
        }
    }

    /// Starts `sh -c script` and moves it into the cgroup. The script should begin with
    /// `read _go` if it must not run outside; the caller then writes a line to stdin.
    fn spawn(&self, script: &str) -> Proc {
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        fs::write(self.path.join("cgroup.procs"), child.id().to_string()).unwrap();
        Proc(child)
    }

    fn remove(&self) -> std::io::Result<()> {
        fs::remove_dir(&self.path)
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let inner = self.remove();
        let outer = fs::remove_dir(&self.outer);
        if !std::thread::panicking() {
            if let Err(e) = inner {
                // Some tests remove the cgroup themselves.
                assert_eq!(
                    e.raw_os_error(),
                    Some(libc::ENOENT),
                    "rmdir {}: {e}",
                    self.path.display()
                );
            }
            outer.unwrap_or_else(|e| panic!("rmdir {}: {e}", self.outer.display()));
            assert!(!self.outer.exists(), "{} left behind", self.outer.display());
        }
    }
}

/// A child process that is killed and reaped on drop.
struct Proc(Child);

impl Proc {
    fn stdin(&mut self) -> ChildStdin {
        self.0.stdin.take().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------
// cgroup.events
// ---------------------------------------------------------------------------------------

#[test]
fn populated_then_empty_without_busy_polling() {
    let cg = TestCgroup::new();
    let mut watcher = EventWatcher::new(&cg.cgroup).unwrap();
    assert!(!watcher.state().populated);

    // Nothing happens: the wait times out, having slept the whole time.
    let start = Instant::now();
    assert_eq!(
        watcher.wait(Some(Duration::from_millis(300))).unwrap(),
        vec![]
    );
    assert!(start.elapsed() >= Duration::from_millis(300));

    let mut proc = cg.spawn("read _line");
    assert_eq!(
        watcher.wait(Some(LONG)).unwrap(),
        vec![CgroupEvent::Populated]
    );
    assert!(watcher.state().populated);

    // The process exits when its stdin closes; the watcher is woken by the kernel.
    drop(proc.stdin());
    let start = Instant::now();
    assert_eq!(watcher.wait(Some(LONG)).unwrap(), vec![CgroupEvent::Empty]);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(!watcher.state().populated);
    drop(proc);
}

#[test]
fn frozen_and_thawed() {
    let cg = TestCgroup::new();
    let _proc = cg.spawn("read _line");
    let mut watcher = EventWatcher::new(&cg.cgroup).unwrap();
    assert!(watcher.state().populated && !watcher.state().frozen);

    fs::write(cg.path.join("cgroup.freeze"), "1").unwrap();
    assert_eq!(watcher.wait(Some(LONG)).unwrap(), vec![CgroupEvent::Frozen]);
    fs::write(cg.path.join("cgroup.freeze"), "0").unwrap();
    assert_eq!(watcher.wait(Some(LONG)).unwrap(), vec![CgroupEvent::Thawed]);
}

#[test]
fn the_fd_polls_readable_on_a_change() {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let cg = TestCgroup::new();
    let mut watcher = EventWatcher::new(&cg.cgroup).unwrap();
    let mut fds = [PollFd::new(watcher.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut fds, PollTimeout::from(100u16)).unwrap(), 0);

    let mut proc = cg.spawn("read _line");
    let mut fds = [PollFd::new(watcher.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut fds, PollTimeout::from(10_000u16)).unwrap(), 1);
    // Collect without blocking; the change may need a moment to land in the file, so
    // accept it arriving with the next wait as well.
    let mut events = watcher.wait(Some(Duration::ZERO)).unwrap();
    if events.is_empty() {
        events = watcher.wait(Some(LONG)).unwrap();
    }
    assert_eq!(events, vec![CgroupEvent::Populated]);
    drop(proc.stdin());
    drop(proc);
}

#[test]
fn wait_until_empty() {
    let cg = TestCgroup::new();
    let mut watcher = EventWatcher::new(&cg.cgroup).unwrap();
    assert!(
        watcher.wait_until_empty(Some(Duration::ZERO)).unwrap(),
        "already empty"
    );

    let mut proc = cg.spawn("read _line");
    let start = Instant::now();
    assert!(
        !watcher
            .wait_until_empty(Some(Duration::from_millis(300)))
            .unwrap()
    );
    assert!(start.elapsed() >= Duration::from_millis(300));

    let mut stdin = proc.stdin();
    writeln!(stdin, "bye").unwrap();
    assert!(watcher.wait_until_empty(Some(LONG)).unwrap());
    assert!(!watcher.state().populated);
    drop(proc);
}

#[test]
fn removing_the_cgroup_ends_the_watch() {
    let cg = TestCgroup::new();
    let mut watcher = EventWatcher::new(&cg.cgroup).unwrap();
    cg.remove().unwrap();
    let err = watcher.wait(Some(LONG)).unwrap_err();
    assert!(
        matches!(&err, WatchError::Removed { path } if *path == cg.path),
        "{err:?}"
    );
    assert!(err.to_string().contains(&cg.path.display().to_string()));
}

#[test]
fn watching_a_missing_cgroup_names_the_file() {
    let cg = TestCgroup::new();
    let cgroup = Cgroup::open(&cg.path).unwrap();
    cg.remove().unwrap();
    let err = EventWatcher::new(&cgroup).unwrap_err();
    match &err {
        WatchError::Read { path, source } => {
            assert_eq!(*path, cg.path.join("cgroup.events"));
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(std::error::Error::source(&err).is_some());
}

// ---------------------------------------------------------------------------------------
// PSI triggers
// ---------------------------------------------------------------------------------------

#[test]
fn threshold_text() {
    let t: PressureThreshold = "full 50000 2000000".parse().unwrap();
    assert_eq!(
        t,
        PressureThreshold::new(
            PressureKind::Full,
            Duration::from_millis(50),
            Duration::from_secs(2)
        )
    );
    assert_eq!(t.to_string(), "full 50000 2000000");
    for bad in [
        "",
        "some 1",
        "many 1 2",
        "some x 2",
        "some 1 -2",
        "some 1 2 3",
    ] {
        let err = bad.parse::<PressureThreshold>().unwrap_err();
        assert_eq!(err.text(), bad, "{err}");
    }
}

#[test]
fn threshold_validation() {
    let t = |stall_ms, window_ms| {
        PressureThreshold::new(
            PressureKind::Some,
            Duration::from_millis(stall_ms),
            Duration::from_millis(window_ms),
        )
        .validate()
    };
    assert!(t(150, 1000).is_ok());
    assert!(t(500, 500).is_ok());
    assert!(t(1, 10_000).is_ok());
    assert!(matches!(t(100, 499), Err(PressureError::Window { .. })));
    assert!(matches!(t(100, 10_001), Err(PressureError::Window { .. })));
    assert!(matches!(t(0, 1000), Err(PressureError::Stall { .. })));
    assert!(matches!(t(1001, 1000), Err(PressureError::Stall { .. })));
    let err = t(1001, 1000).unwrap_err();
    assert!(err.to_string().contains("1.001s"), "{err}");
    // Below a microsecond is zero for the kernel.
    let sub = PressureThreshold::new(
        PressureKind::Some,
        Duration::from_nanos(999),
        Duration::from_secs(1),
    );
    assert!(matches!(sub.validate(), Err(PressureError::Stall { .. })));
}

proptest! {
    #[test]
    fn threshold_round_trips(full: bool, stall in 0u64..20_000_000, window in 0u64..20_000_000) {
        let kind = if full { PressureKind::Full } else { PressureKind::Some };
        let t = PressureThreshold::new(kind, Duration::from_micros(stall), Duration::from_micros(window));
        prop_assert_eq!(t.to_string().parse::<PressureThreshold>().unwrap(), t);
    }
}

#[test]
fn invalid_triggers_are_refused_before_touching_the_kernel() {
    let cg = TestCgroup::new();
    let err = PressureTrigger::new(
        &cg.cgroup,
        PressureResource::Cpu,
        PressureKind::Some,
        Duration::from_secs(2),
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(matches!(err, PressureError::Stall { .. }), "{err:?}");
    let err = PressureTrigger::new(
        &cg.cgroup,
        PressureResource::Cpu,
        PressureKind::Some,
        Duration::from_millis(10),
        Duration::from_secs(60),
    )
    .unwrap_err();
    assert!(matches!(err, PressureError::Window { .. }), "{err:?}");
}

/// Whether this process has `CAP_SYS_RESOURCE` (bit 24) in its effective set.
fn has_cap_sys_resource() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    u64::from_str_radix(hex, 16).unwrap() & (1 << 24) != 0
}

#[test]
fn one_second_windows_need_cap_sys_resource() {
    let cg = TestCgroup::new();
    let result = PressureTrigger::new(
        &cg.cgroup,
        PressureResource::Cpu,
        PressureKind::Some,
        Duration::from_millis(50),
        Duration::from_secs(1),
    );
    if has_cap_sys_resource() {
        result.unwrap();
    } else {
        let err = result.unwrap_err();
        match &err {
            PressureError::UnprivilegedWindow { path, source, .. } => {
                assert_eq!(*path, cg.path.join("cpu.pressure"));
                assert_eq!(source.raw_os_error(), Some(libc::EINVAL));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("CAP_SYS_RESOURCE"), "{err}");
    }
}

/// 2 s: a multiple of 2 s, as the kernel requires without `CAP_SYS_RESOURCE` (which the
/// CI hosts' bounding set lacks).
const WINDOW: Duration = Duration::from_secs(2);

#[test]
fn cpu_trigger_fires_under_contention_and_not_when_idle() {
    let cg = TestCgroup::new();
    let trigger = PressureTrigger::new(
        &cg.cgroup,
        PressureResource::Cpu,
        PressureKind::Some,
        Duration::from_millis(50),
        WINDOW,
    )
    .unwrap();
    assert_eq!(trigger.threshold().to_string(), "some 50000 2000000");
    assert_eq!(trigger.path(), cg.path.join("cpu.pressure"));

    // An empty cgroup does not stall.
    assert!(!trigger.wait(Some(Duration::from_millis(2500))).unwrap());

    // More busy loops than CPUs: they wait for each other.
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let loops: Vec<Proc> = (0..cpus * 2)
        .map(|_| cg.spawn("while :; do :; done"))
        .collect();
    let start = Instant::now();
    assert!(
        trigger.wait(Some(Duration::from_secs(15))).unwrap(),
        "no cpu pressure seen"
    );
    eprintln!("cpu trigger fired after {:?}", start.elapsed());
    drop(loops);
    drop(trigger);
}

#[test]
fn trigger_reports_a_removed_cgroup() {
    let cg = TestCgroup::new();
    let trigger = PressureTrigger::new(
        &cg.cgroup,
        PressureResource::Cpu,
        PressureKind::Some,
        Duration::from_millis(100),
        WINDOW,
    )
    .unwrap();
    cg.remove().unwrap();
    let err = trigger.wait(Some(LONG)).unwrap_err();
    assert!(matches!(err, PressureError::Removed { .. }), "{err:?}");
}
