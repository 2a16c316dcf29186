//! Errors of the netlink layer.

use std::fmt;
use std::io;

use hutch_ns::NsError;

/// A netlink operation, named in [`NetlinkError`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Opening the socket.
    Open,
    /// `RTM_GETLINK` of one link.
    GetLink,
    /// `RTM_GETLINK` dump.
    ListLinks,
    /// `RTM_NEWLINK` of a veth pair.
    CreateVeth,
    /// `RTM_NEWLINK` of a bridge.
    CreateBridge,
    /// `RTM_SETLINK` with `IFLA_MASTER`.
    SetMaster,
    /// `RTM_SETLINK` setting `IFF_UP`.
    SetUp,
    /// `RTM_SETLINK` clearing `IFF_UP`.
    SetDown,
    /// `RTM_SETLINK` with `IFLA_MTU`.
    SetMtu,
    /// `RTM_SETLINK` with `IFLA_ADDRESS`.
    SetMac,
    /// `RTM_SETLINK` with `IFLA_IFNAME`.
    Rename,
    /// `RTM_SETLINK` with `IFLA_IFALIAS`.
    SetAlias,
    /// `RTM_SETLINK` with `IFLA_NET_NS_FD`.
    MoveToNetns,
    /// `RTM_DELLINK`.
    DeleteLink,
    /// `RTM_NEWADDR`.
    AddAddress,
    /// `RTM_DELADDR`.
    DeleteAddress,
    /// `RTM_GETADDR` dump.
    ListAddresses,
    /// `RTM_NEWROUTE`.
    AddRoute,
    /// `RTM_DELROUTE`.
    DeleteRoute,
    /// `RTM_GETROUTE` dump.
    ListRoutes,
    /// An nf_tables batch (`NFNL_MSG_BATCH_BEGIN` … `END`).
    NftBatch,
    /// An nf_tables dump (`NFT_MSG_GETCHAIN`, ...).
    NftList,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Open => "open netlink socket",
            Op::GetLink => "get link",
            Op::ListLinks => "list links",
            Op::CreateVeth => "create veth pair",
            Op::CreateBridge => "create bridge",
            Op::SetMaster => "set master of",
            Op::SetUp => "set up",
            Op::SetDown => "set down",
            Op::SetMtu => "set MTU of",
            Op::SetMac => "set MAC address of",
            Op::Rename => "rename",
            Op::SetAlias => "set the alias of",
            Op::MoveToNetns => "move to another network namespace",
            Op::DeleteLink => "delete link",
            Op::AddAddress => "add address",
            Op::DeleteAddress => "delete address",
            Op::ListAddresses => "list addresses",
            Op::AddRoute => "add route",
            Op::DeleteRoute => "delete route",
            Op::ListRoutes => "list routes",
            Op::NftBatch => "apply nf_tables batch",
            Op::NftList => "list nf_tables objects",
        })
    }
}

/// An error from a netlink operation.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The socket could not be opened (or bound, or configured).
    #[error("cannot open a netlink socket")]
    Socket {
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Entering the target namespace (in the helper thread that opens the socket) failed.
    #[error("cannot open a netlink socket in another network namespace")]
    Namespace {
        /// What went wrong.
        #[source]
        source: NsError,
    },
    /// Sending or receiving failed.
    #[error("netlink I/O failed during {op} {subject}")]
    Io {
        /// The operation.
        op: Op,
        /// What it was applied to (an interface name or index, an address, a route).
        subject: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel refused the request: `EEXIST` when a name is taken, `ENODEV` for a
    /// missing interface, `EPERM` without `CAP_NET_ADMIN`, ...
    #[error("cannot {op} {subject}{}", message.as_deref().map(|m| format!(" (kernel: {m})")).unwrap_or_default())]
    Kernel {
        /// The operation.
        op: Op,
        /// What it was applied to.
        subject: String,
        /// The kernel's extended-ack message, if it sent one.
        message: Option<String>,
        /// The errno as an OS error.
        #[source]
        source: io::Error,
    },
    /// A reply could not be decoded.
    #[error("malformed netlink reply during {op} {subject}")]
    Decode {
        /// The operation.
        op: Op,
        /// What it was applied to.
        subject: String,
        /// An `InvalidData` error describing the problem.
        #[source]
        source: io::Error,
    },
}

impl NetlinkError {
    /// The errno the kernel (or the OS) reported, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Socket { source }
            | NetlinkError::Io { source, .. }
            | NetlinkError::Kernel { source, .. } => source.raw_os_error(),
            NetlinkError::Namespace {
                source: NsError::Enter { source, .. },
            } => source.raw_os_error(),
            _ => None,
        }
    }
}
