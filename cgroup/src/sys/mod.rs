//! Raw system calls, wrapped into safe functions over `OwnedFd`/`BorrowedFd`.
//!
//! # Safety
//!
//! This is the only place (with its submodules) where `unsafe` is allowed. Each function
//! passes the kernel only pointers to live, NUL-terminated `CString`s or to buffers it owns
//! for the duration of the call, and file descriptors borrowed through `BorrowedFd`, which
//! guarantees they stay open for the call. Every returned descriptor is immediately wrapped
//! into an `OwnedFd` so it is closed exactly once.

pub(crate) mod bpf;

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::Duration;

fn cstring(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `openat(dir, name, flags | O_CLOEXEC)`.
#[doc(alias = "openat")]
pub(crate) fn open_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    flags: libc::c_int,
) -> io::Result<OwnedFd> {
    let name = cstring(name)?;
    // SAFETY: `dir` is a valid open fd for the call, `name` a NUL-terminated string that
    // outlives the call; openat does not retain either.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat, is open and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory `name` relative to `dir` (`O_DIRECTORY | O_RDONLY`).
pub(crate) fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    open_at(dir, name, libc::O_DIRECTORY | libc::O_RDONLY)
}

/// Reads the whole file `name` relative to `dir`.
pub(crate) fn read_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<String> {
    let fd = open_at(dir, name, libc::O_RDONLY)?;
    let mut text = String::new();
    File::from(fd).read_to_string(&mut text)?;
    Ok(text)
}

/// Writes `value` to the existing file `name` relative to `dir` with one `write(2)`
/// (cgroup files take one value per write). Never creates the file.
pub(crate) fn write_at(dir: BorrowedFd<'_>, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let fd = open_at(dir, name, libc::O_WRONLY)?;
    let n = File::from(fd).write(value)?;
    if n != value.len() {
        return Err(io::Error::from(io::ErrorKind::WriteZero));
    }
    Ok(())
}

/// `mkdirat(dir, name, mode)`.
#[doc(alias = "mkdirat")]
pub(crate) fn mkdir_at(dir: BorrowedFd<'_>, name: &OsStr, mode: libc::mode_t) -> io::Result<()> {
    let name = cstring(name)?;
    // SAFETY: valid fd and NUL-terminated string for the duration of the call.
    let rc = unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `unlinkat(dir, name, AT_REMOVEDIR)`: removes the (cgroup) directory `name`.
#[doc(alias = "unlinkat")]
pub(crate) fn rmdir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let name = cstring(name)?;
    // SAFETY: valid fd and NUL-terminated string for the duration of the call.
    let rc = unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)`; `name` may be `.`.
#[doc(alias = "fchownat")]
pub(crate) fn chown_at(dir: BorrowedFd<'_>, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
    let name = cstring(name)?;
    // SAFETY: valid fd and NUL-terminated string for the duration of the call.
    let rc = unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The names of the subdirectories of `dir` (without `.` and `..`), in directory order.
pub(crate) fn subdirs(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    list(dir, true)
}

/// The names of the entries of `dir` (without `.` and `..`; only directories if
/// `only_dirs`), in directory order.
pub(crate) fn list(dir: BorrowedFd<'_>, only_dirs: bool) -> io::Result<Vec<OsString>> {
    // fdopendir takes ownership of the fd it is given, so give it a fresh one.
    let own = open_dir_at(dir, OsStr::new("."))?;
    let raw = std::os::fd::IntoRawFd::into_raw_fd(own);
    // SAFETY: `raw` is an open directory fd that we own; on success the DIR stream owns it
    // and closedir below closes it; on failure we close it ourselves.
    let stream = unsafe { libc::fdopendir(raw) };
    if stream.is_null() {
        let err = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so we still own `raw`; wrapping it closes it once.
        drop(unsafe { OwnedFd::from_raw_fd(raw) });
        return Err(err);
    }
    let mut names = Vec::new();
    let result = loop {
        // SAFETY: errno is thread-local; resetting it distinguishes end-of-stream from
        // errors after readdir returns NULL.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: `stream` is a valid DIR* not shared with any other thread.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            let errno = io::Error::last_os_error();
            break match errno.raw_os_error() {
                Some(0) | None => Ok(()),
                Some(_) => Err(errno),
            };
        }
        // SAFETY: readdir returned a valid dirent whose d_name is NUL-terminated and stays
        // valid until the next readdir/closedir on this stream; we copy it out now.
        let (name, kind) = unsafe {
            let e = &*entry;
            (
                std::ffi::CStr::from_ptr(e.d_name.as_ptr())
                    .to_bytes()
                    .to_vec(),
                e.d_type,
            )
        };
        if name == b"." || name == b".." {
            continue;
        }
        if !only_dirs || kind == libc::DT_DIR {
            names.push(OsString::from_vec(name));
        }
    };
    // SAFETY: `stream` came from fdopendir and is closed exactly once, here.
    unsafe { libc::closedir(stream) };
    result.map(|()| names)
}

/// Waits up to `timeout` for `POLLPRI`/`POLLERR` on `fd` — how kernfs signals that a file
/// such as `cgroup.events` changed since it was last read. Returns `false` on timeout.
#[doc(alias = "poll")]
pub(crate) fn poll_pri(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLPRI,
        revents: 0,
    };
    let ms =
        libc::c_int::try_from(timeout.as_millis().saturating_add(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfd` is a valid pollfd array of length 1 living on our stack.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            // Not "ready": the callers recompute what is left of their deadline, so a stream
            // of signals cannot stretch the timeout.
            return Ok(false);
        }
        return Err(err);
    }
    Ok(rc > 0)
}

/// `pread(fd, buf, 0)` of a whole small file into a `String` (re-reading the same open
/// file, which re-arms kernfs' poll notification).
#[doc(alias = "pread")]
pub(crate) fn pread_all(fd: BorrowedFd<'_>) -> io::Result<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let off = libc::off_t::try_from(out.len()).unwrap_or(libc::off_t::MAX);
        // SAFETY: `buf` is a live, writable buffer of the given length; `fd` is open.
        let n = unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), off) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    String::from_utf8(out).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// `kill(pid, SIGKILL)`.
#[doc(alias = "kill")]
pub(crate) fn sigkill(pid: i32) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's id.
pub(crate) fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}
