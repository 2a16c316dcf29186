//! The contents of a container's `/etc/hosts` and `/etc/resolv.conf` (pure functions; the
//! caller writes them to files and bind-mounts them read-only).

use std::net::IpAddr;

/// `/etc/hosts` for a container: localhost entries, then `addrs` under `hostname`, then
/// `extra` (`--add-host NAME:ADDR`) entries in order.
///
/// # Examples
/// ```
/// let text = hutch_netns::hosts_file("web", &["10.88.0.2".parse()?], &[("db".into(), "10.88.0.3".parse()?)]);
/// assert!(text.contains("10.88.0.2\tweb\n"));
/// assert!(text.ends_with("10.88.0.3\tdb\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn hosts_file(hostname: &str, addrs: &[IpAddr], extra: &[(String, IpAddr)]) -> String {
    let mut out = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if addrs.is_empty() && !hostname.is_empty() {
        // Without a network address the name resolves to loopback, as on a host.
        out.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    for addr in addrs {
        if !hostname.is_empty() {
            out.push_str(&format!("{addr}\t{hostname}\n"));
        }
    }
    for (name, addr) in extra {
        out.push_str(&format!("{addr}\t{name}\n"));
    }
    out
}

/// The `/etc/hosts` line (with its newline) that names a peer: another container of the same
/// network, listed in a container's hosts file when it is written or added later by
/// [`Network::announce`](crate::Network::announce). The comment marks the line as hutch's, so
/// that only such lines are removed when the peer leaves, never an identical entry the caller
/// asked for (`--add-host`); resolvers ignore it.
///
/// # Examples
/// ```
/// let line = hutch_netns::peer_hosts_line("db", "10.88.0.3".parse()?);
/// assert_eq!(line, "10.88.0.3\tdb\t# network peer\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn peer_hosts_line(name: &str, addr: IpAddr) -> String {
    format!("{addr}\t{name}\t# network peer\n")
}

/// The resolver settings read from a `resolv.conf` text.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` addresses, in order.
    pub nameservers: Vec<IpAddr>,
    /// `search` domains.
    pub search: Vec<String>,
    /// `options` words.
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Parses `resolv.conf` text; unknown lines and comments are ignored, as the C library
    /// does; a later `search` line replaces an earlier one.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_ascii_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(addr) = words.next().and_then(|w| w.split('%').next()?.parse().ok())
                    {
                        conf.nameservers.push(addr);
                    }
                }
                Some("search") | Some("domain") => {
                    conf.search = words.map(str::to_owned).collect();
                }
                Some("options") => conf.options.extend(words.map(str::to_owned)),
                _ => {}
            }
        }
        conf
    }

    /// The settings for a container on a bridge network, derived from the host's: loopback
    /// nameservers (`127.0.0.53` of systemd-resolved, a local dnsmasq) are unreachable
    /// from the container and dropped; `fallback` replaces an empty list.
    pub fn for_container(&self, fallback: &[IpAddr]) -> ResolvConf {
        let mut conf = self.clone();
        conf.nameservers.retain(|a| !a.is_loopback());
        if conf.nameservers.is_empty() {
            conf.nameservers = fallback.to_vec();
        }
        conf
    }

    /// The `resolv.conf` text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if !self.search.is_empty() {
            out.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        for ns in &self.nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hosts() {
        let t = hosts_file(
            "box",
            &["10.88.0.5".parse().unwrap(), "fd00::5".parse().unwrap()],
            &[],
        );
        assert_eq!(
            t,
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.88.0.5\tbox\nfd00::5\tbox\n"
        );
        assert!(hosts_file("box", &[], &[]).contains("127.0.1.1\tbox\n"));
    }

    #[test]
    fn resolv_from_systemd_resolved_host() {
        let host =
            "# generated\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan example.org\n";
        let conf = ResolvConf::parse(host);
        assert_eq!(conf.nameservers, ["127.0.0.53".parse::<IpAddr>().unwrap()]);
        let c = conf.for_container(&["10.88.0.1".parse().unwrap()]);
        assert_eq!(
            c.to_text(),
            "search lan example.org\nnameserver 10.88.0.1\noptions edns0 trust-ad\n"
        );
        let plain =
            ResolvConf::parse("nameserver 192.0.2.53 ; comment\nnameserver fe80::1%eth0\nbogus\n");
        assert_eq!(plain.nameservers.len(), 2);
        assert_eq!(plain.for_container(&[]).nameservers.len(), 2);
    }

    proptest! {
        #[test]
        fn resolv_round_trip(ns in proptest::collection::vec(any::<[u8; 4]>(), 0..4),
                             search in proptest::collection::vec("[a-z]{1,8}", 0..3),
                             options in proptest::collection::vec("[a-z:0-9]{1,8}", 0..3)) {
            let conf = ResolvConf {
                nameservers: ns.into_iter().map(IpAddr::from).collect(),
                search,
                options,
            };
            prop_assert_eq!(ResolvConf::parse(&conf.to_text()), conf);
        }
    }
}
