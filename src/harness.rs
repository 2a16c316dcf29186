//! Isolated tests: the body of a Rust `#[test]` run inside a container.
//!
//! The test binary runs itself again (the same executable) inside a container built with the
//! usual [`Container`] builder, asking libtest for exactly one test, and the outer test
//! passes or fails with the inner result. A test written with the [`isolated!`](crate::isolated)
//! macro is one line longer than a plain `#[test]`:
//!
//! ```no_run
//! fn sandbox() -> hutch::Container {
//!     let mut c = hutch::Container::new();       // new pid, mount, uts, ipc, net namespaces
//!     c.hostname("sandbox").tmpfs("/tmp").read_only(true);
//!     c
//! }
//!
//! hutch::isolated!(sandbox(), fn sees_its_own_world() {
//!     let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
//!     assert_eq!(host.trim(), "sandbox");
//!     // Only `lo` in the new network namespace.
//!     let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
//!     assert_eq!(dev.lines().skip(2).count(), 1);
//!     // Port 80 is ours alone: the same test can run in parallel with itself.
//!     let _server = std::net::TcpListener::bind("127.0.0.1:80").unwrap();
//! });
//! ```
//!
//! # How it works
//!
//! * **Outer run** (the process `cargo test` started): [`IsolatedTest::run`] spawns the
//!   test binary ([`std::env::current_exe`]) in the container with
//!   `--exact <name> --nocapture --test-threads=1 --include-ignored` and the environment
//!   variable [`MARKER`] set to the test's name, with standard output and error piped. When
//!   the inner libtest reports `1 passed`, it prints the inner output (so it shows as the
//!   test's output, captured by libtest like any other) and returns `Ok`; otherwise it returns
//!   an [`IsolatedError`] saying what happened: the inner panic message and output, the
//!   signal that killed it (and whether the OOM killer did, from the container's
//!   `memory.events`), a timeout, or that no test of that name exists.
//! * **Inner run** (in the container, [`MARKER`] equal to this test's name): the body runs
//!   directly in the test thread, so `assert!` and panics fail the test as usual.
//!   (`#[should_panic]` does not combine with it: the inner run would pass and the outer one
//!   would then not panic.)
//!
//! The test's name is what libtest calls it: the module path below the crate and the function
//! name, e.g. `net::server_binds_port_80`; [`test_name`] derives it from `module_path!()`,
//! which the macro does for you. Names with `::` are fine.
//!
//! Every isolated test is its own container, so tests run in parallel under `cargo test`
//! (many test threads) and under `cargo nextest` (a process per test) without sharing ports,
//! hostnames, `/tmp` or processes. Processes a test leaves behind end with its container:
//! the test binary runs in a new pid namespace under the container's init
//! ([`Container::init`](crate::Container::init), turned on for isolated tests so that signals
//! have their default actions: an `abort` is reported as `SIGABRT`), and the kernel kills the
//! rest when the test ends. A timeout ([`IsolatedTest::timeout`], [`DEFAULT_TIMEOUT`] by default) kills the
//! container's whole cgroup ([`Child::kill_all`](crate::Child::kill_all)), or its PID 1 when
//! it has no cgroup, and fails the test saying so.
//!
//! # Requirements
//!
//! The test binary is passed into the container as descriptor 3 and executed through
//! `/proc/self/fd/3`, so its path need not exist inside (a target directory under the
//! container's private `/tmp`, a minimal tree); the container needs a `/proc` (it has a fresh
//! one by default) and the libraries the binary links (libc): with a
//! [`rootfs`](Container::rootfs), bind them in, or bind the binary and name it with
//! [`IsolatedTest::program`]. Otherwise the requirements are [`Container`]'s: root, or unprivileged
//! user namespaces.
//!
//! The harness must be libtest (the default `#[test]` harness) or one that takes the same
//! `--exact NAME --nocapture --test-threads=1` arguments and prints `1 passed`.

use std::borrow::Borrow;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{Container, SpawnError, Stdio};

/// The environment variable that tells a test binary it is the inner run of the test named
/// by its value.
pub const MARKER: &str = "HUTCH_ISOLATED";

/// The timeout of an isolated test unless [`IsolatedTest::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How long, after the inner run ended, its output is waited for: a process outside the
/// container's pid namespace (with a shared pid namespace) could hold the pipes open.
const OUTPUT_GRACE: Duration = Duration::from_secs(5);

/// The libtest name of test function `function` defined in module `module_path` (the value of
/// `module_path!()`): the path without its first segment (the crate), then the function.
///
/// ```
/// use hutch::harness::test_name;
/// assert_eq!(test_name("my_tests", "works"), "works");
/// assert_eq!(test_name("my_tests::net::http", "serves"), "net::http::serves");
/// ```
pub fn test_name(module_path: &str, function: &str) -> String {
    match module_path.split_once("::") {
        Some((_crate, rest)) => format!("{rest}::{function}"),
        None => function.to_owned(),
    }
}

/// Whether this process is the inner run of test `name` (the [`MARKER`] variable equals it).
pub fn is_inner(name: &str) -> bool {
    std::env::var_os(MARKER).is_some_and(|v| v == OsStr::new(name))
}

/// The output of an inner run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InnerOutput {
    /// How the container's first process (the inner test binary) ended.
    pub status: ExitStatus,
    /// Its standard output (libtest's report and whatever the test printed).
    pub stdout: Vec<u8>,
    /// Its standard error (panic messages).
    pub stderr: Vec<u8>,
    /// How long the inner run took, spawn to end.
    pub duration: Duration,
    /// OOM kills in the container's cgroup (`memory.events`), when it has the memory
    /// controller.
    pub oom_kills: Option<u64>,
}

impl fmt::Display for InnerOutput {
    /// Writes both streams, each under a heading.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "---- inner stdout ----")?;
        f.write_str(&String::from_utf8_lossy(&self.stdout))?;
        writeln!(f, "---- inner stderr ----")?;
        f.write_str(&String::from_utf8_lossy(&self.stderr))
    }
}

/// What [`IsolatedTest::run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// This process is the inner run: the body ran here, in the container, and returned.
    RanHere,
    /// The body ran in a container and the test passed there.
    Passed(InnerOutput),
}

/// Why an isolated test failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IsolatedError {
    /// The path of the test binary could not be found.
    #[error("isolated test {test}: cannot find the test binary")]
    CurrentExe {
        /// The test.
        test: String,
        /// The error of `current_exe`.
        #[source]
        source: io::Error,
    },
    /// The container could not be spawned.
    #[error(
        "isolated test {test}: spawning its container failed: {}",
        crate::error_chain(source)
    )]
    Spawn {
        /// The test.
        test: String,
        /// Why.
        source: Box<SpawnError>,
    },
    /// Waiting for the container, or killing it, failed.
    #[error("isolated test {test}: {op} failed")]
    Wait {
        /// The test.
        test: String,
        /// What was being done.
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The test failed inside the container (a panic or assertion: libtest exits with 101).
    #[error(
        "isolated test {test} failed in its container ({}){}\n{output}",
        output.status,
        panic.as_ref().map(|p| format!(":\n{p}")).unwrap_or_default()
    )]
    Failed {
        /// The test.
        test: String,
        /// The inner panic message (`thread '...' panicked at ...` and the message), when
        /// found in the inner standard error.
        panic: Option<String>,
        /// The inner run.
        output: Box<InnerOutput>,
    },
    /// The inner test binary was killed by a signal (a crash, `abort`, the OOM killer).
    #[error(
        "isolated test {test}: the container was killed by signal {signal} ({}){}\n{output}",
        signal_name(*signal),
        if *oom_killed { "; the OOM killer killed it: memory.events counts an oom_kill" } else { "" }
    )]
    Killed {
        /// The test.
        test: String,
        /// The signal.
        signal: i32,
        /// Whether the container's cgroup recorded an OOM kill.
        oom_killed: bool,
        /// The inner run.
        output: Box<InnerOutput>,
    },
    /// The test ran past its timeout, and its container was killed.
    #[error("isolated test {test} timed out after {after:?}; its container was killed\n{output}")]
    TimedOut {
        /// The test.
        test: String,
        /// The timeout.
        after: Duration,
        /// What the inner run printed until then.
        output: Box<InnerOutput>,
    },
    /// The test started in the container but its process ended before libtest could report
    /// a result: the test (or code it called) ended the process, e.g. `std::process::exit`.
    #[error(
        "isolated test {test}: the test ended its process ({}) before libtest reported a \
         result (`std::process::exit` in the test?)\n{output}",
        output.status
    )]
    Exited {
        /// The test.
        test: String,
        /// The inner run.
        output: Box<InnerOutput>,
    },
    /// The inner run ended but did not run the test: no test has that exact name, or the
    /// harness is not libtest.
    #[error(
        "isolated test {test}: the inner run did not run a test of that name (libtest names \
         are the module path below the crate and the function, e.g. `module::test`)\n{output}"
    )]
    NotRun {
        /// The test.
        test: String,
        /// The inner run.
        output: Box<InnerOutput>,
    },
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGILL => "SIGILL".into(),
        libc::SIGFPE => "SIGFPE".into(),
        n => format!("signal {n}"),
    }
}

/// One isolated test: the container to run it in, its name, its timeout.
///
/// The function form of [`isolated!`](crate::isolated), for harness authors:
///
/// ```no_run
/// use std::time::Duration;
/// use hutch::harness::IsolatedTest;
///
/// #[test]
/// fn offline() {
///     let mut c = hutch::Container::new();
///     c.hostname("offline");
///     IsolatedTest::new(&c, "offline")
///         .timeout(Duration::from_secs(30))
///         .run(|| {
///             assert!(std::net::TcpStream::connect("192.0.2.1:80").is_err());
///         })
///         .unwrap_or_else(|e| panic!("{e}"));
/// }
/// ```
#[derive(Debug, Clone)]
pub struct IsolatedTest {
    container: Container,
    name: String,
    timeout: Option<Duration>,
    env: Vec<(OsString, OsString)>,
    program: Option<PathBuf>,
}

impl IsolatedTest {
    /// The test `name` (as libtest names it, see [`test_name`]) in a container configured as
    /// `container` (copied).
    pub fn new(container: impl Borrow<Container>, name: impl Into<String>) -> IsolatedTest {
        IsolatedTest {
            container: container.borrow().clone(),
            name: name.into(),
            timeout: Some(DEFAULT_TIMEOUT),
            env: Vec::new(),
            program: None,
        }
    }

    /// Kills the container and fails the test after `timeout` (default
    /// [`DEFAULT_TIMEOUT`]).
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits for the test however long it takes.
    pub fn no_timeout(&mut self) -> &mut Self {
        self.timeout = None;
        self
    }

    /// Sets an environment variable for the inner run (e.g. to pass it a value the outer
    /// run computed).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The path of the test binary as seen inside the container (default: this process's
    /// executable, which is right when the container sees the host's file tree).
    pub fn program(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.program = Some(path.as_ref().to_owned());
        self
    }

    /// The test's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the test: in the inner run (see [`is_inner`]) calls `body` here and returns
    /// [`Outcome::RanHere`]; otherwise runs the test in a new container and waits for it
    /// ([`run_outer`](IsolatedTest::run_outer)).
    ///
    /// # Errors
    ///
    /// See [`run_outer`](IsolatedTest::run_outer). A panic in `body` in the inner run
    /// propagates (it is what fails the inner test).
    pub fn run<F: FnOnce()>(&self, body: F) -> Result<Outcome, IsolatedError> {
        if is_inner(&self.name) {
            body();
            return Ok(Outcome::RanHere);
        }
        self.run_outer().map(Outcome::Passed)
    }

    /// Runs the test in a new container and waits for its result, without checking for the
    /// inner run: for harnesses that dispatch with [`is_inner`] themselves.
    ///
    /// # Errors
    ///
    /// [`IsolatedError::Failed`] with the inner panic message, [`IsolatedError::Killed`]
    /// (a crash or OOM kill), [`IsolatedError::TimedOut`], [`IsolatedError::Exited`] when
    /// the test ended its process before libtest reported, [`IsolatedError::NotRun`] when
    /// the inner run found no such test, or the spawn error.
    pub fn run_outer(&self) -> Result<InnerOutput, IsolatedError> {
        let test = || self.name.clone();
        // The test binary reaches the container as a descriptor (number 3) and is executed
        // through `/proc/self/fd/3`: its path may not exist inside (a build directory under
        // the container's private /tmp, a minimal tree, a rootfs).
        let (program, binary) = match &self.program {
            Some(p) => (p.clone(), None),
            None => {
                let exe = std::env::current_exe().map_err(|source| IsolatedError::CurrentExe {
                    test: test(),
                    source,
                })?;
                let file =
                    std::fs::File::open(&exe).map_err(|source| IsolatedError::CurrentExe {
                        test: test(),
                        source,
                    })?;
                (PathBuf::from("/proc/self/fd/3"), Some(file))
            }
        };
        // The test runs under the sealed init when it has a pid namespace of its own: as PID 1
        // it would have no default signal actions (an `abort` would be discarded, then fault).
        let mut container = self.container.clone();
        let under_init = container.namespaces.contains(hutch_ns::Namespaces::PID)
            && !container
                .net
                .joins
                .iter()
                .any(|(k, _)| *k == hutch_ns::Namespace::Pid);
        if under_init {
            container.init(true);
        }
        let mut cmd = container.command(&program);
        if let Some(file) = binary {
            cmd.pass_fd(3, file);
        }
        cmd.args([
            OsStr::new("--exact"),
            OsStr::new(&self.name),
            OsStr::new("--nocapture"),
            OsStr::new("--test-threads=1"),
            OsStr::new("--include-ignored"),
        ])
        .env(MARKER, &self.name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let start = Instant::now();
        let mut child = cmd.spawn().map_err(|source| IsolatedError::Spawn {
            test: test(),
            source: Box::new(source),
        })?;
        let stdout = reader(child.stdout.take());
        let stderr = reader(child.stderr.take());
        let wait_err = |op, source| IsolatedError::Wait {
            test: test(),
            op,
            source,
        };
        let mut timed_out = false;
        let status = match self.timeout {
            Some(t) => match child.wait_timeout(t).map_err(|e| wait_err("waiting", e))? {
                Some(s) => s,
                None => {
                    timed_out = true;
                    if child.cgroup().is_some() {
                        let _ = child.kill_all();
                    }
                    child
                        .kill()
                        .map_err(|e| wait_err("killing the container", e))?;
                    child.wait().map_err(|e| wait_err("waiting", e))?
                }
            },
            None => child.wait().map_err(|e| wait_err("waiting", e))?,
        };
        let duration = start.elapsed();
        let oom_kills = child
            .cgroup()
            .and_then(|cg| cg.memory().events().ok())
            .map(|e| e.oom_kill);
        drop(child);
        let output = Box::new(InnerOutput {
            status,
            stdout: collect(stdout),
            stderr: collect(stderr),
            duration,
            oom_kills,
        });
        if timed_out {
            return Err(IsolatedError::TimedOut {
                test: test(),
                after: self.timeout.unwrap_or_default(),
                output,
            });
        }
        // The init reports a program killed by signal N as exit code 128 + N.
        let signal = match (status.signal(), status.code()) {
            (Some(sig), _) => Some(sig),
            (None, Some(code)) if under_init && (129..=128 + 64).contains(&code) => {
                Some(code - 128)
            }
            _ => None,
        };
        if let Some(signal) = signal {
            return Err(IsolatedError::Killed {
                test: test(),
                signal,
                oom_killed: oom_kills.is_some_and(|n| n > 0),
                output,
            });
        }
        let text = String::from_utf8_lossy(&output.stdout);
        if !libtest_summary(&text) && libtest_started(&text, &self.name) {
            return Err(IsolatedError::Exited {
                test: test(),
                output,
            });
        }
        if status.success() {
            if libtest_passed_one(&text) {
                // Shown as the test's own output (captured by libtest unless --nocapture).
                // A failure carries it in its message instead, so it is not shown twice.
                print!("{}", text);
                eprint!("{}", String::from_utf8_lossy(&output.stderr));
                return Ok(*output);
            }
            return Err(IsolatedError::NotRun {
                test: test(),
                output,
            });
        }
        Err(IsolatedError::Failed {
            test: test(),
            panic: panic_message(&String::from_utf8_lossy(&output.stderr)),
            output,
        })
    }
}

/// Reads a stream to its end on a thread of its own.
fn reader(stream: Option<io::PipeReader>) -> Option<mpsc::Receiver<Vec<u8>>> {
    let mut stream = stream?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        // Closed before the result is sent: once it is received, no descriptor is left.
        drop(stream);
        let _ = tx.send(buf);
    });
    Some(rx)
}

fn collect(rx: Option<mpsc::Receiver<Vec<u8>>>) -> Vec<u8> {
    match rx.map(|rx| rx.recv_timeout(OUTPUT_GRACE)) {
        Some(Ok(b)) => b,
        Some(Err(_)) => {
            b"[output not collected: the pipe stayed open after the container ended]\n".to_vec()
        }
        None => Vec::new(),
    }
}

/// Whether libtest printed its summary line.
fn libtest_summary(stdout: &str) -> bool {
    stdout.lines().any(|l| l.starts_with("test result: "))
}

/// Whether libtest started the test `name` (`test NAME ... `, with `--nocapture` the result
/// comes later on the line or on another).
fn libtest_started(stdout: &str, name: &str) -> bool {
    let head = format!("test {name} ...");
    stdout.lines().any(|l| l.starts_with(&head))
}

/// Whether libtest's summary says exactly one test ran and passed.
fn libtest_passed_one(stdout: &str) -> bool {
    stdout
        .lines()
        .any(|l| l.starts_with("test result: ok. 1 passed;"))
}

/// Whether `line` starts a panic report: `thread 'NAME' panicked at` (with ` (TID)` after the
/// name since Rust 1.89).
fn is_panic_line(line: &str) -> bool {
    line.starts_with("thread '") && line.contains(" panicked at ")
}

/// The panic message in libtest's standard error: from `thread '...' panicked at` up to the
/// backtrace note.
fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines().skip_while(|l| !is_panic_line(l));
    let first = lines.next()?;
    let mut msg = vec![first];
    msg.extend(lines.take_while(|l| {
        !l.starts_with("note: run with `RUST_BACKTRACE")
            && !l.starts_with("stack backtrace:")
            && !l.starts_with("thread '")
    }));
    Some(msg.join("\n").trim_end().to_owned())
}

/// Defines a `#[test]` whose body runs inside a container: one line more than a plain test.
///
/// ```no_run
/// hutch::isolated!(hutch::Container::new(), fn offline() {
///     assert!(std::net::TcpStream::connect("192.0.2.1:80").is_err());
/// });
///
/// // With a timeout, and attributes such as #[ignore]:
/// hutch::isolated!(hutch::Container::new(), timeout = std::time::Duration::from_secs(5),
///     #[ignore] fn slow() { std::thread::sleep(std::time::Duration::from_secs(1)) });
/// ```
///
/// The container expression (a [`Container`] or a reference to one) is evaluated only in the
/// outer run. The test's name is derived from `module_path!()` and the function name; see
/// [the module docs](crate::harness) for how it works.
#[macro_export]
macro_rules! isolated {
    ($container:expr, timeout = $timeout:expr, $(#[$meta:meta])* fn $name:ident() $body:block) => {
        #[test]
        $(#[$meta])*
        fn $name() {
            let name = $crate::harness::test_name(::core::module_path!(), ::core::stringify!($name));
            if $crate::harness::is_inner(&name) {
                $body
            } else {
                let container = $container;
                if let ::core::result::Result::Err(e) =
                    $crate::harness::IsolatedTest::new(container, name)
                        .timeout($timeout)
                        .run_outer()
                {
                    ::core::panic!("{}", e);
                }
            }
        }
    };
    ($container:expr, $(#[$meta:meta])* fn $name:ident() $body:block) => {
        $crate::isolated!($container, timeout = $crate::harness::DEFAULT_TIMEOUT, $(#[$meta])* fn $name() $body);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_libtest() {
        assert_eq!(test_name("harness", "a"), "a");
        assert_eq!(test_name("harness::x::y", "a"), "x::y::a");
        assert_eq!(
            test_name("hutch::harness::tests", "names"),
            "harness::tests::names"
        );
    }

    #[test]
    fn panic_messages_are_found() {
        let stderr = "some noise\nthread 'm::t' panicked at tests/x.rs:3:5:\nboom 42\nsecond line\n\
                      note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_message(stderr).unwrap(),
            "thread 'm::t' panicked at tests/x.rs:3:5:\nboom 42\nsecond line"
        );
        assert_eq!(panic_message("no panic here\n"), None);
        let stderr = "thread 't' (2) panicked at a.rs:1:1:\nassertion `left == right` failed\n  left: 1\n right: 2\n";
        assert!(panic_message(stderr).unwrap().ends_with("right: 2"));
    }

    #[test]
    fn libtest_summary() {
        assert!(libtest_passed_one(
            "running 1 test\ntest t ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored"
        ));
        assert!(!libtest_passed_one(
            "running 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 9 filtered out"
        ));
    }

    #[test]
    fn errors_say_what_happened() {
        let output = InnerOutput {
            status: ExitStatus::from_raw(9),
            stdout: b"running 1 test\n".to_vec(),
            stderr: Vec::new(),
            duration: Duration::from_millis(5),
            oom_kills: Some(1),
        };
        let e = IsolatedError::Killed {
            test: "t".into(),
            signal: 9,
            oom_killed: true,
            output: Box::new(output.clone()),
        };
        let s = e.to_string();
        assert!(
            s.contains("killed by signal 9 (SIGKILL)") && s.contains("OOM killer"),
            "{s}"
        );
        assert!(
            s.contains("---- inner stdout ----\nrunning 1 test\n"),
            "{s}"
        );
        let e = IsolatedError::TimedOut {
            test: "t".into(),
            after: Duration::from_secs(2),
            output: Box::new(output),
        };
        assert!(
            e.to_string()
                .starts_with("isolated test t timed out after 2s"),
            "{e}"
        );
    }
}
