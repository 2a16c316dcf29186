//! Error types, one per operation.

use std::io;

use crate::arch::Arch;

/// A system-call name that no Linux architecture has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown system call name {name:?}")]
pub struct UnknownSyscall {
    /// The name asked for.
    pub name: String,
}

/// Why [`Filter::compile`](crate::Filter::compile) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// No architecture was given.
    #[error("no architecture to compile the filter for")]
    NoArch,
    /// A rule has more than six conditions.
    #[error("rule for {syscall} has {count} conditions; at most 6 are allowed")]
    TooManyConds {
        /// The rule's system call.
        syscall: String,
        /// How many conditions it has.
        count: usize,
    },
    /// A condition names an argument above 5.
    #[error("rule for {syscall} tests argument {arg}; system calls have arguments 0 to 5")]
    BadArgIndex {
        /// The rule's system call.
        syscall: String,
        /// The index.
        arg: u8,
    },
    /// A rule's system call exists on none of the architectures (and the rule is not
    /// optional).
    #[error("system call {syscall} does not exist on {arches:?}")]
    NotOnArch {
        /// The system call.
        syscall: String,
        /// The architectures compiled for.
        arches: Vec<Arch>,
    },
    /// The program is longer than the kernel accepts (`BPF_MAXINSNS`, 4096).
    #[error("program of {len} instructions is longer than BPF_MAXINSNS (4096)")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// A program with no instructions.
    #[error("empty BPF program")]
    Empty,
}

/// A program the in-crate interpreter (and the kernel's verifier) would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid BPF program at instruction {pc}: {reason}")]
pub struct InterpError {
    /// The offending instruction.
    pub pc: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// Why a seccomp profile could not be read or turned into a filter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// The text is not valid JSON for the format, at this line and column.
    #[error("malformed seccomp profile JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's description (field names included).
        message: String,
    },
    /// An entry of `syscalls` has a missing field or a value of the wrong type.
    #[error("syscalls[{index}]: {message}")]
    BadEntry {
        /// Index in `syscalls`.
        index: usize,
        /// The parser's description (names the field).
        message: String,
    },
    /// An entry of `syscalls` names a system call no Linux architecture has.
    #[error("syscalls[{index}]: unknown system call {name:?}")]
    UnknownSyscall {
        /// Index in `syscalls`.
        index: usize,
        /// The name.
        name: String,
    },
    /// An action string is not one of the `SCMP_ACT_*` names.
    #[error("{location}: unknown action {action:?}")]
    BadAction {
        /// `defaultAction` or `syscalls[N].action`.
        location: String,
        /// The string.
        action: String,
    },
    /// An argument condition has an index above 5.
    #[error("syscalls[{index}].args[{arg}]: argument index {value} is above 5")]
    BadArgIndex {
        /// Index in `syscalls`.
        index: usize,
        /// Index in `args`.
        arg: usize,
        /// The offending index.
        value: u32,
    },
    /// An argument condition has an unknown operator.
    #[error("syscalls[{index}].args[{arg}]: unknown operator {op:?}")]
    BadOperator {
        /// Index in `syscalls`.
        index: usize,
        /// Index in `args`.
        arg: usize,
        /// The string.
        op: String,
    },
    /// More than six argument conditions.
    #[error("syscalls[{index}]: {count} argument conditions; at most 6 are allowed")]
    TooManyArgs {
        /// Index in `syscalls`.
        index: usize,
        /// How many.
        count: usize,
    },
    /// An architecture name is not one of the `SCMP_ARCH_*` names.
    #[error("{location}: unknown architecture {name:?}")]
    BadArch {
        /// Where it was.
        location: String,
        /// The string.
        name: String,
    },
    /// An `includes`/`excludes` architecture is not a name Docker or Go use (`amd64`, `x86`,
    /// `arm64`, `s390x`, ...): a misspelt one would silently never match.
    #[error("syscalls[{index}]: unknown architecture {name:?} in includes/excludes")]
    BadFilterArch {
        /// Index in `syscalls`.
        index: usize,
        /// The string.
        name: String,
    },
    /// A capability name is not one of the `CAP_*` names.
    #[error("syscalls[{index}]: unknown capability {name:?}")]
    BadCapability {
        /// Index in `syscalls`.
        index: usize,
        /// The string.
        name: String,
    },
    /// A `minKernel` value is not `MAJOR.MINOR`.
    #[error("syscalls[{index}]: bad minKernel {value:?} (expected MAJOR.MINOR)")]
    BadKernelVersion {
        /// Index in `syscalls`.
        index: usize,
        /// The string.
        value: String,
    },
    /// An errno value above 4095.
    #[error("{location}: errno {value} is above 4095")]
    BadErrno {
        /// Where it was.
        location: String,
        /// The value.
        value: u32,
    },
    /// A flag string is not one of the `SECCOMP_FILTER_FLAG_*` names.
    #[error("flags: unknown flag {name:?}")]
    BadFlag {
        /// The string.
        name: String,
    },
    /// The profile file could not be read.
    #[error("cannot read seccomp profile {path}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The resolved filter does not compile.
    #[error("the profile's filter does not compile")]
    Compile(#[source] CompileError),
}

/// A failed operation on a seccomp user-notification listener.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// An ioctl or system call failed.
    #[error("seccomp notification {op} failed (notification id {id:#x})")]
    Io {
        /// `SECCOMP_IOCTL_NOTIF_RECV`, `..._SEND`, `..._ADDFD`, `..._ID_VALID`,
        /// `process_vm_readv`, ...
        op: &'static str,
        /// The notification id (0 for `recv`).
        id: u64,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The notification is no longer valid: the target died or its call was
    /// interrupted, so data read from it must not be trusted.
    #[error("seccomp notification {id:#x} is no longer valid")]
    Stale {
        /// The notification id.
        id: u64,
    },
}

/// A failed seccomp operation in the parent (probing, fd passing).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// A system call failed.
    #[error("{op} failed")]
    Io {
        /// The operation.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}
