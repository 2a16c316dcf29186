//! nf_tables over netlink: an encoder of batches (tables, chains, rules and the
//! expressions hutch needs) and a handle that applies them atomically.
//!
//! Only the parts hutch uses are encoded: `meta`, `payload`, `bitwise`, `cmp`,
//! `immediate` (data and verdicts), `nat`, `masq`, `fib` and `counter` expressions. The
//! attribute numbers come from the kernel's `include/uapi/linux/netfilter/nf_tables.h`
//! ([`consts`]); multi-byte attribute values are big-endian as the kernel expects, while
//! register contents (`cmp`/`immediate` data) are raw packet bytes.
//!
//! # References
//! - [nft(8)](https://www.netfilter.org/projects/nftables/manpage.html)

pub mod consts;

use hutch_ns::NsHandle;
use netlink_sys::protocols::NETLINK_NETFILTER;

use crate::error::{NetlinkError, Op};
use crate::nl::{self, NLMSG_DONE, NLMSG_ERROR, NlSocket};
use consts::*;

const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CREATE: u16 = 0x400;

/// An attribute writer over a byte buffer (netlink TLVs, 4-byte aligned).
#[derive(Debug, Default)]
struct Attrs {
    buf: Vec<u8>,
}

impl Attrs {
    fn put(&mut self, kind: u16, value: &[u8]) {
        let len = 4 + value.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn str(&mut self, kind: u16, value: &str) {
        let mut v = value.as_bytes().to_vec();
        v.push(0);
        self.put(kind, &v);
    }

    fn be32(&mut self, kind: u16, value: u32) {
        self.put(kind, &value.to_be_bytes());
    }

    fn nested(&mut self, kind: u16, f: impl FnOnce(&mut Attrs)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        f(self);
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self.buf[start + 2..start + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    }
}

/// A comparison operator of [`Expr::Cmp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Neq,
}

/// Writes an expression's `NFTA_EXPR_DATA` attributes.
type Body<'a> = Box<dyn Fn(&mut Attrs) + 'a>;

/// One nf_tables expression.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `meta KEY` into a register (`NFT_META_*` key).
    Meta {
        /// The `NFT_META_*` key.
        key: u32,
        /// The destination register.
        dreg: u32,
    },
    /// Loads `len` bytes at `offset` of header `base` into a register.
    Payload {
        /// `NFT_PAYLOAD_*_HEADER`.
        base: u32,
        /// Byte offset in that header.
        offset: u32,
        /// Number of bytes.
        len: u32,
        /// The destination register.
        dreg: u32,
    },
    /// `reg = (reg & mask) ^ xor`.
    Bitwise {
        /// Source register.
        sreg: u32,
        /// Destination register.
        dreg: u32,
        /// The mask (its length is the operand length).
        mask: Vec<u8>,
        /// The xor value (same length as `mask`).
        xor: Vec<u8>,
    },
    /// Compares a register with `data`; the rule stops here when false.
    Cmp {
        /// Source register.
        sreg: u32,
        /// The operator.
        op: CmpOp,
        /// The value (packet bytes).
        data: Vec<u8>,
    },
    /// Loads `data` into a register.
    Immediate {
        /// The destination register.
        dreg: u32,
        /// The value.
        data: Vec<u8>,
    },
    /// A verdict: `NF_ACCEPT`, `NF_DROP`, `NFT_RETURN`, or a jump to `chain`.
    Verdict {
        /// `NF_*` / `NFT_*` verdict code.
        code: i32,
        /// The chain for `NFT_JUMP`/`NFT_GOTO`.
        chain: Option<String>,
    },
    /// Source or destination NAT to the address in `addr_reg` (and port in `proto_reg`).
    Nat {
        /// `NFT_NAT_SNAT` or `NFT_NAT_DNAT`.
        kind: u32,
        /// `NFPROTO_IPV4` or `NFPROTO_IPV6`.
        family: u8,
        /// The register holding the address.
        addr_reg: u32,
        /// The register holding the port (network byte order), if any.
        proto_reg: Option<u32>,
    },
    /// Masquerade (source NAT to the outgoing interface's address).
    Masq,
    /// `ct KEY` (conntrack state of the packet) into a register.
    Ct {
        /// The `NFT_CT_*` key.
        key: u32,
        /// The destination register.
        dreg: u32,
    },
    /// `fib daddr type` into a register.
    FibDaddrType {
        /// The destination register.
        dreg: u32,
    },
    /// A packet and byte counter.
    Counter,
    /// `reject`: ends the packet and answers its sender, with a TCP reset
    /// (`NFT_REJECT_TCP_RST`) or an ICMP(v6) unreachable of `code`
    /// (`NFT_REJECT_ICMP_UNREACH`). Only in filter chains of the input, forward and output
    /// hooks.
    Reject {
        /// The `NFT_REJECT_*` type.
        kind: u32,
        /// The ICMP code (for `NFT_REJECT_ICMP_UNREACH`).
        code: u8,
    },
}

impl Expr {
    fn encode(&self, a: &mut Attrs) {
        let (name, body): (&str, Body<'_>) = match self {
            Expr::Meta { key, dreg } => (
                "meta",
                Box::new(move |a: &mut Attrs| {
                    a.be32(NFTA_META_DREG, *dreg);
                    a.be32(NFTA_META_KEY, *key);
                }),
            ),
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => (
                "payload",
                Box::new(move |a: &mut Attrs| {
                    a.be32(NFTA_PAYLOAD_DREG, *dreg);
                    a.be32(NFTA_PAYLOAD_BASE, *base);
                    a.be32(NFTA_PAYLOAD_OFFSET, *offset);
                    a.be32(NFTA_PAYLOAD_LEN, *len);
                }),
            ),
            Expr::Bitwise {
                sreg,
                dreg,
                mask,
                xor,
            } => (
                "bitwise",
                Box::new(move |a: &mut Attrs| {
                    a.be32(NFTA_BITWISE_SREG, *sreg);
                    a.be32(NFTA_BITWISE_DREG, *dreg);
                    a.be32(NFTA_BITWISE_LEN, mask.len() as u32);
                    a.nested(NFTA_BITWISE_MASK, |a| a.put(NFTA_DATA_VALUE, mask));
                    a.nested(NFTA_BITWISE_XOR, |a| a.put(NFTA_DATA_VALUE, xor));
                }),
            ),
            Expr::Cmp { sreg, op, data } => (
                "cmp",
                Box::new(move |a: &mut Attrs| {
                    a.be32(NFTA_CMP_SREG, *sreg);
                    a.be32(
                        NFTA_CMP_OP,
                        match op {
                            CmpOp::Eq => NFT_CMP_EQ,
                            CmpOp::Neq => NFT_CMP_NEQ,
                        },
                    );
                    a.nested(NFTA_CMP_DATA, |a| a.put(NFTA_DATA_VALUE, data));
                }),
            ),
            Expr::Immediate { dreg, data } => (
                "immediate",
                Box::new(move |a: &mut Attrs| {
                    a.be32(NFTA_IMMEDIATE_DREG, *dreg);
                    a.nested(NFTA_IMMEDIATE_DATA, |a| a.put(NFTA_DATA_VALUE, data));
                }),
            ),
            Expr::Verdict { code, chain } => (
                "immediate",
                Box::new(move |a: &mut Attrs| {
                    a.be32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
                    a.nested(NFTA_IMMEDIATE_DATA, |a| {
                        a.nested(NFTA_DATA_VERDICT, |a| {
                            a.be32(NFTA_VERDICT_CODE, *code as u32);
                            if let Some(chain) = chain {
                                a.str(NFTA_VERDICT_CHAIN, chain);
                            }
                        })
                    });
                }),
            ),
            Expr::Nat {
                kind,
                family,
                addr_reg,
                proto_reg,
            } => (
                "nat",
                Box::new(move |a: &mut Attrs| {
                    a.be32(NFTA_NAT_TYPE, *kind);
                    a.be32(NFTA_NAT_FAMILY, u32::from(*family));
                    a.be32(NFTA_NAT_REG_ADDR_MIN, *addr_reg);
                    if let Some(p) = proto_reg {
                        a.be32(NFTA_NAT_REG_PROTO_MIN, *p);
                    }
                }),
            ),
            Expr::Masq => ("masq", Box::new(|_: &mut Attrs| {})),
            Expr::Ct { key, dreg } => (
                "ct",
                Box::new(move |a: &mut Attrs| {
                    a.be32(NFTA_CT_DREG, *dreg);
                    a.be32(NFTA_CT_KEY, *key);
                }),
            ),
            Expr::FibDaddrType { dreg } => (
                "fib",
                Box::new(move |a: &mut Attrs| {
                    a.be32(NFTA_FIB_DREG, *dreg);
                    a.be32(NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
                    a.be32(NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR);
                }),
            ),
            Expr::Counter => ("counter", Box::new(|_: &mut Attrs| {})),
            Expr::Reject { kind, code } => (
                "reject",
                Box::new(move |a: &mut Attrs| {
                    a.be32(NFTA_REJECT_TYPE, *kind);
                    if *kind == NFT_REJECT_ICMP_UNREACH {
                        a.put(NFTA_REJECT_ICMP_CODE, &[*code]);
                    }
                }),
            ),
        };
        a.nested(NFTA_LIST_ELEM, |a| {
            a.str(NFTA_EXPR_NAME, name);
            a.nested(NFTA_EXPR_DATA, |a| body(a));
        });
    }
}

/// Expressions for common matches, as `nft` would generate them.
pub mod matches {
    use super::consts::*;
    use super::{CmpOp, Expr};
    use crate::cidr::Cidr;
    use std::net::IpAddr;

    fn ifname(name: &str) -> Vec<u8> {
        let mut v = name.as_bytes().to_vec();
        v.resize(16, 0);
        v
    }

    /// `meta iifname (==|!=) NAME`.
    pub fn iifname(op: CmpOp, name: &str) -> Vec<Expr> {
        vec![
            Expr::Meta {
                key: NFT_META_IIFNAME,
                dreg: NFT_REG_1,
            },
            Expr::Cmp {
                sreg: NFT_REG_1,
                op,
                data: ifname(name),
            },
        ]
    }

    /// `meta oifname (==|!=) NAME`.
    pub fn oifname(op: CmpOp, name: &str) -> Vec<Expr> {
        vec![
            Expr::Meta {
                key: NFT_META_OIFNAME,
                dreg: NFT_REG_1,
            },
            Expr::Cmp {
                sreg: NFT_REG_1,
                op,
                data: ifname(name),
            },
        ]
    }

    /// `ip saddr NET` (`source == true`) or `ip daddr NET`: [`addr_in`] (an IPv6 `net`
    /// gives the `ip6` match).
    pub fn ipv4_addr_in(source: bool, net: Cidr) -> Vec<Expr> {
        addr_in(source, net)
    }

    /// `ip6 saddr NET` (`source == true`) or `ip6 daddr NET`: [`addr_in`] (an IPv4 `net`
    /// gives the `ip` match).
    pub fn ipv6_addr_in(source: bool, net: Cidr) -> Vec<Expr> {
        addr_in(source, net)
    }

    /// `ip saddr NET` / `ip daddr NET`, or `ip6 saddr NET` / `ip6 daddr NET`, by the family
    /// of `net` (for a rule in a table of that family): the address loaded from the network
    /// header, masked to the prefix when it is shorter than the address, compared.
    pub fn addr_in(source: bool, net: Cidr) -> Vec<Expr> {
        let (offset, addr) = match net.network().addr() {
            IpAddr::V4(a) => (if source { 12 } else { 16 }, a.octets().to_vec()),
            IpAddr::V6(a) => (if source { 8 } else { 24 }, a.octets().to_vec()),
        };
        let len = addr.len();
        let mut out = vec![Expr::Payload {
            base: NFT_PAYLOAD_NETWORK_HEADER,
            offset,
            len: len as u32,
            dreg: NFT_REG_1,
        }];
        let prefix = usize::from(net.prefix());
        if prefix < len * 8 {
            let mask = (0..len)
                .map(|i| {
                    let bits = prefix.saturating_sub(i * 8).min(8);
                    (0xffu16 << (8 - bits)) as u8
                })
                .collect();
            out.push(Expr::Bitwise {
                sreg: NFT_REG_1,
                dreg: NFT_REG_1,
                mask,
                xor: vec![0; len],
            });
        }
        out.push(Expr::Cmp {
            sreg: NFT_REG_1,
            op: CmpOp::Eq,
            data: addr,
        });
        out
    }

    /// `meta l4proto PROTO th dport PORT` (TCP or UDP).
    pub fn l4_dport(protocol: u8, port: u16) -> Vec<Expr> {
        vec![
            Expr::Meta {
                key: NFT_META_L4PROTO,
                dreg: NFT_REG_1,
            },
            Expr::Cmp {
                sreg: NFT_REG_1,
                op: CmpOp::Eq,
                data: vec![protocol],
            },
            Expr::Payload {
                base: NFT_PAYLOAD_TRANSPORT_HEADER,
                offset: 2,
                len: 2,
                dreg: NFT_REG_1,
            },
            Expr::Cmp {
                sreg: NFT_REG_1,
                op: CmpOp::Eq,
                data: port.to_be_bytes().to_vec(),
            },
        ]
    }

    /// `fib daddr type local`.
    pub fn daddr_is_local() -> Vec<Expr> {
        vec![
            Expr::FibDaddrType { dreg: NFT_REG_1 },
            Expr::Cmp {
                sreg: NFT_REG_1,
                op: CmpOp::Eq,
                data: RTN_LOCAL.to_ne_bytes().to_vec(),
            },
        ]
    }

    /// `ct status dnat`: the connection's destination was rewritten (a published port).
    pub fn ct_status_dnat() -> Vec<Expr> {
        vec![
            Expr::Ct {
                key: NFT_CT_STATUS,
                dreg: NFT_REG_1,
            },
            Expr::Bitwise {
                sreg: NFT_REG_1,
                dreg: NFT_REG_1,
                mask: IPS_DST_NAT.to_ne_bytes().to_vec(),
                xor: vec![0; 4],
            },
            Expr::Cmp {
                sreg: NFT_REG_1,
                op: CmpOp::Neq,
                data: vec![0; 4],
            },
        ]
    }

    /// `dnat ip to ADDR:PORT`.
    pub fn dnat_v4(addr: std::net::Ipv4Addr, port: u16) -> Vec<Expr> {
        dnat(NFPROTO_IPV4, addr.octets().to_vec(), port)
    }

    /// DNAT to an address of `family` (in register 1) and a port (in register 2).
    fn dnat(family: u8, addr: Vec<u8>, port: u16) -> Vec<Expr> {
        vec![
            Expr::Immediate {
                dreg: NFT_REG_1,
                data: addr,
            },
            Expr::Immediate {
                dreg: NFT_REG_2,
                data: port.to_be_bytes().to_vec(),
            },
            Expr::Nat {
                kind: NFT_NAT_DNAT,
                family,
                addr_reg: NFT_REG_1,
                proto_reg: Some(NFT_REG_2),
            },
        ]
    }

    /// `reject with tcp reset` for TCP, `reject with icmpv6 port-unreachable` otherwise:
    /// the sender learns at once that nothing answers there.
    pub fn refuse_v6(tcp: bool) -> Vec<Expr> {
        vec![if tcp {
            Expr::Reject {
                kind: NFT_REJECT_TCP_RST,
                code: 0,
            }
        } else {
            Expr::Reject {
                kind: NFT_REJECT_ICMP_UNREACH,
                code: ICMPV6_PORT_UNREACH,
            }
        }]
    }

    /// `dnat ip6 to [ADDR]:PORT`.
    pub fn dnat_v6(addr: std::net::Ipv6Addr, port: u16) -> Vec<Expr> {
        dnat(NFPROTO_IPV6, addr.octets().to_vec(), port)
    }
}

/// A chain's hook: base chains are attached to a netfilter hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hook {
    /// `NF_INET_*` hook number.
    pub hook: u32,
    /// Priority (`dstnat` = -100, `srcnat` = 100, `raw` = -300).
    pub priority: i32,
    /// The chain type: `"filter"` or `"nat"`.
    pub kind: &'static str,
}

/// An nf_tables transaction: messages between `NFNL_MSG_BATCH_BEGIN` and `_END`, applied by
/// the kernel all together or not at all.
///
/// # Examples
/// ```
/// use hutch_netns::nft::{consts::NFPROTO_IPV4, Batch};
/// let mut batch = Batch::new();
/// batch.add_table(NFPROTO_IPV4, "hutch");
/// assert_eq!(batch.len(), 1);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Batch {
    msgs: Vec<(u16, u16, u8, Vec<u8>)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// The number of messages (without begin/end).
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// Whether the batch has no messages.
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    fn push(&mut self, kind: u16, flags: u16, family: u8, attrs: Attrs) {
        self.msgs.push((kind, flags, family, attrs.buf));
    }

    /// `NFT_MSG_NEWTABLE` (no error if it exists).
    pub fn add_table(&mut self, family: u8, table: &str) -> &mut Self {
        let mut a = Attrs::default();
        a.str(NFTA_TABLE_NAME, table);
        a.be32(NFTA_TABLE_FLAGS, 0);
        self.push(NFT_MSG_NEWTABLE, NLM_F_CREATE, family, a);
        self
    }

    /// `NFT_MSG_DELTABLE`: removes the table and everything in it.
    pub fn delete_table(&mut self, family: u8, table: &str) -> &mut Self {
        let mut a = Attrs::default();
        a.str(NFTA_TABLE_NAME, table);
        self.push(NFT_MSG_DELTABLE, 0, family, a);
        self
    }

    /// `NFT_MSG_NEWCHAIN` (no error if it exists); a base chain with `hook`, policy accept.
    pub fn add_chain(
        &mut self,
        family: u8,
        table: &str,
        chain: &str,
        hook: Option<Hook>,
    ) -> &mut Self {
        let mut a = Attrs::default();
        a.str(NFTA_CHAIN_TABLE, table);
        a.str(NFTA_CHAIN_NAME, chain);
        if let Some(h) = hook {
            a.nested(NFTA_CHAIN_HOOK, |a| {
                a.be32(NFTA_HOOK_HOOKNUM, h.hook);
                a.be32(NFTA_HOOK_PRIORITY, h.priority as u32);
            });
            a.be32(NFTA_CHAIN_POLICY, NF_ACCEPT as u32);
            a.str(NFTA_CHAIN_TYPE, h.kind);
        }
        self.push(NFT_MSG_NEWCHAIN, NLM_F_CREATE, family, a);
        self
    }

    /// `NFT_MSG_DELCHAIN`: removes the chain and its rules.
    pub fn delete_chain(&mut self, family: u8, table: &str, chain: &str) -> &mut Self {
        let mut a = Attrs::default();
        a.str(NFTA_CHAIN_TABLE, table);
        a.str(NFTA_CHAIN_NAME, chain);
        self.push(NFT_MSG_DELCHAIN, 0, family, a);
        self
    }

    /// `NFT_MSG_DELRULE` without a handle: removes every rule of the chain.
    pub fn flush_chain(&mut self, family: u8, table: &str, chain: &str) -> &mut Self {
        let mut a = Attrs::default();
        a.str(NFTA_RULE_TABLE, table);
        a.str(NFTA_RULE_CHAIN, chain);
        self.push(NFT_MSG_DELRULE, 0, family, a);
        self
    }

    /// `NFT_MSG_NEWRULE`: appends a rule made of `exprs` to the chain.
    pub fn add_rule(&mut self, family: u8, table: &str, chain: &str, exprs: &[Expr]) -> &mut Self {
        let mut a = Attrs::default();
        a.str(NFTA_RULE_TABLE, table);
        a.str(NFTA_RULE_CHAIN, chain);
        a.nested(NFTA_RULE_EXPRESSIONS, |a| {
            for e in exprs {
                e.encode(a);
            }
        });
        self.push(
            NFT_MSG_NEWRULE,
            NLM_F_CREATE | 0x800, /* NLM_F_APPEND */
            family,
            a,
        );
        self
    }

    /// The wire form: begin, the messages with sequence numbers `first_seq + 1 ..`, end.
    /// Every message but begin and end asks for an ACK.
    pub fn encode(&self, first_seq: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut seq = first_seq;
        let res_id = NFNL_SUBSYS_NFTABLES;
        put_msg(
            &mut out,
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            seq,
            0,
            res_id,
            &[],
        );
        for (kind, flags, family, attrs) in &self.msgs {
            seq = seq.wrapping_add(1);
            put_msg(
                &mut out,
                (NFNL_SUBSYS_NFTABLES << 8) | kind,
                NLM_F_REQUEST | NLM_F_ACK | flags,
                seq,
                *family,
                0,
                attrs,
            );
        }
        seq = seq.wrapping_add(1);
        put_msg(
            &mut out,
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            seq,
            0,
            res_id,
            &[],
        );
        out
    }
}

/// Appends one nfnetlink message: `nlmsghdr`, `nfgenmsg`, attributes.
fn put_msg(
    out: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    attrs: &[u8],
) {
    let len = 16 + 4 + attrs.len();
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.push(family);
    out.push(NFNETLINK_V0);
    out.extend_from_slice(&res_id.to_be_bytes());
    out.extend_from_slice(attrs);
}

/// A chain as listed by [`NftHandle::chains`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainInfo {
    /// The family (`NFPROTO_*`).
    pub family: u8,
    /// The table name.
    pub table: String,
    /// The chain name.
    pub name: String,
}

/// An nfnetlink socket bound to one network namespace.
pub struct NftHandle {
    sock: NlSocket,
}

impl std::fmt::Debug for NftHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NftHandle").finish_non_exhaustive()
    }
}

impl NftHandle {
    /// Opens a handle on the calling thread's network namespace.
    ///
    /// # Errors
    /// [`NetlinkError::Socket`].
    pub fn open() -> Result<NftHandle, NetlinkError> {
        Ok(NftHandle {
            sock: NlSocket::open(NETLINK_NETFILTER)?,
        })
    }

    /// Opens a handle on network namespace `ns` (from a short-lived helper thread).
    ///
    /// # Errors
    /// [`NetlinkError::Namespace`], [`NetlinkError::Socket`].
    pub fn open_in(ns: &NsHandle) -> Result<NftHandle, NetlinkError> {
        Ok(NftHandle {
            sock: NlSocket::open_in(ns, NETLINK_NETFILTER)?,
        })
    }

    /// Applies `batch` atomically; `subject` names it in errors.
    ///
    /// # Errors
    /// [`NetlinkError::Kernel`] with [`Op::NftBatch`] and the first errno the kernel
    /// reported (`ENOENT` for a missing table or chain, `EBUSY` for a table in use,
    /// `EOPNOTSUPP` without nf_tables); nothing of the batch is applied then.
    pub fn apply(&mut self, batch: &Batch, subject: &str) -> Result<(), NetlinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let first = self.sock.next_seq();
        for _ in 0..=batch.len() {
            self.sock.next_seq();
        }
        let bytes = batch.encode(first);
        let op = Op::NftBatch;
        let io_err = |source| NetlinkError::Io {
            op,
            subject: subject.to_owned(),
            source,
        };
        self.sock.send(&bytes).map_err(io_err)?;
        // Sequence numbers of begin, the messages, end: first ..= first + len + 1.
        let span = batch.len() as u32 + 2;
        let in_batch = |seq: u32| seq.wrapping_sub(first) < span;
        let mut acked = 0;
        let mut failure: Option<NetlinkError> = None;
        // The kernel runs the batch synchronously inside sendmsg (a kernel netlink socket
        // handles input in the sender's context), so every answer is queued by now: read
        // without blocking until the queue is empty.
        while let Some(data) = self.sock.recv(true).map_err(io_err)? {
            for msg in nl::split(data).map_err(io_err)? {
                if msg.kind != NLMSG_ERROR || !in_batch(msg.seq) {
                    continue;
                }
                acked += 1;
                let (errno, text) = nl::decode_error(&msg);
                if errno != 0 && failure.is_none() {
                    failure = Some(nl::kernel_error(op, subject.to_owned(), errno, text));
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None if acked < batch.len() => Err(nl::decode_failure(
                op,
                subject.to_owned(),
                format!(
                    "the kernel acknowledged {acked} of {} messages",
                    batch.len()
                ),
            )),
            None => Ok(()),
        }
    }

    /// Lists the chains of `family` (every table).
    ///
    /// # Errors
    /// [`NetlinkError`] with [`Op::NftList`].
    pub fn chains(&mut self, family: u8) -> Result<Vec<ChainInfo>, NetlinkError> {
        let seq = self.sock.next_seq();
        let mut req = Vec::new();
        put_msg(
            &mut req,
            (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETCHAIN,
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            family,
            0,
            &[],
        );
        let op = Op::NftList;
        let io_err = |source| NetlinkError::Io {
            op,
            subject: "chains".to_owned(),
            source,
        };
        self.sock.send(&req).map_err(io_err)?;
        let mut out = Vec::new();
        loop {
            let data = self.sock.recv(false).map_err(io_err)?.unwrap_or(&[]);
            for msg in nl::split(data).map_err(io_err)? {
                if msg.seq != seq {
                    continue;
                }
                match msg.kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let (errno, text) = nl::decode_error(&msg);
                        if errno != 0 {
                            return Err(nl::kernel_error(op, "chains".to_owned(), errno, text));
                        }
                    }
                    _ => {
                        if let Some(c) = parse_chain(msg.bytes) {
                            out.push(c);
                        }
                    }
                }
            }
        }
    }
}

/// Reads family, table and name from an `NFT_MSG_NEWCHAIN` message.
fn parse_chain(bytes: &[u8]) -> Option<ChainInfo> {
    let family = *bytes.get(16)?;
    let mut attrs = bytes.get(20..)?;
    let (mut table, mut name) = (None, None);
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            break;
        }
        let value = &attrs[4..len];
        let text = || {
            let v = value.split(|&b| b == 0).next().unwrap_or(&[]);
            String::from_utf8_lossy(v).into_owned()
        };
        match kind {
            NFTA_CHAIN_TABLE => table = Some(text()),
            NFTA_CHAIN_NAME => name = Some(text()),
            _ => {}
        }
        attrs = &attrs[((len + 3) & !3).min(attrs.len())..];
    }
    Some(ChainInfo {
        family,
        table: table?,
        name: name?,
    })
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    #[test]
    fn new_table_batch_bytes() {
        let mut b = Batch::new();
        b.add_table(NFPROTO_IPV4, "hutch");
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            // BATCH_BEGIN: len 20, type 0x10, flags REQUEST, seq 1, port 0; nfgenmsg res_id 10 (BE)
            &[20, 0, 0, 0, 0x10, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10][..],
            // NEWTABLE: len 40, type 0x0a00, flags REQUEST|ACK|CREATE, seq 2; family ip
            &[40, 0, 0, 0, 0x00, 0x0a, 0x05, 0x04, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0],
            // NFTA_TABLE_NAME "hutch\0" + padding; NFTA_TABLE_FLAGS be32 0
            &[10, 0, 1, 0, b'h', b'u', b't', b'c', b'h', 0, 0, 0],
            &[8, 0, 2, 0, 0, 0, 0, 0],
            // BATCH_END, seq 3
            &[20, 0, 0, 0, 0x11, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10],
        ]
        .concat();
        assert_eq!(b.encode(1), expected);
    }

    #[test]
    fn cmp_expression_bytes() {
        let mut a = Attrs::default();
        Expr::Cmp {
            sreg: NFT_REG_1,
            op: CmpOp::Eq,
            data: vec![6],
        }
        .encode(&mut a);
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            &[44, 0, 1, 0x80][..],                     // NFTA_LIST_ELEM, nested
            &[8, 0, 1, 0, b'c', b'm', b'p', 0],       // NFTA_EXPR_NAME "cmp"
            &[32, 0, 2, 0x80],                         // NFTA_EXPR_DATA, nested
            &[8, 0, 1, 0, 0, 0, 0, 1],                 // NFTA_CMP_SREG = NFT_REG_1
            &[8, 0, 2, 0, 0, 0, 0, 0],                 // NFTA_CMP_OP = NFT_CMP_EQ
            &[12, 0, 3, 0x80],                         // NFTA_CMP_DATA, nested
            &[5, 0, 1, 0, 6, 0, 0, 0],                 // NFTA_DATA_VALUE [6] + padding
        ]
        .concat();
        assert_eq!(a.buf, expected);
    }

    /// The mask and compared value of an [`matches::addr_in`] match.
    fn mask_and_value(net: crate::cidr::Cidr) -> (Option<Vec<u8>>, Vec<u8>, u32) {
        let e = matches::addr_in(false, net);
        let Expr::Payload { offset, .. } = &e[0] else {
            panic!("{e:?}")
        };
        let mask = e.iter().find_map(|x| match x {
            Expr::Bitwise { mask, .. } => Some(mask.clone()),
            _ => None,
        });
        let Some(Expr::Cmp { data, .. }) = e.last() else {
            panic!("{e:?}")
        };
        (mask, data.clone(), *offset)
    }

    #[test]
    fn address_matches_of_both_families() {
        let (m, v, off) = mask_and_value("10.88.16.0/20".parse().unwrap());
        assert_eq!(
            (m.unwrap(), v, off),
            (vec![255, 255, 240, 0], vec![10, 88, 16, 0], 16)
        );
        let (m, _, off) = mask_and_value("10.0.0.1/32".parse().unwrap());
        assert_eq!((m, off), (None, 16));
        let (m, v, off) = mask_and_value("fd00:97::/64".parse().unwrap());
        assert_eq!(m.unwrap(), [[0xff; 8], [0; 8]].concat());
        assert_eq!((v[..2].to_vec(), off), (vec![0xfd, 0], 24));
        let (m, _, _) = mask_and_value("::/0".parse().unwrap());
        assert_eq!(m.unwrap(), vec![0; 16]);
    }

    proptest::proptest! {
        /// The mask has exactly `prefix` leading ones, and the network address passes it
        /// unchanged.
        #[test]
        fn address_masks_follow_the_prefix(v6: bool, raw: u128, prefix in 0u8..=128) {
            let (addr, max) = if v6 {
                (std::net::IpAddr::from(raw.to_be_bytes()), 128)
            } else {
                (std::net::IpAddr::from((raw as u32).to_be_bytes()), 32)
            };
            let net = crate::cidr::Cidr::new(addr, prefix.min(max)).unwrap();
            let (mask, value, _) = mask_and_value(net);
            let mask = mask.unwrap_or_else(|| vec![0xff; value.len()]);
            let ones: u32 = mask.iter().map(|b| b.count_ones()).sum();
            proptest::prop_assert_eq!(ones, u32::from(prefix.min(max)));
            // Ones first, then zeros: no zero bit is followed by a one.
            let bits: String = mask.iter().map(|b| format!("{b:08b}")).collect();
            proptest::prop_assert!(!bits.contains("01"), "{}", bits);
            let masked: Vec<u8> = value.iter().zip(&mask).map(|(v, m)| v & m).collect();
            proptest::prop_assert_eq!(masked, value);
        }
    }

    #[test]
    fn reject_encodes_type_and_code() {
        let mut a = Attrs::default();
        matches::refuse_v6(false)[0].encode(&mut a);
        let tail: &[u8] = &[
            8, 0, 1, 0, 0, 0, 0, 0, // NFTA_REJECT_TYPE = ICMP_UNREACH
            5, 0, 2, 0, 4, 0, 0, 0, // NFTA_REJECT_ICMP_CODE = port unreachable
        ];
        assert!(a.buf.ends_with(tail), "{:?}", a.buf);
        let mut t = Attrs::default();
        matches::refuse_v6(true)[0].encode(&mut t);
        assert!(t.buf.ends_with(&[8, 0, 1, 0, 0, 0, 0, 1]), "{:?}", t.buf);
    }

    #[test]
    fn verdict_and_nat_bytes() {
        let mut a = Attrs::default();
        Expr::Verdict {
            code: NF_DROP,
            chain: None,
        }
        .encode(&mut a);
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            &[48, 0, 1, 0x80][..],
            &[14, 0, 1, 0, b'i', b'm', b'm', b'e', b'd', b'i', b'a', b't', b'e', 0, 0, 0],
            &[28, 0, 2, 0x80],
            &[8, 0, 1, 0, 0, 0, 0, 0],                 // NFTA_IMMEDIATE_DREG = verdict
            &[16, 0, 2, 0x80],                         // NFTA_IMMEDIATE_DATA
            &[12, 0, 2, 0x80],                         // NFTA_DATA_VERDICT
            &[8, 0, 1, 0, 0, 0, 0, 0],                 // NFTA_VERDICT_CODE = NF_DROP
        ]
        .concat();
        assert_eq!(a.buf, expected);

        let mut a = Attrs::default();
        Expr::Masq.encode(&mut a);
        assert_eq!(
            a.buf,
            [
                &[20, 0, 1, 0x80][..],
                &[9, 0, 1, 0],
                b"masq",
                &[0, 0, 0, 0],
                &[4, 0, 2, 0x80]
            ]
            .concat()
        );
    }

    #[test]
    fn chain_listing_parser() {
        let mut a = Attrs::default();
        a.str(NFTA_CHAIN_TABLE, "hutch");
        a.be32(NFTA_CHAIN_POLICY, 1);
        a.str(NFTA_CHAIN_NAME, "c1");
        let mut msg = Vec::new();
        put_msg(&mut msg, 0x0a03, 2, 1, NFPROTO_IPV4, 0, &a.buf);
        assert_eq!(
            parse_chain(&msg),
            Some(ChainInfo {
                family: NFPROTO_IPV4,
                table: "hutch".into(),
                name: "c1".into()
            })
        );
        assert_eq!(parse_chain(&msg[..18]), None);
    }
}
