//! Thin wrappers over the raw system calls this crate makes.
//!
//! # Safety
//!
//! This is the only module allowed to use `unsafe`. Every wrapper passes the kernel
//! pointers that are valid for the duration of the call (`&CStr` for paths, references to
//! stack values for out-parameters) and fds borrowed through `BorrowedFd`, so the kernel never
//! sees a dangling pointer or a closed descriptor. Fds the kernel returns are wrapped in
//! `OwnedFd` at once. The wrappers are safe to call except [`setns`], whose effect on a
//! multithreaded process is the caller's responsibility.
//!
//! The `raw_*` functions are meant to run in a child between `clone` and `exec`: they do not
//! allocate, lock or panic, and report failure as a plain errno.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

use libc::{c_int, c_ulong};

/// `_IO(0xb7, nr)`: the nsfs ioctls.
const fn nsio(nr: c_ulong) -> c_ulong {
    (0xb7 << 8) | nr
}
/// `NS_GET_USERNS`.
pub(crate) const NS_GET_USERNS: c_ulong = nsio(0x1);
/// `NS_GET_NSTYPE`.
pub(crate) const NS_GET_NSTYPE: c_ulong = nsio(0x3);

/// `_IO(PIDFS_IOCTL_MAGIC = 0xFF, nr)`: the pidfs namespace ioctls (Linux 6.11).
pub(crate) const fn pidfd_get_ns(nr: c_ulong) -> c_ulong {
    (0xFF << 8) | nr
}

/// `MOUNT_ATTR_RDONLY` from `<linux/mount.h>`.
const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// `struct mount_attr` (`MOUNT_ATTR_SIZE_VER0`).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn errno() -> c_int {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

fn check(ret: c_int) -> io::Result<c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn raw_check(ret: libc::c_long) -> Result<(), c_int> {
    if ret < 0 { Err(errno()) } else { Ok(()) }
}

/// An ioctl on `fd` that returns a new fd.
pub(crate) fn ioctl_fd(fd: BorrowedFd<'_>, request: c_ulong) -> io::Result<OwnedFd> {
    // SAFETY: the request takes no argument (passed as 0: some kernels reject a non-zero
    // argument with EINVAL) and returns a new fd or -1; fd is open.
    let ret = check(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, 0 as libc::c_ulong) })?;
    // SAFETY: on success the kernel returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret) })
}

/// An ioctl on `fd` that returns an integer.
pub(crate) fn ioctl_int(fd: BorrowedFd<'_>, request: c_ulong) -> io::Result<c_int> {
    // SAFETY: the request takes no argument (passed as 0) and returns an int or -1.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, 0 as libc::c_ulong) })
}

/// `setns(fd, nstype)`.
///
/// # Safety
/// Moves the calling thread (and for some kinds the whole process) into another
/// namespace; see `NsHandle::enter`.
pub(crate) unsafe fn setns(fd: BorrowedFd<'_>, nstype: c_int) -> io::Result<()> {
    // SAFETY: fd is open; the caller accepted the effect on the process.
    check(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

/// `(st_dev, st_ino)` of `fd`.
pub(crate) fn fstat_id(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    // SAFETY: an all-zero `stat` is a valid value for a plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open and st is a valid out-pointer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok((st.st_dev, st.st_ino))
}

/// `mount(2)`.
pub(crate) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    raw_mount(source, target, fstype, flags, data).map_err(io::Error::from_raw_os_error)
}

/// `umount2(2)`.
pub(crate) fn umount2(target: &CStr, flags: c_int) -> io::Result<()> {
    raw_umount2(target, flags).map_err(io::Error::from_raw_os_error)
}

/// The effective capability set of the calling thread (`capget`, version 3).
pub(crate) fn effective_caps() -> io::Result<u64> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: header and data are valid for the version-3 layout (two data structs).
    let ret = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

/// `geteuid()` and `getegid()`.
pub(crate) fn effective_ids() -> (u32, u32) {
    // SAFETY: these calls cannot fail and touch no memory.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

// ---------------------------------------------------------------------------------------
// Raw calls for the child between clone and exec: no allocation, errno as the error.
// ---------------------------------------------------------------------------------------

fn opt_ptr(s: Option<&CStr>) -> *const libc::c_char {
    s.map_or(ptr::null(), CStr::as_ptr)
}

/// `mount(2)`, errno on failure.
pub(crate) fn raw_mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> Result<(), c_int> {
    // SAFETY: every pointer is a NUL-terminated string or null, valid during the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount,
            opt_ptr(source),
            target.as_ptr(),
            opt_ptr(fstype),
            flags,
            opt_ptr(data),
        )
    };
    raw_check(ret)
}

/// `umount2(2)`, errno on failure.
pub(crate) fn raw_umount2(target: &CStr, flags: c_int) -> Result<(), c_int> {
    // SAFETY: target is a valid C string.
    raw_check(unsafe { libc::syscall(libc::SYS_umount2, target.as_ptr(), flags) })
}

/// `mount_setattr(AT_FDCWD, path, [AT_RECURSIVE], {attr_set: MOUNT_ATTR_RDONLY})`.
pub(crate) fn raw_make_readonly(path: &CStr, recursive: bool) -> Result<(), c_int> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags: libc::c_uint = if recursive {
        libc::AT_RECURSIVE as libc::c_uint
    } else {
        0
    };
    // SAFETY: path is a valid C string, attr is a valid mount_attr of the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    raw_check(ret)
}

/// `mkdir(path, mode)`; an existing entry is not an error.
pub(crate) fn raw_mkdir(path: &CStr, mode: libc::mode_t) -> Result<(), c_int> {
    // SAFETY: path is a valid C string.
    match raw_check(unsafe {
        libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, path.as_ptr(), mode)
    }) {
        Err(libc::EEXIST) => Ok(()),
        other => other,
    }
}

/// Creates `path` as an empty file if nothing is there yet; anything already there (a file,
/// a FIFO, a device node, a directory) is left alone and is a fine mount point. `O_EXCL` means
/// an existing entry is never opened: opening a FIFO would block and a device node could have
/// side effects.
pub(crate) fn raw_create_file(path: &CStr, mode: libc::mode_t) -> Result<(), c_int> {
    if let Ok(Some(_)) = raw_kind(path) {
        return Ok(());
    }
    // SAFETY: path is a valid C string; the fd returned is closed right after.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_WRONLY
                | libc::O_CREAT
                | libc::O_EXCL
                | libc::O_NOFOLLOW
                | libc::O_CLOEXEC
                | libc::O_NOCTTY,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        // Created by someone else meanwhile: fine as well.
        let e = errno();
        return if e == libc::EEXIST { Ok(()) } else { Err(e) };
    }
    raw_close(fd as c_int);
    Ok(())
}

/// `symlink(target, linkpath)`.
pub(crate) fn raw_symlink(target: &CStr, linkpath: &CStr) -> Result<(), c_int> {
    // SAFETY: both are valid C strings.
    raw_check(unsafe {
        libc::syscall(
            libc::SYS_symlinkat,
            target.as_ptr(),
            libc::AT_FDCWD,
            linkpath.as_ptr(),
        )
    })
}

/// `chdir(path)`.
pub(crate) fn raw_chdir(path: &CStr) -> Result<(), c_int> {
    // SAFETY: path is a valid C string.
    raw_check(unsafe { libc::syscall(libc::SYS_chdir, path.as_ptr()) })
}

/// `pivot_root(".", ".")`.
pub(crate) fn raw_pivot_root_here() -> Result<(), c_int> {
    let dot = c".";
    // SAFETY: both arguments are valid C strings.
    raw_check(unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) })
}

/// What `stat(path)` finds: `Ok(None)` if nothing is there, `Ok(Some(true))` for a directory,
/// `Ok(Some(false))` for anything else.
pub(crate) fn raw_kind(path: &CStr) -> Result<Option<bool>, c_int> {
    match raw_stat(path) {
        // ENOTDIR: a component of the path is a file, so the path does not exist either.
        Err(libc::ENOENT | libc::ENOTDIR) => Ok(None),
        Err(e) => Err(e),
        Ok(st) => Ok(Some(st.st_mode & libc::S_IFMT == libc::S_IFDIR)),
    }
}

// ---------------------------------------------------------------------------------------
// The new mount API (Linux 5.2; `mount_setattr` 5.12), child side.
// ---------------------------------------------------------------------------------------

/// `OPEN_TREE_CLONE` from `<linux/mount.h>`.
const OPEN_TREE_CLONE: libc::c_uint = 1;
/// `OPEN_TREE_CLOEXEC` (= `O_CLOEXEC`).
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
/// `AT_RECURSIVE`.
const AT_RECURSIVE: libc::c_uint = 0x8000;
/// `AT_EMPTY_PATH`.
const AT_EMPTY_PATH: libc::c_uint = 0x1000;
/// `MOVE_MOUNT_F_EMPTY_PATH`.
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
/// `MOUNT_ATTR_NOSUID`.
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// `MOUNT_ATTR_NODEV`.
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x4;
/// `MOUNT_ATTR_NOEXEC`.
pub(crate) const MOUNT_ATTR_NOEXEC: u64 = 0x8;
/// `MOUNT_ATTR_RDONLY`, for callers outside this module.
pub(crate) const MOUNT_ATTR_READONLY: u64 = MOUNT_ATTR_RDONLY;

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE])`: a
/// detached copy of the mount (tree) at `path`, as a raw fd the caller must close.
pub(crate) fn raw_open_tree(path: &CStr, recursive: bool) -> Result<c_int, c_int> {
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: path is a valid C string; the call returns a new fd or -1.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret as c_int)
    }
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {attr_set})` on a (detached) mount.
pub(crate) fn raw_setattr_fd(fd: c_int, attr_set: u64, recursive: bool) -> Result<(), c_int> {
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = AT_EMPTY_PATH;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: "" is a valid C string, attr a valid mount_attr of the size passed; fd is an
    // open mount fd of the caller (a bad one only makes the call fail).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    raw_check(ret)
}

/// `move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)`: attaches a detached mount.
pub(crate) fn raw_move_mount(fd: c_int, target: &CStr) -> Result<(), c_int> {
    // SAFETY: "" and target are valid C strings; fd is an open mount fd of the caller.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd,
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    raw_check(ret)
}

/// `close(fd)`, errors ignored (the fd is gone either way).
pub(crate) fn raw_close(fd: c_int) {
    // SAFETY: closes an fd this crate opened in this process and owns.
    unsafe { libc::syscall(libc::SYS_close, fd) };
}

/// `stat(path)` (following symlinks), errno on failure.
fn raw_stat(path: &CStr) -> Result<libc::stat, c_int> {
    // SAFETY: an all-zero `stat` is a valid value for a plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is a valid C string, st a valid out-pointer (libc's `struct stat` is the
    // kernel's on the 64-bit architectures hutch supports).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            path.as_ptr(),
            &raw mut st,
            0,
        )
    };
    if ret < 0 { Err(errno()) } else { Ok(st) }
}

/// `st_ino` of `path` (following symlinks).
pub(crate) fn raw_ino(path: &CStr) -> Result<u64, c_int> {
    raw_stat(path).map(|st| st.st_ino)
}
