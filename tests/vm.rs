//! Container limits that need cgroup v2 controllers (memory, cpu, pids, cpuset, io): run
//! inside the throw-away VM by `scripts/vm-tests.sh` (feature `vm-tests`), because the CI
//! host's cgroup2 has only `hugetlb`. Each test makes its own parent cgroup and removes it.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::unique;
use hutch::cgroup_v2::cpuset::CpuList;
use hutch::cgroup_v2::io::IoMax;
use hutch::cgroup_v2::watch::CgroupEvent;
use hutch::cgroup_v2::{Cgroup, DevNum, Hierarchy};
use hutch::{Container, Stdio};

const PYTHON: &str = "/usr/bin/python3";

/// A parent cgroup of the test's own, removed with everything in it when dropped.
struct Parent(PathBuf);

impl Parent {
    fn new() -> Parent {
        let h = Hierarchy::discover().expect("cgroup2");
        let p = h.root().join(unique("hutch-vm"));
        fs::create_dir(&p).unwrap();
        Parent(p)
    }

    fn container(&self) -> Container {
        let mut c = Container::new();
        c.cgroup_parent(&self.0);
        c
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        if let Ok(cg) = Cgroup::open(&self.0) {
            let _ = cg.remove();
        }
    }
}

#[test]
fn memory_limit_oom_kills_and_the_event_is_delivered() {
    let parent = Parent::new();
    let mut c = parent.container();
    c.limit_memory(32 << 20).memory_swap(0);
    let mut child = c
        .command(PYTHON)
        .args([
            "-c",
            "import sys; sys.stdin.readline(); b = bytearray(100 << 20); print('survived')",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut events = child.events().unwrap();
    use std::io::Write;
    child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let start = Instant::now();
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|e| matches!(e, CgroupEvent::OomKill { .. }))
        && start.elapsed() < Duration::from_secs(120)
    {
        seen.extend(events.wait(Some(Duration::from_secs(120))).unwrap());
    }
    assert!(
        seen.iter()
            .any(|e| matches!(e, CgroupEvent::OomKill { .. })),
        "no OOM kill event: {seen:?}"
    );
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    let stats = child.stats().unwrap();
    let mem = stats.memory.expect("memory controller");
    assert!(mem.events.oom_kill >= 1, "{:?}", mem.events);
    assert!(mem.peak.expect("memory.peak").0 <= 32 << 20);
}

#[test]
fn oom_kill_group_kills_every_process() {
    let parent = Parent::new();
    let mut c = parent.container();
    c.limit_memory(32 << 20).memory_swap(0).oom_kill_group(true);
    // Without the group kill, only python would die and sh would wait for `sleep` for a
    // minute; with it, sh (PID 1) dies too.
    let mut child = c
        .command("/bin/sh")
        .args([
            "-c",
            &format!("sleep 60 & {PYTHON} -c 'b = bytearray(100 << 20)'; wait"),
        ])
        .spawn()
        .unwrap();
    let status = child
        .wait_timeout(Duration::from_secs(90))
        .unwrap()
        .expect("the whole container should have been killed");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    let mem = child.stats().unwrap().memory.unwrap();
    assert!(mem.events.oom_group_kill >= 1, "{:?}", mem.events);
}

#[test]
fn pids_limit_makes_fork_fail_with_eagain() {
    let parent = Parent::new();
    let mut c = parent.container();
    c.limit_pids(5);
    // A direct fork() loop (a shell would retry a failed fork with back-off).
    let script = "
import os, time
kids = []
err = None
try:
    for _ in range(20):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
except OSError as e:
    err = e.errno
print(err, len(kids))
for k in kids:
    os.kill(k, 9)
";
    let out = c.command(PYTHON).args(["-c", script]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    // python itself is one of the 5.
    assert_eq!(text.trim(), format!("{} 4", libc::EAGAIN), "{text}");
}

#[test]
fn cpu_limit_holds_a_busy_loop_to_its_share() {
    let parent = Parent::new();
    let mut c = parent.container();
    c.limit_cpu(0.2);
    let mut child = c
        .command(PYTHON)
        .args([
            "-c",
            "import time\nt = time.time()\nwhile time.time() - t < 4: pass",
        ])
        .spawn()
        .unwrap();
    let start = Instant::now();
    child.wait().unwrap();
    let wall = start.elapsed().as_secs_f64();
    let cg = child.cgroup().unwrap();
    assert_eq!(cg.read_file("cpu.max").unwrap().trim(), "20000 100000");
    let usage = child.stats().unwrap().cpu.usage.as_secs_f64();
    let share = usage / wall;
    // Loose: software emulation and host load make this noisy; unlimited would be ~1.0.
    assert!(
        (0.05..0.45).contains(&share),
        "cpu share {share:.2} (usage {usage:.2}s in {wall:.2}s)"
    );
}

#[test]
fn cpuset_pins_the_container() {
    let parent = Parent::new();
    let mut c = parent.container();
    c.cpuset("0".parse::<CpuList>().unwrap());
    let out = c
        .command("/bin/sh")
        .args(["-c", "grep Cpus_allowed_list /proc/self/status"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.split_whitespace().last(), Some("0"), "{text}");
}

/// A loop device over a file in the VM's tmpfs, detached when dropped.
struct Loop(PathBuf);

impl Loop {
    fn new() -> Loop {
        // The loop driver is a module in the VM's kernel; /dev/loop-control appears once it is
        // loaded.
        let st = std::process::Command::new("modprobe")
            .arg("loop")
            .status()
            .expect("modprobe");
        assert!(st.success(), "modprobe loop: {st}");
        let file = std::env::temp_dir().join(unique("hutch-loop"));
        let f = fs::File::create(&file).unwrap();
        f.set_len(64 << 20).unwrap();
        let out = std::process::Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&file)
            .output()
            .expect("losetup");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::remove_file(&file).unwrap();
        Loop(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()))
    }

    fn devnum(&self) -> DevNum {
        let m = fs::metadata(&self.0).unwrap();
        assert!(m.file_type().is_block_device());
        DevNum {
            major: libc::major(m.rdev()),
            minor: libc::minor(m.rdev()),
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .arg("-d")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn io_limit_slows_writes_to_a_block_device() {
    let dev = Loop::new();
    let parent = Parent::new();
    let write = format!(
        "dd if=/dev/zero of={} bs=64k count=64 oflag=direct status=none",
        dev.0.display()
    );
    let timed = |c: &Container| {
        let start = Instant::now();
        let out = c.command("/bin/sh").args(["-c", &write]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        start.elapsed()
    };
    // The host's /dev and every device: the default minimal /dev and device allow-list
    // would (rightly) keep the loop device out.
    let mut free = parent.container();
    free.privileged();
    let free = timed(&free);
    let mut c = parent.container();
    c.privileged();
    let mut limit = IoMax::unlimited(dev.devnum());
    limit.wbps = Some(1 << 20); // 1 MiB/s; 4 MiB are written
    c.limit_io(limit);
    let limited = timed(&c);
    assert!(
        limited >= Duration::from_secs(2) && limited > free * 2,
        "limited {limited:?}, free {free:?}"
    );
}

#[test]
fn stats_report_peak_memory_and_cpu() {
    let parent = Parent::new();
    let c = parent.container();
    let mut child = c
        .command(PYTHON)
        .args([
            "-c",
            "b = bytearray(40 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1",
        ])
        .spawn()
        .unwrap();
    child.wait().unwrap();
    let s = child.stats().unwrap();
    let mem = s.memory.expect("memory controller");
    let peak = mem.peak.expect("memory.peak").0;
    assert!(peak >= 40 << 20, "peak {peak}");
    assert!(s.cpu.usage > Duration::ZERO);
    assert!(s.pids.is_some());
}

/// An unprivileged user granted subordinate ids in /etc/subuid and /etc/subgid gets a
/// multi-range user namespace through newuidmap/newgidmap. The VM's /etc is a throw-away
/// overlay, so the grant is written there and vanishes with the VM.
#[test]
fn multi_range_id_maps_through_newuidmap_for_an_unprivileged_user() {
    use hutch::ns::idmap::IdMap;
    if std::env::var_os("HUTCH_VM_SUBIDS").is_some() {
        // SAFETY: always succeeds.
        assert_eq!(unsafe { libc::geteuid() }, 65534);
        let mut c = Container::new();
        let map = IdMap::new().map(0, 65534, 1).map(1, 300000, 1000);
        c.id_maps(map.clone(), map);
        let out = c
            .command("/bin/sh")
            .args(["-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let expect = [vec!["0", "65534", "1"], vec!["1", "300000", "1000"]];
        assert_eq!(rows[0..2], expect, "{text}");
        assert_eq!(rows[2..4], expect, "{text}");
        assert_eq!(rows[4], ["0"], "{text}");
        return;
    }
    for f in ["/etc/subuid", "/etc/subgid"] {
        let mut text = fs::read_to_string(f).unwrap_or_default();
        text.push_str("nobody:300000:1000\n");
        fs::write(f, text).unwrap();
    }
    let out = std::process::Command::new("setpriv")
        .args(common::as_nobody(
            "multi_range_id_maps_through_newuidmap_for_an_unprivileged_user",
        ))
        .env("HUTCH_VM_SUBIDS", "1")
        .current_dir("/")
        .output()
        .unwrap();
    common::assert_rerun_passed(&out);
}

/// An unprivileged user with a delegated cgroup runs limited containers in it.
#[test]
fn delegated_cgroup_works_for_an_unprivileged_user() {
    if let Some(parent) = std::env::var_os("HUTCH_VM_DELEGATED") {
        // SAFETY: always succeeds.
        assert_ne!(unsafe { libc::geteuid() }, 0);
        let mut c = Container::new();
        c.cgroup_parent(PathBuf::from(parent)).limit_pids(5);
        let out = c
            .command(PYTHON)
            .args([
                "-c",
                "import os\nn = 0\ntry:\n    while n < 20:\n        if os.fork() == 0:\n            import time; time.sleep(30); os._exit(0)\n        n += 1\nexcept OSError as e:\n    print(e.errno, n)\n",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.trim(), format!("{} 4", libc::EAGAIN), "{text}");
        return;
    }
    let parent = Parent::new();
    let cg = Cgroup::open(&parent.0).unwrap();
    cg.delegate(65534, 65534).unwrap();
    // The unprivileged test process must itself live inside the delegated subtree.
    let mut launcher = Container::host();
    launcher.cgroup_parent(&parent.0).cgroup_name("launcher");
    let out = launcher
        .command("setpriv")
        .args(common::as_nobody(
            "delegated_cgroup_works_for_an_unprivileged_user",
        ))
        .env("HUTCH_VM_DELEGATED", &parent.0)
        .current_dir("/")
        .output()
        .unwrap();
    common::assert_rerun_passed(&out);
}

/// AppArmor through the facade: `Container::apparmor_profile` runs the program under a
/// profile loaded with `apparmor_parser`, which denies one path; the program sees its profile
/// in `/proc/self/attr/current` and the denial as `EACCES`. (The VM's Debian kernel has
/// AppArmor; the host's does not, where the same setter is a clear error, tested in
/// tests/confine.rs.)
#[test]
fn apparmor_profile_confines_the_program() {
    let name = "hutch-facade-test";
    let profile = format!(
        "profile {name} {{\n  /** rwlkmix,\n  capability,\n  network,\n  mount,\n  umount,\n  \
         signal,\n  ptrace,\n  deny /tmp/hutch-facade-denied w,\n}}\n"
    );
    let mut p = std::process::Command::new("apparmor_parser")
        .arg("-r")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("apparmor_parser (Debian package apparmor)");
    std::io::Write::write_all(p.stdin.as_mut().unwrap(), profile.as_bytes()).unwrap();
    drop(p.stdin.take());
    assert!(p.wait().unwrap().success(), "apparmor_parser failed");
    let mut c = Container::new();
    c.apparmor_profile(name);
    let out = c
        .command("/bin/sh")
        .args([
            "-c",
            "cat /proc/self/attr/current; touch /tmp/hutch-facade-denied 2>&1; \
             touch /tmp/hutch-facade-allowed && echo allowed",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(&format!("{name} (enforce)")), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
    assert!(text.trim_end().ends_with("allowed"), "{text}");
    // A profile that is not loaded is refused before anything runs.
    let mut c = Container::new();
    c.apparmor_profile("hutch-no-such-profile");
    let err = c.command("true").spawn().unwrap_err();
    assert!(matches!(err, hutch::SpawnError::Lsm(_)), "{err:?}");
}

#[path = "vm/harness.rs"]
mod harness;
#[path = "vm/preflight.rs"]
mod preflight;
