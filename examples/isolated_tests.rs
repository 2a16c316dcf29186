//! A test file whose tests each run in a container of their own: two servers that both bind
//! port 80, in parallel, without clashing (each has its own network namespace), and a test
//! that proves it cannot reach the network.
//!
//! Built as a test by `cargo test` (it is an example with `test = true`):
//!
//! ```text
//! cargo test --example isolated_tests
//! cargo test --example isolated_tests -- --nocapture     # shows the inner output live
//! ```
//!
//! As root, or as a user allowed to create user namespaces (hutch then maps the caller to
//! root inside, so binding port 80 works there too).

// The helpers are used by the tests only; a plain `cargo build --examples` builds `main`.
#![cfg_attr(not(test), allow(dead_code))]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use hutch::Container;

/// Each test's container: its own hostname, network (only `lo`), `/tmp`, and a read-only
/// view of the host's files (so the test binary is there, at the same path).
fn sandbox(hostname: &str) -> Container {
    let mut c = Container::new();
    c.hostname(hostname).tmpfs("/tmp").read_only(true);
    c
}

/// Serves one HTTP request on port 80 and checks the answer, holding the port a while so
/// that the two server tests overlap.
fn serve_once_on_port_80() {
    let listener = TcpListener::bind("0.0.0.0:80").expect("port 80 is ours in this namespace");
    let client = std::thread::spawn(|| {
        let mut s = TcpStream::connect("127.0.0.1:80").unwrap();
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    });
    let (mut conn, _) = listener.accept().unwrap();
    let mut request = [0u8; 64];
    let n = conn.read(&mut request).unwrap();
    assert!(request[..n].starts_with(b"GET / "));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    write!(conn, "HTTP/1.0 200 OK\r\n\r\nhello from {}", host.trim()).unwrap();
    drop(conn);
    let answer = client.join().unwrap();
    println!("{answer}");
    assert!(
        answer.ends_with(&format!("hello from {}", host.trim())),
        "{answer}"
    );
    std::thread::sleep(Duration::from_millis(500));
}

hutch::isolated!(
    sandbox("web-a"),
    fn server_a_binds_port_80() {
        serve_once_on_port_80();
    }
);

hutch::isolated!(
    sandbox("web-b"),
    fn server_b_binds_port_80() {
        serve_once_on_port_80();
    }
);

hutch::isolated!(
    sandbox("offline"),
    fn cannot_reach_the_network() {
        // Only the loopback interface exists...
        let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
        let names: Vec<&str> = dev
            .lines()
            .skip(2)
            .map(|l| l.split(':').next().unwrap().trim())
            .collect();
        assert_eq!(names, ["lo"]);
        // ...so there is no route anywhere else (192.0.2.1 is TEST-NET-1: nothing is sent).
        let err =
            TcpStream::connect_timeout(&"192.0.2.1:80".parse().unwrap(), Duration::from_secs(2))
                .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "{err}");
    }
);

fn main() {
    eprintln!("this example is a test file: run `cargo test --example isolated_tests`");
}
