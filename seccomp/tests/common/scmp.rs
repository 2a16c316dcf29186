//! Building libseccomp's program for a filter (the test oracle). Test-only: the crate
//! itself never links libseccomp.
#![allow(unsafe_code, dead_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::CString;
use std::io::{Read, Seek};
use std::os::fd::{AsRawFd, FromRawFd};

use hutch_seccomp::bpf::Insn;
use hutch_seccomp::{Action, Arch, CmpOp, Cond, Program};
use libseccomp_sys as scmp;

/// A rule for the oracle: a system call by name.
#[derive(Clone, Debug)]
pub struct NamedRule {
    pub name: &'static str,
    pub action: Action,
    pub conds: Vec<Cond>,
}

fn token(a: Arch) -> u32 {
    match a {
        Arch::X86_64 => scmp::SCMP_ARCH_X86_64,
        Arch::X32 => scmp::SCMP_ARCH_X32,
        Arch::X86 => scmp::SCMP_ARCH_X86,
        Arch::Aarch64 => scmp::SCMP_ARCH_AARCH64,
        Arch::Arm => scmp::SCMP_ARCH_ARM,
        _ => unreachable!(),
    }
}

/// libseccomp's number for `name` on `arch` (negative if it does not know it there).
pub fn libseccomp_number(arch: Arch, name: &str) -> i32 {
    let c = CString::new(name).unwrap();
    // SAFETY: a valid C string.
    unsafe { scmp::seccomp_syscall_resolve_name_arch(token(arch), c.as_ptr()) }
}

/// Whether libseccomp can take `name` in `seccomp_rule_add` (it resolves names through the
/// native architecture's table plus its own list of pseudo numbers; names in neither,
/// such as `chown32` in 2.5.4, are refused with `EINVAL`).
pub fn libseccomp_accepts(name: &str) -> bool {
    let c = CString::new(name).unwrap();
    // SAFETY: a valid C string.
    unsafe { scmp::seccomp_syscall_resolve_name(c.as_ptr()) != scmp::__NR_SCMP_ERROR }
}

fn cmp(c: &Cond) -> scmp::scmp_arg_cmp {
    let (op, a, b) = match c.op {
        CmpOp::Eq(v) => (scmp::scmp_compare::SCMP_CMP_EQ, v, 0),
        CmpOp::Ne(v) => (scmp::scmp_compare::SCMP_CMP_NE, v, 0),
        CmpOp::Lt(v) => (scmp::scmp_compare::SCMP_CMP_LT, v, 0),
        CmpOp::Le(v) => (scmp::scmp_compare::SCMP_CMP_LE, v, 0),
        CmpOp::Gt(v) => (scmp::scmp_compare::SCMP_CMP_GT, v, 0),
        CmpOp::Ge(v) => (scmp::scmp_compare::SCMP_CMP_GE, v, 0),
        CmpOp::MaskedEq { mask, value } => (scmp::scmp_compare::SCMP_CMP_MASKED_EQ, mask, value),
    };
    scmp::scmp_arg_cmp {
        arg: u32::from(c.arg),
        op,
        datum_a: a,
        datum_b: b,
    }
}

/// libseccomp's program for `default`, `foreign` (its "bad arch" action) and `rules` on
/// `arches`, with its binary-tree optimisation when `optimize`. Rules whose action equals
/// the default are left out (libseccomp refuses them). `Err` carries libseccomp's
/// negative errno and the rule index (usize::MAX for setup).
pub fn build(
    default: Action,
    foreign: Action,
    rules: &[NamedRule],
    arches: &[Arch],
    optimize: bool,
) -> Result<Program, (i32, usize)> {
    // SAFETY: plain libseccomp API use on a context we create and release here.
    unsafe {
        let ctx = scmp::seccomp_init(default.to_raw());
        assert!(!ctx.is_null());
        let res = (|| {
            let setup = |r: i32| if r < 0 { Err((r, usize::MAX)) } else { Ok(()) };
            setup(scmp::seccomp_attr_set(
                ctx,
                scmp::scmp_filter_attr::SCMP_FLTATR_ACT_BADARCH,
                foreign.to_raw(),
            ))?;
            setup(scmp::seccomp_attr_set(
                ctx,
                scmp::scmp_filter_attr::SCMP_FLTATR_CTL_NNP,
                0,
            ))?;
            if optimize {
                setup(scmp::seccomp_attr_set(
                    ctx,
                    scmp::scmp_filter_attr::SCMP_FLTATR_CTL_OPTIMIZE,
                    2,
                ))?;
            }
            for &a in arches {
                if a != Arch::X86_64 {
                    setup(scmp::seccomp_arch_add(ctx, token(a)))?;
                }
            }
            if !arches.contains(&Arch::X86_64) {
                setup(scmp::seccomp_arch_remove(ctx, scmp::SCMP_ARCH_NATIVE))?;
            }
            for (i, r) in rules.iter().enumerate() {
                if r.action == default {
                    continue;
                }
                let name = CString::new(r.name).unwrap();
                let nr = scmp::seccomp_syscall_resolve_name(name.as_ptr());
                let cmps: Vec<_> = r.conds.iter().map(cmp).collect();
                let rc = scmp::seccomp_rule_add_array(
                    ctx,
                    r.action.to_raw(),
                    nr,
                    cmps.len() as u32,
                    cmps.as_ptr(),
                );
                if rc < 0 {
                    return Err((rc, i));
                }
            }
            let fd = libc::memfd_create(c"bpf".as_ptr(), libc::MFD_CLOEXEC);
            assert!(fd >= 0);
            let mut file = std::fs::File::from_raw_fd(fd);
            setup(scmp::seccomp_export_bpf(ctx, file.as_raw_fd()))?;
            file.rewind().unwrap();
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            let insns = bytes
                .chunks_exact(8)
                .map(|c| {
                    Insn::new(
                        u16::from_ne_bytes([c[0], c[1]]),
                        c[2],
                        c[3],
                        u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                    )
                })
                .collect();
            Ok(Program::from_instructions(insns).unwrap())
        })();
        scmp::seccomp_release(ctx);
        res
    }
}
