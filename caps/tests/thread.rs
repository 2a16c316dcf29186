//! The calling thread's sets, securebits and no_new_privs against the real kernel, and
//! `/proc/PID/status`. Destructive changes happen in forked children (or, to show that
//! sets are per thread, in a thread spawned for the purpose).
#![allow(unsafe_code)]

#[path = "../../ns/tests/common/mod.rs"]
mod common;

use common::fork;
use hutch_caps::thread::{
    ambient_contains, ambient_set, bounding_contains, bounding_set, clear_ambient, drop_bounding,
    lower_ambient, no_new_privs, raise_ambient, securebits, set_no_new_privs, set_securebits,
};
use hutch_caps::{
    CapSet, CapState, Capability, CapsError, ProcessCaps, SecureBits, kernel_last_cap,
};

fn err_no(e: &CapsError) -> i64 {
    let source = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::raw_os_error);
    i64::from(source.unwrap_or(-1))
}

#[test]
fn reading_agrees_with_proc_status() {
    // Read from /proc/thread-self and through the system calls on the same thread.
    let status = ProcessCaps::current_thread().unwrap();
    let state = CapState::current().unwrap();
    assert_eq!(state.effective, status.effective);
    assert_eq!(state.permitted, status.permitted);
    assert_eq!(state.inheritable, status.inheritable);
    assert_eq!(bounding_set().unwrap(), status.bounding);
    assert_eq!(ambient_set().unwrap(), status.ambient);
    assert_eq!(no_new_privs().unwrap(), status.no_new_privs);
    // Root: the test needs it, but not every capability (this VM's bounding set lacks
    // CAP_SYS_RESOURCE).
    assert!(
        state.effective.contains(Capability::Setpcap),
        "tests need root"
    );
    let sb = securebits().unwrap();
    assert!(!sb.contains(SecureBits::NOROOT), "{sb:?}");
}

#[test]
fn last_cap_matches_the_bounding_probe() {
    let last = kernel_last_cap().unwrap();
    assert!(
        last >= 40,
        "Linux 5.9+ has 41 capabilities; cap_last_cap is {last}"
    );
    assert_eq!(CapSet::all_known_to_kernel().unwrap(), CapSet::up_to(last));
    // bounding_set probes until EINVAL: it never reports numbers above the kernel's last.
    let bounding = bounding_set().unwrap();
    assert!(CapSet::up_to(last).is_superset(bounding));
    // Every capability this crate knows exists in the running kernel.
    for cap in Capability::ALL {
        assert_eq!(bounding_contains(cap).unwrap(), bounding.contains(cap));
    }
}

#[test]
fn other_process_status() {
    let mut child = fork(|side| {
        side.wait();
        0
    });
    let by_proc = ProcessCaps::read(child.id()).unwrap();
    let by_capget = CapState::of_thread(child.id()).unwrap();
    assert_eq!(by_proc.effective, by_capget.effective);
    assert_eq!(by_proc.permitted, by_capget.permitted);
    assert_eq!(by_proc.inheritable, by_capget.inheritable);
    assert_eq!(by_proc.bounding, bounding_set().unwrap());
    assert_eq!(by_proc.seccomp, Some(hutch_caps::SeccompMode::Disabled));
    child.go(1);
    assert_eq!(child.wait(), 0);
    // Gone: the errors name the pid and keep the errno.
    let e = ProcessCaps::read(child.id()).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("/proc/{}/status", child.id())),
        "{e}"
    );
    let e = CapState::of_thread(child.id()).unwrap_err();
    assert_eq!(err_no(&e), i64::from(libc::ESRCH), "{e}");
}

/// Sets are per thread: a change in a spawned thread shows in its own
/// `/proc/thread-self/status` and not in the test's thread.
#[test]
fn sets_are_per_thread() {
    let before = CapState::current().unwrap();
    assert!(before.effective.contains(Capability::NetRaw));
    let seen = std::thread::spawn(|| {
        let mut state = CapState::current().unwrap();
        state.effective.remove(Capability::NetRaw);
        state.set().unwrap();
        ProcessCaps::current_thread().unwrap().effective
    })
    .join()
    .unwrap();
    assert!(!seen.contains(Capability::NetRaw));
    assert_eq!(seen, before.effective - Capability::NetRaw);
    assert_eq!(CapState::current().unwrap(), before);
}

#[test]
fn bounding_drop_in_child() {
    let mut child = fork(|side| {
        side.send(i64::from(bounding_contains(Capability::NetRaw).unwrap()));
        side.send(drop_bounding(Capability::NetRaw).map_or_else(|e| err_no(&e), |()| 0));
        side.send(i64::from(bounding_contains(Capability::NetRaw).unwrap()));
        // Dropping something already absent is fine.
        side.send(drop_bounding(Capability::NetRaw).map_or_else(|e| err_no(&e), |()| 0));
        side.send(bounding_set().unwrap().bits() as i64);
        // Without CAP_SETPCAP in the effective set, dropping is refused.
        let mut state = CapState::current().unwrap();
        state.effective.remove(Capability::Setpcap);
        state.set().unwrap();
        side.send(drop_bounding(Capability::Kill).map_or_else(|e| err_no(&e), |()| 0));
        0
    });
    let bounding = bounding_set().unwrap();
    assert_eq!(child.recv(), 1);
    assert_eq!(child.recv(), 0);
    assert_eq!(child.recv(), 0);
    assert_eq!(child.recv(), 0);
    assert_eq!(child.recv() as u64, (bounding - Capability::NetRaw).bits());
    assert_eq!(child.recv(), i64::from(libc::EPERM));
    assert_eq!(child.wait(), 0);
}

#[test]
fn capset_rules_in_child() {
    let mut child = fork(|side| {
        let start = CapState::current().unwrap();
        // Lower permitted: allowed.
        let lower = CapState {
            effective: start.effective - Capability::SysPtrace,
            permitted: start.permitted - Capability::SysPtrace,
            inheritable: CapSet::empty(),
        };
        side.send(lower.set().map_or_else(|e| err_no(&e), |()| 0));
        side.send(CapState::current().unwrap().permitted.bits() as i64);
        // Raise it again: refused.
        side.send(start.set().map_or_else(|e| err_no(&e), |()| 0));
        // Effective beyond permitted: refused.
        let wide = CapState {
            effective: start.effective,
            ..lower
        };
        side.send(wide.set().map_or_else(|e| err_no(&e), |()| 0));
        0
    });
    let start = CapState::current().unwrap();
    assert_eq!(child.recv(), 0);
    assert_eq!(
        child.recv() as u64,
        (start.permitted - Capability::SysPtrace).bits()
    );
    assert_eq!(child.recv(), i64::from(libc::EPERM));
    assert_eq!(child.recv(), i64::from(libc::EPERM));
    assert_eq!(child.wait(), 0);
}

#[test]
fn ambient_in_child() {
    let mut child = fork(|side| {
        // Not inheritable yet: raising is refused.
        side.send(raise_ambient(Capability::Kill).map_or_else(|e| err_no(&e), |()| 0));
        let mut state = CapState::current().unwrap();
        state.inheritable = Capability::Kill | Capability::NetBindService;
        state.set().unwrap();
        side.send(raise_ambient(Capability::Kill).map_or_else(|e| err_no(&e), |()| 0));
        side.send(raise_ambient(Capability::NetBindService).map_or_else(|e| err_no(&e), |()| 0));
        side.send(i64::from(ambient_contains(Capability::Kill).unwrap()));
        side.send(ambient_set().unwrap().bits() as i64);
        side.send(ProcessCaps::current_thread().unwrap().ambient.bits() as i64);
        lower_ambient(Capability::Kill).unwrap();
        side.send(ambient_set().unwrap().bits() as i64);
        clear_ambient().unwrap();
        side.send(ambient_set().unwrap().bits() as i64);
        // Lowering the inheritable set lowers the ambient set with it.
        raise_ambient(Capability::NetBindService).unwrap();
        state.inheritable = CapSet::empty();
        state.set().unwrap();
        side.send(ambient_set().unwrap().bits() as i64);
        0
    });
    let both = (Capability::Kill | Capability::NetBindService).bits() as i64;
    assert_eq!(child.recv(), i64::from(libc::EPERM));
    assert_eq!(child.recv(), 0);
    assert_eq!(child.recv(), 0);
    assert_eq!(child.recv(), 1);
    assert_eq!(child.recv(), both);
    assert_eq!(child.recv(), both);
    assert_eq!(child.recv(), Capability::NetBindService.bit() as i64);
    assert_eq!(child.recv(), 0);
    assert_eq!(child.recv(), 0);
    assert_eq!(child.wait(), 0);
}

#[test]
fn securebits_and_no_new_privs_in_child() {
    let mut child = fork(|side| {
        side.send(i64::from(securebits().unwrap().bits()));
        set_securebits(SecureBits::KEEP_CAPS).unwrap();
        side.send(i64::from(securebits().unwrap().bits()));
        set_securebits(SecureBits::NOROOT | SecureBits::NOROOT_LOCKED).unwrap();
        side.send(i64::from(securebits().unwrap().bits()));
        // A locked bit cannot be cleared.
        side.send(set_securebits(SecureBits::empty()).map_or_else(|e| err_no(&e), |()| 0));
        side.send(i64::from(no_new_privs().unwrap()));
        set_no_new_privs().unwrap();
        side.send(i64::from(no_new_privs().unwrap()));
        side.send(i64::from(
            ProcessCaps::current_thread().unwrap().no_new_privs,
        ));
        0
    });
    assert_eq!(child.recv(), 0);
    assert_eq!(child.recv(), i64::from(SecureBits::KEEP_CAPS.bits()));
    assert_eq!(child.recv(), 0b11);
    assert_eq!(child.recv(), i64::from(libc::EPERM));
    assert_eq!(child.recv(), 0);
    assert_eq!(child.recv(), 1);
    assert_eq!(child.recv(), 1);
    assert_eq!(child.wait(), 0);
}
