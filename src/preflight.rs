//! Preflight: what this host offers hutch, with the evidence and the fix for what falls short.
//!
//! [`preflight()`](crate::preflight()) checks the host for the configuration of
//! [`Container::new()`]; [`check`] checks it for what you describe in [`Requirements`]
//! (built by hand or from a [`Container`] with [`Requirements::for_container`]). The result
//! is a [`Report`]: one [`Item`] per thing checked, each with a [`State`], the
//! [`Evidence`] it rests on (the file and the value read, or the system call probed and its
//! `errno`) and, when it falls short, the concrete fix. [`Report::can_run`] says whether the
//! requested configuration can run, and [`Report::blocking`] which items stop it.
//!
//! ```no_run
//! let report = hutch::preflight();
//! print!("{report}");                     // a readable table
//! let json = report.to_json();            // the same as JSON
//! if !report.can_run() {
//!     for item in report.blocking() {
//!         eprintln!("{}: {}", item.id, item.fix.as_deref().unwrap_or(""));
//!     }
//! }
//! # let _ = json;
//! ```
//!
//! What is checked, and how:
//!
//! * the kernel release, and each system call hutch uses, probed with arguments the kernel
//!   rejects after recognising the call (`clone3`, `CLONE_INTO_CGROUP`, `pidfd_open`,
//!   `pidfd_send_signal`, `close_range`, `mount_setattr`, `open_tree`, Landlock's ABI version,
//!   `seccomp(SECCOMP_GET_ACTION_AVAIL)`), so `ENOSYS` tells "missing or filtered" from
//!   `EINVAL`/`EBADF` "present", and nothing is created;
//! * user namespaces: the `user.max_user_namespaces`, `kernel.unprivileged_userns_clone`
//!   (Debian) and `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu) sysctls, and a
//!   forked child that tries `unshare(CLONE_NEWUSER)` (as the caller, and for root also as
//!   `nobody`); `/etc/subuid`, `/etc/subgid` and `newuidmap`/`newgidmap` for multi-range maps;
//! * cgroups: v2, v1/v2 hybrid or v1 (from `/proc/self/mountinfo`), the caller's cgroup, which
//!   controllers the root and the caller's part of the tree offer and which are bound to v1,
//!   and whether the cgroup where containers' cgroups are made is writable (delegated);
//! * networking: nf_tables, veth and bridge (kernel config, `/sys/module`, `modules.dep`, a
//!   `NETLINK_NETFILTER` socket), `pasta` for rootless networking (slirp4netns is reported, not used);
//! * the caller's capabilities (effective and bounding sets), its seccomp state, and the
//!   active Linux security modules.
//!
//! A failed spawn can be explained with the same knowledge: [`explain_clone_error`] names
//! the sysctl or restriction behind an `EPERM`/`ENOSPC` from `clone3`, and
//! [`explain_missing_controller`] says why a controller is not usable (bound to v1, not in the
//! kernel, not delegated).
//!
//! The checks only read files and make the probes above; they are safe to run from a
//! multithreaded process (the user-namespace probe forks a child that makes raw system calls
//! only) and need no privileges: an unprivileged caller gets a report about itself.

mod cgroup;
mod host;
mod kernel;
mod net;
pub(crate) mod parse;
mod sys;
mod userns;

use std::ffi::CString;
use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hutch_cgroup::{Controller, Hierarchy};
use hutch_ns::{Namespace, Namespaces};

use crate::Container;
use cgroup::*;
use host::*;
use kernel::*;
use net::*;
use sys::{Probe, UsernsProbe};
use userns::*;

pub use cgroup::explain_missing_controller;
pub use userns::explain_clone_error;

/// The oldest kernel with everything a default container uses (`mount_setattr`,
/// `close_range` with `CLOSE_RANGE_CLOEXEC`, `clone3` with `CLONE_INTO_CGROUP`, pidfds).
const MIN_KERNEL: (u32, u32) = (5, 12);

/// The uid and gid the unprivileged user-namespace probe runs as (`nobody`).
const NOBODY: u32 = 65534;

/// How a checked item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Present and usable.
    Ok,
    /// Present, but with a restriction that matters for some configurations.
    Limited,
    /// Absent or unusable.
    Missing,
    /// Could not be determined (a file was unreadable, a probe failed).
    Unknown,
}

impl State {
    /// The lower-case name used in the table and in JSON (`ok`, `limited`, `missing`,
    /// `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Limited => "limited",
            State::Missing => "missing",
            State::Unknown => "unknown",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a check found, as a fact that can be verified by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Evidence {
    /// A file was read; `value` is its content (trimmed, long files summarised).
    File {
        /// The file.
        path: PathBuf,
        /// What it holds.
        value: String,
    },
    /// A file could not be read (or does not exist).
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The `errno` of opening or reading it.
        errno: i32,
    },
    /// A system call was made.
    Syscall {
        /// The call as made, e.g. `clone3(NULL, 0)`.
        call: &'static str,
        /// What it returned.
        outcome: Outcome,
    },
    /// A program was looked up.
    Program {
        /// The name looked up on `PATH`.
        name: &'static str,
        /// Where it was found.
        path: Option<PathBuf>,
        /// Ownership and privilege bits (set-user-ID, file capabilities), when found.
        detail: String,
    },
    /// Anything else, in words.
    Note(String),
}

/// The result of a probed system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It returned this value.
    Returned(i64),
    /// It failed with this `errno`.
    Errno(i32),
}

impl From<Probe> for Outcome {
    fn from(p: Probe) -> Outcome {
        match p {
            Probe::Ret(v) => Outcome::Returned(v),
            Probe::Errno(e) => Outcome::Errno(e),
        }
    }
}

/// The symbolic name of an `errno` value (`EPERM`), or its number.
pub(crate) fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::ENODATA => "ENODATA",
        libc::EUSERS => "EUSERS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        _ => return format!("errno {e}"),
    };
    name.to_owned()
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Returned(v) => write!(f, "= {v}"),
            Outcome::Errno(e) => write!(f, "-> {}", errno_name(*e)),
        }
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::File { path, value } => write!(f, "{}: {}", path.display(), value),
            Evidence::Unreadable { path, errno } => {
                write!(f, "{}: unreadable ({})", path.display(), errno_name(*errno))
            }
            Evidence::Syscall { call, outcome } => write!(f, "{call} {outcome}"),
            Evidence::Program {
                name,
                path: Some(p),
                detail,
            } => write!(f, "{name}: {} ({detail})", p.display()),
            Evidence::Program {
                name, path: None, ..
            } => write!(f, "{name}: not found on PATH"),
            Evidence::Note(n) => f.write_str(n),
        }
    }
}

/// Which thing an [`Item`] is about. The string form ([`Id::as_str`]) is stable and used in
/// JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Id {
    /// The kernel release.
    Kernel,
    /// The `clone3` system call (Linux 5.3).
    Clone3,
    /// `clone3`'s `CLONE_INTO_CGROUP` (Linux 5.7).
    CloneIntoCgroup,
    /// `pidfd_open` and `pidfd_send_signal` (Linux 5.3).
    Pidfd,
    /// `close_range` (Linux 5.9).
    CloseRange,
    /// The new mount API: `mount_setattr` (5.12) and `open_tree` (5.2).
    MountApi,
    /// Time namespaces (Linux 5.6).
    TimeNamespace,
    /// Landlock and its ABI version.
    Landlock,
    /// seccomp filters and their actions (including user notification).
    Seccomp,
    /// Whether the caller can create a user namespace (probed).
    UserNamespaces,
    /// The `user.max_user_namespaces` sysctl.
    MaxUserNamespaces,
    /// Debian's `kernel.unprivileged_userns_clone` sysctl.
    UnprivilegedUsernsClone,
    /// Ubuntu's `kernel.apparmor_restrict_unprivileged_userns` sysctl.
    AppArmorRestrictUserns,
    /// The caller's `/etc/subuid` and `/etc/subgid` ranges.
    SubordinateIds,
    /// The `newuidmap` and `newgidmap` helpers.
    IdMapHelpers,
    /// cgroup v2, v1/v2 hybrid or v1.
    CgroupMode,
    /// Which cgroup v2 controllers can be used.
    CgroupControllers,
    /// Whether the cgroup where containers' cgroups are made is writable.
    CgroupDelegation,
    /// nf_tables (packet filtering and NAT for container networks).
    NfTables,
    /// veth pairs.
    Veth,
    /// Linux bridges.
    Bridge,
    /// `pasta` for rootless networking (on `PATH`, where `NetworkMode::Pasta` starts it).
    RootlessNetwork,
    /// The caller's capabilities.
    Capabilities,
    /// Active Linux security modules (AppArmor, SELinux, ...).
    SecurityModules,
}

impl Id {
    /// The stable name of the item, e.g. `user.max_user_namespaces`.
    pub fn as_str(self) -> &'static str {
        match self {
            Id::Kernel => "kernel",
            Id::Clone3 => "clone3",
            Id::CloneIntoCgroup => "clone_into_cgroup",
            Id::Pidfd => "pidfd",
            Id::CloseRange => "close_range",
            Id::MountApi => "mount_api",
            Id::TimeNamespace => "time_namespace",
            Id::Landlock => "landlock",
            Id::Seccomp => "seccomp",
            Id::UserNamespaces => "user_namespaces",
            Id::MaxUserNamespaces => "user.max_user_namespaces",
            Id::UnprivilegedUsernsClone => "kernel.unprivileged_userns_clone",
            Id::AppArmorRestrictUserns => "kernel.apparmor_restrict_unprivileged_userns",
            Id::SubordinateIds => "subordinate_ids",
            Id::IdMapHelpers => "newuidmap",
            Id::CgroupMode => "cgroup.mode",
            Id::CgroupControllers => "cgroup.controllers",
            Id::CgroupDelegation => "cgroup.delegation",
            Id::NfTables => "net.nf_tables",
            Id::Veth => "net.veth",
            Id::Bridge => "net.bridge",
            Id::RootlessNetwork => "net.rootless",
            Id::Capabilities => "capabilities",
            Id::SecurityModules => "lsm",
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One checked thing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Item {
    /// What was checked.
    pub id: Id,
    /// How it stands.
    pub state: State,
    /// One line: the value found, and what it means.
    pub summary: String,
    /// The facts the state rests on.
    pub evidence: Vec<Evidence>,
    /// What to do about it, when it falls short.
    pub fix: Option<String>,
    /// Whether the requested configuration needs this item.
    pub required: bool,
    /// Whether this item stops the requested configuration from running.
    pub blocking: bool,
}

impl Item {
    fn new(id: Id, state: State, summary: impl Into<String>) -> Item {
        Item {
            id,
            state,
            summary: summary.into(),
            evidence: Vec::new(),
            fix: None,
            required: false,
            blocking: false,
        }
    }

    fn evidence(mut self, e: impl IntoIterator<Item = Evidence>) -> Item {
        self.evidence.extend(e);
        self
    }

    fn fix(mut self, fix: impl Into<String>) -> Item {
        self.fix = Some(fix.into());
        self
    }

    /// Marks the item as needed; a needed item that is missing blocks.
    fn required(mut self, required: bool) -> Item {
        self.required = required;
        self.blocking = required && self.state == State::Missing;
        self
    }
}

/// Why something failed and how to fix it: the result of [`explain_clone_error`] and
/// [`explain_missing_controller`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Hint {
    /// The cause, e.g. "user.max_user_namespaces is 0: user namespaces are disabled".
    pub cause: String,
    /// The facts behind it.
    pub evidence: Vec<Evidence>,
    /// The fix.
    pub fix: String,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cause)?;
        if !self.evidence.is_empty() {
            f.write_str(" (")?;
            for (i, e) in self.evidence.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                write!(f, "{e}")?;
            }
            f.write_str(")")?;
        }
        write!(f, "; fix: {}", self.fix)
    }
}

/// What the caller wants to run, which decides which items are needed.
///
/// [`Requirements::for_container`] derives it from a container configuration; the setters
/// add what a configuration does not say (multi-range id maps through `newuidmap`, container
/// networking).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    namespaces: Namespaces,
    controllers: Vec<Controller>,
    cgroup: bool,
    id_map_helpers: bool,
    networking: bool,
    rootless_networking: bool,
}

impl Default for Requirements {
    fn default() -> Requirements {
        Requirements {
            namespaces: Namespaces::empty(),
            controllers: Vec::new(),
            cgroup: false,
            id_map_helpers: false,
            networking: false,
            rootless_networking: false,
        }
    }
}

impl Requirements {
    /// Nothing is needed: the report describes the host, and [`Report::can_run`] is `true`
    /// unless the kernel is too old for hutch at all.
    pub fn new() -> Requirements {
        Requirements::default()
    }

    /// What spawning with `container` needs: its namespaces (including the user namespace
    /// added automatically for an unprivileged caller), the controllers its limits use, and a
    /// cgroup of its own when it has limits.
    ///
    /// Its network mode counts too: a bridge network needs container networking, pasta
    /// needs rootless networking. A cgroup required with
    /// [`Container::cgroup(true)`](Container::cgroup) and multi-range
    /// [`Container::id_maps`] are added with [`cgroup`](Requirements::cgroup) and
    /// [`id_map_helpers`](Requirements::id_map_helpers).
    pub fn for_container(container: &Container) -> Requirements {
        let resources = container.get_resources();
        let controllers = resources.required_controllers();
        let limits = *resources != hutch_cgroup::Resources::default();
        Requirements {
            namespaces: container.effective_namespaces(),
            controllers,
            cgroup: limits,
            networking: matches!(container.net.mode, crate::NetworkMode::Bridge(_)),
            rootless_networking: matches!(container.net.mode, crate::NetworkMode::Pasta),
            ..Requirements::default()
        }
    }

    /// Needs these namespaces to be creatable.
    pub fn namespaces(&mut self, namespaces: Namespaces) -> &mut Self {
        self.namespaces |= namespaces;
        self
    }

    /// Needs these cgroup v2 controllers (and so a cgroup of the container's own).
    pub fn controllers(&mut self, controllers: impl IntoIterator<Item = Controller>) -> &mut Self {
        for c in controllers {
            if !self.controllers.contains(&c) {
                self.controllers.push(c);
            }
        }
        self.cgroup |= !self.controllers.is_empty();
        self
    }

    /// Needs a cgroup of the container's own (writable cgroup2 and `CLONE_INTO_CGROUP`).
    pub fn cgroup(&mut self, required: bool) -> &mut Self {
        self.cgroup = required;
        self
    }

    /// Needs multi-range id maps, which an unprivileged caller writes through `newuidmap`
    /// and `newgidmap` with `/etc/subuid` and `/etc/subgid` grants.
    pub fn id_map_helpers(&mut self, required: bool) -> &mut Self {
        self.id_map_helpers = required;
        self
    }

    /// Needs container networking: veth pairs, a bridge and nf_tables.
    pub fn networking(&mut self, required: bool) -> &mut Self {
        self.networking = required;
        self
    }

    /// Needs rootless networking through `pasta`.
    pub fn rootless_networking(&mut self, required: bool) -> &mut Self {
        self.rootless_networking = required;
        self
    }

    /// The namespaces needed.
    pub fn get_namespaces(&self) -> Namespaces {
        self.namespaces
    }

    /// The controllers needed.
    pub fn get_controllers(&self) -> &[Controller] {
        &self.controllers
    }
}

/// The result of the preflight checks. `Display` writes a readable table (`{}`: each item
/// with its evidence and fix; `{:#}`: one line per item, and the fixes of the items that
/// fall short); [`to_json`](Report::to_json) writes the same as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    release: String,
    uid: u32,
    requirements: Requirements,
    items: Vec<Item>,
}

impl Report {
    /// Every item, in a fixed order (kernel first).
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The item `id`.
    pub fn item(&self, id: Id) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }

    /// Whether the requested configuration can run: no needed item is missing.
    pub fn can_run(&self) -> bool {
        self.blocking().next().is_none()
    }

    /// The items that stop the requested configuration from running.
    pub fn blocking(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.blocking)
    }

    /// What was asked for.
    pub fn requirements(&self) -> &Requirements {
        &self.requirements
    }

    /// The kernel release (`/proc/sys/kernel/osrelease`).
    pub fn kernel_release(&self) -> &str {
        &self.release
    }

    /// The effective uid of the caller the report is about.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The report as a JSON object:
    /// `{"kernel": "...", "uid": 0, "can_run": true, "blocking": [ids], "items": [{"id",
    /// "state", "required", "blocking", "summary", "evidence": [strings], "fix"}]}`.
    pub fn to_json(&self) -> String {
        use parse::json_string as s;
        let mut o = String::from("{\"kernel\":");
        s(&mut o, &self.release);
        o.push_str(&format!(
            ",\"uid\":{},\"can_run\":{}",
            self.uid,
            self.can_run()
        ));
        o.push_str(",\"requirements\":{\"namespaces\":[");
        for (i, ns) in self.requirements.namespaces.namespaces().enumerate() {
            if i > 0 {
                o.push(',');
            }
            s(&mut o, ns.proc_name());
        }
        o.push_str("],\"controllers\":[");
        for (i, c) in self.requirements.controllers.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            s(&mut o, c.name());
        }
        let r = &self.requirements;
        o.push_str(&format!(
            "],\"cgroup\":{},\"id_map_helpers\":{},\"networking\":{},\"rootless_networking\":{}}}",
            r.cgroup, r.id_map_helpers, r.networking, r.rootless_networking
        ));
        o.push_str(",\"blocking\":[");
        for (i, item) in self.blocking().enumerate() {
            if i > 0 {
                o.push(',');
            }
            s(&mut o, item.id.as_str());
        }
        o.push_str("],\"items\":[");
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str("{\"id\":");
            s(&mut o, item.id.as_str());
            o.push_str(",\"state\":");
            s(&mut o, item.state.as_str());
            o.push_str(&format!(
                ",\"required\":{},\"blocking\":{},\"summary\":",
                item.required, item.blocking
            ));
            s(&mut o, &item.summary);
            o.push_str(",\"evidence\":[");
            for (j, e) in item.evidence.iter().enumerate() {
                if j > 0 {
                    o.push(',');
                }
                s(&mut o, &e.to_string());
            }
            o.push_str("],\"fix\":");
            match &item.fix {
                Some(f) => s(&mut o, f),
                None => o.push_str("null"),
            }
            o.push('}');
        }
        o.push_str("]}");
        o
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = if self.uid == 0 {
            "root".to_owned()
        } else {
            format!("uid {}", self.uid)
        };
        writeln!(f, "hutch preflight: Linux {}, {who}", self.release)?;
        let r = &self.requirements;
        let ns: Vec<&str> = r.namespaces.namespaces().map(|n| n.proc_name()).collect();
        let ctl: Vec<&str> = r.controllers.iter().map(|c| c.name()).collect();
        writeln!(
            f,
            "requested: namespaces [{}], controllers [{}], own cgroup {}, id-map helpers {}, \
             networking {}, rootless networking {}",
            ns.join(" "),
            ctl.join(" "),
            yes(r.cgroup),
            yes(r.id_map_helpers),
            yes(r.networking),
            yes(r.rootless_networking)
        )?;
        writeln!(f)?;
        let width = self
            .items
            .iter()
            .map(|i| i.id.as_str().len())
            .max()
            .unwrap_or(0);
        writeln!(f, "{:<8}  {:<width$}  SUMMARY", "STATE", "ITEM")?;
        for item in &self.items {
            let state = if item.blocking {
                "BLOCKING"
            } else {
                item.state.as_str()
            };
            writeln!(
                f,
                "{state:<8}  {:<width$}  {}",
                item.id.as_str(),
                item.summary
            )?;
            if !f.alternate() {
                for e in &item.evidence {
                    writeln!(f, "{:<8}  {:<width$}    {e}", "", "")?;
                }
            }
            if let Some(fix) = &item.fix {
                writeln!(f, "{:<8}  {:<width$}    fix: {fix}", "", "")?;
            }
        }
        writeln!(f)?;
        if self.can_run() {
            writeln!(f, "verdict: the requested configuration can run")
        } else {
            let ids: Vec<&str> = self.blocking().map(|i| i.id.as_str()).collect();
            writeln!(
                f,
                "verdict: the requested configuration cannot run; blocked by: {}",
                ids.join(", ")
            )
        }
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Checks the host for the configuration of [`Container::new()`]: see the
/// [module docs](mod@crate::preflight).
///
/// # Examples
///
/// ```no_run
/// let report = hutch::preflight();
/// println!("{report}");
/// assert!(report.can_run(), "{}", report.to_json());
/// ```
pub fn preflight() -> Report {
    check(&Requirements::for_container(&Container::new()))
}

/// Checks the host for spawning with `container`: shorthand for
/// `check(&Requirements::for_container(container))`.
///
/// # Examples
///
/// ```no_run
/// let mut c = hutch::Container::new();
/// c.limit_memory(64u64 << 20);
/// let report = hutch::preflight::for_container(&c);
/// if !report.can_run() {
///     eprint!("{report}");
/// }
/// ```
pub fn for_container(container: &Container) -> Report {
    check(&Requirements::for_container(container))
}

/// Checks the host for `requirements`.
///
/// Besides the probes, it reads files under `/proc`, `/sys` and `/etc`, and the kernel
/// configuration (`/boot/config-<release>`, or `/proc/config.gz` through `zcat` when that is
/// the only copy).
///
/// # Examples
///
/// ```no_run
/// use hutch::preflight::{self, Requirements};
/// let mut wanted = Requirements::for_container(&hutch::Container::new());
/// wanted.rootless_networking(true).id_map_helpers(true);
/// let report = preflight::check(&wanted);
/// if !report.can_run() {
///     eprint!("{report}");
/// }
/// ```
pub fn check(requirements: &Requirements) -> Report {
    let req = requirements;
    let uid = sys::geteuid();
    let release_path = Path::new("/proc/sys/kernel/osrelease");
    let release = fs::read_to_string(release_path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let kconfig = read_kconfig();
    let status_text = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let status = parse::status(&status_text);
    let ns = req.namespaces;
    let user = ns.contains(Namespaces::USER);

    let mut items = vec![kernel_item(&release)];
    items.extend(syscall_items(req));
    items.push(time_ns_item().required(ns.contains(Namespaces::TIME)));
    items.push(landlock_item());
    items.push(seccomp_item(&status));
    let sysctls = Sysctls::read();
    items.push(userns_probe_item(uid, &sysctls, &status).required(user));
    items.extend(sysctl_items(uid, &sysctls, user));
    items.extend(id_map_items(uid, req.id_map_helpers && uid != 0));
    let cg = CgroupInfo::gather(uid);
    items.extend(cgroup_items(&cg, req));
    items.extend(network_items(&release, kconfig.as_deref(), req));
    items.push(capabilities_item(uid, &status, ns));
    items.push(lsm_item(kconfig.as_deref()));
    Report {
        release,
        uid,
        requirements: req.clone(),
        items,
    }
}

#[cfg(test)]
mod tests;
