//! Container networking for hutch, over netlink, without tokio and without running `ip`,
//! `iptables` or `nft`.
//!
//! - [`RtHandle`]: synchronous rtnetlink bound to one network namespace: links (veth pairs
//!   whose peer is created directly in another namespace, bridges, enslaving, up/down, MTU,
//!   MAC, rename, move, delete), IPv4/IPv6 addresses and routes. Kernel refusals become a
//!   [`NetlinkError`] naming the operation, the interface and the errno, plus the kernel's
//!   extended-ack message when it sends one.
//! - [`nft`]: an nf_tables encoder of our own (batches, tables, chains, rules; `meta`,
//!   `payload`, `bitwise`, `cmp`, `immediate`, `nat`, `masq`, `fib`, `counter`) and
//!   [`nft::NftHandle`], which applies a batch atomically.
//! - [`ipam`]: address leases shared by threads and processes (lease files under a state
//!   directory, `flock`ed), reclaimed when their owner (pid + start time) is gone.
//! - [`Network`]: a named bridge network in a "host" namespace (the caller's, or any
//!   [`NsHandle`](hutch_ns::NsHandle)), with masquerade and published ports;
//!   [`Network::attach`] connects a container's network namespace and returns an
//!   [`Attachment`] that undoes everything when dropped.
//! - [`hosts_file`] and [`ResolvConf`]: the contents of a container's `/etc/hosts` and
//!   `/etc/resolv.conf`; [`Network::peers`] lists the named containers of a network.
//! - [`PastaConfig`]: networking for unprivileged callers through `pasta` (Debian package
//!   `passt`), with published ports, started with an explicit fd set, waited for until
//!   ready, and ended with the returned [`Pasta`].
//!
//! # Quickstart
//!
//! ```no_run
//! use hutch_netns::{AttachOptions, NetworkConfig, PortMapping};
//! use hutch_ns::{Namespace, NsHandle};
//! # fn child_pidfd() -> std::os::fd::OwnedFd { unimplemented!() }
//! // Create (or open) the default network in the caller's namespace.
//! let net = NetworkConfig::new("hutch0").open()?;
//! // The child's network namespace, from its pidfd (no pid races).
//! use std::os::fd::AsFd;
//! let pidfd = child_pidfd();
//! let child_net = NsHandle::from_pidfd(pidfd.as_fd(), Namespace::Net)?;
//! let mut opts = AttachOptions::new();
//! opts.publish("8080:80".parse()?);
//! let att = net.attach(&child_net, &opts)?;
//! let hosts = hutch_netns::hosts_file("web", &[att.address().addr()], &[]);
//! # let _ = hosts;
//! // ... run the container; dropping `att` removes veth, rules and lease.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Published ports and the host's own `127.0.0.1`
//!
//! Every hutch rule lives in table `ip hutch` (see `nft list table ip hutch`), and those of
//! a dual-stack network's IPv6 side in `ip6 hutch`. A network has two chains: `NAME-postrouting` (nat, priority srcnat) masquerades traffic from the
//! subnet leaving through another interface, traffic from `127.0.0.0/8` leaving through
//! the bridge, and hairpin traffic (`ct status dnat` from the bridge back onto it, a
//! container using a published port through a host address); `NAME-guard` (filter prerouting, priority raw) drops packets for
//! `127.0.0.0/8` arriving on the bridge (in `ip6 hutch`, `NAME-postrouting` masquerades the
//! IPv6 subnet and hairpin traffic). Each container with published ports gets base chains of
//! its own, named by its IPv4 address: `NAME-ADDR-pre` (prerouting) and `NAME-ADDR-out`
//! (output), in `ip hutch` and on a dual-stack network in `ip6 hutch` too, plus
//! `NAME-ADDR-lo6` there (filter output, before NAT) refusing the host's `::1`; all added in
//! one batch and removed by deleting exactly those chains, so removal never touches
//! another container's rules. A rule is `fib daddr type local` (or `ip daddr HOST_IP`),
//! `meta l4proto`, `th dport`, `dnat to ADDR:PORT`.
//!
//! Reaching a port from the host's own `127.0.0.1` uses the DNAT rule in the output chain
//! plus `net.ipv4.conf.BRIDGE.route_localnet=1` (so the kernel routes a packet with a
//! loopback source onto the bridge), masquerade to the bridge address, and the guard rule
//! (so `route_localnet` does not let containers reach the host's loopback services), as
//! Docker without its userland proxy and netavark do. A proxy thread was not chosen: it
//! would hide the client's address from the container, cost a copy per byte, and need a
//! thread per container for its whole life.
//!
//! # Requirements
//!
//! - Linux 5.2 or later with veth, bridge and nf_tables (`nft_nat`, `nft_masq`, `nft_fib`,
//!   `nft_chain_nat`, and `nft_reject_ipv6` for dual-stack networks; modules are loaded on
//!   demand by the kernel).
//! - `CAP_NET_ADMIN` over the namespaces involved and `CAP_SYS_ADMIN` to enter them (in
//!   practice: root). Opening a handle in another namespace needs `setns` rights on it.
//! - Networks turn on `net.ipv4.ip_forward` (and IPv6 forwarding with an IPv6 subnet) in
//!   their host namespace. A host whose firewall drops forwarded traffic by default must
//!   accept the bridge's traffic itself. An IPv6 subnet is masqueraded (table `ip6 hutch`),
//!   and ports are published over IPv6 too (to the host's IPv6 addresses, from other hosts
//!   and from the host itself). Connections to the host's `::1` are refused at once (a
//!   TCP reset or ICMPv6 port unreachable from chain `NET-ADDR-lo6`): IPv6 has no
//!   `route_localnet`, the kernel never routes a loopback address off the host, and a
//!   `localhost` client then falls back to `127.0.0.1` without waiting.
//! - Rootless networking needs `pasta` (Debian package `passt`) and unprivileged user
//!   namespaces; pasta must join the user namespace owning the container's network
//!   namespace ([`PastaConfig::userns`]). slirp4netns is not supported.
//! - Published ports are not checked against sockets already listening on the host:
//!   the DNAT rule takes precedence for connections arriving from outside.
//!
//! # Threads
//!
//! Nothing here changes the namespaces of the caller's threads. A handle for another
//! namespace is opened by a short-lived thread that enters it with `setns` and ends
//! ([`run_in_netns`], public because tests and callers need the same thing for
//! `std::net` sockets); the socket stays bound to that namespace. Handles take `&mut self`
//! (they count sequence numbers); [`Network`] is `Sync` and attaches from many threads at
//! once, serialised only around lease allocation by the state directory's `flock`.
//!
//! # Test strategy
//!
//! Encoders and parsers (CIDR, port mappings, `/proc/PID/stat`, resolv.conf, nf_tables
//! messages byte for byte, next-free-address) have unit tests and proptest properties.
//! Everything else runs against the kernel as root in `tests/`, inside network namespaces
//! the tests create and drop (never the machine's own interfaces): `ip -j` (iproute2) is
//! the oracle for links, addresses and routes, `nft -j list ruleset` (nftables) for rules.
//! The end-to-end test builds a "host" namespace and a "world" namespace joined by a veth,
//! attaches "container" namespaces, and checks container↔container, masquerade towards the
//! world, a published TCP and UDP port from the world and from the host's `127.0.0.1`,
//! clashes and bad input, 50 containers from 8 threads, cleanup after SIGKILL of the
//! process that attached, and that nothing (links, chains, leases, state) is left. IPAM is
//! tested with threads of several processes. pasta runs inside a test "host" namespace,
//! so its sockets stay inside the test's namespaces too; one test runs it as `nobody` for
//! a container in an unprivileged user namespace, reaching a published port from the
//! user's `127.0.0.1`. The end-to-end test runs with `br_netfilter` off and on. Needed Debian packages:
//! `iproute2`, `nftables`, `passt`.
//!
//! # Speed
//!
//! `benches/veth.rs` wires a container (veth pair, addresses on both ends, both ends up,
//! default route) through [`RtHandle`] and through `ip` commands. On the 2-CPU test VM:
//! 79 ms with `ip`, 26 ms with netlink when the peer is moved into the container
//! afterwards as `ip` does (the move waits for an RCU grace period in the kernel), and
//! 4.8 ms (16× faster) when the peer is created directly inside the container, which is
//! what [`Network::attach`] does.
//!
//! # Dependencies
//!
//! `netlink-packet-route` and `netlink-packet-core` encode and decode rtnetlink messages
//! (links, addresses, routes) so this crate does not re-implement them; `netlink-sys`
//! provides the socket. nf_tables messages are encoded here (see [`nft`]) because no
//! maintained, permissively licensed, synchronous crate covers nat/masq/fib. `hutch-ns`
//! provides [`NsHandle`](hutch_ns::NsHandle) and `setns`; `libc` the constants and
//! `flock`; `thiserror` the error types. `serde_json` (tests only) reads the oracles' JSON.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod cidr;
mod error;
pub mod ipam;
mod names;
mod network;
pub mod nft;
mod nl;
mod rootless;
mod rtnl;
mod sys;

pub use cidr::{Cidr, CidrError};
pub use error::{NetlinkError, Op};
pub use names::{ResolvConf, hosts_file, peer_hosts_line};
pub use network::{
    AttachOptions, Attachment, CleanupReport, DEFAULT_NETWORK, DEFAULT_STATE_ROOT, DEFAULT_SUBNET,
    NFT_TABLE, Network, NetworkConfig, NetworkError, PortMapping, PortMappingError, Protocol,
    list_networks, write_hosts_file,
};
pub use rootless::{
    Pasta, PastaConfig, RootlessError, TUN_DEVICE, TunDeviceError, check_tun_device,
};
pub use rtnl::{Address, Link, Route, RtHandle};
pub use sys::run_in_netns;
