//! The `io` controller: per-device limits ([`IoMax`]), weights ([`IoWeight`]), latency
//! targets ([`IoLatency`]), statistics ([`IoStat`]) and, on the root, the cost model
//! (`io.cost.qos`, `io.cost.model`, as [`IoDeviceParams`]).
//!
//! # References
//!
//! - <https://docs.kernel.org/admin-guide/cgroup-v2.html#io>

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::cpu::CpuWeight;
use crate::value::{kv_words, parse_u64};
use crate::{Cgroup, CgroupError, DevNum, ParseError};

fn opt_max(v: Option<u64>) -> String {
    v.map_or_else(|| "max".to_owned(), |v| v.to_string())
}

/// One `io.max` line: limits for one block device; `None` is `max` (unlimited).
///
/// `Display` always writes all four keys, so writing it sets exactly these limits.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::{DevNum, io::IoMax};
/// let l: IoMax = "8:16 rbps=2097152 wbps=max riops=max wiops=120".parse().unwrap();
/// assert_eq!(l.device, DevNum::new(8, 16));
/// assert_eq!((l.rbps, l.wiops), (Some(2097152), Some(120)));
/// assert!("8:16 rbps=-1".parse::<IoMax>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IoMax {
    /// The block device.
    pub device: DevNum,
    /// Read bytes per second.
    pub rbps: Option<u64>,
    /// Write bytes per second.
    pub wbps: Option<u64>,
    /// Read operations per second.
    pub riops: Option<u64>,
    /// Write operations per second.
    pub wiops: Option<u64>,
}

impl IoMax {
    /// No limits on `device` (writing it removes the device's line).
    pub fn unlimited(device: DevNum) -> IoMax {
        IoMax {
            device,
            rbps: None,
            wbps: None,
            riops: None,
            wiops: None,
        }
    }
}

impl fmt::Display for IoMax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rbps={} wbps={} riops={} wiops={}",
            self.device,
            opt_max(self.rbps),
            opt_max(self.wbps),
            opt_max(self.riops),
            opt_max(self.wiops)
        )
    }
}

impl FromStr for IoMax {
    type Err = ParseError;
    /// Parses one line; keys may come in any order and be omitted (then `max`).
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut words = s.split_whitespace();
        let device: DevNum = words
            .next()
            .ok_or_else(|| ParseError::new("io.max line", s, "empty"))?
            .parse()?;
        let mut m = IoMax::unlimited(device);
        let mut seen = [false; 4];
        for (k, v) in kv_words(words, "io.max line", s)? {
            let val = if v == "max" {
                None
            } else {
                Some(parse_u64(v, "io.max value")?)
            };
            let (slot, i) = match k {
                "rbps" => (&mut m.rbps, 0),
                "wbps" => (&mut m.wbps, 1),
                "riops" => (&mut m.riops, 2),
                "wiops" => (&mut m.wiops, 3),
                _ => {
                    return Err(ParseError::new(
                        "io.max line",
                        s,
                        format!("unknown key `{k}` (expected rbps, wbps, riops, wiops)"),
                    ));
                }
            };
            if seen[i] {
                return Err(ParseError::new(
                    "io.max line",
                    s,
                    format!("`{k}` given twice"),
                ));
            }
            seen[i] = true;
            *slot = val;
        }
        Ok(m)
    }
}

/// One `io.weight` line: the default weight (`default 100`) or a device's (`8:16 200`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IoWeight {
    /// `None` for the cgroup's default weight, else the device.
    pub device: Option<DevNum>,
    /// The weight (1 ..= 10000).
    pub weight: CpuWeight,
}

impl fmt::Display for IoWeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.device {
            None => write!(f, "default {}", self.weight),
            Some(d) => write!(f, "{d} {}", self.weight),
        }
    }
}

impl FromStr for IoWeight {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut w = s.split_whitespace();
        let (first, second) = match (w.next(), w.next(), w.next()) {
            (Some(a), Some(b), None) => (a, Some(b)),
            (Some(a), None, None) => (a, None),
            _ => {
                return Err(ParseError::new(
                    "io.weight line",
                    s,
                    "expected `default N`, `MAJ:MIN N` or `N`",
                ));
            }
        };
        match second {
            None => Ok(IoWeight {
                device: None,
                weight: first.parse()?,
            }),
            Some(weight) => Ok(IoWeight {
                device: if first == "default" {
                    None
                } else {
                    Some(first.parse()?)
                },
                weight: weight.parse()?,
            }),
        }
    }
}

/// Parses a whole `io.weight` file (`default 100` and per-device lines).
pub fn parse_io_weights(text: &str) -> Result<Vec<IoWeight>, ParseError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// One `io.latency` line: the latency target for a device (`8:16 target=75`,
/// microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IoLatency {
    /// The device.
    pub device: DevNum,
    /// The target; `None` (`max`) removes it.
    pub target: Option<Duration>,
}

impl fmt::Display for IoLatency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target {
            None => write!(f, "{} target=max", self.device),
            Some(t) => write!(f, "{} target={}", self.device, t.as_micros()),
        }
    }
}

impl FromStr for IoLatency {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut words = s.split_whitespace();
        let device: DevNum = words
            .next()
            .ok_or_else(|| ParseError::new("io.latency line", s, "empty"))?
            .parse()?;
        let kv = kv_words(words, "io.latency line", s)?;
        match kv.as_slice() {
            [("target", "max")] => Ok(IoLatency {
                device,
                target: None,
            }),
            [("target", v)] => Ok(IoLatency {
                device,
                target: Some(Duration::from_micros(parse_u64(v, "io.latency target")?)),
            }),
            _ => Err(ParseError::new(
                "io.latency line",
                s,
                "expected `MAJ:MIN target=<usec>`",
            )),
        }
    }
}

/// `io.stat` counters for one device.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IoDeviceStat {
    /// The device.
    pub device: DevNum,
    /// `rbytes`: bytes read.
    pub rbytes: u64,
    /// `wbytes`: bytes written.
    pub wbytes: u64,
    /// `rios`: read operations.
    pub rios: u64,
    /// `wios`: write operations.
    pub wios: u64,
    /// `dbytes`: bytes discarded.
    pub dbytes: u64,
    /// `dios`: discard operations.
    pub dios: u64,
    /// Other `key=value` pairs (`cost.*`, `depth`, `avg_lat`, …) kept as text, in order.
    pub other: Vec<(String, String)>,
}

impl Default for DevNum {
    fn default() -> Self {
        DevNum::new(0, 0)
    }
}

impl fmt::Display for IoDeviceStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rbytes={} wbytes={} rios={} wios={} dbytes={} dios={}",
            self.device, self.rbytes, self.wbytes, self.rios, self.wios, self.dbytes, self.dios
        )?;
        for (k, v) in &self.other {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

impl FromStr for IoDeviceStat {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut words = s.split_whitespace();
        let device: DevNum = words
            .next()
            .ok_or_else(|| ParseError::new("io.stat line", s, "empty"))?
            .parse()?;
        let mut st = IoDeviceStat {
            device,
            ..IoDeviceStat::default()
        };
        for (k, v) in kv_words(words, "io.stat line", s)? {
            let slot = match k {
                "rbytes" => &mut st.rbytes,
                "wbytes" => &mut st.wbytes,
                "rios" => &mut st.rios,
                "wios" => &mut st.wios,
                "dbytes" => &mut st.dbytes,
                "dios" => &mut st.dios,
                _ => {
                    st.other.push((k.to_owned(), v.to_owned()));
                    continue;
                }
            };
            *slot = parse_u64(v, "io.stat value")?;
        }
        Ok(st)
    }
}

/// `io.stat`: one [`IoDeviceStat`] per device.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IoStat {
    /// Per device, in file order.
    pub devices: Vec<IoDeviceStat>,
}

impl IoStat {
    /// The counters of `device`.
    pub fn device(&self, device: DevNum) -> Option<&IoDeviceStat> {
        self.devices.iter().find(|d| d.device == device)
    }
}

impl fmt::Display for IoStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.devices {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl FromStr for IoStat {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Ok(IoStat {
            devices: s
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::parse)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A device line of `io.cost.qos` or `io.cost.model` (root cgroup only): the device and
/// its `key=value` parameters, kept in order as text (the kernel mixes integers,
/// percentages with decimals and words such as `ctrl=auto`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IoDeviceParams {
    /// The device.
    pub device: DevNum,
    /// The parameters, in order.
    pub params: Vec<(String, String)>,
}

impl IoDeviceParams {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for IoDeviceParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.device)?;
        for (k, v) in &self.params {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

impl FromStr for IoDeviceParams {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut words = s.split_whitespace();
        let device: DevNum = words
            .next()
            .ok_or_else(|| ParseError::new("io.cost line", s, "empty"))?
            .parse()?;
        let params = kv_words(words, "io.cost line", s)?
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(IoDeviceParams { device, params })
    }
}

fn parse_lines<T: FromStr<Err = ParseError>>(text: &str) -> Result<Vec<T>, ParseError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// The `io.*` files of one cgroup; from [`Cgroup::io`].
#[derive(Debug, Clone, Copy)]
pub struct Io<'a> {
    pub(crate) cg: &'a Cgroup,
}

impl Io<'_> {
    /// Reads `io.max`: the devices that have limits.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn max(&self) -> Result<Vec<IoMax>, CgroupError> {
        self.cg.read_with("io.max", parse_lines)
    }

    /// Writes one device's limits to `io.max`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`] (`ENODEV` for a device number that is not a block device).
    pub fn set_max(&self, limit: IoMax) -> Result<(), CgroupError> {
        self.cg.set(&crate::Setting::IoMax(limit))
    }

    /// Reads `io.weight` (the `default` line and per-device overrides).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn weight(&self) -> Result<Vec<IoWeight>, CgroupError> {
        self.cg.read_with("io.weight", parse_io_weights)
    }

    /// Writes one `io.weight` line.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`].
    pub fn set_weight(&self, weight: IoWeight) -> Result<(), CgroupError> {
        self.cg.set(&crate::Setting::IoWeight(weight))
    }

    /// Reads `io.latency`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn latency(&self) -> Result<Vec<IoLatency>, CgroupError> {
        self.cg.read_with("io.latency", parse_lines)
    }

    /// Writes one `io.latency` line.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`].
    pub fn set_latency(&self, latency: IoLatency) -> Result<(), CgroupError> {
        self.cg.set(&crate::Setting::IoLatency(latency))
    }

    /// Reads `io.stat`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn stat(&self) -> Result<IoStat, CgroupError> {
        self.cg.read_parsed("io.stat")
    }

    /// Reads `io.cost.qos` (root cgroup, with iocost built in).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] (`ENOENT` outside the root) or [`CgroupError::Parse`].
    pub fn cost_qos(&self) -> Result<Vec<IoDeviceParams>, CgroupError> {
        self.cg.read_with("io.cost.qos", parse_lines)
    }

    /// Writes one `io.cost.qos` line (e.g. `8:0 enable=1 ctrl=auto`).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`].
    pub fn set_cost_qos(&self, line: &IoDeviceParams) -> Result<(), CgroupError> {
        self.cg.write_file("io.cost.qos", line)
    }

    /// Reads `io.cost.model` (root cgroup).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn cost_model(&self) -> Result<Vec<IoDeviceParams>, CgroupError> {
        self.cg.read_with("io.cost.model", parse_lines)
    }

    /// Writes one `io.cost.model` line.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`].
    pub fn set_cost_model(&self, line: &IoDeviceParams) -> Result<(), CgroupError> {
        self.cg.write_file("io.cost.model", line)
    }
}
