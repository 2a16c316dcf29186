//! Nothing of the host reaches into a container: regression tests for the spawn path's
//! leaks (descriptors, the exec intermediate, the init's memory), children that die during
//! setup, and setters that must not panic. As root, against the real kernel.

mod common;

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use common::{TempDir, shared, unique};
use hutch::{Container, SpawnError, Stdio, Step};

/// A directory descriptor opened WITHOUT close-on-exec, as a C library or the caller's own
/// parent (a shell, systemd, CI) may leave one.
fn leaky_dir_fd(dir: &std::path::Path) -> OwnedFd {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: open on a NUL-terminated path; we own the result.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(fd >= 0, "open {dir:?}");
    // SAFETY: a new descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn sh_out(c: &Container, script: &str) -> String {
    let out = c
        .command("/bin/sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{script}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The descriptors of the shell itself (not of `ls`), as numbers.
fn shell_fds(c: &Container) -> Vec<i32> {
    // `ls` is another process: a glob in the shell itself would show the shell's own handle
    // on the directory.
    let out = sh_out(c, "ls /proc/$$/fd");
    out.lines().map(|l| l.parse().unwrap()).collect()
}

#[test]
fn an_inherited_descriptor_never_reaches_a_container() {
    let _g = shared();
    let marker = TempDir::new("hutch-host-only");
    let fd = leaky_dir_fd(&marker.0);
    for (what, c) in [
        ("default", Container::new()),
        ("no namespaces", Container::host()),
    ] {
        let fds = shell_fds(&c);
        assert_eq!(fds, [0, 1, 2], "{what}: the program got {fds:?}");
    }
    // With an init, and through exec into a running container.
    let mut c = Container::new();
    c.init(true);
    assert_eq!(shell_fds(&c), [0, 1, 2], "under an init");
    let mut child = Container::new().command("sleep").arg("30").spawn().unwrap();
    let out = child
        .exec("/bin/sh")
        .arg("-c")
        .arg("ls /proc/$$/fd")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n1\n2\n", "exec'd");
    child.kill().unwrap();
    child.wait().unwrap();
    drop(fd);
}

#[test]
fn a_rootfs_container_cannot_walk_out_through_an_inherited_directory() {
    // runc CVE-2024-21626: a host directory descriptor left open in the container is a way
    // out of its root. Try every fd number the shell could have been given.
    let _g = shared();
    let root = TempDir::new("hutch-rootfs");
    for d in ["usr", "proc", "tmp"] {
        fs::create_dir(root.0.join(d)).unwrap();
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(target, root.0.join(link)).unwrap();
    }
    let secret = TempDir::new("hutch-secret");
    fs::write(secret.0.join("s"), "host secret\n").unwrap();
    let fd = leaky_dir_fd(&secret.0);
    let mut c = Container::new();
    c.rootfs(&root.0).bind_ro("/usr", "/usr");
    let script = format!(
        "cat /proc/self/fd/{n}/s 2>/dev/null; ls /proc/self/fd; true",
        n = fd.as_raw_fd()
    );
    let out = sh_out(&c, &script);
    assert!(!out.contains("host secret"), "{out}");
}

#[test]
fn passed_descriptors_arrive_at_their_numbers_and_nothing_else_does() {
    let _g = shared();
    let (mut r, w) = std::io::pipe().unwrap();
    let other = TempDir::new("hutch-other");
    let _leak = leaky_dir_fd(&other.0);
    let c = Container::new();
    let mut cmd = c.command("/bin/sh");
    cmd.arg("-c").arg("echo through-fd-7 >&7").pass_fd(7, w);
    let status = cmd.status().unwrap();
    assert!(status.success());
    drop(cmd);
    let mut got = String::new();
    r.read_to_string(&mut got).unwrap();
    assert_eq!(got, "through-fd-7\n");
    // `ls` lists its own descriptors: the standard streams, its handle on the directory (3)
    // and the passed one, nothing else.
    let (_r, w) = std::io::pipe().unwrap();
    let out = c
        .command("ls")
        .arg("/proc/self/fd")
        .pass_fd(7, w)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n1\n2\n3\n7\n");
    // Numbers that cannot be used are errors naming them.
    let (_r2, w2) = std::io::pipe().unwrap();
    let err = c.command("true").pass_fd(1, w2).spawn().unwrap_err();
    assert!(
        matches!(err, SpawnError::PassFd { number: 1, .. }),
        "{err:?}"
    );
    let (a, b) = std::io::pipe().unwrap();
    let err = c
        .command("true")
        .pass_fd(9, a)
        .pass_fd(9, b)
        .spawn()
        .unwrap_err();
    assert!(
        matches!(err, SpawnError::PassFd { number: 9, .. }),
        "{err:?}"
    );
}

#[test]
fn a_passed_number_may_be_one_the_caller_uses_itself() {
    // The child's own descriptors (report pipe, stdio sources) must not be overwritten when
    // a descriptor is passed as their number.
    let _g = shared();
    let (mut r, w) = std::io::pipe().unwrap();
    let mut cmd = Container::new().command("/bin/sh");
    // (dash takes single-digit descriptor numbers only.)
    for n in 3..9 {
        let (_keep, wn) = std::io::pipe().unwrap();
        cmd.pass_fd(n, wn);
    }
    cmd.arg("-c").arg("echo ok >&9").pass_fd(9, w);
    cmd.stdout(Stdio::null());
    assert!(cmd.status().unwrap().success());
    drop(cmd);
    let mut got = String::new();
    r.read_to_string(&mut got).unwrap();
    assert_eq!(got, "ok\n");
}

#[test]
fn the_init_holds_nothing_of_the_caller() {
    let _g = shared();
    let mut c = Container::new();
    c.init(true);
    let out = sh_out(
        &c,
        "readlink /proc/1/exe; cat /proc/1/maps; ls /proc/1/fd | wc -l",
    );
    let mut lines = out.lines();
    let exe = lines.next().unwrap();
    assert!(exe.starts_with("/memfd:hutch-init"), "PID 1 is {exe}");
    let rest: Vec<&str> = lines.collect();
    let (maps, fds) = rest.split_at(rest.len() - 1);
    // The init's image, its stack, vvar/vdso: no libc, no heap, nothing of this test binary.
    assert!(maps.len() <= 6, "PID 1 maps:\n{}", maps.join("\n"));
    let me = std::env::current_exe().unwrap();
    let me = me.to_string_lossy();
    for m in maps {
        assert!(
            !m.contains(".so") && !m.contains("[heap]") && !m.contains(&*me),
            "PID 1 maps {m}"
        );
    }
    assert_eq!(fds, ["0"], "PID 1 holds descriptors");
}

#[test]
fn the_init_forwards_signals_and_reports_the_status() {
    let _g = shared();
    let mut c = Container::new();
    c.init(true);
    let mut child = c
        .command("/bin/sh")
        .arg("-c")
        .arg("trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Signal only once the trap is set (a loaded CI machine may take its time).
    let mut ready = [0u8; 6];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut ready)
        .unwrap();
    assert_eq!(&ready, b"ready\n");
    child.signal(hutch::Signal::SIGTERM).unwrap();
    let st = child.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(st.and_then(|s| s.code()), Some(42), "{st:?}");
    // Killed by a signal: 128 + N, like a shell.
    let mut child = c.command("sleep").arg("30").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    child.signal(hutch::Signal::SIGUSR1).unwrap();
    let st = child.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(st.and_then(|s| s.code()), Some(128 + libc::SIGUSR1));
}

#[test]
fn exec_into_a_container_leaks_nothing_to_a_scanner_inside() {
    // runc CVE-2016-9962 class: root inside a container scans /proc/*/fd of processes that
    // are being exec'd into it, looking for descriptors of the caller.
    let _g = shared();
    let marker_dir = TempDir::new("hutch-exec-marker");
    let _leak = leaky_dir_fd(&marker_dir.0);
    let name = marker_dir
        .0
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut c = Container::new();
    c.user_namespace(true);
    let script = format!(
        "end=$(( $(date +%s) + 4 )); while [ $(date +%s) -lt $end ]; do \
         if ls -l /proc/[0-9]*/fd/ 2>/dev/null | grep -q '{name}'; then echo FOUND; exit 0; fi; \
         done; echo clean"
    );
    let mut scanner = c
        .command("/bin/sh")
        .arg("-c")
        .arg(&script)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(3);
    let mut execs = 0;
    while Instant::now() < until {
        let st = scanner
            .exec("sleep")
            .arg("0.05")
            .status()
            .expect("exec into the scanner's container");
        assert!(st.success());
        execs += 1;
    }
    let mut out = String::new();
    scanner
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    scanner.wait().unwrap();
    assert!(execs > 5);
    assert_eq!(out, "clean\n", "the scanner saw the caller's descriptor");
}

#[test]
fn a_child_killed_during_setup_is_an_error_with_the_step_and_signal() {
    // Freeze a parent cgroup: the child starts frozen inside it (CLONE_INTO_CGROUP), is
    // killed from outside before it runs, and the spawn must say so instead of succeeding.
    let _g = shared();
    let root = std::path::Path::new("/sys/fs/cgroup/unified");
    let root = if root.join("cgroup.procs").exists() {
        root.to_path_buf()
    } else {
        std::path::PathBuf::from("/sys/fs/cgroup")
    };
    let parent = root.join(unique("hutch-frozen"));
    fs::create_dir(&parent).unwrap();
    fs::write(parent.join("cgroup.freeze"), "1").unwrap();
    let p2 = parent.clone();
    let spawner = std::thread::spawn(move || {
        let mut c = Container::new();
        c.cgroup_parent(&p2);
        c.command("true").spawn().map(|_| ())
    });
    // Find the child in its (frozen) cgroup and kill it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        assert!(Instant::now() < deadline, "the child never appeared");
        let found = fs::read_dir(&parent).unwrap().flatten().find_map(|e| {
            let procs = fs::read_to_string(e.path().join("cgroup.procs")).ok()?;
            procs.lines().next().map(|l| l.parse::<i32>().unwrap())
        });
        if let Some(pid) = found {
            break pid;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // SAFETY: kill with integer arguments; the pid is our own unreaped child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let err = spawner.join().unwrap().unwrap_err();
    fs::write(parent.join("cgroup.freeze"), "0").unwrap();
    let _ = fs::remove_dir(&parent);
    match err {
        SpawnError::ChildDied { step, status } => {
            assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
            assert_eq!(step, Step::Start);
        }
        other => panic!("expected ChildDied, got {other:?}"),
    }
    assert!(!parent.exists(), "the frozen parent was left behind");
}

#[test]
fn out_of_range_cpu_limits_are_errors_not_panics() {
    let _g = shared();
    for cores in [1e30, f64::NAN, -1.0, 0.0, f64::INFINITY] {
        let mut c = Container::new();
        c.limit_cpu(cores);
        let err = c.command("true").spawn().unwrap_err();
        assert!(
            matches!(err, SpawnError::InvalidCpus { .. }),
            "{cores}: {err:?}"
        );
    }
}

#[test]
fn special_ids_are_refused_before_the_clone() {
    let _g = shared();
    let c = Container::new();
    let err = c.command("true").uid(u32::MAX).spawn().unwrap_err();
    assert!(
        matches!(err, SpawnError::InvalidId { id: u32::MAX, .. }),
        "{err:?}"
    );
    let err = c.command("true").gid(u32::MAX).spawn().unwrap_err();
    assert!(matches!(err, SpawnError::InvalidId { .. }), "{err:?}");
    // In a user namespace that maps only root, uid 1000 is not mapped.
    let mut u = Container::new();
    u.user_namespace_mode(hutch::UserNamespace::MapCaller);
    let err = u.command("true").uid(1000).spawn().unwrap_err();
    assert!(
        matches!(err, SpawnError::InvalidId { id: 1000, .. }),
        "{err:?}"
    );
    assert!(hutch::error_chain(&err).contains("not mapped"));
}

#[test]
fn wait_timeout_of_duration_max_does_not_panic() {
    let _g = shared();
    let mut child = Container::new().command("true").spawn().unwrap();
    let st = child.wait_timeout(Duration::MAX).unwrap();
    assert!(st.unwrap().success());
}

#[test]
fn exec_starts_with_the_container_environment_and_directory() {
    let _g = shared();
    let mut c = Container::new();
    c.env_clear().env("FROM_CONTAINER", "yes").tmpfs("/tmp");
    let mut child = c
        .command("sleep")
        .arg("30")
        .env("FROM_COMMAND", "1")
        .current_dir("/tmp")
        .spawn()
        .unwrap();
    let out = child
        .exec("/bin/sh")
        .arg("-c")
        .arg("env; pwd")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FROM_CONTAINER=yes"), "{text}");
    assert!(text.contains("FROM_COMMAND=1"), "{text}");
    assert!(
        !text.contains("CARGO"),
        "the caller's environment leaked: {text}"
    );
    assert!(text.ends_with("/tmp\n"), "{text}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A caller killed while its container is still being set up (here: thousands of mounts)
/// takes the container along: there is no `Child` to end it with, so it must not run on
/// orphaned. Without `die_with_parent`, the death signal is dropped again at the exec.
#[test]
fn a_caller_killed_during_the_setup_takes_its_child_along() {
    match std::env::var("HUTCH_TEST_SLOW_SETUP").as_deref() {
        // The spawner: a container with a slow setup, then a program that outlives us.
        Ok("slow") => {
            let mut c = Container::new();
            for i in 0..40_000 {
                c.tmpfs(format!("/tmp/m{i}"));
            }
            let _ = c.command("sleep").arg("1000").spawn();
            return;
        }
        // A spawner whose container is running when it dies (no die_with_parent): the
        // container lives on, as with std::process::Command.
        Ok("running") => {
            let child = Container::new()
                .command("sleep")
                .arg("1000")
                .spawn()
                .unwrap();
            std::mem::forget(child);
            println!("spawned");
            std::thread::sleep(Duration::from_secs(1000));
            return;
        }
        _ => {}
    }
    let _g = shared();
    /// A spawner, and the container it leaves behind: both killed (by pid, ours) if the
    /// test fails half-way.
    struct Procs(Option<std::process::Child>, Option<u32>);
    impl Drop for Procs {
        fn drop(&mut self) {
            if let Some(mut s) = self.0.take() {
                let _ = s.kill();
                let _ = s.wait();
            }
            if let Some(pid) = self.1 {
                // SAFETY: kill with integer arguments, on a process this test started.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
    let spawner = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_caller_killed_during_the_setup_takes_its_child_along",
            "--nocapture",
        ])
        .env("HUTCH_TEST_SLOW_SETUP", "slow")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let spawner_pid = spawner.id();
    let mut procs = Procs(Some(spawner), None);
    // Wait for the container's first process to appear (a child of the spawner).
    let children = |pid: u32| -> Vec<u32> {
        let mut out = Vec::new();
        for t in std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
        out
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let child = loop {
        if let Some(&c) = children(spawner_pid).first() {
            break c;
        }
        assert!(std::time::Instant::now() < deadline, "no child appeared");
        std::thread::sleep(Duration::from_millis(5));
    };
    std::thread::sleep(Duration::from_millis(100));
    // Still in its setup (40,000 mounts take seconds): not yet the program.
    let comm = std::fs::read_to_string(format!("/proc/{child}/comm"));
    assert!(
        comm.as_deref().is_ok_and(|c| c.trim() != "sleep"),
        "the setup ended before the test could kill the caller ({comm:?}): make it slower"
    );
    procs.1 = Some(child);
    let mut s = procs.0.take().unwrap();
    s.kill().unwrap();
    s.wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let gone = |pid: u32| {
        // Gone, or a zombie waiting for init: either way no longer running.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(s) => s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')),
        }
    };
    while !gone(child) {
        assert!(
            std::time::Instant::now() < deadline,
            "the container's setup ran on after its caller was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Once it runs, the death signal is gone again (no die_with_parent).
    let mut spawner = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_caller_killed_during_the_setup_takes_its_child_along",
            "--nocapture",
        ])
        .env("HUTCH_TEST_SLOW_SETUP", "running")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(spawner.stdout.take().unwrap());
    procs.0 = Some(spawner);
    let spawned = std::io::BufRead::lines(out).any(|l| l.is_ok_and(|l| l.contains("spawned")));
    assert!(spawned, "the spawner did not spawn");
    let spawner = procs.0.as_ref().unwrap().id();
    let child = children(spawner)[0];
    procs.1 = Some(child);
    let mut s = procs.0.take().unwrap();
    s.kill().unwrap();
    s.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!gone(child), "a running container died with its caller");
    // The container's first process, started by this test's spawner and now a child of
    // init, ends with `procs`.
}
