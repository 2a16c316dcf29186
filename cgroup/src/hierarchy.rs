//! [`Hierarchy`]: where the cgroup2 file system is, and which cgroup a process is in.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use crate::{Cgroup, CgroupError, Controller, ParseError, Pid};

/// A cgroup2 hierarchy, identified by the directory of its root cgroup.
///
/// The root is always given (or discovered), never assumed, so tests and callers can point
/// it anywhere: `/sys/fs/cgroup` on a unified host, `/sys/fs/cgroup/unified` on a v1/v2
/// hybrid, a delegated subtree, or a private mount.
///
/// # Examples
///
/// ```no_run
/// use hutch_cgroup::Hierarchy;
/// let h = Hierarchy::discover()?;
/// println!("cgroup2 at {}, we are in {}", h.root().display(), h.self_cgroup()?.path().display());
/// # Ok::<(), hutch_cgroup::CgroupError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    root: PathBuf,
    /// Which cgroup of the hierarchy is mounted at `root` (the mountinfo "root" field): `/`
    /// normally, a subtree when only that was bind-mounted (e.g. a container without a
    /// cgroup namespace).
    mount_root: PathBuf,
}

/// Undoes the octal escapes (`\040` for space, …) of `/proc/self/mountinfo` fields.
fn unescape(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// One mountinfo line: (mount point, fstype, super options, root of the mount).
fn mount_lines(mountinfo: &str) -> impl Iterator<Item = (PathBuf, &str, &str, PathBuf)> {
    mountinfo.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut l = left.split(' ');
        let root = l.nth(3)?;
        let mount_point = l.next()?;
        let mut r = right.split(' ');
        let fstype = r.next()?;
        let _source = r.next()?;
        let super_opts = r.next().unwrap_or("");
        Some((unescape(mount_point), fstype, super_opts, unescape(root)))
    })
}

/// The mount point of the cgroup v1 hierarchy that holds controller `c` (its v1 name,
/// `blkio` for [`Controller::Io`]) in the mountinfo text, if any — on a v1/v2 hybrid host
/// such a controller cannot be used in cgroup2.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::{Controller, hierarchy::v1_mount_of};
/// let mi = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";
/// assert_eq!(v1_mount_of(mi, Controller::Memory).unwrap(), std::path::Path::new("/sys/fs/cgroup/memory"));
/// assert_eq!(v1_mount_of(mi, Controller::Pids), None);
/// ```
pub fn v1_mount_of(mountinfo: &str, c: Controller) -> Option<PathBuf> {
    mount_lines(mountinfo)
        .find(|(_, fstype, opts, _)| {
            *fstype == "cgroup" && opts.split(',').any(|o| o == c.v1_name())
        })
        .map(|(mp, _, _, _)| mp)
}

/// Parses the `0::/path` line of `/proc/<pid>/cgroup`: the process's cgroup relative to
/// the root of its cgroup namespace (a ` (deleted)` suffix is removed).
///
/// # Errors
///
/// A [`ParseError`] if there is no `0::` line.
///
/// # Examples
///
/// ```
/// let p = hutch_cgroup::hierarchy::parse_proc_cgroup("4:memory:/x\n0::/user.slice/a.scope\n").unwrap();
/// assert_eq!(p, std::path::Path::new("/user.slice/a.scope"));
/// ```
pub fn parse_proc_cgroup(text: &str) -> Result<PathBuf, ParseError> {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| PathBuf::from(p.strip_suffix(" (deleted)").unwrap_or(p)))
        .ok_or_else(|| {
            ParseError::new(
                "/proc/<pid>/cgroup",
                text,
                "no `0::` line: the process is not in a cgroup v2 hierarchy",
            )
        })
}

impl Hierarchy {
    /// The hierarchy whose root cgroup is the directory `root`.
    pub fn at(root: impl Into<PathBuf>) -> Hierarchy {
        Hierarchy {
            root: root.into(),
            mount_root: PathBuf::from("/"),
        }
    }

    /// Finds the cgroup2 mount in `/proc/self/mountinfo` (`/sys/fs/cgroup` on a unified
    /// host, `/sys/fs/cgroup/unified` on a hybrid one).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Proc`] if mountinfo cannot be read, [`CgroupError::NoCgroup2Mount`].
    pub fn discover() -> Result<Hierarchy, CgroupError> {
        let path = PathBuf::from("/proc/self/mountinfo");
        let text =
            std::fs::read_to_string(&path).map_err(|source| CgroupError::Proc { path, source })?;
        Hierarchy::discover_from(&text)
    }

    /// Like [`discover`](Self::discover), from the text of a mountinfo file. If several
    /// cgroup2 file systems are mounted, the first mount of the whole hierarchy is taken (else
    /// the first mount of a subtree).
    ///
    /// # Errors
    ///
    /// [`CgroupError::NoCgroup2Mount`].
    pub fn discover_from(mountinfo: &str) -> Result<Hierarchy, CgroupError> {
        // Prefer a mount of the whole hierarchy over one of a bind-mounted subtree.
        let mounts: Vec<_> = mount_lines(mountinfo)
            .filter(|(_, fstype, _, _)| *fstype == "cgroup2")
            .collect();
        mounts
            .iter()
            .find(|(_, _, _, root)| root == Path::new("/"))
            .or(mounts.first())
            .map(|(mp, _, _, root)| Hierarchy {
                root: mp.clone(),
                mount_root: root.clone(),
            })
            .ok_or(CgroupError::NoCgroup2Mount)
    }

    /// The directory of the root cgroup.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of `rel` (a path relative to the root; a leading `/` — as in
    /// `/proc/self/cgroup` — is allowed; `..` is not).
    ///
    /// # Errors
    ///
    /// [`CgroupError::InvalidName`] for `..` components.
    pub fn path_of(&self, rel: impl AsRef<Path>) -> Result<PathBuf, CgroupError> {
        let mut p = self.root.clone();
        for c in rel.as_ref().components() {
            match c {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(n) => p.push(n),
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(CgroupError::InvalidName {
                        name: rel.as_ref().to_path_buf(),
                        reason: "`..` is not allowed in a cgroup path",
                    });
                }
            }
        }
        Ok(p)
    }

    /// Opens the root cgroup.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Open`].
    pub fn open_root(&self) -> Result<Cgroup, CgroupError> {
        Cgroup::open(self.root.clone())
    }

    /// Opens the existing cgroup `rel` (relative to the root).
    ///
    /// # Errors
    ///
    /// [`CgroupError::InvalidName`] or [`CgroupError::Open`].
    pub fn open(&self, rel: impl AsRef<Path>) -> Result<Cgroup, CgroupError> {
        Cgroup::open(self.path_of(rel)?)
    }

    /// Creates the cgroup `rel` and any missing parents (like `mkdir -p`) and opens it.
    /// Existing ones are fine.
    ///
    /// # Errors
    ///
    /// [`CgroupError::InvalidName`], [`CgroupError::Create`], [`CgroupError::Open`].
    pub fn create(&self, rel: impl AsRef<Path>) -> Result<Cgroup, CgroupError> {
        self.path_of(&rel)?;
        let mut cg = self.open_root()?;
        for c in rel.as_ref().components() {
            if let Component::Normal(name) = c {
                cg = cg.open_or_create_child(name)?;
            }
        }
        Ok(cg)
    }

    /// The cgroup of the calling process (the `0::` line of `/proc/self/cgroup`).
    ///
    /// # Errors
    ///
    /// [`CgroupError::Proc`], [`CgroupError::Parse`], [`CgroupError::Open`].
    pub fn self_cgroup(&self) -> Result<Cgroup, CgroupError> {
        self.cgroup_at_proc(PathBuf::from("/proc/self/cgroup"))
    }

    /// The cgroup of process `pid` (`/proc/<pid>/cgroup`).
    ///
    /// # Errors
    ///
    /// As [`self_cgroup`](Self::self_cgroup).
    pub fn cgroup_of(&self, pid: Pid) -> Result<Cgroup, CgroupError> {
        self.cgroup_at_proc(PathBuf::from(format!("/proc/{pid}/cgroup")))
    }

    fn cgroup_at_proc(&self, path: PathBuf) -> Result<Cgroup, CgroupError> {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(source) => return Err(CgroupError::Proc { path, source }),
        };
        self.open(self.dir_of_proc_cgroup(&path, &text)?)
    }

    /// The directory, relative to [`root`](Self::root), of the cgroup that the text of a
    /// `/proc/<pid>/cgroup` file (read from `path`) names: its `0::` path, less the subtree
    /// mounted at the root when only a subtree is mounted.
    ///
    /// # Errors
    ///
    /// [`CgroupError::Parse`] without a `0::` line; [`CgroupError::OutsideMount`] when the
    /// cgroup is not inside the mounted subtree.
    pub fn dir_of_proc_cgroup(&self, path: &Path, text: &str) -> Result<PathBuf, CgroupError> {
        let rel = parse_proc_cgroup(text).map_err(|source| CgroupError::Parse {
            path: path.to_owned(),
            file: String::new(),
            source,
        })?;
        match rel.strip_prefix(&self.mount_root) {
            Ok(inside) => Ok(Path::new("/").join(inside)),
            Err(_) => Err(CgroupError::OutsideMount {
                cgroup: rel,
                mount_root: self.mount_root.clone(),
                mount_point: self.root.clone(),
            }),
        }
    }

    /// Whether `name` is a directory in the root (a convenience for tests and tools).
    pub fn exists(&self, rel: impl AsRef<OsStr>) -> bool {
        self.root.join(rel.as_ref()).is_dir()
    }
}
