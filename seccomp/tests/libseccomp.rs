//! Differential tests: for the same rules, our program and libseccomp's exported program
//! return the same action for every call of a proptest corpus and the edge cases.
//!
//! Needs libseccomp (Debian: `libseccomp-dev`); it is a dev-dependency only.
#![warn(clippy::undocumented_unsafe_blocks)]

mod common;

use common::scmp::{NamedRule, build, libseccomp_accepts, libseccomp_number};
use hutch_seccomp::{Action, Arch, Cond, Filter, SeccompData, Syscall, X32_SYSCALL_BIT};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use hutch_seccomp::bpf::Insn;

/// Our table agrees with libseccomp's wherever libseccomp knows the name.
#[test]
fn syscall_tables_agree_with_libseccomp() {
    let mut checked = 0;
    let mut unknown_to_libseccomp = Vec::new();
    for arch in [Arch::X86_64, Arch::X86, Arch::Aarch64, Arch::Arm, Arch::X32] {
        for (name, nr) in arch.syscalls() {
            let theirs = libseccomp_number(arch, name);
            if theirs < 0 {
                unknown_to_libseccomp.push(format!("{arch}:{name}"));
                continue;
            }
            assert_eq!(theirs as u32, nr, "{arch} {name}");
            checked += 1;
        }
    }
    println!(
        "{checked} numbers agree; {} names libseccomp does not know there: {:?}",
        unknown_to_libseccomp.len(),
        unknown_to_libseccomp
    );
    assert!(checked > 1500);
}

const POOL: &[&str] = &[
    "read",
    "write",
    "openat",
    "close",
    "mkdir",
    "mkdirat",
    "getppid",
    "getpid",
    "socket",
    "clone",
    "ioctl",
    "personality",
    "kexec_load",
    "prctl",
    "mmap",
    "futex",
    "exit_group",
    "_llseek",
    "fcntl64",
    "arch_prctl",
    "set_tls",
    "cacheflush",
    "chown32",
    "renameat2",
];

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::KillProcess),
        Just(Action::KillThread),
        Just(Action::Trap),
        // libseccomp 2.5.4 refuses errno 4095 (MAX_ERRNO) with EINVAL; the kernel takes it.
        (0u16..4095).prop_map(Action::Errno),
        any::<u16>().prop_map(Action::Trace),
        Just(Action::Log),
        Just(Action::Allow),
        Just(Action::UserNotif),
    ]
}

fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(0xffff_ffff),
        Just(0x1_0000_0000),
        Just(u64::MAX),
        0u64..8,
        any::<u64>(),
        any::<u32>().prop_map(u64::from),
        any::<u32>().prop_map(|h| u64::from(h) << 32),
        any::<u32>().prop_map(|h| (u64::from(h) << 32) | 5),
    ]
}

/// Up to three conditions on distinct arguments.
fn conds() -> impl Strategy<Value = Vec<Cond>> {
    let one = (0usize..7, value(), value());
    (
        proptest::sample::subsequence(vec![0u8, 1, 2, 3, 4, 5], 0..=3),
        proptest::collection::vec(one, 3),
    )
        .prop_map(|(args, ops)| {
            args.into_iter()
                .zip(ops)
                .map(|(arg, (op, v, m))| match op {
                    0 => Cond::eq(arg, v),
                    1 => Cond::ne(arg, v),
                    2 => Cond::lt(arg, v),
                    3 => Cond::le(arg, v),
                    4 => Cond::gt(arg, v),
                    5 => Cond::ge(arg, v),
                    _ => Cond::masked_eq(arg, m, v & m),
                })
                .collect()
        })
}

#[derive(Debug, Clone)]
struct Case {
    default: Action,
    foreign: Action,
    arches: Vec<Arch>,
    rules: Vec<NamedRule>,
}

/// Several system calls, each with one action and one to three rules (libseccomp's and our
/// semantics agree when a call's rules share an action; ours also define mixed actions).
fn case() -> impl Strategy<Value = Case> {
    // Either one rule with up to three conditions on distinct arguments, or up to three
    // rules with one condition each on one shared argument (Docker's `socket` and
    // `personality` pattern). libseccomp 2.5.4 merges other shapes of several conditional
    // rules into wrong trees (found by this test; see the crate docs), so those are left
    // to the model and kernel tests.
    let shared = (0u8..6, proptest::collection::vec(conds(), 1..4)).prop_map(|(arg, sets)| {
        sets.into_iter()
            .map(|c| {
                c.into_iter()
                    .take(1)
                    .map(|c| Cond { arg, ..c })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });
    let shape = prop_oneof![conds().prop_map(|c| vec![c]), shared];
    let per_call = (action(), shape);
    (
        action(),
        action(),
        proptest::sample::subsequence(Arch::ALL.to_vec(), 1..=5),
        proptest::sample::subsequence(POOL.to_vec(), 1..8),
        proptest::collection::vec(per_call, 8),
    )
        .prop_map(|(default, foreign, arches, names, per)| {
            let mut rules = Vec::new();
            let narrow = arches.iter().any(|&a| is_narrow(a));
            for (name, (action, condsets)) in names.into_iter().zip(per) {
                for mut conds in condsets {
                    if narrow {
                        // On 32-bit ABIs arguments are 32 bits wide; libseccomp compares
                        // only the low word there, so keep values in range.
                        for c in &mut conds {
                            *c = narrow_cond(*c);
                        }
                    }
                    // Names the oracle cannot take are left out of both filters.
                    if libseccomp_accepts(name) {
                        rules.push(NamedRule {
                            name,
                            action,
                            conds,
                        });
                    }
                }
            }
            Case {
                default,
                foreign,
                arches,
                rules,
            }
        })
}

/// ABIs whose arguments libseccomp compares as 32-bit values (x32 included: libseccomp
/// treats its arguments as 32 bits wide).
fn is_narrow(a: Arch) -> bool {
    matches!(a, Arch::X86 | Arch::Arm | Arch::X32)
}

fn narrow_cond(c: Cond) -> Cond {
    use hutch_seccomp::CmpOp::*;
    let n = |v: u64| v & 0xffff_ffff;
    Cond {
        arg: c.arg,
        op: match c.op {
            Eq(v) => Eq(n(v)),
            Ne(v) => Ne(n(v)),
            Lt(v) => Lt(n(v)),
            Le(v) => Le(n(v)),
            Gt(v) => Gt(n(v)),
            Ge(v) => Ge(n(v)),
            MaskedEq { mask, value } => MaskedEq {
                mask: n(mask),
                value: n(value),
            },
        },
    }
}

fn our_filter(case: &Case) -> Filter {
    let mut f = Filter::new(case.default);
    f.foreign_arch_action(case.foreign);
    for r in &case.rules {
        f.rule_if_present(Syscall::by_name(r.name).unwrap(), r.action, &r.conds);
    }
    f
}

/// Calls that reach each rule, their neighbours, boundary numbers, foreign arches.
fn corpus(case: &Case, seed: &[(u8, u32, [u64; 6])]) -> Vec<SeccompData> {
    let mut consts = vec![0u64, 1, 0xffff_ffff, 0x1_0000_0000, u64::MAX];
    for r in &case.rules {
        for c in &r.conds {
            use hutch_seccomp::CmpOp::*;
            match c.op {
                Eq(v) | Ne(v) | Lt(v) | Le(v) | Gt(v) | Ge(v) => consts.extend([
                    v,
                    v.wrapping_add(1),
                    v.wrapping_sub(1),
                    v ^ (1 << 32),
                    v.wrapping_add(1 << 32),
                    v.wrapping_sub(1 << 32),
                ]),
                MaskedEq { mask, value } => {
                    consts.extend([value, value | !mask, mask, value ^ (1 << 40)])
                }
            }
        }
    }
    let mut numbers: Vec<(u32, u32)> = Vec::new();
    for arch in Arch::ALL {
        let audit = arch.audit_arch();
        for r in &case.rules {
            if let Some(nr) = arch.syscall_number(r.name) {
                numbers.extend([(audit, nr), (audit, nr.wrapping_sub(1)), (audit, nr + 1)]);
            }
        }
        let top = arch.syscalls().map(|s| s.1).max().unwrap();
        numbers.extend([
            (audit, 0),
            (audit, top),
            (audit, top + 1),
            (audit, X32_SYSCALL_BIT - 1),
            (audit, X32_SYSCALL_BIT),
            (audit, X32_SYSCALL_BIT | 1),
            (audit, u32::MAX),
        ]);
    }
    numbers.extend([(0, 0), (0x4000_003e, 1), (u32::MAX, 5)]);
    let mut out = Vec::new();
    for (i, &(audit, nr)) in numbers.iter().enumerate() {
        for (j, s) in seed.iter().enumerate().take(6) {
            let pick = |k: usize| consts[(k * 7 + i * 3 + j * 5 + usize::from(s.0)) % consts.len()];
            let mut args = [pick(0), pick(1), pick(2), pick(3), pick(4), pick(5)];
            if j % 2 == 1 {
                args = s.2;
            }
            out.push(SeccompData {
                nr: nr as i32,
                arch: audit,
                instruction_pointer: 0,
                args,
            });
        }
    }
    for s in seed {
        let arch = Arch::ALL[usize::from(s.0) % Arch::ALL.len()];
        out.push(SeccompData {
            nr: s.1 as i32,
            arch: arch.audit_arch(),
            instruction_pointer: 0,
            args: s.2,
        });
    }
    out
}

static COMPARED: AtomicUsize = AtomicUsize::new(0);
static SKIPPED: AtomicUsize = AtomicUsize::new(0);

/// Finds a comparison whose accumulator holds different words on different paths into it
/// (say, argument 4 on one path and argument 2 on another), or the architecture word
/// compared with something that is not an `AUDIT_ARCH_*` value. Such a program decides
/// by whatever was loaded last; libseccomp 2.5.4 emits these when it merges rule chains
/// or architecture sections (it drops an `ld` it believes redundant), e.g. testing
/// `arg2 == 0` against `arg4`, or a syscall number against `seccomp_data.arch`.
/// Returns the instruction index.
fn ambiguous_accumulator(prog: &[Insn]) -> Option<usize> {
    // What A may hold at each instruction: Some(offset) for a loaded word, None for
    // anything computed; one set per instruction, built in program order (jumps only go
    // forward).
    let mut states: Vec<BTreeSet<Option<u32>>> = vec![BTreeSet::new(); prog.len() + 1];
    states[0].insert(Some(u32::MAX)); // nothing loaded yet
    for (i, insn) in prog.iter().enumerate() {
        let s = states[i].clone();
        if s.is_empty() {
            continue; // unreachable
        }
        let class = insn.code & 7;
        let next = |st: &mut Vec<BTreeSet<Option<u32>>>, to: usize, v: &BTreeSet<Option<u32>>| {
            if to < st.len() {
                st[to].extend(v.iter().copied());
            }
        };
        match class {
            0 => {
                let v = if insn.code == 0x20 {
                    Some(insn.k)
                } else {
                    None
                };
                next(&mut states, i + 1, &BTreeSet::from([v]));
            }
            4 => next(&mut states, i + 1, &BTreeSet::from([None])),
            5 => {
                if insn.code == 0x05 {
                    next(&mut states, i + 1 + insn.k as usize, &s);
                } else {
                    if s.len() > 1 {
                        return Some(i);
                    }
                    // The other symptom: a syscall number compared with the arch word
                    // (libseccomp forgot `ld [nr]` after the architecture check).
                    let arch_word = s.contains(&Some(4));
                    let is_audit = Arch::ALL.iter().any(|a| a.audit_arch() == insn.k);
                    if arch_word && !is_audit {
                        return Some(i);
                    }
                    next(&mut states, i + 1 + usize::from(insn.jt), &s);
                    next(&mut states, i + 1 + usize::from(insn.jf), &s);
                }
            }
            6 => {}
            _ => next(&mut states, i + 1, &BTreeSet::from([None])),
        }
    }
    None
}

fn check(
    case: &Case,
    seed: &[(u8, u32, [u64; 6])],
    optimize: bool,
) -> Result<usize, TestCaseError> {
    let ours = our_filter(case).compile(&case.arches).unwrap();
    let theirs = match build(
        case.default,
        case.foreign,
        &case.rules,
        &case.arches,
        optimize,
    ) {
        Ok(p) => p,
        Err((rc, i)) => {
            return Err(TestCaseError::fail(format!(
                "libseccomp refused rule {i}: {rc}"
            )));
        }
    };
    if let Some(pc) = ambiguous_accumulator(theirs.instructions()) {
        // A libseccomp bug, not a disagreement about semantics: see `ambiguous_accumulator`.
        SKIPPED.fetch_add(1, Ordering::Relaxed);
        if std::env::var_os("SHOW_LIBSECCOMP_BUGS").is_some() {
            println!("libseccomp bug at {pc}:\n{}", theirs.disassemble());
        }
        return Ok(0);
    }
    COMPARED.fetch_add(1, Ordering::Relaxed);
    let narrow_arch = |d: &SeccompData| {
        let x32 = d.arch == Arch::X32.audit_arch() && d.nr as u32 >= X32_SYSCALL_BIT;
        x32 || Arch::ALL
            .iter()
            .any(|&a| a != Arch::X32 && is_narrow(a) && a.audit_arch() == d.arch)
    };
    let mut n = 0;
    for mut d in corpus(case, seed) {
        if narrow_arch(&d) {
            // The kernel zero-extends 32-bit arguments.
            for a in &mut d.args {
                *a &= 0xffff_ffff;
            }
        }
        let a = ours.run(&d).unwrap();
        let b = theirs.run(&d).unwrap();
        prop_assert_eq!(
            a,
            b,
            "call {:x?}: ours {:?}, libseccomp {:?}\nours:\n{}\nlibseccomp:\n{}",
            d,
            Action::from_raw(a),
            Action::from_raw(b),
            ours.disassemble(),
            theirs.disassemble()
        );
        n += 1;
    }
    Ok(n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn same_decisions_as_libseccomp(
        case in case(),
        seed in proptest::collection::vec((any::<u8>(), 0u32..600, proptest::array::uniform6(value())), 8),
        optimize in any::<bool>(),
    ) {
        check(&case, &seed, optimize)?;
    }
}

/// Runs after the property (test order within a binary is not fixed, so it reruns a
/// fixed number of generated cases itself) and checks the oracle was usable most of the
/// time.
#[test]
fn libseccomp_oracle_is_mostly_usable() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut compared, mut skipped) = (0, 0);
    for _ in 0..200 {
        let case = case().new_tree(&mut runner).unwrap().current();
        let theirs = build(case.default, case.foreign, &case.rules, &case.arches, false).unwrap();
        if ambiguous_accumulator(theirs.instructions()).is_some() {
            skipped += 1;
        } else {
            compared += 1;
        }
    }
    println!(
        "libseccomp programs usable as oracle: {compared}, with its accumulator bug: {skipped}"
    );
    assert!(compared >= 140, "{compared} usable of 200");
}

#[test]
fn same_decisions_on_docker_like_edge_cases() {
    // Docker's clone rule (masked equality), socket ranges and personality values.
    let case = Case {
        default: Action::Errno(1),
        foreign: Action::KillThread,
        arches: vec![Arch::X86_64, Arch::X86, Arch::X32],
        rules: vec![
            NamedRule {
                name: "clone",
                action: Action::Allow,
                conds: vec![Cond::masked_eq(0, 2114060288, 0)],
            },
            NamedRule {
                name: "socket",
                action: Action::Allow,
                conds: vec![Cond::lt(0, 38)],
            },
            NamedRule {
                name: "socket",
                action: Action::Allow,
                conds: vec![Cond::eq(0, 39)],
            },
            NamedRule {
                name: "socket",
                action: Action::Allow,
                conds: vec![Cond::gt(0, 40)],
            },
            NamedRule {
                name: "personality",
                action: Action::Allow,
                conds: vec![Cond::eq(0, 0xffff_ffff)],
            },
            NamedRule {
                name: "getppid",
                action: Action::Allow,
                conds: vec![],
            },
        ],
    };
    let seed = vec![(0u8, 110u32, [38u64, 39, 40, 41, 0x7e02_0000, u64::MAX]); 8];
    let n = check(&case, &seed, false).unwrap();
    assert!(n > 100);
}
