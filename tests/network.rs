//! Containers on networks, as root. Every test builds its own "host" network namespace and
//! points the network at it (`NetworkConfig::host_netns`), so nothing touches the machine's
//! own interfaces or firewall, and all traffic stays inside the test's namespaces.

mod common;

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TempDir, shared};
use hutch::netns::{NetworkConfig, run_in_netns};
use hutch::ns::NsHandle;
use hutch::{Container, NetworkMode, SpawnError, Stdio};

/// A network namespace made with `ip netns add`, removed when dropped.
struct HostNs {
    name: String,
    handle: Arc<NsHandle>,
}

impl HostNs {
    fn new() -> HostNs {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "hutch-nt-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        let handle = Arc::new(NsHandle::open_path(format!("/run/netns/{name}")).unwrap());
        HostNs { name, handle }
    }

    /// A network in this namespace with a short unique bridge name and its own state.
    fn network(&self, state: &TempDir) -> NetworkConfig {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "hn{}x{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut cfg = NetworkConfig::new(name);
        cfg.state_root(&state.0).host_netns(self.handle.clone());
        cfg
    }

    fn links(&self) -> String {
        let out = std::process::Command::new("ip")
            .args(["-n", &self.name, "-o", "link"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ruleset(&self) -> String {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "list", "ruleset"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for HostNs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Files named like an address anywhere under a network state directory: IPAM leases.
fn lease_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(lease_files(&p));
        } else if e.file_name().to_string_lossy().parse::<IpAddr>().is_ok() {
            out.push(p);
        }
    }
    out
}

fn ip(args: &[&str]) {
    let st = std::process::Command::new("ip")
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "ip {args:?}");
}

fn server(c: &Container) -> hutch::Child {
    c.command("python3")
        .args([
            "-c",
            "import socket\ns = socket.socket()\n\
             s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('0.0.0.0', 80))\ns.listen()\nwhile True:\n    \
             c, a = s.accept()\n    c.sendall(b'hello from ' + a[0].encode())\n    c.close()",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Connects to `addr` from inside `ns` and returns what the server said, retrying while it
/// starts.
fn fetch(ns: &NsHandle, addr: SocketAddr) -> String {
    run_in_netns(ns, move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                Ok(mut s) => {
                    let mut text = String::new();
                    s.read_to_string(&mut text).unwrap();
                    // pasta accepts at once and closes while the server is not listening yet.
                    if !text.is_empty() || Instant::now() >= deadline {
                        return text;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("connecting to {addr}: {e}"),
            }
        }
    })
    .unwrap()
}

#[test]
fn containers_on_a_bridge_reach_each_other_by_address_and_name_and_leave_nothing() {
    let _g = shared();
    let host = HostNs::new();
    let state = TempDir::new("hutch-net-state");
    let cfg = host.network(&state);
    let mut a = Container::new();
    a.network(NetworkMode::Bridge(cfg.clone()))
        .hostname("alpha");
    let mut srv = server(&a);
    let net = srv.network().expect("a network");
    let addr_a = net.address().unwrap().addr();
    assert!(net.gateway().is_some());
    let mut b = Container::new();
    b.network(NetworkMode::Bridge(cfg.clone())).hostname("beta");
    let script = [
        "import socket, time",
        "addr = socket.gethostbyname('alpha')",
        "for i in range(100):",
        "    try:",
        "        s = socket.create_connection((addr, 80), timeout=2)",
        "        break",
        "    except OSError:",
        "        time.sleep(0.05)",
        "print(addr, s.recv(100).decode())",
    ]
    .join("\n");
    let out = b.command("python3").args(["-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with(&format!("{addr_a} hello from ")), "{text}");
    // /etc/hosts names the container itself too.
    let hosts =
        String::from_utf8(b.command("cat").arg("/etc/hosts").output().unwrap().stdout).unwrap();
    assert!(hosts.contains("beta") && hosts.contains("alpha"), "{hosts}");
    assert_eq!(
        lease_files(&state.0).len(),
        1,
        "alpha's lease, while it runs"
    );
    // And the other way: alpha, there first, learns beta's name while beta runs, and forgets
    // it when beta ends.
    let alpha_hosts = |srv: &hutch::Child| {
        let out = srv.exec("cat").arg("/etc/hosts").output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let mut beta = b.command("sleep").arg("30").spawn().unwrap();
    let addr_b = beta.network().unwrap().address().unwrap().addr();
    let hosts = alpha_hosts(&srv);
    assert!(hosts.contains(&format!("{addr_b}\tbeta\t")), "{hosts}");
    let resolved = srv
        .exec("python3")
        .args(["-c", "import socket; print(socket.gethostbyname('beta'))"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&resolved.stdout).trim(),
        addr_b.to_string()
    );
    beta.kill().unwrap();
    beta.wait().unwrap();
    let hosts = alpha_hosts(&srv);
    assert!(!hosts.contains("beta"), "{hosts}");
    assert!(hosts.contains(&format!("{addr_a}\talpha\n")), "{hosts}");
    drop(beta);
    srv.kill().unwrap();
    srv.wait().unwrap();
    drop(srv);
    // Nothing of the containers is left: no veth, no lease, no per-container chain.
    let links = host.links();
    assert!(
        !links.contains("veth") && links.lines().count() <= 2,
        "{links}"
    );
    let leases = lease_files(&state.0);
    assert!(leases.is_empty(), "leases left: {leases:?}");
    let rules = host.ruleset();
    assert!(!rules.contains(&format!("{addr_a}")), "{rules}");
}

/// A caller's own host entry (`add_host`) that happens to equal a peer's line stays when the
/// peer leaves: only the lines hutch added for peers are removed.
#[test]
fn a_callers_host_entry_survives_a_peer_of_that_name_leaving() {
    let _g = shared();
    let host = HostNs::new();
    let state = TempDir::new("hutch-net-state");
    let mut cfg = host.network(&state);
    cfg.subnet("10.77.0.0/24".parse().unwrap());
    let beta_addr: IpAddr = "10.77.0.9".parse().unwrap();
    let mut a = Container::new();
    a.network(NetworkMode::Bridge(cfg.clone()))
        .hostname("alpha")
        .add_host("beta", beta_addr);
    let alpha = a.command("sleep").arg("30").spawn().unwrap();
    let hosts = || {
        let out = alpha.exec("cat").arg("/etc/hosts").output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let mine = format!("{beta_addr}\tbeta\n");
    assert!(hosts().contains(&mine), "{}", hosts());
    let mut b = Container::new();
    b.network(NetworkMode::Bridge(cfg))
        .hostname("beta")
        .ip(beta_addr);
    let mut beta = b.command("sleep").arg("30").spawn().unwrap();
    // Announced: the peer's line is there as well, marked as the network's.
    let peer = hutch::netns::peer_hosts_line("beta", beta_addr);
    assert!(hosts().contains(&peer), "{}", hosts());
    beta.kill().unwrap();
    beta.wait().unwrap();
    let text = hosts();
    assert!(!text.contains(&peer), "{text}");
    assert!(
        text.contains(&mine),
        "the caller's entry went with the peer: {text}"
    );
}

#[test]
fn a_published_port_answers_on_the_hosts_loopback_and_goes_away() {
    let _g = shared();
    let host = HostNs::new();
    let state = TempDir::new("hutch-net-state");
    let cfg = host.network(&state);
    let mut c = Container::new();
    c.network(NetworkMode::Bridge(cfg.clone()))
        .publish("8080:80".parse().unwrap());
    let mut srv = server(&c);
    assert_eq!(srv.network().unwrap().ports().len(), 1);
    let text = fetch(&host.handle, "127.0.0.1:8080".parse().unwrap());
    assert!(text.starts_with("hello from "), "{text}");
    // A second container cannot publish the same port.
    let err = c.command("true").spawn().unwrap_err();
    assert!(matches!(err, SpawnError::Network(_)), "{err:?}");
    assert!(hutch::error_chain(&err).contains("8080"), "{err}");
    // Killed from outside: its address, port and rules are released as soon as it has been
    // waited for, while its handle still exists.
    srv.kill_all().ok();
    srv.kill().unwrap();
    srv.wait().unwrap();
    assert!(srv.network().is_none());
    let rules = host.ruleset();
    assert!(!rules.contains("8080"), "{rules}");
    let mut next = c.command("true").spawn().unwrap();
    assert!(next.wait().unwrap().success());
    drop((srv, next));
    // A port a process of the host listens on cannot be published; one the container holds
    // cannot be taken by the host's processes; a host address must be the host's.
    let taken = run_in_netns(&host.handle, || std::net::TcpListener::bind("0.0.0.0:8090"))
        .unwrap()
        .unwrap();
    let mut c2 = Container::new();
    c2.network(NetworkMode::Bridge(cfg.clone()))
        .publish("8090:80".parse().unwrap());
    let err = c2.command("true").spawn().unwrap_err();
    assert!(
        hutch::error_chain(&err).contains("port 8090:80/tcp is in use on the host"),
        "{}",
        hutch::error_chain(&err)
    );
    drop(taken);
    let mut holder = c2.command("sleep").arg("30").spawn().unwrap();
    let bind = run_in_netns(&host.handle, || {
        std::net::TcpListener::bind("0.0.0.0:8090").map_err(|e| e.raw_os_error())
    })
    .unwrap();
    assert_eq!(bind.err(), Some(Some(libc::EADDRINUSE)));
    holder.kill().unwrap();
    holder.wait().unwrap();
    let bind = run_in_netns(&host.handle, || std::net::TcpListener::bind("0.0.0.0:8090")).unwrap();
    assert!(
        bind.is_ok(),
        "the port stays reserved after the container: {bind:?}"
    );
    let mut c3 = Container::new();
    c3.network(NetworkMode::Bridge(cfg))
        .publish("192.0.2.99:8091:80".parse().unwrap());
    let err = c3.command("true").spawn().unwrap_err();
    assert!(
        hutch::error_chain(&err).contains("not an address of the host"),
        "{}",
        hutch::error_chain(&err)
    );
    let rules = host.ruleset();
    assert!(!rules.contains("8080"), "{rules}");
    let refused = run_in_netns(&host.handle, || {
        TcpStream::connect_timeout(&"127.0.0.1:8080".parse().unwrap(), Duration::from_secs(1))
            .is_err()
    })
    .unwrap();
    assert!(refused);
}

#[test]
fn joining_another_containers_network_namespace() {
    let _g = shared();
    let host = HostNs::new();
    let state = TempDir::new("hutch-net-state");
    let mut a = Container::new();
    a.network(NetworkMode::Bridge(host.network(&state)));
    let mut srv = server(&a);
    let addr: IpAddr = srv.network().unwrap().address().unwrap().addr();
    let mut b = Container::new();
    b.join_namespace(srv.namespace(hutch::Namespace::Net).unwrap());
    let out = b
        .command("ip")
        .args(["-o", "-4", "addr", "show", "dev", "eth0"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // The other container's interface and address.
    assert!(
        text.contains(&format!(" {addr}/")),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    srv.kill().unwrap();
    srv.wait().unwrap();
}

#[test]
fn bad_network_settings_are_clear_errors() {
    let _g = shared();
    let mut c = Container::new();
    c.publish("8080:80".parse().unwrap());
    let err = c.command("true").spawn().unwrap_err();
    assert!(matches!(err, SpawnError::NetworkConfig { .. }), "{err:?}");
    let mut c = Container::new();
    c.join_namespace(NsHandle::open_path("/proc/self/ns/mnt").unwrap());
    let err = c.command("true").spawn().unwrap_err();
    assert!(matches!(err, SpawnError::JoinNamespace { .. }), "{err:?}");
    // A joined network namespace and a network mode contradict each other, in either order;
    // nothing is wired into the joined namespace.
    let host = HostNs::new();
    let state = TempDir::new("hutch-net-state");
    let before = host.links();
    let mut c = Container::new();
    c.join_namespace(NsHandle::open_path(format!("/run/netns/{}", host.name)).unwrap())
        .network(NetworkMode::Bridge(host.network(&state)));
    let err = c.command("true").spawn().unwrap_err();
    assert!(matches!(err, SpawnError::NetworkConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("join_namespace"), "{err}");
    let mut c = Container::new();
    c.network(NetworkMode::Host)
        .join_namespace(NsHandle::open_path(format!("/run/netns/{}", host.name)).unwrap())
        .network(NetworkMode::Host);
    let err = c.command("true").spawn().unwrap_err();
    assert!(matches!(err, SpawnError::NetworkConfig { .. }), "{err:?}");
    assert_eq!(host.links(), before);
}

/// Re-runs the test `inner` of this binary as `nobody` inside the test namespace `host`, with
/// `var` set; `ip netns exec` gives it a mount namespace of its own (a slave of the host's),
/// where a TUN node of `tun_mode` is mounted over `/dev/net`.
fn rerun_as_nobody_in(host: &HostNs, tun_mode: &str, inner: &str, var: &str) {
    let mut args: Vec<std::ffi::OsString> =
        vec!["netns".into(), "exec".into(), host.name.clone().into()];
    args.extend(common::with_tun_node(tun_mode));
    args.push("setpriv".into());
    args.extend(common::as_nobody(inner));
    let out = std::process::Command::new("ip")
        .args(&args)
        .env(var, "1")
        .current_dir("/")
        .output()
        .unwrap();
    common::assert_rerun_passed(&out);
}

/// The unprivileged half of the next test: a container on pasta with a published port,
/// reached from the caller's own loopback.
#[test]
fn pasta_as_nobody_inner() {
    if std::env::var_os("HUTCH_TEST_PASTA_AS_NOBODY").is_none() {
        return;
    }
    // SAFETY: always succeeds.
    assert_ne!(unsafe { libc::geteuid() }, 0);
    let mut c = Container::new();
    c.network(NetworkMode::Pasta)
        .publish("8081:80".parse().unwrap());
    let mut srv = server(&c);
    assert!(srv.network().unwrap().pasta_pid().is_some());
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        match TcpStream::connect_timeout(&"127.0.0.1:8081".parse().unwrap(), Duration::from_secs(2))
        {
            Ok(mut s) => {
                let mut t = String::new();
                s.read_to_string(&mut t).unwrap();
                if !t.is_empty() {
                    break t;
                }
            }
            Err(e) => assert!(Instant::now() < deadline, "{e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(text.starts_with("hello from "), "{text}");
    srv.kill().unwrap();
    srv.wait().unwrap();
}

#[test]
fn rootless_networking_through_pasta() {
    let _g = shared();
    if std::process::Command::new("pasta")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!(
            "pasta (Debian package passt) is not installed: scripts/install-deps.sh installs it"
        );
    }
    let host = HostNs::new();
    // pasta wants an "external" interface with a route: one end of a veth pair whose other
    // end is in the same test namespace, so packets go nowhere (TEST-NET-1 addresses).
    ip(&[
        "-n", &host.name, "link", "add", "ext0", "type", "veth", "peer", "name", "ext1",
    ]);
    ip(&["-n", &host.name, "link", "set", "ext1", "up"]);
    ip(&[
        "-n",
        &host.name,
        "addr",
        "add",
        "192.0.2.1/24",
        "dev",
        "ext0",
    ]);
    ip(&["-n", &host.name, "link", "set", "ext0", "up"]);
    ip(&[
        "-n",
        &host.name,
        "route",
        "add",
        "default",
        "via",
        "192.0.2.254",
        "dev",
        "ext0",
    ]);
    // With udev's mode for the TUN device, whatever the host's node has.
    rerun_as_nobody_in(
        &host,
        "0666",
        "pasta_as_nobody_inner",
        "HUTCH_TEST_PASTA_AS_NOBODY",
    );
    // And without pasta installed the error names it: covered by hutch-netns' own tests.
}

/// The unprivileged half of the next test: the TUN device is root-only, so pasta cannot
/// start, and the error says why and how to fix it.
#[test]
fn pasta_without_tun_access_inner() {
    if std::env::var_os("HUTCH_TEST_PASTA_NO_TUN").is_none() {
        return;
    }
    // SAFETY: always succeeds.
    assert_ne!(unsafe { libc::geteuid() }, 0);
    let mut c = Container::new();
    c.network(NetworkMode::Pasta);
    let err = c.command("true").spawn().unwrap_err();
    let SpawnError::Pasta(inner) = &err else {
        panic!("{err:?}")
    };
    let hutch_netns::RootlessError::TunDevice { device, .. } = inner.as_ref() else {
        panic!("{inner:?}")
    };
    assert_eq!(
        device.source.raw_os_error(),
        Some(libc::EACCES),
        "{device:?}"
    );
    assert!(device.detail.contains("mode 0600"), "{device}");
    let text = format!("{}", inner);
    assert!(
        text.contains("/dev/net/tun") && text.contains("chmod 0666"),
        "{text}"
    );
    // The preflight report says the same before anything is started.
    let report = hutch::preflight::for_container(&c);
    let item = report
        .items()
        .iter()
        .find(|i| i.id == hutch::preflight::Id::RootlessNetwork)
        .unwrap();
    assert!(item.blocking, "{report}");
    assert!(
        item.fix.as_deref().unwrap().contains("chmod 0666"),
        "{report}"
    );
}

#[test]
fn pasta_without_access_to_the_tun_device_says_so() {
    let _g = shared();
    let host = HostNs::new();
    // A root-only TUN node (mode 0600, as the kernel makes it on hosts without udev).
    rerun_as_nobody_in(
        &host,
        "0600",
        "pasta_without_tun_access_inner",
        "HUTCH_TEST_PASTA_NO_TUN",
    );
}

#[test]
fn fifty_containers_from_eight_threads_get_distinct_addresses() {
    let _g = shared();
    let host = HostNs::new();
    let state = TempDir::new("hutch-net-state");
    let cfg = host.network(&state);
    let addrs = std::sync::Mutex::new(Vec::new());
    // Every container lives until all are up: an address released early may be reused, as
    // it should.
    let all_up = std::sync::Barrier::new(8);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (cfg, addrs, all_up) = (cfg.clone(), &addrs, &all_up);
            s.spawn(move || {
                let n = if t < 2 { 7 } else { 6 };
                let mut c = Container::new();
                c.network(NetworkMode::Bridge(cfg)).cgroup(false);
                let kids: Vec<hutch::Child> = (0..n)
                    .map(|_| c.command("sleep").arg("30").spawn().unwrap())
                    .collect();
                let mut mine: Vec<IpAddr> = kids
                    .iter()
                    .map(|k| k.network().unwrap().address().unwrap().addr())
                    .collect();
                addrs.lock().unwrap().append(&mut mine);
                all_up.wait();
                drop(kids);
            });
        }
    });
    let mut all = addrs.into_inner().unwrap();
    assert_eq!(all.len(), 50);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 50, "two containers shared an address");
    // All gone: only lo and the bridge are left.
    let links = host.links();
    assert!(links.lines().count() <= 2, "{links}");
}

#[test]
fn joining_another_containers_pid_and_ipc_namespaces() {
    let _g = shared();
    let mut a = Container::new();
    a.hostname("first");
    let mut first = a.command("sleep").arg("30").spawn().unwrap();
    let mut b = Container::new();
    b.join_namespace(first.namespace(hutch::Namespace::Pid).unwrap())
        .join_namespace(first.namespace(hutch::Namespace::Ipc).unwrap());
    let out = b
        .command("/bin/sh")
        .args(["-c", "cat /proc/1/comm; ls /proc | grep -c '^[0-9]'"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("sleep"), "PID 1 seen inside: {text}");
    // The joined namespace's sleep, the shell, grep and ls: a handful, not the host's.
    let count: usize = lines.next().unwrap().trim().parse().unwrap();
    assert!((2..10).contains(&count), "{text}");
    // An init cannot be combined with a joined pid namespace.
    b.init(true);
    let err = b.command("true").spawn().unwrap_err();
    assert!(
        matches!(
            err,
            SpawnError::JoinNamespace { .. } | SpawnError::NeedsNamespace { .. }
        ),
        "{err:?}"
    );
    assert!(hutch::error_chain(&err).contains("init"), "{err}");
    first.kill().unwrap();
    first.wait().unwrap();
}
