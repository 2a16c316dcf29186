//! The `hugetlb` controller: per page size limits and usage of HugeTLB pages.
//!
//! # References
//!
//! - <https://docs.kernel.org/admin-guide/cgroup-v2.html#hugetlb>

use std::fmt;
use std::str::FromStr;

use crate::value::{flat_keyed, parse_u64, write_keyed};
use crate::{Bytes, Cgroup, CgroupError, Max, ParseError};

/// A huge page size as it appears in the file names: `2MB`, `1GB`, `64KB`.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::hugetlb::HugePageSize;
/// let s: HugePageSize = "2MB".parse().unwrap();
/// assert_eq!(s.bytes(), 2 << 20);
/// assert_eq!(HugePageSize::from_bytes(1 << 30).to_string(), "1GB");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HugePageSize(u64);

impl HugePageSize {
    /// A size in bytes (a power of two of at least 1 KiB, in practice).
    pub fn from_bytes(bytes: u64) -> HugePageSize {
        HugePageSize(bytes)
    }
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for HugePageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The kernel's mem_fmt: the largest unit that divides the size evenly.
        let b = self.0;
        if b >= 1 << 30 && b.is_multiple_of(1 << 30) {
            write!(f, "{}GB", b >> 30)
        } else if b >= 1 << 20 && b.is_multiple_of(1 << 20) {
            write!(f, "{}MB", b >> 20)
        } else {
            write!(f, "{}KB", b >> 10)
        }
    }
}

impl FromStr for HugePageSize {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        let (num, shift) = if let Some(n) = t.strip_suffix("GB") {
            (n, 30)
        } else if let Some(n) = t.strip_suffix("MB") {
            (n, 20)
        } else if let Some(n) = t.strip_suffix("KB") {
            (n, 10)
        } else {
            return Err(ParseError::new(
                "huge page size",
                s,
                "expected <n>KB, <n>MB or <n>GB",
            ));
        };
        let n = parse_u64(num, "huge page size")?;
        if n == 0 {
            return Err(ParseError::new("huge page size", s, "must not be zero"));
        }
        n.checked_mul(1 << shift)
            .map(HugePageSize)
            .ok_or_else(|| ParseError::new("huge page size", s, "too large"))
    }
}

/// `hugetlb.<size>.events`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HugetlbEvents {
    /// `max`: allocations that failed because of the limit.
    pub max: u64,
    /// Other lines, in order.
    pub other: Vec<(String, u64)>,
}

impl fmt::Display for HugetlbEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "max {}", self.max)?;
        write_keyed(f, &self.other)
    }
}

impl FromStr for HugetlbEvents {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut e = HugetlbEvents::default();
        for (k, v) in flat_keyed(s, "hugetlb events")? {
            let v = parse_u64(v, "hugetlb events value")?;
            match k {
                "max" => e.max = v,
                _ => e.other.push((k.to_owned(), v)),
            }
        }
        Ok(e)
    }
}

/// The `hugetlb.*` files of one cgroup; from [`Cgroup::hugetlb`].
#[derive(Debug, Clone, Copy)]
pub struct Hugetlb<'a> {
    pub(crate) cg: &'a Cgroup,
}

impl Hugetlb<'_> {
    /// The page sizes this cgroup has files for (from the `hugetlb.<size>.max` names).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] if the directory cannot be listed.
    pub fn sizes(&self) -> Result<Vec<HugePageSize>, CgroupError> {
        use std::os::fd::AsFd;
        let names =
            crate::sys::list(self.cg.as_fd(), false).map_err(|source| CgroupError::Read {
                path: self.cg.path().to_owned(),
                file: ".".into(),
                source,
            })?;
        let mut out: Vec<HugePageSize> = names
            .iter()
            .filter_map(|n| {
                n.to_str()?
                    .strip_prefix("hugetlb.")?
                    .strip_suffix(".max")
                    .filter(|s| !s.contains('.'))?
                    .parse()
                    .ok()
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// `hugetlb.<size>.max`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn max(&self, size: HugePageSize) -> Result<Max<Bytes>, CgroupError> {
        self.cg.read_parsed(&format!("hugetlb.{size}.max"))
    }

    /// Sets `hugetlb.<size>.max` (a multiple of the page size).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`].
    pub fn set_max(
        &self,
        size: HugePageSize,
        max: impl Into<Max<Bytes>>,
    ) -> Result<(), CgroupError> {
        self.cg.set(&crate::Setting::HugetlbMax(size, max.into()))
    }

    /// `hugetlb.<size>.rsvd.max` (reservations).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn rsvd_max(&self, size: HugePageSize) -> Result<Max<Bytes>, CgroupError> {
        self.cg.read_parsed(&format!("hugetlb.{size}.rsvd.max"))
    }

    /// Sets `hugetlb.<size>.rsvd.max`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`].
    pub fn set_rsvd_max(
        &self,
        size: HugePageSize,
        max: impl Into<Max<Bytes>>,
    ) -> Result<(), CgroupError> {
        self.cg
            .set(&crate::Setting::HugetlbRsvdMax(size, max.into()))
    }

    /// `hugetlb.<size>.current`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn current(&self, size: HugePageSize) -> Result<Bytes, CgroupError> {
        self.cg.read_parsed(&format!("hugetlb.{size}.current"))
    }

    /// `hugetlb.<size>.events`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn events(&self, size: HugePageSize) -> Result<HugetlbEvents, CgroupError> {
        self.cg.read_parsed(&format!("hugetlb.{size}.events"))
    }
}
