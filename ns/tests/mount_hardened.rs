//! The hardened-default parts of mount plans, applied for real in forked children with their
//! own mount namespace (root): a read-only host tree, the minimal `/dev` without a rootfs,
//! fresh sysfs and cgroup2 mounts, masks over them, and the minimal root. Nothing is mounted
//! or changed in the test runner's namespaces; cgroup2 is only mounted by children in a
//! cgroup namespace of their own.
#![allow(unsafe_code)]

mod common;

use std::fs;

use common::{
    TempDir, c, errno, fork, fs_type, mount_points, rdonly, read_into, stat, try_mkdir, try_open,
    unshare_and_report,
};
use hutch_ns::mount::{MountFailure, MountPlan, MountStep, PreparedMounts, TmpfsOptions};

#[allow(clippy::unnecessary_cast)]
const TMPFS: i64 = libc::TMPFS_MAGIC as i64;
#[allow(clippy::unnecessary_cast)]
const DEVPTS: i64 = libc::DEVPTS_SUPER_MAGIC as i64;
#[allow(clippy::unnecessary_cast)]
const SYSFS: i64 = libc::SYSFS_MAGIC as i64;
#[allow(clippy::unnecessary_cast)]
const CGROUP2: i64 = libc::CGROUP2_SUPER_MAGIC as i64;
#[allow(clippy::unnecessary_cast)]
const PROC: i64 = libc::PROC_SUPER_MAGIC as i64;
const MQUEUE: i64 = 0x1980_0202;

fn expect_applied(child: &mut common::Forked, prepared: &PreparedMounts) {
    let applied = child.recv();
    if applied != 0 {
        let failure = MountFailure::decode(applied as u64).expect("an encoded mount failure");
        panic!("{}", prepared.describe(failure));
    }
}

fn send_applied(side: &common::ChildSide, prepared: &PreparedMounts) {
    // SAFETY: every caller is a forked child in a mount namespace of its own.
    let applied = unsafe { prepared.apply() };
    side.send(applied.map_or_else(|f| f.encode() as i64, |()| 0));
}

#[test]
fn readonly_host_tree_with_chosen_writable_places() {
    let before = mount_points();
    let dir = TempDir::new("rohost");
    let (scratch, src, rw) = (
        dir.path().join("scratch"),
        dir.path().join("src"),
        dir.path().join("rw"),
    );
    for d in [&scratch, &src, &rw] {
        fs::create_dir(d).unwrap();
    }
    let mut plan = MountPlan::new();
    plan.readonly_root(true)
        .tmpfs(&scratch, TmpfsOptions::default())
        .bind(&src, &rw)
        .dev(true);
    let prepared = plan.prepare().unwrap();
    let (c_dir_new, c_scratch_new, c_rw_new) = (
        c(dir.path().join("new")),
        c(scratch.join("new")),
        c(rw.join("new")),
    );
    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWNS) {
            return 1;
        }
        send_applied(side, &prepared);
        side.send(try_open(&c_dir_new, libc::O_WRONLY | libc::O_CREAT));
        side.send(try_mkdir(c"/etc/hutch-ns-test"));
        side.send(rdonly(c"/"));
        // A submount of the host's tree (the host's /run, /sys/fs/cgroup): read-only too.
        side.send(rdonly(c"/sys/fs/cgroup"));
        side.send(try_open(&c_scratch_new, libc::O_WRONLY | libc::O_CREAT));
        side.send(try_open(&c_rw_new, libc::O_WRONLY | libc::O_CREAT));
        side.send(try_open(c"/dev/null", libc::O_WRONLY));
        side.send(try_open(c"/dev/shm/x", libc::O_WRONLY | libc::O_CREAT));
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), i64::from(libc::EROFS), "host dir read-only");
    assert_eq!(child.recv(), i64::from(libc::EROFS), "host /etc read-only");
    assert_eq!(child.recv(), 1, "/ read-only");
    assert_eq!(child.recv(), 1, "submounts read-only (recursive)");
    assert_eq!(child.recv(), 0, "tmpfs writable");
    assert_eq!(child.recv(), 0, "rw bind writable");
    assert_eq!(child.recv(), 0, "/dev/null writable");
    assert_eq!(child.recv(), 0, "/dev/shm writable");
    assert_eq!(child.wait(), 0);
    assert!(src.join("new").exists());
    assert!(!dir.path().join("new").exists());
    assert!(!std::path::Path::new("/etc/hutch-ns-test").exists());
    assert_eq!(mount_points(), before);
}

#[test]
fn private_tmp_over_a_readonly_host_tree() {
    let before = mount_points();
    let dir = TempDir::new("privtmp");
    fs::write(dir.path().join("host-file"), "x").unwrap();
    let mut plan = MountPlan::new();
    plan.readonly_root(true).private_tmp();
    let prepared = plan.prepare().unwrap();
    let c_host_file = c(dir.path().join("host-file"));
    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWNS) {
            return 1;
        }
        send_applied(side, &prepared);
        side.send(fs_type(c"/tmp"));
        side.send(try_open(c"/tmp/new", libc::O_WRONLY | libc::O_CREAT));
        side.send(try_open(&c_host_file, libc::O_RDONLY));
        side.send(stat(c"/tmp").map_or_else(|e| -e, |st| i64::from(st.st_mode & 0o7777)));
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), TMPFS);
    assert_eq!(child.recv(), 0, "/tmp writable");
    assert_eq!(child.recv(), i64::from(libc::ENOENT), "host /tmp hidden");
    assert_eq!(child.recv(), 0o1777);
    assert_eq!(child.wait(), 0);
    assert_eq!(mount_points(), before);
}

#[test]
fn minimal_dev_on_the_host_tree() {
    let before = mount_points();
    let host_dev: Vec<_> = fs::read_dir("/dev").unwrap().collect();
    let mut plan = MountPlan::new();
    plan.dev(true);
    let prepared = plan.prepare().unwrap();
    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWNS | libc::CLONE_NEWIPC) {
            return 1;
        }
        send_applied(side, &prepared);
        side.send(fs_type(c"/dev"));
        let null = stat(c"/dev/null");
        side.send(null.map_or_else(|e| -e, |st| st.st_rdev as i64));
        side.send(try_open(c"/dev/null", libc::O_WRONLY));
        let mut buf = [0xffu8; 8];
        let n = read_into(c"/dev/zero", &mut buf);
        side.send(i64::from(n == 8 && buf == [0; 8]));
        for node in [c"/dev/full", c"/dev/random", c"/dev/urandom", c"/dev/tty"] {
            side.send(stat(node).map_or_else(
                |e| -e,
                |st| i64::from(st.st_mode & libc::S_IFMT == libc::S_IFCHR),
            ));
        }
        side.send(try_open(c"/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY));
        side.send(fs_type(c"/dev/pts"));
        side.send(fs_type(c"/dev/shm"));
        side.send(fs_type(c"/dev/mqueue"));
        side.send(stat(c"/dev/fd/0").map_or_else(|e| e, |_| 0));
        side.send(stat(c"/dev/stderr").map_or_else(|e| e, |_| 0));
        // The host's other devices are gone.
        side.send(stat(c"/dev/kmsg").map_or_else(|e| e, |_| 0));
        side.send(stat(c"/dev/loop-control").map_or_else(|e| e, |_| 0));
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), TMPFS, "/dev is a tmpfs");
    assert_eq!(child.recv(), libc::makedev(1, 3) as i64);
    assert_eq!(child.recv(), 0, "/dev/null writable");
    assert_eq!(child.recv(), 1, "/dev/zero");
    for _ in 0..4 {
        assert_eq!(child.recv(), 1, "character device");
    }
    assert_eq!(child.recv(), 0, "/dev/ptmx");
    assert_eq!(child.recv(), DEVPTS);
    assert_eq!(child.recv(), TMPFS, "/dev/shm");
    assert_eq!(child.recv(), MQUEUE, "/dev/mqueue");
    assert_eq!(child.recv(), 0, "/dev/fd/0");
    assert_eq!(child.recv(), 0, "/dev/stderr");
    assert_eq!(child.recv(), i64::from(libc::ENOENT), "/dev/kmsg hidden");
    assert_eq!(
        child.recv(),
        i64::from(libc::ENOENT),
        "/dev/loop-control hidden"
    );
    assert_eq!(child.wait(), 0);
    assert_eq!(fs::read_dir("/dev").unwrap().count(), host_dev.len());
    assert_eq!(mount_points(), before);
}

/// A network interface of the host other than `lo`, as a `/sys/class/net/NAME` C path.
fn host_interface() -> std::ffi::CString {
    let name = fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .find(|n| n != "lo")
        .expect("the host has an interface besides lo");
    c(std::path::Path::new("/sys/class/net").join(name))
}

#[test]
fn fresh_readonly_sysfs_and_cgroup2_with_masks() {
    let before = mount_points();
    let iface = host_interface();
    let mut plan = MountPlan::new();
    plan.sysfs(true).cgroup2(true).docker_defaults();
    let prepared = plan.prepare().unwrap();
    let mut child = fork(|side| {
        let flags = libc::CLONE_NEWNS | libc::CLONE_NEWCGROUP | libc::CLONE_NEWNET;
        if !unshare_and_report(side, flags) {
            return 1;
        }
        send_applied(side, &prepared);
        side.send(fs_type(c"/sys"));
        side.send(rdonly(c"/sys"));
        side.send(stat(c"/sys/class/net/lo").map_or_else(|e| e, |_| 0));
        side.send(stat(&iface).map_or_else(|e| e, |_| 0));
        side.send(try_open(c"/sys/class/net/lo/mtu", libc::O_WRONLY));
        side.send(fs_type(c"/sys/fs/cgroup"));
        side.send(rdonly(c"/sys/fs/cgroup"));
        side.send(try_mkdir(c"/sys/fs/cgroup/hutch-ns-test"));
        side.send(try_open(c"/sys/fs/cgroup/cgroup.procs", libc::O_RDONLY));
        // The cgroup namespace's root is the child's own cgroup: it is listed at the top.
        let mut buf = [0u8; 4096];
        let n = read_into(c"/proc/self/cgroup", &mut buf).max(0) as usize;
        let text = &buf[..n];
        side.send(i64::from(
            text.starts_with(b"0::/\n") || text.windows(6).any(|w| w == b"\n0::/\n"),
        ));
        // Masks come after sysfs.
        side.send(fs_type(c"/sys/firmware"));
        side.send(rdonly(c"/sys/firmware"));
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), SYSFS);
    assert_eq!(child.recv(), 1, "/sys read-only");
    assert_eq!(child.recv(), 0, "lo of the new netns");
    assert_eq!(
        child.recv(),
        i64::from(libc::ENOENT),
        "host interface not shown"
    );
    assert_eq!(child.recv(), i64::from(libc::EROFS), "sysfs writes refused");
    assert_eq!(child.recv(), CGROUP2, "/sys/fs/cgroup is cgroup2");
    assert_eq!(child.recv(), 1, "cgroup2 read-only");
    assert_eq!(child.recv(), i64::from(libc::EROFS), "no new cgroups");
    assert_eq!(child.recv(), 0, "cgroup.procs readable");
    assert_eq!(child.recv(), 1, "own cgroup namespace");
    assert_eq!(child.recv(), TMPFS, "/sys/firmware masked");
    assert_eq!(child.recv(), 1, "mask read-only");
    assert_eq!(child.wait(), 0);
    assert_eq!(mount_points(), before);
}

#[test]
fn writable_cgroup2_under_a_readonly_sysfs() {
    let before = mount_points();
    let mut plan = MountPlan::new();
    plan.sysfs(true).cgroup2(false);
    let prepared = plan.prepare().unwrap();
    let mut child = fork(|side| {
        let flags = libc::CLONE_NEWNS | libc::CLONE_NEWCGROUP | libc::CLONE_NEWNET;
        if !unshare_and_report(side, flags) {
            return 1;
        }
        send_applied(side, &prepared);
        side.send(rdonly(c"/sys"));
        side.send(fs_type(c"/sys/fs/cgroup"));
        side.send(rdonly(c"/sys/fs/cgroup"));
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), 1, "/sys read-only");
    assert_eq!(child.recv(), CGROUP2);
    assert_eq!(child.recv(), 0, "cgroup2 keeps its own mode");
    assert_eq!(child.wait(), 0);
    assert_eq!(mount_points(), before);
}

#[test]
fn cgroup2_needs_a_cgroup_namespace_of_its_own() {
    let before = mount_points();
    let mut plan = MountPlan::new();
    plan.cgroup2(true);
    let prepared = plan.prepare().unwrap();
    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWNS) {
            return 1;
        }
        send_applied(side, &prepared);
        side.send(fs_type(c"/sys/fs/cgroup"));
        0
    });
    assert_eq!(child.recv(), 0, "unshare");
    let failure = MountFailure::decode(child.recv() as u64).expect("a failure");
    assert_eq!(
        child.recv(),
        TMPFS,
        "the host's /sys/fs/cgroup copy untouched"
    );
    assert_eq!(child.wait(), 0);
    assert_eq!(failure.step, MountStep::Cgroup);
    assert_eq!(failure.errno, libc::EINVAL);
    let err = prepared.describe(failure).to_string();
    assert!(err.contains("CLONE_NEWCGROUP"), "{err}");
    assert_eq!(mount_points(), before);
}

#[test]
fn sysfs_falls_back_to_the_hosts_in_a_user_namespace_without_its_own_network() {
    use hutch_ns::idmap::{IdMap, SetGroups, write_id_maps};
    let before = mount_points();
    let iface = host_interface();
    // The rest of the hardened host tree too, as a user-namespaced container has it.
    let dir = TempDir::new("userns-host");
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    let mut plan = MountPlan::new();
    plan.sysfs(true)
        .cgroup2(true)
        .docker_defaults()
        .readonly_root(true)
        .dev(true)
        .private_tmp()
        .bind(&src, "/tmp/work");
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
        if !unshare_and_report(side, libc::CLONE_NEWNS | libc::CLONE_NEWCGROUP) {
            return 1;
        }
        send_applied(side, &prepared);
        side.send(fs_type(c"/sys"));
        side.send(rdonly(c"/sys"));
        side.send(rdonly(c"/sys/kernel"));
        side.send(stat(&iface).map_or_else(|e| e, |_| 0));
        side.send(fs_type(c"/sys/fs/cgroup"));
        side.send(rdonly(c"/sys/fs/cgroup"));
        side.send(fs_type(c"/sys/firmware"));
        side.send(try_mkdir(c"/etc/hutch-ns-test"));
        side.send(try_open(c"/tmp/new", libc::O_WRONLY | libc::O_CREAT));
        side.send(try_open(c"/tmp/work/new", libc::O_WRONLY | libc::O_CREAT));
        side.send(try_open(c"/dev/null", libc::O_WRONLY));
        0
    });
    assert_eq!(child.recv(), 0, "unshare(CLONE_NEWUSER)");
    let ids = IdMap::new().map(0, 0, 65_536);
    write_id_maps(child.id(), &ids, &ids, SetGroups::Deny).unwrap();
    child.go(1);
    assert_eq!(child.recv(), 1, "root inside");
    assert_eq!(child.recv(), 0, "unshare");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), SYSFS, "the host's sysfs, bound");
    assert_eq!(child.recv(), 1, "read-only");
    assert_eq!(child.recv(), 1, "read-only recursively");
    assert_eq!(
        child.recv(),
        0,
        "host interfaces (shared network namespace)"
    );
    assert_eq!(child.recv(), CGROUP2);
    assert_eq!(child.recv(), 1);
    assert_eq!(child.recv(), TMPFS, "/sys/firmware masked");
    assert_eq!(child.recv(), i64::from(libc::EROFS), "host tree read-only");
    assert_eq!(child.recv(), 0, "private /tmp writable");
    assert_eq!(child.recv(), 0, "bind writable");
    assert_eq!(child.recv(), 0, "/dev/null");
    assert_eq!(child.wait(), 0);
    assert!(src.join("new").exists());
    assert_eq!(mount_points(), before);
}

#[test]
fn minimal_root_runs_a_program() {
    let before = mount_points();
    let dir = TempDir::new("minimal");
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("f"), "ok").unwrap();
    let mut plan = MountPlan::minimal();
    plan.bind_ro(&data, "/data").sysfs(true).docker_defaults();
    let prepared = plan.prepare().unwrap();
    assert_eq!(prepared.rootfs(), Some(std::path::Path::new("/tmp")));
    let mut child = fork(|side| {
        if !unshare_and_report(side, libc::CLONE_NEWNS | libc::CLONE_NEWNET) {
            return 1;
        }
        send_applied(side, &prepared);
        side.send(fs_type(c"/"));
        side.send(rdonly(c"/"));
        side.send(try_mkdir(c"/newdir"));
        side.send(stat(c"/usr/bin").map_or_else(|e| e, |_| 0));
        side.send(stat(c"/bin/sh").map_or_else(|e| e, |_| 0));
        side.send(rdonly(c"/usr"));
        side.send(try_open(c"/etc/passwd", libc::O_RDONLY));
        side.send(try_open(c"/etc/passwd", libc::O_WRONLY));
        for gone in [c"/etc/shadow", c"/home", c"/root", c"/var", c"/work"] {
            side.send(stat(gone).map_or_else(|e| e, |_| 0));
        }
        side.send(fs_type(c"/tmp"));
        side.send(try_open(c"/tmp/new", libc::O_WRONLY | libc::O_CREAT));
        side.send(fs_type(c"/proc"));
        side.send(try_open(c"/dev/null", libc::O_WRONLY));
        side.send(fs_type(c"/sys"));
        side.send(try_open(c"/data/f", libc::O_RDONLY));
        side.send(stat(c"/proc/keys").map_or_else(|e| -e, |st| st.st_rdev as i64));
        side.send(rdonly(c"/proc/sys"));
        // Dynamic linking works in the tree: exec a real program.
        // SAFETY: execv with NUL-terminated strings; on success this process is replaced.
        unsafe {
            let argv = [c"true".as_ptr(), std::ptr::null()];
            libc::execv(c"/usr/bin/true".as_ptr(), argv.as_ptr());
        }
        side.send(errno());
        42
    });
    assert_eq!(child.recv(), 0, "unshare");
    expect_applied(&mut child, &prepared);
    assert_eq!(child.recv(), TMPFS, "/ is a tmpfs");
    assert_eq!(child.recv(), 1, "/ read-only");
    assert_eq!(child.recv(), i64::from(libc::EROFS));
    assert_eq!(child.recv(), 0, "/usr/bin");
    assert_eq!(child.recv(), 0, "/bin/sh");
    assert_eq!(child.recv(), 1, "/usr read-only");
    assert_eq!(child.recv(), 0, "/etc/passwd readable");
    assert_eq!(
        child.recv(),
        i64::from(libc::EROFS),
        "/etc/passwd read-only"
    );
    for _ in 0..5 {
        assert_eq!(child.recv(), i64::from(libc::ENOENT), "not in the tree");
    }
    assert_eq!(child.recv(), TMPFS, "/tmp");
    assert_eq!(child.recv(), 0, "/tmp writable");
    assert_eq!(child.recv(), PROC);
    assert_eq!(child.recv(), 0, "/dev/null");
    assert_eq!(child.recv(), SYSFS);
    assert_eq!(child.recv(), 0, "bound data");
    assert_eq!(
        child.recv(),
        libc::makedev(1, 3) as i64,
        "/proc/keys masked"
    );
    assert_eq!(child.recv(), 1, "/proc/sys read-only");
    assert_eq!(child.try_recv(), None, "exec failed");
    assert_eq!(child.wait(), 0, "/usr/bin/true ran");
    assert_eq!(mount_points(), before);
}
