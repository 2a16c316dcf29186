//! pasta against the kernel, inside namespaces the test makes: pasta itself runs in a
//! test "host" namespace, so its sockets (the container's way out and the published
//! ports) never touch the machine's real network.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use common::{TestNs, dup};
use hutch_netns::{PastaConfig, PortMapping, RootlessError, Route, RtHandle, run_in_netns};

const TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn missing_program_is_named() {
    let c = TestNs::new();
    let e = PastaConfig::new()
        .program("/nonexistent/pasta")
        .start(&c.ns)
        .unwrap_err();
    assert!(matches!(e, RootlessError::MissingProgram { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("/nonexistent/pasta") && text.contains("passt"),
        "{text}"
    );
}

#[test]
fn pasta_failure_is_reported_with_its_message() {
    let c = TestNs::new();
    let e = PastaConfig::new()
        .arg("--no-such-option")
        .start(&c.ns)
        .unwrap_err();
    assert!(matches!(e, RootlessError::Exited { .. }), "{e}");
}

#[test]
fn pasta_gives_a_container_the_outside_and_published_ports() {
    // host: up0 192.0.2.1/24, default route via the world (192.0.2.2).
    let host = TestNs::new();
    let world = TestNs::new();
    let mut h = RtHandle::open_in(&host.ns).unwrap();
    let up = h.add_veth("up0", "wan0", Some(&world.ns)).unwrap();
    h.add_address(up, "192.0.2.1/24".parse().unwrap()).unwrap();
    h.set_up(up).unwrap();
    h.add_route(&Route::default_via("192.0.2.2".parse().unwrap()))
        .unwrap();
    let mut w = RtHandle::open_in(&world.ns).unwrap();
    let wan = w.link_by_name("wan0").unwrap().index;
    w.add_address(wan, "192.0.2.2/24".parse().unwrap()).unwrap();
    w.set_up(wan).unwrap();
    // A world address that is not pasta's gateway (pasta maps the gateway to the host).
    w.add_address(wan, "198.51.100.1/24".parse().unwrap())
        .unwrap();

    let c = TestNs::new();
    let pasta = PastaConfig::new()
        .host_netns(Arc::new(dup(&host.ns)))
        // As root, without a user namespace to join, pasta keeps root (`--runas 0`, added by
        // the library) to enter the container's namespace.
        .publish(PortMapping::tcp(8080, 80))
        .start(&c.ns)
        .unwrap();
    let pid = pasta.id().unwrap();
    // pasta configured the container like the host's uplink.
    let names = c.link_names();
    assert_eq!(names.len(), 2, "{names:?}");
    let tap = names.iter().find(|n| *n != "lo").unwrap();
    assert!(
        c.addrs(tap).contains(&"192.0.2.1/24".to_owned()),
        "{:?}",
        c.addrs(tap)
    );

    // Host 127.0.0.1:8080 -> container:80.
    let listener = run_in_netns(&c.ns, || TcpListener::bind("0.0.0.0:80"))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        (&s).write_all(format!("got {line}").as_bytes()).unwrap();
    });
    let to: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let stream = run_in_netns(&host.ns, || TcpStream::connect_timeout(&to, TIMEOUT))
        .unwrap()
        .unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    (&stream).write_all(b"hi\n").unwrap();
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).unwrap();
    assert_eq!(answer.trim(), "got hi");
    server.join().unwrap();

    // Container -> world through pasta's sockets in the host namespace.
    let listener = run_in_netns(&world.ns, || TcpListener::bind("0.0.0.0:9000"))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || listener.accept().map(|(_, peer)| peer.ip()));
    let to: SocketAddr = "198.51.100.1:9000".parse().unwrap();
    let stream = run_in_netns(&c.ns, || TcpStream::connect_timeout(&to, TIMEOUT))
        .unwrap()
        .unwrap();
    assert_eq!(server.join().unwrap().unwrap().to_string(), "192.0.2.1");
    drop(stream);

    drop(pasta);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pasta still running"
    );
}

const ROLE: &str = "HUTCH_NETNS_ROOTLESS_ROLE";

/// Not a test of its own: the bodies of the processes of `rootless_as_an_unprivileged_user`.
#[test]
fn unpriv_role() {
    match std::env::var(ROLE).as_deref() {
        Ok("container") => container_role(),
        Ok("user") => user_role(),
        _ => {}
    }
}

/// The "container": root of its own user namespace, in its own network namespace.
fn container_role() {
    let listener = TcpListener::bind("0.0.0.0:80").unwrap();
    println!("\nREADY");
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("no connection: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    (&stream)
        .write_all(format!("got {line}").as_bytes())
        .unwrap();
}

/// The unprivileged user (`nobody`): starts the container, then pasta for it.
fn user_role() {
    assert_ne!(effective_uid(), 0);
    let exe = std::env::current_exe().unwrap();
    let mut container = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--net"])
        .arg(&exe)
        .args(["--exact", "unpriv_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, "container")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(container.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("READY") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "container ended early"
        );
    }
    let pid = container.id();
    let net = hutch_ns::NsHandle::open(pid, hutch_ns::Namespace::Net).unwrap();
    let user = hutch_ns::NsHandle::open(pid, hutch_ns::Namespace::User).unwrap();
    let pasta = PastaConfig::new()
        .userns(Arc::new(user))
        .publish(PortMapping::tcp(8080, 80))
        .start(&net)
        .unwrap();
    let to: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let stream = TcpStream::connect_timeout(&to, TIMEOUT).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    (&stream).write_all(b"hi\n").unwrap();
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).unwrap();
    assert_eq!(answer.trim(), "got hi");
    assert!(container.wait().unwrap().success());
    drop(pasta);
    println!("\nUNPRIVILEGED-OK");
}

fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

#[test]
fn rootless_as_an_unprivileged_user() {
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::process::CommandExt;
    // The unprivileged process lives in a test "host" namespace with an uplink, so that
    // pasta's sockets stay inside the test's namespaces.
    let host = TestNs::new();
    let world = TestNs::new();
    let mut h = RtHandle::open_in(&host.ns).unwrap();
    let up = h.add_veth("up0", "wan0", Some(&world.ns)).unwrap();
    h.add_address(up, "192.0.2.1/24".parse().unwrap()).unwrap();
    h.set_up(up).unwrap();
    h.add_route(&Route::default_via("192.0.2.2".parse().unwrap()))
        .unwrap();

    let fd = host.ns.as_fd().as_raw_fd();
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "unpriv_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, "user")
        .stdout(std::process::Stdio::piped());
    // SAFETY: raw system calls only between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let nobody = 65534;
            // pasta opens /dev/net/tun as the caller: give the unprivileged process udev's
            // mode for it (hosts without udev leave the kernel's 0600) in a mount namespace
            // of its own, without changing the host's node.
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_SLAVE | libc::MS_REC,
                    std::ptr::null(),
                ) != 0
                || libc::mount(
                    c"hutch-test-tun".as_ptr(),
                    c"/dev/net".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    c"mode=0755".as_ptr().cast(),
                ) != 0
                || libc::mknod(
                    c"/dev/net/tun".as_ptr(),
                    libc::S_IFCHR | 0o666,
                    libc::makedev(10, 200),
                ) != 0
                || libc::chmod(c"/dev/net/tun".as_ptr(), 0o666) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if libc::setns(fd, libc::CLONE_NEWNET) != 0
                || libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresgid(nobody, nobody, nobody) != 0
                || libc::setresuid(nobody, nobody, nobody) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("UNPRIVILEGED-OK"),
        "{text}"
    );
}
