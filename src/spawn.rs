//! The parent's side of spawning: prepare everything, clone, finish the parent's steps, and
//! turn the child's report into a `Child` or an error.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use hutch_ns::Namespaces;
use hutch_ns::idmap::{IdKind, IdMapError};
use hutch_ns::idmap::{IdMap, SetGroups};
use hutch_ns::mount::{MountFailure, MountPlan, MountStep, PreparedMounts};

use crate::child::ContainerLink;
use crate::command::Defaults;
use crate::container::UserNs;
use crate::error::Step;
use crate::stdio::StdioKind;
use crate::sys::{self, ChildStdio, Join, Prepared, Record};
use crate::{Child, Command, SpawnError};

/// The kernel's limit on host and domain names (`__NEW_UTS_LEN`).
const UTS_LEN: usize = 64;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn cstring(what: &'static str, s: &OsStr) -> Result<CString, SpawnError> {
    CString::new(s.as_bytes()).map_err(|_| SpawnError::NulByte {
        what,
        value: s.to_owned(),
    })
}

fn parent(op: &'static str) -> impl FnOnce(io::Error) -> SpawnError {
    move |source| SpawnError::Parent { op, source }
}

/// The caller's side of a piped stream, and the child's descriptor, if any.
struct StreamSetup {
    child: ChildStdio,
    /// Keeps the child's end open until the clone.
    _child_end: Option<OwnedFd>,
    parent_end: Option<OwnedFd>,
}

fn stream(
    cfg: Option<&crate::Stdio>,
    default: StdioKind,
    input: bool,
) -> Result<StreamSetup, SpawnError> {
    let kind = match cfg {
        Some(s) => match &s.0 {
            StdioKind::Inherit => StdioKind::Inherit,
            StdioKind::Null => StdioKind::Null,
            StdioKind::Piped => StdioKind::Piped,
            StdioKind::Fd(fd) => {
                return Ok(StreamSetup {
                    child: ChildStdio::Fd(fd.as_raw_fd()),
                    _child_end: None,
                    parent_end: None,
                });
            }
        },
        None => default,
    };
    Ok(match kind {
        StdioKind::Inherit => StreamSetup {
            child: ChildStdio::Inherit,
            _child_end: None,
            parent_end: None,
        },
        StdioKind::Null => {
            let f = File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map_err(parent("opening /dev/null"))?;
            let fd = OwnedFd::from(f);
            StreamSetup {
                child: ChildStdio::Fd(fd.as_raw_fd()),
                _child_end: Some(fd),
                parent_end: None,
            }
        }
        StdioKind::Piped => {
            let (r, w) = io::pipe().map_err(parent("pipe2"))?;
            let (r, w) = (OwnedFd::from(r), OwnedFd::from(w));
            let (child, parent) = if input { (r, w) } else { (w, r) };
            StreamSetup {
                child: ChildStdio::Fd(child.as_raw_fd()),
                _child_end: Some(child),
                parent_end: Some(parent),
            }
        }
        StdioKind::Fd(_) => unreachable!("handled above"),
    })
}

/// Candidate paths for `program`, in the order `execvp` would try them.
fn program_candidates(
    program: &OsStr,
    path_var: Option<&OsStr>,
) -> Result<Vec<CString>, SpawnError> {
    if program.is_empty() {
        return Err(SpawnError::Config("the program name is empty"));
    }
    if program.as_bytes().contains(&b'/') {
        return Ok(vec![cstring("program", program)?]);
    }
    let path = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut out = Vec::new();
    for dir in path.as_bytes().split(|b| *b == b':') {
        // An empty element means the current directory, as in execvp.
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let mut p = dir.to_vec();
        p.push(b'/');
        p.extend_from_slice(program.as_bytes());
        out.push(cstring("program", OsStr::from_bytes(&p))?);
    }
    Ok(out)
}

/// The environment the program gets, as `KEY=VALUE` strings.
fn environment(cmd: &Command) -> Result<(Vec<CString>, Option<OsString>), SpawnError> {
    let mut vars: std::collections::BTreeMap<OsString, OsString> = if cmd.env_clear {
        Default::default()
    } else {
        std::env::vars_os().collect()
    };
    for (k, v) in &cmd.env {
        match v {
            Some(v) => {
                vars.insert(k.clone(), v.clone());
            }
            None => {
                vars.remove(k);
            }
        }
    }
    let path = vars.get(OsStr::new("PATH")).cloned();
    let mut out = Vec::with_capacity(vars.len());
    for (k, v) in vars {
        if k.is_empty() || k.as_bytes().contains(&b'=') {
            return Err(SpawnError::Config(
                "an environment variable name is empty or contains '='",
            ));
        }
        let mut kv = k.into_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        out.push(cstring("environment variable", OsStr::from_bytes(&kv))?);
    }
    Ok((out, path))
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
        return Err(SpawnError::Config(
            "a hostname or domain name needs a UTS namespace (Namespaces::UTS)",
        ));
    }
    if name.len() > UTS_LEN {
        return Err(SpawnError::HostnameTooLong {
            hostname: name.to_owned(),
            len: name.len(),
        });
    }
    cstring(what, name).map(Some)
}

/// The mount plan a spawn applies: the user's plan plus `/proc` and `/dev` as configured.
fn mount_plan(cmd: &Command, ns: Namespaces) -> Result<Option<PreparedMounts>, SpawnError> {
    let c = &cmd.container;
    if !ns.contains(Namespaces::MOUNT) {
        if c.rootfs.is_some() || c.mounts != MountPlan::default() {
            return Err(SpawnError::Config(
                "mounts and a rootfs need a mount namespace (Namespaces::MOUNT)",
            ));
        }
        return Ok(None);
    }
    let mut plan: MountPlan = c.mounts.clone();
    if let Some(root) = &c.rootfs {
        plan.rootfs(root);
        plan.dev(c.dev);
    }
    // A fresh /proc for a new pid namespace; under a rootfs also without one (there is no
    // other /proc there).
    plan.proc(c.proc && (ns.contains(Namespaces::PID) || c.rootfs.is_some()));
    plan.prepare().map(Some).map_err(SpawnError::MountPlan)
}

/// The id maps to write for a new user namespace, and whether `setgroups` stays allowed.
fn id_maps(userns: &UserNs) -> (IdMap, IdMap, SetGroups) {
    match userns {
        UserNs::Maps { uid, gid } => (uid.clone(), gid.clone(), SetGroups::Allow),
        _ => {
            let (uid, gid) = (sys::geteuid(), sys::getegid());
            // Unprivileged callers may only map themselves, and only with setgroups denied.
            let setgroups = if uid == 0 {
                SetGroups::Allow
            } else {
                SetGroups::Deny
            };
            (IdMap::single(0, uid), IdMap::single(0, gid), setgroups)
        }
    }
}

/// Reads the child's next report: `Ok(true)` for READY (time namespace made), `Ok(false)` at
/// end of file (the program was exec'd), or the error the child reported.
fn next_report(report: &OwnedFd, plan: &Prepared, cmd: &Command) -> Result<bool, SpawnError> {
    match sys::read_record(report.as_fd()) {
        Ok(None) => Ok(false),
        Ok(Some(r)) if r.tag == sys::TAG_READY => Ok(true),
        Ok(Some(r)) => Err(child_error(r, plan, plan.mounts.as_ref(), cmd)),
        Err(source) => Err(SpawnError::Parent {
            op: "reading the child's report",
            source,
        }),
    }
}

/// The end of a join (`exec` into a running container): the intermediate child reports the
/// pid of the process it forked into the container's pid namespace (a child of ours by
/// `CLONE_PARENT`), and either may report a failure. Reads to the end of the report pipe so
/// that no process is left unreaped whatever order the reports come in.
fn finish_join(
    intermediate: OwnedFd,
    report: &OwnedFd,
    plan: &Prepared,
    cmd: &Command,
) -> Result<(libc::pid_t, OwnedFd), SpawnError> {
    let mut real: Option<libc::pid_t> = None;
    let mut error: Option<SpawnError> = None;
    loop {
        match sys::read_record(report.as_fd()) {
            Ok(None) => break,
            Ok(Some(r)) if r.tag == sys::TAG_PID => real = Some(r.index as libc::pid_t),
            Ok(Some(r)) => {
                if error.is_none() {
                    error = Some(child_error(r, plan, None, cmd));
                }
            }
            Err(source) => {
                abandon(intermediate.as_fd());
                if let Some(pid) = real {
                    sys::kill_and_reap_child(pid);
                }
                return Err(SpawnError::Parent {
                    op: "reading the child's report",
                    source,
                });
            }
        }
    }
    // End of file: the intermediate has exited, and the real process has exec'd or exited.
    let _ = sys::waitid_pidfd(intermediate.as_fd(), false);
    match (error, real) {
        (Some(e), Some(pid)) => {
            // It reported its failure and exits by itself.
            sys::reap_child(pid);
            Err(e)
        }
        (Some(e), None) => Err(e),
        (None, None) => Err(SpawnError::Child {
            step: Step::JoinFork,
            on: None,
            source: io::Error::from(io::ErrorKind::UnexpectedEof),
        }),
        (None, Some(pid)) => match sys::pidfd_open(pid) {
            Ok(fd) => Ok((pid, fd)),
            Err(source) => {
                sys::kill_and_reap_child(pid);
                Err(SpawnError::Parent {
                    op: "pidfd_open",
                    source,
                })
            }
        },
    }
}

/// Kills and reaps a child that never got to run its program.
fn abandon(pidfd: BorrowedFd<'_>) {
    let _ = sys::pidfd_send_signal(pidfd, libc::SIGKILL);
    let _ = sys::waitid_pidfd(pidfd, false);
}

/// Turns a failure record from the child into an error naming the step and what it acted on.
fn child_error(
    rec: Record,
    plan: &Prepared,
    mounts: Option<&PreparedMounts>,
    cmd: &Command,
) -> SpawnError {
    if rec.tag == sys::TAG_MOUNT_ERROR
        && let (Some(m), Some(step)) = (mounts, MountStep::from_u8(rec.step as u8))
    {
        let f = MountFailure {
            step,
            index: rec.index,
            errno: rec.errno,
        };
        return SpawnError::Mount(m.describe(f));
    }
    let step = Step::from_code(rec.step);
    let on: Option<PathBuf> = match step {
        Step::Exec => plan
            .programs
            .get(rec.index as usize)
            .map(|p| PathBuf::from(OsStr::from_bytes(p.as_bytes()))),
        Step::Chdir => cmd.cwd.clone(),
        Step::Hostname => cmd.container.hostname.clone().map(PathBuf::from),
        Step::Domainname => cmd.container.domainname.clone().map(PathBuf::from),
        Step::Loopback => Some(PathBuf::from("lo")),
        Step::IdMap => plan
            .self_maps
            .as_ref()
            .and_then(|f| f.get(rec.index as usize))
            .map(|(path, _)| PathBuf::from(OsStr::from_bytes(path.to_bytes()))),
        Step::EnterTimeNamespace => Some(PathBuf::from(OsStr::from_bytes(
            plan.time_for_children.to_bytes(),
        ))),
        _ => None,
    };
    // A program found nowhere on PATH: name the program, not the last directory tried.
    let on = match (step, rec.errno) {
        (Step::Exec, libc::ENOENT) if plan.programs.len() > 1 => Some(PathBuf::from(&cmd.program)),
        _ => on,
    };
    SpawnError::Child {
        step,
        on,
        source: io::Error::from_raw_os_error(rec.errno),
    }
}

static TIME_FOR_CHILDREN: &CStr = c"/proc/self/ns/time_for_children";

pub(crate) fn spawn(cmd: &Command, defaults: Defaults) -> Result<Child, SpawnError> {
    let c = &cmd.container;
    let joining = cmd.join.is_some();
    let ns = if joining {
        Namespaces::empty()
    } else {
        c.effective_namespaces()
    };

    // --- Everything the child will need, built now. -------------------------------------
    let (hostname, domainname) = if joining {
        (None, None)
    } else {
        (
            uts_name("hostname", c.hostname.as_deref(), ns)?,
            uts_name("domainname", c.domainname.as_deref(), ns)?,
        )
    };
    let (env, path_var) = environment(cmd)?;
    let programs = program_candidates(&cmd.program, path_var.as_deref())?;
    let mut strings = Vec::with_capacity(1 + cmd.args.len() + env.len());
    strings.push(cstring("program", &cmd.program)?);
    for a in &cmd.args {
        strings.push(cstring("argument", a)?);
    }
    let argc = strings.len();
    strings.extend(env);
    let mut argv: Vec<*const libc::c_char> = strings[..argc].iter().map(|s| s.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = strings[argc..].iter().map(|s| s.as_ptr()).collect();
    envp.push(std::ptr::null());
    let cwd = cmd
        .cwd
        .as_ref()
        .map(|d| cstring("working directory", d.as_os_str()))
        .transpose()?;

    let mounts = if joining { None } else { mount_plan(cmd, ns)? };
    let user = ns.contains(Namespaces::USER);
    let maps = if user {
        let (uid, gid, setgroups) = id_maps(&c.userns);
        for (kind, map) in [(IdKind::Uid, &uid), (IdKind::Gid, &gid)] {
            map.validate().map_err(|source| SpawnError::IdMap {
                pid: 0,
                source: IdMapError::Invalid { kind, source },
            })?;
        }
        Some((uid, gid, setgroups))
    } else {
        None
    };
    let time = if ns.contains(Namespaces::TIME) {
        Some(c.time_offsets.unwrap_or_default())
    } else {
        None
    };

    let (in_default, out_default) = match defaults {
        Defaults::Inherit => (StdioKind::Inherit, StdioKind::Inherit),
        Defaults::Output => (StdioKind::Null, StdioKind::Piped),
    };
    let stdin = stream(cmd.stdin.as_ref(), in_default, true)?;
    let stdout = stream(
        cmd.stdout.as_ref(),
        match out_default {
            StdioKind::Piped => StdioKind::Piped,
            _ => StdioKind::Inherit,
        },
        false,
    )?;
    let stderr = stream(
        cmd.stderr.as_ref(),
        match out_default {
            StdioKind::Piped => StdioKind::Piped,
            _ => StdioKind::Inherit,
        },
        false,
    )?;

    if c.init && !joining && !ns.contains(Namespaces::PID) {
        return Err(SpawnError::Config(
            "init(true) needs a pid namespace (Namespaces::PID): only PID 1 reaps orphans",
        ));
    }

    let (report_r, report_w) = io::pipe().map_err(parent("pipe2"))?;
    let report_w = sys::above_stdio(report_w.into()).map_err(parent("fcntl(F_DUPFD_CLOEXEC)"))?;
    // A socket pair rather than a pipe: writing to it when the child is gone fails with EPIPE
    // instead of raising SIGPIPE in the caller (std sends with MSG_NOSIGNAL).
    // An unprivileged caller mapping just itself to root (the automatic user namespace) lets
    // the child write its own maps, as `unshare --map-root-user` does: the parent then has
    // nothing to do for the child, which keeps the cheap vfork-like spawn.
    let self_maps = match (&maps, &c.userns) {
        (Some((uid, gid, SetGroups::Deny)), UserNs::Auto | UserNs::MapCaller) => Some([
            (c"/proc/self/setgroups", CString::from(c"deny")),
            (
                c"/proc/self/uid_map",
                cstring("uid map", OsStr::new(&uid.to_string()))?,
            ),
            (
                c"/proc/self/gid_map",
                cstring("gid map", OsStr::new(&gid.to_string()))?,
            ),
        ]),
        _ => None,
    };
    let sync = if (user && self_maps.is_none()) || time.is_some() {
        Some(UnixStream::pair().map_err(parent("socketpair"))?)
    } else {
        None
    };

    // The container's cgroup, created and limited before the clone, so the child starts in
    // it (CLONE_INTO_CGROUP) and is never outside its limits.
    let mut cgroup = if joining {
        None
    } else {
        crate::cgroup::prepare(&c.cgroup)?
    };

    let join = match &cmd.join {
        Some(j) => {
            let target = |source| SpawnError::JoinTarget { pid: j.pid, source };
            let pidfd = j
                .pidfd
                .as_ref()
                .map_err(|e| target(io::Error::from(e.kind())))?;
            // A pidfd becomes readable when its process ends: joining it then is pointless.
            if sys::poll_any(&[pidfd.as_fd()], Some(std::time::Duration::ZERO)).map_err(&target)? {
                return Err(target(io::Error::from_raw_os_error(libc::ESRCH)));
            }
            Some(Join {
                pidfd: pidfd.as_raw_fd(),
                nstypes: j.namespaces.bits() as libc::c_int,
                cgroup_fd: match &j.cgroup {
                    None => None,
                    Some(Ok(fd)) => Some(fd.as_raw_fd()),
                    Some(Err(e)) => return Err(target(io::Error::from(e.kind()))),
                },
            })
        }
        None => None,
    };

    let parent_pidfd = if c.die_with_parent && !joining {
        Some(sys::pidfd_open(std::process::id() as libc::pid_t).map_err(parent("pidfd_open"))?)
    } else {
        None
    };

    // Made before the clone, so that nothing can fail once the process runs.
    let link = match &cmd.join {
        Some(j) => ContainerLink {
            registry: j.registry.clone(),
            cgroup_fd: match &j.cgroup {
                Some(Ok(fd)) => Some(fd.try_clone().map_err(parent("dup"))?),
                _ => None,
            },
            setgroups: j.setgroups,
            register: true,
        },
        None => ContainerLink {
            registry: Default::default(),
            cgroup_fd: None,
            setgroups: maps.as_ref().map_or(SetGroups::Allow, |(_, _, sg)| *sg),
            register: false,
        },
    };

    let plan = Prepared {
        report_fd: report_w.as_raw_fd(),
        sync_fd: sync.as_ref().map(|(r, _)| r.as_raw_fd()),
        parent_ends: [
            report_r.as_raw_fd(),
            sync.as_ref().map_or(-1, |(_, w)| w.as_raw_fd()),
        ],
        death_signal: parent_pidfd.as_ref().map(|fd| fd.as_raw_fd()),
        time_namespace: time.is_some(),
        time_for_children: TIME_FOR_CHILDREN,
        hostname,
        domainname,
        loopback: (ns.contains(Namespaces::NET)).then(sys::loopback_request),
        mounts,
        cwd,
        stdio: [stdin.child, stdout.child, stderr.child],
        gid: cmd.gid,
        uid: cmd.uid,
        // Like std: changing the user or group drops supplementary groups, where the user
        // namespace allows setgroups at all.
        clear_groups: (cmd.gid.is_some() || cmd.uid.is_some())
            && match (&cmd.join, &maps) {
                (Some(j), _) => j.setgroups == SetGroups::Allow,
                (None, Some((_, _, sg))) => *sg == SetGroups::Allow,
                (None, None) => true,
            },
        init: c.init && !joining,
        self_maps,
        join,
        programs,
        argv,
        envp,
        _strings: strings,
    };

    // Time namespaces are created by the child with unshare(), so that the offsets can be
    // written before any process enters the namespace.
    let clone_flags = (ns - Namespaces::TIME).bits();
    // Share our memory with the child (no page-table copy, no copy-on-write faults) unless it
    // must outlive its exec without one (the init), must run setns calls the kernel refuses
    // to a task that shares its memory (a time namespace, joining a container), or there is no
    // trampoline for this architecture.
    let shared_vm = sys::shared_vm_supported()
        && !plan.init
        && !joining
        && sync.is_none()
        && cmd.uid.is_none()
        && cmd.gid.is_none();
    let mode = if shared_vm {
        sys::CloneMode::SharedVm
    } else {
        sys::CloneMode::Fork
    };
    let cgroup_fd = cgroup.as_ref().map(|cg| cg.dir_fd());
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
            return Err(SpawnError::Clone {
                namespaces: format!("{ns:?}"),
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
    drop(stdin._child_end);
    drop(stdout._child_end);
    drop(stderr._child_end);
    let report = OwnedFd::from(report_r);

    let fail = |e: SpawnError, pidfd: BorrowedFd<'_>| -> SpawnError {
        abandon(pidfd);
        e
    };

    // --- The parent's steps. ------------------------------------------------------------
    if let Some((sync_r, sync_w)) = sync {
        drop(sync_r);
        if time.is_some() {
            // The child has made its time namespace (or failed).
            match next_report(&report, &plan, cmd) {
                Ok(true) => {}
                Ok(false) => {
                    let e = SpawnError::Child {
                        step: Step::Sync,
                        on: None,
                        source: io::Error::from(io::ErrorKind::UnexpectedEof),
                    };
                    return Err(fail(e, cloned.pidfd.as_fd()));
                }
                Err(e) => return Err(fail(e, cloned.pidfd.as_fd())),
            }
        }
        if let Some((uid, gid, setgroups)) = &maps
            && plan.self_maps.is_none()
            && let Err(source) =
                hutch_ns::idmap::write_id_maps(cloned.pid as u32, uid, gid, *setgroups)
        {
            let e = SpawnError::IdMap {
                pid: cloned.pid,
                source,
            };
            return Err(fail(e, cloned.pidfd.as_fd()));
        }
        if let Some(offsets) = &time
            && let Err(source) = hutch_ns::time::write_time_offsets(cloned.pid as u32, offsets)
        {
            let e = SpawnError::TimeOffsets {
                pid: cloned.pid,
                source,
            };
            return Err(fail(e, cloned.pidfd.as_fd()));
        }
        let mut w = sync_w;
        if let Err(source) = w.write_all(&[1]) {
            let e = SpawnError::Parent {
                op: "waking the child",
                source,
            };
            return Err(fail(e, cloned.pidfd.as_fd()));
        }
    }

    // --- Wait for exec (end of file) or a failure report. -------------------------------
    let (pid, pidfd) = if joining {
        finish_join(cloned.pidfd, &report, &plan, cmd)?
    } else {
        // End of file: the program was exec'd. A stray READY here would be a protocol error,
        // reported as such by `next_report`'s caller below.
        match next_report(&report, &plan, cmd) {
            Ok(false) => {}
            Ok(true) => {
                let e = SpawnError::Child {
                    step: Step::Sync,
                    on: None,
                    source: io::Error::from_raw_os_error(libc::EPROTO),
                };
                return Err(fail(e, cloned.pidfd.as_fd()));
            }
            Err(e) => return Err(fail(e, cloned.pidfd.as_fd())),
        }
        (cloned.pid, cloned.pidfd)
    };
    if let Some(cg) = &mut cgroup {
        // Only now: a failed spawn removes the cgroup even when it was to be kept.
        cg.keep(c.cgroup.options.keep);
    }
    drop(plan);

    Ok(Child::new(
        pid,
        pidfd,
        if joining {
            cmd.join
                .as_ref()
                .map_or(Namespaces::empty(), |j| j.namespaces)
        } else {
            ns
        },
        stdin.parent_end,
        stdout.parent_end,
        stderr.parent_end,
        cgroup,
        link,
    ))
}
