//! Landlock: file-system and TCP-port rules the program cannot lift.
//!
//! The ruleset is built in the parent with the `landlock` crate (which allocates) and kept as
//! a close-on-exec descriptor; the child adds its rule paths once more as it sees them and
//! calls `landlock_restrict_self(2)` (and `prctl(PR_SET_NO_NEW_PRIVS)` when the kernel demands
//! it and the container allows it), with raw system calls that allocate nothing.
//!
//! # Paths, mounts and a container's root
//!
//! Landlock rules name *inodes*, not path strings. Each rule path is opened twice: in the
//! parent (the caller's path: a wrong path is an error before anything starts, and a rule on
//! a rootfs directory's host path covers the container's whole tree) and in the child after
//! its mounts (the path as the program sees it). So a rule names both what the caller and what
//! the program call by that name:
//!
//! * with the host's tree, `/usr` inside is the same inode as the caller's `/usr`;
//! * the container's own mounts — its private `/tmp` and `/run`, `/dev`, the fresh `/proc`, a
//!   [`tmpfs`](crate::Container::tmpfs) — are named by their path inside: `read_write("/tmp")`
//!   allows the container's `/tmp`;
//! * a bind mount shows the same inodes at another place: a rule on the host directory
//!   `/srv/data` applies to it inside at, say, `/data`, and so does a rule on `/data`;
//! * a path that exists only on one side is a rule on that side only; inside, only absolute
//!   paths count, and no symbolic link is followed (`openat2` with `RESOLVE_NO_SYMLINKS`), so
//!   nothing in the container's tree can point a rule elsewhere.
//!
//! To decide an access, the kernel walks from the file up to the root of the mount namespace,
//! crossing mount points, and checks every directory on the way against the rules; a mount
//! inside a `read_write` directory is covered by it.
//!
//! Landlock forbids mounting once it is in force, so the child applies it after its mounts.

use std::error::Error as _;
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath,
    Ruleset, RulesetAttr, RulesetCreatedAttr,
};

/// The newest Landlock ABI whose access rights this module handles (and has been tested
/// with). A kernel with a newer ABI is used at this one; its newer rights are left alone
/// (the status reports both numbers).
pub const LANDLOCK_ABI_KNOWN: u32 = 7;

/// The first Landlock ABI with TCP port rules (Linux 6.7).
const ABI_NET: u32 = 4;

/// Access rights introduced after ABI 1, with the ABI that brought them and their kernel
/// name (`LANDLOCK_ACCESS_FS_*` bits, fixed kernel ABI).
const FS_RIGHTS_BY_ABI: [(u32, u64, &str); 3] = [
    (2, 1 << 13, "refer (link or rename across directories)"),
    (3, 1 << 14, "truncate"),
    (5, 1 << 15, "ioctl on devices"),
];

/// Landlock rules for a container: which paths stay readable or writable (everything else in
/// the file system is denied), and which TCP ports may be bound or connected to.
///
/// Setters take `&mut self` and cannot fail; the paths are opened and the ruleset is built
/// when the container is spawned. By default the rules are applied in best effort: what the
/// running kernel supports is enforced, and [`LandlockStatus`] reports exactly what that was.
/// [`require_abi`](Landlock::require_abi) makes a kernel without the needed ABI fail the spawn
/// instead.
///
/// The program, its interpreter and its libraries must be readable (and executable) through
/// a [`read_only`](Landlock::read_only) or [`read_write`](Landlock::read_write) path, or
/// `execve` fails with `EACCES`.
///
/// # Examples
///
/// ```
/// let mut rules = hutch::Landlock::new();
/// rules
///     .read_only("/usr")
///     .read_only("/lib")
///     .read_only("/bin")
///     .read_write("/tmp")
///     .bind_tcp(8080)
///     .require_abi(4);
/// let mut container = hutch::Container::new();
/// container.landlock(rules);
/// ```
///
/// # References
///
/// * [landlock(7)](https://man7.org/linux/man-pages/man7/landlock.7.html)
/// * <https://docs.kernel.org/userspace-api/landlock.html>
#[doc(alias = "landlock_restrict_self")]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Landlock {
    paths: Vec<(PathBuf, PathAccess)>,
    bind: Vec<u16>,
    connect: Vec<u16>,
    restrict_tcp: bool,
    required_abi: Option<u32>,
}

/// What a path rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathAccess {
    ReadOnly,
    ReadWrite,
}

impl Landlock {
    /// No rules yet, best effort. With no path at all, the whole file system is denied.
    pub fn new() -> Landlock {
        Landlock::default()
    }

    /// Allows reading files, listing directories and executing files beneath `path` (a
    /// directory) or `path` itself (a file).
    pub fn read_only(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.paths
            .push((path.as_ref().to_path_buf(), PathAccess::ReadOnly));
        self
    }

    /// Allows every file-system access the kernel's ABI handles beneath `path` (a directory)
    /// or on `path` itself (a file): reading, writing, creating, removing, renaming, ...
    pub fn read_write(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.paths
            .push((path.as_ref().to_path_buf(), PathAccess::ReadWrite));
        self
    }

    /// Allows binding TCP sockets to `port`. The first TCP bind rule turns on the bind
    /// restriction: binding to any other port is then denied (`EACCES`). Needs Landlock ABI 4
    /// (Linux 6.7); below that it is not enforced in best effort, and reported.
    #[doc(alias = "LANDLOCK_ACCESS_NET_BIND_TCP")]
    pub fn bind_tcp(&mut self, port: u16) -> &mut Self {
        self.bind.push(port);
        self
    }

    /// Allows connecting TCP sockets to `port`. The first TCP connect rule turns on the
    /// connect restriction: connecting to any other port is then denied (`EACCES`). Needs
    /// Landlock ABI 4 (Linux 6.7); below that it is not enforced in best effort, and reported.
    #[doc(alias = "LANDLOCK_ACCESS_NET_CONNECT_TCP")]
    pub fn connect_tcp(&mut self, port: u16) -> &mut Self {
        self.connect.push(port);
        self
    }

    /// Restricts TCP binds and connects even without port rules: every TCP bind and connect
    /// is denied except to the ports of [`bind_tcp`](Landlock::bind_tcp) and
    /// [`connect_tcp`](Landlock::connect_tcp).
    pub fn restrict_tcp(&mut self) -> &mut Self {
        self.restrict_tcp = true;
        self
    }

    /// Best effort (the default): enforce what the running kernel supports and report the
    /// rest in [`LandlockStatus`]; a kernel without Landlock enforces nothing. Undoes
    /// [`require_abi`](Landlock::require_abi).
    pub fn best_effort(&mut self) -> &mut Self {
        self.required_abi = None;
        self
    }

    /// Fails the spawn when the kernel's Landlock ABI is older than `abi` (or Landlock is
    /// missing). Everything that ABI `abi` has is then enforced; rights of newer ABIs stay
    /// best effort. ABI 1 is Linux 5.13, 2: 5.19 (refer), 3: 6.2 (truncate), 4: 6.7 (TCP),
    /// 5: 6.10 (device ioctl), 6: 6.12, 7: 6.15.
    pub fn require_abi(&mut self, abi: u32) -> &mut Self {
        self.required_abi = Some(abi);
        self
    }

    fn handles_bind(&self) -> bool {
        self.restrict_tcp || !self.bind.is_empty()
    }

    fn handles_connect(&self) -> bool {
        self.restrict_tcp || !self.connect.is_empty()
    }
}

/// Why Landlock is not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LandlockUnavailable {
    /// The kernel was built without Landlock (`ENOSYS`): it needs `CONFIG_SECURITY_LANDLOCK`.
    NotBuilt,
    /// Landlock is built in but not enabled at boot (`EOPNOTSUPP`): add `landlock` to the
    /// `lsm=` kernel parameter.
    NotEnabled,
}

impl fmt::Display for LandlockUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LandlockUnavailable::NotBuilt => {
                "the kernel is built without Landlock (CONFIG_SECURITY_LANDLOCK)"
            }
            LandlockUnavailable::NotEnabled => {
                "Landlock is not enabled at boot (add `landlock` to the `lsm=` kernel parameter)"
            }
        })
    }
}

/// How much of the requested Landlock rules the kernel enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enforcement {
    /// Everything, up to [`LANDLOCK_ABI_KNOWN`].
    Full,
    /// Some of it: [`LandlockStatus::not_enforced`] lists the rest.
    Partial,
    /// Nothing: Landlock is not available.
    None,
}

/// What Landlock enforces for a prepared ruleset: the outcome of best effort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandlockStatus {
    kernel: Result<u32, LandlockUnavailable>,
    abi: u32,
    handled_fs: u64,
    handled_net: u64,
    not_enforced: Vec<&'static str>,
}

impl LandlockStatus {
    /// The running kernel's Landlock ABI, or why there is none.
    pub fn kernel_abi(&self) -> Result<u32, LandlockUnavailable> {
        self.kernel
    }

    /// The ABI the ruleset was built for: the kernel's, capped at [`LANDLOCK_ABI_KNOWN`]; 0
    /// without Landlock.
    pub fn abi(&self) -> u32 {
        self.abi
    }

    /// Whether everything requested is enforced.
    pub fn enforcement(&self) -> Enforcement {
        if self.abi == 0 {
            Enforcement::None
        } else if self.not_enforced.is_empty() {
            Enforcement::Full
        } else {
            Enforcement::Partial
        }
    }

    /// The file-system access rights the ruleset handles (denied unless a rule allows them),
    /// as the kernel's `LANDLOCK_ACCESS_FS_*` bits.
    #[doc(alias = "handled_access_fs")]
    pub fn handled_fs(&self) -> u64 {
        self.handled_fs
    }

    /// The network access rights the ruleset handles, as the kernel's `LANDLOCK_ACCESS_NET_*`
    /// bits (1: bind TCP, 2: connect TCP).
    #[doc(alias = "handled_access_net")]
    pub fn handled_net(&self) -> u64 {
        self.handled_net
    }

    /// What was asked for (or is part of a complete file-system restriction) but is not
    /// enforced by this kernel, in words; empty when enforcement is full.
    pub fn not_enforced(&self) -> &[&'static str] {
        &self.not_enforced
    }
}

impl fmt::Display for LandlockStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kernel {
            Err(why) => return write!(f, "Landlock not enforced: {why}"),
            Ok(k) if k != self.abi => write!(f, "Landlock ABI {} (kernel: {k})", self.abi)?,
            Ok(_) => write!(f, "Landlock ABI {}", self.abi)?,
        }
        if self.not_enforced.is_empty() {
            f.write_str(": fully enforced")
        } else {
            write!(
                f,
                ": partially enforced; not enforced: {}",
                self.not_enforced.join(", ")
            )
        }
    }
}

/// Why Landlock rules could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LandlockError {
    /// A rule's path could not be opened (for example it does not exist).
    #[error("cannot open Landlock rule path {}", path.display())]
    Path {
        /// The path as given.
        path: PathBuf,
        /// The error from `open(O_PATH)`.
        #[source]
        source: io::Error,
    },
    /// The kernel's Landlock ABI is older than [`Landlock::require_abi`] asked for.
    #[error("Landlock ABI {required} is required, but the kernel has ABI {kernel}")]
    AbiTooOld {
        /// The required ABI.
        required: u32,
        /// The kernel's ABI.
        kernel: u32,
    },
    /// [`Landlock::require_abi`] was used, and the kernel has no Landlock at all.
    #[error("Landlock ABI {required} is required, but {why}")]
    Unavailable {
        /// The required ABI.
        required: u32,
        /// Why there is no Landlock.
        why: LandlockUnavailable,
    },
    /// [`Landlock::require_abi`] asked for an ABI newer than this library handles.
    #[error(
        "Landlock ABI {required} is required, but this version of hutch handles ABIs up to {known}"
    )]
    AbiUnknown {
        /// The required ABI.
        required: u32,
        /// [`LANDLOCK_ABI_KNOWN`].
        known: u32,
    },
    /// `landlock_create_ruleset` failed.
    #[error("landlock_create_ruleset failed")]
    CreateRuleset {
        /// The system call's error.
        #[source]
        source: io::Error,
    },
    /// `landlock_add_rule` failed for a path rule.
    #[error("landlock_add_rule failed for path {}", path.display())]
    AddPathRule {
        /// The rule's path.
        path: PathBuf,
        /// The system call's error.
        #[source]
        source: io::Error,
    },
    /// `landlock_add_rule` failed for a TCP port rule.
    #[error("landlock_add_rule failed for TCP {what} port {port}")]
    AddPortRule {
        /// `"bind"` or `"connect"`.
        what: &'static str,
        /// The port.
        port: u16,
        /// The system call's error.
        #[source]
        source: io::Error,
    },
    /// Moving the ruleset descriptor to a number at or above the spawn's floor failed.
    #[error("fcntl(F_DUPFD_CLOEXEC, {floor}) of the Landlock ruleset failed")]
    Dup {
        /// The lowest number asked for.
        floor: RawFd,
        /// The system call's error.
        #[source]
        source: io::Error,
    },
}

/// A ruleset built in the parent, ready for the child to enforce with [`apply`].
///
/// [`apply`]: PreparedLandlock::apply
#[derive(Debug)]
pub(crate) struct PreparedLandlock {
    /// The ruleset, close-on-exec and numbered at or above the caller's floor; `None` when
    /// the kernel has no Landlock (best effort).
    fd: Option<OwnedFd>,
    status: LandlockStatus,
    /// The rule paths again, for the child to add as it sees them after its mounts: `(path,
    /// rights on a directory, rights on a file)`.
    inside: Vec<(std::ffi::CString, u64, u64)>,
}

impl PreparedLandlock {
    /// What the child will enforce.
    pub(crate) fn status(&self) -> &LandlockStatus {
        &self.status
    }

    /// The ruleset descriptor the child uses, if any (a joining intermediate must keep it
    /// open).
    pub(crate) fn fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(|fd| fd.as_raw_fd())
    }

    /// Child side: enforces the ruleset on the calling thread (and so on the program it
    /// execs). Makes raw system calls only and does not allocate.
    ///
    /// Each absolute rule path is first opened again as the child sees it after its mounts
    /// (without following symbolic links), and added when it names another inode there (the
    /// container's private `/tmp`, its `/dev`, a tmpfs of its own); a path missing inside, or
    /// through a link, is skipped (its rule on the caller's side stands).
    ///
    /// `landlock_restrict_self` needs `no_new_privs` or `CAP_SYS_ADMIN`: when it fails with
    /// `EPERM`, `no_new_privs` is set and the call retried only if `may_set_no_new_privs`
    /// (the container asked for it anyway); otherwise the errno is returned, never a
    /// `no_new_privs` the caller turned off. Returns the errno of the failing call.
    #[doc(alias = "landlock_restrict_self")]
    pub(crate) fn apply(&self, may_set_no_new_privs: bool) -> Result<(), i32> {
        let Some(fd) = &self.fd else {
            return Ok(());
        };
        for (path, dir_rights, file_rights) in &self.inside {
            sys::add_path_rule_inside(fd.as_raw_fd(), path, *dir_rights, *file_rights)?;
        }
        sys::restrict_self(fd.as_raw_fd(), may_set_no_new_privs)
    }
}

/// Parent side: opens the rule paths, builds the ruleset for the running kernel and keeps it
/// as a close-on-exec descriptor numbered `floor` or above (so that the child's descriptor
/// shuffling cannot overwrite it).
///
/// # Errors
///
/// A path that cannot be opened ([`LandlockError::Path`]), a kernel older than a required ABI,
/// or a failing Landlock system call.
pub(crate) fn prepare(config: &Landlock, floor: RawFd) -> Result<PreparedLandlock, LandlockError> {
    // Open every path first: a wrong path is an error on every kernel, Landlock or not.
    let mut opened = Vec::with_capacity(config.paths.len());
    for (path, access) in &config.paths {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
            .open(path)
            .map_err(|source| LandlockError::Path {
                path: path.clone(),
                source,
            })?;
        let is_dir = file
            .metadata()
            .map_err(|source| LandlockError::Path {
                path: path.clone(),
                source,
            })?
            .is_dir();
        opened.push((path, OwnedFd::from(file), is_dir, *access));
    }

    let kernel = sys::kernel_abi();
    if let Some(required) = config.required_abi {
        if required > LANDLOCK_ABI_KNOWN {
            return Err(LandlockError::AbiUnknown {
                required,
                known: LANDLOCK_ABI_KNOWN,
            });
        }
        match kernel {
            Err(why) if required > 0 => return Err(LandlockError::Unavailable { required, why }),
            Ok(k) if k < required => {
                return Err(LandlockError::AbiTooOld {
                    required,
                    kernel: k,
                });
            }
            _ => {}
        }
    }
    let abi = kernel.map_or(0, |k| k.min(LANDLOCK_ABI_KNOWN));
    let status = status_for(config, kernel, abi);
    if abi == 0 {
        return Ok(PreparedLandlock {
            fd: None,
            status,
            inside: Vec::new(),
        });
    }

    let crate_abi = ABI::from(abi as i32);
    let all = AccessFs::from_all(crate_abi);
    let read = AccessFs::from_read(crate_abi);
    let file_rights = AccessFs::from_file(crate_abi);
    let mut net: BitFlags<AccessNet> = BitFlags::EMPTY;
    if abi >= ABI_NET {
        if config.handles_bind() {
            net |= AccessNet::BindTcp;
        }
        if config.handles_connect() {
            net |= AccessNet::ConnectTcp;
        }
    }
    debug_assert_eq!(all.bits(), status.handled_fs);
    debug_assert_eq!(net.bits(), status.handled_net);

    let create = |e: landlock::RulesetError| LandlockError::CreateRuleset {
        source: io_error_of(&e),
    };
    // Hard requirement inside the crate: the rights asked for are exactly what this ABI has,
    // so a mismatch is an error, never a silent drop.
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(all)
        .map_err(create)?;
    if !net.is_empty() {
        ruleset = ruleset.handle_access(net).map_err(create)?;
    }
    let mut created = ruleset.create().map_err(create)?;
    let mut inside = Vec::with_capacity(opened.len());
    for (path, fd, is_dir, access) in opened {
        let mut rights = match access {
            PathAccess::ReadOnly => read,
            PathAccess::ReadWrite => all,
        };
        // Inside, only an absolute path names what the program sees: a relative one would
        // resolve against the child's working directory, not the caller's.
        if path.is_absolute()
            && let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        {
            inside.push((c, rights.bits(), (rights & file_rights).bits()));
        }
        if !is_dir {
            rights &= file_rights;
        }
        created = created
            .add_rule(PathBeneath::new(fd, rights))
            .map_err(|e| LandlockError::AddPathRule {
                path: path.clone(),
                source: io_error_of(&e),
            })?;
    }
    if abi >= ABI_NET {
        for (ports, right, what) in [
            (&config.bind, AccessNet::BindTcp, "bind"),
            (&config.connect, AccessNet::ConnectTcp, "connect"),
        ] {
            for &port in ports {
                created = created.add_rule(NetPort::new(port, right)).map_err(|e| {
                    LandlockError::AddPortRule {
                        what,
                        port,
                        source: io_error_of(&e),
                    }
                })?;
            }
        }
    }
    let fd: Option<OwnedFd> = created.into();
    let fd = match fd {
        Some(fd) => Some(
            sys::dup_at_least(&fd, floor).map_err(|source| LandlockError::Dup { floor, source })?,
        ),
        None => None,
    };
    Ok(PreparedLandlock { fd, status, inside })
}

/// The status a ruleset for `abi` (0: none) will have.
fn status_for(
    config: &Landlock,
    kernel: Result<u32, LandlockUnavailable>,
    abi: u32,
) -> LandlockStatus {
    let mut not_enforced = Vec::new();
    if abi == 0 {
        not_enforced.push("every file-system rule");
    }
    let mut handled_fs = 0;
    if abi > 0 {
        handled_fs = AccessFs::from_all(ABI::from(abi as i32)).bits();
    }
    for (since, bit, name) in FS_RIGHTS_BY_ABI {
        if abi > 0 && abi < since {
            not_enforced.push(name);
        }
        debug_assert_eq!(abi >= since, handled_fs & bit != 0);
    }
    let mut handled_net = 0;
    for (handled, bit, name) in [
        (
            config.handles_bind(),
            1u64,
            "TCP bind rules (need Landlock ABI 4)",
        ),
        (
            config.handles_connect(),
            2u64,
            "TCP connect rules (need Landlock ABI 4)",
        ),
    ] {
        if !handled {
            continue;
        }
        if abi >= ABI_NET {
            handled_net |= bit;
        } else {
            not_enforced.push(name);
        }
    }
    LandlockStatus {
        kernel,
        abi,
        handled_fs,
        handled_net,
        not_enforced,
    }
}

/// The innermost `io::Error` of a `landlock` crate error (its system-call failures carry
/// one); `EINVAL` for its own consistency errors, which have no errno.
fn io_error_of(e: &landlock::RulesetError) -> io::Error {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return match io.raw_os_error() {
                Some(n) => io::Error::from_raw_os_error(n),
                None => io::Error::new(io.kind(), io.to_string()),
            };
        }
        cur = err.source();
    }
    io::Error::from_raw_os_error(libc::EINVAL)
}

/// The system calls of this module.
///
/// # Safety
///
/// Each function is a thin wrapper over one system call with integer or null arguments; the
/// child-side one (`restrict_self`) allocates nothing and touches no lock.
#[allow(unsafe_code)]
mod sys {
    use super::*;
    use std::os::fd::FromRawFd;

    /// `LANDLOCK_CREATE_RULESET_VERSION`: ask `landlock_create_ruleset` for the ABI.
    const CREATE_RULESET_VERSION: libc::c_uint = 1;

    /// The kernel's Landlock ABI.
    pub(super) fn kernel_abi() -> Result<u32, LandlockUnavailable> {
        // SAFETY: with a null attribute pointer, size 0 and the VERSION flag the kernel only
        // returns a number.
        let r = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                CREATE_RULESET_VERSION,
            )
        };
        if r >= 1 {
            return Ok(r as u32);
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EOPNOTSUPP) => Err(LandlockUnavailable::NotEnabled),
            _ => Err(LandlockUnavailable::NotBuilt),
        }
    }

    /// A close-on-exec duplicate of `fd` numbered `floor` or above.
    pub(super) fn dup_at_least(fd: &OwnedFd, floor: RawFd) -> io::Result<OwnedFd> {
        // SAFETY: F_DUPFD_CLOEXEC with an integer argument on a descriptor we own.
        let r = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_DUPFD_CLOEXEC, floor) };
        if r == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fcntl returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(r) })
    }

    fn errno() -> i32 {
        // SAFETY: reading this thread's errno slot.
        unsafe { *libc::__errno_location() }
    }

    fn prctl(option: libc::c_int, arg: libc::c_ulong) -> libc::c_long {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::syscall(libc::SYS_prctl, option, arg, 0, 0, 0) }
    }

    fn landlock_restrict_self(fd: RawFd) -> libc::c_long {
        // SAFETY: landlock_restrict_self with a descriptor number and no flags.
        unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) }
    }

    /// `struct open_how` of `openat2(2)` (Linux 5.6).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }

    /// `RESOLVE_NO_SYMLINKS`.
    const RESOLVE_NO_SYMLINKS: u64 = 0x04;

    /// `struct landlock_path_beneath_attr` (packed).
    #[repr(C, packed)]
    struct PathBeneathAttr {
        allowed_access: u64,
        parent_fd: i32,
    }

    /// `LANDLOCK_RULE_PATH_BENEATH`.
    const RULE_PATH_BENEATH: libc::c_int = 1;

    /// Child side: opens `path` as this process sees it and adds it to ruleset `ruleset` with
    /// `dir_rights` (a directory) or `file_rights` (anything else). A path that cannot be
    /// opened is skipped. No allocation.
    pub(super) fn add_path_rule_inside(
        ruleset: RawFd,
        path: &std::ffi::CStr,
        dir_rights: u64,
        file_rights: u64,
    ) -> Result<(), i32> {
        // No symbolic link is followed (`RESOLVE_NO_SYMLINKS`): a link in the container's tree
        // (a rootfs, or one planted before an `exec`) must not point a rule elsewhere. A path
        // through a link keeps only its rule on the caller's side.
        let how = OpenHow {
            flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
            mode: 0,
            resolve: RESOLVE_NO_SYMLINKS,
        };
        // SAFETY: openat2 with a NUL-terminated path and an open_how struct on our stack.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                libc::AT_FDCWD,
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        } as libc::c_int;
        if fd < 0 {
            return Ok(());
        }
        let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
        // SAFETY: fstat into a zeroed stat on our stack.
        let r = unsafe { libc::syscall(libc::SYS_fstat, fd, st.as_mut_ptr()) };
        let result = if r == -1 {
            Err(errno())
        } else {
            // SAFETY: fstat succeeded and filled the struct.
            let is_dir = unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFDIR;
            let attr = PathBeneathAttr {
                allowed_access: if is_dir { dir_rights } else { file_rights },
                parent_fd: fd,
            };
            // SAFETY: landlock_add_rule with a ruleset descriptor and a pointer to a packed
            // attribute struct on our stack.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_landlock_add_rule,
                    ruleset,
                    RULE_PATH_BENEATH,
                    &attr as *const PathBeneathAttr,
                    0u32,
                )
            };
            if r == -1 { Err(errno()) } else { Ok(()) }
        };
        // SAFETY: closing the descriptor opened above.
        unsafe { libc::syscall(libc::SYS_close, fd) };
        result
    }

    /// Child side: enforce the ruleset `fd`; `no_new_privs` only if the kernel demands it and
    /// the container allows it.
    pub(super) fn restrict_self(fd: RawFd, may_set_no_new_privs: bool) -> Result<(), i32> {
        if landlock_restrict_self(fd) == 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::EPERM || !may_set_no_new_privs || prctl(libc::PR_GET_NO_NEW_PRIVS, 0) != 0 {
            return Err(e);
        }
        if prctl(libc::PR_SET_NO_NEW_PRIVS, 1) == -1 {
            return Err(errno());
        }
        if landlock_restrict_self(fd) == 0 {
            Ok(())
        } else {
            Err(errno())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_without_landlock_enforces_nothing() {
        let mut c = Landlock::new();
        c.read_only("/usr").bind_tcp(80);
        let s = status_for(&c, Err(LandlockUnavailable::NotEnabled), 0);
        assert_eq!(s.enforcement(), Enforcement::None);
        assert_eq!((s.handled_fs(), s.handled_net()), (0, 0));
        assert!(s.to_string().contains("lsm="), "{s}");
    }

    #[test]
    fn status_names_what_an_old_abi_lacks() {
        let mut c = Landlock::new();
        c.connect_tcp(443);
        let s = status_for(&c, Ok(2), 2);
        assert_eq!(s.enforcement(), Enforcement::Partial);
        assert_eq!(
            s.not_enforced(),
            [
                "truncate",
                "ioctl on devices",
                "TCP connect rules (need Landlock ABI 4)"
            ]
        );
        assert_eq!(s.handled_net(), 0);
        assert_eq!(s.handled_fs(), (1 << 14) - 1);
    }

    #[test]
    fn status_is_full_at_the_known_abi() {
        let mut c = Landlock::new();
        c.bind_tcp(1).connect_tcp(2);
        let s = status_for(&c, Ok(9), LANDLOCK_ABI_KNOWN);
        assert_eq!(s.enforcement(), Enforcement::Full);
        assert_eq!(s.handled_net(), 3);
        assert_eq!(s.handled_fs(), (1 << 16) - 1);
        assert_eq!(s.to_string(), "Landlock ABI 7 (kernel: 9): fully enforced");
    }

    #[test]
    fn net_is_handled_only_when_asked() {
        let c = Landlock::new();
        assert_eq!(status_for(&c, Ok(7), 7).handled_net(), 0);
        let mut c = Landlock::new();
        c.restrict_tcp();
        assert_eq!(status_for(&c, Ok(7), 7).handled_net(), 3);
    }
}
