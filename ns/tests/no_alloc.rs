//! `PreparedMounts::apply` must not allocate: it runs between clone and exec in a child of
//! a multithreaded parent. A counting global allocator checks that in a forked child.
#![allow(unsafe_code)]

mod common;

use std::fs;
use std::sync::atomic::Ordering;

use common::{TempDir, fork, mount_points, unshare_and_report};
use hutch_ns::mount::{MountFailure, MountPlan, PreparedMounts, TmpfsOptions};

#[path = "common/counting.rs"]
mod counting;
use counting::ALLOCATIONS;

/// Applies `prepared` in a forked child that unshared `flags`; asserts success and that the
/// child allocated nothing during `apply`.
fn assert_applies_without_allocating(prepared: &PreparedMounts, flags: i32) {
    let mut child = fork(|side| {
        if !unshare_and_report(side, flags) {
            return 1;
        }
        let start = ALLOCATIONS.load(Ordering::SeqCst);
        // SAFETY: this forked child has its own mount namespace.
        let result = unsafe { prepared.apply() };
        let end = ALLOCATIONS.load(Ordering::SeqCst);
        side.send(result.map_or_else(|f| f.encode() as i64, |()| 0));
        side.send((end - start) as i64);
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    let applied = child.recv();
    if applied != 0 {
        let f = MountFailure::decode(applied as u64).expect("a mount failure");
        panic!("{}", prepared.describe(f));
    }
    assert_eq!(child.recv(), 0, "allocations during apply");
    assert_eq!(child.wait(), 0);
}

#[test]
fn hardened_host_tree_applies_without_allocating() {
    // Every new step: open_tree/move_mount binds (one under an earlier tmpfs), the recursive
    // read-only host tree, /dev without a rootfs (mqueue included), sysfs, cgroup2, masks.
    let before = mount_points();
    let dir = TempDir::new("noalloc-host");
    let (tmp, mnt) = (dir.path().join("tmp"), dir.path().join("mnt"));
    fs::create_dir_all(tmp.join("src")).unwrap();
    fs::create_dir(&mnt).unwrap();
    let mut plan = MountPlan::new();
    plan.readonly_root(true)
        .dev(true)
        .sysfs(true)
        .cgroup2(true)
        .tmpfs(&tmp, TmpfsOptions::default())
        .bind_ro(tmp.join("src"), &mnt)
        .tmpfs(tmp.join("made/here"), TmpfsOptions::default())
        .docker_defaults();
    let prepared = plan.prepare().unwrap();
    let flags = libc::CLONE_NEWNS | libc::CLONE_NEWCGROUP | libc::CLONE_NEWNET | libc::CLONE_NEWIPC;
    assert_applies_without_allocating(&prepared, flags);
    assert_eq!(mount_points(), before);
}

#[test]
fn minimal_root_applies_without_allocating() {
    let before = mount_points();
    let mut plan = MountPlan::minimal();
    plan.sysfs(true)
        .docker_defaults()
        .bind("/etc/hostname", "/etc/hostname");
    let prepared = plan.prepare().unwrap();
    assert_applies_without_allocating(&prepared, libc::CLONE_NEWNS | libc::CLONE_NEWNET);
    assert_eq!(mount_points(), before);
}

#[test]
fn apply_does_not_allocate() {
    let before = mount_points();
    let dir = TempDir::new("noalloc");
    let root = dir.path().join("rootfs");
    fs::create_dir_all(root.join("proc")).unwrap();
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    let mut plan = MountPlan::new();
    plan.rootfs(&root)
        .proc(true)
        .dev(true)
        .readonly_root(true)
        .tmpfs("/tmp", TmpfsOptions::scratch(Some(1 << 20), Some(0o1777)))
        .bind_ro(&data, "/a/b/data")
        .bind("/etc/hostname", "/etc/hostname")
        .docker_defaults();
    let prepared = plan.prepare().unwrap();
    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWNS) {
            return 1;
        }
        let start = ALLOCATIONS.load(Ordering::SeqCst);
        // SAFETY: this forked child has its own mount namespace.
        let result = unsafe { prepared.apply() };
        let end = ALLOCATIONS.load(Ordering::SeqCst);
        side.send(i64::from(result.is_ok()));
        side.send((end - start) as i64);
        // The counter itself works in the child.
        drop(std::hint::black_box(vec![1u8; 64]));
        side.send((ALLOCATIONS.load(Ordering::SeqCst) - end) as i64);
        0
    });
    assert_eq!(child.recv(), 0);
    assert_eq!(child.recv(), 1, "apply succeeded");
    assert_eq!(child.recv(), 0, "allocations during apply");
    assert!(child.recv() >= 2, "the counter counts");
    assert_eq!(child.wait(), 0);
    assert_eq!(mount_points(), before);
}
