//! IPAM across threads and processes, against a real file system and `flock`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;

use hutch_netns::Cidr;
use hutch_netns::ipam::{Ipam, IpamError, Owner};

const CHILD_ENV: &str = "HUTCH_NETNS_IPAM_CHILD_DIR";

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = PathBuf::from(format!(
            "/tmp/hutch-netns-ipam-{}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn subnet() -> Cidr {
    "10.200.0.0/16".parse().unwrap()
}

fn gateway() -> IpAddr {
    "10.200.0.1".parse().unwrap()
}

/// Allocates `per_thread` addresses from each of `threads` threads; returns them all.
fn allocate_from_threads(ipam: &Ipam, threads: usize, per_thread: usize) -> Vec<IpAddr> {
    let me = Owner::current().unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    (0..per_thread)
                        .map(|_| ipam.lock().unwrap().allocate(None, me).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// Not a test of its own: the body of the child processes of `processes_and_threads`.
#[test]
fn ipam_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let ipam = Ipam::new(dir, subnet(), &[gateway()]);
    for addr in allocate_from_threads(&ipam, 4, 10) {
        println!("ADDR {addr}");
    }
}

#[test]
fn processes_and_threads_get_distinct_addresses() {
    let dir = TempDir::new("procs");
    let ipam = Ipam::new(&dir.0, subnet(), &[gateway()]);
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "ipam_child", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, &dir.0)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut all = allocate_from_threads(&ipam, 8, 10);
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        // The harness prints "test ipam_child ... " on the line of the first address.
        let words: Vec<&str> = text.split_whitespace().collect();
        let mine: Vec<IpAddr> = words
            .windows(2)
            .filter(|w| w[0] == "ADDR")
            .map(|w| w[1].parse().unwrap())
            .collect();
        assert_eq!(mine.len(), 40, "{text}");
        all.extend(mine);
    }
    let distinct: BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "an address was handed out twice");
    assert_eq!(all.len(), 80 + 160);
    assert!(!distinct.contains(&gateway()));
    assert!(all.iter().all(|a| subnet().contains(*a)));
    // The lowest addresses were used, densely.
    assert_eq!(
        *distinct.iter().next().unwrap(),
        "10.200.0.2".parse::<IpAddr>().unwrap()
    );

    // The children have exited: exactly their 160 leases are stale.
    let lock = ipam.lock().unwrap();
    assert_eq!(lock.leases().unwrap().len(), 240);
    let stale = lock.stale().unwrap();
    assert_eq!(stale.len(), 160);
    for a in &stale {
        lock.release(*a).unwrap();
    }
    for a in &all {
        lock.release(*a).unwrap();
    }
    assert!(lock.leases().unwrap().is_empty());
}

#[test]
fn requested_addresses_and_errors() {
    let dir = TempDir::new("errors");
    let ipam = Ipam::new(
        &dir.0,
        "10.201.0.0/30".parse().unwrap(),
        &["10.201.0.1".parse().unwrap()],
    );
    let me = Owner::current().unwrap();
    let lock = ipam.lock().unwrap();
    let a = lock
        .allocate(Some("10.201.0.2".parse().unwrap()), me)
        .unwrap();
    assert_eq!(a.to_string(), "10.201.0.2");
    assert!(matches!(
        lock.allocate(Some(a), me),
        Err(IpamError::InUse { owner: Some(o), .. }) if o == me
    ));
    assert!(matches!(
        lock.allocate(None, me),
        Err(IpamError::Exhausted { .. })
    ));
    for reserved in ["10.201.0.0", "10.201.0.1", "10.201.0.3"] {
        let e = lock
            .allocate(Some(reserved.parse().unwrap()), me)
            .unwrap_err();
        assert!(matches!(e, IpamError::Reserved { .. }), "{reserved}: {e}");
    }
    let e = lock
        .allocate(Some("10.9.9.9".parse().unwrap()), me)
        .unwrap_err();
    assert!(e.to_string().contains("10.9.9.9"), "{e}");
    lock.release(a).unwrap();
    lock.release(a).unwrap();
    assert_eq!(lock.allocate(None, me).unwrap(), a);
    assert!(lock.stale().unwrap().is_empty());

    // A lease of a process that has ended is stale.
    let mut child = Command::new("sleep").arg("10").spawn().unwrap();
    let owner = Owner::of(child.id()).unwrap();
    assert!(owner.is_alive());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!owner.is_alive());
    lock.release(a).unwrap();
    lock.allocate(Some(a), owner).unwrap();
    assert_eq!(lock.stale().unwrap(), [a]);
    // A garbled lease (crash between create and write) is stale too.
    std::fs::write(dir.0.join("10.201.0.3"), "").unwrap();
    assert_eq!(lock.stale().unwrap().len(), 2);
}
