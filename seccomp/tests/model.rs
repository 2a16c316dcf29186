//! Property: a compiled program, run in the in-crate interpreter, decides every call
//! exactly as the filter model does.
#![warn(clippy::undocumented_unsafe_blocks)]

use hutch_seccomp::{Action, Arch, Cond, Filter, SeccompData, Syscall, X32_SYSCALL_BIT};
use proptest::prelude::*;

const NAMES: &[&str] = &[
    "read",
    "write",
    "openat",
    "mkdir",
    "getppid",
    "socket",
    "clone",
    "_llseek",
    "ioctl",
    "arch_prctl",
    "set_tls",
    "personality",
    "kexec_load",
    "fcntl64",
];

fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(0xffff_ffff),
        Just(0x1_0000_0000),
        Just(u64::MAX),
        Just(0x8000_0000_0000_0000),
        0u64..8,
        any::<u64>(),
        any::<u32>().prop_map(u64::from),
        any::<u32>().prop_map(|h| u64::from(h) << 32),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::KillProcess),
        Just(Action::KillThread),
        Just(Action::Trap),
        (0u16..4096).prop_map(Action::Errno),
        any::<u16>().prop_map(Action::Trace),
        Just(Action::Log),
        Just(Action::Allow),
        Just(Action::UserNotif),
    ]
}

fn cond() -> impl Strategy<Value = Cond> {
    (0u8..6, 0usize..7, value(), value()).prop_map(|(arg, op, v, m)| match op {
        0 => Cond::eq(arg, v),
        1 => Cond::ne(arg, v),
        2 => Cond::lt(arg, v),
        3 => Cond::le(arg, v),
        4 => Cond::gt(arg, v),
        5 => Cond::ge(arg, v),
        _ => Cond::masked_eq(arg, m, v & m),
    })
}

fn syscall() -> impl Strategy<Value = Syscall> {
    prop_oneof![
        3 => proptest::sample::select(NAMES).prop_map(|n| Syscall::by_name(n).unwrap()),
        1 => (proptest::sample::select(&Arch::ALL[..]), 0u32..600)
            .prop_map(|(a, nr)| Syscall::by_number(a, if a == Arch::X32 { nr | X32_SYSCALL_BIT } else { nr })),
    ]
}

fn filter() -> impl Strategy<Value = (Filter, Vec<Arch>)> {
    let rule = (syscall(), action(), proptest::collection::vec(cond(), 0..4));
    (
        action(),
        action(),
        proptest::collection::vec(rule, 0..14),
        proptest::sample::subsequence(Arch::ALL.to_vec(), 1..=5),
        any::<bool>(),
    )
        .prop_map(|(default, foreign, rules, arches, reverse)| {
            let mut arches = arches;
            if reverse {
                arches.reverse();
            }
            let mut f = Filter::new(default);
            f.foreign_arch_action(foreign);
            for (s, a, c) in rules {
                f.rule_if_present(s, a, &c);
            }
            (f, arches)
        })
}

fn call(f: &Filter) -> impl Strategy<Value = SeccompData> + use<> {
    // Argument values drawn partly from the filter's own constants so conditions hit.
    let mut consts: Vec<u64> = vec![0, 1, u64::MAX];
    for r in f.rules() {
        for c in &r.conds {
            match c.op {
                hutch_seccomp::CmpOp::MaskedEq { mask, value } => {
                    consts.extend([value, value | !mask, mask]);
                }
                hutch_seccomp::CmpOp::Eq(v)
                | hutch_seccomp::CmpOp::Ne(v)
                | hutch_seccomp::CmpOp::Lt(v)
                | hutch_seccomp::CmpOp::Le(v)
                | hutch_seccomp::CmpOp::Gt(v)
                | hutch_seccomp::CmpOp::Ge(v) => {
                    consts.extend([
                        v,
                        v.wrapping_add(1),
                        v.wrapping_sub(1),
                        v ^ (1 << 32),
                        v ^ 1,
                    ]);
                }
            }
        }
    }
    let arg = prop_oneof![3 => proptest::sample::select(consts), 1 => value()];
    // (arch, nr) pairs the rules name, so most calls reach argument checks.
    let mut named: Vec<(u32, u32)> = vec![(Arch::X86_64.audit_arch(), 0)];
    for r in f.rules() {
        for a in Arch::ALL {
            if let Some(nr) = r.syscall.number(a) {
                named.push((a.audit_arch(), nr));
                named.push((a.audit_arch(), nr.wrapping_add(1)));
            }
        }
    }
    let arch = prop_oneof![
        4 => proptest::sample::select(&Arch::ALL[..]).prop_map(|a| a.audit_arch()),
        1 => any::<u32>(),
    ];
    let nr = prop_oneof![
        0u32..600,
        (0u32..600).prop_map(|n| n | X32_SYSCALL_BIT),
        Just(u32::MAX),
        Just(X32_SYSCALL_BIT - 1),
        Just(0x0f0005),
        any::<u32>(),
    ];
    let pair = prop_oneof![
        3 => proptest::sample::select(named),
        1 => (arch, nr),
    ];
    (pair, proptest::array::uniform6(arg)).prop_map(|((arch, nr), args)| SeccompData {
        nr: nr as i32,
        arch,
        instruction_pointer: 0,
        args,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn compiled_program_matches_model(
        (f, arches, calls) in filter().prop_flat_map(|(f, a)| {
            let calls = proptest::collection::vec(call(&f), 64);
            (Just(f), Just(a), calls)
        })
    ) {
        let program = f.compile(&arches).unwrap();
        for d in &calls {
            let got = program.run(d).unwrap();
            let want = f.evaluate(&arches, d).to_raw();
            prop_assert_eq!(got, want, "call {:?}\n{}", d, program.disassemble());
        }
    }
}

#[test]
fn named_calls_on_each_arch() {
    let mut f = Filter::new(Action::Allow);
    f.rule_if_present(Syscall::by_name("getppid").unwrap(), Action::Errno(7), &[]);
    let arches = [Arch::X86_64, Arch::X32, Arch::X86, Arch::Aarch64, Arch::Arm];
    let p = f.compile(&arches).unwrap();
    for a in arches {
        let nr = a.syscall_number("getppid").unwrap();
        let d = SeccompData::new(a, nr, [0; 6]);
        assert_eq!(p.run(&d).unwrap(), Action::Errno(7).to_raw(), "{a}");
        let d = SeccompData::new(a, nr + 1, [0; 6]);
        assert_eq!(p.run(&d).unwrap(), Action::Allow.to_raw(), "{a}");
    }
}
