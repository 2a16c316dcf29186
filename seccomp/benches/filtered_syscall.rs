//! The cost a filtered system call pays under Docker's default profile: our program vs
//! libseccomp's (its default linear layout and its binary-tree layout), each installed in
//! a forked child that times a loop of calls. Prints nanoseconds per call.
//!
//! Two calls are timed: `getppid`, which Docker allows unconditionally (since Linux 5.11
//! the kernel caches such constant "allow" decisions per syscall number, so the filter
//! does not run at all), and `personality(0xffffffff)` (a query), which Docker allows
//! only for certain argument values, so the whole filter runs on every call.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[path = "../tests/common/scmp.rs"]
mod scmp;

use std::time::Instant;

use hutch_seccomp::profile::{DOCKER_DEFAULT_CAPS, Profile, ProfileContext};
use hutch_seccomp::{Action, Arch, InstallFlags, Program, SeccompData, set_no_new_privs};
use scmp::NamedRule;

const CALLS: u32 = 400_000;

/// Installs `program` (if any) in a forked child; returns ns per call of `nr(args)`.
fn measure(program: Option<&Program>, nr: i64, arg0: u64) -> f64 {
    let mut fds = [0; 2];
    // SAFETY: valid out-array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child makes raw calls only and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        if let Some(p) = program {
            // SAFETY: single-threaded forked child.
            unsafe {
                if set_no_new_privs().is_err() || p.install(InstallFlags::EMPTY).is_err() {
                    libc::_exit(1);
                }
            }
        }
        // Warm up, then time.
        for _ in 0..10_000 {
            // SAFETY: the timed calls take integer arguments only.
            unsafe { libc::syscall(nr, arg0) };
        }
        let start = Instant::now();
        for _ in 0..CALLS {
            // SAFETY: as above.
            unsafe { libc::syscall(nr, arg0) };
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(CALLS);
        let bytes = ns.to_ne_bytes();
        // SAFETY: writing a stack buffer to our pipe.
        unsafe {
            libc::write(fds[1], bytes.as_ptr().cast(), 8);
            libc::_exit(0);
        }
    }
    let mut bytes = [0u8; 8];
    // SAFETY: reading into a stack buffer; reaping our child; closing our pipe.
    unsafe {
        libc::close(fds[1]);
        let n = libc::read(fds[0], bytes.as_mut_ptr().cast(), 8);
        libc::close(fds[0]);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        assert_eq!(n, 8, "child failed");
    }
    f64::from_ne_bytes(bytes)
}

/// "min (median)": the minimum is the least disturbed by other load on the machine.
fn stat(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    format!("{:.1} ({:.1})", v[0], v[v.len() / 2])
}

/// Installs `program` in a forked child; returns the nanoseconds `install` took.
fn measure_install(program: &Program) -> f64 {
    let mut fds = [0; 2];
    // SAFETY: valid out-array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child makes raw calls only and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        if set_no_new_privs().is_err() {
            // SAFETY: ends the child.
            unsafe { libc::_exit(1) };
        }
        let start = Instant::now();
        // SAFETY: single-threaded forked child.
        let r = unsafe { program.install(InstallFlags::EMPTY) };
        let ns = start.elapsed().as_nanos() as f64;
        if r.is_err() {
            // SAFETY: ends the child.
            unsafe { libc::_exit(1) };
        }
        let bytes = ns.to_ne_bytes();
        // SAFETY: writing a stack buffer to our pipe, then ending the child.
        unsafe {
            libc::write(fds[1], bytes.as_ptr().cast(), 8);
            libc::_exit(0);
        }
    }
    let mut bytes = [0u8; 8];
    // SAFETY: reading into a stack buffer; reaping our child; closing our pipe.
    unsafe {
        libc::close(fds[1]);
        let n = libc::read(fds[0], bytes.as_mut_ptr().cast(), 8);
        libc::close(fds[0]);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        assert_eq!(n, 8, "child failed");
    }
    f64::from_ne_bytes(bytes)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let ctx = ProfileContext::current(DOCKER_DEFAULT_CAPS).unwrap();
    let profile = Profile::docker_default();
    let filter = profile.to_filter(&ctx);
    let arches = profile.arches(ctx.arch);
    let ours = filter.compile(&arches).unwrap();
    let rules: Vec<NamedRule> = filter
        .rules()
        .iter()
        .filter(|r| arches.iter().any(|&a| r.syscall.number(a).is_some()))
        // Calls newer than the installed libseccomp cannot be given to it.
        .filter(|r| {
            let name = r.syscall.name().unwrap();
            arches
                .iter()
                .any(|&a| scmp::libseccomp_number(a, name) >= 0)
        })
        .map(|r| NamedRule {
            name: r.syscall.name().unwrap(),
            action: r.action,
            conds: r.conds.clone(),
        })
        .collect();
    let theirs = scmp::build(
        filter.get_default_action(),
        Action::KillProcess,
        &rules,
        &arches,
        false,
    )
    .unwrap();
    let theirs_tree = scmp::build(
        filter.get_default_action(),
        Action::KillProcess,
        &rules,
        &arches,
        true,
    )
    .unwrap();
    let native = Arch::native();
    let getppid = native.syscall_number("getppid").unwrap();
    let personality = native.syscall_number("personality").unwrap();
    for p in [&ours, &theirs, &theirs_tree] {
        for (nr, a0) in [(getppid, 0), (personality, 0xffff_ffff)] {
            let d = SeccompData::new(native, nr, [a0, 0, 0, 0, 0, 0]);
            assert_eq!(p.run(&d).unwrap(), Action::Allow.to_raw());
        }
    }
    println!(
        "programs: ours {} instructions, libseccomp {} (linear), {} (binary tree)",
        ours.len(),
        theirs.len(),
        theirs_tree.len()
    );
    // Instructions executed for each call, by the in-crate interpreter's count.
    for (name, nr, a0) in [
        ("getppid", getppid, 0),
        ("personality(0xffffffff)", personality, 0xffff_ffff),
    ] {
        let steps = |p: &Program| {
            walk(
                p.instructions(),
                &SeccompData::new(native, nr, [a0, 0, 0, 0, 0, 0]),
            )
        };
        println!(
            "{name}: instructions run: ours {}, libseccomp {} (linear), {} (tree)",
            steps(&ours),
            steps(&theirs),
            steps(&theirs_tree)
        );
    }
    let install = |p: &Program| stat((0..9).map(|_| measure_install(p) / 1000.0).collect());
    println!(
        "install µs, min (median) of 9: ours {}, libseccomp {} (linear), {} (tree)",
        install(&ours),
        install(&theirs),
        install(&theirs_tree)
    );
    for (name, nr, a0) in [
        ("getppid", getppid, 0u64),
        ("personality(0xffffffff)", personality, 0xffff_ffff),
    ] {
        let nr = i64::from(nr);
        let (mut none, mut a, mut b, mut c) = (vec![], vec![], vec![], vec![]);
        for _ in 0..9 {
            none.push(measure(None, nr, a0));
            a.push(measure(Some(&ours), nr, a0));
            b.push(measure(Some(&theirs), nr, a0));
            c.push(measure(Some(&theirs_tree), nr, a0));
        }
        println!(
            "{name}: ns/call, min (median) of 9 x {CALLS}: no filter {}, ours {}, libseccomp {} (linear), {} (tree)",
            stat(none),
            stat(a),
            stat(b),
            stat(c)
        );
    }
}

/// How many instructions a program runs for `d`.
fn walk(insns: &[hutch_seccomp::bpf::Insn], d: &SeccompData) -> usize {
    let (mut pc, mut a, mut n) = (0usize, 0u32, 0usize);
    loop {
        let i = insns[pc];
        n += 1;
        match i.code {
            0x20 => a = d.word(i.k).unwrap(),
            0x54 => a &= i.k,
            0x05 => {
                pc += 1 + i.k as usize;
                continue;
            }
            0x15 | 0x25 | 0x35 | 0x45 => {
                let t = match i.code {
                    0x15 => a == i.k,
                    0x25 => a > i.k,
                    0x35 => a >= i.k,
                    _ => a & i.k != 0,
                };
                pc += 1 + usize::from(if t { i.jt } else { i.jf });
                continue;
            }
            0x06 | 0x16 => return n,
            _ => {}
        }
        pc += 1;
    }
}
