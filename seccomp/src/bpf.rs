//! Classic BPF instructions and an interpreter with the kernel's seccomp semantics.

use std::fmt;

use crate::error::InterpError;
use crate::filter::SeccompData;

/// `BPF_MAXINSNS`: the most instructions the kernel accepts in one program.
pub const MAX_INSNS: usize = 4096;

// Instruction classes and fields, from linux/filter.h (`bpf_common.h`).
pub(crate) const BPF_LD: u16 = 0x00;
pub(crate) const BPF_LDX: u16 = 0x01;
pub(crate) const BPF_ST: u16 = 0x02;
pub(crate) const BPF_STX: u16 = 0x03;
pub(crate) const BPF_ALU: u16 = 0x04;
pub(crate) const BPF_JMP: u16 = 0x05;
pub(crate) const BPF_RET: u16 = 0x06;
pub(crate) const BPF_MISC: u16 = 0x07;
pub(crate) const BPF_W: u16 = 0x00;
pub(crate) const BPF_IMM: u16 = 0x00;
pub(crate) const BPF_ABS: u16 = 0x20;
pub(crate) const BPF_MEM: u16 = 0x60;
pub(crate) const BPF_LEN: u16 = 0x80;
pub(crate) const BPF_K: u16 = 0x00;
pub(crate) const BPF_X: u16 = 0x08;
pub(crate) const BPF_A: u16 = 0x10;
pub(crate) const BPF_ADD: u16 = 0x00;
pub(crate) const BPF_SUB: u16 = 0x10;
pub(crate) const BPF_MUL: u16 = 0x20;
pub(crate) const BPF_DIV: u16 = 0x30;
pub(crate) const BPF_OR: u16 = 0x40;
pub(crate) const BPF_AND: u16 = 0x50;
pub(crate) const BPF_LSH: u16 = 0x60;
pub(crate) const BPF_RSH: u16 = 0x70;
pub(crate) const BPF_NEG: u16 = 0x80;
pub(crate) const BPF_MOD: u16 = 0x90;
pub(crate) const BPF_XOR: u16 = 0xa0;
pub(crate) const BPF_JA: u16 = 0x00;
pub(crate) const BPF_JEQ: u16 = 0x10;
pub(crate) const BPF_JGT: u16 = 0x20;
pub(crate) const BPF_JGE: u16 = 0x30;
pub(crate) const BPF_JSET: u16 = 0x40;
pub(crate) const BPF_TAX: u16 = 0x00;
pub(crate) const BPF_TXA: u16 = 0x80;
const BPF_MEMWORDS: usize = 16;

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

impl Insn {
    /// An instruction from its four fields.
    pub const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }
}

impl fmt::Debug for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{ 0x{:02x}, {}, {}, 0x{:08x} }}",
            self.code, self.jt, self.jf, self.k
        )
    }
}

/// Runs `prog` on `data` the way the kernel's seccomp BPF does, returning the filter's
/// 32-bit result.
///
/// Every instruction class the kernel admits for seccomp is supported (`ld`/`ldx` of
/// words, immediates, scratch memory and `len`, `st`/`stx`, ALU, jumps, `ret`, `tax`/`txa`),
/// so programs from other compilers (libseccomp) run too.
///
/// # Errors
///
/// [`InterpError`] for what the kernel's verifier would have refused: an unknown opcode,
/// a load outside `seccomp_data` or not 4-byte aligned, a jump past the end, division by
/// a zero constant, running off the end without `ret`.
pub fn run(prog: &[Insn], data: &SeccompData) -> Result<u32, InterpError> {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut mem = [0u32; BPF_MEMWORDS];
    let mut pc = 0usize;
    let bad = |pc: usize, why: &'static str| InterpError { pc, reason: why };
    while let Some(insn) = prog.get(pc) {
        let k = insn.k;
        let code = insn.code;
        let class = code & 0x07;
        pc += 1;
        match class {
            BPF_LD | BPF_LDX => {
                let mode = code & 0xe0;
                let v = match mode {
                    BPF_ABS if code & 0x18 == BPF_W => data
                        .word(k)
                        .ok_or(bad(pc - 1, "load outside seccomp_data"))?,
                    BPF_IMM => k,
                    BPF_MEM => *mem.get(k as usize).ok_or(bad(pc - 1, "bad scratch slot"))?,
                    BPF_LEN => 64,
                    _ => return Err(bad(pc - 1, "unsupported load")),
                };
                if mode == BPF_ABS && class == BPF_LDX {
                    return Err(bad(pc - 1, "unsupported load"));
                }
                if class == BPF_LD {
                    a = v;
                } else {
                    x = v;
                }
            }
            BPF_ST | BPF_STX => {
                let slot = mem
                    .get_mut(k as usize)
                    .ok_or(bad(pc - 1, "bad scratch slot"))?;
                *slot = if class == BPF_ST { a } else { x };
            }
            BPF_ALU => {
                let src = if code & BPF_X != 0 { x } else { k };
                a = match code & 0xf0 {
                    BPF_ADD => a.wrapping_add(src),
                    BPF_SUB => a.wrapping_sub(src),
                    BPF_MUL => a.wrapping_mul(src),
                    BPF_DIV | BPF_MOD if src == 0 => {
                        if code & BPF_X != 0 {
                            // The kernel's runtime result for division by X == 0.
                            return Ok(0);
                        }
                        return Err(bad(pc - 1, "division by zero"));
                    }
                    BPF_DIV => a / src,
                    BPF_MOD => a % src,
                    BPF_OR => a | src,
                    BPF_AND => a & src,
                    BPF_LSH => a.checked_shl(src).unwrap_or(0),
                    BPF_RSH => a.checked_shr(src).unwrap_or(0),
                    BPF_NEG => a.wrapping_neg(),
                    BPF_XOR => a ^ src,
                    _ => return Err(bad(pc - 1, "unknown ALU operation")),
                };
            }
            BPF_JMP => {
                let src = if code & BPF_X != 0 { x } else { k };
                let op = code & 0xf0;
                let skip = if op == BPF_JA {
                    k as usize
                } else {
                    let taken = match op {
                        BPF_JEQ => a == src,
                        BPF_JGT => a > src,
                        BPF_JGE => a >= src,
                        BPF_JSET => a & src != 0,
                        _ => return Err(bad(pc - 1, "unknown jump")),
                    };
                    usize::from(if taken { insn.jt } else { insn.jf })
                };
                pc = pc
                    .checked_add(skip)
                    .filter(|&t| t < prog.len())
                    .ok_or(bad(pc - 1, "jump past the end"))?;
            }
            BPF_RET => {
                return match code & 0x18 {
                    BPF_K => Ok(k),
                    BPF_A => Ok(a),
                    _ => Err(bad(pc - 1, "unknown return source")),
                };
            }
            BPF_MISC => match code & 0xf8 {
                BPF_TAX => x = a,
                BPF_TXA => a = x,
                _ => return Err(bad(pc - 1, "unknown misc operation")),
            },
            _ => unreachable!("class is three bits"),
        }
    }
    Err(bad(pc, "ran off the end without ret"))
}

/// Renders a program as readable assembly, one instruction a line (for debugging and
/// snapshot tests).
pub fn disassemble(prog: &[Insn]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (i, insn) in prog.iter().enumerate() {
        let (c, k) = (insn.code, insn.k);
        let jt = i + 1 + usize::from(insn.jt);
        let jf = i + 1 + usize::from(insn.jf);
        let _ = match c {
            0x20 => writeln!(out, "{i:4}: ld [{k}]"),
            0x54 => writeln!(out, "{i:4}: and #0x{k:x}"),
            0x05 => writeln!(out, "{i:4}: ja {}", i + 1 + k as usize),
            0x15 => writeln!(out, "{i:4}: jeq #0x{k:x} {jt} {jf}"),
            0x25 => writeln!(out, "{i:4}: jgt #0x{k:x} {jt} {jf}"),
            0x35 => writeln!(out, "{i:4}: jge #0x{k:x} {jt} {jf}"),
            0x06 => writeln!(out, "{i:4}: ret #0x{k:08x}"),
            _ => writeln!(out, "{i:4}: {insn:?}"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(code: u16, k: u32) -> Insn {
        Insn::new(code, 0, 0, k)
    }

    #[test]
    fn alu_memory_and_jumps() {
        let d = SeccompData {
            nr: 5,
            ..Default::default()
        };
        let prog = [
            stmt(BPF_LD | BPF_W | BPF_ABS, 0),  // a = 5
            stmt(BPF_ALU | BPF_MUL | BPF_K, 3), // 15
            stmt(BPF_ST, 2),
            stmt(BPF_LDX | BPF_IMM, 4),
            stmt(BPF_ALU | BPF_SUB | BPF_X, 0), // 11
            stmt(BPF_MISC | BPF_TAX, 0),
            stmt(BPF_LD | BPF_MEM, 2),          // 15
            stmt(BPF_ALU | BPF_ADD | BPF_X, 0), // 26
            Insn::new(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 2),
            stmt(BPF_RET | BPF_K, 99),
            stmt(BPF_LD | BPF_LEN, 0),
            stmt(BPF_RET | BPF_A, 0),
        ];
        assert_eq!(run(&prog, &d), Ok(64));
        let d = SeccompData { nr: 1, ..d }; // 3 - 4 + 3 = 2 → jset 2 true
        assert_eq!(run(&prog, &d), Ok(64));
        let d = SeccompData { nr: 0, ..d }; // 0 - 4 + 0 = -4 & 2 == 0? 0xfffffffc & 2 = 0
        assert_eq!(run(&prog, &d), Ok(99));
    }

    #[test]
    fn refuses_what_the_verifier_refuses() {
        let d = SeccompData::default();
        assert!(run(&[stmt(BPF_LD | BPF_W | BPF_ABS, 64)], &d).is_err());
        assert!(run(&[stmt(BPF_LD | BPF_W | BPF_ABS, 2)], &d).is_err());
        assert!(run(&[stmt(BPF_JMP | BPF_JA, 5), stmt(BPF_RET, 0)], &d).is_err());
        assert!(run(&[stmt(BPF_LD | BPF_IMM, 1)], &d).is_err());
        assert!(run(&[stmt(BPF_ALU | BPF_DIV | BPF_K, 0)], &d).is_err());
        assert!(run(&[], &d).is_err());
    }
}
