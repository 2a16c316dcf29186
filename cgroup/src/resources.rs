//! [`Setting`] (one typed write to one interface file) and [`Resources`] (a reusable
//! set of limits to apply to a new cgroup).

use std::borrow::Cow;

use crate::cpu::{CpuMax, CpuWeight, Micros, Nice, Uclamp};
use crate::cpuset::{CpuList, Partition};
use crate::dmem::{DmemKind, DmemLimit};
use crate::hugetlb::HugePageSize;
use crate::io::{IoLatency, IoMax, IoWeight};
use crate::misc::MiscLimit;
use crate::pids::Count;
use crate::rdma::RdmaLimit;
use crate::{Bytes, Cgroup, CgroupError, Controller, Max, ParseError};

/// One typed value for one cgroup interface file. [`Cgroup::set`] writes it;
/// [`Resources::extra`] carries any of them.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::{Setting, Controller, cpu::CpuMax};
/// let s = Setting::CpuMax(CpuMax::cores(1.5));
/// assert_eq!(s.file(), "cpu.max");
/// assert_eq!(s.value(), "150000 100000");
/// assert_eq!(s.controller(), Some(Controller::Cpu));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// `cpu.max`.
    CpuMax(CpuMax),
    /// `cpu.max.burst`.
    CpuMaxBurst(Micros),
    /// `cpu.weight`.
    CpuWeight(CpuWeight),
    /// `cpu.weight.nice`.
    CpuWeightNice(Nice),
    /// `cpu.idle`.
    CpuIdle(bool),
    /// `cpu.uclamp.min`.
    CpuUclampMin(Uclamp),
    /// `cpu.uclamp.max`.
    CpuUclampMax(Uclamp),
    /// `cpuset.cpus`.
    CpusetCpus(CpuList),
    /// `cpuset.mems`.
    CpusetMems(CpuList),
    /// `cpuset.cpus.exclusive`.
    CpusetCpusExclusive(CpuList),
    /// `cpuset.cpus.partition`.
    CpusetPartition(Partition),
    /// `memory.max`.
    MemoryMax(Max<Bytes>),
    /// `memory.high`.
    MemoryHigh(Max<Bytes>),
    /// `memory.low`.
    MemoryLow(Max<Bytes>),
    /// `memory.min`.
    MemoryMin(Max<Bytes>),
    /// `memory.swap.max`.
    MemorySwapMax(Max<Bytes>),
    /// `memory.swap.high`.
    MemorySwapHigh(Max<Bytes>),
    /// `memory.zswap.max`.
    MemoryZswapMax(Max<Bytes>),
    /// `memory.zswap.writeback`.
    MemoryZswapWriteback(bool),
    /// `memory.oom.group`.
    MemoryOomGroup(bool),
    /// One device line of `io.max`.
    IoMax(IoMax),
    /// One line of `io.weight`.
    IoWeight(IoWeight),
    /// One device line of `io.latency`.
    IoLatency(IoLatency),
    /// `pids.max`.
    PidsMax(Max<Count>),
    /// `hugetlb.<size>.max`.
    HugetlbMax(HugePageSize, Max<Bytes>),
    /// `hugetlb.<size>.rsvd.max`.
    HugetlbRsvdMax(HugePageSize, Max<Bytes>),
    /// One device line of `rdma.max`.
    RdmaMax(RdmaLimit),
    /// One resource line of `misc.max`.
    MiscMax(MiscLimit),
    /// One region line of `dmem.max`, `dmem.low` or `dmem.min`.
    Dmem(DmemKind, DmemLimit),
    /// `cgroup.max.depth`.
    MaxDepth(Max<u32>),
    /// `cgroup.max.descendants`.
    MaxDescendants(Max<u32>),
}

impl Setting {
    /// The controller the file belongs to (`None` for core `cgroup.*` files).
    pub fn controller(&self) -> Option<Controller> {
        use Setting::*;
        Some(match self {
            CpuMax(_) | CpuMaxBurst(_) | CpuWeight(_) | CpuWeightNice(_) | CpuIdle(_)
            | CpuUclampMin(_) | CpuUclampMax(_) => Controller::Cpu,
            CpusetCpus(_) | CpusetMems(_) | CpusetCpusExclusive(_) | CpusetPartition(_) => {
                Controller::Cpuset
            }
            MemoryMax(_)
            | MemoryHigh(_)
            | MemoryLow(_)
            | MemoryMin(_)
            | MemorySwapMax(_)
            | MemorySwapHigh(_)
            | MemoryZswapMax(_)
            | MemoryZswapWriteback(_)
            | MemoryOomGroup(_) => Controller::Memory,
            IoMax(_) | IoWeight(_) | IoLatency(_) => Controller::Io,
            PidsMax(_) => Controller::Pids,
            HugetlbMax(..) | HugetlbRsvdMax(..) => Controller::Hugetlb,
            RdmaMax(_) => Controller::Rdma,
            MiscMax(_) => Controller::Misc,
            Dmem(..) => Controller::Dmem,
            MaxDepth(_) | MaxDescendants(_) => return None,
        })
    }

    /// The interface file, relative to the cgroup directory.
    pub fn file(&self) -> Cow<'static, str> {
        use Setting::*;
        Cow::Borrowed(match self {
            CpuMax(_) => "cpu.max",
            CpuMaxBurst(_) => "cpu.max.burst",
            CpuWeight(_) => "cpu.weight",
            CpuWeightNice(_) => "cpu.weight.nice",
            CpuIdle(_) => "cpu.idle",
            CpuUclampMin(_) => "cpu.uclamp.min",
            CpuUclampMax(_) => "cpu.uclamp.max",
            CpusetCpus(_) => "cpuset.cpus",
            CpusetMems(_) => "cpuset.mems",
            CpusetCpusExclusive(_) => "cpuset.cpus.exclusive",
            CpusetPartition(_) => "cpuset.cpus.partition",
            MemoryMax(_) => "memory.max",
            MemoryHigh(_) => "memory.high",
            MemoryLow(_) => "memory.low",
            MemoryMin(_) => "memory.min",
            MemorySwapMax(_) => "memory.swap.max",
            MemorySwapHigh(_) => "memory.swap.high",
            MemoryZswapMax(_) => "memory.zswap.max",
            MemoryZswapWriteback(_) => "memory.zswap.writeback",
            MemoryOomGroup(_) => "memory.oom.group",
            IoMax(_) => "io.max",
            IoWeight(_) => "io.weight",
            IoLatency(_) => "io.latency",
            PidsMax(_) => "pids.max",
            HugetlbMax(size, _) => return Cow::Owned(format!("hugetlb.{size}.max")),
            HugetlbRsvdMax(size, _) => return Cow::Owned(format!("hugetlb.{size}.rsvd.max")),
            RdmaMax(_) => "rdma.max",
            MiscMax(_) => "misc.max",
            Dmem(kind, _) => kind.file(),
            MaxDepth(_) => "cgroup.max.depth",
            MaxDescendants(_) => "cgroup.max.descendants",
        })
    }

    /// The exact text written to [`file`](Self::file).
    pub fn value(&self) -> String {
        use Setting::*;
        let b = |v: &bool| crate::value::bool01(*v).to_owned();
        match self {
            CpuMax(v) => v.to_string(),
            CpuMaxBurst(v) => v.to_string(),
            CpuWeight(v) => v.to_string(),
            CpuWeightNice(v) => v.to_string(),
            CpuIdle(v) | MemoryZswapWriteback(v) | MemoryOomGroup(v) => b(v),
            CpuUclampMin(v) | CpuUclampMax(v) => v.to_string(),
            CpusetCpus(v) | CpusetMems(v) | CpusetCpusExclusive(v) => v.to_string(),
            CpusetPartition(v) => v.to_string(),
            MemoryMax(v) | MemoryHigh(v) | MemoryLow(v) | MemoryMin(v) | MemorySwapMax(v)
            | MemorySwapHigh(v) | MemoryZswapMax(v) => v.to_string(),
            IoMax(v) => v.to_string(),
            IoWeight(v) => v.to_string(),
            IoLatency(v) => v.to_string(),
            PidsMax(v) => v.to_string(),
            HugetlbMax(_, v) | HugetlbRsvdMax(_, v) => v.to_string(),
            RdmaMax(v) => v.to_string(),
            MiscMax(v) => v.to_string(),
            Dmem(_, v) => v.to_string(),
            MaxDepth(v) | MaxDescendants(v) => v.to_string(),
        }
    }

    /// Checks what can be checked without the kernel (ranges the kernel would reject
    /// with a bare `EINVAL`).
    ///
    /// # Errors
    ///
    /// A [`ParseError`] naming the value and the rule.
    pub fn validate(&self) -> Result<(), ParseError> {
        match self {
            Setting::CpuMax(m) => m.validate(),
            Setting::CpuUclampMin(Uclamp::Percent100ths(h))
            | Setting::CpuUclampMax(Uclamp::Percent100ths(h))
                if *h > 10000 =>
            {
                Err(ParseError::new(
                    "uclamp",
                    &self.value(),
                    "must be at most 100.00",
                ))
            }
            Setting::HugetlbMax(size, Max::Value(b))
            | Setting::HugetlbRsvdMax(size, Max::Value(b))
                if size.bytes() == 0 || b.get() % size.bytes() != 0 =>
            {
                Err(ParseError::new(
                    "hugetlb limit",
                    &self.value(),
                    format!("must be a multiple of the page size {size}"),
                ))
            }
            // The kernel answers ERANGE (newer) or EINVAL (older) to a zero rate.
            Setting::IoMax(m) if [m.rbps, m.wbps, m.riops, m.wiops].contains(&Some(0)) => {
                Err(ParseError::new(
                    "io.max",
                    &self.value(),
                    "a rate of 0 is rejected by the kernel; use None for no limit",
                ))
            }
            // Written in microseconds: below 1 µs it would read as `target=0`, which the
            // kernel takes as "no target" — a limit silently removed.
            Setting::IoLatency(l) if l.target.is_some_and(|t| t.as_micros() == 0) => {
                Err(ParseError::new(
                    "io.latency",
                    &self.value(),
                    "the target must be at least 1 µs; use None to remove it",
                ))
            }
            // PID_MAX_LIMIT (4 Mi): pids.max above it is EINVAL.
            Setting::PidsMax(Max::Value(n)) if n.0 > 1 << 22 => Err(ParseError::new(
                "pids.max",
                &self.value(),
                "must be at most 4194304 (PID_MAX_LIMIT)",
            )),
            // Parsed by the kernel as an int.
            Setting::MaxDepth(Max::Value(n)) | Setting::MaxDescendants(Max::Value(n))
                if *n > i32::MAX as u32 =>
            {
                Err(ParseError::new(
                    "cgroup.max.*",
                    &self.value(),
                    "must be at most 2147483647",
                ))
            }
            Setting::RdmaMax(l)
                if l.device.is_empty() || l.device.contains(char::is_whitespace) =>
            {
                Err(ParseError::new(
                    "rdma device",
                    &l.device,
                    "must be one non-empty word",
                ))
            }
            Setting::MiscMax(l)
                if l.resource.is_empty() || l.resource.contains(char::is_whitespace) =>
            {
                Err(ParseError::new(
                    "misc resource",
                    &l.resource,
                    "must be one non-empty word",
                ))
            }
            Setting::Dmem(_, l)
                if l.region.is_empty() || l.region.contains(char::is_whitespace) =>
            {
                Err(ParseError::new(
                    "dmem region",
                    &l.region,
                    "must be one non-empty word",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// A reusable set of resource limits: plain data (`Clone`, `Default`) that a container
/// builder stores and applies to each new cgroup.
///
/// Unset fields (`None`, empty) leave the kernel's defaults alone. [`extra`](Self::extra)
/// carries any other typed [`Setting`].
///
/// # Examples
///
/// ```
/// use hutch_cgroup::{Bytes, Controller, Max, Resources, cpu::CpuMax, pids::Count};
/// let mut r = Resources::default();
/// r.memory_max = Some(Max::Value(Bytes::mib(256)));
/// r.cpu_max = Some(CpuMax::cores(0.5));
/// r.pids_max = Some(Max::Value(Count(64)));
/// assert_eq!(r.required_controllers(), [Controller::Cpu, Controller::Memory, Controller::Pids]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resources {
    /// `cpu.max`.
    pub cpu_max: Option<CpuMax>,
    /// `cpu.weight`.
    pub cpu_weight: Option<CpuWeight>,
    /// `cpuset.cpus`.
    pub cpuset_cpus: Option<CpuList>,
    /// `cpuset.mems`.
    pub cpuset_mems: Option<CpuList>,
    /// `memory.max`.
    pub memory_max: Option<Max<Bytes>>,
    /// `memory.high`.
    pub memory_high: Option<Max<Bytes>>,
    /// `memory.low`.
    pub memory_low: Option<Max<Bytes>>,
    /// `memory.min`.
    pub memory_min: Option<Max<Bytes>>,
    /// `memory.swap.max`.
    pub memory_swap_max: Option<Max<Bytes>>,
    /// `memory.oom.group`.
    pub memory_oom_group: Option<bool>,
    /// `pids.max`.
    pub pids_max: Option<Max<Count>>,
    /// `io.max`, one entry per device.
    pub io_max: Vec<IoMax>,
    /// `io.weight` lines (default and per device).
    pub io_weight: Vec<IoWeight>,
    /// `hugetlb.<size>.max` per page size.
    pub hugetlb_max: Vec<(HugePageSize, Max<Bytes>)>,
    /// Any other setting, applied last, in order.
    pub extra: Vec<Setting>,
}

impl Resources {
    /// Every setting, in the order [`apply`](Self::apply) writes them (cpuset first, so
    /// placement holds before anything runs; `extra` last).
    pub fn settings(&self) -> Vec<Setting> {
        let mut out = Vec::new();
        let mut push = |s: Option<Setting>| out.extend(s);
        push(self.cpuset_cpus.clone().map(Setting::CpusetCpus));
        push(self.cpuset_mems.clone().map(Setting::CpusetMems));
        push(self.cpu_max.map(Setting::CpuMax));
        push(self.cpu_weight.map(Setting::CpuWeight));
        push(self.memory_min.map(Setting::MemoryMin));
        push(self.memory_low.map(Setting::MemoryLow));
        push(self.memory_high.map(Setting::MemoryHigh));
        push(self.memory_max.map(Setting::MemoryMax));
        push(self.memory_swap_max.map(Setting::MemorySwapMax));
        push(self.memory_oom_group.map(Setting::MemoryOomGroup));
        push(self.pids_max.map(Setting::PidsMax));
        out.extend(self.io_weight.iter().copied().map(Setting::IoWeight));
        out.extend(self.io_max.iter().copied().map(Setting::IoMax));
        out.extend(
            self.hugetlb_max
                .iter()
                .map(|&(s, m)| Setting::HugetlbMax(s, m)),
        );
        out.extend(self.extra.iter().cloned());
        out
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.settings().is_empty()
    }

    /// The controllers the settings need, sorted and without duplicates — what the parent
    /// must offer and enable ([`Cgroup::ensure_controllers`]).
    pub fn required_controllers(&self) -> Vec<Controller> {
        let mut c: Vec<Controller> = self
            .settings()
            .iter()
            .filter_map(Setting::controller)
            .collect();
        c.sort();
        c.dedup();
        c
    }

    /// Checks every setting without the kernel.
    ///
    /// # Errors
    ///
    /// The first [`ParseError`] found, with the file it is for.
    pub fn validate(&self) -> Result<(), (Cow<'static, str>, ParseError)> {
        for s in self.settings() {
            s.validate().map_err(|e| (s.file(), e))?;
        }
        Ok(())
    }

    /// Writes every setting to `cgroup`, in [`settings`](Self::settings) order, stopping
    /// at the first failure.
    ///
    /// # Errors
    ///
    /// The [`CgroupError`] of the first setting that failed (it names the file and value);
    /// `ENOENT` there usually means the controller is not enabled in the parent's
    /// `cgroup.subtree_control` — call [`Cgroup::ensure_controllers`] on the parent first.
    pub fn apply(&self, cgroup: &Cgroup) -> Result<(), CgroupError> {
        for s in self.settings() {
            cgroup.set(&s)?;
        }
        Ok(())
    }
}
