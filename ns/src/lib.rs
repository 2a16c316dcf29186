//! Linux namespaces for hutch.
//!
//! - [`Namespace`] / [`Namespaces`]: the namespace kinds, whose bits are the kernel's
//!   `CLONE_NEW*` flags.
//! - [`NsHandle`]: an open namespace (from `/proc/PID/ns/*`, a pidfd, or a persisted file)
//!   that can be identified ([`NsId`]), entered (`setns`) and persisted by bind mount;
//!   [`NetNs`] does the latter the `ip netns` way.
//! - [`idmap`]: user-namespace uid/gid maps: building, validating, parsing, writing them
//!   for a child (directly or through `newuidmap`/`newgidmap`), and `/etc/subuid` files.
//! - [`time`]: time-namespace clock offsets.
//! - [`mount`]: a mount-namespace plan prepared in the parent and applied in the child
//!   between `clone` and `exec` with raw system calls only.
//!
//! # Quickstart
//!
//! ```no_run
//! use hutch_ns::idmap::{write_id_maps, IdMap, SetGroups};
//! use hutch_ns::mount::{MountPlan, TmpfsOptions};
//! use hutch_ns::{Namespace, Namespaces, NetNs, NsHandle};
//!
//! // In the parent, before clone3:
//! let flags = (Namespaces::USER | Namespaces::MOUNT | Namespaces::NET | Namespaces::PID).bits();
//! let mut plan = MountPlan::new();
//! plan.rootfs("/srv/rootfs").proc(true).dev(true).docker_defaults()
//!     .tmpfs("/tmp", TmpfsOptions::scratch(Some(64 << 20), None));
//! let mounts = plan.prepare()?;
//! # let _ = flags;
//! // clone3(flags) ... the child waits until the parent has written its id maps, then runs
//! // `unsafe { mounts.apply() }` and execs; a MountFailure travels back over a pipe as
//! // `failure.encode()` and becomes an error with `mounts.describe(failure)`.
//! # let child_pid: u32 = 1;
//! write_id_maps(child_pid, &IdMap::new().map(0, 100_000, 65_536),
//!               &IdMap::new().map(0, 100_000, 65_536), SetGroups::Deny)?;
//! // Keep the child's network namespace under a name `ip netns` understands:
//! let net = NsHandle::open(child_pid, Namespace::Net)?;
//! NetNs::persist_named(&net, "box1")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Requirements
//!
//! - Linux 5.12 or later (`mount_setattr` for read-only mounts; `open_tree`/`move_mount`,
//!   used for every bind, need 5.2; time namespaces need 5.6, `NS_GET_NSTYPE` 4.11). `PIDFD_GET_*_NAMESPACE` is used on 6.11+, with a `/proc`
//!   fallback before.
//! - Privileges: `CAP_SYS_ADMIN` (in the relevant user namespace) to mount, `setns` and
//!   persist; writing id maps needs `CAP_SETUID`/`CAP_SETGID` in the parent user namespace,
//!   or is limited to the caller's own id, or goes through `newuidmap`/`newgidmap` (Debian
//!   package `uidmap`) and `/etc/subuid`/`/etc/subgid` entries.
//! - A fresh `proc` mount inside a user namespace is refused (`EPERM`) when the host's
//!   `/proc` has parts covered by other mounts (the kernel's "mount too revealing" check).
//! - [`mount::MountPlan::cgroup2`] needs the child in a cgroup namespace of its own
//!   (`CLONE_NEWCGROUP`, Linux 4.6); a fresh sysfs needs a network namespace the child is
//!   privileged over (otherwise the host's `/sys` is bound instead, see
//!   [`mount::MountPlan::sysfs`]).
//! - Dependencies: only `libc`, `thiserror` and `bitflags` from the workspace table; `nix`
//!   is not used because the child-side code wants exact control over every call.
//!
//! # Threads
//!
//! Everything except [`NsHandle::enter`] and [`mount::PreparedMounts::apply`] is ordinary,
//! thread-safe code. `enter` is `unsafe` because `setns` moves only the calling thread for
//! most kinds and is refused in multithreaded processes for user and mount namespaces; see
//! its `# Safety` section. `apply` must run in a single-threaded child in its own mount
//! namespace; it allocates nothing and takes no locks, which is what makes it safe to run
//! after `clone` in a child of a multithreaded parent (such as `cargo test`).
//!
//! # Test strategy
//!
//! Parsers and formatters (id maps, `/etc/subuid`, `timens_offsets`, namespace names) have
//! unit tests on text captured from a real kernel plus proptest round trips. Everything the
//! kernel does is tested against the kernel, as root, in `tests/`: children are forked
//! inside the tests, enter new namespaces with `unshare`, and report what they observed
//! over a pipe as plain integers; parents write id maps and time offsets to those children
//! and check the result from both sides. A counting global allocator checks that
//! `PreparedMounts::apply` allocates nothing, for every kind of step (`tests/no_alloc.rs`).
//! Mount plans are applied in forked children that first unshare a mount namespace (and a
//! cgroup, network or IPC namespace where the step needs one), and the tests check both
//! `statfs`/`statvfs` and behaviour inside (writes refused, paths hidden, a program run in
//! the minimal root) and that the host's mount table is unchanged while and after the
//! child runs (`tests/mount.rs`, `tests/mount_hardened.rs`). The sysfs test expects the
//! host to have a network interface besides `lo`. Tests check that they leave no mounts
//! (`/proc/self/mountinfo`), files or processes behind, and they only touch network
//! namespaces they create. Nothing is skipped: the tests need root, Linux 6.11+ (for the
//! pidfd namespace ioctls they compare against the `/proc` fallback), and the Debian
//! packages `uidmap` (`newuidmap`/`newgidmap`, run for real mapping the caller's own id;
//! `/etc/subuid` is never modified) and `iproute2` (`ip netns`), which CI must install.
//! Persisting a namespace the `ip netns` way leaves `/run/netns` as a shared bind mount of
//! itself, exactly as `ip netns add` does.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

mod handle;
pub mod idmap;
pub mod mount;
mod namespace;
mod sys;
pub mod time;

pub use handle::{DEFAULT_PROC_ROOT, NetNs, NsError, NsHandle, NsId, PersistStep};
pub use namespace::{Namespace, Namespaces, ParseNamespaceError};
