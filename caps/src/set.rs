//! [`CapSet`]: a set of capabilities as the kernel's 64-bit mask.

use std::fmt;
use std::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Not, Sub, SubAssign};
use std::str::FromStr;

use crate::capability::Capability;

/// A set of capabilities: bit `n` stands for capability number `n`, exactly as in the
/// kernel's masks (`capget`, `/proc/PID/status`, file capabilities).
///
/// The set can hold any number from 0 to 63, including numbers newer than this crate's
/// [`Capability`] enum (see [`CapSet::all_known_to_kernel`]); those are kept, iterated by
/// [`numbers`](CapSet::numbers) and printed as plain numbers, never dropped.
///
/// Operators: `a | b` (union), `a & b` (intersection), `a - b` (difference) and `!a`
/// (complement within all 64 bits: use `CapSet::all() - a` for "every known capability
/// but these").
///
/// Text form (`Display` / `FromStr`): a comma-separated list of capability names, in any
/// spelling [`Capability`] accepts, or plain numbers; `ALL` stands for [`CapSet::all`].
/// `Display` writes `ALL` when the set holds every known capability, else the OCI names
/// in number order; the empty set is the empty string.
///
/// ```
/// use hutch_caps::{CapSet, Capability};
/// let mut set = CapSet::docker_default();
/// assert_eq!(set.len(), 14);
/// set.remove(Capability::NetRaw);
/// set |= CapSet::from(Capability::SysPtrace);
/// assert!(set.contains(Capability::SysPtrace) && !set.contains(Capability::NetRaw));
///
/// let small: CapSet = "cap_chown, NET_RAW,CAP_KILL".parse()?;
/// assert_eq!(small.to_string(), "CAP_CHOWN,CAP_KILL,CAP_NET_RAW");
/// assert_eq!("ALL".parse::<CapSet>()?, CapSet::all());
/// assert_eq!((CapSet::all() - small).len(), 38);
/// # Ok::<(), hutch_caps::ParseCapSetError>(())
/// ```
///
/// # References
/// - [capabilities(7)](https://man7.org/linux/man-pages/man7/capabilities.7.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct CapSet(u64);

/// Mask of the capabilities this crate knows (numbers 0 to 40).
const KNOWN: u64 = (1u64 << Capability::COUNT) - 1;

impl CapSet {
    /// The empty set.
    pub const fn empty() -> CapSet {
        CapSet(0)
    }

    /// Every capability this crate knows (`CAP_CHOWN` to `CAP_CHECKPOINT_RESTORE`).
    ///
    /// A newer kernel may know more: see [`CapSet::all_known_to_kernel`].
    pub const fn all() -> CapSet {
        CapSet(KNOWN)
    }

    /// Every capability number from 0 to `last` (inclusive), whether or not this crate
    /// has a name for it. Numbers above 63 are capped at 63.
    ///
    /// ```
    /// use hutch_caps::CapSet;
    /// assert_eq!(CapSet::up_to(40), CapSet::all());
    /// assert_eq!(CapSet::up_to(42).len(), 43);
    /// ```
    pub const fn up_to(last: u8) -> CapSet {
        if last >= 63 {
            CapSet(u64::MAX)
        } else {
            CapSet((1u64 << (last + 1)) - 1)
        }
    }

    /// Every capability the running kernel defines: numbers 0 to
    /// [`kernel_last_cap`](crate::kernel_last_cap), which may include capabilities newer
    /// than this crate. This is the set to start from when a setting must cover every
    /// capability (dropping from the bounding set, `--privileged`).
    ///
    /// # Errors
    /// When `/proc/sys/kernel/cap_last_cap` cannot be read or parsed.
    pub fn all_known_to_kernel() -> Result<CapSet, crate::CapsError> {
        Ok(CapSet::up_to(crate::kernel_last_cap()?))
    }

    /// Docker's default capabilities (14): `CHOWN`, `DAC_OVERRIDE`, `FSETID`, `FOWNER`,
    /// `MKNOD`, `NET_RAW`, `SETGID`, `SETUID`, `SETFCAP`, `SETPCAP`, `NET_BIND_SERVICE`,
    /// `SYS_CHROOT`, `KILL` and `AUDIT_WRITE`.
    pub const fn docker_default() -> CapSet {
        use Capability as C;
        CapSet(
            C::Chown.bit()
                | C::DacOverride.bit()
                | C::Fsetid.bit()
                | C::Fowner.bit()
                | C::Mknod.bit()
                | C::NetRaw.bit()
                | C::Setgid.bit()
                | C::Setuid.bit()
                | C::Setfcap.bit()
                | C::Setpcap.bit()
                | C::NetBindService.bit()
                | C::SysChroot.bit()
                | C::Kill.bit()
                | C::AuditWrite.bit(),
        )
    }

    /// The set whose mask is `bits` (all 64 bits are kept).
    pub const fn from_bits(bits: u64) -> CapSet {
        CapSet(bits)
    }

    /// The 64-bit mask.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether `cap` is in the set.
    pub const fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// Whether capability number `n` is in the set (false for `n > 63`).
    pub const fn contains_number(self, n: u8) -> bool {
        n < 64 && self.0 & (1 << n) != 0
    }

    /// Whether every member of `other` is in the set.
    pub const fn is_superset(self, other: CapSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// Adds `cap`; returns whether it was new.
    pub fn insert(&mut self, cap: Capability) -> bool {
        let new = !self.contains(cap);
        self.0 |= cap.bit();
        new
    }

    /// Removes `cap`; returns whether it was there.
    pub fn remove(&mut self, cap: Capability) -> bool {
        let had = self.contains(cap);
        self.0 &= !cap.bit();
        had
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many capabilities (numbers) are in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The members this crate has names for, in number order. Numbers without a name
    /// are skipped here; [`numbers`](CapSet::numbers) yields them too, and
    /// [`unknown`](CapSet::unknown) is the set of them.
    pub fn iter(self) -> Iter {
        Iter(Numbers(self.0 & KNOWN))
    }

    /// Every member's number, in order, including numbers this crate has no name for.
    pub fn numbers(self) -> Numbers {
        Numbers(self.0)
    }

    /// The members this crate has no name for (numbers above 40).
    pub const fn unknown(self) -> CapSet {
        CapSet(self.0 & !KNOWN)
    }
}

impl From<Capability> for CapSet {
    fn from(cap: Capability) -> CapSet {
        CapSet(cap.bit())
    }
}

impl FromIterator<Capability> for CapSet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> CapSet {
        CapSet(iter.into_iter().fold(0, |m, c| m | c.bit()))
    }
}

impl Extend<Capability> for CapSet {
    fn extend<I: IntoIterator<Item = Capability>>(&mut self, iter: I) {
        for c in iter {
            self.insert(c);
        }
    }
}

impl BitOr for CapSet {
    type Output = CapSet;
    fn bitor(self, rhs: CapSet) -> CapSet {
        CapSet(self.0 | rhs.0)
    }
}

impl BitOr for Capability {
    type Output = CapSet;
    /// `Capability::Kill | Capability::Chown` is the set of both.
    fn bitor(self, rhs: Capability) -> CapSet {
        CapSet(self.bit() | rhs.bit())
    }
}

impl BitOr<Capability> for CapSet {
    type Output = CapSet;
    fn bitor(self, rhs: Capability) -> CapSet {
        CapSet(self.0 | rhs.bit())
    }
}

impl Sub<Capability> for CapSet {
    type Output = CapSet;
    fn sub(self, rhs: Capability) -> CapSet {
        CapSet(self.0 & !rhs.bit())
    }
}

impl BitOrAssign for CapSet {
    fn bitor_assign(&mut self, rhs: CapSet) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for CapSet {
    type Output = CapSet;
    fn bitand(self, rhs: CapSet) -> CapSet {
        CapSet(self.0 & rhs.0)
    }
}

impl BitAndAssign for CapSet {
    fn bitand_assign(&mut self, rhs: CapSet) {
        self.0 &= rhs.0;
    }
}

impl Sub for CapSet {
    type Output = CapSet;
    fn sub(self, rhs: CapSet) -> CapSet {
        CapSet(self.0 & !rhs.0)
    }
}

impl SubAssign for CapSet {
    fn sub_assign(&mut self, rhs: CapSet) {
        self.0 &= !rhs.0;
    }
}

impl Not for CapSet {
    type Output = CapSet;
    /// The complement within all 64 bits.
    fn not(self) -> CapSet {
        CapSet(!self.0)
    }
}

impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let r = if first { Ok(()) } else { f.write_str(",") };
            first = false;
            r
        };
        let rest = if self.is_superset(CapSet::all()) {
            sep(f)?;
            f.write_str("ALL")?;
            self.unknown()
        } else {
            *self
        };
        for n in rest.numbers() {
            sep(f)?;
            match Capability::from_number(n) {
                Some(c) => f.write_str(c.oci_name())?,
                None => write!(f, "{n}")?,
            }
        }
        Ok(())
    }
}

/// A capability list that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid capability {item:?} in list {list:?} (expected names such as CAP_NET_RAW, numbers up to 63, or ALL)"
)]
pub struct ParseCapSetError {
    /// The whole list.
    pub list: String,
    /// The item that is not a capability.
    pub item: String,
}

/// Parses one list item: a name, a number up to 63 or `ALL`.
pub(crate) fn parse_item(item: &str) -> Option<CapSet> {
    if item.eq_ignore_ascii_case("all") {
        return Some(CapSet::all());
    }
    if !item.is_empty() && item.bytes().all(|b| b.is_ascii_digit()) {
        return match item.parse::<u8>() {
            Ok(n) if n < 64 => Some(CapSet(1 << n)),
            _ => None,
        };
    }
    item.parse::<Capability>().ok().map(CapSet::from)
}

impl FromStr for CapSet {
    type Err = ParseCapSetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Ok(CapSet::empty());
        }
        s.split(',')
            .map(str::trim)
            .try_fold(CapSet::empty(), |acc, item| {
                parse_item(item)
                    .map(|set| acc | set)
                    .ok_or_else(|| ParseCapSetError {
                        list: s.to_owned(),
                        item: item.to_owned(),
                    })
            })
    }
}

impl IntoIterator for CapSet {
    type Item = Capability;
    type IntoIter = Iter;
    fn into_iter(self) -> Iter {
        self.iter()
    }
}

/// The numbers in a [`CapSet`], lowest first (from [`CapSet::numbers`]).
#[derive(Debug, Clone)]
pub struct Numbers(u64);

impl Iterator for Numbers {
    type Item = u8;
    fn next(&mut self) -> Option<u8> {
        if self.0 == 0 {
            return None;
        }
        let n = self.0.trailing_zeros() as u8;
        self.0 &= self.0 - 1;
        Some(n)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.0.count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Numbers {}

/// The named capabilities in a [`CapSet`], lowest first (from [`CapSet::iter`]).
#[derive(Debug, Clone)]
pub struct Iter(Numbers);

impl Iterator for Iter {
    type Item = Capability;
    fn next(&mut self) -> Option<Capability> {
        self.0.next().and_then(Capability::from_number)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Iter {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn docker_default_members() {
        let names: Vec<&str> = CapSet::docker_default().iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "cap_chown",
                "cap_dac_override",
                "cap_fowner",
                "cap_fsetid",
                "cap_kill",
                "cap_setgid",
                "cap_setuid",
                "cap_setpcap",
                "cap_net_bind_service",
                "cap_net_raw",
                "cap_sys_chroot",
                "cap_mknod",
                "cap_audit_write",
                "cap_setfcap",
            ]
        );
        // As Docker prints it in `docker inspect` / `capsh --decode=00000000a80425fb`.
        assert_eq!(CapSet::docker_default().bits(), 0x0000_0000_a804_25fb);
    }

    #[test]
    fn text_forms() {
        assert_eq!(CapSet::empty().to_string(), "");
        assert_eq!(CapSet::all().to_string(), "ALL");
        assert_eq!(CapSet::up_to(42).to_string(), "ALL,41,42");
        assert_eq!(CapSet::from_bits(1 << 50 | 1).to_string(), "CAP_CHOWN,50");
        assert_eq!("".parse::<CapSet>(), Ok(CapSet::empty()));
        assert_eq!(" all ".parse::<CapSet>(), Ok(CapSet::all()));
        assert_eq!("all,63".parse::<CapSet>().unwrap().len(), 42);
        assert_eq!(
            "chown,cap_kill".parse::<CapSet>().unwrap(),
            CapSet::from_iter([Capability::Chown, Capability::Kill])
        );
        let e = "chown,,kill".parse::<CapSet>().unwrap_err();
        assert_eq!(e.item, "");
        let e = "chown,64".parse::<CapSet>().unwrap_err();
        assert_eq!(e.item, "64");
        assert!("chown,nope".parse::<CapSet>().is_err());
        assert!("-1".parse::<CapSet>().is_err());
    }

    #[test]
    fn up_to_edges() {
        assert_eq!(CapSet::up_to(0).bits(), 1);
        assert_eq!(CapSet::up_to(62).bits(), u64::MAX >> 1);
        assert_eq!(CapSet::up_to(63).bits(), u64::MAX);
        assert_eq!(CapSet::up_to(200).bits(), u64::MAX);
    }

    #[test]
    fn insert_remove_report() {
        let mut s = CapSet::empty();
        assert!(s.insert(Capability::Bpf));
        assert!(!s.insert(Capability::Bpf));
        assert!(s.remove(Capability::Bpf));
        assert!(!s.remove(Capability::Bpf));
        assert!(s.is_empty());
    }

    proptest! {
        #[test]
        fn text_round_trip(bits in any::<u64>()) {
            let set = CapSet::from_bits(bits);
            prop_assert_eq!(set.to_string().parse::<CapSet>(), Ok(set));
        }

        #[test]
        fn arithmetic_laws(a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
            let (a, b, c) = (CapSet(a), CapSet(b), CapSet(c));
            prop_assert_eq!(!(a | b), !a & !b);
            prop_assert_eq!(!(a & b), !a | !b);
            prop_assert_eq!(!!a, a);
            prop_assert_eq!(a - b, a & !b);
            prop_assert_eq!((a - b) & b, CapSet::empty());
            prop_assert_eq!((a - b) | (a & b), a);
            prop_assert_eq!(a & (b | c), (a & b) | (a & c));
            prop_assert!((a | b).is_superset(a));
            prop_assert!(a.is_superset(a & b));
            prop_assert_eq!((a | b).len() + (a & b).len(), a.len() + b.len());
        }

        #[test]
        fn membership(bits in any::<u64>(), n in 0u8..64) {
            let mut set = CapSet(bits);
            prop_assert_eq!(set.contains_number(n), bits >> n & 1 == 1);
            prop_assert_eq!(set.numbers().count(), set.len());
            prop_assert_eq!(set.iter().count() + set.unknown().len(), set.len());
            if let Some(cap) = Capability::from_number(n) {
                set.insert(cap);
                prop_assert!(set.contains(cap));
                set.remove(cap);
                prop_assert!(!set.contains(cap));
                prop_assert_eq!(set | CapSet::from(cap), CapSet(bits | 1 << n));
            }
            let rebuilt: CapSet = set.iter().collect::<CapSet>() | set.unknown();
            prop_assert_eq!(rebuilt, set);
        }

        #[test]
        fn any_spelling_list(picks in proptest::collection::vec((0usize..41, 0u8..3), 0..10)) {
            let mut text = Vec::new();
            let mut want = CapSet::empty();
            for (i, style) in picks {
                let c = Capability::ALL[i];
                want.insert(c);
                text.push(match style {
                    0 => c.name().to_owned(),
                    1 => c.oci_name().to_owned(),
                    _ => c.oci_name()[4..].to_owned(),
                });
            }
            prop_assert_eq!(text.join(" , ").parse::<CapSet>(), Ok(want));
        }
    }
}
