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
//!   `NETLINK_NETFILTER` socket), `pasta`/`slirp4netns` for rootless networking;
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

mod parse;
mod sys;

use std::ffi::CString;
use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hutch_cgroup::{Controller, Hierarchy};
use hutch_ns::{Namespace, Namespaces};

use crate::Container;
use sys::{Probe, UsernsProbe};

/// The oldest kernel with everything hutch's spawn path uses (`close_range`, `clone3` with
/// `CLONE_INTO_CGROUP`, pidfds).
const MIN_KERNEL: (u32, u32) = (5, 9);

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
    /// `pasta` or `slirp4netns` for rootless networking.
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
    pub fn for_container(container: &Container) -> Requirements {
        let resources = container.get_resources();
        let controllers = resources.required_controllers();
        let limits = *resources != hutch_cgroup::Resources::default();
        Requirements {
            namespaces: container.effective_namespaces(),
            controllers,
            cgroup: limits,
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

    /// Needs rootless networking through `pasta` or `slirp4netns`.
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

/// The result of the preflight checks. `Display` writes a readable table;
/// [`to_json`](Report::to_json) the same as JSON.
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
            for e in &item.evidence {
                writeln!(f, "{:<8}  {:<width$}    {e}", "", "")?;
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

/// Checks the host for `requirements`.
///
/// # Examples
///
/// ```no_run
/// use hutch::preflight::{self, Requirements};
/// let mut c = hutch::Container::new();
/// c.limit_memory(64 << 20);
/// let report = preflight::check(&Requirements::for_container(&c));
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

// ----- reading ------------------------------------------------------------------------------

/// Reads a small file: its trimmed content and the evidence.
fn read_file(path: impl AsRef<Path>) -> (Option<String>, Evidence) {
    let path = path.as_ref();
    match fs::read_to_string(path) {
        Ok(s) => {
            let v = s.trim().to_owned();
            let shown = if v.lines().count() > 1 {
                v.split_whitespace().collect::<Vec<_>>().join(" ")
            } else {
                v.clone()
            };
            (
                Some(v),
                Evidence::File {
                    path: path.to_owned(),
                    value: shown,
                },
            )
        }
        Err(e) => (
            None,
            Evidence::Unreadable {
                path: path.to_owned(),
                errno: e.raw_os_error().unwrap_or(0),
            },
        ),
    }
}

/// The kernel configuration, from `/proc/config.gz` (decompressed with `zcat` when present)
/// or `/boot/config-<release>`.
fn read_kconfig() -> Option<String> {
    if let Ok(release) = fs::read_to_string("/proc/sys/kernel/osrelease")
        && let Ok(text) = fs::read_to_string(format!("/boot/config-{}", release.trim()))
    {
        return Some(text);
    }
    if Path::new("/proc/config.gz").exists()
        && let Some(zcat) = find_program("zcat")
        && let Ok(out) = std::process::Command::new(zcat)
            .arg("/proc/config.gz")
            .stderr(std::process::Stdio::null())
            .output()
        && out.status.success()
    {
        return String::from_utf8(out.stdout).ok();
    }
    None
}

/// `name` on `PATH` (then `/usr/sbin`, `/sbin`, `/usr/bin`, which a user's `PATH` may lack).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn program_evidence(name: &'static str) -> (Option<PathBuf>, bool, Evidence) {
    let Some(path) = find_program(name) else {
        return (
            None,
            false,
            Evidence::Program {
                name,
                path: None,
                detail: String::new(),
            },
        );
    };
    let meta = path.metadata().ok();
    let setuid_root = meta
        .as_ref()
        .is_some_and(|m| m.mode() & 0o4000 != 0 && m.uid() == 0);
    let caps = CString::new(path.as_os_str().as_bytes())
        .ok()
        .and_then(|p| sys::xattr_len(&p, c"security.capability").ok())
        .is_some();
    let detail = format!(
        "mode {:o}, owner uid {}{}{}",
        meta.as_ref().map_or(0, |m| m.mode() & 0o7777),
        meta.as_ref().map_or(0, |m| m.uid()),
        if setuid_root {
            ", set-user-ID root"
        } else {
            ""
        },
        if caps { ", has file capabilities" } else { "" },
    );
    (
        Some(path.clone()),
        setuid_root || caps,
        Evidence::Program {
            name,
            path: Some(path),
            detail,
        },
    )
}

// ----- kernel and system calls --------------------------------------------------------------

fn kernel_item(release: &str) -> Item {
    let ev = Evidence::File {
        path: "/proc/sys/kernel/osrelease".into(),
        value: release.to_owned(),
    };
    match parse::kernel_version(release) {
        Some(v) if v >= MIN_KERNEL => Item::new(
            Id::Kernel,
            State::Ok,
            format!("Linux {release} (hutch needs 5.9 or later)"),
        )
        .evidence([ev]),
        Some(_) => Item::new(
            Id::Kernel,
            State::Missing,
            format!("Linux {release} is older than 5.9, which hutch needs"),
        )
        .evidence([ev])
        .fix("upgrade the kernel to 5.9 or later (5.12 for read-only mounts)")
        .required(true),
        None => Item::new(
            Id::Kernel,
            State::Unknown,
            "the kernel release is unreadable",
        )
        .evidence([ev]),
    }
}

/// An item for probed system calls: `Ok` when every probe saw the call, `Missing` otherwise.
fn probed_item(
    id: Id,
    what: &str,
    since: &str,
    probes: &[(&'static str, Probe)],
    seccomp_filtered: bool,
) -> Item {
    let evidence = probes.iter().map(|(call, p)| Evidence::Syscall {
        call,
        outcome: (*p).into(),
    });
    if probes.iter().all(|(_, p)| p.present()) {
        Item::new(id, State::Ok, format!("{what} available")).evidence(evidence)
    } else {
        let fix = if seccomp_filtered {
            format!(
                "the caller runs under a seccomp filter (e.g. a container runtime's default \
                 profile) that may hide {what}: run outside it or allow the call; otherwise \
                 upgrade to Linux {since} or later"
            )
        } else {
            format!("upgrade the kernel to Linux {since} or later")
        };
        Item::new(
            id,
            State::Missing,
            format!("{what} not available (needs Linux {since})"),
        )
        .evidence(evidence)
        .fix(fix)
    }
}

fn syscall_items(req: &Requirements) -> Vec<Item> {
    let filtered =
        parse::status(&fs::read_to_string("/proc/self/status").unwrap_or_default()).seccomp != 0;
    // An unknown flag gives EINVAL, like an unknown call hidden by a filter gives ENOSYS:
    // only EBADF (the descriptor was looked up) shows that the kernel knows the flag.
    let p = sys::probe_clone_into_cgroup();
    let ev = Evidence::Syscall {
        call: "clone3({flags: CLONE_INTO_CGROUP, cgroup: INT_MAX}, 88)",
        outcome: p.into(),
    };
    let into_cgroup = if p == Probe::Errno(libc::EBADF) {
        Item::new(
            Id::CloneIntoCgroup,
            State::Ok,
            "CLONE_INTO_CGROUP available",
        )
    } else {
        Item::new(
            Id::CloneIntoCgroup,
            State::Missing,
            "CLONE_INTO_CGROUP not accepted (needs Linux 5.7)",
        )
        .fix("upgrade the kernel to Linux 5.7 or later")
    }
    .evidence([ev]);
    vec![
        probed_item(
            Id::Clone3,
            "clone3",
            "5.3",
            &[("clone3(NULL, 0)", sys::probe_clone3())],
            filtered,
        )
        .required(true),
        into_cgroup.required(req.cgroup),
        probed_item(
            Id::Pidfd,
            "pidfd_open and pidfd_send_signal",
            "5.3",
            &[
                ("pidfd_open(0, 0)", sys::probe_pidfd_open()),
                (
                    "pidfd_send_signal(-1, 0, NULL, 0)",
                    sys::probe_pidfd_send_signal(),
                ),
            ],
            filtered,
        )
        .required(true),
        probed_item(
            Id::CloseRange,
            "close_range",
            "5.9",
            &[("close_range(1, 0, 0)", sys::probe_close_range())],
            filtered,
        )
        .required(true),
        probed_item(
            Id::MountApi,
            "mount_setattr and open_tree",
            "5.12",
            &[
                (
                    "mount_setattr(-1, NULL, ~0, NULL, 0)",
                    sys::probe_mount_setattr(),
                ),
                ("open_tree(-1, NULL, AT_RECURSIVE)", sys::probe_open_tree()),
            ],
            filtered,
        )
        .required(req.namespaces.contains(Namespaces::MOUNT)),
    ]
}

fn time_ns_item() -> Item {
    let p = Path::new("/proc/self/ns/time");
    match fs::read_link(p) {
        Ok(target) => Item::new(Id::TimeNamespace, State::Ok, "time namespaces available")
            .evidence([Evidence::File {
                path: p.to_owned(),
                value: target.display().to_string(),
            }]),
        Err(e) => Item::new(
            Id::TimeNamespace,
            State::Missing,
            "time namespaces not available (needs Linux 5.6 with CONFIG_TIME_NS)",
        )
        .evidence([Evidence::Unreadable {
            path: p.to_owned(),
            errno: e.raw_os_error().unwrap_or(0),
        }])
        .fix("use Linux 5.6 or later built with CONFIG_TIME_NS=y"),
    }
}

fn landlock_item() -> Item {
    let p = sys::landlock_abi();
    let ev = Evidence::Syscall {
        call: "landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)",
        outcome: p.into(),
    };
    match p {
        Probe::Ret(v) => {
            Item::new(Id::Landlock, State::Ok, format!("Landlock ABI version {v}")).evidence([ev])
        }
        Probe::Errno(libc::EOPNOTSUPP) => Item::new(
            Id::Landlock,
            State::Limited,
            "Landlock is built in but not enabled",
        )
        .evidence([ev])
        .fix("add `landlock` to the `lsm=` kernel command line parameter"),
        Probe::Errno(_) => Item::new(
            Id::Landlock,
            State::Missing,
            "Landlock is not available (Linux 5.13 with CONFIG_SECURITY_LANDLOCK)",
        )
        .evidence([ev])
        .fix("use a kernel built with CONFIG_SECURITY_LANDLOCK=y and `landlock` in `lsm=`"),
    }
}

fn seccomp_item(status: &parse::Status) -> Item {
    /// `SECCOMP_RET_USER_NOTIF`.
    const USER_NOTIF: u32 = 0x7fc0_0000;
    let (actions, actions_ev) = read_file("/proc/sys/kernel/seccomp/actions_avail");
    let notif = sys::seccomp_action_available(USER_NOTIF);
    let mut ev = vec![
        actions_ev,
        Evidence::Syscall {
            call: "seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &SECCOMP_RET_USER_NOTIF)",
            outcome: notif.into(),
        },
        Evidence::File {
            path: "/proc/self/status".into(),
            value: format!(
                "Seccomp: {}, NoNewPrivs: {}",
                status.seccomp, status.no_new_privs as u8
            ),
        },
    ];
    if !notif.present() {
        return Item::new(Id::Seccomp, State::Missing, "seccomp is not available")
            .evidence(ev)
            .fix("use a kernel built with CONFIG_SECCOMP_FILTER=y");
    }
    let mut summary = if notif == Probe::Ret(0) {
        "seccomp filters available, with user notification".to_owned()
    } else {
        "seccomp filters available, without user notification (Linux 5.0)".to_owned()
    };
    let mut state = if notif == Probe::Ret(0) {
        State::Ok
    } else {
        State::Limited
    };
    if status.seccomp != 0 {
        summary.push_str("; the caller itself runs under a seccomp filter");
        state = State::Limited;
        ev.push(Evidence::Note(
            "a filter on the caller (e.g. a container runtime's) also applies to every \
             container it starts"
                .into(),
        ));
    }
    let _ = actions;
    Item::new(Id::Seccomp, state, summary).evidence(ev)
}

// ----- user namespaces ----------------------------------------------------------------------

/// The user-namespace sysctls, read once.
#[derive(Debug, Clone)]
struct Sysctls {
    max_user: (Option<String>, Evidence),
    debian: (Option<String>, Evidence),
    ubuntu: (Option<String>, Evidence),
}

const MAX_USER_NS: &str = "/proc/sys/user/max_user_namespaces";
const DEBIAN_USERNS: &str = "/proc/sys/kernel/unprivileged_userns_clone";
const UBUNTU_USERNS: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";

impl Sysctls {
    fn read() -> Sysctls {
        Sysctls {
            max_user: read_file(MAX_USER_NS),
            debian: read_file(DEBIAN_USERNS),
            ubuntu: read_file(UBUNTU_USERNS),
        }
    }

    fn value(v: &(Option<String>, Evidence)) -> Option<u64> {
        v.0.as_deref().and_then(|s| s.trim().parse().ok())
    }
}

const FIX_MAX_USER: &str = "sysctl -w user.max_user_namespaces=15000 (and set it in \
    /etc/sysctl.d/ to keep it)";
const FIX_DEBIAN: &str = "sysctl -w kernel.unprivileged_userns_clone=1 (and set it in \
    /etc/sysctl.d/ to keep it), or run as root";
const FIX_UBUNTU: &str = "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give \
    the program an AppArmor profile with the `userns,` rule, or run as root";

fn sysctl_items(uid: u32, s: &Sysctls, user: bool) -> Vec<Item> {
    let unpriv = uid != 0;
    let max = match Sysctls::value(&s.max_user) {
        Some(0) => Item::new(
            Id::MaxUserNamespaces,
            State::Missing,
            "0: nobody, not even root, may create user namespaces",
        )
        .fix(FIX_MAX_USER),
        Some(n) => Item::new(
            Id::MaxUserNamespaces,
            State::Ok,
            format!("{n}: each user may own up to {n} user namespaces"),
        ),
        None => Item::new(
            Id::MaxUserNamespaces,
            State::Missing,
            "absent: the kernel was built without user namespaces (CONFIG_USER_NS)",
        )
        .fix("use a kernel built with CONFIG_USER_NS=y"),
    }
    .evidence([s.max_user.1.clone()])
    .required(user);
    let debian = match Sysctls::value(&s.debian) {
        None if s.debian.0.is_none() => Item::new(
            Id::UnprivilegedUsernsClone,
            State::Ok,
            "absent (only Debian's kernels have it): no extra restriction",
        ),
        Some(0) if unpriv => Item::new(
            Id::UnprivilegedUsernsClone,
            State::Missing,
            "0: only privileged (CAP_SYS_ADMIN) callers may create user namespaces",
        )
        .fix(FIX_DEBIAN),
        Some(0) => Item::new(
            Id::UnprivilegedUsernsClone,
            State::Limited,
            "0: only privileged (CAP_SYS_ADMIN) callers, like this one, may create user \
             namespaces",
        )
        .fix(FIX_DEBIAN),
        _ => Item::new(
            Id::UnprivilegedUsernsClone,
            State::Ok,
            "unprivileged users may create user namespaces",
        ),
    }
    .evidence([s.debian.1.clone()])
    .required(user && unpriv);
    let ubuntu = match Sysctls::value(&s.ubuntu) {
        None if s.ubuntu.0.is_none() => Item::new(
            Id::AppArmorRestrictUserns,
            State::Ok,
            "absent (only Ubuntu's kernels have it): no extra restriction",
        ),
        Some(1) if unpriv => Item::new(
            Id::AppArmorRestrictUserns,
            State::Missing,
            "1: an unprivileged caller's new user namespace gets an AppArmor profile that \
             denies every capability in it, so mounts, hostnames and id maps fail with EPERM",
        )
        .fix(FIX_UBUNTU),
        Some(1) => Item::new(
            Id::AppArmorRestrictUserns,
            State::Limited,
            "1: unprivileged callers' user namespaces are confined by AppArmor (root is not)",
        )
        .fix(FIX_UBUNTU),
        _ => Item::new(
            Id::AppArmorRestrictUserns,
            State::Ok,
            "0: AppArmor does not restrict unprivileged user namespaces",
        ),
    }
    .evidence([s.ubuntu.1.clone()])
    .required(user && unpriv);
    vec![max, debian, ubuntu]
}

fn probe_text(p: UsernsProbe) -> String {
    match p {
        UsernsProbe::Created => "ok".into(),
        UsernsProbe::Denied(e) => errno_name(e),
        UsernsProbe::Failed(what, 0) => format!("probe failed: {what}"),
        UsernsProbe::Failed(what, e) => format!("probe failed: {what}: {}", errno_name(e)),
    }
}

fn userns_probe_item(uid: u32, s: &Sysctls, status: &parse::Status) -> Item {
    let own = sys::probe_user_namespace(None);
    let mut ev = vec![Evidence::Note(format!(
        "unshare(CLONE_NEWUSER) in a forked child as uid {uid}: {}",
        probe_text(own)
    ))];
    let others = (uid == 0).then(|| {
        let p = sys::probe_user_namespace(Some((NOBODY, NOBODY)));
        ev.push(Evidence::Note(format!(
            "unshare(CLONE_NEWUSER) in a forked child as uid {NOBODY} (nobody): {}",
            probe_text(p)
        )));
        p
    });
    let info = UsernsInfo::from_sysctls(uid, s, status);
    match own {
        UsernsProbe::Created => {
            let summary = match others {
                Some(UsernsProbe::Created) => {
                    "the caller (root) and unprivileged users can create user namespaces"
                }
                Some(_) => "root can create user namespaces; unprivileged users cannot",
                None => "the caller can create user namespaces",
            };
            let mut item = Item::new(Id::UserNamespaces, State::Ok, summary).evidence(ev);
            if let Some(UsernsProbe::Denied(e)) = others
                && let Some(h) = clone_hint(e, Namespaces::USER, &info.as_user(NOBODY))
            {
                item.evidence.push(Evidence::Note(format!(
                    "for unprivileged users: {}",
                    h.cause
                )));
            }
            item
        }
        UsernsProbe::Denied(e) => {
            let mut item = Item::new(
                Id::UserNamespaces,
                State::Missing,
                format!(
                    "the caller cannot create a user namespace ({})",
                    errno_name(e)
                ),
            )
            .evidence(ev);
            if let Some(h) = clone_hint(e, Namespaces::USER, &info) {
                item.summary = format!("{}: {}", item.summary, h.cause);
                item.evidence.extend(h.evidence);
                item.fix = Some(h.fix);
            }
            item
        }
        UsernsProbe::Failed(..) => Item::new(
            Id::UserNamespaces,
            State::Unknown,
            "could not probe user namespace creation",
        )
        .evidence(ev),
    }
}

/// What explains a failure to create namespaces: the caller and the sysctls.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UsernsInfo {
    uid: u32,
    max_user: Option<u64>,
    max_user_ev: Evidence,
    debian: Option<u64>,
    debian_ev: Evidence,
    ubuntu: Option<u64>,
    ubuntu_ev: Evidence,
    /// `user.max_<kind>_namespaces` sysctls that are 0.
    zero_limits: Vec<(Namespace, Evidence)>,
    seccomp: u32,
    cap_sys_admin: bool,
}

impl UsernsInfo {
    fn from_sysctls(uid: u32, s: &Sysctls, status: &parse::Status) -> UsernsInfo {
        UsernsInfo {
            uid,
            max_user: Sysctls::value(&s.max_user),
            max_user_ev: s.max_user.1.clone(),
            debian: Sysctls::value(&s.debian),
            debian_ev: s.debian.1.clone(),
            ubuntu: Sysctls::value(&s.ubuntu),
            ubuntu_ev: s.ubuntu.1.clone(),
            zero_limits: Namespace::ALL
                .into_iter()
                .filter(|n| *n != Namespace::User)
                .filter_map(|n| {
                    let path = format!("/proc/sys/user/max_{}_namespaces", limit_name(n));
                    let (v, ev) = read_file(path);
                    (v.as_deref() == Some("0")).then_some((n, ev))
                })
                .collect(),
            seccomp: status.seccomp,
            cap_sys_admin: status.eff & (1 << parse::CAP_SYS_ADMIN) != 0,
        }
    }

    fn read() -> UsernsInfo {
        let status = parse::status(&fs::read_to_string("/proc/self/status").unwrap_or_default());
        UsernsInfo::from_sysctls(sys::geteuid(), &Sysctls::read(), &status)
    }

    /// The same host seen by an unprivileged user.
    fn as_user(&self, uid: u32) -> UsernsInfo {
        UsernsInfo {
            uid,
            cap_sys_admin: false,
            ..self.clone()
        }
    }
}

/// The name of a namespace kind in the `user.max_*_namespaces` sysctls.
fn limit_name(n: Namespace) -> &'static str {
    match n {
        Namespace::Mount => "mnt",
        Namespace::Uts => "uts",
        Namespace::Ipc => "ipc",
        Namespace::Pid => "pid",
        Namespace::Net => "net",
        Namespace::User => "user",
        Namespace::Cgroup => "cgroup",
        Namespace::Time => "time",
        _ => n.proc_name(),
    }
}

/// Explains why `clone3` (or `unshare`) with `namespaces` failed with `errno`: which sysctl,
/// restriction or missing privilege is the cause, with the evidence and the fix. `None` when
/// nothing on this host explains it.
///
/// Meant for the spawn path: `SpawnError::Clone` can carry the hint so that the error names
/// the cause instead of only the errno. It reads a few files under `/proc/sys`; call it only
/// after a failure.
///
/// # Examples
///
/// ```no_run
/// use hutch::{Namespaces, preflight};
/// if let Some(hint) = preflight::explain_clone_error(libc::ENOSPC, Namespaces::USER) {
///     eprintln!("{hint}");
/// }
/// ```
pub fn explain_clone_error(errno: i32, namespaces: Namespaces) -> Option<Hint> {
    clone_hint(errno, namespaces, &UsernsInfo::read())
}

fn clone_hint(errno: i32, namespaces: Namespaces, i: &UsernsInfo) -> Option<Hint> {
    let user = namespaces.contains(Namespaces::USER);
    match errno {
        libc::ENOSPC | libc::EUSERS => {
            if user && i.max_user == Some(0) {
                return Some(Hint {
                    cause: "user.max_user_namespaces is 0: user namespaces are disabled for \
                            everyone"
                        .into(),
                    evidence: vec![i.max_user_ev.clone()],
                    fix: FIX_MAX_USER.into(),
                });
            }
            let zero: Vec<&(Namespace, Evidence)> = i
                .zero_limits
                .iter()
                .filter(|(n, _)| namespaces.contains(n.as_set()))
                .collect();
            if let Some((n, ev)) = zero.first() {
                let name = limit_name(*n);
                return Some(Hint {
                    cause: format!("user.max_{name}_namespaces is 0: {n} namespaces are disabled"),
                    evidence: vec![ev.clone()],
                    fix: format!("sysctl -w user.max_{name}_namespaces=15000"),
                });
            }
            Some(Hint {
                cause: "a namespace limit was reached: the per-user count in \
                        user.max_*_namespaces, or the nesting depth of 32 user namespaces"
                    .into(),
                evidence: vec![i.max_user_ev.clone()],
                fix: "end other containers of this user, or raise the user.max_*_namespaces \
                      sysctls"
                    .into(),
            })
        }
        libc::EPERM | libc::EACCES => {
            if i.seccomp != 0 {
                return Some(Hint {
                    cause: "the caller runs under a seccomp filter (e.g. a container \
                            runtime's default profile), which commonly denies creating \
                            namespaces"
                        .into(),
                    evidence: vec![Evidence::File {
                        path: "/proc/self/status".into(),
                        value: format!("Seccomp: {}", i.seccomp),
                    }],
                    fix: "run outside that container, or with a seccomp profile that allows \
                          clone3/unshare with namespace flags"
                        .into(),
                });
            }
            if user && i.uid != 0 && i.debian == Some(0) {
                return Some(Hint {
                    cause: "kernel.unprivileged_userns_clone is 0: only privileged callers \
                            may create user namespaces"
                        .into(),
                    evidence: vec![i.debian_ev.clone()],
                    fix: FIX_DEBIAN.into(),
                });
            }
            if user && i.uid != 0 && i.ubuntu == Some(1) {
                return Some(Hint {
                    cause: "kernel.apparmor_restrict_unprivileged_userns is 1: AppArmor \
                            confines unprivileged user namespaces"
                        .into(),
                    evidence: vec![i.ubuntu_ev.clone()],
                    fix: FIX_UBUNTU.into(),
                });
            }
            if !user && !i.cap_sys_admin && !namespaces.is_empty() {
                return Some(Hint {
                    cause: "creating namespaces other than a user namespace needs \
                            CAP_SYS_ADMIN, which the caller lacks"
                        .into(),
                    evidence: vec![Evidence::Note(format!("effective uid {}", i.uid))],
                    fix: "run as root, or let hutch add a user namespace (the default for an \
                          unprivileged caller; see Container::user_namespace)"
                        .into(),
                });
            }
            if user {
                return Some(Hint {
                    cause: "user namespace creation was refused: the caller may be in a \
                            chroot, or a security module denies it"
                        .into(),
                    evidence: vec![
                        i.max_user_ev.clone(),
                        i.debian_ev.clone(),
                        i.ubuntu_ev.clone(),
                    ],
                    fix: "run `hutch::preflight()` (the `run` example's --check) for the \
                          full picture"
                        .into(),
                });
            }
            None
        }
        libc::EINVAL if namespaces.contains(Namespaces::TIME) => Some(Hint {
            cause: "the kernel may lack time namespaces (Linux 5.6, CONFIG_TIME_NS)".into(),
            evidence: Vec::new(),
            fix: "use Linux 5.6 or later, or do not ask for a time namespace".into(),
        }),
        libc::ENOSYS => Some(Hint {
            cause: "clone3 is not available: Linux before 5.3, or a seccomp filter hides it".into(),
            evidence: vec![Evidence::File {
                path: "/proc/self/status".into(),
                value: format!("Seccomp: {}", i.seccomp),
            }],
            fix: "use Linux 5.9 or later, outside filters that deny clone3".into(),
        }),
        _ => None,
    }
}

// ----- subordinate ids ----------------------------------------------------------------------

fn id_map_items(uid: u32, required: bool) -> Vec<Item> {
    let name = fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| parse::user_name(&p, uid));
    let mut ev = Vec::new();
    let mut ranges = Vec::new();
    for file in ["/etc/subuid", "/etc/subgid"] {
        let (text, e) = read_file(file);
        let r = parse::subid_ranges(text.as_deref().unwrap_or(""), name.as_deref(), uid);
        ev.push(match e {
            Evidence::File { path, .. } => Evidence::File {
                path,
                value: if r.is_empty() {
                    format!("no range for {}", name.as_deref().unwrap_or("the caller"))
                } else {
                    r.iter()
                        .map(|(s, c)| format!("{s}..{}", s + c))
                        .collect::<Vec<_>>()
                        .join(" ")
                },
            },
            e => e,
        });
        ranges.push(!r.is_empty());
    }
    let who = name.clone().unwrap_or_else(|| uid.to_string());
    let sub = if uid == 0 {
        Item::new(
            Id::SubordinateIds,
            State::Ok,
            "root writes any id map itself; no grants needed",
        )
        .evidence(ev)
    } else if ranges.iter().all(|b| *b) {
        Item::new(
            Id::SubordinateIds,
            State::Ok,
            format!("{who} has subordinate uid and gid ranges"),
        )
        .evidence(ev)
    } else {
        Item::new(
            Id::SubordinateIds,
            State::Missing,
            format!(
                "{who} has no subordinate {} range: only single-id maps (the caller as root) \
                 are possible",
                match ranges.as_slice() {
                    [false, false] => "uid and gid",
                    [false, _] => "uid",
                    _ => "gid",
                }
            ),
        )
        .evidence(ev)
        .fix(format!(
            "as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {who}"
        ))
    }
    .required(required);

    let (u_path, u_ok, u_ev) = program_evidence("newuidmap");
    let (g_path, g_ok, g_ev) = program_evidence("newgidmap");
    let helpers = if uid == 0 {
        Item::new(
            Id::IdMapHelpers,
            State::Ok,
            "not needed: root writes id maps itself",
        )
    } else if u_path.is_some() && g_path.is_some() && u_ok && g_ok {
        Item::new(
            Id::IdMapHelpers,
            State::Ok,
            "newuidmap and newgidmap are installed",
        )
    } else if u_path.is_some() && g_path.is_some() {
        Item::new(
            Id::IdMapHelpers,
            State::Missing,
            "newuidmap/newgidmap are installed but neither set-user-ID root nor given file \
             capabilities",
        )
        .fix(
            "as root: chmod u+s on both, or setcap cap_setuid+ep newuidmap and \
              cap_setgid+ep newgidmap",
        )
    } else {
        Item::new(
            Id::IdMapHelpers,
            State::Missing,
            "newuidmap/newgidmap are not installed: multi-range id maps are unavailable to \
             unprivileged callers",
        )
        .fix("install them: apt-get install uidmap (Debian, Ubuntu), dnf install shadow-utils")
    };
    vec![sub, helpers.evidence([u_ev, g_ev]).required(required)]
}

// ----- cgroups ------------------------------------------------------------------------------

/// The cgroup mode of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    V2,
    Hybrid,
    V1,
    None,
}

/// What the checks need to know about cgroups.
#[derive(Debug, Clone, Default)]
struct CgroupInfo {
    uid: u32,
    mounts: Option<parse::CgroupMounts>,
    mountinfo_ev: Option<Evidence>,
    /// The cgroup2 root directory.
    root: Option<PathBuf>,
    root_controllers: Vec<String>,
    /// The caller's cgroup directory, and the line of `/proc/self/cgroup` it came from.
    own: Option<PathBuf>,
    own_ev: Option<Evidence>,
    own_controllers: Vec<String>,
    /// Where containers' cgroups are made by default (their `hutch/` is made in it).
    base: Option<PathBuf>,
    base_controllers: Vec<String>,
    base_subtree: Vec<String>,
    /// `Ok` or the errno of `faccessat(W_OK)` on the base and its subtree_control.
    base_writable: Option<Result<(), i32>>,
    base_owner: Option<u32>,
    delegate_xattr: Option<PathBuf>,
    cmdline: String,
}

impl CgroupInfo {
    fn mode(&self) -> Mode {
        match &self.mounts {
            Some(m) if !m.v2.is_empty() && m.v1.is_empty() => Mode::V2,
            Some(m) if !m.v2.is_empty() => Mode::Hybrid,
            Some(m) if !m.v1.is_empty() => Mode::V1,
            _ => Mode::None,
        }
    }

    fn gather(uid: u32) -> CgroupInfo {
        let mut i = CgroupInfo {
            uid,
            ..CgroupInfo::default()
        };
        i.cmdline = fs::read_to_string("/proc/cmdline").unwrap_or_default();
        let (mi, mi_ev) = read_file("/proc/self/mountinfo");
        let Some(mi) = mi else {
            i.mountinfo_ev = Some(mi_ev);
            return i;
        };
        let mounts = parse::cgroup_mounts(&mi);
        i.mountinfo_ev = Some(Evidence::File {
            path: "/proc/self/mountinfo".into(),
            value: format!(
                "cgroup2 at [{}]; v1 controller hierarchies at [{}]{}",
                mounts
                    .v2
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                mounts
                    .v1
                    .iter()
                    .map(|(p, _)| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                if mounts.v1_named_only {
                    "; a named v1 hierarchy (name=systemd)"
                } else {
                    ""
                }
            ),
        });
        i.mounts = Some(mounts);
        let Ok(h) = Hierarchy::discover_from(&mi) else {
            return i;
        };
        i.root = Some(h.root().to_owned());
        i.root_controllers = read_words(h.root().join("cgroup.controllers"));
        let proc_cgroup = Path::new("/proc/self/cgroup");
        let (text, ev) = read_file(proc_cgroup);
        i.own_ev = Some(match (&text, ev) {
            (Some(t), Evidence::File { path, .. }) => Evidence::File {
                path,
                value: t
                    .lines()
                    .find(|l| l.starts_with("0::"))
                    .unwrap_or("no 0:: line")
                    .to_owned(),
            },
            (_, e) => e,
        });
        let own = text
            .and_then(|t| h.dir_of_proc_cgroup(proc_cgroup, &t).ok())
            .and_then(|rel| h.path_of(rel).ok());
        if let Some(own) = &own {
            i.own_controllers = read_words(own.join("cgroup.controllers"));
            let base = match own.parent() {
                Some(p) if p.starts_with(h.root()) && own != h.root() => p.to_owned(),
                _ => h.root().to_owned(),
            };
            i.base_controllers = read_words(base.join("cgroup.controllers"));
            i.base_subtree = read_words(base.join("cgroup.subtree_control"));
            let w = |p: &Path| {
                CString::new(p.as_os_str().as_bytes())
                    .map_err(|_| libc::EINVAL)
                    .and_then(|c| sys::writable(&c))
            };
            i.base_writable = Some(w(&base).and_then(|()| w(&base.join("cgroup.subtree_control"))));
            i.base_owner = fs::metadata(&base).ok().map(|m| m.uid());
            for dir in [own.as_path(), base.as_path()] {
                let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else {
                    continue;
                };
                if sys::xattr_len(&c, c"trusted.delegate").is_ok()
                    || sys::xattr_len(&c, c"user.delegate").is_ok()
                {
                    i.delegate_xattr = Some(dir.to_owned());
                    break;
                }
            }
            i.base = Some(base);
        }
        i.own = own;
        i
    }

    /// The controllers a container's cgroup can get.
    fn usable(&self) -> Vec<String> {
        if self.base.is_none() {
            return Vec::new();
        }
        if self.uid == 0 {
            // Root enables controllers from the root down.
            self.root_controllers.clone()
        } else if self.base_writable == Some(Ok(())) {
            self.base_controllers.clone()
        } else {
            self.base_subtree.clone()
        }
    }

    /// The v1 hierarchy a controller is bound to.
    fn v1_mount(&self, c: Controller) -> Option<&Path> {
        let v1 = if c == Controller::Io {
            "blkio"
        } else {
            c.name()
        };
        self.mounts.as_ref().and_then(|m| {
            m.v1.iter()
                .find(|(_, cs)| cs.iter().any(|n| n == v1))
                .map(|(p, _)| p.as_path())
        })
    }
}

fn read_words(path: PathBuf) -> Vec<String> {
    fs::read_to_string(path)
        .map(|t| parse::words(&t))
        .unwrap_or_default()
}

/// Explains why the cgroup v2 controller `controller` cannot be used for a container made by
/// the caller: bound to a v1 hierarchy, not in the kernel (or disabled on its command line),
/// or not delegated to the caller's part of the tree. `None` when it is usable (or there is
/// no cgroup2 at all, which [`check`] reports as its own item).
///
/// Meant for the spawn path, to add the cause to a "controller not available" error.
///
/// # Examples
///
/// ```no_run
/// use hutch::cgroup_v2::Controller;
/// if let Some(hint) = hutch::preflight::explain_missing_controller(Controller::Memory) {
///     eprintln!("memory limits are unavailable: {hint}");
/// }
/// ```
pub fn explain_missing_controller(controller: Controller) -> Option<Hint> {
    controller_hint(&CgroupInfo::gather(sys::geteuid()), controller)
}

fn controller_hint(i: &CgroupInfo, c: Controller) -> Option<Hint> {
    let name = c.name();
    if i.usable().iter().any(|n| n == name) {
        return None;
    }
    let root = i.root.as_ref()?;
    let root_ev = Evidence::File {
        path: root.join("cgroup.controllers"),
        value: i.root_controllers.join(" "),
    };
    if !i.root_controllers.iter().any(|n| n == name) {
        if let Some(mp) = i.v1_mount(c) {
            let v1 = if c == Controller::Io { "blkio" } else { name };
            return Some(Hint {
                cause: format!(
                    "this is a cgroup v1/v2 hybrid host and `{name}` is bound to the v1 \
                     hierarchy at {} (a controller can be attached to one hierarchy only)",
                    mp.display()
                ),
                evidence: vec![
                    root_ev,
                    Evidence::Note(format!(
                        "v1 hierarchy with `{v1}` mounted at {}",
                        mp.display()
                    )),
                ],
                fix: format!(
                    "boot with systemd.unified_cgroup_hierarchy=1 (systemd before 256) or \
                     cgroup_no_v1={v1} (or cgroup_no_v1=all) to move it to cgroup v2"
                ),
            });
        }
        let disabled = i
            .cmdline
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("cgroup_disable="))
            .any(|l| l.split(',').any(|n| n == name));
        return Some(if disabled {
            Hint {
                cause: format!("`{name}` is disabled on the kernel command line"),
                evidence: vec![
                    root_ev,
                    Evidence::File {
                        path: "/proc/cmdline".into(),
                        value: i.cmdline.trim().to_owned(),
                    },
                ],
                fix: format!("remove cgroup_disable={name} from the kernel command line"),
            }
        } else {
            Hint {
                cause: format!(
                    "the cgroup2 root does not offer `{name}`: the kernel was built without it"
                ),
                evidence: vec![root_ev],
                fix: format!("use a kernel built with the `{name}` controller"),
            }
        });
    }
    let base = i.base.as_ref()?;
    let subtree_ev = Evidence::File {
        path: base.join("cgroup.subtree_control"),
        value: i.base_subtree.join(" "),
    };
    Some(Hint {
        cause: format!(
            "`{name}` is in the cgroup2 root but not delegated to {} (uid {} may not enable \
             it there)",
            base.display(),
            i.uid
        ),
        evidence: vec![
            root_ev,
            Evidence::File {
                path: base.join("cgroup.controllers"),
                value: i.base_controllers.join(" "),
            },
            subtree_ev,
        ],
        fix: format!(
            "run under a systemd unit or scope with Delegate=yes (e.g. `systemd-run --user \
             --scope -p Delegate=yes -- CMD`; for user sessions add `{name}` to Delegate= of \
             user@.service), or as root chown the cgroup to uid {} and enable `{name}` in \
             its parents' cgroup.subtree_control",
            i.uid
        ),
    })
}

/// The controllers whose absence makes limits unavailable to most users.
const COMMON: [Controller; 4] = [
    Controller::Cpu,
    Controller::Memory,
    Controller::Pids,
    Controller::Io,
];

fn cgroup_items(i: &CgroupInfo, req: &Requirements) -> Vec<Item> {
    let need = req.cgroup || !req.controllers.is_empty();
    let mode = i.mode();
    let mut ev: Vec<Evidence> = i.mountinfo_ev.clone().into_iter().collect();
    ev.extend(i.own_ev.clone());
    let fix_unified = "boot with systemd.unified_cgroup_hierarchy=1 (systemd before 256) or \
                       cgroup_no_v1=all to get every controller in cgroup v2";
    let mode_item = match mode {
        Mode::V2 => Item::new(Id::CgroupMode, State::Ok, "cgroup v2 (unified)"),
        Mode::Hybrid => Item::new(
            Id::CgroupMode,
            State::Limited,
            "v1/v2 hybrid: controllers bound to v1 cannot be used in cgroup2",
        )
        .fix(fix_unified),
        Mode::V1 => Item::new(
            Id::CgroupMode,
            State::Missing,
            "cgroup v1 only: no cgroup2 file system is mounted",
        )
        .fix(fix_unified),
        Mode::None => Item::new(
            Id::CgroupMode,
            State::Missing,
            "no cgroup file system is mounted",
        )
        .fix("mount -t cgroup2 none /sys/fs/cgroup"),
    }
    .evidence(ev)
    .required(need);

    let usable = i.usable();
    let bound: Vec<&str> = Controller::ALL
        .into_iter()
        .filter(|c| i.v1_mount(*c).is_some())
        .map(Controller::name)
        .collect();
    let mut ev = Vec::new();
    if let Some(root) = &i.root {
        ev.push(Evidence::File {
            path: root.join("cgroup.controllers"),
            value: i.root_controllers.join(" "),
        });
    }
    if let Some(own) = i.own.as_ref().filter(|o| Some(*o) != i.root.as_ref()) {
        ev.push(Evidence::File {
            path: own.join("cgroup.controllers"),
            value: i.own_controllers.join(" "),
        });
    }
    if !bound.is_empty() {
        ev.push(Evidence::Note(format!(
            "bound to cgroup v1: {}",
            bound.join(" ")
        )));
    }
    let summary = format!(
        "usable for containers: [{}]{}",
        usable.join(" "),
        if bound.is_empty() {
            String::new()
        } else {
            format!("; bound to v1: [{}]", bound.join(" "))
        }
    );
    let missing_wanted: Vec<Controller> = req
        .controllers
        .iter()
        .copied()
        .filter(|c| !usable.iter().any(|n| n == c.name()))
        .collect();
    let missing_common: Vec<Controller> = COMMON
        .into_iter()
        .filter(|c| !usable.iter().any(|n| n == c.name()))
        .collect();
    let hints = |cs: &[Controller]| {
        // One fix for every controller bound to v1, then one per other cause.
        let v1: Vec<&str> = cs
            .iter()
            .filter(|c| i.v1_mount(**c).is_some())
            .map(|c| {
                if *c == Controller::Io {
                    "blkio"
                } else {
                    c.name()
                }
            })
            .collect();
        let mut fixes = Vec::new();
        if !v1.is_empty() {
            fixes.push(format!(
                "boot with systemd.unified_cgroup_hierarchy=1 (systemd before 256) or \
                 cgroup_no_v1={} (or cgroup_no_v1=all) to move {} to cgroup v2",
                v1.join(","),
                if v1.len() == 1 { "it" } else { "them" }
            ));
        }
        fixes.extend(
            cs.iter()
                .filter(|c| i.v1_mount(**c).is_none())
                .filter_map(|c| controller_hint(i, *c).map(|h| format!("{}: {}", c.name(), h.fix))),
        );
        fixes
    };
    let controllers = if i.root.is_none() {
        Item::new(
            Id::CgroupControllers,
            State::Missing,
            "no cgroup2 hierarchy",
        )
    } else if !missing_wanted.is_empty() {
        let names: Vec<&str> = missing_wanted.iter().map(|c| c.name()).collect();
        let mut it = Item::new(
            Id::CgroupControllers,
            State::Missing,
            format!("{summary}; requested but unusable: [{}]", names.join(" ")),
        );
        for c in &missing_wanted {
            if let Some(h) = controller_hint(i, *c) {
                it.evidence
                    .push(Evidence::Note(format!("{}: {}", c.name(), h.cause)));
            }
        }
        let fixes = hints(&missing_wanted);
        if !fixes.is_empty() {
            it.fix = Some(fixes.join("; "));
        }
        it
    } else if !missing_common.is_empty() {
        let mut it = Item::new(Id::CgroupControllers, State::Limited, summary);
        let fixes = hints(&missing_common);
        if !fixes.is_empty() {
            it.fix = Some(fixes.join("; "));
        }
        it
    } else {
        Item::new(Id::CgroupControllers, State::Ok, summary)
    };
    let controllers = controllers
        .evidence(ev)
        .required(!req.controllers.is_empty());

    let delegation = match (&i.base, i.base_writable) {
        (Some(base), Some(Ok(()))) => Item::new(
            Id::CgroupDelegation,
            State::Ok,
            format!(
                "containers' cgroups are made under {} (writable{})",
                base.join("hutch").display(),
                if i.uid != 0 { ", delegated" } else { "" }
            ),
        ),
        (Some(base), w) => {
            let errno = match w {
                Some(Err(e)) => e,
                _ => 0,
            };
            let fix = if errno == libc::EROFS {
                "the cgroup file system is mounted read-only (as in many containers): run where \
                 cgroup2 is writable, or without limits"
                    .to_owned()
            } else if i.uid == 0 {
                format!("make {} writable for root", base.display())
            } else {
                format!(
                    "run under a systemd scope with Delegate=yes (`systemd-run --user --scope \
                     -p Delegate=yes -- CMD`), or as root: chown uid {} the cgroup {} and its \
                     cgroup.procs, cgroup.subtree_control and cgroup.threads, or point \
                     Container::cgroup_parent at a cgroup delegated to you",
                    i.uid,
                    base.display()
                )
            };
            let summary = format!(
                "{} is not writable by uid {} ({}): containers run without a cgroup, and \
                 limits are unavailable",
                base.display(),
                i.uid,
                errno_name(errno)
            );
            let state = if need { State::Missing } else { State::Limited };
            Item::new(Id::CgroupDelegation, state, summary).fix(fix)
        }
        (None, _) => Item::new(
            Id::CgroupDelegation,
            if need { State::Missing } else { State::Limited },
            "the caller's cgroup2 cgroup was not found: containers run without a cgroup",
        ),
    };
    let mut ev = Vec::new();
    if let Some(base) = &i.base {
        ev.push(Evidence::Note(format!(
            "{} owned by uid {}; faccessat(W_OK) on it and its cgroup.subtree_control: {}",
            base.display(),
            i.base_owner.map_or("?".to_owned(), |u| u.to_string()),
            match i.base_writable {
                Some(Ok(())) => "ok".to_owned(),
                Some(Err(e)) => errno_name(e),
                None => "not checked".to_owned(),
            }
        )));
    }
    if let Some(d) = &i.delegate_xattr {
        ev.push(Evidence::Note(format!(
            "{} carries systemd's delegate xattr (Delegate=yes)",
            d.display()
        )));
    }
    let delegation = delegation.evidence(ev).required(need);
    vec![mode_item, controllers, delegation]
}

// ----- networking ---------------------------------------------------------------------------

/// Whether the kernel has a module (built in, loaded, or installed to be loaded).
fn module_item(
    id: Id,
    module: &str,
    config: &str,
    release: &str,
    kconfig: Option<&str>,
    what: &str,
) -> Item {
    let mut ev = Vec::new();
    let sys_module = Path::new("/sys/module").join(module);
    let loaded = sys_module.exists();
    ev.push(Evidence::Note(format!(
        "{}: {}",
        sys_module.display(),
        if loaded { "present" } else { "absent" }
    )));
    let cfg = kconfig.map(|k| parse::kconfig(k, config));
    if let Some(v) = cfg {
        ev.push(Evidence::Note(format!(
            "kernel config: {config}={}",
            v.unwrap_or("(not set)")
        )));
    }
    let modules = Path::new("/lib/modules").join(release);
    let mut installed = false;
    for f in ["modules.builtin", "modules.dep"] {
        let p = modules.join(f);
        if let Ok(text) = fs::read_to_string(&p)
            && parse::module_listed(&text, module)
        {
            installed = true;
            ev.push(Evidence::Note(format!("{} lists {module}", p.display())));
        }
    }
    let state = match cfg {
        _ if loaded => State::Ok,
        Some(Some("y" | "m")) => State::Ok,
        _ if installed => State::Ok,
        Some(None) => State::Missing,
        _ => State::Unknown,
    };
    let summary = match state {
        State::Ok if loaded => format!("{what}: available (loaded or built in)"),
        State::Ok => format!("{what}: available (built in or loaded on first use)"),
        State::Missing => format!("{what}: not in this kernel"),
        _ => format!("{what}: not found (no kernel config or module list to go by)"),
    };
    let mut item = Item::new(id, state, summary).evidence(ev);
    if state != State::Ok {
        item.fix = Some(format!(
            "load it (modprobe {module}) or use a kernel built with {config}"
        ));
    }
    item
}

fn network_items(release: &str, kconfig: Option<&str>, req: &Requirements) -> Vec<Item> {
    let mut nft = module_item(
        Id::NfTables,
        "nf_tables",
        "CONFIG_NF_TABLES",
        release,
        kconfig,
        "nf_tables",
    );
    let p = sys::probe_netlink_netfilter();
    nft.evidence.push(Evidence::Syscall {
        call: "socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER)",
        outcome: match p {
            Probe::Ret(_) => Outcome::Returned(0),
            e => e.into(),
        },
    });
    if matches!(p, Probe::Errno(_)) && nft.state != State::Ok {
        nft.state = State::Missing;
    }
    let veth = module_item(
        Id::Veth,
        "veth",
        "CONFIG_VETH",
        release,
        kconfig,
        "veth pairs",
    );
    let bridge = module_item(
        Id::Bridge,
        "bridge",
        "CONFIG_BRIDGE",
        release,
        kconfig,
        "Linux bridges",
    );
    let (pasta, _, pasta_ev) = program_evidence("pasta");
    let (slirp, _, slirp_ev) = program_evidence("slirp4netns");
    let rootless = match (&pasta, &slirp) {
        (Some(_), _) | (_, Some(_)) => Item::new(
            Id::RootlessNetwork,
            State::Ok,
            format!(
                "rootless networking helper: {}",
                [
                    pasta.as_ref().map(|_| "pasta"),
                    slirp.as_ref().map(|_| "slirp4netns")
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
            ),
        ),
        _ => Item::new(
            Id::RootlessNetwork,
            State::Missing,
            "neither pasta nor slirp4netns is installed: no rootless networking",
        )
        .fix("apt-get install passt (for pasta) or slirp4netns"),
    }
    .evidence([pasta_ev, slirp_ev])
    .required(req.rootless_networking);
    vec![
        nft.required(req.networking),
        veth.required(req.networking),
        bridge.required(req.networking),
        rootless,
    ]
}

// ----- capabilities and security modules ----------------------------------------------------

fn capabilities_item(uid: u32, s: &parse::Status, ns: Namespaces) -> Item {
    // The last capability the kernel knows.
    let (last, last_ev) = read_file("/proc/sys/kernel/cap_last_cap");
    let last: u32 = last.and_then(|v| v.parse().ok()).unwrap_or(40);
    let missing_bnd = parse::missing_caps(s.bnd, last);
    let ev = vec![
        Evidence::File {
            path: "/proc/self/status".into(),
            value: format!("CapEff: {:016x}, CapBnd: {:016x}", s.eff, s.bnd),
        },
        last_ev,
    ];
    let names = |v: &[u32]| {
        v.iter()
            .map(|n| parse::cap_name(*n))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let admin = s.eff & (1 << parse::CAP_SYS_ADMIN) != 0;
    let needs_admin = !ns.is_empty() && !ns.contains(Namespaces::USER);
    if needs_admin && !admin {
        return Item::new(
            Id::Capabilities,
            State::Missing,
            "no CAP_SYS_ADMIN, and no user namespace was requested: new namespaces need one \
             or the other",
        )
        .evidence(ev)
        .fix("run as root, or let hutch add a user namespace (the default when unprivileged)")
        .required(true);
    }
    if uid != 0 {
        return Item::new(
            Id::Capabilities,
            State::Ok,
            "unprivileged: hutch maps the caller to root in a user namespace",
        )
        .evidence(ev);
    }
    if missing_bnd.is_empty() {
        Item::new(Id::Capabilities, State::Ok, "root with every capability").evidence(ev)
    } else {
        let mut summary = format!(
            "root, but the bounding set lacks {}: containers cannot have them either",
            names(&missing_bnd)
        );
        if missing_bnd.contains(&24) {
            summary.push_str(
                " (without CAP_SYS_RESOURCE, limits above the hard rlimits and some /proc/sys \
                 knobs are refused)",
            );
        }
        Item::new(Id::Capabilities, State::Limited, summary)
            .evidence(ev)
            .fix(
                "the process that started this one dropped them (a container runtime or \
                 sandbox): run outside it to get them",
            )
    }
}

fn lsm_item(kconfig: Option<&str>) -> Item {
    let (lsm, lsm_ev) = read_file("/sys/kernel/security/lsm");
    let mut ev = vec![lsm_ev];
    let (aa, aa_ev) = read_file("/sys/module/apparmor/parameters/enabled");
    ev.push(aa_ev);
    let (se, se_ev) = read_file("/sys/fs/selinux/enforce");
    ev.push(se_ev);
    let configured = kconfig.and_then(|k| parse::kconfig(k, "CONFIG_LSM"));
    if let Some(c) = configured {
        ev.push(Evidence::Note(format!("kernel config: CONFIG_LSM={c}")));
    }
    let mut parts = Vec::new();
    if let Some(l) = &lsm {
        parts.push(format!("active: {l}"));
    } else if let Some(c) = configured {
        parts.push(format!(
            "securityfs not mounted; configured by default: {c}"
        ));
    }
    if aa.as_deref() == Some("Y") {
        parts.push("AppArmor enabled (profiles may confine containers)".into());
    }
    match se.as_deref() {
        Some("1") => parts.push("SELinux enforcing".into()),
        Some("0") => parts.push("SELinux permissive".into()),
        _ => {}
    }
    if parts.is_empty() {
        Item::new(
            Id::SecurityModules,
            State::Unknown,
            "no security module information (securityfs not mounted)",
        )
        .evidence(ev)
    } else {
        Item::new(Id::SecurityModules, State::Ok, parts.join("; ")).evidence(ev)
    }
}

#[cfg(test)]
mod tests;
