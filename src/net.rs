//! The network layer, parent side: the network mode of a container, and connecting a new
//! container's network namespace (a bridge network with hutch-netns, or pasta for unprivileged
//! callers) after the clone and before the child runs its program.
//!
//! The child waits on its sync channel while the parent creates the veth pair (the peer
//! directly inside the child's namespace), addresses, routes and published ports, and fills
//! the container's `/etc/hosts` and `/etc/resolv.conf` (files of its own under
//! `/run/hutch/containers/` for root, bind-mounted read-only, whose content is written once the address
//! is known). Everything is undone when the container's [`Child`](crate::Child) goes away.

use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hutch_netns::{AttachOptions, Attachment, Cidr, Network, NetworkConfig, Pasta, PortMapping};
use hutch_ns::{Namespace, Namespaces, NsHandle, NsId};

use crate::{Command, SpawnError};

/// How a container is connected to a network ([`Container::network`](crate::Container::network)).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum NetworkMode {
    /// A network namespace of its own with only `lo`, up (the default; `docker run
    /// --network none`). What a test harness usually wants.
    #[default]
    None,
    /// The caller's network namespace (`--network host`).
    Host,
    /// A veth pair to a bridge network (`--network bridge` / `--network NAME`): an address of
    /// the network's subnet, a default route through its bridge, masquerade to the outside,
    /// published ports. Needs root (`CAP_NET_ADMIN` in the network's namespace).
    Bridge(NetworkConfig),
    /// User-mode networking through `pasta` (Debian package `passt`), for unprivileged
    /// callers: the container reaches what the caller reaches, and published ports listen in
    /// the caller's namespace. pasta opens `/dev/net/tun` as the caller: an unprivileged
    /// caller needs it readable and writable (udev makes it `0666`; a host without udev
    /// leaves the kernel's `0600`, which the spawn error and the preflight report name).
    Pasta,
}

/// The network part of a container's configuration.
#[derive(Debug, Clone, Default)]
pub(crate) struct NetSettings {
    pub mode: NetworkMode,
    pub ip: Option<IpAddr>,
    pub ports: Vec<PortMapping>,
    pub dns: Vec<IpAddr>,
    pub extra_hosts: Vec<(String, IpAddr)>,
    /// Namespaces to join instead of creating: `(kind, handle)`.
    pub joins: Vec<(Namespace, Arc<NsHandle>)>,
}

impl NetSettings {
    /// Whether the parent has work to do for the child's network before it runs.
    pub(crate) fn needs_parent(&self) -> bool {
        matches!(self.mode, NetworkMode::Bridge(_) | NetworkMode::Pasta)
    }
}

/// What a running container's network is (see [`Child::network`](crate::Child::network)).
#[derive(Debug)]
pub struct ContainerNetwork {
    kind: Connected,
    /// Removed (by its own `Drop`) with the network.
    _files: Option<Files>,
}

#[derive(Debug)]
enum Connected {
    Bridge(Box<Attachment>),
    Pasta(Pasta),
}

impl ContainerNetwork {
    /// The container's IPv4 address and prefix on a bridge network.
    pub fn address(&self) -> Option<hutch_netns::Cidr> {
        match &self.kind {
            Connected::Bridge(a) => Some(a.address()),
            Connected::Pasta(_) => None,
        }
    }

    /// The container's IPv6 address on a dual-stack bridge network.
    pub fn address6(&self) -> Option<hutch_netns::Cidr> {
        match &self.kind {
            Connected::Bridge(a) => a.address6(),
            Connected::Pasta(_) => None,
        }
    }

    /// The gateway (the bridge's address) on a bridge network.
    pub fn gateway(&self) -> Option<IpAddr> {
        match &self.kind {
            Connected::Bridge(a) => Some(a.gateway()),
            Connected::Pasta(_) => None,
        }
    }

    /// The published ports.
    pub fn ports(&self) -> &[PortMapping] {
        match &self.kind {
            Connected::Bridge(a) => a.ports(),
            Connected::Pasta(_) => &[],
        }
    }

    /// The bridge network's name, or `"pasta"`.
    pub fn network(&self) -> &str {
        match &self.kind {
            Connected::Bridge(a) => a.network(),
            Connected::Pasta(_) => "pasta",
        }
    }

    /// The pid of the `pasta` process serving the container, in pasta mode.
    pub fn pasta_pid(&self) -> Option<u32> {
        match &self.kind {
            Connected::Bridge(_) => None,
            Connected::Pasta(p) => p.id(),
        }
    }

    /// The host side of the veth pair on a bridge network.
    pub fn host_interface(&self) -> Option<&str> {
        match &self.kind {
            Connected::Bridge(a) => Some(a.host_ifname()),
            Connected::Pasta(_) => None,
        }
    }
}

/// The container's own `/etc/hosts` and `/etc/resolv.conf`, removed with it.
#[derive(Debug)]
struct Files {
    dir: PathBuf,
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where containers' generated files live: `/run/hutch/containers` for root, else
/// `$XDG_RUNTIME_DIR/hutch/containers`, else `/tmp/hutch-UID/containers` (made `0700`).
fn files_root() -> PathBuf {
    let uid = crate::sys::geteuid();
    if uid == 0 {
        return PathBuf::from("/run/hutch/containers");
    }
    let base = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d).join("hutch"),
        _ => std::env::temp_dir().join(format!("hutch-{uid}")),
    };
    base.join("containers")
}

/// Creates `dir` and its missing parents, private to the caller.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Name servers for a container on a bridge network when the host has only loopback ones
/// (Docker's choice).
const DNS_FALLBACK: [[u8; 4]; 2] = [[8, 8, 8, 8], [8, 8, 4, 4]];

/// The parent's side of the network layer for one spawn.
pub(crate) struct NetSetup {
    network: Option<Arc<Network>>,
    options: AttachOptions,
    /// The name the program will see as its hostname: the one set, else the caller's (a
    /// fresh UTS namespace starts with a copy), so that it resolves to the container's own
    /// address.
    own_name: String,
    dns: Vec<IpAddr>,
    extra_hosts: Vec<(String, IpAddr)>,
    files: Option<Files>,
    ports: Vec<PortMapping>,
}

impl NetSetup {
    /// `(host file, container path)` pairs to bind read-only into the container.
    pub(crate) fn binds(&self) -> Vec<(PathBuf, &'static str)> {
        match &self.files {
            Some(f) => vec![
                (f.dir.join("hosts"), "/etc/hosts"),
                (f.dir.join("resolv.conf"), "/etc/resolv.conf"),
            ],
            None => Vec::new(),
        }
    }
}

fn net_error(source: hutch_netns::NetworkError) -> SpawnError {
    SpawnError::Network(Box::new(source))
}

fn files_error(path: &Path) -> impl FnOnce(std::io::Error) -> SpawnError + '_ {
    move |source| SpawnError::NetworkFiles {
        path: path.to_owned(),
        source,
    }
}

/// Removes, once per process, the file directories of containers whose spawning process is
/// gone (named as cgroups are, `hutch-PID-START-N`).
fn remove_stale_files() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(files_root()) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name().to_str().and_then(crate::cgroup::owner_alive) == Some(false) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    });
}

/// Opens a network, once per process per configuration: opening makes sure of the bridge, the
/// sysctls and the network's nf_tables chains (milliseconds), which only the first container
/// needs. A network removed meanwhile (`network rm`) is opened again.
fn open_network(cfg: &NetworkConfig) -> Result<Arc<Network>, SpawnError> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    /// What makes two configurations the same network in the same place.
    #[derive(PartialEq, Eq, Hash)]
    struct Key {
        name: String,
        bridge: String,
        subnet: Option<Cidr>,
        subnet6: Option<Cidr>,
        state_root: PathBuf,
        /// The host namespace: the configured one, else the calling thread's.
        host: NsId,
    }
    static OPEN: Mutex<Option<HashMap<Key, Arc<Network>>>> = Mutex::new(None);
    let host = match cfg.get_host_netns() {
        Some(h) => h.id(),
        None => {
            use std::os::unix::fs::MetadataExt;
            let path = "/proc/thread-self/ns/net";
            let m = std::fs::metadata(path).map_err(|source| SpawnError::Parent {
                op: "stat /proc/thread-self/ns/net",
                source,
            })?;
            NsId {
                dev: m.dev(),
                ino: m.ino(),
            }
        }
    };
    let key = Key {
        name: cfg.get_name().to_owned(),
        bridge: cfg.get_bridge().to_owned(),
        subnet: cfg.get_subnet(),
        subnet6: cfg.get_subnet6(),
        state_root: cfg.get_state_root().to_owned(),
        host,
    };
    let cached = OPEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(&key)
        .cloned();
    if let Some(net) = cached
        && net.state_dir().join("config").exists()
    {
        return Ok(net);
    }
    let net = Arc::new(cfg.open().map_err(net_error)?);
    OPEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, net.clone());
    Ok(net)
}

/// Checks the network settings and opens what the parent will need after the clone.
pub(crate) fn prepare(cmd: &Command, ns: Namespaces) -> Result<Option<NetSetup>, SpawnError> {
    let c = &cmd.container;
    let s = &c.net;
    if s.joins.iter().any(|(k, _)| *k == Namespace::Net) && !matches!(s.mode, NetworkMode::None) {
        return Err(SpawnError::NetworkConfig {
            reason: "a joined network namespace (join_namespace) brings its own network: it \
                     cannot also get a network mode (bridge, pasta or host); use one of the two",
        });
    }
    if !s.needs_parent() {
        if !s.ports.is_empty() || s.ip.is_some() || !s.dns.is_empty() || !s.extra_hosts.is_empty() {
            return Err(SpawnError::NetworkConfig {
                reason: "published ports, a fixed address, name servers and extra hosts need \
                         a bridge network or pasta (Container::network)",
            });
        }
        return Ok(None);
    }
    if !ns.contains(Namespaces::NET) {
        return Err(SpawnError::NeedsNamespace {
            what: "a bridge or pasta network",
            namespace: Namespace::Net,
        });
    }
    let mut options = AttachOptions::new();
    if let Some(ip) = s.ip {
        options.ip(ip);
    }
    for p in &s.ports {
        options.publish(*p);
    }
    let hostname = c
        .hostname
        .as_ref()
        .map(|h| h.to_string_lossy().into_owned());
    if let Some(h) = &hostname {
        options.hostname(h.clone());
    }
    let network = match &s.mode {
        NetworkMode::Bridge(cfg) => Some(open_network(cfg)?),
        NetworkMode::Pasta => {
            if s.ip.is_some() {
                return Err(SpawnError::NetworkConfig {
                    reason: "pasta networks take the caller's addresses: a fixed address needs \
                             a bridge network",
                });
            }
            None
        }
        _ => unreachable!("needs_parent"),
    };
    // Files of the container's own, when it has a mount namespace to show them in.
    let files = if ns.contains(Namespaces::MOUNT) {
        remove_stale_files();
        let dir = files_root().join(crate::cgroup::unique_name());
        create_private_dir(&dir).map_err(files_error(&dir))?;
        let files = Files { dir };
        for name in ["hosts", "resolv.conf"] {
            let p = files.dir.join(name);
            std::fs::write(&p, "").map_err(files_error(&p))?;
        }
        // Kept current by the network as named containers come and go.
        options.hosts_file(files.dir.join("hosts"));
        Some(files)
    } else {
        None
    };
    Ok(Some(NetSetup {
        network,
        options,
        own_name: hostname.unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim_end().to_owned())
                .unwrap_or_default()
        }),
        dns: s.dns.clone(),
        extra_hosts: s.extra_hosts.clone(),
        files,
        ports: s.ports.clone(),
    }))
}

/// The parent's step after the clone, before the child is woken: connects the child's
/// network namespace and writes its name files.
pub(crate) fn connect(
    setup: NetSetup,
    pidfd: BorrowedFd<'_>,
    userns: bool,
) -> Result<ContainerNetwork, SpawnError> {
    let kind = match &setup.network {
        Some(net) => Connected::Bridge(Box::new(
            net.attach_pidfd(pidfd, &setup.options).map_err(net_error)?,
        )),
        None => {
            let child_net = NsHandle::from_pidfd(pidfd.as_fd(), Namespace::Net)
                .map_err(|source| SpawnError::NetworkNamespace { source })?;
            let mut cfg = hutch_netns::PastaConfig::new();
            if userns {
                let u = NsHandle::from_pidfd(pidfd.as_fd(), Namespace::User)
                    .map_err(|source| SpawnError::NetworkNamespace { source })?;
                cfg.userns(Arc::new(u));
            }
            for p in &setup.ports {
                cfg.publish(*p);
            }
            Connected::Pasta(
                cfg.start(&child_net)
                    .map_err(|e| SpawnError::Pasta(Box::new(e)))?,
            )
        }
    };
    if let Some(files) = &setup.files {
        let (addrs, gateway): (Vec<IpAddr>, Option<IpAddr>) = match &kind {
            Connected::Bridge(a) => {
                let mut addrs = vec![a.address().addr()];
                addrs.extend(a.address6().map(|c| c.addr()));
                (addrs, Some(a.gateway()))
            }
            Connected::Pasta(_) => (Vec::new(), None),
        };
        // The named containers already there, listed under the file's lock: one attaching
        // meanwhile is either listed here or adds itself after this write.
        let hosts_text = || {
            let peers = match &setup.network {
                Some(net) => net.peers().unwrap_or_default(),
                None => Vec::new(),
            };
            let mut text = hutch_netns::hosts_file(&setup.own_name, &addrs, &setup.extra_hosts);
            for (name, addr) in peers {
                if name != setup.own_name && !addrs.contains(&addr) {
                    text.push_str(&hutch_netns::peer_hosts_line(&name, addr));
                }
            }
            text
        };
        let p = files.dir.join("hosts");
        // The same inode the child's plan binds: written in place.
        hutch_netns::write_hosts_file(&p, hosts_text).map_err(files_error(&p))?;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mut resolv = hutch_netns::ResolvConf::parse(&host_resolv);
        if !setup.dns.is_empty() {
            resolv.nameservers = setup.dns.clone();
        }
        // A loopback resolver of the host (systemd-resolved's 127.0.0.53, a local dnsmasq)
        // is not reachable from a container on a bridge, and nothing answers DNS on the
        // gateway: like Docker, fall back to Google's public resolvers then (`dns` to choose).
        let fallback: Vec<IpAddr> = match gateway {
            Some(_) => DNS_FALLBACK.iter().map(|&a| IpAddr::from(a)).collect(),
            None => Vec::new(),
        };
        let resolv = resolv.for_container(&fallback);
        let p = files.dir.join("resolv.conf");
        std::fs::write(&p, resolv.to_text()).map_err(files_error(&p))?;
        // And the containers already there learn this one's name.
        if let (Connected::Bridge(a), Some(net)) = (&kind, &setup.network) {
            let _ = net.announce(a);
        }
    }
    Ok(ContainerNetwork {
        kind,
        _files: setup.files,
    })
}
