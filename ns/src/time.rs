//! Time namespaces: clock offsets for `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME`, written to
//! `/proc/PID/timens_offsets` before any process enters the namespace.
//!
//! # References
//! - [time_namespaces(7)](https://man7.org/linux/man-pages/man7/time_namespaces.7.html)

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::handle::DEFAULT_PROC_ROOT;

const NANOS_PER_SEC: u32 = 1_000_000_000;

/// A signed clock offset, kept as the kernel's `timespec`: whole seconds (negative allowed)
/// plus `0..1_000_000_000` nanoseconds. So −1.5 s is `secs = -2, nanos = 500_000_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ClockOffset {
    secs: i64,
    nanos: u32,
}

impl ClockOffset {
    /// No offset.
    pub const ZERO: ClockOffset = ClockOffset { secs: 0, nanos: 0 };

    /// `secs` seconds plus `nanos` nanoseconds; nanoseconds of a second or more carry into
    /// the seconds (saturating at the `i64` limits).
    pub fn new(secs: i64, nanos: u32) -> ClockOffset {
        ClockOffset {
            secs: secs.saturating_add(i64::from(nanos / NANOS_PER_SEC)),
            nanos: nanos % NANOS_PER_SEC,
        }
    }

    /// A positive offset: the clock in the namespace runs `by` ahead (saturating).
    pub fn forward(by: Duration) -> ClockOffset {
        ClockOffset {
            secs: i64::try_from(by.as_secs()).unwrap_or(i64::MAX),
            nanos: by.subsec_nanos(),
        }
    }

    /// A negative offset: the clock in the namespace runs `by` behind (saturating).
    pub fn backward(by: Duration) -> ClockOffset {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        match by.subsec_nanos() {
            0 => ClockOffset {
                secs: -secs,
                nanos: 0,
            },
            n => ClockOffset {
                secs: (-secs).saturating_sub(1),
                nanos: NANOS_PER_SEC - n,
            },
        }
    }

    /// Whole seconds (rounded towards minus infinity).
    pub fn secs(&self) -> i64 {
        self.secs
    }

    /// Nanoseconds added to [`ClockOffset::secs`], always `0..1_000_000_000`.
    pub fn nanos(&self) -> u32 {
        self.nanos
    }

    /// The offset in nanoseconds.
    pub fn as_nanos(&self) -> i128 {
        i128::from(self.secs) * i128::from(NANOS_PER_SEC) + i128::from(self.nanos)
    }

    /// True for a zero offset.
    pub fn is_zero(&self) -> bool {
        *self == ClockOffset::ZERO
    }
}

impl fmt::Display for ClockOffset {
    /// Writes `SECS NANOS` as the kernel reads them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.secs, self.nanos)
    }
}

/// The offsets of a time namespace.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use hutch_ns::time::{ClockOffset, TimeOffsets};
/// let mut offsets = TimeOffsets::default();
/// offsets.monotonic = ClockOffset::forward(Duration::from_secs(3600));
/// offsets.boottime = ClockOffset::backward(Duration::from_millis(1500));
/// assert_eq!(offsets.to_string(), "monotonic 3600 0\nboottime -2 500000000\n");
/// // What the kernel prints when the file is read back parses too.
/// let read: TimeOffsets = "monotonic        3600         0\nboottime           -2 500000000\n".parse()?;
/// assert_eq!(read, offsets);
/// # Ok::<(), hutch_ns::time::ParseTimeOffsetsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TimeOffsets {
    /// Offset of `CLOCK_MONOTONIC` (and its `_RAW`/`_COARSE` variants).
    pub monotonic: ClockOffset,
    /// Offset of `CLOCK_BOOTTIME` (and `_ALARM`).
    pub boottime: ClockOffset,
}

impl TimeOffsets {
    /// True if both offsets are zero (writing them is then a no-op the kernel still checks).
    pub fn is_zero(&self) -> bool {
        self.monotonic.is_zero() && self.boottime.is_zero()
    }
}

impl fmt::Display for TimeOffsets {
    /// Writes `monotonic SECS NANOS\nboottime SECS NANOS\n`, the `timens_offsets` format.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "monotonic {}", self.monotonic)?;
        writeln!(f, "boottime {}", self.boottime)
    }
}

/// A line of `timens_offsets` text that is not `CLOCK SECS NANOS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timens_offsets line {line} is not `monotonic|boottime SECS NANOS`: {text:?}")]
pub struct ParseTimeOffsetsError {
    /// The 1-based line number.
    pub line: usize,
    /// The line.
    pub text: String,
}

impl FromStr for TimeOffsets {
    type Err = ParseTimeOffsetsError;

    /// Parses `timens_offsets` text: lines of a clock (`monotonic`, `boottime`, or the clock
    /// ids 1 and 7), seconds and nanoseconds (`0..1e9`), in any padding. Missing clocks are 0.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut offsets = TimeOffsets::default();
        for (i, line) in s.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let err = || ParseTimeOffsetsError {
                line: i + 1,
                text: line.to_owned(),
            };
            let mut fields = line.split_ascii_whitespace();
            let (Some(clock), Some(secs), Some(nanos), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(err());
            };
            let secs: i64 = secs.parse().map_err(|_| err())?;
            let nanos: u32 = nanos.parse().map_err(|_| err())?;
            if nanos >= NANOS_PER_SEC {
                return Err(err());
            }
            let offset = ClockOffset { secs, nanos };
            match clock {
                "monotonic" | "1" => offsets.monotonic = offset,
                "boottime" | "7" => offsets.boottime = offset,
                _ => return Err(err()),
            }
        }
        Ok(offsets)
    }
}

/// Writing time namespace offsets failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TimeNsError {
    /// The write to `/proc/PID/timens_offsets` failed.
    #[error("process {pid}: cannot write {}", path.display())]
    Write {
        /// The target process.
        pid: u32,
        /// The file.
        path: PathBuf,
        /// The OS error: `EACCES` once a process has entered the namespace, `EPERM` without
        /// `CAP_SYS_TIME` in its user namespace, `ERANGE` for offsets the kernel refuses.
        #[source]
        source: io::Error,
    },
}

/// Sets the clock offsets of the time namespace process `pid` created for its children with
/// `unshare(CLONE_NEWTIME)`, in one `write(2)` of both lines. Must happen before any process
/// enters that namespace — so not for a `clone3(CLONE_NEWTIME)` child, which is born inside
/// it (`EACCES`): unshare, write the offsets, then fork, exec or `setns` into it.
///
/// # Errors
/// [`TimeNsError::Write`] naming the pid and the file.
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// use hutch_ns::time::{write_time_offsets, ClockOffset, TimeOffsets};
/// # let child_pid = 1;
/// let offsets = TimeOffsets {
///     monotonic: ClockOffset::forward(Duration::from_secs(86_400)),
///     boottime: ClockOffset::forward(Duration::from_secs(86_400)),
/// };
/// write_time_offsets(child_pid, &offsets)?;
/// # Ok::<(), hutch_ns::time::TimeNsError>(())
/// ```
///
/// # References
/// - [time_namespaces(7)](https://man7.org/linux/man-pages/man7/time_namespaces.7.html),
///   "/proc/PID/timens_offsets"
pub fn write_time_offsets(pid: u32, offsets: &TimeOffsets) -> Result<(), TimeNsError> {
    write_time_offsets_in_proc(DEFAULT_PROC_ROOT, pid, offsets)
}

/// [`write_time_offsets`] with proc mounted at `proc_root`.
///
/// # Errors
/// As [`write_time_offsets`].
pub fn write_time_offsets_in_proc(
    proc_root: impl AsRef<Path>,
    pid: u32,
    offsets: &TimeOffsets,
) -> Result<(), TimeNsError> {
    let path = proc_root
        .as_ref()
        .join(pid.to_string())
        .join("timens_offsets");
    let err = |source| TimeNsError::Write {
        pid,
        path: path.clone(),
        source,
    };
    let text = offsets.to_string();
    let mut file = OpenOptions::new().write(true).open(&path).map_err(err)?;
    let written = file.write(text.as_bytes()).map_err(err)?;
    if written != text.len() {
        return Err(err(io::Error::from_raw_os_error(libc::EIO)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Read back from `/proc/self/timens_offsets` after
    /// `unshare --time --fork --monotonic 3600 --boottime -5` on Linux 6.18.
    const KERNEL_TEXT: &str = "monotonic        3600         0\nboottime           -5         0\n";

    #[test]
    fn parses_kernel_text() {
        let offsets: TimeOffsets = KERNEL_TEXT.parse().unwrap();
        assert_eq!(offsets.monotonic, ClockOffset::new(3600, 0));
        assert_eq!(offsets.boottime, ClockOffset::new(-5, 0));
        assert_eq!(offsets.to_string(), "monotonic 3600 0\nboottime -5 0\n");
        assert!(!offsets.is_zero());
        assert!(TimeOffsets::default().is_zero());
        let numeric: TimeOffsets = "1 10 5\n7 -1 0\n".parse().unwrap();
        assert_eq!(numeric.monotonic, ClockOffset::new(10, 5));
        assert_eq!(numeric.boottime.secs(), -1);
    }

    #[test]
    fn rejects_bad_lines() {
        for bad in [
            "realtime 1 0",
            "monotonic 1",
            "monotonic 1 0 0",
            "monotonic 1 1000000000",
            "monotonic 1 -1",
            "monotonic x 0",
        ] {
            let err = bad.parse::<TimeOffsets>().unwrap_err();
            assert_eq!(err.line, 1, "{bad}");
        }
    }

    #[test]
    fn signed_offsets() {
        let back = ClockOffset::backward(Duration::from_millis(1500));
        assert_eq!((back.secs(), back.nanos()), (-2, 500_000_000));
        assert_eq!(back.as_nanos(), -1_500_000_000);
        assert_eq!(ClockOffset::backward(Duration::from_secs(3)).secs(), -3);
        assert_eq!(
            ClockOffset::new(1, 2_500_000_000),
            ClockOffset::new(3, 500_000_000)
        );
        assert_eq!(ClockOffset::forward(Duration::from_nanos(7)).as_nanos(), 7);
    }

    proptest! {
        #[test]
        fn round_trip(ms in any::<i64>(), mn in 0..NANOS_PER_SEC, bs in any::<i64>(), bn in 0..NANOS_PER_SEC) {
            let offsets = TimeOffsets { monotonic: ClockOffset::new(ms, mn), boottime: ClockOffset::new(bs, bn) };
            prop_assert_eq!(offsets.to_string().parse::<TimeOffsets>().unwrap(), offsets);
            let padded = format!("monotonic  {:>10} {:>9}\nboottime   {:>10} {:>9}\n", ms, mn, bs, bn);
            prop_assert_eq!(padded.parse::<TimeOffsets>().unwrap(), offsets);
        }

        #[test]
        fn backward_is_negated_forward(n in 0u64..(1u64 << 62)) {
            let d = Duration::from_nanos(n);
            prop_assert_eq!(ClockOffset::backward(d).as_nanos(), -ClockOffset::forward(d).as_nanos());
        }
    }
}
