//! The `rdma` controller: per-device limits on RDMA/IB handles and objects.
//!
//! # References
//!
//! - <https://docs.kernel.org/admin-guide/cgroup-v2.html#rdma>

use std::fmt;
use std::str::FromStr;

use crate::value::{kv_words, parse_u64};
use crate::{Cgroup, CgroupError, Max, ParseError};

/// One `rdma.max` / `rdma.current` line: `mlx4_0 hca_handle=2 hca_object=2000`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RdmaLimit {
    /// The RDMA device name.
    pub device: String,
    /// `hca_handle`.
    pub hca_handle: Max<u32>,
    /// `hca_object`.
    pub hca_object: Max<u32>,
}

fn parse_max_u32(v: &str, line: &str) -> Result<Max<u32>, ParseError> {
    if v == "max" {
        return Ok(Max::Max);
    }
    let n = parse_u64(v, "rdma value")?;
    u32::try_from(n)
        .map(Max::Value)
        .map_err(|_| ParseError::new("rdma line", line, "value larger than 32 bits"))
}

impl fmt::Display for RdmaLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hca_handle={} hca_object={}",
            self.device, self.hca_handle, self.hca_object
        )
    }
}

impl FromStr for RdmaLimit {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut words = s.split_whitespace();
        let device = words
            .next()
            .filter(|d| !d.contains('='))
            .ok_or_else(|| ParseError::new("rdma line", s, "expected a device name first"))?
            .to_owned();
        let mut l = RdmaLimit {
            device,
            hca_handle: Max::Max,
            hca_object: Max::Max,
        };
        for (k, v) in kv_words(words, "rdma line", s)? {
            match k {
                "hca_handle" => l.hca_handle = parse_max_u32(v, s)?,
                "hca_object" => l.hca_object = parse_max_u32(v, s)?,
                _ => {
                    return Err(ParseError::new(
                        "rdma line",
                        s,
                        format!("unknown key `{k}` (expected hca_handle, hca_object)"),
                    ));
                }
            }
        }
        Ok(l)
    }
}

fn parse_lines(text: &str) -> Result<Vec<RdmaLimit>, ParseError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// The `rdma.*` files of one cgroup; from [`Cgroup::rdma`].
#[derive(Debug, Clone, Copy)]
pub struct Rdma<'a> {
    pub(crate) cg: &'a Cgroup,
}

impl Rdma<'_> {
    /// `rdma.max`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn max(&self) -> Result<Vec<RdmaLimit>, CgroupError> {
        self.cg.read_with("rdma.max", parse_lines)
    }

    /// Writes one device's line to `rdma.max`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`] (`EINVAL` for an unknown device).
    pub fn set_max(&self, limit: RdmaLimit) -> Result<(), CgroupError> {
        self.cg.set(&crate::Setting::RdmaMax(limit))
    }

    /// `rdma.current`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn current(&self) -> Result<Vec<RdmaLimit>, CgroupError> {
        self.cg.read_with("rdma.current", parse_lines)
    }
}
