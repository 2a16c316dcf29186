//! The calling thread's capability state: the five sets, securebits and `no_new_privs`.
//!
//! Every function here reads or changes the **calling thread** only: the kernel keeps
//! capabilities, securebits and `no_new_privs` per thread, and a change made here is not
//! seen by the process's other threads (`/proc/PID/status` shows the main thread; see
//! [`ProcessCaps::current_thread`](crate::ProcessCaps::current_thread)). New threads and
//! children start with a copy of their creator's state. To confine a whole program, change
//! the sets in a single-threaded child before `execve` (that is what
//! [`PreparedCaps::apply`](crate::PreparedCaps::apply) is for).
//!
//! # References
//! - [capabilities(7)](https://man7.org/linux/man-pages/man7/capabilities.7.html)
//! - [capget(2)](https://man7.org/linux/man-pages/man2/capget.2.html)
//! - [prctl(2)](https://man7.org/linux/man-pages/man2/prctl.2.html)

use std::io;
use std::path::{Path, PathBuf};

use libc::c_ulong;

use crate::capability::Capability;
use crate::set::CapSet;
use crate::sys;

/// Where the kernel publishes its last capability number.
pub const CAP_LAST_CAP_PATH: &str = "/proc/sys/kernel/cap_last_cap";

/// The name of capability number `n`: `cap_net_raw`, or the number itself.
pub(crate) fn cap_name(n: u8) -> String {
    Capability::from_number(n).map_or_else(|| format!("capability {n}"), |c| c.name().to_owned())
}

/// Errors of the calling thread's capability operations and of reading `cap_last_cap`.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    /// `/proc/sys/kernel/cap_last_cap` (or another given file) could not be read.
    #[error("cannot read the kernel's last capability from {path}")]
    LastCapRead {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The file did not hold a number from 0 to 63.
    #[error("{path} holds {text:?}, not a capability number from 0 to 63")]
    LastCapParse {
        /// The file.
        path: PathBuf,
        /// What it held.
        text: String,
    },
    /// `capget` failed.
    #[error("capget of thread {tid} failed")]
    Get {
        /// The thread id (0: the calling thread).
        tid: u32,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// `capset` failed.
    #[error(
        "capset failed (effective {{{}}}, permitted {{{}}}, inheritable {{{}}})",
        .state.effective, .state.permitted, .state.inheritable
    )]
    Set {
        /// The sets that were asked for.
        state: CapState,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// `PR_CAPBSET_READ` failed.
    #[error("cannot read {} from the bounding set", cap_name(*.cap))]
    BoundingRead {
        /// The capability number.
        cap: u8,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// `PR_CAPBSET_DROP` failed (`EPERM` without `CAP_SETPCAP`).
    #[error("cannot drop {} from the bounding set", cap_name(*.cap))]
    BoundingDrop {
        /// The capability number.
        cap: u8,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A `PR_CAP_AMBIENT` operation failed.
    #[error("{op} failed for {}", .cap.map_or_else(|| "the ambient set".to_owned(), cap_name))]
    Ambient {
        /// `"PR_CAP_AMBIENT_IS_SET"`, `"PR_CAP_AMBIENT_RAISE"`, `"PR_CAP_AMBIENT_LOWER"` or
        /// `"PR_CAP_AMBIENT_CLEAR_ALL"`.
        op: &'static str,
        /// The capability number, if the operation has one.
        cap: Option<u8>,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// `PR_GET_SECUREBITS` or `PR_SET_SECUREBITS` failed.
    #[error("{op} failed")]
    Securebits {
        /// `"PR_GET_SECUREBITS"` or `"PR_SET_SECUREBITS"`.
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// `PR_GET_NO_NEW_PRIVS` or `PR_SET_NO_NEW_PRIVS` failed.
    #[error("{op} failed")]
    NoNewPrivs {
        /// `"PR_GET_NO_NEW_PRIVS"` or `"PR_SET_NO_NEW_PRIVS"`.
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}

fn os(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

/// The running kernel's last capability number, from `/proc/sys/kernel/cap_last_cap`
/// (40 on Linux 5.9 to 6.x). Capabilities up to this number exist even when this crate
/// has no name for them.
///
/// # Errors
/// [`CapsError::LastCapRead`] when the file cannot be read (no `/proc`),
/// [`CapsError::LastCapParse`] when it holds no number from 0 to 63.
///
/// # Examples
/// ```
/// let last = hutch_caps::kernel_last_cap()?;
/// assert!(last >= 40);
/// # Ok::<(), hutch_caps::CapsError>(())
/// ```
#[doc(alias = "cap_last_cap")]
pub fn kernel_last_cap() -> Result<u8, CapsError> {
    read_last_cap(CAP_LAST_CAP_PATH)
}

/// Like [`kernel_last_cap`], from another file (a different `/proc` mount).
///
/// # Errors
/// As for [`kernel_last_cap`].
pub fn read_last_cap(path: impl AsRef<Path>) -> Result<u8, CapsError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| CapsError::LastCapRead {
        path: path.to_owned(),
        source,
    })?;
    match text.trim().parse::<u8>() {
        Ok(n) if n < 64 => Ok(n),
        _ => Err(CapsError::LastCapParse {
            path: path.to_owned(),
            text,
        }),
    }
}

/// The effective, permitted and inheritable sets of one thread.
///
/// ```no_run
/// use hutch_caps::{CapSet, Capability, CapState};
/// // Drop CAP_NET_RAW from this thread's effective set (it stays permitted).
/// let mut state = CapState::current()?;
/// state.effective.remove(Capability::NetRaw);
/// state.set()?;
/// # Ok::<(), hutch_caps::CapsError>(())
/// ```
///
/// # References
/// - [capget(2)](https://man7.org/linux/man-pages/man2/capget.2.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapState {
    /// The capabilities the kernel checks now.
    pub effective: CapSet,
    /// The capabilities the thread may make effective (a limit for effective and, without
    /// `CAP_SETPCAP`, for inheritable).
    pub permitted: CapSet,
    /// The capabilities kept across `execve` for files whose inheritable file capabilities
    /// name them (and the upper limit of the ambient set).
    pub inheritable: CapSet,
}

impl CapState {
    /// The calling thread's sets (`capget` with version 3).
    ///
    /// # Errors
    /// [`CapsError::Get`]; this does not fail on any supported kernel.
    #[doc(alias = "capget")]
    pub fn current() -> Result<CapState, CapsError> {
        CapState::of_thread(0)
    }

    /// The sets of thread (or process) `tid`; 0 is the calling thread.
    ///
    /// # Errors
    /// [`CapsError::Get`] with `ESRCH` when there is no such thread.
    #[doc(alias = "capget")]
    pub fn of_thread(tid: u32) -> Result<CapState, CapsError> {
        let [effective, permitted, inheritable] =
            sys::capget(tid as i32).map_err(|e| CapsError::Get { tid, source: os(e) })?;
        Ok(CapState {
            effective: CapSet::from_bits(effective),
            permitted: CapSet::from_bits(permitted),
            inheritable: CapSet::from_bits(inheritable),
        })
    }

    /// Makes these the calling thread's sets (`capset` with version 3). The kernel's rules:
    /// permitted can only shrink, effective must be a subset of permitted, and inheritable
    /// may only grow within the bounding set and (without `CAP_SETPCAP`) the permitted set.
    /// Shrinking permitted or inheritable also lowers ambient capabilities outside both.
    ///
    /// # Errors
    /// [`CapsError::Set`] with `EPERM` when a rule is broken.
    #[doc(alias = "capset")]
    pub fn set(&self) -> Result<(), CapsError> {
        sys::capset(
            self.effective.bits(),
            self.permitted.bits(),
            self.inheritable.bits(),
        )
        .map_err(|e| CapsError::Set {
            state: *self,
            source: os(e),
        })
    }
}

/// Whether capability number `n` is in the calling thread's bounding set. `Ok(None)` when
/// the kernel does not know the number (`EINVAL`).
fn bounding_read(n: u8) -> Result<Option<bool>, CapsError> {
    match sys::prctl(libc::PR_CAPBSET_READ, c_ulong::from(n), 0) {
        Ok(r) => Ok(Some(r == 1)),
        Err(libc::EINVAL) => Ok(None),
        Err(e) => Err(CapsError::BoundingRead {
            cap: n,
            source: os(e),
        }),
    }
}

/// The calling thread's bounding set, probed number by number with `PR_CAPBSET_READ` up to
/// the first number the kernel does not know, so capabilities newer than this crate are
/// included.
///
/// # Errors
/// [`CapsError::BoundingRead`]; this does not fail on any supported kernel.
///
/// # Examples
/// ```
/// let bounding = hutch_caps::thread::bounding_set()?;
/// println!("bounding set: {bounding}");
/// # Ok::<(), hutch_caps::CapsError>(())
/// ```
#[doc(alias = "PR_CAPBSET_READ")]
pub fn bounding_set() -> Result<CapSet, CapsError> {
    let mut set = CapSet::empty();
    for n in 0..64u8 {
        match bounding_read(n)? {
            Some(true) => set |= CapSet::from_bits(1 << n),
            Some(false) => {}
            None => break,
        }
    }
    Ok(set)
}

/// Whether `cap` is in the calling thread's bounding set (false when the running kernel
/// is too old to know it).
///
/// # Errors
/// [`CapsError::BoundingRead`].
#[doc(alias = "PR_CAPBSET_READ")]
pub fn bounding_contains(cap: Capability) -> Result<bool, CapsError> {
    Ok(bounding_read(cap.number())? == Some(true))
}

/// Removes capability number `n` (which may be newer than this crate's names) from the
/// calling thread's bounding set. This cannot be undone; it needs `CAP_SETPCAP`.
///
/// # Errors
/// [`CapsError::BoundingDrop`]: `EPERM` without `CAP_SETPCAP`, `EINVAL` for a number the
/// kernel does not know.
#[doc(alias = "PR_CAPBSET_DROP")]
pub fn drop_bounding_number(n: u8) -> Result<(), CapsError> {
    sys::prctl(libc::PR_CAPBSET_DROP, c_ulong::from(n), 0)
        .map(drop)
        .map_err(|e| CapsError::BoundingDrop {
            cap: n,
            source: os(e),
        })
}

/// Removes `cap` from the calling thread's bounding set; see [`drop_bounding_number`].
///
/// # Errors
/// [`CapsError::BoundingDrop`].
#[doc(alias = "PR_CAPBSET_DROP")]
pub fn drop_bounding(cap: Capability) -> Result<(), CapsError> {
    drop_bounding_number(cap.number())
}

fn ambient(op: c_ulong, name: &'static str, cap: Option<u8>) -> Result<i32, CapsError> {
    sys::prctl(libc::PR_CAP_AMBIENT, op, c_ulong::from(cap.unwrap_or(0))).map_err(|e| {
        CapsError::Ambient {
            op: name,
            cap,
            source: os(e),
        }
    })
}

/// Whether `cap` is in the calling thread's ambient set.
///
/// # Errors
/// [`CapsError::Ambient`]: `EINVAL` when the kernel does not know `cap`.
#[doc(alias = "PR_CAP_AMBIENT_IS_SET")]
pub fn ambient_contains(cap: Capability) -> Result<bool, CapsError> {
    ambient(
        libc::PR_CAP_AMBIENT_IS_SET as c_ulong,
        "PR_CAP_AMBIENT_IS_SET",
        Some(cap.number()),
    )
    .map(|r| r == 1)
}

/// The calling thread's ambient set, probed with `PR_CAP_AMBIENT_IS_SET` for every
/// number the kernel knows.
///
/// # Errors
/// [`CapsError::Ambient`].
pub fn ambient_set() -> Result<CapSet, CapsError> {
    let mut set = CapSet::empty();
    for n in 0..64u8 {
        match sys::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_IS_SET as c_ulong,
            c_ulong::from(n),
        ) {
            Ok(1) => set |= CapSet::from_bits(1 << n),
            Ok(_) => {}
            Err(libc::EINVAL) if n > 0 => break,
            Err(e) => {
                return Err(CapsError::Ambient {
                    op: "PR_CAP_AMBIENT_IS_SET",
                    cap: Some(n),
                    source: os(e),
                });
            }
        }
    }
    Ok(set)
}

/// Adds `cap` to the calling thread's ambient set: the way a program that is not root
/// keeps a capability across `execve`. The capability must be both permitted and
/// inheritable, and `SECBIT_NO_CAP_AMBIENT_RAISE` must be clear.
///
/// # Errors
/// [`CapsError::Ambient`] with `EPERM` when those conditions do not hold.
#[doc(alias = "PR_CAP_AMBIENT_RAISE")]
pub fn raise_ambient(cap: Capability) -> Result<(), CapsError> {
    ambient(
        libc::PR_CAP_AMBIENT_RAISE as c_ulong,
        "PR_CAP_AMBIENT_RAISE",
        Some(cap.number()),
    )
    .map(drop)
}

/// Removes `cap` from the calling thread's ambient set.
///
/// # Errors
/// [`CapsError::Ambient`].
#[doc(alias = "PR_CAP_AMBIENT_LOWER")]
pub fn lower_ambient(cap: Capability) -> Result<(), CapsError> {
    ambient(
        libc::PR_CAP_AMBIENT_LOWER as c_ulong,
        "PR_CAP_AMBIENT_LOWER",
        Some(cap.number()),
    )
    .map(drop)
}

/// Empties the calling thread's ambient set.
///
/// # Errors
/// [`CapsError::Ambient`]; this does not fail on Linux 4.3 or later.
#[doc(alias = "PR_CAP_AMBIENT_CLEAR_ALL")]
pub fn clear_ambient() -> Result<(), CapsError> {
    ambient(
        libc::PR_CAP_AMBIENT_CLEAR_ALL as c_ulong,
        "PR_CAP_AMBIENT_CLEAR_ALL",
        None,
    )
    .map(drop)
}

bitflags::bitflags! {
    /// The calling thread's securebits (`<linux/securebits.h>`): flags that turn off the
    /// special treatment of uid 0, each with a `*_LOCKED` bit that makes it permanent.
    ///
    /// ```
    /// use hutch_caps::SecureBits;
    /// let strict = SecureBits::NOROOT | SecureBits::NOROOT_LOCKED | SecureBits::NO_SETUID_FIXUP
    ///     | SecureBits::NO_SETUID_FIXUP_LOCKED;
    /// assert_eq!(strict.bits(), 0x0f);
    /// ```
    ///
    /// # References
    /// - [capabilities(7)](https://man7.org/linux/man-pages/man7/capabilities.7.html),
    ///   section "The securebits flags"
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct SecureBits: u32 {
        /// `SECBIT_NOROOT`: uid 0 gets no capabilities at `execve`.
        const NOROOT = 1 << 0;
        /// `SECBIT_NOROOT_LOCKED`.
        const NOROOT_LOCKED = 1 << 1;
        /// `SECBIT_NO_SETUID_FIXUP`: changing uids does not adjust capability sets.
        const NO_SETUID_FIXUP = 1 << 2;
        /// `SECBIT_NO_SETUID_FIXUP_LOCKED`.
        const NO_SETUID_FIXUP_LOCKED = 1 << 3;
        /// `SECBIT_KEEP_CAPS`: keep permitted capabilities when all uids leave 0 (cleared
        /// by `execve`; the same bit as `PR_SET_KEEPCAPS`).
        const KEEP_CAPS = 1 << 4;
        /// `SECBIT_KEEP_CAPS_LOCKED`.
        const KEEP_CAPS_LOCKED = 1 << 5;
        /// `SECBIT_NO_CAP_AMBIENT_RAISE`: `PR_CAP_AMBIENT_RAISE` is refused (Linux 4.3).
        const NO_CAP_AMBIENT_RAISE = 1 << 6;
        /// `SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED`.
        const NO_CAP_AMBIENT_RAISE_LOCKED = 1 << 7;
        /// `SECBIT_EXEC_RESTRICT_FILE` (Linux 6.14).
        const EXEC_RESTRICT_FILE = 1 << 8;
        /// `SECBIT_EXEC_RESTRICT_FILE_LOCKED` (Linux 6.14).
        const EXEC_RESTRICT_FILE_LOCKED = 1 << 9;
        /// `SECBIT_EXEC_DENY_INTERACTIVE` (Linux 6.14).
        const EXEC_DENY_INTERACTIVE = 1 << 10;
        /// `SECBIT_EXEC_DENY_INTERACTIVE_LOCKED` (Linux 6.14).
        const EXEC_DENY_INTERACTIVE_LOCKED = 1 << 11;
    }
}

/// The calling thread's securebits. Bits this crate does not name are kept.
///
/// # Errors
/// [`CapsError::Securebits`]; this does not fail on any supported kernel.
#[doc(alias = "PR_GET_SECUREBITS")]
pub fn securebits() -> Result<SecureBits, CapsError> {
    sys::prctl(libc::PR_GET_SECUREBITS, 0, 0)
        .map(|b| SecureBits::from_bits_retain(b as u32))
        .map_err(|e| CapsError::Securebits {
            op: "PR_GET_SECUREBITS",
            source: os(e),
        })
}

/// Sets the calling thread's securebits to exactly `bits`. Needs `CAP_SETPCAP`; locked
/// bits cannot change.
///
/// # Errors
/// [`CapsError::Securebits`] with `EPERM` without `CAP_SETPCAP` or when a locked bit would
/// change.
#[doc(alias = "PR_SET_SECUREBITS")]
pub fn set_securebits(bits: SecureBits) -> Result<(), CapsError> {
    sys::prctl(libc::PR_SET_SECUREBITS, c_ulong::from(bits.bits()), 0)
        .map(drop)
        .map_err(|e| CapsError::Securebits {
            op: "PR_SET_SECUREBITS",
            source: os(e),
        })
}

/// Whether the calling thread has `no_new_privs` set.
///
/// # Errors
/// [`CapsError::NoNewPrivs`]; this does not fail on Linux 3.5 or later.
#[doc(alias = "PR_GET_NO_NEW_PRIVS")]
pub fn no_new_privs() -> Result<bool, CapsError> {
    sys::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0)
        .map(|r| r == 1)
        .map_err(|e| CapsError::NoNewPrivs {
            op: "PR_GET_NO_NEW_PRIVS",
            source: os(e),
        })
}

/// Sets `no_new_privs` on the calling thread: from now on `execve` never grants privileges
/// (set-user-ID bits and file capabilities are ignored). It cannot be unset, and children
/// inherit it.
///
/// # Errors
/// [`CapsError::NoNewPrivs`]; this does not fail on Linux 3.5 or later.
#[doc(alias = "PR_SET_NO_NEW_PRIVS")]
pub fn set_no_new_privs() -> Result<(), CapsError> {
    sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0)
        .map(drop)
        .map_err(|e| CapsError::NoNewPrivs {
            op: "PR_SET_NO_NEW_PRIVS",
            source: os(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_cap_file() {
        let dir = std::env::temp_dir().join(format!("hutch-caps-lastcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("cap_last_cap");
        std::fs::write(&f, "40\n").unwrap();
        assert_eq!(read_last_cap(&f).unwrap(), 40);
        std::fs::write(&f, "64\n").unwrap();
        let e = read_last_cap(&f).unwrap_err();
        assert!(matches!(e, CapsError::LastCapParse { .. }), "{e}");
        std::fs::write(&f, "x").unwrap();
        assert!(read_last_cap(&f).is_err());
        let e = read_last_cap(dir.join("missing")).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn error_messages_name_the_capability() {
        let e = CapsError::BoundingDrop {
            cap: 21,
            source: os(libc::EPERM),
        };
        assert_eq!(
            e.to_string(),
            "cannot drop cap_sys_admin from the bounding set"
        );
        let e = CapsError::Ambient {
            op: "PR_CAP_AMBIENT_RAISE",
            cap: Some(45),
            source: os(libc::EINVAL),
        };
        assert_eq!(
            e.to_string(),
            "PR_CAP_AMBIENT_RAISE failed for capability 45"
        );
    }
}
