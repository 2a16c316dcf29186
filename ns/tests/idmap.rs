//! Id maps written for real children in new user namespaces (run as root; one test drops
//! to `nobody` to take the unprivileged path).
#![allow(unsafe_code)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{Forked, TempDir, c, fork, try_open, unshare};
use hutch_ns::idmap::{
    IdKind, IdMap, IdMapError, IdMapMethod, IdMapWriter, InvalidIdMap, SetGroups, write_id_maps,
};

/// A child that unshares a user namespace, waits, switches to uid/gid 0 inside (as a
/// runtime does before exec; its host ids are only mapped after that), reports its uid and
/// gid and whether it could create `file`, then waits again.
fn userns_child(file: &Path) -> Forked {
    let file = c(file);
    let child = fork(move |side| {
        side.send(unshare(libc::CLONE_NEWUSER));
        if side.wait() < 0 {
            return 1;
        }
        // SAFETY: credential calls in this forked, single-threaded child.
        let switched = unsafe { libc::setresgid(0, 0, 0) == 0 && libc::setresuid(0, 0, 0) == 0 };
        if !switched {
            return 2;
        }
        // SAFETY: getuid/getgid cannot fail.
        side.send(i64::from(unsafe { libc::getuid() }));
        // SAFETY: as above.
        side.send(i64::from(unsafe { libc::getgid() }));
        side.send(try_open(&file, libc::O_WRONLY | libc::O_CREAT));
        side.wait();
        0
    });
    assert_eq!(child.recv(), 0, "unshare(CLONE_NEWUSER)");
    child
}

fn proc_file(pid: i32, name: &str) -> String {
    fs::read_to_string(format!("/proc/{pid}/{name}")).unwrap()
}

fn world_writable_dir(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

#[test]
fn privileged_writer_maps_a_range() {
    let dir = world_writable_dir("idmap");
    let file = dir.path().join("made-inside");
    let mut child = userns_child(&file);
    let uid = IdMap::new().map(0, 100_000, 65_536);
    let gid = IdMap::new().map(0, 200_000, 65_536);
    let outcome = IdMapWriter::new()
        .write(child.id(), &uid, &gid, SetGroups::Deny)
        .unwrap();
    assert_eq!(
        (outcome.uid, outcome.gid),
        (IdMapMethod::Direct, IdMapMethod::Direct)
    );
    assert!(outcome.wrote_setgroups);
    // The kernel reads back what was written.
    assert_eq!(
        proc_file(child.pid, "uid_map").parse::<IdMap>().unwrap(),
        uid
    );
    assert_eq!(
        proc_file(child.pid, "gid_map").parse::<IdMap>().unwrap(),
        gid
    );
    assert_eq!(proc_file(child.pid, "setgroups").trim(), "deny");
    // Root inside is 100000/200000 outside.
    child.go(1);
    assert_eq!(child.recv(), 0, "uid inside");
    assert_eq!(child.recv(), 0, "gid inside");
    assert_eq!(child.recv(), 0, "created a file");
    let meta = fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (100_000, 200_000));
    // And the host sees the child as 100000/200000.
    let status = proc_file(child.pid, "status");
    let ids = |key: &str| -> Vec<u32> {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line[key.len()..]
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect()
    };
    assert_eq!(ids("Uid:"), [100_000; 4]);
    assert_eq!(ids("Gid:"), [200_000; 4]);
    assert_eq!(child.wait(), 0);
}

#[test]
fn invalid_maps_are_rejected_before_any_write() {
    let dir = TempDir::new("idmap-bad");
    let child = userns_child(&dir.path().join("f"));
    let good = IdMap::new().map(0, 100_000, 10);
    let overlapping = IdMap::new().map(0, 100_000, 10).map(5, 200_000, 10);
    let err = write_id_maps(child.id(), &overlapping, &good, SetGroups::Deny).unwrap_err();
    match &err {
        IdMapError::Invalid {
            kind: IdKind::Uid,
            source: InvalidIdMap::InsideOverlap { first, second },
        } => assert_eq!((first.0, second.0), (0, 1)),
        other => panic!("{other}"),
    }
    // A bad gid map stops the uid map from being written too.
    let err = write_id_maps(
        child.id(),
        &good,
        &IdMap::new().map(0, 1, 0),
        SetGroups::Deny,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            IdMapError::Invalid {
                kind: IdKind::Gid,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(proc_file(child.pid, "uid_map"), "");
    assert_eq!(proc_file(child.pid, "gid_map"), "");
    assert_eq!(proc_file(child.pid, "setgroups").trim(), "allow");
    drop(child); // killed and reaped
}

#[test]
fn second_write_fails_naming_pid_and_file() {
    let dir = TempDir::new("idmap-twice");
    let child = userns_child(&dir.path().join("f"));
    let map = IdMap::single(0, 0);
    write_id_maps(child.id(), &map, &map, SetGroups::Allow).unwrap();
    let err = write_id_maps(child.id(), &map, &map, SetGroups::Allow).unwrap_err();
    match &err {
        IdMapError::Write { pid, path, source } => {
            assert_eq!(*pid, child.id());
            // "allow" may be rewritten; the second uid_map write is what the kernel refuses.
            assert_eq!(path, Path::new(&format!("/proc/{}/uid_map", child.pid)));
            assert_eq!(source.raw_os_error(), Some(libc::EPERM));
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(&child.pid.to_string()), "{err}");
}

#[test]
fn helper_binaries_write_the_callers_own_id() {
    // newuidmap/newgidmap (Debian package `uidmap`) allow a caller to map its own id without
    // any /etc/subuid entry, so this exercises the real helpers without touching host files.
    for helper in [
        IdMapWriter::DEFAULT_NEWUIDMAP,
        IdMapWriter::DEFAULT_NEWGIDMAP,
    ] {
        assert!(
            Path::new(helper).exists(),
            "{helper} is missing: install the `uidmap` package (CI must install it)"
        );
    }
    let dir = TempDir::new("idmap-helper");
    let map = IdMap::single(0, 0);
    // newgidmap mapping only the caller's own group writes `deny` to setgroups itself:
    // asking for `allow` is then an error, never a silent change.
    let mut refused = userns_child(&dir.path().join("g"));
    let err = IdMapWriter::new()
        .method(IdMapMethod::Helper)
        .write(refused.id(), &map, &map, SetGroups::Allow)
        .unwrap_err();
    assert!(matches!(err, IdMapError::SetGroupsDenied { .. }), "{err:?}");
    refused.go(1);
    let _ = (refused.recv(), refused.recv());
    assert_eq!(refused.wait(), 0);

    let mut child = userns_child(&dir.path().join("f"));
    let outcome = IdMapWriter::new()
        .method(IdMapMethod::Helper)
        .write(child.id(), &map, &map, SetGroups::Deny)
        .unwrap();
    assert_eq!(
        (outcome.uid, outcome.gid),
        (IdMapMethod::Helper, IdMapMethod::Helper)
    );
    assert_eq!(proc_file(child.pid, "setgroups").trim(), "deny");
    assert_eq!(
        proc_file(child.pid, "uid_map").parse::<IdMap>().unwrap(),
        map
    );
    assert_eq!(
        proc_file(child.pid, "gid_map").parse::<IdMap>().unwrap(),
        map
    );
    child.go(1);
    assert_eq!((child.recv(), child.recv()), (0, 0));
    assert_eq!(child.wait(), 0);
}

#[test]
fn helper_refusal_and_missing_helper_are_reported() {
    let dir = TempDir::new("idmap-helper-err");
    let child = userns_child(&dir.path().join("f"));
    // Ranges not delegated in /etc/subuid: newuidmap refuses.
    let range = IdMap::new().map(0, 3_000_000_000, 65_536);
    let err = IdMapWriter::new()
        .method(IdMapMethod::Helper)
        .write(child.id(), &range, &range, SetGroups::Allow)
        .unwrap_err();
    match &err {
        IdMapError::HelperFailed {
            pid,
            program,
            status,
            stderr,
        } => {
            assert_eq!(*pid, child.id());
            assert_eq!(program, Path::new(IdMapWriter::DEFAULT_NEWUIDMAP));
            assert!(!status.success());
            assert!(!stderr.is_empty());
        }
        other => panic!("{other}"),
    }
    // A helper that does not exist is named in the error.
    let err = IdMapWriter::new()
        .method(IdMapMethod::Helper)
        .newuidmap("/nonexistent/hutch/newuidmap")
        .write(child.id(), &range, &range, SetGroups::Allow)
        .unwrap_err();
    match &err {
        IdMapError::HelperMissing { program, source } => {
            assert_eq!(program, Path::new("/nonexistent/hutch/newuidmap"));
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/hutch/newuidmap") && text.contains("uidmap"),
        "{text}"
    );
    assert_eq!(proc_file(child.pid, "uid_map"), "");
}

#[test]
fn unprivileged_writer_maps_its_own_id() {
    const NOBODY: u32 = 65_534;
    // A: drops to nobody (no capabilities), forks B which unshares a user namespace, and
    // writes B's maps the unprivileged way. A reports to the test.
    let mut a = fork(|side| {
        // SAFETY: credential changes in this forked, single-threaded child.
        let dropped = unsafe {
            libc::setgroups(0, std::ptr::null()) == 0
                && libc::setresgid(NOBODY, NOBODY, NOBODY) == 0
                && libc::setresuid(NOBODY, NOBODY, NOBODY) == 0
                // Stay dumpable so /proc/B/* belongs to nobody, not root.
                && libc::prctl(libc::PR_SET_DUMPABLE, 1) == 0
        };
        side.send(i64::from(dropped));
        let mut b = fork(|side| {
            side.send(unshare(libc::CLONE_NEWUSER));
            if side.wait() < 0 {
                return 1;
            }
            // SAFETY: getuid/getgid cannot fail.
            side.send(i64::from(unsafe { libc::getuid() }));
            // SAFETY: as above.
            side.send(i64::from(unsafe { libc::getgid() }));
            0
        });
        side.send(b.recv());
        let own = IdMap::single(0, NOBODY);
        // Allowing setgroups needs privilege: refused before anything is written.
        let allow = IdMapWriter::new().write(b.id(), &own, &own, SetGroups::Allow);
        side.send(i64::from(matches!(
            allow,
            Err(IdMapError::SetGroupsNeedsDeny { .. })
        )));
        match IdMapWriter::new().write(b.id(), &own, &own, SetGroups::Deny) {
            Ok(outcome) => side.send(i64::from(
                outcome.uid == IdMapMethod::Direct && outcome.gid == IdMapMethod::Direct,
            )),
            Err(IdMapError::Write { source, .. }) => {
                side.send(-i64::from(source.raw_os_error().unwrap_or(0)))
            }
            Err(_) => side.send(-1000),
        }
        b.go(1);
        side.send(b.recv());
        side.send(b.recv());
        i32::from(b.wait() != 0)
    });
    assert_eq!(a.recv(), 1, "dropped to nobody");
    assert_eq!(a.recv(), 0, "nobody unshared a user namespace");
    assert_eq!(
        a.recv(),
        1,
        "SetGroups::Allow refused for an unprivileged writer"
    );
    assert_eq!(a.recv(), 1, "own-id maps written directly");
    assert_eq!(a.recv(), 0, "uid 0 inside");
    assert_eq!(a.recv(), 0, "gid 0 inside");
    assert_eq!(a.wait(), 0);
}
