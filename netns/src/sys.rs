//! The few system calls this crate makes itself.
//!
//! # Safety
//!
//! This is the only module allowed to use `unsafe`. [`run_in_netns`] calls
//! [`NsHandle::enter`] on a thread it spawned for that purpose and that ends as soon as the
//! closure returns, so no other code ever runs in a thread whose namespace was changed
//! behind its back. [`flock`] passes a borrowed, open fd to the kernel.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use hutch_ns::{Namespace, NsError, NsHandle};

/// Runs `f` on a new thread that first enters network namespace `ns`; the thread ends when
/// `f` returns, so the caller's threads never change namespace.
///
/// Sockets created by `f` stay bound to `ns` after the thread has ended; that is how a
/// netlink socket (or a `std::net` listener) for another namespace is made.
///
/// # Errors
/// [`NsError::WrongKind`] if `ns` is not a network namespace, [`NsError::Enter`] if `setns`
/// fails (`EPERM` without `CAP_SYS_ADMIN` over the namespace).
///
/// # Panics
/// Propagates a panic of `f`.
#[doc(alias = "setns")]
pub fn run_in_netns<T, F>(ns: &NsHandle, f: F) -> Result<T, NsError>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    if ns.kind() != Namespace::Net {
        return Err(NsError::WrongKind {
            expected: Namespace::Net,
            found: ns.kind(),
        });
    }
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| {
            // SAFETY: this thread was made for this one closure and ends right after it;
            // only network namespace membership changes (CLONE_NEWNET moves one thread).
            unsafe { ns.enter() }?;
            Ok(f())
        });
        match thread.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// `flock(fd, LOCK_EX)`: waits for an exclusive lock on the open file description.
#[doc(alias = "flock")]
pub(crate) fn flock_exclusive(fd: BorrowedFd<'_>) -> io::Result<()> {
    loop {
        // SAFETY: fd is open for the duration of the call; flock takes no pointers.
        let r = unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Makes `cmd` run with exactly the given extra fds: before exec, the child enters network
/// namespace `netns` (if any), makes `fds[i]` its fd `3 + i`, and marks every higher fd
/// close-on-exec (`close_range(CLOSE_RANGE_CLOEXEC)`, Linux 5.11), so nothing else leaks
/// into the program. The hook makes raw system calls only.
pub(crate) fn set_child_fds(
    cmd: &mut std::process::Command,
    netns: Option<BorrowedFd<'_>>,
    fds: &[BorrowedFd<'_>],
) {
    use std::os::unix::process::CommandExt;
    const MAX: usize = 4;
    assert!(fds.len() <= MAX, "at most {MAX} fds");
    let netns = netns.map(|f| f.as_raw_fd());
    let mut raw = [-1; MAX];
    for (slot, fd) in raw.iter_mut().zip(fds) {
        *slot = fd.as_raw_fd();
    }
    let n = fds.len();
    let hook = move || -> io::Result<()> {
        let fail = || Err(io::Error::last_os_error());
        if let Some(ns) = netns {
            // SAFETY: a raw setns on an fd the parent keeps open until spawn returns.
            if unsafe { libc::setns(ns, libc::CLONE_NEWNET) } != 0 {
                return fail();
            }
        }
        // Move the sources out of the way first, so that dup2 onto 3.. cannot clobber a
        // source that happens to live there.
        let mut high = [-1; MAX];
        for i in 0..n {
            // SAFETY: duplicating an open fd; the copy is close-on-exec.
            high[i] = unsafe { libc::fcntl(raw[i], libc::F_DUPFD_CLOEXEC, 64) };
            if high[i] < 0 {
                return fail();
            }
        }
        for (i, &fd) in high.iter().enumerate().take(n) {
            // SAFETY: dup2 of an open fd onto a small number; the new fd is inheritable.
            if unsafe { libc::dup2(fd, 3 + i as libc::c_int) } < 0 {
                return fail();
            }
        }
        // SAFETY: only sets FD_CLOEXEC on fds from 3 + n up; takes no pointers.
        let r = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                (3 + n) as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if r != 0 {
            return fail();
        }
        Ok(())
    };
    // SAFETY: the hook makes raw system calls only: it neither allocates nor takes locks,
    // so it is sound between fork and exec in a multithreaded process.
    unsafe { cmd.pre_exec(hook) };
}

/// Waits until `fd` is readable or `timeout` passes; `true` if readable (or hung up).
#[doc(alias = "poll")]
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, timeout: std::time::Duration) -> io::Result<bool> {
    // A timeout too large to represent (`Duration::MAX`) waits without bound.
    let deadline = std::time::Instant::now().checked_add(timeout);
    loop {
        let left = deadline.map_or(timeout, |d| {
            d.saturating_duration_since(std::time::Instant::now())
        });
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: pfd is a valid pollfd on the stack for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r > 0 {
            return Ok(true);
        }
        if r == 0 {
            return Ok(false);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The effective uid of the calling thread.
pub(crate) fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Binds a socket to `addr:port` in the calling thread's network namespace, to keep the
/// port: a socket of another process there makes it fail with `EADDRINUSE`, and while it is
/// held nobody else may bind the port. TCP: `SO_REUSEADDR` (connections of the past in
/// `TIME_WAIT` do not count) and listening, which is what keeps others out (no connection
/// reaches it: the container's DNAT comes first). UDP: a plain bind. An IPv6 socket is
/// `IPV6_V6ONLY`, so `::` and `0.0.0.0` are reserved separately.
pub(crate) fn reserve_port(
    udp: bool,
    addr: std::net::IpAddr,
    port: u16,
) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let kind = if udp {
        libc::SOCK_DGRAM
    } else {
        libc::SOCK_STREAM
    };
    let domain = match addr {
        std::net::IpAddr::V4(_) => libc::AF_INET,
        std::net::IpAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket with integer arguments; the result is checked.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let set = |level: libc::c_int, name: libc::c_int| -> io::Result<()> {
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with a pointer to an int on our stack and its size.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                level,
                name,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    if !udp {
        set(libc::SOL_SOCKET, libc::SO_REUSEADDR)?;
    }
    let r = match addr {
        std::net::IpAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: port.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(a).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: bind with a sockaddr_in on our stack and its size.
            unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&sin as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        std::net::IpAddr::V6(a) => {
            set(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)?;
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: port.to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: bind with a sockaddr_in6 on our stack and its size.
            unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&sin6 as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: listen on our own bound socket.
    if !udp && unsafe { libc::listen(fd.as_raw_fd(), 1) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}
