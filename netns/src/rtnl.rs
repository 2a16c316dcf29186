//! Synchronous rtnetlink: links, addresses and routes of one network namespace.

use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};

use hutch_ns::NsHandle;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkDeserializable,
    NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;

use crate::cidr::Cidr;
use crate::error::{NetlinkError, Op};
use crate::nl::{self, NLMSG_DONE, NLMSG_ERROR, NlSocket};

/// A network interface as the kernel reports it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The interface index (`ifindex`).
    pub index: u32,
    /// The name (`IFLA_IFNAME`).
    pub name: String,
    /// The kind (`veth`, `bridge`, ...) for virtual links (`IFLA_INFO_KIND`).
    pub kind: Option<String>,
    /// The MTU.
    pub mtu: Option<u32>,
    /// The hardware address, when it is 6 bytes long.
    pub mac: Option<[u8; 6]>,
    /// The `IFF_*` flags.
    pub flags: u32,
    /// The index of the master (bridge) device, if enslaved.
    pub master: Option<u32>,
    /// The alias (`IFLA_IFALIAS`, `ip link set NAME alias TEXT`), if set.
    pub alias: Option<String>,
}

impl Link {
    /// Whether `IFF_UP` is set.
    pub fn is_up(&self) -> bool {
        self.flags & libc::IFF_UP as u32 != 0
    }

    fn from_message(msg: &LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            kind: None,
            mtu: None,
            mac: None,
            flags: msg.header.flags.bits(),
            master: None,
            alias: None,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name.clone(),
                LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
                LinkAttribute::Address(mac) => link.mac = <[u8; 6]>::try_from(&mac[..]).ok(),
                LinkAttribute::Controller(master) => link.master = Some(*master),
                LinkAttribute::IfAlias(alias) => link.alias = Some(alias.clone()),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(kind) = info {
                            link.kind = Some(kind.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// An address of an interface.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// The interface index.
    pub index: u32,
    /// The address with its prefix length.
    pub cidr: Cidr,
}

/// A route in the main table.
///
/// # Examples
/// ```
/// use hutch_netns::Route;
/// let default = Route::default_via("10.88.0.1".parse()?);
/// let on_link = Route::to("10.99.0.0/16".parse()?).dev(3);
/// # let _ = (default, on_link);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The destination network (`0.0.0.0/0` or `::/0` for a default route).
    pub destination: Cidr,
    /// The next hop, if any; a route without one is a device (on-link) route.
    pub gateway: Option<IpAddr>,
    /// The output interface index.
    pub dev: Option<u32>,
    /// `RTNH_F_ONLINK`: the gateway is reachable on `dev` even outside its subnets.
    pub onlink: bool,
    /// The metric (`RTA_PRIORITY`).
    pub metric: Option<u32>,
}

impl Route {
    /// A route to `destination`, without gateway or device yet.
    pub fn to(destination: Cidr) -> Route {
        Route {
            destination,
            gateway: None,
            dev: None,
            onlink: false,
            metric: None,
        }
    }

    /// The default route (`0.0.0.0/0` or `::/0`, following the gateway's family) via
    /// `gateway`.
    pub fn default_via(gateway: IpAddr) -> Route {
        let any = match gateway {
            IpAddr::V4(_) => IpAddr::from([0u8; 4]),
            IpAddr::V6(_) => IpAddr::from([0u8; 16]),
        };
        let destination = Cidr::new(any, 0).unwrap_or_else(|_| unreachable!());
        Route::to(destination).via(gateway)
    }

    /// Sets the gateway.
    pub fn via(mut self, gateway: IpAddr) -> Route {
        self.gateway = Some(gateway);
        self
    }

    /// Sets the output interface.
    pub fn dev(mut self, index: u32) -> Route {
        self.dev = Some(index);
        self
    }

    /// Marks the gateway as on-link (`onlink`).
    pub fn onlink(mut self) -> Route {
        self.onlink = true;
        self
    }

    /// Sets the metric.
    pub fn metric(mut self, metric: u32) -> Route {
        self.metric = Some(metric);
        self
    }

    fn describe(&self) -> String {
        let mut s = self.destination.to_string();
        if let Some(gw) = self.gateway {
            s.push_str(&format!(" via {gw}"));
        }
        if let Some(dev) = self.dev {
            s.push_str(&format!(" dev #{dev}"));
        }
        s
    }
}

fn family(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn route_address(addr: IpAddr) -> RouteAddress {
    match addr {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

fn from_route_address(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// An rtnetlink handle bound to one network namespace: every operation acts on the
/// namespace the handle was opened in, whatever thread calls it.
///
/// # Examples
/// ```no_run
/// use hutch_netns::RtHandle;
/// use hutch_ns::{Namespace, NsHandle};
/// # let child_pid = 1;
/// let child = NsHandle::open(child_pid, Namespace::Net)?;
/// let mut host = RtHandle::open()?;
/// // veth pair: "vh0" here, "eth0" created directly inside the child's namespace.
/// let vh0 = host.add_veth("vh0", "eth0", Some(&child))?;
/// host.set_up(vh0)?;
/// let mut inside = RtHandle::open_in(&child)?;
/// let eth0 = inside.link_by_name("eth0")?.index;
/// inside.add_address(eth0, "10.88.0.2/16".parse()?)?;
/// inside.set_up(eth0)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
/// - [rtnetlink(7)](https://man7.org/linux/man-pages/man7/rtnetlink.7.html)
pub struct RtHandle {
    sock: NlSocket,
}

impl std::fmt::Debug for RtHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtHandle").finish_non_exhaustive()
    }
}

impl RtHandle {
    /// Opens a handle on the calling thread's network namespace.
    ///
    /// # Errors
    /// [`NetlinkError::Socket`].
    pub fn open() -> Result<RtHandle, NetlinkError> {
        Ok(RtHandle {
            sock: NlSocket::open(NETLINK_ROUTE)?,
        })
    }

    /// Opens a handle on network namespace `ns`. The socket is created by a short-lived
    /// thread that enters `ns` and ends; the caller's threads never change namespace.
    ///
    /// # Errors
    /// [`NetlinkError::Namespace`] if `ns` is not a network namespace or cannot be entered
    /// (`EPERM`), [`NetlinkError::Socket`].
    #[doc(alias = "setns")]
    pub fn open_in(ns: &NsHandle) -> Result<RtHandle, NetlinkError> {
        Ok(RtHandle {
            sock: NlSocket::open_in(ns, NETLINK_ROUTE)?,
        })
    }

    /// Sends one request and collects the replies (for a dump) or waits for the ACK.
    fn request(
        &mut self,
        op: Op,
        subject: &dyn Fn() -> String,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        let seq = self.sock.next_seq();
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        let io_err = |source| NetlinkError::Io {
            op,
            subject: subject(),
            source,
        };
        self.sock.send(&bytes).map_err(io_err)?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut replies = Vec::new();
        loop {
            let data = self.sock.recv(false).map_err(io_err)?.unwrap_or(&[]);
            let msgs = nl::split(data).map_err(io_err)?;
            for msg in msgs {
                if msg.seq != seq {
                    continue; // a stale reply to an earlier, abandoned request
                }
                match msg.kind {
                    NLMSG_ERROR => {
                        let (errno, text) = nl::decode_error(&msg);
                        if errno != 0 {
                            return Err(nl::kernel_error(op, subject(), errno, text));
                        }
                        if !dump {
                            return Ok(replies);
                        }
                    }
                    NLMSG_DONE => return Ok(replies),
                    kind => {
                        let mut h = NetlinkHeader::default();
                        h.message_type = kind;
                        let parsed = RouteNetlinkMessage::deserialize(&h, &msg.bytes[16..])
                            .map_err(|e| nl::decode_failure(op, subject(), e))?;
                        replies.push(parsed);
                        if !dump && flags & NLM_F_ACK == 0 {
                            return Ok(replies);
                        }
                    }
                }
            }
        }
    }

    fn ack(
        &mut self,
        op: Op,
        subject: &dyn Fn() -> String,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), NetlinkError> {
        self.request(op, subject, message, NLM_F_ACK | flags)
            .map(drop)
    }

    /// Lists every link.
    ///
    /// # Errors
    /// [`NetlinkError`] with [`Op::ListLinks`].
    pub fn links(&mut self) -> Result<Vec<Link>, NetlinkError> {
        let replies = self.request(
            Op::ListLinks,
            &String::new,
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
                _ => None,
            })
            .collect())
    }

    fn get_link(
        &mut self,
        msg: LinkMessage,
        subject: &dyn Fn() -> String,
    ) -> Result<Link, NetlinkError> {
        let replies = self.request(Op::GetLink, subject, RouteNetlinkMessage::GetLink(msg), 0)?;
        replies
            .iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
                _ => None,
            })
            .ok_or_else(|| nl::decode_failure(Op::GetLink, subject(), "no link in the reply"))
    }

    /// The link called `name`.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with `ENODEV` if there is none.
    pub fn link_by_name(&mut self, name: &str) -> Result<Link, NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        self.get_link(msg, &|| name.to_owned())
    }

    /// The link called `name`, or `None` if there is none.
    ///
    /// # Errors
    /// [`NetlinkError`] for failures other than `ENODEV`.
    pub fn find_link(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
        match self.link_by_name(name) {
            Ok(link) => Ok(Some(link)),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The link with index `index`.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with `ENODEV` if there is none.
    pub fn link_by_index(&mut self, index: u32) -> Result<Link, NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.get_link(msg, &|| format!("#{index}"))
    }

    /// Creates a veth pair: `name` in this handle's namespace and `peer` in `peer_ns` (or
    /// here when `None`), created there directly (`IFLA_NET_NS_FD`), so the peer's name
    /// never clashes with names in this namespace. Returns the index of `name`.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::CreateVeth`]: `EEXIST` if either name is taken,
    /// `EINVAL` for an invalid name.
    pub fn add_veth(
        &mut self,
        name: &str,
        peer: &str,
        peer_ns: Option<&NsHandle>,
    ) -> Result<u32, NetlinkError> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_owned()));
        if let Some(ns) = peer_ns {
            peer_msg
                .attributes
                .push(LinkAttribute::NetNsFd(ns.as_fd().as_raw_fd()));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.ack(
            Op::CreateVeth,
            &|| format!("{name} (peer {peer})"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(self.link_by_name(name)?.index)
    }

    /// Creates a bridge called `name`; returns its index.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::CreateBridge`] (`EEXIST` if the name is taken).
    pub fn add_bridge(&mut self, name: &str) -> Result<u32, NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.ack(
            Op::CreateBridge,
            &|| name.to_owned(),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(self.link_by_name(name)?.index)
    }

    fn set_link(
        &mut self,
        op: Op,
        index: u32,
        edit: impl FnOnce(&mut LinkMessage),
    ) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        edit(&mut msg);
        self.ack(
            op,
            &|| format!("link #{index}"),
            RouteNetlinkMessage::SetLink(msg),
            0,
        )
    }

    /// Enslaves link `index` to `master` (a bridge), or releases it with `None`.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::SetMaster`].
    #[doc(alias = "IFLA_MASTER")]
    pub fn set_master(&mut self, index: u32, master: Option<u32>) -> Result<(), NetlinkError> {
        self.set_link(Op::SetMaster, index, |m| {
            m.attributes
                .push(LinkAttribute::Controller(master.unwrap_or(0)))
        })
    }

    /// Brings link `index` up.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::SetUp`].
    pub fn set_up(&mut self, index: u32) -> Result<(), NetlinkError> {
        self.set_link(Op::SetUp, index, |m| {
            m.header.flags = LinkFlags::Up;
            m.header.change_mask = LinkFlags::Up;
        })
    }

    /// Brings link `index` down.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::SetDown`].
    pub fn set_down(&mut self, index: u32) -> Result<(), NetlinkError> {
        self.set_link(Op::SetDown, index, |m| {
            m.header.change_mask = LinkFlags::Up;
        })
    }

    /// Sets the MTU of link `index`.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::SetMtu`] (`EINVAL` out of the device's range).
    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<(), NetlinkError> {
        self.set_link(Op::SetMtu, index, |m| {
            m.attributes.push(LinkAttribute::Mtu(mtu))
        })
    }

    /// Sets the alias of link `index` (`IFLA_IFALIAS`, at most 255 bytes).
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::SetAlias`].
    pub fn set_alias(&mut self, index: u32, alias: &str) -> Result<(), NetlinkError> {
        self.set_link(Op::SetAlias, index, |m| {
            m.attributes.push(LinkAttribute::IfAlias(alias.to_owned()))
        })
    }

    /// Sets the hardware address of link `index`.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::SetMac`] (`EADDRNOTAVAIL` for a multicast
    /// address).
    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<(), NetlinkError> {
        self.set_link(Op::SetMac, index, |m| {
            m.attributes.push(LinkAttribute::Address(mac.to_vec()))
        })
    }

    /// Renames link `index`.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::Rename`] (`EEXIST` if the name is taken).
    pub fn rename(&mut self, index: u32, name: &str) -> Result<(), NetlinkError> {
        self.set_link(Op::Rename, index, |m| {
            m.attributes.push(LinkAttribute::IfName(name.to_owned()))
        })
    }

    /// Moves link `index` into network namespace `ns`.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::MoveToNetns`] (`EEXIST` if its name is taken
    /// there).
    #[doc(alias = "IFLA_NET_NS_FD")]
    pub fn move_to_netns(&mut self, index: u32, ns: &NsHandle) -> Result<(), NetlinkError> {
        let fd = ns.as_fd().as_raw_fd();
        self.set_link(Op::MoveToNetns, index, |m| {
            m.attributes.push(LinkAttribute::NetNsFd(fd))
        })
    }

    /// Deletes link `index` (for a veth, both ends go).
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::DeleteLink`] (`ENODEV` if it does not exist).
    pub fn delete_link(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.ack(
            Op::DeleteLink,
            &|| format!("#{index}"),
            RouteNetlinkMessage::DelLink(msg),
            0,
        )
    }

    /// Deletes the link called `name` if it exists; returns whether it did.
    ///
    /// # Errors
    /// [`NetlinkError`] with [`Op::DeleteLink`] for failures other than `ENODEV`.
    pub fn delete_link_by_name(&mut self, name: &str) -> Result<bool, NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        match self.ack(
            Op::DeleteLink,
            &|| name.to_owned(),
            RouteNetlinkMessage::DelLink(msg),
            0,
        ) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn address_message(index: u32, cidr: Cidr) -> AddressMessage {
        let mut msg = AddressMessage::default();
        msg.header.family = family(cidr.addr());
        msg.header.prefix_len = cidr.prefix();
        msg.header.index = index;
        msg.header.scope = AddressScope::Universe;
        if cidr.is_ipv4() {
            msg.attributes.push(AddressAttribute::Local(cidr.addr()));
        }
        msg.attributes.push(AddressAttribute::Address(cidr.addr()));
        msg
    }

    /// Adds address `cidr` to link `index`. IPv6 addresses are added with `nodad`, so they
    /// are usable at once (container addresses are allocated, not discovered).
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::AddAddress`] (`EEXIST` if already present).
    pub fn add_address(&mut self, index: u32, cidr: Cidr) -> Result<(), NetlinkError> {
        let mut msg = RtHandle::address_message(index, cidr);
        if !cidr.is_ipv4() {
            msg.header.flags = AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        self.ack(
            Op::AddAddress,
            &|| format!("{cidr} on link #{index}"),
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Removes address `cidr` from link `index`.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::DeleteAddress`] (`EADDRNOTAVAIL` if absent).
    pub fn delete_address(&mut self, index: u32, cidr: Cidr) -> Result<(), NetlinkError> {
        let msg = RtHandle::address_message(index, cidr);
        self.ack(
            Op::DeleteAddress,
            &|| format!("{cidr} on link #{index}"),
            RouteNetlinkMessage::DelAddress(msg),
            0,
        )
    }

    /// Lists the addresses of link `index`, or of every link with `None`.
    ///
    /// # Errors
    /// [`NetlinkError`] with [`Op::ListAddresses`].
    pub fn addresses(&mut self, index: Option<u32>) -> Result<Vec<Address>, NetlinkError> {
        let replies = self.request(
            Op::ListAddresses,
            &String::new,
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
        )?;
        let mut out = Vec::new();
        for reply in &replies {
            let RouteNetlinkMessage::NewAddress(msg) = reply else {
                continue;
            };
            if index.is_some_and(|i| i != msg.header.index) {
                continue;
            }
            // IFA_LOCAL is the interface's own address on point-to-point links; prefer it.
            let local = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(a) => Some(*a),
                _ => None,
            });
            let address = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(a) => Some(*a),
                _ => None,
            });
            if let Some(addr) = local.or(address)
                && let Ok(cidr) = Cidr::new(addr, msg.header.prefix_len)
            {
                out.push(Address {
                    index: msg.header.index,
                    cidr,
                });
            }
        }
        Ok(out)
    }

    fn route_message(route: &Route, delete: bool) -> RouteMessage {
        let mut msg = RouteMessage::default();
        let dst = route.destination.network();
        msg.header.address_family = family(dst.addr());
        msg.header.destination_prefix_length = dst.prefix();
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        if delete {
            msg.header.scope = RouteScope::NoWhere;
        } else {
            msg.header.protocol = RouteProtocol::Boot;
            msg.header.kind = RouteType::Unicast;
            msg.header.scope = if route.gateway.is_some() {
                RouteScope::Universe
            } else {
                RouteScope::Link
            };
        }
        if route.onlink {
            msg.header.flags = RouteFlags::Onlink;
        }
        if dst.prefix() > 0 {
            msg.attributes
                .push(RouteAttribute::Destination(route_address(dst.addr())));
        }
        if let Some(gw) = route.gateway {
            msg.attributes
                .push(RouteAttribute::Gateway(route_address(gw)));
        }
        if let Some(dev) = route.dev {
            msg.attributes.push(RouteAttribute::Oif(dev));
        }
        if let Some(metric) = route.metric {
            msg.attributes.push(RouteAttribute::Priority(metric));
        }
        msg
    }

    /// Adds `route` to the main table.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::AddRoute`]: `EEXIST` if present, `ENETUNREACH`
    /// if the gateway is not reachable through a connected network (see
    /// [`Route::onlink`]).
    pub fn add_route(&mut self, route: &Route) -> Result<(), NetlinkError> {
        let msg = RtHandle::route_message(route, false);
        self.ack(
            Op::AddRoute,
            &|| route.describe(),
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Deletes `route` from the main table.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::DeleteRoute`] (`ESRCH` if absent).
    pub fn delete_route(&mut self, route: &Route) -> Result<(), NetlinkError> {
        let msg = RtHandle::route_message(route, true);
        self.ack(
            Op::DeleteRoute,
            &|| route.describe(),
            RouteNetlinkMessage::DelRoute(msg),
            0,
        )
    }

    /// Lists the unicast routes of the main table for IPv4 (`ipv6 == false`) or IPv6.
    ///
    /// # Errors
    /// [`NetlinkError`] with [`Op::ListRoutes`].
    pub fn routes(&mut self, ipv6: bool) -> Result<Vec<Route>, NetlinkError> {
        let mut req = RouteMessage::default();
        req.header.address_family = if ipv6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        let replies = self.request(
            Op::ListRoutes,
            &String::new,
            RouteNetlinkMessage::GetRoute(req),
            NLM_F_DUMP,
        )?;
        let mut out = Vec::new();
        for reply in &replies {
            let RouteNetlinkMessage::NewRoute(msg) = reply else {
                continue;
            };
            let h = &msg.header;
            let table = msg
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                })
                .unwrap_or(u32::from(h.table));
            if table != u32::from(RouteHeader::RT_TABLE_MAIN) || h.kind != RouteType::Unicast {
                continue;
            }
            let any: IpAddr = if ipv6 {
                [0u8; 16].into()
            } else {
                [0u8; 4].into()
            };
            let mut route = Route::to(Cidr::new(any, 0).unwrap_or_else(|_| unreachable!()));
            for attr in &msg.attributes {
                match attr {
                    RouteAttribute::Destination(a) => {
                        if let Some(c) = from_route_address(a)
                            .and_then(|a| Cidr::new(a, h.destination_prefix_length).ok())
                        {
                            route.destination = c;
                        }
                    }
                    RouteAttribute::Gateway(a) => route.gateway = from_route_address(a),
                    RouteAttribute::Oif(i) => route.dev = Some(*i),
                    RouteAttribute::Priority(p) => route.metric = Some(*p),
                    _ => {}
                }
            }
            route.onlink = h.flags.contains(RouteFlags::Onlink);
            out.push(route);
        }
        Ok(out)
    }
}
