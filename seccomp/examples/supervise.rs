//! Runs a program under a seccomp filter whose `mkdir`/`mkdirat` and `connect` calls are
//! decided here, in a supervisor holding the user-notification listener:
//!
//! - `mkdir` is performed by the supervisor on the program's behalf when the new
//!   directory's parent lies inside ALLOWED_DIR, and refused with `EACCES` otherwise;
//! - every `connect` is logged (address family and address) and then allowed.
//!
//! ```text
//! cargo run -p hutch-seccomp --example supervise -- ALLOWED_DIR PROGRAM [ARGS...]
//! cargo run -p hutch-seccomp --example supervise            # a demo in $TMPDIR
//! ```
//!
//! Why `mkdir` is emulated instead of answered with "continue": the path is in the
//! program's memory, which another of its threads can change after we read it; with
//! `Response::Continue` the kernel would read it again and create whatever it says then.
//! Creating the directory ourselves from the bytes we checked closes that gap. `connect`
//! is only logged, so "continue" is fine there. (The remaining race: a component of the
//! allowed tree swapped for a symlink between our check and our `mkdir`; a production
//! supervisor would walk the path with `openat(O_NOFOLLOW)` from a directory fd.)
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::{CString, OsString};
use std::fs::DirBuilder;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

use hutch_seccomp::{
    Action, Arch, Filter, InstallFlags, Listener, Notification, Readiness, Response, Syscall,
    recv_fd, send_fd, set_no_new_privs,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--demo-child") {
        return demo_child(Path::new(&args[1]));
    }
    let demo_dir;
    if args.is_empty() {
        // The demo program is this example again, re-executed under the filter.
        demo_dir = std::env::temp_dir().join(format!("hutch-supervise-{}", std::process::id()));
        std::fs::create_dir_all(demo_dir.join("allowed"))?;
        args = vec![
            demo_dir.join("allowed").into(),
            std::env::current_exe()?.into(),
            "--demo-child".into(),
            demo_dir.clone().into(),
        ];
    } else {
        demo_dir = PathBuf::new();
    }
    if args.len() < 2 {
        eprintln!("usage: supervise ALLOWED_DIR PROGRAM [ARGS...]");
        std::process::exit(2);
    }
    let allowed = std::fs::canonicalize(&args[0])?;
    // Everything the child needs is built before fork: it must not allocate.
    let argv: Vec<CString> = args[1..]
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());

    let mut filter = Filter::new(Action::Allow);
    for name in ["mkdir", "mkdirat", "connect"] {
        filter.rule_if_present(Syscall::by_name(name)?, Action::UserNotif, &[]);
    }
    let program = filter.compile(Arch::native_family())?;

    let (parent_sock, child_sock) = std::os::unix::net::UnixStream::pair()?;
    // SAFETY: the child only makes raw calls (set_no_new_privs, install, send_fd, close,
    // execvp, _exit), none of which allocate.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    if pid == 0 {
        // SAFETY: the calls named above; argv_ptrs is a NULL-terminated array of C strings.
        unsafe {
            if set_no_new_privs().is_err() {
                libc::_exit(120);
            }
            let Ok(Some(listener)) = program.install(InstallFlags::NEW_LISTENER) else {
                libc::_exit(121);
            };
            if send_fd(&child_sock, &listener).is_err() {
                libc::_exit(122);
            }
            // Close the listener before exec, or the program would hold its own leash.
            libc::close(listener.as_raw_fd());
            std::mem::forget(listener);
            libc::execvp(argv_ptrs[0], argv_ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    drop(child_sock);
    let mut listener = Listener::new(recv_fd(&parent_sock)?)?;
    eprintln!(
        "[supervisor] pid {pid}; mkdir allowed under {}",
        allowed.display()
    );
    loop {
        match listener.wait(None)? {
            Readiness::Ready => {}
            Readiness::Closed => break,
            _ => continue,
        }
        let n = match listener.recv() {
            Ok(n) => n,
            // The target died between the kernel queueing the call and our receive.
            Err(_) => continue,
        };
        let args = n.data.args;
        let response = if is(&n, "connect") {
            log_connect(&listener, &n);
            Response::Continue
        } else if is(&n, "mkdir") {
            mkdir(&listener, &n, None, args[0], args[1], &allowed)
        } else if is(&n, "mkdirat") {
            mkdir(
                &listener,
                &n,
                Some(args[0] as i32),
                args[1],
                args[2],
                &allowed,
            )
        } else {
            Response::Errno(libc::ENOSYS)
        };
        // The target may be gone by now; nothing to do then.
        let _ = listener.respond(n.id, response);
    }
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    eprintln!("[supervisor] program exited with status {status:#x}");
    if !demo_dir.as_os_str().is_empty() {
        std::fs::remove_dir_all(&demo_dir)?;
    }
    Ok(())
}

fn is(n: &Notification, name: &str) -> bool {
    Arch::native().syscall_number(name) == Some(n.data.nr as u32)
}

/// Decides a `mkdir`/`mkdirat` and, if allowed, performs it.
fn mkdir(
    listener: &Listener,
    n: &Notification,
    dirfd: Option<i32>,
    path_addr: u64,
    mode: u64,
    allowed: &Path,
) -> Response {
    let Ok(bytes) = listener.read_c_string(n, path_addr, libc::PATH_MAX as usize) else {
        return Response::Errno(libc::EFAULT);
    };
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
    // Resolve relative paths against the target's cwd or its dirfd.
    let base = match dirfd {
        None | Some(libc::AT_FDCWD) => PathBuf::from(format!("/proc/{}/cwd", n.pid)),
        Some(fd) => PathBuf::from(format!("/proc/{}/fd/{fd}", n.pid)),
    };
    let full = base.join(&path);
    let (Some(parent), Some(Component::Normal(name))) =
        (full.parent(), full.components().next_back())
    else {
        return Response::Errno(libc::EEXIST);
    };
    let Ok(parent) = std::fs::canonicalize(parent) else {
        return Response::Errno(libc::ENOENT);
    };
    let target = parent.join(name);
    if !parent.starts_with(allowed) {
        eprintln!(
            "[supervisor] pid {}: mkdir {} refused (outside the allowed directory)",
            n.pid,
            target.display()
        );
        return Response::Errno(libc::EACCES);
    }
    let umask = target_umask(n.pid).unwrap_or(0o022);
    match DirBuilder::new()
        .mode((mode as u32 & 0o7777) & !umask)
        .create(&target)
    {
        Ok(()) => {
            eprintln!(
                "[supervisor] pid {}: mkdir {} done for it",
                n.pid,
                target.display()
            );
            Response::Value(0)
        }
        Err(e) => Response::Errno(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

fn target_umask(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Umask:"))?;
    u32::from_str_radix(line.split_whitespace().nth(1)?, 8).ok()
}

/// Logs a `connect`'s address.
fn log_connect(listener: &Listener, n: &Notification) {
    let mut buf = [0u8; 128];
    let len = (n.data.args[2] as usize).min(buf.len());
    let what = match listener.read_memory(n, n.data.args[1], &mut buf[..len]) {
        Ok(got) if got >= 2 => {
            let family = u16::from_ne_bytes([buf[0], buf[1]]);
            match i32::from(family) {
                libc::AF_INET if got >= 8 => format!(
                    "AF_INET {}.{}.{}.{}:{}",
                    buf[4],
                    buf[5],
                    buf[6],
                    buf[7],
                    u16::from_be_bytes([buf[2], buf[3]])
                ),
                libc::AF_INET6 if got >= 24 => {
                    let ip: [u8; 16] = buf[8..24].try_into().unwrap_or([0; 16]);
                    format!(
                        "AF_INET6 [{}]:{}",
                        std::net::Ipv6Addr::from(ip),
                        u16::from_be_bytes([buf[2], buf[3]])
                    )
                }
                libc::AF_UNIX => {
                    let path = &buf[2..got];
                    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                    format!("AF_UNIX {:?}", String::from_utf8_lossy(&path[..end]))
                }
                f => format!("family {f}"),
            }
        }
        Ok(_) => "a short address".to_owned(),
        Err(e) => format!("an unreadable address ({e})"),
    };
    eprintln!("[supervisor] pid {}: connect to {what}", n.pid);
}

/// The demo program: two `mkdir`s and two `connect`s, to loopback and to a Unix socket
/// (both refused by the kernel afterwards; nothing leaves the machine).
fn demo_child(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let report = |what: &str, r: std::io::Result<()>| match r {
        Ok(()) => println!("[program] {what}: ok"),
        Err(e) => println!("[program] {what}: {e}"),
    };
    report(
        "mkdir allowed/inside",
        std::fs::create_dir(dir.join("allowed/inside")),
    );
    report("mkdir outside", std::fs::create_dir(dir.join("outside")));
    report(
        "connect 127.0.0.1:1",
        std::net::TcpStream::connect(("127.0.0.1", 1)).map(drop),
    );
    report(
        "connect unix socket",
        std::os::unix::net::UnixStream::connect(dir.join("no-such.sock")).map(drop),
    );
    Ok(())
}
