//! The capabilities layer, parent side: the five capability sets, the user and group change
//! and `no_new_privs`, prepared as one `hutch_caps::PreparedCaps` that the child applies in
//! the kernel's required order (bounding drop, ids with keep-caps, capset, ambient,
//! no_new_privs).

use std::sync::OnceLock;

use hutch_caps::{CapSet, CapsPlan, PreparedCaps};

use crate::SpawnError;
use crate::container::Confinement;
use crate::sys::CredPlan;

/// The running kernel's last capability, read once.
fn last_cap() -> Result<u8, SpawnError> {
    static LAST: OnceLock<u8> = OnceLock::new();
    if let Some(n) = LAST.get() {
        return Ok(*n);
    }
    let n = hutch_caps::kernel_last_cap().map_err(SpawnError::CapabilityState)?;
    Ok(*LAST.get_or_init(|| n))
}

/// The container's confinement with `CAP_MKNOD` dropped when no device program guards it
/// (`unguarded`): without one, root could make and open any device node on a writable mount
/// (Docker's set keeps `MKNOD` only because its device cgroup stops the open). Kept when it
/// was added explicitly or the container is privileged. The spawn applies the result, and
/// processes exec'd into the container start from it.
pub(crate) fn guard_mknod(confine: &Confinement, unguarded: bool) -> Confinement {
    let mut confine = confine.clone();
    if unguarded
        && !confine.privileged
        && !confine.caps_added.contains(hutch_caps::Capability::Mknod)
        && let Some(set) = &mut confine.caps
    {
        set.remove(hutch_caps::Capability::Mknod);
    }
    confine
}

/// Builds the layer, or `None` when the container keeps the caller's capabilities (then the
/// credentials layer changes ids on its own).
pub(crate) fn prepare(
    confine: &Confinement,
    creds: &CredPlan,
) -> Result<Option<PreparedCaps>, SpawnError> {
    let Some(mut set) = confine.caps else {
        return Ok(None);
    };
    let last = last_cap()?;
    if confine.privileged {
        // Everything the caller has: asking for more fails in the kernel.
        set = hutch_caps::thread::bounding_set().map_err(SpawnError::CapabilityState)?;
    }
    set &= CapSet::up_to(last);
    let mut plan = CapsPlan::new(set);
    if let Some(uid) = creds.uid {
        plan.uid(uid);
        if uid != 0 {
            // A non-root program keeps only what was asked for explicitly, as ambient
            // capabilities (they survive execve); the rest stays in the bounding set only.
            let added = confine.caps_added & set;
            plan.capabilities(added)
                .bounding(set)
                .inheritable(added)
                .ambient(added);
        }
    }
    if let Some(gid) = creds.gid {
        plan.gid(gid);
    }
    plan.clear_groups(creds.clear_groups)
        .no_new_privs(confine.no_new_privs);
    plan.prepare_for_kernel(last)
        .map(Some)
        .map_err(SpawnError::CapabilityPlan)
}
