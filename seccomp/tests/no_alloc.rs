//! `Program::install`, `set_no_new_privs` and `send_fd` must not allocate: they run
//! between fork/clone and exec in a child of a multithreaded parent. A counting global
//! allocator checks that in a forked child.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod common;

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use common::fork;
use hutch_seccomp::profile::{DOCKER_DEFAULT_CAPS, Profile, ProfileContext};
use hutch_seccomp::{InstallFlags, recv_fd, send_fd, set_no_new_privs};

#[path = "../../ns/tests/common/counting.rs"]
mod counting;
use counting::ALLOCATIONS;

#[test]
fn install_and_send_fd_do_not_allocate() {
    let ctx = ProfileContext::current(DOCKER_DEFAULT_CAPS).unwrap();
    let program = Profile::docker_default().compile(&ctx).unwrap();
    let mut child = fork(|side| {
        let start = ALLOCATIONS.load(Ordering::SeqCst);
        let nnp = set_no_new_privs();
        // SAFETY: a forked, single-threaded child.
        let installed = unsafe { program.install(InstallFlags::NEW_LISTENER | InstallFlags::LOG) };
        let sent = match &installed {
            Ok(Some(fd)) => send_fd(side.sock(), fd),
            _ => Err(0),
        };
        let end = ALLOCATIONS.load(Ordering::SeqCst);
        side.send(i64::from(nnp.is_ok()));
        side.send(i64::from(matches!(installed, Ok(Some(_)))));
        side.send(i64::from(sent.is_ok()));
        side.send((end - start) as i64);
        // The counter itself works in the child.
        drop(std::hint::black_box(vec![1u8; 64]));
        side.send((ALLOCATIONS.load(Ordering::SeqCst) - end) as i64);
        0
    });
    assert_eq!(child.recv(), 1, "no_new_privs");
    assert_eq!(child.recv(), 1, "install with a listener");
    assert_eq!(child.recv(), 1, "send_fd");
    assert_eq!(child.recv(), 0, "allocations in the child");
    assert!(child.recv() >= 2, "the counter counts");
    let listener = recv_fd(&child.sock).unwrap();
    assert!(listener.as_raw_fd() > 2);
    assert_eq!(child.wait(), 0);
}
