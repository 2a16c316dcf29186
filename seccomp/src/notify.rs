//! The supervisor side of seccomp user notification.
//!
//! A call that a filter sends to [`Action::UserNotif`](crate::Action::UserNotif) blocks
//! in the kernel until the supervisor holding the listener fd answers it. The
//! supervisor [`Listener::recv`]s a [`Notification`], may inspect the target's memory
//! with [`Listener::read_memory`], may install an fd in the target with
//! [`Listener::addfd`], and answers with [`Listener::respond`].
//!
//! # Caveats: TOCTOU
//!
//! Memory read from the target describes the moment of the read. Another thread of the
//! target (or a process sharing its memory) can change it right after, and the kernel
//! reads it again if the call is allowed to proceed with [`Response::Continue`]. So never
//! decide to *continue* a call because of what its pointer arguments point at; decide to
//! *deny* it, or perform the operation in the supervisor on the target's behalf (with
//! the data you read) and answer with its result. Also check [`Listener::id_valid`]
//! after reading (`read_memory` does): the target may have died and its pid been reused,
//! in which case the bytes came from another process.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use crate::error::NotifyError;
use crate::filter::SeccompData;
use crate::sys;

/// A notification: one blocked system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The cookie identifying it in answers.
    pub id: u64,
    /// The calling thread's id (in the listener's pid namespace; 0 if invisible there).
    pub pid: u32,
    /// Flags (none defined yet).
    pub flags: u32,
    /// The call.
    pub data: SeccompData,
}

/// An answer to a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// The call returns this value without running.
    Value(i64),
    /// The call fails with this errno without running.
    Errno(i32),
    /// The call runs as if allowed (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`, Linux 5.5); see the
    /// TOCTOU caveat in the [module docs](self).
    Continue,
}

/// What [`Listener::wait`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Readiness {
    /// A notification can be received.
    Ready,
    /// No process uses the filter any more; no notification will come.
    Closed,
    /// The timeout passed.
    TimedOut,
}

/// Where [`Listener::addfd`] puts the fd in the target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddFd {
    /// The fd number to use (`SECCOMP_ADDFD_FLAG_SETFD`, replacing what is there), or
    /// the lowest free one.
    pub target: Option<u32>,
    /// Set close-on-exec on the new fd.
    pub cloexec: bool,
    /// Also answer the notification with the new fd number, atomically
    /// (`SECCOMP_ADDFD_FLAG_SEND`, Linux 5.14).
    pub send: bool,
}

/// A user-notification listener fd (from `Program::install` with `NEW_LISTENER`).
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    buf: Vec<u64>,
}

impl Listener {
    /// Wraps a listener fd, sizing receive buffers with `SECCOMP_GET_NOTIF_SIZES`.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Io`] if the kernel does not answer `SECCOMP_GET_NOTIF_SIZES`.
    #[doc(alias = "SECCOMP_GET_NOTIF_SIZES")]
    pub fn new(fd: OwnedFd) -> Result<Listener, NotifyError> {
        let sizes = sys::notif_sizes().map_err(|e| NotifyError::Io {
            op: "seccomp(SECCOMP_GET_NOTIF_SIZES)",
            id: 0,
            source: std::io::Error::from_raw_os_error(e),
        })?;
        let bytes = usize::from(sizes.seccomp_notif).max(size_of::<libc::seccomp_notif>());
        Ok(Listener {
            fd,
            buf: vec![0u64; bytes.div_ceil(8)],
        })
    }

    /// Waits for the next notification.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Io`]: `ENOENT` if the target died between the kernel queueing the
    /// call and this receive (just call again), `EBADF`, ...
    #[doc(alias = "SECCOMP_IOCTL_NOTIF_RECV")]
    pub fn recv(&mut self) -> Result<Notification, NotifyError> {
        let n =
            sys::notif_recv(self.fd.as_fd(), &mut self.buf).map_err(|source| NotifyError::Io {
                op: "SECCOMP_IOCTL_NOTIF_RECV",
                id: 0,
                source,
            })?;
        Ok(Notification {
            id: n.id,
            pid: n.pid,
            flags: n.flags,
            data: SeccompData {
                nr: n.data.nr,
                arch: n.data.arch,
                instruction_pointer: n.data.instruction_pointer,
                args: n.data.args,
            },
        })
    }

    /// Answers notification `id`.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Io`]: `ENOENT` if the call is gone (target killed, or interrupted
    /// by a signal), `EINPROGRESS` if already answered, `EINVAL` for `Continue` on kernels
    /// before 5.5.
    #[doc(alias = "SECCOMP_IOCTL_NOTIF_SEND")]
    pub fn respond(&self, id: u64, response: Response) -> Result<(), NotifyError> {
        let mut resp = libc::seccomp_notif_resp {
            id,
            val: 0,
            error: 0,
            flags: 0,
        };
        match response {
            Response::Value(v) => resp.val = v,
            Response::Errno(e) => resp.error = -e,
            Response::Continue => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        }
        sys::notif_send(self.fd.as_fd(), &mut resp).map_err(|source| NotifyError::Io {
            op: "SECCOMP_IOCTL_NOTIF_SEND",
            id,
            source,
        })
    }

    /// Waits until a notification is ready, the timeout passes, or no process uses the
    /// filter any more (all targets exited), whichever comes first. `None` waits forever.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Io`] if `poll(2)` fails.
    #[doc(alias = "poll")]
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Readiness, NotifyError> {
        let ms = timeout.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
        let revents = sys::poll_in(self.fd.as_fd(), ms).map_err(|source| NotifyError::Io {
            op: "poll",
            id: 0,
            source,
        })?;
        Ok(if revents & libc::POLLIN != 0 {
            Readiness::Ready
        } else if revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            Readiness::Closed
        } else {
            Readiness::TimedOut
        })
    }

    /// Whether notification `id` is still pending (its target alive and still waiting).
    #[doc(alias = "SECCOMP_IOCTL_NOTIF_ID_VALID")]
    pub fn id_valid(&self, id: u64) -> bool {
        sys::notif_id_valid(self.fd.as_fd(), id).is_ok()
    }

    /// Installs a duplicate of `fd` in the target of notification `id`; returns its fd
    /// number there.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Io`]: `ENOENT` if the call is gone, `EMFILE` in the target, ...
    #[doc(alias = "SECCOMP_IOCTL_NOTIF_ADDFD")]
    pub fn addfd(&self, id: u64, fd: BorrowedFd<'_>, how: AddFd) -> Result<u32, NotifyError> {
        let mut flags = 0;
        if how.target.is_some() {
            flags |= libc::SECCOMP_ADDFD_FLAG_SETFD as u32;
        }
        if how.send {
            flags |= libc::SECCOMP_ADDFD_FLAG_SEND as u32;
        }
        let addfd = libc::seccomp_notif_addfd {
            id,
            flags,
            srcfd: fd.as_raw_fd() as u32,
            newfd: how.target.unwrap_or(0),
            newfd_flags: if how.cloexec {
                libc::O_CLOEXEC as u32
            } else {
                0
            },
        };
        sys::notif_addfd(self.fd.as_fd(), &addfd)
            .map(|n| n as u32)
            .map_err(|source| NotifyError::Io {
                op: "SECCOMP_IOCTL_NOTIF_ADDFD",
                id,
                source,
            })
    }

    /// Reads the target's memory at `addr` into `buf` with `process_vm_readv`, then checks
    /// that the notification is still valid (so the pid was not reused meanwhile).
    /// Returns the number of bytes read (short at an unmapped page).
    ///
    /// See the TOCTOU caveat in the [module docs](self): the data may change right
    /// after.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Io`] from `process_vm_readv` (`EFAULT` for a bad address, `EPERM`
    /// without ptrace access to the target), [`NotifyError::Stale`] if the notification
    /// is no longer valid.
    #[doc(alias = "process_vm_readv")]
    pub fn read_memory(
        &self,
        notif: &Notification,
        addr: u64,
        buf: &mut [u8],
    ) -> Result<usize, NotifyError> {
        let n =
            sys::read_process_memory(notif.pid, addr, buf).map_err(|source| NotifyError::Io {
                op: "process_vm_readv",
                id: notif.id,
                source,
            })?;
        if !self.id_valid(notif.id) {
            return Err(NotifyError::Stale { id: notif.id });
        }
        Ok(n)
    }

    /// Reads a NUL-terminated string (a path argument, say) of at most `max` bytes from
    /// the target at `addr`, page by page; returns it without the NUL.
    ///
    /// # Errors
    ///
    /// As [`Listener::read_memory`]; `ENAMETOOLONG` if no NUL comes within `max` bytes.
    pub fn read_c_string(
        &self,
        notif: &Notification,
        addr: u64,
        max: usize,
    ) -> Result<Vec<u8>, NotifyError> {
        const PAGE: u64 = 4096;
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < max {
            // Never read across a page boundary in one go: the next page may be unmapped.
            let chunk = ((PAGE - at % PAGE) as usize).min(max - out.len());
            let mut buf = vec![0u8; chunk];
            let n = sys::read_process_memory(notif.pid, at, &mut buf).map_err(|source| {
                NotifyError::Io {
                    op: "process_vm_readv",
                    id: notif.id,
                    source,
                }
            })?;
            if let Some(end) = buf[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..end]);
                if !self.id_valid(notif.id) {
                    return Err(NotifyError::Stale { id: notif.id });
                }
                return Ok(out);
            }
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            at += n as u64;
        }
        Err(NotifyError::Io {
            op: "process_vm_readv",
            id: notif.id,
            source: std::io::Error::from_raw_os_error(libc::ENAMETOOLONG),
        })
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<Listener> for OwnedFd {
    fn from(l: Listener) -> OwnedFd {
        l.fd
    }
}
