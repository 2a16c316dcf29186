//! A capability plan built in the parent and applied in the child between `clone` and
//! `exec`: [`CapsPlan`] → [`PreparedCaps`] → [`PreparedCaps::apply`].

use std::fmt;
use std::io;

use libc::c_ulong;

use crate::capability::Capability;
use crate::set::CapSet;
use crate::sys;
use crate::thread::{CapsError, SecureBits, cap_name};

/// What a program should run with: its capabilities, and optionally the uid/gid it runs
/// as, securebits and `no_new_privs`. A builder in the style of `std::process::Command`:
/// setters cannot fail, [`prepare`](CapsPlan::prepare) checks the whole plan against the
/// running kernel, and a plan can be prepared many times.
///
/// The five sets the child ends up with follow from the wanted set `W`
/// ([`CapsPlan::new`]):
///
/// | set          | root (no uid, or uid 0)  | another uid ([`uid`](CapsPlan::uid))  |
/// |--------------|--------------------------|---------------------------------------|
/// | bounding     | `W`                      | `W`                                   |
/// | permitted    | `W`                      | `W`                                   |
/// | effective    | `W`                      | `W`                                   |
/// | inheritable  | empty                    | `W`                                   |
/// | ambient      | empty                    | `W`                                   |
///
/// Root gets its capabilities back at `execve` from the bounding set. A program that is
/// not root keeps capabilities across `execve` only through the **ambient** set (and a
/// capability can only be ambient while it is both permitted and inheritable), so for a
/// non-root uid the wanted set goes to all five. [`bounding`](CapsPlan::bounding),
/// [`inheritable`](CapsPlan::inheritable) and [`ambient`](CapsPlan::ambient) override
/// this; a caller that is not root and keeps its uid (no [`uid`](CapsPlan::uid)) asks for
/// `ambient(W)` to keep capabilities across `execve`.
///
/// The uid/gid change belongs in the plan rather than before or after it: before, the
/// kernel would clear the permitted set when uid 0 is left; after, `CAP_SETUID` may
/// already be gone. The plan sets `PR_SET_KEEPCAPS` first and restores the sets after.
///
/// ```no_run
/// use hutch_caps::{CapSet, CapsPlan, Capability};
/// // Parent, before clone: Docker's defaults for root, no_new_privs on.
/// let mut plan = CapsPlan::new(CapSet::docker_default());
/// plan.no_new_privs(true);
/// let prepared = plan.prepare()?;
///
/// // A web server as uid 1000 that may still bind port 80 after execve.
/// let mut web = CapsPlan::new(Capability::NetBindService.into());
/// web.uid(1000).gid(1000).clear_groups(true).no_new_privs(true);
/// let web = web.prepare()?;
/// assert_eq!(web.ambient(), Capability::NetBindService.into());
///
/// // In the single-threaded child, after clone and before execve:
/// // if let Err(failure) = unsafe { prepared.apply() } {
/// //     report(failure.step as u32, failure.index, failure.errno); _exit(127);
/// // }
/// # Ok::<(), hutch_caps::PlanError>(())
/// ```
///
/// # References
/// - [capabilities(7)](https://man7.org/linux/man-pages/man7/capabilities.7.html),
///   "Transformation of capabilities during execve()" and "Effect of user ID changes on
///   capabilities"
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapsPlan {
    wanted: CapSet,
    bounding: Option<CapSet>,
    inheritable: Option<CapSet>,
    ambient: Option<CapSet>,
    uid: Option<u32>,
    gid: Option<u32>,
    clear_groups: bool,
    securebits: Option<SecureBits>,
    no_new_privs: bool,
}

/// A plan that does not fit the running kernel or is inconsistent.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The kernel's last capability could not be read.
    #[error("cannot check the capability plan against the running kernel")]
    LastCap(#[source] CapsError),
    /// Capabilities above the kernel's last one were asked for.
    #[error(
        "capabilities {{{caps}}} are not known to the running kernel (its last capability is {last_cap})"
    )]
    UnknownToKernel {
        /// The unknown capabilities.
        caps: CapSet,
        /// The kernel's last capability number.
        last_cap: u8,
    },
    /// Capabilities are wanted (permitted or inheritable) but not in the plan's bounding
    /// set, which the kernel would refuse.
    #[error("capabilities {{{caps}}} are wanted but not in the planned bounding set")]
    NotInBounding {
        /// The capabilities.
        caps: CapSet,
    },
    /// Ambient capabilities must be permitted and inheritable too.
    #[error(
        "ambient capabilities {{{caps}}} are not both permitted and inheritable, which the kernel requires"
    )]
    AmbientNotInheritable {
        /// The capabilities.
        caps: CapSet,
    },
}

impl CapsPlan {
    /// A plan that gives the program exactly the capabilities `wanted` (see the table in
    /// the type's docs), with no uid/gid change, no securebits and `no_new_privs` off.
    pub fn new(wanted: CapSet) -> CapsPlan {
        CapsPlan {
            wanted,
            bounding: None,
            inheritable: None,
            ambient: None,
            uid: None,
            gid: None,
            clear_groups: false,
            securebits: None,
            no_new_privs: false,
        }
    }

    /// Replaces the wanted set (permitted and effective).
    pub fn capabilities(&mut self, wanted: CapSet) -> &mut Self {
        self.wanted = wanted;
        self
    }

    /// The bounding set, instead of the wanted set. Every capability number up to the
    /// kernel's last that is not in it is dropped.
    pub fn bounding(&mut self, set: CapSet) -> &mut Self {
        self.bounding = Some(set);
        self
    }

    /// The inheritable set, instead of the default (the ambient set).
    pub fn inheritable(&mut self, set: CapSet) -> &mut Self {
        self.inheritable = Some(set);
        self
    }

    /// The ambient set, instead of the default (the wanted set for a non-root
    /// [`uid`](CapsPlan::uid), else empty).
    pub fn ambient(&mut self, set: CapSet) -> &mut Self {
        self.ambient = Some(set);
        self
    }

    /// Switches all of the real, effective and saved user ids to `uid`
    /// (`setresuid`), keeping the planned capabilities.
    pub fn uid(&mut self, uid: u32) -> &mut Self {
        self.uid = Some(uid);
        self
    }

    /// Switches all group ids to `gid` (`setresgid`).
    pub fn gid(&mut self, gid: u32) -> &mut Self {
        self.gid = Some(gid);
        self
    }

    /// Whether to drop every supplementary group (`setgroups(0, NULL)`) first.
    pub fn clear_groups(&mut self, clear: bool) -> &mut Self {
        self.clear_groups = clear;
        self
    }

    /// Sets the securebits to `bits` (plus `SECBIT_KEEP_CAPS` during a uid change; the
    /// kernel clears that bit at `execve`). Needs `CAP_SETPCAP` at the time of the call,
    /// which the plan makes before lowering any set.
    pub fn securebits(&mut self, bits: SecureBits) -> &mut Self {
        self.securebits = Some(bits);
        self
    }

    /// Whether to set `no_new_privs` last, so that `execve` never grants privileges
    /// (set-user-ID bits and file capabilities are ignored).
    pub fn no_new_privs(&mut self, on: bool) -> &mut Self {
        self.no_new_privs = on;
        self
    }

    /// Checks the plan against the running kernel (its last capability, from
    /// `/proc/sys/kernel/cap_last_cap`) and computes the five sets.
    ///
    /// # Errors
    /// [`PlanError::LastCap`] without a readable `/proc`; otherwise as
    /// [`prepare_for_kernel`](CapsPlan::prepare_for_kernel).
    pub fn prepare(&self) -> Result<PreparedCaps, PlanError> {
        let last = crate::kernel_last_cap().map_err(PlanError::LastCap)?;
        self.prepare_for_kernel(last)
    }

    /// Like [`prepare`](CapsPlan::prepare), for a kernel whose last capability is
    /// `last_cap` (values above 63 count as 63).
    ///
    /// # Errors
    /// [`PlanError::UnknownToKernel`] when a set names a capability above `last_cap`,
    /// [`PlanError::NotInBounding`] when a permitted or inheritable capability is not in
    /// the bounding set, [`PlanError::AmbientNotInheritable`] when an ambient capability is
    /// not both permitted and inheritable.
    pub fn prepare_for_kernel(&self, last_cap: u8) -> Result<PreparedCaps, PlanError> {
        let last_cap = last_cap.min(63);
        let leaves_root = matches!(self.uid, Some(uid) if uid != 0);
        let ambient = self.ambient.unwrap_or(if leaves_root {
            self.wanted
        } else {
            CapSet::empty()
        });
        let inheritable = self.inheritable.unwrap_or(ambient);
        let bounding = self.bounding.unwrap_or(self.wanted);
        let permitted = self.wanted;
        let all = bounding | permitted | inheritable | ambient;
        let unknown = all - CapSet::up_to(last_cap);
        if !unknown.is_empty() {
            return Err(PlanError::UnknownToKernel {
                caps: unknown,
                last_cap,
            });
        }
        let outside = (permitted | inheritable) - bounding;
        if !outside.is_empty() {
            return Err(PlanError::NotInBounding { caps: outside });
        }
        let stray = ambient - (permitted & inheritable);
        if !stray.is_empty() {
            return Err(PlanError::AmbientNotInheritable { caps: stray });
        }
        Ok(PreparedCaps {
            bounding,
            permitted,
            effective: permitted,
            inheritable,
            ambient,
            last_cap,
            uid: self.uid,
            gid: self.gid,
            clear_groups: self.clear_groups,
            keep_caps: leaves_root,
            securebits: self.securebits,
            no_new_privs: self.no_new_privs,
        })
    }
}

/// A checked plan, ready for [`apply`](PreparedCaps::apply) in a child. Plain data: it can
/// be copied into the child's closure or shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreparedCaps {
    bounding: CapSet,
    permitted: CapSet,
    effective: CapSet,
    inheritable: CapSet,
    ambient: CapSet,
    last_cap: u8,
    uid: Option<u32>,
    gid: Option<u32>,
    clear_groups: bool,
    keep_caps: bool,
    securebits: Option<SecureBits>,
    no_new_privs: bool,
}

/// The step of [`PreparedCaps::apply`] that failed, in the order they run. The values are
/// stable, for sending over a pipe as a `u32`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CapsStep {
    /// `PR_CAPBSET_DROP`; the index is the capability number.
    BoundingDrop = 1,
    /// `PR_SET_KEEPCAPS` before leaving uid 0.
    KeepCaps = 2,
    /// `PR_SET_SECUREBITS`; the index is the bits.
    Securebits = 3,
    /// `setgroups(0, NULL)`.
    SetGroups = 4,
    /// `setresgid`; the index is the gid.
    SetGid = 5,
    /// `setresuid`; the index is the uid.
    SetUid = 6,
    /// `capset`; the index is the lowest capability that could not be kept (permitted, or
    /// inheritable beyond the bounding set), or `u32::MAX` when that is unclear.
    Capset = 7,
    /// `PR_CAP_AMBIENT_CLEAR_ALL`.
    AmbientClear = 8,
    /// `PR_CAP_AMBIENT_RAISE`; the index is the capability number.
    AmbientRaise = 9,
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs = 10,
    /// A planned bounding capability is already missing from the caller's bounding set
    /// (checked with `PR_CAPBSET_READ` during the bounding step; the errno is `EPERM`);
    /// the index is the capability number. Without this check the program would silently
    /// lack it after `execve`.
    BoundingMissing = 11,
}

impl CapsStep {
    const ALL: [CapsStep; 11] = [
        CapsStep::BoundingDrop,
        CapsStep::KeepCaps,
        CapsStep::Securebits,
        CapsStep::SetGroups,
        CapsStep::SetGid,
        CapsStep::SetUid,
        CapsStep::Capset,
        CapsStep::AmbientClear,
        CapsStep::AmbientRaise,
        CapsStep::NoNewPrivs,
        CapsStep::BoundingMissing,
    ];

    /// The step whose stable value is `value`.
    pub fn from_u32(value: u32) -> Option<CapsStep> {
        CapsStep::ALL.into_iter().find(|s| *s as u32 == value)
    }

    /// The system call or operation, for messages (`"PR_CAPBSET_DROP"`, `"capset"`, ...).
    pub const fn operation(self) -> &'static str {
        match self {
            CapsStep::BoundingDrop => "PR_CAPBSET_DROP",
            CapsStep::KeepCaps => "PR_SET_KEEPCAPS",
            CapsStep::Securebits => "PR_SET_SECUREBITS",
            CapsStep::SetGroups => "setgroups",
            CapsStep::SetGid => "setresgid",
            CapsStep::SetUid => "setresuid",
            CapsStep::Capset => "capset",
            CapsStep::AmbientClear => "PR_CAP_AMBIENT_CLEAR_ALL",
            CapsStep::AmbientRaise => "PR_CAP_AMBIENT_RAISE",
            CapsStep::NoNewPrivs => "PR_SET_NO_NEW_PRIVS",
            CapsStep::BoundingMissing => "PR_CAPBSET_READ",
        }
    }
}

/// Why [`PreparedCaps::apply`] failed: the step, an index whose meaning depends on the
/// step (see [`CapsStep`]) and the errno. `Copy` and allocation-free, so a child can send
/// it over a pipe as three integers ([`encode`](CapsFailure::encode) /
/// [`decode`](CapsFailure::decode)) and the parent can turn it into a message
/// ([`what`](CapsFailure::what) plus [`to_io_error`](CapsFailure::to_io_error), or
/// `Display`).
///
/// ```
/// use hutch_caps::{CapsFailure, CapsStep};
/// let f = CapsFailure { step: CapsStep::AmbientRaise, index: 10, errno: libc::EPERM };
/// let (step, index, errno) = f.encode();
/// let back = CapsFailure::decode(step, index, errno).unwrap();
/// assert_eq!(back.what(), "raising cap_net_bind_service in the ambient set (PR_CAP_AMBIENT_RAISE)");
/// assert_eq!(back.to_io_error().raw_os_error(), Some(libc::EPERM));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CapsFailure {
    /// The step.
    pub step: CapsStep,
    /// The capability number, id or bits the step was working on (see [`CapsStep`]).
    pub index: u32,
    /// The errno.
    pub errno: i32,
}

impl CapsFailure {
    /// The three integers to send over a pipe: `(step as u32, index, errno)`.
    pub const fn encode(self) -> (u32, u32, i32) {
        (self.step as u32, self.index, self.errno)
    }

    /// The failure from [`encode`](CapsFailure::encode)'s integers; `None` for an unknown
    /// step value.
    pub fn decode(step: u32, index: u32, errno: i32) -> Option<CapsFailure> {
        CapsStep::from_u32(step).map(|step| CapsFailure { step, index, errno })
    }

    /// The capability the step was working on, for steps that have one.
    pub fn capability(&self) -> Option<Capability> {
        match self.step {
            CapsStep::BoundingDrop
            | CapsStep::BoundingMissing
            | CapsStep::AmbientRaise
            | CapsStep::Capset => u8::try_from(self.index)
                .ok()
                .and_then(Capability::from_number),
            _ => None,
        }
    }

    /// The errno as an `io::Error`.
    pub fn to_io_error(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }

    /// What was being done, without the errno: "dropping cap_sys_admin from the bounding
    /// set (PR_CAPBSET_DROP)".
    pub fn what(&self) -> String {
        let cap = || match u8::try_from(self.index) {
            Ok(n) if n < 64 => cap_name(n),
            _ => format!("capability {}", self.index),
        };
        let op = self.step.operation();
        match self.step {
            CapsStep::BoundingDrop => format!("dropping {} from the bounding set ({op})", cap()),
            CapsStep::KeepCaps => format!("keeping capabilities across the uid change ({op})"),
            CapsStep::Securebits => format!("setting securebits {:#x} ({op})", self.index),
            CapsStep::SetGroups => format!("clearing the supplementary groups ({op})"),
            CapsStep::SetGid => format!("switching to gid {} ({op})", self.index),
            CapsStep::SetUid => format!("switching to uid {} ({op})", self.index),
            CapsStep::Capset if self.index == u32::MAX => {
                format!("setting the capability sets ({op})")
            }
            CapsStep::Capset => format!(
                "setting the capability sets ({op}): {} is not in the permitted or bounding set",
                cap()
            ),
            CapsStep::AmbientClear => format!("clearing the ambient set ({op})"),
            CapsStep::AmbientRaise => {
                format!("raising {} in the ambient set ({op})", cap())
            }
            CapsStep::NoNewPrivs => format!("setting no_new_privs ({op})"),
            CapsStep::BoundingMissing => format!(
                "keeping {}: it is not in the caller's bounding set ({op})",
                cap()
            ),
        }
    }
}

impl fmt::Display for CapsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.what(), self.to_io_error())
    }
}

impl std::error::Error for CapsFailure {}

impl PreparedCaps {
    /// The bounding set the child will have.
    pub const fn bounding(&self) -> CapSet {
        self.bounding
    }

    /// The permitted set the child will have before `execve`.
    pub const fn permitted(&self) -> CapSet {
        self.permitted
    }

    /// The effective set the child will have before `execve`.
    pub const fn effective(&self) -> CapSet {
        self.effective
    }

    /// The inheritable set.
    pub const fn inheritable(&self) -> CapSet {
        self.inheritable
    }

    /// The ambient set.
    pub const fn ambient(&self) -> CapSet {
        self.ambient
    }

    /// The kernel's last capability number the plan was checked against.
    pub const fn last_cap(&self) -> u8 {
        self.last_cap
    }

    /// Applies the plan to the calling thread, in this order:
    ///
    /// 1. drop from the bounding set every capability number up to the kernel's last one
    ///    that is not planned (numbers already absent are skipped, so a plan that drops
    ///    nothing new needs no `CAP_SETPCAP`), and fail if a planned one is already absent;
    /// 2. `PR_SET_SECUREBITS` when securebits were planned, else `PR_SET_KEEPCAPS` when
    ///    leaving uid 0;
    /// 3. `setgroups(0, NULL)`, `setresgid`, `setresuid` (raw system calls, calling thread
    ///    only);
    /// 4. `capset` of effective, permitted and inheritable;
    /// 5. clear the ambient set, then raise each planned ambient capability;
    /// 6. `PR_SET_NO_NEW_PRIVS`.
    ///
    /// It makes raw system calls only: no allocation, no locks, no panics.
    ///
    /// # Errors
    /// The first failing step as a [`CapsFailure`]; the thread is then left part-way.
    /// Asking for a capability that is not in the caller's bounding set fails at
    /// [`CapsStep::BoundingMissing`], one that is not in its permitted set at
    /// [`CapsStep::Capset`], both with `EPERM` and that capability as the index.
    ///
    /// # Safety
    /// Call this only in a single-threaded process, normally a child between `clone` and
    /// `execve`: the changes apply to the calling thread only (other threads would keep
    /// their credentials and capabilities), and the credential changes bypass the C
    /// library's process-wide synchronisation of ids.
    #[doc(alias = "capset")]
    // An `unsafe fn` only to state the contract above; the system calls live in `sys`.
    #[allow(unsafe_code)]
    pub unsafe fn apply(&self) -> Result<(), CapsFailure> {
        let fail =
            |step: CapsStep, index: u32| move |errno: i32| CapsFailure { step, index, errno };
        // 1. Bounding set.
        let mut n: u8 = 0;
        while n <= self.last_cap {
            let present = sys::prctl(libc::PR_CAPBSET_READ, c_ulong::from(n), 0) == Ok(1);
            let planned = self.bounding.contains_number(n);
            if planned && !present {
                return Err(CapsFailure {
                    step: CapsStep::BoundingMissing,
                    index: u32::from(n),
                    errno: libc::EPERM,
                });
            }
            if present && !planned {
                sys::prctl(libc::PR_CAPBSET_DROP, c_ulong::from(n), 0)
                    .map_err(fail(CapsStep::BoundingDrop, u32::from(n)))?;
            }
            n += 1;
        }
        // 2. Securebits / keep-caps.
        if let Some(bits) = self.securebits {
            let bits = if self.keep_caps {
                bits | SecureBits::KEEP_CAPS
            } else {
                bits
            };
            sys::prctl(libc::PR_SET_SECUREBITS, c_ulong::from(bits.bits()), 0)
                .map_err(fail(CapsStep::Securebits, bits.bits()))?;
        } else if self.keep_caps {
            sys::prctl(libc::PR_SET_KEEPCAPS, 1, 0).map_err(fail(CapsStep::KeepCaps, 0))?;
        }
        // 3. Credentials.
        if self.clear_groups {
            sys::clear_groups().map_err(fail(CapsStep::SetGroups, 0))?;
        }
        if let Some(gid) = self.gid {
            sys::set_gid(gid).map_err(fail(CapsStep::SetGid, gid))?;
        }
        if let Some(uid) = self.uid {
            sys::set_uid(uid).map_err(fail(CapsStep::SetUid, uid))?;
        }
        // 4. capset.
        if let Err(errno) = sys::capset(
            self.effective.bits(),
            self.permitted.bits(),
            self.inheritable.bits(),
        ) {
            return Err(CapsFailure {
                step: CapsStep::Capset,
                index: self.missing_capability(),
                errno,
            });
        }
        // 5. Ambient set.
        sys::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as c_ulong,
            0,
        )
        .map_err(fail(CapsStep::AmbientClear, 0))?;
        let mut n: u8 = 0;
        while n <= self.last_cap {
            if self.ambient.contains_number(n) {
                sys::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as c_ulong,
                    c_ulong::from(n),
                )
                .map_err(fail(CapsStep::AmbientRaise, u32::from(n)))?;
            }
            n += 1;
        }
        // 6. no_new_privs.
        if self.no_new_privs {
            sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0).map_err(fail(CapsStep::NoNewPrivs, 0))?;
        }
        Ok(())
    }

    /// After a failed `capset`: the lowest planned capability the thread cannot have
    /// (permitted but not currently permitted, or inheritable but neither inheritable,
    /// permitted nor in the bounding set). Allocation-free.
    fn missing_capability(&self) -> u32 {
        let Ok([_, permitted, inheritable]) = sys::capget(0) else {
            return u32::MAX;
        };
        let mut bounding = 0u64;
        let mut n: u8 = 0;
        while n <= self.last_cap {
            if sys::prctl(libc::PR_CAPBSET_READ, c_ulong::from(n), 0) == Ok(1) {
                bounding |= 1 << n;
            }
            n += 1;
        }
        let missing = (self.permitted.bits() & !permitted)
            | (self.inheritable.bits() & !(inheritable | permitted))
            | (self.inheritable.bits() & !(inheritable | bounding));
        if missing == 0 {
            u32::MAX
        } else {
            missing.trailing_zeros()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability as C;

    #[test]
    fn root_and_non_root_sets() {
        let root = CapsPlan::new(CapSet::docker_default())
            .prepare_for_kernel(40)
            .unwrap();
        assert_eq!(root.bounding(), CapSet::docker_default());
        assert_eq!(root.permitted(), CapSet::docker_default());
        assert_eq!(root.effective(), CapSet::docker_default());
        assert!(root.inheritable().is_empty() && root.ambient().is_empty());
        assert!(!root.keep_caps);

        let also_root = CapsPlan::new(CapSet::docker_default())
            .uid(0)
            .prepare_for_kernel(40)
            .unwrap();
        assert!(also_root.ambient().is_empty() && !also_root.keep_caps);

        let web = CapsPlan::new(C::NetBindService.into())
            .uid(1000)
            .gid(1000)
            .prepare_for_kernel(40)
            .unwrap();
        for set in [
            web.bounding(),
            web.permitted(),
            web.effective(),
            web.inheritable(),
            web.ambient(),
        ] {
            assert_eq!(set, C::NetBindService.into());
        }
        assert!(web.keep_caps);
    }

    #[test]
    fn plan_errors() {
        let e = CapsPlan::new(CapSet::up_to(42))
            .prepare_for_kernel(40)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "capabilities {41,42} are not known to the running kernel (its last capability is 40)"
        );
        assert!(
            CapsPlan::new(CapSet::up_to(42))
                .prepare_for_kernel(42)
                .is_ok()
        );
        let e = CapsPlan::new(CapSet::docker_default())
            .bounding(C::Chown.into())
            .prepare_for_kernel(40)
            .unwrap_err();
        assert!(matches!(e, PlanError::NotInBounding { caps } if caps.len() == 13));
        let e = CapsPlan::new(C::Chown.into())
            .ambient(C::Chown.into())
            .inheritable(CapSet::empty())
            .prepare_for_kernel(40)
            .unwrap_err();
        assert!(matches!(e, PlanError::AmbientNotInheritable { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "ambient capabilities {CAP_CHOWN} are not both permitted and inheritable, which the kernel requires"
        );
        // Explicit ambient for a caller that keeps its (non-root) uid.
        let p = CapsPlan::new(C::Kill.into())
            .ambient(C::Kill.into())
            .prepare_for_kernel(40)
            .unwrap();
        assert_eq!(p.inheritable(), C::Kill.into());
    }

    #[test]
    fn failure_codec_and_messages() {
        for step in CapsStep::ALL {
            let f = CapsFailure {
                step,
                index: 21,
                errno: libc::EPERM,
            };
            let (s, i, e) = f.encode();
            assert_eq!(CapsFailure::decode(s, i, e), Some(f));
            let msg = f.to_string();
            assert!(msg.contains(step.operation()), "{msg}");
            assert!(
                msg.ends_with("Operation not permitted (os error 1)"),
                "{msg}"
            );
        }
        assert_eq!(CapsFailure::decode(0, 0, 0), None);
        assert_eq!(CapsFailure::decode(12, 0, 0), None);
        let f = CapsFailure {
            step: CapsStep::BoundingDrop,
            index: 21,
            errno: libc::EPERM,
        };
        assert_eq!(f.capability(), Some(C::SysAdmin));
        assert_eq!(
            f.to_string(),
            "dropping cap_sys_admin from the bounding set (PR_CAPBSET_DROP) failed: Operation not permitted (os error 1)"
        );
        let f = CapsFailure {
            step: CapsStep::SetUid,
            index: 1000,
            errno: libc::EPERM,
        };
        assert_eq!(f.capability(), None);
        assert_eq!(f.what(), "switching to uid 1000 (setresuid)");
    }
}
