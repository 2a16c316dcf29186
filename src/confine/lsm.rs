//! LSM labels: the AppArmor profile or SELinux context the program runs under.
//!
//! Both are *exec* labels: the child writes the label to its own
//! `/proc/thread-self/attr/.../exec` just before `execve`, and the kernel switches to it at
//! that `execve`. The parent checks that the LSM is enabled (failing the spawn with an error
//! that says so otherwise; a label is never silently ignored), builds the path and the text,
//! and the child makes one `open` and one `write`, allocating nothing.
//!
//! The write goes through the child's own `/proc`: after a `pivot_root` that is the fresh
//! `/proc` of the container (always mounted with a pid namespace). A container without any
//! `/proc` fails at this step with `ENOENT`, reported as such.
//!
//! # References
//!
//! * [proc_pid_attr(5)](https://man7.org/linux/man-pages/man5/proc_pid_attr.5.html)
//! * <https://docs.kernel.org/admin-guide/LSM/apparmor.html>
//! * <https://docs.kernel.org/admin-guide/LSM/SELinux.html>

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// A Linux security module that labels processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lsm {
    /// AppArmor: profiles by name.
    AppArmor,
    /// SELinux: security contexts `user:role:type[:level]`.
    SeLinux,
}

impl Lsm {
    /// The name in `/sys/kernel/security/lsm`.
    fn id(self) -> &'static str {
        match self {
            Lsm::AppArmor => "apparmor",
            Lsm::SeLinux => "selinux",
        }
    }

    /// How to turn it on.
    fn how_to_enable(self) -> &'static str {
        match self {
            Lsm::AppArmor => {
                "boot a kernel built with CONFIG_SECURITY_APPARMOR with `apparmor=1 \
                 security=apparmor` (or `apparmor` in `lsm=`) on its command line"
            }
            Lsm::SeLinux => {
                "boot a kernel built with CONFIG_SECURITY_SELINUX with `selinux=1 \
                 security=selinux` (or `selinux` in `lsm=`) and load a policy"
            }
        }
    }
}

impl fmt::Display for Lsm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lsm::AppArmor => "AppArmor",
            Lsm::SeLinux => "SELinux",
        })
    }
}

/// Why an LSM label could not be prepared or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LsmError {
    /// The LSM is not active on the running kernel.
    #[error("{lsm} is not enabled on this kernel ({source_of_list}: {active}); to use it, {}", lsm.how_to_enable())]
    NotEnabled {
        /// The LSM asked for.
        lsm: Lsm,
        /// The active LSMs, comma-separated, as found.
        active: String,
        /// Where the list came from (`/sys/kernel/security/lsm`, `lsm_list_modules`, or the
        /// LSM's own files).
        source_of_list: String,
    },
    /// The label is not one the LSM could accept.
    #[error("invalid {lsm} label {label:?}: {reason}")]
    InvalidLabel {
        /// The LSM.
        lsm: Lsm,
        /// The label as given.
        label: OsString,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The AppArmor profile is not loaded.
    #[error(
        "AppArmor profile {profile:?} is not loaded (not listed in {}); load it with `apparmor_parser -r FILE`",
        profiles.display()
    )]
    ProfileNotLoaded {
        /// The profile asked for.
        profile: OsString,
        /// The list of loaded profiles that was read.
        profiles: PathBuf,
    },
    /// A file telling whether the LSM is enabled could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The child could not set the label (`open` or `write` of the attribute file failed).
    #[error("setting the {lsm} exec label {label:?}: {op} {} failed{hint}", path.display())]
    Apply {
        /// The LSM.
        lsm: Lsm,
        /// The label.
        label: OsString,
        /// `"open"` or `"write"`.
        op: &'static str,
        /// The attribute file, as the child sees it.
        path: PathBuf,
        /// What the errno likely means here (empty when nothing more is known).
        hint: &'static str,
        /// The error in the child.
        #[source]
        source: io::Error,
    },
}

/// An exec label prepared in the parent: the attribute file and the text to write there.
#[derive(Debug)]
pub(crate) struct PreparedLabel {
    lsm: Lsm,
    label: OsString,
    path: CString,
    text: Vec<u8>,
}

/// Child-side failure indices of [`PreparedLabel::apply`].
pub(crate) mod index {
    /// `open` of the attribute file.
    pub const OPEN: u32 = 0;
    /// `write` of the label.
    pub const WRITE: u32 = 1;
}

impl PreparedLabel {
    /// Child side: writes the label to the attribute file, so that the next `execve` runs
    /// under it. One `open`, one `write`, one `close`, no allocation; on failure returns
    /// `(index, errno)` with the index from [`index`].
    pub(crate) fn apply(&self) -> Result<(), (u32, i32)> {
        sys::write_attr(&self.path, &self.text)
    }

    /// The LSM this label is for.
    #[allow(dead_code)] // used by the tests that compile this file on its own
    pub(crate) fn lsm(&self) -> Lsm {
        self.lsm
    }

    /// The attribute file the child writes.
    pub(crate) fn path(&self) -> &Path {
        Path::new(OsStr::from_bytes(self.path.to_bytes()))
    }

    /// The error for a failure `(index, errno)` reported by [`apply`](Self::apply).
    pub(crate) fn failure(&self, index: u32, errno: i32) -> LsmError {
        let op = if index == index::OPEN {
            "open"
        } else {
            "write"
        };
        let hint = match (self.lsm, index, errno) {
            (_, index::OPEN, libc::ENOENT) => {
                " (is /proc mounted inside the container? the label is written to its own /proc)"
            }
            (Lsm::AppArmor, index::WRITE, libc::ENOENT) => {
                " (the profile is not loaded: load it with `apparmor_parser -r FILE`)"
            }
            (Lsm::SeLinux, index::WRITE, libc::EINVAL) => {
                " (the context is not valid in the loaded policy)"
            }
            (_, index::WRITE, libc::EACCES | libc::EPERM) => {
                " (the current confinement does not allow this transition)"
            }
            _ => "",
        };
        LsmError::Apply {
            lsm: self.lsm,
            label: self.label.clone(),
            op,
            path: self.path().to_path_buf(),
            hint,
            source: io::Error::from_raw_os_error(errno),
        }
    }
}

/// Where the kernel's files are: `/sys` and `/proc` in production, something else in tests.
#[derive(Debug, Clone)]
struct Roots {
    sys: PathBuf,
    proc: PathBuf,
}

impl Roots {
    fn host() -> Roots {
        Roots {
            sys: PathBuf::from("/sys"),
            proc: PathBuf::from("/proc"),
        }
    }
}

/// Parent side: checks that AppArmor is enabled and `profile` is loaded, and prepares the
/// child's write of `exec PROFILE` to `/proc/thread-self/attr/apparmor/exec` (Linux 5.8+;
/// `/proc/thread-self/attr/exec` on older kernels). `unconfined` is a valid profile.
///
/// # Errors
///
/// [`LsmError::NotEnabled`] when AppArmor is not active, [`LsmError::InvalidLabel`] for an
/// empty name or one with a NUL or newline, [`LsmError::ProfileNotLoaded`] when the list of
/// loaded profiles is readable and does not have it.
#[doc(alias = "aa_change_onexec")]
pub(crate) fn prepare_apparmor(profile: &OsStr) -> Result<PreparedLabel, LsmError> {
    prepare_apparmor_in(profile, &Roots::host())
}

fn prepare_apparmor_in(profile: &OsStr, roots: &Roots) -> Result<PreparedLabel, LsmError> {
    check_label(Lsm::AppArmor, profile)?;
    ensure_enabled(Lsm::AppArmor, roots)?;
    let bytes = profile.as_bytes();
    if bytes != b"unconfined" {
        let list = roots.sys.join("kernel/security/apparmor/profiles");
        // Unreadable (securityfs not mounted, or policy hides it): the kernel's own check at
        // the write stays, reported with a hint.
        if let Ok(text) = std::fs::read(&list)
            && !profile_listed(&text, bytes)
        {
            return Err(LsmError::ProfileNotLoaded {
                profile: profile.to_owned(),
                profiles: list,
            });
        }
    }
    // The AppArmor-specific directory (5.8+) is right even when another LSM owns the shared
    // attribute files; the kernel feature is the same for the child as for us.
    let path: &[u8] = if roots.proc.join("self/attr/apparmor").is_dir() {
        b"/proc/thread-self/attr/apparmor/exec"
    } else {
        b"/proc/thread-self/attr/exec"
    };
    let mut text = b"exec ".to_vec();
    text.extend_from_slice(bytes);
    Ok(PreparedLabel {
        lsm: Lsm::AppArmor,
        label: profile.to_owned(),
        path: CString::new(path).expect("no NUL in a constant path"),
        text,
    })
}

/// Parent side: checks that SELinux is enabled and prepares the child's write of `context`
/// to `/proc/thread-self/attr/exec`.
///
/// # Errors
///
/// [`LsmError::NotEnabled`] when SELinux is not active, [`LsmError::InvalidLabel`] when
/// `context` is not of the form `user:role:type[:level]` or has a NUL, newline or `"`.
#[doc(alias = "setexeccon")]
pub(crate) fn prepare_selinux(context: &OsStr) -> Result<PreparedLabel, LsmError> {
    prepare_selinux_in(context, &Roots::host())
}

fn prepare_selinux_in(context: &OsStr, roots: &Roots) -> Result<PreparedLabel, LsmError> {
    check_selinux_context(context)?;
    ensure_enabled(Lsm::SeLinux, roots)?;
    Ok(PreparedLabel {
        lsm: Lsm::SeLinux,
        label: context.to_owned(),
        path: CString::new(&b"/proc/thread-self/attr/exec"[..]).expect("no NUL"),
        text: context.as_bytes().to_vec(),
    })
}

/// Parent side: the mount option that labels every file of a new tmpfs (or other mount
/// without labels of its own) with `context`: `context="CONTEXT"`, quoted because an MCS
/// level has commas (`s0:c1,c2`). Append it to the mount's data string with a comma.
///
/// # Errors
///
/// As [`prepare_selinux`]: SELinux must be enabled and the context well formed.
#[doc(alias = "context=")]
pub(crate) fn selinux_mount_option(context: &OsStr) -> Result<OsString, LsmError> {
    selinux_mount_option_in(context, &Roots::host())
}

fn selinux_mount_option_in(context: &OsStr, roots: &Roots) -> Result<OsString, LsmError> {
    check_selinux_context(context)?;
    ensure_enabled(Lsm::SeLinux, roots)?;
    Ok(mount_option_text(context))
}

/// `context="CONTEXT"` (the context already checked).
fn mount_option_text(context: &OsStr) -> OsString {
    let mut text = b"context=\"".to_vec();
    text.extend_from_slice(context.as_bytes());
    text.push(b'"');
    OsString::from_vec(text)
}

fn check_label(lsm: Lsm, label: &OsStr) -> Result<(), LsmError> {
    let b = label.as_bytes();
    let reason = if b.is_empty() {
        "it is empty"
    } else if b.contains(&0) {
        "it contains a NUL byte"
    } else if b.contains(&b'\n') {
        "it contains a newline"
    } else {
        return Ok(());
    };
    Err(LsmError::InvalidLabel {
        lsm,
        label: label.to_owned(),
        reason,
    })
}

fn check_selinux_context(context: &OsStr) -> Result<(), LsmError> {
    check_label(Lsm::SeLinux, context)?;
    let b = context.as_bytes();
    let reason = if b.contains(&b'"') {
        "it contains a double quote"
    } else if !full_context(b) {
        "it is not a full context user:role:type[:level]"
    } else {
        return Ok(());
    };
    Err(LsmError::InvalidLabel {
        lsm: Lsm::SeLinux,
        label: context.to_owned(),
        reason,
    })
}

/// Whether `b` has at least `user:role:type`, none of them empty (the level may have colons).
fn full_context(b: &[u8]) -> bool {
    let parts: Vec<&[u8]> = b.splitn(4, |&c| c == b':').collect();
    parts.len() >= 3 && parts[..3].iter().all(|p| !p.is_empty())
}

/// Whether a line of `apparmor/profiles` (`NAME (MODE)`) names `profile`.
fn profile_listed(list: &[u8], profile: &[u8]) -> bool {
    list.split(|&c| c == b'\n').any(|line| {
        let name = match line.iter().rposition(|&c| c == b' ') {
            Some(i) if line.ends_with(b")") => &line[..i],
            _ => line,
        };
        name == profile
    })
}

/// The active LSMs, and where that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ActiveLsms {
    names: Vec<String>,
    from: String,
}

/// Parses `/sys/kernel/security/lsm` (`capability,landlock,apparmor`, no newline).
fn parse_lsm_list(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .trim()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The name of an `LSM_ID_*` number.
fn lsm_name(id: u64) -> String {
    let known = [
        (100, "capability"),
        (101, "selinux"),
        (102, "smack"),
        (103, "tomoyo"),
        (104, "apparmor"),
        (105, "yama"),
        (106, "loadpin"),
        (107, "safesetid"),
        (108, "lockdown"),
        (109, "bpf"),
        (110, "landlock"),
        (111, "ima"),
        (112, "evm"),
        (113, "ipe"),
    ];
    known
        .iter()
        .find(|(n, _)| *n == id)
        .map_or_else(|| format!("lsm#{id}"), |(_, name)| (*name).to_owned())
}

/// The active LSMs from `/sys/kernel/security/lsm`, else from `lsm_list_modules(2)` (Linux
/// 6.8), else `None`.
fn active_lsms(roots: &Roots) -> Result<Option<ActiveLsms>, LsmError> {
    let path = roots.sys.join("kernel/security/lsm");
    match std::fs::read(&path) {
        Ok(text) => {
            return Ok(Some(ActiveLsms {
                names: parse_lsm_list(&text),
                from: path.display().to_string(),
            }));
        }
        // securityfs not mounted: ask the kernel directly.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(LsmError::Read { path, source }),
    }
    Ok(sys::lsm_list_modules().map(|ids| ActiveLsms {
        names: ids.into_iter().map(lsm_name).collect(),
        from: "lsm_list_modules".to_owned(),
    }))
}

/// Whether `lsm` is enabled; `Err(NotEnabled)` naming the active ones if not.
fn ensure_enabled(lsm: Lsm, roots: &Roots) -> Result<(), LsmError> {
    let active = active_lsms(roots)?;
    // The LSM's own indicator: AppArmor's `enabled` parameter (Y/N), SELinux's mounted
    // selinuxfs.
    let (indicator, own) = match lsm {
        Lsm::AppArmor => {
            let p = roots.sys.join("module/apparmor/parameters/enabled");
            let v = std::fs::read(&p).ok();
            (p, v.map(|v| v.trim_ascii() == b"Y"))
        }
        Lsm::SeLinux => {
            let p = roots.sys.join("fs/selinux/enforce");
            let v = p.exists();
            (p, v.then_some(true))
        }
    };
    let listed = active
        .as_ref()
        .map(|a| a.names.iter().any(|n| n == lsm.id()));
    let enabled = match (listed, own) {
        (Some(listed), Some(own)) => listed && own,
        (Some(listed), None) => listed && lsm == Lsm::SeLinux,
        (None, Some(own)) => own,
        (None, None) => false,
    };
    if enabled {
        return Ok(());
    }
    let (active, source_of_list) = match active {
        Some(a) => (a.names.join(","), a.from),
        None => (
            format!("{} not found", indicator.display()),
            "no list of active LSMs".to_owned(),
        ),
    };
    Err(LsmError::NotEnabled {
        lsm,
        active,
        source_of_list,
    })
}

/// The system calls of this module.
///
/// # Safety
///
/// Thin wrappers over single system calls with valid pointers; `write_attr` runs in the
/// child and allocates nothing.
#[allow(unsafe_code)]
mod sys {
    use std::ffi::CStr;

    /// `lsm_list_modules(2)` (Linux 6.8), number 461 in the unified system-call table.
    #[cfg(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "x86",
        target_arch = "arm"
    ))]
    const SYS_LSM_LIST_MODULES: libc::c_long = 461;

    /// The `LSM_ID_*` numbers of the active LSMs, or `None` where the call does not exist.
    #[cfg(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "x86",
        target_arch = "arm"
    ))]
    pub(super) fn lsm_list_modules() -> Option<Vec<u64>> {
        let mut ids = [0u64; 32];
        let mut size: u32 = std::mem::size_of_val(&ids) as u32;
        // SAFETY: a buffer of `size` bytes and a pointer to its size, as the call expects.
        let n = unsafe {
            libc::syscall(
                SYS_LSM_LIST_MODULES,
                ids.as_mut_ptr(),
                &mut size as *mut u32,
                0u32,
            )
        };
        if n < 0 {
            return None;
        }
        Some(ids[..(n as usize).min(ids.len())].to_vec())
    }

    #[cfg(not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "x86",
        target_arch = "arm"
    )))]
    pub(super) fn lsm_list_modules() -> Option<Vec<u64>> {
        None
    }

    fn errno() -> i32 {
        // SAFETY: reading this thread's errno slot.
        unsafe { *libc::__errno_location() }
    }

    /// Child side: `open(path, O_WRONLY)`, one `write` of `text`, `close`.
    pub(super) fn write_attr(path: &CStr, text: &[u8]) -> Result<(), (u32, i32)> {
        // SAFETY: openat on a NUL-terminated path prepared by the parent.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                path.as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            return Err((super::index::OPEN, errno()));
        }
        // SAFETY: writing from a buffer of the given length.
        let n = unsafe { libc::syscall(libc::SYS_write, fd, text.as_ptr(), text.len()) };
        let result = if n == text.len() as libc::c_long {
            Ok(())
        } else if n < 0 {
            Err((super::index::WRITE, errno()))
        } else {
            Err((super::index::WRITE, libc::EIO))
        };
        // SAFETY: closing the descriptor opened above.
        unsafe { libc::syscall(libc::SYS_close, fd) };
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A fake `/sys` and `/proc` under a fresh directory.
    struct Fake {
        dir: PathBuf,
        roots: Roots,
    }

    impl Fake {
        fn new(name: &str) -> Fake {
            let dir = std::env::temp_dir().join(format!("hutch-lsm-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            let roots = Roots {
                sys: dir.join("sys"),
                proc: dir.join("proc"),
            };
            fs::create_dir_all(roots.sys.join("kernel/security")).unwrap();
            fs::create_dir_all(roots.proc.join("self/attr")).unwrap();
            Fake { dir, roots }
        }
        fn write(&self, rel: &str, text: &str) {
            let p = self.dir.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn lsm_list_parses() {
        assert_eq!(
            parse_lsm_list(b"lockdown,capability,landlock,apparmor"),
            ["lockdown", "capability", "landlock", "apparmor"]
        );
        assert!(parse_lsm_list(b"").is_empty());
        assert_eq!(parse_lsm_list(b"capability,\n"), ["capability"]);
        assert_eq!(lsm_name(110), "landlock");
        assert_eq!(lsm_name(999), "lsm#999");
    }

    #[test]
    fn apparmor_enabled_needs_list_and_parameter() {
        let f = Fake::new("aa-on");
        f.write("sys/kernel/security/lsm", "capability,apparmor");
        f.write("sys/module/apparmor/parameters/enabled", "Y\n");
        f.write(
            "sys/kernel/security/apparmor/profiles",
            "hutch-test (enforce)\n/usr/bin/man (complain)\n",
        );
        fs::create_dir_all(f.roots.proc.join("self/attr/apparmor")).unwrap();
        let p = prepare_apparmor_in(OsStr::new("hutch-test"), &f.roots).unwrap();
        assert_eq!(p.text, b"exec hutch-test");
        assert_eq!(p.path(), Path::new("/proc/thread-self/attr/apparmor/exec"));
        let p = prepare_apparmor_in(OsStr::new("/usr/bin/man"), &f.roots).unwrap();
        assert_eq!(p.text, b"exec /usr/bin/man");
        // `unconfined` is never listed and always valid.
        prepare_apparmor_in(OsStr::new("unconfined"), &f.roots).unwrap();
        let e = prepare_apparmor_in(OsStr::new("nope"), &f.roots).unwrap_err();
        assert!(matches!(e, LsmError::ProfileNotLoaded { .. }), "{e}");
        assert!(e.to_string().contains("apparmor_parser -r"), "{e}");

        f.write("sys/module/apparmor/parameters/enabled", "N\n");
        let e = prepare_apparmor_in(OsStr::new("unconfined"), &f.roots).unwrap_err();
        assert!(matches!(e, LsmError::NotEnabled { .. }), "{e}");
    }

    #[test]
    fn apparmor_falls_back_to_the_shared_attr_file() {
        let f = Fake::new("aa-old");
        f.write("sys/kernel/security/lsm", "capability,apparmor");
        f.write("sys/module/apparmor/parameters/enabled", "Y");
        let p = prepare_apparmor_in(OsStr::new("x"), &f.roots).unwrap();
        assert_eq!(p.path(), Path::new("/proc/thread-self/attr/exec"));
    }

    #[test]
    fn absent_lsms_are_named_in_the_error() {
        let f = Fake::new("none");
        f.write(
            "sys/kernel/security/lsm",
            "lockdown,capability,landlock,bpf",
        );
        let e = prepare_apparmor_in(OsStr::new("p"), &f.roots).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("AppArmor is not enabled on this kernel (")
                && text.contains("/kernel/security/lsm: lockdown,capability,landlock,bpf)")
                && text.contains("apparmor=1"),
            "{text}"
        );
        let e = prepare_selinux_in(OsStr::new("u:r:t:s0"), &f.roots).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("SELinux is not enabled on this kernel ("),
            "{e}"
        );
    }

    #[test]
    fn selinux_contexts_are_checked_and_quoted() {
        let f = Fake::new("se");
        f.write("sys/kernel/security/lsm", "capability,selinux");
        f.write("sys/fs/selinux/enforce", "1");
        let p =
            prepare_selinux_in(OsStr::new("system_u:system_r:container_t:s0"), &f.roots).unwrap();
        assert_eq!(p.text, b"system_u:system_r:container_t:s0");
        assert_eq!(p.path(), Path::new("/proc/thread-self/attr/exec"));
        assert_eq!(
            selinux_mount_option_in(
                OsStr::new("system_u:object_r:container_file_t:s0:c1,c2"),
                &f.roots
            )
            .unwrap(),
            "context=\"system_u:object_r:container_file_t:s0:c1,c2\""
        );
        prepare_selinux_in(OsStr::new("u:r:t"), &f.roots).unwrap();
        for bad in [
            "",
            "container_t",
            "u:r",
            "u::t",
            "u:r:t\"",
            "u:r:t\n",
            "u:r:\0t",
        ] {
            let e = prepare_selinux_in(OsStr::new(bad), &f.roots).unwrap_err();
            assert!(matches!(e, LsmError::InvalidLabel { .. }), "{bad:?}: {e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn lsm_lists_round_trip(names in proptest::collection::vec("[a-z]{1,12}", 0..8)) {
            proptest::prop_assert_eq!(parse_lsm_list(names.join(",").as_bytes()), names);
        }

        #[test]
        fn mount_option_quotes_the_whole_context(
            context in "[a-z_]{1,8}:[a-z_]{1,8}:[a-z_]{1,8}(:s0(:c[0-9]{1,3}(,c[0-9]{1,3})*)?)?"
        ) {
            proptest::prop_assert!(full_context(context.as_bytes()));
            let text = mount_option_text(OsStr::new(&context)).into_vec();
            proptest::prop_assert_eq!(&text[..9], b"context=\"");
            proptest::prop_assert_eq!(&text[9..text.len() - 1], context.as_bytes());
            proptest::prop_assert_eq!(text.last(), Some(&b'"'));
        }

        #[test]
        fn every_listed_profile_is_found(
            names in proptest::collection::vec("[!-~]([ -~]{0,20}[!-~])?", 1..6),
            mode in "(enforce|complain|kill|unconfined)",
        ) {
            let list: String = names.iter().map(|n| format!("{n} ({mode})\n")).collect();
            for n in &names {
                proptest::prop_assert!(profile_listed(list.as_bytes(), n.as_bytes()));
            }
            let absent = format!("{}-absent", names[0]);
            proptest::prop_assert_eq!(
                profile_listed(list.as_bytes(), absent.as_bytes()),
                names.contains(&absent)
            );
        }
    }

    #[test]
    fn profiles_list_matches_whole_names() {
        let list = b"a (enforce)\nb c (complain)\n/usr/sbin/x (enforce)\n";
        assert!(profile_listed(list, b"a"));
        assert!(profile_listed(list, b"b c"));
        assert!(profile_listed(list, b"/usr/sbin/x"));
        assert!(!profile_listed(list, b"b"));
        assert!(!profile_listed(list, b"enforce"));
    }

    #[test]
    fn child_failures_are_explained() {
        let p = PreparedLabel {
            lsm: Lsm::AppArmor,
            label: "p".into(),
            path: CString::new("/proc/thread-self/attr/apparmor/exec").unwrap(),
            text: b"exec p".to_vec(),
        };
        let e = p.failure(index::OPEN, libc::ENOENT).to_string();
        assert!(
            e.contains("open /proc/thread-self/attr/apparmor/exec failed (is /proc mounted"),
            "{e}"
        );
        let e = p.failure(index::WRITE, libc::ENOENT).to_string();
        assert!(e.contains("not loaded"), "{e}");
    }

    #[test]
    fn apply_reports_the_failing_call() {
        let f = Fake::new("apply");
        let target = f.dir.join("attr");
        fs::write(&target, "").unwrap();
        let path = CString::new(target.as_os_str().as_bytes()).unwrap();
        sys::write_attr(&path, b"exec x").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"exec x");
        let missing = CString::new(f.dir.join("missing/attr").as_os_str().as_bytes()).unwrap();
        assert_eq!(
            sys::write_attr(&missing, b"x"),
            Err((index::OPEN, libc::ENOENT))
        );
    }
}
