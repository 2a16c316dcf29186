//! cgroup v2 from Rust, the kernel's way: a cgroup is an open directory, every limit is a
//! typed value whose `Display` is exactly what its interface file wants, and every error
//! keeps the errno and names the cgroup, file and value.
//!
//! # Quickstart
//!
//! ```no_run
//! use hutch_cgroup::{Bytes, Controller, Hierarchy, Max, Pid, Resources, cpu::CpuMax};
//! use std::time::Duration;
//!
//! let h = Hierarchy::discover()?;                 // finds the cgroup2 mount
//! let parent = h.create("my-service")?;           // mkdir -p, relative to the root
//! let mut limits = Resources::default();
//! limits.memory_max = Some(Max::Value(Bytes::mib(256)));
//! limits.cpu_max = Some(CpuMax::cores(0.5));
//! // Explains missing controllers (e.g. bound to cgroup v1 on a hybrid host) and enables
//! // the rest in the parent's cgroup.subtree_control.
//! parent.ensure_controllers(&limits.required_controllers())?;
//! let job = parent.create_child("job-1")?;
//! limits.apply(&job)?;
//! job.add_process(Pid::this())?;                  // or clone3(CLONE_INTO_CGROUP, job.as_fd())
//! let stats = job.stats()?;
//! println!("cpu used: {:?}", stats.cpu.usage);
//! # Ok::<(), hutch_cgroup::CgroupError>(())
//! ```
//!
//! Removing: [`Cgroup::remove`] kills what is left (`cgroup.kill`), waits for
//! `populated 0` by `poll(POLLPRI)` on `cgroup.events` (no busy polling), removes the
//! descendants and retries `EBUSY` for a bounded time. [`Cgroup::freeze`] and
//! [`Cgroup::thaw`] wait the same way for `frozen 1`/`frozen 0`.
//!
//! # Requirements
//!
//! - Linux with cgroup v2 mounted (unified, or the `unified` part of a hybrid setup).
//!   `cgroup.kill` needs 5.14, `cgroup.freeze` 5.2, `memory.peak` 5.19 (resettable 6.12),
//!   `pids.peak` 6.13, `dmem` 6.14; older kernels give `ENOENT`-carrying errors, not
//!   wrong answers.
//! - Writing limits needs write access to the files: root, or a cgroup delegated to the
//!   caller ([`Cgroup::delegate`], what systemd's `Delegate=yes` does). Nothing here needs
//!   capabilities beyond file access; moving processes between cgroups needs write access
//!   to `cgroup.procs` of their common ancestor.
//! - On a v1/v2 hybrid host most controllers are bound to v1 hierarchies and so cannot be
//!   used in cgroup2; [`Cgroup::ensure_controllers`] says so instead of failing with a bare
//!   `ENOENT`.
//!
//! # Threads
//!
//! [`Cgroup`] is `Send + Sync`: it holds only a directory descriptor and its path, and
//! each call opens, reads or writes and closes its own file descriptor. Nothing here
//! changes per-process state except [`Cgroup::move_self_into_leaf`] (and `add_process`
//! with the caller's own pid), which moves the whole calling process, all threads.
//! Nothing here is meant to run in a child between `clone` and `exec`: prepare there
//! with `clone3(CLONE_INTO_CGROUP)` and the fd from [`AsFd`](std::os::fd::AsFd) instead.
//!
//! # Test strategy
//!
//! - Parsers and formatters (`*.stat`, `*.events`, `*.pressure`, cpuset lists, `io.max`
//!   lines, `cpu.max`, …) are pure and unit-tested on text captured from real kernels,
//!   plus proptest round-trip properties (`parse(display(v)) == v`) and rejection of bad
//!   values (negative, out of range, malformed device numbers, unknown controllers).
//! - `tests/host.rs` runs as root against the host's real cgroup2 under unique names
//!   (`hutch-test-<pid>-<n>`) and checks that nothing is left behind: core files
//!   (procs, threads, kill, freeze, events, cpu.stat, PSI, max.depth/descendants), and —
//!   because CI hosts are v1/v2 hybrids — that asking for a v1-bound controller gives the
//!   explanatory error.
//! - `tests/vm.rs` (feature `vm-tests`) needs every controller and runs inside a throw-away
//!   QEMU VM (`scripts/vm-tests.sh`): OOM kill and `memory.events`, `oom.group`, `pids.max`
//!   making `fork` fail with `EAGAIN`, a 0.2-core `cpu.max`, cpuset pinning, `io.max` on a
//!   loop device, freeze/thaw of a counting process, `memory.peak`, delegation to an
//!   unprivileged user.
//! - `benches/cgroup.rs` (criterion): create/place/remove and a full stats snapshot.
//!
//! # Dependencies
//!
//! `libc` for the system calls (in the `sys` module only) and `thiserror` for the error
//! enums; no third-party type appears in the public API.
//!
//! # References
//!
//! - <https://docs.kernel.org/admin-guide/cgroup-v2.html>
//! - [cgroups(7)](https://man7.org/linux/man-pages/man7/cgroups.7.html)

#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

#[macro_use]
mod macros;

mod cgroup;
mod controller;
mod error;
mod resources;
mod stats;
mod value;

#[allow(unsafe_code)]
mod sys;

pub mod cpu;
pub mod cpuset;
pub mod device;
pub mod dmem;
pub mod events;
pub mod hierarchy;
pub mod hugetlb;
pub mod io;
pub mod memory;
pub mod misc;
pub mod pids;
pub mod psi;
pub mod rdma;
pub mod watch;

pub use crate::cgroup::{Cgroup, DEFAULT_REMOVE_TIMEOUT, PressureResource};
pub use crate::controller::Controller;
pub use crate::error::{CgroupError, ControllerList, ParseError, Unavailable};
pub use crate::hierarchy::Hierarchy;
pub use crate::resources::{Resources, Setting};
pub use crate::stats::{MemoryStats, PidsStats, PressureStats, Stats};
pub use crate::value::{Bytes, DevNum, Max, Pid};
