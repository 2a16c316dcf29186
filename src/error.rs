//! Errors of the facade.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::num::NonZeroI32;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::process::ExitStatus;

use hutch_ns::idmap::IdKind;
use hutch_ns::{Namespace, Namespaces};

use crate::sys::step;

/// A process id, as seen by the caller (never 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(NonZeroI32);

impl Pid {
    /// The pid, if `pid` is a valid process id (above zero).
    pub fn new(pid: i32) -> Option<Pid> {
        if pid > 0 {
            NonZeroI32::new(pid).map(Pid)
        } else {
            None
        }
    }

    /// The number.
    pub fn get(self) -> i32 {
        self.0.get()
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

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
    /// Closing descriptors, or marking them close-on-exec (`close_range`).
    CloseFds,
    /// Writing the child's own user-namespace id maps (`/proc/self/uid_map`, ...).
    IdMap,
    /// Moving a passed descriptor to its number ([`Command::pass_fd`](crate::Command::pass_fd)).
    PassFd,
    /// Making the process non-dumpable before it holds a copy of the caller inside the
    /// container (`prctl(PR_SET_DUMPABLE)`).
    Dumpable,
    /// Executing the init program (`execveat` of its memfd).
    InitExec,
    /// The first instructions of the child, before any other step.
    Start,
    /// Applying the capability plan (bounding set, ids, capset, ambient, no_new_privs); the
    /// inner error names the sub-step and capability.
    Capabilities,
    /// Writing an LSM exec label (AppArmor profile, SELinux context).
    LsmLabel,
    /// Enforcing the Landlock ruleset (`landlock_restrict_self`).
    Landlock,
    /// Installing the seccomp filter (`seccomp(SECCOMP_SET_MODE_FILTER)`).
    Seccomp,
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
            step::MOUNT => Step::Mount,
            step::PASS_FD => Step::PassFd,
            step::DUMPABLE => Step::Dumpable,
            step::INIT_EXEC => Step::InitExec,
            step::START | 0 => Step::Start,
            step::CAPABILITIES => Step::Capabilities,
            step::LSM_LABEL => Step::LsmLabel,
            step::LANDLOCK => Step::Landlock,
            step::SECCOMP => Step::Seccomp,
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
            Step::PassFd => "pass fd",
            Step::Dumpable => "dumpable",
            Step::InitExec => "init exec",
            Step::Start => "start",
            Step::Capabilities => "capabilities",
            Step::LsmLabel => "lsm label",
            Step::Landlock => "landlock",
            Step::Seccomp => "seccomp",
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

/// What a failed step of the child acted on ([`SpawnError::Child`]).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A file or directory: the program, the working directory, an id-map or namespace file.
    Path(PathBuf),
    /// A host or domain name.
    Name(std::ffi::OsString),
    /// A network interface of the container (`lo`).
    Interface(&'static str),
    /// A user id.
    Uid(u32),
    /// A group id.
    Gid(u32),
    /// A standard stream: `stdin`, `stdout` or `stderr`.
    Stream(&'static str),
    /// A descriptor number inside the container.
    Descriptor(i32),
}

impl Subject {
    /// The path, for [`Subject::Path`].
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Subject::Path(p) => Some(p),
            _ => None,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Path(p) => write!(f, "{p:?}"),
            Subject::Name(n) => write!(f, "{n:?}"),
            Subject::Interface(i) => write!(f, "interface {i}"),
            Subject::Uid(u) => write!(f, "uid {u}"),
            Subject::Gid(g) => write!(f, "gid {g}"),
            Subject::Stream(s) => f.write_str(s),
            Subject::Descriptor(n) => write!(f, "descriptor {n}"),
        }
    }
}

/// Why the program could not be executed, found out after `execve` failed: the kernel's
/// errno (`ENOENT`, `EACCES`) names neither the file nor what about it is wrong.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecProblem {
    /// The program is a script whose interpreter (its `#!` line) does not exist in the
    /// container.
    MissingInterpreter(PathBuf),
    /// The program is a dynamically linked ELF file whose loader (its `PT_INTERP`) does not
    /// exist in the container: typically a program of one distribution in another's rootfs.
    MissingLoader(PathBuf),
    /// The program is a directory.
    Directory,
    /// The program is a file without execute permission.
    NotExecutable {
        /// Its permission bits.
        mode: u32,
    },
}

impl ExecProblem {
    /// Why executing the file at `path` failed with `errno` (`ENOENT`, `EACCES`), from the
    /// file itself: a directory, no execute permission, or the interpreter of a script / the
    /// dynamic loader of an ELF program it names (the kernel answers `ENOENT` for those,
    /// naming neither). `path` is where the caller can read the file (for a container, its
    /// path mapped to the caller's side); whether the interpreter or loader is really missing
    /// in the container is not checked. A spawn does all this itself and returns
    /// [`SpawnError::Exec`] where it can see the container's files as they are (the caller's
    /// tree or a rootfs, no bind mounts of the caller's, not a minimal tree, not a process
    /// exec'd into a running container); this is for callers that can map paths the library
    /// cannot (a program under a bind mount of theirs).
    ///
    /// # Examples
    ///
    /// ```
    /// use hutch::ExecProblem;
    /// assert_eq!(
    ///     ExecProblem::of_file(std::path::Path::new("/"), libc::EACCES),
    ///     Some(ExecProblem::Directory)
    /// );
    /// ```
    pub fn of_file(path: &std::path::Path, errno: i32) -> Option<ExecProblem> {
        crate::spawn::program::explain_exec_failure(
            &crate::spawn::program::View::Host,
            path,
            errno,
            false,
            &|_| true,
        )
    }

    /// The exit status Docker uses for it: 127 when something is not found, 126 when the
    /// program cannot be executed.
    pub fn docker_exit_code(&self) -> u8 {
        match self {
            ExecProblem::MissingInterpreter(_) | ExecProblem::MissingLoader(_) => 127,
            _ => 126,
        }
    }
}

impl fmt::Display for ExecProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecProblem::MissingInterpreter(p) => {
                write!(
                    f,
                    "its interpreter {p:?} (from its #! line) does not exist in the container"
                )?;
                if p.as_os_str().as_encoded_bytes().ends_with(b"\r") {
                    f.write_str(
                        " (the script has Windows line endings: convert it with dos2unix)",
                    )?;
                }
                Ok(())
            }
            ExecProblem::MissingLoader(p) => write!(
                f,
                "its dynamic loader {p:?} does not exist in the container"
            ),
            ExecProblem::Directory => f.write_str("it is a directory"),
            ExecProblem::NotExecutable { mode } => {
                write!(f, "it is not executable (mode {mode:o}; chmod +x it)")
            }
        }
    }
}

/// The exit status of a process is lost: someone reaped it before it was waited for. The
/// kernel does that by itself when this process ignores `SIGCHLD` (`SIG_IGN` or
/// `SA_NOCLDWAIT`, perhaps inherited through exec), and only Linux 6.15 and later keep the
/// status for the process's pidfd; another thread's `waitpid(-1)` would do it too.
///
/// [`Child::wait`](crate::Child::wait) and friends return it inside their `io::Error` (kind
/// [`Unsupported`](std::io::ErrorKind::Unsupported)); find it with
/// `err.get_ref().and_then(|e| e.downcast_ref::<ExitStatusLost>())`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the process was reaped before it was waited for, and its exit status is lost: this \
     process ignores SIGCHLD (SIG_IGN or SA_NOCLDWAIT) and this kernel keeps no exit status for \
     a pidfd (Linux 6.15+ does; set SIGCHLD to SIG_DFL before spawning), or another thread \
     reaped it (waitpid(-1))"
)]
pub struct ExitStatusLost;

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
    /// A setting needs a namespace that the container does not create (e.g. a hostname
    /// without a UTS namespace, mounts without a mount namespace, an init without a pid
    /// namespace).
    #[error(
        "{what} needs a new {namespace} namespace (Namespaces::{}), which this container \
         shares with the caller",
        format!("{:?}", .namespace).to_uppercase()
    )]
    NeedsNamespace {
        /// What was asked for, e.g. `"a hostname"`, `"a fresh /proc"`.
        what: &'static str,
        /// The namespace it needs.
        namespace: Namespace,
    },
    /// The program name is empty.
    #[error("the program name is empty")]
    EmptyProgram,
    /// An environment variable name is empty or contains `=`.
    #[error("environment variable name {name:?} is empty or contains '='")]
    InvalidEnvName {
        /// The name.
        name: OsString,
    },
    /// A cgroup setting was made although the container's cgroup is disabled
    /// ([`Container::cgroup(false)`](crate::Container::cgroup)).
    #[error("{what} is set but the container's cgroup is disabled")]
    CgroupDisabled {
        /// The setting, e.g. `"a memory limit"`, `"cgroup_parent"`.
        what: &'static str,
    },
    /// A user or group id that the kernel treats specially (`u32::MAX` means "no change" to
    /// `setresuid`), or one that is not mapped in the container's user namespace.
    #[error("{kind} {id} {reason}")]
    InvalidId {
        /// User or group.
        kind: IdKind,
        /// The id.
        id: u32,
        /// Why, e.g. `"is not mapped in the container's user namespace"`.
        reason: &'static str,
    },
    /// A descriptor passed with [`Command::pass_fd`](crate::Command::pass_fd) cannot be given
    /// that number.
    #[error("cannot pass a descriptor as number {number}: {reason}")]
    PassFd {
        /// The number asked for inside.
        number: RawFd,
        /// Why, e.g. `"0, 1 and 2 are the standard streams"`.
        reason: &'static str,
    },
    /// The mount plan is invalid (checked in the parent, before anything was created).
    #[error("invalid mount plan")]
    MountPlan(#[source] hutch_ns::mount::MountPlanError),
    /// A mount step failed in the child.
    #[error("step \"mount\" failed in the child")]
    Mount(#[source] hutch_ns::mount::MountError),
    /// [`UserNamespace::Remap`](crate::UserNamespace::Remap) was asked for by a caller that
    /// is not root.
    #[error(
        "a remapped user namespace needs a root caller (unprivileged callers map themselves: UserNamespace::MapCaller)"
    )]
    RemapNeedsRoot,
    /// `/etc/subuid` or `/etc/subgid` could not be read or parsed.
    #[error("subordinate id ranges")]
    SubIds(#[source] hutch_ns::idmap::SubIdError),
    /// The user-namespace id maps are invalid (checked before any child was created).
    #[error("invalid user namespace id maps")]
    InvalidIdMap(#[source] hutch_ns::idmap::IdMapError),
    /// The user-namespace id maps could not be written for the child.
    #[error("user namespace id maps for pid {pid}")]
    IdMap {
        /// The child whose maps were being written.
        pid: Pid,
        /// What went wrong.
        #[source]
        source: hutch_ns::idmap::IdMapError,
    },
    /// The time-namespace offsets could not be written.
    #[error("time namespace offsets for pid {pid}")]
    TimeOffsets {
        /// The child.
        pid: Pid,
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
    /// Setting up one of the program's standard streams failed (opening `/dev/null`, making
    /// a pipe, duplicating the caller's descriptor).
    #[error("setting up {stream} failed")]
    Stdio {
        /// `"stdin"`, `"stdout"` or `"stderr"`.
        stream: &'static str,
        /// The error from the system call.
        #[source]
        source: io::Error,
    },
    /// `clone3` failed. When the host's configuration explains it (a sysctl that forbids
    /// user namespaces, a namespace limit of 0), `hint` says which and how to fix it.
    #[error(
        "clone3 with namespaces {namespaces:?} failed{}",
        .hint.as_ref().map(|h| format!(" ({}; fix: {})", h.cause, h.fix)).unwrap_or_default()
    )]
    Clone {
        /// The namespaces asked for.
        namespaces: Namespaces,
        /// What on this host causes the failure, from
        /// [`crate::preflight`](mod@crate::preflight).
        hint: Option<Box<crate::preflight::Hint>>,
        /// The error from the system call.
        #[source]
        source: io::Error,
    },
    /// A step in the child failed.
    #[error("step \"{step}\" failed{}", on.as_ref().map(|s| format!(" on {s}")).unwrap_or_default())]
    Child {
        /// The step.
        step: Step,
        /// What the step acted on, if anything in particular.
        on: Option<Subject>,
        /// The errno the step failed with.
        #[source]
        source: io::Error,
    },
    /// The program could not be executed, and why is known ([`ExecProblem`]); its step is
    /// [`Step::Exec`].
    #[error("cannot execute {}: {problem}", program.display())]
    Exec {
        /// The program, as the container names it.
        program: PathBuf,
        /// What is wrong with it.
        problem: ExecProblem,
        /// The errno of `execve` (`EISDIR` for a directory).
        #[source]
        source: io::Error,
    },
    /// The child died during setup without reporting a failure: killed by a signal (an
    /// out-of-memory kill from its own `memory.max`, a `SIGKILL` from outside, a fault) or
    /// ended, at the step it had reached.
    #[error("the child died at step \"{step}\" before running the program ({status})")]
    ChildDied {
        /// The step the child had reached.
        step: Step,
        /// How it ended (`std::os::unix::process::ExitStatusExt::signal` gives the signal).
        status: ExitStatus,
    },
    /// The target of an `exec` into a running container has ended or cannot be inspected.
    #[error("cannot join the container of pid {pid}")]
    JoinTarget {
        /// The container's process.
        pid: Pid,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A cgroup operation failed (creating the container's cgroup, checking controllers,
    /// applying limits).
    #[error("cgroup setup failed")]
    Cgroup(#[source] hutch_cgroup::CgroupError),
    /// A limit needs a controller this host does not offer where the container's cgroup is
    /// made; `hint` says why (a v1/v2 hybrid, no delegation) and how to fix it.
    #[error("cgroup setup failed ({}; fix: {})", .hint.cause, .hint.fix)]
    CgroupUnavailable {
        /// The error naming the controller and the cgroup.
        #[source]
        source: Box<hutch_cgroup::CgroupError>,
        /// The host-level cause, from [`crate::preflight`](mod@crate::preflight).
        hint: Box<crate::preflight::Hint>,
    },
    /// `cgroup_root` or `cgroup_parent` does not name a cgroup2 directory.
    #[error("{what} {path:?} {reason}")]
    NotCgroup2 {
        /// `"cgroup_root"` or `"cgroup_parent"`.
        what: &'static str,
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `cgroup_root` or `cgroup_parent` could not be inspected (`statfs`).
    #[error("cannot inspect {what} {path:?}")]
    CgroupTarget {
        /// `"cgroup_root"` or `"cgroup_parent"`.
        what: &'static str,
        /// The path given.
        path: PathBuf,
        /// The error of `statfs`.
        #[source]
        source: io::Error,
    },
    /// A cgroup limit has a value the kernel would reject (checked before anything is made).
    #[error("invalid value for {file}")]
    InvalidLimit {
        /// The cgroup file the limit is for, e.g. `pids.max`.
        file: std::borrow::Cow<'static, str>,
        /// What is wrong with the value.
        #[source]
        source: hutch_cgroup::ParseError,
    },
    /// [`Container::limit_cpu`](crate::Container::limit_cpu) got a number of CPUs that
    /// `cpu.max` cannot express.
    #[error("limit_cpu({cores}): {reason}")]
    InvalidCpus {
        /// The number of CPUs asked for.
        cores: f64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The capability plan contradicts itself or the kernel (checked before the clone).
    #[error("invalid capability plan")]
    CapabilityPlan(#[source] hutch_caps::PlanError),
    /// The caller's capability state could not be read (the kernel's last capability, the
    /// bounding set).
    #[error("reading capability state")]
    CapabilityState(#[source] hutch_caps::CapsError),
    /// Applying the capability plan failed in the child.
    #[error("step \"capabilities\" failed in the child")]
    Capabilities(#[source] hutch_caps::CapsFailure),
    /// The network settings contradict each other.
    #[error("invalid network settings: {reason}")]
    NetworkConfig {
        /// What is wrong.
        reason: &'static str,
    },
    /// Creating, opening or attaching to the container's bridge network failed; the inner
    /// error names the network, the interface, the address or port and the errno.
    #[error("network setup failed")]
    Network(#[source] Box<hutch_netns::NetworkError>),
    /// Starting `pasta` for the container failed (not installed, refused, not ready in time).
    #[error("rootless network (pasta) setup failed")]
    Pasta(#[source] Box<hutch_netns::RootlessError>),
    /// The container's network namespace could not be opened through its pidfd.
    #[error("cannot open the container's namespace")]
    NetworkNamespace {
        /// The error.
        #[source]
        source: hutch_ns::NsError,
    },
    /// The container's `/etc/hosts` or `/etc/resolv.conf` could not be written.
    #[error("cannot write the container's name file {path:?}")]
    NetworkFiles {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A namespace to join cannot be joined this way.
    #[error("cannot join a {namespace} namespace: {reason}")]
    JoinNamespace {
        /// Its kind.
        namespace: Namespace,
        /// Why.
        reason: &'static str,
    },
    /// An AppArmor or SELinux label cannot be used (the LSM is not enabled, the profile is
    /// not loaded, the context is malformed) or failed in the child.
    #[error("LSM confinement")]
    Lsm(#[source] Box<crate::confine::lsm::LsmError>),
    /// The Landlock ruleset could not be built (a rule path that does not exist, a kernel
    /// older than a required ABI).
    #[error("Landlock ruleset")]
    Landlock(#[source] Box<crate::confine::landlock::LandlockError>),
    /// The seccomp profile could not be compiled for this container (an unknown system call,
    /// a bad action or argument; the inner error names the entry).
    #[error("seccomp profile")]
    Seccomp(#[source] Box<hutch_seccomp::ProfileError>),
    /// The seccomp filter could not be compiled.
    #[error("seccomp filter")]
    SeccompFilter(#[source] Box<hutch_seccomp::CompileError>),
    /// The seccomp listener did not reach the parent.
    #[error("receiving the seccomp listener")]
    SeccompListener(#[source] Box<hutch_seccomp::SeccompError>),
    /// The seccomp listener could not be set up.
    #[error("seccomp listener")]
    SeccompNotify(#[source] Box<hutch_seccomp::NotifyError>),
    /// A seccomp listener was asked for (`Container::seccomp_listener`), but the container
    /// has no seccomp filter (unconfined, privileged, or a host container).
    #[error(
        "a seccomp listener needs a seccomp filter, and this container has none (unconfined, \
         privileged or host); set a filter or profile with user-notification rules"
    )]
    SeccompListenerWithoutFilter,
    /// The seccomp filter sends some calls to a listener (user notification), but none was
    /// asked for (`Container::seccomp_listener`): those calls would fail with `ENOSYS`.
    #[error(
        "the seccomp filter notifies a listener (SCMP_ACT_NOTIFY / Action::UserNotif), but the \
         container has none: ask for one with Container::seccomp_listener(true)"
    )]
    SeccompNotifyWithoutListener,
    /// The seccomp profile asks for `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`, which changes
    /// how a notified call waits for its listener, but the container has no listener (the
    /// kernel would refuse the filter with a bare `EINVAL`).
    #[error(
        "the seccomp profile's flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a \
         user-notification listener, and the container has none: ask for one with \
         Container::seccomp_listener(true), or drop the flag"
    )]
    SeccompWaitKillableWithoutListener,
    /// The seccomp profile names an OCI `listenerPath` (a socket to hand the listener to), which
    /// hutch does not do: take the listener with `Container::seccomp_listener` and
    /// `Child::take_seccomp_listener` instead.
    #[error(
        "the seccomp profile's listenerPath {path:?} is not supported: take the listener with \
         Container::seccomp_listener(true) and Child::take_seccomp_listener"
    )]
    SeccompListenerPath {
        /// The profile's `listenerPath`.
        path: PathBuf,
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
            SpawnError::Exec { .. } => Some(Step::Exec),
            SpawnError::Mount(_) => Some(Step::Mount),
            SpawnError::ChildDied { step, .. } => Some(*step),
            SpawnError::Capabilities(_) => Some(Step::Capabilities),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_errors_name_what_the_step_acted_on() {
        let e = |step, on| SpawnError::Child {
            step,
            on: Some(on),
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert_eq!(
            e(Step::Setuid, Subject::Uid(1000)).to_string(),
            "step \"setuid\" failed on uid 1000"
        );
        assert_eq!(
            e(Step::Chdir, Subject::Path("/srv/x".into())).to_string(),
            "step \"chdir\" failed on \"/srv/x\""
        );
        assert_eq!(
            e(Step::Loopback, Subject::Interface("lo")).to_string(),
            "step \"loopback\" failed on interface lo"
        );
        assert_eq!(Subject::Descriptor(5).to_string(), "descriptor 5");
        assert_eq!(Subject::Gid(7).path(), None);
    }
}
