//! A bridge-mode container end to end (namespaces, veth pair with the peer made inside the
//! container, address, route, published port, name files, program, teardown), against doing
//! the network part the shell way: `ip netns add` plus `ip` commands for the veth, address and
//! route, `ip netns exec` for the program.
//!
//! Everything runs in a network namespace the bench makes ("hutch-bench-host"), never on the
//! machine's own interfaces. Run as root: `cargo bench -p hutch-benches --bench network`.

use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use hutch::netns::NetworkConfig;
use hutch::ns::NsHandle;
use hutch::{Container, NetworkMode};

const HOST: &str = "hutch-bench-host";

fn ip(args: &[&str]) {
    let st = Command::new("ip")
        .args(args)
        .status()
        .expect("ip (iproute2)");
    assert!(st.success(), "ip {args:?}");
}

fn bridge(c: &mut Criterion) {
    for ns in [HOST, "hb-c"] {
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
    }
    ip(&["netns", "add", HOST]);
    ip(&["-n", HOST, "link", "set", "lo", "up"]);
    let host = Arc::new(NsHandle::open_path(format!("/run/netns/{HOST}")).unwrap());
    let state = std::env::temp_dir().join(format!("hutch-bench-net-{}", std::process::id()));
    let mut cfg = NetworkConfig::new("hbench0");
    cfg.state_root(&state).host_netns(host);
    let mut container = Container::new();
    container
        .network(NetworkMode::Bridge(cfg))
        .publish("8080:80".parse().unwrap())
        .cgroup(false);
    let mut g = c.benchmark_group("bridge_spawn_true");
    g.sample_size(20);
    g.bench_function("hutch_bridge_network", |b| {
        b.iter(|| black_box(container.command("/bin/true").status().unwrap()))
    });
    // The shell way, inside the same host namespace: a namespace, a veth pair moved into it,
    // an address and a route on each side, the program, and removal.
    let script = "set -e; ip netns del hb-c 2>/dev/null || true; ip netns add hb-c; \
        ip link add hb-h type veth peer name eth0 netns hb-c; \
        ip addr add 10.99.0.1/24 dev hb-h; ip link set hb-h up; \
        ip -n hb-c addr add 10.99.0.2/24 dev eth0; ip -n hb-c link set eth0 up; \
        ip -n hb-c link set lo up; ip -n hb-c route add default via 10.99.0.1; \
        ip netns exec hb-c /bin/true; ip link del hb-h; ip netns del hb-c";
    g.bench_function("unshare_net_plus_ip", |b| {
        b.iter(|| {
            let st = Command::new("ip")
                .args([
                    "netns", "exec", HOST, "unshare", "--mount", "sh", "-c", script,
                ])
                .status()
                .unwrap();
            assert!(st.success());
        })
    });
    g.finish();
    drop(container);
    let _ = std::fs::remove_dir_all(&state);
    let _ = Command::new("ip").args(["netns", "del", HOST]).status();
}

criterion_group!(benches, bridge);
criterion_main!(benches);
