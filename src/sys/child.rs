//! The child's side of the spawn: everything between `clone3` and `execve`.
//!
//! [`child_main`] runs the layers of a container in one fixed order. Each layer's parent-side
//! preparation lives in `crate::spawn::<layer>`; its child-side system calls live here, in a
//! function of the same name:
//!
//! | # | layer | child side | reports as |
//! |---|---|---|---|
//! | 1 | start | close every descriptor but the ones it uses, reset every signal disposition, parent-death signal | `CloseFds`, `Signals`, `DeathSignal` |
//! | 2 | join (`exec`) | non-dumpable, `setns`, fork into the pid namespace | `Dumpable`, `Join`, `JoinFork` |
//! | 3 | user and time namespaces | `unshare(CLONE_NEWTIME)`, own id maps, wait for the parent's maps, enter the time namespace | `TimeNamespace`, `IdMap`, `Sync`, `EnterTimeNamespace` |
//! | 3b | joined namespaces | `setns` into network, IPC, UTS namespaces given by handle | `Join` |
//! | 4 | uts | `sethostname`, `setdomainname` | `Hostname`, `Domainname` |
//! | 5 | network | `lo` up | `Loopback` |
//! | 6 | mounts | the prepared mount plan (`pivot_root` ...) | `Mount` |
//! | 7 | capabilities and credentials | bounding drop, `setgroups`/`setresgid`/`setresuid` with keep-caps, `capset`, ambient, `no_new_privs` (`hutch_caps::PreparedCaps::apply`); or only the id changes when the caller's capabilities are kept | `Capabilities`; `Setgroups`, `Setgid`, `Setuid` |
//! | 8 | working directory | `chdir` | `Chdir` |
//! | 9 | descriptors | mark all above 2 close-on-exec, connect stdio and passed descriptors | `CloseFds`, `Stdio`, `PassFd` |
//! | 10 | init | fork the program, exec the init program (sealed memfd) | `Dumpable`, `InitFork`, `InitExec` |
//! | 10b | signals, in each process that execs | empty the signal mask | `Signals` |
//! | 10c | confinement, in each process that execs | LSM exec label (program only), Landlock, seccomp last (before the capability layer instead when `no_new_privs` is off) | `LsmLabel`, `Landlock`, `Seccomp` |
//! | 11 | exec | `execve` along the prepared `PATH` candidates | `Exec` |
//!
//!
//! Before each step the child stores the step's number in a shared page ([`Progress`]), so
//! that a child that dies without a word (killed, out of memory, a fault) is reported with the
//! step it had reached and the signal that ended it.

use std::ffi::{CStr, CString, c_char, c_int, c_long};
use std::mem::size_of;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use hutch_ns::mount::PreparedMounts;

use super::{
    CLONE_INTO_CGROUP, CloneArgs, Record, TAG_CAPS_ERROR, TAG_ERROR, TAG_LSM_ERROR,
    TAG_MOUNT_ERROR, TAG_READY,
};

/// Steps of the child, as sent over the report pipe and stored in [`Progress`]. The public
/// names live in [`crate::Step`]; the numbers are private to one build of the library.
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
    pub const MOUNT: u32 = 20;
    pub const PASS_FD: u32 = 21;
    pub const DUMPABLE: u32 = 22;
    pub const INIT_EXEC: u32 = 23;
    /// The first thing the child does.
    pub const START: u32 = 24;
    pub const CAPABILITIES: u32 = 25;
    pub const LSM_LABEL: u32 = 26;
    pub const LANDLOCK: u32 = 27;
    pub const SECCOMP: u32 = 28;
}

/// A page shared with the parent (`MAP_SHARED`, so also with a fork-like child and its own
/// children), where the child records how far it got.
///
/// Slot 0 is the first child's (in the `exec` path: the intermediate's), slot 1 the program's
/// when it is a process of its own (under an init, or in the `exec` path). `joined` receives
/// the pid of the process forked into a joined container, written by the kernel itself
/// (`CLONE_PARENT_SETTID`) before that fork returns, so it is known even if the intermediate
/// dies right after.
#[repr(C)]
pub(crate) struct Progress {
    pub slots: [AtomicU32; 2],
    pub joined: AtomicI32,
    /// Opened (1) by the parent once it holds a pidfd of the `joined` process, which waits for
    /// it before going on: a process that execs gets SIGCHLD as its exit signal again, and a
    /// caller that ignores SIGCHLD would have it reaped by the kernel (its pid free for
    /// reuse) before it could open the pidfd, were the process to end quickly.
    pub gate: AtomicU32,
}

/// Where one of the child's standard streams comes from.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) enum ChildStdio {
    /// Keep the parent's descriptor.
    #[default]
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

/// The user- and time-namespace layer.
pub(crate) struct UserNsPlan {
    pub time_namespace: bool,
    pub time_for_children: &'static CStr,
    /// The child writes its own user-namespace maps: `(file, contents)` for `setgroups`,
    /// `uid_map`, `gid_map`, in that order.
    pub self_maps: Option<[(&'static CStr, CString); 3]>,
    /// Wait for the parent (id maps, time offsets) on this descriptor.
    pub sync_fd: Option<RawFd>,
    /// Switch to uid and gid 0 of the new user namespace once the maps are written (the
    /// caller's ids are not mapped to root there).
    pub become_root: bool,
}

/// The credentials layer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CredPlan {
    pub gid: Option<libc::gid_t>,
    pub uid: Option<libc::uid_t>,
    pub clear_groups: bool,
}

/// The descriptor layer: standard streams and descriptors passed on purpose.
#[derive(Debug, Default)]
pub(crate) struct FdPlan {
    pub stdio: [ChildStdio; 3],
    /// `(source, number inside)`; every source is above every number inside, so no
    /// duplication can overwrite a source still to be used.
    pub passed: Vec<(RawFd, RawFd)>,
}

/// The init layer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InitPlan {
    /// Exec the init program from this sealed memfd.
    Program { memfd: RawFd },
    /// No init program for this architecture: the init is this process (a copy of the
    /// caller), as documented on `Container::init`.
    InProcess,
}

/// The exec layer.
pub(crate) struct ExecPlan {
    /// Candidate paths for the program, tried in order (a `PATH` search prepared in advance).
    pub programs: Vec<CString>,
    pub argv: Vec<*const c_char>,
    pub envp: Vec<*const c_char>,
    /// Keeps the strings that `argv` and `envp` point into alive.
    pub _strings: Vec<CString>,
}

/// Everything the child needs, built by the parent before `clone3`.
///
/// Holds raw pointers into owned `CString`s, so it is neither `Send` nor `Sync` and must not
/// be taken apart (the vectors' heap buffers do not move when the struct does).
pub(crate) struct Prepared {
    /// Every descriptor the child uses, ascending: it closes all others (above 2) first.
    pub keep: Vec<RawFd>,
    pub report_fd: RawFd,
    pub progress: *const Progress,
    /// The parent's ends of the report and sync channels: closed first thing in the child, so
    /// that it sees end-of-file on the sync channel if the parent goes away.
    pub parent_ends: [RawFd; 2],
    /// Set `PR_SET_PDEATHSIG`; the pidfd is the parent process's, checked right after, to
    /// close the race of a parent that died before the prctl.
    pub death_signal: Option<RawFd>,
    /// Keep the death signal past the exec (`die_with_parent`); otherwise it is cleared just
    /// before the confinement and the exec.
    pub keep_death_signal: bool,
    pub join: Option<Join>,
    pub userns: UserNsPlan,
    /// Namespaces to join (`setns`) instead of creating: `(descriptor, CLONE_NEW* type)`.
    pub joins: Vec<(RawFd, c_int)>,
    /// A pid namespace to join: the child enters it and forks the process that goes on
    /// (only children enter a joined pid namespace), which reports in slot 1.
    pub pid_join: Option<RawFd>,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    pub loopback: Option<libc::ifreq>,
    pub mounts: Option<PreparedMounts>,
    pub creds: CredPlan,
    /// The capability layer; when present it also makes the credential changes.
    pub caps: Option<hutch_caps::PreparedCaps>,
    pub cwd: Option<CString>,
    pub fds: FdPlan,
    /// LSM exec labels (AppArmor, SELinux), written before the program's exec.
    pub labels: Vec<crate::confine::lsm::PreparedLabel>,
    /// The Landlock ruleset enforced before exec.
    pub landlock: Option<crate::confine::landlock::PreparedLandlock>,
    /// The container keeps `no_new_privs` off: Landlock is enforced right after the mounts,
    /// while the child still holds `CAP_SYS_ADMIN` (the capability layer may drop it), and
    /// `no_new_privs` is never set for it.
    pub landlock_early: bool,
    /// The seccomp filter, installed last before exec.
    pub seccomp: Option<std::sync::Arc<hutch_seccomp::Program>>,
    /// Install flags the profile asked for (`SECCOMP_FILTER_FLAG_LOG`, ...).
    pub seccomp_flags: hutch_seccomp::InstallFlags,
    /// Install the filter before the capability layer instead (the container keeps
    /// `no_new_privs` off, so installing needs `CAP_SYS_ADMIN`, which the capability layer
    /// may drop; as runc does).
    pub seccomp_early: bool,
    /// Install the filter with a listener and send it over this socket (`SCM_RIGHTS`).
    pub seccomp_listener: Option<RawFd>,
    pub init: Option<InitPlan>,
    pub exec: ExecPlan,
}

// ---------------------------------------------------------------------------------------------
// Raw system calls. libc's wrappers for these are thin, but glibc's signal functions hide its
// internal signals and its credential functions broadcast to threads that the child does not
// have; every call here is the kernel's own.

fn errno() -> i32 {
    // SAFETY: `__errno_location` returns this thread's errno slot; reading it is always valid.
    unsafe { *libc::__errno_location() }
}

fn set_errno(e: i32) {
    // SAFETY: writing the errno slot of this thread pointer. A child sharing the caller's
    // memory uses the calling thread's slot, and that thread is suspended until we exec
    // (CLONE_VFORK); it does not read errno before it has checked clone3's own result.
    unsafe { *libc::__errno_location() = e }
}

/// `write(2)` of a whole record (16 bytes: atomic on a pipe).
fn sys_write(fd: RawFd, buf: &[u8]) -> c_long {
    // SAFETY: writing from a valid buffer of the given length.
    unsafe { libc::syscall(libc::SYS_write, fd, buf.as_ptr(), buf.len()) }
}

fn sys_close(fd: RawFd) {
    // SAFETY: closing a descriptor number; a wrong number only fails with EBADF.
    unsafe {
        libc::syscall(libc::SYS_close, fd);
    }
}

fn sys_close_range(first: u32, last: u32, flags: u32) -> c_long {
    // SAFETY: close_range takes plain integers.
    unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) }
}

fn sys_fcntl(fd: RawFd, cmd: c_int, arg: c_long) -> c_long {
    // SAFETY: F_SETFD / F_GETFD with integer arguments.
    unsafe { libc::syscall(libc::SYS_fcntl, fd, cmd, arg) }
}

fn sys_dup2(from: RawFd, to: RawFd) -> c_long {
    // SAFETY: dup3 with integer arguments (dup2 is not a system call on every architecture).
    unsafe { libc::syscall(libc::SYS_dup3, from, to, 0) }
}

fn sys_prctl(option: c_int, arg: libc::c_ulong) -> c_long {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::syscall(libc::SYS_prctl, option, arg, 0, 0, 0) }
}

fn sys_setns(fd: RawFd, nstype: c_int) -> c_long {
    // SAFETY: setns with integer arguments.
    unsafe { libc::syscall(libc::SYS_setns, fd, nstype) }
}

fn sys_unshare(flags: c_int) -> c_long {
    // SAFETY: unshare with an integer argument.
    unsafe { libc::syscall(libc::SYS_unshare, flags) }
}

/// `openat(AT_FDCWD, path, flags)`: returns the descriptor or -1 (errno set).
fn sys_open(path: &CStr, flags: c_int) -> RawFd {
    // SAFETY: openat on a NUL-terminated path; no mode is needed without O_CREAT.
    unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), flags, 0) as RawFd }
}

fn sys_chdir(path: &CStr) -> c_long {
    // SAFETY: chdir on a NUL-terminated path.
    unsafe { libc::syscall(libc::SYS_chdir, path.as_ptr()) }
}

fn sys_kill(pid: c_int, sig: c_int) -> c_long {
    // SAFETY: kill with integer arguments.
    unsafe { libc::syscall(libc::SYS_kill, pid, sig) }
}

/// Sets the signal mask of this thread to all (`true`) or none (`false`) of the 64 signals,
/// glibc's internal ones included.
pub(crate) fn sigmask_all(block: bool, old: Option<&mut u64>) -> c_long {
    let set: u64 = if block { !0 } else { 0 };
    let old_ptr = old.map_or(std::ptr::null_mut(), |o| o as *mut u64);
    // SAFETY: rt_sigprocmask with a kernel sigset of 8 bytes and a valid (or null) old set.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &set as *const u64,
            old_ptr,
            8usize,
        )
    }
}

/// Restores a mask saved by [`sigmask_all`].
pub(crate) fn sigmask_set(set: u64) {
    // SAFETY: as in sigmask_all.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &set as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        );
    }
}

/// The kernel's `struct sigaction` for `rt_sigaction` (x86_64 and generic layouts agree on
/// handler, flags, restorer, mask for the fields used here: all zero = `SIG_DFL`).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Puts every signal's disposition back to the default, ignored ones included: a container
/// starts from a clean slate (as `docker run` does), and an init that inherited an ignored
/// `SIGCHLD` would have its children reaped by the kernel behind its back.
fn reset_all_dispositions() {
    let dfl = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a valid new action and no old one; numbers the kernel
        // does not have fail with EINVAL, which is fine.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting.

/// Sends one record; used by the child, so it only calls `write(2)`.
fn send(fd: RawFd, rec: Record) {
    let bytes = rec.to_bytes();
    // A pipe write of 16 bytes is atomic (less than PIPE_BUF), so records from several
    // writers never interleave.
    sys_write(fd, &bytes);
}

fn exit(code: c_int) -> ! {
    // SAFETY: `exit_group` ends the process without running atexit handlers or flushing
    // stdio, which is what a child of a multithreaded process must do; it does not return.
    unsafe {
        libc::syscall(libc::SYS_exit_group, code);
    }
    unreachable!("exit_group returned")
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

/// Records that the child is about to do `step` (slot 0: this process; slot 1: the program's
/// own process under an init or after a join).
/// Whether the caller's pidfd (kept as the death signal's witness) says it has ended.
fn caller_gone(p: &Prepared) -> bool {
    let Some(fd) = p.death_signal else {
        return false;
    };
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ppoll on one valid pollfd with a zero timeout and no mask.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ppoll,
            &mut pfd as *mut libc::pollfd,
            1usize,
            &zero as *const libc::timespec,
            std::ptr::null::<u64>(),
            8usize,
        )
    };
    r == 1
}

/// Waits until the parent has opened the gate ([`Progress::gate`]). A process whose caller has
/// gone meanwhile (its pidfd is readable, or it is reparented: `getppid` changes; inside a
/// joined pid namespace `getppid` stays 0) ends.
fn wait_gate(p: &Prepared) {
    // SAFETY: as in `reach`.
    let gate = unsafe { &(*p.progress).gate };
    // SAFETY: getppid has no failure mode. Zero when the parent is outside our pid namespace.
    let parent = unsafe { libc::syscall(libc::SYS_getppid) };
    let slice = libc::timespec {
        tv_sec: 0,
        tv_nsec: 50_000_000,
    };
    while gate.load(Ordering::Acquire) == 0 {
        // SAFETY: a shared (not FUTEX_PRIVATE) wait on an aligned u32 of the shared page, with a
        // relative timeout on our stack; spurious wake-ups and EAGAIN are handled by the loop.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                gate.as_ptr(),
                libc::FUTEX_WAIT,
                0u32,
                &slice as *const libc::timespec,
            )
        };
        // SAFETY: as above.
        if unsafe { libc::syscall(libc::SYS_getppid) } != parent || caller_gone(p) {
            exit(1);
        }
    }
}

fn reach(p: &Prepared, slot: usize, step: u32) {
    // SAFETY: the parent maps the page before the clone and unmaps it only after this child
    // has exec'd or ended; the slots are atomics.
    unsafe { (*p.progress).slots[slot].store(step, Ordering::Relaxed) }
}

// ---------------------------------------------------------------------------------------------
// The layers.

/// The child's side of the spawn. Never returns.
///
/// # Safety
///
/// Must only be called in the child of `clone3` (fork-like, or sharing memory with the calling
/// thread suspended), with `p` prepared by the parent and kept alive until the child has
/// exec'd or been reaped, and with every signal blocked.
pub(crate) unsafe fn child_main(p: &Prepared) -> ! {
    let mut slot = 0;
    reach(p, slot, step::START);
    for fd in p.parent_ends {
        if fd >= 0 {
            sys_close(fd);
        }
    }
    // Nothing of the caller's but what the child uses: not its other threads' files, nor
    // their locks (a flock held through this copy would outlive the thread's own close).
    reach(p, slot, step::CLOSE_FDS);
    if keep_only(&p.keep) == -1 {
        fail(p, step::CLOSE_FDS, 0);
    }
    // The parent blocked every signal around clone3, so no handler of the caller's can run
    // here; put every disposition back to the default before anything is unblocked.
    reach(p, slot, step::SIGNALS);
    reset_all_dispositions();
    set_death_signal(p);

    if let Some(join) = &p.join {
        join_container(p, join);
        slot = 1;
    }
    user_and_time_namespaces(p);
    for (i, &(fd, nstype)) in p.joins.iter().enumerate() {
        reach(p, slot, step::JOIN);
        // The descriptor is one the parent keeps open.
        if sys_setns(fd, nstype) == -1 {
            fail(p, step::JOIN, i as u32);
        }
    }
    if let Some(fd) = p.pid_join {
        enter_pid_namespace(p, fd);
        slot = 1;
    }
    uts(p);
    if let Some(req) = &p.loopback {
        reach(p, slot, step::LOOPBACK);
        loopback_up(p, req);
    }
    if let Some(mounts) = &p.mounts {
        reach(p, slot, step::MOUNT);
        // SAFETY: we are a single-threaded child in our own mount namespace (the parent
        // checked that a mount plan comes with CLONE_NEWNS), which is `apply`'s contract.
        if let Err(f) = unsafe { mounts.apply() } {
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
    }
    if p.landlock_early {
        // Before an init forks, like an early filter: the init and the program share it.
        enforce_landlock(p, slot);
    }
    if p.seccomp_early {
        // Before an init forks: the init and the program share this filter and its listener.
        install_seccomp(p, slot, true);
    }
    match &p.caps {
        Some(caps) => capabilities(p, slot, caps),
        None => credentials(p, slot),
    }
    if p.creds.uid.is_some() || p.creds.gid.is_some() {
        // The kernel clears the death signal when credentials change.
        set_death_signal(p);
    }
    if let Some(dir) = &p.cwd {
        reach(p, slot, step::CHDIR);
        if sys_chdir(dir) == -1 {
            fail(p, step::CHDIR, 0);
        }
    }
    descriptors(p, slot);
    if let Some(init) = p.init {
        slot = start_init(p, init);
    }
    // The signal mask is emptied before the confinement, so that the seccomp filter is the
    // last thing installed before `execve`: a filter need not allow `rt_sigprocmask`.
    reach(p, slot, step::SIGNALS);
    if sigmask_all(false, None) == -1 {
        fail(p, step::SIGNALS, 0);
    }
    clear_death_signal(p, slot);
    confine(p, slot, true);
    reach(p, slot, step::EXEC);
    exec_program(p)
}

/// Joins the namespaces of a running container, then forks so that the process that execs is
/// inside its pid namespace, and ends this intermediate process.
///
/// Before joining, the intermediate becomes non-dumpable (it has already closed every
/// descriptor but the spawn's own, the first step of every child): it is a copy of the caller, and once inside the container, root
/// there could otherwise read its memory or open its descriptors through `/proc/PID/` (the
/// runc CVE-2016-9962 class). Its child inherits both; `execve` then resets dumpability for
/// the program.
fn join_container(p: &Prepared, join: &Join) {
    reach(p, 0, step::DUMPABLE);
    if sys_prctl(libc::PR_SET_DUMPABLE, 0) == -1 {
        fail(p, step::DUMPABLE, 0);
    }
    reach(p, 0, step::JOIN);
    // A container made without namespaces has none to join (setns with 0 would mean "all",
    // and fail on our own user namespace).
    // The pidfd is one the parent keeps open.
    if join.nstypes != 0 && sys_setns(join.pidfd, join.nstypes) == -1 {
        fail(p, step::JOIN, 0);
    }
    reach(p, 0, step::JOIN_FORK);
    // setns(CLONE_NEWPID) only changes the namespace of our future children. The second
    // child is made a child of our parent (CLONE_PARENT), so the caller reaps it directly, and
    // the kernel writes its pid into the shared page before the fork returns.
    // SAFETY: `progress` is valid (see `reach`).
    let joined = unsafe { &(*p.progress).joined } as *const AtomicI32;
    let mut args = CloneArgs {
        flags: (libc::CLONE_PARENT | libc::CLONE_PARENT_SETTID) as u64,
        parent_tid: joined as u64,
        exit_signal: 0,
        ..CloneArgs::default()
    };
    if let Some(cg) = join.cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cg as u64;
    }
    // SAFETY: a fork-like clone3 (no CLONE_VM): the new process continues here on a copy of
    // this stack.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            size_of::<CloneArgs>(),
        )
    };
    match pid {
        -1 => fail(p, step::JOIN_FORK, 0),
        0 => {
            // The process that goes on to exec; it records its progress in slot 1.
            reach(p, 1, step::START);
            wait_gate(p);
        }
        _ => exit(0),
    }
}

/// Joins the pid namespace behind `fd` and forks the process that goes on inside it, as a
/// child of the caller (`CLONE_PARENT`, its pid written into the progress page by the kernel);
/// this process ends. Everything after happens in the new process, so its fresh `/proc` shows
/// the joined namespace.
fn enter_pid_namespace(p: &Prepared, fd: RawFd) {
    reach(p, 0, step::JOIN);
    // The descriptor is one the parent keeps open.
    if sys_setns(fd, libc::CLONE_NEWPID) == -1 {
        fail(p, step::JOIN, 0);
    }
    reach(p, 0, step::JOIN_FORK);
    // SAFETY: `progress` is valid (see `reach`).
    let joined = unsafe { &(*p.progress).joined } as *const AtomicI32;
    let mut args = CloneArgs {
        flags: (libc::CLONE_PARENT | libc::CLONE_PARENT_SETTID) as u64,
        parent_tid: joined as u64,
        exit_signal: 0,
        ..CloneArgs::default()
    };
    // SAFETY: a fork-like clone3 (no CLONE_VM): the new process continues here on a copy of
    // this stack.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            size_of::<CloneArgs>(),
        )
    };
    match pid {
        -1 => fail(p, step::JOIN_FORK, 0),
        0 => {
            reach(p, 1, step::START);
            // The parent-death signal is per process: set it again for this one.
            set_death_signal(p);
            wait_gate(p);
        }
        _ => exit(0),
    }
}

fn user_and_time_namespaces(p: &Prepared) {
    let u = &p.userns;
    if u.time_namespace {
        reach(p, 0, step::TIME_NAMESPACE);
        if sys_unshare(libc::CLONE_NEWTIME) == -1 {
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
    if let Some(files) = &u.self_maps {
        reach(p, 0, step::ID_MAP);
        write_own_maps(p, files);
    }
    if let Some(fd) = u.sync_fd {
        reach(p, 0, step::SYNC);
        // The parent writes one byte once it has written our id maps and time offsets; end
        // of file means it gave up on us.
        let mut byte = 0u8;
        loop {
            // SAFETY: reading one byte into a stack variable.
            let n = unsafe { libc::syscall(libc::SYS_read, fd, &mut byte as *mut u8, 1usize) };
            if n == 1 {
                break;
            }
            if n == -1 && errno() == libc::EINTR {
                continue;
            }
            if n == 0 {
                set_errno(libc::EPIPE);
            }
            fail(p, step::SYNC, 0);
        }
        sys_close(fd);
    }
    if u.become_root {
        let [setgroups, setresgid, setresuid] = CRED_CALLS;
        reach(p, 0, step::SETGID);
        // SAFETY: credential system calls with integer arguments and a null group list.
        unsafe {
            if libc::syscall(setgroups, 0, std::ptr::null::<libc::gid_t>()) == -1 {
                fail(p, step::SETGROUPS, 0);
            }
            if libc::syscall(setresgid, 0, 0, 0) == -1 {
                fail(p, step::SETGID, 0);
            }
            if libc::syscall(setresuid, 0, 0, 0) == -1 {
                fail(p, step::SETUID, 0);
            }
        }
    }
    if u.time_namespace {
        reach(p, 0, step::ENTER_TIME_NAMESPACE);
        let fd = sys_open(u.time_for_children, libc::O_RDONLY | libc::O_CLOEXEC);
        if fd == -1 || sys_setns(fd, libc::CLONE_NEWTIME) == -1 {
            fail(p, step::ENTER_TIME_NAMESPACE, 0);
        }
        sys_close(fd);
    }
}

fn uts(p: &Prepared) {
    if let Some(name) = &p.hostname {
        reach(p, 0, step::HOSTNAME);
        let b = name.as_bytes();
        // SAFETY: a buffer and its length.
        if unsafe { libc::syscall(libc::SYS_sethostname, b.as_ptr(), b.len()) } == -1 {
            fail(p, step::HOSTNAME, 0);
        }
    }
    if let Some(name) = &p.domainname {
        reach(p, 0, step::DOMAINNAME);
        let b = name.as_bytes();
        // SAFETY: a buffer and its length.
        if unsafe { libc::syscall(libc::SYS_setdomainname, b.as_ptr(), b.len()) } == -1 {
            fail(p, step::DOMAINNAME, 0);
        }
    }
}

fn loopback_up(p: &Prepared, req: &libc::ifreq) {
    // SAFETY: a datagram socket used only for the SIOC[GS]IFFLAGS ioctls on a copy of the
    // prepared `ifreq`.
    let sock = unsafe {
        libc::syscall(
            libc::SYS_socket,
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0,
        )
    } as RawFd;
    if sock == -1 {
        fail(p, step::LOOPBACK, 0);
    }
    let mut req = *req;
    // SAFETY: SIOCGIFFLAGS fills the flags of a valid ifreq.
    if unsafe { libc::syscall(libc::SYS_ioctl, sock, libc::SIOCGIFFLAGS, &raw mut req) } == -1 {
        fail(p, step::LOOPBACK, 0);
    }
    // SAFETY: the union member the previous ioctl filled.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads a valid ifreq.
    if unsafe { libc::syscall(libc::SYS_ioctl, sock, libc::SIOCSIFFLAGS, &raw mut req) } == -1 {
        fail(p, step::LOOPBACK, 0);
    }
    sys_close(sock);
}

/// Writes the child's own id maps (each file in one write, as the kernel requires).
fn write_own_maps(p: &Prepared, files: &[(&'static CStr, CString); 3]) {
    for (i, (path, text)) in files.iter().enumerate() {
        let fd = sys_open(path, libc::O_WRONLY | libc::O_CLOEXEC);
        if fd == -1 {
            fail(p, step::ID_MAP, i as u32);
        }
        let b = text.as_bytes();
        let n = sys_write(fd, b);
        if n != b.len() as c_long {
            if n >= 0 {
                set_errno(libc::EIO);
            }
            fail(p, step::ID_MAP, i as u32);
        }
        sys_close(fd);
    }
}

/// Clears the setup's death signal before the exec, unless the container keeps it.
fn clear_death_signal(p: &Prepared, slot: usize) {
    if p.death_signal.is_some() && !p.keep_death_signal {
        reach(p, slot, step::DEATH_SIGNAL);
        if sys_prctl(libc::PR_SET_PDEATHSIG, 0) == -1 {
            fail(p, step::DEATH_SIGNAL, 0);
        }
    }
}

fn set_death_signal(p: &Prepared) {
    if p.death_signal.is_none() {
        return;
    }
    reach(p, 0, step::DEATH_SIGNAL);
    if sys_prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
        fail(p, step::DEATH_SIGNAL, 0);
    }
    // The parent may have died before the prctl: then no signal will ever come. Its pidfd is
    // readable once it has exited.
    if caller_gone(p) {
        exit(128 + libc::SIGKILL);
    }
}

// The credential calls are made as raw system calls: glibc's wrappers believe the process
// still has the parent's threads and would signal and wait for them (its "setxid" broadcast),
// which hangs in a child cloned from a multithreaded process. The child has one thread, so the
// per-thread system calls are exactly right.
#[cfg(any(target_arch = "x86", target_arch = "arm"))]
const CRED_CALLS: [c_long; 3] = [
    libc::SYS_setgroups32,
    libc::SYS_setresgid32,
    libc::SYS_setresuid32,
];
#[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
const CRED_CALLS: [c_long; 3] = [
    libc::SYS_setgroups,
    libc::SYS_setresgid,
    libc::SYS_setresuid,
];

fn credentials(p: &Prepared, slot: usize) {
    let [setgroups, setresgid, setresuid] = CRED_CALLS;
    let c = p.creds;
    if c.clear_groups {
        reach(p, slot, step::SETGROUPS);
        // SAFETY: setgroups with a count of 0 and a null list.
        if unsafe { libc::syscall(setgroups, 0, std::ptr::null::<libc::gid_t>()) } == -1 {
            fail(p, step::SETGROUPS, 0);
        }
    }
    if let Some(gid) = c.gid {
        reach(p, slot, step::SETGID);
        // SAFETY: a credential system call with integer arguments.
        if unsafe { libc::syscall(setresgid, gid, gid, gid) } == -1 {
            fail(p, step::SETGID, 0);
        }
    }
    if let Some(uid) = c.uid {
        reach(p, slot, step::SETUID);
        // SAFETY: a credential system call with integer arguments.
        if unsafe { libc::syscall(setresuid, uid, uid, uid) } == -1 {
            fail(p, step::SETUID, 0);
        }
    }
}

/// The capability layer: bounding set, ids (with keep-caps), capset, ambient, no_new_privs.
fn capabilities(p: &Prepared, slot: usize, caps: &hutch_caps::PreparedCaps) {
    reach(p, slot, step::CAPABILITIES);
    // SAFETY: we are a single-threaded child between clone and exec, `apply`'s contract.
    if let Err(f) = unsafe { caps.apply() } {
        let (step, index, errno) = f.encode();
        send(
            p.report_fd,
            Record {
                tag: TAG_CAPS_ERROR,
                step,
                index,
                errno,
            },
        );
        exit(127);
    }
}

/// Closes every descriptor but those in `keep` (ascending, all above 2) and the standard
/// streams.
fn keep_only(keep: &[RawFd]) -> c_long {
    let mut next: u32 = 3;
    for &k in keep {
        let k = k as u32;
        if k < next {
            continue;
        }
        if k > next && close_range_or_loop(next, k - 1) == -1 {
            return -1;
        }
        next = k + 1;
    }
    close_range_or_loop(next, u32::MAX)
}

fn close_range_or_loop(first: u32, last: u32) -> c_long {
    if sys_close_range(first, last, 0) == 0 {
        return 0;
    }
    if errno() != libc::ENOSYS {
        return -1;
    }
    for fd in first..=last.min(open_max()) {
        sys_close(fd as RawFd);
    }
    0
}

/// The highest descriptor number this process may have (its `RLIMIT_NOFILE`), for the loops
/// that stand in for `close_range` on kernels without it.
fn open_max() -> u32 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit64 on ourselves, reading into a stack struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            libc::RLIMIT_NOFILE,
            std::ptr::null::<libc::rlimit>(),
            &mut lim as *mut libc::rlimit,
        )
    };
    if r == -1 {
        return 1 << 20;
    }
    lim.rlim_cur.min(u32::MAX as u64) as u32
}

/// Marks every descriptor above 2 close-on-exec: nothing the caller holds, whether opened by
/// it without `O_CLOEXEC` or inherited from its own parent, reaches the program
/// (`CLOSE_RANGE_CLOEXEC`, 5.11; a loop over `F_SETFD` before).
fn cloexec_from_3() -> c_long {
    if sys_close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) == 0 {
        return 0;
    }
    if !matches!(errno(), libc::EINVAL | libc::ENOSYS) {
        return -1;
    }
    for fd in 3..open_max() {
        sys_fcntl(fd as RawFd, libc::F_SETFD, libc::FD_CLOEXEC as c_long);
    }
    0
}

/// The descriptor layer: close-on-exec for everything above 2, then the standard streams and
/// the passed descriptors onto their numbers (the sources are all above every target, see
/// [`FdPlan`]; `dup3` leaves the target without close-on-exec).
fn descriptors(p: &Prepared, slot: usize) {
    reach(p, slot, step::CLOSE_FDS);
    if cloexec_from_3() == -1 {
        fail(p, step::CLOSE_FDS, 0);
    }
    reach(p, slot, step::STDIO);
    for (i, s) in p.fds.stdio.iter().enumerate() {
        if let ChildStdio::Fd(fd) = *s
            && sys_dup2(fd, i as RawFd) == -1
        {
            fail(p, step::STDIO, i as u32);
        }
    }
    reach(p, slot, step::PASS_FD);
    for (i, &(from, to)) in p.fds.passed.iter().enumerate() {
        if sys_dup2(from, to) == -1 {
            fail(p, step::PASS_FD, i as u32);
        }
    }
}

/// Starts the init: forks the program (which returns from here, in slot 1) and, in this
/// process, execs the init program (or runs the in-process init where there is none).
fn start_init(p: &Prepared, init: InitPlan) -> usize {
    if let InitPlan::Program { .. } = init {
        // This process is a copy of the caller until it execs the init; the program it forks
        // runs in the container meanwhile.
        reach(p, 0, step::DUMPABLE);
        if sys_prctl(libc::PR_SET_DUMPABLE, 0) == -1 {
            fail(p, step::DUMPABLE, 0);
        }
    }
    reach(p, 0, step::INIT_FORK);
    // The program waits until this process has exec'd the init (end of file on a pipe whose
    // writing end closes at that exec), so it never sees a PID 1 that is still a copy of the
    // caller.
    let mut gate: [c_int; 2] = [-1, -1];
    // SAFETY: pipe2 fills a two-element array on our stack.
    if unsafe { libc::syscall(libc::SYS_pipe2, gate.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        fail(p, step::INIT_FORK, 0);
    }
    // The legacy clone, not clone3: a seccomp filter installed early (Docker's profile)
    // answers clone3 with ENOSYS.
    // SAFETY: a fork-like clone (SIGCHLD only, no new stack): the new process continues here
    // on a copy of this stack.
    let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_ulong, 0, 0, 0, 0) };
    if pid == -1 {
        fail(p, step::INIT_FORK, 0);
    }
    if pid == 0 {
        reach(p, 1, step::START);
        sys_close(gate[1]);
        let mut byte = 0u8;
        // SAFETY: reading one byte into a stack variable; returns 0 at end of file.
        while unsafe { libc::syscall(libc::SYS_read, gate[0], &mut byte as *mut u8, 1usize) } == -1
            && errno() == libc::EINTR
        {}
        sys_close(gate[0]);
        return 1;
    }
    sys_close(gate[0]);
    // The init is confined like the program (so the program cannot use it to get out), but
    // keeps no LSM exec label: that is for the program's own exec.
    clear_death_signal(p, 0);
    confine(p, 0, false);
    match init {
        InitPlan::Program { memfd } => {
            reach(p, 0, step::INIT_EXEC);
            let mut digits = [0u8; 12];
            super::init::decimal(pid as u32, &mut digits);
            let argv: [*const c_char; 3] = [
                c"hutch-init".as_ptr(),
                digits.as_ptr().cast(),
                std::ptr::null(),
            ];
            let envp: [*const c_char; 1] = [std::ptr::null()];
            // SAFETY: execveat of the sealed memfd with NUL-terminated argv/envp on our stack.
            unsafe {
                libc::syscall(
                    libc::SYS_execveat,
                    memfd,
                    c"".as_ptr(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                    libc::AT_EMPTY_PATH,
                );
            }
            // The program dies with us (PID 1 of its namespace).
            fail(p, step::INIT_EXEC, 0)
        }
        InitPlan::InProcess => in_process_init(pid as libc::pid_t),
    }
}

/// The confinement layers, last before exec, in each process that execs: the LSM exec label
/// (for the program only, `label`), then Landlock (after every mount and file-system step:
/// mounting is refused once it is in force).
fn confine(p: &Prepared, slot: usize, label: bool) {
    if label {
        for (i, l) in p.labels.iter().enumerate() {
            reach(p, slot, step::LSM_LABEL);
            if let Err((index, errno)) = l.apply() {
                send(
                    p.report_fd,
                    Record {
                        tag: TAG_LSM_ERROR,
                        step: i as u32,
                        index,
                        errno,
                    },
                );
                exit(127);
            }
        }
    }
    if !p.landlock_early {
        enforce_landlock(p, slot);
    }
    if !p.seccomp_early {
        install_seccomp(p, slot, label);
    }
}

/// Enforces the Landlock ruleset, if any (its rule paths added again as this process sees
/// them, after the mounts).
fn enforce_landlock(p: &Prepared, slot: usize) {
    if let Some(l) = &p.landlock {
        reach(p, slot, step::LANDLOCK);
        if let Err(e) = l.apply(!p.landlock_early) {
            set_errno(e);
            fail(p, step::LANDLOCK, 0);
        }
    }
}

/// Installs the seccomp filter, if any; `program` is false for the init, which never gets
/// the listener. Every system call the child makes afterwards (the ones for its remaining
/// steps, then `execve`) must pass it; Docker's profile allows them.
fn install_seccomp(p: &Prepared, slot: usize, program: bool) {
    let Some(prog) = &p.seccomp else { return };
    reach(p, slot, step::SECCOMP);
    let sock = p.seccomp_listener.filter(|_| program);
    let flags = match sock {
        Some(_) => p.seccomp_flags | hutch_seccomp::InstallFlags::NEW_LISTENER,
        None => p.seccomp_flags,
    };
    // SAFETY: a single-threaded child between clone and exec, `install`'s contract.
    match unsafe { prog.install(flags) } {
        Err(e) => {
            set_errno(e);
            fail(p, step::SECCOMP, 0);
        }
        Ok(Some(listener)) => {
            if let Some(sock) = sock {
                // SAFETY: the socket is ours (kept open by the parent until we exec).
                let sock = unsafe { std::os::fd::BorrowedFd::borrow_raw(sock) };
                if let Err(e) = hutch_seccomp::send_fd(sock, &listener) {
                    set_errno(e);
                    fail(p, step::SECCOMP, 1);
                }
            }
            // Our copy closes here; the parent has its own.
            drop(listener);
        }
        Ok(None) => {}
    }
}

/// The init where there is no init program: the same loop as the program, in this process.
fn in_process_init(main: libc::pid_t) -> ! {
    if sys_close_range(0, u32::MAX, 0) == -1 {
        close_range_or_loop(0, u32::MAX);
    }
    let all: u64 = !0;
    loop {
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: rt_sigtimedwait with a kernel sigset of 8 bytes and a stack siginfo.
        let sig = unsafe {
            libc::syscall(
                libc::SYS_rt_sigtimedwait,
                &all as *const u64,
                info.as_mut_ptr(),
                std::ptr::null::<libc::timespec>(),
                8usize,
            )
        };
        if sig < 0 {
            continue;
        }
        if sig as c_int != libc::SIGCHLD {
            sys_kill(main, sig as c_int);
            continue;
        }
        loop {
            let mut status: c_int = 0;
            // SAFETY: wait4 into a stack integer.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_wait4,
                    -1,
                    &mut status as *mut c_int,
                    libc::WNOHANG,
                    std::ptr::null_mut::<libc::rusage>(),
                )
            };
            if r <= 0 {
                break;
            }
            if r as libc::pid_t == main {
                if libc::WIFEXITED(status) {
                    exit(libc::WEXITSTATUS(status));
                }
                exit(128 + libc::WTERMSIG(status));
            }
        }
    }
}

fn exec_program(p: &Prepared) -> ! {
    let e = &p.exec;
    let mut best = libc::ENOENT;
    let mut best_index = 0u32;
    for (i, prog) in e.programs.iter().enumerate() {
        // SAFETY: `argv` and `envp` are NUL-terminated arrays of pointers into strings owned
        // by `p`, prepared in the parent.
        unsafe {
            libc::syscall(
                libc::SYS_execve,
                prog.as_ptr(),
                e.argv.as_ptr(),
                e.envp.as_ptr(),
            );
        }
        let err = errno();
        // Like execvp: remember a permission problem over a plain "not found", and stop at
        // anything other than ENOENT/ENOTDIR/EACCES.
        match err {
            libc::ENOENT | libc::ENOTDIR => {}
            libc::EACCES => {
                if best != libc::EACCES {
                    best = err;
                    best_index = i as u32;
                }
            }
            _ => {
                best = err;
                best_index = i as u32;
                break;
            }
        }
    }
    set_errno(best);
    fail(p, step::EXEC, best_index)
}
