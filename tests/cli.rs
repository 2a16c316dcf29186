//! The `run` example, run as a user runs it: exit codes, signals, environment, values and
//! error messages (issue 7, "The example CLI").
//!
//! # How the example is found
//!
//! Examples are not binaries, so Cargo gives tests no `CARGO_BIN_EXE_run`. This test builds
//! the example itself, once per test process, with the Cargo that runs the tests
//! (`$CARGO`), into the same target directory and profile as this test binary (found from
//! `current_exe()`: `<target>/[<triple>/]<profile>/deps/cli-<hash>`), and then runs
//! `<target>/[<triple>/]<profile>/examples/run`. Building every time (a no-op when it is up to
//! date) means a test never runs a stale example. Cargo releases its build lock before it runs
//! tests, so the nested build does not wait for the outer one.
//!
//! Tests run as root (as in CI); the `--stats` test also runs the example as uid 65534 with
//! `setpriv` (Debian package util-linux), and the Ctrl-C test runs it on a pseudo-terminal
//! with `script` (bsdutils). Both packages are essential in Debian. Signal tests check that
//! nothing is left behind: no process of the container, no cgroup of the run; when one fails,
//! its guard kills what it started (by pid, checked by start time) and removes the cgroups
//! named after its `run`.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The example, built (or found up to date) once per test process.
fn example() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        // <target>/[<triple>/]<profile>/deps/cli-<hash>
        let profile_dir = exe.parent().and_then(Path::parent).expect("profile dir");
        let profile = profile_dir
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let above = profile_dir.parent().expect("target dir");
        // The target directory's root holds CACHEDIR.TAG; a <triple> directory does not.
        let (target_dir, triple) = if above.join("CACHEDIR.TAG").exists() {
            (above.to_owned(), None)
        } else {
            let root = above.parent().expect("target dir");
            (root.to_owned(), above.file_name().map(|t| t.to_owned()))
        };
        let cargo = std::env::var_os("CARGO")
            .or_else(|| option_env!("CARGO").map(Into::into))
            .unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--example", "run", "--manifest-path"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .arg("--profile")
            .arg(if profile == "debug" { "dev" } else { &profile })
            .env("CARGO_TARGET_DIR", &target_dir);
        if let Some(t) = triple {
            build.arg("--target").arg(t);
        }
        if cfg!(feature = "vm-tests") {
            build.args(["--features", "vm-tests"]);
        }
        let out = build.output().expect("run cargo build --example run");
        assert!(
            out.status.success(),
            "cargo build --example run failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = profile_dir.join("examples").join("run");
        assert!(run.exists(), "{} was not built", run.display());
        run
    })
}

fn run(args: &[&str]) -> Command {
    let mut c = Command::new(example());
    c.args(args);
    c.stdin(Stdio::null());
    c
}

/// Runs the example to the end and checks that it left no cgroup.
fn output(args: &[&str]) -> Output {
    let mut child = run(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    let pid = child.id();
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_no_cgroup_of(pid);
    Output {
        status,
        stdout: out.into_bytes(),
        stderr: err.into_bytes(),
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Where the cgroup2 file system is mounted, if it is.
fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if !right.starts_with("cgroup2 ") {
            return None;
        }
        left.split(' ').nth(4).map(PathBuf::from)
    })
}

/// The cgroup2 directory of process `pid`, as seen from here.
fn cgroup_of(pid: u32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(cgroup2_mount()?.join(rel.trim_start_matches('/')))
}

/// Asserts that no cgroup named after the `run` process `pid` (the library's default names are
/// `hutch-<pid>-<n>`) is left anywhere in the cgroup2 hierarchy.
fn assert_no_cgroup_of(pid: u32) {
    let Some(root) = cgroup2_mount() else { return };
    let prefix = format!("hutch-{pid}-");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let name = e.file_name();
                assert!(
                    !name.to_string_lossy().starts_with(&prefix),
                    "run (pid {pid}) left its cgroup {}",
                    e.path().display()
                );
                stack.push(e.path());
            }
        }
    }
}

/// The children of process `pid` (of all its threads).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_owned())
}

/// The start time of `pid` (field 22 of its stat), to tell it from a later process with the
/// same pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// `n` descendants of `root` whose command name is `name`, waiting up to 20 s for them.
fn wait_for_descendants(root: u32, name: &str, n: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut found = Vec::new();
        let mut todo = children_of(root);
        while let Some(p) = todo.pop() {
            if comm(p).as_deref() == Some(name) {
                found.push(p);
            }
            todo.extend(children_of(p));
        }
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} processes {name:?} under pid {root}: {found:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A descendant of `root` whose command name is `name`, waiting up to 20 s for it.
fn wait_for_descendant(root: u32, name: &str) -> u32 {
    wait_for_descendants(root, name, 1)[0]
}

/// A running `run`. Dropping it cleans up whatever a failing test left: it kills `run`, the
/// container's first process (found while `run` ran; killing it ends the container's pid
/// namespace) and removes the cgroups named after `run`.
struct Running {
    run: Child,
    stderr: std::sync::mpsc::Receiver<String>,
    container: Option<(u32, Option<u64>)>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut run = run(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example");
        // Read in a thread: a container that outlives `run` would keep the pipe open.
        let mut pipe = run.stderr.take().unwrap();
        let (tx, stderr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut err = String::new();
            let _ = pipe.read_to_string(&mut err);
            let _ = tx.send(err);
        });
        Running {
            run,
            stderr,
            container: None,
        }
    }

    fn pid(&self) -> u32 {
        self.run.id()
    }

    /// Waits for the container's first process (`run`'s child) and remembers it.
    fn container(&mut self) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(&pid) = children_of(self.pid()).first() {
                self.container = Some((pid, start_time(pid)));
                return pid;
            }
            assert!(Instant::now() < deadline, "run started no container");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child, which has not been reaped (we hold its Child and
        // have not waited for it).
        #[allow(unsafe_code)]
        let r = unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits at most 20 s for `run` to end; returns its exit code or signal, and its standard
    /// error.
    fn finish(&mut self) -> (Option<i32>, Option<i32>, String) {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.run.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "run did not end");
            std::thread::sleep(Duration::from_millis(20));
        };
        let err = self
            .stderr
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_else(|_| {
                "(stderr still open: something of the container still runs)".into()
            });
        (status.code(), status.signal(), err)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.run.try_wait() {
            let _ = self.run.kill();
            let _ = self.run.wait();
        }
        if let Some((pid, started)) = self.container
            && started.is_some()
            && start_time(pid) == started
        {
            // SAFETY: kill(2) of the container's first process, which this test started; the
            // start time check makes sure the pid was not reused.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while start_time(pid) == started && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        remove_cgroups_of(self.pid());
    }
}

/// Removes (empty) cgroups named after the `run` process `pid`; for cleaning up after a test
/// that failed.
fn remove_cgroups_of(pid: u32) {
    let Some(root) = cgroup2_mount() else { return };
    let prefix = format!("hutch-{pid}-");
    let mut stack = vec![root];
    let mut found = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    found.push(e.path());
                }
                stack.push(e.path());
            }
        }
    }
    // Deepest first.
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in found {
        let _ = std::fs::remove_dir(p);
    }
}

/// Checks that the container's process `pid` (started at `started`) is gone.
fn assert_gone(pid: u32, started: Option<u64>) {
    assert!(
        start_time(pid).is_none() || start_time(pid) != started,
        "the container's process {pid} ({:?}) still runs",
        comm(pid)
    );
}

#[test]
fn sigterm_reaches_the_init_and_run_waits_for_the_container() {
    let _g = common::shared();
    // The program (`sleep`, exec'd by sh) and a process it left in the background.
    let mut r = Running::start(&["--init", "--", "sh", "-c", "sleep 1000 & exec sleep 1000"]);
    let run_pid = r.pid();
    r.container();
    let sleeps = wait_for_descendants(run_pid, "sleep", 2);
    let started: Vec<_> = sleeps.iter().map(|&p| start_time(p)).collect();
    let sleep = sleeps[0];
    let cgroup = cgroup_of(sleep).filter(|c| Some(c) != cgroup_of(std::process::id()).as_ref());
    match &cgroup {
        Some(c) => assert!(c.is_dir(), "{} is not a directory", c.display()),
        None => println!("note: the container got no cgroup here; only processes are checked"),
    }
    r.signal(libc::SIGTERM);
    let (code, signal, err) = r.finish();
    assert_eq!(
        (code, signal),
        (Some(143), None),
        "run must exit with 128+SIGTERM after the container ended; stderr: {err}"
    );
    for (&pid, &started) in sleeps.iter().zip(&started) {
        assert_gone(pid, started);
    }
    if let Some(c) = cgroup {
        assert!(
            !c.exists(),
            "the container's cgroup {} is left",
            c.display()
        );
    }
    assert_no_cgroup_of(run_pid);
}

#[test]
fn a_signal_the_program_handles_reaches_it_without_init() {
    let _g = common::shared();
    for (sig, name) in [
        (libc::SIGINT, "INT"),
        (libc::SIGHUP, "HUP"),
        (libc::SIGTERM, "TERM"),
    ] {
        let script = format!("trap 'exit 7' {name}; echo ready; while :; do sleep 0.05; done");
        let mut r = Running::start(&["--", "sh", "-c", &script]);
        r.container();
        let mut line = String::new();
        BufReader::new(r.run.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        let run_pid = r.pid();
        r.signal(sig);
        let (code, signal, err) = r.finish();
        assert_eq!((code, signal), (Some(7), None), "SIG{name}: stderr: {err}");
        assert!(err.is_empty(), "SIG{name}: {err}");
        assert_no_cgroup_of(run_pid);
    }
}

#[test]
fn a_discarded_signal_is_reported_and_a_second_one_kills_the_container() {
    let _g = common::shared();
    let mut r = Running::start(&["--", "sleep", "1000"]);
    let run_pid = r.pid();
    r.container();
    let sleep = wait_for_descendant(run_pid, "sleep");
    let started = start_time(sleep);
    r.signal(libc::SIGTERM);
    // The first one is discarded by the kernel (sleep is PID 1 with no handler): run says so
    // and keeps waiting.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(start_time(sleep), started, "sleep must still run");
    r.signal(libc::SIGINT);
    let (code, signal, err) = r.finish();
    assert_eq!((code, signal), (Some(137), None), "stderr: {err}");
    assert!(
        err.contains("discards it") && err.contains("--init"),
        "run must say why the first signal did nothing: {err}"
    );
    assert_gone(sleep, started);
    assert_no_cgroup_of(run_pid);
}

#[test]
fn errors_of_run_itself_exit_125() {
    let _g = common::shared();
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus", "--", "true"], "--bogus"),
        (&[], "PROGRAM"),
        (&["--memory", "lots", "--", "true"], "--memory"),
        (&["--cpus", "0", "--", "true"], "at most"),
        (&["--pids-limit", "0", "--", "true"], "-1 for no limit"),
        (&["-v", "/tmp", "--", "true"], "SRC:DST"),
        (&["-e", "=x", "--", "true"], "empty"),
        (&["-w", "tmp", "--", "true"], "must be an absolute path"),
        (
            &["--rootfs", "/", "--", "true"],
            "the host's root cannot be",
        ),
        (&["--hostname", &"x".repeat(65), "--", "true"], "64"),
    ];
    let mut wrong = Vec::new();
    for (args, needle) in cases {
        let o = output(args);
        let err = stderr(&o);
        if o.status.code() != Some(125) || !err.contains(needle) {
            wrong.push(format!(
                "{args:?}: {}, {needle:?} expected in: {err}",
                o.status
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "not exit 125 with a clear message:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn help_and_version_exit_0_and_document_the_rules() {
    let _g = common::shared();
    let o = output(&["--version"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("run {}\n", env!("CARGO_PKG_VERSION")));
    let o = output(&["--help"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let help = stdout(&o);
    for needle in [
        "125",
        "126",
        "127",
        "128+N",
        "HOSTNAME",
        "HOME=/root",
        "SIGTERM",
        "--init",
        "--device-write-bps",
        ":rw",
        "-1",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn exit_codes_of_the_program() {
    let _g = common::shared();
    // Not under /tmp: the container has a private /tmp. The host's tree is visible inside.
    let dir = TargetTmp::new();
    let script = dir.0.join("script");
    std::fs::write(&script, "#!/nonexistent/interpreter -x\necho hi\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plain = dir.0.join("plain");
    std::fs::write(&plain, "echo hi\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dir_s = dir.0.to_str().unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--", "sh", "-c", "exit 3"], 3, ""),
        (&["--", "true"], 0, ""),
        (&["--init", "--", "sh", "-c", "kill -TERM $$"], 143, ""),
        (&["--", "/nonexistent/program"], 127, "/nonexistent/program"),
        (
            &["--", "no-such-program-anywhere"],
            127,
            "no-such-program-anywhere",
        ),
        (&["--", dir_s], 126, "is a directory"),
        (&["--", plain.to_str().unwrap()], 126, "not executable"),
        (
            &["--", script.to_str().unwrap()],
            127,
            "/nonexistent/interpreter",
        ),
    ];
    let mut wrong = Vec::new();
    for (args, code, needle) in cases {
        let o = output(args);
        let err = stderr(&o);
        let quiet = !needle.is_empty() || err.is_empty();
        if o.status.code() != Some(*code) || !err.contains(needle) || !quiet {
            wrong.push(format!(
                "{args:?}: {} (want {code}), {needle:?} expected in: {err}",
                o.status
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "wrong exit codes or messages:\n{}",
        wrong.join("\n")
    );
    // A script whose interpreter is missing names it and what is wrong.
    let o = output(&["--", script.to_str().unwrap()]);
    assert!(stderr(&o).contains("interpreter"), "{}", stderr(&o));
}

#[test]
fn the_program_gets_a_clean_docker_like_environment() {
    let _g = common::shared();
    let o = {
        let mut c = run(&[
            "-e",
            "A=1",
            "-e",
            "COPIED",
            "-e",
            "NOT_IN_CALLER",
            "-e",
            "EMPTY=",
            "--",
            "env",
        ]);
        c.env("LEAKED_FROM_CALLER", "x")
            .env("COPIED", "from caller")
            .env_remove("NOT_IN_CALLER");
        c.output().unwrap()
    };
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut got: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    got.sort();
    let mut want = vec![
        "A=1".to_owned(),
        "COPIED=from caller".to_owned(),
        "EMPTY=".to_owned(),
        format!("HOSTNAME={}", hostname.trim_end()),
        "HOME=/root".to_owned(),
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
    ];
    want.sort();
    assert_eq!(got, want);

    let o = output(&["--hostname", "box", "-e", "HOME=/home/me", "--", "env"]);
    let env = stdout(&o);
    assert!(env.contains("HOSTNAME=box\n"), "{env}");
    assert!(
        env.contains("HOME=/home/me\n"),
        "-e overrides the defaults: {env}"
    );

    let o = output(&["--", "pwd"]);
    assert_eq!(stdout(&o), "/\n", "{}", stderr(&o));
    let o = output(&["-w", "/tmp", "--", "pwd"]);
    assert_eq!(stdout(&o), "/tmp\n", "{}", stderr(&o));
}

/// A directory under Cargo's per-target temporary directory (on the host's tree, so visible
/// inside containers), removed when dropped.
struct TargetTmp(PathBuf);

impl TargetTmp {
    fn new() -> TargetTmp {
        let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(common::unique("hutch-cli"));
        std::fs::create_dir_all(&p).unwrap();
        TargetTmp(p)
    }
}

impl Drop for TargetTmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A block device of this host, for `--device-read-bps`.
fn block_device() -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .find_map(|e| {
            let dev = format!("/dev/{}", e.file_name().to_string_lossy());
            std::fs::metadata(&dev)
                .ok()?
                .file_type()
                .is_block_device()
                .then_some(dev)
        })
}

#[test]
fn values_users_write() {
    let _g = common::shared();
    // Docker's "unlimited" sets no limit, so it needs no controller.
    let o = output(&["--memory", "-1", "--pids-limit", "-1", "--", "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // A fraction with a unit is a size: the container runs, or fails only because this host
    // has no memory controller in cgroup v2.
    for size in ["1.5g", "1.5G", "0.5gb", "1 GiB", "64m"] {
        let o = output(&["--memory", size, "--", "true"]);
        let err = stderr(&o);
        assert!(
            o.status.success() || err.contains("controller `memory`"),
            "--memory {size}: {err}"
        );
    }

    let o = output(&["--cpus", "0", "--", "true"]);
    let err = stderr(&o);
    assert!(
        err.contains("--cpus") && err.contains("must be more than 0 and at most"),
        "{err}"
    );
    assert!(!err.contains("cpu.max") && !err.contains("quota"), "{err}");
    let o = output(&["--cpus", "1000000", "--", "true"]);
    assert!(
        stderr(&o).contains("(the number of CPUs)"),
        "{}",
        stderr(&o)
    );

    let o = output(&["--device-read-bps", ":1m", "--", "true"]);
    let err = stderr(&o);
    assert!(
        err.contains("--device-read-bps") && err.contains("device is missing"),
        "{err}"
    );
    match block_device() {
        Some(dev) => {
            for flag in ["--device-read-bps", "--device-write-bps"] {
                let o = output(&[flag, &format!("{dev}:0"), "--", "true"]);
                let err = stderr(&o);
                assert_eq!(o.status.code(), Some(125), "{err}");
                assert!(err.contains(flag) && !err.contains("None"), "{err}");
            }
        }
        None => println!("note: no block device here; the rate-0 case is not checked"),
    }
}

#[test]
fn stats_without_a_cgroup_say_why() {
    let _g = common::shared();
    let dir = cgroup2_mount();
    let writable_by_nobody = dir.is_some_and(|d| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(d).is_ok_and(|m| m.uid() == 65534)
    });
    assert!(!writable_by_nobody, "cgroup2 is delegated to nobody here");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(example())
        .args(["--stats", "--", "true"])
        .stdin(Stdio::null())
        .output()
        .expect("setpriv (util-linux)");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("no cgroup") && err.contains("delegated") && err.contains("65534"),
        "{err}"
    );
}

/// Kills what a terminal test started if it fails midway: the `script` session, `run` and the
/// container's first process (each checked by start time), then removes `run`'s cgroups.
struct TerminalSession {
    script: Child,
    run: Option<(u32, Option<u64>)>,
    container: Option<(u32, Option<u64>)>,
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        for (pid, started) in [self.container, self.run].into_iter().flatten() {
            if started.is_some() && start_time(pid) == started {
                // SAFETY: kill(2) of a process this test started; the start time check makes
                // sure the pid was not reused.
                #[allow(unsafe_code)]
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
            }
        }
        let _ = self.script.kill();
        let _ = self.script.wait();
        if let Some((pid, _)) = self.run {
            remove_cgroups_of(pid);
        }
    }
}

/// Ctrl-C typed in a terminal: the kernel sends SIGINT to the terminal's foreground process
/// group, `run` and the container alike. `run` must stay, say why `sleep` (PID 1, no handler)
/// ignored it, and kill the container on the second Ctrl-C. Runs `run` under `script`
/// (util-linux), which gives it a pseudo-terminal.
#[test]
fn ctrl_c_in_a_terminal_is_explained_and_a_second_one_kills_the_container() {
    use std::io::Write;
    let _g = common::shared();
    let line = format!("'{}' -- sleep 1000; echo code=$?", example().display());
    let mut script = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script (util-linux)");
    let mut stdout = script.stdout.take().unwrap();
    let (tx, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let _ = tx.send(String::from_utf8_lossy(&out).into_owned());
    });
    let mut session = TerminalSession {
        script,
        run: None,
        container: None,
    };
    let sleep = wait_for_descendant(session.script.id(), "sleep");
    let run_pid = wait_for_descendant(session.script.id(), "run");
    session.run = Some((run_pid, start_time(run_pid)));
    session.container = Some((sleep, start_time(sleep)));
    let started = start_time(sleep);
    let mut tty = session.script.stdin.take().unwrap();
    tty.write_all(b"\x03").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(start_time(sleep), started, "sleep ignores SIGINT as PID 1");
    assert!(
        start_time(run_pid).is_some(),
        "run must not die of the terminal's SIGINT while its container runs"
    );
    tty.write_all(b"\x03").unwrap();
    let out = output
        .recv_timeout(Duration::from_secs(20))
        .expect("the terminal session did not end");
    drop(tty);
    assert!(
        out.contains("reached the program") && out.contains("--init"),
        "run must say why the first Ctrl-C did nothing: {out}"
    );
    assert!(out.contains("code=137"), "{out}");
    assert_gone(sleep, started);
    assert_no_cgroup_of(run_pid);
}

/// `run` killed with SIGKILL cannot forward anything: the container must die with it (the
/// library's `die_with_parent`), and the cgroup it leaves is removed by the next spawn.
#[test]
fn a_sigkilled_run_takes_its_container_along() {
    let _g = common::shared();
    let mut r = Running::start(&["--", "sleep", "1000"]);
    let run_pid = r.pid();
    r.container();
    let sleep = wait_for_descendant(run_pid, "sleep");
    let started = start_time(sleep);
    r.signal(libc::SIGKILL);
    let (code, signal, _) = r.finish();
    assert_eq!((code, signal), (None, Some(libc::SIGKILL)));
    let deadline = Instant::now() + Duration::from_secs(5);
    while start_time(sleep) == started && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_gone(sleep, started);
    // The next spawn under the same parent removes the cgroup of the dead run.
    let o = output(&["--", "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_no_cgroup_of(run_pid);
}
