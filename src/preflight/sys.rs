//! The system calls of the preflight checks: probes that tell "the kernel has it" from "it
//! does not" without creating anything.
//!
//! # Safety
//!
//! The second module of the facade that opts back into `unsafe` (besides the spawn engine's
//! `sys`); it is kept apart so the preflight code does not depend on the spawn engine's
//! internals. Three kinds of code live here:
//!
//! * probes: a system call made with arguments the kernel rejects *after* it has recognised
//!   the call (a null pointer with size 0, an invalid flag combination, a closed descriptor),
//!   so `ENOSYS` means "not in this kernel" (or filtered by seccomp) and `EINVAL`/`EBADF`
//!   means "present". None of them is given a pointer the kernel could write through;
//! * [`probe_user_namespace`]: `fork` and, in the child, only raw system calls (`setgroups`,
//!   `setresgid`, `setresuid`, `unshare`) and `_exit`: no allocation, no locks, so it is safe
//!   from a multithreaded process;
//! * small wrappers (`faccessat`, `getxattr`, `geteuid`) that take a `CStr` built by the
//!   caller and check the return value.

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;

/// The outcome of a probe: what the system call returned, or its `errno`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// It succeeded with this value.
    Ret(i64),
    /// It failed with this `errno`.
    Errno(i32),
}

impl Probe {
    fn from_ret(ret: libc::c_long) -> Probe {
        if ret < 0 {
            Probe::Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            // `c_long` is 32 bits wide on 32-bit targets.
            #[allow(clippy::unnecessary_cast)]
            Probe::Ret(ret as i64)
        }
    }

    /// Whether the kernel knows the system call (anything but `ENOSYS`).
    pub(crate) fn present(self) -> bool {
        self != Probe::Errno(libc::ENOSYS)
    }
}

/// `CLONE_INTO_CGROUP` (Linux 5.7), a 64-bit flag.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` up to `cgroup` (`CLONE_ARGS_SIZE_VER2`, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `clone3(NULL, 0)`: `EINVAL` (size below the first version) when the kernel has `clone3`.
#[doc(alias = "clone3")]
pub(crate) fn probe_clone3() -> Probe {
    // SAFETY: a null pointer with size 0; the kernel checks the size before reading.
    Probe::from_ret(unsafe {
        libc::syscall(libc::SYS_clone3, std::ptr::null::<CloneArgs>(), 0usize)
    })
}

/// `clone3` with `CLONE_INTO_CGROUP` and a descriptor number that cannot be open
/// (`INT_MAX`): `EBADF` when the kernel knows the flag (Linux 5.7), `EINVAL` when it
/// rejects it as unknown. No process is created: the descriptor is looked up before the new
/// task becomes visible.
pub(crate) fn probe_clone_into_cgroup() -> Probe {
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        cgroup: i32::MAX as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid, fully initialised `clone_args` of the size passed. The call
    // is expected to fail; should it ever succeed, the child makes one raw system call
    // (`exit_group`) and the parent reaps it, so no code runs in a copy of this process.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret == 0 {
        // SAFETY: ends the child at once (see above).
        unsafe { libc::syscall(libc::SYS_exit_group, 0) };
    }
    let probe = Probe::from_ret(ret);
    if let Probe::Ret(pid) = probe {
        reap(pid as libc::pid_t);
    }
    probe
}

/// `pidfd_open(0, 0)`: `EINVAL` (pid 0 is invalid) when present (Linux 5.3).
#[doc(alias = "pidfd_open")]
pub(crate) fn probe_pidfd_open() -> Probe {
    // SAFETY: integer arguments only.
    Probe::from_ret(unsafe { libc::syscall(libc::SYS_pidfd_open, 0, 0) })
}

/// `pidfd_send_signal(-1, 0, NULL, 0)`: `EBADF` when present (Linux 5.1).
#[doc(alias = "pidfd_send_signal")]
pub(crate) fn probe_pidfd_send_signal() -> Probe {
    // SAFETY: a null `siginfo` is allowed; the descriptor -1 is rejected first.
    Probe::from_ret(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            -1,
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
}

/// `mount_setattr(-1, NULL, ~0, NULL, 0)`: `EINVAL` (unknown flags) when present (5.12).
#[doc(alias = "mount_setattr")]
pub(crate) fn probe_mount_setattr() -> Probe {
    // SAFETY: null pointers with size 0; the flags are checked before anything is read.
    Probe::from_ret(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            std::ptr::null::<libc::c_char>(),
            u32::MAX,
            std::ptr::null::<u8>(),
            0usize,
        )
    })
}

/// `open_tree(-1, NULL, AT_RECURSIVE)`: `EINVAL` (recursive without a clone) when present
/// (Linux 5.2).
#[doc(alias = "open_tree")]
pub(crate) fn probe_open_tree() -> Probe {
    // SAFETY: the flag combination is rejected before the null path is read.
    Probe::from_ret(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            -1,
            std::ptr::null::<libc::c_char>(),
            libc::AT_RECURSIVE as libc::c_uint,
        )
    })
}

/// `close_range(1, 0, 0)`: `EINVAL` (first above last) when present (Linux 5.9).
#[doc(alias = "close_range")]
pub(crate) fn probe_close_range() -> Probe {
    // SAFETY: integer arguments only; the range is invalid, nothing is closed.
    Probe::from_ret(unsafe { libc::syscall(libc::SYS_close_range, 1u32, 0u32, 0u32) })
}

/// `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`: the ABI version, or
/// `EOPNOTSUPP` (built in but not enabled), or `ENOSYS`.
#[doc(alias = "landlock_create_ruleset")]
pub(crate) fn landlock_abi() -> Probe {
    const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
    // SAFETY: with the VERSION flag the kernel requires a null attribute and size 0, and
    // creates nothing.
    Probe::from_ret(unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    })
}

/// `seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action)`: 0 when the action is supported,
/// `EOPNOTSUPP` when not.
#[doc(alias = "seccomp")]
pub(crate) fn seccomp_action_available(action: u32) -> Probe {
    const SECCOMP_GET_ACTION_AVAIL: u32 = 2;
    // SAFETY: the kernel reads 4 bytes from `&action`, a live u32.
    Probe::from_ret(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0u32,
            &action as *const u32,
        )
    })
}

/// `socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER)`, closed at once: whether nfnetlink (the
/// transport of nf_tables) is there.
pub(crate) fn probe_netlink_netfilter() -> Probe {
    // SAFETY: integer arguments; the descriptor is closed below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_NETFILTER,
        )
    };
    let p = Probe::from_ret(fd as libc::c_long);
    if fd >= 0 {
        // SAFETY: `fd` was just opened here and is not used again.
        unsafe { libc::close(fd) };
    }
    p
}

/// Whether the caller may write `path` (`faccessat(..., W_OK, AT_EACCESS)`): `Ok` or the
/// `errno` (`EACCES`, `EROFS`, `ENOENT`...).
pub(crate) fn writable(path: &CStr) -> Result<(), i32> {
    // SAFETY: `path` is a valid C string for the duration of the call.
    let r = unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::W_OK, libc::AT_EACCESS) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// The size of the extended attribute `name` of `path`, or the `errno` (`ENODATA` when
/// absent).
pub(crate) fn xattr_len(path: &CStr, name: &CStr) -> Result<usize, i32> {
    // SAFETY: valid C strings; a null buffer with size 0 only asks for the length.
    let r = unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
    if r < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r as usize)
    }
}

/// The caller's effective user id.
pub(crate) fn geteuid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

fn reap(pid: libc::pid_t) {
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` is a live int.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// Exit status of the probe child when dropping privileges failed (no errno is that big).
const SETUP_FAILED: i32 = 250;

/// Whether a process with the caller's credentials (or, with `as_user`, with that uid and
/// gid and no supplementary groups — needs root) can create a user namespace: forks a child
/// that calls `unshare(CLONE_NEWUSER)` and exits.
#[doc(alias = "unshare")]
pub(crate) fn probe_user_namespace(as_user: Option<(u32, u32)>) -> UsernsProbe {
    // SAFETY: the child makes only raw system calls (no allocation, no locks, no unwinding)
    // and ends with `_exit`, so forking from a multithreaded process is sound.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return UsernsProbe::Failed("fork", errno());
    }
    if pid == 0 {
        // SAFETY: raw system calls in the forked child, see above.
        unsafe {
            if let Some((uid, gid)) = as_user
                && (libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0
                    || libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0
                    || libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0)
            {
                libc::_exit(SETUP_FAILED);
            }
            if libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER) == 0 {
                libc::_exit(0);
            }
            let errno = *libc::__errno_location();
            libc::_exit(errno.clamp(1, SETUP_FAILED - 1));
        }
    }
    let mut status = 0;
    loop {
        // SAFETY: waits for the child forked above; `status` is a live int.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r >= 0 {
            break;
        }
        let e = errno();
        if e != libc::EINTR {
            return UsernsProbe::Failed("waitpid", e);
        }
    }
    if !libc::WIFEXITED(status) {
        return UsernsProbe::Failed("the probe child was killed", 0);
    }
    match libc::WEXITSTATUS(status) {
        0 => UsernsProbe::Created,
        SETUP_FAILED => UsernsProbe::Failed("dropping privileges in the probe child", 0),
        e => UsernsProbe::Denied(e),
    }
}

/// The outcome of [`probe_user_namespace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UsernsProbe {
    /// `unshare(CLONE_NEWUSER)` succeeded.
    Created,
    /// It failed with this `errno`.
    Denied(i32),
    /// The probe itself failed: what, and the `errno` (0 when there is none).
    Failed(&'static str, i32),
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_see_a_modern_kernel() {
        // The development and CI kernels are far newer than any of these calls.
        assert_eq!(probe_clone3(), Probe::Errno(libc::EINVAL));
        assert_eq!(probe_clone_into_cgroup(), Probe::Errno(libc::EBADF));
        assert_eq!(probe_pidfd_open(), Probe::Errno(libc::EINVAL));
        assert_eq!(probe_pidfd_send_signal(), Probe::Errno(libc::EBADF));
        assert_eq!(probe_mount_setattr(), Probe::Errno(libc::EINVAL));
        assert_eq!(probe_open_tree(), Probe::Errno(libc::EINVAL));
        assert_eq!(probe_close_range(), Probe::Errno(libc::EINVAL));
        assert!(matches!(probe_netlink_netfilter(), Probe::Ret(_)));
        assert_eq!(
            seccomp_action_available(0x7fff_0000), // SECCOMP_RET_ALLOW
            Probe::Ret(0)
        );
        assert_eq!(
            seccomp_action_available(0x1234_5678),
            Probe::Errno(libc::EOPNOTSUPP)
        );
    }

    #[test]
    fn present_is_anything_but_enosys() {
        assert!(Probe::Errno(libc::EINVAL).present());
        assert!(Probe::Ret(3).present());
        assert!(!Probe::Errno(libc::ENOSYS).present());
    }
}
