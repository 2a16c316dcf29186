//! Errors: [`CgroupError`] for operations on the hierarchy, [`ParseError`] for text that
//! does not have the form a cgroup file (or a value written to one) must have.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::Controller;

/// Text that could not be parsed as the value it should be.
///
/// Carries what was being parsed, the offending text (cut to 200 bytes) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    what: &'static str,
    text: String,
    reason: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, text: &str, reason: impl Into<String>) -> Self {
        let mut end = text.len().min(200);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let cut = end < text.len();
        let mut text = text[..end].to_owned();
        if cut {
            text.push('…');
        }
        ParseError {
            what,
            text,
            reason: reason.into(),
        }
    }

    /// What was being parsed, e.g. `"cpu.max"` or `"device number"`.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The offending text (at most 200 bytes of it).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Why the text was rejected.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} `{}`: {}", self.what, self.text, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Why a controller cannot be used in a cgroup; part of
/// [`CgroupError::ControllerUnavailable`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// The controller is attached to a cgroup v1 hierarchy (a v1/v2 "hybrid" host); a
    /// controller can be bound to only one hierarchy at a time.
    BoundToV1 {
        /// Where the v1 hierarchy holding the controller is mounted.
        mount_point: PathBuf,
    },
    /// An ancestor has the controller but did not enable it in its
    /// `cgroup.subtree_control`.
    NotEnabledAbove {
        /// The nearest ancestor that has the controller available.
        ancestor: PathBuf,
    },
    /// Not even the root of the hierarchy offers it: the kernel was built without it or it
    /// was disabled on the kernel command line (`cgroup_disable=`).
    NotInKernel,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::BoundToV1 { mount_point } => write!(
                f,
                "on a v1/v2 hybrid host the controller is bound to the v1 hierarchy mounted at {} \
                 (a controller can be attached to only one hierarchy; boot with \
                 systemd.unified_cgroup_hierarchy=1 or cgroup_no_v1=all to get it in cgroup v2)",
                mount_point.display()
            ),
            Unavailable::NotEnabledAbove { ancestor } => write!(
                f,
                "{} has it but it is not enabled in the cgroup.subtree_control of every cgroup \
                 between there and here",
                ancestor.display()
            ),
            Unavailable::NotInKernel => f.write_str(
                "the root of the hierarchy does not offer it either: the kernel lacks it or it \
                 was disabled with cgroup_disable= on the kernel command line",
            ),
        }
    }
}

/// A list of controllers printed the way `cgroup.controllers` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ControllerList(pub Vec<Controller>);

impl fmt::Display for ControllerList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(none)");
        }
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// An operation on a cgroup failed.
///
/// Every variant names the cgroup (and file, value, pid) involved; OS failures keep the
/// `io::Error` (and so the errno) as their [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// `/proc/self/mountinfo` (or another proc file) could not be read.
    #[error("cannot read {path}")]
    Proc {
        /// The proc file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// No cgroup2 file system is mounted.
    #[error("no cgroup2 file system in the mount table (looked for fstype `cgroup2`)")]
    NoCgroup2Mount,
    /// Opening a cgroup directory failed.
    #[error("cannot open cgroup {path}")]
    Open {
        /// The cgroup directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Creating a cgroup directory failed.
    #[error("cannot create cgroup {path}")]
    Create {
        /// The cgroup directory that was to be created.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Removing a cgroup directory failed.
    #[error("cannot remove cgroup {path}")]
    Remove {
        /// The cgroup directory.
        path: PathBuf,
        /// The OS error (`EBUSY` after the retries means it still has members or children).
        #[source]
        source: io::Error,
    },
    /// `remove` was called on the root of the hierarchy, which has no `cgroup.kill` and holds
    /// every process of the host: refused before anything is signalled.
    #[error("refusing to remove {path}: it is the root of the cgroup hierarchy")]
    RemoveRoot {
        /// The root cgroup directory.
        path: PathBuf,
    },
    /// A process's cgroup is outside the subtree of the hierarchy that is mounted here.
    #[error(
        "cgroup {cgroup} is outside the subtree {mount_root} mounted at {mount_point}",
        cgroup = cgroup.display(),
        mount_root = mount_root.display(),
        mount_point = mount_point.display()
    )]
    OutsideMount {
        /// The cgroup path from `/proc/<pid>/cgroup`.
        cgroup: PathBuf,
        /// The subtree the cgroup2 mount shows.
        mount_root: PathBuf,
        /// Where it is mounted.
        mount_point: PathBuf,
    },
    /// A child name is not a single, plain path component.
    #[error("invalid cgroup name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Reading a cgroup file failed.
    #[error("cannot read {file} of cgroup {path}")]
    Read {
        /// The cgroup directory.
        path: PathBuf,
        /// The interface file, relative to it.
        file: String,
        /// The OS error (`ENOENT`: the controller is not enabled for this cgroup or the
        /// kernel lacks the file).
        #[source]
        source: io::Error,
    },
    /// Writing a value to a cgroup file failed.
    #[error("cannot write `{value}` to {file} of cgroup {path}")]
    Write {
        /// The cgroup directory.
        path: PathBuf,
        /// The interface file, relative to it.
        file: String,
        /// The text that was written.
        value: String,
        /// The OS error (`EINVAL`: the kernel rejected the value; `ENOENT`: the
        /// controller is not enabled for this cgroup; `EBUSY`: see the file's docs).
        #[source]
        source: io::Error,
    },
    /// A cgroup file held text that could not be parsed.
    #[error("cannot parse {file} of cgroup {path}")]
    Parse {
        /// The cgroup directory.
        path: PathBuf,
        /// The interface file.
        file: String,
        /// What was wrong.
        #[source]
        source: ParseError,
    },
    /// A value was rejected before being written (out of the range the kernel accepts).
    #[error("refusing to write {file} of cgroup {path}")]
    InvalidValue {
        /// The cgroup directory.
        path: PathBuf,
        /// The interface file.
        file: String,
        /// What was wrong with the value.
        #[source]
        source: ParseError,
    },
    /// A controller that was asked for is not available in the cgroup.
    #[error(
        "controller `{controller}` is not available in {path} (cgroup.controllers: {available}): {reason}"
    )]
    ControllerUnavailable {
        /// The controller.
        controller: Controller,
        /// The cgroup whose `cgroup.controllers` lacks it.
        path: PathBuf,
        /// What `cgroup.controllers` holds.
        available: ControllerList,
        /// Why it is missing.
        reason: Unavailable,
    },
    /// Enabling controllers failed with `EBUSY` because of the "no internal processes"
    /// rule.
    #[error(
        "cannot enable {controllers} in {path}/cgroup.subtree_control: the cgroup has {processes} \
         process(es) of its own, and cgroup v2 lets a non-root cgroup either hold processes or \
         distribute resources to children, not both (\"no internal processes\" rule); move the \
         processes into a leaf child first, e.g. with Cgroup::move_self_into_leaf or \
         Cgroup::move_all_into_leaf"
    )]
    InternalProcesses {
        /// The cgroup.
        path: PathBuf,
        /// The controllers that were to be enabled.
        controllers: ControllerList,
        /// How many processes were found in its `cgroup.procs`.
        processes: usize,
        /// The OS error (`EBUSY`).
        #[source]
        source: io::Error,
    },
    /// Waiting for a state in `cgroup.events` timed out.
    #[error("cgroup {path} did not reach `{waiting_for}` within {timeout:?}")]
    Timeout {
        /// The cgroup.
        path: PathBuf,
        /// The awaited state, as it appears in `cgroup.events` (e.g. `frozen 1`).
        waiting_for: &'static str,
        /// How long was waited.
        timeout: std::time::Duration,
    },
    /// Waiting on `cgroup.events` (poll) failed.
    #[error("cannot wait for {file} of cgroup {path}")]
    Wait {
        /// The cgroup.
        path: PathBuf,
        /// The file waited on.
        file: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Moving a process or thread into the cgroup failed.
    #[error("cannot move {what} {pid} into cgroup {path}")]
    Move {
        /// The destination cgroup.
        path: PathBuf,
        /// `"process"` or `"thread"`.
        what: &'static str,
        /// The pid or tid.
        pid: i32,
        /// The OS error (`EBUSY`: the destination has controllers enabled for its
        /// children — the "no internal processes" rule — or is `domain invalid`;
        /// `EOPNOTSUPP`: a thread move outside a threaded subtree; `ESRCH`: no such
        /// process; `EACCES`/`EPERM`: delegation does not cover the common ancestor of
        /// source and destination).
        #[source]
        source: io::Error,
    },
    /// Handing the cgroup to a user (chown) failed.
    #[error("cannot delegate {file} of cgroup {path} to uid {uid}")]
    Delegate {
        /// The cgroup.
        path: PathBuf,
        /// The file or `.` for the directory.
        file: String,
        /// The user.
        uid: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}
