//! Value types shared by several controllers: [`Max`], [`Bytes`], [`DevNum`], [`Pid`].

use std::fmt;
use std::num::NonZeroI32;
use std::str::FromStr;

use crate::ParseError;

/// A limit that is either `max` (no limit) or a value — the form of most cgroup limit
/// files (`memory.max`, `pids.max`, `cgroup.max.depth`, …).
///
/// `Display` writes `max` or the value; `FromStr` parses the same.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::{Bytes, Max};
/// let m: Max<Bytes> = "max".parse().unwrap();
/// assert_eq!(m, Max::Max);
/// assert_eq!(Max::Value(Bytes::mib(32)).to_string(), "33554432");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Max<T> {
    /// No limit (`max`).
    Max,
    /// A limit.
    Value(T),
}

impl<T> Max<T> {
    /// The value, or `None` for `max`.
    pub fn value(self) -> Option<T> {
        match self {
            Max::Max => None,
            Max::Value(v) => Some(v),
        }
    }
}

impl<T> From<T> for Max<T> {
    fn from(v: T) -> Self {
        Max::Value(v)
    }
}

impl<T: fmt::Display> fmt::Display for Max<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Max::Max => f.write_str("max"),
            Max::Value(v) => v.fmt(f),
        }
    }
}

impl<T: FromStr<Err = ParseError>> FromStr for Max<T> {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        if t == "max" {
            Ok(Max::Max)
        } else {
            t.parse().map(Max::Value)
        }
    }
}

/// A number of bytes (memory sizes and limits). `Display`/`FromStr`: a decimal integer,
/// as the kernel prints it.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::Bytes;
/// assert_eq!(Bytes::mib(1).to_string(), "1048576");
/// assert_eq!("4096".parse::<Bytes>().unwrap(), Bytes::kib(4));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Bytes(pub u64);

impl Bytes {
    /// `n` KiB.
    pub const fn kib(n: u64) -> Bytes {
        Bytes(n * 1024)
    }
    /// `n` MiB.
    pub const fn mib(n: u64) -> Bytes {
        Bytes(n * 1024 * 1024)
    }
    /// `n` GiB.
    pub const fn gib(n: u64) -> Bytes {
        Bytes(n * 1024 * 1024 * 1024)
    }
    /// The number of bytes.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for Bytes {
    fn from(n: u64) -> Bytes {
        Bytes(n)
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Bytes {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_u64(s.trim(), "byte count").map(Bytes)
    }
}

/// A block device number, `major:minor` (as in `io.max`, `io.stat`, `io.weight`).
///
/// # Examples
///
/// ```
/// use hutch_cgroup::DevNum;
/// let d: DevNum = "8:16".parse().unwrap();
/// assert_eq!((d.major, d.minor), (8, 16));
/// assert!("8-16".parse::<DevNum>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevNum {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl DevNum {
    /// `major:minor`.
    pub const fn new(major: u32, minor: u32) -> DevNum {
        DevNum { major, minor }
    }

    /// The device number of a `st_rdev` (block device) or `st_dev` value.
    pub fn from_dev_t(dev: u64) -> DevNum {
        DevNum {
            major: libc::major(dev),
            minor: libc::minor(dev),
        }
    }
}

impl fmt::Display for DevNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

impl FromStr for DevNum {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let err = |why: &str| ParseError::new("device number", s, why.to_owned());
        let (ma, mi) = s
            .split_once(':')
            .ok_or_else(|| err("expected `major:minor`, e.g. `8:16`"))?;
        let num = |t: &str| -> Result<u32, ParseError> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("major and minor must be unsigned decimal numbers"));
            }
            t.parse::<u32>()
                .map_err(|_| err("major or minor number out of range (u32)"))
        };
        Ok(DevNum {
            major: num(ma)?,
            minor: num(mi)?,
        })
    }
}

/// A process or thread id (never 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(NonZeroI32);

impl Pid {
    /// A pid from its raw value; `None` unless positive.
    pub fn from_raw(raw: i32) -> Option<Pid> {
        if raw > 0 {
            NonZeroI32::new(raw).map(Pid)
        } else {
            None
        }
    }

    /// The calling process.
    #[doc(alias = "getpid")]
    pub fn this() -> Pid {
        Pid::from_raw(std::process::id() as i32).expect("getpid returned a positive pid")
    }

    /// The calling thread.
    #[doc(alias = "gettid")]
    pub fn this_thread() -> Pid {
        Pid::from_raw(crate::sys::gettid()).expect("gettid returned a positive tid")
    }

    /// The raw value.
    pub fn as_raw(self) -> i32 {
        self.0.get()
    }
}

impl From<&std::process::Child> for Pid {
    fn from(c: &std::process::Child) -> Pid {
        Pid::from_raw(c.id() as i32).expect("a child's pid is positive")
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Pid {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        let n: i32 = t
            .parse()
            .map_err(|_| ParseError::new("pid", s, "not a decimal number"))?;
        Pid::from_raw(n).ok_or_else(|| ParseError::new("pid", s, "must be positive"))
    }
}

/// Parses an unsigned decimal (no sign, no spaces).
pub(crate) fn parse_u64(s: &str, what: &'static str) -> Result<u64, ParseError> {
    if s.is_empty() {
        return Err(ParseError::new(what, s, "empty"));
    }
    if s.starts_with('-') {
        return Err(ParseError::new(what, s, "must not be negative"));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::new(what, s, "not an unsigned decimal number"));
    }
    s.parse()
        .map_err(|_| ParseError::new(what, s, "too large for 64 bits"))
}

/// Parses `0` or `1`.
pub(crate) fn parse_bool(s: &str, what: &'static str) -> Result<bool, ParseError> {
    match s.trim() {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(ParseError::new(what, s, "expected 0 or 1")),
    }
}

/// `0`/`1` for a bool, as cgroup files want it.
pub(crate) fn bool01(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

/// Splits a flat-keyed file (`key value` per line) into pairs, keeping order.
pub(crate) fn flat_keyed<'a>(
    text: &'a str,
    what: &'static str,
) -> Result<Vec<(&'a str, &'a str)>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        match (it.next(), it.next(), it.next()) {
            (Some(k), Some(v), None) => out.push((k, v)),
            _ => return Err(ParseError::new(what, line, "expected `key value`")),
        }
    }
    Ok(out)
}

/// Splits a flat-keyed file whose values are all unsigned integers.
pub(crate) fn flat_keyed_u64(
    text: &str,
    what: &'static str,
) -> Result<Vec<(String, u64)>, ParseError> {
    flat_keyed(text, what)?
        .into_iter()
        .map(|(k, v)| Ok((k.to_owned(), parse_u64(v, what)?)))
        .collect()
}

/// Writes `key value` lines.
pub(crate) fn write_keyed(f: &mut fmt::Formatter<'_>, pairs: &[(String, u64)]) -> fmt::Result {
    for (k, v) in pairs {
        writeln!(f, "{k} {v}")?;
    }
    Ok(())
}

/// Splits `key=value` words of a nested-keyed line (after the leading key).
pub(crate) fn kv_words<'a>(
    words: impl Iterator<Item = &'a str>,
    what: &'static str,
    line: &str,
) -> Result<Vec<(&'a str, &'a str)>, ParseError> {
    words
        .map(|w| {
            w.split_once('=').ok_or_else(|| {
                ParseError::new(what, line, format!("expected `key=value`, got `{w}`"))
            })
        })
        .collect()
}
