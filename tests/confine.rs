//! The hardened default and its knobs, against the real kernel as root: capabilities,
//! no_new_privs, privileged mode, and the same for processes exec'd into a container.

mod common;

use common::shared;
use hutch::{CapSet, Capability, Container, SpawnError, Stdio};

/// `(CapInh, CapPrm, CapEff, CapBnd, CapAmb, NoNewPrivs)` of the program, from its own
/// `/proc/self/status`.
fn status_of(cmd: &mut hutch::Command) -> (u64, u64, u64, u64, u64, u32) {
    let out = cmd.stdout(Stdio::piped()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_status(&String::from_utf8_lossy(&out.stdout))
}

fn parse_status(text: &str) -> (u64, u64, u64, u64, u64, u32) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .trim()
            .to_owned()
    };
    let hex = |name: &str| u64::from_str_radix(&field(name), 16).unwrap();
    (
        hex("CapInh:"),
        hex("CapPrm:"),
        hex("CapEff:"),
        hex("CapBnd:"),
        hex("CapAmb:"),
        field("NoNewPrivs:").parse().unwrap(),
    )
}

const DOCKER: u64 = 0xa80425fb;

#[test]
fn a_default_container_has_exactly_dockers_capabilities_and_no_new_privs() {
    let _g = shared();
    let c = Container::new();
    let st = status_of(c.command("cat").arg("/proc/self/status"));
    assert_eq!(st, (0, DOCKER, DOCKER, DOCKER, 0, 1));
    assert_eq!(CapSet::docker_default().bits(), DOCKER);
}

#[test]
fn the_same_in_a_user_namespace_and_for_exec() {
    let _g = shared();
    let mut c = Container::new();
    c.user_namespace(true);
    let st = status_of(c.command("cat").arg("/proc/self/status"));
    assert_eq!(st, (0, DOCKER, DOCKER, DOCKER, 0, 1));
    let mut child = Container::new().command("sleep").arg("30").spawn().unwrap();
    let st = status_of(child.exec("cat").arg("/proc/self/status"));
    assert_eq!(st, (0, DOCKER, DOCKER, DOCKER, 0, 1), "exec'd process");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn cap_drop_and_cap_add() {
    let _g = shared();
    let mut c = Container::new();
    c.cap_drop(Capability::NetRaw).cap_add(Capability::NetAdmin);
    let want = DOCKER & !(1 << 13) | (1 << 12);
    let st = status_of(c.command("cat").arg("/proc/self/status"));
    assert_eq!(st, (0, want, want, want, 0, 1));
    // Without NET_RAW a raw socket is refused.
    let out = c
        .command("python3")
        .arg("-c")
        .arg("import socket\ntry:\n socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)\nexcept PermissionError as e:\n print(e.errno)")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        libc::EPERM.to_string()
    );
    let mut none = Container::new();
    none.cap_drop_all();
    let st = status_of(none.command("cat").arg("/proc/self/status"));
    assert_eq!(st, (0, 0, 0, 0, 0, 1));
}

#[test]
fn a_non_root_user_gets_added_capabilities_as_ambient() {
    let _g = shared();
    let mut c = Container::new();
    c.cap_add(Capability::NetBindService);
    let nbs = 1u64 << 10;
    let st = status_of(
        c.command("cat")
            .arg("/proc/self/status")
            .uid(1000)
            .gid(1000),
    );
    assert_eq!(st, (nbs, nbs, nbs, DOCKER, nbs, 1));
    // With the default set only, a non-root program has none.
    let st = status_of(
        Container::new()
            .command("cat")
            .arg("/proc/self/status")
            .uid(1000),
    );
    assert_eq!(st, (0, 0, 0, DOCKER, 0, 1));
}

#[test]
fn no_new_privs_can_be_turned_off() {
    let _g = shared();
    let mut c = Container::new();
    c.no_new_privs(false);
    let st = status_of(c.command("cat").arg("/proc/self/status"));
    assert_eq!(st.5, 0);
}

#[test]
fn privileged_keeps_every_capability_of_the_caller() {
    let _g = shared();
    let mine = parse_status(&std::fs::read_to_string("/proc/self/status").unwrap());
    let mut c = Container::new();
    c.privileged();
    let st = status_of(c.command("cat").arg("/proc/self/status"));
    assert_eq!(st, (0, mine.3, mine.3, mine.3, 0, 0));
}

#[test]
fn a_capability_the_caller_lacks_is_a_clear_error() {
    // This machine's bounding set may lack some capability (CAP_SYS_RESOURCE here): asking
    // for one that is missing names it.
    let _g = shared();
    let mine = parse_status(&std::fs::read_to_string("/proc/self/status").unwrap());
    let Some(missing) = (0..=40u8).find(|n| mine.3 & (1 << n) == 0) else {
        println!("the caller has every capability: nothing to test");
        return;
    };
    let cap = Capability::from_number(missing).unwrap();
    let mut c = Container::new();
    c.cap_add(cap);
    let err = c.command("true").spawn().unwrap_err();
    assert!(matches!(err, SpawnError::Capabilities(_)), "{err:?}");
    let msg = hutch::error_chain(&err);
    assert!(msg.contains(cap.name()), "{msg}");
}

#[test]
fn host_keeps_the_callers_capabilities() {
    let _g = shared();
    let mine = parse_status(&std::fs::read_to_string("/proc/self/status").unwrap());
    let st = status_of(Container::host().command("cat").arg("/proc/self/status"));
    assert_eq!((st.2, st.3, st.5), (mine.2, mine.3, 0));
}

#[test]
fn landlock_confines_the_file_system() {
    let _g = shared();
    let dir = std::path::PathBuf::from("/var/tmp").join(common::unique("hutch-landlock"));
    std::fs::create_dir(&dir).unwrap();
    let mut rules = hutch::Landlock::new();
    for p in ["/usr", "/lib", "/lib64", "/bin", "/etc"] {
        if std::path::Path::new(p).exists() {
            rules.read_only(p);
        }
    }
    rules.read_write(&dir);
    let mut c = Container::new();
    c.landlock(rules).bind(&dir, &dir);
    let script = format!(
        "cat /etc/hostname >/proc/self/fd/1 && echo read-ok; touch /etc/x 2>&1; \
         touch {d}/y && echo write-ok; ls /root 2>&1; true",
        d = dir.display()
    );
    let out = c.command("/bin/sh").args(["-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("read-ok") && text.contains("write-ok"),
        "{text} {err}"
    );
    // Read-only file system (the host tree) or Landlock's own denial.
    assert!(
        text.contains("touch: cannot touch '/etc/x'"),
        "{text} {err}"
    );
    assert!(
        text.contains("ls: cannot open directory '/root': Permission denied"),
        "{text} {err}"
    );
    let child = c.command("true").spawn().unwrap();
    assert!(child.landlock().unwrap().abi() >= 1);
    drop(child);
    std::fs::remove_dir_all(&dir).unwrap();
    // A rule path that does not exist is an error naming it.
    let mut rules = hutch::Landlock::new();
    rules.read_only("/no/such/path");
    let mut c = Container::new();
    c.landlock(rules);
    let err = c.command("true").spawn().unwrap_err();
    assert!(matches!(err, SpawnError::Landlock(_)), "{err:?}");
    assert!(hutch::error_chain(&err).contains("/no/such/path"), "{err}");
}

#[test]
fn an_lsm_that_is_not_enabled_is_an_error_not_ignored() {
    let _g = shared();
    let lsms = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    if !lsms.contains("apparmor") {
        let mut c = Container::new();
        c.apparmor_profile("docker-default");
        let err = c.command("true").spawn().unwrap_err();
        assert!(matches!(err, SpawnError::Lsm(_)), "{err:?}");
        assert!(
            hutch::error_chain(&err).contains("AppArmor is not enabled"),
            "{err}"
        );
    } else {
        println!("AppArmor is enabled here: the absent-LSM error is tested elsewhere");
    }
    if !lsms.contains("selinux") {
        let mut c = Container::new();
        c.selinux_label("system_u:system_r:container_t:s0");
        let err = c.command("true").spawn().unwrap_err();
        assert!(matches!(err, SpawnError::Lsm(_)), "{err:?}");
        assert!(
            hutch::error_chain(&err).contains("SELinux is not enabled"),
            "{err}"
        );
    }
}

fn seccomp_field(cmd: &mut hutch::Command) -> String {
    let out = cmd.stdout(Stdio::piped()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no Seccomp line in {text}"))
}

#[test]
fn a_default_container_runs_under_dockers_seccomp_profile() {
    let _g = shared();
    let c = Container::new();
    assert_eq!(
        seccomp_field(c.command("cat").arg("/proc/self/status")),
        "2"
    );
    // keyctl is refused by the profile (capabilities alone leave it open).
    let out = c
        .command("python3")
        .args([
            "-c",
            "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n\
             r = libc.syscall(250, 0, 0, 0, 0, 0)\nprint(r, ctypes.get_errno())",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("-1 {}", libc::EPERM)
    );
    // The same under an init, for a process exec'd into the container, and with
    // no_new_privs off (the filter is then installed while CAP_SYS_ADMIN is still held).
    let mut i = Container::new();
    i.init(true);
    assert_eq!(
        seccomp_field(i.command("cat").arg("/proc/self/status")),
        "2"
    );
    let mut child = Container::new().command("sleep").arg("30").spawn().unwrap();
    assert_eq!(
        seccomp_field(child.exec("cat").arg("/proc/self/status")),
        "2"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let mut n = Container::new();
    n.no_new_privs(false);
    let st = status_of(n.command("cat").arg("/proc/self/status"));
    assert_eq!(st.5, 0);
    assert_eq!(
        seccomp_field(n.command("cat").arg("/proc/self/status")),
        "2"
    );
}

#[test]
fn seccomp_can_be_turned_off_or_replaced() {
    let _g = shared();
    let mut u = Container::new();
    u.seccomp_unconfined();
    assert_eq!(
        seccomp_field(u.command("cat").arg("/proc/self/status")),
        "0"
    );
    let mut p = Container::new();
    p.privileged();
    assert_eq!(
        seccomp_field(p.command("cat").arg("/proc/self/status")),
        "0"
    );
    // A filter of our own: mkdir answers EACCES, everything else is allowed.
    use hutch::seccomp::{Action, Filter, Syscall};
    let mut f = Filter::new(Action::Allow);
    f.rule(
        Syscall::by_name("mkdir").unwrap(),
        Action::Errno(libc::EACCES as u16),
        &[],
    )
    .rule(
        Syscall::by_name("mkdirat").unwrap(),
        Action::Errno(libc::EACCES as u16),
        &[],
    );
    let mut c = Container::new();
    c.seccomp_filter(f);
    let out = c
        .command("/bin/sh")
        .args(["-c", "mkdir /tmp/d 2>&1; echo done"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Permission denied") && text.contains("done"),
        "{text}"
    );
    // A profile from JSON, and a bad one naming its entry.
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#;
    let mut c = Container::new();
    c.seccomp_profile(hutch::seccomp::profile::Profile::from_docker_json(json).unwrap());
    let out = c
        .command("/bin/sh")
        .args(["-c", "mkdir /tmp/d 2>&1; echo done"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Permission denied"));
    let bad = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdirr"], "action": "SCMP_ACT_ERRNO"}]}"#;
    let err = hutch::seccomp::profile::Profile::from_docker_json(bad)
        .map(|p| {
            let mut c = Container::new();
            c.seccomp_profile(p);
            c.command("true").spawn().map(|_| ())
        })
        .map_err(|e| e.to_string());
    let msg = match err {
        Err(e) => e,
        Ok(Err(e)) => hutch::error_chain(&e),
        Ok(Ok(())) => panic!("a profile naming an unknown system call was accepted"),
    };
    assert!(msg.contains("mkdirr"), "{msg}");
}

#[test]
fn a_seccomp_listener_supervises_the_program() {
    let _g = shared();
    use hutch::seccomp::{Action, Filter, Response, Syscall};
    let mut f = Filter::new(Action::Allow);
    f.rule(Syscall::by_name("mkdir").unwrap(), Action::UserNotif, &[])
        .rule(Syscall::by_name("mkdirat").unwrap(), Action::UserNotif, &[]);
    for init in [false, true] {
        let mut c = Container::new();
        c.seccomp_filter(f.clone())
            .seccomp_listener(true)
            .init(init);
        let mut child = c
            .command("/bin/sh")
            .args(["-c", "mkdir /tmp/a 2>&1; mkdir /tmp/b && echo made-b"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut listener = child.take_seccomp_listener().expect("a listener");
        assert!(child.take_seccomp_listener().is_none());
        // The first mkdir is refused, the second allowed to run.
        let n = listener.recv().unwrap();
        listener
            .respond(n.id, Response::Errno(libc::EACCES))
            .unwrap();
        let n = listener.recv().unwrap();
        listener.respond(n.id, Response::Continue).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Permission denied"), "init {init}: {text}");
        assert!(text.contains("made-b"), "init {init}: {text}");
    }
}

/// A filter that notifies `execve`: the container's own exec (and its init's) is let through
/// by the spawn itself, which returns; the supervisor sees the program's later ones. With an
/// early filter (no_new_privs off) every call of the child's setup is notified too.
#[test]
fn a_listener_on_execve_does_not_hang_the_spawn() {
    let _g = shared();
    use hutch::seccomp::{Action, Filter, Response, Syscall};
    let mut f = Filter::new(Action::Allow);
    f.rule(Syscall::by_name("execve").unwrap(), Action::UserNotif, &[])
        .rule(
            Syscall::by_name("execveat").unwrap(),
            Action::UserNotif,
            &[],
        );
    for (init, nnp) in [(false, true), (true, true), (false, false), (true, false)] {
        let mut c = Container::new();
        c.seccomp_filter(f.clone())
            .seccomp_listener(true)
            .init(init)
            .no_new_privs(nnp);
        let mut child = c
            .command("/bin/sh")
            .args(["-c", "/bin/true && echo ran-true"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut listener = child.take_seccomp_listener().expect("a listener");
        // The shell's exec of /bin/true is the supervisor's to answer.
        let n = listener.recv().unwrap();
        assert_eq!(
            n.data.nr as i64,
            libc::SYS_execve,
            "init {init}, nnp {nnp}: {n:?}"
        );
        listener.respond(n.id, Response::Continue).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("ran-true"), "init {init}, nnp {nnp}: {text}");
    }
    // A filter that notifies, without a listener, is an error (not ENOSYS at run time).
    let mut c = Container::new();
    c.seccomp_filter(f.clone());
    let err = c.command("true").spawn().unwrap_err();
    assert!(
        matches!(err, SpawnError::SeccompNotifyWithoutListener),
        "{err:?}"
    );
    // A listener without a filter is an error, not silently nothing.
    let mut c = Container::new();
    c.seccomp_unconfined().seccomp_listener(true);
    let err = c.command("true").spawn().unwrap_err();
    assert!(
        matches!(err, SpawnError::SeccompListenerWithoutFilter),
        "{err:?}"
    );
}

/// `privileged()` turns seccomp off, but a filter set after it applies.
#[test]
fn a_filter_set_after_privileged_applies() {
    let _g = shared();
    use hutch::seccomp::{Action, Filter, Syscall};
    let mut f = Filter::new(Action::Allow);
    f.rule(
        Syscall::by_name("mkdir").unwrap(),
        Action::Errno(libc::EPERM as u16),
        &[],
    )
    .rule(
        Syscall::by_name("mkdirat").unwrap(),
        Action::Errno(libc::EPERM as u16),
        &[],
    );
    let mut c = Container::new();
    c.privileged().seccomp_filter(f);
    let out = c
        .command("/bin/sh")
        .args(["-c", "grep Seccomp: /proc/self/status; mkdir /tmp/x 2>&1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("Operation not permitted"), "{text}");
}

#[test]
fn a_writable_cgroup_mount_without_a_cgroup_namespace_is_an_error() {
    let _g = shared();
    let mut c = Container::new();
    c.share(hutch::Namespaces::CGROUP).sysfs(true, true);
    let err = c.command("true").spawn().unwrap_err();
    assert!(
        matches!(
            err,
            SpawnError::NeedsNamespace {
                namespace: hutch::Namespace::Cgroup,
                ..
            }
        ),
        "{err:?}"
    );
    // Writable with its own cgroup namespace: the program may write its own cgroup files.
    let mut c = Container::new();
    c.sysfs(true, true);
    let out = c
        .command("/bin/sh")
        .args(["-c", "grep ' /sys/fs/cgroup ' /proc/self/mountinfo"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // The per-mount options (field 6), not the superblock's.
    let opts = text.split(' ').nth(5).unwrap_or("");
    assert!(opts.split(',').any(|o| o == "rw"), "{text}");
    let c = Container::new();
    let out = c
        .command("/bin/sh")
        .args(["-c", "grep ' /sys/fs/cgroup ' /proc/self/mountinfo"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let opts = text.split(' ').nth(5).unwrap_or("");
    assert!(
        opts.split(',').any(|o| o == "ro"),
        "read-only by default: {text}"
    );
}

/// Root without a device program (no cgroup) loses CAP_MKNOD unless it asked for it, and a
/// node made in the container's `/dev` never opens (`nodev`), with or without a cgroup.
#[test]
fn device_nodes_need_a_device_program_or_an_explicit_cap_mknod() {
    let _g = shared();
    let script = "grep CapBnd /proc/self/status; \
        mknod /dev/n c 1 3 && echo made; \
        head -c0 /dev/n && echo opened; \
        head -c0 /dev/null && echo null-ok";
    let run = |c: &Container| {
        let out = c
            .command("/bin/sh")
            .args(["-c", script])
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mknod = 1u64 << 27;
    let bnd = |out: &str| {
        let hex = out
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .unwrap()
            .trim();
        u64::from_str_radix(hex, 16).unwrap()
    };
    // No cgroup, so no device program: CAP_MKNOD is gone.
    let mut c = Container::new();
    c.cgroup(false);
    let (out, err) = run(&c);
    assert_eq!(bnd(&out) & mknod, 0, "{out}");
    assert!(!out.contains("made"), "{out}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(out.contains("null-ok"), "{out}");
    // A process exec'd into it has the container's set.
    let mut child = c.command("sleep").arg("30").spawn().unwrap();
    let out = child
        .exec("grep")
        .args(["CapBnd", "/proc/self/status"])
        .output()
        .unwrap();
    assert_eq!(bnd(&String::from_utf8_lossy(&out.stdout)) & mknod, 0);
    child.kill().unwrap();
    child.wait().unwrap();
    // Asked for explicitly: kept, but /dev is nodev.
    c.cap_add(Capability::Mknod);
    let (out, err) = run(&c);
    assert_ne!(bnd(&out) & mknod, 0, "{out}");
    assert!(out.contains("made"), "{out}");
    assert!(!out.contains("opened"), "{out}");
    assert!(err.contains("Permission denied"), "{err}");
    // With a cgroup and Docker's device allow-list, CAP_MKNOD stays (as in Docker).
    let (out, _) = run(&Container::new());
    assert_ne!(bnd(&out) & mknod, 0, "{out}");
    assert!(!out.contains("opened"), "{out}");
}

/// A read-only mount does not stop `connect` on a Unix socket nor writes to a FIFO: the host's
/// `/run` (docker.sock, D-Bus, systemd, initctl) is hidden behind a private one, as root.
#[test]
fn host_sockets_and_fifos_in_run_are_out_of_reach() {
    let _g = shared();
    use std::os::unix::net::UnixListener;
    let dir = std::path::PathBuf::from(format!("/run/hutch-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    struct Gone(std::path::PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _gone = Gone(dir.clone());
    let sock = dir.join("s.sock");
    let fifo = dir.join("f.fifo");
    let listener = UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let c_fifo = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);
    let code = "import errno, os, socket, sys\n\
        def tr(f):\n  try:\n    f(); return 'ok'\n  except OSError as e:\n    return errno.errorcode[e.errno]\n\
        s = socket.socket(socket.AF_UNIX)\n\
        print('connect=' + tr(lambda: s.connect(sys.argv[1])))\n\
        print('fifo=' + tr(lambda: os.close(os.open(sys.argv[2], os.O_WRONLY | os.O_NONBLOCK))))\n\
        print('run-writable=' + tr(lambda: open('/run/x', 'w').close()))";
    let run = |c: &Container| {
        let out = c
            .command("python3")
            .args(["-c", code, sock.to_str().unwrap(), fifo.to_str().unwrap()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&Container::new());
    assert!(out.contains("connect=ENOENT"), "{out}");
    assert!(out.contains("fifo=ENOENT"), "{out}");
    // The private /run is the container's own scratch space.
    assert!(out.contains("run-writable=ok"), "{out}");
    assert!(
        listener.accept().is_err(),
        "a container reached the host's socket"
    );
    // The control: with the host's /run, root reaches both (ENXIO: no reader on the FIFO).
    let mut c = Container::new();
    c.private_run(false);
    let out = run(&c);
    assert!(out.contains("connect=ok"), "{out}");
    assert!(out.contains("fifo=ENXIO"), "{out}");
    assert!(out.contains("run-writable=EROFS"), "{out}");
}

/// Landlock rules that let a program of the host's tree run: its system directories,
/// read-only.
fn system_read_only() -> hutch::Landlock {
    let mut rules = hutch::Landlock::new();
    rules
        .read_only("/usr")
        .read_only("/lib")
        .read_only("/lib64")
        .read_only("/bin");
    rules
}

/// Landlock rule paths name what the program sees: the container's own private `/tmp`, its
/// `/dev`, a tmpfs of its own (the doc example of `Container::landlock`).
#[test]
fn landlock_paths_name_the_containers_own_mounts() {
    let _g = shared();
    let mut rules = system_read_only();
    rules
        .read_only("/etc")
        .read_write("/tmp")
        .read_write("/dev")
        .read_write("/mnt");
    let mut c = Container::new();
    c.tmpfs("/mnt").landlock(rules);
    let out = c
        .command("/bin/sh")
        .args([
            "-c",
            "touch /tmp/a /mnt/b && ls /tmp /mnt && echo x > /dev/null && echo wrote; \
             cat /proc/self/status >/dev/null 2>&1 || echo proc-denied; \
             grep NoNewPrivs /etc/passwd >/dev/null; ls /var >/dev/null 2>&1 || echo var-denied",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("a\n") && text.contains("b\n"), "{text}{err}");
    assert!(text.contains("wrote"), "{text}{err}");
    // What no rule names stays denied: /proc, /var.
    assert!(text.contains("proc-denied"), "{text}{err}");
    assert!(text.contains("var-denied"), "{text}{err}");
}

/// Landlock never turns `no_new_privs` on behind the caller's back: with it off, the ruleset
/// is enforced while the child still holds CAP_SYS_ADMIN.
#[test]
fn landlock_keeps_no_new_privs_off_when_asked() {
    let _g = shared();
    let mut rules = hutch::Landlock::new();
    rules.read_only("/");
    let mut c = Container::new();
    c.no_new_privs(false).landlock(rules);
    let out = c
        .command("/bin/sh")
        .args([
            "-c",
            "grep NoNewPrivs /proc/self/status; touch /tmp/x 2>&1 || echo denied",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NoNewPrivs:\t0"), "{text}");
    assert!(text.contains("denied"), "{text}");
    // With an init too (the init and the program share the ruleset).
    c.init(true);
    let out = c
        .command("/bin/sh")
        .args([
            "-c",
            "grep NoNewPrivs /proc/self/status; touch /tmp/x 2>&1 || echo denied",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NoNewPrivs:\t0") && text.contains("denied"),
        "{text}"
    );
}

/// A profile's install flags reach `seccomp(2)`. `WAIT_KILLABLE_RECV` shows it: once the
/// supervisor has received a notification, a signal with a handler no longer interrupts the
/// notified call (without the flag the call is interrupted: its notification becomes invalid
/// and it fails with EINTR). Without a listener the flag is an error naming it, not the
/// kernel's bare EINVAL.
#[test]
fn profile_install_flags_are_passed_to_the_kernel() {
    let _g = shared();
    use hutch::seccomp::Response;
    let profile = |flags: &str, action: &str| {
        let json = format!(
            r#"{{
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": [{flags}],
            "syscalls": [{{"names": ["mkdir", "mkdirat"], "action": "{action}"}}]
        }}"#
        );
        hutch::seccomp::profile::Profile::from_docker_json(&json).unwrap()
    };
    const KILLABLE: &str = r#""SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV""#;
    let killable = profile(KILLABLE, "SCMP_ACT_NOTIFY");
    let mut c = Container::new();
    c.seccomp_profile(profile(KILLABLE, "SCMP_ACT_ERRNO"));
    let err = c.command("true").spawn().unwrap_err();
    assert!(
        matches!(err, SpawnError::SeccompWaitKillableWithoutListener),
        "{err:?}"
    );
    assert!(err.to_string().contains("WAIT_KILLABLE_RECV"), "{err}");
    // The program: a SIGUSR1 handler, then a notified mkdir.
    let script = "import os, signal\n\
                  signal.signal(signal.SIGUSR1, lambda *a: print('signal', flush=True))\n\
                  os.mkdir('/tmp/d')\n\
                  print('made', flush=True)";
    for (flags, init, killable_wait) in [
        (killable.clone(), false, true),
        (killable, true, true),
        (profile("", "SCMP_ACT_NOTIFY"), false, false),
    ] {
        let mut c = Container::new();
        c.seccomp_profile(flags).seccomp_listener(true).init(init);
        let mut child = c
            .command("python3")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut listener = child.take_seccomp_listener().expect("a listener");
        let n = listener.recv().unwrap();
        let pid = n.pid;
        // The call now waits for the answer; a signal arrives meanwhile.
        // SAFETY: a plain kill(2) of the process that is waiting for us.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGUSR1) }, 0);
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(
            listener.id_valid(n.id),
            killable_wait,
            "init {init}, killable {killable_wait}: the first notification"
        );
        let made = if killable_wait {
            listener.respond(n.id, Response::Continue).unwrap();
            true
        } else {
            // Interrupted: the call fails with EINTR once the handler has run (Python does
            // not retry mkdir).
            false
        };
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        // The handler ran: after the answer with the flag, during the wait without it.
        assert!(text.contains("signal"), "{text}");
        if made {
            assert!(out.status.success() && text.contains("made"), "{text}{err}");
        } else {
            assert!(
                !out.status.success() && err.contains("Interrupted system call"),
                "{text}{err}"
            );
        }
    }
    // An OCI listenerPath is refused, not ignored.
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/seccomp-agent.sock",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#;
    let mut c = Container::new();
    c.seccomp_profile(hutch::seccomp::profile::Profile::from_oci_json(json).unwrap());
    let err = c.command("true").spawn().unwrap_err();
    assert!(
        matches!(err, SpawnError::SeccompListenerPath { .. }),
        "{err:?}"
    );
}

/// A relative Landlock path is the caller's (resolved against its working directory): inside
/// it never names the container's `/` (the child's working directory).
#[test]
fn a_relative_landlock_path_is_not_the_containers_root() {
    let _g = shared();
    let mut rules = system_read_only();
    rules.read_write(".");
    let mut c = Container::new();
    c.landlock(rules);
    let out = c
        .command("/bin/sh")
        .args(["-c", "touch /tmp/x 2>&1 || echo denied"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("denied"), "{text}");
}
