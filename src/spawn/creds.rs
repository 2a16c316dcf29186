//! The credentials layer, parent side: the user and group the program runs as, checked before
//! the clone.

use hutch_ns::idmap::{IdKind, IdMap, SetGroups};

use crate::sys::CredPlan;
use crate::{Command, SpawnError};

/// Checks `id` of `kind`: never `u32::MAX` (`-1`, which `setresuid` takes as "no change", so
/// the program would silently stay root), and mapped in the user namespace when there is one.
fn check(kind: IdKind, id: u32, map: Option<&IdMap>) -> Result<(), SpawnError> {
    if id == u32::MAX {
        return Err(SpawnError::InvalidId {
            kind,
            id,
            reason: "is -1, which the kernel takes as \"no change\"",
        });
    }
    if let Some(map) = map
        && map.to_outside(id).is_none()
    {
        return Err(SpawnError::InvalidId {
            kind,
            id,
            reason: "is not mapped in the container's user namespace",
        });
    }
    Ok(())
}

/// Builds the layer. `maps` are the uid and gid maps of the container's user namespace (a new
/// one, or the joined container's), `None` when the program stays in the caller's.
pub(crate) fn prepare(
    cmd: &Command,
    maps: Option<&(IdMap, IdMap)>,
    setgroups: SetGroups,
) -> Result<CredPlan, SpawnError> {
    if let Some(uid) = cmd.uid {
        check(IdKind::Uid, uid, maps.map(|m| &m.0))?;
    }
    if let Some(gid) = cmd.gid {
        check(IdKind::Gid, gid, maps.map(|m| &m.1))?;
    }
    let (uid, gid) = (cmd.uid, cmd.gid);
    Ok(CredPlan {
        uid,
        gid,
        // Like std: changing the user or group drops supplementary groups, where the user
        // namespace allows setgroups at all.
        clear_groups: (uid.is_some() || gid.is_some()) && setgroups == SetGroups::Allow,
    })
}

/// The uid and gid maps of the user namespace of `pid`, read from `/proc`, when it is not
/// the caller's own.
pub(crate) fn maps_of(pid: i32) -> Option<(IdMap, IdMap)> {
    let own = std::fs::read_link("/proc/self/ns/user").ok()?;
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/user")).ok()?;
    if own == theirs {
        return None;
    }
    let uid = std::fs::read_to_string(format!("/proc/{pid}/uid_map"))
        .ok()?
        .parse()
        .ok()?;
    let gid = std::fs::read_to_string(format!("/proc/{pid}/gid_map"))
        .ok()?
        .parse()
        .ok()?;
    Some((uid, gid))
}
