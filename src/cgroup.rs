//! Each container's own cgroup: where it is made, its limits, and its removal.

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use hutch_cgroup::cpu::CpuMax;
use hutch_cgroup::{Cgroup, CgroupError, Controller, Hierarchy, Resources};

use crate::SpawnError;

/// Whether a container gets a cgroup of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Mode {
    /// When the cgroup2 hierarchy is writable; always when limits are set.
    #[default]
    Auto,
    /// Always: spawning fails when the cgroup cannot be made.
    Required,
    /// Never (limits then fail to spawn).
    Off,
}

/// Where and how a container's cgroup is made; set through [`Container`](crate::Container)
/// methods such as [`cgroup_parent`](crate::Container::cgroup_parent).
#[derive(Debug, Clone, Default)]
pub(crate) struct CgroupOptions {
    pub(crate) mode: Mode,
    pub(crate) root: Option<PathBuf>,
    pub(crate) parent: Option<PathBuf>,
    pub(crate) name: Option<OsString>,
    pub(crate) keep: bool,
}

/// The cgroup part of a container's configuration.
#[derive(Debug, Clone, Default)]
pub(crate) struct CgroupConfig {
    pub options: CgroupOptions,
    /// `limit_cpu`'s value, converted (and checked) at spawn.
    pub cpu_cores: Option<f64>,
    pub resources: Resources,
    pub devices: Option<hutch_cgroup::device::DevicePolicy>,
}

impl CgroupConfig {
    fn wants_limits(&self) -> bool {
        self.resources != Resources::default() || self.devices.is_some() || self.cpu_cores.is_some()
    }

    /// The limits with `limit_cpu`'s cores turned into `cpu.max`.
    fn resources(&self) -> Result<std::borrow::Cow<'_, Resources>, SpawnError> {
        let Some(cores) = self.cpu_cores else {
            return Ok(std::borrow::Cow::Borrowed(&self.resources));
        };
        let period = CpuMax::DEFAULT_PERIOD;
        let bad = |reason| SpawnError::InvalidCpus { cores, reason };
        if !cores.is_finite() || cores <= 0.0 {
            return Err(bad("must be a finite number of CPUs above 0"));
        }
        // The kernel keeps the quota in microseconds in a signed 64-bit number.
        let quota_us = period.as_micros() as f64 * cores;
        if quota_us > (i64::MAX / 1000) as f64 {
            return Err(bad("is too large for cpu.max"));
        }
        let quota = std::time::Duration::from_micros(quota_us as u64)
            // At least the kernel's minimum quota of 1 ms.
            .max(std::time::Duration::from_millis(1));
        let mut r = self.resources.clone();
        r.cpu_max = Some(CpuMax {
            quota: Some(quota),
            period,
        });
        Ok(std::borrow::Cow::Owned(r))
    }
}

/// A container's cgroup, removed (after killing what is left in it) when dropped, unless kept.
#[derive(Debug)]
pub(crate) struct ContainerCgroup {
    cgroup: Option<Cgroup>,
    keep: bool,
    /// The default parent, removed again when it is empty.
    default_parent: Option<Cgroup>,
    _devices: Option<hutch_cgroup::device::DeviceProgram>,
}

impl ContainerCgroup {
    /// Whether a device program (an allow-list) is attached to the container's cgroup.
    pub(crate) fn has_device_program(&self) -> bool {
        self._devices.is_some()
    }

    pub(crate) fn dir_fd(&self) -> BorrowedFd<'_> {
        self.cgroup().as_fd()
    }

    pub(crate) fn cgroup(&self) -> &Cgroup {
        self.cgroup.as_ref().expect("present until dropped")
    }

    /// Whether to keep the cgroup when dropped; set once the spawn has succeeded.
    pub(crate) fn keep(&mut self, keep: bool) {
        self.keep = keep;
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.remove();
        }
        if let Some(parent) = self.default_parent.take() {
            // Fails with EBUSY while other containers live in it: that is fine.
            let _ = std::fs::remove_dir(parent.path());
        }
    }
}

fn discovered() -> Result<&'static Hierarchy, CgroupError> {
    static H: OnceLock<Hierarchy> = OnceLock::new();
    if let Some(h) = H.get() {
        return Ok(h);
    }
    let h = Hierarchy::discover()?;
    Ok(H.get_or_init(|| h))
}

/// Enables `controllers` on every cgroup from the root of the hierarchy down to `parent`, so
/// that `parent`'s children can use them.
fn enable_down_to(
    h: &Hierarchy,
    parent: &Path,
    controllers: &[hutch_cgroup::Controller],
) -> Result<(), CgroupError> {
    if controllers.is_empty() {
        return Ok(());
    }
    let rel = parent.strip_prefix(h.root()).unwrap_or(Path::new(""));
    let mut cur = h.open_root()?;
    for part in rel.components() {
        cur.ensure_controllers(controllers)?;
        cur = cur.open_child(part.as_os_str())?;
    }
    cur.ensure_controllers(controllers)
}

/// Controllers enabled for accounting (so that [`Child::stats`](crate::Child::stats) has
/// numbers) when the parent offers them, even without limits.
const ACCOUNTING: [Controller; 4] = [
    Controller::Cpu,
    Controller::Memory,
    Controller::Pids,
    Controller::Io,
];

/// Best effort, and only in the parent itself: enabling a controller higher up is a decision
/// for whoever owns those cgroups, and a parent that cannot take them (another process lives
/// in it, it is not ours to write) just gives fewer statistics.
fn enable_accounting(parent: &Cgroup) {
    let (Ok(available), Ok(enabled)) = (parent.controllers(), parent.subtree_control()) else {
        return;
    };
    let todo: Vec<Controller> = ACCOUNTING
        .into_iter()
        .filter(|c| available.contains(c) && !enabled.contains(c))
        .collect();
    if !todo.is_empty() {
        let _ = parent.enable_controllers(&todo);
    }
}

/// A name no other spawn uses, now or in the future: `hutch-PID-START-PIDNS-N` (the
/// spawner's pid, its start time, the inode of its pid namespace, a counter), also used for
/// the containers' network file directories.
pub(crate) fn unique_name() -> OsString {
    static N: AtomicU64 = AtomicU64::new(0);
    let (start, pidns) = own_identity();
    format!(
        "hutch-{}-{start}-{pidns}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
    .into()
}

/// This process's start time (clock ticks after boot, `/proc/self/stat` field 22) and the
/// inode of its pid namespace, read once: with the pid, they name the process for good.
fn own_identity() -> (u64, u64) {
    static ID: OnceLock<(u64, u64)> = OnceLock::new();
    *ID.get_or_init(|| {
        (
            start_time_of("self").unwrap_or(0),
            pid_namespace_of("self").unwrap_or(0),
        )
    })
}

/// Field 22 of `/proc/PID/stat` (after the parenthesised command name, which may hold
/// spaces).
fn start_time_of(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// The inode of the pid namespace of `/proc/PID`.
fn pid_namespace_of(pid: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|m| m.ino())
}

/// Whether the spawner that named a cgroup `hutch-PID-START-PIDNS-N` (or `hutch-PID-N`, the
/// older form) is still running. `None` when this process cannot tell: the name is not
/// hutch's, or the spawner lived in another pid namespace (its pid means nothing here).
pub(crate) fn owner_alive(name: &str) -> Option<bool> {
    let rest = name.strip_prefix("hutch-")?;
    let parts: Vec<&str> = rest.split('-').collect();
    let pid: u32 = parts.first()?.parse().ok()?;
    let (own_start, own_pidns) = own_identity();
    match parts[..] {
        [_, start, pidns, n] => {
            let (start, pidns): (u64, u64) = (start.parse().ok()?, pidns.parse().ok()?);
            n.parse::<u64>().ok()?;
            if pidns != own_pidns || own_pidns == 0 {
                return None;
            }
            if pid == std::process::id() {
                return Some(start == own_start);
            }
            Some(start_time_of(&pid.to_string()) == Some(start))
        }
        [_, n] => {
            n.parse::<u64>().ok()?;
            Some(pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists())
        }
        _ => None,
    }
}

/// Creates the container's cgroup and applies its limits, before the clone.
///
/// `default_devices`: attach Docker's device allow-list when the cgroup is made and no policy
/// was set (the hardened default; it does not make a cgroup required).
pub(crate) fn prepare(
    cfg: &CgroupConfig,
    default_devices: bool,
) -> Result<Option<ContainerCgroup>, SpawnError> {
    let o = &cfg.options;
    let limits = cfg.wants_limits();
    if o.mode == Mode::Off {
        let what = if cfg.devices.is_some() {
            Some("a device policy")
        } else if limits {
            Some("a cgroup limit")
        } else if o.parent.is_some() {
            Some("cgroup_parent")
        } else if o.root.is_some() {
            Some("cgroup_root")
        } else if o.name.is_some() {
            Some("cgroup_name")
        } else if o.keep {
            Some("keep_cgroup")
        } else {
            None
        };
        return match what {
            Some(what) => Err(SpawnError::CgroupDisabled { what }),
            None => Ok(None),
        };
    }
    // Anything the caller said about the cgroup makes it required: only a container with
    // no cgroup settings at all may run without one.
    // Values the kernel would reject are reported before any cgroup is made.
    let resources = cfg.resources()?;
    if let Err((file, source)) = resources.validate() {
        return Err(SpawnError::InvalidLimit { file, source });
    }
    let required = limits
        || o.mode == Mode::Required
        || o.parent.is_some()
        || o.root.is_some()
        || o.name.is_some()
        || o.keep;
    check_targets(o)?;
    match make(cfg, &resources, default_devices) {
        Ok(cg) => Ok(Some(cg)),
        // Without limits, a host where we may not make cgroups (no cgroup2, read-only, not
        // delegated to an unprivileged caller) still runs containers, just without one.
        Err(SpawnError::Cgroup(e)) if !required && unusable_hierarchy(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_enoent(e: &CgroupError) -> bool {
    errno_of(e) == Some(libc::ENOENT)
}

fn is_eexist(e: &CgroupError) -> bool {
    errno_of(e) == Some(libc::EEXIST)
}

/// The errno of the first I/O error in `e`'s chain.
fn errno_of(e: &CgroupError) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io.raw_os_error();
        }
        cur = err.source();
    }
    None
}

fn unusable_hierarchy(e: &CgroupError) -> bool {
    use std::error::Error;
    if matches!(e, CgroupError::NoCgroup2Mount) {
        return true;
    }
    let mut cur: Option<&(dyn Error + 'static)> = e.source();
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return matches!(
                io.raw_os_error(),
                Some(libc::EACCES | libc::EPERM | libc::EROFS | libc::ENOENT)
            );
        }
        cur = err.source();
    }
    false
}

/// `cgroup_root` and `cgroup_parent` must name directories of a cgroup2 file system, without
/// `..` (which could lead out of it); checked before anything is made, so a wrong path leaves
/// nothing behind.
fn check_targets(o: &CgroupOptions) -> Result<(), SpawnError> {
    for (what, path) in [("cgroup_root", &o.root), ("cgroup_parent", &o.parent)] {
        let Some(path) = path else { continue };
        if path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(SpawnError::NotCgroup2 {
                what,
                path: path.clone(),
                reason: "contains \"..\"",
            });
        }
        // A relative parent is relative to the hierarchy's root, checked when opened.
        if what == "cgroup_parent" && path.is_relative() {
            continue;
        }
        match crate::sys::fs_magic(path) {
            Ok(magic) if magic == crate::sys::CGROUP2_SUPER_MAGIC => {}
            Ok(_) => {
                return Err(SpawnError::NotCgroup2 {
                    what,
                    path: path.clone(),
                    reason: "is not on a cgroup2 file system",
                });
            }
            Err(source) => {
                return Err(SpawnError::CgroupTarget {
                    what,
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Removes, once per parent and process, the empty cgroups that earlier spawns left under
/// `parent` when their process died without dropping its `Child` (`hutch-<pid>-<n>` whose pid
/// no longer exists). A cgroup that still has processes is never touched (`rmdir` refuses it).
fn remove_stale(parent: &Cgroup) {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    /// A long-lived caller sweeps again now and then, for spawners that died since.
    const AGAIN_AFTER: Duration = Duration::from_secs(30);
    static DONE: Mutex<Option<HashMap<PathBuf, Instant>>> = Mutex::new(None);
    {
        let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
        let done = done.get_or_insert_with(HashMap::new);
        let now = Instant::now();
        match done.get(parent.path()) {
            Some(t) if now.duration_since(*t) < AGAIN_AFTER => return,
            _ => {
                done.insert(parent.path().to_owned(), now);
            }
        }
    }
    let Ok(entries) = std::fs::read_dir(parent.path()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if name.to_str().and_then(owner_alive) != Some(false) {
            continue;
        }
        // Only an empty one: a container still running there (its spawner died without
        // die_with_parent) is never killed by another spawner's sweep.
        if let Ok(cg) = Cgroup::open(e.path())
            && cg.events().is_ok_and(|ev| !ev.populated)
        {
            let _ = cg.remove();
        }
    }
}

fn make(
    cfg: &CgroupConfig,
    resources: &Resources,
    default_devices: bool,
) -> Result<ContainerCgroup, SpawnError> {
    let o = &cfg.options;
    let h_owned;
    let h = match &o.root {
        Some(root) => {
            h_owned = Hierarchy::at(root);
            &h_owned
        }
        None => discovered().map_err(SpawnError::Cgroup)?,
    };
    let controllers = resources.required_controllers();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let is_default = o.parent.is_none();
        let name = o.name.clone().unwrap_or_else(unique_name);
        let made = parent_of(h, o).and_then(|parent| {
            enable_down_to(h, parent.path(), &controllers)?;
            enable_accounting(&parent);
            remove_stale(&parent);
            let child = parent.create_child(&name)?;
            Ok((parent, child))
        });
        let (parent, child) = match made {
            Ok(pc) => pc,
            // Another thread removed the (empty) default parent meanwhile: make it again.
            Err(e) if is_default && attempts < 5 && is_enoent(&e) => continue,
            // The name is taken (a cgroup left by a process that had our pid and start
            // time cannot exist, but a caller-chosen parent may hold anything): next number.
            Err(e) if o.name.is_none() && attempts < 5 && is_eexist(&e) => continue,
            Err(e) => return Err(SpawnError::Cgroup(e)),
        };
        let mut made = ContainerCgroup {
            cgroup: Some(child),
            keep: false,
            default_parent: is_default.then_some(parent),
            _devices: None,
        };
        // On failure `made` is dropped, which removes the new cgroup again.
        resources.apply(made.cgroup()).map_err(SpawnError::Cgroup)?;
        let prog = match &cfg.devices {
            Some(policy) => Some(hutch_cgroup::device::attach_device_policy(
                made.cgroup(),
                policy,
            )),
            // Docker's allow-list, the same for every container: loaded once per process.
            None if default_devices => Some(docker_devices()?.attach(made.cgroup())),
            None => None,
        };
        if let Some(prog) = prog {
            made._devices = Some(prog.map_err(SpawnError::Devices)?);
        }
        return Ok(made);
    }
}

/// Docker's device allow-list, compiled and loaded once per process (a failed load is tried
/// again next time).
fn docker_devices() -> Result<&'static hutch_cgroup::device::LoadedDevicePolicy, SpawnError> {
    use hutch_cgroup::device::{DevicePolicy, LoadedDevicePolicy};
    static LOADED: OnceLock<LoadedDevicePolicy> = OnceLock::new();
    if let Some(l) = LOADED.get() {
        return Ok(l);
    }
    let l =
        LoadedDevicePolicy::load(&DevicePolicy::docker_default()).map_err(SpawnError::Devices)?;
    Ok(LOADED.get_or_init(|| l))
}

/// The parent of the container's cgroup.
fn parent_of(h: &Hierarchy, o: &CgroupOptions) -> Result<Cgroup, CgroupError> {
    Ok(match &o.parent {
        // A directory of the cgroup2 file system, or a cgroup path as in /proc/PID/cgroup.
        Some(p) if p.starts_with(h.root()) => Cgroup::open(p)?,
        Some(p) => Cgroup::open(h.path_of(p)?)?,
        None => {
            // `hutch/` beside the caller's own cgroup (under the root when the caller is
            // in the root).
            let own = h.self_cgroup()?;
            let base = match own.path().parent() {
                Some(p) if p.starts_with(h.root()) && own.path() != h.root() => Cgroup::open(p)?,
                _ => h.open_root()?,
            };
            base.open_or_create_child("hutch")?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_named_by_pid_start_time_and_pid_namespace() {
        let me = std::process::id();
        let (start, ns) = own_identity();
        assert!(start > 0 && ns > 0);
        assert_eq!(
            owner_alive(&format!("hutch-{me}-{start}-{ns}-3")),
            Some(true)
        );
        assert!(
            unique_name()
                .to_str()
                .is_some_and(|n| owner_alive(n) == Some(true))
        );
        // Our pid, another start time: a process before us that had our pid.
        assert_eq!(
            owner_alive(&format!("hutch-{me}-{}-{ns}-0", start + 1)),
            Some(false)
        );
        // pid 1 lives, but did not start at another tick than its own.
        let init = start_time_of("1").unwrap();
        assert_eq!(owner_alive(&format!("hutch-1-{init}-{ns}-0")), Some(true));
        assert_eq!(
            owner_alive(&format!("hutch-1-{}-{ns}-0", init + 7)),
            Some(false)
        );
        // A spawner of another pid namespace: not ours to judge.
        assert_eq!(
            owner_alive(&format!("hutch-1-{}-{}-0", init + 7, ns + 1)),
            None
        );
        // The older form: the pid alone.
        assert_eq!(owner_alive("hutch-1-0"), Some(true));
        assert_eq!(owner_alive(&format!("hutch-{}-0", u32::MAX)), Some(false));
        // Not ours to judge.
        assert_eq!(owner_alive("user.slice"), None);
        assert_eq!(owner_alive("hutch-x-1"), None);
        assert_eq!(owner_alive("hutch-1-2-3"), None);
    }

    #[test]
    fn the_start_time_survives_spaces_and_parentheses_in_the_name() {
        // Our own stat, whatever the test binary is called.
        assert_eq!(start_time_of("self"), Some(own_identity().0));
        assert_eq!(start_time_of("no-such-pid"), None);
    }
}
