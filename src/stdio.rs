//! Standard streams of a contained process.

use std::fs::File;
use std::io::{PipeReader, PipeWriter};
use std::os::fd::OwnedFd;

/// Where a standard stream of the contained program goes; the same three choices as
/// [`std::process::Stdio`], plus any descriptor.
#[derive(Debug)]
pub struct Stdio(pub(crate) StdioKind);

#[derive(Debug)]
pub(crate) enum StdioKind {
    Inherit,
    Null,
    Piped,
    Fd(OwnedFd),
}

impl Stdio {
    /// The stream is the caller's own (the default for `spawn` and `status`).
    pub fn inherit() -> Stdio {
        Stdio(StdioKind::Inherit)
    }

    /// The stream is `/dev/null` (opened on the host, before the container's root is entered).
    pub fn null() -> Stdio {
        Stdio(StdioKind::Null)
    }

    /// A new pipe; the caller's end is in [`Child::stdin`](crate::Child::stdin) and friends.
    pub fn piped() -> Stdio {
        Stdio(StdioKind::Piped)
    }
}

impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(StdioKind::Fd(fd))
    }
}

impl From<File> for Stdio {
    fn from(f: File) -> Stdio {
        Stdio(StdioKind::Fd(f.into()))
    }
}

impl From<PipeReader> for Stdio {
    fn from(p: PipeReader) -> Stdio {
        Stdio(StdioKind::Fd(p.into()))
    }
}

impl From<PipeWriter> for Stdio {
    fn from(p: PipeWriter) -> Stdio {
        Stdio(StdioKind::Fd(p.into()))
    }
}
