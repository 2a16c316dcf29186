//! Namespace handles: open namespace files, identify them, enter them, persist them.

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::Namespace;
use crate::sys;

/// The default root of the proc filesystem.
pub const DEFAULT_PROC_ROOT: &str = "/proc";

/// The identity of a namespace: the device and inode numbers of its nsfs file.
///
/// Two handles refer to the same namespace exactly when their ids are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsId {
    /// `st_dev` of the namespace file.
    pub dev: u64,
    /// `st_ino` of the namespace file (the number in `net:[4026531840]`).
    pub ino: u64,
}

impl fmt::Display for NsId {
    /// Writes `DEV:INO`, e.g. `4:4026531840`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.dev, self.ino)
    }
}

/// An error from opening, inspecting, entering or persisting a namespace.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    /// A namespace file (or the directory holding it) could not be opened.
    #[error("cannot open namespace file {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The fd does not refer to a namespace (`NS_GET_NSTYPE` failed) or `fstat` failed.
    #[error("file descriptor {fd} is not a namespace file")]
    NotANamespace {
        /// The raw fd number, for the message only.
        fd: i32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel reported a namespace type this crate does not know.
    #[error("namespace file descriptor {fd} has unknown type {flag:#x}")]
    UnknownKind {
        /// The raw fd number.
        fd: i32,
        /// The `CLONE_NEW*` value the kernel reported.
        flag: u64,
    },
    /// The namespace is of another kind than the operation needs.
    #[error("expected a {expected} namespace, found a {found} namespace")]
    WrongKind {
        /// The kind that was needed.
        expected: Namespace,
        /// The kind the handle refers to.
        found: Namespace,
    },
    /// An nsfs/pidfs ioctl failed.
    #[error("{op} failed on a {kind} namespace handle")]
    Ioctl {
        /// The ioctl's name, e.g. `NS_GET_USERNS`.
        op: &'static str,
        /// The kind the handle refers to (or was asked for).
        kind: Namespace,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The pid behind a pidfd could not be read from `fdinfo`.
    #[error("cannot read the pid of a pidfd from {path}")]
    PidfdInfo {
        /// The fdinfo file.
        path: PathBuf,
        /// The OS error (`ESRCH` when the process has exited or is in another pid namespace).
        #[source]
        source: io::Error,
    },
    /// `setns` failed.
    #[error("cannot enter {kind} namespace {id}")]
    Enter {
        /// The namespace kind.
        kind: Namespace,
        /// The namespace.
        id: NsId,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A name for a persisted namespace is empty, `.`/`..`, or contains `/` or NUL.
    #[error("invalid namespace name {name:?}")]
    InvalidName {
        /// The rejected name.
        name: OsString,
    },
    /// A step of persisting a namespace onto a file failed (nothing was left behind).
    #[error("cannot persist namespace at {path}: {step} failed")]
    Persist {
        /// The file (or directory) being worked on.
        path: PathBuf,
        /// What was being done.
        step: PersistStep,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A [`NetNs`] directory is relative: it would be taken relative to whatever the
    /// current directory is at each call.
    #[error("network namespace directory {path} is not absolute")]
    RelativeDir {
        /// The directory as given to [`NetNs::in_dir`].
        path: PathBuf,
    },
    /// Removing a persisted namespace failed.
    #[error("cannot remove persisted namespace {path}: {step} failed")]
    Unpersist {
        /// The file.
        path: PathBuf,
        /// What was being done.
        step: PersistStep,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A step of [`NsHandle::persist`] or [`NsHandle::unpersist`], named in [`NsError`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistStep {
    /// Creating the parent directory.
    CreateDir,
    /// Making the directory a shared bind mount of itself (as `ip netns` does).
    MakeShared,
    /// Creating the empty file to mount onto.
    CreateFile,
    /// Bind-mounting the namespace file.
    Bind,
    /// Unmounting the namespace file.
    Unmount,
    /// Removing the file.
    RemoveFile,
}

impl fmt::Display for PersistStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PersistStep::CreateDir => "creating the directory",
            PersistStep::MakeShared => "making the directory a shared mount",
            PersistStep::CreateFile => "creating the mount-point file",
            PersistStep::Bind => "bind-mounting the namespace",
            PersistStep::Unmount => "unmounting",
            PersistStep::RemoveFile => "removing the file",
        })
    }
}

fn cstring(path: &Path, step: PersistStep) -> Result<CString, NsError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| NsError::Persist {
        path: path.to_owned(),
        step,
        source: io::Error::from_raw_os_error(libc::EINVAL),
    })
}

/// An open namespace file (`/proc/PID/ns/*`, a pidfs namespace fd or a bind mount of one).
///
/// Holding the handle keeps the namespace alive. Handles compare equal when they refer to the
/// same namespace ([`NsHandle::id`]).
#[derive(Debug)]
pub struct NsHandle {
    fd: OwnedFd,
    kind: Namespace,
    id: NsId,
}

impl PartialEq for NsHandle {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for NsHandle {}

impl std::hash::Hash for NsHandle {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl NsHandle {
    /// Opens namespace `ns` of process `pid` through `/proc/PID/ns/NAME`.
    ///
    /// # Errors
    /// [`NsError::Open`] naming the file (e.g. `ENOENT` if the process is gone, `EACCES`
    /// without ptrace access to it).
    ///
    /// # Examples
    /// ```
    /// use hutch_ns::{Namespace, NsHandle};
    /// let mine = NsHandle::open(std::process::id(), Namespace::Net)?;
    /// assert_eq!(mine, NsHandle::open_self(Namespace::Net)?);
    /// # Ok::<(), hutch_ns::NsError>(())
    /// ```
    ///
    /// # References
    /// - [namespaces(7)](https://man7.org/linux/man-pages/man7/namespaces.7.html)
    pub fn open(pid: u32, ns: Namespace) -> Result<NsHandle, NsError> {
        NsHandle::open_in_proc(DEFAULT_PROC_ROOT, pid, ns)
    }

    /// Like [`NsHandle::open`], with the proc filesystem mounted at `proc_root`.
    ///
    /// # Errors
    /// As [`NsHandle::open`].
    pub fn open_in_proc(
        proc_root: impl AsRef<Path>,
        pid: u32,
        ns: Namespace,
    ) -> Result<NsHandle, NsError> {
        let path = proc_root
            .as_ref()
            .join(pid.to_string())
            .join("ns")
            .join(ns.proc_name());
        NsHandle::open_expecting(&path, Some(ns))
    }

    /// Opens namespace `ns` of the calling thread (`/proc/thread-self/ns/NAME`).
    ///
    /// # Errors
    /// As [`NsHandle::open`].
    pub fn open_self(ns: Namespace) -> Result<NsHandle, NsError> {
        let path = Path::new(DEFAULT_PROC_ROOT)
            .join("thread-self/ns")
            .join(ns.proc_name());
        NsHandle::open_expecting(&path, Some(ns))
    }

    /// Opens any namespace file, e.g. `/run/netns/NAME` or `/proc/PID/ns/time_for_children`;
    /// the kind is asked from the kernel.
    ///
    /// # Errors
    /// [`NsError::Open`] naming the path; [`NsError::NotANamespace`] if it is not an nsfs file.
    pub fn open_path(path: impl AsRef<Path>) -> Result<NsHandle, NsError> {
        NsHandle::open_expecting(path.as_ref(), None)
    }

    fn open_expecting(path: &Path, expected: Option<Namespace>) -> Result<NsHandle, NsError> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|source| NsError::Open {
                path: path.to_owned(),
                source,
            })?;
        let handle = NsHandle::from_fd(file.into())?;
        if let Some(expected) = expected
            && handle.kind != expected
        {
            return Err(NsError::WrongKind {
                expected,
                found: handle.kind,
            });
        }
        Ok(handle)
    }

    /// Wraps an fd that refers to a namespace; its kind is asked from the kernel
    /// (`NS_GET_NSTYPE`, Linux 4.11).
    ///
    /// # Errors
    /// [`NsError::NotANamespace`] if the fd is not a namespace file.
    pub fn from_fd(fd: OwnedFd) -> Result<NsHandle, NsError> {
        let raw = fd.as_raw_fd();
        let not_ns = |source| NsError::NotANamespace { fd: raw, source };
        let flag = sys::ioctl_int(fd.as_fd(), sys::NS_GET_NSTYPE).map_err(not_ns)?;
        let flag = flag as u32 as u64;
        let kind =
            Namespace::from_clone_flag(flag).ok_or(NsError::UnknownKind { fd: raw, flag })?;
        let (dev, ino) = sys::fstat_id(fd.as_fd()).map_err(not_ns)?;
        Ok(NsHandle {
            fd,
            kind,
            id: NsId { dev, ino },
        })
    }

    /// Opens namespace `ns` of the process a pidfd refers to.
    ///
    /// Uses the `PIDFD_GET_*_NAMESPACE` ioctls where the kernel has them (Linux 6.11), which
    /// cannot race with pid reuse. On older kernels it falls back to
    /// [`NsHandle::from_pidfd_via_proc`] with `/proc`.
    ///
    /// # Errors
    /// [`NsError::Ioctl`] if the ioctl exists but fails (e.g. `ESRCH` once the process has
    /// exited, `EPERM` without ptrace access); the fallback's errors otherwise.
    ///
    /// # References
    /// - [pidfd_open(2)](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
    #[doc(alias = "PIDFD_GET_NET_NAMESPACE")]
    pub fn from_pidfd(pidfd: BorrowedFd<'_>, ns: Namespace) -> Result<NsHandle, NsError> {
        match NsHandle::from_pidfd_ioctl(pidfd, ns) {
            Ok(handle) => Ok(handle),
            // ENOTTY: a kernel without the pidfs namespace ioctls (before 6.11).
            Err(NsError::Ioctl { source, .. }) if source.raw_os_error() == Some(libc::ENOTTY) => {
                NsHandle::from_pidfd_via_proc(DEFAULT_PROC_ROOT, pidfd, ns)
            }
            Err(e) => Err(e),
        }
    }

    /// Opens namespace `ns` of a pidfd's process with the `PIDFD_GET_*_NAMESPACE` ioctl only.
    ///
    /// # Errors
    /// [`NsError::Ioctl`]: `ENOTTY` on kernels before 6.11, `ESRCH` when the process exited.
    pub fn from_pidfd_ioctl(pidfd: BorrowedFd<'_>, ns: Namespace) -> Result<NsHandle, NsError> {
        let (op, nr) = match ns {
            Namespace::Cgroup => ("PIDFD_GET_CGROUP_NAMESPACE", 1),
            Namespace::Ipc => ("PIDFD_GET_IPC_NAMESPACE", 2),
            Namespace::Mount => ("PIDFD_GET_MNT_NAMESPACE", 3),
            Namespace::Net => ("PIDFD_GET_NET_NAMESPACE", 4),
            Namespace::Pid => ("PIDFD_GET_PID_NAMESPACE", 5),
            Namespace::Time => ("PIDFD_GET_TIME_NAMESPACE", 7),
            Namespace::User => ("PIDFD_GET_USER_NAMESPACE", 9),
            Namespace::Uts => ("PIDFD_GET_UTS_NAMESPACE", 10),
        };
        let fd = sys::ioctl_fd(pidfd, sys::pidfd_get_ns(nr)).map_err(|source| NsError::Ioctl {
            op,
            kind: ns,
            source,
        })?;
        NsHandle::from_fd(fd)
    }

    /// Opens namespace `ns` of a pidfd's process through proc: reads the pid from
    /// `PROC/self/fdinfo/FD` (`Pid:` line), opens `PROC/PID/ns/NAME`, then checks that the
    /// pidfd's process is still alive, so a recycled pid is never used.
    ///
    /// # Errors
    /// [`NsError::PidfdInfo`] (with `ESRCH` when the process has exited or lives in a pid
    /// namespace the caller cannot see), [`NsError::Open`].
    pub fn from_pidfd_via_proc(
        proc_root: impl AsRef<Path>,
        pidfd: BorrowedFd<'_>,
        ns: Namespace,
    ) -> Result<NsHandle, NsError> {
        let proc_root = proc_root.as_ref();
        let info = proc_root
            .join("self/fdinfo")
            .join(pidfd.as_raw_fd().to_string());
        let pid = pidfd_pid(&info)?;
        let handle = NsHandle::open_in_proc(proc_root, pid, ns)?;
        // The pid was alive before the open; if it still is now, the open hit the right one.
        pidfd_pid(&info)?;
        Ok(handle)
    }

    /// The namespace's identity (`st_dev`, `st_ino` of the nsfs file).
    pub fn id(&self) -> NsId {
        self.id
    }

    /// The namespace's kind, as reported by the kernel (`NS_GET_NSTYPE`) when the handle was
    /// made.
    #[doc(alias = "NS_GET_NSTYPE")]
    pub fn kind(&self) -> Namespace {
        self.kind
    }

    /// The user namespace that owns this namespace (`NS_GET_USERNS`).
    ///
    /// # Errors
    /// [`NsError::Ioctl`]: `EPERM` if the owner is outside the caller's user namespace.
    ///
    /// # References
    /// - [ioctl_ns(2)](https://man7.org/linux/man-pages/man2/ioctl_ns.2.html)
    #[doc(alias = "NS_GET_USERNS")]
    pub fn owner_user_ns(&self) -> Result<NsHandle, NsError> {
        let fd = sys::ioctl_fd(self.fd.as_fd(), sys::NS_GET_USERNS).map_err(|source| {
            NsError::Ioctl {
                op: "NS_GET_USERNS",
                kind: self.kind,
                source,
            }
        })?;
        NsHandle::from_fd(fd)
    }

    /// Moves the calling thread into this namespace (`setns(fd, CLONE_NEW*)`).
    ///
    /// # Errors
    /// [`NsError::Enter`] with the kernel's errno: `EPERM` without `CAP_SYS_ADMIN` in the
    /// namespace's owning user namespace, `EINVAL` for the cases below.
    ///
    /// # Safety
    /// `setns` changes the calling process in ways the rest of the program may not expect:
    /// - **net, uts, ipc, cgroup**: only the calling *thread* moves. Other threads stay
    ///   behind, and code that hands work to other threads (thread pools, async runtimes)
    ///   silently runs it in the old namespace.
    /// - **mnt**: the thread's filesystem view (root and cwd included) changes; the kernel
    ///   refuses with `EINVAL` if the thread shares its filesystem info with other threads
    ///   (`CLONE_FS`), i.e. in any multithreaded Rust program.
    /// - **user**: refused with `EINVAL` in a multithreaded process; on success the thread
    ///   gains a full capability set in the new namespace and ids are re-mapped.
    /// - **pid**: the caller itself does not move; only children created afterwards are born
    ///   in the namespace.
    /// - **time**: the caller moves (and its children after it): `CLOCK_MONOTONIC` and
    ///   `CLOCK_BOOTTIME` jump by the namespace's offsets for the whole process, so
    ///   `std::time::Instant` can go backwards; refused if the process is multithreaded.
    ///
    /// The caller must make sure no other part of the program relies on the thread's old
    /// namespaces. The safest use is a dedicated thread, or a freshly forked child.
    ///
    /// # References
    /// - [setns(2)](https://man7.org/linux/man-pages/man2/setns.2.html)
    #[doc(alias = "setns")]
    // Declaring the contract is the point; the one unsafe call goes to `sys::setns`.
    #[allow(unsafe_code)]
    pub unsafe fn enter(&self) -> Result<(), NsError> {
        let nstype = self.kind.clone_flag() as libc::c_int;
        // SAFETY: the caller accepted the effects described above.
        unsafe { sys::setns(self.fd.as_fd(), nstype) }.map_err(|source| NsError::Enter {
            kind: self.kind,
            id: self.id,
            source,
        })
    }

    /// Keeps the namespace alive after every process in it exits by bind-mounting its file
    /// onto `path` (an empty file is created first; the parent directory must exist).
    /// Uses `/proc/self/fd/N` as the bind source; see [`NsHandle::persist_in_proc`].
    ///
    /// The new mount propagates like any mount made on the mount holding `path`: if that
    /// one is shared, the file also appears in its peers (that is what [`NetNs`] wants for
    /// `/run/netns`). A mount namespace cannot be persisted inside itself (`EINVAL`).
    ///
    /// # Errors
    /// [`NsError::Persist`] naming the path and the step; on failure the created file is
    /// removed again. `EEXIST` if `path` exists already.
    ///
    /// # References
    /// - [mount(2)](https://man7.org/linux/man-pages/man2/mount.2.html), `MS_BIND`
    pub fn persist(&self, path: impl AsRef<Path>) -> Result<(), NsError> {
        self.persist_in_proc(DEFAULT_PROC_ROOT, path)
    }

    /// Like [`NsHandle::persist`], with proc mounted at `proc_root`.
    ///
    /// # Errors
    /// As [`NsHandle::persist`].
    pub fn persist_in_proc(
        &self,
        proc_root: impl AsRef<Path>,
        path: impl AsRef<Path>,
    ) -> Result<(), NsError> {
        let path = path.as_ref();
        let target = cstring(path, PersistStep::CreateFile)?;
        let source = proc_root
            .as_ref()
            .join("self/fd")
            .join(self.fd.as_raw_fd().to_string());
        let source = cstring(&source, PersistStep::Bind)?;
        let err = |step| {
            move |source| NsError::Persist {
                path: path.to_owned(),
                step,
                source,
            }
        };
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(err(PersistStep::CreateFile))?;
        if let Err(e) = sys::mount(Some(&source), &target, None, libc::MS_BIND, None) {
            let _ = fs::remove_file(path);
            return Err(err(PersistStep::Bind)(e));
        }
        Ok(())
    }

    /// Undoes [`NsHandle::persist`]: detaches the mount at `path` (`umount2(MNT_DETACH)`)
    /// and removes the file. The namespace lives on while any process or fd holds it.
    ///
    /// Like `ip netns del`, a file with nothing mounted on it (left by a crash, or unmounted
    /// by propagation) is still removed. Symlinks are not followed.
    ///
    /// # Errors
    /// [`NsError::Unpersist`] naming the path and the step.
    #[doc(alias = "umount2")]
    pub fn unpersist(path: impl AsRef<Path>) -> Result<(), NsError> {
        let path = path.as_ref();
        let err = |step| {
            move |source| NsError::Unpersist {
                path: path.to_owned(),
                step,
                source,
            }
        };
        let target = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| err(PersistStep::Unmount)(io::Error::from_raw_os_error(libc::EINVAL)))?;
        match sys::umount2(&target, libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) {
            Ok(()) => {}
            // Nothing mounted there: the stale file is still ours to remove.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(err(PersistStep::Unmount)(e)),
        }
        fs::remove_file(path).map_err(err(PersistStep::RemoveFile))
    }

    /// Gives up the handle, returning the fd.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

impl AsFd for NsHandle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<NsHandle> for OwnedFd {
    fn from(handle: NsHandle) -> OwnedFd {
        handle.fd
    }
}

/// Reads the `Pid:` line of a pidfd's fdinfo; `ESRCH` if the process is gone (`-1`) or not
/// visible in the reader's pid namespace (`0`).
fn pidfd_pid(info: &Path) -> Result<u32, NsError> {
    let err = |source| NsError::PidfdInfo {
        path: info.to_owned(),
        source,
    };
    let text = fs::read_to_string(info).map_err(err)?;
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("Pid:"))
        .ok_or_else(|| err(io::Error::from_raw_os_error(libc::EBADF)))?;
    match value.trim().parse::<i64>() {
        Ok(pid) if pid > 0 && pid <= i64::from(i32::MAX) => Ok(pid as u32),
        Ok(_) => Err(err(io::Error::from_raw_os_error(libc::ESRCH))),
        Err(_) => Err(err(io::Error::from_raw_os_error(libc::EINVAL))),
    }
}

/// Named network namespaces in the `ip netns` style: files bind-mounted in a directory
/// (default `/run/netns`) that is itself a shared bind mount, so `ip netns exec NAME` sees
/// namespaces persisted here and vice versa.
///
/// # Examples
/// ```no_run
/// use hutch_ns::{Namespace, NetNs, NsHandle};
/// # let child_pid = 1;
/// let ns = NsHandle::open(child_pid, Namespace::Net)?;
/// NetNs::persist_named(&ns, "web")?; // now `ip netns exec web ip link` works
/// assert_eq!(NetNs::open_named("web")?, ns);
/// NetNs::remove_named("web")?;
/// # Ok::<(), hutch_ns::NsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetNs {
    dir: PathBuf,
    proc_root: PathBuf,
}

impl Default for NetNs {
    fn default() -> Self {
        NetNs::in_dir(NetNs::DEFAULT_DIR)
    }
}

impl NetNs {
    /// Where `ip netns` keeps named network namespaces.
    pub const DEFAULT_DIR: &'static str = "/run/netns";

    /// Named namespaces in `dir` instead of `/run/netns`.
    ///
    /// `dir` must be absolute: every operation on a `NetNs` with a relative directory fails
    /// with [`NsError::RelativeDir`] (rather than using whatever the current directory is
    /// at that moment).
    pub fn in_dir(dir: impl AsRef<Path>) -> NetNs {
        NetNs {
            dir: dir.as_ref().to_owned(),
            proc_root: PathBuf::from(DEFAULT_PROC_ROOT),
        }
    }

    /// Uses proc mounted at `proc_root` (for the `/proc/self/fd/N` bind source).
    pub fn proc_root(&mut self, proc_root: impl AsRef<Path>) -> &mut Self {
        self.proc_root = proc_root.as_ref().to_owned();
        self
    }

    /// The directory holding the named namespaces.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_dir(&self) -> Result<(), NsError> {
        if self.dir.is_absolute() {
            Ok(())
        } else {
            Err(NsError::RelativeDir {
                path: self.dir.clone(),
            })
        }
    }

    /// The file a namespace called `name` lives at.
    ///
    /// # Errors
    /// [`NsError::InvalidName`] for an empty name, `.`, `..`, or one with `/` or NUL;
    /// [`NsError::RelativeDir`] if the directory is relative.
    pub fn path_of(&self, name: impl AsRef<OsStr>) -> Result<PathBuf, NsError> {
        self.check_dir()?;
        let name = name.as_ref();
        let bytes = name.as_bytes();
        if bytes.is_empty()
            || bytes == b"."
            || bytes == b".."
            || bytes.contains(&b'/')
            || bytes.contains(&0)
        {
            return Err(NsError::InvalidName {
                name: name.to_owned(),
            });
        }
        Ok(self.dir.join(name))
    }

    /// [`NetNs::persist`] in `/run/netns`.
    ///
    /// # Errors
    /// As [`NetNs::persist`].
    pub fn persist_named(handle: &NsHandle, name: impl AsRef<OsStr>) -> Result<PathBuf, NsError> {
        NetNs::default().persist(handle, name)
    }

    /// [`NetNs::open`] in `/run/netns`.
    ///
    /// # Errors
    /// As [`NetNs::open`].
    pub fn open_named(name: impl AsRef<OsStr>) -> Result<NsHandle, NsError> {
        NetNs::default().open(name)
    }

    /// [`NetNs::remove`] in `/run/netns`.
    ///
    /// # Errors
    /// As [`NetNs::remove`].
    pub fn remove_named(name: impl AsRef<OsStr>) -> Result<(), NsError> {
        NetNs::default().remove(name)
    }

    /// Persists a network namespace as `DIR/NAME`, like `ip netns add` does: creates `DIR`
    /// (mode 755) if needed, makes it a bind mount of itself with shared propagation if it is
    /// not a mount point yet, then bind-mounts the namespace onto a new empty file.
    /// Returns the file's path.
    ///
    /// # Errors
    /// [`NsError::WrongKind`] for a non-network handle, [`NsError::InvalidName`],
    /// [`NsError::RelativeDir`], [`NsError::Persist`] naming the path and step (`EEXIST` if
    /// the name is taken).
    pub fn persist(&self, handle: &NsHandle, name: impl AsRef<OsStr>) -> Result<PathBuf, NsError> {
        if handle.kind() != Namespace::Net {
            return Err(NsError::WrongKind {
                expected: Namespace::Net,
                found: handle.kind(),
            });
        }
        let path = self.path_of(name)?;
        self.prepare_dir()?;
        handle.persist_in_proc(&self.proc_root, &path)?;
        Ok(path)
    }

    /// Makes the directory exist and be a shared mount, the way iproute2 does it.
    ///
    /// Serialised within the process: two threads persisting their first namespace at once
    /// would otherwise both find the directory unmounted and stack two bind mounts on it.
    fn prepare_dir(&self) -> Result<(), NsError> {
        static PREPARING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = PREPARING.lock().unwrap_or_else(|e| e.into_inner());
        let dir = &self.dir;
        let err = |step| {
            move |source| NsError::Persist {
                path: dir.clone(),
                step,
                source,
            }
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(err(PersistStep::CreateDir))?;
        let target = cstring(dir, PersistStep::MakeShared)?;
        let shared = libc::MS_SHARED | libc::MS_REC;
        match sys::mount(Some(c"none"), &target, None, shared, None) {
            Ok(()) => Ok(()),
            // Not a mount point yet: bind it onto itself, then share it.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                sys::mount(
                    Some(&target),
                    &target,
                    Some(c"none"),
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )
                .map_err(err(PersistStep::MakeShared))?;
                sys::mount(Some(c"none"), &target, None, shared, None).map_err(|e| {
                    // Leave nothing behind: undo the bind made just above.
                    let _ = sys::umount2(&target, libc::MNT_DETACH);
                    err(PersistStep::MakeShared)(e)
                })
            }
            Err(e) => Err(err(PersistStep::MakeShared)(e)),
        }
    }

    /// Opens the network namespace called `name` (one made by [`NetNs::persist`] or by
    /// `ip netns add`).
    ///
    /// # Errors
    /// [`NsError::InvalidName`], [`NsError::Open`] naming the file, [`NsError::WrongKind`]
    /// if the file is some other namespace.
    pub fn open(&self, name: impl AsRef<OsStr>) -> Result<NsHandle, NsError> {
        let path = self.path_of(name)?;
        NsHandle::open_expecting(&path, Some(Namespace::Net))
    }

    /// Removes the namespace called `name` ([`NsHandle::unpersist`] on its file).
    ///
    /// # Errors
    /// [`NsError::InvalidName`], [`NsError::Unpersist`].
    pub fn remove(&self, name: impl AsRef<OsStr>) -> Result<(), NsError> {
        let path = self.path_of(name)?;
        NsHandle::unpersist(path)
    }

    /// The names of the namespaces in the directory (an absent directory has none).
    ///
    /// # Errors
    /// [`NsError::Open`] naming the directory if it cannot be read;
    /// [`NsError::RelativeDir`].
    pub fn list(&self) -> Result<Vec<OsString>, NsError> {
        self.check_dir()?;
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(NsError::Open {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| NsError::Open {
                path: self.dir.clone(),
                source,
            })?;
            names.push(entry.file_name());
        }
        names.sort();
        Ok(names)
    }
}
