//! Installing a compiled program, and passing the listener fd to the supervisor.

use std::ops::{BitOr, BitOrAssign};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::compile::Program;
use crate::error::SeccompError;
use crate::filter::Action;
use crate::sys;

/// `SECCOMP_FILTER_FLAG_*` flags for [`Program::install`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InstallFlags(u32);

impl InstallFlags {
    /// No flags.
    pub const EMPTY: InstallFlags = InstallFlags(0);
    /// `SECCOMP_FILTER_FLAG_LOG`: log every action but `Allow` (Linux 4.14).
    pub const LOG: InstallFlags = InstallFlags(libc::SECCOMP_FILTER_FLAG_LOG as u32);
    /// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`: keep speculative-store-bypass mitigation off
    /// (Linux 4.17).
    pub const SPEC_ALLOW: InstallFlags = InstallFlags(libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32);
    /// `SECCOMP_FILTER_FLAG_NEW_LISTENER`: return a user-notification listener fd
    /// (Linux 5.0).
    pub const NEW_LISTENER: InstallFlags =
        InstallFlags(libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32);
    /// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`: once the supervisor has received a
    /// notification, only fatal signals interrupt the waiting call (Linux 5.19; needs
    /// `NEW_LISTENER`).
    pub const WAIT_KILLABLE_RECV: InstallFlags =
        InstallFlags(libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32);

    /// Flags from raw `SECCOMP_FILTER_FLAG_*` bits, for flags newer than this crate;
    /// the kernel checks them.
    pub const fn from_bits(bits: u32) -> InstallFlags {
        InstallFlags(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: InstallFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the running kernel accepts these flags together. Probed with a null
    /// program, which installs nothing: the kernel checks flags (`EINVAL`) before it
    /// copies the program (`EFAULT`).
    ///
    /// # Errors
    ///
    /// [`SeccompError`] if `seccomp(2)` fails otherwise (for example `ENOSYS`).
    #[doc(alias = "seccomp")]
    pub fn supported(self) -> Result<bool, SeccompError> {
        sys::probe_filter_flags(self.0).map_err(|e| SeccompError::Io {
            op: "seccomp(SECCOMP_SET_MODE_FILTER) flag probe",
            source: std::io::Error::from_raw_os_error(e),
        })
    }
}

impl BitOr for InstallFlags {
    type Output = InstallFlags;
    fn bitor(self, rhs: InstallFlags) -> InstallFlags {
        InstallFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for InstallFlags {
    fn bitor_assign(&mut self, rhs: InstallFlags) {
        self.0 |= rhs.0;
    }
}

impl Program {
    /// Installs the program on the calling thread with `seccomp(SECCOMP_SET_MODE_FILTER)`.
    /// With [`InstallFlags::NEW_LISTENER`] the user-notification listener fd is returned
    /// (close-on-exec).
    ///
    /// This allocates nothing, takes no locks and cannot panic, so it can be the last
    /// step of a forked or cloned child before `execve` (which must then be allowed by
    /// the program). The kernel requires `no_new_privs` (see [`set_no_new_privs`]) or
    /// `CAP_SYS_ADMIN` in the caller's user namespace.
    ///
    /// # Errors
    ///
    /// The errno: `EACCES` without `no_new_privs` or `CAP_SYS_ADMIN`, `EINVAL` for a flag
    /// the kernel does not know (probe with [`InstallFlags::supported`]) or a program it
    /// refuses, `EBUSY` for a second listener in one filter chain, `ENOMEM`.
    ///
    /// # Safety
    ///
    /// Filters cannot be removed and are inherited across fork and exec. After this call
    /// system calls the process's own code relies on may fail, kill it or block on a
    /// supervisor; in a multithreaded process (only the calling thread is filtered) a
    /// denied call can leave locks or memory of other threads in an inconsistent state.
    /// Call it in a single-threaded child right before `execve`, or make sure what runs
    /// afterwards only makes calls the program allows.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hutch_seccomp::{set_no_new_privs, Action, Arch, Filter, InstallFlags, Syscall};
    /// let mut filter = Filter::new(Action::Allow);
    /// filter.rule(Syscall::by_name("mkdir")?, Action::Errno(libc::EPERM as u16), &[]);
    /// let program = filter.compile(Arch::native_family())?;
    /// // In the child, after fork and before execve:
    /// set_no_new_privs().map_err(std::io::Error::from_raw_os_error)?;
    /// // SAFETY: a single-threaded child about to exec.
    /// unsafe { program.install(InstallFlags::EMPTY) }.map_err(std::io::Error::from_raw_os_error)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # References
    ///
    /// [seccomp(2)](https://man7.org/linux/man-pages/man2/seccomp.2.html)
    #[doc(alias = "seccomp")]
    #[doc(alias = "SECCOMP_SET_MODE_FILTER")]
    #[allow(unsafe_code)]
    pub unsafe fn install(&self, flags: InstallFlags) -> Result<Option<OwnedFd>, i32> {
        let r = sys::set_mode_filter(&self.insns, flags.0)?;
        if flags.contains(InstallFlags::NEW_LISTENER) {
            Ok(Some(sys::own_new_fd(r)))
        } else {
            Ok(None)
        }
    }
}

/// Sets `no_new_privs` on the calling thread (`prctl(PR_SET_NO_NEW_PRIVS, 1)`), which lets
/// an unprivileged process install filters. Allocation-free.
///
/// # Errors
///
/// The errno (only `EINVAL` on kernels before 3.5).
///
/// # References
///
/// [prctl(2)](https://man7.org/linux/man-pages/man2/prctl.2.html)
#[doc(alias = "prctl")]
#[doc(alias = "PR_SET_NO_NEW_PRIVS")]
pub fn set_no_new_privs() -> Result<(), i32> {
    sys::set_no_new_privs()
}

/// Sends `fd` over the connected Unix socket `sock` as `SCM_RIGHTS` with one data
/// byte. Allocation-free (the control buffer is on the stack), so a child can hand its
/// listener fd to the parent between installing the filter and `execve`. The filter
/// must allow `sendmsg` (user-notification filters usually notify only a few calls).
///
/// # Errors
///
/// The errno of `sendmsg`.
///
/// # References
///
/// [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html)
#[doc(alias = "sendmsg")]
#[doc(alias = "SCM_RIGHTS")]
pub fn send_fd(sock: impl AsFd, fd: impl AsFd) -> Result<(), i32> {
    sys::send_fd(sock.as_fd().as_raw_fd(), fd.as_fd().as_raw_fd())
}

/// Receives an fd sent with [`send_fd`]; the new fd is close-on-exec.
///
/// # Errors
///
/// [`SeccompError::Io`] if `recvmsg` fails, the peer closed the socket
/// (`UnexpectedEof`), or the message carried no single fd (`EBADMSG`).
#[doc(alias = "recvmsg")]
pub fn recv_fd(sock: impl AsFd) -> Result<OwnedFd, SeccompError> {
    sys::recv_fd(sock.as_fd()).map_err(|source| SeccompError::Io {
        op: "recvmsg(SCM_RIGHTS)",
        source,
    })
}

impl Action {
    /// Whether the running kernel knows this action (`SECCOMP_GET_ACTION_AVAIL`).
    ///
    /// # Errors
    ///
    /// [`SeccompError`] if `seccomp(2)` fails otherwise.
    #[doc(alias = "SECCOMP_GET_ACTION_AVAIL")]
    pub fn is_available(self) -> Result<bool, SeccompError> {
        let raw = self.to_raw() & libc::SECCOMP_RET_ACTION_FULL;
        sys::action_available(raw).map_err(|e| SeccompError::Io {
            op: "seccomp(SECCOMP_GET_ACTION_AVAIL)",
            source: std::io::Error::from_raw_os_error(e),
        })
    }
}
