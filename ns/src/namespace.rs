//! The namespace types: [`Namespace`] (one kind) and [`Namespaces`] (a set of kinds).

use std::fmt;
use std::str::FromStr;

/// One kind of Linux namespace.
///
/// # References
/// - [namespaces(7)](https://man7.org/linux/man-pages/man7/namespaces.7.html)
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// Mount namespace (`CLONE_NEWNS`, `/proc/PID/ns/mnt`).
    Mount,
    /// UTS namespace: hostname and NIS domain name (`CLONE_NEWUTS`, `/proc/PID/ns/uts`).
    Uts,
    /// IPC namespace: System V IPC and POSIX message queues (`CLONE_NEWIPC`).
    Ipc,
    /// PID namespace (`CLONE_NEWPID`).
    Pid,
    /// Network namespace (`CLONE_NEWNET`).
    Net,
    /// User namespace (`CLONE_NEWUSER`).
    User,
    /// Cgroup namespace (`CLONE_NEWCGROUP`).
    Cgroup,
    /// Time namespace (`CLONE_NEWTIME`, Linux 5.6).
    Time,
}

impl Namespace {
    /// Every namespace kind, in a fixed order.
    pub const ALL: [Namespace; 8] = [
        Namespace::Mount,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Pid,
        Namespace::Net,
        Namespace::User,
        Namespace::Cgroup,
        Namespace::Time,
    ];

    /// The `CLONE_NEW*` flag for this kind, as used by `clone3`, `unshare` and `setns`.
    ///
    /// ```
    /// use hutch_ns::Namespace;
    /// assert_eq!(Namespace::Net.clone_flag(), 0x4000_0000);
    /// assert_eq!(Namespace::Time.clone_flag(), 0x80);
    /// ```
    pub const fn clone_flag(self) -> u64 {
        match self {
            Namespace::Mount => 0x0002_0000,  // CLONE_NEWNS
            Namespace::Uts => 0x0400_0000,    // CLONE_NEWUTS
            Namespace::Ipc => 0x0800_0000,    // CLONE_NEWIPC
            Namespace::Pid => 0x2000_0000,    // CLONE_NEWPID
            Namespace::Net => 0x4000_0000,    // CLONE_NEWNET
            Namespace::User => 0x1000_0000,   // CLONE_NEWUSER
            Namespace::Cgroup => 0x0200_0000, // CLONE_NEWCGROUP
            Namespace::Time => 0x0000_0080,   // CLONE_NEWTIME
        }
    }

    /// The kind whose `CLONE_NEW*` flag is exactly `flag`, if any.
    ///
    /// ```
    /// use hutch_ns::Namespace;
    /// assert_eq!(Namespace::from_clone_flag(0x80), Some(Namespace::Time));
    /// assert_eq!(Namespace::from_clone_flag(0x81), None);
    /// ```
    pub fn from_clone_flag(flag: u64) -> Option<Namespace> {
        Namespace::ALL
            .into_iter()
            .find(|ns| ns.clone_flag() == flag)
    }

    /// The file name under `/proc/PID/ns/` (`"mnt"`, `"uts"`, `"ipc"`, `"pid"`, `"net"`,
    /// `"user"`, `"cgroup"`, `"time"`).
    pub const fn proc_name(self) -> &'static str {
        match self {
            Namespace::Mount => "mnt",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Pid => "pid",
            Namespace::Net => "net",
            Namespace::User => "user",
            Namespace::Cgroup => "cgroup",
            Namespace::Time => "time",
        }
    }

    /// This kind as a one-element [`Namespaces`] set.
    pub const fn as_set(self) -> Namespaces {
        Namespaces::from_bits_retain(self.clone_flag())
    }
}

impl fmt::Display for Namespace {
    /// Writes [`Namespace::proc_name`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.proc_name())
    }
}

/// The text given to [`Namespace::from_str`] names no namespace kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown namespace kind {name:?} (expected one of mnt, uts, ipc, pid, net, user, cgroup, time)"
)]
pub struct ParseNamespaceError {
    /// The text that was not recognised.
    pub name: String,
}

impl FromStr for Namespace {
    type Err = ParseNamespaceError;

    /// Parses a `/proc/PID/ns/` name such as `"net"` (and `"mount"` as an alias of `"mnt"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "mount" {
            return Ok(Namespace::Mount);
        }
        Namespace::ALL
            .into_iter()
            .find(|ns| ns.proc_name() == s)
            .ok_or_else(|| ParseNamespaceError { name: s.to_owned() })
    }
}

bitflags::bitflags! {
    /// A set of namespace kinds whose bits are the kernel's `CLONE_NEW*` flags, so
    /// [`Namespaces::bits`] can be or-ed straight into `clone3`/`unshare` flags.
    ///
    /// ```
    /// use hutch_ns::{Namespace, Namespaces};
    /// let set = Namespaces::USER | Namespaces::NET;
    /// assert_eq!(set.bits(), 0x1000_0000 | 0x4000_0000);
    /// let kinds: Vec<Namespace> = set.namespaces().collect();
    /// assert_eq!(kinds, [Namespace::Net, Namespace::User]);
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Namespaces: u64 {
        /// `CLONE_NEWNS`.
        const MOUNT = Namespace::Mount.clone_flag();
        /// `CLONE_NEWUTS`.
        const UTS = Namespace::Uts.clone_flag();
        /// `CLONE_NEWIPC`.
        const IPC = Namespace::Ipc.clone_flag();
        /// `CLONE_NEWPID`.
        const PID = Namespace::Pid.clone_flag();
        /// `CLONE_NEWNET`.
        const NET = Namespace::Net.clone_flag();
        /// `CLONE_NEWUSER`.
        const USER = Namespace::User.clone_flag();
        /// `CLONE_NEWCGROUP`.
        const CGROUP = Namespace::Cgroup.clone_flag();
        /// `CLONE_NEWTIME`.
        const TIME = Namespace::Time.clone_flag();
    }
}

impl Namespaces {
    /// The kinds in this set as [`Namespace`] values, in the order of [`Namespace::ALL`].
    /// Bits that name no namespace kind are skipped.
    pub fn namespaces(self) -> impl Iterator<Item = Namespace> {
        Namespace::ALL
            .into_iter()
            .filter(move |ns| self.contains(ns.as_set()))
    }
}

impl From<Namespace> for Namespaces {
    fn from(ns: Namespace) -> Self {
        ns.as_set()
    }
}

impl FromIterator<Namespace> for Namespaces {
    fn from_iter<I: IntoIterator<Item = Namespace>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Namespaces::empty(), |acc, ns| acc | ns.as_set())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_match_libc() {
        assert_eq!(Namespace::Mount.clone_flag(), libc::CLONE_NEWNS as u64);
        assert_eq!(Namespace::Uts.clone_flag(), libc::CLONE_NEWUTS as u64);
        assert_eq!(Namespace::Ipc.clone_flag(), libc::CLONE_NEWIPC as u64);
        assert_eq!(Namespace::Pid.clone_flag(), libc::CLONE_NEWPID as u64);
        assert_eq!(Namespace::Net.clone_flag(), libc::CLONE_NEWNET as u64);
        assert_eq!(Namespace::User.clone_flag(), libc::CLONE_NEWUSER as u64);
        assert_eq!(Namespace::Cgroup.clone_flag(), libc::CLONE_NEWCGROUP as u64);
        assert_eq!(Namespace::Time.clone_flag(), 0x80);
    }

    #[test]
    fn names_round_trip() {
        for ns in Namespace::ALL {
            assert_eq!(ns.to_string().parse::<Namespace>().unwrap(), ns);
            assert_eq!(Namespace::from_clone_flag(ns.clone_flag()), Some(ns));
        }
        assert_eq!("mount".parse::<Namespace>().unwrap(), Namespace::Mount);
        let err = "network".parse::<Namespace>().unwrap_err();
        assert!(err.to_string().contains("\"network\""), "{err}");
    }

    #[test]
    fn set_iterates_kinds() {
        let all: Namespaces = Namespace::ALL.into_iter().collect();
        assert_eq!(all, Namespaces::all());
        assert_eq!(all.namespaces().collect::<Vec<_>>(), Namespace::ALL);
        let none = Namespaces::from_bits_retain(0x1);
        assert_eq!(none.namespaces().count(), 0);
    }
}
