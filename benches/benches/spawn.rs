//! Spawn latency: a container running `/bin/true` to its end, with different isolation, next
//! to `std::process::Command` as the baseline.
//!
//! Run as root: `cargo bench -p hutch-benches --bench spawn`.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use hutch::{Container, Namespaces};

/// `std::process::Command`, and hutch with no namespaces and no cgroup.
fn baselines(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function("std_process_command", |b| {
        b.iter(|| black_box(std::process::Command::new("/bin/true").status().unwrap()))
    });
    let mut plain = Container::host();
    plain.cgroup(false);
    g.bench_function("hutch_no_namespaces", |b| {
        b.iter(|| black_box(plain.command("/bin/true").status().unwrap()))
    });
}

fn spawn(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_true");
    g.sample_size(30);
    baselines(&mut g);
    let mut ns_only = Container::new();
    ns_only.cgroup(false);
    g.bench_function("hutch_default_namespaces", |b| {
        b.iter(|| black_box(ns_only.command("/bin/true").status().unwrap()))
    });
    // The hardened default without its seccomp filter: what the filter costs a spawn.
    let mut no_seccomp = Container::new();
    no_seccomp.cgroup(false).seccomp_unconfined();
    g.bench_function("hutch_default_without_seccomp", |b| {
        b.iter(|| black_box(no_seccomp.command("/bin/true").status().unwrap()))
    });
    // Namespaces alone, as before the hardened defaults: no capability drop, no filter, the
    // host's tree as it is (only a fresh /proc).
    let mut bare = Container::new();
    bare.cgroup(false)
        .privileged()
        .read_only(false)
        .private_tmp(false);
    g.bench_function("hutch_namespaces_only", |b| {
        b.iter(|| black_box(bare.command("/bin/true").status().unwrap()))
    });
    let mut no_net = Container::new();
    no_net.share(Namespaces::NET).cgroup(false);
    g.bench_function("hutch_default_without_net", |b| {
        b.iter(|| black_box(no_net.command("/bin/true").status().unwrap()))
    });
    let full = Container::new();
    g.bench_function("hutch_default_with_cgroup", |b| {
        b.iter(|| black_box(full.command("/bin/true").status().unwrap()))
    });
    // The same isolation with bubblewrap, when it is installed (`apt-get install bubblewrap`):
    // new pid, mount, uts, ipc, net and cgroup namespaces and a fresh /proc.
    let bwrap = std::path::Path::new("/usr/bin/bwrap");
    if bwrap.exists() {
        g.bench_function("bubblewrap_unshare_all", |b| {
            b.iter(|| {
                black_box(
                    std::process::Command::new(bwrap)
                        .args(["--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc"])
                        .args(["--dev", "/dev", "/bin/true"])
                        .status()
                        .unwrap(),
                )
            })
        });
    } else {
        eprintln!("spawn bench: /usr/bin/bwrap not installed, no bubblewrap comparison");
    }
    g.finish();
}

/// The same with 512 MiB of touched heap in the caller, as in a big test harness: a
/// fork-like clone copies the page tables and then takes copy-on-write faults, where
/// `std::process::Command` (vfork-like posix_spawn) does not.
fn spawn_from_a_big_process(c: &mut Criterion) {
    let heap: Vec<u8> = vec![1u8; 512 << 20];
    let mut g = c.benchmark_group("spawn_true_512MiB_heap");
    g.sample_size(20);
    baselines(&mut g);
    g.finish();
    black_box(&heap);
}

criterion_group!(benches, spawn, spawn_from_a_big_process);
criterion_main!(benches);
