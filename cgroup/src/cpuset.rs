//! The `cpuset` controller: CPU and memory-node placement ([`CpuList`]), exclusive CPUs
//! and partitions ([`Partition`]).
//!
//! # References
//!
//! - <https://docs.kernel.org/admin-guide/cgroup-v2.html#cpuset>

use std::fmt;
use std::str::FromStr;

use crate::{Cgroup, CgroupError, ParseError};

/// A set of CPU (or memory node) numbers in the kernel's list syntax, `0-3,7`.
///
/// Stored normalised (sorted, merged ranges), so `Display` prints the canonical form; the
/// empty set prints as the empty string (which, written to `cpuset.cpus`, means "inherit").
///
/// # Examples
///
/// ```
/// use hutch_cgroup::cpuset::CpuList;
/// let l: CpuList = "7,0-3,2".parse().unwrap();
/// assert_eq!(l.to_string(), "0-3,7");
/// assert!(l.contains(2) && !l.contains(5));
/// assert!("3-1".parse::<CpuList>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CpuList {
    ranges: Vec<(u32, u32)>,
}

impl CpuList {
    /// The empty set.
    pub fn new() -> CpuList {
        CpuList::default()
    }

    /// Adds the inclusive range `first..=last`.
    pub fn insert_range(&mut self, first: u32, last: u32) -> &mut Self {
        let (a, b) = if first <= last {
            (first, last)
        } else {
            (last, first)
        };
        self.ranges.push((a, b));
        self.normalise();
        self
    }

    /// Adds one number.
    pub fn insert(&mut self, n: u32) -> &mut Self {
        self.insert_range(n, n)
    }

    fn normalise(&mut self) {
        self.ranges.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(self.ranges.len());
        for &(a, b) in &self.ranges {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        self.ranges = out;
    }

    /// Whether `n` is in the set.
    pub fn contains(&self, n: u32) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= n && n <= b)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many numbers are in the set.
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|&(a, b)| u64::from(b - a) + 1).sum()
    }

    /// The numbers, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.ranges.iter().flat_map(|&(a, b)| a..=b)
    }

    /// The normalised inclusive ranges.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }
}

impl FromIterator<u32> for CpuList {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut l = CpuList {
            ranges: iter.into_iter().map(|n| (n, n)).collect(),
        };
        l.normalise();
        l
    }
}

impl fmt::Display for CpuList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(a, b)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for CpuList {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        let mut ranges = Vec::new();
        if t.is_empty() {
            return Ok(CpuList::default());
        }
        for part in t.split(',') {
            let num = |x: &str| -> Result<u32, ParseError> {
                if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ParseError::new(
                        "cpu list",
                        s,
                        format!("`{part}` is not a number or a range `a-b` of unsigned numbers"),
                    ));
                }
                x.parse()
                    .map_err(|_| ParseError::new("cpu list", s, format!("`{x}` is too large")))
            };
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                None => {
                    let n = num(part)?;
                    (n, n)
                }
            };
            if a > b {
                return Err(ParseError::new(
                    "cpu list",
                    s,
                    format!("range `{part}` starts after it ends"),
                ));
            }
            ranges.push((a, b));
        }
        let mut l = CpuList { ranges };
        l.normalise();
        Ok(l)
    }
}

/// `cpuset.cpus.partition`: what a cgroup is in the CPU partition scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Partition {
    /// `member`: a non-root member of its parent's partition.
    Member,
    /// `root`: the root of a new partition (its CPUs are exclusive).
    Root,
    /// `isolated`: a partition root without load balancing.
    Isolated,
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Partition::Member => "member",
            Partition::Root => "root",
            Partition::Isolated => "isolated",
        })
    }
}

impl FromStr for Partition {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Ok(match s.trim() {
            "member" => Partition::Member,
            "root" => Partition::Root,
            "isolated" => Partition::Isolated,
            _ => {
                return Err(ParseError::new(
                    "cpuset.cpus.partition",
                    s,
                    "expected member, root or isolated",
                ));
            }
        })
    }
}

/// What `cpuset.cpus.partition` reads back: the partition type and, if the kernel found
/// it invalid, why (`root invalid (Parent is not a partition root)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PartitionState {
    /// The requested type.
    pub partition: Partition,
    /// `Some(reason)` when the kernel reports it invalid (the reason may be empty on
    /// kernels that do not give one).
    pub invalid: Option<String>,
}

impl fmt::Display for PartitionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.partition)?;
        match &self.invalid {
            None => Ok(()),
            Some(r) if r.is_empty() => f.write_str(" invalid"),
            Some(r) => write!(f, " invalid ({r})"),
        }
    }
}

impl FromStr for PartitionState {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        let (kind, rest) = t.split_once(' ').unwrap_or((t, ""));
        let partition = kind.parse()?;
        let rest = rest.trim();
        let invalid = if rest.is_empty() {
            None
        } else if let Some(r) = rest.strip_prefix("invalid") {
            let r = r.trim();
            Some(
                r.strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .unwrap_or(r)
                    .to_owned(),
            )
        } else {
            return Err(ParseError::new(
                "cpuset.cpus.partition",
                s,
                "expected `<type>` or `<type> invalid (<reason>)`",
            ));
        };
        Ok(PartitionState { partition, invalid })
    }
}

/// The `cpuset.*` files of one cgroup; from [`Cgroup::cpuset`].
#[derive(Debug, Clone, Copy)]
pub struct Cpuset<'a> {
    pub(crate) cg: &'a Cgroup,
}

impl Cpuset<'_> {
    knob!(cpus, set_cpus, CpusetCpus, CpuList, "cpuset.cpus");
    knob!(mems, set_mems, CpusetMems, CpuList, "cpuset.mems");
    knob!(
        cpus_exclusive,
        set_cpus_exclusive,
        CpusetCpusExclusive,
        CpuList,
        "cpuset.cpus.exclusive"
    );
    getter!(cpus_effective, CpuList, "cpuset.cpus.effective");
    getter!(mems_effective, CpuList, "cpuset.mems.effective");
    getter!(
        cpus_exclusive_effective,
        CpuList,
        "cpuset.cpus.exclusive.effective"
    );
    getter!(partition, PartitionState, "cpuset.cpus.partition");

    /// Writes `cpuset.cpus.partition`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`] with the errno.
    pub fn set_partition(&self, p: Partition) -> Result<(), CgroupError> {
        self.cg.set(&crate::Setting::CpusetPartition(p))
    }
}
