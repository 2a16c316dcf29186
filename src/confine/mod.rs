//! The kernel's confinement layers beyond namespaces: Landlock rules and LSM (AppArmor,
//! SELinux) labels. Each is prepared in the parent and applied in the child with raw system
//! calls only (see `crate::sys::child` for where in the child's order).
//!
//! Both files are self-contained (std, `libc`, `landlock`, `thiserror` only), so that
//! `tests/landlock.rs` can compile them into a test binary and drive prepare and apply in a
//! forked child.

pub(crate) mod landlock;
pub(crate) mod lsm;
