//! A caller that ignores `SIGCHLD` (its own parent set it so, or it asked the kernel to reap
//! its children) must not pass that on to the container's init: the kernel would then reap the
//! program behind the init's back, and the container would never end. Its own test binary,
//! because the disposition is process-wide.

use std::time::Duration;

#[test]
fn an_init_started_by_a_caller_that_ignores_sigchld_still_sees_its_program_end() {
    // SAFETY: changing a signal disposition of this test process (it has one test).
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let mut c = hutch::Container::new();
    c.init(true);
    // The program outlives our own SIG_IGN (restored below), so that its end is ours to reap.
    let child = c
        .command("/bin/sh")
        .arg("-c")
        .arg("sleep 0.5; exit 3")
        .spawn();
    // Waiting for our own children needs SIGCHLD back at its default.
    // SAFETY: as above.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    let mut child = child.unwrap();
    let st = child.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(st.and_then(|s| s.code()), Some(3), "{st:?}");
}
