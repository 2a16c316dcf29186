//! The filter model: a default action and rules per system call.

use std::fmt;

use crate::arch::{self, Arch, X32_SYSCALL_BIT};
use crate::error::UnknownSyscall;

/// What the kernel does with a system call (the `SECCOMP_RET_*` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Kill the whole process (`SECCOMP_RET_KILL_PROCESS`, Linux 4.14).
    KillProcess,
    /// Kill the calling thread (`SECCOMP_RET_KILL_THREAD`).
    KillThread,
    /// Send `SIGSYS` (`SECCOMP_RET_TRAP`).
    Trap,
    /// Fail the call with this errno (`SECCOMP_RET_ERRNO`; the kernel caps it at 4095).
    Errno(u16),
    /// Notify a ptrace tracer with this message (`SECCOMP_RET_TRACE`).
    Trace(u16),
    /// Allow and log (`SECCOMP_RET_LOG`, Linux 4.14).
    Log,
    /// Allow (`SECCOMP_RET_ALLOW`).
    Allow,
    /// Ask the supervisor holding the listener fd (`SECCOMP_RET_USER_NOTIF`, Linux 5.0).
    UserNotif,
}

impl Action {
    /// The 32-bit value a filter returns for this action.
    pub const fn to_raw(self) -> u32 {
        match self {
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | e as u32,
            Action::Trace(m) => libc::SECCOMP_RET_TRACE | m as u32,
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::UserNotif => libc::SECCOMP_RET_USER_NOTIF,
        }
    }

    /// The action a filter's 32-bit return value stands for; `None` for values the kernel
    /// does not define (it treats those as `KillProcess`). Data bits of actions that
    /// carry none are ignored, as the kernel does.
    pub const fn from_raw(raw: u32) -> Option<Action> {
        let data = (raw & libc::SECCOMP_RET_DATA) as u16;
        Some(match raw & libc::SECCOMP_RET_ACTION_FULL {
            libc::SECCOMP_RET_KILL_PROCESS => Action::KillProcess,
            libc::SECCOMP_RET_KILL_THREAD => Action::KillThread,
            libc::SECCOMP_RET_TRAP => Action::Trap,
            libc::SECCOMP_RET_ERRNO => Action::Errno(data),
            libc::SECCOMP_RET_TRACE => Action::Trace(data),
            libc::SECCOMP_RET_LOG => Action::Log,
            libc::SECCOMP_RET_ALLOW => Action::Allow,
            libc::SECCOMP_RET_USER_NOTIF => Action::UserNotif,
            _ => return None,
        })
    }

    /// Rank in the kernel's precedence order: lower wins when several filters (or, here,
    /// several rules) match.
    pub(crate) const fn rank(self) -> u8 {
        match self {
            Action::KillProcess => 0,
            Action::KillThread => 1,
            Action::Trap => 2,
            Action::Errno(_) => 3,
            Action::UserNotif => 4,
            Action::Trace(_) => 5,
            Action::Log => 6,
            Action::Allow => 7,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::KillProcess => f.write_str("kill-process"),
            Action::KillThread => f.write_str("kill-thread"),
            Action::Trap => f.write_str("trap"),
            Action::Errno(e) => write!(f, "errno({e})"),
            Action::Trace(m) => write!(f, "trace({m})"),
            Action::Log => f.write_str("log"),
            Action::Allow => f.write_str("allow"),
            Action::UserNotif => f.write_str("user-notif"),
        }
    }
}

/// A comparison of one 64-bit system-call argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `arg == value`.
    Eq(u64),
    /// `arg != value`.
    Ne(u64),
    /// `arg < value` (unsigned).
    Lt(u64),
    /// `arg <= value` (unsigned).
    Le(u64),
    /// `arg > value` (unsigned).
    Gt(u64),
    /// `arg >= value` (unsigned).
    Ge(u64),
    /// `arg & mask == value`.
    MaskedEq {
        /// Bits of the argument to compare.
        mask: u64,
        /// What those bits must be.
        value: u64,
    },
}

impl CmpOp {
    /// Whether `arg` satisfies this comparison.
    pub const fn holds(self, arg: u64) -> bool {
        match self {
            CmpOp::Eq(v) => arg == v,
            CmpOp::Ne(v) => arg != v,
            CmpOp::Lt(v) => arg < v,
            CmpOp::Le(v) => arg <= v,
            CmpOp::Gt(v) => arg > v,
            CmpOp::Ge(v) => arg >= v,
            CmpOp::MaskedEq { mask, value } => arg & mask == value,
        }
    }
}

/// A condition on argument `arg` (0..=5) of a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cond {
    /// The argument index, 0 to 5.
    pub arg: u8,
    /// The comparison.
    pub op: CmpOp,
}

impl Cond {
    /// `args[arg] == value`.
    pub const fn eq(arg: u8, value: u64) -> Cond {
        Cond {
            arg,
            op: CmpOp::Eq(value),
        }
    }
    /// `args[arg] != value`.
    pub const fn ne(arg: u8, value: u64) -> Cond {
        Cond {
            arg,
            op: CmpOp::Ne(value),
        }
    }
    /// `args[arg] < value`.
    pub const fn lt(arg: u8, value: u64) -> Cond {
        Cond {
            arg,
            op: CmpOp::Lt(value),
        }
    }
    /// `args[arg] <= value`.
    pub const fn le(arg: u8, value: u64) -> Cond {
        Cond {
            arg,
            op: CmpOp::Le(value),
        }
    }
    /// `args[arg] > value`.
    pub const fn gt(arg: u8, value: u64) -> Cond {
        Cond {
            arg,
            op: CmpOp::Gt(value),
        }
    }
    /// `args[arg] >= value`.
    pub const fn ge(arg: u8, value: u64) -> Cond {
        Cond {
            arg,
            op: CmpOp::Ge(value),
        }
    }
    /// `args[arg] & mask == value`.
    pub const fn masked_eq(arg: u8, mask: u64, value: u64) -> Cond {
        Cond {
            arg,
            op: CmpOp::MaskedEq { mask, value },
        }
    }

    /// Whether the condition holds for these arguments (`false` for an invalid index).
    pub fn holds(&self, args: &[u64; 6]) -> bool {
        args.get(usize::from(self.arg))
            .is_some_and(|&a| self.op.holds(a))
    }
}

/// A system call named portably; its number is looked up per architecture when a filter
/// is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Syscall(Repr);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Repr {
    /// The name and its number on each of [`Arch::ALL`] (`NONE` where absent), looked up
    /// once here so that compiling needs no table search.
    Name(&'static str, [u32; 5]),
    Number(Arch, u32),
}

const NONE: u32 = u32::MAX;

fn arch_index(a: Arch) -> usize {
    match a {
        Arch::X86_64 => 0,
        Arch::X32 => 1,
        Arch::X86 => 2,
        Arch::Aarch64 => 3,
        Arch::Arm => 4,
    }
}

impl Syscall {
    /// The system call called `name` (as in the kernel's tables: `mkdir`, `_llseek`,
    /// `clock_settime64`).
    ///
    /// # Errors
    ///
    /// [`UnknownSyscall`] if no Linux architecture has a system call of that name.
    /// Names that exist only on architectures this crate cannot target (MIPS, s390, ...)
    /// are accepted; they simply match nothing.
    pub fn by_name(name: &str) -> Result<Syscall, UnknownSyscall> {
        let (name, _) = arch::intern(name).ok_or_else(|| UnknownSyscall {
            name: name.to_owned(),
        })?;
        let mut numbers = [NONE; 5];
        for a in Arch::ALL {
            numbers[arch_index(a)] = a.syscall_number(name).unwrap_or(NONE);
        }
        Ok(Syscall(Repr::Name(name, numbers)))
    }

    /// The raw number `nr` on `arch` only (as in `seccomp_data.nr`, so x32 numbers include
    /// [`X32_SYSCALL_BIT`]).
    pub const fn by_number(arch: Arch, nr: u32) -> Syscall {
        Syscall(Repr::Number(arch, nr))
    }

    /// The name, if this was made by name.
    pub fn name(&self) -> Option<&'static str> {
        match self.0 {
            Repr::Name(n, _) => Some(n),
            Repr::Number(..) => None,
        }
    }

    /// The number on `arch`, if the call exists there.
    pub fn number(&self, arch: Arch) -> Option<u32> {
        match self.0 {
            Repr::Name(_, numbers) => Some(numbers[arch_index(arch)]).filter(|&n| n != NONE),
            Repr::Number(a, nr) => (a == arch).then_some(nr),
        }
    }
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Name(n, _) => f.write_str(n),
            Repr::Number(a, nr) => write!(f, "{a}:{nr}"),
        }
    }
}

/// One rule: if the system call is `syscall` and every condition holds, `action`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// The system call.
    pub syscall: Syscall,
    /// What to do when the rule matches.
    pub action: Action,
    /// Conditions, all of which must hold (at most six).
    pub conds: Vec<Cond>,
    /// Whether the system call may be missing on every architecture compiled for.
    pub optional: bool,
}

impl Rule {
    /// Whether the rule matches system call `nr` with `args` on `arch`.
    pub fn matches(&self, arch: Arch, nr: u32, args: &[u64; 6]) -> bool {
        self.syscall.number(arch) == Some(nr) && self.conds.iter().all(|c| c.holds(args))
    }
}

/// The data a seccomp filter sees (`struct seccomp_data`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct SeccompData {
    /// The system call number.
    pub nr: i32,
    /// The `AUDIT_ARCH_*` value.
    pub arch: u32,
    /// The instruction pointer at the call.
    pub instruction_pointer: u64,
    /// The six arguments, zero-extended from 32 bits on 32-bit ABIs.
    pub args: [u64; 6],
}

impl SeccompData {
    /// A call of `nr` on `arch` with `args`.
    pub const fn new(arch: Arch, nr: u32, args: [u64; 6]) -> SeccompData {
        SeccompData {
            nr: nr as i32,
            arch: arch.audit_arch(),
            instruction_pointer: 0,
            args,
        }
    }

    /// The 32-bit word at byte `offset` (a multiple of 4 below 64), as `BPF_LD|BPF_ABS`
    /// reads it.
    pub fn word(&self, offset: u32) -> Option<u32> {
        let lo_hi = |v: u64, second: bool| {
            if second == cfg!(target_endian = "little") {
                (v >> 32) as u32
            } else {
                v as u32
            }
        };
        if !offset.is_multiple_of(4) {
            return None;
        }
        Some(match offset {
            0 => self.nr as u32,
            4 => self.arch,
            8 | 12 => lo_hi(self.instruction_pointer, offset == 12),
            16..=60 => {
                let i = ((offset - 16) / 8) as usize;
                lo_hi(self.args[i], (offset - 16) % 8 == 4)
            }
            _ => return None,
        })
    }
}

/// A seccomp filter: a default action, rules, and what to do with calls from
/// architectures the filter was not compiled for.
///
/// Setters take `&mut self` and cannot fail; [`Filter::compile`] checks everything.
///
/// When several rules of one system call match, the most restrictive action wins, in the
/// kernel's order for stacked filters (kill-process, kill-thread, trap, errno,
/// user-notif, trace, log, allow); between equally ranked actions the rule added first
/// wins. So rules with one action combine as an OR, and the conditions within a rule as
/// an AND.
///
/// # Examples
///
/// ```
/// use hutch_seccomp::{Action, Arch, Cond, Filter, SeccompData, Syscall};
///
/// let mut filter = Filter::new(Action::Allow);
/// filter
///     .rule(Syscall::by_name("mkdir")?, Action::Errno(libc::EPERM as u16), &[])
///     .rule(Syscall::by_name("socket")?, Action::Errno(libc::EACCES as u16),
///           &[Cond::eq(0, libc::AF_PACKET as u64)]);
/// let program = filter.compile(&[Arch::X86_64])?;
/// let call = SeccompData::new(Arch::X86_64, 83, [0; 6]); // mkdir
/// assert_eq!(program.run(&call)?, Action::Errno(1).to_raw());
/// assert_eq!(filter.evaluate(&[Arch::X86_64], &call), Action::Errno(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Filter {
    pub(crate) default: Action,
    pub(crate) foreign: Action,
    pub(crate) rules: Vec<Rule>,
}

impl Filter {
    /// A filter with `default` for calls no rule matches; foreign architectures are
    /// killed ([`Action::KillProcess`]) until [`Filter::foreign_arch_action`] says otherwise.
    pub fn new(default: Action) -> Filter {
        Filter {
            default,
            foreign: Action::KillProcess,
            rules: Vec::new(),
        }
    }

    /// The action for calls that match no rule.
    pub fn default_action(&mut self, action: Action) -> &mut Self {
        self.default = action;
        self
    }

    /// The action for calls from an architecture (or x32 ABI) the program was not
    /// compiled for (libseccomp's "bad arch" action).
    pub fn foreign_arch_action(&mut self, action: Action) -> &mut Self {
        self.foreign = action;
        self
    }

    /// Adds a rule. [`Filter::compile`] fails if the call exists on none of the
    /// architectures compiled for, if there are more than six conditions, or if an
    /// argument index is above 5.
    pub fn rule(&mut self, syscall: Syscall, action: Action, conds: &[Cond]) -> &mut Self {
        self.push(syscall, action, conds, false)
    }

    /// Adds a rule that is skipped where the system call does not exist (for portable
    /// lists such as Docker's, which name calls only some architectures have).
    pub fn rule_if_present(
        &mut self,
        syscall: Syscall,
        action: Action,
        conds: &[Cond],
    ) -> &mut Self {
        self.push(syscall, action, conds, true)
    }

    fn push(
        &mut self,
        syscall: Syscall,
        action: Action,
        conds: &[Cond],
        optional: bool,
    ) -> &mut Self {
        self.rules.push(Rule {
            syscall,
            action,
            conds: conds.to_vec(),
            optional,
        });
        self
    }

    /// The default action.
    pub fn get_default_action(&self) -> Action {
        self.default
    }

    /// The foreign-architecture action.
    pub fn get_foreign_arch_action(&self) -> Action {
        self.foreign
    }

    /// The rules, in the order added.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Decides `data` directly from the model, as a program compiled for `arches` would.
    pub fn evaluate(&self, arches: &[Arch], data: &SeccompData) -> Action {
        let Some(arch) = classify(arches, data) else {
            return self.foreign;
        };
        let nr = data.nr as u32;
        self.rules
            .iter()
            .filter(|r| r.matches(arch, nr, &data.args))
            .min_by_key(|r| r.action.rank())
            .map_or(self.default, |r| r.action)
    }
}

/// Which of `arches` a call belongs to, if any. Under `AUDIT_ARCH_X86_64`, numbers with
/// the x32 bit are x32 calls, except -1 (what a tracer sets to skip a call), which is
/// x86_64's when x86_64 is listed, as in libseccomp.
pub(crate) fn classify(arches: &[Arch], data: &SeccompData) -> Option<Arch> {
    let nr = data.nr as u32;
    let has = |a: Arch| arches.contains(&a);
    if data.arch == crate::arch::AUDIT_ARCH_X86_64 {
        let x32 = nr >= X32_SYSCALL_BIT && !(nr == u32::MAX && has(Arch::X86_64));
        let arch = if x32 { Arch::X32 } else { Arch::X86_64 };
        return has(arch).then_some(arch);
    }
    arches.iter().copied().find(|a| a.audit_arch() == data.arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_actions_round_trip() {
        for a in [
            Action::KillProcess,
            Action::KillThread,
            Action::Trap,
            Action::Errno(1),
            Action::Errno(4095),
            Action::Trace(7),
            Action::Log,
            Action::Allow,
            Action::UserNotif,
        ] {
            assert_eq!(Action::from_raw(a.to_raw()), Some(a));
        }
        assert_eq!(Action::from_raw(0x1234_0000), None);
    }

    #[test]
    fn most_restrictive_rule_wins() {
        let getppid = Syscall::by_name("getppid").unwrap();
        let mut f = Filter::new(Action::Allow);
        f.rule(getppid, Action::Log, &[])
            .rule(getppid, Action::Errno(5), &[Cond::eq(0, 1)])
            .rule(getppid, Action::Errno(6), &[Cond::eq(1, 1)]);
        let at = |a0, a1| SeccompData::new(Arch::X86_64, 110, [a0, a1, 0, 0, 0, 0]);
        assert_eq!(f.evaluate(&[Arch::X86_64], &at(0, 0)), Action::Log);
        assert_eq!(f.evaluate(&[Arch::X86_64], &at(1, 1)), Action::Errno(5));
        assert_eq!(f.evaluate(&[Arch::X86_64], &at(0, 1)), Action::Errno(6));
        assert_eq!(f.evaluate(&[Arch::X86], &at(0, 0)), Action::KillProcess);
    }

    #[test]
    fn words() {
        let d = SeccompData {
            nr: -1,
            arch: 7,
            instruction_pointer: 0x1111_2222_3333_4444,
            args: [0x0102_0304_0506_0708, 0, 0, 0, 0, u64::MAX],
        };
        assert_eq!(d.word(0), Some(u32::MAX));
        assert_eq!(d.word(4), Some(7));
        assert_eq!(d.word(8), Some(0x3333_4444));
        assert_eq!(d.word(12), Some(0x1111_2222));
        assert_eq!(d.word(16), Some(0x0506_0708));
        assert_eq!(d.word(20), Some(0x0102_0304));
        assert_eq!(d.word(60), Some(u32::MAX));
        assert_eq!(d.word(64), None);
        assert_eq!(d.word(2), None);
    }

    #[test]
    fn unknown_name() {
        let e = Syscall::by_name("mkdirr").unwrap_err();
        assert!(e.to_string().contains("mkdirr"));
    }
}
