//! The seccomp layer, parent side: the compiled program the child installs last before exec.
//!
//! Docker's default profile is compiled once per process per capability set (by
//! hutch-seccomp, cached); a profile or filter of the caller's is compiled at each spawn
//! (tens of microseconds).

use std::sync::Arc;

use hutch_seccomp::Program;
use hutch_seccomp::profile::{ProfileContext, docker_default_program};

use crate::container::SeccompSetting;
use crate::{Command, SpawnError};

/// The program to install, or `None` (unconfined, privileged, or `Container::host()`).
pub(crate) fn prepare(cmd: &Command) -> Result<Option<Arc<Program>>, SpawnError> {
    let c = &cmd.container.confine;
    if c.privileged {
        return Ok(None);
    }
    if c.seccomp == SeccompSetting::Unconfined {
        return Ok(None);
    }
    // The capabilities the profile's capability-conditional rules follow: the container's
    // own set (Docker's list), or the caller's when the container keeps them.
    let caps = match c.caps {
        Some(set) => set.bits(),
        None => hutch_caps::thread::bounding_set()
            .map_err(SpawnError::CapabilityState)?
            .bits(),
    };
    let err = |e| SpawnError::Seccomp(Box::new(e));
    Ok(match &c.seccomp {
        SeccompSetting::Unconfined => None,
        SeccompSetting::DockerDefault => Some(docker_default_program(caps).map_err(err)?),
        SeccompSetting::Profile(profile) => {
            let ctx = ProfileContext::current(caps).map_err(err)?;
            Some(Arc::new(profile.compile(&ctx).map_err(err)?))
        }
        SeccompSetting::Filter(filter) => Some(Arc::new(
            filter
                .compile(hutch_seccomp::Arch::native_family())
                .map_err(|e| SpawnError::SeccompFilter(Box::new(e)))?,
        )),
    })
}
