//! Test helpers: forked children that report `i64` values over a pipe.
//!
//! A forked child of the (multithreaded) test process makes raw system calls only and
//! ends with `_exit`; it must not allocate or panic.
#![allow(unsafe_code, dead_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub mod scmp;

/// The child's end of the report pipe, and the socket end for fd passing.
pub struct ChildSide {
    pub to_parent: RawFd,
    pub sock: RawFd,
}

impl ChildSide {
    /// The socket end, borrowed.
    pub fn sock(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the socket stays open for the whole life of the forked child.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.sock) }
    }

    /// Sends one value to the test.
    pub fn send(&self, value: i64) {
        let bytes = value.to_ne_bytes();
        // SAFETY: writing a stack buffer to an open pipe.
        unsafe { libc::write(self.to_parent, bytes.as_ptr().cast(), bytes.len()) };
    }
}

/// The current errno.
pub fn errno() -> i64 {
    // SAFETY: __errno_location is always valid for the calling thread.
    i64::from(unsafe { *libc::__errno_location() })
}

/// A raw system call returning `-errno` on failure.
pub fn raw(nr: i64, args: [u64; 6]) -> i64 {
    // SAFETY: the callers pass calls whose pointer arguments are null or valid.
    let r = unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]) };
    if r < 0 { -errno() } else { r }
}

/// A forked child, killed and reaped on drop.
pub struct Forked {
    pub pid: i32,
    from_child: OwnedFd,
    pub sock: OwnedFd,
    reaped: bool,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out-array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds are new and ours.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn socketpair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out-array of two ints.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0);
    // SAFETY: both fds are new and ours.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Forks; the child runs `body` and `_exit`s with its return value.
pub fn fork(body: impl FnOnce(&ChildSide) -> i32) -> Forked {
    let (from_child, child_tx) = pipe();
    let (parent_sock, child_sock) = socketpair();
    // SAFETY: the child only runs `body` (raw syscalls) and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // Keep only stdio and our two ends, so that fds of the parent (and of children
        // forked concurrently by other tests) do not keep EOF from coming.
        let (x, y) = (child_tx.as_raw_fd() as u32, child_sock.as_raw_fd() as u32);
        let (a, b) = (x.min(y), x.max(y));
        // SAFETY: close_range on fd numbers; our two ends are kept.
        unsafe {
            libc::syscall(libc::SYS_close_range, 3u32, a - 1, 0u32);
            libc::syscall(libc::SYS_close_range, a + 1, b - 1, 0u32);
            libc::syscall(libc::SYS_close_range, b + 1, u32::MAX, 0u32);
        }
        let side = ChildSide {
            to_parent: child_tx.as_raw_fd(),
            sock: child_sock.as_raw_fd(),
        };
        let code = body(&side);
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    drop(child_tx);
    drop(child_sock);
    Forked {
        pid,
        from_child,
        sock: parent_sock,
        reaped: false,
    }
}

impl Forked {
    /// Reads one value from the child; panics on EOF.
    pub fn recv(&mut self) -> i64 {
        self.try_recv().expect("child closed the pipe")
    }

    /// Reads one value from the child; `None` on EOF.
    pub fn try_recv(&mut self) -> Option<i64> {
        let mut b = [0u8; 8];
        let mut got = 0;
        while got < 8 {
            // SAFETY: reading into the rest of a stack buffer.
            let n = unsafe {
                libc::read(
                    self.from_child.as_raw_fd(),
                    b[got..].as_mut_ptr().cast(),
                    8 - got,
                )
            };
            if n <= 0 {
                return None;
            }
            got += n as usize;
        }
        Some(i64::from_ne_bytes(b))
    }

    /// Waits for the child; returns the raw wait status.
    pub fn wait_status(&mut self) -> i32 {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert_eq!(r, self.pid);
        self.reaped = true;
        status
    }

    /// Waits; returns the exit code, or 128 + signal.
    pub fn wait(&mut self) -> i32 {
        let s = self.wait_status();
        if libc::WIFEXITED(s) {
            libc::WEXITSTATUS(s)
        } else {
            128 + libc::WTERMSIG(s)
        }
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: signalling and reaping our own unreaped child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// Open fds of this process (to check that tests leave none behind).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The running kernel's (major, minor).
pub fn kernel() -> (u32, u32) {
    let s = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut it = s
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}
