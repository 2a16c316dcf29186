//! # hutch — Linux containers from the kernel's own parts
//!
//! `hutch` runs a program in fresh namespaces, under cgroup v2 limits, with an API shaped like
//! [`std::process::Command`]:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let status = hutch::Container::new()
//!     .hostname("tupperware")
//!     .limit_cpu(0.5)
//!     .limit_memory(64 << 20)
//!     .command("/bin/sh").arg("-c").arg("echo hi from $(hostname)")
//!     .status()?;
//! assert!(status.success());
//! # Ok(()) }
//! ```
//!
//! A [`Container`] holds the isolation and limits and can spawn any number of [`Command`]s;
//! each spawn gives a [`Child`] (pidfd-backed `wait`, `kill`, `signal`, piped streams, and
//! [`Child::exec`] to run more programs inside the running container).
//!
//! # Quickstart
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use hutch::{Container, Namespaces, Stdio};
//! let mut c = Container::new();   // namespaces, Docker's capabilities, read-only host tree
//! c.hostname("tupperware")
//!  .tmpfs("/tmp")
//!  .bind_ro("/etc/resolv.conf", "/etc/resolv.conf");
//! let out = c.command("/bin/sh").arg("-c").arg("hostname").stdout(Stdio::piped()).output()?;
//! assert_eq!(out.stdout, b"tupperware\n");
//!
//! let mut child = c.command("sleep").arg("10").spawn()?;
//! let ps = child.exec("ps").arg("-e").output()?;   // sees only the container's processes
//! child.kill()?;
//! let status = child.wait()?;                      // a std::process::ExitStatus
//! # Ok(()) }
//! ```
//!
//! # Defaults
//!
//! [`Container::new()`] is at least as strict as `docker run`'s defaults. Every default is a
//! setter away from being changed, and [`Container::privileged`] turns the confinement off
//! as `docker run --privileged` does; the README lists what a default container does *not*
//! isolate.
//!
//! | | `Container::new()` | `docker run` | change with |
//! |---|---|---|---|
//! | namespaces | pid, mount, uts, ipc, net (only `lo`, up), cgroup; user when the caller is not root | same, no user namespace | `unshare`, `share`, `namespaces`, `user_namespace` |
//! | user namespace as root | on request; root inside is an unprivileged host range (`/etc/subuid` of root, else 2000000000+65536) | `--userns-remap` | `user_namespace(true)`, `user_namespace_mode(UserNamespace::MapCaller)` |
//! | capabilities | Docker's 14 (`CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE`) in bounding, permitted, effective; none inheritable or ambient. `MKNOD` only where a device allow-list guards it (root without a cgroup loses it unless `cap_add`ed) | the same 14 | `cap_add`, `cap_drop`, `cap_drop_all`, `capabilities` |
//! | `no_new_privs` | on | off | `no_new_privs(false)` |
//! | file tree | the host's, read-only recursively, with a private `/tmp` and a private `/run` (no host sockets or FIFOs there: a read-only mount does not stop `connect` or a FIFO write) | the image, writable | `read_only`, `private_tmp`, `private_run`, `rootfs`, `minimal_tree`, `bind`, `tmpfs` |
//! | `/proc` | fresh, Docker's masked paths (`/proc/kcore`, `/proc/keys`, `/proc/timer_list`, ...) hidden, `/proc/sys`, `/proc/sysrq-trigger`, `/proc/irq`, `/proc/bus`, `/proc/fs` read-only | same | `proc`, `masked_paths` |
//! | `/sys` | fresh sysfs, read-only (a read-only bind of the host's where the kernel refuses a fresh one) | same | `sysfs` |
//! | `/sys/fs/cgroup` | a read-only cgroup2 mount of the container's own cgroup namespace | same | `sysfs(true, true)` makes it writable |
//! | `/dev` | minimal: `null zero full random urandom tty`, private `pts`, `shm`, `mqueue`; `nodev` (a node made there does not open) | same | `dev(false)` |
//! | devices | Docker's allow-list (eBPF device program) whenever the container has a cgroup and the caller is root | same | `devices(policy)` |
//! | seccomp | Docker's default profile, compiled for the container's capabilities | same | `seccomp_profile`, `seccomp_filter`, `seccomp_unconfined` |
//! | LSM, Landlock | none unless asked (a missing LSM is an error, never ignored) | AppArmor `docker-default` where available | `apparmor_profile`, `selinux_label`, `landlock` |
//! | network | a namespace of its own with only `lo` | a bridge | `network(NetworkMode::Bridge(..))`, `publish` |
//! | descriptors | none but 0, 1, 2 and those passed with `Command::pass_fd` | same | `pass_fd` |
//! | environment | the caller's, like `std::process::Command` (the `run` example gives Docker's small clean one) | a clean one | `Container::env_clear`, `env` |
//!
//! # Cgroups
//!
//! Each container gets a cgroup of its own, made before the clone and entered atomically with
//! `CLONE_INTO_CGROUP`, so the program never runs outside its limits. By default it is made in
//! a `hutch` cgroup beside the caller's own ([`Container::cgroup_parent`] changes that) and
//! removed when the [`Child`] is dropped ([`Container::keep_cgroup`] keeps it). Limits:
//! [`limit_cpu`](Container::limit_cpu), [`limit_memory`](Container::limit_memory),
//! [`memory_swap`](Container::memory_swap), [`oom_kill_group`](Container::oom_kill_group),
//! [`limit_pids`](Container::limit_pids), [`cpuset`](Container::cpuset),
//! [`limit_io`](Container::limit_io), [`devices`](Container::devices) (an eBPF device filter),
//! and any typed knob through [`cgroup_setting`](Container::cgroup_setting). A running
//! container can be watched and controlled: [`Child::stats`], [`Child::freeze`],
//! [`Child::thaw`], [`Child::kill_all`], [`Child::events`] (OOM kills, becoming empty).
//!
//! A limit the host cannot apply fails `spawn()` with an error naming the controller and why
//! (e.g. on a v1/v2 hybrid host, "controller `memory` is not available ... bound to the v1
//! hierarchy mounted at /sys/fs/cgroup/memory"); it is never silently dropped. Without any
//! cgroup setting, a host where cgroups cannot be made (no cgroup2, not delegated) still runs
//! containers, without a cgroup ([`Child::cgroup`] is then `None`).
//!
//! # Requirements
//!
//! * Linux 5.12 or later (`clone3` with `CLONE_PIDFD` and `CLONE_INTO_CGROUP`, `close_range`
//!   with `CLOSE_RANGE_CLOEXEC`, pidfd `setns`, `open_tree`, `mount_setattr`); time namespaces
//!   need 5.6, Landlock 5.13. [`preflight()`] reports what a host lacks and how to fix it.
//! * Root, or unprivileged user namespaces: when the caller is not root, a user namespace
//!   mapping the caller to root inside is added automatically.
//! * cgroup v2 for limits (see `hutch-cgroup`); on a v1/v2 hybrid host, limits whose
//!   controller is bound to v1 fail with an error that says so.
//!
//! # Threads
//!
//! Spawning is safe from any number of threads at once. The parent builds every string, array
//! and mount plan before `clone3`; the child only makes raw system calls until `execve` (no
//! allocation, no locks, no formatting), reporting a failure as `(step, errno)` over a
//! close-on-exec pipe. Signals are blocked around the clone and the child resets every
//! handler before unblocking them. Nothing here changes the namespaces of the calling process
//! or thread.
//!
//! Like `posix_spawn`, the child normally shares the caller's memory (`CLONE_VM`), runs on a
//! stack of its own, and the calling thread waits until it has exec'd (`CLONE_VFORK`), so
//! spawning costs the same from a process with a huge heap as from a small one. An
//! unprivileged caller's automatic user namespace keeps this: the child writes its own
//! single-id maps. A fork-like copy, which costs page-table copies proportional to the
//! caller's memory, is used where sharing is impossible or unsafe: the parent must write id
//! maps or time offsets for the child (custom maps, root with a user namespace, a time
//! namespace, a bridge network), [`Container::init`] and a joined pid namespace (the child
//! forks the program), [`Child::exec`] (it forks again inside the container), [`Command::uid`]/[`Command::gid`] (changing credentials would make
//! the shared memory, and so the caller, non-dumpable), and kernels before 5.16 (where a child
//! sharing memory that dumps core took the caller down with it).
//!
//! # Errors
//!
//! A failed spawn returns a [`SpawnError`] naming the step (in the parent or the child), the
//! path or value involved, and the errno as its source; nothing is left behind (the child is
//! killed and reaped, its cgroup removed, descriptors closed). [`error_chain`] formats the
//! whole chain on one line.
//!
//! # Test strategy
//!
//! Integration tests in `tests/` run against the real kernel as root: namespace isolation,
//! mounts, id maps, time offsets, exec into a running container, 32 concurrent spawning
//! threads with descriptor and zombie accounting, every error path with a leak check; the
//! sealed spawn path (`tests/seal.rs`: inherited descriptors, the init's memory, an exec
//! scanner, children killed mid-setup, an ignored `SIGCHLD`); the hardened defaults and
//! confinement (`tests/confine.rs`, `tests/landlock.rs`); 79 escape attempts as root, with a
//! user namespace and unprivileged (`tests/escape.rs`); networks in namespaces the tests make
//! (`tests/network.rs`); isolated tests and the preflight report; the `run` example as a user
//! runs it (`tests/cli.rs`). Tests that need cgroup v2 controllers or AppArmor run in a
//! throw-away VM (`scripts/vm-tests.sh`), because CI hosts are v1/v2 hybrids without AppArmor.
//!
//! # Dependencies
//!
//! `libc` for the raw system calls (the child side needs exact control over each one) and
//! `thiserror` for the error types; `nix` for [`Signal`] (a well-known typed signal) and the
//! example's signal forwarding; `landlock` builds Landlock rulesets in the parent (the child
//! only calls `landlock_restrict_self`); `tracing` (optional feature) for spawn timelines. The
//! examples use `clap` for Docker-style flags; the benchmarks (package `hutch-benches`) use
//! `criterion`; tests use `proptest`.
//!
//! # Crates
//!
//! | crate | what |
//! |---|---|
//! | `hutch-ns` | namespace types and handles, id maps, time offsets, mount plans |
//! | `hutch-cgroup` | the cgroup v2 interface, typed |
//! | `hutch-caps` | capability sets, the five thread sets, file capabilities, an allocation-free plan |
//! | `hutch-seccomp` | a pure-Rust seccomp compiler, Docker/OCI profiles, user notification |
//! | `hutch-netns` | rtnetlink, nf_tables, IPAM, bridge networks with NAT and published ports, pasta |

#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

mod cgroup;
mod child;
mod command;
mod confine;
mod container;
mod error;
pub mod harness;
mod net;
pub mod preflight;
mod spawn;
mod stdio;
mod sys;
mod trace;

pub use child::{Child, ControlError, Signal, TimedOutput};
pub use command::Command;
pub use confine::landlock::{
    Enforcement, LANDLOCK_ABI_KNOWN, Landlock, LandlockError, LandlockStatus, LandlockUnavailable,
};
pub use confine::lsm::{Lsm, LsmError};
pub use container::{Container, REMAP_DEFAULT_START, UserNamespace};
pub use error::{ExecProblem, ExitStatusLost, Pid, SpawnError, Step, Subject, error_chain};
pub use hutch_ns::mount::TmpfsOptions;
pub use hutch_ns::{Namespace, Namespaces};
pub use net::{ContainerNetwork, NetworkMode};
pub use preflight::preflight;
pub use stdio::Stdio;

/// The namespace crate, re-exported for its types (id maps, time offsets, mount options,
/// namespace handles).
pub use hutch_ns as ns;

/// The cgroup crate, re-exported for its types (limits, stats, events).
pub use hutch_cgroup as cgroup_v2;

/// The capabilities crate, re-exported for its types (capability sets, file capabilities).
pub use hutch_caps as caps;
pub use hutch_caps::{CapSet, Capability};

/// The seccomp crate, re-exported for its types (profiles, filters, user notification).
pub use hutch_seccomp as seccomp;

/// The networking crate, re-exported for its types (network configuration, port mappings,
/// addresses) and its lower layers (rtnetlink, nf_tables, leases).
pub use hutch_netns as netns;
