//! The `memory` controller: limits and protection, swap and zswap, OOM behaviour,
//! reclaim, usage and its peak, `memory.stat`, `memory.numa_stat`, `memory.events`.
//!
//! # References
//!
//! - <https://docs.kernel.org/admin-guide/cgroup-v2.html#memory>

use std::fmt;
use std::str::FromStr;

use crate::value::{flat_keyed, parse_u64, write_keyed};
use crate::{Bytes, Cgroup, CgroupError, Max, ParseError};

/// `memory.events` / `memory.events.local`: how often limits were hit.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::memory::MemoryEvents;
/// let e: MemoryEvents = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n"
///     .parse().unwrap();
/// assert_eq!((e.max, e.oom_kill), (12, 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MemoryEvents {
    /// `low`: reclaimed despite being under `memory.low`.
    pub low: u64,
    /// `high`: throttled for exceeding `memory.high`.
    pub high: u64,
    /// `max`: usage was about to exceed `memory.max`.
    pub max: u64,
    /// `oom`: hit the limit and reclaim failed.
    pub oom: u64,
    /// `oom_kill`: processes killed by the OOM killer.
    pub oom_kill: u64,
    /// `oom_group_kill`: group OOM kills (Linux 5.17+; 0 before).
    pub oom_group_kill: u64,
    /// Lines this crate does not know (`sock_throttled`, …), in file order.
    pub other: Vec<(String, u64)>,
}

impl fmt::Display for MemoryEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "low {}", self.low)?;
        writeln!(f, "high {}", self.high)?;
        writeln!(f, "max {}", self.max)?;
        writeln!(f, "oom {}", self.oom)?;
        writeln!(f, "oom_kill {}", self.oom_kill)?;
        writeln!(f, "oom_group_kill {}", self.oom_group_kill)?;
        write_keyed(f, &self.other)
    }
}

impl FromStr for MemoryEvents {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut e = MemoryEvents::default();
        for (k, v) in flat_keyed(s, "memory.events")? {
            let v = parse_u64(v, "memory.events value")?;
            match k {
                "low" => e.low = v,
                "high" => e.high = v,
                "max" => e.max = v,
                "oom" => e.oom = v,
                "oom_kill" => e.oom_kill = v,
                "oom_group_kill" => e.oom_group_kill = v,
                _ => e.other.push((k.to_owned(), v)),
            }
        }
        Ok(e)
    }
}

/// `memory.swap.events`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SwapEvents {
    /// `high`: swap usage exceeded `memory.swap.high`.
    pub high: u64,
    /// `max`: swap allocation failed because of `memory.swap.max`.
    pub max: u64,
    /// `fail`: swap allocation failed (limit or system out of swap).
    pub fail: u64,
    /// Other lines, in file order.
    pub other: Vec<(String, u64)>,
}

impl fmt::Display for SwapEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "high {}", self.high)?;
        writeln!(f, "max {}", self.max)?;
        writeln!(f, "fail {}", self.fail)?;
        write_keyed(f, &self.other)
    }
}

impl FromStr for SwapEvents {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut e = SwapEvents::default();
        for (k, v) in flat_keyed(s, "memory.swap.events")? {
            let v = parse_u64(v, "memory.swap.events value")?;
            match k {
                "high" => e.high = v,
                "max" => e.max = v,
                "fail" => e.fail = v,
                _ => e.other.push((k.to_owned(), v)),
            }
        }
        Ok(e)
    }
}

/// `memory.stat`: every counter the kernel reports, in file order, with typed accessors
/// for the common ones. Sizes are in bytes; event counters are counts.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::memory::MemoryStat;
/// let s: MemoryStat = "anon 4096\nfile 8192\npgfault 7\n".parse().unwrap();
/// assert_eq!(s.get("file"), Some(8192));
/// assert_eq!(s.anon().map(|b| b.get()), Some(4096));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemoryStat {
    entries: Vec<(String, u64)>,
}

impl MemoryStat {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.entries.iter().find(|(k, _)| k == key).map(|&(_, v)| v)
    }

    /// Every `(key, value)` in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// `anon`: anonymous memory.
    pub fn anon(&self) -> Option<Bytes> {
        self.get("anon").map(Bytes)
    }
    /// `file`: page cache.
    pub fn file(&self) -> Option<Bytes> {
        self.get("file").map(Bytes)
    }
    /// `kernel`: kernel memory (Linux 5.18+).
    pub fn kernel(&self) -> Option<Bytes> {
        self.get("kernel").map(Bytes)
    }
    /// `shmem`: shared memory and tmpfs.
    pub fn shmem(&self) -> Option<Bytes> {
        self.get("shmem").map(Bytes)
    }
    /// `sock`: network buffers.
    pub fn sock(&self) -> Option<Bytes> {
        self.get("sock").map(Bytes)
    }
    /// `pgfault`: page faults.
    pub fn pgfault(&self) -> Option<u64> {
        self.get("pgfault")
    }
    /// `pgmajfault`: major page faults.
    pub fn pgmajfault(&self) -> Option<u64> {
        self.get("pgmajfault")
    }
}

impl fmt::Display for MemoryStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_keyed(f, &self.entries)
    }
}

impl FromStr for MemoryStat {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Ok(MemoryStat {
            entries: crate::value::flat_keyed_u64(s, "memory.stat")?,
        })
    }
}

impl FromIterator<(String, u64)> for MemoryStat {
    fn from_iter<I: IntoIterator<Item = (String, u64)>>(iter: I) -> Self {
        MemoryStat {
            entries: iter.into_iter().collect(),
        }
    }
}

/// `memory.numa_stat`: per-NUMA-node counters (`anon N0=… N1=…`), in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NumaStat {
    entries: Vec<(String, Vec<(u32, u64)>)>,
}

impl NumaStat {
    /// The per-node values of `key` as `(node, value)`.
    pub fn get(&self, key: &str) -> Option<&[(u32, u64)]> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// Every key with its per-node values, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[(u32, u64)])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

impl FromIterator<(String, Vec<(u32, u64)>)> for NumaStat {
    fn from_iter<I: IntoIterator<Item = (String, Vec<(u32, u64)>)>>(iter: I) -> Self {
        NumaStat {
            entries: iter.into_iter().collect(),
        }
    }
}

impl fmt::Display for NumaStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, nodes) in &self.entries {
            f.write_str(k)?;
            for (n, v) in nodes {
                write!(f, " N{n}={v}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl FromStr for NumaStat {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut entries = Vec::new();
        for line in s.lines().filter(|l| !l.trim().is_empty()) {
            let mut words = line.split_whitespace();
            let key = words.next().unwrap_or_default();
            let mut nodes = Vec::new();
            for (k, v) in crate::value::kv_words(words, "memory.numa_stat", line)? {
                let node = k
                    .strip_prefix('N')
                    .and_then(|n| n.parse::<u32>().ok())
                    .ok_or_else(|| {
                        ParseError::new(
                            "memory.numa_stat",
                            line,
                            format!("`{k}` is not a node (N<number>)"),
                        )
                    })?;
                nodes.push((node, parse_u64(v, "memory.numa_stat value")?));
            }
            entries.push((key.to_owned(), nodes));
        }
        Ok(NumaStat { entries })
    }
}

/// The `memory.*` files of one cgroup; from [`Cgroup::memory`].
#[derive(Debug, Clone, Copy)]
pub struct Memory<'a> {
    pub(crate) cg: &'a Cgroup,
}

impl Memory<'_> {
    knob!(max, set_max, MemoryMax, Max<Bytes>, "memory.max");
    knob!(high, set_high, MemoryHigh, Max<Bytes>, "memory.high");
    knob!(low, set_low, MemoryLow, Max<Bytes>, "memory.low");
    knob!(min, set_min, MemoryMin, Max<Bytes>, "memory.min");
    knob!(
        swap_max,
        set_swap_max,
        MemorySwapMax,
        Max<Bytes>,
        "memory.swap.max"
    );
    knob!(
        swap_high,
        set_swap_high,
        MemorySwapHigh,
        Max<Bytes>,
        "memory.swap.high"
    );
    knob!(
        zswap_max,
        set_zswap_max,
        MemoryZswapMax,
        Max<Bytes>,
        "memory.zswap.max"
    );
    bool_knob!(
        zswap_writeback,
        set_zswap_writeback,
        MemoryZswapWriteback,
        "memory.zswap.writeback"
    );
    bool_knob!(oom_group, set_oom_group, MemoryOomGroup, "memory.oom.group");
    getter!(current, Bytes, "memory.current");
    getter!(peak, Bytes, "memory.peak");
    getter!(swap_current, Bytes, "memory.swap.current");
    getter!(zswap_current, Bytes, "memory.zswap.current");
    getter!(stat, MemoryStat, "memory.stat");
    getter!(numa_stat, NumaStat, "memory.numa_stat");
    getter!(events, MemoryEvents, "memory.events");
    getter!(events_local, MemoryEvents, "memory.events.local");
    getter!(swap_events, SwapEvents, "memory.swap.events");

    /// Asks the kernel to reclaim `amount` from the cgroup (`memory.reclaim`).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`] — `EAGAIN` when less than `amount` could be reclaimed.
    pub fn reclaim(&self, amount: Bytes) -> Result<(), CgroupError> {
        self.cg.write_file("memory.reclaim", amount)
    }

    /// Resets `memory.peak` to the current usage and returns the open file through which
    /// the new peak is read (Linux 6.12+).
    ///
    /// The kernel keeps the reset point per open file: a write of any text to
    /// `memory.peak` resets the value seen *through that file descriptor* only, so the
    /// reset lives in the returned [`PeakWatch`].
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`] — `EACCES`/`EINVAL` on kernels before 6.12, whose
    /// `memory.peak` is read-only.
    #[doc(alias = "memory.peak")]
    pub fn reset_peak(&self) -> Result<PeakWatch, CgroupError> {
        self.cg.open_rw_reset("memory.peak").map(|fd| PeakWatch {
            fd,
            path: self.cg.path().join("memory.peak"),
        })
    }
}

/// An open `memory.peak` that was reset; from [`Memory::reset_peak`].
#[derive(Debug)]
pub struct PeakWatch {
    fd: std::os::fd::OwnedFd,
    path: std::path::PathBuf,
}

impl PeakWatch {
    /// The highest usage since the reset.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn peak(&self) -> Result<Bytes, CgroupError> {
        use std::os::fd::AsFd;
        let dir = self.path.parent().unwrap_or(&self.path).to_path_buf();
        let text = crate::sys::pread_all(self.fd.as_fd()).map_err(|source| CgroupError::Read {
            path: dir.clone(),
            file: "memory.peak".into(),
            source,
        })?;
        text.parse().map_err(|source| CgroupError::Parse {
            path: dir,
            file: "memory.peak".into(),
            source,
        })
    }
}
