//! The isolated-test mechanism itself: tests whose bodies run in containers (written with
//! the macro and with the function form), and tests of what the outer run reports when the
//! inner one passes, fails, panics, crashes, times out, leaves processes behind, or does not
//! exist. Each failing case is a real test of this binary: its body fails *inside* the
//! container, and the outer half checks the error it gets back.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use common::{as_nobody, assert_rerun_passed, shared};
use hutch::Container;
use hutch::harness::{IsolatedError, IsolatedTest, Outcome, is_inner};

/// The container most tests here use.
fn sandbox() -> Container {
    let mut c = Container::new();
    c.hostname("isolated").tmpfs("/tmp").read_only(true);
    c
}

/// The network interfaces seen by the caller (from `/proc/net/dev`, which follows the
/// reader's network namespace).
fn interfaces() -> Vec<String> {
    std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .skip(2)
        .map(|l| l.split(':').next().unwrap().trim().to_owned())
        .collect()
}

hutch::isolated!(
    sandbox(),
    fn runs_in_its_container() {
        println!("hello from inside");
        assert_eq!(
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap()
                .trim(),
            "isolated"
        );
        assert_eq!(interfaces(), ["lo"]);
        // In a pid namespace of its own, under the container's init (PID 1).
        assert_eq!(std::process::id(), 2);
        assert_eq!(
            std::fs::read_link("/proc/1/exe").unwrap().to_str(),
            Some("/memfd:hutch-init (deleted)")
        );
        // A private, writable /tmp on a read-only tree.
        assert!(std::fs::read_dir("/tmp").unwrap().next().is_none());
        std::fs::write("/tmp/x", "x").unwrap();
        let e = std::fs::write("/etc/hutch-isolated-test", "x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    }
);

mod nested {
    use super::*;

    hutch::isolated!(
        sandbox(),
        fn names_with_colons_work() {
            assert!(is_inner("nested::names_with_colons_work"));
            assert_eq!(
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .unwrap()
                    .trim(),
                "isolated"
            );
        }
    );

    pub mod deeper {
        hutch::isolated!(
            &super::sandbox(),
            fn and_deeper() {
                assert!(hutch::harness::is_inner("nested::deeper::and_deeper"));
            }
        );
    }
}

/// The outer run's own view, for tests that check the outer half.
fn outer_only(name: &str) -> bool {
    !is_inner(name)
}

#[test]
fn a_passing_body_passes_with_its_output() {
    let _g = shared();
    let name = "a_passing_body_passes_with_its_output";
    let r = IsolatedTest::new(sandbox(), name).run(|| {
        println!("inner says hi");
        assert_eq!(interfaces(), ["lo"]);
    });
    if outer_only(name) {
        let Ok(Outcome::Passed(out)) = r else {
            panic!("{r:?}");
        };
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("inner says hi"), "{text}");
        assert!(text.contains("test result: ok. 1 passed"), "{text}");
        assert_eq!(out.status.code(), Some(0));
        // The outer namespace has more than lo (this host's real interfaces).
        assert!(interfaces().len() > 1 || interfaces() != ["lo"]);
    } else {
        assert!(matches!(r, Ok(Outcome::RanHere)));
    }
}

#[test]
fn a_failing_assertion_fails_with_the_inner_message() {
    let _g = shared();
    let name = "a_failing_assertion_fails_with_the_inner_message";
    let r = IsolatedTest::new(sandbox(), name).run(|| {
        println!("printed before the failure");
        assert_eq!(1 + 1, 3, "arithmetic is broken");
    });
    // Only the outer run gets here: the inner one panicked in `run`.
    let Err(e @ IsolatedError::Failed { .. }) = r else {
        panic!("expected a failure, got {r:?}");
    };
    let IsolatedError::Failed { panic, output, .. } = &e else {
        unreachable!()
    };
    let panic = panic.as_deref().expect("the panic message");
    assert!(panic.starts_with(&format!("thread '{name}'")), "{panic}");
    assert!(panic.contains(" panicked at tests/harness.rs:"), "{panic}");
    assert!(panic.contains("arithmetic is broken"), "{panic}");
    assert!(panic.contains("left: 2"), "{panic}");
    assert_eq!(output.status.code(), Some(101));
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("isolated test {name} failed in its container")),
        "{msg}"
    );
    assert!(msg.contains("printed before the failure"), "{msg}");
}

#[test]
fn a_panic_fails_with_its_payload() {
    let _g = shared();
    let name = "a_panic_fails_with_its_payload";
    let r = IsolatedTest::new(sandbox(), name).run(|| panic!("boom {}", 42));
    let Err(IsolatedError::Failed { panic, .. }) = &r else {
        panic!("expected a failure, got {r:?}");
    };
    assert!(panic.as_deref().unwrap().ends_with("boom 42"), "{panic:?}");
}

#[test]
fn a_crash_is_reported_with_its_signal() {
    let _g = shared();
    let name = "a_crash_is_reported_with_its_signal";
    let r = IsolatedTest::new(sandbox(), name).run(|| std::process::abort());
    let Err(
        e @ IsolatedError::Killed {
            signal, oom_killed, ..
        },
    ) = &r
    else {
        panic!("expected a kill, got {r:?}");
    };
    // The test runs under the container's init, so its own SIGABRT has its default action
    // (as PID 1 it would be discarded, and glibc's abort would end it with a SIGSEGV).
    assert_eq!(*signal, libc::SIGABRT, "{e}");
    assert!(e.to_string().contains("SIGABRT"), "{e}");
    assert!(!oom_killed);
    assert!(
        e.to_string().contains("the container was killed by signal"),
        "{e}"
    );
}

#[test]
fn a_test_that_exits_its_process_is_reported_as_such() {
    let _g = shared();
    let name = "a_test_that_exits_its_process_is_reported_as_such";
    let r = IsolatedTest::new(sandbox(), name).run(|| std::process::exit(0));
    let Err(e @ IsolatedError::Exited { output, .. }) = &r else {
        panic!("expected Exited, got {r:?}");
    };
    assert_eq!(output.status.code(), Some(0));
    assert!(e.to_string().contains("before libtest reported"), "{e}");
}

#[test]
fn a_timeout_kills_the_container_and_says_so() {
    let _g = shared();
    let name = "a_timeout_kills_the_container_and_says_so";
    let start = Instant::now();
    let r = IsolatedTest::new(sandbox(), name)
        .timeout(Duration::from_secs(2))
        .run(|| {
            println!("going to sleep");
            // A child that would outlive the test, too.
            std::mem::forget(StdCommand::new("sleep").arg("600").spawn().unwrap());
            std::thread::sleep(Duration::from_secs(600));
        });
    let Err(e @ IsolatedError::TimedOut { after, output, .. }) = &r else {
        panic!("expected a timeout, got {r:?}");
    };
    assert_eq!(*after, Duration::from_secs(2));
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(output.status.signal(), Some(libc::SIGKILL));
    assert!(String::from_utf8_lossy(&output.stdout).contains("going to sleep"));
    assert!(
        e.to_string()
            .contains("timed out after 2s; its container was killed"),
        "{e}"
    );
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmd).contains(marker)
        {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

#[test]
fn processes_left_behind_end_with_the_container() {
    let _g = shared();
    let name = "processes_left_behind_end_with_the_container";
    // A sleep duration no other process uses: `sleep 7777.<n>`.
    let marker = format!("7777.{}", std::process::id());
    let r = IsolatedTest::new(sandbox(), name)
        .env("LEFTOVER", &marker)
        .run(|| {
            let m = std::env::var("LEFTOVER").unwrap();
            for _ in 0..3 {
                // Detached: nobody waits for them.
                std::mem::forget(StdCommand::new("sleep").arg(&m).spawn().unwrap());
            }
            // Each has exec'd `sleep` once its command line shows the marker.
            let start = Instant::now();
            while processes_with(&m).len() < 3 && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(processes_with(&m).len(), 3);
        });
    if outer_only(name) {
        r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(processes_with(&marker), Vec::<String>::new());
    }
}

#[test]
fn parallel_runs_each_have_port_80() {
    let _g = shared();
    let name = "parallel_runs_each_have_port_80";
    if is_inner(name) {
        let l = std::net::TcpListener::bind("0.0.0.0:80").expect("port 80 is free in here");
        let c = std::net::TcpStream::connect("127.0.0.1:80").unwrap();
        drop((c, l.accept().unwrap()));
        // Hold the port while the others start.
        std::thread::sleep(Duration::from_millis(500));
        return;
    }
    let runs: Vec<_> = (0..6)
        .map(|_| std::thread::spawn(move || IsolatedTest::new(sandbox(), name).run_outer()))
        .collect();
    for r in runs {
        r.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn an_unknown_name_is_reported() {
    let _g = shared();
    let r = IsolatedTest::new(sandbox(), "no::such::test").run_outer();
    let Err(e @ IsolatedError::NotRun { .. }) = &r else {
        panic!("expected NotRun, got {r:?}");
    };
    assert!(
        e.to_string().contains("did not run a test of that name"),
        "{e}"
    );
}

#[test]
fn a_spawn_failure_is_reported() {
    let _g = shared();
    let mut t = IsolatedTest::new(sandbox(), "a_spawn_failure_is_reported");
    t.program("/nonexistent/test-binary");
    let r = t.run_outer();
    let Err(e @ IsolatedError::Spawn { source, .. }) = &r else {
        panic!("expected a spawn error, got {r:?}");
    };
    assert_eq!(source.raw_os_error(), Some(libc::ENOENT), "{e}");
}

/// Runs this test binary with `args` (how `cargo test` and `cargo nextest` start it).
fn run_self(args: &[&str]) -> std::process::Output {
    StdCommand::new(std::env::current_exe().unwrap())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn works_as_nextest_and_nocapture_run_it() {
    let _g = shared();
    if is_inner("works_as_nextest_and_nocapture_run_it") {
        return;
    }
    // nextest: one process per test, `--exact NAME --nocapture`.
    let out = run_self(&["--exact", "runs_in_its_container", "--nocapture"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("hello from inside"), "{text}");
    assert!(text.contains("test result: ok. 1 passed"), "{text}");
    // cargo test with several threads: the macro tests at once, names with `::` included.
    let out = run_self(&["--test-threads=4", "runs_in_its_container", "nested::"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("test result: ok. 3 passed"), "{text}");
}

#[test]
fn a_failing_macro_test_fails_the_outer_binary() {
    let _g = shared();
    if is_inner("a_failing_macro_test_fails_the_outer_binary") {
        return;
    }
    let out = run_self(&["--exact", "always_fails", "--include-ignored"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(101), "{text}");
    assert!(text.contains("test always_fails ... FAILED"), "{text}");
    assert!(
        text.contains("isolated test always_fails failed in its container"),
        "{text}"
    );
    assert!(text.contains("the inner answer was 41"), "{text}");
}

// Run only by `a_failing_macro_test_fails_the_outer_binary`.
hutch::isolated!(
    sandbox(),
    #[ignore = "fails on purpose; run by another test"]
    fn always_fails() {
        let answer = 41;
        assert_eq!(answer, 42, "the inner answer was {answer}");
    }
);

#[test]
fn runs_unprivileged_too() {
    let _g = shared();
    let name = "runs_unprivileged_too";
    if is_inner(name) {
        return;
    }
    if std::env::var_os("HUTCH_HARNESS_NOBODY").is_none() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: re-running as nobody needs root (CI runs as root)");
            return;
        }
        let out = StdCommand::new("setpriv")
            .args(as_nobody(name))
            .env("HUTCH_HARNESS_NOBODY", "1")
            .output()
            .expect("setpriv");
        assert_rerun_passed(&out);
        return;
    }
    // As nobody: the container gets a user namespace automatically.
    let r = IsolatedTest::new(sandbox(), "runs_in_its_container").run_outer();
    let out = r.unwrap_or_else(|e| panic!("{e}"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello from inside"));
}

#[test]
fn nothing_is_left_behind() {
    let _g = shared();
    let name = "nothing_is_left_behind";
    if is_inner(name) {
        return;
    }
    if std::env::var_os("HUTCH_HARNESS_LEAKS").is_none() {
        // In a process of its own, so other tests' containers do not count.
        let out = StdCommand::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture"])
            .env("HUTCH_HARNESS_LEAKS", "1")
            .output()
            .unwrap();
        assert_rerun_passed(&out);
        return;
    }
    // The process-wide caches (the init program's memfd, the loaded device allow-list) are
    // made by the first spawn and kept: make them before counting.
    // Isolated tests run under the init.
    let mut warm = sandbox();
    warm.init(true);
    assert!(warm.command("true").status().unwrap().success());
    let leaks = common::Leaks::snapshot();
    for test in [
        "runs_in_its_container",
        "a_panic_fails_with_its_payload",
        "no::such",
    ] {
        let _ = IsolatedTest::new(sandbox(), test).run_outer();
    }
    let mut t = IsolatedTest::new(sandbox(), "a_timeout_kills_the_container_and_says_so");
    let r = t.timeout(Duration::from_secs(1)).run_outer();
    assert!(matches!(r, Err(IsolatedError::TimedOut { .. })), "{r:?}");
    // Every container reaped, every pipe closed.
    leaks.assert_none("isolated runs");
}
