//! Another process's capability state, from `/proc/PID/status`.

use std::io;
use std::path::{Path, PathBuf};

use crate::set::CapSet;

/// A process's seccomp mode (the `Seccomp:` line of `/proc/PID/status`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeccompMode {
    /// 0: no seccomp.
    Disabled,
    /// 1: strict mode (`SECCOMP_SET_MODE_STRICT`).
    Strict,
    /// 2: one or more filters (`SECCOMP_SET_MODE_FILTER`).
    Filter,
    /// A value this crate does not know, kept as it was.
    Unknown(u32),
}

impl SeccompMode {
    fn from_value(v: u32) -> SeccompMode {
        match v {
            0 => SeccompMode::Disabled,
            1 => SeccompMode::Strict,
            2 => SeccompMode::Filter,
            v => SeccompMode::Unknown(v),
        }
    }
}

/// The capability-related lines of `/proc/PID/status`.
///
/// ```
/// use hutch_caps::{CapSet, ProcessCaps};
/// let text = "Name:\tcat\nCapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\n\
///             CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n\
///             CapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n";
/// let caps = ProcessCaps::parse(text)?;
/// assert_eq!(caps.bounding, CapSet::docker_default());
/// assert!(caps.no_new_privs);
/// # Ok::<(), hutch_caps::ParseStatusError>(())
/// ```
///
/// # References
/// - [proc_pid_status(5)](https://man7.org/linux/man-pages/man5/proc_pid_status.5.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessCaps {
    /// `CapInh`.
    pub inheritable: CapSet,
    /// `CapPrm`.
    pub permitted: CapSet,
    /// `CapEff`.
    pub effective: CapSet,
    /// `CapBnd`.
    pub bounding: CapSet,
    /// `CapAmb` (Linux 4.3).
    pub ambient: CapSet,
    /// `NoNewPrivs` (Linux 4.10).
    pub no_new_privs: bool,
    /// `Seccomp`; `None` when the kernel is built without seccomp and has no such line.
    pub seccomp: Option<SeccompMode>,
}

/// Text that is not a valid `/proc/PID/status` capability section.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseStatusError {
    /// A required line is missing.
    #[error("no {field} line")]
    Missing {
        /// The field name (`CapEff`, ...).
        field: &'static str,
    },
    /// A line's value is not what the kernel writes.
    #[error("invalid {field} value {value:?}")]
    Invalid {
        /// The field name.
        field: &'static str,
        /// The value.
        value: String,
    },
}

/// `/proc/PID/status` could not be read or parsed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The file could not be read (`ENOENT` when the process is gone).
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The file's contents were not understood.
    #[error("cannot parse {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: ParseStatusError,
    },
}

impl ProcessCaps {
    /// Parses the text of a `/proc/PID/status` file. Lines other than `CapInh`, `CapPrm`,
    /// `CapEff`, `CapBnd`, `CapAmb`, `NoNewPrivs` and `Seccomp` are ignored.
    ///
    /// # Errors
    /// [`ParseStatusError::Missing`] when one of the five capability lines or
    /// `NoNewPrivs` is missing, [`ParseStatusError::Invalid`] when a value is not
    /// hexadecimal (sets) or decimal (flags).
    pub fn parse(text: &str) -> Result<ProcessCaps, ParseStatusError> {
        let mut sets: [Option<CapSet>; 5] = [None; 5];
        const SETS: [&str; 5] = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"];
        let mut nnp = None;
        let mut seccomp = None;
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if let Some(i) = SETS.iter().position(|k| *k == key) {
                let ok = !value.is_empty() && value.len() <= 16;
                let bits = u64::from_str_radix(value, 16)
                    .ok()
                    .filter(|_| ok && value.bytes().all(|b| b.is_ascii_hexdigit()));
                sets[i] = Some(CapSet::from_bits(bits.ok_or_else(|| {
                    ParseStatusError::Invalid {
                        field: SETS[i],
                        value: value.to_owned(),
                    }
                })?));
            } else if key == "NoNewPrivs" {
                nnp = Some(match value {
                    "0" => false,
                    "1" => true,
                    _ => {
                        return Err(ParseStatusError::Invalid {
                            field: "NoNewPrivs",
                            value: value.to_owned(),
                        });
                    }
                });
            } else if key == "Seccomp" {
                let v = value
                    .parse::<u32>()
                    .ok()
                    .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| ParseStatusError::Invalid {
                        field: "Seccomp",
                        value: value.to_owned(),
                    })?;
                seccomp = Some(SeccompMode::from_value(v));
            }
        }
        let get = |i: usize| sets[i].ok_or(ParseStatusError::Missing { field: SETS[i] });
        Ok(ProcessCaps {
            inheritable: get(0)?,
            permitted: get(1)?,
            effective: get(2)?,
            bounding: get(3)?,
            ambient: get(4)?,
            no_new_privs: nnp.ok_or(ParseStatusError::Missing {
                field: "NoNewPrivs",
            })?,
            seccomp,
        })
    }

    /// Reads `/proc/PID/status` of process `pid` (its main thread).
    ///
    /// # Errors
    /// [`StatusError::Read`] (`ENOENT` when there is no such process),
    /// [`StatusError::Parse`].
    ///
    /// # Examples
    /// ```
    /// let me = hutch_caps::ProcessCaps::read(std::process::id())?;
    /// assert!(me.permitted.is_superset(me.effective));
    /// # Ok::<(), hutch_caps::StatusError>(())
    /// ```
    pub fn read(pid: u32) -> Result<ProcessCaps, StatusError> {
        ProcessCaps::read_file(Path::new("/proc").join(pid.to_string()).join("status"))
    }

    /// Reads `/proc/thread-self/status`: the calling thread's state, which may differ from
    /// the main thread's (capabilities are per thread).
    ///
    /// # Errors
    /// As for [`ProcessCaps::read`].
    pub fn current_thread() -> Result<ProcessCaps, StatusError> {
        ProcessCaps::read_file("/proc/thread-self/status")
    }

    /// Reads a status file at any path (a different `/proc` mount, a task's
    /// `/proc/PID/task/TID/status`).
    ///
    /// # Errors
    /// As for [`ProcessCaps::read`].
    pub fn read_file(path: impl AsRef<Path>) -> Result<ProcessCaps, StatusError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| StatusError::Read {
            path: path.to_owned(),
            source,
        })?;
        ProcessCaps::parse(&text).map_err(|source| StatusError::Parse {
            path: path.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Captured from `cat /proc/self/status` as root on the test VM (Linux 6.18).
    const CAPTURED: &str = "Name:\tcat
Umask:\t0022
State:\tR (running)
Tgid:\t5123
Ngid:\t0
Pid:\t5123
PPid:\t5090
TracerPid:\t0
Uid:\t0\t0\t0\t0
Gid:\t0\t0\t0\t0
FDSize:\t64
Groups:\t0 
NStgid:\t5123
NSpid:\t5123
NSpgid:\t5123
NSsid:\t5090
Kthread:\t0
VmPeak:\t    5572 kB
Threads:\t1
SigQ:\t0/15436
SigBlk:\t0000000000000000
CapInh:\t0000000000000000
CapPrm:\t000001fffeffffff
CapEff:\t000001fffeffffff
CapBnd:\t000001fffeffffff
CapAmb:\t0000000000000000
NoNewPrivs:\t0
Seccomp:\t0
Seccomp_filters:\t0
Speculation_Store_Bypass:\tthread vulnerable
Cpus_allowed:\t3
Cpus_allowed_list:\t0-1
voluntary_ctxt_switches:\t0
nonvoluntary_ctxt_switches:\t1
";

    #[test]
    fn captured() {
        let caps = ProcessCaps::parse(CAPTURED).unwrap();
        assert_eq!(caps.bounding.bits(), 0x01ff_feff_ffff);
        assert_eq!(caps.effective, caps.bounding);
        assert_eq!(caps.permitted, caps.bounding);
        assert!(!caps.bounding.contains(crate::Capability::SysResource));
        assert!(caps.inheritable.is_empty() && caps.ambient.is_empty());
        assert!(!caps.no_new_privs);
        assert_eq!(caps.seccomp, Some(SeccompMode::Disabled));
    }

    #[test]
    fn errors() {
        let no_amb = CAPTURED.replace("CapAmb:\t0000000000000000\n", "");
        assert_eq!(
            ProcessCaps::parse(&no_amb),
            Err(ParseStatusError::Missing { field: "CapAmb" })
        );
        let bad = CAPTURED.replace("CapEff:\t000001fffeffffff", "CapEff:\t+01");
        assert!(matches!(
            ProcessCaps::parse(&bad),
            Err(ParseStatusError::Invalid {
                field: "CapEff",
                ..
            })
        ));
        let long = CAPTURED.replace("CapEff:\t000001fffeffffff", "CapEff:\t00000001fffeffffff");
        assert!(ProcessCaps::parse(&long).is_err());
        let nnp = CAPTURED.replace("NoNewPrivs:\t0", "NoNewPrivs:\t2");
        assert!(ProcessCaps::parse(&nnp).is_err());
        let no_seccomp = CAPTURED.replace("Seccomp:\t0\n", "");
        assert_eq!(ProcessCaps::parse(&no_seccomp).unwrap().seccomp, None);
        let odd = CAPTURED.replace("Seccomp:\t0\n", "Seccomp:\t7\n");
        assert_eq!(
            ProcessCaps::parse(&odd).unwrap().seccomp,
            Some(SeccompMode::Unknown(7))
        );
    }

    proptest! {
        #[test]
        fn formatted_like_the_kernel(
            sets in proptest::array::uniform5(any::<u64>()),
            nnp in any::<bool>(),
            seccomp in 0u32..3,
            noise in "X[A-Za-z_]{0,12}",
        ) {
            let text = format!(
                "Name:\tx\n{noise}:\t1 2\nCapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\n\
                 CapBnd:\t{:016x}\nCapAmb:\t{:016x}\nNoNewPrivs:\t{}\nSeccomp:\t{seccomp}\n",
                sets[0], sets[1], sets[2], sets[3], sets[4], u8::from(nnp),
            );
            let caps = ProcessCaps::parse(&text).unwrap();
            prop_assert_eq!(caps.inheritable.bits(), sets[0]);
            prop_assert_eq!(caps.permitted.bits(), sets[1]);
            prop_assert_eq!(caps.effective.bits(), sets[2]);
            prop_assert_eq!(caps.bounding.bits(), sets[3]);
            prop_assert_eq!(caps.ambient.bits(), sets[4]);
            prop_assert_eq!(caps.no_new_privs, nnp);
            prop_assert_eq!(caps.seccomp, Some(SeccompMode::from_value(seccomp)));
        }

        #[test]
        fn never_panics(text in "\\PC{0,300}") {
            let _ = ProcessCaps::parse(&text);
        }
    }
}
