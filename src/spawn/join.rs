//! The join layer (`Child::exec`), parent side: the running container's pidfd and cgroup, and
//! the end of the join.
//!
//! The intermediate process is a fork-like copy of the caller. It has closed every descriptor
//! except the ones the spawn uses (the child's first step, for every spawn), and before it
//! enters the container it makes itself non-dumpable, so nothing in the container can read the caller's memory or
//! descriptors through it. It forks the program's process into the container's pid namespace
//! with `CLONE_PARENT | CLONE_PARENT_SETTID`: the kernel writes that process's pid into the
//! shared progress page before the fork returns, so the pid is known (and the process reaped)
//! even if the intermediate dies right after.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::{abandon, child_error};
use crate::command::JoinTarget;
use crate::error::{Pid, Step};
use crate::sys::{self, Join, Prepared, ProgressPage};
use crate::{Command, SpawnError};

pub(crate) fn prepare(j: &JoinTarget) -> Result<Join, SpawnError> {
    let target = |source| SpawnError::JoinTarget { pid: j.pid, source };
    let pidfd = j
        .pidfd
        .as_ref()
        .map_err(|e| target(io::Error::from_raw_os_error(*e)))?;
    // A pidfd becomes readable when its process ends: joining it then is pointless.
    if sys::poll_any(&[pidfd.as_fd()], Some(std::time::Duration::ZERO)).map_err(target)? {
        return Err(target(io::Error::from_raw_os_error(libc::ESRCH)));
    }
    let cgroup_fd = match &j.cgroup {
        None => None,
        Some(Ok(fd)) => Some(fd.as_raw_fd()),
        Some(Err(e)) => return Err(target(io::Error::from_raw_os_error(*e))),
    };
    Ok(Join {
        pidfd: pidfd.as_raw_fd(),
        nstypes: j.namespaces.bits() as libc::c_int,
        cgroup_fd,
    })
}

/// Reads to the end of the report pipe (the intermediate has exited, and the program's process
/// has exec'd or ended), then decides.
pub(crate) fn finish(
    intermediate: OwnedFd,
    report: &OwnedFd,
    plan: &Prepared,
    cmd: &Command,
    progress: &ProgressPage,
    listener: Option<&mut super::seccomp::SetupListener>,
) -> Result<(Pid, OwnedFd), SpawnError> {
    // The intermediate ends by itself once it has forked (or failed). The process it forked
    // waits at the gate until we hold its pidfd: should it exec and end at once, a caller that
    // ignores SIGCHLD would otherwise see it reaped by the kernel first, its pid free for reuse.
    let intermediate_status = sys::waitid_pidfd(intermediate.as_fd(), false)
        .ok()
        .flatten();
    let early_pidfd = progress.joined().map(sys::pidfd_open);
    progress.open_gate();
    // From here on the process may exec (its exit signal is SIGCHLD again then, and a caller
    // that ignores SIGCHLD has it reaped by the kernel): end it through its pidfd, never by a
    // pid that may have been reused. Returns its raw status, reaped at most once.
    let mut reaped: Option<i32> = None;
    let mut end_it = |kill: bool| -> i32 {
        if let Some(raw) = reaped {
            return raw;
        }
        let raw = match (&early_pidfd, progress.joined()) {
            (Some(Ok(fd)), _) => {
                if kill {
                    let _ = sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
                }
                sys::waitid_pidfd(fd.as_fd(), false)
                    .ok()
                    .flatten()
                    .unwrap_or(0)
            }
            // No pidfd: it was still blocked at the gate, an unreaped child of ours whose pid
            // cannot have been reused.
            (_, Some(pid)) if kill => sys::kill_and_reap_child(pid),
            (_, Some(pid)) => sys::reap_child(pid),
            (_, None) => 0,
        };
        reaped = Some(raw);
        raw
    };
    let mut error: Option<SpawnError> = None;
    if let Some(l) = listener
        && let Err(e) = l.serve_until(report.as_fd())
    {
        error = Some(e);
        end_it(true);
    }
    loop {
        match sys::read_record(report.as_fd()) {
            Ok(None) => break,
            Ok(Some(r)) => {
                if error.is_none() {
                    error = Some(child_error(r, plan, cmd));
                }
            }
            Err(source) => {
                abandon(intermediate.as_fd());
                end_it(true);
                return Err(SpawnError::Parent {
                    op: "reading the child's report",
                    source,
                });
            }
        }
    }
    match (error, progress.joined()) {
        (Some(e), Some(_)) => {
            // It reported its failure and exits by itself.
            end_it(false);
            Err(e)
        }
        (Some(e), None) => Err(e),
        // The intermediate died before its fork, without a word.
        (None, None) => Err(SpawnError::ChildDied {
            step: Step::from_code(progress.step(0)),
            status: ExitStatus::from_raw(intermediate_status.unwrap_or(0)),
        }),
        // The program's process died before its exec, without a word.
        (None, Some(_)) if progress.step(1) != sys::step::EXEC => {
            let raw = end_it(true);
            Err(SpawnError::ChildDied {
                step: Step::from_code(progress.step(1)),
                status: ExitStatus::from_raw(raw),
            })
        }
        (None, Some(pid)) => match early_pidfd {
            Some(Ok(fd)) => Ok((Pid::new(pid).expect("the kernel stores a positive pid"), fd)),
            Some(Err(source)) => {
                sys::kill_and_reap_child(pid);
                Err(SpawnError::Parent {
                    op: "pidfd_open",
                    source,
                })
            }
            // The kernel stored the pid before the intermediate ended, and we read it after.
            None => Err(SpawnError::Parent {
                op: "pidfd_open",
                source: io::Error::from_raw_os_error(libc::ESRCH),
            }),
        },
    }
}
