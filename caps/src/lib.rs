//! Linux capabilities for hutch.
//!
//! - [`Capability`]: one capability (all 41 up to `CAP_CHECKPOINT_RESTORE`), with the
//!   `getcap` spelling (`cap_net_raw`) and the Docker/OCI spellings (`CAP_NET_RAW`,
//!   `NET_RAW`); [`kernel_last_cap`] tells how many the running kernel has.
//! - [`CapSet`]: a set of capabilities as the kernel's `u64` mask, with set operators,
//!   iteration, a text form (`CAP_CHOWN,CAP_KILL`, `ALL`) and [`CapSet::docker_default`].
//! - [`thread`]: the calling thread's five sets — effective, permitted and inheritable
//!   ([`CapState`], `capget`/`capset`), bounding (`PR_CAPBSET_*`) and ambient
//!   (`PR_CAP_AMBIENT_*`) — plus [`SecureBits`] and `no_new_privs`.
//! - [`ProcessCaps`]: another process's sets, `NoNewPrivs` and seccomp mode from
//!   `/proc/PID/status`.
//! - [`FileCaps`]: file capabilities in the `security.capability` extended attribute
//!   (revisions 2 and 3, the latter with a user namespace's root uid) and in the
//!   `cap_net_raw=ep` text form of `getcap`/`setcap`.
//! - [`CapsPlan`] → [`PreparedCaps`]: the capabilities (and uid/gid, securebits,
//!   `no_new_privs`) a container's program runs with, built in the parent and applied in
//!   the child between `clone` and `execve` without allocating; a failure comes back as a
//!   small `Copy` [`CapsFailure`].
//!
//! # Quickstart
//!
//! ```no_run
//! use hutch_caps::{CapSet, CapsPlan, Capability, FileCaps, ProcessCaps};
//!
//! // Docker's defaults minus NET_RAW, plus whatever the user asked for.
//! let mut wanted = CapSet::docker_default() - Capability::NetRaw;
//! wanted |= "CAP_SYS_PTRACE".parse::<CapSet>()?;
//!
//! // In the parent, before clone3:
//! let mut plan = CapsPlan::new(wanted);
//! plan.uid(1000).gid(1000).clear_groups(true).no_new_privs(true);
//! let prepared = plan.prepare()?;
//! // In the child, before execve (see `PreparedCaps::apply` for the rules):
//! //     if let Err(f) = unsafe { prepared.apply() } { let (step, index, errno) = f.encode(); ... }
//! # let _ = prepared;
//!
//! // Look at a running process, and at a file.
//! let caps = ProcessCaps::read(1)?;
//! println!("pid 1 bounding set: {}", caps.bounding);
//! if let Some(fc) = FileCaps::read("/usr/bin/ping")? {
//!     println!("/usr/bin/ping {fc}"); // as getcap prints it: cap_net_raw=ep
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Requirements
//!
//! - Linux 5.9 or later for every capability (`CAP_CHECKPOINT_RESTORE`); ambient
//!   capabilities need 4.3, revision-3 file capabilities 4.14, `NoNewPrivs` in
//!   `/proc/PID/status` 4.10. Numbers above the running kernel's last capability are
//!   refused by [`CapsPlan::prepare`], never silently ignored.
//! - Privileges: reading is unprivileged. Dropping from the bounding set and setting
//!   securebits need `CAP_SETPCAP`; changing uid/gid needs `CAP_SETUID`/`CAP_SETGID`;
//!   writing file capabilities needs `CAP_SETFCAP` (in a user namespace that owns the
//!   file); raising ambient capabilities needs them permitted and inheritable.
//! - File capabilities need a file system with `security.*` extended attributes (ext4,
//!   xfs, btrfs, tmpfs, ...).
//!
//! # Threads
//!
//! **Capability sets, securebits and `no_new_privs` belong to a thread, not a process.**
//! Everything in [`thread`] and [`PreparedCaps::apply`] changes the calling thread only:
//! in a multithreaded program the other threads keep their sets, `/proc/PID/status` keeps
//! showing the main thread's, and only threads and children created afterwards inherit the
//! change. That is why a container's capabilities are set by [`PreparedCaps::apply`] in the
//! single-threaded child between `clone` and `execve`, after which the program starts with
//! exactly those sets. `apply` is `unsafe` for that reason, and because it changes
//! credentials with raw system calls (glibc's `setresuid` synchronises all threads with
//! signals, which hangs in a child cloned from a multithreaded parent). `apply` allocates
//! nothing and takes no locks. Reading functions and [`FileCaps`] are ordinary thread-safe
//! code.
//!
//! # Test strategy
//!
//! Names, sets, the status parser and both file-capability encodings have unit tests on
//! values captured from a real kernel, plus proptest properties (set
//! algebra, text and byte round trips, parsers never panic). Everything the kernel does is
//! tested against the kernel as root in `tests/`: destructive changes (dropping from the
//! bounding set, changing uid, `no_new_privs`) happen only in forked single-threaded
//! children, which report what they observed over a pipe as plain integers. Plans are
//! applied in children that then `execve` `/bin/cat /proc/self/status`, and the exact
//! `CapBnd/CapEff/CapPrm/CapInh/CapAmb/NoNewPrivs` masks are compared. File capabilities
//! are compared both ways with `getcap`/`setcap` (Debian package `libcap2-bin`, which CI
//! must install) on files in a scratch directory under `/tmp`, including random sets, and a
//! revision-3 capability written inside a user namespace (by this crate and by `setcap`
//! under `unshare --user --map-root-user`) is read back from the host with its root uid. A
//! counting global allocator checks that `PreparedCaps::apply` allocates nothing
//! (`tests/no_alloc.rs`). The tests compute what to expect from the test process's own
//! bounding set rather than assuming root has every capability. They need root and remove
//! the files and children they make.
//!
//! # Dependencies
//!
//! `libc` for the system calls (`capget`/`capset`, `prctl`, the xattr calls and the raw
//! credential calls; `nix` is not used because the child-side code wants exact control
//! over every call), `thiserror` for the error types, `bitflags` for [`SecureBits`], and
//! `caps` (0.5) for interoperability only: [`Capability`] converts to and from
//! `caps::Capability`, and a unit test checks our numbers and names against its table.
//! Its enum is not re-exported as our capability type because it carries a hidden
//! placeholder variant and its `FromStr`/`Display` know only the `CAP_X` spelling, while
//! we need `cap_x` and `X` too and inherent methods of our own; its sets (`HashSet`s), its
//! bounding/ambient helpers (which allocate) and everything else are not used, and it has
//! no file capabilities.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod capability;
mod file;
mod plan;
mod set;
mod status;
mod sys;
pub mod thread;

pub use capability::{Capability, ParseCapabilityError, UnknownCapsCapability};
pub use file::{
    FileCaps, FileCapsError, FileTarget, ParseFileCapsError, XATTR_NAME, XattrFormatError,
};
pub use plan::{CapsFailure, CapsPlan, CapsStep, PlanError, PreparedCaps};
pub use set::{CapSet, Iter, Numbers, ParseCapSetError};
pub use status::{ParseStatusError, ProcessCaps, SeccompMode, StatusError};
pub use thread::{CapState, CapsError, SecureBits, kernel_last_cap, read_last_cap};
