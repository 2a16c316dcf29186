//! User notification: the listener fd travels to the parent over SCM_RIGHTS, and each
//! supervisor call works against the real kernel.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod common;

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use common::{ChildSide, Forked, fork, raw};
use hutch_seccomp::{
    Action, AddFd, Arch, Filter, InstallFlags, Listener, NotifyError, Readiness, Response, Syscall,
    recv_fd, send_fd, set_no_new_privs,
};

/// Forks a child that installs a filter notifying getppid and mkdirat, sends the listener
/// to us, and then runs `body`.
/// Tests run one at a time: one of them counts this process's open fds.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn supervised(flags: InstallFlags, body: impl FnOnce(&ChildSide)) -> (Forked, Listener) {
    let mut f = Filter::new(Action::Allow);
    f.rule(Syscall::by_name("getppid").unwrap(), Action::UserNotif, &[])
        .rule(Syscall::by_name("mkdirat").unwrap(), Action::UserNotif, &[]);
    let program = f.compile(Arch::native_family()).unwrap();
    let mut child = fork(|side| {
        if set_no_new_privs().is_err() {
            return 1;
        }
        // SAFETY: a forked, single-threaded child.
        let listener = match unsafe { program.install(flags | InstallFlags::NEW_LISTENER) } {
            Ok(Some(fd)) => fd,
            _ => return 2,
        };
        if send_fd(side.sock(), &listener).is_err() {
            return 3;
        }
        // The child must not keep the listener: its own notified calls would then wait on
        // a listener that is still open but never read here.
        drop(listener);
        body(side);
        0
    });
    let fd = recv_fd(&child.sock)
        .unwrap_or_else(|e| panic!("recv_fd: {e}; child exit {}", child.wait()));
    (child, Listener::new(fd).unwrap())
}

#[test]
fn respond_with_value_errno_and_continue() {
    let _serial = serial();
    let (mut child, mut listener) = supervised(InstallFlags::EMPTY, |side| {
        for _ in 0..3 {
            side.send(raw(libc::SYS_getppid, [1, 2, 3, 4, 5, 6]));
        }
    });
    assert_eq!(
        listener
            .wait(Some(std::time::Duration::from_secs(10)))
            .unwrap(),
        Readiness::Ready
    );
    let n = listener.recv().unwrap();
    assert_eq!(n.pid, child.pid as u32);
    assert_eq!(n.data.nr as i64, libc::SYS_getppid);
    assert_eq!(n.data.arch, Arch::native().audit_arch());
    assert_eq!(n.data.args, [1, 2, 3, 4, 5, 6]);
    assert!(listener.id_valid(n.id));
    listener.respond(n.id, Response::Value(4242)).unwrap();
    assert!(!listener.id_valid(n.id));
    assert_eq!(child.recv(), 4242);
    // Answering twice is refused.
    let e = listener.respond(n.id, Response::Value(1)).unwrap_err();
    assert!(
        matches!(
            &e,
            NotifyError::Io {
                op: "SECCOMP_IOCTL_NOTIF_SEND",
                ..
            }
        ),
        "{e}"
    );

    let n = listener.recv().unwrap();
    listener
        .respond(n.id, Response::Errno(libc::EXDEV))
        .unwrap();
    assert_eq!(child.recv(), -i64::from(libc::EXDEV));

    let n = listener.recv().unwrap();
    listener.respond(n.id, Response::Continue).unwrap();
    assert_eq!(child.recv(), i64::from(std::process::id()));
    assert_eq!(child.wait(), 0);
}

#[test]
fn read_path_argument_from_target_memory() {
    let _serial = serial();
    let (mut child, mut listener) = supervised(InstallFlags::EMPTY, |side| {
        let path = c"/nonexistent/hutch-notify-test/some/dir";
        side.send(raw(
            libc::SYS_mkdirat,
            [libc::AT_FDCWD as u64, path.as_ptr() as u64, 0o700, 0, 0, 0],
        ));
    });
    let n = listener.recv().unwrap();
    assert_eq!(n.data.nr as i64, libc::SYS_mkdirat);
    let path = listener.read_c_string(&n, n.data.args[1], 4096).unwrap();
    assert_eq!(path, b"/nonexistent/hutch-notify-test/some/dir");
    let mut head = [0u8; 12];
    assert_eq!(
        listener.read_memory(&n, n.data.args[1], &mut head).unwrap(),
        12
    );
    assert_eq!(&head, b"/nonexistent");
    // A bad address is an error, not a crash.
    let e = listener.read_memory(&n, 8, &mut head).unwrap_err();
    assert!(
        matches!(
            &e,
            NotifyError::Io {
                op: "process_vm_readv",
                ..
            }
        ),
        "{e}"
    );
    // Too short a limit: ENAMETOOLONG.
    let e = listener.read_c_string(&n, n.data.args[1], 5).unwrap_err();
    assert!(e.to_string().contains("process_vm_readv"), "{e}");
    listener
        .respond(n.id, Response::Errno(libc::EACCES))
        .unwrap();
    assert_eq!(child.recv(), -i64::from(libc::EACCES));
    assert_eq!(child.wait(), 0);
}

fn pipe_with(data: &[u8]) -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out-array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    use std::os::fd::FromRawFd;
    // SAFETY: new fds, ours.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    std::fs::File::from(w).write_all(data).unwrap();
    r
}

#[test]
fn addfd_installs_fds_in_the_target() {
    let _serial = serial();
    let (mut child, mut listener) = supervised(InstallFlags::EMPTY, |side| {
        // First: the new fd comes back as getppid's result.
        let fd = raw(libc::SYS_getppid, [0; 6]);
        side.send(fd);
        let mut buf = [0u8; 8];
        let n = raw(
            libc::SYS_read,
            [fd as u64, buf.as_mut_ptr() as u64, 8, 0, 0, 0],
        );
        side.send(n);
        side.send(i64::from(u32::from_ne_bytes([
            buf[0], buf[1], buf[2], buf[3],
        ])));
        // Second: at fd 100, answered separately.
        side.send(raw(libc::SYS_getppid, [0; 6]));
        side.send(raw(
            libc::SYS_fcntl,
            [100, libc::F_GETFD as u64, 0, 0, 0, 0],
        ));
    });
    let n = listener.recv().unwrap();
    let r = pipe_with(b"hutch");
    let target = listener
        .addfd(
            n.id,
            r.as_fd(),
            AddFd {
                target: None,
                cloexec: false,
                send: true,
            },
        )
        .unwrap();
    assert_eq!(child.recv(), i64::from(target));
    assert_eq!(child.recv(), 5);
    assert_eq!(child.recv(), i64::from(u32::from_ne_bytes(*b"hutc")));

    let n = listener.recv().unwrap();
    let at = listener
        .addfd(
            n.id,
            r.as_fd(),
            AddFd {
                target: Some(100),
                cloexec: true,
                send: false,
            },
        )
        .unwrap();
    assert_eq!(at, 100);
    listener.respond(n.id, Response::Value(0)).unwrap();
    assert_eq!(child.recv(), 0);
    assert_eq!(child.recv(), i64::from(libc::FD_CLOEXEC));
    assert_eq!(child.wait(), 0);
}

#[test]
fn notifications_of_dead_targets_are_invalid() {
    let _serial = serial();
    let (mut child, mut listener) = supervised(InstallFlags::WAIT_KILLABLE_RECV, |side| {
        side.send(raw(libc::SYS_getppid, [0; 6]));
    });
    let n = listener.recv().unwrap();
    assert!(listener.id_valid(n.id));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.pid, libc::SIGKILL) };
    assert_eq!(child.wait(), 128 + libc::SIGKILL);
    assert!(!listener.id_valid(n.id));
    let mut buf = [0u8; 4];
    assert!(
        listener
            .read_memory(&n, n.data.instruction_pointer, &mut buf)
            .is_err()
    );
    let e = listener.respond(n.id, Response::Value(0)).unwrap_err();
    match e {
        NotifyError::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(libc::ENOENT)),
        other => panic!("{other}"),
    }
}

#[test]
fn listener_fd_passing_leaves_nothing_behind() {
    let _serial = serial();
    let before = common::open_fds();
    {
        let (mut child, mut listener) = supervised(InstallFlags::EMPTY, |side| {
            side.send(raw(libc::SYS_getppid, [0; 6]));
        });
        let n = listener.recv().unwrap();
        listener.respond(n.id, Response::Continue).unwrap();
        child.recv();
        assert_eq!(child.wait(), 0);
        // With its only user gone, the listener reports that no notification will come.
        assert_eq!(
            listener
                .wait(Some(std::time::Duration::from_secs(5)))
                .unwrap(),
            Readiness::Closed
        );
    }
    assert_eq!(common::open_fds(), before);
}
