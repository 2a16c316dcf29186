//! A caller that ignores `SIGCHLD` (its own parent set it so — the disposition is inherited
//! through exec — or it asked the kernel to reap its children) must still be able to wait for
//! its containers, and must not pass the disposition on to the container's init: the kernel
//! would then reap the program behind the init's back, and the container would never end.
//!
//! The caller's `SIGCHLD` stays ignored for the whole test: the kernel reaps a child whose exit
//! signal is `SIGCHLD` by itself then, and a wait for it fails with `ECHILD`. Linux 6.15 and
//! later keep the status for the pidfd; on older kernels the wait must say so. Its own test
//! binary, because the disposition is process-wide (also run in the VM, on 6.1:
//! `tests/vm_sigchld.rs`).

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

/// Whether the running kernel keeps the exit status of a process it reaped by itself for its
/// pidfd (`PIDFD_INFO_EXIT`, Linux 6.15).
fn kernel_keeps_exit_status() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (6, 15)
}

#[test]
fn a_caller_that_ignores_sigchld_waits_for_its_containers() {
    // SAFETY: changing a signal disposition of this test process (it has one test).
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };

    let exit_3 = |c: &hutch::Container| {
        c.command("/bin/sh")
            .arg("-c")
            .arg("exit 3")
            .spawn()
            .unwrap()
    };
    if !kernel_keeps_exit_status() {
        // Before 6.15 (the test VM's 6.1) the status of a program the kernel reaped is gone:
        // the wait says why and what to do, at once, instead of hanging or making a status up;
        // and the container still goes away completely.
        let mut child = exit_3(&hutch::Container::new());
        let err = child.wait_timeout(Duration::from_secs(10)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
        assert!(
            err.get_ref()
                .is_some_and(|e| e.is::<hutch::ExitStatusLost>()),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("ignores SIGCHLD") && text.contains("6.15") && text.contains("SIG_DFL"),
            "{text}"
        );
        drop(child);
        let mut c = hutch::Container::new();
        c.init(true);
        let mut child = c.command("/bin/true").spawn().unwrap();
        assert!(child.wait_timeout(Duration::from_secs(10)).is_err());
        return;
    }

    // Without an init: the program is the caller's child.
    let c = hutch::Container::new();
    let mut child = exit_3(&c);
    let st = child.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(st.and_then(|s| s.code()), Some(3), "{st:?}");

    // A program that ends before the caller waits: still there to be reaped.
    let mut child = c.command("/bin/true").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(child.wait().unwrap().code(), Some(0));

    // With an init, which must see its program end although the caller ignores SIGCHLD.
    let mut c = hutch::Container::new();
    c.init(true);
    let mut child = c
        .command("/bin/sh")
        .arg("-c")
        .arg("sleep 0.5; exit 4")
        .spawn()
        .unwrap();
    let st = child.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(st.and_then(|s| s.code()), Some(4), "{st:?}");

    // `output`, and a process exec'd into a running container.
    let out = hutch::Container::new()
        .command("/bin/sh")
        .arg("-c")
        .arg("echo hi; exit 5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(out.stdout, b"hi\n");
    let mut running = hutch::Container::new()
        .command("/bin/sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let st = running
        .exec("/bin/sh")
        .arg("-c")
        .arg("exit 6")
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(6));
    // Short-lived ones too: each must be waited for, none reaped before its pidfd is open.
    for i in 0..200 {
        let st = running.exec("/bin/true").status();
        assert_eq!(
            st.as_ref().ok().and_then(|s| s.code()),
            Some(0),
            "exec {i}: {st:?}"
        );
    }
    running.kill().unwrap();
    let st = running.wait().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGKILL), "{st:?}");
}
