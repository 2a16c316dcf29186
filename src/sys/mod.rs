//! Raw system calls of the spawn engine, and the code that runs in the child.
//!
//! # Safety
//!
//! This is the only module of the facade that opts back into `unsafe`. Two kinds of code live
//! here:
//!
//! * thin wrappers over system calls that the `libc` crate exposes only as raw functions
//!   (`clone3`, `pidfd_send_signal`, `waitid(P_PIDFD)`, `poll`); each checks its return value and
//!   turns `-1` into an [`io::Error`] carrying `errno`;
//! * [`child_main`], which runs in the child between `clone3` and `execve`. The child either
//!   shares the caller's memory while the calling thread is suspended (`CLONE_VM |
//!   CLONE_VFORK`, on a stack of its own, like posix_spawn), or is a copy of one thread of a
//!   possibly multithreaded parent. Either way any lock (the allocator's, stdio's, the
//!   environment's) may be held by another thread, and with shared memory any write would be
//!   seen by the caller. So the child only reads the [`Prepared`] plan that the parent built
//!   before the clone and makes raw system calls: it does not allocate, lock, format or panic,
//!   and writes nothing but its own stack, errno and the progress page ([`Progress`], a
//!   `MAP_SHARED` page of its own). A failure is reported as a fixed-size record
//!   `(tag, step, index, errno)` over a `CLOEXEC` pipe, and the child ends with `_exit`;
//! * [`init`]: the container's init, a separate tiny program exec'd from a sealed memfd.
//!
//! The shared-memory mode relies on libc being bound eagerly (`-z now`, rustc's default on
//! Linux): a lazily bound libc function would run the dynamic linker's resolver in the child.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int};
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

mod child;
pub(crate) mod init;

pub(crate) use child::{
    ChildStdio, CredPlan, ExecPlan, FdPlan, InitPlan, Join, Prepared, Progress, UserNsPlan, step,
};
use child::{child_main, sigmask_all, sigmask_set};

/// `CLONE_INTO_CGROUP` (Linux 5.7), as the 64-bit flag it is (libc's constant is an `int`).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// What a record on the report pipe means.
pub(crate) const TAG_ERROR: u32 = 1;
/// A mount step failed: `step` is the encoded `MountStep`, `index` the plan entry.
pub(crate) const TAG_MOUNT_ERROR: u32 = 2;
/// The child has created its time namespace and waits for the offsets.
pub(crate) const TAG_READY: u32 = 3;
/// The capability plan failed: `(step, index, errno)` is `CapsFailure::encode`.
pub(crate) const TAG_CAPS_ERROR: u32 = 5;
/// An LSM exec label failed: `step` is the label's index in the plan, `index` open/write.
pub(crate) const TAG_LSM_ERROR: u32 = 6;

/// A record on the report pipe, as plain integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    pub tag: u32,
    pub step: u32,
    pub index: u32,
    pub errno: i32,
}

impl Record {
    const SIZE: usize = 16;

    pub(crate) fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.tag.to_ne_bytes());
        b[4..8].copy_from_slice(&self.step.to_ne_bytes());
        b[8..12].copy_from_slice(&self.index.to_ne_bytes());
        b[12..16].copy_from_slice(&self.errno.to_ne_bytes());
        b
    }

    fn from_bytes(b: &[u8; Self::SIZE]) -> Record {
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        Record {
            tag: u32::from_ne_bytes(word(0)),
            step: u32::from_ne_bytes(word(4)),
            index: u32::from_ne_bytes(word(8)),
            errno: i32::from_ne_bytes(word(12)),
        }
    }
}

/// The `struct clone_args` of `clone3(2)` (ABI of Linux 5.7+, `CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
pub(crate) struct CloneArgs {
    pub(crate) flags: u64,
    pub(crate) pidfd: u64,
    pub(crate) child_tid: u64,
    pub(crate) parent_tid: u64,
    pub(crate) exit_signal: u64,
    pub(crate) stack: u64,
    pub(crate) stack_size: u64,
    pub(crate) tls: u64,
    pub(crate) set_tid: u64,
    pub(crate) set_tid_size: u64,
    pub(crate) cgroup: u64,
}

/// The result of `clone3` in the parent.
pub(crate) struct Cloned {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
    /// The child's stack when it shares our memory: must outlive the child's use of it, i.e.
    /// stay until the report pipe reached end of file (exec) or the child was reaped.
    pub stack: Option<ChildStack>,
}

/// How the child is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloneMode {
    /// A copy of the caller's memory, like fork(): always possible, but the kernel copies the
    /// page tables and the caller then takes copy-on-write faults — milliseconds for a caller
    /// with a large heap.
    Fork,
    /// The child shares the caller's memory (`CLONE_VM`) and runs on a stack of its own, and
    /// the calling thread is suspended until the child has exec'd or exited (`CLONE_VFORK`),
    /// like glibc's posix_spawn: since the parent thread does not run meanwhile, the child may
    /// use its thread-local state (errno). Only for children the parent has nothing to do for
    /// before their exec, that change no credentials (which would make the shared memory, and
    /// so the caller, non-dumpable), and that need no setns into a time namespace.
    SharedVm,
}

/// Whether [`CloneMode::SharedVm`] may be used: there is a trampoline for this architecture,
/// and the kernel is 5.16 or later (before, a child sharing the caller's memory that takes a
/// core-dumping signal killed the caller too).
pub(crate) fn shared_vm_supported() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    cfg!(target_arch = "x86_64") && *OK.get_or_init(|| kernel_at_least(5, 16))
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: uname fills a zeroed struct.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer.
    if unsafe { libc::uname(&mut u) } != 0 {
        return false;
    }
    // SAFETY: the kernel NUL-terminates `release`.
    let release = unsafe { CStr::from_ptr(u.release.as_ptr()) }.to_string_lossy();
    crate::preflight::parse::kernel_version(&release).is_some_and(|v| v >= (major, minor))
}

/// A stack for a child that shares our memory: an anonymous mapping with a guard page below.
pub(crate) struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; nothing else refers to it once the
// child is done with it.
unsafe impl Send for ChildStack {}

impl ChildStack {
    /// The child runs `child_main` (and the mount plan) on it: small frames, no recursion.
    const SIZE: usize = 512 << 10;

    fn new() -> io::Result<ChildStack> {
        let page = 4096;
        let len = Self::SIZE + page;
        // SAFETY: a fresh private anonymous mapping; checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = ChildStack { base, len };
        // The lowest page is the guard: an overflow faults instead of writing over other
        // memory of ours.
        // SAFETY: the first page of our own mapping.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping, which no child uses any more (see `Cloned`).
        unsafe {
            libc::munmap(self.base, self.len);
        }
    }
}

/// `clone3` whose child starts on a new stack and calls `child_entry(plan)`; returns the
/// raw result in the parent (pid, or `-errno`).
///
/// # Safety
///
/// `args` must be valid, with `stack`/`stack_size` describing a mapping that stays alive while
/// the child runs on it, and `plan` must stay valid just as long.
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_on_new_stack(args: *mut CloneArgs, plan: *const Prepared) -> isize {
    let ret: isize;
    // SAFETY: the caller's contract. In the child the kernel has set the stack pointer to the
    // top of the new stack (16-byte aligned, so after `call` the ABI's alignment holds);
    // r12/r13 survive the syscall; the child never returns here (child_entry is `-> !`, and
    // `ud2` traps if it did). In the parent only rax, rcx and r11 change.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 as isize => ret,
            in("rdi") args,
            in("rsi") size_of::<CloneArgs>(),
            in("r12") plan,
            in("r13") child_entry as unsafe extern "C" fn(*const Prepared) -> !,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn clone3_on_new_stack(_args: *mut CloneArgs, _plan: *const Prepared) -> isize {
    -(libc::ENOSYS as isize)
}

/// The child's entry point on its own stack.
///
/// # Safety
///
/// Only for the child of [`clone3_on_new_stack`]: `plan` points to a [`Prepared`] that the
/// parent keeps alive until this child has exec'd or been reaped, and every signal is blocked.
unsafe extern "C" fn child_entry(plan: *const Prepared) -> ! {
    // SAFETY: the function's contract.
    unsafe { child_main(&*plan) }
}

/// Creates the child with `clone3(CLONE_PIDFD | flags)` and runs [`child_main`] in it.
///
/// `flags` are namespace flags; the memory sharing comes from `mode`.
pub(crate) fn spawn_child(
    flags: u64,
    cgroup: Option<BorrowedFd<'_>>,
    plan: &Prepared,
    mode: CloneMode,
) -> io::Result<Cloned> {
    let stack = match mode {
        CloneMode::Fork => None,
        CloneMode::SharedVm => Some(ChildStack::new()?),
    };
    let mut pidfd: c_int = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut c_int as u64,
        // No exit signal: the kernel reaps a child whose exit signal is SIGCHLD behind our
        // back when the caller ignores SIGCHLD (its own parent may have set that, and it is
        // inherited through exec), and every wait would then fail with ECHILD. A child
        // without one is never reaped automatically; we wait for it with `__WALL`, and its
        // pidfd still becomes readable when it ends. Children made with CLONE_PARENT from it
        // (`Child::exec` into a pid namespace) inherit the same.
        exit_signal: 0,
        ..CloneArgs::default()
    };
    if let Some(cg) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cg.as_raw_fd() as u64;
    }
    if let (CloneMode::SharedVm, Some(s)) = (mode, &stack) {
        args.flags |= (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
        args.stack = s.base as u64;
        args.stack_size = s.len as u64;
    }
    // Block every signal in this thread around the clone, glibc's internal ones included, so
    // that no handler of the caller's runs in the child before `child_main` has reset them (as
    // glibc's posix_spawn does).
    let mut old: u64 = 0;
    if sigmask_all(true, Some(&mut old)) == -1 {
        return Err(io::Error::last_os_error());
    }
    let ret = match mode {
        // SAFETY: `args` is a valid `clone_args` of the size passed. Without CLONE_VM the
        // child gets a copy of the address space and continues here on a copy of this stack,
        // like fork(); it calls `child_main`, which never returns and only makes raw system
        // calls.
        CloneMode::Fork => unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &mut args as *mut CloneArgs,
                size_of::<CloneArgs>(),
            )
        },
        // SAFETY: the stack in `args` is `stack`, returned to the caller, who keeps it (and
        // `plan`) until the child no longer runs on it.
        CloneMode::SharedVm => match unsafe { clone3_on_new_stack(&mut args, plan) } {
            r if r < 0 => {
                // SAFETY: set errno for last_os_error below.
                unsafe { *libc::__errno_location() = -r as c_int };
                -1
            }
            r => r as libc::c_long,
        },
    };
    if ret != 0 {
        // Restores the mask saved above (in the parent only; the child keeps all signals
        // blocked until it has reset their handlers).
        let e = io::Error::last_os_error();
        sigmask_set(old);
        if ret == -1 {
            return Err(e);
        }
    }
    match ret {
        -1 => Err(io::Error::last_os_error()),
        // SAFETY: we are the fork-like child, with every signal blocked; `plan` is a copy of
        // the parent's, valid in our own address space.
        0 => unsafe { child_main(plan) },
        pid => Ok(Cloned {
            pid: pid as libc::pid_t,
            // SAFETY: with CLONE_PIDFD the kernel stored a new descriptor that we now own.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
            stack,
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Parent-side wrappers.

/// Reads one record from the report pipe; `Ok(None)` at end of file.
pub(crate) fn read_record(fd: BorrowedFd<'_>) -> io::Result<Option<Record>> {
    let mut buf = [0u8; Record::SIZE];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reading into the unfilled tail of a stack buffer.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                buf.len() - got,
            )
        };
        match n {
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            0 if got == 0 => return Ok(None),
            0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            n => got += n as usize,
        }
    }
    Ok(Some(Record::from_bytes(&buf)))
}

/// `pidfd_send_signal(2)`.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: c_int) -> io::Result<()> {
    // SAFETY: a plain system call with a null siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A close-on-exec duplicate of `fd` numbered `floor` or above.
pub(crate) fn dup_at_least(fd: BorrowedFd<'_>, floor: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor that is open for the borrow's lifetime.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, floor) };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: fcntl returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(r) })
    }
}

/// Returns `fd` when it is numbered `floor` or above, or else a close-on-exec duplicate that
/// is: the child's own duplications onto lower numbers must not clobber it.
pub(crate) fn at_least(fd: OwnedFd, floor: RawFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() >= floor {
        return Ok(fd);
    }
    dup_at_least(fd.as_fd(), floor)
}

/// The page where the child records its progress ([`Progress`]), shared with it and with any
/// process it forks; unmapped when dropped.
pub(crate) struct ProgressPage {
    page: std::ptr::NonNull<Progress>,
}

// SAFETY: the page is plain shared memory of atomics, owned by this value.
unsafe impl Send for ProgressPage {}

impl ProgressPage {
    pub(crate) fn new() -> io::Result<ProgressPage> {
        // SAFETY: a fresh shared anonymous mapping of one page, zero-filled by the kernel
        // (all-zero atomics are valid); checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(ProgressPage {
            page: std::ptr::NonNull::new(base.cast()).expect("mmap never returns null here"),
        })
    }

    pub(crate) fn as_ptr(&self) -> *const Progress {
        self.page.as_ptr()
    }

    /// The step slot `slot` last recorded (0 before the child started).
    pub(crate) fn step(&self, slot: usize) -> u32 {
        // SAFETY: the page lives as long as `self`; the slots are atomics.
        unsafe { (*self.page.as_ptr()).slots[slot].load(std::sync::atomic::Ordering::Relaxed) }
    }

    /// The pid the kernel stored for a process forked into a joined container, if any.
    pub(crate) fn joined(&self) -> Option<libc::pid_t> {
        // SAFETY: as in `step`.
        let pid = unsafe {
            (*self.page.as_ptr())
                .joined
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        (pid > 0).then_some(pid)
    }

    /// Lets the `joined` process go on ([`Progress::gate`]).
    pub(crate) fn open_gate(&self) {
        // SAFETY: as in `step`.
        let gate = unsafe { &(*self.page.as_ptr()).gate };
        gate.store(1, std::sync::atomic::Ordering::Release);
        // SAFETY: a shared futex wake on an aligned u32 of the shared page.
        unsafe { libc::syscall(libc::SYS_futex, gate.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
    }
}

impl Drop for ProgressPage {
    fn drop(&mut self) {
        // SAFETY: unmapping our own page; no child writes it any more (the owner keeps it until
        // the child has exec'd or ended).
        unsafe {
            libc::munmap(self.page.as_ptr().cast(), 4096);
        }
    }
}

/// Kills and reaps `pid`, which must be an unreaped child of ours (so it cannot have been
/// recycled); returns its raw wait status.
pub(crate) fn kill_and_reap_child(pid: libc::pid_t) -> c_int {
    // SAFETY: kill on our own unreaped child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    reap_child(pid)
}

/// Reaps `pid`, an unreaped child of ours that is ending by itself; returns its raw wait
/// status.
pub(crate) fn reap_child(pid: libc::pid_t) -> c_int {
    let mut status = 0;
    // SAFETY: waitpid on our own unreaped child, into a local.
    while unsafe { libc::waitpid(pid, &mut status, libc::__WALL) } == -1
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
    status
}

/// `CGROUP2_SUPER_MAGIC`, the `f_type` of a cgroup2 file system.
pub(crate) const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// The `f_type` of the file system `path` is on (`statfs`).
pub(crate) fn fs_magic(path: &std::path::Path) -> io::Result<i64> {
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut st = MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: statfs on a NUL-terminated path into a zeroed struct.
    if unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statfs succeeded and filled the struct.
    // `f_type` is an i64 on x86_64 but narrower on some architectures.
    #[allow(clippy::unnecessary_cast)]
    Ok(unsafe { st.assume_init() }.f_type as i64)
}

/// The soft `RLIMIT_NOFILE`: descriptor numbers must stay below it.
pub(crate) fn nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == -1 {
        return u64::MAX;
    }
    lim.rlim_cur
}

/// `pidfd_open(2)`.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: a plain system call; on success we own the returned descriptor.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: see above.
        Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
    }
}

/// `PIDFD_GET_INFO`'s `struct pidfd_info`, as first published (`PIDFD_INFO_SIZE_VER0`).
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
}

/// `PIDFD_INFO_EXIT` (Linux 6.15): the exit status, kept by the pidfd after the process is
/// reaped.
const PIDFD_INFO_EXIT: u64 = 1 << 3;

/// `PIDFD_GET_INFO`: `_IOWR(0xFF, 11, struct pidfd_info)`.
const PIDFD_GET_INFO: libc::c_ulong =
    (3 << 30) | ((size_of::<PidfdInfo>() as libc::c_ulong) << 16) | (0xFF << 8) | 11;

/// The raw wait status of a process that was reaped by someone else (the kernel, for a caller
/// that ignores `SIGCHLD`; another thread's `waitpid(-1)`), from its pidfd (`PIDFD_GET_INFO` with `PIDFD_INFO_EXIT`, Linux
/// 6.15). The kernel records it while it releases the process, a moment after a wait first
/// fails with `ECHILD`, so this looks again for up to 100 ms.
fn reaped_status(pidfd: BorrowedFd<'_>) -> io::Result<c_int> {
    let mut tries = 0;
    loop {
        let mut info = PidfdInfo {
            mask: PIDFD_INFO_EXIT,
            ..PidfdInfo::default()
        };
        // SAFETY: the ioctl fills a struct of the size encoded in its number.
        let r = unsafe {
            libc::ioctl(
                pidfd.as_raw_fd(),
                PIDFD_GET_INFO,
                &mut info as *mut PidfdInfo,
            )
        };
        if r == 0 && info.mask & PIDFD_INFO_EXIT != 0 {
            return Ok(info.exit_code);
        }
        let e = io::Error::last_os_error();
        // ENOTTY/EINVAL: a kernel before 6.15, which keeps no status.
        // ESRCH: 6.13 and 6.14 have PIDFD_GET_INFO but not PIDFD_INFO_EXIT.
        let unsupported = r == -1
            && matches!(
                e.raw_os_error(),
                Some(libc::ENOTTY | libc::EINVAL | libc::ESRCH)
            );
        if unsupported || tries == 100 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                crate::error::ExitStatusLost,
            ));
        }
        tries += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `waitid(P_PIDFD, ...)`. Returns the raw wait status (as `waitpid` would) once the process
/// has ended, or `None` with `nohang` while it still runs.
pub(crate) fn waitid_pidfd(pidfd: BorrowedFd<'_>, nohang: bool) -> io::Result<Option<c_int>> {
    // `__WALL`: our children have no exit signal (see `spawn_child`), which makes them
    // "clone" children that a plain WEXITED wait does not see.
    let mut flags = libc::WEXITED | libc::__WALL;
    if nohang {
        flags |= libc::WNOHANG;
    }
    loop {
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: `info` is a zeroed siginfo the kernel fills in.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                info.as_mut_ptr(),
                flags,
            )
        };
        if r == -1 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                // Not our child any more: the kernel reaped it itself, because the caller
                // ignores SIGCHLD (an exec gives every process SIGCHLD as its exit signal
                // again). The pidfd may still hold its status.
                Some(libc::ECHILD) => return reaped_status(pidfd).map(Some),
                _ => return Err(e),
            }
        }
        // SAFETY: waitid succeeded, so `info` is initialised (zeroed if nothing was waited for).
        let info = unsafe { info.assume_init() };
        // SAFETY: si_pid and si_status are valid for SIGCHLD siginfo; zero when WNOHANG found
        // nothing.
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        let raw = match info.si_code {
            libc::CLD_EXITED => (status & 0xff) << 8,
            libc::CLD_KILLED => status & 0x7f,
            libc::CLD_DUMPED => (status & 0x7f) | 0x80,
            _ => (status & 0xff) << 8,
        };
        return Ok(Some(raw));
    }
}

/// Waits until any of `fds` is readable or the timeout passes; returns whether one became
/// readable.
pub(crate) fn poll_any(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<bool> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|f| libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // A timeout too large to represent (`Duration::MAX`) waits without bound.
    let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
    loop {
        let ms: c_int = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                left.as_nanos().div_ceil(1_000_000).min(c_int::MAX as u128) as c_int
            }
        };
        // SAFETY: a valid array of pollfds of the given length.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        match r {
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            0 => {
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    return Ok(false);
                }
            }
            _ => return Ok(true),
        }
    }
}

/// Reads two pipes to their ends at the same time (for `output()`), without threads.
/// Returns `Ok(false)` when `deadline` passed first (the pipes still open stay in `fds`).
pub(crate) fn read2(
    fds: &mut [Option<OwnedFd>; 2],
    out_buf: &mut Vec<u8>,
    err_buf: &mut Vec<u8>,
    deadline: Option<std::time::Instant>,
) -> io::Result<bool> {
    loop {
        let mut pfds = [libc::pollfd {
            fd: -1,
            events: libc::POLLIN,
            revents: 0,
        }; 2];
        for (p, f) in pfds.iter_mut().zip(fds.iter()) {
            p.fd = f.as_ref().map_or(-1, |f| f.as_raw_fd());
        }
        if fds.iter().all(Option::is_none) {
            return Ok(true);
        }
        let ms: c_int = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                left.as_nanos().div_ceil(1_000_000).min(c_int::MAX as u128) as c_int
            }
        };
        // SAFETY: two pollfds; a negative fd is ignored by poll.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), 2, ms) };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for i in 0..2 {
            if pfds[i].revents == 0 {
                continue;
            }
            let buf = if i == 0 { &mut *out_buf } else { &mut *err_buf };
            let fd = fds[i].as_ref().expect("polled fd is open").as_raw_fd();
            buf.reserve(8192);
            let spare = buf.spare_capacity_mut();
            // SAFETY: reading into the vector's spare capacity, then extending its length by
            // exactly what was read.
            let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), spare.len()) };
            match n {
                -1 => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
                0 => fds[i] = None,
                // SAFETY: `read` initialised the first `n` bytes of the spare capacity.
                n => unsafe { buf.set_len(buf.len() + n as usize) },
            }
        }
    }
}

/// An `ifreq` naming `lo`, for bringing the loopback interface up in a new network namespace.
pub(crate) fn loopback_request() -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as c_char;
    }
    req
}

/// `struct open_how` of `openat2(2)` (Linux 5.6).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `RESOLVE_IN_ROOT`: resolve the path as if `dir` were `/` (links and `..` stay inside it).
pub(crate) const RESOLVE_IN_ROOT: u64 = 0x10;

/// `openat2(dir or AT_FDCWD, path, {flags | O_CLOEXEC (| O_NOCTTY unless O_PATH), resolve})`.
pub(crate) fn openat2(
    dir: Option<BorrowedFd<'_>>,
    path: &std::ffi::CStr,
    flags: c_int,
    resolve: u64,
) -> io::Result<OwnedFd> {
    // With O_PATH openat2 accepts only O_CLOEXEC, O_DIRECTORY and O_NOFOLLOW besides.
    let noctty = if flags & libc::O_PATH == 0 {
        libc::O_NOCTTY
    } else {
        0
    };
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC | noctty) as u64,
        mode: 0,
        resolve,
    };
    let dir = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: openat2 with a directory descriptor (or AT_FDCWD), a NUL-terminated path and an
    // open_how struct of the size passed; the result is checked.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &raw const how,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor the kernel just returned; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as c_int) })
}

/// The effective uid of the caller.
pub(crate) fn geteuid() -> libc::uid_t {
    // SAFETY: always succeeds.
    unsafe { libc::geteuid() }
}

/// Whether the caller is in the kernel's initial user namespace (its uid map is the whole
/// identity range), where root's capabilities reach the whole host: loading a cgroup device
/// program needs that. Read once.
pub(crate) fn in_initial_userns() -> bool {
    static INITIAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INITIAL.get_or_init(|| {
        std::fs::read_to_string("/proc/self/uid_map")
            .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
    })
}

/// The effective gid of the caller.
pub(crate) fn getegid() -> libc::gid_t {
    // SAFETY: always succeeds.
    unsafe { libc::getegid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        let r = Record {
            tag: TAG_MOUNT_ERROR,
            step: 7,
            index: 3,
            errno: libc::EPERM,
        };
        assert_eq!(Record::from_bytes(&r.to_bytes()), r);
    }
}
