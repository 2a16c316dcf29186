//! End to end, as root, entirely inside namespaces the test makes: a "host" namespace
//! holding the bridge network, a "world" namespace joined to it by a veth, and
//! "container" namespaces attached to the network.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TempDir, TestNs, dup};
use hutch_netns::{
    AttachOptions, Network, NetworkConfig, NetworkError, PortMapping, RtHandle, run_in_netns,
};

const TIMEOUT: Duration = Duration::from_secs(5);

/// Host and world namespaces: host `up0` 192.0.2.1/24 <-> world `wan0` 192.0.2.2/24.
struct Lab {
    host: TestNs,
    world: TestNs,
    state: TempDir,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let host = TestNs::new();
        let world = TestNs::new();
        let mut h = RtHandle::open_in(&host.ns).unwrap();
        let up = h.add_veth("up0", "wan0", Some(&world.ns)).unwrap();
        h.add_address(up, "192.0.2.1/24".parse().unwrap()).unwrap();
        h.set_up(up).unwrap();
        let mut w = RtHandle::open_in(&world.ns).unwrap();
        let wan = w.link_by_name("wan0").unwrap().index;
        w.add_address(wan, "192.0.2.2/24".parse().unwrap()).unwrap();
        w.set_up(wan).unwrap();
        Lab {
            host,
            world,
            state: TempDir::new(tag),
        }
    }

    fn config(&self, name: &str, subnet: &str) -> NetworkConfig {
        let mut c = NetworkConfig::new(name);
        c.subnet(subnet.parse().unwrap())
            .state_root(&self.state.0)
            .host_netns(Arc::new(dup(&self.host.ns)));
        c
    }

    /// Everything hutch made in the host is gone.
    fn assert_clean(&self) {
        let mut links = self.host.link_names();
        links.sort();
        assert_eq!(links, ["lo", "up0"]);
        let rules = self.host.sh(&["nft", "list", "ruleset"]);
        assert!(!rules.contains("hutch"), "{rules}");
    }
}

fn listen_tcp(ns: &TestNs, port: u16) -> TcpListener {
    run_in_netns(&ns.ns, || TcpListener::bind(("0.0.0.0", port)))
        .unwrap()
        .unwrap()
}

/// Serves one connection: reads a line, answers `PEER_ADDRESS LINE`.
fn serve_once(listener: TcpListener) -> std::thread::JoinHandle<Option<IpAddr>> {
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
                    let mut line = String::new();
                    BufReader::new(&stream).read_line(&mut line).unwrap();
                    (&stream)
                        .write_all(format!("{} {line}", peer.ip()).as_bytes())
                        .unwrap();
                    return Some(peer.ip());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    })
}

/// Connects from `ns` to `to`, sends a line, returns the answer.
fn tcp_call(ns: &TestNs, to: &str) -> String {
    let to: SocketAddr = to.parse().unwrap();
    let stream = run_in_netns(&ns.ns, || TcpStream::connect_timeout(&to, TIMEOUT))
        .unwrap()
        .unwrap_or_else(|e| panic!("connect to {to}: {e}"));
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    (&stream).write_all(b"hello\n").unwrap();
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).unwrap();
    answer.trim().to_owned()
}

/// A UDP echo of one datagram in `ns` on `port`, prefixed with the sender's address.
fn udp_echo_once(ns: &TestNs, port: u16) -> std::thread::JoinHandle<()> {
    let sock = run_in_netns(&ns.ns, || UdpSocket::bind(("0.0.0.0", port)))
        .unwrap()
        .unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            let reply = format!("{} {}", from.ip(), String::from_utf8_lossy(&buf[..n]));
            sock.send_to(reply.as_bytes(), from).unwrap();
        }
    })
}

fn udp_call(ns: &TestNs, to: &str) -> String {
    let sock = run_in_netns(&ns.ns, || UdpSocket::bind("0.0.0.0:0"))
        .unwrap()
        .unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    sock.send_to(b"ping", to).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = sock
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("udp {to}: {e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn bridge_nat_and_published_ports() {
    e2e(false);
}

/// The same with `br_netfilter` active in the host namespace (as on hosts running Docker):
/// bridged frames then pass the IP hooks too.
#[test]
fn bridge_nat_and_published_ports_with_br_netfilter() {
    e2e(true);
}

fn e2e(br_netfilter: bool) {
    let lab = Lab::new(if br_netfilter { "e2e-brnf" } else { "e2e" });
    let knob = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    let value = if br_netfilter { "1" } else { "0" };
    // Absent when the bridge module's netfilter part is not there: then it is off anyway.
    if std::path::Path::new(knob).exists() {
        run_in_netns(&lab.host.ns, || std::fs::write(knob, value))
            .unwrap()
            .unwrap();
    } else {
        assert!(
            !br_netfilter,
            "this kernel has no br_netfilter ({knob} missing)"
        );
    }
    let net = lab.config("hutcht0", "10.88.0.0/16").open().unwrap();
    assert_eq!(net.gateway().to_string(), "10.88.0.1/16");
    let c1 = TestNs::new();
    let c2 = TestNs::new();
    let mut opts = AttachOptions::new();
    opts.publish(PortMapping::tcp(8080, 80))
        .publish(PortMapping::udp(5353, 53));
    let a1 = net.attach(&c1.ns, &opts).unwrap();
    let a2 = net
        .attach(&c2.ns, AttachOptions::new().hostname("two"))
        .unwrap();
    assert_eq!(
        net.peers().unwrap(),
        [("two".to_owned(), "10.88.0.3".parse::<IpAddr>().unwrap())]
    );
    // By name: the hosts file a container gets lists its peers.
    let hosts = hutch_netns::hosts_file("one", &[a1.address().addr()], &net.peers().unwrap());
    assert!(hosts.contains("10.88.0.3\ttwo\n"), "{hosts}");
    assert_eq!(a1.address().to_string(), "10.88.0.2/16");
    assert_eq!(a2.address().to_string(), "10.88.0.3/16");
    // The oracle agrees on the container side.
    assert!(c1.addrs("eth0").contains(&"10.88.0.2/16".to_owned()));
    let routes = c1.ip(&["route"]);
    assert!(
        routes
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "10.88.0.1")
    );
    assert_eq!(
        lab.host.link(a1.host_ifname()).unwrap()["master"],
        "hutcht0"
    );

    // container <-> container, by address, no NAT on the bridge.
    let server = serve_once(listen_tcp(&c2, 7000));
    assert_eq!(tcp_call(&c1, "10.88.0.3:7000"), "10.88.0.2 hello");
    assert_eq!(server.join().unwrap(), Some("10.88.0.2".parse().unwrap()));

    // container -> world: the world sees the host's address (masquerade).
    let server = serve_once(listen_tcp(&lab.world, 9000));
    assert_eq!(tcp_call(&c1, "192.0.2.2:9000"), "192.0.2.1 hello");
    server.join().unwrap();

    // world -> published port on the host -> container.
    let server = serve_once(listen_tcp(&c1, 80));
    assert_eq!(tcp_call(&lab.world, "192.0.2.1:8080"), "192.0.2.2 hello");
    server.join().unwrap();

    // the host's own 127.0.0.1 -> container (output DNAT + route_localnet + masquerade).
    let server = serve_once(listen_tcp(&c1, 80));
    assert_eq!(tcp_call(&lab.host, "127.0.0.1:8080"), "10.88.0.1 hello");
    server.join().unwrap();

    // Hairpin: another container reaches the published port through the host address.
    // Routed, it is masqueraded to the gateway; with br_netfilter the kernel bridges the
    // DNATed frame instead, and conntrack on the bridge path handles the reply.
    let server = serve_once(listen_tcp(&c1, 80));
    let answer = tcp_call(&c2, "192.0.2.1:8080");
    if br_netfilter {
        assert!(
            answer == "10.88.0.1 hello" || answer == "10.88.0.3 hello",
            "{answer}"
        );
    } else {
        assert_eq!(answer, "10.88.0.1 hello");
    }
    server.join().unwrap();

    // UDP, from the world and from the host.
    let echo = udp_echo_once(&c1, 53);
    assert_eq!(udp_call(&lab.world, "192.0.2.1:5353"), "192.0.2.2 ping");
    echo.join().unwrap();
    let echo = udp_echo_once(&c1, 53);
    assert_eq!(udp_call(&lab.host, "127.0.0.1:5353"), "10.88.0.1 ping");
    echo.join().unwrap();

    // A port that is published already is refused, and nothing is left of the attempt.
    let c3 = TestNs::new();
    let mut clash = AttachOptions::new();
    clash.publish(PortMapping::tcp(8080, 8000));
    let e = net.attach(&c3.ns, &clash).unwrap_err();
    assert!(matches!(e, NetworkError::PortInUse { .. }), "{e}");
    assert!(e.to_string().contains("8080"), "{e}");
    assert_eq!(c3.link_names(), ["lo"]);
    // A fixed address that is taken is refused too.
    let mut taken = AttachOptions::new();
    taken.ip("10.88.0.2".parse().unwrap());
    assert!(matches!(
        net.attach(&c3.ns, &taken),
        Err(NetworkError::Ipam(_))
    ));
    assert_eq!(c3.link_names(), ["lo"]);

    let rules = lab.host.sh(&["nft", "list", "ruleset"]);
    assert!(rules.contains("hutcht0-10.88.0.2-pre"), "{rules}");
    a1.detach().unwrap();
    drop(a2);
    let rules = lab.host.sh(&["nft", "list", "ruleset"]);
    assert!(!rules.contains("10.88.0.2"), "{rules}");
    assert_eq!(c1.link_names(), ["lo"]);
    assert_eq!(c2.link_names(), ["lo"]);
    let leases: Vec<_> = std::fs::read_dir(net.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.parse::<IpAddr>().is_ok())
        .collect();
    assert!(leases.is_empty(), "{leases:?}");
    // Reopened from its state alone, as a CLI's `network rm NAME` would.
    let mut again = NetworkConfig::from_state("hutcht0", &lab.state.0).unwrap();
    assert_eq!(again.get_name(), "hutcht0");
    assert_eq!(again.get_bridge(), "hutcht0");
    assert_eq!(again.get_subnet(), Some(net.subnet()));
    assert_eq!(again.get_subnet6(), None);
    assert_eq!(again.get_state_root(), lab.state.0);
    assert!(again.get_host_netns().is_none());
    again.host_netns(Arc::new(dup(&lab.host.ns)));
    assert_eq!(again.get_host_netns().unwrap().id(), lab.host.ns.id());
    assert_eq!(
        hutch_netns::list_networks(&lab.state.0).unwrap(),
        ["hutcht0"]
    );
    let reopened = again.open().unwrap();
    assert_eq!(reopened.subnet(), net.subnet());
    reopened.remove().unwrap();
    lab.assert_clean();
    assert!(!lab.state.0.join("hutcht0").exists());
    assert!(NetworkConfig::from_state("hutcht0", &lab.state.0).is_err());
}

#[test]
fn fifty_containers_from_eight_threads() {
    let lab = Lab::new("fifty");
    let net = lab.config("hutcht1", "10.90.0.0/24").open().unwrap();
    let addrs = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let net = &net;
                s.spawn(move || {
                    let n = if t < 2 { 7 } else { 6 };
                    (0..n)
                        .map(|_| {
                            let c = TestNs::new();
                            let a = net.attach(&c.ns, &AttachOptions::new()).unwrap();
                            (c, a)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(addrs.len(), 50);
    let distinct: std::collections::BTreeSet<_> = addrs.iter().map(|(_, a)| a.address()).collect();
    assert_eq!(distinct.len(), 50);
    let bridge_ports = lab.host.ip(&["link", "show", "master", "hutcht1"]);
    assert_eq!(bridge_ports.as_array().unwrap().len(), 50);
    drop(addrs);
    net.remove().unwrap();
    lab.assert_clean();
}

#[test]
fn bad_input_is_refused_clearly() {
    let lab = Lab::new("bad");
    // A subnet overlapping a route of the host.
    let e = lab.config("hutcht2", "192.0.2.0/25").open().unwrap_err();
    assert!(matches!(e, NetworkError::SubnetOverlap { .. }), "{e}");
    assert!(e.to_string().contains("192.0.2.0/24"), "{e}");
    // A name clash with an interface that is not a bridge.
    let e = lab.config("up0", "10.91.0.0/24").open().unwrap_err();
    assert!(matches!(e, NetworkError::NotABridge { .. }), "{e}");
    let e = lab.config("a/b", "10.91.0.0/24").open().unwrap_err();
    assert!(matches!(e, NetworkError::InvalidName { .. }), "{e}");
    let e = lab
        .config("much-too-long-name", "10.91.0.0/24")
        .open()
        .unwrap_err();
    assert!(matches!(e, NetworkError::InvalidName { .. }), "{e}");
    // Reopening with another subnet.
    let net = lab.config("hutcht3", "10.92.0.0/24").open().unwrap();
    let e = lab.config("hutcht3", "10.93.0.0/24").open().unwrap_err();
    assert!(matches!(e, NetworkError::ConfigMismatch { .. }), "{e}");
    // Attaching something that is not a network namespace.
    let uts = hutch_ns::NsHandle::open_self(hutch_ns::Namespace::Uts).unwrap();
    assert!(matches!(
        net.attach(&uts, &AttachOptions::new()),
        Err(NetworkError::Namespace { .. })
    ));
    // A missing netns path, and a path that is not a network namespace.
    let e = net
        .attach_path("/run/netns/hutch-no-such-ns", &AttachOptions::new())
        .unwrap_err();
    assert!(matches!(e, NetworkError::Namespace { .. }), "{e}");
    let e = net
        .attach_path("/proc/self/ns/uts", &AttachOptions::new())
        .unwrap_err();
    assert!(matches!(e, NetworkError::Namespace { .. }), "{e}");
    // Through a pidfd: a child process in its own network namespace.
    {
        use std::os::fd::{AsFd, FromRawFd, OwnedFd};
        let c = TestNs::new();
        let mut child = c.command(&["sleep", "20"]).spawn().unwrap();
        // SAFETY: pidfd_open returns a new fd that nothing else owns.
        let pidfd = unsafe {
            let fd = libc::syscall(libc::SYS_pidfd_open, child.id(), 0) as i32;
            assert!(fd >= 0);
            OwnedFd::from_raw_fd(fd)
        };
        let a = net
            .attach_pidfd(pidfd.as_fd(), &AttachOptions::new())
            .unwrap();
        assert!(c.addrs("eth0").contains(&a.address().to_string()));
        drop(a);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            net.attach_pidfd(pidfd.as_fd(), &AttachOptions::new())
                .is_err()
        );
    }
    // Removing a network in use.
    let c = TestNs::new();
    let a = net.attach(&c.ns, &AttachOptions::new()).unwrap();
    let e = net.remove().unwrap_err();
    assert!(matches!(e, NetworkError::Busy { count: 1, .. }), "{e}");
    drop(a);
    net.remove().unwrap();
    // Failed opens left no state either.
    assert_eq!(
        hutch_netns::list_networks(&lab.state.0).unwrap(),
        Vec::<String>::new()
    );
    assert!(!lab.state.0.join("hutcht2").exists());
    // Failed opens leave nothing behind (other than the state root itself).
    lab.assert_clean();
}

const CHILD_ENV: &str = "HUTCH_NETNS_CRASH_CHILD";

/// Not a test of its own: the body of the process `crash_of_the_owner_is_cleaned_up` kills.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split(',').collect();
    let host = hutch_ns::NsHandle::open_path(parts[0]).unwrap();
    let container = hutch_ns::NsHandle::open_path(parts[1]).unwrap();
    let mut cfg = NetworkConfig::new("hutcht4");
    cfg.subnet("10.94.0.0/24".parse().unwrap())
        .state_root(parts[2])
        .host_netns(Arc::new(host));
    let net = cfg.open().unwrap();
    let mut opts = AttachOptions::new();
    opts.publish(PortMapping::tcp(8081, 80));
    let att = net.attach(&container, &opts).unwrap();
    println!("\nATTACHED {}", att.address());
    std::mem::forget(att);
    std::thread::sleep(Duration::from_secs(30));
}

#[test]
fn crash_of_the_owner_is_cleaned_up() {
    use std::os::fd::{AsFd, AsRawFd};
    let lab = Lab::new("crash");
    let c = TestNs::new();
    let me = std::process::id();
    let spec = format!(
        "/proc/{me}/fd/{},/proc/{me}/fd/{},{}",
        lab.host.ns.as_fd().as_raw_fd(),
        c.ns.as_fd().as_raw_fd(),
        lab.state.0.display()
    );
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, spec)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !line.contains("ATTACHED") && Instant::now() < deadline {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
    }
    assert!(line.contains("ATTACHED 10.94.0.2/24"), "{line:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    // The container's interface, the rules and the lease are still there...
    assert_eq!(c.link_names().len(), 2);
    assert!(
        lab.host
            .sh(&["nft", "list", "ruleset"])
            .contains("hutcht4-10.94.0.2-pre")
    );
    // ...until the next user of the network cleans up.
    let mut cfg = lab.config("hutcht4", "10.94.0.0/24");
    let net: Network = cfg.state_root(&lab.state.0).open().unwrap();
    let report = net.cleanup_stale().unwrap();
    assert!(
        report.leases.is_empty(),
        "open() already cleaned up: {report:?}"
    );
    assert_eq!(c.link_names(), ["lo"]);
    assert!(
        !lab.host
            .sh(&["nft", "list", "ruleset"])
            .contains("10.94.0.2")
    );
    let again = net.attach(&c.ns, &AttachOptions::new()).unwrap();
    assert_eq!(again.address().to_string(), "10.94.0.2/24");
    drop(again);
    // An interface of the host that merely has the name hutch would give 10.94.0.2's host
    // side (no mark): neither attaching nor the cleanup removes it; attaching fails instead.
    lab.host.sh(&[
        "ip",
        "link",
        "add",
        "vh0a5e0002",
        "type",
        "veth",
        "peer",
        "name",
        "theirs0",
    ]);
    let err = net
        .attach(&c.ns, &AttachOptions::new())
        .expect_err("the name is taken by an interface of someone else");
    assert!(err.to_string().contains("vh0a5e0002"), "{err}");
    assert!(net.cleanup_stale().unwrap().links.is_empty());
    let links = lab.host.link_names();
    assert!(links.contains(&"vh0a5e0002".to_owned()), "{links:?}");
    lab.host.sh(&["ip", "link", "del", "vh0a5e0002"]);
    net.remove().unwrap();
    lab.assert_clean();
}

/// On a dual-stack network a port published without a host address answers over IPv6
/// too, from other hosts and from the host's own IPv6 address; one published on an IPv6
/// host address answers there only; on an IPv4-only network an IPv6 host address is an
/// error naming the mapping.
#[test]
fn dual_stack_published_ports() {
    let lab = Lab::new("v6pub");
    for (ns, addr, link) in [
        (&lab.host, "2001:db8::1/64", "up0"),
        (&lab.world, "2001:db8::2/64", "wan0"),
    ] {
        ns.sh(&["ip", "-6", "addr", "add", addr, "dev", link, "nodad"]);
    }
    let mut cfg = lab.config("hutcht7", "10.97.0.0/24");
    cfg.subnet6("fd00:97::/64".parse().unwrap());
    let net = cfg.open().unwrap();
    let c1 = TestNs::new();
    let c2 = TestNs::new();
    let a1 = net
        .attach(
            &c1.ns,
            AttachOptions::new().publish(PortMapping::tcp(8080, 80)),
        )
        .unwrap();
    let a2 = net
        .attach(
            &c2.ns,
            AttachOptions::new().publish("[2001:db8::1]:8081:81".parse().unwrap()),
        )
        .unwrap();
    let listen6 = |ns: &TestNs, port: u16| {
        run_in_netns(&ns.ns, || TcpListener::bind(("::", port)))
            .unwrap()
            .unwrap()
    };
    // `client` calls `to`; a server on `port` in `server` answers with the peer it saw.
    let call = |server: &TestNs, port: u16, client: &TestNs, to: &str| {
        let s = serve_once(listen6(server, port));
        let answer = tcp_call(client, to);
        s.join().unwrap();
        answer
    };
    // world -> host's IPv6 address -> container, the client's address kept.
    assert_eq!(
        call(&c1, 80, &lab.world, "[2001:db8::1]:8080"),
        "2001:db8::2 hello"
    );
    // The same mapping over IPv4 (a dual-stack listener sees a mapped address).
    assert_eq!(
        call(&c1, 80, &lab.world, "192.0.2.1:8080"),
        "::ffff:192.0.2.2 hello"
    );
    // The host itself, through its own IPv6 address.
    assert_eq!(
        call(&c1, 80, &lab.host, "[2001:db8::1]:8080"),
        "2001:db8::1 hello"
    );
    // The host's ::1 cannot be forwarded; it is refused at once (a client of `localhost`
    // falls back to 127.0.0.1 without waiting), and 127.0.0.1 answers.
    // `client` connecting to `to` is refused (a reset), not timed out.
    let refused = |client: &TestNs, to: &str| {
        let to: SocketAddr = to.parse().unwrap();
        let r = run_in_netns(&client.ns, || TcpStream::connect_timeout(&to, TIMEOUT)).unwrap();
        assert_eq!(
            r.unwrap_err().kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{to}"
        );
    };
    refused(&lab.host, "[::1]:8080");
    assert!(
        call(&c1, 80, &lab.host, "127.0.0.1:8080").ends_with(" hello"),
        "127.0.0.1"
    );
    // Hairpin: another container reaches the published port through the host's IPv6
    // address (the reply returns through the host: masqueraded to the gateway). Routed, that
    // is: with br_netfilter's IPv6 hook on, the kernel would bridge the DNATed frame instead
    // (see `e2e`).
    let knob = "/proc/sys/net/bridge/bridge-nf-call-ip6tables";
    if std::path::Path::new(knob).exists() {
        run_in_netns(&lab.host.ns, || std::fs::write(knob, "0"))
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        call(&c1, 80, &c2, "[2001:db8::1]:8080"),
        "fd00:97::1 hello",
        "container -> host IPv6 -> container"
    );
    // An IPv6 host address: published there, not over IPv4.
    assert_eq!(
        call(&c2, 81, &lab.world, "[2001:db8::1]:8081"),
        "2001:db8::2 hello"
    );
    refused(&lab.world, "192.0.2.1:8081");
    // The rules are in `ip6 hutch`, readable by nft, and go with the containers.
    let rules = lab.host.sh(&["nft", "list", "table", "ip6", "hutch"]);
    assert!(rules.contains("dnat to [fd00:97::2]:80"), "{rules}");
    assert!(rules.contains("dnat to [fd00:97::3]:81"), "{rules}");
    assert!(
        rules.contains("ip6 daddr ::1 tcp dport 8080 reject with tcp reset"),
        "{rules}"
    );
    drop((a1, a2));
    let rules = lab.host.sh(&["nft", "list", "table", "ip6", "hutch"]);
    assert!(
        !rules.contains("dnat to") && !rules.contains("reject"),
        "{rules}"
    );
    // Attaching a container that publishes `spec` on `net` fails, leaving it only `lo`.
    let attach_refused = |net: &hutch_netns::Network, spec: &str| {
        let c = TestNs::new();
        let err = net
            .attach(&c.ns, AttachOptions::new().publish(spec.parse().unwrap()))
            .unwrap_err();
        assert_eq!(c.link_names(), ["lo"], "{spec}");
        err
    };
    // A link-local host address cannot be published on (no scope); an address the host is
    // still checking for duplicates (tentative) cannot be bound yet: each says so.
    let err = attach_refused(&net, "[fe80::1]:8084:80");
    assert!(
        matches!(err, hutch_netns::NetworkError::LinkLocalHostAddress { .. }),
        "{err:?}"
    );
    lab.host
        .sh(&["ip", "-6", "addr", "add", "2001:db8::7/64", "dev", "up0"]);
    match attach_refused(&net, "[2001:db8::7]:8085:80") {
        hutch_netns::NetworkError::HostPortUnavailable { addr, source, .. } => {
            assert_eq!(addr.to_string(), "2001:db8::7");
            assert_eq!(
                source.raw_os_error(),
                Some(libc::EADDRNOTAVAIL),
                "{source:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // ::1 named as the host address is an error naming it.
    let err = attach_refused(&net, "[::1]:8083:80");
    assert!(
        matches!(err, hutch_netns::NetworkError::Ipv6Loopback { .. }),
        "{err:?}"
    );
    // An IPv6 host address on an IPv4-only network.
    let v4 = lab.config("hutcht8", "10.98.0.0/24").open().unwrap();
    let err = attach_refused(&v4, "[2001:db8::1]:8082:80");
    assert!(
        matches!(err, hutch_netns::NetworkError::NoIpv6Subnet { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("[2001:db8::1]:8082:80"), "{err}");
    v4.remove().unwrap();
    // An IPv6 subnet smaller than the IPv4 one.
    let mut small = lab.config("hutcht9", "10.99.0.0/24");
    small.subnet6("fd00:99::/124".parse().unwrap());
    let err = small.open().unwrap_err();
    assert!(
        matches!(err, hutch_netns::NetworkError::Subnet6TooSmall { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("/120"), "{err}");
    net.remove().unwrap();
    lab.assert_clean();
}

#[test]
fn dual_stack_network() {
    let lab = Lab::new("v6");
    let mut cfg = lab.config("hutcht5", "10.95.0.0/24");
    cfg.subnet6("fd00:95::/64".parse().unwrap());
    let net = cfg.open().unwrap();
    assert_eq!(net.gateway6().unwrap().to_string(), "fd00:95::1/64");
    let c1 = TestNs::new();
    let c2 = TestNs::new();
    let a1 = net.attach(&c1.ns, &AttachOptions::new()).unwrap();
    let a2 = net.attach(&c2.ns, &AttachOptions::new()).unwrap();
    assert_eq!(a1.address6().unwrap().to_string(), "fd00:95::2/64");
    assert_eq!(a2.address6().unwrap().to_string(), "fd00:95::3/64");
    assert!(c2.addrs("eth0").contains(&"fd00:95::3/64".to_owned()));
    let r6 = c1.ip(&["-6", "route"]);
    assert!(
        r6.as_array()
            .unwrap()
            .iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "fd00:95::1")
    );
    let listener = run_in_netns(&c2.ns, || TcpListener::bind("[::]:7000"))
        .unwrap()
        .unwrap();
    let server = serve_once(listener);
    assert_eq!(tcp_call(&c1, "[fd00:95::3]:7000"), "fd00:95::2 hello");
    server.join().unwrap();
    // container -> world over IPv6: the ULA is masqueraded to the host's address (addresses
    // without duplicate detection, usable at once).
    for (ns, addr) in [
        (&lab.host, "2001:db8::1/64"),
        (&lab.world, "2001:db8::2/64"),
    ] {
        let link = if std::ptr::eq(ns, &lab.host) {
            "up0"
        } else {
            "wan0"
        };
        ns.sh(&["ip", "-6", "addr", "add", addr, "dev", link, "nodad"]);
    }
    let listener = run_in_netns(&lab.world.ns, || TcpListener::bind("[::]:9006"))
        .unwrap()
        .unwrap();
    let server = serve_once(listener);
    assert_eq!(tcp_call(&c1, "[2001:db8::2]:9006"), "2001:db8::1 hello");
    server.join().unwrap();
    let rules = lab.host.sh(&["nft", "list", "table", "ip6", "hutch"]);
    assert!(rules.contains("fd00:95::/64"), "{rules}");
    drop((a1, a2));
    net.remove().unwrap();
    lab.assert_clean();
}
