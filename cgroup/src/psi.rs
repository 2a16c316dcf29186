//! Pressure stall information: [`Pressure`], parsed from `cpu.pressure`,
//! `memory.pressure`, `io.pressure` (and `irq.pressure`).
//!
//! # References
//!
//! - <https://docs.kernel.org/accounting/psi.html>

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::ParseError;
use crate::value::parse_u64;

/// One line of a pressure file: the share of time (in percent) some or all tasks were
/// stalled, averaged over 10 s, 60 s and 300 s, and the total stall time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PressureLine {
    /// `avg10`, percent.
    pub avg10: f64,
    /// `avg60`, percent.
    pub avg60: f64,
    /// `avg300`, percent.
    pub avg300: f64,
    /// `total`: accumulated stall time (microsecond resolution).
    pub total: Duration,
}

/// A parsed `*.pressure` file.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::psi::Pressure;
/// let p: Pressure = "some avg10=0.50 avg60=0.10 avg300=0.00 total=1234\n\
///                    full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n".parse().unwrap();
/// let some = p.some.unwrap();
/// assert_eq!(some.avg10, 0.5);
/// assert_eq!(some.total.as_micros(), 1234);
/// // irq.pressure has only a `full` line.
/// let irq: Pressure = "full avg10=0.00 avg60=0.00 avg300=0.00 total=7\n".parse().unwrap();
/// assert_eq!(irq.some, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct Pressure {
    /// `some`: at least one task stalled (absent from `irq.pressure`, which has only `full`).
    pub some: Option<PressureLine>,
    /// `full`: all non-idle tasks stalled (absent from `cpu.pressure` before 5.13).
    pub full: Option<PressureLine>,
}

impl Pressure {
    /// From its lines.
    pub fn new(some: Option<PressureLine>, full: Option<PressureLine>) -> Self {
        Pressure { some, full }
    }
}

impl fmt::Display for PressureLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "avg10={:.2} avg60={:.2} avg300={:.2} total={}",
            self.avg10,
            self.avg60,
            self.avg300,
            self.total.as_micros()
        )
    }
}

impl fmt::Display for Pressure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(some) = &self.some {
            writeln!(f, "some {some}")?;
        }
        if let Some(full) = &self.full {
            writeln!(f, "full {full}")?;
        }
        Ok(())
    }
}

fn parse_avg(v: &str, line: &str) -> Result<f64, ParseError> {
    let ok = !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && v.bytes().filter(|&b| b == b'.').count() <= 1;
    if !ok {
        return Err(ParseError::new(
            "pressure line",
            line,
            format!("average `{v}` is not a non-negative decimal"),
        ));
    }
    v.parse()
        .map_err(|_| ParseError::new("pressure line", line, format!("bad average `{v}`")))
}

impl FromStr for PressureLine {
    type Err = ParseError;
    /// Parses `avg10=… avg60=… avg300=… total=…` (without the leading `some`/`full`).
    fn from_str(line: &str) -> Result<Self, ParseError> {
        let mut out = PressureLine::default();
        let mut seen = [false; 4];
        for w in line.split_whitespace() {
            let (k, v) = w.split_once('=').ok_or_else(|| {
                ParseError::new(
                    "pressure line",
                    line,
                    format!("expected key=value, got `{w}`"),
                )
            })?;
            let i = match k {
                "avg10" => {
                    out.avg10 = parse_avg(v, line)?;
                    0
                }
                "avg60" => {
                    out.avg60 = parse_avg(v, line)?;
                    1
                }
                "avg300" => {
                    out.avg300 = parse_avg(v, line)?;
                    2
                }
                "total" => {
                    out.total = Duration::from_micros(parse_u64(v, "pressure total")?);
                    3
                }
                _ => continue, // keep working if the kernel adds a field
            };
            seen[i] = true;
        }
        if seen.contains(&false) {
            return Err(ParseError::new(
                "pressure line",
                line,
                "needs avg10, avg60, avg300 and total",
            ));
        }
        Ok(out)
    }
}

impl FromStr for Pressure {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut some = None;
        let mut full = None;
        for line in s.lines().filter(|l| !l.trim().is_empty()) {
            let (kind, rest) = line.split_once(' ').ok_or_else(|| {
                ParseError::new("pressure file", line, "expected `some …` or `full …`")
            })?;
            match kind {
                "some" => some = Some(rest.parse()?),
                "full" => full = Some(rest.parse()?),
                _ => {
                    return Err(ParseError::new(
                        "pressure file",
                        line,
                        "line must start with `some` or `full`",
                    ));
                }
            }
        }
        if some.is_none() && full.is_none() {
            return Err(ParseError::new(
                "pressure file",
                s,
                "no `some` or `full` line",
            ));
        }
        Ok(Pressure { some, full })
    }
}
