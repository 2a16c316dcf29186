//! Namespace handles against the real kernel (root): identity, pidfds, setns, persisting
//! network namespaces the `ip netns` way. Only network namespaces created here are touched.
#![allow(unsafe_code)]

mod common;

use std::fs;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;

use common::{Forked, TempDir, fork, mounts_under, unshare};
use hutch_ns::{Namespace, NetNs, NsError, NsHandle, PersistStep};

/// A child in new namespaces of the given kinds, alive until dropped.
fn child_in(flags: i32) -> Forked {
    let child = fork(move |side| {
        side.send(unshare(flags));
        side.wait();
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    child
}

fn pidfd_open(pid: i32) -> OwnedFd {
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(fd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh fd owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

fn unique(tag: &str) -> String {
    format!("hutch-test-{}-{tag}", std::process::id())
}

#[test]
fn identity_kind_and_owner() {
    let child = child_in(libc::CLONE_NEWNET | libc::CLONE_NEWUTS);
    let mine = NsHandle::open_self(Namespace::Net).unwrap();
    let theirs = NsHandle::open(child.id(), Namespace::Net).unwrap();
    assert_ne!(mine, theirs);
    assert_eq!(theirs.kind(), Namespace::Net);
    // Same namespace through another path is equal.
    let again = NsHandle::open_path(format!("/proc/{}/ns/net", child.pid)).unwrap();
    assert_eq!(again, theirs);
    assert_eq!(again.id(), theirs.id());
    // The id is the inode `readlink /proc/PID/ns/net` shows.
    let link = fs::read_link(format!("/proc/{}/ns/net", child.pid)).unwrap();
    assert_eq!(link.to_str().unwrap(), format!("net:[{}]", theirs.id().ino));
    // Shared kinds are equal to ours.
    assert_eq!(
        NsHandle::open(child.id(), Namespace::Ipc).unwrap(),
        NsHandle::open_self(Namespace::Ipc).unwrap()
    );
    // Every kind opens and reports its own kind.
    for ns in Namespace::ALL {
        assert_eq!(NsHandle::open(child.id(), ns).unwrap().kind(), ns);
    }
    // The kind comes from the kernel for arbitrary paths.
    let tfc = NsHandle::open_path("/proc/self/ns/time_for_children").unwrap();
    assert_eq!(tfc.kind(), Namespace::Time);
    // The owner of the child's net namespace is our user namespace.
    assert_eq!(
        theirs.owner_user_ns().unwrap(),
        NsHandle::open_self(Namespace::User).unwrap()
    );
}

#[test]
fn pidfd_ioctl_and_proc_fallback_agree() {
    let mut child = child_in(libc::CLONE_NEWNET);
    let pidfd = pidfd_open(child.pid);
    for ns in Namespace::ALL {
        let by_pid = NsHandle::open(child.id(), ns).unwrap();
        let by_ioctl = NsHandle::from_pidfd_ioctl(pidfd.as_fd(), ns).unwrap();
        let by_proc = NsHandle::from_pidfd_via_proc("/proc", pidfd.as_fd(), ns).unwrap();
        let auto = NsHandle::from_pidfd(pidfd.as_fd(), ns).unwrap();
        assert_eq!(by_ioctl, by_pid, "{ns}");
        assert_eq!(by_proc, by_pid, "{ns}");
        assert_eq!(auto, by_pid, "{ns}");
    }
    // Once the process is gone, both ways say so instead of opening a recycled pid.
    child.go(1);
    assert_eq!(child.wait(), 0);
    let err = NsHandle::from_pidfd(pidfd.as_fd(), Namespace::Net).unwrap_err();
    assert!(
        matches!(&err, NsError::Ioctl { source, .. } if source.raw_os_error() == Some(libc::ESRCH)),
        "{err:?}"
    );
    let err = NsHandle::from_pidfd_via_proc("/proc", pidfd.as_fd(), Namespace::Net).unwrap_err();
    assert!(
        matches!(&err, NsError::PidfdInfo { source, .. } if source.raw_os_error() == Some(libc::ESRCH)),
        "{err:?}"
    );
}

#[test]
fn not_a_namespace_and_missing_process() {
    let file = fs::File::open("/proc/self/status").unwrap();
    let err = NsHandle::from_fd(file.into()).unwrap_err();
    assert!(matches!(err, NsError::NotANamespace { .. }), "{err}");
    let err = NsHandle::open(i32::MAX as u32, Namespace::Net).unwrap_err();
    match &err {
        NsError::Open { path, source } => {
            assert_eq!(path, Path::new(&format!("/proc/{}/ns/net", i32::MAX)));
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(&i32::MAX.to_string()));
}

#[test]
fn enter_moves_only_the_calling_thread() {
    let child = child_in(libc::CLONE_NEWNET);
    let target = NsHandle::open(child.id(), Namespace::Net).unwrap();
    let before = NsHandle::open_self(Namespace::Net).unwrap();
    let id = target.id();
    let seen = std::thread::spawn(move || {
        // SAFETY: a dedicated thread that ends right after; nothing else runs on it.
        unsafe { target.enter() }.unwrap();
        NsHandle::open_self(Namespace::Net).unwrap().id()
    })
    .join()
    .unwrap();
    assert_eq!(seen, id);
    assert_eq!(NsHandle::open_self(Namespace::Net).unwrap(), before);
    // A mount namespace cannot be entered from a multithreaded process.
    let mnt = NsHandle::open_self(Namespace::Mount).unwrap();
    // SAFETY: the kernel refuses (EINVAL) because the test process shares its fs info.
    let err = unsafe { mnt.enter() }.unwrap_err();
    assert!(
        matches!(&err, NsError::Enter { kind: Namespace::Mount, source, .. } if source.raw_os_error() == Some(libc::EINVAL)),
        "{err:?}"
    );
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn persisted_netns_works_with_ip_netns() {
    let name = unique("persist");
    let path = Path::new(NetNs::DEFAULT_DIR).join(&name);
    let mut child = child_in(libc::CLONE_NEWNET);
    let handle = NsHandle::open(child.id(), Namespace::Net).unwrap();
    assert_eq!(NetNs::persist_named(&handle, &name).unwrap(), path);
    // The child goes away; the namespace stays, reachable by name.
    child.go(1);
    assert_eq!(child.wait(), 0);
    drop(handle);
    let links = ip(&["netns", "exec", &name, "ip", "-o", "link"]);
    let names: Vec<&str> = links
        .lines()
        .map(|l| l.split(':').nth(1).unwrap().trim())
        .collect();
    assert_eq!(names, ["lo"], "{links}");
    assert!(ip(&["netns", "list"]).contains(&name));
    let reopened = NetNs::open_named(&name).unwrap();
    assert_eq!(reopened, NsHandle::open_path(&path).unwrap());
    assert!(
        NetNs::default()
            .list()
            .unwrap()
            .contains(&name.clone().into())
    );
    // The name is taken now.
    let err = NetNs::persist_named(&reopened, &name).unwrap_err();
    assert!(
        matches!(&err, NsError::Persist { step: PersistStep::CreateFile, source, .. } if source.raw_os_error() == Some(libc::EEXIST)),
        "{err:?}"
    );
    NetNs::remove_named(&name).unwrap();
    assert!(!path.exists());
    assert_eq!(mounts_under(&path), Vec::<String>::new());
    // /run/netns itself is a shared mount of itself, as iproute2 leaves it.
    assert_eq!(
        mounts_under(Path::new(NetNs::DEFAULT_DIR))
            .first()
            .map(String::as_str),
        Some(NetNs::DEFAULT_DIR)
    );
}

#[test]
fn opens_namespaces_made_by_ip_netns_add() {
    let name = unique("ipadd");
    let path = Path::new(NetNs::DEFAULT_DIR).join(&name);
    ip(&["netns", "add", &name]);
    let handle = NetNs::open_named(&name);
    // Compare with what a process inside sees, before any assertion can leak the netns.
    let inside = Command::new("ip")
        .args([
            "netns",
            "exec",
            &name,
            "stat",
            "-L",
            "-c",
            "%i",
            "/proc/self/ns/net",
        ])
        .output();
    let removed = NetNs::remove_named(&name);
    let handle = handle.unwrap();
    let inside = String::from_utf8(inside.unwrap().stdout).unwrap();
    assert_eq!(inside.trim(), handle.id().ino.to_string());
    assert_eq!(handle.kind(), Namespace::Net);
    removed.unwrap();
    assert!(!path.exists());
    assert_eq!(mounts_under(&path), Vec::<String>::new());
    assert!(!ip(&["netns", "list"]).contains(&name));
}

#[test]
fn persist_any_kind_in_a_private_directory() {
    let dir = TempDir::new("persist");
    let file = dir.path().join("uts");
    let mut child = child_in(libc::CLONE_NEWUTS);
    let handle = NsHandle::open(child.id(), Namespace::Uts).unwrap();
    handle.persist(&file).unwrap();
    child.go(1);
    assert_eq!(child.wait(), 0);
    assert_eq!(NsHandle::open_path(&file).unwrap(), handle);
    assert_eq!(mounts_under(&file).len(), 1);
    // Bad names and kinds are refused before anything is created.
    let netns = NetNs::in_dir(dir.path().join("netns"));
    for bad in ["", ".", "..", "a/b"] {
        assert!(matches!(
            netns.persist(&handle, bad),
            Err(NsError::WrongKind { .. })
        ));
        let err = netns.path_of(bad).unwrap_err();
        assert!(matches!(err, NsError::InvalidName { .. }), "{bad:?}");
        // With a handle of the right kind, the name itself is what is refused.
        let net = NsHandle::open_self(Namespace::Net).unwrap();
        let err = netns.persist(&net, bad).unwrap_err();
        assert!(
            matches!(err, NsError::InvalidName { .. }),
            "{bad:?}: {err:?}"
        );
    }
    assert!(!dir.path().join("netns").exists());
    // A failed bind leaves no file behind.
    let err = handle
        .persist_in_proc("/nonexistent-proc", dir.path().join("x"))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            NsError::Persist {
                step: PersistStep::Bind,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!dir.path().join("x").exists());
    NsHandle::unpersist(&file).unwrap();
    assert!(!file.exists());
    assert_eq!(mounts_under(dir.path()), Vec::<String>::new());
    // A stale file with nothing mounted on it is still removed, as `ip netns del` does.
    fs::write(&file, "").unwrap();
    NsHandle::unpersist(&file).unwrap();
    assert!(!file.exists());
    // Nothing there at all: the error names the path and the step.
    let err = NsHandle::unpersist(&file).unwrap_err();
    assert!(
        matches!(&err, NsError::Unpersist { step: PersistStep::Unmount, path, source } if path == &file && source.raw_os_error() == Some(libc::ENOENT)),
        "{err:?}"
    );
}

#[test]
fn netns_in_a_custom_directory() {
    let dir = TempDir::new("netnsdir");
    let base = dir.path().join("netns");
    let netns = NetNs::in_dir(&base);
    let child = child_in(libc::CLONE_NEWNET);
    let handle = NsHandle::open(child.id(), Namespace::Net).unwrap();
    let path = netns.persist(&handle, "one").unwrap();
    assert_eq!(path, base.join("one"));
    assert_eq!(netns.open("one").unwrap(), handle);
    assert_eq!(netns.list().unwrap(), ["one"]);
    // The directory became a shared bind mount of itself.
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(base.to_str().unwrap()))
        .expect("base is a mount point");
    assert!(line.contains(" shared:"), "{line}");
    netns.remove("one").unwrap();
    // Clean up the directory mount the test made (iproute2 would leave /run/netns mounted).
    common_umount(&base);
    assert_eq!(mounts_under(dir.path()), Vec::<String>::new());
}

fn common_umount(path: &Path) {
    let c = common::c(path);
    // SAFETY: unmounting a mount this test created, by path.
    let r = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    assert_eq!(r, 0, "umount {}", path.display());
}

#[test]
fn netns_with_a_relative_directory_is_refused() {
    // Before: the namespace was persisted relative to the caller's cwd (here: a directory
    // `hutch-rel-netns` in the test's cwd, mounted as a shared bind mount).
    let rel = Path::new("hutch-rel-netns-test");
    let netns = NetNs::in_dir(rel);
    let child = child_in(libc::CLONE_NEWNET);
    let handle = NsHandle::open(child.id(), Namespace::Net).unwrap();
    let err = netns.persist(&handle, "x").unwrap_err();
    assert!(
        matches!(&err, NsError::RelativeDir { path } if path == rel),
        "{err:?}"
    );
    assert!(err.to_string().contains("hutch-rel-netns-test"), "{err}");
    for err in [
        netns.open("x").unwrap_err(),
        netns.remove("x").unwrap_err(),
        netns.list().unwrap_err(),
        netns.path_of("x").unwrap_err(),
    ] {
        assert!(matches!(err, NsError::RelativeDir { .. }), "{err:?}");
    }
    assert!(!rel.exists(), "nothing created in the cwd");
    // (Other tests here mount and unmount concurrently: only look at the cwd's path.)
    let abs = std::env::current_dir().unwrap().join(rel);
    assert_eq!(mounts_under(&abs), Vec::<String>::new());
    // Absolute directories are unaffected.
    assert!(NetNs::in_dir("/run/netns").path_of("x").is_ok());
}
