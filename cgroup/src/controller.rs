//! [`Controller`]: the cgroup v2 resource controllers.

use std::fmt;
use std::str::FromStr;

use crate::ParseError;

/// A cgroup v2 controller, named as in `cgroup.controllers` / `cgroup.subtree_control`.
///
/// Parsing an unknown name is an error that names it.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::Controller;
/// assert_eq!("memory".parse::<Controller>().unwrap(), Controller::Memory);
/// assert_eq!(Controller::Cpuset.to_string(), "cpuset");
/// assert!("blkio".parse::<Controller>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Controller {
    /// `cpu`: weights, bandwidth (`cpu.max`), uclamp.
    Cpu,
    /// `cpuset`: CPU and memory-node placement.
    Cpuset,
    /// `memory`: limits, protection, OOM, swap and zswap.
    Memory,
    /// `io`: block I/O limits, weights and latency targets.
    Io,
    /// `pids`: number of tasks.
    Pids,
    /// `hugetlb`: HugeTLB pages per size.
    Hugetlb,
    /// `rdma`: RDMA/IB resources.
    Rdma,
    /// `misc`: scalar resources such as SEV ASIDs.
    Misc,
    /// `dmem`: device memory regions (Linux 6.14+).
    Dmem,
}

impl Controller {
    /// Every controller this crate knows, in the kernel's order.
    pub const ALL: [Controller; 9] = [
        Controller::Cpuset,
        Controller::Cpu,
        Controller::Io,
        Controller::Memory,
        Controller::Hugetlb,
        Controller::Pids,
        Controller::Rdma,
        Controller::Misc,
        Controller::Dmem,
    ];

    /// The kernel's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Io => "io",
            Controller::Pids => "pids",
            Controller::Hugetlb => "hugetlb",
            Controller::Rdma => "rdma",
            Controller::Misc => "misc",
            Controller::Dmem => "dmem",
        }
    }

    /// The cgroup v1 name of the same resource, where it differs (`io` is `blkio` there).
    pub(crate) fn v1_name(self) -> &'static str {
        match self {
            Controller::Io => "blkio",
            c => c.name(),
        }
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Controller {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        Controller::ALL
            .into_iter()
            .find(|c| c.name() == t)
            .ok_or_else(|| {
                ParseError::new(
                    "controller",
                    s,
                    "unknown cgroup v2 controller (known: cpuset cpu io memory hugetlb pids rdma misc dmem)",
                )
            })
    }
}

/// Parses a space-separated controller list (`cgroup.controllers`).
pub(crate) fn parse_list(text: &str) -> Result<Vec<Controller>, ParseError> {
    // A list the kernel wrote may name controllers this crate does not know (`debug`, or one
    // added after it was written): those are skipped, not an error that would make every
    // controller query fail on that host. Names given by callers are still checked.
    Ok(text
        .split_whitespace()
        .filter_map(|name| name.parse().ok())
        .collect())
}
