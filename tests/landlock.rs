//! Landlock and LSM-label layers against the real kernel, module-level: the modules are
//! compiled into this test binary (they are self-contained), prepared here and applied in a
//! forked child, which then tries what the rules allow and deny and reports the errnos.
//!
//! Needs root and a kernel with Landlock ABI 4 or later (Linux 6.7). CI pins the expected ABI
//! with `HUTCH_TEST_LANDLOCK_ABI` so that a kernel without it fails here instead of passing
//! quietly.
#![allow(unsafe_code)]
#![allow(dead_code)]

#[path = "../src/confine/landlock.rs"]
mod confine_landlock;
#[path = "../src/confine/lsm.rs"]
mod confine_lsm;

use std::ffi::{CString, OsStr};
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use confine_landlock::{
    Enforcement, LANDLOCK_ABI_KNOWN, Landlock, LandlockError, PreparedLandlock, prepare,
};
use confine_lsm::LsmError;

// ---------------------------------------------------------------------------------------------
// A counting allocator, to prove that `apply` allocates nothing.

#[path = "../ns/tests/common/counting.rs"]
mod counting;
use counting::ALLOCATIONS;

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A directory under the target dir's tmp, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "hutch-landlock-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn cstr(p: impl AsRef<Path>) -> CString {
    CString::new(p.as_ref().as_os_str().as_bytes()).unwrap()
}

fn errno() -> i64 {
    // SAFETY: reading this thread's errno slot.
    i64::from(unsafe { *libc::__errno_location() })
}

/// The result of a raw call: 0 on success, else errno.
fn result(r: libc::c_long) -> i64 {
    if r < 0 { errno() } else { 0 }
}

/// Opens `path` with `flags` (and mode 0600); 0 or errno. Closes what it opened.
fn try_open(path: &CString, flags: libc::c_int) -> i64 {
    // SAFETY: open on a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    if fd < 0 {
        return errno();
    }
    // SAFETY: closing what we opened.
    unsafe { libc::close(fd) };
    0
}

/// Runs `body` in a forked child that keeps every descriptor; `body` sends values with
/// `send`. Returns what it sent and its exit status.
fn in_child(body: impl FnOnce(&dyn Fn(i64)) -> i32) -> (Vec<i64>, i32) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a two-element array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors are new and ours.
    let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child runs `body` and `_exit`s; glibc's fork resets the allocator's locks.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        drop(rx);
        let send = |v: i64| {
            // SAFETY: writing 8 bytes from a stack value.
            unsafe { libc::write(tx.as_raw_fd(), (&v as *const i64).cast(), 8) };
        };
        let code =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&send))).unwrap_or(101);
        // SAFETY: ends the child without the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    drop(tx);
    let mut out = Vec::new();
    loop {
        let mut v = 0i64;
        // SAFETY: reading 8 bytes into a stack value.
        let n = unsafe { libc::read(rx.as_raw_fd(), (&mut v as *mut i64).cast(), 8) };
        if n == 8 {
            out.push(v);
        } else if n == 0 {
            break;
        } else if n < 0 && errno() != i64::from(libc::EINTR) {
            panic!("read from child: {}", errno());
        }
    }
    let mut status = 0;
    // SAFETY: reaping our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    (out, status)
}

fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on a number.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Tests that count descriptors run alone; the others share.
static FDS: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    FDS.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    FDS.write().unwrap_or_else(|e| e.into_inner())
}

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Every test needs Landlock with TCP rules; fail loudly (not skip) where it is missing, and
/// check the pinned ABI when CI sets one.
fn require_landlock(prepared: &PreparedLandlock) {
    let s = prepared.status();
    let kernel = s
        .kernel_abi()
        .unwrap_or_else(|why| panic!("these tests need Landlock: {why}"));
    if let Ok(pinned) = std::env::var("HUTCH_TEST_LANDLOCK_ABI") {
        assert_eq!(kernel.to_string(), pinned, "HUTCH_TEST_LANDLOCK_ABI");
    }
    assert!(
        kernel >= 4,
        "these tests need Landlock ABI 4 (Linux 6.7), the kernel has {kernel}"
    );
}

// ---------------------------------------------------------------------------------------------
// Landlock.

#[test]
fn file_system_rules_allow_and_deny() {
    let _guard = exclusive();
    let dir = TempDir::new("fs");
    let (ro, rw, other) = (
        dir.path().join("ro"),
        dir.path().join("rw"),
        dir.path().join("other"),
    );
    for d in [&ro, &rw, &other] {
        fs::create_dir(d).unwrap();
        fs::write(d.join("f"), "data").unwrap();
    }
    let single = dir.path().join("single");
    fs::write(&single, "one file").unwrap();
    let mut rules = Landlock::new();
    rules.read_only(&ro).read_write(&rw).read_only(&single);
    let before = open_fds();
    let prepared = prepare(&rules, 10).unwrap();
    require_landlock(&prepared);
    assert_eq!(prepared.status().enforcement(), Enforcement::Full);

    let (ro_f, rw_f, other_f) = (
        cstr(ro.join("f")),
        cstr(rw.join("f")),
        cstr(other.join("f")),
    );
    let (rw_new, rw_dir, other_dir) = (
        cstr(rw.join("new")),
        cstr(rw.join("d")),
        cstr(other.join("d")),
    );
    let (ro_dir, single_c) = (cstr(&ro), cstr(&single));
    let (got, status) = in_child(|send| {
        if prepared.apply(true).is_err() {
            return 2;
        }
        send(try_open(&ro_f, libc::O_RDONLY));
        send(try_open(&ro_f, libc::O_WRONLY));
        send(try_open(&ro_dir, libc::O_RDONLY | libc::O_DIRECTORY));
        send(try_open(&single_c, libc::O_RDONLY));
        send(try_open(&single_c, libc::O_WRONLY));
        send(try_open(&other_f, libc::O_RDONLY));
        send(try_open(&rw_f, libc::O_RDWR));
        send(try_open(&rw_new, libc::O_WRONLY | libc::O_CREAT));
        // SAFETY: mkdir on NUL-terminated paths.
        send(result(
            unsafe { libc::mkdir(rw_dir.as_ptr(), 0o700) } as libc::c_long
        ));
        // SAFETY: as above.
        send(result(
            unsafe { libc::mkdir(other_dir.as_ptr(), 0o700) } as libc::c_long
        ));
        0
    });
    assert_eq!(status, 0, "child status");
    let eacces = i64::from(libc::EACCES);
    assert_eq!(
        got,
        [0, eacces, 0, 0, eacces, eacces, 0, 0, 0, eacces],
        "ro read, ro write, ro dir, single file read, single write, other read, rw rdwr, \
         rw create, rw mkdir, other mkdir"
    );
    assert!(rw.join("new").exists() && rw.join("d").is_dir() && !other.join("d").exists());
    drop(prepared);
    assert_eq!(open_fds(), before, "descriptors left behind");
}

#[test]
fn mounts_made_before_apply_are_covered_by_the_rules_above_them() {
    // Landlock walks from a file up to the root of the mount namespace, crossing mount
    // points: a tmpfs mounted inside a read-write directory (as a container mounts its own
    // /tmp under a rootfs that has a rule) is writable, one mounted elsewhere is not.
    let _guard = shared();
    let dir = TempDir::new("mounts");
    let (rw, other) = (dir.path().join("rw"), dir.path().join("other"));
    for d in [rw.join("mnt"), other.join("mnt")] {
        fs::create_dir_all(d).unwrap();
    }
    let mut rules = Landlock::new();
    rules.read_write(&rw);
    let prepared = prepare(&rules, 10).unwrap();
    require_landlock(&prepared);
    let (in_rw, in_other) = (cstr(rw.join("mnt")), cstr(other.join("mnt")));
    let (f_rw, f_other) = (cstr(rw.join("mnt/f")), cstr(other.join("mnt/f")));
    let (got, status) = in_child(|send| {
        // SAFETY: a private mount namespace of this forked child; tmpfs mounts in it.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
            {
                return 3;
            }
            for target in [&in_rw, &in_other] {
                if libc::mount(
                    c"tmpfs".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                ) != 0
                {
                    return 4;
                }
            }
        }
        if prepared.apply(true).is_err() {
            return 2;
        }
        send(try_open(&f_rw, libc::O_WRONLY | libc::O_CREAT));
        send(try_open(&f_other, libc::O_WRONLY | libc::O_CREAT));
        // Mounting is denied once Landlock is in force.
        // SAFETY: a mount attempt with valid strings.
        send(result(unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                in_rw.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        } as libc::c_long));
        0
    });
    assert_eq!(status, 0, "child status");
    assert_eq!(
        got,
        [0, i64::from(libc::EACCES), i64::from(libc::EPERM)],
        "create under rw/mnt, create under other/mnt, mount after apply"
    );
    // The mounts were the child's own.
    assert!(!rw.join("mnt/f").exists());
}

#[test]
fn tcp_port_rules_in_a_new_network_namespace() {
    let _guard = shared();
    let mut rules = Landlock::new();
    rules.read_only("/").bind_tcp(4000).connect_tcp(4000);
    let prepared = prepare(&rules, 10).unwrap();
    require_landlock(&prepared);
    assert_eq!(prepared.status().handled_net(), 3);

    let (got, status) = in_child(|send| {
        // A network namespace of our own: nothing here touches the host's network.
        // SAFETY: unshare in a single-threaded forked child.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return 3;
        }
        if !loopback_up() {
            return 4;
        }
        if prepared.apply(true).is_err() {
            return 2;
        }
        let tcp = |port: u16, connect: bool| -> i64 {
            // SAFETY: a fresh socket, bound or connected with a valid sockaddr_in, closed.
            unsafe {
                let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                if s < 0 {
                    return -errno();
                }
                let addr = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: port.to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                let p = (&addr as *const libc::sockaddr_in).cast();
                let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                let r = if connect {
                    libc::connect(s, p, len)
                } else {
                    let r = libc::bind(s, p, len);
                    if r == 0 {
                        libc::listen(s, 1);
                        // Keep the listener open for the connect below.
                        return 0;
                    }
                    r
                };
                let e = if r < 0 { errno() } else { 0 };
                libc::close(s);
                e
            }
        };
        send(tcp(4001, false));
        send(tcp(4000, false));
        send(tcp(4002, true));
        send(tcp(4000, true));
        0
    });
    assert_eq!(status, 0, "child status");
    let eacces = i64::from(libc::EACCES);
    assert_eq!(
        got,
        [eacces, 0, eacces, 0],
        "bind 4001 (denied), bind 4000, connect 4002 (denied), connect 4000"
    );
}

/// Brings `lo` up in the current (new) network namespace.
fn loopback_up() -> bool {
    // SAFETY: an ifreq naming lo, SIOCGIFFLAGS/SIOCSIFFLAGS on a datagram socket, closed.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return false;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, c) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *c as libc::c_char;
        }
        let ok = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut req) == 0 && {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(s, libc::SIOCSIFFLAGS, &mut req) == 0
        };
        libc::close(s);
        ok
    }
}

#[test]
fn programs_run_only_from_allowed_paths_and_from_a_memfd() {
    let _guard = shared();
    // The program and the dynamic loader and libraries come from /usr (Debian: /bin, /lib and
    // /lib64 are links into it). A copy of `true` outside the rules may not run; the same
    // bytes from a memfd (how the spawn engine starts its init) may.
    let dir = TempDir::new("exec");
    let outside = dir.path().join("true");
    fs::copy("/bin/true", &outside).unwrap();
    let bytes = fs::read("/bin/true").unwrap();
    let mut rules = Landlock::new();
    rules.read_only("/usr");
    let prepared = prepare(&rules, 10).unwrap();
    require_landlock(&prepared);
    let (t, o) = (cstr("/usr/bin/true"), cstr(&outside));
    let run = |how: i32| {
        let (t, o, bytes, prepared) = (&t, &o, &bytes, &prepared);
        in_child(move |send| {
            if prepared.apply(true).is_err() {
                return 2;
            }
            let argv = [c"true".as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null()];
            // SAFETY: execve/execveat with NUL-terminated argv and envp; memfd_create and a
            // write of the program's bytes.
            unsafe {
                match how {
                    0 => libc::execve(t.as_ptr(), argv.as_ptr(), envp.as_ptr()),
                    1 => libc::execve(o.as_ptr(), argv.as_ptr(), envp.as_ptr()),
                    _ => {
                        let m = libc::memfd_create(c"true".as_ptr(), libc::MFD_CLOEXEC);
                        if m < 0 || libc::write(m, bytes.as_ptr().cast(), bytes.len()) < 0 {
                            return 5;
                        }
                        libc::syscall(
                            libc::SYS_execveat,
                            m,
                            c"".as_ptr(),
                            argv.as_ptr(),
                            envp.as_ptr(),
                            libc::AT_EMPTY_PATH,
                        ) as i32
                    }
                }
            };
            send(errno());
            1
        })
    };
    assert_eq!(run(0), (vec![], 0), "/usr/bin/true runs");
    assert_eq!(
        run(1),
        (vec![i64::from(libc::EACCES)], 256),
        "a copy outside /usr"
    );
    assert_eq!(run(2), (vec![], 0), "the same program from a memfd");
}

#[test]
fn apply_allocates_nothing() {
    let _guard = shared();
    let dir = TempDir::new("alloc");
    let mut rules = Landlock::new();
    rules.read_only("/usr").read_write(dir.path()).bind_tcp(1);
    let prepared = prepare(&rules, 10).unwrap();
    require_landlock(&prepared);
    let (got, status) = in_child(|send| {
        let start = ALLOCATIONS.load(Ordering::SeqCst);
        let r = prepared.apply(true);
        let end = ALLOCATIONS.load(Ordering::SeqCst);
        send(r.map_or_else(i64::from, |()| 0));
        send((end - start) as i64);
        0
    });
    assert_eq!(
        (got, status),
        (vec![0, 0], 0),
        "apply's result and allocations"
    );
}

#[test]
fn no_new_privs_is_set_only_when_the_kernel_demands_it() {
    let _guard = shared();
    let mut rules = Landlock::new();
    rules.read_only("/");
    let prepared = prepare(&rules, 10).unwrap();
    require_landlock(&prepared);
    let nnp = || {
        // SAFETY: prctl with integer arguments.
        i64::from(unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) })
    };
    // Root with CAP_SYS_ADMIN: Landlock without no_new_privs.
    let (got, _) = in_child(|send| {
        send(prepared.apply(true).map_or_else(i64::from, |()| 0));
        send(nnp());
        0
    });
    assert_eq!(
        got,
        [0, 0],
        "with CAP_SYS_ADMIN: applied, no_new_privs untouched"
    );
    // Without CAP_SYS_ADMIN in the effective set, no_new_privs is needed and set.
    let (got, _) = in_child(|send| {
        send(drop_effective_cap(21 /* CAP_SYS_ADMIN */));
        send(prepared.apply(true).map_or_else(i64::from, |()| 0));
        send(nnp());
        0
    });
    assert_eq!(
        got,
        [0, 0, 1],
        "without CAP_SYS_ADMIN: applied, no_new_privs set"
    );
    // A container that keeps no_new_privs off: the EPERM is the answer, never a silent
    // no_new_privs.
    let (got, _) = in_child(|send| {
        send(drop_effective_cap(21 /* CAP_SYS_ADMIN */));
        send(prepared.apply(false).map_or_else(i64::from, |()| 0));
        send(nnp());
        0
    });
    assert_eq!(
        got,
        [0, i64::from(libc::EPERM), 0],
        "no_new_privs not allowed: EPERM, no_new_privs untouched"
    );
}

/// Clears one capability from this thread's effective set (raw capget/capset, version 3).
fn drop_effective_cap(cap: u32) -> i64 {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and two data words.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()) != 0 {
            return errno();
        }
        d[(cap / 32) as usize].effective &= !(1 << (cap % 32));
        result(libc::syscall(
            libc::SYS_capset,
            &mut h as *mut Header,
            d.as_ptr(),
        ))
    }
}

#[test]
fn ruleset_descriptor_is_cloexec_above_the_floor_and_closed_on_drop() {
    let _guard = exclusive();
    let mut rules = Landlock::new();
    rules.read_only("/usr");
    let prepared = prepare(&rules, 100).unwrap();
    require_landlock(&prepared);
    let fd = prepared.fd().expect("a ruleset descriptor");
    assert!(fd >= 100, "fd {fd} below the floor");
    // SAFETY: F_GETFD on a descriptor we hold.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    drop(prepared);
    assert!(!fd_is_open(fd), "ruleset descriptor still open after drop");
}

#[test]
fn a_missing_path_is_named() {
    let _guard = exclusive();
    let missing = Path::new("/nonexistent/hutch-landlock");
    let mut rules = Landlock::new();
    rules.read_only("/usr").read_write(missing);
    let before = open_fds();
    let e = prepare(&rules, 10).unwrap_err();
    match &e {
        LandlockError::Path { path, source } => {
            assert_eq!(path, missing);
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "cannot open Landlock rule path /nonexistent/hutch-landlock"
    );
    assert_eq!(open_fds(), before, "descriptors left behind");
}

#[test]
fn required_abi_is_checked() {
    let _guard = shared();
    let mut rules = Landlock::new();
    rules.read_only("/usr").require_abi(LANDLOCK_ABI_KNOWN + 1);
    let e = prepare(&rules, 10).unwrap_err();
    assert!(
        matches!(e, LandlockError::AbiUnknown { required, known }
            if required == LANDLOCK_ABI_KNOWN + 1 && known == LANDLOCK_ABI_KNOWN),
        "{e}"
    );
    let kernel = prepare(&Landlock::new(), 10)
        .unwrap()
        .status()
        .kernel_abi()
        .expect("Landlock");
    rules.require_abi(kernel.min(LANDLOCK_ABI_KNOWN));
    let p = prepare(&rules, 10).unwrap();
    assert_eq!(p.status().abi(), kernel.min(LANDLOCK_ABI_KNOWN));
    // best_effort() undoes the requirement.
    rules.require_abi(LANDLOCK_ABI_KNOWN + 1).best_effort();
    prepare(&rules, 10).unwrap();
}

// ---------------------------------------------------------------------------------------------
// LSM labels: on a kernel without AppArmor or SELinux, the clear error.

fn active_lsms() -> String {
    // Empty when securityfs is not mounted (the module then asks lsm_list_modules(2)).
    fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default()
}

#[test]
fn apparmor_absent_is_a_clear_error() {
    let _guard = shared();
    if active_lsms().contains("apparmor") || Path::new("/sys/module/apparmor").exists() {
        println!("AppArmor is present here: tests/vm_apparmor.rs covers it");
        return;
    }
    let e = confine_lsm::prepare_apparmor(OsStr::new("hutch-test")).unwrap_err();
    assert!(matches!(e, LsmError::NotEnabled { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.starts_with("AppArmor is not enabled on this kernel ("),
        "{text}"
    );
    assert!(text.contains("landlock"), "names the active LSMs: {text}");
    assert!(
        text.contains("apparmor=1 security=apparmor"),
        "says how: {text}"
    );
    println!("{text}");
}

#[test]
fn selinux_absent_is_a_clear_error() {
    let _guard = shared();
    if active_lsms().contains("selinux") || Path::new("/sys/fs/selinux/enforce").exists() {
        println!("SELinux is present here; this test covers its absence only");
        return;
    }
    let label = OsStr::new("system_u:system_r:container_t:s0:c1,c2");
    for e in [
        confine_lsm::prepare_selinux(label).unwrap_err(),
        confine_lsm::selinux_mount_option(label).unwrap_err(),
    ] {
        let text = e.to_string();
        assert!(matches!(e, LsmError::NotEnabled { .. }), "{e:?}");
        assert!(
            text.starts_with("SELinux is not enabled on this kernel ("),
            "{text}"
        );
        assert!(text.contains("capability"), "names the active LSMs: {text}");
        println!("{text}");
    }
}
