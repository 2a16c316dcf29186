//! File capabilities: the `security.capability` extended attribute and the text form of
//! `getcap`/`setcap`.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::set::{CapSet, parse_item};
use crate::sys::{self, XattrTarget};

/// The extended attribute that holds file capabilities.
pub const XATTR_NAME: &str = "security.capability";
const XATTR_NAME_C: &CStr = c"security.capability";

/// `VFS_CAP_REVISION_1`: 32-bit sets (Linux 2.6.24).
const REVISION_1: u32 = 0x0100_0000;
/// `VFS_CAP_REVISION_2`: 64-bit sets (Linux 2.6.25).
const REVISION_2: u32 = 0x0200_0000;
/// `VFS_CAP_REVISION_3`: 64-bit sets and the root uid of a user namespace (Linux 4.14).
const REVISION_3: u32 = 0x0300_0000;
/// `VFS_CAP_REVISION_MASK`.
const REVISION_MASK: u32 = 0xff00_0000;
/// `VFS_CAP_FLAGS_EFFECTIVE`.
const FLAGS_EFFECTIVE: u32 = 0x0000_0001;
/// The largest value (revision 3).
const MAX_SIZE: usize = 24;

/// The capabilities a file grants when it is executed.
///
/// At `execve` the new permitted set is `(inheritable ∩ file.inheritable) | (bounding ∩
/// file.permitted) | ambient`; with [`effective`](FileCaps::effective) the new permitted set
/// also becomes effective (otherwise only the ambient set is).
///
/// In the `security.capability` attribute, [`root_uid`](FileCaps::root_uid) `None` is
/// revision 2 (valid in every user namespace) and `Some(uid)` is revision 3: the
/// capabilities count only for processes in user namespaces whose root is host uid `uid`.
/// The kernel writes revision 3 itself when a process in a user namespace sets a file's
/// capabilities, and shows a namespaced attribute as revision 2 to that namespace's root.
///
/// `Display` / `FromStr` use the text form of `getcap` and `setcap` (`cap_net_raw=ep`,
/// `cap_net_admin,cap_net_raw=eip`); `Display` writes exactly what `getcap` of Debian 12
/// (libcap 2.66) prints after the file name, without its ` [rootid=N]` suffix.
///
/// ```
/// use hutch_caps::{CapSet, Capability, FileCaps};
/// let caps: FileCaps = "cap_net_bind_service,cap_net_raw+ep".parse()?;
/// assert!(caps.effective);
/// assert_eq!(caps.permitted.len(), 2);
/// assert_eq!(caps.to_string(), "cap_net_bind_service,cap_net_raw=ep");
/// assert_eq!(FileCaps::from_xattr(&caps.to_xattr())?, caps);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
/// - [capabilities(7)](https://man7.org/linux/man-pages/man7/capabilities.7.html),
///   sections "File capabilities" and "File capability extended attribute versioning"
/// - [cap_from_text(3)](https://man7.org/linux/man-pages/man3/cap_from_text.3.html) for the
///   text form
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileCaps {
    /// The file permitted set.
    pub permitted: CapSet,
    /// The file inheritable set.
    pub inheritable: CapSet,
    /// The file effective bit: whether the new permitted set becomes effective at once
    /// (needed by programs that do not raise capabilities themselves).
    pub effective: bool,
    /// The root uid of the owning user namespace (revision 3), as seen from the reader's
    /// user namespace; `None` for revision 1 and 2.
    pub root_uid: Option<u32>,
}

/// A `security.capability` value that is not valid.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XattrFormatError {
    /// The revision (top byte of the first word) is not 1, 2 or 3.
    #[error("unknown file capability revision {magic:#010x}")]
    Revision {
        /// The first 32-bit word.
        magic: u32,
    },
    /// The size does not match the revision (12, 20 or 24 bytes).
    #[error("file capability revision {revision} with {len} bytes")]
    Size {
        /// The revision (1 to 3), 0 when even the first word was missing.
        revision: u8,
        /// The value's length.
        len: usize,
    },
}

/// A file capability text that could not be parsed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseFileCapsError {
    /// A clause is not `caps` followed by operators (`=`, `+`, `-`) and flags (`e`, `i`,
    /// `p`).
    #[error("invalid clause {clause:?} in file capability text {text:?}")]
    Clause {
        /// The whole text.
        text: String,
        /// The clause.
        clause: String,
    },
    /// A capability name is unknown.
    #[error("unknown capability {name:?} in file capability text {text:?}")]
    Name {
        /// The whole text.
        text: String,
        /// The name.
        name: String,
    },
    /// Files have one effective bit, so the effective set must be empty or equal to the
    /// union of the permitted and inheritable sets.
    #[error(
        "file capability text {text:?} makes only some capabilities effective; a file's effective flag is all (=e on every listed capability) or nothing"
    )]
    PartialEffective {
        /// The whole text.
        text: String,
    },
}

/// Reading, writing or removing a file's capabilities failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum FileCapsError {
    /// The path contains a NUL byte.
    #[error("path {path} contains a NUL byte")]
    NulInPath {
        /// The path.
        path: PathBuf,
    },
    /// `getxattr` failed.
    #[error("cannot read {XATTR_NAME} of {target}")]
    Read {
        /// The file.
        target: FileTarget,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The attribute's value is not valid.
    #[error("invalid {XATTR_NAME} on {target}")]
    Format {
        /// The file.
        target: FileTarget,
        /// What is wrong.
        #[source]
        source: XattrFormatError,
    },
    /// `setxattr` failed (`EPERM` without `CAP_SETFCAP` over the file, `EINVAL` for a
    /// revision-3 root uid that is not mapped, `EOPNOTSUPP` on file systems without
    /// security attributes).
    #[error("cannot write {XATTR_NAME} ({caps}) to {target}")]
    Write {
        /// The file.
        target: FileTarget,
        /// What was written.
        caps: FileCaps,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// `removexattr` failed.
    #[error("cannot remove {XATTR_NAME} from {target}")]
    Remove {
        /// The file.
        target: FileTarget,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// The file an operation was about: a path or a descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileTarget {
    /// A path.
    Path(PathBuf),
    /// A file descriptor number.
    Fd(RawFd),
}

impl fmt::Display for FileTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileTarget::Path(p) => write!(f, "{}", p.display()),
            FileTarget::Fd(fd) => write!(f, "file descriptor {fd}"),
        }
    }
}

fn c_path(path: &Path) -> Result<CString, FileCapsError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| FileCapsError::NulInPath {
        path: path.to_owned(),
    })
}

fn word(bytes: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([
        bytes[4 * i],
        bytes[4 * i + 1],
        bytes[4 * i + 2],
        bytes[4 * i + 3],
    ])
}

impl FileCaps {
    /// Capabilities `permitted` with the effective bit, as `setcap caps+ep` writes them.
    pub const fn effective_permitted(permitted: CapSet) -> FileCaps {
        FileCaps {
            permitted,
            inheritable: CapSet::empty(),
            effective: true,
            root_uid: None,
        }
    }

    /// The revision this value is written as: 3 with a root uid, else 2.
    pub const fn revision(&self) -> u8 {
        if self.root_uid.is_some() { 3 } else { 2 }
    }

    /// Decodes a `security.capability` value (revision 1, 2 or 3, little-endian).
    ///
    /// # Errors
    /// [`XattrFormatError`] for an unknown revision or a size that does not match it.
    pub fn from_xattr(bytes: &[u8]) -> Result<FileCaps, XattrFormatError> {
        if bytes.len() < 4 {
            return Err(XattrFormatError::Size {
                revision: 0,
                len: bytes.len(),
            });
        }
        let magic = word(bytes, 0);
        let (revision, len) = match magic & REVISION_MASK {
            REVISION_1 => (1, 12),
            REVISION_2 => (2, 20),
            REVISION_3 => (3, 24),
            _ => return Err(XattrFormatError::Revision { magic }),
        };
        if bytes.len() != len {
            return Err(XattrFormatError::Size {
                revision,
                len: bytes.len(),
            });
        }
        let high = |i: usize| {
            if revision == 1 {
                0
            } else {
                u64::from(word(bytes, i)) << 32
            }
        };
        Ok(FileCaps {
            permitted: CapSet::from_bits(u64::from(word(bytes, 1)) | high(3)),
            inheritable: CapSet::from_bits(u64::from(word(bytes, 2)) | high(4)),
            effective: magic & FLAGS_EFFECTIVE != 0,
            root_uid: (revision == 3).then(|| word(bytes, 5)),
        })
    }

    /// Encodes the value as revision 2 (20 bytes) or, with a root uid, revision 3 (24).
    pub fn to_xattr(&self) -> Vec<u8> {
        let (buf, len) = self.encode();
        buf[..len].to_vec()
    }

    fn encode(&self) -> ([u8; MAX_SIZE], usize) {
        let magic = if self.root_uid.is_some() {
            REVISION_3
        } else {
            REVISION_2
        } | if self.effective { FLAGS_EFFECTIVE } else { 0 };
        let (p, i) = (self.permitted.bits(), self.inheritable.bits());
        let words = [
            magic,
            p as u32,
            i as u32,
            (p >> 32) as u32,
            (i >> 32) as u32,
            self.root_uid.unwrap_or(0),
        ];
        let mut buf = [0u8; MAX_SIZE];
        for (chunk, w) in buf.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        (buf, if self.root_uid.is_some() { 24 } else { 20 })
    }

    fn read_target(
        target: XattrTarget<'_>,
        who: impl Fn() -> FileTarget,
    ) -> Result<Option<FileCaps>, FileCapsError> {
        // One byte more than the largest value, so a longer value is seen as invalid.
        let mut buf = [0u8; MAX_SIZE + 1];
        match sys::get_xattr(target, XATTR_NAME_C, &mut buf) {
            Ok(n) => {
                FileCaps::from_xattr(&buf[..n])
                    .map(Some)
                    .map_err(|source| FileCapsError::Format {
                        target: who(),
                        source,
                    })
            }
            Err(libc::ENODATA) => Ok(None),
            Err(libc::ERANGE) => Err(FileCapsError::Format {
                target: who(),
                source: XattrFormatError::Size {
                    revision: 0,
                    len: buf.len(),
                },
            }),
            Err(e) => Err(FileCapsError::Read {
                target: who(),
                source: io::Error::from_raw_os_error(e),
            }),
        }
    }

    /// The capabilities of the file at `path` (following symbolic links), or `None` when
    /// it has none. A revision-3 value is shown by the kernel relative to the caller's
    /// user namespace.
    ///
    /// # Errors
    /// [`FileCapsError::Read`] (`ENOENT`, `EACCES`, ...), [`FileCapsError::Format`] for a
    /// value the kernel would not accept either.
    ///
    /// # Examples
    /// ```no_run
    /// use hutch_caps::FileCaps;
    /// if let Some(caps) = FileCaps::read("/usr/bin/ping")? {
    ///     println!("/usr/bin/ping {caps}");
    /// }
    /// # Ok::<(), hutch_caps::FileCapsError>(())
    /// ```
    #[doc(alias = "getxattr")]
    #[doc(alias = "getcap")]
    pub fn read(path: impl AsRef<Path>) -> Result<Option<FileCaps>, FileCapsError> {
        let path = path.as_ref();
        let c = c_path(path)?;
        FileCaps::read_target(XattrTarget::Path(&c), || FileTarget::Path(path.to_owned()))
    }

    /// Like [`FileCaps::read`], for an open file.
    ///
    /// # Errors
    /// As for [`FileCaps::read`].
    #[doc(alias = "fgetxattr")]
    pub fn read_fd(fd: impl AsFd) -> Result<Option<FileCaps>, FileCapsError> {
        let fd = fd.as_fd();
        FileCaps::read_target(XattrTarget::Fd(fd), || FileTarget::Fd(fd.as_raw_fd()))
    }

    fn write_target(
        &self,
        target: XattrTarget<'_>,
        who: impl Fn() -> FileTarget,
    ) -> Result<(), FileCapsError> {
        let (buf, len) = self.encode();
        sys::set_xattr(target, XATTR_NAME_C, &buf[..len]).map_err(|e| FileCapsError::Write {
            target: who(),
            caps: *self,
            source: io::Error::from_raw_os_error(e),
        })
    }

    /// Sets the capabilities of the file at `path` (following symbolic links), replacing
    /// any it had. Needs `CAP_SETFCAP` in a user namespace that owns the file. From inside
    /// a user namespace the kernel stores the value as revision 3 with that namespace's
    /// root uid, whatever revision was written.
    ///
    /// # Errors
    /// [`FileCapsError::Write`].
    ///
    /// # Examples
    /// ```no_run
    /// use hutch_caps::{CapSet, Capability, FileCaps};
    /// // setcap cap_net_bind_service+ep ./server
    /// FileCaps::effective_permitted(Capability::NetBindService.into()).write("./server")?;
    /// # Ok::<(), hutch_caps::FileCapsError>(())
    /// ```
    #[doc(alias = "setxattr")]
    #[doc(alias = "setcap")]
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), FileCapsError> {
        let path = path.as_ref();
        let c = c_path(path)?;
        self.write_target(XattrTarget::Path(&c), || FileTarget::Path(path.to_owned()))
    }

    /// Like [`FileCaps::write`], for an open file.
    ///
    /// # Errors
    /// As for [`FileCaps::write`].
    #[doc(alias = "fsetxattr")]
    pub fn write_fd(&self, fd: impl AsFd) -> Result<(), FileCapsError> {
        let fd = fd.as_fd();
        self.write_target(XattrTarget::Fd(fd), || FileTarget::Fd(fd.as_raw_fd()))
    }

    fn remove_target(
        target: XattrTarget<'_>,
        who: impl Fn() -> FileTarget,
    ) -> Result<bool, FileCapsError> {
        match sys::remove_xattr(target, XATTR_NAME_C) {
            Ok(()) => Ok(true),
            Err(libc::ENODATA) => Ok(false),
            Err(e) => Err(FileCapsError::Remove {
                target: who(),
                source: io::Error::from_raw_os_error(e),
            }),
        }
    }

    /// Removes the capabilities of the file at `path` (`setcap -r`); returns whether it
    /// had any.
    ///
    /// # Errors
    /// [`FileCapsError::Remove`] (`EPERM` without `CAP_SETFCAP`).
    #[doc(alias = "removexattr")]
    pub fn remove(path: impl AsRef<Path>) -> Result<bool, FileCapsError> {
        let path = path.as_ref();
        let c = c_path(path)?;
        FileCaps::remove_target(XattrTarget::Path(&c), || FileTarget::Path(path.to_owned()))
    }

    /// Like [`FileCaps::remove`], for an open file.
    ///
    /// # Errors
    /// As for [`FileCaps::remove`].
    #[doc(alias = "fremovexattr")]
    pub fn remove_fd(fd: impl AsFd) -> Result<bool, FileCapsError> {
        let fd: BorrowedFd<'_> = fd.as_fd();
        FileCaps::remove_target(XattrTarget::Fd(fd), || FileTarget::Fd(fd.as_raw_fd()))
    }

    /// The effective set in libcap's model: every permitted or inheritable capability when
    /// the effective bit is set.
    fn effective_set(&self) -> CapSet {
        if self.effective {
            self.permitted | self.inheritable
        } else {
            CapSet::empty()
        }
    }
}

// The text form. Each capability is in a state made of three flags; this is the numbering
// libcap uses to order its output (e = 1, p = 2, i = 4), checked against getcap by the
// tests.
const E: u8 = 1;
const P: u8 = 2;
const I: u8 = 4;

fn flags(f: &mut fmt::Formatter<'_>, state: u8) -> fmt::Result {
    for (bit, letter) in [(E, "e"), (I, "i"), (P, "p")] {
        if state & bit != 0 {
            f.write_str(letter)?;
        }
    }
    Ok(())
}

impl fmt::Display for FileCaps {
    /// The text `getcap` prints: the most common state is written first as `=flags` (and
    /// left out when it is "no flags"), then each other state's capabilities, grouped, from
    /// `eip` down to `e`, with `+`/`-` flags relative to that base (`=` for the first group
    /// after an empty base).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.effective_set();
        let state = |n: usize| -> u8 {
            let n = n as u8;
            (if e.contains_number(n) { E } else { 0 })
                | (if self.inheritable.contains_number(n) {
                    I
                } else {
                    0
                })
                | (if self.permitted.contains_number(n) {
                    P
                } else {
                    0
                })
        };
        let name =
            |f: &mut fmt::Formatter<'_>, n: usize| match crate::Capability::from_number(n as u8) {
                Some(c) => f.write_str(c.name()),
                None => write!(f, "{n}"),
            };
        // libcap counts over every capability the kernel has (41 on Linux 5.9 to 6.x).
        let known = crate::Capability::COUNT;
        let mut histogram = [0usize; 8];
        for n in 0..known {
            histogram[usize::from(state(n))] += 1;
        }
        // The most common state; ties go to the lowest state number.
        let mut base = 0u8;
        for s in 1..8u8 {
            if histogram[usize::from(s)] > histogram[usize::from(base)] {
                base = s;
            }
        }
        let mut first = true;
        if base != 0 {
            f.write_str("=")?;
            flags(f, base)?;
            first = false;
        }
        for s in (0..8u8).rev() {
            if s == base || histogram[usize::from(s)] == 0 {
                continue;
            }
            if !first {
                f.write_str(" ")?;
            }
            let mut sep = "";
            for n in (0..known).filter(|&n| state(n) == s) {
                f.write_str(sep)?;
                sep = ",";
                name(f, n)?;
            }
            let raised = s & !base;
            if raised != 0 {
                f.write_str(if first { "=" } else { "+" })?;
                flags(f, raised)?;
            }
            let lowered = base & !s;
            if lowered != 0 {
                f.write_str("-")?;
                flags(f, lowered)?;
            }
            first = false;
        }
        // Numbers above the known capabilities (which no current kernel has): each state's
        // numbers set explicitly, since a bare "=" covers only the known ones.
        for s in (1..8u8).rev() {
            let mut sep = if first { "" } else { " " };
            let mut any = false;
            for n in (known..64).filter(|&n| state(n) == s) {
                f.write_str(sep)?;
                sep = ",";
                any = true;
                name(f, n)?;
            }
            if any {
                f.write_str("=")?;
                flags(f, s)?;
                first = false;
            }
        }
        if first {
            // Nothing at all: libcap writes the empty state as "=".
            f.write_str("=")?;
        }
        Ok(())
    }
}

impl FromStr for FileCaps {
    type Err = ParseFileCapsError;

    /// Parses the `setcap`/`cap_from_text` form: whitespace-separated clauses, each a
    /// comma-separated capability list (names, numbers, or `all`; empty before `=` means
    /// all) followed by one or more operator-and-flags parts: `=` sets exactly the flags,
    /// `+` adds them, `-` removes them; flags are `e`, `i`, `p` (lower case). As `setcap`
    /// does, the effective flag is dropped where a capability is neither permitted nor
    /// inheritable, and must then be on all of them or none. The result has no root uid.
    fn from_str(text: &str) -> Result<FileCaps, ParseFileCapsError> {
        let clause_err = |clause: &str| ParseFileCapsError::Clause {
            text: text.to_owned(),
            clause: clause.to_owned(),
        };
        let mut sets = [CapSet::empty(); 3]; // e, i, p
        for clause in text.split_whitespace() {
            let op_at = clause
                .find(['=', '+', '-'])
                .ok_or_else(|| clause_err(clause))?;
            let (list, mut actions) = clause.split_at(op_at);
            let caps = if list.is_empty() {
                if !actions.starts_with('=') {
                    return Err(clause_err(clause));
                }
                CapSet::all()
            } else {
                list.split(',').try_fold(CapSet::empty(), |acc, name| {
                    parse_item(name)
                        .map(|s| acc | s)
                        .ok_or_else(|| ParseFileCapsError::Name {
                            text: text.to_owned(),
                            name: name.to_owned(),
                        })
                })?
            };
            while let Some(op) = actions.chars().next() {
                let rest = &actions[1..];
                let end = rest.find(['=', '+', '-']).unwrap_or(rest.len());
                let letters = &rest[..end];
                actions = &rest[end..];
                let mut which = [false; 3];
                for l in letters.chars() {
                    // Lower case only, as libcap's cap_from_text.
                    match l {
                        'e' => which[0] = true,
                        'i' => which[1] = true,
                        'p' => which[2] = true,
                        _ => return Err(clause_err(clause)),
                    }
                }
                if op != '=' && letters.is_empty() {
                    return Err(clause_err(clause));
                }
                for (set, on) in sets.iter_mut().zip(which) {
                    match op {
                        '=' if on => *set |= caps,
                        '=' => *set -= caps,
                        '+' if on => *set |= caps,
                        '-' if on => *set -= caps,
                        _ => {}
                    }
                }
            }
        }
        let [e, i, p] = sets;
        // Effective means nothing for a capability neither permitted nor inheritable: libcap
        // drops it there (`cap_net_raw=e` is no capability at all).
        let e = e & (i | p);
        if !e.is_empty() && e != (i | p) {
            return Err(ParseFileCapsError::PartialEffective {
                text: text.to_owned(),
            });
        }
        Ok(FileCaps {
            permitted: p,
            inheritable: i,
            effective: !e.is_empty(),
            root_uid: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Capability as C;
    use proptest::prelude::*;

    fn caps(p: &[C], i: &[C], effective: bool) -> FileCaps {
        FileCaps {
            permitted: p.iter().copied().collect(),
            inheritable: i.iter().copied().collect(),
            effective,
            root_uid: None,
        }
    }

    #[test]
    fn text_like_getcap() {
        let cases = [
            (caps(&[C::NetRaw], &[], true), "cap_net_raw=ep"),
            (caps(&[C::NetRaw], &[], false), "cap_net_raw=p"),
            (
                caps(&[C::NetAdmin, C::NetRaw], &[C::NetAdmin, C::NetRaw], true),
                "cap_net_admin,cap_net_raw=eip",
            ),
            (
                caps(&[C::Chown, C::Kill], &[C::Chown], true),
                "cap_chown=eip cap_kill+ep",
            ),
            (caps(&[], &[C::Kill], false), "cap_kill=i"),
            (caps(&[], &[], false), "="),
            (
                FileCaps {
                    permitted: CapSet::all(),
                    ..FileCaps::default()
                },
                "=p",
            ),
            (
                FileCaps {
                    permitted: CapSet::all() - C::SysAdmin,
                    effective: true,
                    ..FileCaps::default()
                },
                "=ep cap_sys_admin-ep",
            ),
            (
                FileCaps {
                    permitted: CapSet::all(),
                    inheritable: C::Bpf.into(),
                    ..FileCaps::default()
                },
                "=p cap_bpf+i",
            ),
        ];
        assert_eq!(caps(&[], &[], true).to_string(), "=");
        let high = FileCaps {
            permitted: CapSet::all() | CapSet::from_bits(1 << 41 | 1 << 50),
            inheritable: CapSet::from_bits(1 << 50),
            ..FileCaps::default()
        };
        assert_eq!(high.to_string(), "=p 50=ip 41=p");
        for (value, text) in cases {
            assert_eq!(value.to_string(), text, "{value:?}");
            assert_eq!(text.parse::<FileCaps>(), Ok(value), "{text}");
        }
    }

    #[test]
    fn parse_forms() {
        let want = caps(&[C::NetRaw], &[], true);
        for text in [
            "cap_net_raw+ep",
            "cap_net_raw=pe",
            " CAP_NET_RAW=ep ",
            "13+ep",
            "net_raw+pe",
        ] {
            assert_eq!(text.parse::<FileCaps>(), Ok(want), "{text}");
        }
        assert_eq!(
            "all=p cap_sys_admin-p"
                .parse::<FileCaps>()
                .unwrap()
                .permitted,
            CapSet::all() - C::SysAdmin
        );
        assert_eq!("=ep".parse::<FileCaps>().unwrap().permitted, CapSet::all());
        assert_eq!(
            "cap_kill=eip-i".parse::<FileCaps>(),
            Ok(caps(&[C::Kill], &[], true))
        );
        assert_eq!("".parse::<FileCaps>(), Ok(FileCaps::default()));
        assert!(matches!(
            "cap_kill".parse::<FileCaps>(),
            Err(ParseFileCapsError::Clause { .. })
        ));
        assert!(matches!(
            "cap_kill+x".parse::<FileCaps>(),
            Err(ParseFileCapsError::Clause { .. })
        ));
        assert!(matches!(
            "+ep".parse::<FileCaps>(),
            Err(ParseFileCapsError::Clause { .. })
        ));
        assert!(matches!(
            "cap_kill+".parse::<FileCaps>(),
            Err(ParseFileCapsError::Clause { .. })
        ));
        assert!(matches!(
            "cap_nope+p".parse::<FileCaps>(),
            Err(ParseFileCapsError::Name { .. })
        ));
        assert!(matches!(
            "cap_kill+ep cap_chown+p".parse::<FileCaps>(),
            Err(ParseFileCapsError::PartialEffective { .. })
        ));
    }

    /// Bytes as the kernel stores them for `setcap cap_net_raw+ep` (`tests/file.rs` compares
    /// every encoding with the raw `getxattr` value of files written by `setcap`).
    #[test]
    fn xattr_bytes() {
        let v2 = caps(&[C::NetRaw], &[], true);
        let bytes = v2.to_xattr();
        assert_eq!(
            bytes,
            [
                0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(FileCaps::from_xattr(&bytes), Ok(v2));
        let v3 = FileCaps {
            root_uid: Some(100_000),
            permitted: CapSet::from_bits(1 << 40 | 1),
            ..v2
        };
        let bytes = v3.to_xattr();
        assert_eq!(bytes.len(), 24);
        assert_eq!(&bytes[..4], &[1, 0, 0, 3]);
        assert_eq!(&bytes[12..16], &[0, 1, 0, 0]);
        assert_eq!(&bytes[20..], &100_000u32.to_le_bytes());
        assert_eq!(FileCaps::from_xattr(&bytes), Ok(v3));
        // Revision 1: 32-bit sets.
        let v1 = [0, 0, 0, 1, 0x20, 0, 0, 0, 1, 0, 0, 0];
        assert_eq!(
            FileCaps::from_xattr(&v1),
            Ok(caps(&[C::Kill], &[C::Chown], false))
        );
        assert_eq!(
            FileCaps::from_xattr(&bytes[..20]),
            Err(XattrFormatError::Size {
                revision: 3,
                len: 20
            })
        );
        assert_eq!(
            FileCaps::from_xattr(&[0, 0, 0, 4]),
            Err(XattrFormatError::Revision { magic: 0x0400_0000 })
        );
        assert!(FileCaps::from_xattr(&[1, 0]).is_err());
    }

    fn any_file_caps() -> impl Strategy<Value = FileCaps> {
        (
            any::<u64>(),
            any::<u64>(),
            any::<bool>(),
            proptest::option::of(any::<u32>()),
        )
            .prop_map(|(p, i, effective, root_uid)| FileCaps {
                permitted: CapSet::from_bits(p),
                inheritable: CapSet::from_bits(i),
                effective,
                root_uid,
            })
    }

    proptest! {
        #[test]
        fn xattr_round_trip(caps in any_file_caps()) {
            let bytes = caps.to_xattr();
            prop_assert_eq!(bytes.len(), if caps.root_uid.is_some() { 24 } else { 20 });
            prop_assert_eq!(FileCaps::from_xattr(&bytes), Ok(caps));
        }

        #[test]
        fn text_round_trip(caps in any_file_caps()) {
            let text = caps.to_string();
            let back: FileCaps = text.parse().unwrap();
            // The text has no root uid, and an effective bit without capabilities is lost.
            let want = FileCaps {
                root_uid: None,
                effective: caps.effective && !(caps.permitted | caps.inheritable).is_empty(),
                ..caps
            };
            prop_assert_eq!(back, want, "{}", text);
        }

        #[test]
        fn small_sets_are_short(picks in proptest::collection::vec(0u8..41, 1..5), eff in any::<bool>()) {
            let p: CapSet = picks.iter().map(|&n| C::from_number(n).unwrap()).collect();
            let caps = FileCaps { permitted: p, effective: eff, ..FileCaps::default() };
            let text = caps.to_string();
            let tail = if eff { "=ep" } else { "=p" };
            prop_assert!(text.ends_with(tail) && !text.contains(' '), "{}", text);
        }

        #[test]
        fn parse_never_panics(text in "[a-z_,=+\\- 0-9]{0,40}") {
            let _ = text.parse::<FileCaps>();
        }
    }
}
