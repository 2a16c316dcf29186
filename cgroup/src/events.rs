//! Core interface files: `cgroup.events` ([`CgroupEvents`]), `cgroup.stat`
//! ([`CgroupStat`]) and `cgroup.type` ([`CgroupType`]).

use std::fmt;
use std::str::FromStr;

use crate::ParseError;
use crate::value::{flat_keyed, parse_bool, parse_u64};

/// `cgroup.events`: whether the cgroup (or a descendant) has processes, and whether it is
/// frozen.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::events::CgroupEvents;
/// let e: CgroupEvents = "populated 1\nfrozen 0\n".parse().unwrap();
/// assert!(e.populated && !e.frozen);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CgroupEvents {
    /// `populated`: this cgroup or a descendant has live processes.
    pub populated: bool,
    /// `frozen`: the cgroup is frozen (absent before Linux 5.2: `false`).
    pub frozen: bool,
}

impl CgroupEvents {
    /// Both fields given.
    pub fn new(populated: bool, frozen: bool) -> Self {
        CgroupEvents { populated, frozen }
    }
}

impl fmt::Display for CgroupEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "populated {}", u8::from(self.populated))?;
        writeln!(f, "frozen {}", u8::from(self.frozen))
    }
}

impl FromStr for CgroupEvents {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut populated = None;
        let mut frozen = false;
        for (k, v) in flat_keyed(s, "cgroup.events")? {
            match k {
                "populated" => populated = Some(parse_bool(v, "cgroup.events populated")?),
                "frozen" => frozen = parse_bool(v, "cgroup.events frozen")?,
                _ => {} // newer kernels may add keys; they do not change these two.
            }
        }
        let populated =
            populated.ok_or_else(|| ParseError::new("cgroup.events", s, "no `populated` line"))?;
        Ok(CgroupEvents { populated, frozen })
    }
}

/// `cgroup.stat`: descendant counts (live and dying) and per-subsystem css counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CgroupStat {
    /// `nr_descendants`: live descendant cgroups.
    pub nr_descendants: u64,
    /// `nr_dying_descendants`: removed descendants the kernel still holds.
    pub nr_dying_descendants: u64,
    /// Every other line (`nr_subsys_<controller>`, `nr_dying_subsys_<controller>`, …), in
    /// file order.
    pub other: Vec<(String, u64)>,
}

impl fmt::Display for CgroupStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "nr_descendants {}", self.nr_descendants)?;
        writeln!(f, "nr_dying_descendants {}", self.nr_dying_descendants)?;
        crate::value::write_keyed(f, &self.other)
    }
}

impl FromStr for CgroupStat {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut st = CgroupStat::default();
        let (mut d, mut dd) = (false, false);
        for (k, v) in flat_keyed(s, "cgroup.stat")? {
            let v = parse_u64(v, "cgroup.stat value")?;
            match k {
                "nr_descendants" => (st.nr_descendants, d) = (v, true),
                "nr_dying_descendants" => (st.nr_dying_descendants, dd) = (v, true),
                _ => st.other.push((k.to_owned(), v)),
            }
        }
        if !(d && dd) {
            return Err(ParseError::new(
                "cgroup.stat",
                s,
                "missing nr_descendants or nr_dying_descendants",
            ));
        }
        Ok(st)
    }
}

/// `cgroup.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CgroupType {
    /// `domain`: a normal cgroup.
    Domain,
    /// `domain threaded`: the root of a threaded subtree.
    DomainThreaded,
    /// `domain invalid`: a cgroup in an invalid state inside a threaded subtree.
    DomainInvalid,
    /// `threaded`: a member of a threaded subtree.
    Threaded,
}

impl fmt::Display for CgroupType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgroupType::Domain => "domain",
            CgroupType::DomainThreaded => "domain threaded",
            CgroupType::DomainInvalid => "domain invalid",
            CgroupType::Threaded => "threaded",
        })
    }
}

impl FromStr for CgroupType {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Ok(match s.trim() {
            "domain" => CgroupType::Domain,
            "domain threaded" => CgroupType::DomainThreaded,
            "domain invalid" => CgroupType::DomainInvalid,
            "threaded" => CgroupType::Threaded,
            _ => {
                return Err(ParseError::new(
                    "cgroup.type",
                    s,
                    "expected domain, domain threaded, domain invalid or threaded",
                ));
            }
        })
    }
}
