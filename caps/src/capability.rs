//! One capability: [`Capability`], its kernel number and its names.

use std::fmt;
use std::str::FromStr;

macro_rules! capabilities {
    ($( $(#[$doc:meta])* $variant:ident = $num:literal, $name:literal, $oci:literal; )*) => {
        /// One Linux capability, numbered as in `<linux/capability.h>`.
        ///
        /// Every capability up to `CAP_CHECKPOINT_RESTORE` (40, Linux 5.9) is here. A newer
        /// kernel may know more; those numbers (up to
        /// [`kernel_last_cap`](crate::kernel_last_cap)) can still be held in a
        /// [`CapSet`](crate::CapSet), which prints them as plain numbers.
        ///
        /// Names: [`name`](Capability::name) is the spelling `getcap`, `setcap` and
        /// `capsh` use (`cap_net_raw`); [`oci_name`](Capability::oci_name) and `Display`
        /// give the spelling of the kernel headers, Docker and the OCI runtime spec
        /// (`CAP_NET_RAW`). [`FromStr`] accepts both, in any case, and also the Docker
        /// short form without the prefix (`NET_RAW`).
        ///
        /// ```
        /// use hutch_caps::Capability;
        /// let cap: Capability = "NET_RAW".parse()?;
        /// assert_eq!(cap, Capability::NetRaw);
        /// assert_eq!(cap.number(), 13);
        /// assert_eq!(cap.name(), "cap_net_raw");
        /// assert_eq!(cap.to_string(), "CAP_NET_RAW");
        /// assert_eq!("cap_net_raw".parse::<Capability>()?, cap);
        /// # Ok::<(), hutch_caps::ParseCapabilityError>(())
        /// ```
        ///
        /// # References
        /// - [capabilities(7)](https://man7.org/linux/man-pages/man7/capabilities.7.html)
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Capability {
            $(
                $(#[$doc])*
                #[doc(alias = $oci)]
                #[doc(alias = $name)]
                $variant = $num,
            )*
        }

        impl Capability {
            /// Every capability this crate knows, in kernel-number order
            /// (`ALL[n].number() == n`).
            pub const ALL: [Capability; Capability::COUNT] = [$(Capability::$variant,)*];

            /// The `getcap`/`capsh` name: `cap_net_raw`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Capability::$variant => $name,)*
                }
            }

            /// The kernel-header, Docker and OCI name: `CAP_NET_RAW`.
            pub const fn oci_name(self) -> &'static str {
                match self {
                    $(Capability::$variant => $oci,)*
                }
            }
        }
    };
}

capabilities! {
    /// Change file owners and groups (`chown(2)`).
    Chown = 0, "cap_chown", "CAP_CHOWN";
    /// Bypass file read, write and execute permission checks.
    DacOverride = 1, "cap_dac_override", "CAP_DAC_OVERRIDE";
    /// Bypass file read and directory read/search permission checks.
    DacReadSearch = 2, "cap_dac_read_search", "CAP_DAC_READ_SEARCH";
    /// Bypass checks that the file's owner is the caller (`chmod`, `utime`, ...).
    Fowner = 3, "cap_fowner", "CAP_FOWNER";
    /// Keep set-user-ID and set-group-ID bits when a file is modified.
    Fsetid = 4, "cap_fsetid", "CAP_FSETID";
    /// Bypass permission checks for sending signals.
    Kill = 5, "cap_kill", "CAP_KILL";
    /// Change group ids; forge gids in socket credentials; write gid maps.
    Setgid = 6, "cap_setgid", "CAP_SETGID";
    /// Change user ids; forge uids in socket credentials; write uid maps.
    Setuid = 7, "cap_setuid", "CAP_SETUID";
    /// Change the bounding set and the inheritable set beyond the permitted set; securebits.
    Setpcap = 8, "cap_setpcap", "CAP_SETPCAP";
    /// Set the immutable and append-only inode flags.
    LinuxImmutable = 9, "cap_linux_immutable", "CAP_LINUX_IMMUTABLE";
    /// Bind sockets to ports below 1024.
    NetBindService = 10, "cap_net_bind_service", "CAP_NET_BIND_SERVICE";
    /// Unused (socket broadcasting and multicast).
    NetBroadcast = 11, "cap_net_broadcast", "CAP_NET_BROADCAST";
    /// Network administration: interfaces, routes, firewall, ...
    NetAdmin = 12, "cap_net_admin", "CAP_NET_ADMIN";
    /// Raw and packet sockets.
    NetRaw = 13, "cap_net_raw", "CAP_NET_RAW";
    /// Lock memory (`mlock`, `SHM_LOCK`).
    IpcLock = 14, "cap_ipc_lock", "CAP_IPC_LOCK";
    /// Bypass permission checks on System V IPC objects.
    IpcOwner = 15, "cap_ipc_owner", "CAP_IPC_OWNER";
    /// Load and unload kernel modules.
    SysModule = 16, "cap_sys_module", "CAP_SYS_MODULE";
    /// Raw I/O: `iopl`, `ioperm`, `/dev/mem`, raw block devices.
    SysRawio = 17, "cap_sys_rawio", "CAP_SYS_RAWIO";
    /// `chroot(2)` and changing mount namespaces with `setns`.
    SysChroot = 18, "cap_sys_chroot", "CAP_SYS_CHROOT";
    /// Trace any process (`ptrace`, `process_vm_readv`).
    SysPtrace = 19, "cap_sys_ptrace", "CAP_SYS_PTRACE";
    /// Process accounting (`acct(2)`).
    SysPacct = 20, "cap_sys_pacct", "CAP_SYS_PACCT";
    /// The catch-all administration capability (mount, swapon, sethostname, ...).
    SysAdmin = 21, "cap_sys_admin", "CAP_SYS_ADMIN";
    /// `reboot(2)` and `kexec_load(2)`.
    SysBoot = 22, "cap_sys_boot", "CAP_SYS_BOOT";
    /// Raise priorities and change scheduling of any process.
    SysNice = 23, "cap_sys_nice", "CAP_SYS_NICE";
    /// Override resource limits and quotas.
    SysResource = 24, "cap_sys_resource", "CAP_SYS_RESOURCE";
    /// Set the system clock.
    SysTime = 25, "cap_sys_time", "CAP_SYS_TIME";
    /// `vhangup(2)` and privileged terminal ioctls.
    SysTtyConfig = 26, "cap_sys_tty_config", "CAP_SYS_TTY_CONFIG";
    /// Create device nodes with `mknod(2)`.
    Mknod = 27, "cap_mknod", "CAP_MKNOD";
    /// Take file leases on any file.
    Lease = 28, "cap_lease", "CAP_LEASE";
    /// Write to the kernel audit log.
    AuditWrite = 29, "cap_audit_write", "CAP_AUDIT_WRITE";
    /// Configure kernel auditing.
    AuditControl = 30, "cap_audit_control", "CAP_AUDIT_CONTROL";
    /// Set file capabilities.
    Setfcap = 31, "cap_setfcap", "CAP_SETFCAP";
    /// Override mandatory access control (Smack).
    MacOverride = 32, "cap_mac_override", "CAP_MAC_OVERRIDE";
    /// Configure mandatory access control (Smack).
    MacAdmin = 33, "cap_mac_admin", "CAP_MAC_ADMIN";
    /// Privileged `syslog(2)` operations.
    Syslog = 34, "cap_syslog", "CAP_SYSLOG";
    /// Set alarms that wake the system.
    WakeAlarm = 35, "cap_wake_alarm", "CAP_WAKE_ALARM";
    /// Block system suspend (`EPOLLWAKEUP`).
    BlockSuspend = 36, "cap_block_suspend", "CAP_BLOCK_SUSPEND";
    /// Read the audit log through a multicast netlink socket (Linux 3.16).
    AuditRead = 37, "cap_audit_read", "CAP_AUDIT_READ";
    /// Performance monitoring (`perf_event_open`, Linux 5.8).
    Perfmon = 38, "cap_perfmon", "CAP_PERFMON";
    /// Privileged BPF operations (Linux 5.8).
    Bpf = 39, "cap_bpf", "CAP_BPF";
    /// Checkpoint/restore operations (Linux 5.9).
    CheckpointRestore = 40, "cap_checkpoint_restore", "CAP_CHECKPOINT_RESTORE";
}

impl Capability {
    /// How many capabilities this crate knows (41: numbers 0 to 40).
    pub const COUNT: usize = 41;

    /// The last capability number this crate knows (`CAP_LAST_CAP` of Linux 5.9 to 6.x).
    pub const LAST: Capability = Capability::CheckpointRestore;

    /// The kernel's number for this capability (`CAP_NET_RAW` is 13).
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The capability with kernel number `n`, if this crate knows it.
    ///
    /// ```
    /// use hutch_caps::Capability;
    /// assert_eq!(Capability::from_number(21), Some(Capability::SysAdmin));
    /// assert_eq!(Capability::from_number(41), None);
    /// ```
    pub const fn from_number(n: u8) -> Option<Capability> {
        if (n as usize) < Capability::COUNT {
            Some(Capability::ALL[n as usize])
        } else {
            None
        }
    }

    /// This capability's bit in a 64-bit capability mask (`1 << number`).
    pub const fn bit(self) -> u64 {
        1 << self.number()
    }
}

impl fmt::Display for Capability {
    /// Writes the OCI name (`CAP_NET_RAW`); see [`Capability::name`] for `cap_net_raw`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.oci_name())
    }
}

/// A capability name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown capability {name:?} (expected a name such as cap_net_raw, CAP_NET_RAW or NET_RAW)"
)]
pub struct ParseCapabilityError {
    /// The text that was given.
    pub name: String,
}

impl FromStr for Capability {
    type Err = ParseCapabilityError;

    /// Parses `cap_net_raw`, `CAP_NET_RAW` or `NET_RAW`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bare = match t.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("cap_") => &t[4..],
            _ => t,
        };
        Capability::ALL
            .into_iter()
            .find(|c| c.name()[4..].eq_ignore_ascii_case(bare))
            .ok_or_else(|| ParseCapabilityError { name: s.to_owned() })
    }
}

/// Conversion from the `caps` crate's enum (the `caps` dependency exists for this interop).
///
/// ```
/// use hutch_caps::Capability;
/// assert_eq!(Capability::try_from(caps::Capability::CAP_BPF), Ok(Capability::Bpf));
/// ```
impl TryFrom<caps::Capability> for Capability {
    type Error = UnknownCapsCapability;

    /// Fails only for the `caps` crate's hidden placeholder variant.
    fn try_from(c: caps::Capability) -> Result<Self, Self::Error> {
        Capability::from_number(c.index()).ok_or(UnknownCapsCapability(c.index()))
    }
}

/// A `caps::Capability` with no counterpart here (its hidden placeholder variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("caps::Capability with index {0} is not a known capability")]
pub struct UnknownCapsCapability(pub u8);

impl From<Capability> for caps::Capability {
    /// Every capability here exists in `caps` 0.5.
    fn from(c: Capability) -> caps::Capability {
        c.oci_name()
            .parse()
            .unwrap_or_else(|_| unreachable!("caps 0.5 knows {}", c.oci_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_positions() {
        for (i, c) in Capability::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(c.number()), i);
            assert_eq!(Capability::from_number(i as u8), Some(c));
            assert_eq!(c.oci_name(), c.name().to_ascii_uppercase());
            assert!(c.name().starts_with("cap_"));
        }
        assert_eq!(Capability::LAST.number(), 40);
        assert_eq!(Capability::from_number(41), None);
        assert_eq!(Capability::from_number(255), None);
    }

    #[test]
    fn parse_all_spellings() {
        for c in Capability::ALL {
            assert_eq!(c.name().parse(), Ok(c));
            assert_eq!(c.oci_name().parse(), Ok(c));
            assert_eq!(c.oci_name()[4..].parse(), Ok(c));
            assert_eq!(c.to_string().parse(), Ok(c));
            assert_eq!(format!(" Cap_{} ", &c.name()[4..]).parse(), Ok(c));
        }
        assert!("cap_".parse::<Capability>().is_err());
        assert!("".parse::<Capability>().is_err());
        assert!("NET_RAWX".parse::<Capability>().is_err());
        assert!("cap_cap_net_raw".parse::<Capability>().is_err());
        let e = "bogus".parse::<Capability>().unwrap_err();
        assert_eq!(e.name, "bogus");
        assert!(e.to_string().contains("\"bogus\""));
    }

    /// The names and numbers agree with the `caps` crate's table.
    #[test]
    fn agrees_with_caps_crate() {
        let theirs = caps::all();
        assert_eq!(theirs.len(), Capability::COUNT);
        for t in theirs {
            let ours = Capability::try_from(t).unwrap();
            assert_eq!(ours.oci_name(), t.to_string());
            assert_eq!(ours.bit(), t.bitmask());
            assert_eq!(caps::Capability::from(ours), t);
        }
    }
}
