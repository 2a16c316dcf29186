//! Helpers shared by the facade's integration tests: leak accounting for descriptors, zombies
//! and mounts, and a lock that gives leak-checking tests the process to themselves.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static PROCESS: RwLock<()> = RwLock::new(());

/// Taken by ordinary tests: they may run alongside each other.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    PROCESS.read().unwrap_or_else(|e| e.into_inner())
}

/// Taken by tests that count descriptors, zombies or mounts of the whole process.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    PROCESS.write().unwrap_or_else(|e| e.into_inner())
}

/// The open descriptors of this process.
pub fn fds() -> BTreeSet<String> {
    fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The children of this process (any thread's), with their state letter.
pub fn children() -> Vec<(i32, char)> {
    let mut out = Vec::new();
    for task in fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path().join("children");
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        for pid in text.split_whitespace() {
            let pid: i32 = pid.parse().unwrap();
            let state = fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit(')').next().and_then(|r| r.trim().chars().next()))
                .unwrap_or('?');
            out.push((pid, state));
        }
    }
    out
}

/// The mount points of the caller's mount namespace.
pub fn mounts() -> BTreeSet<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.split(' ').nth(4).unwrap_or("").to_owned())
        .collect()
}

/// Makes what the library keeps for the whole process once made (the device program it
/// attaches to every container's cgroup, the sealed init program), so that a leak check that
/// follows does not count it, whichever test runs first.
pub fn warm_up() {
    static WARM: std::sync::Once = std::sync::Once::new();
    WARM.call_once(|| {
        let mut c = hutch::Container::new();
        assert!(c.command("true").status().unwrap().success());
        c.init(true);
        assert!(c.command("true").status().unwrap().success());
    });
}

/// A snapshot of what a failing spawn must not leave behind.
pub struct Leaks {
    fds: BTreeSet<String>,
    mounts: BTreeSet<String>,
}

impl Leaks {
    pub fn snapshot() -> Leaks {
        Leaks {
            fds: fds(),
            mounts: mounts(),
        }
    }

    /// Asserts that no descriptor, mount or child (zombie or not) appeared since the snapshot.
    pub fn assert_none(&self, what: &str) {
        let now = fds();
        let new: Vec<_> = now
            .difference(&self.fds)
            .map(|fd| {
                let target = fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default();
                format!("{fd} -> {}", target.display())
            })
            .collect();
        assert!(new.is_empty(), "{what}: leaked descriptors {new:?}");
        let m = mounts();
        let new: Vec<_> = m.difference(&self.mounts).collect();
        assert!(new.is_empty(), "{what}: left mounts {new:?}");
        let kids = children();
        assert!(kids.is_empty(), "{what}: left children {kids:?}");
    }
}

/// A shell prefix for a command run in a mount namespace of its own (`ip netns exec` or
/// `unshare --mount` gives one): a TUN device node of the given mode is mounted over
/// `/dev/net` there, then the command (the arguments after the prefix) is exec'd.
///
/// Unprivileged pasta needs `/dev/net/tun` readable and writable; hosts with udev make it
/// 0666, hosts without (this CI's VM) leave the kernel's 0600. The tests give themselves
/// udev's mode, or a root-only one, without changing the host's node.
pub fn with_tun_node(mode: &str) -> Vec<std::ffi::OsString> {
    let script = format!(
        "mount -t tmpfs -o mode=0755 hutch-test-tun /dev/net && \
         mknod -m {mode} /dev/net/tun c 10 200 && exec \"$@\""
    );
    vec!["sh".into(), "-c".into(), script.into(), "sh".into()]
}

/// `setpriv` arguments that re-run the test `test` of this test binary alone, as uid and
/// gid 65534 (`nobody`) with no supplementary groups. The caller sets a variable that tells the
/// re-run test it is the unprivileged half.
pub fn as_nobody(test: &str) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = ["--reuid=65534", "--regid=65534", "--clear-groups"]
        .iter()
        .map(Into::into)
        .collect();
    args.push(std::env::current_exe().unwrap().into());
    args.extend(["--exact", test, "--nocapture"].iter().map(Into::into));
    args
}

/// Asserts that a test re-run by [`as_nobody`] passed.
pub fn assert_rerun_passed(out: &std::process::Output) {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "the unprivileged run failed: {}\n{}{}",
        out.status,
        text,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A unique name for things this test creates on the host.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A directory removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let p = std::env::temp_dir().join(unique(prefix));
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
