//! The container's init as a tiny program of its own, exec'd from a sealed memfd.
//!
//! [`Container::init`](crate::Container::init) puts an init at PID 1 of the container. It must
//! not be a copy of the caller: a process that never execs keeps the caller's memory and
//! descriptors for the container's whole life, readable through `/proc/1/mem` by anything in
//! the container that may ptrace it. So the init is a separate program of about 200 bytes,
//! written below in assembly, wrapped in a minimal static ELF image when first needed, and
//! kept in a sealed `memfd` (no write, grow or shrink: a container that opens `/proc/1/exe`
//! cannot change the init of later containers, the runc CVE-2019-5736 class). The spawn child
//! `execveat`s it; `/proc/1/exe` inside then shows `/memfd:hutch-init (deleted)`, and nothing
//! of the host.
//!
//! The program is started as `hutch-init <pid of the main program>`, with every signal
//! blocked and every disposition at its default (inherited from the spawn child). It:
//!
//! 1. blocks every signal (again, in case), and closes every descriptor (`close_range`);
//! 2. waits for signals with `rt_sigtimedwait`: `SIGCHLD` reaps every ended child (`wait4`
//!    with `WNOHANG` until none is left); any other signal is forwarded to the main program
//!    with `kill`;
//! 3. when the main program has ended, exits with its status: its exit code, or 128+N when it
//!    was killed by signal N. The kernel then kills whatever else is left in the pid
//!    namespace.
//!
//! Because every signal stays blocked from before the spawn child forks the program until the
//! init waits for them, no signal can kill the init or be lost in between (blocked signals
//! stay pending across `execve`).
//!
//! Only x86_64 has the program today; elsewhere [`image`] is `None` and the spawn falls back to
//! an init that is a copy of the caller (documented on `Container::init`).

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".pushsection .rodata.hutch_init_program,\"a\",@progbits",
    ".p2align 4",
    ".globl hutch_init_program_v1_start",
    ".hidden hutch_init_program_v1_start",
    "hutch_init_program_v1_start:",
    // r12 = the main program's pid, parsed from argv[1] (decimal).
    "mov rsi, [rsp + 16]",
    "xor r12d, r12d",
    "2:",
    "movzx eax, byte ptr [rsi]",
    "test eax, eax",
    "jz 3f",
    "sub eax, 48",
    "imul r12, r12, 10",
    "add r12, rax",
    "inc rsi",
    "jmp 2b",
    "3:",
    // Scratch: [rsp] sigset (all ones), [rsp+16] siginfo (128 bytes), [rsp+160] wait status.
    "sub rsp, 256",
    "and rsp, -16",
    "mov qword ptr [rsp], -1",
    // rt_sigprocmask(SIG_BLOCK, &all, NULL, 8)
    "mov eax, 14",
    "xor edi, edi",
    "mov rsi, rsp",
    "xor edx, edx",
    "mov r10d, 8",
    "syscall",
    // close_range(0, ~0U, 0): keep nothing of the spawn (the program's stdio, the report pipe).
    "mov eax, 436",
    "xor edi, edi",
    "mov esi, -1",
    "xor edx, edx",
    "syscall",
    "4:",
    // rt_sigtimedwait(&all, &info, NULL, 8)
    "mov eax, 128",
    "mov rdi, rsp",
    "lea rsi, [rsp + 16]",
    "xor edx, edx",
    "mov r10d, 8",
    "syscall",
    "test rax, rax",
    "js 4b",
    "cmp eax, 17",
    "je 5f",
    // kill(main, sig)
    "mov esi, eax",
    "mov edi, r12d",
    "mov eax, 62",
    "syscall",
    "jmp 4b",
    "5:",
    // wait4(-1, &status, WNOHANG, NULL) until nothing is left to reap.
    "mov eax, 61",
    "mov edi, -1",
    "lea rsi, [rsp + 160]",
    "mov edx, 1",
    "xor r10d, r10d",
    "syscall",
    "test rax, rax",
    "jle 4b",
    "cmp eax, r12d",
    "jne 5b",
    // The main program ended: exit with its code, or 128 + the signal that killed it.
    "mov eax, dword ptr [rsp + 160]",
    "mov ecx, eax",
    "and ecx, 127",
    "jz 6f",
    "lea edi, [rcx + 128]",
    "jmp 7f",
    "6:",
    "shr eax, 8",
    "movzx edi, al",
    "7:",
    "mov eax, 231",
    "syscall",
    "ud2",
    ".globl hutch_init_program_v1_end",
    ".hidden hutch_init_program_v1_end",
    "hutch_init_program_v1_end:",
    ".popsection",
);

#[cfg(target_arch = "x86_64")]
unsafe extern "C" {
    static hutch_init_program_v1_start: u8;
    static hutch_init_program_v1_end: u8;
}

/// The init's machine code.
#[cfg(target_arch = "x86_64")]
fn code() -> &'static [u8] {
    // SAFETY: both symbols are defined by the `global_asm!` above, in one read-only section,
    // start before end; the bytes between them are the program and are never written.
    unsafe {
        let start = &raw const hutch_init_program_v1_start;
        let end = &raw const hutch_init_program_v1_end;
        std::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}

/// Where the image is loaded (a fixed address: the program is position-independent anyway).
const LOAD_ADDRESS: u64 = 0x40_0000;
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;

/// A minimal static ELF64 executable for x86_64: one header, one `PT_LOAD` segment (read and
/// execute) that maps the whole file, entry right after the headers.
fn elf_image(code: &[u8], machine: u16) -> Vec<u8> {
    let entry_off = (EHDR_SIZE + PHDR_SIZE) as u64;
    let total = entry_off + code.len() as u64;
    let mut v = Vec::with_capacity(total as usize);
    // e_ident: magic, 64-bit, little endian, version 1, System V ABI, padding.
    v.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    v.extend_from_slice(&machine.to_le_bytes()); // e_machine
    v.extend_from_slice(&1u32.to_le_bytes()); // e_version
    v.extend_from_slice(&(LOAD_ADDRESS + entry_off).to_le_bytes()); // e_entry
    v.extend_from_slice(&(EHDR_SIZE as u64).to_le_bytes()); // e_phoff
    v.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    v.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    v.extend_from_slice(&(EHDR_SIZE as u16).to_le_bytes()); // e_ehsize
    v.extend_from_slice(&(PHDR_SIZE as u16).to_le_bytes()); // e_phentsize
    v.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    v.extend_from_slice(&0u16.to_le_bytes()); // e_shentsize
    v.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    v.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
    debug_assert_eq!(v.len(), EHDR_SIZE);
    // The program header.
    v.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
    v.extend_from_slice(&5u32.to_le_bytes()); // p_flags: PF_R | PF_X
    v.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    v.extend_from_slice(&LOAD_ADDRESS.to_le_bytes()); // p_vaddr
    v.extend_from_slice(&LOAD_ADDRESS.to_le_bytes()); // p_paddr
    v.extend_from_slice(&total.to_le_bytes()); // p_filesz
    v.extend_from_slice(&total.to_le_bytes()); // p_memsz
    v.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    debug_assert_eq!(v.len(), EHDR_SIZE + PHDR_SIZE);
    v.extend_from_slice(code);
    v
}

/// `EM_X86_64`.
#[cfg(target_arch = "x86_64")]
const MACHINE: u16 = 62;

/// The init's executable image, or `None` on architectures without one.
pub(crate) fn image() -> Option<Vec<u8>> {
    #[cfg(target_arch = "x86_64")]
    {
        Some(elf_image(code(), MACHINE))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// `MFD_EXEC` (Linux 6.3): asks for an executable memfd where `vm.memfd_noexec` would
/// otherwise make it non-executable.
const MFD_EXEC: libc::c_uint = 0x10;

/// The sealed memfd holding the init, made once per process. `Ok(None)` where there is no
/// init program for this architecture.
///
/// # Errors
///
/// `memfd_create`, the write or the seals failed; kept, so every later spawn with an init
/// reports the same error.
pub(crate) fn memfd() -> Result<Option<&'static OwnedFd>, io::Error> {
    static FD: OnceLock<Result<Option<OwnedFd>, i32>> = OnceLock::new();
    match FD.get_or_init(|| make_memfd().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))) {
        Ok(fd) => Ok(fd.as_ref()),
        Err(errno) => Err(io::Error::from_raw_os_error(*errno)),
    }
}

fn make_memfd() -> io::Result<Option<OwnedFd>> {
    let Some(image) = image() else {
        return Ok(None);
    };
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: a NUL-terminated name and plain flags; checked below.
    let mut fd = unsafe { libc::memfd_create(c"hutch-init".as_ptr(), flags | MFD_EXEC) };
    if fd == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // Before 6.3 there is no MFD_EXEC, and memfds are executable.
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(c"hutch-init".as_ptr(), flags) };
    }
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: memfd_create returned a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(fd);
    io::Write::write_all(&mut file, &image)?;
    let fd = OwnedFd::from(file);
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(Some(fd))
}

/// Writes `pid` in decimal into `buf` followed by a NUL; returns the length without the NUL.
/// Used by the spawn child, so it neither allocates nor formats.
pub(crate) fn decimal(mut pid: u32, buf: &mut [u8; 12]) -> usize {
    let mut digits = [0u8; 10];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (pid % 10) as u8;
        n += 1;
        pid /= 10;
        if pid == 0 {
            break;
        }
    }
    for i in 0..n {
        buf[i] = digits[n - 1 - i];
    }
    buf[n] = 0;
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_formats_like_display() {
        for pid in [0u32, 1, 9, 10, 99, 100, 4_194_304, u32::MAX] {
            let mut buf = [0xffu8; 12];
            let n = decimal(pid, &mut buf);
            assert_eq!(&buf[..n], pid.to_string().as_bytes());
            assert_eq!(buf[n], 0);
        }
    }

    #[test]
    fn image_is_a_small_static_executable() {
        let Some(img) = image() else { return };
        assert_eq!(&img[..4], b"\x7fELF");
        assert!(img.len() < 512, "{} bytes", img.len());
        let entry = u64::from_le_bytes(img[24..32].try_into().unwrap());
        assert_eq!(entry, LOAD_ADDRESS + (EHDR_SIZE + PHDR_SIZE) as u64);
    }
}
