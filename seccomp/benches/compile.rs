//! Compiling Docker's default profile (target: well under a millisecond).

use criterion::{Criterion, criterion_group, criterion_main};
use hutch_seccomp::Arch;
use hutch_seccomp::profile::{
    DOCKER_DEFAULT_CAPS, DOCKER_DEFAULT_JSON, KernelVersion, Profile, ProfileContext,
};

fn bench(c: &mut Criterion) {
    let ctx = ProfileContext {
        caps: DOCKER_DEFAULT_CAPS,
        arch: Arch::native(),
        kernel: KernelVersion::new(6, 18),
    };
    let profile = Profile::docker_default();
    c.bench_function("docker_default: filter + compile", |b| {
        b.iter(|| profile.compile(std::hint::black_box(&ctx)).unwrap())
    });
    let filter = profile.to_filter(&ctx);
    let arches = profile.arches(ctx.arch);
    c.bench_function("docker_default: compile only", |b| {
        b.iter(|| filter.compile(std::hint::black_box(&arches)).unwrap())
    });
    c.bench_function("docker_default: parse JSON + compile", |b| {
        b.iter(|| {
            Profile::from_docker_json(std::hint::black_box(DOCKER_DEFAULT_JSON))
                .unwrap()
                .compile(&ctx)
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
