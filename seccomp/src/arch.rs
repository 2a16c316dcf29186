//! Architectures a filter can cover, and their syscall name/number tables.

use std::fmt;

use crate::tables;

/// `__X32_SYSCALL_BIT`: x32 system calls arrive under `AUDIT_ARCH_X86_64` with this bit set.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `AUDIT_ARCH_X86_64` (`EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_I386` (`EM_386 | __AUDIT_ARCH_LE`).
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64` (`EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
pub const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
/// `AUDIT_ARCH_ARM` (`EM_ARM | __AUDIT_ARCH_LE`).
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// A system-call ABI a filter can cover.
///
/// x86_64 and x32 share `AUDIT_ARCH_X86_64`; x32 calls are the ones whose number has
/// [`X32_SYSCALL_BIT`] set. A program compiled for [`Arch::X86_64`] alone sends x32 calls to
/// the filter's foreign-architecture action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Arch {
    /// 64-bit x86.
    X86_64,
    /// The x32 ABI on x86_64 kernels (x86_64 numbers with [`X32_SYSCALL_BIT`]).
    X32,
    /// 32-bit x86 (i386), also as a compat ABI on x86_64 kernels.
    X86,
    /// 64-bit ARM.
    Aarch64,
    /// 32-bit ARM EABI, also as a compat ABI on aarch64 kernels.
    Arm,
}

impl Arch {
    /// Every architecture this crate knows.
    pub const ALL: [Arch; 5] = [Arch::X86_64, Arch::X32, Arch::X86, Arch::Aarch64, Arch::Arm];

    /// The architecture this crate was compiled for.
    pub const fn native() -> Arch {
        #[cfg(target_arch = "x86_64")]
        {
            Arch::X86_64
        }
        #[cfg(target_arch = "x86")]
        {
            Arch::X86
        }
        #[cfg(target_arch = "aarch64")]
        {
            Arch::Aarch64
        }
        #[cfg(target_arch = "arm")]
        {
            Arch::Arm
        }
    }

    /// The native architecture plus the compat ABI its kernels usually also run
    /// (i386 on x86_64, arm on aarch64). x32 is left out; ask for it explicitly.
    pub fn native_family() -> &'static [Arch] {
        match Arch::native() {
            Arch::X86_64 => &[Arch::X86_64, Arch::X86],
            Arch::Aarch64 => &[Arch::Aarch64, Arch::Arm],
            Arch::X86 => &[Arch::X86],
            Arch::Arm => &[Arch::Arm],
            Arch::X32 => &[Arch::X32],
        }
    }

    /// The `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch`.
    pub const fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => AUDIT_ARCH_X86_64,
            Arch::X86 => AUDIT_ARCH_I386,
            Arch::Aarch64 => AUDIT_ARCH_AARCH64,
            Arch::Arm => AUDIT_ARCH_ARM,
        }
    }

    /// Whether system-call arguments are 64 bits wide on this ABI (x32 passes 64-bit
    /// registers too).
    pub const fn is_64bit(self) -> bool {
        matches!(self, Arch::X86_64 | Arch::X32 | Arch::Aarch64)
    }

    /// The libseccomp / OCI name (`SCMP_ARCH_X86_64`, ...).
    pub const fn scmp_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::X32 => "SCMP_ARCH_X32",
            Arch::X86 => "SCMP_ARCH_X86",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
            Arch::Arm => "SCMP_ARCH_ARM",
        }
    }

    /// Parses a libseccomp / OCI name (`SCMP_ARCH_X86_64`, ...). Other architectures
    /// libseccomp knows (MIPS, PPC, s390, RISC-V, ...) give `None`.
    pub fn from_scmp_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.scmp_name() == name)
    }

    /// The Go `GOARCH`-style names Docker profiles use in `includes.arches`.
    pub const fn go_names(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &["amd64"],
            Arch::X32 => &["x32"],
            Arch::X86 => &["386", "x86"],
            Arch::Aarch64 => &["arm64"],
            Arch::Arm => &["arm"],
        }
    }

    /// The number of system call `name` on this architecture, as it appears in
    /// `seccomp_data.nr` (x32 numbers include [`X32_SYSCALL_BIT`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use hutch_seccomp::Arch;
    /// assert_eq!(Arch::X86_64.syscall_number("getppid"), Some(110));
    /// assert_eq!(Arch::Aarch64.syscall_number("open"), None);
    /// ```
    pub fn syscall_number(self, name: &str) -> Option<u32> {
        match self {
            Arch::X32 => lookup(tables::X32_SPECIAL, name)
                .or_else(|| lookup(tables::X86_64, name))
                .map(|nr| nr | X32_SYSCALL_BIT),
            _ => lookup(self.table(), name),
        }
    }

    /// The name of system call `nr` on this architecture.
    pub fn syscall_name(self, nr: u32) -> Option<&'static str> {
        match self {
            Arch::X32 => {
                let nr = nr.checked_sub(X32_SYSCALL_BIT)?;
                if let Some(&(name, _)) = tables::X32_SPECIAL.iter().find(|e| e.1 == nr) {
                    return Some(name);
                }
                let (name, _) = tables::X86_64.iter().find(|e| e.1 == nr)?;
                // The 64-bit-only numbers of the calls x32 has its own entries for.
                (lookup(tables::X32_SPECIAL, name).is_none()).then_some(*name)
            }
            _ => self.table().iter().find(|e| e.1 == nr).map(|e| e.0),
        }
    }

    /// Every `(name, number)` of this architecture, sorted by name.
    pub fn syscalls(self) -> impl Iterator<Item = (&'static str, u32)> {
        let x32 = self == Arch::X32;
        self.table().iter().map(move |&(name, nr)| {
            if x32 {
                (name, Arch::X32.syscall_number(name).unwrap_or(nr))
            } else {
                (name, nr)
            }
        })
    }

    fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Arch::X86_64 | Arch::X32 => tables::X86_64,
            Arch::X86 => tables::X86,
            Arch::Aarch64 => tables::AARCH64,
            Arch::Arm => tables::ARM,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::X32 => "x32",
            Arch::X86 => "i386",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
        })
    }
}

fn lookup(table: &'static [(&'static str, u32)], name: &str) -> Option<u32> {
    table
        .binary_search_by(|e| e.0.cmp(name))
        .ok()
        .map(|i| table[i].1)
}

/// Interns `name` if it is a system call on any Linux architecture: one of ours, or one
/// that only other architectures (MIPS, PowerPC, s390, RISC-V, ...) have.
pub(crate) fn intern(name: &str) -> Option<(&'static str, bool)> {
    for t in [tables::X86_64, tables::X86, tables::AARCH64, tables::ARM] {
        if let Ok(i) = t.binary_search_by(|e| e.0.cmp(name)) {
            return Some((t[i].0, true));
        }
    }
    let i = tables::OTHER_ARCHES.binary_search(&name).ok()?;
    Some((tables::OTHER_ARCHES[i], false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for t in [
            tables::X86_64,
            tables::X86,
            tables::AARCH64,
            tables::ARM,
            tables::X32_SPECIAL,
        ] {
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        }
        assert!(tables::OTHER_ARCHES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn known_numbers() {
        assert_eq!(Arch::X86_64.syscall_number("read"), Some(0));
        assert_eq!(Arch::X86_64.syscall_number("mkdir"), Some(83));
        assert_eq!(Arch::X86.syscall_number("getppid"), Some(64));
        assert_eq!(Arch::X86.syscall_number("_llseek"), Some(140));
        assert_eq!(Arch::Aarch64.syscall_number("getppid"), Some(173));
        assert_eq!(Arch::Arm.syscall_number("getppid"), Some(64));
        assert_eq!(Arch::Arm.syscall_number("set_tls"), Some(0x0f0005));
        assert_eq!(Arch::X32.syscall_number("read"), Some(X32_SYSCALL_BIT));
        assert_eq!(
            Arch::X32.syscall_number("ioctl"),
            Some(X32_SYSCALL_BIT | 514)
        );
        assert_eq!(Arch::X32.syscall_name(X32_SYSCALL_BIT | 514), Some("ioctl"));
        assert_eq!(Arch::X32.syscall_name(X32_SYSCALL_BIT | 16), None);
        assert_eq!(Arch::X86_64.syscall_name(110), Some("getppid"));
        assert_eq!(Arch::X86_64.syscall_number("nonesuch"), None);
        assert_eq!(intern("cacheflush").map(|x| x.1), Some(true));
        assert_eq!(intern("s390_runtime_instr").map(|x| x.1), Some(false));
        assert!(intern("nonesuch").is_none());
    }

    #[test]
    fn names_round_trip() {
        for arch in Arch::ALL {
            for (name, nr) in arch.syscalls() {
                assert_eq!(arch.syscall_number(name), Some(nr), "{arch} {name}");
                // Aliases (arm's sync_file_range2) map to the first name with that number.
                let back = arch.syscall_name(nr).unwrap();
                assert_eq!(arch.syscall_number(back), Some(nr));
            }
        }
    }

    #[test]
    fn scmp_names() {
        for a in Arch::ALL {
            assert_eq!(Arch::from_scmp_name(a.scmp_name()), Some(a));
        }
        assert_eq!(Arch::from_scmp_name("SCMP_ARCH_MIPS"), None);
    }
}
