//! `PreparedCaps::apply` must not allocate: it runs between clone and exec in a child of a
//! multithreaded parent. A counting global allocator checks that in forked children, on the
//! success path and on failure paths.
#![allow(unsafe_code)]

#[path = "../../ns/tests/common/mod.rs"]
mod common;

use std::sync::atomic::Ordering;

use common::fork;
use hutch_caps::thread::drop_bounding;
use hutch_caps::{CapSet, Capability, CapsPlan, CapsStep, PreparedCaps, SecureBits};

#[path = "../../ns/tests/common/counting.rs"]
mod counting;
use counting::ALLOCATIONS;

/// Applies `plan` in a forked child (after `before`) and returns (result step or 0,
/// allocations during apply).
fn count(plan: PreparedCaps, before: fn()) -> (i64, i64) {
    let mut child = fork(|side| {
        before();
        let start = ALLOCATIONS.load(Ordering::SeqCst);
        // SAFETY: a forked, single-threaded child.
        let result = unsafe { plan.apply() };
        let end = ALLOCATIONS.load(Ordering::SeqCst);
        side.send(result.map_or_else(|f| i64::from(f.step as u32), |()| 0));
        side.send((end - start) as i64);
        // The counter itself works in the child.
        drop(std::hint::black_box(vec![1u8; 64]));
        side.send((ALLOCATIONS.load(Ordering::SeqCst) - end) as i64);
        0
    });
    let outcome = (child.recv(), child.recv());
    assert!(child.recv() >= 2, "the counter counts");
    assert_eq!(child.wait(), 0);
    outcome
}

#[test]
fn apply_does_not_allocate() {
    // Every step: bounding drops, securebits with keep-caps, groups, gid, uid, capset,
    // ambient clear and raise, no_new_privs.
    let plan = CapsPlan::new(Capability::NetBindService | Capability::Kill)
        .uid(1000)
        .gid(1000)
        .clear_groups(true)
        .securebits(SecureBits::NO_CAP_AMBIENT_RAISE_LOCKED)
        .no_new_privs(true)
        .prepare()
        .unwrap();
    assert_eq!(count(plan, || {}), (0, 0));

    // Root with Docker's defaults (PR_SET_KEEPCAPS is not needed).
    let plan = CapsPlan::new(CapSet::docker_default())
        .no_new_privs(true)
        .prepare()
        .unwrap();
    assert_eq!(count(plan, || {}), (0, 0));
}

#[test]
fn failing_apply_does_not_allocate() {
    let plan = CapsPlan::new(CapSet::docker_default() | Capability::SysResource)
        .prepare()
        .unwrap();
    let dropped = || drop_bounding(Capability::SysResource).unwrap();
    assert_eq!(count(plan, dropped), (CapsStep::BoundingMissing as i64, 0));

    // A capset failure also computes which capability is missing.
    let plan = CapsPlan::new(CapSet::docker_default() | Capability::SysPtrace)
        .prepare()
        .unwrap();
    let lost = || {
        let mut st = hutch_caps::CapState::current().unwrap();
        st.permitted.remove(Capability::SysPtrace);
        st.effective.remove(Capability::SysPtrace);
        st.set().unwrap();
    };
    assert_eq!(count(plan, lost), (CapsStep::Capset as i64, 0));
}
