//! The compiler from [`Filter`] to classic BPF.
//!
//! Layout of a program:
//!
//! ```text
//!       ld  [arch]
//!       jeq AUDIT_ARCH_<first>, next, other      ; native architecture first
//!       ld  [nr]
//!       <balanced binary search over number intervals; leaves are `ret` or rule blocks>
//! other: jeq AUDIT_ARCH_<second>, ...             ; compat architectures
//!       ret <foreign-arch action>
//! ```
//!
//! Numbers are grouped into maximal intervals with the same outcome (consecutive allowed
//! calls become one interval), and a `jge` tree over the interval starts finds the
//! interval in ⌈log2 n⌉ comparisons. Argument checks appear only in the blocks of calls
//! that have conditional rules. 64-bit comparisons test the high word first, then the
//! low word. The assembler resolves labels and turns conditional jumps that cannot
//! reach their target in 255 instructions into a `ja` trampoline.

use crate::arch::{AUDIT_ARCH_X86_64, Arch, X32_SYSCALL_BIT};
use crate::bpf::{
    self, BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_K, BPF_LD,
    BPF_RET, BPF_W, Insn, MAX_INSNS,
};
use crate::error::{CompileError, InterpError};
use crate::filter::{CmpOp, Cond, Filter, Rule, SeccompData, classify};

/// A compiled seccomp program, ready to install.
///
/// Compile once in the parent (or once per process and cache it); installing needs no
/// allocation, so it can be done in a forked or cloned child (see `Program::install`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Program {
    pub(crate) insns: Vec<Insn>,
}

impl Program {
    /// A program from raw instructions (for example one exported by another tool).
    ///
    /// # Errors
    ///
    /// [`CompileError::TooLong`] above `BPF_MAXINSNS`, [`CompileError::Empty`] for none.
    pub fn from_instructions(insns: Vec<Insn>) -> Result<Program, CompileError> {
        if insns.is_empty() {
            return Err(CompileError::Empty);
        }
        if insns.len() > MAX_INSNS {
            return Err(CompileError::TooLong { len: insns.len() });
        }
        Ok(Program { insns })
    }

    /// The instructions.
    pub fn instructions(&self) -> &[Insn] {
        &self.insns
    }

    /// The number of instructions.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Always `false`: a program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Runs the program on `data` in the in-crate interpreter; returns the raw
    /// `SECCOMP_RET_*` value (see [`Action::from_raw`](crate::Action::from_raw)).
    ///
    /// # Errors
    ///
    /// See [`bpf::run`].
    pub fn run(&self, data: &SeccompData) -> Result<u32, InterpError> {
        bpf::run(&self.insns, data)
    }

    /// Whether some path of the program returns
    /// [`Action::UserNotif`](crate::Action::UserNotif): such a program needs a listener
    /// (`InstallFlags::NEW_LISTENER`), without which the notified calls fail with `ENOSYS`.
    pub fn uses_user_notif(&self) -> bool {
        const BPF_RET_K: u16 = 0x06;
        self.insns.iter().any(|i| {
            i.code == BPF_RET_K
                && i.k & libc::SECCOMP_RET_ACTION_FULL == libc::SECCOMP_RET_USER_NOTIF
        })
    }

    /// The program as readable assembly.
    pub fn disassemble(&self) -> String {
        bpf::disassemble(&self.insns)
    }
}

impl Filter {
    /// Compiles the filter into a program covering `arches` (the first is checked first,
    /// so put the native one there; [`Arch::native_family`] is the usual choice).
    /// Calls from any other architecture — including x32 calls when [`Arch::X32`] is
    /// not listed — get the foreign-architecture action.
    ///
    /// # Errors
    ///
    /// [`CompileError`]: no architecture, a rule with more than six conditions or an
    /// argument index above 5, a (non-optional) system call that exists on none of
    /// `arches`, or a program above `BPF_MAXINSNS`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hutch_seccomp::{Action, Arch, Filter, Syscall};
    /// let mut filter = Filter::new(Action::Allow);
    /// filter.rule(Syscall::by_name("kexec_load")?, Action::Errno(1), &[]);
    /// let program = filter.compile(Arch::native_family())?;
    /// assert!(program.len() < 40);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compile(&self, arches: &[Arch]) -> Result<Program, CompileError> {
        if arches.is_empty() {
            return Err(CompileError::NoArch);
        }
        for rule in &self.rules {
            if rule.conds.len() > 6 {
                return Err(CompileError::TooManyConds {
                    syscall: rule.syscall.to_string(),
                    count: rule.conds.len(),
                });
            }
            if let Some(c) = rule.conds.iter().find(|c| c.arg > 5) {
                return Err(CompileError::BadArgIndex {
                    syscall: rule.syscall.to_string(),
                    arg: c.arg,
                });
            }
            if !rule.optional && arches.iter().all(|&a| rule.syscall.number(a).is_none()) {
                return Err(CompileError::NotOnArch {
                    syscall: rule.syscall.to_string(),
                    arches: arches.to_vec(),
                });
            }
        }
        // Rules in precedence order; `sort_by_key` is stable, so ties keep insertion order.
        let mut rules: Vec<&Rule> = self.rules.iter().collect();
        rules.sort_by_key(|r| r.action.rank());

        // Sections: one per AUDIT_ARCH value, in the order first listed.
        let mut sections: Vec<(u32, Vec<Arch>)> = Vec::new();
        for &a in arches {
            match sections.iter_mut().find(|s| s.0 == a.audit_arch()) {
                Some(s) if !s.1.contains(&a) => s.1.push(a),
                Some(_) => {}
                None => sections.push((a.audit_arch(), vec![a])),
            }
        }

        let mut asm = Asm::default();
        let foreign = self.foreign.to_raw();
        asm.ld(4);
        for (i, (audit, members)) in sections.iter().enumerate() {
            let other = asm.label();
            asm.jump(BPF_JEQ, *audit, Target::Next, Target::To(other));
            self.section(&mut asm, members, &rules);
            asm.place(other);
            if i + 1 == sections.len() {
                asm.ret(foreign);
            }
        }
        let insns = asm.finish();
        if insns.len() > MAX_INSNS {
            return Err(CompileError::TooLong { len: insns.len() });
        }
        Ok(Program { insns })
    }

    fn section(&self, asm: &mut Asm, members: &[Arch], rules: &[&Rule]) {
        let default = self.default.to_raw();
        let foreign = self.foreign.to_raw();
        // The outcome of numbers no rule names, by region.
        let audit = members[0].audit_arch();
        let owner = |nr: u32| {
            classify(
                members,
                &SeccompData {
                    nr: nr as i32,
                    arch: audit,
                    ..SeccompData::default()
                },
            )
        };
        let region_leaf = |nr: u32| {
            Leaf::Ret(if owner(nr).is_some() {
                default
            } else {
                foreign
            })
        };
        let regions: Vec<(u32, Leaf)> = if audit == AUDIT_ARCH_X86_64 {
            // x86_64 below the x32 bit, x32 above it, and -1 (a tracer skipping the call)
            // to x86_64 when it is listed, as libseccomp does.
            [0, X32_SYSCALL_BIT, u32::MAX]
                .into_iter()
                .map(|p| (p, region_leaf(p)))
                .collect()
        } else {
            vec![(0, Leaf::Ret(default))]
        };
        // (number, rule index) pairs; rule indices follow precedence order.
        let mut pairs: Vec<(u32, usize)> = Vec::with_capacity(rules.len() * members.len());
        for (i, rule) in rules.iter().enumerate() {
            for &arch in members {
                // x86_64 numbers live below the x32 bit, x32 numbers above it.
                if let Some(nr) = rule
                    .syscall
                    .number(arch)
                    .filter(|&nr| owner(nr) == Some(arch))
                {
                    pairs.push((nr, i));
                }
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut blocks: Vec<Vec<&Rule>> = Vec::new();
        // The outcome of each named number, sorted by number.
        let mut special: Vec<(u32, Leaf)> = Vec::new();
        for group in pairs.chunk_by(|a, b| a.0 == b.0) {
            let mut list: Vec<&Rule> = group.iter().map(|&(_, i)| rules[i]).collect();
            if let Some(cut) = list.iter().position(|r| r.conds.is_empty()) {
                list.truncate(cut + 1);
            }
            while list.last().is_some_and(|r| r.action == self.default) {
                list.pop();
            }
            let leaf = match list.first() {
                None => Leaf::Ret(default),
                Some(r) if r.conds.is_empty() => Leaf::Ret(r.action.to_raw()),
                Some(_) => {
                    blocks.push(list);
                    Leaf::Block(blocks.len() - 1)
                }
            };
            special.push((group[0].0, leaf));
        }
        // Maximal intervals with one outcome.
        let mut points: Vec<u32> = regions.iter().map(|r| r.0).collect();
        for &(nr, _) in &special {
            points.push(nr);
            if let Some(n) = nr.checked_add(1) {
                points.push(n);
            }
        }
        points.sort_unstable();
        points.dedup();
        let mut intervals: Vec<(u32, Leaf)> = Vec::new();
        for p in points {
            let leaf = match special.binary_search_by_key(&p, |s| s.0) {
                Ok(i) => special[i].1,
                Err(_) => region_at(&regions, p),
            };
            if intervals.last().is_none_or(|l| l.1 != leaf) {
                intervals.push((p, leaf));
            }
        }
        asm.ld(0);
        self.tree(asm, &intervals, &blocks);
    }

    fn tree(&self, asm: &mut Asm, intervals: &[(u32, Leaf)], blocks: &[Vec<&Rule>]) {
        if let [(_, leaf)] = intervals {
            match *leaf {
                Leaf::Ret(k) => asm.ret(k),
                Leaf::Block(b) => self.block(asm, &blocks[b]),
            }
            return;
        }
        let mid = intervals.len() / 2;
        let right = asm.label();
        asm.jump(BPF_JGE, intervals[mid].0, Target::To(right), Target::Next);
        self.tree(asm, &intervals[..mid], blocks);
        asm.place(right);
        // The accumulator still holds the number here: every path to `right` is a `jge`.
        asm.acc = Some(0);
        self.tree(asm, &intervals[mid..], blocks);
    }

    fn block(&self, asm: &mut Asm, rules: &[&Rule]) {
        // `ret`s reached only by jumps, emitted after the block's fall-through path.
        let mut hits: Vec<(Label, u32)> = Vec::new();
        let mut i = 0;
        while i < rules.len() {
            let rule = rules[i];
            // A run of rules with one action that each test one argument for equality
            // (Docker's `personality` list) becomes a set lookup: the high word once per
            // distinct value, then the low words back to back.
            if let Some((arg, _)) = single_eq(rule) {
                let run = rules[i..]
                    .iter()
                    .take_while(|r| {
                        r.action == rule.action && single_eq(r).map(|e| e.0) == Some(arg)
                    })
                    .count();
                if run >= 2 {
                    let values: Vec<u64> = rules[i..i + run]
                        .iter()
                        .filter_map(|r| single_eq(r).map(|e| e.1))
                        .collect();
                    let hit = asm.label();
                    let mut his: Vec<u32> = values.iter().map(|v| (v >> 32) as u32).collect();
                    his.dedup();
                    let mut seen = Vec::new();
                    for h in his {
                        if seen.contains(&h) {
                            continue;
                        }
                        seen.push(h);
                        let other = asm.label();
                        asm.ld(arg_hi(arg));
                        asm.jump(BPF_JEQ, h, Target::Next, Target::To(other));
                        asm.ld(arg_lo(arg));
                        for v in values.iter().filter(|v| (*v >> 32) as u32 == h) {
                            asm.jump(BPF_JEQ, *v as u32, Target::To(hit), Target::Next);
                        }
                        asm.place(other);
                    }
                    hits.push((hit, rule.action.to_raw()));
                    i += run;
                    continue;
                }
            }
            let fail = asm.label();
            for cond in &rule.conds {
                cond_code(asm, cond, fail);
            }
            asm.ret(rule.action.to_raw());
            asm.place(fail);
            i += 1;
        }
        asm.ret(self.default.to_raw());
        for (label, action) in hits {
            asm.place(label);
            asm.ret(action);
        }
    }
}

/// `(arg, value)` if the rule's only condition is `args[arg] == value`.
fn single_eq(rule: &Rule) -> Option<(u8, u64)> {
    match rule.conds.as_slice() {
        [
            Cond {
                arg,
                op: CmpOp::Eq(v),
            },
        ] => Some((*arg, *v)),
        _ => None,
    }
}

fn region_at(regions: &[(u32, Leaf)], nr: u32) -> Leaf {
    regions
        .iter()
        .rev()
        .find(|r| r.0 <= nr)
        .map_or(regions[0].1, |r| r.1)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Leaf {
    Ret(u32),
    Block(usize),
}

/// Offset of the low word of argument `i` (all supported ABIs are little-endian).
const fn arg_lo(i: u8) -> u32 {
    16 + 8 * i as u32
}

const fn arg_hi(i: u8) -> u32 {
    arg_lo(i) + 4
}

/// Code for one condition: falls through when it holds, jumps to `fail` otherwise.
fn cond_code(asm: &mut Asm, cond: &Cond, fail: Label) {
    use Target::{Next, To};
    let (hi, lo) = (arg_hi(cond.arg), arg_lo(cond.arg));
    let split = |v: u64| ((v >> 32) as u32, v as u32);
    let pass = asm.label();
    match cond.op {
        CmpOp::Eq(v) => {
            let (vh, vl) = split(v);
            asm.ld(hi);
            asm.jump(BPF_JEQ, vh, Next, To(fail));
            asm.ld(lo);
            asm.jump(BPF_JEQ, vl, Next, To(fail));
        }
        CmpOp::Ne(v) => {
            let (vh, vl) = split(v);
            asm.ld(hi);
            asm.jump(BPF_JEQ, vh, Next, To(pass));
            asm.ld(lo);
            asm.jump(BPF_JEQ, vl, To(fail), Next);
        }
        CmpOp::MaskedEq { mask, value } => {
            let (mh, ml) = split(mask);
            let (vh, vl) = split(value);
            for (off, m, v) in [(hi, mh, vh), (lo, ml, vl)] {
                if m == 0 {
                    if v != 0 {
                        asm.ja(fail);
                        break;
                    }
                    continue;
                }
                asm.ld(off);
                if m != u32::MAX {
                    asm.and(m);
                }
                asm.jump(BPF_JEQ, v, Next, To(fail));
            }
        }
        CmpOp::Gt(v) | CmpOp::Ge(v) => {
            let (vh, vl) = split(v);
            asm.ld(hi);
            asm.jump(BPF_JGT, vh, To(pass), Next);
            if vh != 0 {
                asm.jump(BPF_JEQ, vh, Next, To(fail));
            }
            asm.ld(lo);
            let code = if matches!(cond.op, CmpOp::Gt(_)) {
                BPF_JGT
            } else {
                BPF_JGE
            };
            asm.jump(code, vl, Next, To(fail));
        }
        CmpOp::Lt(v) | CmpOp::Le(v) => {
            let (vh, vl) = split(v);
            asm.ld(hi);
            asm.jump(BPF_JGT, vh, To(fail), Next);
            if vh != 0 {
                asm.jump(BPF_JEQ, vh, Next, To(pass));
            }
            asm.ld(lo);
            let code = if matches!(cond.op, CmpOp::Lt(_)) {
                BPF_JGE
            } else {
                BPF_JGT
            };
            asm.jump(code, vl, To(fail), Next);
        }
    }
    asm.place(pass);
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Label(usize);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    /// The next instruction.
    Next,
    To(Label),
}

#[derive(Debug)]
enum Op {
    Stmt(Insn),
    Jump {
        code: u16,
        k: u32,
        t: Target,
        f: Target,
    },
    Ja(Label),
    Place(Label),
}

/// A tiny assembler with forward labels and long-jump trampolines.
#[derive(Default)]
struct Asm {
    ops: Vec<Op>,
    labels: usize,
    /// The word the accumulator is known to hold, so repeated loads are skipped.
    acc: Option<u32>,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    fn place(&mut self, l: Label) {
        self.ops.push(Op::Place(l));
        self.acc = None;
    }

    fn ld(&mut self, offset: u32) {
        if self.acc != Some(offset) {
            self.ops
                .push(Op::Stmt(Insn::new(BPF_LD | BPF_W | BPF_ABS, 0, 0, offset)));
            self.acc = Some(offset);
        }
    }

    fn and(&mut self, k: u32) {
        self.ops
            .push(Op::Stmt(Insn::new(BPF_ALU | BPF_AND | BPF_K, 0, 0, k)));
        self.acc = None;
    }

    fn ret(&mut self, k: u32) {
        self.ops.push(Op::Stmt(Insn::new(BPF_RET | BPF_K, 0, 0, k)));
    }

    fn ja(&mut self, l: Label) {
        self.ops.push(Op::Ja(l));
    }

    fn jump(&mut self, op: u16, k: u32, t: Target, f: Target) {
        self.ops.push(Op::Jump {
            code: BPF_JMP | op | BPF_K,
            k,
            t,
            f,
        });
    }

    /// Resolves labels. A conditional jump whose target is more than 255 instructions
    /// away jumps instead to a `ja` placed right after it; as that insertion moves
    /// other code, the layout is recomputed until nothing changes (insertions only grow
    /// distances, so this terminates).
    fn finish(self) -> Vec<Insn> {
        let n = self.ops.len();
        let mut far = vec![(false, false); n];
        let mut at = vec![0usize; n];
        let mut label_at = vec![usize::MAX; self.labels];
        loop {
            let mut pos = 0;
            for (i, op) in self.ops.iter().enumerate() {
                at[i] = pos;
                match op {
                    Op::Place(l) => label_at[l.0] = pos,
                    Op::Stmt(_) | Op::Ja(_) => pos += 1,
                    Op::Jump { .. } => pos += 1 + usize::from(far[i].0) + usize::from(far[i].1),
                }
            }
            let mut changed = false;
            for (i, op) in self.ops.iter().enumerate() {
                if let Op::Jump { t, f, .. } = op {
                    let (ft, ff) = &mut far[i];
                    for (target, flag) in [(t, ft), (f, ff)] {
                        if let Target::To(l) = target {
                            let dist = label_at[l.0] - (at[i] + 1);
                            if dist > 255 && !*flag {
                                *flag = true;
                                changed = true;
                            }
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut out = Vec::with_capacity(n);
        for (i, op) in self.ops.iter().enumerate() {
            let p = at[i];
            match *op {
                Op::Place(_) => {}
                Op::Stmt(insn) => out.push(insn),
                Op::Ja(l) => out.push(Insn::new(
                    BPF_JMP | BPF_JA,
                    0,
                    0,
                    (label_at[l.0] - (p + 1)) as u32,
                )),
                Op::Jump { code, k, t, f } => {
                    let (ft, ff) = far[i];
                    let off = |target: Target| match target {
                        Target::Next => 0,
                        Target::To(l) => label_at[l.0] - (p + 1),
                    };
                    let jt = if ft { 0 } else { off(t) };
                    let jf = if ff { usize::from(ft) } else { off(f) };
                    // `Next` means after the whole expanded group.
                    let extra = usize::from(ft) + usize::from(ff);
                    let jt = if t == Target::Next { extra } else { jt };
                    let jf = if f == Target::Next { extra } else { jf };
                    out.push(Insn::new(code, jt as u8, jf as u8, k));
                    let mut q = p + 1;
                    for (is_far, target) in [(ft, t), (ff, f)] {
                        if is_far {
                            let dest = match target {
                                Target::To(l) => label_at[l.0],
                                Target::Next => unreachable!("Next is never far"),
                            };
                            out.push(Insn::new(BPF_JMP | BPF_JA, 0, 0, (dest - (q + 1)) as u32));
                            q += 1;
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{Action, Syscall};

    fn sys(name: &str) -> Syscall {
        Syscall::by_name(name).unwrap()
    }

    #[test]
    fn small_program_shape() {
        let mut f = Filter::new(Action::Allow);
        f.rule(sys("mkdir"), Action::Errno(1), &[]);
        let p = f.compile(&[Arch::X86_64]).unwrap();
        let text = p.disassemble();
        assert!(text.contains("ld [4]"), "{text}");
        assert!(text.contains("jge #0x40000000"), "{text}");
        assert!(p.len() <= 14, "{text}");
        let at = |nr| SeccompData::new(Arch::X86_64, nr, [0; 6]);
        assert_eq!(p.run(&at(83)), Ok(Action::Errno(1).to_raw()));
        assert_eq!(p.run(&at(82)), Ok(Action::Allow.to_raw()));
        assert_eq!(p.run(&at(84)), Ok(Action::Allow.to_raw()));
        assert_eq!(
            p.run(&at(X32_SYSCALL_BIT | 83)),
            Ok(Action::KillProcess.to_raw())
        );
        assert_eq!(
            p.run(&SeccompData::new(Arch::X86, 83, [0; 6])),
            Ok(Action::KillProcess.to_raw())
        );
    }

    #[test]
    fn user_notification_is_seen_in_the_program() {
        let mut f = Filter::new(Action::Allow);
        f.rule(sys("mkdir"), Action::Errno(1), &[]);
        assert!(!f.compile(&[Arch::X86_64]).unwrap().uses_user_notif());
        f.rule(sys("execve"), Action::UserNotif, &[]);
        assert!(f.compile(&[Arch::X86_64]).unwrap().uses_user_notif());
        assert!(
            Filter::new(Action::UserNotif)
                .compile(&[Arch::X86_64])
                .unwrap()
                .uses_user_notif()
        );
    }

    #[test]
    fn long_jumps_use_trampolines() {
        // Many conditional rules on distinct numbers make the first tree jump far.
        let mut f = Filter::new(Action::Errno(1));
        for nr in 0..300u32 {
            f.rule(
                Syscall::by_number(Arch::X86_64, nr),
                Action::Allow,
                &[Cond::eq(0, u64::from(nr)), Cond::le(1, 1 << 40)],
            );
        }
        let p = f.compile(&[Arch::X86_64]).unwrap();
        assert!(p.len() > 300 * 4);
        assert!(p.instructions().iter().any(|i| i.code == BPF_JMP | BPF_JA));
        for nr in [0u32, 1, 150, 299, 300] {
            for a0 in [0u64, u64::from(nr)] {
                for a1 in [0u64, 1 << 40, (1 << 40) + 1] {
                    let d = SeccompData::new(Arch::X86_64, nr, [a0, a1, 0, 0, 0, 0]);
                    assert_eq!(
                        p.run(&d).unwrap(),
                        f.evaluate(&[Arch::X86_64], &d).to_raw(),
                        "{d:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn equality_runs_become_set_lookups() {
        let values = [
            0u64,
            8,
            0x2_0000,
            0xffff_ffff,
            0x1_0000_0000,
            0x1_0000_0008,
            7,
        ];
        let mut f = Filter::new(Action::Errno(1));
        for v in values {
            f.rule(sys("personality"), Action::Allow, &[Cond::eq(0, v)]);
        }
        f.rule(sys("personality"), Action::Log, &[Cond::eq(1, 5)]);
        let p = f.compile(&[Arch::X86_64]).unwrap();
        let text = p.disassemble();
        // Two distinct high words: two high-word checks for argument 0.
        assert_eq!(text.matches("ld [20]").count(), 2, "{text}");
        let mut probes: Vec<u64> = values.to_vec();
        probes.extend(values.iter().map(|v| v ^ 1));
        probes.extend(values.iter().map(|v| v ^ (1 << 33)));
        for a0 in probes {
            for a1 in [0, 5] {
                let d = SeccompData::new(Arch::X86_64, 135, [a0, a1, 0, 0, 0, 0]);
                assert_eq!(
                    p.run(&d).unwrap(),
                    f.evaluate(&[Arch::X86_64], &d).to_raw(),
                    "{d:?}"
                );
            }
        }
    }

    #[test]
    fn errors() {
        let mut f = Filter::new(Action::Allow);
        assert!(matches!(f.compile(&[]), Err(CompileError::NoArch)));
        f.rule(sys("arch_prctl"), Action::Errno(1), &[]);
        let e = f.compile(&[Arch::Aarch64]).unwrap_err();
        assert!(e.to_string().contains("arch_prctl"), "{e}");
        let mut f = Filter::new(Action::Allow);
        f.rule(sys("read"), Action::Errno(1), &[Cond::eq(6, 0)]);
        assert!(matches!(
            f.compile(&[Arch::X86_64]),
            Err(CompileError::BadArgIndex { arg: 6, .. })
        ));
        let mut f = Filter::new(Action::Allow);
        f.rule(sys("read"), Action::Errno(1), &[Cond::eq(0, 0); 7]);
        assert!(matches!(
            f.compile(&[Arch::X86_64]),
            Err(CompileError::TooManyConds { count: 7, .. })
        ));
        let mut f = Filter::new(Action::Allow);
        for nr in 0..1400u32 {
            f.rule(
                Syscall::by_number(Arch::X86_64, nr),
                Action::Errno(1),
                &[Cond::ne(0, 1)],
            );
        }
        assert!(matches!(
            f.compile(&[Arch::X86_64]),
            Err(CompileError::TooLong { .. })
        ));
    }
}
