//! The `dmem` controller (Linux 6.14+): limits on device memory regions such as GPU VRAM.
//!
//! # References
//!
//! - <https://docs.kernel.org/admin-guide/cgroup-v2.html#dmem>

use std::fmt;
use std::str::FromStr;

use crate::{Bytes, Cgroup, CgroupError, Max, ParseError};

/// One line of `dmem.max`, `dmem.low`, `dmem.min`, `dmem.current` or `dmem.capacity`:
/// `drm/0000:03:00.0/vram0 1073741824`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DmemLimit {
    /// The region name.
    pub region: String,
    /// The limit or amount.
    pub value: Max<Bytes>,
}

impl fmt::Display for DmemLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.region, self.value)
    }
}

impl FromStr for DmemLimit {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut w = s.split_whitespace();
        match (w.next(), w.next(), w.next()) {
            (Some(r), Some(v), None) => Ok(DmemLimit {
                region: r.to_owned(),
                value: v.parse()?,
            }),
            _ => Err(ParseError::new(
                "dmem line",
                s,
                "expected `<region> <bytes|max>`",
            )),
        }
    }
}

fn parse_lines(text: &str) -> Result<Vec<DmemLimit>, ParseError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// Which `dmem` limit file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DmemKind {
    /// `dmem.max`: hard limit.
    Max,
    /// `dmem.low`: best-effort protection.
    Low,
    /// `dmem.min`: hard protection.
    Min,
}

impl DmemKind {
    /// The file name.
    pub fn file(self) -> &'static str {
        match self {
            DmemKind::Max => "dmem.max",
            DmemKind::Low => "dmem.low",
            DmemKind::Min => "dmem.min",
        }
    }
}

/// The `dmem.*` files of one cgroup; from [`Cgroup::dmem`].
#[derive(Debug, Clone, Copy)]
pub struct Dmem<'a> {
    pub(crate) cg: &'a Cgroup,
}

impl Dmem<'_> {
    /// Reads `dmem.max`, `dmem.low` or `dmem.min`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] (`ENOENT` before Linux 6.14) or [`CgroupError::Parse`].
    pub fn limits(&self, kind: DmemKind) -> Result<Vec<DmemLimit>, CgroupError> {
        self.cg.read_with(kind.file(), parse_lines)
    }

    /// Writes one region's line to `dmem.max`, `dmem.low` or `dmem.min`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`].
    pub fn set_limit(&self, kind: DmemKind, limit: DmemLimit) -> Result<(), CgroupError> {
        self.cg.set(&crate::Setting::Dmem(kind, limit))
    }

    /// `dmem.current`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn current(&self) -> Result<Vec<DmemLimit>, CgroupError> {
        self.cg.read_with("dmem.current", parse_lines)
    }

    /// `dmem.capacity` (root cgroup).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn capacity(&self) -> Result<Vec<DmemLimit>, CgroupError> {
        self.cg.read_with("dmem.capacity", parse_lines)
    }
}
