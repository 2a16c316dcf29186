//! [`Stats`]: a snapshot of everything a cgroup reports about its usage.

use crate::cpu::CpuStat;
use crate::io::IoStat;
use crate::memory::{MemoryEvents, MemoryStat};
use crate::pids::{Count, PidsEvents};
use crate::psi::Pressure;
use crate::{Bytes, Cgroup, CgroupError, Max};

/// Memory usage: `memory.current`, `memory.peak`, `memory.stat`, `memory.events`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryStats {
    /// `memory.current`.
    pub current: Bytes,
    /// `memory.peak` (Linux 5.19+).
    pub peak: Option<Bytes>,
    /// `memory.max`.
    pub max: Max<Bytes>,
    /// `memory.stat`.
    pub stat: MemoryStat,
    /// `memory.events`.
    pub events: MemoryEvents,
}

/// Task counts: `pids.current`, `pids.peak`, `pids.max`, `pids.events`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PidsStats {
    /// `pids.current`.
    pub current: Count,
    /// `pids.peak` (Linux 6.13+).
    pub peak: Option<Count>,
    /// `pids.max`.
    pub max: Max<Count>,
    /// `pids.events`.
    pub events: PidsEvents,
}

/// The three pressure files; `None` where absent (no PSI, or the root on old kernels).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct PressureStats {
    /// `cpu.pressure`.
    pub cpu: Option<Pressure>,
    /// `memory.pressure`.
    pub memory: Option<Pressure>,
    /// `io.pressure`.
    pub io: Option<Pressure>,
}

/// A snapshot of a cgroup's usage; from [`Cgroup::stats`]. Parts whose controller is not
/// enabled for the cgroup are `None`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// `cpu.stat` (always present).
    pub cpu: CpuStat,
    /// The memory controller's numbers.
    pub memory: Option<MemoryStats>,
    /// The pids controller's numbers.
    pub pids: Option<PidsStats>,
    /// `io.stat`.
    pub io: Option<IoStat>,
    /// PSI.
    pub pressure: PressureStats,
}

/// `EOPNOTSUPP` from a pressure file means PSI is compiled in but disabled (`psi=0`).
fn optional_pressure(cg: &Cgroup, file: &str) -> Result<Option<Pressure>, CgroupError> {
    match cg.read_optional(file) {
        Err(CgroupError::Read { source, .. })
            if source.raw_os_error() == Some(libc::EOPNOTSUPP) =>
        {
            Ok(None)
        }
        r => r,
    }
}

impl Cgroup {
    /// Reads a [`Stats`] snapshot: what exists is read, a missing controller is `None`,
    /// not an error.
    ///
    /// # Errors
    ///
    /// Read errors other than a missing file, and parse errors.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        let memory = match self.read_optional::<Bytes>("memory.current")? {
            None => None,
            Some(current) => Some(MemoryStats {
                current,
                peak: self.read_optional("memory.peak")?,
                max: self.read_optional("memory.max")?.unwrap_or(Max::Max),
                stat: self.read_parsed("memory.stat")?,
                events: self.read_optional("memory.events")?.unwrap_or_default(),
            }),
        };
        let pids = match self.read_optional::<Count>("pids.current")? {
            None => None,
            Some(current) => Some(PidsStats {
                current,
                peak: self.read_optional("pids.peak")?,
                max: self.read_optional("pids.max")?.unwrap_or(Max::Max),
                events: self.read_optional("pids.events")?.unwrap_or_default(),
            }),
        };
        Ok(Stats {
            cpu: self.read_parsed("cpu.stat")?,
            memory,
            pids,
            io: self.read_optional("io.stat")?,
            pressure: PressureStats {
                cpu: optional_pressure(self, "cpu.pressure")?,
                memory: optional_pressure(self, "memory.pressure")?,
                io: optional_pressure(self, "io.pressure")?,
            },
        })
    }
}
