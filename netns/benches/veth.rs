//! Wiring a container's network: veth pair, peer moved into the container namespace,
//! addresses on both ends, both ends up, default route in the container, then the pair
//! deleted again. Through hutch's netlink handles versus the same steps through `ip`.
//!
//! Run as root: `cargo bench -p hutch-netns --bench veth`. Everything happens in two
//! network namespaces made for the benchmark (one named `hutch-bench-PID` for `ip -n`,
//! removed at the end).
#![allow(unsafe_code)]

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hutch_netns::{Route, RtHandle};
use hutch_ns::{Namespace, NetNs, NsHandle};

fn new_netns() -> NsHandle {
    std::thread::spawn(|| {
        // SAFETY: this thread only makes the namespace and ends.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
        NsHandle::open_self(Namespace::Net).unwrap()
    })
    .join()
    .unwrap()
}

fn ip_in(ns: &NsHandle, args: &[&str]) {
    let fd = ns.as_fd().as_raw_fd();
    let mut cmd = Command::new("ip");
    cmd.args(args);
    // SAFETY: one raw system call between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "ip {args:?}");
}

fn wire(c: &mut Criterion) {
    let host = new_netns();
    let container = new_netns();
    let name = format!("hutch-bench-{}", std::process::id());
    NetNs::persist_named(&container, &name).unwrap();
    let mut g = c.benchmark_group("veth_move_addr_route_up");
    g.sample_size(20);

    let mut h = RtHandle::open_in(&host).unwrap();
    let mut inside = RtHandle::open_in(&container).unwrap();
    // Only the wiring is timed; deleting the pair (an RCU grace period in the kernel,
    // tens of milliseconds on a busy machine) happens outside the measurement.
    g.bench_function("hutch_netlink_move", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let vb0 = h.add_veth("vb0", "vb1", None).unwrap();
                let vb1 = h.link_by_name("vb1").unwrap().index;
                h.move_to_netns(vb1, &container).unwrap();
                address_and_route(&mut h, &mut inside, vb0);
                total += t.elapsed();
                h.delete_link(black_box(vb0)).unwrap();
            }
            total
        })
    });
    g.bench_function("hutch_netlink_peer_created_inside", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let vb0 = h.add_veth("vb0", "vb1", Some(&container)).unwrap();
                address_and_route(&mut h, &mut inside, vb0);
                total += t.elapsed();
                h.delete_link(black_box(vb0)).unwrap();
            }
            total
        })
    });
    g.bench_function("iproute2_commands", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                ip_in(
                    &host,
                    &["link", "add", "vb0", "type", "veth", "peer", "name", "vb1"],
                );
                ip_in(&host, &["link", "set", "vb1", "netns", &name]);
                ip_in(&host, &["addr", "add", "10.77.0.1/24", "dev", "vb0"]);
                ip_in(&host, &["link", "set", "vb0", "up"]);
                ip_in(
                    &host,
                    &["-n", &name, "addr", "add", "10.77.0.2/24", "dev", "vb1"],
                );
                ip_in(&host, &["-n", &name, "link", "set", "vb1", "up"]);
                ip_in(
                    &host,
                    &["-n", &name, "route", "add", "default", "via", "10.77.0.1"],
                );
                total += t.elapsed();
                ip_in(&host, &["link", "del", "vb0"]);
            }
            total
        })
    });
    g.finish();
    NetNs::remove_named(&name).unwrap();
}

criterion_group!(benches, wire);
criterion_main!(benches);

/// The steps after the pair exists, the same for both netlink variants: the host side's
/// address and link up, the container side's address, link up and default route.
fn address_and_route(h: &mut RtHandle, inside: &mut RtHandle, vb0: u32) {
    h.add_address(vb0, "10.77.0.1/24".parse().unwrap()).unwrap();
    h.set_up(vb0).unwrap();
    let vb1 = inside.link_by_name("vb1").unwrap().index;
    inside
        .add_address(vb1, "10.77.0.2/24".parse().unwrap())
        .unwrap();
    inside.set_up(vb1).unwrap();
    inside
        .add_route(&Route::default_via("10.77.0.1".parse().unwrap()))
        .unwrap();
}
