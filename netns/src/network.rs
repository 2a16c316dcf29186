//! Named bridge networks: a bridge in a "host" network namespace, addresses from
//! [`crate::ipam`], veth pairs into containers, and NAT rules in nf_tables table `ip hutch`.

use std::fmt;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use hutch_ns::{Namespace, NsError, NsHandle};

use crate::cidr::Cidr;
use crate::error::NetlinkError;
use crate::ipam::{Ipam, IpamError, IpamLock, Owner};
use crate::nft::consts::*;
use crate::nft::{Batch, CmpOp, Expr, Hook, NftHandle, matches};
use crate::rtnl::{Route, RtHandle};
use crate::sys::run_in_netns;

/// The nf_tables table (family `ip`) that holds every hutch rule.
pub const NFT_TABLE: &str = "hutch";
/// Where network state lives unless [`NetworkConfig::state_root`] says otherwise.
pub const DEFAULT_STATE_ROOT: &str = "/run/hutch/networks";
/// The default network (and bridge) name.
pub const DEFAULT_NETWORK: &str = "hutch0";
/// The default subnet.
pub const DEFAULT_SUBNET: &str = "10.88.0.0/16";

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    fn number(self) -> u8 {
        match self {
            Protocol::Tcp => libc::IPPROTO_TCP as u8,
            Protocol::Udp => libc::IPPROTO_UDP as u8,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// A published port: `[HOST_IP:]HOST_PORT:CONTAINER_PORT[/udp]`, an IPv6 `HOST_IP` in
/// brackets as Docker writes it (`[::1]:8080:80`).
///
/// Without a host address the port is published on every host address of the network's
/// families: IPv4, and IPv6 too on a dual-stack network ([`NetworkConfig::subnet6`]). An
/// IPv4 host address publishes over IPv4 only, an IPv6 one over IPv6 only.
///
/// # Examples
/// ```
/// use hutch_netns::{PortMapping, Protocol};
/// let p: PortMapping = "127.0.0.1:8080:80/udp".parse()?;
/// assert_eq!((p.host_port, p.container_port, p.protocol), (8080, 80, Protocol::Udp));
/// assert_eq!(p.to_string(), "127.0.0.1:8080:80/udp");
/// let q: PortMapping = "[fd00::1]:8443:443".parse()?;
/// assert_eq!(q.host_ip, Some("fd00::1".parse()?));
/// assert_eq!(q.to_string(), "[fd00::1]:8443:443/tcp");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortMapping {
    /// Only connections to this host address are forwarded (any local address if `None`).
    pub host_ip: Option<IpAddr>,
    /// The port on the host.
    pub host_port: u16,
    /// The port in the container.
    pub container_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
}

impl PortMapping {
    /// TCP `host_port` → `container_port` on every host address.
    pub fn tcp(host_port: u16, container_port: u16) -> PortMapping {
        PortMapping {
            host_ip: None,
            host_port,
            container_port,
            protocol: Protocol::Tcp,
        }
    }

    /// UDP `host_port` → `container_port` on every host address.
    pub fn udp(host_port: u16, container_port: u16) -> PortMapping {
        PortMapping {
            protocol: Protocol::Udp,
            ..PortMapping::tcp(host_port, container_port)
        }
    }

    /// Whether the two mappings claim the same host port.
    pub fn clashes_with(&self, other: &PortMapping) -> bool {
        self.protocol == other.protocol
            && self.host_port == other.host_port
            && (self.host_ip.is_none() || other.host_ip.is_none() || self.host_ip == other.host_ip)
    }
}

/// Why a port mapping was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid port mapping {text:?}: expected [HOST_IP:]HOST_PORT:PORT[/tcp|/udp] with ports \
     1-65535 (an IPv6 HOST_IP in brackets: [::1]:8080:80)"
)]
pub struct PortMappingError {
    /// The rejected text.
    pub text: String,
}

impl FromStr for PortMapping {
    type Err = PortMappingError;

    fn from_str(text: &str) -> Result<PortMapping, PortMappingError> {
        let err = || PortMappingError {
            text: text.to_owned(),
        };
        let (spec, protocol) = match text.rsplit_once('/') {
            Some((s, "tcp")) => (s, Protocol::Tcp),
            Some((s, "udp")) => (s, Protocol::Udp),
            Some(_) => return Err(err()),
            None => (text, Protocol::Tcp),
        };
        let port = |s: &str| -> Result<u16, PortMappingError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 5 {
                return Err(err());
            }
            match s.parse::<u16>() {
                Ok(0) | Err(_) => Err(err()),
                Ok(p) => Ok(p),
            }
        };
        // `[v6]:h:c`, `v4:h:c` or `h:c`.
        let (host_ip, ports) = match spec.strip_prefix('[') {
            Some(rest) => {
                let (ip, ports) = rest.split_once("]:").ok_or_else(err)?;
                let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| err())?;
                (Some(IpAddr::V6(ip)), ports)
            }
            None => match spec.split_once(':') {
                Some((ip, ports)) if ports.contains(':') => {
                    let ip: Ipv4Addr = ip.parse().map_err(|_| err())?;
                    (Some(IpAddr::V4(ip)), ports)
                }
                _ => (None, spec),
            },
        };
        let (host_port, container_port) = match ports.split(':').collect::<Vec<_>>()[..] {
            [h, c] => (port(h)?, port(c)?),
            _ => return Err(err()),
        };
        Ok(PortMapping {
            host_ip,
            host_port,
            container_port,
            protocol,
        })
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            Some(IpAddr::V4(ip)) => write!(f, "{ip}:")?,
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            None => {}
        }
        write!(
            f,
            "{}:{}/{}",
            self.host_port, self.container_port, self.protocol
        )
    }
}

/// An error from creating, using or removing a network.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A netlink (rtnetlink or nf_tables) operation failed; the error names it.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// Address allocation failed.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// A namespace handle was unusable.
    #[error("network {network}: bad network namespace handle")]
    Namespace {
        /// The network.
        network: String,
        /// What was wrong.
        #[source]
        source: NsError,
    },
    /// The network's name is not usable as an interface name (1–15 bytes, no `/`,
    /// whitespace or `:`).
    #[error("invalid network or bridge name {name:?}: 1-15 characters without '/', ':' or spaces")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// A container name for [`AttachOptions::hostname`] is empty or has whitespace.
    #[error("invalid container name {name:?}: it must be non-empty, without whitespace")]
    InvalidHostname {
        /// The name.
        name: String,
    },
    /// The subnet overlaps a route of the host namespace.
    #[error("network {network}: subnet {subnet} overlaps the existing route to {route}")]
    SubnetOverlap {
        /// The network.
        network: String,
        /// Its subnet.
        subnet: Cidr,
        /// The route's destination.
        route: Cidr,
    },
    /// An interface with the bridge's name exists and is not a bridge.
    #[error("network {network}: interface {name} exists and is a {kind}, not a bridge")]
    NotABridge {
        /// The network.
        network: String,
        /// The interface.
        name: String,
        /// Its kind (`veth`, `device`, ...).
        kind: String,
    },
    /// The network exists with another configuration.
    #[error("network {network} exists with another configuration ({path}); remove it first")]
    ConfigMismatch {
        /// The network.
        network: String,
        /// Its configuration file.
        path: PathBuf,
    },
    /// A host port is published already.
    #[error("network {network}: port {mapping} is already published by {holder}")]
    PortInUse {
        /// The network.
        network: String,
        /// The mapping asked for.
        mapping: PortMapping,
        /// The address of the container holding it.
        holder: IpAddr,
    },
    /// A process of the host already uses the host port: the container could not be reached
    /// there.
    #[error("network {network}: port {mapping} is in use on the host ({addr})")]
    HostPortInUse {
        /// The network.
        network: String,
        /// The mapping asked for.
        mapping: PortMapping,
        /// The address bound (`0.0.0.0` or `::` for a mapping without one).
        addr: IpAddr,
        /// The error of binding the port on the host (`EADDRINUSE`).
        #[source]
        source: io::Error,
    },
    /// A mapping names a host address that no interface of the host has.
    #[error("network {network}: port {mapping} names {addr}, which is not an address of the host")]
    HostAddressNotLocal {
        /// The network.
        network: String,
        /// The mapping asked for.
        mapping: PortMapping,
        /// The address.
        addr: IpAddr,
    },
    /// A mapping names an IPv6 host address, but the network has no IPv6 subnet
    /// ([`NetworkConfig::subnet6`]), so the container has no IPv6 address to forward to.
    #[error(
        "network {network}: port {mapping} names an IPv6 host address, but the network has no \
         IPv6 subnet to forward it to"
    )]
    NoIpv6Subnet {
        /// The network.
        network: String,
        /// The mapping asked for.
        mapping: PortMapping,
    },
    /// The IPv6 subnet has fewer addresses than the IPv4 one; containers get the IPv6 address
    /// at their IPv4 address's offset.
    #[error(
        "network {network}: IPv6 subnet {subnet6} is smaller than IPv4 subnet {subnet}; give \
         it a prefix of at most /{}",
        96 + u32::from(subnet.prefix())
    )]
    Subnet6TooSmall {
        /// The network.
        network: String,
        /// The IPv4 subnet.
        subnet: Cidr,
        /// The IPv6 subnet.
        subnet6: Cidr,
    },
    /// A mapping names a link-local host address (`fe80::/10`), which needs an interface
    /// scope that a port mapping does not carry.
    #[error(
        "network {network}: port {mapping} names a link-local address, which cannot be \
         published on (it needs an interface scope); use a global or ULA address"
    )]
    LinkLocalHostAddress {
        /// The network.
        network: String,
        /// The mapping asked for.
        mapping: PortMapping,
    },
    /// Binding a published host port on the host failed for a reason other than its being in
    /// use (an address not yet usable, ...).
    #[error("network {network}: cannot hold port {mapping} on the host address {addr}")]
    HostPortUnavailable {
        /// The network.
        network: String,
        /// The mapping asked for.
        mapping: PortMapping,
        /// The address bound (`0.0.0.0` or `::` for a mapping without one).
        addr: IpAddr,
        /// The error of binding it.
        #[source]
        source: io::Error,
    },
    /// A mapping names the host's IPv6 loopback address (`::1`), which cannot be forwarded
    /// to a container (IPv6 never routes a loopback address off the host); `127.0.0.1` can.
    #[error(
        "network {network}: port {mapping} names ::1, which cannot be forwarded to a container \
         (IPv6 never routes loopback addresses off the host); use 127.0.0.1"
    )]
    Ipv6Loopback {
        /// The network.
        network: String,
        /// The mapping asked for.
        mapping: PortMapping,
    },
    /// The network still has attached containers.
    #[error("network {network} still has {count} attached container(s)")]
    Busy {
        /// The network.
        network: String,
        /// How many live leases.
        count: usize,
    },
    /// Writing a sysctl in the host namespace failed.
    #[error("cannot write {value} to {path}")]
    Sysctl {
        /// The `/proc/sys` file.
        path: PathBuf,
        /// The value.
        value: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A state file could not be read, written or removed.
    #[error("cannot access network state {path}")]
    State {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// How to create or open a network, in the style of `std::process::Command`.
///
/// # Examples
/// ```no_run
/// use hutch_netns::{AttachOptions, NetworkConfig, PortMapping};
/// use hutch_ns::{Namespace, NsHandle};
/// # let child_pid = 1;
/// let net = NetworkConfig::new("hutch0").subnet("10.88.0.0/16".parse()?).open()?;
/// let child = NsHandle::open(child_pid, Namespace::Net)?;
/// let att = net.attach(&child, AttachOptions::new().publish(PortMapping::tcp(8080, 80)))?;
/// println!("container address {}", att.address());
/// att.detach()?; // or let it drop
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    name: String,
    bridge: Option<String>,
    subnet: Option<Cidr>,
    subnet6: Option<Cidr>,
    state_root: PathBuf,
    host: Option<Arc<NsHandle>>,
    transient: bool,
}

/// The file in a network's state directory that marks it transient (see
/// [`NetworkConfig::transient`]).
const TRANSIENT_MARK: &str = "transient";

/// Whether `ns` is the kernel's initial network namespace (the host's own). Kernel threads
/// live there: `kthreadd` (pid 2 of the initial pid namespace) names it, and PID 1's does on
/// most hosts; newer kernels also give it a fixed inode number.
fn is_initial_netns(ns: &NsHandle) -> bool {
    use std::os::unix::fs::MetadataExt;
    /// `PROC_NET_INIT_INO`, init_net's fixed inode number on recent kernels.
    const PROC_NET_INIT_INO: u64 = 0xEFFF_FFF9;
    if ns.id().ino == PROC_NET_INIT_INO {
        return true;
    }
    let same = |path: &str| {
        fs::metadata(path)
            .ok()
            .map(|m| ns.id().dev == m.dev() && ns.id().ino == m.ino())
    };
    let kthreadd = fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd");
    if kthreadd && let Some(same) = same("/proc/2/ns/net") {
        return same;
    }
    // Unknowable: treat it as the host's, where networks are never transient.
    same("/proc/1/ns/net").unwrap_or(true)
}

impl NetworkConfig {
    /// A network called `name` with the defaults: bridge `name`, subnet `10.88.0.0/16`,
    /// no IPv6, state under `/run/hutch/networks/NAME`, host namespace = the calling
    /// thread's network namespace at [`NetworkConfig::open`].
    pub fn new(name: impl Into<String>) -> NetworkConfig {
        NetworkConfig {
            name: name.into(),
            bridge: None,
            subnet: None,
            subnet6: None,
            state_root: PathBuf::from(DEFAULT_STATE_ROOT),
            host: None,
            transient: true,
        }
    }

    /// Whether a network that this call creates (on first use) in the default state root
    /// ([`DEFAULT_STATE_ROOT`]) and in a network namespace other than the host's own (a
    /// throw-away `unshare --net` or `ip netns`, a test) is transient: its state is removed
    /// when its last container leaves, so that such a namespace leaves nothing behind in the
    /// host's `/run`. Default `true`; a network made on purpose (`network create`) says
    /// `false`. In the host's own namespace, or with a state root of your own, networks are
    /// never removed by themselves (as Docker's bridge network is not).
    pub fn transient(&mut self, transient: bool) -> &mut Self {
        self.transient = transient;
        self
    }

    /// The configuration of the existing network `name` under `state_root` (bridge and
    /// subnets read from its `config` file), e.g. to remove it or attach to it without
    /// knowing its subnet.
    ///
    /// # Errors
    /// [`NetworkError::State`] naming the file (`ENOENT` if there is no such network),
    /// [`NetworkError::ConfigMismatch`] if the file cannot be understood.
    pub fn from_state(
        name: impl Into<String>,
        state_root: impl AsRef<Path>,
    ) -> Result<NetworkConfig, NetworkError> {
        let name = name.into();
        let path = state_root.as_ref().join(&name).join("config");
        let text = fs::read_to_string(&path).map_err(|source| NetworkError::State {
            path: path.clone(),
            source,
        })?;
        let mut config = NetworkConfig::new(name.clone());
        config.state_root(state_root);
        let bad = || NetworkError::ConfigMismatch {
            network: name.clone(),
            path: path.clone(),
        };
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("bridge", b)) => {
                    config.bridge(b);
                }
                Some(("subnet", c)) => {
                    config.subnet(c.parse().map_err(|_| bad())?);
                }
                Some(("subnet6", c)) => {
                    config.subnet6(c.parse().map_err(|_| bad())?);
                }
                _ => return Err(bad()),
            }
        }
        if config.subnet.is_none() {
            return Err(bad());
        }
        Ok(config)
    }

    /// The bridge's name (default: the network's name).
    pub fn bridge(&mut self, name: impl Into<String>) -> &mut Self {
        self.bridge = Some(name.into());
        self
    }

    /// The IPv4 subnet; the gateway (the bridge's address) is its first address.
    pub fn subnet(&mut self, subnet: Cidr) -> &mut Self {
        self.subnet = Some(subnet);
        self
    }

    /// An IPv6 subnet (e.g. a ULA `fd00:88::/64`); containers get the address at the same
    /// offset as their IPv4 one, a default route through the bridge, and traffic leaving the
    /// subnet is masqueraded (table `ip6 hutch`), and ports published without a host address
    /// are published over IPv6 too.
    pub fn subnet6(&mut self, subnet: Cidr) -> &mut Self {
        self.subnet6 = Some(subnet);
        self
    }

    /// The directory holding per-network state directories.
    pub fn state_root(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.state_root = dir.as_ref().to_owned();
        self
    }

    /// The network namespace standing in for the host (where the bridge and NAT live).
    pub fn host_netns(&mut self, ns: Arc<NsHandle>) -> &mut Self {
        self.host = Some(ns);
        self
    }

    /// The network's name.
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// The bridge's name: the one set by [`NetworkConfig::bridge`], else the network's name.
    pub fn get_bridge(&self) -> &str {
        self.bridge.as_deref().unwrap_or(&self.name)
    }

    /// The IPv4 subnet set by [`NetworkConfig::subnet`] (`None`: the default, `10.88.0.0/16`).
    pub fn get_subnet(&self) -> Option<Cidr> {
        self.subnet
    }

    /// The IPv6 subnet set by [`NetworkConfig::subnet6`], if any.
    pub fn get_subnet6(&self) -> Option<Cidr> {
        self.subnet6
    }

    /// The directory holding per-network state directories.
    pub fn get_state_root(&self) -> &Path {
        &self.state_root
    }

    /// The namespace set by [`NetworkConfig::host_netns`] (`None`: the namespace of the thread
    /// that calls [`NetworkConfig::open`]).
    pub fn get_host_netns(&self) -> Option<&Arc<NsHandle>> {
        self.host.as_ref()
    }

    /// Creates the network on first use (bridge, gateway address, forwarding, NAT chains)
    /// or opens it, checking that its configuration matches. Also removes what dead
    /// owners left behind ([`Network::cleanup_stale`]).
    ///
    /// # Errors
    /// [`NetworkError::InvalidName`], [`NetworkError::SubnetOverlap`],
    /// [`NetworkError::NotABridge`], [`NetworkError::ConfigMismatch`],
    /// [`NetworkError::Subnet6TooSmall`], and the netlink,
    /// sysctl and state errors of each step.
    pub fn open(&self) -> Result<Network, NetworkError> {
        let name = self.name.clone();
        let bridge = self.bridge.clone().unwrap_or_else(|| name.clone());
        for n in [&name, &bridge] {
            if n.is_empty()
                || n.len() > 15
                || n.bytes()
                    .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
                || n == "."
                || n == ".."
            {
                return Err(NetworkError::InvalidName { name: n.clone() });
            }
        }
        let subnet = self
            .subnet
            .unwrap_or_else(|| DEFAULT_SUBNET.parse().unwrap_or_else(|_| unreachable!()))
            .network();
        let host = match &self.host {
            Some(h) => h.clone(),
            None => Arc::new(NsHandle::open_self(Namespace::Net).map_err(|source| {
                NetworkError::Namespace {
                    network: name.clone(),
                    source,
                }
            })?),
        };
        let gateway = subnet.nth(1).ok_or(IpamError::Exhausted { subnet })?;
        let subnet6 = self.subnet6.map(|s| s.network());
        // Containers get the IPv6 address at their IPv4 address's offset: the IPv6 subnet
        // must have at least as many addresses.
        if let Some(s6) = subnet6
            && 128 - u32::from(s6.prefix()) < 32 - u32::from(subnet.prefix())
        {
            return Err(NetworkError::Subnet6TooSmall {
                network: name,
                subnet,
                subnet6: s6,
            });
        }
        let gateway6 = match subnet6 {
            Some(s) => Some(s.nth(1).ok_or(IpamError::Exhausted { subnet: s })?),
            None => None,
        };
        let state_dir = self.state_root.join(&name);
        let net = Network {
            ipam: Ipam::new(&state_dir, subnet, &[gateway.addr()]),
            name,
            bridge,
            subnet,
            gateway,
            subnet6,
            gateway6,
            host,
            state_dir,
        };
        let lock = net.ipam.lock()?;
        let fresh = net.check_config()?;
        let mut created = false;
        let transient = fresh
            && self.transient
            && self.state_root == Path::new(DEFAULT_STATE_ROOT)
            && !is_initial_netns(&net.host);
        let mut make = || -> Result<(), NetworkError> {
            created = net.create_bridge()?;
            net.install_network_rules()?;
            net.cleanup_locked(&lock)?;
            if fresh {
                net.write_config()?;
            }
            if transient {
                let path = net.state_dir.join(TRANSIENT_MARK);
                fs::write(&path, "").map_err(|source| NetworkError::State { path, source })?;
            }
            Ok(())
        };
        if let Err(e) = make() {
            // Leave no half-made network behind: no state, no bridge made here.
            if created && let Ok(mut rt) = RtHandle::open_in(&net.host) {
                let _ = rt.delete_link_by_name(&net.bridge);
            }
            if fresh {
                let _ = fs::remove_dir_all(&net.state_dir);
            }
            return Err(e);
        }
        drop(lock);
        Ok(net)
    }
}

/// An open bridge network. Cheap to share between threads (`&Network` is enough for
/// [`Network::attach`]).
#[derive(Debug)]
pub struct Network {
    name: String,
    bridge: String,
    subnet: Cidr,
    gateway: Cidr,
    subnet6: Option<Cidr>,
    gateway6: Option<Cidr>,
    host: Arc<NsHandle>,
    state_dir: PathBuf,
    ipam: Ipam,
}

/// Options of [`Network::attach`].
#[derive(Debug, Clone)]
pub struct AttachOptions {
    ip: Option<IpAddr>,
    ports: Vec<PortMapping>,
    ifname: String,
    hostname: Option<String>,
    hosts_file: Option<PathBuf>,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions::new()
    }
}

impl AttachOptions {
    /// An allocated address, no published ports, interface `eth0`.
    pub fn new() -> AttachOptions {
        AttachOptions {
            ip: None,
            ports: Vec::new(),
            ifname: "eth0".to_owned(),
            hostname: None,
            hosts_file: None,
        }
    }

    /// The container's `/etc/hosts` as a file on the host side (the one bound into the
    /// container). The network keeps it current: a named container that attaches later is
    /// added to it ([`Network::announce`]) and removed again when it leaves. The file is
    /// rewritten in place, under `flock`, so a bind mount of it shows the change.
    pub fn hosts_file(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.hosts_file = Some(path.into());
        self
    }

    /// The container's name on the network, listed by [`Network::peers`] so that other
    /// containers' `/etc/hosts` can name it (one line, no whitespace).
    pub fn hostname(&mut self, name: impl Into<String>) -> &mut Self {
        self.hostname = Some(name.into());
        self
    }

    /// A fixed IPv4 address instead of an allocated one.
    pub fn ip(&mut self, ip: IpAddr) -> &mut Self {
        self.ip = Some(ip);
        self
    }

    /// Publishes a port.
    pub fn publish(&mut self, mapping: PortMapping) -> &mut Self {
        self.ports.push(mapping);
        self
    }

    /// The interface name inside the container (default `eth0`).
    pub fn ifname(&mut self, name: impl Into<String>) -> &mut Self {
        self.ifname = name.into();
        self
    }
}

/// What [`Network::cleanup_stale`] removed.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Leases of dead owners that were released.
    pub leases: Vec<IpAddr>,
    /// Host-side veth interfaces removed.
    pub links: Vec<String>,
    /// nf_tables chains removed.
    pub chains: Vec<String>,
}

fn host_ifname(addr: Ipv4Addr) -> String {
    format!("vh{:08x}", u32::from(addr))
}

fn addr_from_host_ifname(name: &str) -> Option<Ipv4Addr> {
    let hex = name.strip_prefix("vh")?;
    if hex.len() != 8 {
        return None;
    }
    u32::from_str_radix(hex, 16).ok().map(Ipv4Addr::from)
}

/// The published ports recorded in a lease note (one `port MAPPING` line each).
fn notes_ports(note: &str) -> Vec<PortMapping> {
    note.lines()
        .filter_map(|l| l.strip_prefix("port ")?.parse().ok())
        .collect()
}

/// The container name recorded in a lease note (`name NAME`).
fn notes_name(note: &str) -> Option<&str> {
    note.lines().find_map(|l| l.strip_prefix("name "))
}

/// The hosts file recorded in a lease note (`hosts PATH`).
fn notes_hosts(note: &str) -> Option<&Path> {
    note.lines()
        .find_map(|l| l.strip_prefix("hosts "))
        .map(Path::new)
}

/// Changes the hosts file `path` in place under an exclusive `flock`: `edit` gets its text
/// and returns the new one (`None`: unchanged). A file that is gone is left alone.
fn edit_hosts_file(path: &Path, edit: impl FnOnce(&str) -> Option<String>) -> io::Result<()> {
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    // Held until `f` is closed, at the end.
    crate::sys::flock_exclusive(std::os::fd::AsFd::as_fd(&f))?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    if let Some(new) = edit(&text) {
        f.set_len(0)?;
        f.seek(io::SeekFrom::Start(0))?;
        f.write_all(new.as_bytes())?;
    }
    Ok(())
}

/// Writes a container's own hosts file (given to [`AttachOptions::hosts_file`]) in place,
/// under the lock that a peer's [`Network::announce`] takes: compute the text (with
/// [`Network::peers`]) inside `text`, so that a peer attaching meanwhile is either listed
/// or added after the write, never lost.
///
/// # Errors
/// Opening or locking the file.
pub fn write_hosts_file(path: &Path, text: impl FnOnce() -> String) -> io::Result<()> {
    edit_hosts_file(path, |_| Some(text()))
}

impl Network {
    /// The network's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bridge's name.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// The IPv4 subnet.
    pub fn subnet(&self) -> Cidr {
        self.subnet
    }

    /// The gateway: the bridge's IPv4 address with the subnet's prefix.
    pub fn gateway(&self) -> Cidr {
        self.gateway
    }

    /// The IPv6 gateway, if the network has an IPv6 subnet.
    pub fn gateway6(&self) -> Option<Cidr> {
        self.gateway6
    }

    /// The state directory (leases, configuration, lock).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The alias on the host side of this network's veth pairs: only interfaces carrying it,
    /// or enslaved to the network's bridge, are ever deleted as leftovers.
    fn link_mark(&self) -> String {
        format!("hutch network {}", self.name)
    }

    fn chain_prefix(&self, addr: Ipv4Addr) -> String {
        format!("{}-{addr}-", self.name)
    }

    fn ns_err(&self) -> impl Fn(NsError) -> NetworkError + '_ {
        move |source| NetworkError::Namespace {
            network: self.name.clone(),
            source,
        }
    }

    fn config_text(&self) -> String {
        let mut t = format!("bridge {}\nsubnet {}\n", self.bridge, self.subnet);
        if let Some(s) = self.subnet6 {
            t.push_str(&format!("subnet6 {s}\n"));
        }
        t
    }

    /// Checks the configuration file against this configuration; `true` if there is none
    /// yet (a new network).
    fn check_config(&self) -> Result<bool, NetworkError> {
        let path = self.state_dir.join("config");
        match fs::read_to_string(&path) {
            Ok(have) if have == self.config_text() => Ok(false),
            Ok(_) => Err(NetworkError::ConfigMismatch {
                network: self.name.clone(),
                path,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(source) => Err(NetworkError::State { path, source }),
        }
    }

    fn write_config(&self) -> Result<(), NetworkError> {
        let path = self.state_dir.join("config");
        fs::write(&path, self.config_text()).map_err(|source| NetworkError::State { path, source })
    }

    fn sysctl(&self, path: &str, value: &'static str) -> Result<(), NetworkError> {
        let path = PathBuf::from(path);
        run_in_netns(&self.host, || fs::write(&path, value))
            .map_err(self.ns_err())?
            .map_err(|source| NetworkError::Sysctl {
                path: path.clone(),
                value,
                source,
            })
    }

    /// Makes the bridge exist, with the gateway address, up; `true` if it was created.
    fn create_bridge(&self) -> Result<bool, NetworkError> {
        let mut rt = RtHandle::open_in(&self.host)?;
        let mut created = false;
        let index = match rt.find_link(&self.bridge)? {
            Some(link) => {
                if link.kind.as_deref() != Some("bridge") {
                    return Err(NetworkError::NotABridge {
                        network: self.name.clone(),
                        name: self.bridge.clone(),
                        kind: link.kind.unwrap_or_else(|| "device".to_owned()),
                    });
                }
                link.index
            }
            None => {
                for route in rt.routes(false)? {
                    if route.destination.prefix() > 0 && route.destination.overlaps(&self.subnet) {
                        return Err(NetworkError::SubnetOverlap {
                            network: self.name.clone(),
                            subnet: self.subnet,
                            route: route.destination,
                        });
                    }
                }
                created = true;
                rt.add_bridge(&self.bridge)?
            }
        };
        let have = rt.addresses(Some(index))?;
        for gw in std::iter::once(self.gateway).chain(self.gateway6) {
            if !have.iter().any(|a| a.cidr == gw) {
                rt.add_address(index, gw)?;
            }
        }
        rt.set_up(index)?;
        self.sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
        // Lets the host's own 127.0.0.1 reach published ports (output DNAT to the bridge).
        self.sysctl(
            &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", self.bridge),
            "1",
        )?;
        if self.subnet6.is_some() {
            self.sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
        }
        Ok(created)
    }

    /// The network-wide chains, replaced atomically: masquerade for traffic leaving the
    /// subnet, for host-loopback traffic sent to containers and for hairpin traffic (a
    /// container reaching a published port via a host address); a guard dropping packets
    /// for 127/8 that arrive on the bridge (needed once `route_localnet` is on).
    fn install_network_rules(&self) -> Result<(), NetworkError> {
        let fam = NFPROTO_IPV4;
        let post = format!("{}-postrouting", self.name);
        let guard = format!("{}-guard", self.name);
        let postrouting = Hook {
            hook: NF_INET_POST_ROUTING,
            priority: 100,
            kind: "nat",
        };
        // Hairpin: a container reaching a published port through a host address is DNATed
        // back onto the bridge; masquerade it so the reply returns the same way (both
        // families).
        let hairpin = || {
            let mut r = matches::iifname(CmpOp::Eq, &self.bridge);
            r.extend(matches::oifname(CmpOp::Eq, &self.bridge));
            r.extend(matches::ct_status_dnat());
            r.push(Expr::Masq);
            r
        };
        let mut b = Batch::new();
        b.add_table(fam, NFT_TABLE);
        b.add_chain(fam, NFT_TABLE, &post, Some(postrouting));
        b.add_chain(
            fam,
            NFT_TABLE,
            &guard,
            Some(Hook {
                hook: NF_INET_PRE_ROUTING,
                priority: -300,
                kind: "filter",
            }),
        );
        b.flush_chain(fam, NFT_TABLE, &post);
        b.flush_chain(fam, NFT_TABLE, &guard);
        let mut out = matches::ipv4_addr_in(true, self.subnet);
        out.extend(matches::oifname(CmpOp::Neq, &self.bridge));
        out.push(Expr::Masq);
        b.add_rule(fam, NFT_TABLE, &post, &out);
        let localhost: Cidr = "127.0.0.0/8".parse().unwrap_or_else(|_| unreachable!());
        let mut lo = matches::ipv4_addr_in(true, localhost);
        lo.extend(matches::oifname(CmpOp::Eq, &self.bridge));
        lo.push(Expr::Masq);
        b.add_rule(fam, NFT_TABLE, &post, &lo);
        b.add_rule(fam, NFT_TABLE, &post, &hairpin());
        let mut drop = matches::iifname(CmpOp::Eq, &self.bridge);
        drop.extend(matches::ipv4_addr_in(false, localhost));
        drop.push(Expr::Verdict {
            code: NF_DROP,
            chain: None,
        });
        b.add_rule(fam, NFT_TABLE, &guard, &drop);
        // A dual-stack network: masquerade its IPv6 subnet too (a ULA is not routed beyond
        // the host), in table `ip6 hutch`.
        if let Some(s6) = self.subnet6 {
            let fam6 = NFPROTO_IPV6;
            b.add_table(fam6, NFT_TABLE);
            b.add_chain(fam6, NFT_TABLE, &post, Some(postrouting));
            b.flush_chain(fam6, NFT_TABLE, &post);
            let mut out6 = matches::addr_in(true, s6);
            out6.extend(matches::oifname(CmpOp::Neq, &self.bridge));
            out6.push(Expr::Masq);
            b.add_rule(fam6, NFT_TABLE, &post, &out6);
            b.add_rule(fam6, NFT_TABLE, &post, &hairpin());
        }
        let mut nft = NftHandle::open_in(&self.host)?;
        nft.apply(&b, &format!("network {} rules", self.name))?;
        Ok(())
    }

    /// Connects the container whose network namespace is `container` to the network:
    /// leases an address, creates a veth pair (host side on the bridge, `eth0` created
    /// directly in the container), sets the address, brings `lo` and `eth0` up, adds the
    /// default route via the gateway, and publishes ports. Everything is undone when the
    /// returned [`Attachment`] is dropped or [`Attachment::detach`]ed, and undone at once
    /// if a step fails.
    ///
    /// # Errors
    /// [`NetworkError::Ipam`] (address taken, outside the subnet, none left),
    /// [`NetworkError::PortInUse`] (published by another container),
    /// [`NetworkError::HostPortInUse`] (used by a process of the host),
    /// [`NetworkError::HostPortUnavailable`], [`NetworkError::HostAddressNotLocal`],
    /// [`NetworkError::Ipv6Loopback`], [`NetworkError::LinkLocalHostAddress`],
    /// [`NetworkError::NoIpv6Subnet`], [`NetworkError::Namespace`] for a handle that is not a
    /// network namespace, and netlink errors naming the failed step.
    pub fn attach(
        &self,
        container: &NsHandle,
        options: &AttachOptions,
    ) -> Result<Attachment, NetworkError> {
        if container.kind() != Namespace::Net {
            return Err(NetworkError::Namespace {
                network: self.name.clone(),
                source: NsError::WrongKind {
                    expected: Namespace::Net,
                    found: container.kind(),
                },
            });
        }
        for p in &options.ports {
            match p.host_ip {
                Some(ip @ IpAddr::V6(_)) if ip.is_loopback() => {
                    return Err(NetworkError::Ipv6Loopback {
                        network: self.name.clone(),
                        mapping: *p,
                    });
                }
                Some(IpAddr::V6(v6)) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
                    return Err(NetworkError::LinkLocalHostAddress {
                        network: self.name.clone(),
                        mapping: *p,
                    });
                }
                Some(IpAddr::V6(_)) if self.subnet6.is_none() => {
                    return Err(NetworkError::NoIpv6Subnet {
                        network: self.name.clone(),
                        mapping: *p,
                    });
                }
                _ => {}
            }
        }
        let mut note: String = options
            .ports
            .iter()
            .map(|p| format!("port {p}\n"))
            .collect();
        if let Some(name) = &options.hostname {
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(NetworkError::InvalidHostname { name: name.clone() });
            }
            note.push_str(&format!("name {name}\n"));
        }
        if let Some(path) = &options.hosts_file
            && let Some(p) = path.to_str().filter(|p| !p.contains('\n'))
        {
            note.push_str(&format!("hosts {p}\n"));
        }
        let addr = {
            let lock = self.ipam.lock()?;
            self.cleanup_locked(&lock)?;
            for (holder, _) in lock.leases()? {
                for theirs in notes_ports(&lock.note(holder)) {
                    if let Some(mine) = options.ports.iter().find(|p| p.clashes_with(&theirs)) {
                        return Err(NetworkError::PortInUse {
                            network: self.name.clone(),
                            mapping: *mine,
                            holder,
                        });
                    }
                }
            }
            lock.allocate_with_note(
                options.ip,
                Owner::current().map_err(|source| NetworkError::State {
                    path: PathBuf::from("/proc/self/stat"),
                    source,
                })?,
                &note,
            )?
        };
        let mut att = Attachment {
            network: self.name.clone(),
            bridge: self.bridge.clone(),
            host: self.host.clone(),
            ipam: self.ipam.clone(),
            address: self.subnet.with_addr(addr).unwrap_or(self.gateway),
            address6: None,
            gateway: self.gateway.addr(),
            gateway6: self.gateway6.map(|g| g.addr()),
            ports: options.ports.clone(),
            ifname: options.ifname.clone(),
            host_ifname: String::new(),
            name: options.hostname.clone(),
            reserved: Vec::new(),
            done: false,
        };
        if let (Some(s6), Some(off)) = (self.subnet6, self.subnet.offset_of(addr)) {
            att.address6 = s6.nth(off);
        }
        match self.setup(&mut att, container) {
            Ok(()) => Ok(att),
            Err(e) => {
                let _ = att.teardown();
                Err(e)
            }
        }
    }

    /// [`Network::attach`] for the process a pidfd refers to (its network namespace is
    /// taken through the pidfd, so a recycled pid is never used).
    ///
    /// # Errors
    /// [`NetworkError::Namespace`] if the namespace cannot be obtained (`ESRCH` once the
    /// process has exited); otherwise as [`Network::attach`].
    pub fn attach_pidfd(
        &self,
        pidfd: std::os::fd::BorrowedFd<'_>,
        options: &AttachOptions,
    ) -> Result<Attachment, NetworkError> {
        let ns = NsHandle::from_pidfd(pidfd, Namespace::Net).map_err(self.ns_err())?;
        self.attach(&ns, options)
    }

    /// [`Network::attach`] for a persisted network namespace such as `/run/netns/NAME`.
    ///
    /// # Errors
    /// [`NetworkError::Namespace`] naming the path if it cannot be opened or is not a
    /// network namespace; otherwise as [`Network::attach`].
    pub fn attach_path(
        &self,
        path: impl AsRef<Path>,
        options: &AttachOptions,
    ) -> Result<Attachment, NetworkError> {
        let ns = NsHandle::open_path(path).map_err(self.ns_err())?;
        self.attach(&ns, options)
    }

    fn setup(&self, att: &mut Attachment, container: &NsHandle) -> Result<(), NetworkError> {
        let IpAddr::V4(v4) = att.address.addr() else {
            return Err(IpamError::NotInSubnet {
                addr: att.address.addr(),
                subnet: self.subnet,
            }
            .into());
        };
        let mut host = RtHandle::open_in(&self.host)?;
        // A crash may have left this address's interface or rules behind: an interface of
        // that name is removed only when it carries this network's mark.
        let name = host_ifname(v4);
        let bridge = host.link_by_name(&self.bridge)?.index;
        if let Some(old) = host.find_link(&name)?
            && (old.alias.as_deref() == Some(self.link_mark().as_str())
                || old.master == Some(bridge))
        {
            host.delete_link_by_name(&name)?;
        }
        att.delete_chains(&mut NftHandle::open_in(&self.host)?)?;
        let vh = host.add_veth(&name, &att.ifname, Some(container))?;
        // Ours from now on (teardown deletes it by name).
        att.host_ifname = name;
        host.set_alias(vh, &self.link_mark())?;
        host.set_master(vh, Some(bridge))?;
        host.set_up(vh)?;

        let mut inside = RtHandle::open_in(container)?;
        let lo = inside.link_by_name("lo")?.index;
        inside.set_up(lo)?;
        let eth = inside.link_by_name(&att.ifname)?.index;
        inside.add_address(eth, att.address)?;
        if let Some(a6) = att.address6 {
            inside.add_address(eth, a6)?;
        }
        inside.set_up(eth)?;
        inside.add_route(&Route::default_via(att.gateway).dev(eth))?;
        if let Some(g6) = att.gateway6 {
            inside.add_route(&Route::default_via(g6).dev(eth))?;
        }
        if !att.ports.is_empty() {
            let v6 = match att.address6.map(|c| c.addr()) {
                Some(IpAddr::V6(a)) => Some(a),
                _ => None,
            };
            att.reserved = self.reserve_host_ports(&att.ports, v6.is_some())?;
            self.publish(att, v4, v6)?;
        }
        Ok(())
    }

    /// Checks each published port against the host: a named host address must be one of its
    /// addresses, and the port must be free there. Binds a socket to each (to the wildcard
    /// address of each family published on, for a mapping without a host address), in the
    /// host namespace, and returns them: holding them keeps the ports from the host's
    /// processes while the container publishes them (its traffic is DNATed before any
    /// socket lookup).
    fn reserve_host_ports(
        &self,
        ports: &[PortMapping],
        dual_stack: bool,
    ) -> Result<Vec<std::os::fd::OwnedFd>, NetworkError> {
        let local: Vec<IpAddr> = if ports.iter().any(|p| p.host_ip.is_some()) {
            let mut rt = RtHandle::open_in(&self.host)?;
            rt.addresses(None)?
                .into_iter()
                .map(|a| a.cidr.addr())
                .collect()
        } else {
            Vec::new()
        };
        for p in ports {
            if let Some(ip) = p.host_ip
                && !local.contains(&ip)
            {
                return Err(NetworkError::HostAddressNotLocal {
                    network: self.name.clone(),
                    mapping: *p,
                    addr: ip,
                });
            }
        }
        let mut binds: Vec<(PortMapping, IpAddr)> = Vec::new();
        for p in ports {
            match p.host_ip {
                Some(ip) => binds.push((*p, ip)),
                None => {
                    binds.push((*p, IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
                    if dual_stack {
                        binds.push((*p, IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)));
                    }
                }
            }
        }
        let bound = run_in_netns(&self.host, move || {
            binds
                .iter()
                .map(|(p, ip)| {
                    crate::sys::reserve_port(p.protocol == Protocol::Udp, *ip, p.host_port)
                        .map_err(|e| (*p, *ip, e))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(self.ns_err())?;
        bound.map_err(|(mapping, addr, source)| {
            let network = self.name.clone();
            if source.raw_os_error() == Some(libc::EADDRINUSE) {
                NetworkError::HostPortInUse {
                    network,
                    mapping,
                    addr,
                    source,
                }
            } else {
                NetworkError::HostPortUnavailable {
                    network,
                    mapping,
                    addr,
                    source,
                }
            }
        })
    }

    /// Per-container base chains `NET-ADDR-pre` (prerouting) and `NET-ADDR-out` (output),
    /// in table `ip hutch` for IPv4 and, on a dual-stack network, `ip6 hutch` for IPv6, plus
    /// `NET-ADDR-lo6` there refusing the host's `::1` (all named by the container's IPv4
    /// address), added in one batch; removal deletes exactly these chains.
    fn publish(
        &self,
        att: &Attachment,
        addr: Ipv4Addr,
        addr6: Option<std::net::Ipv6Addr>,
    ) -> Result<(), NetworkError> {
        let prefix = self.chain_prefix(addr);
        let mut b = Batch::new();
        let v4: Vec<&PortMapping> = att
            .ports
            .iter()
            .filter(|p| !matches!(p.host_ip, Some(IpAddr::V6(_))))
            .collect();
        let v6: Vec<&PortMapping> = match addr6 {
            Some(_) => att
                .ports
                .iter()
                .filter(|p| !matches!(p.host_ip, Some(IpAddr::V4(_))))
                .collect(),
            None => Vec::new(),
        };
        for (fam, ports) in [(NFPROTO_IPV4, v4), (NFPROTO_IPV6, v6)] {
            if ports.is_empty() {
                continue;
            }
            b.add_table(fam, NFT_TABLE);
            for (suffix, hook) in [("pre", NF_INET_PRE_ROUTING), ("out", NF_INET_LOCAL_OUT)] {
                let chain = format!("{prefix}{suffix}");
                b.add_chain(
                    fam,
                    NFT_TABLE,
                    &chain,
                    Some(Hook {
                        hook,
                        priority: -100,
                        kind: "nat",
                    }),
                );
                for p in &ports {
                    let mut rule = match p.host_ip {
                        Some(ip) => matches::addr_in(false, Cidr::host(ip)),
                        None => matches::daddr_is_local(),
                    };
                    rule.extend(matches::l4_dport(p.protocol.number(), p.host_port));
                    match addr6 {
                        Some(a6) if fam == NFPROTO_IPV6 => {
                            rule.extend(matches::dnat_v6(a6, p.container_port))
                        }
                        _ => rule.extend(matches::dnat_v4(addr, p.container_port)),
                    }
                    b.add_rule(fam, NFT_TABLE, &chain, &rule);
                }
            }
        }
        // The host's `::1` cannot be forwarded (IPv6 never routes a loopback address off the
        // host), and the port's reservation socket listens there: refuse such connections at
        // once, so that a client trying `localhost` over IPv6 first falls back to 127.0.0.1
        // instead of waiting for a timeout.
        if addr6.is_some() {
            let unspecified: Vec<&PortMapping> =
                att.ports.iter().filter(|p| p.host_ip.is_none()).collect();
            if !unspecified.is_empty() {
                let chain = format!("{prefix}lo6");
                b.add_chain(
                    NFPROTO_IPV6,
                    NFT_TABLE,
                    &chain,
                    Some(Hook {
                        hook: NF_INET_LOCAL_OUT,
                        priority: -150,
                        kind: "filter",
                    }),
                );
                let lo = Cidr::host(std::net::Ipv6Addr::LOCALHOST.into());
                for p in unspecified {
                    let mut rule = matches::addr_in(false, lo);
                    rule.extend(matches::l4_dport(p.protocol.number(), p.host_port));
                    rule.extend(matches::refuse_v6(p.protocol == Protocol::Tcp));
                    b.add_rule(NFPROTO_IPV6, NFT_TABLE, &chain, &rule);
                }
            }
        }
        let mut nft = NftHandle::open_in(&self.host)?;
        nft.apply(
            &b,
            &format!("published ports of {addr} on network {}", self.name),
        )?;
        Ok(())
    }

    /// Adds a named container (`att`, attached with [`AttachOptions::hostname`]) to the hosts
    /// files of the containers already on the network that gave one
    /// ([`AttachOptions::hosts_file`]): names then resolve both ways. Call it once the
    /// container's own hosts file is written. The entry is removed again when `att` is
    /// detached or dropped.
    ///
    /// # Errors
    /// IPAM errors; a peer's file that cannot be changed is skipped.
    pub fn announce(&self, att: &Attachment) -> Result<(), NetworkError> {
        let Some(name) = &att.name else {
            return Ok(());
        };
        let line = crate::names::peer_hosts_line(name, att.address.addr());
        for path in self.peer_hosts_files(att.address.addr())? {
            let _ = edit_hosts_file(&path, |text| {
                (!text.lines().any(|l| l == line.trim_end())).then(|| format!("{text}{line}"))
            });
        }
        Ok(())
    }

    /// The hosts files of the live containers other than `me`.
    fn peer_hosts_files(&self, me: IpAddr) -> Result<Vec<PathBuf>, NetworkError> {
        let lock = self.ipam.lock()?;
        let mut out = Vec::new();
        for (addr, owner) in lock.leases()? {
            if addr != me
                && owner.is_some_and(|o| o.is_alive())
                && let Some(p) = notes_hosts(&lock.note(addr))
            {
                out.push(p.to_owned());
            }
        }
        Ok(out)
    }

    /// The named containers attached now (by any process), for `/etc/hosts` entries:
    /// `(hostname, address)` pairs of live leases given a name with
    /// [`AttachOptions::hostname`].
    ///
    /// # Errors
    /// IPAM errors.
    pub fn peers(&self) -> Result<Vec<(String, IpAddr)>, NetworkError> {
        let lock = self.ipam.lock()?;
        let mut out = Vec::new();
        for (addr, owner) in lock.leases()? {
            if owner.is_some_and(|o| o.is_alive())
                && let Some(name) = notes_name(&lock.note(addr))
            {
                out.push((name.to_owned(), addr));
            }
        }
        Ok(out)
    }

    /// Removes what dead owners left behind: their leases, host-side veths and NAT
    /// chains, plus veths and chains of this network that no lease accounts for.
    ///
    /// # Errors
    /// Netlink, IPAM and state errors.
    pub fn cleanup_stale(&self) -> Result<CleanupReport, NetworkError> {
        let lock = self.ipam.lock()?;
        self.cleanup_locked(&lock)
    }

    fn cleanup_locked(&self, lock: &IpamLock<'_>) -> Result<CleanupReport, NetworkError> {
        let mut report = CleanupReport::default();
        let stale = lock.stale()?;
        let live: Vec<IpAddr> = lock
            .leases()?
            .into_iter()
            .map(|(a, _)| a)
            .filter(|a| !stale.contains(a))
            .collect();
        let mut rt = RtHandle::open_in(&self.host)?;
        let mut nft = NftHandle::open_in(&self.host)?;
        let bridge = rt.find_link(&self.bridge)?.map(|l| l.index);
        for link in rt.links()? {
            let Some(addr) = addr_from_host_ifname(&link.name) else {
                continue;
            };
            // Marked by this network, or (from before the marks) enslaved to its bridge.
            let marked = link.alias.as_deref() == Some(self.link_mark().as_str());
            let on_bridge = bridge.is_some() && link.master == bridge;
            let ours =
                self.subnet.contains(addr.into()) && (on_bridge || marked && link.master.is_none());
            if ours && !live.contains(&IpAddr::V4(addr)) && rt.delete_link_by_name(&link.name)? {
                report.links.push(link.name);
            }
        }
        let mut b = Batch::new();
        let net_prefix = format!("{}-", self.name);
        // Per-container chains are named by the container's IPv4 address in both tables.
        for fam in [NFPROTO_IPV4, NFPROTO_IPV6] {
            for chain in nft.chains(fam)? {
                if chain.table != NFT_TABLE {
                    continue;
                }
                let Some(rest) = chain.name.strip_prefix(&net_prefix) else {
                    continue;
                };
                let Some((addr, _)) = rest.rsplit_once('-') else {
                    continue;
                };
                let Ok(addr) = addr.parse::<IpAddr>() else {
                    continue;
                };
                if !live.contains(&addr) {
                    b.delete_chain(fam, NFT_TABLE, &chain.name);
                    report.chains.push(chain.name);
                }
            }
        }
        nft.apply(&b, &format!("stale rules of network {}", self.name))?;
        for addr in stale {
            lock.release(addr)?;
            report.leases.push(addr);
        }
        Ok(report)
    }

    /// Removes the network: bridge, NAT chains (and table `ip hutch` when it is empty
    /// afterwards) and state directory.
    ///
    /// # Errors
    /// [`NetworkError::Busy`] while containers are attached; netlink and state errors.
    pub fn remove(&self) -> Result<(), NetworkError> {
        {
            let lock = self.ipam.lock()?;
            self.cleanup_locked(&lock)?;
            let count = lock.leases()?.len();
            if count > 0 {
                return Err(NetworkError::Busy {
                    network: self.name.clone(),
                    count,
                });
            }
            let mut rt = RtHandle::open_in(&self.host)?;
            rt.delete_link_by_name(&self.bridge)?;
            let mut nft = NftHandle::open_in(&self.host)?;
            let prefix = format!("{}-", self.name);
            let mut b = Batch::new();
            for fam in [NFPROTO_IPV4, NFPROTO_IPV6] {
                let chains = nft.chains(fam)?;
                let mut others = 0;
                let mut ours = Vec::new();
                for c in chains.iter().filter(|c| c.table == NFT_TABLE) {
                    if c.name.starts_with(&prefix) {
                        ours.push(c.name.clone());
                    } else {
                        others += 1;
                    }
                }
                if others == 0 && chains.iter().any(|c| c.table == NFT_TABLE) {
                    b.delete_table(fam, NFT_TABLE);
                } else {
                    for name in ours {
                        b.delete_chain(fam, NFT_TABLE, &name);
                    }
                }
            }
            if !b.is_empty() {
                nft.apply(&b, &format!("rules of network {}", self.name))?;
            }
        }
        fs::remove_dir_all(&self.state_dir).map_err(|source| NetworkError::State {
            path: self.state_dir.clone(),
            source,
        })
    }
}

/// A container's connection to a [`Network`]; dropping it (or [`Attachment::detach`])
/// removes the veth pair, the published ports and the lease.
#[derive(Debug)]
pub struct Attachment {
    network: String,
    bridge: String,
    host: Arc<NsHandle>,
    ipam: Ipam,
    address: Cidr,
    address6: Option<Cidr>,
    gateway: IpAddr,
    gateway6: Option<IpAddr>,
    ports: Vec<PortMapping>,
    ifname: String,
    host_ifname: String,
    /// The name given with [`AttachOptions::hostname`], removed from peers' hosts files when
    /// the attachment goes.
    name: Option<String>,
    /// Sockets bound to the published host ports in the host namespace (TCP ones listening,
    /// which no connection reaches: the DNAT comes first): no process of the host can take a
    /// port while the container publishes it.
    reserved: Vec<std::os::fd::OwnedFd>,
    done: bool,
}

impl Attachment {
    /// The container's IPv4 address with the subnet's prefix length.
    pub fn address(&self) -> Cidr {
        self.address
    }

    /// The container's IPv6 address, on a network with an IPv6 subnet.
    pub fn address6(&self) -> Option<Cidr> {
        self.address6
    }

    /// The IPv4 gateway (the bridge's address).
    pub fn gateway(&self) -> IpAddr {
        self.gateway
    }

    /// The IPv6 gateway.
    pub fn gateway6(&self) -> Option<IpAddr> {
        self.gateway6
    }

    /// The published ports.
    pub fn ports(&self) -> &[PortMapping] {
        &self.ports
    }

    /// The network's name.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// The bridge's name.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// The interface name inside the container.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The host-side veth's name (`vh` + the address in hex).
    pub fn host_ifname(&self) -> &str {
        &self.host_ifname
    }

    fn delete_chains(&self, nft: &mut NftHandle) -> Result<(), NetworkError> {
        let IpAddr::V4(v4) = self.address.addr() else {
            return Ok(());
        };
        let prefix = format!("{}-{v4}-", self.network);
        let mut b = Batch::new();
        for fam in [NFPROTO_IPV4, NFPROTO_IPV6] {
            for c in nft.chains(fam)? {
                if c.table == NFT_TABLE && c.name.starts_with(&prefix) {
                    b.delete_chain(fam, NFT_TABLE, &c.name);
                }
            }
        }
        nft.apply(&b, &format!("published ports of {v4}"))?;
        Ok(())
    }

    /// Undoes everything; keeps going after a failure and reports the first one.
    fn teardown(&mut self) -> Result<(), NetworkError> {
        self.done = true;
        let mut first: Option<NetworkError> = None;
        let mut keep = |r: Result<(), NetworkError>| {
            if let Err(e) = r
                && first.is_none()
            {
                first = Some(e);
            }
        };
        keep(
            NftHandle::open_in(&self.host)
                .map_err(NetworkError::from)
                .and_then(|mut nft| self.delete_chains(&mut nft)),
        );
        if !self.host_ifname.is_empty() {
            keep(
                RtHandle::open_in(&self.host)
                    .and_then(|mut rt| rt.delete_link_by_name(&self.host_ifname))
                    .map(drop)
                    .map_err(NetworkError::from),
            );
        }
        if let Some(name) = &self.name {
            let line = crate::names::peer_hosts_line(name, self.address.addr());
            let line = line.trim_end();
            let me = self.address.addr();
            let files: Vec<PathBuf> = self
                .ipam
                .lock()
                .and_then(|lock| {
                    Ok(lock
                        .leases()?
                        .into_iter()
                        .filter(|(a, o)| *a != me && o.as_ref().is_some_and(|o| o.is_alive()))
                        .filter_map(|(a, _)| notes_hosts(&lock.note(a)).map(Path::to_owned))
                        .collect())
                })
                .unwrap_or_default();
            for path in files {
                let _ = edit_hosts_file(&path, |text| {
                    text.lines().any(|l| l == line).then(|| {
                        text.lines()
                            .filter(|l| *l != line)
                            .map(|l| format!("{l}\n"))
                            .collect()
                    })
                });
            }
        }
        keep(
            self.ipam
                .lock()
                .and_then(|l| {
                    l.release(self.address.addr())?;
                    // The last container of a transient network: its state goes too.
                    let dir = self.ipam.dir();
                    if dir.join(TRANSIENT_MARK).exists() && l.leases()?.is_empty() {
                        let _ = fs::remove_dir_all(dir);
                    }
                    Ok(())
                })
                .map_err(NetworkError::from),
        );
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Disconnects the container now, reporting failures (dropping does the same silently).
    ///
    /// # Errors
    /// The first netlink or IPAM error; the remaining steps are still carried out.
    pub fn detach(mut self) -> Result<(), NetworkError> {
        self.teardown()
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.teardown();
        }
    }
}

/// The names of the networks that have state under `state_root`.
///
/// # Errors
/// [`NetworkError::State`] if the directory exists but cannot be read.
pub fn list_networks(state_root: impl AsRef<Path>) -> Result<Vec<String>, NetworkError> {
    let root = state_root.as_ref();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(NetworkError::State {
                path: root.to_owned(),
                source,
            });
        }
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        if entry.path().join("config").exists()
            && let Some(n) = entry.file_name().to_str()
        {
            names.push(n.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn port_mappings() {
        let p: PortMapping = "8080:80".parse().unwrap();
        assert_eq!(p, PortMapping::tcp(8080, 80));
        assert_eq!(p.to_string(), "8080:80/tcp");
        assert_eq!(
            "53:5353/udp".parse::<PortMapping>().unwrap(),
            PortMapping::udp(53, 5353)
        );
        let q: PortMapping = "10.0.0.1:1:2/tcp".parse().unwrap();
        assert_eq!(q.host_ip, Some("10.0.0.1".parse().unwrap()));
        let v6: PortMapping = "[::1]:8080:80/udp".parse().unwrap();
        assert_eq!(v6.host_ip, Some("::1".parse().unwrap()));
        assert_eq!(v6.to_string(), "[::1]:8080:80/udp");
        assert!(!v6.clashes_with(&q));
        assert!(v6.clashes_with(&PortMapping::udp(8080, 1)));
        for bad in [
            "",
            "80",
            "0:80",
            "80:0",
            "70000:80",
            "a:80",
            "80:80/sctp",
            "1:2:3:4",
            "x:1:2",
            "+1:2",
            "80:80/",
            "::1:8080:80",
            "[::1]8080:80",
            "[10.0.0.1]:1:2",
            "[::1]:1:2:3",
            "[]:1:2",
            "[::1:1:2",
        ] {
            assert!(bad.parse::<PortMapping>().is_err(), "{bad:?}");
        }
        assert!(!p.clashes_with(&q));
        assert!(PortMapping::tcp(1, 2).clashes_with(&q));
        assert!(!PortMapping::udp(1, 2).clashes_with(&q));
    }

    #[test]
    fn host_ifnames() {
        let a: Ipv4Addr = "10.88.0.2".parse().unwrap();
        assert_eq!(host_ifname(a), "vh0a580002");
        assert_eq!(addr_from_host_ifname("vh0a580002"), Some(a));
        assert_eq!(addr_from_host_ifname("eth0"), None);
        assert_eq!(addr_from_host_ifname("vhzz"), None);
    }

    proptest! {
        #[test]
        fn port_mapping_round_trip(
            ip in proptest::option::of(any::<[u8; 4]>()),
            ip6 in proptest::option::of(any::<[u8; 16]>()),
            h in 1u16..,
            c in 1u16..,
            udp: bool,
        ) {
            let host_ip = match (ip, ip6) {
                (_, Some(v6)) => Some(IpAddr::from(v6)),
                (Some(v4), None) => Some(IpAddr::from(v4)),
                (None, None) => None,
            };
            let p = PortMapping {
                host_ip,
                host_port: h,
                container_port: c,
                protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
            };
            prop_assert_eq!(p.to_string().parse::<PortMapping>(), Ok(p));
            prop_assert_eq!(host_ifname(Ipv4Addr::from(ip.unwrap_or([1, 2, 3, 4]))).len(), 10);
        }
    }
}
