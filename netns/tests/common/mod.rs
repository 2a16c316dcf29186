//! Test helpers: network namespaces made by the test, and `ip`/`nft` run inside them as
//! oracles.
#![allow(unsafe_code, dead_code)]

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use hutch_ns::{Namespace, NsHandle};

/// A fresh, anonymous network namespace; it disappears when the handle (and anything
/// inside it) is dropped, so nothing is left in `/run/netns`.
pub struct TestNs {
    pub ns: NsHandle,
}

impl TestNs {
    pub fn new() -> TestNs {
        let ns = std::thread::spawn(|| {
            // SAFETY: this thread exists only to make the namespace and ends right after.
            let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(
                r,
                0,
                "unshare(CLONE_NEWNET): {}",
                std::io::Error::last_os_error()
            );
            NsHandle::open_self(Namespace::Net).unwrap()
        })
        .join()
        .unwrap();
        let t = TestNs { ns };
        t.sh(&["ip", "link", "set", "lo", "up"]);
        t
    }

    /// Runs a command inside the namespace and returns its stdout; panics on failure.
    pub fn sh(&self, argv: &[&str]) -> String {
        let out = self.command(argv).output().expect("spawn oracle");
        assert!(
            out.status.success(),
            "{argv:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A command that enters the namespace before exec.
    pub fn command(&self, argv: &[&str]) -> Command {
        let fd = self.ns.as_fd().as_raw_fd();
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]);
        // SAFETY: the closure makes one raw system call and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// `ip -j ARGS` parsed.
    pub fn ip(&self, args: &[&str]) -> serde_json::Value {
        let mut argv = vec!["ip", "-j"];
        argv.extend_from_slice(args);
        let text = self.sh(&argv);
        if text.trim().is_empty() {
            return serde_json::Value::Array(vec![]);
        }
        serde_json::from_str(&text).unwrap()
    }

    /// `ip -j link` entry of `name`, or `None`.
    pub fn link(&self, name: &str) -> Option<serde_json::Value> {
        self.ip(&["link"])
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifname"] == name)
            .cloned()
    }

    /// Names of all links.
    pub fn link_names(&self) -> Vec<String> {
        self.ip(&["link"])
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["ifname"].as_str().unwrap().to_owned())
            .collect()
    }

    /// `ADDR/PREFIX` strings on `dev`.
    pub fn addrs(&self, dev: &str) -> Vec<String> {
        let v = self.ip(&["addr", "show", "dev", dev]);
        let mut out = Vec::new();
        for l in v.as_array().unwrap() {
            for a in l["addr_info"].as_array().unwrap() {
                out.push(format!(
                    "{}/{}",
                    a["local"].as_str().unwrap(),
                    a["prefixlen"]
                ));
            }
        }
        out
    }

    /// `nft -j list ruleset` parsed.
    pub fn nft_ruleset(&self) -> serde_json::Value {
        serde_json::from_str(&self.sh(&["nft", "-j", "list", "ruleset"])).unwrap()
    }
}

/// The calling thread's network namespace, for "we did not move" checks.
pub fn my_netns() -> NsHandle {
    NsHandle::open_self(Namespace::Net).unwrap()
}

/// A second handle on the same namespace.
pub fn dup(ns: &NsHandle) -> NsHandle {
    NsHandle::from_fd(ns.as_fd().try_clone_to_owned().unwrap()).unwrap()
}

/// A unique scratch directory, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::path::PathBuf::from(format!(
            "/tmp/hutch-netns-test-{}-{tag}-{n}",
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
