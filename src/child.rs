//! A running container's first process.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, PipeReader, PipeWriter};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Output};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;

use hutch_ns::idmap::SetGroups;
use hutch_ns::{Namespace, Namespaces, NsError, NsHandle};

use crate::cgroup::ContainerCgroup;
use crate::command::JoinTarget;
use crate::error::Pid;
use crate::{Command, Container, SpawnError, sys};

/// A process of ours: its pid, pidfd and, once reaped, its status.
///
/// Shared between a container's [`Child`] and the handles of processes started in it with
/// [`Child::exec`]: those are our children too (`CLONE_PARENT`), and the kernel does not let
/// the container's PID 1 finish exiting until they are reaped, so waiting for the container
/// reaps them as they end and keeps their status for their own handles.
#[derive(Debug)]
pub(crate) struct Proc {
    pid: Pid,
    pidfd: OwnedFd,
    status: Mutex<Option<ExitStatus>>,
}

impl Proc {
    fn status(&self) -> Option<ExitStatus> {
        *self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reaps the process if it has ended. The lock makes sure only one waiter reaps it.
    fn try_reap(&self) -> io::Result<Option<ExitStatus>> {
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if st.is_none()
            && let Some(raw) = sys::waitid_pidfd(self.pidfd.as_fd(), true)?
        {
            *st = Some(ExitStatus::from_raw(raw));
        }
        Ok(*st)
    }
}

/// The processes started in a container with [`Child::exec`].
pub(crate) type ExecRegistry = Arc<Mutex<Vec<Weak<Proc>>>>;

/// What processes exec'd into a container start from: the environment and working directory
/// of the container's program.
#[derive(Debug, Clone)]
pub(crate) struct ExecDefaults {
    pub env: BTreeMap<OsString, OsString>,
    pub cwd: PathBuf,
    /// The container's confinement, which every process exec'd into it gets too.
    pub confine: crate::container::Confinement,
}

/// What a process needs to know of its container to start more processes in it.
#[derive(Debug)]
pub(crate) struct ContainerLink {
    /// What exec'd processes start from.
    pub exec_defaults: Arc<ExecDefaults>,
    /// The container's registry of `exec`ed processes (shared by all of them).
    pub registry: ExecRegistry,
    /// For an `exec`ed process: the container's cgroup directory (the container's own
    /// `Child` has it in its `ContainerCgroup`).
    pub cgroup_fd: Option<OwnedFd>,
    /// Whether the container's user namespace allows `setgroups`.
    pub setgroups: SetGroups,
    /// Register this process in the registry (it was started with `exec`).
    pub register: bool,
}

/// A handle to a container's first process, shaped like [`std::process::Child`].
///
/// Backed by a pidfd: signals go through `pidfd_send_signal` and waits through
/// `waitid(P_PIDFD)`, so a recycled pid is never signalled, and [`id`](Child::id) returns
/// `None` once the process has been reaped.
///
/// # Caveats
///
/// Dropping a `Child` that has not been waited for kills it (`SIGKILL`; as PID 1 of its pid
/// namespace, that ends every process of the container) and reaps it, then removes its
/// cgroup: a container does not outlive its handle, and no zombie is left behind. Dropping
/// waits at most one second for the container to end; a process that the kernel keeps longer
/// (uninterruptible sleep on a hung mount) is handed to a background thread (`hutch-reaper`,
/// started on first need) that reaps it and then removes its cgroup.
///
/// A caller that ignores `SIGCHLD` (`SIG_IGN` or `SA_NOCLDWAIT`, perhaps inherited through
/// exec from its own parent) has its children reaped by the kernel as they end. Waiting still
/// works: the status is read from the pidfd (`PIDFD_GET_INFO`, Linux 6.15+); on older kernels
/// a wait fails with an error that says so. Processes started with [`exec`](Child::exec) wait
/// before their exec until the caller holds their pidfd, so none ends unnoticed.
///
/// Processes started with [`exec`](Child::exec) are children of the caller. When the
/// container's PID 1 ends, the kernel kills them, and PID 1 only finishes exiting once they
/// are reaped; [`wait`](Child::wait) on the container therefore reaps them as they end (their
/// own handles then report the status it collected), so waiting in either order works.
#[derive(Debug)]
pub struct Child {
    proc: Arc<Proc>,
    link: ContainerLink,
    namespaces: Namespaces,
    cgroup: Option<ContainerCgroup>,
    /// Torn down (veth, rules, lease, name files) after the process is gone: declared after
    /// `cgroup`, dropped after it.
    network: Option<crate::net::ContainerNetwork>,
    /// What the Landlock ruleset enforces, when there is one.
    landlock: Option<crate::LandlockStatus>,
    /// The seccomp user-notification listener, when asked for.
    seccomp_listener: Option<hutch_seccomp::Listener>,
    /// The writing end of the program's standard input, when piped.
    pub stdin: Option<PipeWriter>,
    /// The reading end of the program's standard output, when piped.
    pub stdout: Option<PipeReader>,
    /// The reading end of the program's standard error, when piped.
    pub stderr: Option<PipeReader>,
}

impl Child {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        pid: Pid,
        pidfd: OwnedFd,
        namespaces: Namespaces,
        stdin: Option<OwnedFd>,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
        cgroup: Option<ContainerCgroup>,
        link: ContainerLink,
        network: Option<crate::net::ContainerNetwork>,
    ) -> Child {
        let proc = Arc::new(Proc {
            pid,
            pidfd,
            status: Mutex::new(None),
        });
        if link.register {
            let mut list = link.registry.lock().unwrap_or_else(|e| e.into_inner());
            list.retain(|w| w.strong_count() > 0);
            list.push(Arc::downgrade(&proc));
        }
        Child {
            proc,
            link,
            namespaces,
            cgroup,
            network,
            landlock: None,
            seccomp_listener: None,
            stdin: stdin.map(PipeWriter::from),
            stdout: stdout.map(PipeReader::from),
            stderr: stderr.map(PipeReader::from),
        }
    }

    /// The process id, as seen by the caller; `None` once the process has been reaped.
    pub fn id(&self) -> Option<u32> {
        self.proc
            .status()
            .is_none()
            .then_some(self.proc.pid.get() as u32)
    }

    /// The pidfd of the process (valid for as long as the `Child`).
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.proc.pidfd.as_fd()
    }

    /// The namespaces the container was created with (or, for a process started with
    /// [`exec`](Child::exec), the ones it joined).
    pub fn namespaces(&self) -> Namespaces {
        self.namespaces
    }

    /// Opens one of the container's namespaces, e.g. to persist its network namespace.
    ///
    /// # Errors
    ///
    /// When the process has been reaped, or the namespace cannot be opened.
    pub fn namespace(&self, ns: Namespace) -> Result<NsHandle, NsError> {
        NsHandle::from_pidfd(self.proc.pidfd.as_fd(), ns)
    }

    /// Sends `SIGKILL`. Like std's, this succeeds when the process has already ended.
    #[doc(alias = "pidfd_send_signal")]
    pub fn kill(&mut self) -> io::Result<()> {
        self.signal(Signal::SIGKILL)
    }

    /// Sends the signal `sig` (e.g. `Signal::SIGTERM`).
    ///
    /// Without [`init`](Container::init) the program is PID 1 of its pid namespace, and the
    /// kernel drops signals it has no handler for, except `SIGKILL` and `SIGSTOP`; with an
    /// init, the init forwards every signal to the program.
    ///
    /// # Errors
    ///
    /// The error of `pidfd_send_signal`; a process already ended or reaped succeeds quietly.
    ///
    /// # References
    ///
    /// [pidfd_send_signal(2)](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
    #[doc(alias = "pidfd_send_signal")]
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        if self.proc.status().is_some() {
            return Ok(());
        }
        match sys::pidfd_send_signal(self.proc.pidfd.as_fd(), sig as i32) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            r => r,
        }
    }

    /// Waits for the process to end (closing its standard input first, as std does).
    #[doc(alias = "waitid")]
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        let status = self.wait_until(None)?.expect("no deadline");
        self.ended();
        Ok(status)
    }

    /// Returns the status if the process has ended, without blocking.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.reap_execs()?;
        let status = self.proc.try_reap()?;
        if status.is_some() {
            self.ended();
        }
        Ok(status)
    }

    /// Waits at most `timeout` for the process to end (polling the pidfd); `None` if it is still
    /// running. A timeout too large to represent (`Duration::MAX`) waits without bound.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let status = self.wait_until(Instant::now().checked_add(timeout))?;
        if status.is_some() {
            self.ended();
        }
        Ok(status)
    }

    /// The container's first process has been reaped. With its own pid namespace the
    /// container is over (the kernel killed every other process of it), so its network is
    /// released now — address, published ports, name files — rather than when the `Child` is
    /// dropped: another container may take them at once. Without one, processes it started
    /// may still use the network, which stays until the drop.
    fn ended(&mut self) {
        if self.namespaces.contains(Namespaces::PID) {
            drop(self.network.take());
        }
    }

    /// Reaps whichever `exec`ed processes have ended; returns their pidfds' owners that still
    /// run.
    fn reap_execs(&self) -> io::Result<Vec<Arc<Proc>>> {
        let live: Vec<Arc<Proc>> = {
            let list = self.link.registry.lock().unwrap_or_else(|e| e.into_inner());
            list.iter().filter_map(Weak::upgrade).collect()
        };
        let mut running = Vec::with_capacity(live.len());
        for p in live {
            if p.try_reap()?.is_none() {
                running.push(p);
            }
        }
        Ok(running)
    }

    fn wait_until(&self, deadline: Option<Instant>) -> io::Result<Option<ExitStatus>> {
        loop {
            let running = self.reap_execs()?;
            if let Some(s) = self.proc.try_reap()? {
                return Ok(Some(s));
            }
            let mut fds = vec![self.proc.pidfd.as_fd()];
            fds.extend(running.iter().map(|p| p.pidfd.as_fd()));
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            // While a `Command` from `exec` (or another handle of this container) exists, a
            // process may be exec'd into it from another thread meanwhile: wake now and then
            // to pick it up. Otherwise nothing new can appear, and we sleep until an end.
            let may_grow = Arc::strong_count(&self.link.registry) > 1;
            let slice = match (may_grow, left) {
                (true, Some(l)) => Some(l.min(REGISTRY_RESCAN)),
                (true, None) => Some(REGISTRY_RESCAN),
                (false, l) => l,
            };
            if !sys::poll_any(&fds, slice)? && left.is_some_and(|l| Some(l) <= slice) {
                return Ok(None);
            }
        }
    }

    /// Waits for the process and collects its piped standard output and error.
    pub fn wait_with_output(self) -> io::Result<Output> {
        self.collect_output(None).map(|t| t.output)
    }

    /// Like [`wait_with_output`](Child::wait_with_output), but gives the container at most
    /// `timeout` to end: then it is killed (every process of its cgroup with
    /// [`kill_all`](Child::kill_all) when it has one, else its first process, which ends its
    /// pid namespace), and the output so far is returned with `timed_out` set. For test
    /// harnesses that need no reader threads.
    ///
    /// # Errors
    ///
    /// Reading the pipes or waiting failed.
    pub fn wait_with_output_timeout(self, timeout: Duration) -> io::Result<TimedOutput> {
        self.collect_output(Instant::now().checked_add(timeout))
    }

    fn collect_output(mut self, deadline: Option<Instant>) -> io::Result<TimedOutput> {
        drop(self.stdin.take());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut fds = [
            self.stdout.take().map(OwnedFd::from),
            self.stderr.take().map(OwnedFd::from),
        ];
        let mut timed_out = false;
        if !sys::read2(&mut fds, &mut out, &mut err, deadline)? {
            timed_out = true;
            self.kill_container();
            // The pipes close as the processes die (a descendant that left the container's
            // cgroup could keep them open: bound that too).
            sys::read2(
                &mut fds,
                &mut out,
                &mut err,
                Some(Instant::now() + DROP_WAIT),
            )?;
        }
        let status = match deadline {
            Some(d) if !timed_out => match self.wait_until(Some(d))? {
                Some(s) => s,
                None => {
                    timed_out = true;
                    self.kill_container();
                    self.wait()?
                }
            },
            _ => self.wait()?,
        };
        Ok(TimedOutput {
            output: Output {
                status,
                stdout: out,
                stderr: err,
            },
            timed_out,
        })
    }

    /// Kills every process of the container: its cgroup if it has one, and its first process.
    fn kill_container(&mut self) {
        if let Some(cg) = self.cgroup() {
            let _ = cg.kill();
        }
        let _ = self.kill();
    }

    /// A command that runs `program` inside this running container, joining all of its
    /// namespaces (and its cgroup), the way `docker exec` / `nsenter` do.
    ///
    /// The new process is a child of the caller, with its own [`Child`] handle. It joins with
    /// `setns` on the container's pidfd; its root is the container's root, and it starts with
    /// the environment and working directory of the container's program (change them with
    /// [`Command::env`], [`Command::env_clear`] and [`Command::current_dir`]), not the
    /// caller's.
    ///
    /// It gets the container's confinement too (capabilities, `no_new_privs`, and the later
    /// layers), as `docker exec` does.
    ///
    /// The process that joins is a copy of the caller until it execs: it makes itself
    /// non-dumpable and closes every descriptor but the program's before it enters the
    /// container, so nothing there can read the caller's memory or descriptors through it.
    ///
    /// # Errors
    ///
    /// Reported by [`Command::spawn`]: a container that has ended gives
    /// [`SpawnError::JoinTarget`].
    pub fn exec(&self, program: impl AsRef<OsStr>) -> Command {
        let mut container = Container::host();
        container.confine = self.link.exec_defaults.confine.clone();
        container.env_clear();
        let defaults = &self.link.exec_defaults;
        for (k, v) in &defaults.env {
            container.env(k, v);
        }
        let mut cmd = Command::new_in(container, program.as_ref());
        cmd.current_dir(&defaults.cwd);
        cmd.join = Some(self.join_target());
        cmd
    }

    fn join_target(&self) -> JoinTarget {
        // The container's namespaces are exactly the ones that differ from ours (setns into
        // one's own user namespace would fail with EINVAL).
        let namespaces = self.namespaces;
        let cgroup_fd = match (&self.cgroup, &self.link.cgroup_fd) {
            (Some(c), _) => Some(c.dir_fd()),
            (None, Some(fd)) => Some(fd.as_fd()),
            (None, None) => None,
        };
        let errno = |e: io::Error| e.raw_os_error().unwrap_or(libc::EIO);
        JoinTarget {
            pidfd: self.proc.pidfd.try_clone().map_err(errno),
            pid: self.proc.pid,
            registry: self.link.registry.clone(),
            namespaces,
            cgroup: cgroup_fd.map(|fd| fd.try_clone_to_owned().map_err(errno)),
            setgroups: self.link.setgroups,
            exec_defaults: self.link.exec_defaults.clone(),
        }
    }

    pub(crate) fn with_landlock(mut self, status: Option<crate::LandlockStatus>) -> Child {
        self.landlock = status;
        self
    }

    pub(crate) fn with_seccomp_listener(mut self, l: Option<hutch_seccomp::Listener>) -> Child {
        self.seccomp_listener = l;
        self
    }

    /// Takes the seccomp user-notification listener of the program
    /// ([`Container::seccomp_listener`]): the supervisor answers the system calls its filter
    /// sends there. `None` when not asked for, or already taken.
    pub fn take_seccomp_listener(&mut self) -> Option<hutch_seccomp::Listener> {
        self.seccomp_listener.take()
    }

    /// What the container's Landlock ruleset enforces (its ABI, the access rights handled,
    /// what the kernel could not enforce in best-effort mode), when it has one.
    pub fn landlock(&self) -> Option<&crate::LandlockStatus> {
        self.landlock.as_ref()
    }

    /// The container's network, when it is on a bridge network or pasta: its address,
    /// gateway, published ports. Released (and `None` from then on) once the container has
    /// ended and been waited for, when it has its own pid namespace (the default); otherwise
    /// when the `Child` is dropped.
    pub fn network(&self) -> Option<&crate::net::ContainerNetwork> {
        self.network.as_ref()
    }

    /// The container's cgroup, when it has one.
    pub fn cgroup(&self) -> Option<&hutch_cgroup::Cgroup> {
        self.cgroup.as_ref().map(|c| c.cgroup())
    }

    fn need_cgroup(&self) -> Result<&hutch_cgroup::Cgroup, ControlError> {
        self.cgroup()
            .ok_or(ControlError::NoCgroup { pid: self.proc.pid })
    }

    /// A snapshot of the container's resource use: CPU time, memory current and peak, pids,
    /// I/O and pressure (whatever the host's controllers provide).
    ///
    /// # Errors
    ///
    /// [`ControlError::NoCgroup`] when the container has no cgroup, or a read error.
    pub fn stats(&self) -> Result<hutch_cgroup::Stats, ControlError> {
        Ok(self.need_cgroup()?.stats()?)
    }

    /// Freezes every process of the container (`cgroup.freeze`), waiting at most `timeout`
    /// for the kernel to report it frozen.
    ///
    /// # Errors
    ///
    /// [`ControlError::NoCgroup`], a write error, or a timeout.
    pub fn freeze(&self, timeout: Duration) -> Result<(), ControlError> {
        Ok(self.need_cgroup()?.freeze(timeout)?)
    }

    /// Thaws a frozen container, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`freeze`](Child::freeze).
    pub fn thaw(&self, timeout: Duration) -> Result<(), ControlError> {
        Ok(self.need_cgroup()?.thaw(timeout)?)
    }

    /// Kills every process of the container at once (`cgroup.kill`), including ones that
    /// left its pid namespace's view (e.g. processes started by [`exec`](Child::exec)).
    ///
    /// # Errors
    ///
    /// [`ControlError::NoCgroup`] or a write error.
    pub fn kill_all(&self) -> Result<(), ControlError> {
        Ok(self.need_cgroup()?.kill()?)
    }

    /// A watcher of the container's cgroup events: it became empty, was frozen, hit its
    /// memory limit, was OOM-killed. It is pollable (`AsFd`) and has a blocking `wait`.
    ///
    /// # Errors
    ///
    /// [`ControlError::NoCgroup`] or an inotify error.
    pub fn events(&self) -> Result<hutch_cgroup::watch::EventWatcher, ControlError> {
        Ok(hutch_cgroup::watch::EventWatcher::new(self.need_cgroup()?)?)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.proc.status().is_none() {
            let _ = sys::pidfd_send_signal(self.proc.pidfd.as_fd(), libc::SIGKILL);
            let deadline = Instant::now() + DROP_WAIT;
            if let Ok(Some(_)) = self.wait_until(Some(deadline)) {
                // Ended and reaped; the cgroup (if any) is removed by its own Drop below.
                return;
            }
            // Still not gone: a task stuck in the kernel (uninterruptible sleep on a hung
            // mount, say) ends only when the kernel lets it. Hand it to the reaper thread,
            // which reaps it (and what was exec'd into it) and then removes the cgroup, so
            // that dropping never blocks without bound.
            reaper::adopt(reaper::Orphan {
                proc: self.proc.clone(),
                registry: self.link.registry.clone(),
                _cgroup: self.cgroup.take(),
                _network: self.network.take(),
            });
        }
        // The cgroup (if any) is removed by its own Drop, after the process is gone.
    }
}

/// What [`Child::wait_with_output_timeout`] collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOutput {
    /// The status and everything read from the piped streams.
    pub output: Output,
    /// Whether the timeout passed and the container was killed.
    pub timed_out: bool,
}

/// How long dropping a [`Child`] waits for the killed container to end before handing it to
/// the reaper thread.
const DROP_WAIT: Duration = Duration::from_secs(1);

/// One background thread that reaps containers whose handles were dropped while they were
/// still ending, then removes their cgroups. Started on first use.
mod reaper {
    use std::os::fd::AsFd;
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::Duration;

    use super::{ExecRegistry, Proc, Weak};
    use crate::cgroup::ContainerCgroup;
    use crate::sys;

    pub(super) struct Orphan {
        pub proc: Arc<Proc>,
        pub registry: ExecRegistry,
        /// Removed (by its own `Drop`) when the orphan is dropped, after it was reaped.
        pub _cgroup: Option<ContainerCgroup>,
        /// Torn down likewise, after the cgroup.
        pub _network: Option<crate::net::ContainerNetwork>,
    }

    fn sender() -> &'static Mutex<Sender<Orphan>> {
        static TX: OnceLock<Mutex<Sender<Orphan>>> = OnceLock::new();
        TX.get_or_init(|| {
            let (tx, rx) = channel();
            std::thread::Builder::new()
                .name("hutch-reaper".into())
                .spawn(move || run(rx))
                .expect("spawning the hutch reaper thread");
            Mutex::new(tx)
        })
    }

    pub(super) fn adopt(o: Orphan) {
        let tx = sender().lock().unwrap_or_else(|e| e.into_inner());
        // The receiver lives as long as the process: sending cannot fail.
        let _ = tx.send(o);
    }

    fn run(rx: Receiver<Orphan>) {
        let mut orphans: Vec<Orphan> = Vec::new();
        loop {
            if orphans.is_empty() {
                match rx.recv() {
                    Ok(o) => orphans.push(o),
                    Err(_) => return,
                }
            }
            orphans.extend(rx.try_iter());
            let fds: Vec<_> = orphans.iter().map(|o| o.proc.pidfd.as_fd()).collect();
            let _ = sys::poll_any(&fds, Some(Duration::from_millis(200)));
            drop(fds);
            orphans.retain(|o| {
                let live: Vec<Arc<Proc>> = {
                    let list = o.registry.lock().unwrap_or_else(|e| e.into_inner());
                    list.iter().filter_map(Weak::upgrade).collect()
                };
                for p in live {
                    let _ = p.try_reap();
                }
                // Ended and reaped (or reaping fails for good): the cgroup goes with it.
                !matches!(o.proc.try_reap(), Ok(Some(_)) | Err(_))
            });
        }
    }
}

/// How often a waiting container handle looks for processes `exec`ed into it meanwhile.
const REGISTRY_RESCAN: Duration = Duration::from_millis(250);

/// Why a cgroup operation on a running container failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The container has no cgroup (it was disabled, or the host had no usable cgroup2).
    #[error("the container of pid {pid} has no cgroup")]
    NoCgroup {
        /// The container's first process.
        pid: Pid,
    },
    /// The cgroup operation failed.
    #[error("cgroup operation failed")]
    Cgroup(#[from] hutch_cgroup::CgroupError),
    /// The event watcher could not be set up.
    #[error("cgroup event watcher")]
    Watch(#[from] hutch_cgroup::watch::WatchError),
}

#[allow(dead_code)]
fn _assert_send(c: Child) -> impl Send {
    c
}

#[allow(dead_code)]
fn _spawn_error_is_send_sync(e: SpawnError) -> impl Send + Sync {
    e
}
