//! A program to run in a container: arguments, environment, streams.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};

use hutch_ns::Namespaces;

use crate::error::Pid;
use crate::{Child, Container, SpawnError, Stdio};

/// A running container to join instead of creating a new one (the `docker exec` path).
#[derive(Debug)]
pub(crate) struct JoinTarget {
    /// A duplicate of the container's pidfd (duplicating can fail: the errno is reported at
    /// spawn).
    pub pidfd: Result<OwnedFd, i32>,
    pub pid: Pid,
    pub namespaces: Namespaces,
    pub cgroup: Option<Result<OwnedFd, i32>>,
    /// The environment and working directory of the container's program, which processes
    /// exec'd into it start from.
    pub exec_defaults: std::sync::Arc<crate::child::ExecDefaults>,
    /// Whether the container's user namespace allows `setgroups`.
    pub setgroups: hutch_ns::idmap::SetGroups,
    /// Where the new process is registered, so waiting for the container reaps it.
    pub registry: crate::child::ExecRegistry,
}

/// A program to run inside a container, shaped like [`std::process::Command`].
///
/// Made by [`Container::command`] (a new container for each spawn) or
/// [`Child::exec`](crate::Child::exec) (join a running container). Setters take `&mut self`,
/// return `&mut Self` and never fail; problems are reported by [`spawn`](Command::spawn).
#[derive(Debug)]
pub struct Command {
    pub(crate) container: Container,
    pub(crate) join: Option<JoinTarget>,
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: BTreeMap<OsString, Option<OsString>>,
    pub(crate) env_clear: bool,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) stdin: Option<Stdio>,
    pub(crate) stdout: Option<Stdio>,
    pub(crate) stderr: Option<Stdio>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    /// Descriptors passed to the program: `(number inside, descriptor)`.
    pub(crate) passed_fds: Vec<(RawFd, OwnedFd)>,
}

/// Which stream defaults apply: `spawn`/`status` inherit, `output` captures.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Defaults {
    Inherit,
    Output,
}

impl Command {
    pub(crate) fn new_in(container: Container, program: &OsStr) -> Command {
        Command {
            container,
            join: None,
            program: program.to_owned(),
            args: Vec::new(),
            env: BTreeMap::new(),
            env_clear: false,
            cwd: None,
            stdin: None,
            stdout: None,
            stderr: None,
            uid: None,
            gid: None,
            passed_fds: Vec::new(),
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .insert(key.as_ref().to_owned(), Some(value.as_ref().to_owned()));
        self
    }

    /// Sets environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.insert(key.as_ref().to_owned(), None);
        self
    }

    /// Starts from an empty environment instead of the caller's (and the container's, see
    /// [`Container::env`]).
    ///
    /// Like `std::process::Command`, a command inherits the caller's environment by default;
    /// a container that should not see it starts clean: `container.env_clear()`, or this.
    pub fn env_clear(&mut self) -> &mut Self {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// Sets the working directory, as seen inside the container. Without it the program
    /// starts in the caller's working directory (without a rootfs; like
    /// `std::process::Command`) or in `/` of a rootfs; a process started with
    /// [`Child::exec`](crate::Child::exec) starts where the container's program did.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Sets standard input (default: inherited; `null` for [`output`](Command::output)).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.stdin = Some(cfg.into());
        self
    }

    /// Sets standard output (default: inherited; piped for [`output`](Command::output)).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.stdout = Some(cfg.into());
        self
    }

    /// Sets standard error (default: inherited; piped for [`output`](Command::output)).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.stderr = Some(cfg.into());
        self
    }

    /// Passes `fd` to the program as descriptor number `number` (3 or above; 0-2 are set with
    /// [`stdin`](Command::stdin) and friends).
    ///
    /// Every other descriptor of the caller stays out of the container: the child marks all
    /// descriptors above 2 close-on-exec before it runs the program, including ones the caller
    /// (or its own parent, or C code) opened without `O_CLOEXEC`. This is the only way to give
    /// a container a descriptor on purpose. The command keeps `fd` (and can spawn again); the
    /// program gets a duplicate.
    ///
    /// # Errors
    ///
    /// Reported by [`spawn`](Command::spawn): a number below 3, the same number twice, or a
    /// number not below the `RLIMIT_NOFILE` soft limit ([`SpawnError::PassFd`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let status = hutch::Container::new()
    ///     .command("/bin/sh").arg("-c").arg("ls -l /proc/self/fd/3")
    ///     .pass_fd(3, listener)
    ///     .status()?;
    /// # Ok(()) }
    /// ```
    pub fn pass_fd(&mut self, number: RawFd, fd: impl Into<OwnedFd>) -> &mut Self {
        self.passed_fds.push((number, fd.into()));
        self
    }

    /// Runs the program as this user id, as seen inside the container.
    ///
    /// `u32::MAX` (which the kernel takes as "no change") and, in a user namespace, ids that
    /// are not mapped there are refused by [`spawn`](Command::spawn) with
    /// [`SpawnError::InvalidId`].
    #[doc(alias = "setresuid")]
    pub fn uid(&mut self, uid: u32) -> &mut Self {
        self.uid = Some(uid);
        self
    }

    /// Runs the program as this group id, as seen inside the container (supplementary groups
    /// are dropped where the namespace allows it). Checked like [`uid`](Command::uid).
    #[doc(alias = "setresgid")]
    pub fn gid(&mut self, gid: u32) -> &mut Self {
        self.gid = Some(gid);
        self
    }

    /// The program.
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments, without the program.
    pub fn get_args(&self) -> impl Iterator<Item = &OsStr> {
        self.args.iter().map(OsString::as_os_str)
    }

    /// The container configuration this command spawns with.
    pub fn container(&self) -> &Container {
        &self.container
    }

    /// Starts the program in its container and returns a handle to it.
    ///
    /// Everything is prepared first (strings, mount plan, id maps, capability plan, the
    /// container's cgroup), then `clone3` creates the child in its new namespaces and cgroup
    /// at once; the child applies each layer with raw system calls and execs the program.
    /// # Errors
    ///
    /// A [`SpawnError`] that names the step that failed (in the parent or in the child), the
    /// path or value involved and the `errno`. Nothing is left behind: the child is killed and
    /// reaped, its cgroup removed, every descriptor closed.
    ///
    /// # References
    ///
    /// [clone3(2)](https://man7.org/linux/man-pages/man2/clone3.2.html),
    /// [namespaces(7)](https://man7.org/linux/man-pages/man7/namespaces.7.html),
    /// [cgroups(7)](https://man7.org/linux/man-pages/man7/cgroups.7.html)
    #[doc(alias = "clone3")]
    #[doc(alias = "execve")]
    pub fn spawn(&mut self) -> Result<Child, SpawnError> {
        crate::spawn::spawn(self, Defaults::Inherit)
    }

    /// Runs the program to its end, with standard output and error captured (unless set
    /// otherwise) and standard input from `/dev/null`.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Command::spawn), or a [`SpawnError::Parent`] when reading the output or
    /// waiting fails.
    pub fn output(&mut self) -> Result<Output, SpawnError> {
        let child = crate::spawn::spawn(self, Defaults::Output)?;
        child
            .wait_with_output()
            .map_err(|source| SpawnError::Parent {
                op: "reading the output",
                source,
            })
    }

    /// Like [`output`](Command::output), but kills the container once `timeout` has passed
    /// (see [`Child::wait_with_output_timeout`]).
    ///
    /// # Errors
    ///
    /// As [`output`](Command::output).
    pub fn output_timeout(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<crate::TimedOutput, SpawnError> {
        let child = crate::spawn::spawn(self, Defaults::Output)?;
        child
            .wait_with_output_timeout(timeout)
            .map_err(|source| SpawnError::Parent {
                op: "reading the output",
                source,
            })
    }

    /// Runs the program to its end with inherited streams and returns its status.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Command::spawn), or a [`SpawnError::Parent`] when waiting fails.
    pub fn status(&mut self) -> Result<ExitStatus, SpawnError> {
        let mut child = self.spawn()?;
        child.wait().map_err(|source| SpawnError::Parent {
            op: "waiting",
            source,
        })
    }
}
