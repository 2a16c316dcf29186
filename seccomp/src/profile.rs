//! Seccomp profiles: Docker's JSON format and the OCI runtime-spec `linux.seccomp` object.
//!
//! A [`Profile`] is parsed and checked once (every name, action, operator, argument index,
//! capability and version is validated, and errors name the entry); it becomes a
//! [`Filter`] for a given [`ProfileContext`] (the container's capabilities, the native
//! architecture and the kernel version), which decides the conditional parts.
//!
//! # Names that only some architectures have
//!
//! Docker's profile is written for every architecture at once: its allow list names
//! `_llseek`, `chown32` and friends that x86_64 lacks. A name that is a system call on
//! *some* Linux architecture is therefore accepted and skipped where it does not exist
//! (`Filter::rule_if_present`); a name that is a system call nowhere is an error
//! ([`ProfileError::UnknownSyscall`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Deserialize;

use crate::arch::Arch;
use crate::compile::Program;
use crate::error::ProfileError;
use crate::filter::{Action, CmpOp, Cond, Filter, Syscall};
use crate::install::InstallFlags;

/// Docker's default profile (moby `profiles/seccomp/default.json`), vendored.
pub const DOCKER_DEFAULT_JSON: &str = include_str!("../profiles/docker-default.json");

/// Capability names, bit n = capability n (linux/capability.h).
pub const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capability bit of a `CAP_*` name (the `CAP_` prefix is optional, case-insensitive).
pub fn capability_bit(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    CAPABILITIES
        .iter()
        .position(|c| *c == full)
        .map(|i| i as u32)
}

/// Docker's default capability set as a mask: CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD,
/// NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL,
/// AUDIT_WRITE.
pub const DOCKER_DEFAULT_CAPS: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 4)
    | (1 << 3)
    | (1 << 27)
    | (1 << 13)
    | (1 << 6)
    | (1 << 7)
    | (1 << 31)
    | (1 << 8)
    | (1 << 10)
    | (1 << 18)
    | (1 << 5)
    | (1 << 29);

/// libseccomp's architecture names; ones this crate cannot target are accepted and
/// ignored (such code cannot run on the kernels this crate runs on).
const SCMP_ARCHES: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

/// A kernel version, as far as profiles care (`minKernel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl KernelVersion {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> KernelVersion {
        KernelVersion { major, minor }
    }

    /// Parses `MAJOR.MINOR` with anything after it ignored (`6.18.0-rc1` is 6.18).
    pub fn parse(s: &str) -> Option<KernelVersion> {
        let mut it = s.trim().split(['.', '-', '+']);
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        Some(KernelVersion { major, minor })
    }

    /// The running kernel's version, from `uname(2)`.
    ///
    /// # Errors
    ///
    /// [`ProfileError::BadKernelVersion`] (index `usize::MAX`) if the release string does
    /// not start with `MAJOR.MINOR`.
    #[doc(alias = "uname")]
    pub fn running() -> Result<KernelVersion, ProfileError> {
        let release = crate::sys::kernel_release();
        KernelVersion::parse(&release).ok_or(ProfileError::BadKernelVersion {
            index: usize::MAX,
            value: release,
        })
    }
}

/// What the conditional parts of a profile depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProfileContext {
    /// The container's capabilities (bit n = capability n; effective or bounding set,
    /// as the runtime decides: Docker uses the container's capability list).
    pub caps: u64,
    /// The native architecture (matched against `includes.arches` and `archMap`).
    pub arch: Arch,
    /// The kernel version (matched against `minKernel`).
    pub kernel: KernelVersion,
}

impl ProfileContext {
    /// `caps` on this machine: [`Arch::native`] and the running kernel.
    ///
    /// # Errors
    ///
    /// As [`KernelVersion::running`].
    pub fn current(caps: u64) -> Result<ProfileContext, ProfileError> {
        Ok(ProfileContext {
            caps,
            arch: Arch::native(),
            kernel: KernelVersion::running()?,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile {
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Option<Vec<RawArchMap>>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    /// Entries are decoded one by one so that errors can name the entry.
    #[serde(default)]
    syscalls: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    flags: Option<Vec<String>>,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArchMap {
    architecture: String,
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSyscall {
    name: Option<String>,
    names: Option<Vec<String>>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<RawArg>>,
    includes: Option<RawFilter>,
    excludes: Option<RawFilter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawFilter {
    arches: Option<Vec<String>>,
    caps: Option<Vec<String>>,
    min_kernel: Option<String>,
}

/// Conditions on the context (Docker's `includes` / `excludes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContextFilter {
    /// Go-style architecture names (`amd64`, `arm64`, ...), matched against the native one.
    pub arches: Vec<String>,
    /// Capability mask.
    pub caps: u64,
    /// Minimum kernel version.
    pub min_kernel: Option<KernelVersion>,
}

/// One validated entry of a profile's `syscalls`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileRule {
    /// The system calls.
    pub syscalls: Vec<Syscall>,
    /// The action.
    pub action: Action,
    /// The argument conditions (all must hold).
    pub conds: Vec<Cond>,
    /// The rule applies only if all of these hold.
    pub includes: ContextFilter,
    /// The rule is dropped if any of these holds.
    pub excludes: ContextFilter,
}

/// Architecture names a profile's `includes`/`excludes` may use: Docker's and Go's
/// (`GOARCH`), also for architectures this crate does not compile for.
const FILTER_ARCH_NAMES: &[&str] = &[
    "386",
    "x86",
    "amd64",
    "x32",
    "arm",
    "arm64",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64n32",
    "mips64n32le",
    "mipsn32",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv64",
    "s390",
    "s390x",
    "parisc",
    "parisc64",
    "sparc",
    "sparc64",
];

impl ProfileRule {
    /// Whether the rule applies in `ctx`.
    pub fn applies(&self, ctx: &ProfileContext) -> bool {
        let native = ctx.arch.go_names();
        let arch_in = |list: &[String]| list.iter().any(|a| native.contains(&a.as_str()));
        let inc = &self.includes;
        let exc = &self.excludes;
        if !exc.arches.is_empty() && arch_in(&exc.arches) {
            return false;
        }
        if exc.caps & ctx.caps != 0 {
            return false;
        }
        if exc.min_kernel.is_some_and(|v| ctx.kernel >= v) {
            return false;
        }
        if !inc.arches.is_empty() && !arch_in(&inc.arches) {
            return false;
        }
        if inc.caps & ctx.caps != inc.caps {
            return false;
        }
        if inc.min_kernel.is_some_and(|v| ctx.kernel < v) {
            return false;
        }
        true
    }
}

/// A validated seccomp profile.
///
/// # Examples
///
/// ```
/// use hutch_seccomp::profile::{KernelVersion, Profile, ProfileContext, DOCKER_DEFAULT_CAPS};
/// use hutch_seccomp::{Action, Arch, SeccompData};
///
/// let profile = Profile::docker_default();
/// let ctx = ProfileContext { caps: DOCKER_DEFAULT_CAPS, arch: Arch::X86_64,
///                            kernel: KernelVersion::new(6, 1) };
/// let program = profile.compile(&ctx)?;
/// let keyctl = SeccompData::new(Arch::X86_64, 250, [0; 6]);
/// assert_eq!(program.run(&keyctl)?, Action::Errno(libc::EPERM as u16).to_raw());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    default_action: Action,
    arch_map: Vec<(String, Vec<String>)>,
    architectures: Vec<String>,
    rules: Vec<ProfileRule>,
    flags: InstallFlags,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
}

fn parse_action(
    s: &str,
    errno: Option<u32>,
    location: impl Fn() -> String,
) -> Result<Action, ProfileError> {
    let data = |default: u32| -> Result<u16, ProfileError> {
        let v = errno.unwrap_or(default);
        if v > 4095 {
            return Err(ProfileError::BadErrno {
                location: location(),
                value: v,
            });
        }
        Ok(v as u16)
    };
    Ok(match s {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_ERRNO" => Action::Errno(data(libc::EPERM as u32)?),
        "SCMP_ACT_TRACE" => Action::Trace(data(libc::EPERM as u32)?),
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" => Action::UserNotif,
        _ => {
            return Err(ProfileError::BadAction {
                location: location(),
                action: s.to_owned(),
            });
        }
    })
}

fn check_arch(name: &str, location: impl Fn() -> String) -> Result<(), ProfileError> {
    if SCMP_ARCHES.contains(&name) {
        Ok(())
    } else {
        Err(ProfileError::BadArch {
            location: location(),
            name: name.to_owned(),
        })
    }
}

impl Profile {
    /// Parses Docker's JSON profile format (`defaultAction`, `defaultErrnoRet`,
    /// `archMap` or `architectures`, `syscalls` with `name`/`names`, `action`,
    /// `errnoRet`, `args`, `includes`, `excludes`). `comment` and unknown fields are
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`ProfileError`] naming the offending entry: `Json` (with line and column) for
    /// malformed JSON or wrong types, `UnknownSyscall`, `BadAction`, `BadArgIndex`,
    /// `BadOperator`, `TooManyArgs`, `BadArch`, `BadCapability`, `BadKernelVersion`,
    /// `BadErrno`, `BadFlag`.
    pub fn from_docker_json(json: &str) -> Result<Profile, ProfileError> {
        let raw: RawProfile = serde_json::from_str(json).map_err(|e| ProfileError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        Profile::from_raw(raw)
    }

    /// Parses an OCI runtime-spec `linux.seccomp` object (`defaultAction`,
    /// `defaultErrnoRet`, `architectures`, `flags`, `listenerPath`, `listenerMetadata`,
    /// `syscalls` with `names`, `action`, `errnoRet`, `args`). The format is a subset of
    /// Docker's, so this is the same parser.
    ///
    /// # Errors
    ///
    /// As [`Profile::from_docker_json`].
    pub fn from_oci_json(json: &str) -> Result<Profile, ProfileError> {
        Profile::from_docker_json(json)
    }

    /// Reads and parses a profile file in Docker's format (which also covers an OCI
    /// `linux.seccomp` object), as for `--security-opt seccomp=PATH.json`.
    ///
    /// # Errors
    ///
    /// [`ProfileError::Read`] with the path, or as [`Profile::from_docker_json`].
    pub fn from_path(path: impl AsRef<std::path::Path>) -> Result<Profile, ProfileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Profile::from_docker_json(&text)
    }

    /// Docker's default profile (parsed once per process).
    pub fn docker_default() -> &'static Profile {
        static P: OnceLock<Profile> = OnceLock::new();
        P.get_or_init(|| {
            Profile::from_docker_json(DOCKER_DEFAULT_JSON)
                .expect("the vendored Docker profile is valid (checked by the tests)")
        })
    }

    fn from_raw(raw: RawProfile) -> Result<Profile, ProfileError> {
        let default_action = parse_action(&raw.default_action, raw.default_errno_ret, || {
            "defaultAction".to_owned()
        })?;
        let mut arch_map = Vec::new();
        for (i, m) in raw.arch_map.unwrap_or_default().into_iter().enumerate() {
            check_arch(&m.architecture, || format!("archMap[{i}].architecture"))?;
            let subs = m.sub_architectures.unwrap_or_default();
            for (j, s) in subs.iter().enumerate() {
                check_arch(s, || format!("archMap[{i}].subArchitectures[{j}]"))?;
            }
            arch_map.push((m.architecture, subs));
        }
        let architectures = raw.architectures.unwrap_or_default();
        for (i, a) in architectures.iter().enumerate() {
            check_arch(a, || format!("architectures[{i}]"))?;
        }
        let mut flags = InstallFlags::EMPTY;
        for f in raw.flags.unwrap_or_default() {
            flags |= match f.as_str() {
                "SECCOMP_FILTER_FLAG_LOG" => InstallFlags::LOG,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => InstallFlags::SPEC_ALLOW,
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => InstallFlags::WAIT_KILLABLE_RECV,
                "SECCOMP_FILTER_FLAG_TSYNC" => InstallFlags::EMPTY,
                _ => return Err(ProfileError::BadFlag { name: f }),
            };
        }
        let mut rules = Vec::new();
        for (index, value) in raw.syscalls.unwrap_or_default().into_iter().enumerate() {
            let s = RawSyscall::deserialize(value).map_err(|e| ProfileError::BadEntry {
                index,
                message: e.to_string(),
            })?;
            let mut names = s.names.unwrap_or_default();
            names.extend(s.name);
            let mut syscalls = Vec::with_capacity(names.len());
            for name in names {
                let sc = Syscall::by_name(&name)
                    .map_err(|_| ProfileError::UnknownSyscall { index, name })?;
                syscalls.push(sc);
            }
            let action = parse_action(&s.action, s.errno_ret, || {
                format!("syscalls[{index}].action")
            })?;
            let args = s.args.unwrap_or_default();
            if args.len() > 6 {
                return Err(ProfileError::TooManyArgs {
                    index,
                    count: args.len(),
                });
            }
            let mut conds = Vec::with_capacity(args.len());
            for (a, arg) in args.into_iter().enumerate() {
                if arg.index > 5 {
                    return Err(ProfileError::BadArgIndex {
                        index,
                        arg: a,
                        value: arg.index,
                    });
                }
                let op = match arg.op.as_str() {
                    "SCMP_CMP_EQ" => CmpOp::Eq(arg.value),
                    "SCMP_CMP_NE" => CmpOp::Ne(arg.value),
                    "SCMP_CMP_LT" => CmpOp::Lt(arg.value),
                    "SCMP_CMP_LE" => CmpOp::Le(arg.value),
                    "SCMP_CMP_GT" => CmpOp::Gt(arg.value),
                    "SCMP_CMP_GE" => CmpOp::Ge(arg.value),
                    // libseccomp: (arg & value) == valueTwo.
                    "SCMP_CMP_MASKED_EQ" => CmpOp::MaskedEq {
                        mask: arg.value,
                        value: arg.value_two,
                    },
                    _ => {
                        return Err(ProfileError::BadOperator {
                            index,
                            arg: a,
                            op: arg.op,
                        });
                    }
                };
                conds.push(Cond {
                    arg: arg.index as u8,
                    op,
                });
            }
            let ctx_filter = |f: Option<RawFilter>| -> Result<ContextFilter, ProfileError> {
                let f = f.unwrap_or_default();
                if let Some(bad) = f
                    .arches
                    .iter()
                    .flatten()
                    .find(|a| !FILTER_ARCH_NAMES.contains(&a.as_str()))
                {
                    return Err(ProfileError::BadFilterArch {
                        index,
                        name: bad.clone(),
                    });
                }
                let mut caps = 0u64;
                for c in f.caps.unwrap_or_default() {
                    let bit =
                        capability_bit(&c).ok_or(ProfileError::BadCapability { index, name: c })?;
                    caps |= 1 << bit;
                }
                let min_kernel = match f.min_kernel {
                    None => None,
                    Some(v) => Some(
                        KernelVersion::parse(&v)
                            .ok_or(ProfileError::BadKernelVersion { index, value: v })?,
                    ),
                };
                Ok(ContextFilter {
                    arches: f.arches.unwrap_or_default(),
                    caps,
                    min_kernel,
                })
            };
            rules.push(ProfileRule {
                syscalls,
                action,
                conds,
                includes: ctx_filter(s.includes)?,
                excludes: ctx_filter(s.excludes)?,
            });
        }
        Ok(Profile {
            default_action,
            arch_map,
            architectures,
            rules,
            flags,
            listener_path: raw.listener_path,
            listener_metadata: raw.listener_metadata,
        })
    }

    /// The default action.
    pub fn default_action(&self) -> Action {
        self.default_action
    }

    /// The validated `syscalls` entries, in order.
    pub fn rules(&self) -> &[ProfileRule] {
        &self.rules
    }

    /// Install flags the profile asks for (OCI `flags`; `TSYNC` is accepted and ignored:
    /// the filter is installed by the single-threaded child).
    pub fn flags(&self) -> InstallFlags {
        self.flags
    }

    /// The OCI `listenerPath` (a Unix socket to send the listener fd to), if any.
    pub fn listener_path(&self) -> Option<&std::path::Path> {
        self.listener_path.as_deref()
    }

    /// The OCI `listenerMetadata`, if any.
    pub fn listener_metadata(&self) -> Option<&str> {
        self.listener_metadata.as_deref()
    }

    /// The architectures a filter for `native` covers: `native` first, then the
    /// `archMap` sub-architectures of `native` (Docker) or the listed `architectures`
    /// (OCI) that this crate supports and a `native` kernel can run (i386 and x32 on
    /// x86_64, arm on aarch64). Others (MIPS on x86_64, say) cannot occur there and are
    /// left out; their calls get the foreign-architecture action.
    pub fn arches(&self, native: Arch) -> Vec<Arch> {
        let family: &[Arch] = match native {
            Arch::X86_64 => &[Arch::X86_64, Arch::X86, Arch::X32],
            Arch::Aarch64 => &[Arch::Aarch64, Arch::Arm],
            _ => &[],
        };
        let mut out = vec![native];
        let mut add = |name: &str| {
            if let Some(a) = Arch::from_scmp_name(name)
                && family.contains(&a)
                && !out.contains(&a)
            {
                out.push(a);
            }
        };
        for (main, subs) in &self.arch_map {
            if *main == native.scmp_name() {
                subs.iter().for_each(|s| add(s));
            }
        }
        self.architectures.iter().for_each(|s| add(s));
        out
    }

    /// The filter for `ctx`: the default action, foreign architectures killed
    /// (`KillProcess`), and the rules that apply in `ctx` (names absent on an
    /// architecture skipped there).
    pub fn to_filter(&self, ctx: &ProfileContext) -> Filter {
        let mut f = Filter::new(self.default_action);
        f.foreign_arch_action(Action::KillProcess);
        for rule in self.rules.iter().filter(|r| r.applies(ctx)) {
            for &sc in &rule.syscalls {
                f.rule_if_present(sc, rule.action, &rule.conds);
            }
        }
        f
    }

    /// Compiles the filter for `ctx` for [`Profile::arches`]`(ctx.arch)`.
    ///
    /// # Errors
    ///
    /// [`ProfileError::Compile`] if the program does not compile (too long, in practice).
    pub fn compile(&self, ctx: &ProfileContext) -> Result<Program, ProfileError> {
        self.to_filter(ctx)
            .compile(&self.arches(ctx.arch))
            .map_err(ProfileError::Compile)
    }
}

/// Docker's default profile compiled for `caps` on this machine, cached per process and
/// capability set (the facade's default).
///
/// # Errors
///
/// As [`ProfileContext::current`] and [`Profile::compile`].
pub fn docker_default_program(caps: u64) -> Result<Arc<Program>, ProfileError> {
    static CACHE: OnceLock<Mutex<HashMap<u64, Arc<Program>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&caps) {
        return Ok(Arc::clone(p));
    }
    let program = Arc::new(Profile::docker_default().compile(&ProfileContext::current(caps)?)?);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(caps, Arc::clone(&program));
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            KernelVersion::parse("6.18.0-rc1"),
            Some(KernelVersion::new(6, 18))
        );
        assert_eq!(KernelVersion::parse("4.8"), Some(KernelVersion::new(4, 8)));
        assert_eq!(KernelVersion::parse("4"), None);
        assert_eq!(KernelVersion::parse("x.y"), None);
        assert!(KernelVersion::running().is_ok());
    }

    #[test]
    fn capabilities() {
        assert_eq!(capability_bit("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(capability_bit("sys_admin"), Some(21));
        assert_eq!(capability_bit("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(capability_bit("CAP_NOPE"), None);
        assert_eq!(DOCKER_DEFAULT_CAPS.count_ones(), 14);
    }
}
