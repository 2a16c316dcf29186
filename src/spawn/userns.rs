//! The user- and time-namespace layer, parent side: the id maps (written by the child itself
//! when it maps just the caller, or by the parent), time offsets, and the sync channel that
//! makes the child wait for them.

use std::ffi::{CString, OsStr};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use hutch_ns::Namespaces;
use hutch_ns::idmap::{IdKind, IdMap, IdMapError, SetGroups};
use hutch_ns::time::TimeOffsets;

use super::program::cstring;
use crate::container::UserNs;
use crate::error::Pid;
use crate::sys::{self, UserNsPlan};
use crate::{Command, SpawnError};

static TIME_FOR_CHILDREN: &std::ffi::CStr = c"/proc/self/ns/time_for_children";

/// The parent's side of the layer.
pub(crate) struct UserNsSetup {
    /// The maps, when the parent writes them.
    pub maps: Option<(IdMap, IdMap, SetGroups)>,
    pub time: Option<TimeOffsets>,
    /// `(child's end, parent's end)` of the sync channel.
    pub sync: Option<(UnixStream, UnixStream)>,
    /// Whether `setgroups` is allowed in the container's user namespace.
    pub setgroups: SetGroups,
    /// The uid and gid maps of the new user namespace (also when the child writes them), to
    /// check ids against.
    pub mapped: Option<(IdMap, IdMap)>,
}

/// The id maps to write for a new user namespace, and whether `setgroups` stays allowed.
fn id_maps(userns: &UserNs) -> Result<(IdMap, IdMap, SetGroups), SpawnError> {
    Ok(match userns {
        UserNs::Maps { uid, gid } => (uid.clone(), gid.clone(), SetGroups::Allow),
        UserNs::Remap => {
            if sys::geteuid() != 0 {
                return Err(SpawnError::RemapNeedsRoot);
            }
            (
                remap("/etc/subuid")?,
                remap("/etc/subgid")?,
                SetGroups::Allow,
            )
        }
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
    })
}

/// Root's ranges in `file` (`/etc/subuid` or `/etc/subgid`) as a map from 0 up, or the
/// default range when there are none.
fn remap(file: &str) -> Result<IdMap, SpawnError> {
    use hutch_ns::idmap::{IdMapEntry, SubIdError, SubIdRanges};
    let ranges = match SubIdRanges::read(file) {
        Ok(r) => r,
        Err(SubIdError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            SubIdRanges::default()
        }
        Err(e) => return Err(SpawnError::SubIds(e)),
    };
    let mut map = IdMap::new();
    let mut next: u32 = 0;
    for r in ranges.for_user("root", 0) {
        map.push(IdMapEntry::new(next, r.start, r.count));
        next = next.saturating_add(r.count);
    }
    if map.is_empty() {
        map = IdMap::new().map(0, crate::container::REMAP_DEFAULT_START, 65536);
    }
    Ok(map)
}

///
/// `parent_work`: the parent has other work to do before the child may go on (networking), so
/// the child waits on the sync channel even without maps or offsets to write.
pub(crate) fn prepare(
    cmd: &Command,
    ns: Namespaces,
    parent_work: bool,
) -> Result<(UserNsPlan, UserNsSetup), SpawnError> {
    let c = &cmd.container;
    let time = ns
        .contains(Namespaces::TIME)
        .then(|| c.time_offsets.unwrap_or_default());
    let mut plan = UserNsPlan {
        time_namespace: time.is_some(),
        time_for_children: TIME_FOR_CHILDREN,
        self_maps: None,
        sync_fd: None,
        become_root: false,
    };
    let mut setup = UserNsSetup {
        maps: None,
        time,
        sync: None,
        setgroups: SetGroups::Allow,
        mapped: None,
    };
    if ns.contains(Namespaces::USER) {
        let (uid, gid, setgroups) = id_maps(&c.userns)?;
        for (kind, map) in [(IdKind::Uid, &uid), (IdKind::Gid, &gid)] {
            map.validate()
                .map_err(|source| SpawnError::InvalidIdMap(IdMapError::Invalid { kind, source }))?;
        }
        setup.setgroups = setgroups;
        // A namespace that does not map the caller's own ids to root (a remapped one): the
        // child is nobody there until it switches to uid and gid 0 inside, right after its
        // maps are written and before it creates anything.
        plan.become_root =
            uid.to_outside(0) != Some(sys::geteuid()) || gid.to_outside(0) != Some(sys::getegid());
        setup.mapped = Some((uid.clone(), gid.clone()));
        // An unprivileged caller mapping just itself to root (the automatic user namespace)
        // lets the child write its own maps, as `unshare --map-root-user` does: the parent
        // then has nothing to do for the child, which keeps the cheap vfork-like spawn.
        if setgroups == SetGroups::Deny && matches!(c.userns, UserNs::Auto | UserNs::MapCaller) {
            plan.self_maps = Some([
                (c"/proc/self/setgroups", CString::from(c"deny")),
                (
                    c"/proc/self/uid_map",
                    cstring("uid map", OsStr::new(&uid.to_string()))?,
                ),
                (
                    c"/proc/self/gid_map",
                    cstring("gid map", OsStr::new(&gid.to_string()))?,
                ),
            ]);
        } else {
            setup.maps = Some((uid, gid, setgroups));
        }
    }
    if setup.maps.is_some() || setup.time.is_some() || parent_work {
        let pair = UnixStream::pair().map_err(|source| SpawnError::Parent {
            op: "socketpair",
            source,
        })?;
        plan.sync_fd = Some(pair.0.as_raw_fd());
        setup.sync = Some(pair);
    }
    Ok((plan, setup))
}

/// The parent's step: writes the id maps and time offsets for the child, does the other
/// parent-side work (`before_wake`), then wakes it.
pub(crate) fn parent_step(
    setup: &mut UserNsSetup,
    pid: Pid,
    wait_ready: impl FnOnce() -> Result<(), SpawnError>,
    before_wake: impl FnOnce() -> Result<(), SpawnError>,
) -> Result<(), SpawnError> {
    let Some((child_end, parent_end)) = setup.sync.take() else {
        return Ok(());
    };
    drop(child_end);
    if setup.time.is_some() {
        // The child has made its time namespace (or failed).
        wait_ready()?;
    }
    if let Some((uid, gid, setgroups)) = &setup.maps {
        hutch_ns::idmap::write_id_maps(pid.get() as u32, uid, gid, *setgroups)
            .map_err(|source| SpawnError::IdMap { pid, source })?;
    }
    if let Some(offsets) = &setup.time {
        hutch_ns::time::write_time_offsets(pid.get() as u32, offsets)
            .map_err(|source| SpawnError::TimeOffsets { pid, source })?;
    }
    before_wake()?;
    let mut w = parent_end;
    w.write_all(&[1]).map_err(|source| SpawnError::Parent {
        op: "waking the child",
        source,
    })
}
