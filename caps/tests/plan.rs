//! Capability plans applied in forked children, which then execve `/bin/cat
//! /proc/self/status`; the test parses what cat printed and compares exact masks.
#![allow(unsafe_code)]

#[path = "../../ns/tests/common/mod.rs"]
mod common;

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use common::{ChildSide, errno, fork, fork_with_stdout};
use hutch_caps::thread::{bounding_set, drop_bounding, securebits};
use hutch_caps::{
    CapSet, CapState, Capability, CapsFailure, CapsPlan, CapsStep, PreparedCaps, ProcessCaps,
    SecureBits,
};

/// What a child that applied a plan and ran cat reported.
struct Outcome {
    /// cat's output (the child's `/proc/self/status` after execve).
    text: String,
    failure: Option<CapsFailure>,
}

impl Outcome {
    fn status(&self) -> ProcessCaps {
        assert!(
            self.failure.is_none(),
            "apply failed: {}",
            self.failure.unwrap()
        );
        ProcessCaps::parse(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    fn line(&self, key: &str) -> String {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {key} in {}", self.text))
            .trim()
            .to_owned()
    }
}

/// Forks; the child runs `before` (setup that must not be undone in the test process),
/// applies `plan` and execs cat.
fn run(plan: PreparedCaps, before: impl FnOnce(&ChildSide)) -> Outcome {
    let cat = c"/bin/cat";
    let arg = c"/proc/self/status";
    let argv = [cat.as_ptr(), arg.as_ptr(), std::ptr::null()];
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out-array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds are new and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut child = fork_with_stdout(Some(w.as_raw_fd()), |side| {
        before(side);
        // SAFETY: a forked, single-threaded child about to execve.
        match unsafe { plan.apply() } {
            Err(f) => {
                let (step, index, errno) = f.encode();
                side.send(1);
                side.send(i64::from(step));
                side.send(i64::from(index));
                side.send(i64::from(errno));
                3
            }
            Ok(()) => {
                side.send(0);
                // SAFETY: argv is a null-terminated array of C strings made before fork.
                unsafe { libc::execv(cat.as_ptr(), argv.as_ptr()) };
                side.send(errno());
                127
            }
        }
    });
    drop(w);
    let mut text = String::new();
    File::from(r).read_to_string(&mut text).unwrap();
    let failure = match child.recv() {
        0 => {
            assert_eq!(child.try_recv(), None, "execve of /bin/cat failed");
            assert_eq!(child.wait(), 0, "cat failed: {text}");
            None
        }
        _ => {
            let (step, index, errno) = (child.recv(), child.recv(), child.recv());
            assert_eq!(child.wait(), 3);
            Some(CapsFailure::decode(step as u32, index as u32, errno as i32).unwrap())
        }
    };
    Outcome { text, failure }
}

fn nothing(_: &ChildSide) {}

fn require_in_bounding(set: CapSet) {
    let bounding = bounding_set().unwrap();
    assert!(
        bounding.is_superset(set),
        "the test process's bounding set lacks {}",
        set - bounding
    );
}

#[test]
fn root_gets_docker_default() {
    let docker = CapSet::docker_default();
    require_in_bounding(docker);
    let plan = CapsPlan::new(docker).prepare().unwrap();
    let st = run(plan, nothing).status();
    assert_eq!(st.bounding, docker);
    assert_eq!(st.permitted, docker);
    assert_eq!(st.effective, docker);
    assert_eq!(st.inheritable, CapSet::empty());
    assert_eq!(st.ambient, CapSet::empty());
    assert!(!st.no_new_privs);
    assert_eq!(st.bounding.bits(), 0xa804_25fb);
}

#[test]
fn root_with_no_new_privs() {
    let docker = CapSet::docker_default();
    let plan = CapsPlan::new(docker).no_new_privs(true).prepare().unwrap();
    let out = run(plan, nothing);
    let st = out.status();
    assert_eq!((st.bounding, st.effective), (docker, docker));
    assert!(st.no_new_privs);
    assert_eq!(out.line("NoNewPrivs"), "1");
}

#[test]
fn non_root_keeps_caps_through_ambient() {
    let nbs = CapSet::from(Capability::NetBindService);
    let plan = CapsPlan::new(nbs)
        .uid(1000)
        .gid(1000)
        .clear_groups(true)
        .no_new_privs(true)
        .prepare()
        .unwrap();
    let out = run(plan, nothing);
    let st = out.status();
    assert_eq!(st.bounding, nbs);
    assert_eq!(st.permitted, nbs);
    assert_eq!(st.effective, nbs);
    assert_eq!(st.inheritable, nbs);
    assert_eq!(st.ambient, nbs);
    assert!(st.no_new_privs);
    assert_eq!(out.line("Uid"), "1000\t1000\t1000\t1000");
    assert_eq!(out.line("Gid"), "1000\t1000\t1000\t1000");
    assert_eq!(out.line("Groups"), "");
}

#[test]
fn non_root_without_caps_has_none() {
    let plan = CapsPlan::new(CapSet::empty())
        .uid(65534)
        .gid(65534)
        .clear_groups(true)
        .prepare()
        .unwrap();
    let out = run(plan, nothing);
    let st = out.status();
    for set in [
        st.bounding,
        st.permitted,
        st.effective,
        st.inheritable,
        st.ambient,
    ] {
        assert_eq!(set, CapSet::empty());
    }
    assert_eq!(out.line("Uid"), "65534\t65534\t65534\t65534");
}

/// Every capability the caller has (whatever this machine's bounding set is) survives.
#[test]
fn root_keeps_everything_it_has() {
    let mine = bounding_set().unwrap();
    let plan = CapsPlan::new(mine).prepare().unwrap();
    let st = run(plan, nothing).status();
    assert_eq!(st.bounding, mine);
    assert_eq!(st.effective, mine & CapState::current().unwrap().permitted);
}

/// Root with an explicit ambient set (no uid change).
#[test]
fn root_with_explicit_ambient() {
    let docker = CapSet::docker_default();
    let plan = CapsPlan::new(docker)
        .ambient(Capability::Kill.into())
        .prepare()
        .unwrap();
    let st = run(plan, nothing).status();
    assert_eq!(st.ambient, Capability::Kill.into());
    assert_eq!(st.inheritable, Capability::Kill.into());
    assert_eq!(st.effective, docker);
}

/// SECBIT_NOROOT: root gets no capabilities at execve.
#[test]
fn securebits_noroot_takes_effect() {
    let docker = CapSet::docker_default();
    let plan = CapsPlan::new(docker)
        .securebits(SecureBits::NOROOT | SecureBits::NOROOT_LOCKED)
        .prepare()
        .unwrap();
    let st = run(plan, nothing).status();
    assert_eq!(st.bounding, docker);
    assert_eq!(st.permitted, CapSet::empty());
    assert_eq!(st.effective, CapSet::empty());
}

/// Securebits asked for with a uid change also get KEEP_CAPS (read without execve, which
/// clears KEEP_CAPS).
#[test]
fn securebits_with_uid_change_keep_caps() {
    let plan = CapsPlan::new(Capability::Kill.into())
        .uid(1000)
        .securebits(SecureBits::NO_SETUID_FIXUP)
        .prepare()
        .unwrap();
    let mut child = fork(|side| {
        // SAFETY: a forked, single-threaded child.
        let r = unsafe { plan.apply() };
        side.send(i64::from(r.is_ok()));
        side.send(i64::from(securebits().unwrap().bits()));
        side.send(CapState::current().unwrap().effective.bits() as i64);
        0
    });
    assert_eq!(child.recv(), 1);
    assert_eq!(
        child.recv(),
        i64::from((SecureBits::NO_SETUID_FIXUP | SecureBits::KEEP_CAPS).bits())
    );
    assert_eq!(child.recv(), Capability::Kill.bit() as i64);
    assert_eq!(child.wait(), 0);
}

/// Asking for a capability the caller's bounding set lacks fails with EPERM and names it.
#[test]
fn missing_from_bounding_fails() {
    let wanted = CapSet::docker_default() | Capability::SysResource;
    let plan = CapsPlan::new(wanted).prepare().unwrap();
    // Whether or not this machine has CAP_SYS_RESOURCE, the child drops it first.
    let out = run(plan, |_| {
        drop_bounding(Capability::SysResource).unwrap();
    });
    let f = out.failure.expect("apply must fail");
    assert_eq!(f.step, CapsStep::BoundingMissing);
    assert_eq!(f.capability(), Some(Capability::SysResource));
    assert_eq!(f.errno, libc::EPERM);
    assert_eq!(
        f.to_string(),
        "keeping cap_sys_resource: it is not in the caller's bounding set (PR_CAPBSET_READ) \
         failed: Operation not permitted (os error 1)"
    );
    assert!(out.text.is_empty());
}

/// Asking for a capability that is bounded but no longer permitted fails at capset.
#[test]
fn missing_from_permitted_fails() {
    require_in_bounding(Capability::SysPtrace.into());
    let wanted = CapSet::docker_default() | Capability::SysPtrace;
    let plan = CapsPlan::new(wanted).prepare().unwrap();
    let out = run(plan, |_| {
        let mut st = CapState::current().unwrap();
        st.permitted.remove(Capability::SysPtrace);
        st.effective.remove(Capability::SysPtrace);
        st.set().unwrap();
    });
    let f = out.failure.expect("apply must fail");
    assert_eq!(f.step, CapsStep::Capset);
    assert_eq!(f.capability(), Some(Capability::SysPtrace));
    assert_eq!(f.errno, libc::EPERM);
    assert!(f.to_string().contains("cap_sys_ptrace"), "{f}");
}

/// Without CAP_SETUID the uid change fails at its step.
#[test]
fn uid_change_without_setuid_fails() {
    let plan = CapsPlan::new(CapSet::empty()).uid(1000).prepare().unwrap();
    let out = run(plan, |_| {
        let mut st = CapState::current().unwrap();
        st.effective.remove(Capability::Setuid);
        st.set().unwrap();
    });
    let f = out.failure.expect("apply must fail");
    assert_eq!(
        (f.step, f.index, f.errno),
        (CapsStep::SetUid, 1000, libc::EPERM)
    );
}
