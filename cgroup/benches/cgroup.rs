//! Benchmarks (root, a cgroup2 mount): creating a cgroup, placing a process in it and
//! removing it; reading a full stats snapshot.
//!
//! They work under `hutch-bench-<pid>` in the discovered hierarchy (or
//! `HUTCH_CGROUP_ROOT`) and remove it at the end.

use std::hint::black_box;
use std::process::{Command, Stdio};

use criterion::{Criterion, criterion_group, criterion_main};
use hutch_cgroup::{Hierarchy, Pid};

fn hierarchy() -> Hierarchy {
    match std::env::var_os("HUTCH_CGROUP_ROOT") {
        Some(r) => Hierarchy::at(r),
        None => Hierarchy::discover().expect("a cgroup2 mount"),
    }
}

fn benches(c: &mut Criterion) {
    let h = hierarchy();
    let base = h
        .open_root()
        .unwrap()
        .create_child(format!("hutch-bench-{}", std::process::id()))
        .expect("create the bench cgroup (run as root)");
    let hold = base.create_child("hold").unwrap();
    let mut sleeper = Command::new("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = Pid::from(&sleeper);
    hold.add_process(pid).unwrap();

    c.bench_function("create + place + remove", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let cg = base.create_child(format!("b{n}")).unwrap();
            cg.add_process(pid).unwrap();
            hold.add_process(pid).unwrap();
            cg.remove().unwrap();
        })
    });

    c.bench_function("create + remove (empty)", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            base.create_child(format!("e{n}"))
                .unwrap()
                .remove()
                .unwrap();
        })
    });

    c.bench_function("stats snapshot", |b| {
        b.iter(|| black_box(hold.stats().unwrap()))
    });

    c.bench_function("cpu.stat", |b| {
        b.iter(|| black_box(hold.cpu().stat().unwrap()))
    });

    let _ = sleeper.kill();
    let _ = sleeper.wait();
    drop(hold);
    base.remove().unwrap();
}

criterion_group!(cgroup, benches);
criterion_main!(cgroup);
