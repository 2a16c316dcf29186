//! [`Cgroup`]: one cgroup, held as an open directory.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::controller::parse_list;
use crate::error::{ControllerList, Unavailable};
use crate::events::{CgroupEvents, CgroupStat, CgroupType};
use crate::psi::Pressure;
use crate::value::parse_u64;
use crate::{CgroupError, Controller, Max, ParseError, Pid, Setting, sys};

/// How long [`Cgroup::remove`] waits for the killed processes to go.
pub const DEFAULT_REMOVE_TIMEOUT: Duration = Duration::from_secs(10);

/// One cgroup: an open directory in a cgroup2 file system (`O_DIRECTORY | O_RDONLY |
/// O_CLOEXEC`) and the path it was opened at.
///
/// Every method acts on interface files *relative to the directory descriptor* (one
/// `openat` plus one `read`/`write` each) and never creates files. The descriptor is what
/// `clone3(CLONE_INTO_CGROUP)` wants ([`AsFd`]).
///
/// # Examples
///
/// ```no_run
/// use hutch_cgroup::{Bytes, Hierarchy, Max};
/// let h = Hierarchy::discover()?;
/// let parent = h.create("hutch-example")?;
/// let child = parent.create_child("job")?;
/// child.memory().set_max(Max::Value(Bytes::mib(64)))?;
/// child.remove()?;
/// parent.remove()?;
/// # Ok::<(), hutch_cgroup::CgroupError>(())
/// ```
pub struct Cgroup {
    fd: OwnedFd,
    path: PathBuf,
}

impl fmt::Debug for Cgroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cgroup")
            .field("path", &self.path)
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

impl AsFd for Cgroup {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Checks that `name` is one plain path component.
fn check_name(name: &OsStr) -> Result<(), CgroupError> {
    let bad = |reason| {
        Err(CgroupError::InvalidName {
            name: PathBuf::from(name),
            reason,
        })
    };
    let b = std::os::unix::ffi::OsStrExt::as_bytes(name);
    if b.is_empty() {
        return bad("empty");
    }
    if b == b"." || b == b".." {
        return bad("`.` and `..` are not cgroup names");
    }
    if b.contains(&b'/') {
        return bad("contains `/`; use Hierarchy::create for nested paths");
    }
    if b.contains(&0) {
        return bad("contains a NUL byte");
    }
    Ok(())
}

impl Cgroup {
    /// Opens the cgroup directory at `path` (absolute, in a cgroup2 file system).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Open`] with the errno.
    pub fn open(path: impl Into<PathBuf>) -> Result<Cgroup, CgroupError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = path.into();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&path)
            .map_err(|source| CgroupError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(Cgroup {
            fd: file.into(),
            path,
        })
    }

    /// The path the cgroup was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A second handle on the same directory (`dup`).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Open`] if the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> Result<Cgroup, CgroupError> {
        Ok(Cgroup {
            fd: self.fd.try_clone().map_err(|source| CgroupError::Open {
                path: self.path.clone(),
                source,
            })?,
            path: self.path.clone(),
        })
    }

    // ----- raw file access -------------------------------------------------------------

    /// Reads the interface file `file` of this cgroup as text.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] with the errno.
    pub fn read_file(&self, file: &str) -> Result<String, CgroupError> {
        sys::read_at(self.fd.as_fd(), OsStr::new(file)).map_err(|source| CgroupError::Read {
            path: self.path.clone(),
            file: file.to_owned(),
            source,
        })
    }

    /// Writes `value` (its `Display` text) to the existing interface file `file` in one
    /// `write(2)`. Prefer the typed setters; this is the escape hatch.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`] with the file, the value and the errno.
    pub fn write_file(&self, file: &str, value: impl fmt::Display) -> Result<(), CgroupError> {
        let value = value.to_string();
        sys::write_at(self.fd.as_fd(), OsStr::new(file), value.as_bytes()).map_err(|source| {
            CgroupError::Write {
                path: self.path.clone(),
                file: file.to_owned(),
                value,
                source,
            }
        })
    }

    pub(crate) fn read_with<T>(
        &self,
        file: &str,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<T, CgroupError> {
        let text = self.read_file(file)?;
        parse(&text).map_err(|source| CgroupError::Parse {
            path: self.path.clone(),
            file: file.to_owned(),
            source,
        })
    }

    pub(crate) fn read_parsed<T: FromStr<Err = ParseError>>(
        &self,
        file: &str,
    ) -> Result<T, CgroupError> {
        self.read_with(file, str::parse)
    }

    /// Like `read_parsed`, but a missing file (`ENOENT`) is `None`.
    pub(crate) fn read_optional<T: FromStr<Err = ParseError>>(
        &self,
        file: &str,
    ) -> Result<Option<T>, CgroupError> {
        match self.read_parsed(file) {
            Ok(v) => Ok(Some(v)),
            Err(CgroupError::Read { source, .. })
                if source.raw_os_error() == Some(libc::ENOENT) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Opens `file` read-write and writes a reset to it, returning the descriptor.
    pub(crate) fn open_rw_reset(&self, file: &str) -> Result<OwnedFd, CgroupError> {
        let werr = |source| CgroupError::Write {
            path: self.path.clone(),
            file: file.to_owned(),
            value: "reset".into(),
            source,
        };
        let fd = sys::open_at(self.fd.as_fd(), OsStr::new(file), libc::O_RDWR).map_err(werr)?;
        let mut f = std::fs::File::from(fd);
        io::Write::write(&mut f, b"reset").map_err(werr)?;
        Ok(f.into())
    }

    /// Applies one typed setting (validated first) by writing its file.
    ///
    /// # Errors
    ///
    /// [`CgroupError::InvalidValue`] when the value is out of the kernel's range,
    /// [`CgroupError::Write`] with the errno otherwise.
    pub fn set(&self, setting: &Setting) -> Result<(), CgroupError> {
        let file = setting.file();
        if let Err(source) = setting.validate() {
            return Err(CgroupError::InvalidValue {
                path: self.path.clone(),
                file: file.into_owned(),
                source,
            });
        }
        self.write_file(&file, setting.value())
    }

    // ----- children --------------------------------------------------------------------

    /// Creates the child cgroup `name` (one path component) and opens it.
    ///
    /// # Errors
    ///
    /// [`CgroupError::InvalidName`], or [`CgroupError::Create`] (`EEXIST` if it exists).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let parent = hutch_cgroup::Hierarchy::discover()?.create("svc")?;
    /// let job = parent.create_child("job-1")?;
    /// assert_eq!(job.path(), parent.path().join("job-1"));
    /// # Ok::<(), hutch_cgroup::CgroupError>(())
    /// ```
    ///
    /// # References
    ///
    /// - <https://docs.kernel.org/admin-guide/cgroup-v2.html>
    /// - [cgroups(7)](https://man7.org/linux/man-pages/man7/cgroups.7.html)
    #[doc(alias = "mkdirat")]
    pub fn create_child(&self, name: impl AsRef<OsStr>) -> Result<Cgroup, CgroupError> {
        let name = name.as_ref();
        check_name(name)?;
        let path = self.path.join(name);
        sys::mkdir_at(self.fd.as_fd(), name, 0o755).map_err(|source| CgroupError::Create {
            path: path.clone(),
            source,
        })?;
        self.open_child(name)
    }

    /// Opens the existing child cgroup `name` (one path component).
    ///
    /// # Errors
    ///
    /// [`CgroupError::InvalidName`] or [`CgroupError::Open`].
    pub fn open_child(&self, name: impl AsRef<OsStr>) -> Result<Cgroup, CgroupError> {
        let name = name.as_ref();
        check_name(name)?;
        let path = self.path.join(name);
        let fd = sys::open_dir_at(self.fd.as_fd(), name).map_err(|source| CgroupError::Open {
            path: path.clone(),
            source,
        })?;
        Ok(Cgroup { fd, path })
    }

    /// Opens the child `name`, creating it if it does not exist.
    ///
    /// # Errors
    ///
    /// As [`create_child`](Self::create_child) and [`open_child`](Self::open_child).
    pub fn open_or_create_child(&self, name: impl AsRef<OsStr>) -> Result<Cgroup, CgroupError> {
        match self.create_child(name.as_ref()) {
            Err(CgroupError::Create { source, .. })
                if source.kind() == io::ErrorKind::AlreadyExists =>
            {
                self.open_child(name)
            }
            r => r,
        }
    }

    /// The names of the child cgroups, in directory order.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] (file `.`) with the errno.
    pub fn children(&self) -> Result<Vec<std::ffi::OsString>, CgroupError> {
        sys::subdirs(self.fd.as_fd()).map_err(|source| CgroupError::Read {
            path: self.path.clone(),
            file: ".".into(),
            source,
        })
    }

    /// Every descendant cgroup path, depth first (parents before their children), not
    /// including this one.
    ///
    /// # Errors
    ///
    /// As [`children`](Self::children) and [`open_child`](Self::open_child).
    pub fn descendants(&self) -> Result<Vec<PathBuf>, CgroupError> {
        let mut out = Vec::new();
        for name in self.children()? {
            let c = self.open_child(&name)?;
            out.push(c.path.clone());
            out.extend(c.descendants()?);
        }
        Ok(out)
    }

    // ----- membership -------------------------------------------------------------------

    /// The processes in this cgroup (`cgroup.procs`), not those of descendants.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn procs(&self) -> Result<Vec<Pid>, CgroupError> {
        self.read_with("cgroup.procs", parse_pids)
    }

    /// The threads in this cgroup (`cgroup.threads`).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn threads(&self) -> Result<Vec<Pid>, CgroupError> {
        self.read_with("cgroup.threads", parse_pids)
    }

    /// Moves the process `pid` (all its threads) into this cgroup (`cgroup.procs`).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Move`] with the errno (see its docs for the usual ones).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let cg = hutch_cgroup::Hierarchy::discover()?.create("svc/job")?;
    /// let child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
    /// cg.add_process(hutch_cgroup::Pid::from(&child))?;
    /// # Ok::<(), hutch_cgroup::CgroupError>(())
    /// ```
    ///
    /// # References
    ///
    /// - <https://docs.kernel.org/admin-guide/cgroup-v2.html>
    /// - [cgroups(7)](https://man7.org/linux/man-pages/man7/cgroups.7.html)
    pub fn add_process(&self, pid: Pid) -> Result<(), CgroupError> {
        self.move_into("cgroup.procs", "process", pid)
    }

    /// Moves the thread `tid` into this cgroup (`cgroup.threads`); both cgroups must be in
    /// the same threaded subtree.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Move`] with the errno.
    pub fn add_thread(&self, tid: Pid) -> Result<(), CgroupError> {
        self.move_into("cgroup.threads", "thread", tid)
    }

    fn move_into(&self, file: &str, what: &'static str, pid: Pid) -> Result<(), CgroupError> {
        let text = pid.to_string();
        sys::write_at(self.fd.as_fd(), OsStr::new(file), text.as_bytes()).map_err(|source| {
            CgroupError::Move {
                path: self.path.clone(),
                what,
                pid: pid.as_raw(),
                source,
            }
        })
    }

    /// `cgroup.type`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn cgroup_type(&self) -> Result<CgroupType, CgroupError> {
        self.read_parsed("cgroup.type")
    }

    /// Turns this cgroup into a threaded one (writes `threaded` to `cgroup.type`), so that
    /// threads of one process can be spread over it and its siblings.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`] with the errno.
    pub fn set_type_threaded(&self) -> Result<(), CgroupError> {
        self.write_file("cgroup.type", CgroupType::Threaded)
    }

    // ----- controllers ------------------------------------------------------------------

    /// The controllers available in this cgroup (`cgroup.controllers`).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`], or [`CgroupError::Parse`] naming an unknown controller.
    pub fn controllers(&self) -> Result<Vec<Controller>, CgroupError> {
        self.read_with("cgroup.controllers", parse_list)
    }

    /// The controllers enabled for the children (`cgroup.subtree_control`).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn subtree_control(&self) -> Result<Vec<Controller>, CgroupError> {
        self.read_with("cgroup.subtree_control", parse_list)
    }

    /// Enables `controllers` for the children (`+name …` to `cgroup.subtree_control`).
    ///
    /// # Errors
    ///
    /// [`CgroupError::InternalProcesses`] when the kernel answers `EBUSY` because this
    /// (non-root) cgroup has processes of its own; [`CgroupError::Write`] otherwise
    /// (`ENOENT`: a controller is not in `cgroup.controllers` — see
    /// [`ensure_controllers`](Self::ensure_controllers) for an explained error).
    pub fn enable_controllers(&self, controllers: &[Controller]) -> Result<(), CgroupError> {
        self.change_controllers('+', controllers)
    }

    /// Disables `controllers` for the children (`-name …`).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`] with the errno (`EBUSY` if a child still enables it).
    pub fn disable_controllers(&self, controllers: &[Controller]) -> Result<(), CgroupError> {
        self.change_controllers('-', controllers)
    }

    fn change_controllers(
        &self,
        sign: char,
        controllers: &[Controller],
    ) -> Result<(), CgroupError> {
        if controllers.is_empty() {
            return Ok(());
        }
        let text = controllers
            .iter()
            .map(|c| format!("{sign}{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        match self.write_file("cgroup.subtree_control", &text) {
            Err(CgroupError::Write { source, .. })
                if sign == '+' && source.raw_os_error() == Some(libc::EBUSY) =>
            {
                let processes = self.procs().map(|p| p.len()).unwrap_or(0);
                Err(CgroupError::InternalProcesses {
                    path: self.path.clone(),
                    controllers: ControllerList(controllers.to_vec()),
                    processes,
                    source,
                })
            }
            r => r,
        }
    }

    /// Makes `controllers` usable by the children of this cgroup: checks that each is in
    /// `cgroup.controllers` — explaining why not if it is missing — and enables the ones
    /// not yet in `cgroup.subtree_control`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::ControllerUnavailable`] naming the controller, what is available and
    /// the reason (bound to a v1 hierarchy on a hybrid host, not enabled by an ancestor,
    /// not in the kernel); [`CgroupError::InternalProcesses`] for the "no internal
    /// processes" rule; other read/write errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hutch_cgroup::{Controller, Hierarchy};
    /// let parent = Hierarchy::discover()?.create("svc")?;
    /// match parent.ensure_controllers(&[Controller::Memory, Controller::Pids]) {
    ///     Ok(()) => {}
    ///     // e.g. "controller `memory` is not available in /sys/fs/cgroup/unified
    ///     // (cgroup.controllers: hugetlb): on a v1/v2 hybrid host the controller is bound …"
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// # Ok::<(), hutch_cgroup::CgroupError>(())
    /// ```
    ///
    /// # References
    ///
    /// - <https://docs.kernel.org/admin-guide/cgroup-v2.html>
    /// - [cgroups(7)](https://man7.org/linux/man-pages/man7/cgroups.7.html)
    pub fn ensure_controllers(&self, controllers: &[Controller]) -> Result<(), CgroupError> {
        let available = self.controllers()?;
        if let Some(&missing) = controllers.iter().find(|c| !available.contains(c)) {
            return Err(CgroupError::ControllerUnavailable {
                controller: missing,
                path: self.path.clone(),
                available: ControllerList(available),
                reason: self.why_unavailable(missing),
            });
        }
        let enabled = self.subtree_control()?;
        let todo: Vec<Controller> = controllers
            .iter()
            .copied()
            .filter(|c| !enabled.contains(c))
            .collect();
        self.enable_controllers(&todo)
    }

    /// Explains why `c` is not in this cgroup's `cgroup.controllers`.
    fn why_unavailable(&self, c: Controller) -> Unavailable {
        if let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo")
            && let Some(mount_point) = crate::hierarchy::v1_mount_of(&text, c)
        {
            return Unavailable::BoundToV1 { mount_point };
        }
        // Walk up through `..` while we are still inside the cgroup2 file system (a
        // directory with cgroup.controllers) looking for an ancestor that has it.
        let mut dir = match sys::open_dir_at(self.fd.as_fd(), OsStr::new("..")) {
            Ok(d) => d,
            Err(_) => return Unavailable::NotInKernel,
        };
        let mut path = self.path.clone();
        loop {
            path.pop();
            let Ok(text) = sys::read_at(dir.as_fd(), OsStr::new("cgroup.controllers")) else {
                return Unavailable::NotInKernel;
            };
            if parse_list(&text).is_ok_and(|l| l.contains(&c)) {
                return Unavailable::NotEnabledAbove { ancestor: path };
            }
            match sys::open_dir_at(dir.as_fd(), OsStr::new("..")) {
                Ok(d) => dir = d,
                Err(_) => return Unavailable::NotInKernel,
            }
        }
    }

    /// Creates (or opens) the leaf child `name` and moves the calling process into it, so
    /// that controllers can then be enabled in this cgroup (the "no internal processes"
    /// rule). Returns the leaf.
    ///
    /// # Errors
    ///
    /// As [`open_or_create_child`](Self::open_or_create_child) and
    /// [`add_process`](Self::add_process).
    pub fn move_self_into_leaf(&self, name: impl AsRef<OsStr>) -> Result<Cgroup, CgroupError> {
        let leaf = self.open_or_create_child(name)?;
        leaf.add_process(Pid::this())?;
        Ok(leaf)
    }

    /// Like [`move_self_into_leaf`](Self::move_self_into_leaf), but moves every process
    /// of this cgroup (what a container manager does with its init cgroup).
    ///
    /// # Errors
    ///
    /// As [`move_self_into_leaf`](Self::move_self_into_leaf); a process that exits
    /// meanwhile (`ESRCH`) is skipped.
    pub fn move_all_into_leaf(&self, name: impl AsRef<OsStr>) -> Result<Cgroup, CgroupError> {
        let leaf = self.open_or_create_child(name)?;
        for pid in self.procs()? {
            match leaf.add_process(pid) {
                Err(CgroupError::Move { source, .. })
                    if source.raw_os_error() == Some(libc::ESRCH) => {}
                r => r?,
            }
        }
        Ok(leaf)
    }

    // ----- core limits and state -----------------------------------------------------

    /// `cgroup.max.depth`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn max_depth(&self) -> Result<Max<u32>, CgroupError> {
        self.read_with("cgroup.max.depth", parse_max_u32)
    }

    /// Sets `cgroup.max.depth`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`].
    pub fn set_max_depth(&self, max: Max<u32>) -> Result<(), CgroupError> {
        self.set(&Setting::MaxDepth(max))
    }

    /// `cgroup.max.descendants`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn max_descendants(&self) -> Result<Max<u32>, CgroupError> {
        self.read_with("cgroup.max.descendants", parse_max_u32)
    }

    /// Sets `cgroup.max.descendants`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`].
    pub fn set_max_descendants(&self, max: Max<u32>) -> Result<(), CgroupError> {
        self.set(&Setting::MaxDescendants(max))
    }

    /// `cgroup.stat`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn stat(&self) -> Result<CgroupStat, CgroupError> {
        self.read_parsed("cgroup.stat")
    }

    /// `cgroup.events` (not present in the root cgroup).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] or [`CgroupError::Parse`].
    pub fn events(&self) -> Result<CgroupEvents, CgroupError> {
        self.read_parsed("cgroup.events")
    }

    /// A pressure file: `cpu.pressure`, `memory.pressure`, `io.pressure` (or
    /// `irq.pressure`), by resource name (`cpu`, `memory`, `io`, `irq`).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Read`] (`ENOENT` without PSI, `EOPNOTSUPP` when PSI is disabled),
    /// [`CgroupError::Parse`].
    pub fn pressure(&self, resource: PressureResource) -> Result<Pressure, CgroupError> {
        self.read_parsed(resource.file())
    }

    /// Freezes every process in the cgroup and its descendants (`cgroup.freeze` = 1) and
    /// waits, without busy polling, until `cgroup.events` says `frozen 1`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`], or [`CgroupError::Timeout`] after `timeout`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let cg = hutch_cgroup::Hierarchy::discover()?.open("svc/job")?;
    /// cg.freeze(Duration::from_secs(5))?;   // returns once `frozen 1`
    /// cg.thaw(Duration::from_secs(5))?;
    /// # Ok::<(), hutch_cgroup::CgroupError>(())
    /// ```
    ///
    /// # References
    ///
    /// - <https://docs.kernel.org/admin-guide/cgroup-v2.html>
    /// - [cgroups(7)](https://man7.org/linux/man-pages/man7/cgroups.7.html)
    #[doc(alias = "cgroup.freeze")]
    pub fn freeze(&self, timeout: Duration) -> Result<(), CgroupError> {
        self.write_file("cgroup.freeze", "1")?;
        self.wait_events(|e| e.frozen, "frozen 1", timeout)
            .map(drop)
    }

    /// Thaws the cgroup (`cgroup.freeze` = 0) and waits until `frozen 0`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`], or [`CgroupError::Timeout`] after `timeout` — which is what
    /// happens while an ancestor is frozen: a cgroup is frozen if any ancestor is, whatever
    /// its own `cgroup.freeze` says.
    pub fn thaw(&self, timeout: Duration) -> Result<(), CgroupError> {
        self.write_file("cgroup.freeze", "0")?;
        self.wait_events(|e| !e.frozen, "frozen 0", timeout)
            .map(drop)
    }

    /// Sends `SIGKILL` to every process in the cgroup and its descendants
    /// (`cgroup.kill`, Linux 5.14+). Does not wait; see
    /// [`wait_unpopulated`](Self::wait_unpopulated).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Write`] with the errno.
    #[doc(alias = "cgroup.kill")]
    pub fn kill(&self) -> Result<(), CgroupError> {
        self.write_file("cgroup.kill", "1")
    }

    /// Waits, without busy polling, until `cgroup.events` says `populated 0`.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Timeout`] after `timeout`, or read/poll errors.
    pub fn wait_unpopulated(&self, timeout: Duration) -> Result<(), CgroupError> {
        self.wait_events(|e| !e.populated, "populated 0", timeout)
            .map(drop)
    }

    /// Waits until `cgroup.events` satisfies `done`, sleeping in `poll(POLLPRI)` on the
    /// file between reads (kernfs wakes pollers when the file changes).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Timeout`] with `waiting_for`, or read/poll errors.
    pub fn wait_events(
        &self,
        done: impl Fn(&CgroupEvents) -> bool,
        waiting_for: &'static str,
        timeout: Duration,
    ) -> Result<CgroupEvents, CgroupError> {
        const FILE: &str = "cgroup.events";
        let read_err = |source| CgroupError::Read {
            path: self.path.clone(),
            file: FILE.into(),
            source,
        };
        let fd =
            sys::open_at(self.fd.as_fd(), OsStr::new(FILE), libc::O_RDONLY).map_err(read_err)?;
        let deadline = deadline_after(timeout);
        loop {
            // Reading re-arms the notification: a change after this read wakes the poll.
            let text = sys::pread_all(fd.as_fd()).map_err(read_err)?;
            let events: CgroupEvents = text.parse().map_err(|source| CgroupError::Parse {
                path: self.path.clone(),
                file: FILE.into(),
                source,
            })?;
            if done(&events) {
                return Ok(events);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(CgroupError::Timeout {
                    path: self.path.clone(),
                    waiting_for,
                    timeout,
                });
            }
            sys::poll_pri(fd.as_fd(), deadline - now).map_err(|source| CgroupError::Wait {
                path: self.path.clone(),
                file: FILE.into(),
                source,
            })?;
        }
    }

    /// Kills whatever is left in the cgroup and its descendants, waits until it is empty
    /// (up to [`DEFAULT_REMOVE_TIMEOUT`]), removes the descendants bottom-up and then the
    /// cgroup itself, retrying `EBUSY` for a bounded time.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Timeout`] if processes do not go away, [`CgroupError::Remove`] if
    /// a directory cannot be removed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let cg = hutch_cgroup::Hierarchy::discover()?.create("svc/job")?;
    /// let path = cg.path().to_owned();
    /// cg.remove()?;
    /// assert!(!path.exists());
    /// # Ok::<(), hutch_cgroup::CgroupError>(())
    /// ```
    ///
    /// # References
    ///
    /// - <https://docs.kernel.org/admin-guide/cgroup-v2.html>
    /// - [cgroups(7)](https://man7.org/linux/man-pages/man7/cgroups.7.html)
    #[doc(alias = "rmdir")]
    pub fn remove(self) -> Result<(), CgroupError> {
        self.remove_timeout(DEFAULT_REMOVE_TIMEOUT)
    }

    /// [`remove`](Self::remove) with an explicit bound on the wait.
    ///
    /// # Errors
    ///
    /// As [`remove`](Self::remove).
    ///
    /// # Caveats
    ///
    /// Before Linux 5.14 there is no `cgroup.kill`; then each pid listed in `cgroup.procs`
    /// (here and below) gets `SIGKILL`. A process that forks meanwhile, or a pid recycled
    /// between the read and the signal, is the classic race of that method; the bounded
    /// wait then reports [`CgroupError::Timeout`] rather than looping forever.
    pub fn remove_timeout(self, timeout: Duration) -> Result<(), CgroupError> {
        let deadline = deadline_after(timeout);
        // Only the root has no cgroup.type; it also has no cgroup.kill, and the fallback
        // below would signal every process of the host.
        if sys::read_at(self.fd.as_fd(), OsStr::new("cgroup.type"))
            .is_err_and(|e| e.raw_os_error() == Some(libc::ENOENT))
        {
            return Err(CgroupError::RemoveRoot {
                path: self.path.clone(),
            });
        }
        match self.kill() {
            Ok(()) => {}
            // Before Linux 5.14 there is no cgroup.kill: signal what cgroup.procs lists.
            Err(CgroupError::Write { ref source, .. })
                if source.raw_os_error() == Some(libc::ENOENT) =>
            {
                self.kill_listed()?
            }
            // A threaded cgroup cannot be killed on its own (the kernel kills whole
            // processes, from their threaded domain); an empty one can still be removed.
            Err(CgroupError::Write { ref source, .. })
                if source.raw_os_error() == Some(libc::EOPNOTSUPP)
                    && self.events().is_ok_and(|e| !e.populated) => {}
            Err(e) => return Err(e),
        }
        if self.events().is_ok_and(|e| e.populated) {
            self.wait_unpopulated(deadline.saturating_duration_since(Instant::now()))?;
        }
        self.remove_tree(deadline)
    }

    fn kill_listed(&self) -> Result<(), CgroupError> {
        for pid in self.procs()? {
            let _ = sys::sigkill(pid.as_raw());
        }
        for name in self.children()? {
            self.open_child(name)?.kill_listed()?;
        }
        Ok(())
    }

    fn remove_tree(&self, deadline: Instant) -> Result<(), CgroupError> {
        for name in self.children()? {
            let child = self.open_child(&name)?;
            child.remove_tree(deadline)?;
        }
        let remove_err = |source| CgroupError::Remove {
            path: self.path.clone(),
            source,
        };
        let name = self
            .path
            .file_name()
            .ok_or_else(|| remove_err(io::Error::from_raw_os_error(libc::EBUSY)))?;
        let parent = sys::open_dir_at(self.fd.as_fd(), OsStr::new("..")).map_err(remove_err)?;
        let mut delay = Duration::from_millis(1);
        loop {
            match sys::rmdir_at(parent.as_fd(), name) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
                Err(source) => return Err(remove_err(source)),
            }
        }
    }

    /// Hands the cgroup to `uid`/`gid` the way systemd's `Delegate=yes` does: chowns the
    /// directory and the files the kernel lists as delegatable (`cgroup.procs`,
    /// `cgroup.threads`, `cgroup.subtree_control`, and `memory.oom.group`,
    /// `memory.reclaim` where present), so the user can create children, move its
    /// processes among them and set their limits.
    ///
    /// The user also needs write access to `cgroup.procs` of the common ancestor of any
    /// cgroup it moves processes between — so its processes should start inside this
    /// cgroup.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Delegate`] with the file and errno.
    ///
    /// # References
    ///
    /// - <https://docs.kernel.org/admin-guide/cgroup-v2.html#delegation>
    #[doc(alias = "chown")]
    pub fn delegate(&self, uid: u32, gid: u32) -> Result<(), CgroupError> {
        // The kernel lists the files it considers delegatable in /sys/kernel/cgroup/delegate
        // (4.15+); the documented list stands in where that file is missing.
        const DOCUMENTED: [&str; 5] = [
            "cgroup.procs",
            "cgroup.threads",
            "cgroup.subtree_control",
            "memory.oom.group",
            "memory.reclaim",
        ];
        let listed = std::fs::read_to_string("/sys/kernel/cgroup/delegate").ok();
        let files: Vec<&str> = match &listed {
            Some(text) => text.split_whitespace().collect(),
            None => DOCUMENTED.to_vec(),
        };
        for (i, file) in std::iter::once(".").chain(files).enumerate() {
            match sys::chown_at(self.fd.as_fd(), OsStr::new(file), uid, gid) {
                Ok(()) => {}
                // Controller files exist only with their controller enabled.
                Err(e) if i > 0 && e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(source) => {
                    return Err(CgroupError::Delegate {
                        path: self.path.clone(),
                        file: file.to_owned(),
                        uid,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    // ----- per-controller accessors --------------------------------------------------

    /// The `cpu.*` files.
    pub fn cpu(&self) -> crate::cpu::Cpu<'_> {
        crate::cpu::Cpu { cg: self }
    }
    /// The `cpuset.*` files.
    pub fn cpuset(&self) -> crate::cpuset::Cpuset<'_> {
        crate::cpuset::Cpuset { cg: self }
    }
    /// The `memory.*` files.
    pub fn memory(&self) -> crate::memory::Memory<'_> {
        crate::memory::Memory { cg: self }
    }
    /// The `io.*` files.
    pub fn io(&self) -> crate::io::Io<'_> {
        crate::io::Io { cg: self }
    }
    /// The `pids.*` files.
    pub fn pids(&self) -> crate::pids::Pids<'_> {
        crate::pids::Pids { cg: self }
    }
    /// The `hugetlb.*` files.
    pub fn hugetlb(&self) -> crate::hugetlb::Hugetlb<'_> {
        crate::hugetlb::Hugetlb { cg: self }
    }
    /// The `rdma.*` files.
    pub fn rdma(&self) -> crate::rdma::Rdma<'_> {
        crate::rdma::Rdma { cg: self }
    }
    /// The `misc.*` files.
    pub fn misc(&self) -> crate::misc::Misc<'_> {
        crate::misc::Misc { cg: self }
    }
    /// The `dmem.*` files.
    pub fn dmem(&self) -> crate::dmem::Dmem<'_> {
        crate::dmem::Dmem { cg: self }
    }
}

/// The resource of a pressure file; see [`Cgroup::pressure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PressureResource {
    /// `cpu.pressure`.
    Cpu,
    /// `memory.pressure`.
    Memory,
    /// `io.pressure`.
    Io,
    /// `irq.pressure` (Linux 6.1+, with `CONFIG_IRQ_TIME_ACCOUNTING`).
    Irq,
}

impl PressureResource {
    /// The file name, e.g. `memory.pressure`.
    pub fn file(self) -> &'static str {
        match self {
            PressureResource::Cpu => "cpu.pressure",
            PressureResource::Memory => "memory.pressure",
            PressureResource::Io => "io.pressure",
            PressureResource::Irq => "irq.pressure",
        }
    }
}

/// Parses `cgroup.procs` / `cgroup.threads`: one id per line.
pub(crate) fn parse_pids(text: &str) -> Result<Vec<Pid>, ParseError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::parse)
        .collect()
}

fn parse_max_u32(text: &str) -> Result<Max<u32>, ParseError> {
    let t = text.trim();
    if t == "max" {
        return Ok(Max::Max);
    }
    let v = parse_u64(t, "limit")?;
    u32::try_from(v)
        .map(Max::Value)
        .map_err(|_| ParseError::new("limit", t, "larger than 32 bits"))
}

/// `timeout` from now; a timeout too large to represent (`Duration::MAX`) becomes a century,
/// which is as good as no bound.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}
