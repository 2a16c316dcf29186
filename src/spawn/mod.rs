//! The parent's side of spawning: prepare every layer, clone, finish the parent's steps, and
//! turn the child's report into a `Child` or an error.
//!
//! A spawn is a fixed sequence of layers. Each layer has a module here for its parent-side
//! work (checking the configuration, building what the child needs) and a function in
//! `crate::sys::child` for its child-side system calls; the order in the child is documented
//! at the top of that module. To find "where does layer X happen": `spawn::X` in the parent,
//! `sys::child::X` in the child.
//!
//! | layer | parent (here) | child (`sys::child`) |
//! |---|---|---|
//! | exec | [`program`]: PATH candidates, argv, environment | `exec_program` |
//! | descriptors | [`fds`]: stdio, passed descriptors, the floor above them | `descriptors` |
//! | user / time ns | [`userns`]: id maps, offsets, sync channel; writes maps after clone | `user_and_time_namespaces` |
//! | uts | [`uts_name`] | `uts` |
//! | network | `lo` request | `loopback_up` |
//! | mounts | [`mount_plan`] | `PreparedMounts::apply` |
//! | credentials | [`creds`]: ids checked against the maps | `credentials` |
//! | cgroup | `crate::cgroup::prepare`: made and limited before the clone | `CLONE_INTO_CGROUP` |
//! | join (`exec`) | [`join`]: the target's pidfd, cgroup, kept descriptors | `join_container` |
//! | init | the sealed init program (`sys::init`) | `start_init` |

mod caps;
mod creds;
pub(crate) mod fds;
mod join;
pub(crate) mod program;
mod seccomp;
mod userns;

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hutch_ns::mount::{MountFailure, MountPlan, MountStep, PreparedMounts};
use hutch_ns::{Namespace, Namespaces};

use crate::child::{ContainerLink, ExecDefaults};
use crate::command::Defaults;
use crate::error::{Pid, Step, Subject};
use crate::sys::{self, InitPlan, Prepared, ProgressPage, Record};
use crate::{Child, Command, SpawnError};

/// The kernel's limit on host and domain names (`__NEW_UTS_LEN`).
const UTS_LEN: usize = 64;

fn parent(op: &'static str) -> impl FnOnce(io::Error) -> SpawnError {
    move |source| SpawnError::Parent { op, source }
}

/// A host or domain name, checked: it needs a UTS namespace and fits the kernel's limit.
fn uts_name(
    what: &'static str,
    name: Option<&OsStr>,
    ns: Namespaces,
) -> Result<Option<CString>, SpawnError> {
    let Some(name) = name else {
        return Ok(None);
    };
    if !ns.contains(Namespaces::UTS) {
        return Err(SpawnError::NeedsNamespace {
            what: if what == "hostname" {
                "a hostname"
            } else {
                "a domain name"
            },
            namespace: Namespace::Uts,
        });
    }
    if name.len() > UTS_LEN {
        return Err(SpawnError::HostnameTooLong {
            hostname: name.to_owned(),
            len: name.len(),
        });
    }
    program::cstring(what, name).map(Some)
}

/// The directories of `/run` through which NixOS reaches its system, bound into the private
/// `/run` when they exist.
const NIXOS_RUN_DIRS: [&str; 4] = [
    "/run/current-system",
    "/run/booted-system",
    "/run/wrappers",
    "/run/opengl-driver",
];

/// The mount plan a spawn applies: the hardened defaults for the tree, then the user's plan.
///
/// | | host's tree | rootfs / minimal tree |
/// |---|---|---|
/// | root | read-only, recursively | writable (rootfs), read-only (minimal) |
/// | `/tmp` | private tmpfs | the tree's (private tmpfs in the minimal tree) |
/// | `/run` | private tmpfs (the host's sockets and FIFOs hidden) | the tree's (none in the minimal tree) |
/// | `/proc` | fresh (new pid namespace) | fresh |
/// | `/dev` | minimal, `nodev` tmpfs with binds of the host's nodes | minimal |
/// | `/sys` | fresh sysfs, read-only (a read-only bind of the host's where the kernel refuses) | same |
/// | `/sys/fs/cgroup` | the container's own cgroup2, read-only (new cgroup namespace) | same |
/// | masks | Docker's masked and read-only paths | same |
fn mount_plan(
    cmd: &Command,
    ns: Namespaces,
    net_binds: &[(PathBuf, &'static str)],
) -> Result<Option<PreparedMounts>, SpawnError> {
    let c = &cmd.container;
    let own_tree = c.rootfs.is_some() || c.minimal_tree;
    let joins_pid = c.net.joins.iter().any(|(k, _)| *k == Namespace::Pid);
    let fresh_proc = c.proc && (ns.contains(Namespaces::PID) || own_tree || joins_pid);
    if !ns.contains(Namespaces::MOUNT) {
        let what = if c.rootfs.is_some() {
            Some("a rootfs")
        } else if c.minimal_tree {
            Some("a minimal tree")
        } else if !c.mounts.has_no_entries() {
            Some("mounts (tmpfs, bind, masks, read-only paths)")
        } else if fresh_proc {
            // A fresh /proc for a new pid namespace cannot be mounted over the host's /proc:
            // without it PID 1 would see the host's processes. Say so rather than skip it.
            Some(
                "a fresh /proc for the new pid namespace (turn it off with Container::proc(false))",
            )
        } else {
            None
        };
        // Without a mount namespace the tree is the caller's own: the hardened mount
        // defaults (read-only tree, private /tmp, /dev, /sys, masks) do not apply, as
        // documented on Container::share.
        return match what {
            Some(what) => Err(SpawnError::NeedsNamespace {
                what,
                namespace: Namespace::Mount,
            }),
            None => Ok(None),
        };
    }
    let mut plan = MountPlan::new();
    if let Some(p) = c.propagation {
        plan.propagation(p);
    }
    if let Some(root) = &c.rootfs {
        plan.rootfs(root);
    }
    plan.minimal_root(c.minimal_tree);
    if c.private_tmp.unwrap_or(c.rootfs.is_none()) {
        plan.private_tmp();
    }
    if c.private_run
        .unwrap_or(c.rootfs.is_none() && !c.minimal_tree)
    {
        plan.tmpfs(
            "/run",
            hutch_ns::mount::TmpfsOptions::scratch(None, Some(0o755)),
        );
        // systemd-resolved's /etc/resolv.conf is a link to a file in /run: keep that file.
        if c.rootfs.is_none()
            && let Ok(target) = std::fs::canonicalize("/etc/resolv.conf")
            && target.starts_with("/run")
            && target.is_file()
        {
            plan.bind_ro(&target, &target);
        }
        // NixOS reaches its whole system through /run (PATH, /etc's links, setuid wrappers):
        // keep those, read-only. They hold no sockets.
        if c.rootfs.is_none() {
            for dir in NIXOS_RUN_DIRS {
                if Path::new(dir).is_dir() {
                    plan.bind_ro(dir, dir);
                }
            }
        }
    }
    // The container's own /etc/hosts and /etc/resolv.conf, before the user's mounts so that
    // a bind of the user's own wins.
    for (src, dst) in net_binds {
        plan.bind_ro(src, dst);
    }
    plan.append(&c.mounts);
    plan.readonly_root(c.read_only.unwrap_or(c.rootfs.is_none()));
    plan.dev(c.dev);
    if c.sysfs {
        plan.sysfs(true);
        // A cgroup2 mount from the caller's cgroup namespace would show the host's whole
        // hierarchy: without a cgroup namespace of its own the container gets none (and a
        // writable one asked for explicitly is an error, not silently dropped).
        if ns.contains(Namespaces::CGROUP) {
            plan.cgroup2(!c.writable_cgroup);
        } else if c.writable_cgroup {
            return Err(SpawnError::NeedsNamespace {
                what: "a writable cgroup2 mount at /sys/fs/cgroup",
                namespace: Namespace::Cgroup,
            });
        }
    }
    if c.masked_paths {
        plan.docker_defaults();
    }
    if let Some(label) = &c.confine.selinux_mount {
        let option = crate::confine::lsm::selinux_mount_option(label)
            .map_err(|e| SpawnError::Lsm(Box::new(e)))?;
        plan.tmpfs_data(option.to_string_lossy());
    }
    // A fresh /proc for a new pid namespace; in its own tree also without one (there is no
    // other /proc there).
    plan.proc(fresh_proc);
    plan.prepare().map(Some).map_err(SpawnError::MountPlan)
}

/// Reads the child's next report: `Ok(true)` for READY (time namespace made), `Ok(false)` at
/// end of file (the program was exec'd, or the child died), or the error the child reported.
fn next_report(report: &OwnedFd, plan: &Prepared, cmd: &Command) -> Result<bool, SpawnError> {
    match sys::read_record(report.as_fd()) {
        Ok(None) => Ok(false),
        Ok(Some(r)) if r.tag == sys::TAG_READY => Ok(true),
        Ok(Some(r)) => Err(child_error(r, plan, cmd)),
        Err(source) => Err(SpawnError::Parent {
            op: "reading the child's report",
            source,
        }),
    }
}

/// Kills and reaps a child that never got to run its program.
fn abandon(pidfd: BorrowedFd<'_>) {
    let _ = sys::pidfd_send_signal(pidfd, libc::SIGKILL);
    let _ = sys::waitid_pidfd(pidfd, false);
}

/// Turns a failure record from the child into an error naming the step and what it acted on.
fn child_error(rec: Record, plan: &Prepared, cmd: &Command) -> SpawnError {
    if rec.tag == sys::TAG_LSM_ERROR
        && let Some(label) = plan.labels.get(rec.step as usize)
    {
        return SpawnError::Lsm(Box::new(label.failure(rec.index, rec.errno)));
    }
    if rec.tag == sys::TAG_CAPS_ERROR
        && let Some(f) = hutch_caps::CapsFailure::decode(rec.step, rec.index, rec.errno)
    {
        return SpawnError::Capabilities(f);
    }
    if rec.tag == sys::TAG_MOUNT_ERROR
        && let (Some(m), Some(step)) = (&plan.mounts, MountStep::from_u8(rec.step as u8))
    {
        let f = MountFailure {
            step,
            index: rec.index,
            errno: rec.errno,
        };
        return SpawnError::Mount(m.describe(f));
    }
    let step = Step::from_code(rec.step);
    let errno = rec.errno;
    let path = |b: &[u8]| Subject::Path(PathBuf::from(OsStr::from_bytes(b)));
    let on: Option<Subject> = match step {
        Step::Exec => plan
            .exec
            .programs
            .get(rec.index as usize)
            .map(|p| path(p.as_bytes())),
        Step::Chdir => cmd.cwd.clone().map(Subject::Path),
        Step::Hostname => cmd.container.hostname.clone().map(Subject::Name),
        Step::Domainname => cmd.container.domainname.clone().map(Subject::Name),
        Step::Loopback => Some(Subject::Interface("lo")),
        Step::IdMap => plan
            .userns
            .self_maps
            .as_ref()
            .and_then(|f| f.get(rec.index as usize))
            .map(|(p, _)| path(p.to_bytes())),
        Step::EnterTimeNamespace => Some(path(plan.userns.time_for_children.to_bytes())),
        Step::Setuid => cmd.uid.map(Subject::Uid),
        Step::Setgid => cmd.gid.map(Subject::Gid),
        Step::Stdio => ["stdin", "stdout", "stderr"]
            .get(rec.index as usize)
            .map(|s| Subject::Stream(s)),
        Step::PassFd => plan
            .fds
            .passed
            .get(rec.index as usize)
            .map(|(_, n)| Subject::Descriptor(*n)),
        _ => None,
    };
    // An exec failure whose errno names nothing: look at the candidates the container tried
    // (as the caller can see them) for the reason. For ENOENT every candidate was tried and
    // failed; for EACCES the child reports the one that was refused.
    if step == Step::Exec
        && matches!(errno, libc::ENOENT | libc::EACCES)
        && let Some(view) = exec_view(cmd)
    {
        let candidates: &[CString] = match errno {
            libc::EACCES => plan
                .exec
                .programs
                .get(rec.index as usize)
                .map(std::slice::from_ref)
                .unwrap_or_default(),
            _ => &plan.exec.programs,
        };
        let sees = |p: &Path| sees_path(cmd, p);
        for candidate in candidates {
            let p = Path::new(OsStr::from_bytes(candidate.as_bytes()));
            if let Some(problem) = program::explain_exec_failure(&view, p, errno, true, &sees) {
                let errno = match problem {
                    crate::error::ExecProblem::Directory => libc::EISDIR,
                    _ => errno,
                };
                return SpawnError::Exec {
                    program: p.to_owned(),
                    problem,
                    source: io::Error::from_raw_os_error(errno),
                };
            }
        }
    }
    // A program found nowhere on PATH: name the program, not the last directory tried.
    let on = match (step, errno) {
        (Step::Exec, libc::ENOENT) if plan.exec.programs.len() > 1 => {
            Some(Subject::Path(PathBuf::from(&cmd.program)))
        }
        _ => on,
    };
    SpawnError::Child {
        step,
        on,
        source: io::Error::from_raw_os_error(errno),
    }
}

/// Where the caller can look at the container's files: its own tree, or the rootfs (through
/// `RESOLVE_IN_ROOT`); `None` for a minimal tree, and for a process exec'd into a running
/// container (whose tree the command's configuration does not describe).
fn exec_view(cmd: &Command) -> Option<program::View> {
    let c = &cmd.container;
    if c.minimal_tree || cmd.join.is_some() {
        return None;
    }
    program::View::of(c.rootfs.as_deref())
}

/// Whether `path` inside the container is the file the caller finds at the same place in its
/// tree or in the rootfs: not under a place the container may mount anew (its private `/tmp`
/// and `/run`, `/dev`, `/proc`, `/sys`, its name files), and no mounts of the caller's own,
/// which are not looked into.
fn sees_path(cmd: &Command, path: &std::path::Path) -> bool {
    if !cmd.container.mounts.has_no_entries() {
        return false;
    }
    ![
        "/tmp",
        "/run",
        "/dev",
        "/proc",
        "/sys",
        "/etc/hosts",
        "/etc/resolv.conf",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

/// A child that reached end of file without a failure record either exec'd or died on the way;
/// the progress page tells which.
fn died_on_the_way(progress: &ProgressPage, slot: usize) -> Option<Step> {
    match progress.step(slot) {
        sys::step::EXEC => None,
        code => Some(Step::from_code(code)),
    }
}

/// The error for a child that died at `step`, after reaping it.
fn died(pidfd: BorrowedFd<'_>, step: Step) -> SpawnError {
    let raw = sys::waitid_pidfd(pidfd, false).ok().flatten().unwrap_or(0);
    SpawnError::ChildDied {
        step,
        status: std::process::ExitStatus::from_raw(raw),
    }
}

pub(crate) fn spawn(cmd: &Command, defaults: Defaults) -> Result<Child, SpawnError> {
    let c = &cmd.container;
    let joining = cmd.join.is_some();
    let ns = if joining {
        Namespaces::empty()
    } else {
        c.effective_namespaces()
    };

    let mut trace = crate::trace::SpawnTrace::start(&cmd.program, joining);
    // --- Every layer, prepared in the parent. -------------------------------------------
    let env = program::environment(cmd);
    let exec = program::prepare(cmd, &env)?;
    let (hostname, domainname) = if joining {
        (None, None)
    } else {
        (
            uts_name("hostname", c.hostname.as_deref(), ns)?,
            uts_name("domainname", c.domainname.as_deref(), ns)?,
        )
    };
    let cwd = cmd
        .cwd
        .as_ref()
        .map(|d| program::cstring("working directory", d.as_os_str()))
        .transpose()?;
    if c.init && !joining && !ns.contains(Namespaces::PID) {
        return Err(SpawnError::NeedsNamespace {
            what: "an init (only PID 1 of a pid namespace reaps orphans)",
            namespace: Namespace::Pid,
        });
    }
    let (joins, pid_join) = if joining {
        (Vec::new(), None)
    } else {
        joins(cmd)?
    };
    let net_setup = if joining {
        None
    } else {
        crate::net::prepare(cmd, ns)?
    };
    let net_binds = net_setup.as_ref().map(|n| n.binds()).unwrap_or_default();
    let mounts = if joining {
        None
    } else {
        mount_plan(cmd, ns, &net_binds)?
    };
    // The sync descriptor is read before the descriptor layer, so its number does not
    // matter; the child closes it once used.
    let (userns_plan, mut user) = userns::prepare(cmd, ns, net_setup.is_some())?;
    let (setgroups, joined_maps) = match &cmd.join {
        Some(j) => (j.setgroups, creds::maps_of(j.pid.get())),
        None => (user.setgroups, None),
    };
    let creds = creds::prepare(
        cmd,
        joined_maps.as_ref().or(user.mapped.as_ref()),
        setgroups,
    )?;
    trace.step("plan");
    fds::check_limit(cmd)?;
    let fds = fds::prepare(cmd, defaults)?;
    let floor = fds.floor;
    let (labels, landlock) = confine(cmd, floor)?;
    let (seccomp, seccomp_flags) = seccomp::prepare(cmd)?;
    // Early (before the capability layer and the init's fork) when no_new_privs is off, as the
    // kernel then needs CAP_SYS_ADMIN to install it; and with an init and a listener, so that
    // the init and the program share one filter and its listener (a filter the init installed
    // on its own would have no listener, and its notified calls would fail with ENOSYS).
    let seccomp_early = seccomp.is_some()
        && (!c.confine.no_new_privs || (c.init && !joining && c.confine.seccomp_listener));
    // The listener's way back: a socket pair, the child's end kept until its exec.
    let listener_pair = if seccomp.is_some() && c.confine.seccomp_listener {
        let (a, b) = std::os::unix::net::UnixStream::pair().map_err(parent("socketpair"))?;
        let a = sys::at_least(OwnedFd::from(a), floor).map_err(parent("dup"))?;
        Some((a, b))
    } else {
        None
    };
    let init_fd = if c.init && !joining {
        match sys::init::memfd().map_err(parent("creating the init program (memfd_create)"))? {
            Some(fd) => Some(sys::dup_at_least(fd.as_fd(), floor).map_err(parent("dup"))?),
            None => None,
        }
    } else {
        None
    };

    let (report_r, report_w) = io::pipe().map_err(parent("pipe2"))?;
    let report_w = sys::at_least(report_w.into(), floor).map_err(parent("dup"))?;
    let progress = ProgressPage::new().map_err(parent("mmap"))?;
    let join = match &cmd.join {
        Some(j) => Some(join::prepare(j)?),
        None => None,
    };

    trace.step("descriptors");
    // The container's cgroup, created and limited before the clone, so the child starts in
    // it (CLONE_INTO_CGROUP) and is never outside its limits.
    let mut cgroup = if joining { None } else { container_cgroup(c)? };

    // A process exec'd into a running container starts from the container's own set
    // (`exec_defaults`), already guarded; in a user namespace of its own, MKNOD makes no
    // usable device anyway.
    let devices_confined = cgroup.as_ref().is_some_and(|cg| cg.has_device_program());
    let guarded = caps::guard_mknod(
        &c.confine,
        !joining && !devices_confined && !ns.contains(Namespaces::USER),
    );
    let caps = caps::prepare(&guarded, &creds)?;
    trace.step("cgroup");
    // Every child holds the death signal during its setup, so that a caller killed meanwhile
    // takes it along (it has no `Child` to end it with); it stays past the exec only with
    // `die_with_parent`. A process exec'd into a container watches the same pidfd while it
    // waits at its gate.
    let parent_pidfd = {
        let fd =
            sys::pidfd_open(std::process::id() as libc::pid_t).map_err(parent("pidfd_open"))?;
        Some(sys::at_least(fd, floor).map_err(parent("dup"))?)
    };

    // Made before the clone, so that nothing can fail once the process runs.
    let link = container_link(cmd, &env, setgroups, &guarded)?;

    let init = match (&init_fd, c.init && !joining) {
        (Some(fd), _) => Some(InitPlan::Program {
            memfd: fd.as_raw_fd(),
        }),
        (None, true) => Some(InitPlan::InProcess),
        (None, false) => None,
    };
    // Every descriptor the child uses; it closes all others first thing, so that it never
    // holds the caller's files (and their locks: another thread's flock would stay held by
    // this child's copy of the descriptor while the child waits for its parent).
    let mut keep: Vec<RawFd> = fds.sources().collect();
    keep.push(report_w.as_raw_fd());
    keep.extend(user.sync.as_ref().map(|(r, _)| r.as_raw_fd()));
    keep.extend(parent_pidfd.as_ref().map(|fd| fd.as_raw_fd()));
    keep.extend(init_fd.as_ref().map(|fd| fd.as_raw_fd()));
    keep.extend(landlock.as_ref().and_then(|l| l.fd()));
    keep.extend(joins.iter().map(|(fd, _)| *fd));
    keep.extend(pid_join);
    keep.extend(listener_pair.as_ref().map(|(a, _)| a.as_raw_fd()));
    if let Some(j) = &join {
        keep.push(j.pidfd);
        keep.extend(j.cgroup_fd);
    }
    keep.sort_unstable();
    keep.dedup();
    let plan = Prepared {
        keep,
        report_fd: report_w.as_raw_fd(),
        progress: progress.as_ptr(),
        parent_ends: [
            report_r.as_raw_fd(),
            user.sync.as_ref().map_or(-1, |(_, w)| w.as_raw_fd()),
        ],
        death_signal: parent_pidfd.as_ref().map(|fd| fd.as_raw_fd()),
        keep_death_signal: c.die_with_parent,
        join,
        userns: userns_plan,
        joins,
        pid_join,
        hostname,
        domainname,
        loopback: (ns.contains(Namespaces::NET)).then(sys::loopback_request),
        mounts,
        creds,
        caps,
        cwd,
        fds: fds.plan,
        labels,
        landlock,
        seccomp,
        seccomp_flags,
        seccomp_early,
        landlock_early: !c.confine.no_new_privs,
        seccomp_listener: listener_pair.as_ref().map(|(a, _)| a.as_raw_fd()),
        init,
        exec,
    };

    // Time namespaces are created by the child with unshare(), so that the offsets can be
    // written before any process enters the namespace.
    let clone_flags = (ns - Namespaces::TIME).bits();
    // Share our memory with the child (no page-table copy, no copy-on-write faults) unless the
    // parent has work to do for it before its exec, it forks again (init, joining a
    // container), it changes credentials (which would make the shared memory, and so the
    // caller, non-dumpable), or there is no trampoline for this architecture.
    // With a seccomp listener this thread must answer the child's own notifications while it
    // is set up (`SetupListener`), so it may not be suspended as the shared-memory clone does.
    let shared_vm = sys::shared_vm_supported()
        && listener_pair.is_none()
        && !joining
        && user.sync.is_none()
        && !needs_own_memory(&plan);
    let mode = if shared_vm {
        sys::CloneMode::SharedVm
    } else {
        sys::CloneMode::Fork
    };
    let cgroup_fd = cgroup.as_ref().map(|cg| cg.dir_fd());
    trace.step("prepare");
    let cloned = match sys::spawn_child(clone_flags, cgroup_fd, &plan, mode) {
        // Before Linux 6.2, a caller inside a time namespace of its own may not share its
        // memory with a child (EINVAL): fall back to the fork-like clone.
        Err(e) if shared_vm && e.raw_os_error() == Some(libc::EINVAL) => {
            sys::spawn_child(clone_flags, cgroup_fd, &plan, sys::CloneMode::Fork)
        }
        r => r,
    };
    let cloned = match cloned {
        Ok(c) => c,
        Err(source) => {
            drop(cgroup);
            let hint = source
                .raw_os_error()
                .and_then(|errno| crate::preflight::explain_clone_error(errno, ns))
                .map(Box::new);
            return Err(SpawnError::Clone {
                namespaces: ns,
                hint,
                source,
            });
        }
    };
    // A child sharing our memory runs on this stack until it execs (end of file on the report
    // pipe) or is reaped; every return below happens after one of those, and locals declared
    // later are dropped first.
    let _stack = cloned.stack;
    // Our copies of the child's ends must be closed, or we never see end-of-file.
    drop(report_w);
    drop(fds.child_ends);
    drop(init_fd);
    let report = OwnedFd::from(report_r);
    // The child has its own copy of its end; ours must go for end of file to be seen.
    let mut setup_listener = listener_pair.map(|(child_end, ours)| {
        drop(child_end);
        seccomp::SetupListener::new(ours)
    });
    let pid = Pid::new(cloned.pid).expect("clone3 returns a positive pid in the parent");
    trace.step("clone");

    let fail = |e: SpawnError, pidfd: BorrowedFd<'_>| -> SpawnError {
        abandon(pidfd);
        e
    };

    // --- The parent's steps. ------------------------------------------------------------
    let ready = || match next_report(&report, &plan, cmd) {
        Ok(true) => Ok(()),
        Ok(false) => Err(SpawnError::Child {
            step: Step::Sync,
            on: None,
            source: io::Error::from(io::ErrorKind::UnexpectedEof),
        }),
        Err(e) => Err(e),
    };
    let mut network = None;
    let connect = |trace: &mut crate::trace::SpawnTrace| -> Result<(), SpawnError> {
        if let Some(setup) = net_setup {
            trace.step("id maps and time offsets");
            network = Some(crate::net::connect(
                setup,
                cloned.pidfd.as_fd(),
                ns.contains(Namespaces::USER),
            )?);
            trace.step("network");
        }
        Ok(())
    };
    if let Err(e) = userns::parent_step(&mut user, pid, ready, || connect(&mut trace)) {
        return Err(fail(e, cloned.pidfd.as_fd()));
    }
    if network.is_none() {
        trace.step("id maps and time offsets");
    }

    // --- Wait for exec (end of file) or a failure report. -------------------------------
    let (pid, pidfd) = if joining || plan.pid_join.is_some() {
        // The first child forked the process that runs the program (into the joined
        // container's pid namespace) and ended.
        join::finish(
            cloned.pidfd,
            &report,
            &plan,
            cmd,
            &progress,
            setup_listener.as_mut(),
        )?
    } else {
        wait_for_exec(
            &report,
            &plan,
            cmd,
            &progress,
            setup_listener.as_mut(),
            cloned.pidfd.as_fd(),
        )?;
        (pid, cloned.pidfd)
    };
    if let Some(cg) = &mut cgroup {
        // Only now: a failed spawn removes the cgroup even when it was to be kept.
        cg.keep(c.cgroup.options.keep);
    }
    let landlock_status = plan.landlock.as_ref().map(|l| l.status().clone());
    // The program has exec'd: its listener came during the setup, or waits on our end.
    let listener = match setup_listener {
        Some(l) => match l.finish() {
            Ok(l) => Some(l),
            Err(e) => {
                let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
                let _ = sys::waitid_pidfd(pidfd.as_fd(), false);
                return Err(e);
            }
        },
        None => None,
    };
    drop(plan);
    trace.step("wait for exec");
    trace.done(pid.get());
    let [stdin, stdout, stderr] = fds.parent_ends;

    Ok(Child::new(
        pid,
        pidfd,
        if joining {
            cmd.join
                .as_ref()
                .map_or(Namespaces::empty(), |j| j.namespaces)
        } else {
            // Joined namespaces differ from the caller's too: `exec` joins them as well.
            c.net
                .joins
                .iter()
                .fold(ns, |set, (kind, _)| set | kind.as_set())
        },
        stdin,
        stdout,
        stderr,
        cgroup,
        link,
        network,
    )
    .with_landlock(landlock_status)
    .with_seccomp_listener(listener))
}

/// The container's cgroup, created and limited before the clone; a controller the host does
/// not offer is explained (which controller, why, how to fix it).
fn container_cgroup(
    c: &crate::Container,
) -> Result<Option<crate::cgroup::ContainerCgroup>, SpawnError> {
    // Docker's device allow-list whenever the container has a cgroup, unless privileged or
    // not confined at all; attaching a device program needs root. Root inside a user
    // namespace of its own (rootless podman, a CI sandbox) may not load it; there the kernel
    // already refuses to open devices made by the container (their mknod needs CAP_MKNOD of
    // the initial namespace).
    let default_devices = c.confine.caps.is_some()
        && !c.confine.privileged
        && sys::geteuid() == 0
        && sys::in_initial_userns();
    crate::cgroup::prepare(&c.cgroup, default_devices).map_err(|e| match e {
        SpawnError::Cgroup(
            source @ hutch_cgroup::CgroupError::ControllerUnavailable { controller, .. },
        ) => match crate::preflight::explain_missing_controller(controller) {
            Some(hint) => SpawnError::CgroupUnavailable {
                source: Box::new(source),
                hint: Box::new(hint),
            },
            None => SpawnError::Cgroup(source),
        },
        e => e,
    })
}

/// What the `Child` keeps of its container for `exec` and `wait`: a new container's defaults
/// (environment, working directory, confinement), or the joined container's.
fn container_link(
    cmd: &Command,
    env: &std::collections::BTreeMap<std::ffi::OsString, std::ffi::OsString>,
    setgroups: hutch_ns::idmap::SetGroups,
    guarded: &crate::container::Confinement,
) -> Result<ContainerLink, SpawnError> {
    Ok(match &cmd.join {
        Some(j) => ContainerLink {
            registry: j.registry.clone(),
            cgroup_fd: match &j.cgroup {
                Some(Ok(fd)) => Some(fd.try_clone().map_err(parent("dup"))?),
                _ => None,
            },
            setgroups: j.setgroups,
            register: true,
            exec_defaults: j.exec_defaults.clone(),
        },
        None => ContainerLink {
            registry: Default::default(),
            cgroup_fd: None,
            setgroups,
            register: false,
            exec_defaults: Arc::new(ExecDefaults {
                env: env.clone(),
                cwd: cmd.cwd.clone().unwrap_or_else(|| PathBuf::from("/")),
                // Processes exec'd into it have the capabilities it has.
                confine: guarded.clone(),
            }),
        },
    })
}

/// Whether the child must have memory of its own (a fork-like clone) for its plan: it forks
/// again (an init, entering a pid namespace) or changes credentials (which would make the
/// shared memory, and so the caller, non-dumpable).
fn needs_own_memory(plan: &Prepared) -> bool {
    plan.init.is_some()
        || plan.pid_join.is_some()
        || plan.creds.uid.is_some()
        || plan.creds.gid.is_some()
}

/// Waits until the program of a new container has exec'd (end of file on the report pipe),
/// answering the child's own seccomp notifications meanwhile; a failure record, or a child
/// that died on the way (the progress page tells at which step), is an error, after the child
/// has been killed and reaped.
fn wait_for_exec(
    report: &OwnedFd,
    plan: &Prepared,
    cmd: &Command,
    progress: &ProgressPage,
    listener: Option<&mut seccomp::SetupListener>,
    pidfd: BorrowedFd<'_>,
) -> Result<(), SpawnError> {
    let fail = |e: SpawnError| -> SpawnError {
        abandon(pidfd);
        e
    };
    if let Some(l) = listener {
        l.serve_until(report.as_fd()).map_err(fail)?;
    }
    // End of file: the program was exec'd, or the child died on the way. A stray READY here
    // would be a protocol error.
    match next_report(report, plan, cmd) {
        Ok(false) => {}
        Ok(true) => {
            return Err(fail(SpawnError::Child {
                step: Step::Sync,
                on: None,
                source: io::Error::from_raw_os_error(libc::EPROTO),
            }));
        }
        Err(e) => return Err(fail(e)),
    }
    let slots: &[usize] = if plan.init.is_some() { &[0, 1] } else { &[0] };
    for &slot in slots {
        let step = match (slot, died_on_the_way(progress, slot)) {
            // The init process exec'd the init program: that is its last step.
            (0, Some(Step::InitExec)) if plan.init.is_some() => continue,
            (_, s) => s,
        };
        if let Some(step) = step {
            let _ = sys::pidfd_send_signal(pidfd, libc::SIGKILL);
            return Err(died(pidfd, step));
        }
    }
    Ok(())
}

/// The confinement layers prepared in the parent: LSM exec labels, the Landlock ruleset
/// (its descriptor above `floor`).
#[allow(clippy::type_complexity)]
fn confine(
    cmd: &Command,
    floor: std::os::fd::RawFd,
) -> Result<
    (
        Vec<crate::confine::lsm::PreparedLabel>,
        Option<crate::confine::landlock::PreparedLandlock>,
    ),
    SpawnError,
> {
    use crate::confine::{landlock, lsm};
    let c = &cmd.container.confine;
    let mut labels = Vec::new();
    if let Some(profile) = &c.apparmor {
        labels.push(lsm::prepare_apparmor(profile).map_err(|e| SpawnError::Lsm(Box::new(e)))?);
    }
    if let Some(context) = &c.selinux {
        labels.push(lsm::prepare_selinux(context).map_err(|e| SpawnError::Lsm(Box::new(e)))?);
    }
    let landlock = match &c.landlock {
        Some(rules) => {
            Some(landlock::prepare(rules, floor).map_err(|e| SpawnError::Landlock(Box::new(e)))?)
        }
        None => None,
    };
    Ok((labels, landlock))
}

/// The namespaces to join instead of creating, as `(descriptor, CLONE_NEW* type)`, and the pid
/// namespace to join, if any.
#[allow(clippy::type_complexity)]
fn joins(
    cmd: &Command,
) -> Result<(Vec<(std::os::fd::RawFd, libc::c_int)>, Option<RawFd>), SpawnError> {
    let mut out = Vec::new();
    let mut pid = None;
    for (kind, handle) in &cmd.container.net.joins {
        let reason = match kind {
            Namespace::Net | Namespace::Ipc | Namespace::Uts | Namespace::Cgroup => None,
            Namespace::Pid if cmd.container.init => Some(
                "a container that joins a pid namespace has no init of its own (the \
                 namespace's PID 1 reaps)",
            ),
            Namespace::Pid => {
                pid = Some(handle.as_fd().as_raw_fd());
                continue;
            }
            Namespace::Mount => Some(
                "the container's mount plan would change the other container's mounts \
                 (Child::exec joins a running container's)",
            ),
            Namespace::User => Some(
                "a new container's user namespace is made or kept, not joined (Child::exec \
                 joins a running container's)",
            ),
            Namespace::Time => Some(
                "time namespaces are given offsets, not joined (Child::exec joins a running \
                 container's)",
            ),
            _ => Some("this kind of namespace cannot be joined by a new container"),
        };
        if let Some(reason) = reason {
            return Err(SpawnError::JoinNamespace {
                namespace: *kind,
                reason,
            });
        }
        out.push((handle.as_fd().as_raw_fd(), kind.clone_flag() as libc::c_int));
    }
    Ok((out, pid))
}
