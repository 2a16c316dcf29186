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
//!   and writes nothing but its own stack and errno. A failure is reported as a fixed-size
//!   record `(tag, step, index, errno)` over a `CLOEXEC` pipe, and the child ends with `_exit`.
//!
//! The shared-memory mode relies on libc being bound eagerly (`-z now`, rustc's default on
//! Linux): a lazily bound libc function would run the dynamic linker's resolver in the child.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int};
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use hutch_ns::mount::PreparedMounts;

/// `CLONE_INTO_CGROUP` (Linux 5.7), as the 64-bit flag it is (libc's constant is an `int`).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// What a record on the report pipe means.
pub(crate) const TAG_ERROR: u32 = 1;
/// A mount step failed: `step` is the encoded `MountStep`, `index` the plan entry.
pub(crate) const TAG_MOUNT_ERROR: u32 = 2;
/// The child has created its time namespace and waits for the offsets.
pub(crate) const TAG_READY: u32 = 3;
/// The joining child forked the process that will exec: `index` is its pid.
pub(crate) const TAG_PID: u32 = 4;

/// Steps of the child, as sent over the report pipe. The public names live in
/// [`crate::Step`]; the numbers are private to one build of the library.
pub(crate) mod step {
    pub const DEATH_SIGNAL: u32 = 1;
    pub const SYNC: u32 = 2;
    pub const TIME_NAMESPACE: u32 = 3;
    pub const ENTER_TIME_NAMESPACE: u32 = 4;
    pub const HOSTNAME: u32 = 5;
    pub const LOOPBACK: u32 = 6;
    pub const CHDIR: u32 = 7;
    pub const STDIO: u32 = 8;
    pub const SIGNALS: u32 = 9;
    pub const INIT_FORK: u32 = 10;
    pub const EXEC: u32 = 11;
    pub const JOIN: u32 = 12;
    pub const JOIN_FORK: u32 = 13;
    pub const SETGROUPS: u32 = 14;
    pub const SETGID: u32 = 15;
    pub const SETUID: u32 = 16;
    pub const CLOSE_FDS: u32 = 17;
    pub const DOMAINNAME: u32 = 18;
    pub const ID_MAP: u32 = 19;
}

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

    fn to_bytes(self) -> [u8; Self::SIZE] {
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

/// Where one of the child's standard streams comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ChildStdio {
    /// Keep the parent's descriptor.
    Inherit,
    /// Duplicate this descriptor onto the stream.
    Fd(RawFd),
}

/// Joining the namespaces of a running container (the `docker exec` path).
#[derive(Debug)]
pub(crate) struct Join {
    /// A pidfd of a process inside the container.
    pub pidfd: RawFd,
    /// The `CLONE_NEW*` flags of the namespaces that differ from the caller's.
    pub nstypes: c_int,
    /// `CLONE_INTO_CGROUP` target for the process that execs, if any.
    pub cgroup_fd: Option<RawFd>,
}

/// Everything the child needs, built by the parent before `clone3`.
///
/// Holds raw pointers into the owned `CString`s of the same struct, so it is neither `Send` nor
/// `Sync` and must not be moved apart from them (the vectors' heap buffers do not move when the
/// struct does).
pub(crate) struct Prepared {
    pub report_fd: RawFd,
    pub sync_fd: Option<RawFd>,
    /// The parent's ends of the report and sync channels: closed first thing in the child, so
    /// that it sees end-of-file on the sync channel if the parent goes away.
    pub parent_ends: [RawFd; 2],
    /// Set `PR_SET_PDEATHSIG`; the pidfd is the parent process's, checked right after, to
    /// close the race of a parent that died before the prctl.
    pub death_signal: Option<RawFd>,
    pub time_namespace: bool,
    pub time_for_children: &'static CStr,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    pub loopback: Option<libc::ifreq>,
    pub mounts: Option<PreparedMounts>,
    pub cwd: Option<CString>,
    pub stdio: [ChildStdio; 3],
    pub gid: Option<libc::gid_t>,
    pub uid: Option<libc::uid_t>,
    pub clear_groups: bool,
    pub init: bool,
    /// The child writes its own user-namespace maps: `(file, contents)` for `setgroups`,
    /// `uid_map`, `gid_map`, in that order.
    pub self_maps: Option<[(&'static CStr, CString); 3]>,
    pub join: Option<Join>,
    /// Candidate paths for the program, tried in order (a `PATH` search prepared in advance).
    pub programs: Vec<CString>,
    pub argv: Vec<*const c_char>,
    pub envp: Vec<*const c_char>,
    /// Keeps the strings that `argv` and `envp` point into alive.
    pub _strings: Vec<CString>,
}

/// The `struct clone_args` of `clone3(2)` (ABI of Linux 5.7+, `CLONE_ARGS_SIZE_VER2`).
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
    parse_release(&release).is_some_and(|v| v >= (major, minor))
}

/// `major.minor` from a kernel release such as `6.18.44-fc-v657`.
fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
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
            in("r13") child_entry as extern "C" fn(*const Prepared) -> !,
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
extern "C" fn child_entry(plan: *const Prepared) -> ! {
    // SAFETY: the parent keeps `plan` alive until this child has exec'd or been reaped.
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
        exit_signal: libc::SIGCHLD as u64,
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
    // Block every signal in this thread around the clone, so that no handler of the caller's
    // runs in the child before `child_main` has reset them (as posix_spawn does).
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises `all`; pthread_sigmask fills `old`.
    unsafe {
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr());
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
        // SAFETY: restores the mask saved above (in the parent only; the child keeps all
        // signals blocked until it has reset their handlers).
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut()) };
    }
    match ret {
        -1 => Err(io::Error::last_os_error()),
        // SAFETY: we are the child; see above.
        0 => unsafe { child_main(plan) },
        pid => Ok(Cloned {
            pid: pid as libc::pid_t,
            // SAFETY: with CLONE_PIDFD the kernel stored a new descriptor that we now own.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
            stack,
        }),
    }
}

/// Sends one record; used by the child, so it only calls `write(2)`.
fn send(fd: RawFd, rec: Record) {
    let bytes = rec.to_bytes();
    // SAFETY: writing a stack buffer of the given length. A pipe write of 16 bytes is atomic
    // (less than PIPE_BUF), so records from several writers never interleave.
    unsafe {
        libc::write(fd, bytes.as_ptr().cast(), bytes.len());
    }
}

fn errno() -> i32 {
    // SAFETY: `__errno_location` returns this thread's errno slot; reading it is always valid.
    unsafe { *libc::__errno_location() }
}

/// Reports `step` failing with the current errno and ends the child.
fn fail(p: &Prepared, step: u32, index: u32) -> ! {
    let e = errno();
    send(
        p.report_fd,
        Record {
            tag: TAG_ERROR,
            step,
            index,
            errno: e,
        },
    );
    exit(127)
}

fn exit(code: c_int) -> ! {
    // SAFETY: `_exit` ends the process without running atexit handlers or flushing stdio,
    // which is what a forked child of a multithreaded process must do.
    unsafe { libc::_exit(code) }
}

/// The child's side of the spawn. Never returns.
///
/// # Safety
///
/// Must only be called in the child of `clone3` (fork-like, or sharing memory with the calling
/// thread suspended), with `p` prepared by the parent and kept alive until the child has
/// exec'd or been reaped.
pub(crate) unsafe fn child_main(p: &Prepared) -> ! {
    // SAFETY (whole function): every call below is a system call or an async-signal-safe libc
    // wrapper on memory that `p` owns or on the stack; nothing allocates or takes a lock.
    unsafe {
        for fd in p.parent_ends {
            if fd >= 0 {
                libc::close(fd);
            }
        }
        // The parent blocked every signal around clone3, so no handler of the caller's can run
        // here; put handled signals back to their default before anything is unblocked.
        reset_signal_handlers();
        set_death_signal(p);

        if let Some(join) = &p.join {
            join_container(p, join);
        }

        if p.time_namespace {
            if libc::unshare(libc::CLONE_NEWTIME) == -1 {
                fail(p, step::TIME_NAMESPACE, 0);
            }
            send(
                p.report_fd,
                Record {
                    tag: TAG_READY,
                    step: 0,
                    index: 0,
                    errno: 0,
                },
            );
        }
        if let Some(files) = &p.self_maps {
            write_own_maps(p, files);
        }
        if let Some(fd) = p.sync_fd {
            // The parent writes one byte once it has written our id maps and time offsets; end
            // of file means it gave up on us.
            let mut byte = 0u8;
            loop {
                let n = libc::read(fd, (&mut byte as *mut u8).cast(), 1);
                if n == 1 {
                    break;
                }
                if n == -1 && errno() == libc::EINTR {
                    continue;
                }
                if n == 0 {
                    *libc::__errno_location() = libc::EPIPE;
                }
                fail(p, step::SYNC, 0);
            }
            libc::close(fd);
        }
        if p.time_namespace {
            let fd = libc::open(
                p.time_for_children.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            if fd == -1 || libc::setns(fd, libc::CLONE_NEWTIME) == -1 {
                fail(p, step::ENTER_TIME_NAMESPACE, 0);
            }
            libc::close(fd);
        }

        if let Some(name) = &p.hostname {
            let b = name.as_bytes();
            if libc::sethostname(b.as_ptr().cast(), b.len()) == -1 {
                fail(p, step::HOSTNAME, 0);
            }
        }
        if let Some(name) = &p.domainname {
            let b = name.as_bytes();
            if libc::setdomainname(b.as_ptr().cast(), b.len()) == -1 {
                fail(p, step::DOMAINNAME, 0);
            }
        }
        if let Some(req) = &p.loopback {
            loopback_up(p, req);
        }
        if let Some(mounts) = &p.mounts
            && let Err(f) = mounts.apply()
        {
            send(
                p.report_fd,
                Record {
                    tag: TAG_MOUNT_ERROR,
                    step: f.step as u32,
                    index: f.index,
                    errno: f.errno,
                },
            );
            exit(127);
        }

        set_credentials(p);
        if p.uid.is_some() || p.gid.is_some() {
            // The kernel clears the death signal when credentials change.
            set_death_signal(p);
        }

        if let Some(dir) = &p.cwd
            && libc::chdir(dir.as_ptr()) == -1
        {
            fail(p, step::CHDIR, 0);
        }
        setup_stdio(p);
        reset_signals(p);

        if p.init {
            run_init(p);
        }
        exec_program(p)
    }
}

/// Joins the namespaces of a running container, then forks so that the process that execs is
/// inside its pid namespace, and ends this intermediate process.
unsafe fn join_container(p: &Prepared, join: &Join) {
    // SAFETY: raw system calls on descriptors the parent prepared.
    unsafe {
        // A container made without namespaces has none to join (setns with 0 would mean
        // "all", and fail on our own user namespace).
        if join.nstypes != 0 && libc::setns(join.pidfd, join.nstypes) == -1 {
            fail(p, step::JOIN, 0);
        }
        // setns(CLONE_NEWPID) only changes the namespace of our future children. The second
        // child is made a child of our parent (CLONE_PARENT), so the caller reaps it directly.
        let mut args = CloneArgs {
            flags: libc::CLONE_PARENT as u64,
            exit_signal: 0,
            ..CloneArgs::default()
        };
        if let Some(cg) = join.cgroup_fd {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = cg as u64;
        }
        let pid = libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            size_of::<CloneArgs>(),
        );
        match pid {
            -1 => fail(p, step::JOIN_FORK, 0),
            0 => {} // the process that goes on to exec
            pid => {
                send(
                    p.report_fd,
                    Record {
                        tag: TAG_PID,
                        step: 0,
                        index: pid as u32,
                        errno: 0,
                    },
                );
                exit(0);
            }
        }
    }
}

unsafe fn loopback_up(p: &Prepared, req: &libc::ifreq) {
    // SAFETY: a datagram socket used only for the SIOC[GS]IFFLAGS ioctls on a copy of the
    // prepared `ifreq`.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock == -1 {
            fail(p, step::LOOPBACK, 0);
        }
        let mut req = *req;
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) == -1 {
            fail(p, step::LOOPBACK, 0);
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock, libc::SIOCSIFFLAGS, &mut req) == -1 {
            fail(p, step::LOOPBACK, 0);
        }
        libc::close(sock);
    }
}

/// Writes the child's own id maps (each file in one write, as the kernel requires).
unsafe fn write_own_maps(p: &Prepared, files: &[(&'static CStr, CString); 3]) {
    for (i, (path, text)) in files.iter().enumerate() {
        // SAFETY: open/write/close on prepared strings.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd == -1 {
                fail(p, step::ID_MAP, i as u32);
            }
            let b = text.as_bytes();
            let n = libc::write(fd, b.as_ptr().cast(), b.len());
            if n != b.len() as isize {
                if n >= 0 {
                    *libc::__errno_location() = libc::EIO;
                }
                fail(p, step::ID_MAP, i as u32);
            }
            libc::close(fd);
        }
    }
}

fn set_death_signal(p: &Prepared) {
    let Some(parent) = p.death_signal else {
        return;
    };
    // SAFETY: a plain prctl, then a zero-timeout poll of the parent's pidfd.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) == -1 {
            fail(p, step::DEATH_SIGNAL, 0);
        }
        // The parent may have died before the prctl: then no signal will ever come. Its
        // pidfd is readable once it has exited.
        let mut pfd = libc::pollfd {
            fd: parent,
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::poll(&mut pfd, 1, 0) == 1 {
            exit(128 + libc::SIGKILL);
        }
    }
}

/// Sets every signal with a handler back to its default action (ignored signals stay
/// ignored, as across execve).
unsafe fn reset_signal_handlers() {
    // SAFETY: sigaction on a zeroed struct, for each signal number; errors (SIGKILL, SIGSTOP,
    // numbers the kernel does not have) are ignored.
    unsafe {
        for sig in 1..=64 {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                continue;
            }
            if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
    }
}

// The credential calls are made as raw system calls: glibc's wrappers believe the process
// still has the parent's threads and would signal and wait for them (its "setxid" broadcast),
// which hangs in a child cloned from a multithreaded process. The child has one thread, so the
// per-thread system calls are exactly right.
#[cfg(any(target_arch = "x86", target_arch = "arm"))]
const CRED_CALLS: [libc::c_long; 3] = [
    libc::SYS_setgroups32,
    libc::SYS_setresgid32,
    libc::SYS_setresuid32,
];
#[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
const CRED_CALLS: [libc::c_long; 3] = [
    libc::SYS_setgroups,
    libc::SYS_setresgid,
    libc::SYS_setresuid,
];

unsafe fn set_credentials(p: &Prepared) {
    let [setgroups, setresgid, setresuid] = CRED_CALLS;
    // SAFETY: plain credential system calls with integer arguments (a null list for
    // setgroups with a count of 0).
    unsafe {
        if p.clear_groups && libc::syscall(setgroups, 0, std::ptr::null::<libc::gid_t>()) == -1 {
            fail(p, step::SETGROUPS, 0);
        }
        if let Some(gid) = p.gid
            && libc::syscall(setresgid, gid, gid, gid) == -1
        {
            fail(p, step::SETGID, 0);
        }
        if let Some(uid) = p.uid
            && libc::syscall(setresuid, uid, uid, uid) == -1
        {
            fail(p, step::SETUID, 0);
        }
    }
}

unsafe fn setup_stdio(p: &Prepared) {
    // SAFETY: descriptor duplication on descriptors the parent keeps open until we exec.
    unsafe {
        // First move every source above 2, so that a source that is itself 0, 1 or 2 is not
        // overwritten by an earlier dup2.
        let mut high = [-1 as RawFd; 3];
        for (i, s) in p.stdio.iter().enumerate() {
            if let ChildStdio::Fd(fd) = *s {
                high[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3);
                if high[i] == -1 {
                    fail(p, step::STDIO, i as u32);
                }
            }
        }
        for (i, fd) in high.iter().enumerate() {
            if *fd != -1 && libc::dup2(*fd, i as c_int) == -1 {
                fail(p, step::STDIO, i as u32);
            }
        }
    }
}

unsafe fn reset_signals(p: &Prepared) {
    // SAFETY: signal-mask and disposition changes of this single-threaded child.
    unsafe {
        // Rust programs ignore SIGPIPE; an ignored signal stays ignored across execve, which
        // would surprise the program. The calling thread may also have blocked signals.
        if libc::signal(libc::SIGPIPE, libc::SIG_DFL) == libc::SIG_ERR {
            fail(p, step::SIGNALS, 0);
        }
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(set.as_mut_ptr());
        if libc::pthread_sigmask(libc::SIG_SETMASK, set.as_ptr(), std::ptr::null_mut()) != 0 {
            fail(p, step::SIGNALS, 0);
        }
    }
}

unsafe fn exec_program(p: &Prepared) -> ! {
    // SAFETY: `argv` and `envp` are NUL-terminated arrays of pointers into strings owned by
    // `p`, prepared in the parent.
    unsafe {
        let mut best = libc::ENOENT;
        let mut best_index = 0u32;
        for (i, prog) in p.programs.iter().enumerate() {
            libc::execve(prog.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr());
            let e = errno();
            // Like execvp: remember a permission problem over a plain "not found", and stop at
            // anything other than ENOENT/ENOTDIR/EACCES.
            match e {
                libc::ENOENT | libc::ENOTDIR => {}
                libc::EACCES => {
                    if best != libc::EACCES {
                        best = e;
                        best_index = i as u32;
                    }
                }
                _ => {
                    best = e;
                    best_index = i as u32;
                    break;
                }
            }
        }
        *libc::__errno_location() = best;
        fail(p, step::EXEC, best_index)
    }
}

/// A minimal init: forks the program, reaps every orphan, forwards signals to the program and
/// exits with its status (128+N when it was killed by signal N). Never returns in the init;
/// returns in the forked program.
unsafe fn run_init(p: &Prepared) {
    // SAFETY: signal masks, a fork-like clone, wait and kill; all on stack memory.
    unsafe {
        let mut all = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigfillset(all.as_mut_ptr());
        let all = all.assume_init();
        let mut old = MaybeUninit::<libc::sigset_t>::uninit();
        if libc::pthread_sigmask(libc::SIG_SETMASK, &all, old.as_mut_ptr()) != 0 {
            fail(p, step::SIGNALS, 0);
        }
        let mut args = CloneArgs {
            exit_signal: libc::SIGCHLD as u64,
            ..CloneArgs::default()
        };
        let pid = libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            size_of::<CloneArgs>(),
        );
        if pid == -1 {
            fail(p, step::INIT_FORK, 0);
        }
        if pid == 0 {
            // The program: restore the signal mask and go on to exec.
            libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut());
            return;
        }
        let main = pid as libc::pid_t;
        // The init keeps no descriptor: not the report pipe (the program reports its own exec
        // failure and its exec closes the last copy), nor the program's stdio, nor anything
        // inherited from other threads of the parent that were spawning at the same time.
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) == -1 {
            // Keeping other threads' pipe ends open for the container's lifetime would make
            // their spawns wait for it; better to fail (the program is killed with us).
            fail(p, step::CLOSE_FDS, 0);
        }
        loop {
            let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
            let sig = libc::sigwaitinfo(&all, info.as_mut_ptr());
            if sig == -1 {
                continue;
            }
            if sig != libc::SIGCHLD {
                libc::kill(main, sig);
                continue;
            }
            loop {
                let mut status: c_int = 0;
                let r = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if r <= 0 {
                    break;
                }
                if r == main {
                    if libc::WIFEXITED(status) {
                        exit(libc::WEXITSTATUS(status));
                    }
                    if libc::WIFSIGNALED(status) {
                        exit(128 + libc::WTERMSIG(status));
                    }
                }
            }
        }
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

/// Returns `fd`, or a close-on-exec duplicate of it numbered 3 or above when it is 0, 1 or 2
/// (a caller with closed standard streams): the child's own use of 0-2 must not clobber it.
pub(crate) fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own; on success we own the new one.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: see above.
        Ok(unsafe { OwnedFd::from_raw_fd(r) })
    }
}

/// Kills and reaps `pid`, which must be an unreaped child of ours (so it cannot have been
/// recycled).
pub(crate) fn kill_and_reap_child(pid: libc::pid_t) {
    // SAFETY: kill and waitpid on our own unreaped child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        let mut status = 0;
        while libc::waitpid(pid, &mut status, libc::__WALL) == -1 && errno() == libc::EINTR {}
    }
}

/// Reaps `pid`, an unreaped child of ours that is ending by itself.
pub(crate) fn reap_child(pid: libc::pid_t) {
    // SAFETY: waitpid on our own unreaped child.
    unsafe {
        let mut status = 0;
        while libc::waitpid(pid, &mut status, libc::__WALL) == -1 && errno() == libc::EINTR {}
    }
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

/// `waitid(P_PIDFD, ...)`. Returns the raw wait status (as `waitpid` would) once the process
/// has ended, or `None` with `nohang` while it still runs.
pub(crate) fn waitid_pidfd(pidfd: BorrowedFd<'_>, nohang: bool) -> io::Result<Option<c_int>> {
    let mut flags = libc::WEXITED;
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
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
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
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
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
pub(crate) fn read2(
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    out_buf: &mut Vec<u8>,
    err_buf: &mut Vec<u8>,
) -> io::Result<()> {
    let mut fds = [out, err];
    loop {
        let mut pfds = [libc::pollfd {
            fd: -1,
            events: libc::POLLIN,
            revents: 0,
        }; 2];
        for (p, f) in pfds.iter_mut().zip(&fds) {
            p.fd = f.as_ref().map_or(-1, |f| f.as_raw_fd());
        }
        if fds.iter().all(Option::is_none) {
            return Ok(());
        }
        // SAFETY: two pollfds; a negative fd is ignored by poll.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), 2, -1) };
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

/// The effective uid of the caller.
pub(crate) fn geteuid() -> libc::uid_t {
    // SAFETY: always succeeds.
    unsafe { libc::geteuid() }
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
    fn kernel_releases_parse() {
        assert_eq!(parse_release("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_release("5.15.0-91-generic"), Some((5, 15)));
        assert_eq!(parse_release("6.1"), Some((6, 1)));
        assert_eq!(parse_release("garbage"), None);
        assert!((5, 15) < (5, 16) && (6, 1) > (5, 16));
    }

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
