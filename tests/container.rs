//! The facade against the real kernel, as root: isolation, mounts, id maps, time, exec into a
//! running container, concurrency, and every error path with a leak check.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::{Leaks, TempDir, exclusive, shared, unique};
use hutch::ns::NsHandle;
use hutch::{Container, Namespace, Namespaces, SpawnError, Stdio, Step};

fn stdout_of(c: &Container, program: &str, args: &[&str]) -> String {
    let out = c.command(program).args(args).output().expect("spawn");
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sh(c: &Container, script: &str) -> String {
    stdout_of(c, "/bin/sh", &["-c", script])
}

#[test]
fn hostname_is_isolated() {
    let _g = shared();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut c = Container::new();
    c.hostname("tupperware").domainname("hutch.test");
    assert_eq!(
        sh(&c, "hostname; cat /proc/sys/kernel/domainname"),
        "tupperware\nhutch.test\n"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host
    );
}

#[test]
fn program_is_pid_1_and_sees_no_host_processes() {
    let _g = shared();
    let c = Container::new();
    let out = sh(&c, "echo $$; ls /proc | grep -c '^[0-9]'");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"));
    let visible: u32 = lines.next().unwrap().parse().unwrap();
    // sh, ls and grep at most.
    assert!(visible <= 3, "saw {visible} processes:\n{out}");
}

#[test]
fn new_network_namespace_has_only_lo_and_it_is_up() {
    let _g = shared();
    let c = Container::new();
    let out = stdout_of(&c, "ip", &["-o", "link"]);
    let names: Vec<&str> = out
        .lines()
        .map(|l| l.split(':').nth(1).unwrap().trim())
        .collect();
    assert_eq!(names, ["lo"], "{out}");
    assert!(out.contains("UP"), "lo is not up: {out}");
    // And the host's namespace is really different.
    let mut host = Container::new();
    host.share(Namespaces::NET);
    let host_links = stdout_of(&host, "ip", &["-o", "link"]);
    assert!(host_links.lines().count() > 1, "{host_links}");
}

#[test]
fn ipc_objects_of_the_host_are_invisible() {
    let _g = shared();
    let key = 0x4875_0000 + (std::process::id() as i32 & 0xffff);
    // SAFETY: plain System V IPC calls on a key of our own; removed below.
    let id = unsafe { libc::shmget(key, 4096, libc::IPC_CREAT | 0o600) };
    assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
    let hex = key.to_string();
    let host_view = fs::read_to_string("/proc/sysvipc/shm").unwrap();
    let inside = sh(&Container::new(), "cat /proc/sysvipc/shm");
    // SAFETY: removing the segment made above.
    unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    assert!(host_view.contains(&hex), "{host_view}");
    assert!(!inside.contains(&hex), "{inside}");
}

#[test]
fn tmpfs_inside_never_appears_on_the_host() {
    let _g = shared();
    let dir = TempDir::new("hutch-tmpfs");
    let mut c = Container::new();
    c.tmpfs(&dir.0);
    let p = dir.0.display();
    let out = sh(
        &c,
        &format!("echo x > {p}/f && grep -c ' {p} ' /proc/self/mountinfo"),
    );
    assert_eq!(out.trim(), "1");
    assert!(
        fs::read_dir(&dir.0).unwrap().next().is_none(),
        "file leaked to host"
    );
    assert!(!common::mounts().contains(&dir.0.display().to_string()));
}

#[test]
fn user_namespace_as_root_is_remapped_to_an_unprivileged_range() {
    let _g = shared();
    let dir = TempDir::new("hutch-userns");
    let mut c = Container::new();
    c.user_namespace(true).bind(&dir.0, &dir.0).tmpfs("/mnt");
    let out = sh(
        &c,
        &format!(
            "id -u; cat /proc/self/uid_map; touch {}/made 2>&1 || echo denied; touch /mnt/x && echo tmp-ok",
            dir.0.display()
        ),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0");
    let map: Vec<u32> = lines[1]
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let subuid = fs::read_to_string("/etc/subuid").unwrap_or_default();
    if !subuid
        .lines()
        .any(|l| l.starts_with("root:") || l.starts_with("0:"))
    {
        assert_eq!(map, [0, hutch::REMAP_DEFAULT_START, 65536]);
    }
    assert_ne!(map[1], 0, "container root is host root");
    // Host root's files are not the container root's: a root-owned 0755 directory of the
    // host is not writable inside.
    assert!(out.contains("Permission denied"), "{out}");
    assert!(!dir.0.join("made").exists());
    assert_eq!(lines.last(), Some(&"tmp-ok"), "{out}");
}

#[test]
fn user_namespace_map_caller_keeps_the_callers_id() {
    let _g = shared();
    let dir = TempDir::new("hutch-userns");
    let mut c = Container::new();
    c.user_namespace_mode(hutch::UserNamespace::MapCaller)
        .bind(&dir.0, &dir.0);
    let out = sh(
        &c,
        &format!(
            "id -u; cat /proc/self/uid_map; touch {}/made",
            dir.0.display()
        ),
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0"));
    let map: Vec<u32> = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    // SAFETY: always succeeds.
    let me = unsafe { libc::geteuid() };
    assert_eq!(map, [0, me, 1]);
    assert_eq!(fs::metadata(dir.0.join("made")).unwrap().uid(), me);
}

/// Runs the same checks as an unprivileged user: the test re-executes itself under `setpriv`
/// as `nobody`, where the automatic user namespace must make everything work.
#[test]
fn works_unprivileged_via_setpriv() {
    if std::env::var_os("HUTCH_TEST_AS_NOBODY").is_some() {
        // SAFETY: always succeeds.
        assert_ne!(unsafe { libc::geteuid() }, 0, "not unprivileged");
        let mut c = Container::new();
        c.hostname("unpriv");
        assert!(c.effective_namespaces().contains(Namespaces::USER));
        let out = sh(&c, "id -u; hostname; echo $$; cat /proc/self/uid_map");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(&lines[..3], ["0", "unpriv", "1"]);
        let map: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(map, ["0", "65534", "1"]);
        // Mounts, an init and joining a running container work unprivileged too.
        c.tmpfs("/tmp").init(true);
        let mut child = c
            .command("/bin/sh")
            .args(["-c", "echo up > /tmp/f; exec sleep 30"])
            .spawn()
            .unwrap();
        let mut seen = String::new();
        for _ in 0..250 {
            let out = child.exec("/bin/cat").arg("/tmp/f").output().unwrap();
            seen = String::from_utf8(out.stdout).unwrap();
            if seen == "up\n" {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(seen, "up\n");
        child.kill().unwrap();
        child.wait().unwrap();
        return;
    }
    let _g = shared();
    let out = std::process::Command::new("setpriv")
        .args(common::as_nobody("works_unprivileged_via_setpriv"))
        .env("HUTCH_TEST_AS_NOBODY", "1")
        .current_dir("/")
        .output()
        .expect("setpriv");
    common::assert_rerun_passed(&out);
}

#[test]
fn time_namespace_offsets_show_in_clock_monotonic() {
    let _g = shared();
    let offset = 7 * 24 * 3600; // a week
    let mut c = Container::new();
    c.time_offsets(hutch::ns::time::TimeOffsets {
        monotonic: hutch::ns::time::ClockOffset::new(offset, 0),
        boottime: hutch::ns::time::ClockOffset::new(offset, 0),
    });
    let script = "import time; print(time.clock_gettime(time.CLOCK_MONOTONIC)); print(time.clock_gettime(time.CLOCK_BOOTTIME))";
    let out = stdout_of(&c, "/usr/bin/python3", &["-c", script]);
    let host_mono = {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: fills a timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as f64
    };
    let vals: Vec<f64> = out.lines().map(|l| l.parse().unwrap()).collect();
    for v in vals {
        let diff = v - host_mono;
        assert!(
            (offset as f64 - 60.0..offset as f64 + 60.0).contains(&diff),
            "inside {v}, host {host_mono}"
        );
    }
}

#[test]
fn cgroup_namespace_root_is_slash() {
    let _g = shared();
    let out = sh(&Container::new(), "cat /proc/self/cgroup");
    assert!(out.lines().any(|l| l == "0::/"), "{out}");
}

#[test]
fn persisted_network_namespace_works_with_ip_netns() {
    let _g = shared();
    let name = unique("hutch-netns");
    let mut child = Container::new().command("sleep").arg("30").spawn().unwrap();
    let net = child.namespace(Namespace::Net).unwrap();
    hutch::ns::NetNs::persist_named(&net, &name).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // The namespace outlives its last process.
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &name, "ip", "-o", "link"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let removed = hutch::ns::NetNs::remove_named(&name);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains(": lo:"), "{text}");
    removed.unwrap();
    assert!(!std::path::Path::new("/run/netns").join(&name).exists());
}

#[test]
fn namespace_identity_compares_correctly() {
    let _g = shared();
    let c = Container::new();
    let mut a = c.command("sleep").arg("30").spawn().unwrap();
    let mut b = c.command("sleep").arg("30").spawn().unwrap();
    let na = a.namespace(Namespace::Net).unwrap();
    let nb = b.namespace(Namespace::Net).unwrap();
    let host = NsHandle::open_self(Namespace::Net).unwrap();
    assert_ne!(na, nb);
    assert_ne!(na, host);
    assert_eq!(na, a.namespace(Namespace::Net).unwrap());
    assert_eq!(host, NsHandle::open_self(Namespace::Net).unwrap());
    assert_eq!(na.kind(), Namespace::Net);
    // A process started in a's container shares a's namespaces.
    let mut e = a.exec("sleep").arg("30").spawn().unwrap();
    assert_eq!(e.namespace(Namespace::Net).unwrap(), na);
    assert_eq!(
        e.namespace(Namespace::Pid).unwrap(),
        a.namespace(Namespace::Pid).unwrap()
    );
    for ch in [&mut e, &mut a, &mut b] {
        ch.kill().unwrap();
        ch.wait().unwrap();
    }
}

#[test]
fn exec_joins_a_running_container() {
    let _g = shared();
    let mut c = Container::new();
    c.hostname("joined").tmpfs("/mnt");
    let mut child = c
        .command("/bin/sh")
        .args(["-c", "echo marker > /mnt/f; exec sleep 30"])
        .spawn()
        .unwrap();
    // Wait until the container has written its marker and exec'd sleep.
    let mut tries = 0;
    let out = loop {
        let out = child
            .exec("/bin/sh")
            .args(["-c", "hostname; cat /proc/1/comm; cat /mnt/f; echo $$"])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        if (text.contains("marker") && text.contains("sleep")) || tries > 250 {
            break text;
        }
        tries += 1;
        std::thread::sleep(Duration::from_millis(20));
    };
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "joined");
    assert_eq!(lines[1], "sleep");
    assert_eq!(lines[2], "marker");
    let pid_inside: u32 = lines[3].parse().unwrap();
    assert!(
        pid_inside > 1 && pid_inside < 100,
        "pid inside {pid_inside}"
    );
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(child.id(), None);
    // Joining an ended container is an error, not a hang.
    let err = child.exec("true").spawn().unwrap_err();
    assert!(matches!(err, SpawnError::JoinTarget { .. }), "{err:?}");
}

#[test]
fn waiting_for_the_container_first_reaps_its_execs() {
    let _g = shared();
    let c = Container::new();
    let mut child = c.command("sleep").arg("1").spawn().unwrap();
    let mut inside = child.exec("sleep").arg("30").spawn().unwrap();
    // PID 1 ends on its own; the kernel kills `inside` and PID 1 finishes exiting only once
    // `inside` is reaped, which wait() does for us.
    let st = child.wait_timeout(Duration::from_secs(20)).unwrap();
    assert!(st.is_some_and(|s| s.success()), "{st:?}");
    assert_eq!(inside.id(), None, "reaped by the container's wait");
    assert_eq!(inside.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn exec_into_a_container_without_namespaces() {
    let _g = shared();
    let mut child = Container::host()
        .command("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let out = child
        .exec("/bin/sh")
        .args(["-c", "echo joined"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"joined\n");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `uid`/`gid` from a process whose other threads keep starting and ending threads: the
/// credential change in the child must not wait for the parent's threads (glibc's setxid
/// broadcast would).
#[test]
fn uid_and_gid_while_other_threads_churn() {
    let _g = shared();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::spawn(|| {}).join().unwrap();
                }
            });
        }
        let c = Container::new();
        for _ in 0..20 {
            let out = c
                .command("/bin/sh")
                .args(["-c", "id -u; id -g; id -G"])
                .uid(65534)
                .gid(65534)
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8(out.stdout).unwrap(),
                "65534\n65534\n65534\n"
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

/// Spawning must never change the caller: a child that changes credentials while it shares
/// the caller's memory would make the caller non-dumpable (no core dumps, no ptrace).
#[test]
fn the_caller_stays_dumpable() {
    let _g = shared();
    let dumpable = || {
        // SAFETY: a plain prctl query.
        unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }
    };
    assert_eq!(dumpable(), 1);
    let mut c = Container::new();
    c.command("true").uid(65534).gid(65534).status().unwrap();
    c.user_namespace(true);
    c.command("true").status().unwrap();
    c.command("true").uid(0).status().unwrap();
    assert_eq!(dumpable(), 1);
}

#[test]
fn uid_alone_drops_supplementary_groups() {
    let _g = shared();
    let out = Container::new()
        .command("/bin/sh")
        .args(["-c", "id -u; id -G"])
        .uid(65534)
        .output()
        .unwrap();
    // The group stays the caller's (0) but no supplementary groups are kept.
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "65534\n0\n");
}

#[test]
fn nested_exec_joins_the_same_container_and_wait_does_not_hang() {
    let _g = shared();
    let mut child = Container::new().command("sleep").arg("30").spawn().unwrap();
    let mut first = child.exec("sleep").arg("30").spawn().unwrap();
    let mut second = first.exec("sleep").arg("30").spawn().unwrap();
    assert_eq!(
        second.namespace(Namespace::Pid).unwrap(),
        child.namespace(Namespace::Pid).unwrap()
    );
    let cg = |pid: u32| fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg(second.id().unwrap()), cg(child.id().unwrap()));
    child.kill().unwrap();
    // PID 1 cannot finish exiting before `second` (a child of ours) is reaped.
    let st = child.wait_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(st.and_then(|s| s.signal()), Some(libc::SIGKILL));
    assert_eq!(second.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_eq!(first.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn a_failed_exec_into_a_container_leaves_no_zombie() {
    let _g = exclusive();
    let mut child = Container::new().command("sleep").arg("30").spawn().unwrap();
    let pids = || {
        common::children()
            .into_iter()
            .map(|(p, _)| p)
            .collect::<Vec<_>>()
    };
    let before = pids();
    for _ in 0..5 {
        let err = child.exec("/nonexistent/prog").spawn().unwrap_err();
        assert_eq!(err.step(), Some(Step::Exec), "{err:?}");
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        let err = child
            .exec("true")
            .current_dir("/nonexistent")
            .spawn()
            .unwrap_err();
        assert_eq!(err.step(), Some(Step::Chdir), "{err:?}");
        let hutch::SpawnError::Child { on, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            on.as_ref().and_then(|s| s.path()),
            Some(std::path::Path::new("/nonexistent"))
        );
    }
    assert_eq!(pids(), before);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn init_without_a_pid_namespace_is_refused() {
    let _g = exclusive();
    let mut c = Container::new();
    c.share(Namespaces::PID).init(true);
    let err = expect_error("init without pid ns", &mut c.command("true"));
    assert!(
        matches!(
            err,
            SpawnError::NeedsNamespace {
                namespace: hutch::Namespace::Pid,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn concurrent_spawns_from_32_threads() {
    let _g = exclusive();
    common::warm_up();
    let before = common::fds();
    let c = Container::new();
    std::thread::scope(|s| {
        for t in 0..32 {
            let c = &c;
            s.spawn(move || {
                for i in 0..3 {
                    let out = c
                        .command("/bin/sh")
                        .args(["-c", &format!("echo {t}-{i}")])
                        .output()
                        .unwrap();
                    assert!(out.status.success());
                    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{t}-{i}\n"));
                }
            });
        }
    });
    assert_eq!(common::fds(), before, "descriptors leaked");
    assert!(common::children().is_empty(), "{:?}", common::children());
}

#[test]
fn init_reaps_orphans_forwards_signals_and_passes_the_status() {
    let _g = shared();
    let mut c = Container::new();
    c.init(true);
    // The program is PID 2 under the init, and its status comes back.
    let out = c
        .command("/bin/sh")
        .args(["-c", "echo $$; exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "2\n");
    // An orphan is reaped by the init: no zombie stays in the container.
    let out = sh(
        &c,
        "sh -c 'sleep 0.2 &' ; sleep 0.5; for s in /proc/[0-9]*/stat; do cut -d' ' -f3 $s; done",
    );
    assert!(!out.contains('Z'), "zombie inside: {out}");
    // SIGTERM reaches the program through the init.
    let mut child = c
        .command("/bin/sh")
        .args([
            "-c",
            "trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 6];
    child.stdout.as_mut().unwrap().read_exact(&mut buf).unwrap();
    child.signal(hutch::Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(7));
    // Killed by a signal: 128 + N.
    let out = c
        .command("/bin/sh")
        .args(["-c", "kill -9 $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128 + 9));
}

/// A program of the caller's distribution copied into a bare rootfs: the kernel answers
/// ENOENT for the missing dynamic loader, naming nothing; the error names the loader. A script
/// there whose interpreter exists only on the caller's side names the interpreter; one whose
/// interpreter is there (through a link of the rootfs, followed inside it) but lacks its
/// loader names the loader. A process exec'd into the running container is not explained
/// from the caller's files.
#[test]
fn exec_failures_in_a_rootfs_name_the_missing_loader_and_interpreter() {
    let _g = shared();
    let root = TempDir::new("hutch-rootfs-exec");
    fs::create_dir(root.0.join("bin")).unwrap();
    fs::copy("/bin/true", root.0.join("bin/true")).unwrap();
    fs::write(root.0.join("bin/script"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(
        root.0.join("bin/script"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut c = Container::new();
    c.rootfs(&root.0);
    let err = c.command("/bin/true").spawn().unwrap_err();
    let SpawnError::Exec {
        program, problem, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(program, std::path::Path::new("/bin/true"));
    assert!(
        matches!(problem, hutch::ExecProblem::MissingLoader(l) if l.to_string_lossy().starts_with("/lib")),
        "{problem:?}"
    );
    assert_eq!(err.step(), Some(Step::Exec));
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    assert!(err.to_string().contains("dynamic loader"), "{err}");
    // Found through PATH, by name.
    let err = c
        .command("script")
        .env("PATH", "/usr/bin:/bin")
        .spawn()
        .unwrap_err();
    assert!(
        matches!(&err, SpawnError::Exec { problem: hutch::ExecProblem::MissingInterpreter(i), .. }
            if i == std::path::Path::new("/bin/sh")),
        "{err:?}"
    );
    // The interpreter exists (reached through a link inside the rootfs), its loader does not.
    fs::copy("/bin/true", root.0.join("bin/interp")).unwrap();
    std::os::unix::fs::symlink("/bin/interp", root.0.join("bin/sh")).unwrap();
    let err = c.command("/bin/script").spawn().unwrap_err();
    assert!(
        matches!(
            &err,
            SpawnError::Exec {
                problem: hutch::ExecProblem::MissingLoader(_),
                ..
            }
        ),
        "{err:?}"
    );
    // Exec'd into a running container, whose tree the command does not describe: not
    // explained from the caller's files (here they would even be right), only the errno.
    // Under /var/tmp: the container sees it (the host's tree), unlike the private /tmp.
    let dir = std::path::PathBuf::from("/var/tmp").join(unique("hutch-exec-join"));
    fs::create_dir(&dir).unwrap();
    let host_script = dir.join("s");
    fs::write(&host_script, "#!/no/such/interp\n").unwrap();
    fs::set_permissions(
        &host_script,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut running = Container::new().command("sleep").arg("10").spawn().unwrap();
    let err = running.exec(&host_script).spawn().unwrap_err();
    assert!(matches!(err, SpawnError::Child { .. }), "{err:?}");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    running.kill().unwrap();
    running.wait().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rootfs_pivot_with_minimal_dev() {
    let _g = shared();
    let root = TempDir::new("hutch-rootfs");
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("sbin", "usr/sbin"),
    ] {
        std::os::unix::fs::symlink(target, root.0.join(link)).unwrap();
    }
    for d in ["usr", "proc", "tmp", "etc"] {
        fs::create_dir(root.0.join(d)).unwrap();
    }
    fs::write(root.0.join("etc/marker"), "in the rootfs\n").unwrap();
    // An absolute symlink in the image, as /etc/localtime is in most: a bind onto it must land
    // inside the rootfs, never on the host path the link names before the pivot.
    let target = format!("/hutch-link-target-{}", std::process::id());
    std::os::unix::fs::symlink(format!("{target}/greeting"), root.0.join("etc/greeting")).unwrap();
    let greeting = TempDir::new("hutch-greeting");
    fs::write(greeting.0.join("g"), "hello through a link\n").unwrap();
    let mut c = Container::new();
    c.rootfs(&root.0)
        .bind_ro("/usr", "/usr")
        .tmpfs("/tmp")
        .bind_ro(greeting.0.join("g"), "/etc/greeting");
    let out = sh(&c, "cat /etc/greeting");
    assert_eq!(out, "hello through a link\n");
    assert!(
        !std::path::Path::new(&target).exists(),
        "a mount point was made on the host"
    );
    assert!(root.0.join(&target[1..]).join("greeting").exists());
    let out = sh(
        &c,
        "cat /etc/marker; ls /; head -c 4 /dev/zero | od -An -tx1; echo hi > /dev/null && echo null-ok; \
         ls /dev; test -e /proc/1/root/work && echo old-root-visible || echo old-root-gone; \
         touch /usr/x 2>/dev/null && echo usr-writable || echo usr-ro",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "in the rootfs");
    assert!(out.contains("null-ok"), "{out}");
    assert!(out.contains(" 00 00 00 00"), "{out}");
    for node in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd", "stdin",
        "stdout", "stderr",
    ] {
        assert!(out.lines().any(|l| l == node), "/dev/{node} missing: {out}");
    }
    assert!(out.contains("old-root-gone"), "{out}");
    assert!(out.contains("usr-ro"), "{out}");
    assert!(
        !fs::exists(root.0.join("dev/null")).unwrap()
            || fs::read_dir(root.0.join("dev")).unwrap().count() == 0
    );
}

#[test]
fn read_only_root_and_docker_masks() {
    let _g = shared();
    let mut c = Container::new();
    c.read_only(true).tmpfs("/tmp").docker_masks();
    let out = sh(
        &c,
        "touch /etc/hutch-ro-test 2>/dev/null && echo rw || echo ro; touch /tmp/x && echo tmp-rw; \
         wc -c < /proc/interrupts; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-rw || echo sys-ro",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["ro", "tmp-rw", "0", "sys-ro"], "{out}");
    // Unmasked, the same file has content.
    assert!(!fs::read_to_string("/proc/interrupts").unwrap().is_empty());
}

#[test]
fn environment_directory_and_stdin() {
    let _g = shared();
    let c = Container::new();
    let mut child = c
        .command("/bin/sh")
        .args(["-c", "pwd; echo $GREETING; echo ${HOME:-nohome}; cat"])
        .env_clear()
        .env("GREETING", "hello")
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/usr")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"from stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "/usr\nhello\nnohome\nfrom stdin\n"
    );
}

#[test]
fn wait_timeout_try_wait_and_kill() {
    let _g = shared();
    let mut child = Container::new().command("sleep").arg("30").spawn().unwrap();
    assert!(child.id().is_some());
    assert_eq!(child.try_wait().unwrap(), None);
    assert_eq!(child.wait_timeout(Duration::from_millis(50)).unwrap(), None);
    child.kill().unwrap();
    let st = child
        .wait_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    assert_eq!(child.id(), None);
    child.kill().unwrap(); // already reaped: fine, like std
}

#[test]
fn die_with_parent_kills_when_the_spawning_thread_ends() {
    let _g = shared();
    let mut c = Container::new();
    c.die_with_parent(true);
    let mut child = std::thread::spawn(move || c.command("sleep").arg("30").spawn().unwrap())
        .join()
        .unwrap();
    let st = child.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(st.and_then(|s| s.signal()), Some(libc::SIGKILL));
}

#[test]
fn dropping_a_child_kills_and_reaps_it() {
    let _g = exclusive();
    let child = Container::new().command("sleep").arg("30").spawn().unwrap();
    let pid = child.id().unwrap();
    drop(child);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(common::children().is_empty());
}

// ------------------------------------------------------------------------------------------
// Errors: each one clear, and nothing left behind.

fn expect_error(what: &str, cmd: &mut hutch::Command) -> SpawnError {
    common::warm_up();
    let leaks = Leaks::snapshot();
    let err = cmd.spawn().expect_err(what);
    leaks.assert_none(what);
    err
}

#[test]
fn missing_program_is_enoent_at_exec() {
    let _g = exclusive();
    let c = Container::new();
    let err = expect_error("missing program", &mut c.command("/nonexistent/prog"));
    assert_eq!(err.step(), Some(Step::Exec));
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    let msg = hutch::error_chain(&err);
    assert!(
        msg.contains("exec") && msg.contains("/nonexistent/prog"),
        "{msg}"
    );
    // Searched on PATH: the message names the program.
    let err = expect_error(
        "missing program on PATH",
        &mut c.command("no-such-program-hutch"),
    );
    let msg = hutch::error_chain(&err);
    assert!(
        msg.contains("no-such-program-hutch") && msg.contains("os error 2"),
        "{msg}"
    );
    // Also with an init in between.
    let mut ci = Container::new();
    ci.init(true);
    let err = expect_error(
        "missing program under init",
        &mut ci.command("/nonexistent/prog"),
    );
    assert_eq!(err.step(), Some(Step::Exec));
}

#[test]
fn missing_rootfs_names_the_path() {
    let _g = exclusive();
    let mut c = Container::new();
    c.rootfs("/nonexistent/hutch-rootfs");
    let err = expect_error("missing rootfs", &mut c.command("true"));
    let msg = hutch::error_chain(&err);
    assert!(msg.contains("/nonexistent/hutch-rootfs"), "{msg}");
}

#[test]
fn nul_byte_in_an_argument() {
    let _g = exclusive();
    let c = Container::new();
    let err = expect_error("nul byte", c.command("echo").arg("a\0b"));
    assert!(
        matches!(
            err,
            SpawnError::NulByte {
                what: "argument",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn overlapping_id_maps_are_rejected() {
    let _g = exclusive();
    let mut c = Container::new();
    let uid = hutch::ns::idmap::IdMap::new()
        .map(0, 100000, 100)
        .map(50, 200000, 10);
    let gid = hutch::ns::idmap::IdMap::single(0, 0);
    c.id_maps(uid, gid);
    let err = expect_error("overlapping maps", &mut c.command("true"));
    assert!(matches!(err, SpawnError::InvalidIdMap(_)), "{err:?}");
    let msg = hutch::error_chain(&err);
    assert!(msg.contains("overlap"), "{msg}");
}

#[test]
fn over_long_hostname() {
    let _g = exclusive();
    let mut c = Container::new();
    c.hostname("h".repeat(65));
    let err = expect_error("long hostname", &mut c.command("true"));
    assert!(
        matches!(err, SpawnError::HostnameTooLong { len: 65, .. }),
        "{err:?}"
    );
}

#[test]
fn missing_working_directory_names_it() {
    let _g = exclusive();
    let c = Container::new();
    let err = expect_error(
        "missing cwd",
        c.command("true").current_dir("/nonexistent-dir"),
    );
    assert_eq!(err.step(), Some(Step::Chdir));
    assert!(hutch::error_chain(&err).contains("/nonexistent-dir"));
}

#[test]
fn missing_bind_source_names_it() {
    let _g = exclusive();
    let mut c = Container::new();
    c.bind("/nonexistent/hutch-src", "/mnt");
    let err = expect_error("missing bind source", &mut c.command("true"));
    assert!(hutch::error_chain(&err).contains("/nonexistent/hutch-src"));
}

#[test]
fn output_timeout_kills_the_container_and_keeps_what_it_said() {
    let _g = shared();
    let c = Container::new();
    let t = c
        .command("/bin/sh")
        .args(["-c", "echo started; sleep 100 & sleep 100"])
        .output_timeout(Duration::from_secs(2))
        .unwrap();
    assert!(t.timed_out);
    assert_eq!(t.output.stdout, b"started\n");
    assert_eq!(t.output.status.signal(), Some(libc::SIGKILL));
    let t = c
        .command("/bin/echo")
        .arg("quick")
        .output_timeout(Duration::from_secs(30))
        .unwrap();
    assert!(!t.timed_out);
    assert_eq!(t.output.stdout, b"quick\n");
    assert!(t.output.status.success());
}

#[test]
fn a_fresh_proc_without_a_mount_namespace_is_an_error_not_a_host_view() {
    let _g = shared();
    let mut c = Container::new();
    c.share(Namespaces::MOUNT);
    let err = c.command("true").spawn().unwrap_err();
    assert!(
        matches!(
            err,
            SpawnError::NeedsNamespace {
                namespace: Namespace::Mount,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(hutch::error_chain(&err).contains("proc(false)"), "{err}");
    // Asking for no fresh /proc runs, with the host's mounts.
    c.proc(false);
    assert!(c.command("true").status().unwrap().success());
}

#[test]
fn exec_failures_name_the_missing_interpreter_and_the_directory() {
    let _g = shared();
    let dir = std::path::PathBuf::from("/var/tmp").join(unique("hutch-script"));
    fs::create_dir(&dir).unwrap();
    let script = dir.join("s.sh");
    fs::write(&script, "#!/no/such/interp -e\necho hi\n").unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let c = Container::new();
    let err = c.command(&script).spawn().unwrap_err();
    let msg = hutch::error_chain(&err);
    assert!(msg.contains("/no/such/interp"), "{msg}");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    let err = c.command(&dir).spawn().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EISDIR), "{err:?}");
    fs::remove_dir_all(&dir).unwrap();
}
