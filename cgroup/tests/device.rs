//! Device rules: text form, the BPF compiler (checked against an interpreter written here
//! and a plain Rust evaluation of the rules), and the real kernel enforcing the policy on
//! a process in a test cgroup under `/sys/fs/cgroup/unified`.
//!
//! The kernel tests need root and the cgroup2 hierarchy (found in /proc/self/mountinfo, or
//! `HUTCH_CGROUP_ROOT`). They fail, rather than skip, when it is missing.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use hutch_cgroup::device::{
    BpfInsn, DeviceAccess, DeviceError, DeviceKind, DevicePolicy, DeviceRule, ParseDeviceRuleError,
    attach_device_policy, attached_device_programs, detach_device_policy,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Text form
// ---------------------------------------------------------------------------------------

#[test]
fn parses_the_familiar_notation() {
    let rule: DeviceRule = "c 1:3 rwm".parse().unwrap();
    assert_eq!(
        rule,
        DeviceRule::allow(DeviceKind::Char, Some(1), Some(3), DeviceAccess::all())
    );
    let rule: DeviceRule = "b *:* m".parse().unwrap();
    assert_eq!(
        rule,
        DeviceRule::allow(DeviceKind::Block, None, None, DeviceAccess::MKNOD)
    );
    let rule: DeviceRule = "deny c 136:* wr".parse().unwrap();
    assert_eq!(
        rule,
        DeviceRule::deny(
            DeviceKind::Char,
            Some(136),
            None,
            DeviceAccess::READ | DeviceAccess::WRITE
        )
    );
    assert_eq!(rule.to_string(), "deny c 136:* rw");
    let rule: DeviceRule = "allow a".parse().unwrap();
    assert_eq!(rule.to_string(), "a *:* rwm");
    let rule: DeviceRule = "  c   4294967295:0   r ".parse().unwrap();
    assert_eq!(rule.major, Some(u32::MAX));
}

#[test]
fn rejects_bad_rules_naming_the_bad_part() {
    let err = "c 1:x rwm".parse::<DeviceRule>().unwrap_err();
    assert!(
        matches!(&err, ParseDeviceRuleError::Number { number, .. } if number == "x"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"x\""), "{err}");
    let err = "c 4294967296:1 r".parse::<DeviceRule>().unwrap_err();
    assert!(
        matches!(&err, ParseDeviceRuleError::Number { number, source: Some(_), .. } if number == "4294967296"),
        "{err:?}"
    );
    let err = "c 13 rwm".parse::<DeviceRule>().unwrap_err();
    assert!(
        matches!(&err, ParseDeviceRuleError::Number { number, .. } if number == "13"),
        "{err:?}"
    );
    for bad in ["c +1:3 r", "c -1:3 r", "c :3 r", "c 1: r"] {
        let err = bad.parse::<DeviceRule>().unwrap_err();
        assert!(
            matches!(err, ParseDeviceRuleError::Number { .. }),
            "{bad}: {err:?}"
        );
    }
    let err = "x 1:3 rwm".parse::<DeviceRule>().unwrap_err();
    assert!(
        matches!(&err, ParseDeviceRuleError::Kind { kind, .. } if kind == "x"),
        "{err:?}"
    );
    let err = "c 1:3 rwx".parse::<DeviceRule>().unwrap_err();
    assert!(
        matches!(&err, ParseDeviceRuleError::Access { letter: 'x', .. }),
        "{err:?}"
    );
    for bad in [
        "",
        "deny",
        "c",
        "c 1:3",
        "c 1:3 r extra",
        "allow deny c 1:3 r",
    ] {
        assert!(bad.parse::<DeviceRule>().is_err(), "{bad:?} was accepted");
    }
    let err = "c 1:3 rwm\nc 1:y r".parse::<DevicePolicy>().unwrap_err();
    assert!(err.to_string().contains("c 1:y r"), "{err}");
}

#[test]
fn policy_text_round_trip_and_docker_default() {
    let policy = DevicePolicy::docker_default();
    let text = policy.to_string();
    assert!(text.starts_with("c *:* m\nb *:* m\nc 1:3 rwm\n"), "{text}");
    assert!(text.contains("c 136:* rwm\n"));
    assert_eq!(text.parse::<DevicePolicy>().unwrap(), policy);
    let with_comments = "# devices\n\nc 1:3 rwm\n  deny c 1:5 w\n";
    let parsed: DevicePolicy = with_comments.parse().unwrap();
    assert_eq!(parsed.rules().len(), 2);
    assert_eq!(parsed.to_string(), "c 1:3 rwm\ndeny c 1:5 w\n");
}

fn kind() -> impl Strategy<Value = DeviceKind> {
    prop_oneof![
        Just(DeviceKind::Char),
        Just(DeviceKind::Block),
        Just(DeviceKind::All)
    ]
}

/// Device numbers that collide often, plus the edges of `u32`.
fn number() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0u32..4,
        1 => Just(i32::MAX as u32),
        1 => Just(0x8000_0000u32),
        1 => Just(u32::MAX),
        1 => any::<u32>(),
    ]
}

fn rule_with(access: impl Strategy<Value = u32>) -> impl Strategy<Value = DeviceRule> {
    (
        kind(),
        prop::option::of(number()),
        prop::option::of(number()),
        access,
        any::<bool>(),
    )
        .prop_map(|(kind, major, minor, access, allow)| DeviceRule {
            kind,
            major,
            minor,
            access: DeviceAccess::from_bits_truncate(access),
            allow,
        })
}

proptest! {
    #[test]
    fn rule_text_round_trips(rule in rule_with(1u32..8)) {
        let text = rule.to_string();
        prop_assert_eq!(text.parse::<DeviceRule>().unwrap(), rule);
    }

    #[test]
    fn policy_text_round_trips(rules in prop::collection::vec(rule_with(1u32..8), 0..20)) {
        let policy: DevicePolicy = rules.into_iter().collect();
        prop_assert_eq!(policy.to_string().parse::<DevicePolicy>().unwrap(), policy);
    }

    #[test]
    fn garbage_never_panics(text in "\\PC{0,30}") {
        let _ = text.parse::<DeviceRule>();
    }
}

// ---------------------------------------------------------------------------------------
// The compiler, against an interpreter and a reference evaluation
// ---------------------------------------------------------------------------------------

/// Where the interpreter pretends `struct bpf_cgroup_dev_ctx` lives.
const CTX_ADDR: u64 = 0x1000_0000;

/// Runs a program the way the kernel would for one device access, returning r0.
///
/// Written from the eBPF instruction-set specification, independently of the compiler.
/// It implements the loads, 32/64-bit ALU and conditional jumps a device filter needs,
/// and fails the test on anything else, on reading an unset register, on jumping
/// backwards or out of the program, and on touching memory outside the context.
fn interpret(prog: &[BpfInsn], access_type: u32, major: u32, minor: u32) -> u64 {
    let mut ctx = [0u8; 12];
    ctx[0..4].copy_from_slice(&access_type.to_ne_bytes());
    ctx[4..8].copy_from_slice(&major.to_ne_bytes());
    ctx[8..12].copy_from_slice(&minor.to_ne_bytes());
    let mut regs: [Option<u64>; 11] = [None; 11];
    regs[1] = Some(CTX_ADDR);
    regs[10] = Some(0x7fff_0000); // frame pointer; nothing here uses the stack
    let reg = |regs: &[Option<u64>; 11], r: u8| -> u64 {
        regs[r as usize].unwrap_or_else(|| panic!("read of unset register r{r}"))
    };
    let mut pc = 0usize;
    for _step in 0..1_000_000 {
        let ins = *prog.get(pc).expect("fell off the end of the program");
        let (dst, src) = (ins.dst_reg(), ins.src_reg());
        assert!(dst <= 10 && src <= 10, "bad register in {ins:?}");
        let class = ins.code & 0x07;
        let op = ins.code & 0xf0;
        let uses_reg = ins.code & 0x08 != 0;
        match class {
            // BPF_LDX | BPF_MEM
            0x01 => {
                assert_eq!(ins.code & 0xe0, 0x60, "LDX must be BPF_MEM: {ins:?}");
                let size = match ins.code & 0x18 {
                    0x00 => 4,
                    0x08 => 2,
                    0x10 => 1,
                    _ => 8,
                };
                let addr = reg(&regs, src).wrapping_add(ins.off as i64 as u64);
                let off = addr.wrapping_sub(CTX_ADDR) as usize;
                assert!(off + size <= ctx.len(), "load outside the context: {ins:?}");
                assert_eq!(off % size, 0, "unaligned context load");
                let mut bytes = [0u8; 8];
                bytes[..size].copy_from_slice(&ctx[off..off + size]);
                // Little- or big-endian: only ever narrowing from u32 fields here.
                regs[dst as usize] = Some(match size {
                    4 => u32::from_ne_bytes(bytes[..4].try_into().unwrap()) as u64,
                    2 => u16::from_ne_bytes(bytes[..2].try_into().unwrap()) as u64,
                    1 => bytes[0] as u64,
                    _ => u64::from_ne_bytes(bytes),
                });
                pc += 1;
            }
            // BPF_ALU (32-bit) and BPF_ALU64
            0x04 | 0x07 => {
                let wide = class == 0x07;
                let operand = if uses_reg {
                    reg(&regs, src)
                } else if wide {
                    ins.imm as i64 as u64
                } else {
                    ins.imm as u32 as u64
                };
                let old = if op == 0xb0 { 0 } else { reg(&regs, dst) };
                let (a, b) = if wide {
                    (old, operand)
                } else {
                    (old & 0xffff_ffff, operand & 0xffff_ffff)
                };
                let bits = if wide { 64 } else { 32 };
                let result = match op {
                    0x00 => a.wrapping_add(b),
                    0x10 => a.wrapping_sub(b),
                    0x40 => a | b,
                    0x50 => a & b,
                    0x60 => a << (b % bits),
                    0x70 => a >> (b % bits),
                    0xa0 => a ^ b,
                    0xb0 => b,
                    _ => panic!("unsupported ALU op {ins:?}"),
                };
                regs[dst as usize] = Some(if wide { result } else { result & 0xffff_ffff });
                pc += 1;
            }
            // BPF_JMP and BPF_JMP32
            0x05 | 0x06 => {
                if class == 0x05 && op == 0x90 {
                    return reg(&regs, 0);
                }
                let taken = if class == 0x05 && op == 0x00 {
                    true
                } else {
                    let narrow = |v: u64| if class == 0x06 { v & 0xffff_ffff } else { v };
                    let a = narrow(reg(&regs, dst));
                    let b = narrow(if uses_reg {
                        reg(&regs, src)
                    } else {
                        ins.imm as i64 as u64
                    });
                    match op {
                        0x10 => a == b,
                        0x20 => a > b,
                        0x30 => a >= b,
                        0x40 => a & b != 0,
                        0x50 => a != b,
                        0xa0 => a < b,
                        0xb0 => a <= b,
                        _ => panic!("unsupported jump {ins:?}"),
                    }
                };
                assert!(ins.off >= 0, "backward jump {ins:?}");
                pc += 1;
                if taken {
                    pc += ins.off as usize;
                }
            }
            _ => panic!("unsupported instruction class {ins:?}"),
        }
    }
    panic!("program did not terminate");
}

/// The rules evaluated the obvious way, independently of the library: each requested
/// permission bit is decided by the last rule that matches the device and names it;
/// undecided bits deny, and asking for nothing is refused.
fn reference(rules: &[DeviceRule], ty: u32, major: u32, minor: u32, access: u32) -> bool {
    if access == 0 {
        return false;
    }
    (0..16).filter(|bit| access & (1 << bit) != 0).all(|bit| {
        rules
            .iter()
            .rev()
            .find(|r| {
                let kind_ok = match r.kind {
                    DeviceKind::All => true,
                    DeviceKind::Char => ty == 2,
                    DeviceKind::Block => ty == 1,
                };
                kind_ok
                    && r.major.is_none_or(|m| m == major)
                    && r.minor.is_none_or(|m| m == minor)
                    && r.access.bits() & (1 << bit) != 0
            })
            .is_some_and(|r| r.allow)
    })
}

#[test]
fn empty_policy_denies_everything() {
    let prog = DevicePolicy::new().compile();
    for ty in [1, 2] {
        for access in 0..8 {
            assert_eq!(interpret(&prog, (access << 16) | ty, 1, 3), 0);
        }
    }
}

#[test]
fn docker_default_examples() {
    let prog = DevicePolicy::docker_default().compile();
    let run = |ty: u32, access: DeviceAccess, major, minor| {
        interpret(&prog, (access.bits() << 16) | ty, major, minor)
    };
    let rw = DeviceAccess::READ | DeviceAccess::WRITE;
    assert_eq!(run(2, rw, 1, 3), 1, "/dev/null rw");
    assert_eq!(run(2, rw, 136, 7), 1, "/dev/pts/7 rw");
    assert_eq!(run(2, DeviceAccess::MKNOD, 8, 0), 1, "mknod of anything");
    assert_eq!(
        run(1, DeviceAccess::MKNOD, 8, 0),
        1,
        "mknod of a block device"
    );
    assert_eq!(run(1, DeviceAccess::READ, 8, 0), 0, "reading /dev/sda");
    assert_eq!(run(2, DeviceAccess::READ, 1, 1), 0, "reading /dev/mem");
    assert_eq!(run(2, DeviceAccess::all(), 10, 200), 0, "/dev/net/tun");
}

#[test]
fn later_rules_override_per_permission() {
    let policy: DevicePolicy = "c 1:5 rwm\ndeny c 1:5 w\nc *:* r\n".parse().unwrap();
    let prog = policy.compile();
    let r = DeviceAccess::READ.bits() << 16 | 2;
    let w = DeviceAccess::WRITE.bits() << 16 | 2;
    let rw = (DeviceAccess::READ | DeviceAccess::WRITE).bits() << 16 | 2;
    assert_eq!(interpret(&prog, r, 1, 5), 1);
    assert_eq!(interpret(&prog, w, 1, 5), 0);
    assert_eq!(
        interpret(&prog, rw, 1, 5),
        0,
        "write is denied even when asked with read"
    );
    assert_eq!(interpret(&prog, r, 4, 4), 1);
    assert_eq!(interpret(&prog, rw, 4, 4), 0);
    // Two allow rules that together cover read and write allow rw.
    let policy: DevicePolicy = "c 1:5 r\nc 1:5 w\n".parse().unwrap();
    assert_eq!(interpret(&policy.compile(), rw, 1, 5), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn compiled_program_agrees_with_the_rules(
        rules in prop::collection::vec(rule_with(0u32..8), 0..12),
        ty in prop_oneof![4 => 1u32..3, 1 => 0u32..0x1_0000],
        access in prop_oneof![8 => 0u32..8, 1 => 0u32..0x1_0000],
        major in number(),
        minor in number(),
    ) {
        let policy: DevicePolicy = rules.iter().copied().collect();
        let prog = policy.compile();
        let got = interpret(&prog, (access << 16) | ty, major, minor);
        let want = reference(&rules, ty, major, minor, access);
        prop_assert_eq!(got, want as u64, "policy:\n{}access {:#x} type {} {}:{}",
                        policy, access, ty, major, minor);
    }
}

// ---------------------------------------------------------------------------------------
// The kernel
// ---------------------------------------------------------------------------------------

fn cgroup2_root() -> PathBuf {
    common::hierarchy().root().to_owned()
}

/// A cgroup `hutch-test-<pid>-<n>` created for one test and removed on drop.
struct TestCgroup {
    path: PathBuf,
    dir: fs::File,
}

impl TestCgroup {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = cgroup2_root().join(format!("hutch-test-{}-dev{n}", std::process::id()));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        let dir = fs::File::open(&path).unwrap();
        TestCgroup { path, dir }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let removed = fs::remove_dir(&self.path);
        // Every test checks it leaves nothing behind; no second panic while unwinding.
        if !std::thread::panicking() {
            removed.unwrap_or_else(|e| panic!("rmdir {}: {e}", self.path.display()));
            assert!(!self.path.exists(), "{} left behind", self.path.display());
        }
    }
}

/// Runs `script` with `sh` inside `cgroup` and returns its combined output.
///
/// The shell waits on stdin until the parent has moved it into the cgroup.
fn run_in(cgroup: &TestCgroup, script: &str) -> String {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("read _go; exec 2>&1; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    fs::write(cgroup.path.join("cgroup.procs"), child.id().to_string()).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}: {out}");
    out
}

const PROBE: &str = r#"
    if : </dev/null; then echo null:ok; else echo null:denied; fi
    if head -c 4 /dev/zero >/dev/null; then echo zero:ok; else echo zero:denied; fi
    d=$(mktemp -d)
    if mknod "$d/zero" c 1 5; then echo mknod:ok; else echo mknod:denied; fi
    rm -rf "$d"
"#;

#[test]
fn the_kernel_enforces_and_replaces_the_policy() {
    let cgroup = TestCgroup::new();
    let mut policy = DevicePolicy::new();
    policy.rule("c 1:3 rwm".parse().unwrap());
    let first = attach_device_policy(&cgroup.dir, &policy).unwrap();
    assert_eq!(
        attached_device_programs(&cgroup.dir).unwrap(),
        vec![first.id()]
    );

    let out = run_in(&cgroup, PROBE);
    assert!(out.contains("null:ok"), "{out}");
    assert!(out.contains("zero:denied"), "{out}");
    assert!(out.contains("mknod:denied"), "{out}");
    assert!(
        out.matches("Operation not permitted").count() >= 2,
        "expected EPERM for /dev/zero and mknod: {out}"
    );

    // Allow /dev/zero and mknod of it: the new program replaces the first one.
    policy.rule("c 1:5 rwm".parse().unwrap());
    let second = attach_device_policy(&cgroup.dir, &policy).unwrap();
    assert_ne!(first.id(), second.id());
    assert_eq!(
        attached_device_programs(&cgroup.dir).unwrap(),
        vec![second.id()]
    );
    let out = run_in(&cgroup, PROBE);
    assert!(out.contains("null:ok"), "{out}");
    assert!(out.contains("zero:ok"), "{out}");
    assert!(out.contains("mknod:ok"), "{out}");

    // The first program is no longer attached, so detaching it fails with ENOENT.
    let err = first.detach().unwrap_err();
    assert!(
        matches!(&err, DeviceError::Detach { source, .. } if source.raw_os_error() == Some(libc::ENOENT)),
        "{err:?}"
    );
    second.detach().unwrap();
    assert!(attached_device_programs(&cgroup.dir).unwrap().is_empty());
    let out = run_in(&cgroup, PROBE);
    assert!(out.contains("zero:ok"), "no policy, no restriction: {out}");
}

#[test]
fn one_loaded_policy_serves_many_cgroups() {
    let (a, b) = (TestCgroup::new(), TestCgroup::new());
    let loaded =
        hutch_cgroup::device::LoadedDevicePolicy::load(&"c 1:3 rwm".parse().unwrap()).unwrap();
    let pa = loaded.attach(&a.dir).unwrap();
    let pb = loaded.attach(&b.dir).unwrap();
    assert_eq!(pa.id(), loaded.id());
    assert_eq!(attached_device_programs(&a.dir).unwrap(), vec![loaded.id()]);
    assert_eq!(attached_device_programs(&b.dir).unwrap(), vec![loaded.id()]);
    // Enforced in each: /dev/null allowed, /dev/zero denied.
    for cg in [&a, &b] {
        let out = run_in(cg, PROBE);
        assert!(out.contains("null:ok") && !out.contains("zero:ok"), "{out}");
    }
    pa.detach().unwrap();
    pb.detach().unwrap();
}

#[test]
fn detach_device_policy_finds_lost_handles() {
    let cgroup = TestCgroup::new();
    let program = attach_device_policy(&cgroup.dir, &DevicePolicy::docker_default()).unwrap();
    let id = program.id();
    drop(program); // closes the fds; the program stays attached
    assert_eq!(attached_device_programs(&cgroup.dir).unwrap(), vec![id]);
    assert_eq!(detach_device_policy(&cgroup.dir).unwrap(), 1);
    assert!(attached_device_programs(&cgroup.dir).unwrap().is_empty());
    assert_eq!(detach_device_policy(&cgroup.dir).unwrap(), 0);
}

#[test]
fn child_cgroups_inherit_the_policy() {
    let cgroup = TestCgroup::new();
    let _program = attach_device_policy(&cgroup.dir, &"c 1:3 rwm".parse().unwrap()).unwrap();
    let child_path = cgroup.path.join("child");
    fs::create_dir(&child_path).unwrap();
    let child = TestCgroup {
        dir: fs::File::open(&child_path).unwrap(),
        path: child_path,
    };
    let out = run_in(&child, PROBE);
    assert!(out.contains("zero:denied"), "{out}");
    drop(child);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The verifier accepts whatever the compiler generates.
    #[test]
    fn the_verifier_accepts_generated_programs(
        rules in prop::collection::vec(rule_with(0u32..8), 0..40),
    ) {
        let cgroup = TestCgroup::new();
        let policy: DevicePolicy = rules.into_iter().collect();
        let program = attach_device_policy(&cgroup.dir, &policy)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{policy}")))?;
        program.detach().unwrap();
    }
}

#[test]
fn large_policies_load() {
    // Verification must stay linear in the number of rules: a mix of kinds, wildcards,
    // allow and deny, and of accesses that leave permissions undecided.
    let cgroup = TestCgroup::new();
    let kinds = [DeviceKind::Char, DeviceKind::Block, DeviceKind::All];
    let policy: DevicePolicy = (0..3000u32)
        .map(|i| DeviceRule {
            kind: kinds[i as usize % 3],
            major: (i % 5 != 0).then_some(i / 7),
            minor: (i % 4 != 0).then_some(i),
            access: DeviceAccess::from_bits_truncate(i % 7 + 1),
            allow: i % 3 != 1,
        })
        .collect();
    let program = attach_device_policy(&cgroup.dir, &policy).unwrap();
    program.detach().unwrap();
}

#[test]
fn errors_name_the_cgroup_and_keep_the_errno() {
    let not_a_cgroup = fs::File::open(std::env::temp_dir()).unwrap();
    let err = attach_device_policy(&not_a_cgroup, &DevicePolicy::new()).unwrap_err();
    let (path, errno) = match &err {
        DeviceError::Query { cgroup, source } | DeviceError::Attach { cgroup, source } => {
            (cgroup.clone(), source.raw_os_error())
        }
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(path, fs::canonicalize(std::env::temp_dir()).unwrap());
    assert!(errno.is_some());
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
    assert!(attached_device_programs(not_a_cgroup.as_fd()).is_err());
}
