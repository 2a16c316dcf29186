//! Isolated tests with cgroup v2 limits, in the VM: an OOM kill is reported as such, limits
//! hold inside, and a timeout kills the container's whole cgroup. Included by `tests/vm.rs`
//! as `mod harness;`.

use std::time::Duration;

use hutch::harness::{IsolatedError, IsolatedTest, is_inner};

#[test]
fn an_oom_kill_is_reported() {
    let name = "harness::an_oom_kill_is_reported";
    // Only the outer run makes a cgroup: inside, /sys/fs/cgroup is the container's own,
    // read-only.
    let parent = (!is_inner(name)).then(super::Parent::new);
    let mut c = match &parent {
        Some(p) => p.container(),
        None => hutch::Container::new(),
    };
    c.limit_memory(32u64 << 20).memory_swap(0u64);
    let r = IsolatedTest::new(&c, name)
        .timeout(Duration::from_secs(120))
        .run(|| {
            // Touch every page of 256 MiB.
            let mut v = vec![0u8; 256 << 20];
            for i in (0..v.len()).step_by(4096) {
                v[i] = 1;
            }
            println!("survived with {} bytes", v.len());
        });
    let Err(
        e @ IsolatedError::Killed {
            signal,
            oom_killed,
            output,
            ..
        },
    ) = &r
    else {
        panic!("expected an OOM kill, got {r:?}");
    };
    assert_eq!(*signal, libc::SIGKILL, "{e}");
    assert!(oom_killed, "{e}");
    assert!(output.oom_kills.unwrap() >= 1, "{e}");
    assert!(e.to_string().contains("the OOM killer killed it"), "{e}");
}

hutch::isolated!(
    {
        let mut c = hutch::Container::new();
        c.limit_memory(64u64 << 20)
            .limit_pids(16)
            .hostname("limited");
        c
    },
    fn limits_hold_inside() {
        assert_eq!(
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap()
                .trim(),
            "limited"
        );
        // Within the limit: fine.
        let v = vec![1u8; 16 << 20];
        assert_eq!(v.iter().map(|b| *b as usize).sum::<usize>(), 16 << 20);
    }
);

#[test]
fn a_timeout_kills_the_whole_cgroup() {
    let name = "harness::a_timeout_kills_the_whole_cgroup";
    if is_inner(name) {
        for _ in 0..3 {
            std::mem::forget(
                std::process::Command::new("sleep")
                    .arg("600")
                    .spawn()
                    .unwrap(),
            );
        }
        std::thread::sleep(Duration::from_secs(600));
        return;
    }
    // Only the outer run makes a cgroup: inside, /sys/fs/cgroup is the container's own,
    // read-only.
    let parent = super::Parent::new();
    let mut c = parent.container();
    c.limit_pids(32);
    let r = IsolatedTest::new(&c, name)
        .timeout(Duration::from_secs(5))
        .run_outer();
    assert!(matches!(r, Err(IsolatedError::TimedOut { .. })), "{r:?}");
    // The container's cgroup is gone (removed once empty), and so is everything in it.
    let left = hutch::cgroup_v2::Cgroup::open(&parent.0)
        .unwrap()
        .descendants()
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}
