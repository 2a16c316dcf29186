//! Time-namespace offsets written by `write_time_offsets` for a real child (root).
#![allow(unsafe_code)]

mod common;

use std::time::Duration;

use common::{errno, fork, unshare};
use hutch_ns::time::{ClockOffset, TimeNsError, TimeOffsets, write_time_offsets};

fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Forks a child that creates a time namespace for its children, waits for "go", then
/// enters that namespace itself and reports `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME`.
fn timens_child() -> common::Forked {
    fork(|side| {
        side.send(unshare(libc::CLONE_NEWTIME));
        if side.wait() < 0 {
            return 1;
        }
        // SAFETY: open/setns/close with C strings in this single-threaded child.
        let entered = unsafe {
            let fd = libc::open(
                c"/proc/self/ns/time_for_children".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            let r = libc::setns(fd, libc::CLONE_NEWTIME);
            let e = if r == 0 { 0 } else { errno() };
            libc::close(fd);
            e
        };
        side.send(entered);
        side.send(clock_ns(libc::CLOCK_MONOTONIC));
        side.send(clock_ns(libc::CLOCK_BOOTTIME));
        // Stay alive (inside the namespace) until the test closes the pipe.
        side.wait();
        0
    })
}

#[test]
fn offsets_shift_the_childs_clocks() {
    let mut child = timens_child();
    assert_eq!(child.recv(), 0, "unshare(CLONE_NEWTIME)");
    let offsets = TimeOffsets {
        monotonic: ClockOffset::forward(Duration::from_secs(3 * 86_400)),
        boottime: ClockOffset::backward(Duration::from_millis(1500)),
    };
    write_time_offsets(child.id(), &offsets).unwrap();
    // The kernel reports back what was written.
    let read = std::fs::read_to_string(format!("/proc/{}/timens_offsets", child.pid)).unwrap();
    assert_eq!(read.parse::<TimeOffsets>().unwrap(), offsets, "{read:?}");

    let parent_mono = clock_ns(libc::CLOCK_MONOTONIC);
    let parent_boot = clock_ns(libc::CLOCK_BOOTTIME);
    child.go(1);
    assert_eq!(child.recv(), 0, "setns into the time namespace");
    let child_mono = child.recv();
    let child_boot = child.recv();
    assert_eq!(child.wait(), 0);

    // The child read its clocks after the parent: each difference is the offset plus a
    // little elapsed time (at most a couple of seconds, even on a loaded machine).
    let slack = 2_000_000_000i64;
    let mono_diff = child_mono - parent_mono;
    let want = 3 * 86_400 * 1_000_000_000i64;
    assert!(
        (want..want + slack).contains(&mono_diff),
        "monotonic moved by {mono_diff} ns"
    );
    let boot_diff = child_boot - parent_boot;
    let want = -1_500_000_000i64;
    assert!(
        (want..want + slack).contains(&boot_diff),
        "boottime moved by {boot_diff} ns"
    );
}

#[test]
fn offsets_cannot_be_written_once_the_namespace_is_entered() {
    let mut child = timens_child();
    assert_eq!(child.recv(), 0);
    child.go(1);
    assert_eq!(child.recv(), 0, "entered");
    let _ = child.recv();
    let _ = child.recv();
    // The child is still alive until reaped, and now lives in its time namespace, so its
    // time_for_children namespace has been entered: writes are refused.
    let offsets = TimeOffsets {
        monotonic: ClockOffset::forward(Duration::from_secs(10)),
        ..TimeOffsets::default()
    };
    let err = write_time_offsets(child.id(), &offsets).unwrap_err();
    match &err {
        TimeNsError::Write { pid, path, source } => {
            assert_eq!(*pid, child.id());
            assert!(path.ends_with("timens_offsets"));
            assert_eq!(source.raw_os_error(), Some(libc::EACCES), "{err}");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(&child.pid.to_string()));
    assert_eq!(child.wait(), 0);
}

#[test]
fn errors_name_the_pid() {
    // A pid that does not exist (beyond pid_max).
    let err = write_time_offsets(i32::MAX as u32, &TimeOffsets::default()).unwrap_err();
    let TimeNsError::Write { pid, source, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*pid, i32::MAX as u32);
    assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
    assert!(err.to_string().contains(&i32::MAX.to_string()));
}
