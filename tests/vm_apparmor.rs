//! AppArmor for real, and Landlock on an older ABI: inside the throw-away VM (Debian's 6.1
//! kernel, which has AppArmor as its default LSM and Landlock ABI 2).
//!
//! Loads a profile with `apparmor_parser` (Debian package `apparmor`, installed on the host:
//! the VM's root file system is the host's), runs a program under it through the LSM module
//! in a forked child (the label is written just before `execve`, as the spawn engine does),
//! and proves the profile is in force: `/proc/self/attr/current` names it and a write it
//! denies fails with `EACCES`.
//!
//! Run by `scripts/vm-tests.sh` (feature `vm-tests`); on its own:
//! `cargo test -p hutch --features vm-tests --test vm_apparmor --no-run` and
//! `scripts/run-in-vm.sh TEST-BINARY --test-threads=1`.
#![cfg(feature = "vm-tests")]
#![allow(unsafe_code)]
#![allow(dead_code)]

#[path = "../src/confine/landlock.rs"]
mod confine_landlock;
#[path = "../src/confine/lsm.rs"]
mod confine_lsm;

use std::ffi::{CString, OsStr};
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;
use std::sync::Once;

use confine_landlock::{Enforcement, Landlock, LandlockError};
use confine_lsm::{LsmError, PreparedLabel};

const PROFILE: &str = "hutch-test";
const DENIED: &str = "/tmp/hutch-aa-denied";
const ALLOWED: &str = "/tmp/hutch-aa-allowed";

/// Everything the profile allows, except writing `DENIED`.
const PROFILE_TEXT: &str = "profile hutch-test {
  /** rwlkm,
  /** ix,
  deny /tmp/hutch-aa-denied w,
}
";

/// The program run under the profile: prints its label, then the outcome of two writes.
const SCRIPT: &str = "import errno
print(open('/proc/self/attr/current').read().strip())
for p in ['/tmp/hutch-aa-denied', '/tmp/hutch-aa-allowed']:
    try:
        open(p, 'w').close()
        print('ok')
    except OSError as e:
        print(errno.errorcode[e.errno])
";

/// Mounts securityfs when the VM runner has not (only inside the VM: the kernel command line
/// names the runner's stage 2), and loads the test profile once.
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let cmdline = fs::read_to_string("/proc/cmdline").unwrap();
        assert!(
            cmdline.contains("vmstage2="),
            "vm_apparmor runs only inside the test VM (scripts/vm-tests.sh)"
        );
        if !Path::new("/sys/kernel/security/lsm").exists() {
            let st = Command::new("mount")
                .args(["-t", "securityfs", "securityfs", "/sys/kernel/security"])
                .status()
                .unwrap();
            assert!(st.success(), "mounting securityfs");
        }
        let lsm = fs::read_to_string("/sys/kernel/security/lsm").unwrap();
        assert!(
            lsm.contains("apparmor"),
            "AppArmor is not active in the VM: {lsm}"
        );
        let file = "/tmp/hutch-test.apparmor";
        fs::write(file, PROFILE_TEXT).unwrap();
        let out = Command::new("apparmor_parser")
            .args(["-r", file])
            .output()
            .expect("apparmor_parser (Debian package `apparmor`) on the host");
        assert!(
            out.status.success(),
            "apparmor_parser -r: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

fn errno() -> i32 {
    // SAFETY: reading this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// What the child's `/proc` is when it writes the label.
#[derive(Clone, Copy, PartialEq)]
enum Proc {
    /// The VM's own.
    Host,
    /// A fresh one, mounted by PID 1 of a new pid namespace in a new mount namespace (as in
    /// a container).
    Fresh,
    /// None: unmounted in a new mount namespace.
    Missing,
    /// The VM's own, from inside a new user namespace (as a container with a remapped
    /// user namespace writes it).
    UserNs,
}

/// Runs python3 with `SCRIPT` in a forked child under `label`, with no_new_privs set first
/// as a default container has it; returns its stdout lines and exit status (for a failed
/// `apply`: 100 + 10 * index + errno % 10).
fn run_under(label: &PreparedLabel, proc_: Proc) -> (Vec<String>, i32) {
    let _ = fs::remove_file(DENIED);
    let _ = fs::remove_file(ALLOWED);
    let prog = CString::new("/usr/bin/python3").unwrap();
    let script = CString::new(SCRIPT).unwrap();
    let argv = [
        c"python3".as_ptr(),
        c"-c".as_ptr(),
        script.as_ptr(),
        std::ptr::null(),
    ];
    let envp = [std::ptr::null()];
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a two-element array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors are new and ours.
    let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child makes raw system calls only, then execs or `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: raw calls with valid arguments prepared before the fork.
        unsafe {
            libc::dup2(tx.as_raw_fd(), 1);
            if proc_ == Proc::UserNs && libc::unshare(libc::CLONE_NEWUSER) != 0 {
                libc::_exit(125);
            }
            if matches!(proc_, Proc::Fresh | Proc::Missing) {
                let flags = libc::CLONE_NEWNS
                    | if proc_ == Proc::Fresh {
                        libc::CLONE_NEWPID
                    } else {
                        0
                    };
                if libc::unshare(flags) != 0
                    || libc::mount(
                        c"none".as_ptr(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ) != 0
                {
                    libc::_exit(121);
                }
            }
            match proc_ {
                Proc::Host | Proc::UserNs => {}
                Proc::Missing => {
                    if libc::umount2(c"/proc".as_ptr(), libc::MNT_DETACH) != 0 {
                        libc::_exit(122);
                    }
                }
                Proc::Fresh => {
                    // PID 1 of the new pid namespace mounts its /proc and goes on; this
                    // process waits for it and passes its status on.
                    let child = libc::fork();
                    if child > 0 {
                        let mut st = 0;
                        libc::waitpid(child, &mut st, 0);
                        libc::_exit(if libc::WIFEXITED(st) {
                            libc::WEXITSTATUS(st)
                        } else {
                            123
                        });
                    }
                    if child < 0
                        || libc::getpid() != 1
                        || libc::mount(
                            c"proc".as_ptr(),
                            c"/proc".as_ptr(),
                            c"proc".as_ptr(),
                            0,
                            std::ptr::null(),
                        ) != 0
                    {
                        libc::_exit(124);
                    }
                }
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(120);
            }
            if let Err((index, e)) = label.apply() {
                libc::_exit(100 + index as i32 * 10 + (e % 10));
            }
            libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(110 + errno() % 10);
        }
    }
    drop(tx);
    let mut out = Vec::new();
    let mut file = fs::File::from(rx);
    std::io::Read::read_to_end(&mut file, &mut out).unwrap();
    let mut status = 0;
    // SAFETY: reaping our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let lines = String::from_utf8_lossy(&out)
        .lines()
        .map(str::to_owned)
        .collect();
    (lines, status)
}

#[test]
fn a_program_runs_under_the_profile_and_its_denial_holds() {
    setup();
    let label = confine_lsm::prepare_apparmor(OsStr::new(PROFILE)).unwrap();
    assert_eq!(
        label.path(),
        Path::new("/proc/thread-self/attr/apparmor/exec"),
        "Linux 5.8+ has the AppArmor-specific attribute directory"
    );
    let (lines, status) = run_under(&label, Proc::Host);
    assert_eq!(status, 0, "child status; output {lines:?}");
    assert_eq!(lines, ["hutch-test (enforce)", "EACCES", "ok"]);
    assert!(!Path::new(DENIED).exists() && Path::new(ALLOWED).exists());
}

#[test]
fn the_label_is_written_through_a_fresh_proc_in_a_pid_namespace() {
    setup();
    let label = confine_lsm::prepare_apparmor(OsStr::new(PROFILE)).unwrap();
    let (lines, status) = run_under(&label, Proc::Fresh);
    assert_eq!(status, 0, "child status; output {lines:?}");
    assert_eq!(lines, ["hutch-test (enforce)", "EACCES", "ok"]);
}

#[test]
fn the_label_is_written_from_inside_a_user_namespace() {
    setup();
    let label = confine_lsm::prepare_apparmor(OsStr::new(PROFILE)).unwrap();
    let (lines, status) = run_under(&label, Proc::UserNs);
    assert_eq!(status, 0, "child status; output {lines:?}");
    assert_eq!(lines, ["hutch-test (enforce)", "EACCES", "ok"]);
}

#[test]
fn without_proc_the_child_reports_enoent_at_open() {
    setup();
    let label = confine_lsm::prepare_apparmor(OsStr::new(PROFILE)).unwrap();
    let (lines, status) = run_under(&label, Proc::Missing);
    assert!(libc::WIFEXITED(status), "{status:#x}");
    // index 0 (open), ENOENT (2)
    assert_eq!(
        libc::WEXITSTATUS(status),
        100 + libc::ENOENT % 10,
        "{lines:?}"
    );
    let e = label.failure(0, libc::ENOENT).to_string();
    assert!(e.contains("is /proc mounted inside the container?"), "{e}");
}

#[test]
fn unconfined_is_a_valid_profile() {
    setup();
    let label = confine_lsm::prepare_apparmor(OsStr::new("unconfined")).unwrap();
    let (lines, status) = run_under(&label, Proc::Host);
    assert_eq!(status, 0, "child status; output {lines:?}");
    assert_eq!(lines, ["unconfined", "ok", "ok"]);
}

#[test]
fn a_profile_that_is_not_loaded_is_refused_in_the_parent() {
    setup();
    let e = confine_lsm::prepare_apparmor(OsStr::new("hutch-not-loaded")).unwrap_err();
    assert!(matches!(e, LsmError::ProfileNotLoaded { .. }), "{e:?}");
    assert!(e.to_string().contains("apparmor_parser -r"), "{e}");
}

#[test]
fn selinux_is_not_the_active_lsm() {
    setup();
    let e = confine_lsm::prepare_selinux(OsStr::new("u:r:t:s0")).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("SELinux is not enabled on this kernel (/sys/kernel/security/lsm: ")
            && text.contains("apparmor"),
        "{text}"
    );
}

#[test]
fn landlock_on_an_older_abi_is_partial_and_reported() {
    // Debian's 6.1 has Landlock ABI 2: no truncate, device-ioctl or TCP rules.
    let mut rules = Landlock::new();
    rules.read_only("/usr").bind_tcp(80);
    let p = confine_landlock::prepare(&rules, 10).unwrap();
    let s = p.status();
    assert_eq!(s.kernel_abi(), Ok(2), "{s}");
    assert_eq!(s.enforcement(), Enforcement::Partial);
    assert_eq!(
        s.not_enforced(),
        [
            "truncate",
            "ioctl on devices",
            "TCP bind rules (need Landlock ABI 4)"
        ]
    );
    assert_eq!(s.handled_net(), 0);
    rules.require_abi(4);
    let e = confine_landlock::prepare(&rules, 10).unwrap_err();
    assert!(
        matches!(
            e,
            LandlockError::AbiTooOld {
                required: 4,
                kernel: 2
            }
        ),
        "{e:?}"
    );
    // What ABI 2 has is enforced: outside /usr nothing can be opened.
    let etc = CString::new("/etc/hostname").unwrap();
    // SAFETY: the child makes raw calls only and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above.
        unsafe {
            if p.apply(true).is_err() {
                libc::_exit(2);
            }
            let fd = libc::open(etc.as_ptr(), libc::O_RDONLY);
            libc::_exit(if fd < 0 && errno() == libc::EACCES {
                0
            } else {
                1
            });
        }
    }
    let mut status = 0;
    // SAFETY: reaping our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(status, 0, "open outside the rules must fail with EACCES");
}
