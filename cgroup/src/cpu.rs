//! The `cpu` controller: bandwidth (`cpu.max`, `cpu.max.burst`), weights
//! (`cpu.weight`, `cpu.weight.nice`), `cpu.idle`, utilisation clamps
//! (`cpu.uclamp.min/max`) and `cpu.stat`.
//!
//! # References
//!
//! - <https://docs.kernel.org/admin-guide/cgroup-v2.html#cpu>

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::value::{flat_keyed, parse_u64, write_keyed};
use crate::{Cgroup, CgroupError, ParseError};

/// `cpu.max`: at most `quota` of CPU time per `period` (`None` = no limit, `max`).
///
/// `Display` writes microseconds, as the kernel wants: `max 100000`, `20000 100000`.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::cpu::CpuMax;
/// use std::time::Duration;
/// let m = CpuMax::cores(0.2);
/// assert_eq!(m.to_string(), "20000 100000");
/// assert_eq!("max 100000".parse::<CpuMax>().unwrap().quota, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CpuMax {
    /// CPU time allowed per period; `None` is unlimited.
    pub quota: Option<Duration>,
    /// The period (the kernel accepts 1 ms ..= 1 s; default 100 ms).
    pub period: Duration,
}

impl CpuMax {
    /// The kernel's default period, 100 ms.
    pub const DEFAULT_PERIOD: Duration = Duration::from_millis(100);

    /// No limit, default period (`max 100000`).
    pub const UNLIMITED: CpuMax = CpuMax {
        quota: None,
        period: CpuMax::DEFAULT_PERIOD,
    };

    /// A limit of `cores` CPUs (e.g. `0.5`, `2.0`) with the default period.
    pub fn cores(cores: f64) -> CpuMax {
        let us = (cores.max(0.0) * CpuMax::DEFAULT_PERIOD.as_micros() as f64).round() as u64;
        CpuMax {
            quota: Some(Duration::from_micros(us)),
            period: CpuMax::DEFAULT_PERIOD,
        }
    }

    /// Checks the kernel's ranges: period 1 ms ..= 1 s, quota ≥ 1 ms, both whole
    /// microseconds.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] saying which bound was broken.
    pub fn validate(&self) -> Result<(), ParseError> {
        let err = |why: &str| ParseError::new("cpu.max", &self.to_string(), why.to_owned());
        if self.period < Duration::from_millis(1) || self.period > Duration::from_secs(1) {
            return Err(err("period must be between 1000 and 1000000 µs"));
        }
        if let Some(q) = self.quota {
            if q < Duration::from_millis(1) {
                return Err(err("quota must be at least 1000 µs"));
            }
            if q.subsec_nanos() % 1000 != 0 {
                return Err(err("quota must be whole microseconds"));
            }
        }
        if !self.period.subsec_nanos().is_multiple_of(1000) {
            return Err(err("period must be whole microseconds"));
        }
        Ok(())
    }
}

impl fmt::Display for CpuMax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.quota {
            None => write!(f, "max {}", self.period.as_micros()),
            Some(q) => write!(f, "{} {}", q.as_micros(), self.period.as_micros()),
        }
    }
}

impl FromStr for CpuMax {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut w = s.split_whitespace();
        let (q, p) = match (w.next(), w.next(), w.next()) {
            (Some(q), Some(p), None) => (q, Some(p)),
            (Some(q), None, None) => (q, None),
            _ => {
                return Err(ParseError::new(
                    "cpu.max",
                    s,
                    "expected `$QUOTA $PERIOD` or `max $PERIOD` (microseconds)",
                ));
            }
        };
        let quota = if q == "max" {
            None
        } else {
            Some(Duration::from_micros(parse_u64(q, "cpu.max quota")?))
        };
        let period = match p {
            Some(p) => Duration::from_micros(parse_u64(p, "cpu.max period")?),
            None => CpuMax::DEFAULT_PERIOD,
        };
        Ok(CpuMax { quota, period })
    }
}

/// A `cpu.weight` (also `io.weight`): 1 ..= 10000, default 100.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::cpu::CpuWeight;
/// assert_eq!(CpuWeight::new(200).unwrap().to_string(), "200");
/// assert!(CpuWeight::new(0).is_err());
/// assert!("10001".parse::<CpuWeight>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CpuWeight(u16);

impl CpuWeight {
    /// The kernel's default, 100.
    pub const DEFAULT: CpuWeight = CpuWeight(100);

    /// A weight in 1 ..= 10000.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] when out of range.
    pub fn new(w: u16) -> Result<CpuWeight, ParseError> {
        if (1..=10000).contains(&w) {
            Ok(CpuWeight(w))
        } else {
            Err(ParseError::new(
                "weight",
                &w.to_string(),
                "must be between 1 and 10000",
            ))
        }
    }

    /// The weight.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl Default for CpuWeight {
    fn default() -> Self {
        CpuWeight::DEFAULT
    }
}

impl fmt::Display for CpuWeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for CpuWeight {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let v = parse_u64(s.trim(), "weight")?;
        u16::try_from(v)
            .ok()
            .and_then(|v| CpuWeight::new(v).ok())
            .ok_or_else(|| ParseError::new("weight", s, "must be between 1 and 10000"))
    }
}

/// `cpu.weight.nice`: the weight as a nice value, -20 ..= 19.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Nice(i8);

impl Nice {
    /// A nice value in -20 ..= 19.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] when out of range.
    pub fn new(n: i8) -> Result<Nice, ParseError> {
        if (-20..=19).contains(&n) {
            Ok(Nice(n))
        } else {
            Err(ParseError::new(
                "nice value",
                &n.to_string(),
                "must be between -20 and 19",
            ))
        }
    }
    /// The value.
    pub fn get(self) -> i8 {
        self.0
    }
}

impl fmt::Display for Nice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Nice {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        s.trim()
            .parse::<i8>()
            .ok()
            .and_then(|n| Nice::new(n).ok())
            .ok_or_else(|| {
                ParseError::new("nice value", s, "must be an integer between -20 and 19")
            })
    }
}

/// `cpu.uclamp.min` / `cpu.uclamp.max`: a utilisation clamp in percent with two decimals,
/// or `max`.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::cpu::Uclamp;
/// let u: Uclamp = "12.5".parse().unwrap();
/// assert_eq!(u.to_string(), "12.50");
/// assert_eq!("max".parse::<Uclamp>().unwrap(), Uclamp::Max);
/// assert!("100.01".parse::<Uclamp>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Uclamp {
    /// `max` (100%, no clamp for `uclamp.max`).
    Max,
    /// Hundredths of a percent, 0 ..= 10000.
    Percent100ths(u16),
}

impl fmt::Display for Uclamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uclamp::Max => f.write_str("max"),
            Uclamp::Percent100ths(h) => write!(f, "{}.{:02}", h / 100, h % 100),
        }
    }
}

impl FromStr for Uclamp {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        if t == "max" {
            return Ok(Uclamp::Max);
        }
        let err = || {
            ParseError::new(
                "uclamp",
                s,
                "expected `max` or a percentage 0.00 ..= 100.00",
            )
        };
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if int.is_empty()
            || frac.len() > 2
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        let int: u32 = int.parse().map_err(|_| err())?;
        let frac: u32 = if frac.is_empty() {
            0
        } else {
            frac.parse::<u32>().map_err(|_| err())? * if frac.len() == 1 { 10 } else { 1 }
        };
        let h = int
            .checked_mul(100)
            .and_then(|v| v.checked_add(frac))
            .ok_or_else(err)?;
        if h > 10000 {
            return Err(err());
        }
        Ok(Uclamp::Percent100ths(h as u16))
    }
}

/// `cpu.stat`: CPU time used, and throttling when `cpu.max` is in force.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::cpu::CpuStat;
/// let s: CpuStat = "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\n".parse().unwrap();
/// assert_eq!(s.usage.as_micros(), 2000);
/// assert_eq!(s.nr_throttled, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CpuStat {
    /// `usage_usec`.
    pub usage: Duration,
    /// `user_usec`.
    pub user: Duration,
    /// `system_usec`.
    pub system: Duration,
    /// `nr_periods` (cpu controller enabled).
    pub nr_periods: Option<u64>,
    /// `nr_throttled`.
    pub nr_throttled: Option<u64>,
    /// `throttled_usec`.
    pub throttled: Option<Duration>,
    /// `nr_bursts`.
    pub nr_bursts: Option<u64>,
    /// `burst_usec`.
    pub burst: Option<Duration>,
    /// Lines this crate does not know (`core_sched.force_idle_usec`, …), in file order.
    pub other: Vec<(String, u64)>,
}

impl fmt::Display for CpuStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "usage_usec {}", self.usage.as_micros())?;
        writeln!(f, "user_usec {}", self.user.as_micros())?;
        writeln!(f, "system_usec {}", self.system.as_micros())?;
        write_keyed(f, &self.other)?;
        if let Some(v) = self.nr_periods {
            writeln!(f, "nr_periods {v}")?;
        }
        if let Some(v) = self.nr_throttled {
            writeln!(f, "nr_throttled {v}")?;
        }
        if let Some(v) = self.throttled {
            writeln!(f, "throttled_usec {}", v.as_micros())?;
        }
        if let Some(v) = self.nr_bursts {
            writeln!(f, "nr_bursts {v}")?;
        }
        if let Some(v) = self.burst {
            writeln!(f, "burst_usec {}", v.as_micros())?;
        }
        Ok(())
    }
}

impl FromStr for CpuStat {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut st = CpuStat::default();
        let mut seen = 0;
        for (k, v) in flat_keyed(s, "cpu.stat")? {
            let v = parse_u64(v, "cpu.stat value")?;
            let us = Duration::from_micros(v);
            match k {
                "usage_usec" => (st.usage, seen) = (us, seen | 1),
                "user_usec" => (st.user, seen) = (us, seen | 2),
                "system_usec" => (st.system, seen) = (us, seen | 4),
                "nr_periods" => st.nr_periods = Some(v),
                "nr_throttled" => st.nr_throttled = Some(v),
                "throttled_usec" => st.throttled = Some(us),
                "nr_bursts" => st.nr_bursts = Some(v),
                "burst_usec" => st.burst = Some(us),
                _ => st.other.push((k.to_owned(), v)),
            }
        }
        if seen != 7 {
            return Err(ParseError::new(
                "cpu.stat",
                s,
                "missing usage_usec, user_usec or system_usec",
            ));
        }
        Ok(st)
    }
}

/// A duration written as whole microseconds (`cpu.max.burst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Micros(pub Duration);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_micros().fmt(f)
    }
}

impl FromStr for Micros {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_u64(s.trim(), "microseconds").map(|v| Micros(Duration::from_micros(v)))
    }
}

impl From<Duration> for Micros {
    fn from(d: Duration) -> Micros {
        Micros(d)
    }
}

/// The `cpu.*` files of one cgroup; from [`Cgroup::cpu`].
#[derive(Debug, Clone, Copy)]
pub struct Cpu<'a> {
    pub(crate) cg: &'a Cgroup,
}

impl Cpu<'_> {
    knob!(max, set_max, CpuMax, CpuMax, "cpu.max");
    knob!(
        max_burst,
        set_max_burst,
        CpuMaxBurst,
        Micros,
        "cpu.max.burst"
    );
    knob!(weight, set_weight, CpuWeight, CpuWeight, "cpu.weight");
    knob!(
        weight_nice,
        set_weight_nice,
        CpuWeightNice,
        Nice,
        "cpu.weight.nice"
    );
    knob!(
        uclamp_min,
        set_uclamp_min,
        CpuUclampMin,
        Uclamp,
        "cpu.uclamp.min"
    );
    knob!(
        uclamp_max,
        set_uclamp_max,
        CpuUclampMax,
        Uclamp,
        "cpu.uclamp.max"
    );
    bool_knob!(idle, set_idle, CpuIdle, "cpu.idle");
    getter!(stat, CpuStat, "cpu.stat");

    /// Reads `cpu.stat` — present in every cgroup, even without the cpu controller (then
    /// only the usage lines). Same as [`stat`](Self::stat); here for symmetry with
    /// [`Cgroup::stats`].
    ///
    /// # Errors
    ///
    /// As [`stat`](Self::stat).
    pub fn usage(&self) -> Result<Duration, CgroupError> {
        self.stat().map(|s| s.usage)
    }
}
