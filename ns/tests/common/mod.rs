//! Test helpers: forked children that talk to the test over pipes, and cleanup checks.
//! Shared by hutch-ns and hutch-caps (whose tests include this file by path).
//!
//! A forked child of the (multithreaded) test process only makes raw system calls through
//! `libc` and the crate's child-safe functions, then `_exit`s; it reports what it saw as
//! `i64` values over a pipe.
#![allow(unsafe_code, dead_code)]

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The child's ends of the two pipes.
pub struct ChildSide {
    to_parent: RawFd,
    from_parent: RawFd,
}

impl ChildSide {
    /// Sends one value to the test.
    pub fn send(&self, value: i64) {
        let bytes = value.to_ne_bytes();
        // SAFETY: writing a stack buffer to an open pipe.
        unsafe { libc::write(self.to_parent, bytes.as_ptr().cast(), bytes.len()) };
    }

    /// Waits for the test to say "go"; returns the byte sent, or -1 on EOF.
    pub fn wait(&self) -> i64 {
        let mut b = [0u8; 1];
        // SAFETY: reading into a stack buffer from an open pipe.
        let n = unsafe { libc::read(self.from_parent, b.as_mut_ptr().cast(), 1) };
        if n == 1 { i64::from(b[0]) } else { -1 }
    }
}

/// The current errno.
pub fn errno() -> i64 {
    // SAFETY: __errno_location is always valid for the calling thread.
    i64::from(unsafe { *libc::__errno_location() })
}

/// A forked child, killed and reaped on drop.
pub struct Forked {
    pub pid: i32,
    from_child: OwnedFd,
    to_child: Option<OwnedFd>,
    reaped: bool,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out-array of two ints.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2");
    // SAFETY: both fds were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Forks; the child runs `body` and `_exit`s with its return value (101 on panic).
pub fn fork(body: impl FnOnce(&ChildSide) -> i32) -> Forked {
    fork_with_stdout(None, body)
}

/// Like [`fork`], with the child's standard output on the write end `stdout` (a pipe the
/// test reads).
pub fn fork_with_stdout(stdout: Option<RawFd>, body: impl FnOnce(&ChildSide) -> i32) -> Forked {
    let (from_child, child_tx) = pipe();
    let (child_rx, to_child) = pipe();
    // SAFETY: the child only runs `body` (raw syscalls) and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        if let Some(fd) = stdout {
            // SAFETY: duplicating an open fd onto stdout.
            unsafe { libc::dup2(fd, 1) };
        }
        // Drop every fd but stdio and our two pipe ends, so that pipe ends of the parent
        // (and of children forked concurrently by other tests) do not keep EOF from coming.
        let (a, b) = {
            let (x, y) = (child_tx.as_raw_fd() as u32, child_rx.as_raw_fd() as u32);
            (x.min(y), x.max(y))
        };
        // SAFETY: close_range on fd numbers; our two ends are kept.
        unsafe {
            libc::syscall(libc::SYS_close_range, 3u32, a - 1, 0u32);
            libc::syscall(libc::SYS_close_range, a + 1, b - 1, 0u32);
            libc::syscall(libc::SYS_close_range, b + 1, u32::MAX, 0u32);
        }
        let side = ChildSide {
            to_parent: child_tx.as_raw_fd(),
            from_parent: child_rx.as_raw_fd(),
        };
        let code =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&side))).unwrap_or(101);
        // SAFETY: ends the child without running the parent's destructors or atexit.
        unsafe { libc::_exit(code) };
    }
    drop(child_tx);
    drop(child_rx);
    Forked {
        pid,
        from_child,
        to_child: Some(to_child),
        reaped: false,
    }
}

impl Forked {
    /// The pid as `u32`.
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Reads one value from the child; panics on EOF.
    pub fn recv(&self) -> i64 {
        self.try_recv().expect("child closed its pipe early")
    }

    /// Reads one value, or `None` on EOF.
    pub fn try_recv(&self) -> Option<i64> {
        let mut buf = [0u8; 8];
        let mut got = 0;
        while got < 8 {
            // SAFETY: reading into the rest of a stack buffer.
            let n = unsafe {
                libc::read(
                    self.from_child.as_raw_fd(),
                    buf[got..].as_mut_ptr().cast(),
                    8 - got,
                )
            };
            if n <= 0 {
                return None;
            }
            got += n as usize;
        }
        Some(i64::from_ne_bytes(buf))
    }

    /// Sends a "go" byte.
    pub fn go(&self, b: u8) {
        let fd = self.to_child.as_ref().expect("pipe open").as_raw_fd();
        // SAFETY: writing one byte from the stack to an open pipe.
        let n = unsafe { libc::write(fd, [b].as_ptr().cast(), 1) };
        assert_eq!(n, 1);
    }

    /// Waits for the child and returns its exit code (panics if killed by a signal).
    pub fn wait(&mut self) -> i32 {
        self.to_child = None;
        let mut status = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert_eq!(r, self.pid, "waitpid");
        self.reaped = true;
        assert!(
            libc::WIFEXITED(status),
            "child {} died: status {status:#x}",
            self.pid
        );
        libc::WEXITSTATUS(status)
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: signalling and reaping our own unreaped child, by pid.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                let mut status = 0;
                libc::waitpid(self.pid, &mut status, 0);
            }
        }
    }
}

/// A unique scratch directory under `/tmp`, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = PathBuf::from(format!(
            "/tmp/{}-test-{}-{tag}-{n}",
            env!("CARGO_PKG_NAME"),
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Mount points (field 5) of the calling process's mount namespace.
pub fn mount_points() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.split(' ').nth(4).unwrap().to_owned())
        .collect()
}

/// Mount points at or under `prefix`.
pub fn mounts_under(prefix: &Path) -> Vec<String> {
    let prefix = prefix.to_str().unwrap();
    mount_points()
        .into_iter()
        .filter(|m| m == prefix || m.starts_with(&format!("{prefix}/")))
        .collect()
}

/// Makes a `CString` from a path (test side).
pub fn c(path: impl AsRef<Path>) -> std::ffi::CString {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_ref().as_os_str().as_bytes()).unwrap()
}

/// `stat` in the child: `(st_dev, st_ino, st_mode, st_rdev)` or `Err(errno)`.
pub fn stat(path: &std::ffi::CStr) -> Result<libc::stat, i64> {
    // SAFETY: an all-zero stat is valid; path is a C string, st an out-pointer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(path.as_ptr(), &mut st) == 0 {
            Ok(st)
        } else {
            Err(errno())
        }
    }
}

/// `statfs(path).f_type`, or `-errno`.
pub fn fs_type(path: &std::ffi::CStr) -> i64 {
    // SAFETY: as for stat.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(path.as_ptr(), &mut st) == 0 {
            st.f_type as i64
        } else {
            -errno()
        }
    }
}

/// `unshare(flags)`: 0 or errno.
/// In a forked child: unshares `flags` and reports the result to the parent; returns whether
/// the child may go on. A mount plan must never be applied to the test runner's own
/// namespaces, so a child that could not unshare stops there.
pub fn unshare_and_report(side: &ChildSide, flags: i32) -> bool {
    let r = unshare(flags);
    side.send(r);
    r == 0
}

pub fn unshare(flags: i32) -> i64 {
    // SAFETY: in a forked single-threaded child.
    if unsafe { libc::unshare(flags) } == 0 {
        0
    } else {
        errno()
    }
}

/// Opens `path` with `flags` and closes it again: 0 or errno.
pub fn try_open(path: &std::ffi::CStr, flags: i32) -> i64 {
    // SAFETY: path is a C string; the fd is closed at once.
    unsafe {
        let fd = libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, 0o644);
        if fd < 0 {
            errno()
        } else {
            libc::close(fd);
            0
        }
    }
}

/// 1 if the mount holding `path` is read-only (`statvfs` `ST_RDONLY`), 0 if not, or `-errno`.
pub fn rdonly(path: &std::ffi::CStr) -> i64 {
    // SAFETY: an all-zero statvfs is valid; path is a C string, st an out-pointer.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut st) == 0 {
            i64::from(st.f_flag & libc::ST_RDONLY != 0)
        } else {
            -errno()
        }
    }
}

/// Reads up to `buf.len()` bytes of `path` in the child: the count, or `-errno`.
pub fn read_into(path: &std::ffi::CStr, buf: &mut [u8]) -> i64 {
    // SAFETY: path is a C string; reading into a caller's buffer; the fd is closed at once.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return -errno();
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        let r = if n < 0 { -errno() } else { n as i64 };
        libc::close(fd);
        r
    }
}

/// `mkdir(path, 0755)` in the child: 0 or errno (the directory is removed again).
pub fn try_mkdir(path: &std::ffi::CStr) -> i64 {
    // SAFETY: path is a C string.
    unsafe {
        if libc::mkdir(path.as_ptr(), 0o755) == 0 {
            libc::rmdir(path.as_ptr());
            0
        } else {
            errno()
        }
    }
}
