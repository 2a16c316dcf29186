//! User-namespace id maps: building, validating, parsing and writing
//! `/proc/PID/{uid_map,gid_map,setgroups}`, and reading `/etc/subuid` / `/etc/subgid`.
//!
//! # References
//! - [user_namespaces(7)](https://man7.org/linux/man-pages/man7/user_namespaces.7.html)
//! - [newuidmap(1)](https://man7.org/linux/man-pages/man1/newuidmap.1.html),
//!   [subuid(5)](https://man7.org/linux/man-pages/man5/subuid.5.html)

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::str::FromStr;

use crate::handle::DEFAULT_PROC_ROOT;
use crate::sys;

/// One line of an id map: ids `inside..inside+count` in the namespace are ids
/// `outside..outside+count` in the parent user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdMapEntry {
    /// First id inside the user namespace.
    pub inside: u32,
    /// First id in the parent user namespace (the writer's namespace).
    pub outside: u32,
    /// Number of ids in the range.
    pub count: u32,
}

impl IdMapEntry {
    /// An entry mapping `count` ids from `inside` to `outside`.
    pub const fn new(inside: u32, outside: u32, count: u32) -> IdMapEntry {
        IdMapEntry {
            inside,
            outside,
            count,
        }
    }

    fn inside_end(&self) -> u64 {
        u64::from(self.inside) + u64::from(self.count)
    }

    fn outside_end(&self) -> u64 {
        u64::from(self.outside) + u64::from(self.count)
    }
}

impl fmt::Display for IdMapEntry {
    /// Writes `inside outside count` (no newline).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.inside, self.outside, self.count)
    }
}

/// A uid or gid map: the lines of `/proc/PID/uid_map` or `gid_map`.
///
/// `IdMap` is a plain value, so its adders take and return it by value to allow
/// `IdMap::new().map(..).map(..)`; [`IdMap::push`] is the `&mut` form.
///
/// # Examples
/// ```
/// use hutch_ns::idmap::IdMap;
/// let map = IdMap::new().map(0, 1000, 1).map(1, 100_000, 65_536);
/// map.validate()?;
/// assert_eq!(map.to_string(), "0 1000 1\n1 100000 65536\n");
/// assert_eq!(map.to_string().parse::<IdMap>().unwrap(), map);
/// # Ok::<(), hutch_ns::idmap::InvalidIdMap>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct IdMap {
    entries: Vec<IdMapEntry>,
}

impl IdMap {
    /// The kernel's limit on lines per map (Linux 4.15 and later).
    pub const MAX_ENTRIES: usize = 340;
    /// The map text must be shorter than this many bytes (one page; 4096 is the smallest
    /// page size Linux uses, so it is the portable limit).
    pub const MAX_TEXT_LEN: usize = 4096;

    /// An empty map (not valid to write until an entry is added).
    pub fn new() -> IdMap {
        IdMap::default()
    }

    /// A map of one id: `inside` in the namespace is `outside` in the parent.
    pub fn single(inside: u32, outside: u32) -> IdMap {
        IdMap::new().map(inside, outside, 1)
    }

    /// Adds a range and returns the map.
    #[must_use]
    pub fn map(mut self, inside: u32, outside: u32, count: u32) -> IdMap {
        self.entries.push(IdMapEntry::new(inside, outside, count));
        self
    }

    /// Adds an entry in place.
    pub fn push(&mut self, entry: IdMapEntry) -> &mut Self {
        self.entries.push(entry);
        self
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[IdMapEntry] {
        &self.entries
    }

    /// True if the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The id in the parent namespace that `inside` maps to, if any.
    pub fn to_outside(&self, inside: u32) -> Option<u32> {
        self.entries.iter().find_map(|e| {
            let off = inside.checked_sub(e.inside)?;
            (off < e.count).then(|| e.outside.wrapping_add(off))
        })
    }

    /// The id inside the namespace that parent id `outside` appears as, if any.
    pub fn to_inside(&self, outside: u32) -> Option<u32> {
        self.entries.iter().find_map(|e| {
            let off = outside.checked_sub(e.outside)?;
            (off < e.count).then(|| e.inside.wrapping_add(off))
        })
    }

    /// Checks everything the kernel checks when the map is written.
    ///
    /// # Errors
    /// One [`InvalidIdMap`] variant per rule: [`InvalidIdMap::Empty`],
    /// [`InvalidIdMap::ZeroCount`], [`InvalidIdMap::InsideOverflow`],
    /// [`InvalidIdMap::OutsideOverflow`], [`InvalidIdMap::InsideOverlap`],
    /// [`InvalidIdMap::OutsideOverlap`], [`InvalidIdMap::TooManyEntries`],
    /// [`InvalidIdMap::TooLong`].
    pub fn validate(&self) -> Result<(), InvalidIdMap> {
        if self.entries.is_empty() {
            return Err(InvalidIdMap::Empty);
        }
        if self.entries.len() > IdMap::MAX_ENTRIES {
            return Err(InvalidIdMap::TooManyEntries {
                count: self.entries.len(),
                max: IdMap::MAX_ENTRIES,
            });
        }
        let limit = u64::from(u32::MAX);
        for (index, &entry) in self.entries.iter().enumerate() {
            if entry.count == 0 {
                return Err(InvalidIdMap::ZeroCount { index, entry });
            }
            if entry.inside_end() > limit {
                return Err(InvalidIdMap::InsideOverflow { index, entry });
            }
            if entry.outside_end() > limit {
                return Err(InvalidIdMap::OutsideOverflow { index, entry });
            }
        }
        if let Some((first, second)) = self.find_overlap(|e| (u64::from(e.inside), e.inside_end()))
        {
            return Err(InvalidIdMap::InsideOverlap {
                first: (first, self.entries[first]),
                second: (second, self.entries[second]),
            });
        }
        if let Some((first, second)) =
            self.find_overlap(|e| (u64::from(e.outside), e.outside_end()))
        {
            return Err(InvalidIdMap::OutsideOverlap {
                first: (first, self.entries[first]),
                second: (second, self.entries[second]),
            });
        }
        let len = self.to_string().len();
        if len >= IdMap::MAX_TEXT_LEN {
            return Err(InvalidIdMap::TooLong {
                len,
                max: IdMap::MAX_TEXT_LEN - 1,
            });
        }
        Ok(())
    }

    /// Indices `(lower, higher)` of two entries whose ranges (by `range`) overlap.
    fn find_overlap(&self, range: impl Fn(&IdMapEntry) -> (u64, u64)) -> Option<(usize, usize)> {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_by_key(|&i| range(&self.entries[i]));
        order.windows(2).find_map(|w| {
            let (_, end) = range(&self.entries[w[0]]);
            let (start, _) = range(&self.entries[w[1]]);
            (start < end).then(|| (w[0].min(w[1]), w[0].max(w[1])))
        })
    }

    /// The arguments for `newuidmap`/`newgidmap`: `PID inside outside count ...`.
    ///
    /// ```
    /// use hutch_ns::idmap::IdMap;
    /// let args = IdMap::new().map(0, 1000, 1).map(1, 100_000, 65_536).helper_args(42);
    /// assert_eq!(args, ["42", "0", "1000", "1", "1", "100000", "65536"]);
    /// ```
    pub fn helper_args(&self, pid: u32) -> Vec<OsString> {
        let mut args = vec![OsString::from(pid.to_string())];
        for e in &self.entries {
            args.extend([e.inside, e.outside, e.count].map(|n| OsString::from(n.to_string())));
        }
        args
    }

    /// True if the map is exactly one id mapped to `outside`: what an unprivileged process
    /// may write for itself.
    fn is_just(&self, outside: u32) -> bool {
        matches!(self.entries.as_slice(), [e] if e.count == 1 && e.outside == outside)
    }
}

impl fmt::Display for IdMap {
    /// Writes the `uid_map` text: one `inside outside count\n` line per entry.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for entry in &self.entries {
            writeln!(f, "{entry}")?;
        }
        Ok(())
    }
}

impl FromIterator<IdMapEntry> for IdMap {
    fn from_iter<I: IntoIterator<Item = IdMapEntry>>(iter: I) -> Self {
        IdMap {
            entries: iter.into_iter().collect(),
        }
    }
}

/// A line of id-map text that is not three unsigned 32-bit numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("id map line {line} is not `inside outside count`: {text:?}")]
pub struct ParseIdMapError {
    /// The 1-based line number.
    pub line: usize,
    /// The line's text.
    pub text: String,
}

impl FromStr for IdMap {
    type Err = ParseIdMapError;

    /// Parses `/proc/PID/uid_map` text (fields padded with spaces, as the kernel prints
    /// them); blank lines are ignored. Does not [`validate`](IdMap::validate).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut map = IdMap::new();
        for (i, line) in s.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let err = || ParseIdMapError {
                line: i + 1,
                text: line.to_owned(),
            };
            let mut fields = line.split_ascii_whitespace().map(str::parse::<u32>);
            let mut next = || fields.next().and_then(Result::ok).ok_or_else(err);
            let entry = IdMapEntry::new(next()?, next()?, next()?);
            if fields.next().is_some() {
                return Err(err());
            }
            map.push(entry);
        }
        Ok(map)
    }
}

/// Why an [`IdMap`] cannot be written; each variant names the offending entries
/// (as `(index, entry)`, index counting from 0).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidIdMap {
    /// The map has no entries.
    #[error("id map is empty")]
    Empty,
    /// An entry maps zero ids.
    #[error("id map entry {index} ({entry}) has a count of 0")]
    ZeroCount {
        /// Position of the entry.
        index: usize,
        /// The entry.
        entry: IdMapEntry,
    },
    /// `inside + count` exceeds `u32::MAX` (the kernel also never maps id `u32::MAX`).
    #[error("id map entry {index} ({entry}): inside + count overflows 32 bits")]
    InsideOverflow {
        /// Position of the entry.
        index: usize,
        /// The entry.
        entry: IdMapEntry,
    },
    /// `outside + count` exceeds `u32::MAX`.
    #[error("id map entry {index} ({entry}): outside + count overflows 32 bits")]
    OutsideOverflow {
        /// Position of the entry.
        index: usize,
        /// The entry.
        entry: IdMapEntry,
    },
    /// Two entries' inside ranges overlap.
    #[error("id map entries {} ({}) and {} ({}) overlap inside the namespace", first.0, first.1, second.0, second.1)]
    InsideOverlap {
        /// The earlier entry.
        first: (usize, IdMapEntry),
        /// The later entry.
        second: (usize, IdMapEntry),
    },
    /// Two entries' outside ranges overlap.
    #[error("id map entries {} ({}) and {} ({}) overlap outside the namespace", first.0, first.1, second.0, second.1)]
    OutsideOverlap {
        /// The earlier entry.
        first: (usize, IdMapEntry),
        /// The later entry.
        second: (usize, IdMapEntry),
    },
    /// More lines than the kernel accepts.
    #[error("id map has {count} entries; the kernel accepts at most {max}")]
    TooManyEntries {
        /// Number of entries.
        count: usize,
        /// [`IdMap::MAX_ENTRIES`].
        max: usize,
    },
    /// The text does not fit in one page.
    #[error("id map text is {len} bytes; the kernel accepts at most {max}")]
    TooLong {
        /// Length of the text.
        len: usize,
        /// The largest accepted length.
        max: usize,
    },
}

/// Which id map: users or groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// `uid_map`, `newuidmap`.
    Uid,
    /// `gid_map`, `newgidmap`.
    Gid,
}

impl IdKind {
    /// `"uid_map"` or `"gid_map"`.
    pub const fn map_file(self) -> &'static str {
        match self {
            IdKind::Uid => "uid_map",
            IdKind::Gid => "gid_map",
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Uid => "uid",
            IdKind::Gid => "gid",
        })
    }
}

/// The content of `/proc/PID/setgroups`: whether `setgroups(2)` is allowed in the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SetGroups {
    /// `allow` (the kernel's default; needs a privileged gid map writer).
    #[default]
    Allow,
    /// `deny`: required before an unprivileged process may write a gid map.
    Deny,
}

impl fmt::Display for SetGroups {
    /// Writes `allow` or `deny`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SetGroups::Allow => "allow",
            SetGroups::Deny => "deny",
        })
    }
}

impl FromStr for SetGroups {
    type Err = InvalidSetGroups;

    /// Parses `allow` or `deny` (surrounding whitespace ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "allow" => Ok(SetGroups::Allow),
            "deny" => Ok(SetGroups::Deny),
            other => Err(InvalidSetGroups {
                text: other.to_owned(),
            }),
        }
    }
}

/// Text that is neither `allow` nor `deny`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setgroups value {text:?} is neither \"allow\" nor \"deny\"")]
pub struct InvalidSetGroups {
    /// The rejected text.
    pub text: String,
}

/// How an id map gets written.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdMapMethod {
    /// Write directly when the caller may, otherwise run the setuid helper.
    #[default]
    Auto,
    /// Always write `/proc/PID/*_map` directly.
    Direct,
    /// Always run `newuidmap` / `newgidmap`.
    Helper,
}

/// How each map was written, as reported by [`IdMapWriter::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMapOutcome {
    /// How the uid map was written ([`IdMapMethod::Direct`] or [`IdMapMethod::Helper`]).
    pub uid: IdMapMethod,
    /// How the gid map was written.
    pub gid: IdMapMethod,
    /// Whether `setgroups` was written by this crate (a helper may also write it).
    pub wrote_setgroups: bool,
}

/// An error from writing id maps for a process.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum IdMapError {
    /// `SetGroups::Allow` was asked for, but the helper (`newgidmap`, mapping only the
    /// caller's own group) set `setgroups` to `deny`.
    #[error("setgroups of pid {pid} is \"deny\" after newgidmap ({}), but \"allow\" was asked for", path.display())]
    SetGroupsDenied {
        /// The process.
        pid: u32,
        /// Its `setgroups` file.
        path: PathBuf,
    },
    /// A map failed [`IdMap::validate`]; nothing was written.
    #[error("invalid {kind} map")]
    Invalid {
        /// Which map.
        kind: IdKind,
        /// What is wrong with it.
        #[source]
        source: InvalidIdMap,
    },
    /// The caller's capabilities could not be read.
    #[error("cannot read the caller's capabilities")]
    Capabilities {
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An unprivileged caller mapping its own gid must deny `setgroups`; `Allow` was asked.
    #[error(
        "process {pid}: an unprivileged gid map needs setgroups \"deny\" (or CAP_SETGID, or newgidmap)"
    )]
    SetGroupsNeedsDeny {
        /// The target process.
        pid: u32,
    },
    /// Writing a `/proc/PID/…` file failed.
    #[error("process {pid}: cannot write {}", path.display())]
    Write {
        /// The target process.
        pid: u32,
        /// The file.
        path: PathBuf,
        /// The OS error (`EPERM`: not allowed, or the map was already written; `EINVAL`: rejected).
        #[source]
        source: io::Error,
    },
    /// The setuid helper does not exist at the configured path.
    #[error("id map helper {} not found (install the `uidmap` package)", program.display())]
    HelperMissing {
        /// The helper's path.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The setuid helper could not be started.
    #[error("cannot run id map helper {}", program.display())]
    HelperSpawn {
        /// The helper's path.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The setuid helper ran and failed.
    #[error("process {pid}: {} failed ({status}): {}", program.display(), stderr.trim_end())]
    HelperFailed {
        /// The target process.
        pid: u32,
        /// The helper's path.
        program: PathBuf,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
}

/// Writes id maps for a child process; paths to proc and the helpers are configurable.
///
/// # Examples
/// ```no_run
/// use hutch_ns::idmap::{IdMap, IdMapWriter, SetGroups};
/// # let child_pid = 1;
/// let uid = IdMap::new().map(0, 100_000, 65_536);
/// let gid = IdMap::new().map(0, 100_000, 65_536);
/// IdMapWriter::new().write(child_pid, &uid, &gid, SetGroups::Deny)?;
/// # Ok::<(), hutch_ns::idmap::IdMapError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMapWriter {
    proc_root: PathBuf,
    newuidmap: PathBuf,
    newgidmap: PathBuf,
    method: IdMapMethod,
}

impl Default for IdMapWriter {
    fn default() -> Self {
        IdMapWriter::new()
    }
}

impl IdMapWriter {
    /// Default path of `newuidmap` (Debian package `uidmap`).
    pub const DEFAULT_NEWUIDMAP: &'static str = "/usr/bin/newuidmap";
    /// Default path of `newgidmap`.
    pub const DEFAULT_NEWGIDMAP: &'static str = "/usr/bin/newgidmap";

    /// A writer using `/proc`, `/usr/bin/newuidmap`, `/usr/bin/newgidmap` and
    /// [`IdMapMethod::Auto`].
    pub fn new() -> IdMapWriter {
        IdMapWriter {
            proc_root: PathBuf::from(DEFAULT_PROC_ROOT),
            newuidmap: PathBuf::from(IdMapWriter::DEFAULT_NEWUIDMAP),
            newgidmap: PathBuf::from(IdMapWriter::DEFAULT_NEWGIDMAP),
            method: IdMapMethod::Auto,
        }
    }

    /// Uses proc mounted at `proc_root`.
    pub fn proc_root(&mut self, proc_root: impl AsRef<Path>) -> &mut Self {
        self.proc_root = proc_root.as_ref().to_owned();
        self
    }

    /// Uses this `newuidmap` binary.
    pub fn newuidmap(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.newuidmap = path.as_ref().to_owned();
        self
    }

    /// Uses this `newgidmap` binary.
    pub fn newgidmap(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.newgidmap = path.as_ref().to_owned();
        self
    }

    /// Chooses how maps are written (default [`IdMapMethod::Auto`]).
    pub fn method(&mut self, method: IdMapMethod) -> &mut Self {
        self.method = method;
        self
    }

    /// Writes `setgroups`, `uid_map` and `gid_map` of process `pid`, whose user namespace
    /// must be new and unmapped.
    ///
    /// With [`IdMapMethod::Auto`], each map is written directly when the caller has
    /// `CAP_SETUID` (uid) / `CAP_SETGID` (gid), or when the map is exactly the caller's own
    /// effective id (gid then also requires [`SetGroups::Deny`]); otherwise `newuidmap` /
    /// `newgidmap` run, which check `/etc/subuid` / `/etc/subgid`. Both maps are validated
    /// before anything is written.
    ///
    /// # Errors
    /// [`IdMapError::Invalid`] before any write; [`IdMapError::Write`] naming the pid and
    /// the file; [`IdMapError::HelperMissing`] naming the binary; [`IdMapError::HelperFailed`].
    ///
    /// # References
    /// - [user_namespaces(7)](https://man7.org/linux/man-pages/man7/user_namespaces.7.html),
    ///   "Defining user and group ID mappings"
    pub fn write(
        &self,
        pid: u32,
        uid: &IdMap,
        gid: &IdMap,
        setgroups: SetGroups,
    ) -> Result<IdMapOutcome, IdMapError> {
        uid.validate().map_err(|source| IdMapError::Invalid {
            kind: IdKind::Uid,
            source,
        })?;
        gid.validate().map_err(|source| IdMapError::Invalid {
            kind: IdKind::Gid,
            source,
        })?;
        let (uid_method, gid_method) = match self.method {
            IdMapMethod::Auto => {
                let caps =
                    sys::effective_caps().map_err(|source| IdMapError::Capabilities { source })?;
                let (euid, egid) = sys::effective_ids();
                let cap_setgid = caps & (1 << 6) != 0;
                let cap_setuid = caps & (1 << 7) != 0;
                let uid_method = if cap_setuid || uid.is_just(euid) {
                    IdMapMethod::Direct
                } else {
                    IdMapMethod::Helper
                };
                let gid_method = if cap_setgid {
                    IdMapMethod::Direct
                } else if gid.is_just(egid) {
                    if setgroups != SetGroups::Deny {
                        return Err(IdMapError::SetGroupsNeedsDeny { pid });
                    }
                    IdMapMethod::Direct
                } else {
                    IdMapMethod::Helper
                };
                (uid_method, gid_method)
            }
            m => (m, m),
        };
        // Maps can be written only once: find a missing helper before anything is written, so
        // that a failure never leaves the process half-mapped.
        for (method, program) in [(uid_method, &self.newuidmap), (gid_method, &self.newgidmap)] {
            if method == IdMapMethod::Helper
                && let Err(source) = std::fs::metadata(program)
            {
                return Err(IdMapError::HelperMissing {
                    program: program.clone(),
                    source,
                });
            }
        }
        let proc_dir = self.proc_root.join(pid.to_string());
        // setgroups must be settled before gid_map is written. newgidmap may write "deny"
        // itself, but never "allow", so "allow" is left to the kernel default there.
        let wrote_setgroups = gid_method == IdMapMethod::Direct || setgroups == SetGroups::Deny;
        if wrote_setgroups {
            write_once(pid, &proc_dir.join("setgroups"), &setgroups.to_string())?;
        }
        self.write_map(pid, &proc_dir, IdKind::Uid, uid, uid_method)?;
        self.write_map(pid, &proc_dir, IdKind::Gid, gid, gid_method)?;
        if gid_method == IdMapMethod::Helper && setgroups == SetGroups::Allow {
            // newgidmap writes "deny" itself when it maps only the caller's own group: never
            // report "allow" when the kernel says otherwise.
            let path = proc_dir.join("setgroups");
            let now = std::fs::read_to_string(&path).map_err(|source| IdMapError::Write {
                pid,
                path: path.clone(),
                source,
            })?;
            if now.trim() != "allow" {
                return Err(IdMapError::SetGroupsDenied { pid, path });
            }
        }
        Ok(IdMapOutcome {
            uid: uid_method,
            gid: gid_method,
            wrote_setgroups,
        })
    }

    fn write_map(
        &self,
        pid: u32,
        proc_dir: &Path,
        kind: IdKind,
        map: &IdMap,
        method: IdMapMethod,
    ) -> Result<(), IdMapError> {
        if method != IdMapMethod::Helper {
            return write_once(pid, &proc_dir.join(kind.map_file()), &map.to_string());
        }
        let program = match kind {
            IdKind::Uid => &self.newuidmap,
            IdKind::Gid => &self.newgidmap,
        };
        let output = Command::new(program)
            .args(map.helper_args(pid))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| {
                if source.kind() == io::ErrorKind::NotFound {
                    IdMapError::HelperMissing {
                        program: program.clone(),
                        source,
                    }
                } else {
                    IdMapError::HelperSpawn {
                        program: program.clone(),
                        source,
                    }
                }
            })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(IdMapError::HelperFailed {
                pid,
                program: program.clone(),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }
}

/// Writes `text` to `path` in exactly one `write(2)`, as the proc map files require.
fn write_once(pid: u32, path: &Path, text: &str) -> Result<(), IdMapError> {
    let err = |source| IdMapError::Write {
        pid,
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new().write(true).open(path).map_err(err)?;
    let written = file.write(text.as_bytes()).map_err(err)?;
    if written != text.len() {
        return Err(err(io::Error::from_raw_os_error(libc::EIO)));
    }
    Ok(())
}

/// Writes the id maps of process `pid` with the default [`IdMapWriter`].
///
/// # Errors
/// As [`IdMapWriter::write`].
///
/// # Examples
/// ```no_run
/// use hutch_ns::idmap::{write_id_maps, IdMap, SetGroups};
/// # let child_pid = 1;
/// // Unprivileged: map root in the namespace to ourselves.
/// let (uid, gid) = (1000, 1000);
/// write_id_maps(child_pid, &IdMap::single(0, uid), &IdMap::single(0, gid), SetGroups::Deny)?;
/// # Ok::<(), hutch_ns::idmap::IdMapError>(())
/// ```
pub fn write_id_maps(
    pid: u32,
    uid: &IdMap,
    gid: &IdMap,
    setgroups: SetGroups,
) -> Result<(), IdMapError> {
    IdMapWriter::new().write(pid, uid, gid, setgroups).map(drop)
}

/// [`write_id_maps`] with proc mounted at `proc_root`.
///
/// # Errors
/// As [`IdMapWriter::write`].
pub fn write_id_maps_in_proc(
    proc_root: impl AsRef<Path>,
    pid: u32,
    uid: &IdMap,
    gid: &IdMap,
    setgroups: SetGroups,
) -> Result<(), IdMapError> {
    IdMapWriter::new()
        .proc_root(proc_root)
        .write(pid, uid, gid, setgroups)
        .map(drop)
}

// ---------------------------------------------------------------------------------------
// /etc/subuid and /etc/subgid
// ---------------------------------------------------------------------------------------

/// Who a subordinate id range belongs to: a user name or a numeric uid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubIdOwner {
    /// A login name.
    Name(String),
    /// A numeric user id.
    Uid(u32),
}

impl fmt::Display for SubIdOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubIdOwner::Name(name) => f.write_str(name),
            SubIdOwner::Uid(uid) => write!(f, "{uid}"),
        }
    }
}

/// One line of `/etc/subuid` or `/etc/subgid`: `owner:start:count`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubIdRange {
    /// The user the range is delegated to.
    pub owner: SubIdOwner,
    /// First subordinate id.
    pub start: u32,
    /// Number of ids.
    pub count: u32,
}

impl fmt::Display for SubIdRange {
    /// Writes `owner:start:count`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.owner, self.start, self.count)
    }
}

/// The parsed content of `/etc/subuid` or `/etc/subgid`.
///
/// ```
/// use hutch_ns::idmap::SubIdRanges;
/// let ranges: SubIdRanges = "alice:100000:65536\n1001:165536:65536\n".parse()?;
/// let map = ranges.id_map_for("alice", 1000, 1000);
/// assert_eq!(map.to_string(), "0 1000 1\n1 100000 65536\n");
/// # Ok::<(), hutch_ns::idmap::ParseSubIdError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SubIdRanges {
    ranges: Vec<SubIdRange>,
}

/// A line of a subordinate id file that is not `owner:start:count`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("subordinate id line {line} is not `name:start:count`: {text:?}")]
pub struct ParseSubIdError {
    /// The 1-based line number.
    pub line: usize,
    /// The line.
    pub text: String,
}

/// Reading a subordinate id file failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SubIdError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file is malformed.
    #[error("malformed {}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The bad line.
        #[source]
        source: ParseSubIdError,
    },
}

impl SubIdRanges {
    /// Reads and parses a file such as `/etc/subuid`.
    ///
    /// # Errors
    /// [`SubIdError::Read`] or [`SubIdError::Parse`], naming the file.
    pub fn read(path: impl AsRef<Path>) -> Result<SubIdRanges, SubIdError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|source| SubIdError::Read {
            path: path.to_owned(),
            source,
        })?;
        text.parse().map_err(|source| SubIdError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Every range, in file order.
    pub fn ranges(&self) -> &[SubIdRange] {
        &self.ranges
    }

    /// The ranges delegated to the user called `name` or with uid `uid`.
    pub fn for_user<'a>(&'a self, name: &'a str, uid: u32) -> impl Iterator<Item = &'a SubIdRange> {
        self.ranges.iter().filter(move |r| match &r.owner {
            SubIdOwner::Name(n) => n == name,
            SubIdOwner::Uid(u) => *u == uid,
        })
    }

    /// The usual rootless map for a user: id 0 inside is `own_id`, then ids from 1 on are the
    /// user's subordinate ranges in file order.
    pub fn id_map_for(&self, name: &str, uid: u32, own_id: u32) -> IdMap {
        let mut map = IdMap::single(0, own_id);
        let mut next_inside: u32 = 1;
        for range in self.for_user(name, uid) {
            map.push(IdMapEntry::new(next_inside, range.start, range.count));
            next_inside = next_inside.saturating_add(range.count);
        }
        map
    }
}

impl fmt::Display for SubIdRanges {
    /// Writes one `owner:start:count` line per range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for range in &self.ranges {
            writeln!(f, "{range}")?;
        }
        Ok(())
    }
}

impl FromStr for SubIdRanges {
    type Err = ParseSubIdError;

    /// Parses `owner:start:count` lines; blank lines and `#` comments are skipped. An
    /// all-digit owner is a uid, anything else a name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut ranges = Vec::new();
        for (i, raw) in s.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = || ParseSubIdError {
                line: i + 1,
                text: raw.to_owned(),
            };
            let mut fields = line.split(':');
            let (Some(owner), Some(start), Some(count), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(err());
            };
            if owner.is_empty() {
                return Err(err());
            }
            let owner = if owner.bytes().all(|b| b.is_ascii_digit()) {
                SubIdOwner::Uid(owner.parse().map_err(|_| err())?)
            } else {
                SubIdOwner::Name(owner.to_owned())
            };
            ranges.push(SubIdRange {
                owner,
                start: start.parse().map_err(|_| err())?,
                count: count.parse().map_err(|_| err())?,
            });
        }
        Ok(SubIdRanges { ranges })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `/proc/PID/uid_map` as Linux 6.18 prints it (`%10u %10u %10u\n`); the first line was
    /// captured after writing `0 100000 65536` for an `unshare --user` child.
    const KERNEL_TEXT: &str =
        "         0     100000      65536\n     65536       1000          1\n";

    #[test]
    fn parses_kernel_text() {
        let map: IdMap = KERNEL_TEXT.parse().unwrap();
        assert_eq!(
            map.entries(),
            [
                IdMapEntry::new(0, 100_000, 65_536),
                IdMapEntry::new(65_536, 1000, 1)
            ]
        );
        map.validate().unwrap();
        assert_eq!(map.to_string(), "0 100000 65536\n65536 1000 1\n");
        assert_eq!(map.to_outside(65_536), Some(1000));
        assert_eq!(map.to_inside(100_001), Some(1));
        assert_eq!(map.to_outside(65_537), None);
        // The initial user namespace's map.
        let init: IdMap = "         0          0 4294967295\n".parse().unwrap();
        init.validate().unwrap();
    }

    #[test]
    fn parse_errors_name_the_line() {
        let err = "0 0 1\n0 0\n".parse::<IdMap>().unwrap_err();
        assert_eq!(err.line, 2);
        assert!("0 0 1 1".parse::<IdMap>().is_err());
        assert!("0 -1 1".parse::<IdMap>().is_err());
        assert!("0 0 4294967296".parse::<IdMap>().is_err());
        assert_eq!("\n\n".parse::<IdMap>().unwrap(), IdMap::new());
    }

    #[test]
    fn validation_rules() {
        assert_eq!(IdMap::new().validate(), Err(InvalidIdMap::Empty));
        assert!(matches!(
            IdMap::new().map(0, 0, 1).map(5, 5, 0).validate(),
            Err(InvalidIdMap::ZeroCount { index: 1, .. })
        ));
        assert!(matches!(
            IdMap::new().map(u32::MAX, 0, 1).validate(),
            Err(InvalidIdMap::InsideOverflow { index: 0, .. })
        ));
        assert!(matches!(
            IdMap::new().map(0, u32::MAX - 1, 2).validate(),
            Err(InvalidIdMap::OutsideOverflow { index: 0, .. })
        ));
        // The largest valid range ends exactly at u32::MAX.
        IdMap::new().map(0, 0, u32::MAX).validate().unwrap();
        let err = IdMap::new()
            .map(0, 1000, 10)
            .map(20, 2000, 5)
            .map(9, 3000, 1)
            .validate()
            .unwrap_err();
        assert_eq!(
            err,
            InvalidIdMap::InsideOverlap {
                first: (0, IdMapEntry::new(0, 1000, 10)),
                second: (2, IdMapEntry::new(9, 3000, 1)),
            }
        );
        assert!(err.to_string().contains("0 1000 10"), "{err}");
        assert!(matches!(
            IdMap::new().map(0, 1000, 10).map(10, 1005, 1).validate(),
            Err(InvalidIdMap::OutsideOverlap {
                first: (0, _),
                second: (1, _)
            })
        ));
        // Adjacent ranges do not overlap.
        IdMap::new()
            .map(0, 1000, 10)
            .map(10, 1010, 10)
            .validate()
            .unwrap();
        let many: IdMap = (0..341).map(|i| IdMapEntry::new(i, i, 1)).collect();
        assert_eq!(
            many.validate(),
            Err(InvalidIdMap::TooManyEntries {
                count: 341,
                max: 340
            })
        );
        let long: IdMap = (0..340)
            .map(|i| IdMapEntry::new(4_000_000_000 + i, 4_000_000_000 + i, 1))
            .collect();
        assert!(matches!(long.validate(), Err(InvalidIdMap::TooLong { .. })));
    }

    #[test]
    fn setgroups_text() {
        assert_eq!(SetGroups::Deny.to_string(), "deny");
        assert_eq!("allow\n".parse::<SetGroups>().unwrap(), SetGroups::Allow);
        assert!("maybe".parse::<SetGroups>().is_err());
    }

    #[test]
    fn subid_files() {
        // Shape of a Debian /etc/subuid after two `useradd`s, plus a numeric owner.
        let text = "# comment\nalice:100000:65536\nbob:165536:65536\n\n1002:231072:65536\nalice:300000:10\n";
        let ranges: SubIdRanges = text.parse().unwrap();
        assert_eq!(ranges.ranges().len(), 4);
        assert_eq!(ranges.ranges()[2].owner, SubIdOwner::Uid(1002));
        assert_eq!(ranges.for_user("alice", 1000).count(), 2);
        assert_eq!(ranges.for_user("nobody", 1002).count(), 1);
        let map = ranges.id_map_for("alice", 1000, 1000);
        assert_eq!(
            map.to_string(),
            "0 1000 1\n1 100000 65536\n65537 300000 10\n"
        );
        map.validate().unwrap();
        assert_eq!(
            ranges.to_string(),
            "alice:100000:65536\nbob:165536:65536\n1002:231072:65536\nalice:300000:10\n"
        );
        let err = "alice:1:2:3\n".parse::<SubIdRanges>().unwrap_err();
        assert_eq!(err.line, 1);
        assert!(":1:2".parse::<SubIdRanges>().is_err());
        assert!("a:x:2".parse::<SubIdRanges>().is_err());
    }

    fn entry() -> impl Strategy<Value = IdMapEntry> {
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c)| IdMapEntry::new(a, b, c))
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(entries in prop::collection::vec(entry(), 0..50)) {
            let map: IdMap = entries.into_iter().collect();
            let text = map.to_string();
            prop_assert_eq!(text.parse::<IdMap>().unwrap(), map.clone());
            // The kernel pads fields; parsing must not care.
            let padded: String = map
                .entries()
                .iter()
                .map(|e| format!("{:>10} {:>10} {:>10}\n", e.inside, e.outside, e.count))
                .collect();
            prop_assert_eq!(padded.parse::<IdMap>().unwrap(), map);
        }

        #[test]
        fn valid_maps_have_disjoint_ranges(entries in prop::collection::vec(entry(), 1..8)) {
            let map: IdMap = entries.iter().copied().collect();
            if map.validate().is_ok() {
                for (i, a) in entries.iter().enumerate() {
                    for b in &entries[i + 1..] {
                        prop_assert!(a.inside_end() <= u64::from(b.inside) || b.inside_end() <= u64::from(a.inside));
                        prop_assert!(a.outside_end() <= u64::from(b.outside) || b.outside_end() <= u64::from(a.outside));
                    }
                }
            }
        }

        #[test]
        fn subid_round_trip(lines in prop::collection::vec(("[a-z_][a-z0-9_-]{0,8}", any::<u32>(), any::<u32>()), 0..10)) {
            let ranges = SubIdRanges {
                ranges: lines
                    .into_iter()
                    .map(|(name, start, count)| SubIdRange { owner: SubIdOwner::Name(name), start, count })
                    .collect(),
            };
            prop_assert_eq!(ranges.to_string().parse::<SubIdRanges>().unwrap(), ranges);
        }
    }
}
