//! File capabilities against the kernel and against `getcap`/`setcap` (Debian package
//! `libcap2-bin`) on real files under `/tmp`, including revision-3 capabilities written
//! inside user namespaces.
#![allow(unsafe_code)]

#[path = "../../ns/tests/common/mod.rs"]
mod common;

use std::fs;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::fs::chown;
use std::path::Path;
use std::process::Command;

use common::{TempDir, c, errno, fork};
use hutch_caps::{CapSet, Capability, FileCaps, FileCapsError, FileTarget};
use proptest::prelude::*;

/// What `getcap -n` prints for `path`, without the file name ("" for no capabilities).
fn getcap(path: &Path) -> String {
    let out = Command::new("getcap")
        .arg("-n")
        .arg(path)
        .output()
        .expect("getcap (Debian package libcap2-bin) must be installed");
    assert!(out.status.success(), "getcap {}: {:?}", path.display(), out);
    let text = String::from_utf8(out.stdout).unwrap();
    let text = text.trim_end_matches('\n');
    match text.strip_prefix(path.to_str().unwrap()) {
        Some(rest) => rest.trim_start().to_owned(),
        None => {
            assert!(text.is_empty(), "unexpected getcap output {text:?}");
            String::new()
        }
    }
}

fn setcap(text: &str, path: &Path) {
    let out = Command::new("setcap")
        .arg(text)
        .arg(path)
        .output()
        .expect("setcap (Debian package libcap2-bin) must be installed");
    assert!(
        out.status.success(),
        "setcap {text:?} {}: {:?}",
        path.display(),
        out
    );
}

/// A regular file in `dir`.
fn file(dir: &TempDir, name: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, b"#!/bin/sh\n").unwrap();
    path
}

fn raw_xattr(path: &Path) -> Vec<u8> {
    let p = c(path);
    let mut buf = [0u8; 64];
    // SAFETY: path and name are C strings, buf is writable for its length.
    let n = unsafe {
        libc::getxattr(
            p.as_ptr(),
            c"security.capability".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert!(n >= 0, "getxattr {}: errno {}", path.display(), errno());
    buf[..n as usize].to_vec()
}

fn fc(p: CapSet, i: CapSet, effective: bool) -> FileCaps {
    FileCaps {
        permitted: p,
        inheritable: i,
        effective,
        root_uid: None,
    }
}

#[test]
fn we_write_getcap_reads() {
    use Capability as C;
    let dir = TempDir::new("write");
    let path = file(&dir, "f");
    let all = CapSet::all_known_to_kernel().unwrap();
    let cases = [
        fc(C::NetRaw.into(), CapSet::empty(), true),
        fc(C::NetRaw.into(), CapSet::empty(), false),
        fc(C::NetAdmin | C::NetRaw, C::NetAdmin | C::NetRaw, true),
        fc(C::Chown | C::Kill, C::Chown.into(), true),
        fc(CapSet::empty(), C::Setuid.into(), false),
        fc(all, CapSet::empty(), true),
        fc(all - C::SysAdmin, CapSet::empty(), true),
        fc(all, all - C::Bpf, false),
        fc(CapSet::docker_default(), CapSet::empty(), true),
    ];
    for caps in cases {
        caps.write(&path).unwrap();
        assert_eq!(getcap(&path), caps.to_string(), "{caps:?}");
        assert_eq!(FileCaps::read(&path).unwrap(), Some(caps));
        assert_eq!(raw_xattr(&path), caps.to_xattr());
    }
}

#[test]
fn setcap_writes_we_read() {
    let dir = TempDir::new("setcap");
    let path = file(&dir, "f");
    for text in [
        "cap_net_raw+ep",
        "cap_net_admin,cap_net_raw=eip",
        "cap_kill=eip cap_chown+ep",
        "cap_setuid+i",
        "=ep cap_sys_admin-ep",
        "all=p",
        "cap_sys_ptrace,cap_bpf=ip",
    ] {
        setcap(text, &path);
        let ours = FileCaps::read(&path)
            .unwrap()
            .expect("setcap wrote capabilities");
        assert_eq!(Ok(ours), text.parse::<FileCaps>(), "{text}");
        assert_eq!(getcap(&path), ours.to_string(), "{text}");
        assert_eq!(ours.revision(), 2);
    }
}

/// Texts `setcap` accepts or refuses, and what `getcap` then prints: our parser agrees on
/// each (accepts what it accepts, with the same result; refuses what it refuses).
#[test]
fn the_text_form_is_parsed_as_setcap_parses_it() {
    let dir = TempDir::new("setcap-texts");
    let path = file(&dir, "f");
    for text in [
        "cap_net_raw=e",
        "cap_chown,cap_kill+ep cap_kill-p",
        "cap_net_raw+EP",
        "CAP_NET_RAW+ep",
        "cap_net_raw+ep-e",
        "=e",
        "cap_kill=p cap_kill+e",
        "cap_kill+e",
        "all+ep all-p",
        "cap_net_raw,cap_kill=ep cap_kill-e",
        "cap_kill+pe cap_chown+p",
        "= cap_kill+p",
        "cap_kill",
        "cap_kill+",
        "cap_kill=pie-i",
        "40+p",
        "cap_nope+p",
        "cap_kill+x",
    ] {
        let _ = Command::new("setcap").args(["-r"]).arg(&path).output();
        let theirs = Command::new("setcap")
            .arg(text)
            .arg(&path)
            .output()
            .expect("setcap (libcap2-bin)")
            .status
            .success()
            .then(|| getcap(&path));
        let ours = text.parse::<FileCaps>().ok().map(|c| c.to_string());
        assert_eq!(ours, theirs, "{text:?}: ours, then setcap + getcap");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random sets, both directions.
    #[test]
    fn random_sets_agree_with_libcap(p in any::<u64>(), i in any::<u64>(), effective in any::<bool>()) {
        let all = CapSet::all_known_to_kernel().unwrap();
        let caps = fc(CapSet::from_bits(p) & all, CapSet::from_bits(i) & all, effective);
        prop_assume!(!(caps.permitted | caps.inheritable).is_empty());
        let dir = TempDir::new("random");
        let ours = file(&dir, "ours");
        caps.write(&ours).unwrap();
        prop_assert_eq!(getcap(&ours), caps.to_string());
        let theirs = file(&dir, "theirs");
        setcap(&caps.to_string(), &theirs);
        prop_assert_eq!(FileCaps::read(&theirs).unwrap(), Some(caps));
        prop_assert_eq!(raw_xattr(&theirs), caps.to_xattr());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Sets where one state dominates, so libcap's "most common state first" form (`=ep
    /// cap_x-e ...`) is exercised with every base.
    #[test]
    fn dominant_state_agrees_with_getcap(
        base in 0u8..4,
        picks in proptest::collection::vec((0u8..10, 0u8..4), 41),
        effective in any::<bool>(),
    ) {
        let (mut p, mut i) = (CapSet::empty(), CapSet::empty());
        for (n, (w, other)) in picks.into_iter().enumerate() {
            let state = if w < 7 { base } else { other };
            let cap = Capability::from_number(n as u8).unwrap();
            if state & 1 != 0 { p.insert(cap); }
            if state & 2 != 0 { i.insert(cap); }
        }
        prop_assume!(!(p | i).is_empty());
        let caps = fc(p, i, effective);
        let dir = TempDir::new("dominant");
        let ours = file(&dir, "ours");
        caps.write(&ours).unwrap();
        prop_assert_eq!(getcap(&ours), caps.to_string());
        let theirs = file(&dir, "theirs");
        setcap(&caps.to_string(), &theirs);
        prop_assert_eq!(FileCaps::read(&theirs).unwrap(), Some(caps));
    }
}

#[test]
fn fd_variants_and_removal() {
    let dir = TempDir::new("fd");
    let path = file(&dir, "f");
    let f = fs::File::open(&path).unwrap();
    assert_eq!(FileCaps::read_fd(&f).unwrap(), None);
    assert!(!FileCaps::remove_fd(&f).unwrap());
    let caps = fc(Capability::NetBindService.into(), CapSet::empty(), true);
    caps.write_fd(&f).unwrap();
    assert_eq!(getcap(&path), "cap_net_bind_service=ep");
    assert_eq!(FileCaps::read_fd(&f).unwrap(), Some(caps));
    assert!(FileCaps::remove_fd(&f).unwrap());
    assert_eq!(getcap(&path), "");
    setcap("cap_kill+p", &path);
    assert!(FileCaps::remove(&path).unwrap());
    assert!(!FileCaps::remove(&path).unwrap());
    assert_eq!(FileCaps::read(&path).unwrap(), None);
    assert_eq!(getcap(&path), "");
}

#[test]
fn errors_name_the_file() {
    let dir = TempDir::new("errors");
    let missing = dir.path().join("missing");
    match FileCaps::read(&missing) {
        Err(FileCapsError::Read { target, source }) => {
            assert_eq!(target, FileTarget::Path(missing.clone()));
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("{other:?}"),
    }
    let e = fc(Capability::Kill.into(), CapSet::empty(), true)
        .write(&missing)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot write security.capability (cap_kill=ep) to {}",
            missing.display()
        )
    );
    assert!(matches!(
        FileCaps::read("/tmp/a\0b"),
        Err(FileCapsError::NulInPath { .. })
    ));
    // A value the kernel keeps but this crate must reject: written raw, too long.
    let path = file(&dir, "bad");
    let p = c(&path);
    let junk = [0u8; 28];
    // SAFETY: C strings and a readable buffer. The kernel refuses invalid capability values.
    let r = unsafe {
        libc::setxattr(
            p.as_ptr(),
            c"security.capability".as_ptr(),
            junk.as_ptr().cast(),
            junk.len(),
            0,
        )
    };
    assert_eq!((r, errno()), (-1, i64::from(libc::EINVAL)));
}

/// Root of the init user namespace may write any root uid (`setcap -n`); root uid 0 is
/// shown back as revision 2.
#[test]
fn host_root_writes_revision3() {
    let dir = TempDir::new("v3host");
    let path = file(&dir, "f");
    let caps = FileCaps {
        root_uid: Some(5),
        ..fc(Capability::Kill.into(), CapSet::empty(), true)
    };
    caps.write(&path).unwrap();
    assert_eq!(FileCaps::read(&path).unwrap(), Some(caps));
    assert_eq!(getcap(&path), "cap_kill=ep [rootid=5]");
    assert_eq!(raw_xattr(&path).len(), 24);
    let zero = FileCaps {
        root_uid: Some(0),
        ..caps
    };
    zero.write(&path).unwrap();
    let back = FileCaps::read(&path).unwrap().unwrap();
    assert_eq!(back.root_uid, None);
    assert_eq!(back.revision(), 2);
    assert_eq!(getcap(&path), "cap_kill=ep");
}

/// In a user namespace whose root is host uid 100000, this crate writes the capability;
/// the kernel stores revision 3 with root uid 100000, which the host reads back.
#[test]
fn revision3_written_in_user_namespace() {
    const HOST_ROOT: u32 = 100_000;
    let dir = TempDir::new("v3userns");
    let path = file(&dir, "f");
    chown(&path, Some(HOST_ROOT), Some(HOST_ROOT)).unwrap();
    let cpath = c(&path);
    let mut child = fork(|side| {
        side.send(common::unshare(libc::CLONE_NEWUSER));
        side.wait(); // id maps written
        // SAFETY: opening a C string path; the fd is owned below.
        let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            side.send(-errno());
            return 1;
        }
        // SAFETY: fd was just opened and is closed when `owned` drops.
        let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let fd: BorrowedFd<'_> = std::os::fd::AsFd::as_fd(&owned);
        // Revision 2 from inside: the kernel makes it revision 3.
        let v2 = fc(Capability::NetRaw.into(), CapSet::empty(), true);
        side.send(v2.write_fd(fd).map_or(-1, |()| 0));
        // Inside, the namespace's own root sees it as revision 2.
        let seen = FileCaps::read_fd(fd).ok().flatten();
        side.send(seen.map_or(-1, |s| i64::from(s.revision())));
        side.send(i64::from(seen == Some(v2)));
        side.wait();
        // Revision 3 with the namespace's root (0 inside) written explicitly.
        let v3 = FileCaps {
            root_uid: Some(0),
            ..fc(Capability::Kill.into(), Capability::Kill.into(), false)
        };
        side.send(v3.write_fd(fd).map_or(-1, |()| 0));
        0
    });
    assert_eq!(child.recv(), 0, "unshare(CLONE_NEWUSER)");
    let map = format!("0 {HOST_ROOT} 1\n");
    fs::write(format!("/proc/{}/uid_map", child.id()), &map).unwrap();
    fs::write(format!("/proc/{}/gid_map", child.id()), &map).unwrap();
    child.go(1);
    assert_eq!(child.recv(), 0, "write in the user namespace");
    assert_eq!(child.recv(), 2, "revision seen inside");
    assert_eq!(child.recv(), 1, "same capabilities seen inside");

    let host = FileCaps::read(&path).unwrap().unwrap();
    assert_eq!(
        host,
        FileCaps {
            root_uid: Some(HOST_ROOT),
            ..fc(Capability::NetRaw.into(), CapSet::empty(), true)
        }
    );
    let raw = raw_xattr(&path);
    assert_eq!(raw.len(), 24);
    assert_eq!(
        &raw[..4],
        &[1, 0, 0, 3],
        "revision 3 with the effective flag"
    );
    assert_eq!(&raw[20..], &HOST_ROOT.to_le_bytes());
    assert_eq!(getcap(&path), "cap_net_raw=ep [rootid=100000]");

    child.go(1);
    assert_eq!(child.recv(), 0, "revision-3 write in the user namespace");
    assert_eq!(child.wait(), 0);
    let host = FileCaps::read(&path).unwrap().unwrap();
    assert_eq!(host.root_uid, Some(HOST_ROOT));
    assert_eq!(getcap(&path), "cap_kill=ip [rootid=100000]");
}

/// `setcap` run by an unprivileged uid inside `unshare --user --map-root-user`; the host
/// reads revision 3 with that uid as root.
#[test]
fn setcap_in_user_namespace() {
    const UID: u32 = 100_001;
    let dir = TempDir::new("v3setcap");
    let path = file(&dir, "f");
    chown(&path, Some(UID), Some(UID)).unwrap();
    let out = Command::new("setpriv")
        .args([
            format!("--reuid={UID}"),
            format!("--regid={UID}"),
            "--clear-groups".to_owned(),
            "unshare".to_owned(),
            "--user".to_owned(),
            "--map-root-user".to_owned(),
            "setcap".to_owned(),
            "cap_net_bind_service,cap_net_raw+ep".to_owned(),
        ])
        .arg(&path)
        .output()
        .expect("setpriv and unshare (util-linux) must be installed");
    assert!(out.status.success(), "{out:?}");
    let host = FileCaps::read(&path).unwrap().unwrap();
    assert_eq!(host.root_uid, Some(UID));
    assert_eq!(
        host.permitted,
        Capability::NetBindService | Capability::NetRaw
    );
    assert!(host.effective);
    let raw = raw_xattr(&path);
    assert_eq!((raw.len(), raw[3]), (24, 3));
    assert_eq!(&raw[20..], &UID.to_le_bytes());
    assert_eq!(
        getcap(&path),
        format!("cap_net_bind_service,cap_net_raw=ep [rootid={UID}]")
    );
}
