//! IP networks in CIDR notation (`10.88.0.0/16`, `fd00:88::1/64`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP address with a prefix length: an interface address (`10.88.0.2/16`) or a network
/// (`10.88.0.0/16`, see [`Cidr::network`]).
///
/// # Examples
/// ```
/// use hutch_netns::Cidr;
/// let c: Cidr = "10.88.0.7/16".parse()?;
/// assert_eq!(c.network().to_string(), "10.88.0.0/16");
/// assert!(c.contains("10.88.255.1".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a CIDR string or value was rejected.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The text is not `ADDRESS/PREFIX`.
    #[error("invalid CIDR {text:?}: expected ADDRESS/PREFIX, e.g. 10.88.0.0/16")]
    Syntax {
        /// The rejected text.
        text: String,
    },
    /// The prefix is longer than the address (32 for IPv4, 128 for IPv6).
    #[error("prefix length {prefix} is longer than the {max} bits of the address")]
    PrefixTooLong {
        /// The prefix length given.
        prefix: u8,
        /// The address length in bits.
        max: u8,
    },
}

fn bits(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v4: bool, value: u128) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(value as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(value))
    }
}

impl Cidr {
    /// `addr/prefix`.
    ///
    /// # Errors
    /// [`CidrError::PrefixTooLong`] if `prefix` exceeds the address length.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let max = bits(addr);
        if prefix > max {
            return Err(CidrError::PrefixTooLong { prefix, max });
        }
        Ok(Cidr { addr, prefix })
    }

    /// The single address `addr` (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            prefix: bits(addr),
        }
    }

    /// The address part.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether this is an IPv4 network.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    fn host_bits(&self) -> u8 {
        bits(self.addr) - self.prefix
    }

    fn mask(&self) -> u128 {
        let all = if self.is_ipv4() {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        match self.host_bits() {
            128 => 0,
            h => all & !((1u128 << h) - 1),
        }
    }

    /// The network this address is in: host bits cleared (`10.88.0.7/16` → `10.88.0.0/16`).
    pub fn network(&self) -> Cidr {
        Cidr {
            addr: from_u128(self.is_ipv4(), to_u128(self.addr) & self.mask()),
            prefix: self.prefix,
        }
    }

    /// Whether `addr` (of the same family) lies in this network.
    pub fn contains(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.is_ipv4()
            && to_u128(addr) & self.mask() == to_u128(self.network().addr)
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        if self.is_ipv4() != other.is_ipv4() {
            return false;
        }
        let shorter = if self.prefix <= other.prefix {
            self
        } else {
            other
        };
        let longer = if self.prefix <= other.prefix {
            other
        } else {
            self
        };
        shorter.contains(longer.addr)
    }

    /// The number of addresses in the network, saturating at `u128::MAX` for `::/0`.
    pub fn size(&self) -> u128 {
        match self.host_bits() {
            128 => u128::MAX,
            h => 1u128 << h,
        }
    }

    /// The address at offset `n` from the start of the network, with this prefix
    /// (`10.88.0.0/16`.nth(1) = `10.88.0.1/16`); `None` past the end.
    pub fn nth(&self, n: u128) -> Option<Cidr> {
        if n >= self.size() {
            return None;
        }
        Some(Cidr {
            addr: from_u128(self.is_ipv4(), to_u128(self.network().addr) + n),
            prefix: self.prefix,
        })
    }

    /// The offset of `addr` from the start of this network; `None` if it is outside.
    pub fn offset_of(&self, addr: IpAddr) -> Option<u128> {
        if !self.contains(addr) {
            return None;
        }
        Some(to_u128(addr) - to_u128(self.network().addr))
    }

    /// `addr` with this network's prefix length, if `addr` lies inside the network
    /// (`10.88.0.0/16` and `10.88.0.5` → `10.88.0.5/16`).
    pub fn with_addr(&self, addr: IpAddr) -> Option<Cidr> {
        self.contains(addr).then_some(Cidr {
            addr,
            prefix: self.prefix,
        })
    }
}

impl fmt::Display for Cidr {
    /// Writes `ADDRESS/PREFIX`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// Parses `ADDRESS/PREFIX`; the prefix is a decimal number without sign or leading
    /// zeros beyond `0` itself.
    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let syntax = || CidrError::Syntax {
            text: text.to_owned(),
        };
        let (addr, prefix) = text.split_once('/').ok_or_else(syntax)?;
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        if prefix.is_empty()
            || !prefix.bytes().all(|b| b.is_ascii_digit())
            || (prefix.len() > 1 && prefix.starts_with('0'))
            || prefix.len() > 3
        {
            return Err(syntax());
        }
        let prefix: u8 = prefix.parse().map_err(|_| syntax())?;
        Cidr::new(addr, prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_format() {
        let c: Cidr = "10.88.0.7/16".parse().unwrap();
        assert_eq!(c.to_string(), "10.88.0.7/16");
        assert_eq!(c.network().to_string(), "10.88.0.0/16");
        assert_eq!(c.size(), 65536);
        assert_eq!(c.nth(1).unwrap().to_string(), "10.88.0.1/16");
        assert_eq!(c.nth(65535).unwrap().to_string(), "10.88.255.255/16");
        assert_eq!(c.nth(65536), None);
        let v6: Cidr = "fd00:88::1/64".parse().unwrap();
        assert_eq!(v6.network().to_string(), "fd00:88::/64");
        assert!(v6.contains("fd00:88::ffff".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().size(), 1 << 32);
        assert_eq!("::/0".parse::<Cidr>().unwrap().size(), u128::MAX);
    }

    #[test]
    fn rejects_bad_text() {
        for bad in [
            "",
            "10.0.0.0",
            "10.0.0.0/",
            "/8",
            "10.0.0/8",
            "10.0.0.0/+8",
            "10.0.0.0/08",
            "10.0.0.0/8/8",
            "10.0.0.0 /8",
            "x/8",
            "10.0.0.0/1000",
        ] {
            assert!(
                matches!(bad.parse::<Cidr>(), Err(CidrError::Syntax { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong {
                prefix: 33,
                max: 32
            })
        );
        assert_eq!(
            "::/129".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong {
                prefix: 129,
                max: 128
            })
        );
    }

    #[test]
    fn overlaps() {
        let a: Cidr = "10.88.0.0/16".parse().unwrap();
        assert!(a.overlaps(&"10.88.3.0/24".parse().unwrap()));
        assert!(a.overlaps(&"10.0.0.0/8".parse().unwrap()));
        assert!(!a.overlaps(&"10.89.0.0/16".parse().unwrap()));
        assert!(!a.overlaps(&"fd00::/8".parse().unwrap()));
    }

    fn any_cidr() -> impl Strategy<Value = Cidr> {
        prop_oneof![
            (any::<u32>(), 0u8..=32)
                .prop_map(|(a, p)| Cidr::new(Ipv4Addr::from(a).into(), p).unwrap()),
            (any::<u128>(), 0u8..=128)
                .prop_map(|(a, p)| Cidr::new(Ipv6Addr::from(a).into(), p).unwrap()),
        ]
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(c in any_cidr()) {
            prop_assert_eq!(c.to_string().parse::<Cidr>(), Ok(c));
        }

        #[test]
        fn network_contains_its_addresses(c in any_cidr()) {
            prop_assert!(c.contains(c.addr()));
            prop_assert!(c.network().contains(c.addr()));
            prop_assert_eq!(c.network().network(), c.network());
            let off = c.offset_of(c.addr()).unwrap();
            prop_assert_eq!(c.nth(off).map(|n| n.addr()), Some(c.addr()));
        }

        #[test]
        fn overlap_is_symmetric(a in any_cidr(), b in any_cidr()) {
            prop_assert_eq!(a.overlaps(&b), b.overlaps(&a));
            prop_assert_eq!(a.overlaps(&b), a.is_ipv4() == b.is_ipv4()
                && (a.contains(b.network().addr()) || b.contains(a.network().addr())));
        }
    }
}
