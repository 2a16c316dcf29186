//! The descriptor layer, parent side: the program's standard streams and the descriptors
//! passed to it on purpose ([`Command::pass_fd`]). The child marks everything else above 2
//! close-on-exec, so nothing else of the caller's reaches the program.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use crate::command::Defaults;
use crate::stdio::StdioKind;
use crate::sys::{self, ChildStdio, FdPlan};
use crate::{Command, SpawnError};

const STREAMS: [&str; 3] = ["stdin", "stdout", "stderr"];

/// The parent's side of the descriptor layer: the caller's ends of piped streams, and the
/// child's sources, kept open until the clone.
pub(crate) struct Fds {
    pub plan: FdPlan,
    /// The child's sources (pipe ends, `/dev/null`, duplicates of the caller's descriptors).
    pub child_ends: Vec<OwnedFd>,
    /// The caller's ends of piped stdin, stdout, stderr.
    pub parent_ends: [Option<OwnedFd>; 3],
    /// The lowest number that every descriptor the child uses after the clone must have, so
    /// that moving the streams and passed descriptors onto their numbers overwrites none of
    /// them.
    pub floor: RawFd,
}

impl Fds {
    /// Every descriptor the child's descriptor layer reads, for a process that closes all
    /// others first.
    pub(crate) fn sources(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.child_ends.iter().map(|f| f.as_raw_fd())
    }
}

/// The floor for a command: above 2 and above every number a descriptor is passed as.
pub(crate) fn floor(cmd: &Command) -> RawFd {
    cmd.passed_fds
        .iter()
        .map(|(n, _)| *n)
        .max()
        .map_or(3, |n| n.saturating_add(1).max(3))
}

pub(crate) fn prepare(cmd: &Command, defaults: Defaults) -> Result<Fds, SpawnError> {
    let floor = floor(cmd);
    let (in_default, out_default) = match defaults {
        Defaults::Inherit => (StdioKind::Inherit, StdioKind::Inherit),
        Defaults::Output => (StdioKind::Null, StdioKind::Piped),
    };
    let cfgs = [&cmd.stdin, &cmd.stdout, &cmd.stderr];
    let mut fds = Fds {
        plan: FdPlan::default(),
        child_ends: Vec::new(),
        parent_ends: [None, None, None],
        floor,
    };
    for (i, cfg) in cfgs.into_iter().enumerate() {
        let stream = STREAMS[i];
        let err = |source| SpawnError::Stdio { stream, source };
        let default = if i == 0 { &in_default } else { &out_default };
        let kind = cfg.as_ref().map_or(default, |s| &s.0);
        let child = match kind {
            StdioKind::Inherit => None,
            StdioKind::Null => {
                let f = File::options()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                    .map_err(err)?;
                Some(OwnedFd::from(f))
            }
            StdioKind::Piped => {
                let (r, w) = io::pipe().map_err(err)?;
                let (r, w) = (OwnedFd::from(r), OwnedFd::from(w));
                let (child, parent) = if i == 0 { (r, w) } else { (w, r) };
                fds.parent_ends[i] = Some(parent);
                Some(child)
            }
            // The caller keeps its descriptor (the Command may spawn again): the child gets a
            // duplicate.
            StdioKind::Fd(fd) => Some(fd.try_clone().map_err(err)?),
        };
        if let Some(fd) = child {
            let fd = sys::at_least(fd, floor).map_err(err)?;
            fds.plan.stdio[i] = ChildStdio::Fd(fd.as_raw_fd());
            fds.child_ends.push(fd);
        }
    }
    for (number, fd) in &cmd.passed_fds {
        let number = *number;
        if number < 3 {
            return Err(SpawnError::PassFd {
                number,
                reason: "0, 1 and 2 are the standard streams: use Command::stdin/stdout/stderr",
            });
        }
        if cmd.passed_fds.iter().filter(|(n, _)| *n == number).count() > 1 {
            return Err(SpawnError::PassFd {
                number,
                reason: "two descriptors are passed as this number",
            });
        }
        let dup = sys::dup_at_least(fd.as_fd(), floor).map_err(|source| SpawnError::Parent {
            op: "duplicating a passed descriptor (fcntl F_DUPFD_CLOEXEC)",
            source,
        })?;
        fds.plan.passed.push((dup.as_raw_fd(), number));
        fds.child_ends.push(dup);
    }
    Ok(fds)
}

/// Checks the resource limit on descriptor numbers before the clone, so that a number above
/// it is an error naming it rather than `EBADF` from the child.
pub(crate) fn check_limit(cmd: &Command) -> Result<(), SpawnError> {
    let Some(max) = cmd.passed_fds.iter().map(|(n, _)| *n).max() else {
        return Ok(());
    };
    let limit = sys::nofile_limit();
    if (max as u64) >= limit {
        return Err(SpawnError::PassFd {
            number: max,
            reason: "it is not below the RLIMIT_NOFILE soft limit",
        });
    }
    Ok(())
}
