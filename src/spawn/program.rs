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

/// What an exec failure was about, found after the fact: the interpreter of a script that
/// exists (the kernel answers `ENOENT` for a missing interpreter, naming nothing), or a
/// directory given as the program. Looked up on the host's tree, and only when the container
/// sees the same tree (no rootfs), so nothing of a rootfs is misread.
pub(crate) fn explain_exec_failure(path: &Path, errno: i32) -> Option<(PathBuf, &'static str)> {
    match errno {
        libc::ENOENT => {
            let mut f = std::fs::File::open(path).ok()?;
            let mut head = [0u8; 256];
            let n = f.read(&mut head).ok()?;
            let line = head[..n].strip_prefix(b"#!")?;
            let line = line.split(|b| *b == b'\n').next()?;
            let interp = line
                .split(|b| *b == b' ' || *b == b'\t')
                .find(|w| !w.is_empty())?;
            Some((
                PathBuf::from(OsStr::from_bytes(interp)),
                "the script's interpreter does not exist",
            ))
        }
        libc::EACCES if path.is_dir() => Some((path.to_owned(), "is a directory")),
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
    fn a_missing_interpreter_is_named() {
        let dir = std::env::temp_dir().join(format!("hutch-shebang-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("s");
        std::fs::write(&script, "#!/no/such/interpreter -x\necho\n").unwrap();
        let got = explain_exec_failure(&script, libc::ENOENT);
        assert_eq!(
            got.map(|g| g.0),
            Some(PathBuf::from("/no/such/interpreter"))
        );
        assert_eq!(
            explain_exec_failure(&dir, libc::EACCES).map(|g| g.1),
            Some("is a directory")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
