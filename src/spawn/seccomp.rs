//! The seccomp layer, parent side: the compiled program the child installs last before exec.
//!
//! Docker's default profile is compiled once per process per capability set (by
//! hutch-seccomp, cached); a profile or filter of the caller's once per process per container
//! configuration and capability set (the last 16 kept).

use std::sync::Arc;

use hutch_seccomp::Program;
use hutch_seccomp::profile::{ProfileContext, docker_default_program};

use crate::container::SeccompSetting;
use crate::{Command, SpawnError};

/// The program to install, or `None` (unconfined, privileged, or `Container::host()`), and
/// the install flags a profile asks for (`SECCOMP_FILTER_FLAG_LOG`, ...).
pub(crate) fn prepare(
    cmd: &Command,
) -> Result<(Option<Arc<Program>>, hutch_seccomp::InstallFlags), SpawnError> {
    let c = &cmd.container.confine;
    // `privileged()` sets the filter to unconfined; a filter set after it applies.
    if c.seccomp == SeccompSetting::Unconfined {
        if c.seccomp_listener {
            return Err(SpawnError::SeccompListenerWithoutFilter);
        }
        return Ok((None, hutch_seccomp::InstallFlags::EMPTY));
    }
    // The capabilities the profile's capability-conditional rules follow: the container's
    // own set (Docker's list), or the caller's when the container keeps them.
    let caps = match c.caps {
        Some(set) => set.bits(),
        None => hutch_caps::thread::bounding_set()
            .map_err(SpawnError::CapabilityState)?
            .bits(),
    };
    if let SeccompSetting::Profile(p) = &c.seccomp
        && let Some(path) = p.listener_path()
    {
        return Err(SpawnError::SeccompListenerPath {
            path: path.to_owned(),
        });
    }
    let err = |e| SpawnError::Seccomp(Box::new(e));
    let program = match &c.seccomp {
        SeccompSetting::Unconfined => None,
        SeccompSetting::DockerDefault => Some(docker_default_program(caps).map_err(err)?),
        SeccompSetting::Profile(profile) => {
            Some(cached(Source::Profile(profile.clone()), caps, || {
                let ctx = ProfileContext::current(caps).map_err(err)?;
                profile.compile(&ctx).map_err(err)
            })?)
        }
        SeccompSetting::Filter(filter) => {
            Some(cached(Source::Filter(filter.clone()), caps, || {
                filter
                    .compile(hutch_seccomp::Arch::native_family())
                    .map_err(|e| SpawnError::SeccompFilter(Box::new(e)))
            })?)
        }
    };
    // Docker's profile never notifies; a caller's may.
    let callers = matches!(
        c.seccomp,
        SeccompSetting::Profile(_) | SeccompSetting::Filter(_)
    );
    if callers && !c.seccomp_listener && program.as_ref().is_some_and(|p| p.uses_user_notif()) {
        return Err(SpawnError::SeccompNotifyWithoutListener);
    }
    let flags = match &c.seccomp {
        SeccompSetting::Profile(profile) => profile.flags(),
        _ => hutch_seccomp::InstallFlags::EMPTY,
    };
    if flags.contains(hutch_seccomp::InstallFlags::WAIT_KILLABLE_RECV) && !c.seccomp_listener {
        return Err(SpawnError::SeccompWaitKillableWithoutListener);
    }
    Ok((program, flags))
}

/// A caller's profile or filter, by identity: every command of a container shares its `Arc`.
enum Source {
    Profile(Arc<hutch_seccomp::profile::Profile>),
    Filter(Arc<hutch_seccomp::Filter>),
}

impl Source {
    fn same(&self, other: &Source) -> bool {
        match (self, other) {
            (Source::Profile(a), Source::Profile(b)) => Arc::ptr_eq(a, b),
            (Source::Filter(a), Source::Filter(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// The program of `source` for capability set `caps`, compiled once per process (the last
/// few kept) instead of at every spawn. The cache holds the source, so an entry's identity
/// is never reused by another profile.
fn cached(
    source: Source,
    caps: u64,
    compile: impl FnOnce() -> Result<Program, SpawnError>,
) -> Result<Arc<Program>, SpawnError> {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    const KEEP: usize = 16;
    type Entry = (Source, u64, Arc<Program>);
    static CACHE: Mutex<VecDeque<Entry>> = Mutex::new(VecDeque::new());
    let lookup = || {
        CACHE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(s, c, _)| *c == caps && s.same(&source))
            .map(|(_, _, p)| p.clone())
    };
    if let Some(p) = lookup() {
        return Ok(p);
    }
    let program = Arc::new(compile()?);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() == KEEP {
        cache.pop_front();
    }
    cache.push_back((source, caps, program.clone()));
    Ok(program)
}

/// The parent's end of the listener's way back while the container is set up: the socket the
/// child sends the listener over, then the listener itself.
pub(crate) struct SetupListener {
    sock: Option<std::os::unix::net::UnixStream>,
    listener: Option<hutch_seccomp::Listener>,
}

impl SetupListener {
    pub(crate) fn new(sock: std::os::unix::net::UnixStream) -> SetupListener {
        SetupListener {
            sock: Some(sock),
            listener: None,
        }
    }

    /// Serves the listener until `report` is readable (a record, or end of file at the
    /// program's exec): receives it as soon as the child sends it, and answers every
    /// notification raised meanwhile with "continue". Those come from the container's own
    /// setup (its init's and its program's `execve`, and whatever the child does after an
    /// early filter) — the program has not started, and nobody else holds the listener yet,
    /// so without this a filter that notifies `execve` would never let the spawn end.
    pub(crate) fn serve_until(
        &mut self,
        report: std::os::fd::BorrowedFd<'_>,
    ) -> Result<(), SpawnError> {
        use std::os::fd::AsFd;
        fn ready(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<bool> {
            crate::sys::poll_any(&[fd], Some(std::time::Duration::ZERO))
        }
        let poll_err = |source| SpawnError::Parent {
            op: "waiting for the child (poll)",
            source,
        };
        loop {
            let mut fds = vec![report];
            fds.extend(self.sock.as_ref().map(|s| s.as_fd()));
            fds.extend(self.listener.as_ref().map(|l| l.as_fd()));
            crate::sys::poll_any(&fds, None).map_err(poll_err)?;
            drop(fds);
            if ready(report).map_err(poll_err)? {
                return Ok(());
            }
            if let Some(sock) = &self.sock
                && ready(sock.as_fd()).map_err(poll_err)?
            {
                // End of file instead: the child ended before sending it; its report says why.
                if let Ok(fd) = hutch_seccomp::recv_fd(sock) {
                    self.listener = Some(
                        hutch_seccomp::Listener::new(fd)
                            .map_err(|e| SpawnError::SeccompNotify(Box::new(e)))?,
                    );
                }
                self.sock = None;
            }
            if let Some(l) = &mut self.listener
                && ready(l.as_fd()).map_err(poll_err)?
            {
                match l.recv() {
                    Ok(n) => {
                        // ENOENT: the caller was killed meanwhile.
                        let _ = l.respond(n.id, hutch_seccomp::Response::Continue);
                    }
                    // The caller died first, or nobody uses the filter any more (the report
                    // pipe says the rest, in a moment).
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
                }
            }
        }
    }

    /// The listener, once the program has exec'd: received during the setup, or now.
    pub(crate) fn finish(mut self) -> Result<hutch_seccomp::Listener, SpawnError> {
        if let Some(l) = self.listener.take() {
            return Ok(l);
        }
        let sock = self.sock.take().ok_or_else(|| {
            SpawnError::SeccompListener(Box::new(hutch_seccomp::SeccompError::Io {
                op: "recvmsg(SCM_RIGHTS)",
                source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
            }))
        })?;
        let fd =
            hutch_seccomp::recv_fd(&sock).map_err(|e| SpawnError::SeccompListener(Box::new(e)))?;
        hutch_seccomp::Listener::new(fd).map_err(|e| SpawnError::SeccompNotify(Box::new(e)))
    }
}
