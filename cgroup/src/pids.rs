//! The `pids` controller: a limit on the number of tasks.
//!
//! # References
//!
//! - <https://docs.kernel.org/admin-guide/cgroup-v2.html#pid>

use std::fmt;
use std::str::FromStr;

use crate::value::{flat_keyed, parse_u64, write_keyed};
use crate::{Cgroup, Max, ParseError};

/// `pids.events` / `pids.events.local`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PidsEvents {
    /// `max`: forks refused because of `pids.max` here or above.
    pub max: u64,
    /// Other lines (`max.imposed`, …), in file order.
    pub other: Vec<(String, u64)>,
}

impl fmt::Display for PidsEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "max {}", self.max)?;
        write_keyed(f, &self.other)
    }
}

impl FromStr for PidsEvents {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut e = PidsEvents::default();
        for (k, v) in flat_keyed(s, "pids.events")? {
            let v = parse_u64(v, "pids.events value")?;
            match k {
                "max" => e.max = v,
                _ => e.other.push((k.to_owned(), v)),
            }
        }
        Ok(e)
    }
}

/// A count of tasks (`pids.current`, `pids.peak`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Count(pub u64);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Count {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_u64(s.trim(), "count").map(Count)
    }
}

/// The `pids.*` files of one cgroup; from [`Cgroup::pids`].
#[derive(Debug, Clone, Copy)]
pub struct Pids<'a> {
    pub(crate) cg: &'a Cgroup,
}

impl Pids<'_> {
    knob!(max, set_max, PidsMax, Max<Count>, "pids.max");
    getter!(current, Count, "pids.current");
    getter!(peak, Count, "pids.peak");
    getter!(events, PidsEvents, "pids.events");
    getter!(events_local, PidsEvents, "pids.events.local");
}
