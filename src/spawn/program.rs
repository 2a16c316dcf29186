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
    Root {
        fd: std::os::fd::OwnedFd,
        /// The rootfs as the caller names it, resolved (to turn what a lookup found back into
        /// the container's path).
        path: PathBuf,
    },
}

/// A file found in a [`View`]: its metadata, where it really is as the container names it
/// (symbolic links resolved), and an `O_PATH` descriptor of it.
struct Found {
    meta: std::fs::Metadata,
    real: PathBuf,
    fd: std::fs::File,
}

impl View {
    /// The view of `root` (a rootfs), or of the caller's tree.
    pub(crate) fn of(root: Option<&Path>) -> Option<View> {
        match root {
            None => Some(View::Host),
            Some(r) => {
                let path = std::fs::canonicalize(r).ok()?;
                let fd = std::fs::File::open(&path).ok()?;
                Some(View::Root {
                    fd: fd.into(),
                    path,
                })
            }
        }
    }

    /// Looks `path` (absolute, as the container names it) up without opening it for reading
    /// (a FIFO or a device is never opened). The error is the lookup's.
    fn find(&self, path: &Path) -> std::io::Result<Found> {
        use std::os::fd::{AsFd, AsRawFd};
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        let fd = match self {
            View::Host => crate::sys::openat2(None, &c, libc::O_PATH, 0)?,
            View::Root { fd, .. } => crate::sys::openat2(
                Some(fd.as_fd()),
                &c,
                libc::O_PATH,
                crate::sys::RESOLVE_IN_ROOT,
            )?,
        };
        let fd = std::fs::File::from(fd);
        let meta = fd.metadata()?;
        let on_host = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
        let real = match self {
            View::Host => on_host,
            View::Root { path, .. } => Path::new("/").join(
                on_host
                    .strip_prefix(path)
                    .map_err(|_| std::io::Error::from_raw_os_error(libc::EXDEV))?,
            ),
        };
        Ok(Found { meta, real, fd })
    }

    /// The first 64 KiB of a regular file found (enough for a `#!` line or an ELF file's
    /// program headers), read through the descriptor the lookup returned: the file cannot be
    /// swapped for a device in between.
    fn head(&self, found: &Found) -> Option<Vec<u8>> {
        use std::os::fd::AsRawFd;
        if !found.meta.is_file() {
            return None;
        }
        let mut head = Vec::new();
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(format!("/proc/self/fd/{}", found.fd.as_raw_fd()))
            .ok()?
            .take(64 << 10)
            .read_to_end(&mut head)
            .ok()?;
        Some(head)
    }
}

use std::os::unix::fs::OpenOptionsExt;

/// The interpreter named by a script's `#!` line.
fn shebang_interpreter(head: &[u8]) -> Option<PathBuf> {
    let line = head.strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let interp = line
        .split(|b| *b == b' ' || *b == b'\t')
        .find(|w| !w.is_empty())?;
    Some(PathBuf::from(OsStr::from_bytes(interp)))
}

/// The dynamic loader named by an ELF file's `PT_INTERP` header (32 or 64 bits, either byte
/// order). Never panics, whatever the bytes.
fn elf_interpreter(file: &[u8]) -> Option<PathBuf> {
    const PT_INTERP: usize = 3;
    if file.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match file.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big = match file.get(5)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let bytes = |o: usize, n: usize| file.get(o..o.checked_add(n)?);
    // An unsigned number of `n` bytes at `o`, in the file's byte order.
    let uint = |o: usize, n: usize| -> Option<usize> {
        let b = bytes(o, n)?;
        let fold = |acc: u64, x: &u8| (acc << 8) | u64::from(*x);
        let v = if big {
            b.iter().fold(0, fold)
        } else {
            b.iter().rev().fold(0, fold)
        };
        usize::try_from(v).ok()
    };
    let u16_at = |o| uint(o, 2);
    let u32_at = |o| uint(o, 4);
    // A word: 8 bytes in a 64-bit file, 4 in a 32-bit one.
    let word = |o| uint(o, if wide { 8 } else { 4 });
    let (phoff, phentsize, phnum) = if wide {
        (word(0x20)?, u16_at(0x36)?, u16_at(0x38)?)
    } else {
        (word(0x1c)?, u16_at(0x2a)?, u16_at(0x2c)?)
    };
    // p_offset and p_filesz within a program header.
    let (off_at, size_at) = if wide { (8, 32) } else { (4, 16) };
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? == PT_INTERP {
            let off = word(ph.checked_add(off_at)?)?;
            let size = word(ph.checked_add(size_at)?)?;
            let name = bytes(off, size)?;
            let name = name.split(|b| *b == 0).next()?;
            return Some(PathBuf::from(OsStr::from_bytes(name)));
        }
    }
    None
}

/// Why executing `path` (absolute, as the container names it) failed with `errno`, looked up
/// after the fact in `view`: a directory, a file without execute permission, or a program
/// that exists while what the kernel loads to run it (a script's interpreter, an ELF
/// program's dynamic loader; for a script whose interpreter exists, the interpreter's loader)
/// does not (`ENOENT` names neither).
///
/// `sees` says whether the container sees the caller's file at a path (not one it mounts
/// anew): every file looked at, its links resolved, must pass it. With `check_missing`, an
/// interpreter or loader counts only when looking it up fails with `ENOENT` or `ENOTDIR`.
pub(crate) fn explain_exec_failure(
    view: &View,
    path: &Path,
    errno: i32,
    check_missing: bool,
    sees: &dyn Fn(&Path) -> bool,
) -> Option<crate::error::ExecProblem> {
    use crate::error::ExecProblem;
    use std::os::unix::fs::PermissionsExt;
    let plain = |p: &Path| {
        p.is_absolute()
            && p.components()
                .all(|c| !matches!(c, std::path::Component::ParentDir))
            && sees(p)
    };
    if !plain(path) {
        return None;
    }
    let found = view.find(path).ok().filter(|f| sees(&f.real))?;
    let mode = found.meta.permissions().mode();
    // Whether the container lacks `p`: known only where it sees the caller's file.
    let missing = |p: &Path| {
        if !check_missing {
            return true;
        }
        plain(p)
            && match view.find(p) {
                Err(e) => matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)),
                Ok(_) => false,
            }
    };
    match errno {
        libc::EACCES | libc::EISDIR if found.meta.is_dir() => Some(ExecProblem::Directory),
        libc::EACCES if found.meta.is_file() && mode & 0o111 == 0 => {
            Some(ExecProblem::NotExecutable {
                mode: mode & 0o7777,
            })
        }
        libc::ENOENT if found.meta.is_file() => {
            let head = view.head(&found)?;
            if let Some(interp) = shebang_interpreter(&head) {
                if missing(&interp) {
                    return Some(ExecProblem::MissingInterpreter(interp));
                }
                // The interpreter is there: its own loader may be what is missing.
                if !check_missing || !plain(&interp) {
                    return None;
                }
                let f = view.find(&interp).ok().filter(|f| sees(&f.real))?;
                let loader = elf_interpreter(&view.head(&f)?)?;
                return missing(&loader).then_some(ExecProblem::MissingLoader(loader));
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
        let all = |_: &Path| true;
        assert_eq!(
            explain_exec_failure(&host, &script, libc::ENOENT, true, &all),
            Some(ExecProblem::MissingInterpreter(
                "/no/such/interpreter".into()
            ))
        );
        assert_eq!(
            explain_exec_failure(&host, &dir, libc::EACCES, true, &all),
            Some(ExecProblem::Directory)
        );
        assert_eq!(
            explain_exec_failure(&host, &plain, libc::EACCES, true, &all),
            Some(ExecProblem::NotExecutable { mode: 0o640 })
        );
        assert_eq!(
            explain_exec_failure(&host, &dir.join("bin/elf"), libc::ENOENT, true, &all),
            Some(ExecProblem::MissingLoader("/lib/ld-nope.so".into()))
        );
        // In a rootfs, paths are the container's, and its links resolve inside it: /bin/sh
        // of the caller exists, but not in this "rootfs".
        std::fs::write(dir.join("bin/needs-sh"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/bin", dir.join("escape")).unwrap();
        let root = View::of(Some(&dir)).unwrap();
        assert_eq!(
            explain_exec_failure(&root, Path::new("/bin/needs-sh"), libc::ENOENT, true, &all),
            Some(ExecProblem::MissingInterpreter("/bin/sh".into()))
        );
        assert_eq!(
            explain_exec_failure(&host, &dir.join("bin/needs-sh"), libc::ENOENT, true, &all),
            None,
            "the caller's /bin/sh exists"
        );
        assert_eq!(
            explain_exec_failure(&root, Path::new("/escape/sh"), libc::ENOENT, true, &all),
            None,
            "a link in the rootfs never reaches the caller's /bin"
        );
        assert_eq!(
            explain_exec_failure(&root, Path::new("rel"), libc::ENOENT, true, &all),
            None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An ELF header of `class` (1: 32-bit, 2: 64-bit) and byte order `data` (1: little, 2:
    /// big) with one `PT_INTERP` program header naming `loader`.
    fn elf_with_loader(class: u8, data: u8, loader: &[u8]) -> Vec<u8> {
        let wide = class == 2;
        let put = |v: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            let mut b = bytes.to_vec();
            if data == 2 {
                b.reverse();
            }
            v[at..at + b.len()].copy_from_slice(&b);
        };
        let mut f = vec![0u8; 0x200];
        f[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', class, data]);
        let (phoff, phentsize, phnum, ph) = if wide {
            (0x20, 0x36, 0x38, 64usize)
        } else {
            (0x1c, 0x2a, 0x2c, 52usize)
        };
        if wide {
            put(&mut f, phoff, &(ph as u64).to_le_bytes());
            put(&mut f, phentsize, &56u16.to_le_bytes());
        } else {
            put(&mut f, phoff, &(ph as u32).to_le_bytes());
            put(&mut f, phentsize, &32u16.to_le_bytes());
        }
        put(&mut f, phnum, &1u16.to_le_bytes());
        put(&mut f, ph, &3u32.to_le_bytes());
        let name_at = 0x100;
        f[name_at..name_at + loader.len()].copy_from_slice(loader);
        let size = loader.len() + 1;
        if wide {
            put(&mut f, ph + 8, &(name_at as u64).to_le_bytes());
            put(&mut f, ph + 32, &(size as u64).to_le_bytes());
        } else {
            put(&mut f, ph + 4, &(name_at as u32).to_le_bytes());
            put(&mut f, ph + 16, &(size as u32).to_le_bytes());
        }
        f
    }

    #[test]
    fn elf_loaders_of_every_class_and_byte_order() {
        for class in [1, 2] {
            for data in [1, 2] {
                let f = elf_with_loader(class, data, b"/lib/ld-linux.so.2");
                assert_eq!(
                    elf_interpreter(&f),
                    Some(PathBuf::from("/lib/ld-linux.so.2")),
                    "class {class}, data {data}"
                );
            }
        }
        // The caller's own shell is dynamically linked.
        let sh = std::fs::read("/bin/sh").unwrap();
        assert!(elf_interpreter(&sh).is_some());
        assert_eq!(elf_interpreter(b"\x7fELF"), None);
        assert_eq!(elf_interpreter(&[0x7f; 100]), None);
        // Offsets at the end of the address space do not overflow.
        let mut huge = elf_with_loader(2, 1, b"/lib/x");
        huge[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(elf_interpreter(&huge), None);
        let mut huge = elf_with_loader(2, 1, b"/lib/x");
        huge[64 + 8..64 + 16].copy_from_slice(&(u64::MAX - 2).to_le_bytes());
        assert_eq!(elf_interpreter(&huge), None);
        assert_eq!(
            shebang_interpreter(b"#! /usr/bin/env python3\n"),
            Some(PathBuf::from("/usr/bin/env"))
        );
        assert_eq!(
            shebang_interpreter(b"#!/bin/sh\r\n"),
            Some(PathBuf::from("/bin/sh\r"))
        );
        assert_eq!(shebang_interpreter(b"#!\n"), None);
        assert_eq!(shebang_interpreter(b"echo\n"), None);
        let crlf = crate::error::ExecProblem::MissingInterpreter("/bin/sh\r".into());
        assert!(crlf.to_string().contains("Windows line endings"), "{crlf}");
    }

    proptest::proptest! {
        /// Whatever the bytes after the magic (offsets near usize::MAX, counts that run off
        /// the end), the parser returns, never panics.
        #[test]
        fn elf_parsing_never_panics(
            class in 0u8..4,
            data in 0u8..4,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            words in proptest::collection::vec((0usize..512, proptest::prelude::any::<u64>()), 0..8),
        ) {
            let mut f = vec![0x7f, b'E', b'L', b'F', class, data];
            f.extend(body);
            for (at, w) in words {
                if at + 8 <= f.len() {
                    f[at..at + 8].copy_from_slice(&w.to_le_bytes());
                }
            }
            let _ = elf_interpreter(&f);
        }
    }
}
