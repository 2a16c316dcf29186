//! Thin wrappers over the raw system calls this crate makes.
//!
//! # Safety
//!
//! This is the only module allowed to use `unsafe`. Every wrapper passes the kernel
//! pointers that are valid for the duration of the call (`&CStr` for paths and names,
//! references to stack values or slices for in- and out-parameters) and fds borrowed
//! through `BorrowedFd`, so the kernel never sees a dangling pointer or a closed descriptor.
//! None of the calls here can break memory safety; they change only the calling thread's
//! credentials or a file's extended attribute, and the public API documents that.
//!
//! Every function here is allocation-free, lock-free and panic-free, and reports failure
//! as a plain errno, so the plan can call them between `clone` and `exec`.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd};

use libc::{c_int, c_long, c_ulong};

/// `_LINUX_CAPABILITY_VERSION_3`.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

/// `struct __user_cap_data_struct` (version 3 uses two of them: bits 0-31 and 32-63).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The current thread's errno.
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

fn check(ret: c_long) -> Result<c_long, c_int> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

/// `capget` (version 3) of thread `tid` (0: the caller): `(effective, permitted,
/// inheritable)`.
pub(crate) fn capget(tid: c_int) -> Result<[u64; 3], c_int> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: tid,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are valid for the version-3 layout (two data structs).
    check(unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) })?;
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok([
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
        join(data[0].inheritable, data[1].inheritable),
    ])
}

/// `capset` (version 3) of the calling thread.
pub(crate) fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<(), c_int> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        CapData {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and data are valid for the version-3 layout; the kernel only reads
    // the data.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) }).map(drop)
}

/// `prctl(option, a, b, 0, 0)`; its non-negative result or errno.
pub(crate) fn prctl(option: c_int, a: c_ulong, b: c_ulong) -> Result<c_int, c_int> {
    // SAFETY: every option this crate passes takes integer arguments only.
    let ret = unsafe { libc::prctl(option, a, b, 0 as c_ulong, 0 as c_ulong) };
    check(c_long::from(ret)).map(|r| r as c_int)
}

// glibc's setgroups/setresgid/setresuid change every thread of the process through a
// signal-based handshake, which hangs in a child cloned from a multithreaded process. The
// raw system calls change the calling thread only, which is exactly right in a
// single-threaded child. 32-bit x86 and arm need the 32-bit-id variants.
#[cfg(any(target_arch = "x86", target_arch = "arm"))]
const CRED_CALLS: [c_long; 3] = [
    libc::SYS_setgroups32,
    libc::SYS_setresgid32,
    libc::SYS_setresuid32,
];
#[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
const CRED_CALLS: [c_long; 3] = [
    libc::SYS_setgroups,
    libc::SYS_setresgid,
    libc::SYS_setresuid,
];

/// `setgroups(0, NULL)` of the calling thread (raw system call).
pub(crate) fn clear_groups() -> Result<(), c_int> {
    // SAFETY: a count of 0 with a null list; no memory is read.
    check(unsafe { libc::syscall(CRED_CALLS[0], 0 as c_long, std::ptr::null::<libc::gid_t>()) })
        .map(drop)
}

/// `setresgid(gid, gid, gid)` of the calling thread (raw system call).
pub(crate) fn set_gid(gid: u32) -> Result<(), c_int> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(CRED_CALLS[1], gid, gid, gid) }).map(drop)
}

/// `setresuid(uid, uid, uid)` of the calling thread (raw system call).
pub(crate) fn set_uid(uid: u32) -> Result<(), c_int> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(CRED_CALLS[2], uid, uid, uid) }).map(drop)
}

/// Where an extended attribute lives.
#[derive(Clone, Copy)]
pub(crate) enum XattrTarget<'a> {
    Path(&'a CStr),
    Fd(BorrowedFd<'a>),
}

/// `getxattr`/`fgetxattr` into `buf`; the attribute's size.
pub(crate) fn get_xattr(
    target: XattrTarget<'_>,
    name: &CStr,
    buf: &mut [u8],
) -> Result<usize, c_int> {
    let (ptr, len) = (buf.as_mut_ptr().cast(), buf.len());
    // SAFETY: path and name are C strings, buf is writable for len bytes.
    let ret = unsafe {
        match target {
            XattrTarget::Path(p) => libc::getxattr(p.as_ptr(), name.as_ptr(), ptr, len),
            XattrTarget::Fd(fd) => libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), ptr, len),
        }
    };
    check(ret as c_long).map(|n| n as usize)
}

/// `setxattr`/`fsetxattr` with flags 0 (create or replace).
pub(crate) fn set_xattr(target: XattrTarget<'_>, name: &CStr, value: &[u8]) -> Result<(), c_int> {
    let (ptr, len) = (value.as_ptr().cast(), value.len());
    // SAFETY: path and name are C strings, value is readable for len bytes.
    let ret = unsafe {
        match target {
            XattrTarget::Path(p) => libc::setxattr(p.as_ptr(), name.as_ptr(), ptr, len, 0),
            XattrTarget::Fd(fd) => libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), ptr, len, 0),
        }
    };
    check(c_long::from(ret)).map(drop)
}

/// `removexattr`/`fremovexattr`.
pub(crate) fn remove_xattr(target: XattrTarget<'_>, name: &CStr) -> Result<(), c_int> {
    // SAFETY: path and name are C strings.
    let ret = unsafe {
        match target {
            XattrTarget::Path(p) => libc::removexattr(p.as_ptr(), name.as_ptr()),
            XattrTarget::Fd(fd) => libc::fremovexattr(fd.as_raw_fd(), name.as_ptr()),
        }
    };
    check(c_long::from(ret)).map(drop)
}
