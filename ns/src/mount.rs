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
//! 2. open every bind source (and the host's device nodes, `/dev/null` for masks, `/sys`
//!    for the sysfs fallback) as a detached mount tree with `open_tree(OPEN_TREE_CLONE)`,
//!    read-only binds made read-only on the detached tree with `mount_setattr`; so a
//!    source is always the caller's path, whatever the plan mounts later (a tmpfs over
//!    `/tmp` does not hide a bind source under `/tmp`);
//! 3. without a rootfs and with [`MountPlan::readonly_root`]: the whole tree read-only,
//!    recursively; with a rootfs: bind it onto itself (`pivot_root` needs a mount point);
//!    with [`MountPlan::minimal_root`]: a fresh tmpfs as the new root, holding read-only
//!    binds of the host's system directories;
//! 4. fresh `proc` at `ROOT/proc` ([`MountPlan::proc`]);
//! 5. `sysfs` and `cgroup2` ([`MountPlan::sysfs`], [`MountPlan::cgroup2`]);
//! 6. minimal `/dev` ([`MountPlan::dev`]);
//! 7. tmpfs and bind mounts, in the order they were added (each bind moves its detached
//!    tree into place with `move_mount`);
//! 8. masked paths, then read-only paths (both skipped where nothing exists);
//! 9. with a rootfs or a minimal root: its root mount read-only ([`MountPlan::readonly_root`]);
//! 10. with a rootfs or a minimal root: `chdir(ROOT)`, `pivot_root(".", ".")`,
//!     `umount2(".", MNT_DETACH)`, `chdir("/")`, which leaves the old root detached and
//!     unreachable.
//!
//! # Destinations
//! Destinations are container paths: absolute, without `..`, never `/` itself (use a
//! rootfs or [`MountPlan::minimal_root`] for a different root). A destination is checked
//! in [`MountPlan::prepare`] against what the container will have at that point:
//! - inside a rootfs, a minimal root, or a tmpfs the plan mounted earlier: missing mount
//!   points (directories, or empty files for file binds) are created by the child;
//! - inside a bind the plan made earlier: it must exist in the bind's source (the plan
//!   never creates files in a host directory through a bind);
//! - in the host's own tree (no rootfs, nothing of the plan above it): it must exist on the
//!   host; [`MountPlanError::DestinationMissing`] otherwise. The plan never creates files on
//!   the host's own filesystem.
//!
//! A mount directly followed by another one at the same destination is hidden by it for
//! good; it is checked but not made (stacking thousands of identical mounts makes the
//! kernel's path walks quadratic). A plan that would exceed the kernel's mount limit
//! (`/proc/sys/fs/mount-max`) fails in [`MountPlan::prepare`] with
//! [`MountPlanError::TooManyMounts`].
//!
//! # Caveats
//! Destinations inside a rootfs are resolved in [`MountPlan::prepare`], in the parent,
//! following symlinks as the container will see them (with the rootfs as `/`), so that an
//! image's `/etc/localtime -> /usr/share/zoneinfo/...` (or a `/dev` symlink) is mounted on
//! inside the rootfs. The rootfs is still trusted: one that is changed between `prepare`
//! and the spawn (a symlink swapped in) can redirect a mount point out of it. Do not
//! prepare plans for rootfs directories that untrusted processes can write to.
//!
//! A [`PreparedMounts`] keeps the fds of the detached trees of one run in atomics it owns,
//! so one prepared plan must not be applied by two processes at once that share its memory
//! (`CLONE_VM`); prepare one plan per spawn.
//!
//! # References
//! - [mount(2)](https://man7.org/linux/man-pages/man2/mount.2.html),
//!   [open_tree(2)](https://man7.org/linux/man-pages/man2/open_tree.2.html),
//!   [move_mount(2)](https://man7.org/linux/man-pages/man2/move_mount.2.html),
//!   [mount_setattr(2)](https://man7.org/linux/man-pages/man2/mount_setattr.2.html),
//!   [pivot_root(2)](https://man7.org/linux/man-pages/man2/pivot_root.2.html),
//!   [mount_namespaces(7)](https://man7.org/linux/man-pages/man7/mount_namespaces.7.html)

use std::collections::HashMap;
use std::ffi::CString;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

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
    /// Must be between 1 and `i64::MAX` ([`MountPlan::prepare`] refuses 0, which tmpfs reads
    /// as "unlimited", and sizes whose page count would overflow the kernel's parsing).
    pub size: Option<u64>,
    /// Mode of the root directory (`mode=`, octal); `None` leaves the default `1777`. At
    /// most `0o7777` (permission bits plus setuid, setgid and sticky).
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

    /// Refuses what the kernel would misread: size 0 (unlimited), sizes that overflow its
    /// page arithmetic, modes with bits above `0o7777`.
    fn check(&self, path: &Path) -> Result<(), MountPlanError> {
        match self.size {
            Some(0) => return Err(MountPlanError::TmpfsSizeZero { path: path.into() }),
            Some(size) if size > i64::MAX as u64 => {
                return Err(MountPlanError::TmpfsSizeTooLarge {
                    path: path.into(),
                    size,
                });
            }
            _ => {}
        }
        match self.mode {
            Some(mode) if mode > 0o7777 => Err(MountPlanError::TmpfsMode {
                path: path.into(),
                mode,
            }),
            _ => Ok(()),
        }
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

/// The host directories a [`MountPlan::minimal_root`] takes over: read-only binds of the
/// directories, or the same symlinks where the host has them (merged `/usr`).
pub const MINIMAL_ROOT_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// The host files and directories under `/etc` a [`MountPlan::minimal_root`] binds read-only
/// (those the host has; symlinks such as `/etc/localtime` are followed on the host).
pub const MINIMAL_ROOT_ETC: &[&str] = &[
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/ssl/certs",
    "/etc/alternatives",
];

/// Where the child mounts the tmpfs of a [`MountPlan::minimal_root`] before pivoting into
/// it (hidden from the container by the pivot; must exist on the host).
pub const MINIMAL_ROOT_BASE: &str = "/tmp";

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

impl UserMount {
    fn dst(&self) -> &Path {
        match self {
            UserMount::Tmpfs { dst, .. } | UserMount::Bind { dst, .. } => dst,
        }
    }
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
    minimal_root: bool,
    proc: bool,
    dev: bool,
    sysfs: Option<bool>,
    cgroup2: Option<bool>,
    readonly_root: bool,
    mounts: Vec<UserMount>,
    masks: Vec<PathBuf>,
    readonly: Vec<PathBuf>,
    tmpfs_data: Option<String>,
}

impl MountPlan {
    /// An empty plan: only makes `/` private, recursively.
    pub fn new() -> MountPlan {
        MountPlan::default()
    }

    /// A plan for a minimal file tree instead of the host's: [`MountPlan::minimal_root`],
    /// a fresh `/proc`, the minimal `/dev`, a private `/tmp` ([`MountPlan::private_tmp`]) and
    /// a read-only root. Add binds for what the program needs.
    ///
    /// ```
    /// use hutch_ns::mount::MountPlan;
    /// let mut plan = MountPlan::minimal();
    /// plan.bind("/srv/app-data", "/data");
    /// ```
    pub fn minimal() -> MountPlan {
        let mut plan = MountPlan::new();
        plan.minimal_root(true)
            .proc(true)
            .dev(true)
            .private_tmp()
            .readonly_root(true);
        plan
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

    /// Pivots into a minimal tree built on an empty tmpfs (mode 755, `nosuid,nodev`) instead
    /// of the host's: read-only binds (`nodev`) of the host's [`MINIMAL_ROOT_DIRS`] (the same
    /// symlinks where the host has them, as with a merged `/usr`) and of the
    /// [`MINIMAL_ROOT_ETC`] files, plus empty `/etc`, `/proc`, `/dev`, `/sys` and `/tmp`
    /// directories to mount on. Everything else is absent: home directories,
    /// `/etc/shadow`, `/var`, `/run`, `/root`. Combine with [`MountPlan::proc`],
    /// [`MountPlan::dev`], [`MountPlan::private_tmp`] and binds, or start from
    /// [`MountPlan::minimal`].
    ///
    /// The tmpfs is mounted on [`MINIMAL_ROOT_BASE`] in the child's mount namespace before
    /// the pivot. Destinations are not resolved through the tree's own symlinks: bind onto
    /// `/usr/bin/x`, not `/bin/x`. Cannot be combined with [`MountPlan::rootfs`].
    pub fn minimal_root(&mut self, on: bool) -> &mut Self {
        self.minimal_root = on;
        self
    }

    /// Mounts a fresh procfs at `/proc` (for a new pid namespace).
    pub fn proc(&mut self, on: bool) -> &mut Self {
        self.proc = on;
        self
    }

    /// Builds a minimal `/dev`, like Docker's: a tmpfs (`nosuid,noexec`, mode 755), binds of
    /// the host's `null zero full random urandom tty`, a new devpts instance at `/dev/pts`
    /// (`ptmxmode=0666`) with `/dev/ptmx -> pts/ptmx`, a tmpfs `/dev/shm`, a fresh mqueue
    /// at `/dev/mqueue` and the `fd stdin stdout stderr` symlinks.
    ///
    /// Works with a rootfs (inside it, through a `dev` symlink if the image has one), with
    /// a minimal root, and with the host's tree (the tmpfs hides the host's `/dev` in the
    /// container's mount namespace only; the device nodes are bound before it is covered).
    /// `/dev/mqueue` is a fresh mqueue mount where the kernel allows one (the child owns
    /// its IPC namespace, or is privileged over the host's); where it refuses (`EPERM`),
    /// `/dev/mqueue` stays an empty directory rather than showing the host's queues.
    pub fn dev(&mut self, on: bool) -> &mut Self {
        self.dev = on;
        self
    }

    /// Mounts a fresh sysfs at `/sys` (`nosuid,nodev,noexec`), read-only if `ro` (only this
    /// mount: [`MountPlan::cgroup2`] keeps its own mode).
    ///
    /// The kernel allows a fresh sysfs only to a process privileged over the network
    /// namespace it is in (it shows that namespace's interfaces): a child in a new network
    /// namespace of its own user namespace, or a root child in the host's. Where the kernel
    /// refuses (`EPERM`: a user namespace sharing the host's network namespace; `EBUSY`: a
    /// network namespace whose sysfs is already mounted with other flags), the child
    /// falls back to a recursive bind of the host's `/sys` instead, read-only recursively if
    /// `ro`, so the setting is never dropped.
    pub fn sysfs(&mut self, ro: bool) -> &mut Self {
        self.sysfs = Some(ro);
        self
    }

    /// Undoes [`MountPlan::sysfs`]: `/sys` stays what the tree has.
    pub fn no_sysfs(&mut self) -> &mut Self {
        self.sysfs = None;
        self
    }

    /// Mounts a fresh cgroup2 hierarchy at `/sys/fs/cgroup` (`nosuid,nodev,noexec`),
    /// read-only if `ro`: the container's own cgroup namespace, whose root is the cgroup
    /// the child was started in. Mounted over `/sys/fs/cgroup` of the new sysfs if
    /// [`MountPlan::sysfs`] is on, and before that sysfs is made read-only.
    ///
    /// The child must be in a cgroup namespace of its own (`CLONE_NEWCGROUP`): a cgroup2
    /// mount from the initial cgroup namespace would show the whole host hierarchy and reset
    /// its global mount options, so the child checks and fails with `EINVAL` instead (step
    /// [`MountStep::Cgroup`]). Nothing under the host's `/sys/fs/cgroup` is changed: this is
    /// a new mount in the child's mount namespace.
    pub fn cgroup2(&mut self, ro: bool) -> &mut Self {
        self.cgroup2 = Some(ro);
        self
    }

    /// Undoes [`MountPlan::cgroup2`].
    pub fn no_cgroup2(&mut self) -> &mut Self {
        self.cgroup2 = None;
        self
    }

    /// Makes the root read-only.
    ///
    /// - Without a rootfs (the host's tree), the whole tree is made read-only, recursively,
    ///   in the child's mount namespace (`mount_setattr(AT_RECURSIVE)`), right before the
    ///   plan's own mounts: `/proc`, `/sys`, `/dev`, tmpfs mounts and read-write binds
    ///   added later stay writable, and they are the only writable places. The host's
    ///   `/proc`, `/sys` and `/dev` as seen inside become read-only too unless the plan
    ///   mounts fresh ones ([`MountPlan::proc`], [`MountPlan::sysfs`], [`MountPlan::dev`]):
    ///   with the host's `/proc`, writes under `/proc/self` (`oom_score_adj`, LSM
    ///   `attr/exec`) then fail with `EROFS`. Reading stays possible everywhere: secrets
    ///   of the host (`/etc/shadow`, home directories) are readable as far as file
    ///   permissions allow; use [`MountPlan::minimal_root`] to show only system
    ///   directories.
    /// - With a rootfs or a minimal root, its root mount is made read-only at the end, not
    ///   recursively: the plan's mounts and mounts already inside the rootfs keep their own
    ///   mode.
    pub fn readonly_root(&mut self, on: bool) -> &mut Self {
        self.readonly_root = on;
        self
    }

    /// Mounts a tmpfs at `dst`.
    ///
    /// `dst` is a container path, never `/` (use [`MountPlan::rootfs`] or
    /// [`MountPlan::minimal_root`]); with the host's tree it must exist on the host unless
    /// the plan mounts a tmpfs above it first (see [Destinations](self#destinations)).
    /// [`MountPlan::prepare`] checks `options` ([`TmpfsOptions`]).
    pub fn tmpfs(&mut self, dst: impl AsRef<Path>, options: TmpfsOptions) -> &mut Self {
        self.mounts.push(UserMount::Tmpfs {
            dst: dst.as_ref().to_owned(),
            options,
        });
        self
    }

    /// Extra mount data for every tmpfs of the plan's own ([`MountPlan::tmpfs`],
    /// [`MountPlan::private_tmp`]), appended to `size=`/`mode=`: e.g. an SELinux
    /// `context="system_u:object_r:container_file_t:s0"` so that the container's scratch
    /// space carries its label. Checked at [`MountPlan::prepare`] (no NUL byte).
    pub fn tmpfs_data(&mut self, data: impl Into<String>) -> &mut Self {
        self.tmpfs_data = Some(data.into());
        self
    }

    /// A private `/tmp`: tmpfs, `nosuid,nodev`, mode `1777`.
    pub fn private_tmp(&mut self) -> &mut Self {
        self.tmpfs("/tmp", TmpfsOptions::scratch(None, Some(0o1777)))
    }

    /// Bind-mounts host path `src` (recursively) at `dst`.
    ///
    /// `src` is the caller's path, whatever the plan mounts before (the child opens every
    /// source before its first mount); a missing source fails [`MountPlan::prepare`].
    /// `dst` follows the [destination rules](self#destinations).
    pub fn bind(&mut self, src: impl AsRef<Path>, dst: impl AsRef<Path>) -> &mut Self {
        self.mounts.push(UserMount::Bind {
            src: src.as_ref().to_owned(),
            dst: dst.as_ref().to_owned(),
            readonly: false,
        });
        self
    }

    /// Bind-mounts host path `src` at `dst`, read-only recursively (`mount_setattr` on the
    /// detached copy before it is attached); otherwise as [`MountPlan::bind`].
    pub fn bind_ro(&mut self, src: impl AsRef<Path>, dst: impl AsRef<Path>) -> &mut Self {
        self.mounts.push(UserMount::Bind {
            src: src.as_ref().to_owned(),
            dst: dst.as_ref().to_owned(),
            readonly: true,
        });
        self
    }

    /// Hides `path`: `/dev/null` is bound over a file, an empty read-only tmpfs over a
    /// directory. Nothing happens if `path` does not exist in the container. Masks come after
    /// `/proc`, `/sys` and every other mount of the plan, so they apply to those.
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

    /// Appends `other`'s tmpfs, bind, mask and read-only entries after this plan's own (its
    /// flags, such as [`MountPlan::proc`], are not copied). Lets a caller put entries of its
    /// own, such as a default private `/tmp`, before a user's.
    pub fn append(&mut self, other: &MountPlan) -> &mut Self {
        self.mounts.extend(other.mounts.iter().cloned());
        self.masks.extend(other.masks.iter().cloned());
        self.readonly.extend(other.readonly.iter().cloned());
        self
    }

    /// Whether the plan has no tmpfs, bind, mask or read-only entry.
    pub fn has_no_entries(&self) -> bool {
        self.mounts.is_empty() && self.masks.is_empty() && self.readonly.is_empty()
    }

    /// Checks the plan and builds every string the child will need.
    ///
    /// Runs in time linear in the size of the plan (times the depth of its paths).
    ///
    /// # Errors
    /// - [`MountPlanError::NotAbsolute`] / [`MountPlanError::ParentComponent`] for a
    ///   destination, mask or read-only path that is relative or contains `..`;
    ///   [`MountPlanError::RootDestination`] for a tmpfs or bind at `/`;
    /// - [`MountPlanError::NulByte`] naming a path with a NUL byte;
    /// - [`MountPlanError::Rootfs`] / [`MountPlanError::RootfsNotDirectory`] /
    ///   [`MountPlanError::RootfsIsRoot`] / [`MountPlanError::RootfsAndMinimalRoot`];
    /// - [`MountPlanError::BindSource`] naming a missing bind source;
    /// - [`MountPlanError::DestinationMissing`] / [`MountPlanError::DestinationKind`];
    /// - [`MountPlanError::TmpfsSizeZero`], [`MountPlanError::TmpfsSizeTooLarge`],
    ///   [`MountPlanError::TmpfsMode`];
    /// - [`MountPlanError::TooManyMounts`] above `fs.mount-max`;
    /// - [`MountPlanError::MinimalRoot`] if [`MINIMAL_ROOT_BASE`] cannot be used.
    pub fn prepare(&self) -> Result<PreparedMounts, MountPlanError> {
        // Mounts directly followed by another at the same destination are hidden by it.
        let keep: Vec<bool> = (0..self.mounts.len())
            .map(|i| {
                self.mounts
                    .get(i + 1)
                    .is_none_or(|next| next.dst() != self.mounts[i].dst())
            })
            .collect();
        self.check_mount_limit(&keep)?;

        let root = self.root()?;
        let root_path = root.as_ref().map(|(p, _)| p.as_path());
        let resolve = matches!(root, Some((_, RootKind::Rootfs)));
        let mut b = Builder {
            root: root_path.map(Path::to_owned),
            resolve,
            tmpfs_data: self.tmpfs_data.clone(),
            ..Builder::default()
        };
        if let Some((path, kind)) = &root {
            b.cover(
                path,
                if *kind == RootKind::Rootfs {
                    Cover::Rootfs
                } else {
                    Cover::Tmpfs
                },
            );
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

        match &root {
            None if self.readonly_root => {
                b.push(
                    MountStep::ReadOnlyRoot,
                    Path::new("/"),
                    None,
                    Op::ReadOnly {
                        target: c"/".into(),
                        recursive: true,
                    },
                );
            }
            None => {}
            Some((root, RootKind::Rootfs)) => {
                b.mount(
                    MountStep::BindRootfs,
                    Some(root),
                    root,
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )?;
            }
            Some((root, RootKind::Minimal)) => b.minimal_root(root)?,
        }

        if self.proc {
            let dst = b.join(Path::new("/proc"))?;
            b.mount_point(MountStep::Proc, Path::new("/proc"), &dst, true)?;
            b.mount(
                MountStep::Proc,
                Some(Path::new("proc")),
                &dst,
                Some("proc"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                None,
            )?;
            b.cover(&dst, Cover::Special);
        }

        b.sys(self.sysfs, self.cgroup2)?;

        if self.dev {
            b.dev()?;
        }

        for (m, keep) in self.mounts.iter().zip(keep) {
            b.user_mount(m, keep)?;
        }

        let mut seen = std::collections::HashSet::new();
        for path in &self.masks {
            let full = b.join(path)?;
            if !seen.insert(full.clone()) {
                continue;
            }
            let null = b.open_tree(MountStep::Mask, Path::new("/dev/null"), false, 0)?;
            b.push(
                MountStep::Mask,
                &full,
                None,
                Op::Mask {
                    target: cstr(&full)?,
                    null,
                },
            );
        }
        seen.clear();
        for path in &self.readonly {
            let full = b.join(path)?;
            if !seen.insert(full.clone()) {
                continue;
            }
            b.push(
                MountStep::ReadOnly,
                &full,
                None,
                Op::ReadOnlyPath {
                    target: cstr(&full)?,
                },
            );
        }
        if let Some((root, _)) = &root {
            if self.readonly_root {
                b.push(
                    MountStep::ReadOnlyRoot,
                    root,
                    None,
                    Op::ReadOnly {
                        target: cstr(root)?,
                        recursive: false,
                    },
                );
            }
            b.push(
                MountStep::PivotRoot,
                root,
                None,
                Op::PivotRoot {
                    new_root: cstr(root)?,
                },
            );
        }

        // The first action makes `/` private; the sources are opened right after it,
        // before anything of the plan is mounted.
        let mut actions = Vec::with_capacity(b.opens.len() + b.actions.len());
        let mut rest = b.actions.into_iter();
        actions.extend(rest.next());
        actions.append(&mut b.opens);
        actions.extend(rest);
        if actions.len() > MountFailure::MAX_INDEX as usize {
            return Err(MountPlanError::TooManyOperations {
                count: actions.len(),
            });
        }
        Ok(PreparedMounts {
            actions,
            slots: (0..b.slots).map(|_| AtomicI32::new(-1)).collect(),
            rootfs: root.map(|(p, _)| p),
        })
    }

    /// The root to pivot into, canonical, and what it is.
    fn root(&self) -> Result<Option<(PathBuf, RootKind)>, MountPlanError> {
        if self.minimal_root {
            if let Some(path) = &self.rootfs {
                return Err(MountPlanError::RootfsAndMinimalRoot { path: path.clone() });
            }
            let base = Path::new(MINIMAL_ROOT_BASE);
            return match fs::metadata(base) {
                Ok(m) if m.is_dir() => Ok(Some((base.to_owned(), RootKind::Minimal))),
                Ok(_) => Err(MountPlanError::MinimalRoot {
                    path: base.to_owned(),
                    source: io::Error::from_raw_os_error(libc::ENOTDIR),
                }),
                Err(source) => Err(MountPlanError::MinimalRoot {
                    path: base.to_owned(),
                    source,
                }),
            };
        }
        let Some(path) = &self.rootfs else {
            return Ok(None);
        };
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
        if canon == Path::new("/") {
            return Err(MountPlanError::RootfsIsRoot { path: path.clone() });
        }
        Ok(Some((canon, RootKind::Rootfs)))
    }

    /// Fails early if the plan would take the mount namespace past `fs.mount-max`.
    fn check_mount_limit(&self, keep: &[bool]) -> Result<(), MountPlanError> {
        let kept = keep.iter().filter(|k| **k).count();
        // Fixed parts: root, proc, sysfs, cgroup2, /dev (tmpfs, 6 nodes, pts, shm, mqueue),
        // the minimal root's binds.
        let fixed = 4 + 10 + if self.minimal_root { 32 } else { 0 };
        let planned = kept + self.masks.len() + self.readonly.len() + fixed;
        let limit = read_mount_max();
        if planned as u64 <= limit / 2 {
            return Ok(()); // the common case: no need to count the existing mounts
        }
        let existing = fs::read("/proc/self/mountinfo")
            .map(|text| text.iter().filter(|&&b| b == b'\n').count())
            .unwrap_or(0);
        if (planned + existing) as u64 > limit {
            return Err(MountPlanError::TooManyMounts {
                planned,
                existing,
                limit,
            });
        }
        Ok(())
    }
}

/// `/proc/sys/fs/mount-max`, or the kernel's default (100000) if it cannot be read.
fn read_mount_max() -> u64 {
    fs::read_to_string("/proc/sys/fs/mount-max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100_000)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RootKind {
    Rootfs,
    Minimal,
}

/// Converts a path for the kernel.
fn cstr(path: &Path) -> Result<CString, MountPlanError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| MountPlanError::NulByte {
        path: path.to_owned(),
    })
}

/// Checks a container path (absolute, no `..`, no NUL).
fn check_container_path(path: &Path) -> Result<(), MountPlanError> {
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
    Ok(())
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

/// What a path of the container is inside of, as far as the plan knows: decides whether a
/// missing mount point may be created.
#[derive(Debug, Clone)]
enum Cover {
    /// The rootfs: mount points are created (inside the rootfs).
    Rootfs,
    /// A tmpfs of the plan (or the minimal root): mount points are created.
    Tmpfs,
    /// A bind of this host source: the path must exist in the source.
    Bind(PathBuf),
    /// proc, sysfs, cgroup2, devpts, mqueue: the kernel decides; nothing is checked.
    Special,
}

#[derive(Default)]
struct Builder {
    /// Extra data for the plan's own tmpfs mounts ([`MountPlan::tmpfs_data`]).
    tmpfs_data: Option<String>,
    /// Operations after the first (make private), in order.
    actions: Vec<Action>,
    /// `open_tree` operations, run before anything is mounted.
    opens: Vec<Action>,
    /// Number of fd slots the opens fill.
    slots: usize,
    /// The new root, if any.
    root: Option<PathBuf>,
    /// Resolve destinations through symlinks inside `root` (a rootfs; not a minimal root,
    /// whose contents only exist in the child).
    resolve: bool,
    /// The latest mount (sequence number, kind) at each full path.
    covers: HashMap<PathBuf, (usize, Cover)>,
    seq: usize,
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

    /// Checks a container path and places it under the root (resolved inside a rootfs).
    fn join(&self, path: &Path) -> Result<PathBuf, MountPlanError> {
        check_container_path(path)?;
        Ok(match &self.root {
            None => path.to_owned(),
            Some(root) if self.resolve => resolve_in_root(root, path)?,
            Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
        })
    }

    /// Records a mount at `full`.
    fn cover(&mut self, full: &Path, cover: Cover) {
        self.seq += 1;
        self.covers.insert(full.to_owned(), (self.seq, cover));
    }

    /// The latest mount at `full` or above it: `(its path, what it is)`.
    fn covering<'a>(&'a self, full: &'a Path) -> Option<(&'a Path, &'a Cover)> {
        let mut best: Option<(usize, &Path, &Cover)> = None;
        for a in full.ancestors() {
            if let Some((seq, cover)) = self.covers.get(a)
                && best.is_none_or(|(s, _, _)| *seq > s)
            {
                best = Some((*seq, a, cover));
            }
        }
        best.map(|(_, a, c)| (a, c))
    }

    /// Queues `open_tree(src)` (made read-only etc. with `attrs`) for the start of the
    /// child's run; returns the fd slot it fills.
    fn open_tree(
        &mut self,
        step: MountStep,
        src: &Path,
        recursive: bool,
        attrs: u64,
    ) -> Result<usize, MountPlanError> {
        let slot = self.slots;
        self.slots += 1;
        self.opens.push(Action {
            step,
            target: src.to_owned(),
            source: None,
            op: Op::OpenTree {
                path: cstr(src)?,
                slot,
                recursive,
                attrs,
            },
        });
        Ok(slot)
    }

    /// Queues moving the tree of `slot` onto `target`.
    fn move_tree(
        &mut self,
        step: MountStep,
        slot: usize,
        src: &Path,
        target: &Path,
    ) -> Result<(), MountPlanError> {
        let op = Op::MoveTree {
            slot,
            target: cstr(target)?,
        };
        self.push(step, target, Some(src), op);
        Ok(())
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
            permitted_only: false,
        };
        self.push(step, target, source, op);
        Ok(())
    }

    fn mkdir(
        &mut self,
        step: MountStep,
        path: &Path,
        mode: libc::mode_t,
    ) -> Result<(), MountPlanError> {
        let op = Op::Mkdir {
            path: cstr(path)?,
            mode,
        };
        self.push(step, path, None, op);
        Ok(())
    }

    /// Makes sure a mount point will be there for a mount at `full` (container path `dst`):
    /// creates the missing directories below the latest mount above it, and `full` itself
    /// as a directory or an empty file, where that mount is the rootfs or a tmpfs of the
    /// plan; checks that it exists otherwise (see the module's "Destinations").
    fn mount_point(
        &mut self,
        step: MountStep,
        dst: &Path,
        full: &Path,
        dir: bool,
    ) -> Result<(), MountPlanError> {
        let (at, create) = match self.covering(full) {
            // Mounting on top of an earlier mount at the same place.
            Some((at, _)) if at == full => return Ok(()),
            Some((_, Cover::Special)) => return Ok(()),
            Some((at, Cover::Rootfs)) => (at.to_owned(), true),
            Some((at, Cover::Tmpfs)) => (at.to_owned(), false),
            Some((at, Cover::Bind(src))) => {
                let inside = src.join(full.strip_prefix(at).unwrap_or(full));
                return check_exists(dst, &inside, dir);
            }
            None => return check_exists(dst, full, dir),
        };
        if create && self.resolve {
            // Inside the rootfs: something already there must be of the right kind.
            if let Ok(m) = fs::metadata(full)
                && m.is_dir() != dir
            {
                return Err(MountPlanError::DestinationKind {
                    path: dst.to_owned(),
                    checked: full.to_owned(),
                    directory: dir,
                });
            }
        }
        let Ok(rel) = full.strip_prefix(&at) else {
            return Ok(());
        };
        let mut current = at;
        let count = rel.components().count();
        for (i, component) in rel.components().enumerate() {
            current.push(component);
            if i + 1 == count && !dir {
                let op = Op::CreateFile {
                    path: cstr(&current)?,
                };
                self.push(step, &current, None, op);
            } else {
                self.mkdir(step, &current, 0o755)?;
            }
        }
        Ok(())
    }

    fn user_mount(&mut self, m: &UserMount, keep: bool) -> Result<(), MountPlanError> {
        match m {
            UserMount::Tmpfs { dst, options } => {
                let full = self.join(dst)?;
                options.check(dst)?;
                if dst.parent().is_none() {
                    return Err(MountPlanError::RootDestination { path: dst.clone() });
                }
                if !keep {
                    return Ok(());
                }
                self.mount_point(MountStep::Tmpfs, dst, &full, true)?;
                let mut data = options.data();
                if let Some(extra) = &self.tmpfs_data {
                    if !data.is_empty() {
                        data.push(',');
                    }
                    data.push_str(extra);
                }
                self.mount(
                    MountStep::Tmpfs,
                    Some(Path::new("tmpfs")),
                    &full,
                    Some("tmpfs"),
                    options.flags(),
                    (!data.is_empty()).then_some(data.as_str()),
                )?;
                self.cover(&full, Cover::Tmpfs);
            }
            UserMount::Bind { src, dst, readonly } => {
                let full = self.join(dst)?;
                cstr(src)?;
                let meta = fs::metadata(src).map_err(|source| MountPlanError::BindSource {
                    path: src.clone(),
                    source,
                })?;
                if dst.parent().is_none() {
                    return Err(MountPlanError::RootDestination { path: dst.clone() });
                }
                if !keep {
                    return Ok(());
                }
                self.mount_point(MountStep::Bind, dst, &full, meta.is_dir())?;
                let attrs = if *readonly {
                    sys::MOUNT_ATTR_READONLY
                } else {
                    0
                };
                let slot = self.open_tree(MountStep::Bind, src, true, attrs)?;
                self.move_tree(MountStep::Bind, slot, src, &full)?;
                self.cover(&full, Cover::Bind(src.clone()));
            }
        }
        Ok(())
    }

    /// The minimal root: a tmpfs at `root` with the host's system directories and
    /// selected `/etc` files bound read-only.
    fn minimal_root(&mut self, root: &Path) -> Result<(), MountPlanError> {
        let step = MountStep::MinimalRoot;
        self.mount(
            step,
            Some(Path::new("tmpfs")),
            root,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some("mode=0755"),
        )?;
        let ro = sys::MOUNT_ATTR_READONLY | sys::MOUNT_ATTR_NODEV;
        for dir in MINIMAL_ROOT_DIRS {
            let host = Path::new(dir);
            let full = self.join(host)?;
            match fs::symlink_metadata(host) {
                Ok(m) if m.file_type().is_symlink() => {
                    let target =
                        fs::read_link(host).map_err(|source| MountPlanError::MinimalRoot {
                            path: host.to_owned(),
                            source,
                        })?;
                    let op = Op::Symlink {
                        target: cstr(&target)?,
                        link: cstr(&full)?,
                    };
                    self.push(step, &full, Some(&target), op);
                }
                Ok(m) if m.is_dir() => {
                    self.mount_point(step, host, &full, true)?;
                    let slot = self.open_tree(step, host, true, ro)?;
                    self.move_tree(step, slot, host, &full)?;
                    self.cover(&full, Cover::Bind(host.to_owned()));
                }
                _ => {}
            }
        }
        for name in ["/etc", "/proc", "/dev", "/sys", "/tmp"] {
            let full = self.join(Path::new(name))?;
            self.mkdir(step, &full, 0o755)?;
        }
        for file in MINIMAL_ROOT_ETC {
            let host = Path::new(file);
            let Ok(meta) = fs::metadata(host) else {
                continue;
            };
            let full = self.join(host)?;
            self.mount_point(step, host, &full, meta.is_dir())?;
            let slot = self.open_tree(step, host, true, ro)?;
            self.move_tree(step, slot, host, &full)?;
            self.cover(&full, Cover::Bind(host.to_owned()));
        }
        Ok(())
    }

    /// sysfs at `/sys` and cgroup2 at `/sys/fs/cgroup`.
    fn sys(&mut self, sysfs: Option<bool>, cgroup2: Option<bool>) -> Result<(), MountPlanError> {
        let sys_path = Path::new("/sys");
        let sys_full = self.join(sys_path)?;
        if let Some(ro) = sysfs {
            let step = MountStep::Sysfs;
            self.mount_point(step, sys_path, &sys_full, true)?;
            let attrs = sys::MOUNT_ATTR_NOSUID
                | sys::MOUNT_ATTR_NODEV
                | sys::MOUNT_ATTR_NOEXEC
                | if ro { sys::MOUNT_ATTR_READONLY } else { 0 };
            let host = self.open_tree(step, sys_path, true, attrs)?;
            let op = Op::Sysfs {
                target: cstr(&sys_full)?,
                host,
            };
            self.push(step, &sys_full, None, op);
            self.cover(&sys_full, Cover::Special);
        }
        if let Some(ro) = cgroup2 {
            let step = MountStep::Cgroup;
            let dst = Path::new("/sys/fs/cgroup");
            let full = self.join(dst)?;
            self.mount_point(step, dst, &full, true)?;
            self.push(
                step,
                Path::new("/proc/self/ns/cgroup"),
                None,
                Op::RequireOwnCgroupNs,
            );
            self.mount(
                step,
                Some(Path::new("cgroup2")),
                &full,
                Some("cgroup2"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                None,
            )?;
            if ro {
                // Per mount, never `MS_RDONLY` at mount time, which could reach the shared
                // superblock.
                let op = Op::ReadOnly {
                    target: cstr(&full)?,
                    recursive: false,
                };
                self.push(step, &full, None, op);
            }
            self.cover(&full, Cover::Special);
        }
        if sysfs == Some(true) {
            let op = Op::ReadOnly {
                target: cstr(&sys_full)?,
                recursive: false,
            };
            self.push(MountStep::Sysfs, &sys_full, None, op);
        }
        Ok(())
    }

    fn dev(&mut self) -> Result<(), MountPlanError> {
        let step = MountStep::Dev;
        let dev = self.join(Path::new("/dev"))?;
        self.mount_point(step, Path::new("/dev"), &dev, true)?;
        self.mount(
            step,
            Some(Path::new("tmpfs")),
            &dev,
            Some("tmpfs"),
            // nodev: a node made here does not open; the device nodes are bind mounts of
            // the host's, each with its own flags.
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_STRICTATIME,
            Some("mode=755,size=65536k"),
        )?;
        self.cover(&dev, Cover::Tmpfs);
        for name in ["null", "zero", "full", "random", "urandom", "tty"] {
            let node = dev.join(name);
            let host = Path::new("/dev").join(name);
            let slot = self.open_tree(step, &host, false, 0)?;
            self.push(step, &node, None, Op::CreateFile { path: cstr(&node)? });
            self.move_tree(step, slot, &host, &node)?;
        }
        let pts = dev.join("pts");
        self.mkdir(step, &pts, 0o755)?;
        self.mount(
            step,
            Some(Path::new("devpts")),
            &pts,
            Some("devpts"),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620"),
        )?;
        self.cover(&pts, Cover::Special);
        let shm = dev.join("shm");
        self.mkdir(step, &shm, 0o1777)?;
        self.mount(
            step,
            Some(Path::new("shm")),
            &shm,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some("mode=1777,size=65536k"),
        )?;
        self.cover(&shm, Cover::Tmpfs);
        let mqueue = dev.join("mqueue");
        self.mkdir(step, &mqueue, 0o755)?;
        let op = Op::Mount {
            source: Some(c"mqueue".into()),
            target: cstr(&mqueue)?,
            fstype: Some(c"mqueue".into()),
            flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            data: None,
            permitted_only: true,
        };
        self.push(step, &mqueue, None, op);
        self.cover(&mqueue, Cover::Special);
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

/// A destination outside anything the plan creates must exist, with the right kind.
fn check_exists(dst: &Path, checked: &Path, dir: bool) -> Result<(), MountPlanError> {
    match fs::metadata(checked) {
        Ok(m) if m.is_dir() == dir => Ok(()),
        Ok(_) => Err(MountPlanError::DestinationKind {
            path: dst.to_owned(),
            checked: checked.to_owned(),
            directory: dir,
        }),
        Err(source) => Err(MountPlanError::DestinationMissing {
            path: dst.to_owned(),
            checked: checked.to_owned(),
            source,
        }),
    }
}

/// `st_ino` of the initial cgroup namespace (`PROC_CGROUP_INIT_INO`).
const INIT_CGROUP_NS_INO: u64 = 0xEFFF_FFFB;

/// One raw operation of the child.
#[derive(Debug)]
enum Op {
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: c_ulong,
        data: Option<CString>,
        /// `EPERM` leaves the mount point as it is (see [`MountPlan::dev`] on mqueue).
        permitted_only: bool,
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
    /// `/dev/null` (the detached tree in slot `null`) over a file, read-only tmpfs over a
    /// directory, nothing if absent.
    Mask {
        target: CString,
        null: usize,
    },
    /// Bind onto itself then read-only, nothing if absent.
    ReadOnlyPath {
        target: CString,
    },
    PivotRoot {
        new_root: CString,
    },
    /// `open_tree(path, OPEN_TREE_CLONE)` into `slot`, then `mount_setattr(attrs)` on it.
    OpenTree {
        path: CString,
        slot: usize,
        recursive: bool,
        attrs: u64,
    },
    /// `move_mount` of the tree in `slot` onto `target`, then closes it.
    MoveTree {
        slot: usize,
        target: CString,
    },
    /// A fresh sysfs, or on `EPERM` the host's `/sys` tree held in slot `host`.
    Sysfs {
        target: CString,
        host: usize,
    },
    /// Fails with `EINVAL` in the initial cgroup namespace.
    RequireOwnCgroupNs,
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
            Op::OpenTree { .. } => "open the source (open_tree)",
            Op::MoveTree { .. } => "bind mount (move_mount)",
            Op::Sysfs { .. } => "mount sysfs (or bind the host's /sys)",
            Op::RequireOwnCgroupNs => {
                "check for a cgroup namespace of its own (cgroup2 needs CLONE_NEWCGROUP)"
            }
        }
    }

    /// Runs the operation: raw system calls only, no allocation.
    fn run(&self, slots: &[AtomicI32]) -> Result<(), i32> {
        match self {
            Op::Mount {
                source,
                target,
                fstype,
                flags,
                data,
                permitted_only,
            } => match sys::raw_mount(
                source.as_deref(),
                target,
                fstype.as_deref(),
                *flags,
                data.as_deref(),
            ) {
                Err(libc::EPERM) if *permitted_only => Ok(()),
                other => other,
            },
            Op::ReadOnly { target, recursive } => sys::raw_make_readonly(target, *recursive),
            Op::Mkdir { path, mode } => sys::raw_mkdir(path, *mode),
            Op::CreateFile { path } => sys::raw_create_file(path, 0o644),
            Op::Symlink { target, link } => sys::raw_symlink(target, link),
            Op::Mask { target, null } => match sys::raw_kind(target)? {
                None => Ok(()),
                Some(true) => sys::raw_mount(
                    Some(c"tmpfs"),
                    target,
                    Some(c"tmpfs"),
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    Some(c"mode=0555"),
                ),
                Some(false) => move_slot(slots, *null, target),
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
            Op::OpenTree {
                path,
                slot,
                recursive,
                attrs,
            } => {
                let fd = sys::raw_open_tree(path, *recursive)?;
                slots[*slot].store(fd, Ordering::Relaxed);
                if *attrs != 0 {
                    sys::raw_setattr_fd(fd, *attrs, *recursive)?;
                }
                Ok(())
            }
            Op::MoveTree { slot, target } => move_slot(slots, *slot, target),
            Op::Sysfs { target, host } => {
                // The tree's own /sys goes first (its submounts too, such as the host's
                // cgroup hierarchies), so that the fresh one does not merely cover it:
                // covered mounts still show in /proc/self/mountinfo. Not a mount point (a
                // rootfs without one): nothing to detach. The fallback below binds the copy
                // of the host's /sys opened before, which the detach does not touch.
                let _ = sys::raw_umount2(target, libc::MNT_DETACH);
                let fresh = sys::raw_mount(
                    Some(c"sysfs"),
                    target,
                    Some(c"sysfs"),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    None,
                );
                match fresh {
                    Err(libc::EPERM | libc::EBUSY) => move_slot(slots, *host, target),
                    other => other,
                }
            }
            Op::RequireOwnCgroupNs => {
                if sys::raw_ino(c"/proc/self/ns/cgroup")? == INIT_CGROUP_NS_INO {
                    Err(libc::EINVAL)
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Attaches the detached tree of `slot` at `target` and closes its fd.
fn move_slot(slots: &[AtomicI32], slot: usize, target: &std::ffi::CStr) -> Result<(), i32> {
    let fd = slots[slot].load(Ordering::Relaxed);
    if fd < 0 {
        return Err(libc::EBADF);
    }
    sys::raw_move_mount(fd, target)?;
    slots[slot].store(-1, Ordering::Relaxed);
    sys::raw_close(fd);
    Ok(())
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
    /// The detached trees opened at the start of [`PreparedMounts::apply`] (`-1`: none).
    slots: Box<[AtomicI32]>,
    rootfs: Option<PathBuf>,
}

impl PreparedMounts {
    /// The canonical rootfs path (or [`MINIMAL_ROOT_BASE`] for a minimal root), if the plan
    /// pivots into one.
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
    /// Makes raw system calls only (`mount`, `umount2`, `open_tree`, `move_mount`,
    /// `mount_setattr`, `pivot_root`, `chdir`, `mkdir`, `open`/`close`, `symlink`, `stat`):
    /// no allocation, no locks, no formatting, no panics, so it may run in a child between
    /// `clone` and `exec`. The detached trees it opens are `O_CLOEXEC` and closed again
    /// before it returns, whether it succeeds or not.
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
    /// would see their root and cwd change under them. Two processes sharing memory
    /// (`CLONE_VM`) must not apply the same `PreparedMounts` at the same time (see the
    /// module's Caveats).
    ///
    /// # References
    /// - [mount(2)](https://man7.org/linux/man-pages/man2/mount.2.html),
    ///   [pivot_root(2)](https://man7.org/linux/man-pages/man2/pivot_root.2.html)
    #[doc(alias = "mount")]
    #[doc(alias = "pivot_root")]
    #[doc(alias = "open_tree")]
    #[doc(alias = "move_mount")]
    // An `unsafe fn` only to state the contract above; the system calls live in `sys`.
    #[allow(unsafe_code)]
    pub unsafe fn apply(&self) -> Result<(), MountFailure> {
        let mut result = Ok(());
        for (index, action) in self.actions.iter().enumerate() {
            if let Err(errno) = action.op.run(&self.slots) {
                result = Err(MountFailure {
                    step: action.step,
                    index: index as u32,
                    errno,
                });
                break;
            }
        }
        // Trees not moved into place (masks of absent paths, the unused sysfs fallback, or
        // everything after a failure) are closed, which dissolves them.
        for slot in self.slots.iter() {
            let fd = slot.swap(-1, Ordering::Relaxed);
            if fd >= 0 {
                sys::raw_close(fd);
            }
        }
        result
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
    /// Mounting sysfs at `/sys`.
    Sysfs = 11,
    /// Mounting cgroup2 at `/sys/fs/cgroup`.
    Cgroup = 12,
    /// Building a minimal root.
    MinimalRoot = 13,
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
            11 => MountStep::Sysfs,
            12 => MountStep::Cgroup,
            13 => MountStep::MinimalRoot,
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
            MountStep::Sysfs => "mounting /sys",
            MountStep::Cgroup => "mounting /sys/fs/cgroup",
            MountStep::MinimalRoot => "building the minimal root",
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
    /// A tmpfs size larger than `i64::MAX`, whose page count the kernel's parsing would
    /// overflow (`u64::MAX` would become "unlimited").
    #[error("tmpfs at {} has size {size}, larger than the kernel can take (at most {})", path.display(), i64::MAX)]
    TmpfsSizeTooLarge {
        /// The tmpfs destination.
        path: PathBuf,
        /// The size asked for.
        size: u64,
    },
    /// A tmpfs mode with bits above `0o7777`.
    #[error("tmpfs at {} has mode {mode:#o}, above 0o7777", path.display())]
    TmpfsMode {
        /// The tmpfs destination.
        path: PathBuf,
        /// The mode asked for.
        mode: u32,
    },
    /// A tmpfs or bind at `/`, which would not replace the root the program sees.
    #[error("cannot mount on {} itself: use a rootfs, or MountPlan::minimal_root for an empty root", path.display())]
    RootDestination {
        /// The destination as given.
        path: PathBuf,
    },
    /// A destination outside the rootfs and the plan's own tmpfs mounts does not exist.
    #[error("destination {} does not exist ({} is missing; outside a rootfs or a tmpfs of the plan, mount points are never created): create it first, or mount a tmpfs above it", path.display(), checked.display())]
    DestinationMissing {
        /// The destination as given.
        path: PathBuf,
        /// The host path that was checked (the destination, or the matching path inside the
        /// source of a bind it falls in).
        checked: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A destination exists but is a file where a directory is needed, or the reverse.
    #[error(
        "destination {} ({}) is a {}, but a {} is mounted there: a directory mounts onto a \
         directory and a file onto a file{}",
        path.display(),
        checked.display(),
        if *directory { "file" } else { "directory" },
        if *directory { "directory" } else { "file" },
        if *directory { "" } else { " (name a file inside the directory, e.g. DIR/NAME)" }
    )]
    DestinationKind {
        /// The destination as given.
        path: PathBuf,
        /// The host path that was checked.
        checked: PathBuf,
        /// Whether a directory was needed.
        directory: bool,
    },
    /// The plan would take the mount namespace past the kernel's `fs.mount-max`.
    #[error(
        "mount plan adds {planned} mounts to the {existing} already present, above fs.mount-max ({limit}, /proc/sys/fs/mount-max)"
    )]
    TooManyMounts {
        /// Mounts the plan makes (at most).
        planned: usize,
        /// Mounts already in the caller's mount namespace, which the child's copy starts with.
        existing: usize,
        /// The limit.
        limit: u64,
    },
    /// The rootfs is the current root (`pivot_root` would fail with `EBUSY`).
    #[error("rootfs {} is the current root; without a rootfs the container uses the host's tree (see readonly_root)", path.display())]
    RootfsIsRoot {
        /// The rootfs path as given.
        path: PathBuf,
    },
    /// Both a rootfs and a minimal root were asked for.
    #[error("a rootfs ({}) and a minimal root cannot be combined", path.display())]
    RootfsAndMinimalRoot {
        /// The rootfs path.
        path: PathBuf,
    },
    /// The minimal root cannot be built (its base directory or a host symlink).
    #[error("cannot build the minimal root: {} cannot be used", path.display())]
    MinimalRoot {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
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
    /// Not returned any more: [`MountPlan::dev`] works without a rootfs since the device
    /// nodes are opened before `/dev` is covered. Kept for compatibility.
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

    /// A fresh empty directory for a test (the caller removes it).
    fn scratch_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hutch-ns-unit-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        fs::canonicalize(dir).unwrap()
    }

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
        // `--rootfs /`: a clear error instead of EBUSY from pivot_root in the child.
        let err = MountPlan::new().rootfs("/").prepare().unwrap_err();
        assert!(matches!(err, MountPlanError::RootfsIsRoot { .. }), "{err}");
        let err = MountPlan::new().rootfs("/etc/..").prepare().unwrap_err();
        assert!(matches!(err, MountPlanError::RootfsIsRoot { .. }), "{err}");
        // A minimal /dev no longer needs a rootfs.
        MountPlan::new().dev(true).prepare().unwrap();
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
        let dir = scratch_dir("joins");
        let mut plan = MountPlan::new();
        plan.rootfs(&dir).tmpfs("/a/b", TmpfsOptions::default());
        let p = plan.prepare().unwrap();
        fs::remove_dir(&dir).unwrap();
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
        assert_eq!(p.actions[3].target, dir.join("a/b"));
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
        // make private, open /etc, move it onto /mnt.
        assert_eq!(p.len(), 3);
        let err = p.describe(MountFailure {
            step: MountStep::Bind,
            index: 2,
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

    #[test]
    fn tmpfs_options_are_checked() {
        let plan_with = |options| {
            let mut plan = MountPlan::new();
            plan.tmpfs("/tmp", options);
            plan.prepare()
        };
        // Mode bits above 0o7777 were silently truncated by the kernel's parsing.
        let err = plan_with(TmpfsOptions::scratch(None, Some(0o10_755))).unwrap_err();
        assert!(
            matches!(&err, MountPlanError::TmpfsMode { path, mode: 0o10_755 } if path == Path::new("/tmp")),
            "{err:?}"
        );
        assert!(err.to_string().contains("/tmp"), "{err}");
        plan_with(TmpfsOptions::scratch(None, Some(0o7777))).unwrap();
        // u64::MAX overflowed the kernel's page count and became "unlimited", like 0.
        for size in [u64::MAX, u64::MAX - 4095, i64::MAX as u64 + 1] {
            let err = plan_with(TmpfsOptions::scratch(Some(size), None)).unwrap_err();
            assert!(
                matches!(&err, MountPlanError::TmpfsSizeTooLarge { size: s, .. } if *s == size),
                "{err:?}"
            );
        }
        plan_with(TmpfsOptions::scratch(Some(i64::MAX as u64), None)).unwrap();
        let err = plan_with(TmpfsOptions::scratch(Some(0), None)).unwrap_err();
        assert!(
            matches!(err, MountPlanError::TmpfsSizeZero { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn mounts_on_the_root_itself_are_refused() {
        for dst in ["/", "//", "/."] {
            let err = MountPlan::new()
                .tmpfs(dst, TmpfsOptions::default())
                .prepare()
                .unwrap_err();
            assert!(
                matches!(err, MountPlanError::RootDestination { .. }),
                "{err:?}"
            );
            assert!(err.to_string().contains("minimal_root"), "{err}");
            let err = MountPlan::new().bind("/etc", dst).prepare().unwrap_err();
            assert!(
                matches!(err, MountPlanError::RootDestination { .. }),
                "{err:?}"
            );
        }
        let dir = scratch_dir("rootdst");
        let err = MountPlan::new()
            .rootfs(&dir)
            .tmpfs("/", TmpfsOptions::default())
            .prepare()
            .unwrap_err();
        fs::remove_dir(&dir).unwrap();
        assert!(
            matches!(err, MountPlanError::RootDestination { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn destinations_on_the_host_tree_must_exist() {
        let dir = scratch_dir("dst");
        let src = dir.join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(dir.join("file"), "").unwrap();
        let missing = dir.join("missing");
        let result = std::panic::catch_unwind(|| {
            let err = MountPlan::new()
                .tmpfs(&missing, TmpfsOptions::default())
                .prepare()
                .unwrap_err();
            match &err {
                MountPlanError::DestinationMissing {
                    path,
                    checked,
                    source,
                } => {
                    assert_eq!(path, &missing);
                    assert_eq!(checked, &missing);
                    assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
                }
                other => panic!("{other:?}"),
            }
            assert!(err.to_string().contains("does not exist"), "{err}");
            // Under a tmpfs of the plan, mount points are created (in the tmpfs).
            let mut plan = MountPlan::new();
            plan.tmpfs(&dir, TmpfsOptions::default())
                .tmpfs(dir.join("new/deeper"), TmpfsOptions::default());
            let p = plan.prepare().unwrap();
            let ops: Vec<_> = p.actions.iter().map(|a| a.op.name()).collect();
            assert_eq!(
                ops,
                [
                    "change propagation",
                    "mount",
                    "create mount-point directory",
                    "create mount-point directory",
                    "mount"
                ]
            );
            // Under a bind of the plan, the path must exist in the bind's source.
            let mut plan = MountPlan::new();
            plan.bind(&src, mnt_dir(&dir))
                .tmpfs(mnt_dir(&dir).join("sub"), TmpfsOptions::default());
            plan.prepare().unwrap();
            let mut plan = MountPlan::new();
            plan.bind(&src, mnt_dir(&dir))
                .tmpfs(mnt_dir(&dir).join("nope"), TmpfsOptions::default());
            let err = plan.prepare().unwrap_err();
            assert!(
                matches!(&err, MountPlanError::DestinationMissing { checked, .. } if checked == &src.join("nope")),
                "{err:?}"
            );
            // A later tmpfs above the bind hides it: created again.
            let mut plan = MountPlan::new();
            plan.bind(&src, mnt_dir(&dir))
                .tmpfs(&dir, TmpfsOptions::default())
                .tmpfs(mnt_dir(&dir).join("nope"), TmpfsOptions::default());
            plan.prepare().unwrap();
            // A directory bind onto a file, a tmpfs onto a file.
            let err = MountPlan::new()
                .bind(&src, dir.join("file"))
                .prepare()
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    MountPlanError::DestinationKind {
                        directory: true,
                        ..
                    }
                ),
                "{err:?}"
            );
            let err = MountPlan::new()
                .tmpfs(dir.join("file"), TmpfsOptions::default())
                .prepare()
                .unwrap_err();
            assert!(
                matches!(err, MountPlanError::DestinationKind { .. }),
                "{err:?}"
            );
        });
        fs::remove_dir_all(&dir).unwrap();
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }

    /// An existing directory used as a bind destination.
    fn mnt_dir(dir: &Path) -> PathBuf {
        let p = dir.join("mnt");
        let _ = fs::create_dir(&p);
        p
    }

    #[test]
    fn repeated_mounts_at_one_place_are_made_once() {
        // 20,000 `--tmpfs /tmp`: before, each was mounted on top of the last, and each mount
        // walked the whole stack in the kernel (20k took 11 s); now the hidden ones are
        // checked but not made, so the child does two operations.
        let mut plan = MountPlan::new();
        for _ in 0..20_000 {
            plan.tmpfs("/tmp", TmpfsOptions::scratch(Some(1 << 20), None));
        }
        let p = plan.prepare().unwrap();
        assert_eq!(p.len(), 2);
        // Hidden entries are still checked.
        plan.tmpfs("/tmp", TmpfsOptions::scratch(Some(0), None));
        plan.tmpfs("/tmp", TmpfsOptions::default());
        assert!(matches!(
            plan.prepare().unwrap_err(),
            MountPlanError::TmpfsSizeZero { .. }
        ));
        // Different places alternating: each is made, linear in the plan's size.
        let mut plan = MountPlan::new();
        for i in 0..20_000 {
            plan.tmpfs(
                if i % 2 == 0 { "/tmp" } else { "/mnt" },
                TmpfsOptions::default(),
            );
        }
        assert_eq!(plan.prepare().unwrap().len(), 20_001);
    }

    #[test]
    fn plans_above_mount_max_fail_early() {
        let limit: u64 = fs::read_to_string("/proc/sys/fs/mount-max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut plan = MountPlan::new();
        for i in 0..=limit {
            plan.tmpfs(
                if i % 2 == 0 { "/tmp" } else { "/mnt" },
                TmpfsOptions::default(),
            );
        }
        let err = plan.prepare().unwrap_err();
        match &err {
            MountPlanError::TooManyMounts {
                planned,
                existing,
                limit: l,
            } => {
                assert_eq!(*l, limit);
                assert!(*planned as u64 > limit, "{planned}");
                assert!(*existing > 0);
            }
            other => panic!("{other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(&limit.to_string()) && text.contains("mount-max"),
            "{text}"
        );
    }
}
