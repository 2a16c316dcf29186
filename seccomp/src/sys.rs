//! Raw system calls: `seccomp(2)`, `prctl(PR_SET_NO_NEW_PRIVS)`, `SCM_RIGHTS` fd passing,
//! the user-notification ioctls and `process_vm_readv`.
//!
//! # Safety
//!
//! Every `unsafe` block here passes the kernel pointers to live, correctly sized and
//! aligned values on our stack or in buffers we own for the duration of the call, and
//! takes ownership of an fd only when the kernel has just returned a new one. The
//! functions used between fork/clone and exec (`install`, `set_no_new_privs`, `send_fd`)
//! allocate nothing, take no locks and only read `errno`.
#![allow(unsafe_code)]

use std::io;
use std::mem::{self, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::bpf::Insn;

// `Insn` stands in for `struct sock_filter`.
const _: () = assert!(mem::size_of::<Insn>() == mem::size_of::<libc::sock_filter>());
const _: () = assert!(mem::align_of::<Insn>() == mem::align_of::<libc::sock_filter>());

fn errno() -> i32 {
    // Reading errno does not allocate (`Repr::Os`).
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`; returns the syscall's result.
pub(crate) fn set_mode_filter(insns: &[Insn], flags: u32) -> Result<i64, i32> {
    let fprog = libc::sock_fprog {
        len: insns.len() as u16,
        filter: insns.as_ptr().cast_mut().cast::<libc::sock_filter>(),
    };
    // SAFETY: `fprog` points at `insns`, which outlives the call; the kernel copies it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &raw const fprog,
        )
    };
    if r < 0 { Err(errno()) } else { Ok(r) }
}

/// Turns a listener fd number the kernel just returned into an `OwnedFd`.
pub(crate) fn own_new_fd(fd: i64) -> OwnedFd {
    // SAFETY: `fd` was just returned by the kernel as a new descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// Whether the kernel knows `flags` for `SECCOMP_SET_MODE_FILTER`: with a null program
/// it fails with `EFAULT` after accepting the flags and `EINVAL` before.
pub(crate) fn probe_filter_flags(flags: u32) -> Result<bool, i32> {
    // SAFETY: a null program pointer; the kernel fails the copy and installs nothing.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    match (r, errno()) {
        (0.., _) => Ok(true),
        (_, libc::EFAULT) => Ok(true),
        (_, libc::EINVAL) => Ok(false),
        (_, e) => Err(e),
    }
}

/// `seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action)`.
pub(crate) fn action_available(raw: u32) -> Result<bool, i32> {
    // SAFETY: points at a live u32.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0 as libc::c_ulong,
            &raw const raw,
        )
    };
    match (r, errno()) {
        (0.., _) => Ok(true),
        (_, libc::EOPNOTSUPP) => Ok(false),
        (_, e) => Err(e),
    }
}

/// `seccomp(SECCOMP_GET_NOTIF_SIZES)`.
pub(crate) fn notif_sizes() -> Result<libc::seccomp_notif_sizes, i32> {
    let mut sizes = MaybeUninit::<libc::seccomp_notif_sizes>::zeroed();
    // SAFETY: the kernel fills the struct we point at.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_NOTIF_SIZES,
            0 as libc::c_ulong,
            sizes.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(errno());
    }
    // SAFETY: zero-initialised, then filled by the kernel; all-integer struct.
    Ok(unsafe { sizes.assume_init() })
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)`.
pub(crate) fn set_no_new_privs() -> Result<(), i32> {
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) };
    if r < 0 { Err(errno()) } else { Ok(()) }
}

/// A control-message buffer for one fd, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct CmsgBuf([u8; 32]);

// CMSG_SPACE(sizeof(int)) must fit.
// SAFETY: CMSG_SPACE is pure arithmetic.
const CMSG_FD_SPACE: u32 = unsafe { libc::CMSG_SPACE(mem::size_of::<RawFd>() as u32) };
const _: () = assert!(CMSG_FD_SPACE as usize <= 32);

/// Sends `fd` over the Unix socket `sock` with `SCM_RIGHTS` (and one data byte).
/// Allocation-free; safe to call between fork/clone and exec.
pub(crate) fn send_fd(sock: RawFd, fd: RawFd) -> Result<(), i32> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut buf = CmsgBuf([0; 32]);
    // SAFETY: msghdr is plain data; zero is a valid initial state.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
    msg.msg_controllen = CMSG_FD_SPACE as _;
    // SAFETY: msg_control points at our aligned buffer of CMSG_SPACE(4) bytes, so the
    // first header and its data are inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(mem::size_of::<RawFd>() as u32) as _;
        libc::CMSG_DATA(cmsg).cast::<RawFd>().write_unaligned(fd);
    }
    loop {
        // SAFETY: msg and everything it points at are live for the call.
        let r = unsafe { libc::sendmsg(sock, &raw const msg, libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Receives one fd sent by [`send_fd`] (close-on-exec).
pub(crate) fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut buf = CmsgBuf([0; 32]);
    // SAFETY: msghdr is plain data; zero is a valid initial state.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
    msg.msg_controllen = CMSG_FD_SPACE as _;
    let n = loop {
        // SAFETY: msg and everything it points at are live for the call.
        let r = unsafe { libc::recvmsg(sock.as_raw_fd(), &raw mut msg, libc::MSG_CMSG_CLOEXEC) };
        if r >= 0 {
            break r;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    if n == 0 {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
    }
    // SAFETY: the kernel filled msg_control up to msg_controllen; CMSG_FIRSTHDR checks
    // that a header fits.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
            || (*cmsg).cmsg_len as usize != libc::CMSG_LEN(mem::size_of::<RawFd>() as u32) as usize
        {
            return Err(io::Error::from_raw_os_error(libc::EBADMSG));
        }
        let fd = libc::CMSG_DATA(cmsg).cast::<RawFd>().read_unaligned();
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// `ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, buf)`; `buf` is at least the kernel's
/// `seccomp_notif` size and is zeroed here, as the kernel requires.
pub(crate) fn notif_recv(fd: BorrowedFd<'_>, buf: &mut [u64]) -> io::Result<libc::seccomp_notif> {
    assert!(mem::size_of_val(buf) >= mem::size_of::<libc::seccomp_notif>());
    loop {
        buf.fill(0);
        // SAFETY: buf is a zeroed, 8-aligned buffer at least as large as the kernel's
        // struct seccomp_notif (sized from SECCOMP_GET_NOTIF_SIZES by the caller).
        let r = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                buf.as_mut_ptr(),
            )
        };
        if r >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    // SAFETY: the buffer is large enough and aligned; the struct is all integers.
    Ok(unsafe { buf.as_ptr().cast::<libc::seccomp_notif>().read() })
}

/// `ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp)`.
pub(crate) fn notif_send(
    fd: BorrowedFd<'_>,
    resp: &mut libc::seccomp_notif_resp,
) -> io::Result<()> {
    // SAFETY: resp is a live, correctly laid out struct.
    let r = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            resp as *mut _,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id)`.
pub(crate) fn notif_id_valid(fd: BorrowedFd<'_>, id: u64) -> io::Result<()> {
    // SAFETY: points at a live u64.
    let r = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &raw const id,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `ioctl(fd, SECCOMP_IOCTL_NOTIF_ADDFD, addfd)`; returns the fd number in the target.
pub(crate) fn notif_addfd(
    fd: BorrowedFd<'_>,
    addfd: &libc::seccomp_notif_addfd,
) -> io::Result<i32> {
    // SAFETY: addfd is a live, correctly laid out struct.
    let r = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD,
            addfd as *const _,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `process_vm_readv(pid, buf, addr)`; returns the bytes read.
pub(crate) fn read_process_memory(pid: u32, addr: u64, buf: &mut [u8]) -> io::Result<usize> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: the local iovec covers our live buffer; the remote one is only read by the
    // kernel, which checks it against the target's address space.
    let r = unsafe {
        libc::process_vm_readv(
            pid as libc::pid_t,
            &raw const local,
            1,
            &raw const remote,
            1,
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// The running kernel's release string, from `uname(2)`.
pub(crate) fn kernel_release() -> String {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { mem::zeroed() };
    // SAFETY: points at a live utsname.
    if unsafe { libc::uname(&raw mut u) } != 0 {
        return String::new();
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `poll(2)` on one fd for input; returns the `revents`, or 0 on timeout.
pub(crate) fn poll_in(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<i16> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one live pollfd.
        let r = unsafe { libc::poll(&raw mut p, 1, timeout_ms) };
        if r >= 0 {
            return Ok(if r == 0 { 0 } else { p.revents });
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
