//! Mount plans applied for real in forked children with their own mount namespace (root).
#![allow(unsafe_code)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{TempDir, c, errno, fork, fs_type, mount_points, stat, try_open, unshare_and_report};
use hutch_ns::mount::{
    MountError, MountFailure, MountPlan, MountPlanError, MountStep, TmpfsOptions,
};

// `c_long` is `i64` here; written as a cast so it also compiles where it is not.
#[allow(clippy::unnecessary_cast)]
const TMPFS: i64 = libc::TMPFS_MAGIC as i64;
#[allow(clippy::unnecessary_cast)]
const DEVPTS: i64 = libc::DEVPTS_SUPER_MAGIC as i64;

#[test]
fn tmpfs_bind_ro_mask_and_readonly_stay_inside() {
    let before = mount_points();
    let dir = TempDir::new("mount");
    let scratch = dir.path().join("scratch");
    let src = dir.path().join("src");
    let ro = dir.path().join("ro");
    let rw = dir.path().join("rw");
    let secret = dir.path().join("secret");
    for d in [&scratch, &src, &ro, &rw, &secret] {
        fs::create_dir(d).unwrap();
    }
    fs::write(src.join("hello"), "hi").unwrap();
    fs::write(secret.join("key"), "hidden").unwrap();

    let mut plan = MountPlan::new();
    plan.tmpfs(&scratch, TmpfsOptions::scratch(Some(1 << 20), Some(0o700)))
        .bind_ro(&src, &ro)
        .bind(&src, &rw)
        .mask("/proc/kcore") // absent on some kernels (this host): skipped, not an error
        .mask("/proc/keys")
        .mask(&secret)
        .mask("/proc/hutch-does-not-exist")
        .readonly("/proc/sys");
    let prepared = plan.prepare().unwrap();

    let (c_scratch, c_ro_new, c_rw_new, c_ro_hello) = (
        c(&scratch),
        c(ro.join("new")),
        c(rw.join("new")),
        c(ro.join("hello")),
    );
    let (c_secret, c_secret_key, c_secret_new) =
        (c(&secret), c(secret.join("key")), c(secret.join("new")));
    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWNS) {
            return 1;
        }
        // SAFETY: this forked child has its own mount namespace.
        let applied = unsafe { prepared.apply() };
        side.send(applied.map_or_else(|f| f.encode() as i64, |()| 0));
        side.send(fs_type(&c_scratch));
        side.send(try_open(&c_ro_new, libc::O_WRONLY | libc::O_CREAT));
        side.send(try_open(&c_ro_hello, libc::O_RDONLY));
        side.send(try_open(&c_rw_new, libc::O_WRONLY | libc::O_CREAT));
        let keys = stat(c"/proc/keys");
        side.send(keys.map_or_else(|e| -e, |st| st.st_rdev as i64));
        side.send(try_open(&c_secret_key, libc::O_RDONLY));
        side.send(fs_type(&c_secret));
        side.send(try_open(&c_secret_new, libc::O_WRONLY | libc::O_CREAT));
        side.send(try_open(c"/proc/sys/kernel/hostname", libc::O_WRONLY));
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), TMPFS, "tmpfs visible inside");
    assert_eq!(
        child.recv(),
        i64::from(libc::EROFS),
        "bind_ro refuses writes"
    );
    assert_eq!(child.recv(), 0, "bind_ro still readable");
    assert_eq!(child.recv(), 0, "plain bind is writable");
    assert_eq!(
        child.recv(),
        libc::makedev(1, 3) as i64,
        "/proc/keys is /dev/null"
    );
    assert_eq!(
        child.recv(),
        i64::from(libc::ENOENT),
        "masked dir hides its files"
    );
    assert_eq!(child.recv(), TMPFS, "masked dir is a tmpfs");
    assert_eq!(
        child.recv(),
        i64::from(libc::EROFS),
        "masked dir is read-only"
    );
    assert_eq!(child.recv(), i64::from(libc::EROFS), "/proc/sys read-only");
    assert_eq!(child.wait(), 0);

    // Nothing of it is visible on the host, and nothing is left behind.
    assert_ne!(fs_type(&c(&scratch)), TMPFS);
    assert!(
        src.join("new").exists(),
        "the rw bind wrote through to the source"
    );
    assert!(
        !rw.join("new").exists(),
        "the bind itself was not visible on the host"
    );
    assert!(!ro.join("new").exists());
    assert_eq!(mount_points(), before, "host mounts changed");
    assert_ne!(
        fs::metadata("/proc/keys").unwrap().rdev(),
        libc::makedev(1, 3)
    );
    assert!(secret.join("key").exists());
}

/// A small rootfs: a few directories and a marker file.
fn make_rootfs(dir: &TempDir) -> std::path::PathBuf {
    let root = dir.path().join("rootfs");
    for d in ["etc", "proc", "usr"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("hutch-marker"), "inside").unwrap();
    root
}

#[test]
fn pivot_into_rootfs_with_proc_dev_and_readonly_root() {
    let before = mount_points();
    let dir = TempDir::new("pivot");
    let root = make_rootfs(&dir);
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("file"), "data").unwrap();
    let host_only = c(dir.path());
    let root_id = {
        let m = fs::metadata(&root).unwrap();
        (m.dev(), m.ino())
    };

    let mut plan = MountPlan::new();
    plan.rootfs(&root)
        .proc(true)
        .dev(true)
        .readonly_root(true)
        .tmpfs("/tmp", TmpfsOptions::scratch(None, Some(0o1777)))
        .bind_ro(&data, "/mnt/data")
        .bind_ro("/etc/hostname", "/etc/hostname")
        .docker_defaults();
    let prepared = plan.prepare().unwrap();
    assert_eq!(prepared.rootfs(), Some(root.as_path()));

    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWNS) {
            return 1;
        }
        // SAFETY: this forked child has its own mount namespace.
        let applied = unsafe { prepared.apply() };
        side.send(applied.map_or_else(|f| f.encode() as i64, |()| 0));
        // The new root is the rootfs, the old root is gone.
        let st = stat(c"/");
        side.send(st.map_or(-1, |st| {
            (st.st_dev == root_id.0 && st.st_ino == root_id.1) as i64
        }));
        side.send(try_open(c"/hutch-marker", libc::O_RDONLY));
        side.send(stat(&host_only).map_or_else(|e| e, |_| 0));
        side.send(stat(c"/bin/sh").map_or_else(|e| e, |_| 0));
        let mut cwd = [0u8; 8];
        // SAFETY: getcwd into a stack buffer.
        let p = unsafe { libc::getcwd(cwd.as_mut_ptr().cast(), cwd.len()) };
        side.send(if p.is_null() {
            -errno()
        } else {
            i64::from(cwd[0] == b'/' && cwd[1] == 0)
        });
        // Fresh proc, tmpfs /tmp, read-only binds and root.
        side.send(try_open(c"/proc/self/status", libc::O_RDONLY));
        side.send(fs_type(c"/tmp"));
        side.send(try_open(c"/tmp/x", libc::O_WRONLY | libc::O_CREAT));
        side.send(try_open(c"/mnt/data/file", libc::O_RDONLY));
        side.send(try_open(c"/mnt/data/new", libc::O_WRONLY | libc::O_CREAT));
        side.send(try_open(c"/etc/hostname", libc::O_WRONLY));
        // SAFETY: mkdir of a C string path.
        let mk = unsafe { libc::mkdir(c"/newdir".as_ptr(), 0o755) };
        side.send(if mk == 0 { 0 } else { errno() });
        // Minimal /dev.
        // SAFETY: plain fd I/O on buffers owned by this frame.
        unsafe {
            let fd = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            side.send(if fd < 0 {
                -errno()
            } else {
                libc::write(fd, b"abc".as_ptr().cast(), 3) as i64
            });
            libc::close(fd);
            let fd = libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            let mut buf = [0xffu8; 16];
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            side.send(if n == 16 && buf.iter().all(|&b| b == 0) {
                1
            } else {
                -errno()
            });
            libc::close(fd);
        }
        side.send(try_open(c"/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY));
        side.send(fs_type(c"/dev/shm"));
        side.send(fs_type(c"/dev/pts"));
        side.send(stat(c"/dev/fd/0").map_or_else(|e| e, |_| 0));
        side.send(stat(c"/proc/keys").map_or(-1, |st| st.st_rdev as i64));
        side.send(try_open(c"/proc/sys/kernel/hostname", libc::O_WRONLY));
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), 1, "/ is the rootfs");
    assert_eq!(child.recv(), 0, "marker visible");
    assert_eq!(child.recv(), i64::from(libc::ENOENT), "host paths gone");
    assert_eq!(child.recv(), i64::from(libc::ENOENT), "host /bin/sh gone");
    assert_eq!(child.recv(), 1, "cwd is /");
    assert_eq!(child.recv(), 0, "/proc mounted");
    assert_eq!(child.recv(), TMPFS, "/tmp is tmpfs");
    assert_eq!(child.recv(), 0, "/tmp writable under a read-only root");
    assert_eq!(child.recv(), 0, "bound data readable");
    assert_eq!(child.recv(), i64::from(libc::EROFS), "bound data read-only");
    assert_eq!(child.recv(), i64::from(libc::EROFS), "file bind read-only");
    assert_eq!(child.recv(), i64::from(libc::EROFS), "root read-only");
    assert_eq!(child.recv(), 3, "/dev/null swallows writes");
    assert_eq!(child.recv(), 1, "/dev/zero gives zeros");
    assert_eq!(child.recv(), 0, "/dev/ptmx opens");
    assert_eq!(child.recv(), TMPFS, "/dev/shm");
    assert_eq!(child.recv(), DEVPTS, "/dev/pts");
    assert_eq!(child.recv(), 0, "/dev/fd/0 resolves");
    assert_eq!(
        child.recv(),
        libc::makedev(1, 3) as i64,
        "/proc/keys masked"
    );
    assert_eq!(child.recv(), i64::from(libc::EROFS), "/proc/sys read-only");
    assert_eq!(child.wait(), 0);

    // Mount points were created inside the rootfs only; host mounts unchanged.
    assert!(root.join("mnt/data").is_dir());
    assert!(root.join("etc/hostname").is_file());
    assert_eq!(fs::metadata(root.join("etc/hostname")).unwrap().len(), 0);
    assert!(root.join("dev").is_dir() && fs::read_dir(root.join("dev")).unwrap().next().is_none());
    assert_eq!(mount_points(), before, "host mounts changed");
}

#[test]
fn failure_in_child_is_described_with_the_path() {
    let before = mount_points();
    let dir = TempDir::new("fail");
    let missing = dir.path().join("missing/deeper");
    // The first tmpfs goes on a sibling, so that a wrongly created `missing` would show on
    // the host instead of hiding inside a tmpfs.
    let first = dir.path().join("first");
    fs::create_dir(&first).unwrap();
    let mut plan = MountPlan::new();
    plan.tmpfs(&first, TmpfsOptions::default())
        .tmpfs(&missing, TmpfsOptions::default());
    // A missing destination on the host's tree is refused at prepare, naming it.
    let err = plan.prepare().unwrap_err();
    assert!(
        matches!(&err, MountPlanError::DestinationMissing { path, .. } if path == &missing),
        "{err:?}"
    );
    assert!(err.to_string().contains(missing.to_str().unwrap()), "{err}");
    // One that disappears between prepare and apply fails in the child.
    fs::create_dir_all(&missing).unwrap();
    let prepared = plan.prepare().unwrap();
    fs::remove_dir_all(dir.path().join("missing")).unwrap();
    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWNS) {
            return 1;
        }
        // SAFETY: this forked child has its own mount namespace.
        let applied = unsafe { prepared.apply() };
        side.send(applied.map_or_else(|f| f.encode() as i64, |()| 0));
        0
    });
    assert_eq!(child.recv(), 0);
    let failure = MountFailure::decode(child.recv() as u64).expect("a failure");
    assert_eq!(child.wait(), 0);
    assert_eq!(failure.step, MountStep::Tmpfs);
    assert_eq!(failure.errno, libc::ENOENT);
    let err = prepared.describe(failure);
    match &err {
        MountError::Failed { target, .. } => assert_eq!(target, &missing),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(missing.to_str().unwrap()), "{err}");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    // Nothing was created on the host (no rootfs: mount points must exist).
    assert!(!dir.path().join("missing").exists());
    assert_eq!(mount_points(), before);
}

#[test]
fn rootfs_and_bind_errors_name_the_path() {
    let dir = TempDir::new("errs");
    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let err = MountPlan::new().rootfs(&file).prepare().unwrap_err();
    assert!(err.to_string().contains(file.to_str().unwrap()), "{err}");
    let gone = dir.path().join("gone");
    let err = MountPlan::new().rootfs(&gone).prepare().unwrap_err();
    assert!(err.to_string().contains(gone.to_str().unwrap()), "{err}");
    let err = MountPlan::new()
        .rootfs(dir.path())
        .bind(&gone, "/x")
        .prepare()
        .unwrap_err();
    assert!(err.to_string().contains(gone.to_str().unwrap()), "{err}");
    // prepare() never touches the filesystem it plans for.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn plan_applies_inside_a_user_namespace() {
    // The facade's usual case: the child is in a new user namespace, so every mount it
    // inherits is locked; read-only binds must still work (mount_setattr), devpts must be a
    // new instance and device nodes must come from bind mounts.
    use hutch_ns::idmap::{IdMap, SetGroups, write_id_maps};
    let before = mount_points();
    let dir = TempDir::new("userns");
    let root = make_rootfs(&dir);
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    let mut plan = MountPlan::new();
    plan.rootfs(&root)
        .dev(true)
        .readonly_root(true)
        .tmpfs("/tmp", TmpfsOptions::scratch(Some(1 << 20), None))
        .bind_ro(&data, "/data")
        .mask("/etc");
    let prepared = plan.prepare().unwrap();
    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWUSER) {
            return 1;
        }
        if side.wait() < 0 {
            return 1;
        }
        // SAFETY: credential calls in this forked, single-threaded child.
        let root = unsafe { libc::setresgid(0, 0, 0) == 0 && libc::setresuid(0, 0, 0) == 0 };
        side.send(i64::from(root));
        if !unshare_and_report(side, libc::CLONE_NEWNS) {
            return 1;
        }
        // SAFETY: this forked child has its own mount namespace.
        let applied = unsafe { prepared.apply() };
        side.send(applied.map_or_else(|f| f.encode() as i64, |()| 0));
        side.send(try_open(c"/hutch-marker", libc::O_RDONLY));
        side.send(try_open(c"/data/new", libc::O_WRONLY | libc::O_CREAT));
        side.send(try_open(c"/tmp/new", libc::O_WRONLY | libc::O_CREAT));
        side.send(try_open(c"/dev/null", libc::O_WRONLY));
        side.send(try_open(c"/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY));
        side.send(fs_type(c"/etc"));
        0
    });
    assert_eq!(child.recv(), 0, "unshare(CLONE_NEWUSER)");
    let ids = IdMap::new().map(0, 0, 65_536);
    write_id_maps(child.id(), &ids, &ids, SetGroups::Deny).unwrap();
    child.go(1);
    assert_eq!(child.recv(), 1, "root inside");
    assert_eq!(child.recv(), 0, "unshare(CLONE_NEWNS)");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), 0, "in the rootfs");
    assert_eq!(child.recv(), i64::from(libc::EROFS), "read-only bind");
    assert_eq!(child.recv(), 0, "tmpfs writable");
    assert_eq!(child.recv(), 0, "/dev/null");
    assert_eq!(child.recv(), 0, "/dev/ptmx");
    assert_eq!(child.recv(), TMPFS, "masked directory");
    assert_eq!(child.wait(), 0);
    assert_eq!(mount_points(), before, "host mounts changed");
}

/// Receives the child's `apply()` result and fails the test with the described mount error
/// if it is not success.
fn expect_applied(child: &mut common::Forked, prepared: &hutch_ns::mount::PreparedMounts) {
    let applied = child.recv();
    if applied != 0 {
        let failure = MountFailure::decode(applied as u64).expect("an encoded mount failure");
        panic!("{}", prepared.describe(failure));
    }
}

#[test]
fn bind_sources_are_the_callers_paths_whatever_the_order() {
    // `tmpfs(/X/tmp)` then `bind(/X/tmp/data, ..)`: before, the source was looked up in the
    // child after the tmpfs covered it (ENOENT).
    let before = mount_points();
    let dir = TempDir::new("order");
    let tmp = dir.path().join("tmp");
    let data = tmp.join("data");
    fs::create_dir_all(data.join("sub")).unwrap();
    fs::write(data.join("file"), "caller").unwrap();
    let (mnt, mnt_ro, file_dst) = (
        dir.path().join("mnt"),
        dir.path().join("mnt_ro"),
        dir.path().join("file_dst"),
    );
    fs::create_dir(&mnt).unwrap();
    fs::create_dir(&mnt_ro).unwrap();
    fs::write(&file_dst, "").unwrap();
    let mut plan = MountPlan::new();
    plan.tmpfs(&tmp, TmpfsOptions::default())
        .bind(&data, &mnt)
        .bind_ro(&data, &mnt_ro)
        .bind_ro(data.join("file"), &file_dst)
        // Inside the bind: must not propagate to the host's copy of the source.
        .tmpfs(mnt.join("sub"), TmpfsOptions::default());
    let prepared = plan.prepare().unwrap();
    let (c_tmp_file, c_mnt_file, c_ro_new, c_mnt_new, c_file_dst, c_mnt_sub) = (
        c(data.join("file")),
        c(mnt.join("file")),
        c(mnt_ro.join("new")),
        c(mnt.join("new")),
        c(&file_dst),
        c(mnt.join("sub")),
    );
    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWNS) {
            return 1;
        }
        // SAFETY: this forked child has its own mount namespace.
        let applied = unsafe { prepared.apply() };
        side.send(applied.map_or_else(|f| f.encode() as i64, |()| 0));
        let mut buf = [0u8; 16];
        let n = common::read_into(&c_mnt_file, &mut buf);
        side.send(i64::from(n == 6 && &buf[..6] == b"caller"));
        side.send(try_open(&c_tmp_file, libc::O_RDONLY));
        side.send(try_open(&c_ro_new, libc::O_WRONLY | libc::O_CREAT));
        side.send(try_open(&c_mnt_new, libc::O_WRONLY | libc::O_CREAT));
        let n = common::read_into(&c_file_dst, &mut buf);
        side.send(i64::from(n == 6 && &buf[..6] == b"caller"));
        side.send(try_open(&c_file_dst, libc::O_WRONLY));
        side.send(fs_type(&c_mnt_sub));
        side.wait();
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), 1, "the bind shows the caller's source");
    assert_eq!(
        child.recv(),
        i64::from(libc::ENOENT),
        "the source is covered"
    );
    assert_eq!(child.recv(), i64::from(libc::EROFS), "bind_ro read-only");
    assert_eq!(child.recv(), 0, "bind writable");
    assert_eq!(child.recv(), 1, "file bind");
    assert_eq!(child.recv(), i64::from(libc::EROFS), "file bind read-only");
    assert_eq!(child.recv(), TMPFS, "tmpfs inside the bind");
    // While the child lives: nothing of it reached the host (no propagation).
    assert_eq!(mount_points(), before, "host mounts changed");
    child.go(1);
    assert_eq!(child.wait(), 0);
    assert!(data.join("new").exists(), "rw bind wrote through");
    assert_eq!(mount_points(), before);
}

#[test]
fn dev_in_a_rootfs_whose_dev_is_a_symlink_or_missing() {
    // Before: ROOT/dev -> /host/path made the plan mount /dev's tmpfs on the host path (in
    // the child's namespace) and the container ended with no /dev at all.
    let before = mount_points();
    let dir = TempDir::new("devlink");
    let host_dev = dir.path().join("host-dev");
    fs::create_dir(&host_dev).unwrap();
    let linked = make_rootfs(&dir);
    std::os::unix::fs::symlink(&host_dev, linked.join("dev")).unwrap();
    let dir2 = TempDir::new("devmissing");
    let missing = make_rootfs(&dir2);
    for root in [&linked, &missing] {
        let mut plan = MountPlan::new();
        plan.rootfs(root).dev(true);
        let prepared = plan.prepare().unwrap();
        let mut child = fork(|side| {
            if !unshare_and_report(side, libc::CLONE_NEWNS) {
                return 1;
            }
            // SAFETY: this forked child has its own mount namespace.
            let applied = unsafe { prepared.apply() };
            side.send(applied.map_or_else(|f| f.encode() as i64, |()| 0));
            let null = stat(c"/dev/null");
            side.send(null.map_or_else(|e| -e, |st| st.st_rdev as i64));
            side.send(fs_type(c"/dev/pts"));
            side.send(try_open(c"/dev/null", libc::O_WRONLY));
            0
        });
        assert_eq!(child.recv(), 0, "unshare");
        expect_applied(&mut child, &prepared);
        assert_eq!(child.recv(), libc::makedev(1, 3) as i64, "/dev/null");
        assert_eq!(child.recv(), DEVPTS, "/dev/pts");
        assert_eq!(child.recv(), 0, "/dev/null writable");
        assert_eq!(child.wait(), 0);
    }
    // A `dev` that leads to a file inside the rootfs: a clear error naming /dev.
    let dir3 = TempDir::new("devfile");
    let filed = make_rootfs(&dir3);
    fs::write(filed.join("not-a-dir"), "").unwrap();
    std::os::unix::fs::symlink("/not-a-dir", filed.join("dev")).unwrap();
    let err = MountPlan::new()
        .rootfs(&filed)
        .dev(true)
        .prepare()
        .unwrap_err();
    assert!(
        matches!(&err, MountPlanError::DestinationKind { path, directory: true, .. } if path == std::path::Path::new("/dev")),
        "{err:?}"
    );
    assert!(err.to_string().contains("/dev"), "{err}");
    // The symlink's target was created inside the rootfs; the host path stayed empty.
    let inside = linked.join(host_dev.strip_prefix("/").unwrap());
    assert!(inside.is_dir(), "{}", inside.display());
    assert_eq!(fs::read_dir(&host_dev).unwrap().count(), 0);
    assert!(missing.join("dev").is_dir());
    assert_eq!(mount_points(), before);
}

#[test]
fn twenty_thousand_tmpfs_at_one_place_make_one_mount() {
    // Before: 20,000 stacked mounts whose path walks made the child quadratic (11 s).
    let before = mount_points();
    let dir = TempDir::new("many");
    let mut plan = MountPlan::new();
    for _ in 0..20_000 {
        plan.tmpfs(dir.path(), TmpfsOptions::scratch(Some(1 << 20), None));
    }
    let prepared = plan.prepare().unwrap();
    assert_eq!(prepared.len(), 2, "make private + one tmpfs");
    let needle = format!(" {} ", dir.path().display()).into_bytes();
    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWNS) {
            return 1;
        }
        // SAFETY: this forked child has its own mount namespace.
        let applied = unsafe { prepared.apply() };
        side.send(applied.map_or_else(|f| f.encode() as i64, |()| 0));
        let mut buf = [0u8; 65536];
        let n = common::read_into(c"/proc/self/mountinfo", &mut buf).max(0) as usize;
        let count = buf[..n]
            .windows(needle.len())
            .filter(|w| *w == needle.as_slice())
            .count();
        side.send(count as i64);
        side.send(fs_type(&c(dir.path())));
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), 1, "one mount in the child's mountinfo");
    assert_eq!(child.recv(), TMPFS);
    assert_eq!(child.wait(), 0);
    assert_eq!(mount_points(), before);
}

#[test]
fn tmpfs_data_reaches_the_plans_tmpfs_mounts() {
    // Extra mount data (an SELinux context= on hosts that have it; nr_inodes= here) is
    // appended to every tmpfs of the plan's own.
    let before = mount_points();
    let dir = TempDir::new("data");
    let mut plan = MountPlan::new();
    plan.tmpfs(dir.path(), TmpfsOptions::scratch(Some(1 << 20), None))
        .tmpfs_data("nr_inodes=77");
    let prepared = plan.prepare().unwrap();
    let needle = b"nr_inodes=77".to_vec();
    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWNS) {
            return 1;
        }
        // SAFETY: this forked child has its own mount namespace.
        let applied = unsafe { prepared.apply() };
        side.send(applied.map_or_else(|f| f.encode() as i64, |()| 0));
        let mut buf = [0u8; 65536];
        let n = common::read_into(c"/proc/self/mountinfo", &mut buf).max(0) as usize;
        let found = buf[..n]
            .windows(needle.len())
            .any(|w| w == needle.as_slice());
        side.send(found as i64);
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), 1, "nr_inodes=77 in the child's mountinfo");
    assert_eq!(child.wait(), 0);
    assert_eq!(mount_points(), before);
}
