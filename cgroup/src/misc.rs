//! The `misc` controller: scalar resources such as SEV/SEV-ES ASIDs or TDX keys.
//!
//! # References
//!
//! - <https://docs.kernel.org/admin-guide/cgroup-v2.html#misc>

use std::fmt;
use std::str::FromStr;

use crate::value::parse_u64;
use crate::{Cgroup, CgroupError, Max, ParseError};

/// One line of `misc.max` (or `misc.capacity`, `misc.current`): `sev max`, `sev_es 10`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MiscLimit {
    /// The resource name.
    pub resource: String,
    /// The limit (or amount).
    pub value: Max<u64>,
}

impl fmt::Display for MiscLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.resource, self.value)
    }
}

impl FromStr for MiscLimit {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut w = s.split_whitespace();
        match (w.next(), w.next(), w.next()) {
            (Some(r), Some(v), None) => Ok(MiscLimit {
                resource: r.to_owned(),
                value: if v == "max" {
                    Max::Max
                } else {
                    Max::Value(parse_u64(v, "misc value")?)
                },
            }),
            _ => Err(ParseError::new(
                "misc line",
                s,
                "expected `<resource> <value>`",
            )),
        }
    }
}

fn parse_lines(text: &str) -> Result<Vec<MiscLimit>, ParseError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// The `misc.*` files of one cgroup; from [`Cgroup::misc`].
#[derive(Debug, Clone, Copy)]
pub struct Misc<'a> {
    pub(crate) cg: &'a Cgroup,
}

impl Misc<'_> {
    /// `misc.max`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn max(&self) -> Result<Vec<MiscLimit>, CgroupError> {
        self.cg.read_with("misc.max", parse_lines)
    }

    /// Writes one resource's limit to `misc.max`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`] (`EINVAL` for a resource the host does not have).
    pub fn set_max(&self, limit: MiscLimit) -> Result<(), CgroupError> {
        self.cg.set(&crate::Setting::MiscMax(limit))
    }

    /// `misc.current`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn current(&self) -> Result<Vec<MiscLimit>, CgroupError> {
        self.cg.read_with("misc.current", parse_lines)
    }

    /// `misc.capacity` (root cgroup only): what the host has of each resource.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn capacity(&self) -> Result<Vec<MiscLimit>, CgroupError> {
        self.cg.read_with("misc.capacity", parse_lines)
    }

    /// `misc.events`: `<resource>.max <count>` lines, as [`MiscLimit`]s whose resource
    /// keeps the `.max` suffix.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn events(&self) -> Result<Vec<MiscLimit>, CgroupError> {
        self.cg.read_with("misc.events", parse_lines)
    }
}
