//! Device access control for a cgroup: a generated eBPF `BPF_PROG_TYPE_CGROUP_DEVICE` filter.
//!
//! cgroup v2 has no `devices.allow` / `devices.deny` files. Instead, the kernel runs every
//! eBPF program attached to a cgroup with attach type `BPF_CGROUP_DEVICE` whenever a
//! process in that cgroup (or below it) opens a device node or creates one with `mknod(2)`.
//! The program reads a `struct bpf_cgroup_dev_ctx`:
//!
//! ```text
//! struct bpf_cgroup_dev_ctx {
//!     __u32 access_type;  /* (access << 16) | type */
//!     __u32 major;
//!     __u32 minor;
//! };
//! ```
//!
//! where `type` is `BPF_DEVCG_DEV_BLOCK` (1) or `BPF_DEVCG_DEV_CHAR` (2) and `access` is a
//! mask of `BPF_DEVCG_ACC_MKNOD` (1), `BPF_DEVCG_ACC_READ` (2) and `BPF_DEVCG_ACC_WRITE`
//! (4); it returns 1 to allow the access and 0 to refuse it with `EPERM`.
//!
//! This module describes the wanted behaviour as a [`DevicePolicy`] — an ordered list of
//! [`DeviceRule`]s written in the familiar cgroup v1 notation (`c 1:3 rwm`) — compiles it
//! to BPF instructions itself ([`DevicePolicy::compile`]; no libbpf, no C compiler) and
//! loads and attaches it with raw `bpf(2)` calls ([`attach_device_policy`]).
//!
//! # Rule semantics
//!
//! The policy starts from "deny everything". Rules are consulted from the **last to the
//! first**, so a rule added later overrides earlier ones (start from
//! [`DevicePolicy::docker_default`] and append exceptions). One access can ask for several
//! permissions at once (opening with `O_RDWR` asks for read and write): **each requested
//! permission is decided by the last rule that matches the device and names that
//! permission**, and the access is allowed only if every requested permission is decided
//! "allow". A permission that no rule decides is denied.
//!
//! # Several programs on one cgroup
//!
//! Programs are attached with `BPF_F_ALLOW_MULTI`. The kernel runs the programs of the
//! cgroup *and of all its ancestors* and allows an access only if **all** of them allow it,
//! so a policy can only restrict further what the parent cgroups already allow. On the
//! same cgroup, [`attach_device_policy`] replaces any program that hutch attached earlier
//! (recognised by its program name, [`PROGRAM_NAME`]) atomically with `BPF_F_REPLACE`,
//! leaving programs attached by other software alone.
//!
//! # Requirements
//!
//! Linux ≥ 5.6 (`BPF_JMP32` is from 5.1, `BPF_F_REPLACE` from 5.6), a cgroup v2 directory
//! (on a v1/v2 hybrid host, the v2 mount works), and `CAP_BPF` + `CAP_NET_ADMIN` (or
//! `CAP_SYS_ADMIN`) to load and attach; replacing an earlier program looks it up by id,
//! which needs `CAP_SYS_ADMIN`.
//!
//! # Examples
//!
//! ```no_run
//! use hutch_cgroup::Cgroup;
//! use hutch_cgroup::device::{attach_device_policy, DevicePolicy, DeviceRule};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut policy = DevicePolicy::docker_default();
//! policy.rule("c 10:200 rwm".parse::<DeviceRule>()?); // also /dev/net/tun
//! let cgroup = Cgroup::open("/sys/fs/cgroup/my-container")?;
//! let program = attach_device_policy(&cgroup, &policy)?;
//! println!("attached BPF program {}", program.id());
//! # Ok(())
//! # }
//! ```
//!
//! # References
//!
//! - [Control Group v2, "Device controller"](https://docs.kernel.org/admin-guide/cgroup-v2.html#device-controller)
//! - [`bpf(2)`](https://man7.org/linux/man-pages/man2/bpf.2.html)
//! - [BPF instruction set](https://docs.kernel.org/bpf/standardization/instruction-set.html)
//! - [`BPF_PROG_TYPE_CGROUP_DEVICE`](https://docs.kernel.org/bpf/libbpf/program_types.html)
//! - [Device whitelist controller (v1 notation)](https://docs.kernel.org/admin-guide/cgroup-v1/devices.html)

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::str::FromStr;

use crate::sys::bpf;

/// The name hutch gives every device program it loads (`bpf_prog_info.name`).
///
/// [`attach_device_policy`] and [`detach_device_policy`] use it to recognise the programs
/// hutch attached earlier; `bpftool cgroup show` lists it.
pub const PROGRAM_NAME: &str = "hutch_device";

/// The kind of device a [`DeviceRule`] applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
    /// Both character and block devices (`a`).
    All,
}

impl DeviceKind {
    /// Whether this kind covers devices of `kind` (which is [`Char`](Self::Char) or
    /// [`Block`](Self::Block) when it describes one device).
    pub fn covers(self, kind: DeviceKind) -> bool {
        self == DeviceKind::All || self == kind
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceKind::Char => "c",
            DeviceKind::Block => "b",
            DeviceKind::All => "a",
        })
    }
}

impl FromStr for DeviceKind {
    type Err = ParseDeviceRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "c" => Ok(DeviceKind::Char),
            "b" => Ok(DeviceKind::Block),
            "a" => Ok(DeviceKind::All),
            _ => Err(ParseDeviceRuleError::Kind {
                rule: s.to_owned(),
                kind: s.to_owned(),
            }),
        }
    }
}

bitflags::bitflags! {
    /// What a process may do with a device: the `rwm` of a device rule.
    ///
    /// The bit values are the kernel's `BPF_DEVCG_ACC_*` values.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DeviceAccess: u32 {
        /// Create the device node with `mknod(2)` (`m`, `BPF_DEVCG_ACC_MKNOD`).
        const MKNOD = 1;
        /// Open the device for reading (`r`, `BPF_DEVCG_ACC_READ`).
        const READ = 2;
        /// Open the device for writing (`w`, `BPF_DEVCG_ACC_WRITE`).
        const WRITE = 4;
    }
}

impl fmt::Display for DeviceAccess {
    /// Writes the letters in the order `r`, `w`, `m`; nothing for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (flag, letter) in [
            (DeviceAccess::READ, "r"),
            (DeviceAccess::WRITE, "w"),
            (DeviceAccess::MKNOD, "m"),
        ] {
            if self.contains(flag) {
                f.write_str(letter)?;
            }
        }
        Ok(())
    }
}

impl FromStr for DeviceAccess {
    type Err = ParseDeviceRuleError;

    /// Parses letters `r`, `w`, `m` in any order; the empty string is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_access(s, s)
    }
}

fn parse_access(s: &str, rule: &str) -> Result<DeviceAccess, ParseDeviceRuleError> {
    if s.is_empty() {
        return Err(ParseDeviceRuleError::Shape {
            rule: rule.to_owned(),
        });
    }
    let mut access = DeviceAccess::empty();
    for letter in s.chars() {
        access |= match letter {
            'r' => DeviceAccess::READ,
            'w' => DeviceAccess::WRITE,
            'm' => DeviceAccess::MKNOD,
            _ => {
                return Err(ParseDeviceRuleError::Access {
                    rule: rule.to_owned(),
                    access: s.to_owned(),
                    letter,
                });
            }
        };
    }
    Ok(access)
}

/// One device rule: which devices, which permissions, allowed or denied.
///
/// # Text form
///
/// `Display` and `FromStr` use the cgroup v1 `devices.allow` notation, `TYPE MAJOR:MINOR
/// ACCESS`, where `TYPE` is `c`, `b` or `a`, `MAJOR` and `MINOR` are decimal numbers or `*`
/// (any), and `ACCESS` is a non-empty combination of `r`, `w` and `m`. A rule that denies
/// is prefixed with `deny ` (`deny c 1:5 rwm`); `allow ` is accepted as a prefix and is
/// not written. The lone `a` of v1 is accepted as `a *:* rwm`.
///
/// A rule whose `access` is empty matches nothing; it is written with an empty access
/// field (`c 1:3 `), which `FromStr` rejects.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::device::{DeviceAccess, DeviceKind, DeviceRule};
///
/// let rule: DeviceRule = "c 136:* rw".parse().unwrap();
/// assert_eq!(rule, DeviceRule::allow(DeviceKind::Char, Some(136), None,
///                                    DeviceAccess::READ | DeviceAccess::WRITE));
/// assert_eq!(rule.to_string(), "c 136:* rw");
///
/// let deny: DeviceRule = "deny b *:* m".parse().unwrap();
/// assert!(!deny.allow);
/// assert!("c 1:x rwm".parse::<DeviceRule>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceRule {
    /// Character, block or both.
    pub kind: DeviceKind,
    /// The major number, `None` for any.
    pub major: Option<u32>,
    /// The minor number, `None` for any.
    pub minor: Option<u32>,
    /// The permissions this rule decides.
    pub access: DeviceAccess,
    /// `true` to allow these permissions, `false` to deny them.
    pub allow: bool,
}

impl DeviceRule {
    /// A rule that allows `access` to the matching devices.
    pub fn allow(
        kind: DeviceKind,
        major: Option<u32>,
        minor: Option<u32>,
        access: DeviceAccess,
    ) -> Self {
        DeviceRule {
            kind,
            major,
            minor,
            access,
            allow: true,
        }
    }

    /// A rule that denies `access` to the matching devices.
    pub fn deny(
        kind: DeviceKind,
        major: Option<u32>,
        minor: Option<u32>,
        access: DeviceAccess,
    ) -> Self {
        DeviceRule {
            allow: false,
            ..DeviceRule::allow(kind, major, minor, access)
        }
    }

    /// Whether the rule matches the device `kind` (`Char` or `Block`) `major:minor`,
    /// regardless of the permissions asked.
    pub fn matches_device(&self, kind: DeviceKind, major: u32, minor: u32) -> bool {
        self.kind.covers(kind)
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
    }
}

impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.allow {
            f.write_str("deny ")?;
        }
        write!(f, "{} ", self.kind)?;
        match self.major {
            Some(major) => write!(f, "{major}:")?,
            None => f.write_str("*:")?,
        }
        match self.minor {
            Some(minor) => write!(f, "{minor} ")?,
            None => f.write_str("* ")?,
        }
        write!(f, "{}", self.access)
    }
}

impl FromStr for DeviceRule {
    type Err = ParseDeviceRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shape = || ParseDeviceRuleError::Shape { rule: s.to_owned() };
        let mut fields = s.split_whitespace();
        let mut first = fields.next().ok_or_else(shape)?;
        let allow = match first {
            "allow" | "deny" => {
                let allow = first == "allow";
                first = fields.next().ok_or_else(shape)?;
                allow
            }
            _ => true,
        };
        let kind = match first {
            "c" => DeviceKind::Char,
            "b" => DeviceKind::Block,
            "a" => DeviceKind::All,
            other => {
                return Err(ParseDeviceRuleError::Kind {
                    rule: s.to_owned(),
                    kind: other.to_owned(),
                });
            }
        };
        let Some(numbers) = fields.next() else {
            if kind == DeviceKind::All {
                // v1's lone `a`: every device, every permission.
                return Ok(DeviceRule {
                    kind,
                    major: None,
                    minor: None,
                    access: DeviceAccess::all(),
                    allow,
                });
            }
            return Err(shape());
        };
        let access = fields.next().ok_or_else(shape)?;
        if fields.next().is_some() {
            return Err(shape());
        }
        let (major, minor) =
            numbers
                .split_once(':')
                .ok_or_else(|| ParseDeviceRuleError::Number {
                    rule: s.to_owned(),
                    number: numbers.to_owned(),
                    source: None,
                })?;
        let number = |text: &str| -> Result<Option<u32>, ParseDeviceRuleError> {
            if text == "*" {
                return Ok(None);
            }
            // `u32::from_str` accepts a leading `+`; device numbers never have one.
            if !text.bytes().all(|b| b.is_ascii_digit()) || text.is_empty() {
                return Err(ParseDeviceRuleError::Number {
                    rule: s.to_owned(),
                    number: text.to_owned(),
                    source: text.parse::<u32>().err(),
                });
            }
            text.parse::<u32>()
                .map(Some)
                .map_err(|source| ParseDeviceRuleError::Number {
                    rule: s.to_owned(),
                    number: text.to_owned(),
                    source: Some(source),
                })
        };
        Ok(DeviceRule {
            kind,
            major: number(major)?,
            minor: number(minor)?,
            access: parse_access(access, s)?,
            allow,
        })
    }
}

/// A device rule (or policy line) that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseDeviceRuleError {
    /// The text does not have the shape `[allow|deny] TYPE MAJOR:MINOR ACCESS`.
    #[error(
        "device rule {rule:?} is not of the form \"[allow|deny] TYPE MAJOR:MINOR ACCESS\", \
         e.g. \"c 1:3 rwm\""
    )]
    Shape {
        /// The whole rule text.
        rule: String,
    },
    /// The device type is not `c`, `b` or `a`.
    #[error("device rule {rule:?} has unknown device type {kind:?} (expected c, b or a)")]
    Kind {
        /// The whole rule text.
        rule: String,
        /// The offending type field.
        kind: String,
    },
    /// A device number is malformed.
    #[error(
        "device rule {rule:?} has a malformed device number {number:?} \
         (expected MAJOR:MINOR, each a decimal number below 2^32 or *)"
    )]
    Number {
        /// The whole rule text.
        rule: String,
        /// The offending number (or `MAJOR:MINOR` pair when the `:` is missing).
        number: String,
        /// Why the number did not parse, when it looked like a number.
        #[source]
        source: Option<std::num::ParseIntError>,
    },
    /// The access field has a letter other than `r`, `w`, `m`.
    #[error(
        "device rule {rule:?} has unknown access letter {letter:?} in {access:?} (expected r, w, m)"
    )]
    Access {
        /// The whole rule text.
        rule: String,
        /// The access field.
        access: String,
        /// The first unknown letter.
        letter: char,
    },
}

/// An ordered list of [`DeviceRule`]s over a default of "deny everything".
///
/// See the [module documentation](self#rule-semantics) for how rules combine: later rules
/// override earlier ones, permission by permission.
///
/// `Display` writes one rule per line; `FromStr` reads that back, ignoring empty lines and
/// lines starting with `#`.
///
/// # Examples
///
/// ```
/// use hutch_cgroup::device::{DevicePolicy, DeviceRule};
///
/// let mut policy = DevicePolicy::new();
/// policy.rule("c 1:3 rwm".parse::<DeviceRule>().unwrap());
/// policy.rule("c 1:5 rw".parse::<DeviceRule>().unwrap());
/// assert_eq!(policy.to_string(), "c 1:3 rwm\nc 1:5 rw\n");
/// assert_eq!(policy.to_string().parse::<DevicePolicy>().unwrap(), policy);
/// let program = policy.compile();
/// assert!(!program.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DevicePolicy {
    rules: Vec<DeviceRule>,
}

impl DevicePolicy {
    /// A policy with no rules: every device access is denied.
    pub fn new() -> Self {
        DevicePolicy { rules: Vec::new() }
    }

    /// The device allow-list container engines (Docker, runc) use by default.
    ///
    /// | rule | device |
    /// |---|---|
    /// | `c *:* m`, `b *:* m` | `mknod` of any device node (opening it is still denied) |
    /// | `c 1:3 rwm` | `/dev/null` |
    /// | `c 1:5 rwm` | `/dev/zero` |
    /// | `c 1:7 rwm` | `/dev/full` |
    /// | `c 1:8 rwm` | `/dev/random` |
    /// | `c 1:9 rwm` | `/dev/urandom` |
    /// | `c 5:0 rwm` | `/dev/tty` |
    /// | `c 5:1 rwm` | `/dev/console` |
    /// | `c 5:2 rwm` | `/dev/ptmx` |
    /// | `c 136:* rwm` | `/dev/pts/*` |
    ///
    /// `/dev/net/tun` (`c 10:200 rwm`) is not included (Docker dropped it from its defaults);
    /// append it when needed.
    ///
    /// # Examples
    ///
    /// ```
    /// use hutch_cgroup::device::{DevicePolicy, DeviceRule};
    ///
    /// let mut policy = DevicePolicy::docker_default();
    /// policy.rule("c 10:200 rwm".parse::<DeviceRule>().unwrap()); // /dev/net/tun
    /// assert_eq!(policy.rules().len(), 12);
    /// ```
    pub fn docker_default() -> Self {
        use DeviceKind::{Block, Char};
        let all = DeviceAccess::all();
        let mut policy = DevicePolicy::new();
        policy
            .rule(DeviceRule::allow(Char, None, None, DeviceAccess::MKNOD))
            .rule(DeviceRule::allow(Block, None, None, DeviceAccess::MKNOD));
        for (major, minor) in [
            (1, Some(3)),
            (1, Some(5)),
            (1, Some(7)),
            (1, Some(8)),
            (1, Some(9)),
            (5, Some(0)),
            (5, Some(1)),
            (5, Some(2)),
            (136, None),
        ] {
            policy.rule(DeviceRule::allow(Char, Some(major), minor, all));
        }
        policy
    }

    /// Appends a rule; it overrides the rules before it.
    pub fn rule(&mut self, rule: DeviceRule) -> &mut Self {
        self.rules.push(rule);
        self
    }

    /// The rules, in the order they were added.
    pub fn rules(&self) -> &[DeviceRule] {
        &self.rules
    }

    /// Generates the `BPF_PROG_TYPE_CGROUP_DEVICE` program that enforces this policy.
    ///
    /// The program only loads the context, compares with immediates (32-bit `BPF_JMP32`
    /// comparisons, Linux ≥ 5.1) and returns 0 or 1; it calls no helper and jumps only
    /// forward and only within one rule's block, so it is valid for any number of rules
    /// up to the kernel's limits (at most 13 instructions per rule; 2000 rules verify well
    /// within the verifier's budget).
    ///
    /// # Examples
    ///
    /// ```
    /// use hutch_cgroup::device::DevicePolicy;
    ///
    /// // An empty policy: load the context, refuse.
    /// let program = DevicePolicy::new().compile();
    /// assert_eq!(program.last().unwrap().code, 0x95); // BPF_JMP | BPF_EXIT
    /// ```
    pub fn compile(&self) -> Vec<BpfInsn> {
        use insn::*;
        let mut prog = vec![
            // r2 = ctx->access_type; r3 = r2
            ldx_w(R_TYPE, R_CTX, 0),
            mov64_reg(R_ACCESS, R_TYPE),
            // r2 = type (low 16 bits), r3 = requested access (high 16 bits)
            alu32_imm(BPF_AND, R_TYPE, 0xffff),
            alu32_imm(BPF_RSH, R_ACCESS, 16),
            // r4 = ctx->major, r5 = ctx->minor
            ldx_w(R_MAJOR, R_CTX, 4),
            ldx_w(R_MINOR, R_CTX, 8),
            // Nothing asked: nothing to grant.
            jmp32_imm(BPF_JNE, R_ACCESS, 0, 2),
            mov64_imm(0, 0),
            exit(),
        ];
        // r3 holds the permissions not decided yet. Later rules win, so walk backwards.
        for rule in self.rules.iter().rev() {
            if rule.access.is_empty() {
                continue;
            }
            let access = rule.access.bits() as i32;
            // Jumps to `NEXT` are patched to the end of this rule's block.
            let mut block = Vec::with_capacity(13);
            // Compare a scratch copy (`w0 = wN ^ value; if w0 != 0 goto next`) rather than
            // the register itself: a direct `if wN != value` would teach the verifier the
            // exact value on the matching path, so the states at the next rule would
            // differ from the non-matching path's and could not be pruned, making
            // verification quadratic in the number of rules.
            let mut differs = |reg: u8, value: i32| {
                block.push(mov32_reg(R_SCRATCH, reg));
                block.push(alu32_imm(BPF_XOR, R_SCRATCH, value));
                block.push(jmp32_imm(BPF_JNE, R_SCRATCH, 0, NEXT));
            };
            match rule.kind {
                DeviceKind::Char => differs(R_TYPE, DEV_CHAR),
                DeviceKind::Block => differs(R_TYPE, DEV_BLOCK),
                DeviceKind::All => {}
            }
            if let Some(major) = rule.major {
                differs(R_MAJOR, major as i32);
            }
            if let Some(minor) = rule.minor {
                differs(R_MINOR, minor as i32);
            }
            if rule.allow {
                // These permissions are granted; allow once nothing is left undecided.
                block.push(alu32_imm(BPF_AND, R_ACCESS, !access));
                block.push(jmp32_imm(BPF_JNE, R_ACCESS, 0, NEXT));
                block.push(mov64_imm(0, 1));
                block.push(exit());
            } else {
                // Any still-undecided permission denied here refuses the access.
                block.push(jmp32_imm(BPF_JSET, R_ACCESS, access, 1));
                block.push(ja(NEXT));
                block.push(mov64_imm(0, 0));
                block.push(exit());
            }
            let len = block.len();
            for (i, ins) in block.iter_mut().enumerate() {
                if ins.off == NEXT {
                    ins.off = (len - i - 1) as i16;
                }
            }
            prog.extend(block);
        }
        // Default: deny.
        prog.push(mov64_imm(0, 0));
        prog.push(exit());
        prog
    }
}

impl Extend<DeviceRule> for DevicePolicy {
    fn extend<T: IntoIterator<Item = DeviceRule>>(&mut self, iter: T) {
        self.rules.extend(iter);
    }
}

impl FromIterator<DeviceRule> for DevicePolicy {
    fn from_iter<T: IntoIterator<Item = DeviceRule>>(iter: T) -> Self {
        DevicePolicy {
            rules: iter.into_iter().collect(),
        }
    }
}

impl fmt::Display for DevicePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for rule in &self.rules {
            writeln!(f, "{rule}")?;
        }
        Ok(())
    }
}

impl FromStr for DevicePolicy {
    type Err = ParseDeviceRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::parse)
            .collect()
    }
}

/// One eBPF instruction (`struct bpf_insn`), as passed to the kernel.
///
/// # References
///
/// - [BPF instruction encoding](https://docs.kernel.org/bpf/standardization/instruction-set.html#instruction-encoding)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct BpfInsn {
    /// Opcode: operation, source and instruction class.
    pub code: u8,
    /// Destination register in the low nibble, source register in the high nibble.
    pub regs: u8,
    /// Signed offset (jump distance in instructions, or memory offset).
    pub off: i16,
    /// Signed 32-bit immediate.
    pub imm: i32,
}

impl BpfInsn {
    /// The destination register number (0–10).
    pub fn dst_reg(&self) -> u8 {
        self.regs & 0x0f
    }

    /// The source register number (0–10).
    pub fn src_reg(&self) -> u8 {
        self.regs >> 4
    }
}

/// Instruction constructors for the few instructions [`DevicePolicy::compile`] emits.
mod insn {
    use super::BpfInsn;

    pub(super) const BPF_LDX: u8 = 0x01;
    pub(super) const BPF_ALU: u8 = 0x04;
    pub(super) const BPF_JMP: u8 = 0x05;
    pub(super) const BPF_JMP32: u8 = 0x06;
    pub(super) const BPF_ALU64: u8 = 0x07;
    pub(super) const BPF_W: u8 = 0x00;
    pub(super) const BPF_MEM: u8 = 0x60;
    pub(super) const BPF_K: u8 = 0x00;
    pub(super) const BPF_X: u8 = 0x08;
    pub(super) const BPF_AND: u8 = 0x50;
    pub(super) const BPF_RSH: u8 = 0x70;
    pub(super) const BPF_XOR: u8 = 0xa0;
    pub(super) const BPF_MOV: u8 = 0xb0;
    pub(super) const BPF_JA: u8 = 0x00;
    pub(super) const BPF_JSET: u8 = 0x40;
    pub(super) const BPF_JNE: u8 = 0x50;
    pub(super) const BPF_EXIT: u8 = 0x90;

    /// `BPF_DEVCG_DEV_BLOCK`.
    pub(super) const DEV_BLOCK: i32 = 1;
    /// `BPF_DEVCG_DEV_CHAR`.
    pub(super) const DEV_CHAR: i32 = 2;

    pub(super) const R_SCRATCH: u8 = 0;
    pub(super) const R_CTX: u8 = 1;
    pub(super) const R_TYPE: u8 = 2;
    pub(super) const R_ACCESS: u8 = 3;
    pub(super) const R_MAJOR: u8 = 4;
    pub(super) const R_MINOR: u8 = 5;

    /// Placeholder jump offset: "to the end of the current rule's block".
    pub(super) const NEXT: i16 = i16::MIN;

    const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
        BpfInsn {
            code,
            regs: (src << 4) | dst,
            off,
            imm,
        }
    }

    pub(super) const fn ldx_w(dst: u8, src: u8, off: i16) -> BpfInsn {
        insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
    }

    pub(super) const fn mov64_reg(dst: u8, src: u8) -> BpfInsn {
        insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
    }

    pub(super) const fn mov32_reg(dst: u8, src: u8) -> BpfInsn {
        insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
    }

    pub(super) const fn mov64_imm(dst: u8, imm: i32) -> BpfInsn {
        insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
    }

    pub(super) const fn alu32_imm(op: u8, dst: u8, imm: i32) -> BpfInsn {
        insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm)
    }

    pub(super) const fn jmp32_imm(op: u8, dst: u8, imm: i32, off: i16) -> BpfInsn {
        insn(BPF_JMP32 | op | BPF_K, dst, 0, off, imm)
    }

    pub(super) const fn ja(off: i16) -> BpfInsn {
        insn(BPF_JMP | BPF_JA, 0, 0, off, 0)
    }

    pub(super) const fn exit() -> BpfInsn {
        insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
    }
}

/// Loading, attaching or detaching a device program failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// `BPF_PROG_LOAD` refused the generated program.
    #[error(
        "the kernel refused to load the cgroup device program (BPF_PROG_LOAD); \
         end of the verifier log: {}",
        log_tail(log)
    )]
    Load {
        /// The verifier's log (empty when the kernel gave none).
        log: String,
        /// The error from `bpf(2)`.
        #[source]
        source: io::Error,
    },
    /// `BPF_PROG_QUERY` failed.
    #[error("cannot list the device programs attached to cgroup {cgroup} (BPF_PROG_QUERY)")]
    Query {
        /// The cgroup directory.
        cgroup: PathBuf,
        /// The error from `bpf(2)`.
        #[source]
        source: io::Error,
    },
    /// Opening or inspecting an attached program failed.
    #[error("cannot inspect BPF program {id} attached to cgroup {cgroup}")]
    Inspect {
        /// The cgroup directory.
        cgroup: PathBuf,
        /// The program id.
        id: u32,
        /// The error from `bpf(2)`.
        #[source]
        source: io::Error,
    },
    /// `BPF_PROG_ATTACH` failed (`EPERM` if a program was attached without
    /// `BPF_F_ALLOW_MULTI`, `EBADF` if the fd is `O_PATH`, `ENOENT` if the program to
    /// replace vanished meanwhile).
    #[error("cannot attach the device program to cgroup {cgroup} (BPF_PROG_ATTACH)")]
    Attach {
        /// The cgroup directory.
        cgroup: PathBuf,
        /// The error from `bpf(2)`.
        #[source]
        source: io::Error,
    },
    /// `BPF_PROG_DETACH` failed.
    #[error("cannot detach device program {id} from cgroup {cgroup} (BPF_PROG_DETACH)")]
    Detach {
        /// The cgroup directory.
        cgroup: PathBuf,
        /// The program id.
        id: u32,
        /// The error from `bpf(2)`.
        #[source]
        source: io::Error,
    },
    /// Duplicating the cgroup directory fd failed.
    #[error("cannot duplicate the file descriptor of cgroup {cgroup}")]
    Dup {
        /// The cgroup directory.
        cgroup: PathBuf,
        /// The error from `fcntl(F_DUPFD_CLOEXEC)`.
        #[source]
        source: io::Error,
    },
}

/// A device program loaded by hutch and attached to a cgroup.
///
/// It owns the program fd and a duplicate of the cgroup directory fd. Dropping it closes
/// both but **leaves the program attached**: the kernel keeps an attached program alive
/// for as long as the cgroup exists, which is what a container needs. Call
/// [`detach`](Self::detach) to remove it.
#[derive(Debug)]
pub struct DeviceProgram {
    prog: OwnedFd,
    cgroup: OwnedFd,
    id: u32,
}

impl DeviceProgram {
    /// The kernel's id for the program (as listed by `bpftool prog`).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Detaches the program from its cgroup.
    ///
    /// # Errors
    ///
    /// [`DeviceError::Detach`] when `BPF_PROG_DETACH` fails (`ENOENT` if it is no longer
    /// attached, e.g. replaced by a later [`attach_device_policy`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hutch_cgroup::Cgroup;
    /// use hutch_cgroup::device::{attach_device_policy, DevicePolicy};
    ///
    /// let cgroup = Cgroup::open("/sys/fs/cgroup/box")?;
    /// let program = attach_device_policy(&cgroup, &DevicePolicy::docker_default())?;
    /// // ... later: lift the restriction again.
    /// program.detach()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # References
    ///
    /// - [`bpf(2)`](https://man7.org/linux/man-pages/man2/bpf.2.html)
    #[doc(alias = "BPF_PROG_DETACH")]
    pub fn detach(self) -> Result<(), DeviceError> {
        bpf::prog_detach(
            self.cgroup.as_fd(),
            self.prog.as_fd(),
            bpf::BPF_CGROUP_DEVICE,
        )
        .map_err(|source| DeviceError::Detach {
            cgroup: fd_path(self.cgroup.as_fd()),
            id: self.id,
            source,
        })
    }
}

impl AsFd for DeviceProgram {
    /// The program fd.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.prog.as_fd()
    }
}

/// Loads `policy` as a device program and attaches it to `cgroup`, replacing the program
/// hutch attached there before (if any).
///
/// `cgroup` is an open cgroup v2 directory (a `File`, or an `OwnedFd` opened with
/// `O_RDONLY | O_DIRECTORY`; not `O_PATH`). The new program is attached with
/// `BPF_F_ALLOW_MULTI`; if a program named [`PROGRAM_NAME`] is already attached directly
/// to this cgroup, it is swapped for the new one atomically with `BPF_F_REPLACE` (so no
/// access slips through in between), and any further such programs are detached.
/// Programs attached by other software are left in place; the kernel allows an access
/// only if all of them allow it.
///
/// # Errors
///
/// - [`DeviceError::Load`] with the verifier log if the kernel refuses the program
///   (`EPERM` without `CAP_BPF` and `CAP_NET_ADMIN`, or `CAP_SYS_ADMIN`).
/// - [`DeviceError::Query`] / [`DeviceError::Inspect`] if the attached programs cannot be
///   listed (`EBADF`/`ENOTDIR`: `cgroup` is not a cgroup v2 directory; `EPERM` from
///   `BPF_PROG_GET_FD_BY_ID` without `CAP_SYS_ADMIN`).
/// - [`DeviceError::Attach`] if attaching fails; nothing has changed then.
/// - [`DeviceError::Detach`] if removing a surplus older hutch program fails; the new
///   program is attached then.
///
/// # Examples
///
/// ```no_run
/// use hutch_cgroup::device::{attach_device_policy, DevicePolicy};
///
/// let cgroup = std::fs::File::open("/sys/fs/cgroup/box")?;
/// let program = attach_device_policy(&cgroup, &DevicePolicy::docker_default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
///
/// - [`bpf(2)`](https://man7.org/linux/man-pages/man2/bpf.2.html)
/// - [cgroup v2 device controller](https://docs.kernel.org/admin-guide/cgroup-v2.html#device-controller)
#[doc(alias = "BPF_PROG_LOAD")]
#[doc(alias = "BPF_PROG_ATTACH")]
pub fn attach_device_policy(
    cgroup: impl AsFd,
    policy: &DevicePolicy,
) -> Result<DeviceProgram, DeviceError> {
    LoadedDevicePolicy::load(policy)?.attach(cgroup)
}

/// A [`DevicePolicy`] compiled and loaded into the kernel once, attachable to any number of
/// cgroups: a container runtime that gives every container the same policy loads it once
/// (`BPF_PROG_LOAD`, the verifier's run) instead of once per container.
#[derive(Debug)]
pub struct LoadedDevicePolicy {
    prog: OwnedFd,
    id: u32,
}

impl LoadedDevicePolicy {
    /// Compiles `policy` and loads it (`BPF_PROG_LOAD`).
    ///
    /// # Errors
    ///
    /// [`DeviceError::Load`] with the verifier's log, or [`DeviceError::Inspect`].
    #[doc(alias = "BPF_PROG_LOAD")]
    pub fn load(policy: &DevicePolicy) -> Result<LoadedDevicePolicy, DeviceError> {
        let insns = policy.compile();
        let prog = bpf::prog_load_cgroup_device(&insns, PROGRAM_NAME, LICENSE)
            .map_err(|(source, log)| DeviceError::Load { log, source })?;
        let id = bpf::prog_info(prog.as_fd())
            .map_err(|source| DeviceError::Inspect {
                cgroup: PathBuf::from("(not attached)"),
                id: 0,
                source,
            })?
            .id;
        Ok(LoadedDevicePolicy { prog, id })
    }

    /// The kernel's id of the loaded program.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Attaches the program to `cgroup`, replacing hutch programs attached there before, as
    /// [`attach_device_policy`] does.
    ///
    /// # Errors
    ///
    /// As [`attach_device_policy`], after loading.
    #[doc(alias = "BPF_PROG_ATTACH")]
    pub fn attach(&self, cgroup: impl AsFd) -> Result<DeviceProgram, DeviceError> {
        let cgroup = cgroup.as_fd();
        let prog = self.prog.try_clone().map_err(|source| DeviceError::Dup {
            cgroup: fd_path(cgroup),
            source,
        })?;
        let id = self.id;
        let old = hutch_programs(cgroup)?;
        let flags = bpf::BPF_F_ALLOW_MULTI;
        let attached = match old.first() {
            Some((_, old_fd)) => bpf::prog_attach(
                cgroup,
                prog.as_fd(),
                bpf::BPF_CGROUP_DEVICE,
                flags | bpf::BPF_F_REPLACE,
                Some(old_fd.as_fd()),
            ),
            None => bpf::prog_attach(cgroup, prog.as_fd(), bpf::BPF_CGROUP_DEVICE, flags, None),
        };
        attached.map_err(|source| DeviceError::Attach {
            cgroup: fd_path(cgroup),
            source,
        })?;
        for (old_id, old_fd) in old.iter().skip(1) {
            bpf::prog_detach(cgroup, old_fd.as_fd(), bpf::BPF_CGROUP_DEVICE).map_err(|source| {
                DeviceError::Detach {
                    cgroup: fd_path(cgroup),
                    id: *old_id,
                    source,
                }
            })?;
        }
        let cgroup = cgroup
            .try_clone_to_owned()
            .map_err(|source| DeviceError::Dup {
                cgroup: fd_path(cgroup),
                source,
            })?;
        Ok(DeviceProgram { prog, cgroup, id })
    }
}

/// Detaches every hutch device program (named [`PROGRAM_NAME`]) attached directly to
/// `cgroup`, and returns how many there were.
///
/// This is for when the [`DeviceProgram`] handle is gone (e.g. another process attached
/// it); programs of other software are left alone.
///
/// # Errors
///
/// [`DeviceError::Query`], [`DeviceError::Inspect`] or [`DeviceError::Detach`].
///
/// # Examples
///
/// ```no_run
/// use hutch_cgroup::Cgroup;
/// use hutch_cgroup::device::detach_device_policy;
///
/// let cgroup = Cgroup::open("/sys/fs/cgroup/box")?;
/// let removed = detach_device_policy(&cgroup)?;
/// println!("detached {removed} hutch device program(s)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
///
/// - [`bpf(2)`](https://man7.org/linux/man-pages/man2/bpf.2.html)
#[doc(alias = "BPF_PROG_DETACH")]
pub fn detach_device_policy(cgroup: impl AsFd) -> Result<usize, DeviceError> {
    let cgroup = cgroup.as_fd();
    let old = hutch_programs(cgroup)?;
    for (id, fd) in &old {
        match bpf::prog_detach(cgroup, fd.as_fd(), bpf::BPF_CGROUP_DEVICE) {
            Ok(()) => {}
            // Detached by someone else meanwhile: that is what was asked.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(source) => {
                return Err(DeviceError::Detach {
                    cgroup: fd_path(cgroup),
                    id: *id,
                    source,
                });
            }
        }
    }
    Ok(old.len())
}

/// Lists the ids of the device programs attached directly to `cgroup` (by hutch or
/// anyone else), in the order the kernel runs them.
///
/// # Errors
///
/// [`DeviceError::Query`] (`EBADF`/`ENOTDIR` if `cgroup` is not a cgroup v2 directory).
///
/// # Examples
///
/// ```no_run
/// use hutch_cgroup::Cgroup;
/// use hutch_cgroup::device::attached_device_programs;
///
/// let cgroup = Cgroup::open("/sys/fs/cgroup/box")?;
/// for id in attached_device_programs(&cgroup)? {
///     println!("device program {id}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
///
/// - [`bpf(2)`](https://man7.org/linux/man-pages/man2/bpf.2.html)
#[doc(alias = "BPF_PROG_QUERY")]
pub fn attached_device_programs(cgroup: impl AsFd) -> Result<Vec<u32>, DeviceError> {
    let cgroup = cgroup.as_fd();
    bpf::prog_query(cgroup, bpf::BPF_CGROUP_DEVICE).map_err(|source| DeviceError::Query {
        cgroup: fd_path(cgroup),
        source,
    })
}

/// The license string given to `BPF_PROG_LOAD`. The program calls no helper at all, so
/// no GPL-only helper is needed and the crate's own license applies.
const LICENSE: &str = "MIT OR Apache-2.0";

/// The hutch device programs attached directly to `cgroup`: (id, fd).
fn hutch_programs(cgroup: BorrowedFd<'_>) -> Result<Vec<(u32, OwnedFd)>, DeviceError> {
    let mut found = Vec::new();
    for id in attached_device_programs(cgroup)? {
        let fd = match bpf::prog_get_fd_by_id(id) {
            Ok(fd) => fd,
            // Detached and freed since the query: not ours to replace any more.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(source) => {
                return Err(DeviceError::Inspect {
                    cgroup: fd_path(cgroup),
                    id,
                    source,
                });
            }
        };
        let info = bpf::prog_info(fd.as_fd()).map_err(|source| DeviceError::Inspect {
            cgroup: fd_path(cgroup),
            id,
            source,
        })?;
        if info.name() == PROGRAM_NAME.as_bytes() {
            found.push((id, fd));
        }
    }
    Ok(found)
}

/// The last few lines of a verifier log (where the reason is), for error messages.
fn log_tail(log: &str) -> &str {
    let log = log.trim_end();
    if log.is_empty() {
        return "(none)";
    }
    let start = log.rmatch_indices('\n').nth(4).map_or(0, |(i, _)| i + 1);
    &log[start..]
}

/// The path of an open fd, for error messages (`/proc/self/fd/N` if it cannot be read).
fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    let link = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    std::fs::read_link(&link).unwrap_or(link)
}
