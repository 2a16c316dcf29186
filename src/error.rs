//! Errors of the facade.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::sys::step;

/// A step of preparing a container, in the parent or in the child, named in [`SpawnError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Setting the parent-death signal (`prctl(PR_SET_PDEATHSIG)`).
    DeathSignal,
    /// Waiting for the parent to finish its part (id maps, time offsets, cgroup).
    Sync,
    /// Creating the time namespace (`unshare(CLONE_NEWTIME)`).
    TimeNamespace,
    /// Entering the new time namespace (`setns` on `time_for_children`).
    EnterTimeNamespace,
    /// Setting the host name (`sethostname`).
    Hostname,
    /// Setting the NIS domain name (`setdomainname`).
    Domainname,
    /// Bringing up `lo` in the new network namespace.
    Loopback,
    /// Setting up the mount namespace; the inner error names the mount step and path.
    Mount,
    /// Dropping supplementary groups (`setgroups`).
    Setgroups,
    /// Setting the group id (`setresgid`).
    Setgid,
    /// Setting the user id (`setresuid`).
    Setuid,
    /// Changing to the working directory (`chdir`).
    Chdir,
    /// Connecting the standard streams (`dup2`).
    Stdio,
    /// Resetting the signal mask and dispositions.
    Signals,
    /// Forking the program from the init process.
    InitFork,
    /// Executing the program (`execve`).
    Exec,
    /// Joining a running container's namespaces (`setns` on its pidfd).
    Join,
    /// Forking into the joined pid namespace.
    JoinFork,
    /// Closing descriptors.
    CloseFds,
    /// Writing the child's own user-namespace id maps (`/proc/self/uid_map`, ...).
    IdMap,
    /// A step this version does not know (a report from a mismatched build).
    Unknown(u32),
}

impl Step {
    pub(crate) fn from_code(code: u32) -> Step {
        match code {
            step::DEATH_SIGNAL => Step::DeathSignal,
            step::SYNC => Step::Sync,
            step::TIME_NAMESPACE => Step::TimeNamespace,
            step::ENTER_TIME_NAMESPACE => Step::EnterTimeNamespace,
            step::HOSTNAME => Step::Hostname,
            step::DOMAINNAME => Step::Domainname,
            step::LOOPBACK => Step::Loopback,
            step::CHDIR => Step::Chdir,
            step::STDIO => Step::Stdio,
            step::SIGNALS => Step::Signals,
            step::INIT_FORK => Step::InitFork,
            step::EXEC => Step::Exec,
            step::JOIN => Step::Join,
            step::JOIN_FORK => Step::JoinFork,
            step::SETGROUPS => Step::Setgroups,
            step::SETGID => Step::Setgid,
            step::SETUID => Step::Setuid,
            step::CLOSE_FDS => Step::CloseFds,
            step::ID_MAP => Step::IdMap,
            other => Step::Unknown(other),
        }
    }

    /// The step's short name, as used in error messages (`"exec"`, `"hostname"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Step::DeathSignal => "death signal",
            Step::Sync => "sync",
            Step::TimeNamespace => "time namespace",
            Step::EnterTimeNamespace => "enter time namespace",
            Step::Hostname => "hostname",
            Step::Domainname => "domainname",
            Step::Loopback => "loopback",
            Step::Mount => "mount",
            Step::Setgroups => "setgroups",
            Step::Setgid => "setgid",
            Step::Setuid => "setuid",
            Step::Chdir => "chdir",
            Step::Stdio => "stdio",
            Step::Signals => "signals",
            Step::InitFork => "init fork",
            Step::Exec => "exec",
            Step::Join => "join",
            Step::JoinFork => "join fork",
            Step::CloseFds => "close fds",
            Step::IdMap => "id map",
            Step::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Unknown(n) => write!(f, "unknown step {n}"),
            s => f.write_str(s.name()),
        }
    }
}

/// Why [`Command::spawn`](crate::Command::spawn) (or `output`, `status`) failed.
///
/// Every variant that comes from the operating system keeps its [`io::Error`] as the
/// [`source`](std::error::Error::source), so `errno` is never lost; [`SpawnError::raw_os_error`]
/// reaches it directly. Nothing is left behind when spawning fails: the child (if one was
/// created) is killed and reaped, its cgroup removed and every descriptor closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// A string that must become a C string contains a NUL byte.
    #[error("{what} {value:?} contains a NUL byte")]
    NulByte {
        /// What the string is (`"argument"`, `"program"`, `"environment variable"`, ...).
        what: &'static str,
        /// The offending value.
        value: OsString,
    },
    /// The host name is longer than the kernel's limit of 64 bytes.
    #[error("host or domain name {hostname:?} is {len} bytes long; the kernel allows at most 64")]
    HostnameTooLong {
        /// The host name asked for.
        hostname: OsString,
        /// Its length in bytes.
        len: usize,
    },
    /// The configuration contradicts itself (e.g. a hostname without a UTS namespace).
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The mount plan is invalid (checked in the parent, before anything was created).
    #[error("invalid mount plan")]
    MountPlan(#[source] hutch_ns::mount::MountPlanError),
    /// A mount step failed in the child.
    #[error("step \"mount\" failed in the child")]
    Mount(#[source] hutch_ns::mount::MountError),
    /// The user-namespace id maps are invalid or could not be written.
    #[error("user namespace id maps for pid {pid}")]
    IdMap {
        /// The child whose maps were being written (0 when the maps were rejected before
        /// any child was created).
        pid: i32,
        /// What went wrong.
        #[source]
        source: hutch_ns::idmap::IdMapError,
    },
    /// The time-namespace offsets could not be written.
    #[error("time namespace offsets for pid {pid}")]
    TimeOffsets {
        /// The child.
        pid: i32,
        /// What went wrong.
        #[source]
        source: hutch_ns::time::TimeNsError,
    },
    /// A step in the parent failed (pipes, `clone3`, reading the report pipe).
    #[error("{op} failed")]
    Parent {
        /// What was being done, e.g. `"clone3"`, `"pipe2"`.
        op: &'static str,
        /// The error from the system call.
        #[source]
        source: io::Error,
    },
    /// `clone3` failed.
    #[error("clone3 with namespaces {namespaces} failed")]
    Clone {
        /// The namespaces asked for.
        namespaces: String,
        /// The error from the system call.
        #[source]
        source: io::Error,
    },
    /// A step in the child failed.
    #[error("step \"{step}\" failed{}", on.as_ref().map(|p| format!(" on {p:?}")).unwrap_or_default())]
    Child {
        /// The step.
        step: Step,
        /// The path, name or value involved, if any.
        on: Option<PathBuf>,
        /// The errno the step failed with.
        #[source]
        source: io::Error,
    },
    /// The target of an `exec` into a running container has ended or cannot be inspected.
    #[error("cannot join the container of pid {pid}")]
    JoinTarget {
        /// The container's process.
        pid: i32,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A cgroup operation failed (creating the container's cgroup, checking controllers,
    /// applying limits).
    #[error("cgroup setup failed")]
    Cgroup(#[source] hutch_cgroup::CgroupError),
    /// A cgroup limit has a value the kernel would reject (checked before anything is made).
    #[error("invalid value for {file}")]
    InvalidLimit {
        /// The cgroup file the limit is for, e.g. `pids.max`.
        file: std::borrow::Cow<'static, str>,
        /// What is wrong with the value.
        #[source]
        source: hutch_cgroup::ParseError,
    },
    /// The device access policy could not be loaded or attached to the container's cgroup.
    #[error("device access policy")]
    Devices(#[source] hutch_cgroup::device::DeviceError),
}

impl SpawnError {
    /// The step that failed, for errors reported by the child.
    pub fn step(&self) -> Option<Step> {
        match self {
            SpawnError::Child { step, .. } => Some(*step),
            SpawnError::Mount(_) => Some(Step::Mount),
            _ => None,
        }
    }

    /// The `errno` behind this error, if it came from a system call.
    pub fn raw_os_error(&self) -> Option<i32> {
        let mut e: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(err) = e {
            if let Some(io) = err.downcast_ref::<io::Error>()
                && let Some(n) = io.raw_os_error()
            {
                return Some(n);
            }
            e = err.source();
        }
        None
    }
}

impl From<SpawnError> for io::Error {
    fn from(e: SpawnError) -> io::Error {
        let kind = e
            .raw_os_error()
            .map(|n| io::Error::from_raw_os_error(n).kind())
            .unwrap_or(io::ErrorKind::InvalidInput);
        io::Error::new(kind, e)
    }
}

/// Formats an error with its whole chain of sources: `a: b: c`.
///
/// Handy for command-line programs that want hutch's full message (step, path and errno) in one
/// line.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
