//! Raw `bpf(2)` calls for the cgroup device filter.
//!
//! Each command takes a `union bpf_attr`; this module declares, per command, a
//! `#[repr(C)]` struct with the leading fields of that command's member of the union, in
//! the kernel's layout, and passes its size. The kernel accepts an attribute smaller than
//! its own `union bpf_attr` and treats the missing tail as zero.
//!
//! # Safety
//!
//! Every call passes a pointer to a live, fully initialised attribute struct together
//! with its exact size. Pointers stored inside the attribute (instructions, license,
//! log buffer, id array, info struct) point to live buffers of at least the length
//! stated next to them, and the buffers the kernel writes to are borrowed mutably for
//! the duration of the call. File descriptors returned by the kernel are new and owned
//! by nobody else, so wrapping them in `OwnedFd` is sound.
//!
//! # References
//!
//! - [`bpf(2)`](https://man7.org/linux/man-pages/man2/bpf.2.html)
//! - `include/uapi/linux/bpf.h` in the kernel sources

use std::ffi::CString;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::device::BpfInsn;

// Commands (`enum bpf_cmd`).
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_PROG_QUERY: libc::c_int = 16;

/// `BPF_PROG_TYPE_CGROUP_DEVICE` (`enum bpf_prog_type`).
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;

/// `BPF_CGROUP_DEVICE` (`enum bpf_attach_type`).
pub(crate) const BPF_CGROUP_DEVICE: u32 = 6;

/// Attach flag: several programs may be attached to one cgroup.
pub(crate) const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
/// Attach flag: replace the program given in `replace_bpf_fd`.
pub(crate) const BPF_F_REPLACE: u32 = 1 << 2;

/// `BPF_OBJ_NAME_LEN`.
const OBJ_NAME_LEN: usize = 16;

/// The size of the verifier log buffer used after a failed load.
const LOG_SIZE: usize = 256 * 1024;

/// The `BPF_PROG_LOAD` member of `union bpf_attr`, up to `expected_attach_type`.
// Fields the kernel reads but Rust never does.
#[allow(dead_code)]
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; OBJ_NAME_LEN],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` / `BPF_PROG_DETACH` member, up to `replace_bpf_fd`.
// Fields the kernel reads but Rust never does.
#[allow(dead_code)]
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// The `BPF_PROG_QUERY` member, up to `prog_cnt` (and its padding).
// Fields the kernel reads but Rust never does.
#[allow(dead_code)]
#[repr(C)]
#[derive(Default)]
struct ProgQueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// The `BPF_PROG_GET_FD_BY_ID` member.
// Fields the kernel reads but Rust never does.
#[allow(dead_code)]
#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// The `BPF_OBJ_GET_INFO_BY_FD` member.
// Fields the kernel reads but Rust never does.
#[allow(dead_code)]
#[repr(C)]
#[derive(Default)]
struct InfoByFdAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `struct bpf_prog_info`, up to `name`.
// Fields the kernel fills in; only some are read.
#[allow(dead_code)]
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub(crate) struct ProgInfo {
    pub(crate) prog_type: u32,
    pub(crate) id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; OBJ_NAME_LEN],
}

impl ProgInfo {
    /// The program name without the trailing NULs.
    pub(crate) fn name(&self) -> &[u8] {
        let len = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(OBJ_NAME_LEN);
        &self.name[..len]
    }
}

/// Calls `bpf(cmd, attr, sizeof *attr)`.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised `#[repr(C)]` attribute struct of exactly
    // `size_of::<T>()` bytes; the pointers inside it are the caller's responsibility and
    // documented at each call site.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Calls `bpf(cmd, ..)` for a command that returns a new fd.
fn bpf_fd<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<OwnedFd> {
    let fd = bpf(cmd, attr)?;
    // SAFETY: on success these commands return a new file descriptor (opened with
    // O_CLOEXEC by the kernel) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}

/// Loads a `BPF_PROG_TYPE_CGROUP_DEVICE` program.
///
/// The first attempt runs without a verifier log (a log buffer that is too small would
/// itself make the load fail); if the kernel refuses the program, it is loaded again with
/// a log to explain why. On failure returns the first error and the verifier log.
pub(crate) fn prog_load_cgroup_device(
    insns: &[BpfInsn],
    name: &str,
    license: &str,
) -> Result<OwnedFd, (io::Error, String)> {
    let license = CString::new(license).expect("the license string has no NUL");
    let mut prog_name = [0u8; OBJ_NAME_LEN];
    let len = name.len().min(OBJ_NAME_LEN - 1);
    prog_name[..len].copy_from_slice(&name.as_bytes()[..len]);
    let Ok(insn_cnt) = u32::try_from(insns.len()) else {
        return Err((io::Error::from_raw_os_error(libc::E2BIG), String::new()));
    };
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt,
        // `insns` holds `insn_cnt` instructions in the kernel's layout; `license` is
        // NUL-terminated. Both outlive the calls below.
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name,
        ..ProgLoadAttr::default()
    };
    let first = match bpf_fd(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => return Ok(fd),
        Err(e) => e,
    };
    let mut log = vec![0u8; LOG_SIZE];
    attr.log_level = 1;
    attr.log_size = LOG_SIZE as u32;
    // `log` is a writable buffer of `LOG_SIZE` bytes, alive for the call.
    attr.log_buf = log.as_mut_ptr() as u64;
    match bpf_fd(BPF_PROG_LOAD, &mut attr) {
        // Loads with a log but not without one: report the first failure anyway rather
        // than hide a flaky kernel.
        Ok(_fd) => Err((first, String::new())),
        Err(_) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err((first, String::from_utf8_lossy(&log[..end]).into_owned()))
        }
    }
}

/// Attaches `prog` to the cgroup `target` (`BPF_PROG_ATTACH`).
pub(crate) fn prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
    replace: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut attr = ProgAttachAttr {
        target_fd: fd_u32(target),
        attach_bpf_fd: fd_u32(prog),
        attach_type,
        attach_flags: flags,
        replace_bpf_fd: replace.map(fd_u32).unwrap_or(0),
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// Detaches `prog` from the cgroup `target` (`BPF_PROG_DETACH`).
pub(crate) fn prog_detach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    let mut attr = ProgAttachAttr {
        target_fd: fd_u32(target),
        attach_bpf_fd: fd_u32(prog),
        attach_type,
        ..ProgAttachAttr::default()
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// Lists the ids of the programs attached directly to `target` (`BPF_PROG_QUERY`).
pub(crate) fn prog_query(target: BorrowedFd<'_>, attach_type: u32) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    loop {
        let mut attr = ProgQueryAttr {
            target_fd: fd_u32(target),
            attach_type,
            // `ids` has room for `prog_cnt` ids and is alive for the call.
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..ProgQueryAttr::default()
        };
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            // Too small: the kernel stored the real count in `prog_cnt`.
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                let wanted = (attr.prog_cnt as usize).max(ids.len() * 2);
                ids.resize(wanted, 0);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Opens a program by id (`BPF_PROG_GET_FD_BY_ID`).
pub(crate) fn prog_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        ..GetFdByIdAttr::default()
    };
    bpf_fd(BPF_PROG_GET_FD_BY_ID, &mut attr)
}

/// Reads a program's id, type and name (`BPF_OBJ_GET_INFO_BY_FD`).
pub(crate) fn prog_info(prog: BorrowedFd<'_>) -> io::Result<ProgInfo> {
    let mut info = ProgInfo::default();
    let mut attr = InfoByFdAttr {
        bpf_fd: fd_u32(prog),
        info_len: size_of::<ProgInfo>() as u32,
        // `info` is writable, `info_len` bytes long and alive for the call; all its
        // pointer fields are 0, so the kernel copies no arrays.
        info: &mut info as *mut ProgInfo as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_layouts_match_the_kernel() {
        // Offsets from include/uapi/linux/bpf.h.
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, log_buf), 32);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(size_of::<ProgAttachAttr>(), 20);
        assert_eq!(std::mem::offset_of!(ProgQueryAttr, prog_ids), 16);
        assert_eq!(std::mem::offset_of!(ProgQueryAttr, prog_cnt), 24);
        assert_eq!(std::mem::offset_of!(ProgInfo, name), 64);
        assert_eq!(size_of::<BpfInsn>(), 8);
    }

    /// Needs root (`CAP_BPF`): a program that returns an unset r0 is refused, and the
    /// error carries the errno and the verifier's explanation.
    #[test]
    fn a_refused_program_comes_with_the_verifier_log() {
        let exit = BpfInsn {
            code: 0x95,
            regs: 0,
            off: 0,
            imm: 0,
        };
        let (err, log) = prog_load_cgroup_device(&[exit], "hutch_test", "MIT").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{err}");
        assert!(log.contains("R0 !read_ok"), "{log}");
    }
}
