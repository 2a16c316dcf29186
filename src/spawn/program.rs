//! The exec layer, parent side: the program's candidate paths, argv and environment as C
//! strings, and the explanation of an exec failure.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::sys::ExecPlan;
use crate::{Command, SpawnError};

/// `PATH` when the program's environment has none (the same as Docker's).
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub(crate) fn cstring(what: &'static str, s: &OsStr) -> Result<CString, SpawnError> {
    CString::new(s.as_bytes()).map_err(|_| SpawnError::NulByte {
        what,
        value: s.to_owned(),
    })
}

/// Candidate paths for `program`, in the order `execvp` would try them.
fn candidates(program: &OsStr, path_var: Option<&OsStr>) -> Result<Vec<CString>, SpawnError> {
    if program.is_empty() {
        return Err(SpawnError::EmptyProgram);
    }
    if program.as_bytes().contains(&b'/') {
        return Ok(vec![cstring("program", program)?]);
    }
    let path = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut out = Vec::new();
    for dir in path.as_bytes().split(|b| *b == b':') {
        // An empty element means the current directory, as in execvp.
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let mut p = dir.to_vec();
        p.push(b'/');
        p.extend_from_slice(program.as_bytes());
        out.push(cstring("program", OsStr::from_bytes(&p))?);
    }
    Ok(out)
}

/// The environment the program gets: the caller's (unless cleared), then the container's
/// variables, then the command's.
pub(crate) fn environment(cmd: &Command) -> BTreeMap<OsString, OsString> {
    let c = &cmd.container;
    let mut vars: BTreeMap<OsString, OsString> = if c.env_clear || cmd.env_clear {
        BTreeMap::new()
    } else {
        std::env::vars_os().collect()
    };
    let layers: [&BTreeMap<OsString, Option<OsString>>; 2] = if cmd.env_clear {
        // A command that cleared its environment starts from nothing but its own variables.
        [&cmd.env, &cmd.env]
    } else {
        [&c.env, &cmd.env]
    };
    for layer in layers {
        for (k, v) in layer {
            match v {
                Some(v) => {
                    vars.insert(k.clone(), v.clone());
                }
                None => {
                    vars.remove(k);
                }
            }
        }
    }
    vars
}

/// Builds the exec layer: candidate paths (a `PATH` search prepared in advance), argv and
/// envp.
pub(crate) fn prepare(
    cmd: &Command,
    env: &BTreeMap<OsString, OsString>,
) -> Result<ExecPlan, SpawnError> {
    let path_var = env.get(OsStr::new("PATH"));
    let programs = candidates(&cmd.program, path_var.map(OsString::as_os_str))?;
    let mut strings = Vec::with_capacity(1 + cmd.args.len() + env.len());
    strings.push(cstring("program", &cmd.program)?);
    for a in &cmd.args {
        strings.push(cstring("argument", a)?);
    }
    let argc = strings.len();
    for (k, v) in env {
        if k.is_empty() || k.as_bytes().contains(&b'=') {
            return Err(SpawnError::InvalidEnvName { name: k.clone() });
        }
        let mut kv = k.clone().into_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        strings.push(cstring("environment variable", OsStr::from_bytes(&kv))?);
    }
    let mut argv: Vec<*const libc::c_char> = strings[..argc].iter().map(|s| s.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = strings[argc..].iter().map(|s| s.as_ptr()).collect();
    envp.push(std::ptr::null());
    Ok(ExecPlan {
        programs,
        argv,
        envp,
        _strings: strings,
    })
}

/// Where the caller can read the files a container's program sees, to explain an exec
/// failure after the fact: the caller's own tree (no rootfs), or a rootfs, looked into with
/// `openat2(RESOLVE_IN_ROOT)` so that its symbolic links resolve inside it, never to the
/// caller's files.
pub(crate) enum View {
    Host,
    Root(std::os::fd::OwnedFd),
}

impl View {
    /// The view of `root` (a rootfs), or of the caller's tree.
    pub(crate) fn of(root: Option<&Path>) -> Option<View> {
        match root {
            None => Some(View::Host),
            Some(r) => std::fs::File::open(r)
                .ok()
                .map(|f| View::Root(std::os::fd::OwnedFd::from(f))),
        }
    }

    /// Opens `path` (absolute, as the container names it) with `flags`.
    fn open(&self, path: &Path, flags: libc::c_int) -> Option<std::fs::File> {
        use std::os::fd::AsFd;
        let c = CString::new(path.as_os_str().as_bytes()).ok()?;
        let fd = match self {
            View::Host => crate::sys::openat2(None, &c, flags, 0),
            View::Root(root) => {
                crate::sys::openat2(Some(root.as_fd()), &c, flags, crate::sys::RESOLVE_IN_ROOT)
            }
        };
        fd.ok().map(std::fs::File::from)
    }

    /// What is at `path`, without opening it for reading (a FIFO or a device is never
    /// opened).
    fn metadata(&self, path: &Path) -> Option<std::fs::Metadata> {
        self.open(path, libc::O_PATH)?.metadata().ok()
    }

    /// The first 64 KiB of the regular file at `path` (enough for a `#!` line or an ELF
    /// file's program headers).
    fn head(&self, path: &Path) -> Option<Vec<u8>> {
        let mut head = Vec::new();
        self.open(path, libc::O_RDONLY | libc::O_NONBLOCK)?
            .take(64 << 10)
            .read_to_end(&mut head)
            .ok()?;
        Some(head)
    }
}

/// The interpreter named by a script's `#!` line.
fn shebang_interpreter(head: &[u8]) -> Option<PathBuf> {
    let line = head.strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let interp = line
        .split(|b| *b == b' ' || *b == b'\t')
        .find(|w| !w.is_empty())?;
    Some(PathBuf::from(OsStr::from_bytes(interp)))
}

/// The dynamic loader named by a 64-bit little-endian ELF file's `PT_INTERP` header.
fn elf_interpreter(file: &[u8]) -> Option<PathBuf> {
    const PT_INTERP: u32 = 3;
    if file.len() < 64 || &file[..4] != b"\x7fELF" || file[4] != 2 || file[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(file.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(file.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(file.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? == PT_INTERP {
            let off = usize::try_from(u64_at(ph + 8)?).ok()?;
            let size = usize::try_from(u64_at(ph + 32)?).ok()?;
            let name = file.get(off..off.checked_add(size)?)?;
            let name = name.split(|b| *b == 0).next()?;
            return Some(PathBuf::from(OsStr::from_bytes(name)));
        }
    }
    None
}

/// Why executing `path` (absolute, as the container names it) failed with `errno`, looked up
/// after the fact in `view`: a directory, a file without execute permission, or a program
/// that exists while what the kernel loads to run it (a script's interpreter, an ELF
/// program's dynamic loader) does not (`ENOENT` names neither). With `check_missing`, an
/// interpreter or loader counts only when it is missing in `view` too.
pub(crate) fn explain_exec_failure(
    view: &View,
    path: &Path,
    errno: i32,
    check_missing: bool,
) -> Option<crate::error::ExecProblem> {
    use crate::error::ExecProblem;
    use std::os::unix::fs::PermissionsExt;
    if !path.is_absolute() {
        return None;
    }
    let meta = view.metadata(path)?;
    match errno {
        libc::EACCES | libc::EISDIR if meta.is_dir() => Some(ExecProblem::Directory),
        libc::EACCES if meta.is_file() && meta.permissions().mode() & 0o111 == 0 => {
            Some(ExecProblem::NotExecutable {
                mode: meta.permissions().mode() & 0o7777,
            })
        }
        libc::ENOENT if meta.is_file() => {
            let head = view.head(path)?;
            let missing =
                |p: &Path| !check_missing || (p.is_absolute() && view.metadata(p).is_none());
            if let Some(interp) = shebang_interpreter(&head) {
                return missing(&interp).then_some(ExecProblem::MissingInterpreter(interp));
            }
            let loader = elf_interpreter(&head)?;
            missing(&loader).then_some(ExecProblem::MissingLoader(loader))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_search_keeps_order_and_empty_means_cwd() {
        let c = candidates(OsStr::new("sh"), Some(OsStr::new("/a::/b"))).unwrap();
        let c: Vec<&[u8]> = c.iter().map(|s| s.as_bytes()).collect();
        assert_eq!(c, [&b"/a/sh"[..], b"./sh", b"/b/sh"]);
        let c = candidates(OsStr::new("./x"), None).unwrap();
        assert_eq!(c[0].as_bytes(), b"./x");
        assert!(matches!(
            candidates(OsStr::new(""), None),
            Err(SpawnError::EmptyProgram)
        ));
    }

    #[test]
    fn exec_failures_are_explained_in_the_callers_tree_and_in_a_rootfs() {
        use crate::error::ExecProblem;
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hutch-exec-why-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let script = dir.join("bin/s");
        std::fs::write(&script, "#!/no/such/interpreter -x\necho\n").unwrap();
        let plain = dir.join("bin/plain");
        std::fs::write(&plain, "echo\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o640)).unwrap();
        // An ELF header whose PT_INTERP names a loader that does not exist.
        let mut elf = vec![0u8; 0x100];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        elf[64..68].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP
        elf[72..80].copy_from_slice(&0xc0u64.to_le_bytes()); // p_offset
        elf[96..104].copy_from_slice(&16u64.to_le_bytes()); // p_filesz
        elf[0xc0..0xd0].copy_from_slice(b"/lib/ld-nope.so\0");
        std::fs::write(dir.join("bin/elf"), &elf).unwrap();
        let host = View::Host;
        assert_eq!(
            explain_exec_failure(&host, &script, libc::ENOENT, true),
            Some(ExecProblem::MissingInterpreter(
                "/no/such/interpreter".into()
            ))
        );
        assert_eq!(
            explain_exec_failure(&host, &dir, libc::EACCES, true),
            Some(ExecProblem::Directory)
        );
        assert_eq!(
            explain_exec_failure(&host, &plain, libc::EACCES, true),
            Some(ExecProblem::NotExecutable { mode: 0o640 })
        );
        assert_eq!(
            explain_exec_failure(&host, &dir.join("bin/elf"), libc::ENOENT, true),
            Some(ExecProblem::MissingLoader("/lib/ld-nope.so".into()))
        );
        // In a rootfs, paths are the container's, and its links resolve inside it: /bin/sh
        // of the caller exists, but not in this "rootfs".
        std::fs::write(dir.join("bin/needs-sh"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/bin", dir.join("escape")).unwrap();
        let root = View::of(Some(&dir)).unwrap();
        assert_eq!(
            explain_exec_failure(&root, Path::new("/bin/needs-sh"), libc::ENOENT, true),
            Some(ExecProblem::MissingInterpreter("/bin/sh".into()))
        );
        assert_eq!(
            explain_exec_failure(&host, &dir.join("bin/needs-sh"), libc::ENOENT, true),
            None,
            "the caller's /bin/sh exists"
        );
        assert_eq!(
            explain_exec_failure(&root, Path::new("/escape/sh"), libc::ENOENT, true),
            None,
            "a link in the rootfs never reaches the caller's /bin"
        );
        assert_eq!(
            explain_exec_failure(&root, Path::new("rel"), libc::ENOENT, true),
            None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
