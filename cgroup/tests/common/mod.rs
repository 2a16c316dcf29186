//! Shared helpers for the host and VM tests: unique test cgroups that are removed (and
//! checked to be gone) even when a test fails, and helper processes.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hutch_cgroup::{Cgroup, Hierarchy, Pid};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The hierarchy under test: `HUTCH_CGROUP_ROOT` if set, else the discovered cgroup2 mount.
pub fn hierarchy() -> Hierarchy {
    match std::env::var_os("HUTCH_CGROUP_ROOT") {
        Some(root) => Hierarchy::at(root),
        None => Hierarchy::discover().expect("a cgroup2 mount (tests run as root on Linux)"),
    }
}

/// A cgroup `hutch-test-<pid>-<n>` directly under the root; removed on drop (and the
/// removal is asserted by [`TestCgroup::finish`]).
pub struct TestCgroup {
    cg: Option<Cgroup>,
    path: PathBuf,
}

impl TestCgroup {
    pub fn new(tag: &str) -> TestCgroup {
        let h = hierarchy();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("hutch-test-{}-{n}-{tag}", std::process::id());
        let cg = h.open_root().unwrap().create_child(&name).unwrap();
        let path = cg.path().to_owned();
        TestCgroup { cg: Some(cg), path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the cgroup and asserts that the directory is gone.
    pub fn finish(mut self) {
        let cg = self.cg.take().unwrap();
        cg.remove().expect("remove test cgroup");
        assert!(!self.path.exists(), "{} left behind", self.path.display());
    }
}

impl std::ops::Deref for TestCgroup {
    type Target = Cgroup;
    fn deref(&self) -> &Cgroup {
        self.cg.as_ref().unwrap()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if let Some(cg) = self.cg.take()
            && let Err(e) = cg.remove()
        {
            eprintln!("cleanup of {} failed: {e}", self.path.display());
        }
    }
}

/// A child process that is killed and reaped on drop (no zombies left).
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        Proc {
            child: cmd.spawn().expect("spawn helper process"),
        }
    }

    /// `sleep 1000`.
    pub fn sleep() -> Proc {
        Proc::spawn(Command::new("sleep").arg("1000"))
    }

    /// A shell busy loop.
    pub fn busy() -> Proc {
        Proc::spawn(Command::new("sh").args(["-c", "while :; do :; done"]))
    }

    pub fn pid(&self) -> Pid {
        Pid::from(&self.child)
    }

    /// Waits for the process and returns the signal that killed it, if any.
    pub fn wait_signal(&mut self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.child.wait().unwrap().signal()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Re-runs this test binary as a helper: the test `helper_process` with
/// `HUTCH_HELPER=<role>`; the helper prints lines on stdout and exits when its stdin
/// closes. Run as an ordinary test (no `HUTCH_HELPER`), `helper_process` checks this
/// protocol itself with the role `ping`, so no test is ignored.
pub struct Helper {
    pub proc: Proc,
    pub stdin: Option<ChildStdin>,
    pub stdout: BufReader<ChildStdout>,
}

impl Helper {
    pub fn spawn(role: &str, configure: impl FnOnce(&mut Command)) -> Helper {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "helper_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HUTCH_HELPER", role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
        configure(&mut cmd);
        let mut proc = Proc::spawn(&mut cmd);
        let stdin = proc.child.stdin.take();
        let stdout = BufReader::new(proc.child.stdout.take().unwrap());
        Helper {
            proc,
            stdin,
            stdout,
        }
    }

    /// The next line the helper printed that starts with `prefix` (others, e.g. the
    /// test harness' own output, are skipped).
    pub fn line(&mut self, prefix: &str) -> String {
        let mut l = String::new();
        loop {
            l.clear();
            let n = self.stdout.read_line(&mut l).unwrap();
            assert!(n > 0, "helper ended before printing `{prefix}`");
            // libtest prints `test helper_process ... ` before the helper's first line.
            if let Some(i) = l.find(prefix) {
                return l[i + prefix.len()..].trim().to_owned();
            }
        }
    }

    pub fn send(&mut self, line: &str) {
        let s = self.stdin.as_mut().unwrap();
        writeln!(s, "{line}").unwrap();
        s.flush().unwrap();
    }
}

/// The `helper_process` test when it is not a helper: starts itself as the `ping` helper and
/// checks the protocol (a line out, a line in, a clean exit). Returns the role otherwise.
pub fn helper_role_or_self_test() -> Option<String> {
    match std::env::var("HUTCH_HELPER") {
        Ok(role) if role == "ping" => {
            println!("pong {}", std::process::id());
            let got = helper_wait_line();
            assert_eq!(got.as_deref(), Some("exit"));
            None
        }
        Ok(role) => Some(role),
        Err(_) => {
            let mut h = Helper::spawn("ping", |_| {});
            let pid: u32 = h.line("pong ").parse().unwrap();
            assert_eq!(pid, h.proc.child.id());
            h.send("exit");
            assert_eq!(h.proc.child.wait().unwrap().code(), Some(0));
            None
        }
    }
}

/// In the helper: waits until stdin has a line (or closes), returns it.
pub fn helper_wait_line() -> Option<String> {
    let mut l = String::new();
    match std::io::stdin().read_line(&mut l) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(l.trim().to_owned()),
    }
}

/// Polls `cond` every 10 ms up to `timeout` (for conditions the kernel offers no
/// notification for, like a process' CPU time).
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}
