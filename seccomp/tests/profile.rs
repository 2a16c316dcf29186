//! Profiles: Docker's default loads and decides as Docker's does; bad profiles give clear
//! errors naming the entry.
#![warn(clippy::undocumented_unsafe_blocks)]

use hutch_seccomp::profile::{
    DOCKER_DEFAULT_CAPS, KernelVersion, Profile, ProfileContext, capability_bit,
};
use hutch_seccomp::{Action, Arch, ProfileError, SeccompData};
use proptest::prelude::*;

const EPERM: Action = Action::Errno(libc::EPERM as u16);

fn ctx(caps: u64, arch: Arch) -> ProfileContext {
    ProfileContext {
        caps,
        arch,
        kernel: KernelVersion::new(6, 18),
    }
}

fn cap(name: &str) -> u64 {
    1 << capability_bit(name).unwrap()
}

fn decide(p: &Profile, c: &ProfileContext, arch: Arch, name: &str, args: [u64; 6]) -> Action {
    let program = p.compile(c).unwrap();
    let nr = arch
        .syscall_number(name)
        .unwrap_or_else(|| panic!("{name} on {arch}"));
    let raw = program.run(&SeccompData::new(arch, nr, args)).unwrap();
    let model = p
        .to_filter(c)
        .evaluate(&p.arches(c.arch), &SeccompData::new(arch, nr, args));
    assert_eq!(Action::from_raw(raw), Some(model));
    model
}

#[test]
fn docker_default_loads_and_compiles_everywhere() {
    let p = Profile::docker_default();
    assert_eq!(p.default_action(), EPERM);
    assert_eq!(p.rules().len(), 33);
    assert_eq!(
        p.arches(Arch::X86_64),
        vec![Arch::X86_64, Arch::X86, Arch::X32]
    );
    assert_eq!(p.arches(Arch::Aarch64), vec![Arch::Aarch64, Arch::Arm]);
    for arch in [Arch::X86_64, Arch::Aarch64] {
        for caps in [0, DOCKER_DEFAULT_CAPS, u64::MAX >> 23] {
            let prog = p.compile(&ctx(caps, arch)).unwrap();
            assert!(prog.len() < 4096);
            println!("{arch} caps {caps:#x}: {} instructions", prog.len());
        }
    }
}

#[test]
fn docker_default_decisions() {
    let p = Profile::docker_default();
    let x = Arch::X86_64;
    let dflt = ctx(DOCKER_DEFAULT_CAPS, x);
    let admin = ctx(DOCKER_DEFAULT_CAPS | cap("CAP_SYS_ADMIN"), x);
    for name in [
        "read",
        "getppid",
        "openat",
        "execve",
        "exit_group",
        "arch_prctl",
        "modify_ldt",
    ] {
        assert_eq!(decide(p, &dflt, x, name, [0; 6]), Action::Allow, "{name}");
    }
    for name in [
        "keyctl",
        "add_key",
        "bpf",
        "perf_event_open",
        "kexec_load",
        "open_by_handle_at",
        "userfaultfd",
        "unshare",
        "mount",
        "setns",
        "init_module",
        "reboot",
    ] {
        assert_eq!(decide(p, &dflt, x, name, [0; 6]), EPERM, "{name}");
    }
    // i386 on x86_64: the compat numbers follow the same list.
    assert_eq!(
        decide(p, &dflt, Arch::X86, "_llseek", [0; 6]),
        Action::Allow
    );
    assert_eq!(decide(p, &dflt, Arch::X86, "keyctl", [0; 6]), EPERM);
    // clone: namespace flags need CAP_SYS_ADMIN (masked equality on argument 0).
    let newuser = libc::CLONE_NEWUSER as u64;
    assert_eq!(
        decide(p, &dflt, x, "clone", [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]),
        Action::Allow
    );
    assert_eq!(
        decide(p, &dflt, x, "clone", [newuser, 0, 0, 0, 0, 0]),
        EPERM
    );
    assert_eq!(
        decide(p, &admin, x, "clone", [newuser, 0, 0, 0, 0, 0]),
        Action::Allow
    );
    assert_eq!(decide(p, &admin, x, "mount", [0; 6]), Action::Allow);
    // clone3 says ENOSYS without CAP_SYS_ADMIN so that libc falls back to clone.
    assert_eq!(
        decide(p, &dflt, x, "clone3", [0; 6]),
        Action::Errno(libc::ENOSYS as u16)
    );
    assert_eq!(decide(p, &admin, x, "clone3", [0; 6]), Action::Allow);
    // socket: everything but AF_VSOCK (40).
    assert_eq!(
        decide(p, &dflt, x, "socket", [libc::AF_INET as u64, 0, 0, 0, 0, 0]),
        Action::Allow
    );
    assert_eq!(decide(p, &dflt, x, "socket", [40, 0, 0, 0, 0, 0]), EPERM);
    assert_eq!(
        decide(p, &dflt, x, "socket", [41, 0, 0, 0, 0, 0]),
        Action::Allow
    );
    // personality: only the listed values.
    assert_eq!(
        decide(p, &dflt, x, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
        Action::Allow
    );
    assert_eq!(
        decide(p, &dflt, x, "personality", [0x1_0000_0000, 0, 0, 0, 0, 0]),
        EPERM
    );
    assert_eq!(
        decide(p, &dflt, x, "personality", [1, 0, 0, 0, 0, 0]),
        EPERM
    );
    // minKernel: ptrace needs 4.8.
    let old = ProfileContext {
        kernel: KernelVersion::new(4, 4),
        ..dflt
    };
    assert_eq!(decide(p, &dflt, x, "ptrace", [0; 6]), Action::Allow);
    assert_eq!(decide(p, &old, x, "ptrace", [0; 6]), EPERM);
    // Capability-conditional: CAP_SYS_TIME, CAP_BPF, CAP_PERFMON.
    let t = ctx(
        DOCKER_DEFAULT_CAPS | cap("CAP_SYS_TIME") | cap("CAP_BPF") | cap("CAP_PERFMON"),
        x,
    );
    assert_eq!(decide(p, &dflt, x, "settimeofday", [0; 6]), EPERM);
    assert_eq!(decide(p, &t, x, "settimeofday", [0; 6]), Action::Allow);
    assert_eq!(decide(p, &t, x, "bpf", [0; 6]), Action::Allow);
    assert_eq!(decide(p, &t, x, "perf_event_open", [0; 6]), Action::Allow);
    // Arch-conditional: arm's private calls on aarch64 hosts only.
    let a = ctx(DOCKER_DEFAULT_CAPS, Arch::Aarch64);
    assert_eq!(decide(p, &a, Arch::Arm, "set_tls", [0; 6]), Action::Allow);
    assert_eq!(
        decide(p, &a, Arch::Aarch64, "getppid", [0; 6]),
        Action::Allow
    );
    // Foreign architectures are killed.
    let prog = p.compile(&dflt).unwrap();
    let raw = prog
        .run(&SeccompData::new(Arch::Aarch64, 173, [0; 6]))
        .unwrap();
    assert_eq!(Action::from_raw(raw), Some(Action::KillProcess));
}

fn err(json: &str) -> ProfileError {
    Profile::from_docker_json(json).unwrap_err()
}

#[test]
fn bad_profiles_name_the_entry() {
    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["read"],"action":"SCMP_ACT_ALLOW"},
        {"names":["write","mkdirr"],"action":"SCMP_ACT_ALLOW"}]}"#);
    assert!(
        matches!(&e, ProfileError::UnknownSyscall { index: 1, name } if name == "mkdirr"),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        r#"syscalls[1]: unknown system call "mkdirr""#
    );

    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["read"],"action":"SCMP_ACT_ALLOWW"}]}"#);
    assert_eq!(
        e.to_string(),
        r#"syscalls[0].action: unknown action "SCMP_ACT_ALLOWW""#
    );
    let e = err(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#);
    assert_eq!(
        e.to_string(),
        r#"defaultAction: unknown action "SCMP_ACT_NOPE""#
    );

    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["read"],"action":"SCMP_ACT_ALLOW"},
        {"names":["read"],"action":"SCMP_ACT_ALLOW","args":[
            {"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#);
    assert_eq!(
        e.to_string(),
        "syscalls[1].args[1]: argument index 6 is above 5"
    );

    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_LIKE"}]}]}"#);
    assert_eq!(
        e.to_string(),
        r#"syscalls[0].args[0]: unknown operator "SCMP_CMP_LIKE""#
    );

    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW",]}"#,
    );
    assert!(matches!(e, ProfileError::Json { line: 1, .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("malformed seccomp profile JSON at line 1, column"),
        "{e}"
    );

    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"]}]}"#);
    assert_eq!(e.to_string(), "syscalls[0]: missing field `action`");

    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":"zero","value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert_eq!(
        e.to_string(),
        r#"syscalls[0]: invalid type: string "zero", expected u32"#
    );
    // A wrong type outside `syscalls` is located by line and column.
    let e = err("{\n  \"defaultAction\": 5\n}");
    assert!(matches!(e, ProfileError::Json { line: 2, .. }), "{e}");

    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_65"]}"#);
    assert_eq!(
        e.to_string(),
        r#"architectures[0]: unknown architecture "SCMP_ARCH_X86_65""#
    );

    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMINN"]}}]}"#,
    );
    assert_eq!(
        e.to_string(),
        r#"syscalls[0]: unknown capability "CAP_SYS_ADMINN""#
    );

    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","excludes":{"arches":["amd64","foo"]}}]}"#,
    );
    assert_eq!(
        e.to_string(),
        r#"syscalls[0]: unknown architecture "foo" in includes/excludes"#
    );

    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"four"}}]}"#,
    );
    assert_eq!(
        e.to_string(),
        r#"syscalls[0]: bad minKernel "four" (expected MAJOR.MINOR)"#
    );

    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":5000}"#);
    assert_eq!(e.to_string(), "defaultAction: errno 5000 is above 4095");

    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_FAST"]}"#);
    assert_eq!(
        e.to_string(),
        r#"flags: unknown flag "SECCOMP_FILTER_FLAG_FAST""#
    );

    let args: Vec<String> = (0..7)
        .map(|i| format!(r#"{{"index":{},"value":1,"op":"SCMP_CMP_EQ"}}"#, i % 6))
        .collect();
    let e = err(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{}]}}]}}"#,
        args.join(",")
    ));
    assert_eq!(
        e.to_string(),
        "syscalls[0]: 7 argument conditions; at most 6 are allowed"
    );
}

#[test]
fn profile_files() {
    let p = Profile::from_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/profiles/docker-default.json"
    ))
    .unwrap();
    assert_eq!(&p, Profile::docker_default());
    let e = Profile::from_path("/nonexistent/profile.json").unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot read seccomp profile /nonexistent/profile.json"
    );
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn oci_object() {
    let p = Profile::from_oci_json(
        r#"{
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath": "/run/seccomp-agent.sock", "listenerMetadata": "meta",
        "syscalls": [
            {"names": ["getppid", "read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["write"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2, "valueTwo": 0, "op": "SCMP_CMP_LE"}]}
        ]}"#,
    )
    .unwrap();
    assert_eq!(p.default_action(), Action::Errno(38));
    assert_eq!(p.arches(Arch::X86_64), vec![Arch::X86_64, Arch::X86]);
    assert!(p.flags().contains(hutch_seccomp::InstallFlags::LOG));
    assert_eq!(
        p.listener_path(),
        Some(std::path::Path::new("/run/seccomp-agent.sock"))
    );
    assert_eq!(p.listener_metadata(), Some("meta"));
    let c = ctx(0, Arch::X86_64);
    assert_eq!(
        decide(&p, &c, Arch::X86_64, "getppid", [0; 6]),
        Action::Allow
    );
    assert_eq!(
        decide(&p, &c, Arch::X86_64, "mkdir", [0; 6]),
        Action::UserNotif
    );
    assert_eq!(
        decide(&p, &c, Arch::X86_64, "write", [2, 0, 0, 0, 0, 0]),
        Action::Allow
    );
    assert_eq!(
        decide(&p, &c, Arch::X86_64, "write", [3, 0, 0, 0, 0, 0]),
        Action::Errno(38)
    );
    assert_eq!(
        decide(&p, &c, Arch::X86_64, "openat", [0; 6]),
        Action::Errno(38)
    );
}

const OPS: [&str; 7] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_GT",
    "SCMP_CMP_GE",
    "SCMP_CMP_MASKED_EQ",
];
const ACTS: [&str; 8] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_NOTIFY",
];

proptest! {
    /// Any profile written from valid parts parses, keeps every entry, and compiles.
    #[test]
    fn generated_profiles_parse(
        entries in proptest::collection::vec((
            proptest::sample::subsequence(vec!["read", "write", "mkdir", "_llseek", "set_tls", "s390_runtime_instr", "clone"], 1..4),
            0usize..8,
            proptest::option::of(0u32..4096),
            proptest::collection::vec((0u32..6, any::<u64>(), any::<u64>(), 0usize..7), 0..7),
            proptest::option::of(proptest::sample::subsequence(vec!["CAP_SYS_ADMIN", "CAP_BPF", "CAP_NET_RAW"], 0..3)),
        ), 0..20),
        caps in any::<u64>(),
    ) {
        let syscalls: Vec<String> = entries.iter().map(|(names, act, errno, args, inc)| {
            let names: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
            let args: Vec<String> = args.iter().map(|(i, v, v2, op)| format!(
                r#"{{"index":{i},"value":{v},"valueTwo":{v2},"op":"{}"}}"#, OPS[*op])).collect();
            let errno = errno.map(|e| format!(r#","errnoRet":{e}"#)).unwrap_or_default();
            let inc = inc.as_ref().map(|c| {
                let c: Vec<String> = c.iter().map(|c| format!("\"{c}\"")).collect();
                format!(r#","includes":{{"caps":[{}]}}"#, c.join(","))
            }).unwrap_or_default();
            format!(r#"{{"names":[{}],"action":"{}"{errno},"args":[{}]{inc}}}"#, names.join(","), ACTS[*act], args.join(","))
        }).collect();
        let json = format!(r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{}]}}"#, syscalls.join(","));
        let p = Profile::from_docker_json(&json).unwrap();
        prop_assert_eq!(p.rules().len(), entries.len());
        for (rule, e) in p.rules().iter().zip(&entries) {
            prop_assert_eq!(rule.syscalls.len(), e.0.len());
            prop_assert_eq!(rule.conds.len(), e.3.len());
        }
        p.compile(&ctx(caps, Arch::X86_64)).unwrap();
    }
}
