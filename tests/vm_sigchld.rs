//! The caller that ignores `SIGCHLD` (`tests/sigchld_ignored.rs`) on the VM's kernel, Linux 6.1:
//! before 6.15 the kernel keeps no exit status for a child it reaped by itself (no
//! `PIDFD_GET_INFO`), so this proves the library's other path there. Its own binary, because
//! the disposition is process-wide.
#![cfg(feature = "vm-tests")]

#[path = "sigchld_ignored.rs"]
mod sigchld_ignored;
