//! Compiled programs installed in forked children: the kernel's verifier accepts them and
//! the kernel decides calls as the filter says. Needs root or works unprivileged with
//! no_new_privs (set here), so it always runs.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod common;

use common::{errno, fork, raw};
use hutch_seccomp::{
    Action, Arch, Cond, Filter, InstallFlags, Program, Syscall, X32_SYSCALL_BIT, set_no_new_privs,
};
use proptest::prelude::*;

fn sys(name: &str) -> Syscall {
    Syscall::by_name(name).unwrap()
}

/// Installs `program` in a forked child and runs `body` there; returns the child.
fn under(program: &Program, body: impl FnOnce(&common::ChildSide)) -> common::Forked {
    fork(|side| {
        if let Err(e) = set_no_new_privs() {
            side.send(-1000 - i64::from(e));
            return 1;
        }
        // SAFETY: a forked, single-threaded child that only makes raw calls afterwards.
        if let Err(e) = unsafe { program.install(InstallFlags::EMPTY) } {
            side.send(-1000 - i64::from(e));
            return 1;
        }
        body(side);
        0
    })
}

#[test]
fn errno_rules_decide_in_the_kernel() {
    let mut f = Filter::new(Action::Allow);
    f.rule(sys("getppid"), Action::Errno(libc::ENOTSUP as u16), &[])
        .rule(sys("mkdir"), Action::Errno(libc::EROFS as u16), &[])
        .rule(sys("mkdirat"), Action::Errno(libc::EROFS as u16), &[]);
    let program = f.compile(Arch::native_family()).unwrap();
    let mut child = under(&program, |side| {
        side.send(raw(libc::SYS_getppid, [0; 6]));
        let path = c"/nonexistent-hutch-seccomp-dir";
        side.send(raw(
            libc::SYS_mkdirat,
            [libc::AT_FDCWD as u64, path.as_ptr() as u64, 0o755, 0, 0, 0],
        ));
        side.send(raw(libc::SYS_getpid, [0; 6]));
    });
    assert_eq!(child.recv(), -i64::from(libc::ENOTSUP));
    assert_eq!(child.recv(), -i64::from(libc::EROFS));
    assert_eq!(child.recv(), i64::from(child.pid));
    assert_eq!(child.wait(), 0);
}

#[test]
fn sixty_four_bit_argument_checks() {
    let mut f = Filter::new(Action::Allow);
    // getppid ignores its arguments, so any register values reach the filter.
    f.rule(
        sys("getppid"),
        Action::Errno(11),
        &[Cond::eq(0, 0x2_0000_0001)],
    )
    .rule(
        sys("getppid"),
        Action::Errno(12),
        &[Cond::gt(1, 0xffff_ffff), Cond::lt(1, 0x1_0000_0005)],
    )
    .rule(
        sys("getppid"),
        Action::Errno(13),
        &[Cond::masked_eq(
            2,
            0xff00_0000_0000_00ff,
            0x1200_0000_0000_0034,
        )],
    )
    .rule(
        sys("getppid"),
        Action::Errno(14),
        &[Cond::ne(3, 0), Cond::le(3, 1), Cond::ge(4, 1 << 63)],
    );
    let program = f.compile(Arch::native_family()).unwrap();
    let calls: [[u64; 6]; 10] = [
        [0x2_0000_0001, 0, 0, 0, 0, 0],
        [0x1, 0, 0, 0, 0, 0],
        [0x2_0000_0000, 0, 0, 0, 0, 0],
        [0, 0x1_0000_0000, 0, 0, 0, 0],
        [0, 0x1_0000_0005, 0, 0, 0, 0],
        [0, 0xffff_ffff, 0, 0, 0, 0],
        [0, 0, 0x12ab_cdef_0123_4534, 0, 0, 0],
        [0, 0, 0x1300_0000_0000_0034, 0, 0, 0],
        [0, 0, 0, 1, 1 << 63, 0],
        [0, 0, 0, 2, u64::MAX, 0],
    ];
    let mut child = under(&program, |side| {
        for args in calls {
            side.send(raw(libc::SYS_getppid, args));
        }
    });
    let ppid = i64::from(std::process::id());
    for args in calls {
        let d = hutch_seccomp::SeccompData::new(Arch::native(), libc::SYS_getppid as u32, args);
        let want = match f.evaluate(Arch::native_family(), &d) {
            Action::Errno(e) => -i64::from(e),
            _ => ppid,
        };
        assert_eq!(child.recv(), want, "{args:x?}");
    }
    assert_eq!(child.wait(), 0);
}

#[test]
fn kill_and_trap_actions() {
    for (action, signal) in [
        (Action::KillProcess, libc::SIGSYS),
        (Action::KillThread, libc::SIGSYS),
        (Action::Trap, libc::SIGSYS),
    ] {
        let mut f = Filter::new(Action::Allow);
        f.rule(sys("getppid"), action, &[]);
        let program = f.compile(Arch::native_family()).unwrap();
        let mut child = under(&program, |side| {
            side.send(1);
            raw(libc::SYS_getppid, [0; 6]);
            side.send(2);
        });
        assert_eq!(child.recv(), 1);
        assert_eq!(child.try_recv(), None, "{action}");
        assert_eq!(child.wait(), 128 + signal, "{action}");
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x32_calls_get_the_foreign_action_unless_asked() {
    let mut f = Filter::new(Action::Allow);
    f.foreign_arch_action(Action::Errno(77));
    let only_64 = f.compile(&[Arch::X86_64]).unwrap();
    let with_x32 = f.compile(&[Arch::X86_64, Arch::X32]).unwrap();
    let x32_getppid = i64::from(X32_SYSCALL_BIT) | libc::SYS_getppid;
    let mut child = under(&only_64, |side| {
        side.send(raw(x32_getppid, [0; 6]));
        side.send(raw(libc::SYS_getppid, [0; 6]));
    });
    assert_eq!(child.recv(), -77);
    assert_eq!(child.recv(), i64::from(std::process::id()));
    assert_eq!(child.wait(), 0);
    let mut child = under(&with_x32, |side| {
        side.send(raw(x32_getppid, [0; 6]));
    });
    // Allowed by the filter: the kernel then runs it, or says ENOSYS without x32 support.
    let r = child.recv();
    assert!(
        r == i64::from(std::process::id()) || r == -i64::from(libc::ENOSYS),
        "{r}"
    );
    assert_eq!(child.wait(), 0);
}

#[test]
fn status_shows_filter_mode() {
    let program = Filter::new(Action::Allow)
        .compile(Arch::native_family())
        .unwrap();
    let mut child = under(&program, |side| {
        side.send(0);
        // Wait until the parent has looked.
        let mut b = [0u8; 1];
        // SAFETY: reading into a stack buffer.
        unsafe { libc::read(side.sock, b.as_mut_ptr().cast(), 1) };
    });
    assert_eq!(child.recv(), 0);
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.pid)).unwrap();
    assert!(status.lines().any(|l| l == "Seccomp:\t2"), "{status}");
    assert!(status.lines().any(|l| l == "NoNewPrivs:\t1"), "{status}");
    drop(std::mem::replace(
        &mut child.sock,
        std::fs::File::open("/dev/null").unwrap().into(),
    ));
    assert_eq!(child.wait(), 0);
}

#[test]
fn install_flags() {
    assert!(InstallFlags::LOG.supported().unwrap());
    assert!(InstallFlags::SPEC_ALLOW.supported().unwrap());
    assert!(InstallFlags::NEW_LISTENER.supported().unwrap());
    assert!(!InstallFlags::from_bits(1 << 30).supported().unwrap());
    let killable = InstallFlags::NEW_LISTENER | InstallFlags::WAIT_KILLABLE_RECV;
    let (major, minor) = common::kernel();
    // CI pins the feature with HUTCH_EXPECT_WAIT_KILLABLE_RECV=1 so that an old kernel
    // fails loudly there instead of taking the other branch.
    let pinned = std::env::var_os("HUTCH_EXPECT_WAIT_KILLABLE_RECV").is_some_and(|v| v == "1");
    if (major, minor) >= (5, 19) || pinned {
        assert!(
            killable.supported().unwrap(),
            "WAIT_KILLABLE_RECV missing on {major}.{minor}"
        );
    } else {
        println!("kernel {major}.{minor} < 5.19: WAIT_KILLABLE_RECV not expected");
        assert!(!killable.supported().unwrap());
    }
    for a in [
        Action::KillProcess,
        Action::Log,
        Action::UserNotif,
        Action::Allow,
    ] {
        assert!(a.is_available().unwrap(), "{a}");
    }
    let program = Filter::new(Action::Allow)
        .compile(Arch::native_family())
        .unwrap();
    for flags in [
        InstallFlags::LOG,
        InstallFlags::SPEC_ALLOW,
        InstallFlags::LOG | InstallFlags::SPEC_ALLOW,
    ] {
        let mut child = fork(|side| {
            let _ = set_no_new_privs();
            // SAFETY: forked child.
            let r = unsafe { program.install(flags) };
            side.send(match r {
                Ok(None) => 0,
                Ok(Some(_)) => 1,
                Err(e) => -i64::from(e),
            });
            0
        });
        assert_eq!(child.recv(), 0, "{flags:?}");
        assert_eq!(child.wait(), 0);
    }
    // Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses: drop the
    // capability in the child first (as root we have it).
    let mut child = fork(|side| {
        // SAFETY: capset with pointers to live arrays laid out as the kernel's structs;
        // it empties this child's capability sets.
        unsafe {
            // struct __user_cap_header_struct (version 3) and two empty data structs.
            let hdr: [u32; 2] = [0x2008_0522, 0];
            let data = [0u32; 6];
            libc::syscall(libc::SYS_capset, &hdr, data.as_ptr());
        }
        // SAFETY: forked child.
        let r = unsafe { program.install(InstallFlags::EMPTY) };
        side.send(match r {
            Ok(_) => 0,
            Err(e) => -i64::from(e),
        });
        0
    });
    assert_eq!(child.recv(), -i64::from(libc::EACCES));
    assert_eq!(child.wait(), 0);
    let _ = errno;
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::KillProcess),
        Just(Action::KillThread),
        Just(Action::Trap),
        (0u16..4096).prop_map(Action::Errno),
        any::<u16>().prop_map(Action::Trace),
        Just(Action::Log),
        Just(Action::Allow),
        Just(Action::UserNotif),
    ]
}

fn cond() -> impl Strategy<Value = Cond> {
    (0u8..6, 0usize..7, any::<u64>(), any::<u64>()).prop_map(|(arg, op, v, m)| match op {
        0 => Cond::eq(arg, v),
        1 => Cond::ne(arg, v),
        2 => Cond::lt(arg, v),
        3 => Cond::le(arg, v),
        4 => Cond::gt(arg, v),
        5 => Cond::ge(arg, v),
        _ => Cond::masked_eq(arg, m, v & m),
    })
}

const NAMES: &[&str] = &[
    "read",
    "write",
    "openat",
    "getppid",
    "_llseek",
    "set_tls",
    "arch_prctl",
    "clone3",
    "mmap2",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every generated program passes the kernel's verifier (any outcome after a
    /// successful install is fine: the filter may well kill the child's `_exit`).
    #[test]
    fn kernel_accepts_generated_programs(
        default in action(),
        foreign in action(),
        rules in proptest::collection::vec((0u32..460, action(), proptest::collection::vec(cond(), 0..6)), 0..200),
        arches in proptest::sample::subsequence(Arch::ALL.to_vec(), 1..=5),
        named in proptest::collection::vec(proptest::sample::select(NAMES), 0..40),
    ) {
        // Programs for any mix of architectures: the verifier does not care which
        // architecture runs them.
        let mut f = Filter::new(default);
        f.foreign_arch_action(foreign);
        for (nr, a, c) in &rules {
            f.rule(Syscall::by_number(arches[0], *nr), *a, c);
        }
        for name in named {
            f.rule_if_present(Syscall::by_name(name).unwrap(), Action::Allow, &[]);
        }
        let program = f.compile(&arches).unwrap();
        // A failed install exits with the errno; after a successful one the child exits
        // 0 or dies by a signal, whatever the filter does to its `_exit`.
        let mut child = fork(|_| {
            // std's SIGSEGV handler needs system calls the filter may deny; the default
            // action kills without any.
            // SAFETY: resetting signal dispositions in a forked child.
            unsafe {
                libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
            }
            if let Err(e) = set_no_new_privs() {
                return e;
            }
            // SAFETY: forked child; it exits right away.
            match unsafe { program.install(InstallFlags::EMPTY) } {
                Ok(_) => 0,
                Err(e) => e,
            }
        });
        let status = child.wait_status();
        prop_assert!(
            !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 0),
            "install failed: errno {} for a {}-instruction program",
            libc::WEXITSTATUS(status),
            program.len()
        );
    }
}

#[test]
fn docker_default_for_every_host_architecture_passes_the_verifier() {
    use hutch_seccomp::profile::{DOCKER_DEFAULT_CAPS, KernelVersion, Profile, ProfileContext};
    for arch in [Arch::X86_64, Arch::Aarch64, Arch::X86, Arch::Arm] {
        for caps in [0, DOCKER_DEFAULT_CAPS, u64::MAX >> 23] {
            let ctx = ProfileContext {
                caps,
                arch,
                kernel: KernelVersion::new(6, 18),
            };
            let program = Profile::docker_default().compile(&ctx).unwrap();
            // A failed install exits with the errno; after a successful one a
            // foreign-architecture program kills the child at its next system call.
            let mut child = fork(|_| {
                let r = set_no_new_privs().and_then(|()| {
                    // SAFETY: forked child that exits right away.
                    unsafe { program.install(InstallFlags::EMPTY) }
                });
                r.err().unwrap_or(0)
            });
            let status = child.wait_status();
            assert!(
                !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 0),
                "{arch} caps {caps:#x}: errno {}",
                libc::WEXITSTATUS(status)
            );
        }
    }
}

#[test]
fn docker_default_profile_in_the_kernel() {
    use hutch_seccomp::profile::{DOCKER_DEFAULT_CAPS, Profile, ProfileContext};
    let ctx = ProfileContext::current(DOCKER_DEFAULT_CAPS).unwrap();
    let program = Profile::docker_default().compile(&ctx).unwrap();
    let mut child = under(&program, |side| {
        side.send(raw(libc::SYS_getppid, [0; 6]));
        side.send(raw(libc::SYS_keyctl, [0; 6]));
        side.send(raw(libc::SYS_add_key, [0; 6]));
        side.send(raw(
            libc::SYS_unshare,
            [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0],
        ));
        side.send(raw(libc::SYS_bpf, [0; 6]));
        side.send(raw(libc::SYS_perf_event_open, [0; 6]));
        side.send(raw(libc::SYS_userfaultfd, [0; 6]));
        side.send(raw(libc::SYS_kexec_load, [0; 6]));
        side.send(raw(libc::SYS_open_by_handle_at, [0; 6]));
        side.send(raw(libc::SYS_clone3, [0; 6]));
        // socket(AF_VSOCK) is refused, AF_UNIX allowed.
        side.send(raw(
            libc::SYS_socket,
            [40, libc::SOCK_STREAM as u64, 0, 0, 0, 0],
        ));
        let fd = raw(
            libc::SYS_socket,
            [libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0],
        );
        side.send(i64::from(fd >= 0));
    });
    let eperm = -i64::from(libc::EPERM);
    assert_eq!(child.recv(), i64::from(std::process::id()));
    for name in [
        "keyctl",
        "add_key",
        "unshare",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "kexec_load",
        "open_by_handle_at",
    ] {
        assert_eq!(child.recv(), eperm, "{name}");
    }
    assert_eq!(child.recv(), -i64::from(libc::ENOSYS), "clone3");
    assert_eq!(child.recv(), eperm, "socket(AF_VSOCK)");
    assert_eq!(child.recv(), 1, "socket(AF_UNIX)");
    assert_eq!(child.wait(), 0);
}

#[test]
fn kernel_refuses_invalid_programs() {
    use hutch_seccomp::bpf::Insn;
    // A load outside seccomp_data, and a program without `ret` at its end: the verifier
    // refuses both, and the in-crate interpreter agrees.
    for insns in [
        vec![
            Insn::new(0x20, 0, 0, 64),
            Insn::new(0x06, 0, 0, 0x7fff_0000),
        ],
        vec![Insn::new(0x20, 0, 0, 0)],
    ] {
        let program = Program::from_instructions(insns).unwrap();
        assert!(program.run(&hutch_seccomp::SeccompData::default()).is_err());
        let mut child = fork(|side| {
            let _ = set_no_new_privs();
            // SAFETY: forked child.
            let r = unsafe { program.install(InstallFlags::EMPTY) };
            side.send(r.err().map_or(0, i64::from));
            0
        });
        assert_eq!(child.recv(), i64::from(libc::EINVAL));
        assert_eq!(child.wait(), 0);
    }
}
