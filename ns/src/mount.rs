//! Mount-namespace setup, planned in the parent and executed in the child.
//!
//! A [`MountPlan`] says what the container's mount namespace should look like.
//! [`MountPlan::prepare`] checks it and turns it into a [`PreparedMounts`]: a flat list of
//! system calls with every path already a `CString`. The child, after
//! `clone(CLONE_NEWNS)` and before `exec`, runs [`PreparedMounts::apply`], which only
//! makes raw system calls. A failure comes back as a [`MountFailure`] (three integers, see
//! [`MountFailure::encode`]) that the parent turns into a [`MountError`] naming the step and
//! the paths with [`PreparedMounts::describe`].
//!
//! The order of operations in the child:
//! 1. make every mount private or slave, recursively, starting at `/` ([`Propagation`]);
//! 2. with a rootfs: bind-mount it onto itself (`pivot_root` needs a mount point);
//! 3. fresh `proc` at `ROOT/proc` ([`MountPlan::proc`]);
//! 4. minimal `/dev` ([`MountPlan::dev`]);
//! 5. tmpfs and bind mounts, in the order they were added;
//! 6. masked paths, then read-only paths (both skipped where nothing exists);
//! 7. read-only root ([`MountPlan::readonly_root`]);
//! 8. with a rootfs: `chdir(ROOT)`, `pivot_root(".", ".")`, `umount2(".", MNT_DETACH)`,
//!    `chdir("/")`, which leaves the old root detached and unreachable.
//!
//! With a rootfs, all destinations are inside it and missing mount points (directories, or
//! empty files for file binds) are created. Without a rootfs, destinations are in the
//! current tree and must already exist: the plan never creates files on the host's own
//! filesystem.
//!
//! # Caveats
//! Destinations inside a rootfs are resolved in [`MountPlan::prepare`], in the parent,
//! following symlinks as the container will see them (with the rootfs as `/`), so that an
//! image's `/etc/localtime -> /usr/share/zoneinfo/...` is mounted on inside the rootfs. The
//! rootfs is still trusted: one that is changed between `prepare` and the spawn (a symlink
//! swapped in) can redirect a mount point out of it. Do not prepare plans for rootfs
//! directories that untrusted processes can write to.
//!
//! # References
//! - [mount(2)](https://man7.org/linux/man-pages/man2/mount.2.html),
//!   [mount_setattr(2)](https://man7.org/linux/man-pages/man2/mount_setattr.2.html),
//!   [pivot_root(2)](https://man7.org/linux/man-pages/man2/pivot_root.2.html),
//!   [mount_namespaces(7)](https://man7.org/linux/man-pages/man7/mount_namespaces.7.html)

use std::ffi::CString;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use libc::c_ulong;

use crate::sys;

/// How mounts in the new namespace relate to the parent's, applied recursively to `/`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// `MS_PRIVATE`: no events in either direction (the default).
    #[default]
    Private,
    /// `MS_SLAVE`: mounts made by the host later still appear inside, nothing leaks out.
    Slave,
}

/// Options of a tmpfs mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TmpfsOptions {
    /// Size limit in bytes (`size=`); `None` leaves the kernel default (half of RAM).
    pub size: Option<u64>,
    /// Mode of the root directory (`mode=`, octal); `None` leaves the default `1777`.
    pub mode: Option<u32>,
    /// `MS_NOSUID`.
    pub nosuid: bool,
    /// `MS_NODEV`.
    pub nodev: bool,
    /// `MS_NOEXEC`.
    pub noexec: bool,
}

impl TmpfsOptions {
    /// `nosuid,nodev` with the given size and mode: a sensible default for scratch space.
    pub fn scratch(size: Option<u64>, mode: Option<u32>) -> TmpfsOptions {
        TmpfsOptions {
            size,
            mode,
            nosuid: true,
            nodev: true,
            noexec: false,
        }
    }

    fn flags(&self) -> c_ulong {
        let mut flags = 0;
        if self.nosuid {
            flags |= libc::MS_NOSUID;
        }
        if self.nodev {
            flags |= libc::MS_NODEV;
        }
        if self.noexec {
            flags |= libc::MS_NOEXEC;
        }
        flags
    }

    /// The `data` string for `mount(2)`, e.g. `size=1048576,mode=0755`.
    fn data(&self) -> String {
        let mut parts = Vec::new();
        if let Some(size) = self.size {
            parts.push(format!("size={size}"));
        }
        if let Some(mode) = self.mode {
            parts.push(format!("mode={mode:04o}"));
        }
        parts.join(",")
    }
}

/// Paths Docker masks by default (bind `/dev/null` over files, read-only tmpfs over
/// directories).
pub const DOCKER_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only by default.
pub const DOCKER_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum UserMount {
    Tmpfs {
        dst: PathBuf,
        options: TmpfsOptions,
    },
    Bind {
        src: PathBuf,
        dst: PathBuf,
        readonly: bool,
    },
}

/// What the child's mount namespace should look like; see the [module docs](self).
///
/// # Examples
/// ```
/// use hutch_ns::mount::{MountPlan, TmpfsOptions};
/// let mut plan = MountPlan::new();
/// plan.proc(true)
///     .tmpfs("/tmp", TmpfsOptions::scratch(Some(64 << 20), Some(0o1777)))
///     .bind_ro("/etc/resolv.conf", "/etc/resolv.conf")
///     .docker_defaults();
/// let prepared = plan.prepare()?;
/// // Send `prepared` into the child; there: unsafe { prepared.apply() }.
/// # drop(prepared);
/// # Ok::<(), hutch_ns::mount::MountPlanError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountPlan {
    propagation: Propagation,
    rootfs: Option<PathBuf>,
    proc: bool,
    dev: bool,
    readonly_root: bool,
    mounts: Vec<UserMount>,
    masks: Vec<PathBuf>,
    readonly: Vec<PathBuf>,
}

impl MountPlan {
    /// An empty plan: only makes `/` private, recursively.
    pub fn new() -> MountPlan {
        MountPlan::default()
    }

    /// Sets the propagation applied to `/` first (default [`Propagation::Private`]).
    pub fn propagation(&mut self, propagation: Propagation) -> &mut Self {
        self.propagation = propagation;
        self
    }

    /// Pivots into `path` as the new root.
    pub fn rootfs(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.rootfs = Some(path.as_ref().to_owned());
        self
    }

    /// Mounts a fresh procfs at `/proc` (for a new pid namespace).
    pub fn proc(&mut self, on: bool) -> &mut Self {
        self.proc = on;
        self
    }

    /// Builds a minimal `/dev` (needs a rootfs): tmpfs, binds of the host's `null zero full
    /// random urandom tty`, a new devpts instance with `/dev/ptmx -> pts/ptmx`, tmpfs
    /// `/dev/shm`, and the `fd stdin stdout stderr` symlinks.
    pub fn dev(&mut self, on: bool) -> &mut Self {
        self.dev = on;
        self
    }

    /// Makes the root mount read-only (not recursively: later binds keep their own mode).
    pub fn readonly_root(&mut self, on: bool) -> &mut Self {
        self.readonly_root = on;
        self
    }

    /// Mounts a tmpfs at `dst`.
    pub fn tmpfs(&mut self, dst: impl AsRef<Path>, options: TmpfsOptions) -> &mut Self {
        self.mounts.push(UserMount::Tmpfs {
            dst: dst.as_ref().to_owned(),
            options,
        });
        self
    }

    /// Bind-mounts host path `src` (recursively) at `dst`.
    pub fn bind(&mut self, src: impl AsRef<Path>, dst: impl AsRef<Path>) -> &mut Self {
        self.mounts.push(UserMount::Bind {
            src: src.as_ref().to_owned(),
            dst: dst.as_ref().to_owned(),
            readonly: false,
        });
        self
    }

    /// Bind-mounts host path `src` at `dst`, read-only (recursively, with `mount_setattr`).
    pub fn bind_ro(&mut self, src: impl AsRef<Path>, dst: impl AsRef<Path>) -> &mut Self {
        self.mounts.push(UserMount::Bind {
            src: src.as_ref().to_owned(),
            dst: dst.as_ref().to_owned(),
            readonly: true,
        });
        self
    }

    /// Hides `path`: `/dev/null` is bound over a file, an empty read-only tmpfs over a
    /// directory. Nothing happens if `path` does not exist in the container.
    pub fn mask(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.masks.push(path.as_ref().to_owned());
        self
    }

    /// Makes the existing `path` read-only (bind onto itself, then `MOUNT_ATTR_RDONLY`
    /// recursively). Nothing happens if `path` does not exist in the container.
    pub fn readonly(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.readonly.push(path.as_ref().to_owned());
        self
    }

    /// Adds Docker's default masked and read-only paths ([`DOCKER_MASKED_PATHS`],
    /// [`DOCKER_READONLY_PATHS`]).
    pub fn docker_defaults(&mut self) -> &mut Self {
        for p in DOCKER_MASKED_PATHS {
            self.mask(p);
        }
        for p in DOCKER_READONLY_PATHS {
            self.readonly(p);
        }
        self
    }

    /// Checks the plan and builds every string the child will need.
    ///
    /// # Errors
    /// - [`MountPlanError::NotAbsolute`] / [`MountPlanError::ParentComponent`] for a
    ///   destination, mask or read-only path that is relative or contains `..`;
    /// - [`MountPlanError::NulByte`] naming a path with a NUL byte;
    /// - [`MountPlanError::Rootfs`] / [`MountPlanError::RootfsNotDirectory`];
    /// - [`MountPlanError::BindSource`] naming a missing bind source;
    /// - [`MountPlanError::DevWithoutRootfs`].
    pub fn prepare(&self) -> Result<PreparedMounts, MountPlanError> {
        let mut b = Builder::default();
        let root = match &self.rootfs {
            None => None,
            Some(path) => {
                cstr(path)?;
                let canon = fs::canonicalize(path).map_err(|source| MountPlanError::Rootfs {
                    path: path.clone(),
                    source,
                })?;
                let meta = fs::metadata(&canon).map_err(|source| MountPlanError::Rootfs {
                    path: path.clone(),
                    source,
                })?;
                if !meta.is_dir() {
                    return Err(MountPlanError::RootfsNotDirectory { path: path.clone() });
                }
                Some(canon)
            }
        };
        let root = root.as_deref();
        if self.dev && root.is_none() {
            return Err(MountPlanError::DevWithoutRootfs);
        }

        let propagation = match self.propagation {
            Propagation::Private => libc::MS_PRIVATE,
            Propagation::Slave => libc::MS_SLAVE,
        };
        b.mount(
            MountStep::MakePrivate,
            None,
            Path::new("/"),
            None,
            libc::MS_REC | propagation,
            None,
        )?;

        if let Some(root) = root {
            b.mount(
                MountStep::BindRootfs,
                Some(root),
                root,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )?;
        }

        if self.proc {
            let dst = join(root, Path::new("/proc"))?;
            b.mount_point(MountStep::Proc, root, &dst, true)?;
            b.mount(
                MountStep::Proc,
                Some(Path::new("proc")),
                &dst,
                Some("proc"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                None,
            )?;
        }

        if self.dev
            && let Some(root) = root
        {
            b.dev(root)?;
        }

        for m in &self.mounts {
            match m {
                UserMount::Tmpfs { dst, options } => {
                    // tmpfs reads `size=0` as "no limit": never what a caller of size 0 meant.
                    if options.size == Some(0) {
                        return Err(MountPlanError::TmpfsSizeZero { path: dst.clone() });
                    }
                    let full = join(root, dst)?;
                    b.mount_point(MountStep::Tmpfs, root, &full, true)?;
                    let data = options.data();
                    b.mount(
                        MountStep::Tmpfs,
                        Some(Path::new("tmpfs")),
                        &full,
                        Some("tmpfs"),
                        options.flags(),
                        (!data.is_empty()).then_some(data.as_str()),
                    )?;
                }
                UserMount::Bind { src, dst, readonly } => {
                    cstr(src)?;
                    let meta = fs::metadata(src).map_err(|source| MountPlanError::BindSource {
                        path: src.clone(),
                        source,
                    })?;
                    let full = join(root, dst)?;
                    b.mount_point(MountStep::Bind, root, &full, meta.is_dir())?;
                    b.mount(
                        MountStep::Bind,
                        Some(src),
                        &full,
                        None,
                        libc::MS_BIND | libc::MS_REC,
                        None,
                    )?;
                    if *readonly {
                        b.push(
                            MountStep::Bind,
                            &full,
                            None,
                            Op::ReadOnly {
                                target: cstr(&full)?,
                                recursive: true,
                            },
                        );
                    }
                }
            }
        }

        for path in &self.masks {
            let full = join(root, path)?;
            b.push(
                MountStep::Mask,
                &full,
                None,
                Op::Mask {
                    target: cstr(&full)?,
                },
            );
        }
        for path in &self.readonly {
            let full = join(root, path)?;
            b.push(
                MountStep::ReadOnly,
                &full,
                None,
                Op::ReadOnlyPath {
                    target: cstr(&full)?,
                },
            );
        }
        if self.readonly_root {
            let target = root.unwrap_or(Path::new("/"));
            b.push(
                MountStep::ReadOnlyRoot,
                target,
                None,
                Op::ReadOnly {
                    target: cstr(target)?,
                    recursive: false,
                },
            );
        }
        if let Some(root) = root {
            b.push(
                MountStep::PivotRoot,
                root,
                None,
                Op::PivotRoot {
                    new_root: cstr(root)?,
                },
            );
        }
        if b.actions.len() > MountFailure::MAX_INDEX as usize {
            return Err(MountPlanError::TooManyOperations {
                count: b.actions.len(),
            });
        }
        Ok(PreparedMounts {
            actions: b.actions,
            rootfs: root.map(Path::to_owned),
        })
    }
}

/// Converts a path for the kernel.
fn cstr(path: &Path) -> Result<CString, MountPlanError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| MountPlanError::NulByte {
        path: path.to_owned(),
    })
}

/// Checks a container path (absolute, no `..`, no NUL) and places it under `root`.
fn join(root: Option<&Path>, path: &Path) -> Result<PathBuf, MountPlanError> {
    cstr(path)?;
    if !path.is_absolute() {
        return Err(MountPlanError::NotAbsolute {
            path: path.to_owned(),
        });
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(MountPlanError::ParentComponent {
            path: path.to_owned(),
        });
    }
    Ok(match root {
        None => path.to_owned(),
        Some(root) => resolve_in_root(root, path)?,
    })
}

/// The most symlinks followed while resolving one path (the kernel's own limit).
const MAX_SYMLINKS: u32 = 40;

/// Resolves `path` inside `root` the way the container will see it once `root` is its `/`:
/// a symlink met on the way is followed with `root` as the root (an absolute target starts
/// again at `root`, `..` stops at `root`). Components that do not exist yet are kept as they
/// are (the child creates them). So a destination such as `/etc/localtime`, a symlink to
/// `/usr/share/zoneinfo/...` in most images, is mounted on inside the rootfs, never on the
/// host's file it would name before the pivot.
fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf, MountPlanError> {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    let mut todo: VecDeque<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            _ => None,
        })
        .collect();
    let mut done = root.to_path_buf();
    let mut depth = 0usize; // components of `done` below `root`
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            if depth > 0 {
                done.pop();
                depth -= 1;
            }
            continue;
        }
        let candidate = done.join(&c);
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(MountPlanError::SymlinkLoop {
                        path: path.to_owned(),
                    });
                }
                let target =
                    fs::read_link(&candidate).map_err(|source| MountPlanError::Resolve {
                        path: candidate.clone(),
                        source,
                    })?;
                if target.is_absolute() {
                    done = root.to_path_buf();
                    depth = 0;
                }
                for t in target.components().rev() {
                    match t {
                        Component::Normal(n) => todo.push_front(n.to_owned()),
                        Component::ParentDir => todo.push_front("..".into()),
                        _ => {}
                    }
                }
            }
            _ => {
                done.push(&c);
                depth += 1;
            }
        }
    }
    Ok(done)
}

#[derive(Default)]
struct Builder {
    actions: Vec<Action>,
}

impl Builder {
    fn push(&mut self, step: MountStep, target: &Path, source: Option<&Path>, op: Op) {
        self.actions.push(Action {
            step,
            target: target.to_owned(),
            source: source.map(Path::to_owned),
            op,
        });
    }

    fn mount(
        &mut self,
        step: MountStep,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: c_ulong,
        data: Option<&str>,
    ) -> Result<(), MountPlanError> {
        let text = |s: &str| {
            CString::new(s).map_err(|_| MountPlanError::NulByte {
                path: PathBuf::from(s),
            })
        };
        let op = Op::Mount {
            source: source.map(cstr).transpose()?,
            target: cstr(target)?,
            fstype: fstype.map(text).transpose()?,
            flags,
            data: data.map(text).transpose()?,
        };
        self.push(step, target, source, op);
        Ok(())
    }

    /// With a rootfs: creates the missing directories from the rootfs down to `full`, and
    /// `full` itself as a directory or an empty file. Without one: nothing (it must exist).
    fn mount_point(
        &mut self,
        step: MountStep,
        root: Option<&Path>,
        full: &Path,
        dir: bool,
    ) -> Result<(), MountPlanError> {
        let Some(root) = root else { return Ok(()) };
        let Ok(rel) = full.strip_prefix(root) else {
            return Ok(());
        };
        let mut current = root.to_owned();
        let count = rel.components().count();
        for (i, component) in rel.components().enumerate() {
            current.push(component);
            let last = i + 1 == count;
            let op = if last && !dir {
                Op::CreateFile {
                    path: cstr(&current)?,
                }
            } else {
                Op::Mkdir {
                    path: cstr(&current)?,
                    mode: 0o755,
                }
            };
            self.push(step, &current, None, op);
        }
        Ok(())
    }

    fn dev(&mut self, root: &Path) -> Result<(), MountPlanError> {
        let step = MountStep::Dev;
        let dev = root.join("dev");
        self.mount_point(step, Some(root), &dev, true)?;
        self.mount(
            step,
            Some(Path::new("tmpfs")),
            &dev,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_STRICTATIME,
            Some("mode=755,size=65536k"),
        )?;
        for name in ["null", "zero", "full", "random", "urandom", "tty"] {
            let node = dev.join(name);
            let host = Path::new("/dev").join(name);
            self.push(step, &node, None, Op::CreateFile { path: cstr(&node)? });
            self.mount(step, Some(&host), &node, None, libc::MS_BIND, None)?;
        }
        let pts = dev.join("pts");
        self.push(
            step,
            &pts,
            None,
            Op::Mkdir {
                path: cstr(&pts)?,
                mode: 0o755,
            },
        );
        self.mount(
            step,
            Some(Path::new("devpts")),
            &pts,
            Some("devpts"),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620"),
        )?;
        let shm = dev.join("shm");
        self.push(
            step,
            &shm,
            None,
            Op::Mkdir {
                path: cstr(&shm)?,
                mode: 0o1777,
            },
        );
        self.mount(
            step,
            Some(Path::new("shm")),
            &shm,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some("mode=1777,size=65536k"),
        )?;
        for (name, target) in [
            ("ptmx", "pts/ptmx"),
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            let link = dev.join(name);
            let target = Path::new(target);
            self.push(
                step,
                &link,
                Some(target),
                Op::Symlink {
                    target: cstr(target)?,
                    link: cstr(&link)?,
                },
            );
        }
        Ok(())
    }
}

/// One raw operation of the child.
#[derive(Debug)]
enum Op {
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: c_ulong,
        data: Option<CString>,
    },
    /// `mount_setattr(MOUNT_ATTR_RDONLY)`.
    ReadOnly {
        target: CString,
        recursive: bool,
    },
    /// `mkdir`, existing is fine.
    Mkdir {
        path: CString,
        mode: libc::mode_t,
    },
    /// Empty file, existing is fine.
    CreateFile {
        path: CString,
    },
    Symlink {
        target: CString,
        link: CString,
    },
    /// `/dev/null` over a file, read-only tmpfs over a directory, nothing if absent.
    Mask {
        target: CString,
    },
    /// Bind onto itself then read-only, nothing if absent.
    ReadOnlyPath {
        target: CString,
    },
    PivotRoot {
        new_root: CString,
    },
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Mount { flags, .. } if flags & libc::MS_BIND != 0 => "bind mount",
            Op::Mount { flags, .. } if flags & (libc::MS_PRIVATE | libc::MS_SLAVE) != 0 => {
                "change propagation"
            }
            Op::Mount { .. } => "mount",
            Op::ReadOnly { .. } => "make read-only (mount_setattr)",
            Op::Mkdir { .. } => "create mount-point directory",
            Op::CreateFile { .. } => "create mount-point file",
            Op::Symlink { .. } => "create symlink",
            Op::Mask { .. } => "mask",
            Op::ReadOnlyPath { .. } => "make path read-only",
            Op::PivotRoot { .. } => "pivot_root",
        }
    }

    /// Runs the operation: raw system calls only, no allocation.
    fn run(&self) -> Result<(), i32> {
        match self {
            Op::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => sys::raw_mount(
                source.as_deref(),
                target,
                fstype.as_deref(),
                *flags,
                data.as_deref(),
            ),
            Op::ReadOnly { target, recursive } => sys::raw_make_readonly(target, *recursive),
            Op::Mkdir { path, mode } => sys::raw_mkdir(path, *mode),
            Op::CreateFile { path } => sys::raw_create_file(path, 0o644),
            Op::Symlink { target, link } => sys::raw_symlink(target, link),
            Op::Mask { target } => match sys::raw_kind(target)? {
                None => Ok(()),
                Some(true) => sys::raw_mount(
                    Some(c"tmpfs"),
                    target,
                    Some(c"tmpfs"),
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    Some(c"mode=0555"),
                ),
                Some(false) => {
                    sys::raw_mount(Some(c"/dev/null"), target, None, libc::MS_BIND, None)
                }
            },
            Op::ReadOnlyPath { target } => match sys::raw_kind(target)? {
                None => Ok(()),
                Some(_) => {
                    sys::raw_mount(
                        Some(target),
                        target,
                        None,
                        libc::MS_BIND | libc::MS_REC,
                        None,
                    )?;
                    sys::raw_make_readonly(target, true)
                }
            },
            Op::PivotRoot { new_root } => {
                sys::raw_chdir(new_root)?;
                sys::raw_pivot_root_here()?;
                sys::raw_umount2(c".", libc::MNT_DETACH)?;
                sys::raw_chdir(c"/")
            }
        }
    }
}

#[derive(Debug)]
struct Action {
    step: MountStep,
    target: PathBuf,
    source: Option<PathBuf>,
    op: Op,
}

/// A checked [`MountPlan`] with every string built, ready for [`PreparedMounts::apply`] in
/// the child. `Send + Sync`, so it can be shared with a spawning thread.
#[derive(Debug)]
pub struct PreparedMounts {
    actions: Vec<Action>,
    rootfs: Option<PathBuf>,
}

impl PreparedMounts {
    /// The canonical rootfs path, if the plan pivots into one.
    pub fn rootfs(&self) -> Option<&Path> {
        self.rootfs.as_deref()
    }

    /// Number of raw operations [`PreparedMounts::apply`] will run.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// True if there is nothing to run (never the case for a prepared plan).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Sets up the calling process's mount namespace as planned.
    ///
    /// Makes raw system calls only (`mount`, `umount2`, `mount_setattr`, `pivot_root`,
    /// `chdir`, `mkdir`, `open`/`close`, `symlink`, `stat`): no allocation, no locks, no
    /// formatting, no panics, so it may run in a child between `clone` and `exec`.
    ///
    /// # Errors
    /// The first failing operation as a [`MountFailure`]; turn it into a [`MountError`]
    /// in the parent with [`PreparedMounts::describe`].
    ///
    /// # Safety
    /// The caller must be in a mount namespace of its own (`CLONE_NEWNS`) that nothing
    /// else relies on: this makes every mount private or slave, mounts over paths and may
    /// `pivot_root`, which in the host's namespace would change the whole machine. It
    /// should be single-threaded (a child between `clone` and `exec`): other threads
    /// would see their root and cwd change under them.
    ///
    /// # References
    /// - [mount(2)](https://man7.org/linux/man-pages/man2/mount.2.html),
    ///   [pivot_root(2)](https://man7.org/linux/man-pages/man2/pivot_root.2.html)
    #[doc(alias = "mount")]
    #[doc(alias = "pivot_root")]
    // An `unsafe fn` only to state the contract above; the system calls live in `sys`.
    #[allow(unsafe_code)]
    pub unsafe fn apply(&self) -> Result<(), MountFailure> {
        for (index, action) in self.actions.iter().enumerate() {
            if let Err(errno) = action.op.run() {
                return Err(MountFailure {
                    step: action.step,
                    index: index as u32,
                    errno,
                });
            }
        }
        Ok(())
    }

    /// Turns a failure reported by [`PreparedMounts::apply`] into an error naming the step,
    /// the operation and the path(s) involved.
    pub fn describe(&self, failure: MountFailure) -> MountError {
        let source = io::Error::from_raw_os_error(failure.errno);
        match self.actions.get(failure.index as usize) {
            // A failure from another plan (or a corrupted report) must not be described with
            // this plan's paths.
            Some(action) if action.step == failure.step => MountError::Failed {
                step: failure.step,
                operation: action.op.name(),
                target: action.target.clone(),
                source_path: action.source.clone(),
                source,
            },
            _ => MountError::Unknown { failure, source },
        }
    }
}

/// A stage of mount setup, reported in [`MountFailure`] and [`MountError`].
#[non_exhaustive]
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MountStep {
    /// Making `/` private or slave.
    MakePrivate = 1,
    /// Bind-mounting the rootfs onto itself.
    BindRootfs = 2,
    /// Mounting `/proc`.
    Proc = 3,
    /// Building `/dev`.
    Dev = 4,
    /// A tmpfs mount.
    Tmpfs = 5,
    /// A bind mount.
    Bind = 6,
    /// A masked path.
    Mask = 7,
    /// A read-only path.
    ReadOnly = 8,
    /// Making the root read-only.
    ReadOnlyRoot = 9,
    /// `pivot_root` into the rootfs.
    PivotRoot = 10,
}

impl MountStep {
    /// The step whose `repr(u8)` value is `value`.
    pub fn from_u8(value: u8) -> Option<MountStep> {
        Some(match value {
            1 => MountStep::MakePrivate,
            2 => MountStep::BindRootfs,
            3 => MountStep::Proc,
            4 => MountStep::Dev,
            5 => MountStep::Tmpfs,
            6 => MountStep::Bind,
            7 => MountStep::Mask,
            8 => MountStep::ReadOnly,
            9 => MountStep::ReadOnlyRoot,
            10 => MountStep::PivotRoot,
            _ => return None,
        })
    }
}

impl fmt::Display for MountStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MountStep::MakePrivate => "setting mount propagation",
            MountStep::BindRootfs => "bind-mounting the rootfs",
            MountStep::Proc => "mounting /proc",
            MountStep::Dev => "building /dev",
            MountStep::Tmpfs => "mounting a tmpfs",
            MountStep::Bind => "bind-mounting",
            MountStep::Mask => "masking a path",
            MountStep::ReadOnly => "making a path read-only",
            MountStep::ReadOnlyRoot => "making the root read-only",
            MountStep::PivotRoot => "pivoting into the rootfs",
        })
    }
}

/// The child's report of a failed mount operation: plain integers, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MountFailure {
    /// The stage that failed.
    pub step: MountStep,
    /// Which operation of the [`PreparedMounts`] failed (for [`PreparedMounts::describe`]).
    pub index: u32,
    /// The errno.
    pub errno: i32,
}

impl MountFailure {
    /// The largest index that fits in [`MountFailure::encode`] (24 bits).
    pub const MAX_INDEX: u32 = (1 << 24) - 1;

    /// Packs the failure into one `u64` (step in bits 56–63, index in 32–55, errno in 0–31)
    /// to send over a pipe with one `write(2)` of `to_ne_bytes()`.
    ///
    /// ```
    /// use hutch_ns::mount::{MountFailure, MountStep};
    /// let f = MountFailure { step: MountStep::Bind, index: 7, errno: libc::ENOENT };
    /// assert_eq!(MountFailure::decode(f.encode()), Some(f));
    /// assert_eq!(MountFailure::decode(0), None);
    /// ```
    pub const fn encode(self) -> u64 {
        ((self.step as u8 as u64) << 56)
            | (((self.index & MountFailure::MAX_INDEX) as u64) << 32)
            | (self.errno as u32 as u64)
    }

    /// Unpacks [`MountFailure::encode`]; `None` if the step is unknown.
    pub fn decode(value: u64) -> Option<MountFailure> {
        Some(MountFailure {
            step: MountStep::from_u8((value >> 56) as u8)?,
            index: ((value >> 32) as u32) & MountFailure::MAX_INDEX,
            errno: value as u32 as i32,
        })
    }
}

/// A [`MountPlan`] that cannot be prepared.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum MountPlanError {
    /// A tmpfs with `size: Some(0)`, which the kernel would take as unlimited.
    #[error("tmpfs at {} has size 0, which tmpfs takes as unlimited; use None for no limit", path.display())]
    TmpfsSizeZero {
        /// The tmpfs destination.
        path: PathBuf,
    },
    /// Resolving a destination inside the rootfs met more than 40 symlinks.
    #[error("too many symlinks resolving {} inside the rootfs", path.display())]
    SymlinkLoop {
        /// The destination as given.
        path: PathBuf,
    },
    /// A symlink inside the rootfs could not be read while resolving a destination.
    #[error("cannot read the symlink {} inside the rootfs", path.display())]
    Resolve {
        /// The symlink.
        path: PathBuf,
        /// The error from readlink.
        #[source]
        source: io::Error,
    },
    /// A path contains a NUL byte.
    #[error("path {path:?} contains a NUL byte")]
    NulByte {
        /// The path.
        path: PathBuf,
    },
    /// A container path is not absolute.
    #[error("container path {} is not absolute", path.display())]
    NotAbsolute {
        /// The path.
        path: PathBuf,
    },
    /// A container path contains `..`.
    #[error("container path {} contains `..`", path.display())]
    ParentComponent {
        /// The path.
        path: PathBuf,
    },
    /// The rootfs cannot be resolved.
    #[error("rootfs {} cannot be used", path.display())]
    Rootfs {
        /// The rootfs path as given.
        path: PathBuf,
        /// The OS error (`ENOENT` if it does not exist).
        #[source]
        source: io::Error,
    },
    /// The rootfs is not a directory.
    #[error("rootfs {} is not a directory", path.display())]
    RootfsNotDirectory {
        /// The rootfs path as given.
        path: PathBuf,
    },
    /// A bind source cannot be found.
    #[error("bind source {} cannot be used", path.display())]
    BindSource {
        /// The source path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `dev(true)` was asked without a rootfs (a tmpfs over the host's `/dev` would hide
    /// the device nodes it binds).
    #[error("a minimal /dev needs a rootfs")]
    DevWithoutRootfs,
    /// More operations than [`MountFailure`] can number.
    #[error("mount plan has {count} operations, too many")]
    TooManyOperations {
        /// Number of operations.
        count: usize,
    },
}

/// A mount operation failed in the child.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The operation is known.
    #[error("{step}: {operation} failed at {}{}", target.display(), source_path.as_ref().map(|s| format!(" (source {})", s.display())).unwrap_or_default())]
    Failed {
        /// The stage.
        step: MountStep,
        /// What was done, e.g. `bind mount`.
        operation: &'static str,
        /// The path operated on.
        target: PathBuf,
        /// The source path (bind source, symlink target), if any.
        source_path: Option<PathBuf>,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// The failure's index is not one of this plan's operations.
    #[error("{}: operation {} failed (unknown to this plan)", failure.step, failure.index)]
    Unknown {
        /// The failure as reported.
        failure: MountFailure,
        /// The errno.
        #[source]
        source: io::Error,
    },
}

impl MountError {
    /// The errno of the failure.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            MountError::Failed { source, .. } | MountError::Unknown { source, .. } => {
                source.raw_os_error()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn prepared_is_send_sync() {
        assert_send_sync::<PreparedMounts>();
        assert_send_sync::<MountPlan>();
    }

    #[test]
    fn rejects_relative_and_dotdot() {
        let err = MountPlan::new()
            .tmpfs("tmp", TmpfsOptions::default())
            .prepare()
            .unwrap_err();
        assert!(matches!(&err, MountPlanError::NotAbsolute { path } if path == Path::new("tmp")));
        let err = MountPlan::new().mask("/proc/../etc").prepare().unwrap_err();
        assert!(
            matches!(&err, MountPlanError::ParentComponent { .. }),
            "{err}"
        );
    }

    #[test]
    fn rejects_nul_bytes() {
        use std::ffi::OsStr;
        let bad = Path::new(OsStr::from_bytes(b"/tmp/a\0b"));
        let err = MountPlan::new()
            .tmpfs(bad, TmpfsOptions::default())
            .prepare()
            .unwrap_err();
        assert!(
            matches!(&err, MountPlanError::NulByte { path } if path == bad),
            "{err}"
        );
        let err = MountPlan::new().bind(bad, "/x").prepare().unwrap_err();
        assert!(
            matches!(&err, MountPlanError::NulByte { path } if path == bad),
            "{err}"
        );
        let err = MountPlan::new().rootfs(bad).prepare().unwrap_err();
        assert!(
            matches!(&err, MountPlanError::NulByte { path } if path == bad),
            "{err}"
        );
    }

    #[test]
    fn rootfs_checks() {
        let err = MountPlan::new()
            .rootfs("/nonexistent/hutch-rootfs")
            .prepare()
            .unwrap_err();
        match &err {
            MountPlanError::Rootfs { path, source } => {
                assert_eq!(path, Path::new("/nonexistent/hutch-rootfs"));
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("/nonexistent/hutch-rootfs"));
        let err = MountPlan::new()
            .rootfs("/etc/hostname")
            .prepare()
            .unwrap_err();
        assert!(matches!(err, MountPlanError::RootfsNotDirectory { .. }));
        let err = MountPlan::new().dev(true).prepare().unwrap_err();
        assert!(matches!(err, MountPlanError::DevWithoutRootfs));
    }

    #[test]
    fn bind_source_must_exist() {
        let err = MountPlan::new()
            .bind("/nonexistent/src", "/mnt")
            .prepare()
            .unwrap_err();
        match &err {
            MountPlanError::BindSource { path, source } => {
                assert_eq!(path, Path::new("/nonexistent/src"));
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("/nonexistent/src"), "{err}");
    }

    #[test]
    fn joins_under_rootfs_and_creates_mount_points() {
        let mut plan = MountPlan::new();
        plan.rootfs("/").tmpfs("/a/b", TmpfsOptions::default());
        let p = plan.prepare().unwrap();
        // private, bind rootfs, mkdir /a, mkdir /a/b, tmpfs, pivot.
        let steps: Vec<_> = p.actions.iter().map(|a| (a.step, a.op.name())).collect();
        assert_eq!(
            steps,
            [
                (MountStep::MakePrivate, "change propagation"),
                (MountStep::BindRootfs, "bind mount"),
                (MountStep::Tmpfs, "create mount-point directory"),
                (MountStep::Tmpfs, "create mount-point directory"),
                (MountStep::Tmpfs, "mount"),
                (MountStep::PivotRoot, "pivot_root"),
            ]
        );
        assert_eq!(p.actions[3].target, Path::new("/a/b"));
    }

    #[test]
    fn tmpfs_data_string() {
        let o = TmpfsOptions {
            size: Some(1 << 20),
            mode: Some(0o755),
            ..TmpfsOptions::default()
        };
        assert_eq!(o.data(), "size=1048576,mode=0755");
        assert_eq!(TmpfsOptions::default().data(), "");
        assert_eq!(
            TmpfsOptions::scratch(None, Some(0o1777)).data(),
            "mode=1777"
        );
    }

    #[test]
    fn describe_names_paths() {
        let mut plan = MountPlan::new();
        plan.bind("/etc", "/mnt");
        let p = plan.prepare().unwrap();
        let err = p.describe(MountFailure {
            step: MountStep::Bind,
            index: 1,
            errno: libc::EPERM,
        });
        let text = err.to_string();
        assert!(
            text.contains("/mnt") && text.contains("/etc") && text.contains("bind"),
            "{text}"
        );
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        let unknown = p.describe(MountFailure {
            step: MountStep::Bind,
            index: 99,
            errno: 1,
        });
        assert!(matches!(unknown, MountError::Unknown { .. }));
    }

    #[test]
    fn failure_encoding() {
        for v in 0..=u8::MAX {
            if let Some(step) = MountStep::from_u8(v) {
                assert_eq!(step as u8, v);
                for (index, errno) in [(0, 0), (MountFailure::MAX_INDEX, i32::MAX), (5, -1)] {
                    let f = MountFailure { step, index, errno };
                    assert_eq!(MountFailure::decode(f.encode()), Some(f));
                }
            }
        }
    }
}
