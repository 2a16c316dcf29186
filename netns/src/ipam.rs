//! Address allocation (IPAM) shared by threads and processes: one lease file per address
//! in a state directory, created and removed under an exclusive `flock` on `DIR/.lock`.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::cidr::Cidr;
use crate::sys;

/// The process that holds a lease: its pid and its start time (field 22 of
/// `/proc/PID/stat`, in clock ticks since boot), so a recycled pid is not taken for the
/// owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The process id.
    pub pid: u32,
    /// The process's start time in clock ticks after boot.
    pub start_time: u64,
}

/// Reads the state and start time of `pid` from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> io::Result<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
}

/// State and start time from the text of a `/proc/PID/stat` file.
fn parse_stat(text: &str) -> Option<(char, u64)> {
    // The command name (field 2) may hold spaces and parentheses: split at the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields 3.. : state is field 3, start time is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

impl Owner {
    /// The calling process.
    ///
    /// # Errors
    /// The error of reading `/proc/self/stat`.
    pub fn current() -> io::Result<Owner> {
        Owner::of(std::process::id())
    }

    /// Process `pid`, as it is now.
    ///
    /// # Errors
    /// `ENOENT` if there is no such process.
    pub fn of(pid: u32) -> io::Result<Owner> {
        let (_, start_time) = proc_stat(pid)?;
        Ok(Owner { pid, start_time })
    }

    /// Whether this process still runs: the pid exists, is not a zombie, and started at
    /// the recorded time.
    pub fn is_alive(&self) -> bool {
        match proc_stat(self.pid) {
            Ok((state, start)) => start == self.start_time && state != 'Z' && state != 'X',
            Err(_) => false,
        }
    }
}

impl fmt::Display for Owner {
    /// Writes `PID START_TIME`, the lease file's content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.pid, self.start_time)
    }
}

impl FromStr for Owner {
    type Err = ();

    fn from_str(s: &str) -> Result<Owner, ()> {
        let mut it = s.split_ascii_whitespace();
        let pid = it.next().ok_or(())?.parse().map_err(|_| ())?;
        let start_time = it.next().ok_or(())?.parse().map_err(|_| ())?;
        if it.next().is_some() || pid == 0 {
            return Err(());
        }
        Ok(Owner { pid, start_time })
    }
}

/// An error from address allocation.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// A file operation in the state directory failed.
    #[error("cannot {op} {path}")]
    Io {
        /// What was being done (`create`, `lock`, `read`, `remove`).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Every usable address of the subnet is leased.
    #[error("no free address left in {subnet}")]
    Exhausted {
        /// The subnet.
        subnet: Cidr,
    },
    /// The requested address is outside the subnet.
    #[error("address {addr} is not in subnet {subnet}")]
    NotInSubnet {
        /// The address asked for.
        addr: IpAddr,
        /// The subnet.
        subnet: Cidr,
    },
    /// The requested address is the network, broadcast or gateway address.
    #[error("address {addr} is reserved in {subnet} (network, broadcast or gateway)")]
    Reserved {
        /// The address asked for.
        addr: IpAddr,
        /// The subnet.
        subnet: Cidr,
    },
    /// The requested address is leased already.
    #[error("address {addr} is already in use")]
    InUse {
        /// The address asked for.
        addr: IpAddr,
        /// Its holder, if the lease file could be read.
        owner: Option<Owner>,
    },
}

/// Picks the lowest usable offset in a network of `size` addresses that is neither in
/// `used` nor `reserved`; offset 0 (the network address) and, for IPv4 networks larger
/// than two addresses, the last one (broadcast) are never returned.
pub fn next_free(size: u128, ipv4: bool, used: &BTreeSet<u128>) -> Option<u128> {
    let last = if ipv4 && size > 2 { size - 1 } else { size };
    // `used` is sorted: walk it to find the first gap after offset 0, in O(used).
    let mut candidate = 1u128;
    for &u in used.range(1..) {
        if u > candidate {
            break;
        }
        if u == candidate {
            candidate += 1;
        }
    }
    (candidate < last).then_some(candidate)
}

/// Address allocation in one subnet, with leases under `dir`.
///
/// # Examples
/// ```
/// use hutch_netns::ipam::{Ipam, Owner};
/// # let dir = std::env::temp_dir().join(format!("hutch-ipam-doc-{}", std::process::id()));
/// let ipam = Ipam::new(&dir, "10.88.0.0/16".parse()?, &["10.88.0.1".parse()?]);
/// let lock = ipam.lock()?;
/// let addr = lock.allocate(None, Owner::current()?)?;
/// assert_eq!(addr.to_string(), "10.88.0.2");
/// lock.release(addr)?;
/// # drop(lock); std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Caveats
/// Owners are identified through `/proc/PID/stat`, so every process sharing a state
/// directory must see the same pid namespace (and `/proc`); a lease written from another
/// pid namespace looks stale and is reclaimed.
#[derive(Debug, Clone)]
pub struct Ipam {
    dir: PathBuf,
    subnet: Cidr,
    reserved: Vec<IpAddr>,
}

/// The state directory locked for exclusive use (`flock(LOCK_EX)` on `DIR/.lock`); the lock
/// goes with the value.
#[derive(Debug)]
pub struct IpamLock<'a> {
    ipam: &'a Ipam,
    _file: File,
}

impl Ipam {
    /// Allocation in `subnet` with leases kept in `dir` (created on first use, mode 700);
    /// `reserved` addresses (the gateway) are never handed out.
    pub fn new(dir: impl AsRef<Path>, subnet: Cidr, reserved: &[IpAddr]) -> Ipam {
        Ipam {
            dir: dir.as_ref().to_owned(),
            subnet: subnet.network(),
            reserved: reserved.to_vec(),
        }
    }

    /// The subnet.
    pub fn subnet(&self) -> Cidr {
        self.subnet
    }

    /// The lease directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the allocation lock, waiting for other threads and processes to release it.
    ///
    /// # Errors
    /// [`IpamError::Io`] naming the directory or lock file.
    #[doc(alias = "flock")]
    pub fn lock(&self) -> Result<IpamLock<'_>, IpamError> {
        // A transient network's state is removed under this lock by its last container: a
        // lock taken meanwhile on the removed file locks nothing. Take it again then.
        loop {
            let lock = self.lock_once()?;
            use std::os::unix::fs::MetadataExt;
            let held = lock._file.metadata().ok();
            let now = fs::metadata(self.dir.join(".lock")).ok();
            match (held, now) {
                // Cannot tell: keep it.
                (None, _) => return Ok(lock),
                (Some(h), Some(n)) if h.nlink() > 0 && h.ino() == n.ino() && h.dev() == n.dev() => {
                    return Ok(lock);
                }
                // Removed (or replaced) while we waited for it.
                _ => continue,
            }
        }
    }

    fn lock_once(&self) -> Result<IpamLock<'_>, IpamError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| IpamError::Io {
                op: "create",
                path: self.dir.clone(),
                source,
            })?;
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|source| IpamError::Io {
                op: "create",
                path: path.clone(),
                source,
            })?;
        sys::flock_exclusive(file.as_fd()).map_err(|source| IpamError::Io {
            op: "lock",
            path,
            source,
        })?;
        Ok(IpamLock {
            ipam: self,
            _file: file,
        })
    }

    fn lease_path(&self, addr: IpAddr) -> PathBuf {
        self.dir.join(addr.to_string())
    }
}

impl IpamLock<'_> {
    /// Every lease: address and owner (`None` if the file is unreadable or garbled, e.g.
    /// a crash between create and write; such a lease counts as stale).
    ///
    /// # Errors
    /// [`IpamError::Io`] if the directory cannot be read.
    pub fn leases(&self) -> Result<Vec<(IpAddr, Option<Owner>)>, IpamError> {
        let dir = &self.ipam.dir;
        let err = |source| IpamError::Io {
            op: "read",
            path: dir.clone(),
            source,
        };
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(err)? {
            let entry = entry.map_err(err)?;
            let Some(addr) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<IpAddr>().ok())
            else {
                continue;
            };
            let owner = fs::read_to_string(entry.path())
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()));
            out.push((addr, owner));
        }
        out.sort_by_key(|(a, _)| *a);
        Ok(out)
    }

    /// The leases whose owner is no longer alive.
    ///
    /// # Errors
    /// As [`IpamLock::leases`].
    pub fn stale(&self) -> Result<Vec<IpAddr>, IpamError> {
        Ok(self
            .leases()?
            .into_iter()
            .filter(|(_, o)| !o.is_some_and(|o| o.is_alive()))
            .map(|(a, _)| a)
            .collect())
    }

    /// Leases `want`, or the lowest free address, to `owner`.
    ///
    /// # Errors
    /// [`IpamError::NotInSubnet`], [`IpamError::Reserved`], [`IpamError::InUse`] for a
    /// requested address; [`IpamError::Exhausted`]; [`IpamError::Io`].
    pub fn allocate(&self, want: Option<IpAddr>, owner: Owner) -> Result<IpAddr, IpamError> {
        self.allocate_with_note(want, owner, "")
    }

    /// Like [`IpamLock::allocate`], storing `note` (text without NUL) after the owner line
    /// of the lease file; [`IpamLock::note`] reads it back.
    ///
    /// # Errors
    /// As [`IpamLock::allocate`].
    pub fn allocate_with_note(
        &self,
        want: Option<IpAddr>,
        owner: Owner,
        note: &str,
    ) -> Result<IpAddr, IpamError> {
        let ipam = self.ipam;
        let subnet = ipam.subnet;
        let leases = self.leases()?;
        let addr = match want {
            Some(addr) => {
                let off = subnet
                    .offset_of(addr)
                    .ok_or(IpamError::NotInSubnet { addr, subnet })?;
                let broadcast = subnet.is_ipv4() && subnet.size() > 2 && off == subnet.size() - 1;
                if off == 0 || broadcast || ipam.reserved.contains(&addr) {
                    return Err(IpamError::Reserved { addr, subnet });
                }
                if let Some((_, owner)) = leases.iter().find(|(a, _)| *a == addr) {
                    return Err(IpamError::InUse {
                        addr,
                        owner: *owner,
                    });
                }
                addr
            }
            None => {
                let used: BTreeSet<u128> = leases
                    .iter()
                    .map(|(a, _)| *a)
                    .chain(ipam.reserved.iter().copied())
                    .filter_map(|a| subnet.offset_of(a))
                    .collect();
                let off = next_free(subnet.size(), subnet.is_ipv4(), &used)
                    .ok_or(IpamError::Exhausted { subnet })?;
                subnet
                    .nth(off)
                    .map(|c| c.addr())
                    .ok_or(IpamError::Exhausted { subnet })?
            }
        };
        let path = ipam.lease_path(addr);
        let io = |op, source| IpamError::Io {
            op,
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| io("create", e))?;
        if let Err(e) = write!(file, "{owner}\n{note}") {
            let _ = fs::remove_file(&path);
            return Err(io("write", e));
        }
        Ok(addr)
    }

    /// The note stored with the lease of `addr` (empty if none or unreadable).
    pub fn note(&self, addr: IpAddr) -> String {
        fs::read_to_string(self.ipam.lease_path(addr))
            .ok()
            .and_then(|t| t.split_once('\n').map(|(_, n)| n.to_owned()))
            .unwrap_or_default()
    }

    /// Removes the lease of `addr` (absent is fine).
    ///
    /// # Errors
    /// [`IpamError::Io`].
    pub fn release(&self, addr: IpAddr) -> Result<(), IpamError> {
        let path = self.ipam.lease_path(addr);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(IpamError::Io {
                op: "remove",
                path,
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stat_parsing() {
        let text = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 200 18446744073709551615";
        assert_eq!(parse_stat(text), Some(('S', 98765)));
        assert_eq!(parse_stat("garbage"), None);
        let me = Owner::current().unwrap();
        assert!(me.is_alive());
        assert!(
            !Owner {
                start_time: me.start_time + 1,
                ..me
            }
            .is_alive()
        );
        assert_eq!(me.to_string().parse::<Owner>(), Ok(me));
        assert!("".parse::<Owner>().is_err());
        assert!("0 5".parse::<Owner>().is_err());
        assert!("1 2 3".parse::<Owner>().is_err());
    }

    #[test]
    fn next_free_skips_network_broadcast_and_used() {
        let used = BTreeSet::from([1, 2, 4]);
        assert_eq!(next_free(256, true, &used), Some(3));
        assert_eq!(next_free(256, true, &BTreeSet::new()), Some(1));
        let full: BTreeSet<u128> = (1..255).collect();
        assert_eq!(next_free(256, true, &full), None);
        // /31 and /32 style networks.
        assert_eq!(next_free(2, true, &BTreeSet::new()), Some(1));
        assert_eq!(next_free(1, true, &BTreeSet::new()), None);
        // IPv6 has no broadcast.
        let full6: BTreeSet<u128> = (1..255).collect();
        assert_eq!(next_free(256, false, &full6), Some(255));
    }

    proptest! {
        #[test]
        fn next_free_is_the_lowest_gap(used in proptest::collection::btree_set(0u128..64, 0..64), v4: bool) {
            match next_free(64, v4, &used) {
                Some(n) => {
                    prop_assert!((1..64).contains(&n));
                    prop_assert!(!used.contains(&n));
                    prop_assert!(!(v4 && n == 63));
                    prop_assert!((1..n).all(|k| used.contains(&k)));
                }
                None => {
                    let end = if v4 { 63 } else { 64 };
                    prop_assert!((1..end).all(|k| used.contains(&k)));
                }
            }
        }
    }
}
