//! Watching a cgroup: typed events from `cgroup.events` / `memory.events`, and PSI triggers.
//!
//! # Events
//!
//! The kernel keeps the *current state* of a cgroup in `cgroup.events` (`populated`,
//! `frozen`) and *counters* of memory events in `memory.events` (`low`, `high`, `max`,
//! `oom`, `oom_kill`, `oom_group_kill`). Whenever a value changes it raises a file
//! modification event on the file, which `inotify(7)` reports as `IN_MODIFY` (and which
//! also wakes `poll(2)` with `POLLPRI` on an open fd of the file).
//!
//! An [`EventWatcher`] puts inotify watches on both files (on `memory.events` only if the
//! memory controller is enabled for the cgroup) and on the parent directory (`IN_DELETE`,
//! to notice `rmdir`: the files of a removed cgroup vanish silently), sleeps in `poll(2)` on the inotify fd —
//! no busy polling — and after each notification re-reads the files and reports what
//! changed as [`CgroupEvent`]s: `populated` 0→1 is [`Populated`](CgroupEvent::Populated),
//! 1→0 is [`Empty`](CgroupEvent::Empty), a counter that went up by *n* is, e.g.,
//! [`OomKill { count: n }`](CgroupEvent::OomKill). The inotify fd is exposed with
//! [`AsFd`] so the watcher can sit in a caller's own `poll`/`epoll` loop.
//!
//! # Caveats
//!
//! Events are differences between two reads of the files. A state that flips and flips
//! back between two reads (populated 0→1→0 while the caller was not waiting) shows no
//! difference and is not reported; counters never lose counts, they are summed.
//!
//! # Pressure stall information triggers
//!
//! Writing `"<some|full> <stall µs> <window µs>"` to an open `cpu.pressure`,
//! `memory.pressure` or `io.pressure` file registers a trigger on that file descriptor:
//! the kernel raises `POLLPRI` on it when the tasks of the cgroup were stalled on that
//! resource for more than *stall* within any *window*. [`PressureTrigger`] does that,
//! validating the values first (the kernel accepts windows of 500 ms to 10 s and a stall of
//! at most the window), and keeps the fd open for as long as it lives; dropping it removes
//! the trigger.
//!
//! A process without `CAP_SYS_RESOURCE` (including root in a container or on a host whose
//! bounding set lacks it) may only use windows that are a multiple of 2 s (Linux ≥ 6.5;
//! older kernels refuse unprivileged triggers altogether); such triggers are checked at the
//! 2 s averaging period rather than by the real-time poller.
//!
//! # References
//!
//! - [Control Group v2, "Core Interface Files" and "Memory"](https://docs.kernel.org/admin-guide/cgroup-v2.html)
//! - [PSI — Pressure Stall Information, "Monitoring for pressure thresholds"](https://docs.kernel.org/accounting/psi.html#monitoring-for-pressure-thresholds)
//! - [`inotify(7)`](https://man7.org/linux/man-pages/man7/inotify.7.html),
//!   [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html)

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use crate::events::CgroupEvents;
use crate::memory::MemoryEvents;
use crate::sys;
use crate::{Cgroup, ParseError, PressureResource};

/// A change seen in `cgroup.events` or `memory.events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CgroupEvent {
    /// `populated` went 0 → 1: the cgroup or a descendant has processes again.
    Populated,
    /// `populated` went 1 → 0: no process left in the cgroup or its descendants.
    Empty,
    /// `frozen` went 0 → 1: the freeze requested with `cgroup.freeze` completed.
    Frozen,
    /// `frozen` went 1 → 0.
    Thawed,
    /// `memory.events` `low`: reclaimed despite usage below `memory.low`, `count` times.
    LowHit {
        /// How many times since the previous report.
        count: u64,
    },
    /// `memory.events` `high`: throttled above `memory.high`, `count` times.
    HighHit {
        /// How many times since the previous report.
        count: u64,
    },
    /// `memory.events` `max`: usage was about to exceed `memory.max`, `count` times.
    MaxHit {
        /// How many times since the previous report.
        count: u64,
    },
    /// `memory.events` `oom`: usage hit the limit and reclaim failed, `count` times.
    Oom {
        /// How many times since the previous report.
        count: u64,
    },
    /// `memory.events` `oom_kill`: `count` processes were killed by the OOM killer.
    OomKill {
        /// How many processes since the previous report.
        count: u64,
    },
    /// `memory.events` `oom_group_kill`: the whole cgroup was OOM-killed
    /// (`memory.oom.group`), `count` times.
    OomGroupKill {
        /// How many times since the previous report.
        count: u64,
    },
}

/// Watching a cgroup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// `inotify_init1(2)` failed (`EMFILE`: too many inotify instances).
    #[error("cannot create an inotify instance")]
    Inotify {
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
    /// `inotify_add_watch(2)` failed.
    #[error("cannot watch {path} with inotify")]
    AddWatch {
        /// The watched file.
        path: PathBuf,
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
    /// Opening or reading an interface file failed.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
    /// An interface file has unexpected contents.
    #[error("cannot parse {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: ParseError,
    },
    /// `poll(2)` or reading the inotify fd failed.
    #[error("waiting for changes in cgroup {path} failed")]
    Wait {
        /// The cgroup directory.
        path: PathBuf,
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
    /// The cgroup was removed while being watched.
    #[error("cgroup {path} was removed")]
    Removed {
        /// The cgroup directory.
        path: PathBuf,
    },
}

/// Watches `cgroup.events` and `memory.events` of one cgroup with inotify.
///
/// # Examples
///
/// ```no_run
/// use hutch_cgroup::Cgroup;
/// use hutch_cgroup::watch::{CgroupEvent, EventWatcher};
/// use std::time::Duration;
///
/// let cgroup = Cgroup::open("/sys/fs/cgroup/box")?;
/// let mut watcher = EventWatcher::new(&cgroup)?;
/// for event in watcher.wait(Some(Duration::from_secs(5)))? {
///     match event {
///         CgroupEvent::OomKill { count } => eprintln!("{count} processes OOM-killed"),
///         CgroupEvent::Empty => println!("all processes exited"),
///         other => println!("{other:?}"),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct EventWatcher {
    inotify: Inotify,
    path: PathBuf,
    events_file: OwnedFd,
    memory_file: Option<OwnedFd>,
    watches: Vec<WatchDescriptor>,
    parent_watch: Option<(WatchDescriptor, OsString)>,
    events: CgroupEvents,
    memory: Option<MemoryEvents>,
}

const EVENTS: &str = "cgroup.events";
const MEMORY_EVENTS: &str = "memory.events";

impl EventWatcher {
    /// Starts watching `cgroup` and reads its current state.
    ///
    /// `memory.events` is watched too when it exists (the memory controller is enabled
    /// in the parent's `cgroup.subtree_control`); whether it is can be seen with
    /// [`memory_events`](Self::memory_events).
    ///
    /// # Errors
    ///
    /// [`WatchError::Inotify`], [`WatchError::AddWatch`] (`ENOENT` for the root cgroup,
    /// which has no `cgroup.events`), [`WatchError::Read`] or [`WatchError::Parse`].
    ///
    /// # References
    ///
    /// - [`inotify_add_watch(2)`](https://man7.org/linux/man-pages/man2/inotify_add_watch.2.html)
    #[doc(alias = "inotify_add_watch")]
    pub fn new(cgroup: &Cgroup) -> Result<Self, WatchError> {
        let path = cgroup.path().to_path_buf();
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| WatchError::Inotify { source: e.into() })?;
        let open = |name: &str, flags: libc::c_int| {
            sys::open_at(cgroup.as_fd(), OsStr::new(name), flags).map_err(|source| {
                WatchError::Read {
                    path: path.join(name),
                    source,
                }
            })
        };
        // The watches are placed through /proc/self/fd of descriptors opened relative to the
        // cgroup's own fd, so they are on the very files read below even when `path` is
        // relative or no longer names this cgroup.
        let by_fd = |fd: &OwnedFd| PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        let events_file = open(EVENTS, libc::O_RDONLY)?;
        let memory_file = match open(MEMORY_EVENTS, libc::O_RDONLY) {
            Ok(fd) => Some(fd),
            Err(WatchError::Read { ref source, .. })
                if source.raw_os_error() == Some(libc::ENOENT) =>
            {
                None
            }
            Err(e) => return Err(e),
        };
        // Watch before the first read, so that no change after it goes unnoticed.
        let mut watches = Vec::with_capacity(2);
        // The files of a removed cgroup vanish without inotify events, and the directory
        // reports IN_DELETE_SELF only once nobody holds it open any more; `rmdir(2)`
        // reports IN_DELETE (with the name) on the parent directory at once. (cgroup2 refuses
        // rename(2) with EPERM, so a cgroup never moves away under its name.)
        let parent_watch = match path.file_name() {
            Some(name) => {
                let parent = open("..", libc::O_RDONLY | libc::O_DIRECTORY)?;
                let wd = inotify
                    .add_watch(
                        &by_fd(&parent),
                        AddWatchFlags::IN_DELETE | AddWatchFlags::IN_ONLYDIR,
                    )
                    .map_err(|e| WatchError::AddWatch {
                        path: path.join(".."),
                        source: e.into(),
                    })?;
                Some((wd, name.to_os_string()))
            }
            None => None,
        };
        watches.push(
            inotify
                .add_watch(&by_fd(&events_file), AddWatchFlags::IN_MODIFY)
                .map_err(|e| WatchError::AddWatch {
                    path: path.join(EVENTS),
                    source: e.into(),
                })?,
        );
        if let Some(fd) = &memory_file {
            watches.push(
                inotify
                    .add_watch(&by_fd(fd), AddWatchFlags::IN_MODIFY)
                    .map_err(|e| WatchError::AddWatch {
                        path: path.join(MEMORY_EVENTS),
                        source: e.into(),
                    })?,
            );
        }
        let events = read_parsed(&path, EVENTS, events_file.as_fd())?;
        let memory = match &memory_file {
            Some(fd) => Some(read_parsed(&path, MEMORY_EVENTS, fd.as_fd())?),
            None => None,
        };
        Ok(EventWatcher {
            inotify,
            path,
            events_file,
            memory_file,
            watches,
            parent_watch,
            events,
            memory,
        })
    }

    /// The cgroup directory being watched.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `cgroup.events` as of the last read.
    pub fn state(&self) -> CgroupEvents {
        self.events
    }

    /// `memory.events` as of the last read; `None` if the cgroup has no memory controller.
    pub fn memory_events(&self) -> Option<&MemoryEvents> {
        self.memory.as_ref()
    }

    /// Waits until something changes, then returns what did.
    ///
    /// Sleeps in `poll(2)` on the inotify fd until a watched file is modified, re-reads
    /// the files and returns the differences to the previous read, in the order
    /// `Populated`/`Empty`, `Frozen`/`Thawed`, then memory events. Notifications that
    /// change nothing visible are absorbed and the wait goes on. Returns an empty `Vec`
    /// when `timeout` passes first; `None` waits forever, `Some(Duration::ZERO)` only
    /// collects what is pending (use it after the fd polled readable in a caller's loop).
    ///
    /// # Errors
    ///
    /// [`WatchError::Removed`] if the cgroup was removed, [`WatchError::Wait`],
    /// [`WatchError::Read`] or [`WatchError::Parse`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hutch_cgroup::Cgroup;
    /// use hutch_cgroup::watch::{CgroupEvent, EventWatcher};
    ///
    /// let cgroup = Cgroup::open("/sys/fs/cgroup/box")?;
    /// let mut watcher = EventWatcher::new(&cgroup)?;
    /// loop {
    ///     let events = watcher.wait(None)?;
    ///     if events.iter().any(|e| matches!(e, CgroupEvent::OomKill { .. })) {
    ///         eprintln!("OOM kill in {}", watcher.path().display());
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # References
    ///
    /// - [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html),
    ///   [`inotify(7)`](https://man7.org/linux/man-pages/man7/inotify.7.html)
    #[doc(alias = "poll")]
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<CgroupEvent>, WatchError> {
        // A timeout too large to represent (`Duration::MAX`) waits without bound.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if !self.poll_inotify(left)? {
                return Ok(Vec::new());
            }
            self.drain_inotify()?;
            let changes = self.refresh()?;
            if !changes.is_empty() {
                return Ok(changes);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Vec::new());
            }
        }
    }

    /// Waits until the cgroup has no processes left (`populated 0`); returns `false` if
    /// `timeout` passed first. Returns at once if it is already empty. Other events seen
    /// meanwhile are dropped.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hutch_cgroup::Cgroup;
    /// use hutch_cgroup::watch::EventWatcher;
    /// use std::time::Duration;
    ///
    /// let cgroup = Cgroup::open("/sys/fs/cgroup/box")?;
    /// let mut watcher = EventWatcher::new(&cgroup)?;
    /// cgroup.kill()?;
    /// assert!(watcher.wait_until_empty(Some(Duration::from_secs(5)))?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_until_empty(&mut self, timeout: Option<Duration>) -> Result<bool, WatchError> {
        // A timeout too large to represent (`Duration::MAX`) waits without bound.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        // Catch up with changes that happened before this call.
        self.drain_inotify()?;
        self.refresh()?;
        while self.events.populated {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Ok(false);
            }
            self.wait(left)?;
        }
        Ok(true)
    }

    /// Re-reads the files and returns the differences to the previous read.
    fn refresh(&mut self) -> Result<Vec<CgroupEvent>, WatchError> {
        let mut changes = Vec::new();
        let events: CgroupEvents = read_parsed(&self.path, EVENTS, self.events_file.as_fd())?;
        if events.populated != self.events.populated {
            changes.push(if events.populated {
                CgroupEvent::Populated
            } else {
                CgroupEvent::Empty
            });
        }
        if events.frozen != self.events.frozen {
            changes.push(if events.frozen {
                CgroupEvent::Frozen
            } else {
                CgroupEvent::Thawed
            });
        }
        self.events = events;
        if let (Some(fd), Some(old)) = (&self.memory_file, &self.memory) {
            let new: MemoryEvents = read_parsed(&self.path, MEMORY_EVENTS, fd.as_fd())?;
            changes.extend(memory_changes(old, &new));
            self.memory = Some(new);
        }
        Ok(changes)
    }

    /// Polls the inotify fd for `POLLIN`; `false` on timeout.
    fn poll_inotify(&self, timeout: Option<Duration>) -> Result<bool, WatchError> {
        // A timeout too large to represent (`Duration::MAX`) waits without bound.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let mut fds = [PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, poll_timeout(left)) {
                Ok(0) => {
                    // poll(2) has millisecond resolution and long waits are capped.
                    if deadline.is_none_or(|d| Instant::now() < d) {
                        continue;
                    }
                    return Ok(false);
                }
                Ok(_) => return Ok(true),
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    return Err(WatchError::Wait {
                        path: self.path.clone(),
                        source: e.into(),
                    });
                }
            }
        }
    }

    /// Reads and discards every queued inotify event; fails if a watch went away.
    fn drain_inotify(&self) -> Result<(), WatchError> {
        loop {
            match self.inotify.read_events() {
                Ok(events) => {
                    let removed = events.iter().any(|e| match &self.parent_watch {
                        // Our directory was removed from its parent.
                        Some((wd, name)) if e.wd == *wd => {
                            e.mask.contains(AddWatchFlags::IN_DELETE)
                                && e.name.as_deref() == Some(name.as_os_str())
                        }
                        // A watch went away with its file.
                        _ => {
                            e.mask.contains(AddWatchFlags::IN_IGNORED)
                                && self.watches.contains(&e.wd)
                        }
                    });
                    if removed {
                        return Err(WatchError::Removed {
                            path: self.path.clone(),
                        });
                    }
                }
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    return Err(WatchError::Wait {
                        path: self.path.clone(),
                        source: e.into(),
                    });
                }
            }
        }
    }
}

impl AsFd for EventWatcher {
    /// The inotify fd: it polls readable (`POLLIN`) when a watched file changed; then call
    /// [`EventWatcher::wait`] with `Some(Duration::ZERO)`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }
}

/// The memory events implied by two successive reads of `memory.events`.
fn memory_changes(old: &MemoryEvents, new: &MemoryEvents) -> Vec<CgroupEvent> {
    let counters = [
        (
            old.low,
            new.low,
            (|count| CgroupEvent::LowHit { count }) as fn(u64) -> CgroupEvent,
        ),
        (old.high, new.high, |count| CgroupEvent::HighHit { count }),
        (old.max, new.max, |count| CgroupEvent::MaxHit { count }),
        (old.oom, new.oom, |count| CgroupEvent::Oom { count }),
        (old.oom_kill, new.oom_kill, |count| CgroupEvent::OomKill {
            count,
        }),
        (old.oom_group_kill, new.oom_group_kill, |count| {
            CgroupEvent::OomGroupKill { count }
        }),
    ];
    counters
        .into_iter()
        .filter(|(old, new, _)| new > old)
        .map(|(old, new, event)| event(new - old))
        .collect()
}

/// Reads an open interface file from its start and parses it.
fn read_parsed<T: FromStr<Err = ParseError>>(
    dir: &Path,
    name: &str,
    fd: BorrowedFd<'_>,
) -> Result<T, WatchError> {
    let path = || dir.join(name);
    let text = sys::pread_all(fd).map_err(|source| match source.raw_os_error() {
        Some(libc::ENODEV) | Some(libc::ENOENT) => WatchError::Removed {
            path: dir.to_path_buf(),
        },
        _ => WatchError::Read {
            path: path(),
            source,
        },
    })?;
    text.parse().map_err(|source| WatchError::Parse {
        path: path(),
        source,
    })
}

/// `None` → wait forever; otherwise milliseconds rounded up (so a short wait does not
/// turn into a spin), capped at `i32::MAX` ms.
fn poll_timeout(left: Option<Duration>) -> PollTimeout {
    match left {
        None => PollTimeout::NONE,
        Some(left) => {
            let ms = left.as_nanos().div_ceil(1_000_000);
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    }
}

/// Which PSI line a trigger watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PressureKind {
    /// `some`: at least one task of the cgroup was stalled.
    Some,
    /// `full`: all non-idle tasks of the cgroup were stalled at once (for `cpu` in a
    /// cgroup: Linux ≥ 5.13).
    Full,
}

impl fmt::Display for PressureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PressureKind::Some => "some",
            PressureKind::Full => "full",
        })
    }
}

/// The smallest window the kernel accepts for a PSI trigger.
pub const MIN_PRESSURE_WINDOW: Duration = Duration::from_millis(500);
/// The largest window the kernel accepts for a PSI trigger.
pub const MAX_PRESSURE_WINDOW: Duration = Duration::from_secs(10);

/// A PSI trigger specification: "stalled for more than `stall` within `window`".
///
/// `Display` writes what the kernel expects in a `*.pressure` file
/// (`some 150000 1000000`, in microseconds; sub-microsecond parts are dropped), and
/// `FromStr` parses that back.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::watch::{PressureKind, PressureThreshold};
/// use std::time::Duration;
///
/// let t = PressureThreshold::new(PressureKind::Some, Duration::from_millis(150),
///                                Duration::from_secs(1));
/// assert_eq!(t.to_string(), "some 150000 1000000");
/// assert_eq!("some 150000 1000000".parse::<PressureThreshold>().unwrap(), t);
/// assert!(t.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PressureThreshold {
    /// `some` or `full`.
    pub kind: PressureKind,
    /// The stall time that fires the trigger.
    pub stall: Duration,
    /// The window the stall time is measured over.
    pub window: Duration,
}

impl PressureThreshold {
    /// The threshold `kind stall window`; see [`validate`](Self::validate).
    pub fn new(kind: PressureKind, stall: Duration, window: Duration) -> Self {
        PressureThreshold {
            kind,
            stall,
            window,
        }
    }

    /// Checks the values against the kernel's limits: the window must be within
    /// [`MIN_PRESSURE_WINDOW`]`..=`[`MAX_PRESSURE_WINDOW`], the stall at least 1 µs and at
    /// most the window.
    ///
    /// (Without `CAP_SYS_RESOURCE` the kernel also wants the window to be a multiple of
    /// 2 s; that depends on the writer's credentials and is left to the kernel.)
    ///
    /// # Examples
    ///
    /// ```
    /// use hutch_cgroup::watch::{PressureError, PressureKind, PressureThreshold};
    /// use std::time::Duration;
    ///
    /// let t = PressureThreshold::new(PressureKind::Some, Duration::from_millis(100),
    ///                                Duration::from_millis(100));
    /// assert!(t.validate().is_err()); // the window is below 500 ms
    /// ```
    ///
    /// # Errors
    ///
    /// [`PressureError::Window`] or [`PressureError::Stall`].
    pub fn validate(&self) -> Result<(), PressureError> {
        let window = micros(self.window);
        if window < micros(MIN_PRESSURE_WINDOW) || window > micros(MAX_PRESSURE_WINDOW) {
            return Err(PressureError::Window {
                window: self.window,
            });
        }
        let stall = micros(self.stall);
        if stall == 0 || stall > window {
            return Err(PressureError::Stall {
                stall: self.stall,
                window: self.window,
            });
        }
        Ok(())
    }
}

fn micros(d: Duration) -> u128 {
    d.as_micros()
}

impl fmt::Display for PressureThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.kind,
            self.stall.as_micros(),
            self.window.as_micros()
        )
    }
}

impl FromStr for PressureThreshold {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "PSI trigger";
        let fields: Vec<&str> = s.split_whitespace().collect();
        let [kind, stall, window] = fields[..] else {
            return Err(ParseError::new(
                WHAT,
                s,
                "expected `<some|full> <stall µs> <window µs>`",
            ));
        };
        let kind = match kind {
            "some" => PressureKind::Some,
            "full" => PressureKind::Full,
            _ => {
                return Err(ParseError::new(
                    WHAT,
                    s,
                    format!("`{kind}` is not some or full"),
                ));
            }
        };
        let us = |v: &str| -> Result<Duration, ParseError> {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::new(
                    WHAT,
                    s,
                    format!("`{v}` is not a number of microseconds"),
                ));
            }
            v.parse::<u64>().map(Duration::from_micros).map_err(|_| {
                ParseError::new(WHAT, s, format!("`{v}` microseconds is out of range"))
            })
        };
        Ok(PressureThreshold {
            kind,
            stall: us(stall)?,
            window: us(window)?,
        })
    }
}

/// Creating or waiting on a PSI trigger failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PressureError {
    /// The window is outside what the kernel accepts.
    #[error("PSI trigger window {window:?} is outside the range the kernel accepts (500ms to 10s)")]
    Window {
        /// The window asked for.
        window: Duration,
    },
    /// The stall threshold is zero or longer than the window.
    #[error("PSI trigger stall {stall:?} must be at least 1µs and at most the window {window:?}")]
    Stall {
        /// The stall asked for.
        stall: Duration,
        /// The window asked for.
        window: Duration,
    },
    /// Opening the pressure file failed (`ENOENT`: kernel without PSI, or `irq.pressure`
    /// before 6.1; `EOPNOTSUPP`: PSI disabled with `psi=0`).
    #[error("cannot open {path} for a PSI trigger")]
    Open {
        /// The pressure file.
        path: PathBuf,
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
    /// The kernel refused the trigger (`EPERM`: unprivileged triggers need Linux ≥ 6.5;
    /// `EBUSY`: the fd has a trigger already).
    #[error("the kernel refused PSI trigger \"{trigger}\" on {path}")]
    Write {
        /// The pressure file.
        path: PathBuf,
        /// The trigger written.
        trigger: PressureThreshold,
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
    /// The kernel refused (`EINVAL`) a window that is not a multiple of 2 s: the process
    /// lacks `CAP_SYS_RESOURCE`, and unprivileged triggers must use such windows.
    #[error(
        "the kernel refused PSI trigger \"{trigger}\" on {path}: without CAP_SYS_RESOURCE \
         the window must be a multiple of 2s"
    )]
    UnprivilegedWindow {
        /// The pressure file.
        path: PathBuf,
        /// The trigger written.
        trigger: PressureThreshold,
        /// The error from the kernel (`EINVAL`).
        #[source]
        source: io::Error,
    },
    /// `poll(2)` failed.
    #[error("waiting on the PSI trigger on {path} failed")]
    Wait {
        /// The pressure file.
        path: PathBuf,
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
    /// The cgroup was removed (the kernel reports `POLLERR` on the trigger).
    #[error("the cgroup of PSI trigger {path} was removed")]
    Removed {
        /// The pressure file.
        path: PathBuf,
    },
}

/// A PSI trigger registered on a cgroup's `*.pressure` file.
///
/// The trigger lives as long as this value (it owns the file descriptor the kernel ties
/// the trigger to). Wait for it with [`wait`](Self::wait), or put its fd ([`AsFd`]) in
/// a `poll`/`epoll` set for `POLLPRI`. The kernel reports at most one event per window.
///
/// # Examples
///
/// ```no_run
/// use hutch_cgroup::{Cgroup, PressureResource};
/// use hutch_cgroup::watch::{PressureKind, PressureTrigger};
/// use std::time::Duration;
///
/// let cgroup = Cgroup::open("/sys/fs/cgroup/box")?;
/// // Memory stalls of 150 ms within 2 s (a multiple of 2 s works without CAP_SYS_RESOURCE).
/// let trigger = PressureTrigger::new(&cgroup, PressureResource::Memory, PressureKind::Some,
///                                    Duration::from_millis(150), Duration::from_secs(2))?;
/// if trigger.wait(Some(Duration::from_secs(30)))? {
///     eprintln!("memory pressure in {}", cgroup.path().display());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PressureTrigger {
    file: File,
    path: PathBuf,
    threshold: PressureThreshold,
}

impl PressureTrigger {
    /// Registers the trigger "`kind` stall of more than `stall` within `window`" on the
    /// `resource` pressure file of `cgroup`.
    ///
    /// The values are validated ([`PressureThreshold::validate`]) before anything is
    /// opened; then the file is opened `O_RDWR | O_NONBLOCK` and the trigger written with
    /// one `write(2)`.
    ///
    /// # Errors
    ///
    /// [`PressureError::Window`] / [`PressureError::Stall`] for values the kernel would
    /// refuse; [`PressureError::UnprivilegedWindow`] when the window is not a multiple of
    /// 2 s and the process lacks `CAP_SYS_RESOURCE`; [`PressureError::Open`] /
    /// [`PressureError::Write`] with the errno.
    ///
    /// # References
    ///
    /// - [PSI, "Monitoring for pressure thresholds"](https://docs.kernel.org/accounting/psi.html#monitoring-for-pressure-thresholds)
    pub fn new(
        cgroup: &Cgroup,
        resource: PressureResource,
        kind: PressureKind,
        stall: Duration,
        window: Duration,
    ) -> Result<Self, PressureError> {
        Self::with_threshold(
            cgroup,
            resource,
            PressureThreshold::new(kind, stall, window),
        )
    }

    /// [`new`](Self::new) with the threshold as one value.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_threshold(
        cgroup: &Cgroup,
        resource: PressureResource,
        threshold: PressureThreshold,
    ) -> Result<Self, PressureError> {
        threshold.validate()?;
        let name = resource.file();
        let path = cgroup.path().join(name);
        let fd = sys::open_at(
            cgroup.as_fd(),
            OsStr::new(name),
            libc::O_RDWR | libc::O_NONBLOCK,
        )
        .map_err(|source| PressureError::Open {
            path: path.clone(),
            source,
        })?;
        let mut file = File::from(fd);
        // The kernel turns the last byte of the write into the string's NUL, so send one.
        let text = format!("{threshold}\0");
        let written = file
            .write(text.as_bytes())
            .and_then(|n| {
                if n == text.len() {
                    Ok(())
                } else {
                    Err(io::Error::from(io::ErrorKind::WriteZero))
                }
            })
            .map_err(|source| {
                let odd_window = !threshold.window.as_micros().is_multiple_of(2_000_000);
                if odd_window && source.raw_os_error() == Some(libc::EINVAL) {
                    PressureError::UnprivilegedWindow {
                        path: path.clone(),
                        trigger: threshold,
                        source,
                    }
                } else {
                    PressureError::Write {
                        path: path.clone(),
                        trigger: threshold,
                        source,
                    }
                }
            });
        written?;
        Ok(PressureTrigger {
            file,
            path,
            threshold,
        })
    }

    /// The pressure file the trigger is registered on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The trigger's threshold.
    pub fn threshold(&self) -> PressureThreshold {
        self.threshold
    }

    /// Waits for the trigger to fire (`POLLPRI`); `false` if `timeout` passed first
    /// (`None` waits forever). Each firing is reported once.
    ///
    /// # Errors
    ///
    /// [`PressureError::Removed`] when the kernel reports `POLLERR` (the cgroup was
    /// removed), [`PressureError::Wait`] if `poll(2)` fails.
    ///
    /// # References
    ///
    /// - [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html)
    #[doc(alias = "poll")]
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, PressureError> {
        // A timeout too large to represent (`Duration::MAX`) waits without bound.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLPRI)];
            match poll(&mut fds, poll_timeout(left)) {
                Ok(0) => {
                    if deadline.is_none_or(|d| Instant::now() < d) {
                        continue;
                    }
                    return Ok(false);
                }
                Ok(_) => {
                    let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                    if revents.intersects(PollFlags::POLLERR | PollFlags::POLLNVAL) {
                        return Err(PressureError::Removed {
                            path: self.path.clone(),
                        });
                    }
                    if revents.contains(PollFlags::POLLPRI) {
                        return Ok(true);
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    return Err(PressureError::Wait {
                        path: self.path.clone(),
                        source: e.into(),
                    });
                }
            }
        }
    }
}

impl AsFd for PressureTrigger {
    /// The pressure file's fd: poll it for `POLLPRI`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_counters_become_events_with_deltas() {
        // `after` was captured in the test VM after a 100 MB allocation under
        // memory.max = 32M was OOM-killed; `before` is an earlier state of the same file.
        let before: MemoryEvents = "low 0\nhigh 0\nmax 57\noom 0\noom_kill 0\noom_group_kill 0\n"
            .parse()
            .unwrap();
        let after: MemoryEvents = "low 0\nhigh 0\nmax 78\noom 1\noom_kill 1\noom_group_kill 0\n"
            .parse()
            .unwrap();
        assert_eq!(
            memory_changes(&before, &after),
            vec![
                CgroupEvent::MaxHit { count: 21 },
                CgroupEvent::Oom { count: 1 },
                CgroupEvent::OomKill { count: 1 },
            ]
        );
        assert_eq!(memory_changes(&after, &after), vec![]);
        // A counter going down (never happens) is not an event.
        assert_eq!(memory_changes(&after, &before), vec![]);
    }

    #[test]
    fn poll_timeouts_round_up() {
        assert_eq!(poll_timeout(None), PollTimeout::NONE);
        assert_eq!(poll_timeout(Some(Duration::ZERO)), PollTimeout::ZERO);
        assert_eq!(
            poll_timeout(Some(Duration::from_micros(1))),
            PollTimeout::from(1u8)
        );
        assert_eq!(poll_timeout(Some(Duration::MAX)), PollTimeout::MAX);
    }
}
